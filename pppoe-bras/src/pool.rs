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

use std::collections::{BTreeMap, HashMap, HashSet};
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
    #[error(
        "pool {name:?} exhausted: none of its {size} addresses is free; \
         widen it under [pools] or lower `max_sessions`"
    )]
    NamedExhausted { name: String, size: u64 },
    #[error("no pool named {0:?}; add it under [pools] in the config (name = [ranges])")]
    Unknown(String),
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

/// Merged, sorted ranges with their own round-robin cursor: the default
/// pool or one named pool (`[pools]`, RADIUS Framed-Pool).
#[derive(Debug, Clone, Default)]
struct Ranges {
    /// Sorted, merged, inclusive `(first, last)` as integers.
    spans: Vec<(u32, u32)>,
    /// Total addresses across `spans`.
    size: u64,
    /// Leases whose address lies in `spans`.
    in_use: u64,
    /// Index (into the concatenated spans) of the next round-robin candidate.
    cursor: u64,
}

impl Ranges {
    fn new(ranges: &[PoolRange]) -> Ranges {
        let mut rs: Vec<(u32, u32)> = ranges
            .iter()
            .map(|r| (u32::from(r.first), u32::from(r.last)))
            .collect();
        rs.sort_unstable();
        let mut spans: Vec<(u32, u32)> = Vec::with_capacity(rs.len());
        for (f, l) in rs {
            match spans.last_mut() {
                Some((_, pl)) if u64::from(f) <= u64::from(*pl) + 1 => *pl = (*pl).max(l),
                _ => spans.push((f, l)),
            }
        }
        let size = spans
            .iter()
            .map(|(f, l)| u64::from(*l) - u64::from(*f) + 1)
            .sum();
        Ranges {
            spans,
            size,
            in_use: 0,
            cursor: 0,
        }
    }

    fn contains(&self, addr: Ipv4Addr) -> bool {
        let a = u32::from(addr);
        self.spans.iter().any(|(f, l)| *f <= a && a <= *l)
    }

