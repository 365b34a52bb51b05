//! DHCPv6 (RFC 8415) over one PPP session, server side, sans-IO: prefix
//! delegation (IA_PD) from a per-subscriber pool, optionally an address in
//! the session's /64 (IA_NA), DNS servers (RFC 3646), Rapid Commit. The
//! binding lives and dies with the session (see `super::server`).
//!
//! Messages are parsed without panics into [`Message`] (typed
//! [`DhcpError`]s); every drop is counted by the caller.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::pool6::{contains, PrefixPool};
use super::{V6Stat, V6Stats};

pub const CLIENT_PORT: u16 = 546;
pub const SERVER_PORT: u16 = 547;

/// Message types (RFC 8415 §7.3).
pub mod msg {
    pub const SOLICIT: u8 = 1;
    pub const ADVERTISE: u8 = 2;
    pub const REQUEST: u8 = 3;
    pub const CONFIRM: u8 = 4;
    pub const RENEW: u8 = 5;
    pub const REBIND: u8 = 6;
    pub const REPLY: u8 = 7;
    pub const RELEASE: u8 = 8;
    pub const DECLINE: u8 = 9;
    pub const INFORMATION_REQUEST: u8 = 11;
}

/// Option codes (RFC 8415 §21, RFC 3646).
pub mod opt {
    pub const CLIENTID: u16 = 1;
    pub const SERVERID: u16 = 2;
    pub const IA_NA: u16 = 3;
    pub const IAADDR: u16 = 5;
    pub const ORO: u16 = 6;
    pub const ELAPSED_TIME: u16 = 8;
    pub const STATUS_CODE: u16 = 13;
    pub const RAPID_COMMIT: u16 = 14;
    pub const DNS_SERVERS: u16 = 23;
    pub const IA_PD: u16 = 25;
    pub const IAPREFIX: u16 = 26;
}

/// Status codes (RFC 8415 §21.13).
pub mod status {
    pub const SUCCESS: u16 = 0;
    pub const NO_ADDRS_AVAIL: u16 = 2;
    pub const NO_BINDING: u16 = 3;
    pub const NOT_ON_LINK: u16 = 4;
    pub const NO_PREFIX_AVAIL: u16 = 6;
}

/// Why a client message was dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum DhcpError {
    #[error("shorter than the 4-byte header")]
    Short,
    #[error("option overruns the message")]
    OptionLength,
    #[error("malformed option {0}")]
    BadOption(u16),
    #[error("message type {0} is not one a client sends")]
    Type(u8),
    #[error("no Client Identifier")]
    NoClientId,
    #[error("Server Identifier where none belongs, or missing")]
    ServerIdPresence,
    #[error("Server Identifier is not ours")]
    WrongServerId,
    #[error("rate limit")]
    Rate,
}

/// One IA_NA or IA_PD of a message: its IAID and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Ia {
    pub iaid: u32,
    pub t1: u32,
    pub t2: u32,
    /// IA_NA: addresses; IA_PD: prefixes (with their length).
    pub items: Vec<(Ipv6Addr, u8, u32, u32)>,
    pub status: Option<u16>,
}

/// A parsed DHCPv6 message.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Message {
    pub msg_type: u8,
    pub xid: [u8; 3],
    pub client_id: Option<Vec<u8>>,
    pub server_id: Option<Vec<u8>>,
    pub ia_na: Vec<Ia>,
    pub ia_pd: Vec<Ia>,
    pub oro: Vec<u16>,
    pub rapid_commit: bool,
    pub dns: Vec<Ipv6Addr>,
    pub status: Option<u16>,
}

fn options(mut b: &[u8]) -> impl Iterator<Item = Result<(u16, &[u8]), DhcpError>> {
    std::iter::from_fn(move || {
        if b.is_empty() {
            return None;
        }
        if b.len() < 4 {
            b = &[];
            return Some(Err(DhcpError::OptionLength));
        }
        let code = u16::from_be_bytes([b[0], b[1]]);
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        let Some(v) = b.get(4..4 + len) else {
            b = &[];
            return Some(Err(DhcpError::OptionLength));
        };
        b = &b[4 + len..];
        Some(Ok((code, v)))
    })
}

fn u32_at(v: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([v[at], v[at + 1], v[at + 2], v[at + 3]])
}

fn addr_at(v: &[u8], at: usize) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&v[at..at + 16]);
    Ipv6Addr::from(a)
}

