//! IPCP: addresses and DNS, rejected options, NCPs that never converge or
//! arrive too early, IPCP closed or Protocol-Rejected.

use super::*;

#[test]
fn ipcp_naks_zero_address_and_returns_both_dns() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    let nak = p.frames(Dir::ToClient, proto::IPCP, Code::ConfNak);
    assert_eq!(nak.len(), 1);
    assert_eq!(
        nak[0].data(),
        [3, 6, 100, 64, 0, 2, 129, 6, 192, 0, 2, 53, 131, 6, 198, 51, 100, 53]
    );
    // Server's own request: IP-Address 172.16.0.254.
    let req = p.frames(Dir::ToClient, proto::IPCP, Code::ConfReq);
    assert_eq!(req[0].data(), [3, 6, 172, 16, 0, 254]);
}

#[test]
fn dns_not_configured_is_rejected() {
    let mut p = Pair::new(
        LinkConfig {
            dns: [Some(DNS1), None],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(5));
    let rej = p.frames(Dir::ToClient, proto::IPCP, Code::ConfRej);
    assert_eq!(rej[0].data(), [131, 6, 0, 0, 0, 0]);
    assert_eq!(
        p.client_evs().last(),
        Some(&up_event(1492, [Some(DNS1), None]))
    );
}

#[test]
fn vj_rejected() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            request_vj: true,
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    let rej = p.frames(Dir::ToClient, proto::IPCP, Code::ConfRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data(), [2, 6, 0, 0x2d, 0x0f, 1]);
}

#[test]
fn ipcp_closed_by_the_peer_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    let out = p.inject(proto::IPCP, &wire::packet(Code::TermReq, 0x77, &[]));
    assert_eq!(out, [(proto::IPCP, wire::packet(Code::TermAck, 0x77, &[]))]);
    assert_eq!(p.server.poll_event(), Some(LinkEvent::NetworkDown));
    assert_eq!(p.server.lcp_state(), State::Opened, "Stopping: not yet");
    // Stopping → Stopped (This-Layer-Finished): no NCP is left, so the
    // link ends with LCP Terminate, as pppd does ("No network protocols
    // running"), instead of holding the lease forever.
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipcp")
    }));
    assert!(
        !p.frames(Dir::ToClient, proto::LCP, Code::TermReq)
            .is_empty(),
        "LCP Terminate-Request sent"
    );
}

#[test]
fn ipcp_that_never_converges_ends_the_link() {
    // The peer answers LCP and CHAP but drops every IPCP packet: our
    // Configure-Requests run into Max-Configure (tlf).
    let mut p = Pair::default();
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP);
    p.drive_for(Duration::from_secs(60));
    assert!(p.server.is_down());
    let evs = p.server_evs();
    assert!(!evs.iter().any(|e| matches!(e, LinkEvent::NetworkUp { .. })));
    assert!(evs.contains(&LinkEvent::Down {
        reason: DownReason::NegotiationFailed("ipcp")
    }));
}

#[test]
fn peer_that_insists_on_its_own_address_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    // Take IPCP down and over: the peer asks for 100.64.0.99 again and
    // again, whatever we Nak.
    let theirs = [100, 64, 0, 99];
    let mut naks = 0;
    for id in 0..20u8 {
        let out = p.inject(
            proto::IPCP,
            &wire::packet(
                Code::ConfReq,
                id,
                &[3, 6, theirs[0], theirs[1], theirs[2], theirs[3]],
            ),
        );
        naks += out
            .iter()
            .filter(|(pr, i)| *pr == proto::IPCP && i[0] == u8::from(Code::ConfNak))
            .count();
        if p.server.is_down()
            || p.server_evs()
                .iter()
                .any(|e| matches!(e, LinkEvent::Down { .. }))
        {
            break;
        }
    }
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert_eq!(naks, 5, "Max-Failure Naks, then it ends");
    let evs = p.server_evs();
    assert!(
        evs.contains(&LinkEvent::Down {
            reason: DownReason::PeerInsists {
                asked: Ipv4Addr::from(theirs),
                assigned: ASSIGNED
            }
        }),
        "{evs:?}"
    );
}

#[test]
fn ccp_and_ipv6cp_protocol_rejected_link_stays_up() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            extra_protocols: vec![proto::CCP, proto::IPV6CP],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    assert_eq!(p.client.rejected_protocols(), [proto::CCP, proto::IPV6CP]);
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 2);
    assert_eq!(rej[0].data(), [0x80, 0xfd, 1, rej[0].data()[3], 0, 4]);
    assert_eq!(&rej[1].data()[..2], [0x80, 0x57]);
    assert_eq!(rej[1].data().len(), 2 + 4 + 10);
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down() && p.client.is_up());
}

#[test]
fn ncp_before_network_phase_discarded_and_ipv4_ignored() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(3));
    while link.poll_transmit().is_some() {}
    link.handle_frame(
        t0,
        proto::IPCP,
        &wire::packet(Code::ConfReq, 1, &[3, 6, 0, 0, 0, 0]),
    );
    link.handle_frame(t0, proto::CCP, &wire::packet(Code::ConfReq, 1, &[]));
    link.handle_frame(t0, proto::IPV4, &[0x45, 0, 0, 20]);
    assert!(link.poll_transmit().is_none());
    assert!(link.poll_event().is_none());
}

#[test]
fn protocol_reject_of_ipcp_ends_the_link() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let out = p.inject(
        proto::LCP,
        &wire::packet(Code::ProtRej, 7, &[0x80, 0x21, 1, 1, 0, 4]),
    );
    // RXJ- in Opened: tld, irc, str (IPCP Terminate-Request).
    assert_eq!(out.len(), 1);
    assert_eq!((out[0].0, out[0].1[0]), (proto::IPCP, 5));
    assert_eq!(p.server.poll_event(), Some(LinkEvent::NetworkDown));
    assert_eq!(p.server.lcp_state(), State::Opened);
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP);
    p.drive_for(Duration::from_secs(30));
    // IPCP stopped (tlf) and it was the only NCP: the link ends.
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipcp")
    }));
}
