//! The data plane's allocators, sans-IO: plain data, time passed in as
//! `now`, no map is touched here. [`super::Dataplane`] writes the rows
//! these decisions call for.
//!
//! - [`PortBlocks`]: the NAT port blocks (RFC 7422 style), one per NATed
//!   session; a freed block rests [`BLOCK_REUSE_DELAY`] before another
//!   session gets it (RFC 6888 REQ-11).
//! - [`Slots`]: the per-session slot (index of `COUNTERS`, `SUB_BY_SLOT`,
//!   `NAT_SLOTS`, `SESSION6`, …).
//! - [`SessionIds`]: which session holds `SESSION_BY_ID[session id]` and
//!   which others with the same id wait (found by the hash lookup only)
//!   until it goes.

use std::{
    collections::{HashMap, VecDeque},
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use pppoe_bras_common::nat;

/// How long a freed port block rests before another session gets it
/// (RFC 6888 REQ-11: at least 120 s), so late packets of the old
/// subscriber's flows never reach the new one.
pub const BLOCK_REUSE_DELAY: Duration = Duration::from_secs(120);

/// The NAT port blocks: where each lies, and which are free.
#[derive(Clone, Debug, Default)]
pub struct PortBlocks {
    /// Every port block: (public address, first port), `size` ports.
    all: Vec<(Ipv4Addr, u16)>,
    /// Ports per block.
    size: u16,
    /// Free block indices, oldest first, with when they were freed.
    free: VecDeque<(u32, Option<Instant>)>,
}

impl PortBlocks {
    /// The blocks of [`layout_blocks`] (`size` ports each), all free and
    /// usable at once.
    pub fn new(all: Vec<(Ipv4Addr, u16)>, size: u16) -> Self {
        let free = (0..all.len() as u32).map(|b| (b, None)).collect();
        Self { all, size, free }
    }

    /// Number of blocks (sessions that can be NATed at once).
    pub fn len(&self) -> usize {
        self.all.len()
    }

    /// Ports per block.
    pub fn size(&self) -> u16 {
        self.size
    }

    /// (public address, first port, size) of block `b`.
    pub fn get(&self, b: u32) -> Option<(Ipv4Addr, u16, u16)> {
        let (addr, start) = *self.all.get(b as usize)?;
        Some((addr, start, self.size))
    }

    /// The oldest free block, if it has rested long enough at `now`.
    pub fn take(&mut self, now: Instant) -> Option<u32> {
        let (b, freed) = *self.free.front()?;
        if freed.is_some_and(|t| now.duration_since(t) < BLOCK_REUSE_DELAY) {
            return None;
        }
        self.free.pop_front();
        Some(b)
    }

    /// Give block `b` back, freed at `now`: it goes to the back of the
    /// queue and rests [`BLOCK_REUSE_DELAY`].
    pub fn give_back(&mut self, b: u32, now: Instant) {
        self.free.push_back((b, Some(now)));
    }

    /// Give back block `b` that was taken but never used (no mapping can
    /// exist on it): no need to rest, it is the next one handed out.
    pub fn give_back_unused(&mut self, b: u32) {
        self.free.push_front((b, None));
    }

    /// Re-adoption: block `b` is held by a session a previous daemon
    /// installed; it is free no more.
    pub fn claim(&mut self, b: u32) {
        self.free.retain(|(x, _)| *x != b);
    }

    /// Per public address, in the order of the blocks: (address, blocks,
    /// free blocks, resting ones included).
    pub fn by_address(&self) -> Vec<(Ipv4Addr, u64, u64)> {
        let mut out: Vec<(Ipv4Addr, u64, u64)> = Vec::new();
        fn entry(out: &mut Vec<(Ipv4Addr, u64, u64)>, a: Ipv4Addr) -> usize {
            match out.iter().position(|e| e.0 == a) {
                Some(i) => i,
                None => {
                    out.push((a, 0, 0));
                    out.len() - 1
                }
            }
        }
        for (a, _) in &self.all {
            let i = entry(&mut out, *a);
            out[i].1 += 1;
        }
        for (b, _) in &self.free {
            if let Some((a, _)) = self.all.get(*b as usize) {
                let i = entry(&mut out, *a);
                out[i].2 += 1;
            }
        }
        out
    }

    /// The public address of block `b`.
    pub fn address(&self, b: u32) -> Option<Ipv4Addr> {
        self.all.get(b as usize).map(|(a, _)| *a)
    }
}

/// The NAT port blocks: for every block position from `first_port` on that
/// fits below 65536 and does not overlap `avoid` (inclusive range), one
/// block on each address, interleaved (block 0 of every address first), so
/// consecutive sessions spread over the addresses.
pub fn layout_blocks(
    addrs: &[Ipv4Addr],
    first_port: u16,
    size: u16,
    avoid: Option<(u16, u16)>,
) -> Vec<(Ipv4Addr, u16)> {
    let mut out = Vec::new();
    let n = nat::block_count(first_port, size);
    for i in 0..n {
        let Some((start, count)) = nat::block(first_port, size, i) else {
            continue;
        };
        let last = u32::from(start) + u32::from(count) - 1;
        if let Some((lo, hi)) = avoid {
            if u32::from(start) <= u32::from(hi) && last >= u32::from(lo) {
                continue;
            }
        }
        for a in addrs {
            out.push((*a, start));
        }
    }
    out
}

/// The session slots `0..n`: the lowest first, a freed one reused first.
#[derive(Clone, Debug, Default)]
pub struct Slots {
    /// Free slots; the next one handed out is the last.
    free: Vec<u32>,
}

impl Slots {
    /// Slots `0..n`, all free.
    pub fn new(n: u32) -> Self {
        Self {
            free: (0..n).rev().collect(),
        }
    }

    /// A free slot, if any.
    pub fn take(&mut self) -> Option<u32> {
        self.free.pop()
    }

    /// Slot `s` is free again.
    pub fn give_back(&mut self, s: u32) {
        self.free.push(s);
    }

    /// Re-adoption: slot `s` is held by a session a previous daemon
    /// installed; it is free no more.
    pub fn claim(&mut self, s: u32) {
        self.free.retain(|x| *x != s);
    }
}

/// What [`SessionIds::claim`] asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Claim {
    /// The id's entry is free or already this session's: write it, then
    /// call [`SessionIds::own`].
    Write,
    /// Another session holds the entry: this one waits (found by the hash
    /// lookup only). `queued` is false when it was waiting already.
    Wait { owner: Ipv4Addr, queued: bool },
}

