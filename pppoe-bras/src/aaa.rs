//! The AAA part of the daemon's shell: turns the data plane changes the
//! driver applies into accounting records ([`crate::accounting`]), writes
//! them to `accounting_log`, and (with RADIUS) hands them to the RADIUS
//! client. Called from `driver` only; protocol decisions live in the
//! sans-IO modules.

use std::{
    collections::HashMap,
    fs::File,
    io::Write as _,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;

use crate::{
    accounting::{Accounting, NatBlock, Record, SessionMeta, TerminateCause},
    config::Config,
    dataplane::{Dataplane, SessionCounters},
    discovery::SessionKey,
    query::Counters,
    session::{DataplaneOp, Manager},
};

/// What an Access-Accept said that accounting needs (kept from the
/// verdict until the data path is installed).
#[derive(Debug, Clone, Default)]
pub struct Authz {
    pub acct_session_id: String,
    pub class: Vec<Vec<u8>>,
    pub interim: Option<Duration>,
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
                let row = crate::driver::session_row(key, bras_mac, *address, 0);
                let nat = dataplane
                    .nat_block(&row)
                    .map(|(address, first, size)| NatBlock {
                        address,
                        first_port: first,
                        last_port: (u32::from(first) + u32::from(size) - 1) as u16,
                    });
                let authz = self
                    .authz
                    .get(key)
                    .filter(|a| a.acct_session_id == acct_id)
                    .cloned()
                    .unwrap_or_default();
                let meta = SessionMeta {
                    acct_session_id: acct_id.to_owned(),
                    user: user.unwrap_or("").to_owned(),
                    address: Some(*address),
                    nat,
                    class: authz.class,
                    interim: authz.interim,
                };
                if let Some(r) = self.accounting.start(now, SystemTime::now(), *key, meta) {
                    self.emit(r);
                }
            }
            DataplaneOp::Install { .. } => {}
            DataplaneOp::Remove { key, down, .. } => {
                let c = removed.map(counters).unwrap_or_default();
                match down {
                    None => self.accounting.carry(key, c),
                    Some(d) => {
                        self.authz.remove(key);
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

    /// Earliest interim deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.accounting.poll_timeout()
    }

    /// Interim records that are due, with the rows' current counters.
    pub fn handle_timeout(&mut self, dataplane: &Dataplane, bras_mac: [u8; 6]) {
        let now = Instant::now();
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
