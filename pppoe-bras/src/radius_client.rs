//! Sans-IO RADIUS client: requests in, datagrams and timers out, responses
//! in, results out. Several servers in order of preference with failover:
//! a server that leaves `retries` retransmissions unanswered is dead for
//! [`DEAD_TIME`] and its requests move to the next live one. At most
//! `max_outstanding` requests wait at once.
//!
//! Each transmission is encoded afresh (new identifier and authenticator,
//! the password hidden with the target server's secret, Acct-Delay-Time
//! updated for accounting), so a retransmission to another server is a
//! valid packet for it.

use std::{
    collections::{HashMap, VecDeque},
    net::SocketAddr,
    time::{Duration, Instant},
};

use crate::wire::radius::{attr, code, hide_password, verify_response, Packet};

/// How long a server that stopped answering is skipped.
pub const DEAD_TIME: Duration = Duration::from_secs(30);

/// One server.
#[derive(Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub secret: Vec<u8>,
    pub timeout: Duration,
    pub retries: u32,
}

impl std::fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerConfig")
            .field("addr", &self.addr)
            .field("secret", &"***")
            .finish()
    }
}

/// What to send: an Access-Request (with the clear password, if PAP) or
/// an Accounting-Request.
#[derive(Debug, Clone)]
pub struct Request {
    pub code: u8,
    /// Attributes other than User-Password, Message-Authenticator and
    /// Acct-Delay-Time.
    pub attrs: Vec<(u8, Vec<u8>)>,
    /// PAP password in clear (hidden per server; never logged).
    pub password: Option<Vec<u8>>,
    /// When the event happened (Acct-Delay-Time counts from it); `None`:
    /// at submission.
    pub created: Option<Instant>,
}

/// A request's handle.
pub type Token = u64;

/// How a request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// A verified response.
    Response(Packet),
    /// No live server answered.
    NoServer,
}

/// Why a request was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("too many outstanding RADIUS requests")]
    Busy,
    #[error("no live RADIUS server")]
    AllDead,
}

struct Server {
    cfg: ServerConfig,
    dead_until: Option<Instant>,
    next_id: u8,
}

struct Pending {
    req: Request,
    created: Instant,
    server: usize,
    id: u8,
    auth: [u8; 16],
    tries: u32,
    deadline: Instant,
}

/// Counters for `stats`.
#[derive(Debug, Clone, Default)]
pub struct ClientStats {
    pub sent: u64,
    pub retransmits: u64,
    pub responses: u64,
    pub bad_responses: u64,
    pub failovers: u64,
}

/// One client (auth or acct) over a list of servers.
pub struct Client {
    servers: Vec<Server>,
    pending: HashMap<Token, Pending>,
    by_id: HashMap<(usize, u8), Token>,
    next_token: Token,
    max_outstanding: usize,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    results: VecDeque<(Token, Outcome)>,
    rng: crate::ppp::rng::Rng,
    pub stats: ClientStats,
}

impl Client {
    pub fn new(servers: Vec<ServerConfig>, max_outstanding: usize) -> Client {
        Client::with_rng(servers, max_outstanding, crate::ppp::rng::Rng::from_os())
    }

    pub fn with_rng(
        servers: Vec<ServerConfig>,
        max_outstanding: usize,
        mut rng: crate::ppp::rng::Rng,
    ) -> Client {
        let servers = servers
            .into_iter()
            .map(|cfg| Server {
                cfg,
                dead_until: None,
                next_id: rng.next_u32() as u8,
            })
            .collect();
        Client {
            servers,
            pending: HashMap::new(),
            by_id: HashMap::new(),
            next_token: 1,
            max_outstanding,
            transmit: VecDeque::new(),
            results: VecDeque::new(),
            rng,
            stats: ClientStats::default(),
        }
    }

    /// True when there is no server at all.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Requests waiting for an answer.
    pub fn outstanding(&self) -> usize {
        self.pending.len()
    }

    /// True when every server is dead at `now`.
    pub fn all_dead(&self, now: Instant) -> bool {
        self.live_server(now, 0).is_none()
    }

    /// The first live server from `from` on (wrapping), if any.
    fn live_server(&self, now: Instant, from: usize) -> Option<usize> {
        let n = self.servers.len();
        (0..n)
            .map(|i| (from + i) % n)
            .find(|&i| self.servers[i].dead_until.is_none_or(|t| t <= now))
    }

