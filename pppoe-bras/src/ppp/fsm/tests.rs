//! RFC 1661 §4.1 state transition table, cell by cell, plus counters and
//! timers driven with injected time.

use std::time::{Duration, Instant};

use super::*;
use crate::wire::ppp::{self as wire, Code, OptionWriter};

/// A protocol with trivially predictable policy: option 1 (2 bytes) is
/// acceptable, option 98 gets a Nak suggesting `98 03 07`, anything else is
/// rejected. Our request is `01 04 05 dc`.
#[derive(Debug, Default)]
struct TestProto {
    resets: u32,
    naks: u32,
    rejects: u32,
    acked: u32,
    peer_acked: u32,
}

impl Protocol for TestProto {
    const PROTOCOL: u16 = 0xc021;
    const NAME: &'static str = "test";
    const LCP_CODES: bool = true;

    fn reset(&mut self) {
        self.resets += 1;
    }
    fn build_request(&mut self, w: &mut OptionWriter<'_>) {
        w.push_u16(1, 1500);
    }
    fn check_option(&mut self, kind: u8, _value: &[u8], nak: &mut OptionWriter<'_>) -> Verdict {
        match kind {
            1 => Verdict::Ack,
            98 => {
                nak.push(98, &[7]);
                Verdict::Nak
            }
            _ => Verdict::Reject,
        }
    }
    fn peer_acked(&mut self, _options: &[u8]) {
        self.peer_acked += 1;
    }
    fn acked(&mut self, _options: &[u8]) {
        self.acked += 1;
    }
    fn nak_received(&mut self, _options: &[u8]) {
        self.naks += 1;
    }
    fn reject_received(&mut self, _options: &[u8]) {
        self.rejects += 1;
    }
    fn magic(&self) -> u32 {
        0x1122_3344
    }
    fn max_packet(&self) -> usize {
        12
    }
}

const STATES: [State; 10] = [
    State::Initial,
    State::Starting,
    State::Closed,
    State::Stopped,
    State::Closing,
    State::Stopping,
    State::ReqSent,
    State::AckRcvd,
    State::AckSent,
    State::Opened,
];

#[derive(Debug, Clone, Copy, PartialEq)]
enum Ev {
    Up,
    Down,
    Open,
    Close,
    ToGood,
    ToBad,
    RcrGood,
    RcrBad,
    Rca,
    Rcn,
    Rtr,
    Rta,
    Ruc,
    RxjGood,
    RxjBad,
    Rxr,
}

/// RFC 1661 §4.1, verbatim: one row per event, one column per state 0..=9.
/// "-" is an impossible event (we ignore it); the r/p/x suffixes are
/// implementation options (we implement none: no restart, passive is the
/// plain Stopped, crossed connection is the listed action).
#[rustfmt::skip]
const TABLE: [(Ev, [&str; 10]); 16] = [
    //                 0         1          2            3                 4        5        6            7            8            9
    (Ev::Up,      ["2",    "irc,scr/6", "-",         "-",              "-",     "-",     "-",         "-",         "-",         "-"]),
    (Ev::Down,    ["-",    "-",         "0",         "tls/1",          "0",     "1",     "1",         "1",         "1",         "tld/1"]),
    (Ev::Open,    ["tls/1","1",         "irc,scr/6", "3r",             "5r",    "5r",    "6",         "7",         "8",         "9r"]),
    (Ev::Close,   ["0",    "tlf/0",     "2",         "2",              "4",     "4",     "irc,str/4", "irc,str/4", "irc,str/4", "tld,irc,str/4"]),
    (Ev::ToGood,  ["-",    "-",         "-",         "-",              "str/4", "str/5", "scr/6",     "scr/6",     "scr/8",     "-"]),
    (Ev::ToBad,   ["-",    "-",         "-",         "-",              "tlf/2", "tlf/3", "tlf/3p",    "tlf/3p",    "tlf/3p",    "-"]),
    (Ev::RcrGood, ["-",    "-",         "sta/2",     "irc,scr,sca/8",  "4",     "5",     "sca/8",     "sca,tlu/9", "sca/8",     "tld,scr,sca/8"]),
    (Ev::RcrBad,  ["-",    "-",         "sta/2",     "irc,scr,scn/6",  "4",     "5",     "scn/6",     "scn/7",     "scn/6",     "tld,scr,scn/6"]),
    (Ev::Rca,     ["-",    "-",         "sta/2",     "sta/3",          "4",     "5",     "irc/7",     "scr/6x",    "irc,tlu/9", "tld,scr/6x"]),
    (Ev::Rcn,     ["-",    "-",         "sta/2",     "sta/3",          "4",     "5",     "irc,scr/6", "scr/6x",    "irc,scr/8", "tld,scr/6x"]),
    (Ev::Rtr,     ["-",    "-",         "sta/2",     "sta/3",          "sta/4", "sta/5", "sta/6",     "sta/6",     "sta/6",     "tld,zrc,sta/5"]),
    (Ev::Rta,     ["-",    "-",         "2",         "3",              "tlf/2", "tlf/3", "6",         "6",         "8",         "tld,scr/6"]),
    (Ev::Ruc,     ["-",    "-",         "scj/2",     "scj/3",          "scj/4", "scj/5", "scj/6",     "scj/7",     "scj/8",     "scj/9"]),
    (Ev::RxjGood, ["-",    "-",         "2",         "3",              "4",     "5",     "6",         "6",         "8",         "9"]),
    (Ev::RxjBad,  ["-",    "-",         "tlf/2",     "tlf/3",          "tlf/2", "tlf/3", "tlf/3",     "tlf/3",     "tlf/3",     "tld,irc,str/5"]),
    (Ev::Rxr,     ["-",    "-",         "2",         "3",              "4",     "5",     "6",         "7",         "8",         "ser/9"]),
];

