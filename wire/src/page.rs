//! One page of a collection or delta response, parsed in a single streaming pass straight into
//! the rows the store writes: no intermediate JSON tree, numbers kept as their exact text,
//! properties the profile did not ask for (and unknown annotations) skipped without allocation.
//!
//! Pure code (the sync engine fetches the bodies and the store writes the rows);
//! `tests/page.rs` holds its property tests, `fuzz/` its fuzz target.

use std::collections::HashSet;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;

use crate::value::{Value, Values};

/// The annotation that names a lookup's target table (ADR 0004).
pub const LOOKUP_LOGICAL_NAME: &str = "@Microsoft.Dynamics.CRM.lookuplogicalname";
const METADATA_VERSION: &str = "@Microsoft.Dynamics.CRM.globalmetadataversion";

/// A row as pulled from the server.
#[derive(Debug, Clone, PartialEq)]
pub struct ServerRow {
    /// Primary id.
    pub id: String,
    /// Column values.
    pub values: Values,
    /// `@odata.etag`.
    pub etag: Option<String>,
}

/// A parsed page.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Page {
    /// The rows, in the server's order; the primary id is also in `values`, lower-cased.
    pub rows: Vec<ServerRow>,
    /// Ids of `$deletedEntity` entries.
    pub deleted: Vec<String>,
    /// `@odata.nextLink`: the next page of this pass.
    pub next_link: Option<String>,
    /// `@odata.deltaLink`: where the next incremental pass starts (last page only).
    pub delta_link: Option<String>,
    /// `@Microsoft.Dynamics.CRM.globalmetadataversion`.
    pub metadata_version: Option<String>,
}

/// What to keep from each row.
#[derive(Debug, Clone, Copy)]
pub struct Shape<'a> {
    /// Primary id property, e.g. `accountid`.
    pub primary_id: &'a str,
    /// Properties to keep (the `$select`).
    pub keep: &'a HashSet<String>,
}

/// Why a page body was refused. The message names the kind of fault only, never the body's
/// content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    /// The body ended early.
    #[error("malformed page: truncated")]
    Truncated,
    /// Not JSON.
    #[error("malformed page: syntax error")]
    Syntax,
    /// JSON, but not an OData collection (no `value` array, a row without its primary id, …).
    #[error("malformed page: unexpected shape")]
    Shape,
    /// The reader failed.
    #[error("malformed page: read error")]
    Read,
}

/// Parse a page body.
///
/// # Errors
/// A [`PageError`] naming what was wrong, never the body's content.
pub fn parse(body: &[u8], shape: &Shape<'_>) -> Result<Page, PageError> {
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = PageSeed(shape).deserialize(&mut de).map_err(|e| classify(&e))?;
    de.end().map_err(|e| classify(&e))?;
    Ok(page)
}

fn classify(e: &serde_json::Error) -> PageError {
    match e.classify() {
        serde_json::error::Category::Eof => PageError::Truncated,
        serde_json::error::Category::Syntax => PageError::Syntax,
        serde_json::error::Category::Data => PageError::Shape,
        serde_json::error::Category::Io => PageError::Read,
    }
}

struct PageSeed<'s, 'a>(&'s Shape<'a>);

impl<'de> DeserializeSeed<'de> for PageSeed<'_, '_> {
    type Value = Page;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Page, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_, '_> {
    type Value = Page;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an OData collection object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Page, A::Error> {
        let mut page = Page::default();
        let mut saw_value = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match key.as_ref() {
                "value" => {
                    saw_value = true;
                    map.next_value_seed(RowsSeed(self.0, &mut page))?;
                }
                "@odata.nextLink" => page.next_link = Some(map.next_value()?),
                "@odata.deltaLink" => page.delta_link = Some(map.next_value()?),
                METADATA_VERSION => {
                    let raw: &RawValue = map.next_value()?;
                    page.metadata_version = Some(raw.get().trim_matches('"').to_string());
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        if !saw_value {
            return Err(serde::de::Error::custom("no value array"));
        }
        Ok(page)
    }
}

struct RowsSeed<'s, 'a, 'p>(&'s Shape<'a>, &'p mut Page);

impl<'de> DeserializeSeed<'de> for RowsSeed<'_, '_, '_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> Visitor<'de> for RowsSeed<'_, '_, '_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an array of rows")
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(row) = seq.next_element_seed(RowSeed(self.0))? {
            match row {
                Parsed::Row(r) => self.1.rows.push(r),
                Parsed::Deleted(id) => self.1.deleted.push(id),
            }
        }
        Ok(())
    }
}

enum Parsed {
    Row(ServerRow),
    Deleted(String),
}

struct RowSeed<'s, 'a>(&'s Shape<'a>);

