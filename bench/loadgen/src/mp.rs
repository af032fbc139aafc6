//! `--parser msgpack`: Socket.IO packets in socket.io-msgpack-parser's format, one msgpack map
//! `{type, data, nsp, id?}` per binary WebSocket message. Just what the echo and broadcast
//! scenarios send and read: strings, unsigned integers, arrays, maps with string keys.

use serde_json::{Map, Value};

/// Which wire format the Socket.IO packets use.
#[derive(clap::ValueEnum, Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Wire {
    /// socket.io's default: text packets with JSON.
    #[default]
    Json,
    /// socket.io-msgpack-parser: binary packets.
    Msgpack,
}

pub fn push_uint(out: &mut Vec<u8>, n: u64) {
    if n < 0x80 {
        out.push(n as u8);
    } else if n <= 0xff {
        out.extend_from_slice(&[0xcc, n as u8]);
    } else if n <= 0xffff {
        out.push(0xcd);
        out.extend_from_slice(&(n as u16).to_be_bytes());
    } else if n <= 0xffff_ffff {
        out.push(0xce);
        out.extend_from_slice(&(n as u32).to_be_bytes());
    } else {
        out.push(0xcf);
        out.extend_from_slice(&n.to_be_bytes());
    }
}

pub fn push_str(out: &mut Vec<u8>, s: &str) {
    let len = s.len();
    if len < 32 {
        out.push(0xa0 | len as u8);
    } else if len <= 0xff {
        out.extend_from_slice(&[0xd9, len as u8]);
    } else if len <= 0xffff {
        out.push(0xda);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(0xdb);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
}

fn push_len(out: &mut Vec<u8>, len: usize, fix: u8, m16: u8, m32: u8) {
    if len < 16 {
        out.push(fix | len as u8);
    } else if len <= 0xffff {
        out.push(m16);
        out.extend_from_slice(&(len as u16).to_be_bytes());
    } else {
        out.push(m32);
        out.extend_from_slice(&(len as u32).to_be_bytes());
    }
}

pub fn push_array_len(out: &mut Vec<u8>, len: usize) {
    push_len(out, len, 0x90, 0xdc, 0xdd);
}

pub fn push_map_len(out: &mut Vec<u8>, len: usize) {
    push_len(out, len, 0x80, 0xde, 0xdf);
}

/// A packet map around `data` (already encoded), keys in the order actix-socketio writes them.
pub fn packet(kind: u64, data: Option<&[u8]>, id: Option<u64>) -> Vec<u8> {
    let mut out = Vec::with_capacity(32 + data.map_or(0, <[u8]>::len));
    push_map_len(
        &mut out,
        2 + usize::from(data.is_some()) + usize::from(id.is_some()),
    );
    push_str(&mut out, "type");
    push_uint(&mut out, kind);
    if let Some(data) = data {
        push_str(&mut out, "data");
        out.extend_from_slice(data);
    }
    push_str(&mut out, "nsp");
    push_str(&mut out, "/");
    if let Some(id) = id {
        push_str(&mut out, "id");
        push_uint(&mut out, id);
    }
    out
}

/// CONNECT to `/` without auth.
pub fn connect() -> Vec<u8> {
    packet(0, None, None)
}

/// An array of strings.
pub fn strings(items: &[&str]) -> Vec<u8> {
    let mut out = Vec::new();
    push_array_len(&mut out, items.len());
    for item in items {
        push_str(&mut out, item);
    }
    out
}

/// EVENT `[items...]`, with an ack id when given.
pub fn event(items: &[&str], id: Option<u64>) -> Vec<u8> {
    packet(2, Some(&strings(items)), id)
}

/// ACK `id` with `[items...]`, as the server writes it.
pub fn ack(items: &[&str], id: u64) -> Vec<u8> {
    packet(3, Some(&strings(items)), Some(id))
}

/// A decoded packet: its type, ack id and data.
#[derive(Debug, PartialEq)]
pub struct Packet {
    pub kind: u64,
    pub id: Option<u64>,
    pub data: Option<Value>,
}

struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn take(&mut self, n: usize) -> Option<&[u8]> {
        let end = self
            .pos
            .checked_add(n)
            .filter(|end| *end <= self.bytes.len())?;
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Some(out)
    }

    fn be(&mut self, n: usize) -> Option<u64> {
        Some(
            self.take(n)?
                .iter()
                .fold(0, |acc, b| acc << 8 | u64::from(*b)),
        )
    }

    fn string(&mut self, len: usize) -> Option<Value> {
        let bytes = self.take(len)?;
        Some(Value::String(std::str::from_utf8(bytes).ok()?.to_owned()))
    }

    fn array(&mut self, len: usize, depth: u32) -> Option<Value> {
        let mut items = Vec::with_capacity(len.min(64));
        for _ in 0..len {
            items.push(self.value(depth + 1)?);
        }
        Some(Value::Array(items))
    }

    fn map(&mut self, len: usize, depth: u32) -> Option<Value> {
        let mut map = Map::new();
        for _ in 0..len {
            let Value::String(key) = self.value(depth + 1)? else {
                return None;
            };
            map.insert(key, self.value(depth + 1)?);
        }
        Some(Value::Object(map))
    }

    fn value(&mut self, depth: u32) -> Option<Value> {
        if depth > 32 {
            return None;
        }
        let marker = self.take(1)?[0];
        Some(match marker {
            0x00..=0x7f => Value::from(marker),
            0x80..=0x8f => return self.map(usize::from(marker & 0x0f), depth),
            0x90..=0x9f => return self.array(usize::from(marker & 0x0f), depth),
            0xa0..=0xbf => return self.string(usize::from(marker & 0x1f)),
            0xc0 => Value::Null,
            0xc2 => Value::Bool(false),
            0xc3 => Value::Bool(true),
            0xcc => Value::from(self.be(1)?),
            0xcd => Value::from(self.be(2)?),
            0xce => Value::from(self.be(4)?),
            0xcf => Value::from(self.be(8)?),
            0xd0 => Value::from(self.be(1)? as u8 as i8),
            0xd1 => Value::from(self.be(2)? as u16 as i16),
            0xd2 => Value::from(self.be(4)? as u32 as i32),
            0xd3 => Value::from(self.be(8)? as i64),
            0xcb => Value::from(f64::from_bits(self.be(8)?)),
            0xd9 => {
                let len = self.be(1)? as usize;
                return self.string(len);
            }
            0xda => {
                let len = self.be(2)? as usize;
                return self.string(len);
            }
            0xdb => {
                let len = self.be(4)? as usize;
                return self.string(len);
            }
            0xdc => {
                let len = self.be(2)? as usize;
                return self.array(len, depth);
            }
            0xdd => {
                let len = self.be(4)? as usize;
                return self.array(len, depth);
            }
            0xde => {
                let len = self.be(2)? as usize;
                return self.map(len, depth);
            }
            0xdf => {
                let len = self.be(4)? as usize;
                return self.map(len, depth);
            }
            0xe0..=0xff => Value::from(marker as i8),
            _ => return None, // bin, ext, float 32: never in the benchmark's packets
        })
    }
}

