//! The tokio shell of the daemon: the AF_PACKET socket on the access NIC, one
//! timer, signals, and the data plane's map changes. All protocol decisions
//! are in [`crate::session::Manager`]; this file only moves bytes and time.

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

/// The state file a previous daemon left, if it can be adopted (else it is
/// removed with a log line saying why).
fn read_state(
    path: &std::path::Path,
    pin_dir: &std::path::Path,
) -> Option<crate::state::StateFile> {
    let bytes = std::fs::read(path).ok()?;
    match crate::state::StateFile::decode(&bytes, &pin_dir.to_string_lossy()) {
        Ok(f) => {
            log::info!(
                "state file {}: {} sessions of a previous daemon to re-adopt",
                path.display(),
                f.sessions.len()
            );
            Some(f)
        }
        Err(e) => {
            log::warn!("{}: {e}", path.display());
            let _ = std::fs::remove_file(path);
            None
        }
    }
}

/// The data-plane row of a saved session.
fn adopted_row(s: &crate::state::SavedSession, bras_mac: [u8; 6]) -> crate::dataplane::Adopted {
    crate::dataplane::Adopted {
        row: SessionRow {
            vlans: (
                s.outer_tag.map_or(0, |t| t.1),
                s.inner_tag.map_or(0, |t| t.1),
            ),
            outer_tpid: s.outer_tag.map_or(0, |t| t.0),
            client_mac: s.client_mac,
            bras_mac,
            session_id: s.session_id,
            address: s.address,
            mtu: s.peer_mru,
        },
        slot: s.slot,
        block: s.block,
    }
}

/// The discovery key of a saved session.
fn saved_key(s: &crate::state::SavedSession) -> SessionKey {
    use crate::wire::eth::{VlanTag, Vlans};
    let tag = |t: Option<(u16, u16)>| t.map(|(tpid, vid)| VlanTag { tpid, vid });
    SessionKey {
        vlans: Vlans {
            outer: tag(s.outer_tag),
            inner: tag(s.inner_tag),
        },
        peer_mac: s.client_mac,
        session_id: s.session_id,
    }
}

