//! `cargo xtask …`: project automation.

mod bench;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(about = "pppoe-bras project tasks")]
struct Cli {
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Benchmarks (run as root): `bench dataplane`.
    Bench(bench::BenchArgs),
}

fn main() -> anyhow::Result<()> {
    match Cli::parse().cmd {
        Cmd::Bench(args) => bench::main(args),
    }
}
