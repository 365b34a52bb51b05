//! What discovery refuses and how each refusal is counted: cookies,
//! limits, services, malformed and misaddressed frames.

use super::*;

#[test]
fn cookie_from_another_mac_or_forged_is_rejected() {
    let mut d = Discovery::new(cfg());
    let t0 = Instant::now();
    let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    // CPE2 replays CPE's cookie.
    let tags: &[(TagType, &[u8])] = &[(TagType::ServiceName, b""), (TagType::AcCookie, &cookie)];
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE2, Vlans::NONE), Code::Padr, 0, tags),
    );
    // Same MAC on another VLAN.
    let v = Vlans::single(VlanTag::dot1q(5));
    feed(&mut d, t0, &frame(&eth(AC, CPE, v), Code::Padr, 0, tags));
    // No cookie, short cookie, forged cookie.
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[(TagType::ServiceName, b"")],
        ),
    );
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::AcCookie, &cookie[..15]),
            ],
        ),
    );
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[(TagType::ServiceName, b""), (TagType::AcCookie, &[0; 16])],
        ),
    );
    assert!(d.poll_transmit().is_none());
    assert!(d.poll_event().is_none());
    assert_eq!(d.stats()[DiscoveryStat::DropBadCookie], 5);
    // A daemon with another key does not accept it either.
    let mut other = Discovery::new(DiscoveryConfig {
        cookie_key: [1; 16],
        ..cfg()
    });
    feed(
        &mut other,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, tags),
    );
    assert_eq!(other.stats()[DiscoveryStat::DropBadCookie], 1);
    // The owner's PADR is accepted.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, tags),
    );
    assert!(d.poll_transmit().is_some());
}

#[test]
fn cookie_expires_after_previous_bucket() {
    let t0 = Instant::now();
    let tags_for = |cookie: &[u8]| {
        vec![
            (TagType::ServiceName, Vec::new()),
            (TagType::AcCookie, cookie.to_vec()),
        ]
    };
    for (delay, accepted) in [
        (0, true),
        (59, true),
        (61, true),
        (119, true),
        (120, false),
        (600, false),
    ] {
        let mut d = Discovery::new(cfg());
        let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
        let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
        let tags = tags_for(&cookie);
        let tags: Vec<(TagType, &[u8])> = tags.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        feed(
            &mut d,
            t0 + Duration::from_secs(delay),
            &frame(&eth(AC, CPE, Vlans::NONE), Code::Padr, 0, &tags),
        );
        assert_eq!(d.poll_transmit().is_some(), accepted, "delay {delay}");
        assert_eq!(
            d.stats()[DiscoveryStat::DropBadCookie],
            u64::from(!accepted)
        );
    }
}

#[test]
fn limits_answer_ac_system_error() {
    let t0 = Instant::now();
    // Per MAC.
    let mut d = Discovery::new(DiscoveryConfig {
        max_sessions_per_mac: 1,
        ..cfg()
    });
    let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    assert!(connect(&mut d, t0, CPE, Vlans::NONE, None).is_some());
    let _ = d.poll_event();
    // PADI now ignored.
    assert!(padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).is_none());
    // PADR (with a still valid cookie, beyond the retransmit window) refused.
    feed(
        &mut d,
        t0 + Duration::from_secs(30),
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::HostUniq, HU),
                (TagType::AcCookie, &cookie),
            ],
        ),
    );
    let pads = decode(&d.poll_transmit().unwrap());
    assert_eq!(pads.hdr.code, Code::Pads);
    assert_eq!(pads.hdr.session_id, 0);
    assert_eq!(
        pads.tag(TagType::AcSystemError),
        Some(&b"session limit reached"[..])
    );
    assert_eq!(pads.tag(TagType::HostUniq), Some(HU));
    assert_eq!(d.poll_event(), None);
    assert_eq!(d.stats()[DiscoveryStat::DropLimit], 2);
    assert_eq!(d.stats()[DiscoveryStat::PadsErrorTx], 1);
    // Another MAC is still served.
    assert!(connect(&mut d, t0, CPE2, Vlans::NONE, None).is_some());

    // Total.
    let mut d = Discovery::new(DiscoveryConfig {
        max_sessions: 1,
        ..cfg()
    });
    let pado = padi(
        &mut d,
        t0,
        CPE2,
        Vlans::NONE,
        &[(TagType::ServiceName, b"")],
    )
    .unwrap();
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    assert_eq!(
        connect(&mut d, t0, CPE, Vlans::NONE, None)
            .unwrap()
            .hdr
            .session_id,
        1
    );
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE2, Vlans::NONE),
            Code::Padr,
            0,
            &[(TagType::ServiceName, b""), (TagType::AcCookie, &cookie)],
        ),
    );
    let pads = decode(&d.poll_transmit().unwrap());
    assert_eq!(pads.hdr.session_id, 0);
    assert!(pads.tag(TagType::AcSystemError).is_some());
    // Releasing frees room; the id is not reused at once.
    d.release(&SessionKey {
        vlans: Vlans::NONE,
        peer_mac: CPE,
        session_id: 1,
    });
    assert_eq!(d.live_sessions(), 0);
    assert_eq!(
        connect(&mut d, t0, CPE2, Vlans::NONE, None)
            .unwrap()
            .hdr
            .session_id,
        2
    );
}