    fn addr_at(&self, mut idx: u64) -> Option<Ipv4Addr> {
        for (f, l) in &self.spans {
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

/// The lease table. See the module doc for the allocation policy.
///
/// One table for the default ranges and every named pool, so an address is
/// leased once whichever pool it was asked from. Named pools never overlap
/// the default ranges or each other (the config refuses it), so an address
/// belongs to at most one of them.
#[derive(Debug, Clone)]
pub struct Pool {
    /// The `pool` ranges: where an address comes from unless a pool is named.
    default: Ranges,
    /// `[pools]`: name → ranges.
    named: BTreeMap<String, Ranges>,
    /// Never leased: the BRAS's own address and the like.
    excluded: HashSet<Ipv4Addr>,
    /// Static addresses of users (from secrets): not handed out dynamically.
    reserved: HashSet<Ipv4Addr>,
    /// Address → user holding it.
    leases: HashMap<Ipv4Addr, String>,
    /// Sticky memory, both directions kept in step so it stays bounded by
    /// the number of distinct addresses ever released.
    last_by_user: HashMap<String, Ipv4Addr>,
    last_by_addr: HashMap<Ipv4Addr, String>,
}

impl Pool {
    /// A pool over `ranges` that never hands out any address in `exclude`
    /// (pass the BRAS's `local_address`). Overlapping ranges are merged.
    pub fn new(ranges: &[PoolRange], exclude: &[Ipv4Addr]) -> Pool {
        Pool {
            default: Ranges::new(ranges),
            named: BTreeMap::new(),
            excluded: exclude.iter().copied().collect(),
            reserved: HashSet::new(),
            leases: HashMap::new(),
            last_by_user: HashMap::new(),
            last_by_addr: HashMap::new(),
        }
    }

    /// Adds the named pool `name` (config `[pools]`), asked for with
    /// [`Pool::allocate_in`]. The caller keeps names unique and ranges
    /// disjoint from every other pool's.
    pub fn add_named(&mut self, name: &str, ranges: &[PoolRange]) {
        let mut r = Ranges::new(ranges);
        r.in_use = self.leases.keys().filter(|a| r.contains(**a)).count() as u64;
        self.named.insert(name.to_owned(), r);
    }

    /// Takes the ranges, named pools, exclusions and static addresses of
    /// `fresh` (reload), keeping every lease and the sticky memory: an
    /// address of a removed range stays with its holder until it is
    /// released, and is then not handed out again.
    pub fn reconfigure(&mut self, fresh: Pool) {
        let count = |r: &Ranges| self.leases.keys().filter(|a| r.contains(**a)).count() as u64;
        let mut default = fresh.default;
        default.in_use = count(&default);
        let mut named = fresh.named;
        for r in named.values_mut() {
            r.in_use = count(r);
        }
        self.default = default;
        self.named = named;
        self.excluded = fresh.excluded;
        self.reserved = fresh.reserved;
    }

    /// Marks users' static addresses (e.g. [`crate::auth::Secrets::static_addresses`])
    /// so they are never handed out dynamically to someone else. Can be
    /// called again after reloading secrets; existing leases are untouched.
    pub fn reserve_static(&mut self, addrs: impl IntoIterator<Item = Ipv4Addr>) {
        self.reserved.extend(addrs);
    }

    /// Leases an address to `user` from the default ranges: see
    /// [`Pool::allocate_in`].
    pub fn allocate(
        &mut self,
        user: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, PoolError> {
        self.allocate_in(None, user, wanted)
    }

    /// Leases an address to `user`: `wanted` (its static address) if free,
    /// else the address it last held if free and in the pool asked for,
    /// else the next free one of that pool round-robin. `pool` names a
    /// `[pools]` entry (RADIUS Framed-Pool); `None` is the default ranges.
    pub fn allocate_in(
        &mut self,
        pool: Option<&str>,
        user: &str,
        wanted: Option<Ipv4Addr>,
    ) -> Result<Ipv4Addr, PoolError> {
        if let Some(addr) = wanted {
            if usable(addr) && !self.excluded.contains(&addr) && !self.leases.contains_key(&addr) {
                self.lease(addr, user);
                return Ok(addr);
            }
        }
        let ranges = match pool {
            None => &self.default,
            Some(name) => self
                .named
                .get(name)
                .ok_or_else(|| PoolError::Unknown(name.to_owned()))?,
        };
        if let Some(&addr) = self.last_by_user.get(user) {
            if ranges.contains(addr) && self.dynamic_free(addr) {
                self.lease(addr, user);
                return Ok(addr);
            }
        }
        let (size, in_use, cursor) = (ranges.size, ranges.in_use, ranges.cursor);
        if in_use < size {
            for step in 0..size {
                let idx = (cursor + step) % size;
                let Some(addr) = ranges.addr_at(idx) else {
                    break;
                };
                if self.dynamic_free(addr) {
                    self.ranges_mut(pool).cursor = (idx + 1) % size;
                    self.lease(addr, user);
                    return Ok(addr);
                }
            }
        }
        Err(match pool {
            None => PoolError::Exhausted { size },
            Some(name) => PoolError::NamedExhausted {
                name: name.to_owned(),
                size,
            },
        })
    }

    /// Returns `addr` to the pool (no-op when it is not leased) and
    /// remembers it as the holder's last address.
    pub fn release(&mut self, addr: Ipv4Addr) {
        let Some(user) = self.leases.remove(&addr) else {
            return;
        };
        if let Some(r) = self.ranges_of(addr) {
            r.in_use -= 1;
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

    /// Every inside address as prefixes: the ranges (default and named) cut
    /// into the fewest CIDR blocks, then each static address outside them
    /// as a /32. What the data plane must never send to the uplink as a
    /// destination.
    pub fn inside_prefixes(&self) -> Vec<(Ipv4Addr, u8)> {
        let mut out = Vec::new();
        for r in std::iter::once(&self.default).chain(self.named.values()) {
            for &(f, l) in &r.spans {
                cidrs(f, l, &mut out);
            }
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

    /// Number of addresses in the ranges, named pools included (before
    /// exclusions and reservations).
    pub fn size(&self) -> u64 {
        self.default.size + self.named.values().map(|r| r.size).sum::<u64>()
    }

    /// The named pools with their size and leases in use, by name.
    pub fn named(&self) -> impl Iterator<Item = (&str, u64, u64)> {
        self.named
            .iter()
            .map(|(n, r)| (n.as_str(), r.size, r.in_use))
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
        if let Some(r) = self.ranges_of(addr) {
            r.in_use += 1;
        }
        self.leases.insert(addr, user.to_string());
    }

    fn dynamic_free(&self, addr: Ipv4Addr) -> bool {
        !self.excluded.contains(&addr)
            && !self.reserved.contains(&addr)
            && !self.leases.contains_key(&addr)
    }

    fn in_ranges(&self, addr: Ipv4Addr) -> bool {
        self.default.contains(addr) || self.named.values().any(|r| r.contains(addr))
    }

    /// The ranges `addr` lies in (at most one: pools are disjoint).
    fn ranges_of(&mut self, addr: Ipv4Addr) -> Option<&mut Ranges> {
        if self.default.contains(addr) {
            return Some(&mut self.default);
        }
        self.named.values_mut().find(|r| r.contains(addr))
    }

    fn ranges_mut(&mut self, pool: Option<&str>) -> &mut Ranges {
        match pool.and_then(|n| self.named.get_mut(n)) {
            Some(r) => r,
            None => &mut self.default,
        }
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
mod tests;
