//! The serving process's own resource use, for the `process_*` families every
//! Prometheus exporter exposes (client_golang's process collector names them;
//! `super::prometheus` writes them), so
//! a session left running is watched like any other: its memory, CPU time and
//! file descriptors over months, its restarts by its start time. Read from
//! `/proc/self` at each scrape; elsewhere than Linux the families are left out.

/// One reading of the process's resource use.
#[derive(Debug, Clone, PartialEq)]
pub struct ProcessStats {
    /// User and system CPU time, seconds.
    pub cpu_seconds: f64,
    /// Resident memory, bytes.
    pub resident_bytes: u64,
    /// Virtual memory, bytes.
    pub virtual_bytes: u64,
    /// Open file descriptors.
    pub open_fds: u64,
    /// The limit on open file descriptors (soft), when there is one.
    pub max_fds: Option<u64>,
    /// Start time, Unix seconds.
    pub start_time_seconds: f64,
}

impl ProcessStats {
    /// The process's figures now; `None` where `/proc` cannot tell them.
    pub fn read() -> Option<ProcessStats> {
        let stat = std::fs::read_to_string("/proc/self/stat").ok()?;
        let boot = std::fs::read_to_string("/proc/stat").ok()?;
        // SAFETY: sysconf only reads a system constant.
        let (ticks, page) = unsafe {
            (
                libc::sysconf(libc::_SC_CLK_TCK),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        if ticks <= 0 || page <= 0 {
            return None;
        }
        let open_fds = std::fs::read_dir("/proc/self/fd").ok()?.count() as u64;
        let limits = std::fs::read_to_string("/proc/self/limits").unwrap_or_default();
        parse(&stat, &boot, &limits, open_fds, ticks as f64, page as u64)
    }
}

/// The figures from the texts of `/proc/self/stat`, `/proc/stat` and
/// `/proc/self/limits`, with the clock's ticks per second and the page size.
fn parse(
    stat: &str,
    boot: &str,
    limits: &str,
    open_fds: u64,
    ticks: f64,
    page: u64,
) -> Option<ProcessStats> {
    // The command name (field 2) is in parentheses and may hold spaces and
    // parentheses itself: fields are counted from after its last `)`.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // Fields 14, 15 (utime, stime), 22 (starttime), 23 (vsize), 24 (rss), less
    // the two before the rest.
    let field = |n: usize| fields.get(n - 3)?.parse::<u64>().ok();
    let (utime, stime) = (field(14)?, field(15)?);
    let (start_ticks, vsize, rss) = (field(22)?, field(23)?, field(24)?);
    let btime: u64 = boot
        .lines()
        .find_map(|l| l.strip_prefix("btime "))?
        .trim()
        .parse()
        .ok()?;
    let max_fds = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|soft| soft.parse().ok());
    Some(ProcessStats {
        cpu_seconds: (utime + stime) as f64 / ticks,
        resident_bytes: rss * page,
        virtual_bytes: vsize,
        open_fds,
        max_fds,
        start_time_seconds: btime as f64 + start_ticks as f64 / ticks,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_a_command_name_holding_spaces_and_parentheses() {
        let stat = "4242 (tokio (rt) 1) S 1 4242 4242 0 -1 4194560 900 0 0 0 250 50 0 0 20 0 9 0 12345 104857600 3000 18446744073709551615 0 0 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0";
        let boot = "cpu  1 2 3\nbtime 1700000000\nprocesses 5\n";
        let limits = "Limit                     Soft Limit           Hard Limit           Units\nMax open files            1024                 524288               files\n";
        let stats = parse(stat, boot, limits, 12, 100.0, 4096).unwrap();
        assert_eq!(
            stats,
            ProcessStats {
                cpu_seconds: 3.0,
                resident_bytes: 3000 * 4096,
                virtual_bytes: 104_857_600,
                open_fds: 12,
                max_fds: Some(1024),
                start_time_seconds: 1_700_000_123.45,
            }
        );
        // An unlimited soft limit is no figure.
        let unlimited = limits.replace("1024   ", "unlimited");
        assert_eq!(
            parse(stat, boot, &unlimited, 12, 100.0, 4096)
                .unwrap()
                .max_fds,
            None
        );
        assert!(parse("garbage", boot, limits, 1, 100.0, 4096).is_none());
    }

    #[test]
    fn this_process_reads_itself() {
        let stats = ProcessStats::read().unwrap();
        assert!(stats.resident_bytes > 1 << 20, "{stats:?}");
        assert!(stats.open_fds >= 3, "{stats:?}");
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            stats.start_time_seconds <= now + 1.0 && stats.start_time_seconds > now - 3600.0,
            "{stats:?}"
        );
    }
}
