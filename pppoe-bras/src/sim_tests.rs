//! Whole sessions in virtual time: the BRAS's [`Manager`] and emulated
//! [`Client`]s joined by a simulated Ethernet, no sockets, no clocks. Each
//! test reads like the ladder diagram of a bench capture.

use std::{
    collections::VecDeque,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use crate::{
    auth::Secrets,
    discovery::DiscoveryConfig,
    emulate::{Client, ClientConfig, ClientEvent, Profile},
    pool::{Pool, PoolRange},
    ppp::{fsm::FsmConfig, link::LinkConfig, peer::PeerConfig, proto, AuthProto, DownReason},
    session::{DataplaneOp, Manager, ManagerConfig},
    wire::{
        eth::{EthHeader, Vlans},
        ppp::Code,
        pppoe,
    },
};

const BRAS_MAC: [u8; 6] = [0x02, 0xb5, 0, 0, 0, 1];
const SECRETS: &str = r#"
testuser1 * "password" 172.16.0.101
testuser2 * "password" 172.16.0.102
testuser3 * "password"
"#;

fn manager(echo_interval: u64, echo_failure: u32) -> Manager {
    manager_with(echo_interval, echo_failure, |_| {})
}

/// The classic manager, with `tweak` applied to its config first.
fn manager_with(
    echo_interval: u64,
    echo_failure: u32,
    tweak: impl FnOnce(&mut ManagerConfig),
) -> Manager {
    let secrets = Secrets::parse(SECRETS, "test-secrets").unwrap();
    let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
    let mut pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
    pool.reserve_static(secrets.static_addresses());
    let mut cfg = ManagerConfig {
        discovery: DiscoveryConfig {
            ac_name: "pppoe-bras".into(),
            service_names: vec![],
            cookie_key: [7; 16],
            max_sessions: 10_000,
            max_sessions_per_mac: 4,
            max_payload: true,
            local_mac: BRAS_MAC,
            ..DiscoveryConfig::default()
        },
        link: LinkConfig {
            mru: 1492,
            auth: vec![AuthProto::Chap, AuthProto::Pap],
            local_address: Ipv4Addr::new(172, 16, 0, 254),
            dns: [
                Some(Ipv4Addr::new(192, 0, 2, 53)),
                Some(Ipv4Addr::new(192, 0, 2, 54)),
            ],
            nbns: [None, None],
            echo_interval: Duration::from_secs(echo_interval),
            echo_failure,
            auth_timeout: Duration::from_secs(30),
            auth_name: "pppoe-bras".into(),
            chap_rechallenge: Duration::ZERO,
            fsm: FsmConfig::default(),
        },
        max_payload: 1500,
    };
    tweak(&mut cfg);
    Manager::new(cfg, secrets, pool, 42)
}

fn client_cfg(i: u32, user: &str, password: &str, auth: &[AuthProto]) -> ClientConfig {
    ClientConfig {
        mac: [0x02, 0xc0, 0, 0, (i >> 8) as u8, i as u8],
        vlans: Vlans::NONE,
        service_name: String::new(),
        host_uniq: i.to_be_bytes().to_vec(),
        peer: PeerConfig {
            user: user.into(),
            password: password.as_bytes().to_vec(),
            auth_accept: auth.to_vec(),
            request_dns: true,
            ..PeerConfig::default()
        },
        ..ClientConfig::default()
    }
}

/// Which way a frame went on the simulated wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Dir {
    ToBras,
    ToClients,
}

struct Sim {
    now: Instant,
    bras: Manager,
    clients: Vec<Client>,
    events: Vec<Vec<ClientEvent>>,
    ops: Vec<DataplaneOp>,
    /// Frames from these clients are lost (a dead CPE).
    blackholed: Vec<bool>,
    /// One-way delay of the wire; zero delivers at once.
    latency: Duration,
    in_flight: VecDeque<(Instant, Dir, Vec<u8>)>,
    /// Every frame put on the wire, in order.
    wire: Vec<(Dir, Vec<u8>)>,
}

impl Sim {
    fn new(bras: Manager) -> Self {
        Sim {
            now: Instant::now(),
            bras,
            clients: vec![],
            events: vec![],
            ops: vec![],
            blackholed: vec![],
            latency: Duration::ZERO,
            in_flight: VecDeque::new(),
            wire: vec![],
        }
    }

    fn deliver(&mut self, dir: Dir, frame: &[u8]) {
        match dir {
            Dir::ToClients => {
                for c in &mut self.clients {
                    let _ = c.handle_frame(self.now, frame);
                }
            }
            Dir::ToBras => self.bras.handle_frame(self.now, frame),
        }
    }

    fn send(&mut self, dir: Dir, frame: Vec<u8>) {
        self.wire.push((dir, frame.clone()));
        if self.latency.is_zero() {
            self.deliver(dir, &frame);
        } else {
            self.in_flight
                .push_back((self.now + self.latency, dir, frame));
        }
    }

