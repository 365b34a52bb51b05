//! Hitless restart: a new daemon takes over what the previous one left
//! pinned (links, maps, the sessions its state file names), and a daemon
//! leaving with `--keep-sessions` leaves it all running.

use std::{net::Ipv4Addr, path::Path};

use anyhow::Context as _;
use aya::{
    maps::MapData,
    programs::{links::PinnedLink, xdp::XdpLink},
};
use pppoe_bras_common::maps::{
    names, Session6, SessionEntry, SessionKey, SessionValue, Subscriber, MAX_SESSIONS,
};

use super::{load::link_pin, Adopted, Dataplane, Installed, Program, SessionRow};

impl Dataplane {
    /// Re-adoption: take the allocations of `adopt` over where the maps
    /// agree (the session's row is there with that address and slot), drop
    /// rows of sessions nobody knows any more, and bring `INSIDE_NETS` to
    /// `inside`. Returns the rows adopted.
    pub(super) fn take_over(
        &mut self,
        adopt: &[Adopted],
        inside: &[(Ipv4Addr, u8)],
    ) -> anyhow::Result<Vec<SessionRow>> {
        let mut rows = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for a in adopt {
            let key = self.key(&a.row);
            let Ok(val) = self.sessions.get(&key, 0) else {
                log::warn!(
                    "re-adoption: session {:#06x} has no SESSIONS row; not adopted",
                    a.row.session_id
                );
                continue;
            };
            if val.addr != a.row.address.octets() || val.slot != a.slot {
                log::warn!(
                    "re-adoption: session {:#06x} differs in the maps; not adopted",
                    a.row.session_id
                );
                continue;
            }
            let block_ok = a.block.is_none_or(|b| (b as usize) < self.blocks.len());
            if a.slot >= MAX_SESSIONS || !block_ok {
                continue;
            }
            self.slots.claim(a.slot);
            if let Some(b) = a.block {
                self.blocks.claim(b);
            }
            let inst = Installed {
                key,
                slot: a.slot,
                block: a.block,
            };
            self.installed.insert(a.row.address, inst);
            self.by_key.insert(key, a.row.address);
            self.claim_id(a.row.address, key, val)?;
            keys.insert(key);
            rows.push(a.row);
        }
        // IPv6 is not in the state file: the adopted sessions renegotiate
        // IPv6CP and get their prefixes installed again; clear every IPv6
        // row meanwhile, so no prefix points at a slot it no longer owns.
        for k in self.net64.keys().flatten().collect::<Vec<_>>() {
            let _ = self.net64.remove(&k);
        }
        for k in self.deleg6.keys().flatten().collect::<Vec<_>>() {
            let _ = self.deleg6.remove(&k);
        }
        for slot in 0..MAX_SESSIONS {
            if self
                .session6
                .get(&slot, 0)
                .is_ok_and(|v| v != Session6::default())
            {
                let _ = self.session6.set(slot, Session6::default(), 0);
            }
        }
        // Rows the state file does not know (installed after its last write):
        // nobody can run their PPP any more; their NAT mappings expire.
        let stale: Vec<(SessionKey, SessionValue)> = self
            .sessions
            .iter()
            .flatten()
            .filter(|(k, _)| !keys.contains(k))
            .collect();
        for (k, v) in &stale {
            let _ = self.sessions.remove(k);
            if let Ok(e) = self.session_by_id.get(&u32::from(k.session_id), 0) {
                if e.key == *k {
                    let _ =
                        self.session_by_id
                            .set(u32::from(k.session_id), SessionEntry::default(), 0);
                }
            }
            if self
                .subscribers
                .get(&v.addr, 0)
                .is_ok_and(|s| s.slot == v.slot)
            {
                let _ = self.subscribers.remove(&v.addr);
            }
            let _ = self.sub_by_slot.set(v.slot, Subscriber::default(), 0);
        }
        if !stale.is_empty() {
            log::warn!(
                "re-adoption: removed {} session rows the state file did not know",
                stale.len()
            );
        }
        let old: Vec<(Ipv4Addr, u8)> = self
            .inside_nets
            .keys()
            .flatten()
            .map(|k| (Ipv4Addr::from(k.data()), k.prefix_len() as u8))
            .collect();
        self.inside = old;
        self.set_inside(inside.to_vec())?;
        Ok(rows)
    }

    /// Re-adoption: load `which` and swap it into the link a previous daemon
    /// pinned, atomically (`bpf_link_update`: not one frame meets no
    /// program), then pin the link again.
    pub(super) fn swap_into_pinned_link(&mut self, which: Program) -> anyhow::Result<()> {
        let name = which.name();
        let path = self.pin_dir.join(link_pin(which));
        let prog = self.xdp(which)?;
        prog.load()
            .with_context(|| format!("verifier rejected {name}"))?;
        let pinned =
            PinnedLink::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
        let fd = pinned.unpin().context("unpinning the old link")?;
        let link = XdpLink::try_from(fd).context("pinned link is not an XDP link")?;
        let id = prog
            .attach_to_link(link)
            .with_context(|| format!("replacing the program of {name}'s link"))?;
        log::info!("{name}: new program swapped into the running link");
        self.pin_link(which, id)
    }

    /// End this daemon but leave the data plane running for the next one
    /// (`--keep-sessions`, an upgrade): programs stay attached through their
    /// pinned links, maps stay pinned, forwarding settings stay.
    pub fn leave(mut self) {
        self.done = true;
        // Dropping a PinnedLink closes our fd; the pin keeps the link.
        self.links.clear();
        log::info!(
            "data plane left running for the next daemon (maps and links pinned in {})",
            self.pin_dir.display()
        );
    }
}

/// Whether `pin_dir` holds a data plane a new daemon can take over: both
/// links pinned, every map pinned, the NAT tables of the size in force.
pub(super) fn adoptable(pin_dir: &Path, nat_table_size: u32) -> Result<(), String> {
    for p in [Program::Access, Program::Uplink] {
        if !pin_dir.join(link_pin(p)).exists() {
            return Err(format!("no pinned link {}", link_pin(p)));
        }
    }
    for n in names::ALL {
        if !pin_dir.join(n).exists() {
            return Err(format!("map {n} is not pinned"));
        }
    }
    for n in [names::NAT_OUT, names::NAT_IN] {
        let m = MapData::from_pin(pin_dir.join(n)).map_err(|e| format!("{n}: {e}"))?;
        let info = m.info().map_err(|e| format!("{n}: {e}"))?;
        if info.max_entries() != nat_table_size {
            return Err(format!(
                "{n} holds {} entries, nat_table_size is now {nat_table_size}",
                info.max_entries()
            ));
        }
    }
    Ok(())
}
