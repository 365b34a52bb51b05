//! LCP: echoes, MRU, Magic-Numbers and loops, Code-Reject, terminate and
//! close either way, negotiation timeout, renegotiation, PADT.

use super::*;

#[test]
fn echo_timeout_at_the_right_virtual_time() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // Echoes are answered while the client is alive.
    p.drive_for(Duration::from_secs(30));
    assert_eq!(p.frames(Dir::ToServer, proto::LCP, Code::EchoRep).len(), 3);
    assert!(!p.server.is_down());
    // The client vanishes at t=31 s.
    p.pass = Box::new(|_, _, _| false);
    p.drive();
    let reqs: Vec<Duration> = p
        .frames(Dir::ToClient, proto::LCP, Code::EchoReq)
        .iter()
        .map(|f| f.at)
        .collect();
    let s = |n| Duration::from_secs(n);
    assert_eq!(reqs, [s(10), s(20), s(30), s(40), s(50), s(60)]);
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. } | LinkEvent::NetworkDown))
        .cloned()
        .collect();
    // Echo at 30 was answered; 40, 50, 60 were not; down at 70 without a
    // Terminate-Request.
    assert_eq!(
        downs,
        [
            (s(70), LinkEvent::NetworkDown),
            (
                s(70),
                LinkEvent::Down {
                    reason: DownReason::EchoTimeout
                }
            )
        ]
    );
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::TermReq)
        .is_empty());
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn echo_request_carries_magic() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    let req = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq)[0].clone();
    let server_req = p.frames(Dir::ToClient, proto::LCP, Code::ConfReq)[0].clone();
    assert_eq!(req.data(), &server_req.data()[11..15], "our magic");
    let rep = p.frames(Dir::ToServer, proto::LCP, Code::EchoRep)[0].clone();
    assert_eq!(rep.info[1], req.info[1], "same identifier");
}

#[test]
fn yamaha_mru_1454_learned_and_echo_reply_fits() {
    let mut p = Pair::new(
        LinkConfig {
            auth: vec![AuthProto::Pap],
            ..server_cfg()
        },
        PeerConfig {
            mru: 1454,
            auth_accept: vec![AuthProto::Pap],
            ..client_cfg()
        },
    );
    p.drive_for(Duration::from_secs(2));
    assert_up(&p, AuthProto::Pap);
    assert_eq!(p.server.peer_mru(), 1454);
    assert_eq!(p.client.peer_mru(), 1492);
    let mut data = vec![0, 0, 0, 0];
    data.extend(std::iter::repeat_n(0xab, 1600));
    let out = p.inject(proto::LCP, &wire::packet(Code::EchoReq, 5, &data));
    assert_eq!(out.len(), 1);
    let (prot, rep) = &out[0];
    assert_eq!(*prot, proto::LCP);
    assert_eq!(rep.len(), 1454, "Echo-Reply truncated to the peer MRU");
    let (h, d) = wire::parse(rep).unwrap();
    assert_eq!(
        (h.code, h.identifier, usize::from(h.length)),
        (Code::EchoRep, 5, 1454)
    );
    assert!(d[4..].iter().all(|b| *b == 0xab));
    // Protocol-Reject likewise.
    let out = p.inject(0x1234, &vec![7; 3000]);
    assert_eq!(out[0].1.len(), 1454);
    assert_eq!(&out[0].1[4..6], &[0x12, 0x34]);
}

#[test]
fn peer_mru_too_large_is_naked() {
    let mut p = Pair::new(
        server_cfg(),
        PeerConfig {
            mru: 1500,
            ..client_cfg()
        },
    );
    // The client keeps 1500 max; clamp happens on the Nak.
    p.drive_for(Duration::from_secs(2));
    let nak = p.frames(Dir::ToClient, proto::LCP, Code::ConfNak);
    assert_eq!(nak[0].data(), [1, 4, 0x05, 0xd4]);
    assert_up(&p, AuthProto::Chap);
    assert_eq!(p.server.peer_mru(), 1492);
}

