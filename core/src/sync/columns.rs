//! A profile table's columns as an app or the CLI names them, mapped to the store's Web API
//! properties with the table metadata cached by the last sync: typed values from user text,
//! lookups from `set(id)`, and records viewed with the profile's column names.

use crate::dataverse::metadata::{ColumnMetadata, TableMetadata};
use crate::error::{Error, Result};
use crate::store::{Record, Store, Value, Values};

use super::TableProfile;

/// The annotation that carries a lookup's target table (logical name) beside its id.
pub const LOOKUP_TARGET: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";

/// How a column's values are typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColumnKind {
    /// Text, memo, GUID and date(-time) columns: kept as text.
    Text,
    /// Whole numbers, choices, status and state codes.
    Integer,
    /// Money, decimal and floating-point numbers: kept as exact decimal text.
    Decimal,
    /// Yes/no.
    Boolean,
    /// A reference to a row of another table (id plus target table).
    Lookup,
    /// Not known yet (the table has not been synced, so no metadata is cached).
    Unknown,
}

/// One profile column.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ColumnInfo {
    /// The name as the profile gives it (`name`, `parentcustomerid`).
    pub name: String,
    /// The Web API property the store keeps it under (`_parentcustomerid_value` for lookups).
    pub property: String,
    /// Its type.
    pub kind: ColumnKind,
    /// Lookup targets: (logical name, entity set when known).
    pub targets: Vec<(String, Option<String>)>,
    /// Whether it may be set on create / on update (true when unknown).
    pub writable: (bool, bool),
}

/// The columns of one profile table.
#[derive(Debug, Clone)]
pub struct TableColumns {
    /// Entity set.
    pub entity_set: String,
    /// Primary id column.
    pub primary_id: String,
    /// Profile columns, in profile order.
    pub columns: Vec<ColumnInfo>,
    /// Whether metadata was cached (false before the first sync of the table).
    pub has_metadata: bool,
}

fn kind_of(m: &ColumnMetadata) -> ColumnKind {
    if m.is_lookup() {
        return ColumnKind::Lookup;
    }
    match m.attribute_type.as_str() {
        "String" | "Memo" | "EntityName" | "Uniqueidentifier" | "DateTime" => ColumnKind::Text,
        "Integer" | "BigInt" | "Picklist" | "State" | "Status" => ColumnKind::Integer,
        "Money" | "Decimal" | "Double" => ColumnKind::Decimal,
        "Boolean" => ColumnKind::Boolean,
        _ => ColumnKind::Unknown,
    }
}

impl TableColumns {
    /// The columns of `table`, typed with the metadata the last sync cached.
    ///
    /// # Errors
    /// `InvalidArgument` if the store does not know the table; `Storage`.
    pub fn load(store: &Store, table: &TableProfile) -> Result<TableColumns> {
        let state = store.sync_state(&table.entity_set)?;
        let meta: Option<TableMetadata> = state.metadata.as_deref().and_then(|j| serde_json::from_str(j).ok());
        let primary_id = match &meta {
            Some(m) => m.primary_id.clone(),
            None => store
                .tables()?
                .into_iter()
                .find(|t| t.entity_set == table.entity_set)
                .map(|t| t.primary_id)
                .ok_or_else(|| Error::invalid(format!("unknown table {:?}", table.entity_set)))?,
        };
        let columns = table
            .columns
            .iter()
            .map(|name| match meta.as_ref().and_then(|m| m.property_of(name).map(|c| (m, c))) {
                Some((m, c)) => ColumnInfo {
                    name: name.clone(),
                    property: c.property.clone(),
                    kind: kind_of(c),
                    targets: c.targets.iter().map(|t| (t.clone(), m.target_sets.get(t).cloned())).collect(),
                    writable: (c.valid_for_create, c.valid_for_update),
                },
                None => ColumnInfo {
                    name: name.clone(),
                    property: name.clone(),
                    kind: ColumnKind::Unknown,
                    targets: Vec::new(),
                    writable: (true, true),
                },
            })
            .collect();
        Ok(TableColumns { entity_set: table.entity_set.clone(), primary_id, columns, has_metadata: meta.is_some() })
    }

    /// The column a user means by `name`: a profile name, a logical name or a property.
    pub fn column(&self, name: &str) -> Option<&ColumnInfo> {
        self.columns.iter().find(|c| c.name == name).or_else(|| self.columns.iter().find(|c| c.property == name))
    }

    fn known(&self, name: &str) -> Result<&ColumnInfo> {
        self.column(name)
            .ok_or_else(|| Error::invalid(format!("{} has no column {name:?} in the sync profile", self.entity_set)))
    }

