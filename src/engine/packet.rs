//! Engine.IO v4 codec: one packet per WebSocket frame, or several joined by `\x1e` in a polling body.
//! Pure functions; the session decides what a packet means.

use base64::Engine as _;
use bytes::Bytes;
use bytestring::ByteString;

use crate::engine::error::ParseError;

/// Record separator between packets of a polling payload.
pub const SEPARATOR: char = '\x1e';

/// A packet received from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Packet<'a> {
    /// `1`: the client closes the session.
    Close,
    /// `2` + optional data (`2probe` during an upgrade). Only valid on a probe.
    Ping(&'a str),
    /// `3` + optional data: the answer to a server ping.
    Pong(&'a str),
    /// `4` + text.
    Message(&'a str),
    /// A binary message (a raw WebSocket binary frame, or `b` + base64 over polling).
    Binary(Bytes),
    /// `5`: the client completes the upgrade on the probe transport.
    Upgrade,
    /// `6`: no operation.
    Noop,
}

/// A packet ready to leave through any transport; text frames carry their type digit.
///
/// Cloning is a reference-count increment, so a broadcast encodes once and shares the frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// An Engine.IO text packet including its type digit (`4…`, `2`, `1`, `6`…).
    Text(ByteString),
    /// A binary message packet.
    Binary(Bytes),
}

impl Frame {
    /// A message packet (`4` + text).
    pub fn message(text: &str) -> Frame {
        let mut s = String::with_capacity(text.len() + 1);
        s.push('4');
        s.push_str(text);
        Frame::Text(s.into())
    }

    /// A message packet made of `text` itself (the `4` goes in front, in place: no copy into a
    /// second buffer when `text` has a byte to spare).
    pub fn message_owned(mut text: String) -> Frame {
        text.insert(0, '4');
        Frame::Text(text.into())
    }

    /// One Socket.IO packet as frames: its text as a message packet, then its attachments.
    pub fn packet(text: String, attachments: Vec<Bytes>) -> Vec<Frame> {
        let mut frames = Vec::with_capacity(1 + attachments.len());
        frames.push(Frame::message_owned(text));
        frames.extend(attachments.into_iter().map(Frame::Binary));
        frames
    }

    /// A control packet with no data (`1`, `2`, `6`...).
    pub fn control(kind: ControlKind) -> Frame {
        Frame::Text(ByteString::from_static(kind.as_str()))
    }

    /// Bytes this frame occupies in a WebSocket message (the cost counted against buffer limits).
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(s) => s.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// True when the frame carries no byte at all (never true for a text frame).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The data-less packets the server sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ControlKind {
    /// `1`
    Close,
    /// `2`
    Ping,
    /// `3probe`, the answer to a probe.
    PongProbe,
    /// `6`
    Noop,
}

impl ControlKind {
    fn as_str(self) -> &'static str {
        match self {
            ControlKind::Close => "1",
            ControlKind::Ping => "2",
            ControlKind::PongProbe => "3probe",
            ControlKind::Noop => "6",
        }
    }
}

/// Decodes one text packet (a WebSocket text frame, or one record of a polling body).
pub fn decode_text(text: &str) -> Result<Packet<'_>, ParseError> {
    let Some(kind) = text.chars().next() else {
        return Err(ParseError::Empty);
    };
    let rest = &text[kind.len_utf8()..];
    match kind {
        '1' => Ok(Packet::Close),
        '2' => Ok(Packet::Ping(rest)),
        '3' => Ok(Packet::Pong(rest)),
        '4' => Ok(Packet::Message(rest)),
        '5' => Ok(Packet::Upgrade),
        '6' => Ok(Packet::Noop),
        // `0` (open) is only ever sent by the server.
        other => Err(ParseError::UnknownType(other)),
    }
}

/// Decodes a polling body: packets separated by `\x1e`, binary ones as `b` + base64.
pub fn decode_payload(body: &str) -> Result<Vec<Packet<'_>>, ParseError> {
    body.split(SEPARATOR).map(decode_record).collect()
}

/// Decodes one record of a polling body.
pub fn decode_record(record: &str) -> Result<Packet<'_>, ParseError> {
    match record.strip_prefix('b') {
        Some(encoded) => base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(|raw| Packet::Binary(Bytes::from(raw)))
            .map_err(|_| ParseError::Base64),
        None => decode_text(record),
    }
}

