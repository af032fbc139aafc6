//! Socket.IO packets: `decode` never panics, every accepted packet keeps the protocol's
//! invariants, and what the server's encoders write from it decodes to the same fields.
#![no_main]

use actix_socketio::socket::packet::{
    decode, encode_ack, encode_connect, encode_connect_error, encode_disconnect, encode_event,
    Packet, PacketType, MAX_ATTACHMENTS, RESERVED_EVENTS,
};
use actix_socketio_fuzz::placeholders;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fn is_binary(kind: PacketType) -> bool {
    matches!(kind, PacketType::BinaryEvent | PacketType::BinaryAck)
}

/// What every packet `decode` accepts must satisfy.
fn check_invariants(text: &str, packet: &Packet) {
    assert!(packet.nsp.starts_with('/'), "nsp {:?}", packet.nsp);
    assert!(!packet.nsp.contains(','), "nsp {:?}", packet.nsp);
    if is_binary(packet.kind) {
        assert!((1..=MAX_ATTACHMENTS).contains(&packet.attachments));
        let mut found = Vec::new();
        if let Some(data) = &packet.data {
            placeholders(data, &mut found);
        }
        for num in found {
            assert!(
                num.is_some_and(|n| n < packet.attachments as u64),
                "placeholder {num:?} of {} attachments accepted in {text:?}",
                packet.attachments
            );
        }
    } else {
        assert_eq!(packet.attachments, 0);
    }
    let data = packet.data.as_ref();
    match packet.kind {
        PacketType::Connect => assert!(matches!(data, None | Some(Value::Object(_)))),
        PacketType::Disconnect => assert!(data.is_none()),
        PacketType::ConnectError => {
            assert!(matches!(data, Some(Value::String(_) | Value::Object(_))))
        }
        PacketType::Ack | PacketType::BinaryAck => assert!(matches!(data, Some(Value::Array(_)))),
        PacketType::Event | PacketType::BinaryEvent => match data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) => assert!(!RESERVED_EVENTS.contains(&name.as_str())),
                Some(Value::Number(_)) => {}
                other => panic!("event name {other:?} accepted in {text:?}"),
            },
            other => panic!("event payload {other:?} accepted in {text:?}"),
        },
    }
}

/// Decodes what an encoder wrote; it must be valid.
fn redecode(encoded: &str) -> Packet {
    decode(encoded).unwrap_or_else(|e| panic!("encoder output {encoded:?} refused: {e}"))
}

fn assert_same(original: &Packet, again: &Packet, encoded: &str) {
    assert_eq!(again.kind, original.kind, "kind via {encoded:?}");
    assert_eq!(again.nsp, original.nsp, "nsp via {encoded:?}");
    assert_eq!(again.id, original.id, "id via {encoded:?}");
    assert_eq!(
        again.attachments, original.attachments,
        "attachments via {encoded:?}"
    );
    assert_eq!(again.data, original.data, "data via {encoded:?}");
}

/// Re-encodes with the encoder the server uses for this packet type and decodes again.
fn check_round_trip(packet: &Packet) {
    let items = match &packet.data {
        Some(Value::Array(items)) => items.as_slice(),
        _ => &[],
    };
    match packet.kind {
        PacketType::Event | PacketType::BinaryEvent => {
            let (first, args) = items.split_first().expect("checked: non-empty");
            let name = match first {
                Value::String(name) => name.clone(),
                // The dispatcher hands a numeric name to handlers as its text.
                other => other.to_string(),
            };
            let encoded = encode_event(&packet.nsp, packet.id, &name, args, packet.attachments);
            let again = redecode(&encoded);
            if first.is_string() {
                assert_same(packet, &again, &encoded);
            } else {
                let mut expected = packet.clone();
                let mut data = vec![Value::String(name)];
                data.extend_from_slice(args);
                expected.data = Some(Value::Array(data));
                assert_same(&expected, &again, &encoded);
            }
        }
        PacketType::Ack | PacketType::BinaryAck => {
            // An ACK without id decodes (the reference allows it) but answers nothing.
            if let Some(id) = packet.id {
                let encoded = encode_ack(&packet.nsp, id, items, packet.attachments);
                assert_same(packet, &redecode(&encoded), &encoded);
            }
        }
        PacketType::Connect => {
            let sid = match packet.data.as_ref().and_then(|d| d.get("sid")) {
                Some(Value::String(sid)) => sid.as_str(),
                _ => "",
            };
            let encoded = encode_connect(&packet.nsp, sid, None);
            let again = redecode(&encoded);
            assert_eq!(again.kind, PacketType::Connect);
            assert_eq!(again.nsp, packet.nsp, "via {encoded:?}");
            assert_eq!(again.id, None);
            assert_eq!(again.data, Some(serde_json::json!({ "sid": sid })));
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
            let encoded = encode_connect_error(&packet.nsp, message, extra);
            let again = redecode(&encoded);
            assert_eq!(again.kind, PacketType::ConnectError);
            assert_eq!(again.nsp, packet.nsp, "via {encoded:?}");
            let body = again.data.as_ref().and_then(Value::as_object);
            let body = body.unwrap_or_else(|| panic!("{encoded:?}: body is not an object"));
            assert_eq!(body.get("message").and_then(Value::as_str), Some(message));
            assert_eq!(body.get("data"), extra, "data via {encoded:?}");
            assert_eq!(body.len(), 1 + usize::from(extra.is_some()));
        }
        PacketType::Disconnect => {
            let encoded = encode_disconnect(&packet.nsp);
            let again = redecode(&encoded);
            assert_eq!(again.kind, PacketType::Disconnect);
            assert_eq!(again.nsp, packet.nsp, "via {encoded:?}");
            assert_eq!((again.id, again.data), (None, None));
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let Ok(packet) = decode(text) else {
        return;
    };
    check_invariants(text, &packet);
    check_round_trip(&packet);
    // Decoding is a pure function of the text.
    let twice = decode(text).expect("decoded once");
    assert_eq!(twice, packet);
    // The decoded data itself survives serialization (what a handler echoing it would send).
    if let Some(data) = &packet.data {
        let reparsed: Value = serde_json::from_str(&data.to_string()).expect("own output parses");
        assert_eq!(&reparsed, data, "{data} did not survive");
    }
});