/// Decodes one packet; `None` for anything that is not a packet map.
pub fn decode(bytes: &[u8]) -> Option<Packet> {
    let mut reader = Reader { bytes, pos: 0 };
    let Value::Object(mut map) = reader.value(0)? else {
        return None;
    };
    Some(Packet {
        kind: map.get("type")?.as_u64()?,
        id: map.get("id").and_then(Value::as_u64),
        data: map.remove("data"),
    })
}

/// The broadcast EVENT the sender emits:
/// `{type: 2, data: ["broadcast", room, {k, t, s, p}], nsp: "/"}`.
pub fn broadcast(room: &str, k: u64, t: u64, s: u64, pad: &str) -> Vec<u8> {
    let mut data = Vec::with_capacity(48 + room.len() + pad.len());
    push_array_len(&mut data, 3);
    push_str(&mut data, "broadcast");
    push_str(&mut data, room);
    push_map_len(&mut data, 4);
    for (key, value) in [("k", k), ("t", t), ("s", s)] {
        push_str(&mut data, key);
        push_uint(&mut data, value);
    }
    push_str(&mut data, "p");
    push_str(&mut data, pad);
    packet(2, Some(&data), None)
}

/// The `k`, `t` and `s` numbers of a delivered broadcast
/// (`{type: 2, data: ["broadcast", {k, t, s, p}], ...}`), found by scanning for the one-letter
/// keys followed by an unsigned integer, in any key order, without decoding the packet.
pub fn scan(packet: &[u8]) -> Option<crate::broadcast::Stamp> {
    const NAME: &[u8] = b"\xa9broadcast";
    let head = &packet[..packet.len().min(48)];
    let at = head.windows(NAME.len()).position(|w| w == NAME)? + NAME.len();
    let (mut k, mut t, mut s) = (None, None, None);
    let mut i = at;
    while i + 2 < packet.len() && (k.is_none() || t.is_none() || s.is_none()) {
        if packet[i] == 0xa1 && matches!(packet[i + 1], b'k' | b't' | b's') {
            let mut reader = Reader {
                bytes: packet,
                pos: i + 2,
            };
            let value = match reader.take(1)?[0] {
                n @ 0x00..=0x7f => Some(u64::from(n)),
                0xcc => reader.be(1),
                0xcd => reader.be(2),
                0xce => reader.be(4),
                0xcf => reader.be(8),
                _ => None,
            };
            if let Some(value) = value {
                match packet[i + 1] {
                    b'k' => k = Some(value),
                    b't' => t = Some(value),
                    _ => s = Some(value),
                }
                i = reader.pos;
                continue;
            }
        }
        i += 1;
    }
    Some(crate::broadcast::Stamp {
        k: k?,
        t: t?,
        s: s?,
    })
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn packets_round_trip() {
        assert_eq!(
            decode(&connect()),
            Some(Packet {
                kind: 0,
                id: None,
                data: None
            })
        );
        let long = "x".repeat(300);
        assert_eq!(
            decode(&event(&["echo", &long], Some(70_000))),
            Some(Packet {
                kind: 2,
                id: Some(70_000),
                data: Some(json!(["echo", long]))
            })
        );
        assert_eq!(decode(&ack(&["r"], 5)).unwrap().kind, 3);
        assert_eq!(decode(b"\x93\x01"), None);
    }

    #[test]
    fn scans_broadcasts() {
        // What the server sends on: the room dropped, the object as it came.
        let mut data = Vec::new();
        push_array_len(&mut data, 2);
        push_str(&mut data, "broadcast");
        push_map_len(&mut data, 4);
        for (key, value) in [("s", 300u64), ("k", 3), ("t", 5_000_000_000)] {
            push_str(&mut data, key);
            push_uint(&mut data, value);
        }
        push_str(&mut data, "p");
        push_str(&mut data, "kts");
        let delivered = packet(2, Some(&data), None);
        assert_eq!(
            scan(&delivered),
            Some(crate::broadcast::Stamp {
                k: 3,
                t: 5_000_000_000,
                s: 300
            })
        );
        assert_eq!(scan(&event(&["echo", "x"], None)), None);
        let sent = broadcast("bench", 1, 2, 3, "xx");
        assert_eq!(
            decode(&sent).unwrap().data,
            Some(json!(["broadcast", "bench", {"k": 1, "t": 2, "s": 3, "p": "xx"}]))
        );
    }
}
