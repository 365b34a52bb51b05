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
    emulate::{Client, ClientConfig, ClientEvent, Fleet, Profile},
    pool::{Pool, PoolRange},
    ppp::{
        fsm::FsmConfig, link::LinkConfig, peer::PeerConfig, proto, rng::Rng, AuthProto, DownReason,
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

// ---------------------------------------------------------------------------
// Interop profiles: each CPE behaviour against the real Manager.

/// testuser1 (static 172.16.0.101) behaving like `profile`.
fn profile_client(profile: Profile) -> ClientConfig {
    let mut cfg = client_cfg(
        1,
        "testuser1",
        "password",
        &[AuthProto::Chap, AuthProto::Pap],
    );
    profile.apply(&mut cfg);
    cfg
}

/// Bring `profile` up against the classic manager; check what every
/// profile must get: the static address, both DNS, one session, one row.
fn profile_up(profile: Profile, latency: Duration) -> Sim {
    let mut sim = Sim::new(manager(10, 3));
    sim.latency = latency;
    let c = sim.add(profile_client(profile));
    sim.run_for(Duration::from_secs(15));
    let (addr, dns, _) = sim
        .up(c)
        .unwrap_or_else(|| panic!("{profile}: not up: {:?}", sim.events[c]));
    assert_eq!(addr, Ipv4Addr::new(172, 16, 0, 101), "{profile}");
    assert_eq!(dns, DNS, "{profile}");
    assert_eq!(sim.bras.len(), 1, "{profile}: one session");
    assert_eq!(sim.installs().len(), 1, "{profile}: one data-path row");
    assert_eq!(sim.bras.discovery().stats().pads_tx, 1, "{profile}");
    assert!(
        sim.clients[c].peer().is_some_and(|p| p.is_up()),
        "{profile}: still up"
    );
    sim
}

#[test]
fn profile_edgerouter_vj_rejected_ccp_protocol_rejected() {
    let sim = profile_up(Profile::EdgeRouter, Duration::ZERO);
    // IPCP: the first request carries VJ, 0.0.0.0 and both DNS at 0.0.0.0.
    let reqs = sim.packets(Dir::ToBras, proto::IPCP, Code::ConfReq);
    assert_eq!(
        reqs[0],
        [
            2, 6, 0x00, 0x2d, 0x0f, 0x01, // IP-Compression-Protocol VJ
            3, 6, 0, 0, 0, 0, // IP-Address 0.0.0.0
            129, 6, 0, 0, 0, 0, // primary DNS
            131, 6, 0, 0, 0, 0, // secondary DNS
        ]
    );
    // VJ alone is rejected, byte for byte; then address and DNS are Naked.
    let rej = sim.packets(Dir::ToClients, proto::IPCP, Code::ConfRej);
    assert_eq!(rej, vec![vec![2, 6, 0x00, 0x2d, 0x0f, 0x01]]);
    let nak = sim.packets(Dir::ToClients, proto::IPCP, Code::ConfNak);
    assert_eq!(
        nak[0],
        [3, 6, 172, 16, 0, 101, 129, 6, 192, 0, 2, 53, 131, 6, 192, 0, 2, 54]
    );
    // CCP gets an LCP Protocol-Reject carrying the rejected protocol and
    // the CCP packet; the link stays up.
    let pr = sim.packets(Dir::ToClients, proto::LCP, Code::ProtRej);
    assert_eq!(pr.len(), 1);
    assert_eq!(&pr[0][..2], &[0x80, 0xfd]);
    assert_eq!(pr[0][2], 1, "the CCP Configure-Request is echoed");
    assert_eq!(
        sim.clients[0].peer().unwrap().rejected_protocols(),
        [proto::CCP]
    );
    assert!(sim.events[0].contains(&ClientEvent::ProtocolRejected {
        protocol: proto::CCP
    }));
    // CHAP, MRU 1492 both ways.
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    let link = sim.bras.link(&key).unwrap();
    assert_eq!(link.auth_proto(), Some(AuthProto::Chap));
    assert_eq!(link.peer_mru(), 1492);
    assert_eq!(sim.up(0).unwrap().2, 1492);
}

#[test]
fn profile_yamaha_rtx_pap_and_mru_1454() {
    let sim = profile_up(Profile::YamahaRtx, Duration::ZERO);
    // CHAP offered first, Naked with PAP, PAP offered.
    let naks = sim.packets(Dir::ToBras, proto::LCP, Code::ConfNak);
    assert_eq!(naks[0], [3, 4, 0xc0, 0x23]);
    assert_eq!(sim.packets(Dir::ToBras, proto::PAP, Code::ConfReq).len(), 1);
    // The BRAS honours MRU 1454: the row's MTU and the client's request.
    assert_eq!(sim.installs(), vec![(Ipv4Addr::new(172, 16, 0, 101), 1454)]);
    let req = &sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&req[..4], &[1, 4, 0x05, 0xae], "MRU 1454");
}

#[test]
fn profile_cisco_ios_echo_requests_are_answered() {
    let mut sim = profile_up(Profile::CiscoIos, Duration::ZERO);
    sim.run_for(Duration::from_secs(60));
    let (sent, replies) = sim.clients[0].peer().unwrap().echo_counts();
    assert!(sent >= 6, "cisco sends echoes every 10 s: {sent}");
    assert_eq!(sent, replies, "every Echo-Request answered");
    // Echo-Reply: the BRAS's own Magic-Number, never the client's.
    let client_magic = {
        let req = &sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq)[0];
        req[req.len() - 4..].to_vec()
    };
    for rep in sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep) {
        assert_ne!(&rep[..4], &client_magic[..]);
        assert_ne!(&rep[..4], &[0, 0, 0, 0]);
    }
    assert_eq!(sim.bras.len(), 1);
    assert!(sim.removal_reasons().is_empty());
}

#[test]
fn profile_mschapv2_first_gets_chap_md5_again() {
    let sim = profile_up(Profile::MsChapV2First, Duration::ZERO);
    let naks = sim.packets(Dir::ToBras, proto::LCP, Code::ConfNak);
    assert_eq!(naks[0], [3, 5, 0xc2, 0x23, 0x81], "MS-CHAPv2 first");
    assert_eq!(naks[1], [3, 5, 0xc2, 0x23, 0x05], "PAP Naked with CHAP-MD5");
    let reqs = sim.packets(Dir::ToClients, proto::LCP, Code::ConfReq);
    let auth = |r: &[u8]| r.windows(3).any(|w| w == [0xc2, 0x23, 5]);
    assert!(
        auth(&reqs[0]) && !auth(&reqs[1]) && auth(&reqs[2]),
        "{reqs:?}"
    );
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    assert_eq!(
        sim.bras.link(&key).unwrap().auth_proto(),
        Some(AuthProto::Chap)
    );
    // One CHAP Success (code 3).
    assert_eq!(
        sim.packets(Dir::ToClients, proto::CHAP, Code::from(3))
            .len(),
        1
    );
}

#[test]
fn profile_ipv6cp_protocol_rejected_ipv4_stays() {
    let mut sim = profile_up(Profile::Ipv6cp, Duration::ZERO);
    let pr = sim.packets(Dir::ToClients, proto::LCP, Code::ProtRej);
    assert_eq!(pr.len(), 1);
    assert_eq!(&pr[0][..2], &[0x80, 0x57]);
    assert_eq!(
        sim.clients[0].peer().unwrap().rejected_protocols(),
        [proto::IPV6CP]
    );
    sim.run_for(Duration::from_secs(30));
    assert!(sim.clients[0].peer().unwrap().is_up());
    assert!(sim.removal_reasons().is_empty());
}

#[test]
fn profile_max_payload_agrees_mru_1500() {
    let sim = profile_up(Profile::MaxPayload, Duration::ZERO);
    assert_eq!(
        sim.up(0).unwrap().2,
        1500,
        "BRAS MRU 1500 seen by the client"
    );
    assert_eq!(sim.installs(), vec![(Ipv4Addr::new(172, 16, 0, 101), 1500)]);
    let bras_req = &sim.packets(Dir::ToClients, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&bras_req[..4], &[1, 4, 0x05, 0xdc]);
    assert!(sim
        .packets(Dir::ToClients, proto::LCP, Code::ConfNak)
        .is_empty());
}

#[test]
fn profile_max_payload_without_rfc4638_support_stays_at_1492() {
    let mut sim = Sim::new(manager_with(10, 3, |c| c.discovery.max_payload = 0));
    let c = sim.add(profile_client(Profile::MaxPayload));
    sim.run_for(Duration::from_secs(10));
    // The client asks for 1500 and is Naked down to 1492.
    assert_eq!(sim.up(c).unwrap().2, 1492);
    let nak = &sim.packets(Dir::ToClients, proto::LCP, Code::ConfNak)[0];
    assert_eq!(nak, &[1, 4, 0x05, 0xd4]);
}

