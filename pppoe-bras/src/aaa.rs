//! The AAA part of the daemon's shell: turns the data plane changes the
//! driver applies into accounting records ([`crate::accounting`]), writes
//! them to `accounting_log`, and (with RADIUS) hands them to the RADIUS
//! client. Called from `driver` only; protocol decisions live in the
//! sans-IO modules.

use std::{
    collections::{HashMap, VecDeque},
    fs::File,
    io::Write as _,
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;

use crate::{
    accounting::{unix_now, Accounting, NatBlock, Record, SessionMeta, Status, TerminateCause},
    config::{aaa::RadiusKind, Config},
    dataplane::{Dataplane, SessionCounters},
    discovery::SessionKey,
    ppp::Credential,
    query::Counters,
    radius_client::{Client, Outcome, Received, Request, ServerConfig, SubmitError, Token},
    session::{AuthRequest, ExternalVerdict},
    session::{DataplaneOp, Manager},
    wire::radius::{
        attr, code, ipv6_prefix_value, Packet, MS_PRIMARY_DNS_SERVER, MS_SECONDARY_DNS_SERVER,
        VENDOR_MICROSOFT,
    },
};

/// What an Access-Accept said that accounting needs (kept from the
/// verdict until the data path is installed).
#[derive(Debug, Clone, Default)]
pub struct Authz {
    pub acct_session_id: String,
    pub class: Vec<Vec<u8>>,
    pub interim: Option<Duration>,
    /// RADIUS Idle-Timeout.
    pub idle: Option<Duration>,
}

/// A session with an Idle-Timeout: its data-plane row and activity.
#[derive(Debug, Clone)]
struct Idle {
    timeout: Duration,
    address: Ipv4Addr,
    /// Packets both ways at the last check that saw a change.
    packets: u64,
    /// When a change was last seen (or the timeout was set).
    active: Instant,
    /// When to read the counters next.
    next_check: Instant,
}

impl Idle {
    /// Counters are read every timeout/8 (1 s to 60 s): the session ends
    /// at most that late, and the cost is one map read per session per
    /// step.
    fn step(&self) -> Duration {
        (self.timeout / 8).clamp(Duration::from_secs(1), Duration::from_secs(60))
    }
}

/// Accounting records and where they go.
pub struct Aaa {
    pub accounting: Accounting,
    log: Option<(std::path::PathBuf, File)>,
    /// Per session: the authorisation attributes for its records.
    pub authz: HashMap<SessionKey, Authz>,
    /// The daemon is stopping: stop records say Admin-Reboot.
    pub stopping: bool,
    /// Records produced and not yet taken by the RADIUS side.
    pub outbox: Vec<Record>,
    radius: Option<Radius>,
    dae: Option<(Arc<tokio::net::UdpSocket>, crate::dae::Dae)>,
    /// Sessions with an Idle-Timeout (installed ones only).
    idle: HashMap<SessionKey, Idle>,
}
/// Most stop records kept while the accounting servers are down.
const STOP_QUEUE: usize = 65536;
/// How often queued stop records are retried.
const STOP_RETRY: Duration = Duration::from_secs(5);

/// The RADIUS side: one UDP socket, an auth and an acct client.
struct Radius {
    sock: Arc<tokio::net::UdpSocket>,
    auth: Option<Client>,
    acct: Option<Client>,
    /// Local secrets when every auth server is dead.
    fallback_local: bool,
    nas_identifier: String,
    nas_ip: Ipv4Addr,
    access_if: String,
    pending_auth: HashMap<Token, AuthRequest>,
    pending_acct: HashMap<Token, (Record, Instant)>,
    /// Stop records waiting for a live accounting server.
    stops: VecDeque<(Record, Instant)>,
    stop_retry: Option<Instant>,
    /// Datagrams from addresses that are none of our servers.
    unknown_source: u64,
    log: crate::radius_client::LogLimit,
}

/// The data plane's counters in the listing's shape.
pub fn counters(c: SessionCounters) -> Counters {
    Counters {
        up_packets: c.up_packets,
        up_bytes: c.up_bytes,
        down_packets: c.down_packets,
        down_bytes: c.down_bytes,
    }
}

impl Aaa {
    pub fn new(cfg: &Config) -> anyhow::Result<Aaa> {
        let log = match &cfg.aaa.accounting_log {
            None => None,
            Some(p) => {
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(p)
                    .with_context(|| format!("accounting_log {}", p.display()))?;
                Some((p.clone(), f))
            }
        };
        Ok(Aaa {
            accounting: Accounting::new(Duration::from_secs(u64::from(
                cfg.aaa.acct_interim_interval,
            ))),
            log,
            authz: HashMap::new(),
            stopping: false,
            outbox: Vec::new(),
            radius: Radius::new(cfg)?,
            dae: match cfg.aaa.dae_listen {
                None => None,
                Some(addr) => {
                    let s = std::net::UdpSocket::bind(addr)
                        .with_context(|| format!("dae_listen {addr}"))?;
                    s.set_nonblocking(true)?;
                    log::info!("dynamic authorization (RFC 5176) on {addr}");
                    let window = cfg.aaa.dae_replay_window;
                    Some((
                        Arc::new(tokio::net::UdpSocket::from_std(s)?),
                        crate::dae::Dae::new(
                            cfg.aaa
                                .dae_clients
                                .iter()
                                .map(|c| (c.address, c.secret.expose().to_vec()))
                                .collect(),
                            (window > 0).then(|| Duration::from_secs(u64::from(window))),
                            cfg.aaa
                                .nas_identifier
                                .clone()
                                .unwrap_or_else(|| cfg.ac_name.clone()),
                        ),
                    ))
                }
            },
            idle: HashMap::new(),
        })
    }

    /// The DAE socket, to wait on.
    pub fn dae_socket(&self) -> Option<Arc<tokio::net::UdpSocket>> {
        self.dae.as_ref().map(|d| d.0.clone())
    }

    /// A Disconnect- or CoA-Request (RFC 5176), checked by
    /// [`crate::dae::Dae`]: the sessions matching every identifying
    /// attribute given are terminated (admin-reset) or get the CoA's
    /// Session-Timeout (from now) and Idle-Timeout, and the request is
    /// ACKed; none → NAK with Error-Cause 503 (Session-Context-Not-Found).
    pub fn handle_dae(&mut self, from: SocketAddr, b: &[u8], manager: &mut Manager) {
        let now = Instant::now();
        let Some((sock, dae)) = &mut self.dae else {
            return;
        };
        let out = match dae.handle(now, unix_now(SystemTime::now()), from, b) {
            crate::dae::Decision::Drop(_) => return,
            crate::dae::Decision::Answer(out) => out,
            crate::dae::Decision::Request(req) => {
                let sel = &req.selector;
                let keys: Vec<SessionKey> = manager
                    .sessions()
                    .filter(|(k, i)| {
                        sel.acct_session_id
                            .as_deref()
                            .is_none_or(|id| manager.accounting_of(k).is_some_and(|(_, a)| a == id))
                            && sel.user.as_deref().is_none_or(|u| i.user == Some(u))
                            && sel.address.is_none_or(|a| i.address == Some(a))
                            && sel
                                .mac
                                .as_deref()
                                .is_none_or(|m| crate::wire::eth::fmt_mac(&k.peer_mac) == m)
                    })
                    .map(|(k, _)| *k)
                    .collect();
                for k in &keys {
                    match req.kind {
                        crate::dae::Kind::Disconnect => {
                            log::info!(
                                "session {:#06x}: Disconnect-Request from {from}",
                                k.session_id
                            );
                            manager.kill(now, k);
                        }
                        crate::dae::Kind::Coa => {
                            log::info!(
                                "session {:#06x}: CoA-Request from {from}: session-timeout={} idle-timeout={}",
                                k.session_id,
                                req.session_timeout.map_or("-".to_owned(), |v| v.to_string()),
                                req.idle_timeout.map_or("-".to_owned(), |v| v.to_string()),
                            );
                            if let Some(t) = req.session_timeout {
                                let t = (t > 0).then(|| Duration::from_secs(u64::from(t)));
                                manager.set_session_timeout(now, k, t);
                            }
                            if let Some(t) = req.idle_timeout {
                                let t = (t > 0).then(|| Duration::from_secs(u64::from(t)));
                                if let Some(a) = self.authz.get_mut(k) {
                                    a.idle = t;
                                }
                                match (self.idle.get_mut(k), t) {
                                    (Some(_), None) => {
                                        self.idle.remove(k);
                                    }
                                    (Some(i), Some(t)) => {
                                        i.timeout = t;
                                        i.active = now;
                                        i.next_check = now + i.step();
                                    }
                                    (None, Some(t)) => {
                                        // Installed already: watch it from now.
                                        if let Some(address) =
                                            self.accounting.meta(k).and_then(|m| m.address)
                                        {
                                            let mut i = Idle {
                                                timeout: t,
                                                address,
                                                packets: u64::MAX,
                                                active: now,
                                                next_check: now,
                                            };
                                            i.next_check = now + i.step();
                                            self.idle.insert(*k, i);
                                        }
                                    }
                                    (None, None) => {}
                                }
                            }
                        }
                    }
                }
                let result = if keys.is_empty() {
                    Err(crate::dae::cause::SESSION_CONTEXT_NOT_FOUND)
                } else {
                    Ok(())
                };
                dae.respond(&req, result)
            }
        };
        if let Err(e) = sock.try_send_to(&out, from) {
            log::warn!("DAE: answer to {from}: {e}");
        }
    }

    /// Sessions whose Idle-Timeout ran out: no packet either way in the
    /// data plane's counters for that long → ended, cause idle-timeout.
    /// Cheap: only sessions with an Idle-Timeout whose next check is due
    /// are read.
    pub fn check_idle(&mut self, manager: &mut Manager, dataplane: &Dataplane, bras_mac: [u8; 6]) {
        if self.idle.is_empty() {
            return;
        }
        let now = Instant::now();
        let mut expired = Vec::new();
        for (key, i) in &mut self.idle {
            if i.next_check > now {
                continue;
            }
            let row = crate::driver::session_row(key, bras_mac, i.address, 0);
            let c = dataplane.counters(&row);
            let packets = c.up_packets + c.down_packets;
            if idle_step(i, now, packets) {
                expired.push(*key);
            }
        }
        for key in expired {
            let i = self.idle.remove(&key);
            log::info!(
                "session {:#06x} {} idle timeout ({}s without traffic)",
                key.session_id,
                crate::wire::eth::fmt_mac(&key.peer_mac),
                i.map_or(0, |i| i.timeout.as_secs())
            );
            manager.close(now, &key, crate::ppp::DownReason::IdleTimeout);
        }
    }

    /// The RADIUS socket, to wait on.
    pub fn socket(&self) -> Option<Arc<tokio::net::UdpSocket>> {
        self.radius.as_ref().map(|r| r.sock.clone())
    }

    /// True when credentials go to RADIUS.
    pub fn external_auth(&self) -> bool {
        self.radius.as_ref().is_some_and(|r| r.auth.is_some())
    }

    /// Moves work between the manager and RADIUS: credentials out, records
    /// out, verdicts in, datagrams sent. Returns true when the manager got
    /// input (flush again).
    pub fn pump(&mut self, manager: &mut Manager) -> bool {
        let now = Instant::now();
        let records = std::mem::take(&mut self.outbox);
        let Some(r) = &mut self.radius else {
            return false;
        };
        let mut fed = false;
        while let Some(req) = manager.poll_auth_request() {
            fed |= r.submit_auth(now, req, manager);
        }
        for rec in records {
            r.submit_acct(now, rec, now);
        }
        fed |= r.results(now, manager, &mut self.authz);
        r.send();
        fed
    }

    /// A datagram on the RADIUS socket.
    pub fn handle_datagram(&mut self, from: SocketAddr, b: &[u8]) {
        let now = Instant::now();
        if let Some(r) = &mut self.radius {
            let mut got = Received::NotOurs;
            for c in [r.auth.as_mut(), r.acct.as_mut()].into_iter().flatten() {
                got = c.handle_datagram(now, from, b);
                if got != Received::NotOurs {
                    break;
                }
            }
            if got == Received::NotOurs {
                r.unknown_source += 1;
                if let Some(n) = r.log.allow(now, "unknown source") {
                    log::warn!(
                        "RADIUS: dropped a datagram from {from}, not one of our servers{}",
                        crate::radius_client::LogLimit::more(n)
                    );
                }
            }
        }
    }

    /// Accounting-On (daemon start) or -Off (clean stop), RFC 2866 §5.1.
    pub fn accounting_on_off(&mut self, on: bool) {
        let now = Instant::now();
        if let Some(r) = &mut self.radius {
            let status = if on { 7 } else { 8 };
            let mut attrs = vec![(attr::ACCT_STATUS_TYPE, u32::to_be_bytes(status).to_vec())];
            r.nas_attrs(&mut attrs);
            attrs.push((
                attr::ACCT_SESSION_ID,
                format!(
                    "{}-{}",
                    if on { "on" } else { "off" },
                    unix_now(SystemTime::now())
                )
                .into_bytes(),
            ));
            if let Some(c) = &mut r.acct {
                let _ = c.submit(
                    now,
                    Request {
                        code: code::ACCOUNTING_REQUEST,
                        attrs,
                        password: None,
                        created: None,
                    },
                );
            }
            r.send();
        }
    }

    /// `radius.*` lines for `pppoe-bras stats`: per server
    /// (`radius.<addr:port>.<counter>`), per client (`radius.auth.*`,
    /// `radius.acct.*`) and the DAE outcomes (`radius.dae.*`).
    pub fn stats(&self) -> Vec<(String, u64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        if let Some(r) = &self.radius {
            for (kind, c) in [("auth", &r.auth), ("acct", &r.acct)] {
                let Some(c) = c else { continue };
                for (addr, dead, st) in c.servers(now) {
                    out.push((format!("radius.{addr}.dead"), u64::from(dead)));
                    for (n, v) in st.counters() {
                        out.push((format!("radius.{addr}.{n}"), v));
                    }
                }
                let s = &c.stats;
                for (n, v) in [
                    ("in_flight", c.in_flight() as u64),
                    ("queued", c.queued() as u64),
                    ("max_outstanding", c.max_outstanding() as u64),
                    ("max_outstanding_seen", s.max_outstanding_seen),
                    ("max_queued_seen", s.max_queued_seen),
                    ("failovers", s.failovers),
                    ("no_server", s.no_server),
                    ("busy", s.busy),
                ] {
                    out.push((format!("radius.{kind}.{n}"), v));
                }
            }
            out.push(("radius.acct.stop_queue".to_owned(), r.stops.len() as u64));
            out.push(("radius.dropped_unknown_source".to_owned(), r.unknown_source));
        }
        if let Some((_, d)) = &self.dae {
            for (n, v) in d.stats.counters() {
                out.push((format!("radius.dae.{n}"), v));
            }
        }
        out
    }

    /// The RADIUS series of `/metrics`.
    pub fn metrics(&self) -> Vec<crate::metrics::Series> {
        use crate::metrics::Series;
        let now = Instant::now();
        let mut out = Vec::new();
        let l = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
        };
        if let Some(r) = &self.radius {
            for (kind, c) in [("auth", &r.auth), ("acct", &r.acct)] {
                let Some(c) = c else { continue };
                for (addr, dead, st) in c.servers(now) {
                    let server = addr.to_string();
                    let sk = [("server", server.as_str()), ("kind", kind)];
                    out.push(Series::counter("radius_requests", l(&sk), st.requests));
                    for (outcome, v) in [
                        ("accept", st.accepts),
                        ("reject", st.rejects),
                        ("challenge", st.challenges),
                        ("accounting_response", st.acct_responses),
                        ("timeout", st.timeouts),
                    ] {
                        let mut lab = l(&sk);
                        lab.push(("outcome", outcome.to_owned()));
                        out.push(Series::counter("radius_request_outcomes", lab, v));
                    }
                    out.push(Series::counter(
                        "radius_retransmits",
                        l(&sk),
                        st.retransmits,
                    ));
                    for reason in crate::radius_client::DropReason::ALL {
                        let mut lab = l(&sk);
                        lab.push(("reason", reason.name().to_owned()));
                        out.push(Series::counter(
                            "radius_dropped_responses",
                            lab,
                            st.dropped[reason as usize],
                        ));
                    }
                    out.push(Series::gauge("radius_server_dead", l(&sk), u64::from(dead)));
                }
                let k = [("kind", kind)];
                out.push(Series::gauge(
                    "radius_in_flight",
                    l(&k),
                    c.in_flight() as u64,
                ));
                out.push(Series::gauge("radius_queued", l(&k), c.queued() as u64));
                out.push(Series::gauge(
                    "radius_max_outstanding_seen",
                    l(&k),
                    c.stats.max_outstanding_seen,
                ));
                out.push(Series::counter(
                    "radius_failovers",
                    l(&k),
                    c.stats.failovers,
                ));
            }
            out.push(Series::gauge(
                "radius_stop_queue",
                Vec::new(),
                r.stops.len() as u64,
            ));
        }
        if let Some((_, d)) = &self.dae {
            for (n, v) in d.stats.counters() {
                out.push(Series::counter(
                    "radius_dae_requests",
                    l(&[("outcome", n)]),
                    v,
                ));
            }
        }
        out
    }

    /// Accounting requests still waiting (for the stop sequence).
    pub fn acct_outstanding(&self) -> usize {
        self.radius.as_ref().map_or(0, |r| {
            r.acct.as_ref().map_or(0, Client::outstanding) + r.stops.len()
        })
    }

    fn emit(&mut self, r: Record) {
        if let Some((path, f)) = &mut self.log {
            let mut line = r.json();
            line.push('\n');
            if let Err(e) = f.write_all(line.as_bytes()) {
                log::warn!("accounting_log {}: {e}", path.display());
            }
        }
        self.outbox.push(r);
    }

    /// What AAA knows of a session, into its state-file entry: Class,
    /// Acct-Interim-Interval and Idle-Timeout from the Access-Accept.
    pub fn save(&self, key: &SessionKey, s: &mut crate::state::SavedSession) {
        if let Some(meta) = self.accounting.meta(key) {
            s.class = meta
                .class
                .iter()
                .map(|c| c.iter().map(|b| format!("{b:02x}")).collect())
                .collect();
            s.interim_secs = meta.interim.map(|d| d.as_secs());
        }
        s.idle_secs = self.idle.get(key).map(|i| i.timeout.as_secs());
    }

    /// A session re-adopted after a restart: its accounting goes on under
    /// its Acct-Session-Id (no second Start; Interim and Stop count from its
    /// start, the data-plane slot kept its counters), with its Class,
    /// interim interval and Idle-Timeout as the state file has them.
    pub fn resume(
        &mut self,
        now: Instant,
        key: SessionKey,
        saved: &crate::state::SavedSession,
        dataplane: &Dataplane,
        bras_mac: [u8; 6],
    ) {
        let row = crate::driver::session_row(&key, bras_mac, saved.address, 0);
        let nat = dataplane
            .nat_block(&row)
            .map(|(address, first, size)| NatBlock {
                address,
                first_port: first,
                last_port: (u32::from(first) + u32::from(size) - 1) as u16,
            });
        let unhex = |h: &String| -> Option<Vec<u8>> {
            h.len()
                .is_multiple_of(2)
                .then(|| {
                    (0..h.len())
                        .step_by(2)
                        .map(|i| u8::from_str_radix(h.get(i..i + 2)?, 16).ok())
                        .collect()
                })
                .flatten()
        };
        let class: Vec<Vec<u8>> = saved.class.iter().filter_map(unhex).collect();
        let interim = saved.interim_secs.map(Duration::from_secs);
        if let Some(t) = saved.idle_secs.filter(|t| *t > 0) {
            let c = dataplane.counters(&row);
            let mut i = Idle {
                timeout: Duration::from_secs(t),
                address: saved.address,
                packets: c.up_packets + c.down_packets,
                active: now,
                next_check: now,
            };
            i.next_check = now + i.step();
            self.idle.insert(key, i);
        }
        self.authz.insert(
            key,
            Authz {
                acct_session_id: saved.acct_id.clone(),
                class: class.clone(),
                interim,
                idle: saved.idle_secs.map(Duration::from_secs),
            },
        );
        let started = now
            .checked_sub(Duration::from_secs(saved.age_secs))
            .unwrap_or(now);
        let meta = SessionMeta {
            acct_session_id: saved.acct_id.clone(),
            user: saved.user.clone(),
            address: Some(saved.address),
            nat,
            class,
            interim,
            ipv6: None,
            delegated: None,
        };
        self.accounting.resume(now, started, key, meta);
    }

    /// A map change was applied (`ok`: installed; `removed`: the counters
    /// the removed rows had).
    pub fn applied(
        &mut self,
        manager: &Manager,
        dataplane: &Dataplane,
        bras_mac: [u8; 6],
        op: &DataplaneOp,
        ok: bool,
        removed: Option<SessionCounters>,
    ) {
        let now = Instant::now();
        match op {
            DataplaneOp::Install { key, address, .. } if ok => {
                let Some((user, acct_id)) = manager.accounting_of(key) else {
                    return;
                };
                // Rows under no address while IPCP still negotiates: the
                // start record waits for the address (or for IPCP to give
                // up, which installs the rows again).
                if address.is_unspecified()
                    && manager.ipv4_pending(key)
                    && self.accounting.acct_session_id(key) != Some(acct_id)
                {
                    return;
                }
                let row = crate::driver::session_row(key, bras_mac, *address, 0);
                let nat = dataplane
                    .nat_block(&row)
                    .map(|(address, first, size)| NatBlock {
                        address,
                        first_port: first,
                        last_port: (u32::from(first) + u32::from(size) - 1) as u16,
                    });
                let authz = self
                    .authz
                    .get(key)
                    .filter(|a| a.acct_session_id == acct_id)
                    .cloned()
                    .unwrap_or_default();
                match authz.idle {
                    Some(timeout) => {
                        let c = dataplane.counters(&row);
                        let mut i = Idle {
                            timeout,
                            address: *address,
                            packets: c.up_packets + c.down_packets,
                            active: now,
                            next_check: now,
                        };
                        i.next_check = now + i.step();
                        self.idle.insert(*key, i);
                    }
                    None => {
                        self.idle.remove(key);
                    }
                }
                let meta = SessionMeta {
                    acct_session_id: acct_id.to_owned(),
                    user: user.unwrap_or("").to_owned(),
                    // None: IPv6 only (no Framed-IP-Address in accounting).
                    address: (!address.is_unspecified()).then_some(*address),
                    nat,
                    class: authz.class,
                    interim: authz.interim,
                    ipv6: None,
                    delegated: None,
                };
                if let Some(r) = self.accounting.start(now, SystemTime::now(), *key, meta) {
                    self.emit(r);
                }
            }
            DataplaneOp::Install { .. } => {}
            // The records carry the prefixes (RFC 6911); the counters
            // count both families on the session's slot.
            DataplaneOp::InstallV6 {
                key,
                prefix64,
                delegated,
                ..
            } => self.accounting.set_ipv6(*key, Some(*prefix64), *delegated),
            // The last prefixes stay in the records (like the address);
            // only prefixes still waiting for a start record go.
            DataplaneOp::RemoveV6 {
                key,
                prefix64: Some(_),
                ..
            } => self.accounting.forget_pending_ipv6(key),
            DataplaneOp::RemoveV6 { .. } => {}
            DataplaneOp::Remove { key, down, .. } => {
                let c = removed.map(counters).unwrap_or_default();
                match down {
                    None => self.accounting.carry(key, c),
                    Some(d) => {
                        self.authz.remove(key);
                        self.idle.remove(key);
                        let cause = if self.stopping {
                            TerminateCause::AdminReboot
                        } else {
                            TerminateCause::from_down(&d.reason)
                        };
                        if let Some(r) = self.accounting.stop(now, SystemTime::now(), key, c, cause)
                        {
                            self.emit(r);
                        }
                    }
                }
            }
        }
    }

    /// Forget the authorisation of sessions that ended without a data path.
    pub fn prune(&mut self, manager: &Manager) {
        self.authz.retain(|k, a| {
            manager
                .accounting_of(k)
                .is_some_and(|(_, id)| id == a.acct_session_id)
        });
    }

    /// Earliest interim, retransmission or retry deadline.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut at = self.accounting.poll_timeout();
        if let Some(r) = &self.radius {
            for t in [
                r.auth.as_ref().and_then(Client::poll_timeout),
                r.acct.as_ref().and_then(Client::poll_timeout),
                r.stop_retry,
            ]
            .into_iter()
            .flatten()
            {
                at = Some(at.map_or(t, |a| a.min(t)));
            }
        }
        at
    }

    /// Interim records that are due, with the rows' current counters.
    pub fn handle_timeout(&mut self, dataplane: &Dataplane, bras_mac: [u8; 6]) {
        let now = Instant::now();
        if let Some(r) = &mut self.radius {
            if let Some(c) = &mut r.auth {
                c.handle_timeout(now);
            }
            if let Some(c) = &mut r.acct {
                c.handle_timeout(now);
            }
            if r.stop_retry.is_some_and(|t| t <= now) {
                r.stop_retry = None;
                let queued: Vec<_> = r.stops.drain(..).collect();
                for (rec, created) in queued {
                    r.submit_acct(now, rec, created);
                }
                r.send();
            }
        }
        for key in self.accounting.due(now) {
            let Some(address) = self.accounting.meta(&key).and_then(|m| m.address) else {
                continue;
            };
            let row = crate::driver::session_row(&key, bras_mac, address, 0);
            let c = counters(dataplane.counters(&row));
            if let Some(r) = self.accounting.interim(now, SystemTime::now(), &key, c) {
                self.emit(r);
            }
        }
    }
}

