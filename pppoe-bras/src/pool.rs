//! IPv4 address leases: static per user, dynamic ranges.
//!
//! The address handed to a subscriber in IPCP (RFC 1332 §3.3, IP-Address
//! option, sent to the peer in a Configure-Nak) comes from here.
//!
//! Allocation policy, in order:
//! 1. **Static**: the address from the user's secrets line (`wanted`) is
//!    granted when it is not leased already and is not excluded (the BRAS's
//!    own address). It may lie outside the ranges.
//! 2. **Sticky**: a user who reconnects gets back the address it held last,
//!    if that address is still free. Handy in a lab (the CPE keeps its
//!    address across a link flap) and cheap (the memory is bounded by the
//!    pool size).
//! 3. **Round-robin**: otherwise the next free address after the one handed
//!    out last. A released address therefore goes to the back of the queue:
//!    another subscriber does not inherit it at once (NAT logs and stale
//!    flows stay attributable), much like RFC 6888's advice on port reuse.
//!
//! Addresses reserved with [`Pool::reserve_static`] (other users' static
//! addresses) are never handed out dynamically. A `wanted` address that is
//! busy falls back to a dynamic one; the caller can compare the result with
//! `wanted` to log it.
//!
//! Nothing is materialised per address: a `/8` costs no more memory than a
//! `/24`. Memory grows with the number of leases only.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

/// An inclusive range of IPv4 addresses the pool may hand out.
///
/// Parsed from `FIRST-LAST` (`172.16.0.100-172.16.0.199`), a CIDR
/// (`172.16.0.0/24`; for prefixes up to /30 the network and broadcast
/// addresses are left out, /31 and /32 are used whole as in RFC 3021) or a
/// single address.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PoolRange {
    first: Ipv4Addr,
    last: Ipv4Addr,
}

/// Why a pool range string was refused. Messages say how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolRangeError {
    #[error("{0:?} is not an IPv4 address; write it as four numbers like 172.16.0.100")]
    BadAddress(String),
    #[error("range end is before its start; write the lower address first")]
    Reversed,
    #[error("prefix length {0:?} is not a number from 0 to 32")]
    BadPrefix(String),
    #[error("{addr}/{prefix} has host bits set; write {network}/{prefix}")]
    HostBits {
        addr: Ipv4Addr,
        network: Ipv4Addr,
        prefix: u8,
    },
    #[error(
        "range includes addresses no subscriber can use \
         (0.0.0.0/8, 127.0.0.0/8 loopback, or 224.0.0.0 and above); pick a unicast range"
    )]
    Unusable,
    #[error(
        "expected FIRST-LAST (like 172.16.0.100-172.16.0.199), a CIDR (like 172.16.0.0/24) or one address"
    )]
    Format,
}

impl PoolRange {
    /// The range `first..=last`; refuses reversed or unusable ranges.
    pub fn new(first: Ipv4Addr, last: Ipv4Addr) -> Result<Self, PoolRangeError> {
        let (f, l) = (u32::from(first), u32::from(last));
        if l < f {
            return Err(PoolRangeError::Reversed);
        }
        // 0.0.0.0/8 ("this network"), 127.0.0.0/8 (loopback), 224.0.0.0/4
        // (multicast), 240.0.0.0/4 (reserved) and the limited broadcast.
        let overlaps = |lo: u32, hi: u32| f <= hi && l >= lo;
        if overlaps(0x0000_0000, 0x00ff_ffff)
            || overlaps(0x7f00_0000, 0x7fff_ffff)
            || overlaps(0xe000_0000, 0xffff_ffff)
        {
            return Err(PoolRangeError::Unusable);
        }
        Ok(PoolRange { first, last })
    }

    /// The lowest address of the range.
    pub fn first(&self) -> Ipv4Addr {
        self.first
    }

    /// The highest address of the range (inclusive).
    pub fn last(&self) -> Ipv4Addr {
        self.last
    }

    /// How many addresses the range holds.
    pub fn len(&self) -> u64 {
        u64::from(u32::from(self.last)) - u64::from(u32::from(self.first)) + 1
    }

