//! Bytes this machine's disks read and wrote between two samples. On Linux they
//! are the physical whole disks of `/proc/diskstats`, which see every byte that
//! reaches a disk whatever put it there: a ZFS pool, swap, a database on a raw
//! device, a disk nothing mounts. Partitions and the devices stacked on disks
//! (device-mapper, md, loop, zram) are left out, so each byte is counted once, at
//! its disk. Elsewhere, or where no physical disk is listed, they are the devices
//! sysinfo finds mounted.

use std::collections::HashMap;
use std::ffi::{OsStr, OsString};
use std::path::Path;

use sysinfo::{DiskRefreshKind, Disks};

/// `/proc/diskstats` counts in sectors of this many bytes, whatever the disk's.
const SECTOR: u64 = 512;

/// Where the disks' counters are read.
enum Source {
    /// `/proc/diskstats`, its physical whole disks; whether each name listed there
    /// is one is looked up once (a name keeps its kind: `loop3` is always a loop
    /// device, `sdb` always a disk), not at every sample.
    DiskStats(HashMap<String, bool>),
    /// The devices sysinfo finds mounted.
    Mounted(Disks),
    /// Neither: the disk metrics are missing.
    None,
}

/// The disks' counters, read once per sample.
pub struct DiskIo {
    source: Source,
    totals: DiskTotals,
}

impl DiskIo {
    /// Chooses where to read and takes the first counters, so the first
    /// [`DiskIo::since_last`] is already a change.
    pub fn new() -> DiskIo {
        // The first reading of `/proc/diskstats` both takes the first counters and
        // says whether it lists a physical disk.
        let mut io = DiskIo {
            source: Source::DiskStats(HashMap::new()),
            totals: DiskTotals::default(),
        };
        io.since_last();
        let lists_a_disk = match &io.source {
            Source::DiskStats(kinds) => kinds.values().any(|&physical| physical),
            _ => false,
        };
        if !lists_a_disk {
            io.source = Disks::new_with_refreshed_list_specifics(
                DiskRefreshKind::nothing().with_io_usage(),
            )
            .map_or(Source::None, Source::Mounted);
            io.since_last();
        }
        io
    }

    /// Bytes read and written since the last call; `None` when the counters cannot
    /// be read.
    pub fn since_last(&mut self) -> Option<(f64, f64)> {
        match &mut self.source {
            Source::DiskStats(kinds) => {
                let text = read_diskstats()?;
                let mut listed = HashMap::with_capacity(kinds.len());
                let disks = physical_disks(&text, |name| {
                    let physical = kinds
                        .get(name)
                        .copied()
                        .unwrap_or_else(|| is_physical_disk(name));
                    listed.insert(name.to_string(), physical);
                    physical
                });
                *kinds = listed;
                Some(
                    self.totals.advance(
                        disks
                            .iter()
                            .map(|&(name, read, written)| (OsStr::new(name), read, written)),
                    ),
                )
            }
            Source::Mounted(disks) => {
                disks.refresh_specifics(true, DiskRefreshKind::nothing().with_io_usage());
                Some(self.totals.advance(disks.iter().map(|disk| {
                    let usage = disk.usage();
                    (
                        disk.name(),
                        usage.total_read_bytes,
                        usage.total_written_bytes,
                    )
                })))
            }
            Source::None => None,
        }
    }
}

fn read_diskstats() -> Option<String> {
    std::fs::read_to_string("/proc/diskstats").ok()
}

/// Whether `name` is a whole disk of its own hardware: `/sys/block` lists whole
/// disks (no partitions), and those the kernel makes from others (loop, ram,
/// zram, device-mapper, md) live under `/sys/devices/virtual`.
fn is_physical_disk(name: &str) -> bool {
    std::fs::canonicalize(Path::new("/sys/block").join(name))
        .is_ok_and(|path| !path.starts_with("/sys/devices/virtual"))
}

/// The disks of a `/proc/diskstats` text that `is_physical` accepts, with their
/// bytes read and written since boot.
fn physical_disks(text: &str, mut is_physical: impl FnMut(&str) -> bool) -> Vec<(&str, u64, u64)> {
    text.lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let name = *fields.get(2)?;
            let read = fields.get(5)?.parse::<u64>().ok()?;
            let written = fields.get(9)?.parse::<u64>().ok()?;
            Some((
                name,
                read.saturating_mul(SECTOR),
                written.saturating_mul(SECTOR),
            ))
        })
        .filter(|(name, _, _)| is_physical(name))
        .collect()
}

