//! Local query: a typed filter compiled to SQL with bound parameters only, ordering, and keyset
//! pagination.
//!
//! Semantics (the property test's reference evaluator implements exactly these):
//! - a column's value is the local view's JSON value: absent or `null` is NULL; booleans compare
//!   as 0/1; numbers numerically (decimals as `f64` *for comparison only*; stored exactly);
//! - text comparisons are case-insensitive with full Unicode case folding (`Straße` = `STRASSE`),
//!   then ordered by the folded text's bytes;
//! - comparing values of different kinds (text with a number) is *unknown*, as is any comparison
//!   with NULL; logic is SQL's three-valued logic, and only rows where the filter is *true* match
//!   (so `ne` and `not` do not match NULLs, as in Dataverse);
//! - `contains` / `starts_with` match literal substrings: `%`, `_`, quotes have no meaning, as
//!   they are never put in a LIKE pattern or in SQL text.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use outpost_wire::sql::{Param, SqlBuilder};
use rusqlite::types::Value as Sql;

use super::records::{is_identifier, sort_key_sql, table_id, Record, RecordState};
use super::value::from_json;
use super::Store;
use crate::error::{Error, Result};

pub use outpost_wire::filter::Filter;

/// One ordering key. Ties are broken by primary id, in the direction of the last key.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct OrderBy {
    /// Column name.
    pub column: String,
    /// Descending (NULLs last) instead of ascending (NULLs first).
    pub descending: bool,
}

/// An opaque position in a query's results; pass it back to get the next page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cursor(pub String);

/// A local query.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Query {
    /// Which records (all when `None`).
    pub filter: Option<Filter>,
    /// Ordering keys (by id when empty). Ordering by a table's `sortable` columns uses their
    /// index: each page costs O(page). Other columns work, at the cost of a scan.
    pub order_by: Vec<OrderBy>,
    /// Page size, 1 to 5000 (0 means 50).
    pub limit: u32,
    /// Continue after this position.
    pub after: Option<Cursor>,
}

/// One page of results.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The records, in order.
    pub records: Vec<Record>,
    /// Where the next page starts; `None` on the last page.
    pub next: Option<Cursor>,
}

#[derive(serde::Serialize, serde::Deserialize)]
struct CursorBody {
    o: Vec<OrderBy>,
    k: Vec<serde_json::Value>,
    id: String,
}

fn sql_to_json(v: &Sql) -> serde_json::Value {
    match v {
        Sql::Null => serde_json::Value::Null,
        Sql::Integer(i) => serde_json::json!({ "i": i }),
        Sql::Real(f) => serde_json::json!({ "r": f }),
        Sql::Text(t) => serde_json::json!({ "t": t }),
        Sql::Blob(_) => serde_json::Value::Null,
    }
}

fn json_to_param(v: &serde_json::Value) -> Result<Param> {
    let bad = || Error::invalid("malformed cursor");
    Ok(match v {
        serde_json::Value::Null => Param::Null,
        serde_json::Value::Object(m) => match m.iter().next() {
            Some((k, v)) if k == "i" => Param::Integer(v.as_i64().ok_or_else(bad)?),
            Some((k, v)) if k == "r" => Param::Real(v.as_f64().ok_or_else(bad)?),
            Some((k, v)) if k == "t" => Param::Text(v.as_str().ok_or_else(bad)?.to_string()),
            _ => return Err(bad()),
        },
        _ => return Err(bad()),
    })
}

/// A compiled parameter as rusqlite binds it.
fn to_sql(p: &Param) -> Sql {
    match p {
        Param::Null => Sql::Null,
        Param::Integer(i) => Sql::Integer(*i),
        Param::Real(f) => Sql::Real(*f),
        Param::Text(t) => Sql::Text(t.clone()),
    }
}

