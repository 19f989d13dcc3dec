//! Property test: the filter compiler (SQL on a real SQLCipher store) agrees with a plain Rust
//! reference evaluator of the documented semantics, over random rows with NULLs, absent
//! columns, non-ASCII text and `%`, `_`, `'` inside values.

#![allow(clippy::unwrap_used, clippy::expect_used)] // test code

mod common;

use std::cmp::Ordering;

use common::*;
use outpost_core::{Filter, Query, ServerRow, Value, Values};
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

const COLS: [&str; 4] = ["name", "n", "d", "flag"];

/// The SQL value a column evaluates to.
#[derive(Debug, Clone)]
enum V {
    Null,
    Int(i64),
    Real(f64),
    Text(String),
}

fn sqlv(v: Option<&Value>) -> V {
    match v {
        None | Some(Value::Null) => V::Null,
        Some(Value::Bool(b)) => V::Int(i64::from(*b)),
        Some(Value::Int(i)) => V::Int(*i),
        Some(Value::Decimal(d)) => V::Real(d.parse().unwrap()),
        Some(Value::Text(s)) => V::Text(s.clone()),
    }
}

fn fold(s: &str) -> String {
    caseless::default_case_fold_str(s)
}

fn num_cmp(a: &V, b: &V) -> Option<Ordering> {
    match (a, b) {
        (V::Int(x), V::Int(y)) => Some(x.cmp(y)),
        (V::Int(x), V::Real(y)) => (*x as f64).partial_cmp(y),
        (V::Real(x), V::Int(y)) => x.partial_cmp(&(*y as f64)),
        (V::Real(x), V::Real(y)) => x.partial_cmp(y),
        _ => None,
    }
}

fn compare(row: &Values, col: &str, param: &Value, ok: fn(Ordering) -> bool, null_op: Option<bool>) -> Option<bool> {
    let c = sqlv(row.get(col));
    match param {
        Value::Null => null_op.map(|is_eq| matches!(c, V::Null) == is_eq),
        Value::Text(p) => match c {
            V::Text(t) => Some(ok(fold(&t).as_bytes().cmp(fold(p).as_bytes()))),
            _ => None,
        },
        p => num_cmp(&c, &sqlv(Some(p))).map(ok),
    }
}

fn eval(f: &Filter, row: &Values) -> Option<bool> {
    match f {
        Filter::Eq(c, v) => compare(row, c, v, |o| o == Ordering::Equal, Some(true)),
        Filter::Ne(c, v) => compare(row, c, v, |o| o != Ordering::Equal, Some(false)),
        Filter::Lt(c, v) => compare(row, c, v, |o| o == Ordering::Less, None),
        Filter::Le(c, v) => compare(row, c, v, |o| o != Ordering::Greater, None),
        Filter::Gt(c, v) => compare(row, c, v, |o| o == Ordering::Greater, None),
        Filter::Ge(c, v) => compare(row, c, v, |o| o != Ordering::Less, None),
        Filter::Contains(c, p) => match sqlv(row.get(c)) {
            V::Text(t) => Some(fold(&t).contains(&fold(p))),
            _ => None,
        },
        Filter::StartsWith(c, p) => match sqlv(row.get(c)) {
            V::Text(t) => Some(fold(&t).starts_with(&fold(p))),
            _ => None,
        },
        Filter::IsNull(c) => Some(matches!(sqlv(row.get(c)), V::Null)),
        Filter::In(c, vs) => eval(&Filter::Or(vs.iter().map(|v| Filter::Eq(c.clone(), v.clone())).collect()), row),
        Filter::And(fs) => {
            let r: Vec<_> = fs.iter().map(|f| eval(f, row)).collect();
            if r.contains(&Some(false)) {
                Some(false)
            } else if r.contains(&None) {
                None
            } else {
                Some(true)
            }
        }
        Filter::Or(fs) => {
            let r: Vec<_> = fs.iter().map(|f| eval(f, row)).collect();
            if r.contains(&Some(true)) {
                Some(true)
            } else if r.contains(&None) {
                None
            } else {
                Some(false)
            }
        }
        Filter::Not(f) => eval(f, row).map(|b| !b),
    }
}

