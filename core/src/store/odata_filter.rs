//! OData `$filter` text → the typed [`Filter`]: the parser is `outpost_wire::filter` (pure
//! code, property-tested and fuzzed there); this is its entry point with Outpost's error type.
//! The subset, precisely, is in `docs/filter.md`.

use super::query::Filter;
use crate::error::Result;

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
/// `InvalidArgument` if the text is empty, longer than 16 KiB, nested deeper than 64 levels
/// (parentheses and `not`), malformed, or uses a construct outside the subset (arithmetic,
/// `has`, lambdas, navigation paths, `endswith`, other functions, comparing two columns, the
/// value on the left, …). The reason starts with `$filter:`, says what is wrong and at which
/// character offset (counted from 0), and never quotes a value from the text.
///
/// # Examples
/// ```
/// use outpost_core::{parse_filter, Filter, Value};
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
/// # Ok::<(), outpost_core::Error>(())
/// ```
pub fn parse_filter(text: &str) -> Result<Filter> {
    Ok(outpost_wire::filter::parse_filter(text)?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    /// The wire error maps to `InvalidArgument` with the parser's reason, unchanged.
    #[test]
    fn errors_are_invalid_argument_with_the_same_reason() {
        assert_eq!(
            parse_filter("a eq 1 and"),
            Err(Error::InvalidArgument {
                reason: "$filter: expected a condition after 'and' at offset 10 (end of text)".into()
            })
        );
        assert_eq!(parse_filter(""), Err(Error::InvalidArgument { reason: "$filter: the filter is empty".into() }));
    }
}