#[test]
fn service_names() {
    let t0 = Instant::now();
    let mut d = Discovery::new(DiscoveryConfig {
        service_names: vec!["internet".into(), "iptv".into()],
        ..cfg()
    });
    // Blank request: echo it, then offer the list.
    let pado = padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::ServiceName, b"")]).unwrap();
    let names: Vec<&[u8]> = pado
        .tags
        .iter()
        .filter(|(t, _)| *t == TagType::ServiceName)
        .map(|(_, v)| v.as_slice())
        .collect();
    assert_eq!(names, vec![&b""[..], b"internet", b"iptv"]);
    // Named request we serve: echoed alone.
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b"iptv")],
    )
    .unwrap();
    let names: Vec<_> = pado
        .tags
        .iter()
        .filter(|(t, _)| *t == TagType::ServiceName)
        .collect();
    assert_eq!(names, vec![&(TagType::ServiceName, b"iptv".to_vec())]);
    // Unserved: silence.
    assert!(padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b"voip")]
    )
    .is_none());
    assert_eq!(d.stats()[DiscoveryStat::DropUnknownService], 1);
    // No Service-Name tag: malformed PADI, silence.
    assert!(padi(&mut d, t0, CPE, Vlans::NONE, &[(TagType::HostUniq, HU)]).is_none());
    assert_eq!(d.stats()[DiscoveryStat::DropNoServiceName], 1);

    // PADR for an unserved service (valid cookie): Service-Name-Error, sid 0.
    let cookie = pado.tag(TagType::AcCookie).unwrap().to_vec();
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b"voip"),
                (TagType::AcCookie, &cookie),
            ],
        ),
    );
    let pads = decode(&d.poll_transmit().unwrap());
    assert_eq!(pads.hdr.session_id, 0);
    assert_eq!(pads.tag(TagType::ServiceName), Some(&b"voip"[..]));
    assert!(pads.tag(TagType::ServiceNameError).is_some());
    assert_eq!(d.poll_event(), None);
    // PADR for a served one: event carries the name.
    feed(
        &mut d,
        t0,
        &frame(
            &eth(AC, CPE, Vlans::NONE),
            Code::Padr,
            0,
            &[
                (TagType::ServiceName, b"iptv"),
                (TagType::AcCookie, &cookie),
            ],
        ),
    );
    assert_ne!(decode(&d.poll_transmit().unwrap()).hdr.session_id, 0);
    assert!(matches!(
        d.poll_event(),
        Some(DiscoveryEvent::SessionStarted { service_name, .. }) if service_name == "iptv"
    ));

    // Empty list: any name is fine.
    let mut d = Discovery::new(cfg());
    assert!(padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[(TagType::ServiceName, b"whatever")]
    )
    .is_some());
}

