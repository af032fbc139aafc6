//! Helpers shared by the fuzz targets: the protocol's placeholder rule, written independently of
//! the crate's, and the byte layout of multi-part inputs.

use serde_json::Value;

/// The attachment a value points at, when it is a placeholder `{"_placeholder":true,"num":N}`.
///
/// Written from the protocol text, independently of the crate's own `placeholder_index`, so the
/// targets compare two readings of the rule. `Some(None)` is a placeholder without a usable `num`.
pub fn placeholder_num(value: &Value) -> Option<Option<u64>> {
    let map = value.as_object()?;
    match map.get("_placeholder") {
        Some(Value::Bool(true)) => Some(map.get("num").and_then(Value::as_u64)),
        _ => None,
    }
}

/// Every placeholder anywhere in `value`, depth first.
pub fn placeholders(value: &Value, found: &mut Vec<Option<u64>>) {
    if let Some(num) = placeholder_num(value) {
        found.push(num);
        return;
    }
    match value {
        Value::Array(items) => items.iter().for_each(|v| placeholders(v, found)),
        Value::Object(map) => map.values().for_each(|v| placeholders(v, found)),
        _ => {}
    }
}

/// Splits `data` into a text part and binary chunks.
///
/// Layout: `<header> 0xFF (<len: u8> <len bytes>)*`. 0xFF never occurs in UTF-8, so the header
/// needs no escaping and seeds can be written with `printf`; a last chunk shorter than its
/// length byte keeps what there is.
pub fn split_parts(data: &[u8]) -> (&[u8], Vec<&[u8]>) {
    let Some(end) = data.iter().position(|&b| b == 0xFF) else {
        return (data, Vec::new());
    };
    let mut rest = &data[end + 1..];
    let mut chunks = Vec::new();
    while let Some((&len, tail)) = rest.split_first() {
        let take = usize::from(len).min(tail.len());
        chunks.push(&tail[..take]);
        rest = &tail[take..];
    }
    (&data[..end], chunks)
}
