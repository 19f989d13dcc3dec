//! The typed [`Filter`] → SQL text with bound parameters, for the store's `record` table (the
//! columns are paths into its JSON `data`). Pure code: the store binds [`Param`]s with rusqlite
//! and registers `outpost_fold` (SQLite function: [`fold`] on text, the identity otherwise).
//!
//! Values never go into the SQL text, only into parameters: the text is made of fixed fragments
//! and `?` placeholders, one per parameter, in order. Semantics are described in
//! `core/src/store/query.rs` (and checked against a reference evaluator by
//! `core/tests/query_prop.rs`).

use crate::error::{Error, Result};
use crate::filter::Filter;
use crate::value::Value;

/// One bound parameter.
#[derive(Debug, Clone, PartialEq)]
pub enum Param {
    /// SQL NULL.
    Null,
    /// A 64-bit integer.
    Integer(i64),
    /// A double.
    Real(f64),
    /// UTF-8 text.
    Text(String),
}

/// Full Unicode case folding (`Straße` = `STRASSE`): how text is compared, on both sides.
pub fn fold(s: &str) -> String {
    caseless::default_case_fold_str(s)
}

/// The JSON path of a column in `data`, e.g. `$."name"`.
///
/// # Errors
/// [`Error::Invalid`] for an empty name, one longer than 256 bytes, or one with `"`, `\` or a
/// control character.
pub fn column_path(name: &str) -> Result<String> {
    if name.is_empty() || name.len() > 256 || name.chars().any(|c| c == '"' || c == '\\' || c.is_control()) {
        return Err(Error::invalid(format!("bad column name {name:?}")));
    }
    Ok(format!("$.\"{name}\""))
}

/// SQL text and its parameters, built together so their order always agrees.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SqlBuilder {
    /// The SQL text: fixed fragments and one `?` per parameter.
    pub text: String,
    /// The parameters, in the order of their `?`.
    pub params: Vec<Param>,
}

