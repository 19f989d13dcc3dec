//! OData `$filter` text → the typed [`Filter`].
//!
//! The subset, precisely (with examples, and what is rejected), is in `docs/filter.md`. In
//! short: a column compared with a literal (`eq ne gt ge lt le`), `in` lists, `contains` and
//! `startswith`, `and` / `or` / `not` and parentheses, with OData's precedence
//! (`not` > `and` > `or`). Keywords and function names are lower-case only.
//!
//! Pure code: no SQLite, no I/O (`outpost_core::parse_filter` calls it; [`crate::sql`] compiles
//! the result). `tests/filter.rs` holds its property tests, `fuzz/` its fuzz target.
//!
//! Hostile input is bounded: the text is at most [`MAX_TEXT_BYTES`] long and nests at most
//! [`MAX_DEPTH`] levels of parentheses and `not`, so the recursion (a few frames per level)
//! cannot exhaust the stack. Every error names what is wrong and its character offset, and
//! quotes operators, function names and column names only, never a value: values may be
//! customer data.

use std::fmt;

use crate::error::{Error, Result};
use crate::value::Value;

/// A typed filter over a table's columns.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// column = value (`Value::Null`: is null).
    Eq(String, Value),
    /// column ≠ value (`Value::Null`: is not null).
    Ne(String, Value),
    /// column < value.
    Lt(String, Value),
    /// column ≤ value.
    Le(String, Value),
    /// column > value.
    Gt(String, Value),
    /// column ≥ value.
    Ge(String, Value),
    /// Text column contains the text (case-insensitive, literal).
    Contains(String, String),
    /// Text column starts with the text (case-insensitive, literal).
    StartsWith(String, String),
    /// column equals one of the values.
    In(String, Vec<Value>),
    /// column is null or absent.
    IsNull(String),
    /// All of them (an empty list is true).
    And(Vec<Filter>),
    /// Any of them (an empty list is false).
    Or(Vec<Filter>),
    /// Negation (three-valued: not unknown is unknown).
    Not(Box<Filter>),
}

/// Longest accepted `$filter` text, in bytes (16 KiB).
pub const MAX_TEXT_BYTES: usize = 16 * 1024;

/// Deepest accepted nesting: open parentheses plus `not`s around any point of the text.
pub const MAX_DEPTH: usize = 64;

/// Longest accepted column name (OData identifiers have at most 128 characters).
const MAX_NAME_CHARS: usize = 128;

/// The comparison operators (lower-case, as required).
const COMPARISONS: [&str; 6] = ["eq", "ne", "gt", "ge", "lt", "le"];

/// OData arithmetic operators: recognised only to reject them by name.
const ARITHMETIC: [&str; 6] = ["add", "sub", "mul", "div", "divby", "mod"];

/// Words that are keywords in a condition's first position, for the lower-case hint.
const LEADING_KEYWORDS: [&str; 7] = ["not", "true", "false", "null", "contains", "startswith", "endswith"];

/// Parse OData `$filter` text into a [`Filter`].
///
/// Supported (see `docs/filter.md` for the exact grammar):
/// - `col eq v`, `ne`, `gt`, `ge`, `lt`, `le`, with the column on the left; `col eq null` is
///   `Filter::Eq(col, Value::Null)` (is null), `col ne null` is `Filter::Ne(col, Value::Null)`;
/// - `col in (v1, v2, …)` → `Filter::In`;
/// - `contains(col,'text')`, `startswith(col,'text')`;
/// - `and`, `or`, `not`, parentheses; `not` > `and` > `or`; chains (also parenthesised ones)
///   are flattened into one `Filter::And` / `Filter::Or`;
/// - literals: `'text'` (`''` is a quote), integers (`Value::Int`, or `Value::Decimal` beyond
///   64 bits), decimals and exponents (`Value::Decimal`, exact text), `true`, `false`, `null`,
///   unquoted GUIDs (`Value::Text`, lower-cased), unquoted dates `2024-02-29` and date-times
///   `2024-02-29T10:00:00Z` (`Value::Text`, exactly as written).
///
/// Keywords and function names are lower-case only. The text is taken as it is: nothing is
/// URL-decoded (`%20` is three characters, not a space).
///
/// # Errors
/// [`Error::Invalid`] (`outpost_core::Error::InvalidArgument`) if the text is empty, longer
/// than 16 KiB, nested deeper than 64 levels (parentheses and `not`), malformed, or uses a
/// construct outside the subset (arithmetic, `has`, lambdas, navigation paths, `endswith`,
/// other functions, comparing two columns, the value on the left, …). The reason starts with `$filter:`, says what is wrong and at which
/// character offset (counted from 0), and never quotes a value from the text.
///
/// # Examples
/// ```
/// use outpost_wire::filter::{parse_filter, Filter};
/// use outpost_wire::value::Value;
///
/// let f = parse_filter("statecode eq 0 and (contains(name,'contoso') or revenue gt 1.5E6)")?;
/// assert_eq!(
///     f,
///     Filter::And(vec![
///         Filter::Eq("statecode".into(), Value::Int(0)),
///         Filter::Or(vec![
///             Filter::Contains("name".into(), "contoso".into()),
///             Filter::Gt("revenue".into(), Value::decimal("1.5E6")?),
///         ]),
///     ])
/// );
/// # Ok::<(), outpost_wire::Error>(())
/// ```
pub fn parse_filter(text: &str) -> Result<Filter> {
    if text.len() > MAX_TEXT_BYTES {
        return Err(Error::invalid(format!(
            "$filter: the text is {} bytes long; at most {MAX_TEXT_BYTES} are accepted",
            text.len()
        )));
    }
    let mut p = Parser { text, pos: 0, depth: 0 };
    p.skip_ws();
    if p.at_end() {
        return Err(Error::invalid("$filter: the filter is empty"));
    }
    let filter = p.or_expr(After::Start)?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.after_condition(None));
    }
    Ok(filter)
}

/// What came before the condition being parsed, for "expected a condition after …".
#[derive(Clone, Copy)]
enum After {
    Start,
    Open,
    And,
    Or,
}

impl After {
    fn text(self) -> &'static str {
        match self {
            After::Start => "",
            After::Open => " after '('",
            After::And => " after 'and'",
            After::Or => " after 'or'",
        }
    }
}

/// A recursive-descent parser over the text's bytes. Every syntax character is ASCII, so
/// positions outside string literals always fall on character boundaries; inside a literal
/// only `'` (never part of a multi-byte character) is looked for.
struct Parser<'a> {
    text: &'a str,
    /// Byte position of the next unread character.
    pos: usize,
    /// Parentheses and `not`s currently open.
    depth: usize,
}

fn is_name_start(b: u8) -> bool {
    b.is_ascii_alphabetic() || b == b'_'
}

fn is_name_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Characters an unquoted literal (number, GUID, date, date-time, keyword) is made of.
fn is_literal_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'_' | b'.' | b':' | b'+' | b'-')
}

