//! `cargo xtask bench dataplane`: the data-path benchmark table (DESIGN.md §7).
//!
//! Topology, built here and deleted on exit, failure or Ctrl-C:
//!
//! ```text
//!  gen ns            dut ns                      sink ns
//!  g0 ──veth── d0 (access)   d1 (uplink) ──veth── s0
//! ```
//!
//! No namespace has a route to anywhere outside the three; the addresses are
//! documentation (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24) and RFC 2544
//! benchmarking (198.18.0.0/15, for the up to 10,000 subscriber addresses)
//! ranges.
//!
//! Traffic is generated in the kernel with `BPF_PROG_RUN` in live-frame mode
//! (`BPF_F_TEST_XDP_LIVE_FRAMES`, the mechanism of `xdp-trafficgen`): a tiny
//! XDP program writes the headers of flow `i` (precomputed here, checksums
//! included) over the frame and returns `XDP_TX`, which the kernel turns into
//! a transmission out of the generator's veth. That reaches ~10× the rate of
//! an `AF_PACKET` generator (`trafgen`) on this machine. Packets are counted
//! at the far end by an XDP program that counts and drops. The helper
//! programs (generator, counter, bare redirect, pass) are a dozen BPF
//! instructions each, assembled below: the packaged `xdp-bench` (xdp-tools
//! 1.3.1) fails to load on kernels without the `xdp_redirect_map_err`
//! tracepoint (6.x), and a C toolchain for BPF is not installed.
//!
//! Cases, each for 64 B and 1400 B frames (frame size includes the 4-byte FCS
//! that veth does not carry, as in RFC 2544; measured at the DUT input):
//! - (c) ceiling: `bpf_redirect()` from d0 to d1;
//! - (b) kernel: IPv4 forwarding + `iptables MASQUERADE` on plain IPv4;
//! - (a) pppoe-bras upstream (PPPoE/IPv4/UDP in on d0) and downstream
//!   (IPv4/UDP to the public address in on d1), with 1, 1,000 and 10,000
//!   sessions, run by the daemon's hidden `bench-dataplane-setup` subcommand
//!   (the dut namespace's ephemeral ports are narrowed to 65000–65535 so
//!   10,000 sessions' NAT blocks fit on one public address);
//! - (a) pppoe-bras upstream again with sessions spread over all CPUs
//!   (cpumap, `--spread all`), for the largest session count.
//!
//! The generator thread is pinned to CPU 0; veth runs the receiver's XDP in
//! the sender's softirq, so every case except the spread one runs entirely
//! on that CPU (generator, DUT and sink), and the ratios compare programs
//! on one core sharing it with the generator.
//!
//! Per-packet cost, two columns:
//! - `ns/pkt` (warm): the generator program restores flow `i`'s frame and
//!   `bpf_tail_call`s the DUT's attached program, in live-frame
//!   `BPF_PROG_RUN` mode (frames really go out), half a million frames per
//!   call over all flows in turn; the kernel's time per frame minus the same
//!   with a bare `bpf_redirect()` program as the tail-call target (fastest
//!   of 5 alternating calls each). This is the program's cost in steady
//!   state, caches as warm as 10,000 sessions allow.
//! - `ns cold`: `BPF_PROG_RUN` (no live frames) on flow 0's 64 B frame, one
//!   run per call (`repeat` > 1 would run later repetitions on the frame the
//!   first one already decapsulated or encapsulated: the kernel does not
//!   restore the packet), median over many calls of the kernel-measured
//!   time, minus the same for a bare `return XDP_PASS` program. Between
//!   calls the syscall path evicts the program's code and data from L1, so
//!   this is the cost of a packet arriving after idle, not the throughput
//!   cost.

mod sessions;

use std::{
    collections::HashMap,
    ffi::CString,
    fmt::Write as _,
    net::Ipv4Addr,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
    path::{Path, PathBuf},
    process::{Child, ChildStdin, Command, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        mpsc, Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::util::{
    bras_binary, build_bras, check_stop, cpus, del_netns, install_signal_handlers, ip, is_root,
    kernel_release, line_reader, ns_exec, rounded, sleep_checked, stop_requested, workspace_root,
    write_json,
};

/// `cargo xtask bench …`
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(clap::Subcommand, Debug)]
enum BenchWhat {
    /// Data-path packets per second: pppoe-bras vs kernel forwarding +
    /// MASQUERADE vs bare XDP_REDIRECT, plus ns/packet (needs root).
    Dataplane(DataplaneArgs),
    /// Control plane: sessions/s, time to N sessions, memory per session,
    /// teardown, with the emulator against the daemon (needs root).
    Sessions(sessions::SessionsArgs),
}

/// Options of `cargo xtask bench dataplane`.
#[derive(clap::Args, Debug)]
struct DataplaneArgs {
    /// Seconds per measurement (after a 1 s warm-up).
    #[arg(long, default_value_t = 5)]
    seconds: u32,
    /// Frame sizes in bytes, FCS included.
    #[arg(long, value_delimiter = ',', default_values_t = [64, 1400])]
    sizes: Vec<usize>,
    /// Session counts for pppoe-bras (and flow counts for the kernel).
    #[arg(long, value_delimiter = ',', default_values_t = [1, 1000, 10000])]
    sessions: Vec<u32>,
    /// `BPF_PROG_RUN` calls (one run each) for the ns/packet column.
    #[arg(long, default_value_t = 20_000)]
    runs: u32,
    /// pppoe-bras binary (default: target/release/pppoe-bras, built first).
    #[arg(long)]
    bras_bin: Option<PathBuf>,
    /// Don't `cargo build --release -p pppoe-bras` first.
    #[arg(long)]
    no_build: bool,
    /// Skip the pppoe-bras cases (baselines only).
    #[arg(long)]
    baselines_only: bool,
    /// Use threaded NAPI on the veths so that the DUT's and the sink's
    /// receive processing can run on another CPU than the generator.
    #[arg(long)]
    threaded_napi: bool,
    /// Where to write the JSON results.
    #[arg(long)]
    json: Option<PathBuf>,
}

/// Entry point of `cargo xtask bench`.
pub fn main(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchWhat::Dataplane(a) => dataplane(a),
        BenchWhat::Sessions(a) => sessions::main(a),
    }
}

// ---------------------------------------------------------------------------
// MAC addresses

fn parse_mac(s: &str) -> Result<[u8; 6]> {
    let mut mac = [0u8; 6];
    let mut parts = s.split(':');
    for b in &mut mac {
        let p = parts.next().ok_or_else(|| anyhow!("bad MAC {s}"))?;
        *b = u8::from_str_radix(p, 16).with_context(|| format!("bad MAC {s}"))?;
    }
    if parts.next().is_some() {
        bail!("bad MAC {s}");
    }
    Ok(mac)
}

fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

// ---------------------------------------------------------------------------
// Topology

const GEN_IF: &str = "g0";
const ACCESS_IF: &str = "d0";
const UPLINK_IF: &str = "d1";
const SINK_IF: &str = "s0";

/// DUT address on the access side for the kernel baseline (the subscribers'
/// /15, RFC 2544 benchmarking range).
const DUT_ACCESS_ADDR: &str = "198.18.0.1/15";
/// DUT uplink address and its next hop (documentation range).
const DUT_UPLINK_ADDR: &str = "192.0.2.1/24";
const NEXT_HOP: &str = "192.0.2.2";
/// The "internet" host every upstream packet goes to.
const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The IPv6 test server, behind the sink, and the DUT's uplink address and
/// next hop for it.
const SERVER6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x10);
const DUT_UPLINK_ADDR6: &str = "2001:db8:2::1/64";
const NEXT_HOP6: &str = "2001:db8:2::2";
/// pppoe-bras NAT address.
const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
const CLIENT_PORT: u16 = 40000;
const SERVER_PORT: u16 = 2000;
/// First subscriber address (`198.18.0.2`), then one per flow.
const FIRST_SUBSCRIBER: u32 = u32::from_be_bytes([198, 18, 0, 2]);
/// pppoe-bras NAT port blocks: the daemon's default size, shrunk so that
/// `n` sessions fit on the one public address.
const MAX_PORT_BLOCK_SIZE: u16 = 512;
const FIRST_PORT: u16 = 1024;

/// First ephemeral port of the dut namespace (the NAT blocks stay below).
const EPHEMERAL_FIRST: u16 = 65000;

fn port_block_size(n: u32) -> u16 {
    let fit = (u32::from(EPHEMERAL_FIRST) - u32::from(FIRST_PORT)) / n.max(1);
    u16::try_from(fit.min(u32::from(MAX_PORT_BLOCK_SIZE))).unwrap_or(MAX_PORT_BLOCK_SIZE)
}

struct Iface {
    ns: String,
    index: u32,
    mac: [u8; 6],
}

/// The three namespaces; deleting them on drop removes the veths too.
struct Topology {
    gen: String,
    dut: String,
    sink: String,
    g0: Iface,
    d0: Iface,
    d1: Iface,
    s0: Iface,
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in [&self.gen, &self.dut, &self.sink] {
            del_netns(ns);
        }
    }
}

/// Minimal guard for namespaces created before the `Topology` is complete.
struct NsGuard(Vec<String>);

impl Drop for NsGuard {
    fn drop(&mut self) {
        for ns in &self.0 {
            del_netns(ns);
        }
    }
}

