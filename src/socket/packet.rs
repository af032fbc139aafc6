//! Socket.IO v5 codec: `<type>[<attachments>-][<nsp>,][<ack id>][<json>]` inside an Engine.IO
//! message. Pure functions; decoding validates exactly what the reference parser validates.

use serde_json::Value;

use crate::socket::error::DecodeError;

/// Most binary attachments one packet may announce (the reference parser's `maxAttachments`).
pub const MAX_ATTACHMENTS: usize = 10;

/// Event names the protocol reserves; a client may not emit them.
pub const RESERVED_EVENTS: [&str; 6] = [
    "connect",
    "connect_error",
    "disconnect",
    "disconnecting",
    "newListener",
    "removeListener",
];

/// The seven Socket.IO packet types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PacketType {
    /// `0`: join a namespace.
    Connect,
    /// `1`: leave a namespace.
    Disconnect,
    /// `2`: an event.
    Event,
    /// `3`: an acknowledgement.
    Ack,
    /// `4`: a refused namespace join.
    ConnectError,
    /// `5`: an event with binary attachments.
    BinaryEvent,
    /// `6`: an acknowledgement with binary attachments.
    BinaryAck,
}

impl PacketType {
    fn from_char(c: u8) -> Option<PacketType> {
        Some(match c {
            b'0' => PacketType::Connect,
            b'1' => PacketType::Disconnect,
            b'2' => PacketType::Event,
            b'3' => PacketType::Ack,
            b'4' => PacketType::ConnectError,
            b'5' => PacketType::BinaryEvent,
            b'6' => PacketType::BinaryAck,
            _ => return None,
        })
    }

    fn as_char(self) -> char {
        match self {
            PacketType::Connect => '0',
            PacketType::Disconnect => '1',
            PacketType::Event => '2',
            PacketType::Ack => '3',
            PacketType::ConnectError => '4',
            PacketType::BinaryEvent => '5',
            PacketType::BinaryAck => '6',
        }
    }

    fn is_binary(self) -> bool {
        matches!(self, PacketType::BinaryEvent | PacketType::BinaryAck)
    }
}

/// A decoded Socket.IO packet.
#[derive(Debug, Clone, PartialEq)]
pub struct Packet {
    /// The packet type.
    pub kind: PacketType,
    /// The namespace (`/` when the packet names none).
    pub nsp: String,
    /// The acknowledgement id, when the sender wants (or gives) an answer.
    pub id: Option<u64>,
    /// The JSON payload, if any.
    pub data: Option<Value>,
    /// How many binary attachments the packet carries: with the JSON parser those announced
    /// by a binary type, with msgpack the binary values inside `data`.
    pub attachments: usize,
}

/// Decodes the text of an Engine.IO message packet into a Socket.IO packet.
pub fn decode(text: &str) -> Result<Packet, DecodeError> {
    let bytes = text.as_bytes();
    let kind = bytes
        .first()
        .and_then(|c| PacketType::from_char(*c))
        .ok_or(DecodeError::UnknownType)?;
    let mut i = 1;

    let mut attachments = 0;
    if kind.is_binary() {
        let start = i;
        while i < bytes.len() && bytes[i].is_ascii_digit() {
            i += 1;
        }
        if i == start || bytes.get(i) != Some(&b'-') {
            return Err(DecodeError::BadAttachments);
        }
        attachments = text[start..i]
            .parse::<usize>()
            .map_err(|_| DecodeError::BadAttachments)?;
        if attachments == 0 || attachments > MAX_ATTACHMENTS {
            return Err(DecodeError::BadAttachments);
        }
        i += 1;
    }

    let mut nsp = "/".to_owned();
    if bytes.get(i) == Some(&b'/') {
        let start = i;
        while i < bytes.len() && bytes[i] != b',' {
            i += 1;
        }
        nsp = text[start..i].to_owned();
        if i < bytes.len() {
            i += 1; // the comma
        }
    }

    let mut id = None;
    let start = i;
    while i < bytes.len() && bytes[i].is_ascii_digit() {
        i += 1;
    }
    if i > start {
        id = Some(
            text[start..i]
                .parse::<u64>()
                .map_err(|_| DecodeError::BadAckId)?,
        );
    }

    let data = if i < bytes.len() {
        Some(serde_json::from_str::<Value>(&text[i..]).map_err(|_| DecodeError::BadJson)?)
    } else {
        None
    };

    check_payload(kind, data.as_ref())?;
    if kind.is_binary() {
        if let Some(data) = &data {
            check_placeholders(data, attachments)?;
        }
    }

    Ok(Packet {
        kind,
        nsp,
        id,
        data,
        attachments,
    })
}

