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

use etherparse::{
    IcmpEchoHeader, Icmpv4Type, PacketBuilder, SlicedPacket, TcpOptionElement, TransportSlice,
};
use pppoe_bras::dataplane::{
    ebpf_object, Dataplane, DataplaneConfig, Program, SessionRow, XdpMode,
};

const XDP_DROP: u32 = 1;
const XDP_PASS: u32 = 2;
const XDP_REDIRECT: u32 = 4;

const CLIENT: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const GW_MAC: [u8; 6] = [0x02, 0, 0, 0, 0x02, 0xfe];
const PUBLIC: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
const NO_NEIGH_GW: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 253);
const SUB: Ipv4Addr = Ipv4Addr::new(100, 64, 0, 7);
/// The BRAS's PPP (IPCP local) address.
const LOCAL: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 254);
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
            "-6 addr add 2001:db8:ffff::1/64 dev up0 nodad",
            "-6 neigh add 2001:db8:ffff::fe lladdr 02:00:00:00:02:fe dev up0 nud permanent",
            "-6 route add default via 2001:db8:ffff::fe dev up0",
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
        cfg.mru = 1492;
        cfg.local_ip = Some(LOCAL);
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
        let all_before = self.dp.stats();
        let ifindex = if prog == Program::Access {
            self.acc
        } else {
            self.up
        };
        let out = self.dp.test_run(prog, frame, ifindex, 1).expect("test_run");
        let grew: Vec<_> = self
            .dp
            .stats()
            .into_iter()
            .zip(all_before)
            .filter(|(a, b)| a.1 != b.1)
            .map(|(a, _)| a.0)
            .collect();
        assert_eq!(
            out.action, action,
            "XDP action (stat {stat}; counted: {grew:?})"
        );
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
    check_pppoe_to(frame, CLIENT, bras_mac, tags, sid)
}

/// [`check_pppoe`] towards another client MAC.
fn check_pppoe_to<'a>(
    frame: &'a [u8],
    client: [u8; 6],
    bras_mac: [u8; 6],
    tags: &[(u16, u16)],
    sid: u16,
) -> &'a [u8] {
    assert_eq!(&frame[0..6], &client, "dst = client MAC");
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

fn bump_ihl_with_options(mut p: Vec<u8>) -> Vec<u8> {
    // Insert 4 option bytes (NOP NOP NOP EOL), IHL 5 → 6, fix total length and checksum.
    p.splice(20..20, [1u8, 1, 1, 0]);
    p[0] = 0x46;
    let tot = u16::from_be_bytes([p[2], p[3]]) + 4;
    p[2..4].copy_from_slice(&tot.to_be_bytes());
    p[10..12].copy_from_slice(&[0, 0]);
    let mut sum = 0u32;
    for c in p[..24].chunks(2) {
        sum += u16::from_be_bytes([c[0], c[1]]) as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    p[10..12].copy_from_slice(&(!(sum as u16)).to_be_bytes());
    p
}

/// Set the flags/fragment-offset word; keep the header checksum right.
fn set_frag_word(mut p: Vec<u8>, new: u16) -> Vec<u8> {
    let old = u16::from_be_bytes([p[6], p[7]]);
    p[6..8].copy_from_slice(&new.to_be_bytes());
    let c = u16::from_be_bytes([p[10], p[11]]);
    let c = pppoe_bras_common::csum::replace2(c, old, new);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// Set a 16-bit header word at `at` (id…); keep the header checksum right.
fn set_hdr_word(mut p: Vec<u8>, at: usize, new: u16) -> Vec<u8> {
    let old = u16::from_be_bytes([p[at], p[at + 1]]);
    p[at..at + 2].copy_from_slice(&new.to_be_bytes());
    let c = u16::from_be_bytes([p[10], p[11]]);
    let c = pppoe_bras_common::csum::replace2(c, old, new);
    p[10..12].copy_from_slice(&c.to_be_bytes());
    p
}

/// First fragment: MF set, offset 0.
fn set_fragment(p: Vec<u8>) -> Vec<u8> {
    let w = u16::from_be_bytes([p[6], p[7]]) & 0x4000;
    set_frag_word(p, w & !0x4000 | 0x2000)
}

/// A later fragment with identification `id` and offset `off` (8-byte units):
/// the bytes after the IP header stand for the middle of a datagram.
fn set_frag_offset(p: Vec<u8>, id: u16, off: u16) -> Vec<u8> {
    set_hdr_word(set_frag_word(p, off & 0x1fff), 4, id)
}

/// DF on or off.
fn set_df(p: Vec<u8>, df: bool) -> Vec<u8> {
    let w = u16::from_be_bytes([p[6], p[7]]) & !0x4000;
    set_frag_word(p, if df { w | 0x4000 } else { w })
}

/// An ICMP error (type, code, rest of header) quoting `quoted`.
fn icmp_error(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted: &[u8],
) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), ttl).icmpv4_raw(ty, code, rest);
    let mut v = Vec::new();
    b.write(&mut v, quoted).unwrap();
    v
}

/// Upstream and downstream through an untagged NAT session: every verdict of
/// both programs, output frames checked field by field with valid checksums.
#[test]
fn nat_session_fixture_table() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);
    let mut up_bytes = 0u64;

    // --- upstream: UDP, TCP, ICMP echo are translated and redirected.
    let cases: [(&str, Vec<u8>, u16); 4] = [
        (
            "udp",
            udp(SUB, REMOTE, 64, 40001, 53, b"query"),
            1024 + 40001 % 512,
        ),
        (
            "tcp",
            tcp(SUB, REMOTE, 64, 40001, 80, b""),
            1024 + 40001 % 512,
        ),
        (
            "icmp echo",
            echo(SUB, REMOTE, 64, true, 0x1234, 1),
            1024 + 0x1234 % 512,
        ),
        (
            "udp with IP options",
            bump_ihl_with_options(udp(SUB, REMOTE, 64, 40002, 53, b"opt")),
            1024 + 40002 % 512,
        ),
    ];
    for (name, ip, public_port) in cases {
        for round in 0..2 {
            let out = b.run(Program::Access, &up(&ip), XDP_REDIRECT, "up_forwarded");
            up_bytes += ip.len() as u64;
            assert_eq!(&out[0..6], &GW_MAC, "{name}: dst = next hop MAC");
            assert_eq!(&out[6..12], &um, "{name}: src = uplink MAC");
            assert_eq!(&out[12..14], &[0x08, 0x00], "{name}: ethertype IPv4");
            assert_eq!(out.len(), 14 + ip.len(), "{name}: PPPoE+PPP stripped");
            let v = check_ipv4(&out[14..]);
            assert_eq!(v.src, PUBLIC, "{name}: SNAT address");
            assert_eq!(v.dst, REMOTE, "{name}");
            assert_eq!(v.ttl, 63, "{name}: TTL decremented");
            assert_eq!(v.sport, public_port, "{name} round {round}: same mapping");
        }
    }

    // UDP without checksum keeps 0.
    let mut nock = udp(SUB, REMOTE, 64, 40003, 53, b"nocsum");
    nock[26..28].copy_from_slice(&[0, 0]);
    let out = b.run(Program::Access, &up(&nock), XDP_REDIRECT, "up_forwarded");
    up_bytes += nock.len() as u64;
    assert_eq!(&out[14 + 26..14 + 28], &[0, 0], "UDP checksum 0 stays 0");

    // --- upstream: everything that must not be forwarded.
    let other_mac = [0x02, 0, 0, 0, 0, 0x99];
    let table: Vec<(&str, Vec<u8>, u32, &str)> = vec![
        (
            "spoofed source",
            up(&udp(Ipv4Addr::new(100, 64, 0, 8), REMOTE, 64, 1, 53, b"x")),
            XDP_DROP,
            "drop_spoofed_source",
        ),
        (
            "unknown session id",
            pppoe(
                CLIENT,
                bm,
                &[],
                0x0999,
                0x0021,
                &udp(SUB, REMOTE, 64, 1, 53, b"x"),
            ),
            XDP_DROP,
            "drop_no_session",
        ),
        (
            "unknown client MAC",
            pppoe(
                other_mac,
                bm,
                &[],
                0x0101,
                0x0021,
                &udp(SUB, REMOTE, 64, 1, 53, b"x"),
            ),
            XDP_DROP,
            "drop_no_session",
        ),
        (
            "unexpected VLAN tag",
            pppoe(
                CLIENT,
                bm,
                &[(0x8100, 7)],
                0x0101,
                0x0021,
                &udp(SUB, REMOTE, 64, 1, 53, b"x"),
            ),
            XDP_DROP,
            "drop_no_session",
        ),
        (
            "LCP echo",
            pppoe(CLIENT, bm, &[], 0x0101, 0xc021, &[9, 1, 0, 8, 0, 0, 0, 0]),
            XDP_PASS,
            "access_pass_control",
        ),
        (
            "IPCP",
            pppoe(CLIENT, bm, &[], 0x0101, 0x8021, &[1, 1, 0, 4]),
            XDP_PASS,
            "access_pass_control",
        ),
        (
            "LCP of an unknown session",
            pppoe(other_mac, bm, &[], 0x0777, 0xc021, &[1, 1, 0, 4]),
            XDP_PASS,
            "access_pass_control",
        ),
        (
            "PADI",
            {
                let mut f = vec![0xff; 6];
                f.extend_from_slice(&CLIENT);
                f.extend_from_slice(&[0x88, 0x63, 0x11, 0x09, 0, 0, 0, 4, 0x01, 0x01, 0, 0]);
                f
            },
            XDP_PASS,
            "access_pass_control",
        ),
        (
            "ARP",
            {
                let mut f = vec![0xff; 6];
                f.extend_from_slice(&CLIENT);
                f.extend_from_slice(&[0x08, 0x06]);
                f.extend_from_slice(&[0; 28]);
                f
            },
            XDP_DROP,
            "drop_access_not_pppoe",
        ),
        (
            "plain IPv4 on the access NIC",
            eth_ipv4(CLIENT, bm, &udp(SUB, REMOTE, 64, 1, 53, b"x")),
            XDP_DROP,
            "drop_access_not_pppoe",
        ),
        (
            "bad PPPoE VER/TYPE",
            {
                let mut f = up(&udp(SUB, REMOTE, 64, 40001, 53, b"x"));
                f[14] = 0x12;
                f
            },
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "PPPoE LENGTH beyond the frame",
            {
                let mut f = up(&udp(SUB, REMOTE, 64, 40001, 53, b"x"));
                f[18..20].copy_from_slice(&1400u16.to_be_bytes());
                f
            },
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "IPv4 total length beyond PPPoE LENGTH",
            {
                let mut f = up(&udp(SUB, REMOTE, 64, 40001, 53, b"x"));
                let l = u16::from_be_bytes([f[18], f[19]]) - 1;
                f[18..20].copy_from_slice(&l.to_be_bytes());
                f
            },
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "IPv6 version nibble",
            {
                let mut f = up(&udp(SUB, REMOTE, 64, 40001, 53, b"x"));
                f[22] = 0x65;
                f
            },
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "IHL 4",
            {
                let mut f = up(&udp(SUB, REMOTE, 64, 40001, 53, b"x"));
                f[22] = 0x44;
                f
            },
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "later fragment without its first",
            up(&set_frag_offset(
                udp(SUB, REMOTE, 64, 40001, 53, b"x"),
                0x77,
                100,
            )),
            XDP_DROP,
            "drop_fragment",
        ),
        (
            "larger than our MRU",
            up(&udp(SUB, REMOTE, 64, 40001, 53, &[0u8; 1500 - 28])),
            XDP_DROP,
            "drop_over_mru",
        ),
        (
            "GRE",
            up(&{
                let mut p = udp(SUB, REMOTE, 64, 1, 2, b"x");
                let old = u16::from_be_bytes([p[8], p[9]]);
                p[9] = 47;
                let c = pppoe_bras_common::csum::replace2(
                    u16::from_be_bytes([p[10], p[11]]),
                    old,
                    u16::from_be_bytes([p[8], p[9]]),
                );
                p[10..12].copy_from_slice(&c.to_be_bytes());
                p
            }),
            XDP_DROP,
            "drop_nat_unsupported",
        ),
        (
            "ICMP echo reply upstream",
            up(&echo(SUB, REMOTE, 64, false, 7, 1)),
            XDP_DROP,
            "drop_nat_unsupported",
        ),
        (
            "truncated TCP header",
            up(&{
                let p = tcp(SUB, REMOTE, 64, 40001, 80, b"");
                let mut q = p[..30].to_vec();
                q[2..4].copy_from_slice(&30u16.to_be_bytes());
                q[10..12].copy_from_slice(&[0, 0]);
                q
            }),
            XDP_DROP,
            "drop_malformed",
        ),
        (
            "next hop without neighbour",
            up(&udp(SUB, REMOTE_NO_NEIGH, 64, 40001, 53, b"x")),
            XDP_DROP,
            "drop_no_neigh",
        ),
    ];
    for (name, frame, action, stat) in table {
        eprintln!("fixture: {name}");
        let out = b.run(Program::Access, &frame, action, stat);
        if action == XDP_PASS {
            assert_eq!(out, frame, "{name}: passed frames are untouched");
        }
    }

    // The no-neighbour miss was recorded; the daemon's periodic call makes
    // the kernel resolve that next hop (an ARP entry appears).
    b.dp.resolve_neighbours();
    let mut seen = false;
    for _ in 0..50 {
        let out = Command::new("ip")
            .args(["neigh", "show", &NO_NEIGH_GW.to_string(), "dev", "up0"])
            .output()
            .unwrap();
        if !out.stdout.is_empty() {
            seen = true;
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        seen,
        "resolve_neighbours created a neighbour entry for {NO_NEIGH_GW}"
    );

    // --- downstream.
    let pport = 1024 + 40001 % 512;
    let cases: [(&str, Vec<u8>, u16); 3] = [
        (
            "udp reply",
            udp(REMOTE, PUBLIC, 60, 53, pport, b"answer"),
            40001,
        ),
        (
            "tcp reply",
            tcp(REMOTE, PUBLIC, 60, 80, pport, b"page"),
            40001,
        ),
        (
            "echo reply",
            echo(REMOTE, PUBLIC, 60, false, 1024 + 0x1234 % 512, 1),
            0x1234,
        ),
    ];
    let mut down_bytes = 0u64;
    for (name, ip, sub_port) in cases {
        let out = b.run(Program::Uplink, &down(&ip), XDP_REDIRECT, "down_forwarded");
        down_bytes += ip.len() as u64;
        let inner = check_pppoe(&out, bm, &[], 0x0101);
        let v = check_ipv4(inner);
        assert_eq!(v.dst, SUB, "{name}: de-NAT address");
        assert_eq!(v.src, REMOTE, "{name}");
        assert_eq!(v.dport, sub_port, "{name}: de-NAT port");
        assert_eq!(v.ttl, 59, "{name}: TTL decremented");
    }
    let table: Vec<(&str, Vec<u8>, u32, &str)> = vec![
        (
            "no mapping (the host's own traffic)",
            down(&udp(REMOTE, PUBLIC, 60, 53, 5000, b"x")),
            XDP_PASS,
            "uplink_pass_no_mapping",
        ),
        (
            "tcp to the host's ssh",
            down(&tcp(REMOTE, PUBLIC, 60, 40000, 22, b"")),
            XDP_PASS,
            "uplink_pass_no_mapping",
        ),
        (
            "mapped port, other address",
            down(&udp(
                REMOTE,
                Ipv4Addr::new(192, 0, 2, 99),
                60,
                53,
                pport,
                b"x",
            )),
            XDP_PASS,
            "uplink_pass_no_mapping",
        ),
        (
            "ARP",
            {
                let mut f = vec![0xff; 6];
                f.extend_from_slice(&GW_MAC);
                f.extend_from_slice(&[0x08, 0x06]);
                f.extend_from_slice(&[0; 28]);
                f
            },
            XDP_PASS,
            "uplink_pass_other",
        ),
        (
            "later fragment without its first (the host's own?)",
            down(&set_frag_offset(
                udp(REMOTE, PUBLIC, 60, 53, pport, b"x"),
                0x99,
                100,
            )),
            XDP_PASS,
            "uplink_pass_fragment",
        ),
        (
            "ICMP error about no mapping",
            down(&icmp_error(
                REMOTE,
                PUBLIC,
                60,
                3,
                3,
                [0; 4],
                &udp(PUBLIC, REMOTE, 63, 5000, 53, b"x"),
            )),
            XDP_PASS,
            "uplink_pass_no_mapping",
        ),
        (
            "too big for the session MTU, DF clear",
            down(&set_df(
                udp(REMOTE, PUBLIC, 60, 53, pport, &[0u8; 1480]),
                false,
            )),
            XDP_DROP,
            "drop_too_big_no_df",
        ),
    ];
    for (name, frame, action, stat) in table {
        eprintln!("fixture: {name}");
        let out = b.run(Program::Uplink, &frame, action, stat);
        if action == XDP_PASS {
            assert_eq!(out, frame, "{name}: passed frames are untouched");
        }
    }
    // Exactly at the MTU fits.
    let ip = udp(REMOTE, PUBLIC, 60, 53, pport, &[0u8; 1492 - 28]);
    b.run(Program::Uplink, &down(&ip), XDP_REDIRECT, "down_forwarded");
    down_bytes += ip.len() as u64;

    // --- truncated frames: every prefix is handled without a redirect.
    let full_up = up(&udp(SUB, REMOTE, 64, 40001, 53, b"payload"));
    for n in 14..full_up.len() {
        let out =
            b.dp.test_run(Program::Access, &full_up[..n], b.acc, 1)
                .unwrap();
        assert_eq!(out.action, XDP_DROP, "upstream prefix of {n} bytes");
    }
    let full_down = down(&udp(REMOTE, PUBLIC, 60, 53, pport, b"payload"));
    for n in 14..full_down.len() {
        let out =
            b.dp.test_run(Program::Uplink, &full_down[..n], b.up, 1)
                .unwrap();
        assert_eq!(out.action, XDP_PASS, "downstream prefix of {n} bytes");
    }

    let c = b.dp.counters(&row);
    assert_eq!(c.up_packets, 9);
    assert_eq!(c.up_bytes, up_bytes);
    assert_eq!(c.down_packets, 4);
    assert_eq!(c.down_bytes, down_bytes);
    assert_eq!(b.dp.nat_mappings().len(), 5, "udp×3, tcp, icmp");
}

