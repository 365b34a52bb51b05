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

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use crate::wire::eth::{
    fmt_mac, is_multicast, EthHeader, Vlans, BROADCAST, ETHERTYPE_PPPOE_DISCOVERY,
};
use crate::wire::pppoe::{self, Code, DiscoveryTags, Header, TagType, TagWriter};
use crate::wire::text::escape;
use crate::wire::Error;

/// Width of an AC-Cookie time bucket; a cookie is valid for 60 to 120 s.
pub const COOKIE_BUCKET: Duration = Duration::from_secs(60);
/// A PADR repeating a session started less than this long ago gets the same
/// PADS again.
pub const PADR_RETRANSMIT_WINDOW: Duration = Duration::from_secs(10);
/// Largest PPP-Max-Payload we agree to (RFC 4638; needs an access MTU of 1508).
pub const MAX_PAYLOAD_CAP: u16 = 1500;
/// PPP-Max-Payload values below this are meaningless and ignored (RFC 4638 §4).
pub const MIN_MAX_PAYLOAD: u16 = 1492;
/// Largest discovery payload that fits a 1500-byte Ethernet payload.
pub const MAX_DISCOVERY_PAYLOAD: usize = 1500 - pppoe::HEADER_LEN;
/// Length of the AC-Cookie value.
pub const COOKIE_LEN: usize = 16;
/// Most per-MAC PADI buckets kept; beyond, refilled ones are pruned and, if
/// that is not enough, new MACs are only held to the total limit.
pub const MAX_RATE_BUCKETS: usize = 65_536;
/// Most PADOs waiting for their `pado_delay`.
pub const MAX_DELAYED_PADO: usize = 65_536;

/// A token-bucket rate: on average `per_sec` frames per second, up to
/// `burst` back to back. Config syntax: `"10/s"` (burst = rate), `"10/s
/// burst 20"`; `"off"` disables the limit (parsed in `config::syntax`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub per_sec: u32,
    pub burst: u32,
}

/// A token bucket in millionths of a token.
#[derive(Debug, Clone, Copy)]
struct Bucket {
    micro: u64,
    at: Instant,
}

impl Bucket {
    fn full(limit: RateLimit, now: Instant) -> Self {
        Bucket {
            micro: u64::from(limit.burst) * 1_000_000,
            at: now,
        }
    }

    fn refill(&mut self, limit: RateLimit, now: Instant) {
        let elapsed =
            u64::try_from(now.saturating_duration_since(self.at).as_micros()).unwrap_or(u64::MAX);
        let cap = u64::from(limit.burst) * 1_000_000;
        self.micro = self
            .micro
            .saturating_add(elapsed.saturating_mul(u64::from(limit.per_sec)))
            .min(cap);
        if now > self.at {
            self.at = now;
        }
    }

    /// Take one token if there is one.
    fn take(&mut self, limit: RateLimit, now: Instant) -> bool {
        self.refill(limit, now);
        if self.micro >= 1_000_000 {
            self.micro -= 1_000_000;
            true
        } else {
            false
        }
    }

    fn is_full(&self, limit: RateLimit, now: Instant) -> bool {
        let mut b = *self;
        b.refill(limit, now);
        b.micro >= u64::from(limit.burst) * 1_000_000
    }
}

/// VIDs on one tag level of a [`VlanRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VidSet {
    /// `*` or `any`.
    Any,
    /// `N` or `N-M` (1–4094).
    Range(u16, u16),
}

impl VidSet {
    fn contains(&self, vid: u16) -> bool {
        match *self {
            VidSet::Any => true,
            VidSet::Range(lo, hi) => (lo..=hi).contains(&vid),
        }
    }
}

/// Which tag stacks the BRAS serves (config `vlans`, a list of these; an
/// empty list serves everything). The TPID (0x8100, 0x88a8, 0x9100) does
/// not matter. Written (and parsed, in `config::syntax`) as:
///
/// | written | serves |
/// |---|---|
/// | `"any"` | every frame: untagged, single- and double-tagged |
/// | `"untagged"` | frames without a tag |
/// | `"100"`, `"100-199"`, `"*"` | single-tagged frames with that VID |
/// | `"200.10-20"`, `"200-209.*"`, `"*.5"` | double-tagged (QinQ): outer.inner |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanRule {
    Any,
    Untagged,
    Single(VidSet),
    Double(VidSet, VidSet),
}

impl VlanRule {
    /// Whether frames with these tags are served.
    pub fn matches(&self, vlans: &Vlans) -> bool {
        match (*self, vlans.outer, vlans.inner) {
            (VlanRule::Any, _, _) => true,
            (VlanRule::Untagged, None, None) => true,
            (VlanRule::Single(s), Some(o), None) => s.contains(o.vid),
            (VlanRule::Double(so, si), Some(o), Some(i)) => {
                so.contains(o.vid) && si.contains(i.vid)
            }
            _ => false,
        }
    }
}

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

/// Discovery policy. `Debug` hides the cookie key.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Sent in AC-Name.
    pub ac_name: String,
    /// Services offered; empty: accept any requested name (and a blank one).
    /// With a list, a blank request is accepted and offered the list.
    pub service_names: Vec<String>,
    /// Key of the AC-Cookie MAC; random per daemon start.
    pub cookie_key: [u8; 16],
    /// Live sessions in total; beyond, PADI is ignored and PADR refused with
    /// AC-System-Error.
    pub max_sessions: usize,
    /// Live sessions per peer MAC (per VLAN tags); same treatment.
    pub max_sessions_per_mac: usize,
    /// RFC 4638 PPP-Max-Payload: the largest value agreed (a larger request
    /// is answered with this); 0 turns the tag off. It must fit the access
    /// NIC: MTU ≥ value + 8.
    pub max_payload: u16,
    /// The access NIC's MAC (AC MAC).
    pub local_mac: [u8; 6],
    /// PADI rate per peer MAC (and VLAN tags); excess PADIs are dropped.
    pub padi_rate_per_mac: Option<RateLimit>,
    /// PADI rate over all peers.
    pub padi_rate_total: Option<RateLimit>,
    /// Wait this long before sending a PADO (a backup BRAS in a multi-BRAS
    /// segment answers later, so clients pick the primary).
    pub pado_delay: Duration,
    /// Live sessions per VLAN tag stack (tagged frames only); 0: no limit.
    pub max_sessions_per_vlan: usize,
    /// Tag stacks served; empty: all.
    pub vlans: Vec<VlanRule>,
}

impl Default for DiscoveryConfig {
    /// Lab defaults: no limits beyond 65534 sessions. The cookie key is all
    /// zeros: set a random one outside tests.
    fn default() -> Self {
        DiscoveryConfig {
            ac_name: "pppoe-bras".to_owned(),
            service_names: Vec::new(),
            cookie_key: [0; 16],
            max_sessions: usize::from(MAX_ID),
            max_sessions_per_mac: usize::from(MAX_ID),
            max_payload: MAX_PAYLOAD_CAP,
            local_mac: [0x02, 0, 0, 0, 0, 0xfe],
            padi_rate_per_mac: None,
            padi_rate_total: None,
            pado_delay: Duration::ZERO,
            max_sessions_per_vlan: 0,
            vlans: Vec::new(),
        }
    }
}