#[test]
fn profile_aggressive_on_a_slow_link_makes_one_session() {
    // 300 ms each way: every request is sent 3 times before its answer.
    let sim = profile_up(Profile::Aggressive, Duration::from_millis(300));
    let d = sim.bras.discovery().stats();
    assert!(d.padr_rx >= 3, "{d:?}");
    assert!(d.pads_retransmit >= 2, "{d:?}");
    assert_eq!(d.pads_tx, 1);
    let lcp_reqs = sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq);
    assert!(lcp_reqs.len() >= 3, "LCP retransmitted: {}", lcp_reqs.len());
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    let link = sim.bras.link(&key).unwrap();
    assert!(
        link.duplicates_absorbed() > 0,
        "copies after Opened re-acked"
    );
    assert!(sim.removal_reasons().is_empty());
    // Exactly one address leased and one Up.
    let ups = sim.events[0]
        .iter()
        .filter(|e| matches!(e, ClientEvent::Up { .. }))
        .count();
    assert_eq!(ups, 1);
}

#[test]
fn every_profile_comes_up_in_one_lab() {
    // Dual stack, so the IPv6-only profile has an NCP to come up on.
    let mut sim = Sim::new(v6_manager(true));
    let users = ["testuser1", "testuser2", "testuser3"];
    for (i, p) in Profile::ALL.into_iter().enumerate() {
        let mut cfg = client_cfg(100 + i as u32, users[i % 3], "password", &[]);
        cfg.peer.auth_accept = vec![AuthProto::Chap, AuthProto::Pap];
        p.apply(&mut cfg);
        sim.add(cfg);
    }
    sim.run_for(Duration::from_secs(20));
    for (i, p) in Profile::ALL.into_iter().enumerate() {
        let up = if p == Profile::YamahaRtxV6 {
            sim.up6(i).is_some() && sim.up(i).is_none()
        } else {
            sim.up(i).is_some()
        };
        assert!(up, "{p}: {:?}", sim.events[i]);
    }
    assert_eq!(sim.bras.len(), Profile::ALL.len());
}

// ---------------------------------------------------------------------------
// Discovery limits and VLANs through the Manager.

use crate::discovery::{RateLimit, VidSet, VlanRule};
use crate::wire::eth::VlanTag;
use crate::wire::pppoe::{Code as PCode, TagType};

/// A raw PADI from `mac` on `vlans`.
fn padi(mac: [u8; 6], vlans: Vlans) -> Vec<u8> {
    let eth = EthHeader {
        dst: [0xff; 6],
        src: mac,
        vlans,
        ethertype: 0x8863,
    };
    pppoe::discovery_frame(&eth, PCode::Padi, 0, &[(TagType::ServiceName, b"")])
}

#[test]
fn padi_flood_from_one_mac_is_limited_and_others_still_served() {
    let mut sim = Sim::new(manager_with(10, 3, |c| {
        c.discovery.padi_rate_per_mac = Some(RateLimit {
            per_sec: 10,
            burst: 20,
        });
        c.discovery.padi_rate_total = Some(RateLimit {
            per_sec: 200,
            burst: 200,
        });
    }));
    let flooder = [0x02, 0xee, 0, 0, 0, 1];
    // 1000 PADIs in one second from one MAC, interleaved with a real client.
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    for i in 0..1000u32 {
        sim.now += Duration::from_millis(1);
        sim.bras.handle_frame(sim.now, &padi(flooder, Vlans::NONE));
        if i == 500 {
            sim.settle();
        }
    }
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some(), "the normal client got its PADO");
    let d = sim.bras.discovery().stats().clone();
    // Burst 20 plus 10/s for one second: about 30 PADOs for the flooder.
    assert!(
        (20..=32).contains(&(d.pado_tx - 1)),
        "flooder PADOs {}",
        d.pado_tx - 1
    );
    assert_eq!(d.drop_rate_mac + d.pado_tx - 1, 1000, "{d:?}");
    assert_eq!(d.drop_rate_total, 0);
    // Many MACs at once hit the total limit, one PADI each.
    for i in 0..500u32 {
        let mac = [0x02, 0xdd, 0, 0, (i >> 8) as u8, i as u8];
        sim.bras.handle_frame(sim.now, &padi(mac, Vlans::NONE));
    }
    let d = sim.bras.discovery().stats();
    assert!(d.drop_rate_total >= 250, "{d:?}");
    // Counters are visible by name.
    let counters = sim.bras.counters();
    assert!(counters
        .iter()
        .any(|(n, v)| n == "discovery.drop_rate_mac" && *v > 900));
}

#[test]
fn pado_delay_holds_the_offer_back() {
    let mut sim = Sim::new(manager_with(10, 3, |c| {
        c.discovery.pado_delay = Duration::from_millis(500)
    }));
    let t0 = sim.now;
    sim.bras
        .handle_frame(t0, &padi([0x02, 0xaa, 0, 0, 0, 1], Vlans::NONE));
    assert!(sim.bras.poll_transmit().is_none(), "no PADO at once");
    assert_eq!(
        sim.bras.poll_timeout(),
        Some(t0 + Duration::from_millis(500))
    );
    sim.bras.handle_timeout(t0 + Duration::from_millis(499));
    assert!(sim.bras.poll_transmit().is_none());
    sim.bras.handle_timeout(t0 + Duration::from_millis(500));
    assert!(sim.bras.poll_transmit().is_some(), "PADO after 500 ms");
    // A whole session still comes up, just later.
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
}

#[test]
fn vlans_single_qinq_filter_and_per_vlan_limit() {
    let mut sim = Sim::new(manager_with(10, 3, |c| {
        c.discovery.vlans = vec![
            VlanRule::Single(VidSet::Range(100, 199)),
            VlanRule::Double(VidSet::Range(200, 200), VidSet::Range(10, 20)),
        ];
        c.discovery.max_sessions_per_vlan = 2;
    }));
    let q100 = Vlans::single(VlanTag::dot1q(100));
    let qinq = Vlans::double(VlanTag::dot1ad(200), VlanTag::dot1q(15));
    let cfg = |i: u32, vlans: Vlans| {
        let mut c = client_cfg(i, "testuser3", "password", &[AuthProto::Chap]);
        c.vlans = vlans;
        c.discovery_attempts = 2;
        c
    };
    let a = sim.add(cfg(1, q100));
    let b = sim.add(cfg(2, q100));
    let full = sim.add(cfg(3, q100));
    let q = sim.add(cfg(4, qinq));
    let untagged = sim.add(cfg(5, Vlans::NONE));
    let wrong_inner = sim.add(cfg(
        6,
        Vlans::double(VlanTag::dot1ad(200), VlanTag::dot1q(21)),
    ));
    let other_vlan = sim.add(cfg(7, Vlans::single(VlanTag::dot1q(300))));
    sim.run_for(Duration::from_secs(15));
    for i in [a, b, q] {
        assert!(sim.up(i).is_some(), "client {i}: {:?}", sim.events[i]);
    }
    for i in [full, untagged, wrong_inner, other_vlan] {
        assert!(sim.up(i).is_none(), "client {i} must not come up");
    }
    // Tags are mirrored and the rows carry them.
    let keys: Vec<Vlans> = sim
        .ops
        .iter()
        .filter_map(|op| match op {
            DataplaneOp::Install { key, .. } => Some(key.vlans),
            _ => None,
        })
        .collect();
    assert_eq!(keys.iter().filter(|v| **v == q100).count(), 2);
    assert_eq!(keys.iter().filter(|v| **v == qinq).count(), 1);
    let d = sim.bras.discovery().stats();
    assert!(d.drop_vlan >= 3 * 2, "{d:?}");
    assert!(d.drop_limit >= 1, "{d:?}");
    // Freeing one slot on VLAN 100 lets the third in.
    let now = sim.now;
    sim.clients[a].close(now);
    sim.run_for(Duration::from_secs(1));
    let again = sim.add(cfg(8, q100));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(again).is_some());
}

#[test]
fn shutdown_padt_carries_the_vlan_tags() {
    let mut sim = Sim::new(manager(10, 3));
    let mut c = client_cfg(1, "testuser1", "password", &[AuthProto::Chap]);
    c.vlans = Vlans::double(VlanTag::dot1ad(7), VlanTag::dot1q(8));
    let i = sim.add(c);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(i).is_some());
    let now = sim.now;
    sim.bras.shutdown(now);
    sim.settle();
    assert!(sim.clients[i].is_finished(), "the QinQ client saw the PADT");
    assert_eq!(sim.discovery(Dir::ToClients, PCode::Padt), 1);
}