/// (name, session vlans, session outer TPID, tags sent, tags expected back, address).
type VlanCase = (
    &'static str,
    (u16, u16),
    u16,
    Vec<(u16, u16)>,
    Vec<(u16, u16)>,
    Ipv4Addr,
);

/// 802.1Q and QinQ sessions: the VLAN ids are part of the session key, and
/// the downstream frame carries the same tags (PCP bits ignored on input).
#[test]
fn vlan_and_qinq_sessions() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let bm = b.acc_mac;
    let um = b.up_mac;
    let cases: [VlanCase; 3] = [
        (
            "dot1q",
            (100, 0),
            0,
            vec![(0x8100, 0xa000 | 100)],
            vec![(0x8100, 100)],
            Ipv4Addr::new(100, 64, 1, 1),
        ),
        (
            "qinq 88a8",
            (200, 300),
            0,
            vec![(0x88a8, 200), (0x8100, 300)],
            vec![(0x88a8, 200), (0x8100, 300)],
            Ipv4Addr::new(100, 64, 1, 2),
        ),
        (
            "qinq 8100/8100",
            (201, 301),
            0x8100,
            vec![(0x8100, 201), (0x8100, 301)],
            vec![(0x8100, 201), (0x8100, 301)],
            Ipv4Addr::new(100, 64, 1, 3),
        ),
    ];
    for (i, (name, vlans, tpid, tags_in, tags_out, addr)) in cases.into_iter().enumerate() {
        let sid = 0x200 + i as u16;
        let mut row = b.row(sid, vlans, tpid);
        row.address = addr;
        b.dp.install(&row).unwrap();
        let (start, _) = b.dp.port_block(&row).unwrap();
        let ip = udp(addr, REMOTE, 64, 5555, 53, b"q");
        let out = b.run(
            Program::Access,
            &pppoe(CLIENT, bm, &tags_in, sid, 0x21, &ip),
            XDP_REDIRECT,
            "up_forwarded",
        );
        let v = check_ipv4(&out[14..]);
        assert_eq!(v.sport, start + 5555 % 512, "{name}");
        // Wrong inner/outer VLAN → no session.
        let mut wrong = tags_in.clone();
        wrong.last_mut().unwrap().1 += 1;
        b.run(
            Program::Access,
            &pppoe(CLIENT, bm, &wrong, sid, 0x21, &ip),
            XDP_DROP,
            "drop_no_session",
        );
        b.run(
            Program::Access,
            &pppoe(CLIENT, bm, &[], sid, 0x21, &ip),
            XDP_DROP,
            "drop_no_session",
        );

        let reply = udp(REMOTE, PUBLIC, 60, 53, v.sport, b"a");
        let out = b.run(
            Program::Uplink,
            &eth_ipv4(GW_MAC, um, &reply),
            XDP_REDIRECT,
            "down_forwarded",
        );
        let inner = check_pppoe(&out, bm, &tags_out, sid);
        let v = check_ipv4(inner);
        assert_eq!((v.dst, v.dport), (addr, 5555), "{name}");
    }
}

/// Removal deletes a session's mappings; idle expiry honours per-protocol
/// timeouts with injected time.
#[test]
fn remove_and_expire_mappings() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let bm = b.acc_mac;
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 1000, 53, b"x")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&tcp(SUB, REMOTE, 64, 1001, 80, b"")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&echo(SUB, REMOTE, 64, true, 1002, 1)),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert_eq!(b.dp.nat_mappings().len(), 3);
    // The remote end answers the SYN: the TCP mapping is established.
    let um = b.up_mac;
    let tport = 1024 + 1001 % 512;
    b.run(
        Program::Uplink,
        &eth_ipv4(GW_MAC, um, &tcp(REMOTE, PUBLIC, 60, 80, tport, b"")),
        XDP_REDIRECT,
        "down_forwarded",
    );
    let now = pppoe_bras::dataplane::monotonic_ns();
    let s = 1_000_000_000u64;
    assert_eq!(b.dp.expire_idle_at(now + 59 * s), 0);
    assert_eq!(b.dp.expire_idle_at(now + 61 * s), 1, "ICMP after 60 s");
    assert_eq!(
        b.dp.expire_idle_at(now + 299 * s),
        0,
        "established TCP outlives the transitory timeout"
    );
    assert_eq!(b.dp.expire_idle_at(now + 301 * s), 1, "UDP after 300 s");
    let left = b.dp.nat_mappings();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].proto, 6);
    assert_eq!(left[0].inside, (SUB, 1001));
    // The expired UDP mapping no longer translates downstream.
    let pport = 1024 + 1000 % 512;
    b.run(
        Program::Uplink,
        &eth_ipv4(GW_MAC, um, &udp(REMOTE, PUBLIC, 60, 53, pport, b"x")),
        XDP_PASS,
        "uplink_pass_no_mapping",
    );

    let c = b.dp.remove(&row).unwrap();
    assert_eq!(c.up_packets, 3);
    assert!(
        b.dp.nat_mappings().is_empty(),
        "remove deletes the session's mappings"
    );
    b.run(
        Program::Uplink,
        &eth_ipv4(GW_MAC, um, &tcp(REMOTE, PUBLIC, 60, 80, tport, b"")),
        XDP_PASS,
        "uplink_pass_no_mapping",
    );
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 1000, 53, b"x")),
        XDP_DROP,
        "drop_no_session",
    );
    // Reinstall gets a fresh block and zeroed counters.
    b.dp.install(&row).unwrap();
    assert_eq!(b.dp.counters(&row), Default::default());
}

/// A block of 4 ports: 4 flows get the 4 ports (parity kept where possible),
/// the 5th is dropped; the next session gets the next block.
#[test]
fn port_block_exhaustion() {
    skip_unless_able!();
    let mut b = Bench::new(|c| c.port_block_size = 4);
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    assert_eq!(b.dp.port_block(&row), Some((1024, 4)));
    let bm = b.acc_mac;
    let mut ports = Vec::new();
    for sport in [3001u16, 3003, 3005, 3007] {
        let ip = udp(SUB, REMOTE, 64, sport, 53, b"x");
        let out = b.run(
            Program::Access,
            &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
            XDP_REDIRECT,
            "up_forwarded",
        );
        ports.push(check_ipv4(&out[14..]).sport);
    }
    assert_eq!(
        &ports[..2],
        &[1025, 1027],
        "odd ports keep odd parity while possible"
    );
    ports.sort_unstable();
    assert_eq!(ports, vec![1024, 1025, 1026, 1027]);
    let ip = udp(SUB, REMOTE, 64, 3009, 53, b"x");
    b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
        XDP_DROP,
        "drop_no_nat_port",
    );

    let mut row2 = b.row(0x0102, (0, 0), 0);
    row2.address = Ipv4Addr::new(100, 64, 0, 9);
    b.dp.install(&row2).unwrap();
    assert_eq!(b.dp.port_block(&row2), Some((1028, 4)));
    let mut row3 = row2;
    row3.session_id = 0x0103;
    assert!(
        b.dp.install(&row3).is_err(),
        "address already used by another session"
    );
}

/// Upstream sessions are found by SESSION_ID (`SESSION_BY_ID`), the whole
/// key checked: a frame with a live session id but another client MAC or
/// VLAN is `drop_no_session`. Two sessions sharing an id (not what the
/// daemon allocates, but the map must stay right) both forward: the second
/// through the `SESSIONS` hash, and it takes the id over when the first goes.
#[test]
fn session_lookup_by_id_checks_the_key() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let bm = b.acc_mac;
    let a = b.row(0x0101, (0, 0), 0);
    b.dp.install(&a).unwrap();
    let other_mac = [0x02, 0, 0, 0, 0, 0x99];
    let ip = udp(SUB, REMOTE, 64, 4000, 53, b"x");
    b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
        XDP_REDIRECT,
        "up_forwarded",
    );
    for (mac, tags, sid) in [
        (other_mac, &[][..], 0x0101),
        (CLIENT, &[(0x8100, 7)][..], 0x0101),
        (CLIENT, &[][..], 0x0102),
        (CLIENT, &[][..], 0),
    ] {
        b.run(
            Program::Access,
            &pppoe(mac, bm, tags, sid, 0x21, &ip),
            XDP_DROP,
            "drop_no_session",
        );
    }

    // Same id, other client: lives in SESSIONS only, still forwards.
    let c = SessionRow {
        client_mac: other_mac,
        address: Ipv4Addr::new(100, 64, 0, 9),
        ..a
    };
    b.dp.install(&c).unwrap();
    let ip_c = udp(c.address, REMOTE, 64, 4000, 53, b"x");
    let up = |b: &mut Bench, r: &SessionRow, ip: &[u8], action: u32, stat: &str| {
        b.run(
            Program::Access,
            &pppoe(r.client_mac, bm, &[], r.session_id, 0x21, ip),
            action,
            stat,
        );
    };
    up(&mut b, &a, &ip, XDP_REDIRECT, "up_forwarded");
    up(&mut b, &c, &ip_c, XDP_REDIRECT, "up_forwarded");
    // Each session's address is only accepted from its own client.
    up(&mut b, &c, &ip, XDP_DROP, "drop_spoofed_source");
    // The owner goes: the other one takes the id over.
    b.dp.remove(&a).unwrap();
    up(&mut b, &a, &ip, XDP_DROP, "drop_no_session");
    up(&mut b, &c, &ip_c, XDP_REDIRECT, "up_forwarded");
    b.dp.remove(&c).unwrap();
    up(&mut b, &c, &ip_c, XDP_DROP, "drop_no_session");
    // Reinstalled in the other order, with a waiting session removed first.
    b.dp.install(&c).unwrap();
    b.dp.install(&a).unwrap();
    b.dp.remove(&a).unwrap();
    up(&mut b, &c, &ip_c, XDP_REDIRECT, "up_forwarded");
    up(&mut b, &a, &ip, XDP_DROP, "drop_no_session");
    b.dp.install(&a).unwrap();
    up(&mut b, &a, &ip, XDP_REDIRECT, "up_forwarded");
}