fn status_of(v: &[u8]) -> Result<u16, DhcpError> {
    if v.len() < 2 {
        return Err(DhcpError::BadOption(opt::STATUS_CODE));
    }
    Ok(u16::from_be_bytes([v[0], v[1]]))
}

fn parse_ia(code: u16, v: &[u8]) -> Result<Ia, DhcpError> {
    if v.len() < 12 {
        return Err(DhcpError::BadOption(code));
    }
    let mut ia = Ia {
        iaid: u32_at(v, 0),
        t1: u32_at(v, 4),
        t2: u32_at(v, 8),
        items: Vec::new(),
        status: None,
    };
    for o in options(&v[12..]) {
        let (c, w) = o?;
        match (code, c) {
            (opt::IA_NA, opt::IAADDR) => {
                if w.len() < 24 {
                    return Err(DhcpError::BadOption(c));
                }
                ia.items
                    .push((addr_at(w, 0), 128, u32_at(w, 16), u32_at(w, 20)));
            }
            (opt::IA_PD, opt::IAPREFIX) => {
                if w.len() < 25 || w[8] > 128 {
                    return Err(DhcpError::BadOption(c));
                }
                ia.items
                    .push((addr_at(w, 9), w[8], u32_at(w, 0), u32_at(w, 4)));
            }
            (_, opt::STATUS_CODE) => ia.status = Some(status_of(w)?),
            _ => {}
        }
    }
    Ok(ia)
}

/// Parse a DHCPv6 message (client or server).
pub fn parse(b: &[u8]) -> Result<Message, DhcpError> {
    if b.len() < 4 {
        return Err(DhcpError::Short);
    }
    let mut m = Message {
        msg_type: b[0],
        xid: [b[1], b[2], b[3]],
        ..Message::default()
    };
    for o in options(&b[4..]) {
        let (code, v) = o?;
        match code {
            opt::CLIENTID if !v.is_empty() && v.len() <= 130 => m.client_id = Some(v.to_vec()),
            opt::SERVERID if !v.is_empty() && v.len() <= 130 => m.server_id = Some(v.to_vec()),
            opt::CLIENTID | opt::SERVERID => return Err(DhcpError::BadOption(code)),
            opt::IA_NA => m.ia_na.push(parse_ia(code, v)?),
            opt::IA_PD => m.ia_pd.push(parse_ia(code, v)?),
            opt::ORO => {
                if v.len() % 2 != 0 {
                    return Err(DhcpError::BadOption(code));
                }
                m.oro = v
                    .chunks_exact(2)
                    .map(|c| u16::from_be_bytes([c[0], c[1]]))
                    .collect();
            }
            opt::RAPID_COMMIT if v.is_empty() => m.rapid_commit = true,
            opt::RAPID_COMMIT => return Err(DhcpError::BadOption(code)),
            opt::DNS_SERVERS => {
                if v.len() % 16 != 0 {
                    return Err(DhcpError::BadOption(code));
                }
                m.dns = v.chunks_exact(16).map(|c| addr_at(c, 0)).collect();
            }
            opt::STATUS_CODE => m.status = Some(status_of(v)?),
            _ => {}
        }
    }
    Ok(m)
}

/// Builds options into a message.
pub struct Builder(pub Vec<u8>);

impl Builder {
    pub fn new(msg_type: u8, xid: [u8; 3]) -> Self {
        Builder(vec![msg_type, xid[0], xid[1], xid[2]])
    }

    pub fn opt(&mut self, code: u16, value: &[u8]) -> &mut Self {
        push_opt(&mut self.0, code, value);
        self
    }
}

fn push_opt(buf: &mut Vec<u8>, code: u16, value: &[u8]) {
    buf.extend_from_slice(&code.to_be_bytes());
    buf.extend_from_slice(&(value.len() as u16).to_be_bytes());
    buf.extend_from_slice(value);
}

/// An IA_NA or IA_PD option value.
pub fn ia_value(code: u16, ia: &Ia) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend_from_slice(&ia.iaid.to_be_bytes());
    v.extend_from_slice(&ia.t1.to_be_bytes());
    v.extend_from_slice(&ia.t2.to_be_bytes());
    for &(a, len, pref, valid) in &ia.items {
        let mut o = Vec::new();
        if code == opt::IA_PD {
            o.extend_from_slice(&pref.to_be_bytes());
            o.extend_from_slice(&valid.to_be_bytes());
            o.push(len);
            o.extend_from_slice(&a.octets());
            push_opt(&mut v, opt::IAPREFIX, &o);
        } else {
            o.extend_from_slice(&a.octets());
            o.extend_from_slice(&pref.to_be_bytes());
            o.extend_from_slice(&valid.to_be_bytes());
            push_opt(&mut v, opt::IAADDR, &o);
        }
    }
    if let Some(s) = ia.status {
        push_opt(&mut v, opt::STATUS_CODE, &status_value(s));
    }
    v
}

