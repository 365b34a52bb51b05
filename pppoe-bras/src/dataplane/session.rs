//! A session's rows: install, readdress and remove its IPv4 rows
//! (`SUBSCRIBERS`, `SUB_BY_SLOT`, `SESSIONS`, `SESSION_BY_ID`) with its slot
//! and port block, and its IPv6 rows (`SESSION6`, `NET64`, `DELEG6`).
//! An IPv6-only session is installed under a placeholder IPv4 address.

use std::{net::Ipv4Addr, time::Instant};

use anyhow::{anyhow, bail, Context as _};
use aya::maps::MapError;
use pppoe_bras_common::{
    maps::{
        Session6, SessionEntry, SessionKey, SessionValue, Subscriber, MAX_SESSIONS, SESSION_F_NAT,
    },
    proto::{ETH_P_8021AD, ETH_P_8021Q},
};

use super::{blocks::Claim, Dataplane, Installed, SessionCounters, SessionRow, BLOCK_REUSE_DELAY};

/// The stand-in address of the IPv6-only session in `slot`: 0.0.0.0/8
/// ("this network", RFC 1122) is never leased, so it never clashes with a
/// subscriber, and XDP drops IPv4 from a session whose address is in it.
fn placeholder(slot: u32) -> Ipv4Addr {
    Ipv4Addr::from(slot + 1)
}

/// Whether `a` is a [`placeholder`].
pub(crate) fn is_placeholder(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 && !a.is_unspecified()
}

impl Dataplane {
    /// Install a session: allocates a counter slot and (NAT on) a port block,
    /// zeroes the counters, writes `SUBSCRIBERS` then `SESSIONS` and
    /// `SESSION_BY_ID` (so the return path exists before the first upstream
    /// packet is accepted).
    /// Re-installing the same session updates it in place.
    pub fn install(&mut self, row: &SessionRow) -> anyhow::Result<()> {
        let key = self.key(row);
        // IPv6 only, or IPCP came or went while IPv6 keeps the session: the
        // same slot (its counters and IPv6 rows) under another address.
        if let Some(held) = self.by_key.get(&key).copied() {
            let wants_v4 = !row.address.is_unspecified();
            if is_placeholder(held) && wants_v4 || !is_placeholder(held) && !wants_v4 {
                return self.readdress(key, held, row);
            }
        }
        if row.address.is_unspecified() {
            if let Some(held) = self.by_key.get(&key).copied() {
                let inst = self.installed.get(&held).copied();
                let row = SessionRow {
                    address: held,
                    ..*row
                };
                return match inst {
                    Some(inst) => self.write_rows(&row, &inst),
                    None => Ok(()),
                };
            }
        }
        if let Some(old) = self.installed.get(&row.address).copied() {
            if old.key != key {
                bail!("address {} already belongs to another session", row.address);
            }
            return self.write_rows(row, &old);
        }
        let slot = self
            .slots
            .take()
            .ok_or_else(|| anyhow!("session table full ({MAX_SESSIONS})"))?;
        // An IPv6-only session has no IPv4 address: it is known by a
        // placeholder in 0.0.0.0/8 that no subscriber can hold (the pool
        // refuses that range), unique per slot.
        let row = &SessionRow {
            address: if row.address.is_unspecified() {
                placeholder(slot)
            } else {
                row.address
            },
            ..*row
        };
        let block = if self.nat && !is_placeholder(row.address) {
            match self.blocks.take(Instant::now()) {
                Some(b) => Some(b),
                None => {
                    self.slots.give_back(slot);
                    bail!(
                        "no free NAT port block for {} ({} blocks, freed ones rest {}s)",
                        row.address,
                        self.blocks.len(),
                        BLOCK_REUSE_DELAY.as_secs()
                    );
                }
            }
        } else {
            None
        };
        let inst = Installed { key, slot, block };
        let res = self
            .zero_counters(slot)
            .and_then(|()| self.zero_nat_slot(slot))
            .and_then(|()| self.write_rows(row, &inst));
        if let Err(e) = res {
            let _ = self.release_id(row.address, &key);
            let _ = self.sessions.remove(&key);
            let _ = self.subscribers.remove(&row.address.octets());
            let _ = self.sub_by_slot.set(slot, Subscriber::default(), 0);
            self.slots.give_back(slot);
            if let Some(b) = block {
                // Never used: no need to rest.
                self.blocks.give_back_unused(b);
            }
            return Err(e);
        }
        self.installed.insert(row.address, inst);
        self.by_key.insert(key, row.address);
        if let Some((net64, deleg)) = self.pending6.remove(&key) {
            if let Err(e) = self.install6(row.address, net64, deleg) {
                log::warn!("session {:#06x}: IPv6 rows: {e:#}", row.session_id);
            }
        }
        Ok(())
    }

