//! Authentication of a session: the local secrets, or an external verdict
//! (RADIUS) the shell hands back, and what a refusal or a failed data path
//! does to the session.

use super::*;

impl Manager {
    /// Send every credential out ([`Manager::poll_auth_request`]) instead
    /// of checking the local secrets.
    pub fn set_external_auth(&mut self, on: bool) {
        self.external_auth = on;
    }

    /// Next credential to verify externally.
    pub fn poll_auth_request(&mut self) -> Option<AuthRequest> {
        self.auth_requests.pop_front()
    }

    /// The verdict on an [`AuthRequest`]. A late answer (the session ended,
    /// or the key belongs to a newer session) is dropped: returns false.
    pub fn handle_auth_verdict(
        &mut self,
        now: Instant,
        req: &AuthRequest,
        verdict: ExternalVerdict,
    ) -> bool {
        let key = req.key;
        let Some(s) = self.sessions.get(&key) else {
            return false;
        };
        if s.acct_id != req.acct_session_id {
            return false;
        }
        let sid = key.session_id;
        let mac = fmt_mac(&key.peer_mac);
        let user = req.user.as_str();
        let held = s.address;
        let result = match verdict {
            ExternalVerdict::Local(credential) => {
                if req.reauth {
                    match self
                        .secrets
                        .verify(user, &self.cfg.discovery.ac_name, &credential)
                    {
                        Verdict::Accept { .. } => AuthResult::Accept {
                            address: held.unwrap_or(Ipv4Addr::UNSPECIFIED),
                        },
                        _ => AuthResult::Reject {
                            message: "authentication failed".to_owned(),
                        },
                    }
                } else {
                    self.authenticate(&key, user, &credential, held)
                }
            }
            ExternalVerdict::Reject { message } => {
                log::warn!(
                    "session {sid:#06x} {mac} auth failed user={} reason=rejected",
                    escape(user)
                );
                if req.reauth {
                    self.stats[ManagerStat::ReauthFailed] += 1;
                }
                AuthResult::Reject { message }
            }
            ExternalVerdict::Accept { .. } if req.reauth => AuthResult::Accept {
                address: held.unwrap_or(Ipv4Addr::UNSPECIFIED),
            },
            ExternalVerdict::Accept {
                address,
                pool,
                session_timeout,
                dns,
                message,
                ipv6_prefix,
                delegated,
                framed_mtu,
            } => {
                let leased = match (held, address) {
                    _ if !self.cfg.link.ipv4 => Ok(Ipv4Addr::UNSPECIFIED),
                    (Some(h), None) => Ok(h),
                    (Some(h), Some(a)) if h == a => Ok(h),
                    (h, wanted) => {
                        if let Some(h) = h {
                            self.pool.release(h);
                        }
                        match self.pool.allocate_in(pool.as_deref(), user, wanted) {
                            Ok(a) if wanted.is_none_or(|w| w == a) => Ok(a),
                            Ok(a) => {
                                self.pool.release(a);
                                Err(format!("address {} in use", wanted.unwrap_or(a)))
                            }
                            Err(e) => Err(e.to_string()),
                        }
                    }
                };
                let Some(s) = self.sessions.get_mut(&key) else {
                    return false;
                };
                match leased {
                    Ok(address) => {
                        s.given_v6 = (ipv6_prefix, delegated);
                        s.framed_mtu = framed_mtu;
                        s.expires = session_timeout.map(|t| now + t);
                        if let Some(dns) = dns {
                            s.link.set_dns(dns);
                        }
                        if let Some(m) = message {
                            s.link.set_success_message(m);
                        }
                        AuthResult::Accept { address }
                    }
                    Err(e) => {
                        s.address = None;
                        log::warn!(
                            "session {sid:#06x} {mac} user={}: no address: {e}",
                            escape(user)
                        );
                        AuthResult::Reject {
                            message: "no address available".to_owned(),
                        }
                    }
                }
            }
        };
        let Some(s) = self.sessions.get_mut(&key) else {
            return false;
        };
        if let AuthResult::Accept { address } = result {
            if !req.reauth && !address.is_unspecified() {
                s.address = Some(address);
            }
        }
        s.link.handle_auth_result(now, result);
        self.drive(now, key);
        true
    }

    /// The data plane could not install a session's rows (e.g. no free NAT
    /// port block): the subscriber would be up without a data path, so end
    /// the session cleanly instead, LCP Terminate-Request then PADT, with a
    /// log line saying why. The shell calls this when applying
    /// [`DataplaneOp::Install`] fails. Returns false for an unknown session.
    pub fn install_failed(&mut self, now: Instant, key: &SessionKey, error: &str) -> bool {
        let Some(s) = self.sessions.get_mut(key) else {
            return false;
        };
        log::warn!(
            "session {:#06x} {} user={} no data path ({error}): terminating",
            key.session_id,
            fmt_mac(&key.peer_mac),
            escape(s.user.as_deref().unwrap_or("-")),
        );
        // Nothing was installed, so the end of the session removes nothing.
        s.installed = None;
        s.link.close(now, DownReason::NasError);
        self.drive(now, *key);
        true
    }

    /// Verify a credential and lease an address (`keep`: the address this
    /// session already holds for this user, kept). Never logs secrets.
    pub(super) fn authenticate(
        &mut self,
        key: &SessionKey,
        user: &str,
        credential: &crate::ppp::Credential,
        keep: Option<Ipv4Addr>,
    ) -> AuthResult {
        let sid = key.session_id;
        let mac = fmt_mac(&key.peer_mac);
        let reject = |why: &str| {
            log::warn!(
                "session {sid:#06x} {mac} auth failed user={} reason={why}",
                escape(user)
            );
            AuthResult::Reject {
                message: "authentication failed".to_owned(),
            }
        };
        let verdict = self
            .secrets
            .verify(user, &self.cfg.discovery.ac_name, credential);
        if matches!(verdict, Verdict::Accept { .. }) && keep.is_none() {
            let given = self
                .secrets
                .lookup(user, &self.cfg.discovery.ac_name)
                .map(crate::auth::Entry::ipv6)
                .unwrap_or_default();
            if let Some(s) = self.sessions.get_mut(key) {
                s.given_v6 = given;
            }
        }
        match verdict {
            // IPv6 only: no IPv4 address is leased.
            Verdict::Accept { .. } if !self.cfg.link.ipv4 => AuthResult::Accept {
                address: Ipv4Addr::UNSPECIFIED,
            },
            Verdict::Accept { .. } if keep.is_some() => AuthResult::Accept {
                address: keep.unwrap_or(Ipv4Addr::UNSPECIFIED),
            },
            Verdict::Accept { static_address } => match self.pool.allocate(user, static_address) {
                Ok(address) => AuthResult::Accept { address },
                Err(e) => {
                    log::warn!(
                        "session {sid:#06x} {mac} user={}: no address: {e}",
                        escape(user)
                    );
                    AuthResult::Reject {
                        message: "no address available".to_owned(),
                    }
                }
            },
            Verdict::UnknownUser => reject("unknown-user"),
            Verdict::BadSecret => reject("bad-secret"),
            // `-` in the secrets line's address column.
            Verdict::NoAddressAllowed => reject("no-address-allowed"),
        }
    }
}
