//! NAT upkeep: the expiry sweep over `NAT_OUT`/`NAT_IN` in bounded steps,
//! removal of a session's mappings by its port block, per-slot live counts
//! (`NAT_SLOTS`, `NAT_FREED`), per-address figures, and the sizing of the
//! NAT table against the per-session quotas.

use std::{net::Ipv4Addr, os::fd::AsFd as _};

use anyhow::{bail, Context as _};
use pppoe_bras_common::{
    maps::{tcp_established, NatFreed, NatKey, NatSlot, NatValue, MAX_NAT},
    nat,
    proto::{IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP},
    stats::Stat,
};

use super::{
    sys, Dataplane, DataplaneConfig, NatMapping, SessionRow, EXPIRY_BUDGET, NAT_TABLE_AUTO_MAX,
};

impl Dataplane {
    /// Zero a slot's NAT allocation state (`NAT_SLOTS`, `NAT_FREED`): only
    /// while no session uses the slot.
    pub(super) fn zero_nat_slot(&mut self, slot: u32) -> anyhow::Result<()> {
        self.freed.remove(&slot);
        self.nat_slots
            .set(slot, NatSlot::default(), 0)
            .context("zeroing NAT_SLOTS")?;
        self.nat_freed
            .set(slot, NatFreed::default(), 0)
            .context("zeroing NAT_FREED")?;
        Ok(())
    }

    /// Live NAT mappings of a session (created − removed, all protocols),
    /// as the XDP programs count them against `nat_session_mappings`.
    pub fn nat_live(&self, row: &SessionRow) -> Option<u64> {
        let slot = self.installed.get(&self.resolve(row)?)?.slot;
        let s = self.nat_slots.get(&slot, 0).ok()?;
        let f = self.nat_freed.get(&slot, 0).ok()?;
        Some(nat::live(
            s.total,
            f.freed.iter().fold(0u64, |a, b| a.wrapping_add(*b)),
        ))
    }

    /// Per public address: (live NAT mappings, port blocks, free blocks),
    /// for metrics. Costs two array reads per installed NATed session.
    pub fn nat_by_address(&self) -> Vec<(Ipv4Addr, u64, u64, u64)> {
        let mut out: Vec<(Ipv4Addr, u64, u64, u64)> = self
            .blocks
            .by_address()
            .into_iter()
            .map(|(a, blocks, free)| (a, 0, blocks, free))
            .collect();
        for inst in self.installed.values() {
            let Some(a) = inst.block.and_then(|b| self.blocks.address(b)) else {
                continue;
            };
            let (Ok(s), Ok(f)) = (
                self.nat_slots.get(&inst.slot, 0),
                self.nat_freed.get(&inst.slot, 0),
            ) else {
                continue;
            };
            let live = nat::live(
                s.total,
                f.freed.iter().fold(0u64, |x, y| x.wrapping_add(*y)),
            );
            // Every block's address is listed already.
            if let Some(e) = out.iter_mut().find(|e| e.0 == a) {
                e.1 += live;
            }
        }
        out
    }

    /// The session's public ports are known, so its `NAT_IN` keys are too:
    /// 3 × block size point lookups instead of a walk over the whole table.
    pub(super) fn remove_block_mappings(
        &mut self,
        addr: Ipv4Addr,
        public: Ipv4Addr,
        start: u16,
        count: u16,
    ) {
        let public = public.octets();
        for proto in [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP] {
            for i in 0..count {
                let in_key = NatKey {
                    addr: public,
                    port: start.wrapping_add(i),
                    proto,
                    _pad: 0,
                };
                let Ok(v) = self.nat_in.get(&in_key, 0) else {
                    continue;
                };
                if v.addr != addr.octets() {
                    continue;
                }
                let _ = self.nat_in.remove(&in_key);
                let out_key = NatKey {
                    addr: v.addr,
                    port: v.port,
                    proto,
                    _pad: 0,
                };
                let _ = self.nat_out.remove(&out_key);
            }
        }
    }

