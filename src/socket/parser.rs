//! The Socket.IO wire format, behind one seam: [`Parser`] turns packets into Engine.IO frames and
//! a per-session `Decoder` turns frames back into packets. Two formats: JSON
//! ([`crate::socket::packet`]) and msgpack ([`crate::socket::msgpack`]); nothing else in the
//! crate encodes or decodes Socket.IO packets.

use bytes::Bytes;
use serde_json::Value;

use crate::{
    engine::packet::Frame,
    socket::{
        error::DecodeError,
        msgpack,
        packet::{self, Packet},
        payload::Payload,
    },
};

/// The enum is defined with the configuration (layer 1); its codecs are here.
pub use crate::config::Parser;

impl Parser {
    /// A decoder for one session's incoming messages.
    pub(crate) fn decoder(self) -> Decoder {
        Decoder {
            parser: self,
            partial: None,
        }
    }

    /// An EVENT (with an ack id when the sender waits for an answer).
    pub(crate) fn event(
        self,
        nsp: &str,
        id: Option<u64>,
        event: &str,
        payload: Payload,
    ) -> Vec<Frame> {
        match self {
            Parser::Json => {
                let (args, attachments) = payload.into_parts();
                let text = packet::encode_event(nsp, id, event, &args, attachments.len());
                Frame::packet(text, attachments)
            }
            Parser::MsgPack => {
                let (args, attachments) = payload.into_parts();
                let bytes = msgpack::encode_event(nsp, id, event, &args, &attachments);
                vec![Frame::Binary(bytes)]
            }
        }
    }

    /// An ACK answering the client's packet `id`.
    pub(crate) fn ack(self, nsp: &str, id: u64, payload: Payload) -> Vec<Frame> {
        match self {
            Parser::Json => {
                let (args, attachments) = payload.into_parts();
                let text = packet::encode_ack(nsp, id, &args, attachments.len());
                Frame::packet(text, attachments)
            }
            Parser::MsgPack => {
                let (args, attachments) = payload.into_parts();
                vec![Frame::Binary(msgpack::encode_ack(
                    nsp,
                    id,
                    &args,
                    &attachments,
                ))]
            }
        }
    }

    /// The CONNECT answer carrying the socket's id (and its private session id when
    /// connection state recovery is on).
    pub(crate) fn connect(self, nsp: &str, sid: &str, pid: Option<&str>) -> Frame {
        match self {
            Parser::Json => Frame::message_owned(packet::encode_connect(nsp, sid, pid)),
            Parser::MsgPack => Frame::Binary(msgpack::encode_connect(nsp, sid, pid)),
        }
    }

    /// A CONNECT_ERROR with its message and optional data.
    pub(crate) fn connect_error(self, nsp: &str, message: &str, data: Option<&Value>) -> Frame {
        match self {
            Parser::Json => Frame::message_owned(packet::encode_connect_error(nsp, message, data)),
            Parser::MsgPack => Frame::Binary(msgpack::encode_connect_error(nsp, message, data)),
        }
    }

    /// A DISCONNECT for one namespace.
    pub(crate) fn disconnect(self, nsp: &str) -> Frame {
        match self {
            Parser::Json => Frame::message_owned(packet::encode_disconnect(nsp)),
            Parser::MsgPack => Frame::Binary(msgpack::encode_disconnect(nsp)),
        }
    }
}

/// A packet with all its binary attachments.
#[derive(Debug)]
pub(crate) struct Incoming {
    pub(crate) packet: Packet,
    pub(crate) attachments: Vec<Bytes>,
}

/// One session's incoming Socket.IO packets, put together from Engine.IO messages (with JSON a
/// binary packet waits here for its attachments; with msgpack each binary message is a packet).
pub(crate) struct Decoder {
    parser: Parser,
    /// Boxed: binary packets are rare, and the decoder lives inside every session actor.
    partial: Option<Box<Incoming>>,
}

impl Decoder {
    /// A text message: a whole packet, the head of a binary one (`Ok(None)`), or an error.
    pub(crate) fn text(&mut self, text: &str) -> Result<Option<Incoming>, DecodeError> {
        match self.parser {
            Parser::Json => {
                if self.partial.is_some() {
                    return Err(DecodeError::UnexpectedText);
                }
                let packet = packet::decode(text)?;
                if packet.attachments > 0 {
                    let attachments = Vec::with_capacity(packet.attachments);
                    self.partial = Some(Box::new(Incoming {
                        packet,
                        attachments,
                    }));
                    return Ok(None);
                }
                Ok(Some(Incoming {
                    packet,
                    attachments: Vec::new(),
                }))
            }
            Parser::MsgPack => Err(DecodeError::TextMessage),
        }
    }

    /// A binary message: the next attachment of the waiting packet (`Ok(Some)` once complete),
    /// or with msgpack a whole packet.
    pub(crate) fn binary(&mut self, data: Bytes) -> Result<Option<Incoming>, DecodeError> {
        match self.parser {
            Parser::Json => {
                let Some(partial) = self.partial.as_mut() else {
                    return Err(DecodeError::UnexpectedBinary);
                };
                partial.attachments.push(data);
                if partial.attachments.len() < partial.packet.attachments {
                    return Ok(None);
                }
                Ok(self.partial.take().map(|partial| *partial))
            }
            Parser::MsgPack => {
                let (packet, attachments) = msgpack::decode(&data)?;
                Ok(Some(Incoming {
                    packet,
                    attachments,
                }))
            }
        }
    }

