//! The two transports: HTTP long-polling and WebSocket. They turn HTTP requests and frames into
//! messages for a session actor; this is the only code that knows actix-ws.

pub(crate) mod polling;
pub(crate) mod raw;
pub(crate) mod websocket;
