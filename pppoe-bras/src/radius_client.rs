//! Sans-IO RADIUS client: requests in, datagrams and timers out, responses
//! in, results out. Several servers with priorities and weights: new
//! requests go to the live servers of the best (lowest) priority, spread
//! among them in proportion to their weights (smooth weighted round-robin,
//! as nginx does it: deterministic, no bursts); a server that leaves
//! `retries` retransmissions unanswered is dead for the dead time
//! ([`DEAD_TIME`] unless set) and its requests move to the next live one
//! picked the same way. At most
//! `max_outstanding` requests are in flight at once; more wait in a FIFO
//! queue. Every server keeps counters ([`ServerStats`]).
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

use crate::wire::radius::{attr, code, hide_password, verify_response, Packet, VerifyError};

/// How long a server that stopped answering is skipped, by default.
pub const DEAD_TIME: Duration = Duration::from_secs(30);

/// One server.
#[derive(Clone)]
pub struct ServerConfig {
    pub addr: SocketAddr,
    pub secret: Vec<u8>,
    pub timeout: Duration,
    pub retries: u32,
    /// Lower is preferred; servers of a worse priority get requests only
    /// while every better one is dead.
    pub priority: u32,
    /// Share of requests among the live servers of the same priority.
    pub weight: u32,
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
    /// Smooth weighted round-robin credit.
    credit: i64,
    next_id: u8,
    stats: ServerStats,
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

crate::counters::counters! {
    /// Per-server counters (`pppoe-bras stats` shows them as
    /// `radius.<addr:port>.<name>`). Every dropped datagram counts in
    /// exactly one `dropped_*` counter, the one of its [`DropReason`].
    pub enum ServerStat in ServerStats {
        /// Requests sent to this server (first transmissions, failovers in).
        Requests = "requests",
        Retransmits = "retransmits",
        /// Requests this server left unanswered after every retransmission.
        Timeouts = "timeouts",
        Accepts = "accepts",
        Rejects = "rejects",
        Challenges = "challenges",
        /// Accounting-Responses.
        AcctResponses = "acct_responses",
        /// Times the server was declared dead.
        MarkedDead = "marked_dead",
        /// Response Authenticator or Message-Authenticator wrong (wrong
        /// secret, forgery).
        DroppedBadAuthenticator = "dropped_bad_authenticator",
        /// An Access-Accept/-Reject/-Challenge without Message-Authenticator.
        DroppedNoMessageAuthenticator = "dropped_missing_message_authenticator",
        /// No request outstanding with that identifier (late duplicate, spoof).
        DroppedUnknownId = "dropped_unknown_id",
        /// Does not parse: short header, length out of range, truncated or
        /// overlong attributes.
        DroppedMalformed = "dropped_malformed",
        /// A code that does not answer the request (e.g. Accounting-Response
        /// to an Access-Request).
        DroppedUnexpectedCode = "dropped_unexpected_code",
    }
}

impl ServerStat {
    /// The reason of a `dropped_*` counter (its name without `dropped_`:
    /// log lines, the `reason` label of `/metrics`); `None` for the others.
    pub fn drop_reason_name(self) -> Option<&'static str> {
        self.name().strip_prefix("dropped_")
    }
}

/// Why a datagram from a server was dropped: each reason has its
/// `dropped_*` [`ServerStat`], which says when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DropReason {
    BadAuthenticator,
    NoMessageAuthenticator,
    UnknownId,
    Malformed,
    UnexpectedCode,
}

impl DropReason {
    /// The counter this reason goes to.
    pub const fn stat(self) -> ServerStat {
        match self {
            DropReason::BadAuthenticator => ServerStat::DroppedBadAuthenticator,
            DropReason::NoMessageAuthenticator => ServerStat::DroppedNoMessageAuthenticator,
            DropReason::UnknownId => ServerStat::DroppedUnknownId,
            DropReason::Malformed => ServerStat::DroppedMalformed,
            DropReason::UnexpectedCode => ServerStat::DroppedUnexpectedCode,
        }
    }

