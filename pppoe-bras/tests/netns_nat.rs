//! The carrier-grade parts of the data path, end to end in the netns lab
//! with the real daemon and the subscriber emulator (`--tun`, so the cpe
//! namespace is an ordinary host behind the PPPoE session): traceroute and
//! PMTUD through the NAT (ICMP Time Exceeded from the BRAS, RFC 5508 error
//! translation, Fragmentation Needed), MSS clamping on the wire, routed
//! mode, NAT timeouts by TCP state, port quota and 1,000 flows in one block,
//! native XDP on the lab's veths.
//!
//! Lab addresses: subscriber 172.16.0.x (pool), BRAS PPP address
//! 172.16.0.254, NAT address = uplink 198.51.100.1, test host 192.0.2.1.
mod common;

use std::{
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpStream, UdpSocket},
    os::fd::AsRawFd,
    path::Path,
    process::Command,
    time::Duration,
};

use common::*;
use pppoe_bras::lab::{self, EmuOptions, Proto, ECHO_ADDR, LOCAL_IP, TEST_HOST, UPLINK_IP};
use pppoe_bras_common::{maps::names, stats::Stat};

fn with_tun() -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

/// The daemon with the classic settings plus `toml` as a config file (`-c`)
/// and `flags`.
fn bras_with(lab: &Lab, toml: &str, flags: &[&str]) -> LabProcess {
    let mut o = classic(lab, "");
    if !toml.is_empty() {
        let p = lab.write_file("nat.toml", toml).expect("write config");
        o.extra.push("-c".to_owned());
        o.extra.push(p.display().to_string());
    }
    o.extra.extend(flags.iter().map(|s| s.to_string()));
    start_bras(lab, &o)
}

/// `bpftool -j map dump pinned`, each entry's BTF-formatted form.
fn dump(pin_dir: &Path, map: &str) -> Vec<serde_json::Value> {
    let out = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned"])
        .arg(pin_dir.join(map))
        .output()
        .expect("run bpftool");
    assert!(
        out.status.success(),
        "bpftool: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool JSON");
    v.as_array()
        .expect("array")
        .iter()
        .map(|e| e.get("formatted").cloned().unwrap_or_else(|| e.clone()))
        .collect()
}

/// One named XDP counter, summed over CPUs.
fn xdp_stat(pin_dir: &Path, stat: Stat) -> u64 {
    dump(pin_dir, names::STATS)
        .iter()
        .filter(|e| e["key"].as_u64() == Some(stat as u64))
        .flat_map(|e| e["values"].as_array().cloned().unwrap_or_default())
        .filter_map(|v| v["value"].as_u64())
        .sum()
}

