//! Property tests of the `$filter` parser and its SQL compiler: print → parse round trips, and
//! arbitrary text, bytes and filters never panic and give `Error::Invalid`.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

use outpost_wire::filter::{parse_filter, Filter};
use outpost_wire::sql::compile;
use outpost_wire::value::Value;
use outpost_wire::Error;
use proptest::prelude::*;

/// `f` with every column name and value replaced by a fixed one of the same kind. The SQL text
/// of a filter must equal its skeleton's: then no column name or value is in the text, only in
/// the parameters.
fn skeleton(f: &Filter) -> Filter {
    let c = || "c".to_string();
    let v = |v: &Value| match v {
        Value::Null => Value::Null,
        Value::Bool(_) => Value::Bool(false),
        Value::Int(_) => Value::Int(0),
        Value::Decimal(_) => Value::Decimal("0".into()),
        Value::Text(_) => Value::Text(String::new()),
    };
    match f {
        Filter::Eq(_, x) => Filter::Eq(c(), v(x)),
        Filter::Ne(_, x) => Filter::Ne(c(), v(x)),
        Filter::Lt(_, x) => Filter::Lt(c(), v(x)),
        Filter::Le(_, x) => Filter::Le(c(), v(x)),
        Filter::Gt(_, x) => Filter::Gt(c(), v(x)),
        Filter::Ge(_, x) => Filter::Ge(c(), v(x)),
        Filter::Contains(..) => Filter::Contains(c(), String::new()),
        Filter::StartsWith(..) => Filter::StartsWith(c(), String::new()),
        Filter::In(_, xs) => Filter::In(c(), xs.iter().map(v).collect()),
        Filter::IsNull(_) => Filter::IsNull(c()),
        Filter::And(fs) => Filter::And(fs.iter().map(skeleton).collect()),
        Filter::Or(fs) => Filter::Or(fs.iter().map(skeleton).collect()),
        Filter::Not(inner) => Filter::Not(Box::new(skeleton(inner))),
    }
}

/// One `?` per parameter, and nothing from the filter in the text.
fn check_compiled(f: &Filter) -> Result<(), TestCaseError> {
    match compile(f) {
        Ok(sql) => {
            prop_assert_eq!(sql.text.matches('?').count(), sql.params.len());
            let bare = compile(&skeleton(f)).map_err(|e| TestCaseError::fail(e.to_string()))?;
            prop_assert_eq!(&sql.text, &bare.text);
            prop_assert_eq!(sql.params.len(), bare.params.len());
        }
        Err(e) => prop_assert!(matches!(e, Error::Invalid { .. }), "{:?}", e),
    }
    Ok(())
}

/// Add `f` to an `and` (`and == true`) or `or` chain, splicing a chain of the same kind (the
/// parser's normal form).
fn push_flat(items: &mut Vec<Filter>, f: Filter, and: bool) {
    match f {
        Filter::And(inner) if and => items.extend(inner),
        Filter::Or(inner) if !and => items.extend(inner),
        f => items.push(f),
    }
}

/// `8-4-4-4-12` hexadecimal digits.
fn is_guid(s: &str) -> bool {
    s.len() == 36
        && s.bytes()
            .enumerate()
            .all(|(i, b)| if matches!(i, 8 | 13 | 18 | 23) { b == b'-' } else { b.is_ascii_hexdigit() })
}

/// `YYYY-MM-DD` as the strategy below makes them.
fn is_date(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 10 && b.iter().enumerate().all(|(i, c)| if i == 4 || i == 7 { *c == b'-' } else { c.is_ascii_digit() })
}

/// A date, `T` or `t`, then a time as the strategy below makes them.
fn is_date_time(s: &str) -> bool {
    s.len() > 11 && s.get(..10).is_some_and(is_date) && matches!(s.as_bytes().get(10), Some(b'T' | b't'))
}

