//! IPv6 of a session: its /64 and delegated prefix leased when IPv6CP opens,
//! RA and DHCPv6 over the session, and the IPv6 rows for the data plane.

use super::*;

/// A prefix pool from the settings; the all-zero prefix is kept back.
/// The users' own IPv6 prefixes (secrets, `[[users]]`) kept for them in
/// the pools, so no other session gets them round-robin first.
pub(super) fn reserve_statics(
    secrets: &Secrets,
    prefix_pool: &mut crate::v6::pool6::PrefixPool,
    pd_pool: &mut crate::v6::pool6::PrefixPool,
) {
    let named = || {
        secrets.entries().iter().filter_map(|e| match e.client() {
            crate::auth::Pattern::Exact(name) => Some((name.as_str(), e.ipv6())),
            crate::auth::Pattern::Any => None,
        })
    };
    prefix_pool.set_statics(named().filter_map(|(n, v)| Some((v.0?, n))));
    pd_pool.set_statics(named().filter_map(|(n, v)| Some((v.1?, n))));
}

pub(super) fn new_prefix_pool(base: (Ipv6Addr, u8), len: u8) -> crate::v6::pool6::PrefixPool {
    use crate::v6::pool6::PrefixPool;
    let mut p = PrefixPool::new(base, len).unwrap_or_else(|e| {
        // The config refuses such lengths; a hand-built ManagerConfig
        // gets the defaults instead of a panic.
        log::error!("ipv6 pool {}/{} into /{len}: {e}", base.0, base.1);
        let d = crate::v6::V6Settings::default();
        PrefixPool::new(d.prefix_pool, 64).unwrap_or_else(|_| unreachable!("valid default"))
    });
    p.reserve_index(0);
    p
}

impl Manager {
    /// IPv6CP opened: lease the session's /64 (first time), send the
    /// unsolicited RA, install the IPv6 rows.
    pub(super) fn ipv6_up(
        &mut self,
        now: Instant,
        key: SessionKey,
        our_iid: u64,
        peer_iid: Option<u64>,
    ) {
        let sid = key.session_id;
        let mac = fmt_mac(&key.peer_mac);
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let mtu = s.mtu();
        if s.v6.is_none() {
            let user = s.user.clone().unwrap_or_default();
            // The user's own /64 (RADIUS Framed-IPv6-Prefix or the
            // secrets) wins over the pool.
            let given = s.given_v6.0.filter(|p| {
                let ok = p.1 == 64 && self.prefix_pool.take(*p, &user);
                if !ok {
                    log::warn!(
                        "session {sid:#06x} {mac} the user's /64 {}/{} unusable (not a /64, \
                         or held by another user): one from the pool",
                        p.0,
                        p.1
                    );
                }
                ok
            });
            let leased = match given {
                Some(p) => Ok(p),
                None => self.prefix_pool.allocate(&user),
            };
            match leased {
                Ok(p) => {
                    s.v6 = Some(crate::v6::server::V6Service::new(
                        &self.cfg.v6,
                        self.cfg.discovery.local_mac,
                        p,
                        mtu,
                    ));
                }
                Err(e) => {
                    self.stats.v6[V6Stat::NoPrefix64] += 1;
                    log::warn!("session {sid:#06x} {mac} no ipv6 prefix: {e}");
                    return;
                }
            }
        }
        let Some(v6) = s.v6.as_mut() else {
            return;
        };
        if let Some(d) = s.given_v6.1.take() {
            let user = s.user.as_deref().unwrap_or_default();
            if self.pd_pool.take(d, user) {
                v6.preset_delegated(d);
            } else {
                log::warn!(
                    "session {sid:#06x} {mac} the user's delegated prefix {}/{} held by another \
                     user: one from the pool",
                    d.0,
                    d.1
                );
            }
        }
        let ra = v6.up(now, our_iid, peer_iid);
        self.stats.v6[V6Stat::RaTx] += 1;
        let (prefix64, delegated) = (v6.prefix64(), v6.delegated());
        log::info!(
            "session {sid:#06x} {mac} ipv6 up user={}{} mtu={mtu}",
            escape(s.user.as_deref().unwrap_or("-")),
            v6_fields(Some(prefix64), delegated)
        );
        s.installed_v6 = Some((prefix64, delegated));
        self.transmit.push_back(session_frame(
            &self.cfg.discovery.local_mac,
            &key,
            crate::ppp::proto::IPV6,
            &ra,
        ));
        // The prefixes first: the data plane keeps them for the rows,
        // accounting for its start record.
        self.dataplane.push_back(DataplaneOp::InstallV6 {
            key,
            prefix64,
            delegated,
            mtu,
        });
        // The session's rows go in now under no address if IPv4 has not
        // put them in (IPv6 first or only), so IPv6 flows at once; IPCP
        // opening later gives them its address in place. Accounting waits
        // for IPCP while it negotiates (see `Manager::ipv4_pending`).
        if s.installed.is_none() {
            s.installed = Some(Ipv4Addr::UNSPECIFIED);
            self.stats[ManagerStat::Setups] += 1;
            self.dataplane.push_back(DataplaneOp::Install {
                key,
                address: Ipv4Addr::UNSPECIFIED,
                mtu,
            });
        }
    }

    /// An IPv6 packet from a session's peer: RS or DHCPv6 (anything else
    /// is the data path's and only counted).
    pub(super) fn handle_ipv6(&mut self, now: Instant, key: SessionKey, packet: &[u8]) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        s.last_now = now;
        let Some(v6) = s.v6.as_mut() else {
            self.stats.v6[V6Stat::Rx] += 1;
            self.stats.v6[V6Stat::DropInactive] += 1;
            return;
        };
        let user = s.user.as_deref().unwrap_or("");
        let out = v6.handle_packet(now, packet, user, &mut self.pd_pool, &mut self.stats.v6);
        for p in &out.packets {
            self.transmit.push_back(session_frame(
                &self.cfg.discovery.local_mac,
                &key,
                crate::ppp::proto::IPV6,
                p,
            ));
        }
        if let Some(change) = out.pd {
            let prefix64 = v6.prefix64();
            let mtu = s.mtu();
            log::info!(
                "session {:#06x} {} delegated prefix {} user={}",
                key.session_id,
                fmt_mac(&key.peer_mac),
                match (change.old, change.new) {
                    (_, Some((a, l))) => format!("pd={a}/{l}"),
                    (Some((a, l)), None) => format!("released pd={a}/{l}"),
                    (None, None) => "-".to_owned(),
                },
                escape(user)
            );
            let note = format!("dhcpv6{}", v6_fields(None, change.new));
            if let Some((_, installed_pd)) = s.installed_v6.as_mut() {
                if let Some(old) = installed_pd.filter(|o| Some(*o) != change.new) {
                    self.dataplane.push_back(DataplaneOp::RemoveV6 {
                        key,
                        prefix64: None,
                        delegated: Some(old),
                    });
                }
                *installed_pd = change.new;
                if change.new.is_some() {
                    self.dataplane.push_back(DataplaneOp::InstallV6 {
                        key,
                        prefix64,
                        delegated: change.new,
                        mtu,
                    });
                }
            }
            s.note(now, note);
        }
    }
}
