//! One subscriber session tied together, and the [`Manager`] that
//! demultiplexes frames to them (quinn's `Endpoint` role).
//!
//! Sans-IO. Call order for the shell (see `driver`):
//! 1. feed input: [`Manager::handle_frame`], [`Manager::handle_timeout`],
//!    admin calls ([`Manager::kill`], [`Manager::shutdown`]);
//! 2. drain [`Manager::poll_transmit`] (Ethernet frames for the access NIC)
//!    and [`Manager::poll_dataplane`] (map rows to install/remove);
//! 3. sleep until [`Manager::poll_timeout`].
//!
//! Time is passed in and must be monotonic.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    net::{Ipv4Addr, Ipv6Addr},
    time::{Duration, Instant},
};

use crate::{
    accounting::AcctIds,
    auth::{Secrets, Verdict},
    discovery::{Discovery, DiscoveryConfig, DiscoveryEvent, SessionKey},
    pool::Pool,
    ppp::{
        link::{Link, LinkConfig, LinkEvent},
        rng::Rng,
        AuthResult, DownReason,
    },
    wire::{
        eth::{fmt_mac, EthHeader},
        pppoe,
        text::escape,
    },
};

/// An IPv6 prefix and its length.
pub type Prefix6 = (Ipv6Addr, u8);

/// A change the data plane must apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataplaneOp {
    /// IPCP opened: install the session's rows.
    Install {
        key: SessionKey,
        address: Ipv4Addr,
        mtu: u16,
    },
    /// Remove the session's rows (IPCP closed or the session ended). When the
    /// session ended, `down` carries what the shell logs with the final byte
    /// counts it reads while removing.
    Remove {
        key: SessionKey,
        address: Ipv4Addr,
        down: Option<DownInfo>,
    },
    /// IPv6CP opened (or the delegated prefix changed): install or update
    /// the session's IPv6 rows. Upstream, sources in `prefix64` (the
    /// session's /64, SLAAC and IA_NA addresses) or `delegated` (DHCPv6
    /// IA_PD) pass anti-spoofing; downstream, destinations in either are
    /// encapsulated to this session. Idempotent: the same op again (e.g.
    /// after an IPv6CP renegotiation, or with `delegated` now known)
    /// replaces the rows in place.
    InstallV6 {
        key: SessionKey,
        prefix64: (Ipv6Addr, u8),
        delegated: Option<(Ipv6Addr, u8)>,
        mtu: u16,
    },
    /// Remove exactly the listed IPv6 rows of a session: both at the end
    /// of the session (or when IPv6CP finishes while IPv4 keeps the link),
    /// only `delegated` when the subscriber released its delegated prefix.
    RemoveV6 {
        key: SessionKey,
        prefix64: Option<(Ipv6Addr, u8)>,
        delegated: Option<(Ipv6Addr, u8)>,
    },
}

/// A credential the shell must get a verdict for (external authentication,
/// see [`Manager::set_external_auth`]); answered by
/// [`Manager::handle_auth_verdict`], possibly much later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub key: SessionKey,
    /// Identifies this session (a later session may reuse the key).
    pub acct_session_id: String,
    pub user: String,
    pub credential: crate::ppp::Credential,
    /// The answer to a CHAP re-challenge of an up session.
    pub reauth: bool,
}