/// Who holds `SESSION_BY_ID[session id]` (sessions named by their
/// address), and who waits for it: PPPoE session ids are unique per
/// (AC MAC, client MAC) only, so two clients can share one.
#[derive(Clone, Debug, Default)]
pub struct SessionIds {
    /// Session id → the session whose entry `SESSION_BY_ID` holds.
    owner: HashMap<u16, Ipv4Addr>,
    /// Session id → other sessions with that id (only in `SESSIONS`),
    /// promoted to `SESSION_BY_ID` when the owner goes, first come first.
    waiting: HashMap<u16, Vec<Ipv4Addr>>,
}

impl SessionIds {
    /// The session at `addr` wants the entry of `sid`.
    pub fn claim(&mut self, sid: u16, addr: Ipv4Addr) -> Claim {
        match self.owner.get(&sid) {
            Some(&owner) if owner != addr => {
                let waiting = self.waiting.entry(sid).or_default();
                let queued = !waiting.contains(&addr);
                if queued {
                    waiting.push(addr);
                }
                Claim::Wait { owner, queued }
            }
            _ => Claim::Write,
        }
    }

    /// The entry of `sid` was written for the session at `addr`.
    pub fn own(&mut self, sid: u16, addr: Ipv4Addr) {
        self.owner.insert(sid, addr);
    }