impl SqlBuilder {
    /// Append fixed SQL text (never a value).
    pub fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }

    /// Append a placeholder bound to `v`.
    pub fn bind(&mut self, v: Param) {
        self.text.push('?');
        self.params.push(v);
    }

    /// The column's JSON value as an SQL value.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad column name ([`column_path`]).
    pub fn column(&mut self, name: &str) -> Result<()> {
        self.push("(data ->> ");
        self.bind(Param::Text(column_path(name)?));
        self.push(")");
        Ok(())
    }

    fn compare(&mut self, col: &str, op: &str, v: &Value) -> Result<()> {
        let (guard, param) = match v {
            Value::Null => {
                match op {
                    "=" => {
                        self.push("(");
                        self.column(col)?;
                        self.push(" IS NULL)");
                    }
                    "<>" => {
                        self.push("(");
                        self.column(col)?;
                        self.push(" IS NOT NULL)");
                    }
                    _ => self.push("NULL"),
                }
                return Ok(());
            }
            Value::Text(s) => ("= 'text'", Param::Text(fold(s))),
            Value::Bool(b) => ("IN ('integer', 'real')", Param::Integer(i64::from(*b))),
            Value::Int(i) => ("IN ('integer', 'real')", Param::Integer(*i)),
            Value::Decimal(d) => (
                "IN ('integer', 'real')",
                Param::Real(d.parse::<f64>().map_err(|_| Error::invalid("bad decimal in filter"))?),
            ),
        };
        let text = matches!(v, Value::Text(_));
        self.push("(CASE WHEN typeof(");
        self.column(col)?;
        self.push(&format!(") {guard} THEN "));
        if text {
            self.push("outpost_fold(");
            self.column(col)?;
            self.push(")");
        } else {
            self.column(col)?;
        }
        self.push(&format!(" {op} "));
        self.bind(param);
        self.push(" END)");
        Ok(())
    }

    fn substring(&mut self, col: &str, needle: &str, prefix: bool) -> Result<()> {
        self.push("(CASE WHEN typeof(");
        self.column(col)?;
        self.push(") = 'text' THEN instr(outpost_fold(");
        self.column(col)?;
        self.push("), ");
        self.bind(Param::Text(fold(needle)));
        self.push(if prefix { ") = 1 END)" } else { ") > 0 END)" });
        Ok(())
    }

    /// Append the condition for `f`: an SQL expression that is true, false or NULL (unknown)
    /// for a row, with three-valued logic.
    ///
    /// # Errors
    /// [`Error::Invalid`] for a bad column name or a `Value::Decimal` that is not a number.
    pub fn filter(&mut self, f: &Filter) -> Result<()> {
        match f {
            Filter::Eq(c, v) => self.compare(c, "=", v),
            Filter::Ne(c, v) => self.compare(c, "<>", v),
            Filter::Lt(c, v) => self.compare(c, "<", v),
            Filter::Le(c, v) => self.compare(c, "<=", v),
            Filter::Gt(c, v) => self.compare(c, ">", v),
            Filter::Ge(c, v) => self.compare(c, ">=", v),
            Filter::Contains(c, s) => self.substring(c, s, false),
            Filter::StartsWith(c, s) => self.substring(c, s, true),
            Filter::IsNull(c) => {
                self.push("(");
                self.column(c)?;
                self.push(" IS NULL)");
                Ok(())
            }
            Filter::In(c, vs) => {
                let ors = vs.iter().map(|v| Filter::Eq(c.clone(), v.clone())).collect();
                self.filter(&Filter::Or(ors))
            }
            Filter::And(fs) | Filter::Or(fs) => {
                let (op, empty) = if matches!(f, Filter::And(_)) { (" AND ", "1") } else { (" OR ", "0") };
                if fs.is_empty() {
                    self.push(empty);
                    return Ok(());
                }
                self.push("(");
                for (i, sub) in fs.iter().enumerate() {
                    if i > 0 {
                        self.push(op);
                    }
                    self.filter(sub)?;
                }
                self.push(")");
                Ok(())
            }
            Filter::Not(sub) => {
                self.push("(NOT ");
                self.filter(sub)?;
                self.push(")");
                Ok(())
            }
        }
    }
}

/// Compile `f` alone: its condition and parameters.
///
/// # Errors
/// As [`SqlBuilder::filter`].
pub fn compile(f: &Filter) -> Result<SqlBuilder> {
    let mut sql = SqlBuilder::default();
    sql.filter(f)?;
    Ok(sql)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_bound_never_written() {
        let f = Filter::And(vec![
            Filter::Eq("name".into(), Value::text("x' OR 1=1 --")),
            Filter::Contains("notes".into(), "%_".into()),
            Filter::Gt("revenue".into(), Value::Decimal("1.5E6".into())),
            Filter::Ne("email".into(), Value::Null),
        ]);
        let sql = compile(&f).unwrap();
        assert_eq!(sql.text.matches('?').count(), sql.params.len());
        assert!(!sql.text.contains("OR 1=1") && !sql.text.contains("%_") && !sql.text.contains("name"));
        assert!(sql.params.contains(&Param::Text("x' or 1=1 --".into())));
        assert!(sql.params.contains(&Param::Real(1.5e6)));
        assert!(sql.text.contains("IS NOT NULL"));
    }

    #[test]
    fn empty_chains_and_errors() {
        assert_eq!(compile(&Filter::And(vec![])).unwrap().text, "1");
        assert_eq!(compile(&Filter::Or(vec![])).unwrap().text, "0");
        assert_eq!(
            compile(&Filter::Eq("a\"b".into(), Value::Int(1))),
            Err(Error::Invalid { reason: "bad column name \"a\\\"b\"".into() })
        );
        assert_eq!(
            compile(&Filter::Lt("n".into(), Value::Decimal("abc".into()))),
            Err(Error::Invalid { reason: "bad decimal in filter".into() })
        );
        assert_eq!(compile(&Filter::Lt("n".into(), Value::Null)).unwrap().text, "NULL");
    }
}
