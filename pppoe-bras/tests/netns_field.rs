//! Field-ready IPv4 in the netns lab: the access segment is sealed against a
//! host that is not a subscriber, the gateway address answers ping, and
//! subscribers reach each other by inside address (or not, when isolated).
//!
//! The second subscriber of the subscriber-to-subscriber test lives in a
//! namespace of its own (`<lab>-cpe2`), on a macvlan of the cpe veth: the
//! same access segment, another MAC and another IP stack, so a ping between
//! the two TUN addresses really crosses the BRAS.
mod common;

use std::{path::Path, process::Command, time::Duration};

use common::*;
use pppoe_bras::lab::{INET_PEER_IP, LOCAL_IP, UPLINK_IP};

fn with_tun(user: &str) -> EmuOptions {
    let mut o = EmuOptions::user(user);
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

/// One `name value` line of `pppoe-bras stats`.
fn stat(lab: &Lab, name: &str) -> u64 {
    let out = Command::new(bin())
        .arg("stats")
        .arg("--control-socket")
        .arg(lab.control_socket())
        .output()
        .expect("run stats");
    let text = String::from_utf8_lossy(&out.stdout);
    text.lines()
        .find_map(|l| {
            let (n, v) = l.split_once(' ')?;
            (n == name).then(|| v.trim().parse().ok()).flatten()
        })
        .unwrap_or_else(|| panic!("no {name} in stats:\n{text}"))
}

const HOSTILE_PY: &str = r#"
import sys, time
from scapy.all import Ether, Raw, sendp, AsyncSniffer
from scapy.layers.inet import IP, ICMP, UDP
from scapy.layers.inet6 import IPv6, ICMPv6EchoRequest
iface, bras_mac, src_ip, dst_ip, uplink_ip = sys.argv[1:6]
own = open(f"/sys/class/net/{iface}/address").read().strip()
sn = AsyncSniffer(iface=iface, filter=f"ether dst {own} and not ether proto 0x8863 and not ether proto 0x8864")
sn.start()
time.sleep(0.3)
frames = [
    # Routed through the BRAS to the inet side: must never arrive there.
    Ether(src=own, dst=bras_mac) / IP(src=src_ip, dst=dst_ip, ttl=64) / ICMP(id=0x77, seq=1) / Raw(b"hostile"),
    Ether(src=own, dst=bras_mac) / IP(src=src_ip, dst=dst_ip) / UDP(sport=4000, dport=7) / Raw(b"hostile-udp"),
    # To the BRAS itself (its uplink address): must not be answered.
    Ether(src=own, dst=bras_mac) / IP(src=src_ip, dst=uplink_ip, ttl=64) / ICMP(id=0x78, seq=1),
    # IPv6 to the BRAS MAC and to all nodes.
    Ether(src=own, dst=bras_mac) / IPv6(src="fe80::99", dst="2001:db8::1") / ICMPv6EchoRequest(),
    Ether(src=own, dst="33:33:00:00:00:01") / IPv6(src="fe80::99", dst="ff02::1") / ICMPv6EchoRequest(),
]
sendp(frames, iface=iface, count=3, inter=0.05, verbose=False)
time.sleep(1.0)
got = sn.stop()
print("ANSWERS", len(got))
"#;

/// A host on the subscriber segment that is not a subscriber (no PPPoE,
/// static neighbour for the BRAS MAC, as the issue's reproduction) sends
/// plain IPv4 towards the inet side and to the BRAS's own address, and
/// IPv6: nothing arrives in inet, nothing answers, every frame is counted.
#[test]
fn hostile_host_on_the_access_segment_reaches_nothing() {
    if !root_or_skip("hostile_host") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    // A live session alongside: it must be unharmed.
    let (_emu, _up) = bring_up(&lab, &with_tun("testuser1"));
    let bras_mac = lab.mac_of(lab.ns_bras(), lab.access_if()).unwrap();
    let cap = lab
        .tcpdump(lab.ns_inet(), lab.inet_if(), &scratch(&lab, "inet.pcap"))
        .expect("tcpdump");
    let before = stat(&lab, "xdp.drop_access_not_pppoe");
    let fwd = lab
        .exec_ok(
            lab.ns_bras(),
            &[
                "cat",
                &format!("/proc/sys/net/ipv4/conf/{}/forwarding", lab.access_if()),
            ],
        )
        .unwrap();
    assert_eq!(fwd.trim(), "0", "forwarding off on the access NIC");

    let out = lab
        .exec_ok(
            lab.ns_cpe(),
            &[
                python(),
                "-c",
                HOSTILE_PY,
                lab.cpe_if(),
                &bras_mac,
                "10.99.0.2",
                &INET_PEER_IP.to_string(),
                &UPLINK_IP.to_string(),
            ],
        )
        .expect("scapy");
    assert!(out.contains("ANSWERS 0"), "the BRAS answered: {out}");
    let file = cap.stop().expect("stop tcpdump");
    let leaked = pppoe_bras::lab::tshark_fields(
        &file,
        "ip.src == 10.99.0.2 || ipv6.src == fe80::99",
        &["frame.number"],
    )
    .expect("tshark");
    assert!(leaked.is_empty(), "hostile frames reached inet: {leaked:?}");
    let dropped = stat(&lab, "xdp.drop_access_not_pppoe") - before;
    assert!(dropped >= 15, "5 kinds × 3 frames counted, got {dropped}");

    // The subscriber's own traffic still flows.
    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "2", "-W", "2", "192.0.2.1"])
        .expect("ping");
    assert!(String::from_utf8_lossy(&ping.stdout).contains("2 received"));
}