/// A Status Code option value with its fixed message.
pub fn status_value(code: u16) -> Vec<u8> {
    let text: &str = match code {
        status::SUCCESS => "ok",
        status::NO_ADDRS_AVAIL => "no addresses available",
        status::NO_BINDING => "no binding",
        status::NOT_ON_LINK => "not on link",
        status::NO_PREFIX_AVAIL => "no prefix available",
        _ => "failure",
    };
    let mut v = code.to_be_bytes().to_vec();
    v.extend_from_slice(text.as_bytes());
    v
}

/// DUID-LL (RFC 8415 §11.4) of an Ethernet MAC.
pub fn duid_ll(mac: [u8; 6]) -> Vec<u8> {
    let mut d = vec![0, 3, 0, 1];
    d.extend_from_slice(&mac);
    d
}

/// The server's settings for one session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerConfig {
    /// Our DUID (DUID-LL of the BRAS MAC).
    pub duid: Vec<u8>,
    pub dns: Vec<Ipv6Addr>,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    /// Answer IA_NA with an address in the session's /64.
    pub ia_na: bool,
    /// Client messages per session: bucket size and refill per second.
    pub burst: u32,
    pub per_sec: u32,
}

/// Interface identifier of the IA_NA address in the session's /64 (SLAAC
/// addresses use the peer's IPv6CP identifier, so they cannot collide
/// unless the peer chose this one).
pub const IA_NA_IID: u64 = 0x100;

/// The delegated prefix changed (the caller updates the data plane).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PdChange {
    pub old: Option<(Ipv6Addr, u8)>,
    pub new: Option<(Ipv6Addr, u8)>,
}

/// One session's DHCPv6 server.
#[derive(Debug)]
pub struct Server {
    cfg: ServerConfig,
    /// The client bound (its DUID), and its IA_PD (IAID, prefix) and
    /// IA_NA (IAID) bindings.
    client_id: Option<Vec<u8>>,
    pd: Option<(u32, (Ipv6Addr, u8))>,
    na: Option<u32>,
    tokens: u32,
    refilled: Option<Instant>,
    /// This server's `dhcpv6_*` counters (the manager sums every
    /// session's into its own).
    pub stats: V6Stats,
}

/// What the server needs from the session for one message.
pub struct Ctx<'a> {
    pub now: Instant,
    pub prefix64: (Ipv6Addr, u8),
    pub user: &'a str,
    pub pd_pool: &'a mut PrefixPool,
}

impl Server {
    /// The delegated prefix to hand out (RADIUS Delegated-IPv6-Prefix):
    /// the first IA_PD gets it, whatever its IAID.
    pub fn preset_pd(&mut self, prefix: (Ipv6Addr, u8)) {
        if self.pd.is_none() {
            self.pd = Some((0, prefix));
        }
    }

    pub fn new(cfg: ServerConfig) -> Self {
        let tokens = cfg.burst;
        Server {
            cfg,
            client_id: None,
            pd: None,
            na: None,
            tokens,
            refilled: None,
            stats: V6Stats::default(),
        }
    }

    /// The delegated prefix bound to the session.
    pub fn delegated(&self) -> Option<(Ipv6Addr, u8)> {
        self.pd.map(|(_, p)| p)
    }

    /// The IA_NA address, if one is bound.
    pub fn address(&self, prefix64: (Ipv6Addr, u8)) -> Option<Ipv6Addr> {
        self.na
            .map(|_| Ipv6Addr::from(u128::from(prefix64.0) | u128::from(IA_NA_IID)))
    }

    /// The session ends: its delegated prefix goes back to the pool.
    pub fn release_all(&mut self, pd_pool: &mut PrefixPool) -> Option<(Ipv6Addr, u8)> {
        self.na = None;
        let p = self.pd.take().map(|(_, p)| p);
        if let Some(p) = p {
            pd_pool.release(p);
        }
        p
    }