    /// Move the session installed under `held` to `row.address` (a real
    /// address when IPCP opens on an IPv6-only session, unspecified when
    /// IPCP finishes and IPv6 keeps it): same slot, counters and IPv6
    /// rows; a NAT block taken or given back. When no block is free the
    /// whole session leaves the data plane (the caller ends it).
    fn readdress(
        &mut self,
        key: SessionKey,
        held: Ipv4Addr,
        row: &SessionRow,
    ) -> anyhow::Result<()> {
        let Some(mut inst) = self.installed.get(&held).copied() else {
            bail!("session {:#06x} not installed", key.session_id);
        };
        let to = if row.address.is_unspecified() {
            placeholder(inst.slot)
        } else {
            row.address
        };
        if self.installed.get(&to).is_some_and(|o| o.key != key) {
            bail!("address {to} already belongs to another session");
        }
        let block = if self.nat && !is_placeholder(to) {
            match self.blocks.take(Instant::now()) {
                Some(b) => Some(b),
                None => {
                    let _ = self.remove(&SessionRow {
                        address: held,
                        ..*row
                    });
                    bail!(
                        "no free NAT port block for {to} ({} blocks, freed ones rest {}s)",
                        self.blocks.len(),
                        BLOCK_REUSE_DELAY.as_secs()
                    );
                }
            }
        } else {
            None
        };
        self.release_id(held, &key)?;
        ignore_missing(self.subscribers.remove(&held.octets()))
            .context("deleting from SUBSCRIBERS")?;
        if let Some((public, start, count)) = inst.block.and_then(|b| self.blocks.get(b)) {
            self.remove_block_mappings(held, public, start, count);
            self.blocks
                .give_back(inst.block.unwrap_or(0), Instant::now());
            if let Err(e) = self.zero_nat_slot(inst.slot) {
                log::warn!("session {held}: zeroing NAT_SLOTS[{}]: {e:#}", inst.slot);
            }
        }
        inst.block = block;
        self.installed.remove(&held);
        self.installed.insert(to, inst);
        self.by_key.insert(key, to);
        self.write_rows(
            &SessionRow {
                address: to,
                ..*row
            },
            &inst,
        )
    }

    /// The address `row`'s session is installed under: its own when that
    /// row is this session's, else the one its key holds (a placeholder
    /// for an IPv6-only session, whose rows the caller names without an
    /// address).
    pub(super) fn resolve(&self, row: &SessionRow) -> Option<Ipv4Addr> {
        let key = self.key(row);
        if self
            .installed
            .get(&row.address)
            .is_some_and(|i| i.key == key)
        {
            return Some(row.address);
        }
        self.by_key.get(&key).copied()
    }

    pub(super) fn key(&self, row: &SessionRow) -> SessionKey {
        SessionKey {
            ifindex: self.access_ifindex,
            outer_vid: row.vlans.0 & 0x0fff,
            inner_vid: row.vlans.1 & 0x0fff,
            client_mac: row.client_mac,
            session_id: row.session_id,
        }
    }

    fn write_rows(&mut self, row: &SessionRow, inst: &Installed) -> anyhow::Result<()> {
        let (public, port_start, port_count) = inst
            .block
            .and_then(|b| self.blocks.get(b))
            .unwrap_or((self.public_ip, 0, 0));
        let flags = if self.nat { SESSION_F_NAT } else { 0 };
        let (outer_vid, inner_vid) = (row.vlans.0 & 0x0fff, row.vlans.1 & 0x0fff);
        let outer_tpid = match (outer_vid, inner_vid, row.outer_tpid) {
            (0, _, _) => 0,
            (_, _, t) if t != 0 => t,
            (_, 0, _) => ETH_P_8021Q,
            _ => ETH_P_8021AD,
        };
        let sub = Subscriber {
            ifindex: self.access_ifindex,
            outer_tpid,
            outer_vid,
            inner_vid: if outer_vid == 0 { 0 } else { inner_vid },
            session_id: row.session_id,
            client_mac: row.client_mac,
            bras_mac: row.bras_mac,
            mtu: row.mtu,
            flags,
            slot: inst.slot,
            addr: row.address.octets(),
        };
        let val = SessionValue {
            addr: row.address.octets(),
            public_addr: public.octets(),
            port_start,
            port_count,
            mtu: row.mtu,
            flags,
            slot: inst.slot,
        };
        // A placeholder is no destination: nothing downstream finds it.
        if !is_placeholder(row.address) {
            self.subscribers
                .insert(row.address.octets(), sub, 0)
                .context("writing SUBSCRIBERS")?;
        }
        self.sub_by_slot
            .set(inst.slot, sub, 0)
            .context("writing SUB_BY_SLOT")?;
        self.sessions
            .insert(inst.key, val, 0)
            .context("writing SESSIONS")?;
        self.claim_id(row.address, inst.key, val)
    }

