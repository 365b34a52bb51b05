//! Whole negotiations: a server [`Link`] and a client [`Peer`] exchanging
//! frames in virtual time (quinn `tests/util.rs` style `Pair`).

use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use super::chap::md5_response;
use super::link::{Link, LinkConfig, LinkEvent, Phase};
use super::peer::{Peer, PeerConfig, PeerEvent};
use super::rng::Rng;
use super::{proto, AuthProto, AuthResult, Credential, DownReason, State};
use crate::wire::ppp::{self as wire, Code};

const ASSIGNED: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 2);
const DNS1: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 53);
const DNS2: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 53);

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToClient,
    ToServer,
}

#[derive(Debug, Clone)]
struct Frame {
    at: Duration,
    dir: Dir,
    protocol: u16,
    info: Vec<u8>,
}

impl Frame {
    fn code(&self) -> Option<u8> {
        self.info.first().copied()
    }
    fn data(&self) -> &[u8] {
        wire::parse(&self.info).map(|(_, d)| d).unwrap_or(&[])
    }
}

type Filter = Box<dyn FnMut(Dir, u16, &[u8]) -> bool>;

/// The secret store the session layer would consult: alice/secret.
fn authenticate(user: &str, cred: &Credential) -> AuthResult {
    let ok = user == "alice"
        && match cred {
            Credential::Pap { password } => password == b"secret",
            Credential::ChapMd5 {
                identifier,
                challenge,
                response,
            } => md5_response(*identifier, b"secret", challenge).as_slice() == response,
        };
    if ok {
        AuthResult::Accept { address: ASSIGNED }
    } else {
        AuthResult::Reject {
            message: "authentication failed".into(),
        }
    }
}

struct Pair {
    t0: Instant,
    now: Instant,
    server: Link,
    client: Peer,
    log: Vec<Frame>,
    server_events: Vec<(Duration, LinkEvent)>,
    client_events: Vec<(Duration, PeerEvent)>,
    /// Return false to drop a frame in flight.
    pass: Filter,
}

fn server_cfg() -> LinkConfig {
    LinkConfig {
        auth_name: "bras".into(),
        dns: [Some(DNS1), Some(DNS2)],
        ..LinkConfig::default()
    }
}

fn client_cfg() -> PeerConfig {
    PeerConfig {
        user: "alice".into(),
        password: b"secret".to_vec(),
        ..PeerConfig::default()
    }
}

impl Pair {
    fn new(server: LinkConfig, client: PeerConfig) -> Self {
        let t0 = Instant::now();
        Pair {
            t0,
            now: t0,
            server: Link::with_rng(server, t0, Rng::seeded(1)),
            client: Peer::new(client, t0, 2),
            log: Vec::new(),
            server_events: Vec::new(),
            client_events: Vec::new(),
            pass: Box::new(|_, _, _| true),
        }
    }

    fn default() -> Self {
        Self::new(server_cfg(), client_cfg())
    }

    fn elapsed(&self) -> Duration {
        self.now - self.t0
    }

    /// Exchange frames and events without advancing time; true if anything moved.
    fn step(&mut self) -> bool {
        let mut moved = false;
        while let Some((protocol, info)) = self.server.poll_transmit() {
            moved = true;
            self.log.push(Frame {
                at: self.elapsed(),
                dir: Dir::ToClient,
                protocol,
                info: info.clone(),
            });
            if (self.pass)(Dir::ToClient, protocol, &info) {
                self.client.handle_frame(self.now, protocol, &info);
            }
        }
        while let Some((protocol, info)) = self.client.poll_transmit() {
            moved = true;
            self.log.push(Frame {
                at: self.elapsed(),
                dir: Dir::ToServer,
                protocol,
                info: info.clone(),
            });
            if (self.pass)(Dir::ToServer, protocol, &info) {
                self.server.handle_frame(self.now, protocol, &info);
            }
        }
        while let Some(ev) = self.server.poll_event() {
            moved = true;
            if let LinkEvent::Authenticate { user, credential } = &ev {
                let verdict = authenticate(user, credential);
                self.server.handle_auth_result(self.now, verdict);
            }
            self.server_events.push((self.elapsed(), ev));
        }
        while let Some(ev) = self.client.poll_event() {
            moved = true;
            self.client_events.push((self.elapsed(), ev));
        }
        moved
    }

    fn settle(&mut self) {
        let mut n = 0;
        while self.step() {
            n += 1;
            assert!(n < 10_000, "no convergence");
        }
    }