/// Write the state file atomically (temporary file, fsync, rename): a
/// crash leaves the previous file or this one, never half of one.
fn write_state(
    path: &std::path::Path,
    manager: &Manager,
    dataplane: &Dataplane,
    aaa: &Aaa,
    pin_dir: &std::path::Path,
) {
    use std::io::Write as _;
    let sessions = manager
        .saved_sessions()
        .into_iter()
        .filter_map(|(key, mut s)| {
            let (slot, block) = dataplane.allocation(s.address)?;
            s.slot = slot;
            s.block = block;
            aaa.save(&key, &mut s);
            Some(s)
        })
        .collect();
    let file = crate::state::StateFile::new(&pin_dir.to_string_lossy(), sessions);
    let tmp = path.with_extension("tmp");
    let res = (|| -> std::io::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut f = std::fs::File::create(&tmp)?;
        f.write_all(&file.encode())?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if let Err(e) = res {
        log::warn!("writing the state file {}: {e}", path.display());
    }
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

/// What `/metrics` shows, read in one go from the manager and the data plane.
fn snapshot(
    manager: &Manager,
    dataplane: &Dataplane,
    mac: [u8; 6],
    per_session: bool,
    lag: f64,
) -> crate::metrics::Snapshot {
    use std::collections::BTreeMap;
    let mut states: BTreeMap<&'static str, u64> = query::STATES.iter().map(|s| (*s, 0)).collect();
    let mut auth: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut traffic = (0, 0, 0, 0);
    let mut rows = Vec::new();
    for (k, i) in manager.sessions() {
        *states.entry(query::state(&i)).or_default() += 1;
        if i.installed {
            let p = match i.link.auth_proto() {
                Some(crate::ppp::AuthProto::Chap) => "chap",
                Some(crate::ppp::AuthProto::Pap) => "pap",
                None => "none",
            };
            *auth.entry(p).or_default() += 1;
        }
        let (c, _) = data_of(dataplane, mac, k, &i);
        traffic.0 += c.up_packets;
        traffic.1 += c.up_bytes;
        traffic.2 += c.down_packets;
        traffic.3 += c.down_bytes;
        if per_session && i.installed {
            rows.push(crate::metrics::SessionFigures {
                session_id: k.session_id,
                user: i
                    .user
                    .map(|u| crate::wire::text::escape(u).to_string())
                    .unwrap_or_default(),
                address: i.address.map(|a| a.to_string()).unwrap_or_default(),
                up_packets: c.up_packets,
                up_bytes: c.up_bytes,
                down_packets: c.down_packets,
                down_bytes: c.down_bytes,
            });
        }
    }
    let stats = manager.stats();
    crate::metrics::Snapshot {
        sessions_by_state: states.into_iter().collect(),
        sessions_by_auth: auth.into_iter().collect(),
        setups: stats[crate::session::ManagerStat::Setups],
        teardowns: stats.teardowns.iter().map(|(k, v)| (*k, *v)).collect(),
        auth_failures: stats[crate::session::ManagerStat::AuthFailed],
        control: manager.counters(),
        xdp: dataplane.stats(),
        traffic,
        nat: dataplane
            .nat_by_address()
            .into_iter()
            .map(
                |(address, mappings, blocks, blocks_free)| crate::metrics::NatFigures {
                    address,
                    mappings,
                    blocks,
                    blocks_free,
                },
            )
            .collect(),
        pool_size: manager.pool().size(),
        pool_in_use: manager.pool().in_use() as u64,
        loop_lag_seconds: lag,
        per_session: per_session.then_some(rows),
        radius: Vec::new(),
    }
}

/// The session layer's settings: the config's discovery and link sections
/// as they are, with what needs the NIC or this run (the access MAC, a fresh
/// cookie key) and what the link takes from other areas.
pub fn manager_config(cfg: &Config, access_mac: [u8; 6]) -> ManagerConfig {
    let pair = |v: &[std::net::Ipv4Addr]| [v.first().copied(), v.get(1).copied()];
    ManagerConfig {
        discovery: DiscoveryConfig {
            cookie_key: cookie_key(),
            local_mac: access_mac,
            ..cfg.discovery.clone()
        },
        link: LinkConfig {
            settings: cfg.link.clone(),
            auth: cfg.auth.clone(),
            local_address: cfg.local_address,
            dns: pair(&cfg.dns),
            nbns: pair(&cfg.nbns),
            auth_name: cfg.discovery.ac_name.clone(),
            ipv4: cfg.v6.ipv4,
            ipv6: cfg.v6.ipv6,
        },
        v6: cfg.v6.clone(),
    }
}

/// RFC 4638: a PPP-Max-Payload above 1492 only works when the access NIC
/// carries it plus the 8-byte PPPoE/PPP header ("baby jumbo", MTU ≥ 1508 for
/// 1500). Agree to no more than the NIC fits; below 1493 the tag is off.
fn fitting_max_payload(configured: u16, access_mtu: u32, access_if: &str) -> u16 {
    let fits = u16::try_from(access_mtu.saturating_sub(8)).unwrap_or(u16::MAX);
    if configured == 0 || configured <= fits {
        return configured;
    }
    if fits <= crate::discovery::MIN_MAX_PAYLOAD {
        log::warn!(
            "RFC 4638 PPP-Max-Payload off: {access_if} has MTU {access_mtu}, a payload of \
             {configured} needs {}; raise the MTU (e.g. `ip link set {access_if} mtu {}`) \
             to offer it",
            u32::from(configured) + 8,
            u32::from(configured) + 8
        );
        return 0;
    }
    log::warn!("RFC 4638 PPP-Max-Payload capped at {fits}: {access_if} has MTU {access_mtu}");
    fits
}

/// The data plane's settings, from the config and the pool's inside
/// prefixes ([`crate::pool::Pool::inside_prefixes`]).
pub fn dataplane_config(cfg: &Config, inside: Vec<(Ipv4Addr, u8)>) -> DataplaneConfig {
    DataplaneConfig {
        access_if: cfg.access_interface.clone(),
        uplink_if: cfg.uplink_interface.clone(),
        pin_dir: cfg.pin_dir.clone(),
        public_ips: if cfg.public_addresses.is_empty() {
            cfg.public_address.into_iter().collect()
        } else {
            cfg.public_addresses.clone()
        },
        local_ip: Some(cfg.local_address),
        mss_clamp: cfg.mss_clamp,
        // Our MRU, or the larger PPP-Max-Payload a session may negotiate (RFC 4638).
        mru: cfg.link.mru.max(cfg.discovery.max_payload),
        nat: cfg.nat,
        port_block_size: cfg.port_block_size,
        first_port: cfg.first_port,
        xdp_mode: cfg.xdp_mode,
        nat_table_size: cfg.nat_table_size,
        nat_session_mappings: cfg.nat_session_mappings,
        // At most 65534 (checked by config).
        max_sessions: cfg.discovery.max_sessions as u32,
        timeouts: NatTimeouts {
            udp: Duration::from_secs(u64::from(cfg.nat_udp_timeout)),
            tcp: Duration::from_secs(u64::from(cfg.nat_tcp_timeout)),
            tcp_transitory: Duration::from_secs(u64::from(cfg.nat_tcp_transitory_timeout)),
            icmp: Duration::from_secs(u64::from(cfg.nat_icmp_timeout)),
        },
        access_allow: cfg.access_allow,
        isolate_subscribers: cfg.isolate_subscribers,
        inside,
        ipv6: cfg.v6.ipv6,
        ipv6_proxy_nd: cfg.v6.proxy_nd,
        v6_deleg_len: cfg.v6.delegated_length,
    }
}

/// Answer a control-socket command.
fn answer(cmd: Command, manager: &mut Manager, dataplane: &Dataplane, mac: [u8; 6]) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match cmd {
        Command::Sessions(filter) => {
            let rows = select(manager, dataplane, mac, |k, i| filter.matches(k, i));
            if filter.json {
                let rows: Vec<_> = rows.into_iter().map(|(row, _)| row).collect();
                out.push_str(&query::json(&rows));
            } else {
                for (row, _) in rows {
                    let _ = writeln!(out, "{}", row.line());
                }
            }
        }
        Command::Show(sel, json) => {
            let details: Vec<query::Detail> = manager
                .sessions()
                .filter(|(k, i)| sel.matches(k, i))
                .map(|(k, i)| {
                    let (c, nat) = data_of(dataplane, mac, k, &i);
                    query::Detail::new(query::Row::new(k, &i, c), &i, nat)
                })
                .collect();
            if details.is_empty() {
                let _ = writeln!(out, "error: no session {}", sel.to_word());
            } else if json {
                out.push_str(&query::json(&details));
            } else {
                for d in details {
                    out.push_str(&d.text());
                }
            }
        }
        Command::Stats => {
            let _ = writeln!(out, "sessions {}", manager.len());
            for (name, v) in manager.counters() {
                let _ = writeln!(out, "{name} {v}");
            }
            for (name, v) in dataplane.stats() {
                let _ = writeln!(out, "xdp.{name} {v}");
            }
            for (name, v) in dataplane.nic_stats() {
                let _ = writeln!(out, "{name} {v}");
            }
        }
        Command::Reload => out.push_str("error: reload is answered by the event loop\n"),
        Command::Kill(sel) => {
            let now = Instant::now();
            let keys: Vec<SessionKey> = manager
                .sessions()
                .filter(|(k, i)| sel.matches(k, i))
                .map(|(k, _)| *k)
                .collect();
            if keys.is_empty() {
                let _ = writeln!(out, "error: no session {}", sel.to_word());
            }
            for key in keys {
                if manager.kill(now, &key) {
                    let _ = writeln!(out, "terminating session {:#06x}", key.session_id);
                }
            }
        }
    }
    out
}

/// The sessions `keep` accepts, as rows, in session id order.
fn select(
    manager: &Manager,
    dataplane: &Dataplane,
    mac: [u8; 6],
    keep: impl Fn(&SessionKey, &crate::session::SessionInfo<'_>) -> bool,
) -> Vec<(query::Row, SessionKey)> {
    let mut rows: Vec<_> = manager
        .sessions()
        .filter(|(k, i)| keep(k, i))
        .map(|(k, i)| {
            let (c, _) = data_of(dataplane, mac, k, &i);
            (query::Row::new(k, &i, c), *k)
        })
        .collect();
    rows.sort_by_key(|(_, k)| k.session_id);
    rows
}

/// A session's counters and NAT block from the data plane (zero/none when
/// its rows are not installed).
fn data_of(
    dataplane: &Dataplane,
    mac: [u8; 6],
    key: &SessionKey,
    info: &crate::session::SessionInfo<'_>,
) -> (query::Counters, Option<(Ipv4Addr, u16, u16)>) {
    if !info.installed {
        return (query::Counters::default(), None);
    }
    // The data plane finds an IPv6-only session by its key.
    let addr = info.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let row = session_row(key, mac, addr, 0);
    let c = dataplane.counters(&row);
    (
        query::Counters {
            up_packets: c.up_packets,
            up_bytes: c.up_bytes,
            down_packets: c.down_packets,
            down_bytes: c.down_bytes,
        },
        dataplane.nat_block(&row),
    )
}

/// The data plane's view of a session.
pub(crate) fn session_row(
    key: &SessionKey,
    bras_mac: [u8; 6],
    address: Ipv4Addr,
    mtu: u16,
) -> SessionRow {
    SessionRow {
        vlans: (key.vlans.outer_vid(), key.vlans.inner_vid()),
        outer_tpid: key.vlans.outer.map_or(0, |t| t.tpid),
        client_mac: key.peer_mac,
        bras_mac,
        session_id: key.session_id,
        address,
        mtu,
    }
}

/// Send queued frames and apply queued map changes; true when the data
/// plane changed (the state file is then out of date).
fn flush(
    manager: &mut Manager,
    sock: &PacketSocket,
    dataplane: &mut Dataplane,
    mac: [u8; 6],
    aaa: &mut Aaa,
) -> bool {
    let mut changed = false;
    while let Some(frame) = manager.poll_transmit() {
        if let Err(e) = sock.send(&frame) {
            log::warn!("send on access interface: {e}");
        }
    }
    let mut failed = Vec::new();
    while let Some(op) = manager.poll_dataplane() {
        changed = true;
        let (fail, removed) = apply(dataplane, op.clone(), mac);
        aaa.applied(manager, dataplane, mac, &op, fail.is_none(), removed);
        failed.extend(fail);
    }
    if !failed.is_empty() {
        let now = Instant::now();
        for (key, error) in &failed {
            manager.install_failed(now, key, error);
        }
        flush(manager, sock, dataplane, mac, aaa);
    }
    changed
}

/// Apply one map change; returns the session whose rows could not be
/// installed, with why, so the caller ends it, and the counters of removed
/// rows.
fn apply(
    dataplane: &mut Dataplane,
    op: DataplaneOp,
    bras_mac: [u8; 6],
) -> (
    Option<(SessionKey, String)>,
    Option<crate::dataplane::SessionCounters>,
) {
    match op {
        DataplaneOp::Install { key, address, mtu } => {
            let row = session_row(&key, bras_mac, address, mtu);
            if let Err(e) = dataplane.install(&row) {
                let hint = format!(
                    "{e:#}; with NAT, capacity is public addresses × port blocks ({} now): add \
                     public_addresses or use a smaller port_block_size",
                    dataplane.block_capacity()
                );
                return (Some((key, hint)), None);
            } else if let Some((ip, first, size)) = dataplane.nat_block(&row) {
                // RFC 6888 §4 / RFC 7422: with port blocks, this one line per
                // session is enough to trace any flow back to the subscriber.
                log::info!(
                    "session {:#06x} address={address} nat={ip}:{first}-{}",
                    key.session_id,
                    u32::from(first) + u32::from(size) - 1
                );
            }
        }
        DataplaneOp::Remove { key, address, down } => {
            let row = session_row(&key, bras_mac, address, 0);
            let (bytes, removed) = match dataplane.remove(&row) {
                Ok(c) => (
                    format!(
                        "packets={}/{} bytes={}/{}",
                        c.up_packets, c.down_packets, c.up_bytes, c.down_bytes
                    ),
                    Some(c),
                ),
                Err(e) => {
                    log::error!("session {:#06x}: remove map rows: {e:#}", key.session_id);
                    ("bytes=?".to_owned(), None)
                }
            };
            if let Some(down) = down {
                let shown = (!address.is_unspecified()).then_some(address);
                log::info!("{}", down.log_line(&key, shown, &bytes));
            }
            return (None, removed);
        }
        DataplaneOp::InstallV6 {
            key,
            prefix64,
            delegated,
            ..
        } => {
            // The rows are found by the session's key; the address is unused.
            let row = session_row(&key, bras_mac, std::net::Ipv4Addr::UNSPECIFIED, 0);
            if let Err(e) = dataplane.set_v6(&row, Some(prefix64.0), delegated) {
                log::warn!("session {:#06x}: IPv6 data path: {e:#}", key.session_id);
            }
        }
        DataplaneOp::RemoveV6 {
            key,
            prefix64,
            delegated,
        } => {
            let row = session_row(&key, bras_mac, std::net::Ipv4Addr::UNSPECIFIED, 0);
            if prefix64.is_some() {
                dataplane.clear_v6(&row);
            } else if delegated.is_some() {
                // Only the delegated prefix went: keep the /64.
                if let Err(e) = dataplane.drop_delegated(&row) {
                    log::warn!("session {:#06x}: IPv6 data path: {e:#}", key.session_id);
                }
            }
        }
    }
    (None, None)
}

#[cfg(test)]
mod test {
    use super::{fitting_max_payload, manager_config};
    use crate::config::Config;

    #[test]
    fn cookie_key_is_fresh_per_daemon() {
        let cfg = Config::default();
        let a = manager_config(&cfg, [2, 0, 0, 0, 0, 1])
            .discovery
            .cookie_key;
        let b = manager_config(&cfg, [2, 0, 0, 0, 0, 1])
            .discovery
            .cookie_key;
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }

    #[test]
    fn max_payload_fits_the_access_mtu() {
        assert_eq!(fitting_max_payload(1500, 1508, "a0"), 1500);
        assert_eq!(fitting_max_payload(1500, 9000, "a0"), 1500);
        assert_eq!(fitting_max_payload(1500, 1504, "a0"), 1496, "capped");
        assert_eq!(fitting_max_payload(1500, 1500, "a0"), 0, "a 1500 NIC can't");
        assert_eq!(fitting_max_payload(0, 9000, "a0"), 0, "off stays off");
    }
}
