//! Dual stack in the netns lab: IPv6CP, the RA's /64 (SLAAC) and a DHCPv6
//! delegated prefix for the emulated CPE, IPv6 routed by XDP both ways to
//! the lab's test host 2001:db8::1, ICMPv6 errors from the BRAS, the
//! prefixes back to the same user on reconnect, and tshark dissecting the
//! whole exchange (IPv6CP, ICMPv6, DHCPv6) without a malformed frame.
mod common;

use std::time::Duration;

use common::*;
use pppoe_bras::lab::{self as lablib, TEST_HOST6};

fn with_tun() -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

#[test]
fn dual_stack_session_routes_ipv6_both_ways() {
    if !root_or_skip("dual_stack") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "access.pcap"))
        .expect("tcpdump");
    let (mut emu, up) = bring_up(&lab, &with_tun());
    let (addr6, pd) = up6(&emu);
    assert!(
        addr6.starts_with("2001:db8:100:") && addr6.ends_with("/64"),
        "{addr6}"
    );
    assert!(pd.starts_with("2001:db8:2") && pd.ends_with("/56"), "{pd}");
    let slaac = addr6.trim_end_matches("/64").to_owned();

    // IPv4 and IPv6 both through XDP.
    let target = TEST_HOST6.to_string();
    let (_, text) = ping6(&lab, lab.ns_cpe(), &["-c", "3", "-W", "2", &target], 20);
    assert!(
        text.contains("3 received"),
        "ping -6 through the session:\n{text}"
    );
    let v4 = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "2", "-W", "2", "192.0.2.1"])
        .unwrap();
    assert!(String::from_utf8_lossy(&v4.stdout).contains("2 received"));
    let stats = |name: &str| -> u64 {
        let out = std::process::Command::new(bin())
            .args(["stats", "--control-socket"])
            .arg(lab.control_socket())
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{name} "))?.trim().parse().ok())
            .unwrap_or(0)
    };
    assert!(stats("xdp.up_forwarded6") >= 3 && stats("xdp.down_forwarded6") >= 3);

    // From inet, to the subscriber's SLAAC address: routed down.
    let back = lab
        .exec(lab.ns_inet(), &["ping", "-6", "-c", "2", "-W", "2", &slaac])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&back.stdout).contains("2 received"),
        "inet → subscriber:\n{}",
        String::from_utf8_lossy(&back.stdout)
    );
    udp_tcp6_both_ways(&lab, slaac.parse().unwrap());
    // Too big for the session (1492) with no fragmentation: Packet Too Big
    // from the BRAS, which ping reports.
    let big = lab
        .exec(
            lab.ns_inet(),
            &[
                "ping", "-6", "-c", "1", "-W", "2", "-s", "1450", "-M", "do", &slaac,
            ],
        )
        .unwrap();
    let big_text = format!(
        "{}{}",
        String::from_utf8_lossy(&big.stdout),
        String::from_utf8_lossy(&big.stderr)
    );
    assert!(
        big_text.to_lowercase().contains("too big") || stats("xdp.tx_packet_too_big6") >= 1,
        "{big_text}"
    );
    assert!(stats("xdp.tx_packet_too_big6") >= 1);
    // Hop limit 1 from the subscriber: Time Exceeded from the BRAS.
    let _ = lab.exec(
        lab.ns_cpe(),
        &["ping", "-6", "-c", "1", "-W", "2", "-t", "1", &target],
    );
    assert!(stats("xdp.tx_time_exceeded6") >= 1);

    // The listing shows the prefixes.
    let out = std::process::Command::new(bin())
        .args(["sessions", "--control-socket"])
        .arg(lab.control_socket())
        .output()
        .unwrap();
    let listing = String::from_utf8_lossy(&out.stdout);
    assert!(listing.contains(&pd), "{listing}");

    // Hang up and come back: the same /64 and delegated prefix.
    emu.stop(Duration::from_secs(5)).unwrap();
    let (_emu2, up2) = bring_up(&lab, &with_tun());
    assert_eq!(up2.address, up.address);
    let (addr6_2, pd2) = up6(&_emu2);
    // The interface identifier is fresh (random per IPv6CP), the /64 and
    // the delegated prefix are the user's again.
    let net64 = |a: &str| a.split(':').take(4).collect::<Vec<_>>().join(":");
    assert_eq!(
        (net64(&addr6_2), pd2),
        (net64(&addr6), pd),
        "same prefixes on reconnect"
    );

    let file = cap.stop().expect("stop tcpdump");
    let malformed = lablib::tshark_fields(
        &file,
        "_ws.malformed || _ws.expert.severity == error",
        &["frame.number"],
    )
    .expect("tshark");
    assert!(malformed.is_empty(), "malformed frames: {malformed:?}");
    let dhcp = lablib::tshark_fields(&file, "dhcpv6", &["dhcpv6.msgtype"]).expect("tshark");
    assert!(
        dhcp.len() >= 4,
        "Solicit/Advertise/Request/Reply seen: {dhcp:?}"
    );
    let ra = lablib::tshark_fields(&file, "icmpv6.type == 134", &["frame.number"]).expect("tshark");
    assert!(!ra.is_empty(), "an RA");
    let v6cp = lablib::tshark_fields(&file, "ipv6cp", &["frame.number"]).expect("tshark");
    assert!(!v6cp.is_empty(), "IPv6CP");
    drop(bras);
}