    /// Typed values for `name` from user text: `null` clears; lookups take `set(id)` (or the
    /// target's logical name instead of the set, or a bare id when the lookup has one target).
    ///
    /// # Errors
    /// `InvalidArgument` naming the column and what it expects (never echoing the value).
    pub fn values_from_text(&self, name: &str, text: &str) -> Result<Values> {
        let col = self.known(name)?;
        let mut out = Values::new();
        if text == "null" {
            out.insert(col.property.clone(), Value::Null);
            return Ok(out);
        }
        let bad = |what: &str| Error::invalid(format!("column {name} expects {what}"));
        let value = match col.kind {
            ColumnKind::Text => Value::text(text),
            ColumnKind::Integer => Value::Int(text.trim().parse().map_err(|_| bad("a whole number"))?),
            ColumnKind::Decimal => Value::decimal(text.trim()).map_err(|_| bad("a number"))?,
            ColumnKind::Boolean => match text.trim().to_ascii_lowercase().as_str() {
                "true" | "yes" | "1" => Value::Bool(true),
                "false" | "no" | "0" => Value::Bool(false),
                _ => return Err(bad("true or false")),
            },
            ColumnKind::Lookup => return self.lookup(col, text),
            ColumnKind::Unknown => infer(text),
        };
        out.insert(col.property.clone(), value);
        Ok(out)
    }

    /// Typed values for `name` from a parsed JSON value: strings go through
    /// [`TableColumns::values_from_text`] for lookups and typed columns. A parsed
    /// `serde_json::Value` holds a fractional number as an `f64`, which keeps about 15
    /// significant digits: such a number with more digits is refused rather than rounded (Money
    /// and Decimal values are exact); use [`TableColumns::values_from_json_text`], which reads
    /// numbers from the JSON text itself.
    ///
    /// # Errors
    /// As [`TableColumns::values_from_text`]; objects and arrays, and fractional numbers with
    /// more than 15 significant digits, are refused.
    pub fn values_from_json(&self, name: &str, json: &serde_json::Value) -> Result<Values> {
        match json {
            serde_json::Value::String(s) => self.values_from_text(name, s),
            serde_json::Value::Null => self.values_from_text(name, "null"),
            serde_json::Value::Bool(b) => self.values_from_text(name, if *b { "true" } else { "false" }),
            serde_json::Value::Number(n) if n.is_f64() => {
                let text = n.to_string();
                if text.chars().filter(char::is_ascii_digit).count() > 15 {
                    return Err(Error::invalid(format!(
                        "column {name}: the number has more digits than a parsed JSON number keeps exactly; \
                         give the JSON text instead (values_from_json_text)"
                    )));
                }
                self.values_from_text(name, &text)
            }
            serde_json::Value::Number(n) => self.values_from_text(name, &n.to_string()),
            _ => Err(Error::invalid(format!("column {name}: objects and arrays are not column values"))),
        }
    }

    /// Typed values from a JSON object's text (`{"name": "x", "revenue": 98765432109876.1234}`),
    /// numbers taken exactly as written (never through `f64`).
    ///
    /// # Errors
    /// `InvalidArgument` for text that is not a JSON object; as
    /// [`TableColumns::values_from_text`] for each member.
    pub fn values_from_json_text(&self, body: &str) -> Result<Values> {
        let obj: std::collections::BTreeMap<String, &serde_json::value::RawValue> =
            serde_json::from_str(body).map_err(|_| Error::invalid("not a JSON object"))?;
        let mut out = Values::new();
        for (k, raw) in obj {
            let text = raw.get().trim();
            let values = match text.as_bytes().first() {
                Some(b'"') => {
                    let s: String = serde_json::from_str(text).map_err(|_| Error::invalid("not a JSON object"))?;
                    self.values_from_text(&k, &s)?
                }
                Some(b'-' | b'0'..=b'9') | Some(b't' | b'f' | b'n') => self.values_from_text(&k, text)?,
                _ => return Err(Error::invalid(format!("column {k}: objects and arrays are not column values"))),
            };
            out.extend(values);
        }
        Ok(out)
    }

    fn lookup(&self, col: &ColumnInfo, text: &str) -> Result<Values> {
        let text = text.trim();
        let (target, id) = match text.strip_suffix(')').and_then(|t| t.split_once('(')) {
            Some((target, id)) => {
                let t = col
                    .targets
                    .iter()
                    .find(|(logical, set)| logical == target || set.as_deref() == Some(target))
                    .map(|(logical, _)| logical.clone())
                    .ok_or_else(|| {
                        let names: Vec<String> =
                            col.targets.iter().map(|(l, s)| s.clone().unwrap_or_else(|| l.clone())).collect();
                        Error::invalid(format!(
                            "column {} refers to {} (not {target:?})",
                            col.name,
                            if names.is_empty() { "an unknown table".to_string() } else { names.join(" or ") }
                        ))
                    })?;
                (t, id.trim().trim_matches('\''))
            }
            None if col.targets.len() == 1 => (col.targets[0].0.clone(), text),
            None => {
                return Err(Error::invalid(format!(
                "column {} is a lookup: give it as <entity set>(<id>), e.g. {}(00000000-0000-0000-0000-000000000000)",
                col.name,
                col.targets.first().and_then(|(_, s)| s.clone()).unwrap_or_else(|| "accounts".into())
            )))
            }
        };
        if !is_guid(id) {
            return Err(Error::invalid(format!("column {}: the id is not a GUID", col.name)));
        }
        let mut out = Values::new();
        out.insert(col.property.clone(), Value::text(id.to_ascii_lowercase()));
        out.insert(format!("{}{LOOKUP_TARGET}", col.property), Value::text(target));
        Ok(out)
    }