impl Radius {
    fn new(cfg: &Config) -> anyhow::Result<Option<Radius>> {
        let a = &cfg.aaa;
        if a.radius_servers.is_empty() {
            return Ok(None);
        }
        let servers = |kind| -> Vec<ServerConfig> {
            a.servers(kind)
                .map(|s| ServerConfig {
                    addr: SocketAddr::from((s.address, s.port)),
                    secret: s.secret.expose().to_vec(),
                    timeout: Duration::from_secs(u64::from(s.timeout)),
                    retries: s.retries,
                    priority: s.priority,
                    weight: s.weight,
                })
                .collect()
        };
        let auth = servers(RadiusKind::Auth);
        let acct = servers(RadiusKind::Acct);
        let first = auth.first().or(acct.first()).map(|s| s.addr);
        // The address the kernel picks towards the first server: our
        // NAS-IP-Address.
        let std_sock = std::net::UdpSocket::bind("0.0.0.0:0").context("RADIUS socket")?;
        let nas_ip = first
            .and_then(|f| {
                let probe = std::net::UdpSocket::bind("0.0.0.0:0").ok()?;
                probe.connect(f).ok()?;
                match probe.local_addr().ok()?.ip() {
                    std::net::IpAddr::V4(v) => Some(v),
                    std::net::IpAddr::V6(_) => None,
                }
            })
            .unwrap_or(Ipv4Addr::UNSPECIFIED);
        std_sock.set_nonblocking(true)?;
        let sock = tokio::net::UdpSocket::from_std(std_sock)?;
        let dead = Duration::from_secs(u64::from(a.radius_dead_time));
        log::info!(
            "RADIUS: {} auth and {} acct server(s), NAS-IP-Address {nas_ip}",
            auth.len(),
            acct.len()
        );
        Ok(Some(Radius {
            sock: Arc::new(sock),
            auth: (a.radius_auth() && !auth.is_empty())
                .then(|| Client::new(auth, a.radius_max_outstanding as usize).with_dead_time(dead)),
            acct: (!acct.is_empty())
                .then(|| Client::new(acct, a.radius_max_outstanding as usize).with_dead_time(dead)),
            fallback_local: a.local_auth(),
            nas_identifier: a
                .nas_identifier
                .clone()
                .unwrap_or_else(|| cfg.ac_name.clone()),
            nas_ip,
            access_if: cfg.access_interface.clone(),
            pending_auth: HashMap::new(),
            pending_acct: HashMap::new(),
            stops: VecDeque::new(),
            stop_retry: None,
            unknown_source: 0,
            log: crate::radius_client::LogLimit::new(Duration::from_secs(60)),
        }))
    }

