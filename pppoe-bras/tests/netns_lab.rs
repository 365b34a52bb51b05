//! The lab itself (no daemon needed): topology, echo servers, captures,
//! tshark dissection, cleanup.
mod common;

use std::{net::SocketAddr, path::Path, time::Duration};

use common::*;
use pppoe_bras::lab::{self, Proto, ECHO_ADDR};

fn ok(lab: &Lab, ns: &str, args: &[&str]) -> String {
    lab.exec_ok(ns, args)
        .unwrap_or_else(|e| panic!("{ns}: {}: {e:#}", args.join(" ")))
}

#[test]
fn topology_routes_only_between_bras_and_inet_and_is_removed_on_drop() {
    if !root_or_skip("topology") {
        return;
    }
    let lab = new_lab();
    let id = lab.id().to_owned();
    assert_eq!(namespaces_of(&id).len(), 3, "cpe, bras, inet");

    // bras reaches its next hop and, through the static route, the test host.
    ok(
        &lab,
        lab.ns_bras(),
        &["ping", "-c", "1", "-W", "2", "198.51.100.2"],
    );
    ok(
        &lab,
        lab.ns_bras(),
        &["ping", "-c", "1", "-W", "2", "192.0.2.1"],
    );
    let route = ok(&lab, lab.ns_bras(), &["ip", "route", "get", "192.0.2.1"]);
    assert!(
        route.contains("via 198.51.100.2") && route.contains(lab.uplink_if()),
        "{route}"
    );

    // No default route anywhere; cpe has no route at all (PPPoE needs none).
    for ns in [lab.ns_cpe(), lab.ns_bras(), lab.ns_inet()] {
        let routes = ok(&lab, ns, &["ip", "-4", "route", "show"]);
        assert!(!routes.contains("default"), "{ns}: {routes}");
    }
    assert!(ok(&lab, lab.ns_cpe(), &["ip", "-4", "route", "show"])
        .trim()
        .is_empty());
    let out = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "1", "-W", "1", "192.0.2.1"])
        .expect("run ping");
    assert!(
        !out.status.success(),
        "cpe must not reach the test host without a session"
    );

    // Forwarding on in bras (bpf_fib_lookup says FWD_DISABLED otherwise).
    let fwd = ok(
        &lab,
        lab.ns_bras(),
        &[
            "sysctl",
            "-n",
            "net.ipv4.ip_forward",
            "net.ipv4.conf.all.forwarding",
        ],
    );
    assert_eq!(fwd.split_whitespace().collect::<Vec<_>>(), ["1", "1"]);

    // Access link: MTU 1508 both ends (RFC 4638 baby jumbo), no address on
    // the BRAS side.
    for (ns, ifname) in [
        (lab.ns_bras(), lab.access_if()),
        (lab.ns_cpe(), lab.cpe_if()),
    ] {
        let link = ok(&lab, ns, &["ip", "-o", "link", "show", "dev", ifname]);
        assert!(link.contains("mtu 1508") && link.contains("UP"), "{link}");
    }
    let addrs = ok(
        &lab,
        lab.ns_bras(),
        &["ip", "-4", "-o", "addr", "show", "dev", lab.access_if()],
    );
    assert!(addrs.trim().is_empty(), "access NIC has no IPv4: {addrs}");
    assert!(lab.xdp_attached().expect("ip -d link").is_empty());
    assert_eq!(
        lab.mac_of(lab.ns_cpe(), lab.cpe_if())
            .expect("mac")
            .matches(':')
            .count(),
        5
    );

    // The echo servers answer the bras namespace, and see its uplink address.
    let dst = SocketAddr::from(ECHO_ADDR);
    let rtt = lab::udp_round_trip(lab.ns_bras(), dst, b"lab-udp", Duration::from_secs(2))
        .expect("udp echo");
    assert!(rtt < Duration::from_secs(2));
    lab::tcp_round_trip(lab.ns_bras(), dst, b"lab-tcp", Duration::from_secs(2)).expect("tcp echo");
    let log = lab.echo_log();
    for (proto, payload) in [(Proto::Udp, &b"lab-udp"[..]), (Proto::Tcp, &b"lab-tcp"[..])] {
        let r = log
            .iter()
            .find(|r| r.proto == proto && r.data == payload)
            .unwrap_or_else(|| panic!("{proto:?} echo not logged: {log:?}"));
        assert_eq!(r.from.ip(), std::net::IpAddr::from(lab::UPLINK_IP));
    }

    // A process left running in a namespace is killed by the drop.
    let mut sleeper = lab
        .spawn_in(lab.ns_cpe(), "sleep", &["sleep", "60"])
        .expect("spawn sleep");
    std::fs::create_dir_all(lab.pin_dir()).expect("pin dir");
    let (pin, tmp) = (lab.pin_dir().to_owned(), lab.tmp_dir().to_owned());
    drop(lab);
    assert!(
        namespaces_of(&id).is_empty(),
        "namespaces left: {:?}",
        namespaces_of(&id)
    );
    assert!(!pin.exists() && !tmp.exists());
    assert!(sleeper
        .wait_timeout(Duration::from_secs(2))
        .expect("wait")
        .is_some());
}

