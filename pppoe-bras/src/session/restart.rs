//! Sessions across a daemon restart (the state file's rows, re-adoption)
//! and a reload's new settings.

use super::*;

impl Manager {
    /// Re-adopt a session a previous daemon left running (its data-plane
    /// rows are in the pinned maps): discovery takes its id, the pool its
    /// address, and its link is restored Opened with the saved options;
    /// keepalive resumes from `now`. False (nothing changed) when its id or
    /// address is taken or the address is unusable.
    pub fn adopt(
        &mut self,
        now: Instant,
        key: SessionKey,
        saved: &crate::state::SavedSession,
    ) -> bool {
        if self.sessions.contains_key(&key) || self.pool.holder(saved.address).is_some() {
            return false;
        }
        if !self.pool.lease_exact(saved.address, &saved.user) {
            return false;
        }
        if !self.discovery.adopt(now, key) {
            self.pool.release(saved.address);
            return false;
        }
        let auth = match saved.auth.as_str() {
            "chap" => Some(crate::ppp::AuthProto::Chap),
            "pap" => Some(crate::ppp::AuthProto::Pap),
            _ => None,
        };
        let restored = crate::ppp::link::Restored {
            user: saved.user.clone(),
            address: saved.address,
            auth,
            our_magic: saved.our_magic,
            peer_magic: saved.peer_magic,
            our_mru: saved.our_mru,
            peer_mru: saved.peer_mru,
        };
        let link = Link::restore(self.cfg.link.clone(), now, self.rng.fork(), &restored);
        let started = now
            .checked_sub(Duration::from_secs(saved.age_secs))
            .unwrap_or(now);
        self.by_id.insert(key.session_id, key);
        self.sessions.insert(
            key,
            Session {
                link,
                last_now: now,
                started,
                user: Some(saved.user.clone()),
                address: Some(saved.address),
                installed: Some(saved.address),
                peer_spoke: true,
                scheduled: None,
                events: VecDeque::from([(
                    now.saturating_duration_since(started),
                    "re-adopted after a daemon restart".to_owned(),
                )]),
                acct_id: if saved.acct_id.is_empty() {
                    self.acct_ids.next()
                } else {
                    saved.acct_id.clone()
                },
                expires: saved.expires_in_secs.map(|s| now + Duration::from_secs(s)),
                v6: None,
                // IPv6CP opens again; the same prefixes come back.
                given_v6: (saved.ipv6, saved.delegated),
                framed_mtu: saved.framed_mtu,
                installed_v6: None,
            },
        );
        self.drive(now, key);
        true
    }

    /// Every up session as the state file saves it (without the data-plane
    /// allocation, which the caller adds).
    pub fn saved_sessions(&self) -> Vec<(SessionKey, crate::state::SavedSession)> {
        self.sessions
            .iter()
            .filter_map(|(k, s)| {
                // IPv6-only sessions are not carried over (the state file
                // and the pool know sessions by their IPv4 address): they
                // reconnect after a restart.
                let address = s.installed.filter(|a| !a.is_unspecified())?;
                if s.link.phase() != crate::ppp::Phase::Network {
                    return None;
                }
                let tag = |t: Option<crate::wire::eth::VlanTag>| t.map(|t| (t.tpid, t.vid));
                let auth = match s.link.auth_proto() {
                    Some(crate::ppp::AuthProto::Chap) => "chap",
                    Some(crate::ppp::AuthProto::Pap) => "pap",
                    None => "none",
                };
                Some((
                    *k,
                    crate::state::SavedSession {
                        session_id: k.session_id,
                        client_mac: k.peer_mac,
                        outer_tag: tag(k.vlans.outer),
                        inner_tag: tag(k.vlans.inner),
                        user: s.user.clone().unwrap_or_default(),
                        address,
                        auth: auth.to_owned(),
                        our_magic: s.link.our_magic(),
                        peer_magic: s.link.peer_magic(),
                        our_mru: s.link.our_mru(),
                        peer_mru: s.link.peer_mru(),
                        age_secs: s.last_now.saturating_duration_since(s.started).as_secs(),
                        slot: 0,
                        block: None,
                        acct_id: s.acct_id.clone(),
                        expires_in_secs: s
                            .expires
                            .map(|t| t.saturating_duration_since(s.last_now).as_secs()),
                        // The shell adds what AAA knows (Class, intervals).
                        class: Vec::new(),
                        interim_secs: None,
                        idle_secs: None,
                        framed_mtu: s.framed_mtu,
                        ipv6: s.installed_v6.map(|v| v.0),
                        delegated: s.installed_v6.and_then(|v| v.1),
                    },
                ))
            })
            .collect()
    }

    /// Take reloaded settings: discovery limits and names, the link
    /// template (timers, auth, DNS…) for sessions that start from now on,
    /// the secrets, and the pool's ranges and named pools (built from the
    /// new config and secrets; leases kept). Live sessions keep what they
    /// negotiated.
    pub fn reconfigure(&mut self, cfg: ManagerConfig, secrets: Secrets, pool: Pool) {
        self.discovery.reconfigure(cfg.discovery.clone());
        self.pool.reconfigure(pool);
        v6::reserve_statics(&secrets, &mut self.prefix_pool, &mut self.pd_pool);
        self.secrets = secrets;
        self.cfg = cfg;
    }
}