/// An external verdict (e.g. from RADIUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalVerdict {
    Accept {
        /// `None`: from the pool.
        address: Option<Ipv4Addr>,
        /// RADIUS Framed-Pool: the `[pools]` entry to lease from instead of
        /// the default `pool` ranges.
        pool: Option<String>,
        /// End the session after this long (RADIUS Session-Timeout).
        session_timeout: Option<Duration>,
        /// DNS servers for IPCP instead of the configured ones.
        dns: Option<[Option<Ipv4Addr>; 2]>,
        /// PAP/CHAP success message.
        message: Option<String>,
        /// RADIUS Framed-IPv6-Prefix (the session's /64 instead of one from
        /// `ipv6_prefix_pool`).
        ipv6_prefix: Option<(Ipv6Addr, u8)>,
        /// RADIUS Delegated-IPv6-Prefix (DHCPv6-PD hands this one out).
        delegated: Option<(Ipv6Addr, u8)>,
        /// RADIUS Framed-MTU: the session's MTU when below the peer's MRU.
        framed_mtu: Option<u16>,
    },
    Reject {
        message: String,
    },
    /// Check the local secrets instead (every RADIUS server is dead).
    Local(crate::ppp::Credential),
}

/// What the end-of-session log line says besides the byte counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownInfo {
    pub user: Option<String>,
    pub reason: DownReason,
    pub duration: Duration,
    /// The session's /64 and delegated prefix, if it had them.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub delegated: Option<(Ipv6Addr, u8)>,
}

impl DownInfo {
    /// The one log line for a session's end.
    pub fn log_line(&self, key: &SessionKey, address: Option<Ipv4Addr>, bytes: &str) -> String {
        format!(
            "session {:#06x} {} down reason={} user={} address={}{} duration={:.1}s {}",
            key.session_id,
            fmt_mac(&key.peer_mac),
            self.reason,
            escape(self.user.as_deref().unwrap_or("-")),
            address.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            v6_fields(self.ipv6, self.delegated),
            self.duration.as_secs_f64(),
            bytes
        )
    }
}

/// Everything the manager needs besides the discovery settings.
pub struct ManagerConfig {
    pub discovery: DiscoveryConfig,
    /// Template for every session's link; `mru` is the cap without RFC 4638.
    pub link: LinkConfig,
    /// IPv6 control plane (pools, RA, DHCPv6); `link.ipv4`/`link.ipv6`
    /// say which NCPs run.
    pub v6: crate::v6::V6Settings,
}

/// Frames the manager itself received and discarded, by reason (discovery
/// keeps its own [`crate::discovery::DiscoveryStats`]). Shown by
/// `pppoe-bras stats` as `session.<name>`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// PPPoE session frames (0x8864) handed to a live session.
    pub session_rx: u64,
    /// Shorter than an Ethernet header, or a truncated VLAN tag.
    pub drop_bad_ethernet: u64,
    /// Neither PPPoE discovery nor session.
    pub drop_ethertype: u64,
    /// Session frame not addressed to our MAC.
    pub drop_wrong_dst_mac: u64,
    /// Session frame with a bad PPPoE header: VER/TYPE, code, length,
    /// truncated PPP protocol field.
    pub drop_bad_pppoe: u64,
    /// Session frame for no live (MAC, VLANs, session id).
    pub drop_unknown_session: u64,
    /// CHAP re-challenge answered wrongly or by another user.
    pub reauth_failed: u64,
    /// LCP Echo-Requests/-Replies carrying our own Magic-Number (a
    /// looped-back line, RFC 1661 §6.4); see [`Link::looped_echoes`].
    pub lcp_looped_echo: u64,
    /// Sessions whose data path was installed (first time).
    pub setups: u64,
    /// Refused authentications, initial and re-challenges (those also
    /// count in `reauth_failed`).
    pub auth_failed: u64,
    /// Ended sessions by [`DownReason::kind`].
    pub teardowns: std::collections::BTreeMap<&'static str, u64>,
    /// IPv6 control plane (RS/RA, DHCPv6).
    pub v6: crate::v6::V6Stats,
}

impl ManagerStats {
    /// Every counter with its name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut v = vec![
            ("session_rx", self.session_rx),
            ("drop_bad_ethernet", self.drop_bad_ethernet),
            ("drop_ethertype", self.drop_ethertype),
            ("drop_wrong_dst_mac", self.drop_wrong_dst_mac),
            ("drop_bad_pppoe", self.drop_bad_pppoe),
            ("drop_unknown_session", self.drop_unknown_session),
            ("reauth_failed", self.reauth_failed),
            ("lcp_looped_echo", self.lcp_looped_echo),
            ("setups", self.setups),
            ("auth_failed", self.auth_failed),
        ];
        v.extend(self.v6.counters());
        v
    }
}

