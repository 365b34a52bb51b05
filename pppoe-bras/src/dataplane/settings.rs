//! What may change while the data plane runs, all through `CONFIG`: the
//! inside prefixes (a reload) and the CPUs sessions are spread over.

use std::net::Ipv4Addr;

use anyhow::Context as _;
use aya::maps::lpm_trie::Key as LpmKey;
use pppoe_bras_common::maps::{CONFIG_F_SPREAD, MAX_CPUS};

use super::{Dataplane, Program, SPREAD_QUEUE};

impl Dataplane {
    /// New inside prefixes (a reload changed the pools or static users):
    /// the new ones are written before the old ones go, and the covering
    /// prefix in `CONFIG` is widened first and narrowed last, so no inside
    /// destination is ever unguarded in between.
    pub fn set_inside(&mut self, inside: Vec<(Ipv4Addr, u8)>) -> anyhow::Result<()> {
        let mut both = self.inside.clone();
        both.extend(inside.iter().copied());
        self.write_covering(&both)?;
        for (net, len) in &inside {
            self.inside_nets
                .insert(&LpmKey::new(u32::from(*len), net.octets()), 1, 0)
                .with_context(|| format!("writing INSIDE_NETS {net}/{len}"))?;
        }
        for old in &self.inside {
            if !inside.contains(old) {
                let _ = self
                    .inside_nets
                    .remove(&LpmKey::new(u32::from(old.1), old.0.octets()));
            }
        }
        self.write_covering(&inside)?;
        self.inside = inside;
        Ok(())
    }

    fn write_covering(&mut self, prefixes: &[(Ipv4Addr, u8)]) -> anyhow::Result<()> {
        let (net, mask) = covering(prefixes);
        self.config_value.inside_net = net;
        self.config_value.inside_mask = mask;
        self.config
            .set(0, self.config_value, 0)
            .context("writing CONFIG")?;
        Ok(())
    }

    /// Spread PPPoE sessions over `cpus` (CPU numbers; fewer than two turns
    /// spreading off): the access program hands each session's IPv4 frames
    /// to one of these CPUs, chosen by a hash of (client MAC, session id),
    /// where `bras_access_cpu` processes them (`CPUS` cpumap, queue of
    /// [`SPREAD_QUEUE`] frames per CPU). RSS cannot do this for PPPoE. Can be
    /// changed at any time; a session may move CPU when the set changes.
    pub fn set_spread(&mut self, cpus: &[u32]) -> anyhow::Result<()> {
        let mut want: Vec<u32> = cpus.iter().copied().filter(|c| *c < MAX_CPUS).collect();
        want.sort_unstable();
        want.dedup();
        if want.len() < 2 {
            want.clear();
        }
        // Off first, so the program never indexes a half-written table.
        self.config_value.flags &= !CONFIG_F_SPREAD;
        self.config_value.spread_cpus = 0;
        self.config.set(0, self.config_value, 0)?;
        let fd = self.xdp(Program::AccessCpu)?.fd()?.try_clone()?;
        for (i, cpu) in want.iter().enumerate() {
            self.cpus
                .set(*cpu, SPREAD_QUEUE, Some(&fd), 0)
                .with_context(|| format!("adding CPU {cpu} to the cpumap"))?;
            self.spread_cpus.set(i as u32, *cpu, 0)?;
        }
        if !want.is_empty() {
            self.config_value.flags |= CONFIG_F_SPREAD;
            self.config_value.spread_cpus = want.len() as u16;
            self.config.set(0, self.config_value, 0)?;
            log::info!("spreading PPPoE sessions over CPUs {want:?}");
        }
        self.spread = want;
        Ok(())
    }

    /// The CPUs sessions are spread over (empty: spreading is off).
    pub fn spread(&self) -> &[u32] {
        &self.spread
    }
}

/// `CONFIG`'s (inside_net, inside_mask) for `prefixes`, wire order.
pub(super) fn covering(prefixes: &[(Ipv4Addr, u8)]) -> ([u8; 4], [u8; 4]) {
    let (net, len) = crate::pool::covering_prefix(prefixes);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    (net.octets(), mask.to_be_bytes())
}
