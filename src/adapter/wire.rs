//! The bytes nodes exchange through Redis, as `@socket.io/redis-adapter` 8.x writes them:
//! MessagePack the way notepack.io encodes it (maps with string keys, binary as `bin`, integral
//! numbers as the smallest integer, others as float 64) for broadcasts and broadcast-with-ack
//! requests and replies; JSON for every other request and reply.
//!
//! Values cross into the rest of the server as JSON with binary placeholders plus attachments
//! (what [`Payload`] holds), so one conversion serves events, acks and requests.

use bytes::Bytes;
use rmpv::Value as Mp;
use serde_json::{Map, Number, Value};

use crate::socket::{packet::placeholder, packet::placeholder_index, payload::Payload};

/// Most nesting accepted in a message from another node (deeper input is refused, not recursed).
const MAX_DEPTH: usize = 64;

/// Why bytes from a channel were dropped.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum WireError {
    #[error("not MessagePack: {0}")]
    MsgPack(String),
    #[error("not JSON: {0}")]
    Json(String),
    #[error("nested deeper than {MAX_DEPTH} levels")]
    TooDeep,
    #[error("unexpected shape: {0}")]
    Shape(&'static str),
}

/// Decodes one MessagePack value (trailing bytes are refused).
pub(crate) fn decode_msgpack(bytes: &[u8]) -> Result<Mp, WireError> {
    let mut cursor = bytes;
    let value = rmpv::decode::read_value_with_max_depth(&mut cursor, MAX_DEPTH)
        .map_err(|e| WireError::MsgPack(e.to_string()))?;
    if !cursor.is_empty() {
        return Err(WireError::MsgPack(format!(
            "{} bytes after the value",
            cursor.len()
        )));
    }
    Ok(value)
}

/// Encodes one MessagePack value.
pub(crate) fn encode_msgpack(value: &Mp) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    // Writing into a Vec cannot fail.
    let _ = rmpv::encode::write_value(&mut out, value);
    out
}

/// A message from a request or response channel: JSON when it starts with `{` (as the Node
/// adapter decides), MessagePack otherwise; binary parts become attachments.
pub(crate) fn decode_message(bytes: &[u8]) -> Result<(Value, Vec<Bytes>), WireError> {
    if bytes.first() == Some(&b'{') {
        let value: Value =
            serde_json::from_slice(bytes).map_err(|e| WireError::Json(e.to_string()))?;
        return Ok((value, Vec::new()));
    }
    let value = decode_msgpack(bytes)?;
    let mut attachments = Vec::new();
    let json = to_json(value, &mut attachments, 0)?;
    Ok((json, attachments))
}

/// MessagePack → JSON, binary parts appended to `attachments` and replaced by placeholders.
pub(crate) fn to_json(
    value: Mp,
    attachments: &mut Vec<Bytes>,
    depth: usize,
) -> Result<Value, WireError> {
    if depth > MAX_DEPTH {
        return Err(WireError::TooDeep);
    }
    Ok(match value {
        Mp::Nil => Value::Null,
        Mp::Boolean(b) => Value::Bool(b),
        Mp::Integer(i) => {
            if let Some(u) = i.as_u64() {
                Value::Number(u.into())
            } else if let Some(s) = i.as_i64() {
                Value::Number(s.into())
            } else {
                Value::Null
            }
        }
        Mp::F32(f) => float(f64::from(f)),
        Mp::F64(f) => float(f),
        Mp::String(s) => match s.into_str() {
            Some(s) => Value::String(s),
            None => return Err(WireError::Shape("a string that is not UTF-8")),
        },
        Mp::Binary(b) => {
            attachments.push(Bytes::from(b));
            placeholder(attachments.len() - 1)
        }
        Mp::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| to_json(v, attachments, depth + 1))
                .collect::<Result<_, _>>()?,
        ),
        Mp::Map(entries) => {
            let mut map = Map::with_capacity(entries.len());
            for (key, value) in entries {
                let key = match key {
                    Mp::String(s) => s.into_str().unwrap_or_default(),
                    Mp::Integer(i) => i.to_string(),
                    _ => return Err(WireError::Shape("a map key that is not a string")),
                };
                map.insert(key, to_json(value, attachments, depth + 1)?);
            }
            Value::Object(map)
        }
        // notepack's timestamps are JavaScript Dates: JSON carries them as ISO 8601 strings.
        Mp::Ext(-1, data) => timestamp(&data).map_or(Value::Null, Value::String),
        // notepack's own encoding of `undefined` (and any other extension) has no JSON form.
        Mp::Ext(..) => Value::Null,
    })
}

fn float(f: f64) -> Value {
    // JSON.stringify turns NaN and the infinities into null.
    Number::from_f64(f).map_or(Value::Null, Value::Number)
}

