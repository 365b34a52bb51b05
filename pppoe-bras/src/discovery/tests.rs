//! The exchanges byte for byte, retransmissions, PADT, VLAN tags, RFC 4638
//! and id allocation; `refusals.rs` has what is refused and how it counts.

use super::*;
use crate::wire::eth::{VlanTag, BROADCAST};

mod refusals;

const AC: [u8; 6] = [0x02, 0, 0, 0, 0, 0xfe];
const CPE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CPE2: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];
const HU: &[u8] = &[0xde, 0xad, 0xbe, 0xef];

fn cfg() -> DiscoveryConfig {
    DiscoveryConfig {
        ac_name: "bras".into(),
        service_names: vec![],
        cookie_key: [0; 16],
        max_sessions: 100,
        max_sessions_per_mac: 4,
        max_payload: MAX_PAYLOAD_CAP,
        local_mac: AC,
        ..DiscoveryConfig::default()
    }
}

fn eth(dst: [u8; 6], src: [u8; 6], vlans: Vlans) -> EthHeader {
    EthHeader {
        dst,
        src,
        vlans,
        ethertype: ETHERTYPE_PPPOE_DISCOVERY,
    }
}

/// Builds a full frame, padded to 60 bytes like a real NIC would.
fn frame(e: &EthHeader, code: Code, sid: u16, tags: &[(TagType, &[u8])]) -> Vec<u8> {
    let mut f = pppoe::discovery_frame(e, code, sid, tags);
    if f.len() < 60 {
        f.resize(60, 0);
    }
    f
}

fn feed(d: &mut Discovery, now: Instant, f: &[u8]) {
    let (e, p) = EthHeader::parse(f).unwrap();
    d.handle_frame(now, &e, p);
}

struct Reply {
    eth: EthHeader,
    hdr: Header,
    tags: Vec<(TagType, Vec<u8>)>,
}

fn decode(f: &[u8]) -> Reply {
    let (eth, p) = EthHeader::parse(f).unwrap();
    let (hdr, body) = Header::parse(p).unwrap();
    assert_eq!(p.len(), body.len() + 6, "no trailing bytes in our frames");
    let tags = pppoe::tags(body)
        .map(|t| t.map(|t| (t.ty, t.value.to_vec())))
        .collect::<Result<_, _>>()
        .unwrap();
    Reply { eth, hdr, tags }
}

impl Reply {
    fn tag(&self, ty: TagType) -> Option<&[u8]> {
        self.tags
            .iter()
            .find(|(t, _)| *t == ty)
            .map(|(_, v)| v.as_slice())
    }
}

fn padi(
    d: &mut Discovery,
    now: Instant,
    src: [u8; 6],
    vlans: Vlans,
    tags: &[(TagType, &[u8])],
) -> Option<Reply> {
    feed(
        d,
        now,
        &frame(&eth(BROADCAST, src, vlans), Code::Padi, 0, tags),
    );
    d.poll_transmit().map(|f| decode(&f))
}

/// PADI → PADO → PADR with the offered cookie; returns the reply to PADR.
fn connect(
    d: &mut Discovery,
    now: Instant,
    src: [u8; 6],
    vlans: Vlans,
    hu: Option<&[u8]>,
) -> Option<Reply> {
    let mut tags: Vec<(TagType, &[u8])> = vec![(TagType::ServiceName, b"")];
    if let Some(hu) = hu {
        tags.push((TagType::HostUniq, hu));
    }
    let pado = padi(d, now, src, vlans, &tags)?;
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    tags.push((TagType::AcCookie, &cookie));
    feed(d, now, &frame(&eth(AC, src, vlans), Code::Padr, 0, &tags));
    d.poll_transmit().map(|f| decode(&f))
}

