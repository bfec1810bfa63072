//! BSON to plain JSON, for data the API returns but does not own (the linked
//! collection), and plain JSON to BSON for the data the inbound queue brings.
//!
//! Extended JSON (`{"$oid": ...}`) would leak storage details into the API; clients
//! get the natural JSON form of each value instead.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use mongodb::bson::{Bson, Document};
use serde_json::{Map, Number, Value};

pub fn document_to_json(document: Document) -> Value {
    Value::Object(
        document
            .into_iter()
            .map(|(key, value)| (key, bson_to_json(value)))
            .collect::<Map<_, _>>(),
    )
}

pub fn bson_to_json(value: Bson) -> Value {
    match value {
        Bson::Double(number) => Number::from_f64(number).map_or(Value::Null, Value::Number),
        Bson::String(text) | Bson::Symbol(text) | Bson::JavaScriptCode(text) => Value::String(text),
        Bson::JavaScriptCodeWithScope(code) => Value::String(code.code),
        Bson::Array(items) => Value::Array(items.into_iter().map(bson_to_json).collect()),
        Bson::Document(document) => document_to_json(document),
        Bson::Boolean(flag) => Value::Bool(flag),
        Bson::Int32(number) => Value::from(number),
        Bson::Int64(number) => Value::from(number),
        Bson::Timestamp(timestamp) => Value::from(timestamp.time),
        Bson::Binary(binary) => Value::String(STANDARD.encode(binary.bytes)),
        Bson::ObjectId(id) => Value::String(id.to_hex()),
        Bson::DateTime(instant) => instant
            .try_to_rfc3339_string()
            .map_or(Value::Null, Value::String),
        Bson::Decimal128(number) => Value::String(number.to_string()),
        Bson::RegularExpression(regex) => Value::String(regex.to_string()),
        Bson::Null | Bson::Undefined | Bson::MaxKey | Bson::MinKey | Bson::DbPointer(_) => {
            Value::Null
        }
    }
}

/// A field name starting with `$`: MongoDB reads those as operators.
#[derive(Debug, PartialEq, Eq)]
pub struct OperatorFieldName;

/// Plain JSON to BSON, read as written: `{"$oid": ...}` is not extended JSON
/// here but a refused field name, at any depth. Integers become Int64,
/// other numbers Double.
pub fn json_object_to_document(object: Map<String, Value>) -> Result<Document, OperatorFieldName> {
    object
        .into_iter()
        .map(|(key, value)| {
            if key.starts_with('$') {
                Err(OperatorFieldName)
            } else {
                Ok((key, json_to_bson(value)?))
            }
        })
        .collect()
}

fn json_to_bson(value: Value) -> Result<Bson, OperatorFieldName> {
    Ok(match value {
        Value::Null => Bson::Null,
        Value::Bool(flag) => Bson::Boolean(flag),
        Value::Number(number) => match number.as_i64() {
            Some(integer) => Bson::Int64(integer),
            None => Bson::Double(number.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(text) => Bson::String(text),
        Value::Array(items) => Bson::Array(
            items
                .into_iter()
                .map(json_to_bson)
                .collect::<Result<_, _>>()?,
        ),
        Value::Object(object) => Bson::Document(json_object_to_document(object)?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use mongodb::bson::oid::ObjectId;
    use mongodb::bson::spec::BinarySubtype;
    use mongodb::bson::{doc, Binary, DateTime, Decimal128};
    use serde_json::json;

    #[test]
    fn storage_types_become_plain_json() {
        let id = ObjectId::parse_str("65f1a2b3c4d5e6f708091a2b").unwrap();
        let decimal: Decimal128 = "12.50".parse().unwrap();
        let document = doc! {
            "_id": id,
            "when": DateTime::from_millis(1_700_000_000_123),
            "price": decimal,
            "blob": Binary { subtype: BinarySubtype::Generic, bytes: b"hi!".to_vec() },
            "nested": { "list": [1_i32, 2_i64, 2.5, "x", Bson::Null, true] },
            "nan": f64::NAN,
        };
        assert_eq!(
            document_to_json(document),
            json!({
                "_id": "65f1a2b3c4d5e6f708091a2b",
                "when": "2023-11-14T22:13:20.123Z",
                "price": "12.50",
                "blob": "aGkh",
                "nested": { "list": [1, 2, 2.5, "x", null, true] },
                "nan": null,
            })
        );
    }

    #[test]
    fn plain_json_becomes_bson_and_operators_are_refused() {
        let object = json!({ "plan": "gold", "n": 2, "x": 1.5, "tags": ["a", { "b": null }] });
        let Value::Object(object) = object else {
            unreachable!()
        };
        assert_eq!(
            json_object_to_document(object).unwrap(),
            doc! { "plan": "gold", "n": 2_i64, "x": 1.5, "tags": ["a", { "b": Bson::Null }] }
        );
        let Value::Object(nested) = json!({ "a": [{ "$where": "1" }] }) else {
            unreachable!()
        };
        assert_eq!(json_object_to_document(nested), Err(OperatorFieldName));
    }
}