/// A MessagePack timestamp (32, 64 or 96 bit) as `YYYY-MM-DDTHH:MM:SS.mmmZ`.
fn timestamp(data: &[u8]) -> Option<String> {
    let (secs, nanos): (i64, u32) = match data.len() {
        4 => (i64::from(u32::from_be_bytes(data.try_into().ok()?)), 0),
        8 => {
            let raw = u64::from_be_bytes(data.try_into().ok()?);
            ((raw & 0x3_ffff_ffff) as i64, (raw >> 34) as u32)
        }
        12 => (
            i64::from_be_bytes(data[4..12].try_into().ok()?),
            u32::from_be_bytes(data[0..4].try_into().ok()?),
        ),
        _ => return None,
    };
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Days since 1970-01-01 to a civil date (proleptic Gregorian).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Some(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem / 60 % 60,
        rem % 60,
        nanos / 1_000_000
    ))
}

/// JSON (placeholders pointing into `attachments`) → MessagePack, placeholders as `bin`.
pub(crate) fn to_msgpack(value: &Value, attachments: &[Bytes]) -> Mp {
    match value {
        Value::Null => Mp::Nil,
        Value::Bool(b) => Mp::Boolean(*b),
        Value::Number(n) => number(n),
        Value::String(s) => Mp::String(s.as_str().into()),
        Value::Array(items) => {
            Mp::Array(items.iter().map(|v| to_msgpack(v, attachments)).collect())
        }
        Value::Object(map) => {
            if let Some(Some(num)) = placeholder_index(value) {
                if let Some(data) = attachments.get(num) {
                    return Mp::Binary(data.to_vec());
                }
            }
            Mp::Map(
                map.iter()
                    .map(|(k, v)| (Mp::String(k.as_str().into()), to_msgpack(v, attachments)))
                    .collect(),
            )
        }
    }
}

/// A JSON number as notepack writes a JavaScript number: integral values as integers.
fn number(n: &Number) -> Mp {
    if let Some(u) = n.as_u64() {
        return Mp::from(u);
    }
    if let Some(i) = n.as_i64() {
        return Mp::from(i);
    }
    let f = n.as_f64().unwrap_or(0.0);
    if f.fract() == 0.0 && f.abs() < 9.007_199_254_740_992e15 {
        return Mp::from(f as i64);
    }
    Mp::F64(f)
}

/// A map with string keys, in the order given (notepack's object encoding).
pub(crate) fn map(entries: Vec<(&str, Mp)>) -> Mp {
    Mp::Map(
        entries
            .into_iter()
            .map(|(k, v)| (Mp::String(k.into()), v))
            .collect(),
    )
}

/// The socket.io packet object a broadcast carries: `{type: 2, data: [event, ...args], nsp}`.
pub(crate) fn event_packet(nsp: &str, event: &str, payload: &Payload) -> Mp {
    let mut data = Vec::with_capacity(payload.len() + 1);
    data.push(Mp::String(event.into()));
    data.extend(
        payload
            .args()
            .iter()
            .map(|arg| to_msgpack(arg, payload.attachments())),
    );
    map(vec![
        ("type", Mp::from(2)),
        ("data", Mp::Array(data)),
        ("nsp", Mp::String(nsp.into())),
    ])
}

/// An event carried by a packet object, as (event name, arguments); `None` unless it is an
/// EVENT or BINARY_EVENT whose data starts with a string.
pub(crate) fn event_of(packet: &Value, attachments: &[Bytes]) -> Option<(String, Payload)> {
    let kind = packet.get("type")?.as_u64()?;
    if kind != 2 && kind != 5 {
        return None;
    }
    let data = packet.get("data")?.as_array()?;
    let (event, args) = data.split_first()?;
    let event = event.as_str()?.to_owned();
    Some((event, payload_of(args, attachments)))
}

/// Arguments with placeholders into the message's attachments → a payload with its own.
pub(crate) fn payload_of(args: &[Value], attachments: &[Bytes]) -> Payload {
    if attachments.is_empty() {
        return Payload::from_parts(args.to_vec(), Vec::new());
    }
    let mut payload = Payload::new();
    for arg in args {
        let arg = payload.adopt(arg, attachments);
        payload = payload.value(arg);
    }
    payload
}