/// `ping 172.16.0.254` (the IPCP local address) from the subscriber is
/// answered, as pppd's ppp0 address is; a UDP datagram to it gets ICMP
/// Port Unreachable (a connected socket sees ECONNREFUSED) and nothing of
/// it reaches the uplink.
#[test]
fn gateway_address_answers_the_subscriber() {
    if !root_or_skip("gateway_answers") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let cap = lab
        .tcpdump(lab.ns_inet(), lab.inet_if(), &scratch(&lab, "inet.pcap"))
        .expect("tcpdump");
    let (_emu, _up) = bring_up(&lab, &with_tun("testuser1"));
    let out = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-c", "3", "-W", "2", &LOCAL_IP.to_string()],
        )
        .expect("ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("3 received"), "ping the gateway:\n{text}");
    assert!(stat(&lab, "xdp.access_tx_echo_reply") >= 3);

    let refused = pppoe_bras::lab::in_netns(lab.ns_cpe(), || {
        let s = std::net::UdpSocket::bind("0.0.0.0:0")?;
        s.connect((LOCAL_IP, 9))?;
        s.set_read_timeout(Some(Duration::from_secs(2)))?;
        s.send(b"anyone?")?;
        let mut buf = [0u8; 16];
        Ok(s.recv(&mut buf)
            .err()
            .is_some_and(|e| e.kind() == std::io::ErrorKind::ConnectionRefused))
    })
    .expect("udp in cpe");
    assert!(refused, "ICMP Port Unreachable from the gateway");
    let file = cap.stop().expect("stop tcpdump");
    let leaked =
        pppoe_bras::lab::tshark_fields(&file, &format!("ip.addr == {LOCAL_IP}"), &["ip.src"])
            .expect("tshark");
    assert!(
        leaked.is_empty(),
        "gateway traffic on the uplink: {leaked:?}"
    );
}

/// A second subscriber in its own namespace on the same segment.
struct Cpe2<'a> {
    lab: &'a Lab,
    ns: String,
}

impl<'a> Cpe2<'a> {
    fn new(lab: &'a Lab) -> Self {
        let ns = format!("{}-cpe2", lab.id());
        let run = |args: &[&str]| {
            let out = Command::new("ip").args(args).output().expect("ip");
            assert!(
                out.status.success(),
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            );
        };
        run(&["netns", "add", &ns]);
        let cpe2 = Cpe2 { lab, ns };
        let ns = cpe2.ns.as_str();
        run(&[
            "-n",
            lab.ns_cpe(),
            "link",
            "add",
            "link",
            lab.cpe_if(),
            "name",
            "mv2",
            "type",
            "macvlan",
            "mode",
            "bridge",
        ]);
        run(&["-n", lab.ns_cpe(), "link", "set", "mv2", "netns", ns]);
        run(&["-n", ns, "link", "set", "lo", "up"]);
        run(&["-n", ns, "link", "set", "mv2", "up"]);
        cpe2
    }

    fn emulator(&self, user: &str) -> LabProcess {
        let mut c = Command::new(bin());
        c.args(["emulate", "--netns", &self.ns, "-I", "mv2"])
            .args(["--user", user, "--password", "password", "--auth", "chap"])
            .args(["--tun", "ppp1", "--default-route", "--timeout", "60"]);
        c.env("RUST_LOG", "info");
        let p = LabProcess::spawn("emu2", c).expect("emulator 2");
        p.wait_up(UP_TIMEOUT).expect("second subscriber up");
        p
    }
}

impl Drop for Cpe2<'_> {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = self.lab;
    }
}

