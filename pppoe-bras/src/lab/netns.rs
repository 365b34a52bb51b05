//! Network namespaces of the host: run code inside one (through
//! [`crate::rawsock::enter_netns`]), list them, delete one with its
//! processes; and the `ip` command the lab drives them with.

use std::{
    path::Path,
    process::Command,
    time::{Duration, Instant},
};

use anyhow::{anyhow, Context as _};

use super::process::run;

/// Run `f` on a fresh thread inside network namespace `ns` and return its result.
///
/// Only that thread changes namespace (`setns(2)` with `CLONE_NEWNET`);
/// sockets it opens belong to `ns` for their whole life.
pub fn in_netns<T, F>(ns: &str, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    let ns = ns.to_owned();
    std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            crate::rawsock::enter_netns(&ns)?;
            f()
        })
        .context("spawn netns thread")?
        .join()
        .map_err(|_| anyhow!("netns thread panicked"))?
}

pub(super) fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// Kill every process whose network namespace is `ns` (SIGTERM, then SIGKILL).
fn kill_netns_pids(ns: &str) {
    let pids = |ns: &str| -> Vec<i32> {
        ip(&["netns", "pids", ns])
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = pids(ns);
    if first.is_empty() {
        return;
    }
    for &p in &first {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if pids(ns).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in pids(ns) {
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

pub(super) fn delete_netns(ns: &str) -> anyhow::Result<()> {
    if !Path::new("/run/netns").join(ns).exists() {
        return Ok(());
    }
    kill_netns_pids(ns);
    ip(&["netns", "del", ns]).map(drop)
}

/// The names of the network namespaces under /run/netns.
pub fn list_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}