    /// Put the session into `SESSION_BY_ID[session id]` unless another
    /// session holds that id (then it stays in `SESSIONS` only, and waits).
    pub(super) fn claim_id(
        &mut self,
        addr: Ipv4Addr,
        key: SessionKey,
        val: SessionValue,
    ) -> anyhow::Result<()> {
        let sid = key.session_id;
        match self.ids.claim(sid, addr) {
            Claim::Wait { owner, queued } => {
                if queued {
                    log::debug!("session id {sid:#06x} of {addr} is taken by {owner}: hash lookup");
                }
                Ok(())
            }
            Claim::Write => {
                self.session_by_id
                    .set(u32::from(sid), SessionEntry { val, key }, 0)
                    .context("writing SESSION_BY_ID")?;
                self.ids.own(sid, addr);
                Ok(())
            }
        }
    }

    /// Take the session of `addr` out of `SESSION_BY_ID` (or out of the
    /// waiting list of its id); a waiting session with the same id takes
    /// the entry over.
    fn release_id(&mut self, addr: Ipv4Addr, key: &SessionKey) -> anyhow::Result<()> {
        let sid = key.session_id;
        if !self.ids.release(sid, addr) {
            return Ok(());
        }
        self.session_by_id
            .set(u32::from(sid), SessionEntry::default(), 0)
            .context("clearing SESSION_BY_ID")?;
        if let Some(next) = self.ids.next_waiting(sid) {
            if let Some(inst) = self.installed.get(&next).copied() {
                let val = self
                    .sessions
                    .get(&inst.key, 0)
                    .context("reading SESSIONS")?;
                self.claim_id(next, inst.key, val)?;
            }
        }
        Ok(())
    }

    /// Remove a session: `SESSION_BY_ID` and `SESSIONS` first (no new mappings), then
    /// `SUBSCRIBERS`, then every NAT mapping of its port block; frees the
    /// slot and block and returns the final counters.
    pub fn remove(&mut self, row: &SessionRow) -> anyhow::Result<SessionCounters> {
        let address = self
            .resolve(row)
            .ok_or_else(|| anyhow!("no session installed for {}", row.address))?;
        let row = &SessionRow { address, ..*row };
        let inst = self
            .installed
            .get(&row.address)
            .copied()
            .ok_or_else(|| anyhow!("no session installed for {}", row.address))?;
        self.remove6_slot(inst.slot);
        self.pending6.remove(&inst.key);
        self.by_key.remove(&inst.key);
        self.release_id(row.address, &inst.key)?;
        ignore_missing(self.sessions.remove(&inst.key)).context("deleting from SESSIONS")?;
        ignore_missing(self.subscribers.remove(&row.address.octets()))
            .context("deleting from SUBSCRIBERS")?;
        self.sub_by_slot
            .set(inst.slot, Subscriber::default(), 0)
            .context("clearing SUB_BY_SLOT")?;
        if let Some((public, start, count)) = inst.block.and_then(|b| self.blocks.get(b)) {
            self.remove_block_mappings(row.address, public, start, count);
        }
        let counters = self.slot_counters(inst.slot);
        // No new mappings since SESSIONS went (in-flight packets aside) and
        // the block's mappings are gone: the slot's counts start over.
        if let Err(e) = self.zero_nat_slot(inst.slot) {
            log::warn!(
                "session {}: zeroing NAT_SLOTS[{}]: {e:#}",
                row.address,
                inst.slot
            );
        }
        self.installed.remove(&row.address);
        self.slots.give_back(inst.slot);
        if let Some(b) = inst.block {
            self.blocks.give_back(b, Instant::now());
        }
        Ok(counters)
    }

