//! Whole negotiations: a server [`Link`] and a client [`Peer`] exchanging
//! frames in virtual time (quinn `tests/util.rs` style `Pair`).

mod auth;
mod garbage;
mod ipcp;
mod ipv6cp;
mod lcp;

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
