//! PADI rate limiting: token buckets per peer MAC (and VLAN tags) and in
//! total, so a flooding MAC empties only its own bucket.

use std::time::Instant;

use super::{Discovery, DiscoveryStat};
use crate::wire::eth::EthHeader;

/// Most per-MAC PADI buckets kept; beyond, refilled ones are pruned and, if
/// that is not enough, new MACs are only held to the total limit.
pub const MAX_RATE_BUCKETS: usize = 65_536;

/// A token-bucket rate: on average `per_sec` frames per second, up to
/// `burst` back to back. Config syntax: `"10/s"` (burst = rate), `"10/s
/// burst 20"`; `"off"` disables the limit (parsed in `config::syntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
}

/// A token bucket in millionths of a token.
#[derive(Debug, Clone, Copy)]
pub(super) struct Bucket {
    micro: u64,
    at: Instant,
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            micro: u64::from(limit.burst) * 1_000_000,
            at: now,
        }
    }

    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX);
        let cap = u64::from(limit.burst) * 1_000_000;
        self.micro = self
            .micro
            .saturating_add(elapsed.saturating_mul(u64::from(limit.per_sec)))
            .min(cap);
        if now > self.at {
            self.at = now;
        }
    }

    /// Take one token if there is one.
    fn take(&mut self, limit: RateLimit, now: Instant) -> bool {
        self.refill(limit, now);
        if self.micro >= 1_000_000 {
            self.micro -= 1_000_000;
            true
        } else {
            false
        }
    }

    fn is_full(&self, limit: RateLimit, now: Instant) -> bool {
        let mut b = *self;
        b.refill(limit, now);
        b.micro >= u64::from(limit.burst) * 1_000_000
    }
}

impl Discovery {
    /// PADI token buckets: the peer's own first (a flooding MAC empties
    /// only its bucket), then the total.
    pub(super) fn padi_allowed(&mut self, now: Instant, eth: &EthHeader) -> bool {
        if let Some(limit) = self.cfg.padi_rate_per_mac {
            let key = (eth.vlans, eth.src);
            if !self.mac_buckets.contains_key(&key) && self.mac_buckets.len() >= MAX_RATE_BUCKETS {
                self.mac_buckets.retain(|_, b| !b.is_full(limit, now));
            }
            let room = self.mac_buckets.len() < MAX_RATE_BUCKETS;
            let bucket = match self.mac_buckets.get_mut(&key) {
                Some(b) => Some(b),
                None if room => Some(
                    self.mac_buckets
                        .entry(key)
                        .or_insert_with(|| Bucket::full(limit, now)),
                ),
                None => None,
            };
            if let Some(b) = bucket {
                if !b.take(limit, now) {
                    self.drop_frame(DiscoveryStat::DropRateMac, eth, "PADI");
                    return false;
                }
            }
        }
        if let Some(limit) = self.cfg.padi_rate_total {
            let b = self
                .total_bucket
                .get_or_insert_with(|| Bucket::full(limit, now));
            if !b.take(limit, now) {
                self.drop_frame(DiscoveryStat::DropRateTotal, eth, "PADI");
                return false;
            }
        }
        true
    }
}