// ---------------------------------------------------------------------------
// Authentication details.

#[test]
fn chap_rechallenge_periodic_and_failure_ends_the_session() {
    let mut sim = Sim::new(manager_with(10, 3, |c| {
        c.link.chap_rechallenge = Duration::from_secs(60)
    }));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
    sim.run_for(Duration::from_secs(130));
    let challenges = sim.packets(Dir::ToClients, proto::CHAP, Code::from(1));
    assert_eq!(challenges.len(), 3, "initial + two re-challenges");
    // Fresh value each time (identifiers differ, checked by the client).
    assert_ne!(challenges[0], challenges[1]);
    assert_eq!(
        sim.packets(Dir::ToClients, proto::CHAP, Code::from(3))
            .len(),
        3
    );
    assert!(sim.removal_reasons().is_empty());
    assert_eq!(sim.bras.stats().reauth_failed, 0);
    // The CPE's secret changes: the next re-challenge ends the session.
    sim.clients[c].peer_mut().unwrap().set_password(b"changed");
    sim.run_for(Duration::from_secs(70));
    assert_eq!(sim.removal_reasons(), vec![DownReason::AuthFailed]);
    assert_eq!(sim.bras.stats().reauth_failed, 1);
    let fail = sim.packets(Dir::ToClients, proto::CHAP, Code::from(4));
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0], b"authentication failed");
    assert!(sim.bras.is_empty());
}

#[test]
fn chap_rechallenge_unanswered_times_out() {
    let mut sim = Sim::new(manager_with(0, 3, |c| {
        c.link.chap_rechallenge = Duration::from_secs(60);
        c.link.auth_timeout = Duration::from_secs(10);
    }));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
    sim.blackholed[c] = true;
    sim.run_for(Duration::from_secs(80));
    assert_eq!(sim.removal_reasons(), vec![DownReason::AuthTimeout]);
}

#[test]
fn auth_failure_messages_are_short() {
    for auth in [AuthProto::Chap, AuthProto::Pap] {
        let mut sim = Sim::new(manager(10, 3));
        sim.add(client_cfg(1, "testuser1", "wrong", &[auth]));
        sim.run_for(Duration::from_secs(10));
        let (p, code, skip) = match auth {
            AuthProto::Chap => (proto::CHAP, 4u8, 0),
            AuthProto::Pap => (proto::PAP, 3u8, 1),
        };
        let msgs = sim.packets(Dir::ToClients, p, Code::from(code));
        assert_eq!(msgs.len(), 1, "{auth:?}");
        assert_eq!(&msgs[0][skip..], b"authentication failed", "{auth:?}");
    }
}

// ---------------------------------------------------------------------------
// Bad input mixed into live sessions.

/// xorshift64*.
fn rng(state: &mut u64) -> u64 {
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    state.wrapping_mul(0x2545_f491_4f6c_dd1d)
}