fn cfg() -> FsmConfig {
    FsmConfig::default()
}

/// The packet code each sending action produces.
fn action_code(a: &str) -> Option<Code> {
    Some(match a {
        "scr" => Code::ConfReq,
        "sca" => Code::ConfAck,
        "scn" => Code::ConfNak,
        "str" => Code::TermReq,
        "sta" => Code::TermAck,
        "scj" => Code::CodeRej,
        "ser" => Code::EchoRep,
        _ => return None,
    })
}

fn action_event(a: &str) -> Option<Event> {
    Some(match a {
        "tlu" => Event::Up,
        "tld" => Event::Down,
        "tls" => Event::Started,
        "tlf" => Event::Finished,
        _ => return None,
    })
}

fn inject(fsm: &mut Fsm<TestProto>, ev: Ev, now: Instant) {
    let (req_id, req) = {
        let (id, r) = fsm.last_request();
        (id, r.to_vec())
    };
    match ev {
        Ev::Up => fsm.up(now),
        Ev::Down => fsm.down(now),
        Ev::Open => fsm.open(now),
        Ev::Close => fsm.close(now),
        Ev::ToGood | Ev::ToBad => fsm.handle_timeout(now + Duration::from_secs(3)),
        Ev::RcrGood => fsm.handle_packet(now, &wire::packet(Code::ConfReq, 0x42, &[1, 4, 5, 0xdc])),
        Ev::RcrBad => fsm.handle_packet(now, &wire::packet(Code::ConfReq, 0x42, &[98, 3, 1])),
        Ev::Rca => fsm.handle_packet(now, &wire::packet(Code::ConfAck, req_id, &req)),
        Ev::Rcn => fsm.handle_packet(now, &wire::packet(Code::ConfNak, req_id, &[1, 4, 5, 0xd4])),
        Ev::Rtr => fsm.handle_packet(now, &wire::packet(Code::TermReq, 0x50, &[])),
        Ev::Rta => fsm.handle_packet(now, &wire::packet(Code::TermAck, 0x51, &[])),
        Ev::Ruc => fsm.handle_packet(now, &wire::packet(Code::Unknown(0x33), 0x52, &[1, 2])),
        Ev::RxjGood => fsm.handle_packet(now, &wire::packet(Code::CodeRej, 0x53, &[12, 1, 0, 4])),
        Ev::RxjBad => fsm.handle_packet(now, &wire::packet(Code::CodeRej, 0x54, &[1, 1, 0, 4])),
        Ev::Rxr => fsm.handle_packet(
            now,
            &wire::packet(Code::EchoReq, 0x55, &[0, 0, 0, 0, 0xde, 0xad]),
        ),
    }
}

