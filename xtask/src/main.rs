//! `cargo xtask`: the jobs cargo alone can't express.
//!
//! - `cargo xtask setup` — install what is missing (Debian packages when root,
//!   nightly rust-src, bpf-linker); quick and idempotent.
//! - `cargo xtask lab [-- ARGS]` — build, then run `pppoe-bras lab ARGS` as root:
//!   the netns demo.
//! - `cargo xtask run [-- ARGS]` — build, then run `pppoe-bras run ARGS` as root
//!   (real NICs).
//! - `cargo xtask test [-- ARGS]` — the whole suite as root: unit tests and the
//!   netns integration tests (`ARGS` go to the test binaries).
//!
//! - `cargo xtask bench dataplane` — the data-path benchmark table (root).
//! - `cargo xtask bench sessions` — the control-plane benchmark table (root).
//!
//! The eBPF object is built by `pppoe-bras/build.rs` (aya-build), not here.

mod bench;
mod util;

use std::{
    env,
    ffi::OsString,
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{bail, Context as _};
use clap::{Parser, Subcommand};
use util::{bras_binary, build_bras, cargo, is_root, status, workspace_root};

/// The bpf-linker release the eBPF build is known to work with.
const BPF_LINKER: &str = "bpf-linker@0.10.2";

/// Debian packages the lab and the tests use, each with a file that shows it
/// is installed (checked instead of dpkg, so other distributions work too).
const APT_TOOLS: &[(&str, &str)] = &[
    ("iproute2", "ip"),
    ("iputils-ping", "ping"),
    ("procps", "sysctl"),
    ("bpftool", "bpftool"),
    ("tcpdump", "tcpdump"),
    ("tshark", "tshark"),
    ("iptables", "iptables"),
    ("netsniff-ng", "trafgen"),
    ("xdp-tools", "xdp-loader"),
    ("ethtool", "ethtool"),
    (
        "python3-scapy",
        "/usr/lib/python3/dist-packages/scapy/__init__.py",
    ),
];

#[derive(Parser)]
#[command(about = "pppoe-bras development tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Install what is missing: Debian packages (as root), nightly rust-src, bpf-linker.
    Setup {
        /// Only report what is missing; install nothing.
        #[arg(long)]
        check: bool,
    },
    /// Build and run the netns demo (`pppoe-bras lab`) as root.
    Lab {
        /// Arguments for `pppoe-bras lab` (after `--`).
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Build and run the daemon (`pppoe-bras run`) as root, e.g. on real NICs.
    Run {
        /// Release build.
        #[arg(long)]
        release: bool,
        /// Arguments for `pppoe-bras run` (after `--`).
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Run the whole test suite (unit + netns integration tests); needs root.
    Test {
        /// Arguments for the test binaries (after `--`), e.g. a name filter.
        #[arg(last = true)]
        args: Vec<OsString>,
    },
    /// Benchmarks (run as root): `bench dataplane`.
    Bench(bench::BenchArgs),
}

fn main() -> ExitCode {
    match run(Cli::parse()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.cmd {
        Cmd::Setup { check } => setup(if check { Mode::Check } else { Mode::Install }),
        Cmd::Lab { args } => {
            setup(Mode::InstallIfRoot)?;
            build_bras(false)?;
            run_as_root(&bras_binary(false), "lab", &args)
        }
        Cmd::Run { release, args } => {
            setup(Mode::InstallIfRoot)?;
            build_bras(release)?;
            run_as_root(&bras_binary(release), "run", &args)
        }
        Cmd::Test { args } => test(&args),
        Cmd::Bench(args) => bench::main(args),
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// Report only; fail when something is missing.
    Check,
    /// Install everything missing; fail when that is impossible.
    Install,
    /// Install the Rust parts; the Debian packages only when root (warn otherwise).
    InstallIfRoot,
}

/// Find `tool` on PATH, in the sbin directories (not on a normal user's
/// PATH) and in ~/.cargo/bin; an absolute path is checked as is.
fn find_tool(tool: &str) -> Option<PathBuf> {
    if tool.starts_with('/') {
        return Path::new(tool).exists().then(|| PathBuf::from(tool));
    }
    let mut dirs: Vec<PathBuf> = env::var_os("PATH")
        .map(|p| env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/local/sbin"].map(PathBuf::from));
    if let Some(home) = env::var_os("CARGO_HOME")
        .or_else(|| env::var_os("HOME").map(|h| Path::new(&h).join(".cargo").into_os_string()))
    {
        dirs.push(Path::new(&home).join("bin"));
    }
    dirs.into_iter().map(|d| d.join(tool)).find(|p| p.is_file())
}

fn setup(mode: Mode) -> anyhow::Result<()> {
    let mut missing_report: Vec<String> = Vec::new();

    // Debian packages.
    let missing: Vec<&str> = APT_TOOLS
        .iter()
        .filter(|(_, file)| find_tool(file).is_none())
        .map(|(pkg, _)| *pkg)
        .collect();
    if !missing.is_empty() {
        let cmd = format!(
            "apt-get update && apt-get install -y --no-install-recommends {}",
            missing.join(" ")
        );
        let can_install = is_root() && find_tool("apt-get").is_some();
        match mode {
            Mode::Install | Mode::InstallIfRoot if can_install => {
                status(Command::new("apt-get").args(["update", "-q"]))?;
                status(
                    Command::new("apt-get")
                        .args(["install", "-y", "-q", "--no-install-recommends"])
                        .args(&missing)
                        .env("DEBIAN_FRONTEND", "noninteractive"),
                )?;
            }
            Mode::InstallIfRoot => {
                eprintln!(
                    "xtask: warning: missing packages {} (install as root: `sudo sh -c '{cmd}'`)",
                    missing.join(" ")
                );
            }
            _ => missing_report.push(format!(
                "packages {}: `sudo sh -c '{cmd}'`",
                missing.join(" ")
            )),
        }
    }

    // Nightly with rust-src, for the eBPF build.
    let sysroot = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--print", "sysroot"])
        .output();
    let nightly = matches!(&sysroot, Ok(o) if o.status.success());
    let has_src = match &sysroot {
        Ok(o) if o.status.success() => {
            let root = String::from_utf8_lossy(&o.stdout).trim().to_owned();
            Path::new(&root)
                .join("lib/rustlib/src/rust/library/core")
                .exists()
        }
        _ => false,
    };
    if !nightly || !has_src {
        let args: &[&str] = if nightly {
            &["component", "add", "rust-src", "--toolchain", "nightly"]
        } else {
            &[
                "toolchain",
                "install",
                "nightly",
                "--profile",
                "minimal",
                "--component",
                "rust-src",
            ]
        };
        if mode == Mode::Check {
            missing_report.push(format!("nightly rust-src: `rustup {}`", args.join(" ")));
        } else {
            status(Command::new("rustup").args(args))?;
        }
    }

    // bpf-linker.
    if find_tool("bpf-linker").is_none() {
        if mode == Mode::Check {
            missing_report.push(format!("bpf-linker: `cargo install {BPF_LINKER} --locked`"));
        } else {
            status(Command::new(cargo()).args(["install", BPF_LINKER, "--locked"]))?;
        }
    }

    if !missing_report.is_empty() {
        bail!("missing:\n  {}", missing_report.join("\n  "));
    }
    if mode != Mode::InstallIfRoot {
        eprintln!("xtask: setup complete: packages, nightly rust-src and bpf-linker present");
    }
    Ok(())
}

/// Run `<bin> <sub> <args>` as root: directly when root, else through `sudo -E`.
fn run_as_root(bin: &Path, sub: &str, args: &[OsString]) -> anyhow::Result<()> {
    let mut c = if is_root() {
        Command::new(bin)
    } else {
        if find_tool("sudo").is_none() {
            bail!(
                "{} {sub} needs root and sudo is not installed: run it as root",
                bin.display()
            );
        }
        let mut c = Command::new("sudo");
        c.arg("-E").arg(bin);
        c
    };
    c.arg(sub).args(args);
    status(&mut c)
}

fn test(args: &[OsString]) -> anyhow::Result<()> {
    if !is_root() {
        bail!(
            "the netns integration tests need root: run `sudo -E env \"PATH=$PATH\" cargo xtask test`"
        );
    }
    setup(Mode::Install)?;
    ensure_bpffs()?;
    // One test at a time: each netns test builds its own lab (unique names,
    // so they could run in parallel), but daemon + emulator per test on a
    // 2-core machine make timing-sensitive tests flaky when run together.
    let mut c = Command::new(cargo());
    c.current_dir(workspace_root())
        // The eBPF crate builds only for the BPF target (build.rs builds it).
        .args([
            "test",
            "--workspace",
            "--exclude",
            "pppoe-bras-ebpf",
            "--no-fail-fast",
        ])
        .args(["--", "--test-threads=1"])
        .args(args)
        .env("PPPOE_BRAS_NETNS_TESTS", "1");
    status(&mut c)
}

fn ensure_bpffs() -> anyhow::Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("read /proc/mounts")?;
    let mounted = mounts.lines().any(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        f.get(1) == Some(&"/sys/fs/bpf") && f.get(2) == Some(&"bpf")
    });
    if !mounted {
        status(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))?;
    }
    Ok(())
}