#[test]
fn garbage_mixed_into_live_sessions_hurts_no_bystander() {
    let mut sim = Sim::new(manager(10, 3));
    let victim = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    let a = sim.add(client_cfg(2, "testuser2", "password", &[AuthProto::Pap]));
    let b = sim.add(client_cfg(3, "testuser3", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    for i in [victim, a, b] {
        assert!(sim.up(i).is_some());
    }
    let bystanders: Vec<_> = [a, b]
        .iter()
        .map(|&i| {
            sim.bras
                .key_by_id(sim.clients[i].session_id().unwrap())
                .unwrap()
        })
        .collect();
    let victim_mac = sim.clients[victim].config().mac;
    let victim_sid = sim.clients[victim].session_id().unwrap();
    let captured: Vec<Vec<u8>> = sim.wire.iter().map(|(_, f)| f.clone()).collect();
    let victim_frames: Vec<Vec<u8>> = sim
        .wire
        .iter()
        .filter(|(d, f)| *d == Dir::ToBras && f[6..12] == victim_mac)
        .map(|(_, f)| f.clone())
        .collect();
    let session_frame = |dst: [u8; 6], src: [u8; 6], sid: u16, protocol: u16, info: &[u8]| {
        let eth = EthHeader {
            dst,
            src,
            vlans: Vlans::NONE,
            ethertype: 0x8864,
        };
        pppoe::session_frame(&eth, sid, protocol, info)
    };
    let mut s = 0x1234_5678_9abc_def1u64;
    for i in 0..20_000u32 {
        let r = rng(&mut s);
        let frame: Vec<u8> = match i % 8 {
            // Pure noise.
            0 => (0..r % 100).map(|_| rng(&mut s) as u8).collect(),
            // Any captured frame (also others' discovery), truncated.
            1 => {
                let f = &captured[(r as usize) % captured.len()];
                f[..(rng(&mut s) as usize) % f.len()].to_vec()
            }
            // The victim's own frames, mutated (source kept: only the victim
            // may suffer).
            2 | 3 => {
                let mut f = victim_frames[(r as usize) % victim_frames.len()].clone();
                for _ in 0..(rng(&mut s) % 4 + 1) {
                    let at = (rng(&mut s) as usize) % f.len();
                    f[at] = rng(&mut s) as u8;
                }
                f[6..12].copy_from_slice(&victim_mac);
                f
            }
            // Random control packets into the victim's session.
            4 => {
                let protocol = [
                    proto::LCP,
                    proto::IPCP,
                    proto::CHAP,
                    proto::PAP,
                    0x8057,
                    0x1234,
                ][(r as usize) % 6];
                let info: Vec<u8> = (0..rng(&mut s) % 40).map(|_| rng(&mut s) as u8).collect();
                session_frame(BRAS_MAC, victim_mac, victim_sid, protocol, &info)
            }
            // Unknown sessions, wrong destination, other EtherTypes.
            5 => session_frame(
                BRAS_MAC,
                victim_mac,
                victim_sid ^ 0x4000,
                proto::LCP,
                &[9, 1, 0, 8, 0, 0, 0, 0],
            ),
            6 => session_frame(
                [0x02, 9, 9, 9, 9, 9],
                victim_mac,
                victim_sid,
                proto::LCP,
                &[9, 1, 0, 8, 0, 0, 0, 0],
            ),
            _ => {
                let mut f = captured[(r as usize) % captured.len()].clone();
                if f.len() > 13 {
                    f[12] = 0x08;
                    f[13] = 0x06;
                }
                f
            }
        };
        let now = sim.now;
        sim.bras.handle_frame(now, &frame);
        sim.settle();
        if i % 1000 == 0 {
            sim.run_for(Duration::from_millis(500));
        }
    }
    // Keepalives keep running for everyone left.
    sim.run_for(Duration::from_secs(60));
    for (i, key) in [a, b].iter().zip(&bystanders) {
        assert!(
            sim.clients[*i].peer().is_some_and(|p| p.is_up()),
            "bystander {i} down"
        );
        assert!(
            sim.bras.link(key).is_some(),
            "bystander {i} gone at the BRAS"
        );
        assert!(
            !sim.ops
                .iter()
                .any(|op| matches!(op, DataplaneOp::Remove { key: k, .. } if k == key)),
            "bystander {i}'s rows removed"
        );
    }
    let st = sim.bras.stats();
    for (name, v) in st.counters() {
        if name.starts_with("drop_") {
            assert!(v > 0, "{name} never counted: {st:?}");
        }
    }
    let d = sim.bras.discovery().stats();
    assert!(
        d.drop_malformed + d.drop_bad_version + d.drop_unexpected_code > 0,
        "{d:?}"
    );
}

// ---------------------------------------------------------------------------
// Scale: one Manager, thousands of emulated subscribers (a `Fleet`).

/// A manager for big fleets: a /16 pool from the shared address space
/// (RFC 6598), one wildcard secrets line, no per-MAC surprises.
fn scale_manager(echo_interval: u64) -> Manager {
    let (cfg, secrets, pool) = scale_parts(echo_interval);
    Manager::with_rng(cfg, secrets, pool, Rng::seeded(42))
}

fn scale_parts(echo_interval: u64) -> (ManagerConfig, Secrets, Pool) {
    let secrets = Secrets::parse("* * \"password\"\n", "scale-secrets").unwrap();
    let range: PoolRange = "100.64.0.0/16".parse().unwrap();
    let pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
    let mut cfg = classic_config(echo_interval, 3);
    cfg.discovery.max_sessions = 65534;
    (cfg, secrets, pool)
}

/// Client `i` of a big fleet: its own MAC and user name.
fn fleet_cfg(i: u32) -> ClientConfig {
    let b = i.to_be_bytes();
    let mut cfg = client_cfg(i, &format!("sub{i}"), "password", &[AuthProto::Chap]);
    cfg.mac = [0x02, 0xe0, b[0], b[1], b[2], b[3]];
    cfg
}

/// The BRAS and a fleet on a zero-delay wire, in virtual time.
struct FleetSim {
    now: Instant,
    bras: Manager,
    fleet: Fleet,
    ops: Vec<DataplaneOp>,
    events: Vec<(usize, ClientEvent)>,
    frames: u64,
    /// Every CHAP Challenge the BRAS sent.
    challenges: Vec<Challenge>,
}

/// A CHAP Challenge: (session id, identifier, value).
type Challenge = (u16, u8, Vec<u8>);

/// The CHAP Challenge in an Ethernet frame, if it is one.
fn chap_challenge(frame: &[u8]) -> Option<Challenge> {
    let (_, payload) = EthHeader::parse(frame).ok()?;
    let (sid, protocol, info) = pppoe::parse_session(payload).ok()?;
    if protocol != proto::CHAP || info.first() != Some(&1) {
        return None;
    }
    let len = usize::from(*info.get(4)?);
    Some((sid, info[1], info.get(5..5 + len)?.to_vec()))
}

impl FleetSim {
    fn new(bras: Manager) -> Self {
        FleetSim {
            now: Instant::now(),
            bras,
            fleet: Fleet::new(7),
            ops: Vec::new(),
            events: Vec::new(),
            frames: 0,
            challenges: Vec::new(),
        }
    }

    fn settle(&mut self) {
        loop {
            let mut moved = false;
            while let Some(f) = self.fleet.poll_transmit() {
                self.frames += 1;
                self.bras.handle_frame(self.now, &f);
                moved = true;
            }
            while let Some(f) = self.bras.poll_transmit() {
                self.frames += 1;
                self.challenges.extend(chap_challenge(&f));
                let _ = self.fleet.handle_frame(self.now, &f);
                moved = true;
            }
            self.ops
                .extend(std::iter::from_fn(|| self.bras.poll_dataplane()));
            self.events
                .extend(std::iter::from_fn(|| self.fleet.poll_event()));
            if !moved {
                return;
            }
        }
    }

    fn run_for(&mut self, d: Duration) {
        let end = self.now + d;
        self.settle();
        while let Some(t) = [self.bras.poll_timeout(), self.fleet.poll_timeout()]
            .into_iter()
            .flatten()
            .min()
            .filter(|t| *t <= end)
        {
            self.now = self.now.max(t);
            self.bras.handle_timeout(self.now);
            self.fleet.handle_timeout(self.now);
            self.settle();
        }
        self.now = end;
    }
}

#[test]
fn ten_thousand_subscribers_up_then_all_padt() {
    const N: u32 = 10_000;
    let started = std::time::Instant::now();
    let mut sim = FleetSim::new(scale_manager(10));
    let t0 = sim.now;
    // 2,000 starts per second: 5 s of virtual time to start them all.
    sim.fleet.launch(t0, (0..N).map(fleet_cfg), 2000).unwrap();
    sim.run_for(Duration::from_secs(40));

    let st = sim.fleet.stats();
    assert_eq!((st.clients, st.up, st.failed), (N as usize, N as usize, 0));
    assert_eq!(sim.bras.len(), N as usize);
    let first_up = st.first_up.unwrap().duration_since(t0);
    let last_up = st.last_up.unwrap().duration_since(t0);
    assert!(first_up < Duration::from_millis(10), "{first_up:?}");
    assert!(
        (Duration::from_millis(4990)..Duration::from_millis(5010)).contains(&last_up),
        "paced at 2000/s, the last start is at 4.9995 s: {last_up:?}"
    );
    let line = st.summary_line(t0);
    assert!(
        line.starts_with(
            "SUMMARY sessions=10000 up=10000 failed=0 first_up_ms=0 all_up_ms=4999 rate=2000."
        ) || line.starts_with(
            "SUMMARY sessions=10000 up=10000 failed=0 first_up_ms=0 all_up_ms=5000 rate=2000."
        ),
        "{line}"
    );

    // Unique session ids and addresses, each from the pool, one install each.
    let mut sids: Vec<u16> = sim
        .fleet
        .clients()
        .iter()
        .filter_map(Client::session_id)
        .collect();
    sids.sort_unstable();
    sids.dedup();
    assert_eq!(sids.len(), N as usize);
    let mut addrs: Vec<Ipv4Addr> = sim
        .events
        .iter()
        .filter_map(|(_, e)| match e {
            ClientEvent::Up { address, .. } => Some(*address),
            _ => None,
        })
        .collect();
    assert_eq!(addrs.len(), N as usize);
    addrs.sort_unstable();
    addrs.dedup();
    assert_eq!(addrs.len(), N as usize, "an address was handed out twice");
    let pool: PoolRange = "100.64.0.0/16".parse().unwrap();
    assert!(addrs.iter().all(|a| pool.contains(*a)));
    let installs = sim
        .ops
        .iter()
        .filter(|op| matches!(op, DataplaneOp::Install { .. }))
        .count();
    assert_eq!(installs, N as usize);
    assert_eq!(sim.bras.pool().in_use(), N as usize);
    // The echo timers ran for ~35 s on every session; the timer heap holds
    // about one entry per session, not one per frame.
    assert!(sim.frames > 20 * u64::from(N), "{} frames", sim.frames);
    assert!(
        sim.bras.timer_entries() <= 2 * N as usize + 64,
        "{} timer entries",
        sim.bras.timer_entries()
    );
    assert_eq!(sim.bras.stats().drop_unknown_session, 0);

    // Everyone hangs up at once (LCP Terminate-Request, then PADT).
    let now = sim.now;
    sim.fleet.close(now, 0);
    sim.run_for(Duration::from_secs(5));
    assert!(sim.fleet.is_done());
    assert!(sim.bras.is_empty(), "{} sessions left", sim.bras.len());
    assert_eq!(
        sim.bras.pool().in_use(),
        0,
        "every address back in the pool"
    );
    assert_eq!(sim.bras.discovery().live_sessions(), 0);
    let removes = sim
        .ops
        .iter()
        .filter(|op| matches!(op, DataplaneOp::Remove { down: Some(_), .. }))
        .count();
    assert_eq!(removes, N as usize);
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
}

#[test]
fn thousand_subscribers_all_at_once() {
    const N: u32 = 1000;
    let mut sim = FleetSim::new(scale_manager(0));
    let t0 = sim.now;
    sim.fleet.launch(t0, (0..N).map(fleet_cfg), 0).unwrap();
    sim.run_for(Duration::from_secs(1));
    let st = sim.fleet.stats();
    assert_eq!((st.up, st.failed), (N as usize, 0));
    assert_eq!(st.last_up, Some(t0), "a zero-delay wire: all up at once");
    // Kill by id uses the id index.
    let sid = sim.fleet.client(17).and_then(Client::session_id).unwrap();
    let key = sim.bras.key_by_id(sid).unwrap();
    assert_eq!(key.session_id, sid);
    let now = sim.now;
    assert!(sim.bras.kill(now, &key));
    sim.run_for(Duration::from_secs(10));
    assert_eq!(sim.bras.len(), N as usize - 1);
    assert_eq!(sim.bras.key_by_id(sid), None);
    assert!(sim.fleet.client(17).unwrap().is_finished());
}

#[test]
fn failed_install_ends_the_session_cleanly() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_some());
    let key = sim.bras.sessions().next().map(|(k, _)| *k).unwrap();
    let now = sim.now;
    assert!(sim.bras.install_failed(now, &key, "no free NAT port block"));
    sim.run_for(Duration::from_secs(10));
    assert!(sim.bras.is_empty());
    assert!(sim.clients[c].is_finished());
    // LCP Terminate-Request to the client.
    assert_eq!(
        sim.packets(Dir::ToClients, proto::LCP, Code::TermReq).len(),
        1
    );
    // Nothing was installed, so there is nothing to remove.
    assert!(
        !sim.ops
            .iter()
            .any(|op| matches!(op, DataplaneOp::Remove { .. })),
        "{:?}",
        sim.ops
    );
    assert!(!sim.bras.install_failed(now, &key, "again"));
}

