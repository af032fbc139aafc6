//! Broadcast operators in the spirit of socket.io's `to().except().emit()`: a selection of
//! sockets in one namespace, resolved by its RoomManager; the packet is encoded once.

use std::{sync::Arc, time::Duration};

use futures_util::future::join_all;
use serde::Serialize;

use crate::{
    engine::packet::Frame,
    rooms::{Broadcast, Fetch, Join, Leave, Room, Selector},
    socket::{
        error::{AckError, EmitError},
        namespace::Namespace,
        packet::{self, RESERVED_EVENTS},
        payload::Payload,
        socket::Socket,
    },
};

/// How long `emit_with_ack` on an operator waits when no `timeout` was set.
const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(10);

/// One room or several: `"lobby"`, `String`, `vec!["a", "b"]`, `["a", "b"]`, `&[..]`.
pub trait IntoRooms {
    /// The room names.
    fn into_rooms(self) -> Vec<Room>;
}

impl IntoRooms for &str {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self)]
    }
}

impl IntoRooms for &String {
    fn into_rooms(self) -> Vec<Room> {
        vec![Arc::from(self.as_str())]
    }
}

impl<T: AsRef<str>> IntoRooms for Vec<T> {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

impl<T: AsRef<str>> IntoRooms for &[T] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

impl<T: AsRef<str>, const N: usize> IntoRooms for [T; N] {
    fn into_rooms(self) -> Vec<Room> {
        self.iter().map(|r| Arc::from(r.as_ref())).collect()
    }
}

/// A selection of sockets in one namespace: build it with `to`, `except`, `volatile`,
/// `timeout`, then `emit`, `emit_with_ack`, `fetch_sockets`, `sockets_join`...
#[derive(Clone)]
pub struct BroadcastOperator {
    ns: Namespace,
    selector: Selector,
    volatile: bool,
    timeout: Option<Duration>,
}

impl BroadcastOperator {
    pub(crate) fn new(ns: Namespace) -> Self {
        BroadcastOperator {
            ns,
            selector: Selector::default(),
            volatile: false,
            timeout: None,
        }
    }

    pub(crate) fn excluding_socket(mut self, id: Arc<str>) -> Self {
        self.selector.except_ids.push(id);
        self
    }

    /// Adds rooms to target (their union; no room at all means the whole namespace).
    pub fn to(mut self, rooms: impl IntoRooms) -> Self {
        self.selector.rooms.extend(rooms.into_rooms());
        self
    }

    /// Excludes the members of these rooms.
    pub fn except(mut self, rooms: impl IntoRooms) -> Self {
        self.selector.except_rooms.extend(rooms.into_rooms());
        self
    }

    /// Lets a recipient whose connection is busy (a slow consumer) miss this packet.
    pub fn volatile(mut self) -> Self {
        self.volatile = true;
        self
    }

    /// How long `emit_with_ack` waits for the answers.
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }

    /// Emits an event with one argument to every selected socket.
    pub fn emit<T: Serialize + ?Sized>(&self, event: &str, data: &T) -> Result<(), EmitError> {
        self.emit_payload(event, Payload::new().arg(data)?)
    }

    /// Emits an event with any arguments to every selected socket; encoded once for all.
    pub fn emit_payload(&self, event: &str, payload: Payload) -> Result<(), EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let Some(manager) = self.ns.manager() else {
            return Ok(()); // no socket has ever connected
        };
        let (args, attachments) = payload.into_parts();
        let text = packet::encode_event(self.ns.name(), None, event, &args, attachments.len());
        manager.do_send(Broadcast {
            selector: self.selector.clone(),
            // Encoded once, shared by every recipient.
            frames: Frame::packet(&text, attachments).into(),
            volatile: self.volatile,
        });
        Ok(())
    }

    /// Emits to every selected socket and collects each one's acknowledgement (or why none came
    /// within the timeout), as `(socket id, answer)` pairs.
    pub async fn emit_with_ack<T: Serialize + ?Sized>(
        &self,
        event: &str,
        data: &T,
    ) -> Result<Vec<(String, Result<Payload, AckError>)>, EmitError> {
        let payload = Payload::new().arg(data)?;
        self.emit_payload_with_ack(event, payload).await
    }

    /// `emit_with_ack` with any arguments.
    pub async fn emit_payload_with_ack(
        &self,
        event: &str,
        payload: Payload,
    ) -> Result<Vec<(String, Result<Payload, AckError>)>, EmitError> {
        if RESERVED_EVENTS.contains(&event) {
            return Err(EmitError::ReservedEvent(event.to_owned()));
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_ACK_TIMEOUT);
        let sockets = self.fetch_sockets().await;
        let answers = join_all(
            sockets
                .iter()
                .map(|socket| socket.emit_payload_with_ack(event, payload.clone(), timeout)),
        )
        .await;
        Ok(sockets
            .iter()
            .map(|s| s.id().to_owned())
            .zip(answers)
            .collect())
    }

    /// Handles of the selected sockets (with their ids, rooms and data).
    pub async fn fetch_sockets(&self) -> Vec<Socket> {
        let Some(manager) = self.ns.manager() else {
            return Vec::new();
        };
        manager
            .send(Fetch {
                selector: self.selector.clone(),
            })
            .await
            .unwrap_or_default()
    }

    /// Makes every selected socket join these rooms.
    pub fn sockets_join(&self, rooms: impl IntoRooms) {
        if let Some(manager) = self.ns.manager() {
            manager.do_send(Join {
                selector: self.selector.clone(),
                rooms: rooms.into_rooms(),
            });
        }
    }

    /// Makes every selected socket leave these rooms.
    pub fn sockets_leave(&self, rooms: impl IntoRooms) {
        if let Some(manager) = self.ns.manager() {
            manager.do_send(Leave {
                selector: self.selector.clone(),
                rooms: rooms.into_rooms(),
            });
        }
    }

    /// Disconnects every selected socket from the namespace (`close`: their whole connection).
    pub async fn disconnect_sockets(&self, close: bool) {
        for socket in self.fetch_sockets().await {
            if close {
                socket.close_connection();
            } else {
                socket.disconnect();
            }
        }
    }
}
