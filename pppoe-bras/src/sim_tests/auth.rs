//! Authentication details: CHAP rechallenges, failure messages, peer
//! strings in log lines, users with no address allowed.

use super::*;
use crate::session::ManagerStat;

#[test]
fn chap_rechallenge_periodic_and_failure_ends_the_session() {
    let mut sim = Sim::new(manager_with(10, 3, |c| {
        c.link.settings.chap_rechallenge = Duration::from_secs(60)
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
    assert_eq!(sim.bras.stats()[ManagerStat::ReauthFailed], 0);
    // The CPE's secret changes: the next re-challenge ends the session.
    sim.clients[c].peer_mut().unwrap().set_password(b"changed");
    sim.run_for(Duration::from_secs(70));
    assert_eq!(sim.removal_reasons(), vec![DownReason::AuthFailed]);
    assert_eq!(sim.bras.stats()[ManagerStat::ReauthFailed], 1);
    let fail = sim.packets(Dir::ToClients, proto::CHAP, Code::from(4));
    assert_eq!(fail.len(), 1);
    assert_eq!(fail[0], b"authentication failed");
    assert!(sim.bras.is_empty());
}

#[test]
fn chap_rechallenge_unanswered_times_out() {
    let mut sim = Sim::new(manager_with(0, 3, |c| {
        c.link.settings.chap_rechallenge = Duration::from_secs(60);
        c.link.settings.auth_timeout = Duration::from_secs(10);
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
