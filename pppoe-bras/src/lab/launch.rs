//! Starting the two programs under test in a [`Lab`]: the daemon's
//! ([`BrasOptions`]) and the emulator's ([`EmuOptions`]) options and command
//! lines, and the lines that say they are ready (`ready access=…`, `UP …`).

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::Command,
    time::Duration,
};

use anyhow::bail;

use super::{process::LabProcess, Lab, DNS, LOCAL_IP, POOL};

/// The daemon's options in the lab; [`BrasOptions::classic`] is the bench setup.
#[derive(Debug, Clone)]
pub struct BrasOptions {
    /// `--pin-dir`.
    pub pin_dir: PathBuf,
    /// `--secrets`, one per file.
    pub secrets: Vec<PathBuf>,
    /// `--pool` ranges.
    pub pool: Vec<String>,
    /// `--dns` servers.
    pub dns: Vec<Ipv4Addr>,
    /// `--auth` (e.g. `chap,pap`).
    pub auth: String,
    /// `--lcp-echo-interval` in seconds.
    pub lcp_echo_interval: u32,
    /// `--lcp-echo-failure`.
    pub lcp_echo_failure: u32,
    /// `--xdp-mode` (daemon default when `None`).
    pub xdp_mode: Option<String>,
    /// Appended verbatim.
    pub extra: Vec<String>,
    /// How long [`Lab::start_bras`] waits for the `ready` line.
    pub ready_timeout: Duration,
}

