//! A session's link events (auth, NCPs up and down, the end) turned into
//! data-plane ops, leases, log lines and its event history.

use super::*;

impl Manager {
    pub(super) fn handle_link_event(&mut self, now: Instant, key: SessionKey, ev: LinkEvent) {
        let sid = key.session_id;
        let mac = fmt_mac(&key.peer_mac);
        if let Some(s) = self.sessions.get_mut(&key) {
            s.note(now, describe(&ev));
        }
        match ev {
            LinkEvent::Authenticate { user, credential } => {
                // A renegotiated link (LCP restarted in Opened) authenticates
                // again: the same user keeps its lease; another user gives
                // it back first.
                let held = self.sessions.get(&key).and_then(|s| {
                    let same = s.user.as_deref() == Some(user.as_str());
                    s.address.map(|a| (a, same))
                });
                if let Some((old, false)) = held {
                    self.pool.release(old);
                    if let Some(s) = self.sessions.get_mut(&key) {
                        s.address = None;
                    }
                }
                if self.external_auth {
                    if let Some(s) = self.sessions.get_mut(&key) {
                        s.user = Some(user.clone());
                        self.auth_requests.push_back(AuthRequest {
                            key,
                            acct_session_id: s.acct_id.clone(),
                            user,
                            credential,
                            reauth: false,
                        });
                    }
                    return;
                }
                let keep = held.and_then(|(a, same)| same.then_some(a));
                let result = self.authenticate(&key, &user, &credential, keep);
                if let Some(s) = self.sessions.get_mut(&key) {
                    s.user = Some(user);
                    if let AuthResult::Accept { address } = result {
                        s.address = Some(address).filter(|a| !a.is_unspecified());
                    }
                    s.link.handle_auth_result(now, result);
                }
            }
            LinkEvent::Reauthenticate { user, credential } => {
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                let same_user = s.user.as_deref() == Some(user.as_str());
                if self.external_auth && same_user {
                    self.auth_requests.push_back(AuthRequest {
                        key,
                        acct_session_id: s.acct_id.clone(),
                        user,
                        credential,
                        reauth: true,
                    });
                    return;
                }
                let ok = same_user
                    && matches!(
                        self.secrets
                            .verify(&user, &self.cfg.discovery.ac_name, &credential),
                        Verdict::Accept { .. }
                    );
                let result = if ok {
                    log::debug!(
                        "session {sid:#06x} {mac} re-challenge ok user={}",
                        escape(&user)
                    );
                    AuthResult::Accept {
                        address: s.address.unwrap_or(std::net::Ipv4Addr::UNSPECIFIED),
                    }
                } else {
                    self.stats[ManagerStat::ReauthFailed] += 1;
                    log::warn!(
                        "session {sid:#06x} {mac} re-challenge failed user={} same_user={same_user}",
                        escape(&user)
                    );
                    AuthResult::Reject {
                        message: "authentication failed".to_owned(),
                    }
                };
                s.link.handle_auth_result(now, result);
            }
            LinkEvent::AuthSucceeded { user, proto } => {
                log::info!(
                    "session {sid:#06x} {mac} auth ok user={} proto={proto:?}",
                    escape(&user)
                );
            }
            LinkEvent::AuthFailed { user, message } => {
                self.stats[ManagerStat::AuthFailed] += 1;
                log::info!(
                    "session {sid:#06x} {mac} auth failed user={} message={:?}",
                    escape(&user),
                    escape(&message)
                );
            }
            LinkEvent::NetworkUp { peer_address } => {
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                let mtu = s.mtu();
                // Rows under no address: IPv6 came first (see ipv6_up).
                let again = s.installed.is_some_and(|a| !a.is_unspecified());
                if s.installed.is_none() {
                    self.stats[ManagerStat::Setups] += 1;
                }
                if let Some(old) = s
                    .installed
                    .filter(|a| *a != peer_address && !a.is_unspecified())
                {
                    // Another address after renegotiation (another user):
                    // the old rows and NAT block go first.
                    self.dataplane.push_back(DataplaneOp::Remove {
                        key,
                        address: old,
                        down: None,
                    });
                }
                s.installed = Some(peer_address);
                log::info!(
                    "session {sid:#06x} {mac} {} user={} address={peer_address} mtu={mtu}",
                    if again { "up again" } else { "up" },
                    escape(s.user.as_deref().unwrap_or("-"))
                );
                // Same address: the data plane updates the rows in place
                // (MTU) and keeps the NAT block and its mappings.
                self.dataplane.push_back(DataplaneOp::Install {
                    key,
                    address: peer_address,
                    mtu,
                });
            }
            LinkEvent::NetworkDown => {
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                if s.link.phase() == crate::ppp::Phase::Terminate {
                    // The whole session is ending (Terminate-Request out):
                    // the rows go with the final Remove, whose end-of-session
                    // line then carries the byte counts.
                    return;
                }
                // Renegotiation (IPCP, or LCP and a new authentication): the
                // rows stay until NetworkUp says which address comes back;
                // if IPCP never does, the link ends (ncp_finished) and the
                // final Remove takes them.
                log::info!("session {sid:#06x} {mac} ipcp down (renegotiating)");
            }
            LinkEvent::NcpFinished { protocol } if protocol == crate::ppp::proto::IPCP => {
                // IPv6 keeps the link: the IPv4 rows go now; the lease
                // stays with the session should the peer reopen IPCP.
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                log::info!("session {sid:#06x} {mac} ipcp finished (ipv6 keeps the link)");
                match s.installed {
                    // IPv6 rows hang on the session's slot: keep it, under
                    // no address (the NAT block goes back).
                    Some(a) if s.installed_v6.is_some() && !a.is_unspecified() => {
                        s.installed = Some(Ipv4Addr::UNSPECIFIED);
                        self.dataplane.push_back(DataplaneOp::Install {
                            key,
                            address: Ipv4Addr::UNSPECIFIED,
                            mtu: s.mtu(),
                        });
                    }
                    Some(address) if !address.is_unspecified() => {
                        s.installed = None;
                        self.dataplane.push_back(DataplaneOp::Remove {
                            key,
                            address,
                            down: None,
                        });
                    }
                    // IPv6 opened while IPCP still tried, and IPv4 is not
                    // coming: the same rows again, so accounting (which
                    // waited for an address) starts now.
                    Some(a) if a.is_unspecified() => {
                        self.dataplane.push_back(DataplaneOp::Install {
                            key,
                            address: Ipv4Addr::UNSPECIFIED,
                            mtu: s.mtu(),
                        });
                    }
                    _ => {}
                }
            }
            LinkEvent::NcpFinished { .. } => {
                log::info!("session {sid:#06x} {mac} ipv6cp finished (ipv4 keeps the link)");
                let Some(s) = self.sessions.get_mut(&key) else {
                    return;
                };
                if let Some(v6) = s.v6.as_mut() {
                    v6.down();
                }
                if let Some((prefix64, delegated)) = s.installed_v6.take() {
                    self.dataplane.push_back(DataplaneOp::RemoveV6 {
                        key,
                        prefix64: Some(prefix64),
                        delegated,
                    });
                }
            }
            LinkEvent::Ipv6Up { our_iid, peer_iid } => self.ipv6_up(now, key, our_iid, peer_iid),
            LinkEvent::Ipv6Down => {
                if let Some(v6) = self.sessions.get_mut(&key).and_then(|s| s.v6.as_mut()) {
                    // Rows stay until IPv6CP opens again or finishes.
                    v6.down();
                }
            }
            LinkEvent::Down { reason } => {
                if let DownReason::PeerInsists { asked, assigned } = &reason {
                    log::warn!(
                        "session {sid:#06x} {mac} peer insists on {asked}, assigned {assigned}: \
                         terminating"
                    );
                }
                let send_padt = reason != DownReason::Padt;
                self.end_session(now, key, reason, send_padt);
            }
        }
    }

