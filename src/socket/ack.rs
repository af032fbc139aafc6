//! Acknowledgements both ways: `AckSender` answers a client's ack, `AckFuture` awaits a client's
//! answer to `emit_with_ack`. Ack ids are allocated by the session actor.

use std::{
    future::Future,
    pin::Pin,
    task::{Context, Poll},
};

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::oneshot;

use crate::socket::{error::AckError, payload::Payload, socket::Socket};

/// Answers one client acknowledgement; consumed by sending.
///
/// Dropping it without sending leaves the client's callback unanswered (it may time out).
#[derive(Debug)]
pub struct AckSender {
    pub(crate) socket: Socket,
    pub(crate) id: u64,
}

impl AckSender {
    /// Answers with one serialized argument.
    pub fn send<T: Serialize + ?Sized>(self, data: &T) -> Result<(), serde_json::Error> {
        let payload = Payload::new().arg(data)?;
        self.send_payload(payload);
        Ok(())
    }

    /// Answers with any arguments, binary included.
    pub fn send_payload(self, payload: Payload) {
        let frames = self
            .socket
            .namespace()
            .parser()
            .ack(self.socket.ns(), self.id, payload);
        self.socket.send_frames(frames, false);
    }

    /// The ack id the client chose.
    pub fn id(&self) -> u64 {
        self.id
    }
}

/// The client's answer to an `emit_with_ack`: resolves to its arguments, or to why none came.
#[must_use = "an AckFuture does nothing unless awaited"]
pub struct AckFuture {
    pub(crate) rx: Option<oneshot::Receiver<Result<Payload, AckError>>>,
    pub(crate) early: Option<AckError>,
}

impl AckFuture {
    /// Awaits the answer and deserializes its arguments, e.g. into `(String,)` or `Vec<Value>`.
    pub async fn parse<T: DeserializeOwned>(self) -> Result<T, AckError> {
        let payload = self.await?;
        payload
            .parse()
            .map_err(|e: serde_json::Error| AckError::Decode(e.to_string()))
    }
}

impl Future for AckFuture {
    type Output = Result<Payload, AckError>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        if let Some(err) = self.early.take() {
            return Poll::Ready(Err(err));
        }
        match self.rx.as_mut() {
            None => Poll::Ready(Err(AckError::Disconnected)),
            Some(rx) => Pin::new(rx)
                .poll(cx)
                .map(|answer| answer.unwrap_or(Err(AckError::Disconnected))),
        }
    }
}