    /// Queue a request; its [`Outcome`] comes out of [`Client::poll_result`].
    pub fn submit(&mut self, now: Instant, req: Request) -> Result<Token, SubmitError> {
        if self.pending.len() >= self.max_outstanding {
            return Err(SubmitError::Busy);
        }
        let server = self.live_server(now, 0).ok_or(SubmitError::AllDead)?;
        let token = self.next_token;
        self.next_token += 1;
        let p = Pending {
            created: req.created.unwrap_or(now),
            req,
            server,
            id: 0,
            auth: [0; 16],
            tries: 0,
            deadline: now,
        };
        self.pending.insert(token, p);
        self.send(now, token);
        Ok(token)
    }

    /// Drop a request (its answer, if any, is then ignored).
    pub fn cancel(&mut self, token: Token) {
        if let Some(p) = self.pending.remove(&token) {
            self.by_id.remove(&(p.server, p.id));
        }
    }

    /// Encode and queue the pending request `token` to its server.
    fn send(&mut self, now: Instant, token: Token) {
        let Some(p) = self.pending.get_mut(&token) else {
            return;
        };
        self.by_id.remove(&(p.server, p.id));
        let s = &mut self.servers[p.server];
        // A free identifier on this server (≤ 256 outstanding per server).
        let mut id = s.next_id;
        for _ in 0..256 {
            if !self.by_id.contains_key(&(p.server, id)) {
                break;
            }
            id = id.wrapping_add(1);
        }
        s.next_id = id.wrapping_add(1);
        p.id = id;
        let mut pkt = Packet::new(p.req.code, id);
        pkt.attrs = p.req.attrs.clone();
        let secret = s.cfg.secret.as_slice();
        let bytes = if p.req.code == code::ACCESS_REQUEST {
            let mut auth = [0u8; 16];
            for c in auth.chunks_mut(4) {
                c.copy_from_slice(&self.rng.next_u32().to_be_bytes());
            }
            p.auth = auth;
            pkt.authenticator = auth;
            if let Some(pw) = &p.req.password {
                pkt.attrs.insert(
                    1.min(pkt.attrs.len()),
                    (attr::USER_PASSWORD, hide_password(pw, secret, &auth)),
                );
            }
            pkt.encode_access_request(secret)
        } else {
            if p.req.code == code::ACCOUNTING_REQUEST {
                let delay = now.saturating_duration_since(p.created).as_secs() as u32;
                pkt.add_u32(attr::ACCT_DELAY_TIME, delay);
            }
            let b = pkt.encode_with_request_digest(secret);
            p.auth.copy_from_slice(&b[4..20]);
            b
        };
        p.deadline = now + s.cfg.timeout;
        self.by_id.insert((p.server, id), token);
        self.transmit.push_back((s.cfg.addr, bytes));
        self.stats.sent += 1;
    }