    /// Its counter's name without `dropped_` (`bad_authenticator`, …).
    pub fn name(self) -> &'static str {
        self.stat().drop_reason_name().unwrap_or_default()
    }
}

crate::counters::counters! {
    /// Client-wide counters (`pppoe-bras stats` shows them as
    /// `radius.auth.<name>` and `radius.acct.<name>`).
    pub enum ClientStat in ClientStats {
        /// Most requests in flight at once since start (≤ `max_outstanding`).
        MaxOutstandingSeen = "max_outstanding_seen",
        /// Most requests waiting in the queue at once.
        MaxQueuedSeen = "max_queued_seen",
        /// Requests moved to the next server.
        Failovers = "failovers",
        /// Requests no live server answered.
        NoServer = "no_server",
        /// Requests refused because the queue was full.
        Busy = "busy",
    }
}

/// What became of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Received {
    /// Not from one of this client's servers.
    NotOurs,
    /// Dropped (counted on the server).
    Dropped(DropReason),
    /// A verified answer: its result is ready.
    Answer,
}

/// Most requests waiting for a free slot (beyond `max_outstanding`).
pub const MAX_QUEUED: usize = 65536;

/// At most one log line per key and period; says how many were held back.
pub struct LogLimit {
    period: Duration,
    last: HashMap<&'static str, (Instant, u64)>,
}

impl LogLimit {
    pub fn new(period: Duration) -> LogLimit {
        LogLimit {
            period,
            last: HashMap::new(),
        }
    }

    /// `Some(n)` when a line about `key` may be written at `now` (`n`:
    /// lines held back since the last one); `None`: hold it back.
    pub fn allow(&mut self, now: Instant, key: &'static str) -> Option<u64> {
        match self.last.get_mut(key) {
            Some((at, held)) if now.saturating_duration_since(*at) < self.period => {
                *held += 1;
                None
            }
            Some((at, held)) => {
                *at = now;
                Some(std::mem::take(held))
            }
            None => {
                self.last.insert(key, (now, 0));
                Some(0)
            }
        }
    }

    /// `" (N more like it since the last line)"`, or nothing.
    pub fn more(n: u64) -> String {
        if n == 0 {
            String::new()
        } else {
            format!(" ({n} more like it since the last line)")
        }
    }
}