    /// Run in virtual time until `d` from now.
    fn drive_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        loop {
            let next = [self.server.poll_timeout(), self.client.poll_timeout()]
                .into_iter()
                .flatten()
                .min();
            match next {
                Some(t) if t <= end => {
                    assert!(t >= self.now, "timer in the past");
                    self.now = t;
                    self.server.handle_timeout(t);
                    self.client.handle_timeout(t);
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    /// Run until both sides are idle (no timers) or a virtual 10 minutes.
    fn drive(&mut self) {
        self.drive_for(Duration::from_secs(600));
    }

    fn server_evs(&self) -> Vec<LinkEvent> {
        self.server_events.iter().map(|(_, e)| e.clone()).collect()
    }

    fn client_evs(&self) -> Vec<PeerEvent> {
        self.client_events.iter().map(|(_, e)| e.clone()).collect()
    }

    fn frames(&self, dir: Dir, protocol: u16, code: Code) -> Vec<&Frame> {
        let c = u8::from(code);
        self.log
            .iter()
            .filter(|f| f.dir == dir && f.protocol == protocol && f.code() == Some(c))
            .collect()
    }

    /// Inject a frame into the server as if from the client; returns what
    /// the server sends back right away.
    fn inject(&mut self, protocol: u16, info: &[u8]) -> Vec<(u16, Vec<u8>)> {
        self.server.handle_frame(self.now, protocol, info);
        std::iter::from_fn(|| self.server.poll_transmit()).collect()
    }
}

fn up_event(mru: u16, dns: [Option<Ipv4Addr>; 2]) -> PeerEvent {
    PeerEvent::Up {
        address: ASSIGNED,
        peer_address: Ipv4Addr::new(172, 16, 0, 254),
        dns,
        mru,
    }
}

fn assert_up(p: &Pair, proto: AuthProto) {
    let s = p.server_evs();
    assert!(
        matches!(&s[0], LinkEvent::Authenticate { user, .. } if user == "alice"),
        "{s:?}"
    );
    assert_eq!(
        &s[1..],
        [
            LinkEvent::AuthSucceeded {
                user: "alice".into(),
                proto
            },
            LinkEvent::NetworkUp {
                peer_address: ASSIGNED
            }
        ]
    );
    assert_eq!(p.server.phase(), Phase::Network);
    assert_eq!(p.server.lcp_state(), State::Opened);
    assert_eq!(p.server.ipcp_state(), State::Opened);
    assert_eq!(p.server.user(), Some("alice"));
    assert_eq!(p.server.auth_proto(), Some(proto));
    assert_eq!(p.client.ipcp_state(), State::Opened);
}

#[test]
fn chap_success() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    assert!(matches!(
        &p.server_evs()[0],
        LinkEvent::Authenticate { credential: Credential::ChapMd5 { challenge, .. }, .. } if challenge.len() == 16
    ));
    assert_eq!(
        p.client_evs(),
        [
            PeerEvent::Authenticated,
            up_event(1492, [Some(DNS1), Some(DNS2)])
        ]
    );
    // Converged at t=0 without a single retransmission.
    assert!(p.log.iter().all(|f| f.at == Duration::ZERO));
    // Server's first LCP request: MRU 1492, CHAP-MD5, magic.
    let req = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&req.data()[..9], &[1, 4, 0x05, 0xd4, 3, 5, 0xc2, 0x23, 5]);
    // The CHAP Success carries "Welcome".
    let ok = p.frames(Dir::ToClient, proto::CHAP, Code::from(3));
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].data(), b"Welcome");
}

#[test]
fn pap_success() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Pap);
    assert!(matches!(
        &p.server_evs()[0],
        LinkEvent::Authenticate { credential: Credential::Pap { password }, .. } if password == b"secret"
    ));
    let ack = p.frames(Dir::ToClient, proto::PAP, Code::from(2));
    assert_eq!(ack[0].data(), b"\x08Login ok");
}

#[test]
fn chap_to_pap_fallback() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Pap);
    let nak = p.frames(Dir::ToServer, proto::LCP, Code::ConfNak);
    assert_eq!(nak[0].data(), [3, 4, 0xc0, 0x23]);
    let reqs = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq);
    assert_eq!(&reqs[1].data()[4..8], &[3, 4, 0xc0, 0x23]);
}

#[test]
fn mschapv2_first_client_falls_back() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            auth_nak_first: Some(vec![0xc2, 0x23, 0x81]),
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    // MS-CHAPv2 is not ours: the next protocol in our list, PAP.
    assert_up(&p, AuthProto::Pap);
    assert_eq!(
        p.frames(Dir::ToServer, proto::LCP, Code::ConfNak)[0].data(),
        [3, 5, 0xc2, 0x23, 0x81]
    );
}

#[test]
fn no_common_auth_protocol_fails() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Chap],
            ..server_cfg()
        },
        PeerConfig {
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(30));
    assert_eq!(
        p.server_evs(),
        [LinkEvent::Down {
            reason: DownReason::NegotiationFailed("auth")
        }]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermReq).len(), 1);
}