/// A live session as `sessions` lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo<'a> {
    pub user: Option<&'a str>,
    pub address: Option<Ipv4Addr>,
    /// Map rows installed (IPCP open).
    pub installed: bool,
    pub mtu: u16,
    /// Time since PADS, as of the last event the manager saw.
    pub age: Duration,
    /// The PPP link (negotiated options, phase), for `show`.
    pub link: &'a Link,
    /// The last [`EVENT_HISTORY`] events: time since PADS and what happened.
    pub events: &'a VecDeque<(Duration, String)>,
    /// The session's /64 (RA) and delegated prefix (DHCPv6), once leased.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub delegated: Option<(Ipv6Addr, u8)>,
    /// The DHCPv6 IA_NA address, if bound.
    pub ipv6_address: Option<Ipv6Addr>,
}

/// Events each session remembers for `pppoe-bras show`.
pub const EVENT_HISTORY: usize = 20;

struct Session {
    link: Link,
    /// Latest `now` seen for this session (for ages in listings).
    last_now: Instant,
    started: Instant,
    user: Option<String>,
    /// The address leased to the session (held across renegotiations).
    address: Option<Ipv4Addr>,
    /// The address whose rows are in the data plane. Kept while IPCP or LCP
    /// renegotiates, so an unchanged address keeps its NAT block and live
    /// mappings; replaced when the address changes; removed at the end.
    installed: Option<Ipv4Addr>,
    /// The peer has sent a PPP frame (discovery was told once).
    peer_spoke: bool,
    /// The deadline this session has in [`Manager::timers`] (the latest one
    /// pushed), so an unchanged deadline is not pushed again.
    scheduled: Option<Instant>,
    /// The last [`EVENT_HISTORY`] events (peer strings escaped).
    events: VecDeque<(Duration, String)>,
    /// Acct-Session-Id (unique across restarts), from PADS on.
    acct_id: String,
    /// End of the authorised session time (RADIUS Session-Timeout).
    expires: Option<Instant>,
    /// IPv6 services (RA, DHCPv6) and the /64, from the first IPv6CP up.
    v6: Option<crate::v6::server::V6Service>,
    /// RADIUS Framed-IPv6-Prefix and Delegated-IPv6-Prefix, used when
    /// IPv6CP opens.
    radius_v6: (Option<Prefix6>, Option<Prefix6>),
    /// RADIUS Framed-MTU (see `Session::mtu`).
    framed_mtu: Option<u16>,
    /// The IPv6 rows in the data plane: the /64 and the delegated prefix.
    installed_v6: Option<(Prefix6, Option<Prefix6>)>,
}

impl Session {
    /// The session's MTU: the peer's MRU, lowered by a RADIUS Framed-MTU.
    /// What the data plane checks packets against (ICMP Fragmentation
    /// Needed / Packet Too Big) and the RA's MTU option.
    fn mtu(&self) -> u16 {
        let mru = self.link.peer_mru();
        self.framed_mtu.map_or(mru, |m| m.min(mru))
    }

    fn note(&mut self, now: Instant, what: String) {
        if self.events.len() == EVENT_HISTORY {
            self.events.pop_front();
        }
        self.events
            .push_back((now.saturating_duration_since(self.started), what));
    }
}

