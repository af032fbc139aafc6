//! Socket.IO packets in msgpack (`Parser::MsgPack`): `decode` never panics, every accepted
//! packet keeps the protocol's invariants, and what the server's encoders write from it decodes
//! to the same fields, binary values included.
#![no_main]

use actix_socketio::socket::{
    msgpack::{
        decode, encode_ack, encode_connect, encode_connect_error, encode_disconnect,
        encode_event, MAX_DEPTH,
    },
    packet::{Packet, PacketType, RESERVED_EVENTS},
};
use actix_socketio_fuzz::placeholder_num;
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// A decoded value with its binary values put back in place of their placeholders, so that two
/// decodings compare whatever the numbering of their attachments.
#[derive(Debug, PartialEq)]
enum Resolved {
    Json(Value),
    Binary(Bytes),
    List(Vec<Resolved>),
    Map(Vec<(String, Resolved)>),
}

fn resolve(value: &Value, attachments: &[Bytes]) -> Resolved {
    if let Some(Some(num)) = placeholder_num(value) {
        if let Some(data) = usize::try_from(num).ok().and_then(|n| attachments.get(n)) {
            return Resolved::Binary(data.clone());
        }
    }
    match value {
        Value::Array(items) => {
            Resolved::List(items.iter().map(|v| resolve(v, attachments)).collect())
        }
        Value::Object(map) => Resolved::Map(
            map.iter()
                .map(|(k, v)| (k.clone(), resolve(v, attachments)))
                .collect(),
        ),
        other => Resolved::Json(other.clone()),
    }
}

fn depth(value: &Value) -> usize {
    match value {
        Value::Array(items) => 1 + items.iter().map(depth).max().unwrap_or(0),
        Value::Object(map) => 1 + map.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// What every packet `decode` accepts must satisfy.
fn check_invariants(packet: &Packet, attachments: &[Bytes]) {
    assert_eq!(packet.attachments, attachments.len());
    let data = packet.data.as_ref();
    if let Some(data) = data {
        // The packet map and the data's own containers.
        assert!(1 + depth(data) <= MAX_DEPTH, "nesting {} accepted", depth(data));
    }
    match packet.kind {
        PacketType::Connect => assert!(matches!(data, None | Some(Value::Object(_)))),
        PacketType::Disconnect => assert!(data.is_none()),
        PacketType::ConnectError => {
            assert!(matches!(data, Some(Value::String(_) | Value::Object(_))))
        }
        PacketType::Ack => assert!(matches!(data, Some(Value::Array(_)))),
        PacketType::Event => match data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) => assert!(!RESERVED_EVENTS.contains(&name.as_str())),
                Some(Value::Number(_)) => {}
                other => panic!("event name {other:?} accepted"),
            },
            other => panic!("event payload {other:?} accepted"),
        },
        PacketType::BinaryEvent | PacketType::BinaryAck => {
            panic!("msgpack has no binary packet types")
        }
    }
}

/// Decodes what an encoder wrote; it must be valid.
fn redecode(encoded: &Bytes) -> (Packet, Vec<Bytes>) {
    decode(encoded).unwrap_or_else(|e| panic!("encoder output {encoded:?} refused: {e}"))
}

/// Re-encodes with the encoder the server uses for this packet type and decodes again.
fn check_round_trip(packet: &Packet, attachments: &[Bytes]) {
    let items = match &packet.data {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    match packet.kind {
        PacketType::Event => {
            let (first, args) = items.split_first().expect("checked: non-empty");
            let name = match first {
                Value::String(name) => name.clone(),
                // The dispatcher hands a numeric name to handlers as its text.
                other => other.to_string(),
            };
            let encoded = encode_event(&packet.nsp, packet.id, &name, args, attachments);
            let (again, again_attachments) = redecode(&encoded);
            assert_eq!(again.kind, PacketType::Event);
            assert_eq!((&again.nsp, again.id), (&packet.nsp, packet.id));
            let mut expected = vec![Value::String(name)];
            expected.extend_from_slice(args);
            assert_eq!(
                resolve(again.data.as_ref().expect("an event has data"), &again_attachments),
                resolve(&Value::Array(expected), attachments),
                "via {encoded:?}"
            );
        }
        PacketType::Ack => {
            if let Some(id) = packet.id {
                let encoded = encode_ack(&packet.nsp, id, items, attachments);
                let (again, again_attachments) = redecode(&encoded);
                assert_eq!(again.kind, PacketType::Ack);
                assert_eq!((&again.nsp, again.id), (&packet.nsp, Some(id)));
                assert_eq!(
                    resolve(again.data.as_ref().expect("an ack has data"), &again_attachments),
                    resolve(packet.data.as_ref().expect("checked"), attachments),
                    "via {encoded:?}"
                );
            }
        }
        PacketType::Connect => {
            let sid = match packet.data.as_ref().and_then(|d| d.get("sid")) {
                Some(Value::String(sid)) => sid.as_str(),
                _ => "",
            };
            let (again, _) = redecode(&encode_connect(&packet.nsp, sid, Some("pid")));
            assert_eq!((again.kind, &again.nsp), (PacketType::Connect, &packet.nsp));
            assert_eq!(again.data, Some(serde_json::json!({"sid": sid, "pid": "pid"})));
        }
        PacketType::ConnectError => {
            let (message, extra) = match &packet.data {
                Some(Value::String(message)) => (message.as_str(), None),
                Some(Value::Object(map)) => (
                    map.get("message").and_then(Value::as_str).unwrap_or(""),
                    map.get("data"),
                ),
                _ => unreachable!("checked: string or object"),
            };
            let (again, _) = redecode(&encode_connect_error(&packet.nsp, message, extra));
            assert_eq!(again.kind, PacketType::ConnectError);
            let body = again.data.as_ref().and_then(Value::as_object).expect("an object");
            assert_eq!(body.get("message").and_then(Value::as_str), Some(message));
            assert_eq!(body.get("data"), extra);
        }
        PacketType::Disconnect => {
            let (again, _) = redecode(&encode_disconnect(&packet.nsp));
            assert_eq!((again.kind, &again.nsp), (PacketType::Disconnect, &packet.nsp));
            assert_eq!((again.id, again.data), (None, None));
        }
        PacketType::BinaryEvent | PacketType::BinaryAck => unreachable!("checked"),
    }
}

fuzz_target!(|data: &[u8]| {
    let message = Bytes::copy_from_slice(data);
    let Ok((packet, attachments)) = decode(&message) else {
        return;
    };
    check_invariants(&packet, &attachments);
    check_round_trip(&packet, &attachments);
    // Decoding is a pure function of the bytes.
    let (twice, twice_attachments) = decode(&message).expect("decoded once");
    assert_eq!((twice, twice_attachments), (packet, attachments));
});