#[test]
fn wrong_password() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            password: b"wrong".to_vec(),
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(10));
    let s = p.server_evs();
    assert_eq!(
        &s[1..],
        [
            LinkEvent::AuthFailed {
                user: "alice".into(),
                message: "authentication failed".into()
            },
            LinkEvent::Down {
                reason: DownReason::AuthFailed
            }
        ]
    );
    let fail = p.frames(Dir::ToClient, proto::CHAP, Code::from(4));
    assert_eq!(fail[0].data(), b"authentication failed");
    // Failure first, then LCP Terminate-Request; the client acks.
    let fail_idx = p
        .log
        .iter()
        .position(|f| f.protocol == proto::CHAP && f.code() == Some(4));
    let term_idx = p
        .log
        .iter()
        .position(|f| f.protocol == proto::LCP && f.code() == Some(5));
    assert!(fail_idx < term_idx && term_idx.is_some());
    assert_eq!(p.frames(Dir::ToServer, proto::LCP, Code::TermAck).len(), 1);
    assert_eq!(
        p.client_evs(),
        [
            PeerEvent::AuthFailed {
                message: "authentication failed".into()
            },
            PeerEvent::Down {
                reason: DownReason::AuthFailed
            }
        ]
    );
    assert!(p.server.is_down() && p.server.poll_timeout().is_none());
}

#[test]
fn ipcp_naks_zero_address_and_returns_both_dns() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    let nak = p.frames(Dir::ToClient, proto::IPCP, Code::ConfNak);
    assert_eq!(nak.len(), 1);
    assert_eq!(
        nak[0].data(),
        [3, 6, 100, 64, 0, 2, 129, 6, 192, 0, 2, 53, 131, 6, 198, 51, 100, 53]
    );
    // Server's own request: IP-Address 172.16.0.254.
    let req = p.frames(Dir::ToClient, proto::IPCP, Code::ConfReq);
    assert_eq!(req[0].data(), [3, 6, 172, 16, 0, 254]);
}

#[test]
fn dns_not_configured_is_rejected() {
    let mut p = Pair::new(
        LinkConfig {
            dns: [Some(DNS1), None],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(5));
    let rej = p.frames(Dir::ToClient, proto::IPCP, Code::ConfRej);
    assert_eq!(rej[0].data(), [131, 6, 0, 0, 0, 0]);
    assert_eq!(
        p.client_evs().last(),
        Some(&up_event(1492, [Some(DNS1), None]))
    );
}

#[test]
fn vj_rejected() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            request_vj: true,
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    let rej = p.frames(Dir::ToClient, proto::IPCP, Code::ConfRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data(), [2, 6, 0, 0x2d, 0x0f, 1]);
}

#[test]
fn ipcp_closed_by_the_peer_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    let out = p.inject(proto::IPCP, &wire::packet(Code::TermReq, 0x77, &[]));
    assert_eq!(out, [(proto::IPCP, wire::packet(Code::TermAck, 0x77, &[]))]);
    assert_eq!(p.server.poll_event(), Some(LinkEvent::NetworkDown));
    assert_eq!(p.server.lcp_state(), State::Opened, "Stopping: not yet");
    // Stopping → Stopped (This-Layer-Finished): no NCP is left, so the
    // link ends with LCP Terminate, as pppd does ("No network protocols
    // running"), instead of holding the lease forever.
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipcp")
    }));
    assert!(
        !p.frames(Dir::ToClient, proto::LCP, Code::TermReq)
            .is_empty(),
        "LCP Terminate-Request sent"
    );
}

#[test]
fn ipcp_that_never_converges_ends_the_link() {
    // The peer answers LCP and CHAP but drops every IPCP packet: our
    // Configure-Requests run into Max-Configure (tlf).
    let mut p = Pair::default();
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP);
    p.drive_for(Duration::from_secs(60));
    assert!(p.server.is_down());
    let evs = p.server_evs();
    assert!(!evs.iter().any(|e| matches!(e, LinkEvent::NetworkUp { .. })));
    assert!(evs.contains(&LinkEvent::Down {
        reason: DownReason::NegotiationFailed("ipcp")
    }));
}

#[test]
fn peer_that_insists_on_its_own_address_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    // Take IPCP down and over: the peer asks for 100.64.0.99 again and
    // again, whatever we Nak.
    let theirs = [100, 64, 0, 99];
    let mut naks = 0;
    for id in 0..20u8 {
        let out = p.inject(
            proto::IPCP,
            &wire::packet(
                Code::ConfReq,
                id,
                &[3, 6, theirs[0], theirs[1], theirs[2], theirs[3]],
            ),
        );
        naks += out
            .iter()
            .filter(|(pr, i)| *pr == proto::IPCP && i[0] == u8::from(Code::ConfNak))
            .count();
        if p.server.is_down()
            || p.server_evs()
                .iter()
                .any(|e| matches!(e, LinkEvent::Down { .. }))
        {
            break;
        }
    }
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert_eq!(naks, 5, "Max-Failure Naks, then it ends");
    let evs = p.server_evs();
    assert!(
        evs.contains(&LinkEvent::Down {
            reason: DownReason::PeerInsists {
                asked: Ipv4Addr::from(theirs),
                assigned: ASSIGNED
            }
        }),
        "{evs:?}"
    );
}

