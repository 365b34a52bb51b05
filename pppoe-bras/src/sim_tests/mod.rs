//! Whole sessions in virtual time: the BRAS's [`Manager`] and emulated
//! [`Client`]s joined by a simulated Ethernet, no sockets, no clocks. Each
//! test reads like the ladder diagram of a bench capture.

mod auth;
mod classic;
mod discovery;
mod ipv6;
mod profiles;
mod radius;
mod robustness;
mod scale;

use std::{
    collections::VecDeque,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use crate::{
    auth::Secrets,
    discovery::DiscoveryConfig,
    emulate::{Client, ClientConfig, ClientEvent, Fleet, Profile},
    pool::{Pool, PoolRange},
    ppp::{
        fsm::FsmConfig,
        link::{LinkConfig, LinkSettings},
        peer::PeerConfig,
        proto,
        rng::Rng,
        AuthProto, DownReason,
    },
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
    let mut cfg = classic_config(echo_interval, echo_failure);
    tweak(&mut cfg);
    Manager::with_rng(cfg, secrets, pool, Rng::seeded(42))
}

/// The classic bench settings of the session layer.
fn classic_config(echo_interval: u64, echo_failure: u32) -> ManagerConfig {
    ManagerConfig {
        discovery: DiscoveryConfig {
            ac_name: "pppoe-bras".into(),
            service_names: vec![],
            cookie_key: [7; 16],
            max_sessions: 10_000,
            max_sessions_per_mac: 4,
            local_mac: BRAS_MAC,
            ..DiscoveryConfig::default()
        },
        link: LinkConfig {
            settings: LinkSettings {
                mru: 1492,
                echo_interval: Duration::from_secs(echo_interval),
                echo_failure,
                auth_timeout: Duration::from_secs(30),
                chap_rechallenge: Duration::ZERO,
                fsm: FsmConfig::default(),
            },
            auth: vec![AuthProto::Chap, AuthProto::Pap],
            local_address: Ipv4Addr::new(172, 16, 0, 254),
            dns: [
                Some(Ipv4Addr::new(192, 0, 2, 53)),
                Some(Ipv4Addr::new(192, 0, 2, 54)),
            ],
            nbns: [None, None],
            auth_name: "pppoe-bras".into(),
            ipv4: true,
            ipv6: false,
        },
        v6: crate::v6::V6Settings::default(),
    }
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
                _ => None,
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
