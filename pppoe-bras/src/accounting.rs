//! Accounting records (RFC 2866 style): one per session start, interim
//! update and stop, with the data plane's counters.
//!
//! Sans-IO. The shell (`driver`) calls [`Accounting::start`] when a
//! session's data path is installed the first time, [`Accounting::carry`]
//! when rows are replaced (address change: the old counters are kept),
//! [`Accounting::due`]/[`Accounting::interim`] when [`Accounting::poll_timeout`]
//! is reached, and [`Accounting::stop`] with the final counters when the
//! session ends. Each returns the [`Record`] to write (JSON line) and/or to
//! send (RADIUS Accounting-Request).

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap},
    net::Ipv4Addr,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde::Serialize;

use crate::{discovery::SessionKey, ppp::DownReason, query::Counters, wire::eth::fmt_mac};

/// RFC 2866 §5.10 Acct-Terminate-Cause.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum TerminateCause {
    UserRequest = 1,
    LostCarrier = 2,
    LostService = 3,
    IdleTimeout = 4,
    SessionTimeout = 5,
    AdminReset = 6,
    AdminReboot = 7,
    PortError = 8,
    NasError = 9,
    NasRequest = 10,
    NasReboot = 11,
    UserError = 17,
}

impl TerminateCause {
    /// The RADIUS attribute value.
    pub fn code(self) -> u32 {
        self as u32
    }

    /// What ended a PPP link, as RFC 2866 names it.
    pub fn from_down(reason: &DownReason) -> TerminateCause {
        match reason {
            DownReason::PeerTerminate | DownReason::Padt | DownReason::NoNetwork(_) => {
                TerminateCause::UserRequest
            }
            DownReason::EchoTimeout => TerminateCause::LostCarrier,
            DownReason::AdminClose => TerminateCause::AdminReset,
            DownReason::SessionTimeout => TerminateCause::SessionTimeout,
            DownReason::IdleTimeout => TerminateCause::IdleTimeout,
            DownReason::NasError => TerminateCause::NasError,
            DownReason::LoopedBack => TerminateCause::PortError,
            DownReason::AuthFailed
            | DownReason::AuthTimeout
            | DownReason::NegotiationFailed(_)
            | DownReason::PeerInsists { .. } => TerminateCause::UserError,
        }
    }
}

/// Acct-Status-Type (RFC 2866 §5.1) of a record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Start = 1,
    Stop = 2,
    InterimUpdate = 3,
}

/// A session's public NAT endpoint range.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct NatBlock {
    pub address: Ipv4Addr,
    pub first_port: u16,
    pub last_port: u16,
}

/// What a session is, for its records (known when its data path goes in).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionMeta {
    pub acct_session_id: String,
    pub user: String,
    pub address: Option<Ipv4Addr>,
    pub nat: Option<NatBlock>,
    /// RADIUS Class attributes of the Access-Accept, echoed in accounting.
    pub class: Vec<Vec<u8>>,
    /// Acct-Interim-Interval from RADIUS (overrides the configured one).
    pub interim: Option<Duration>,
    /// The session's /64 (RFC 6911 Framed-IPv6-Prefix in accounting).
    pub ipv6: Option<Prefix6>,
    /// Its delegated prefix (RFC 4818 Delegated-IPv6-Prefix).
    pub delegated: Option<Prefix6>,
}

/// An IPv6 prefix and its length.
pub type Prefix6 = (std::net::Ipv6Addr, u8);

fn prefix_text<S: serde::Serializer>(p: &Option<Prefix6>, s: S) -> Result<S::Ok, S::Error> {
    match p {
        Some((a, l)) => s.serialize_str(&format!("{a}/{l}")),
        None => s.serialize_none(),
    }
}