/// Spreading: with two CPUs, each session's frames are either handed to its
/// CPU through the cpumap untouched (`access_spread`, still PPPoE) or, when
/// that CPU is the one running the program, processed in place
/// (`up_forwarded`); control frames never move; turned off, everything is
/// processed in place again.
#[test]
fn sessions_spread_over_cpus() {
    skip_unless_able!();
    if std::thread::available_parallelism().map_or(1, |n| n.get()) < 2 {
        eprintln!("skipping: needs two CPUs");
        return;
    }
    let mut b = Bench::new(|_| {});
    let bm = b.acc_mac;
    let rows: Vec<SessionRow> = (0..16u8)
        .map(|i| SessionRow {
            client_mac: [0x02, 0, 0, 0, 0x10, i],
            session_id: 0x0200 + u16::from(i),
            address: Ipv4Addr::new(100, 64, 1, i + 1),
            ..b.row(0, (0, 0), 0)
        })
        .collect();
    for r in &rows {
        b.dp.install(r).unwrap();
    }
    b.dp.set_spread(&[0, 1]).unwrap();
    assert_eq!(b.dp.spread(), &[0, 1]);
    let (mut spread, mut local) = (0, 0);
    for r in &rows {
        let ip = udp(r.address, REMOTE, 64, 4000, 53, b"x");
        let frame = pppoe(r.client_mac, bm, &[], r.session_id, 0x21, &ip);
        let before = b.stat("access_spread");
        let out = b.dp.test_run(Program::Access, &frame, b.acc, 1).unwrap();
        assert_eq!(out.action, XDP_REDIRECT);
        if b.stat("access_spread") > before {
            assert_eq!(out.frame, frame, "a spread frame is handed over untouched");
            spread += 1;
        } else {
            assert_eq!(&out.frame[12..14], &[0x08, 0x00], "processed here: IPv4");
            local += 1;
        }
    }
    assert!(spread > 0 && local > 0, "spread {spread}, local {local}");
    // LCP stays on the receiving CPU and goes to the daemon.
    let lcp = pppoe(
        rows[0].client_mac,
        bm,
        &[],
        rows[0].session_id,
        0xc021,
        &[9, 1, 0, 8, 0, 0, 0, 0],
    );
    b.run(Program::Access, &lcp, XDP_PASS, "access_pass_control");
    // One CPU is no spreading.
    b.dp.set_spread(&[1]).unwrap();
    assert!(b.dp.spread().is_empty());
    for r in &rows {
        let ip = udp(r.address, REMOTE, 64, 4000, 53, b"x");
        let frame = pppoe(r.client_mac, bm, &[], r.session_id, 0x21, &ip);
        b.run(Program::Access, &frame, XDP_REDIRECT, "up_forwarded");
    }
}

/// Routed mode: no translation, TTL only, any protocol, both directions.
#[test]
fn routed_mode() {
    skip_unless_able!();
    let mut b = Bench::new(|c| c.nat = false);
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    assert_eq!(b.dp.port_block(&row), None);
    let (bm, um) = (b.acc_mac, b.up_mac);
    let ip = udp(SUB, REMOTE, 64, 40001, 53, b"x");
    let out = b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
        XDP_REDIRECT,
        "up_forwarded",
    );
    let v = check_ipv4(&out[14..]);
    assert_eq!((v.src, v.sport, v.ttl), (SUB, 40001, 63));
    let frag = set_fragment(udp(REMOTE, SUB, 60, 53, 40001, b"y"));
    let out = b.run(
        Program::Uplink,
        &eth_ipv4(GW_MAC, um, &frag),
        XDP_REDIRECT,
        "down_forwarded",
    );
    let inner = check_pppoe(&out, bm, &[], 0x0101);
    assert_eq!(&inner[16..20], &SUB.octets());
    assert_eq!(inner[8], 59);
}

/// Deletes the lab namespaces on drop.
struct Lab(Vec<String>, File);

impl Drop for Lab {
    fn drop(&mut self) {
        // Safety: fd of the thread's original netns.
        unsafe { libc::setns(self.1.as_raw_fd(), libc::CLONE_NEWNET) };
        for n in &self.0 {
            let _ = Command::new("ip").args(["netns", "del", n]).status();
        }
    }
}

fn lab_ping(mode: XdpMode) {
    skip_unless_able!();
    // The distribution's python3 has python3-scapy (a pyenv shim may come first in PATH).
    let py = if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    };
    if Command::new(py)
        .args(["-c", "import scapy.all"])
        .status()
        .map(|s| !s.success())
        .unwrap_or(true)
    {
        eprintln!("skipping: python3-scapy missing");
        return;
    }
    let id = NEXT.fetch_add(1, Ordering::Relaxed);
    let p = format!("pbl{}-{id}", std::process::id());
    let (cpe, bras, inet) = (format!("{p}c"), format!("{p}b"), format!("{p}i"));
    let prev = File::open("/proc/thread-self/ns/net").unwrap();
    let _lab = Lab(vec![cpe.clone(), bras.clone(), inet.clone()], prev);
    for n in [&cpe, &bras, &inet] {
        ip(&["netns", "add", n]);
        ip(&["-n", n, "link", "set", "lo", "up"]);
    }
    ip(&[
        "-n", &bras, "link", "add", "acc0", "type", "veth", "peer", "name", "cpe0", "netns", &cpe,
    ]);
    ip(&[
        "-n", &bras, "link", "add", "up0", "type", "veth", "peer", "name", "inet0", "netns", &inet,
    ]);
    for (n, dev) in [
        (&bras, "acc0"),
        (&bras, "up0"),
        (&cpe, "cpe0"),
        (&inet, "inet0"),
    ] {
        ip(&["-n", n, "link", "set", dev, "up"]);
    }
    ip(&["-n", &bras, "addr", "add", "192.0.2.1/24", "dev", "up0"]);
    ip(&["-n", &bras, "route", "add", "default", "via", "192.0.2.254"]);
    ip(&["-n", &inet, "addr", "add", "192.0.2.254/24", "dev", "inet0"]);
    ip(&["-n", &inet, "addr", "add", "198.51.100.10/32", "dev", "lo"]);
    if mode != XdpMode::Generic {
        // Native XDP_REDIRECT into a veth only delivers when the *peer* end
        // runs NAPI: an XDP program there, or GRO switched on (kernel ≥ 5.13).
        for (n, dev) in [(&cpe, "cpe0"), (&inet, "inet0")] {
            let ok = Command::new("ip")
                .args(["netns", "exec", n, "ethtool", "-K", dev, "gro", "on"])
                .status()
                .map(|s| s.success())
                .unwrap_or(false);
            if !ok {
                eprintln!("skipping: `ethtool -K {dev} gro on` failed (ethtool missing?)");
                return;
            }
        }
    }
    let f = File::open(format!("/var/run/netns/{bras}")).unwrap();
    // Safety: valid netns fd, this thread only.
    assert_eq!(unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) }, 0);
    let mut cfg = DataplaneConfig::new("acc0", "up0");
    cfg.pin_dir = PathBuf::from(format!("/sys/fs/bpf/{p}"));
    cfg.xdp_mode = mode;
    let mut dp = Dataplane::start(&cfg).expect("start");
    let acc_mac = read_mac("acc0");
    let out = Command::new("ip")
        .args(["-n", &cpe, "-br", "link", "show", "cpe0"])
        .output()
        .unwrap();
    let cpe_mac_s = String::from_utf8_lossy(&out.stdout)
        .split_whitespace()
        .nth(2)
        .unwrap()
        .to_string();
    let mut cpe_mac = [0u8; 6];
    for (b, x) in cpe_mac.iter_mut().zip(cpe_mac_s.split(':')) {
        *b = u8::from_str_radix(x, 16).unwrap();
    }
    let row = SessionRow {
        client_mac: cpe_mac,
        bras_mac: acc_mac,
        session_id: 0x42,
        address: SUB,
        mtu: 1492,
        ..SessionRow::default()
    };
    dp.install(&row).unwrap();
    let acc_mac_s = acc_mac.map(|b| format!("{b:02x}")).join(":");
    let script = format!(
        r#"
from scapy.all import *
import sys
conf.verb = 0
# scapy's PPP layer compresses the protocol field (PFC, 1 byte); the data
# plane only forwards the uncompressed 0x0021, so write it by hand.
ip = IP(src="100.64.0.7", dst="198.51.100.10") / ICMP(id=0x1234, seq=1) / b"lab"
pkt = Ether(src="{cpe_mac_s}", dst="{acc_mac_s}") / PPPoE(sessionid=0x42) / Raw(b"\x00\x21" + bytes(ip))
sn = AsyncSniffer(iface="cpe0", lfilter=lambda p: p.haslayer(PPPoE) and p.haslayer(ICMP) and p[ICMP].type == 0)
sn.start(); time.sleep(0.3)
sendp(pkt, iface="cpe0"); time.sleep(1.0)
r = sn.stop()
if not r: sys.exit(1)
p = r[0]
assert p[PPPoE].sessionid == 0x42 and p[IP].dst == "100.64.0.7" and p[ICMP].id == 0x1234, p.summary()
print("reply:", p.summary())
"#
    );
    let mut ok = false;
    for attempt in 0..4 {
        let st = Command::new("ip")
            .args(["netns", "exec", &cpe, py, "-c", &script])
            .status()
            .unwrap();
        if st.success() {
            ok = true;
            break;
        }
        // First packets can hit drop_no_neigh until the gateway is resolved.
        eprintln!("attempt {attempt}: no reply yet; stats {:?}", dp.stats());
        dp.expire_idle();
        std::thread::sleep(std::time::Duration::from_millis(300));
    }
    eprintln!("stats: {:?}", dp.stats());
    assert!(ok, "echo reply came back PPPoE-encapsulated");
    let c = dp.counters(&row);
    assert!(c.up_packets >= 1 && c.down_packets >= 1, "{c:?}");
    dp.shutdown().unwrap();
}

/// Real path in the cpe — bras — inet lab, generic XDP. Needs python3-scapy:
/// `cargo test -p pppoe-bras --test prog_test_run -- --ignored lab`.
#[test]
#[ignore = "lab: needs root, scapy, ~3 s"]
fn lab_ping_generic() {
    lab_ping(XdpMode::Generic);
}

/// Same in native mode (veth XDP), with GRO on the peers.
#[test]
#[ignore = "lab: needs root, scapy, ethtool, ~3 s"]
fn lab_ping_native() {
    lab_ping(XdpMode::Native);
}

// ------------------------------------------- ICMP, MTU, MSS, fragments, hairpin

/// Internet checksum over `data` (0 when `data` includes a valid checksum).
fn inet_csum(data: &[u8]) -> u16 {
    let mut sum = 0u32;
    for c in data.chunks(2) {
        let w = if c.len() == 2 {
            u16::from_be_bytes([c[0], c[1]])
        } else {
            u16::from_be_bytes([c[0], 0])
        };
        sum += w as u32;
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// An ICMP error as seen on the wire, after checking the outer IPv4 header
/// checksum, the ICMP checksum (over the whole message) and the quoted
/// header's checksum.
#[derive(Debug)]
struct IcmpErr {
    src: Ipv4Addr,
    dst: Ipv4Addr,
    ttl: u8,
    tos: u8,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    quoted: Vec<u8>,
}

fn check_icmp_error(p: &[u8]) -> IcmpErr {
    let hlen = ((p[0] & 0x0f) as usize) * 4;
    let tot = u16::from_be_bytes([p[2], p[3]]) as usize;
    assert_eq!(p.len(), tot, "IPv4 total length = packet length");
    assert_eq!(inet_csum(&p[..hlen]), 0, "outer IPv4 header checksum");
    assert_eq!(p[9], 1, "ICMP");
    let icmp = &p[hlen..tot];
    assert_eq!(inet_csum(icmp), 0, "ICMP checksum");
    let quoted = icmp[8..].to_vec();
    let qh = ((quoted[0] & 0x0f) as usize) * 4;
    assert_eq!(inet_csum(&quoted[..qh]), 0, "quoted IPv4 header checksum");
    IcmpErr {
        src: Ipv4Addr::new(p[12], p[13], p[14], p[15]),
        dst: Ipv4Addr::new(p[16], p[17], p[18], p[19]),
        ttl: p[8],
        tos: p[1],
        ty: icmp[0],
        code: icmp[1],
        rest: [icmp[4], icmp[5], icmp[6], icmp[7]],
        quoted,
    }
}

/// RFC 5508: ICMP errors about NAT flows are translated inside and out, in
/// both directions, with every checksum right (the quoted datagrams here are
/// complete, so even their L4 checksums are verified); errors that match no
/// flow, are truncated or quote an ICMP error are not.
#[test]
fn icmp_errors_are_translated_both_ways() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);
    // Three flows: UDP, TCP, ICMP echo.
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 40001, 53, b"q")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&tcp(SUB, REMOTE, 64, 40002, 80, b"")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&echo(SUB, REMOTE, 64, true, 0x4242, 1)),
        XDP_REDIRECT,
        "up_forwarded",
    );
    let (pu, pt, pi) = (1024 + 40001 % 512, 1024 + 40002 % 512, 1024 + 0x4242 % 512);

    // Downstream: each error quotes what left the NAT (public source).
    type Case = (&'static str, u8, u8, [u8; 4], Vec<u8>, u16);
    let cases: [Case; 3] = [
        (
            "port unreachable about UDP",
            3,
            3,
            [0; 4],
            udp(PUBLIC, REMOTE, 1, pu, 53, b"q"),
            40001,
        ),
        (
            "time exceeded about TCP",
            11,
            0,
            [0; 4],
            tcp(PUBLIC, REMOTE, 1, pt, 80, b""),
            40002,
        ),
        (
            "fragmentation needed about an echo request",
            3,
            4,
            [0, 0, 0x05, 0x78],
            echo(PUBLIC, REMOTE, 1, true, pi, 1),
            0x4242,
        ),
    ];
    for (name, ty, code, rest, quoted, port) in cases {
        eprintln!("case: {name}");
        let msg = icmp_error(REMOTE, PUBLIC, 60, ty, code, rest, &quoted);
        let out = b.run(
            Program::Uplink,
            &down(&msg),
            XDP_REDIRECT,
            "down_icmp_error",
        );
        let e = check_icmp_error(check_pppoe(&out, bm, &[], 0x0101));
        assert_eq!((e.src, e.dst, e.ttl), (REMOTE, SUB, 59), "{name}: outer");
        assert_eq!(
            (e.ty, e.code, e.rest),
            (ty, code, rest),
            "{name}: ICMP header kept"
        );
        let q = check_ipv4(&e.quoted);
        assert_eq!(
            (q.src, q.sport, q.dst),
            (SUB, port, REMOTE),
            "{name}: quoted"
        );
    }

    // Downstream errors that are not ours to translate pass to the host.
    let table: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "quoted source is not the outer destination",
            icmp_error(
                REMOTE,
                PUBLIC,
                60,
                3,
                3,
                [0; 4],
                &udp(Ipv4Addr::new(192, 0, 2, 9), REMOTE, 1, pu, 53, b"q"),
            ),
            "uplink_pass_other",
        ),
        (
            "quote truncated to 4 bytes of UDP",
            icmp_error(
                REMOTE,
                PUBLIC,
                60,
                3,
                3,
                [0; 4],
                &udp(PUBLIC, REMOTE, 1, pu, 53, b"q")[..24],
            ),
            "uplink_pass_other",
        ),
        (
            "ICMP error quoting an ICMP error",
            icmp_error(
                REMOTE,
                PUBLIC,
                60,
                3,
                3,
                [0; 4],
                &icmp_error(
                    PUBLIC,
                    REMOTE,
                    1,
                    3,
                    3,
                    [0; 4],
                    &udp(REMOTE, PUBLIC, 1, 53, pu, b"q"),
                ),
            ),
            "uplink_pass_other",
        ),
        (
            "quoted echo reply (not what left the NAT)",
            icmp_error(
                REMOTE,
                PUBLIC,
                60,
                3,
                3,
                [0; 4],
                &echo(PUBLIC, REMOTE, 1, false, pi, 1),
            ),
            "uplink_pass_other",
        ),
    ];
    for (name, msg, stat) in table {
        eprintln!("case: {name}");
        let f = down(&msg);
        let out = b.run(Program::Uplink, &f, XDP_PASS, stat);
        assert_eq!(out, f, "{name}: untouched");
    }

    // Upstream: the subscriber reports an error about an inbound packet of a
    // flow (e.g. port unreachable for a late UDP reply).
    let quoted = udp(REMOTE, SUB, 59, 53, 40001, b"late");
    let msg = icmp_error(SUB, REMOTE, 64, 3, 3, [0; 4], &quoted);
    let out = b.run(Program::Access, &up(&msg), XDP_REDIRECT, "up_icmp_error");
    let e = check_icmp_error(&out[14..]);
    assert_eq!((e.src, e.dst, e.ttl), (PUBLIC, REMOTE, 63));
    let q = check_ipv4(&e.quoted);
    assert_eq!(
        (q.src, q.dst, q.dport),
        (REMOTE, PUBLIC, pu),
        "quoted, translated back"
    );
    // Errors about unknown flows, truncated ones, nested ones: dropped.
    let table: Vec<(&str, Vec<u8>)> = vec![
        (
            "unknown flow",
            icmp_error(
                SUB,
                REMOTE,
                64,
                3,
                3,
                [0; 4],
                &udp(REMOTE, SUB, 59, 53, 999, b"x"),
            ),
        ),
        (
            "truncated quote",
            icmp_error(SUB, REMOTE, 64, 3, 3, [0; 4], &quoted[..20]),
        ),
        (
            "quoted destination is not the subscriber",
            icmp_error(
                SUB,
                REMOTE,
                64,
                3,
                3,
                [0; 4],
                &udp(REMOTE, PUBLIC, 59, 53, 40001, b"x"),
            ),
        ),
    ];
    for (name, msg) in table {
        eprintln!("case: {name}");
        b.run(
            Program::Access,
            &up(&msg),
            XDP_DROP,
            "drop_icmp_error_unmatched",
        );
    }
    // ICMP errors never refresh a mapping (nor create one).
    assert_eq!(b.dp.nat_mappings().len(), 3);
}

