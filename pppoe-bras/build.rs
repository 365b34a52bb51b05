//! Builds the XDP object (`pppoe-bras-ebpf`) with aya-build and embeds it.
//!
//! Needs the nightly toolchain's rust-src and bpf-linker; when either is missing
//! the build stops with the exact command that installs it (`cargo xtask setup`
//! runs them all). `AYA_BUILD_SKIP=1` skips the eBPF build (the daemon then
//! refuses to start, but protocol unit tests still run).
use std::process::Command;

use anyhow::{anyhow, Context as _};

fn main() -> anyhow::Result<()> {
    println!("cargo:rerun-if-env-changed=AYA_BUILD_SKIP");
    let skip = std::env::var("AYA_BUILD_SKIP").is_ok_and(|v| v == "1" || v == "true");
    if skip {
        println!("cargo:rustc-cfg=ebpf_skipped");
    } else {
        preflight()?;
    }
    println!("cargo:rustc-check-cfg=cfg(ebpf_skipped)");

    let meta = cargo_metadata::MetadataCommand::new()
        .no_deps()
        .exec()
        .context("cargo metadata")?;
    let pkg = meta
        .packages
        .iter()
        .find(|p| p.name.as_str() == "pppoe-bras-ebpf")
        .ok_or_else(|| anyhow!("pppoe-bras-ebpf not in the workspace"))?;
    let root_dir = pkg
        .manifest_path
        .parent()
        .ok_or_else(|| anyhow!("no parent for {}", pkg.manifest_path))?;
    aya_build::build_ebpf(
        [aya_build::Package {
            name: pkg.name.as_str(),
            root_dir: root_dir.as_str(),
            ..Default::default()
        }],
        aya_build::Toolchain::default(),
    )
}

/// Fail early, and say how to fix it, when the eBPF toolchain is incomplete.
fn preflight() -> anyhow::Result<()> {
    let sysroot = Command::new("rustup")
        .args(["run", "nightly", "rustc", "--print", "sysroot"])
        .output();
    let sysroot = match sysroot {
        Ok(o) if o.status.success() => String::from_utf8_lossy(&o.stdout).trim().to_owned(),
        _ => {
            return Err(anyhow!(
                "the eBPF build needs the nightly toolchain: run `rustup toolchain install nightly \
                 --component rust-src` (or `cargo xtask setup`)"
            ))
        }
    };
    let src = std::path::Path::new(&sysroot).join("lib/rustlib/src/rust/library/core");
    if !src.exists() {
        return Err(anyhow!(
            "the eBPF build needs rust-src for nightly: run `rustup component add rust-src \
             --toolchain nightly` (or `cargo xtask setup`)"
        ));
    }
    let linker_found = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("bpf-linker").is_file()))
        .unwrap_or(false);
    if !linker_found {
        return Err(anyhow!(
            "the eBPF build needs bpf-linker: run `cargo install bpf-linker@0.10.2 --locked` \
             (or `cargo xtask setup`)"
        ));
    }
    Ok(())
}
