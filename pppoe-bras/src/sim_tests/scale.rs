//! Scale: one Manager, thousands of emulated subscribers (a `Fleet`);
//! and secrets (Magic-Numbers, CHAP challenges) from the OS CSPRNG.

use super::*;
use crate::session::ManagerStat;

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
    assert_eq!(sim.bras.stats()[ManagerStat::DropUnknownSession], 0);

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