    /// The session at `addr` lets go of `sid`. True when it held the
    /// entry: the caller clears it, then hands it to
    /// [`SessionIds::next_waiting`]; false when it only waited (it waits
    /// no more) or had nothing.
    pub fn release(&mut self, sid: u16, addr: Ipv4Addr) -> bool {
        if self.owner.get(&sid) != Some(&addr) {
            if let Some(w) = self.waiting.get_mut(&sid) {
                w.retain(|a| *a != addr);
                if w.is_empty() {
                    self.waiting.remove(&sid);
                }
            }
            return false;
        }
        self.owner.remove(&sid);
        true
    }

    /// The session that waited longest for `sid`, off the waiting list:
    /// the one to [`SessionIds::claim`] the entry next.
    pub fn next_waiting(&mut self, sid: u16) -> Option<Ipv4Addr> {
        match self.waiting.get_mut(&sid) {
            Some(w) if !w.is_empty() => {
                let a = w.remove(0);
                if w.is_empty() {
                    self.waiting.remove(&sid);
                }
                Some(a)
            }
            _ => None,
        }
    }

    /// The session holding the entry of `sid`, if any.
    #[cfg(test)]
    pub fn owner(&self, sid: u16) -> Option<Ipv4Addr> {
        self.owner.get(&sid).copied()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
    const B: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 3);

    #[test]
    fn blocks_skip_the_ephemeral_range_and_interleave_addresses() {
        let (a, b) = (A, B);
        let blocks = layout_blocks(&[a, b], 1024, 512, Some((32768, 60999)));
        // 1024..32767: 62 blocks; 61000..65535 holds 8 blocks starting at
        // 61440 (block starts are 1024 + k * 512).
        assert_eq!(blocks.len(), 2 * 70);
        assert_eq!(&blocks[..3], &[(a, 1024), (b, 1024), (a, 1536)]);
        assert!(blocks.iter().all(|(_, s)| {
            let last = u32::from(*s) + 511;
            last < 32768 || u32::from(*s) > 60999
        }));
        assert_eq!(blocks.last(), Some(&(b, 65024)));
        // A block straddling the range's edge is left out.
        let edge = layout_blocks(&[a], 32000, 1000, Some((32768, 60999)));
        assert!(edge.iter().all(|(_, s)| *s != 32000));
        // No range known: everything.
        assert_eq!(layout_blocks(&[a], 1024, 512, None).len(), 126);
        assert!(layout_blocks(&[], 1024, 512, None).is_empty());
    }

    fn three() -> PortBlocks {
        PortBlocks::new(vec![(A, 1024), (B, 1024), (A, 1536)], 512)
    }

    #[test]
    fn blocks_are_handed_out_in_order_each_once_until_exhausted() {
        let mut p = three();
        let now = Instant::now();
        assert_eq!(p.len(), 3);
        assert_eq!(p.get(2), Some((A, 1536, 512)));
        assert_eq!(p.get(3), None);
        let taken: Vec<u32> = std::iter::from_fn(|| p.take(now)).collect();
        assert_eq!(taken, [0, 1, 2]);
        assert_eq!(p.take(now), None);
        assert_eq!(p.take(now + BLOCK_REUSE_DELAY * 10), None);
    }

    #[test]
    fn a_freed_block_rests_before_anyone_gets_it_again() {
        let mut p = three();
        let t0 = Instant::now();
        let all: Vec<u32> = std::iter::from_fn(|| p.take(t0)).collect();
        p.give_back(1, t0);
        let t1 = t0 + Duration::from_secs(10);
        p.give_back(0, t1);
        // Still resting, one nanosecond short.
        assert_eq!(
            p.take(t0 + BLOCK_REUSE_DELAY - Duration::from_nanos(1)),
            None
        );
        // Rested: the oldest first, and only once.
        assert_eq!(p.take(t0 + BLOCK_REUSE_DELAY), Some(1));
        assert_eq!(p.take(t0 + BLOCK_REUSE_DELAY), None, "block 0 rests on");
        assert_eq!(p.take(t1 + BLOCK_REUSE_DELAY), Some(0));
        assert_eq!(p.take(t1 + BLOCK_REUSE_DELAY * 2), None);
        assert_eq!(all, [0, 1, 2]);
    }