/// Renegotiation in Opened, 1,000 times (LCP restarts, which
/// re-authenticates, and IPCP restarts, alternately): the session keeps
/// its address (a static user always gets its own), the data plane is only
/// ever told to install that one address again (rows updated in place, NAT
/// block and mappings kept), never to remove it, and the pool holds exactly
/// one lease, as before.
#[test]
fn renegotiation_a_thousand_times_keeps_address_and_leases() {
    let mut sim = Sim::new(manager(0, 3));
    for (i, user) in ["testuser1", "testuser3"].into_iter().enumerate() {
        let c = sim.add(client_cfg(
            i as u32 + 1,
            user,
            "password",
            &[AuthProto::Chap],
        ));
        sim.run_for(Duration::from_secs(5));
        let (addr, _, _) = sim.up(c).expect("session up");
        let sid = sim.clients[c].session_id().unwrap();
        let mac = sim.clients[c].config().mac;
        let eth = EthHeader {
            dst: BRAS_MAC,
            src: mac,
            vlans: Vlans::default(),
            ethertype: 0x8864,
        };
        let in_use = sim.bras.pool().in_use();
        sim.ops.clear();
        for round in 0..500u32 {
            for (protocol, opts) in [
                (
                    proto::LCP,
                    vec![1, 4, 0x05, 0xd4, 5, 6, 9, 9, 9, round as u8 | 1],
                ),
                (proto::IPCP, {
                    let o = addr.octets();
                    vec![3, 6, o[0], o[1], o[2], o[3]]
                }),
            ] {
                let info = crate::wire::ppp::packet(Code::ConfReq, round as u8, &opts);
                let frame = pppoe::session_frame(&eth, sid, protocol, &info);
                sim.send(Dir::ToBras, frame);
                sim.run_for(Duration::from_secs(2));
            }
        }
        assert_eq!(sim.bras.len(), i + 1, "{user}: no session lost");
        assert_eq!(sim.bras.pool().in_use(), in_use, "{user}: no lease leaked");
        assert_eq!(sim.bras.pool().holder(addr), Some(user));
        let installs = sim.installs();
        assert!(
            installs.len() >= 1000,
            "{user}: {} installs",
            installs.len()
        );
        assert!(
            installs.iter().all(|(a, _)| *a == addr),
            "{user}: address changed"
        );
        assert!(
            !sim.ops
                .iter()
                .any(|op| matches!(op, DataplaneOp::Remove { .. })),
            "{user}: rows removed during renegotiation"
        );
        let (_, info) = sim
            .bras
            .sessions()
            .find(|(k, _)| k.session_id == sid)
            .unwrap();
        assert_eq!((info.address, info.installed), (Some(addr), true));
    }
}
// ---------------------------------------------------------------------------
// Secrets from the OS CSPRNG.

/// 10,000 sessions of the production manager (`Manager::new`, no seed):
/// every CHAP challenge is different.
#[test]
fn ten_thousand_production_sessions_get_distinct_chap_challenges() {
    const N: u32 = 10_000;
    let (cfg, secrets, pool) = scale_parts(0);
    let mut sim = FleetSim::new(Manager::new(cfg, secrets, pool));
    let t0 = sim.now;
    sim.fleet.launch(t0, (0..N).map(fleet_cfg), 0).unwrap();
    sim.run_for(Duration::from_secs(1));
    assert_eq!(sim.fleet.stats().up, N as usize);
    assert_eq!(sim.challenges.len(), N as usize, "one challenge each");
    let mut values: Vec<&[u8]> = sim.challenges.iter().map(|(_, _, v)| &v[..]).collect();
    assert!(values.iter().all(|v| v.len() == 16));
    values.sort_unstable();
    values.dedup();
    assert_eq!(values.len(), N as usize, "a CHAP challenge repeated");
}

/// What the BRAS drew for one session: its LCP Magic-Number and CHAP
/// (identifier, challenge), given exactly the same inputs every time.
fn drawn_secrets(bras: Manager) -> (Vec<Vec<u8>>, Vec<Challenge>) {
    let mut sim = Sim::new(bras);
    for i in 0..4 {
        sim.add(client_cfg(i, "testuser3", "password", &[AuthProto::Chap]));
    }
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.installs().len(), 4);
    let magics = sim
        .packets(Dir::ToClients, proto::LCP, Code::ConfReq)
        .iter()
        .flat_map(|opts| crate::wire::ppp::options(opts).flatten())
        .filter(|o| o.kind == 5)
        .map(|o| o.value.to_vec())
        .collect();
    let challenges = sim
        .wire
        .iter()
        .filter(|(d, _)| *d == Dir::ToClients)
        .filter_map(|(_, f)| chap_challenge(f))
        .collect();
    (magics, challenges)
}

/// Two production managers fed the very same frames at the same times
/// draw unrelated Magic-Numbers and challenges (nothing is derived from a
/// seed, a counter or the session id), while two seeded test managers
/// repeat each other exactly (so the comparison can tell).
#[test]
fn production_sessions_draw_from_the_os_not_from_their_inputs() {
    let parts = || {
        let secrets = Secrets::parse(SECRETS, "test-secrets").unwrap();
        let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
        let pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
        (classic_config(10, 2), secrets, pool)
    };
    let seeded = || {
        let (c, s, p) = parts();
        Manager::with_rng(c, s, p, Rng::seeded(42))
    };
    assert_eq!(drawn_secrets(seeded()), drawn_secrets(seeded()));

    let production = || {
        let (c, s, p) = parts();
        Manager::new(c, s, p)
    };
    let (magics_a, chal_a) = drawn_secrets(production());
    let (magics_b, chal_b) = drawn_secrets(production());
    assert_eq!((magics_a.len(), chal_a.len()), (4, 4));
    // Same session ids on both (discovery is keyed by the fixed cookie key).
    let sids = |c: &[Challenge]| c.iter().map(|x| x.0).collect::<Vec<_>>();
    assert_eq!(sids(&chal_a), sids(&chal_b));
    let mut all: Vec<&Vec<u8>> = chal_a.iter().chain(&chal_b).map(|x| &x.2).collect();
    all.sort_unstable();
    all.dedup();
    assert_eq!(
        all.len(),
        8,
        "a challenge repeated across sessions/managers"
    );
    assert_ne!(magics_a, magics_b);
}

// ---------------------------------------------------------------------------
// Peer strings in logs.

/// A Peer-ID and a Service-Name with a newline and a terminal escape: every
/// log record stays one line of printable ASCII, the bytes shown as \xNN.
#[test]
fn peer_strings_are_escaped_in_log_lines() {
    for auth in [AuthProto::Pap, AuthProto::Chap] {
        let lines = crate::test_log::capture(|| {
            let mut sim = Sim::new(manager(10, 2));
            let mut cfg = client_cfg(1, "evil\nsession 0x0001 up user=root\x1b[2J", "pw", &[auth]);
            cfg.service_name = "isp\r\nfake".into();
            sim.add(cfg);
            sim.run_for(Duration::from_secs(5));
            assert!(sim.installs().is_empty(), "unknown user");
        });
        let user = "user=evil\\x0asession 0x0001 up user=root\\x1b[2J";
        for want in [
            format!("auth failed {user} reason=unknown-user"),
            format!("down reason=auth-failed {user} "),
            "service 'isp\\x0d\\x0afake'".to_owned(),
        ] {
            assert!(
                lines.iter().any(|l| l.contains(&want)),
                "{auth:?}: no line with {want:?} in {lines:#?}"
            );
        }
        for l in &lines {
            assert!(
                l.bytes().all(|b| (0x20..=0x7e).contains(&b)),
                "{auth:?}: not one printable line: {l:?}"
            );
        }
    }
}

/// A secrets line with `-` in the address column (pppd: no address
/// allowed): the right password is still refused, and the log says why.
#[test]
fn user_with_no_address_allowed_is_refused() {
    let lines = crate::test_log::capture(|| {
        let secrets = Secrets::parse("nobody * \"password\" -\n", "test-secrets").unwrap();
        let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
        let pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
        let bras = Manager::with_rng(classic_config(10, 2), secrets, pool, Rng::seeded(1));
        let mut sim = Sim::new(bras);
        let c = sim.add(client_cfg(1, "nobody", "password", &[AuthProto::Pap]));
        sim.run_for(Duration::from_secs(5));
        assert!(sim.up(c).is_none());
        assert!(sim.installs().is_empty());
        assert_eq!(sim.bras.pool().in_use(), 0);
        assert_eq!(sim.removal_reasons(), vec![]);
        assert!(sim.bras.is_empty(), "the session ended");
    });
    assert!(
        lines
            .iter()
            .any(|l| l.contains("auth failed user=nobody reason=no-address-allowed")),
        "{lines:#?}"
    );
}

