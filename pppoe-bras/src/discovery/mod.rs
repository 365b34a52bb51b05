//! PPPoE discovery, server side (RFC 2516 §5, RFC 4638): PADI/PADO/PADR/PADS/PADT.
//!
//! Sans-IO, in the role of quinn's `Endpoint`: feed every received 0x8863
//! frame to [`Discovery::handle_frame`] with the current time, then drain
//! [`Discovery::poll_transmit`] (complete Ethernet frames, VLAN tags mirrored
//! from the request) and [`Discovery::poll_event`].
//!
//! - PADO costs no state: the AC-Cookie is a keyed MD5 over the peer MAC, its
//!   VLAN tags and a 60 s time bucket; a PADR is accepted with a cookie of the
//!   current or the previous bucket. PADR floods with forged cookies are dropped
//!   without allocating anything.
//! - Session ids are unique on the interface, never 0 or 0xffff (RFC 2516 §5.4),
//!   and allocated round robin so a just-released id is not reused at once.
//! - A PADR retransmitted by a peer whose PADS was lost gets the same PADS again
//!   (same id) instead of a second session.
//! - PADI floods are rate limited per peer MAC and in total (token buckets,
//!   [`RateLimit`]); the PADO may be delayed (`pado_delay`, so a preferred
//!   BRAS answers first in a multi-BRAS segment); sessions are limited in
//!   total, per MAC and per VLAN; only the VLANs in [`DiscoveryConfig::vlans`]
//!   are served ([`VlanRule`] documents the syntax).
//! - Every dropped frame is counted by reason, one `drop_*` [`DiscoveryStat`]
//!   each.
//!
//! Here the `Discovery` state and its public face; `exchange.rs` the
//! PADI/PADR/PADT handlers, `cookie.rs` the AC-Cookie, `rate.rs` the PADI
//! token buckets, `vlan.rs` the `vlans` rules, `config.rs` the settings,
//! `stats.rs` the counters.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use crate::wire::eth::{fmt_mac, is_multicast, EthHeader, Vlans, ETHERTYPE_PPPOE_DISCOVERY};
use crate::wire::pppoe::{self, Code, DiscoveryTags, Header, TagType, TagWriter};

mod config;
mod cookie;
mod exchange;
mod rate;
mod stats;
#[cfg(test)]
mod tests;
mod vlan;

pub use config::DiscoveryConfig;
pub use cookie::{COOKIE_BUCKET, COOKIE_LEN};
use rate::Bucket;
pub use rate::{RateLimit, MAX_RATE_BUCKETS};
pub use stats::{DiscoveryStat, DiscoveryStats};
pub use vlan::{VidSet, VlanRule};

/// A PADR repeating a session started less than this long ago gets the same
/// PADS again.
pub const PADR_RETRANSMIT_WINDOW: Duration = Duration::from_secs(10);
/// Largest PPP-Max-Payload we agree to (RFC 4638; needs an access MTU of 1508).
pub const MAX_PAYLOAD_CAP: u16 = 1500;
/// PPP-Max-Payload values below this are meaningless and ignored (RFC 4638 §4).
pub const MIN_MAX_PAYLOAD: u16 = 1492;
/// Largest discovery payload that fits a 1500-byte Ethernet payload.
pub const MAX_DISCOVERY_PAYLOAD: usize = 1500 - pppoe::HEADER_LEN;
/// Most PADOs waiting for their `pado_delay`.
pub const MAX_DELAYED_PADO: usize = 65_536;

/// Identifies a session on the access interface: RFC 2516 §5.4 (peer MAC, AC
/// MAC, Session-ID) plus the VLAN tags it arrives on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SessionKey {
    pub vlans: Vlans,
    pub peer_mac: [u8; 6],
    pub session_id: u16,
}

impl std::fmt::Display for SessionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "session {:#06x} {} {}",
            self.session_id,
            fmt_mac(&self.peer_mac),
            self.vlans
        )
    }
}

/// What the session manager must act on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiscoveryEvent {
    /// PADS was queued: the session exists now; the manager starts PPP on it.
    SessionStarted {
        key: SessionKey,
        service_name: String,
        /// RFC 4638 value agreed (echoed in PADS), if any: LCP may then
        /// negotiate an MRU up to it instead of 1492.
        max_payload: Option<u16>,
    },
    /// PADT from the peer for a live session (MAC, VLANs and id match). The
    /// manager tears it down and calls [`Discovery::release`]. Reported once.
    PeerTerminated { key: SessionKey },
}

/// How many ended sessions discovery remembers, to tell a hang-up's
/// trailing PADT from a stray one.
const RECENTLY_ENDED: usize = 4096;

#[derive(Debug)]
struct Session {
    started: Instant,
    host_uniq: Option<Vec<u8>>,
    relay_session_id: Option<Vec<u8>>,
    /// The PADS frame, re-sent as is for a retransmitted PADR.
    pads: Vec<u8>,
    /// PeerTerminated already reported.
    terminated: bool,
    /// The peer has spoken PPP on the session: a PADR with the same
    /// Host-Uniq is then a restarted client (new session), not a
    /// retransmission that crossed our PADS.
    active: bool,
}