    /// All NAT mappings (walks `NAT_OUT`; for diagnostics and tests).
    pub fn nat_mappings(&self) -> Vec<NatMapping> {
        let mut out = Vec::new();
        for (k, v) in self.nat_out.iter().flatten() {
            let back = self.nat_in.get(
                &NatKey {
                    addr: v.addr,
                    port: v.port,
                    proto: k.proto,
                    _pad: 0,
                },
                0,
            );
            let back = back.ok();
            let last = back.map(|b| b.last_seen).unwrap_or(0).max(v.last_seen);
            out.push(NatMapping {
                proto: k.proto,
                inside: (Ipv4Addr::from(k.addr), k.port),
                outside: (Ipv4Addr::from(v.addr), v.port),
                last_seen_ns: last,
                state: back.map(|b| b.state).unwrap_or(0),
            });
        }
        out
    }

    /// Expire idle NAT mappings now (a whole sweep, see
    /// [`Self::expire_step_at`]); also does [`Self::periodic`]. For tests
    /// and tools: the daemon sweeps in bounded steps instead, so its event
    /// loop never waits for a whole table. Returns the mappings removed.
    pub fn expire_idle(&mut self) -> usize {
        self.periodic();
        self.expire_idle_at(sys::monotonic_ns())
    }

    /// A whole expiry sweep at an explicit CLOCK_MONOTONIC time (ns): starts
    /// a new pass and runs [`Self::expire_step_at`] until it is through.
    pub fn expire_idle_at(&mut self, now_ns: u64) -> usize {
        self.sweep = Sweep::default();
        let mut removed = 0;
        loop {
            let step = self.expire_step_at(now_ns, EXPIRY_BUDGET);
            removed += step.removed;
            if step.pass_done {
                return removed;
            }
        }
    }

    /// [`Self::expire_step_at`] now.
    pub fn expire_step(&mut self, budget: u32) -> SweepStep {
        self.expire_step_at(sys::monotonic_ns(), budget)
    }

    /// One bounded step of the expiry sweep: one `BPF_MAP_LOOKUP_BATCH` of
    /// at most `budget` entries (a hash-map batch never splits a bucket:
    /// more only when a single bucket is larger) from where the last step
    /// stopped, and the checks and deletions of those entries. A pass walks
    /// `NAT_OUT`, then `NAT_IN`; `pass_done` says this step finished one.
    ///
    /// A mapping is idle when neither direction was seen for the protocol's
    /// timeout (TCP: established or transitory by the state the XDP
    /// programs keep in the `NAT_IN` row). Also removes orphans: `NAT_OUT`
    /// rows whose `NAT_IN` twin is gone or points elsewhere, and `NAT_IN`
    /// rows without their `NAT_OUT` twin for more than a second (a creation
    /// race in XDP or a removal in progress). Every `NAT_OUT` row removed is
    /// counted in its session's `NAT_FREED`, which gives the session the
    /// room back (live = created − freed).
    pub fn expire_step_at(&mut self, now_ns: u64, budget: u32) -> SweepStep {
        let max = budget.max(1);
        let ks = std::mem::size_of::<NatKey>();
        let vs = std::mem::size_of::<NatValue>();
        let mut keys = vec![0u8; max as usize * ks];
        let mut vals = vec![0u8; max as usize * vs];
        let phase_in = self.sweep.phase_in;
        let res = {
            let raw = if phase_in {
                &self.nat_in_raw
            } else {
                &self.nat_out_raw
            };
            let fd = raw.fd().as_fd();
            let mut res = sys::map_lookup_batch(fd, self.sweep.token, &mut keys, &mut vals, max);
            // A bucket larger than the budget: take that bucket whole.
            let mut room = max;
            while matches!(&res, Err(e) if e.raw_os_error() == Some(libc::ENOSPC)) && room < 1 << 16
            {
                room *= 2;
                keys.resize(room as usize * ks, 0);
                vals.resize(room as usize * vs, 0);
                res = sys::map_lookup_batch(fd, self.sweep.token, &mut keys, &mut vals, room);
            }
            res
        };
        let (n, next) = match res {
            Ok(r) => r,
            Err(e) => {
                log::warn!("NAT expiry: batch lookup failed: {e}; starting over");
                self.sweep = Sweep::default();
                return SweepStep {
                    visited: 0,
                    removed: 0,
                    pass_done: true,
                };
            }
        };
        let entries = (0..n as usize).map(|i| {
            // Safety: the kernel wrote `n` packed keys and values; NatKey and
            // NatValue are Pod; read_unaligned copes with the Vec<u8> alignment.
            unsafe {
                (
                    std::ptr::read_unaligned(keys.as_ptr().add(i * ks) as *const NatKey),
                    std::ptr::read_unaligned(vals.as_ptr().add(i * vs) as *const NatValue),
                )
            }
        });
        let entries: Vec<_> = entries.collect();
        let removed = if phase_in {
            self.expire_orphans(now_ns, &entries);
            0
        } else {
            self.expire_out(now_ns, &entries)
        };
        let mut pass_done = false;
        match next {
            Some(t) => self.sweep.token = Some(t),
            None if !phase_in => {
                self.sweep = Sweep {
                    phase_in: true,
                    token: None,
                }
            }
            None => {
                self.sweep = Sweep::default();
                pass_done = true;
            }
        }
        SweepStep {
            visited: n,
            removed,
            pass_done,
        }
    }

