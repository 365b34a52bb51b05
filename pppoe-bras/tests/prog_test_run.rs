//! The XDP data plane driven through `BPF_PROG_TEST_RUN`, table-driven
//! (Katran fixtures / cilium PKTGEN-SETUP-CHECK style): each fixture is a
//! canned frame, the expected XDP action, the expected `STATS` counter and a
//! check of the output frame (fields and checksums, verified with etherparse).
//!
//! The programs use `bpf_fib_lookup`, which needs real interfaces and routes,
//! so each test builds a private network namespace (`pbt-<pid>-<n>`) with two
//! veth pairs, enters it on its own thread, starts the real [`Dataplane`]
//! (attached there, maps pinned under a private bpffs directory) and removes
//! everything in a `Drop` guard, even when the test panics.
//!
//! Needs root and the XDP object; skips with a message otherwise.
#![cfg(target_os = "linux")]

use std::{
    fs::File,
    net::Ipv4Addr,
    os::fd::AsRawFd,
    path::PathBuf,
    process::Command,
    sync::atomic::{AtomicU32, Ordering},
};

use etherparse::{IcmpEchoHeader, Icmpv4Type, PacketBuilder, SlicedPacket, TransportSlice};
use pppoe_bras::dataplane::{
    ebpf_object, Dataplane, DataplaneConfig, Program, SessionRow, XdpMode,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

const CLIENT: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0xfe];
const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 254);
const NO_NEIGH_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 253);
const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
const REMOTE: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// Routed via a gateway without a neighbour entry.
const REMOTE_NO_NEIGH: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 10);

// ---------------------------------------------------------------- environment

fn skip_reason() -> Option<&'static str> {
    if ebpf_object().is_none() {
        return Some("built with AYA_BUILD_SKIP=1 (no XDP object)");
    }
    // Safety: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        return Some("needs root (BPF, netns)");
    }
    None
}

macro_rules! skip_unless_able {
    () => {
        if let Some(why) = skip_reason() {
            eprintln!("skipping: {why}");
            return;
        }
    };
}

fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(
        out.status.success(),
        "ip {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A private netns entered by the current thread; restores the thread's
/// previous netns and deletes the namespace and pin dir on drop.
struct TestNet {
    name: String,
    prev: File,
    pin_dir: PathBuf,
    /// `!Send`: the netns is a property of this thread.
    _not_send: std::marker::PhantomData<*mut ()>,
}

impl TestNet {
    /// Namespace with `acc0`–`acc1` (access, the BRAS uses acc0) and
    /// `up0`–`up1` (uplink, the BRAS uses up0 = 192.0.2.1/24, default route
    /// via 192.0.2.254 with a permanent neighbour entry; 203.0.113.0/24 via
    /// 192.0.2.253, which has none).
    fn new() -> Self {
        let name = format!(
            "pbt-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        ip(&["netns", "add", &name]);
        let prev = File::open("/proc/thread-self/ns/net").expect("open own netns");
        let net = Self {
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/{name}")),
            name,
            prev,
            _not_send: std::marker::PhantomData,
        };
        let n = net.name.as_str();
        for cmd in [
            "link add acc0 type veth peer name acc1",
            "link add up0 type veth peer name up1",
            "link set lo up",
            "link set acc0 up",
            "link set acc1 up",
            "link set up0 up",
            "link set up1 up",
            "addr add 192.0.2.1/24 dev up0",
            "neigh add 192.0.2.254 lladdr 02:00:00:00:02:fe dev up0 nud permanent",
            "route add default via 192.0.2.254 dev up0",
            "route add 203.0.113.0/24 via 192.0.2.253 dev up0",
        ] {
            let mut args = vec!["-n", n];
            args.extend(cmd.split(' '));
            ip(&args);
        }
        let f = File::open(format!("/var/run/netns/{n}")).expect("open netns");
        // Safety: valid netns fd; affects only this thread.
        let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
        assert_eq!(rc, 0, "setns: {}", std::io::Error::last_os_error());
        net
    }

    fn ifindex(&self, name: &str) -> u32 {
        let c = std::ffi::CString::new(name).unwrap();
        // Safety: valid C string.
        let i = unsafe { libc::if_nametoindex(c.as_ptr()) };
        assert_ne!(i, 0, "no interface {name}");
        i
    }

    fn config(&self) -> DataplaneConfig {
        let mut cfg = DataplaneConfig::new("acc0", "up0");
        cfg.pin_dir = self.pin_dir.clone();
        cfg.xdp_mode = XdpMode::Generic;
        cfg
    }
}

impl Drop for TestNet {
    fn drop(&mut self) {
        // Safety: fd of the thread's original netns.
        unsafe { libc::setns(self.prev.as_raw_fd(), libc::CLONE_NEWNET) };
        let _ = Command::new("ip")
            .args(["netns", "del", &self.name])
            .status();
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

// ------------------------------------------------------------------- frames

/// Ethernet (+ tags) + PPPoE session header + PPP protocol + payload.
fn pppoe(
    src: [u8; 6],
    dst: [u8; 6],
    tags: &[(u16, u16)],
    sid: u16,
    proto: u16,
    payload: &[u8],
) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    for (tpid, vid) in tags {
        f.extend_from_slice(&tpid.to_be_bytes());
        f.extend_from_slice(&vid.to_be_bytes());
    }
    f.extend_from_slice(&0x8864u16.to_be_bytes());
    f.extend_from_slice(&[0x11, 0x00]);
    f.extend_from_slice(&sid.to_be_bytes());
    f.extend_from_slice(&((payload.len() + 2) as u16).to_be_bytes());
    f.extend_from_slice(&proto.to_be_bytes());
    f.extend_from_slice(payload);
    f
}

fn eth_ipv4(src: [u8; 6], dst: [u8; 6], packet: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x0800u16.to_be_bytes());
    f.extend_from_slice(packet);
    f
}

fn udp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl).udp(sport, dport);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn tcp(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl)
        .tcp(sport, dport, 1000, 65535)
        .syn();
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn echo(src: Ipv4Addr, dst: Ipv4Addr, ttl: u8, request: bool, id: u16, seq: u16) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl);
    let b = if request {
        b.icmpv4_echo_request(id, seq)
    } else {
        b.icmpv4(Icmpv4Type::EchoReply(IcmpEchoHeader { id, seq }))
    };
    let mut v = Vec::new();
    b.write(&mut v, b"ping-payload").unwrap();
    v
}

