//! Column values, kept losslessly.
//!
//! Dataverse sends Money and Decimal as JSON numbers with more precision than an `f64` holds, and
//! date-only values as `YYYY-MM-DD` text. Both are stored exactly as received: numbers as their
//! decimal text (never through `f64`), dates as text (never parsed, so never shifted by a time
//! zone). Records are stored as JSONB; numbers keep their text there too.

use std::collections::BTreeMap;

use serde_json::value::RawValue;

use crate::error::{Error, Result};

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// JSON `null`, or a column that is absent.
    Null,
    /// Yes/no. In filters and ordering it compares as the integers 0 and 1, as SQLite does.
    Bool(bool),
    /// An integer that fits in 64 bits.
    Int(i64),
    /// Any other number, as its exact decimal text (e.g. `"1234.5600"`, `"1E+20"`).
    Decimal(String),
    /// Text: strings, GUIDs, dates and date-times as the server sent them.
    Text(String),
}

/// A record's columns by Web API property name.
pub type Values = BTreeMap<String, Value>;

impl Value {
    /// A decimal value from its text.
    ///
    /// # Errors
    /// [`Error::Invalid`] (`outpost_core::Error::InvalidArgument`) if `text` is not a JSON
    /// number.
    pub fn decimal(text: impl Into<String>) -> Result<Value> {
        let text = text.into();
        if is_json_number(&text) {
            Ok(Value::Decimal(text))
        } else {
            Err(Error::invalid("not a decimal number"))
        }
    }

    /// Text value.
    pub fn text(s: impl Into<String>) -> Value {
        Value::Text(s.into())
    }

    /// The value as JSON text, numbers exactly as kept (e.g. `12345678901234567890.123`).
    pub fn to_json_text(&self) -> String {
        let mut out = String::new();
        self.write_json(&mut out);
        out
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }

    fn write_json(&self, out: &mut String) {
        match self {
            Value::Null => out.push_str("null"),
            Value::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Value::Int(i) => out.push_str(&i.to_string()),
            Value::Decimal(d) => out.push_str(d),
            Value::Text(s) => out.push_str(&serde_json::Value::String(s.clone()).to_string()),
        }
    }

    /// Classify one raw JSON value. Objects and arrays are kept as their JSON text.
    ///
    /// # Errors
    /// [`Error::Corrupt`] (`record value`) if a string is not valid JSON.
    pub fn from_raw(raw: &RawValue) -> Result<Value> {
        let s = raw.get().trim();
        Ok(match s.as_bytes().first() {
            Some(b'n') => Value::Null,
            Some(b't') => Value::Bool(true),
            Some(b'f') => Value::Bool(false),
            Some(b'"') => Value::Text(serde_json::from_str(s).map_err(|_| Error::corrupt("record value"))?),
            Some(b'-' | b'0'..=b'9') => match s.parse::<i64>() {
                Ok(i) if !s.contains(['.', 'e', 'E']) => Value::Int(i),
                _ => Value::Decimal(s.to_string()),
            },
            _ => Value::Text(s.to_string()),
        })
    }
}

/// Strict JSON number grammar (RFC 8259 §6).
pub fn is_json_number(s: &str) -> bool {
    let b = s.as_bytes();
    let mut i = 0;
    if b.get(i) == Some(&b'-') {
        i += 1;
    }
    match b.get(i) {
        Some(b'0') => i += 1,
        Some(b'1'..=b'9') => {
            while matches!(b.get(i), Some(b'0'..=b'9')) {
                i += 1;
            }
        }
        _ => return false,
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let start = i;
        while matches!(b.get(i), Some(b'0'..=b'9')) {
            i += 1;
        }
        if i == start {
            return false;
        }
    }
    i == b.len()
}

/// One value as JSON text (numbers exactly as kept).
pub fn value_json(v: &Value) -> String {
    let mut out = String::new();
    v.write_json(&mut out);
    out
}

/// Encode a record as a JSON object.
pub fn to_json(values: &Values) -> String {
    let mut out = String::with_capacity(64 * values.len() + 2);
    out.push('{');
    for (i, (k, v)) in values.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::Value::String(k.clone()).to_string());
        out.push(':');
        v.write_json(&mut out);
    }
    out.push('}');
    out
}

/// Decode a JSON object into values, numbers kept as text.
///
/// # Errors
/// [`Error::Corrupt`] if `text` is not a JSON object of values.
pub fn from_json(text: &str) -> Result<Values> {
    let raw: BTreeMap<String, &RawValue> =
        serde_json::from_str(text).map_err(|_| Error::corrupt("record (not a JSON object)"))?;
    raw.into_iter().map(|(k, v)| Ok((k, Value::from_raw(v)?))).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lossless_round_trip() {
        let mut v = Values::new();
        v.insert("revenue".into(), Value::decimal("12345678901234567890.123456789").unwrap());
        v.insert("n".into(), Value::Int(-42));
        v.insert("d".into(), Value::text("2024-02-29"));
        v.insert("q\"uote".into(), Value::text("x' OR 1=1 --"));
        v.insert("b".into(), Value::Bool(true));
        v.insert("z".into(), Value::Null);
        assert_eq!(from_json(&to_json(&v)).unwrap(), v);
    }

    #[test]
    fn number_grammar() {
        for ok in ["0", "-1", "1.50", "1E+20", "-0.0e-3"] {
            assert!(is_json_number(ok), "{ok}");
        }
        for bad in ["", "-", "01", "1.", ".5", "1e", "NaN", "1 ", "0x10"] {
            assert!(!is_json_number(bad), "{bad}");
        }
    }
}