/// An echo server for one exchange in namespace `ns` on `addr` (UDP, or
/// TCP with `tcp`), in its own thread: what "downstream" round trips from
/// `inet` to the subscriber need. Returns once it listens.
fn echo_once(ns: &str, addr: std::net::SocketAddr, tcp: bool) -> std::thread::JoinHandle<()> {
    use std::io::{Read, Write};
    let (tx, rx) = std::sync::mpsc::channel();
    let ns = ns.to_owned();
    let h = std::thread::spawn(move || {
        let r = lablib::in_netns(&ns, move || {
            let t = Some(Duration::from_secs(10));
            if tcp {
                let l = std::net::TcpListener::bind(addr)?;
                tx.send(()).ok();
                let (mut s, _) = l.accept()?;
                s.set_read_timeout(t)?;
                let mut buf = [0u8; 64];
                let n = s.read(&mut buf)?;
                s.write_all(&buf[..n])?;
            } else {
                let s = std::net::UdpSocket::bind(addr)?;
                s.set_read_timeout(t)?;
                tx.send(()).ok();
                let mut buf = [0u8; 64];
                let (n, from) = s.recv_from(&mut buf)?;
                s.send_to(&buf[..n], from)?;
            }
            Ok(())
        });
        if let Err(e) = r {
            eprintln!("echo_once {addr}: {e:#}");
        }
    });
    rx.recv_timeout(Duration::from_secs(5))
        .expect("echo server listening");
    h
}

/// UDP and TCP over IPv6 both ways through the session: to the lab's echo
/// servers on 2001:db8::1 (the source they see is the subscriber's own
/// address: routed, no NAT66) and from `inet` to servers on the
/// subscriber's SLAAC address.
fn udp_tcp6_both_ways(lab: &Lab, slaac: std::net::Ipv6Addr) {
    let t = Duration::from_secs(5);
    lablib::udp_round_trip(lab.ns_cpe(), lablib::ECHO_ADDR6, b"udp6-up", t).expect("UDP up");
    lablib::tcp_round_trip(lab.ns_cpe(), lablib::ECHO_ADDR6, b"tcp6-up", t).expect("TCP up");
    let seen: Vec<_> = lab
        .echo_log()
        .into_iter()
        .filter(|r| r.data.starts_with(b"udp6-up") || r.data.starts_with(b"tcp6-up"))
        .map(|r| (r.proto, r.from.ip()))
        .collect();
    assert_eq!(
        seen,
        [
            (lablib::Proto::Udp, std::net::IpAddr::V6(slaac)),
            (lablib::Proto::Tcp, std::net::IpAddr::V6(slaac))
        ],
        "the echo servers see the subscriber's address"
    );
    for (port, tcp) in [(9007, false), (9008, true)] {
        let addr = std::net::SocketAddr::from((slaac, port));
        let h = echo_once(lab.ns_cpe(), addr, tcp);
        let r = if tcp {
            lablib::tcp_round_trip(lab.ns_inet(), addr, b"tcp6-down", t)
        } else {
            lablib::udp_round_trip(lab.ns_inet(), addr, b"udp6-down", t)
        };
        r.unwrap_or_else(|e| panic!("{} down to {addr}: {e:#}", if tcp { "TCP" } else { "UDP" }));
        h.join().unwrap();
    }
}