#[test]
fn ccp_and_ipv6cp_protocol_rejected_link_stays_up() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            extra_protocols: vec![proto::CCP, proto::IPV6CP],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    assert_eq!(p.client.rejected_protocols(), [proto::CCP, proto::IPV6CP]);
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[0].data(), [0x80, 0xfd, 1, rej[0].data()[3], 0, 4]);
    assert_eq!(&rej[1].data()[..2], [0x80, 0x57]);
    assert_eq!(rej[1].data().len(), 2 + 4 + 10);
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down() && p.client.is_up());
}

#[test]
fn echo_timeout_at_the_right_virtual_time() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // Echoes are answered while the client is alive.
    p.drive_for(Duration::from_secs(30));
    assert_eq!(p.frames(Dir::ToServer, proto::LCP, Code::EchoRep).len(), 3);
    assert!(!p.server.is_down());
    // The client vanishes at t=31 s.
    p.pass = Box::new(|_, _, _| false);
    p.drive();
    let reqs: Vec<Duration> = p
        .frames(Dir::ToClient, proto::LCP, Code::EchoReq)
        .iter()
        .map(|f| f.at)
        .collect();
    let s = |n| Duration::from_secs(n);
    assert_eq!(reqs, [s(10), s(20), s(30), s(40), s(50), s(60)]);
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. } | LinkEvent::NetworkDown))
        .cloned()
        .collect();
    // Echo at 30 was answered; 40, 50, 60 were not; down at 70 without a
    // Terminate-Request.
    assert_eq!(
        downs,
        [
            (s(70), LinkEvent::NetworkDown),
            (
                s(70),
                LinkEvent::Down {
                    reason: DownReason::EchoTimeout
                }
            )
        ]
    );
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::TermReq)
        .is_empty());
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn echo_request_carries_magic() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    let req = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq)[0].clone();
    let server_req = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq)[0].clone();
    assert_eq!(req.data(), &server_req.data()[11..15], "our magic");
    let rep = p.frames(Dir::ToServer, proto::LCP, Code::EchoRep)[0].clone();
    assert_eq!(rep.info[1], req.info[1], "same identifier");
}

#[test]
fn yamaha_mru_1454_learned_and_echo_reply_fits() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        PeerConfig {
            mru: 1454,
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(2));
    assert_up(&p, AuthProto::Pap);
    assert_eq!(p.server.peer_mru(), 1454);
    assert_eq!(p.client.peer_mru(), 1492);
    let mut data = vec![0, 0, 0, 0];
    data.extend(std::iter::repeat_n(0xab, 1600));
    let out = p.inject(proto::LCP, &wire::packet(Code::EchoReq, 5, &data));
    assert_eq!(out.len(), 1);
    let (prot, rep) = &out[0];
    assert_eq!(*prot, proto::LCP);
    assert_eq!(rep.len(), 1454, "Echo-Reply truncated to the peer MRU");
    let (h, d) = wire::parse(rep).unwrap();
    assert_eq!(
        (h.code, h.identifier, usize::from(h.length)),
        (Code::EchoRep, 5, 1454)
    );
    assert!(d[4..].iter().all(|b| *b == 0xab));
    // Protocol-Reject likewise.
    let out = p.inject(0x1234, &vec![7; 3000]);
    assert_eq!(out[0].1.len(), 1454);
    assert_eq!(&out[0].1[4..6], &[0x12, 0x34]);
}

#[test]
fn peer_mru_too_large_is_naked() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            mru: 1500,
            ..client_cfg()
        },
    );
    // The client keeps 1500 max; clamp happens on the Nak.
    p.drive_for(Duration::from_secs(2));
    let nak = p.frames(Dir::ToClient, proto::LCP, Code::ConfNak);
    assert_eq!(nak[0].data(), [1, 4, 0x05, 0xd4]);
    assert_up(&p, AuthProto::Chap);
    assert_eq!(p.server.peer_mru(), 1492);
}

#[test]
fn magic_loopback() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(9));
    let mut events = Vec::new();
    for _ in 0..100 {
        let Some((protocol, info)) = link.poll_transmit() else {
            break;
        };
        link.handle_frame(t0, protocol, &info);
        events.extend(std::iter::from_fn(|| link.poll_event()));
    }
    assert_eq!(
        events,
        [LinkEvent::Down {
            reason: DownReason::LoopedBack
        }]
    );
    assert!(link.is_down());
}

/// RFC 1661 §6.4 on a looped line: our own Echo-Requests come back as
/// Echo-Requests carrying our Magic-Number. They are counted, never
/// answered, do not count as a live peer, and when keepalive gives up the
/// reason is LoopedBack (no Terminate-Request), not EchoTimeout.
#[test]
fn looped_echo_requests_end_the_link_as_looped_back() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // The client is gone; the line now returns what the server sends.
    p.pass = Box::new(|_, _, _| false);
    let s = Duration::from_secs;
    for n in 1..=3u64 {
        p.drive_for(s(10));
        let req = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq);
        assert_eq!(req.len() as u64, n);
        let (at, info) = (req[req.len() - 1].at, req[req.len() - 1].info.clone());
        assert_eq!(at, s(10 * n));
        assert_eq!(
            p.inject(proto::LCP, &info),
            vec![],
            "a looped request is not answered"
        );
        assert_eq!(p.server.looped_echoes(), n);
        assert!(!p.server.is_down());
    }
    p.settle();
    p.drive();
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. }))
        .cloned()
        .collect();
    assert_eq!(
        downs,
        [(
            s(40),
            LinkEvent::Down {
                reason: DownReason::LoopedBack
            }
        )]
    );
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::TermReq)
        .is_empty());
}

