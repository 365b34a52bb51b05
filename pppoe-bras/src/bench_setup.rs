//! `pppoe-bras bench-dataplane-setup` (hidden): load the data plane and
//! install canned session rows without running PPP, for `cargo xtask bench
//! dataplane`. The protocol with the bench is line-based on stdout:
//! `session <ipv4> block <start> <count>` per row, then `ready`; on stdin EOF
//! or SIGTERM/SIGINT it prints `stat <name> <value>` for non-zero counters,
//! removes everything and exits 0.

use std::{io::Write as _, net::Ipv4Addr, path::PathBuf};

use anyhow::{anyhow, Context as _};

use crate::dataplane::{Dataplane, DataplaneConfig, SessionRow, XdpMode};

/// Flags of the hidden subcommand.
#[derive(Debug, clap::Args)]
pub struct BenchSetupArgs {
    #[arg(long)]
    pub access_if: String,
    #[arg(long)]
    pub uplink_if: String,
    #[arg(long)]
    pub public_ip: Ipv4Addr,
    #[arg(long)]
    pub pin_dir: PathBuf,
    #[arg(long, default_value = "native")]
    pub xdp_mode: XdpMode,
    #[arg(long, default_value_t = 512)]
    pub port_block_size: u16,
    #[arg(long, default_value_t = 1024)]
    pub first_port: u16,
    /// One session per line: `client_mac bras_mac session_id ipv4 mtu`.
    #[arg(long)]
    pub sessions: PathBuf,
    /// Spread sessions over CPUs: `off`, `all` (the online CPUs) or a
    /// comma-separated CPU list.
    #[arg(long, default_value = "off")]
    pub spread: String,
    /// Also give session i the IPv6 /64 2001:db8:(0x1000 + i / 65536):(i % 65536)::/64
    /// (the bench's IPv6 rows).
    #[arg(long)]
    pub ipv6: bool,
}

/// The CPUs of a `--spread` value.
fn spread_cpus(s: &str) -> anyhow::Result<Vec<u32>> {
    match s {
        "off" | "" => Ok(Vec::new()),
        "all" => crate::dataplane::online_cpus(),
        list => list
            .split(',')
            .map(|c| c.trim().parse().with_context(|| format!("bad CPU {c:?}")))
            .collect(),
    }
}

fn parse_mac(s: &str) -> anyhow::Result<[u8; 6]> {
    crate::wire::eth::parse_mac(s).ok_or_else(|| anyhow!("bad MAC {s:?}"))
}

fn parse_row(line: &str) -> anyhow::Result<SessionRow> {
    let w: Vec<&str> = line.split_whitespace().collect();
    let [cm, bm, sid, ip, mtu] = w.as_slice() else {
        return Err(anyhow!("bad sessions line {line:?}"));
    };
    Ok(SessionRow {
        client_mac: parse_mac(cm)?,
        bras_mac: parse_mac(bm)?,
        session_id: sid.parse().context("session id")?,
        address: ip.parse().context("address")?,
        mtu: mtu.parse().context("mtu")?,
        ..SessionRow::default()
    })
}

/// Run the subcommand.
pub fn main(args: BenchSetupArgs) -> anyhow::Result<()> {
    let mut cfg = DataplaneConfig::new(&args.access_if, &args.uplink_if);
    cfg.pin_dir = args.pin_dir;
    cfg.public_ips = vec![args.public_ip];
    cfg.port_block_size = args.port_block_size;
    cfg.first_port = args.first_port;
    cfg.xdp_mode = args.xdp_mode;
    let text = std::fs::read_to_string(&args.sessions).context("sessions file")?;
    let rows = text
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(parse_row)
        .collect::<anyhow::Result<Vec<_>>>()?;
    let spread = spread_cpus(&args.spread)?;
    let mut dp = Dataplane::start(&cfg)?;
    dp.set_spread(&spread)?;
    let mut out = std::io::stdout().lock();
    for (i, row) in rows.iter().enumerate() {
        dp.install(row)?;
        if args.ipv6 {
            let i = i as u32;
            let net = std::net::Ipv6Addr::new(
                0x2001,
                0xdb8,
                0x1000 + (i >> 16) as u16,
                i as u16,
                0,
                0,
                0,
                0,
            );
            dp.install6(row.address, Some(net), None)?;
        }
        let (start, count) = dp.port_block(row).unwrap_or((0, 0));
        writeln!(out, "session {} block {start} {count}", row.address)?;
    }
    writeln!(out, "ready")?;
    out.flush()?;
    drop(out);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut int = signal(SignalKind::interrupt())?;
        let stdin_eof = tokio::task::spawn_blocking(|| {
            let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        });
        tokio::select! {
            _ = stdin_eof => {}
            _ = term.recv() => {}
            _ = int.recv() => {}
        }
        anyhow::Ok(())
    })?;
    // The stdin reader may still block (a signal ended the wait): don't join it.
    rt.shutdown_background();
    for (name, v) in dp.stats() {
        if v != 0 {
            println!("stat {name} {v}");
        }
    }
    dp.shutdown()
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_session_lines() {
        let row = parse_row("02:00:00:00:00:01 02:b5:00:00:00:01 7 198.18.0.1 1492").unwrap();
        assert_eq!(row.client_mac, [2, 0, 0, 0, 0, 1]);
        assert_eq!(row.session_id, 7);
        assert_eq!(row.address, Ipv4Addr::new(198, 18, 0, 1));
        assert_eq!(row.mtu, 1492);
        assert!(parse_row("02:00:00:00:00:01 7 198.18.0.1").is_err());
        assert!(parse_row("zz:00:00:00:00:01 02:b5:00:00:00:01 7 198.18.0.1 1492").is_err());
        assert_eq!(spread_cpus("off").unwrap(), Vec::<u32>::new());
        assert_eq!(spread_cpus("0, 1").unwrap(), vec![0, 1]);
        assert!(spread_cpus("x").is_err());
    }
}
