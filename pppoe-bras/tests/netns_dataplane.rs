//! Subscriber traffic through the XDP data path and the NAT, in the netns lab.
//!
//! Assumes, besides what `netns_session.rs` lists: `pppoe-bras emulate --tun
//! NAME` creates a TUN device with the session address and a default route in
//! the cpe namespace, so ordinary sockets there use the PPPoE session; the
//! NAT address is the uplink's, 198.51.100.1.
mod common;

use std::{
    net::{IpAddr, SocketAddr},
    time::Duration,
};

use common::*;
use pppoe_bras::lab::{self, EchoRecord, EmuOptions, Proto, ECHO_ADDR, UPLINK_IP};

fn with_tun() -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

fn seen_from_nat_address(log: &[EchoRecord], proto: Proto, payload: &[u8]) {
    let r = log
        .iter()
        .find(|r| r.proto == proto && r.data == payload)
        .unwrap_or_else(|| panic!("the test host never saw {proto:?} {payload:?}: {log:?}"));
    assert_eq!(
        r.from.ip(),
        IpAddr::from(UPLINK_IP),
        "source must be the NAT address"
    );
}

#[test]
fn ping_reaches_the_test_host_through_the_nat_and_back() {
    if !root_or_skip("ping_through_nat") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let cap = lab
        .tcpdump(lab.ns_inet(), lab.inet_if(), &scratch(&lab, "inet.pcap"))
        .expect("tcpdump");
    let (_emu, up) = bring_up(&lab, &with_tun());
    let out = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "3", "-W", "2", "192.0.2.1"])
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 received"),
        "ping through the session:\n{text}"
    );

    let file = cap.stop().expect("stop tcpdump");
    let requests =
        lab::tshark_fields(&file, "icmp.type == 8", &["ip.src", "ip.dst"]).expect("tshark");
    assert_eq!(requests.len(), 3, "{requests:?}");
    for r in &requests {
        assert_eq!(
            r,
            &["198.51.100.1", "192.0.2.1"],
            "SNAT to the uplink address"
        );
    }
    let leaked = lab::tshark_fields(&file, &format!("ip.addr == {}", up.address), &["ip.src"])
        .expect("tshark");
    assert!(
        leaked.is_empty(),
        "subscriber address leaked upstream: {leaked:?}"
    );
}

#[test]
fn udp_round_trip_through_the_nat() {
    if !root_or_skip("udp_through_nat") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    let dst = SocketAddr::from(ECHO_ADDR);
    for i in 0..3 {
        let payload = format!("udp-through-nat-{i}");
        lab::udp_round_trip(
            lab.ns_cpe(),
            dst,
            payload.as_bytes(),
            Duration::from_secs(3),
        )
        .unwrap_or_else(|e| panic!("UDP round trip {i}: {e:#}"));
        seen_from_nat_address(&lab.echo_log(), Proto::Udp, payload.as_bytes());
    }
}

#[test]
fn tcp_round_trip_through_the_nat() {
    if !root_or_skip("tcp_through_nat") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    let dst = SocketAddr::from(ECHO_ADDR);
    // Larger than one segment at the PPPoE MTU: exercises MSS/MTU handling.
    let payload: Vec<u8> = (0..4000u32).map(|i| b'a' + (i % 26) as u8).collect();
    lab::tcp_round_trip(lab.ns_cpe(), dst, &payload, Duration::from_secs(5))
        .expect("TCP round trip");
    let log = lab.echo_log();
    let received: usize = log
        .iter()
        .filter(|r| r.proto == Proto::Tcp)
        .map(|r| {
            assert_eq!(
                r.from.ip(),
                IpAddr::from(UPLINK_IP),
                "source must be the NAT address"
            );
            r.data.len()
        })
        .sum();
    assert!(received > 0, "{log:?}");
}

#[test]
fn spoofed_source_address_is_dropped() {
    if !root_or_skip("spoofed_source") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    // No TUN: the frames come from scapy, with the session's id and MAC.
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    let (_emu, up) = bring_up(&lab, &o);
    let client_mac = mac_in_log(&session_up_log(&bras, up.session));
    let bras_mac = lab
        .mac_of(lab.ns_bras(), lab.access_if())
        .expect("access MAC");

    // Positive control: the session's own address goes through.
    inject(
        &lab,
        &Inject {
            src_mac: &client_mac,
            dst_mac: &bras_mac,
            session: up.session,
            src_ip: up.address,
            payload: "legit-source",
        },
    );
    assert!(
        eventually(Duration::from_secs(3), || lab
            .echo_log()
            .iter()
            .any(|r| r.data == b"legit-source")),
        "a frame with the session's own source address did not arrive"
    );
    seen_from_nat_address(&lab.echo_log(), Proto::Udp, b"legit-source");

    // Same session, another source address (another pool address, then one
    // outside every subscriber range): dropped by the anti-spoofing check.
    for spoofed in [
        std::net::Ipv4Addr::new(172, 16, 0, 150),
        std::net::Ipv4Addr::new(203, 0, 113, 9),
    ] {
        inject(
            &lab,
            &Inject {
                src_mac: &client_mac,
                dst_mac: &bras_mac,
                session: up.session,
                src_ip: spoofed,
                payload: "spoofed-source",
            },
        );
    }
    std::thread::sleep(Duration::from_secs(1));
    let log = lab.echo_log();
    assert!(
        !log.iter().any(|r| r.data == b"spoofed-source"),
        "spoofed frames reached the test host: {log:?}"
    );
}

#[test]
fn traffic_flows_once_a_cold_next_hop_is_resolved() {
    if !root_or_skip("cold_neighbour") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    lab.flush_neighbours(lab.ns_bras()).expect("flush");
    // The first datagram may be lost while the daemon resolves 198.51.100.2
    // (bpf_fib_lookup says NO_NEIGH); one of the next two must come back.
    let dst = SocketAddr::from(ECHO_ADDR);
    let ok = (0..3).any(|i| {
        let payload = format!("cold-{i}");
        lab::udp_round_trip(
            lab.ns_cpe(),
            dst,
            payload.as_bytes(),
            Duration::from_secs(1),
        )
        .is_ok()
    });
    assert!(
        ok,
        "no UDP echo within 3 tries after the next hop went cold"
    );
}
