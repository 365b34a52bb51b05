//! What the xtask jobs share: the workspace and its build, commands and
//! network namespaces, Ctrl-C handling, the machine, result files.

use std::{
    env,
    ffi::OsString,
    io::{BufRead, BufReader, Read},
    path::{Path, PathBuf},
    process::{Command, Stdio},
    sync::{
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _, Result};

// ---------------------------------------------------------------------------
// The workspace and its build

/// The workspace root (the parent of `xtask/`).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The cargo that runs us (`$CARGO`), else `cargo` from PATH.
pub fn cargo() -> OsString {
    env::var_os("CARGO").unwrap_or_else(|| "cargo".into())
}

/// Is the effective user root?
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// `cargo build -p pppoe-bras [--release]` in the workspace.
pub fn build_bras(release: bool) -> Result<()> {
    let mut c = Command::new(cargo());
    c.current_dir(workspace_root())
        .args(["build", "-p", "pppoe-bras"]);
    if release {
        c.arg("--release");
    }
    status(&mut c)
}

/// Where [`build_bras`] puts the `pppoe-bras` binary (`$CARGO_TARGET_DIR`
/// or `target/`, then `debug/` or `release/`).
pub fn bras_binary(release: bool) -> PathBuf {
    let target = env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| workspace_root().join("target"));
    target
        .join(if release { "release" } else { "debug" })
        .join("pppoe-bras")
}

// ---------------------------------------------------------------------------
// Commands

/// Run `cmd`, inheriting stdio, after echoing it; fail unless it succeeds.
pub fn status(cmd: &mut Command) -> Result<()> {
    eprintln!("xtask: $ {}", show(cmd));
    let st = cmd
        .status()
        .with_context(|| format!("spawn {}", show(cmd)))?;
    if !st.success() {
        bail!("`{}` failed ({st})", show(cmd));
    }
    Ok(())
}

/// `cmd` as a shell-like line, for messages.
pub fn show(cmd: &Command) -> String {
    let mut s = cmd.get_program().to_string_lossy().into_owned();
    for a in cmd.get_args() {
        s.push(' ');
        s.push_str(&a.to_string_lossy());
    }
    s
}

/// Run `cmd args` and return its stdout; fail with its stderr unless it
/// succeeds.
pub fn run(cmd: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(cmd)
        .args(args)
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("running {cmd}"))?;
    if !out.status.success() {
        bail!(
            "`{cmd} {}` failed ({}): {}",
            args.join(" "),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// `ip args`.
pub fn ip(args: &[&str]) -> Result<String> {
    run("ip", args)
}

/// Run `cmd` inside network namespace `ns`.
pub fn ns_exec(ns: &str, cmd: &[&str]) -> Result<String> {
    let mut a = vec!["netns", "exec", ns];
    a.extend_from_slice(cmd);
    ip(&a)
}

/// Delete network namespace `ns`, best effort (for `Drop`): its veths go
/// with it.
pub fn del_netns(ns: &str) {
    let _ = Command::new("ip")
        .args(["netns", "del", ns])
        .stderr(Stdio::null())
        .status();
}

/// The lines of `out` (a child's stdout), read on a thread.
pub fn line_reader(out: impl Read + Send + 'static) -> mpsc::Receiver<String> {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        for line in BufReader::new(out).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

// ---------------------------------------------------------------------------
// Interruption

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// On SIGINT and SIGTERM only note the request (see [`check_stop`]), so that
/// the benches get to clean up after themselves.
pub fn install_signal_handlers() {
    let handler = on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t;
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGINT, handler);
        libc::signal(libc::SIGTERM, handler);
    }
}

/// Has SIGINT or SIGTERM arrived?
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// `Err("interrupted")` once SIGINT or SIGTERM arrived.
pub fn check_stop() -> Result<()> {
    if stop_requested() {
        bail!("interrupted");
    }
    Ok(())
}

/// Sleep in small steps so Ctrl-C is noticed quickly.
pub fn sleep_checked(d: Duration) -> Result<()> {
    let end = Instant::now() + d;
    loop {
        check_stop()?;
        let now = Instant::now();
        if now >= end {
            return Ok(());
        }
        thread::sleep((end - now).min(Duration::from_millis(50)));
    }
}

// ---------------------------------------------------------------------------
// The machine

/// Online CPUs (0 when unknown).
pub fn cpus() -> usize {
    thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(0)
}

/// The kernel release (`uname -r`), `?` when unknown.
pub fn kernel_release() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

// ---------------------------------------------------------------------------
// Result files

/// Write `value` as pretty JSON (and a final newline) to `path`, creating
/// its directory.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    }
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    std::fs::write(path, text).with_context(|| format!("write {}", path.display()))
}

/// `x` rounded to `decimals` places, `None` unless finite: the precision
/// the result files have always had.
pub fn rounded(x: Option<f64>, decimals: i32) -> Option<f64> {
    let scale = 10f64.powi(decimals);
    x.filter(|x| x.is_finite())
        .map(|x| (x * scale).round() / scale)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rounding_keeps_the_old_precision_and_drops_non_finite() {
        assert_eq!(rounded(Some(2.019_849), 4), Some(2.0198));
        assert_eq!(rounded(Some(11_111.111), 1), Some(11_111.1));
        assert_eq!(rounded(Some(f64::NAN), 1), None);
        assert_eq!(rounded(Some(f64::INFINITY), 4), None);
        assert_eq!(rounded(None, 4), None);
    }

    #[test]
    fn commands_show_as_lines() {
        let mut c = Command::new("ip");
        c.args(["netns", "add", "x"]);
        assert_eq!(show(&c), "ip netns add x");
    }

    #[test]
    fn run_reports_failures() {
        assert_eq!(run("sh", &["-c", "echo hi"]).unwrap(), "hi\n");
        let e = run("sh", &["-c", "echo oops >&2; exit 3"]).unwrap_err();
        assert!(format!("{e:#}").contains("oops"), "{e:#}");
    }
}