/// A flood of TTL-expiring packets is not reflected at line rate: after a
/// burst, the BRAS's own ICMP errors are limited per CPU (RFC 1812
/// §4.3.2.8) and the rest are dropped under `drop_icmp_rate_limit`.
#[test]
fn icmp_errors_the_bras_sends_are_rate_limited() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let f = pppoe(
        CLIENT,
        b.acc_mac,
        &[],
        0x0101,
        0x0021,
        &udp(SUB, REMOTE, 1, 33434, 33435, b"flood"),
    );
    let (mut sent, mut dropped) = (0u32, 0u32);
    for _ in 0..1000 {
        let out =
            b.dp.test_run(Program::Access, &f, b.acc, 1)
                .expect("test_run");
        match out.action {
            XDP_REDIRECT => sent += 1,
            XDP_DROP => dropped += 1,
            other => panic!("unexpected action {other}"),
        }
    }
    assert!(sent >= 100, "the burst must go through: {sent} sent");
    assert!(
        dropped >= 500,
        "a flood must be limited: {sent} sent, {dropped} dropped"
    );
    assert_eq!(b.stat("drop_icmp_rate_limit"), u64::from(dropped));
    assert_eq!(b.stat("access_tx_time_exceeded"), u64::from(sent));
}

/// TTL expiry and PMTUD: the BRAS answers with ICMP errors built in place of
/// the offending frame: upstream Time Exceeded from the PPP address back
/// through the session; downstream Time Exceeded and Fragmentation Needed
/// (next-hop MTU = session MTU) back out of the uplink.
#[test]
fn bras_sends_time_exceeded_and_frag_needed() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);

    // Upstream TTL 1 (with IP options: the quote is the whole header + 8).
    for (name, ip) in [
        (
            "udp ttl 1",
            udp(SUB, REMOTE, 1, 33434, 33435, b"traceroute probe"),
        ),
        ("echo ttl 0", echo(SUB, REMOTE, 0, true, 7, 1)),
        (
            "ip options",
            bump_ihl_with_options(udp(SUB, REMOTE, 1, 33434, 33436, b"opt")),
        ),
    ] {
        eprintln!("case: {name}");
        // Ethernet padding after a short frame must not end up in the reply.
        let mut f = up(&ip);
        f.extend_from_slice(&[0xee; 7]);
        let out = b.run(Program::Access, &f, XDP_REDIRECT, "access_tx_time_exceeded");
        let e = check_icmp_error(check_pppoe(&out, bm, &[], 0x0101));
        assert_eq!(
            (e.src, e.dst, e.ttl, e.tos),
            (LOCAL, SUB, 64, 0xc0),
            "{name}"
        );
        assert_eq!((e.ty, e.code, e.rest), (11, 0, [0; 4]), "{name}");
        let hlen = ((ip[0] & 0x0f) as usize) * 4;
        assert_eq!(
            e.quoted,
            ip[..hlen + 8],
            "{name}: header + 8 bytes quoted as received"
        );
    }
    // Never an error about an ICMP error, nor about a later fragment; and a
    // datagram shorter than header + 8 cannot be quoted.
    let table: Vec<(&str, Vec<u8>)> = vec![
        (
            "ICMP error with TTL 1",
            icmp_error(
                SUB,
                REMOTE,
                1,
                3,
                3,
                [0; 4],
                &udp(REMOTE, SUB, 59, 53, 40001, b"x"),
            ),
        ),
        (
            "later fragment with TTL 1",
            set_frag_offset(udp(SUB, REMOTE, 1, 1, 2, b"x"), 5, 100),
        ),
        ("4 bytes of payload", {
            let mut p = udp(SUB, REMOTE, 1, 1, 2, b"");
            p.truncate(24);
            set_hdr_word(p, 2, 24)
        }),
    ];
    for (name, ip) in table {
        eprintln!("case: {name}");
        b.run(Program::Access, &up(&ip), XDP_DROP, "drop_ttl_expired");
    }

    // A flow downstream.
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 40001, 53, b"q")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    let pport = 1024 + 40001 % 512;

    // Downstream TTL 1: Time Exceeded from the uplink address, MACs swapped.
    let ip = udp(REMOTE, PUBLIC, 1, 53, pport, b"answer");
    let out = b.run(
        Program::Uplink,
        &down(&ip),
        XDP_REDIRECT,
        "uplink_tx_time_exceeded",
    );
    assert_eq!(&out[0..6], &GW_MAC, "back to the sender's MAC");
    assert_eq!(&out[6..12], &um);
    assert_eq!(&out[12..14], &[0x08, 0x00]);
    let e = check_icmp_error(&out[14..]);
    assert_eq!((e.src, e.dst, e.ty, e.code), (PUBLIC, REMOTE, 11, 0));
    assert_eq!(e.quoted, ip[..28]);

    // DF set and larger than the session MTU (1492): Fragmentation Needed.
    let big = set_df(udp(REMOTE, PUBLIC, 60, 53, pport, &[7u8; 1472]), true);
    let out = b.run(
        Program::Uplink,
        &down(&big),
        XDP_REDIRECT,
        "uplink_tx_frag_needed",
    );
    assert_eq!(
        out.len(),
        14 + 20 + 8 + 28,
        "reply cut to header + 8 bytes quoted"
    );
    let e = check_icmp_error(&out[14..]);
    assert_eq!((e.src, e.dst, e.ty, e.code), (PUBLIC, REMOTE, 3, 4));
    assert_eq!(e.rest, [0, 0, 0x05, 0xd4], "next-hop MTU 1492 (RFC 1191)");
    assert_eq!(e.quoted, big[..28]);
    // Same with DF clear: no fragmentation in XDP, counted drop.
    let big = set_df(big, false);
    b.run(Program::Uplink, &down(&big), XDP_DROP, "drop_too_big_no_df");
    // Exactly the MTU with DF passes.
    let fits = set_df(udp(REMOTE, PUBLIC, 60, 53, pport, &[7u8; 1464]), true);
    b.run(
        Program::Uplink,
        &down(&fits),
        XDP_REDIRECT,
        "down_forwarded",
    );
    // A smaller session MTU is what the error announces.
    let mut small = b.row(0x0102, (0, 0), 0);
    small.address = Ipv4Addr::new(100, 64, 0, 8);
    small.client_mac = [0x02, 0, 0, 0, 0, 0x02];
    small.mtu = 1400;
    b.dp.install(&small).unwrap();
    let (start, _) = b.dp.port_block(&small).unwrap();
    b.run(
        Program::Access,
        &pppoe(
            small.client_mac,
            bm,
            &[],
            0x0102,
            0x21,
            &udp(small.address, REMOTE, 64, 7, 53, b"q"),
        ),
        XDP_REDIRECT,
        "up_forwarded",
    );
    let big = set_df(
        udp(REMOTE, PUBLIC, 60, 53, start + 7, &[7u8; 1401 - 28]),
        true,
    );
    let out = b.run(
        Program::Uplink,
        &down(&big),
        XDP_REDIRECT,
        "uplink_tx_frag_needed",
    );
    let e = check_icmp_error(&out[14..]);
    assert_eq!(u16::from_be_bytes([e.rest[2], e.rest[3]]), 1400);
}

/// The TCP options of `packet` (IPv4 + TCP), as etherparse reads them.
fn tcp_mss(packet: &[u8]) -> Option<u16> {
    let p = SlicedPacket::from_ip(packet).unwrap();
    let Some(TransportSlice::Tcp(t)) = p.transport else {
        panic!("not TCP")
    };
    t.options_iterator().find_map(|o| match o {
        Ok(TcpOptionElement::MaximumSegmentSize(m)) => Some(m),
        _ => None,
    })
}

fn tcp_with(
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    syn_ack: bool,
    opts: &[TcpOptionElement],
) -> Vec<u8> {
    let b = PacketBuilder::ipv4(src.octets(), dst.octets(), 64).tcp(sport, dport, 1000, 65535);
    let b = if syn_ack { b.syn().ack(5) } else { b.syn() };
    let b = b.options(opts).unwrap();
    let mut v = Vec::new();
    b.write(&mut v, b"").unwrap();
    v
}

/// MSS clamping: SYN upstream and SYN-ACK downstream get MSS ≤ MTU − 40
/// (1452 for 1492) with a valid TCP checksum; smaller values, non-SYN
/// segments and the other options are left alone.
#[test]
fn mss_is_clamped_on_syn_and_syn_ack() {
    skip_unless_able!();
    use TcpOptionElement::*;
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);
    let linux = [
        MaximumSegmentSize(1460),
        SelectiveAcknowledgementPermitted,
        Timestamp(1, 0),
        Noop,
        WindowScale(7),
    ];
    let cases: [(&str, Vec<TcpOptionElement>, u16); 4] = [
        ("linux SYN", linux.to_vec(), 1452),
        (
            "MSS after NOPs",
            vec![Noop, Noop, WindowScale(2), MaximumSegmentSize(8960)],
            1452,
        ),
        ("already small", vec![MaximumSegmentSize(1400)], 1400),
        (
            "MSS last",
            vec![
                Timestamp(9, 9),
                SelectiveAcknowledgementPermitted,
                MaximumSegmentSize(1500),
            ],
            1452,
        ),
    ];
    for (i, (name, opts, want)) in cases.into_iter().enumerate() {
        let sport = 41000 + i as u16;
        let syn = tcp_with(SUB, REMOTE, sport, 80, false, &opts);
        let out = b.run(Program::Access, &up(&syn), XDP_REDIRECT, "up_forwarded");
        check_ipv4(&out[14..]);
        assert_eq!(tcp_mss(&out[14..]), Some(want), "{name} upstream");
        let pport = check_ipv4(&out[14..]).sport;
        let syn_ack = tcp_with(REMOTE, PUBLIC, 80, pport, true, &opts);
        let out = b.run(
            Program::Uplink,
            &down(&syn_ack),
            XDP_REDIRECT,
            "down_forwarded",
        );
        let inner = check_pppoe(&out, bm, &[], 0x0101);
        check_ipv4(inner);
        assert_eq!(tcp_mss(inner), Some(want), "{name} downstream SYN-ACK");
    }
    // Not a SYN: untouched even with an MSS option.
    let plain = {
        let b = PacketBuilder::ipv4(SUB.octets(), REMOTE.octets(), 64)
            .tcp(41000, 80, 1001, 65535)
            .ack(6)
            .options(&[MaximumSegmentSize(1460)])
            .unwrap();
        let mut v = Vec::new();
        b.write(&mut v, b"data").unwrap();
        v
    };
    let out = b.run(Program::Access, &up(&plain), XDP_REDIRECT, "up_forwarded");
    assert_eq!(tcp_mss(&out[14..]), Some(1460));

    // mss_clamp = false leaves SYNs alone.
    drop(b);
    let mut b = Bench::new(|c| c.mss_clamp = false);
    b.dp.install(&row).unwrap();
    let bm = b.acc_mac;
    let syn = tcp_with(SUB, REMOTE, 42000, 80, false, &linux);
    let out = b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &syn),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert_eq!(tcp_mss(&out[14..]), Some(1460));
}

