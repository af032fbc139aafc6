//! Binary packets and `Payload`: a text header plus binary chunks (layout in `split_parts`).
//! The header is decoded, its arguments and the chunks become a `Payload` the way the dispatcher
//! builds one, and every accessor is exercised for every index: placeholders resolve only to
//! attachments that exist, and what the server would send back decodes again.
#![no_main]

use actix_socketio::{
    socket::{
        error::DecodeError,
        packet::{decode, encode_event, PacketType, MAX_ATTACHMENTS},
    },
    Payload,
};
use actix_socketio_fuzz::{placeholder_num, placeholders, split_parts};
use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The attachment argument `arg` stands for, by the protocol's rule.
fn resolves_to<'a>(arg: &Value, attachments: &'a [Bytes]) -> Option<&'a Bytes> {
    let num = placeholder_num(arg)??;
    attachments.get(usize::try_from(num).ok()?)
}

/// Every accessor of `payload`, for every index and one past the end.
fn exercise(payload: &Payload, args: &[Value], attachments: &[Bytes]) {
    assert_eq!(payload.len(), args.len());
    assert_eq!(payload.is_empty(), args.is_empty());
    assert_eq!(payload.args(), args);
    assert_eq!(payload.attachments(), attachments);
    for i in 0..=args.len() {
        let arg = args.get(i);
        let expected = arg.and_then(|arg| resolves_to(arg, attachments));
        assert_eq!(payload.bytes(i), expected, "bytes({i}) of {args:?}");
        let value = payload.get::<Value>(i).expect("any argument is a Value");
        assert_eq!(&value, arg.unwrap_or(&Value::Null));
        // Typed reads either succeed or return an error.
        let _ = payload.get::<String>(i);
        let _ = payload.get::<u64>(i);
        let _ = payload.get::<f64>(i);
        let _ = payload.get::<Vec<u8>>(i);
        let _ = payload.get::<Option<bool>>(i);
    }
    let all = payload.parse::<Vec<Value>>().expect("arguments are a list");
    assert_eq!(all, args);
    let _ = payload.parse::<(String,)>();
    let _ = payload.parse::<(String, u64)>();
    let _ = payload.parse::<Vec<String>>();
    let (back_args, back_attachments) = payload.clone().into_parts();
    assert_eq!(back_args, args);
    assert_eq!(back_attachments, attachments);
}

/// The builder: appending every chunk as a binary argument makes it readable at its index.
fn exercise_builder(args: &[Value], chunks: &[Bytes]) {
    let mut payload = args
        .iter()
        .fold(Payload::new(), |p, arg| p.value(arg.clone()));
    assert_eq!(payload, Payload::from_parts(args.to_vec(), Vec::new()));
    for chunk in chunks {
        payload = payload.binary(chunk.clone());
    }
    for (k, chunk) in chunks.iter().enumerate() {
        assert_eq!(payload.bytes(args.len() + k), Some(chunk));
    }
    let mut nested = Payload::new();
    for chunk in chunks {
        let value = nested.attach(chunk.clone());
        nested = nested.value(serde_json::json!({ "file": value }));
    }
    for (k, chunk) in chunks.iter().enumerate() {
        let arg = &nested.args()[k]["file"];
        assert_eq!(resolves_to(arg, nested.attachments()), Some(chunk));
        assert_eq!(
            nested.bytes(k),
            None,
            "a nested placeholder is not an argument"
        );
    }
}

/// What `emit_payload` / an ack would send for these arguments must decode to the same thing.
fn check_resend(nsp: &str, id: Option<u64>, args: &[Value], attachments: &[Bytes]) {
    let count = attachments.len();
    let encoded = encode_event(nsp, id, "echo", args, count);
    let mut found = Vec::new();
    args.iter().for_each(|arg| placeholders(arg, &mut found));
    let placeholders_valid = found.iter().all(|n| n.is_some_and(|n| n < count as u64));
    let decoded = decode(&encoded);
    match decoded {
        Ok(packet) => {
            let kind = if count > 0 {
                PacketType::BinaryEvent
            } else {
                PacketType::Event
            };
            assert_eq!(packet.kind, kind);
            assert_eq!(packet.attachments, count);
            assert_eq!((packet.nsp.as_str(), packet.id), (nsp, id));
            let mut expected = vec![Value::String("echo".to_owned())];
            expected.extend_from_slice(args);
            let data = packet.data.expect("an event has data");
            assert_eq!(data, Value::Array(expected), "via {encoded:?}");
        }
        Err(DecodeError::BadAttachments) => assert!(
            count > MAX_ATTACHMENTS || !placeholders_valid,
            "{encoded:?} refused"
        ),
        Err(e) => panic!("{encoded:?} refused: {e}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let (header, chunks) = split_parts(data);
    let Ok(header) = std::str::from_utf8(header) else {
        return;
    };
    let chunks: Vec<Bytes> = chunks.into_iter().map(Bytes::copy_from_slice).collect();

    match decode(header) {
        Ok(packet) => {
            let Some(Value::Array(mut items)) = packet.data else {
                return;
            };
            let is_event = matches!(packet.kind, PacketType::Event | PacketType::BinaryEvent);
            if is_event {
                items.remove(0); // the event name
            }
            // On the wire the dispatcher waits for exactly the announced number of attachments.
            let mut announced = chunks.clone();
            announced.resize(packet.attachments, Bytes::new());
            let payload = Payload::from_parts(items.clone(), announced.clone());
            exercise(&payload, &items, &announced);
            // In a text packet a placeholder-shaped object is plain JSON; in a binary one it
            // was validated by `decode` and must resolve.
            let binary = matches!(packet.kind, PacketType::BinaryEvent | PacketType::BinaryAck);
            for (i, arg) in items.iter().enumerate() {
                if binary && placeholder_num(arg).is_some() {
                    assert!(
                        payload.bytes(i).is_some(),
                        "accepted placeholder {arg} dangles"
                    );
                }
            }
            check_resend(&packet.nsp, packet.id, &items, &announced);
            // The same arguments with whatever chunks the input had.
            let payload = Payload::from_parts(items.clone(), chunks.clone());
            exercise(&payload, &items, &chunks);
            exercise_builder(&items, &chunks);
        }
        Err(_) => {
            // Arguments that never went through `decode`: placeholders may point anywhere.
            let Ok(Value::Array(args)) = serde_json::from_str::<Value>(header) else {
                return;
            };
            let payload = Payload::from_parts(args.clone(), chunks.clone());
            exercise(&payload, &args, &chunks);
            check_resend("/", None, &args, &chunks);
        }
    }
});
