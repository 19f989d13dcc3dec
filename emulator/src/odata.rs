//! OData query options: `$filter` (the common subset), `$orderby`, `$select`, `Prefer` parsing.
//!
//! The filter is generic over the property type `P`, so the same parser serves table columns (resolved
//! to column indexes) and metadata objects (resolved to JSON paths).

use std::borrow::Cow;
use std::cmp::Ordering;

use crate::clock;
use crate::codec;
use crate::decimal::Decimal;

/// A value to compare in a filter.
#[derive(Clone, Debug)]
pub enum FValue<'a> {
    /// Null.
    Null,
    /// Text (compared case-insensitively).
    Str(Cow<'a, str>),
    /// Number (exact: money and decimals compare digit for digit).
    Num(Decimal),
    /// Boolean.
    Bool(bool),
    /// GUID.
    Guid(u128),
    /// Date-time (seconds).
    Time(i64),
    /// Date (days).
    Date(i64),
}

/// A literal in a filter.
#[derive(Clone, Debug, PartialEq)]
pub enum Lit {
    /// `null`.
    Null,
    /// `'text'` (also enum literals such as `Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'`).
    Str(String),
    /// Number, exactly as written (`12.5`, `98765432109876.1234`, `1E3`, `12.5M`).
    Num(Decimal),
    /// `true`/`false`.
    Bool(bool),
    /// Unquoted GUID.
    Guid(u128),
    /// `2024-01-01T00:00:00Z`.
    Time(i64),
    /// `2024-01-01`.
    Date(i64),
}

/// Comparison operator.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// eq
    Eq,
    /// ne
    Ne,
    /// gt
    Gt,
    /// ge
    Ge,
    /// lt
    Lt,
    /// le
    Le,
}

/// String function.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StrFunc {
    /// contains
    Contains,
    /// startswith
    StartsWith,
    /// endswith
    EndsWith,
}

/// Filter expression.
#[derive(Clone, Debug)]
pub enum Expr<P> {
    /// and
    And(Box<Expr<P>>, Box<Expr<P>>),
    /// or
    Or(Box<Expr<P>>, Box<Expr<P>>),
    /// not
    Not(Box<Expr<P>>),
    /// `prop op literal`
    Cmp(P, Op, Lit),
    /// `func(prop,'text')`
    Func(StrFunc, P, String),
}

#[derive(Clone, Debug, PartialEq)]
enum Tok {
    L,
    R,
    Comma,
    Str(String),
    Word(String),
}

fn tokenize(s: &str) -> Result<Vec<Tok>, String> {
    let chars: Vec<char> = s.chars().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        match c {
            ' ' | '\t' | '\n' | '\r' => i += 1,
            '(' => {
                out.push(Tok::L);
                i += 1;
            }
            ')' => {
                out.push(Tok::R);
                i += 1;
            }
            ',' => {
                out.push(Tok::Comma);
                i += 1;
            }
            '\'' => {
                let (text, next) = read_string(&chars, i)?;
                out.push(Tok::Str(text));
                i = next;
            }
            _ => {
                let start = i;
                while i < chars.len() && !matches!(chars[i], ' ' | '\t' | '\n' | '\r' | '(' | ')' | ',' | '\'') {
                    i += 1;
                }
                let word: String = chars[start..i].iter().collect();
                if i < chars.len() && chars[i] == '\'' {
                    // enum literal: Namespace.Type'Value'
                    let (text, next) = read_string(&chars, i)?;
                    out.push(Tok::Str(text));
                    i = next;
                } else {
                    out.push(Tok::Word(word));
                }
            }
        }
    }
    Ok(out)
}

fn read_string(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut i = start + 1;
    let mut text = String::new();
    loop {
        match chars.get(i) {
            None => return Err("Unterminated string literal".to_owned()),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                text.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((text, i + 1)),
            Some(c) => {
                text.push(*c);
                i += 1;
            }
        }
    }
}

struct Parser<'r, P> {
    toks: Vec<Tok>,
    pos: usize,
    depth: usize,
    resolve: &'r dyn Fn(&str) -> Result<P, String>,
}

