//! Text tables and JSON for the terminal.

use outpost_core::Value;

/// A cell's text: empty for null, numbers exactly as kept.
pub fn cell(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::Bool(b) => b.to_string(),
        Value::Int(i) => i.to_string(),
        Value::Decimal(d) => d.clone(),
        Value::Text(t) => t.clone(),
    }
}

fn truncate(s: &str, max: usize) -> String {
    let one_line: String = s.chars().map(|c| if c.is_control() { ' ' } else { c }).collect();
    if one_line.chars().count() <= max {
        one_line
    } else {
        let mut t: String = one_line.chars().take(max.saturating_sub(1)).collect();
        t.push('…');
        t
    }
}

/// Print rows as an aligned table; cells longer than `max_width` characters are cut.
pub fn table(headers: &[String], rows: &[Vec<String>], max_width: usize) -> String {
    let rows: Vec<Vec<String>> = rows.iter().map(|r| r.iter().map(|c| truncate(c, max_width)).collect()).collect();
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in &rows {
        for (i, c) in r.iter().enumerate() {
            if let Some(w) = widths.get_mut(i) {
                *w = (*w).max(c.chars().count());
            }
        }
    }
    let line = |cells: &[String]| {
        let mut s = String::new();
        for (i, c) in cells.iter().enumerate() {
            let w = widths.get(i).copied().unwrap_or(0);
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(c);
                s.push_str(&" ".repeat(w.saturating_sub(c.chars().count()) + 2));
            }
        }
        s.trim_end().to_string()
    };
    let mut out = String::new();
    out.push_str(&line(headers));
    out.push('\n');
    let sep: Vec<String> = widths.iter().map(|w| "─".repeat(*w)).collect();
    out.push_str(&line(&sep));
    out.push('\n');
    for r in &rows {
        out.push_str(&line(r));
        out.push('\n');
    }
    out
}

/// A JSON object from (key, value) pairs, values exactly as kept (decimals are not rounded
/// through floating point).
pub fn json_object(pairs: &[(String, Value)]) -> String {
    let mut s = String::from("{");
    for (i, (k, v)) in pairs.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        s.push_str(&serde_json::Value::String(k.clone()).to_string());
        s.push(':');
        s.push_str(&v.to_json_text());
    }
    s.push('}');
    s
}

/// Thousands separators for counts in human output.
pub fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_and_cut() {
        let t = table(
            &["id".into(), "name".into()],
            &[vec!["1".into(), "Contoso\nLtd".into()], vec!["22".into(), "x".repeat(50)]],
            10,
        );
        let lines: Vec<&str> = t.lines().collect();
        assert_eq!(lines[0], "id  name");
        assert_eq!(lines[1], "──  ──────────");
        assert_eq!(lines[2], "1   Contoso L…", "newlines become spaces, long cells are cut");
        assert!(lines[3].ends_with('…') && lines[3].chars().count() == 4 + 10);
    }

    #[test]
    fn json_keeps_decimals_exact() {
        let j = json_object(&[
            ("revenue".into(), Value::Decimal("12345678901234567890.125".into())),
            ("name".into(), Value::text("a\"b")),
            ("n".into(), Value::Null),
        ]);
        assert_eq!(j, r#"{"revenue":12345678901234567890.125,"name":"a\"b","n":null}"#);
    }

    #[test]
    fn counts() {
        assert_eq!(count(0), "0");
        assert_eq!(count(20000), "20,000");
        assert_eq!(count(1234567), "1,234,567");
    }
}