#[test]
fn drops_are_counted() {
    let t0 = Instant::now();
    let mut d = Discovery::new(cfg());
    let sn: &[(TagType, &[u8])] = &[(TagType::ServiceName, b"")];
    // Multicast / zero source.
    feed(
        &mut d,
        t0,
        &frame(&eth(BROADCAST, BROADCAST, Vlans::NONE), Code::Padi, 0, sn),
    );
    feed(
        &mut d,
        t0,
        &frame(
            &eth(BROADCAST, [1, 0, 0x5e, 0, 0, 1], Vlans::NONE),
            Code::Padi,
            0,
            sn,
        ),
    );
    feed(
        &mut d,
        t0,
        &frame(&eth(BROADCAST, [0; 6], Vlans::NONE), Code::Padi, 0, sn),
    );
    assert_eq!(d.stats()[DiscoveryStat::DropBadSrcMac], 3);
    // PADI to someone else; PADR broadcast.
    feed(
        &mut d,
        t0,
        &frame(&eth(CPE2, CPE, Vlans::NONE), Code::Padi, 0, sn),
    );
    feed(
        &mut d,
        t0,
        &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padr, 0, sn),
    );
    assert_eq!(d.stats()[DiscoveryStat::DropBadDstMac], 2);
    // PADI unicast to us is fine.
    feed(
        &mut d,
        t0,
        &frame(&eth(AC, CPE, Vlans::NONE), Code::Padi, 0, sn),
    );
    assert!(d.poll_transmit().is_some());
    // Non-zero session id.
    feed(
        &mut d,
        t0,
        &frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padi, 5, sn),
    );
    assert_eq!(d.stats()[DiscoveryStat::DropBadSessionId], 1);
    // PADO / PADS / unknown code sent to us.
    for code in [Code::Pado, Code::Pads, Code::Session, Code::Unknown(0x42)] {
        feed(&mut d, t0, &frame(&eth(AC, CPE, Vlans::NONE), code, 0, sn));
    }
    assert_eq!(d.stats()[DiscoveryStat::DropUnexpectedCode], 4);
    // Bad version.
    let mut f = frame(&eth(BROADCAST, CPE, Vlans::NONE), Code::Padi, 0, sn);
    f[14] = 0x21;
    feed(&mut d, t0, &f);
    assert_eq!(d.stats()[DiscoveryStat::DropBadVersion], 1);
    // Wrong ethertype.
    let e = EthHeader {
        ethertype: 0x0800,
        ..eth(BROADCAST, CPE, Vlans::NONE)
    };
    d.handle_frame(t0, &e, &f[14..]);
    assert_eq!(d.stats()[DiscoveryStat::DropEthertype], 1);
    // Tag past the end of LENGTH.
    let mut f = frame(
        &eth(BROADCAST, CPE, Vlans::NONE),
        Code::Padi,
        0,
        &[(TagType::ServiceName, b"abc")],
    );
    f[19] = 5; // LENGTH 7 → value cut
    feed(&mut d, t0, &f);
    assert_eq!(d.stats()[DiscoveryStat::DropMalformed], 1);
    // Unknown tags are ignored, not a reason to reject.
    let pado = padi(
        &mut d,
        t0,
        CPE,
        Vlans::NONE,
        &[
            (TagType::Unknown(0x7777), b"x"),
            (TagType::ServiceName, b""),
        ],
    );
    assert!(pado.is_some());
    assert!(d.poll_transmit().is_none());
    assert!(d.poll_event().is_none());
}

#[test]
fn drop_reasons_count_under_their_stats_names() {
    use DiscoveryStat as R;
    let all = [
        R::DropEthertype,
        R::DropBadSrcMac,
        R::DropBadDstMac,
        R::DropBadVersion,
        R::DropMalformed,
        R::DropBadSessionId,
        R::DropUnexpectedCode,
        R::DropNoServiceName,
        R::DropUnknownService,
        R::DropBadCookie,
        R::DropLimit,
        R::DropTooBig,
        R::DropUnknownSession,
        R::DropVlan,
        R::DropRateMac,
        R::DropRateTotal,
        R::DropPadoBacklog,
    ];
    let mut stats = DiscoveryStats::default();
    for (i, &reason) in all.iter().enumerate() {
        let name = reason.name();
        stats[reason] += 1 + i as u64;
        assert!(
            stats.counters().contains(&(name, 1 + i as u64)),
            "{reason:?} counts as {name}"
        );
    }
    // Every drop_* counter has its reason, each a different one.
    let drops: Vec<_> = stats
        .counters()
        .into_iter()
        .filter(|(name, _)| name.starts_with("drop_"))
        .collect();
    assert_eq!(drops.len(), all.len());
    assert!(drops.iter().all(|&(_, v)| v > 0));
}