    fn nas_attrs(&self, attrs: &mut Vec<(u8, Vec<u8>)>) {
        attrs.push((
            attr::NAS_IDENTIFIER,
            self.nas_identifier.as_bytes().to_vec(),
        ));
        attrs.push((attr::NAS_IP_ADDRESS, self.nas_ip.octets().to_vec()));
    }

    /// The attributes every request about a session carries.
    fn session_attrs(
        &self,
        attrs: &mut Vec<(u8, Vec<u8>)>,
        user: &str,
        key: &SessionKey,
        acct_id: &str,
    ) {
        attrs.push((attr::USER_NAME, user.as_bytes().to_vec()));
        self.nas_attrs(attrs);
        let mut port = self.access_if.clone();
        if key.vlans.outer.is_some() {
            port.push(':');
            port.push_str(&key.vlans.outer_vid().to_string());
            if key.vlans.inner.is_some() {
                port.push('.');
                port.push_str(&key.vlans.inner_vid().to_string());
            }
        }
        attrs.push((attr::NAS_PORT_ID, port.into_bytes()));
        attrs.push((attr::NAS_PORT_TYPE, 15u32.to_be_bytes().to_vec())); // Ethernet
        attrs.push((
            attr::CALLING_STATION_ID,
            crate::wire::eth::fmt_mac(&key.peer_mac).into_bytes(),
        ));
        attrs.push((attr::SERVICE_TYPE, 2u32.to_be_bytes().to_vec())); // Framed
        attrs.push((attr::FRAMED_PROTOCOL, 1u32.to_be_bytes().to_vec())); // PPP
        attrs.push((attr::ACCT_SESSION_ID, acct_id.as_bytes().to_vec()));
    }

