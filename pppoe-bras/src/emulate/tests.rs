use std::time::{Duration, Instant};

use super::*;
use crate::wire::{
    eth::{EthHeader, Vlans, BROADCAST},
    pppoe::{self, Code, TagType},
};

const AC_MAC: [u8; 6] = [0x02, 0xb5, 0, 0, 0, 1];

fn cfg(i: u32) -> ClientConfig {
    ClientConfig {
        mac: client_mac([0x02, 0xc0, 0, 0, 0, 1], i),
        host_uniq: i.to_be_bytes().to_vec(),
        ..ClientConfig::default()
    }
}

fn drain(fleet: &mut Fleet) -> Vec<Vec<u8>> {
    std::iter::from_fn(|| fleet.poll_transmit()).collect()
}

fn code_and_src(frame: &[u8]) -> (Code, [u8; 6]) {
    let (eth, payload) = EthHeader::parse(frame).unwrap();
    let (hdr, _) = pppoe::Header::parse(payload).unwrap();
    (hdr.code, eth.src)
}

/// A PADO from the AC to `dst`, echoing `host_uniq`.
fn pado(dst: [u8; 6], host_uniq: &[u8]) -> Vec<u8> {
    let eth = EthHeader {
        dst,
        src: AC_MAC,
        vlans: Vlans::NONE,
        ethertype: pppoe_bras_common::proto::ETH_P_PPP_DISC,
    };
    pppoe::discovery_frame(
        &eth,
        Code::Pado,
        0,
        &[
            (TagType::AcName, b"bras".as_slice()),
            (TagType::ServiceName, b"".as_slice()),
            (TagType::HostUniq, host_uniq),
            (TagType::AcCookie, b"0123456789abcdef0123".as_slice()),
        ],
    )
}

#[test]
fn frames_go_to_the_addressed_client_only() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1);
    fleet.launch(t0, (0..3).map(cfg), 0).unwrap();
    let padis = drain(&mut fleet);
    assert_eq!(padis.len(), 3);
    assert!(padis.iter().all(|f| code_and_src(f).0 == Code::Padi));

    let b = cfg(1);
    assert_eq!(fleet.handle_frame(t0, &pado(b.mac, &b.host_uniq)), None);
    let out = drain(&mut fleet);
    assert_eq!(out.len(), 1, "only client 1 answers");
    assert_eq!(code_and_src(&out[0]), (Code::Padr, b.mac));
    assert_eq!(fleet.stats().unknown_dst, 0);

    // Broadcast, another host's MAC, and garbage reach no client.
    fleet.handle_frame(t0, &pado(BROADCAST, &b.host_uniq));
    fleet.handle_frame(t0, &pado([0x02, 0xee, 0, 0, 0, 9], &b.host_uniq));
    fleet.handle_frame(t0, &[0u8; 5]);
    assert!(drain(&mut fleet).is_empty());
    assert_eq!(fleet.stats().unknown_dst, 3);
}

#[test]
fn duplicate_mac_refuses_the_whole_launch() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1);
    let err = fleet.launch(t0, [cfg(1), cfg(2), cfg(1)], 0).unwrap_err();
    assert_eq!(err.mac, cfg(1).mac);
    assert!(fleet.is_empty());
    assert!(drain(&mut fleet).is_empty());
    // Nothing was kept: the same MACs can be launched afterwards.
    fleet.launch(t0, [cfg(1), cfg(2)], 0).unwrap();
    assert_eq!(fleet.len(), 2);
    // Same MAC on another VLAN is another client.
    let mut tagged = cfg(1);
    tagged.vlans = parse_vlan("100").unwrap();
    fleet.launch(t0, [tagged], 0).unwrap();
    assert_eq!(fleet.len(), 3);
    assert!(fleet.launch(t0, [cfg(2)], 0).is_err());
}

#[test]
fn starts_and_hang_ups_are_paced() {
    let t0 = Instant::now();
    let ms = Duration::from_millis;
    let mut fleet = Fleet::new(1);
    fleet.launch(t0, (0..5).map(cfg), 10).unwrap();
    assert_eq!(drain(&mut fleet).len(), 1, "client 0 starts at once");
    assert_eq!(fleet.poll_timeout(), Some(t0 + ms(100)));
    fleet.handle_timeout(t0 + ms(250));
    assert_eq!(drain(&mut fleet).len(), 2, "clients 1 and 2 are due");
    assert_eq!(fleet.stats().started, 3);
    assert_eq!(fleet.poll_timeout(), Some(t0 + ms(300)));

    // Hang-up: the two not started never start; the three started are
    // closed two per second.
    fleet.close(t0 + ms(250), 2);
    assert_eq!(fleet.stats().finished, 1);
    assert_eq!(fleet.poll_timeout(), Some(t0 + ms(750)));
    fleet.handle_timeout(t0 + ms(750));
    assert_eq!(fleet.stats().finished, 2);
    assert!(!fleet.is_done());
    // A second call with rate 0 hurries the rest along.
    fleet.close(t0 + ms(800), 0);
    assert!(fleet.is_done());
    let st = fleet.stats();
    assert_eq!((st.clients, st.started, st.up, st.failed), (5, 3, 0, 3));
    let events: Vec<_> = std::iter::from_fn(|| fleet.poll_event()).collect();
    assert_eq!(
        events.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
        [0, 1, 2]
    );
    assert!(events
        .iter()
        .all(|(_, e)| matches!(e, ClientEvent::Down { .. })));
    assert_eq!(
        st.summary_line(t0),
        "SUMMARY sessions=5 up=0 failed=5 first_up_ms=- all_up_ms=- rate=-"
    );
}

#[test]
fn timers_fire_per_client_and_the_heap_stays_small() {
    let t0 = Instant::now();
    let mut fleet = Fleet::new(1);
    fleet.launch(t0, (0..100).map(cfg), 0).unwrap();
    drain(&mut fleet);
    // PADI retransmissions after 2, 4, 8, 16 s for every client; after
    // the fifth PADI has waited 32 s, all give up.
    let mut now = t0;
    let mut padis = 0;
    while let Some(t) = fleet.poll_timeout() {
        now = t;
        fleet.handle_timeout(now);
        padis += drain(&mut fleet).len();
        assert!(fleet.timers.len() <= 2 * 100 + 64);
    }
    assert_eq!(padis, 100 * 4);
    assert!(fleet.is_done());
    assert_eq!(fleet.stats().failed, 100);
    assert_eq!(now, t0 + Duration::from_secs(2 + 4 + 8 + 16 + 32));
}

#[test]
fn summary_when_all_up() {
    let t0 = Instant::now();
    let st = FleetStats {
        clients: 1000,
        started: 1000,
        up: 1000,
        finished: 0,
        failed: 0,
        first_up: Some(t0 + Duration::from_millis(12)),
        last_up: Some(t0 + Duration::from_millis(2500)),
        unknown_dst: 0,
    };
    assert_eq!(
        st.summary_line(t0),
        "SUMMARY sessions=1000 up=1000 failed=0 first_up_ms=12 all_up_ms=2500 rate=400.0/s"
    );
}
