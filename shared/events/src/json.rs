use crate::NormaliseError;

/// Fails when `body` nests arrays and objects deeper than `limit`, without parsing it.
///
/// Runs before the parser so that a hostile body costs one linear scan and never a deep
/// recursion.
pub fn check_depth(body: &[u8], limit: usize) -> Result<(), NormaliseError> {
    let mut depth = 0usize;
    let mut in_string = false;
    let mut escaped = false;
    for &b in body {
        if in_string {
            if escaped {
                escaped = false;
            } else if b == b'\\' {
                escaped = true;
            } else if b == b'"' {
                in_string = false;
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(NormaliseError::TooDeep { limit });
                }
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    Ok(())
}

/// Parses JSON within the depth limit, with an error that says where it broke.
///
/// A leading UTF-8 byte order mark is skipped: RFC 8259 (8.1) lets a parser ignore it, and
/// some senders write one (two samples of the CloudEvents SDKs do).
pub fn parse_json(body: &[u8], depth_limit: usize) -> Result<serde_json::Value, NormaliseError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    check_depth(body, depth_limit)?;
    serde_json::from_slice(body).map_err(|e| NormaliseError::MalformedJson(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn depth_limit_counts_arrays_and_objects_but_not_brackets_in_strings() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(check_depth(ok.as_bytes(), 64).is_ok());
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(
            check_depth(deep.as_bytes(), 64),
            Err(NormaliseError::TooDeep { limit: 64 })
        );
        let in_string = format!("{{\"a\":\"{}\\\"{}\"}}", "[".repeat(100), "{".repeat(100));
        assert!(check_depth(in_string.as_bytes(), 64).is_ok());
    }

    #[test]
    fn malformed_json_says_where() {
        let err = parse_json(b"{\"a\": 1,,}", 64).unwrap_err();
        match err {
            NormaliseError::MalformedJson(m) => assert!(m.contains("column"), "{m}"),
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn a_leading_byte_order_mark_is_skipped() {
        let v = parse_json(b"\xEF\xBB\xBF{\"a\": 1}", 64).unwrap();
        assert_eq!(v, serde_json::json!({"a": 1}));
        // Only one, and only at the start.
        assert!(parse_json(b"\xEF\xBB\xBF\xEF\xBB\xBF{}", 64).is_err());
        assert!(parse_json(b"{\"a\": \xEF\xBB\xBF1}", 64).is_err());
    }

    proptest::proptest! {
        #[test]
        fn depth_check_never_panics(body in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            let _ = check_depth(&body, 64);
        }
    }
}