/// Fragments through the NAT: the first fragment is translated by its
/// ports and remembered; later fragments of the same datagram (same
/// source, destination, protocol, id) get the same address; others are not
/// translated.
#[test]
fn fragments_follow_their_first_fragment() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);
    let pport = 1024 + 40001 % 512;

    // Upstream: first fragment (MF, offset 0, id 0x1234) then a later one.
    let first = set_hdr_word(
        set_fragment(udp(SUB, REMOTE, 64, 40001, 53, &[1u8; 64])),
        4,
        0x1234,
    );
    let out = b.run(Program::Access, &up(&first), XDP_REDIRECT, "up_forwarded");
    let o = &out[14..];
    assert_eq!(inet_csum(&o[..20]), 0);
    assert_eq!(&o[12..16], &PUBLIC.octets());
    assert_eq!(
        u16::from_be_bytes([o[20], o[21]]),
        pport,
        "first fragment: port translated"
    );
    let later = set_frag_offset(
        udp(SUB, REMOTE, 64, 1, 2, b"tail of the datagram"),
        0x1234,
        9,
    );
    let out = b.run(Program::Access, &up(&later), XDP_REDIRECT, "up_forwarded");
    let o = &out[14..];
    assert_eq!(inet_csum(&o[..20]), 0, "header checksum");
    assert_eq!(
        &o[12..16],
        &PUBLIC.octets(),
        "later fragment: source translated"
    );
    assert_eq!(&o[20..], &later[20..], "later fragment: payload untouched");
    // Other id: no state.
    let stray = set_frag_offset(udp(SUB, REMOTE, 64, 1, 2, b"tail"), 0x1235, 9);
    b.run(Program::Access, &up(&stray), XDP_DROP, "drop_fragment");

    // Downstream, same: first fragment by the mapping, then later ones.
    let first = set_hdr_word(
        set_fragment(udp(REMOTE, PUBLIC, 60, 53, pport, &[2u8; 64])),
        4,
        0x4321,
    );
    let out = b.run(
        Program::Uplink,
        &down(&first),
        XDP_REDIRECT,
        "down_forwarded",
    );
    let o = check_pppoe(&out, bm, &[], 0x0101);
    assert_eq!(&o[16..20], &SUB.octets());
    assert_eq!(u16::from_be_bytes([o[22], o[23]]), 40001);
    let later = set_frag_offset(udp(REMOTE, PUBLIC, 60, 9, 9, b"rest of it"), 0x4321, 9);
    let out = b.run(
        Program::Uplink,
        &down(&later),
        XDP_REDIRECT,
        "down_forwarded",
    );
    let o = check_pppoe(&out, bm, &[], 0x0101);
    assert_eq!(inet_csum(&o[..20]), 0);
    assert_eq!(
        &o[16..20],
        &SUB.octets(),
        "later fragment: destination translated"
    );
    assert_eq!(&o[20..], &later[20..]);
    let stray = down(&set_frag_offset(
        udp(REMOTE, PUBLIC, 60, 9, 9, b"x"),
        0x4322,
        9,
    ));
    let out = b.run(Program::Uplink, &stray, XDP_PASS, "uplink_pass_fragment");
    assert_eq!(out, stray);
}

/// Hairpinning (RFC 4787 REQ-9): a subscriber sending to another
/// subscriber's public address and port reaches it, seen from its own
/// public address and port, and the answer goes back the same way.
#[test]
fn hairpin_between_two_subscribers() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let a = b.row(0x0101, (0, 0), 0);
    b.dp.install(&a).unwrap();
    let mut c = b.row(0x0102, (100, 0), 0);
    c.client_mac = [0x02, 0, 0, 0, 0, 0x02];
    c.address = Ipv4Addr::new(100, 64, 0, 8);
    b.dp.install(&c).unwrap();
    let bm = b.acc_mac;
    let (ca, _) = b.dp.port_block(&a).unwrap();
    let (cc, _) = b.dp.port_block(&c).unwrap();
    // C opens a mapping (e.g. a game server behind NAT talking to a rendezvous host).
    let out = b.run(
        Program::Access,
        &pppoe(
            c.client_mac,
            bm,
            &[(0x8100, 100)],
            0x0102,
            0x21,
            &udp(c.address, REMOTE, 64, 5000, 3478, b"stun"),
        ),
        XDP_REDIRECT,
        "up_forwarded",
    );
    let c_pub = check_ipv4(&out[14..]).sport;
    assert_eq!(c_pub, cc + 5000 % 512);
    // A sends to C's public endpoint: hairpinned to C (802.1Q tag 100), from A's public endpoint.
    let out = b.run(
        Program::Access,
        &pppoe(
            CLIENT,
            bm,
            &[],
            0x0101,
            0x21,
            &udp(SUB, PUBLIC, 64, 6000, c_pub, b"hello C"),
        ),
        XDP_REDIRECT,
        "up_hairpin",
    );
    assert_eq!(&out[0..6], &c.client_mac);
    let inner = &out[30 - 4..];
    assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 100], "C's VLAN tag");
    let v = check_ipv4(inner);
    let a_pub = ca + 6000 % 512;
    assert_eq!(
        (v.src, v.sport, v.dst, v.dport, v.ttl),
        (PUBLIC, a_pub, c.address, 5000, 63)
    );
    // C answers A's public endpoint: back to A.
    let out = b.run(
        Program::Access,
        &pppoe(
            c.client_mac,
            bm,
            &[(0x8100, 100)],
            0x0102,
            0x21,
            &udp(c.address, PUBLIC, 64, 5000, a_pub, b"hi A"),
        ),
        XDP_REDIRECT,
        "up_hairpin",
    );
    let v = check_ipv4(check_pppoe(&out, bm, &[], 0x0101));
    assert_eq!((v.src, v.sport, v.dst, v.dport), (PUBLIC, c_pub, SUB, 6000));
    // The BRAS's own address without a mapping is not forwarded.
    b.run(
        Program::Access,
        &pppoe(
            CLIENT,
            bm,
            &[],
            0x0101,
            0x21,
            &udp(SUB, PUBLIC, 64, 6000, 22, b"ssh?"),
        ),
        XDP_DROP,
        "drop_fib_fail",
    );
}

/// Several public addresses: blocks are handed out interleaved over the
/// addresses (paired pooling: all of a session's mappings on one address),
/// and each session's traffic leaves from, and returns to, its address.
#[test]
fn paired_pooling_over_several_public_addresses() {
    skip_unless_able!();
    let second = Ipv4Addr::new(192, 0, 2, 2);
    let mut b = Bench::new(|c| c.public_ips = vec![PUBLIC, second]);
    let bm = b.acc_mac;
    let um = b.up_mac;
    let mut rows = Vec::new();
    for i in 0..3u8 {
        let mut r = b.row(0x0101 + i as u16, (0, 0), 0);
        r.client_mac = [0x02, 0, 0, 0, 0, 0x10 + i];
        r.address = Ipv4Addr::new(100, 64, 0, 20 + i);
        b.dp.install(&r).unwrap();
        rows.push(r);
    }
    let blocks: Vec<_> = rows.iter().map(|r| b.dp.nat_block(r).unwrap()).collect();
    assert_eq!(
        blocks,
        vec![
            (PUBLIC, 1024, 512),
            (second, 1024, 512),
            (PUBLIC, 1536, 512)
        ]
    );
    // The default netns ephemeral range 32768-60999 is left out: 70 blocks per address.
    assert_eq!(b.dp.block_capacity(), 2 * 70);
    for (r, (addr, start, _)) in rows.iter().zip(&blocks) {
        for sport in [100u16, 200] {
            let out = b.run(
                Program::Access,
                &pppoe(
                    r.client_mac,
                    bm,
                    &[],
                    r.session_id,
                    0x21,
                    &udp(r.address, REMOTE, 64, sport, 53, b"q"),
                ),
                XDP_REDIRECT,
                "up_forwarded",
            );
            let v = check_ipv4(&out[14..]);
            assert_eq!(
                (v.src, v.sport),
                (*addr, start + sport),
                "paired: same address for every flow"
            );
        }
        let out = b.run(
            Program::Uplink,
            &eth_ipv4(GW_MAC, um, &udp(REMOTE, *addr, 60, 53, start + 100, b"a")),
            XDP_REDIRECT,
            "down_forwarded",
        );
        let v = check_ipv4(check_pppoe_to(&out, r.client_mac, bm, &[], r.session_id));
        assert_eq!((v.dst, v.dport), (r.address, 100));
    }
}

/// A freed port block rests 120 s before another session gets it (RFC 6888).
#[test]
fn freed_block_is_not_reused_at_once() {
    skip_unless_able!();
    // Exactly one block: 65024-65535.
    let mut b = Bench::new(|c| c.first_port = 65024);
    let a = b.row(0x0101, (0, 0), 0);
    b.dp.install(&a).unwrap();
    assert_eq!(b.dp.nat_block(&a), Some((PUBLIC, 65024, 512)));
    b.dp.remove(&a).unwrap();
    let err = b.dp.install(&a).unwrap_err();
    assert!(
        err.to_string().contains("no free NAT port block"),
        "{err:#}"
    );
}

/// TCP state: a SYN nobody answered, or a connection after FIN/RST, is
/// transitory (4 min); one both ends spoke on is established (2 h 4 min).
#[test]
fn tcp_state_picks_the_timeout() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (bm, um) = (b.acc_mac, b.up_mac);
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x0021, ip);
    let down = |ip: &[u8]| eth_ipv4(GW_MAC, um, ip);
    let seg = |src: Ipv4Addr, dst: Ipv4Addr, sp: u16, dp: u16, flags: &str| {
        let mut t = PacketBuilder::ipv4(src.octets(), dst.octets(), 64).tcp(sp, dp, 1, 65535);
        for f in flags.chars() {
            t = match f {
                'S' => t.syn(),
                'A' => t.ack(1),
                'F' => t.fin(),
                'R' => t.rst(),
                _ => t,
            };
        }
        let mut v = Vec::new();
        t.write(&mut v, b"").unwrap();
        v
    };
    // 1: SYN only. 2: SYN, SYN-ACK, ACK. 3: established then FIN. 4: established then RST from remote.
    for sp in [1u16, 2, 3, 4] {
        b.run(
            Program::Access,
            &up(&seg(SUB, REMOTE, 5000 + sp, 80, "S")),
            XDP_REDIRECT,
            "up_forwarded",
        );
    }
    let pp = |sp: u16| 1024 + (5000 + sp) % 512;
    for sp in [2u16, 3, 4] {
        b.run(
            Program::Uplink,
            &down(&seg(REMOTE, PUBLIC, 80, pp(sp), "SA")),
            XDP_REDIRECT,
            "down_forwarded",
        );
        b.run(
            Program::Access,
            &up(&seg(SUB, REMOTE, 5000 + sp, 80, "A")),
            XDP_REDIRECT,
            "up_forwarded",
        );
    }
    b.run(
        Program::Access,
        &up(&seg(SUB, REMOTE, 5003, 80, "FA")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Uplink,
        &down(&seg(REMOTE, PUBLIC, 80, pp(4), "R")),
        XDP_REDIRECT,
        "down_forwarded",
    );
    let states: std::collections::HashMap<u16, u8> =
        b.dp.nat_mappings()
            .iter()
            .map(|m| (m.inside.1 - 5000, m.state))
            .collect();
    use pppoe_bras_common::maps::tcp_established;
    assert!(!tcp_established(states[&1]), "SYN only: {:#x}", states[&1]);
    assert!(tcp_established(states[&2]), "answered: {:#x}", states[&2]);
    assert!(!tcp_established(states[&3]), "FIN: {:#x}", states[&3]);
    assert!(!tcp_established(states[&4]), "RST: {:#x}", states[&4]);

    let now = pppoe_bras::dataplane::monotonic_ns();
    let s = 1_000_000_000u64;
    assert_eq!(b.dp.expire_idle_at(now + 239 * s), 0);
    assert_eq!(
        b.dp.expire_idle_at(now + 241 * s),
        3,
        "transitory after 240 s"
    );
    let left = b.dp.nat_mappings();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].inside.1, 5002);
    assert_eq!(b.dp.expire_idle_at(now + 7439 * s), 0);
    assert_eq!(
        b.dp.expire_idle_at(now + 7441 * s),
        1,
        "established after 2 h 4 min"
    );
    // A new SYN on an old mapping starts over as transitory.
    b.run(
        Program::Access,
        &up(&seg(SUB, REMOTE, 5002, 80, "S")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Uplink,
        &down(&seg(REMOTE, PUBLIC, 80, pp(2), "SA")),
        XDP_REDIRECT,
        "down_forwarded",
    );
    b.run(
        Program::Access,
        &up(&seg(SUB, REMOTE, 5002, 80, "S")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert!(!tcp_established(b.dp.nat_mappings()[0].state));
}

// ------------------------------------------------- the sealed access segment

/// A host on the subscriber segment that is not a subscriber reaches
/// nothing: plain IPv4, IPv6, ARP, a truncated frame are dropped by
/// default; `access_allow` lets the named kinds (and only those) through.
#[test]
fn access_segment_carries_pppoe_only() {
    skip_unless_able!();
    let eth = |ty: u16, body: &[u8]| {
        let mut f = Vec::new();
        f.extend_from_slice(&[0x02, 0, 0, 0, 0, 0x01]);
        f.extend_from_slice(&CLIENT);
        f.extend_from_slice(&ty.to_be_bytes());
        f.extend_from_slice(body);
        f
    };
    let arp = eth(0x0806, &[0; 28]);
    let v6 = eth(0x86dd, &[0x60; 60]);
    let lldp = eth(0x88cc, &[0; 46]);
    let tagged_v4 = {
        let mut f = vec![0x02, 0, 0, 0, 0, 0x01];
        f.extend_from_slice(&CLIENT);
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x64, 0x08, 0x00]);
        f.extend_from_slice(&udp(SUB, REMOTE, 64, 1, 53, b"x"));
        f
    };
    let mut b = Bench::new(|_| {});
    let bm = b.acc_mac;
    let v4 = eth_ipv4(
        CLIENT,
        bm,
        &udp(Ipv4Addr::new(10, 99, 0, 2), REMOTE, 64, 1, 53, b"x"),
    );
    for f in [&v4, &v6, &arp, &lldp, &tagged_v4] {
        b.run(Program::Access, f, XDP_DROP, "drop_access_not_pppoe");
    }
    // A VLAN tag cut off after the TPID.
    b.run(
        Program::Access,
        &eth(0x8100, &[]),
        XDP_DROP,
        "drop_malformed",
    );
    drop(b);

    use pppoe_bras_common::maps::access_allow::{ARP, LLDP};
    let mut b = Bench::new(|c| c.access_allow = ARP | LLDP);
    b.run(Program::Access, &arp, XDP_PASS, "access_pass_other");
    b.run(Program::Access, &lldp, XDP_PASS, "access_pass_other");
    b.run(Program::Access, &v4, XDP_DROP, "drop_access_not_pppoe");
    b.run(Program::Access, &v6, XDP_DROP, "drop_access_not_pppoe");
}