/// The same Echo-Request with another Magic-Number is a live peer: it is
/// answered with ours, and the loop evidence is forgotten.
#[test]
fn echo_request_with_another_magic_is_answered() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    let ours = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq)[0]
        .data()
        .to_vec();
    let mut other = ours.clone();
    other[3] ^= 1;
    let out = p.inject(
        proto::LCP,
        &wire::packet(Code::EchoReq, 0x77, &[&other[..], b"hi"].concat()),
    );
    assert_eq!(
        out,
        vec![(
            proto::LCP,
            wire::packet(Code::EchoRep, 0x77, &[&ours[..], b"hi"].concat())
        )]
    );
    assert_eq!(p.server.looped_echoes(), 0);
}

#[test]
fn unknown_lcp_code_gets_code_reject() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let bogus = wire::packet(Code::Unknown(0x40), 3, &[1, 2, 3]);
    let out = p.inject(proto::LCP, &bogus);
    assert_eq!(out.len(), 1);
    let (h, d) = wire::parse(&out[0].1).unwrap();
    assert_eq!(h.code, Code::CodeRej);
    assert_eq!(d, bogus.as_slice());
    // Identification and Time-Remaining are ignored silently.
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::Identification, 4, &[0, 0, 0, 0, b'x'])
        )
        .is_empty());
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::TimeRemaining, 5, &[0, 0, 0, 0, 0, 0, 0, 9])
        )
        .is_empty());
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::DiscardReq, 6, &[0, 0, 0, 0])
        )
        .is_empty());
    assert_eq!(p.server.lcp_state(), State::Opened);
}

#[test]
fn peer_terminate() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    // Directly: the Ack is queued before the Down event is visible.
    p.server.handle_frame(
        p.now,
        proto::LCP,
        &wire::packet(Code::TermReq, 0x21, b"bye"),
    );
    assert_eq!(
        p.server.poll_transmit(),
        Some((proto::LCP, wire::packet(Code::TermAck, 0x21, &[])))
    );
    assert_eq!(p.server.poll_transmit(), None);
    let evs: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        evs,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::PeerTerminate
            }
        ]
    );
    assert!(p.server.is_down());
}

#[test]
fn peer_terminate_via_client_close() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.client.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(10));
    let tail: Vec<_> = p.server_evs().into_iter().skip(3).collect();
    assert_eq!(
        tail,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::PeerTerminate
            }
        ]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermAck).len(), 1);
    assert_eq!(
        p.client_evs().last(),
        Some(&PeerEvent::Down {
            reason: DownReason::AdminClose
        })
    );
    // Dead links ignore input and have no timers.
    assert!(p
        .inject(proto::LCP, &wire::packet(Code::EchoReq, 1, &[0; 4]))
        .is_empty());
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn admin_close() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.server.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(10));
    let tail: Vec<_> = p.server_evs().into_iter().skip(3).collect();
    assert_eq!(
        tail,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::AdminClose
            }
        ]
    );
    assert_eq!(
        p.client_evs().last(),
        Some(&PeerEvent::Down {
            reason: DownReason::PeerTerminate
        })
    );
}

#[test]
fn admin_close_dead_peer_after_max_terminate() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.pass = Box::new(|_, _, _| false);
    p.server.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(20));
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. }))
        .cloned()
        .collect();
    assert_eq!(
        downs,
        [(
            Duration::from_secs(7),
            LinkEvent::Down {
                reason: DownReason::AdminClose
            }
        )]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermReq).len(), 2);
}

#[test]
fn lcp_negotiation_timeout() {
    let mut p = Pair::default();
    p.pass = Box::new(|_, _, _| false);
    p.drive();
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::ConfReq).len(), 10);
    assert_eq!(
        p.server_events,
        [(
            Duration::from_secs(30),
            LinkEvent::Down {
                reason: DownReason::NegotiationFailed("lcp")
            }
        )]
    );
}

#[test]
fn auth_timeout() {
    let mut p = Pair::default();
    // The client never answers the challenge.
    p.pass = Box::new(|dir, protocol, _| !(dir == Dir::ToServer && protocol == proto::CHAP));
    p.drive_for(Duration::from_secs(60));
    // Challenges retransmitted every 3 s.
    assert_eq!(
        p.frames(Dir::ToClient, proto::CHAP, Code::from(1)).len(),
        10
    );
    let term = p.frames(Dir::ToClient, proto::LCP, Code::TermReq);
    assert_eq!(term[0].at, Duration::from_secs(30));
    assert_eq!(
        p.server_events,
        [(
            Duration::from_secs(30),
            LinkEvent::Down {
                reason: DownReason::AuthTimeout
            }
        )]
    );
}

