//! Address ranges (`10.0.0.0/8`, `::1/128`, or a bare address): parsing and matching, for
//! tokens limited to address ranges and for `server.trusted_proxies`. IPv4-mapped IPv6
//! addresses (`::ffff:10.1.2.3`) count as the IPv4 address they carry.

use std::net::IpAddr;

/// Parses `10.0.0.0/8`, `::1/128` or a bare address into (network, prefix length).
pub fn parse(s: &str) -> Option<(IpAddr, u32)> {
    let (ip, len) = match s.trim().split_once('/') {
        Some((ip, len)) => (ip.parse::<IpAddr>().ok()?, len.parse::<u32>().ok()?),
        None => {
            let ip = s.trim().parse::<IpAddr>().ok()?;
            (ip, if ip.is_ipv4() { 32 } else { 128 })
        }
    };
    let max = if ip.is_ipv4() { 32 } else { 128 };
    (len <= max).then_some((ip, len))
}

/// The address as 128 bits (IPv4 in the top 32), and whether it is IPv4.
fn as_bits(ip: IpAddr) -> (u128, bool) {
    match ip {
        IpAddr::V4(v4) => (u128::from(u32::from(v4)) << 96, true),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => (u128::from(u32::from(v4)) << 96, true),
            None => (u128::from(v6), false),
        },
    }
}

/// Whether `ip` lies in the range; a range that does not parse holds nothing.
pub fn contains(range: &str, ip: IpAddr) -> bool {
    let Some((net, len)) = parse(range) else {
        return false;
    };
    let (a, a4) = as_bits(ip);
    let (b, b4) = as_bits(net);
    if a4 != b4 {
        return false;
    }
    // IPv4 addresses sit in the top 32 bits, so an IPv4 prefix length applies unchanged.
    let mask = if len == 0 {
        0
    } else {
        u128::MAX << (128 - len)
    };
    a & mask == b & mask
}

/// `ip` with the bits past the first `len` cleared (an IPv4 address stays IPv4; `len` counts
/// from the start of whichever form it has).
pub fn network(ip: IpAddr, len: u32) -> IpAddr {
    match ip {
        IpAddr::V4(v4) => {
            let mask = u32::MAX.checked_shl(32 - len.min(32)).unwrap_or(0);
            IpAddr::V4((u32::from(v4) & mask).into())
        }
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => network(IpAddr::V4(v4), len.saturating_sub(96)),
            None => {
                let mask = u128::MAX.checked_shl(128 - len.min(128)).unwrap_or(0);
                IpAddr::V6((u128::from(v6) & mask).into())
            }
        },
    }
}

/// The address that stands for one client in per-client counts: an IPv4 address (mapped or
/// not) as it is, an IPv6 address by its /64, which one client usually holds whole.
pub fn client(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => network(ip, 64),
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ranges_match_v4_v6_and_mapped() {
        assert!(contains("10.0.0.0/8", ip("10.1.2.3")));
        assert!(!contains("10.0.0.0/8", ip("11.1.2.3")));
        assert!(contains("127.0.0.1", ip("127.0.0.1")));
        assert!(contains("127.0.0.0/8", ip("::ffff:127.0.0.1")));
        assert!(contains("::1/128", ip("::1")));
        assert!(!contains("::1/128", ip("::2")));
        assert!(contains("0.0.0.0/0", ip("8.8.8.8")));
        assert!(!contains("nonsense", ip("10.0.0.1")));
        assert!(parse("10.0.0.0/33").is_none() && parse("::/129").is_none());
        assert!(parse(" 192.168.0.0/16 ").is_some());
    }

    #[test]
    fn networks_clear_the_host_bits() {
        assert_eq!(network(ip("10.1.2.3"), 24), ip("10.1.2.0"));
        assert_eq!(network(ip("10.1.2.3"), 0), ip("0.0.0.0"));
        assert_eq!(
            network(ip("2001:db8:1:2:3:4:5:6"), 64),
            ip("2001:db8:1:2::")
        );
        assert_eq!(network(ip("::ffff:10.1.2.3"), 128), ip("10.1.2.3"));
        assert_eq!(client(ip("::ffff:10.1.2.3")), ip("10.1.2.3"));
        assert_eq!(client(ip("2001:db8::1")), client(ip("2001:db8::2")));
    }
}
