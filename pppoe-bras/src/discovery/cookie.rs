//! The AC-Cookie (RFC 2516 App. A), so that PADO costs no state. The cookie is a
//! keyed MD5 over the peer MAC, its VLAN tags and a 60 s time bucket; a
//! PADR is accepted with a cookie of the current or the previous bucket, so
//! PADR floods with forged cookies are dropped without allocating anything.

use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::Discovery;
use crate::wire::eth::EthHeader;

/// Width of an AC-Cookie time bucket; a cookie is valid for 60 to 120 s.
pub const COOKIE_BUCKET: Duration = Duration::from_secs(60);
/// Length of the AC-Cookie value.
pub const COOKIE_LEN: usize = 16;

impl Discovery {
    /// The cookie time bucket `now` falls in, counted from the first `now`.
    pub(super) fn bucket(&self, now: Instant) -> u64 {
        let epoch = self.epoch.unwrap_or(now);
        now.saturating_duration_since(epoch).as_secs() / COOKIE_BUCKET.as_secs()
    }

    /// MD5(key ‖ AC MAC ‖ peer MAC ‖ VLAN tags ‖ bucket ‖ key).
    pub(super) fn cookie(&self, bucket: u64, eth: &EthHeader) -> [u8; COOKIE_LEN] {
        let mut h = Md5::new();
        h.update(self.cfg.cookie_key);
        h.update(self.cfg.local_mac);
        h.update(eth.src);
        for tag in [eth.vlans.outer, eth.vlans.inner] {
            match tag {
                Some(t) => {
                    h.update([1]);
                    h.update(t.tpid.to_be_bytes());
                    h.update(t.vid.to_be_bytes());
                }
                None => h.update([0; 5]),
            }
        }
        h.update(bucket.to_be_bytes());
        h.update(self.cfg.cookie_key);
        h.finalize().into()
    }

    pub(super) fn cookie_ok(&self, now: Instant, eth: &EthHeader, cookie: &[u8]) -> bool {
        let b = self.bucket(now);
        let eq = |c: &[u8; COOKIE_LEN]| {
            cookie.len() == COOKIE_LEN
                && c.iter().zip(cookie).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        };
        eq(&self.cookie(b, eth)) || (b > 0 && eq(&self.cookie(b - 1, eth)))
    }
}