/// One accounting record (one JSON line of `accounting_log`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Record {
    /// Wall clock, seconds since the Unix epoch.
    pub time: u64,
    pub status: Status,
    pub acct_session_id: String,
    /// PPPoE session id, `0x0001`.
    pub session_id: String,
    pub user: String,
    pub client_mac: String,
    /// VLAN ids, outer first (empty: untagged).
    pub vlans: Vec<u16>,
    pub framed_address: Option<Ipv4Addr>,
    /// `"2001:db8:100:1::/64"`.
    #[serde(
        serialize_with = "prefix_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub framed_ipv6_prefix: Option<Prefix6>,
    #[serde(
        serialize_with = "prefix_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub delegated_ipv6_prefix: Option<Prefix6>,
    pub nat: Option<NatBlock>,
    /// From the subscriber (RADIUS Acct-Input-*: what the NAS received).
    pub input_octets: u64,
    pub input_packets: u64,
    /// To the subscriber.
    pub output_octets: u64,
    pub output_packets: u64,
    /// Seconds since the start record.
    pub session_time: u64,
    pub terminate_cause: Option<TerminateCause>,
    /// Class attributes, hex.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub class: Vec<String>,
    #[serde(skip)]
    pub class_raw: Vec<Vec<u8>>,
}

