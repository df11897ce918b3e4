//! sysstat's history as `sadf -d` writes it: what many servers already keep of
//! their past (`/var/log/sysstat`), read as any CSV with `;` between cells and a
//! header that begins `# hostname;interval;timestamp`. Two of its columns of
//! numbers are no metrics: `interval`, the seconds between samples, and `CPU`, the
//! number of the CPU a row is about (-1 for all of them), which the `cpu` alias
//! would otherwise read as a CPU percent, flagging every row as an impossible one.
//! `sadf -dh` writes a group of columns per device (every CPU, every interface),
//! marked `[...]` in the header, so its rows are longer than its header: such a
//! file is refused with how to write one device per column instead.

/// The header `sadf -d` begins with.
const HEADER_START: [&str; 3] = ["# hostname", "interval", "timestamp"];

/// Its columns of numbers that are no metrics.
const NOT_METRICS: [&str; 2] = ["interval", "CPU"];

/// Whether `header` is that of `sadf -d`.
pub fn is_sadf(header: &[String]) -> bool {
    header.len() >= HEADER_START.len() && header.iter().zip(HEADER_START).all(|(h, s)| h == s)
}

/// The names of a `sadf -d` header's columns (see [`is_sadf`]) that hold numbers
/// but no metric; none for any other header.
pub fn not_metrics(header: &[String]) -> &'static [&'static str] {
    if is_sadf(header) { &NOT_METRICS } else { &[] }
}

/// How to fix a `sadf -dh` file whose rows hold a group of columns per device,
/// when `header` is one.
pub fn repeated_groups_hint(header: &[String]) -> Option<&'static str> {
    (is_sadf(header) && header.iter().any(|h| h.ends_with("[...]"))).then_some(
        "this is sadf -dh output with a group of columns per device ([...] in the header); \
         name one device (sadf -dh FILE -- -u -r -n DEV --iface=eth0), or leave out -P ALL",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(text: &str) -> Vec<String> {
        text.split(';').map(String::from).collect()
    }

    #[test]
    fn a_sadf_header_names_its_columns_that_are_no_metrics() {
        let sadf = header("# hostname;interval;timestamp;CPU;%user;%idle");
        assert_eq!(not_metrics(&sadf), ["interval", "CPU"]);
        assert_eq!(repeated_groups_hint(&sadf), None);
        // Any other file's CPU column is the CPU percent its alias says.
        assert!(not_metrics(&header("timestamp;CPU;interval")).is_empty());
        let grouped = header("# hostname;interval;timestamp;CPU;%user;%idle[...]");
        assert!(repeated_groups_hint(&grouped).is_some());
        assert_eq!(repeated_groups_hint(&header("timestamp;a[...]")), None);
    }
}
