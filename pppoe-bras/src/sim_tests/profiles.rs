//! Interop profiles: each CPE behaviour against the real Manager.

use super::{ipv6::v6_manager, *};
use crate::discovery::DiscoveryStat;

/// testuser1 (static 172.16.0.101) behaving like `profile`.
fn profile_client(profile: Profile) -> ClientConfig {
    let mut cfg = client_cfg(
        1,
        "testuser1",
        "password",
        &[AuthProto::Chap, AuthProto::Pap],
    );
    profile.apply(&mut cfg);
    cfg
}

/// Bring `profile` up against the classic manager; check what every
/// profile must get: the static address, both DNS, one session, one row.
fn profile_up(profile: Profile, latency: Duration) -> Sim {
    let mut sim = Sim::new(manager(10, 3));
    sim.latency = latency;
    let c = sim.add(profile_client(profile));
    sim.run_for(Duration::from_secs(15));
    let (addr, dns, _) = sim
        .up(c)
        .unwrap_or_else(|| panic!("{profile}: not up: {:?}", sim.events[c]));
    assert_eq!(addr, Ipv4Addr::new(172, 16, 0, 101), "{profile}");
    assert_eq!(dns, DNS, "{profile}");
    assert_eq!(sim.bras.len(), 1, "{profile}: one session");
    assert_eq!(sim.installs().len(), 1, "{profile}: one data-path row");
    assert_eq!(
        sim.bras.discovery().stats()[DiscoveryStat::PadsTx],
        1,
        "{profile}"
    );
    assert!(
        sim.clients[c].peer().is_some_and(|p| p.is_up()),
        "{profile}: still up"
    );
    sim
}

#[test]
fn profile_edgerouter_vj_rejected_ccp_protocol_rejected() {
    let sim = profile_up(Profile::EdgeRouter, Duration::ZERO);
    // IPCP: the first request carries VJ, 0.0.0.0 and both DNS at 0.0.0.0.
    let reqs = sim.packets(Dir::ToBras, proto::IPCP, Code::ConfReq);
    assert_eq!(
        reqs[0],
        [
            2, 6, 0x00, 0x2d, 0x0f, 0x01, // IP-Compression-Protocol VJ
            3, 6, 0, 0, 0, 0, // IP-Address 0.0.0.0
            129, 6, 0, 0, 0, 0, // primary DNS
            131, 6, 0, 0, 0, 0, // secondary DNS
        ]
    );
    // VJ alone is rejected, byte for byte; then address and DNS are Naked.
    let rej = sim.packets(Dir::ToClients, proto::IPCP, Code::ConfRej);
    assert_eq!(rej, vec![vec![2, 6, 0x00, 0x2d, 0x0f, 0x01]]);
    let nak = sim.packets(Dir::ToClients, proto::IPCP, Code::ConfNak);
    assert_eq!(
        nak[0],
        [3, 6, 172, 16, 0, 101, 129, 6, 192, 0, 2, 53, 131, 6, 192, 0, 2, 54]
    );
    // CCP gets an LCP Protocol-Reject carrying the rejected protocol and
    // the CCP packet; the link stays up.
    let pr = sim.packets(Dir::ToClients, proto::LCP, Code::ProtRej);
    assert_eq!(pr.len(), 1);
    assert_eq!(&pr[0][..2], &[0x80, 0xfd]);
    assert_eq!(pr[0][2], 1, "the CCP Configure-Request is echoed");
    assert_eq!(
        sim.clients[0].peer().unwrap().rejected_protocols(),
        [proto::CCP]
    );
    assert!(sim.events[0].contains(&ClientEvent::ProtocolRejected {
        protocol: proto::CCP
    }));
    // CHAP, MRU 1492 both ways.
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    let link = sim.bras.link(&key).unwrap();
    assert_eq!(link.auth_proto(), Some(AuthProto::Chap));
    assert_eq!(link.peer_mru(), 1492);
    assert_eq!(sim.up(0).unwrap().2, 1492);
}

#[test]
fn profile_yamaha_rtx_pap_and_mru_1454() {
    let sim = profile_up(Profile::YamahaRtx, Duration::ZERO);
    // CHAP offered first, Naked with PAP, PAP offered.
    let naks = sim.packets(Dir::ToBras, proto::LCP, Code::ConfNak);
    assert_eq!(naks[0], [3, 4, 0xc0, 0x23]);
    assert_eq!(sim.packets(Dir::ToBras, proto::PAP, Code::ConfReq).len(), 1);
    // The BRAS honours MRU 1454: the row's MTU and the client's request.
    assert_eq!(sim.installs(), vec![(Ipv4Addr::new(172, 16, 0, 101), 1454)]);
    let req = &sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&req[..4], &[1, 4, 0x05, 0xae], "MRU 1454");
}

#[test]
fn profile_cisco_ios_echo_requests_are_answered() {
    let mut sim = profile_up(Profile::CiscoIos, Duration::ZERO);
    sim.run_for(Duration::from_secs(60));
    let (sent, replies) = sim.clients[0].peer().unwrap().echo_counts();
    assert!(sent >= 6, "cisco sends echoes every 10 s: {sent}");
    assert_eq!(sent, replies, "every Echo-Request answered");
    // Echo-Reply: the BRAS's own Magic-Number, never the client's.
    let client_magic = {
        let req = &sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq)[0];
        req[req.len() - 4..].to_vec()
    };
    for rep in sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep) {
        assert_ne!(&rep[..4], &client_magic[..]);
        assert_ne!(&rep[..4], &[0, 0, 0, 0]);
    }
    assert_eq!(sim.bras.len(), 1);
    assert!(sim.removal_reasons().is_empty());
}