/// All sessions on one access interface.
///
/// Costs at scale: a frame costs one hash lookup plus the work of its own
/// session; timers cost O(log n) per deadline change and O(k log n) for k
/// timers due; nothing on the per-frame or per-timer path walks every
/// session.
pub struct Manager {
    cfg: ManagerConfig,
    discovery: Discovery,
    sessions: HashMap<SessionKey, Session>,
    /// Deadlines per session, possibly stale: an entry counts only while it
    /// equals its session's `scheduled` (lazy invalidation). Entries are
    /// pushed only when a session's deadline changes, and the heap is rebuilt
    /// when stale entries outnumber live ones, so it stays O(sessions).
    timers: BinaryHeap<Reverse<(Instant, SessionKey)>>,
    /// Session id → key (ids are unique on the interface), for `kill`.
    by_id: HashMap<u16, SessionKey>,
    /// Scratch list of due timers, kept to avoid an allocation per tick.
    due: Vec<(Instant, SessionKey)>,
    secrets: Secrets,
    pool: Pool,
    transmit: VecDeque<Vec<u8>>,
    dataplane: VecDeque<DataplaneOp>,
    /// Forked for every session (Magic-Numbers, CHAP challenges).
    rng: Rng,
    stats: ManagerStats,
    acct_ids: AcctIds,
    /// Credentials go out as [`AuthRequest`]s instead of to `secrets`.
    external_auth: bool,
    auth_requests: VecDeque<AuthRequest>,
    /// One /64 per session (`ipv6_prefix_pool`).
    prefix_pool: crate::v6::pool6::PrefixPool,
    /// One delegated prefix per subscriber (`ipv6_delegated_pool`).
    pd_pool: crate::v6::pool6::PrefixPool,
}