fn text_strategy() -> impl Strategy<Value = String> {
    let pieces = prop::sample::select(vec![
        "a",
        "A",
        "b",
        "ß",
        "SS",
        "ss",
        "É",
        "é",
        "e",
        "Σ",
        "σ",
        "ς",
        "ö",
        "İ",
        "%",
        "_",
        "'",
        "x' OR 1=1 --",
        " ",
        "日本",
        "🙂",
        "\"",
    ]);
    prop::collection::vec(pieces, 0..5).prop_map(|v| v.concat())
}

fn value_strategy() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        (-5i64..5).prop_map(Value::Int),
        (-50i64..50).prop_map(|c| Value::decimal(format!("{}.{}", c / 10, (c % 10).abs())).unwrap()),
        text_strategy().prop_map(Value::Text),
    ]
}

fn row_strategy() -> impl Strategy<Value = Values> {
    prop::collection::vec(prop::option::of(value_strategy()), COLS.len())
        .prop_map(|vals| COLS.iter().zip(vals).filter_map(|(c, v)| v.map(|v| (c.to_string(), v))).collect())
}

fn filter_strategy() -> impl Strategy<Value = Filter> {
    let col = prop::sample::select(COLS.to_vec()).prop_map(String::from);
    let leaf = prop_oneof![
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Eq(c, v)),
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Ne(c, v)),
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Lt(c, v)),
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Le(c, v)),
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Gt(c, v)),
        (col.clone(), value_strategy()).prop_map(|(c, v)| Filter::Ge(c, v)),
        (col.clone(), text_strategy()).prop_map(|(c, v)| Filter::Contains(c, v)),
        (col.clone(), text_strategy()).prop_map(|(c, v)| Filter::StartsWith(c, v)),
        (col.clone(), prop::collection::vec(value_strategy(), 0..3)).prop_map(|(c, v)| Filter::In(c, v)),
        col.prop_map(Filter::IsNull),
    ];
    leaf.prop_recursive(3, 16, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::And),
            prop::collection::vec(inner.clone(), 0..3).prop_map(Filter::Or),
            inner.prop_map(|f| Filter::Not(Box::new(f))),
        ]
    })
}

#[test]
fn filter_compiler_matches_reference_evaluator() {
    let dir = tempfile::tempdir().unwrap();
    let vault = create(dir.path());
    let store = vault.store();
    store.register_table(&accounts_spec()).unwrap();
    let mut runner = TestRunner::new(Config { cases: 200, ..Config::default() });
    let strategy = (prop::collection::vec(row_strategy(), 0..25), prop::collection::vec(filter_strategy(), 1..6));
    runner
        .run(&strategy, |(rows, filters)| {
            let existing: Vec<String> = store
                .query("accounts", &Query { limit: 5000, ..Query::default() })
                .unwrap()
                .records
                .into_iter()
                .map(|r| r.id)
                .collect();
            store.apply_server_deletes("accounts", &existing).unwrap();
            let server_rows: Vec<ServerRow> = rows
                .iter()
                .enumerate()
                .map(|(i, values)| ServerRow { id: format!("id-{i:04}"), values: values.clone(), etag: None })
                .collect();
            store.apply_server_rows("accounts", &server_rows).unwrap();
            for f in &filters {
                let got: Vec<String> = store
                    .query("accounts", &Query { filter: Some(f.clone()), limit: 5000, ..Query::default() })
                    .unwrap()
                    .records
                    .into_iter()
                    .map(|r| r.id)
                    .collect();
                let want: Vec<String> =
                    server_rows.iter().filter(|r| eval(f, &r.values) == Some(true)).map(|r| r.id.clone()).collect();
                prop_assert_eq!(got, want, "filter {:?}", f);
            }
            Ok(())
        })
        .unwrap();
}