/// Parsed view of an IPv4 packet: (src, dst, ttl, L4 (src port/id, dst port/id)),
/// after asserting every checksum is valid.
struct Ipv4View {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    sport: u16,
    dport: u16,
}

fn check_ipv4(packet: &[u8]) -> Ipv4View {
    let p = SlicedPacket::from_ip(packet).expect("output IPv4 parses");
    let Some(etherparse::NetSlice::Ipv4(v4)) = &p.net else {
        panic!("not IPv4");
    };
    let h = v4.header();
    let hdr = h.to_header();
    assert_eq!(
        hdr.calc_header_checksum(),
        hdr.header_checksum,
        "IPv4 header checksum"
    );
    let payload = v4.payload().payload;
    let (sport, dport) = match &p.transport {
        Some(TransportSlice::Udp(u)) => {
            let c = u.to_header().calc_checksum_ipv4(&hdr, u.payload()).unwrap();
            assert_eq!(c, u.checksum(), "UDP checksum");
            (u.source_port(), u.destination_port())
        }
        Some(TransportSlice::Tcp(t)) => {
            let c = t.to_header().calc_checksum_ipv4(&hdr, t.payload()).unwrap();
            assert_eq!(c, t.checksum(), "TCP checksum");
            (t.source_port(), t.destination_port())
        }
        Some(TransportSlice::Icmpv4(i)) => {
            let hdr4 = i.header();
            let c = hdr4.icmp_type.calc_checksum(i.payload());
            assert_eq!(c, hdr4.checksum, "ICMP checksum");
            let id = match hdr4.icmp_type {
                Icmpv4Type::EchoRequest(e) | Icmpv4Type::EchoReply(e) => e.id,
                ref t => panic!("unexpected ICMP {t:?}"),
            };
            (id, id)
        }
        ref t => panic!("unexpected transport {t:?} ({} bytes)", payload.len()),
    };
    Ipv4View {
        src: h.source_addr(),
        dst: h.destination_addr(),
        ttl: h.ttl(),
        sport,
        dport,
    }
}

// ---------------------------------------------------------------- harness

struct Bench {
    net: TestNet,
    dp: Dataplane,
    acc: u32,
    up: u32,
    acc_mac: [u8; 6],
    up_mac: [u8; 6],
}

