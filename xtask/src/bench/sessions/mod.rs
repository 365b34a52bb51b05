//! `cargo xtask bench sessions`: the control-plane benchmark (DESIGN.md §7):
//! sessions established per second, time to establish N sessions, failures,
//! memory per session, and teardown time, with the emulator against the
//! real daemon.
//!
//! Topology per session count, built here and deleted on exit, failure or
//! Ctrl-C (namespaces `bsess<pid>-{cpe,bras,inet}`):
//!
//! ```text
//!  cpe ns                     bras ns                        inet ns
//!  c0 ──veth── a0 (access)    u0 (uplink, 192.0.2.1/24) ──veth── i0 (192.0.2.2/24)
//! ```
//!
//! Subscribers get addresses from 100.64.0.0/16 (RFC 6598 shared address
//! space; uplink in 192.0.2.0/24, documentation), never routed outside the
//! namespaces. One wildcard secrets line (`* * "password"`) serves every
//! emulated subscriber.
//!
//! Per count N: start `pppoe-bras run` (release build, config file, its own
//! control socket and pin dir), read its RSS, start `pppoe-bras emulate
//! --sessions N --rate R --quiet`, wait for its `ALLUP` line, read both
//! RSS, then SIGTERM the emulator (it hangs up at `--close-rate`) and poll
//! the daemon's `stats` until `sessions 0`: the teardown time.
//!
//! With `--radius`, every count runs twice: local secrets, then the same
//! sessions authenticated (CHAP) and accounted (Start, Stop) by FreeRADIUS
//! (`freeradius -f` in the inet namespace on 192.0.2.2, `files` + `chap` +
//! `detail`), so the table shows what RADIUS costs next to local secrets.
//!
//! NAT is on with the largest port block that fits N subscribers on the one
//! public address (`(65000 − 1024) / N`, at most 512), below the bras
//! namespace's ephemeral ports, narrowed to 65000–65535 as in the data-path
//! bench: the data plane leaves the host's ephemeral ports out of its
//! blocks. With the daemon's default 512-port blocks and ephemeral ports
//! only the first ~70 subscribers would get a data path, and the daemon
//! ends the others (`no data path` in its log).

mod process;
mod radius;
mod results;