#[test]
fn magic_loopback() {
    let t0 = Instant::now();
    let mut link = Link::with_rng(server_cfg(), t0, Rng::seeded(9));
    let mut events = Vec::new();
    for _ in 0..100 {
        let Some((protocol, info)) = link.poll_transmit() else {
            break;
        };
        link.handle_frame(t0, protocol, &info);
        events.extend(std::iter::from_fn(|| link.poll_event()));
    }
    assert_eq!(
        events,
        [LinkEvent::Down {
            reason: DownReason::LoopedBack
        }]
    );
    assert!(link.is_down());
}

/// RFC 1661 §6.4 on a looped line: our own Echo-Requests come back as
/// Echo-Requests carrying our Magic-Number. They are counted, never
/// answered, do not count as a live peer, and when keepalive gives up the
/// reason is LoopedBack (no Terminate-Request), not EchoTimeout.
#[test]
fn looped_echo_requests_end_the_link_as_looped_back() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // The client is gone; the line now returns what the server sends.
    p.pass = Box::new(|_, _, _| false);
    let s = Duration::from_secs;
    for n in 1..=3u64 {
        p.drive_for(s(10));
        let req = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq);
        assert_eq!(req.len() as u64, n);
        let (at, info) = (req[req.len() - 1].at, req[req.len() - 1].info.clone());
        assert_eq!(at, s(10 * n));
        assert_eq!(
            p.inject(proto::LCP, &info),
            vec![],
            "a looped request is not answered"
        );
        assert_eq!(p.server.looped_echoes(), n);
        assert!(!p.server.is_down());
    }
    p.settle();
    p.drive();
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. }))
        .cloned()
        .collect();
    assert_eq!(
        downs,
        [(
            s(40),
            LinkEvent::Down {
                reason: DownReason::LoopedBack
            }
        )]
    );
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::TermReq)
        .is_empty());
}

/// The same Echo-Request with another Magic-Number is a live peer: it is
/// answered with ours, and the loop evidence is forgotten.
#[test]
fn echo_request_with_another_magic_is_answered() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    let ours = p.frames(Dir::ToClient, proto::LCP, Code::EchoReq)[0]
        .data()
        .to_vec();
    let mut other = ours.clone();
    other[3] ^= 1;
    let out = p.inject(
        proto::LCP,
        &wire::packet(Code::EchoReq, 0x77, &[&other[..], b"hi"].concat()),
    );
    assert_eq!(
        out,
        vec![(
            proto::LCP,
            wire::packet(Code::EchoRep, 0x77, &[&ours[..], b"hi"].concat())
        )]
    );
    assert_eq!(p.server.looped_echoes(), 0);
}

#[test]
fn unknown_lcp_code_gets_code_reject() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    let bogus = wire::packet(Code::Unknown(0x40), 3, &[1, 2, 3]);
    let out = p.inject(proto::LCP, &bogus);
    assert_eq!(out.len(), 1);
    let (h, d) = wire::parse(&out[0].1).unwrap();
    assert_eq!(h.code, Code::CodeRej);
    assert_eq!(d, bogus.as_slice());
    // Identification and Time-Remaining are ignored silently.
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::Identification, 4, &[0, 0, 0, 0, b'x'])
        )
        .is_empty());
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::TimeRemaining, 5, &[0, 0, 0, 0, 0, 0, 0, 9])
        )
        .is_empty());
    assert!(p
        .inject(
            proto::LCP,
            &wire::packet(Code::DiscardReq, 6, &[0, 0, 0, 0])
        )
        .is_empty());
    assert_eq!(p.server.lcp_state(), State::Opened);
}

#[test]
fn peer_terminate() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    // Directly: the Ack is queued before the Down event is visible.
    p.server.handle_frame(
        p.now,
        proto::LCP,
        &wire::packet(Code::TermReq, 0x21, b"bye"),
    );
    assert_eq!(
        p.server.poll_transmit(),
        Some((proto::LCP, wire::packet(Code::TermAck, 0x21, &[])))
    );
    assert_eq!(p.server.poll_transmit(), None);
    let evs: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        evs,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::PeerTerminate
            }
        ]
    );
    assert!(p.server.is_down());
}

#[test]
fn peer_terminate_via_client_close() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.client.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(10));
    let tail: Vec<_> = p.server_evs().into_iter().skip(3).collect();
    assert_eq!(
        tail,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::PeerTerminate
            }
        ]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermAck).len(), 1);
    assert_eq!(
        p.client_evs().last(),
        Some(&PeerEvent::Down {
            reason: DownReason::AdminClose
        })
    );
    // Dead links ignore input and have no timers.
    assert!(p
        .inject(proto::LCP, &wire::packet(Code::EchoReq, 1, &[0; 4]))
        .is_empty());
    assert_eq!(p.server.poll_timeout(), None);
}

