//! Small text rules shared by entities.

/// `[A-Za-z0-9_-]{1,50}`: a business code such as `ducksrus`.
pub fn is_code(s: &str) -> bool {
    (1..=50).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Escapes `%`, `_` and `\` so user text matches literally inside
/// `ILIKE '%' || $n || '%' ESCAPE '\'`.
pub fn like_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// jsonb cannot store `\u{0}` anywhere, in keys or in values.
pub fn json_has_nul(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(json_has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || json_has_nul(v)),
        _ => false,
    }
}

/// jsonb keeps numbers as exact decimals and prints them back in full; near
/// f64::MAX that text no longer parses as a JSON number on the way out, so
/// such a record could be written but never read again.
pub fn json_has_huge_number(value: &serde_json::Value) -> bool {
    use serde_json::Value;
    match value {
        Value::Number(n) => n
            .as_f64()
            .is_none_or(|f| !f.is_finite() || f.abs() >= 1e308),
        Value::Array(items) => items.iter().any(json_has_huge_number),
        Value::Object(map) => map.values().any(json_has_huge_number),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes() {
        assert!(is_code("ducksrus"));
        assert!(is_code("Ducks_R-Us9"));
        assert!(!is_code(""));
        assert!(!is_code("ducks rus"));
        assert!(!is_code("canard-oui-oui-ü"));
        assert!(!is_code(&"a".repeat(51)));
        assert!(is_code(&"a".repeat(50)));
    }

    #[test]
    fn finds_nul_anywhere_in_json() {
        assert!(json_has_nul(&serde_json::json!({"a": [{"b\u{0}": 1}]})));
        assert!(json_has_nul(&serde_json::json!({"a": ["x\u{0}"]})));
        assert!(!json_has_nul(&serde_json::json!({"a": ["x"]})));
    }

    #[test]
    fn like_patterns_are_literal() {
        assert_eq!(like_escape(r"50%_off\"), r"50\%\_off\\");
    }
}
