//! Where a TOML file (rules, alerts) went wrong, said as the rest of the tool says
//! where input went wrong: `file:line:column: what`, on one line. The TOML reader's
//! own message spans several lines (the line quoted, a caret under the column),
//! which a log line or a terminal's error line cannot hold.

/// `error`, met reading `text` from the file named `path`, as
/// `path:line:column: message`; `path: message` when the reader gave no place.
pub fn located(path: &str, text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim_end().replace('\n', " ");
    match error.span() {
        Some(span) => {
            let before = &text[..floor_char_boundary(text, span.start)];
            let line = before.matches('\n').count() + 1;
            let column = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
            format!("{path}:{line}:{column}: {message}")
        }
        None => format!("{path}: {message}"),
    }
}

/// The largest char boundary of `text` at or before `at`.
fn floor_char_boundary(text: &str, at: usize) -> usize {
    let mut at = at.min(text.len());
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
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
        located("r.toml", text, &e)
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
