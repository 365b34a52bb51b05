//! Counters: per session (`COUNTERS`, summed over CPUs), per verdict
//! (`STATS`, by [`Stat`]), the NICs' own XDP counters, and the periodic
//! checks that log when they grow.

use std::net::Ipv4Addr;

use aya::maps::PerCpuValues;
use pppoe_bras_common::{maps::SessionCounters as RawCounters, stats::Stat};

use super::{nic, sys, Dataplane, SessionCounters, SessionRow};

impl Dataplane {
    pub(super) fn zero_counters(&mut self, slot: u32) -> anyhow::Result<()> {
        let zeros = PerCpuValues::try_from(vec![RawCounters::default(); self.nr_cpus])?;
        self.counters.set(slot, zeros, 0)?;
        Ok(())
    }

    pub(super) fn slot_counters(&self, slot: u32) -> SessionCounters {
        let mut c = SessionCounters::default();
        if let Ok(vals) = self.counters.get(&slot, 0) {
            for v in vals.iter() {
                c.up_packets += v.up_packets;
                c.up_bytes += v.up_bytes;
                c.down_packets += v.down_packets;
                c.down_bytes += v.down_bytes;
            }
        }
        c
    }

    /// Current counters of an installed session (zero when unknown).
    pub fn counters(&self, row: &SessionRow) -> SessionCounters {
        self.resolve(row)
            .and_then(|a| self.installed.get(&a))
            .map(|i| self.slot_counters(i.slot))
            .unwrap_or_default()
    }

    /// Named `STATS` counters summed over CPUs, in `Stat` order.
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        Stat::ALL
            .iter()
            .map(|s| {
                let n = self
                    .stats
                    .get(&(*s as u32), 0)
                    .map(|v| v.iter().sum())
                    .unwrap_or(0);
                (s.name(), n)
            })
            .collect()
    }

    /// One `STATS` counter summed over CPUs.
    pub fn stat(&self, s: Stat) -> u64 {
        self.stats
            .get(&(s as u32), 0)
            .map(|v| v.iter().sum())
            .unwrap_or(0)
    }

    /// The periodic checks besides expiry: resolve the last next hop the
    /// data plane had no neighbour for, and log (at most once per call, so
    /// once per period) when new flows were dropped because a session's port
    /// block was full (`drop_no_nat_port`, RFC 6888 REQ-4: drop, never evict).
    pub fn periodic(&mut self) {
        self.resolve_neighbours();
        self.log_quota_drops();
        let errors = self.xmit_errors();
        if errors > self.last_xmit_errors {
            log::warn!(
                "{} frames the data plane redirected were dropped by the NICs since the last \
                 check (nic.*.tx_xdp_xmit_errors in `pppoe-bras stats`): counted as forwarded, \
                 they never left",
                errors - self.last_xmit_errors
            );
        }
        self.last_xmit_errors = errors;
    }

    /// The XDP counters both NICs keep (`ethtool -S`, per-queue ones
    /// summed), as `nic.<interface>.<counter>`: redirects the kernel
    /// dropped after our programs counted them as forwarded show here
    /// (veth: `tx_xdp_xmit_errors`).
    pub fn nic_stats(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for ifname in &self.nics {
            match nic::xdp_stats(ifname) {
                Ok(v) => out.extend(v.into_iter().map(|(n, c)| (format!("nic.{ifname}.{n}"), c))),
                Err(e) => log::debug!("ethtool -S {ifname}: {e}"),
            }
        }
        out
    }

    /// Frames redirected into either NIC that it failed to send.
    pub(super) fn xmit_errors(&self) -> u64 {
        self.nic_stats()
            .iter()
            .filter(|(n, _)| n.ends_with("xdp_xmit_errors") || n.ends_with("xdp_xmit_err"))
            .map(|(_, c)| c)
            .sum()
    }

    /// If the data plane recorded a new next hop without a neighbour entry
    /// (`NEIGH_MISS`, `drop_no_neigh`), send it one datagram so the kernel
    /// resolves it; the next packets then find the neighbour.
    pub fn resolve_neighbours(&mut self) {
        let Ok(m) = self.neigh_miss.get(&0, 0) else {
            return;
        };
        if m.when == 0 || m.when == self.last_neigh_miss {
            return;
        }
        self.last_neigh_miss = m.when;
        let addr = Ipv4Addr::from(m.addr);
        if let Err(e) = sys::poke_neighbour(addr) {
            log::debug!("resolving neighbour {addr}: {e}");
        }
    }
}