impl Topology {
    fn build() -> Result<Self> {
        let pid = std::process::id();
        let gen = format!("bench{pid}-gen");
        let dut = format!("bench{pid}-dut");
        let sink = format!("bench{pid}-sink");
        let mut guard = NsGuard(Vec::new());
        for ns in [&gen, &dut, &sink] {
            ip(&["netns", "add", ns])?;
            guard.0.push(ns.clone());
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
        }
        // Created directly inside the namespaces: no name ever exists in the
        // caller's namespace, so parallel runs cannot collide.
        ip(&[
            "link", "add", GEN_IF, "netns", &gen, "type", "veth", "peer", ACCESS_IF, "netns", &dut,
        ])?;
        ip(&[
            "link", "add", UPLINK_IF, "netns", &dut, "type", "veth", "peer", SINK_IF, "netns",
            &sink,
        ])?;
        for (ns, ifname) in [
            (&gen, GEN_IF),
            (&dut, ACCESS_IF),
            (&dut, UPLINK_IF),
            (&sink, SINK_IF),
        ] {
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        ip(&["-n", &dut, "addr", "add", DUT_ACCESS_ADDR, "dev", ACCESS_IF])?;
        // The data plane leaves the host's ephemeral ports out of its NAT
        // blocks; narrow them in the (private) dut namespace so that 10,000
        // sessions' blocks fit on the one public address.
        ns_exec(
            &dut,
            &[
                "sysctl",
                "-qw",
                &format!("net.ipv4.ip_local_port_range={EPHEMERAL_FIRST} 65535"),
            ],
        )?;
        ip(&["-n", &dut, "addr", "add", DUT_UPLINK_ADDR, "dev", UPLINK_IF])?;
        ip(&[
            "-n",
            &dut,
            "-6",
            "addr",
            "add",
            DUT_UPLINK_ADDR6,
            "dev",
            UPLINK_IF,
            "nodad",
        ])?;
        let iface = |ns: &String, name: &'static str| -> Result<Iface> {
            let (index, mac) = link_info(ns, name)?;
            Ok(Iface {
                ns: ns.clone(),
                index,
                mac,
            })
        };
        let topo = Topology {
            g0: iface(&gen, GEN_IF)?,
            d0: iface(&dut, ACCESS_IF)?,
            d1: iface(&dut, UPLINK_IF)?,
            s0: iface(&sink, SINK_IF)?,
            gen,
            dut,
            sink,
        };
        std::mem::forget(guard); // `topo` owns the namespaces now.
        let s0_mac = fmt_mac(&topo.s0.mac);
        let dut = &topo.dut;
        ip(&[
            "-n",
            dut,
            "neigh",
            "replace",
            NEXT_HOP,
            "lladdr",
            &s0_mac,
            "dev",
            UPLINK_IF,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            dut,
            "route",
            "add",
            &format!("{SERVER}/32"),
            "via",
            NEXT_HOP,
            "dev",
            UPLINK_IF,
        ])?;
        ip(&[
            "-n",
            dut,
            "-6",
            "neigh",
            "replace",
            NEXT_HOP6,
            "lladdr",
            &s0_mac,
            "dev",
            UPLINK_IF,
            "nud",
            "permanent",
        ])?;
        ip(&[
            "-n",
            dut,
            "-6",
            "route",
            "add",
            &format!("{SERVER6}/128"),
            "via",
            NEXT_HOP6,
            "dev",
            UPLINK_IF,
        ])?;
        Ok(topo)
    }
}

/// ifindex and MAC of `name` in `ns`, from `ip -o link show`.
fn link_info(ns: &str, name: &str) -> Result<(u32, [u8; 6])> {
    let out = ip(&["-o", "-n", ns, "link", "show", "dev", name])?;
    let index = out
        .split(':')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| anyhow!("no ifindex in `{out}`"))?;
    let mac = out
        .split_whitespace()
        .skip_while(|w| *w != "link/ether")
        .nth(1)
        .ok_or_else(|| anyhow!("no MAC in `{out}`"))?;
    Ok((index, parse_mac(mac)?))
}

/// Switch `ifname`'s NAPI to a kernel thread (best effort: veth has NAPI
/// only while an XDP program is attached), so its receive processing can run
/// on another CPU than the generator.
fn napi_threaded(enabled: bool, ns: &str, ifname: &str) {
    if !enabled {
        return;
    }
    let cmd = format!("echo 1 > /sys/class/net/{ifname}/threaded");
    if let Err(e) = ns_exec(ns, &["sh", "-c", &cmd]) {
        eprintln!("bench: threaded NAPI on {ifname}: {e:#}");
    }
}

/// Id of the XDP program attached to `name` in `ns`, from `ip -d link show`.
fn xdp_prog_id(ns: &str, name: &str) -> Result<u32> {
    let out = ip(&["-d", "-n", ns, "link", "show", "dev", name])?;
    let mut words = out.split_whitespace();
    while let Some(w) = words.next() {
        if w.starts_with("prog/xdp") && words.next() == Some("id") {
            if let Some(id) = words.next().and_then(|s| s.parse().ok()) {
                return Ok(id);
            }
        }
    }
    bail!("no XDP program on {name} in {ns}")
}

/// Run `f` on a thread that has entered network namespace `ns`.
fn in_netns<T: Send + 'static>(
    ns: &str,
    f: impl FnOnce() -> Result<T> + Send + 'static,
) -> Result<T> {
    let path = format!("/run/netns/{ns}");
    let p = path.clone();
    thread::spawn(move || {
        enter_netns(&p)?;
        f()
    })
    .join()
    .map_err(|_| anyhow!("thread in {path} panicked"))?
}

fn enter_netns(path: &str) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: plain syscall on a valid fd; affects only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("setns {path}"));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// bpf(2), just what the bench needs

mod bpf {
    use super::*;

    const MAP_CREATE: libc::c_long = 0;
    const MAP_LOOKUP_ELEM: libc::c_long = 1;
    const MAP_UPDATE_ELEM: libc::c_long = 2;
    const PROG_LOAD: libc::c_long = 5;
    const PROG_TEST_RUN: libc::c_long = 10;
    const PROG_GET_FD_BY_ID: libc::c_long = 13;
    const LINK_CREATE: libc::c_long = 28;

    const MAP_TYPE_ARRAY: u32 = 2;
    const MAP_TYPE_PROG_ARRAY: u32 = 3;
    const PROG_TYPE_XDP: u32 = 6;
    const ATTACH_TYPE_XDP: u32 = 37;
    const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
    const F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

    pub const XDP_DROP: i32 = 1;
    pub const XDP_PASS: i32 = 2;
    pub const XDP_TX: i32 = 3;
    pub const XDP_REDIRECT: u32 = 4;

    const FN_MAP_LOOKUP_ELEM: i32 = 1;
    const FN_REDIRECT: i32 = 23;
    const FN_TAIL_CALL: i32 = 12;