/// ", found 'c'" for ASCII punctuation (never a letter or digit: those may belong to a value).
fn found(b: u8) -> String {
    match b {
        b'"' => ", found '\"' (strings are in single quotes: 'like this')".to_string(),
        b'\'' => ", found a string".to_string(),
        b'=' | b'<' | b'>' | b'!' => {
            format!(", found '{}' (write eq, ne, lt, le, gt, ge instead of symbols)", char::from(b))
        }
        b if b.is_ascii_punctuation() => format!(", found '{}'", char::from(b)),
        _ => String::new(),
    }
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.byte_at(self.pos)
    }

    fn byte_at(&self, at: usize) -> Option<u8> {
        self.text.as_bytes().get(at).copied()
    }

    fn at_end(&self) -> bool {
        self.pos >= self.text.len()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b'\r' | b'\n')) {
            self.pos += 1;
        }
    }

    /// The longest run of bytes at `at` accepted by `accept` (possibly empty).
    fn run_at(&self, at: usize, accept: fn(u8) -> bool) -> &'a str {
        let bytes = self.text.as_bytes();
        let mut end = at;
        while bytes.get(end).is_some_and(|&b| accept(b)) {
            end += 1;
        }
        self.text.get(at..end).unwrap_or("")
    }

    /// The name-like word (`[A-Za-z0-9_]*`) at `at`.
    fn word_at(&self, at: usize) -> &'a str {
        self.run_at(at, is_name_byte)
    }

    /// Character offset (from 0) of byte position `at`.
    fn offset(&self, at: usize) -> usize {
        self.text.get(..at).map_or(at, |s| s.chars().count())
    }

    fn error(&self, at: usize, what: impl fmt::Display) -> Error {
        let end = if at >= self.text.len() { " (end of text)" } else { "" };
        Error::invalid(format!("$filter: {what} at offset {}{end}", self.offset(at)))
    }

    /// One more level of nesting, opened at `at`.
    fn enter(&mut self, at: usize) -> Result<()> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(
                self.error(at, format_args!("nesting is deeper than {MAX_DEPTH} levels of parentheses and 'not'"))
            );
        }
        Ok(())
    }

    /// `and_expr ("or" and_expr)*`
    fn or_expr(&mut self, after: After) -> Result<Filter> {
        let mut items = Vec::new();
        push_flat(&mut items, self.and_expr(after)?, false);
        loop {
            self.skip_ws();
            if self.word_at(self.pos) != "or" {
                break;
            }
            self.pos += 2;
            push_flat(&mut items, self.and_expr(After::Or)?, false);
        }
        Ok(collapse(items, Filter::Or))
    }

    /// `unary ("and" unary)*`
    fn and_expr(&mut self, after: After) -> Result<Filter> {
        let mut items = Vec::new();
        push_flat(&mut items, self.unary(after)?, true);
        loop {
            self.skip_ws();
            if self.word_at(self.pos) != "and" {
                break;
            }
            self.pos += 3;
            push_flat(&mut items, self.unary(After::And)?, true);
        }
        Ok(collapse(items, Filter::And))
    }

    /// `"not" unary | primary`, where `not` must be followed by `(`, `not` or a function call.
    fn unary(&mut self, after: After) -> Result<Filter> {
        self.skip_ws();
        let start = self.pos;
        if self.word_at(start) != "not" {
            return self.primary(after);
        }
        self.pos += 3;
        self.enter(start)?;
        self.skip_ws();
        let next = self.pos;
        let follows = match self.peek() {
            Some(b'(') => true,
            Some(b) if is_name_start(b) => {
                let word = self.word_at(next);
                word == "not" || self.byte_at(next + word.len()) == Some(b'(')
            }
            _ => false,
        };
        if !follows {
            return Err(if self.at_end() {
                self.error(next, "expected a condition after 'not'")
            } else {
                self.error(next, "'not' must be followed by '(', 'not' or a function call (write: not (col eq value))")
            });
        }
        let inner = self.unary(After::Start)?;
        self.depth -= 1;
        Ok(Filter::Not(Box::new(inner)))
    }

    /// `"(" or_expr ")" | function call | comparison`
    fn primary(&mut self, after: After) -> Result<Filter> {
        self.skip_ws();
        let start = self.pos;
        let Some(b) = self.peek() else {
            return Err(self.error(start, format_args!("expected a condition{}", after.text())));
        };
        match b {
            b'(' => {
                self.pos += 1;
                self.enter(start)?;
                let inner = self.or_expr(After::Open)?;
                self.skip_ws();
                if self.peek() != Some(b')') {
                    return Err(self.after_condition(Some(start)));
                }
                self.pos += 1;
                self.depth -= 1;
                Ok(inner)
            }
            b'\'' | b'0'..=b'9' => Err(self.value_on_left(start)),
            b'-' | b'+' if self.byte_at(start + 1).is_some_and(|b| b.is_ascii_digit()) => {
                Err(self.value_on_left(start))
            }
            b'-' => Err(self.error(start, "negation ('-') is not supported")),
            b'$' => Err(self.error(start, "'$it', '$root' and other '$' names are not supported")),
            b'@' => Err(self.error(start, "parameter aliases ('@name') are not supported")),
            b'[' | b'{' => Err(self.error(start, "JSON array and object literals are not supported")),
            b if is_name_start(b) => self.name_expr(after),
            b => Err(self.error(start, format_args!("expected a condition{}{}", after.text(), found(b)))),
        }
    }

    fn value_on_left(&self, at: usize) -> Error {
        self.error(
            at,
            "a condition must start with a column name or a function; the column goes on the left \
             (write 'col gt 5', not '5 lt col')",
        )
    }

    /// A condition starting with a name: a function call or `column op value`.
    fn name_expr(&mut self, after: After) -> Result<Filter> {
        let start = self.pos;
        let name = self.name_at(start)?;
        let end = start + name.len();
        let lower = name.to_ascii_lowercase();
        if name != lower && LEADING_KEYWORDS.contains(&lower.as_str()) {
            return Err(self.error(
                start,
                format_args!("keywords and function names are lower-case: write '{lower}', found '{name}'"),
            ));
        }
        match name {
            "true" | "false" | "null" => return Err(self.value_on_left(start)),
            "and" | "or" => {
                return Err(self.error(start, format_args!("expected a condition{}, found '{name}'", after.text())))
            }
            _ if COMPARISONS.contains(&name) || name == "in" || name == "has" => {
                return Err(self.error(start, format_args!("expected a column name before '{name}'")))
            }
            _ => {}
        }
        match self.byte_at(end) {
            Some(b'(') => {
                self.pos = end;
                return self.function(name, start);
            }
            Some(b'.') => return Err(self.qualified(start)),
            Some(b'/') => return Err(self.path(end)),
            _ => {}
        }
        let column = self.column(start, name)?;
        self.pos = end;
        self.skip_ws();
        let op_at = self.pos;
        let op = self.word_at(op_at);
        let compare: fn(String, Value) -> Filter = match op {
            "eq" => Filter::Eq,
            "ne" => Filter::Ne,
            "gt" => Filter::Gt,
            "ge" => Filter::Ge,
            "lt" => Filter::Lt,
            "le" => Filter::Le,
            "in" => {
                self.pos += 2;
                let values = self.list()?;
                return Ok(Filter::In(column, values));
            }
            _ => return Err(self.operator_error(name, op_at)),
        };
        self.pos += 2;
        let value = self.value(&format!("after '{op}'"))?;
        Ok(compare(column, value))
    }

    /// The name at `at`, refusing a non-ASCII character glued to it.
    fn name_at(&self, at: usize) -> Result<&'a str> {
        let name = self.word_at(at);
        let end = at + name.len();
        if self.byte_at(end).is_some_and(|b| !b.is_ascii()) {
            return Err(self.error(end, "unexpected character in a name (names are ASCII letters, digits and '_')"));
        }
        Ok(name)
    }

    /// A column name, checked.
    fn column(&self, at: usize, name: &str) -> Result<String> {
        if name.len() > MAX_NAME_CHARS {
            return Err(self.error(at, format_args!("a column name is longer than {MAX_NAME_CHARS} characters")));
        }
        Ok(name.to_string())
    }

    /// The error for what follows a column where an operator should be.
    fn operator_error(&self, column: &str, at: usize) -> Error {
        const EXPECTED: &str = "expected an operator (eq, ne, gt, ge, lt, le or in)";
        let op = self.word_at(at);
        let lower = op.to_ascii_lowercase();
        let lower = lower.as_str();
        match self.byte_at(at) {
            None => self.error(at, format_args!("{EXPECTED} after '{column}'")),
            Some(b'(') => self.error(
                at,
                format_args!("{EXPECTED} after '{column}' (a function name is followed by '(' without a space)"),
            ),
            Some(b) if op.is_empty() => self.error(at, format_args!("{EXPECTED} after '{column}'{}", found(b))),
            Some(_) if ARITHMETIC.contains(&lower) => {
                self.error(at, format_args!("arithmetic operator '{op}' is not supported"))
            }
            Some(_) if lower == "has" => self.error(at, "'has' (enumeration flags) is not supported"),
            Some(_) if op != lower && (COMPARISONS.contains(&lower) || lower == "in") => {
                self.error(at, format_args!("operators are lower-case: write '{lower}', found '{op}'"))
            }
            Some(_) if lower == "and" || lower == "or" => self.error(
                at,
                format_args!(
                    "'{column}' alone is not a condition: compare it with a value (for a yes/no column: \
                     {column} eq true)"
                ),
            ),
            Some(_) => self.error(at, format_args!("{EXPECTED} after '{column}'")),
        }
    }

    /// The error for a dotted name at `at` (Dataverse query functions, casts, enum members).
    fn qualified(&self, at: usize) -> Error {
        let name = self.run_at(at, |b| is_name_byte(b) || b == b'.');
        let shown = if name.len() <= 2 * MAX_NAME_CHARS { format!(" '{name}'") } else { String::new() };
        if name.starts_with("Microsoft.Dynamics.CRM.") {
            self.error(at, format_args!("Dataverse query functions{shown} are not supported"))
        } else {
            self.error(
                at,
                format_args!("qualified names{shown} (functions, types, enumeration members) are not supported"),
            )
        }
    }

    /// The error for a `/` at `at` (navigation path or lambda).
    fn path(&self, at: usize) -> Error {
        let next = self.word_at(at + 1);
        if matches!(next.to_ascii_lowercase().as_str(), "any" | "all") {
            self.error(at, "lambda operators ('any', 'all') are not supported")
        } else {
            self.error(
                at,
                "navigation paths ('a/b') are not supported (filter on a lookup's '_name_value' column instead)",
            )
        }
    }

    /// `contains(col,'text')` or `startswith(col,'text')`; `self.pos` is at the `(`.
    fn function(&mut self, name: &str, start: usize) -> Result<Filter> {
        let lower = name.to_ascii_lowercase();
        match name {
            "contains" | "startswith" => {}
            "endswith" => {
                return Err(self.error(
                    start,
                    "'endswith' is not supported: the local store matches only 'contains' and 'startswith'",
                ))
            }
            _ if lower == "and" || lower == "or" || COMPARISONS.contains(&lower.as_str()) => {
                return Err(self.error(start, format_args!("expected a condition, found '{name}'")))
            }
            _ => {
                let shown = if name.len() <= MAX_NAME_CHARS { format!(" '{name}'") } else { String::new() };
                return Err(self.error(
                    start,
                    format_args!("function{shown} is not supported (only 'contains' and 'startswith')"),
                ));
            }
        }
        self.pos += 1;
        self.skip_ws();
        let col_at = self.pos;
        let first_arg = || self.error(col_at, format_args!("{name}: the first argument must be a column name"));
        if !self.peek().is_some_and(is_name_start) {
            return Err(first_arg());
        }
        let col = self.name_at(col_at)?;
        let col_end = col_at + col.len();
        match self.byte_at(col_end) {
            Some(b'(') => return Err(first_arg()),
            Some(b'.') => return Err(self.qualified(col_at)),
            Some(b'/') => return Err(self.path(col_end)),
            _ => {}
        }
        if matches!(col, "true" | "false" | "null") {
            return Err(first_arg());
        }
        let column = self.column(col_at, col)?;
        self.pos = col_end;
        self.skip_ws();
        if self.peek() != Some(b',') {
            return Err(self.error(self.pos, format_args!("{name}: expected ',' after the column name")));
        }
        self.pos += 1;
        self.skip_ws();
        if self.peek() != Some(b'\'') {
            let hint = if self.peek() == Some(b'"') { " ('like this', not \"like this\")" } else { "" };
            return Err(self.error(self.pos, format_args!("{name}: the second argument must be a quoted string{hint}")));
        }
        let needle = self.string()?;
        self.skip_ws();
        match self.peek() {
            Some(b')') => self.pos += 1,
            Some(b',') => return Err(self.error(self.pos, format_args!("{name} takes two arguments"))),
            _ => return Err(self.error(self.pos, format_args!("{name}: expected ')' after the second argument"))),
        }
        Ok(if name == "contains" { Filter::Contains(column, needle) } else { Filter::StartsWith(column, needle) })
    }

    /// `"(" value ("," value)* ")"` after `in`.
    fn list(&mut self) -> Result<Vec<Value>> {
        self.skip_ws();
        let open = self.pos;
        match self.peek() {
            Some(b'(') => self.pos += 1,
            Some(b'[') => return Err(self.error(open, "an 'in' list is written in parentheses: col in ('a','b')")),
            _ => return Err(self.error(open, "expected '(' after 'in'")),
        }
        self.skip_ws();
        if self.peek() == Some(b')') {
            return Err(self.error(self.pos, "an 'in' list needs at least one value"));
        }
        let mut values = Vec::new();
        loop {
            values.push(self.value("in the 'in' list")?);
            self.skip_ws();
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b')') => {
                    self.pos += 1;
                    return Ok(values);
                }
                None => {
                    return Err(self.error(
                        self.pos,
                        format_args!(
                            "the 'in' list's '(' at offset {} is not closed: expected ',' or ')'",
                            self.offset(open)
                        ),
                    ))
                }
                Some(b) => {
                    return Err(self.error(self.pos, format_args!("expected ',' or ')' in the 'in' list{}", found(b))))
                }
            }
        }
    }

    /// One literal; `context` completes "expected a value …".
    fn value(&mut self, context: &str) -> Result<Value> {
        self.skip_ws();
        let at = self.pos;
        let Some(b) = self.peek() else {
            return Err(self.error(at, format_args!("expected a value {context}")));
        };
        match b {
            b'\'' => return Ok(Value::Text(self.string()?)),
            b'(' => {
                return Err(self.error(
                    at,
                    format_args!("expected a value {context}; parenthesised and computed values are not supported"),
                ))
            }
            b'[' | b'{' => return Err(self.error(at, "JSON array and object literals are not supported")),
            b'$' => return Err(self.error(at, "'$it', '$root' and other '$' names are not supported")),
            b'@' => return Err(self.error(at, "parameter aliases ('@name') are not supported")),
            _ => {}
        }
        let lit = self.run_at(at, is_literal_byte);
        if lit.is_empty() {
            return Err(self.error(at, format_args!("expected a value {context}{}", found(b))));
        }
        let end = at + lit.len();
        match self.byte_at(end) {
            Some(b'\'') => {
                return Err(
                    self.error(at, "typed literals (duration'…', binary'…', enumeration members) are not supported")
                )
            }
            Some(b'(') => {
                return Err(self.error(
                    at,
                    format_args!(
                        "expected a value {context}, found a function call (functions are not supported there)"
                    ),
                ))
            }
            Some(b'/') => return Err(self.path(end)),
            _ => {}
        }
        match literal(lit) {
            Some(v) => {
                self.pos = end;
                Ok(v)
            }
            None => Err(self.literal_error(at, lit, context)),
        }
    }

    /// Why the unquoted `lit` at `at` is not a literal (without quoting it: it may be data).
    fn literal_error(&self, at: usize, lit: &str, context: &str) -> Error {
        let lower = lit.to_ascii_lowercase();
        let bytes = lit.as_bytes();
        if matches!(lower.as_str(), "true" | "false" | "null") {
            return self.error(at, format_args!("literals are lower-case: write '{lower}'"));
        }
        if matches!(lit, "INF" | "-INF" | "NaN") {
            return self.error(at, "INF and NaN are not supported");
        }
        if bytes.first().is_some_and(|&b| is_name_start(b)) && bytes.iter().all(|&b| is_name_byte(b)) {
            return self.error(
                at,
                format_args!(
                    "expected a value {context}, found a name (comparing two columns is not supported; \
                     text goes in single quotes: 'like this')"
                ),
            );
        }
        if lit.get(..10).is_some_and(is_date) && matches!(bytes.get(10), Some(b'T' | b't')) {
            return self.error(
                at,
                format_args!(
                    "malformed date-time {context} (write YYYY-MM-DDThh:mm, optionally :ss and .fraction, \
                     then Z or +hh:mm / -hh:mm)"
                ),
            );
        }
        self.error(
            at,
            format_args!(
                "malformed value {context} (expected a quoted string, a number, true, false, null, a GUID, \
                 a date YYYY-MM-DD or a date-time YYYY-MM-DDThh:mm:ssZ)"
            ),
        )
    }

    /// A string literal; `self.pos` is at the opening quote. `''` is one quote.
    fn string(&mut self) -> Result<String> {
        let open = self.pos;
        let bytes = self.text.as_bytes();
        let mut out = String::new();
        let mut segment = open + 1;
        let mut i = segment;
        loop {
            match bytes.get(i) {
                None => {
                    return Err(self.error(open, "unterminated string (a quote inside a string is written '')"));
                }
                Some(b'\'') => {
                    out.push_str(self.text.get(segment..i).unwrap_or(""));
                    if bytes.get(i + 1) == Some(&b'\'') {
                        out.push('\'');
                        i += 2;
                        segment = i;
                    } else {
                        self.pos = i + 1;
                        return Ok(out);
                    }
                }
                Some(_) => i += 1,
            }
        }
    }

    /// The error for what follows a complete condition when it is not `and`, `or`, the closing
    /// `)` of the group opened at `open`, or the end.
    fn after_condition(&self, open: Option<usize>) -> Error {
        let at = self.pos;
        let expected = if open.is_some() { "expected 'and', 'or' or ')'" } else { "expected 'and', 'or' or the end" };
        let Some(b) = self.peek() else {
            return match open {
                Some(o) => {
                    self.error(at, format_args!("the '(' at offset {} is not closed: expected ')'", self.offset(o)))
                }
                None => self.error(at, expected),
            };
        };
        if b == b')' && open.is_none() {
            return self.error(at, "unexpected ')' without a matching '('");
        }
        if !is_name_start(b) {
            return self.error(at, format_args!("{expected}{}", found(b)));
        }
        let word = self.word_at(at);
        let lower = word.to_ascii_lowercase();
        let lower = lower.as_str();
        if COMPARISONS.contains(&lower) || lower == "in" {
            self.error(
                at,
                format_args!(
                    "unexpected '{word}': only a column can be compared with a value (for a function, write \
                     contains(…) or not contains(…), not contains(…) eq true)"
                ),
            )
        } else if lower == "and" || lower == "or" {
            self.error(at, format_args!("operators are lower-case: write '{lower}', found '{word}'"))
        } else if ARITHMETIC.contains(&lower) {
            self.error(at, format_args!("arithmetic operator '{word}' is not supported"))
        } else if lower == "has" {
            self.error(at, "'has' (enumeration flags) is not supported")
        } else {
            self.error(at, expected)
        }
    }
}

