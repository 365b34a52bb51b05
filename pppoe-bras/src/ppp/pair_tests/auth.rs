//! Authentication: CHAP, PAP, fallbacks between them, wrong passwords,
//! timeouts, late, duplicate and lost verdicts.

use super::*;

#[test]
fn chap_success() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    assert!(matches!(
        &p.server_evs()[0],
        LinkEvent::Authenticate { credential: Credential::ChapMd5 { challenge, .. }, .. } if challenge.len() == 16
    ));
    assert_eq!(
        p.client_evs(),
        [
            PeerEvent::Authenticated,
            up_event(1492, [Some(DNS1), Some(DNS2)])
        ]
    );
    // Converged at t=0 without a single retransmission.
    assert!(p.log.iter().all(|f| f.at == Duration::ZERO));
    // Server's first LCP request: MRU 1492, CHAP-MD5, magic.
    let req = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&req.data()[..9], &[1, 4, 0x05, 0xd4, 3, 5, 0xc2, 0x23, 5]);
    // The CHAP Success carries "Welcome".
    let ok = p.frames(Dir::ToClient, proto::CHAP, Code::from(3));
    assert_eq!(ok.len(), 1);
    assert_eq!(ok[0].data(), b"Welcome");
}

#[test]
fn pap_success() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Pap);
    assert!(matches!(
        &p.server_evs()[0],
        LinkEvent::Authenticate { credential: Credential::Pap { password }, .. } if password == b"secret"
    ));
    let ack = p.frames(Dir::ToClient, proto::PAP, Code::from(2));
    assert_eq!(ack[0].data(), b"\x08Login ok");
}

#[test]
fn chap_to_pap_fallback() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Pap);
    let nak = p.frames(Dir::ToServer, proto::LCP, Code::ConfNak);
    assert_eq!(nak[0].data(), [3, 4, 0xc0, 0x23]);
    let reqs = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq);
    assert_eq!(&reqs[1].data()[4..8], &[3, 4, 0xc0, 0x23]);
}

#[test]
fn mschapv2_first_client_falls_back() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            auth_nak_first: Some(vec![0xc2, 0x23, 0x81]),
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(5));
    // MS-CHAPv2 is not ours: the next protocol in our list, PAP.
    assert_up(&p, AuthProto::Pap);
    assert_eq!(
        p.frames(Dir::ToServer, proto::LCP, Code::ConfNak)[0].data(),
        [3, 5, 0xc2, 0x23, 0x81]
    );
}

#[test]
fn no_common_auth_protocol_fails() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Chap],
            ..server_cfg()
        },
        PeerConfig {
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(30));
    assert_eq!(
        p.server_evs(),
        [LinkEvent::Down {
            reason: DownReason::NegotiationFailed("auth")
        }]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermReq).len(), 1);
}

#[test]
fn wrong_password() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            password: b"wrong".to_vec(),
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(10));
    let s = p.server_evs();
    assert_eq!(
        &s[1..],
        [
            LinkEvent::AuthFailed {
                user: "alice".into(),
                message: "authentication failed".into()
            },
            LinkEvent::Down {
                reason: DownReason::AuthFailed
            }
        ]
    );
    let fail = p.frames(Dir::ToClient, proto::CHAP, Code::from(4));
    assert_eq!(fail[0].data(), b"authentication failed");
    // Failure first, then LCP Terminate-Request; the client acks.
    let fail_idx = p
        .log
        .iter()
        .position(|f| f.protocol == proto::CHAP && f.code() == Some(4));
    let term_idx = p
        .log
        .iter()
        .position(|f| f.protocol == proto::LCP && f.code() == Some(5));
    assert!(fail_idx < term_idx && term_idx.is_some());
    assert_eq!(p.frames(Dir::ToServer, proto::LCP, Code::TermAck).len(), 1);
    assert_eq!(
        p.client_evs(),
        [
            PeerEvent::AuthFailed {
                message: "authentication failed".into()
            },
            PeerEvent::Down {
                reason: DownReason::AuthFailed
            }
        ]
    );
    assert!(p.server.is_down() && p.server.poll_timeout().is_none());
}

#[test]
fn auth_timeout() {
    let mut p = Pair::default();
    // The client never answers the challenge.
    p.pass = Box::new(|dir, protocol, _| !(dir == Dir::ToServer && protocol == proto::CHAP));
    p.drive_for(Duration::from_secs(60));
    // Challenges retransmitted every 3 s.
    assert_eq!(
        p.frames(Dir::ToClient, proto::CHAP, Code::from(1)).len(),
        10
    );
    let term = p.frames(Dir::ToClient, proto::LCP, Code::TermReq);
    assert_eq!(term[0].at, Duration::from_secs(30));
    assert_eq!(
        p.server_events,
        [(
            Duration::from_secs(30),
            LinkEvent::Down {
                reason: DownReason::AuthTimeout
            }
        )]
    );
}

#[test]
fn late_or_unsolicited_auth_result_ignored() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(3));
    link.handle_auth_result(t0, AuthResult::Accept { address: ASSIGNED });
    assert_eq!(link.phase(), Phase::Establish);
    assert!(link.poll_event().is_none());
}

#[test]
fn duplicate_auth_after_verdict_gets_same_verdict() {
    // CHAP: replay the client's Response.
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let resp = p.frames(Dir::ToServer, proto::CHAP, Code::from(2))[0]
        .info
        .clone();
    let out = p.inject(proto::CHAP, &resp);
    assert_eq!(out.len(), 1);
    assert_eq!(out[0].0, proto::CHAP);
    assert_eq!(out[0].1[0], 3, "Success again");
    assert_eq!(out[0].1[1], resp[1], "same identifier");
    assert!(p.server.poll_event().is_none(), "not re-asked");
    // A Response with another identifier is ignored.
    let mut other = resp.clone();
    other[1] = other[1].wrapping_add(1);
    assert!(p.inject(proto::CHAP, &other).is_empty());

    // PAP: replay the Authenticate-Request.
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    p.drive_for(Duration::from_secs(1));
    let req = p.frames(Dir::ToServer, proto::PAP, Code::from(1))[0]
        .info
        .clone();
    let out = p.inject(proto::PAP, &req);
    assert_eq!(
        out,
        [(
            proto::PAP,
            crate::ppp::pap::reply_packet(true, req[1], "Login ok")
        )]
    );
    assert!(p.server.poll_event().is_none());
}

#[test]
fn lost_pap_ack_is_recovered_by_client_retransmission() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        client_cfg(),
    );
    let mut dropped = false;
    p.pass = Box::new(move |dir, protocol, info| {
        if dir == Dir::ToClient && protocol == proto::PAP && info[0] == 2 && !dropped {
            dropped = true;
            return false;
        }
        true
    });
    p.drive_for(Duration::from_secs(10));
    assert_eq!(p.frames(Dir::ToServer, proto::PAP, Code::from(1)).len(), 2);
    assert_eq!(
        p.server_evs()
            .iter()
            .filter(|e| matches!(e, LinkEvent::Authenticate { .. }))
            .count(),
        1
    );
    assert!(p.client.is_up());
    assert_eq!(p.server.phase(), Phase::Network);
}