    /// A record as (column, value) pairs named as in the profile, the primary id first.
    pub fn view(&self, record: &Record) -> Vec<(String, Value)> {
        let mut out = Vec::with_capacity(self.columns.len() + 1);
        out.push((self.primary_id.clone(), Value::text(record.id.clone())));
        for c in &self.columns {
            if c.property == self.primary_id {
                continue;
            }
            out.push((c.name.clone(), record.values.get(&c.property).cloned().unwrap_or(Value::Null)));
        }
        out
    }
}

/// A value of an untyped column from text: `true`/`false`, a JSON number (an integer when it
/// has no fraction or exponent and fits), or text (`0555`, `+1`: not JSON numbers, so text).
fn infer(text: &str) -> Value {
    match text {
        "true" => Value::Bool(true),
        "false" => Value::Bool(false),
        _ => match Value::decimal(text) {
            Ok(d) => match text.parse::<i64>() {
                Ok(i) if !text.contains(['.', 'e', 'E']) => Value::Int(i),
                _ => d,
            },
            Err(_) => Value::text(text),
        },
    }
}

fn is_guid(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    fn cols() -> TableColumns {
        let col = |name: &str, property: &str, kind, targets: &[(&str, &str)]| ColumnInfo {
            name: name.into(),
            property: property.into(),
            kind,
            targets: targets.iter().map(|(l, s)| ((*l).to_string(), Some((*s).to_string()))).collect(),
            writable: (true, true),
        };
        TableColumns {
            entity_set: "contacts".into(),
            primary_id: "contactid".into(),
            columns: vec![
                col("lastname", "lastname", ColumnKind::Text, &[]),
                col("annualincome", "annualincome", ColumnKind::Decimal, &[]),
                col("gendercode", "gendercode", ColumnKind::Integer, &[]),
                col("donotemail", "donotemail", ColumnKind::Boolean, &[]),
                col(
                    "parentcustomerid",
                    "_parentcustomerid_value",
                    ColumnKind::Lookup,
                    &[("account", "accounts"), ("contact", "contacts")],
                ),
            ],
            has_metadata: true,
        }
    }

    const ID: &str = "0A1B2C3D-0000-4000-8000-000000000001";

    #[test]
    fn typed_values_from_text() {
        let c = cols();
        assert_eq!(c.values_from_text("lastname", "007").unwrap()["lastname"], Value::text("007"));
        assert_eq!(
            c.values_from_text("annualincome", "12.50").unwrap()["annualincome"],
            Value::Decimal("12.50".into())
        );
        assert_eq!(c.values_from_text("gendercode", "2").unwrap()["gendercode"], Value::Int(2));
        assert_eq!(c.values_from_text("donotemail", "yes").unwrap()["donotemail"], Value::Bool(true));
        assert_eq!(c.values_from_text("lastname", "null").unwrap()["lastname"], Value::Null);
        for (col, bad) in [("gendercode", "two"), ("annualincome", "1,5"), ("donotemail", "maybe")] {
            let e = c.values_from_text(col, bad).unwrap_err();
            assert!(matches!(&e, Error::InvalidArgument { reason } if reason.contains(col) && !reason.contains(bad)));
        }
        assert!(c.values_from_text("nosuch", "x").is_err());
    }

    #[test]
    fn lookups_from_text() {
        let c = cols();
        for text in [format!("accounts({ID})"), format!("account({ID})"), format!("accounts('{ID}')")] {
            let v = c.values_from_text("parentcustomerid", &text).unwrap();
            assert_eq!(v["_parentcustomerid_value"], Value::text(ID.to_ascii_lowercase()));
            assert_eq!(v[&format!("_parentcustomerid_value{LOOKUP_TARGET}")], Value::text("account"));
        }
        let v = c.values_from_text("parentcustomerid", &format!("contacts({ID})")).unwrap();
        assert_eq!(v[&format!("_parentcustomerid_value{LOOKUP_TARGET}")], Value::text("contact"));
        // two targets: the set is required; a wrong set or a bad id is refused
        assert!(c.values_from_text("parentcustomerid", ID).is_err());
        assert!(c.values_from_text("parentcustomerid", &format!("tasks({ID})")).is_err());
        assert!(c.values_from_text("parentcustomerid", "accounts(42)").is_err());
        assert_eq!(c.values_from_text("parentcustomerid", "null").unwrap()["_parentcustomerid_value"], Value::Null);
    }

    #[test]
    fn json_values_and_inference() {
        let c = cols();
        let v = c.values_from_json("annualincome", &serde_json::json!(1.25)).unwrap();
        assert_eq!(v["annualincome"], Value::Decimal("1.25".into()));
        assert!(c.values_from_json("lastname", &serde_json::json!({"a": 1})).is_err());
        assert_eq!(infer("5550100"), Value::Int(5_550_100));
        assert_eq!(infer("0555"), Value::text("0555"));
        assert_eq!(infer("1.5"), Value::Decimal("1.5".into()));
        assert_eq!(infer("Contoso"), Value::text("Contoso"));
    }
}