    /// The session's IPv6 prefixes (the control plane's `InstallV6`): now
    /// when the session's rows are installed, else when they will be (an
    /// IPv6-only session's rows are installed under a placeholder address
    /// when IPv6CP opens; see [`Dataplane::install`]).
    pub fn set_v6(
        &mut self,
        row: &SessionRow,
        net64: Option<std::net::Ipv6Addr>,
        deleg: Option<(std::net::Ipv6Addr, u8)>,
    ) -> anyhow::Result<()> {
        let key = self.key(row);
        match self.by_key.get(&key).copied() {
            Some(address) => self.install6(address, net64, deleg),
            None => {
                self.pending6.insert(key, (net64, deleg));
                Ok(())
            }
        }
    }

    /// The session's delegated prefix went (released, or another one
    /// bound); its /64 stays.
    pub fn drop_delegated(&mut self, row: &SessionRow) -> anyhow::Result<()> {
        let key = self.key(row);
        if let Some((n, d)) = self.pending6.get_mut(&key) {
            let _ = n;
            *d = None;
            return Ok(());
        }
        let Some(address) = self.by_key.get(&key).copied() else {
            return Ok(());
        };
        let slot = self.installed.get(&address).map(|i| i.slot).unwrap_or(0);
        let Ok(v) = self.session6.get(&slot, 0) else {
            return Ok(());
        };
        let net64 = (v.net64 != [0; 8]).then(|| {
            let mut o = [0u8; 16];
            o[..8].copy_from_slice(&v.net64);
            std::net::Ipv6Addr::from(o)
        });
        self.install6(address, net64, None)
    }

    /// Take the session's IPv6 rows (or pending prefixes) away.
    pub fn clear_v6(&mut self, row: &SessionRow) {
        let key = self.key(row);
        self.pending6.remove(&key);
        if let Some(address) = self.by_key.get(&key).copied() {
            self.remove6(address);
        }
    }

    /// Give the IPv4 session at `address` its IPv6 prefixes (or change
    /// them): the /64 its RA announced and the prefix DHCPv6 delegated.
    /// Downstream they find its slot (`NET64`, `DELEG6`), upstream its
    /// sources are checked against them (`SESSION6`).
    pub fn install6(
        &mut self,
        address: Ipv4Addr,
        net64: Option<std::net::Ipv6Addr>,
        deleg: Option<(std::net::Ipv6Addr, u8)>,
    ) -> anyhow::Result<()> {
        let slot = self
            .installed
            .get(&address)
            .map(|i| i.slot)
            .ok_or_else(|| anyhow!("no IPv4 session at {address} to add IPv6 to"))?;
        let first8 = |a: std::net::Ipv6Addr| -> [u8; 8] {
            let o = a.octets();
            [o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]
        };
        if let Some((_, len)) = deleg {
            if len != self.v6_deleg_len {
                bail!(
                    "delegated prefix length /{len} differs from ipv6_delegated_length /{}",
                    self.v6_deleg_len
                );
            }
        }
        self.remove6_slot(slot);
        let mut v = Session6::default();
        if let Some(n) = net64 {
            v.net64 = first8(n);
            self.net64
                .insert(v.net64, slot, 0)
                .context("writing NET64")?;
        }
        if let Some((d, len)) = deleg {
            v.deleg = pppoe_bras_common::maps::mask64(first8(d), u16::from(len));
            v.deleg_len = len;
            self.deleg6
                .insert(v.deleg, slot, 0)
                .context("writing DELEG6")?;
        }
        self.session6.set(slot, v, 0).context("writing SESSION6")?;
        Ok(())
    }

    /// Take the IPv6 rows of the session at `address` away.
    pub fn remove6(&mut self, address: Ipv4Addr) {
        if let Some(slot) = self.installed.get(&address).map(|i| i.slot) {
            self.remove6_slot(slot);
        }
    }

    fn remove6_slot(&mut self, slot: u32) {
        let Ok(v) = self.session6.get(&slot, 0) else {
            return;
        };
        if v.net64 != [0; 8] && self.net64.get(&v.net64, 0).is_ok_and(|s| s == slot) {
            let _ = self.net64.remove(&v.net64);
        }
        if v.deleg_len != 0 && self.deleg6.get(&v.deleg, 0).is_ok_and(|s| s == slot) {
            let _ = self.deleg6.remove(&v.deleg);
        }
        let _ = self.session6.set(slot, Session6::default(), 0);
    }
}

/// Deleting a row that is already gone is fine.
fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}