/// "Row comes after the cursor" for keys k0.. with the given directions, then id.
fn after_condition(sql: &mut SqlBuilder, order: &[OrderBy], keys: &[Param], id: &str) -> Result<()> {
    if keys.len() != order.len() {
        return Err(Error::invalid("cursor does not fit this query"));
    }
    let mut closes = 0;
    for (i, (o, v)) in order.iter().zip(keys).enumerate() {
        let k = format!("k{i}");
        match (o.descending, v) {
            (false, Param::Null) => sql.push(&format!("({k} IS NOT NULL OR ({k} IS NULL AND ")),
            (true, Param::Null) => sql.push(&format!("(0 OR ({k} IS NULL AND ")),
            (false, v) => {
                sql.push(&format!("({k} > "));
                sql.bind(v.clone());
                sql.push(&format!(" OR ({k} = "));
                sql.bind(v.clone());
                sql.push(" AND ");
            }
            (true, v) => {
                sql.push(&format!("({k} < "));
                sql.bind(v.clone());
                sql.push(&format!(" OR {k} IS NULL OR ({k} = "));
                sql.bind(v.clone());
                sql.push(" AND ");
            }
        }
        closes += 2;
    }
    sql.push(if order.last().is_some_and(|o| o.descending) { "id < " } else { "id > " });
    sql.bind(Param::Text(id.to_string()));
    sql.push(&")".repeat(closes));
    Ok(())
}

/// The SQL for one page of a query.
fn build(table_id: i64, q: &Query, cursor: Option<&CursorBody>, limit: u32) -> Result<SqlBuilder> {
    let mut sql = SqlBuilder::default();
    sql.push("SELECT id, json(data), etag, state");
    for i in 0..q.order_by.len() {
        sql.push(&format!(", k{i}"));
    }
    sql.push(" FROM (SELECT id, data, etag, state");
    for (i, o) in q.order_by.iter().enumerate() {
        if is_identifier(&o.column) {
            // Literal path: the same expression as the column's ordering index.
            sql.push(&format!(", {} AS k{i}", sort_key_sql(&o.column)));
        } else {
            sql.push(", outpost_fold(");
            sql.column(&o.column)?;
            sql.push(&format!(") AS k{i}"));
        }
    }
    sql.push(" FROM record WHERE table_id = ");
    sql.bind(Param::Integer(table_id));
    sql.push(" AND state <> 3");
    if let Some(f) = &q.filter {
        sql.push(" AND ");
        sql.filter(f)?;
    }
    sql.push(")");
    if let Some(cur) = cursor {
        let keys = cur.k.iter().map(json_to_param).collect::<Result<Vec<_>>>()?;
        sql.push(" WHERE ");
        after_condition(&mut sql, &q.order_by, &keys, &cur.id)?;
    }
    sql.push(" ORDER BY ");
    for (i, o) in q.order_by.iter().enumerate() {
        sql.push(&format!("k{i}{}, ", if o.descending { " DESC" } else { "" }));
    }
    sql.push(if q.order_by.last().is_some_and(|o| o.descending) { "id DESC LIMIT " } else { "id LIMIT " });
    sql.bind(Param::Integer(i64::from(limit) + 1));

    Ok(sql)
}