    #[test]
    fn a_resting_block_holds_back_those_behind_it() {
        // The queue is oldest first: a block given back unused goes to the
        // front and is taken at once; one behind a resting one waits.
        let mut p = three();
        let t0 = Instant::now();
        assert_eq!(p.take(t0), Some(0));
        assert_eq!(p.take(t0), Some(1));
        p.give_back(0, t0);
        assert_eq!(p.take(t0), Some(2));
        p.give_back_unused(1);
        assert_eq!(p.take(t0), Some(1), "unused: no rest");
        assert_eq!(p.take(t0), None);
    }

    #[test]
    fn adopted_blocks_and_slots_are_never_handed_out() {
        let mut p = three();
        p.claim(1);
        let now = Instant::now();
        assert_eq!(p.take(now), Some(0));
        assert_eq!(p.take(now), Some(2));
        assert_eq!(p.take(now), None);
        let mut s = Slots::new(3);
        s.claim(0);
        assert_eq!(s.take(), Some(1));
        assert_eq!(s.take(), Some(2));
        assert_eq!(s.take(), None);
    }

    #[test]
    fn blocks_by_address_count_all_and_free() {
        let mut p = three();
        assert_eq!(p.by_address(), [(A, 2, 2), (B, 1, 1)]);
        let now = Instant::now();
        p.take(now);
        p.take(now);
        assert_eq!(p.by_address(), [(A, 2, 1), (B, 1, 0)]);
        // A resting block counts as free.
        p.give_back(1, now);
        assert_eq!(p.by_address(), [(A, 2, 1), (B, 1, 1)]);
        assert_eq!(p.address(1), Some(B));
        assert!(PortBlocks::default().by_address().is_empty());
    }

    #[test]
    fn slots_lowest_first_freed_reused_first_until_exhausted() {
        let mut s = Slots::new(3);
        assert_eq!(s.take(), Some(0));
        assert_eq!(s.take(), Some(1));
        s.give_back(0);
        assert_eq!(s.take(), Some(0));
        assert_eq!(s.take(), Some(2));
        assert_eq!(s.take(), None);
        assert_eq!(Slots::new(0).take(), None);
    }

    #[test]
    fn a_waiting_session_takes_the_id_over_when_the_owner_leaves() {
        const C: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 3);
        let mut ids = SessionIds::default();
        assert_eq!(ids.claim(7, A), Claim::Write);
        ids.own(7, A);
        // Re-claiming one's own entry rewrites it.
        assert_eq!(ids.claim(7, A), Claim::Write);
        assert_eq!(
            ids.claim(7, B),
            Claim::Wait {
                owner: A,
                queued: true
            }
        );
        assert_eq!(
            ids.claim(7, B),
            Claim::Wait {
                owner: A,
                queued: false
            }
        );
        assert_eq!(
            ids.claim(7, C),
            Claim::Wait {
                owner: A,
                queued: true
            }
        );
        // Another id is independent.
        assert_eq!(ids.claim(8, B), Claim::Write);
        // The owner leaves: the first waiter is next.
        assert!(ids.release(7, A));
        assert_eq!(ids.owner(7), None);
        assert_eq!(ids.next_waiting(7), Some(B));
        assert_eq!(ids.claim(7, B), Claim::Write);
        ids.own(7, B);
        assert_eq!(ids.owner(7), Some(B));
        // A waiter that leaves waits no more; nobody is left.
        assert!(!ids.release(7, C));
        assert!(ids.release(7, B));
        assert_eq!(ids.next_waiting(7), None);
        // Letting go of what one never had changes nothing.
        assert!(!ids.release(9, A));
        assert_eq!(ids.claim(7, C), Claim::Write);
    }
}