    /// Always false: a range holds at least one address.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Whether `addr` lies in the range.
    pub fn contains(&self, addr: Ipv4Addr) -> bool {
        self.first <= addr && addr <= self.last
    }

    /// Whether the two ranges share an address.
    pub fn overlaps(&self, other: &PoolRange) -> bool {
        self.first <= other.last && other.first <= self.last
    }
}

fn parse_addr(s: &str) -> Result<Ipv4Addr, PoolRangeError> {
    s.trim()
        .parse()
        .map_err(|_| PoolRangeError::BadAddress(s.trim().to_string()))
}

impl FromStr for PoolRange {
    type Err = PoolRangeError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s.is_empty() {
            return Err(PoolRangeError::Format);
        }
        if let Some((a, b)) = s.split_once('-') {
            return PoolRange::new(parse_addr(a)?, parse_addr(b)?);
        }
        if let Some((a, p)) = s.split_once('/') {
            let addr = parse_addr(a)?;
            let prefix: u8 = p
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 32)
                .ok_or_else(|| PoolRangeError::BadPrefix(p.trim().to_string()))?;
            let mask = if prefix == 0 {
                0
            } else {
                u32::MAX << (32 - u32::from(prefix))
            };
            let net = u32::from(addr) & mask;
            if net != u32::from(addr) {
                return Err(PoolRangeError::HostBits {
                    addr,
                    network: Ipv4Addr::from(net),
                    prefix,
                });
            }
            let bcast = net | !mask;
            let (first, last) = if prefix <= 30 {
                (net + 1, bcast - 1)
            } else {
                (net, bcast)
            };
            return PoolRange::new(Ipv4Addr::from(first), Ipv4Addr::from(last));
        }
        if s.contains(|c: char| c.is_whitespace() || c == ',') {
            return Err(PoolRangeError::Format);
        }
        let a = parse_addr(s)?;
        PoolRange::new(a, a)
    }
}

impl fmt::Display for PoolRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

/// Allocation failure.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    #[error(
        "address pool exhausted: none of its {size} dynamic addresses is free; \
         widen `pool` or lower `max_sessions`"
    )]
    Exhausted { size: u64 },
}

/// Append the CIDR blocks that exactly cover `first..=last`.
fn cidrs(first: u32, last: u32, out: &mut Vec<(Ipv4Addr, u8)>) {
    let (mut f, l) = (u64::from(first), u64::from(last));
    while f <= l {
        // The largest block aligned at `f` that does not pass `l`.
        let mut size = if f == 0 {
            1u64 << 32
        } else {
            1u64 << f.trailing_zeros().min(32)
        };
        while f + size - 1 > l {
            size >>= 1;
        }
        out.push((Ipv4Addr::from(f as u32), 32 - size.trailing_zeros() as u8));
        f += size;
    }
}

/// The longest prefix that contains every one of `prefixes` (0.0.0.0/0
/// for none): one compare in XDP that spares the inside lookups for
/// every other destination.
pub fn covering_prefix(prefixes: &[(Ipv4Addr, u8)]) -> (Ipv4Addr, u8) {
    let Some(&(first, first_len)) = prefixes.first() else {
        return (Ipv4Addr::UNSPECIFIED, 0);
    };
    let mask = |len: u8| {
        if len == 0 {
            0
        } else {
            u32::MAX << (32 - u32::from(len))
        }
    };
    let base = u32::from(first);
    let mut len = first_len;
    for &(a, l) in prefixes {
        len = len.min(l);
        let diff = (u32::from(a) ^ base) & mask(len);
        if diff != 0 {
            len = len.min(diff.leading_zeros() as u8);
        }
    }
    (Ipv4Addr::from(base & mask(len)), len)
}