/// The non-zero XDP counters, for failure messages.
fn stats_summary(pin_dir: &Path) -> String {
    Stat::ALL
        .iter()
        .map(|s| (s.name(), xdp_stat(pin_dir, *s)))
        .filter(|(_, n)| *n > 0)
        .map(|(name, n)| format!("{name}={n}"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// One `NAT_OUT` row: (proto, inside addr, inside port, public addr, public port).
type NatRow = (u8, Ipv4Addr, u16, Ipv4Addr, u16);

fn nat_rows(pin_dir: &Path) -> Vec<NatRow> {
    let addr = |v: &serde_json::Value| {
        let o: Vec<u8> = v
            .as_array()
            .expect("addr array")
            .iter()
            .map(|b| b.as_u64().expect("byte") as u8)
            .collect();
        Ipv4Addr::new(o[0], o[1], o[2], o[3])
    };
    dump(pin_dir, names::NAT_OUT)
        .iter()
        .map(|e| {
            let (k, v) = (&e["key"], &e["value"]);
            (
                k["proto"].as_u64().unwrap() as u8,
                addr(&k["addr"]),
                k["port"].as_u64().unwrap() as u16,
                addr(&v["addr"]),
                v["port"].as_u64().unwrap() as u16,
            )
        })
        .collect()
}

/// `(public address, first port, last port)` from the daemon's
/// `session 0x.... address=... nat=IP:FIRST-LAST` line.
fn nat_block_in_log(bras: &LabProcess, session: u16) -> (Ipv4Addr, u16, u16) {
    let sid = format!("session {session:#06x} ");
    let line = bras
        .wait_stderr(
            |l| l.contains(&sid) && l.contains(" nat="),
            Duration::from_secs(5),
        )
        .expect("wait for log")
        .unwrap_or_else(|| panic!("no nat= line; log:\n{}", bras.tail(30)));
    let nat = line
        .split_whitespace()
        .find_map(|w| w.strip_prefix("nat="))
        .expect("nat= field");
    let (ip, range) = nat.split_once(':').expect("IP:range");
    let (a, b) = range.split_once('-').expect("first-last");
    (ip.parse().unwrap(), a.parse().unwrap(), b.parse().unwrap())
}

fn setsockopt_int(fd: i32, level: i32, name: i32, value: i32) {
    // Safety: valid fd and a pointer to a live c_int of the size passed.
    let rc = unsafe {
        libc::setsockopt(
            fd,
            level,
            name,
            &value as *const i32 as *const libc::c_void,
            std::mem::size_of::<i32>() as libc::socklen_t,
        )
    };
    assert_eq!(rc, 0, "setsockopt: {}", std::io::Error::last_os_error());
}

fn getsockopt_int(fd: i32, level: i32, name: i32) -> i32 {
    let mut v: i32 = 0;
    let mut len = std::mem::size_of::<i32>() as libc::socklen_t;
    // Safety: valid fd; v and len live for the call.
    let rc = unsafe {
        libc::getsockopt(
            fd,
            level,
            name,
            &mut v as *mut i32 as *mut libc::c_void,
            &mut len,
        )
    };
    assert_eq!(rc, 0, "getsockopt: {}", std::io::Error::last_os_error());
    v
}

/// traceroute through the NAT: hop 1 is the BRAS (ICMP Time Exceeded from
/// the PPP address, sent by XDP back through the session), hop 2 the test
/// host, whose ICMP Port Unreachable comes back translated (RFC 5508) so
/// the subscriber's connected UDP socket sees ECONNREFUSED.
#[test]
fn traceroute_through_the_nat() {
    if !root_or_skip("traceroute_through_the_nat") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    let dst = TEST_HOST.to_string();

    // Hop 1.
    let out = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-n", "-c", "1", "-t", "1", "-W", "2", &dst],
        )
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("From {LOCAL_IP}")) && text.contains("Time to live exceeded"),
        "ping -t 1 must be answered by the BRAS ({LOCAL_IP}):\n{text}\nxdp: {}",
        stats_summary(lab.pin_dir())
    );
    assert!(xdp_stat(lab.pin_dir(), Stat::AccessTxTimeExceeded) >= 1);

    // Hop 2 answers: with TTL 2 the echo request reaches the host.
    let out = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-n", "-c", "1", "-t", "2", "-W", "2", &dst],
        )
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("1 received"), "ping -t 2:\n{text}");

    // Hop 2 with a UDP probe (traceroute's default): Port Unreachable,
    // translated back to the subscriber's socket.
    let res = lab::in_netns(lab.ns_cpe(), move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.set_ttl(2)?;
        s.connect(SocketAddrV4::new(TEST_HOST, 33434))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.send(b"traceroute probe")?;
        let mut buf = [0u8; 64];
        Ok(s.recv(&mut buf).map_err(|e| e.kind()))
    })
    .expect("probe");
    assert_eq!(
        res.unwrap_err(),
        std::io::ErrorKind::ConnectionRefused,
        "the translated Port Unreachable reaches the probing socket"
    );
    assert!(xdp_stat(lab.pin_dir(), Stat::DownIcmpError) >= 1);
}