#[test]
fn admin_close() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.server.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(10));
    let tail: Vec<_> = p.server_evs().into_iter().skip(3).collect();
    assert_eq!(
        tail,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::AdminClose
            }
        ]
    );
    assert_eq!(
        p.client_evs().last(),
        Some(&PeerEvent::Down {
            reason: DownReason::PeerTerminate
        })
    );
}

#[test]
fn admin_close_dead_peer_after_max_terminate() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    p.pass = Box::new(|_, _, _| false);
    p.server.close(p.now, DownReason::AdminClose);
    p.drive_for(Duration::from_secs(20));
    let downs: Vec<_> = p
        .server_events
        .iter()
        .filter(|(_, e)| matches!(e, LinkEvent::Down { .. }))
        .cloned()
        .collect();
    assert_eq!(
        downs,
        [(
            Duration::from_secs(7),
            LinkEvent::Down {
                reason: DownReason::AdminClose
            }
        )]
    );
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::TermReq).len(), 2);
}

#[test]
fn lcp_negotiation_timeout() {
    let mut p = Pair::default();
    p.pass = Box::new(|_, _, _| false);
    p.drive();
    assert_eq!(p.frames(Dir::ToClient, proto::LCP, Code::ConfReq).len(), 10);
    assert_eq!(
        p.server_events,
        [(
            Duration::from_secs(30),
            LinkEvent::Down {
                reason: DownReason::NegotiationFailed("lcp")
            }
        )]
    );
}

#[test]
fn lcp_renegotiation_reauthenticates() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(1));
    assert_up(&p, AuthProto::Chap);
    // The peer restarts LCP while Opened (RFC 1661: tld, scr, sca).
    p.server.handle_frame(
        p.now,
        proto::LCP,
        &wire::packet(Code::ConfReq, 0x99, &[1, 4, 0x05, 0xd4, 5, 6, 9, 9, 9, 9]),
    );
    p.drive_for(Duration::from_secs(5));
    let s = p.server_evs();
    assert_eq!(s[3], LinkEvent::NetworkDown);
    assert!(matches!(&s[4], LinkEvent::Authenticate { user, .. } if user == "alice"));
    assert_eq!(
        &s[5..],
        [
            LinkEvent::AuthSucceeded {
                user: "alice".into(),
                proto: AuthProto::Chap
            },
            LinkEvent::NetworkUp {
                peer_address: ASSIGNED
            }
        ]
    );
    assert_eq!(p.server.phase(), Phase::Network);
    assert!(p.client.is_up());
}

#[test]
fn client_loopback_detected() {
    let t0 = Instant::now();
    let mut peer = Peer::new(client_cfg(), t0, 5);
    let mut events = Vec::new();
    for _ in 0..200 {
        let Some((protocol, info)) = peer.poll_transmit() else {
            break;
        };
        peer.handle_frame(t0, protocol, &info);
        events.extend(std::iter::from_fn(|| peer.poll_event()));
    }
    assert!(
        matches!(
            events.last(),
            Some(PeerEvent::Down {
                reason: DownReason::LoopedBack
            })
        ),
        "{events:?}"
    );
}

#[test]
fn kill_on_padt_sends_nothing() {
    let mut p = Pair::default();
    p.drive_for(Duration::from_secs(11));
    // An Echo-Request is due now-ish; queue something, then PADT arrives.
    p.server
        .handle_frame(p.now, proto::LCP, &wire::packet(Code::EchoReq, 1, &[0; 4]));
    p.server.kill(DownReason::Padt);
    p.server.kill(DownReason::AdminClose);
    assert_eq!(p.server.poll_transmit(), None);
    let evs: Vec<_> = std::iter::from_fn(|| p.server.poll_event()).collect();
    assert_eq!(
        evs,
        [
            LinkEvent::NetworkDown,
            LinkEvent::Down {
                reason: DownReason::Padt
            }
        ]
    );
    assert_eq!(p.server.poll_timeout(), None);
}
