//! Property tests for the codecs: whatever the server encodes decodes back to the same packet,
//! for Engine.IO frames and polling bodies and for every Socket.IO packet type the encoders write.
//! Floats must come back bit for bit, which needs serde_json's `float_roundtrip` feature.

use actix_socketio::{
    engine::packet::{
        decode_payload, decode_text, encode_payload, ControlKind, Frame, Packet as EnginePacket,
        SEPARATOR,
    },
    socket::packet::{
        decode, encode_ack, encode_connect, encode_connect_error, encode_disconnect, encode_event,
        placeholder, Packet, PacketType, RESERVED_EVENTS,
    },
};
use bytes::Bytes;
use proptest::prelude::*;
use serde_json::{Map, Value};

// ---------------------------------------------------------------- strategies

/// Any JSON value up to depth 4, with every kind of number and any unicode in strings and keys.
fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(Value::from),
        any::<String>().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((any::<String>(), inner), 0..4)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

fn nsp() -> impl Strategy<Value = String> {
    prop_oneof![Just("/".to_owned()), "/[a-z]{1,8}"]
}

fn event_name() -> impl Strategy<Value = String> {
    any::<String>().prop_filter("reserved event name", |name| {
        !RESERVED_EVENTS.contains(&name.as_str())
    })
}

/// Arguments plus `count` binary attachments, each placeholder at the top level or nested.
fn binary_args() -> impl Strategy<Value = (Vec<Value>, usize)> {
    (
        prop::collection::vec(json(), 0..3),
        prop::collection::vec(any::<bool>(), 1..=10),
    )
        .prop_map(|(mut args, nested)| {
            for (num, nested) in nested.iter().enumerate() {
                let value = placeholder(num);
                args.push(if *nested {
                    serde_json::json!({ "file": value, "n": num })
                } else {
                    value
                });
            }
            (args, nested.len())
        })
}

/// A message text that can travel in a polling body (`\x1e` is the record separator).
fn polling_text() -> impl Strategy<Value = String> {
    any::<String>().prop_map(|s| s.replace(SEPARATOR, ""))
}

#[derive(Debug, Clone)]
enum FrameSpec {
    Message(String),
    Binary(Vec<u8>),
    Control(ControlKind),
}

fn control_kind() -> impl Strategy<Value = ControlKind> {
    prop_oneof![
        Just(ControlKind::Close),
        Just(ControlKind::Ping),
        Just(ControlKind::PongProbe),
        Just(ControlKind::Noop),
    ]
}

fn frame_spec() -> impl Strategy<Value = FrameSpec> {
    prop_oneof![
        polling_text().prop_map(FrameSpec::Message),
        prop::collection::vec(any::<u8>(), 0..64).prop_map(FrameSpec::Binary),
        control_kind().prop_map(FrameSpec::Control),
    ]
}

fn frame_of(spec: &FrameSpec) -> Frame {
    match spec {
        FrameSpec::Message(text) => Frame::message(text),
        FrameSpec::Binary(raw) => Frame::Binary(Bytes::copy_from_slice(raw)),
        FrameSpec::Control(kind) => Frame::control(*kind),
    }
}

/// The packet a frame decodes to (the decoder reads the server's control packets too).
fn expected_packet(spec: &FrameSpec) -> EnginePacket<'_> {
    match spec {
        FrameSpec::Message(text) => EnginePacket::Message(text),
        FrameSpec::Binary(raw) => EnginePacket::Binary(Bytes::copy_from_slice(raw)),
        FrameSpec::Control(ControlKind::Close) => EnginePacket::Close,
        FrameSpec::Control(ControlKind::Ping) => EnginePacket::Ping(""),
        FrameSpec::Control(ControlKind::PongProbe) => EnginePacket::Pong("probe"),
        FrameSpec::Control(ControlKind::Noop) => EnginePacket::Noop,
    }
}

/// A packet a client sends as one text frame, with its encoding.
fn client_packet() -> impl Strategy<Value = (String, String)> {
    prop_oneof![
        Just(("1".to_owned(), String::new())),
        any::<String>().prop_map(|d| ("2".to_owned(), d)),
        any::<String>().prop_map(|d| ("3".to_owned(), d)),
        any::<String>().prop_map(|d| ("4".to_owned(), d)),
        Just(("5".to_owned(), String::new())),
        Just(("6".to_owned(), String::new())),
    ]
}

// ---------------------------------------------------------------- Engine.IO