    /// PPP frames on the wire in `dir`: (protocol, information field).
    fn ppp(&self, dir: Dir) -> Vec<(u16, Vec<u8>)> {
        self.wire
            .iter()
            .filter(|(d, _)| *d == dir)
            .filter_map(|(_, f)| {
                let (_, payload) = EthHeader::parse(f).ok()?;
                let (_, protocol, info) = pppoe::parse_session(payload).ok()?;
                Some((protocol, info.to_vec()))
            })
            .collect()
    }

    /// Control packets of `protocol` with `code` sent in `dir`: their data
    /// (after the 4-byte header).
    fn packets(&self, dir: Dir, protocol: u16, code: Code) -> Vec<Vec<u8>> {
        self.ppp(dir)
            .into_iter()
            .filter(|(p, info)| *p == protocol && info.first() == Some(&u8::from(code)))
            .map(|(_, info)| info.get(4..).unwrap_or_default().to_vec())
            .collect()
    }

    /// Discovery frames in `dir` with this code.
    fn discovery(&self, dir: Dir, code: pppoe::Code) -> usize {
        self.wire
            .iter()
            .filter(|(d, f)| {
                *d == dir
                    && EthHeader::parse(f)
                        .ok()
                        .filter(|(e, _)| e.ethertype == 0x8863)
                        .and_then(|(_, p)| pppoe::Header::parse(p).ok())
                        .is_some_and(|(h, _)| h.code == code)
            })
            .count()
    }

    fn add(&mut self, cfg: ClientConfig) -> usize {
        let seed = self.clients.len() as u64 + 1;
        self.clients.push(Client::new(cfg, self.now, seed));
        self.events.push(vec![]);
        self.blackholed.push(false);
        self.clients.len() - 1
    }

    /// Deliver every queued frame both ways until nothing moves.
    fn settle(&mut self) {
        for _ in 0..10_000 {
            let mut moved = false;
            while self
                .in_flight
                .front()
                .is_some_and(|(at, _, _)| *at <= self.now)
            {
                if let Some((_, dir, frame)) = self.in_flight.pop_front() {
                    self.deliver(dir, &frame);
                    moved = true;
                }
            }
            while let Some(frame) = self.bras.poll_transmit() {
                moved = true;
                self.send(Dir::ToClients, frame);
            }
            while let Some(op) = self.bras.poll_dataplane() {
                self.ops.push(op);
            }
            for i in 0..self.clients.len() {
                while let Some(ev) = self.clients[i].poll_event() {
                    self.events[i].push(ev);
                }
                while let Some(frame) = self.clients[i].poll_transmit() {
                    moved = true;
                    if !self.blackholed[i] {
                        self.send(Dir::ToBras, frame);
                    }
                }
            }
            if !moved {
                return;
            }
        }
        panic!("frames kept flowing for 10000 rounds");
    }

    /// Advance virtual time by `d`, firing every timer on the way.
    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        loop {
            let next = self
                .clients
                .iter()
                .filter_map(Client::poll_timeout)
                .chain(self.bras.poll_timeout())
                .chain(self.in_flight.front().map(|(at, _, _)| *at))
                .min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    self.bras.handle_timeout(self.now);
                    for c in &mut self.clients {
                        c.handle_timeout(self.now);
                    }
                    self.settle();
                }
                _ => break,
            }
        }
        self.now = end;
    }

    fn up(&self, i: usize) -> Option<(Ipv4Addr, [Option<Ipv4Addr>; 2], u16)> {
        self.events[i].iter().find_map(|e| match e {
            ClientEvent::Up {
                address, dns, mru, ..
            } => Some((*address, *dns, *mru)),
            _ => None,
        })
    }

    fn installs(&self) -> Vec<(Ipv4Addr, u16)> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                DataplaneOp::Install { address, mtu, .. } => Some((*address, *mtu)),
                DataplaneOp::Remove { .. } => None,
            })
            .collect()
    }

    fn removal_reasons(&self) -> Vec<DownReason> {
        self.ops
            .iter()
            .filter_map(|op| match op {
                DataplaneOp::Remove { down: Some(d), .. } => Some(d.reason.clone()),
                _ => None,
            })
            .collect()
    }
}

const DNS: [Option<Ipv4Addr>; 2] = [
    Some(Ipv4Addr::new(192, 0, 2, 53)),
    Some(Ipv4Addr::new(192, 0, 2, 54)),
];

#[test]
fn chap_session_gets_the_static_address_and_both_dns() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    let (addr, dns, mru) = sim.up(c).expect("session up");
    assert_eq!(addr, Ipv4Addr::new(172, 16, 0, 101));
    assert_eq!(dns, DNS);
    assert_eq!(mru, 1492);
    assert_eq!(sim.installs(), vec![(Ipv4Addr::new(172, 16, 0, 101), 1492)]);
    assert_eq!(sim.bras.len(), 1);
}