#[test]
fn cleanup_stale_removes_labs_of_dead_processes_only() {
    if !root_or_skip("cleanup_stale") {
        return;
    }
    // A pid above any pid_max: its owner is certainly dead.
    let stale_ns = format!("{PREFIX}-999999999-0-cpe");
    let stale_pin = Path::new("/sys/fs/bpf").join(format!("{PREFIX}-999999999-0"));
    let live = new_lab();
    std::process::Command::new("ip")
        .args(["netns", "add", &stale_ns])
        .status()
        .expect("ip netns add");
    std::fs::create_dir_all(&stale_pin).expect("stale pin dir");

    let removed = Lab::cleanup_stale(PREFIX).expect("cleanup");
    assert!(removed >= 1);
    assert!(!lab::list_netns().contains(&stale_ns));
    assert!(!stale_pin.exists());
    assert_eq!(namespaces_of(live.id()).len(), 3, "a live lab stays");
}

#[test]
fn capture_and_tshark_fields_see_traffic_in_a_namespace() {
    if !root_or_skip("capture") {
        return;
    }
    let lab = new_lab();
    let file = scratch(&lab, "inet.pcap");
    let cap = lab
        .tcpdump(lab.ns_inet(), lab.inet_if(), &file)
        .expect("tcpdump");
    let p = ok(
        &lab,
        lab.ns_bras(),
        &["ping", "-c", "2", "-W", "2", "192.0.2.1"],
    );
    eprintln!("{p}");
    let file = cap.stop().expect("stop tcpdump");
    let rows = lab::tshark_fields(&file, "icmp.type == 8", &["ip.src", "ip.dst"]).expect("tshark");
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert!(
        rows.iter().all(|r| r == &["198.51.100.1", "192.0.2.1"]),
        "{rows:?}"
    );
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0);
}

// --- tshark_check on a hand-made capture -----------------------------------

const CPE: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const BRAS: [u8; 6] = [0x02, 0, 0, 0, 0, 0x02];

fn eth(dst: [u8; 6], src: [u8; 6], ethertype: u16, payload: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&ethertype.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

/// RFC 2516 §4 discovery packet.
fn pppoed(code: u8, session: u16, tags: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, code];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(&u16::try_from(tags.len()).expect("short").to_be_bytes());
    p.extend_from_slice(tags);
    p
}

/// RFC 2516 §5 session packet carrying PPP `proto`.
fn pppoes(session: u16, proto: u16, payload: &[u8]) -> Vec<u8> {
    let mut p = vec![0x11, 0x00];
    p.extend_from_slice(&session.to_be_bytes());
    p.extend_from_slice(
        &u16::try_from(payload.len() + 2)
            .expect("short")
            .to_be_bytes(),
    );
    p.extend_from_slice(&proto.to_be_bytes());
    p.extend_from_slice(payload);
    p
}