#[test]
fn pado_byte_exact() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    let f = frame(
        &eth(BROADCAST, CPE, Vlans::NONE),
        Code::Padi,
        0,
        &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
    );
    assert_eq!(f.len(), 60);
    feed(&mut d, t0, &f);
    let pado = d.poll_transmit().unwrap();
    assert!(d.poll_transmit().is_none());
    let cookie = d.cookie(0, &eth(BROADCAST, CPE, Vlans::NONE));
    let mut expect = vec![
        0x02, 0, 0, 0, 0, 0x01, // dst = CPE
        0x02, 0, 0, 0, 0, 0xfe, // src = AC
        0x88, 0x63, // discovery
        0x11, 0x07, 0x00, 0x00, 0x00, 0x28, // PADO, sid 0, len 8+4+20+8 = 40
        0x01, 0x02, 0x00, 0x04, b'b', b'r', b'a', b's', // AC-Name
        0x01, 0x01, 0x00, 0x00, // Service-Name ""
        0x01, 0x04, 0x00, 0x10, // AC-Cookie
    ];
    expect.extend_from_slice(&cookie);
    expect.extend_from_slice(&[0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef]);
    assert_eq!(pado, expect);
    assert_eq!(d.stats()[DiscoveryStat::PadiRx], 1);
    assert_eq!(d.stats()[DiscoveryStat::PadoTx], 1);
    assert_eq!(d.live_sessions(), 0, "PADO keeps no state");
}

/// PADI as in tcpdump's `tests/pppoe.pcap` (printed as `PADI [Service-Name]
/// [PPP-Max-Payload 0x05DC] [Host-Uniq 0x16372C16]`), padded to 60 bytes.
const TCPDUMP_PADI: [u8; 60] = [
    0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x02, 0x00, 0x00, 0x00, 0x00, 0x01, 0x88, 0x63, //
    0x11, 0x09, 0x00, 0x00, 0x00, 0x12, // PADI, sid 0, len 18
    0x01, 0x01, 0x00, 0x00, // Service-Name ""
    0x01, 0x20, 0x00, 0x02, 0x05, 0xdc, // PPP-Max-Payload 1500
    0x01, 0x03, 0x00, 0x04, 0x16, 0x37, 0x2c, 0x16, // Host-Uniq
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, //
];

#[test]
fn tcpdump_padi_gets_rfc4638_pado() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    feed(&mut d, t0, &TCPDUMP_PADI);
    let pado = d.poll_transmit().unwrap();
    let cookie = d.cookie(0, &eth(BROADCAST, CPE, Vlans::NONE));
    let mut expect = vec![
        0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, //
        0x11, 0x07, 0x00, 0x00, 0x00, 0x2e, // PADO, len 8+4+20+8+6 = 46
        0x01, 0x02, 0x00, 0x04, b'b', b'r', b'a', b's', //
        0x01, 0x01, 0x00, 0x00, //
        0x01, 0x04, 0x00, 0x10,
    ];
    expect.extend_from_slice(&cookie);
    expect.extend_from_slice(&[0x01, 0x03, 0x00, 0x04, 0x16, 0x37, 0x2c, 0x16]);
    expect.extend_from_slice(&[0x01, 0x20, 0x00, 0x02, 0x05, 0xdc]);
    assert_eq!(pado, expect);
}

#[test]
fn config_debug_hides_key_and_stats_are_named() {
    let c = DiscoveryConfig {
        cookie_key: [0x5a; 16],
        ..cfg()
    };
    let s = format!("{c:?}");
    assert!(s.contains("<hidden>") && !s.contains("90"), "{s}");
    let mut d = Discovery::new(c);
    assert!(padi(
        &mut d,
        Instant::now(),
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b"")]
    )
    .is_some());
    let counters = d.stats().counters();
    assert!(counters.contains(&("padi_rx", 1)) && counters.contains(&("pado_tx", 1)));
    assert_eq!(counters.iter().map(|c| c.1).sum::<u64>(), 2);
}