fn ping_between(lab: &Lab, to: std::net::Ipv4Addr) -> String {
    let out = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-c", "3", "-W", "2", &to.to_string()],
        )
        .expect("ping");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Subscriber A pings subscriber B's inside address: the echo goes PPPoE to
/// PPPoE through the BRAS (B's stack answers) and never leaves through the
/// uplink; with `isolate_subscribers = true` it is dropped and counted.
#[test]
fn subscribers_reach_each_other_unless_isolated() {
    if !root_or_skip("subscriber_to_subscriber") {
        return;
    }
    for isolate in [false, true] {
        let lab = new_lab();
        let mut opts = classic(&lab, "");
        let conf = lab
            .write_file(
                "isolate.toml",
                &format!("isolate_subscribers = {isolate}\n"),
            )
            .unwrap();
        opts.extra
            .extend(["-c".to_owned(), conf.display().to_string()]);
        let _bras = start_bras(&lab, &opts);
        let cap = lab
            .tcpdump(lab.ns_inet(), lab.inet_if(), &scratch(&lab, "inet.pcap"))
            .expect("tcpdump");
        let (_emu, a) = bring_up(&lab, &with_tun("testuser1"));
        let cpe2 = Cpe2::new(&lab);
        let emu2 = cpe2.emulator("testuser2");
        let b = emu2.wait_up(Duration::from_secs(1)).unwrap();
        assert_ne!(a.address, b.address);
        let text = ping_between(&lab, b.address);
        if isolate {
            assert!(text.contains(" 0 received"), "isolated:\n{text}");
            assert!(stat(&lab, "xdp.drop_isolated") >= 3);
        } else {
            assert!(text.contains("3 received"), "A → B:\n{text}");
            assert!(stat(&lab, "xdp.up_subscriber") >= 6, "both ways");
        }
        // A free pool address is never sent upstream.
        let free = "172.16.0.150";
        let _ = lab.exec(lab.ns_cpe(), &["ping", "-c", "1", "-W", "1", free]);
        assert!(stat(&lab, "xdp.drop_inside_no_subscriber") >= 1);
        let file = cap.stop().expect("stop tcpdump");
        let leaked = pppoe_bras::lab::tshark_fields(
            &file,
            &format!("ip.addr == {} || ip.addr == {free}", b.address),
            &["ip.src"],
        )
        .expect("tshark");
        assert!(
            leaked.is_empty(),
            "inside address on the uplink: {leaked:?}"
        );
        drop(emu2);
        drop(cpe2);
        let _ = Path::new("");
    }
}

/// Secrets the way pppd takes them, through the real daemon: a line
/// continued with a backslash logs in with its static address, a `-`
/// address refuses the login (the secret was right), and a Peer-ID with a
/// newline and an escape character is one log line, escaped.
#[test]
fn pppd_secrets_forms_and_escaped_peer_ids() {
    if !root_or_skip("pppd_secrets_forms") {
        return;
    }
    let lab = new_lab();
    let extra = "# continued over two lines, as pppd allows\n\
                 contuser * \\\n  \"password\" 172.16.0.120\n\
                 noaddr * \"password\" -\n";
    let bras = start_bras(&lab, &classic(&lab, extra));
    let (mut emu, up) = bring_up(&lab, &EmuOptions::user("contuser"));
    assert_eq!(up.address.to_string(), "172.16.0.120");
    emu.stop(Duration::from_secs(5)).unwrap();

    let mut o = EmuOptions::user("noaddr");
    o.timeout_secs = Some(5);
    let mut emu = start_emu(&lab, &o);
    let refused = bras
        .wait_stderr(
            |l| l.contains("user=noaddr") && l.contains("no-address-allowed"),
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(refused.is_some(), "`-` refused:\n{}", bras.tail(20));
    let _ = emu.stop(Duration::from_secs(5));

    let mut o = EmuOptions::user("evil\nsession 0x9999 forged up\x1b[2J");
    o.timeout_secs = Some(5);
    let mut emu = start_emu(&lab, &o);
    let line = bras
        .wait_stderr(|l| l.contains("user=evil"), Duration::from_secs(10))
        .unwrap()
        .unwrap_or_else(|| panic!("no auth line:\n{}", bras.tail(20)));
    assert!(
        line.contains(r"user=evil\x0asession 0x9999 forged up\x1b[2J"),
        "{line}"
    );
    let _ = emu.stop(Duration::from_secs(5));
    assert!(
        !bras
            .stderr_lines()
            .iter()
            .any(|l| l.trim_start().starts_with("session 0x9999")),
        "a forged log line"
    );
}
