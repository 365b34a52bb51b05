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
//! public address (`(65536 − 1024) / N`, at most 512): with the daemon's
//! default 512-port blocks only the first ~70–126 subscribers would get a
//! data path, and the daemon ends the others (`no data path` in its log).

use std::{
    fmt::Write as _,
    os::unix::process::CommandExt as _,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::mpsc,
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};
use serde::Serialize;

use crate::util::{
    bras_binary, build_bras, check_stop, cpus, del_netns, install_signal_handlers, ip, is_root,
    kernel_release, line_reader, rounded, workspace_root, write_json,
};

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
    let header = machine_line(&args);
    println!("{}", render_table(&header, &rows));
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

// ---------------------------------------------------------------------------
// Topology and processes

/// FreeRADIUS's address in the inet namespace and the shared secret.
const RADIUS_ADDR: &str = "192.0.2.2";
const RADIUS_SECRET: &str = "bench-secret";

fn have_freeradius() -> bool {
    Command::new("freeradius")
        .arg("-v")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// A FreeRADIUS 3 config directory in `dir`: the BRAS (192.0.2.1) as
/// client, every subscriber in `users` (CHAP), accounting to `detail`.
/// 3.2.1 does not sign answers by itself: post-auth adds the
/// Message-Authenticator the BRAS requires.
fn radius_config(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir)?;
    let d = dir.display();
    let conf = format!(
        r#"prefix = /usr
exec_prefix = /usr
sysconfdir = /etc
localstatedir = /var
sbindir = /usr/sbin
raddbdir = {d}
confdir = ${{raddbdir}}
modconfdir = ${{confdir}}/mods-config
logdir = ${{raddbdir}}
radacctdir = ${{raddbdir}}
run_dir = ${{raddbdir}}
db_dir = ${{raddbdir}}
libdir = /usr/lib/freeradius
pidfile = ${{run_dir}}/radiusd.pid
name = freeradius
max_request_time = 30
cleanup_delay = 5
max_requests = 65536
hostname_lookups = no
log {{
	destination = stdout
	auth = no
}}
security {{
	allow_core_dumps = no
	max_attributes = 200
	reject_delay = 0
	status_server = no
}}
thread pool {{
	start_servers = 4
	max_servers = 8
	min_spare_servers = 2
	max_spare_servers = 8
}}
client bras {{
	ipaddr = 192.0.2.1
	secret = {RADIUS_SECRET}
	require_message_authenticator = yes
}}
modules {{
	pap {{
	}}
	chap {{
	}}
	files {{
		filename = ${{raddbdir}}/users
	}}
	detail {{
		filename = ${{raddbdir}}/detail
		permissions = 0600
		header = "%t"
	}}
}}
server default {{
	listen {{
		type = auth
		ipaddr = {RADIUS_ADDR}
		port = 1812
	}}
	listen {{
		type = acct
		ipaddr = {RADIUS_ADDR}
		port = 1813
	}}
	authorize {{
		chap
		files
		pap
	}}
	authenticate {{
		Auth-Type PAP {{
			pap
		}}
		Auth-Type CHAP {{
			chap
		}}
	}}
	preacct {{
	}}
	accounting {{
		detail
	}}
	post-auth {{
		update reply {{
			&Message-Authenticator := 0x00
		}}
		Post-Auth-Type REJECT {{
			update reply {{
				&Message-Authenticator := 0x00
			}}
		}}
	}}
}}
"#
    );
    std::fs::write(dir.join("radiusd.conf"), conf)?;
    std::fs::write(dir.join("dictionary"), "")?;
    std::fs::write(
        dir.join("users"),
        "subscriber Cleartext-Password := \"password\"\n",
    )?;
    let _ = std::fs::remove_file(dir.join("detail"));
    Ok(())
}

/// The BRAS config's RADIUS part (top-level keys, then the tables).
fn radius_toml() -> (String, String) {
    (
        "auth_sources = [\"radius\"]\n".to_owned(),
        format!(
            "[[radius_servers]]\naddress = \"{RADIUS_ADDR}\"\nsecret = \"{RADIUS_SECRET}\"\n\
             [[radius_servers]]\naddress = \"{RADIUS_ADDR}\"\nkind = \"acct\"\n\
             secret = \"{RADIUS_SECRET}\"\n"
        ),
    )
}