/// The lease table. See the module doc for the allocation policy.
#[derive(Debug, Clone)]
pub struct Pool {
    /// Sorted, merged, inclusive `(first, last)` as integers.
    ranges: Vec<(u32, u32)>,
    /// Total addresses across `ranges`.
    size: u64,
    /// Never leased: the BRAS's own address and the like.
    excluded: HashSet<Ipv4Addr>,
    /// Static addresses of users (from secrets): not handed out dynamically.
    reserved: HashSet<Ipv4Addr>,
    /// Address → user holding it.
    leases: HashMap<Ipv4Addr, String>,
    /// Leases whose address lies in `ranges`.
    dynamic_in_use: u64,
    /// Sticky memory, both directions kept in step so it stays bounded by
    /// the number of distinct addresses ever released.
    last_by_user: HashMap<String, Ipv4Addr>,
    last_by_addr: HashMap<Ipv4Addr, String>,
    /// Index (into the concatenated ranges) of the next round-robin candidate.
    cursor: u64,
}

impl Pool {
    /// A pool over `ranges` that never hands out any address in `exclude`
    /// (pass the BRAS's `local_address`). Overlapping ranges are merged.
    pub fn new(ranges: &[PoolRange], exclude: &[Ipv4Addr]) -> Pool {
        let mut rs: Vec<(u32, u32)> = ranges
            .iter()
            .map(|r| (u32::from(r.first), u32::from(r.last)))
            .collect();
        rs.sort_unstable();
        let mut merged: Vec<(u32, u32)> = Vec::with_capacity(rs.len());
        for (f, l) in rs {
            match merged.last_mut() {
                Some((_, pl)) if u64::from(f) <= u64::from(*pl) + 1 => *pl = (*pl).max(l),
                _ => merged.push((f, l)),
            }
        }
        let size = merged
            .iter()
            .map(|(f, l)| u64::from(*l) - u64::from(*f) + 1)
            .sum();
        Pool {
            ranges: merged,
            size,
            excluded: exclude.iter().copied().collect(),
            reserved: HashSet::new(),
            leases: HashMap::new(),
            dynamic_in_use: 0,
            last_by_user: HashMap::new(),
            last_by_addr: HashMap::new(),
            cursor: 0,
        }
    }

    /// New ranges, exclusions and static addresses (reload), keeping every
    /// lease: an address of a removed range stays with its holder until it
    /// is released, and is then not handed out again.
    pub fn reconfigure(
        &mut self,
        ranges: &[PoolRange],
        exclude: &[Ipv4Addr],
        statics: impl IntoIterator<Item = Ipv4Addr>,
    ) {
        let fresh = Pool::new(ranges, exclude);
        self.ranges = fresh.ranges;
        self.size = fresh.size;
        self.excluded = fresh.excluded;
        self.reserved = statics.into_iter().collect();
        self.dynamic_in_use = self.leases.keys().filter(|a| self.in_ranges(**a)).count() as u64;
        self.cursor = 0;
    }

    /// Marks users' static addresses (e.g. [`crate::auth::Secrets::static_addresses`])
    /// so they are never handed out dynamically to someone else. Can be
    /// called again after reloading secrets; existing leases are untouched.
    pub fn reserve_static(&mut self, addrs: impl IntoIterator<Item = Ipv4Addr>) {
        self.reserved.extend(addrs);
    }

