//! Socket.IO errors: undecodable packets (which close the session) and the errors the server
//! API returns to application code.

use serde_json::Value;

/// Why a Socket.IO packet was refused. Any of these closes the session ("parse error").
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// The first character is not a packet type.
    #[error("unknown packet type")]
    UnknownType,
    /// The attachment count is missing, malformed, outside 1–10, or a placeholder is wrong.
    #[error("invalid binary attachments")]
    BadAttachments,
    /// The acknowledgement id is not a number that fits.
    #[error("invalid ack id")]
    BadAckId,
    /// The payload is not JSON (or nests too deep).
    #[error("invalid JSON payload")]
    BadJson,
    /// The payload has the wrong shape for its packet type.
    #[error("invalid payload for this packet type")]
    BadPayload,
    /// A client emitted an event name the protocol reserves.
    #[error("reserved event name {0:?}")]
    ReservedEvent(String),
    /// A text packet arrived while a binary packet still waited for attachments.
    #[error("text packet while binary attachments are due")]
    UnexpectedText,
    /// A binary message arrived with no packet waiting for it.
    #[error("binary message with no packet waiting for it")]
    UnexpectedBinary,
    /// The namespace is missing or not a string (msgpack parser).
    #[error("invalid namespace")]
    BadNamespace,
    /// The message is not one msgpack value the parser takes: truncated, trailing bytes, a map
    /// key that is not a string, an unsupported extension, nesting too deep (msgpack parser).
    #[error("invalid msgpack: {0}")]
    BadMsgPack(&'static str),
    /// A text message arrived, but the msgpack parser takes binary messages only.
    #[error("text message under the msgpack parser")]
    TextMessage,
}

/// Why an acknowledgement did not arrive.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The client did not answer within the timeout.
    #[error("acknowledgement timed out")]
    Timeout,
    /// The socket disconnected before answering.
    #[error("socket disconnected before acknowledging")]
    Disconnected,
    /// The answer could not be deserialized into the requested type.
    #[error("acknowledgement has unexpected arguments: {0}")]
    Decode(String),
}

/// Why an emit was not sent.
#[derive(Debug, thiserror::Error)]
pub enum EmitError {
    /// The data could not be serialized to JSON.
    #[error("cannot serialize the event data: {0}")]
    Serialize(#[from] serde_json::Error),
    /// The event name is one the protocol reserves.
    #[error("reserved event name {0:?}")]
    ReservedEvent(String),
    /// The socket is no longer connected.
    #[error("socket is disconnected")]
    Disconnected,
}

/// A refusal from namespace middleware, sent to the client as CONNECT_ERROR.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message}")]
pub struct ConnectError {
    /// Human-readable reason, the client's `err.message`.
    pub message: String,
    /// Optional details, the client's `err.data`.
    pub data: Option<Value>,
}

impl ConnectError {
    /// A refusal with a message only.
    pub fn new(message: impl Into<String>) -> Self {
        ConnectError {
            message: message.into(),
            data: None,
        }
    }

    /// Adds the `data` field the client sees as `err.data`.
    pub fn with_data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }
}