    fn nat_timeout(&self, proto: u8, state: u8) -> u64 {
        let d = match proto {
            IPPROTO_TCP if tcp_established(state) => self.timeouts.tcp,
            IPPROTO_TCP => self.timeouts.tcp_transitory,
            IPPROTO_UDP => self.timeouts.udp,
            _ => self.timeouts.icmp,
        };
        d.as_nanos().min(u64::MAX as u128) as u64
    }

    /// The `NAT_OUT` half of a sweep step: idle or inconsistent rows go,
    /// with their `NAT_IN` twin.
    fn expire_out(&mut self, now_ns: u64, entries: &[(NatKey, NatValue)]) -> usize {
        let mut removed = 0;
        let mut dirty = Vec::new();
        for (k, v) in entries {
            let in_key = NatKey {
                addr: v.addr,
                port: v.port,
                proto: k.proto,
                _pad: 0,
            };
            let twin = self.nat_in.get(&in_key, 0).ok();
            let consistent = twin.is_some_and(|t| t.addr == k.addr && t.port == k.port);
            let last = twin.map(|t| t.last_seen).unwrap_or(0).max(v.last_seen);
            let state = twin.map(|t| t.state).unwrap_or(0);
            if consistent && now_ns.saturating_sub(last) <= self.nat_timeout(k.proto, state) {
                continue;
            }
            if self.nat_out.remove(k).is_ok() {
                removed += 1;
                let owner = self.installed.get(&Ipv4Addr::from(k.addr)).map(|i| i.slot);
                if owner == Some(v.slot) {
                    let f = self.freed.entry(v.slot).or_default();
                    let pi = nat::proto_index(k.proto);
                    f[pi] = f[pi].wrapping_add(1);
                    dirty.push(v.slot);
                }
            }
            // Only delete the NAT_IN row if it is still this mapping's twin.
            if consistent {
                let _ = self.nat_in.remove(&in_key);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty {
            let freed = self.freed.get(&slot).copied().unwrap_or_default();
            if let Err(e) = self.nat_freed.set(slot, NatFreed { freed }, 0) {
                log::warn!("writing NAT_FREED[{slot}]: {e}");
            }
        }
        removed
    }

    /// The `NAT_IN` half of a sweep step: rows without their `NAT_OUT`
    /// twin for more than a second go.
    fn expire_orphans(&mut self, now_ns: u64, entries: &[(NatKey, NatValue)]) {
        for (k, v) in entries {
            let out_key = NatKey {
                addr: v.addr,
                port: v.port,
                proto: k.proto,
                _pad: 0,
            };
            let ok = self
                .nat_out
                .get(&out_key, 0)
                .is_ok_and(|o| o.addr == k.addr && o.port == k.port);
            if !ok && now_ns.saturating_sub(v.last_seen) > 1_000_000_000 {
                let _ = self.nat_in.remove(k);
            }
        }
    }

    pub(super) fn log_quota_drops(&mut self) {
        let now = self.stat(Stat::DropNoNatPort) + self.stat(Stat::DropNatSessionLimit);
        if now > self.last_quota_drops {
            log::warn!(
                "NAT port quota: {} new flows dropped since the last check because a session's \
                 block of {} ports (or its nat_session_mappings) was full \
                 (xdp.drop_no_nat_port {}, xdp.drop_nat_session_limit {})",
                now - self.last_quota_drops,
                self.blocks.size(),
                self.stat(Stat::DropNoNatPort),
                self.stat(Stat::DropNatSessionLimit),
            );
        }
        self.last_quota_drops = now;
    }

    /// Entries of each NAT map.
    pub fn nat_table_size(&self) -> u32 {
        self.nat_table_size
    }

    /// The per-session cap of live NAT mappings in force (0: the block only).
    pub fn nat_session_cap(&self) -> u32 {
        self.nat_session_cap
    }

    /// The first public (NAT source) address.
    pub fn public_ip(&self) -> Ipv4Addr {
        self.public_ip
    }

    /// Number of NAT port blocks (sessions that can be NATed at once).
    pub fn block_capacity(&self) -> usize {
        self.blocks.len()
    }

    /// The session's public port block `(first port, size)`, if it has one.
    pub fn port_block(&self, row: &SessionRow) -> Option<(u16, u16)> {
        self.nat_block(row).map(|(_, start, size)| (start, size))
    }

    /// The session's NAT block `(public address, first port, size)`, if it
    /// has one: what to log at session start (RFC 6888 §4: with port
    /// blocks, one line per session is enough to trace a flow back).
    pub fn nat_block(&self, row: &SessionRow) -> Option<(Ipv4Addr, u16, u16)> {
        let b = self.installed.get(&self.resolve(row)?)?.block?;
        self.blocks.get(b)
    }
}

/// Where the expiry sweep is: which map, and the batch token to go on from.
#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Sweep {
    /// Walking `NAT_IN` (orphans) rather than `NAT_OUT`.
    phase_in: bool,
    /// Bucket to continue from (`None`: the map's start).
    token: Option<u32>,
}

/// What one [`Dataplane::expire_step_at`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepStep {
    /// Map entries looked at (≤ the budget unless one hash bucket is larger).
    pub visited: u32,
    /// `NAT_OUT` mappings removed.
    pub removed: usize,
    /// This step finished a pass over both maps (the next starts over).
    pub pass_done: bool,
}

