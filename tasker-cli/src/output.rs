//! How results are printed: a table for people on a terminal, one JSON document per command otherwise.

use serde_json::Value;
use std::io::IsTerminal;

/// `--output`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputMode {
    /// Aligned columns for people.
    Table,
    /// Exactly one JSON document per command (one per line for streams).
    Json,
}

impl OutputMode {
    /// `explicit`, else `table` when standard output is a terminal and `json` when it is not.
    pub fn resolve(explicit: Option<Self>) -> Self {
        explicit.unwrap_or(if std::io::stdout().is_terminal() { Self::Table } else { Self::Json })
    }
}

/// Print one JSON document.
pub fn print_json(value: &Value) {
    print_text(&serde_json::to_string_pretty(value).unwrap_or_else(|_| value.to_string()));
}

/// Print text and a newline; nothing happens when standard output is gone (a closed pipe, as with `| head`):
/// the command still ends with its own exit code instead of a panic.
pub fn print_text(text: &str) {
    let _ = print_line(text);
}

/// Print one line; `false` when standard output is gone (a closed pipe, as with `| head`), so streams stop.
pub fn print_line(text: &str) -> bool {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}").and_then(|_| out.flush()).is_ok()
}

/// A value as a table cell: strings bare, null empty, anything else as compact JSON.
pub fn cell(value: &Value) -> String {
    match value {
        Value::Null => String::new(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

/// Rows under a header, each column as wide as its widest cell.
pub fn table(header: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<String>| {
        let padded: Vec<String> = cells.iter().zip(&widths).map(|(c, w)| format!("{c:<w$}")).collect();
        padded.join("  ").trim_end().to_string()
    };
    let mut out = vec![line(header.iter().map(|h| h.to_string()).collect())];
    out.extend(rows.iter().map(|r| line(r.clone())));
    out.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_align_columns() {
        let t = table(&["NAME", "STATE"], &[vec!["a".into(), "complete".into()], vec!["longer".into(), "x".into()]]);
        assert_eq!(t, "NAME    STATE\na       complete\nlonger  x");
        assert_eq!(cell(&Value::Null), "");
        assert_eq!(cell(&serde_json::json!({"a": 1})), "{\"a\":1}");
    }
}
