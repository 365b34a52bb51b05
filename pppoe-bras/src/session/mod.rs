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
    v6::V6Stat,
    wire::{
        eth::{fmt_mac, EthHeader},
        pppoe,
        text::escape,
    },
};

mod api;
mod auth;
mod events;
mod restart;
mod v6;

pub use api::*;
use v6::new_prefix_pool;

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
    /// The user's own /64 and delegated prefix (RADIUS Framed-IPv6-Prefix
    /// and Delegated-IPv6-Prefix, or the secrets' IPv6 prefixes), used
    /// when IPv6CP opens.
    given_v6: (Option<Prefix6>, Option<Prefix6>),
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
        let mut prefix_pool = new_prefix_pool(cfg.v6.prefix_pool, 64);
        let mut pd_pool = new_prefix_pool(cfg.v6.delegated_pool, cfg.v6.delegated_length);
        v6::reserve_statics(&secrets, &mut prefix_pool, &mut pd_pool);
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

    /// The session with this id (ids are unique on the interface).
    pub fn key_by_id(&self, session_id: u16) -> Option<SessionKey> {
        self.by_id.get(&session_id).copied()
    }

    /// Entries in the timer heap, stale ones included (at most about twice
    /// the number of sessions; for tests and stats).
    pub fn timer_entries(&self) -> usize {
        self.timers.len()
    }

    /// A frame from the access NIC (PPPoE discovery or session).
    pub fn handle_frame(&mut self, now: Instant, frame: &[u8]) {
        let (eth, payload) = match EthHeader::parse(frame) {
            Ok(v) => v,
            Err(e) => {
                self.stats[ManagerStat::DropBadEthernet] += 1;
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
            _ => self.stats[ManagerStat::DropEthertype] += 1,
        }
    }

    fn handle_session_frame(&mut self, now: Instant, eth: &EthHeader, payload: &[u8]) {
        if eth.dst != self.cfg.discovery.local_mac {
            self.stats[ManagerStat::DropWrongDstMac] += 1;
            return;
        }
        let (session_id, protocol, info) = match pppoe::parse_session(payload) {
            Ok(v) => v,
            Err(e) => {
                self.stats[ManagerStat::DropBadPppoe] += 1;
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
            self.stats[ManagerStat::DropUnknownSession] += 1;
            log::debug!(
                "drop session frame for unknown session {session_id:#06x} from {}",
                fmt_mac(&eth.src)
            );
            return;
        };
        self.stats[ManagerStat::SessionRx] += 1;
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
        self.stats[ManagerStat::LcpLoopedEcho] += session.link.looped_echoes() - looped;
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
                given_v6: (None, None),
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