#[test]
fn rfc1661_state_table() {
    let t0 = Instant::now();
    let c = cfg();
    let mut cells = 0;
    for (ev, row) in TABLE {
        for (from_idx, cell) in row.iter().enumerate() {
            let from = STATES[from_idx];
            let ctx = format!("state {from:?} event {ev:?} cell {cell:?}");
            let c0 = if ev == Ev::ToBad { 0 } else { 7 };
            let mut fsm = Fsm::new(TestProto::default(), c.clone(), 1);
            fsm.force(from, c0, t0);

            inject(&mut fsm, ev, t0);

            let (actions, to) = if *cell == "-" {
                (vec![], from)
            } else {
                let (acts, st) = cell.rsplit_once('/').map_or(("", *cell), |(a, s)| (a, s));
                let st = st.trim_end_matches(['r', 'p', 'x']);
                let idx: usize = st.parse().expect("state number");
                let acts: Vec<&str> = acts.split(',').filter(|a| !a.is_empty()).collect();
                (acts, STATES[idx])
            };
            assert_eq!(fsm.state(), to, "{ctx}: new state");

            let sent: Vec<Code> = std::iter::from_fn(|| fsm.poll_transmit())
                .map(|p| wire::parse(&p).expect("we emit valid packets").0.code)
                .collect();
            let want_sent: Vec<Code> = actions.iter().filter_map(|a| action_code(a)).collect();
            assert_eq!(sent, want_sent, "{ctx}: transmitted");

            // Only the This-Layer-* actions; Echo/Protocol-Reject notices are extra.
            let events: Vec<Event> = std::iter::from_fn(|| fsm.poll_event())
                .filter(|e| {
                    matches!(
                        e,
                        Event::Up | Event::Down | Event::Started | Event::Finished
                    )
                })
                .collect();
            let want_events: Vec<Event> = actions.iter().filter_map(|a| action_event(a)).collect();
            assert_eq!(events, want_events, "{ctx}: events");

            let has = |a: &str| actions.contains(&a);
            let want_count = if has("zrc") {
                0
            } else if has("irc") && has("str") {
                c.max_terminate - 1
            } else if has("irc") && has("scr") {
                c.max_configure - 1
            } else if has("irc") {
                c.max_configure
            } else if has("scr") {
                if matches!(from, State::ReqSent | State::AckRcvd | State::AckSent) {
                    c0 - 1
                } else {
                    c.max_configure - 1
                }
            } else if has("str") {
                c0 - 1
            } else {
                c0
            };
            assert_eq!(fsm.restart_count(), want_count, "{ctx}: restart counter");

            let timer_runs = matches!(
                to,
                State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
            );
            assert_eq!(
                fsm.poll_timeout().is_some(),
                timer_runs,
                "{ctx}: restart timer"
            );
            cells += 1;
        }
    }
    assert_eq!(cells, 160);
}

fn drain(fsm: &mut Fsm<TestProto>) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| fsm.poll_transmit()).collect()
}

fn events(fsm: &mut Fsm<TestProto>) -> Vec<Event> {
    std::iter::from_fn(|| fsm.poll_event()).collect()
}

#[test]
fn max_configure_exhaustion_at_the_right_time() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    assert_eq!(events(&mut fsm), [Event::Started]);
    let mut now = t0;
    let mut reqs = drain(&mut fsm);
    while let Some(t) = fsm.poll_timeout() {
        assert_eq!(t, now + Duration::from_secs(3));
        now = t;
        fsm.handle_timeout(now);
        reqs.extend(drain(&mut fsm));
    }
    assert_eq!(reqs.len(), 10, "Max-Configure requests");
    // Retransmissions keep identifier and bytes while no reply arrived.
    assert!(reqs.iter().all(|r| r == &reqs[0]));
    assert_eq!(now - t0, Duration::from_secs(30));
    assert_eq!(fsm.state(), State::Stopped);
    assert_eq!(events(&mut fsm), [Event::Finished]);
}

#[test]
fn timeout_before_deadline_is_ignored() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    drain(&mut fsm);
    fsm.handle_timeout(t0 + Duration::from_millis(2999));
    assert!(drain(&mut fsm).is_empty());
    fsm.handle_timeout(t0 + Duration::from_secs(3));
    assert_eq!(drain(&mut fsm).len(), 1);
}

#[test]
fn max_terminate_then_finished() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.force(State::Opened, 0, t0);
    fsm.close(t0);
    let mut now = t0;
    let mut sent = drain(&mut fsm);
    while let Some(t) = fsm.poll_timeout() {
        now = t;
        fsm.handle_timeout(now);
        sent.extend(drain(&mut fsm));
    }
    assert_eq!(sent.len(), 2, "Max-Terminate 2");
    assert!(sent.iter().all(|p| p[0] == 5));
    assert_ne!(
        sent[0][1], sent[1][1],
        "new identifier per Terminate-Request"
    );
    assert_eq!(now - t0, Duration::from_secs(6));
    assert_eq!(fsm.state(), State::Closed);
    assert_eq!(events(&mut fsm), [Event::Down, Event::Finished]);
}