/// The discovery server of one access interface.
#[derive(Debug)]
pub struct Discovery {
    cfg: DiscoveryConfig,
    /// Origin of cookie time buckets: the first `now` seen.
    epoch: Option<Instant>,
    sessions: HashMap<SessionKey, Session>,
    ids: HashSet<u16>,
    /// The last [`RECENTLY_ENDED`] released sessions, oldest first: a PADT
    /// for one of them is the normal tail of a hang-up (the peer's
    /// Terminate-Request already ended it), not a stray frame.
    ended: VecDeque<SessionKey>,
    ended_set: HashSet<SessionKey>,
    /// Live session ids per (VLANs, peer MAC).
    per_peer: HashMap<(Vlans, [u8; 6]), Vec<u16>>,
    /// Live sessions per tag stack (tagged only).
    per_vlan: HashMap<Vlans, usize>,
    /// PADI token buckets per (VLANs, peer MAC), and for everyone.
    mac_buckets: HashMap<(Vlans, [u8; 6]), Bucket>,
    total_bucket: Option<Bucket>,
    /// PADOs waiting for `pado_delay`, in send order.
    delayed: VecDeque<(Instant, Vec<u8>)>,
    next_id: u16,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<DiscoveryEvent>,
    stats: DiscoveryStats,
}

/// Ids 0 and 0xffff are reserved (RFC 2516 §5.4 and §4).
const MAX_ID: u16 = 0xfffe;

impl Discovery {
    pub fn new(cfg: DiscoveryConfig) -> Self {
        // Start the id rotation at a point derived from the (random) key, so
        // ids of a previous daemon run are unlikely to be handed out at once.
        let next_id = u16::from_be_bytes([cfg.cookie_key[0], cfg.cookie_key[1]]) % MAX_ID + 1;
        Self {
            cfg,
            epoch: None,
            sessions: HashMap::new(),
            ids: HashSet::new(),
            ended: VecDeque::new(),
            ended_set: HashSet::new(),
            per_peer: HashMap::new(),
            per_vlan: HashMap::new(),
            mac_buckets: HashMap::new(),
            total_bucket: None,
            delayed: VecDeque::new(),
            next_id,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            stats: DiscoveryStats::default(),
        }
    }

    /// Take new settings (reload) keeping every live session, the cookie
    /// key (outstanding PADOs stay valid) and our MAC. Rate limits start
    /// afresh; new limits apply to new sessions.
    pub fn reconfigure(&mut self, mut cfg: DiscoveryConfig) {
        cfg.cookie_key = self.cfg.cookie_key;
        cfg.local_mac = self.cfg.local_mac;
        self.cfg = cfg;
        self.mac_buckets.clear();
        self.total_bucket = None;
    }

    /// A frame with EtherType 0x8863 arrived (`eth` already parsed; `payload`
    /// = bytes after the EtherType, Ethernet padding included).
    pub fn handle_frame(&mut self, now: Instant, eth: &EthHeader, payload: &[u8]) {
        if self.epoch.is_none() {
            self.epoch = Some(now);
        }
        if eth.ethertype != ETHERTYPE_PPPOE_DISCOVERY {
            let what = format_args!("EtherType {:#06x} frame", eth.ethertype);
            return self.drop_frame(DiscoveryStat::DropEthertype, eth, what);
        }
        if is_multicast(&eth.src) || eth.src == [0; 6] {
            return self.drop_frame(DiscoveryStat::DropBadSrcMac, eth, "frame");
        }
        if !self.vlan_ok(&eth.vlans) {
            return self.drop_frame(DiscoveryStat::DropVlan, eth, "frame");
        }
        let (hdr, body) = match Header::parse(payload) {
            Ok(v) => v,
            Err(e) => {
                let what = format_args!("frame ({e})");
                return self.drop_frame(DiscoveryStat::of_parse_error(e), eth, what);
            }
        };
        match hdr.code {
            Code::Padi | Code::Padr => {
                let tags = match DiscoveryTags::parse(body) {
                    Ok(t) => t,
                    Err(e) => {
                        let what = format_args!("{:?} ({e})", hdr.code);
                        return self.drop_frame(DiscoveryStat::of_parse_error(e), eth, what);
                    }
                };
                if hdr.code == Code::Padi {
                    self.handle_padi(now, eth, &hdr, &tags);
                } else {
                    self.handle_padr(now, eth, &hdr, &tags);
                }
            }
            Code::Padt => self.handle_padt(eth, &hdr),
            code => self.drop_frame(
                DiscoveryStat::DropUnexpectedCode,
                eth,
                format_args!("{code:?}"),
            ),
        }
    }