    /// Returns true when the manager got a verdict right away.
    fn submit_auth(&mut self, now: Instant, req: AuthRequest, manager: &mut Manager) -> bool {
        if self.auth.is_none() {
            return false;
        }
        let mut attrs = Vec::new();
        self.session_attrs(&mut attrs, &req.user, &req.key, &req.acct_session_id);
        let password = match &req.credential {
            Credential::Pap { password } => Some(password.clone()),
            Credential::ChapMd5 {
                identifier,
                challenge,
                response,
            } => {
                let mut v = vec![*identifier];
                v.extend_from_slice(response);
                attrs.push((attr::CHAP_PASSWORD, v));
                attrs.push((attr::CHAP_CHALLENGE, challenge.clone()));
                None
            }
        };
        let Some(client) = self.auth.as_mut() else {
            return false;
        };
        let r = client.submit(
            now,
            Request {
                code: code::ACCESS_REQUEST,
                attrs,
                password,
                created: None,
            },
        );
        match r {
            Ok(token) => {
                self.pending_auth.insert(token, req);
                false
            }
            Err(e) => {
                let verdict = self.unavailable(&req, e);
                manager.handle_auth_verdict(now, &req, verdict)
            }
        }
    }

    /// No server to ask: local secrets (when configured) or refusal.
    fn unavailable(&self, req: &AuthRequest, why: SubmitError) -> ExternalVerdict {
        if self.fallback_local && why == SubmitError::AllDead {
            log::warn!(
                "session {:#06x} user={}: every RADIUS auth server is dead: local secrets",
                req.key.session_id,
                crate::wire::text::escape(&req.user)
            );
            return ExternalVerdict::Local(req.credential.clone());
        }
        log::warn!(
            "session {:#06x} user={}: RADIUS: {why}",
            req.key.session_id,
            crate::wire::text::escape(&req.user)
        );
        ExternalVerdict::Reject {
            message: "authentication unavailable".to_owned(),
        }
    }

