//! One Engine.IO text packet (a WebSocket text frame): `decode_text` never panics, what it
//! accepts re-encodes to a frame that decodes to the same packet, and it agrees with
//! `decode_payload` on a body of one record.
#![no_main]

use actix_socketio::engine::{
    error::ParseError,
    packet::{decode_payload, decode_text, Frame, Packet, SEPARATOR},
};
use libfuzzer_sys::fuzz_target;

/// The text frame the server would write for `packet`.
fn encode(packet: &Packet<'_>) -> Frame {
    let text = match packet {
        Packet::Close => "1".to_owned(),
        Packet::Ping(data) => format!("2{data}"),
        Packet::Pong(data) => format!("3{data}"),
        Packet::Message(text) => return Frame::message(text),
        Packet::Upgrade => "5".to_owned(),
        Packet::Noop => "6".to_owned(),
        Packet::Binary(_) => unreachable!("decode_text returned a binary packet"),
    };
    Frame::Text(text.into())
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let decoded = decode_text(text);
    match &decoded {
        Ok(packet) => {
            assert!(
                !matches!(packet, Packet::Binary(_)),
                "text decoded as binary: {text:?}"
            );
            let frame = encode(packet);
            let Frame::Text(encoded) = &frame else {
                unreachable!("encode() builds text frames")
            };
            assert_eq!(
                decode_text(encoded).as_ref(),
                Ok(packet),
                "re-encoded as {encoded:?}"
            );
            // Packets that carry their data must come back byte for byte.
            if matches!(
                packet,
                Packet::Ping(_) | Packet::Pong(_) | Packet::Message(_)
            ) {
                assert_eq!(&encoded[..], text);
            }
            assert_eq!(frame.len(), encoded.len());
            assert!(!frame.is_empty());
        }
        Err(ParseError::Empty) => assert!(text.is_empty()),
        Err(ParseError::UnknownType(c)) => {
            assert_eq!(text.chars().next(), Some(*c));
            assert!(!('1'..='6').contains(c), "{c:?} is a known type");
        }
        Err(other) => panic!("decode_text({text:?}) returned {other:?}"),
    }

    // A body of one record is that packet (a record starting with `b` is binary instead).
    if !text.contains(SEPARATOR) && !text.starts_with('b') {
        let single = decode_payload(text).map(|mut packets| {
            assert_eq!(packets.len(), 1);
            packets.remove(0)
        });
        assert_eq!(single, decoded, "payload and packet decoders disagree");
    }
});
