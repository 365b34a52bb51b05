//! The children of a run (the daemon, the emulator, FreeRADIUS) and what
//! the bench reads of them: the daemon's control socket and log.

use std::{
    os::unix::process::CommandExt as _,
    path::Path,
    process::{Child, Command, Stdio},
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::check_stop;

/// A child in its own process group (Ctrl-C reaches only us), killed with
/// us (`PR_SET_PDEATHSIG`), stopped on drop: SIGTERM, a second SIGTERM
/// after `hurry` (the emulator then hangs up everyone at once), SIGKILL
/// after `grace`.
pub(super) struct Proc {
    name: &'static str,
    pub(super) child: Child,
    hurry: Duration,
    grace: Duration,
}

impl Proc {
    pub(super) fn spawn(name: &'static str, mut cmd: Command, hurry: Duration) -> Result<Self> {
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

    pub(super) fn pid(&self) -> u32 {
        self.child.id()
    }

    pub(super) fn signal(&self, sig: libc::c_int) {
        if let Ok(pid) = libc::pid_t::try_from(self.child.id()) {
            // SAFETY: kill has no memory-safety preconditions.
            unsafe { libc::kill(pid, sig) };
        }
    }

    pub(super) fn exited(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(Some(_)))
    }

    /// Wait up to `d` for the child to exit.
    pub(super) fn wait_exit(&mut self, d: Duration) -> bool {
        let end = Instant::now() + d;
        while Instant::now() < end {
            if self.exited() {
                return true;
            }
            thread::sleep(Duration::from_millis(20));
        }
        self.exited()
    }

    /// VmRSS in KiB, from `/proc/<pid>/status`.
    pub(super) fn rss_kib(&self) -> Option<u64> {
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
pub(super) fn control(bin: &Path, sock: &Path, cmd: &str) -> Result<String> {
    let (bin, sock) = (bin.to_string_lossy(), sock.to_string_lossy());
    crate::util::run(&bin, &[cmd, "--control-socket", &sock])
}

/// The daemon's counters (`stats`): `(name, value)`, `sessions` first.
pub(super) fn stats(bin: &Path, sock: &Path) -> Result<Vec<(String, u64)>> {
    Ok(control(bin, sock, "stats")?
        .lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect())
}

pub(super) fn live_sessions(bin: &Path, sock: &Path) -> Result<u64> {
    stats(bin, sock)?
        .into_iter()
        .find(|(k, _)| k == "sessions")
        .map(|(_, v)| v)
        .ok_or_else(|| anyhow!("no `sessions` line in pppoe-bras stats"))
}

/// Wait until the daemon's log file has a line with `needle`.
pub(super) fn wait_log(
    path: &Path,
    needle: &str,
    proc: &mut Proc,
    timeout: Duration,
) -> Result<()> {
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
