//! The tokio shell of the daemon: the AF_PACKET socket on the access NIC, one
//! timer, signals, and the data plane's map changes. All protocol decisions
//! are in [`crate::session::Manager`]; this folder only moves bytes and time
//! (`state.rs` the restart file, `settings.rs` what Config becomes for the
//! manager and data plane, `apply.rs` queued frames and map changes,
//! `answer.rs` the control socket and metrics).

use std::{
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::Context as _;
use tokio::signal::unix::{signal, SignalKind};

use crate::{
    aaa::Aaa,
    config::{Config, ConfigSource},
    control::{self, Command},
    dataplane::{Dataplane, DataplaneConfig, NatTimeouts, SessionRow},
    discovery::{DiscoveryConfig, SessionKey},
    ppp::link::LinkConfig,
    query,
    rawsock::{if_mac, OwnsFd as _, PacketSocket},
    session::{DataplaneOp, Manager, ManagerConfig},
};

mod answer;
mod apply;
mod settings;
mod state;

use answer::{answer, snapshot};
use apply::flush;
pub(crate) use apply::session_row;
use settings::fitting_max_payload;
pub use settings::{dataplane_config, manager_config};
use state::{adopted_row, read_state, saved_key, write_state};

/// How often the data plane's missing next-hop neighbours are resolved.
const NEIGHBOUR_PERIOD: Duration = Duration::from_millis(200);

/// How often a pass of the NAT expiry sweep starts (and the quota and
/// redirect-failure checks run).
const NAT_EXPIRY_PERIOD: Duration = Duration::from_secs(10);

/// Pause between two bounded steps of a sweep pass: each step looks at
/// most `EXPIRY_BUDGET` entries (~1–3 ms), so discovery, LCP and the
/// control socket get the loop in between. 250,000 mappings in both maps
/// take ~250 steps, ~5 s.
const NAT_SWEEP_STEP: Duration = Duration::from_millis(20);

/// Run the daemon until SIGTERM/SIGINT. Everything it installed (map rows,
/// pins, XDP programs) is removed before it returns, also on error paths.
pub async fn run(
    source: ConfigSource,
    control_socket: &std::path::Path,
    keep_sessions: bool,
) -> anyhow::Result<()> {
    let (mut cfg, warnings) = source.load()?;
    crate::logfmt::set_json(cfg.log_json);
    for w in warnings {
        log::warn!("{w}");
    }
    let access_mac = if_mac(&cfg.access_interface)
        .with_context(|| format!("access interface {:?}", cfg.access_interface))?;
    let access_mtu = crate::rawsock::if_mtu(&cfg.access_interface)?;
    cfg.discovery.max_payload =
        fitting_max_payload(cfg.discovery.max_payload, access_mtu, &cfg.access_interface);
    let secrets = cfg.secrets()?;
    let pool = cfg.build_pool(&secrets);
    for w in cfg.warnings() {
        log::warn!("{w}");
    }
    let state_path = crate::state::default_path(&cfg.pin_dir);
    let saved = read_state(&state_path, &cfg.pin_dir);
    let dp_cfg = dataplane_config(&cfg, pool.inside_prefixes());
    let (mut dataplane, adopted) = match &saved {
        Some(f) => {
            let adopt: Vec<_> = f
                .sessions
                .iter()
                .map(|s| adopted_row(s, access_mac))
                .collect();
            Dataplane::start_adopting(&dp_cfg, &adopt)?
        }
        None => (Dataplane::start(&dp_cfg)?, Vec::new()),
    };
    if cfg.spread {
        let cpus = crate::dataplane::online_cpus()?;
        if let Err(e) = dataplane.set_spread(&cpus) {
            log::warn!("spreading sessions over CPUs {cpus:?}: {e:#}; one CPU does the work");
        }
    }
    let shell = Shell {
        source,
        access_mac,
        access_mtu,
        state_path,
        keep_sessions,
    };
    let readopt: Vec<crate::state::SavedSession> = saved
        .map(|f| {
            f.sessions
                .into_iter()
                .filter(|s| {
                    adopted
                        .iter()
                        .any(|r| r.session_id == s.session_id && r.address == s.address)
                })
                .collect()
        })
        .unwrap_or_default();
    let result = serve(
        cfg,
        &shell,
        control_socket,
        secrets,
        pool,
        &mut dataplane,
        readopt,
    )
    .await;
    match result {
        Ok(Exit::Keep) => {
            dataplane.leave();
            Ok(())
        }
        Ok(Exit::Clean) => {
            let _ = std::fs::remove_file(&shell.state_path);
            dataplane.shutdown()
        }
        Err(e) => {
            let _ = dataplane.shutdown();
            let _ = std::fs::remove_file(&shell.state_path);
            Err(e)
        }
    }
}

/// How the event loop ended.
enum Exit {
    /// SIGTERM/SIGINT: every session hung up, the data plane removed.
    Clean,
    /// SIGTERM with `--keep-sessions`: the data plane and the state file
    /// are left for the next daemon, which re-adopts every session.
    Keep,
}

/// What the event loop keeps besides the configuration in force.
struct Shell {
    /// Read again on reload.
    source: ConfigSource,
    access_mac: [u8; 6],
    access_mtu: u32,
    /// What a next daemon needs to re-adopt the sessions.
    state_path: std::path::PathBuf,
    /// SIGTERM leaves the data plane running (`--keep-sessions`).
    keep_sessions: bool,
}

impl Shell {
    /// Re-read every configuration source and apply what may change live:
    /// users/secrets, pools (leases kept), DNS, limits, timers and auth for
    /// new sessions. An invalid configuration, or one that changes a key
    /// that cannot change live, is refused whole and the old one stays.
    fn reload(
        &self,
        cfg: &mut Config,
        manager: &mut Manager,
        dataplane: &mut Dataplane,
    ) -> Result<String, String> {
        let (mut new, warnings) = self.source.load().map_err(|e| e.to_string())?;
        new.discovery.max_payload = fitting_max_payload(
            new.discovery.max_payload,
            self.access_mtu,
            &new.access_interface,
        );
        let fixed = cfg.fixed_keys_changed(&new);
        if !fixed.is_empty() {
            return Err(format!(
                "{} cannot change while running (restart the daemon for that); nothing was \
                 changed",
                fixed.join(", ")
            ));
        }
        let secrets = new.secrets().map_err(|e| e.to_string())?;
        let users = secrets.len();
        let pool = new.build_pool(&secrets);
        dataplane
            .set_inside(pool.inside_prefixes())
            .map_err(|e| format!("{e:#}"))?;
        manager.reconfigure(manager_config(&new, self.access_mac), secrets, pool);
        for w in warnings.into_iter().chain(new.warnings()) {
            log::warn!("{w}");
        }
        crate::logfmt::set_json(new.log_json);
        *cfg = new;
        Ok(format!(
            "reloaded: {users} users, pool of {} addresses ({} in use), {} live sessions kept",
            manager.pool().size(),
            manager.pool().in_use(),
            manager.len()
        ))
    }
}

#[allow(clippy::too_many_arguments)]
async fn serve(
    mut cfg: Config,
    shell: &Shell,
    control_socket: &std::path::Path,
    secrets: crate::auth::Secrets,
    pool: crate::pool::Pool,
    dataplane: &mut Dataplane,
    readopt: Vec<crate::state::SavedSession>,
) -> anyhow::Result<Exit> {
    let access_mac = shell.access_mac;
    let sock = PacketSocket::open(&cfg.access_interface)?
        .into_async()
        .context("register the packet socket with tokio")?;
    let mut manager = Manager::new(manager_config(&cfg, access_mac), secrets, pool);
    let mut aaa = Aaa::new(&cfg)?;
    manager.set_external_auth(aaa.external_auth());
    let now = Instant::now();
    let mut adopted = 0;
    for s in &readopt {
        if manager.adopt(now, saved_key(s), s) {
            aaa.resume(now, saved_key(s), s, dataplane, access_mac);
            adopted += 1;
        } else {
            log::warn!(
                "session {:#06x} user={} address={} could not be re-adopted (id or address \
                 taken): its rows are removed",
                s.session_id,
                crate::wire::text::escape(&s.user),
                s.address
            );
            let row = adopted_row(s, access_mac).row;
            let _ = dataplane.remove(&row);
        }
    }
    if !readopt.is_empty() {
        log::info!("re-adopted {adopted} sessions of the previous daemon");
    }
    let mut state_dirty = adopted > 0 || !readopt.is_empty();
    let mut state_tick = tokio::time::interval(STATE_PERIOD);
    // Re-adopted sessions carry on: no Accounting-On (it would tell the
    // server every session of this NAS is gone).
    if readopt.is_empty() {
        aaa.accounting_on_off(true);
    }
    let radius_sock = aaa.socket();
    let mut radius_buf = vec![0u8; 4096];
    let dae_sock = aaa.dae_socket();
    let mut dae_buf = vec![0u8; 4096];
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut sighup = signal(SignalKind::hangup())?;
    let mut expiry = tokio::time::interval(NAT_EXPIRY_PERIOD);
    let mut sweep_step = tokio::time::interval(NAT_SWEEP_STEP);
    sweep_step.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeping = false;
    let mut swept = 0usize;
    let mut neighbours = tokio::time::interval(NEIGHBOUR_PERIOD);
    // Idle-Timeout checks (only sessions that have one are looked at).
    let mut idle_tick = tokio::time::interval(Duration::from_secs(1));
    idle_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let (mut control, _socket_guard) = control::listen(control_socket)?;
    let (metrics_tx, mut metrics_rx) = tokio::sync::mpsc::channel(4);
    if let Some(addr) = cfg.metrics_listen {
        crate::metrics::serve(addr, metrics_tx).await?;
    } else {
        drop(metrics_tx);
    }
    let mut lag = LagProbe::new();
    let mut lag_tick = tokio::time::interval(LAG_PERIOD);
    lag_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    log::info!(
        "ready access={} uplink={} xdp={}",
        cfg.access_interface,
        cfg.uplink_interface,
        cfg.xdp_mode
    );
    let mut buf = Vec::with_capacity(65536);
    let exit = loop {
        loop {
            state_dirty |= flush(
                &mut manager,
                sock.get_ref(),
                dataplane,
                access_mac,
                &mut aaa,
            );
            if !aaa.pump(&mut manager) {
                break;
            }
        }
        let deadline = manager.poll_timeout();
        let aaa_deadline = aaa.poll_timeout();
        let aaa_sleep = async {
            match aaa_deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let radius_recv = async {
            match &radius_sock {
                Some(s) => s.recv_from(&mut radius_buf).await,
                None => std::future::pending().await,
            }
        };
        let dae_recv = async {
            match &dae_sock {
                Some(s) => s.recv_from(&mut dae_buf).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            Ok((n, from)) = radius_recv => aaa.handle_datagram(from, &radius_buf[..n]),
            Ok((n, from)) = dae_recv => aaa.handle_dae(from, &dae_buf[..n], &mut manager),
            guard = sock.readable() => {
                let mut guard = guard?;
                // Bounded batch so timers and signals are never starved.
                for _ in 0..256 {
                    match sock.get_ref().recv(&mut buf) {
                        Ok(()) => manager.handle_frame(Instant::now(), &buf),
                        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                            guard.clear_ready();
                            break;
                        }
                        Err(e) => {
                            log::warn!("access socket: {e}");
                            guard.clear_ready();
                            break;
                        }
                    }
                }
            }
            () = sleep => manager.handle_timeout(Instant::now()),
            () = aaa_sleep => aaa.handle_timeout(dataplane, access_mac),
            _ = neighbours.tick() => dataplane.resolve_neighbours(),
            _ = idle_tick.tick() => aaa.check_idle(&mut manager, dataplane, access_mac),
            _ = expiry.tick() => {
                dataplane.periodic();
                aaa.prune(&manager);
                sweeping = true;
            }
            _ = sweep_step.tick(), if sweeping => {
                let step = dataplane.expire_step(crate::dataplane::EXPIRY_BUDGET);
                swept += step.removed;
                if step.pass_done {
                    sweeping = false;
                    if swept > 0 {
                        log::debug!("expired {swept} idle NAT mappings");
                    }
                    swept = 0;
                }
            }
            Some((cmd, reply)) = control.recv() => {
                let text = if cmd == Command::Reload {
                    reload_reply(shell.reload(&mut cfg, &mut manager, dataplane))
                } else {
                    let mut text = answer(cmd.clone(), &mut manager, dataplane, access_mac);
                    if cmd == Command::Stats {
                        use std::fmt::Write as _;
                        for (name, v) in aaa.stats() {
                            let _ = writeln!(text, "{name} {v}");
                        }
                    }
                    text
                };
                let _ = reply.send(text);
            }
            _ = sighup.recv() => {
                log::info!("SIGHUP: reloading");
                let _ = reload_reply(shell.reload(&mut cfg, &mut manager, dataplane));
            }
            at = lag_tick.tick() => lag.tick(at.into_std(), Instant::now()),
            Some(reply) = metrics_rx.recv() => {
                let mut snap = snapshot(&manager, dataplane, access_mac, cfg.metrics_per_session, lag.take());
                snap.radius = aaa.metrics();
                let _ = reply.send(crate::metrics::render(&snap));
            }
            _ = state_tick.tick(), if state_dirty => {
                write_state(&shell.state_path, &manager, dataplane, &aaa, &cfg.pin_dir);
                state_dirty = false;
            }
            _ = sigterm.recv() => {
                if shell.keep_sessions {
                    log::info!("SIGTERM: stopping, keeping every session for the next daemon");
                    break Exit::Keep;
                }
                log::info!("SIGTERM: stopping");
                break Exit::Clean;
            }
            _ = sigint.recv() => { log::info!("SIGINT: stopping"); break Exit::Clean; }
        }
    };
    match exit {
        // Sessions go on with the next daemon: no stop records either.
        Exit::Keep => write_state(&shell.state_path, &manager, dataplane, &aaa, &cfg.pin_dir),
        Exit::Clean => {
            aaa.stopping = true;
            manager.shutdown(Instant::now());
            flush(
                &mut manager,
                sock.get_ref(),
                dataplane,
                access_mac,
                &mut aaa,
            );
            aaa.pump(&mut manager);
            aaa.accounting_on_off(false);
            if let Some(s) = &radius_sock {
                // Let the stop records and Accounting-Off be answered (bounded).
                let until = tokio::time::Instant::now() + Duration::from_secs(3);
                while aaa.acct_outstanding() > 0 && tokio::time::Instant::now() < until {
                    let at = aaa
                        .poll_timeout()
                        .map_or(until, |t| tokio::time::Instant::from_std(t).min(until));
                    tokio::select! {
                        Ok((n, from)) = s.recv_from(&mut radius_buf) => {
                            aaa.handle_datagram(from, &radius_buf[..n]);
                        }
                        () = tokio::time::sleep_until(at) => aaa.handle_timeout(dataplane, access_mac),
                    }
                    aaa.pump(&mut manager);
                }
            }
        }
    }
    log::info!("stopped");
    Ok(exit)
}

/// How often a changed state file is written (at most): a daemon killed
/// without warning loses at most the sessions set up in the last period.
const STATE_PERIOD: Duration = Duration::from_millis(500);

/// A fresh AC-Cookie key straight from the OS CSPRNG (getrandom): who
/// knows it can forge cookies, so it is never derived from anything else.
fn cookie_key() -> [u8; 16] {
    use rand::RngCore;
    let mut key = [0; 16];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// Log a reload's outcome and say it to the control client.
fn reload_reply(r: Result<String, String>) -> String {
    match r {
        Ok(text) => {
            log::info!("{text}");
            format!("{text}\n")
        }
        Err(e) => {
            log::warn!("reload refused: {e}");
            format!("error: reload refused: {e}\n")
        }
    }
}

/// How often the event loop checks its own lag.
const LAG_PERIOD: Duration = Duration::from_millis(100);

/// The longest delay between when a periodic tick was due and when the
/// event loop ran it, since the last scrape.
struct LagProbe {
    max: Duration,
}

impl LagProbe {
    fn new() -> Self {
        LagProbe {
            max: Duration::ZERO,
        }
    }

    fn tick(&mut self, due: Instant, now: Instant) {
        self.max = self.max.max(now.saturating_duration_since(due));
    }

    fn take(&mut self) -> f64 {
        std::mem::take(&mut self.max).as_secs_f64()
    }
}
