//! The AAA part of the daemon's shell: turns the data plane changes the
//! driver applies into accounting records ([`crate::accounting`]), writes
//! them to `accounting_log`, and (with RADIUS) hands them to the RADIUS
//! client. Called from `driver` only; protocol decisions live in the
//! sans-IO modules.
//!
//! `mod.rs` keeps the accounting records (start, interim, stop, the log,
//! the state file); `radius.rs` the RADIUS client shell (requests built
//! from sessions and records, verdicts from answers); `idle.rs` the
//! Idle-Timeout watch; `dae.rs` Disconnect/CoA (RFC 5176); `stats.rs` the
//! `stats` lines and `/metrics` series.

mod dae;
mod idle;
mod radius;
mod stats;
#[cfg(test)]
mod tests;

use std::{
    collections::HashMap,
    fs::File,
    io::Write as _,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;

use crate::{
    accounting::{Accounting, NatBlock, Record, SessionMeta, TerminateCause},
    config::Config,
    dataplane::{Dataplane, SessionCounters, SessionRow},
    discovery::SessionKey,
    query::Counters,
    radius_client::Client,
    session::{DataplaneOp, Manager},
};

use idle::Idle;
use radius::Radius;

/// What an Access-Accept said that accounting needs (kept from the
/// verdict until the data path is installed).
#[derive(Debug, Clone, Default)]
pub struct Authz {
    pub acct_session_id: String,
    pub class: Vec<Vec<u8>>,
    pub interim: Option<Duration>,
    /// RADIUS Idle-Timeout.
    pub idle: Option<Duration>,
}

/// Accounting records and where they go.
pub struct Aaa {
    pub accounting: Accounting,
    log: Option<(std::path::PathBuf, File)>,
    /// Per session: the authorisation attributes for its records.
    pub authz: HashMap<SessionKey, Authz>,
    /// The daemon is stopping: stop records say Admin-Reboot.
    pub stopping: bool,
    /// Records produced and not yet taken by the RADIUS side.
    pub outbox: Vec<Record>,
    radius: Option<Radius>,
    dae: Option<(Arc<tokio::net::UdpSocket>, crate::dae::Dae)>,
    /// Sessions with an Idle-Timeout (installed ones only).
    idle: HashMap<SessionKey, Idle>,
}

/// The data plane's counters in the listing's shape.
pub fn counters(c: SessionCounters) -> Counters {
    Counters {
        up_packets: c.up_packets,
        up_bytes: c.up_bytes,
        down_packets: c.down_packets,
        down_bytes: c.down_bytes,
    }
}

/// The NAT port block a session's row holds, as its records give it.
fn nat_block(dataplane: &Dataplane, row: &SessionRow) -> Option<NatBlock> {
    dataplane
        .nat_block(row)
        .map(|(address, first, size)| NatBlock {
            address,
            first_port: first,
            last_port: (u32::from(first) + u32::from(size) - 1) as u16,
        })
}

impl Aaa {
    pub fn new(cfg: &Config) -> anyhow::Result<Aaa> {
        let log = match &cfg.aaa.accounting_log {
            None => None,
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("accounting_log {}", p.display()))?;
                Some((p.clone(), f))
            }
        };
        Ok(Aaa {
            accounting: Accounting::new(Duration::from_secs(u64::from(
                cfg.aaa.acct_interim_interval,
            ))),
            log,
            authz: HashMap::new(),
            stopping: false,
            outbox: Vec::new(),
            radius: Radius::new(cfg)?,
            dae: dae::open(cfg)?,
            idle: HashMap::new(),
        })
    }

    /// Accounting requests still waiting (for the stop sequence).
    pub fn acct_outstanding(&self) -> usize {
        self.radius.as_ref().map_or(0, |r| {
            r.acct.as_ref().map_or(0, Client::outstanding) + r.stops.len()
        })
    }

    fn emit(&mut self, r: Record) {
        if let Some((path, f)) = &mut self.log {
            let mut line = r.json();
            line.push('\n');
            if let Err(e) = f.write_all(line.as_bytes()) {
                log::warn!("accounting_log {}: {e}", path.display());
            }
        }
        self.outbox.push(r);
    }

    /// What AAA knows of a session, into its state-file entry: Class,
    /// Acct-Interim-Interval and Idle-Timeout from the Access-Accept.
    pub fn save(&self, key: &SessionKey, s: &mut crate::state::SavedSession) {
        if let Some(meta) = self.accounting.meta(key) {
            s.class = meta
                .class
                .iter()
                .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            s.interim_secs = meta.interim.map(|d| d.as_secs());
        }
        s.idle_secs = self.idle.get(key).map(|i| i.timeout.as_secs());
    }

    /// A session re-adopted after a restart: its accounting goes on under
    /// its Acct-Session-Id (no second Start; Interim and Stop count from its
    /// start, the data-plane slot kept its counters), with its Class,
    /// interim interval and Idle-Timeout as the state file has them.
    pub fn resume(
        &mut self,
        now: Instant,
        key: SessionKey,
        saved: &crate::state::SavedSession,
        dataplane: &Dataplane,
        bras_mac: [u8; 6],
    ) {
        let row = crate::driver::session_row(&key, bras_mac, saved.address, 0);
        let nat = nat_block(dataplane, &row);
        let unhex = |h: &String| -> Option<Vec<u8>> {
            h.len()
                .is_multiple_of(2)
                .then(|| {
                    (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                        .collect()
                })
                .flatten()
        };
        let class: Vec<Vec<u8>> = saved.class.iter().filter_map(unhex).collect();
        let interim = saved.interim_secs.map(Duration::from_secs);
        if let Some(t) = saved.idle_secs.filter(|t| *t > 0) {
            let c = dataplane.counters(&row);
            let packets = c.up_packets + c.down_packets;
            let i = Idle::new(Duration::from_secs(t), saved.address, packets, now);
            self.idle.insert(key, i);
        }
        self.authz.insert(
            key,
            Authz {
                acct_session_id: saved.acct_id.clone(),
                class: class.clone(),
                interim,
                idle: saved.idle_secs.map(Duration::from_secs),
            },
        );
        let started = now
            .checked_sub(Duration::from_secs(saved.age_secs))
            .unwrap_or(now);
        let meta = SessionMeta {
            acct_session_id: saved.acct_id.clone(),
            user: saved.user.clone(),
            address: Some(saved.address),
            nat,
            class,
            interim,
            ipv6: None,
            delegated: None,
        };
        self.accounting.resume(now, started, key, meta);
    }

    /// A map change was applied (`ok`: installed; `removed`: the counters
    /// the removed rows had).
    pub fn applied(
        &mut self,
        manager: &Manager,
        dataplane: &Dataplane,
        bras_mac: [u8; 6],
        op: &DataplaneOp,
        ok: bool,
        removed: Option<SessionCounters>,
    ) {
        let now = Instant::now();
        match op {
            DataplaneOp::Install { key, address, .. } if ok => {
                let Some((user, acct_id)) = manager.accounting_of(key) else {
                    return;
                };
                // Rows under no address while IPCP still negotiates: the
                // start record waits for the address (or for IPCP to give
                // up, which installs the rows again).
                if address.is_unspecified()
                    && manager.ipv4_pending(key)
                    && self.accounting.acct_session_id(key) != Some(acct_id)
                {
                    return;
                }
                let row = crate::driver::session_row(key, bras_mac, *address, 0);
                let nat = nat_block(dataplane, &row);
                let authz = self
                    .authz
                    .get(key)
                    .filter(|a| a.acct_session_id == acct_id)
                    .cloned()
                    .unwrap_or_default();
                match authz.idle {
                    Some(timeout) => {
                        let c = dataplane.counters(&row);
                        let packets = c.up_packets + c.down_packets;
                        self.idle
                            .insert(*key, Idle::new(timeout, *address, packets, now));
                    }
                    None => {
                        self.idle.remove(key);
                    }
                }
                let meta = SessionMeta {
                    acct_session_id: acct_id.to_owned(),
                    user: user.unwrap_or("").to_owned(),
                    // None: IPv6 only (no Framed-IP-Address in accounting).
                    address: (!address.is_unspecified()).then_some(*address),
                    nat,
                    class: authz.class,
                    interim: authz.interim,
                    ipv6: None,
                    delegated: None,
                };
                if let Some(r) = self.accounting.start(now, SystemTime::now(), *key, meta) {
                    self.emit(r);
                }
            }
            DataplaneOp::Install { .. } => {}
            // The records carry the prefixes (RFC 6911); the counters
            // count both families on the session's slot.
            DataplaneOp::InstallV6 {
                key,
                prefix64,
                delegated,
                ..
            } => self.accounting.set_ipv6(*key, Some(*prefix64), *delegated),
            // The last prefixes stay in the records (like the address);
            // only prefixes still waiting for a start record go.
            DataplaneOp::RemoveV6 {
                key,
                prefix64: Some(_),
                ..
            } => self.accounting.forget_pending_ipv6(key),
            DataplaneOp::RemoveV6 { .. } => {}
            DataplaneOp::Remove { key, down, .. } => {
                let c = removed.map(counters).unwrap_or_default();
                match down {
                    None => self.accounting.carry(key, c),
                    Some(d) => {
                        self.authz.remove(key);
                        self.idle.remove(key);
                        let cause = if self.stopping {
                            TerminateCause::AdminReboot
                        } else {
                            TerminateCause::from_down(&d.reason)
                        };
                        if let Some(r) = self.accounting.stop(now, SystemTime::now(), key, c, cause)
                        {
                            self.emit(r);
                        }
                    }
                }
            }
        }
    }

    /// Forget the authorisation of sessions that ended without a data path.
    pub fn prune(&mut self, manager: &Manager) {
        self.authz.retain(|k, a| {
            manager
                .accounting_of(k)
                .is_some_and(|(_, id)| id == a.acct_session_id)
        });
    }

    /// Earliest interim, retransmission or retry deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at = self.accounting.poll_timeout();
        if let Some(r) = &self.radius {
            for t in [
                r.auth.as_ref().and_then(Client::poll_timeout),
                r.acct.as_ref().and_then(Client::poll_timeout),
                r.stop_retry,
            ]
            .into_iter()
            .flatten()
            {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
    }

    /// Interim records that are due, with the rows' current counters.
    pub fn handle_timeout(&mut self, dataplane: &Dataplane, bras_mac: [u8; 6]) {
        let now = Instant::now();
        if let Some(r) = &mut self.radius {
            if let Some(c) = &mut r.auth {
                c.handle_timeout(now);
            }
            if let Some(c) = &mut r.acct {
                c.handle_timeout(now);
            }
            if r.stop_retry.is_some_and(|t| t <= now) {
                r.stop_retry = None;
                let queued: Vec<_> = r.stops.drain(..).collect();
                for (rec, created) in queued {
                    r.submit_acct(now, rec, created);
                }
                r.send();
            }
        }
        for key in self.accounting.due(now) {
            let Some(address) = self.accounting.meta(&key).and_then(|m| m.address) else {
                continue;
            };
            let row = crate::driver::session_row(&key, bras_mac, address, 0);
            let c = counters(dataplane.counters(&row));
            if let Some(r) = self.accounting.interim(now, SystemTime::now(), &key, c) {
                self.emit(r);
            }
        }
    }
}
