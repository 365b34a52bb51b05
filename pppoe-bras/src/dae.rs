//! Sans-IO RFC 5176 dynamic authorization server: a datagram (with its
//! source and the wall clock) in, a decision out — drop it (counted, why),
//! answer it right away (a NAK), or a [`DaeRequest`] the shell matches
//! against its sessions and answers with [`Dae::respond`].
//!
//! Checks, in order: a known client (by source address), a well-formed
//! packet, a Disconnect- or CoA-Request, a valid Request Authenticator
//! (and Message-Authenticator when present), an Event-Timestamp within the
//! replay window (RFC 5176 §3.5: without one, or outside it, the request is
//! dropped silently), then the attributes: anything we cannot honour gets a
//! NAK with Error-Cause 401 (Unsupported Attribute), a Service-Type other
//! than Framed 405 (Unsupported Service), a NAS-Identifier not ours 403, no
//! session identification 402. The answer echoes Proxy-State (§3.1) and
//! carries a Message-Authenticator.

use std::{
    net::{Ipv4Addr, SocketAddr},
    time::{Duration, Instant},
};

use crate::{
    radius_client::LogLimit,
    wire::radius::{attr, code, verify_request_digest, Packet},
};

/// Error-Cause values (RFC 5176 §3.6).
pub mod cause {
    pub const UNSUPPORTED_ATTRIBUTE: u32 = 401;
    pub const MISSING_ATTRIBUTE: u32 = 402;
    pub const NAS_IDENTIFICATION_MISMATCH: u32 = 403;
    pub const INVALID_REQUEST: u32 = 404;
    pub const UNSUPPORTED_SERVICE: u32 = 405;
    pub const SESSION_CONTEXT_NOT_FOUND: u32 = 503;
}

/// Disconnect or CoA.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Disconnect,
    Coa,
}

/// Which sessions a request is about: every attribute given must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Selector {
    pub acct_session_id: Option<String>,
    pub user: Option<String>,
    pub address: Option<Ipv4Addr>,
    /// Calling-Station-Id, normalised to `aa:bb:cc:dd:ee:ff`.
    pub mac: Option<String>,
}

/// A verified request the shell carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeRequest {
    pub kind: Kind,
    pub from: SocketAddr,
    pub selector: Selector,
    /// CoA: new Session-Timeout (from now; `Some(0)` removes the limit).
    pub session_timeout: Option<u32>,
    /// CoA: new Idle-Timeout (`Some(0)` removes it).
    pub idle_timeout: Option<u32>,
    packet: Packet,
    secret: Vec<u8>,
}

/// Why a datagram was dropped without an answer: each reason has its
/// `dropped_*` [`DaeStat`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    UnknownClient,
    Malformed,
    NotARequest,
    BadAuthenticator,
    NoEventTimestamp,
    OldEventTimestamp,
}

impl DropReason {
    /// The counter this reason goes to.
    pub const fn stat(self) -> DaeStat {
        match self {
            DropReason::UnknownClient => DaeStat::DroppedUnknownClient,
            DropReason::Malformed => DaeStat::DroppedMalformed,
            DropReason::NotARequest => DaeStat::DroppedNotARequest,
            DropReason::BadAuthenticator => DaeStat::DroppedBadAuthenticator,
            DropReason::NoEventTimestamp => DaeStat::DroppedNoEventTimestamp,
            DropReason::OldEventTimestamp => DaeStat::DroppedOldEventTimestamp,
        }
    }

    /// Its counter's name (`dropped_unknown_client`, …).
    pub const fn name(self) -> &'static str {
        self.stat().name()
    }
}

/// What to do with a datagram.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Drop(DropReason),
    /// Send these bytes back to the source (a NAK).
    Answer(Vec<u8>),
    Request(DaeRequest),
}

crate::counters::counters! {
    /// The DAE server's counters, by outcome (`pppoe-bras stats` shows them
    /// as `radius.dae.<name>`, `/metrics` as the `outcome` label of
    /// `radius_dae_requests`). Every request counts in exactly one: an
    /// answer, or the `dropped_*` of its [`DropReason`].
    pub enum DaeStat in DaeStats {
        DisconnectAck = "disconnect_ack",
        DisconnectNak = "disconnect_nak",
        CoaAck = "coa_ack",
        CoaNak = "coa_nak",
        /// Source address not a configured DAE client.
        DroppedUnknownClient = "dropped_unknown_client",
        /// Does not parse.
        DroppedMalformed = "dropped_malformed",
        /// Neither a Disconnect- nor a CoA-Request.
        DroppedNotARequest = "dropped_not_a_request",
        /// Request Authenticator or Message-Authenticator wrong.
        DroppedBadAuthenticator = "dropped_bad_authenticator",
        /// No Event-Timestamp while `dae_replay_window` asks for one.
        DroppedNoEventTimestamp = "dropped_no_event_timestamp",
        /// Event-Timestamp outside `dae_replay_window`.
        DroppedOldEventTimestamp = "dropped_old_event_timestamp",
    }
}