/// PMTUD through the NAT: the session's MTU is 1400 (the emulator's MRU);
/// a 1450-byte DF datagram from the test host to the subscriber's public
/// endpoint is answered with Fragmentation Needed (next-hop MTU 1400), the
/// test host's kernel learns the path MTU, and 1400-byte datagrams get through.
#[test]
fn pmtud_through_the_nat() {
    if !root_or_skip("pmtud_through_the_nat") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    let mut o = with_tun();
    o.mru = Some(1400);
    let (_emu, up) = bring_up(&lab, &o);
    assert!(session_up_log(&bras, up.session).contains("mtu=1400"));

    let host = SocketAddrV4::new(TEST_HOST, 9999);
    let server = lab::in_netns(lab.ns_inet(), move || Ok(UdpSocket::bind(host)?)).unwrap();
    let sub = lab::in_netns(lab.ns_cpe(), move || {
        let s = UdpSocket::bind("0.0.0.0:0")?;
        s.send_to(b"open the mapping", host)?;
        Ok(s)
    })
    .unwrap();
    server
        .set_read_timeout(Some(Duration::from_secs(3)))
        .unwrap();
    let mut buf = vec![0u8; 2000];
    let (_, from) = server
        .recv_from(&mut buf)
        .expect("datagram through the NAT");
    assert_eq!(from.ip(), std::net::IpAddr::from(UPLINK_IP));
    server.connect(from).unwrap();
    let fd = server.as_raw_fd();
    setsockopt_int(
        fd,
        libc::IPPROTO_IP,
        libc::IP_MTU_DISCOVER,
        libc::IP_PMTUDISC_DO,
    );
    // Too big for the session: never reaches the subscriber; the BRAS says
    // Fragmentation Needed and the kernel lowers the route's MTU.
    let _ = server.send(&[1u8; 1450 - 28]);
    assert!(
        eventually(Duration::from_secs(3), || getsockopt_int(
            fd,
            libc::IPPROTO_IP,
            libc::IP_MTU
        ) == 1400),
        "path MTU learnt from the BRAS: {}; xdp: {}",
        getsockopt_int(fd, libc::IPPROTO_IP, libc::IP_MTU),
        stats_summary(lab.pin_dir())
    );
    let err = server.send(&[1u8; 1450 - 28]).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(libc::EMSGSIZE), "{err}");
    assert!(xdp_stat(lab.pin_dir(), Stat::UplinkTxFragNeeded) >= 1);
    // Exactly the path MTU fits (a pending EMSGSIZE from the ICMP error
    // may be reported once more first).
    let sent = (0..3).any(|_| server.send(&[2u8; 1400 - 28]).is_ok());
    assert!(sent, "1400-byte datagram refused");
    sub.set_read_timeout(Some(Duration::from_secs(3))).unwrap();
    let n = sub.recv(&mut buf).expect("1400-byte datagram delivered");
    assert_eq!(n, 1400 - 28);
    assert!(buf[..n].iter().all(|b| *b == 2));
}

/// MSS clamping seen on the wire: the subscriber's TUN gets MTU 1500 (so
/// its SYN offers 1460) and the test host offers 1460 too; across the
/// 1492-byte session both see 1452.
#[test]
fn mss_clamped_on_the_wire() {
    if !root_or_skip("mss_clamped_on_the_wire") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    lab.exec_ok(lab.ns_cpe(), &["ip", "link", "set", "ppp0", "mtu", "1500"])
        .expect("raise the TUN MTU");
    let inet = lab
        .tcpdump(lab.ns_inet(), lab.inet_if(), &scratch(&lab, "inet.pcap"))
        .expect("tcpdump inet");
    let cpe = lab
        .tcpdump(lab.ns_cpe(), "ppp0", &scratch(&lab, "cpe.pcap"))
        .expect("tcpdump cpe");
    lab::tcp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"mss",
        Duration::from_secs(5),
    )
    .expect("TCP round trip");
    let inet = inet.stop().expect("stop");
    let cpe = cpe.stop().expect("stop");
    let syn = lab::tshark_fields(
        &inet,
        "tcp.flags.syn == 1 && tcp.flags.ack == 0",
        &["ip.src", "tcp.options.mss_val"],
    )
    .expect("tshark");
    assert_eq!(
        syn,
        vec![vec![UPLINK_IP.to_string(), "1452".to_owned()]],
        "SYN at the test host"
    );
    let syn_ack = lab::tshark_fields(
        &cpe,
        "tcp.flags.syn == 1 && tcp.flags.ack == 1",
        &["ip.src", "tcp.options.mss_val"],
    )
    .expect("tshark");
    assert_eq!(
        syn_ack,
        vec![vec![TEST_HOST.to_string(), "1452".to_owned()]],
        "SYN-ACK at the subscriber"
    );
}

