//! Shared by the `netns_*` integration tests: root check, the binary, a lab
//! per test, daemon/emulator start-up with the classic settings, map checks.
//!
//! Every test builds its own [`Lab`] (unique namespaces, interfaces and pin
//! dir), so tests may run in parallel; `cargo xtask test` still runs them
//! with `--test-threads=1` to keep the 2-core machines unhurried.
#![allow(dead_code)] // each test binary uses a different subset

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::Once,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
pub use pppoe_bras::lab::{self, BrasOptions, EmuOptions, Lab, LabProcess, UpLine};

/// Prefix of the test labs' namespaces (`pbt-<pid>-<n>-cpe`, …).
pub const PREFIX: &str = "pbt";

/// Name of the session map under the pin dir.
pub const SESSIONS_MAP: &str = pppoe_bras_common::maps::names::SESSIONS;

/// How long to wait for a session to come up.
pub const UP_TIMEOUT: Duration = Duration::from_secs(30);

/// True when the test may run; prints why it is skipped otherwise.
///
/// Skipping is only for a plain `cargo test` as a normal user: under
/// `cargo xtask test` (which sets `PPPOE_BRAS_NETNS_TESTS=1`) not being root
/// is a failure.
pub fn root_or_skip(test: &str) -> bool {
    if lab::is_root() {
        return true;
    }
    if std::env::var_os("PPPOE_BRAS_NETNS_TESTS").is_some() {
        panic!("{test}: netns tests need root; run `sudo -E cargo xtask test`");
    }
    eprintln!("skipping {test}: needs root (run `cargo xtask test` as root)");
    false
}

/// The daemon binary cargo built for this test run.
pub fn bin() -> &'static Path {
    Path::new(env!("CARGO_BIN_EXE_pppoe-bras"))
}

static STALE: Once = Once::new();

/// A fresh lab for one test (removes leftovers of killed runs first).
pub fn new_lab() -> Lab {
    STALE.call_once(|| {
        if let Err(e) = Lab::cleanup_stale(PREFIX) {
            eprintln!("cleanup_stale: {e:#}");
        }
    });
    Lab::new(PREFIX).expect("build the netns lab")
}

/// Classic daemon options in this lab, with `extra_secrets` appended to the
/// classic secrets file and the lab's own pin dir.
pub fn classic(lab: &Lab, extra_secrets: &str) -> BrasOptions {
    let secrets = lab.write_secrets(extra_secrets).expect("write secrets");
    BrasOptions::classic(lab.pin_dir(), &secrets)
}

/// Start the daemon and wait until it logs `ready`.
pub fn start_bras(lab: &Lab, opts: &BrasOptions) -> LabProcess {
    lab.start_bras(bin(), opts).expect("daemon ready")
}

/// Start the emulator for `opts` (with `--timeout` defaulting to 20 s).
pub fn start_emu(lab: &Lab, opts: &EmuOptions) -> LabProcess {
    let mut opts = opts.clone();
    opts.timeout_secs.get_or_insert(20);
    lab.start_emulator(bin(), &opts).expect("start emulator")
}

/// Start the emulator and wait for `UP`.
pub fn bring_up(lab: &Lab, opts: &EmuOptions) -> (LabProcess, UpLine) {
    let emu = start_emu(lab, opts);
    let up = emu.wait_up(UP_TIMEOUT).expect("session up");
    (emu, up)
}