#[test]
fn late_or_unsolicited_auth_result_ignored() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(3));
    link.handle_auth_result(t0, AuthResult::Accept { address: ASSIGNED });
    assert_eq!(link.phase(), Phase::Establish);
    assert!(link.poll_event().is_none());
}

#[test]
fn ncp_before_network_phase_discarded_and_ipv4_ignored() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(3));
    while link.poll_transmit().is_some() {}
    link.handle_frame(
        t0,
        proto::IPCP,
        &wire::packet(Code::ConfReq, 1, &[3, 6, 0, 0, 0, 0]),
    );
    link.handle_frame(t0, proto::CCP, &wire::packet(Code::ConfReq, 1, &[]));
    link.handle_frame(t0, proto::IPV4, &[0x45, 0, 0, 20]);
    assert!(link.poll_transmit().is_none());
    assert!(link.poll_event().is_none());
}

/// Feed `info` and mutated/truncated variants of it, for every protocol,
/// into both machines. Must not panic, whatever state they are in.
fn hammer(p: &mut Pair, rng: &mut Rng, info: &[u8]) {
    let protos = [
        proto::LCP,
        proto::PAP,
        proto::CHAP,
        proto::IPCP,
        proto::IPV6CP,
        proto::CCP,
        proto::IPV4,
        0x1234,
    ];
    let mut variants: Vec<Vec<u8>> = (0..=info.len().min(12))
        .map(|n| info[..n].to_vec())
        .collect();
    for _ in 0..8 {
        let mut v = info.to_vec();
        if !v.is_empty() {
            let i = (rng.next_u32() as usize) % v.len();
            v[i] = rng.next_u8();
        }
        variants.push(v);
        let mut r = vec![0u8; (rng.next_u32() % 40) as usize];
        rng.fill(&mut r);
        variants.push(r);
    }
    for v in &variants {
        for &pr in &protos {
            p.server.handle_frame(p.now, pr, v);
            p.client.handle_frame(p.now, pr, v);
        }
    }
    // Drain without delivering (they are answers to junk).
    while p.server.poll_transmit().is_some() {}
    while p.client.poll_transmit().is_some() {}
    while p.server.poll_event().is_some() {}
    while p.client.poll_event().is_some() {}
}

#[test]
fn garbage_in_every_state_never_panics() {
    let mut rng = Rng::seeded(42);
    let templates: Vec<Vec<u8>> = vec![
        wire::packet(
            Code::ConfReq,
            1,
            &[1, 4, 5, 0xd4, 3, 5, 0xc2, 0x23, 5, 5, 6, 1, 2, 3, 4],
        ),
        wire::packet(Code::ConfAck, 1, &[1, 4, 5, 0xd4]),
        wire::packet(Code::ConfNak, 1, &[3, 4, 0xc0, 0x23, 1, 4, 0, 10]),
        wire::packet(Code::ConfRej, 1, &[3, 5, 0xc2, 0x23, 5, 5, 6, 0, 0, 0, 0]),
        wire::packet(Code::TermAck, 1, &[]),
        wire::packet(Code::CodeRej, 1, &[1, 1, 0, 4]),
        wire::packet(Code::ProtRej, 1, &[0x80, 0x21, 1]),
        wire::packet(Code::EchoReq, 1, &[0, 0, 0, 0, 1]),
        wire::packet(Code::EchoRep, 1, &[0, 0, 0, 1]),
        wire::packet(
            Code::from(1),
            1,
            &[5, b'a', b'l', b'i', b'c', b'e', 3, b'x'],
        ),
        wire::packet(Code::from(2), 1, &[16, 0, 0]),
        wire::packet(Code::from(3), 1, b"ok"),
        vec![0xff; 64],
        vec![],
    ];
    // Snapshot points: after each settle step in a normal negotiation and
    // during teardown, hammer both machines with junk.
    for seed in 0..6u64 {
        let mut p = Pair::new(
            LinkConfig {
                auth: if seed % 2 == 0 {
                    vec![AuthProto::Chap, AuthProto::Pap]
                } else {
                    vec![AuthProto::Pap]
                },
                ..server_cfg()
            },
            PeerConfig {
                request_vj: seed % 3 == 0,
                extra_protocols: vec![proto::CCP],
                ..client_cfg()
            },
        );
        for round in 0..12 {
            for t in &templates {
                hammer(&mut p, &mut rng, t);
            }
            // Also replay real frames seen so far, truncated and mutated.
            let seen: Vec<Vec<u8>> = p.log.iter().map(|f| f.info.clone()).collect();
            for f in seen.iter().rev().take(10) {
                hammer(&mut p, &mut rng, f);
            }
            if round == 8 {
                p.server.close(p.now, DownReason::AdminClose);
            }
            p.step();
            p.drive_for(Duration::from_millis(1500 + seed * 100));
        }
    }
}

