//! The URLs the HTTP clients call: a base URL checked once, and an API path under
//! it.

use reqwest::Url;

/// `text` as an http:// or https:// URL with a host; otherwise what is wrong,
/// with a hint.
pub fn http_url(text: &str) -> Result<Url, String> {
    // `localhost:9093` and `127.0.0.1:9093`, written as a host and port are, read as
    // a scheme and as no URL: the hint then gives the text with its scheme.
    let hint = if text.contains("://") {
        "http://127.0.0.1:9093".to_string()
    } else {
        format!("http://{text}")
    };
    let url = Url::parse(text).map_err(|e| format!("not a URL ({e}); hint: {hint}"))?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        return Err(format!(
            "needs an http:// or https:// URL with a host; hint: {hint}"
        ));
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

/// `text` as it may be shown in messages, logs and reports: a URL's password
/// (`https://user:secret@host`) replaced by `***`, everything else as written.
pub fn shown_url(text: &str) -> String {
    match Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_and_port_without_a_scheme_is_refused_with_the_url_it_meant() {
        for text in ["localhost:9093", "127.0.0.1:9093"] {
            let err = http_url(text).unwrap_err();
            assert!(err.ends_with(&format!("hint: http://{text}")), "{err}");
        }
        let err = http_url("ftp://h").unwrap_err();
        assert!(err.ends_with("hint: http://127.0.0.1:9093"), "{err}");
    }

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
    fn a_password_in_a_url_is_never_shown() {
        assert_eq!(
            shown_url("http://admin:hunter2@127.0.0.1:9090"),
            "http://admin:***@127.0.0.1:9090/"
        );
        assert_eq!(shown_url("http://127.0.0.1:9090"), "http://127.0.0.1:9090");
        assert_eq!(shown_url("not a url"), "not a url");
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
