//! The msgpack wire format of npm `socket.io-msgpack-parser` (3.x): each Socket.IO packet is one
//! msgpack map `{type, data, nsp, id}` sent as one binary Engine.IO message. There are no
//! separate attachments: binary arguments are msgpack `bin` values inside `data`.
//!
//! Handlers keep the JSON model of [`Payload`](crate::Payload): decoding turns every binary
//! value into an attachment and leaves a placeholder `{"_placeholder":true,"num":N}` in its
//! place; encoding writes each placeholder that points at an attachment as `bin`.
//!
//! Values, as the JavaScript side (notepack.io) reads and writes them:
//!
//! | msgpack                         | JSON value                                            |
//! |---------------------------------|-------------------------------------------------------|
//! | nil, bool, str                  | null, bool, string (invalid UTF-8 replaced, as in JS) |
//! | int / uint                      | integer                                               |
//! | float 32 / 64                   | number (NaN and infinities become null, as in JSON)   |
//! | array, map with string keys     | array, object (other keys: error)                     |
//! | bin, ext 8/16/32 of type 0      | binary attachment (notepack's `ArrayBuffer`)          |
//! | fixext 1 of type 0              | `undefined`: absent key, `null` in an array           |
//! | fixext 8 of type 0              | `Date`: its ISO 8601 string, as `JSON.stringify`      |
//! | any other extension             | error                                                 |
//!
//! The packet rules are those of the npm parser's `checkPacket` (type an integer 0–4, `nsp` a
//! string, `id` absent or an integer, `data` by type), plus the event-name rule the JSON parser
//! applies (an EVENT's first element is a string that is not reserved, or a number), since the
//! dispatcher needs a name. Ack ids are unsigned here: a negative one is an error. One leniency:
//! a DISCONNECT whose `data` is nil is read as one without data (python-socketio's msgpack
//! serializer always writes the key; the npm parser would refuse that packet).

use bytes::Bytes;
use rmp::{encode, Marker};
use serde_json::{Map, Number, Value};

use crate::socket::{
    error::DecodeError,
    packet::{self, placeholder, placeholder_index, Packet, PacketType},
};

/// Deepest nesting of arrays and maps accepted in a packet (the packet's own map included);
/// the same bound as serde_json's for the JSON parser.
pub const MAX_DEPTH: usize = 128;

/// The packet type numbers the msgpack parser knows (it has no binary types).
fn kind_from(number: u64) -> Option<PacketType> {
    Some(match number {
        0 => PacketType::Connect,
        1 => PacketType::Disconnect,
        2 => PacketType::Event,
        3 => PacketType::Ack,
        4 => PacketType::ConnectError,
        _ => return None,
    })
}

fn kind_number(kind: PacketType) -> u64 {
    match kind {
        PacketType::Connect => 0,
        PacketType::Disconnect => 1,
        PacketType::Event | PacketType::BinaryEvent => 2,
        PacketType::Ack | PacketType::BinaryAck => 3,
        PacketType::ConnectError => 4,
    }
}

// ------------------------------------------------------------------------------- decoding

/// A decoded value: JavaScript's `undefined` is not a JSON value and is kept apart.
enum Item {
    Value(Value),
    Undefined,
}

impl Item {
    fn into_value(self) -> Option<Value> {
        match self {
            Item::Value(value) => Some(value),
            Item::Undefined => None,
        }
    }
}

fn bad(why: &'static str) -> DecodeError {
    DecodeError::BadMsgPack(why)
}

