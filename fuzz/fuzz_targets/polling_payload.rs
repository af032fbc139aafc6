//! Polling bodies: `decode_payload` never panics, whatever it accepts re-encodes with
//! `encode_payload` to a body that decodes to the same packets, and frames built from the
//! input survive encode → decode unchanged.
#![no_main]

use actix_socketio::engine::packet::{decode_payload, encode_payload, Frame, Packet, SEPARATOR};
use actix_socketio_fuzz::split_parts;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;

/// The frame the server would queue for a decoded packet.
fn frame_of(packet: &Packet<'_>) -> Frame {
    let text = match packet {
        Packet::Message(text) => return Frame::message(text),
        Packet::Binary(raw) => return Frame::Binary(raw.clone()),
        Packet::Close => "1".to_owned(),
        Packet::Ping(data) => format!("2{data}"),
        Packet::Pong(data) => format!("3{data}"),
        Packet::Upgrade => "5".to_owned(),
        Packet::Noop => "6".to_owned(),
    };
    Frame::Text(text.into())
}

/// The packet a frame must decode back to.
fn packet_of(frame: &Frame) -> Packet<'_> {
    match frame {
        Frame::Binary(raw) => Packet::Binary(raw.clone()),
        Frame::Text(text) => match text.strip_prefix('4') {
            Some(message) => Packet::Message(message),
            None => unreachable!("only message frames are built from the input"),
        },
    }
}

/// Decoded body → frames → body → the same packets.
fn decoded_body_round_trips(body: &str) {
    let Ok(packets) = decode_payload(body) else {
        return;
    };
    assert_eq!(packets.len(), body.split(SEPARATOR).count());
    let frames: Vec<Frame> = packets.iter().map(frame_of).collect();
    let encoded = encode_payload(&frames);
    let again = decode_payload(&encoded)
        .unwrap_or_else(|e| panic!("re-encoded body {encoded:?} does not decode: {e}"));
    assert_eq!(again, packets, "re-encoded as {encoded:?}");
}

/// Frames from the raw input: each chunk is a message (tag byte even; text without `\x1e`,
/// which cannot travel in a polling body) or a binary packet (tag byte odd).
fn built_frames_round_trip(data: &[u8]) {
    let (_, chunks) = split_parts(data);
    let frames: Vec<Frame> = chunks
        .iter()
        .map(|chunk| match chunk.split_first() {
            Some((tag, rest)) if tag % 2 == 1 => Frame::Binary(Bytes::copy_from_slice(rest)),
            Some((_, rest)) => {
                let text = String::from_utf8_lossy(rest).replace(SEPARATOR, "");
                Frame::message(&text)
            }
            None => Frame::message(""),
        })
        .collect();
    if frames.is_empty() {
        assert_eq!(encode_payload(&frames), "");
        return;
    }
    let body = encode_payload(&frames);
    let decoded = decode_payload(&body)
        .unwrap_or_else(|e| panic!("encoded body {body:?} does not decode: {e}"));
    let expected: Vec<Packet<'_>> = frames.iter().map(packet_of).collect();
    assert_eq!(decoded, expected, "body {body:?}");
}

fuzz_target!(|data: &[u8]| {
    if let Ok(body) = std::str::from_utf8(data) {
        decoded_body_round_trips(body);
    }
    built_frames_round_trip(data);
});