/// The DAE server's state: clients, replay window, counters.
pub struct Dae {
    clients: Vec<(Ipv4Addr, Vec<u8>)>,
    /// `None`: Event-Timestamp not required.
    window: Option<Duration>,
    nas_identifier: String,
    pub stats: DaeStats,
    log: LogLimit,
}

/// Attributes that identify the NAS or the session, or carry no request.
const HARMLESS: [u8; 11] = [
    attr::USER_NAME,
    attr::NAS_IP_ADDRESS,
    attr::FRAMED_IP_ADDRESS,
    attr::CALLING_STATION_ID,
    attr::NAS_IDENTIFIER,
    attr::ACCT_SESSION_ID,
    attr::NAS_PORT_ID,
    attr::NAS_PORT_TYPE,
    attr::EVENT_TIMESTAMP,
    attr::MESSAGE_AUTHENTICATOR,
    attr::PROXY_STATE,
];

impl Dae {
    pub fn new(
        clients: Vec<(Ipv4Addr, Vec<u8>)>,
        window: Option<Duration>,
        nas_identifier: String,
    ) -> Dae {
        Dae {
            clients,
            window,
            nas_identifier,
            stats: DaeStats::default(),
            log: LogLimit::new(Duration::from_secs(60)),
        }
    }

    fn dropped(&mut self, now: Instant, from: SocketAddr, r: DropReason) -> Decision {
        self.stats[r.stat()] += 1;
        let what = match r {
            DropReason::UnknownClient => "from an unknown client",
            DropReason::Malformed => "malformed",
            DropReason::NotARequest => "not a Disconnect- or CoA-Request",
            DropReason::BadAuthenticator => "with a bad authenticator (wrong secret?)",
            DropReason::NoEventTimestamp => "without Event-Timestamp (replay protection)",
            DropReason::OldEventTimestamp => {
                "with an Event-Timestamp outside dae_replay_window (replay or clock skew)"
            }
        };
        if let Some(n) = self.log.allow(now, r.name()) {
            log::warn!(
                "DAE: dropped a request {what} from {from}{}",
                LogLimit::more(n)
            );
        }
        Decision::Drop(r)
    }

    /// A datagram from `from`; `unix_now` is the wall clock in seconds.
    pub fn handle(&mut self, now: Instant, unix_now: u64, from: SocketAddr, b: &[u8]) -> Decision {
        let std::net::IpAddr::V4(ip) = from.ip() else {
            return self.dropped(now, from, DropReason::UnknownClient);
        };
        let Some(secret) = self
            .clients
            .iter()
            .find(|(a, _)| *a == ip)
            .map(|(_, s)| s.clone())
        else {
            return self.dropped(now, from, DropReason::UnknownClient);
        };
        let Ok(req) = Packet::parse(b) else {
            return self.dropped(now, from, DropReason::Malformed);
        };
        let kind = match req.code {
            code::DISCONNECT_REQUEST => Kind::Disconnect,
            code::COA_REQUEST => Kind::Coa,
            _ => return self.dropped(now, from, DropReason::NotARequest),
        };
        if !verify_request_digest(b, &secret) {
            return self.dropped(now, from, DropReason::BadAuthenticator);
        }
        if let Some(w) = self.window {
            match req.get_u32(attr::EVENT_TIMESTAMP) {
                None => return self.dropped(now, from, DropReason::NoEventTimestamp),
                Some(t) if u64::from(t).abs_diff(unix_now) > w.as_secs() => {
                    return self.dropped(now, from, DropReason::OldEventTimestamp)
                }
                Some(_) => {}
            }
        }
        let mut dr = DaeRequest {
            kind,
            from,
            selector: Selector::default(),
            session_timeout: None,
            idle_timeout: None,
            packet: req,
            secret,
        };
        match self.check(&mut dr) {
            Ok(()) => Decision::Request(dr),
            Err((c, why)) => {
                if let Some(n) = self.log.allow(now, why) {
                    log::warn!(
                        "DAE: {:?}-Request from {from} refused (Error-Cause {c}): {why}{}",
                        dr.kind,
                        LogLimit::more(n)
                    );
                }
                Decision::Answer(self.respond(&dr, Err(c)))
            }
        }
    }