    fn sys<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
        // SAFETY: `attr` is a #[repr(C)] prefix of `union bpf_attr` for `cmd`,
        // zero-filled beyond the fields set; the kernel reads `size` bytes.
        let r = unsafe {
            libc::syscall(
                libc::SYS_bpf,
                cmd,
                attr as *mut T as *mut libc::c_void,
                std::mem::size_of::<T>(),
            )
        };
        if r < 0 {
            Err(std::io::Error::last_os_error())
        } else {
            Ok(r)
        }
    }

    fn fd(r: libc::c_long) -> OwnedFd {
        // SAFETY: the kernel just returned this new fd to us.
        unsafe { OwnedFd::from_raw_fd(r as i32) }
    }

    fn name16(s: &str) -> [u8; 16] {
        let mut n = [0u8; 16];
        for (d, b) in n.iter_mut().zip(s.bytes().take(15)) {
            *d = b;
        }
        n
    }

    #[repr(C)]
    #[derive(Default)]
    struct MapCreate {
        map_type: u32,
        key_size: u32,
        value_size: u32,
        max_entries: u32,
        map_flags: u32,
        inner_map_fd: u32,
        numa_node: u32,
        map_name: [u8; 16],
    }

    #[repr(C)]
    struct MapElem {
        map_fd: u32,
        _pad: u32,
        key: u64,
        value: u64,
        flags: u64,
    }

    #[repr(C)]
    #[derive(Default)]
    struct ProgLoad {
        prog_type: u32,
        insn_cnt: u32,
        insns: u64,
        license: u64,
        log_level: u32,
        log_size: u32,
        log_buf: u64,
        kern_version: u32,
        prog_flags: u32,
        prog_name: [u8; 16],
        prog_ifindex: u32,
        expected_attach_type: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct TestRun {
        prog_fd: u32,
        retval: u32,
        data_size_in: u32,
        data_size_out: u32,
        data_in: u64,
        data_out: u64,
        repeat: u32,
        duration: u32,
        ctx_size_in: u32,
        ctx_size_out: u32,
        ctx_in: u64,
        ctx_out: u64,
        flags: u32,
        cpu: u32,
        batch_size: u32,
        _pad: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct LinkCreate {
        prog_fd: u32,
        target_ifindex: u32,
        attach_type: u32,
        flags: u32,
        _rest: [u64; 4],
    }

    #[repr(C)]
    #[derive(Default)]
    struct GetFdById {
        id: u32,
        next_id: u32,
        open_flags: u32,
    }

    /// A `BPF_MAP_TYPE_ARRAY` with `u32` keys.
    pub struct ArrayMap {
        fd: OwnedFd,
        value_size: usize,
    }

    impl ArrayMap {
        pub fn new(name: &str, value_size: usize, max_entries: u32) -> Result<Self> {
            Self::create(name, MAP_TYPE_ARRAY, value_size, max_entries)
        }

        /// A one-slot `BPF_MAP_TYPE_PROG_ARRAY` holding `prog` (for `bpf_tail_call`).
        pub fn prog_array(name: &str, prog: &Prog) -> Result<Self> {
            let m = Self::create(name, MAP_TYPE_PROG_ARRAY, 4, 1)?;
            m.set(0, &(prog.fd.as_raw_fd() as u32).to_ne_bytes())?;
            Ok(m)
        }

        fn create(name: &str, map_type: u32, value_size: usize, max_entries: u32) -> Result<Self> {
            let mut a = MapCreate {
                map_type,
                key_size: 4,
                value_size: u32::try_from(value_size)?,
                max_entries,
                map_name: name16(name),
                ..Default::default()
            };
            let r = sys(MAP_CREATE, &mut a).with_context(|| format!("creating map {name}"))?;
            Ok(Self {
                fd: fd(r),
                value_size,
            })
        }

        pub fn set(&self, index: u32, value: &[u8]) -> Result<()> {
            if value.len() != self.value_size {
                bail!(
                    "map value of {} bytes, expected {}",
                    value.len(),
                    self.value_size
                );
            }
            self.elem(MAP_UPDATE_ELEM, index, value.as_ptr() as u64)
                .context("map update")
        }

        pub fn get_u64(&self, index: u32) -> Result<u64> {
            let mut v = vec![0u8; self.value_size.max(8)];
            self.elem(MAP_LOOKUP_ELEM, index, v.as_mut_ptr() as u64)
                .context("map lookup")?;
            let mut b = [0u8; 8];
            b.copy_from_slice(&v[..8]);
            Ok(u64::from_ne_bytes(b))
        }

        /// Element command `cmd` (lookup, update) on slot `index`; `value`
        /// is the address of `value_size` bytes.
        fn elem(&self, cmd: libc::c_long, index: u32, value: u64) -> std::io::Result<()> {
            let mut a = MapElem {
                map_fd: self.raw() as u32,
                _pad: 0,
                key: &index as *const u32 as u64,
                value,
                flags: 0,
            };
            sys(cmd, &mut a).map(drop)
        }

        fn raw(&self) -> i32 {
            self.fd.as_raw_fd()
        }
    }

    /// One eBPF instruction (`struct bpf_insn`, little-endian register nibbles).
    #[repr(C)]
    #[derive(Clone, Copy, Debug, PartialEq, Eq)]
    pub struct Insn {
        code: u8,
        regs: u8,
        off: i16,
        imm: i32,
    }

    const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
        Insn {
            code,
            regs: (src << 4) | dst,
            off,
            imm,
        }
    }

    // Registers.
    const R0: u8 = 0;
    const R1: u8 = 1;
    const R2: u8 = 2;
    const R3: u8 = 3;
    const R4: u8 = 4;
    const R5: u8 = 5;
    const R6: u8 = 6;
    const R7: u8 = 7;
    const R8: u8 = 8;
    const R10: u8 = 10;

    const fn mov_imm(dst: u8, imm: i32) -> Insn {
        insn(0xb7, dst, 0, 0, imm) // BPF_ALU64 | BPF_MOV | BPF_K
    }
    const fn mov_reg(dst: u8, src: u8) -> Insn {
        insn(0xbf, dst, src, 0, 0) // BPF_ALU64 | BPF_MOV | BPF_X
    }
    const fn add_imm(dst: u8, imm: i32) -> Insn {
        insn(0x07, dst, 0, 0, imm) // BPF_ALU64 | BPF_ADD | BPF_K
    }
    const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
        insn(0x61, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_W
    }
    const fn ldx_dw(dst: u8, src: u8, off: i16) -> Insn {
        insn(0x79, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_DW
    }
    const fn stx_w(dst: u8, src: u8, off: i16) -> Insn {
        insn(0x63, dst, src, off, 0) // BPF_STX | BPF_MEM | BPF_W
    }
    const fn stx_dw(dst: u8, src: u8, off: i16) -> Insn {
        insn(0x7b, dst, src, off, 0) // BPF_STX | BPF_MEM | BPF_DW
    }
    const fn st_w(dst: u8, off: i16, imm: i32) -> Insn {
        insn(0x62, dst, 0, off, imm) // BPF_ST | BPF_MEM | BPF_W
    }
    const fn atomic_add_dw(dst: u8, src: u8, off: i16) -> Insn {
        insn(0xdb, dst, src, off, 0) // BPF_STX | BPF_ATOMIC | BPF_DW, BPF_ADD
    }
    /// `r_dst = map` (`BPF_LD | BPF_IMM | BPF_DW`, `BPF_PSEUDO_MAP_FD`).
    fn ld_map(dst: u8, map: &ArrayMap) -> [Insn; 2] {
        [insn(0x18, dst, 1, 0, map.raw()), insn(0, 0, 0, 0, 0)]
    }
    const fn call(helper: i32) -> Insn {
        insn(0x85, 0, 0, 0, helper)
    }
    const fn exit() -> Insn {
        insn(0x95, 0, 0, 0, 0)
    }
    const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
        insn(0x15, dst, 0, off, imm)
    }
    const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
        insn(0x55, dst, 0, off, imm)
    }
    const fn jgt_reg(dst: u8, src: u8, off: i16) -> Insn {
        insn(0x2d, dst, src, off, 0)
    }

    /// Instructions with forward jumps to a shared "drop" tail.
    struct Asm {
        insns: Vec<Insn>,
        to_drop: Vec<usize>,
    }

    impl Asm {
        fn new() -> Self {
            Self {
                insns: Vec::new(),
                to_drop: Vec::new(),
            }
        }
        fn push(&mut self, i: impl IntoIterator<Item = Insn>) {
            self.insns.extend(i);
        }
        /// A conditional jump (its `off` is patched) to the drop tail.
        fn jump_to_drop(&mut self, i: Insn) {
            self.to_drop.push(self.insns.len());
            self.insns.push(i);
        }
        /// Append `r0 = XDP_DROP; exit` and resolve the jumps to it.
        fn finish(mut self) -> Result<Vec<Insn>> {
            let tail = self.insns.len();
            self.insns.push(mov_imm(R0, XDP_DROP));
            self.insns.push(exit());
            for at in self.to_drop {
                self.insns[at].off = i16::try_from(tail - at - 1)?;
            }
            Ok(self.insns)
        }
    }

    /// `r0 = *map[0]` into r0 (NULL-checked: jumps to drop).
    fn lookup_slot0(a: &mut Asm, map: &ArrayMap, stack_off: i16) {
        a.push([
            st_w(R10, stack_off, 0),
            mov_reg(R2, R10),
            add_imm(R2, stack_off as i32),
        ]);
        a.push(ld_map(R1, map));
        a.push([call(FN_MAP_LOOKUP_ELEM)]);
        a.jump_to_drop(jeq_imm(R0, 0, 0));
    }

    /// Count (`map[0] += 1`, atomically) and drop.
    pub fn counter_prog(map: &ArrayMap) -> Result<Vec<Insn>> {
        let mut a = Asm::new();
        lookup_slot0(&mut a, map, -4);
        a.push([mov_imm(R1, 1), atomic_add_dw(R0, R1, 0)]);
        a.finish()
    }

    /// `return bpf_redirect(ifindex, 0)`.
    pub fn redirect_prog(ifindex: u32) -> Result<Vec<Insn>> {
        Ok(vec![
            mov_imm(R1, i32::try_from(ifindex)?),
            mov_imm(R2, 0),
            call(FN_REDIRECT),
            exit(),
        ])
    }

    /// `return XDP_PASS`.
    pub fn pass_prog() -> Vec<Insn> {
        vec![mov_imm(R0, XDP_PASS), exit()]
    }

    /// The generator: `i = state[0]; state[0] = (i + 1) % flows;` copy
    /// `table[i]` (`words` × 8 bytes) over the start of the frame; `XDP_TX`,
    /// or with `tail`, `bpf_tail_call` into the program in `tail[0]` (the
    /// frame it sees is then always the pristine frame of flow `i`: the
    /// copy undoes what it did to this page's last frame).
    pub fn generator_prog(
        state: &ArrayMap,
        table: &ArrayMap,
        flows: u32,
        words: usize,
        tail: Option<&ArrayMap>,
    ) -> Result<Vec<Insn>> {
        let flows = i32::try_from(flows)?;
        let bytes = i32::try_from(words * 8)?;
        let mut a = Asm::new();
        a.push([mov_reg(R6, R1)]);
        lookup_slot0(&mut a, state, -4);
        a.push([
            ldx_dw(R7, R0, 0),
            mov_reg(R8, R7),
            add_imm(R8, 1),
            jne_imm(R8, flows, 1),
            mov_imm(R8, 0),
            stx_dw(R0, R8, 0),
            stx_w(R10, R7, -8),
            mov_reg(R2, R10),
            add_imm(R2, -8),
        ]);
        a.push(ld_map(R1, table));
        a.push([call(FN_MAP_LOOKUP_ELEM)]);
        a.jump_to_drop(jeq_imm(R0, 0, 0));
        a.push([
            ldx_w(R2, R6, 0), // xdp_md.data
            ldx_w(R3, R6, 4), // xdp_md.data_end
            mov_reg(R4, R2),
            add_imm(R4, bytes),
        ]);
        a.jump_to_drop(jgt_reg(R4, R3, 0));
        for k in 0..words {
            let off = i16::try_from(k * 8)?;
            a.push([ldx_dw(R5, R0, off), stx_dw(R2, R5, off)]);
        }
        match tail {
            None => a.push([mov_imm(R0, XDP_TX), exit()]),
            Some(t) => {
                a.push([mov_reg(R1, R6)]);
                a.push(ld_map(R2, t));
                a.push([mov_imm(R3, 0), call(FN_TAIL_CALL)]);
                // Only reached when the tail call failed: drop.
            }
        }
        a.finish()
    }

    /// A loaded XDP program.
    pub struct Prog {
        fd: OwnedFd,
    }

    impl Prog {
        pub fn load(name: &str, insns: &[Insn]) -> Result<Self> {
            let license = CString::new("GPL")?;
            let mut log = vec![0u8; 64 * 1024];
            let mut a = ProgLoad {
                prog_type: PROG_TYPE_XDP,
                insn_cnt: u32::try_from(insns.len())?,
                insns: insns.as_ptr() as u64,
                license: license.as_ptr() as u64,
                log_level: 1,
                log_size: log.len() as u32,
                log_buf: log.as_mut_ptr() as u64,
                prog_name: name16(name),
                expected_attach_type: ATTACH_TYPE_XDP,
                ..Default::default()
            };
            match sys(PROG_LOAD, &mut a) {
                Ok(r) => Ok(Self { fd: fd(r) }),
                Err(e) => {
                    let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                    bail!(
                        "loading {name}: {e}\nverifier log:\n{}",
                        String::from_utf8_lossy(&log[..end])
                    )
                }
            }
        }

        /// Open an already loaded program by id.
        pub fn from_id(id: u32) -> Result<Self> {
            let mut a = GetFdById {
                id,
                ..Default::default()
            };
            let r = sys(PROG_GET_FD_BY_ID, &mut a).with_context(|| format!("program id {id}"))?;
            Ok(Self { fd: fd(r) })
        }

        /// Attach in native mode to `ifindex` of the calling thread's
        /// namespace; detached when the returned link is dropped.
        pub fn attach(&self, ifindex: u32) -> Result<OwnedFd> {
            let mut a = LinkCreate {
                prog_fd: self.fd.as_raw_fd() as u32,
                target_ifindex: ifindex,
                attach_type: ATTACH_TYPE_XDP,
                flags: XDP_FLAGS_DRV_MODE,
                ..Default::default()
            };
            let r = sys(LINK_CREATE, &mut a)
                .with_context(|| format!("attaching XDP to ifindex {ifindex}"))?;
            Ok(fd(r))
        }

        /// `BPF_PROG_RUN` on `frame` as received on `ifindex` (of the calling
        /// thread's namespace). With `live`, frames are really transmitted
        /// (`XDP_TX`/`XDP_REDIRECT`) and the result is the return value of
        /// the last run; otherwise returns (action, ns per run).
        pub fn test_run(
            &self,
            frame: &[u8],
            ifindex: u32,
            repeat: u32,
            live: bool,
        ) -> Result<(u32, u32)> {
            // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
            let ctx: [u32; 6] = [0, u32::try_from(frame.len())?, 0, ifindex, 0, 0];
            let mut out = vec![0u8; frame.len() + 512];
            let mut a = TestRun {
                prog_fd: self.fd.as_raw_fd() as u32,
                data_size_in: u32::try_from(frame.len())?,
                data_in: frame.as_ptr() as u64,
                repeat,
                ctx_size_in: std::mem::size_of_val(&ctx) as u32,
                ctx_in: ctx.as_ptr() as u64,
                ..Default::default()
            };
            if live {
                a.flags = F_TEST_XDP_LIVE_FRAMES;
            } else {
                a.data_size_out = out.len() as u32;
                a.data_out = out.as_mut_ptr() as u64;
            }
            sys(PROG_TEST_RUN, &mut a).context("BPF_PROG_RUN")?;
            Ok((a.retval, a.duration))
        }
    }

    #[cfg(test)]
    mod tests {
        use super::*;

        #[test]
        fn encodings_match_the_kernel_abi() {
            // r1 = 1 ; r0 = r10 ; lock *(u64 *)(r0 + 0) += r1
            assert_eq!(
                mov_imm(R1, 1),
                Insn {
                    code: 0xb7,
                    regs: 0x01,
                    off: 0,
                    imm: 1
                }
            );
            assert_eq!(
                mov_reg(R0, R10),
                Insn {
                    code: 0xbf,
                    regs: 0xa0,
                    off: 0,
                    imm: 0
                }
            );
            assert_eq!(atomic_add_dw(R0, R1, 0).regs, 0x10);
            assert_eq!(std::mem::size_of::<Insn>(), 8);
            assert_eq!(std::mem::size_of::<TestRun>(), 80);
            assert_eq!(std::mem::size_of::<ProgLoad>(), 72);
        }

        #[test]
        fn drop_jumps_land_on_the_tail() {
            let mut a = Asm::new();
            a.jump_to_drop(jeq_imm(R0, 0, 0));
            a.push([mov_imm(R0, XDP_PASS), exit()]);
            let p = a.finish().unwrap();
            // 0: jeq +2 -> 3: r0 = XDP_DROP
            assert_eq!(p[0].off, 2);
            assert_eq!(p[3], mov_imm(R0, XDP_DROP));
        }
    }
}