impl Store {
    /// Run a local query (reads see local pending edits; local deletes are hidden).
    ///
    /// Paging is by keyset: the cursor holds the last row's ordering keys, so each page costs
    /// about the same however deep the scroll. Pages are stable under concurrent edits in the
    /// sense of keyset paging (no row is returned twice).
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table, a bad column name, a bad decimal or a cursor from
    /// another query; `Storage`.
    pub fn query(&self, entity_set: &str, q: &Query) -> Result<Page> {
        let limit = match q.limit {
            0 => 50,
            n if n > 5000 => return Err(Error::invalid("limit must be at most 5000")),
            n => n,
        };
        let cursor = q
            .after
            .as_ref()
            .map(|c| -> Result<CursorBody> {
                let raw = URL_SAFE_NO_PAD.decode(&c.0).map_err(|_| Error::invalid("malformed cursor"))?;
                let body: CursorBody = serde_json::from_slice(&raw).map_err(|_| Error::invalid("malformed cursor"))?;
                if body.o != q.order_by {
                    return Err(Error::invalid("cursor does not fit this query"));
                }
                Ok(body)
            })
            .transpose()?;

        self.read(|c| {
            let (table_id, _) = table_id(c, entity_set)?;
            let sql = build(table_id, q, cursor.as_ref(), limit)?;
            let mut stmt = c.prepare_cached(&sql.text)?;
            let n_keys = q.order_by.len();
            let mut rows = stmt.query(rusqlite::params_from_iter(sql.params.iter().map(to_sql)))?;
            let mut records = Vec::new();
            let mut last_keys = Vec::new();
            let mut more = false;
            while let Some(row) = rows.next()? {
                if records.len() == limit as usize {
                    more = true;
                    break;
                }
                let json: String = row.get(1)?;
                records.push(Record {
                    id: row.get(0)?,
                    values: from_json(&json)?,
                    etag: row.get(2)?,
                    state: RecordState::from_code(row.get(3)?)?,
                });
                last_keys = (0..n_keys).map(|i| row.get::<_, Sql>(4 + i)).collect::<rusqlite::Result<_>>()?;
            }
            let next = match (more, records.last()) {
                (true, Some(last)) => {
                    let body = CursorBody {
                        o: q.order_by.clone(),
                        k: last_keys.iter().map(sql_to_json).collect(),
                        id: last.id.clone(),
                    };
                    let raw = serde_json::to_vec(&body).map_err(|e| Error::internal(e.to_string()))?;
                    Some(Cursor(URL_SAFE_NO_PAD.encode(raw)))
                }
                _ => None,
            };
            Ok(Page { records, next })
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{TableSpec, Value};
    use crate::{CreateOptions, KdfParams, Vault};

    /// Ordering by a sortable column walks its index: no sort step, so pages cost O(page).
    #[test]
    fn ordered_query_uses_the_column_index() {
        let dir = tempfile::tempdir().unwrap();
        let opts = CreateOptions {
            kdf: KdfParams::FLOOR,
            password_policy: crate::PasswordPolicy::Unchecked,
            ..CreateOptions::default()
        };
        let vault = Vault::create(dir.path(), b"pw", &opts).unwrap();
        let store = vault.store();
        let spec = TableSpec {
            entity_set: "accounts".into(),
            primary_id: "accountid".into(),
            searchable: vec![],
            sortable: vec!["name".into()],
        };
        store.register_table(&spec).unwrap();
        let plan = |order: &str, descending: bool, cursor: Option<&CursorBody>| -> String {
            let q = Query {
                order_by: vec![OrderBy { column: order.into(), descending }],
                filter: Some(Filter::Gt("numberofemployees".into(), Value::Int(3))),
                ..Query::default()
            };
            let sql = build(1, &q, cursor, 50).unwrap();
            store
                .read(|c| {
                    let mut stmt = c.prepare(&format!("EXPLAIN QUERY PLAN {}", sql.text))?;
                    let rows = stmt.query_map(rusqlite::params_from_iter(sql.params.iter().map(to_sql)), |r| {
                        r.get::<_, String>(3)
                    })?;
                    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?.join("; "))
                })
                .unwrap()
        };
        let after = CursorBody { o: vec![], k: vec![serde_json::json!({"t": "m"})], id: "x".into() };
        for descending in [false, true] {
            for cursor in [None, Some(&after)] {
                let p = plan("name", descending, cursor);
                assert!(p.contains("ix_1_name"), "{p}");
                assert!(!p.contains("TEMP B-TREE"), "{p}");
            }
        }
        assert!(plan("description", false, None).contains("TEMP B-TREE"), "unindexed columns sort");
    }
}