/// `nat = false` (`--no-nat`): routed mode. The subscriber's own address
/// reaches the test host (which routes the pool back to the BRAS).
#[test]
fn routed_mode_without_nat() {
    if !root_or_skip("routed_mode_without_nat") {
        return;
    }
    let lab = new_lab();
    lab.exec_ok(
        lab.ns_inet(),
        &[
            "ip",
            "route",
            "add",
            "172.16.0.0/24",
            "via",
            &UPLINK_IP.to_string(),
        ],
    )
    .expect("route the pool to the BRAS");
    let _bras = bras_with(&lab, "", &["--no-nat"]);
    let (_emu, up) = bring_up(&lab, &with_tun());
    lab::udp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"routed",
        Duration::from_secs(3),
    )
    .expect("UDP round trip");
    let log = lab.echo_log();
    let r = log
        .iter()
        .find(|r| r.proto == Proto::Udp && r.data == b"routed")
        .expect("seen by the test host");
    assert_eq!(
        r.from.ip(),
        std::net::IpAddr::from(up.address),
        "no translation"
    );
    assert!(
        nat_rows(lab.pin_dir()).is_empty(),
        "no NAT state in routed mode"
    );
}

/// Idle timeouts by protocol and TCP state (short ones from a config
/// file): a UDP mapping and a closed TCP connection expire after 1 s (the
/// daemon sweeps every 10 s), an open, established TCP connection stays.
#[test]
fn nat_timeouts_follow_tcp_state() {
    if !root_or_skip("nat_timeouts_follow_tcp_state") {
        return;
    }
    let lab = new_lab();
    let _bras = bras_with(
        &lab,
        "nat_udp_timeout = 1\nnat_tcp_transitory_timeout = 1\nnat_tcp_timeout = 3600\n",
        &[],
    );
    let (_emu, _up) = bring_up(&lab, &with_tun());
    let echo = SocketAddr::from(ECHO_ADDR);
    lab::udp_round_trip(lab.ns_cpe(), echo, b"udp", Duration::from_secs(3)).expect("UDP");
    let mut stream = lab::in_netns(lab.ns_cpe(), move || {
        use std::io::{Read, Write};
        let mut s = TcpStream::connect_timeout(&echo, Duration::from_secs(3))?;
        s.set_read_timeout(Some(Duration::from_secs(3)))?;
        s.write_all(b"tcp")?;
        let mut b = [0u8; 3];
        s.read_exact(&mut b)?;
        Ok(s)
    })
    .expect("TCP connection");
    let protos = || -> Vec<u8> {
        let mut p: Vec<u8> = nat_rows(lab.pin_dir()).iter().map(|r| r.0).collect();
        p.sort_unstable();
        p
    };
    assert_eq!(protos(), vec![6, 17]);
    assert!(
        eventually(Duration::from_secs(25), || protos() == vec![6]),
        "UDP mapping expires, established TCP stays: {:?}",
        nat_rows(lab.pin_dir())
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(
        protos(),
        vec![6],
        "established TCP outlives the transitory timeout"
    );
    // Close: FIN both ways, the mapping becomes transitory and goes.
    stream.shutdown(std::net::Shutdown::Both).ok();
    {
        use std::io::Read;
        let mut b = [0u8; 8];
        let _ = stream.read(&mut b);
    }
    drop(stream);
    assert!(
        eventually(Duration::from_secs(25), || protos().is_empty()),
        "closed TCP connection expires after the transitory timeout: {:?}",
        nat_rows(lab.pin_dir())
    );
}

/// 1,000 UDP flows from one session: 1,000 mappings, every public port
/// inside the session's block (as logged at session start), none dropped.
#[test]
fn a_thousand_flows_stay_in_the_session_block() {
    if !root_or_skip("a_thousand_flows") {
        return;
    }
    let lab = new_lab();
    let bras = bras_with(&lab, "port_block_size = 2048\n", &[]);
    let (_emu, up) = bring_up(&lab, &with_tun());
    let (ip, first, last) = nat_block_in_log(&bras, up.session);
    assert_eq!((ip, last - first + 1), (UPLINK_IP, 2048));
    let sent = lab::in_netns(lab.ns_cpe(), move || {
        let mut n = 0;
        for i in 0..1000u16 {
            let s = UdpSocket::bind(("0.0.0.0", 20000 + i))?;
            s.send_to(b"flow", SocketAddr::from(ECHO_ADDR))?;
            n += 1;
            // Paced: the emulator reads the TUN device in userspace, and
            // the TUN queue (500 packets) overflows on a burst.
            if i % 20 == 19 {
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(n)
    })
    .expect("send");
    assert_eq!(sent, 1000);
    let mine = || -> Vec<NatRow> {
        nat_rows(lab.pin_dir())
            .into_iter()
            .filter(|r| r.0 == 17 && r.1 == up.address && (20000..21000).contains(&r.2))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(5), || mine().len() == 1000),
        "{} of 1000 mappings; xdp: {}",
        mine().len(),
        stats_summary(lab.pin_dir())
    );
    let rows = mine();
    for r in &rows {
        assert_eq!(r.3, ip, "{r:?}: paired pooling, one address");
        assert!(
            (first..=last).contains(&r.4),
            "{r:?} outside {first}-{last}"
        );
    }
    let mut ports: Vec<u16> = rows.iter().map(|r| r.4).collect();
    ports.sort_unstable();
    ports.dedup();
    assert_eq!(ports.len(), 1000, "no port shared by two mappings");
    assert_eq!(xdp_stat(lab.pin_dir(), Stat::DropNoNatPort), 0);
}

/// A full port block drops new flows (never evicts, RFC 6888) and the
/// daemon says so in its log within one sweep.
#[test]
fn port_quota_exhaustion_is_logged() {
    if !root_or_skip("port_quota_exhaustion_is_logged") {
        return;
    }
    let lab = new_lab();
    let bras = bras_with(&lab, "port_block_size = 4\n", &[]);
    let (_emu, _up) = bring_up(&lab, &with_tun());
    lab::in_netns(lab.ns_cpe(), move || {
        for i in 0..8u16 {
            let s = UdpSocket::bind(("0.0.0.0", 21000 + i))?;
            s.send_to(b"flow", SocketAddr::from(ECHO_ADDR))?;
        }
        Ok(())
    })
    .expect("send");
    assert!(eventually(Duration::from_secs(3), || xdp_stat(
        lab.pin_dir(),
        Stat::DropNoNatPort
    ) >= 4));
    let line = bras
        .wait_stderr(|l| l.contains("NAT port quota"), Duration::from_secs(15))
        .expect("wait for log");
    assert!(line.is_some(), "no quota log line:\n{}", bras.tail(20));
}

/// `xdp_mode = "auto"` (the default) attaches natively on the lab's veths
/// (their peers have GRO on, so XDP_REDIRECT into them delivers), and the
/// daemon logs which mode it got; traffic flows.
#[test]
fn auto_mode_is_native_on_the_lab_veths() {
    if !root_or_skip("auto_mode_is_native") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    for prog in ["bras_access", "bras_uplink"] {
        assert!(
            bras.stderr_lines()
                .iter()
                .any(|l| l.contains(prog) && l.contains("in native mode")),
            "{prog} not native:\n{}",
            bras.tail(20)
        );
    }
    let (_emu, _up) = bring_up(&lab, &with_tun());
    lab::udp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"native",
        Duration::from_secs(3),
    )
    .expect("UDP round trip in native mode");
}

/// Hairpinning between two subscribers is covered by the PROG_TEST_RUN
/// fixtures (`hairpin_between_two_subscribers`); here: a subscriber that
/// sends to its own public address and mapped port gets it back.
#[test]
fn hairpin_to_own_public_endpoint() {
    if !root_or_skip("hairpin_to_own_public_endpoint") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());
    let got = lab::in_netns(lab.ns_cpe(), move || {
        let a = UdpSocket::bind("0.0.0.0:0")?;
        let b = UdpSocket::bind("0.0.0.0:0")?;
        b.set_read_timeout(Some(Duration::from_secs(3)))?;
        // Learn b's public endpoint from the test host's echo: open b's
        // mapping, then a sends to it.
        let mut buf = [0u8; 64];
        b.send_to(b"open", SocketAddr::from(ECHO_ADDR))?;
        let _ = b.recv(&mut buf);
        Ok((a, b))
    })
    .and_then(|(a, b)| {
        let log = lab.echo_log();
        let from = log
            .iter()
            .find(|r| r.proto == Proto::Udp && r.data == b"open")
            .map(|r| r.from)
            .ok_or_else(|| anyhow::anyhow!("no echo record"))?;
        a.send_to(b"hairpin", from)?;
        let mut buf = [0u8; 64];
        let (n, src) = b.recv_from(&mut buf)?;
        Ok((buf[..n].to_vec(), src))
    })
    .unwrap_or_else(|e| panic!("hairpin: {e:#}; xdp: {}", stats_summary(lab.pin_dir())));
    assert_eq!(got.0, b"hairpin");
    assert_eq!(
        got.1.ip(),
        std::net::IpAddr::from(UPLINK_IP),
        "seen from the public address"
    );
}

