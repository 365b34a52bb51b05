//! Discovery limits and VLANs through the Manager.

use super::*;
use crate::discovery::{DiscoveryStat, RateLimit, VidSet, VlanRule};
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
    let d = *sim.bras.discovery().stats();
    // Burst 20 plus 10/s for one second: about 30 PADOs for the flooder.
    assert!(
        (20..=32).contains(&(d[DiscoveryStat::PadoTx] - 1)),
        "flooder PADOs {}",
        d[DiscoveryStat::PadoTx] - 1
    );
    assert_eq!(
        d[DiscoveryStat::DropRateMac] + d[DiscoveryStat::PadoTx] - 1,
        1000,
        "{d:?}"
    );
    assert_eq!(d[DiscoveryStat::DropRateTotal], 0);
    // Many MACs at once hit the total limit, one PADI each.
    for i in 0..500u32 {
        let mac = [0x02, 0xdd, 0, 0, (i >> 8) as u8, i as u8];
        sim.bras.handle_frame(sim.now, &padi(mac, Vlans::NONE));
    }
    let d = sim.bras.discovery().stats();
    assert!(d[DiscoveryStat::DropRateTotal] >= 250, "{d:?}");
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
    assert!(d[DiscoveryStat::DropVlan] >= 3 * 2, "{d:?}");
    assert!(d[DiscoveryStat::DropLimit] >= 1, "{d:?}");
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