    /// A datagram from `from`. Returns false when it matched nothing or
    /// failed verification (dropped, counted).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, b: &[u8]) -> bool {
        let _ = now;
        let Some(server) = self.servers.iter().position(|s| s.cfg.addr == from) else {
            return false;
        };
        let Ok(pkt) = Packet::parse(b) else {
            self.stats.bad_responses += 1;
            return false;
        };
        let Some(&token) = self.by_id.get(&(server, pkt.identifier)) else {
            self.stats.bad_responses += 1;
            return false;
        };
        let Some(p) = self.pending.get(&token) else {
            return false;
        };
        let expected = match p.req.code {
            code::ACCESS_REQUEST => matches!(
                pkt.code,
                code::ACCESS_ACCEPT | code::ACCESS_REJECT | code::ACCESS_CHALLENGE
            ),
            code::ACCOUNTING_REQUEST => pkt.code == code::ACCOUNTING_RESPONSE,
            _ => false,
        };
        // Message-Authenticator is required on every answer to an
        // Access-Request (RFC 3579 §3.2, BlastRADIUS / CVE-2024-3596).
        let require_ma = p.req.code == code::ACCESS_REQUEST;
        let secret = &self.servers[server].cfg.secret;
        if !expected || verify_response(b, &p.auth, secret, require_ma).is_err() {
            self.stats.bad_responses += 1;
            log::warn!(
                "RADIUS {from}: dropped a response (code {}) that failed verification",
                pkt.code
            );
            return false;
        }
        self.by_id.remove(&(server, pkt.identifier));
        self.pending.remove(&token);
        self.servers[server].dead_until = None;
        self.stats.responses += 1;
        self.results.push_back((token, Outcome::Response(pkt)));
        true
    }

    /// Retransmit or fail over what timed out.
    pub fn handle_timeout(&mut self, now: Instant) {
        let due: Vec<Token> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(t, _)| *t)
            .collect();
        for token in due {
            let Some(p) = self.pending.get_mut(&token) else {
                continue;
            };
            let server = p.server;
            if p.tries < self.servers[server].cfg.retries {
                p.tries += 1;
                self.stats.retransmits += 1;
                self.send(now, token);
                continue;
            }
            // The server is dead; every request on it moves on.
            if self.servers[server].dead_until.is_none_or(|t| t <= now) {
                log::warn!(
                    "RADIUS server {} not answering: dead for {}s",
                    self.servers[server].cfg.addr,
                    DEAD_TIME.as_secs()
                );
                self.servers[server].dead_until = Some(now + DEAD_TIME);
            }
            match self.live_server(now, server + 1) {
                Some(next) if next != server => {
                    self.stats.failovers += 1;
                    if let Some(p) = self.pending.get_mut(&token) {
                        self.by_id.remove(&(p.server, p.id));
                        p.server = next;
                        p.tries = 0;
                    }
                    self.send(now, token);
                }
                _ => {
                    if let Some(p) = self.pending.remove(&token) {
                        self.by_id.remove(&(p.server, p.id));
                    }
                    self.results.push_back((token, Outcome::NoServer));
                }
            }
        }
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.pending.values().map(|p| p.deadline).min()
    }

    pub fn poll_transmit(&mut self) -> Option<(SocketAddr, Vec<u8>)> {
        self.transmit.pop_front()
    }

    pub fn poll_result(&mut self) -> Option<(Token, Outcome)> {
        self.results.pop_front()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::radius::unhide_password;

    fn server(port: u16, secret: &str) -> ServerConfig {
        ServerConfig {
            addr: SocketAddr::from(([127, 0, 0, 1], port)),
            secret: secret.as_bytes().to_vec(),
            timeout: Duration::from_secs(3),
            retries: 1,
        }
    }

    fn pap() -> Request {
        Request {
            code: code::ACCESS_REQUEST,
            attrs: vec![(attr::USER_NAME, b"bob".to_vec())],
            password: Some(b"pw".to_vec()),
            created: None,
        }
    }

    fn answer(sent: &[u8], secret: &str, c: u8) -> Vec<u8> {
        let req = Packet::parse(sent).unwrap();
        let mut r = Packet::new(c, req.identifier);
        r.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]);
        r.add(attr::REPLY_MESSAGE, b"hello");
        r.encode_response(&req.authenticator, secret.as_bytes())
    }

    fn client(servers: Vec<ServerConfig>) -> Client {
        Client::with_rng(servers, 2, crate::ppp::rng::Rng::seeded(1))
    }

    #[test]
    fn request_answered() {
        let t0 = Instant::now();
        let mut c = client(vec![server(1812, "s1")]);
        let tok = c.submit(t0, pap()).unwrap();
        let (to, bytes) = c.poll_transmit().unwrap();
        assert_eq!(to.port(), 1812);
        let req = Packet::parse(&bytes).unwrap();
        assert_eq!(req.attrs[0].0, attr::MESSAGE_AUTHENTICATOR);
        let pw = unhide_password(
            req.get(attr::USER_PASSWORD).unwrap(),
            b"s1",
            &req.authenticator,
        );
        assert_eq!(pw, b"pw");
        // Wrong secret → dropped; the right one → the result.
        assert!(!c.handle_datagram(t0, to, &answer(&bytes, "nope", code::ACCESS_ACCEPT)));
        assert!(c.handle_datagram(t0, to, &answer(&bytes, "s1", code::ACCESS_ACCEPT)));
        let (t, o) = c.poll_result().unwrap();
        assert_eq!(t, tok);
        let Outcome::Response(p) = o else { panic!() };
        assert_eq!(p.get_str(attr::REPLY_MESSAGE).unwrap(), "hello");
        // A duplicate answer matches nothing any more.
        assert!(!c.handle_datagram(t0, to, &answer(&bytes, "s1", code::ACCESS_ACCEPT)));
        assert_eq!(c.outstanding(), 0);
    }

    #[test]
    fn answer_without_message_authenticator_is_refused() {
        let t0 = Instant::now();
        let mut c = client(vec![server(1812, "s1")]);
        c.submit(t0, pap()).unwrap();
        let (to, bytes) = c.poll_transmit().unwrap();
        let req = Packet::parse(&bytes).unwrap();
        let r = Packet::new(code::ACCESS_ACCEPT, req.identifier)
            .encode_response(&req.authenticator, b"s1");
        assert!(!c.handle_datagram(t0, to, &r));
        assert_eq!(c.outstanding(), 1);
    }

    #[test]
    fn retransmit_then_fail_over_then_no_server() {
        let t0 = Instant::now();
        let mut c = client(vec![server(1, "a"), server(2, "b")]);
        let tok = c.submit(t0, pap()).unwrap();
        let (_, first) = c.poll_transmit().unwrap();
        assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
        let t1 = t0 + Duration::from_secs(3);
        c.handle_timeout(t1);
        let (to, again) = c.poll_transmit().unwrap();
        assert_eq!(to.port(), 1, "one retransmission to the same server");
        assert_ne!(first[4..20], again[4..20], "fresh authenticator");
        let t2 = t1 + Duration::from_secs(3);
        c.handle_timeout(t2);
        let (to, moved) = c.poll_transmit().unwrap();
        assert_eq!(to.port(), 2, "failover");
        let req = Packet::parse(&moved).unwrap();
        // Hidden with the second server's secret.
        let pw = unhide_password(
            req.get(attr::USER_PASSWORD).unwrap(),
            b"b",
            &req.authenticator,
        );
        assert_eq!(pw, b"pw");
        // New requests skip the dead server.
        let tok2 = c.submit(t2, pap()).unwrap();
        assert_eq!(c.poll_transmit().unwrap().0.port(), 2);
        assert_eq!(c.submit(t2, pap()), Err(SubmitError::Busy), "limit 2");
        // Server 2 dies too: both requests fail.
        for k in 1..=2 {
            c.handle_timeout(t2 + Duration::from_secs(3 * k));
        }
        let mut failed: Vec<_> = std::iter::from_fn(|| c.poll_result()).collect();
        failed.sort_by_key(|(t, _)| *t);
        assert_eq!(
            failed,
            vec![(tok, Outcome::NoServer), (tok2, Outcome::NoServer)]
        );
        let t3 = t2 + Duration::from_secs(6);
        assert!(c.all_dead(t3));
        assert_eq!(c.submit(t3, pap()), Err(SubmitError::AllDead));
        // After the dead time, servers are tried again.
        assert!(!c.all_dead(t1 + DEAD_TIME + Duration::from_secs(3)));
    }

    #[test]
    fn accounting_delay_time_grows_on_retransmission() {
        let t0 = Instant::now();
        let mut c = client(vec![server(1813, "s")]);
        let req = Request {
            code: code::ACCOUNTING_REQUEST,
            attrs: vec![(attr::ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec())],
            password: None,
            created: None,
        };
        c.submit(t0, req).unwrap();
        let (_, a) = c.poll_transmit().unwrap();
        assert_eq!(
            Packet::parse(&a).unwrap().get_u32(attr::ACCT_DELAY_TIME),
            Some(0)
        );
        assert!(crate::wire::radius::verify_request_digest(&a, b"s"));
        c.handle_timeout(t0 + Duration::from_secs(3));
        let (_, b) = c.poll_transmit().unwrap();
        let p = Packet::parse(&b).unwrap();
        assert_eq!(p.get_u32(attr::ACCT_DELAY_TIME), Some(3));
        // Accounting-Response: Response Authenticator over the request's.
        let mut r = Packet::new(code::ACCOUNTING_RESPONSE, p.identifier);
        r.attrs.clear();
        let auth: [u8; 16] = b[4..20].try_into().unwrap();
        let rb = r.encode_response(&auth, b"s");
        assert!(c.handle_datagram(t0, SocketAddr::from(([127, 0, 0, 1], 1813)), &rb));
    }
}