/// Size the NAT table and the per-session cap together (RFC 6888 REQ-3/4:
/// one subscriber must never take the others' room): at most
/// `min(max_sessions, port blocks)` sessions are NATed at once, each with
/// at most `nat_session_mappings` live mappings (0: 3 × `port_block_size`,
/// one block per protocol), and the table must hold all of them. Returns
/// (entries of each NAT map, the cap XDP enforces; 0 = the block only).
pub fn nat_sizing(cfg: &DataplaneConfig, port_blocks: usize) -> anyhow::Result<(u32, u32)> {
    if !cfg.nat {
        let size = if cfg.nat_table_size == 0 {
            MAX_NAT
        } else {
            cfg.nat_table_size
        };
        return Ok((size, 0));
    }
    let per_block = 3 * u64::from(cfg.port_block_size);
    let (per, per_why) = match u64::from(cfg.nat_session_mappings) {
        0 => (
            per_block,
            format!("3 × port_block_size {}", cfg.port_block_size),
        ),
        n if n >= per_block => (
            per_block,
            format!("3 × port_block_size {}", cfg.port_block_size),
        ),
        n => (n, "nat_session_mappings".to_owned()),
    };
    let cap = if per < per_block { per as u32 } else { 0 };
    let sessions = u64::from(cfg.max_sessions).min(port_blocks as u64).max(1);
    let sessions_why = if u64::from(cfg.max_sessions) <= port_blocks as u64 {
        format!("max_sessions {}", cfg.max_sessions)
    } else {
        format!("{port_blocks} port blocks")
    };
    let need = sessions * per;
    let (limit, limit_why) = if cfg.nat_table_size == 0 {
        (
            u64::from(NAT_TABLE_AUTO_MAX),
            format!("the automatic limit {NAT_TABLE_AUTO_MAX} (nat_table_size = 0)"),
        )
    } else {
        (
            u64::from(cfg.nat_table_size),
            format!("nat_table_size {}", cfg.nat_table_size),
        )
    };
    if need > limit {
        bail!(
            "NAT quotas can outgrow the NAT table: {sessions} sessions ({sessions_why}) × {per} \
             mappings each ({per_why}) = {need} > {limit_why}, so a few busy subscribers could \
             fill it for everyone; set nat_table_size = {need} (about {} MiB of kernel memory), \
             or nat_session_mappings = {} or less, or lower max_sessions",
            (need * 128).div_ceil(1 << 20),
            (limit / sessions).max(1)
        );
    }
    let size = if cfg.nat_table_size == 0 {
        need.max(u64::from(MAX_NAT)) as u32
    } else {
        cfg.nat_table_size
    };
    Ok((size, cap))
}