impl<P> Parser<'_, P> {
    fn peek(&self) -> Option<&Tok> {
        self.toks.get(self.pos)
    }
    fn next(&mut self) -> Option<Tok> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }
    fn expect(&mut self, t: &Tok) -> Result<(), String> {
        match self.next() {
            Some(ref x) if x == t => Ok(()),
            other => Err(format!("Syntax error: expected {t:?}, found {other:?}")),
        }
    }
    fn is_word(&self, w: &str) -> bool {
        matches!(self.peek(), Some(Tok::Word(x)) if x == w)
    }
    fn or(&mut self) -> Result<Expr<P>, String> {
        let mut left = self.and()?;
        while self.is_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Expr::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn and(&mut self) -> Result<Expr<P>, String> {
        let mut left = self.unary()?;
        while self.is_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Expr::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }
    fn unary(&mut self) -> Result<Expr<P>, String> {
        self.depth += 1;
        if self.depth > 64 {
            return Err("The $filter expression is nested too deeply.".to_owned());
        }
        let r = if self.is_word("not") {
            self.pos += 1;
            self.unary().map(|e| Expr::Not(Box::new(e)))
        } else {
            self.primary()
        };
        self.depth -= 1;
        r
    }
    fn primary(&mut self) -> Result<Expr<P>, String> {
        match self.next() {
            Some(Tok::L) => {
                let e = self.or()?;
                self.expect(&Tok::R)?;
                Ok(e)
            }
            Some(Tok::Word(w)) => {
                let func = match w.as_str() {
                    "contains" => Some(StrFunc::Contains),
                    "startswith" => Some(StrFunc::StartsWith),
                    "endswith" => Some(StrFunc::EndsWith),
                    _ => None,
                };
                if let (Some(f), Some(Tok::L)) = (func, self.peek()) {
                    self.pos += 1;
                    let prop = match self.next() {
                        Some(Tok::Word(p)) => (self.resolve)(&p)?,
                        other => return Err(format!("Syntax error: expected a property, found {other:?}")),
                    };
                    self.expect(&Tok::Comma)?;
                    let text = match self.next() {
                        Some(Tok::Str(s)) => s,
                        other => return Err(format!("Syntax error: expected a string, found {other:?}")),
                    };
                    self.expect(&Tok::R)?;
                    return Ok(Expr::Func(f, prop, text));
                }
                let prop = (self.resolve)(&w)?;
                let op = match self.next() {
                    Some(Tok::Word(o)) => match o.as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        _ => return Err(format!("Syntax error: unknown operator '{o}'")),
                    },
                    other => return Err(format!("Syntax error: expected an operator, found {other:?}")),
                };
                let lit = match self.next() {
                    Some(Tok::Str(s)) => Lit::Str(s),
                    Some(Tok::Word(v)) => literal(&v)?,
                    other => return Err(format!("Syntax error: expected a literal, found {other:?}")),
                };
                Ok(Expr::Cmp(prop, op, lit))
            }
            other => Err(format!("Syntax error at position {}: unexpected {other:?}", self.pos)),
        }
    }
}

fn literal(v: &str) -> Result<Lit, String> {
    Ok(match v {
        "null" => Lit::Null,
        "true" => Lit::Bool(true),
        "false" => Lit::Bool(false),
        _ => {
            if let Some(g) = codec::parse_guid(v) {
                Lit::Guid(g)
            } else if let Some(t) = clock::parse_iso(v) {
                Lit::Time(t)
            } else if let Some(d) = clock::parse_date(v) {
                Lit::Date(d)
            } else if let Some(n) = Decimal::parse(v.trim_end_matches(['M', 'm', 'd', 'D', 'L', 'l'])) {
                Lit::Num(n)
            } else {
                return Err(format!("Syntax error: '{v}' is not a valid literal"));
            }
        }
    })
}

/// Parses a `$filter` expression.
///
/// # Errors
/// A message suitable for a 400 response.
pub fn parse_filter<P>(s: &str, resolve: &dyn Fn(&str) -> Result<P, String>) -> Result<Expr<P>, String> {
    let toks = tokenize(s)?;
    if toks.len() > 4000 {
        return Err("The $filter expression is too complex.".to_owned());
    }
    let mut p = Parser { toks, pos: 0, depth: 0, resolve };
    let e = p.or()?;
    if p.pos < p.toks.len() {
        return Err(format!("Syntax error at position {}: unexpected trailing input", p.pos));
    }
    Ok(e)
}