/// An IPv6-only CPE (it Protocol-Rejects IPCP) on the dual-stack BRAS:
/// no IPv4 lease, yet XDP carries its IPv6 both ways (ping, UDP, TCP) and
/// counts it; IPv4 it might send is dropped; hanging up removes its rows.
#[test]
fn ipv6_only_cpe_routes_ipv6_both_ways() {
    if !root_or_skip("ipv6_only") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    let mut o = with_tun();
    o.no_ipv4 = true;
    let mut emu = start_emu(&lab, &o);
    let (addr6, _pd) = up6(&emu);
    let slaac: std::net::Ipv6Addr = addr6.trim_end_matches("/64").parse().unwrap();
    let target = TEST_HOST6.to_string();
    let (_, text) = ping6(&lab, lab.ns_cpe(), &["-c", "3", "-W", "2", &target], 40);
    assert!(
        text.contains("3 received"),
        "ping -6 up:\n{text}\n{}",
        bras.tail(20)
    );
    let (_, text) = ping6(
        &lab,
        lab.ns_inet(),
        &["-c", "2", "-W", "2", &slaac.to_string()],
        5,
    );
    assert!(text.contains("2 received"), "ping -6 down:\n{text}");
    udp_tcp6_both_ways(&lab, slaac);
    let listing = cli_sessions(&lab);
    assert!(listing.contains(&slaac.to_string()[..14]), "{listing}");
    // No IPv4 data path (the lease made at authentication stays with the
    // session, should the CPE open IPCP after all).
    assert_eq!(map_rows(lab.pin_dir(), "SUBSCRIBERS").unwrap(), 0);
    assert_eq!(map_rows(lab.pin_dir(), "SESSIONS").unwrap(), 1);
    emu.stop(Duration::from_secs(5)).unwrap();
    assert!(
        eventually(Duration::from_secs(5), || {
            map_rows(lab.pin_dir(), "SESSIONS").unwrap() == 0
                && map_rows(lab.pin_dir(), "NET64").unwrap() == 0
        }),
        "rows left after hang-up\n{}",
        bras.tail(20)
    );
}

fn cli_sessions(lab: &Lab) -> String {
    let out = std::process::Command::new(bin())
        .args(["sessions", "--control-socket"])
        .arg(lab.control_socket())
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A user's own delegated prefix from `[[users]]` reaches its CPE by
/// DHCPv6-PD and routes: a LAN address in it pings the test host.
#[test]
fn static_delegated_prefix_from_the_config_reaches_the_cpe() {
    if !root_or_skip("static_pd") {
        return;
    }
    let lab = new_lab();
    let conf = lab
        .write_file(
            "users.toml",
            "[[users]]\nname = \"v6static\"\npassword = \"password\"\n\
             delegated_prefix = \"2001:db8:200:4200::/56\"\n",
        )
        .unwrap();
    let mut opts = classic(&lab, "");
    opts.extra = vec!["-c".into(), conf.display().to_string()];
    let bras = start_bras(&lab, &opts);
    let mut o = EmuOptions::user("v6static");
    o.tun = Some("ppp0".to_owned());
    let (emu, _up) = bring_up(&lab, &o);
    let (_addr6, pd) = up6(&emu);
    assert_eq!(pd, "2001:db8:200:4200::/56", "{}", bras.tail(20));
    lab.exec_ok(
        lab.ns_cpe(),
        &[
            "ip",
            "-6",
            "addr",
            "add",
            "2001:db8:200:4200::1/128",
            "dev",
            "ppp0",
            "nodad",
        ],
    )
    .unwrap();
    let target = TEST_HOST6.to_string();
    let (_, text) = ping6(
        &lab,
        lab.ns_cpe(),
        &["-c", "2", "-W", "2", "-I", "2001:db8:200:4200::1", &target],
        20,
    );
    assert!(text.contains("2 received"), "{text}");
}

/// DHCPv6 Renew and Release with the real daemon: with a 4 s preferred
/// lifetime (T1 2 s) the emulated CPE renews and keeps its prefixes and
/// the data path; hanging up, it releases its delegated prefix first.
#[test]
fn dhcpv6_renew_and_release_against_the_daemon() {
    if !root_or_skip("dhcpv6_renew") {
        return;
    }
    let lab = new_lab();
    let conf = lab
        .write_file(
            "v6.toml",
            "ipv6_preferred_lifetime = 4\nipv6_valid_lifetime = 60\n",
        )
        .unwrap();
    let mut opts = classic(&lab, "");
    opts.extra = vec!["-c".into(), conf.display().to_string()];
    let bras = start_bras(&lab, &opts);
    let (mut emu, _up) = bring_up(&lab, &with_tun());
    let (addr6, pd) = up6(&emu);
    std::thread::sleep(Duration::from_secs(5));
    let binds: Vec<String> = emu
        .stdout_lines()
        .into_iter()
        .filter(|l| l.starts_with("UP6 "))
        .collect();
    assert!(binds.len() >= 3, "renewed at T1: {binds:?}");
    assert!(
        binds.iter().all(|l| l.contains(&pd) && l.contains(&addr6)),
        "the same prefixes: {binds:?}"
    );
    let target = TEST_HOST6.to_string();
    let (_, text) = ping6(&lab, lab.ns_cpe(), &["-c", "1", "-W", "2", &target], 10);
    assert!(text.contains("1 received"), "{text}");
    emu.stop(Duration::from_secs(5)).unwrap();
    assert!(
        bras.wait_stderr(
            |l| l.contains(&format!("released pd={pd}")),
            Duration::from_secs(5)
        )
        .unwrap()
        .is_some(),
        "no Release logged:\n{}",
        bras.tail(20)
    );
}
