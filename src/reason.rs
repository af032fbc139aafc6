//! Why a socket or session ended, with the exact strings the reference server reports.
//! Handlers registered with `Socket::on_disconnect` receive one of these.

use std::fmt;

/// Why a socket was disconnected (the reference server's reason strings).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DisconnectReason {
    /// The client closed the connection (close packet, WebSocket close, TCP reset).
    TransportClose,
    /// The connection failed, or the session was closed for breaking a limit.
    TransportError,
    /// The client did not answer a ping in time.
    PingTimeout,
    /// The client sent a packet that could not be decoded.
    ParseError,
    /// The client broke the protocol's rules (invalid packet for the state, reserved event...).
    ForcedClose,
    /// The server closed the whole connection.
    ForcedServerClose,
    /// The client left the namespace.
    ClientNamespaceDisconnect,
    /// The server disconnected the socket from the namespace.
    ServerNamespaceDisconnect,
    /// The server is shutting down.
    ServerShuttingDown,
}

impl DisconnectReason {
    /// The reason as the reference server spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            DisconnectReason::TransportClose => "transport close",
            DisconnectReason::TransportError => "transport error",
            DisconnectReason::PingTimeout => "ping timeout",
            DisconnectReason::ParseError => "parse error",
            DisconnectReason::ForcedClose => "forced close",
            DisconnectReason::ForcedServerClose => "forced server close",
            DisconnectReason::ClientNamespaceDisconnect => "client namespace disconnect",
            DisconnectReason::ServerNamespaceDisconnect => "server namespace disconnect",
            DisconnectReason::ServerShuttingDown => "server shutting down",
        }
    }

    /// An ordinary end of a session, logged at `info` (the other reasons at `warn`).
    pub(crate) fn is_orderly(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClose
                | DisconnectReason::ForcedServerClose
                | DisconnectReason::ServerShuttingDown
                | DisconnectReason::ServerNamespaceDisconnect
        )
    }

    /// True when the socket's state is kept for connection state recovery: the connection was
    /// lost or closed under it, as opposed to a disconnect on purpose (socket.io's
    /// `RECOVERABLE_DISCONNECT_REASONS`; a parse error is not one either).
    pub(crate) fn is_recoverable(self) -> bool {
        matches!(
            self,
            DisconnectReason::TransportClose
                | DisconnectReason::TransportError
                | DisconnectReason::PingTimeout
                | DisconnectReason::ForcedClose
                | DisconnectReason::ForcedServerClose
                | DisconnectReason::ServerShuttingDown
        )
    }

    /// True for closes the server decided on and wants the client to be told about.
    pub(crate) fn is_server_initiated(self) -> bool {
        matches!(
            self,
            DisconnectReason::ForcedServerClose
                | DisconnectReason::ServerNamespaceDisconnect
                | DisconnectReason::ServerShuttingDown
        )
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}