/// One client (auth or acct) over a list of servers.
pub struct Client {
    servers: Vec<Server>,
    pending: HashMap<Token, Pending>,
    by_id: HashMap<(usize, u8), Token>,
    /// Requests waiting for a free slot, oldest first.
    queue: VecDeque<(Token, Request, Instant)>,
    next_token: Token,
    max_outstanding: usize,
    transmit: VecDeque<(SocketAddr, Vec<u8>)>,
    results: VecDeque<(Token, Outcome)>,
    rng: crate::ppp::rng::Rng,
    log: LogLimit,
    pub stats: ClientStats,
    dead_time: Duration,
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
                credit: 0,
                next_id: rng.next_u32() as u8,
                stats: ServerStats::default(),
            })
            .collect();
        Client {
            servers,
            pending: HashMap::new(),
            by_id: HashMap::new(),
            queue: VecDeque::new(),
            next_token: 1,
            // Identifiers are per server: never more than 256 in flight on one.
            max_outstanding: max_outstanding.max(1),
            transmit: VecDeque::new(),
            results: VecDeque::new(),
            rng,
            log: LogLimit::new(Duration::from_secs(60)),
            stats: ClientStats::default(),
            dead_time: DEAD_TIME,
        }
    }

    /// How long a server that stopped answering is skipped (default
    /// [`DEAD_TIME`]).
    pub fn with_dead_time(mut self, dead_time: Duration) -> Client {
        self.dead_time = dead_time;
        self
    }

    /// True when there is no server at all.
    pub fn is_empty(&self) -> bool {
        self.servers.is_empty()
    }

    /// Requests not finished: in flight and queued.
    pub fn outstanding(&self) -> usize {
        self.pending.len() + self.queue.len()
    }

    /// Requests in flight (sent, waiting for an answer).
    pub fn in_flight(&self) -> usize {
        self.pending.len()
    }

    /// Requests waiting for a free slot.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// The configured limit on requests in flight.
    pub fn max_outstanding(&self) -> usize {
        self.max_outstanding
    }

    /// Each server's address, whether it is dead at `now`, and counters.
    pub fn servers(&self, now: Instant) -> Vec<(SocketAddr, bool, &ServerStats)> {
        self.servers
            .iter()
            .map(|s| (s.cfg.addr, s.dead_until.is_some_and(|t| t > now), &s.stats))
            .collect()
    }

    /// True when every server is dead at `now`.
    pub fn all_dead(&self, now: Instant) -> bool {
        !(0..self.servers.len()).any(|i| self.live(now, i))
    }

    fn live(&self, now: Instant, i: usize) -> bool {
        self.servers[i].dead_until.is_none_or(|t| t <= now)
    }

    /// The server for the next request: among the live ones of the best
    /// priority, the one smooth weighted round-robin picks (each gains its
    /// weight, the richest is picked and pays the group's total).
    fn pick(&mut self, now: Instant) -> Option<usize> {
        let best = (0..self.servers.len())
            .filter(|&i| self.live(now, i))
            .map(|i| self.servers[i].cfg.priority)
            .min()?;
        let group: Vec<usize> = (0..self.servers.len())
            .filter(|&i| self.live(now, i) && self.servers[i].cfg.priority == best)
            .collect();
        let mut total = 0i64;
        for &i in &group {
            let w = i64::from(self.servers[i].cfg.weight.max(1));
            self.servers[i].credit += w;
            total += w;
        }
        let chosen = *group
            .iter()
            .max_by_key(|&&i| (self.servers[i].credit, std::cmp::Reverse(i)))?;
        self.servers[chosen].credit -= total;
        Some(chosen)
    }

    /// Queue a request; its [`Outcome`] comes out of [`Client::poll_result`].
    /// Beyond `max_outstanding` in flight it waits in a queue (FIFO) for a
    /// free slot; `Busy` only when that queue is full too.
    pub fn submit(&mut self, now: Instant, req: Request) -> Result<Token, SubmitError> {
        if self.all_dead(now) {
            return Err(SubmitError::AllDead);
        }
        if self.pending.len() >= self.max_outstanding && self.queue.len() >= MAX_QUEUED {
            self.stats[ClientStat::Busy] += 1;
            return Err(SubmitError::Busy);
        }
        let token = self.next_token;
        self.next_token += 1;
        let created = req.created.unwrap_or(now);
        self.queue.push_back((token, req, created));
        self.admit(now);
        let seen = &mut self.stats[ClientStat::MaxQueuedSeen];
        *seen = (*seen).max(self.queue.len() as u64);
        Ok(token)
    }

    /// Move queued requests into flight while there is room.
    fn admit(&mut self, now: Instant) {
        while self.pending.len() < self.max_outstanding {
            let Some((token, req, created)) = self.queue.pop_front() else {
                break;
            };
            let Some(server) = self.pick(now) else {
                self.stats[ClientStat::NoServer] += 1;
                self.results.push_back((token, Outcome::NoServer));
                continue;
            };
            self.pending.insert(
                token,
                Pending {
                    created,
                    req,
                    server,
                    id: 0,
                    auth: [0; 16],
                    tries: 0,
                    deadline: now,
                },
            );
            self.servers[server].stats[ServerStat::Requests] += 1;
            let seen = &mut self.stats[ClientStat::MaxOutstandingSeen];
            *seen = (*seen).max(self.pending.len() as u64);
            self.send(now, token);
        }
    }

    /// Drop a request (its answer, if any, is then ignored).
    pub fn cancel(&mut self, token: Token) {
        if let Some(p) = self.pending.remove(&token) {
            self.by_id.remove(&(p.server, p.id));
        }
        self.queue.retain(|(t, _, _)| *t != token);
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
    }

    fn drop_datagram(&mut self, now: Instant, server: usize, r: DropReason, code: u8) -> Received {
        self.servers[server].stats[r.stat()] += 1;
        if let Some(n) = self.log.allow(now, r.name()) {
            log::warn!(
                "RADIUS {}: dropped a datagram (code {code}): {}{}",
                self.servers[server].cfg.addr,
                r.name().replace('_', " "),
                LogLimit::more(n)
            );
        }
        Received::Dropped(r)
    }

    /// A datagram from `from`: verified and matched to its request, or
    /// dropped (counted per server and reason, logged at most once a
    /// minute per reason).
    pub fn handle_datagram(&mut self, now: Instant, from: SocketAddr, b: &[u8]) -> Received {
        let Some(server) = self.servers.iter().position(|s| s.cfg.addr == from) else {
            return Received::NotOurs;
        };
        let Ok(pkt) = Packet::parse(b) else {
            return self.drop_datagram(
                now,
                server,
                DropReason::Malformed,
                b.first().copied().unwrap_or(0),
            );
        };
        let Some(&token) = self.by_id.get(&(server, pkt.identifier)) else {
            return self.drop_datagram(now, server, DropReason::UnknownId, pkt.code);
        };
        let Some(p) = self.pending.get(&token) else {
            return self.drop_datagram(now, server, DropReason::UnknownId, pkt.code);
        };
        let expected = match p.req.code {
            code::ACCESS_REQUEST => matches!(
                pkt.code,
                code::ACCESS_ACCEPT | code::ACCESS_REJECT | code::ACCESS_CHALLENGE
            ),
            code::ACCOUNTING_REQUEST => pkt.code == code::ACCOUNTING_RESPONSE,
            _ => false,
        };
        if !expected {
            return self.drop_datagram(now, server, DropReason::UnexpectedCode, pkt.code);
        }
        // Message-Authenticator is required on every answer to an
        // Access-Request (RFC 3579 §3.2, BlastRADIUS / CVE-2024-3596).
        let require_ma = p.req.code == code::ACCESS_REQUEST;
        let secret = &self.servers[server].cfg.secret;
        match verify_response(b, &p.auth, secret, require_ma) {
            Ok(()) => {}
            Err(VerifyError::NoMessageAuthenticator) => {
                return self.drop_datagram(
                    now,
                    server,
                    DropReason::NoMessageAuthenticator,
                    pkt.code,
                )
            }
            Err(_) => {
                return self.drop_datagram(now, server, DropReason::BadAuthenticator, pkt.code)
            }
        }
        self.by_id.remove(&(server, pkt.identifier));
        self.pending.remove(&token);
        let s = &mut self.servers[server];
        s.dead_until = None;
        let answered = match pkt.code {
            code::ACCESS_ACCEPT => ServerStat::Accepts,
            code::ACCESS_REJECT => ServerStat::Rejects,
            code::ACCESS_CHALLENGE => ServerStat::Challenges,
            _ => ServerStat::AcctResponses,
        };
        s.stats[answered] += 1;
        self.results.push_back((token, Outcome::Response(pkt)));
        self.admit(now);
        Received::Answer
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
                self.servers[server].stats[ServerStat::Retransmits] += 1;
                self.send(now, token);
                continue;
            }
            self.servers[server].stats[ServerStat::Timeouts] += 1;
            // The server is dead; every request on it moves on.
            if self.servers[server].dead_until.is_none_or(|t| t <= now) {
                log::warn!(
                    "RADIUS server {} not answering: dead for {}s",
                    self.servers[server].cfg.addr,
                    self.dead_time.as_secs()
                );
                self.servers[server].dead_until = Some(now + self.dead_time);
                self.servers[server].stats[ServerStat::MarkedDead] += 1;
            }
            match self.pick(now) {
                Some(next) if next != server => {
                    self.stats[ClientStat::Failovers] += 1;
                    self.servers[next].stats[ServerStat::Requests] += 1;
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
                    self.stats[ClientStat::NoServer] += 1;
                    self.results.push_back((token, Outcome::NoServer));
                }
            }
        }
        self.admit(now);
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
mod tests;
