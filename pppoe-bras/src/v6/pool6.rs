//! IPv6 prefix pools: a base prefix (e.g. `2001:db8:100::/48`) cut into
//! equal prefixes (e.g. /64s), leased per user like `crate::pool`'s
//! addresses: a user who comes back gets the prefix it held last while
//! that one is still free (sticky), otherwise the next free one after the
//! one handed out last (round-robin, so a released prefix is not handed
//! to someone else at once). Nothing is materialised per prefix: memory
//! grows with the leases only.

use std::collections::{HashMap, HashSet};
use std::net::Ipv6Addr;

/// Parse `ADDR/LEN` with no host bits set. Messages say how to fix it.
pub fn parse_prefix(s: &str) -> Result<(Ipv6Addr, u8), String> {
    let (a, l) = s
        .split_once('/')
        .ok_or_else(|| "expected an IPv6 prefix like 2001:db8:100::/48".to_owned())?;
    let addr: Ipv6Addr = a
        .parse()
        .map_err(|_| format!("{a:?} is not an IPv6 address"))?;
    let len: u8 = l
        .parse()
        .ok()
        .filter(|l| *l <= 128)
        .ok_or_else(|| format!("prefix length {l:?} is not a number from 0 to 128"))?;
    let net = mask(addr, len);
    if net != addr {
        return Err(format!("{addr}/{len} has host bits set; write {net}/{len}"));
    }
    Ok((addr, len))
}

/// `addr` with everything after the first `len` bits cleared.
pub fn mask(addr: Ipv6Addr, len: u8) -> Ipv6Addr {
    let bits = u128::from(addr);
    let m = if len == 0 {
        0
    } else {
        u128::MAX << (128 - u32::from(len.min(128)))
    };
    Ipv6Addr::from(bits & m)
}

/// Whether `addr` lies in `prefix`.
pub fn contains(prefix: (Ipv6Addr, u8), addr: Ipv6Addr) -> bool {
    mask(addr, prefix.1) == prefix.0
}

/// Why a pool could not be built, or a lease not given.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Pool6Error {
    #[error("cannot cut /{base} into /{len}s: the prefix length must be longer than the pool's (and at most 64 for a pool of /64s, 128 otherwise)")]
    Lengths { base: u8, len: u8 },
    #[error("no free prefix left")]
    Exhausted,
}

/// Prefixes of `len` bits carved out of `base`.
#[derive(Debug, Clone)]
pub struct PrefixPool {
    base: Ipv6Addr,
    base_len: u8,
    len: u8,
    /// Number of prefixes (saturated at u64::MAX).
    count: u64,
    /// Index → holder.
    leased: HashMap<u64, String>,
    /// User → index held last (sticky reuse).
    last: HashMap<String, u64>,
    /// Where the round-robin search resumes.
    next: u64,
    /// Indices never handed out (e.g. index 0 by choice of the caller).
    reserved: HashSet<u64>,
    /// Users' own prefixes (from the secrets): index → the user; handed to
    /// that user only, never round-robin.
    statics: HashMap<u64, String>,
}

impl PrefixPool {
    pub fn new(base: (Ipv6Addr, u8), len: u8) -> Result<Self, Pool6Error> {
        if len <= base.1 || len > 128 {
            return Err(Pool6Error::Lengths { base: base.1, len });
        }
        let span = u32::from(len - base.1);
        let count = if span >= 64 { u64::MAX } else { 1u64 << span };
        Ok(PrefixPool {
            base: mask(base.0, base.1),
            base_len: base.1,
            len,
            count,
            leased: HashMap::new(),
            last: HashMap::new(),
            next: 0,
            reserved: HashSet::new(),
            statics: HashMap::new(),
        })
    }

    /// The prefix with this index.
    fn prefix(&self, index: u64) -> (Ipv6Addr, u8) {
        let shift = 128 - u32::from(self.len);
        let a = u128::from(self.base) | (u128::from(index) << shift);
        (Ipv6Addr::from(a), self.len)
    }