/// Add `f` to an `and` (`and == true`) or `or` chain, splicing a chain of the same kind.
fn push_flat(items: &mut Vec<Filter>, f: Filter, and: bool) {
    match f {
        Filter::And(inner) if and => items.extend(inner),
        Filter::Or(inner) if !and => items.extend(inner),
        f => items.push(f),
    }
}

/// A chain of one is its element.
fn collapse(mut items: Vec<Filter>, wrap: fn(Vec<Filter>) -> Filter) -> Filter {
    if items.len() == 1 {
        if let Some(f) = items.pop() {
            return f;
        }
    }
    wrap(items)
}

/// An unquoted literal, or `None`.
fn literal(lit: &str) -> Option<Value> {
    match lit {
        "true" => Some(Value::Bool(true)),
        "false" => Some(Value::Bool(false)),
        "null" => Some(Value::Null),
        _ if is_guid(lit) => Some(Value::Text(lit.to_ascii_lowercase())),
        _ if is_date(lit) || is_date_time(lit) => Some(Value::Text(lit.to_string())),
        _ => number(lit),
    }
}

/// `[+-]digits[.digits][(e|E)[+-]digits]`: `Value::Int` if it is an integer that fits in 64
/// bits, otherwise `Value::Decimal` with its text kept, except that a leading `+` and leading
/// zeros of the integer part are dropped (so the text is a JSON number).
fn number(lit: &str) -> Option<Value> {
    let b = lit.as_bytes();
    let digits_from = |mut i: usize| {
        while b.get(i).is_some_and(u8::is_ascii_digit) {
            i += 1;
        }
        i
    };
    let negative = b.first() == Some(&b'-');
    let int_start = usize::from(matches!(b.first(), Some(b'-' | b'+')));
    let int_end = digits_from(int_start);
    if int_end == int_start {
        return None;
    }
    let mut i = int_end;
    let mut integer = true;
    if b.get(i) == Some(&b'.') {
        let end = digits_from(i + 1);
        if end == i + 1 {
            return None;
        }
        i = end;
        integer = false;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let end = digits_from(i);
        if end == i {
            return None;
        }
        i = end;
        integer = false;
    }
    if i != b.len() {
        return None;
    }
    let int_part = lit.get(int_start..int_end)?.trim_start_matches('0');
    let mut text = String::with_capacity(lit.len());
    if negative {
        text.push('-');
    }
    text.push_str(if int_part.is_empty() { "0" } else { int_part });
    text.push_str(lit.get(int_end..)?);
    if integer {
        if let Ok(n) = text.parse::<i64>() {
            return Some(Value::Int(n));
        }
    }
    Value::decimal(text).ok()
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// Two decimal digits at `i`, as a number.
fn two_digits(b: &[u8], i: usize) -> Option<u8> {
    match (b.get(i), b.get(i + 1)) {
        (Some(h @ b'0'..=b'9'), Some(l @ b'0'..=b'9')) => Some((h - b'0') * 10 + (l - b'0')),
        _ => None,
    }
}

/// `YYYY-MM-DD` with month 01–12 and day 01–31 (OData's date grammar, four-digit years).
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10
        && b.get(..4).is_some_and(|y| y.iter().all(u8::is_ascii_digit))
        && b.get(4) == Some(&b'-')
        && b.get(7) == Some(&b'-')
        && two_digits(b, 5).is_some_and(|m| (1..=12).contains(&m))
        && two_digits(b, 8).is_some_and(|d| (1..=31).contains(&d))
}