const CPE_IF: &str = "c0";
const ACCESS_IF: &str = "a0";
const UPLINK_IF: &str = "u0";
const INET_IF: &str = "i0";
const POOL: &str = "100.64.0.0/16";
const FIRST_PORT: u32 = 1024;

/// The three namespaces and the daemon's pin dir; deleted on drop.
struct Topology {
    prefix: String,
    namespaces: Vec<String>,
    pin_dir: PathBuf,
}

impl Topology {
    fn build(n: u32) -> Result<Self> {
        let prefix = format!("bsess{}-{n}", std::process::id());
        let mut topo = Topology {
            pin_dir: PathBuf::from(format!("/sys/fs/bpf/{prefix}")),
            prefix,
            namespaces: Vec::new(),
        };
        for role in ["cpe", "bras", "inet"] {
            let ns = topo.ns(role);
            ip(&["netns", "add", &ns])?;
            topo.namespaces.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        let (cpe, bras, inet) = (topo.ns("cpe"), topo.ns("bras"), topo.ns("inet"));
        ip(&[
            "-n", &bras, "link", "add", ACCESS_IF, "type", "veth", "peer", "name", CPE_IF, "netns",
            &cpe,
        ])?;
        ip(&[
            "-n", &bras, "link", "add", UPLINK_IF, "type", "veth", "peer", "name", INET_IF,
            "netns", &inet,
        ])?;
        ip(&["-n", &bras, "addr", "add", "192.0.2.1/24", "dev", UPLINK_IF])?;
        ip(&["-n", &inet, "addr", "add", "192.0.2.2/24", "dev", INET_IF])?;
        for (ns, ifname) in [
            (&cpe, CPE_IF),
            (&bras, ACCESS_IF),
            (&bras, UPLINK_IF),
            (&inet, INET_IF),
        ] {
            ip(&["-n", ns, "link", "set", ifname, "up"])?;
        }
        Ok(topo)
    }

    fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            del_netns(ns);
        }
        let _ = std::fs::remove_dir_all(&self.pin_dir);
    }
}

/// A child in its own process group (Ctrl-C reaches only us), killed with
/// us (`PR_SET_PDEATHSIG`), stopped on drop: SIGTERM, a second SIGTERM
/// after `hurry` (the emulator then hangs up everyone at once), SIGKILL
/// after `grace`.
struct Proc {
    name: &'static str,
    child: Child,
    hurry: Duration,
    grace: Duration,
}

impl Proc {
    fn spawn(name: &'static str, mut cmd: Command, hurry: Duration) -> Result<Self> {
        cmd.stdin(Stdio::null()).process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().with_context(|| format!("spawn {name}"))?;
        Ok(Proc {
            name,
            child,
            hurry,
            grace: Duration::from_secs(10),
        })
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    fn signal(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
    }

    fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait up to `d` for the child to exit.
    fn wait_exit(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.exited() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.exited()
    }

    /// VmRSS in KiB, from /proc/<pid>/status.
    fn rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if self.exited() {
            return;
        }
        self.signal(libc::SIGTERM);
        if !self.wait_exit(self.hurry) {
            self.signal(libc::SIGTERM);
            if !self.wait_exit(self.grace) {
                eprintln!("bench: {} did not stop, killing it", self.name);
                let _ = self.child.kill();
                let _ = self.child.wait();
            }
        }
    }
}

