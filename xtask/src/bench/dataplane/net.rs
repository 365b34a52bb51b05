//! The bench's three namespaces (gen, dut, sink) and what it asks of them:
//! addresses and routes, ifindex and MAC, attached XDP programs, threads
//! inside a namespace.

use std::{net::Ipv4Addr, os::fd::AsRawFd, thread};

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    bench::topology::Topology,
    util::{ip, ns_exec},
};

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

pub(super) fn fmt_mac(m: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

pub(super) const GEN_IF: &str = "g0";
pub(super) const ACCESS_IF: &str = "d0";
pub(super) const UPLINK_IF: &str = "d1";
pub(super) const SINK_IF: &str = "s0";

/// DUT address on the access side for the kernel baseline (the subscribers'
/// /15, RFC 2544 benchmarking range).
const DUT_ACCESS_ADDR: &str = "198.18.0.1/15";
/// DUT uplink address and its next hop (documentation range).
const DUT_UPLINK_ADDR: &str = "192.0.2.1/24";
const NEXT_HOP: &str = "192.0.2.2";
/// The "internet" host every upstream packet goes to.
pub(super) const SERVER: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 10);
/// The IPv6 test server, behind the sink, and the DUT's uplink address and
/// next hop for it.
pub(super) const SERVER6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 0x10);
const DUT_UPLINK_ADDR6: &str = "2001:db8:2::1/64";
const NEXT_HOP6: &str = "2001:db8:2::2";
/// pppoe-bras NAT address.
pub(super) const PUBLIC_IP: Ipv4Addr = Ipv4Addr::new(203, 0, 113, 1);
pub(super) const CLIENT_PORT: u16 = 40000;
pub(super) const SERVER_PORT: u16 = 2000;
/// First subscriber address (`198.18.0.2`), then one per flow.
pub(super) const FIRST_SUBSCRIBER: u32 = u32::from_be_bytes([198, 18, 0, 2]);

/// One end of a veth: its namespace, ifindex and MAC.
pub(super) struct Iface {
    pub(super) ns: String,
    pub(super) index: u32,
    pub(super) mac: [u8; 6],
}

/// The three namespaces and the interfaces between them (see
/// `dataplane/mod.rs`); deleted on drop.
pub(super) struct Net {
    pub(super) gen: String,
    pub(super) dut: String,
    pub(super) sink: String,
    pub(super) g0: Iface,
    pub(super) d0: Iface,
    pub(super) d1: Iface,
    pub(super) s0: Iface,
    /// Owns the namespaces.
    _topo: Topology,
}

impl Net {
    pub(super) fn build() -> Result<Self> {
        let pid = std::process::id();
        let topo = Topology::create(format!("bench{pid}"), &["gen", "dut", "sink"])?;
        let (gen, dut, sink) = (topo.ns("gen"), topo.ns("dut"), topo.ns("sink"));
        topo.veth(("gen", GEN_IF), ("dut", ACCESS_IF))?;
        topo.veth(("dut", UPLINK_IF), ("sink", SINK_IF))?;
        ip(&["-n", &dut, "addr", "add", DUT_ACCESS_ADDR, "dev", ACCESS_IF])?;
        // So that 10,000 sessions' NAT blocks fit on the one public address.
        topo.narrow_ephemeral_ports("dut")?;
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
        let topo = Net {
            g0: iface(&gen, GEN_IF)?,
            d0: iface(&dut, ACCESS_IF)?,
            d1: iface(&dut, UPLINK_IF)?,
            s0: iface(&sink, SINK_IF)?,
            gen,
            dut,
            sink,
            _topo: topo,
        };
        let s0_mac = fmt_mac(&topo.s0.mac);
        let dut = &topo.dut;
        for (family, hop, server) in [
            ("-4", NEXT_HOP, format!("{SERVER}/32")),
            ("-6", NEXT_HOP6, format!("{SERVER6}/128")),
        ] {
            ip(&[
                "-n",
                dut,
                family,
                "neigh",
                "replace",
                hop,
                "lladdr",
                &s0_mac,
                "dev",
                UPLINK_IF,
                "nud",
                "permanent",
            ])?;
            ip(&[
                "-n", dut, family, "route", "add", &server, "via", hop, "dev", UPLINK_IF,
            ])?;
        }
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
pub(super) fn napi_threaded(enabled: bool, ns: &str, ifname: &str) {
    if !enabled {
        return;
    }
    let cmd = format!("echo 1 > /sys/class/net/{ifname}/threaded");
    if let Err(e) = ns_exec(ns, &["sh", "-c", &cmd]) {
        eprintln!("bench: threaded NAPI on {ifname}: {e:#}");
    }
}

/// Id of the XDP program attached to `name` in `ns`, from `ip -d link show`.
pub(super) fn xdp_prog_id(ns: &str, name: &str) -> Result<u32> {
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
pub(super) fn in_netns<T: Send + 'static>(
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

pub(super) fn enter_netns(path: &str) -> Result<()> {
    let file = std::fs::File::open(path).with_context(|| format!("opening {path}"))?;
    // SAFETY: plain syscall on a valid fd; affects only the calling thread.
    if unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
        return Err(std::io::Error::last_os_error()).with_context(|| format!("setns {path}"));
    }
    Ok(())
}