fn compare(v: &FValue<'_>, lit: &Lit) -> Option<Ordering> {
    match (v, lit) {
        (FValue::Str(a), Lit::Str(b)) => Some(a.to_lowercase().cmp(&b.to_lowercase())),
        (FValue::Num(a), Lit::Num(b)) => Some(a.cmp(b)),
        (FValue::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        (FValue::Bool(a), Lit::Num(b)) => Some(Decimal::from_int(i64::from(*a)).cmp(b)),
        (FValue::Guid(a), Lit::Guid(b)) => Some(a.cmp(b)),
        (FValue::Guid(a), Lit::Str(b)) => codec::parse_guid(b).map(|b| a.cmp(&b)),
        (FValue::Time(a), Lit::Time(b)) => Some(a.cmp(b)),
        (FValue::Time(a), Lit::Date(b)) => Some(a.cmp(&(b * 86_400))),
        (FValue::Date(a), Lit::Date(b)) => Some(a.cmp(b)),
        (FValue::Date(a), Lit::Time(b)) => Some((a * 86_400).cmp(b)),
        (FValue::Str(a), Lit::Num(b)) => Decimal::parse(a.trim()).map(|a| a.cmp(b)),
        _ => None,
    }
}

/// Evaluates a filter.
pub fn eval<P>(e: &Expr<P>, get: &mut dyn FnMut(&P) -> FValue<'static>) -> bool {
    match e {
        Expr::And(a, b) => eval(a, get) && eval(b, get),
        Expr::Or(a, b) => eval(a, get) || eval(b, get),
        Expr::Not(a) => !eval(a, get),
        Expr::Func(f, p, text) => match get(p) {
            FValue::Str(s) => {
                let s = s.to_lowercase();
                let t = text.to_lowercase();
                match f {
                    StrFunc::Contains => s.contains(&t),
                    StrFunc::StartsWith => s.starts_with(&t),
                    StrFunc::EndsWith => s.ends_with(&t),
                }
            }
            _ => false,
        },
        Expr::Cmp(p, op, lit) => {
            let v = get(p);
            let v_null = matches!(v, FValue::Null);
            if *lit == Lit::Null || v_null {
                let both = v_null && *lit == Lit::Null;
                return match op {
                    Op::Eq => both,
                    Op::Ne => !both,
                    _ => false,
                };
            }
            match compare(&v, lit) {
                None => *op == Op::Ne,
                Some(o) => match op {
                    Op::Eq => o == Ordering::Equal,
                    Op::Ne => o != Ordering::Equal,
                    Op::Gt => o == Ordering::Greater,
                    Op::Ge => o != Ordering::Less,
                    Op::Lt => o == Ordering::Less,
                    Op::Le => o != Ordering::Greater,
                },
            }
        }
    }
}

/// Orders two filter values (nulls first, text case-insensitive).
pub fn order(a: &FValue<'_>, b: &FValue<'_>) -> Ordering {
    use FValue as F;
    match (a, b) {
        (F::Null, F::Null) => Ordering::Equal,
        (F::Null, _) => Ordering::Less,
        (_, F::Null) => Ordering::Greater,
        (F::Str(x), F::Str(y)) => x.to_lowercase().cmp(&y.to_lowercase()),
        (F::Num(x), F::Num(y)) => x.cmp(y),
        (F::Bool(x), F::Bool(y)) => x.cmp(y),
        (F::Guid(x), F::Guid(y)) => x.cmp(y),
        (F::Time(x), F::Time(y)) => x.cmp(y),
        (F::Date(x), F::Date(y)) => x.cmp(y),
        _ => Ordering::Equal,
    }
}

/// Parses `$orderby`: `name asc,createdon desc`.
///
/// # Errors
/// Unknown property or direction.
pub fn parse_orderby<P>(s: &str, resolve: &dyn Fn(&str) -> Result<P, String>) -> Result<Vec<(P, bool)>, String> {
    let mut out = Vec::new();
    for item in s.split(',') {
        let mut parts = item.split_whitespace();
        let Some(name) = parts.next() else { continue };
        let desc = match parts.next() {
            None | Some("asc") => false,
            Some("desc") => true,
            Some(other) => return Err(format!("Syntax error: invalid sort direction '{other}'")),
        };
        out.push((resolve(name)?, desc));
    }
    Ok(out)
}

/// Parses `$expand`: `a($select=x,y;$filter=...),b` → `[("a", [("$select","x,y"), ("$filter","...")]), ("b", [])]`.
pub fn parse_expand(s: &str) -> Vec<(String, Vec<(String, String)>)> {
    let mut items = Vec::new();
    let mut depth = 0i32;
    let mut cur = String::new();
    for c in s.chars() {
        match c {
            '(' => {
                depth += 1;
                cur.push(c);
            }
            ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => items.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    items.push(cur);
    items
        .into_iter()
        .filter(|i| !i.trim().is_empty())
        .map(|item| match item.find('(') {
            Some(i) => {
                let inner = item[i + 1..].trim_end().strip_suffix(')').unwrap_or(&item[i + 1..]);
                let opts = inner
                    .split(';')
                    .filter_map(|o| o.split_once('=').map(|(k, v)| (k.trim().to_owned(), v.trim().to_owned())))
                    .collect();
                (item[..i].trim().to_owned(), opts)
            }
            None => (item.trim().to_owned(), Vec::new()),
        })
        .collect()
}

/// Parsed `Prefer` header(s).
#[derive(Clone, Debug, Default)]
pub struct Prefer {
    /// `odata.maxpagesize=N`.
    pub max_page_size: Option<u32>,
    /// `odata.track-changes`.
    pub track_changes: bool,
    /// `return=representation`.
    pub return_representation: bool,
    /// `odata.continue-on-error`.
    pub continue_on_error: bool,
    /// `odata.include-annotations="..."` (raw, unquoted).
    pub annotations: Option<String>,
}

impl Prefer {
    /// Parses all `Prefer` header values (comma-separated preferences, RFC 7240).
    pub fn parse<'a>(values: impl Iterator<Item = &'a str>) -> Self {
        let mut p = Prefer::default();
        for v in values {
            for item in split_prefs(v) {
                let item = item.trim();
                let (name, value) = match item.split_once('=') {
                    Some((n, v)) => (n.trim(), Some(v.trim().trim_matches('"'))),
                    None => (item, None),
                };
                match name.to_ascii_lowercase().as_str() {
                    "odata.maxpagesize" | "maxpagesize" => p.max_page_size = value.and_then(|v| v.parse().ok()),
                    "odata.track-changes" | "track-changes" => p.track_changes = true,
                    "return" => p.return_representation = value == Some("representation"),
                    "odata.continue-on-error" | "continue-on-error" => {
                        p.continue_on_error = value.is_none_or(|v| v != "false")
                    }
                    "odata.include-annotations" | "include-annotations" => p.annotations = value.map(str::to_owned),
                    _ => {}
                }
            }
        }
        p
    }
}

fn split_prefs(v: &str) -> Vec<String> {
    // split on commas outside double quotes
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    for c in v.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                cur.push(c);
            }
            ',' if !quoted => out.push(std::mem::take(&mut cur)),
            _ => cur.push(c),
        }
    }
    out.push(cur);
    out
}