// ------------------------------------------------------ the gateway answers

/// `ping local_address` from a session is answered in place, through the
/// same session (tags, id), with valid checksums; TTL 1 does not matter
/// (the datagram is for the BRAS). UDP/TCP get Port Unreachable, other
/// protocols Protocol Unreachable, anything else to it is dropped; none of
/// it reaches the uplink.
#[test]
fn gateway_address_answers_ping_and_unreachables() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (100, 0), 0);
    b.dp.install(&row).unwrap();
    let bm = b.acc_mac;
    let tags = [(0x8100u16, 100u16)];
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &tags, 0x0101, 0x21, ip);

    for ttl in [64, 1] {
        let req = echo(SUB, LOCAL, ttl, true, 0x4242, 7);
        let out = b.run(
            Program::Access,
            &up(&req),
            XDP_REDIRECT,
            "access_tx_echo_reply",
        );
        let ip = check_pppoe(&out, bm, &tags, 0x0101);
        let v = check_ipv4(ip);
        assert_eq!((v.src, v.dst, v.ttl, v.sport), (LOCAL, SUB, 64, 0x4242));
        assert_eq!(ip[20], 0, "ICMP type Echo Reply");
        assert_eq!(&ip[28..], b"ping-payload", "payload echoed");
    }
    let c = b.dp.counters(&row);
    assert_eq!((c.up_packets, c.down_packets), (2, 2), "{c:?}");

    // UDP to the gateway: Port Unreachable quoting the datagram.
    let dgram = udp(SUB, LOCAL, 64, 5353, 53, b"query");
    let out = b.run(
        Program::Access,
        &up(&dgram),
        XDP_REDIRECT,
        "access_tx_unreachable",
    );
    let ip = check_pppoe(&out, bm, &tags, 0x0101);
    assert_eq!(
        &ip[12..20],
        &[172, 16, 0, 254, 100, 64, 0, 7],
        "from LOCAL to SUB"
    );
    assert_eq!((ip[9], ip[20], ip[21]), (1, 3, 3), "ICMP Port Unreachable");
    assert_eq!(&ip[28..48], &dgram[..20], "quotes the header");
    let sum = ip[20..]
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], *w.get(1).unwrap_or(&0)])))
        .sum::<u32>();
    let folded = (sum & 0xffff) + (sum >> 16);
    assert_eq!((folded & 0xffff) + (folded >> 16), 0xffff, "ICMP checksum");

    // GRE (47) to the gateway: Protocol Unreachable.
    let mut gre = udp(SUB, LOCAL, 64, 1, 2, b"gre?");
    gre[9] = 47;
    gre[10] = 0;
    gre[11] = 0;
    let hc = !etherparse::Ipv4HeaderSlice::from_slice(&gre)
        .unwrap()
        .to_header()
        .calc_header_checksum();
    let hc = !hc;
    gre[10..12].copy_from_slice(&hc.to_be_bytes());
    let out = b.run(
        Program::Access,
        &up(&gre),
        XDP_REDIRECT,
        "access_tx_unreachable",
    );
    let ip = check_pppoe(&out, bm, &tags, 0x0101);
    assert_eq!((ip[20], ip[21]), (3, 2), "ICMP Protocol Unreachable");

    // An Echo Reply or an ICMP error to the gateway: nothing to answer.
    let reply = echo(SUB, LOCAL, 64, false, 1, 1);
    b.run(Program::Access, &up(&reply), XDP_DROP, "drop_to_local");
    assert_eq!(b.stat("up_forwarded"), 0, "nothing went to the uplink");
}

// ------------------------------------------ subscriber to subscriber inside

/// A → B's inside address goes PPPoE to PPPoE without NAT (source kept,
/// TTL − 1, B's tags and id); with `isolate_subscribers` it is dropped; an
/// inside address nobody holds is never sent to the uplink.
#[test]
fn subscriber_to_subscriber_by_inside_address() {
    skip_unless_able!();
    let other = Ipv4Addr::new(100, 64, 0, 8);
    let free = Ipv4Addr::new(100, 64, 0, 9);
    let inside = vec![(Ipv4Addr::new(100, 64, 0, 0), 24)];
    for isolate in [false, true] {
        let inside = inside.clone();
        let mut b = Bench::new(|c| {
            c.isolate_subscribers = isolate;
            c.inside = inside;
        });
        let a = b.row(0x0101, (0, 0), 0);
        b.dp.install(&a).unwrap();
        let mut c = b.row(0x0102, (100, 0), 0);
        c.client_mac = [0x02, 0, 0, 0, 0, 0x02];
        c.address = other;
        b.dp.install(&c).unwrap();
        let bm = b.acc_mac;
        let f = pppoe(
            CLIENT,
            bm,
            &[],
            0x0101,
            0x21,
            &udp(SUB, other, 64, 7000, 8000, b"hi B"),
        );
        if isolate {
            b.run(Program::Access, &f, XDP_DROP, "drop_isolated");
        } else {
            let out = b.run(Program::Access, &f, XDP_REDIRECT, "up_subscriber");
            let v = check_ipv4(check_pppoe_to(
                &out,
                c.client_mac,
                bm,
                &[(0x8100, 100)],
                0x0102,
            ));
            assert_eq!(
                (v.src, v.sport, v.dst, v.dport, v.ttl),
                (SUB, 7000, other, 8000, 63),
                "routed, not NATed"
            );
            let (ca, cc) = (b.dp.counters(&a), b.dp.counters(&c));
            assert_eq!((ca.up_packets, cc.down_packets), (1, 1));
        }
        let f = pppoe(
            CLIENT,
            bm,
            &[],
            0x0101,
            0x21,
            &udp(SUB, free, 64, 7000, 8000, b"x"),
        );
        b.run(Program::Access, &f, XDP_DROP, "drop_inside_no_subscriber");
        // Outside the inside prefixes traffic is NATed to the uplink as before.
        let f = pppoe(
            CLIENT,
            bm,
            &[],
            0x0101,
            0x21,
            &udp(SUB, REMOTE, 64, 7000, 53, b"x"),
        );
        b.run(Program::Access, &f, XDP_REDIRECT, "up_forwarded");
        assert_eq!(
            b.dp.nat_mappings().len(),
            1,
            "only the uplink flow was NATed"
        );
    }
}

/// Re-installing a session with the same address (what the daemon does
/// after LCP/IPCP renegotiation) updates its rows in place: same port
/// block, live mappings kept, new MTU in force.
#[test]
fn reinstall_after_renegotiation_keeps_block_and_mappings() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let mut row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let block = b.dp.nat_block(&row);
    let bm = b.acc_mac;
    let f = pppoe(
        CLIENT,
        bm,
        &[],
        0x0101,
        0x21,
        &udp(SUB, REMOTE, 64, 40001, 53, b"x"),
    );
    let out = b.run(Program::Access, &f, XDP_REDIRECT, "up_forwarded");
    let public_port = check_ipv4(&out[14..]).sport;
    for mtu in [1400u16, 1492].into_iter().cycle().take(1000) {
        row.mtu = mtu;
        b.dp.install(&row).unwrap();
    }
    assert_eq!(b.dp.nat_block(&row), block, "same block");
    let m = b.dp.nat_mappings();
    assert_eq!(m.len(), 1, "mapping kept: {m:?}");
    let out = b.run(Program::Access, &f, XDP_REDIRECT, "up_forwarded");
    assert_eq!(
        check_ipv4(&out[14..]).sport,
        public_port,
        "same public port"
    );
    // The new MTU is in force downstream: 1028 bytes with DF over 576.
    row.mtu = 576;
    b.dp.install(&row).unwrap();
    let big = udp(REMOTE, PUBLIC, 64, 53, public_port, &[0u8; 1000]);
    b.run(
        Program::Uplink,
        &eth_ipv4(GW_MAC, b.up_mac, &big),
        XDP_REDIRECT,
        "uplink_tx_frag_needed",
    );
}

// ------------------------------------------------------ NAT ports and expiry

/// Source ports in a random order (xorshift), distinct, above 1024.
fn random_ports(n: usize, mut seed: u64) -> Vec<u16> {
    let mut seen = std::collections::HashSet::new();
    let mut out = Vec::new();
    while out.len() < n {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let p = 1024 + (seed >> 20) as u16 % 64000;
        if seen.insert(p) {
            out.push(p);
        }
    }
    out
}

/// A session opening UDP flows from random source ports gets every port of
/// its 512-port block (the old 16-probe search refused the first flow near
/// 340 mappings); the 513th flow is refused and counted; once expiry frees
/// the mappings, new flows get ports again (the session's live count went
/// down with them).
#[test]
fn nat_fills_the_whole_block_before_refusing() {
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let (start, count) = b.dp.port_block(&row).unwrap();
    assert_eq!(count, 512);
    let bm = b.acc_mac;
    let ports = random_ports(513, 0x9e37_79b9_7f4a_7c15);
    let mut public = std::collections::HashSet::new();
    let t0 = std::time::Instant::now();
    for (i, sport) in ports[..512].iter().enumerate() {
        let ip = udp(SUB, REMOTE, 64, *sport, 53, b"x");
        let out =
            b.dp.test_run(
                Program::Access,
                &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
                b.acc,
                1,
            )
            .unwrap();
        assert_eq!(
            out.action, XDP_REDIRECT,
            "flow {i} (sport {sport}) got no port"
        );
        let p = check_ipv4(&out.frame[14..]).sport;
        assert!(
            p >= start && u32::from(p) < u32::from(start) + 512,
            "{p} outside the block"
        );
        assert!(public.insert(p), "port {p} handed out twice");
    }
    eprintln!("512 flows from random ports: {:?}", t0.elapsed());
    assert_eq!(public.len(), 512);
    assert_eq!(b.stat("drop_no_nat_port"), 0);
    assert_eq!(b.dp.nat_live(&row), Some(512));
    let ip = udp(SUB, REMOTE, 64, ports[512], 53, b"x");
    b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
        XDP_DROP,
        "drop_no_nat_port",
    );
    assert_eq!(
        b.dp.nat_live(&row),
        Some(512),
        "a refused flow holds nothing"
    );
    // The block is per protocol: TCP still has all its ports.
    let t = tcp(SUB, REMOTE, 64, ports[512], 80, b"");
    b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &t),
        XDP_REDIRECT,
        "up_forwarded",
    );
    // UDP expires (300 s), the TCP SYN is transitory (240 s): all go.
    let now = pppoe_bras::dataplane::monotonic_ns();
    assert_eq!(b.dp.expire_idle_at(now + 301_000_000_000), 513);
    assert_eq!(b.dp.nat_live(&row), Some(0));
    b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x21, &ip),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert_eq!(b.dp.nat_live(&row), Some(1));
}

/// `nat_session_mappings` caps a session's live mappings over all
/// protocols (RFC 6888 REQ-4): the next new flow is dropped and counted,
/// existing flows keep working, and expiry gives the room back.
#[test]
fn nat_session_cap_limits_live_mappings() {
    skip_unless_able!();
    let mut b = Bench::new(|c| c.nat_session_mappings = 5);
    assert_eq!(b.dp.nat_session_cap(), 5);
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let bm = b.acc_mac;
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &[], 0x0101, 0x21, ip);
    for sport in [2000u16, 2001, 2002] {
        b.run(
            Program::Access,
            &up(&udp(SUB, REMOTE, 64, sport, 53, b"x")),
            XDP_REDIRECT,
            "up_forwarded",
        );
    }
    b.run(
        Program::Access,
        &up(&tcp(SUB, REMOTE, 64, 2003, 80, b"")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&echo(SUB, REMOTE, 64, true, 2004, 1)),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert_eq!(b.dp.nat_live(&row), Some(5));
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 2005, 53, b"x")),
        XDP_DROP,
        "drop_nat_session_limit",
    );
    b.run(
        Program::Access,
        &up(&tcp(SUB, REMOTE, 64, 2006, 80, b"")),
        XDP_DROP,
        "drop_nat_session_limit",
    );
    // An existing mapping is not a new flow.
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 2000, 53, b"x")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    assert_eq!(b.dp.nat_live(&row), Some(5));
    // ICMP expires after 60 s: one place is free again.
    let now = pppoe_bras::dataplane::monotonic_ns();
    assert_eq!(b.dp.expire_idle_at(now + 61_000_000_000), 1);
    assert_eq!(b.dp.nat_live(&row), Some(4));
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 2005, 53, b"x")),
        XDP_REDIRECT,
        "up_forwarded",
    );
    b.run(
        Program::Access,
        &up(&udp(SUB, REMOTE, 64, 2007, 53, b"x")),
        XDP_DROP,
        "drop_nat_session_limit",
    );
    // Reinstalled, the session starts from zero.
    b.dp.remove(&row).unwrap();
    b.dp.install(&row).unwrap();
    assert_eq!(b.dp.nat_live(&row), Some(0));
}

/// A NAT table that cannot hold every session's quota is refused at start
/// with the keys to change; `nat_table_size` resizes the maps.
#[test]
fn nat_table_size_is_checked_and_applied() {
    skip_unless_able!();
    let net = TestNet::new();
    let mut cfg = net.config();
    cfg.nat_table_size = 1000;
    let e = match Dataplane::start(&cfg) {
        Ok(_) => panic!("a 1000-entry table for 70 blocks × 1536 started"),
        Err(e) => format!("{e:#}"),
    };
    assert!(
        e.contains("nat_table_size = ") && e.contains("nat_session_mappings = 14 or less"),
        "{e}"
    );
    cfg.nat_session_mappings = 14;
    let dp = Dataplane::start(&cfg).expect("fits with the cap");
    assert_eq!(dp.nat_table_size(), 1000);
    let out = Command::new("bpftool")
        .args(["-j", "map", "show", "pinned"])
        .arg(cfg.pin_dir.join("NAT_IN"))
        .output()
        .expect("bpftool");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("bpftool json");
    assert_eq!(v["max_entries"], 1000, "{v}");
    dp.shutdown().unwrap();
}

