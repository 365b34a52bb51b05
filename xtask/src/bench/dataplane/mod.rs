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
//! instructions each, assembled in `asm.rs`: the packaged `xdp-bench` (xdp-tools
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

mod asm;
mod bpf;
mod bras;
mod measure;
mod net;
mod results;
mod traffic;

use std::{path::PathBuf, sync::Arc, thread};

use anyhow::{anyhow, bail, Result};

use crate::util::{
    bras_binary, build_bras, check_stop, install_signal_handlers, is_root, ns_exec, workspace_root,
    write_json,
};

use bras::{bras, bras_spread, bras_supports_setup};
use measure::{measure, ns_per_packet, Rate};
use net::{
    in_netns, napi_threaded, Net, ACCESS_IF, CLIENT_PORT, GEN_IF, SERVER, SERVER_PORT, SINK_IF,
    UPLINK_IF,
};
use results::{header, report, table};
use traffic::{subscriber_ip, Flow, Traffic};

/// Options of `cargo xtask bench dataplane`.
#[derive(clap::Args, Debug)]
pub(super) struct DataplaneArgs {
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

/// One row of the table.
#[derive(Debug, Clone)]
struct Row {
    /// "ceiling", "kernel", "bras-up", "bras-down".
    kind: &'static str,
    label: String,
    flows: u32,
    /// pps per frame size, same order as `sizes`; `None` = not measured.
    rates: Vec<Option<Rate>>,
    /// Warm per-packet cost over a bare redirect (see [`measure::ns_per_packet_warm`]).
    ns_per_pkt: Option<f64>,
    /// Cold single-run cost (see [`ns_per_packet`]).
    ns_cold: Option<f64>,
    note: Option<String>,
}

impl Row {
    /// A row of rates only: no per-packet cost, no note.
    fn rates(kind: &'static str, label: String, flows: u32, rates: Vec<Option<Rate>>) -> Self {
        Row {
            kind,
            label,
            flows,
            rates,
            ns_per_pkt: None,
            ns_cold: None,
            note: None,
        }
    }
}

struct Ctx<'a> {
    args: &'a DataplaneArgs,
    topo: &'a Net,
    /// Counters at both ends (XDP count + drop on s0 and g0).
    sink_up: bpf::ArrayMap,
    sink_down: bpf::ArrayMap,
}

pub(super) fn dataplane(args: DataplaneArgs) -> Result<()> {
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

    let topo = Net::build()?;
    eprintln!(
        "bench: namespaces {}, {}, {}",
        topo.gen, topo.dut, topo.sink
    );

    let sink_up = bpf::ArrayMap::new("bench_cnt_up", 8, 1)?;
    let sink_down = bpf::ArrayMap::new("bench_cnt_down", 8, 1)?;
    let cnt_up = bpf::Prog::load("bench_count", &asm::counter_prog(&sink_up)?)?;
    let cnt_down = bpf::Prog::load("bench_count", &asm::counter_prog(&sink_down)?)?;
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

    let header = header(&args);
    println!("{}", table(&header, &args.sizes, &rows));
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
        note: Some(why.to_owned()),
        ..Row::rates(kind, bras_label(kind, n), n, vec![None; sizes])
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

fn kernel_flows(topo: &Net, n: u32) -> Vec<Flow> {
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

/// The received rate of `flows` sent from g0 and counted at the sink, one
/// per frame size (the upstream direction).
fn rates_up(ctx: &Ctx, label: &str, flows: &[Flow]) -> Result<Vec<Option<Rate>>> {
    let mut rates = Vec::new();
    for &size in &ctx.args.sizes {
        let t = Traffic::new(flows, size - 4)?;
        let r = measure(&ctx.topo.g0, &ctx.sink_up, t, ctx.args.seconds)?;
        progress(label, size, &r);
        rates.push(Some(r));
    }
    Ok(rates)
}

fn ceiling(ctx: &Ctx) -> Result<Row> {
    let topo = ctx.topo;
    let label = "(c) bare XDP_REDIRECT (ceiling)".to_string();
    let prog = bpf::Prog::load("bench_redirect", &asm::redirect_prog(topo.d1.index)?)?;
    let d0 = topo.d0.index;
    let prog = Arc::new(prog);
    let link = {
        let prog = prog.clone();
        in_netns(&topo.dut, move || prog.attach(d0))?
    };
    napi_threaded(ctx.args.threaded_napi, &topo.dut, ACCESS_IF);
    let rates = rates_up(ctx, &label, &kernel_flows(topo, 1))?;
    drop(link);
    let frame = kernel_flows(topo, 1)[0].frame(60)?;
    let prog = Arc::try_unwrap(prog).map_err(|_| anyhow!("program still shared"))?;
    let (_, ns) = ns_per_packet(&topo.dut, prog, frame, d0, ctx.args.runs)?;
    Ok(Row {
        ns_cold: Some(ns),
        ..Row::rates("ceiling", label, 1, rates)
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
    let pass = bpf::Prog::load("bench_pass", &asm::pass_prog())?;
    let d0 = topo.d0.index;
    let link = in_netns(dut, move || pass.attach(d0))?;
    napi_threaded(ctx.args.threaded_napi, dut, ACCESS_IF);
    let rates = rates_up(ctx, &label, &kernel_flows(topo, n));
    drop(link);
    let _ = ns_exec(dut, &["iptables", "-t", "nat", "-F", "POSTROUTING"]);
    let _ = ns_exec(dut, &["sysctl", "-qw", "net.ipv4.ip_forward=0"]);
    let _ = ns_exec(dut, &["conntrack", "-F"]);
    Ok(Row::rates("kernel", label, n, rates?))
}