#[test]
fn max_failure_turns_naks_into_rejects() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    drain(&mut fsm);
    let req = wire::packet(Code::ConfReq, 9, &[1, 4, 5, 0xdc, 98, 3, 1]);
    for i in 0..5 {
        fsm.handle_packet(t0, &req);
        assert_eq!(
            drain(&mut fsm),
            [wire::packet(Code::ConfNak, 9, &[98, 3, 7])],
            "nak {i}"
        );
    }
    fsm.handle_packet(t0, &req);
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(Code::ConfRej, 9, &[98, 3, 1])]
    );
    // Once the peer drops the option it is acked and the failure count resets.
    fsm.handle_packet(t0, &wire::packet(Code::ConfReq, 10, &[1, 4, 5, 0xdc]));
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(Code::ConfAck, 10, &[1, 4, 5, 0xdc])]
    );
    fsm.handle_packet(t0, &req);
    assert_eq!(drain(&mut fsm)[0][0], 3, "Nak again after an Ack");
}

#[test]
fn reject_takes_precedence_and_echoes_bytes() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    drain(&mut fsm);
    fsm.handle_packet(
        t0,
        &wire::packet(Code::ConfReq, 3, &[98, 3, 1, 7, 2, 13, 3, 6, 1, 4, 5, 0xdc]),
    );
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(Code::ConfRej, 3, &[7, 2, 13, 3, 6])]
    );
}

#[test]
fn replies_must_match_identifier() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    let req = drain(&mut fsm).remove(0);
    let (h, data) = wire::parse(&req).unwrap();
    let id = h.identifier;
    // Wrong identifier: discarded.
    fsm.handle_packet(t0, &wire::packet(Code::ConfAck, id.wrapping_add(1), data));
    fsm.handle_packet(
        t0,
        &wire::packet(Code::ConfNak, id.wrapping_add(1), &[1, 4, 5, 0xd4]),
    );
    assert_eq!(fsm.state(), State::ReqSent);
    assert_eq!(fsm.proto().naks, 0);
    // Ack whose options differ from the request: discarded.
    fsm.handle_packet(t0, &wire::packet(Code::ConfAck, id, &[1, 4, 5, 0xd4]));
    assert_eq!(fsm.state(), State::ReqSent);
    // A Nak with our id: a new request with a new identifier.
    fsm.handle_packet(t0, &wire::packet(Code::ConfNak, id, &[1, 4, 5, 0xd4]));
    assert_eq!(fsm.proto().naks, 1);
    let req2 = drain(&mut fsm).remove(0);
    assert_ne!(req2[1], id);
    // A duplicate of the same Nak: discarded.
    fsm.handle_packet(t0, &wire::packet(Code::ConfNak, id, &[1, 4, 5, 0xd4]));
    assert_eq!(fsm.proto().naks, 1);
    assert!(drain(&mut fsm).is_empty());
    // Ack the new one, then the peer's request: Opened.
    let (h2, d2) = wire::parse(&req2).unwrap();
    fsm.handle_packet(t0, &wire::packet(Code::ConfAck, h2.identifier, d2));
    assert_eq!(fsm.state(), State::AckRcvd);
    fsm.handle_packet(t0, &wire::packet(Code::ConfReq, 1, &[]));
    assert_eq!(fsm.state(), State::Opened);
    assert_eq!(events(&mut fsm), [Event::Started, Event::Up]);
    // A duplicate Ack in Opened must not renegotiate.
    fsm.handle_packet(t0, &wire::packet(Code::ConfAck, h2.identifier, d2));
    assert_eq!(fsm.state(), State::Opened);
    assert_eq!(fsm.poll_timeout(), None);
}

#[test]
fn retransmitted_request_in_opened_is_reacked_not_renegotiated() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.open(t0);
    fsm.up(t0);
    let req = drain(&mut fsm).remove(0);
    let (h, d) = wire::parse(&req).unwrap();
    fsm.handle_packet(t0, &wire::packet(Code::ConfReq, 7, &[1, 4, 5, 0xd4]));
    fsm.handle_packet(t0, &wire::packet(Code::ConfAck, h.identifier, d));
    assert_eq!(fsm.state(), State::Opened);
    drain(&mut fsm);
    let _ = events(&mut fsm);
    // The same request again (a retransmission that crossed our Ack).
    fsm.handle_packet(t0, &wire::packet(Code::ConfReq, 7, &[1, 4, 5, 0xd4]));
    assert_eq!(fsm.state(), State::Opened);
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(Code::ConfAck, 7, &[1, 4, 5, 0xd4])]
    );
    assert!(events(&mut fsm).is_empty());
    assert_eq!(fsm.duplicates_absorbed(), 1);
    // Same options, new identifier: a real renegotiation (§4.1 Opened+RCR).
    fsm.handle_packet(t0, &wire::packet(Code::ConfReq, 8, &[1, 4, 5, 0xd4]));
    assert_eq!(fsm.state(), State::AckSent);
    assert_eq!(events(&mut fsm), [Event::Down]);
}