/// The expiry sweep with 250,000 mappings (a full table) runs in bounded
/// steps: every step looks at no more than its budget of entries (a hash
/// bucket is never split: budget + a bucket at most), the steps together
/// remove exactly the idle half, and the longest step (what the daemon's
/// event loop waits for) is printed.
#[test]
fn nat_expiry_sweep_is_bounded_at_250k_mappings() {
    skip_unless_able!();
    use pppoe_bras_common::maps::{NatKey, NatValue};
    let b = Bench::new(|_| {});
    let mut dp = b.dp;
    let pin = b.net.pin_dir.clone();
    let mut out: aya::maps::HashMap<_, NatKey, NatValue> = aya::maps::HashMap::try_from(
        aya::maps::Map::HashMap(aya::maps::MapData::from_pin(pin.join("NAT_OUT")).unwrap()),
    )
    .unwrap();
    let mut inn: aya::maps::HashMap<_, NatKey, NatValue> = aya::maps::HashMap::try_from(
        aya::maps::Map::HashMap(aya::maps::MapData::from_pin(pin.join("NAT_IN")).unwrap()),
    )
    .unwrap();
    let n: u32 = 250_000;
    let now = pppoe_bras::dataplane::monotonic_ns();
    let old = now - 400_000_000_000; // idle for 400 s: past every UDP timeout
    let t0 = std::time::Instant::now();
    for i in 0..n {
        // Subscriber 100.64.x.y port p ↔ public 192.0.2.(1..=4) port q.
        let sub = [100, 64, (i >> 16) as u8, (i >> 8) as u8];
        let (sport, pubport) = (1024 + (i & 0xff) as u16, 1024 + (i % 60000) as u16);
        let public = [192, 0, 2, 1 + (i / 60000) as u8];
        let last_seen = if i % 2 == 0 { old } else { now };
        let k = NatKey {
            addr: sub,
            port: sport,
            proto: 17,
            _pad: 0,
        };
        let ik = NatKey {
            addr: public,
            port: pubport,
            proto: 17,
            _pad: 0,
        };
        let ov = NatValue {
            addr: public,
            port: pubport,
            last_seen,
            ..Default::default()
        };
        let iv = NatValue {
            addr: sub,
            port: sport,
            last_seen,
            ..Default::default()
        };
        out.insert(k, ov, 0).unwrap();
        inn.insert(ik, iv, 0).unwrap();
    }
    eprintln!("filled {n} mappings in {:?}", t0.elapsed());
    let budget = pppoe_bras::dataplane::EXPIRY_BUDGET;
    let (mut removed, mut steps, mut visited) = (0, 0u32, 0u64);
    let (mut longest, mut total) = (std::time::Duration::ZERO, std::time::Duration::ZERO);
    loop {
        let t = std::time::Instant::now();
        let s = dp.expire_step_at(now, budget);
        let d = t.elapsed();
        longest = longest.max(d);
        total += d;
        // Buckets hold a handful of entries at this load (≤ 1 per bucket on average).
        assert!(
            s.visited <= budget + 64,
            "step {steps} visited {} > budget {budget}",
            s.visited
        );
        removed += s.removed;
        visited += u64::from(s.visited);
        steps += 1;
        if s.pass_done {
            break;
        }
        assert!(steps < 10_000, "the sweep never finished");
    }
    eprintln!(
        "NAT expiry at {n} mappings: {steps} steps of ≤ {budget} entries, longest step \
         {longest:?} (the event loop's longest stall), {total:?} in all, {visited} entries \
         visited, {removed} removed"
    );
    assert_eq!(removed, n as usize / 2, "exactly the idle half");
    assert!(
        visited >= u64::from(n) + u64::from(n) / 2,
        "both maps walked: {visited}"
    );
    assert_eq!(dp.nat_mappings().len(), n as usize / 2);
}

// ------------------------------------------------------------------ capture

/// Every sample in the perf buffers: (metadata, frame bytes).
fn drain_capture(
    bufs: &mut [pppoe_bras::dataplane::capture::EventBuffer],
) -> Vec<(pppoe_bras_common::capture::CaptureMeta, Vec<u8>)> {
    use pppoe_bras_common::capture::CaptureMeta;
    let mut out = Vec::new();
    for b in bufs.iter_mut() {
        b.for_each(|ev| {
            if let aya::maps::perf::PerfEvent::Sample { head, tail } = ev {
                let s = [head, tail].concat();
                let m = CaptureMeta::parse(&s).expect("sample starts with CaptureMeta");
                let start = std::mem::size_of::<CaptureMeta>();
                let frame = s[start..start + m.cap_len as usize].to_vec();
                // The programs are attached to the test's veths too: the
                // kernel's own IPv6 multicast there (MLD reports, router
                // solicitations while the links settle) is captured now
                // and then. No test frame goes to a 33:33:… address.
                if !frame.starts_with(&[0x33, 0x33]) {
                    out.push((m, frame));
                }
            }
        });
    }
    out
}

#[test]
fn capture_copies_frames_as_received_and_as_sent_only_while_enabled() {
    use pppoe_bras::{
        capture::{capture_config, Directions, Sides, Target},
        dataplane::{capture::CaptureMaps, monotonic_ns, online_cpus},
    };
    use pppoe_bras_common::{capture::*, stats::Stat};
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (0, 0), 0);
    b.dp.install(&row).unwrap();
    let pin_dir = b.net.pin_dir.clone();
    let mut maps = CaptureMaps::open(&pin_dir).expect("open the capture maps");
    let mut bufs = maps.open_buffers(&online_cpus().unwrap(), 8).unwrap();
    let up = pppoe(
        CLIENT,
        b.acc_mac,
        &[],
        0x0101,
        0x0021,
        &udp(SUB, REMOTE, 64, 40001, 53, b"query"),
    );
    let public_port = 1024 + 40001 % 512;
    let down = eth_ipv4(
        GW_MAC,
        b.up_mac,
        &udp(REMOTE, PUBLIC, 64, 53, public_port, b"answer"),
    );

    // Off (the daemon starts with CAPTURE all zero): nothing is copied.
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    b.run(Program::Uplink, &down, XDP_REDIRECT, "down_forwarded");
    assert!(
        drain_capture(&mut bufs).is_empty(),
        "capture off: no sample"
    );

    let lease = |mut c: CaptureConfig| {
        c.owner_pid = std::process::id();
        c.expires_ns = monotonic_ns() + 60_000_000_000;
        c
    };
    let everything = lease(capture_config(
        Sides::Both,
        Directions::Both,
        &Target::default(),
        262_144,
        0,
    ));
    maps.set(&everything).unwrap();
    // A second capture is refused while this one holds the lock, naming it.
    let err = CaptureMaps::open(&pin_dir)
        .err()
        .expect("second capture refused");
    assert!(
        format!("{err:#}").contains(&format!("pid {}", std::process::id())),
        "{err:#}"
    );

    // Upstream: as received on the access NIC, as sent on the uplink.
    let sent_up = b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 2, "access in + uplink out: {got:?}");
    let (m, f) = &got[0];
    assert_eq!(m.point, POINT_ACCESS_IN);
    assert_eq!(m.prog, PROG_ACCESS);
    assert_eq!(m.stat, STAT_NONE);
    assert_eq!(m.ifindex, b.acc);
    assert_eq!((m.orig_len, m.cap_len), (up.len() as u32, up.len() as u32));
    assert_eq!(f, &up, "the PPPoE frame as received");
    let (m, f) = &got[1];
    assert_eq!(m.point, POINT_UPLINK_OUT);
    assert_eq!(m.stat, Stat::UpForwarded as u16);
    assert_eq!(m.ifindex, b.up);
    assert_eq!(f, &sent_up, "the NATed IPv4 frame as sent");
    assert!(got[0].0.ts_ns <= got[1].0.ts_ns && got[0].0.ts_ns > 0);

    // Downstream: as received on the uplink, as sent (PPPoE) on the access NIC.
    let sent_down = b.run(Program::Uplink, &down, XDP_REDIRECT, "down_forwarded");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 2, "uplink in + access out: {got:?}");
    assert_eq!(got[0].0.point, POINT_UPLINK_IN);
    assert_eq!(got[0].0.ifindex, b.up);
    assert_eq!(got[0].1, down);
    assert_eq!(got[1].0.point, POINT_ACCESS_OUT);
    assert_eq!(got[1].0.prog, PROG_UPLINK);
    assert_eq!(got[1].0.stat, Stat::DownForwarded as u16);
    assert_eq!(got[1].0.ifindex, b.acc);
    assert_eq!(got[1].1, sent_down);
    check_pppoe(&got[1].1, b.acc_mac, &[], 0x0101);

    // Dropped and passed frames are seen as received only.
    let lcp = pppoe(
        CLIENT,
        b.acc_mac,
        &[],
        0x0101,
        0xc021,
        &[9, 1, 0, 8, 0, 0, 0, 0],
    );
    b.run(Program::Access, &lcp, XDP_PASS, "access_pass_control");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 1);
    assert_eq!((got[0].0.point, &got[0].1), (POINT_ACCESS_IN, &lcp));

    // Snaplen: the head of the frame, the full length recorded.
    maps.set(&CaptureConfig {
        snaplen: 20,
        ..everything
    })
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 2);
    assert_eq!((got[0].0.cap_len, got[0].0.orig_len), (20, up.len() as u32));
    assert_eq!(got[0].1, up[..20]);

    // Side and direction selection.
    let only = |s, d| lease(capture_config(s, d, &Target::default(), 262_144, 0));
    maps.set(&only(Sides::Uplink, Directions::Both)).unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0.point, POINT_UPLINK_OUT);
    maps.set(&only(Sides::Both, Directions::Down)).unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    assert!(drain_capture(&mut bufs).is_empty(), "upstream not wanted");
    b.run(Program::Uplink, &down, XDP_REDIRECT, "down_forwarded");
    assert_eq!(drain_capture(&mut bufs).len(), 2);

    // Session filter: this session's frames on both sides (its NAT block on
    // the uplink), another session's id matches nothing.
    let session =
        b.dp.port_block(&row)
            .map(|(start, count)| pppoe_bras_common::maps::SessionValue {
                addr: SUB.octets(),
                public_addr: PUBLIC.octets(),
                port_start: start,
                port_count: count,
                mtu: 1492,
                flags: 1,
                slot: 0,
            });
    let mine = Target {
        session_id: Some(0x0101),
        session,
        host: None,
    };
    maps.set(&lease(capture_config(
        Sides::Both,
        Directions::Both,
        &mine,
        262_144,
        0,
    )))
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    b.run(Program::Uplink, &down, XDP_REDIRECT, "down_forwarded");
    assert_eq!(
        drain_capture(&mut bufs).len(),
        4,
        "session 0x0101 both ways"
    );
    // Traffic to the public address outside the block (the host's own).
    let host_own = eth_ipv4(GW_MAC, b.up_mac, &udp(REMOTE, PUBLIC, 64, 53, 40000, b"x"));
    b.run(
        Program::Uplink,
        &host_own,
        XDP_PASS,
        "uplink_pass_no_mapping",
    );
    assert!(drain_capture(&mut bufs).is_empty(), "outside the NAT block");
    let other = Target {
        session_id: Some(0x0202),
        session: None,
        host: None,
    };
    maps.set(&lease(capture_config(
        Sides::Both,
        Directions::Both,
        &other,
        262_144,
        0,
    )))
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    b.run(Program::Uplink, &down, XDP_REDIRECT, "down_forwarded");
    assert!(drain_capture(&mut bufs).is_empty(), "another session's id");
    // Host filter: the remote end's address, on both sides.
    let host = Target {
        host: Some(REMOTE),
        ..Target::default()
    };
    maps.set(&lease(capture_config(
        Sides::Both,
        Directions::Both,
        &host,
        262_144,
        0,
    )))
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    assert_eq!(drain_capture(&mut bufs).len(), 2, "host filter");

    // Budget: one frame per second, no burst: the exit copy is over it.
    let budget_before = b.stat("capture_over_budget");
    maps.set(&CaptureConfig {
        interval_ns: 1_000_000_000,
        burst_ns: 0,
        ..everything
    })
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    let got = drain_capture(&mut bufs);
    assert_eq!(got.len(), 1, "one frame within the budget");
    assert_eq!(b.stat("capture_over_budget"), budget_before + 1);

    // An expired lease (a capture killed with SIGKILL) costs nothing more.
    maps.set(&CaptureConfig {
        expires_ns: monotonic_ns().saturating_sub(1),
        ..everything
    })
    .unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    assert!(drain_capture(&mut bufs).is_empty(), "lease expired");

    // Off again.
    maps.disable().unwrap();
    b.run(Program::Access, &up, XDP_REDIRECT, "up_forwarded");
    assert!(drain_capture(&mut bufs).is_empty(), "capture off again");
    // The lock goes with the capture.
    drop(bufs);
    drop(maps);
    let again = CaptureMaps::open(&pin_dir).expect("lock released");
    drop(again);
    let lost = b.stat("capture_lost");
    assert_eq!(lost, 0, "no sample lost in this test");
}

// -------------------------------------------------------------- IPv6 routed

fn udp6(src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr, hop: u8, payload: &[u8]) -> Vec<u8> {
    let b = PacketBuilder::ipv6(src.octets(), dst.octets(), hop).udp(4000, 53);
    let mut v = Vec::new();
    b.write(&mut v, payload).unwrap();
    v
}

fn eth_ipv6(src: [u8; 6], dst: [u8; 6], packet: &[u8]) -> Vec<u8> {
    let mut f = Vec::new();
    f.extend_from_slice(&dst);
    f.extend_from_slice(&src);
    f.extend_from_slice(&0x86ddu16.to_be_bytes());
    f.extend_from_slice(packet);
    f
}

/// An ICMPv6 datagram parsed by etherparse with its checksum verified:
/// (source, destination, hop limit, ICMPv6 type).
fn icmpv6_checked(ip: &[u8]) -> (std::net::Ipv6Addr, std::net::Ipv6Addr, u8, u8) {
    let p = SlicedPacket::from_ip(ip).expect("ICMPv6 parses");
    let Some(etherparse::NetSlice::Ipv6(v6)) = &p.net else {
        panic!("not IPv6");
    };
    let h = v6.header();
    let Some(TransportSlice::Icmpv6(i)) = &p.transport else {
        panic!("not ICMPv6: {:?}", p.transport);
    };
    let ih = i.header();
    let c = ih
        .icmp_type
        .calc_checksum(
            h.source_addr().octets(),
            h.destination_addr().octets(),
            i.payload(),
        )
        .unwrap();
    assert_eq!(c, ih.checksum, "ICMPv6 checksum");
    (
        h.source_addr(),
        h.destination_addr(),
        h.hop_limit(),
        i.icmp_type().type_u8(),
    )
}