    fn index(&self, prefix: (Ipv6Addr, u8)) -> Option<u64> {
        if prefix.1 != self.len || mask(prefix.0, self.base_len) != self.base {
            return None;
        }
        let shift = 128 - u32::from(self.len);
        let rel = (u128::from(prefix.0) ^ u128::from(self.base)) >> shift;
        u64::try_from(rel).ok().filter(|i| *i < self.count)
    }

    /// A prefix given from outside (RADIUS Framed-IPv6-Prefix /
    /// Delegated-IPv6-Prefix) for `user`: leased here when it lies in this
    /// pool (so the pool never hands it to someone else), false when it
    /// does and another user holds it; a prefix outside the pool is the
    /// server's business and always fine.
    pub fn take(&mut self, prefix: (Ipv6Addr, u8), user: &str) -> bool {
        let Some(i) = self.index(prefix) else {
            return true;
        };
        if self.reserved.contains(&i) || self.statics.get(&i).is_some_and(|u| u != user) {
            return false;
        }
        match self.leased.get(&i) {
            Some(u) => u == user,
            None => {
                self.leased.insert(i, user.to_owned());
                true
            }
        }
    }

    /// The users' own prefixes (secrets, `[[users]]`), replacing the ones
    /// set before: each is handed to its user only ([`PrefixPool::take`]),
    /// never round-robin. Prefixes outside the pool are ignored.
    pub fn set_statics<'a>(
        &mut self,
        statics: impl IntoIterator<Item = ((Ipv6Addr, u8), &'a str)>,
    ) {
        self.statics.clear();
        for (p, user) in statics {
            if let Some(i) = self.index(p) {
                self.statics.insert(i, user.to_owned());
            }
        }
    }

    /// Never hand out the prefix with this index (e.g. the all-zero one).
    pub fn reserve_index(&mut self, index: u64) {
        self.reserved.insert(index);
    }

    /// A prefix for `user`: the one it held last when free, else the next
    /// free one.
    pub fn allocate(&mut self, user: &str) -> Result<(Ipv6Addr, u8), Pool6Error> {
        if let Some(&i) = self.last.get(user) {
            let others = self.statics.get(&i).is_some_and(|u| u != user);
            if let std::collections::hash_map::Entry::Vacant(e) = self.leased.entry(i) {
                if !others {
                    e.insert(user.to_owned());
                    return Ok(self.prefix(i));
                }
            }
        }
        let idle_statics = self
            .statics
            .keys()
            .filter(|i| !self.leased.contains_key(i) && !self.reserved.contains(i))
            .count() as u64;
        let free = self
            .count
            .saturating_sub(self.leased.len() as u64 + self.reserved.len() as u64 + idle_statics);
        if free == 0 {
            return Err(Pool6Error::Exhausted);
        }
        // At most leases + reserved + 1 probes: the map is no bigger.
        let mut i = self.next;
        loop {
            if !self.leased.contains_key(&i)
                && !self.reserved.contains(&i)
                && !self.statics.contains_key(&i)
            {
                break;
            }
            i = (i + 1) % self.count.max(1);
        }
        self.next = (i + 1) % self.count.max(1);
        self.leased.insert(i, user.to_owned());
        self.last.insert(user.to_owned(), i);
        Ok(self.prefix(i))
    }

    /// Give a prefix back (unknown ones are ignored).
    pub fn release(&mut self, prefix: (Ipv6Addr, u8)) {
        if let Some(i) = self.index(prefix) {
            self.leased.remove(&i);
        }
    }

    /// Who holds `prefix`.
    pub fn holder(&self, prefix: (Ipv6Addr, u8)) -> Option<&str> {
        self.index(prefix)
            .and_then(|i| self.leased.get(&i))
            .map(String::as_str)
    }

    pub fn in_use(&self) -> usize {
        self.leased.len()
    }

