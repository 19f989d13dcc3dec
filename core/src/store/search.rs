//! Full-text search over each table's searchable columns (FTS5, diacritics removed).
//!
//! Ranking every match of a term present in most rows costs tens of milliseconds (every match
//! is scored by bm25). The search therefore scores a bounded candidate set: the first
//! [`CANDIDATES`] matches in index order, then keeps the best `limit` of those. For selective
//! queries (fewer matches than the bound) the ranking is exact; for common terms it is the best
//! of the bounded set, which keeps them fast. `docs/adr/0002-storage-layout.md` records this.

use rusqlite::params;

use super::records::{fts_table, table_id, Record, RecordState};
use super::value::from_json;
use super::Store;
use crate::error::{Error, Result};

/// How many matches are scored at most per search.
pub const CANDIDATES: u32 = 2000;

/// One search result.
#[derive(Debug, Clone, PartialEq)]
pub struct SearchHit {
    /// The record (local view).
    pub record: Record,
    /// bm25 score: lower is better.
    pub score: f64,
}

/// Turn user text into an FTS5 query that cannot be misread as FTS syntax: every term is quoted;
/// a trailing `*` on a term makes it a prefix. Terms are AND-ed.
fn match_expression(text: &str) -> Option<String> {
    let terms: Vec<String> = text
        .split_whitespace()
        .filter_map(|raw| {
            let (word, prefix) = match raw.strip_suffix('*') {
                Some(w) => (w, true),
                None => (raw, false),
            };
            let word = word.replace('"', "");
            (!word.is_empty()).then(|| format!("\"{word}\"{}", if prefix { "*" } else { "" }))
        })
        .collect();
    if terms.is_empty() {
        return None;
    }
    Some(terms.join(" "))
}

impl Store {
    /// Full-text search in one table: best `limit` matches (1 to 500), best first. Sees local
    /// edits; hides local deletes.
    ///
    /// # Errors
    /// `InvalidArgument` for an unknown table or a bad limit; `Storage`.
    pub fn search(&self, entity_set: &str, text: &str, limit: u32) -> Result<Vec<SearchHit>> {
        if limit == 0 || limit > 500 {
            return Err(Error::invalid("search limit must be 1 to 500"));
        }
        self.read(|c| {
            let (table_id, _) = table_id(c, entity_set)?;
            let Some(expr) = match_expression(text) else {
                return Ok(Vec::new());
            };
            let fts = fts_table(table_id);
            let mut stmt = c.prepare_cached(&format!(
                "SELECT r.id, json(r.data), r.etag, r.state, m.score FROM \
                   (SELECT rowid AS rid, bm25({fts}) AS score FROM {fts} WHERE {fts} MATCH ?1 LIMIT ?2) AS m \
                 JOIN record r ON r.rid = m.rid \
                 WHERE r.state <> 3 \
                 ORDER BY m.score LIMIT ?3"
            ))?;
            let rows = stmt.query_map(params![expr, CANDIDATES, limit], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, Option<String>>(2)?,
                    r.get::<_, i64>(3)?,
                    r.get::<_, f64>(4)?,
                ))
            })?;
            rows.map(|row| {
                let (id, json, etag, state, score) = row?;
                Ok(SearchHit {
                    record: Record { id, values: from_json(&json)?, etag, state: RecordState::from_code(state)? },
                    score,
                })
            })
            .collect()
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_text_is_quoted() {
        assert_eq!(match_expression(r#"caf* "OR" NEAR(x"#).as_deref(), Some(r#""caf"* "OR" "NEAR(x""#));
        assert_eq!(match_expression("  * \" "), None);
    }
}