    /// Leases an address to `user`: `wanted` (its static address) if free,
    /// else the address it last held if free, else the next free one
    /// round-robin. Errors only when no dynamic address is left.
    pub fn allocate(
        &mut self,
        user: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, PoolError> {
        if let Some(addr) = wanted {
            if usable(addr) && !self.excluded.contains(&addr) && !self.leases.contains_key(&addr) {
                self.lease(addr, user);
                return Ok(addr);
            }
        }
        if let Some(&addr) = self.last_by_user.get(user) {
            if self.in_ranges(addr) && self.dynamic_free(addr) {
                self.lease(addr, user);
                return Ok(addr);
            }
        }
        if self.dynamic_in_use < self.size {
            for step in 0..self.size {
                let idx = (self.cursor + step) % self.size;
                let Some(addr) = self.addr_at(idx) else { break };
                if self.dynamic_free(addr) {
                    self.cursor = (idx + 1) % self.size;
                    self.lease(addr, user);
                    return Ok(addr);
                }
            }
        }
        Err(PoolError::Exhausted { size: self.size })
    }

    /// Returns `addr` to the pool (no-op when it is not leased) and
    /// remembers it as the holder's last address.
    pub fn release(&mut self, addr: Ipv4Addr) {
        let Some(user) = self.leases.remove(&addr) else {
            return;
        };
        if self.in_ranges(addr) {
            self.dynamic_in_use -= 1;
        }
        if let Some(prev) = self.last_by_addr.insert(addr, user.clone()) {
            if prev != user && self.last_by_user.get(&prev) == Some(&addr) {
                self.last_by_user.remove(&prev);
            }
        }
        if let Some(old) = self.last_by_user.insert(user.clone(), addr) {
            if old != addr && self.last_by_addr.get(&old) == Some(&user) {
                self.last_by_addr.remove(&old);
            }
        }
    }

    /// Every inside address as prefixes: the ranges cut into the fewest
    /// CIDR blocks, then each static address outside them as a /32. What the
    /// data plane must never send to the uplink as a destination.
    pub fn inside_prefixes(&self) -> Vec<(Ipv4Addr, u8)> {
        let mut out = Vec::new();
        for &(f, l) in &self.ranges {
            cidrs(f, l, &mut out);
        }
        let mut statics: Vec<Ipv4Addr> = self
            .reserved
            .iter()
            .copied()
            .filter(|a| !self.in_ranges(*a))
            .collect();
        statics.sort_unstable();
        out.extend(statics.into_iter().map(|a| (a, 32)));
        out
    }

    /// Number of addresses leased now (static and dynamic).
    pub fn in_use(&self) -> usize {
        self.leases.len()
    }

    /// Number of addresses in the ranges (before exclusions and reservations).
    pub fn size(&self) -> u64 {
        self.size
    }

    /// Lease exactly `addr` to `user` (re-adoption of a running session,
    /// whatever range it is in now): false when it is taken or unusable.
    pub fn lease_exact(&mut self, addr: Ipv4Addr, user: &str) -> bool {
        if !usable(addr) || self.excluded.contains(&addr) || self.leases.contains_key(&addr) {
            return false;
        }
        self.lease(addr, user);
        true
    }

    /// The user holding `addr`, if leased.
    pub fn holder(&self, addr: Ipv4Addr) -> Option<&str> {
        self.leases.get(&addr).map(String::as_str)
    }

    fn lease(&mut self, addr: Ipv4Addr, user: &str) {
        if self.in_ranges(addr) {
            self.dynamic_in_use += 1;
        }
        self.leases.insert(addr, user.to_string());
    }

    fn dynamic_free(&self, addr: Ipv4Addr) -> bool {
        !self.excluded.contains(&addr)
            && !self.reserved.contains(&addr)
            && !self.leases.contains_key(&addr)
    }

    fn in_ranges(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.ranges.iter().any(|(f, l)| *f <= a && a <= *l)
    }

    fn addr_at(&self, mut idx: u64) -> Option<Ipv4Addr> {
        for (f, l) in &self.ranges {
            let len = u64::from(*l) - u64::from(*f) + 1;
            if idx < len {
                let a = u64::from(*f) + idx;
                return u32::try_from(a).ok().map(Ipv4Addr::from);
            }
            idx -= len;
        }
        None
    }
}

/// Unicast and assignable to a host.
fn usable(addr: Ipv4Addr) -> bool {
    !(addr.is_unspecified()
        || addr.is_loopback()
        || addr.is_multicast()
        || addr.is_broadcast()
        || u32::from(addr) >= 0xf000_0000
        || addr.octets()[0] == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn r(s: &str) -> PoolRange {
        s.parse().unwrap()
    }

    #[test]
    fn reconfigure_keeps_leases_and_uses_the_new_ranges() {
        let mut p = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
        let a1 = p.allocate("a", None).unwrap();
        let a2 = p.allocate("b", None).unwrap();
        assert!(p.allocate("c", None).is_err(), "full");
        // A range added: new leases come from it; the old ones stay.
        p.reconfigure(&[r("10.0.0.1-10.0.0.2"), r("10.0.1.1-10.0.1.1")], &[], []);
        assert_eq!((p.holder(a1), p.holder(a2)), (Some("a"), Some("b")));
        assert_eq!(p.allocate("c", None), Ok(a("10.0.1.1")));
        // The first range removed while leased: the lease lives on, and
        // once released the address is not handed out again.
        p.reconfigure(&[r("10.0.1.1-10.0.1.1")], &[], []);
        assert_eq!(p.holder(a1), Some("a"));
        p.release(a1);
        assert!(p.allocate("d", None).is_err(), "only 10.0.1.1, leased");
        p.release(a("10.0.1.1"));
        assert_eq!(p.allocate("d", None), Ok(a("10.0.1.1")));
    }

    #[test]
    fn inside_prefixes_cover_ranges_exactly_and_statics_outside_them() {
        let mut p = Pool::new(&[r("172.16.0.100-172.16.0.199")], &[]);
        p.reserve_static([a("172.16.0.101"), a("10.9.9.9")]);
        let got = p.inside_prefixes();
        let want: Vec<(Ipv4Addr, u8)> = [
            ("172.16.0.100", 30),
            ("172.16.0.104", 29),
            ("172.16.0.112", 28),
            ("172.16.0.128", 26),
            ("172.16.0.192", 29),
            ("10.9.9.9", 32),
        ]
        .iter()
        .map(|(s, l)| (a(s), *l))
        .collect();
        assert_eq!(got, want);
        // Every address of the range is covered exactly once, no other.
        let covered = |x: u32| {
            got.iter()
                .filter(|(n, l)| {
                    let m = if *l == 0 {
                        0
                    } else {
                        u32::MAX << (32 - u32::from(*l))
                    };
                    x & m == u32::from(*n)
                })
                .count()
        };
        for x in u32::from(a("172.16.0.90"))..=u32::from(a("172.16.0.210")) {
            let inside = (100..=199).contains(&(x & 0xff));
            assert_eq!(covered(x), usize::from(inside), "{}", Ipv4Addr::from(x));
        }
        assert_eq!(covering_prefix(&got[..5]), (a("172.16.0.0"), 24));
        assert_eq!(covering_prefix(&got), (a("0.0.0.0"), 0));
        assert_eq!(covering_prefix(&[]), (a("0.0.0.0"), 0));
        assert_eq!(covering_prefix(&[(a("10.9.9.9"), 32)]), (a("10.9.9.9"), 32));
        let mut whole = Vec::new();
        cidrs(0, u32::MAX, &mut whole);
        assert_eq!(whole, vec![(a("0.0.0.0"), 0)]);
    }

    #[test]
    fn parses_ranges_cidrs_and_single_addresses() {
        let x = r("172.16.0.100-172.16.0.199");
        assert_eq!(
            (x.first(), x.last(), x.len()),
            (a("172.16.0.100"), a("172.16.0.199"), 100)
        );
        assert_eq!(r(" 10.0.0.1 - 10.0.0.2 ").len(), 2);
        let c = r("172.16.0.0/24");
        assert_eq!((c.first(), c.last()), (a("172.16.0.1"), a("172.16.0.254")));
        let c = r("10.0.0.0/30");
        assert_eq!((c.first(), c.last()), (a("10.0.0.1"), a("10.0.0.2")));
        let c = r("10.0.0.0/31");
        assert_eq!((c.first(), c.last()), (a("10.0.0.0"), a("10.0.0.1")));
        let c = r("10.0.0.7/32");
        assert_eq!((c.first(), c.last()), (a("10.0.0.7"), a("10.0.0.7")));
        assert_eq!(r("10.1.2.3").len(), 1);
        assert_eq!(r("100.64.0.0/10").len(), (1 << 22) - 2);
        assert_eq!(x.to_string(), "172.16.0.100-172.16.0.199");
    }

    #[test]
    fn refuses_bad_ranges_with_a_fix() {
        let e = "172.16.0.200-172.16.0.100"
            .parse::<PoolRange>()
            .unwrap_err();
        assert_eq!(e, PoolRangeError::Reversed);
        assert!(e.to_string().contains("lower address first"));
        let e = "172.16.0.5/24".parse::<PoolRange>().unwrap_err();
        assert!(e.to_string().contains("write 172.16.0.0/24"), "{e}");
        assert_eq!(
            "10.0.0.0/33".parse::<PoolRange>().unwrap_err(),
            PoolRangeError::BadPrefix("33".into())
        );
        assert_eq!(
            "10.0.0.x-10.0.0.9".parse::<PoolRange>().unwrap_err(),
            PoolRangeError::BadAddress("10.0.0.x".into())
        );
        assert_eq!("".parse::<PoolRange>().unwrap_err(), PoolRangeError::Format);
        assert_eq!(
            "10.0.0.1 10.0.0.2".parse::<PoolRange>().unwrap_err(),
            PoolRangeError::Format
        );
        assert_eq!(
            "0.0.0.0/0".parse::<PoolRange>().unwrap_err(),
            PoolRangeError::Unusable
        );
        assert_eq!(
            "127.0.0.1".parse::<PoolRange>().unwrap_err(),
            PoolRangeError::Unusable
        );
        assert_eq!(
            "223.255.255.250-224.0.0.3"
                .parse::<PoolRange>()
                .unwrap_err(),
            PoolRangeError::Unusable
        );
    }

    #[test]
    fn static_address_is_granted_even_outside_the_ranges() {
        let mut p = Pool::new(&[r("172.16.0.100-172.16.0.101")], &[]);
        assert_eq!(
            p.allocate("u1", Some(a("172.16.0.101"))),
            Ok(a("172.16.0.101"))
        );
        assert_eq!(p.allocate("u2", Some(a("10.9.9.9"))), Ok(a("10.9.9.9")));
        assert_eq!(p.in_use(), 2);
        assert_eq!(p.holder(a("10.9.9.9")), Some("u2"));
        // The static lease in the range uses up one dynamic address.
        assert_eq!(p.allocate("u3", None), Ok(a("172.16.0.100")));
        assert!(p.allocate("u4", None).is_err());
    }

    #[test]
    fn dynamic_allocation_is_round_robin_and_exhausts() {
        let mut p = Pool::new(&[r("10.0.0.1-10.0.0.3")], &[]);
        assert_eq!(p.allocate("a", None), Ok(a("10.0.0.1")));
        assert_eq!(p.allocate("b", None), Ok(a("10.0.0.2")));
        assert_eq!(p.allocate("c", None), Ok(a("10.0.0.3")));
        assert_eq!(p.allocate("d", None), Err(PoolError::Exhausted { size: 3 }));
        assert!(p
            .allocate("d", None)
            .unwrap_err()
            .to_string()
            .contains("widen `pool`"));
        assert_eq!(p.in_use(), 3);
    }

    #[test]
    fn released_address_goes_to_the_back_of_the_queue() {
        let mut p = Pool::new(&[r("10.0.0.1-10.0.0.4")], &[]);
        assert_eq!(p.allocate("a", None), Ok(a("10.0.0.1")));
        assert_eq!(p.allocate("b", None), Ok(a("10.0.0.2")));
        p.release(a("10.0.0.1"));
        assert_eq!(p.in_use(), 1);
        // Someone else gets a fresh address, not the one just released.
        assert_eq!(p.allocate("c", None), Ok(a("10.0.0.3")));
        assert_eq!(p.allocate("d", None), Ok(a("10.0.0.4")));
        // Wraps around to the released one once the rest is used.
        assert_eq!(p.allocate("e", None), Ok(a("10.0.0.1")));
        // Releasing twice or releasing an unknown address is harmless.
        p.release(a("10.0.0.4"));
        p.release(a("10.0.0.4"));
        p.release(a("192.0.2.1"));
        assert_eq!(p.in_use(), 3);
        assert_eq!(p.allocate("f", None), Ok(a("10.0.0.4")));
        assert!(p.allocate("g", None).is_err());
    }

    #[test]
    fn reconnecting_user_gets_its_last_address_back() {
        let mut p = Pool::new(&[r("10.0.0.1-10.0.0.9")], &[]);
        let first = p.allocate("alice", None).unwrap();
        p.allocate("bob", None).unwrap();
        p.release(first);
        assert_eq!(p.allocate("alice", None), Ok(first));
        // If someone else holds it meanwhile, alice gets another one.
        p.release(first);
        let carol = p.allocate("carol", None).unwrap();
        assert_ne!(carol, first);
        let mut q = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
        let x = q.allocate("alice", None).unwrap();
        q.release(x);
        let y = q.allocate("bob", None).unwrap(); // round-robin: the other one
        assert_ne!(x, y);
        let z = q.allocate("dave", None).unwrap(); // only x left
        assert_eq!(z, x);
        q.release(z); // dave now remembers x; alice's memory is dropped
        assert_eq!(q.last_by_user.get("alice"), None);
        assert_eq!(q.last_by_addr.len(), 1);
    }

    #[test]
    fn static_conflicts_fall_back_and_reserved_addresses_stay_reserved() {
        let mut p = Pool::new(&[r("10.0.0.1-10.0.0.3")], &[]);
        p.reserve_static([a("10.0.0.1"), a("10.0.0.2")]);
        // Dynamic users skip both reserved addresses.
        assert_eq!(p.allocate("dyn", None), Ok(a("10.0.0.3")));
        assert!(p.allocate("dyn2", None).is_err());
        // The owner gets its static address.
        assert_eq!(p.allocate("s1", Some(a("10.0.0.1"))), Ok(a("10.0.0.1")));
        // Someone else with the same static (duplicate secrets line) does not.
        p.release(a("10.0.0.3"));
        assert_eq!(p.allocate("s1bis", Some(a("10.0.0.1"))), Ok(a("10.0.0.3")));
        // Busy static and no dynamic left: exhausted.
        assert!(p.allocate("s1ter", Some(a("10.0.0.1"))).is_err());
    }

    #[test]
    fn local_and_unusable_addresses_are_never_leased() {
        let local = a("172.16.0.254");
        let mut p = Pool::new(&[r("172.16.0.252/30")], &[local]);
        // /30 → .253 and .254; .254 is ours.
        assert_eq!(p.allocate("a", None), Ok(a("172.16.0.253")));
        assert!(p.allocate("b", None).is_err());
        // Even as a static address: falls back to the (exhausted) pool.
        assert!(p.allocate("c", Some(local)).is_err());
        let mut q = Pool::new(&[r("10.0.0.1")], &[]);
        assert_eq!(q.allocate("m", Some(a("224.0.0.1"))), Ok(a("10.0.0.1")));
    }

    #[test]
    fn overlapping_ranges_are_merged() {
        let p = Pool::new(
            &[
                r("10.0.0.5-10.0.0.9"),
                r("10.0.0.1-10.0.0.6"),
                r("10.0.0.10"),
            ],
            &[],
        );
        assert_eq!(p.size(), 10);
        assert_eq!(
            p.ranges,
            vec![(u32::from(a("10.0.0.1")), u32::from(a("10.0.0.10")))]
        );
    }

    #[test]
    fn many_ranges_and_a_big_pool_are_cheap() {
        let mut p = Pool::new(&[r("100.64.0.0/10"), r("192.0.2.0/24")], &[]);
        for i in 0..1000u32 {
            let got = p.allocate(&format!("u{i}"), None).unwrap();
            assert_eq!(u32::from(got), u32::from(a("100.64.0.1")) + i);
        }
        assert_eq!(p.in_use(), 1000);
        let mut q = Pool::new(&[r("10.0.0.1"), r("10.0.1.1")], &[]);
        assert_eq!(q.allocate("a", None), Ok(a("10.0.0.1")));
        assert_eq!(q.allocate("b", None), Ok(a("10.0.1.1")));
        assert!(q.allocate("c", None).is_err());
        let empty = &mut Pool::new(&[], &[]);
        assert_eq!(
            empty.allocate("x", None),
            Err(PoolError::Exhausted { size: 0 })
        );
        assert_eq!(empty.allocate("x", Some(a("10.1.1.1"))), Ok(a("10.1.1.1")));
    }
}
