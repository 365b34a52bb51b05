//! Idle-Timeout (RADIUS, CoA or the state file): sessions whose data-plane
//! counters stop moving for that long are ended.

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use super::Aaa;
use crate::{dataplane::Dataplane, session::Manager};

/// A session with an Idle-Timeout: its data-plane row and activity.
#[derive(Debug, Clone)]
pub(super) struct Idle {
    pub(super) timeout: Duration,
    pub(super) address: Ipv4Addr,
    /// Packets both ways at the last check that saw a change.
    pub(super) packets: u64,
    /// When a change was last seen (or the timeout was set).
    pub(super) active: Instant,
    /// When to read the counters next.
    pub(super) next_check: Instant,
}

impl Idle {
    /// Watched from `now`, with `packets` (both ways) as the last count seen.
    pub(super) fn new(timeout: Duration, address: Ipv4Addr, packets: u64, now: Instant) -> Idle {
        let mut i = Idle {
            timeout,
            address,
            packets,
            active: now,
            next_check: now,
        };
        i.next_check = now + i.step();
        i
    }

    /// Counters are read every timeout/8 (1 s to 60 s): the session ends
    /// at most that late, and the cost is one map read per session per
    /// step.
    pub(super) fn step(&self) -> Duration {
        (self.timeout / 8).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

impl Aaa {
    /// Sessions whose Idle-Timeout ran out: no packet either way in the
    /// data plane's counters for that long → ended, cause idle-timeout.
    /// Cheap: only sessions with an Idle-Timeout whose next check is due
    /// are read.
    pub fn check_idle(&mut self, manager: &mut Manager, dataplane: &Dataplane, bras_mac: [u8; 6]) {
        if self.idle.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        for (key, i) in &mut self.idle {
            if i.next_check > now {
                continue;
            }
            let row = crate::driver::session_row(key, bras_mac, i.address, 0);
            let c = dataplane.counters(&row);
            let packets = c.up_packets + c.down_packets;
            if idle_step(i, now, packets) {
                expired.push(*key);
            }
        }
        for key in expired {
            let i = self.idle.remove(&key);
            log::info!(
                "session {:#06x} {} idle timeout ({}s without traffic)",
                key.session_id,
                crate::wire::eth::fmt_mac(&key.peer_mac),
                i.map_or(0, |i| i.timeout.as_secs())
            );
            manager.close(now, &key, crate::ppp::DownReason::IdleTimeout);
        }
    }
}

/// One check of an idle-watched session that has `packets` (both ways)
/// now: true when it has been idle for its timeout. Schedules the next.
pub(super) fn idle_step(i: &mut Idle, now: Instant, packets: u64) -> bool {
    if packets != i.packets {
        i.packets = packets;
        i.active = now;
    } else if now.saturating_duration_since(i.active) >= i.timeout {
        return true;
    }
    i.next_check = (now + i.step()).min(i.active + i.timeout);
    false
}