    fn take_token(&mut self, now: Instant) -> bool {
        let last = *self.refilled.get_or_insert(now);
        let per = Duration::from_secs(1) / self.cfg.per_sec.max(1);
        let gained =
            (now.saturating_duration_since(last).as_nanos() / per.as_nanos().max(1)) as u32;
        if gained > 0 {
            self.tokens = (self.tokens.saturating_add(gained)).min(self.cfg.burst);
            self.refilled = Some(last + per * gained);
        }
        if self.tokens == 0 {
            return false;
        }
        self.tokens -= 1;
        true
    }

    /// A client message (the UDP payload). Returns the answer (UDP
    /// payload) if any, and a change of the delegated prefix.
    pub fn handle(
        &mut self,
        ctx: &mut Ctx<'_>,
        payload: &[u8],
    ) -> Result<(Option<Vec<u8>>, Option<PdChange>), DhcpError> {
        self.stats[V6Stat::Dhcpv6Rx] += 1;
        let r = self.handle_inner(ctx, payload);
        match &r {
            Ok((Some(_), _)) => self.stats[V6Stat::Dhcpv6Tx] += 1,
            Ok(_) => {}
            Err(DhcpError::Rate) => self.stats[V6Stat::Dhcpv6DropRate] += 1,
            Err(DhcpError::WrongServerId) => self.stats[V6Stat::Dhcpv6DropServerId] += 1,
            Err(_) => self.stats[V6Stat::Dhcpv6DropBad] += 1,
        }
        r
    }