    fn submit_acct(&mut self, now: Instant, rec: Record, created: Instant) {
        let Some(client) = &mut self.acct else {
            return;
        };
        let mut attrs = Vec::new();
        let status = rec.status as u32;
        attrs.push((attr::ACCT_STATUS_TYPE, status.to_be_bytes().to_vec()));
        let key_mac = rec.client_mac.clone();
        attrs.push((attr::USER_NAME, rec.user.as_bytes().to_vec()));
        attrs.push((
            attr::NAS_IDENTIFIER,
            self.nas_identifier.as_bytes().to_vec(),
        ));
        attrs.push((attr::NAS_IP_ADDRESS, self.nas_ip.octets().to_vec()));
        let mut port = self.access_if.clone();
        if !rec.vlans.is_empty() {
            let v: Vec<String> = rec.vlans.iter().map(u16::to_string).collect();
            port = format!("{port}:{}", v.join("."));
        }
        attrs.push((attr::NAS_PORT_ID, port.into_bytes()));
        attrs.push((attr::NAS_PORT_TYPE, 15u32.to_be_bytes().to_vec()));
        attrs.push((attr::CALLING_STATION_ID, key_mac.into_bytes()));
        attrs.push((attr::SERVICE_TYPE, 2u32.to_be_bytes().to_vec()));
        attrs.push((attr::FRAMED_PROTOCOL, 1u32.to_be_bytes().to_vec()));
        attrs.push((
            attr::ACCT_SESSION_ID,
            rec.acct_session_id.as_bytes().to_vec(),
        ));
        if let Some(a) = rec.framed_address {
            attrs.push((attr::FRAMED_IP_ADDRESS, a.octets().to_vec()));
        }
        if let Some((a, l)) = rec.framed_ipv6_prefix {
            attrs.push((attr::FRAMED_IPV6_PREFIX, ipv6_prefix_value(a, l)));
        }
        if let Some((a, l)) = rec.delegated_ipv6_prefix {
            attrs.push((attr::DELEGATED_IPV6_PREFIX, ipv6_prefix_value(a, l)));
        }
        for c in &rec.class_raw {
            attrs.push((attr::CLASS, c.clone()));
        }
        attrs.push((
            attr::EVENT_TIMESTAMP,
            (rec.time as u32).to_be_bytes().to_vec(),
        ));
        if rec.status != Status::Start {
            let lo = |v: u64| (v as u32).to_be_bytes().to_vec();
            let hi = |v: u64| ((v >> 32) as u32).to_be_bytes().to_vec();
            attrs.push((attr::ACCT_INPUT_OCTETS, lo(rec.input_octets)));
            attrs.push((attr::ACCT_INPUT_GIGAWORDS, hi(rec.input_octets)));
            attrs.push((attr::ACCT_OUTPUT_OCTETS, lo(rec.output_octets)));
            attrs.push((attr::ACCT_OUTPUT_GIGAWORDS, hi(rec.output_octets)));
            attrs.push((attr::ACCT_INPUT_PACKETS, lo(rec.input_packets)));
            attrs.push((attr::ACCT_OUTPUT_PACKETS, lo(rec.output_packets)));
            attrs.push((attr::ACCT_SESSION_TIME, lo(rec.session_time)));
        }
        if let Some(c) = rec.terminate_cause {
            attrs.push((attr::ACCT_TERMINATE_CAUSE, c.code().to_be_bytes().to_vec()));
        }
        let req = Request {
            code: code::ACCOUNTING_REQUEST,
            attrs,
            password: None,
            created: Some(created),
        };
        match client.submit(now, req) {
            Ok(t) => {
                self.pending_acct.insert(t, (rec, created));
            }
            Err(e) => self.park(now, rec, created, &e.to_string()),
        }
    }