/// Any filter at all, including shapes the parser never produces.
fn any_filter() -> impl Strategy<Value = Filter> {
    let col = prop_oneof!["[a-z_]{1,8}", any::<String>(), "[a-z\\\"]{0,300}"];
    let val = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        any::<String>().prop_map(Value::Decimal),
        "-?[0-9]{1,400}(\\.[0-9]{1,5})?([eE][+-]?[0-9]{1,4})?".prop_map(Value::Decimal),
        any::<String>().prop_map(Value::Text),
    ];
    let leaf = prop_oneof![
        (col.clone(), 0..6usize, val.clone()).prop_map(|(c, op, v)| match op {
            0 => Filter::Eq(c, v),
            1 => Filter::Ne(c, v),
            2 => Filter::Lt(c, v),
            3 => Filter::Le(c, v),
            4 => Filter::Gt(c, v),
            _ => Filter::Ge(c, v),
        }),
        (col.clone(), any::<String>()).prop_map(|(c, s)| Filter::Contains(c, s)),
        (col.clone(), any::<String>()).prop_map(|(c, s)| Filter::StartsWith(c, s)),
        (col.clone(), prop::collection::vec(val, 0..4)).prop_map(|(c, vs)| Filter::In(c, vs)),
        col.prop_map(Filter::IsNull),
    ];
    leaf.prop_recursive(5, 48, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..4).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

const COLUMNS: [&str; 7] = ["name", "n", "_parentaccountid_value", "android", "origin", "notes", "in_stock"];

fn column() -> impl Strategy<Value = String> {
    prop::sample::select(COLUMNS.to_vec()).prop_map(String::from)
}

fn any_text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-z' %_()\\\\,]{0,8}",
        "\\PC{0,10}",
        any::<String>().prop_map(|s| s.chars().take(12).collect()),
        Just(" and x eq 1 or ".to_string()),
    ]
}

const DATE: &str = "[0-9]{4}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])";

fn value() -> impl Strategy<Value = Value> {
    let time =
        "[Tt]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\\.[0-9]{1,12})?)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])";
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::Int),
        (-1000i64..1000).prop_map(Value::Int),
        // Integers beyond 64 bits.
        "-?[1-9][0-9]{19,30}".prop_map(Value::Decimal),
        // Decimals and exponents (JSON numbers, as the parser keeps them).
        "-?(0|[1-9][0-9]{0,12})(\\.[0-9]{1,8}([eE][+-]?[0-9]{1,3})?|[eE][+-]?[0-9]{1,3})".prop_map(Value::Decimal),
        any_text().prop_map(Value::Text),
        "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}".prop_map(Value::Text),
        DATE.prop_map(Value::Text),
        prop::string::string_regex(&format!("{DATE}{time}")).unwrap().prop_map(Value::Text),
    ]
}

fn leaf() -> impl Strategy<Value = Filter> {
    prop_oneof![
        (column(), 0..6usize, value()).prop_map(|(c, op, v)| match op {
            0 => Filter::Eq(c, v),
            1 => Filter::Ne(c, v),
            2 => Filter::Lt(c, v),
            3 => Filter::Le(c, v),
            4 => Filter::Gt(c, v),
            _ => Filter::Ge(c, v),
        }),
        (column(), any_text()).prop_map(|(c, s)| Filter::Contains(c, s)),
        (column(), any_text()).prop_map(|(c, s)| Filter::StartsWith(c, s)),
        (column(), prop::collection::vec(value(), 1..4)).prop_map(|(c, vs)| Filter::In(c, vs)),
    ]
}

/// And/Or of ≥ 2 children with no child of the same kind: the parser's normal form.
fn chain(children: Vec<Filter>, and: bool) -> Filter {
    let mut items = Vec::new();
    for c in children {
        push_flat(&mut items, c, and);
    }
    if and {
        Filter::And(items)
    } else {
        Filter::Or(items)
    }
}

fn filter() -> impl Strategy<Value = Filter> {
    leaf().prop_recursive(6, 64, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| chain(v, true)),
            prop::collection::vec(inner.clone(), 2..4).prop_map(|v| chain(v, false)),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

/// How the printer spaces things: `sep` around keywords, `pad` inside parentheses and
/// around commas.
#[derive(Debug, Clone, Copy)]
struct Style {
    sep: &'static str,
    pad: &'static str,
}

fn style() -> impl Strategy<Value = Style> {
    (prop::sample::select(vec![" ", "  ", "\t", "\n", " \r\n "]), prop::sample::select(vec!["", " ", "\t "]))
        .prop_map(|(sep, pad)| Style { sep, pad })
}

fn quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "''"))
}