impl BrasOptions {
    /// The classic bench settings with the given pin dir and secrets file.
    pub fn classic(pin_dir: &Path, secrets: &Path) -> Self {
        BrasOptions {
            pin_dir: pin_dir.to_owned(),
            secrets: vec![secrets.to_owned()],
            pool: vec![POOL.to_owned()],
            dns: DNS.to_vec(),
            auth: "chap,pap".to_owned(),
            lcp_echo_interval: 10,
            lcp_echo_failure: 2,
            xdp_mode: None,
            extra: Vec::new(),
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// The emulator's options in the lab.
#[derive(Debug, Clone, Default)]
pub struct EmuOptions {
    /// `--user`.
    pub user: String,
    /// `--password`.
    pub password: String,
    /// `--auth chap|pap|any`.
    pub auth: Option<String>,
    /// `--sessions N`.
    pub sessions: Option<u32>,
    /// `--tun NAME`.
    pub tun: Option<String>,
    /// `--mru N`.
    pub mru: Option<u16>,
    /// `--no-dns`.
    pub no_dns: bool,
    /// `--no-ipv4` (an IPv6-only CPE).
    pub no_ipv4: bool,
    /// `--timeout SECS`.
    pub timeout_secs: Option<u32>,
    /// `--lcp-echo-interval SECS`.
    pub lcp_echo_interval: Option<u32>,
    /// Appended verbatim.
    pub extra: Vec<String>,
}

impl EmuOptions {
    /// One session of `user` with the classic password.
    pub fn user(user: &str) -> Self {
        EmuOptions {
            user: user.to_owned(),
            password: "password".to_owned(),
            ..Default::default()
        }
    }
}

/// The emulator's `UP session=0x0001 address=... peer=... dns=a,b mru=1492` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpLine {
    /// PPPoE session id.
    pub session: u16,
    /// Address IPCP gave the subscriber.
    pub address: Ipv4Addr,
    /// The BRAS's address (IPCP peer).
    pub peer: Option<Ipv4Addr>,
    /// DNS servers (RFC 1877), possibly empty.
    pub dns: Vec<Ipv4Addr>,
    /// Negotiated MRU.
    pub mru: Option<u16>,
}

/// `session=0x0001` → 1 (also accepts decimal).
fn parse_session_id(s: &str) -> Option<u16> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `key=value` pairs of a whitespace-separated line.
pub fn line_fields(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace().filter_map(|t| t.split_once('='))
}

impl UpLine {
    /// Parse an `UP ...` line; `None` when it is not one or lacks session/address.
    pub fn parse(line: &str) -> Option<UpLine> {
        let rest = line.trim().strip_prefix("UP ")?;
        let (mut session, mut address, mut peer, mut dns, mut mru) =
            (None, None, None, vec![], None);
        for (k, v) in line_fields(rest) {
            match k {
                "session" => session = parse_session_id(v),
                "address" => address = v.parse().ok(),
                "peer" => peer = v.parse().ok(),
                "dns" => dns = v.split(',').filter_map(|a| a.parse().ok()).collect(),
                "mru" => mru = v.parse().ok(),
                _ => {}
            }
        }
        Some(UpLine {
            session: session?,
            address: address?,
            peer,
            dns,
            mru,
        })
    }
}

impl Lab {
    /// The daemon command line for `opts` (`<exe> run --netns <bras> ...`).
    pub fn bras_command(&self, exe: &Path, opts: &BrasOptions) -> Command {
        let mut c = Command::new(exe);
        c.args(["run", "--netns", self.ns_bras(), "-I", self.access_if()])
            .args(["-U", self.uplink_if(), "-L"])
            .arg(LOCAL_IP.to_string());
        for s in &opts.secrets {
            c.arg("--secrets").arg(s);
        }
        for p in &opts.pool {
            c.args(["--pool", p]);
        }
        for d in &opts.dns {
            c.arg("--dns").arg(d.to_string());
        }
        c.args(["--auth", &opts.auth])
            .args(["--lcp-echo-interval", &opts.lcp_echo_interval.to_string()])
            .args(["--lcp-echo-failure", &opts.lcp_echo_failure.to_string()])
            .arg("--pin-dir")
            .arg(&opts.pin_dir);
        if let Some(m) = &opts.xdp_mode {
            c.args(["--xdp-mode", m]);
        }
        if !opts.extra.iter().any(|a| a == "--control-socket") {
            // Each lab's daemon its own socket, so labs can run side by side.
            c.arg("--control-socket").arg(self.control_socket());
        }
        c.args(&opts.extra);
        if std::env::var_os("RUST_LOG").is_none() {
            c.env("RUST_LOG", "info");
        }
        c
    }

    /// The control socket of this lab's daemon (`pppoe-bras sessions
    /// --control-socket …`), unless the test passed its own.
    pub fn control_socket(&self) -> PathBuf {
        self.tmp_dir().join("control.sock")
    }

    /// Start the daemon and wait for its `ready access=<if> ...` log line.
    pub fn start_bras(&self, exe: &Path, opts: &BrasOptions) -> anyhow::Result<LabProcess> {
        let mut p = LabProcess::spawn("bras", self.bras_command(exe, opts))?;
        let want = format!("access={}", self.access_if());
        let ready = |l: &str| l.contains("ready ") && l.contains(&want);
        if p.wait_stderr(ready, opts.ready_timeout)?.is_some() {
            return Ok(p);
        }
        match p.wait_timeout(Duration::from_millis(200))? {
            Some(status) => bail!(
                "daemon exited ({status}) before `ready`; its last output:\n{}",
                p.tail(20)
            ),
            None => bail!(
                "daemon not ready within {:?}; its last output:\n{}",
                opts.ready_timeout,
                p.tail(20)
            ),
        }
    }

    /// The emulator command line for `opts` (`<exe> emulate --netns <cpe> -I <cpe_if> ...`).
    pub fn emulator_command(&self, exe: &Path, opts: &EmuOptions) -> Command {
        let mut c = Command::new(exe);
        c.args(["emulate", "--netns", self.ns_cpe(), "-I", self.cpe_if()])
            .args(["--user", &opts.user, "--password", &opts.password]);
        if let Some(a) = &opts.auth {
            c.args(["--auth", a]);
        }
        if let Some(n) = opts.sessions {
            c.args(["--sessions", &n.to_string()]);
        }
        if let Some(t) = &opts.tun {
            // The cpe namespace is the CPE: its WAN is its default route.
            c.args(["--tun", t, "--default-route"]);
        }
        if let Some(m) = opts.mru {
            c.args(["--mru", &m.to_string()]);
        }
        if opts.no_ipv4 {
            c.arg("--no-ipv4");
        }
        if opts.no_dns {
            c.arg("--no-dns");
        }
        if let Some(t) = opts.timeout_secs {
            c.args(["--timeout", &t.to_string()]);
        }
        if let Some(i) = opts.lcp_echo_interval {
            c.args(["--lcp-echo-interval", &i.to_string()]);
        }
        c.args(&opts.extra);
        if std::env::var_os("RUST_LOG").is_none() {
            c.env("RUST_LOG", "info");
        }
        c
    }

    /// Start the emulator (does not wait; see [`LabProcess::wait_up`]).
    pub fn start_emulator(&self, exe: &Path, opts: &EmuOptions) -> anyhow::Result<LabProcess> {
        LabProcess::spawn("emu", self.emulator_command(exe, opts))
    }
}