/// Binary arguments in a JSON message: Node's `JSON.stringify` of a Buffer,
/// `{"type":"Buffer","data":[...]}`, which is what a Node node would send.
pub(crate) fn json_with_buffers(value: &Value, attachments: &[Bytes]) -> Value {
    if let Some(Some(num)) = placeholder_index(value) {
        if let Some(data) = attachments.get(num) {
            return serde_json::json!({ "type": "Buffer", "data": data.as_ref() });
        }
    }
    match value {
        Value::Array(items) => Value::Array(
            items
                .iter()
                .map(|v| json_with_buffers(v, attachments))
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.iter()
                .map(|(k, v)| (k.clone(), json_with_buffers(v, attachments)))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// Room names from a JSON array (numbers are accepted as their decimal form, as socket.io
/// rooms may be numbers); anything else is no room.
pub(crate) fn rooms_of(value: Option<&Value>) -> Vec<String> {
    let Some(Value::Array(items)) = value else {
        return Vec::new();
    };
    items
        .iter()
        .filter_map(|item| match item {
            Value::String(s) => Some(s.clone()),
            Value::Number(n) => Some(n.to_string()),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Bytes notepack.io 3.0.1 produced for
    /// `encode(["abc123", {type: 2, data: ["ev", 1, -2, 1.5, "x", Buffer.from([1,2,3]),
    /// {k: null}], nsp: "/"}, {rooms: ["r"], except: [], flags: {}}])`.
    const NODE_BROADCAST: &str = "93a661626331323383a47479706502a46461746197a2657601fecb3ff8000000000000a178c40301020381a16bc0a36e7370a12f83a5726f6f6d7391a172a665786365707490a5666c61677380";

    #[test]
    fn decodes_a_node_broadcast() {
        let bytes = hex(NODE_BROADCAST);
        let value = decode_msgpack(&bytes).unwrap();
        let mut attachments = Vec::new();
        let json = to_json(value, &mut attachments, 0).unwrap();
        assert_eq!(json[0], "abc123");
        assert_eq!(json[2], json!({"rooms": ["r"], "except": [], "flags": {}}));
        let (event, payload) = event_of(&json[1], &attachments).unwrap();
        assert_eq!(event, "ev");
        assert_eq!(
            payload.args(),
            &[
                json!(1),
                json!(-2),
                json!(1.5),
                json!("x"),
                json!({"_placeholder": true, "num": 0}),
                json!({"k": null}),
            ]
        );
        assert_eq!(payload.bytes(4).unwrap().as_ref(), &[1, 2, 3]);
    }

    #[test]
    fn encodes_like_notepack() {
        let payload = Payload::new()
            .arg(&1)
            .unwrap()
            .arg(&-2)
            .unwrap()
            .arg(&1.5)
            .unwrap()
            .arg("x")
            .unwrap()
            .binary(vec![1u8, 2, 3])
            .value(json!({"k": null}));
        let message = Mp::Array(vec![
            Mp::String("abc123".into()),
            event_packet("/", "ev", &payload),
            map(vec![
                ("rooms", Mp::Array(vec![Mp::String("r".into())])),
                ("except", Mp::Array(vec![])),
                ("flags", map(vec![])),
            ]),
        ]);
        assert_eq!(encode_msgpack(&message), hex(NODE_BROADCAST));
    }

    #[test]
    fn integral_floats_are_integers_and_big_numbers_stay_exact() {
        assert_eq!(
            encode_msgpack(&number(&Number::from_f64(3.0).unwrap())),
            [3]
        );
        assert_eq!(
            encode_msgpack(&number(&Number::from(u64::MAX))),
            hex("cfffffffffffffffff")
        );
        assert_eq!(encode_msgpack(&number(&Number::from(-33))), hex("d0df"));
    }

    #[test]
    fn refuses_garbage_without_panicking() {
        for bytes in [
            &b""[..],
            &b"\x93\xa6abc"[..],
            &b"\x81\xc0\xc0"[..],
            &b"\xdf\xff\xff\xff\xff"[..],
            &b"\xc6\xff\xff\xff\xff"[..],
            &b"{not json"[..],
            &b"\x91\x01\x02"[..],
        ] {
            let result = decode_message(bytes);
            assert!(result.is_err(), "{bytes:?} gave {result:?}");
        }
        let deep = [vec![0x91u8; 200], vec![0xc0]].concat();
        assert!(decode_message(&deep).is_err());
    }

    #[test]
    fn timestamps_become_iso_strings() {
        // 2021-01-01T00:00:00Z as timestamp 32, and with 5 ms as timestamp 64.
        assert_eq!(
            timestamp(&hex("5fee6600")).unwrap(),
            "2021-01-01T00:00:00.000Z"
        );
        let nanos: u64 = 5_000_000;
        let raw = (nanos << 34) | 0x5fee6600;
        assert_eq!(
            timestamp(&raw.to_be_bytes()).unwrap(),
            "2021-01-01T00:00:00.005Z"
        );
    }

    #[test]
    fn payload_of_keeps_only_its_own_attachments() {
        let attachments = vec![Bytes::from_static(b"a"), Bytes::from_static(b"b")];
        let payload = payload_of(&[json!({"f": placeholder(1)})], &attachments);
        assert_eq!(payload.args(), &[json!({"f": placeholder(0)})]);
        assert_eq!(payload.attachments(), &[Bytes::from_static(b"b")]);
        assert_eq!(
            json_with_buffers(&placeholder(0), &attachments),
            json!({"type": "Buffer", "data": [97]})
        );
    }
}