fn print_value(v: &Value) -> String {
    match v {
        Value::Null => "null".into(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.clone(),
        // GUIDs (lower-case), dates and date-times unquoted, as OData writes them.
        Value::Text(s) if (is_guid(s) && *s == s.to_ascii_lowercase()) || is_date(s) || is_date_time(s) => s.clone(),
        Value::Text(s) => quote(s),
    }
}

fn print(f: &Filter, st: Style) -> String {
    let Style { sep, pad } = st;
    let cmp = |c: &str, op: &str, v: &Value| format!("{c}{sep}{op}{sep}{}", print_value(v));
    match f {
        Filter::Eq(c, v) => cmp(c, "eq", v),
        Filter::Ne(c, v) => cmp(c, "ne", v),
        Filter::Lt(c, v) => cmp(c, "lt", v),
        Filter::Le(c, v) => cmp(c, "le", v),
        Filter::Gt(c, v) => cmp(c, "gt", v),
        Filter::Ge(c, v) => cmp(c, "ge", v),
        Filter::Contains(c, s) => format!("contains({pad}{c}{pad},{pad}{}{pad})", quote(s)),
        Filter::StartsWith(c, s) => format!("startswith({pad}{c}{pad},{pad}{}{pad})", quote(s)),
        Filter::In(c, vs) => {
            let items: Vec<String> = vs.iter().map(print_value).collect();
            format!("{c}{sep}in{sep}({pad}{}{pad})", items.join(&format!("{pad},{pad}")))
        }
        Filter::And(fs) => fs
            .iter()
            .map(|f| match f {
                Filter::Or(_) => format!("({pad}{}{pad})", print(f, st)),
                f => print(f, st),
            })
            .collect::<Vec<_>>()
            .join(&format!("{sep}and{sep}")),
        Filter::Or(fs) => fs.iter().map(|f| print(f, st)).collect::<Vec<_>>().join(&format!("{sep}or{sep}")),
        Filter::Not(inner) => match **inner {
            Filter::Contains(..) | Filter::StartsWith(..) | Filter::Not(_) => {
                format!("not{sep}{}", print(inner, st))
            }
            _ => format!("not{sep}({pad}{}{pad})", print(inner, st)),
        },
        Filter::IsNull(_) => unreachable!("not generated"),
    }
}

/// Fragments that make near-valid filters, to reach deep into the parser.
fn soup() -> impl Strategy<Value = String> {
    let piece = prop::sample::select(vec![
        "(",
        ")",
        "not ",
        " and ",
        " or ",
        "a eq 1",
        "n",
        " eq ",
        " in ",
        "'",
        "''",
        "'x'",
        ",",
        "contains(",
        "endswith(",
        "2024-02-29",
        "T10:00:00Z",
        "-",
        "+",
        "1",
        ".",
        "e",
        "00000000-0000-0000-0000-000000000000",
        "/",
        "$it",
        "@p",
        " ",
        "\t",
        "é",
        "🚀",
        "null",
        "true",
        "EQ",
        "add",
        "has",
        "any(",
        "Microsoft.",
    ]);
    prop::collection::vec(piece, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn print_then_parse_round_trips(f in filter(), st in style()) {
        let text = print(&f, st);
        match parse_filter(&text) {
            Ok(g) => prop_assert_eq!(g, f, "{:?}", text),
            Err(e) => prop_assert!(false, "{:?}: {}", text, e),
        }
    }

    #[test]
    fn arbitrary_text_never_panics(text in any::<String>()) {
        if let Err(e) = parse_filter(&text) {
            prop_assert!(matches!(&e, Error::Invalid { reason } if reason.starts_with("$filter: ")), "{:?}", e);
        }
    }

    /// Arbitrary bytes, read as UTF-8 with replacement (what a caller handing bytes would do).
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = parse_filter(&String::from_utf8_lossy(&bytes));
    }

    /// The compiler takes whatever the parser gives: never a panic, one `?` per parameter, and
    /// no value ever in the SQL text.
    #[test]
    fn parsed_filters_compile_with_every_value_bound(f in filter(), st in style()) {
        let text = print(&f, st);
        let parsed = parse_filter(&text).map_err(|e| TestCaseError::fail(format!("{text:?}: {e}")))?;
        prop_assert!(compile(&parsed).is_ok(), "{:?}", text);
        check_compiled(&parsed)?;
    }

    /// Any filter value (also ones the parser never makes: bad column names, bad decimals, empty
    /// chains) compiles or gives `Invalid`, never a panic.
    #[test]
    fn arbitrary_filters_compile_or_are_invalid(f in any_filter()) {
        check_compiled(&f)?;
    }

    #[test]
    fn near_valid_text_never_panics(text in soup()) {
        if let Err(e) = parse_filter(&text) {
            prop_assert!(matches!(&e, Error::Invalid { reason } if reason.starts_with("$filter: ")), "{:?}", e);
        }
    }
}