impl std::fmt::Debug for DiscoveryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryConfig")
            .field("ac_name", &self.ac_name)
            .field("service_names", &self.service_names)
            .field("cookie_key", &"<hidden>")
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_mac", &self.max_sessions_per_mac)
            .field("max_payload", &self.max_payload)
            .field("local_mac", &fmt_mac(&self.local_mac))
            .field("padi_rate_per_mac", &self.padi_rate_per_mac)
            .field("padi_rate_total", &self.padi_rate_total)
            .field("pado_delay", &self.pado_delay)
            .field("max_sessions_per_vlan", &self.max_sessions_per_vlan)
            .field("vlans", &self.vlans)
            .finish()
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

crate::counters::counters! {
    /// Discovery's counters: frames handled and frames dropped, by reason
    /// (`pppoe-bras stats` shows them as `discovery.<name>`). Every dropped
    /// frame counts in exactly one `drop_*` counter, whose name the debug
    /// log line gives as the reason.
    pub enum DiscoveryStat in DiscoveryStats {
        /// PADI to us or broadcast with session id 0 (before the rate limits).
        PadiRx = "padi_rx",
        /// PADO sent (or queued for `pado_delay`).
        PadoTx = "pado_tx",
        /// PADR to us with session id 0 (before the cookie check).
        PadrRx = "padr_rx",
        /// PADS that started a session.
        PadsTx = "pads_tx",
        /// PADS re-sent for a retransmitted PADR.
        PadsRetransmit = "pads_retransmit",
        /// PADS with session id 0 and an error tag.
        PadsErrorTx = "pads_error_tx",
        /// PADT matching a live session.
        PadtRx = "padt_rx",
        /// PADT for a session that had just ended (the peer's Terminate-Request
        /// or ours came first): the normal end of a hang-up, not a drop.
        PadtAfterEnd = "padt_after_end",
        /// Not EtherType 0x8863.
        DropEthertype = "drop_ethertype",
        /// Source MAC multicast, broadcast or zero.
        DropBadSrcMac = "drop_bad_src_mac",
        /// Destination neither us nor (for PADI) broadcast.
        DropBadDstMac = "drop_bad_dst_mac",
        /// VER/TYPE not 1/1.
        DropBadVersion = "drop_bad_version",
        /// Truncated header or tags, length past the end.
        DropMalformed = "drop_malformed",
        /// PADI/PADR with a non-zero session id.
        DropBadSessionId = "drop_bad_session_id",
        /// PADO, PADS, session code or unknown code sent to the AC.
        DropUnexpectedCode = "drop_unexpected_code",
        /// PADI/PADR without a Service-Name tag.
        DropNoServiceName = "drop_no_service_name",
        /// Service-Name not served (PADI ignored, PADR answered with an error).
        DropUnknownService = "drop_unknown_service",
        /// PADR with a missing, forged or expired AC-Cookie.
        DropBadCookie = "drop_bad_cookie",
        /// Session limits or id space exhausted.
        DropLimit = "drop_limit",
        /// Reply would not fit in 1500 bytes (oversized echoed tags).
        DropTooBig = "drop_too_big",
        /// PADT for no live session.
        DropUnknownSession = "drop_unknown_session",
        /// Tag stack not in the `vlans` list.
        DropVlan = "drop_vlan",
        /// PADI over the per-MAC rate.
        DropRateMac = "drop_rate_mac",
        /// PADI over the total rate.
        DropRateTotal = "drop_rate_total",
        /// PADO not sent: too many waiting for `pado_delay`.
        DropPadoBacklog = "drop_pado_backlog",
    }
}