    /// The attributes: what to change, which sessions; Err: NAK cause.
    fn check(&self, dr: &mut DaeRequest) -> Result<(), (u32, &'static str)> {
        let p = &dr.packet;
        for (t, v) in &p.attrs {
            let len_ok = |n| v.len() == n;
            match *t {
                attr::SERVICE_TYPE => {
                    if !len_ok(4) {
                        return Err((cause::INVALID_REQUEST, "bad Service-Type"));
                    }
                    if p.get_u32(attr::SERVICE_TYPE) != Some(2) {
                        return Err((
                            cause::UNSUPPORTED_SERVICE,
                            "Service-Type other than Framed (e.g. Authorize-Only)",
                        ));
                    }
                }
                attr::SESSION_TIMEOUT | attr::IDLE_TIMEOUT if dr.kind == Kind::Coa => {
                    if !len_ok(4) {
                        return Err((cause::INVALID_REQUEST, "bad timeout attribute length"));
                    }
                }
                attr::FRAMED_IP_ADDRESS
                | attr::NAS_IP_ADDRESS
                | attr::EVENT_TIMESTAMP
                | attr::NAS_PORT_TYPE
                    if !len_ok(4) =>
                {
                    return Err((cause::INVALID_REQUEST, "bad attribute length"));
                }
                t if HARMLESS.contains(&t) => {}
                _ => return Err((cause::UNSUPPORTED_ATTRIBUTE, "unsupported attribute")),
            }
        }
        if let Some(n) = p.get_str(attr::NAS_IDENTIFIER) {
            if n != self.nas_identifier {
                return Err((
                    cause::NAS_IDENTIFICATION_MISMATCH,
                    "NAS-Identifier not ours",
                ));
            }
        }
        dr.selector = Selector {
            acct_session_id: p.get_str(attr::ACCT_SESSION_ID),
            user: p.get_str(attr::USER_NAME),
            address: p.get_ipv4(attr::FRAMED_IP_ADDRESS),
            mac: p
                .get_str(attr::CALLING_STATION_ID)
                .map(|m| m.to_ascii_lowercase().replace('-', ":")),
        };
        if dr.selector == Selector::default() {
            return Err((cause::MISSING_ATTRIBUTE, "no session identification"));
        }
        if dr.kind == Kind::Coa {
            dr.session_timeout = p.get_u32(attr::SESSION_TIMEOUT);
            dr.idle_timeout = p.get_u32(attr::IDLE_TIMEOUT);
        }
        Ok(())
    }

