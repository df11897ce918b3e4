//! Where in a text something went wrong, said as `file:line:column: what` on one
//! line: the line and column of a byte offset (CSV cells, rules and alerts
//! fields), and a TOML reader's error at its place. The TOML reader's own message
//! spans several lines (the line quoted, a caret under the column), which a log
//! line or a terminal's error line cannot hold.

/// 1-based line and column (in characters) of byte offset `at` (at most the
/// text's length).
pub fn line_col(bytes: &[u8], at: usize) -> (u64, u64) {
    let before = &bytes[..at];
    let line = before.iter().filter(|&&b| b == b'\n').count() as u64 + 1;
    let start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let col = String::from_utf8_lossy(&bytes[start..at]).chars().count() as u64 + 1;
    (line, col)
}

/// The 1-based line of byte offset `at` of `text` (clamped to its length): where a
/// TOML field's span starts.
pub fn line_of(text: &str, at: usize) -> usize {
    line_col(text.as_bytes(), at.min(text.len())).0 as usize
}

/// `error`, met reading `text` from the file named `path`, as
/// `path:line:column: message`; `path: message` when the reader gave no place.
pub fn toml_error(path: &str, text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let (line, column) = line_col(text.as_bytes(), span.start.min(text.len()));
            format!("{path}:{line}:{column}: {message}")
        }
        None => format!("{path}: {message}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Rule {
        metric: String,
    }

    fn error_of(text: &str) -> String {
        let e = toml::from_str::<Rule>(text).unwrap_err();
        toml_error("r.toml", text, &e)
    }

    #[test]
    fn line_and_column_count_characters() {
        assert_eq!(line_col("ab\ncé,x".as_bytes(), 6), (2, 3));
        assert_eq!(line_of("a\nb", 99), 2);
    }

    #[test]
    fn a_bad_field_is_named_with_its_line_and_column_on_one_line() {
        let said = error_of("metric = \"cpu\"\n  above = 3\n");
        assert!(
            said.starts_with("r.toml:2:3: unknown field `above`"),
            "{said}"
        );
        assert!(!said.contains('\n') && !said.contains('|'), "{said}");
        // Columns count characters, not bytes: the `x` is the 14th.
        let after_accent = error_of("metric = \"é\" x\n");
        assert!(after_accent.starts_with("r.toml:1:14: "), "{after_accent}");
    }
}