// ---------------------------------------------------------------------------
// Frames

fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One UDP flow, optionally inside a PPPoE session.
#[derive(Clone, Copy, Debug)]
struct Flow {
    src_mac: [u8; 6],
    dst_mac: [u8; 6],
    /// PPPoE SESSION_ID (RFC 2516 §5.5); `None` = plain IPv4.
    pppoe: Option<u16>,
    src: Ipv4Addr,
    dst: Ipv4Addr,
    sport: u16,
    dport: u16,
    /// IPv6 (source, destination) instead of `src`/`dst`.
    v6: Option<(std::net::Ipv6Addr, std::net::Ipv6Addr)>,
}

const ETH_LEN: usize = 14;
const PPPOE_LEN: usize = 8; // 6-byte PPPoE header + 2-byte PPP protocol
const IP_UDP_LEN: usize = 28;

impl Flow {
    fn header_len(&self) -> usize {
        let ip_udp = if self.v6.is_some() { 48 } else { IP_UDP_LEN };
        ETH_LEN + if self.pppoe.is_some() { PPPOE_LEN } else { 0 } + ip_udp
    }

    /// The whole frame of `len` bytes (no FCS), checksums filled in, zero
    /// payload.
    fn frame(&self, len: usize) -> Result<Vec<u8>> {
        let hdr = self.header_len();
        if len < hdr {
            bail!("frame of {len} bytes cannot hold {hdr} bytes of headers");
        }
        if let Some((src, dst)) = self.v6 {
            return Ok(self.frame6(len, src, dst));
        }
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let ip_len = len - ETH_LEN - if self.pppoe.is_some() { PPPOE_LEN } else { 0 };
        let ip_len16 = u16::try_from(ip_len)?;
        if let Some(sid) = self.pppoe {
            f.extend_from_slice(&0x8864u16.to_be_bytes());
            f.push(0x11); // VER = 1, TYPE = 1
            f.push(0x00); // CODE = 0: session data
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&(ip_len16 + 2).to_be_bytes()); // LENGTH: PPP payload
            f.extend_from_slice(&0x0021u16.to_be_bytes()); // PPP: IPv4
        } else {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
        }
        let ip_at = f.len();
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&ip_len16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, TTL 64, UDP
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&self.dst.octets());
        let csum = fold(ones_sum(&f[ip_at..ip_at + 20], 0));
        f[ip_at + 10..ip_at + 12].copy_from_slice(&csum.to_be_bytes());
        let udp_at = f.len();
        let udp_len = ip_len16 - 20;
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.resize(len, 0);
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&self.src.octets());
        pseudo.extend_from_slice(&self.dst.octets());
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&udp_len.to_be_bytes());
        let c = fold(ones_sum(&f[udp_at..], ones_sum(&pseudo, 0)));
        let c = if c == 0 { 0xffff } else { c };
        f[udp_at + 6..udp_at + 8].copy_from_slice(&c.to_be_bytes());
        Ok(f)
    }
}

impl Flow {
    /// [`Flow::frame`] for IPv6/UDP (the caller checked the length).
    fn frame6(&self, len: usize, src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr) -> Vec<u8> {
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let ip_len = len - ETH_LEN - if self.pppoe.is_some() { PPPOE_LEN } else { 0 };
        let payload = (ip_len - 40) as u16;
        if let Some(sid) = self.pppoe {
            f.extend_from_slice(&0x8864u16.to_be_bytes());
            f.extend_from_slice(&[0x11, 0x00]);
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&(ip_len as u16 + 2).to_be_bytes());
            f.extend_from_slice(&0x0057u16.to_be_bytes()); // PPP: IPv6
        } else {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
        }
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&payload.to_be_bytes());
        f.extend_from_slice(&[17, 64]); // UDP, hop limit 64
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        let udp_at = f.len();
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        f.extend_from_slice(&payload.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.resize(len, 0);
        let mut pseudo = Vec::with_capacity(40);
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&u32::from(payload).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 17]);
        let c = fold(ones_sum(&f[udp_at..], ones_sum(&pseudo, 0)));
        let c = if c == 0 { 0xffff } else { c };
        f[udp_at + 6..udp_at + 8].copy_from_slice(&c.to_be_bytes());
        f
    }
}

/// The /64 of session `i` in the IPv6 rows (`bench-dataplane-setup --ipv6`
/// gives session i the same), and its host address there.
fn subscriber_ip6(i: u32) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x1000 + (i >> 16) as u16,
        i as u16,
        0,
        0,
        0,
        1,
    )
}

fn subscriber_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_SUBSCRIBER + i)
}

/// Locally administered CPE MAC of session `i`.
fn client_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0xb0, b[0], b[1], b[2], b[3]]
}

// ---------------------------------------------------------------------------
// Measuring

/// Frames of one measurement: `frames[i]` is flow `i`.
struct Traffic {
    frames: Vec<Vec<u8>>,
    header_len: usize,
}

impl Traffic {
    fn new(flows: &[Flow], frame_len: usize) -> Result<Self> {
        let header_len = flows.first().map(Flow::header_len).unwrap_or(0);
        let frames = flows
            .iter()
            .map(|f| f.frame(frame_len))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { frames, header_len })
    }
}

#[derive(Clone, Copy, Debug, Default)]
struct Rate {
    /// Median of the per-second received rates.
    pps: f64,
    /// What the generator sent, averaged.
    offered: f64,
}