/// When NAT capacity (public addresses × port blocks) is used up, a new
/// session is ended cleanly with a log line that says what to change,
/// instead of staying up without a data path; the sessions that fit keep
/// working.
#[test]
fn session_beyond_nat_capacity_is_terminated_with_a_reason() {
    if !root_or_skip("session_beyond_nat_capacity") {
        return;
    }
    let lab = new_lab();
    // One block: 1024–32767 (the host's ephemeral range starts at 32768 and
    // 61000–65535 is too short for another).
    let bras = bras_with(&lab, "port_block_size = 31744\nfirst_port = 1024\n", &[]);
    let (_first, up) = bring_up(&lab, &with_tun());
    let mut second = EmuOptions::user("testuser2");
    second.auth = Some("chap".to_owned());
    second.sessions = Some(2); // a distinct MAC beside the interface's own
    let emu = start_emu(&lab, &second);
    let line = bras
        .wait_stderr(|l| l.contains("no data path"), Duration::from_secs(20))
        .expect("wait for log");
    let line = line.unwrap_or_else(|| panic!("no capacity log line:\n{}", bras.tail(30)));
    assert!(line.contains("port_block_size"), "{line}");
    let down = emu
        .wait_stdout(|l| l.starts_with("DOWN "), Duration::from_secs(20))
        .expect("wait for DOWN");
    assert!(
        down.is_some(),
        "the refused session did not end:\n{}",
        emu.tail(20)
    );
    // The session that fit still reaches the test host.
    lab::udp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"still-here",
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| {
        panic!(
            "session {:#06x} lost its data path: {e}\n{}",
            up.session,
            bras.tail(40)
        )
    });
}
