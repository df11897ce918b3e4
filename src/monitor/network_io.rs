//! Bytes this machine sent and received between two samples, on the interfaces
//! that carry its traffic: the physical ones. A packet a container or a virtual
//! machine sends crosses its virtual interface, the bridge and the physical card,
//! and a VPN's crosses its tunnel and the card, so counting every interface
//! counted it two or three times; traffic between the host and a local container
//! never leaves the machine at all. Where no interface is physical (inside a
//! container, whose `eth0` is one end of a virtual pair) every interface but
//! loopback counts.

use std::ffi::OsStr;

use sysinfo::Networks;

/// Bytes sent and received since the last refresh of `networks`, on the
/// interfaces that count.
pub fn network_bytes(networks: &Networks) -> (f64, f64) {
    let interfaces = networks
        .iter()
        .map(|(name, data)| (name.as_os_str(), data.transmitted(), data.received()));
    traffic(interfaces, is_virtual)
}

/// Whether the kernel made interface `name` itself (a bridge, a tunnel, one end
/// of a container's pair) rather than for a card: Linux lists those under
/// `/sys/devices/virtual/net`. Elsewhere every interface reads as physical.
fn is_virtual(name: &OsStr) -> bool {
    std::path::Path::new("/sys/devices/virtual/net")
        .join(name)
        .exists()
}

/// Bytes sent and received over `interfaces` (name, sent, received): the
/// physical ones, or every one but loopback when none is physical.
fn traffic<'a>(
    interfaces: impl Iterator<Item = (&'a OsStr, u64, u64)> + Clone,
    is_virtual: impl Fn(&OsStr) -> bool,
) -> (f64, f64) {
    let outside = |name: &OsStr| name != "lo" && name != "lo0";
    let physical = |name: &OsStr| outside(name) && !is_virtual(name);
    let any_physical = interfaces.clone().any(|(name, _, _)| physical(name));
    let counted = |name: &OsStr| {
        if any_physical {
            physical(name)
        } else {
            outside(name)
        }
    };
    interfaces
        .filter(|(name, _, _)| counted(name))
        .fold((0.0, 0.0), |(sent, received), (_, s, r)| {
            (sent + s as f64, received + r as f64)
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn traffic_through_a_bridge_or_a_tunnel_is_counted_once_on_the_card() {
        let virtual_ = |name: &OsStr| {
            ["docker0", "veth1a2b", "wg0", "lo", "eth0.100"]
                .iter()
                .any(|v| name == *v)
        };
        // A container's download: the card receives it, the bridge and its pair send it on.
        let host = [
            ("lo", 500, 500),
            ("eth0", 100, 1000),
            ("docker0", 1000, 100),
            ("veth1a2b", 1000, 100),
            ("wg0", 40, 40),
            ("eth0.100", 7, 7),
        ];
        let interfaces = host.iter().map(|&(n, s, r)| (OsStr::new(n), s, r));
        assert_eq!(traffic(interfaces, virtual_), (100.0, 1000.0));
        // Two cards (a bond's) both count.
        let bond = [("eth0", 1, 2), ("eth1", 3, 4), ("bond0", 4, 6)];
        let interfaces = bond.iter().map(|&(n, s, r)| (OsStr::new(n), s, r));
        assert_eq!(traffic(interfaces, |n| n == "bond0"), (4.0, 6.0));
    }

    #[test]
    fn inside_a_container_its_virtual_interfaces_count_but_loopback_never() {
        let container = [("lo", 500, 500), ("eth0", 10, 20)];
        let interfaces = container.iter().map(|&(n, s, r)| (OsStr::new(n), s, r));
        assert_eq!(traffic(interfaces, |_| true), (10.0, 20.0));
    }
}