/// A dual-stack session's IPv6 is routed both ways without translation:
/// sources in its /64 or its delegated /56 go to the uplink (hop limit − 1,
/// the next hop's MACs), others are dropped as spoofed; link-local and
/// multicast go to the daemon; downstream, its /64 and any address of its
/// /56 are encapsulated with PPP protocol 0x0057 in its session; hop limit
/// 1 and over-MTU datagrams are dropped and counted; without IPv6 rows
/// IPv6 is the daemon's business; removal takes the rows away.
#[test]
fn ipv6_routed_both_ways_with_anti_spoofing() {
    use std::net::Ipv6Addr;
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let row = b.row(0x0101, (100, 0), 0);
    let bm = b.acc_mac;
    let tags = [(0x8100u16, 100u16)];
    let up = |ip: &[u8]| pppoe(CLIENT, bm, &tags, 0x0101, 0x57, ip);
    // A Router Solicitation sent the moment IPv6CP opened, before the
    // daemon wrote the session's rows: still the daemon's, not dropped.
    let rs = udp6(
        "fe80::1".parse().unwrap(),
        "ff02::2".parse().unwrap(),
        255,
        b"rs",
    );
    b.run(Program::Access, &up(&rs), XDP_PASS, "access_pass_control");
    b.dp.install(&row).unwrap();
    // Beyond the default route (the on-link /64 would need its own neighbour).
    let remote: Ipv6Addr = "2001:db8:abcd::10".parse().unwrap();
    let slaac: Ipv6Addr = "2001:db8:100:1:0:0:0:abcd".parse().unwrap();
    let lan: Ipv6Addr = "2001:db8:200:1f00:1::5".parse().unwrap();

    // No IPv6 rows yet: the daemon's.
    b.run(
        Program::Access,
        &up(&udp6(slaac, remote, 64, b"x")),
        XDP_PASS,
        "access_pass_ipv6",
    );
    b.dp.install6(
        SUB,
        Some("2001:db8:100:1::".parse().unwrap()),
        Some(("2001:db8:200:1f00::".parse().unwrap(), 56)),
    )
    .unwrap();

    for src in [slaac, lan] {
        let out = b.run(
            Program::Access,
            &up(&udp6(src, remote, 64, b"hi")),
            XDP_REDIRECT,
            "up_forwarded6",
        );
        assert_eq!(&out[0..6], &GW_MAC, "next hop MAC");
        assert_eq!(&out[6..12], &b.up_mac);
        assert_eq!(&out[12..14], &[0x86, 0xdd]);
        let ip = &out[14..];
        assert_eq!(ip[7], 63, "hop limit - 1");
        assert_eq!(&ip[8..24], &src.octets(), "source kept");
        assert_eq!(&ip[24..40], &remote.octets());
    }
    let spoof: Ipv6Addr = "2001:db8:100:2::1".parse().unwrap();
    b.run(
        Program::Access,
        &up(&udp6(spoof, remote, 64, b"x")),
        XDP_DROP,
        "drop_spoofed_source6",
    );
    let outside_deleg: Ipv6Addr = "2001:db8:200:2000::1".parse().unwrap();
    b.run(
        Program::Access,
        &up(&udp6(outside_deleg, remote, 64, b"x")),
        XDP_DROP,
        "drop_spoofed_source6",
    );
    let ll: Ipv6Addr = "fe80::1".parse().unwrap();
    let all_routers: Ipv6Addr = "ff02::2".parse().unwrap();
    b.run(
        Program::Access,
        &up(&udp6(ll, all_routers, 255, b"rs")),
        XDP_PASS,
        "access_pass_control",
    );

    // Downstream: the /64 and anywhere in the /56.
    for dst in [slaac, lan, "2001:db8:200:1fff::9".parse().unwrap()] {
        let f = eth_ipv6(GW_MAC, b.up_mac, &udp6(remote, dst, 64, b"back"));
        let out = b.run(Program::Uplink, &f, XDP_REDIRECT, "down_forwarded6");
        assert_eq!(&out[0..6], &CLIENT);
        assert_eq!(&out[6..12], &bm);
        assert_eq!(&out[12..16], &[0x81, 0x00, 0x00, 100], "the session's tag");
        assert_eq!(&out[16..18], &[0x88, 0x64]);
        assert_eq!(u16::from_be_bytes([out[20], out[21]]), 0x0101, "session id");
        let len = u16::from_be_bytes([out[22], out[23]]) as usize;
        assert_eq!(&out[24..26], &[0x00, 0x57], "PPP protocol IPv6");
        let ip = &out[26..];
        assert_eq!(len, 2 + 40 + 8 + 4, "PPPoE LENGTH");
        assert_eq!(ip[7], 63);
        assert_eq!(&ip[24..40], &dst.octets());
    }
    let c = b.dp.counters(&row);
    assert_eq!(
        (c.up_packets, c.down_packets),
        (2, 3),
        "both families on one slot"
    );
    // Hop limit 1 either way: ICMPv6 Time Exceeded (see the ICMPv6 test).
    b.run(
        Program::Access,
        &up(&udp6(slaac, remote, 1, b"x")),
        XDP_REDIRECT,
        "tx_time_exceeded6",
    );
    // Not ours: passed to the host.
    let other: Ipv6Addr = "2001:db8:300::1".parse().unwrap();
    b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &udp6(remote, other, 64, b"x")),
        XDP_PASS,
        "uplink_pass_other",
    );
    b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &udp6(remote, slaac, 1, b"x")),
        XDP_REDIRECT,
        "tx_time_exceeded6",
    );
    let big = udp6(remote, slaac, 64, &[0u8; 1500]);
    b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &big),
        XDP_REDIRECT,
        "tx_packet_too_big6",
    );

    // Teardown takes the IPv6 rows: nothing is forwarded any more.
    b.dp.remove(&row).unwrap();
    b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &udp6(remote, slaac, 64, b"x")),
        XDP_PASS,
        "uplink_pass_other",
    );
}

/// ICMPv6 errors the BRAS sends: Time Exceeded through the session when a
/// subscriber's hop limit expires here (traceroute), Time Exceeded and
/// Packet Too Big (RFC 8201, MTU = the session's) back to a downstream
/// sender; from the uplink's address, quoting the datagram, checksums
/// right (verified by etherparse); never about an ICMPv6 error.
#[test]
fn icmpv6_time_exceeded_and_packet_too_big() {
    use std::net::Ipv6Addr;
    skip_unless_able!();
    let mut b = Bench::new(|_| {});
    let mut row = b.row(0x0101, (0, 0), 0);
    row.mtu = 1400;
    b.dp.install(&row).unwrap();
    b.dp.install6(SUB, Some("2001:db8:100:1::".parse().unwrap()), None)
        .unwrap();
    let bm = b.acc_mac;
    let me: Ipv6Addr = "2001:db8:ffff::1".parse().unwrap();
    let remote: Ipv6Addr = "2001:db8:abcd::10".parse().unwrap();
    let sub6: Ipv6Addr = "2001:db8:100:1::abcd".parse().unwrap();
    let check = |ip: &[u8], ty: u8, param: u32, to: Ipv6Addr, quoted: &[u8]| {
        let (src, dst, _, t) = icmpv6_checked(ip);
        assert_eq!((src, dst), (me, to));
        assert_eq!(t, ty);
        assert_eq!(&ip[44..48], &param.to_be_bytes(), "MTU / unused");
        assert_eq!(&ip[48..96], &quoted[..48], "quotes the datagram");
    };

    // Upstream, hop limit 1: Time Exceeded back through the session.
    let dgram = udp6(sub6, remote, 1, b"traceroute!");
    let out = b.run(
        Program::Access,
        &pppoe(CLIENT, bm, &[], 0x0101, 0x57, &dgram),
        XDP_REDIRECT,
        "tx_time_exceeded6",
    );
    assert_eq!(&out[0..6], &CLIENT);
    assert_eq!(&out[20..22], &[0x00, 0x57]);
    check(&out[22..], 3, 0, sub6, &dgram);

    // Downstream, hop limit 1: Time Exceeded to the sender, MACs swapped.
    let dgram = udp6(remote, sub6, 1, b"x");
    let out = b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &dgram),
        XDP_REDIRECT,
        "tx_time_exceeded6",
    );
    assert_eq!((&out[0..6], &out[6..12]), (&GW_MAC[..], &b.up_mac[..]));
    check(&out[14..], 3, 0, remote, &dgram);

    // Downstream, over the session MTU: Packet Too Big with MTU 1400.
    let big = udp6(remote, sub6, 64, &[7u8; 1400]);
    let out = b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &big),
        XDP_REDIRECT,
        "tx_packet_too_big6",
    );
    check(&out[14..], 2, 1400, remote, &big);

    // Never about an ICMPv6 error: a Time Exceeded with hop limit 1 is dropped.
    let mut err = out[14..].to_vec();
    err[7] = 1;
    err[8..24].copy_from_slice(&remote.octets());
    err[24..40].copy_from_slice(&sub6.octets());
    b.run(
        Program::Uplink,
        &eth_ipv6(GW_MAC, b.up_mac, &err),
        XDP_DROP,
        "drop_hop_limit",
    );
}

/// An ICMPv6 Neighbor Solicitation (hop limit 255) from `src` for
/// `target`, to `dst`, with a Source Link-Layer Address option when `sll`.
fn ns6(
    src: std::net::Ipv6Addr,
    dst: std::net::Ipv6Addr,
    target: std::net::Ipv6Addr,
    sll: Option<[u8; 6]>,
) -> Vec<u8> {
    let mut body = target.octets().to_vec();
    if let Some(m) = sll {
        body.extend_from_slice(&[1, 1]);
        body.extend_from_slice(&m);
    }
    let ty = etherparse::Icmpv6Type::Unknown {
        type_u8: 135,
        code_u8: 0,
        bytes5to8: [0; 4],
    };
    let mut v = Vec::new();
    PacketBuilder::ipv6(src.octets(), dst.octets(), 255)
        .icmpv6(ty)
        .write(&mut v, &body)
        .unwrap();
    v
}

/// Proxy ND (`ipv6_proxy_nd`): a Neighbor Solicitation on the uplink for
/// an address in a session's /64 or delegated prefix, multicast or
/// unicast, is answered in XDP with a Neighbor Advertisement of the
/// uplink's MAC (R and S set, O clear, Target Link-Layer Address option,
/// checksum right) sent back to the solicitor; other targets, DAD probes
/// and everything with the option off pass to the host.
#[test]
fn proxy_nd_answers_solicitations_for_session_prefixes() {
    use std::net::Ipv6Addr;
    skip_unless_able!();
    let router: Ipv6Addr = "2001:db8:ffff::fe".parse().unwrap();
    let slaac: Ipv6Addr = "2001:db8:100:1::abcd".parse().unwrap();
    let lan: Ipv6Addr = "2001:db8:200:1f00::5".parse().unwrap();
    let other: Ipv6Addr = "2001:db8:300::1".parse().unwrap();
    let snm = |t: Ipv6Addr| -> (Ipv6Addr, [u8; 6]) {
        let o = t.octets();
        (
            Ipv6Addr::new(
                0xff02,
                0,
                0,
                0,
                0,
                1,
                0xff00 | u16::from(o[13]),
                u16::from_be_bytes([o[14], o[15]]),
            ),
            [0x33, 0x33, 0xff, o[13], o[14], o[15]],
        )
    };
    for on in [false, true] {
        let mut b = Bench::new(|c| c.ipv6_proxy_nd = on);
        let row = b.row(0x0101, (0, 0), 0);
        b.dp.install(&row).unwrap();
        b.dp.install6(
            SUB,
            Some("2001:db8:100:1::".parse().unwrap()),
            Some(("2001:db8:200:1f00::".parse().unwrap(), 56)),
        )
        .unwrap();
        let (m_ip, m_mac) = snm(slaac);
        let f = eth_ipv6(GW_MAC, m_mac, &ns6(router, m_ip, slaac, Some(GW_MAC)));
        if !on {
            b.run(Program::Uplink, &f, XDP_PASS, "uplink_pass_other");
            continue;
        }
        // Multicast NS with the option, unicast NS (NUD) without it, and a
        // target in the delegated prefix: all answered the same way.
        let (l_ip, l_mac) = snm(lan);
        for (frame, target) in [
            (f, slaac),
            (
                eth_ipv6(GW_MAC, b.up_mac, &ns6(router, slaac, slaac, None)),
                slaac,
            ),
            (
                eth_ipv6(GW_MAC, l_mac, &ns6(router, l_ip, lan, Some(GW_MAC))),
                lan,
            ),
        ] {
            let out = b.run(Program::Uplink, &frame, XDP_REDIRECT, "tx_neighbor_advert6");
            assert_eq!((&out[0..6], &out[6..12]), (&GW_MAC[..], &b.up_mac[..]));
            let ip = &out[14..];
            assert_eq!(ip.len(), 40 + 32, "NA with the TLLA option, nothing after");
            let (src, dst, hop, t) = icmpv6_checked(ip);
            assert_eq!((src, dst), (target, router));
            assert_eq!(hop, 255);
            assert_eq!(t, 136);
            assert_eq!(&ip[44..48], &[0xc0, 0, 0, 0], "R and S, not O");
            assert_eq!(&ip[48..64], &target.octets());
            assert_eq!(&ip[64..66], &[2, 1], "Target Link-Layer Address");
            assert_eq!(&ip[66..72], &b.up_mac);
        }
        // Not a session's address, or a DAD probe (from ::): the host's.
        let (o_ip, o_mac) = snm(other);
        b.run(
            Program::Uplink,
            &eth_ipv6(GW_MAC, o_mac, &ns6(router, o_ip, other, Some(GW_MAC))),
            XDP_PASS,
            "uplink_pass_other",
        );
        b.run(
            Program::Uplink,
            &eth_ipv6(
                GW_MAC,
                m_mac,
                &ns6(Ipv6Addr::UNSPECIFIED, m_ip, slaac, None),
            ),
            XDP_PASS,
            "uplink_pass_other",
        );
        // The session gone: no more answers.
        b.dp.remove(&row).unwrap();
        let (m_ip, m_mac) = snm(slaac);
        b.run(
            Program::Uplink,
            &eth_ipv6(GW_MAC, m_mac, &ns6(router, m_ip, slaac, Some(GW_MAC))),
            XDP_PASS,
            "uplink_pass_other",
        );
    }
}