/// The BRAS's own LCP Echo-Request looped back to it (source and
/// destination MAC swapped, as a looped access line would): not answered,
/// counted in `session.lcp_looped_echo`.
#[test]
fn looped_echo_request_is_counted_not_answered() {
    let mut sim = Sim::new(manager(10, 3));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(11));
    assert!(sim.up(c).is_some());
    let is_echo_req = |f: &Vec<u8>| {
        EthHeader::parse(f)
            .ok()
            .and_then(|(_, p)| pppoe::parse_session(p).ok())
            .is_some_and(|(_, proto_, info)| {
                proto_ == proto::LCP && info.first() == Some(&u8::from(Code::EchoReq))
            })
    };
    let mut looped = sim
        .wire
        .iter()
        .rev()
        .find(|(d, f)| *d == Dir::ToClients && is_echo_req(f))
        .map(|(_, f)| f.clone())
        .expect("the BRAS sent an Echo-Request at 10 s");
    let (dst, src) = looped.split_at_mut(6);
    dst.swap_with_slice(&mut src[..6]);
    let replies = sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep).len();
    sim.send(Dir::ToBras, looped);
    sim.settle();
    assert_eq!(sim.bras.stats().lcp_looped_echo, 1);
    assert_eq!(
        sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep).len(),
        replies,
        "not answered"
    );
    assert!(sim
        .bras
        .counters()
        .contains(&("session.lcp_looped_echo".to_owned(), 1)));
    assert_eq!(sim.bras.len(), 1, "one looped echo is not the end");
}

/// A daemon dies; a new Manager re-adopts its sessions from what the state
/// file saves: the CPE notices nothing. Its LCP echoes (with the saved
/// Magic-Numbers) keep the session up on both sides for a minute, nothing
/// is renegotiated, the address and the lease stay, and the data plane is
/// not asked to change anything.
#[test]
fn readopted_session_carries_on_with_its_saved_options() {
    let mut sim = Sim::new(manager(10, 2));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    let (addr, _, _) = sim.up(c).expect("up");
    let saved = sim.bras.saved_sessions();
    assert_eq!(saved.len(), 1);
    let (key, s) = saved[0].clone();
    assert_eq!(
        (s.user.as_str(), s.address, s.auth.as_str()),
        ("testuser1", addr, "chap")
    );
    assert!(s.our_magic != 0 && s.peer_magic.is_some());
    // The new daemon: a fresh manager, the session adopted.
    let mut fresh = manager(10, 2);
    assert!(fresh.adopt(sim.now, key, &s));
    assert!(!fresh.adopt(sim.now, key, &s), "not twice");
    assert_eq!(fresh.pool().holder(addr), Some("testuser1"));
    sim.bras = fresh;
    sim.ops.clear();
    let lcp_before = sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq).len();
    sim.run_for(Duration::from_secs(60));
    assert!(sim.ops.is_empty(), "no data-plane change: {:?}", sim.ops);
    assert_eq!(sim.bras.len(), 1, "still up");
    assert_eq!(
        sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq).len(),
        lcp_before,
        "no renegotiation"
    );
    let replies = sim.packets(Dir::ToBras, proto::LCP, Code::EchoRep);
    assert!(
        replies.len() >= 5,
        "the CPE answers the new daemon's echoes"
    );
    let (_, info) = sim.bras.sessions().next().unwrap();
    assert_eq!((info.address, info.installed), (Some(addr), true));
}

/// External (RADIUS) authentication: the verdict comes later, carries the
/// address, DNS and Session-Timeout; a late verdict for a session that is
/// gone is dropped.
#[test]
fn external_verdict_arrives_later_and_a_late_one_is_dropped() {
    use crate::session::ExternalVerdict;
    let mut bras = manager(0, 2);
    bras.set_external_auth(true);
    let mut sim = Sim::new(bras);
    let c = sim.add(client_cfg(1, "raduser", "radpass", &[AuthProto::Pap]));
    sim.run_for(Duration::from_secs(2));
    let req = sim.bras.poll_auth_request().expect("an auth request");
    assert_eq!(req.user, "raduser");
    assert!(!req.reauth);
    assert_eq!(
        req.credential,
        crate::ppp::Credential::Pap {
            password: b"radpass".to_vec()
        }
    );
    assert!(sim.up(c).is_none(), "not up before the verdict");
    let dns = [Some(Ipv4Addr::new(9, 9, 9, 9)), None];
    let accepted = sim.bras.handle_auth_verdict(
        sim.now,
        &req,
        ExternalVerdict::Accept {
            address: Some(Ipv4Addr::new(172, 16, 0, 150)),
            pool: None,
            session_timeout: Some(Duration::from_secs(30)),
            dns: Some(dns),
            message: Some("hi".into()),
            ipv6_prefix: None,
            delegated: None,
            framed_mtu: None,
        },
    );
    assert!(accepted);
    sim.run_for(Duration::from_secs(2));
    let (addr, got_dns, _) = sim.up(c).expect("up after the verdict");
    assert_eq!(addr, Ipv4Addr::new(172, 16, 0, 150));
    assert_eq!(got_dns, dns);
    assert!(sim.removal_reasons().is_empty());
    sim.run_for(Duration::from_secs(30));
    assert_eq!(sim.removal_reasons(), vec![DownReason::SessionTimeout]);
    assert!(sim.bras.is_empty());
    // The same verdict again (late, or a duplicate): dropped.
    assert!(!sim.bras.handle_auth_verdict(
        sim.now,
        &req,
        ExternalVerdict::Reject {
            message: "x".into()
        }
    ));
}

#[test]
fn external_reject_carries_the_message() {
    use crate::session::ExternalVerdict;
    let mut bras = manager(0, 2);
    bras.set_external_auth(true);
    let mut sim = Sim::new(bras);
    let c = sim.add(client_cfg(1, "raduser", "bad", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(2));
    let req = sim.bras.poll_auth_request().expect("an auth request");
    assert!(matches!(
        req.credential,
        crate::ppp::Credential::ChapMd5 { .. }
    ));
    sim.bras.handle_auth_verdict(
        sim.now,
        &req,
        ExternalVerdict::Reject {
            message: "Account disabled".into(),
        },
    );
    sim.run_for(Duration::from_secs(5));
    assert!(
        sim.events[c].iter().any(|e| matches!(e,
            ClientEvent::AuthFailed { message } if message == "Account disabled")),
        "{:?}",
        sim.events[c]
    );
    assert!(sim.bras.is_empty());
}

/// RADIUS CoA: a new Session-Timeout counts from the change and replaces
/// the Access-Accept's; `close` ends a session with the shell's reason
/// (idle-timeout).
#[test]
fn coa_session_timeout_replaces_the_old_one_and_close_takes_a_reason() {
    use crate::session::ExternalVerdict;
    let mut bras = manager(0, 2);
    bras.set_external_auth(true);
    let mut sim = Sim::new(bras);
    let c = sim.add(client_cfg(1, "raduser", "radpass", &[AuthProto::Pap]));
    let d = sim.add(client_cfg(2, "raduser2", "radpass", &[AuthProto::Pap]));
    sim.run_for(Duration::from_secs(2));
    while let Some(req) = sim.bras.poll_auth_request() {
        assert!(sim.bras.handle_auth_verdict(
            sim.now,
            &req,
            ExternalVerdict::Accept {
                address: None,
                pool: None,
                session_timeout: Some(Duration::from_secs(3600)),
                dns: None,
                message: None,
                ipv6_prefix: None,
                delegated: None,
                framed_mtu: None,
            },
        ));
    }
    sim.run_for(Duration::from_secs(2));
    assert!(sim.up(c).is_some() && sim.up(d).is_some());
    let keys: Vec<_> = sim.bras.sessions().map(|(k, _)| *k).collect();
    let (kc, kd) = if sim.bras.accounting_of(&keys[0]).unwrap().0 == Some("raduser") {
        (keys[0], keys[1])
    } else {
        (keys[1], keys[0])
    };
    let t = sim.now;
    assert!(sim
        .bras
        .set_session_timeout(t, &kc, Some(Duration::from_secs(10))));
    sim.run_for(Duration::from_secs(9));
    assert!(sim.removal_reasons().is_empty(), "not before 10 s");
    sim.run_for(Duration::from_secs(2));
    assert_eq!(sim.removal_reasons(), vec![DownReason::SessionTimeout]);
    // Lifting the limit (None) keeps the other one past its old timeout.
    assert!(sim.bras.set_session_timeout(sim.now, &kd, None));
    sim.run_for(Duration::from_secs(3700));
    assert_eq!(sim.removal_reasons(), vec![DownReason::SessionTimeout]);
    assert!(sim.up(d).is_some());
    assert!(sim.bras.close(sim.now, &kd, DownReason::IdleTimeout));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.removal_reasons(),
        vec![DownReason::SessionTimeout, DownReason::IdleTimeout]
    );
    assert!(
        !sim.bras.close(sim.now, &kd, DownReason::IdleTimeout),
        "gone"
    );
}