#[test]
fn profile_mschapv2_first_gets_chap_md5_again() {
    let sim = profile_up(Profile::MsChapV2First, Duration::ZERO);
    let naks = sim.packets(Dir::ToBras, proto::LCP, Code::ConfNak);
    assert_eq!(naks[0], [3, 5, 0xc2, 0x23, 0x81], "MS-CHAPv2 first");
    assert_eq!(naks[1], [3, 5, 0xc2, 0x23, 0x05], "PAP Naked with CHAP-MD5");
    let reqs = sim.packets(Dir::ToClients, proto::LCP, Code::ConfReq);
    let auth = |r: &[u8]| r.windows(3).any(|w| w == [0xc2, 0x23, 5]);
    assert!(
        auth(&reqs[0]) && !auth(&reqs[1]) && auth(&reqs[2]),
        "{reqs:?}"
    );
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    assert_eq!(
        sim.bras.link(&key).unwrap().auth_proto(),
        Some(AuthProto::Chap)
    );
    // One CHAP Success (code 3).
    assert_eq!(
        sim.packets(Dir::ToClients, proto::CHAP, Code::from(3))
            .len(),
        1
    );
}

#[test]
fn profile_ipv6cp_protocol_rejected_ipv4_stays() {
    let mut sim = profile_up(Profile::Ipv6cp, Duration::ZERO);
    let pr = sim.packets(Dir::ToClients, proto::LCP, Code::ProtRej);
    assert_eq!(pr.len(), 1);
    assert_eq!(&pr[0][..2], &[0x80, 0x57]);
    assert_eq!(
        sim.clients[0].peer().unwrap().rejected_protocols(),
        [proto::IPV6CP]
    );
    sim.run_for(Duration::from_secs(30));
    assert!(sim.clients[0].peer().unwrap().is_up());
    assert!(sim.removal_reasons().is_empty());
}

#[test]
fn profile_max_payload_agrees_mru_1500() {
    let sim = profile_up(Profile::MaxPayload, Duration::ZERO);
    assert_eq!(
        sim.up(0).unwrap().2,
        1500,
        "BRAS MRU 1500 seen by the client"
    );
    assert_eq!(sim.installs(), vec![(Ipv4Addr::new(172, 16, 0, 101), 1500)]);
    let bras_req = &sim.packets(Dir::ToClients, proto::LCP, Code::ConfReq)[0];
    assert_eq!(&bras_req[..4], &[1, 4, 0x05, 0xdc]);
    assert!(sim
        .packets(Dir::ToClients, proto::LCP, Code::ConfNak)
        .is_empty());
}

#[test]
fn profile_max_payload_without_rfc4638_support_stays_at_1492() {
    let mut sim = Sim::new(manager_with(10, 3, |c| c.discovery.max_payload = 0));
    let c = sim.add(profile_client(Profile::MaxPayload));
    sim.run_for(Duration::from_secs(10));
    // The client asks for 1500 and is Naked down to 1492.
    assert_eq!(sim.up(c).unwrap().2, 1492);
    let nak = &sim.packets(Dir::ToClients, proto::LCP, Code::ConfNak)[0];
    assert_eq!(nak, &[1, 4, 0x05, 0xd4]);
}

#[test]
fn profile_aggressive_on_a_slow_link_makes_one_session() {
    // 300 ms each way: every request is sent 3 times before its answer.
    let sim = profile_up(Profile::Aggressive, Duration::from_millis(300));
    let d = sim.bras.discovery().stats();
    assert!(d[DiscoveryStat::PadrRx] >= 3, "{d:?}");
    assert!(d[DiscoveryStat::PadsRetransmit] >= 2, "{d:?}");
    assert_eq!(d[DiscoveryStat::PadsTx], 1);
    let lcp_reqs = sim.packets(Dir::ToBras, proto::LCP, Code::ConfReq);
    assert!(lcp_reqs.len() >= 3, "LCP retransmitted: {}", lcp_reqs.len());
    let key = sim
        .bras
        .key_by_id(sim.clients[0].session_id().unwrap())
        .unwrap();
    let link = sim.bras.link(&key).unwrap();
    assert!(
        link.duplicates_absorbed() > 0,
        "copies after Opened re-acked"
    );
    assert!(sim.removal_reasons().is_empty());
    // Exactly one address leased and one Up.
    let ups = sim.events[0]
        .iter()
        .filter(|e| matches!(e, ClientEvent::Up { .. }))
        .count();
    assert_eq!(ups, 1);
}

#[test]
fn every_profile_comes_up_in_one_lab() {
    // Dual stack, so the IPv6-only profile has an NCP to come up on.
    let mut sim = Sim::new(v6_manager(true));
    let users = ["testuser1", "testuser2", "testuser3"];
    for (i, p) in Profile::ALL.into_iter().enumerate() {
        let mut cfg = client_cfg(100 + i as u32, users[i % 3], "password", &[]);
        cfg.peer.auth_accept = vec![AuthProto::Chap, AuthProto::Pap];
        p.apply(&mut cfg);
        sim.add(cfg);
    }
    sim.run_for(Duration::from_secs(20));
    for (i, p) in Profile::ALL.into_iter().enumerate() {
        let up = if p == Profile::YamahaRtxV6 {
            sim.up6(i).is_some() && sim.up(i).is_none()
        } else {
            sim.up(i).is_some()
        };
        assert!(up, "{p}: {:?}", sim.events[i]);
    }
    assert_eq!(sim.bras.len(), Profile::ALL.len());
}
