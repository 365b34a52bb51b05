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
    // Every config key's flag (`-I`, `--pool`, `--lcp-echo-interval`, …),
    // made from its row in config/keys.rs, and pppoe-server's -R/-N.
    #[command(flatten)]
    overrides: config::Overrides,
    /// Control socket for `sessions`, `stats` and `kill`.
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
    control_socket: PathBuf,
    /// On SIGTERM, leave the XDP programs, maps and a state file for the
    /// next daemon (an upgrade): it re-adopts every session without a flap.
    #[arg(long)]
    keep_sessions: bool,
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
        file: args.config,
        pppd_options: args.pppd_options,
        overrides: args.overrides,
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
        file: args.config,
        pppd_options: args.pppd_options,
        overrides: args.overrides,
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
