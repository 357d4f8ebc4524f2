//! What PostgreSQL's `jsonb` accepts: every JSON value except strings (or keys) containing `\u0000`.
//! Values from outside (requests, handler results) are checked before they reach an insert, so that one bad
//! value is refused on its own instead of failing a whole statement.

use serde_json::Value;

/// Whether any string or key in `v` contains a NUL character.
pub fn contains_nul(v: &Value) -> bool {
    match v {
        Value::String(s) => s.contains('\0'),
        Value::Array(a) => a.iter().any(contains_nul),
        Value::Object(o) => o.iter().any(|(k, v)| k.contains('\0') || contains_nul(v)),
        _ => false,
    }
}

/// The path (`steps[0].config.x`) of the first string or key in `v` that contains a NUL character, if any.
pub fn nul_path(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => s.contains('\0').then(String::new),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, v)| nul_path(v).map(|p| format!("[{i}]{p}"))),
        Value::Object(o) => o.iter().find_map(|(k, v)| {
            if k.contains('\0') {
                return Some(format!(".{}", k.replace('\0', "\u{FFFD}")));
            }
            nul_path(v).map(|p| format!(".{k}{p}"))
        }),
        _ => None,
    }
}

/// `v` with every NUL character replaced by U+FFFD (for diagnostics such as error messages).
pub fn replace_nul(v: Value) -> Value {
    const REPLACEMENT: &str = "\u{FFFD}";
    match v {
        Value::String(s) => Value::String(s.replace('\0', REPLACEMENT)),
        Value::Array(a) => Value::Array(a.into_iter().map(replace_nul).collect()),
        Value::Object(o) => {
            Value::Object(o.into_iter().map(|(k, v)| (k.replace('\0', REPLACEMENT), replace_nul(v))).collect())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn names_the_path_of_the_first_nul() {
        assert_eq!(
            nul_path(&json!({"steps": [{"name": "a"}, {"config": {"x": "b\u{0}"}}]})).as_deref(),
            Some(".steps[1].config.x")
        );
        assert_eq!(nul_path(&json!({"ok": ["fine"]})), None);
    }

    #[test]
    fn finds_and_replaces_nul_anywhere() {
        let bad = json!({"a": [1, {"b\u{0}": "x"}], "c": "ok"});
        assert!(contains_nul(&bad));
        assert!(contains_nul(&json!(["a\u{0}"])));
        assert!(!contains_nul(&json!({"a": [1, "two", null]})));
        let fixed = replace_nul(bad);
        assert!(!contains_nul(&fixed));
        assert_eq!(fixed["a"][1]["b\u{FFFD}"], "x");
    }
}