/// Rows of a pinned map, from `bpftool -j map dump pinned <pin_dir>/<name>`.
pub fn map_rows(pin_dir: &Path, name: &str) -> anyhow::Result<usize> {
    let path = pin_dir.join(name);
    let out = Command::new("bpftool")
        .args(["-j", "map", "dump", "pinned"])
        .arg(&path)
        .output()
        .context("run bpftool")?;
    if !out.status.success() {
        bail!(
            "bpftool map dump pinned {}: {}",
            path.display(),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    let v: serde_json::Value =
        serde_json::from_slice(&out.stdout).context("bpftool -j output is not JSON")?;
    v.as_array()
        .map(Vec::len)
        .ok_or_else(|| anyhow!("bpftool -j map dump did not print an array: {v}"))
}

/// Poll `f` every 100 ms until it returns true or `timeout` passes.
pub fn eventually(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A path in the lab's scratch dir.
pub fn scratch(lab: &Lab, file: &str) -> PathBuf {
    lab.tmp_dir().join(file)
}

/// Namespaces whose name starts with `id` (the lab's stem).
pub fn namespaces_of(id: &str) -> Vec<String> {
    let stem = format!("{id}-");
    lab::list_netns()
        .into_iter()
        .filter(|n| n.starts_with(&stem))
        .collect()
}

/// The daemon's `session 0x0001 <mac> up user=<u> address=<ip> mtu=<n>` line
/// for `session`, waited for up to 5 s.
pub fn session_up_log(bras: &LabProcess, session: u16) -> String {
    let sid = format!("session {session:#06x} ");
    bras.wait_stderr(
        // The IPv4 line (`… up user=… address=…`), not `… ipv6 up …`.
        |l| l.contains(&sid) && l.contains(" up user=") && !l.contains(" ipv6 up "),
        Duration::from_secs(5),
    )
    .expect("wait for log")
    .unwrap_or_else(|| panic!("no `{sid}... up` log line; log:\n{}", bras.tail(30)))
}

/// The client MAC in a `session 0x.... <mac> ...` log line.
pub fn mac_in_log(line: &str) -> String {
    let mut words = line.split_whitespace();
    words
        .by_ref()
        .find(|w| *w == "session")
        .expect("`session` in line");
    let _sid = words.next();
    let mac = words
        .next()
        .expect("MAC after the session id")
        .to_ascii_lowercase();
    assert_eq!(mac.matches(':').count(), 5, "not a MAC: {mac} in {line}");
    mac
}

/// Python with scapy: Debian's `python3-scapy` lives under /usr/bin/python3
/// (a pyenv or venv `python3` first on PATH would not see it).
pub fn python() -> &'static str {
    if Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

const INJECT_PY: &str = r#"
import sys
from scapy.all import Ether, Raw, sendp
from scapy.layers.ppp import PPPoE
from scapy.layers.inet import IP, UDP
iface, src_mac, dst_mac, sid, src_ip, dst_ip, dport, payload = sys.argv[1:9]
ip = IP(src=src_ip, dst=dst_ip, ttl=64) / UDP(sport=40000, dport=int(dport)) / Raw(payload.encode())
# The PPP protocol field spelled out: scapy's PPP layer compresses 0x0021 to
# one byte (RFC 1661 PFC), which PPPoE peers never negotiate (RFC 2516 §7).
f = (Ether(src=src_mac, dst=dst_mac, type=0x8864)
     / PPPoE(version=1, type=1, code=0, sessionid=int(sid, 0))
     / Raw(b"\x00\x21" + bytes(ip)))
sendp(f, iface=iface, count=3, inter=0.05, verbose=False)
"#;

/// A PPPoE session frame carrying IPv4/UDP from `src_ip` to the echo server,
/// injected (3 times) from the cpe namespace with scapy.
pub struct Inject<'a> {
    pub src_mac: &'a str,
    pub dst_mac: &'a str,
    pub session: u16,
    pub src_ip: std::net::Ipv4Addr,
    pub payload: &'a str,
}

pub fn inject(lab: &Lab, f: &Inject<'_>) {
    let sid = format!("{:#06x}", f.session);
    let src_ip = f.src_ip.to_string();
    let dst_ip = lab::TEST_HOST.to_string();
    let port = lab::ECHO_PORT.to_string();
    let args = [
        python(),
        "-c",
        INJECT_PY,
        lab.cpe_if(),
        f.src_mac,
        f.dst_mac,
        &sid,
        &src_ip,
        &dst_ip,
        &port,
        f.payload,
    ];
    lab.exec_ok(lab.ns_cpe(), &args).expect("scapy inject");
}

/// The emulator's `UP6 session=… ipv6=A/64 pd=P/56 …` line's (address, pd).
pub fn up6(emu: &LabProcess) -> (String, String) {
    let line = emu
        .wait_stdout(|l| l.starts_with("UP6 "), Duration::from_secs(15))
        .unwrap()
        .unwrap_or_else(|| panic!("no UP6 line:\n{}", emu.tail(20)));
    let field = |k: &str| {
        line.split_whitespace()
            .find_map(|w| w.strip_prefix(k))
            .unwrap_or_else(|| panic!("no {k} in {line}"))
            .to_owned()
    };
    (field("ipv6="), field("pd="))
}

/// `ping -6 ARGS` in namespace `ns`, tried up to `tries` times 250 ms apart
/// while IPv6 settles (SLAAC, IPv6CP after a restart): whether one run
/// succeeded, and the last run's output.
pub fn ping6(lab: &Lab, ns: &str, args: &[&str], tries: u32) -> (bool, String) {
    let mut a = vec!["ping", "-6"];
    a.extend_from_slice(args);
    let mut last = String::new();
    for _ in 0..tries {
        let out = lab.exec(ns, &a).expect("ping -6");
        last = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        if out.status.success() {
            return (true, last);
        }
        std::thread::sleep(Duration::from_millis(250));
    }
    (false, last)
}