    fn handle_inner(
        &mut self,
        ctx: &mut Ctx<'_>,
        payload: &[u8],
    ) -> Result<(Option<Vec<u8>>, Option<PdChange>), DhcpError> {
        if !self.take_token(ctx.now) {
            return Err(DhcpError::Rate);
        }
        let m = parse(payload)?;
        // RFC 8415 §16: which identifiers each type must (not) carry.
        let (needs_client, server_id) = match m.msg_type {
            msg::SOLICIT | msg::CONFIRM | msg::REBIND => (true, Some(false)),
            msg::REQUEST | msg::RENEW | msg::RELEASE | msg::DECLINE => (true, Some(true)),
            msg::INFORMATION_REQUEST => (false, None),
            t => return Err(DhcpError::Type(t)),
        };
        if needs_client && m.client_id.is_none() {
            return Err(DhcpError::NoClientId);
        }
        match (server_id, &m.server_id) {
            (Some(false), Some(_)) | (Some(true), None) => return Err(DhcpError::ServerIdPresence),
            (_, Some(s)) if *s != self.cfg.duid => return Err(DhcpError::WrongServerId),
            _ => {}
        }
        if m.msg_type == msg::INFORMATION_REQUEST && !(m.ia_na.is_empty() && m.ia_pd.is_empty()) {
            return Err(DhcpError::BadOption(opt::IA_NA));
        }
        let client = m.client_id.clone().unwrap_or_default();
        let same_client = self.client_id.as_deref() == Some(client.as_slice());
        let t1 = self.cfg.preferred_lifetime / 2;
        let t2 = self.cfg.preferred_lifetime / 5 * 4;
        let (pref, valid) = (self.cfg.preferred_lifetime, self.cfg.valid_lifetime);
        let before = self.delegated();
        let mut reply_type = msg::REPLY;
        let mut ias: Vec<(u16, Ia)> = Vec::new();
        let mut top_status = None;
        let mut rapid = false;
        let empty = |iaid, st| Ia {
            iaid,
            t1: 0,
            t2: 0,
            items: Vec::new(),
            status: Some(st),
        };
        match m.msg_type {
            msg::SOLICIT | msg::REQUEST => {
                if m.msg_type == msg::SOLICIT {
                    rapid = m.rapid_commit;
                    if !rapid {
                        reply_type = msg::ADVERTISE;
                    }
                }
                if !same_client {
                    // Another DUID on the same session (a CPE that
                    // restarted): it takes the session's bindings over.
                    self.client_id = Some(client.clone());
                }
                // One delegated prefix per session: the first IA_PD.
                if let Some(ia) = m.ia_pd.first() {
                    let held = self.pd.map(|(_, p)| p);
                    let prefix = match held {
                        Some(p) => Some(p),
                        None => ctx.pd_pool.allocate(ctx.user).ok(),
                    };
                    match prefix {
                        Some(p) => {
                            self.pd = Some((ia.iaid, p));
                            ias.push((
                                opt::IA_PD,
                                Ia {
                                    iaid: ia.iaid,
                                    t1,
                                    t2,
                                    items: vec![(p.0, p.1, pref, valid)],
                                    status: None,
                                },
                            ));
                        }
                        None => {
                            self.stats[V6Stat::Dhcpv6NoPrefix] += 1;
                            ias.push((opt::IA_PD, empty(ia.iaid, status::NO_PREFIX_AVAIL)));
                        }
                    }
                }
                for ia in m.ia_na.iter().take(1) {
                    if self.cfg.ia_na {
                        self.na = Some(ia.iaid);
                        let a = self.address(ctx.prefix64).unwrap_or(Ipv6Addr::UNSPECIFIED);
                        ias.push((
                            opt::IA_NA,
                            Ia {
                                iaid: ia.iaid,
                                t1,
                                t2,
                                items: vec![(a, 128, pref, valid)],
                                status: None,
                            },
                        ));
                    } else {
                        ias.push((opt::IA_NA, empty(ia.iaid, status::NO_ADDRS_AVAIL)));
                    }
                }
            }
            msg::RENEW | msg::REBIND => {
                for ia in &m.ia_pd {
                    match self.pd {
                        Some((iaid, p)) if iaid == ia.iaid && same_client => ias.push((
                            opt::IA_PD,
                            Ia {
                                iaid,
                                t1,
                                t2,
                                items: vec![(p.0, p.1, pref, valid)],
                                status: None,
                            },
                        )),
                        _ => ias.push((opt::IA_PD, empty(ia.iaid, status::NO_BINDING))),
                    }
                }
                for ia in &m.ia_na {
                    match (self.na, self.address(ctx.prefix64)) {
                        (Some(iaid), Some(a)) if iaid == ia.iaid && same_client => ias.push((
                            opt::IA_NA,
                            Ia {
                                iaid,
                                t1,
                                t2,
                                items: vec![(a, 128, pref, valid)],
                                status: None,
                            },
                        )),
                        _ => ias.push((opt::IA_NA, empty(ia.iaid, status::NO_BINDING))),
                    }
                }
            }
            msg::RELEASE | msg::DECLINE => {
                if same_client {
                    for ia in &m.ia_pd {
                        if matches!(self.pd, Some((iaid, _)) if iaid == ia.iaid) {
                            if let Some((_, p)) = self.pd.take() {
                                ctx.pd_pool.release(p);
                            }
                        } else {
                            ias.push((opt::IA_PD, empty(ia.iaid, status::NO_BINDING)));
                        }
                    }
                    for ia in &m.ia_na {
                        if self.na == Some(ia.iaid) {
                            self.na = None;
                        } else {
                            ias.push((opt::IA_NA, empty(ia.iaid, status::NO_BINDING)));
                        }
                    }
                }
                top_status = Some(status::SUCCESS);
            }
            msg::CONFIRM => {
                let addrs: Vec<Ipv6Addr> = m
                    .ia_na
                    .iter()
                    .flat_map(|ia| ia.items.iter().map(|i| i.0))
                    .collect();
                if addrs.is_empty() {
                    return Ok((None, None));
                }
                let on_link = addrs.iter().all(|a| contains(ctx.prefix64, *a));
                top_status = Some(if on_link {
                    status::SUCCESS
                } else {
                    status::NOT_ON_LINK
                });
            }
            _ => {} // Information-Request: DNS only.
        }
        let mut b = Builder::new(reply_type, m.xid);
        if let Some(c) = &m.client_id {
            b.opt(opt::CLIENTID, c);
        }
        b.opt(opt::SERVERID, &self.cfg.duid);
        for (code, ia) in &ias {
            b.opt(*code, &ia_value(*code, ia));
        }
        if let Some(s) = top_status {
            b.opt(opt::STATUS_CODE, &status_value(s));
        }
        if rapid {
            b.opt(opt::RAPID_COMMIT, &[]);
        }
        if !self.cfg.dns.is_empty() {
            let v: Vec<u8> = self.cfg.dns.iter().flat_map(|a| a.octets()).collect();
            b.opt(opt::DNS_SERVERS, &v);
        }
        let after = self.delegated();
        let change = (before != after).then_some(PdChange {
            old: before,
            new: after,
        });
        Ok((Some(b.0), change))
    }
}

#[cfg(test)]
mod tests;