#[test]
fn padr_round_trip_byte_exact_pads() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    let pads = connect(&mut d, t0, CPE, Vlans::NONE, Some(HU)).unwrap();
    assert_eq!(pads.hdr.code, Code::Pads);
    let id = pads.hdr.session_id;
    assert_eq!(id, 1, "key 0 starts the rotation at 1");
    let key = SessionKey {
        vlans: Vlans::NONE,
        peer_mac: CPE,
        session_id: id,
    };
    let mut raw = Vec::new();
    pads.eth.emit(&mut raw);
    assert_eq!(
        raw,
        [0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63]
    );
    assert_eq!(
        pads.tags,
        vec![
            (TagType::ServiceName, vec![]),
            (TagType::HostUniq, HU.to_vec())
        ]
    );
    assert_eq!(pads.hdr.length, 12);
    assert_eq!(
        d.poll_event(),
        Some(DiscoveryEvent::SessionStarted {
            key,
            service_name: String::new(),
            max_payload: None
        })
    );
    assert_eq!(d.poll_event(), None);
    assert_eq!(d.live_sessions(), 1);
    assert!(d.is_live(&key));
    assert_eq!(d.stats()[DiscoveryStat::PadsTx], 1);

    // A second session from another CPE gets the next id.
    let pads2 = connect(&mut d, t0, CPE2, Vlans::NONE, None).unwrap();
    assert_eq!(pads2.hdr.session_id, 2);
    assert!(pads2.tag(TagType::HostUniq).is_none());
}

#[test]
fn retransmitted_padr_gets_same_pads() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
    )
    .unwrap();
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    let padr = frame(
        &eth(AC, CPE, Vlans::NONE),
        Code::Padr,
        0,
        &[
            (TagType::ServiceName, b""),
            (TagType::HostUniq, HU),
            (TagType::AcCookie, &cookie),
        ],
    );
    feed(&mut d, t0, &padr);
    let first = d.poll_transmit().unwrap();
    feed(&mut d, t0 + Duration::from_secs(3), &padr);
    let second = d.poll_transmit().unwrap();
    assert_eq!(first, second);
    assert!(matches!(
        d.poll_event(),
        Some(DiscoveryEvent::SessionStarted { .. })
    ));
    assert_eq!(d.poll_event(), None, "one event only");
    assert_eq!(d.live_sessions(), 1);
    assert_eq!(d.stats()[DiscoveryStat::PadsRetransmit], 1);

    // Another Host-Uniq from the same MAC is a second session.
    let padr_b = frame(
        &eth(AC, CPE, Vlans::NONE),
        Code::Padr,
        0,
        &[
            (TagType::ServiceName, b""),
            (TagType::HostUniq, b"other"),
            (TagType::AcCookie, &cookie),
        ],
    );
    feed(&mut d, t0 + Duration::from_secs(4), &padr_b);
    assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 2);
    assert_eq!(d.live_sessions(), 2);

    // After the window, the same PADR starts a new session.
    feed(&mut d, t0 + Duration::from_secs(11), &padr);
    assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 3);
    assert_eq!(d.live_sessions(), 3);

    // Within the window, but the peer already spoke PPP on its session:
    // a restarted client (same MAC and Host-Uniq) gets a new session
    // instead of the live one.
    let key3 = SessionKey {
        vlans: Vlans::NONE,
        peer_mac: CPE,
        session_id: 3,
    };
    d.session_active(&key3);
    feed(&mut d, t0 + Duration::from_secs(12), &padr);
    assert_eq!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 4);
    assert_eq!(d.live_sessions(), 4);
    assert_eq!(d.stats()[DiscoveryStat::PadsRetransmit], 1);
}