impl DiscoveryStat {
    /// The counter a header or tag parse error goes to.
    fn of_parse_error(e: Error) -> Self {
        match e {
            Error::BadVersion(_) => DiscoveryStat::DropBadVersion,
            _ => DiscoveryStat::DropMalformed,
        }
    }
}

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

    /// Whether frames with these tags are served (`vlans`).
    pub fn vlan_ok(&self, vlans: &Vlans) -> bool {
        self.cfg.vlans.is_empty() || self.cfg.vlans.iter().any(|r| r.matches(vlans))
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

    /// RFC 2516 §5.1/§5.2: answer a PADI we can serve with a unicast PADO.
    fn handle_padi(
        &mut self,
        now: Instant,
        eth: &EthHeader,
        hdr: &Header,
        tags: &DiscoveryTags<'_>,
    ) {
        if eth.dst != BROADCAST && eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADI");
        }
        if hdr.session_id != 0 {
            return self.drop_frame(DiscoveryStat::DropBadSessionId, eth, "PADI");
        }
        self.stats[DiscoveryStat::PadiRx] += 1;
        if !self.padi_allowed(now, eth) {
            return;
        }
        log::info!("PADI from {} {}", fmt_mac(&eth.src), eth.vlans);
        let Some(service) = tags.service_name else {
            return self.drop_frame(DiscoveryStat::DropNoServiceName, eth, "PADI");
        };
        if !self.service_ok(service) {
            // RFC 2516 §5.2: the AC must not answer a PADI it cannot serve.
            let what = format_args!("PADI for {:?}", escape(service));
            return self.drop_frame(DiscoveryStat::DropUnknownService, eth, what);
        }
        if self.at_limit(eth) {
            return self.drop_frame(DiscoveryStat::DropLimit, eth, "PADI");
        }
        let cookie = self.cookie(self.bucket(now), eth);
        let max_payload = self.agreed_max_payload(tags);

        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut out = Vec::with_capacity(128);
        reply.emit(&mut out);
        let mut w = TagWriter::new(&mut out, Code::Pado, 0);
        w.tag(TagType::AcName, self.cfg.ac_name.as_bytes());
        // RFC 2516 §5.2: a Service-Name identical to the PADI's, then the
        // other services offered.
        w.tag(TagType::ServiceName, service);
        if service.is_empty() {
            for name in self.cfg.service_names.iter().filter(|n| !n.is_empty()) {
                w.tag(TagType::ServiceName, name.as_bytes());
            }
        }
        w.tag(TagType::AcCookie, &cookie);
        Self::echo_tags(&mut w, tags, max_payload);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADI (PADO over 1500 bytes)",
            );
        }
        w.finish();
        if self.cfg.pado_delay.is_zero() {
            self.transmit.push_back(out);
        } else if self.delayed.len() < MAX_DELAYED_PADO {
            self.delayed.push_back((now + self.cfg.pado_delay, out));
        } else {
            return self.drop_frame(DiscoveryStat::DropPadoBacklog, eth, "PADI");
        }
        self.stats[DiscoveryStat::PadoTx] += 1;
    }

    /// PADI token buckets: the peer's own first (a flooding MAC empties
    /// only its bucket), then the total.
    fn padi_allowed(&mut self, now: Instant, eth: &EthHeader) -> bool {
        if let Some(limit) = self.cfg.padi_rate_per_mac {
            let key = (eth.vlans, eth.src);
            if !self.mac_buckets.contains_key(&key) && self.mac_buckets.len() >= MAX_RATE_BUCKETS {
                self.mac_buckets.retain(|_, b| !b.is_full(limit, now));
            }
            let room = self.mac_buckets.len() < MAX_RATE_BUCKETS;
            let bucket = match self.mac_buckets.get_mut(&key) {
                Some(b) => Some(b),
                None if room => Some(
                    self.mac_buckets
                        .entry(key)
                        .or_insert_with(|| Bucket::full(limit, now)),
                ),
                None => None,
            };
            if let Some(b) = bucket {
                if !b.take(limit, now) {
                    self.drop_frame(DiscoveryStat::DropRateMac, eth, "PADI");
                    return false;
                }
            }
        }
        if let Some(limit) = self.cfg.padi_rate_total {
            let b = self
                .total_bucket
                .get_or_insert_with(|| Bucket::full(limit, now));
            if !b.take(limit, now) {
                self.drop_frame(DiscoveryStat::DropRateTotal, eth, "PADI");
                return false;
            }
        }
        true
    }

    /// RFC 2516 §5.3/§5.4: a PADR with a valid cookie gets a PADS.
    fn handle_padr(
        &mut self,
        now: Instant,
        eth: &EthHeader,
        hdr: &Header,
        tags: &DiscoveryTags<'_>,
    ) {
        if eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADR");
        }
        if hdr.session_id != 0 {
            return self.drop_frame(DiscoveryStat::DropBadSessionId, eth, "PADR");
        }
        self.stats[DiscoveryStat::PadrRx] += 1;
        if !tags.ac_cookie.is_some_and(|c| self.cookie_ok(now, eth, c)) {
            return self.drop_frame(DiscoveryStat::DropBadCookie, eth, "PADR");
        }
        let Some(service) = tags.service_name else {
            return self.drop_frame(DiscoveryStat::DropNoServiceName, eth, "PADR");
        };
        let peer = (eth.vlans, eth.src);

        // A retransmitted PADR (our PADS was lost): same PADS again.
        if let Some(ids) = self.per_peer.get(&peer) {
            for &id in ids {
                let key = SessionKey {
                    vlans: eth.vlans,
                    peer_mac: eth.src,
                    session_id: id,
                };
                let Some(s) = self.sessions.get(&key) else {
                    continue;
                };
                if !s.terminated
                    && !s.active
                    && s.host_uniq.as_deref() == tags.host_uniq
                    && now.saturating_duration_since(s.started) <= PADR_RETRANSMIT_WINDOW
                {
                    self.transmit.push_back(s.pads.clone());
                    self.stats[DiscoveryStat::PadsRetransmit] += 1;
                    log::debug!(
                        "discovery: PADR retransmission from {}, PADS re-sent",
                        fmt_mac(&eth.src)
                    );
                    return;
                }
            }
        }

        if !self.service_ok(service) {
            self.stats[DiscoveryStat::DropUnknownService] += 1;
            log::info!(
                "PADR from {} for unserved service {:?}: Service-Name-Error",
                fmt_mac(&eth.src),
                escape(service)
            );
            self.pads_error(eth, tags, TagType::ServiceNameError, b"service not offered");
            return;
        }
        if self.at_limit(eth) {
            self.stats[DiscoveryStat::DropLimit] += 1;
            log::info!("PADR from {} refused: session limit", fmt_mac(&eth.src));
            self.pads_error(eth, tags, TagType::AcSystemError, b"session limit reached");
            return;
        }
        let max_payload = self.agreed_max_payload(tags);

        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut pads = Vec::with_capacity(64);
        reply.emit(&mut pads);
        // The id is patched in below, once the frame is known to fit.
        let mut w = TagWriter::new(&mut pads, Code::Pads, 0);
        w.tag(TagType::ServiceName, service);
        Self::echo_tags(&mut w, tags, max_payload);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADR (PADS over 1500 bytes)",
            );
        }
        w.finish();
        let Some(id) = self.alloc_id() else {
            self.stats[DiscoveryStat::DropLimit] += 1;
            log::info!(
                "PADR from {} refused: no free session id",
                fmt_mac(&eth.src)
            );
            self.pads_error(eth, tags, TagType::AcSystemError, b"no free session id");
            return;
        };
        let sid_at = reply.header_len() + 2;
        pads[sid_at..sid_at + 2].copy_from_slice(&id.to_be_bytes());

        let key = SessionKey {
            vlans: eth.vlans,
            peer_mac: eth.src,
            session_id: id,
        };
        let service_name = String::from_utf8_lossy(service).into_owned();
        log::info!(
            "PADS session {id:#06x} to {} {} service '{}'",
            fmt_mac(&eth.src),
            eth.vlans,
            escape(service)
        );
        self.transmit.push_back(pads.clone());
        self.stats[DiscoveryStat::PadsTx] += 1;
        self.sessions.insert(
            key,
            Session {
                started: now,
                host_uniq: tags.host_uniq.map(<[u8]>::to_vec),
                relay_session_id: tags.relay_session_id.map(<[u8]>::to_vec),
                pads,
                terminated: false,
                active: false,
            },
        );
        self.per_peer.entry(peer).or_default().push(id);
        if eth.vlans.count() > 0 {
            *self.per_vlan.entry(eth.vlans).or_default() += 1;
        }
        self.events.push_back(DiscoveryEvent::SessionStarted {
            key,
            service_name,
            max_payload,
        });
    }

    /// RFC 2516 §5.5: a PADT from the peer ends a live session.
    fn handle_padt(&mut self, eth: &EthHeader, hdr: &Header) {
        if eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADT");
        }
        let key = SessionKey {
            vlans: eth.vlans,
            peer_mac: eth.src,
            session_id: hdr.session_id,
        };
        match self.sessions.get_mut(&key) {
            Some(s) => {
                self.stats[DiscoveryStat::PadtRx] += 1;
                if !s.terminated {
                    s.terminated = true;
                    log::info!("PADT from peer for {key}");
                    self.events
                        .push_back(DiscoveryEvent::PeerTerminated { key });
                }
            }
            None if self.ended_set.contains(&key) => {
                self.stats[DiscoveryStat::PadtAfterEnd] += 1;
                log::debug!("discovery: PADT for {key}, which already ended");
            }
            None => {
                let what = format_args!("PADT for session {:#06x}", hdr.session_id);
                self.drop_frame(DiscoveryStat::DropUnknownSession, eth, what);
            }
        }
    }

    /// PADS with session id 0 and an error tag (RFC 2516 §5.4).
    fn pads_error(&mut self, eth: &EthHeader, tags: &DiscoveryTags<'_>, ty: TagType, msg: &[u8]) {
        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut out = Vec::with_capacity(64);
        reply.emit(&mut out);
        let mut w = TagWriter::new(&mut out, Code::Pads, 0);
        if let Some(service) = tags.service_name {
            w.tag(TagType::ServiceName, service);
        }
        w.tag(ty, msg);
        Self::echo_tags(&mut w, tags, None);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADR (error PADS over 1500 bytes)",
            );
        }
        w.finish();
        self.transmit.push_back(out);
        self.stats[DiscoveryStat::PadsErrorTx] += 1;
    }

    /// Host-Uniq and Relay-Session-Id echoed byte for byte (RFC 2516 App. A),
    /// PPP-Max-Payload if agreed (RFC 4638).
    fn echo_tags(w: &mut TagWriter<'_>, tags: &DiscoveryTags<'_>, max_payload: Option<u16>) {
        if let Some(hu) = tags.host_uniq {
            w.tag(TagType::HostUniq, hu);
        }
        if let Some(relay) = tags.relay_session_id {
            w.tag(TagType::RelaySessionId, relay);
        }
        if let Some(mp) = max_payload {
            w.tag(TagType::PppMaxPayload, &mp.to_be_bytes());
        }
    }

    fn service_ok(&self, requested: &[u8]) -> bool {
        requested.is_empty()
            || self.cfg.service_names.is_empty()
            || self
                .cfg
                .service_names
                .iter()
                .any(|s| s.as_bytes() == requested)
    }

    fn at_limit(&self, eth: &EthHeader) -> bool {
        let per_peer = self.per_peer.get(&(eth.vlans, eth.src)).map_or(0, Vec::len);
        let per_vlan = self.per_vlan.get(&eth.vlans).copied().unwrap_or(0);
        self.sessions.len() >= self.cfg.max_sessions
            || per_peer >= self.cfg.max_sessions_per_mac
            || (self.cfg.max_sessions_per_vlan > 0
                && eth.vlans.count() > 0
                && per_vlan >= self.cfg.max_sessions_per_vlan)
    }

    fn agreed_max_payload(&self, tags: &DiscoveryTags<'_>) -> Option<u16> {
        if self.cfg.max_payload < MIN_MAX_PAYLOAD {
            return None;
        }
        tags.ppp_max_payload
            .filter(|&v| v >= MIN_MAX_PAYLOAD)
            .map(|v| v.min(self.cfg.max_payload).min(MAX_PAYLOAD_CAP))
    }

    fn alloc_id(&mut self) -> Option<u16> {
        for _ in 0..MAX_ID {
            let id = self.next_id;
            self.next_id = if id >= MAX_ID { 1 } else { id + 1 };
            if !self.ids.contains(&id) {
                self.ids.insert(id);
                return Some(id);
            }
        }
        None
    }

    fn bucket(&self, now: Instant) -> u64 {
        let epoch = self.epoch.unwrap_or(now);
        now.saturating_duration_since(epoch).as_secs() / COOKIE_BUCKET.as_secs()
    }

    /// MD5(key ‖ AC MAC ‖ peer MAC ‖ VLAN tags ‖ bucket ‖ key).
    fn cookie(&self, bucket: u64, eth: &EthHeader) -> [u8; COOKIE_LEN] {
        let mut h = Md5::new();
        h.update(self.cfg.cookie_key);
        h.update(self.cfg.local_mac);
        h.update(eth.src);
        for tag in [eth.vlans.outer, eth.vlans.inner] {
            match tag {
                Some(t) => {
                    h.update([1]);
                    h.update(t.tpid.to_be_bytes());
                    h.update(t.vid.to_be_bytes());
                }
                None => h.update([0; 5]),
            }
        }
        h.update(bucket.to_be_bytes());
        h.update(self.cfg.cookie_key);
        h.finalize().into()
    }

    fn cookie_ok(&self, now: Instant, eth: &EthHeader, cookie: &[u8]) -> bool {
        let b = self.bucket(now);
        let eq = |c: &[u8; COOKIE_LEN]| {
            cookie.len() == COOKIE_LEN
                && c.iter().zip(cookie).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        };
        eq(&self.cookie(b, eth)) || (b > 0 && eq(&self.cookie(b - 1, eth)))
    }
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::wire::eth::VlanTag;

    const AC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
    const CPE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
    const CPE2: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
    const HU: &[u8] = &[0xde, 0xad, 0xbe, 0xef];

    fn cfg() -> DiscoveryConfig {
        DiscoveryConfig {
            ac_name: "bras".into(),
            service_names: vec![],
            cookie_key: [0; 16],
            max_sessions: 100,
            max_sessions_per_mac: 4,
            max_payload: MAX_PAYLOAD_CAP,
            local_mac: AC,
            ..DiscoveryConfig::default()
        }
    }

    fn eth(dst: [u8; 6], src: [u8; 6], vlans: Vlans) -> EthHeader {
        EthHeader {
            dst,
            src,
            vlans,
            ethertype: ETHERTYPE_PPPOE_DISCOVERY,
        }
    }

    /// Builds a full frame, padded to 60 bytes like a real NIC would.
    fn frame(e: &EthHeader, code: Code, sid: u16, tags: &[(TagType, &[u8])]) -> Vec<u8> {
        let mut f = pppoe::discovery_frame(e, code, sid, tags);
        if f.len() < 60 {
            f.resize(60, 0);
        }
        f
    }

    fn feed(d: &mut Discovery, now: Instant, f: &[u8]) {
        let (e, p) = EthHeader::parse(f).unwrap();
        d.handle_frame(now, &e, p);
    }

    struct Reply {
        eth: EthHeader,
        hdr: Header,
        tags: Vec<(TagType, Vec<u8>)>,
    }

    fn decode(f: &[u8]) -> Reply {
        let (eth, p) = EthHeader::parse(f).unwrap();
        let (hdr, body) = Header::parse(p).unwrap();
        assert_eq!(p.len(), body.len() + 6, "no trailing bytes in our frames");
        let tags = pppoe::tags(body)
            .map(|t| t.map(|t| (t.ty, t.value.to_vec())))
            .collect::<Result<_, _>>()
            .unwrap();
        Reply { eth, hdr, tags }
    }

    impl Reply {
        fn tag(&self, ty: TagType) -> Option<&[u8]> {
            self.tags
                .iter()
                .find(|(t, _)| *t == ty)
                .map(|(_, v)| v.as_slice())
        }
    }

    fn padi(
        d: &mut Discovery,
        now: Instant,
        src: [u8; 6],
        vlans: Vlans,
        tags: &[(TagType, &[u8])],
    ) -> Option<Reply> {
        feed(
            d,
            now,
            &frame(&eth(BROADCAST, src, vlans), Code::Padi, 0, tags),
        );
        d.poll_transmit().map(|f| decode(&f))
    }

    /// PADI → PADO → PADR with the offered cookie; returns the reply to PADR.
    fn connect(
        d: &mut Discovery,
        now: Instant,
        src: [u8; 6],
        vlans: Vlans,
        hu: Option<&[u8]>,
    ) -> Option<Reply> {
        let mut tags: Vec<(TagType, &[u8])> = vec![(TagType::ServiceName, b"")];
        if let Some(hu) = hu {
            tags.push((TagType::HostUniq, hu));
        }
        let pado = padi(d, now, src, vlans, &tags)?;
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        tags.push((TagType::AcCookie, &cookie));
        feed(d, now, &frame(&eth(AC, src, vlans), Code::Padr, 0, &tags));
        d.poll_transmit().map(|f| decode(&f))
    }

    #[test]
    fn pado_byte_exact() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        let f = frame(
            &eth(BROADCAST, CPE, Vlans::NONE),
            Code::Padi,
            0,
            &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
        );
        assert_eq!(f.len(), 60);
        feed(&mut d, t0, &f);
        let pado = d.poll_transmit().unwrap();
        assert!(d.poll_transmit().is_none());
        let cookie = d.cookie(0, &eth(BROADCAST, CPE, Vlans::NONE));
        let mut expect = vec![
            0x02, 0, 0, 0, 0, 0x01, // dst = CPE
            0x02, 0, 0, 0, 0, 0xfe, // src = AC
            0x88, 0x63, // discovery
            0x11, 0x07, 0x00, 0x00, 0x00, 0x28, // PADO, sid 0, len 8+4+20+8 = 40
            0x01, 0x02, 0x00, 0x04, b'b', b'r', b'a', b's', // AC-Name
            0x01, 0x01, 0x00, 0x00, // Service-Name ""
            0x01, 0x04, 0x00, 0x10, // AC-Cookie
        ];
        expect.extend_from_slice(&cookie);
        expect.extend_from_slice(&[0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]);
        assert_eq!(pado, expect);
        assert_eq!(d.stats()[DiscoveryStat::PadiRx], 1);
        assert_eq!(d.stats()[DiscoveryStat::PadoTx], 1);
        assert_eq!(d.live_sessions(), 0, "PADO keeps no state");
    }

    /// PADI as in tcpdump's `tests/pppoe.pcap` (printed as `PADI [Service-Name]
    /// [PPP-Max-Payload 0x05DC] [Host-Uniq 0x16372C16]`), padded to 60 bytes.
    const TCPDUMP_PADI: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x63, //
        0x11, 0x09, 0x00, 0x00, 0x00, 0x12, // PADI, sid 0, len 18
        0x01, 0x01, 0x00, 0x00, // Service-Name ""
        0x01, 0x20, 0x00, 0x02, 0x05, 0xdc, // PPP-Max-Payload 1500
        0x01, 0x03, 0x00, 0x04, 0x16, 0x37, 0x2c, 0x16, // Host-Uniq
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
    ];

    #[test]
    fn tcpdump_padi_gets_rfc4638_pado() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        feed(&mut d, t0, &TCPDUMP_PADI);
        let pado = d.poll_transmit().unwrap();
        let cookie = d.cookie(0, &eth(BROADCAST, CPE, Vlans::NONE));
        let mut expect = vec![
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, //
            0x11, 0x07, 0x00, 0x00, 0x00, 0x2e, // PADO, len 8+4+20+8+6 = 46
            0x01, 0x02, 0x00, 0x04, b'b', b'r', b'a', b's', //
            0x01, 0x01, 0x00, 0x00, //
            0x01, 0x04, 0x00, 0x10,
        ];
        expect.extend_from_slice(&cookie);
        expect.extend_from_slice(&[0x01, 0x03, 0x00, 0x04, 0x16, 0x37, 0x2c, 0x16]);
        expect.extend_from_slice(&[0x01, 0x20, 0x00, 0x02, 0x05, 0xdc]);
        assert_eq!(pado, expect);
    }

    #[test]
    fn config_debug_hides_key_and_stats_are_named() {
        let c = DiscoveryConfig {
            cookie_key: [0x5a; 16],
            ..cfg()
        };
        let s = format!("{c:?}");
        assert!(s.contains("<hidden>") && !s.contains("90"), "{s}");
        let mut d = Discovery::new(c);
        assert!(padi(
            &mut d,
            Instant::now(),
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b"")]
        )
        .is_some());
        let counters = d.stats().counters();
        assert!(counters.contains(&("padi_rx", 1)) && counters.contains(&("pado_tx", 1)));
        assert_eq!(counters.iter().map(|c| c.1).sum::<u64>(), 2);
    }

    #[test]
    fn padr_round_trip_byte_exact_pads() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        let pads = connect(&mut d, t0, CPE, Vlans::NONE, Some(HU)).unwrap();
        assert_eq!(pads.hdr.code, Code::Pads);
        let id = pads.hdr.session_id;
        assert_eq!(id, 1, "key 0 starts the rotation at 1");
        let key = SessionKey {
            vlans: Vlans::NONE,
            peer_mac: CPE,
            session_id: id,
        };
        let mut raw = Vec::new();
        pads.eth.emit(&mut raw);
        assert_eq!(
            raw,
            [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63]
        );
        assert_eq!(
            pads.tags,
            vec![
                (TagType::ServiceName, vec![]),
                (TagType::HostUniq, HU.to_vec())
            ]
        );
        assert_eq!(pads.hdr.length, 12);
        assert_eq!(
            d.poll_event(),
            Some(DiscoveryEvent::SessionStarted {
                key,
                service_name: String::new(),
                max_payload: None
            })
        );
        assert_eq!(d.poll_event(), None);
        assert_eq!(d.live_sessions(), 1);
        assert!(d.is_live(&key));
        assert_eq!(d.stats()[DiscoveryStat::PadsTx], 1);

        // A second session from another CPE gets the next id.
        let pads2 = connect(&mut d, t0, CPE2, Vlans::NONE, None).unwrap();
        assert_eq!(pads2.hdr.session_id, 2);
        assert!(pads2.tag(TagType::HostUniq).is_none());
    }

    #[test]
    fn cookie_from_another_mac_or_forged_is_rejected() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        // CPE2 replays CPE's cookie.
        let tags: &[(TagType, &[u8])] =
            &[(TagType::ServiceName, b""), (TagType::AcCookie, &cookie)];
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padr, 0, tags),
        );
        // Same MAC on another VLAN.
        let v = Vlans::single(VlanTag::dot1q(5));
        feed(&mut d, t0, &frame(&eth(AC, CPE, v), Code::Padr, 0, tags));
        // No cookie, short cookie, forged cookie.
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[(TagType::ServiceName, b"")],
            ),
        );
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[
                    (TagType::ServiceName, b""),
                    (TagType::AcCookie, &cookie[..15]),
                ],
            ),
        );
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[(TagType::ServiceName, b""), (TagType::AcCookie, &[0; 16])],
            ),
        );
        assert!(d.poll_transmit().is_none());
        assert!(d.poll_event().is_none());
        assert_eq!(d.stats()[DiscoveryStat::DropBadCookie], 5);
        // A daemon with another key does not accept it either.
        let mut other = Discovery::new(DiscoveryConfig {
            cookie_key: [1; 16],
            ..cfg()
        });
        feed(
            &mut other,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, tags),
        );
        assert_eq!(other.stats()[DiscoveryStat::DropBadCookie], 1);
        // The owner's PADR is accepted.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, tags),
        );
        assert!(d.poll_transmit().is_some());
    }

    #[test]
    fn cookie_expires_after_previous_bucket() {
        let t0 = Instant::now();
        let tags_for = |cookie: &[u8]| {
            vec![
                (TagType::ServiceName, Vec::new()),
                (TagType::AcCookie, cookie.to_vec()),
            ]
        };
        for (delay, accepted) in [
            (0, true),
            (59, true),
            (61, true),
            (119, true),
            (120, false),
            (600, false),
        ] {
            let mut d = Discovery::new(cfg());
            let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
            let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
            let tags = tags_for(&cookie);
            let tags: Vec<(TagType, &[u8])> =
                tags.iter().map(|(t, v)| (*t, v.as_slice())).collect();
            feed(
                &mut d,
                t0 + Duration::from_secs(delay),
                &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, &tags),
            );
            assert_eq!(d.poll_transmit().is_some(), accepted, "delay {delay}");
            assert_eq!(
                d.stats()[DiscoveryStat::DropBadCookie],
                u64::from(!accepted)
            );
        }
    }

    #[test]
    fn retransmitted_padr_gets_same_pads() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
        )
        .unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        let padr = frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::HostUniq, HU),
                (TagType::AcCookie, &cookie),
            ],
        );
        feed(&mut d, t0, &padr);
        let first = d.poll_transmit().unwrap();
        feed(&mut d, t0 + Duration::from_secs(3), &padr);
        let second = d.poll_transmit().unwrap();
        assert_eq!(first, second);
        assert!(matches!(
            d.poll_event(),
            Some(DiscoveryEvent::SessionStarted { .. })
        ));
        assert_eq!(d.poll_event(), None, "one event only");
        assert_eq!(d.live_sessions(), 1);
        assert_eq!(d.stats()[DiscoveryStat::PadsRetransmit], 1);

        // Another Host-Uniq from the same MAC is a second session.
        let padr_b = frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::HostUniq, b"other"),
                (TagType::AcCookie, &cookie),
            ],
        );
        feed(&mut d, t0 + Duration::from_secs(4), &padr_b);
        assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 2);
        assert_eq!(d.live_sessions(), 2);

        // After the window, the same PADR starts a new session.
        feed(&mut d, t0 + Duration::from_secs(11), &padr);
        assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 3);
        assert_eq!(d.live_sessions(), 3);

        // Within the window, but the peer already spoke PPP on its session:
        // a restarted client (same MAC and Host-Uniq) gets a new session
        // instead of the live one.
        let key3 = SessionKey {
            vlans: Vlans::NONE,
            peer_mac: CPE,
            session_id: 3,
        };
        d.session_active(&key3);
        feed(&mut d, t0 + Duration::from_secs(12), &padr);
        assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 4);
        assert_eq!(d.live_sessions(), 4);
        assert_eq!(d.stats()[DiscoveryStat::PadsRetransmit], 1);
    }

    #[test]
    fn limits_answer_ac_system_error() {
        let t0 = Instant::now();
        // Per MAC.
        let mut d = Discovery::new(DiscoveryConfig {
            max_sessions_per_mac: 1,
            ..cfg()
        });
        let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        assert!(connect(&mut d, t0, CPE, Vlans::NONE, None).is_some());
        let _ = d.poll_event();
        // PADI now ignored.
        assert!(padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).is_none());
        // PADR (with a still valid cookie, beyond the retransmit window) refused.
        feed(
            &mut d,
            t0 + Duration::from_secs(30),
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[
                    (TagType::ServiceName, b""),
                    (TagType::HostUniq, HU),
                    (TagType::AcCookie, &cookie),
                ],
            ),
        );
        let pads = decode(&d.poll_transmit().unwrap());
        assert_eq!(pads.hdr.code, Code::Pads);
        assert_eq!(pads.hdr.session_id, 0);
        assert_eq!(
            pads.tag(TagType::AcSystemError),
            Some(&b"session limit reached"[..])
        );
        assert_eq!(pads.tag(TagType::HostUniq), Some(HU));
        assert_eq!(d.poll_event(), None);
        assert_eq!(d.stats()[DiscoveryStat::DropLimit], 2);
        assert_eq!(d.stats()[DiscoveryStat::PadsErrorTx], 1);
        // Another MAC is still served.
        assert!(connect(&mut d, t0, CPE2, Vlans::NONE, None).is_some());

        // Total.
        let mut d = Discovery::new(DiscoveryConfig {
            max_sessions: 1,
            ..cfg()
        });
        let pado = padi(
            &mut d,
            t0,
            CPE2,
            Vlans::NONE,
            &[(TagType::ServiceName, b"")],
        )
        .unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        assert_eq!(
            connect(&mut d, t0, CPE, Vlans::NONE, None)
                .unwrap()
                .hdr
                .session_id,
            1
        );
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE2, Vlans::NONE),
                Code::Padr,
                0,
                &[(TagType::ServiceName, b""), (TagType::AcCookie, &cookie)],
            ),
        );
        let pads = decode(&d.poll_transmit().unwrap());
        assert_eq!(pads.hdr.session_id, 0);
        assert!(pads.tag(TagType::AcSystemError).is_some());
        // Releasing frees room; the id is not reused at once.
        d.release(&SessionKey {
            vlans: Vlans::NONE,
            peer_mac: CPE,
            session_id: 1,
        });
        assert_eq!(d.live_sessions(), 0);
        assert_eq!(
            connect(&mut d, t0, CPE2, Vlans::NONE, None)
                .unwrap()
                .hdr
                .session_id,
            2
        );
    }

    #[test]
    fn service_names() {
        let t0 = Instant::now();
        let mut d = Discovery::new(DiscoveryConfig {
            service_names: vec!["internet".into(), "iptv".into()],
            ..cfg()
        });
        // Blank request: echo it, then offer the list.
        let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
        let names: Vec<&[u8]> = pado
            .tags
            .iter()
            .filter(|(t, _)| *t == TagType::ServiceName)
            .map(|(_, v)| v.as_slice())
            .collect();
        assert_eq!(names, vec![&b""[..], b"internet", b"iptv"]);
        // Named request we serve: echoed alone.
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b"iptv")],
        )
        .unwrap();
        let names: Vec<_> = pado
            .tags
            .iter()
            .filter(|(t, _)| *t == TagType::ServiceName)
            .collect();
        assert_eq!(names, vec![&(TagType::ServiceName, b"iptv".to_vec())]);
        // Unserved: silence.
        assert!(padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b"voip")]
        )
        .is_none());
        assert_eq!(d.stats()[DiscoveryStat::DropUnknownService], 1);
        // No Service-Name tag: malformed PADI, silence.
        assert!(padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::HostUniq, HU)]).is_none());
        assert_eq!(d.stats()[DiscoveryStat::DropNoServiceName], 1);

        // PADR for an unserved service (valid cookie): Service-Name-Error, sid 0.
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[
                    (TagType::ServiceName, b"voip"),
                    (TagType::AcCookie, &cookie),
                ],
            ),
        );
        let pads = decode(&d.poll_transmit().unwrap());
        assert_eq!(pads.hdr.session_id, 0);
        assert_eq!(pads.tag(TagType::ServiceName), Some(&b"voip"[..]));
        assert!(pads.tag(TagType::ServiceNameError).is_some());
        assert_eq!(d.poll_event(), None);
        // PADR for a served one: event carries the name.
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[
                    (TagType::ServiceName, b"iptv"),
                    (TagType::AcCookie, &cookie),
                ],
            ),
        );
        assert_ne!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 0);
        assert!(matches!(
            d.poll_event(),
            Some(DiscoveryEvent::SessionStarted { service_name, .. }) if service_name == "iptv"
        ));

        // Empty list: any name is fine.
        let mut d = Discovery::new(cfg());
        assert!(padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b"whatever")]
        )
        .is_some());
    }

    #[test]
    fn padt_matching_and_not() {
        let mut d = Discovery::new(cfg());
        let t0 = Instant::now();
        let relay: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[
                (TagType::ServiceName, b""),
                (TagType::RelaySessionId, relay),
            ],
        )
        .unwrap();
        assert_eq!(pado.tag(TagType::RelaySessionId), Some(relay));
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::NONE),
                Code::Padr,
                0,
                &[
                    (TagType::ServiceName, b""),
                    (TagType::AcCookie, &cookie),
                    (TagType::RelaySessionId, relay),
                ],
            ),
        );
        let pads = decode(&d.poll_transmit().unwrap());
        assert_eq!(pads.tag(TagType::RelaySessionId), Some(relay));
        let id = pads.hdr.session_id;
        let key = SessionKey {
            vlans: Vlans::NONE,
            peer_mac: CPE,
            session_id: id,
        };
        let _ = d.poll_event();

        // Wrong id, wrong MAC, wrong VLAN, not to us: ignored.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id + 1, &[]),
        );
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padt, id, &[]),
        );
        feed(
            &mut d,
            t0,
            &frame(
                &eth(AC, CPE, Vlans::single(VlanTag::dot1q(7))),
                Code::Padt,
                id,
                &[],
            ),
        );
        feed(
            &mut d,
            t0,
            &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padt, id, &[]),
        );
        assert_eq!(d.poll_event(), None);
        assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 3);
        assert_eq!(d.stats()[DiscoveryStat::DropBadDstMac], 1);

        // Matching: one event even if repeated.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
        );
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
        );
        assert_eq!(d.poll_event(), Some(DiscoveryEvent::PeerTerminated { key }));
        assert_eq!(d.poll_event(), None);
        assert!(d.poll_transmit().is_none());
        assert_eq!(d.live_sessions(), 1, "release is the manager's call");

        // Our PADT: byte exact, echoes the Relay-Session-Id.
        let padt = d.padt_with_error(&key, "bye");
        let mut expect = vec![
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, // eth
            0x11, 0xa7, 0x00, 0x01, 0x00, 0x17, // PADT sid 1, len 16 + 7
            0x01, 0x10, 0x00, 0x0c, // Relay-Session-Id
        ];
        expect.extend_from_slice(relay);
        expect.extend_from_slice(&[0x02, 0x03, 0x00, 0x03, b'b', b'y', b'e']);
        assert_eq!(padt, expect);

        d.release(&key);
        d.release(&key);
        assert_eq!(d.live_sessions(), 0);
        assert_eq!(
            d.padt(&key),
            [
                0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, 0x11, 0xa7, 0x00, 0x01,
                0x00, 0x00
            ]
        );
        // PADT after release: the tail of a hang-up, counted as such, not
        // as a drop and not as an event.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
        );
        assert_eq!(d.poll_event(), None);
        assert_eq!(d.stats()[DiscoveryStat::PadtAfterEnd], 1);
        assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 3);
        // The same id from another MAC never was a session: a drop.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padt, id, &[]),
        );
        assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 4);
    }

    #[test]
    fn vlan_tags_are_mirrored() {
        let t0 = Instant::now();
        for vlans in [
            Vlans::single(VlanTag::dot1q(100)),
            Vlans::double(VlanTag::dot1ad(10), VlanTag::dot1q(20)),
            Vlans::double(VlanTag::dot1q(10), VlanTag::dot1q(20)),
        ] {
            let mut d = Discovery::new(cfg());
            let f = frame(
                &eth(BROADCAST, CPE, vlans),
                Code::Padi,
                0,
                &[(TagType::ServiceName, b"")],
            );
            feed(&mut d, t0, &f);
            let raw = d.poll_transmit().unwrap();
            let hl = eth(CPE, AC, vlans).header_len();
            assert_eq!(&raw[12..hl - 2], &f[12..hl - 2], "tags copied verbatim");
            let pado = decode(&raw);
            assert_eq!(pado.eth.vlans, vlans);
            assert_eq!(pado.eth.dst, CPE);
            let pads = connect(&mut d, t0, CPE, vlans, None).unwrap();
            assert_eq!(pads.eth.vlans, vlans);
            let Some(DiscoveryEvent::SessionStarted { key, .. }) = d.poll_event() else {
                panic!("no session");
            };
            assert_eq!(key.vlans, vlans);
            assert_eq!(EthHeader::parse(&d.padt(&key)).unwrap().0.vlans, vlans);
        }
    }

    #[test]
    fn ppp_max_payload() {
        let t0 = Instant::now();
        let mut d = Discovery::new(cfg());
        for (asked, agreed) in [
            (1500u16, Some(1500u16)),
            (1492, Some(1492)),
            (9000, Some(MAX_PAYLOAD_CAP)),
            (1400, None),
        ] {
            let tags: &[(TagType, &[u8])] = &[
                (TagType::ServiceName, b""),
                (TagType::PppMaxPayload, &asked.to_be_bytes()),
            ];
            let pado = padi(&mut d, t0, CPE, Vlans::NONE, tags).unwrap();
            assert_eq!(
                pado.tag(TagType::PppMaxPayload),
                agreed.map(|v| v.to_be_bytes().to_vec()).as_deref()
            );
            let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
            let mut padr_tags = tags.to_vec();
            padr_tags.push((TagType::AcCookie, &cookie));
            feed(
                &mut d,
                t0,
                &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, &padr_tags),
            );
            let pads = decode(&d.poll_transmit().unwrap());
            assert_eq!(
                pads.tag(TagType::PppMaxPayload),
                agreed.map(|v| v.to_be_bytes().to_vec()).as_deref()
            );
            let Some(DiscoveryEvent::SessionStarted {
                key, max_payload, ..
            }) = d.poll_event()
            else {
                panic!()
            };
            assert_eq!(max_payload, agreed);
            d.release(&key);
        }
        // Disabled: never echoed.
        let mut d = Discovery::new(DiscoveryConfig {
            max_payload: 0,
            ..cfg()
        });
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[
                (TagType::ServiceName, b""),
                (TagType::PppMaxPayload, &[0x05, 0xdc]),
            ],
        )
        .unwrap();
        assert!(pado.tag(TagType::PppMaxPayload).is_none());
    }

    #[test]
    fn drops_are_counted() {
        let t0 = Instant::now();
        let mut d = Discovery::new(cfg());
        let sn: &[(TagType, &[u8])] = &[(TagType::ServiceName, b"")];
        // Multicast / zero source.
        feed(
            &mut d,
            t0,
            &frame(&eth(BROADCAST, BROADCAST, Vlans::NONE), Code::Padi, 0, sn),
        );
        feed(
            &mut d,
            t0,
            &frame(
                &eth(BROADCAST, [1, 0, 0x5e, 0, 0, 1], Vlans::NONE),
                Code::Padi,
                0,
                sn,
            ),
        );
        feed(
            &mut d,
            t0,
            &frame(&eth(BROADCAST, [0; 6], Vlans::NONE), Code::Padi, 0, sn),
        );
        assert_eq!(d.stats()[DiscoveryStat::DropBadSrcMac], 3);
        // PADI to someone else; PADR broadcast.
        feed(
            &mut d,
            t0,
            &frame(&eth(CPE2, CPE, Vlans::NONE), Code::Padi, 0, sn),
        );
        feed(
            &mut d,
            t0,
            &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padr, 0, sn),
        );
        assert_eq!(d.stats()[DiscoveryStat::DropBadDstMac], 2);
        // PADI unicast to us is fine.
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padi, 0, sn),
        );
        assert!(d.poll_transmit().is_some());
        // Non-zero session id.
        feed(
            &mut d,
            t0,
            &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padi, 5, sn),
        );
        assert_eq!(d.stats()[DiscoveryStat::DropBadSessionId], 1);
        // PADO / PADS / unknown code sent to us.
        for code in [Code::Pado, Code::Pads, Code::Session, Code::Unknown(0x42)] {
            feed(&mut d, t0, &frame(&eth(AC, CPE, Vlans::NONE), code, 0, sn));
        }
        assert_eq!(d.stats()[DiscoveryStat::DropUnexpectedCode], 4);
        // Bad version.
        let mut f = frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padi, 0, sn);
        f[14] = 0x21;
        feed(&mut d, t0, &f);
        assert_eq!(d.stats()[DiscoveryStat::DropBadVersion], 1);
        // Wrong ethertype.
        let e = EthHeader {
            ethertype: 0x0800,
            ..eth(BROADCAST, CPE, Vlans::NONE)
        };
        d.handle_frame(t0, &e, &f[14..]);
        assert_eq!(d.stats()[DiscoveryStat::DropEthertype], 1);
        // Tag past the end of LENGTH.
        let mut f = frame(
            &eth(BROADCAST, CPE, Vlans::NONE),
            Code::Padi,
            0,
            &[(TagType::ServiceName, b"abc")],
        );
        f[19] = 5; // LENGTH 7 → value cut
        feed(&mut d, t0, &f);
        assert_eq!(d.stats()[DiscoveryStat::DropMalformed], 1);
        // Unknown tags are ignored, not a reason to reject.
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[
                (TagType::Unknown(0x7777), b"x"),
                (TagType::ServiceName, b""),
            ],
        );
        assert!(pado.is_some());
        assert!(d.poll_transmit().is_none());
        assert!(d.poll_event().is_none());
    }

    #[test]
    fn drop_reasons_count_under_their_stats_names() {
        use DiscoveryStat as R;
        let all = [
            R::DropEthertype,
            R::DropBadSrcMac,
            R::DropBadDstMac,
            R::DropBadVersion,
            R::DropMalformed,
            R::DropBadSessionId,
            R::DropUnexpectedCode,
            R::DropNoServiceName,
            R::DropUnknownService,
            R::DropBadCookie,
            R::DropLimit,
            R::DropTooBig,
            R::DropUnknownSession,
            R::DropVlan,
            R::DropRateMac,
            R::DropRateTotal,
            R::DropPadoBacklog,
        ];
        let mut stats = DiscoveryStats::default();
        for (i, &reason) in all.iter().enumerate() {
            let name = reason.name();
            stats[reason] += 1 + i as u64;
            assert!(
                stats.counters().contains(&(name, 1 + i as u64)),
                "{reason:?} counts as {name}"
            );
        }
        // Every drop_* counter has its reason, each a different one.
        let drops: Vec<_> = stats
            .counters()
            .into_iter()
            .filter(|(name, _)| name.starts_with("drop_"))
            .collect();
        assert_eq!(drops.len(), all.len());
        assert!(drops.iter().all(|&(_, v)| v > 0));
    }

    #[test]
    fn oversized_echo_is_not_sent() {
        let t0 = Instant::now();
        let mut d = Discovery::new(cfg());
        let big = vec![0xab; 1480];
        let f = pppoe::discovery_frame(
            &eth(BROADCAST, CPE, Vlans::NONE),
            Code::Padi,
            0,
            &[(TagType::ServiceName, b""), (TagType::HostUniq, &big)],
        );
        feed(&mut d, t0, &f);
        assert!(d.poll_transmit().is_none());
        assert_eq!(d.stats()[DiscoveryStat::DropTooBig], 1);
    }

    #[test]
    fn id_allocation_skips_live_and_reserved() {
        let mut d = Discovery::new(DiscoveryConfig {
            cookie_key: [0xff, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
            ..cfg()
        });
        // 0xfffd % 0xfffe + 1 = 0xfffe: the last usable id, then wrap to 1.
        assert_eq!(d.alloc_id(), Some(0xfffe));
        assert_eq!(d.alloc_id(), Some(1));
        d.ids.insert(2);
        assert_eq!(d.alloc_id(), Some(3));
        // Exhaustion.
        let mut d = Discovery::new(cfg());
        for _ in 0..MAX_ID {
            assert!(d.alloc_id().is_some());
        }
        assert_eq!(d.alloc_id(), None);
        assert!(!d.ids.contains(&0) && !d.ids.contains(&0xffff));
    }

    #[test]
    fn prefixes_and_garbage_never_panic() {
        let t0 = Instant::now();
        let mut d = Discovery::new(cfg());
        let pado = padi(
            &mut d,
            t0,
            CPE,
            Vlans::NONE,
            &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
        )
        .unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        let v = Vlans::double(VlanTag::dot1ad(1), VlanTag::dot1q(2));
        let padr = pppoe::discovery_frame(
            &eth(AC, CPE, v),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::HostUniq, HU),
                (TagType::AcCookie, &cookie),
                (TagType::PppMaxPayload, &[5, 0xdc]),
            ],
        );
        for n in 0..=padr.len() {
            if let Ok((e, p)) = EthHeader::parse(&padr[..n]) {
                d.handle_frame(t0, &e, p);
            }
        }
        while d.poll_transmit().is_some() {}
        // Random mutations of a valid PADR and pure random frames.
        let mut s = crate::ppp::rng::Rng::seeded(0x9e37_79b9_7f4a_7c15);
        for i in 0..20_000 {
            let mut f = padr.clone();
            if i & 1 == 0 {
                for _ in 0..(s.next_u64() % 4 + 1) {
                    let at = (s.next_u64() as usize) % f.len();
                    f[at] = s.next_u64() as u8;
                }
                f.truncate((s.next_u64() as usize) % (f.len() + 1));
            } else {
                let len = (s.next_u64() % 100) as usize;
                f = (0..len).map(|_| s.next_u64() as u8).collect();
            }
            if let Ok((e, p)) = EthHeader::parse(&f) {
                d.handle_frame(t0, &e, p);
            }
            // And the payload without any Ethernet check at all.
            d.handle_frame(t0, &eth(AC, CPE2, Vlans::NONE), &f);
            while d.poll_transmit().is_some() {}
            while let Some(ev) = d.poll_event() {
                if let DiscoveryEvent::SessionStarted { key, .. } = ev {
                    d.release(&key);
                }
            }
        }
    }
}
