//! `x-request-id`: the caller's, when it is sane; ours otherwise.

/// A caller's id is kept when it is 1–128 characters of `[A-Za-z0-9._:-]`, so
/// it can go into logs, headers and JSON without escaping or injection.
pub fn is_sane(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'))
}

#[cfg(test)]
mod tests {
    use super::is_sane;

    #[test]
    fn sanity() {
        assert!(is_sane("0192f0c1-7c55-7aa0-9b1e-8d4f2f0e8a11"));
        assert!(is_sane("req.42:a_b"));
        assert!(!is_sane(""));
        assert!(!is_sane("a b"));
        assert!(!is_sane("x\r\nset-cookie: y"));
        assert!(!is_sane(&"a".repeat(129)));
    }
}
