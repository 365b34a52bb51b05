//! The classic sessions: CHAP/PAP up with static or pooled addresses,
//! refusals, dead CPEs, PADT either way, shutdown, many at once, and a
//! session re-adopted after a restart.

use super::*;

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