impl<'de> DeserializeSeed<'de> for RowSeed<'_, '_> {
    type Value = Parsed;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Parsed, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for RowSeed<'_, '_> {
    type Value = Parsed;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a row object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Parsed, A::Error> {
        use serde::de::Error as _;
        let shape = self.0;
        let mut values = Values::new();
        let mut etag = None;
        let mut id: Option<String> = None;
        let mut bare_id: Option<String> = None;
        let mut deleted = false;
        while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            let key = key.as_ref();
            if key == "@odata.etag" {
                etag = Some(map.next_value::<String>()?);
            } else if key == "@odata.context" {
                let ctx: std::borrow::Cow<'de, str> = map.next_value()?;
                deleted = ctx.ends_with("/$deletedEntity");
            } else if key == shape.primary_id {
                let v: Option<String> = map.next_value()?;
                id = v;
            } else if key == "id" && !shape.keep.contains("id") {
                bare_id = map.next_value()?;
            } else if let Some(prop) = key.strip_suffix(LOOKUP_LOGICAL_NAME) {
                if shape.keep.contains(prop) {
                    let target: Option<String> = map.next_value()?;
                    if let Some(t) = target {
                        values.insert(key.to_string(), Value::Text(t));
                    }
                } else {
                    map.next_value::<IgnoredAny>()?;
                }
            } else if shape.keep.contains(key) {
                let raw: &'de RawValue = map.next_value()?;
                values.insert(key.to_string(), Value::from_raw(raw).map_err(|_| A::Error::custom("bad value"))?);
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        if deleted {
            let id = bare_id.or(id).ok_or_else(|| A::Error::custom("deleted entity without id"))?;
            return Ok(Parsed::Deleted(id));
        }
        let id = id.ok_or_else(|| A::Error::custom("row without its primary id"))?;
        values.insert(shape.primary_id.to_string(), Value::Text(id.to_ascii_lowercase()));
        Ok(Parsed::Row(ServerRow { id, values, etag }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape_of(cols: &[&str]) -> HashSet<String> {
        cols.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn parses_rows_links_deletes_and_ignores_noise() {
        let body = br#"{
          "@odata.context": "https://org/api/data/v9.2/$metadata#accounts(name,revenue)/$delta",
          "@Microsoft.Dynamics.CRM.totalrecordcount": -1,
          "@Microsoft.Dynamics.CRM.globalmetadataversion": "7340017",
          "value": [
            {"@odata.etag": "W/\"915244\"", "name": "Monte \"O\" Orton", "revenue": 20000.0000,
             "new_foundedon": "1999-01-31", "_parentaccountid_value": "6580CD10-03ec-4978-8a96-e1da5e9c44b5",
             "_parentaccountid_value@Microsoft.Dynamics.CRM.lookuplogicalname": "account",
             "_parentaccountid_value@OData.Community.Display.V1.FormattedValue": "Contoso",
             "_owningbusinessunit_value": "ff8cc54a-5f01-4498-9577-c982798bb10a", "unknown": {"nested": [1, 2]},
             "accountid": "60C4E274-0d87-e711-80e5-00155db19e6d"},
            {"@odata.context": "https://org/api/data/v9.2/$metadata#accounts/$deletedEntity",
             "id": "2e451703-c686-e711-80e5-00155db19e6d", "reason": "deleted"}
          ],
          "@odata.deltaLink": "https://org/api/data/v9.2/accounts?$select=name&$deltatoken=919058%2108"
        }"#;
        let keep = shape_of(&["name", "revenue", "new_foundedon", "_parentaccountid_value"]);
        let page = parse(body, &Shape { primary_id: "accountid", keep: &keep }).unwrap();
        assert_eq!(page.rows.len(), 1);
        assert_eq!(page.deleted, vec!["2e451703-c686-e711-80e5-00155db19e6d".to_string()]);
        assert_eq!(page.metadata_version.as_deref(), Some("7340017"));
        assert!(page.next_link.is_none());
        assert!(page.delta_link.unwrap().ends_with("919058%2108"));
        let row = &page.rows[0];
        assert_eq!(row.etag.as_deref(), Some("W/\"915244\""));
        assert_eq!(row.values["revenue"], Value::Decimal("20000.0000".into()));
        assert_eq!(row.values["new_foundedon"], Value::text("1999-01-31"));
        assert_eq!(row.values["name"], Value::text("Monte \"O\" Orton"));
        assert_eq!(row.values["accountid"], Value::text("60c4e274-0d87-e711-80e5-00155db19e6d"));
        assert_eq!(row.values[&format!("_parentaccountid_value{LOOKUP_LOGICAL_NAME}")], Value::text("account"));
        assert!(!row.values.contains_key("_owningbusinessunit_value"));
        assert!(!row.values.contains_key("unknown"));
        assert_eq!(row.values.len(), 6);
    }

    #[test]
    fn truncated_and_malformed_pages_are_errors_never_panics() {
        let body = br#"{"value":[{"@odata.etag":"W/\"1\"","name":"a","accountid":"x"}],"@odata.nextLink":"n"}"#;
        let keep = shape_of(&["name"]);
        let shape = Shape { primary_id: "accountid", keep: &keep };
        assert!(parse(body, &shape).is_ok());
        for cut in 0..body.len() {
            assert!(parse(&body[..cut], &shape).is_err(), "prefix {cut}");
        }
        let e = parse(b"{\"value\": [}", &shape).unwrap_err().to_string();
        assert!(!e.contains("value"), "{e}");
        assert!(parse(b"{\"@odata.context\":\"x\"}", &shape).is_err());
        assert!(parse(br#"{"value":[{"name":"no id"}]}"#, &shape).is_err());
        assert!(parse(br#"{"value":[]} trailing"#, &shape).is_err());
    }
}