/// RADIUS Framed-Pool: the address comes from the named pool; a full or
/// unknown pool fails that session's authentication (with the reason in
/// the log) and leaves the others alone.
#[test]
fn framed_pool_leases_from_the_named_pool_and_refuses_a_full_or_unknown_one() {
    use crate::session::ExternalVerdict;
    let secrets = Secrets::parse(SECRETS, "test-secrets").unwrap();
    let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
    let mut pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
    pool.add_named("gold", &["10.9.0.7".parse().unwrap()]);
    let mut bras = Manager::with_rng(classic_config(0, 2), secrets, pool, Rng::seeded(42));
    bras.set_external_auth(true);
    let mut sim = Sim::new(bras);
    let users = ["gold1", "gold2", "other"];
    let clients: Vec<usize> = users
        .iter()
        .enumerate()
        .map(|(i, u)| sim.add(client_cfg(i as u32 + 1, u, "pw", &[AuthProto::Pap])))
        .collect();
    sim.run_for(Duration::from_secs(2));
    let mut reqs = Vec::new();
    while let Some(req) = sim.bras.poll_auth_request() {
        reqs.push(req);
    }
    // Verdicts in user order, so gold1 takes gold's only address.
    reqs.sort_by(|a, b| a.user.cmp(&b.user));
    for req in &reqs {
        let pool = if req.user == "other" {
            "silver"
        } else {
            "gold"
        };
        assert!(sim.bras.handle_auth_verdict(
            sim.now,
            req,
            ExternalVerdict::Accept {
                address: None,
                pool: Some(pool.into()),
                session_timeout: None,
                dns: None,
                message: None,
                ipv6_prefix: None,
                delegated: None,
                framed_mtu: None,
            },
        ));
    }
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.up(clients[0]).map(|u| u.0),
        Some(Ipv4Addr::new(10, 9, 0, 7)),
        "gold1 from gold"
    );
    for &c in &clients[1..] {
        assert!(sim.up(c).is_none());
        assert!(
            sim.events[c].iter().any(|e| matches!(e,
                ClientEvent::AuthFailed { message } if message == "no address available")),
            "{:?}",
            sim.events[c]
        );
    }
    assert_eq!(sim.bras.len(), 1, "only gold1 left");
    assert_eq!(sim.bras.pool().in_use(), 1);
}

// ---- IPv6: IPv6CP, RA/SLAAC, DHCPv6 prefix delegation through the Manager ----

fn v6_manager(ipv4: bool) -> Manager {
    manager_with(10, 3, |c| {
        c.link.ipv4 = ipv4;
        c.link.ipv6 = true;
        c.v6.ipv4 = ipv4;
        c.v6.dns6 = vec!["2001:db8::53".parse().unwrap()];
    })
}

fn v6_client(i: u32, user: &str, ipv6: bool) -> ClientConfig {
    let mut c = client_cfg(i, user, "password", &[AuthProto::Chap]);
    c.peer.ipv6 = ipv6;
    c
}

type V6Up = (
    Option<(std::net::Ipv6Addr, u8)>,
    Option<std::net::Ipv6Addr>,
    Option<(std::net::Ipv6Addr, u8)>,
    Option<std::net::Ipv6Addr>,
);

impl Sim {
    fn up6(&self, i: usize) -> Option<V6Up> {
        self.events[i].iter().rev().find_map(|e| match e {
            ClientEvent::Ipv6Up {
                prefix,
                address,
                pd,
                na,
                ..
            } => Some((*prefix, *address, *pd, *na)),
            _ => None,
        })
    }

    fn v6_ops(&self) -> Vec<DataplaneOp> {
        self.ops
            .iter()
            .filter(|op| {
                matches!(
                    op,
                    DataplaneOp::InstallV6 { .. } | DataplaneOp::RemoveV6 { .. }
                )
            })
            .cloned()
            .collect()
    }
}

fn p6(s: &str) -> (std::net::Ipv6Addr, u8) {
    crate::v6::pool6::parse_prefix(s).unwrap()
}

#[test]
fn dual_stack_session_gets_a_64_by_ra_and_a_56_by_dhcpv6() {
    let mut sim = Sim::new(v6_manager(true));
    let c = sim.add(v6_client(1, "testuser1", true));
    sim.run_for(Duration::from_secs(5));
    assert_eq!(
        sim.up(c).expect("ipv4 up").0,
        Ipv4Addr::new(172, 16, 0, 101)
    );
    let (prefix, address, pd, na) = sim.up6(c).expect("ipv6 up");
    assert_eq!(prefix, Some(p6("2001:db8:100:1::/64")));
    let iid = sim.clients[c].v6().unwrap().address.unwrap();
    assert_eq!(address, Some(iid));
    assert_eq!(
        u128::from(iid) >> 64,
        u128::from(p6("2001:db8:100:1::/64").0) >> 64
    );
    assert_eq!(pd, Some(p6("2001:db8:200:100::/56")));
    assert_eq!(na, None, "IA_NA not asked");
    let key = sim.bras.sessions().next().map(|(k, _)| *k).unwrap();
    assert_eq!(
        sim.v6_ops(),
        [
            DataplaneOp::InstallV6 {
                key,
                prefix64: p6("2001:db8:100:1::/64"),
                delegated: None,
                mtu: 1492
            },
            DataplaneOp::InstallV6 {
                key,
                prefix64: p6("2001:db8:100:1::/64"),
                delegated: Some(p6("2001:db8:200:100::/56")),
                mtu: 1492
            },
        ]
    );
    let info = sim.bras.sessions().next().unwrap().1;
    assert_eq!((info.ipv6, info.delegated), (prefix, pd));
    let row = crate::query::Row::new(&key, &info, Default::default());
    assert!(
        row.line()
            .contains("address=172.16.0.101 ipv6=2001:db8:100:1::/64 pd=2001:db8:200:100::/56 "),
        "{}",
        row.line()
    );
    let show = crate::query::Detail::new(row, &info, None).text();
    assert!(
        show.contains(
            "  ipv6        Opened prefix 2001:db8:100:1::/64 pd 2001:db8:200:100::/56 local fe80::"
        ),
        "{show}"
    );
    let st = sim.bras.stats().v6;
    assert_eq!((st.rs_rx, st.dhcpv6_rx, st.dhcpv6_tx), (1, 2, 2));
    // Periodic RAs (default 200 s).
    let ras = st.ra_tx;
    sim.run_for(Duration::from_secs(401));
    assert_eq!(sim.bras.stats().v6.ra_tx, ras + 2);
    assert!(sim.up6(c).is_some());
}

#[test]
fn ipv6_only_session_leases_no_ipv4() {
    let mut sim = Sim::new(v6_manager(false));
    let c = sim.add(v6_client(1, "testuser3", true));
    sim.run_for(Duration::from_secs(5));
    assert!(sim.up(c).is_none(), "IPCP rejected");
    let (prefix, _, pd, _) = sim.up6(c).expect("ipv6 up");
    assert!(prefix.is_some() && pd.is_some());
    assert_eq!(sim.bras.pool().in_use(), 0, "no IPv4 lease");
    // The session's rows go in under no address: the IPv6 data path hangs
    // on them.
    assert_eq!(sim.installs(), [(Ipv4Addr::UNSPECIFIED, 1492)]);
    assert_eq!(sim.bras.len(), 1);
    sim.run_for(Duration::from_secs(60));
    assert_eq!(sim.bras.len(), 1, "IPv6 alone keeps the session");
}

/// A dual-stack BRAS and an IPv6-only CPE (it Protocol-Rejects IPCP): the
/// rows go in under no address once IPCP is given up, so IPv6 flows.
#[test]
fn ipv6_only_cpe_on_a_dual_stack_bras_gets_a_data_path() {
    let mut sim = Sim::new(v6_manager(true));
    let mut cfg = v6_client(1, "testuser3", true);
    cfg.peer.ipv4 = false;
    let c = sim.add(cfg);
    sim.run_for(Duration::from_secs(40));
    assert!(sim.up(c).is_none());
    assert!(sim.up6(c).is_some());
    assert_eq!(sim.installs()[0], (Ipv4Addr::UNSPECIFIED, 1492));
    assert!(sim.installs().iter().all(|i| i.0.is_unspecified()));
    let key = *sim.bras.sessions().next().unwrap().0;
    assert!(
        !sim.bras.ipv4_pending(&key),
        "IPCP given up: accounting may start"
    );
    assert!(sim
        .v6_ops()
        .iter()
        .any(|op| matches!(op, DataplaneOp::InstallV6 { .. })));
    assert_eq!(sim.bras.len(), 1);
}