/// The payload rules of the reference parser, per packet type (the msgpack parser shares them).
pub(crate) fn check_payload(kind: PacketType, data: Option<&Value>) -> Result<(), DecodeError> {
    let valid = match kind {
        PacketType::Connect => matches!(data, None | Some(Value::Object(_))),
        PacketType::Disconnect => data.is_none(),
        PacketType::ConnectError => matches!(data, Some(Value::String(_) | Value::Object(_))),
        PacketType::Event | PacketType::BinaryEvent => match data {
            Some(Value::Array(items)) => match items.first() {
                Some(Value::String(name)) => {
                    if RESERVED_EVENTS.contains(&name.as_str()) {
                        return Err(DecodeError::ReservedEvent(name.clone()));
                    }
                    true
                }
                Some(Value::Number(_)) => true,
                _ => false,
            },
            _ => false,
        },
        PacketType::Ack | PacketType::BinaryAck => matches!(data, Some(Value::Array(_))),
    };
    if valid {
        Ok(())
    } else {
        Err(DecodeError::BadPayload)
    }
}

/// True when `value` is a binary placeholder object (`{"_placeholder":true,"num":N}`).
pub fn placeholder_index(value: &Value) -> Option<Option<usize>> {
    let map = value.as_object()?;
    if map.get("_placeholder") != Some(&Value::Bool(true)) {
        return None;
    }
    Some(
        map.get("num")
            .and_then(Value::as_u64)
            .and_then(|n| usize::try_from(n).ok()),
    )
}

/// Every placeholder must point at one of the announced attachments.
fn check_placeholders(value: &Value, attachments: usize) -> Result<(), DecodeError> {
    if let Some(index) = placeholder_index(value) {
        return match index {
            Some(n) if n < attachments => Ok(()),
            _ => Err(DecodeError::BadAttachments),
        };
    }
    match value {
        Value::Array(items) => items
            .iter()
            .try_for_each(|v| check_placeholders(v, attachments)),
        Value::Object(map) => map
            .values()
            .try_for_each(|v| check_placeholders(v, attachments)),
        _ => Ok(()),
    }
}

/// A JSON placeholder for attachment `num`, keys in the reference encoder's order.
pub fn placeholder(num: usize) -> Value {
    let mut map = serde_json::Map::with_capacity(2);
    map.insert("_placeholder".to_owned(), Value::Bool(true));
    map.insert("num".to_owned(), Value::from(num));
    Value::Object(map)
}

/// Room the header leaves for a small event's or ack's data, so that it is written without
/// growing the string (each growth is an allocation and a copy).
const DATA_ROOM: usize = 64;

/// Writes the packet header: type, attachment count, namespace and ack id, in a string with
/// room for `room` more bytes.
fn header(
    kind: PacketType,
    attachments: usize,
    nsp: &str,
    id: Option<u64>,
    room: usize,
) -> Vec<u8> {
    let mut out = Vec::with_capacity(24 + nsp.len() + room);
    out.push(kind.as_char() as u8);
    if attachments > 0 {
        push_json(&mut out, &attachments);
        out.push(b'-');
    }
    if nsp != "/" {
        out.extend_from_slice(nsp.as_bytes());
        out.push(b',');
    }
    if let Some(id) = id {
        push_json(&mut out, &id);
    }
    out
}

/// Written in place: no intermediate String per argument, no formatter in between.
fn push_json<T: serde::Serialize + ?Sized>(out: &mut Vec<u8>, value: &T) {
    // Writing a `Value`, a `str` or an integer into a Vec cannot fail.
    let _ = serde_json::to_writer(&mut *out, value);
}

/// The text of a packet written by the functions here (all of it from `str`s and JSON, so
/// UTF-8).
fn finish(out: Vec<u8>) -> String {
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// Encodes an EVENT (or BINARY_EVENT when `attachments > 0`): `["event", ...args]`.
pub fn encode_event(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &[Value],
    attachments: usize,
) -> String {
    let kind = if attachments > 0 {
        PacketType::BinaryEvent
    } else {
        PacketType::Event
    };
    let mut out = header(kind, attachments, nsp, id, event.len() + DATA_ROOM);
    out.push(b'[');
    push_json(&mut out, event);
    for arg in args {
        out.push(b',');
        push_json(&mut out, arg);
    }
    out.push(b']');
    finish(out)
}

/// Encodes an ACK (or BINARY_ACK): `[...args]`.
pub fn encode_ack(nsp: &str, id: u64, args: &[Value], attachments: usize) -> String {
    let kind = if attachments > 0 {
        PacketType::BinaryAck
    } else {
        PacketType::Ack
    };
    let mut out = header(kind, attachments, nsp, Some(id), DATA_ROOM);
    out.push(b'[');
    for (i, arg) in args.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        push_json(&mut out, arg);
    }
    out.push(b']');
    finish(out)
}

