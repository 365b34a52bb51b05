use std::{collections::HashMap, net::Ipv4Addr};

use super::{
    idle::{idle_step, Idle},
    radius::verdict_of,
    *,
};
use crate::{
    ppp::Credential,
    session::{AuthRequest, ExternalVerdict},
    wire::radius::{attr, code, Packet},
};

fn idle(timeout: u64, t0: Instant) -> Idle {
    let mut i = Idle {
        timeout: Duration::from_secs(timeout),
        address: Ipv4Addr::new(172, 16, 0, 100),
        packets: 0,
        active: t0,
        next_check: t0,
    };
    i.next_check = t0 + i.step();
    i
}

#[test]
fn idle_session_expires_after_its_timeout_and_traffic_restarts_it() {
    let t0 = Instant::now();
    let s = Duration::from_secs;
    let mut i = idle(3, t0);
    assert_eq!(i.next_check, t0 + s(1), "timeout/8 clamped to 1 s");
    assert!(!idle_step(&mut i, t0 + s(1), 0));
    assert!(!idle_step(&mut i, t0 + s(2), 0));
    // Traffic at 2.5 s: seen at the 3 s check, counted from there.
    assert!(!idle_step(&mut i, t0 + s(3), 4));
    assert_eq!(i.active, t0 + s(3));
    assert!(!idle_step(&mut i, t0 + s(5), 4));
    assert!(idle_step(&mut i, t0 + s(6), 4), "3 s without a packet");
    // Long timeouts: checked every timeout/8 (at most 60 s), and never
    // later than when the timeout runs out.
    let mut i = idle(3600, t0);
    assert_eq!(i.next_check, t0 + s(60));
    assert!(!idle_step(&mut i, t0 + s(3590), 0));
    assert_eq!(i.next_check, t0 + s(3600));
    assert!(idle_step(&mut i, t0 + s(3600), 0));
}

#[test]
fn access_accept_idle_timeout_is_kept_for_the_session() {
    let key = SessionKey {
        vlans: Default::default(),
        peer_mac: [2, 0, 0, 0, 0, 1],
        session_id: 1,
    };
    let req = AuthRequest {
        key,
        acct_session_id: "x-1".into(),
        user: "u".into(),
        credential: Credential::Pap {
            password: b"p".to_vec(),
        },
        reauth: false,
    };
    let mut p = Packet::new(code::ACCESS_ACCEPT, 1);
    p.add_u32(attr::IDLE_TIMEOUT, 3);
    p.add_u32(attr::SESSION_TIMEOUT, 60);
    p.add_u32(attr::FRAMED_MTU, 1400);
    // RFC 3162 / RFC 4818 prefixes: only the significant bytes sent.
    p.add(
        attr::FRAMED_IPV6_PREFIX,
        &[0, 64, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0x00, 0x77],
    );
    p.add(
        attr::DELEGATED_IPV6_PREFIX,
        &[0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0x77],
    );
    let mut authz = HashMap::new();
    let v = verdict_of(&p, &req, &mut authz);
    assert!(matches!(
        v,
        ExternalVerdict::Accept {
            session_timeout: Some(t),
            ..
        } if t == Duration::from_secs(60)
    ));
    let ExternalVerdict::Accept {
        ipv6_prefix,
        delegated,
        framed_mtu,
        ..
    } = v
    else {
        panic!("accept");
    };
    assert_eq!(framed_mtu, Some(1400));
    assert_eq!(
        ipv6_prefix,
        Some(("2001:db8:100:77::".parse().unwrap(), 64))
    );
    assert_eq!(
        delegated,
        Some(("2001:db8:200:7700::".parse().unwrap(), 56))
    );
    assert_eq!(authz[&key].idle, Some(Duration::from_secs(3)));
}