/// Dual stack, IPv6CP opening first: the rows go in at once under no
/// address (IPv6 flows without waiting for IPCP) and get the IPv4 address
/// in place when IPCP opens; while IPCP negotiates, `ipv4_pending` holds
/// accounting back. IPCP finishing later moves them to no address instead
/// of removing them (IPv6 keeps flowing on the same slot).
#[test]
fn dual_stack_installs_once_and_ipcp_finishing_keeps_the_ipv6_rows() {
    let mut sim = Sim::new(v6_manager(true));
    let c = sim.add(v6_client(1, "testuser3", true));
    sim.run_for(Duration::from_secs(5));
    let (addr, _, _) = sim.up(c).expect("ipv4 up");
    assert!(sim.up6(c).is_some());
    assert_eq!(
        sim.installs(),
        [(Ipv4Addr::UNSPECIFIED, 1492), (addr, 1492)],
        "IPv6CP first, then IPCP: {:?}",
        sim.ops
    );
    let key = *sim.bras.sessions().next().unwrap().0;
    assert!(sim.bras.ipv4_pending(&key), "IPCP open");
    // The peer closes IPCP for good (Terminate-Request; IPCP then finishes).
    let sid = key.session_id.to_be_bytes();
    let mut frame = BRAS_MAC.to_vec();
    frame.extend_from_slice(&key.peer_mac);
    frame.extend_from_slice(&[0x88, 0x64, 0x11, 0x00, sid[0], sid[1], 0x00, 0x06]);
    // PPP IPCP Terminate-Request, id 0x77, no data.
    frame.extend_from_slice(&[0x80, 0x21, 0x05, 0x77, 0x00, 0x04]);
    sim.bras.handle_frame(sim.now, &frame);
    sim.run_for(Duration::from_secs(30));
    // IPCP finished: the rows move to no address; the CPE (whose IPCP
    // still wants to run) opens it again and gets the same lease back on
    // the same rows.
    assert_eq!(
        sim.installs(),
        [
            (Ipv4Addr::UNSPECIFIED, 1492),
            (addr, 1492),
            (Ipv4Addr::UNSPECIFIED, 1492),
            (addr, 1492)
        ],
        "{:?}",
        sim.ops
    );
    assert_eq!(sim.up(c).map(|u| u.0), Some(addr));
    assert!(
        !sim.ops
            .iter()
            .any(|op| matches!(op, DataplaneOp::Remove { .. })),
        "{:?}",
        sim.ops
    );
    assert_eq!(sim.bras.len(), 1, "IPv6 keeps the link");
}

#[test]
fn ipv4_only_client_protocol_rejects_ipv6cp_and_stays() {
    let mut sim = Sim::new(v6_manager(true));
    let c = sim.add(v6_client(1, "testuser1", false));
    sim.run_for(Duration::from_secs(60));
    assert!(sim.up(c).is_some());
    assert!(sim.up6(c).is_none());
    assert!(sim.v6_ops().is_empty());
    assert_eq!(sim.bras.len(), 1);
}

#[test]
fn prefixes_released_at_teardown_and_the_same_again_on_reconnect() {
    let mut sim = Sim::new(v6_manager(true));
    let a = sim.add(v6_client(1, "testuser1", true));
    sim.run_for(Duration::from_secs(5));
    let first = sim.up6(a).unwrap();
    let now = sim.now;
    sim.clients[a].close(now);
    sim.run_for(Duration::from_secs(5));
    assert_eq!(sim.bras.len(), 0);
    let key_ops = sim.v6_ops();
    assert!(matches!(
        key_ops.last(),
        Some(DataplaneOp::RemoveV6 { prefix64: Some(p), delegated: Some(d), .. })
            if Some(*p) == first.0 && Some(*d) == first.2
    ));
    // Another user in between does not get them while... they are free
    // again, but round-robin moves on; the same user gets its own back.
    let b = sim.add(v6_client(2, "testuser3", true));
    sim.run_for(Duration::from_secs(5));
    let other = sim.up6(b).unwrap();
    assert_ne!(other.0, first.0);
    assert_ne!(other.2, first.2);
    let again = sim.add(v6_client(3, "testuser1", true));
    sim.run_for(Duration::from_secs(5));
    let second = sim.up6(again).unwrap();
    assert_eq!((second.0, second.2), (first.0, first.2));
}

#[test]
fn dhcpv6_renew_and_release_through_the_manager() {
    let mut sim = Sim::new(v6_manager(true));
    let c = sim.add(ClientConfig {
        ia_na: true,
        ..v6_client(1, "testuser1", true)
    });
    sim.bras = v6_manager_ia_na();
    sim.run_for(Duration::from_secs(5));
    let (_, _, pd, na) = sim.up6(c).expect("ipv6 up");
    assert_eq!(na, Some("2001:db8:100:1::100".parse().unwrap()));
    let ups = sim.events[c].len();
    let now = sim.now;
    sim.clients[c].v6_renew(now);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.events[c][ups..]
        .iter()
        .any(|e| matches!(e, ClientEvent::Ipv6Up { pd: p, .. } if *p == pd)));
    let before = sim.v6_ops().len();
    let now = sim.now;
    sim.clients[c].v6_release(now);
    sim.run_for(Duration::from_secs(2));
    assert!(sim.events[c].contains(&ClientEvent::Ipv6Released));
    let key = sim.bras.sessions().next().map(|(k, _)| *k).unwrap();
    assert_eq!(
        sim.v6_ops()[before..],
        [DataplaneOp::RemoveV6 {
            key,
            prefix64: None,
            delegated: pd
        }]
    );
    assert_eq!(sim.bras.sessions().next().unwrap().1.delegated, None);
}

fn v6_manager_ia_na() -> Manager {
    manager_with(10, 3, |c| {
        c.link.ipv6 = true;
        c.v6.dhcpv6_ia_na = true;
    })
}

/// RADIUS Framed-IPv6-Prefix and Delegated-IPv6-Prefix (RFC 3162/4818):
/// the session's /64 and delegated prefix come from the Access-Accept, are
/// taken out of the pools so no other session gets them, and a /64 the
/// pool already lent to another user falls back to the pool.
#[test]
fn radius_ipv6_prefixes_win_over_the_pools() {
    use crate::session::ExternalVerdict;
    // An Access-Accept carrying only the IPv6 attributes and Framed-MTU.
    let accept = |ipv6_prefix, delegated, framed_mtu| ExternalVerdict::Accept {
        address: None,
        pool: None,
        session_timeout: None,
        dns: None,
        message: None,
        ipv6_prefix,
        delegated,
        framed_mtu,
    };
    let mut bras = v6_manager(true);
    bras.set_external_auth(true);
    let mut sim = Sim::new(bras);
    let a = sim.add(v6_client(1, "rad6", true));
    sim.run_for(Duration::from_secs(2));
    let req = sim.bras.poll_auth_request().expect("an auth request");
    assert!(sim.bras.handle_auth_verdict(
        sim.now,
        &req,
        accept(
            Some(p6("2001:db8:100:2::/64")),
            Some(p6("2001:db8:200:100::/56")),
            Some(1400)
        ),
    ));
    sim.run_for(Duration::from_secs(5));
    let (prefix, _, pd, _) = sim.up6(a).expect("ipv6 up");
    assert_eq!(prefix, Some(p6("2001:db8:100:2::/64")));
    assert_eq!(pd, Some(p6("2001:db8:200:100::/56")));
    // The next session from the pools skips what RADIUS gave.
    let b = sim.add(v6_client(2, "pool6", true));
    sim.run_for(Duration::from_secs(2));
    let req = sim.bras.poll_auth_request().expect("an auth request");
    assert!(sim.bras.handle_auth_verdict(
        sim.now,
        &req,
        // The /64 is held by rad6: not given twice.
        accept(Some(p6("2001:db8:100:2::/64")), None, None),
    ));
    sim.run_for(Duration::from_secs(5));
    let (prefix_b, _, pd_b, _) = sim.up6(b).expect("ipv6 up");
    assert!(prefix_b.is_some() && prefix_b != prefix, "{prefix_b:?}");
    assert!(pd_b.is_some() && pd_b != pd, "{pd_b:?}");
    // Framed-MTU 1400 lowers rad6's MTU (data plane rows, RA); pool6 keeps
    // its MRU.
    let mtus: Vec<_> = sim
        .bras
        .sessions()
        .map(|(_, i)| (i.user.unwrap_or_default().to_owned(), i.mtu))
        .collect();
    assert!(mtus.contains(&("rad6".into(), 1400)), "{mtus:?}");
    assert!(mtus.contains(&("pool6".into(), 1492)), "{mtus:?}");
    assert!(sim.v6_ops().iter().any(
        |op| matches!(op, DataplaneOp::InstallV6 { prefix64, mtu: 1400, .. } if *prefix64 == p6("2001:db8:100:2::/64"))
    ));
}
