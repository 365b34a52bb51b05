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
    Sessions(SessionsArgs),
    /// Show one session in full: LCP options both ways, auth, IPCP, NAT
    /// block, counters, the last events.
    Show {
        /// Session id (0x0001), user name, IPv4 address or MAC.
        session: String,
        /// Print JSON.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        control: ControlArgs,
    },
    /// Show discovery and data-plane counters of a running daemon.
    Stats(ControlArgs),
    /// Re-read the configuration file and secrets of a running daemon (as
    /// SIGHUP), keeping every session; an invalid file is refused with
    /// file:line and the old configuration stays.
    Reload(ControlArgs),
    /// Check a configuration (the same flags as `run`) without running:
    /// config file, pppd options, secrets and pools; prints a summary or the
    /// error with file:line and the fix, exit status 1.
    CheckConfig(RunArgs),
    /// Terminate sessions (LCP Terminate-Request, then PADT).
    Kill {
        /// Session id (0x0001), user name, IPv4 address or MAC (every
        /// session of that user/MAC).
        session: String,
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
struct SessionsArgs {
    /// Only this user's sessions.
    #[arg(long)]
    user: Option<String>,
    /// Only sessions of this client MAC.
    #[arg(long)]
    mac: Option<String>,
    /// Only the session with this address.
    #[arg(long)]
    ip: Option<String>,
    /// Only sessions on this (outer) VLAN.
    #[arg(long)]
    vlan: Option<String>,
    /// Only sessions in this state: lcp, auth, ipcp, up, terminating.
    #[arg(long)]
    state: Option<String>,
    /// Print JSON.
    #[arg(long)]
    json: bool,
    #[command(flatten)]
    control: ControlArgs,
}

impl SessionsArgs {
    /// The control line: each filter as `key=value`, checked on both ends.
    fn line(&self) -> anyhow::Result<String> {
        let mut words = vec!["sessions".to_owned()];
        for (k, v) in [
            ("user", &self.user),
            ("mac", &self.mac),
            ("ip", &self.ip),
            ("vlan", &self.vlan),
            ("state", &self.state),
        ] {
            if let Some(v) = v {
                if v.is_empty() || v.contains(char::is_whitespace) {
                    anyhow::bail!("--{k} {v:?}: one word, no blanks");
                }
                words.push(format!("{k}={v}"));
            }
        }
        if self.json {
            words.push("json".to_owned());
        }
        let line = words.join(" ");
        control::Command::parse(&line).map_err(|e| anyhow::anyhow!(e))?;
        Ok(line)
    }
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
    /// NBNS (WINS) server handed out in IPCP (repeatable, at most 2).
    #[arg(long, value_name = "ADDR")]
    nbns: Vec<String>,
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
    /// On SIGTERM, leave the XDP programs, maps and a state file for the
    /// next daemon (an upgrade): it re-adopts every session without a flap.
    #[arg(long)]
    keep_sessions: bool,
}

impl RunArgs {
    fn overrides(self) -> config::Overrides {
        let mut o = config::Overrides::default();
        let mut set = |key, values: Vec<String>| {
            if !values.is_empty() {
                o.set(key, values);
            }
        };
        let mut pool = self.pool;
        if let (Some(start), Some(n)) = (self.remote_start, self.pool_size) {
            pool.push(config::pppd::pppoe_server_pool(start, n));
        }
        let text = |p: Vec<PathBuf>| -> Vec<String> {
            p.iter().map(|p| p.display().to_string()).collect()
        };
        set(
            "access_interface",
            self.access_interface.into_iter().collect(),
        );
        set(
            "uplink_interface",
            self.uplink_interface.into_iter().collect(),
        );
        set("local_address", self.local_address.into_iter().collect());
        set("ac_name", self.ac_name.into_iter().collect());
        set("service_names", self.service_names);
        set("secrets", text(self.secrets));
        set("pool", pool);
        set("dns", self.dns);
        set("nbns", self.nbns);
        set("auth", self.auth);
        set(
            "lcp_echo_interval",
            self.lcp_echo_interval.iter().map(u32::to_string).collect(),
        );
        set(
            "lcp_echo_failure",
            self.lcp_echo_failure.iter().map(u32::to_string).collect(),
        );
        set(
            "max_sessions",
            self.max_sessions.iter().map(u32::to_string).collect(),
        );
        set(
            "nat",
            if self.no_nat {
                vec!["false".into()]
            } else {
                vec![]
            },
        );
        set("pin_dir", text(self.pin_dir.into_iter().collect()));
        set("xdp_mode", self.xdp_mode.into_iter().collect());
        set("public_address", self.public_address.into_iter().collect());
        o
    }
}

fn main() {
    pppoe_bras::logfmt::init();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run(args),
        Command::Emulate(args) => emulate::main(args),
        Command::Lab(args) => lab::run_demo(&args),
        Command::Capture(args) => capture::main(args),
        Command::BenchDataplaneSetup(args) => pppoe_bras::bench_setup::main(args),
        Command::Sessions(a) => a.line().and_then(|l| print_reply(&a.control, &l)),
        Command::Stats(c) => print_reply(&c, "stats"),
        Command::Reload(c) => print_reply(&c, "reload"),
        Command::CheckConfig(args) => check_config(args),
        Command::Show {
            session,
            json,
            control,
        } => selector_line("show", &session)
            .and_then(|l| print_reply(&control, &if json { format!("{l} json") } else { l })),
        Command::Kill { session, control } => {
            selector_line("kill", &session).and_then(|l| print_reply(&control, &l))
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}

/// `<verb> <kind>=<value>` for a session named on the command line.
fn selector_line(verb: &str, session: &str) -> anyhow::Result<String> {
    let sel = pppoe_bras::query::Selector::parse(session).map_err(|e| anyhow::anyhow!(e))?;
    let word = sel.to_word();
    if word.contains(char::is_whitespace) {
        anyhow::bail!("{session:?}: blanks cannot be sent to the daemon");
    }
    Ok(format!("{verb} {word}"))
}

fn print_reply(c: &ControlArgs, line: &str) -> anyhow::Result<()> {
    let reply = control::request(&c.control_socket, line)?;
    print!("{reply}");
    if reply.starts_with("error:") {
        std::process::exit(1);
    }
    Ok(())
}

fn check_config(args: RunArgs) -> anyhow::Result<()> {
    let source = config::ConfigSource {
        file: args.config.clone(),
        pppd_options: args.pppd_options.clone(),
        overrides: args.overrides(),
    };
    let (cfg, mut warnings) = source.load()?;
    let secrets = cfg.secrets()?;
    let pool = cfg.build_pool(&secrets);
    warnings.extend(cfg.warnings());
    for w in &warnings {
        println!("warning: {w}");
    }
    println!(
        "configuration OK: access {} uplink {} local {}; {} users; pool of {} addresses; nat {}; \
         xdp {}",
        cfg.access_interface,
        cfg.uplink_interface,
        cfg.local_address,
        secrets.len(),
        pool.size(),
        if cfg.nat { "on" } else { "off" },
        cfg.xdp_mode
    );
    Ok(())
}

fn run(args: RunArgs) -> anyhow::Result<()> {
    if let Some(ns) = &args.netns {
        rawsock::enter_netns(ns)?;
    }
    let control_socket = args.control_socket.clone();
    let keep_sessions = args.keep_sessions;
    let source = config::ConfigSource {
        file: args.config.clone(),
        pppd_options: args.pppd_options.clone(),
        overrides: args.overrides(),
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(pppoe_bras::driver::run(
            source,
            &control_socket,
            keep_sessions,
        ))
}
