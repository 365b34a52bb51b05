//! `pppoe-bras lab` (lab::run_demo): against the real binary it must pass
//! every step; against a stub that only prints the CLI's lines, its control
//! flow must report the failures, not hang, and still tear everything down.
mod common;

use std::{os::unix::fs::PermissionsExt, path::PathBuf};

use common::*;
use pppoe_bras::lab::{self, DemoOptions};

fn demo_opts(tag: &str) -> DemoOptions {
    DemoOptions {
        // Named like a lab's pin dir, so cleanup_stale removes it if we die.
        pin_dir: PathBuf::from(format!("/sys/fs/bpf/{PREFIX}-{}-{tag}", std::process::id())),
        ..DemoOptions::default()
    }
}

/// The demo tests run one at a time (each checks that no demo namespace is left).
static DEMO: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn demo_namespaces_left() -> Vec<String> {
    let mine = format!("pbl-{}-", std::process::id());
    lab::list_netns()
        .into_iter()
        .filter(|n| n.starts_with(&mine))
        .collect()
}

#[test]
fn demo_passes_every_step_with_the_real_daemon() {
    if !root_or_skip("demo") {
        return;
    }
    let _one = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let opts = demo_opts("demo");
    let r = lab::run_demo_with(bin(), &opts);
    assert!(
        demo_namespaces_left().is_empty(),
        "{:?}",
        demo_namespaces_left()
    );
    assert!(!opts.pin_dir.exists());
    r.expect("every demo step passes");
}

/// A stand-in for the binary: `run` logs `ready` and waits for SIGTERM;
/// `emulate` prints an UP line and, on SIGTERM, a DOWN line.
const STUB: &str = r#"#!/bin/bash
sub=$1; shift
acc=?; upl=?
while [ $# -gt 0 ]; do
  case "$1" in -I) acc=$2; shift;; -U) upl=$2; shift;; esac
  shift
done
case "$sub" in
run)
  trap 'echo "INFO stopping" >&2; exit 0' TERM
  echo "INFO ready access=$acc uplink=$upl xdp=stub" >&2
  while :; do sleep 0.1; done;;
emulate)
  trap 'echo "DOWN session=0x0001 reason=admin"; exit 0' TERM
  echo "UP session=0x0001 address=172.16.0.101 peer=172.16.0.254 dns=192.0.2.53,192.0.2.54 mru=1492"
  while :; do sleep 0.1; done;;
esac
exit 2
"#;

#[test]
fn demo_reports_failed_steps_and_still_tears_down_with_a_stub_daemon() {
    if !root_or_skip("demo_stub") {
        return;
    }
    let _one = DEMO.lock().unwrap_or_else(|e| e.into_inner());
    let dir = std::env::temp_dir().join(format!("{PREFIX}-{}-stub", std::process::id()));
    std::fs::create_dir_all(&dir).expect("tmp dir");
    let stub = dir.join("pppoe-bras-stub");
    std::fs::write(&stub, STUB).expect("write stub");
    std::fs::set_permissions(&stub, std::fs::Permissions::from_mode(0o755)).expect("chmod");

    let started = std::time::Instant::now();
    let r = lab::run_demo_with(&stub, &demo_opts("stub"));
    let err = r.expect_err("the stub forwards nothing, so steps fail");
    assert!(err.to_string().contains("failed"), "{err:#}");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "the demo must not hang on a broken daemon"
    );
    assert!(
        demo_namespaces_left().is_empty(),
        "{:?}",
        demo_namespaces_left()
    );
    let _ = std::fs::remove_dir_all(&dir);
}
