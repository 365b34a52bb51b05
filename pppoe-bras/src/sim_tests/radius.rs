//! External (RADIUS) authentication through the Manager: late verdicts,
//! rejects, CoA, Framed-Pool.

use super::*;

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
