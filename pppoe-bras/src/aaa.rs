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
    radius_client::{Client, Outcome, Request, ServerConfig, SubmitError, Token},
    session::{AuthRequest, ExternalVerdict},
    session::{DataplaneOp, Manager},
    wire::radius::{
        attr, code, Packet, MS_PRIMARY_DNS_SERVER, MS_SECONDARY_DNS_SERVER, VENDOR_MICROSOFT,
    },
};

/// What an Access-Accept said that accounting needs (kept from the
/// verdict until the data path is installed).
#[derive(Debug, Clone, Default)]
pub struct Authz {
    pub acct_session_id: String,
    pub class: Vec<Vec<u8>>,
    pub interim: Option<Duration>,
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
    dae: Option<Dae>,
}

/// RFC 5176 dynamic authorization server (Disconnect-Request only).
struct Dae {
    sock: Arc<tokio::net::UdpSocket>,
    clients: Vec<(Ipv4Addr, Vec<u8>)>,
}

/// Most outstanding RADIUS requests per client.
const MAX_OUTSTANDING: usize = 4096;
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
                    Some(Dae {
                        sock: Arc::new(tokio::net::UdpSocket::from_std(s)?),
                        clients: cfg
                            .aaa
                            .dae_clients
                            .iter()
                            .map(|c| (c.address, c.secret.expose().to_vec()))
                            .collect(),
                    })
                }
            },
        })
    }

    /// The DAE socket, to wait on.
    pub fn dae_socket(&self) -> Option<Arc<tokio::net::UdpSocket>> {
        self.dae.as_ref().map(|d| d.sock.clone())
    }

    /// A Disconnect-Request (RFC 5176 §3): the sessions matching every
    /// identifying attribute given are terminated (admin-reset) and ACKed;
    /// none → NAK with Error-Cause 503 (Session-Context-Not-Found).
    /// Requests from unknown clients or with a bad authenticator are dropped.
    pub fn handle_dae(&mut self, from: SocketAddr, b: &[u8], manager: &mut Manager) {
        let Some(dae) = &self.dae else {
            return;
        };
        let std::net::IpAddr::V4(ip) = from.ip() else {
            return;
        };
        let Some((_, secret)) = dae.clients.iter().find(|(a, _)| *a == ip) else {
            log::warn!("DAE: request from unknown client {from} dropped");
            return;
        };
        let Ok(req) = Packet::parse(b) else {
            return;
        };
        if req.code != code::DISCONNECT_REQUEST
            || !crate::wire::radius::verify_request_digest(b, secret)
        {
            log::warn!("DAE: request from {from} (code {}) failed verification or is not a Disconnect-Request", req.code);
            return;
        }
        let id = req.get_str(attr::ACCT_SESSION_ID);
        let user = req.get_str(attr::USER_NAME);
        let addr = req.get_ipv4(attr::FRAMED_IP_ADDRESS);
        let mac = req
            .get_str(attr::CALLING_STATION_ID)
            .map(|m| m.to_ascii_lowercase().replace('-', ":"));
        let keys: Vec<SessionKey> =
            if id.is_none() && user.is_none() && addr.is_none() && mac.is_none() {
                Vec::new()
            } else {
                manager
                    .sessions()
                    .filter(|(k, i)| {
                        id.as_deref()
                            .is_none_or(|id| manager.accounting_of(k).is_some_and(|(_, a)| a == id))
                            && user.as_deref().is_none_or(|u| i.user == Some(u))
                            && addr.is_none_or(|a| i.address == Some(a))
                            && mac
                                .as_deref()
                                .is_none_or(|m| crate::wire::eth::fmt_mac(&k.peer_mac) == m)
                    })
                    .map(|(k, _)| *k)
                    .collect()
            };
        let now = Instant::now();
        let mut resp = if keys.is_empty() {
            let mut r = Packet::new(code::DISCONNECT_NAK, req.identifier);
            r.add_u32(attr::ERROR_CAUSE, 503);
            r
        } else {
            Packet::new(code::DISCONNECT_ACK, req.identifier)
        };
        for k in &keys {
            log::info!(
                "session {:#06x}: Disconnect-Request from {from}",
                k.session_id
            );
            manager.kill(now, k);
        }
        resp.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]);
        let out = resp.encode_response(&req.authenticator, secret);
        if let Err(e) = dae.sock.try_send_to(&out, from) {
            log::warn!("DAE: answer to {from}: {e}");
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
            let done = r
                .auth
                .as_mut()
                .is_some_and(|c| c.handle_datagram(now, from, b));
            if !done {
                if let Some(c) = &mut r.acct {
                    c.handle_datagram(now, from, b);
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
                let meta = SessionMeta {
                    acct_session_id: acct_id.to_owned(),
                    user: user.unwrap_or("").to_owned(),
                    address: Some(*address),
                    nat,
                    class: authz.class,
                    interim: authz.interim,
                };
                if let Some(r) = self.accounting.start(now, SystemTime::now(), *key, meta) {
                    self.emit(r);
                }
            }
            DataplaneOp::Install { .. } => {}
            // IPv6 rows carry no accounting of their own yet.
            DataplaneOp::InstallV6 { .. } | DataplaneOp::RemoveV6 { .. } => {}
            DataplaneOp::Remove { key, down, .. } => {
                let c = removed.map(counters).unwrap_or_default();
                match down {
                    None => self.accounting.carry(key, c),
                    Some(d) => {
                        self.authz.remove(key);
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
        log::info!(
            "RADIUS: {} auth and {} acct server(s), NAS-IP-Address {nas_ip}",
            auth.len(),
            acct.len()
        );
        Ok(Some(Radius {
            sock: Arc::new(sock),
            auth: (a.radius_auth() && !auth.is_empty()).then(|| Client::new(auth, MAX_OUTSTANDING)),
            acct: (!acct.is_empty()).then(|| Client::new(acct, MAX_OUTSTANDING)),
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
        session_timeout: p
            .get_u32(attr::SESSION_TIMEOUT)
            .filter(|v| *v > 0)
            .map(|v| Duration::from_secs(u64::from(v))),
        dns: dns[0].is_some().then_some(dns),
        message,
    }
}