#[test]
fn lcp_renegotiation_reauthenticates() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // The peer restarts LCP while Opened (RFC 1661: tld, scr, sca).
    p.server.handle_frame(
        p.now,
        proto::LCP,
        &wire::packet(Code::ConfReq, 0x99, &[1, 4, 0x05, 0xd4, 5, 6, 9, 9, 9, 9]),
    );
    p.drive_for(Duration::from_secs(5));
    let s = p.server_evs();
    assert_eq!(s[3], LinkEvent::NetworkDown);
    assert!(matches!(&s[4], LinkEvent::Authenticate { user, .. } if user == "alice"));
    assert_eq!(
        &s[5..],
        [
            LinkEvent::AuthSucceeded {
                user: "alice".into(),
                proto: AuthProto::Chap
            },
            LinkEvent::NetworkUp {
                peer_address: ASSIGNED
            }
        ]
    );
    assert_eq!(p.server.phase(), Phase::Network);
    assert!(p.client.is_up());
}

#[test]
fn duplicate_auth_after_verdict_gets_same_verdict() {
    // CHAP: replay the client's Response.
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let resp = p.frames(Dir::ToServer, proto::CHAP, Code::from(2))[0]
        .info
        .clone();
    let out = p.inject(proto::CHAP, &resp);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, proto::CHAP);
    assert_eq!(out[0].1[0], 3, "Success again");
    assert_eq!(out[0].1[1], resp[1], "same identifier");
    assert!(p.server.poll_event().is_none(), "not re-asked");
    // A Response with another identifier is ignored.
    let mut other = resp.clone();
    other[1] = other[1].wrapping_add(1);
    assert!(p.inject(proto::CHAP, &other).is_empty());

    // PAP: replay the Authenticate-Request.
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(1));
    let req = p.frames(Dir::ToServer, proto::PAP, Code::from(1))[0]
        .info
        .clone();
    let out = p.inject(proto::PAP, &req);
    assert_eq!(
        out,
        [(
            proto::PAP,
            super::pap::reply_packet(true, req[1], "Login ok")
        )]
    );
    assert!(p.server.poll_event().is_none());
}

#[test]
fn lost_pap_ack_is_recovered_by_client_retransmission() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    let mut dropped = false;
    p.pass = Box::new(move |dir, protocol, info| {
        if dir == Dir::ToClient && protocol == proto::PAP && info[0] == 2 && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.frames(Dir::ToServer, proto::PAP, Code::from(1)).len(), 2);
    assert_eq!(
        p.server_evs()
            .iter()
            .filter(|e| matches!(e, LinkEvent::Authenticate { .. }))
            .count(),
        1
    );
    assert!(p.client.is_up());
    assert_eq!(p.server.phase(), Phase::Network);
}

#[test]
fn client_loopback_detected() {
    let t0 = Instant::now();
    let mut peer = Peer::new(client_cfg(), t0, 5);
    let mut events = Vec::new();
    for _ in 0..200 {
        let Some((protocol, info)) = peer.poll_transmit() else {
            break;
        };
        peer.handle_frame(t0, protocol, &info);
        events.extend(std::iter::from_fn(|| peer.poll_event()));
    }
    assert!(
        matches!(
            events.last(),
            Some(PeerEvent::Down {
                reason: DownReason::LoopedBack
            })
        ),
        "{events:?}"
    );
}

#[test]
fn kill_on_padt_sends_nothing() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    // An Echo-Request is due now-ish; queue something, then PADT arrives.
    p.server
        .handle_frame(p.now, proto::LCP, &wire::packet(Code::EchoReq, 1, &[0; 4]));
    p.server.kill(DownReason::Padt);
    p.server.kill(DownReason::AdminClose);
    assert_eq!(p.server.poll_transmit(), None);
    let evs: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        evs,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::Padt
            }
        ]
    );
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn protocol_reject_of_ipcp_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let out = p.inject(
        proto::LCP,
        &wire::packet(Code::ProtRej, 7, &[0x80, 0x21, 1, 1, 0, 4]),
    );
    // RXJ- in Opened: tld, irc, str (IPCP Terminate-Request).
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1[0]), (proto::IPCP, 5));
    assert_eq!(p.server.poll_event(), Some(LinkEvent::NetworkDown));
    assert_eq!(p.server.lcp_state(), State::Opened);
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP);
    p.drive_for(Duration::from_secs(30));
    // IPCP stopped (tlf) and it was the only NCP: the link ends.
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipcp")
    }));
}

// ---- IPv6CP (RFC 5072) and the two NCPs side by side ----

fn v6_server(ipv4: bool, ipv6: bool) -> LinkConfig {
    LinkConfig {
        ipv4,
        ipv6,
        ..server_cfg()
    }
}

fn v6_client(ipv4: bool, ipv6: bool) -> PeerConfig {
    PeerConfig {
        ipv4,
        ipv6,
        ..client_cfg()
    }
}

fn ipv6_up_of(evs: &[LinkEvent]) -> Option<(u64, Option<u64>)> {
    evs.iter().find_map(|e| match e {
        LinkEvent::Ipv6Up { our_iid, peer_iid } => Some((*our_iid, *peer_iid)),
        _ => None,
    })
}