/// Send `traffic` from `src` as fast as possible, count at `counter`, and
/// return the median received rate over `seconds` 1-s samples (after 1 s of
/// warm-up).
fn measure(src: &Iface, counter: &bpf::ArrayMap, traffic: Traffic, seconds: u32) -> Result<Rate> {
    let flows = u32::try_from(traffic.frames.len())?;
    let frame_len = traffic.frames.first().map(Vec::len).unwrap_or(0);
    // Copy whole words; the frame must be at least that long.
    let words = traffic.header_len.div_ceil(8);
    if words * 8 > frame_len {
        bail!("{frame_len}-byte frames are too short for the generator");
    }
    let state = bpf::ArrayMap::new("bench_gen_st", 8, 1)?;
    let table = bpf::ArrayMap::new("bench_gen_tbl", words * 8, flows)?;
    for (i, f) in traffic.frames.iter().enumerate() {
        table.set(u32::try_from(i)?, &f[..words * 8])?;
    }
    let prog = bpf::Prog::load(
        "bench_gen",
        &bpf::generator_prog(&state, &table, flows, words, None)?,
    )?;
    let frame = traffic.frames.into_iter().next().unwrap_or_default();

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let ifindex = src.index;
    let ns_path = format!("/run/netns/{}", src.ns);
    let gen = {
        let (stop, sent) = (stop.clone(), sent.clone());
        thread::spawn(move || -> Result<()> {
            enter_netns(&ns_path)?;
            pin_to_cpu(GEN_CPU);
            // Keep the tables alive as long as the program runs.
            let _maps = (state, table);
            const BATCH: u32 = 1 << 16;
            while !stop.load(Ordering::Relaxed) && !stop_requested() {
                prog.test_run(&frame, ifindex, BATCH, true)?;
                sent.fetch_add(u64::from(BATCH), Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let result = (|| -> Result<Rate> {
        let start = Instant::now();
        let mut last = (Instant::now(), counter.get_u64(0)?);
        let sent0 = sent.load(Ordering::Relaxed);
        let mut samples = Vec::new();
        for tick in 0..=seconds {
            sleep_checked(Duration::from_secs(1))?;
            if gen.is_finished() {
                bail!("generator stopped early");
            }
            let now = (Instant::now(), counter.get_u64(0)?);
            if tick > 0 {
                let dt = now.0.duration_since(last.0).as_secs_f64();
                samples.push(now.1.saturating_sub(last.1) as f64 / dt);
            }
            last = now;
        }
        let offered = (sent.load(Ordering::Relaxed) - sent0) as f64 / start.elapsed().as_secs_f64();
        Ok(Rate {
            pps: median(&mut samples),
            offered,
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let joined = gen
        .join()
        .map_err(|_| anyhow!("generator thread panicked"))?;
    let rate = result?;
    joined.context("generator")?;
    Ok(rate)
}

/// The CPU the generator thread runs on. The DUT's and the sink's receive
/// processing follow it (veth NAPI runs in the sender's softirq), so every
/// case but the spread one runs on this CPU alone; pinning keeps that from
/// moving around between samples.
const GEN_CPU: usize = 0;

/// Pin the calling thread to `cpu` (best effort).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in bounds
    // for cpu < CPU_SETSIZE; sched_setaffinity(0) affects this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("bench: pinning the generator to CPU {cpu} failed");
        }
    }
}

fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Cost in ns of one run of `prog` on `frame` received on `ifindex` in `ns`
/// (see the module doc), and the XDP action of the runs, which must all agree.
fn ns_per_packet(
    ns: &str,
    prog: bpf::Prog,
    frame: Vec<u8>,
    ifindex: u32,
    runs: u32,
) -> Result<(u32, f64)> {
    let pass = bpf::Prog::load("bench_pass", &bpf::pass_prog())?;
    in_netns(ns, move || {
        let timed = |p: &bpf::Prog| -> Result<(u32, f64)> {
            let mut action = None;
            let mut ns = Vec::with_capacity(runs as usize);
            for _ in 0..runs.max(1) {
                let (a, d) = p.test_run(&frame, ifindex, 1, false)?;
                if *action.get_or_insert(a) != a {
                    bail!("XDP action changed between runs ({action:?} then {a})");
                }
                ns.push(f64::from(d));
            }
            Ok((action.unwrap_or(0), median(&mut ns)))
        };
        let (action, t) = timed(&prog)?;
        let (_, base) = timed(&pass)?;
        Ok((action, (t - base).max(0.0)))
    })
}

/// Live-frame `BPF_PROG_RUN` batches per program in [`ns_per_packet_warm`].
const WARM_CALLS: usize = 5;
/// Frames per batch.
const WARM_REPEAT: u32 = 1 << 19;

/// Warm per-packet cost in ns of `prog` over a bare `bpf_redirect()` to
/// `egress` (see the module doc): the generator restores flow `i`'s frame
/// and tail-calls `prog`, in live-frame mode, `WARM_REPEAT` frames per call;
/// the kernel's average time per frame for that, minus the same with a bare
/// redirect program in place of `prog`. The two alternate, `WARM_CALLS`
/// calls each; the fastest call of each counts (other work on the machine
/// only ever adds time).
fn ns_per_packet_warm(
    ns: &str,
    prog: bpf::Prog,
    flows: &[Flow],
    ifindex: u32,
    egress: u32,
) -> Result<f64> {
    let bare = bpf::Prog::load("bench_redirect", &bpf::redirect_prog(egress)?)?;
    // The smallest frame that holds the flows' headers (74 B for IPv6 in PPPoE).
    let min = flows.first().map_or(60, |f| f.header_len().max(60));
    let traffic = Traffic::new(flows, min)?;
    in_netns(ns, move || {
        let setup = |target: &bpf::Prog| -> Result<_> {
            let n = u32::try_from(traffic.frames.len())?;
            let words = traffic.header_len.div_ceil(8);
            let state = bpf::ArrayMap::new("bench_gen_st", 8, 1)?;
            let table = bpf::ArrayMap::new("bench_gen_tbl", words * 8, n)?;
            for (i, f) in traffic.frames.iter().enumerate() {
                table.set(u32::try_from(i)?, &f[..words * 8])?;
            }
            let tail = bpf::ArrayMap::prog_array("bench_tail", target)?;
            let gen = bpf::Prog::load(
                "bench_gen_tail",
                &bpf::generator_prog(&state, &table, n, words, Some(&tail))?,
            )?;
            Ok((gen, state, table, tail))
        };
        let under_test = setup(&prog)?;
        let baseline = setup(&bare)?;
        let frame = traffic.frames.first().cloned().unwrap_or_default();
        let (mut t, mut base) = (u32::MAX, u32::MAX);
        for _ in 0..WARM_CALLS {
            check_stop()?;
            t = t.min(under_test.0.test_run(&frame, ifindex, WARM_REPEAT, true)?.1);
            base = base.min(baseline.0.test_run(&frame, ifindex, WARM_REPEAT, true)?.1);
        }
        Ok((f64::from(t) - f64::from(base)).max(0.0))
    })
}

// ---------------------------------------------------------------------------
// pppoe-bras via its hidden `bench-dataplane-setup` subcommand

/// The daemon, holding `n` sessions in the dut namespace; stopped on drop.
///
/// Contract of `pppoe-bras bench-dataplane-setup` (hidden subcommand), run
/// through `ip netns exec <dut>`:
/// - args: `--access-if IF --uplink-if IF --public-ip ADDR --pin-dir DIR
///   --xdp-mode native|generic|auto --port-block-size N --first-port P
///   --sessions FILE`; `--help` exits 0 (that is how the bench detects it);
/// - FILE: one session per line, `client_mac bras_mac session_id ipv4 mtu`;
/// - it starts `Dataplane` with NAT on and those settings, installs every
///   row, prints `session <ipv4> block <start> <count>` per row (its port
///   block), then `ready`, all on stdout, and flushes;
/// - it keeps the data plane up until stdin reaches EOF (or SIGTERM/SIGINT),
///   then may print `stat <name> <value>` lines, shuts the data plane down
///   (detach, unpin) and exits 0.
///
/// The downstream traffic targets the first NAT port candidate of each
/// session's flow, `start + 40000 % count`
/// (`pppoe_bras_common::nat::candidate(.., 0)`), which the upstream phase
/// creates first.
/// The benchmark daemon's pin dir.
fn bench_pin_dir() -> String {
    format!("/sys/fs/bpf/pppoe-bras-bench-{}", std::process::id())
}

struct Bras {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Port block (start, count) per session, in install order.
    blocks: Vec<(u16, u16)>,
    /// Lines the subcommand prints after `ready` (`stat <name> <value>`).
    lines: Option<mpsc::Receiver<String>>,
}

impl Bras {
    /// `spread`: the subcommand's `--spread` (`off`, `all`, CPU list).
    fn start(bin: &Path, topo: &Topology, n: u32, workdir: &Path, spread: &str) -> Result<Self> {
        let file = workdir.join(format!("sessions-{n}.txt"));
        let mut text = String::new();
        for i in 0..n {
            writeln!(
                text,
                "{} {} {} {} 1492",
                fmt_mac(&client_mac(i)),
                fmt_mac(&topo.d0.mac),
                i + 1,
                subscriber_ip(i)
            )?;
        }
        std::fs::write(&file, text)?;
        let bin = bin.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let file_s = file.to_str().ok_or_else(|| anyhow!("non-UTF-8 path"))?;
        let mut child = Command::new("ip")
            .args(["netns", "exec", &topo.dut, bin, "bench-dataplane-setup"])
            .args(["--access-if", ACCESS_IF, "--uplink-if", UPLINK_IF])
            .args(["--public-ip", &PUBLIC_IP.to_string()])
            .args(["--pin-dir", &bench_pin_dir()])
            .args(["--xdp-mode", "native"])
            .args(["--port-block-size", &port_block_size(n).to_string()])
            .args(["--first-port", &FIRST_PORT.to_string()])
            .args(["--sessions", file_s])
            .args(["--spread", spread])
            .arg("--ipv6")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .context("starting pppoe-bras bench-dataplane-setup")?;
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().ok_or_else(|| anyhow!("no stdout"))?;
        let mut bras = Bras {
            child,
            stdin,
            blocks: Vec::new(),
            lines: None,
        };
        let rx = line_reader(stdout);
        let mut by_ip = HashMap::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            check_stop()?;
            let line = match rx.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => l,
                Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => bail!("setup did not say `ready` in time"),
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    bail!("setup exited before `ready` ({:?})", bras.child.wait().ok())
                }
            };
            let w: Vec<&str> = line.split_whitespace().collect();
            match w.as_slice() {
                ["ready"] => break,
                ["session", ip, "block", start, count] => {
                    let ip: Ipv4Addr = ip.parse()?;
                    by_ip.insert(ip, (start.parse::<u16>()?, count.parse::<u16>()?));
                }
                _ => {}
            }
        }
        for i in 0..n {
            let b = by_ip
                .get(&subscriber_ip(i))
                .ok_or_else(|| anyhow!("setup printed no port block for {}", subscriber_ip(i)))?;
            bras.blocks.push(*b);
        }
        bras.lines = Some(rx);
        Ok(bras)
    }
}

impl Drop for Bras {
    fn drop(&mut self) {
        drop(self.stdin.take()); // EOF: the subcommand shuts down cleanly
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            thread::sleep(Duration::from_millis(50));
        }
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        // The data plane's verdict counters, for the record.
        if let Some(rx) = self.lines.take() {
            let stats: Vec<String> = rx
                .try_iter()
                .filter_map(|l| l.strip_prefix("stat ").map(str::to_string))
                .collect();
            if !stats.is_empty() {
                eprintln!("bench: pppoe-bras stats: {}", stats.join(", "));
            }
        }
    }
}

/// Does `bin` know the hidden setup subcommand?
fn bras_supports_setup(bin: &Path) -> bool {
    Command::new(bin)
        .args(["bench-dataplane-setup", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// The run

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    /// "ceiling", "kernel", "bras-up", "bras-down".
    kind: &'static str,
    label: String,
    flows: u32,
    /// pps per frame size, same order as `sizes`; `None` = not measured.
    rates: Vec<Option<Rate>>,
    /// Warm per-packet cost over a bare redirect (see [`ns_per_packet_warm`]).
    ns_per_pkt: Option<f64>,
    /// Cold single-run cost (see [`ns_per_packet`]).
    ns_cold: Option<f64>,
    note: Option<String>,
}

struct Ctx<'a> {
    args: &'a DataplaneArgs,
    topo: &'a Topology,
    /// Counters at both ends (XDP count + drop on s0 and g0).
    sink_up: bpf::ArrayMap,
    sink_down: bpf::ArrayMap,
}

fn dataplane(args: DataplaneArgs) -> Result<()> {
    if !is_root() {
        bail!("`cargo xtask bench dataplane` needs root (netns, XDP)");
    }
    if args.sizes.iter().any(|&s| !(64..=1500).contains(&s)) {
        bail!("frame sizes must be within 64..=1500");
    }
    if args.sessions.iter().any(|&n| n == 0 || n > 60_000) {
        bail!("session counts must be within 1..=60000");
    }
    install_signal_handlers();

    let root = workspace_root();
    let bras_bin = args.bras_bin.clone().unwrap_or_else(|| bras_binary(true));
    let mut bras_pending: Option<String> = None;
    if args.baselines_only {
        bras_pending = Some("skipped (--baselines-only)".into());
    } else {
        if !args.no_build && args.bras_bin.is_none() {
            if let Err(e) = build_bras(true) {
                eprintln!("bench: {e:#}");
                bras_pending = Some("pending: building pppoe-bras failed".into());
            }
        }
        if bras_pending.is_none() && !bras_supports_setup(&bras_bin) {
            bras_pending = Some(format!(
                "pending: {} has no `bench-dataplane-setup` subcommand yet",
                bras_bin.display()
            ));
        }
    }

    let topo = Topology::build()?;
    eprintln!(
        "bench: namespaces {}, {}, {}",
        topo.gen, topo.dut, topo.sink
    );

    let sink_up = bpf::ArrayMap::new("bench_cnt_up", 8, 1)?;
    let sink_down = bpf::ArrayMap::new("bench_cnt_down", 8, 1)?;
    let cnt_up = bpf::Prog::load("bench_count", &bpf::counter_prog(&sink_up)?)?;
    let cnt_down = bpf::Prog::load("bench_count", &bpf::counter_prog(&sink_down)?)?;
    let s0 = topo.s0.index;
    let g0 = topo.g0.index;
    let _up_link = in_netns(&topo.sink, move || cnt_up.attach(s0))?;
    let _down_link = in_netns(&topo.gen, move || cnt_down.attach(g0))?;
    napi_threaded(args.threaded_napi, &topo.sink, SINK_IF);
    napi_threaded(args.threaded_napi, &topo.gen, GEN_IF);

    let ctx = Ctx {
        args: &args,
        topo: &topo,
        sink_up,
        sink_down,
    };
    let mut rows = Vec::new();
    rows.push(ceiling(&ctx)?);
    for &n in &args.sessions {
        rows.push(kernel(&ctx, n)?);
    }
    for &n in &args.sessions {
        match &bras_pending {
            Some(why) => rows.extend(unmeasured_bras(n, args.sizes.len(), why)),
            None => match bras(&ctx, &bras_bin, n) {
                Ok(r) => rows.extend(r),
                Err(e) => {
                    check_stop()?;
                    eprintln!("bench: pppoe-bras with {n} sessions: {e:#}");
                    let why = format!("failed: {e:#}");
                    rows.extend(unmeasured_bras(n, args.sizes.len(), &why));
                }
            },
        }
    }

    if let (None, Some(&n)) = (&bras_pending, args.sessions.iter().max()) {
        if thread::available_parallelism().map_or(1, |c| c.get()) > 1 {
            match bras_spread(&ctx, &bras_bin, n) {
                Ok(r) => rows.push(r),
                Err(e) => {
                    check_stop()?;
                    eprintln!("bench: pppoe-bras spread: {e:#}");
                }
            }
        }
    }

    let header = machine_line(&args);
    let table = render_table(&header, &args.sizes, &rows);
    println!("{table}");
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| root.join("target/bench/dataplane.json"));
    write_json(&json_path, &report(&header, &args, &rows))?;
    eprintln!("bench: wrote {}", json_path.display());
    Ok(())
}

/// The pppoe-bras up and down rows for `n` sessions when they could not be
/// measured (`why`: the note).
fn unmeasured_bras(n: u32, sizes: usize, why: &str) -> [Row; 2] {
    ["bras-up", "bras-down"].map(|kind| Row {
        kind,
        label: bras_label(kind, n),
        flows: n,
        rates: vec![None; sizes],
        ns_per_pkt: None,
        ns_cold: None,
        note: Some(why.to_owned()),
    })
}

fn bras_label(kind: &str, n: u32) -> String {
    let dir = if kind.starts_with("bras-up") {
        "up"
    } else {
        "down"
    };
    let s = if n == 1 { "" } else { "s" };
    if kind.ends_with('6') {
        format!("(a) pppoe-bras {dir} IPv6 (78 B), {n} session{s}")
    } else {
        format!("(a) pppoe-bras {dir}, {n} session{s}")
    }
}

fn kernel_flows(topo: &Topology, n: u32) -> Vec<Flow> {
    (0..n)
        .map(|i| Flow {
            src_mac: topo.g0.mac,
            dst_mac: topo.d0.mac,
            pppoe: None,
            src: subscriber_ip(i),
            dst: SERVER,
            sport: CLIENT_PORT,
            dport: SERVER_PORT,
            v6: None,
        })
        .collect()
}

fn progress(label: &str, size: usize, r: &Rate) {
    eprintln!(
        "bench: {label:<42} {size:>4} B: {:>6.3} Mpps received, {:>6.3} Mpps offered",
        r.pps / 1e6,
        r.offered / 1e6
    );
}

fn ceiling(ctx: &Ctx) -> Result<Row> {
    let topo = ctx.topo;
    let label = "(c) bare XDP_REDIRECT (ceiling)".to_string();
    let prog = bpf::Prog::load("bench_redirect", &bpf::redirect_prog(topo.d1.index)?)?;
    let d0 = topo.d0.index;
    let prog = Arc::new(prog);
    let link = {
        let prog = prog.clone();
        in_netns(&topo.dut, move || prog.attach(d0))?
    };
    napi_threaded(ctx.args.threaded_napi, &topo.dut, ACCESS_IF);
    let mut rates = Vec::new();
    for &size in &ctx.args.sizes {
        let t = Traffic::new(&kernel_flows(topo, 1), size - 4)?;
        let r = measure(&topo.g0, &ctx.sink_up, t, ctx.args.seconds)?;
        progress(&label, size, &r);
        rates.push(Some(r));
    }
    drop(link);
    let frame = kernel_flows(topo, 1)[0].frame(60)?;
    let prog = Arc::try_unwrap(prog).map_err(|_| anyhow!("program still shared"))?;
    let (_, ns) = ns_per_packet(&topo.dut, prog, frame, d0, ctx.args.runs)?;
    Ok(Row {
        kind: "ceiling",
        label,
        flows: 1,
        rates,
        ns_per_pkt: None,
        ns_cold: Some(ns),
        note: None,
    })
}

fn kernel(ctx: &Ctx, n: u32) -> Result<Row> {
    let topo = ctx.topo;
    let dut = topo.dut.as_str();
    let s = if n == 1 { "" } else { "s" };
    let label = format!("(b) kernel fwd + MASQUERADE, {n} flow{s}");
    ns_exec(dut, &["sysctl", "-qw", "net.ipv4.ip_forward=1"])?;
    ns_exec(dut, &["iptables", "-t", "nat", "-F", "POSTROUTING"])?;
    ns_exec(
        dut,
        &[
            "iptables",
            "-t",
            "nat",
            "-A",
            "POSTROUTING",
            "-o",
            UPLINK_IF,
            "-j",
            "MASQUERADE",
        ],
    )?;
    // XDP frames sent into a veth need a program (or GRO) on the receiving
    // end; XDP_PASS hands them to the stack as a NIC driver would.
    let pass = bpf::Prog::load("bench_pass", &bpf::pass_prog())?;
    let d0 = topo.d0.index;
    let link = in_netns(dut, move || pass.attach(d0))?;
    napi_threaded(ctx.args.threaded_napi, dut, ACCESS_IF);
    let mut rates = Vec::new();
    let res = (|| -> Result<()> {
        for &size in &ctx.args.sizes {
            let t = Traffic::new(&kernel_flows(topo, n), size - 4)?;
            let r = measure(&topo.g0, &ctx.sink_up, t, ctx.args.seconds)?;
            progress(&label, size, &r);
            rates.push(Some(r));
        }
        Ok(())
    })();
    drop(link);
    let _ = ns_exec(dut, &["iptables", "-t", "nat", "-F", "POSTROUTING"]);
    let _ = ns_exec(dut, &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let _ = ns_exec(dut, &["conntrack", "-F"]);
    res?;
    Ok(Row {
        kind: "kernel",
        label,
        flows: n,
        rates,
        ns_per_pkt: None,
        ns_cold: None,
        note: None,
    })
}

fn bras(ctx: &Ctx, bin: &Path, n: u32) -> Result<Vec<Row>> {
    let workdir = std::env::temp_dir().join(format!("pppoe-bras-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let res = bras_inner(ctx, bin, n, &workdir);
    let _ = std::fs::remove_dir_all(&workdir);
    res
}

/// Upstream flow `i` of `n`: session `i + 1` of subscriber `i`.
fn up_flows(topo: &Topology, n: u32) -> Vec<Flow> {
    (0..n)
        .map(|i| Flow {
            src_mac: client_mac(i),
            dst_mac: topo.d0.mac,
            pppoe: Some(u16::try_from(i + 1).unwrap_or(u16::MAX)),
            src: subscriber_ip(i),
            dst: SERVER,
            sport: CLIENT_PORT,
            dport: SERVER_PORT,
            v6: None,
        })
        .collect()
}

/// The upstream case again with sessions spread over all CPUs (cpumap,
/// `bench-dataplane-setup --spread all`). Only upstream: spreading is an
/// access-side feature (RSS spreads plain IPv4 on the uplink).
fn bras_spread(ctx: &Ctx, bin: &Path, n: u32) -> Result<Row> {
    let workdir = std::env::temp_dir().join(format!("pppoe-bras-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let res = (|| -> Result<Row> {
        let topo = ctx.topo;
        let bras = Bras::start(bin, topo, n, &workdir, "all")?;
        let cpus = thread::available_parallelism().map_or(1, |c| c.get());
        let label = format!("{}, spread over {cpus} CPUs", bras_label("bras-up", n));
        let flows = up_flows(topo, n);
        let mut rates = Vec::new();
        for &size in &ctx.args.sizes {
            let t = Traffic::new(&flows, size - 4)?;
            let r = measure(&topo.g0, &ctx.sink_up, t, ctx.args.seconds)?;
            progress(&label, size, &r);
            rates.push(Some(r));
        }
        drop(bras);
        Ok(Row {
            kind: "bras-up-spread",
            label,
            flows: n,
            rates,
            ns_per_pkt: None,
            ns_cold: None,
            note: None,
        })
    })();
    let _ = std::fs::remove_dir_all(&workdir);
    res
}

fn bras_inner(ctx: &Ctx, bin: &Path, n: u32, workdir: &Path) -> Result<Vec<Row>> {
    let topo = ctx.topo;
    let bras = Bras::start(bin, topo, n, workdir, "off")?;
    napi_threaded(ctx.args.threaded_napi, &topo.dut, ACCESS_IF);
    napi_threaded(ctx.args.threaded_napi, &topo.dut, UPLINK_IF);
    let up_flows = up_flows(topo, n);
    // The first candidate port of the mapping the upstream phase creates
    // (pppoe_bras_common::nat::candidate(orig, start, count, 0)).
    let down_flows: Vec<Flow> = bras
        .blocks
        .iter()
        .map(|&(start, count)| Flow {
            src_mac: topo.s0.mac,
            dst_mac: topo.d1.mac,
            pppoe: None,
            src: SERVER,
            dst: PUBLIC_IP,
            sport: SERVER_PORT,
            dport: start + CLIENT_PORT % count.max(1),
            v6: None,
        })
        .collect();
    // IPv6, routed: session i has 2001:db8:1000+i/64 (`--ipv6`).
    let up6: Vec<Flow> = (0..n)
        .map(|i| Flow {
            v6: Some((subscriber_ip6(i), SERVER6)),
            ..up_flows[i as usize]
        })
        .collect();
    let down6: Vec<Flow> = (0..n)
        .map(|i| Flow {
            src_mac: topo.s0.mac,
            dst_mac: topo.d1.mac,
            pppoe: None,
            src: SERVER,
            dst: PUBLIC_IP,
            sport: SERVER_PORT,
            dport: CLIENT_PORT,
            v6: Some((SERVER6, subscriber_ip6(i))),
        })
        .collect();
    let mut rows = Vec::new();
    for (kind, flows, src, counter, ifindex, extra) in [
        (
            "bras-up",
            &up_flows,
            &topo.g0,
            &ctx.sink_up,
            topo.d0.index,
            0usize,
        ),
        (
            "bras-down",
            &down_flows,
            &topo.s0,
            &ctx.sink_down,
            topo.d1.index,
            PPPOE_LEN,
        ),
        (
            "bras-up6",
            &up6,
            &topo.g0,
            &ctx.sink_up,
            topo.d0.index,
            0usize,
        ),
        (
            "bras-down6",
            &down6,
            &topo.s0,
            &ctx.sink_down,
            topo.d1.index,
            PPPOE_LEN,
        ),
    ] {
        let label = bras_label(kind, n);
        let mut rates = Vec::new();
        let mut note = None;
        for &size in &ctx.args.sizes {
            // Sizes are of the PPPoE frame on the access side, so the plain
            // IPv4 frames sent downstream are 8 bytes shorter... unless that
            // would go under the Ethernet minimum.
            // IPv6 + UDP does not fit 64 B in PPPoE: the IPv6 rows' first
            // column is measured with 78-byte frames.
            let size = if kind.ends_with('6') {
                size.max(78)
            } else {
                size
            };
            let frame_len = (size - 4 - extra).max(60);
            let t = Traffic::new(flows, frame_len)?;
            let r = measure(src, counter, t, ctx.args.seconds)?;
            progress(&label, size, &r);
            if r.pps < 0.5 * r.offered {
                note =
                    Some("less than half of the offered load came out: check drop counters".into());
            }
            rates.push(Some(r));
        }
        let dev = if kind.starts_with("bras-up") {
            ACCESS_IF
        } else {
            UPLINK_IF
        };
        let ns_cold = (|| -> Result<f64> {
            let prog = bpf::Prog::from_id(xdp_prog_id(&topo.dut, dev)?)?;
            let frame = flows[0].frame(if kind.ends_with('6') { 74 } else { 60 })?;
            let (action, ns) = ns_per_packet(&topo.dut, prog, frame, ifindex, ctx.args.runs)?;
            if action != bpf::XDP_REDIRECT {
                bail!("canned frame got XDP action {action}, not XDP_REDIRECT");
            }
            Ok(ns)
        })();
        let egress = if kind.starts_with("bras-up") {
            topo.d1.index
        } else {
            topo.d0.index
        };
        let ns_warm = (|| -> Result<f64> {
            let prog = bpf::Prog::from_id(xdp_prog_id(&topo.dut, dev)?)?;
            ns_per_packet_warm(&topo.dut, prog, flows, ifindex, egress)
        })();
        let mut ok = |r: Result<f64>| match r {
            Ok(ns) => Some(ns),
            Err(e) => {
                note.get_or_insert(format!("ns/pkt: {e:#}"));
                None
            }
        };
        let ns_per_pkt = ok(ns_warm);
        let ns_cold = ok(ns_cold);
        rows.push(Row {
            kind,
            label,
            flows: n,
            rates,
            ns_per_pkt,
            ns_cold,
            note,
        });
        if kind == "bras-up" {
            match capture_idle_row(ctx, bin, &bras, flows, n) {
                Ok(r) => rows.push(r),
                Err(e) => eprintln!("bench: capture row: {e:#}"),
            }
        }
    }
    drop(bras);
    Ok(rows)
}

/// The upstream row again while `pppoe-bras capture` runs with a filter
/// that matches nothing (a session id no session has): what an idle
/// capture costs forwarding (one map read and a few compares per frame).
/// The capture runs in the daemon's mount and network namespaces (`nsenter`),
/// where its pins are.
fn capture_idle_row(ctx: &Ctx, bin: &Path, bras: &Bras, flows: &[Flow], n: u32) -> Result<Row> {
    let pid = bras.child.id().to_string();
    let mut cap = Command::new("nsenter")
        .args(["-t", &pid, "-m", "-n", "--"])
        .arg(bin)
        .args(["capture", "--pin-dir", &bench_pin_dir()])
        .args(["--session", "0x7777", "-w", "/dev/null"])
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .context("starting pppoe-bras capture")?;
    thread::sleep(Duration::from_millis(1500));
    if let Some(status) = cap.try_wait()? {
        bail!("pppoe-bras capture exited at once ({status})");
    }
    let label = format!("{}, idle capture running", bras_label("bras-up", n));
    let mut rates = Vec::new();
    let res = (|| -> Result<()> {
        for &size in &ctx.args.sizes {
            let t = Traffic::new(flows, size - 4)?;
            let r = measure(&ctx.topo.g0, &ctx.sink_up, t, ctx.args.seconds)?;
            progress(&label, size, &r);
            rates.push(Some(r));
        }
        Ok(())
    })();
    // Safety: plain kill(2) of our child.
    unsafe { libc::kill(cap.id() as i32, libc::SIGTERM) };
    let _ = cap.wait();
    res?;
    Ok(Row {
        kind: "bras-up-capture",
        label,
        flows: n,
        rates,
        ns_per_pkt: None,
        ns_cold: None,
        note: None,
    })
}

// ---------------------------------------------------------------------------
// Output

fn machine_line(args: &DataplaneArgs) -> String {
    let (cpus, kernel) = (cpus(), kernel_release());
    let model = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|c| {
            c.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|s| s.trim().to_string())
        })
        .unwrap_or_else(|| "?".into());
    let napi = if args.threaded_napi {
        ", threaded NAPI"
    } else {
        ""
    };
    format!(
        "{cpus} CPUs ({model}), Linux {kernel}, veth native XDP{napi}, generator BPF_PROG_RUN live frames, \
         {} s per case, median of 1 s samples",
        args.seconds
    )
}

/// The row the ratios compare pppoe-bras against.
fn baseline<'a>(rows: &'a [Row], kind: &str, flows: u32) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.kind == kind && r.flows == flows)
        .or_else(|| rows.iter().find(|r| r.kind == kind))
}