/// Each device's bytes read and written at the last sample, by name. The change
/// is taken here rather than from sysinfo's per-refresh figure, which for a disk
/// new to its list is the device's bytes since boot: a backup disk mounted at
/// night would read as one second of hundreds of GB/s.
#[derive(Debug, Default)]
struct DiskTotals(HashMap<OsString, (u64, u64)>);

impl DiskTotals {
    /// Bytes read and written since the last call, each device counted once even
    /// when it is listed twice (mounted at several places). A device not in the
    /// last call (just plugged in or mounted) counts from the next one; one whose
    /// counters went back (a device made anew) counts nothing this time.
    fn advance<'a>(&mut self, devices: impl Iterator<Item = (&'a OsStr, u64, u64)>) -> (f64, f64) {
        let mut now = HashMap::with_capacity(self.0.len());
        let (mut read, mut written) = (0.0, 0.0);
        for (name, total_read, total_written) in devices {
            if now.contains_key(name) {
                continue;
            }
            if let Some(&(last_read, last_written)) = self.0.get(name) {
                read += total_read.saturating_sub(last_read) as f64;
                written += total_written.saturating_sub(last_written) as f64;
            }
            now.insert(name.to_os_string(), (total_read, total_written));
        }
        self.0 = now;
        (read, written)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disks<'a>(list: &'a [(&'a str, u64, u64)]) -> impl Iterator<Item = (&'a OsStr, u64, u64)> {
        list.iter().map(|&(name, r, w)| (OsStr::new(name), r, w))
    }

    #[test]
    fn a_disk_mounted_during_the_session_counts_from_its_next_sample_not_its_lifetime() {
        let mut totals = DiskTotals::default();
        assert_eq!(
            totals.advance(disks(&[("/dev/sda1", 1000, 500)])),
            (0.0, 0.0)
        );
        assert_eq!(
            totals.advance(disks(&[("/dev/sda1", 1300, 600)])),
            (300.0, 100.0)
        );
        // A backup disk remounted: 50 GB read since boot is not this second's.
        let mounted = [("/dev/sda1", 1400, 600), ("/dev/sdb1", 50_000_000_000, 7)];
        assert_eq!(totals.advance(disks(&mounted)), (100.0, 0.0));
        let next = [("/dev/sda1", 1400, 600), ("/dev/sdb1", 50_000_004_096, 7)];
        assert_eq!(totals.advance(disks(&next)), (4096.0, 0.0));
    }

    #[test]
    fn a_device_listed_twice_counts_once_and_one_whose_counters_went_back_counts_nothing() {
        let mut totals = DiskTotals::default();
        let twice = [("/dev/loop0", 10, 10), ("/dev/loop0", 10, 10)];
        totals.advance(disks(&twice));
        let later = [("/dev/loop0", 30, 20), ("/dev/loop0", 30, 20)];
        assert_eq!(totals.advance(disks(&later)), (20.0, 10.0));
        assert_eq!(totals.advance(disks(&[("/dev/loop0", 5, 5)])), (0.0, 0.0));
        assert_eq!(totals.advance(disks(&[("/dev/loop0", 8, 9)])), (3.0, 4.0));
    }

    #[test]
    fn only_whole_physical_disks_count_so_a_partition_or_a_volume_on_a_disk_is_not_counted_again() {
        let text = "\
   8       0 sda 100 0 2000 0 50 0 1000 0 0 0 0 0 0 0 0 0 0
   8       1 sda1 90 0 1900 0 50 0 1000 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 10 0 30 0 20 0 40 0 0 0 0 0 0 0 0 0 0
 253       0 dm-0 90 0 1900 0 50 0 1000 0 0 0 0 0 0 0 0 0 0
   7       0 loop0 5 0 64 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 252       0 zram0 1 0 8 0 1 0 8 0 0 0 0 0 0 0 0 0 0
garbage
";
        let physical = |name: &str| name == "sda" || name == "nvme0n1";
        assert_eq!(
            physical_disks(text, physical),
            vec![
                ("sda", 2000 * 512, 1000 * 512),
                ("nvme0n1", 30 * 512, 40 * 512)
            ]
        );
    }
}