#[test]
fn dual_stack_both_ncps_open() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.server.ipcp_state(), State::Opened);
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    assert_eq!(p.client.ipv6cp_state(), State::Opened);
    let (ours, peers) = ipv6_up_of(&p.server_evs()).expect("Ipv6Up");
    assert_eq!(ours, p.server.our_iid());
    assert_eq!(peers, Some(p.client.our_iid()));
    assert_eq!(p.client.peer_iid(), Some(ours));
    assert_ne!(ours, 0);
    assert!(p.server_evs().contains(&LinkEvent::NetworkUp {
        peer_address: ASSIGNED
    }));
    assert!(p.client_evs().contains(&PeerEvent::Ipv6Up {
        our_iid: peers.unwrap(),
        peer_iid: Some(ours)
    }));
    // The server's request on the wire: Interface-Identifier, length 10.
    let req = p.frames(Dir::ToClient, proto::IPV6CP, Code::ConfReq);
    assert_eq!(req[0].data()[..2], [1, 10]);
    assert_eq!(req[0].data()[2..], ours.to_be_bytes());
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::ProtRej)
        .is_empty());
    // IPv6 data is not ours to reject.
    assert!(p.inject(proto::IPV6, &[0x60, 0, 0, 0]).is_empty());
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down());
}

#[test]
fn zero_interface_identifier_is_nakd_and_converges() {
    let mut p = Pair::new(
        v6_server(true, true),
        PeerConfig {
            ipv6_first_iid: Some(0),
            ..v6_client(true, true)
        },
    );
    p.drive_for(Duration::from_secs(5));
    let naks = p.frames(Dir::ToClient, proto::IPV6CP, Code::ConfNak);
    assert_eq!(naks.len(), 1);
    let suggested = u64::from_be_bytes(naks[0].data()[2..10].try_into().unwrap());
    assert_ne!(suggested, 0);
    assert_eq!(p.client.our_iid(), suggested);
    assert_eq!(p.server.peer_iid(), Some(suggested));
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
}

#[test]
fn ipv6_only_session() {
    let mut p = Pair::new(v6_server(false, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    // The CPE's IPCP is Protocol-Rejected; IPv6 carries the link.
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x21]);
    assert_eq!(p.client.rejected_protocols(), [proto::IPCP]);
    assert_eq!(p.client.ipcp_state(), State::Stopped);
    assert_eq!(p.server.ipcp_state(), State::Initial);
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    assert!(!p
        .server_evs()
        .iter()
        .any(|e| matches!(e, LinkEvent::NetworkUp { .. })));
    assert!(ipv6_up_of(&p.server_evs()).is_some());
    p.drive_for(Duration::from_secs(120));
    assert!(!p.server.is_down());
    // The peer closes IPv6CP: the last NCP is gone, the link ends.
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x42, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipv6cp")
    }));
}

#[test]
fn ipv4_only_server_rejects_ipv6cp() {
    let mut p = Pair::new(v6_server(true, false), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x57]);
    assert!(p
        .frames(Dir::ToClient, proto::IPV6CP, Code::ConfReq)
        .is_empty());
    assert_eq!(p.client.ipv6cp_state(), State::Stopped);
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down() && p.client.is_up());
}

#[test]
fn v4_only_peer_protocol_rejects_ipv6cp_ipv4_stays() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, false));
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.client.rejected_protocols(), [] as [u16; 0]);
    let rej = p.frames(Dir::ToServer, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x57]);
    assert_eq!(p.server.ipv6cp_state(), State::Stopped);
    assert!(p.server_evs().contains(&LinkEvent::NcpFinished {
        protocol: proto::IPV6CP
    }));
    assert_eq!(p.server.ipcp_state(), State::Opened);
    p.drive_for(Duration::from_secs(120));
    assert!(!p.server.is_down());
}

#[test]
fn ipcp_closed_while_ipv6_up_keeps_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    p.inject(proto::IPCP, &wire::packet(Code::TermReq, 0x77, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(!p.server.is_down(), "IPv6 keeps it");
    let evs = p.server_evs();
    assert!(evs.contains(&LinkEvent::NetworkDown));
    assert!(evs.contains(&LinkEvent::NcpFinished {
        protocol: proto::IPCP
    }));
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    // Then IPv6CP goes too: no NCP left.
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x78, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipv6cp")
    }));
}

#[test]
fn ipv6cp_closed_while_ipv4_up_keeps_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x79, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(!p.server.is_down());
    let evs = p.server_evs();
    assert!(evs.contains(&LinkEvent::Ipv6Down));
    assert!(evs.contains(&LinkEvent::NcpFinished {
        protocol: proto::IPV6CP
    }));
    assert_eq!(p.server.ipcp_state(), State::Opened);
}

#[test]
fn neither_ncp_converges_ends_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP && protocol != proto::IPV6CP);
    p.drive_for(Duration::from_secs(60));
    assert!(p.server.is_down());
    let evs = p.server_evs();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::NegotiationFailed("ipcp" | "ipv6cp")
            }
        )),
        "{evs:?}"
    );
}