#[test]
fn padt_matching_and_not() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    let relay: &[u8] = &[1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12];
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[
            (TagType::ServiceName, b""),
            (TagType::RelaySessionId, relay),
        ],
    )
    .unwrap();
    assert_eq!(pado.tag(TagType::RelaySessionId), Some(relay));
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::AcCookie, &cookie),
                (TagType::RelaySessionId, relay),
            ],
        ),
    );
    let pads = decode(&d.poll_transmit().unwrap());
    assert_eq!(pads.tag(TagType::RelaySessionId), Some(relay));
    let id = pads.hdr.session_id;
    let key = SessionKey {
        vlans: Vlans::NONE,
        peer_mac: CPE,
        session_id: id,
    };
    let _ = d.poll_event();

    // Wrong id, wrong MAC, wrong VLAN, not to us: ignored.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id + 1, &[]),
    );
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padt, id, &[]),
    );
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::single(VlanTag::dot1q(7))),
            Code::Padt,
            id,
            &[],
        ),
    );
    feed(
        &mut d,
        t0,
        &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padt, id, &[]),
    );
    assert_eq!(d.poll_event(), None);
    assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 3);
    assert_eq!(d.stats()[DiscoveryStat::DropBadDstMac], 1);

    // Matching: one event even if repeated.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
    );
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
    );
    assert_eq!(d.poll_event(), Some(DiscoveryEvent::PeerTerminated { key }));
    assert_eq!(d.poll_event(), None);
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.live_sessions(), 1, "release is the manager's call");

    // Our PADT: byte exact, echoes the Relay-Session-Id.
    let padt = d.padt_with_error(&key, "bye");
    let mut expect = vec![
        0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, // eth
        0x11, 0xa7, 0x00, 0x01, 0x00, 0x17, // PADT sid 1, len 16 + 7
        0x01, 0x10, 0x00, 0x0c, // Relay-Session-Id
    ];
    expect.extend_from_slice(relay);
    expect.extend_from_slice(&[0x02, 0x03, 0x00, 0x03, b'b', b'y', b'e']);
    assert_eq!(padt, expect);

    d.release(&key);
    d.release(&key);
    assert_eq!(d.live_sessions(), 0);
    assert_eq!(
        d.padt(&key),
        [
            0x02, 0, 0, 0, 0, 0x01, 0x02, 0, 0, 0, 0, 0xfe, 0x88, 0x63, 0x11, 0xa7, 0x00, 0x01,
            0x00, 0x00
        ]
    );
    // PADT after release: the tail of a hang-up, counted as such, not
    // as a drop and not as an event.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padt, id, &[]),
    );
    assert_eq!(d.poll_event(), None);
    assert_eq!(d.stats()[DiscoveryStat::PadtAfterEnd], 1);
    assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 3);
    // The same id from another MAC never was a session: a drop.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padt, id, &[]),
    );
    assert_eq!(d.stats()[DiscoveryStat::DropUnknownSession], 4);
}

#[test]
fn vlan_tags_are_mirrored() {
    let t0 = Instant::now();
    for vlans in [
        Vlans::single(VlanTag::dot1q(100)),
        Vlans::double(VlanTag::dot1ad(10), VlanTag::dot1q(20)),
        Vlans::double(VlanTag::dot1q(10), VlanTag::dot1q(20)),
    ] {
        let mut d = Discovery::new(cfg());
        let f = frame(
            &eth(BROADCAST, CPE, vlans),
            Code::Padi,
            0,
            &[(TagType::ServiceName, b"")],
        );
        feed(&mut d, t0, &f);
        let raw = d.poll_transmit().unwrap();
        let hl = eth(CPE, AC, vlans).header_len();
        assert_eq!(&raw[12..hl - 2], &f[12..hl - 2], "tags copied verbatim");
        let pado = decode(&raw);
        assert_eq!(pado.eth.vlans, vlans);
        assert_eq!(pado.eth.dst, CPE);
        let pads = connect(&mut d, t0, CPE, vlans, None).unwrap();
        assert_eq!(pads.eth.vlans, vlans);
        let Some(DiscoveryEvent::SessionStarted { key, .. }) = d.poll_event() else {
            panic!("no session");
        };
        assert_eq!(key.vlans, vlans);
        assert_eq!(EthHeader::parse(&d.padt(&key)).unwrap().0.vlans, vlans);
    }
}

#[test]
fn ppp_max_payload() {
    let t0 = Instant::now();
    let mut d = Discovery::new(cfg());
    for (asked, agreed) in [
        (1500u16, Some(1500u16)),
        (1492, Some(1492)),
        (9000, Some(MAX_PAYLOAD_CAP)),
        (1400, None),
    ] {
        let tags: &[(TagType, &[u8])] = &[
            (TagType::ServiceName, b""),
            (TagType::PppMaxPayload, &asked.to_be_bytes()),
        ];
        let pado = padi(&mut d, t0, CPE, Vlans::NONE, tags).unwrap();
        assert_eq!(
            pado.tag(TagType::PppMaxPayload),
            agreed.map(|v| v.to_be_bytes().to_vec()).as_deref()
        );
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        let mut padr_tags = tags.to_vec();
        padr_tags.push((TagType::AcCookie, &cookie));
        feed(
            &mut d,
            t0,
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, &padr_tags),
        );
        let pads = decode(&d.poll_transmit().unwrap());
        assert_eq!(
            pads.tag(TagType::PppMaxPayload),
            agreed.map(|v| v.to_be_bytes().to_vec()).as_deref()
        );
        let Some(DiscoveryEvent::SessionStarted {
            key, max_payload, ..
        }) = d.poll_event()
        else {
            panic!()
        };
        assert_eq!(max_payload, agreed);
        d.release(&key);
    }
    // Disabled: never echoed.
    let mut d = Discovery::new(DiscoveryConfig {
        max_payload: 0,
        ..cfg()
    });
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[
            (TagType::ServiceName, b""),
            (TagType::PppMaxPayload, &[0x05, 0xdc]),
        ],
    )
    .unwrap();
    assert!(pado.tag(TagType::PppMaxPayload).is_none());
}