    /// Remove a session from every table; PADT unless the peer sent one.
    pub(super) fn end_session(
        &mut self,
        now: Instant,
        key: SessionKey,
        reason: DownReason,
        send_padt: bool,
    ) {
        if self.sessions.contains_key(&key) {
            *self.stats.teardowns.entry(reason.kind()).or_default() += 1;
        }
        let Some(s) = self.sessions.remove(&key) else {
            return;
        };
        if self.by_id.get(&key.session_id) == Some(&key) {
            self.by_id.remove(&key.session_id);
        }
        if send_padt {
            self.transmit.push_back(self.discovery.padt(&key));
        }
        self.discovery.release(&key);
        if let Some(address) = s.address {
            self.pool.release(address);
        }
        let mut s = s;
        let (ipv6, delegated) = match s.v6.as_mut() {
            Some(v6) => {
                let pd = v6.release(&mut self.pd_pool);
                self.prefix_pool.release(v6.prefix64());
                (Some(v6.prefix64()), pd)
            }
            None => (None, None),
        };
        if let Some((prefix64, delegated)) = s.installed_v6 {
            self.dataplane.push_back(DataplaneOp::RemoveV6 {
                key,
                prefix64: Some(prefix64),
                delegated,
            });
        }
        let down = DownInfo {
            user: s.user,
            reason,
            duration: now.saturating_duration_since(s.started),
            ipv6,
            delegated,
        };
        match s.installed {
            Some(address) => self.dataplane.push_back(DataplaneOp::Remove {
                key,
                address,
                down: Some(down),
            }),
            None => log::info!("{}", down.log_line(&key, s.address, "bytes=0/0")),
        }
    }
}

/// One line of a session's event history (peer strings escaped).
fn describe(ev: &LinkEvent) -> String {
    match ev {
        LinkEvent::Authenticate { user, .. } => format!("authenticate user={}", escape(user)),
        LinkEvent::Reauthenticate { user, .. } => {
            format!("re-challenge answered user={}", escape(user))
        }
        LinkEvent::AuthSucceeded { user, proto } => {
            format!("auth ok user={} proto={proto:?}", escape(user))
        }
        LinkEvent::AuthFailed { user, message } => format!(
            "auth failed user={} message={}",
            escape(user),
            escape(message)
        ),
        LinkEvent::NetworkUp { peer_address } => format!("ipcp up address={peer_address}"),
        LinkEvent::NetworkDown => "ipcp down".to_owned(),
        LinkEvent::Ipv6Up { our_iid, peer_iid } => format!(
            "ipv6cp up local=fe80::{} peer={}",
            crate::v6::fmt_iid(*our_iid),
            peer_iid.map_or_else(
                || "-".to_owned(),
                |i| format!("fe80::{}", crate::v6::fmt_iid(i))
            )
        ),
        LinkEvent::Ipv6Down => "ipv6cp down".to_owned(),
        LinkEvent::NcpFinished { protocol } => format!(
            "{} finished, link kept by the other NCP",
            if *protocol == crate::ppp::proto::IPCP {
                "ipcp"
            } else {
                "ipv6cp"
            }
        ),
        LinkEvent::Down { reason } => format!("down reason={reason}"),
    }
}