fn ratio(a: Option<Rate>, b: Option<Rate>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.pps > 0.0 => Some(a.pps / b.pps),
        _ => None,
    }
}

fn ratios(rows: &[Row], row: &Row, against: &str) -> Vec<Option<f64>> {
    if !row.kind.starts_with("bras") {
        return vec![None; row.rates.len()];
    }
    let base = baseline(rows, against, row.flows);
    row.rates
        .iter()
        .enumerate()
        .map(|(i, r)| ratio(*r, base.and_then(|b| b.rates.get(i).copied().flatten())))
        .collect()
}

fn render_table(header: &str, sizes: &[usize], rows: &[Row]) -> String {
    let mut cols = vec!["case".to_string()];
    cols.extend(sizes.iter().map(|s| format!("{s} B Mpps")));
    cols.extend(sizes.iter().map(|s| format!("a/b {s}")));
    cols.extend(sizes.iter().map(|s| format!("a/c {s}")));
    cols.push("ns/pkt".into());
    cols.push("ns cold".into());
    let mut body: Vec<Vec<String>> = Vec::new();
    let mut notes = Vec::new();
    for r in rows {
        let mut cells = vec![r.label.clone()];
        let pending = r.rates.iter().all(Option::is_none);
        let missing = match &r.note {
            Some(n) if n.starts_with("failed") => "failed",
            _ => "pending",
        };
        for x in &r.rates {
            cells.push(match x {
                Some(x) => format!("{:.3}", x.pps / 1e6),
                None => missing.into(),
            });
        }
        for against in ["kernel", "ceiling"] {
            for x in ratios(rows, r, against) {
                cells.push(x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()));
            }
        }
        for ns in [r.ns_per_pkt, r.ns_cold] {
            cells.push(match ns {
                Some(ns) => format!("{ns:.0}"),
                None if pending && r.kind.starts_with("bras") => missing.into(),
                None => "-".into(),
            });
        }
        body.push(cells);
        if let Some(n) = &r.note {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    let widths: Vec<usize> = (0..cols.len())
        .map(|c| {
            body.iter()
                .map(|r| r[c].len())
                .chain([cols[c].len()])
                .max()
                .unwrap_or(0)
        })
        .collect();
    let line = |cells: &[String]| -> String {
        let mut s = String::new();
        for (c, (cell, w)) in cells.iter().zip(&widths).enumerate() {
            if c == 0 {
                let _ = write!(s, "{cell:<w$}");
            } else {
                let _ = write!(s, "  {cell:>w$}");
            }
        }
        s.trim_end().to_string()
    };
    let mut out = format!("pppoe-bras data path: {header}\n");
    out.push_str(&line(&cols));
    out.push('\n');
    out.push_str(&"-".repeat(widths.iter().sum::<usize>() + 2 * (widths.len() - 1)));
    out.push('\n');
    for b in &body {
        out.push_str(&line(b));
        out.push('\n');
    }
    out.push_str(
        "a/b: pppoe-bras / kernel with the same flow count (downstream too: the kernel row is upstream); \
         a/c: / bare redirect.\nns/pkt: warm in-kernel cost per packet over a bare bpf_redirect() program \
         (live-frame BPF_PROG_RUN, frames of all flows in turn); \
         ns cold: one BPF_PROG_RUN per call on flow 0's frame (cold caches), minus a bare XDP_PASS.\n",
    );
    for n in notes {
        let _ = writeln!(out, "note: {n}");
    }
    out
}

/// `target/bench/dataplane.json`.
#[derive(Serialize)]
struct Report<'a> {
    machine: &'a str,
    seconds: u32,
    frame_sizes: &'a [usize],
    rows: Vec<RowJson<'a>>,
}