#[test]
fn oversized_echo_is_not_sent() {
    let t0 = Instant::now();
    let mut d = Discovery::new(cfg());
    let big = vec![0xab; 1480];
    let f = pppoe::discovery_frame(
        &eth(BROADCAST, CPE, Vlans::NONE),
        Code::Padi,
        0,
        &[(TagType::ServiceName, b""), (TagType::HostUniq, &big)],
    );
    feed(&mut d, t0, &f);
    assert!(d.poll_transmit().is_none());
    assert_eq!(d.stats()[DiscoveryStat::DropTooBig], 1);
}

#[test]
fn id_allocation_skips_live_and_reserved() {
    let mut d = Discovery::new(DiscoveryConfig {
        cookie_key: [0xff, 0xfd, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0],
        ..cfg()
    });
    // 0xfffd % 0xfffe + 1 = 0xfffe: the last usable id, then wrap to 1.
    assert_eq!(d.alloc_id(), Some(0xfffe));
    assert_eq!(d.alloc_id(), Some(1));
    d.ids.insert(2);
    assert_eq!(d.alloc_id(), Some(3));
    // Exhaustion.
    let mut d = Discovery::new(cfg());
    for _ in 0..MAX_ID {
        assert!(d.alloc_id().is_some());
    }
    assert_eq!(d.alloc_id(), None);
    assert!(!d.ids.contains(&0) && !d.ids.contains(&0xffff));
}

#[test]
fn prefixes_and_garbage_never_panic() {
    let t0 = Instant::now();
    let mut d = Discovery::new(cfg());
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b""), (TagType::HostUniq, HU)],
    )
    .unwrap();
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    let v = Vlans::double(VlanTag::dot1ad(1), VlanTag::dot1q(2));
    let padr = pppoe::discovery_frame(
        &eth(AC, CPE, v),
        Code::Padr,
        0,
        &[
            (TagType::ServiceName, b""),
            (TagType::HostUniq, HU),
            (TagType::AcCookie, &cookie),
            (TagType::PppMaxPayload, &[5, 0xdc]),
        ],
    );
    for n in 0..=padr.len() {
        if let Ok((e, p)) = EthHeader::parse(&padr[..n]) {
            d.handle_frame(t0, &e, p);
        }
    }
    while d.poll_transmit().is_some() {}
    // Random mutations of a valid PADR and pure random frames.
    let mut s = crate::ppp::rng::Rng::seeded(0x9e37_79b9_7f4a_7c15);
    for i in 0..20_000 {
        let mut f = padr.clone();
        if i & 1 == 0 {
            for _ in 0..(s.next_u64() % 4 + 1) {
                let at = (s.next_u64() as usize) % f.len();
                f[at] = s.next_u64() as u8;
            }
            f.truncate((s.next_u64() as usize) % (f.len() + 1));
        } else {
            let len = (s.next_u64() % 100) as usize;
            f = (0..len).map(|_| s.next_u64() as u8).collect();
        }
        if let Ok((e, p)) = EthHeader::parse(&f) {
            d.handle_frame(t0, &e, p);
        }
        // And the payload without any Ethernet check at all.
        d.handle_frame(t0, &eth(AC, CPE2, Vlans::NONE), &f);
        while d.poll_transmit().is_some() {}
        while let Some(ev) = d.poll_event() {
            if let DiscoveryEvent::SessionStarted { key, .. } = ev {
                d.release(&key);
            }
        }
    }
}