impl Record {
    /// The JSON line (no newline).
    pub fn json(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Acct-Session-Id generator: unique across daemon restarts (the prefix is
/// the start time in seconds and the process id), then a counter.
#[derive(Debug, Clone)]
pub struct AcctIds {
    prefix: String,
    next: u64,
}

impl AcctIds {
    /// Ids for a daemon started at `unix_secs` as process `pid`.
    pub fn new(unix_secs: u64, pid: u32) -> AcctIds {
        AcctIds {
            prefix: format!("{unix_secs:08X}{:04X}", pid & 0xffff),
            next: 1,
        }
    }

    /// For this process, now.
    pub fn for_this_process() -> AcctIds {
        AcctIds::new(unix_now(SystemTime::now()), std::process::id())
    }

    /// The next id: `PREFIX-COUNTER` (hex).
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> String {
        let id = format!("{}-{:08X}", self.prefix, self.next);
        self.next += 1;
        id
    }
}

/// Seconds since the Unix epoch.
pub fn unix_now(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

struct Open {
    meta: SessionMeta,
    key: SessionKey,
    started: Instant,
    /// Counters of rows already removed (address changed).
    base: Counters,
    interim: Duration,
    next_interim: Option<Instant>,
}

/// Open accounting sessions and their interim timers.
pub struct Accounting {
    interim: Duration,
    open: HashMap<SessionKey, Open>,
    /// IPv6 prefixes of sessions whose start record is not out yet.
    pending_v6: HashMap<SessionKey, (Option<Prefix6>, Option<Prefix6>)>,
    /// (deadline, key); stale entries are skipped (lazy invalidation).
    timers: BinaryHeap<Reverse<(Instant, SessionKey)>>,
}

fn add(a: Counters, b: Counters) -> Counters {
    Counters {
        up_packets: a.up_packets + b.up_packets,
        up_bytes: a.up_bytes + b.up_bytes,
        down_packets: a.down_packets + b.down_packets,
        down_bytes: a.down_bytes + b.down_bytes,
    }
}

impl Accounting {
    /// `interim`: the configured interval (zero: off).
    pub fn new(interim: Duration) -> Accounting {
        Accounting {
            interim,
            open: HashMap::new(),
            pending_v6: HashMap::new(),
            timers: BinaryHeap::new(),
        }
    }

    /// Sessions with a start record and no stop yet.
    pub fn len(&self) -> usize {
        self.open.len()
    }

    /// True when no session is open.
    pub fn is_empty(&self) -> bool {
        self.open.is_empty()
    }

    /// The Acct-Session-Id of an open session.
    pub fn acct_session_id(&self, key: &SessionKey) -> Option<&str> {
        self.open.get(key).map(|o| o.meta.acct_session_id.as_str())
    }

    /// What an open session's records say.
    pub fn meta(&self, key: &SessionKey) -> Option<&SessionMeta> {
        self.open.get(key).map(|o| &o.meta)
    }

    /// The session's IPv6 prefixes (IPv6CP up, delegated prefix bound):
    /// its next records carry them; before its start record they wait for
    /// it.
    pub fn set_ipv6(&mut self, key: SessionKey, ipv6: Option<Prefix6>, delegated: Option<Prefix6>) {
        match self.open.get_mut(&key) {
            Some(o) => {
                o.meta.ipv6 = ipv6;
                o.meta.delegated = delegated;
            }
            None => {
                self.pending_v6.insert(key, (ipv6, delegated));
            }
        }
    }

    /// Drop prefixes still waiting for a start record (the session's IPv6
    /// went before its data path did).
    pub fn forget_pending_ipv6(&mut self, key: &SessionKey) {
        self.pending_v6.remove(key);
    }

    /// The data path is in: the start record, or `None` when the session
    /// already had one (renegotiation; the address and NAT block are
    /// updated).
    pub fn start(
        &mut self,
        now: Instant,
        wall: SystemTime,
        key: SessionKey,
        meta: SessionMeta,
    ) -> Option<Record> {
        if let Some(o) = self.open.get_mut(&key) {
            if o.meta.acct_session_id == meta.acct_session_id {
                o.meta.address = meta.address;
                o.meta.nat = meta.nat;
                return None;
            }
            // Same key, another session (missed stop): forget the old one.
            self.open.remove(&key);
        }
        let mut meta = meta;
        if let Some((ipv6, delegated)) = self.pending_v6.remove(&key) {
            meta.ipv6 = meta.ipv6.or(ipv6);
            meta.delegated = meta.delegated.or(delegated);
        }
        let interim = meta.interim.unwrap_or(self.interim);
        let next_interim = (!interim.is_zero()).then(|| now + interim);
        if let Some(at) = next_interim {
            self.timers.push(Reverse((at, key)));
        }
        let open = Open {
            meta,
            key,
            started: now,
            base: Counters::default(),
            interim,
            next_interim,
        };
        let r = record(&open, Status::Start, now, wall, Counters::default(), None);
        self.open.insert(key, open);
        Some(r)
    }

    /// A session a previous daemon started (re-adopted after a restart):
    /// open again under its Acct-Session-Id, without a second start record;
    /// `started` is when it began, so Acct-Session-Time carries on, and its
    /// counters (the same data-plane slot) count from its start.
    pub fn resume(&mut self, now: Instant, started: Instant, key: SessionKey, meta: SessionMeta) {
        self.pending_v6.remove(&key);
        let interim = meta.interim.unwrap_or(self.interim);
        let next_interim = (!interim.is_zero()).then(|| now + interim);
        if let Some(at) = next_interim {
            self.timers.push(Reverse((at, key)));
        }
        self.open.insert(
            key,
            Open {
                meta,
                key,
                started,
                base: Counters::default(),
                interim,
                next_interim,
            },
        );
    }

    /// The session's rows were replaced: keep what they counted.
    pub fn carry(&mut self, key: &SessionKey, counters: Counters) {
        if let Some(o) = self.open.get_mut(key) {
            o.base = add(o.base, counters);
        }
    }

    /// Earliest interim deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timers.peek().map(|Reverse((at, _))| *at)
    }

    /// Sessions whose interim update is due; the shell reads their
    /// counters and calls [`Accounting::interim`] for each.
    pub fn due(&mut self, now: Instant) -> Vec<SessionKey> {
        let mut out = Vec::new();
        while let Some(&Reverse((at, key))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            if self.open.get(&key).and_then(|o| o.next_interim) == Some(at) {
                out.push(key);
            }
        }
        out
    }

    /// An interim record with the rows' current counters; schedules the next.
    pub fn interim(
        &mut self,
        now: Instant,
        wall: SystemTime,
        key: &SessionKey,
        counters: Counters,
    ) -> Option<Record> {
        let o = self.open.get_mut(key)?;
        if !o.interim.is_zero() {
            let at = now + o.interim;
            o.next_interim = Some(at);
            self.timers.push(Reverse((at, *key)));
        }
        let total = add(o.base, counters);
        Some(record(o, Status::InterimUpdate, now, wall, total, None))
    }

    /// The stop record with the final counters of the rows; `None` when the
    /// session had no start record.
    pub fn stop(
        &mut self,
        now: Instant,
        wall: SystemTime,
        key: &SessionKey,
        counters: Counters,
        cause: TerminateCause,
    ) -> Option<Record> {
        self.pending_v6.remove(key);
        let o = self.open.remove(key)?;
        let total = add(o.base, counters);
        Some(record(&o, Status::Stop, now, wall, total, Some(cause)))
    }
}

fn record(
    o: &Open,
    status: Status,
    now: Instant,
    wall: SystemTime,
    c: Counters,
    cause: Option<TerminateCause>,
) -> Record {
    let vlans = [o.key.vlans.outer_vid(), o.key.vlans.inner_vid()]
        .into_iter()
        .filter(|v| *v != 0)
        .collect();
    Record {
        time: unix_now(wall),
        status,
        acct_session_id: o.meta.acct_session_id.clone(),
        session_id: format!("{:#06x}", o.key.session_id),
        user: o.meta.user.clone(),
        client_mac: fmt_mac(&o.key.peer_mac),
        vlans,
        framed_address: o.meta.address,
        framed_ipv6_prefix: o.meta.ipv6,
        delegated_ipv6_prefix: o.meta.delegated,
        nat: o.meta.nat,
        input_octets: c.up_bytes,
        input_packets: c.up_packets,
        output_octets: c.down_bytes,
        output_packets: c.down_packets,
        session_time: now.saturating_duration_since(o.started).as_secs(),
        terminate_cause: cause,
        class: o.meta.class.iter().map(|c| hex(c)).collect(),
        class_raw: o.meta.class.clone(),
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::eth::{VlanTag, Vlans};

    fn key(id: u16) -> SessionKey {
        SessionKey {
            vlans: Vlans::default(),
            peer_mac: [2, 0, 0, 0, 0, 1],
            session_id: id,
        }
    }

    fn meta(id: &str) -> SessionMeta {
        SessionMeta {
            acct_session_id: id.to_owned(),
            user: "testuser1".to_owned(),
            address: Some(Ipv4Addr::new(172, 16, 0, 101)),
            nat: Some(NatBlock {
                address: Ipv4Addr::new(198, 51, 100, 1),
                first_port: 1024,
                last_port: 1535,
            }),
            class: vec![b"gold".to_vec()],
            interim: None,
            ipv6: None,
            delegated: None,
        }
    }

    fn c(up: u64, down: u64) -> Counters {
        Counters {
            up_packets: up,
            up_bytes: up * 100,
            down_packets: down,
            down_bytes: down * 100,
        }
    }

    #[test]
    fn start_interim_stop() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = Accounting::new(Duration::from_secs(60));
        let s = a.start(t0, wall, key(1), meta("A-1")).unwrap();
        assert_eq!(s.status, Status::Start);
        assert_eq!(s.input_octets, 0);
        assert_eq!(s.time, 1_700_000_000);
        assert_eq!(s.session_id, "0x0001");
        assert_eq!(s.client_mac, "02:00:00:00:00:01");
        assert!(s.vlans.is_empty());
        assert_eq!(
            s.json(),
            "{\"time\":1700000000,\"status\":\"start\",\"acct_session_id\":\"A-1\",\
             \"session_id\":\"0x0001\",\"user\":\"testuser1\",\"client_mac\":\"02:00:00:00:00:01\",\
             \"vlans\":[],\"framed_address\":\"172.16.0.101\",\"nat\":{\"address\":\"198.51.100.1\",\
             \"first_port\":1024,\"last_port\":1535},\"input_octets\":0,\"input_packets\":0,\
             \"output_octets\":0,\"output_packets\":0,\"session_time\":0,\"terminate_cause\":null,\
             \"class\":[\"676f6c64\"]}"
        );
        // Renegotiation: no second start.
        assert!(a.start(t0, wall, key(1), meta("A-1")).is_none());
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(60)));
        assert!(a.due(t0 + Duration::from_secs(59)).is_empty());
        let t1 = t0 + Duration::from_secs(60);
        assert_eq!(a.due(t1), vec![key(1)]);
        let i = a.interim(t1, wall, &key(1), c(5, 7)).unwrap();
        assert_eq!(i.status, Status::InterimUpdate);
        assert_eq!((i.input_packets, i.output_octets), (5, 700));
        assert_eq!(i.session_time, 60);
        assert_eq!(a.poll_timeout(), Some(t1 + Duration::from_secs(60)));
        // Rows replaced (address change): the old counts are carried.
        a.carry(&key(1), c(5, 7));
        let t2 = t0 + Duration::from_secs(90);
        let s = a
            .stop(t2, wall, &key(1), c(1, 1), TerminateCause::AdminReset)
            .unwrap();
        assert_eq!(s.status, Status::Stop);
        assert_eq!((s.input_packets, s.output_packets), (6, 8));
        assert_eq!(s.session_time, 90);
        assert_eq!(s.terminate_cause, Some(TerminateCause::AdminReset));
        assert!(s.json().contains("\"terminate_cause\":\"admin-reset\""));
        assert!(a.is_empty());
        // The stale interim timer does nothing.
        assert!(a.due(t2 + Duration::from_secs(100)).is_empty());
        assert!(a
            .stop(t2, wall, &key(1), c(0, 0), TerminateCause::AdminReset)
            .is_none());
    }

    /// IPv6 prefixes known before the start record go into it; later
    /// changes into the next records; the JSON gains the two fields only
    /// when there are prefixes; a session that never started leaves
    /// nothing pending.
    #[test]
    fn ipv6_prefixes_reach_the_records() {
        let t0 = Instant::now();
        let wall = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
        let mut a = Accounting::new(Duration::ZERO);
        let p64 = ("2001:db8:100:1::".parse().unwrap(), 64);
        let pd = ("2001:db8:200:100::".parse().unwrap(), 56);
        a.set_ipv6(key(1), Some(p64), None);
        let s = a.start(t0, wall, key(1), meta("A-1")).unwrap();
        assert_eq!(
            (s.framed_ipv6_prefix, s.delegated_ipv6_prefix),
            (Some(p64), None)
        );
        assert!(
            s.json()
                .contains("\"framed_ipv6_prefix\":\"2001:db8:100:1::/64\""),
            "{}",
            s.json()
        );
        assert!(!s.json().contains("delegated_ipv6_prefix"));
        a.set_ipv6(key(1), Some(p64), Some(pd));
        let e = a
            .stop(t0, wall, &key(1), c(0, 0), TerminateCause::UserRequest)
            .unwrap();
        assert_eq!(e.delegated_ipv6_prefix, Some(pd));
        assert!(e
            .json()
            .contains("\"delegated_ipv6_prefix\":\"2001:db8:200:100::/56\""));
        a.set_ipv6(key(2), Some(p64), None);
        a.forget_pending_ipv6(&key(2));
        let s = a.start(t0, wall, key(2), meta("A-2")).unwrap();
        assert_eq!(s.framed_ipv6_prefix, None);
    }

    #[test]
    fn interim_off_by_default_and_radius_override() {
        let t0 = Instant::now();
        let mut a = Accounting::new(Duration::ZERO);
        a.start(t0, SystemTime::now(), key(1), meta("A-1"));
        assert_eq!(a.poll_timeout(), None);
        let mut m = meta("A-2");
        m.interim = Some(Duration::from_secs(300));
        a.start(t0, SystemTime::now(), key(2), m);
        assert_eq!(a.poll_timeout(), Some(t0 + Duration::from_secs(300)));
    }

    #[test]
    fn vlans_outer_first() {
        let mut k = key(3);
        k.vlans = Vlans::double(VlanTag::dot1ad(200), VlanTag::dot1q(10));
        let mut a = Accounting::new(Duration::ZERO);
        let r = a
            .start(Instant::now(), SystemTime::now(), k, meta("x"))
            .unwrap();
        assert_eq!(r.vlans, vec![200, 10]);
    }

    #[test]
    fn ids_are_unique_and_prefixed_by_start_time_and_pid() {
        let mut a = AcctIds::new(0x6543_2100, 0x1_2345);
        assert_eq!(a.next(), "654321002345-00000001");
        assert_eq!(a.next(), "654321002345-00000002");
        let mut b = AcctIds::new(0x6543_2101, 0x1_2345);
        assert_ne!(b.next(), "654321002345-00000001");
    }

    #[test]
    fn terminate_causes() {
        use TerminateCause as T;
        for (r, t, code) in [
            (DownReason::PeerTerminate, T::UserRequest, 1),
            (DownReason::Padt, T::UserRequest, 1),
            (DownReason::EchoTimeout, T::LostCarrier, 2),
            (DownReason::IdleTimeout, T::IdleTimeout, 4),
            (DownReason::SessionTimeout, T::SessionTimeout, 5),
            (DownReason::AdminClose, T::AdminReset, 6),
            (DownReason::NasError, T::NasError, 9),
            (DownReason::AuthFailed, T::UserError, 17),
        ] {
            assert_eq!(TerminateCause::from_down(&r), t, "{r}");
            assert_eq!(t.code(), code);
        }
    }
}