/// Encodes frames as one polling body, as bytes: a lone text frame is the body as it is
/// (shared, not copied).
pub fn payload_bytes<'a, I>(frames: I) -> Bytes
where
    I: IntoIterator<Item = &'a Frame>,
    I::IntoIter: Clone,
{
    let frames = frames.into_iter();
    let mut first_two = frames.clone();
    match (first_two.next(), first_two.next()) {
        (Some(Frame::Text(text)), None) => text.clone().into_bytes(),
        _ => Bytes::from(encode_payload(frames)),
    }
}

/// Encodes frames as one polling body.
pub fn encode_payload<'a>(frames: impl IntoIterator<Item = &'a Frame>) -> String {
    let mut body = String::new();
    for (i, frame) in frames.into_iter().enumerate() {
        if i > 0 {
            body.push(SEPARATOR);
        }
        match frame {
            Frame::Text(text) => body.push_str(text),
            Frame::Binary(raw) => {
                body.push('b');
                base64::engine::general_purpose::STANDARD.encode_string(raw, &mut body);
            }
        }
    }
    body
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_text_packet_type() {
        let cases: &[(&str, Result<Packet, ParseError>)] = &[
            ("1", Ok(Packet::Close)),
            ("2", Ok(Packet::Ping(""))),
            ("2probe", Ok(Packet::Ping("probe"))),
            ("3", Ok(Packet::Pong(""))),
            ("4hello", Ok(Packet::Message("hello"))),
            ("4", Ok(Packet::Message(""))),
            ("4é✓", Ok(Packet::Message("é✓"))),
            ("5", Ok(Packet::Upgrade)),
            ("6", Ok(Packet::Noop)),
            ("", Err(ParseError::Empty)),
            ("0", Err(ParseError::UnknownType('0'))),
            ("7", Err(ParseError::UnknownType('7'))),
            ("abc", Err(ParseError::UnknownType('a'))),
            ("é", Err(ParseError::UnknownType('é'))),
        ];
        for (input, expected) in cases {
            assert_eq!(&decode_text(input), expected, "input {input:?}");
        }
    }

    #[test]
    fn decodes_polling_payloads() {
        assert_eq!(
            decode_payload("4test1\x1e4test2\x1e4test3").unwrap(),
            vec![
                Packet::Message("test1"),
                Packet::Message("test2"),
                Packet::Message("test3")
            ]
        );
        assert_eq!(
            decode_payload("4hello\x1ebAQIDBA==").unwrap(),
            vec![
                Packet::Message("hello"),
                Packet::Binary(Bytes::from_static(&[1, 2, 3, 4]))
            ]
        );
        assert_eq!(decode_payload("b!!"), Err(ParseError::Base64));
        assert_eq!(decode_payload("4a\x1e"), Err(ParseError::Empty));
        assert_eq!(decode_payload("abc"), Err(ParseError::UnknownType('a')));
    }

    #[test]
    fn encodes_polling_payloads() {
        let frames = [
            Frame::message("hello"),
            Frame::Binary(Bytes::from_static(&[1, 2, 3, 4])),
            Frame::control(ControlKind::Ping),
        ];
        assert_eq!(encode_payload(&frames), "4hello\x1ebAQIDBA==\x1e2");
        assert_eq!(encode_payload(&[]), "");
        assert_eq!(payload_bytes(&frames), encode_payload(&frames).as_bytes());
        assert_eq!(payload_bytes(&frames[..1]), "4hello".as_bytes());
        assert_eq!(payload_bytes(&frames[1..2]), "bAQIDBA==".as_bytes());
    }

    #[test]
    fn payload_round_trips() {
        let frames = [
            Frame::message("a\u{1F600}"),
            Frame::Binary(Bytes::from_static(&[])),
            Frame::Binary(Bytes::from_static(&[255, 0, 7])),
            Frame::message(""),
        ];
        let body = encode_payload(&frames);
        let decoded = decode_payload(&body).unwrap();
        assert_eq!(
            decoded,
            vec![
                Packet::Message("a\u{1F600}"),
                Packet::Binary(Bytes::new()),
                Packet::Binary(Bytes::from_static(&[255, 0, 7])),
                Packet::Message(""),
            ]
        );
    }
}
