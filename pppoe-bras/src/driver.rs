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
    config::Config,
    control::{self, Command},
    dataplane::{Dataplane, DataplaneConfig, NatTimeouts, SessionRow},
    discovery::{DiscoveryConfig, SessionKey},
    ppp::{fsm::FsmConfig, link::LinkConfig},
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
pub async fn run(mut cfg: Config, control_socket: &std::path::Path) -> anyhow::Result<()> {
    let access_mac = if_mac(&cfg.access_interface)
        .with_context(|| format!("access interface {:?}", cfg.access_interface))?;
    let access_mtu = crate::rawsock::if_mtu(&cfg.access_interface)?;
    cfg.max_payload = fitting_max_payload(cfg.max_payload, access_mtu, &cfg.access_interface);
    let secrets = cfg.secrets()?;
    let pool = cfg.build_pool(&secrets);
    for w in cfg.warnings() {
        log::warn!("{w}");
    }
    let mut dataplane = Dataplane::start(&dataplane_config(&cfg, pool.inside_prefixes()))?;
    if cfg.spread {
        let cpus = crate::dataplane::online_cpus()?;
        if let Err(e) = dataplane.set_spread(&cpus) {
            log::warn!("spreading sessions over CPUs {cpus:?}: {e:#}; one CPU does the work");
        }
    }
    let result = serve(
        &cfg,
        control_socket,
        access_mac,
        secrets,
        pool,
        &mut dataplane,
    )
    .await;
    let stopped = dataplane.shutdown();
    result.and(stopped)
}

async fn serve(
    cfg: &Config,
    control_socket: &std::path::Path,
    access_mac: [u8; 6],
    secrets: crate::auth::Secrets,
    pool: crate::pool::Pool,
    dataplane: &mut Dataplane,
) -> anyhow::Result<()> {
    let sock = PacketSocket::open(&cfg.access_interface)?
        .into_async()
        .context("register the packet socket with tokio")?;
    let mut manager = Manager::new(manager_config(cfg, access_mac), secrets, pool);
    let mut aaa = Aaa::new(cfg)?;
    manager.set_external_auth(aaa.external_auth());
    aaa.accounting_on_off(true);
    let radius_sock = aaa.socket();
    let mut radius_buf = vec![0u8; 4096];
    let dae_sock = aaa.dae_socket();
    let mut dae_buf = vec![0u8; 4096];
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let mut expiry = tokio::time::interval(NAT_EXPIRY_PERIOD);
    let mut sweep_step = tokio::time::interval(NAT_SWEEP_STEP);
    sweep_step.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut sweeping = false;
    let mut swept = 0usize;
    let mut neighbours = tokio::time::interval(NEIGHBOUR_PERIOD);
    let (mut control, _socket_guard) = control::listen(control_socket)?;
    log::info!(
        "ready access={} uplink={} xdp={}",
        cfg.access_interface,
        cfg.uplink_interface,
        cfg.xdp_mode
    );
    let mut buf = Vec::with_capacity(65536);
    loop {
        loop {
            flush(
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
                let text = answer(cmd, &mut manager, dataplane, access_mac);
                let _ = reply.send(text);
            }
            _ = sigterm.recv() => { log::info!("SIGTERM: stopping"); break; }
            _ = sigint.recv() => { log::info!("SIGINT: stopping"); break; }
        }
    }
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
    log::info!("stopped");
    Ok(())
}

/// A fresh AC-Cookie key straight from the OS CSPRNG (getrandom): who
/// knows it can forge cookies, so it is never derived from anything else.
fn cookie_key() -> [u8; 16] {
    use rand::RngCore;
    let mut key = [0; 16];
    rand::rngs::OsRng.fill_bytes(&mut key);
    key
}

/// The session layer's settings, from the config.
pub fn manager_config(cfg: &Config, access_mac: [u8; 6]) -> ManagerConfig {
    let secs = |s: u32| Duration::from_secs(u64::from(s));
    let pair = |v: &[std::net::Ipv4Addr]| [v.first().copied(), v.get(1).copied()];
    ManagerConfig {
        discovery: DiscoveryConfig {
            ac_name: cfg.ac_name.clone(),
            service_names: cfg.service_names.clone(),
            cookie_key: cookie_key(),
            max_sessions: cfg.max_sessions as usize,
            max_sessions_per_mac: cfg.max_sessions_per_mac as usize,
            max_payload: cfg.max_payload,
            local_mac: access_mac,
            padi_rate_per_mac: cfg.padi_rate_per_mac,
            padi_rate_total: cfg.padi_rate_total,
            pado_delay: Duration::from_millis(u64::from(cfg.pado_delay_ms)),
            max_sessions_per_vlan: cfg.max_sessions_per_vlan as usize,
            vlans: cfg.vlans.clone(),
        },
        link: LinkConfig {
            mru: cfg.mru,
            auth: cfg.auth.clone(),
            local_address: cfg.local_address,
            dns: pair(&cfg.dns),
            nbns: pair(&cfg.nbns),
            echo_interval: secs(cfg.lcp_echo_interval),
            echo_failure: cfg.lcp_echo_failure,
            auth_timeout: secs(cfg.auth_timeout),
            auth_name: cfg.ac_name.clone(),
            chap_rechallenge: secs(cfg.chap_rechallenge_interval),
            fsm: FsmConfig {
                restart: secs(cfg.restart_timer),
                max_configure: cfg.max_configure,
                max_failure: cfg.max_failure,
                max_terminate: cfg.max_terminate,
            },
        },
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
        mru: cfg.mru.max(cfg.max_payload),
        nat: cfg.nat,
        port_block_size: cfg.port_block_size,
        first_port: cfg.first_port,
        xdp_mode: cfg.xdp_mode,
        nat_table_size: cfg.nat_table_size,
        nat_session_mappings: cfg.nat_session_mappings,
        max_sessions: cfg.max_sessions,
        timeouts: NatTimeouts {
            udp: Duration::from_secs(u64::from(cfg.nat_udp_timeout)),
            tcp: Duration::from_secs(u64::from(cfg.nat_tcp_timeout)),
            tcp_transitory: Duration::from_secs(u64::from(cfg.nat_tcp_transitory_timeout)),
            icmp: Duration::from_secs(u64::from(cfg.nat_icmp_timeout)),
        },
        access_allow: cfg.access_allow,
        isolate_subscribers: cfg.isolate_subscribers,
        inside,
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
    let Some(addr) = info.address.filter(|_| info.installed) else {
        return (query::Counters::default(), None);
    };
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

/// Send queued frames and apply queued map changes.
fn flush(
    manager: &mut Manager,
    sock: &PacketSocket,
    dataplane: &mut Dataplane,
    mac: [u8; 6],
    aaa: &mut Aaa,
) {
    while let Some(frame) = manager.poll_transmit() {
        if let Err(e) = sock.send(&frame) {
            log::warn!("send on access interface: {e}");
        }
    }
    let mut failed = Vec::new();
    while let Some(op) = manager.poll_dataplane() {
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
                log::info!("{}", down.log_line(&key, Some(address), &bytes));
            }
            return (None, removed);
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