proptest! {
    #[test]
    fn engine_message_frame_round_trips(text in any::<String>()) {
        let Frame::Text(encoded) = Frame::message(&text) else {
            panic!("a message is a text frame");
        };
        prop_assert_eq!(decode_text(&encoded), Ok(EnginePacket::Message(&text)));
    }

    #[test]
    fn engine_control_frame_round_trips(kind in control_kind()) {
        let spec = FrameSpec::Control(kind);
        let Frame::Text(encoded) = frame_of(&spec) else {
            panic!("a control packet is a text frame");
        };
        prop_assert_eq!(decode_text(&encoded), Ok(expected_packet(&spec)));
    }

    #[test]
    fn engine_client_packet_decodes((kind, data) in client_packet()) {
        let text = format!("{kind}{data}");
        let expected = match kind.as_str() {
            "1" => EnginePacket::Close,
            "2" => EnginePacket::Ping(&data),
            "3" => EnginePacket::Pong(&data),
            "4" => EnginePacket::Message(&data),
            "5" => EnginePacket::Upgrade,
            _ => EnginePacket::Noop,
        };
        prop_assert_eq!(decode_text(&text), Ok(expected));
    }

    #[test]
    fn engine_single_binary_payload_round_trips(raw in prop::collection::vec(any::<u8>(), 0..256)) {
        let body = encode_payload(&[Frame::Binary(Bytes::copy_from_slice(&raw))]);
        prop_assert_eq!(decode_payload(&body), Ok(vec![EnginePacket::Binary(Bytes::from(raw))]));
    }

    #[test]
    fn engine_payload_round_trips(specs in prop::collection::vec(frame_spec(), 1..8)) {
        let frames: Vec<Frame> = specs.iter().map(frame_of).collect();
        let body = encode_payload(&frames);
        let expected: Vec<EnginePacket<'_>> = specs.iter().map(expected_packet).collect();
        prop_assert_eq!(decode_payload(&body), Ok(expected), "body {:?}", body);
    }
}

// ---------------------------------------------------------------- Socket.IO

fn decoded(encoded: &str) -> Packet {
    decode(encoded).unwrap_or_else(|e| panic!("encoder output {encoded:?} refused: {e}"))
}

fn assert_header(packet: &Packet, kind: PacketType, nsp: &str, id: Option<u64>, count: usize) {
    assert_eq!(packet.kind, kind);
    assert_eq!(packet.nsp, nsp);
    assert_eq!(packet.id, id);
    assert_eq!(packet.attachments, count);
}

proptest! {
    #[test]
    fn socket_connect_round_trips(nsp in nsp(), sid in any::<String>()) {
        let encoded = encode_connect(&nsp, &sid, None);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::Connect, &nsp, None, 0);
        prop_assert_eq!(packet.data, Some(serde_json::json!({ "sid": sid })));
    }

    #[test]
    fn socket_connect_error_round_trips(
        nsp in nsp(),
        message in any::<String>(),
        data in prop::option::of(json()),
    ) {
        let encoded = encode_connect_error(&nsp, &message, data.as_ref());
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::ConnectError, &nsp, None, 0);
        let mut body = Map::new();
        body.insert("message".to_owned(), Value::String(message));
        if let Some(data) = data {
            body.insert("data".to_owned(), data);
        }
        prop_assert_eq!(packet.data, Some(Value::Object(body)), "via {:?}", encoded);
    }

    #[test]
    fn socket_disconnect_round_trips(nsp in nsp()) {
        let encoded = encode_disconnect(&nsp);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::Disconnect, &nsp, None, 0);
        prop_assert_eq!(packet.data, None);
    }

    #[test]
    fn socket_event_round_trips(
        nsp in nsp(),
        id in prop::option::of(any::<u64>()),
        name in event_name(),
        args in prop::collection::vec(json(), 0..4),
    ) {
        let encoded = encode_event(&nsp, id, &name, &args, 0);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::Event, &nsp, id, 0);
        let mut expected = vec![Value::String(name)];
        expected.extend(args);
        prop_assert_eq!(packet.data, Some(Value::Array(expected)), "via {:?}", encoded);
    }

    #[test]
    fn socket_binary_event_round_trips(
        nsp in nsp(),
        id in prop::option::of(any::<u64>()),
        name in event_name(),
        (args, count) in binary_args(),
    ) {
        let encoded = encode_event(&nsp, id, &name, &args, count);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::BinaryEvent, &nsp, id, count);
        let mut expected = vec![Value::String(name)];
        expected.extend(args);
        prop_assert_eq!(packet.data, Some(Value::Array(expected)), "via {:?}", encoded);
    }

    #[test]
    fn socket_ack_round_trips(
        nsp in nsp(),
        id in any::<u64>(),
        args in prop::collection::vec(json(), 0..4),
    ) {
        let encoded = encode_ack(&nsp, id, &args, 0);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::Ack, &nsp, Some(id), 0);
        prop_assert_eq!(packet.data, Some(Value::Array(args)), "via {:?}", encoded);
    }

    #[test]
    fn socket_binary_ack_round_trips(
        nsp in nsp(),
        id in any::<u64>(),
        (args, count) in binary_args(),
    ) {
        let encoded = encode_ack(&nsp, id, &args, count);
        let packet = decoded(&encoded);
        assert_header(&packet, PacketType::BinaryAck, &nsp, Some(id), count);
        prop_assert_eq!(packet.data, Some(Value::Array(args)), "via {:?}", encoded);
    }

    /// Integers and strings never need the float tolerance: they must come back exactly.
    #[test]
    fn socket_exact_values_round_trip(
        ints in prop::collection::vec(any::<i64>(), 0..4),
        uints in prop::collection::vec(any::<u64>(), 0..4),
        texts in prop::collection::vec(any::<String>(), 0..4),
    ) {
        let mut args: Vec<Value> = ints.into_iter().map(Value::from).collect();
        args.extend(uints.into_iter().map(Value::from));
        args.extend(texts.into_iter().map(Value::String));
        let encoded = encode_event("/", None, "exact", &args, 0);
        let mut expected = vec![Value::from("exact")];
        expected.extend(args);
        prop_assert_eq!(decoded(&encoded).data, Some(Value::Array(expected)));
    }
}
