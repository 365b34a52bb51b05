//! `pppoe-bras`: the daemon (`run`), the subscriber emulator (`emulate`),
//! the control commands (`sessions`, `stats`, `kill`), the XDP frame
//! capture (`capture`) and the netns demo lab (`lab`).

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use pppoe_bras::{capture, config, control, emulate, lab, rawsock};

#[derive(Parser)]
#[command(version, about = "PPPoE BRAS with an XDP data plane")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the BRAS (root). Flags override the config file.
    Run(RunArgs),
    /// Run PPPoE subscriber(s) against a BRAS (the lab's CPE).
    Emulate(emulate::EmulateArgs),
    /// List live sessions of a running daemon.
    Sessions(ControlArgs),
    /// Show discovery and data-plane counters of a running daemon.
    Stats(ControlArgs),
    /// Terminate a session (LCP Terminate-Request, then PADT).
    Kill {
        /// Session id, e.g. 0x0001.
        id: String,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Capture the frames the XDP programs handle, as pcapng (like tcpdump:
    /// PPPoE on the access side, NATed IPv4 on the uplink), e.g.
    /// `pppoe-bras capture --user testuser1 -w - | tshark -r -`.
    Capture(capture::CaptureArgs),
    /// Load the data plane with canned sessions (for `cargo xtask bench`).
    #[command(hide = true)]
    BenchDataplaneSetup(pppoe_bras::bench_setup::BenchSetupArgs),
    /// Build a network-namespace lab, bring up a CHAP session through the BRAS
    /// and ping/UDP/TCP a host behind its NAT, then tear everything down.
    Lab(lab::DemoOptions),
}

#[derive(Args)]
struct ControlArgs {
    /// The daemon's control socket.
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
    control_socket: PathBuf,
}

#[derive(Args)]
struct RunArgs {
    /// TOML configuration file (see config/bras.toml).
    #[arg(short = 'c', long)]
    config: Option<PathBuf>,
    /// Enter network namespace /run/netns/NAME first.
    #[arg(long, value_name = "NAME")]
    netns: Option<String>,
    /// pppd options file, as pppoe-server -O takes (require-chap/pap,
    /// lcp-echo-interval/failure, ms-dns, ms-wins, mru; the rest is ignored).
    #[arg(short = 'O', long = "pppd-options", value_name = "FILE")]
    pppd_options: Option<PathBuf>,
    /// Access interface, where the PPPoE clients are (pppoe-server -I).
    #[arg(
        short = 'I',
        long = "access-interface",
        visible_alias = "interface",
        value_name = "IF"
    )]
    access_interface: Option<String>,
    /// Uplink interface, towards the internet.
    #[arg(
        short = 'U',
        long = "uplink-interface",
        visible_alias = "uplink",
        value_name = "IF"
    )]
    uplink_interface: Option<String>,
    /// Our IPCP address (pppoe-server -L).
    #[arg(
        short = 'L',
        long = "local-address",
        visible_alias = "local-ip",
        value_name = "ADDR"
    )]
    local_address: Option<String>,
    /// AC-Name in PADO (pppoe-server -C).
    #[arg(short = 'C', long)]
    ac_name: Option<String>,
    /// Service-Name to offer (repeatable; none = accept any).
    #[arg(short = 'S', long = "service-name", value_name = "NAME")]
    service_names: Vec<String>,
    /// pppd-format secrets file (repeatable).
    #[arg(long, value_name = "FILE")]
    secrets: Vec<PathBuf>,
    /// Address pool, e.g. 172.16.0.100-172.16.0.199 or 172.16.0.0/24 (repeatable).
    #[arg(long, value_name = "RANGE")]
    pool: Vec<String>,
    /// pppoe-server's -R: first remote address of the pool (with -N).
    #[arg(short = 'R', long, value_name = "ADDR", requires = "pool_size")]
    remote_start: Option<std::net::Ipv4Addr>,
    /// pppoe-server's -N: number of pool addresses from -R.
    #[arg(short = 'N', long, value_name = "N", requires = "remote_start")]
    pool_size: Option<u32>,
    /// DNS server handed out in IPCP (repeatable, at most 2).
    #[arg(long, value_name = "ADDR")]
    dns: Vec<String>,
    /// Authentication protocols in order of preference: chap, pap.
    #[arg(long, value_delimiter = ',', value_name = "LIST")]
    auth: Vec<String>,
    /// Seconds between LCP Echo-Requests (0 disables).
    #[arg(long, value_name = "SECS")]
    lcp_echo_interval: Option<u32>,
    /// Unanswered echoes before the session is torn down.
    #[arg(long, value_name = "N")]
    lcp_echo_failure: Option<u32>,
    /// Maximum number of sessions.
    #[arg(long, value_name = "N")]
    max_sessions: Option<u32>,
    /// Routed mode: no NAT (subscribers have routable addresses).
    #[arg(long)]
    no_nat: bool,
    /// Public NAT address (default: the uplink's first IPv4 address).
    #[arg(long, value_name = "ADDR")]
    public_address: Option<String>,
    /// Where the maps are pinned.
    #[arg(long, value_name = "DIR")]
    pin_dir: Option<PathBuf>,
    /// XDP attach mode: auto, native or generic.
    #[arg(long, value_name = "MODE")]
    xdp_mode: Option<String>,
    /// Control socket for `sessions`, `stats` and `kill`.
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
    control_socket: PathBuf,
}