/// `hh:mm` at `i` (hour 00–23, minute 00–59); the position after it.
fn hour_minute(b: &[u8], i: usize) -> Option<usize> {
    (two_digits(b, i)? <= 23 && b.get(i + 2) == Some(&b':') && two_digits(b, i + 3)? <= 59).then_some(i + 5)
}

/// `date T hh:mm[:ss[.f{1,12}]] (Z | ±hh:mm)` (OData's dateTimeOffsetValue, four-digit years).
fn is_date_time(s: &str) -> bool {
    let b = s.as_bytes();
    if !s.get(..10).is_some_and(is_date) || !matches!(b.get(10), Some(b'T' | b't')) {
        return false;
    }
    let Some(mut i) = hour_minute(b, 11) else { return false };
    if b.get(i) == Some(&b':') {
        if two_digits(b, i + 1).is_none_or(|sec| sec > 59) {
            return false;
        }
        i += 3;
        if b.get(i) == Some(&b'.') {
            let start = i + 1;
            i = start;
            while b.get(i).is_some_and(u8::is_ascii_digit) {
                i += 1;
            }
            if !(1..=12).contains(&(i - start)) {
                return false;
            }
        }
    }
    match b.get(i) {
        Some(b'Z' | b'z') => i + 1 == b.len(),
        Some(b'+' | b'-') => hour_minute(b, i + 1) == Some(b.len()),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)] // test code

    use super::*;

    fn parse(text: &str) -> Filter {
        match parse_filter(text) {
            Ok(f) => f,
            Err(e) => panic!("{text:?}: {e}"),
        }
    }

    /// The `Invalid` reason for `text`.
    fn reason(text: &str) -> String {
        match parse_filter(text) {
            Err(Error::Invalid { reason }) => reason,
            other => panic!("{text:?} gave {other:?}"),
        }
    }

    fn eq(c: &str, v: Value) -> Filter {
        Filter::Eq(c.into(), v)
    }

    fn text(s: &str) -> Value {
        Value::Text(s.into())
    }

    fn dec(s: &str) -> Value {
        Value::decimal(s).unwrap()
    }

    #[test]
    fn comparisons() {
        let v = || Value::Int(5);
        assert_eq!(parse("n eq 5"), Filter::Eq("n".into(), v()));
        assert_eq!(parse("n ne 5"), Filter::Ne("n".into(), v()));
        assert_eq!(parse("n gt 5"), Filter::Gt("n".into(), v()));
        assert_eq!(parse("n ge 5"), Filter::Ge("n".into(), v()));
        assert_eq!(parse("n lt 5"), Filter::Lt("n".into(), v()));
        assert_eq!(parse("n le 5"), Filter::Le("n".into(), v()));
        assert_eq!(parse("name eq 'Contoso'"), eq("name", text("Contoso")));
        assert_eq!(parse("_parentaccountid_value eq null"), eq("_parentaccountid_value", Value::Null));
    }

    #[test]
    fn null_means_is_null_and_is_not_null() {
        assert_eq!(parse("email eq null"), Filter::Eq("email".into(), Value::Null));
        assert_eq!(parse("email ne null"), Filter::Ne("email".into(), Value::Null));
        // Valid OData; matches no row (any ordering comparison with NULL is unknown).
        assert_eq!(parse("n lt null"), Filter::Lt("n".into(), Value::Null));
    }

    #[test]
    fn whitespace() {
        let want = Filter::And(vec![eq("a", Value::Int(1)), eq("b", Value::Int(2))]);
        assert_eq!(parse("a eq 1 and b eq 2"), want);
        assert_eq!(parse("  a   eq\t1\n and\r\nb  eq  2  "), want);
        assert_eq!(parse("(a eq 1)and(b eq 2)"), want);
        assert_eq!(parse("a eq'x'"), eq("a", text("x")));
        assert_eq!(parse("contains( name , 'x' )"), Filter::Contains("name".into(), "x".into()));
        // No URL decoding: %20 is not a space.
        assert_eq!(parse("a eq 'x%20y'"), eq("a", text("x%20y")));
        assert!(reason("a%20eq%201").contains("expected an operator"));
    }

    #[test]
    fn precedence_not_and_or() {
        let (a, b, c) = (eq("a", Value::Int(1)), eq("b", Value::Int(2)), eq("c", Value::Int(3)));
        assert_eq!(
            parse("a eq 1 or b eq 2 and c eq 3"),
            Filter::Or(vec![a.clone(), Filter::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            parse("a eq 1 and b eq 2 or c eq 3"),
            Filter::Or(vec![Filter::And(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            parse("(a eq 1 or b eq 2) and c eq 3"),
            Filter::And(vec![Filter::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(parse("not (a eq 1) and b eq 2"), Filter::And(vec![Filter::Not(Box::new(a.clone())), b.clone()]));
        assert_eq!(
            parse("not contains(name,'x') or b eq 2"),
            Filter::Or(vec![Filter::Not(Box::new(Filter::Contains("name".into(), "x".into()))), b.clone()])
        );
        assert_eq!(parse("not (a eq 1 or b eq 2)"), Filter::Not(Box::new(Filter::Or(vec![a.clone(), b.clone()]))));
        assert_eq!(parse("not not (a eq 1)"), Filter::Not(Box::new(Filter::Not(Box::new(a.clone())))));
        assert_eq!(parse("not(a eq 1)"), Filter::Not(Box::new(a.clone())));
    }

    #[test]
    fn chains_flatten() {
        let (a, b, c, d) =
            (eq("a", Value::Int(1)), eq("b", Value::Int(2)), eq("c", Value::Int(3)), eq("d", Value::Int(4)));
        let all = Filter::And(vec![a.clone(), b.clone(), c.clone(), d.clone()]);
        assert_eq!(parse("a eq 1 and b eq 2 and c eq 3 and d eq 4"), all);
        assert_eq!(parse("(a eq 1 and b eq 2) and (c eq 3 and d eq 4)"), all);
        assert_eq!(parse("a eq 1 and (b eq 2 and (c eq 3 and d eq 4))"), all);
        assert_eq!(parse("a eq 1 or (b eq 2 or c eq 3)"), Filter::Or(vec![a.clone(), b.clone(), c.clone()]));
        // A different kind inside is kept.
        assert_eq!(
            parse("a eq 1 and (b eq 2 or c eq 3)"),
            Filter::And(vec![a.clone(), Filter::Or(vec![b.clone(), c.clone()])])
        );
        assert_eq!(parse("((((a eq 1))))"), a);
    }

    #[test]
    fn names_that_start_with_keywords() {
        assert_eq!(
            parse("android eq 1 and origin eq 2 or notes eq 3 and in_stock eq true"),
            Filter::Or(vec![
                Filter::And(vec![eq("android", Value::Int(1)), eq("origin", Value::Int(2))]),
                Filter::And(vec![eq("notes", Value::Int(3)), eq("in_stock", Value::Bool(true))]),
            ])
        );
        assert_eq!(parse("not_a_keyword eq 1"), eq("not_a_keyword", Value::Int(1)));
        assert_eq!(parse("A_1 eq 1"), eq("A_1", Value::Int(1)));
    }

    #[test]
    fn in_lists() {
        assert_eq!(parse("code in ('a','b',1)"), Filter::In("code".into(), vec![text("a"), text("b"), Value::Int(1)]));
        assert_eq!(parse("code in('a')"), Filter::In("code".into(), vec![text("a")]));
        assert_eq!(
            parse("x in ( null , true , 2.5 , 2024-02-29 , 00000000-0000-0000-0000-0000000000AB )"),
            Filter::In(
                "x".into(),
                vec![
                    Value::Null,
                    Value::Bool(true),
                    dec("2.5"),
                    text("2024-02-29"),
                    text("00000000-0000-0000-0000-0000000000ab")
                ]
            )
        );
        assert_eq!(reason("code in ()"), "$filter: an 'in' list needs at least one value at offset 9");
        assert_eq!(reason("code in ('a',)"), "$filter: expected a value in the 'in' list, found ')' at offset 13");
        assert_eq!(reason("code in 'a'"), "$filter: expected '(' after 'in' at offset 8");
        assert_eq!(
            reason("code in ('a'"),
            "$filter: the 'in' list's '(' at offset 8 is not closed: expected ',' or ')' at offset 12 (end of text)"
        );
        assert_eq!(
            reason("code in ('a' 'b')"),
            "$filter: expected ',' or ')' in the 'in' list, found a string at offset 13"
        );
        assert!(reason("code in ['a']").contains("in parentheses"));
        assert!(reason("code IN ('a')").contains("write 'in', found 'IN'"));
    }

    #[test]
    fn functions() {
        assert_eq!(parse("contains(name,'sample')"), Filter::Contains("name".into(), "sample".into()));
        assert_eq!(parse("startswith(name,'Con')"), Filter::StartsWith("name".into(), "Con".into()));
        assert_eq!(parse("contains(name,'')"), Filter::Contains("name".into(), String::new()));
        assert_eq!(
            reason("endswith(name,'x')"),
            "$filter: 'endswith' is not supported: the local store matches only 'contains' and 'startswith' \
             at offset 0"
        );
        assert!(reason("Contains(name,'x')").contains("lower-case: write 'contains', found 'Contains'"));
        assert!(reason("tolower(name) eq 'x'").contains("function 'tolower' is not supported"));
        assert!(reason("contains(tolower(name),'x')").contains("contains: the first argument must be a column name"));
        assert!(reason("contains('x',name)").contains("contains: the first argument must be a column name"));
        assert!(reason("contains(name,5)").contains("contains: the second argument must be a quoted string"));
        assert!(reason("contains(name,\"x\")").contains("not \"like this\""));
        assert!(reason("contains(name)").contains("contains: expected ',' after the column name"));
        assert!(reason("contains(name,'x','y')").contains("contains takes two arguments"));
        assert!(reason("contains(name,'x'").contains("contains: expected ')' after the second argument"));
        assert!(reason("contains (name,'x')").contains("without a space"));
        assert!(reason("contains(name,'x') eq true").contains("unexpected 'eq': only a column can be compared"));
    }

    #[test]
    fn string_quotes() {
        assert_eq!(parse("n eq 'O''Neil'"), eq("n", text("O'Neil")));
        assert_eq!(parse("n eq ''''"), eq("n", text("'")));
        assert_eq!(parse("n eq ''"), eq("n", text("")));
        assert_eq!(parse("n eq 'a''''b'"), eq("n", text("a''b")));
        assert_eq!(parse("n eq ' and b eq 1 '"), eq("n", text(" and b eq 1 ")));
        assert_eq!(parse("n eq 'Straße 東京 🚀'"), eq("n", text("Straße 東京 🚀")));
        assert_eq!(parse("n eq '%_\"\\'"), eq("n", text("%_\"\\")));
        assert_eq!(reason("n eq 'O'Neil'"), "$filter: expected 'and', 'or' or the end at offset 8");
        assert_eq!(
            reason("n eq 'abc"),
            "$filter: unterminated string (a quote inside a string is written '') at offset 5"
        );
        assert!(reason("n eq \"x\"").contains("single quotes"));
    }

    #[test]
    fn numbers() {
        assert_eq!(parse("n eq 0"), eq("n", Value::Int(0)));
        assert_eq!(parse("n eq -5"), eq("n", Value::Int(-5)));
        assert_eq!(parse("n eq +5"), eq("n", Value::Int(5)));
        assert_eq!(parse("n eq 007"), eq("n", Value::Int(7)));
        assert_eq!(parse("n eq -0"), eq("n", Value::Int(0)));
        assert_eq!(parse("n eq 9223372036854775807"), eq("n", Value::Int(i64::MAX)));
        assert_eq!(parse("n eq -9223372036854775808"), eq("n", Value::Int(i64::MIN)));
        // Beyond 64 bits: Decimal, text kept.
        assert_eq!(parse("n eq 9223372036854775808"), eq("n", dec("9223372036854775808")));
        assert_eq!(parse("n eq -9223372036854775809"), eq("n", dec("-9223372036854775809")));
        assert_eq!(parse("n eq 123456789012345678901234567890"), eq("n", dec("123456789012345678901234567890")));
        assert_eq!(parse("n eq 0009223372036854775808"), eq("n", dec("9223372036854775808")));
        // Decimals keep their exact text.
        assert_eq!(parse("n eq 1.50"), eq("n", dec("1.50")));
        assert_eq!(parse("n eq -0.0"), eq("n", dec("-0.0")));
        assert_eq!(parse("n eq 1E+20"), eq("n", dec("1E+20")));
        assert_eq!(parse("n eq 2e-3"), eq("n", dec("2e-3")));
        assert_eq!(parse("n eq 5e0"), eq("n", dec("5e0")));
        assert_eq!(parse("n eq 1234.5600e05"), eq("n", dec("1234.5600e05")));
        // Only a leading '+' and redundant leading zeros are dropped (to make a JSON number).
        assert_eq!(parse("n eq +1.5"), eq("n", dec("1.5")));
        assert_eq!(parse("n eq 00.5"), eq("n", dec("0.5")));
        assert_eq!(parse("n eq -007.25"), eq("n", dec("-7.25")));
        for bad in ["1.", ".5", "1e", "1e+", "1.5M", "10L", "0x10", "1.2.3", "--1", "+-1", "1-2", "+"] {
            let r = reason(&format!("n eq {bad}"));
            assert!(r.contains("at offset 5"), "{bad}: {r}");
        }
        assert!(reason("n eq 1.5M").contains("malformed value after 'eq'"));
        assert!(reason("n eq INF").contains("INF and NaN are not supported"));
        assert!(reason("n eq -INF").contains("INF and NaN are not supported"));
        assert!(reason("n eq NaN").contains("INF and NaN are not supported"));
    }

    #[test]
    fn booleans() {
        assert_eq!(parse("f eq true"), eq("f", Value::Bool(true)));
        assert_eq!(parse("f ne false"), Filter::Ne("f".into(), Value::Bool(false)));
        assert_eq!(reason("f eq TRUE"), "$filter: literals are lower-case: write 'true' at offset 5");
        assert!(reason("f eq Null").contains("write 'null'"));
        assert!(reason("f eq truex").contains("found a name"));
    }

    #[test]
    fn guids() {
        let id = "5a2b3c4d-0000-4e5f-8a9b-0c1d2e3f4a5b";
        assert_eq!(parse(&format!("accountid eq {id}")), eq("accountid", text(id)));
        assert_eq!(parse(&format!("accountid eq {}", id.to_uppercase())), eq("accountid", text(id)));
        assert_eq!(
            parse("accountid eq abcdef01-2345-6789-abcd-ef0123456789"),
            eq("accountid", text("abcdef01-2345-6789-abcd-ef0123456789"))
        );
        // Quoted: text exactly as written.
        assert_eq!(parse("accountid eq 'ABC'"), eq("accountid", text("ABC")));
        assert_eq!(
            parse("accountid eq '5A2B3C4D-0000-4E5F-8A9B-0C1D2E3F4A5B'"),
            eq("accountid", text("5A2B3C4D-0000-4E5F-8A9B-0C1D2E3F4A5B"))
        );
        for bad in [
            "5a2b3c4d-0000-4e5f-8a9b-0c1d2e3f4a5",
            "5a2b3c4d00000-4e5f-8a9b-0c1d2e3f4a5b",
            "5a2b3c4d-0000-4e5f-8a9b-0c1d2e3f4a5g",
        ] {
            assert!(reason(&format!("x eq {bad}")).contains("at offset 5"), "{bad}");
        }
        // OData 4.0 style only; the old guid'…' form is a typed literal.
        assert!(reason(&format!("x eq guid'{id}'")).contains("typed literals"));
    }

    #[test]
    fn dates_and_date_times() {
        for ok in [
            "2024-02-29",
            "0001-01-01",
            "2024-02-29T10:00Z",
            "2024-02-29T10:00:00Z",
            "2024-02-29T10:00:00.1234567Z",
            "2024-02-29T23:59:59+01:00",
            "2024-02-29T00:00:00-05:30",
            "2024-02-29t10:00:00z",
        ] {
            assert_eq!(parse(&format!("d ge {ok}")), Filter::Ge("d".into(), text(ok)), "{ok}");
        }
        assert_eq!(
            parse("createdon ge 2024-01-01T00:00:00Z and createdon lt 2024-02-01T00:00:00Z"),
            Filter::And(vec![
                Filter::Ge("createdon".into(), text("2024-01-01T00:00:00Z")),
                Filter::Lt("createdon".into(), text("2024-02-01T00:00:00Z")),
            ])
        );
        for bad in [
            "2024-13-01",
            "2024-00-10",
            "2024-01-32",
            "2024-1-01",
            "24-01-01",
            "2024-02-29T10:00:00",
            "2024-02-29T24:00:00Z",
            "2024-02-29T10:60:00Z",
            "2024-02-29T10:00:60Z",
            "2024-02-29T10:00:00.Z",
            "2024-02-29T10:00:00.1234567890123Z",
            "2024-02-29T10:00:00+1:00",
            "2024-02-29T10:00:00+01:00Z",
            "2024-02-29T10Z",
        ] {
            let r = reason(&format!("d ge {bad}"));
            assert!(r.contains("malformed") && r.contains("at offset 5"), "{bad}: {r}");
        }
        assert!(reason("d ge 2024-02-29T10:00:00").contains("malformed date-time after 'ge'"));
        assert!(reason("d ge 10:00:00").contains("malformed value"));
        assert!(reason("d ge duration'P1D'").contains("typed literals"));
    }

    #[test]
    fn value_on_the_left_is_rejected() {
        let want = "$filter: a condition must start with a column name or a function; the column goes on the \
                    left (write 'col gt 5', not '5 lt col') at offset 0";
        assert_eq!(reason("5 lt numberofemployees"), want);
        assert_eq!(reason("'x' eq name"), want);
        assert_eq!(reason("-5 lt n"), want);
        assert_eq!(reason("null eq n"), want);
        assert!(reason("a eq 1 and 2 eq b").contains("at offset 11"));
    }

    #[test]
    fn unsupported_constructs_are_named() {
        let cases = [
            ("price add 2 eq 5", "arithmetic operator 'add' is not supported at offset 6"),
            ("price eq 2 mul 3", "arithmetic operator 'mul' is not supported at offset 11"),
            ("style has Sales.Pattern'Yellow'", "'has' (enumeration flags) is not supported at offset 6"),
            ("contacts/any(c:c/name eq 'x')", "lambda operators ('any', 'all') are not supported at offset 8"),
            ("contacts/all(c:c/name eq 'x')", "lambda operators ('any', 'all') are not supported at offset 8"),
            ("primarycontactid/fullname eq 'x'", "navigation paths ('a/b') are not supported"),
            ("$it/name eq 'x'", "'$it', '$root' and other '$' names are not supported at offset 0"),
            ("name eq $root/x", "'$it', '$root' and other '$' names are not supported at offset 8"),
            ("name eq @p1", "parameter aliases ('@name') are not supported at offset 8"),
            ("tolower(name) eq 'x'", "function 'tolower' is not supported (only 'contains' and 'startswith')"),
            ("length(name) gt 3", "function 'length' is not supported"),
            ("Microsoft.Dynamics.CRM.Today(PropertyName='createdon')", "Dataverse query functions"),
            ("name eq Sales.Color'Red'", "typed literals"),
            ("firstname eq lastname", "comparing two columns is not supported"),
            ("name eq tolower('X')", "found a function call"),
            ("name eq (1)", "parenthesised and computed values are not supported"),
            ("name eq [1]", "JSON array and object literals are not supported"),
            ("-n eq 1", "negation ('-') is not supported at offset 0"),
            ("name EQ 'x'", "operators are lower-case: write 'eq', found 'EQ' at offset 5"),
            ("a eq 1 AND b eq 2", "operators are lower-case: write 'and', found 'AND' at offset 7"),
            ("NOT (a eq 1)", "lower-case: write 'not', found 'NOT' at offset 0"),
            ("name = 'x'", "instead of symbols"),
            ("not a eq 1", "'not' must be followed by '(', 'not' or a function call"),
            ("flag", "expected an operator (eq, ne, gt, ge, lt, le or in) after 'flag' at offset 4 (end of text)"),
            ("flag and a eq 1", "'flag' alone is not a condition"),
            ("eq 1", "expected a column name before 'eq' at offset 0"),
            ("true", "a condition must start with a column name"),
            ("naïve eq 1", "unexpected character in a name"),
        ];
        for (text, want) in cases {
            let r = reason(text);
            assert!(r.starts_with("$filter: ") && r.contains(want), "{text:?}: {r}");
        }
    }

    #[test]
    fn errors_say_where() {
        assert_eq!(reason("name eq"), "$filter: expected a value after 'eq' at offset 7 (end of text)");
        assert_eq!(reason("name eq   "), "$filter: expected a value after 'eq' at offset 10 (end of text)");
        assert_eq!(reason("a eq 1 and"), "$filter: expected a condition after 'and' at offset 10 (end of text)");
        assert_eq!(reason("a eq 1 or or b eq 1"), "$filter: expected a condition after 'or', found 'or' at offset 10");
        assert_eq!(
            reason("(a eq 1"),
            "$filter: the '(' at offset 0 is not closed: expected ')' at offset 7 (end of text)"
        );
        assert_eq!(
            reason("((a eq 1) and (b eq 2)"),
            "$filter: the '(' at offset 0 is not closed: expected ')' at offset 22 (end of text)"
        );
        assert_eq!(reason("(a eq 1 b"), "$filter: expected 'and', 'or' or ')' at offset 8");
        assert_eq!(reason("a eq 1)"), "$filter: unexpected ')' without a matching '(' at offset 6");
        assert_eq!(reason("()"), "$filter: expected a condition after '(', found ')' at offset 1");
        assert_eq!(reason("not"), "$filter: expected a condition after 'not' at offset 3 (end of text)");
        assert_eq!(reason(""), "$filter: the filter is empty");
        assert_eq!(reason(" \t\n"), "$filter: the filter is empty");
        // Offsets count characters, not bytes.
        assert_eq!(reason("n eq 'é東🚀' and"), "$filter: expected a condition after 'and' at offset 14 (end of text)");
        assert_eq!(reason("n eq 'é' x"), "$filter: expected 'and', 'or' or the end at offset 9");
        // The error is InvalidArgument.
        assert!(matches!(parse_filter("n eq"), Err(Error::Invalid { .. })));
    }

    #[test]
    fn errors_never_quote_values() {
        for text in [
            "name eq 'Secret' Secret",
            "name eq Secret",
            "name eq 'Secret",
            "name eq Secret'x'",
            "name eq Secret(1)",
            "name eq 12Secret",
            "name eq 2024-02-29TSecret",
            "name in ('Secret' Secret)",
            "name in (Secret)",
            "contains(name,'Secret') Secret",
            "contains(name,'Secret'",
            "contains(name,Secret)",
            "name Secret 'x'",
            "'Secret' eq name",
            "(name eq 'Secret'",
            "name eq 'Secret' éSecret",
        ] {
            let r = reason(text);
            assert!(!r.contains("Secret"), "{text:?}: {r}");
        }
    }

    #[test]
    fn column_names() {
        let long = "c".repeat(MAX_NAME_CHARS);
        assert_eq!(parse(&format!("{long} eq 1")), eq(&long, Value::Int(1)));
        let longer = "c".repeat(MAX_NAME_CHARS + 1);
        assert_eq!(
            reason(&format!("{longer} eq 1")),
            "$filter: a column name is longer than 128 characters at offset 0"
        );
        assert!(reason(&format!("contains({longer},'x')")).contains("longer than 128"));
        assert!(reason("a-b eq 1").contains("expected an operator"));
    }

    #[test]
    fn limits() {
        let nested = |n: usize| format!("{}a eq 1{}", "(".repeat(n), ")".repeat(n));
        assert_eq!(parse(&nested(MAX_DEPTH)), eq("a", Value::Int(1)));
        assert_eq!(
            reason(&nested(MAX_DEPTH + 1)),
            "$filter: nesting is deeper than 64 levels of parentheses and 'not' at offset 64"
        );
        let nots = |n: usize| format!("{}(a eq 1)", "not ".repeat(n));
        assert!(matches!(parse(&nots(MAX_DEPTH - 1)), Filter::Not(_)));
        assert!(reason(&nots(MAX_DEPTH)).contains("nesting is deeper than 64"));
        // Hostile input fails fast, without deep recursion.
        assert!(reason(&"(".repeat(MAX_TEXT_BYTES)).contains("nesting is deeper than 64"));
        assert!(reason(&"not ".repeat(MAX_TEXT_BYTES / 4)).contains("nesting is deeper than 64"));
        assert!(reason(&"not (".repeat(MAX_TEXT_BYTES / 5)).contains("nesting is deeper than 64"));
        // Length: exactly 16 KiB is accepted, one byte more is not.
        let fill = |n: usize| format!("a eq '{}'", "x".repeat(n - 7));
        assert_eq!(fill(MAX_TEXT_BYTES).len(), MAX_TEXT_BYTES);
        assert!(parse_filter(&fill(MAX_TEXT_BYTES)).is_ok());
        assert_eq!(
            reason(&fill(MAX_TEXT_BYTES + 1)),
            "$filter: the text is 16385 bytes long; at most 16384 are accepted"
        );
        // Long flat chains are iterative, not recursive.
        let chain = vec!["a eq 1"; 1500].join(" or ");
        assert!(matches!(parse(&chain), Filter::Or(v) if v.len() == 1500));
    }
}