#[test]
fn pap_only_client_falls_back_from_chap() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser2", "password", &[AuthProto::Pap]));
    sim.run_for(Duration::from_secs(5));
    let (addr, _, _) = sim.up(c).expect("session up over PAP");
    assert_eq!(addr, Ipv4Addr::new(172, 16, 0, 102));
}

#[test]
fn user_without_static_address_gets_one_from_the_pool() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser3", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    let (addr, _, _) = sim.up(c).expect("session up");
    let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
    assert!(range.contains(addr), "{addr} outside the pool");
    assert_ne!(
        addr,
        Ipv4Addr::new(172, 16, 0, 101),
        "static address of testuser1 handed out"
    );
    assert_ne!(
        addr,
        Ipv4Addr::new(172, 16, 0, 102),
        "static address of testuser2 handed out"
    );
}

#[test]
fn wrong_password_fails_auth_and_ends_with_padt() {
    for auth in [AuthProto::Chap, AuthProto::Pap] {
        let mut sim = Sim::new(manager(10, 2));
        let c = sim.add(client_cfg(1, "testuser1", "wrong", &[auth]));
        sim.run_for(Duration::from_secs(10));
        assert!(
            sim.up(c).is_none(),
            "{auth:?}: came up with a wrong password"
        );
        assert!(
            sim.events[c]
                .iter()
                .any(|e| matches!(e, ClientEvent::AuthFailed { .. })),
            "{auth:?}: no auth failure seen: {:?}",
            sim.events[c]
        );
        assert!(
            sim.clients[c].is_finished(),
            "{auth:?}: client still running"
        );
        assert!(sim.bras.is_empty(), "{auth:?}: session left behind");
        assert!(sim.installs().is_empty());
    }
}

#[test]
fn unknown_user_is_refused() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "mallory", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(10));
    assert!(sim.up(c).is_none());
    assert!(sim.bras.is_empty());
}

#[test]
fn dead_cpe_is_torn_down_after_echo_failures_and_its_address_freed() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
    sim.blackholed[c] = true;
    // Two unanswered echoes, 10 s apart: down within ~30 s, not before 20 s.
    sim.run_for(Duration::from_secs(15));
    assert!(sim.removal_reasons().is_empty(), "torn down too early");
    sim.run_for(Duration::from_secs(20));
    assert_eq!(
        sim.removal_reasons(),
        vec![DownReason::EchoTimeout],
        "{:?}",
        sim.ops
    );
    assert!(sim.bras.is_empty());
    // The address is free again: the same user comes back and gets it.
    let again = sim.add(client_cfg(2, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.up(again).map(|u| u.0),
        Some(Ipv4Addr::new(172, 16, 0, 101))
    );
}

#[test]
fn padt_from_the_cpe_removes_the_session() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
    let now = sim.now;
    sim.clients[c].close(now);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.bras.is_empty());
    let reasons = sim.removal_reasons();
    assert_eq!(reasons.len(), 1, "{reasons:?} {:?}", sim.ops);
    assert!(
        matches!(reasons[0], DownReason::Padt | DownReason::PeerTerminate),
        "{reasons:?}"
    );
}

#[test]
fn shutdown_sends_padt_to_every_session() {
    let mut sim = Sim::new(manager(10, 2));
    let a = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    let b = sim.add(client_cfg(2, "testuser2", "password", &[AuthProto::Pap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(a).is_some() && sim.up(b).is_some());
    let now = sim.now;
    sim.bras.shutdown(now);
    sim.settle();
    assert!(sim.bras.is_empty());
    assert_eq!(sim.removal_reasons().len(), 2);
    for i in [a, b] {
        assert!(
            sim.clients[i].is_finished(),
            "client {i} did not see the PADT"
        );
    }
}

#[test]
fn hundred_clients_come_up_with_distinct_sessions_and_addresses() {
    let mut sim = Sim::new(manager(10, 2));
    for i in 0..100 {
        sim.add(client_cfg(
            10 + i,
            "testuser3",
            "password",
            &[AuthProto::Chap],
        ));
    }
    sim.run_for(Duration::from_secs(10));
    let mut addrs: Vec<Ipv4Addr> = (0..100).filter_map(|i| sim.up(i).map(|u| u.0)).collect();
    assert_eq!(addrs.len(), 98, "the pool has 98 dynamic addresses");
    addrs.sort();
    addrs.dedup();
    assert_eq!(addrs.len(), 98, "an address was handed out twice");
    let mut sids: Vec<u16> = sim.clients.iter().filter_map(Client::session_id).collect();
    sids.sort_unstable();
    sids.dedup();
    assert_eq!(
        sids.len(),
        sim.clients.iter().filter_map(Client::session_id).count()
    );
}