impl Bench {
    fn new(tweak: impl FnOnce(&mut DataplaneConfig)) -> Self {
        let net = TestNet::new();
        let mut cfg = net.config();
        tweak(&mut cfg);
        let dp = Dataplane::start(&cfg).expect("data plane starts");
        let acc = net.ifindex("acc0");
        let up = net.ifindex("up0");
        let acc_mac = read_mac("acc0");
        let up_mac = read_mac("up0");
        Self {
            net,
            dp,
            acc,
            up,
            acc_mac,
            up_mac,
        }
    }

    fn row(&self, sid: u16, vlans: (u16, u16), tpid: u16) -> SessionRow {
        SessionRow {
            vlans,
            outer_tpid: tpid,
            client_mac: CLIENT,
            bras_mac: self.acc_mac,
            session_id: sid,
            address: SUB,
            mtu: 1492,
        }
    }

    fn stat(&self, name: &str) -> u64 {
        self.dp
            .stats()
            .into_iter()
            .find(|(n, _)| *n == name)
            .unwrap_or_else(|| panic!("no stat {name}"))
            .1
    }

    /// Run `prog` on `frame`, assert the action and that `stat` grew by one.
    fn run(&mut self, prog: Program, frame: &[u8], action: u32, stat: &str) -> Vec<u8> {
        let before = self.stat(stat);
        let ifindex = if prog == Program::Access {
            self.acc
        } else {
            self.up
        };
        let out = self.dp.test_run(prog, frame, ifindex, 1).expect("test_run");
        assert_eq!(out.action, action, "XDP action (stat {stat})");
        assert_eq!(self.stat(stat), before + 1, "counter {stat}");
        out.frame
    }
}

/// MAC via the dataplane helper, which reads sysfs; sysfs shows the mounting
/// netns, so read it through `ip -j` here instead.
fn read_mac(ifname: &str) -> [u8; 6] {
    let out = Command::new("ip")
        .args(["-br", "link", "show", ifname])
        .output()
        .unwrap();
    let s = String::from_utf8_lossy(&out.stdout);
    let mac = s.split_whitespace().nth(2).expect("mac column");
    let mut m = [0u8; 6];
    for (b, p) in m.iter_mut().zip(mac.split(':')) {
        *b = u8::from_str_radix(p, 16).unwrap();
    }
    m
}

/// Strip Ethernet + `tags` tags + PPPoE + PPP, checking each header.
fn check_pppoe<'a>(frame: &'a [u8], bras_mac: [u8; 6], tags: &[(u16, u16)], sid: u16) -> &'a [u8] {
    assert_eq!(&frame[0..6], &CLIENT, "dst = client MAC");
    assert_eq!(&frame[6..12], &bras_mac, "src = BRAS MAC");
    let mut o = 12;
    for (tpid, vid) in tags {
        assert_eq!(u16::from_be_bytes([frame[o], frame[o + 1]]), *tpid, "TPID");
        assert_eq!(
            u16::from_be_bytes([frame[o + 2], frame[o + 3]]),
            *vid,
            "VID"
        );
        o += 4;
    }
    assert_eq!(&frame[o..o + 2], &[0x88, 0x64], "ethertype PPPoE session");
    assert_eq!(frame[o + 2], 0x11, "VER/TYPE");
    assert_eq!(frame[o + 3], 0x00, "CODE");
    assert_eq!(
        u16::from_be_bytes([frame[o + 4], frame[o + 5]]),
        sid,
        "SESSION_ID"
    );
    let len = u16::from_be_bytes([frame[o + 6], frame[o + 7]]) as usize;
    assert_eq!(&frame[o + 8..o + 10], &[0x00, 0x21], "PPP protocol IPv4");
    let ip = &frame[o + 10..];
    let tot = u16::from_be_bytes([ip[2], ip[3]]) as usize;
    assert_eq!(len, tot + 2, "PPPoE LENGTH = IPv4 total length + 2");
    &ip[..tot]
}

// ------------------------------------------------------------------- tests

#[test]
fn smoke_start_install_remove_shutdown() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    assert_eq!(b.dp.public_ip(), PUBLIC);
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    assert_eq!(b.dp.port_block(&row), Some((1024, 512)));
    let c = b.dp.remove(&row).unwrap();
    assert_eq!(c, Default::default());
    assert!(b.dp.remove(&row).is_err(), "second remove fails");
    assert!(b.net.pin_dir.join("SESSIONS").exists());
    let pin_dir = b.net.pin_dir.clone();
    let Bench { dp, net, .. } = b;
    dp.shutdown().unwrap();
    assert!(!pin_dir.exists(), "pins removed");
    drop(net);
}