    /// A record no server took: stops wait (bounded), the rest is dropped.
    fn park(&mut self, now: Instant, rec: Record, created: Instant, why: &str) {
        if rec.status == Status::Stop {
            if self.stops.len() >= STOP_QUEUE {
                log::warn!("RADIUS accounting: stop queue full, dropping the oldest stop");
                self.stops.pop_front();
            }
            self.stops.push_back((rec, created));
            self.stop_retry.get_or_insert(now + STOP_RETRY);
        } else {
            log::warn!(
                "RADIUS accounting: {why}: {:?} record of {} not sent",
                rec.status,
                rec.acct_session_id
            );
        }
    }

    /// Results of finished requests. True when the manager got input.
    fn results(
        &mut self,
        now: Instant,
        manager: &mut Manager,
        authz: &mut HashMap<SessionKey, Authz>,
    ) -> bool {
        let mut fed = false;
        while let Some((token, outcome)) = self.auth.as_mut().and_then(Client::poll_result) {
            let Some(req) = self.pending_auth.remove(&token) else {
                continue;
            };
            let verdict = match outcome {
                Outcome::NoServer => self.unavailable(&req, SubmitError::AllDead),
                Outcome::Response(p) => verdict_of(&p, &req, authz),
            };
            if !manager.handle_auth_verdict(now, &req, verdict) {
                log::debug!(
                    "session {:#06x}: RADIUS answer for a session that is gone",
                    req.key.session_id
                );
            }
            fed = true;
        }
        while let Some((token, outcome)) = self.acct.as_mut().and_then(Client::poll_result) {
            let Some((rec, created)) = self.pending_acct.remove(&token) else {
                continue;
            };
            if outcome == Outcome::NoServer {
                self.park(now, rec, created, "no accounting server answered");
            }
        }
        fed
    }

