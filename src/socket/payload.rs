//! Event arguments as they travel: JSON values plus binary attachments referenced by placeholders.
//! `Payload` is what handlers receive and what `emit_payload` / acks send.

use bytes::Bytes;
use serde::{de::DeserializeOwned, Serialize};
use serde_json::Value;

use crate::socket::packet::{placeholder, placeholder_index};

/// The arguments of an event or an acknowledgement.
///
/// Binary arguments are kept as attachments; in [`Payload::args`] they appear as placeholders
/// `{"_placeholder":true,"num":N}` pointing into [`Payload::attachments`], exactly as on the wire,
/// so a payload can be forwarded or echoed unchanged.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Payload {
    args: Vec<Value>,
    attachments: Vec<Bytes>,
}

impl Payload {
    /// An empty argument list.
    pub fn new() -> Self {
        Payload::default()
    }

    /// Builds a payload from raw parts (placeholders in `args` must point into `attachments`).
    pub fn from_parts(args: Vec<Value>, attachments: Vec<Bytes>) -> Self {
        Payload { args, attachments }
    }

    /// Appends one argument serialized with serde.
    pub fn arg<T: Serialize + ?Sized>(mut self, value: &T) -> Result<Self, serde_json::Error> {
        self.args.push(serde_json::to_value(value)?);
        Ok(self)
    }

    /// Appends one JSON argument.
    pub fn value(mut self, value: Value) -> Self {
        self.args.push(value);
        self
    }

    /// Appends one binary argument (sent as an attachment).
    pub fn binary(mut self, data: impl Into<Bytes>) -> Self {
        self.args.push(placeholder(self.attachments.len()));
        self.attachments.push(data.into());
        self
    }

    /// A JSON value to embed anywhere inside an argument, standing for a binary attachment.
    pub fn attach(&mut self, data: impl Into<Bytes>) -> Value {
        self.attachments.push(data.into());
        placeholder(self.attachments.len() - 1)
    }

    /// A value taken from elsewhere (placeholders pointing into `attachments`), with the
    /// binary data it refers to attached to this payload and its placeholders renumbered;
    /// returns the value to put in an argument. E.g. forwarding the first argument of several
    /// acknowledgements, binary included, as one array.
    pub fn adopt(&mut self, value: &Value, attachments: &[Bytes]) -> Value {
        if let Some(Some(num)) = placeholder_index(value) {
            if let Some(data) = attachments.get(num) {
                return self.attach(data.clone());
            }
        }
        match value {
            Value::Array(items) => {
                Value::Array(items.iter().map(|v| self.adopt(v, attachments)).collect())
            }
            Value::Object(map) => Value::Object(
                map.iter()
                    .map(|(k, v)| (k.clone(), self.adopt(v, attachments)))
                    .collect(),
            ),
            other => other.clone(),
        }
    }

    /// The arguments, binary ones as placeholders.
    pub fn args(&self) -> &[Value] {
        &self.args
    }

    /// The binary attachments, in placeholder order.
    pub fn attachments(&self) -> &[Bytes] {
        &self.attachments
    }

    /// Number of arguments.
    pub fn len(&self) -> usize {
        self.args.len()
    }

    /// True when there is no argument.
    pub fn is_empty(&self) -> bool {
        self.args.is_empty()
    }

    /// Deserializes argument `index` (binary placeholders stay JSON objects; see [`Payload::bytes`]).
    pub fn get<T: DeserializeOwned>(&self, index: usize) -> Result<T, serde_json::Error> {
        let value = self.args.get(index).cloned().unwrap_or(Value::Null);
        serde_json::from_value(value)
    }

    /// Deserializes all arguments at once, e.g. into a tuple `(String, u32)` or a `Vec<T>`.
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_value(Value::Array(self.args.clone()))
    }

    /// The binary data of argument `index`, when that argument is a binary placeholder.
    pub fn bytes(&self, index: usize) -> Option<&Bytes> {
        let num = placeholder_index(self.args.get(index)?)??;
        self.attachments.get(num)
    }

    /// Splits into arguments and attachments.
    pub fn into_parts(self) -> (Vec<Value>, Vec<Bytes>) {
        (self.args, self.attachments)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn builds_and_reads_arguments() {
        let mut p = Payload::new()
            .arg("hi")
            .unwrap()
            .arg(&42)
            .unwrap()
            .binary(vec![1u8, 2]);
        let nested = p.attach(Bytes::from_static(&[9]));
        p = p.value(json!({ "file": nested }));
        assert_eq!(p.len(), 4);
        assert_eq!(p.get::<String>(0).unwrap(), "hi");
        assert_eq!(p.get::<u32>(1).unwrap(), 42);
        assert_eq!(p.bytes(2).unwrap().as_ref(), &[1, 2]);
        assert_eq!(p.bytes(0), None);
        assert_eq!(p.attachments().len(), 2);
        assert_eq!(
            p.args()[3],
            json!({"file": {"_placeholder": true, "num": 1}})
        );
        let (a, b): (String, u32) = Payload::new()
            .arg("x")
            .unwrap()
            .arg(&7)
            .unwrap()
            .parse()
            .unwrap();
        assert_eq!((a.as_str(), b), ("x", 7));
        assert!(Payload::new().get::<u32>(0).is_err());
    }
}