/// An Echo-Request carrying our own Magic-Number (0x11223344 here) is our
/// own request looped back: reported, not answered. Zero and other numbers
/// are answered.
#[test]
fn echo_request_with_our_magic_is_looped_not_answered() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.force(State::Opened, 0, t0);
    fsm.handle_packet(
        t0,
        &wire::packet(Code::EchoReq, 9, &[0x11, 0x22, 0x33, 0x44, 7]),
    );
    assert!(drain(&mut fsm).is_empty());
    assert_eq!(events(&mut fsm), [Event::LoopedEchoRequest]);
    fsm.handle_packet(t0, &wire::packet(Code::EchoReq, 10, &[0, 0, 0, 0, 7]));
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(
            Code::EchoRep,
            10,
            &[0x11, 0x22, 0x33, 0x44, 7]
        )]
    );
    assert_eq!(events(&mut fsm), [Event::EchoRequest]);
    // Outside Opened nothing is reported at all.
    fsm.force(State::AckSent, 0, t0);
    fsm.handle_packet(
        t0,
        &wire::packet(Code::EchoReq, 11, &[0x11, 0x22, 0x33, 0x44]),
    );
    assert!(drain(&mut fsm).is_empty());
    assert!(events(&mut fsm).is_empty());
}

#[test]
fn echo_reply_truncated_to_peer_limit() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.force(State::Opened, 0, t0);
    fsm.handle_packet(
        t0,
        &wire::packet(Code::EchoReq, 7, &[0, 0, 0, 1, 1, 2, 3, 4, 5, 6]),
    );
    // max_packet 12: header 4 + magic 4 + 4 data bytes.
    assert_eq!(
        drain(&mut fsm),
        [wire::packet(
            Code::EchoRep,
            7,
            &[0x11, 0x22, 0x33, 0x44, 1, 2, 3, 4]
        )]
    );
    assert_eq!(events(&mut fsm), [Event::EchoRequest]);
    fsm.handle_packet(t0, &wire::packet(Code::EchoRep, 8, &[9, 9, 9, 9]));
    assert_eq!(
        events(&mut fsm),
        [Event::EchoReply {
            identifier: 8,
            magic: 0x0909_0909
        }]
    );
    // Discard, Identification, Time-Remaining: silent.
    for code in [11, 12, 13] {
        fsm.handle_packet(t0, &wire::packet(Code::from(code), 1, &[0, 0, 0, 0, 65]));
    }
    assert!(drain(&mut fsm).is_empty());
    assert_eq!(fsm.state(), State::Opened);
}

#[test]
fn protocol_reject() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.force(State::Opened, 0, t0);
    fsm.handle_packet(
        t0,
        &wire::packet(Code::ProtRej, 1, &[0x80, 0x57, 1, 1, 0, 4]),
    );
    assert_eq!(
        events(&mut fsm),
        [Event::ProtocolRejected { protocol: 0x8057 }]
    );
    assert_eq!(fsm.state(), State::Opened);
    fsm.handle_packet(t0, &wire::packet(Code::ProtRej, 2, &[0xc0]));
    assert_eq!(
        fsm.state(),
        State::Opened,
        "truncated Protocol-Reject discarded"
    );
    fsm.handle_packet(t0, &wire::packet(Code::ProtRej, 3, &[0xc0, 0x21]));
    assert_eq!(fsm.state(), State::Stopping, "LCP itself rejected: RXJ-");
}

#[test]
fn code_reject_truncated_and_malformed_ignored() {
    let t0 = Instant::now();
    let mut fsm = Fsm::new(TestProto::default(), cfg(), 1);
    fsm.force(State::Opened, 0, t0);
    let bogus = wire::packet(Code::Unknown(200), 5, &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
    fsm.handle_packet(t0, &bogus);
    let out = drain(&mut fsm);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].len(), 12, "Code-Reject fits max_packet");
    assert_eq!(&out[0][4..], &bogus[..8]);
    for junk in [
        &[][..],
        &[1],
        &[1, 2, 0, 3],
        &[1, 2, 0, 9, 0],
        &[1, 2, 0, 6, 1, 0],
    ] {
        fsm.handle_packet(t0, junk);
    }
    assert!(drain(&mut fsm).is_empty());
    assert_eq!(fsm.state(), State::Opened);
}
