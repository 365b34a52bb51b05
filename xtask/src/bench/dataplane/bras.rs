//! pppoe-bras in the dut namespace through its hidden
//! `bench-dataplane-setup` subcommand, and the cases measured with it.

use std::{
    collections::HashMap,
    fmt::Write as _,
    net::Ipv4Addr,
    path::Path,
    process::{Child, ChildStdin, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    bench::topology::{port_block_size, FIRST_PORT},
    util::{check_stop, line_reader},
};

use super::{
    bpf, bras_label, kernel_flows,
    measure::{measure, ns_per_packet, ns_per_packet_warm},
    net::{
        fmt_mac, napi_threaded, xdp_prog_id, Net, ACCESS_IF, CLIENT_PORT, PUBLIC_IP, SERVER,
        SERVER6, SERVER_PORT, UPLINK_IF,
    },
    progress, rates_up,
    traffic::{client_mac, subscriber_ip, subscriber_ip6, Flow, Traffic, PPPOE_LEN},
    Ctx, Row,
};

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
struct Bras {
    child: Child,
    stdin: Option<ChildStdin>,
    /// Port block (start, count) per session, in install order.
    blocks: Vec<(u16, u16)>,
    /// Lines the subcommand prints after `ready` (`stat <name> <value>`).
    lines: Option<mpsc::Receiver<String>>,
}

/// The benchmark daemon's pin dir.
fn bench_pin_dir() -> String {
    format!("/sys/fs/bpf/pppoe-bras-bench-{}", std::process::id())
}

impl Bras {
    /// `spread`: the subcommand's `--spread` (`off`, `all`, CPU list).
    pub(super) fn start(
        bin: &Path,
        topo: &Net,
        n: u32,
        workdir: &Path,
        spread: &str,
    ) -> Result<Self> {
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
pub(super) fn bras_supports_setup(bin: &Path) -> bool {
    Command::new(bin)
        .args(["bench-dataplane-setup", "--help"])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false)
}

pub(super) fn bras(ctx: &Ctx, bin: &Path, n: u32) -> Result<Vec<Row>> {
    let workdir = std::env::temp_dir().join(format!("pppoe-bras-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let res = bras_inner(ctx, bin, n, &workdir);
    let _ = std::fs::remove_dir_all(&workdir);
    res
}

/// Upstream flow `i` of `n`: the kernel baseline's flow `i`, in PPPoE
/// session `i + 1` from subscriber `i`'s CPE.
fn up_flows(topo: &Net, n: u32) -> Vec<Flow> {
    kernel_flows(topo, n)
        .into_iter()
        .zip(0..)
        .map(|(f, i)| Flow {
            src_mac: client_mac(i),
            pppoe: Some(u16::try_from(i + 1).unwrap_or(u16::MAX)),
            ..f
        })
        .collect()
}

/// The upstream case again with sessions spread over all CPUs (cpumap,
/// `bench-dataplane-setup --spread all`). Only upstream: spreading is an
/// access-side feature (RSS spreads plain IPv4 on the uplink).
pub(super) fn bras_spread(ctx: &Ctx, bin: &Path, n: u32) -> Result<Row> {
    let workdir = std::env::temp_dir().join(format!("pppoe-bras-bench-{}", std::process::id()));
    std::fs::create_dir_all(&workdir)?;
    let res = (|| -> Result<Row> {
        let topo = ctx.topo;
        let bras = Bras::start(bin, topo, n, &workdir, "all")?;
        let cpus = thread::available_parallelism().map_or(1, |c| c.get());
        let label = format!("{}, spread over {cpus} CPUs", bras_label("bras-up", n));
        let rates = rates_up(ctx, &label, &up_flows(topo, n))?;
        drop(bras);
        Ok(Row::rates("bras-up-spread", label, n, rates))
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
            dport: CLIENT_PORT,
            v6: Some((SERVER6, subscriber_ip6(i))),
            ..down_flows[i as usize]
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
    let rates = rates_up(ctx, &label, flows);
    // Safety: plain kill(2) of our child.
    unsafe { libc::kill(cap.id() as i32, libc::SIGTERM) };
    let _ = cap.wait();
    Ok(Row::rates("bras-up-capture", label, n, rates?))
}
