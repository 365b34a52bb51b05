//! IPv6: IPv6CP, RA/SLAAC, DHCPv6 prefix delegation through the Manager.

use super::*;
use crate::v6::V6Stat;

pub(super) fn v6_manager(ipv4: bool) -> Manager {
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

pub(super) type V6Up = (
    Option<(std::net::Ipv6Addr, u8)>,
    Option<std::net::Ipv6Addr>,
    Option<(std::net::Ipv6Addr, u8)>,
    Option<std::net::Ipv6Addr>,
);

impl Sim {
    pub(super) fn up6(&self, i: usize) -> Option<V6Up> {
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
    assert_eq!(
        (st[V6Stat::RsRx], st[V6Stat::Dhcpv6Rx], st[V6Stat::Dhcpv6Tx]),
        (1, 2, 2)
    );
    // Periodic RAs (default 200 s).
    let ras = st[V6Stat::RaTx];
    sim.run_for(Duration::from_secs(401));
    assert_eq!(sim.bras.stats().v6[V6Stat::RaTx], ras + 2);
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
    // The CPE releases its delegated prefix (DHCPv6 Release) as it hangs
    // up; the teardown takes the /64: both rows go.
    let key_ops = sim.v6_ops();
    let removed = |want: &dyn Fn(&DataplaneOp) -> bool| key_ops.iter().any(want);
    assert!(removed(&|op| matches!(op,
        DataplaneOp::RemoveV6 { prefix64: Some(p), .. } if Some(*p) == first.0)));
    assert!(removed(&|op| matches!(op,
        DataplaneOp::RemoveV6 { delegated: Some(d), .. } if Some(*d) == first.2)));
    assert!(matches!(key_ops.last(), Some(DataplaneOp::RemoveV6 { .. })));
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

/// A user's own IPv6 prefixes in the secrets (`* 2001:…/64 2001:…/56` in
/// the address column): kept from everyone else, even the first dynamic
/// user the pools would have handed them to, and given to that user.
#[test]
fn static_prefixes_from_the_secrets_go_to_their_user_only() {
    let secrets = Secrets::parse(
        "testuser1 * \"password\" * 2001:db8:100:1::/64 2001:db8:200:100::/56\n\
         testuser3 * \"password\"\n",
        "test-secrets",
    )
    .unwrap();
    let range: PoolRange = "172.16.0.100-172.16.0.199".parse().unwrap();
    let pool = Pool::new(&[range], &[Ipv4Addr::new(172, 16, 0, 254)]);
    let mut cfg = classic_config(10, 3);
    cfg.link.ipv6 = true;
    let bras = Manager::with_rng(cfg, secrets, pool, Rng::seeded(42));
    let mut sim = Sim::new(bras);
    // testuser3 first: it would get index 1 of both pools round-robin.
    let other = sim.add(v6_client(1, "testuser3", true));
    sim.run_for(Duration::from_secs(5));
    let (p3, _, pd3, _) = sim.up6(other).expect("testuser3 ipv6 up");
    let mine64 = p6("2001:db8:100:1::/64");
    let mine_pd = p6("2001:db8:200:100::/56");
    assert_ne!(p3, Some(mine64));
    assert_ne!(pd3, Some(mine_pd));
    let me = sim.add(v6_client(2, "testuser1", true));
    sim.run_for(Duration::from_secs(5));
    let (p1, _, pd1, _) = sim.up6(me).expect("testuser1 ipv6 up");
    assert_eq!((p1, pd1), (Some(mine64), Some(mine_pd)));
}

/// The emulated CPE renews its bindings at T1 as a real one does (here
/// T1 = ½ × a 4 s preferred lifetime): the same prefixes come back every
/// 2 s and the session stays up.
#[test]
fn cpe_renews_at_t1_and_keeps_its_prefixes() {
    let bras = manager_with(10, 3, |c| {
        c.link.ipv6 = true;
        c.v6.preferred_lifetime = 4;
        c.v6.valid_lifetime = 8;
    });
    let mut sim = Sim::new(bras);
    let c = sim.add(v6_client(1, "testuser1", true));
    sim.run_for(Duration::from_secs(3));
    let first = sim.up6(c).expect("ipv6 up");
    let rx = sim.bras.stats().v6[V6Stat::Dhcpv6Rx];
    sim.run_for(Duration::from_secs(7));
    let binds = sim.events[c]
        .iter()
        .filter(|e| matches!(e, ClientEvent::Ipv6Up { .. }))
        .count();
    assert!(binds >= 4, "renewed every 2 s: {binds} bindings");
    assert!(
        sim.bras.stats().v6[V6Stat::Dhcpv6Rx] >= rx + 3,
        "Renews received"
    );
    assert_eq!(sim.up6(c), Some(first), "the same prefixes");
    assert_eq!(sim.bras.len(), 1);
}
