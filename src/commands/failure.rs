//! How a command's failure is told: the chain of causes on one line, with a hint
//! for the system errors a user can act on (a full disk, a folder they may not
//! write to) when the message has none.

use std::io::ErrorKind;

use metrics::analysis::AnalysisError;

/// The kinds of every system error in `e`'s chain, outermost first.
pub fn io_kinds(e: &anyhow::Error) -> impl Iterator<Item = ErrorKind> + '_ {
    let of_csv = |csv: &csv::Error| match csv.kind() {
        csv::ErrorKind::Io(io) => Some(io.kind()),
        _ => None,
    };
    e.chain().filter_map(move |cause| {
        if let Some(io) = cause.downcast_ref::<std::io::Error>() {
            return Some(io.kind());
        }
        if let Some(csv) = cause.downcast_ref::<csv::Error>() {
            return of_csv(csv);
        }
        // A failed write carries its cause inside, not as a source (so a chain
        // names it once).
        match cause.downcast_ref::<AnalysisError>() {
            Some(AnalysisError::Write(csv)) => of_csv(csv),
            _ => None,
        }
    })
}

/// `e` as the line after `error: `: every cause, and a hint where the system said
/// what is wrong and the message gives none.
pub fn told(e: &anyhow::Error) -> String {
    let message = format!("{e:#}");
    if message.contains("hint:") {
        return message;
    }
    let hint = io_kinds(e).find_map(|kind| match kind {
        ErrorKind::StorageFull | ErrorKind::QuotaExceeded => {
            Some("free some space there, or write elsewhere")
        }
        ErrorKind::PermissionDenied | ErrorKind::ReadOnlyFilesystem => {
            Some("write to a folder this user may write to")
        }
        _ => None,
    });
    match hint {
        Some(hint) => format!("{message}; hint: {hint}"),
        None => message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_disk_gets_a_hint_and_a_message_with_one_keeps_its_own() {
        let full = anyhow::Error::new(AnalysisError::Write(csv::Error::from(
            std::io::Error::from(ErrorKind::StorageFull),
        )))
        .context("--output-file out.csv: cannot write");
        assert!(
            told(&full).ends_with("; hint: free some space there, or write elsewhere"),
            "{}",
            told(&full)
        );
        let denied = anyhow::Error::new(std::io::Error::from(ErrorKind::PermissionDenied))
            .context("-o /x.csv: cannot write; hint: pick another file");
        assert_eq!(told(&denied).matches("hint:").count(), 1);
        let other = anyhow::anyhow!("something else");
        assert_eq!(told(&other), "something else");
    }
}