/// Encodes the CONNECT answer carrying the new socket's id.
pub fn encode_connect(nsp: &str, sid: &str, pid: Option<&str>) -> String {
    let mut out = header(PacketType::Connect, 0, nsp, None, DATA_ROOM);
    let body = match pid {
        Some(pid) => serde_json::json!({ "sid": sid, "pid": pid }),
        None => serde_json::json!({ "sid": sid }),
    };
    push_json(&mut out, &body);
    finish(out)
}

/// Encodes a CONNECT_ERROR: `{"message":…[,"data":…]}`.
pub fn encode_connect_error(nsp: &str, message: &str, data: Option<&Value>) -> String {
    let mut body = serde_json::Map::new();
    body.insert("message".to_owned(), Value::String(message.to_owned()));
    if let Some(data) = data {
        body.insert("data".to_owned(), data.clone());
    }
    let mut out = header(PacketType::ConnectError, 0, nsp, None, DATA_ROOM);
    push_json(&mut out, &Value::Object(body));
    finish(out)
}

/// Encodes a DISCONNECT for one namespace.
pub fn encode_disconnect(nsp: &str) -> String {
    finish(header(PacketType::Disconnect, 0, nsp, None, 0))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn packet(
        kind: PacketType,
        nsp: &str,
        id: Option<u64>,
        data: Option<Value>,
        attachments: usize,
    ) -> Packet {
        Packet {
            kind,
            nsp: nsp.to_owned(),
            id,
            data,
            attachments,
        }
    }

    #[test]
    fn decodes_the_protocol_examples() {
        use PacketType::*;
        let cases = [
            ("0", packet(Connect, "/", None, None, 0)),
            (
                "0{\"token\":\"x\"}",
                packet(Connect, "/", None, Some(json!({"token":"x"})), 0),
            ),
            ("0/admin,", packet(Connect, "/admin", None, None, 0)),
            ("0/custom", packet(Connect, "/custom", None, None, 0)),
            (
                "0/admin,{\"a\":1}",
                packet(Connect, "/admin", None, Some(json!({"a":1})), 0),
            ),
            ("1", packet(Disconnect, "/", None, None, 0)),
            ("1/admin,", packet(Disconnect, "/admin", None, None, 0)),
            (
                "2[\"hello\",1]",
                packet(Event, "/", None, Some(json!(["hello", 1])), 0),
            ),
            (
                "2/chat,12[\"hello\"]",
                packet(Event, "/chat", Some(12), Some(json!(["hello"])), 0),
            ),
            (
                "2456[\"message-with-ack\",1,\"2\",{\"3\":[false]}]",
                packet(
                    Event,
                    "/",
                    Some(456),
                    Some(json!(["message-with-ack", 1, "2", {"3": [false]}])),
                    0,
                ),
            ),
            ("2[7]", packet(Event, "/", None, Some(json!([7])), 0)),
            ("3/chat,12[]", packet(Ack, "/chat", Some(12), Some(json!([])), 0)),
            (
                "51-[\"file\",{\"_placeholder\":true,\"num\":0}]",
                packet(
                    BinaryEvent,
                    "/",
                    None,
                    Some(json!(["file", {"_placeholder": true, "num": 0}])),
                    1,
                ),
            ),
            (
                "52-/admin,789[\"m\",{\"_placeholder\":true,\"num\":1},{\"_placeholder\":true,\"num\":0}]",
                packet(
                    BinaryEvent,
                    "/admin",
                    Some(789),
                    Some(json!(["m", {"_placeholder": true, "num": 1}, {"_placeholder": true, "num": 0}])),
                    2,
                ),
            ),
            (
                "61-3[{\"_placeholder\":true,\"num\":0}]",
                packet(
                    BinaryAck,
                    "/",
                    Some(3),
                    Some(json!([{"_placeholder": true, "num": 0}])),
                    1,
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input).as_ref(), Ok(&expected), "input {input:?}");
        }
    }

    #[test]
    fn refuses_what_the_reference_refuses() {
        use DecodeError::*;
        let cases = [
            ("", UnknownType),
            ("abc", UnknownType),
            ("7", UnknownType),
            ("2{}", BadPayload),
            ("2abc[\"a\"]", BadJson),
            ("2[\"a\"", BadJson),
            ("2", BadPayload),
            ("2[]", BadPayload),
            ("2[{}]", BadPayload),
            ("2[null]", BadPayload),
            ("2\"x\"", BadPayload),
            ("2[\"connect\"]", ReservedEvent("connect".into())),
            (
                "2[\"disconnecting\",1]",
                ReservedEvent("disconnecting".into()),
            ),
            (
                "2[\"removeListener\"]",
                ReservedEvent("removeListener".into()),
            ),
            ("0[1]", BadPayload),
            ("0\"x\"", BadPayload),
            ("1{}", BadPayload),
            ("3", BadPayload),
            ("3{}", BadPayload),
            ("4", BadPayload),
            ("5[\"a\"]", BadAttachments),
            ("5x-[\"a\"]", BadAttachments),
            ("50-[\"a\"]", BadAttachments),
            ("511-[\"a\"]", BadAttachments),
            (
                "51-[\"a\",{\"_placeholder\":true,\"num\":1}]",
                BadAttachments,
            ),
            (
                "51-[\"a\",{\"_placeholder\":true,\"num\":-1}]",
                BadAttachments,
            ),
            ("51-[\"a\",{\"_placeholder\":true}]", BadAttachments),
            ("299999999999999999999999[\"a\"]", BadAckId),
        ];
        for (input, expected) in cases {
            assert_eq!(decode(input), Err(expected), "input {input:?}");
        }
    }

    #[test]
    fn deep_json_is_an_error_not_a_crash() {
        let deep = format!("2[\"a\",{}{}]", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(decode(&deep), Err(DecodeError::BadJson));
    }

    #[test]
    fn encodes_the_protocol_examples() {
        assert_eq!(encode_connect("/", "abc", None), "0{\"sid\":\"abc\"}");
        assert_eq!(
            encode_connect("/custom", "abc", None),
            "0/custom,{\"sid\":\"abc\"}"
        );
        assert_eq!(
            encode_connect_error("/random", "Invalid namespace", None),
            "4/random,{\"message\":\"Invalid namespace\"}"
        );
        assert_eq!(
            encode_connect_error("/", "no", Some(&json!({"a": 1}))),
            "4{\"message\":\"no\",\"data\":{\"a\":1}}"
        );
        assert_eq!(
            encode_connect("/", "abc", Some("p1")),
            "0{\"sid\":\"abc\",\"pid\":\"p1\"}"
        );
        assert_eq!(encode_disconnect("/"), "1");
        assert_eq!(encode_disconnect("/admin"), "1/admin,");
        assert_eq!(
            encode_event("/", None, "auth", &[json!({})], 0),
            "2[\"auth\",{}]"
        );
        assert_eq!(
            encode_event("/custom", Some(5), "m", &[json!(1), json!("2")], 0),
            "2/custom,5[\"m\",1,\"2\"]"
        );
        assert_eq!(encode_event("/", None, "e", &[], 0), "2[\"e\"]");
        assert_eq!(
            encode_event(
                "/",
                None,
                "message-back",
                &[placeholder(0), placeholder(1)],
                2
            ),
            "52-[\"message-back\",{\"_placeholder\":true,\"num\":0},{\"_placeholder\":true,\"num\":1}]"
        );
        assert_eq!(encode_ack("/chat", 12, &[], 0), "3/chat,12[]");
        assert_eq!(
            encode_ack("/", 789, &[placeholder(0)], 1),
            "61-789[{\"_placeholder\":true,\"num\":0}]"
        );
        // Multi-digit counts and ids, and an event name that needs escaping.
        assert_eq!(
            encode_event("/", Some(10), "a\"\n\u{e9}", &[], 12),
            "512-10[\"a\\\"\\n\u{e9}\"]"
        );
        assert_eq!(
            encode_ack("/", u64::MAX, &[], 0),
            format!("3{}[]", u64::MAX)
        );
    }

    #[test]
    fn events_round_trip() {
        let args = [json!({"b": 2, "a": [1, null, "é\u{1F600}"]}), json!(-1.5)];
        for nsp in ["/", "/a"] {
            for id in [None, Some(0), Some(u64::MAX)] {
                let text = encode_event(nsp, id, "ev", &args, 0);
                let decoded = decode(&text).unwrap();
                assert_eq!(decoded.nsp, nsp);
                assert_eq!(decoded.id, id);
                let mut expected = vec![json!("ev")];
                expected.extend(args.iter().cloned());
                assert_eq!(decoded.data, Some(Value::Array(expected)));
            }
        }
    }
}