    /// Next frame to send.
    #[must_use]
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// When the next delayed PADO is due.
    #[must_use]
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.delayed.front().map(|(at, _)| *at)
    }

    /// Release the PADOs whose `pado_delay` has passed.
    pub fn handle_timeout(&mut self, now: Instant) {
        while self.delayed.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, f)) = self.delayed.pop_front() {
                self.transmit.push_back(f);
            }
        }
    }

    /// Next event for the session manager.
    #[must_use]
    pub fn poll_event(&mut self) -> Option<DiscoveryEvent> {
        self.events.pop_front()
    }

    /// The peer sent its first PPP frame on `key`'s session: from now on a
    /// PADR like the one that created it starts a new session.
    /// A session a previous daemon set up (re-adoption): its id is taken,
    /// it counts against the per-MAC and per-VLAN limits, and it is active
    /// (the peer spoke PPP on it). False when the id is already in use.
    pub fn adopt(&mut self, now: Instant, key: SessionKey) -> bool {
        if key.session_id == 0 || key.session_id > MAX_ID || !self.ids.insert(key.session_id) {
            return false;
        }
        self.sessions.insert(
            key,
            Session {
                started: now,
                host_uniq: None,
                relay_session_id: None,
                pads: Vec::new(),
                terminated: false,
                active: true,
            },
        );
        self.per_peer
            .entry((key.vlans, key.peer_mac))
            .or_default()
            .push(key.session_id);
        if key.vlans.count() > 0 {
            *self.per_vlan.entry(key.vlans).or_default() += 1;
        }
        true
    }

    pub fn session_active(&mut self, key: &SessionKey) {
        if let Some(s) = self.sessions.get_mut(key) {
            s.active = true;
        }
    }

    /// The session ended (for any reason): free its id. Unknown keys are
    /// ignored, so calling it twice is harmless.
    pub fn release(&mut self, key: &SessionKey) {
        if self.sessions.remove(key).is_none() {
            return;
        }
        self.ids.remove(&key.session_id);
        if self.ended_set.insert(*key) {
            self.ended.push_back(*key);
            if self.ended.len() > RECENTLY_ENDED {
                if let Some(old) = self.ended.pop_front() {
                    self.ended_set.remove(&old);
                }
            }
        }
        if let Some(n) = self.per_vlan.get_mut(&key.vlans) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                self.per_vlan.remove(&key.vlans);
            }
        }
        let peer = (key.vlans, key.peer_mac);
        if let Some(list) = self.per_peer.get_mut(&peer) {
            list.retain(|&id| id != key.session_id);
            if list.is_empty() {
                self.per_peer.remove(&peer);
            }
        }
    }

    /// A PADT frame for `key` (RFC 2516 §5.5), echoing the session's
    /// Relay-Session-Id if any. Does not release the session.
    pub fn padt(&self, key: &SessionKey) -> Vec<u8> {
        self.padt_frame(key, None)
    }

    /// Like [`Discovery::padt`], with a Generic-Error tag carrying `message`
    /// (UTF-8, e.g. "authentication failed").
    pub fn padt_with_error(&self, key: &SessionKey, message: &str) -> Vec<u8> {
        self.padt_frame(key, Some(message))
    }

    /// Number of sessions allocated and not yet released.
    pub fn live_sessions(&self) -> usize {
        self.sessions.len()
    }

    /// Whether `key` is a session allocated and not yet released.
    pub fn is_live(&self, key: &SessionKey) -> bool {
        self.sessions.contains_key(key)
    }

    pub fn stats(&self) -> &DiscoveryStats {
        &self.stats
    }

    pub fn config(&self) -> &DiscoveryConfig {
        &self.cfg
    }

    fn padt_frame(&self, key: &SessionKey, message: Option<&str>) -> Vec<u8> {
        let eth = EthHeader {
            dst: key.peer_mac,
            src: self.cfg.local_mac,
            vlans: key.vlans,
            ethertype: ETHERTYPE_PPPOE_DISCOVERY,
        };
        let mut out = Vec::with_capacity(64);
        eth.emit(&mut out);
        let mut w = TagWriter::new(&mut out, Code::Padt, key.session_id);
        if let Some(relay) = self
            .sessions
            .get(key)
            .and_then(|s| s.relay_session_id.as_deref())
        {
            w.tag(TagType::RelaySessionId, relay);
        }
        if let Some(msg) = message {
            w.tag(TagType::GenericError, msg.as_bytes());
        }
        w.finish();
        out
    }

    /// Count a frame dropped for `reason` (a `drop_*` counter) and say so at
    /// debug level; `what` names the frame (and the detail), the counter
    /// name gives the reason.
    fn drop_frame(&mut self, reason: DiscoveryStat, eth: &EthHeader, what: impl std::fmt::Display) {
        self.stats[reason] += 1;
        log::debug!(
            "discovery: {reason}: {what} from {} {}",
            fmt_mac(&eth.src),
            eth.vlans
        );
    }
}
