//! `cargo xtask bench`: the data-path benchmark (`dataplane/`) and the
//! control-plane benchmark (`sessions/`).

mod dataplane;
mod report;
mod sessions;
mod topology;

use anyhow::Result;

use dataplane::{dataplane, DataplaneArgs};

/// `cargo xtask bench …`
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    #[command(subcommand)]
    what: BenchWhat,
}

#[derive(clap::Subcommand, Debug)]
enum BenchWhat {
    /// Data-path packets per second: pppoe-bras vs kernel forwarding +
    /// MASQUERADE vs bare XDP_REDIRECT, plus ns/packet (needs root).
    Dataplane(DataplaneArgs),
    /// Control plane: sessions/s, time to N sessions, memory per session,
    /// teardown, with the emulator against the daemon (needs root).
    Sessions(sessions::SessionsArgs),
}

/// Entry point of `cargo xtask bench`.
pub fn main(args: BenchArgs) -> Result<()> {
    match args.what {
        BenchWhat::Dataplane(a) => dataplane(a),
        BenchWhat::Sessions(a) => sessions::main(a),
    }
}