    /// Forgets a packet still waiting for attachments (the session is closing).
    pub(crate) fn reset(&mut self) {
        self.partial = None;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::socket::packet::PacketType;

    fn text_of(frame: &Frame) -> &str {
        match frame {
            Frame::Text(text) => text,
            Frame::Binary(_) => panic!("not a text frame"),
        }
    }

    #[test]
    fn json_encodes_each_packet_kind() {
        let parser = Parser::Json;
        let payload = Payload::new().arg("hi").unwrap().binary(vec![1u8, 2]);
        let frames = parser.event("/chat", Some(7), "file", payload);
        assert_eq!(frames.len(), 2);
        assert_eq!(
            text_of(&frames[0]),
            r#"451-/chat,7["file","hi",{"_placeholder":true,"num":0}]"#
        );
        assert_eq!(frames[1], Frame::Binary(Bytes::from_static(&[1, 2])));
        let ack = parser.ack("/", 3, Payload::new().arg(&1).unwrap());
        assert_eq!(text_of(&ack[0]), "433[1]");
        assert_eq!(
            text_of(&parser.connect("/", "abc", None)),
            r#"40{"sid":"abc"}"#
        );
        assert_eq!(
            text_of(&parser.connect_error("/x", "no", Some(&json!(1)))),
            r#"44/x,{"message":"no","data":1}"#
        );
        assert_eq!(text_of(&parser.disconnect("/x")), "41/x,");
    }

    #[test]
    fn json_decoder_puts_binary_packets_together() {
        let mut decoder = Parser::Json.decoder();
        let whole = decoder.text(r#"2["hello",1]"#).unwrap().unwrap();
        assert_eq!(whole.packet.kind, PacketType::Event);
        assert!(whole.attachments.is_empty());

        let head = r#"52-["file",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]"#;
        assert!(decoder.text(head).unwrap().is_none());
        assert_eq!(
            decoder.text("2[\"x\"]").unwrap_err(),
            DecodeError::UnexpectedText
        );
        assert!(decoder.binary(Bytes::from_static(b"a")).unwrap().is_none());
        let done = decoder.binary(Bytes::from_static(b"b")).unwrap().unwrap();
        assert_eq!(done.packet.kind, PacketType::BinaryEvent);
        assert_eq!(done.attachments, [&b"a"[..], &b"b"[..]]);
        assert_eq!(
            decoder.binary(Bytes::from_static(b"c")).unwrap_err(),
            DecodeError::UnexpectedBinary
        );

        assert!(decoder.text(head).unwrap().is_none());
        decoder.reset();
        assert!(decoder.text("2[\"after\"]").unwrap().is_some());
    }

    #[test]
    fn msgpack_sends_one_binary_frame_per_packet() {
        let parser = Parser::MsgPack;
        let mut payload = Payload::new().arg("hi").unwrap();
        let nested = payload.attach(vec![1u8, 2]);
        let payload = payload.value(json!({ "file": nested }));
        let frames = parser.event("/chat", Some(7), "file", payload);
        let [Frame::Binary(message)] = frames.as_slice() else {
            panic!("not one binary frame: {frames:?}");
        };
        let mut decoder = parser.decoder();
        let incoming = decoder.binary(message.clone()).unwrap().unwrap();
        assert_eq!(incoming.packet.kind, PacketType::Event);
        assert_eq!(
            (incoming.packet.nsp.as_str(), incoming.packet.id),
            ("/chat", Some(7))
        );
        assert_eq!(
            incoming.packet.data,
            Some(json!(["file", "hi", {"file": {"_placeholder": true, "num": 0}}]))
        );
        assert_eq!(incoming.attachments, [&[1u8, 2][..]]);

        let frames = parser.ack("/", 3, Payload::new().binary(vec![9u8]));
        let [Frame::Binary(message)] = frames.as_slice() else {
            panic!("not one binary frame: {frames:?}");
        };
        let incoming = decoder.binary(message.clone()).unwrap().unwrap();
        assert_eq!(incoming.packet.kind, PacketType::Ack);
        assert_eq!(incoming.attachments, [&[9u8][..]]);
        for frame in [
            parser.connect("/", "abc", Some("p")),
            parser.connect_error("/x", "no", None),
            parser.disconnect("/x"),
        ] {
            assert!(matches!(frame, Frame::Binary(_)), "{frame:?}");
        }
    }

    #[test]
    fn msgpack_decoder_refuses_text_and_garbage() {
        let mut decoder = Parser::MsgPack.decoder();
        assert_eq!(
            decoder.text("2[\"x\"]").unwrap_err(),
            DecodeError::TextMessage
        );
        assert!(matches!(
            decoder.binary(Bytes::from_static(&[0x93, 0x01])),
            Err(DecodeError::BadMsgPack(_))
        ));
        // Each message stands alone: a good packet after a bad one decodes.
        let good = msgpack::encode_event("/", None, "ok", &[], &[]);
        assert!(decoder.binary(good).unwrap().is_some());
    }
}