/// `pppoe-bras <cmd> --control-socket <sock>` (the socket is a path, so no
/// namespace is needed).
fn control(bin: &Path, sock: &Path, cmd: &str) -> Result<String> {
    let out = Command::new(bin)
        .arg(cmd)
        .arg("--control-socket")
        .arg(sock)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("pppoe-bras {cmd}"))?;
    if !out.status.success() {
        bail!(
            "pppoe-bras {cmd}: {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The daemon's counters (`stats`): `(name, value)`, `sessions` first.
fn stats(bin: &Path, sock: &Path) -> Result<Vec<(String, u64)>> {
    Ok(control(bin, sock, "stats")?
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect())
}

fn live_sessions(bin: &Path, sock: &Path) -> Result<u64> {
    stats(bin, sock)?
        .into_iter()
        .find(|(k, _)| k == "sessions")
        .map(|(_, v)| v)
        .ok_or_else(|| anyhow!("no `sessions` line in pppoe-bras stats"))
}

/// Wait until the daemon's log file has a line with `needle`.
fn wait_log(path: &Path, needle: &str, proc: &mut Proc, timeout: Duration) -> Result<()> {
    let end = Instant::now() + timeout;
    loop {
        check_stop()?;
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().any(|l| l.contains(needle)) {
            return Ok(());
        }
        let exited = proc.exited();
        if exited || Instant::now() >= end {
            let tail: Vec<&str> = text.lines().rev().take(10).collect();
            bail!(
                "{} not `{needle}` (exited: {exited}); log tail:\n{}",
                proc.name,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// `key=value` of an emulator `ALLUP`/`SUMMARY` line.
fn field<'a>(line: &'a str, key: &str) -> Option<&'a str> {
    line.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

/// The largest NAT port block that fits `n` subscribers on one address.
fn port_block_size(n: u32) -> u32 {
    ((0x1_0000 - FIRST_PORT) / n.max(1)).clamp(1, 512)
}

// ---------------------------------------------------------------------------
// One run

#[derive(Debug, Clone, Default)]
struct Measured {
    sessions: u32,
    rate: u32,
    /// `local` (secrets file) or `radius` (FreeRADIUS).
    auth: &'static str,
    port_block_size: Option<u32>,
    up: Option<u64>,
    failed: Option<u64>,
    first_up_ms: Option<u64>,
    /// Emulator start of the first session → the last one up.
    all_up_ms: Option<u64>,
    daemon_sessions: Option<u64>,
    daemon_rss_idle_kib: Option<u64>,
    daemon_rss_up_kib: Option<u64>,
    daemon_rss_after_kib: Option<u64>,
    emu_rss_up_kib: Option<u64>,
    /// SIGTERM to the emulator → the daemon's `sessions 0`.
    teardown_ms: Option<u64>,
    /// Non-zero `drop*` and error counters of the daemon.
    drops: Vec<(String, u64)>,
    note: Option<String>,
}

impl Measured {
    fn failed(n: u32, rate: u32, note: String) -> Self {
        Measured {
            sessions: n,
            rate,
            auth: "local",
            note: Some(note),
            ..Default::default()
        }
    }

    fn sessions_per_sec(&self) -> Option<f64> {
        let ms = self.all_up_ms.filter(|&ms| ms > 0)?;
        Some(f64::from(self.sessions) * 1000.0 / ms as f64)
    }

    fn bytes_per_session(&self, idle: Option<u64>, up: Option<u64>) -> Option<f64> {
        let (idle, up) = (idle?, up?);
        Some(up.saturating_sub(idle) as f64 * 1024.0 / f64::from(self.sessions))
    }

    fn daemon_bytes_per_session(&self) -> Option<f64> {
        self.bytes_per_session(self.daemon_rss_idle_kib, self.daemon_rss_up_kib)
    }

    fn emu_bytes_per_session(&self) -> Option<f64> {
        self.bytes_per_session(Some(0), self.emu_rss_up_kib)
    }
}

fn run_one(args: &SessionsArgs, bin: &Path, work: &Path, n: u32, radius: bool) -> Result<Measured> {
    let mut m = Measured {
        sessions: n,
        rate: args.rate,
        auth: if radius { "radius" } else { "local" },
        ..Default::default()
    };
    let topo = Topology::build(n)?;
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
            topo.pin_dir.display()
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

// ---------------------------------------------------------------------------
// Output

fn machine_line(args: &SessionsArgs) -> String {
    let (cpus, kernel) = (cpus(), kernel_release());
    let nat = if args.no_nat {
        "routed (no NAT)"
    } else {
        "NAT, port blocks fitted to N"
    };
    format!(
        "{cpus} CPUs, Linux {kernel}, veth, pppoe-bras release build, RUST_LOG=info, \
         CHAP, {nat}; emulator in the same machine"
    )
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

fn render_table(header: &str, rows: &[Measured]) -> String {
    let mut o = String::new();
    let _ = writeln!(o, "Control plane: {header}");
    let _ = writeln!(
        o,
        "{:>8} {:>6} {:>7} {:>9} {:>9} {:>7} {:>9} {:>11} {:>11} {:>10} {:>10} {:>11}",
        "sessions",
        "auth",
        "rate/s",
        "all up s",
        "sess/s",
        "failed",
        "first ms",
        "daemon MiB",
        "B/session",
        "emu MiB",
        "emu B/s.",
        "teardown s"
    );
    for r in rows {
        let mib = |k: Option<u64>| opt(k.map(|k| format!("{:.1}", k as f64 / 1024.0)));
        let daemon = match (r.daemon_rss_idle_kib, r.daemon_rss_up_kib) {
            (Some(a), Some(b)) => format!("{:.1}→{:.1}", a as f64 / 1024.0, b as f64 / 1024.0),
            _ => "-".into(),
        };
        let _ = writeln!(
            o,
            "{:>8} {:>6} {:>7} {:>9} {:>9} {:>7} {:>9} {:>11} {:>11} {:>10} {:>10} {:>11}",
            r.sessions,
            r.auth,
            if r.rate == 0 {
                "max".to_owned()
            } else {
                r.rate.to_string()
            },
            opt(r.all_up_ms.map(|ms| format!("{:.2}", ms as f64 / 1000.0))),
            opt(r.sessions_per_sec().map(|v| format!("{v:.0}"))),
            opt(r.failed),
            opt(r.first_up_ms),
            daemon,
            opt(r.daemon_bytes_per_session().map(|v| format!("{v:.0}"))),
            mib(r.emu_rss_up_kib),
            opt(r.emu_bytes_per_session().map(|v| format!("{v:.0}"))),
            opt(r.teardown_ms.map(|ms| format!("{:.2}", ms as f64 / 1000.0))),
        );
        if let Some(b) = r.port_block_size {
            let _ = writeln!(o, "{:>8}   NAT port blocks of {b}", "");
        }
        if !r.drops.is_empty() {
            let d: Vec<String> = r.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let _ = writeln!(o, "{:>8}   daemon counters: {}", "", d.join(" "));
        }
        if let Some(n) = &r.note {
            let _ = writeln!(o, "{:>8}   note: {n}", "");
        }
    }
    let _ = write!(
        o,
        "auth: local secrets, or RADIUS (FreeRADIUS 3 in the inet netns: Access-Request per\n\
         session, Accounting Start and Stop to its detail file);\n\
         all up s: emulator's first start → last session up (IPCP open); sess/s = sessions / that;\n\
         B/session: daemon RSS growth / sessions; emu B/s.: emulator RSS / sessions;\n\
         teardown s: SIGTERM to the emulator (hang-up paced at --close-rate) → daemon `sessions 0`."
    );
    o
}

/// `target/bench/sessions.json`.
#[derive(Serialize)]
struct Report<'a> {
    machine: &'a str,
    rate: u32,
    close_rate: u32,
    nat: bool,
    runs: Vec<RunJson<'a>>,
}

/// One session count in [`Report`]; rates and bytes per session to 0.1.
#[derive(Serialize)]
struct RunJson<'a> {
    sessions: u32,
    auth: &'a str,
    rate: u32,
    port_block_size: Option<u32>,
    up: Option<u64>,
    failed: Option<u64>,
    first_up_ms: Option<u64>,
    all_up_ms: Option<u64>,
    sessions_per_sec: Option<f64>,
    daemon_sessions: Option<u64>,
    daemon_rss_idle_kib: Option<u64>,
    daemon_rss_up_kib: Option<u64>,
    daemon_rss_after_teardown_kib: Option<u64>,
    daemon_bytes_per_session: Option<f64>,
    emulator_rss_kib: Option<u64>,
    emulator_bytes_per_session: Option<f64>,
    teardown_ms: Option<u64>,
    /// An object, in the daemon's counter order.
    #[serde(serialize_with = "as_map")]
    daemon_drops: &'a [(String, u64)],
    note: Option<&'a str>,
}

fn as_map<S: serde::Serializer>(pairs: &&[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

fn report<'a>(header: &'a str, args: &SessionsArgs, rows: &'a [Measured]) -> Report<'a> {
    Report {
        machine: header,
        rate: args.rate,
        close_rate: args.close_rate.unwrap_or(args.rate),
        nat: !args.no_nat,
        runs: rows
            .iter()
            .map(|r| RunJson {
                sessions: r.sessions,
                auth: r.auth,
                rate: r.rate,
                port_block_size: r.port_block_size,
                up: r.up,
                failed: r.failed,
                first_up_ms: r.first_up_ms,
                all_up_ms: r.all_up_ms,
                sessions_per_sec: rounded(r.sessions_per_sec(), 1),
                daemon_sessions: r.daemon_sessions,
                daemon_rss_idle_kib: r.daemon_rss_idle_kib,
                daemon_rss_up_kib: r.daemon_rss_up_kib,
                daemon_rss_after_teardown_kib: r.daemon_rss_after_kib,
                daemon_bytes_per_session: rounded(r.daemon_bytes_per_session(), 1),
                emulator_rss_kib: r.emu_rss_up_kib,
                emulator_bytes_per_session: rounded(r.emu_bytes_per_session(), 1),
                teardown_ms: r.teardown_ms,
                daemon_drops: &r.drops,
                note: r.note.as_deref(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_blocks_fit_the_sessions() {
        assert_eq!(port_block_size(100), 512);
        assert_eq!(port_block_size(1000), 64);
        assert_eq!(port_block_size(10_000), 6);
        assert!(port_block_size(10_000) * 10_000 <= 0x1_0000 - FIRST_PORT);
        assert_eq!(port_block_size(60_000), 1);
    }

    #[test]
    fn fields_of_summary_lines() {
        let l = "ALLUP sessions=10 up=10 failed=0 first_up_ms=3 all_up_ms=19 rate=526.3/s";
        assert_eq!(field(l, "all_up_ms"), Some("19"));
        assert_eq!(field(l, "rate"), Some("526.3/s"));
        assert_eq!(field(l, "nope"), None);
    }

    #[test]
    fn json_keeps_its_keys_and_shape() {
        let mut m = Measured::failed(10, 5, "bad \"x\"\n".into());
        m.all_up_ms = Some(3);
        m.drops = vec![("z.drop".into(), 2), ("a.error".into(), 1)];
        let args = SessionsArgs {
            sessions: vec![10],
            rate: 5,
            close_rate: None,
            no_nat: true,
            timeout: 1,
            bras_bin: None,
            no_build: true,
            json: None,
            radius: false,
        };
        let text = serde_json::to_string(&report("h", &args, &[m])).unwrap();
        // The daemon's counter order, not sorted.
        assert!(
            text.contains(r#""daemon_drops":{"z.drop":2,"a.error":1}"#),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let mut want = vec!["machine", "rate", "close_rate", "nat", "runs"];
        want.sort();
        assert_eq!(keys(&j), want);
        assert_eq!(j["close_rate"], 5);
        assert_eq!(j["nat"], false);
        let run = &j["runs"][0];
        let mut want = vec![
            "sessions",
            "auth",
            "rate",
            "port_block_size",
            "up",
            "failed",
            "first_up_ms",
            "all_up_ms",
            "sessions_per_sec",
            "daemon_sessions",
            "daemon_rss_idle_kib",
            "daemon_rss_up_kib",
            "daemon_rss_after_teardown_kib",
            "daemon_bytes_per_session",
            "emulator_rss_kib",
            "emulator_bytes_per_session",
            "teardown_ms",
            "daemon_drops",
            "note",
        ];
        want.sort();
        assert_eq!(keys(run), want);
        assert_eq!(run["note"], "bad \"x\"\n");
        assert_eq!(run["auth"], "local");
        assert_eq!(run["sessions_per_sec"], 3333.3);
        assert!(run["up"].is_null());
        assert!(run["daemon_bytes_per_session"].is_null());
    }
}
