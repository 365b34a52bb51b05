//! Dynamic authorization (RFC 5176) in the daemon: the DAE socket and
//! what a checked Disconnect- or CoA-Request does to the sessions.

use std::{
    net::SocketAddr,
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;

use super::{idle::Idle, Aaa};
use crate::{accounting::unix_now, config::Config, discovery::SessionKey, session::Manager};

/// The DAE socket and checker, when `dae_listen` is set.
pub(super) fn open(
    cfg: &Config,
) -> anyhow::Result<Option<(Arc<tokio::net::UdpSocket>, crate::dae::Dae)>> {
    Ok(match cfg.aaa.dae_listen {
        None => None,
        Some(addr) => {
            let s =
                std::net::UdpSocket::bind(addr).with_context(|| format!("dae_listen {addr}"))?;
            s.set_nonblocking(true)?;
            log::info!("dynamic authorization (RFC 5176) on {addr}");
            let window = cfg.aaa.dae_replay_window;
            Some((
                Arc::new(tokio::net::UdpSocket::from_std(s)?),
                crate::dae::Dae::new(
                    cfg.aaa
                        .dae_clients
                        .iter()
                        .map(|c| (c.address, c.secret.expose().to_vec()))
                        .collect(),
                    (window > 0).then(|| Duration::from_secs(u64::from(window))),
                    cfg.aaa
                        .nas_identifier
                        .clone()
                        .unwrap_or_else(|| cfg.discovery.ac_name.clone()),
                ),
            ))
        }
    })
}

impl Aaa {
    /// The DAE socket, to wait on.
    pub fn dae_socket(&self) -> Option<Arc<tokio::net::UdpSocket>> {
        self.dae.as_ref().map(|d| d.0.clone())
    }

    /// A Disconnect- or CoA-Request (RFC 5176), checked by
    /// [`crate::dae::Dae`]: the sessions matching every identifying
    /// attribute given are terminated (admin-reset) or get the CoA's
    /// Session-Timeout (from now) and Idle-Timeout, and the request is
    /// ACKed; none → NAK with Error-Cause 503 (Session-Context-Not-Found).
    pub fn handle_dae(&mut self, from: SocketAddr, b: &[u8], manager: &mut Manager) {
        let now = Instant::now();
        let Some((sock, dae)) = &mut self.dae else {
            return;
        };
        let out = match dae.handle(now, unix_now(SystemTime::now()), from, b) {
            crate::dae::Decision::Drop(_) => return,
            crate::dae::Decision::Answer(out) => out,
            crate::dae::Decision::Request(req) => {
                let sel = &req.selector;
                let keys: Vec<SessionKey> = manager
                    .sessions()
                    .filter(|(k, i)| {
                        sel.acct_session_id
                            .as_deref()
                            .is_none_or(|id| manager.accounting_of(k).is_some_and(|(_, a)| a == id))
                            && sel.user.as_deref().is_none_or(|u| i.user == Some(u))
                            && sel.address.is_none_or(|a| i.address == Some(a))
                            && sel
                                .mac
                                .as_deref()
                                .is_none_or(|m| crate::wire::eth::fmt_mac(&k.peer_mac) == m)
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for k in &keys {
                    match req.kind {
                        crate::dae::Kind::Disconnect => {
                            log::info!(
                                "session {:#06x}: Disconnect-Request from {from}",
                                k.session_id
                            );
                            manager.kill(now, k);
                        }
                        crate::dae::Kind::Coa => {
                            log::info!(
                                "session {:#06x}: CoA-Request from {from}: session-timeout={} idle-timeout={}",
                                k.session_id,
                                req.session_timeout.map_or("-".to_owned(), |v| v.to_string()),
                                req.idle_timeout.map_or("-".to_owned(), |v| v.to_string()),
                            );
                            if let Some(t) = req.session_timeout {
                                let t = (t > 0).then(|| Duration::from_secs(u64::from(t)));
                                manager.set_session_timeout(now, k, t);
                            }
                            if let Some(t) = req.idle_timeout {
                                let t = (t > 0).then(|| Duration::from_secs(u64::from(t)));
                                if let Some(a) = self.authz.get_mut(k) {
                                    a.idle = t;
                                }
                                match (self.idle.get_mut(k), t) {
                                    (Some(_), None) => {
                                        self.idle.remove(k);
                                    }
                                    (Some(i), Some(t)) => {
                                        i.timeout = t;
                                        i.active = now;
                                        i.next_check = now + i.step();
                                    }
                                    (None, Some(t)) => {
                                        // Installed already: watch it from now.
                                        if let Some(address) =
                                            self.accounting.meta(k).and_then(|m| m.address)
                                        {
                                            self.idle
                                                .insert(*k, Idle::new(t, address, u64::MAX, now));
                                        }
                                    }
                                    (None, None) => {}
                                }
                            }
                        }
                    }
                }
                let result = if keys.is_empty() {
                    Err(crate::dae::cause::SESSION_CONTEXT_NOT_FOUND)
                } else {
                    Ok(())
                };
                dae.respond(&req, result)
            }
        };
        if let Err(e) = sock.try_send_to(&out, from) {
            log::warn!("DAE: answer to {from}: {e}");
        }
    }
}