/// A prefix pool from the settings; the all-zero prefix is kept back.
fn new_prefix_pool(base: (Ipv6Addr, u8), len: u8) -> crate::v6::pool6::PrefixPool {
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
    /// The production manager: every session draws its Magic-Numbers, CHAP
    /// challenges and identifiers from the OS-keyed CSPRNG; there is no seed
    /// and nothing chained between sessions.
    pub fn new(cfg: ManagerConfig, secrets: Secrets, pool: Pool) -> Self {
        Manager::with_rng(cfg, secrets, pool, Rng::from_os())
    }

    /// A manager whose sessions draw from forks of `rng`: [`Rng::seeded`]
    /// makes simulations reproducible (tests only).
    pub fn with_rng(cfg: ManagerConfig, secrets: Secrets, pool: Pool, rng: Rng) -> Self {
        let discovery = Discovery::new(cfg.discovery.clone());
        let prefix_pool = new_prefix_pool(cfg.v6.prefix_pool, 64);
        let pd_pool = new_prefix_pool(cfg.v6.delegated_pool, cfg.v6.delegated_length);
        Manager {
            prefix_pool,
            pd_pool,
            cfg,
            discovery,
            sessions: HashMap::new(),
            timers: BinaryHeap::new(),
            by_id: HashMap::new(),
            due: Vec::new(),
            secrets,
            pool,
            transmit: VecDeque::new(),
            dataplane: VecDeque::new(),
            rng,
            stats: ManagerStats::default(),
            acct_ids: AcctIds::for_this_process(),
            external_auth: false,
            auth_requests: VecDeque::new(),
        }
    }

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
                radius_v6: (None, None),
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
        self.secrets = secrets;
        self.cfg = cfg;
    }

    /// Number of live sessions (any phase).
    pub fn len(&self) -> usize {
        self.sessions.len()
    }

    /// True when no session is live.
    pub fn is_empty(&self) -> bool {
        self.sessions.is_empty()
    }

    /// Discovery counters.
    pub fn discovery(&self) -> &Discovery {
        &self.discovery
    }

    /// The address pool (leases in use).
    pub fn pool(&self) -> &Pool {
        &self.pool
    }

    /// The manager's own counters (frames it discarded, by reason).
    pub fn stats(&self) -> &ManagerStats {
        &self.stats
    }

    /// Every counter for `stats` output: `discovery.*` then `session.*`.
    pub fn counters(&self) -> Vec<(String, u64)> {
        let d = self.discovery.stats().counters();
        let m = self.stats.counters();
        d.into_iter()
            .map(|(n, v)| (format!("discovery.{n}"), v))
            .chain(m.into_iter().map(|(n, v)| (format!("session.{n}"), v)))
            .collect()
    }

    /// Live sessions, for `sessions` listings.
    pub fn sessions(&self) -> impl Iterator<Item = (&SessionKey, SessionInfo<'_>)> {
        self.sessions.iter().map(|(k, s)| {
            (
                k,
                SessionInfo {
                    user: s.user.as_deref(),
                    address: s.address,
                    installed: s.installed.is_some(),
                    mtu: s.mtu(),
                    age: s.last_now.saturating_duration_since(s.started),
                    link: &s.link,
                    events: &s.events,
                    ipv6: s.v6.as_ref().map(|v| v.prefix64()),
                    delegated: s.v6.as_ref().and_then(|v| v.delegated()),
                    ipv6_address: s.v6.as_ref().and_then(|v| v.address()),
                },
            )
        })
    }

    /// The PPP link of a live session (for inspection).
    pub fn link(&self, key: &SessionKey) -> Option<&Link> {
        self.sessions.get(key).map(|s| &s.link)
    }

    /// A live session's user (once it authenticated) and Acct-Session-Id.
    pub fn accounting_of(&self, key: &SessionKey) -> Option<(Option<&str>, &str)> {
        self.sessions
            .get(key)
            .map(|s| (s.user.as_deref(), s.acct_id.as_str()))
    }

    /// Whether IPCP may still give the session an IPv4 address (IPv4 on
    /// and IPCP negotiating or open): accounting holds its start record
    /// for that address instead of starting with none.
    pub fn ipv4_pending(&self, key: &SessionKey) -> bool {
        use crate::ppp::fsm::State;
        self.cfg.link.ipv4
            && self.sessions.get(key).is_some_and(|s| {
                matches!(
                    s.link.ipcp_state(),
                    State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
                )
            })
    }

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
                    self.stats.reauth_failed += 1;
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
                        s.radius_v6 = (ipv6_prefix, delegated);
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

    /// The session with this id (ids are unique on the interface).
    pub fn key_by_id(&self, session_id: u16) -> Option<SessionKey> {
        self.by_id.get(&session_id).copied()
    }

    /// Entries in the timer heap, stale ones included (at most about twice
    /// the number of sessions; for tests and stats).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
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

    /// A frame from the access NIC (PPPoE discovery or session).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let (eth, payload) = match EthHeader::parse(frame) {
            Ok(v) => v,
            Err(e) => {
                self.stats.drop_bad_ethernet += 1;
                log::debug!("drop frame: ethernet: {e}");
                return;
            }
        };
        match eth.ethertype {
            pppoe_bras_common::proto::ETH_P_PPP_DISC => {
                self.discovery.handle_frame(now, &eth, payload);
                self.drain_discovery(now);
            }
            pppoe_bras_common::proto::ETH_P_PPP_SES => {
                self.handle_session_frame(now, &eth, payload)
            }
            _ => self.stats.drop_ethertype += 1,
        }
    }

    fn handle_session_frame(&mut self, now: Instant, eth: &EthHeader, payload: &[u8]) {
        if eth.dst != self.cfg.discovery.local_mac {
            self.stats.drop_wrong_dst_mac += 1;
            return;
        }
        let (session_id, protocol, info) = match pppoe::parse_session(payload) {
            Ok(v) => v,
            Err(e) => {
                self.stats.drop_bad_pppoe += 1;
                log::debug!("drop session frame from {}: {e}", fmt_mac(&eth.src));
                return;
            }
        };
        let key = SessionKey {
            vlans: eth.vlans,
            peer_mac: eth.src,
            session_id,
        };
        let Some(session) = self.sessions.get_mut(&key) else {
            self.stats.drop_unknown_session += 1;
            log::debug!(
                "drop session frame for unknown session {session_id:#06x} from {}",
                fmt_mac(&eth.src)
            );
            return;
        };
        self.stats.session_rx += 1;
        if !session.peer_spoke {
            session.peer_spoke = true;
            self.discovery.session_active(&key);
        }
        if protocol == crate::ppp::proto::IPV6 && self.cfg.link.ipv6 {
            self.handle_ipv6(now, key, info);
            return;
        }
        let looped = session.link.looped_echoes();
        session.link.handle_frame(now, protocol, info);
        self.stats.lcp_looped_echo += session.link.looped_echoes() - looped;
        self.drive(now, key);
    }

    /// Run every timer that is due: O(k log n) for k due entries.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.discovery.handle_timeout(now);
        // Take the due entries first: a session rescheduled while handling
        // waits for the next call, so a timer that stays due cannot spin.
        let mut due = std::mem::take(&mut self.due);
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((at, key));
        }
        for (at, key) in due.drain(..) {
            let Some(session) = self.sessions.get_mut(&key) else {
                continue;
            };
            if session.scheduled != Some(at) {
                continue; // stale: the session was rescheduled since
            }
            session.scheduled = None;
            if session.link.poll_timeout().is_some_and(|t| t <= now) {
                session.link.handle_timeout(now);
            }
            if let Some(v6) = session.v6.as_mut() {
                if let Some(ra) = v6.handle_timeout(now, &mut self.stats.v6) {
                    let frame = session_frame(
                        &self.cfg.discovery.local_mac,
                        &key,
                        crate::ppp::proto::IPV6,
                        &ra,
                    );
                    self.transmit.push_back(frame);
                }
            }
            if session.expires.is_some_and(|t| t <= now) {
                session.expires = None;
                log::info!(
                    "session {:#06x} {} session timeout",
                    key.session_id,
                    fmt_mac(&key.peer_mac)
                );
                session.link.close(now, DownReason::SessionTimeout);
            }
            // Pushes the session's next deadline, if any.
            self.drive(now, key);
        }
        self.due = due;
    }

    /// The earliest instant `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let sessions = self.timers.peek().map(|Reverse((at, _))| *at);
        [sessions, self.discovery.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
    }

    /// Next frame to send on the access NIC.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        if let Some(f) = self.discovery.poll_transmit() {
            return Some(f);
        }
        self.transmit.pop_front()
    }

    /// Next map change for the data plane.
    pub fn poll_dataplane(&mut self) -> Option<DataplaneOp> {
        self.dataplane.pop_front()
    }

    /// Terminate one session (admin): LCP Terminate-Request, then PADT.
    pub fn kill(&mut self, now: Instant, key: &SessionKey) -> bool {
        self.close(now, key, DownReason::AdminClose)
    }

    /// Terminate one session for `reason` (e.g. idle-timeout, decided by
    /// the shell from the data plane's counters): LCP Terminate-Request,
    /// then PADT.
    pub fn close(&mut self, now: Instant, key: &SessionKey, reason: DownReason) -> bool {
        let Some(session) = self.sessions.get_mut(key) else {
            return false;
        };
        session.link.close(now, reason);
        self.drive(now, *key);
        true
    }

    /// A new Session-Timeout for a live session (RADIUS CoA): it ends
    /// `timeout` from `now` (cause session-timeout); `None` lifts the limit.
    pub fn set_session_timeout(
        &mut self,
        now: Instant,
        key: &SessionKey,
        timeout: Option<Duration>,
    ) -> bool {
        let Some(session) = self.sessions.get_mut(key) else {
            return false;
        };
        session.expires = timeout.map(|t| now + t);
        self.drive(now, *key);
        true
    }

    /// Daemon stop: PADT to every live session right away (no waiting for
    /// Terminate-Acks), every row removed.
    pub fn shutdown(&mut self, now: Instant) {
        let keys: Vec<SessionKey> = self.sessions.keys().copied().collect();
        for key in keys {
            self.end_session(now, key, DownReason::AdminClose, true);
        }
    }

    fn drain_discovery(&mut self, now: Instant) {
        while let Some(ev) = self.discovery.poll_event() {
            match ev {
                DiscoveryEvent::SessionStarted {
                    key, max_payload, ..
                } => self.start_session(now, key, max_payload),
                DiscoveryEvent::PeerTerminated { key } => {
                    if self.sessions.contains_key(&key) {
                        self.end_session(now, key, DownReason::Padt, false);
                    }
                }
            }
        }
    }

    fn start_session(&mut self, now: Instant, key: SessionKey, max_payload: Option<u16>) {
        let mut link_cfg = self.cfg.link.clone();
        if let Some(mp) = max_payload {
            // Discovery agreed `mp` within its cap; LCP may go up to it.
            link_cfg.settings.mru = mp.max(link_cfg.settings.mru);
        }
        self.by_id.insert(key.session_id, key);
        let link = Link::with_rng(link_cfg, now, self.rng.fork());
        self.sessions.insert(
            key,
            Session {
                link,
                last_now: now,
                started: now,
                user: None,
                address: None,
                installed: None,
                peer_spoke: false,
                scheduled: None,
                events: VecDeque::from([(Duration::ZERO, "PADS sent".to_owned())]),
                acct_id: self.acct_ids.next(),
                expires: None,
                v6: None,
                radius_v6: (None, None),
                framed_mtu: None,
                installed_v6: None,
            },
        );
        self.drive(now, key);
    }

    /// Drain one session's link: frames, events, its next deadline.
    fn drive(&mut self, now: Instant, key: SessionKey) {
        loop {
            let Some(session) = self.sessions.get_mut(&key) else {
                return;
            };
            session.last_now = now;
            let mut progressed = false;
            while let Some((protocol, info)) = session.link.poll_transmit() {
                let frame = session_frame(&self.cfg.discovery.local_mac, &key, protocol, &info);
                self.transmit.push_back(frame);
                progressed = true;
            }
            let Some(session) = self.sessions.get_mut(&key) else {
                return;
            };
            if let Some(mut ev) = session.link.poll_event() {
                if ev == LinkEvent::NetworkDown {
                    // The link reports NetworkDown right before Down; then
                    // the rows go with the session's final Remove, which
                    // carries the end-of-session log line.
                    match session.link.poll_event() {
                        Some(next @ LinkEvent::Down { .. }) => ev = next,
                        Some(next) => {
                            self.handle_link_event(now, key, ev);
                            ev = next;
                        }
                        None => {}
                    }
                }
                self.handle_link_event(now, key, ev);
                progressed = true;
            }
            if !progressed {
                break;
            }
        }
        let Some(session) = self.sessions.get_mut(&key) else {
            return;
        };
        let at = [
            session.link.poll_timeout(),
            session.expires,
            session.v6.as_ref().and_then(|v| v.poll_timeout()),
        ]
        .into_iter()
        .flatten()
        .min();
        if at != session.scheduled {
            session.scheduled = at;
            if let Some(at) = at {
                self.timers.push(Reverse((at, key)));
                self.compact_timers();
            }
        }
    }

    /// Rebuild the heap from the live deadlines once stale entries dominate
    /// (O(n), amortised over the ≥ n pushes since the last rebuild).
    fn compact_timers(&mut self) {
        if self.timers.len() <= 2 * self.sessions.len() + 64 {
            return;
        }
        let live: Vec<_> = self
            .sessions
            .iter()
            .filter_map(|(k, s)| s.scheduled.map(|at| Reverse((at, *k))))
            .collect();
        self.timers = BinaryHeap::from(live);
    }

    fn handle_link_event(&mut self, now: Instant, key: SessionKey, ev: LinkEvent) {
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
                    self.stats.reauth_failed += 1;
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
                self.stats.auth_failed += 1;
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
                    self.stats.setups += 1;
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

    /// Verify a credential and lease an address (`keep`: the address this
    /// session already holds for this user, kept). Never logs secrets.
    fn authenticate(
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
        match self
            .secrets
            .verify(user, &self.cfg.discovery.ac_name, credential)
        {
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

    /// IPv6CP opened: lease the session's /64 (first time), send the
    /// unsolicited RA, install the IPv6 rows.
    fn ipv6_up(&mut self, now: Instant, key: SessionKey, our_iid: u64, peer_iid: Option<u64>) {
        let sid = key.session_id;
        let mac = fmt_mac(&key.peer_mac);
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        let mtu = s.mtu();
        if s.v6.is_none() {
            let user = s.user.clone().unwrap_or_default();
            // RADIUS Framed-IPv6-Prefix (a /64) wins over the pool.
            let given = s.radius_v6.0.filter(|p| {
                let ok = p.1 == 64 && self.prefix_pool.take(*p, &user);
                if !ok {
                    log::warn!(
                        "session {sid:#06x} {mac} Framed-IPv6-Prefix {}/{} unusable (not a /64, \
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
                    self.stats.v6.no_prefix64 += 1;
                    log::warn!("session {sid:#06x} {mac} no ipv6 prefix: {e}");
                    return;
                }
            }
        }
        let Some(v6) = s.v6.as_mut() else {
            return;
        };
        if let Some(d) = s.radius_v6.1.take() {
            let user = s.user.as_deref().unwrap_or_default();
            if self.pd_pool.take(d, user) {
                v6.preset_delegated(d);
            } else {
                log::warn!(
                    "session {sid:#06x} {mac} Delegated-IPv6-Prefix {}/{} held by another user: \
                     one from the pool",
                    d.0,
                    d.1
                );
            }
        }
        let ra = v6.up(now, our_iid, peer_iid);
        self.stats.v6.ra_tx += 1;
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
            self.stats.setups += 1;
            self.dataplane.push_back(DataplaneOp::Install {
                key,
                address: Ipv4Addr::UNSPECIFIED,
                mtu,
            });
        }
    }

    /// An IPv6 packet from a session's peer: RS or DHCPv6 (anything else
    /// is the data path's and only counted).
    fn handle_ipv6(&mut self, now: Instant, key: SessionKey, packet: &[u8]) {
        let Some(s) = self.sessions.get_mut(&key) else {
            return;
        };
        s.last_now = now;
        let Some(v6) = s.v6.as_mut() else {
            self.stats.v6.rx += 1;
            self.stats.v6.drop_inactive += 1;
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

    /// Remove a session from every table; PADT unless the peer sent one.
    fn end_session(&mut self, now: Instant, key: SessionKey, reason: DownReason, send_padt: bool) {
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

/// ` ipv6=P/64 pd=P/56` for log lines (empty without IPv6).
pub fn v6_fields(ipv6: Option<(Ipv6Addr, u8)>, pd: Option<(Ipv6Addr, u8)>) -> String {
    let mut out = String::new();
    if let Some((a, l)) = ipv6 {
        out.push_str(&format!(" ipv6={a}/{l}"));
    }
    if let Some((a, l)) = pd {
        out.push_str(&format!(" pd={a}/{l}"));
    }
    out
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

/// A PPP frame for a session, in Ethernet + PPPoE.
fn session_frame(local_mac: &[u8; 6], key: &SessionKey, protocol: u16, info: &[u8]) -> Vec<u8> {
    let eth = EthHeader {
        dst: key.peer_mac,
        src: *local_mac,
        vlans: key.vlans,
        ethertype: pppoe_bras_common::proto::ETH_P_PPP_SES,
    };
    pppoe::session_frame(&eth, key.session_id, protocol, info)
}