    /// Send what the clients queued.
    fn send(&mut self) {
        for c in [self.auth.as_mut(), self.acct.as_mut()]
            .into_iter()
            .flatten()
        {
            while let Some((to, b)) = c.poll_transmit() {
                if let Err(e) = self.sock.try_send_to(&b, to) {
                    log::warn!("RADIUS send to {to}: {e}");
                }
            }
        }
    }
}

/// One check of an idle-watched session that has `packets` (both ways)
/// now: true when it has been idle for its timeout. Schedules the next.
fn idle_step(i: &mut Idle, now: Instant, packets: u64) -> bool {
    if packets != i.packets {
        i.packets = packets;
        i.active = now;
    } else if now.saturating_duration_since(i.active) >= i.timeout {
        return true;
    }
    i.next_check = (now + i.step()).min(i.active + i.timeout);
    false
}

/// The manager's verdict from an Access-Accept/-Reject (and what
/// accounting keeps: Class, Acct-Interim-Interval).
fn verdict_of(
    p: &Packet,
    req: &AuthRequest,
    authz: &mut HashMap<SessionKey, Authz>,
) -> ExternalVerdict {
    let reply: Vec<String> = p
        .all(attr::REPLY_MESSAGE)
        .map(|m| String::from_utf8_lossy(m).into_owned())
        .collect();
    let message = (!reply.is_empty()).then(|| reply.concat());
    if p.code != code::ACCESS_ACCEPT {
        return ExternalVerdict::Reject {
            message: message.unwrap_or_else(|| "authentication failed".to_owned()),
        };
    }
    if !req.reauth {
        authz.insert(
            req.key,
            Authz {
                acct_session_id: req.acct_session_id.clone(),
                class: p.all(attr::CLASS).map(<[u8]>::to_vec).collect(),
                interim: p
                    .get_u32(attr::ACCT_INTERIM_INTERVAL)
                    .filter(|v| *v > 0)
                    .map(|v| Duration::from_secs(u64::from(v))),
                idle: p
                    .get_u32(attr::IDLE_TIMEOUT)
                    .filter(|v| *v > 0)
                    .map(|v| Duration::from_secs(u64::from(v))),
            },
        );
    }
    let address = p
        .get_ipv4(attr::FRAMED_IP_ADDRESS)
        .filter(|a| *a != Ipv4Addr::new(255, 255, 255, 254) && *a != Ipv4Addr::BROADCAST);
    let ip = |t| {
        p.vendor(VENDOR_MICROSOFT, t)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(Ipv4Addr::from)
    };
    let dns = [ip(MS_PRIMARY_DNS_SERVER), ip(MS_SECONDARY_DNS_SERVER)];
    ExternalVerdict::Accept {
        address,
        pool: p
            .get(attr::FRAMED_POOL)
            .map(|v| String::from_utf8_lossy(v).into_owned())
            .filter(|n| !n.is_empty()),
        session_timeout: p
            .get_u32(attr::SESSION_TIMEOUT)
            .filter(|v| *v > 0)
            .map(|v| Duration::from_secs(u64::from(v))),
        dns: dns[0].is_some().then_some(dns),
        message,
        ipv6_prefix: p.get_ipv6_prefix(attr::FRAMED_IPV6_PREFIX),
        delegated: p.get_ipv6_prefix(attr::DELEGATED_IPV6_PREFIX),
        // RFC 2865 §5.12: 64..65535; below IPv4's minimum (68) it is ignored.
        framed_mtu: p
            .get_u32(attr::FRAMED_MTU)
            .filter(|v| *v >= 68)
            .map(|v| u16::try_from(v).unwrap_or(u16::MAX)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn idle(timeout: u64, t0: Instant) -> Idle {
        let mut i = Idle {
            timeout: Duration::from_secs(timeout),
            address: Ipv4Addr::new(172, 16, 0, 100),
            packets: 0,
            active: t0,
            next_check: t0,
        };
        i.next_check = t0 + i.step();
        i
    }

    #[test]
    fn idle_session_expires_after_its_timeout_and_traffic_restarts_it() {
        let t0 = Instant::now();
        let s = Duration::from_secs;
        let mut i = idle(3, t0);
        assert_eq!(i.next_check, t0 + s(1), "timeout/8 clamped to 1 s");
        assert!(!idle_step(&mut i, t0 + s(1), 0));
        assert!(!idle_step(&mut i, t0 + s(2), 0));
        // Traffic at 2.5 s: seen at the 3 s check, counted from there.
        assert!(!idle_step(&mut i, t0 + s(3), 4));
        assert_eq!(i.active, t0 + s(3));
        assert!(!idle_step(&mut i, t0 + s(5), 4));
        assert!(idle_step(&mut i, t0 + s(6), 4), "3 s without a packet");
        // Long timeouts: checked every timeout/8 (at most 60 s), and never
        // later than when the timeout runs out.
        let mut i = idle(3600, t0);
        assert_eq!(i.next_check, t0 + s(60));
        assert!(!idle_step(&mut i, t0 + s(3590), 0));
        assert_eq!(i.next_check, t0 + s(3600));
        assert!(idle_step(&mut i, t0 + s(3600), 0));
    }

    #[test]
    fn access_accept_idle_timeout_is_kept_for_the_session() {
        let key = SessionKey {
            vlans: Default::default(),
            peer_mac: [2, 0, 0, 0, 0, 1],
            session_id: 1,
        };
        let req = AuthRequest {
            key,
            acct_session_id: "x-1".into(),
            user: "u".into(),
            credential: Credential::Pap {
                password: b"p".to_vec(),
            },
            reauth: false,
        };
        let mut p = Packet::new(code::ACCESS_ACCEPT, 1);
        p.add_u32(attr::IDLE_TIMEOUT, 3);
        p.add_u32(attr::SESSION_TIMEOUT, 60);
        p.add_u32(attr::FRAMED_MTU, 1400);
        // RFC 3162 / RFC 4818 prefixes: only the significant bytes sent.
        p.add(
            attr::FRAMED_IPV6_PREFIX,
            &[0, 64, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0x00, 0x77],
        );
        p.add(
            attr::DELEGATED_IPV6_PREFIX,
            &[0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0x77],
        );
        let mut authz = HashMap::new();
        let v = verdict_of(&p, &req, &mut authz);
        assert!(matches!(
            v,
            ExternalVerdict::Accept {
                session_timeout: Some(t),
                ..
            } if t == Duration::from_secs(60)
        ));
        let ExternalVerdict::Accept {
            ipv6_prefix,
            delegated,
            framed_mtu,
            ..
        } = v
        else {
            panic!("accept");
        };
        assert_eq!(framed_mtu, Some(1400));
        assert_eq!(
            ipv6_prefix,
            Some(("2001:db8:100:77::".parse().unwrap(), 64))
        );
        assert_eq!(
            delegated,
            Some(("2001:db8:200:7700::".parse().unwrap(), 56))
        );
        assert_eq!(authz[&key].idle, Some(Duration::from_secs(3)));
    }
}
