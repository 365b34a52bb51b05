//! The RADIUS client shell: one UDP socket and the sans-IO clients of
//! [`crate::radius_client`] for auth and accounting; requests built from
//! sessions and records, Access-Accept/-Reject turned into verdicts, stop
//! records kept while no accounting server answers.

use std::{
    collections::{HashMap, VecDeque},
    net::{Ipv4Addr, SocketAddr},
    sync::Arc,
    time::{Duration, Instant, SystemTime},
};

use anyhow::Context as _;

use super::{Aaa, Authz};
use crate::{
    accounting::{unix_now, Record, Status},
    config::{aaa::RadiusKind, Config},
    discovery::SessionKey,
    ppp::Credential,
    radius_client::{Client, Outcome, Received, Request, ServerConfig, SubmitError, Token},
    session::{AuthRequest, ExternalVerdict, Manager},
    wire::radius::{
        attr, code, ipv6_prefix_value, Packet, MS_PRIMARY_DNS_SERVER, MS_SECONDARY_DNS_SERVER,
        VENDOR_MICROSOFT,
    },
};

/// Most stop records kept while the accounting servers are down.
const STOP_QUEUE: usize = 65536;
/// How often queued stop records are retried.
const STOP_RETRY: Duration = Duration::from_secs(5);

/// The RADIUS side: one UDP socket, an auth and an acct client.
pub(super) struct Radius {
    sock: Arc<tokio::net::UdpSocket>,
    pub(super) auth: Option<Client>,
    pub(super) acct: Option<Client>,
    /// Local secrets when every auth server is dead.
    fallback_local: bool,
    nas_identifier: String,
    nas_ip: Ipv4Addr,
    access_if: String,
    pending_auth: HashMap<Token, AuthRequest>,
    pending_acct: HashMap<Token, (Record, Instant)>,
    /// Stop records waiting for a live accounting server.
    pub(super) stops: VecDeque<(Record, Instant)>,
    pub(super) stop_retry: Option<Instant>,
    /// Datagrams from addresses that are none of our servers.
    pub(super) unknown_source: u64,
    log: crate::radius_client::LogLimit,
}

impl Aaa {
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
}

impl Radius {
    pub(super) fn new(cfg: &Config) -> anyhow::Result<Option<Radius>> {
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
                .unwrap_or_else(|| cfg.discovery.ac_name.clone()),
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

    pub(super) fn submit_acct(&mut self, now: Instant, rec: Record, created: Instant) {
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
    pub(super) fn send(&mut self) {
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
pub(super) fn verdict_of(
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