/// Reads one message; binary values are cut out of it without copying.
struct Reader<'a> {
    message: &'a Bytes,
    pos: usize,
    attachments: Vec<Bytes>,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.message.len() - self.pos
    }

    /// The next `n` bytes as a range of the message.
    fn range(&mut self, n: usize) -> Result<std::ops::Range<usize>, DecodeError> {
        if n > self.remaining() {
            return Err(bad("truncated"));
        }
        let start = self.pos;
        self.pos += n;
        Ok(start..self.pos)
    }

    fn bytes(&mut self, n: usize) -> Result<&[u8], DecodeError> {
        let range = self.range(n)?;
        Ok(&self.message[range])
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], DecodeError> {
        let mut out = [0; N];
        out.copy_from_slice(self.bytes(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, DecodeError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<usize, DecodeError> {
        Ok(usize::from(u16::from_be_bytes(self.array()?)))
    }

    fn u32(&mut self) -> Result<usize, DecodeError> {
        usize::try_from(u32::from_be_bytes(self.array()?)).map_err(|_| bad("length too large"))
    }

    fn string(&mut self, len: usize) -> Result<String, DecodeError> {
        Ok(String::from_utf8_lossy(self.bytes(len)?).into_owned())
    }

    /// A binary value: kept as an attachment, a placeholder in the JSON.
    fn binary(&mut self, len: usize) -> Result<Item, DecodeError> {
        let range = self.range(len)?;
        self.attachments.push(self.message.slice(range));
        Ok(Item::Value(placeholder(self.attachments.len() - 1)))
    }

    /// An extension value: only notepack's type 0 means something.
    fn extension(&mut self, marker: Marker, len: usize) -> Result<Item, DecodeError> {
        let ty = self.u8()?;
        if ty != 0 {
            return Err(bad("unsupported extension type"));
        }
        match marker {
            Marker::FixExt1 => {
                self.u8()?;
                Ok(Item::Undefined)
            }
            Marker::FixExt8 => {
                let millis = i64::from_be_bytes(self.array()?);
                Ok(Item::Value(iso_date(millis)))
            }
            Marker::Ext8 | Marker::Ext16 | Marker::Ext32 => self.binary(len),
            _ => Err(bad("unsupported extension")),
        }
    }

    /// A container's element count, bounded by the bytes left (each element takes one at least).
    fn count(&self, len: usize, per_element: usize) -> Result<usize, DecodeError> {
        match len.checked_mul(per_element) {
            Some(needed) if needed <= self.remaining() => Ok(len),
            _ => Err(bad("truncated")),
        }
    }

    fn list(&mut self, len: usize, depth: usize) -> Result<Item, DecodeError> {
        let len = self.count(len, 1)?;
        let mut items = Vec::with_capacity(len);
        for _ in 0..len {
            items.push(self.item(depth + 1)?.into_value().unwrap_or(Value::Null));
        }
        Ok(Item::Value(Value::Array(items)))
    }

    fn key(&mut self) -> Result<String, DecodeError> {
        let len = match Marker::from_u8(self.u8()?) {
            Marker::FixStr(n) => usize::from(n),
            Marker::Str8 => usize::from(self.u8()?),
            Marker::Str16 => self.u16()?,
            Marker::Str32 => self.u32()?,
            _ => return Err(bad("map key is not a string")),
        };
        self.string(len)
    }

    fn map(&mut self, len: usize, depth: usize) -> Result<Item, DecodeError> {
        let len = self.count(len, 2)?;
        let mut map = Map::new();
        for _ in 0..len {
            let key = self.key()?;
            match self.item(depth + 1)? {
                Item::Value(value) => {
                    map.insert(key, value);
                }
                // JSON has no `undefined`: the key goes, as `JSON.stringify` would drop it.
                Item::Undefined => {
                    map.remove(&key);
                }
            }
        }
        Ok(Item::Value(Value::Object(map)))
    }

    fn float(value: f64) -> Item {
        Item::Value(Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    /// The next value; `depth` counts the arrays and maps around it. A binary value counts as a
    /// container too: it is held as a placeholder map, one level deeper than where it sits.
    fn item(&mut self, depth: usize) -> Result<Item, DecodeError> {
        let marker = Marker::from_u8(self.u8()?);
        if matches!(
            marker,
            Marker::FixArray(_)
                | Marker::Array16
                | Marker::Array32
                | Marker::FixMap(_)
                | Marker::Map16
                | Marker::Map32
                | Marker::Bin8
                | Marker::Bin16
                | Marker::Bin32
                | Marker::Ext8
                | Marker::Ext16
                | Marker::Ext32
        ) && depth >= MAX_DEPTH
        {
            return Err(bad("nested too deep"));
        }
        let value = match marker {
            Marker::Null => Value::Null,
            Marker::True => Value::Bool(true),
            Marker::False => Value::Bool(false),
            Marker::FixPos(n) => Value::from(n),
            Marker::FixNeg(n) => Value::from(n),
            Marker::U8 => Value::from(self.u8()?),
            Marker::U16 => Value::from(u16::from_be_bytes(self.array()?)),
            Marker::U32 => Value::from(u32::from_be_bytes(self.array()?)),
            Marker::U64 => Value::from(u64::from_be_bytes(self.array()?)),
            Marker::I8 => Value::from(i8::from_be_bytes(self.array()?)),
            Marker::I16 => Value::from(i16::from_be_bytes(self.array()?)),
            Marker::I32 => Value::from(i32::from_be_bytes(self.array()?)),
            Marker::I64 => Value::from(i64::from_be_bytes(self.array()?)),
            Marker::F32 => return Ok(Self::float(f32::from_be_bytes(self.array()?).into())),
            Marker::F64 => return Ok(Self::float(f64::from_be_bytes(self.array()?))),
            Marker::FixStr(n) => Value::String(self.string(usize::from(n))?),
            Marker::Str8 => {
                let len = usize::from(self.u8()?);
                Value::String(self.string(len)?)
            }
            Marker::Str16 => {
                let len = self.u16()?;
                Value::String(self.string(len)?)
            }
            Marker::Str32 => {
                let len = self.u32()?;
                Value::String(self.string(len)?)
            }
            Marker::Bin8 => {
                let len = usize::from(self.u8()?);
                return self.binary(len);
            }
            Marker::Bin16 => {
                let len = self.u16()?;
                return self.binary(len);
            }
            Marker::Bin32 => {
                let len = self.u32()?;
                return self.binary(len);
            }
            Marker::FixArray(n) => return self.list(usize::from(n), depth),
            Marker::Array16 => {
                let len = self.u16()?;
                return self.list(len, depth);
            }
            Marker::Array32 => {
                let len = self.u32()?;
                return self.list(len, depth);
            }
            Marker::FixMap(n) => return self.map(usize::from(n), depth),
            Marker::Map16 => {
                let len = self.u16()?;
                return self.map(len, depth);
            }
            Marker::Map32 => {
                let len = self.u32()?;
                return self.map(len, depth);
            }
            Marker::FixExt1 => return self.extension(marker, 1),
            Marker::FixExt2 => return self.extension(marker, 2),
            Marker::FixExt4 => return self.extension(marker, 4),
            Marker::FixExt8 => return self.extension(marker, 8),
            Marker::FixExt16 => return self.extension(marker, 16),
            Marker::Ext8 => {
                let len = usize::from(self.u8()?);
                return self.extension(marker, len);
            }
            Marker::Ext16 => {
                let len = self.u16()?;
                return self.extension(marker, len);
            }
            Marker::Ext32 => {
                let len = self.u32()?;
                return self.extension(marker, len);
            }
            Marker::Reserved => return Err(bad("reserved marker 0xc1")),
        };
        Ok(Item::Value(value))
    }
}

/// A JavaScript `Date` (milliseconds since the epoch) as `Date.prototype.toJSON` writes it;
/// `null` outside the range a `Date` can hold, as `JSON.stringify` gives for an invalid date.
pub(crate) fn iso_date(millis: i64) -> Value {
    const MAX_MILLIS: i64 = 8_640_000_000_000_000;
    if !(-MAX_MILLIS..=MAX_MILLIS).contains(&millis) {
        return Value::Null;
    }
    let days = millis.div_euclid(86_400_000);
    let in_day = millis.rem_euclid(86_400_000);
    // Days since 1970-01-01 to a civil date, counted in 400-year eras from 0000-03-01.
    let shifted = days + 719_468;
    let era = shifted.div_euclid(146_097);
    let day_of_era = shifted.rem_euclid(146_097);
    let year_of_era =
        (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = year_of_era + era * 400 + i64::from(month <= 2);
    let year = if (0..=9999).contains(&year) {
        format!("{year:04}")
    } else {
        format!("{}{:06}", if year < 0 { '-' } else { '+' }, year.abs())
    };
    let (hours, minutes) = (in_day / 3_600_000, in_day / 60_000 % 60);
    let (seconds, ms) = (in_day / 1000 % 60, in_day % 1000);
    Value::String(format!(
        "{year}-{month:02}-{day:02}T{hours:02}:{minutes:02}:{seconds:02}.{ms:03}Z"
    ))
}

/// An integral number (the npm parser's `Number.isInteger`): `Some(None)` when it is integral
/// but negative or too large for an unsigned 64-bit id, `None` when it is not an integer.
fn integer(value: &Value) -> Option<Option<u64>> {
    let Value::Number(number) = value else {
        return None;
    };
    if let Some(n) = number.as_u64() {
        return Some(Some(n));
    }
    if number.is_i64() {
        return Some(None);
    }
    let f = number.as_f64()?;
    if f.fract() != 0.0 {
        return None;
    }
    // 2^64 exactly: the first float past u64::MAX.
    Some(
        (0.0..18_446_744_073_709_551_616.0)
            .contains(&f)
            .then_some(f as u64),
    )
}

/// Decodes one binary Engine.IO message into a packet and the binary values its data holds.
pub fn decode(message: &Bytes) -> Result<(Packet, Vec<Bytes>), DecodeError> {
    let mut reader = Reader {
        message,
        pos: 0,
        attachments: Vec::new(),
    };
    let top = reader.item(0)?;
    if reader.remaining() > 0 {
        return Err(bad("trailing bytes"));
    }
    let Item::Value(Value::Object(mut fields)) = top else {
        return Err(DecodeError::UnknownType);
    };
    let kind = fields
        .get("type")
        .and_then(integer)
        .flatten()
        .and_then(kind_from)
        .ok_or(DecodeError::UnknownType)?;
    let nsp = match fields.remove("nsp") {
        Some(Value::String(nsp)) => nsp,
        _ => return Err(DecodeError::BadNamespace),
    };
    let data = match (kind, fields.remove("data")) {
        (PacketType::Disconnect, Some(Value::Null)) => None,
        (_, data) => data,
    };
    packet::check_payload(kind, data.as_ref())?;
    let id = match fields.get("id") {
        None => None,
        Some(id) => match integer(id) {
            Some(Some(id)) => Some(id),
            _ => return Err(DecodeError::BadAckId),
        },
    };
    let attachments = reader.attachments;
    Ok((
        Packet {
            kind,
            nsp,
            id,
            data,
            attachments: attachments.len(),
        },
        attachments,
    ))
}

// ------------------------------------------------------------------------------- encoding

/// Lengths past `u32::MAX` cannot be written in msgpack (nor sent in a message).
fn len32(len: usize) -> u32 {
    u32::try_from(len).unwrap_or(u32::MAX)
}

/// Writes a JSON value; placeholders that point at an attachment become `bin`.
/// (Writing into a `Vec` cannot fail, so the writers' results are ignored.)
fn write_value(out: &mut Vec<u8>, value: &Value, attachments: &[Bytes]) {
    match value {
        Value::Null => {
            let _ = encode::write_nil(out);
        }
        Value::Bool(b) => {
            let _ = encode::write_bool(out, *b);
        }
        Value::Number(n) => {
            if let Some(u) = n.as_u64() {
                let _ = encode::write_uint(out, u);
            } else if let Some(i) = n.as_i64() {
                let _ = encode::write_sint(out, i);
            } else {
                let _ = encode::write_f64(out, n.as_f64().unwrap_or(f64::NAN));
            }
        }
        Value::String(s) => {
            let _ = encode::write_str(out, s);
        }
        Value::Array(items) => {
            let _ = encode::write_array_len(out, len32(items.len()));
            for item in items {
                write_value(out, item, attachments);
            }
        }
        Value::Object(map) => {
            if let Some(Some(num)) = placeholder_index(value) {
                if let Some(data) = attachments.get(num) {
                    let _ = encode::write_bin(out, data);
                    return;
                }
            }
            let _ = encode::write_map_len(out, len32(map.len()));
            for (key, item) in map {
                let _ = encode::write_str(out, key);
                write_value(out, item, attachments);
            }
        }
    }
}

/// Writes a packet's `data` value.
type WriteData<'a> = &'a dyn Fn(&mut Vec<u8>);

/// Writes a packet map: `type`, `data` (written by `data` when given), `nsp`, `id`.
fn write_packet(
    kind: PacketType,
    nsp: &str,
    id: Option<u64>,
    capacity: usize,
    data: Option<WriteData<'_>>,
) -> Bytes {
    let mut out = Vec::with_capacity(24 + nsp.len() + capacity);
    let fields = 2 + u32::from(data.is_some()) + u32::from(id.is_some());
    let _ = encode::write_map_len(&mut out, fields);
    let _ = encode::write_str(&mut out, "type");
    let _ = encode::write_uint(&mut out, kind_number(kind));
    if let Some(data) = data {
        let _ = encode::write_str(&mut out, "data");
        data(&mut out);
    }
    let _ = encode::write_str(&mut out, "nsp");
    let _ = encode::write_str(&mut out, nsp);
    if let Some(id) = id {
        let _ = encode::write_str(&mut out, "id");
        let _ = encode::write_uint(&mut out, id);
    }
    Bytes::from(out)
}

fn args_size(args: &[Value], attachments: &[Bytes]) -> usize {
    16 * args.len() + attachments.iter().map(Bytes::len).sum::<usize>()
}

/// Encodes an EVENT `{type: 2, data: [event, ...args], nsp, id?}`.
pub fn encode_event(
    nsp: &str,
    id: Option<u64>,
    event: &str,
    args: &[Value],
    attachments: &[Bytes],
) -> Bytes {
    let data = |out: &mut Vec<u8>| {
        let _ = encode::write_array_len(out, len32(args.len() + 1));
        let _ = encode::write_str(out, event);
        for arg in args {
            write_value(out, arg, attachments);
        }
    };
    let capacity = event.len() + args_size(args, attachments);
    write_packet(PacketType::Event, nsp, id, capacity, Some(&data))
}

/// Encodes an ACK `{type: 3, data: [...args], nsp, id}`.
pub fn encode_ack(nsp: &str, id: u64, args: &[Value], attachments: &[Bytes]) -> Bytes {
    let data = |out: &mut Vec<u8>| {
        let _ = encode::write_array_len(out, len32(args.len()));
        for arg in args {
            write_value(out, arg, attachments);
        }
    };
    let capacity = args_size(args, attachments);
    write_packet(PacketType::Ack, nsp, Some(id), capacity, Some(&data))
}

/// Encodes the CONNECT answer `{type: 0, data: {sid, pid?}, nsp}`.
pub fn encode_connect(nsp: &str, sid: &str, pid: Option<&str>) -> Bytes {
    let data = |out: &mut Vec<u8>| {
        let _ = encode::write_map_len(out, 1 + u32::from(pid.is_some()));
        let _ = encode::write_str(out, "sid");
        let _ = encode::write_str(out, sid);
        if let Some(pid) = pid {
            let _ = encode::write_str(out, "pid");
            let _ = encode::write_str(out, pid);
        }
    };
    let capacity = 16 + sid.len() + pid.map_or(0, str::len);
    write_packet(PacketType::Connect, nsp, None, capacity, Some(&data))
}

/// Encodes a CONNECT_ERROR `{type: 4, data: {message, data?}, nsp}`.
pub fn encode_connect_error(nsp: &str, message: &str, data: Option<&Value>) -> Bytes {
    let body = |out: &mut Vec<u8>| {
        let _ = encode::write_map_len(out, 1 + u32::from(data.is_some()));
        let _ = encode::write_str(out, "message");
        let _ = encode::write_str(out, message);
        if let Some(data) = data {
            let _ = encode::write_str(out, "data");
            write_value(out, data, &[]);
        }
    };
    write_packet(
        PacketType::ConnectError,
        nsp,
        None,
        32 + message.len(),
        Some(&body),
    )
}

/// Encodes a DISCONNECT `{type: 1, nsp}`.
pub fn encode_disconnect(nsp: &str) -> Bytes {
    write_packet(PacketType::Disconnect, nsp, None, 0, None)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A packet map from raw msgpack fields (`key`, encoded value).
    fn map(fields: &[(&str, &[u8])]) -> Bytes {
        let mut out = Vec::new();
        let _ = encode::write_map_len(&mut out, fields.len() as u32);
        for (key, value) in fields {
            let _ = encode::write_str(&mut out, key);
            out.extend_from_slice(value);
        }
        Bytes::from(out)
    }

    /// A value as the encoder under test writes it (no attachments).
    fn mp(value: Value) -> Vec<u8> {
        let mut out = Vec::new();
        write_value(&mut out, &value, &[]);
        out
    }

    fn event(data: &[u8]) -> Bytes {
        map(&[("type", &[2]), ("nsp", &mp(json!("/"))), ("data", data)])
    }

    fn decoded_data(message: &Bytes) -> (Value, Vec<Bytes>) {
        let (packet, attachments) = decode(message).unwrap();
        (packet.data.unwrap(), attachments)
    }

    #[test]
    fn encodes_each_packet_kind_as_the_npm_parser_reads_it() {
        let connect = encode_connect("/", "abc", None);
        let mut expected = vec![0x83, 0xa4];
        expected.extend_from_slice(b"type");
        expected.extend_from_slice(&[0x00, 0xa4]);
        expected.extend_from_slice(b"data");
        expected.extend_from_slice(&[0x81, 0xa3]);
        expected.extend_from_slice(b"sid");
        expected.push(0xa3);
        expected.extend_from_slice(b"abc");
        expected.push(0xa3);
        expected.extend_from_slice(b"nsp");
        expected.extend_from_slice(&[0xa1, b'/']);
        assert_eq!(connect.as_ref(), expected.as_slice());

        let (packet, _) = decode(&encode_connect("/a", "s", Some("p"))).unwrap();
        assert_eq!(packet.kind, PacketType::Connect);
        assert_eq!(packet.nsp, "/a");
        assert_eq!(packet.data, Some(json!({"sid": "s", "pid": "p"})));

        let refused = encode_connect_error("/x", "no", Some(&json!({"a": [1]})));
        let (packet, _) = decode(&refused).unwrap();
        assert_eq!(packet.kind, PacketType::ConnectError);
        assert_eq!(
            packet.data,
            Some(json!({"message": "no", "data": {"a": [1]}}))
        );
        let (packet, _) = decode(&encode_connect_error("/", "no", None)).unwrap();
        assert_eq!(packet.data, Some(json!({"message": "no"})));

        let (packet, _) = decode(&encode_disconnect("/x")).unwrap();
        assert_eq!(
            (packet.kind, packet.nsp.as_str()),
            (PacketType::Disconnect, "/x")
        );
        assert_eq!((packet.id, packet.data), (None, None));
        // python-socketio writes `data: nil` in a DISCONNECT: no data.
        let python = map(&[("type", &[1]), ("data", &[0xc0]), ("nsp", &mp(json!("/")))]);
        assert_eq!(decode(&python).unwrap().0.data, None);

        let (packet, _) = decode(&encode_event("/", Some(7), "hi", &[json!(1)], &[])).unwrap();
        assert_eq!(packet.kind, PacketType::Event);
        assert_eq!((packet.id, packet.data), (Some(7), Some(json!(["hi", 1]))));
        let (packet, _) = decode(&encode_event("/", None, "hi", &[], &[])).unwrap();
        assert_eq!((packet.id, packet.data), (None, Some(json!(["hi"]))));

        let (packet, _) = decode(&encode_ack("/c", u64::MAX, &[json!("x")], &[])).unwrap();
        assert_eq!(packet.kind, PacketType::Ack);
        assert_eq!(packet.id, Some(u64::MAX));
        assert_eq!(packet.data, Some(json!(["x"])));
    }

    #[test]
    fn values_round_trip_with_binary_anywhere() {
        let files = [
            Bytes::from_static(&[1, 2, 3]),
            Bytes::new(),
            Bytes::from(vec![7u8; 70_000]),
        ];
        let args = [
            json!({"file": placeholder(0), "list": [1, placeholder(1), {"deep": [placeholder(2)]}]}),
            json!([
                null,
                true,
                false,
                "é\u{1F600}",
                -1,
                -200,
                -70000,
                -5_000_000_000_i64
            ]),
            json!([
                0,
                200,
                70000,
                5_000_000_000_u64,
                u64::MAX,
                i64::MIN,
                1.5,
                -0.25,
                1e300
            ]),
            json!("x".repeat(70_000)),
            placeholder(0),
        ];
        let message = encode_event("/chat", Some(3), "ev", &args, &files);
        let (packet, attachments) = decode(&message).unwrap();
        assert_eq!(packet.nsp, "/chat");
        assert_eq!(packet.attachments, 4);
        let Some(Value::Array(mut data)) = packet.data else {
            panic!("no data")
        };
        assert_eq!(data.remove(0), json!("ev"));
        // Each binary value is its own attachment, numbered in the order they appear.
        assert_eq!(attachments, [&files[0], &files[1], &files[2], &files[0]]);
        assert_eq!(data[0]["file"], placeholder(0));
        assert_eq!(data[0]["list"][1], placeholder(1));
        assert_eq!(data[0]["list"][2]["deep"][0], placeholder(2));
        assert_eq!(data[4], placeholder(3));
        assert_eq!(&data[1..4], &args[1..4]);

        // A placeholder pointing at no attachment stays an object.
        let dangling = encode_ack("/", 1, &[placeholder(5)], &[]);
        let (data, attachments) = decoded_data(&dangling);
        assert_eq!(data, json!([{"_placeholder": true, "num": 5}]));
        assert!(attachments.is_empty());
    }

    #[test]
    fn reads_what_notepack_writes() {
        // `undefined` (fixext 1, type 0): an absent field, null in an array, no key in a map.
        let undefined: &[u8] = &[0xd4, 0, 0];
        let connect = map(&[
            ("type", &[0]),
            ("data", undefined),
            ("nsp", &mp(json!("/"))),
        ]);
        assert_eq!(decode(&connect).unwrap().0.data, None);
        let mut items = vec![0x93, 0xa1, b'e'];
        items.extend_from_slice(undefined);
        items.extend_from_slice(&[0x82, 0xa1, b'a', 0xd4, 0, 0, 0xa1, b'b', 1]);
        assert_eq!(decoded_data(&event(&items)).0, json!(["e", null, {"b": 1}]));
        let with_id = map(&[
            ("type", &[2]),
            ("nsp", &mp(json!("/"))),
            ("data", &mp(json!(["e"]))),
            ("id", undefined),
        ]);
        assert_eq!(decode(&with_id).unwrap().0.id, None);

        // A Date (fixext 8, type 0, milliseconds): its ISO string, as JSON.stringify.
        let date = |millis: i64| {
            let mut bytes = vec![0x92, 0xa1, b'e', 0xd7, 0];
            bytes.extend_from_slice(&millis.to_be_bytes());
            decoded_data(&event(&bytes)).0[1].clone()
        };
        assert_eq!(date(0), json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(date(1_709_210_096_789), json!("2024-02-29T12:34:56.789Z"));
        assert_eq!(date(-1), json!("1969-12-31T23:59:59.999Z"));
        assert_eq!(date(951_782_400_000), json!("2000-02-29T00:00:00.000Z"));
        assert_eq!(
            date(-62_198_755_200_000),
            json!("-000001-01-01T00:00:00.000Z")
        );
        assert_eq!(
            date(253_402_300_800_000),
            json!("+010000-01-01T00:00:00.000Z")
        );
        assert_eq!(
            date(8_640_000_000_000_000),
            json!("+275760-09-13T00:00:00.000Z")
        );
        assert_eq!(date(8_640_000_000_000_001), Value::Null);

        // An ArrayBuffer (ext 8/16/32, type 0): binary, like bin.
        let mut buffers = vec![0x94, 0xa1, b'e', 0xc7, 2, 0, 9, 8, 0xc7, 1, 0, 5];
        buffers.extend_from_slice(&[0xc8, 0x01, 0x00, 0]);
        buffers.extend_from_slice(&[3; 256]);
        let (data, attachments) = decoded_data(&event(&buffers));
        assert_eq!(
            data,
            json!(["e", placeholder(0), placeholder(1), placeholder(2)])
        );
        assert_eq!(attachments[0].as_ref(), &[9, 8]);
        assert_eq!(attachments[1].as_ref(), &[5]);
        assert_eq!(attachments[2].as_ref(), &[3; 256]);

        // Floats: 32 and 64 bits; an integral float is an integer type; NaN is null.
        let mut floats = vec![0x94, 0xa1, b'e', 0xca];
        floats.extend_from_slice(&1.5f32.to_be_bytes());
        floats.push(0xcb);
        floats.extend_from_slice(&f64::NAN.to_be_bytes());
        floats.push(0xcb);
        floats.extend_from_slice(&(-2.25f64).to_be_bytes());
        assert_eq!(
            decoded_data(&event(&floats)).0,
            json!(["e", 1.5, null, -2.25])
        );
        let mut typed = map(&[
            ("nsp", &mp(json!("/"))),
            ("data", &mp(json!(["e"]))),
            ("type", &[0xcb]),
        ])
        .to_vec();
        typed.extend_from_slice(&2.0f64.to_be_bytes());
        let (packet, _) = decode(&Bytes::from(typed)).unwrap();
        assert_eq!(packet.kind, PacketType::Event);

        // What socket.io-client adds (`options`) is ignored; a numeric event name is kept.
        let client = map(&[
            ("type", &[2]),
            ("data", &mp(json!([5, "x"]))),
            ("options", &mp(json!({"compress": true}))),
            ("nsp", &mp(json!("/"))),
        ]);
        assert_eq!(decode(&client).unwrap().0.data, Some(json!([5, "x"])));

        // Invalid UTF-8 is replaced, as Buffer#toString does.
        let lossy = event(&[0x92, 0xa1, b'e', 0xa2, 0xff, b'a']);
        assert_eq!(decoded_data(&lossy).0, json!(["e", "\u{fffd}a"]));
    }

    #[test]
    fn refuses_what_the_npm_parser_refuses() {
        use DecodeError::*;
        let slash = mp(json!("/"));
        let ev = mp(json!(["e"]));
        let cases: Vec<(Bytes, DecodeError)> = vec![
            // Not a packet map.
            (Bytes::from(mp(json!([0, "/"]))), UnknownType),
            (Bytes::from(mp(json!(2))), UnknownType),
            // Bad types.
            (map(&[("nsp", &slash), ("data", &ev)]), UnknownType),
            (
                map(&[("type", &[5]), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            (
                map(&[("type", &[6]), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            (
                map(&[("type", &[0xff]), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            (
                map(&[("type", &mp(json!("2"))), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            (
                map(&[("type", &mp(json!(2.5))), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            (
                map(&[("type", &[0xc0]), ("nsp", &slash), ("data", &ev)]),
                UnknownType,
            ),
            // Bad namespaces.
            (map(&[("type", &[2]), ("data", &ev)]), BadNamespace),
            (
                map(&[("type", &[2]), ("nsp", &[1]), ("data", &ev)]),
                BadNamespace,
            ),
            (
                map(&[("type", &[2]), ("nsp", &[0xc0]), ("data", &ev)]),
                BadNamespace,
            ),
            (
                map(&[("type", &[2]), ("nsp", &[0xc4, 1, b'/']), ("data", &ev)]),
                BadNamespace,
            ),
            // Data of the wrong shape for the type.
            (
                map(&[("type", &[0]), ("nsp", &slash), ("data", &mp(json!([1])))]),
                BadPayload,
            ),
            (
                map(&[("type", &[0]), ("nsp", &slash), ("data", &mp(json!("x")))]),
                BadPayload,
            ),
            (
                map(&[("type", &[0]), ("nsp", &slash), ("data", &[0xc0])]),
                BadPayload,
            ),
            (
                map(&[("type", &[1]), ("nsp", &slash), ("data", &mp(json!({})))]),
                BadPayload,
            ),
            (map(&[("type", &[4]), ("nsp", &slash)]), BadPayload),
            (
                map(&[("type", &[4]), ("nsp", &slash), ("data", &[1])]),
                BadPayload,
            ),
            (map(&[("type", &[2]), ("nsp", &slash)]), BadPayload),
            (
                map(&[("type", &[2]), ("nsp", &slash), ("data", &mp(json!([])))]),
                BadPayload,
            ),
            (
                map(&[("type", &[2]), ("nsp", &slash), ("data", &mp(json!({})))]),
                BadPayload,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &mp(json!([null]))),
                ]),
                BadPayload,
            ),
            (
                map(&[("type", &[2]), ("nsp", &slash), ("data", &mp(json!([{}])))]),
                BadPayload,
            ),
            (
                map(&[("type", &[2]), ("nsp", &slash), ("data", &[0x91, 0xc4, 0])]),
                BadPayload,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &mp(json!(["connect"]))),
                ]),
                ReservedEvent("connect".into()),
            ),
            (
                map(&[("type", &[3]), ("nsp", &slash), ("id", &[1])]),
                BadPayload,
            ),
            (
                map(&[
                    ("type", &[3]),
                    ("nsp", &slash),
                    ("data", &mp(json!({}))),
                    ("id", &[1]),
                ]),
                BadPayload,
            ),
            // Bad ids.
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &[0xc0]),
                ]),
                BadAckId,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &mp(json!("1"))),
                ]),
                BadAckId,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &mp(json!(1.5))),
                ]),
                BadAckId,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &[0xff]),
                ]),
                BadAckId,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &mp(json!(1e30))),
                ]),
                BadAckId,
            ),
            (
                map(&[
                    ("type", &[2]),
                    ("nsp", &slash),
                    ("data", &ev),
                    ("id", &mp(json!([1]))),
                ]),
                BadAckId,
            ),
            // Map keys that are not strings, at the top or inside the data.
            (
                Bytes::from_static(&[0x81, 0x01, 0x02]),
                BadMsgPack("map key is not a string"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0x81, 0x01, 0x02]),
                BadMsgPack("map key is not a string"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0x81, 0xc4, 0, 0x02]),
                BadMsgPack("map key is not a string"),
            ),
            // Extensions JavaScript's notepack never writes.
            (
                event(&[0x92, 0xa1, b'e', 0xd4, 1, 0]),
                BadMsgPack("unsupported extension type"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0xd5, 0, 0, 0]),
                BadMsgPack("unsupported extension"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0xc7, 1, 0xff, 0]),
                BadMsgPack("unsupported extension type"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0xc1]),
                BadMsgPack("reserved marker 0xc1"),
            ),
            // Truncated, garbage, trailing bytes.
            (Bytes::new(), BadMsgPack("truncated")),
            (
                Bytes::from_static(&[0x84, 0xa4, b't']),
                BadMsgPack("truncated"),
            ),
            (
                Bytes::from_static(&[0xdf, 0xff, 0xff, 0xff, 0xff]),
                BadMsgPack("truncated"),
            ),
            (
                event(&[0xdd, 0xff, 0xff, 0xff, 0xff, 0xa1]),
                BadMsgPack("truncated"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0xc6, 0xff, 0xff, 0xff, 0xff]),
                BadMsgPack("truncated"),
            ),
            (
                event(&[0x92, 0xa1, b'e', 0xdb, 0, 0, 0, 9, b'x']),
                BadMsgPack("truncated"),
            ),
            (event(&[0x92, 0xa1, b'e', 0xcf, 0]), BadMsgPack("truncated")),
            (
                event(&[0x92, 0xa1, b'e', 0xd7, 0, 1]),
                BadMsgPack("truncated"),
            ),
            // A JSON packet: the digit is a msgpack integer, the rest trails.
            (
                Bytes::from_static(b"2[\"e\"]"),
                BadMsgPack("trailing bytes"),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                decode(&input).map(|(p, _)| p),
                Err(expected),
                "input {input:?}"
            );
        }
        let mut trailing = encode_event("/", None, "e", &[], &[]).to_vec();
        trailing.push(0xc0);
        assert_eq!(
            decode(&Bytes::from(trailing)).unwrap_err(),
            BadMsgPack("trailing bytes")
        );
    }

    #[test]
    fn deep_nesting_is_an_error_not_a_crash() {
        for marker in [0x91, 0xdc, 0x81] {
            let mut bomb = vec![0x92, 0xa1, b'e'];
            for _ in 0..100_000 {
                match marker {
                    0x81 => bomb.extend_from_slice(&[0x81, 0xa1, b'k']),
                    0xdc => bomb.extend_from_slice(&[0xdc, 0, 1]),
                    _ => bomb.push(marker),
                }
            }
            bomb.push(0xc0);
            assert_eq!(
                decode(&event(&bomb)).unwrap_err(),
                DecodeError::BadMsgPack("nested too deep")
            );
        }
        // Up to the limit (the packet map and the data array count) it decodes.
        let depth = MAX_DEPTH - 2;
        let mut deep = vec![0x92, 0xa1, b'e'];
        deep.extend(std::iter::repeat_n(0x91, depth - 1));
        deep.push(0x90);
        assert!(decode(&event(&deep)).is_ok());
        deep.insert(3, 0x91);
        assert_eq!(
            decode(&event(&deep)).unwrap_err(),
            DecodeError::BadMsgPack("nested too deep")
        );
        // A binary value is held as a placeholder map, so at the bottom it is one level more:
        // in place of the innermost empty array it fits, inside it it does not (found by the
        // fuzzer, as bin8 and as notepack's ext 0).
        for binary in [&[0xc4, 1, 7][..], &[0xc7, 1, 0, 7]] {
            let mut deep = vec![0x92, 0xa1, b'e'];
            deep.extend(std::iter::repeat_n(0x91, depth - 1));
            deep.extend_from_slice(binary);
            let (packet, attachments) = decode(&event(&deep)).expect("fits");
            assert_eq!(attachments, [Bytes::from_static(&[7])]);
            assert!(packet.data.is_some());
            deep.insert(3, 0x91);
            assert_eq!(
                decode(&event(&deep)).unwrap_err(),
                DecodeError::BadMsgPack("nested too deep")
            );
        }
    }
}