fn csum(data: &[u8]) -> u16 {
    let mut sum: u32 = data
        .chunks(2)
        .map(|c| u32::from(u16::from_be_bytes([c[0], *c.get(1).unwrap_or(&0)])))
        .sum();
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

fn icmp_echo(src: [u8; 4], dst: [u8; 4]) -> Vec<u8> {
    let mut icmp = vec![8, 0, 0, 0, 0x12, 0x34, 0, 1];
    let c = csum(&icmp).to_be_bytes();
    icmp[2..4].copy_from_slice(&c);
    let mut ip = vec![0x45, 0, 0, 28, 0, 0, 0x40, 0, 64, 1, 0, 0];
    ip.extend_from_slice(&src);
    ip.extend_from_slice(&dst);
    let c = csum(&ip).to_be_bytes();
    ip[10..12].copy_from_slice(&c);
    ip.extend_from_slice(&icmp);
    ip
}

fn write_pcap(path: &Path, frames: &[Vec<u8>]) {
    let mut b = Vec::new();
    b.extend_from_slice(&0xa1b2_c3d4u32.to_le_bytes());
    b.extend_from_slice(&2u16.to_le_bytes());
    b.extend_from_slice(&4u16.to_le_bytes());
    for v in [0u32, 0, 65535, 1] {
        b.extend_from_slice(&v.to_le_bytes());
    }
    for (i, f) in frames.iter().enumerate() {
        let len = u32::try_from(f.len()).expect("short");
        for v in [
            1_700_000_000u32,
            u32::try_from(i).expect("few") * 1000,
            len,
            len,
        ] {
            b.extend_from_slice(&v.to_le_bytes());
        }
        b.extend_from_slice(f);
    }
    std::fs::write(path, b).expect("write pcap");
}

#[test]
fn tshark_check_classifies_a_full_negotiation_and_counts_malformed_frames() {
    if !lab::have_tool("tshark") {
        if std::env::var_os("PPPOE_BRAS_NETNS_TESTS").is_some() {
            panic!("tshark is not installed (cargo xtask setup installs it)");
        }
        eprintln!("skipping tshark_check test: tshark not installed");
        return;
    }
    let bcast = [0xff; 6];
    let svc = [0x01, 0x01, 0, 0];
    let mut pado_tags = svc.to_vec();
    pado_tags.extend_from_slice(&[0x01, 0x02, 0, 4]);
    pado_tags.extend_from_slice(b"bras");
    let mut challenge = vec![0x01, 0x01, 0, 25, 16];
    challenge.extend_from_slice(&[0xab; 16]);
    challenge.extend_from_slice(b"bras");
    let frames = vec![
        eth(bcast, CPE, 0x8863, &pppoed(0x09, 0, &svc)),
        eth(CPE, BRAS, 0x8863, &pppoed(0x07, 0, &pado_tags)),
        eth(BRAS, CPE, 0x8863, &pppoed(0x19, 0, &svc)),
        eth(CPE, BRAS, 0x8863, &pppoed(0x65, 1, &svc)),
        // LCP Configure-Request with MRU 1492 (RFC 1661 §6.1).
        eth(
            CPE,
            BRAS,
            0x8864,
            &pppoes(1, 0xc021, &[1, 1, 0, 8, 1, 4, 0x05, 0xd4]),
        ),
        eth(CPE, BRAS, 0x8864, &pppoes(1, 0xc223, &challenge)),
        // IPCP Configure-Request IP-Address 172.16.0.254 (RFC 1332 §3.3).
        eth(
            BRAS,
            CPE,
            0x8864,
            &pppoes(1, 0x8021, &[1, 1, 0, 10, 3, 6, 172, 16, 0, 254]),
        ),
        eth(
            BRAS,
            CPE,
            0x8864,
            &pppoes(1, 0x0021, &icmp_echo([172, 16, 0, 101], [192, 0, 2, 1])),
        ),
        eth(CPE, BRAS, 0x8863, &pppoed(0xa7, 1, &[])),
    ];
    let dir = std::env::temp_dir().join(format!("pbt-tshark-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp");
    let good = dir.join("good.pcap");
    write_pcap(&good, &frames);
    let d = lab::tshark_check(&good).expect("tshark");
    assert_eq!(d.malformed, 0, "{:?}", d.summaries());
    let kinds: Vec<&str> = d.frames.iter().map(|f| f.kind.as_str()).collect();
    assert_eq!(
        kinds,
        ["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP", "IPv4", "PADT"]
    );
    assert_eq!(d.frames[4].detail, "Configure-Request");
    assert_eq!(d.frames[5].detail, "Challenge");
    assert_eq!(d.frames[3].session, 1);
    assert!(lab::contains_in_order(
        &d.control_sequence(),
        &["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP", "PADT"]
    ));

    // A PADI whose length field promises more than the frame holds.
    let mut bad_frames = frames;
    bad_frames.push(eth(bcast, CPE, 0x8863, &[0x11, 0x09, 0, 0, 0, 0x30, 1]));
    let bad = dir.join("bad.pcap");
    write_pcap(&bad, &bad_frames);
    assert_eq!(lab::tshark_check(&bad).expect("tshark").malformed, 1);
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn scapy_injects_a_pppoe_session_frame_from_the_cpe_side() {
    if !root_or_skip("scapy_inject") {
        return;
    }
    let lab = new_lab();
    let file = scratch(&lab, "access.pcap");
    let cap = lab
        .tcpdump(lab.ns_bras(), lab.access_if(), &file)
        .expect("tcpdump");
    let cpe_mac = lab.mac_of(lab.ns_cpe(), lab.cpe_if()).expect("cpe MAC");
    let bras_mac = lab
        .mac_of(lab.ns_bras(), lab.access_if())
        .expect("bras MAC");
    inject(
        &lab,
        &Inject {
            src_mac: &cpe_mac,
            dst_mac: &bras_mac,
            session: 0x1234,
            src_ip: std::net::Ipv4Addr::new(172, 16, 0, 101),
            payload: "injected",
        },
    );
    let file = cap.stop().expect("stop tcpdump");
    let rows = lab::tshark_fields(
        &file,
        "pppoes && udp",
        &[
            "eth.src",
            "eth.dst",
            "pppoe.session_id",
            "ppp.protocol",
            "ip.src",
            "ip.dst",
            "udp.dstport",
            "frame.len",
        ],
    )
    .expect("tshark");
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert_eq!(
        rows[0],
        [
            cpe_mac.as_str(),
            bras_mac.as_str(),
            "0x1234",
            "0x0021",
            "172.16.0.101",
            "192.0.2.1",
            "7",
            // 14 Ethernet + 6 PPPoE + 2 PPP + 20 IPv4 + 8 UDP + 8 payload.
            "58"
        ]
    );
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    // The rest is the veths' own IPv6 chatter (DAD, MLD).
    let ipv4: Vec<_> = d.frames.iter().filter(|f| f.kind == "IPv4").collect();
    assert_eq!(ipv4.len(), 3, "{:#?}", d.summaries());
    assert!(ipv4
        .iter()
        .all(|f| f.session == 0x1234 && f.detail == "udp"));
}