    /// The answer to `dr`: ACK, or NAK with the Error-Cause. Counted.
    pub fn respond(&mut self, dr: &DaeRequest, result: Result<(), u32>) -> Vec<u8> {
        let (c, stat) = match (dr.kind, result.is_ok()) {
            (Kind::Disconnect, true) => (code::DISCONNECT_ACK, DaeStat::DisconnectAck),
            (Kind::Disconnect, false) => (code::DISCONNECT_NAK, DaeStat::DisconnectNak),
            (Kind::Coa, true) => (code::COA_ACK, DaeStat::CoaAck),
            (Kind::Coa, false) => (code::COA_NAK, DaeStat::CoaNak),
        };
        self.stats[stat] += 1;
        let mut r = Packet::new(c, dr.packet.identifier);
        if let Err(cause) = result {
            r.add_u32(attr::ERROR_CAUSE, cause);
        }
        for ps in dr.packet.all(attr::PROXY_STATE) {
            r.add(attr::PROXY_STATE, ps);
        }
        r.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]);
        r.encode_response(&dr.packet.authenticator, &dr.secret)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::radius::verify_response;

    const NOW: u64 = 1_700_000_000;

    fn dae() -> Dae {
        Dae::new(
            vec![(Ipv4Addr::new(192, 0, 2, 9), b"s3cret".to_vec())],
            Some(Duration::from_secs(300)),
            "bras-1".to_owned(),
        )
    }

    fn from() -> SocketAddr {
        SocketAddr::from(([192, 0, 2, 9], 40000))
    }

    fn request(c: u8, attrs: &[(u8, Vec<u8>)], secret: &[u8]) -> Vec<u8> {
        let mut p = Packet::new(c, 7);
        for (t, v) in attrs {
            p.add(*t, v);
        }
        p.encode_with_request_digest(secret)
    }

    fn ts(t: u64) -> (u8, Vec<u8>) {
        (attr::EVENT_TIMESTAMP, (t as u32).to_be_bytes().to_vec())
    }

    fn sid(s: &str) -> (u8, Vec<u8>) {
        (attr::ACCT_SESSION_ID, s.as_bytes().to_vec())
    }

    /// The answer's code and Error-Cause, verified with the request's
    /// authenticator and the secret (Message-Authenticator required).
    fn answer_of(req: &[u8], ans: &[u8]) -> (u8, Option<u32>) {
        let auth: [u8; 16] = req[4..20].try_into().unwrap();
        verify_response(ans, &auth, b"s3cret", true).expect("signed answer");
        let p = Packet::parse(ans).unwrap();
        assert_eq!(p.identifier, 7);
        (p.code, p.get_u32(attr::ERROR_CAUSE))
    }

    #[test]
    fn coa_with_timeouts_is_a_request_and_acked() {
        let mut d = dae();
        let t = Instant::now();
        let b = request(
            code::COA_REQUEST,
            &[
                sid("abc"),
                (attr::USER_NAME, b"bob".to_vec()),
                (attr::CALLING_STATION_ID, b"02-00-00-00-00-0A".to_vec()),
                (attr::SESSION_TIMEOUT, 60u32.to_be_bytes().to_vec()),
                (attr::IDLE_TIMEOUT, 30u32.to_be_bytes().to_vec()),
                (attr::PROXY_STATE, b"px".to_vec()),
                ts(NOW - 10),
            ],
            b"s3cret",
        );
        let Decision::Request(r) = d.handle(t, NOW, from(), &b) else {
            panic!()
        };
        assert_eq!(r.kind, Kind::Coa);
        assert_eq!(r.session_timeout, Some(60));
        assert_eq!(r.idle_timeout, Some(30));
        assert_eq!(r.selector.acct_session_id.as_deref(), Some("abc"));
        assert_eq!(r.selector.mac.as_deref(), Some("02:00:00:00:00:0a"));
        let ans = d.respond(&r, Ok(()));
        assert_eq!(answer_of(&b, &ans), (code::COA_ACK, None));
        assert_eq!(
            Packet::parse(&ans).unwrap().get(attr::PROXY_STATE),
            Some(&b"px"[..]),
            "Proxy-State echoed"
        );
        let nak = d.respond(&r, Err(cause::SESSION_CONTEXT_NOT_FOUND));
        assert_eq!(answer_of(&b, &nak), (code::COA_NAK, Some(503)));
        assert_eq!((d.stats[DaeStat::CoaAck], d.stats[DaeStat::CoaNak]), (1, 1));
    }

    #[test]
    fn unsupported_attribute_and_service_are_naked() {
        let mut d = dae();
        let t = Instant::now();
        let b = request(
            code::COA_REQUEST,
            &[sid("abc"), (11, b"gold".to_vec()), ts(NOW)], // 11: Filter-Id
            b"s3cret",
        );
        let Decision::Answer(a) = d.handle(t, NOW, from(), &b) else {
            panic!()
        };
        assert_eq!(answer_of(&b, &a), (code::COA_NAK, Some(401)));
        let b = request(
            code::COA_REQUEST,
            &[
                sid("abc"),
                (attr::SERVICE_TYPE, 17u32.to_be_bytes().to_vec()),
                ts(NOW),
            ],
            b"s3cret",
        );
        let Decision::Answer(a) = d.handle(t, NOW, from(), &b) else {
            panic!()
        };
        assert_eq!(answer_of(&b, &a), (code::COA_NAK, Some(405)));
        // A Disconnect cannot change timeouts.
        let b = request(
            code::DISCONNECT_REQUEST,
            &[
                sid("abc"),
                (attr::SESSION_TIMEOUT, 5u32.to_be_bytes().to_vec()),
                ts(NOW),
            ],
            b"s3cret",
        );
        let Decision::Answer(a) = d.handle(t, NOW, from(), &b) else {
            panic!()
        };
        assert_eq!(answer_of(&b, &a), (code::DISCONNECT_NAK, Some(401)));
        // No identification; someone else's NAS-Identifier; bad length.
        for (attrs, want) in [
            (vec![ts(NOW)], 402),
            (
                vec![sid("a"), (attr::NAS_IDENTIFIER, b"other".to_vec()), ts(NOW)],
                403,
            ),
            (
                vec![sid("a"), (attr::IDLE_TIMEOUT, vec![0, 1]), ts(NOW)],
                404,
            ),
        ] {
            let b = request(code::COA_REQUEST, &attrs, b"s3cret");
            let Decision::Answer(a) = d.handle(t, NOW, from(), &b) else {
                panic!("{attrs:?}")
            };
            assert_eq!(answer_of(&b, &a), (code::COA_NAK, Some(want)));
        }
        assert_eq!(d.stats[DaeStat::CoaNak], 5);
        assert_eq!(d.stats[DaeStat::DisconnectNak], 1);
    }

    #[test]
    fn replay_window_drops_old_future_and_missing_timestamps() {
        let mut d = dae();
        let t = Instant::now();
        for (attrs, why) in [
            (vec![sid("a"), ts(NOW - 301)], DropReason::OldEventTimestamp),
            (vec![sid("a"), ts(NOW + 301)], DropReason::OldEventTimestamp),
            (vec![sid("a")], DropReason::NoEventTimestamp),
        ] {
            let b = request(code::DISCONNECT_REQUEST, &attrs, b"s3cret");
            assert_eq!(d.handle(t, NOW, from(), &b), Decision::Drop(why));
        }
        let b = request(
            code::DISCONNECT_REQUEST,
            &[sid("a"), ts(NOW - 300)],
            b"s3cret",
        );
        assert!(matches!(d.handle(t, NOW, from(), &b), Decision::Request(_)));
        let c = d.stats.counters();
        let get = |n| c.iter().find(|(k, _)| *k == n).unwrap().1;
        assert_eq!(get("dropped_old_event_timestamp"), 2);
        assert_eq!(get("dropped_no_event_timestamp"), 1);
        // Window 0 (off): no timestamp needed.
        let mut off = Dae::new(d.clients.clone(), None, "bras-1".into());
        let b = request(code::DISCONNECT_REQUEST, &[sid("a")], b"s3cret");
        assert!(matches!(
            off.handle(t, NOW, from(), &b),
            Decision::Request(_)
        ));
    }

    #[test]
    fn unknown_client_bad_secret_malformed_and_wrong_code_are_dropped() {
        let mut d = dae();
        let t = Instant::now();
        let good = request(code::DISCONNECT_REQUEST, &[sid("a"), ts(NOW)], b"s3cret");
        let stranger = SocketAddr::from(([192, 0, 2, 10], 40000));
        assert_eq!(
            d.handle(t, NOW, stranger, &good),
            Decision::Drop(DropReason::UnknownClient)
        );
        let bad = request(code::DISCONNECT_REQUEST, &[sid("a"), ts(NOW)], b"wrong");
        assert_eq!(
            d.handle(t, NOW, from(), &bad),
            Decision::Drop(DropReason::BadAuthenticator)
        );
        let mut tampered = good.clone();
        *tampered.last_mut().unwrap() ^= 1;
        assert_eq!(
            d.handle(t, NOW, from(), &tampered),
            Decision::Drop(DropReason::BadAuthenticator)
        );
        // Truncated: an attribute claims more than the packet holds.
        let mut trunc = good.clone();
        trunc[21] = 200;
        assert_eq!(
            d.handle(t, NOW, from(), &trunc),
            Decision::Drop(DropReason::Malformed)
        );
        assert_eq!(
            d.handle(t, NOW, from(), &good[..10]),
            Decision::Drop(DropReason::Malformed)
        );
        let acct = request(code::ACCOUNTING_REQUEST, &[sid("a"), ts(NOW)], b"s3cret");
        assert_eq!(
            d.handle(t, NOW, from(), &acct),
            Decision::Drop(DropReason::NotARequest)
        );
        let dropped: Vec<u64> = DaeStat::ALL
            .iter()
            .filter(|s| s.name().starts_with("dropped_"))
            .map(|&s| d.stats[s])
            .collect();
        assert_eq!(dropped, [1, 2, 1, 2, 0, 0]);
        assert!(matches!(
            d.handle(t, NOW, from(), &good),
            Decision::Request(_)
        ));
    }
}