/// One [`Row`] in [`Report`]; all figures to 4 decimal places.
#[derive(Serialize)]
struct RowJson<'a> {
    kind: &'a str,
    label: &'a str,
    flows: u32,
    ns_per_packet: Option<f64>,
    ns_cold: Option<f64>,
    note: Option<&'a str>,
    results: Vec<SizeJson>,
}

/// One frame size of a [`RowJson`].
#[derive(Serialize)]
struct SizeJson {
    frame_size: usize,
    pps: Option<f64>,
    offered_pps: Option<f64>,
    a_over_b: Option<f64>,
    a_over_c: Option<f64>,
}

fn report<'a>(header: &'a str, args: &'a DataplaneArgs, rows: &'a [Row]) -> Report<'a> {
    let round = |x| rounded(x, 4);
    let row = |r: &'a Row| {
        let a_b = ratios(rows, r, "kernel");
        let a_c = ratios(rows, r, "ceiling");
        let results = args
            .sizes
            .iter()
            .enumerate()
            .map(|(i, &frame_size)| {
                let rate = r.rates.get(i).copied().flatten();
                SizeJson {
                    frame_size,
                    pps: round(rate.map(|x| x.pps)),
                    offered_pps: round(rate.map(|x| x.offered)),
                    a_over_b: round(a_b.get(i).copied().flatten()),
                    a_over_c: round(a_c.get(i).copied().flatten()),
                }
            })
            .collect();
        RowJson {
            kind: r.kind,
            label: &r.label,
            flows: r.flows,
            ns_per_packet: round(r.ns_per_pkt),
            ns_cold: round(r.ns_cold),
            note: r.note.as_deref(),
            results,
        }
    };
    Report {
        machine: header,
        seconds: args.seconds,
        frame_sizes: &args.sizes,
        rows: rows.iter().map(row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flow(pppoe: Option<u16>) -> Flow {
        Flow {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            pppoe,
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: SERVER,
            sport: CLIENT_PORT,
            dport: SERVER_PORT,
            v6: None,
        }
    }

    #[test]
    fn plain_frame_has_valid_checksums() {
        let f = flow(None).frame(60).unwrap();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46); // IP total length
        assert_eq!(fold(ones_sum(&f[14..34], 0)), 0, "IPv4 header checksum");
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[26..34]);
        pseudo.extend_from_slice(&[0, 17, 0, 26]);
        assert_eq!(
            fold(ones_sum(&f[34..], ones_sum(&pseudo, 0))),
            0,
            "UDP checksum"
        );
    }

    #[test]
    fn pppoe_frame_layout() {
        let f = flow(Some(0x1234)).frame(60).unwrap();
        // 0x8864, VER/TYPE 0x11, CODE 0, SESSION_ID, LENGTH = PPP payload, PPP 0x0021
        assert_eq!(
            &f[12..22],
            &[0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0, 40, 0x00, 0x21]
        );
        assert_eq!(u16::from_be_bytes([f[24], f[25]]), 38); // IP total length
        assert_eq!(fold(ones_sum(&f[22..42], 0)), 0);
        assert_eq!(flow(Some(1)).header_len(), 50);
    }

    #[test]
    fn too_short_frames_are_refused() {
        assert!(flow(Some(1)).frame(49).is_err());
        assert!(flow(None).frame(42).is_ok());
    }

    #[test]
    fn median_of_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }

    #[test]
    fn ratios_use_the_matching_flow_count() {
        let rate = |pps| Some(Rate { pps, offered: pps });
        let row = |kind, flows, pps| Row {
            kind,
            label: String::new(),
            flows,
            rates: vec![rate(pps)],
            ns_per_pkt: None,
            ns_cold: None,
            note: None,
        };
        let rows = vec![
            row("ceiling", 1, 4.0),
            row("kernel", 1, 1.0),
            row("kernel", 10, 0.5),
            row("bras-up", 10, 2.0),
        ];
        assert_eq!(ratios(&rows, &rows[3], "kernel"), vec![Some(4.0)]);
        assert_eq!(ratios(&rows, &rows[3], "ceiling"), vec![Some(0.5)]);
        assert_eq!(ratios(&rows, &rows[1], "ceiling"), vec![None]);
    }

    #[test]
    fn json_keeps_its_keys_and_shape() {
        let rate = |pps| Some(Rate { pps, offered: pps });
        let row = |kind, flows, pps, note: Option<&str>| Row {
            kind,
            label: format!("{kind} {flows}"),
            flows,
            rates: vec![rate(pps)],
            ns_per_pkt: Some(97.123_456),
            ns_cold: None,
            note: note.map(str::to_owned),
        };
        let rows = vec![
            row("ceiling", 1, 3.0, None),
            row("kernel", 1, 1.0, None),
            row("bras-up", 1, 2.0, Some("a \"quoted\"\nnote")),
        ];
        let args = DataplaneArgs::parse_from_for_test();
        let text = serde_json::to_string(&report("m", &args, &rows)).unwrap();
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        // serde_json's maps are sorted, so compare sorted key lists.
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        fn sorted(mut v: Vec<&str>) -> Vec<&str> {
            v.sort();
            v
        }
        assert_eq!(
            keys(&j),
            sorted(vec!["machine", "seconds", "frame_sizes", "rows"])
        );
        assert_eq!(j["frame_sizes"], serde_json::json!([64]));
        let r = &j["rows"][2];
        assert_eq!(
            keys(r),
            sorted(vec![
                "kind",
                "label",
                "flows",
                "ns_per_packet",
                "ns_cold",
                "note",
                "results"
            ])
        );
        assert_eq!(r["kind"], "bras-up");
        assert_eq!(r["note"], "a \"quoted\"\nnote");
        assert_eq!(r["ns_per_packet"], 97.1235);
        assert!(r["ns_cold"].is_null());
        let res = &r["results"][0];
        assert_eq!(
            keys(res),
            sorted(vec![
                "frame_size",
                "pps",
                "offered_pps",
                "a_over_b",
                "a_over_c"
            ])
        );
        assert_eq!(res["frame_size"], 64);
        assert_eq!(res["a_over_b"], 2.0);
        assert_eq!(res["a_over_c"], 0.6667);
        assert!(j["rows"][0]["results"][0]["a_over_b"].is_null());
    }

    impl DataplaneArgs {
        fn parse_from_for_test() -> Self {
            DataplaneArgs {
                seconds: 1,
                sizes: vec![64],
                sessions: vec![1],
                runs: 1,
                bras_bin: None,
                no_build: true,
                baselines_only: true,
                threaded_napi: false,
                json: None,
            }
        }
    }

    #[test]
    fn client_macs_are_unique_and_local() {
        assert_eq!(client_mac(0x0102), [0x02, 0xb0, 0, 0, 1, 2]);
        assert_ne!(client_mac(1), client_mac(2));
        assert_eq!(subscriber_ip(0), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(subscriber_ip(10_000), Ipv4Addr::new(198, 18, 39, 18));
    }
}
