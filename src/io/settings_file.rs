//! Settings files in the YAML of the Prometheus project (`--web-config`,
//! `--http-config`): read and shaped in one place, so both tell a user the same
//! way what is wrong and which keys are read.

use std::path::Path;

use serde::de::DeserializeOwned;

/// The file at `path` in the shape `T`. The error says what went wrong (the
/// reading, or the YAML with its line and column) and, for a key not read,
/// `hint`: the keys that are.
pub fn read_yaml<T: DeserializeOwned>(path: &Path, hint: &str) -> Result<T, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read it: {e}"))?;
    serde_norway::from_str(&text).map_err(|e| format!("{e}; hint: {hint}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Shape {
        wanted: Option<u32>,
    }

    #[test]
    fn a_missing_file_and_an_unread_key_are_told_apart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("web.yml");
        let e = read_yaml::<Shape>(&path, "reads wanted").unwrap_err();
        assert!(e.starts_with("cannot read it: "), "{e}");
        std::fs::write(&path, "wanted: 1\nother: 2\n").unwrap();
        let e = read_yaml::<Shape>(&path, "reads wanted").unwrap_err();
        assert!(
            e.contains("other") && e.contains("line 2") && e.ends_with("; hint: reads wanted"),
            "{e}"
        );
        std::fs::write(&path, "wanted: 1\n").unwrap();
        assert_eq!(read_yaml::<Shape>(&path, "").unwrap().wanted, Some(1));
    }
}
