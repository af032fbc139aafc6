//! Defects the fuzz targets (fuzz/) found, kept as plain tests so they stay fixed.
//!
//! Floats: serde_json's default best-effort float parser reads some shortest-form decimals (the
//! 17-digit ones JavaScript's `JSON.stringify` writes, e.g. from `Math.random()`) one or two ULPs
//! off, so the server changed numbers it decoded and relayed: about one `Math.random()` value in
//! ten. Its `float_roundtrip` feature (Cargo.toml) parses them exactly; these fail without it.

use actix_socketio::socket::packet::{decode, encode_event};
use serde_json::Value;

/// Shortest representations (what JS and serde_json write) the best-effort parser misreads.
const MISREAD: [&str; 4] = [
    "0.9856906946328695",
    "0.21291890726713458",
    "1.0715660391465826e-75",
    "-1.603964615428183e143",
];

fn event_with_floats() -> String {
    format!("2[\"numbers\",{}]", MISREAD.join(","))
}

#[test]
fn decoded_floats_are_exact() {
    let packet = decode(&event_with_floats()).expect("a valid event");
    let Some(Value::Array(items)) = packet.data else {
        panic!("an event carries an array");
    };
    for (literal, value) in MISREAD.iter().zip(&items[1..]) {
        let expected: f64 = literal.parse().expect("a float literal");
        assert_eq!(
            value.as_f64(),
            Some(expected),
            "{literal} decoded as {value}"
        );
    }
}

#[test]
fn relayed_floats_are_unchanged() {
    // An echo handler: decode the client's event, send its arguments back.
    let packet = decode(&event_with_floats()).expect("a valid event");
    let Some(Value::Array(items)) = packet.data else {
        panic!("an event carries an array");
    };
    let relayed = encode_event("/", None, "numbers", &items[1..], 0);
    // The exact values as serde_json writes them (its writer is exact; only the parser is not).
    let exact: Vec<String> = MISREAD
        .iter()
        .map(|l| Value::from(l.parse::<f64>().expect("a float literal")).to_string())
        .collect();
    assert_eq!(relayed, format!("2[\"numbers\",{}]", exact.join(",")));
}

/// fuzz/socket_packet found this: a float re-encoded by the server decodes two ULPs away from what
/// the server had decoded (9.077777777777777e49 came back as 9.077777777777775e49).
#[test]
fn reencoded_floats_decode_to_the_same_value() {
    let text = r#"2["i",0,-777777777777777777681.98576,907777777777777777777688.13000073e+27]"#;
    let packet = decode(text).expect("a valid event");
    let Some(Value::Array(items)) = packet.data else {
        panic!("an event carries an array");
    };
    let name = items[0].as_str().expect("a string name");
    let encoded = encode_event("/", None, name, &items[1..], 0);
    let again = decode(&encoded).expect("encoder output decodes");
    assert_eq!(again.data, Some(Value::Array(items)), "via {encoded}");
}
