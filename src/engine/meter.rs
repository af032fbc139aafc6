//! What an Engine.IO server counts for its operators: sessions opened and closed (by reason),
//! sessions on each transport, refused handshakes, slow consumers, and (only while someone
//! reads them: `Meter::watch`) packets and bytes in and out. Every count is an atomic; the
//! per-packet ones cost one relaxed load while nobody watches.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use crate::{engine::packet::Frame, reason::DisconnectReason};

/// The reasons a whole session closes for, in the order of `MeterReading::closed`.
pub const REASONS: [DisconnectReason; 7] = [
    DisconnectReason::TransportClose,
    DisconnectReason::TransportError,
    DisconnectReason::PingTimeout,
    DisconnectReason::ParseError,
    DisconnectReason::ForcedClose,
    DisconnectReason::ForcedServerClose,
    DisconnectReason::ServerShuttingDown,
];

fn reason_index(reason: DisconnectReason) -> usize {
    // Any other reason is a socket's, not a session's; counted as the server's close.
    REASONS.iter().position(|r| *r == reason).unwrap_or(5)
}

/// Why a handshake was refused, as counted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `max_connections` reached (HTTP 503).
    Full,
    /// An origin the CORS policy does not allow.
    Cors,
    /// Any other bad request (unknown transport, protocol version, sid...).
    BadRequest,
}

/// The counters of one Engine.IO server (see the module's documentation).
#[derive(Debug, Default)]
pub struct Meter {
    watching: AtomicUsize,
    opened: AtomicU64,
    closed: [AtomicU64; REASONS.len()],
    polling: AtomicUsize,
    websocket: AtomicUsize,
    refused: [AtomicU64; 3],
    slow_consumers: AtomicU64,
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    upgrades: AtomicU64,
}

/// A reading of every counter of a [`Meter`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MeterReading {
    /// Sessions opened since the start.
    pub opened: u64,
    /// Sessions closed since the start, by reason (the order of [`REASONS`]).
    pub closed: [u64; REASONS.len()],
    /// Sessions open on long-polling now.
    pub polling: usize,
    /// Sessions open on WebSocket now.
    pub websocket: usize,
    /// Handshakes refused because the server was full.
    pub refused_full: u64,
    /// Handshakes refused by the CORS policy.
    pub refused_cors: u64,
    /// Other refused requests.
    pub refused_bad_request: u64,
    /// Sessions closed for not reading their backlog.
    pub slow_consumers: u64,
    /// Message packets received (counted while watched).
    pub packets_in: u64,
    /// Message packets sent (counted while watched).
    pub packets_out: u64,
    /// Bytes of the packets received (counted while watched).
    pub bytes_in: u64,
    /// Bytes of the packets sent (counted while watched).
    pub bytes_out: u64,
    /// Polling sessions upgraded to WebSocket.
    pub upgrades: u64,
}

impl Meter {
    /// Starts counting packets and bytes (one call per reader; [`Meter::unwatch`] ends it).
    pub fn watch(&self) {
        self.watching.fetch_add(1, Ordering::AcqRel);
    }

    /// Ends one [`Meter::watch`].
    pub fn unwatch(&self) {
        self.watching.fetch_sub(1, Ordering::AcqRel);
    }

    fn watched(&self) -> bool {
        self.watching.load(Ordering::Relaxed) != 0
    }

    /// Every counter now.
    pub fn read(&self) -> MeterReading {
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        MeterReading {
            opened: load(&self.opened),
            closed: std::array::from_fn(|i| load(&self.closed[i])),
            polling: self.polling.load(Ordering::Relaxed),
            websocket: self.websocket.load(Ordering::Relaxed),
            refused_full: load(&self.refused[0]),
            refused_cors: load(&self.refused[1]),
            refused_bad_request: load(&self.refused[2]),
            slow_consumers: load(&self.slow_consumers),
            packets_in: load(&self.packets_in),
            packets_out: load(&self.packets_out),
            bytes_in: load(&self.bytes_in),
            bytes_out: load(&self.bytes_out),
            upgrades: load(&self.upgrades),
        }
    }

    pub(crate) fn session_opened(&self, websocket: bool) {
        self.opened.fetch_add(1, Ordering::Relaxed);
        self.transport(websocket).fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn session_closed(&self, websocket: bool, reason: DisconnectReason) {
        self.closed[reason_index(reason)].fetch_add(1, Ordering::Relaxed);
        self.transport(websocket).fetch_sub(1, Ordering::Relaxed);
    }

    pub(crate) fn session_upgraded(&self) {
        self.upgrades.fetch_add(1, Ordering::Relaxed);
        self.polling.fetch_sub(1, Ordering::Relaxed);
        self.websocket.fetch_add(1, Ordering::Relaxed);
    }

    fn transport(&self, websocket: bool) -> &AtomicUsize {
        if websocket {
            &self.websocket
        } else {
            &self.polling
        }
    }

    pub(crate) fn refused(&self, why: Refusal) {
        let i = match why {
            Refusal::Full => 0,
            Refusal::Cors => 1,
            Refusal::BadRequest => 2,
        };
        self.refused[i].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn slow_consumer(&self) {
        self.slow_consumers.fetch_add(1, Ordering::Relaxed);
    }

    /// A packet from the client (a message, text or binary, of `len` bytes).
    pub(crate) fn packet_in(&self, len: usize) {
        if self.watched() {
            self.packets_in.fetch_add(1, Ordering::Relaxed);
            self.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
        }
    }

    /// Frames queued for a client: its message packets are counted, control packets are not.
    pub(crate) fn frames_out(&self, frames: &[Frame]) {
        if !self.watched() {
            return;
        }
        let (mut packets, mut bytes) = (0u64, 0u64);
        for frame in frames {
            let message = match frame {
                Frame::Text(text) => text.as_bytes().first() == Some(&b'4'),
                Frame::Binary(_) => true,
            };
            if message {
                packets += 1;
                bytes += frame.len() as u64;
            }
        }
        if packets > 0 {
            self.packets_out.fetch_add(packets, Ordering::Relaxed);
            self.bytes_out.fetch_add(bytes, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn packets_count_only_while_watched() {
        let meter = Meter::default();
        meter.packet_in(10);
        meter.frames_out(&[Frame::message("x")]);
        assert_eq!(meter.read().packets_in, 0);
        meter.watch();
        meter.packet_in(10);
        meter.frames_out(&[
            Frame::message("abc"),
            Frame::control(crate::engine::packet::ControlKind::Ping),
            Frame::Binary(vec![1, 2].into()),
        ]);
        let reading = meter.read();
        assert_eq!((reading.packets_in, reading.bytes_in), (1, 10));
        assert_eq!((reading.packets_out, reading.bytes_out), (2, 6));
        meter.unwatch();
        meter.packet_in(10);
        assert_eq!(meter.read().packets_in, 1);
    }

    #[test]
    fn sessions_move_between_transports() {
        let meter = Meter::default();
        meter.session_opened(false);
        meter.session_opened(true);
        meter.session_upgraded();
        meter.session_closed(true, DisconnectReason::PingTimeout);
        let reading = meter.read();
        assert_eq!((reading.polling, reading.websocket), (0, 1));
        assert_eq!(reading.closed[2], 1);
        assert_eq!((reading.opened, reading.upgrades), (2, 1));
    }
}