/// Whether an `include-annotations` value asks for `term`.
pub fn wants_annotation(pref: Option<&str>, term: &str) -> bool {
    let Some(pref) = pref else { return false };
    pref.split(',')
        .map(str::trim)
        .any(|p| p == "*" || p == term || p.strip_suffix('*').is_some_and(|prefix| term.starts_with(prefix)))
}

/// Whether an `include-annotations` value asks for at least one annotation (exclusions such as `-*` do not).
pub fn asks_for_annotations(pref: Option<&str>) -> bool {
    pref.is_some_and(|p| p.split(',').map(str::trim).any(|t| !t.is_empty() && !t.starts_with('-')))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn res(s: &str) -> Result<String, String> {
        Ok(s.to_owned())
    }

    #[test]
    fn parses_and_evaluates() {
        let e = parse_filter(
            "(name eq 'O''Bryan' or contains(name,'xyz')) and revenue gt 10 and _ownerid_value ne null",
            &res,
        )
        .unwrap();
        let mut get = |p: &String| match p.as_str() {
            "name" => FValue::Str("o'bryan".into()),
            "revenue" => FValue::Num(Decimal::from_int(11)),
            _ => FValue::Guid(5),
        };
        assert!(eval(&e, &mut get));
        let e = parse_filter("OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'", &res).unwrap();
        assert!(matches!(e, Expr::Cmp(_, Op::Eq, Lit::Str(ref s)) if s == "UserOwned"));
        assert!(parse_filter("name eq", &res).is_err());
        let deep = format!("{}name eq 'x'{}", "(".repeat(10_000), ")".repeat(10_000));
        assert!(parse_filter(&deep, &res).is_err());
        let nots = format!("{}name eq 'x'", "not ".repeat(10_000));
        assert!(parse_filter(&nots, &res).is_err());
    }

    #[test]
    fn expand_lists() {
        let e = parse_expand("primarycontactid($select=fullname,emailaddress1;$filter=x eq 1),ownerid");
        assert_eq!(e[0].0, "primarycontactid");
        assert_eq!(e[0].1[0], ("$select".to_owned(), "fullname,emailaddress1".to_owned()));
        assert_eq!(e[0].1.len(), 2);
        assert_eq!(e[1], ("ownerid".to_owned(), Vec::new()));
    }

    #[test]
    fn prefer_list() {
        let p = Prefer::parse(
            ["odata.track-changes,odata.maxpagesize=1000", "odata.include-annotations=\"a,b*\""].into_iter(),
        );
        assert!(p.track_changes);
        assert_eq!(p.max_page_size, Some(1000));
        assert!(wants_annotation(p.annotations.as_deref(), "b.c"));
        assert!(wants_annotation(p.annotations.as_deref(), "a"));
        assert!(!wants_annotation(p.annotations.as_deref(), "c"));
        assert!(asks_for_annotations(p.annotations.as_deref()));
        assert!(!asks_for_annotations(Some("-*")) && !asks_for_annotations(Some("")) && !asks_for_annotations(None));
    }
}
