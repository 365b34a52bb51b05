//! IPv6CP (RFC 5072) and the two NCPs side by side.

use super::*;

fn v6_server(ipv4: bool, ipv6: bool) -> LinkConfig {
    LinkConfig {
        ipv4,
        ipv6,
        ..server_cfg()
    }
}

fn v6_client(ipv4: bool, ipv6: bool) -> PeerConfig {
    PeerConfig {
        ipv4,
        ipv6,
        ..client_cfg()
    }
}

fn ipv6_up_of(evs: &[LinkEvent]) -> Option<(u64, Option<u64>)> {
    evs.iter().find_map(|e| match e {
        LinkEvent::Ipv6Up { our_iid, peer_iid } => Some((*our_iid, *peer_iid)),
        _ => None,
    })
}

#[test]
fn dual_stack_both_ncps_open() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.server.ipcp_state(), State::Opened);
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    assert_eq!(p.client.ipv6cp_state(), State::Opened);
    let (ours, peers) = ipv6_up_of(&p.server_evs()).expect("Ipv6Up");
    assert_eq!(ours, p.server.our_iid());
    assert_eq!(peers, Some(p.client.our_iid()));
    assert_eq!(p.client.peer_iid(), Some(ours));
    assert_ne!(ours, 0);
    assert!(p.server_evs().contains(&LinkEvent::NetworkUp {
        peer_address: ASSIGNED
    }));
    assert!(p.client_evs().contains(&PeerEvent::Ipv6Up {
        our_iid: peers.unwrap(),
        peer_iid: Some(ours)
    }));
    // The server's request on the wire: Interface-Identifier, length 10.
    let req = p.frames(Dir::ToClient, proto::IPV6CP, Code::ConfReq);
    assert_eq!(req[0].data()[..2], [1, 10]);
    assert_eq!(req[0].data()[2..], ours.to_be_bytes());
    assert!(p
        .frames(Dir::ToClient, proto::LCP, Code::ProtRej)
        .is_empty());
    // IPv6 data is not ours to reject.
    assert!(p.inject(proto::IPV6, &[0x60, 0, 0, 0]).is_empty());
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down());
}

#[test]
fn zero_interface_identifier_is_nakd_and_converges() {
    let mut p = Pair::new(
        v6_server(true, true),
        PeerConfig {
            ipv6_first_iid: Some(0),
            ..v6_client(true, true)
        },
    );
    p.drive_for(Duration::from_secs(5));
    let naks = p.frames(Dir::ToClient, proto::IPV6CP, Code::ConfNak);
    assert_eq!(naks.len(), 1);
    let suggested = u64::from_be_bytes(naks[0].data()[2..10].try_into().unwrap());
    assert_ne!(suggested, 0);
    assert_eq!(p.client.our_iid(), suggested);
    assert_eq!(p.server.peer_iid(), Some(suggested));
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
}

#[test]
fn ipv6_only_session() {
    let mut p = Pair::new(v6_server(false, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    // The CPE's IPCP is Protocol-Rejected; IPv6 carries the link.
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x21]);
    assert_eq!(p.client.rejected_protocols(), [proto::IPCP]);
    assert_eq!(p.client.ipcp_state(), State::Stopped);
    assert_eq!(p.server.ipcp_state(), State::Initial);
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    assert!(!p
        .server_evs()
        .iter()
        .any(|e| matches!(e, LinkEvent::NetworkUp { .. })));
    assert!(ipv6_up_of(&p.server_evs()).is_some());
    p.drive_for(Duration::from_secs(120));
    assert!(!p.server.is_down());
    // The peer closes IPv6CP: the last NCP is gone, the link ends.
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x42, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipv6cp")
    }));
}

#[test]
fn ipv4_only_server_rejects_ipv6cp() {
    let mut p = Pair::new(v6_server(true, false), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    assert_up(&p, AuthProto::Chap);
    let rej = p.frames(Dir::ToClient, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x57]);
    assert!(p
        .frames(Dir::ToClient, proto::IPV6CP, Code::ConfReq)
        .is_empty());
    assert_eq!(p.client.ipv6cp_state(), State::Stopped);
    p.drive_for(Duration::from_secs(60));
    assert!(!p.server.is_down() && p.client.is_up());
}

#[test]
fn v4_only_peer_protocol_rejects_ipv6cp_ipv4_stays() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, false));
    p.drive_for(Duration::from_secs(5));
    assert_eq!(p.client.rejected_protocols(), [] as [u16; 0]);
    let rej = p.frames(Dir::ToServer, proto::LCP, Code::ProtRej);
    assert_eq!(rej.len(), 1);
    assert_eq!(rej[0].data()[..2], [0x80, 0x57]);
    assert_eq!(p.server.ipv6cp_state(), State::Stopped);
    assert!(p.server_evs().contains(&LinkEvent::NcpFinished {
        protocol: proto::IPV6CP
    }));
    assert_eq!(p.server.ipcp_state(), State::Opened);
    p.drive_for(Duration::from_secs(120));
    assert!(!p.server.is_down());
}

#[test]
fn ipcp_closed_while_ipv6_up_keeps_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    p.inject(proto::IPCP, &wire::packet(Code::TermReq, 0x77, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(!p.server.is_down(), "IPv6 keeps it");
    let evs = p.server_evs();
    assert!(evs.contains(&LinkEvent::NetworkDown));
    assert!(evs.contains(&LinkEvent::NcpFinished {
        protocol: proto::IPCP
    }));
    assert_eq!(p.server.ipv6cp_state(), State::Opened);
    // Then IPv6CP goes too: no NCP left.
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x78, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(p.server.is_down());
    assert!(p.server_evs().contains(&LinkEvent::Down {
        reason: DownReason::NoNetwork("ipv6cp")
    }));
}

#[test]
fn ipv6cp_closed_while_ipv4_up_keeps_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.drive_for(Duration::from_secs(5));
    p.inject(proto::IPV6CP, &wire::packet(Code::TermReq, 0x79, &[]));
    p.drive_for(Duration::from_secs(30));
    assert!(!p.server.is_down());
    let evs = p.server_evs();
    assert!(evs.contains(&LinkEvent::Ipv6Down));
    assert!(evs.contains(&LinkEvent::NcpFinished {
        protocol: proto::IPV6CP
    }));
    assert_eq!(p.server.ipcp_state(), State::Opened);
}

#[test]
fn neither_ncp_converges_ends_the_link() {
    let mut p = Pair::new(v6_server(true, true), v6_client(true, true));
    p.pass = Box::new(|_, protocol, _| protocol != proto::IPCP && protocol != proto::IPV6CP);
    p.drive_for(Duration::from_secs(60));
    assert!(p.server.is_down());
    let evs = p.server_evs();
    assert!(
        evs.iter().any(|e| matches!(
            e,
            LinkEvent::Down {
                reason: DownReason::NegotiationFailed("ipcp" | "ipv6cp")
            }
        )),
        "{evs:?}"
    );
}