impl RunArgs {
    fn overrides(mut self) -> config::Overrides {
        if let (Some(start), Some(n)) = (self.remote_start, self.pool_size) {
            self.pool.push(pppoe_server_pool(start, n));
        }
        config::Overrides {
            access_interface: self.access_interface,
            uplink_interface: self.uplink_interface,
            local_address: self.local_address,
            ac_name: self.ac_name,
            service_names: non_empty(self.service_names),
            secrets: non_empty(self.secrets),
            pool: non_empty(self.pool),
            dns: non_empty(self.dns),
            auth: non_empty(self.auth),
            lcp_echo_interval: self.lcp_echo_interval,
            lcp_echo_failure: self.lcp_echo_failure,
            max_sessions: self.max_sessions,
            nat: self.no_nat.then_some(false),
            pin_dir: self.pin_dir,
            xdp_mode: self.xdp_mode,
            public_address: self.public_address,
        }
    }
}

/// pppoe-server's `-R START -N COUNT` as a pool range (`START-LAST`); a
/// count of 0 or one running past 255.255.255.255 is passed through as is,
/// for the config validation to refuse with its usual message.
fn pppoe_server_pool(start: std::net::Ipv4Addr, count: u32) -> String {
    let last = u32::from(start)
        .checked_add(count.saturating_sub(1))
        .map(std::net::Ipv4Addr::from);
    match (count, last) {
        (1.., Some(last)) => format!("{start}-{last}"),
        _ => format!("{start}-(+{count})"),
    }
}

fn non_empty<T>(v: Vec<T>) -> Option<Vec<T>> {
    (!v.is_empty()).then_some(v)
}

fn main() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_target(false)
        .init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Emulate(args) => emulate::main(args),
        Command::Lab(args) => lab::run_demo(&args),
        Command::Capture(args) => capture::main(args),
        Command::BenchDataplaneSetup(args) => pppoe_bras::bench_setup::main(args),
        Command::Sessions(c) => print_reply(&c, "sessions"),
        Command::Stats(c) => print_reply(&c, "stats"),
        Command::Kill { id, control } => print_reply(&control, &format!("kill {id}")),
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

fn print_reply(c: &ControlArgs, line: &str) -> anyhow::Result<()> {
    let reply = control::request(&c.control_socket, line)?;
    print!("{reply}");
    if reply.starts_with("error:") {
        std::process::exit(1);
    }
    Ok(())
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(ns) = &args.netns {
        rawsock::enter_netns(ns)?;
    }
    let file = args.config.clone();
    let control_socket = args.control_socket.clone();
    let pppd = args
        .pppd_options
        .as_deref()
        .map(pppoe_bras::pppd_options::PppdOptions::load)
        .transpose()?;
    let mut overrides = args.overrides();
    // Precedence: config file < pppd options file (-O) < flags.
    if let Some(p) = &pppd {
        overrides.auth = overrides.auth.or_else(|| p.auth.clone());
        overrides.lcp_echo_interval = overrides.lcp_echo_interval.or(p.lcp_echo_interval);
        overrides.lcp_echo_failure = overrides.lcp_echo_failure.or(p.lcp_echo_failure);
        if overrides.dns.is_none() && !p.dns.is_empty() {
            overrides.dns = Some(p.dns.iter().map(ToString::to_string).collect());
        }
    }
    let mut cfg = config::Config::resolve(file.as_deref(), overrides)?;
    if let Some(p) = pppd {
        cfg.mru = p.mru.unwrap_or(cfg.mru);
        if !p.nbns.is_empty() {
            cfg.nbns = p.nbns;
        }
        for w in p.warnings {
            log::warn!("{w}");
        }
    }
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(pppoe_bras::driver::run(cfg, &control_socket))
}

#[cfg(test)]
mod test {
    use std::net::Ipv4Addr;

    #[test]
    fn pppoe_server_r_and_n_make_a_pool_range() {
        let start = Ipv4Addr::new(172, 16, 0, 100);
        assert_eq!(
            super::pppoe_server_pool(start, 100),
            "172.16.0.100-172.16.0.199"
        );
        assert_eq!(
            super::pppoe_server_pool(start, 1),
            "172.16.0.100-172.16.0.100"
        );
        // Refused later by the config validation, with its message.
        assert!(super::pppoe_server_pool(start, 0).contains("(+0)"));
        assert!(super::pppoe_server_pool(Ipv4Addr::BROADCAST, 2).contains("(+2)"));
    }
}