use std::{
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

use crate::{
    bench::topology::{port_block_size, Topology, FIRST_PORT},
    util::{
        bras_binary, build_bras, check_stop, install_signal_handlers, ip, is_root, line_reader,
        workspace_root, write_json,
    },
};

use process::{live_sessions, stats, wait_log, Proc};
use radius::{have_freeradius, radius_config, radius_toml};
use results::{header, report, table, Measured};

/// Options of `cargo xtask bench sessions`.
#[derive(clap::Args, Debug)]
pub struct SessionsArgs {
    /// Session counts, one run (fresh namespaces and daemon) each.
    #[arg(long, value_delimiter = ',', default_values_t = [1000, 10000])]
    sessions: Vec<u32>,
    /// Sessions the emulator starts per second (0 = all at once; the
    /// daemon's socket then drops frames and retransmissions take over).
    #[arg(long, default_value_t = 1000)]
    rate: u32,
    /// Sessions the emulator hangs up per second on SIGTERM (default: --rate).
    #[arg(long)]
    close_rate: Option<u32>,
    /// Routed mode (`nat = false`): no NAT port blocks.
    #[arg(long)]
    no_nat: bool,
    /// Seconds the emulator waits for everyone after the last start.
    #[arg(long, default_value_t = 60)]
    timeout: u64,
    /// pppoe-bras binary (default: target/release/pppoe-bras, built first).
    #[arg(long)]
    bras_bin: Option<PathBuf>,
    /// Don't `cargo build --release -p pppoe-bras` first.
    #[arg(long)]
    no_build: bool,
    /// Where to write the JSON results (default target/bench/sessions.json).
    #[arg(long)]
    json: Option<PathBuf>,
    /// Also run every count with RADIUS (FreeRADIUS in the inet namespace).
    #[arg(long)]
    radius: bool,
}

/// Entry point.
pub fn main(args: SessionsArgs) -> Result<()> {
    if !is_root() {
        bail!("`cargo xtask bench sessions` needs root (netns, XDP, AF_PACKET)");
    }
    if args.sessions.iter().any(|&n| n == 0 || n > 60_000) {
        bail!("session counts must be within 1..=60000 (PPPoE ids are 16 bits)");
    }
    install_signal_handlers();
    let root = workspace_root();
    let bin = args.bras_bin.clone().unwrap_or_else(|| bras_binary(true));
    if !args.no_build && args.bras_bin.is_none() {
        build_bras(true).context("building pppoe-bras failed")?;
    }
    let work = root.join("target/bench/sessions-run");
    std::fs::create_dir_all(&work).with_context(|| format!("create {}", work.display()))?;

    if args.radius && !have_freeradius() {
        bail!("--radius needs FreeRADIUS: apt-get install freeradius");
    }
    let mut rows = Vec::new();
    let auths: &[bool] = if args.radius {
        &[false, true]
    } else {
        &[false]
    };
    for &n in &args.sessions {
        for &radius in auths {
            check_stop()?;
            let auth = if radius { "radius" } else { "local" };
            eprintln!("bench: {n} sessions at {}/s, {auth}", args.rate);
            match run_one(&args, &bin, &work, n, radius) {
                Ok(r) => rows.push(r),
                Err(e) => {
                    check_stop()?;
                    eprintln!("bench: {n} sessions ({auth}): {e:#}");
                    let mut m = Measured::failed(n, args.rate, format!("{e:#}"));
                    m.auth = auth;
                    rows.push(m);
                }
            }
        }
    }
    let header = header(&args);
    println!("{}", table(&header, &rows));
    let json_path = args
        .json
        .clone()
        .unwrap_or_else(|| root.join("target/bench/sessions.json"));
    write_json(&json_path, &report(&header, &args, &rows))?;
    eprintln!(
        "bench: wrote {} (logs in {})",
        json_path.display(),
        work.display()
    );
    Ok(())
}

const CPE_IF: &str = "c0";
const ACCESS_IF: &str = "a0";
const UPLINK_IF: &str = "u0";
const INET_IF: &str = "i0";
const POOL: &str = "100.64.0.0/16";

/// The cpe, bras and inet namespaces of the run with `n` sessions (see
/// above); the daemon pins into its [`Topology::pin_dir`].
fn topology(n: u32) -> Result<Topology> {
    let topo = Topology::create(
        format!("bsess{}-{n}", std::process::id()),
        &["cpe", "bras", "inet"],
    )?;
    topo.veth(("bras", ACCESS_IF), ("cpe", CPE_IF))?;
    topo.veth(("bras", UPLINK_IF), ("inet", INET_IF))?;
    ip(&[
        "-n",
        &topo.ns("bras"),
        "addr",
        "add",
        "192.0.2.1/24",
        "dev",
        UPLINK_IF,
    ])?;
    ip(&[
        "-n",
        &topo.ns("inet"),
        "addr",
        "add",
        "192.0.2.2/24",
        "dev",
        INET_IF,
    ])?;
    // So that the blocks of port_block_size(n) all fit on the one address.
    topo.narrow_ephemeral_ports("bras")?;
    Ok(topo)
}

/// `key=value` of an emulator `ALLUP`/`SUMMARY` line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

fn run_one(args: &SessionsArgs, bin: &Path, work: &Path, n: u32, radius: bool) -> Result<Measured> {
    let mut m = Measured {
        sessions: n,
        rate: args.rate,
        auth: if radius { "radius" } else { "local" },
        ..Default::default()
    };
    let topo = topology(n)?;
    let tag = format!("{n}{}", if radius { "-radius" } else { "" });
    let (radius_top, radius_tables, radiusd) = if radius {
        let dir = work.join(format!("raddb-{n}"));
        radius_config(&dir)?;
        let radius_log = work.join(format!("freeradius-{n}.log"));
        let mut cmd = Command::new("ip");
        cmd.args(["netns", "exec", &topo.ns("inet"), "freeradius", "-f", "-d"])
            .arg(&dir)
            .stdout(std::fs::File::create(&radius_log)?)
            .stderr(Stdio::null());
        let mut p = Proc::spawn("freeradius", cmd, Duration::from_secs(5))?;
        wait_log(
            &radius_log,
            "Ready to process requests",
            &mut p,
            Duration::from_secs(20),
        )?;
        let (top, tables) = radius_toml();
        (top, tables, Some(p))
    } else {
        (String::new(), String::new(), None)
    };
    let secrets = work.join("secrets");
    std::fs::write(
        &secrets,
        "# every emulated subscriber, one password\n* * \"password\"\n",
    )?;
    let block = port_block_size(n);
    let nat = if args.no_nat {
        "nat = false\n".to_owned()
    } else {
        m.port_block_size = Some(block);
        format!("nat = true\nport_block_size = {block}\nfirst_port = {FIRST_PORT}\n")
    };
    let conf = work.join(format!("bras-{tag}.toml"));
    std::fs::write(
        &conf,
        format!(
            "# cargo xtask bench sessions, {n} sessions\n\
             access_interface = \"{ACCESS_IF}\"\n\
             uplink_interface = \"{UPLINK_IF}\"\n\
             local_address = \"172.16.0.254\"\n\
             secrets = [\"{}\"]\n\
             pool = [\"{POOL}\"]\n\
             dns = [\"192.0.2.53\"]\n\
             max_sessions = 65534\n\
             lcp_echo_interval = 30\n\
             {nat}\
             pin_dir = \"{}\"\n\
             {radius_top}{radius_tables}",
            secrets.display(),
            topo.pin_dir().display()
        ),
    )?;
    let sock = work.join(format!("control-{tag}.sock"));
    let bras_log = work.join(format!("bras-{tag}.log"));
    let emu_log = work.join(format!("emulate-{tag}.log"));

    let mut cmd = Command::new(bin);
    cmd.args(["run", "--netns", &topo.ns("bras"), "-c"])
        .arg(&conf)
        .arg("--control-socket")
        .arg(&sock)
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&bras_log)?);
    let mut bras = Proc::spawn("pppoe-bras run", cmd, Duration::from_secs(10))?;
    wait_log(&bras_log, "ready ", &mut bras, Duration::from_secs(30))?;
    thread::sleep(Duration::from_millis(500));
    m.daemon_rss_idle_kib = bras.rss_kib();

    let close_rate = args.close_rate.unwrap_or(args.rate);
    let mut cmd = Command::new(bin);
    cmd.args(["emulate", "--netns", &topo.ns("cpe"), "-I", CPE_IF])
        .args(["--user", "subscriber", "--password", "password", "--quiet"])
        .args(["--sessions", &n.to_string()])
        .args(["--rate", &args.rate.to_string()])
        .args(["--close-rate", &close_rate.to_string()])
        .args(["--timeout", &args.timeout.to_string()])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(std::fs::File::create(&emu_log)?);
    // Hanging up N sessions at close_rate takes N / close_rate seconds.
    let hang_up = match close_rate {
        0 => Duration::from_secs(5),
        r => Duration::from_secs_f64(f64::from(n) / f64::from(r) + 5.0),
    };
    let mut emu = Proc::spawn("pppoe-bras emulate", cmd, hang_up)?;
    let stdout = emu
        .child
        .stdout
        .take()
        .ok_or_else(|| anyhow!("no stdout"))?;
    let lines = line_reader(stdout);

    let launch = match args.rate {
        0 => 0.0,
        r => f64::from(n) / f64::from(r),
    };
    let deadline = Instant::now() + Duration::from_secs_f64(launch + args.timeout as f64 + 30.0);
    let mut failures = 0u64;
    let all_up = loop {
        check_stop()?;
        match lines.recv_timeout(Duration::from_millis(100)) {
            Ok(l) if l.starts_with("ALLUP ") => break Some(l),
            Ok(l) if l.starts_with("SUMMARY ") => {
                m.up = field(&l, "up").and_then(|v| v.parse().ok());
                m.failed = field(&l, "failed").and_then(|v| v.parse().ok());
                m.first_up_ms = field(&l, "first_up_ms").and_then(|v| v.parse().ok());
                break None;
            }
            Ok(l) if l.starts_with("DOWN ") || l.starts_with("AUTHFAIL ") => failures += 1,
            Ok(_) => {}
            Err(mpsc::RecvTimeoutError::Timeout) if Instant::now() < deadline => {}
            Err(mpsc::RecvTimeoutError::Timeout) => break None,
            Err(mpsc::RecvTimeoutError::Disconnected) => break None,
        }
    };
    let Some(all_up) = all_up else {
        m.daemon_sessions = live_sessions(bin, &sock).ok();
        m.note = Some(format!(
            "not all up ({} failure lines, up={:?}); see {}",
            failures,
            m.up,
            emu_log.display()
        ));
        return Ok(m);
    };
    m.up = field(&all_up, "up").and_then(|v| v.parse().ok());
    m.failed = field(&all_up, "failed").and_then(|v| v.parse().ok());
    m.first_up_ms = field(&all_up, "first_up_ms").and_then(|v| v.parse().ok());
    m.all_up_ms = field(&all_up, "all_up_ms").and_then(|v| v.parse().ok());
    // The daemon counts a session once its IPCP opened; both sides agree
    // within a round trip.
    let end = Instant::now() + Duration::from_secs(5);
    loop {
        let live = live_sessions(bin, &sock)?;
        m.daemon_sessions = Some(live);
        if live >= u64::from(n) || Instant::now() >= end {
            break;
        }
        thread::sleep(Duration::from_millis(100));
    }
    m.daemon_rss_up_kib = bras.rss_kib();
    m.emu_rss_up_kib = emu.rss_kib();

    let t0 = Instant::now();
    emu.signal(libc::SIGTERM);
    let end = t0 + hang_up + Duration::from_secs(120);
    loop {
        check_stop()?;
        if live_sessions(bin, &sock)? == 0 {
            m.teardown_ms = Some(t0.elapsed().as_millis() as u64);
            break;
        }
        if Instant::now() >= end {
            m.note = Some("the daemon still had sessions 2 min after the hang-up".into());
            break;
        }
        thread::sleep(Duration::from_millis(50));
    }
    emu.wait_exit(Duration::from_secs(10));
    m.daemon_rss_after_kib = bras.rss_kib();
    m.drops = stats(bin, &sock)?
        .into_iter()
        .filter(|(k, v)| *v > 0 && (k.contains("drop") || k.contains("error")))
        .collect();
    let log = std::fs::read_to_string(&bras_log).unwrap_or_default();
    let errors = log.lines().filter(|l| l.contains("ERROR")).count();
    if errors > 0 {
        m.note = Some(format!("{errors} ERROR lines in {}", bras_log.display()));
    }
    drop(emu);
    drop(bras);
    drop(radiusd);
    drop(topo);
    Ok(m)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_of_summary_lines() {
        let l = "ALLUP sessions=10 up=10 failed=0 first_up_ms=3 all_up_ms=19 rate=526.3/s";
        assert_eq!(field(l, "all_up_ms"), Some("19"));
        assert_eq!(field(l, "rate"), Some("526.3/s"));
        assert_eq!(field(l, "nope"), None);
    }
}