    /// The pool's base prefix.
    pub fn base(&self) -> (Ipv6Addr, u8) {
        (self.base, self.base_len)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(s: &str) -> (Ipv6Addr, u8) {
        parse_prefix(s).unwrap()
    }

    /// A user's own prefix is never handed out round-robin, is taken by
    /// its user only, and a reload can move it.
    #[test]
    fn statics_are_kept_for_their_user() {
        let mut pool = PrefixPool::new(p("2001:db8:200::/54"), 56).unwrap();
        let mine = p("2001:db8:200::/56");
        pool.set_statics([(mine, "alice")]);
        let got: Vec<_> = (0..3)
            .map(|i| pool.allocate(&format!("u{i}")).unwrap())
            .collect();
        assert!(!got.contains(&mine), "{got:?}");
        assert_eq!(
            pool.allocate("u3"),
            Err(Pool6Error::Exhausted),
            "the 4th is alice's"
        );
        assert!(!pool.take(mine, "bob"));
        assert!(pool.take(mine, "alice"));
        assert_eq!(pool.holder(mine), Some("alice"));
        pool.release(mine);
        pool.set_statics([]);
        assert_eq!(pool.allocate("u3"), Ok(mine), "no longer kept");
    }

    #[test]
    fn parse() {
        assert_eq!(
            p("2001:db8:100::/48"),
            ("2001:db8:100::".parse().unwrap(), 48)
        );
        assert!(parse_prefix("2001:db8:100::1/48")
            .unwrap_err()
            .contains("write 2001:db8:100::/48"));
        assert!(parse_prefix("2001:db8::/129").is_err());
        assert!(parse_prefix("2001:db8::").is_err());
        assert!(parse_prefix("x/64").is_err());
    }

    #[test]
    fn sticky_round_robin_and_exhaustion() {
        let mut pool = PrefixPool::new(p("2001:db8:100::/62"), 64).unwrap();
        assert_eq!(pool.allocate("a").unwrap(), p("2001:db8:100::/64"));
        assert_eq!(pool.allocate("b").unwrap(), p("2001:db8:100:1::/64"));
        pool.release(p("2001:db8:100::/64"));
        // Another user does not inherit a's prefix at once.
        assert_eq!(pool.allocate("c").unwrap(), p("2001:db8:100:2::/64"));
        // a comes back: its own prefix again.
        assert_eq!(pool.allocate("a").unwrap(), p("2001:db8:100::/64"));
        assert_eq!(pool.holder(p("2001:db8:100::/64")), Some("a"));
        assert_eq!(pool.allocate("d").unwrap(), p("2001:db8:100:3::/64"));
        assert_eq!(pool.allocate("e"), Err(Pool6Error::Exhausted));
        pool.release(p("2001:db8:100:1::/64"));
        assert_eq!(pool.allocate("e").unwrap(), p("2001:db8:100:1::/64"));
        assert_eq!(pool.in_use(), 4);
    }

    #[test]
    fn delegated_56s() {
        let mut pool = PrefixPool::new(p("2001:db8:200::/40"), 56).unwrap();
        // A prefix given by RADIUS: taken in the pool when it lies there.
        assert!(pool.take(p("2001:db8:200:700::/56"), "radius-user"));
        assert!(!pool.take(p("2001:db8:200:700::/56"), "other"), "held");
        assert!(pool.take(p("2001:db8:999::/56"), "other"), "outside: fine");
        pool.release(p("2001:db8:200:700::/56"));
        pool.reserve_index(0);
        assert_eq!(pool.allocate("a").unwrap(), p("2001:db8:200:100::/56"));
        assert_eq!(pool.allocate("b").unwrap(), p("2001:db8:200:200::/56"));
        assert!(PrefixPool::new(p("2001:db8::/64"), 64).is_err());
        pool.release(p("2001:db8:999::/56")); // not ours: ignored
        assert_eq!(pool.in_use(), 2);
    }
}
