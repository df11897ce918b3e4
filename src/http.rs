//! What the HTTP clients share (the alert receivers and the Prometheus history
//! reader): a base URL checked once, an API path under it, and an error told with
//! every cause, so a refused connection says why.

use reqwest::Url;

/// `text` as an http:// or https:// URL with a host; otherwise what is wrong,
/// with a hint.
pub fn http_url(text: &str) -> Result<Url, String> {
    let url = Url::parse(text)
        .map_err(|e| format!("not a URL ({e}); hint: give http://host:port/path"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(
            "needs an http:// or https:// URL with a host; hint: http://127.0.0.1:9093".into(),
        );
    }
    Ok(url)
}

/// The API path `path` (relative, as `api/v2/alerts`) under `base`, which may
/// itself sit under a path prefix (`http://host/alertmanager`), with or without
/// a trailing slash.
pub fn api_url(base: &Url, path: &str) -> Option<Url> {
    let mut base = base.clone();
    if !base.path().ends_with('/') {
        base.set_path(&format!("{}/", base.path()));
    }
    base.join(path).ok()
}

/// `e` and each of its causes, joined with `: `.
pub fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text = format!("{text}: {s}");
        source = s.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_paths_keep_the_base_path_prefix() {
        for base in [
            "http://h:9093",
            "http://h:9093/",
            "http://h/am",
            "http://h/am/",
        ] {
            let base = http_url(base).unwrap();
            let url = api_url(&base, "api/v2/alerts").unwrap().to_string();
            assert!(url.ends_with("/api/v2/alerts"), "{url}");
            assert_eq!(
                url.contains("/am/"),
                base.path().starts_with("/am"),
                "{url}"
            );
        }
    }

    #[test]
    fn only_http_urls_with_a_host_are_taken() {
        for bad in [
            "localhost:9093",
            "ftp://h/x",
            "hooks.example.com",
            "http://",
        ] {
            assert!(http_url(bad).is_err(), "{bad}");
        }
    }
}
