//! The server side of one PPP session: LCP, authentication and IPCP tied
//! into the RFC 1661 §3.2 phases (Establish → Authenticate → Network →
//! Terminate → Dead).
//!
//! Sans-IO, quinn style. Call order:
//! 1. feed inputs: [`Link::handle_frame`] for every PPP frame of the session
//!    (protocol + information field), [`Link::handle_timeout`] when
//!    [`Link::poll_timeout`] is reached, [`Link::handle_auth_result`] after an
//!    [`LinkEvent::Authenticate`], [`Link::close`] to kill the session;
//! 2. drain [`Link::poll_transmit`] (send each as a PPPoE session frame),
//!    then [`Link::poll_event`];
//! 3. re-arm the timer with [`Link::poll_timeout`].
//!
//! [`LinkEvent::Down`] comes exactly once; frames queued before it (e.g. a
//! Terminate-Ack) are still returned by `poll_transmit`, and afterwards the
//! link ignores input and has no timeout.

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::ppp::{self as wire, Code};

use super::chap::ChapServer;
use super::fsm::{self, Fsm, FsmConfig, State};
use super::ipcp::IpcpServer;
use super::lcp::{Lcp, LcpPolicy};
use super::pap::PapServer;
use super::rng::Rng;
use super::{proto, AuthProto, AuthResult, Credential, DownReason};

/// Server-side link configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// Our MRU and the largest MRU we accept from the peer: 1492 on plain
    /// PPPoE, up to PPP-Max-Payload with RFC 4638.
    pub mru: u16,
    /// Authentication protocols in order of preference. Empty means the
    /// default `[Chap, Pap]`: the BRAS always authenticates.
    pub auth: Vec<AuthProto>,
    /// Our IPCP address.
    pub local_address: Ipv4Addr,
    /// DNS servers handed out via RFC 1877 (None: the option is rejected).
    pub dns: [Option<Ipv4Addr>; 2],
    /// NBNS servers (RFC 1877), usually none.
    pub nbns: [Option<Ipv4Addr>; 2],
    /// LCP Echo-Request interval in Opened; zero disables keepalive.
    pub echo_interval: Duration,
    /// Unanswered Echo-Requests before the link is declared dead.
    pub echo_failure: u32,
    /// Time allowed from LCP Opened to an authentication verdict.
    pub auth_timeout: Duration,
    /// Our CHAP name (e.g. the AC-Name).
    pub auth_name: String,
    /// Re-challenge a CHAP-authenticated peer this often in the Network
    /// phase (RFC 1994 §2.3: "at random intervals" is allowed, periodic is
    /// what BRASes do); zero: never. A wrong or missing answer (within
    /// `auth_timeout`) ends the link.
    pub chap_rechallenge: Duration,
    /// RFC 1661 counters and restart timer (LCP, IPCP, CHAP retransmits).
    pub fsm: FsmConfig,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            mru: 1492,
            auth: vec![AuthProto::Chap, AuthProto::Pap],
            local_address: Ipv4Addr::new(172, 16, 0, 254),
            dns: [None, None],
            nbns: [None, None],
            echo_interval: Duration::from_secs(10),
            echo_failure: 3,
            auth_timeout: Duration::from_secs(30),
            auth_name: "pppoe-bras".to_owned(),
            chap_rechallenge: Duration::ZERO,
            fsm: FsmConfig::default(),
        }
    }
}

/// What the link reports to the session layer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LinkEvent {
    /// Verify this credential, then call [`Link::handle_auth_result`].
    Authenticate {
        user: String,
        credential: Credential,
    },
    /// A CHAP re-challenge was answered (Network phase): verify this
    /// credential for the same user (no new address), then call
    /// [`Link::handle_auth_result`]; the address in `Accept` is ignored.
    Reauthenticate {
        user: String,
        credential: Credential,
    },
    /// The peer was told Success/Ack.
    AuthSucceeded { user: String, proto: AuthProto },
    /// The peer was told Failure/Nak; the link is terminating.
    AuthFailed { user: String, message: String },
    /// IPCP Opened: install the data path for `peer_address`.
    NetworkUp { peer_address: Ipv4Addr },
    /// IPCP left Opened (LCP may stay up, RFC 1661 §3.7). Also emitted
    /// right before `Down` if the network was up.
    NetworkDown,
    /// The session is over: send PADT and forget it. Emitted exactly once.
    Down { reason: DownReason },
}

/// RFC 1661 §3.2 link phases.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Establish,
    Authenticate,
    Network,
    Terminate,
    Dead,
}

#[derive(Debug)]
enum Authenticator {
    None,
    Pap(PapServer),
    Chap(ChapServer),
}

/// One subscriber's PPP link, server role.
#[derive(Debug)]
pub struct Link {
    cfg: LinkConfig,
    rng: Rng,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<IpcpServer>,
    auth: Authenticator,
    phase: Phase,
    user: Option<String>,
    /// An Authenticate event is out and no verdict came back yet.
    auth_pending: bool,
    /// A Reauthenticate event is out and no verdict came back yet.
    reauth_pending: bool,
    /// Next CHAP re-challenge.
    rechallenge_at: Option<Instant>,
    auth_deadline: Option<Instant>,
    echo_at: Option<Instant>,
    echo_pending: u32,
    network_up: bool,
    /// Why we are closing (Down reason once LCP finishes).
    closing: Option<DownReason>,
    transmit: VecDeque<(u16, Vec<u8>)>,
    events: VecDeque<LinkEvent>,
}

impl Link {
    /// Start the link: LCP gets Up and Open, so the first Configure-Request
    /// is queued immediately. `rng_seed` drives Magic-Numbers, identifiers
    /// and CHAP challenges (seed it from the OS RNG in production).
    pub fn new(mut cfg: LinkConfig, now: Instant, rng_seed: u64) -> Self {
        if cfg.auth.is_empty() {
            cfg.auth = vec![AuthProto::Chap, AuthProto::Pap];
        }
        let mut rng = Rng::new(rng_seed);
        let lcp = Lcp::new(
            LcpPolicy {
                mru: cfg.mru,
                max_peer_mru: cfg.mru,
                request_auth: cfg.auth.clone(),
                accept_auth: Vec::new(),
                auth_nak_first: None,
            },
            rng.next_u64(),
        );
        let ipcp = IpcpServer::new(cfg.local_address, cfg.dns, cfg.nbns);
        let mut link = Link {
            lcp: Fsm::new(lcp, cfg.fsm.clone(), rng.next_u8()),
            ipcp: Fsm::new(ipcp, cfg.fsm.clone(), rng.next_u8()),
            rng,
            cfg,
            auth: Authenticator::None,
            phase: Phase::Establish,
            user: None,
            auth_pending: false,
            reauth_pending: false,
            rechallenge_at: None,
            auth_deadline: None,
            echo_at: None,
            echo_pending: 0,
            network_up: false,
            closing: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        };
        link.lcp.open(now);
        link.lcp.up(now);
        link.pump(now);
        link
    }

    /// A PPP frame from the peer: `protocol` and the information field.
    pub fn handle_frame(&mut self, now: Instant, protocol: u16, info: &[u8]) {
        if self.phase == Phase::Dead {
            return;
        }
        match protocol {
            proto::LCP => self.handle_lcp(now, info),
            proto::PAP | proto::CHAP => self.handle_auth_packet(protocol, info),
            proto::IPCP => {
                // NCP packets before the Network phase are discarded (§3.2).
                if self.phase == Phase::Network {
                    self.ipcp.handle_packet(now, info);
                }
            }
            // IPv4 data belongs to the XDP path; a stray one is not our
            // business.
            proto::IPV4 => {}
            other => {
                // Unsupported protocol (IPv6CP, CCP, IPv6, …): Protocol-Reject,
                // only possible in LCP Opened, and only once networking.
                if self.phase == Phase::Network && self.lcp.is_opened() {
                    let mut data = Vec::with_capacity(2 + info.len());
                    data.extend_from_slice(&other.to_be_bytes());
                    data.extend_from_slice(info);
                    self.lcp.send_packet(Code::ProtRej, &data);
                }
            }
        }
        self.pump(now);
    }

    /// Timers: LCP/IPCP restart, CHAP retransmit, auth timeout, keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.phase == Phase::Dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        if let Authenticator::Chap(c) = &mut self.auth {
            c.handle_timeout(now);
        }
        if matches!(self.rechallenge_at, Some(t) if now >= t) {
            self.rechallenge_at = None;
            if let (Authenticator::Chap(c), Phase::Network) = (&mut self.auth, self.phase) {
                // New identifier and value (RFC 1994 §2.3).
                c.start(now);
                self.auth_deadline = Some(now + self.cfg.auth_timeout);
            }
        }
        self.pump(now);
        if matches!(self.auth_deadline, Some(t) if now >= t) {
            self.auth_deadline = None;
            self.auth_pending = false;
            self.reauth_pending = false;
            self.close(now, DownReason::AuthTimeout);
        }
        if matches!(self.echo_at, Some(t) if now >= t) {
            self.keepalive(now);
        }
        self.pump(now);
    }

    /// The verdict on the last [`LinkEvent::Authenticate`]. Ignored if none
    /// is pending (late answers after a timeout or teardown).
    pub fn handle_auth_result(&mut self, now: Instant, result: AuthResult) {
        if self.reauth_pending && self.phase == Phase::Network {
            self.reauth_result(now, result);
            return;
        }
        if !self.auth_pending || self.phase != Phase::Authenticate {
            return;
        }
        self.auth_pending = false;
        self.auth_deadline = None;
        let user = self.user.clone().unwrap_or_default();
        let proto = match &self.auth {
            Authenticator::Pap(_) => AuthProto::Pap,
            _ => AuthProto::Chap,
        };
        match result {
            AuthResult::Accept { address } => {
                match &mut self.auth {
                    Authenticator::Pap(p) => p.verdict(true, "Login ok"),
                    Authenticator::Chap(c) => c.verdict(true, "Welcome"),
                    Authenticator::None => {}
                }
                self.events
                    .push_back(LinkEvent::AuthSucceeded { user, proto });
                self.phase = Phase::Network;
                self.schedule_rechallenge(now);
                self.ipcp.proto_mut().set_assigned(address);
                let mru = usize::from(self.peer_mru());
                self.ipcp.proto_mut().set_max_packet(mru);
                self.pump(now);
                self.ipcp.open(now);
                self.ipcp.up(now);
            }
            AuthResult::Reject { message } => {
                match &mut self.auth {
                    Authenticator::Pap(p) => p.verdict(false, &message),
                    Authenticator::Chap(c) => c.verdict(false, &message),
                    Authenticator::None => {}
                }
                self.events
                    .push_back(LinkEvent::AuthFailed { user, message });
                self.pump(now);
                self.close(now, DownReason::AuthFailed);
            }
        }
        self.pump(now);
    }

    fn schedule_rechallenge(&mut self, now: Instant) {
        if matches!(self.auth, Authenticator::Chap(_)) && !self.cfg.chap_rechallenge.is_zero() {
            self.rechallenge_at = Some(now + self.cfg.chap_rechallenge);
        }
    }

    /// The verdict on a re-challenge's answer.
    fn reauth_result(&mut self, now: Instant, result: AuthResult) {
        self.reauth_pending = false;
        self.auth_deadline = None;
        let Authenticator::Chap(c) = &mut self.auth else {
            return;
        };
        let user = self.user.clone().unwrap_or_default();
        match result {
            AuthResult::Accept { .. } => {
                c.verdict(true, "Welcome");
                self.schedule_rechallenge(now);
            }
            AuthResult::Reject { message } => {
                c.verdict(false, &message);
                self.events
                    .push_back(LinkEvent::AuthFailed { user, message });
                self.pump(now);
                self.close(now, DownReason::AuthFailed);
            }
        }
        self.pump(now);
    }

    /// Terminate the link: LCP Terminate-Request; `Down { reason }` follows
    /// the Terminate-Ack or Max-Terminate timeouts (or comes at once if LCP
    /// was not negotiating). A second close is ignored.
    pub fn close(&mut self, now: Instant, reason: DownReason) {
        if self.phase == Phase::Dead || self.closing.is_some() {
            return;
        }
        self.closing = Some(reason);
        self.phase = Phase::Terminate;
        self.auth_deadline = None;
        self.rechallenge_at = None;
        self.echo_at = None;
        self.lcp.close(now);
        self.pump(now);
    }

    /// End the link at once, without any PPP frame: e.g. on PADT
    /// ([`DownReason::Padt`]), after which RFC 2516 §5.5 forbids PPP traffic.
    /// Pending frames are discarded; `Down { reason }` follows (once).
    pub fn kill(&mut self, reason: DownReason) {
        self.transmit.clear();
        while self.lcp.poll_transmit().is_some() {}
        self.die(reason);
    }

    /// Next frame to send: (PPP protocol, information field).
    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.transmit.pop_front()
    }

    /// Earliest deadline for [`Link::handle_timeout`]; None once down.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.phase == Phase::Dead {
            return None;
        }
        let chap = match &self.auth {
            Authenticator::Chap(c) => c.poll_timeout(),
            _ => None,
        };
        [
            self.lcp.poll_timeout(),
            self.ipcp.poll_timeout(),
            chap,
            self.auth_deadline,
            self.rechallenge_at,
            self.echo_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.events.pop_front()
    }

    /// The peer's MRU (largest PPP information field we may send it).
    pub fn peer_mru(&self) -> u16 {
        self.lcp.proto().peer_mru()
    }

    /// The user name the peer presented, once it did.
    pub fn user(&self) -> Option<&str> {
        self.user.as_deref()
    }

    pub fn phase(&self) -> Phase {
        self.phase
    }

    pub fn is_down(&self) -> bool {
        self.phase == Phase::Dead
    }

    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// The authentication protocol LCP agreed on.
    pub fn auth_proto(&self) -> Option<AuthProto> {
        self.lcp.proto().auth()
    }

    /// The address given to the peer (after an accepted authentication).
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        Some(self.ipcp.proto().assigned()).filter(|a| !a.is_unspecified())
    }

    pub fn local_address(&self) -> Ipv4Addr {
        self.cfg.local_address
    }

    pub fn config(&self) -> &LinkConfig {
        &self.cfg
    }

    /// Copies of already acknowledged Configure-Requests (LCP, IPCP) that
    /// arrived in Opened and were re-acknowledged without renegotiating.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.lcp.duplicates_absorbed() + self.ipcp.duplicates_absorbed()
    }

    // ---- internals ----

    fn handle_lcp(&mut self, now: Instant, info: &[u8]) {
        let term_req = matches!(wire::parse(info), Ok((h, _)) if h.code == Code::TermReq);
        self.lcp.handle_packet(now, info);
        if term_req {
            // Terminate-Ack is queued; for PPPoE we need not wait a restart
            // period before going down (PADT follows).
            self.pump(now);
            let reason = self.closing.clone().unwrap_or(DownReason::PeerTerminate);
            self.die(reason);
        }
    }

    fn handle_auth_packet(&mut self, protocol: u16, info: &[u8]) {
        if !matches!(self.phase, Phase::Authenticate | Phase::Network) {
            return;
        }
        let credential = match (&mut self.auth, protocol) {
            (Authenticator::Pap(p), proto::PAP) => p.handle_packet(info).map(|r| {
                (
                    r.user,
                    Credential::Pap {
                        password: r.password,
                    },
                )
            }),
            (Authenticator::Chap(c), proto::CHAP) => c.handle_packet(info).map(|r| {
                (
                    r.user,
                    Credential::ChapMd5 {
                        identifier: r.identifier,
                        challenge: r.challenge,
                        response: r.response,
                    },
                )
            }),
            // Not the negotiated protocol: silently discarded.
            _ => None,
        };
        if let Some((user, credential)) = credential {
            if self.phase == Phase::Authenticate {
                self.user = Some(user.clone());
                self.auth_pending = true;
                self.events
                    .push_back(LinkEvent::Authenticate { user, credential });
            } else if self.phase == Phase::Network && !self.reauth_pending {
                // The answer to a re-challenge (the CHAP server hands out a
                // response only while a challenge is outstanding).
                self.reauth_pending = true;
                self.events
                    .push_back(LinkEvent::Reauthenticate { user, credential });
            }
        }
    }

    fn keepalive(&mut self, now: Instant) {
        if !self.lcp.is_opened() || self.cfg.echo_interval.is_zero() {
            self.echo_at = None;
            return;
        }
        if self.echo_pending >= self.cfg.echo_failure {
            // The peer is gone: no Terminate-Request, just down.
            self.die(DownReason::EchoTimeout);
            return;
        }
        let magic = self.lcp.proto().our_magic();
        self.lcp.send_packet(Code::EchoReq, &magic.to_be_bytes());
        self.echo_pending += 1;
        self.echo_at = Some(now + self.cfg.echo_interval);
    }

    fn on_lcp_up(&mut self, now: Instant) {
        if self.closing.is_some() {
            return;
        }
        self.phase = Phase::Authenticate;
        self.auth_pending = false;
        self.auth = match self.lcp.proto().auth() {
            Some(AuthProto::Chap) => {
                let mut c = ChapServer::new(
                    &self.cfg.auth_name,
                    self.cfg.fsm.restart,
                    self.cfg.fsm.max_configure,
                    self.rng.next_u64(),
                );
                c.start(now);
                Authenticator::Chap(c)
            }
            Some(AuthProto::Pap) => Authenticator::Pap(PapServer::new()),
            None => Authenticator::None,
        };
        self.auth_deadline = Some(now + self.cfg.auth_timeout);
        self.echo_pending = 0;
        self.echo_at = (!self.cfg.echo_interval.is_zero()).then(|| now + self.cfg.echo_interval);
    }

    fn on_lcp_down(&mut self, now: Instant) {
        // Renegotiation or termination: NCPs go down, authentication restarts.
        self.ipcp.down(now);
        self.auth = Authenticator::None;
        self.auth_pending = false;
        self.reauth_pending = false;
        self.rechallenge_at = None;
        self.auth_deadline = None;
        self.echo_at = None;
        if self.phase != Phase::Terminate {
            self.phase = Phase::Establish;
        }
    }

    /// Move queued packets out and react to sub-machine events until quiet.
    fn pump(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(p) = self.lcp.poll_transmit() {
                self.transmit.push_back((proto::LCP, p));
                progress = true;
            }
            loop {
                let (protocol, p) = match &mut self.auth {
                    Authenticator::Pap(a) => (proto::PAP, a.poll_transmit()),
                    Authenticator::Chap(a) => (proto::CHAP, a.poll_transmit()),
                    Authenticator::None => (0, None),
                };
                let Some(p) = p else { break };
                self.transmit.push_back((protocol, p));
                progress = true;
            }
            while let Some(p) = self.ipcp.poll_transmit() {
                self.transmit.push_back((proto::IPCP, p));
                progress = true;
            }
            if self.phase == Phase::Dead {
                return;
            }
            while let Some(ev) = self.lcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => self.on_lcp_up(now),
                    fsm::Event::Down => self.on_lcp_down(now),
                    fsm::Event::Finished => {
                        let reason = self
                            .closing
                            .clone()
                            .unwrap_or(DownReason::NegotiationFailed("lcp"));
                        self.die(reason);
                        return;
                    }
                    fsm::Event::Started => {}
                    fsm::Event::EchoReply { magic, .. } => {
                        let ours = self.lcp.proto().our_magic();
                        // Our own magic back means a loop, not a live peer.
                        if magic == 0 || magic != ours {
                            self.echo_pending = 0;
                        }
                    }
                    fsm::Event::EchoRequest => self.echo_pending = 0,
                    fsm::Event::ProtocolRejected { protocol } => match protocol {
                        proto::IPCP => self.ipcp.protocol_rejected(now),
                        proto::PAP | proto::CHAP => {
                            self.close(now, DownReason::NegotiationFailed("auth"))
                        }
                        _ => {}
                    },
                }
            }
            if let Some(reason) = self.lcp.proto_mut().take_failure() {
                progress = true;
                if reason == DownReason::LoopedBack {
                    self.die(reason);
                    return;
                }
                self.close(now, reason);
            }
            while let Some(ev) = self.ipcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => {
                        self.network_up = true;
                        let peer_address = self.ipcp.proto().assigned();
                        self.events.push_back(LinkEvent::NetworkUp { peer_address });
                    }
                    fsm::Event::Down => self.network_down(),
                    _ => {}
                }
            }
            if matches!(
                self.lcp.state(),
                State::Initial | State::Starting | State::Closed | State::Stopped
            ) {
                let reason = self
                    .closing
                    .clone()
                    .unwrap_or(DownReason::NegotiationFailed("lcp"));
                self.die(reason);
                return;
            }
            if !progress {
                return;
            }
        }
    }

    fn network_down(&mut self) {
        if self.network_up {
            self.network_up = false;
            self.events.push_back(LinkEvent::NetworkDown);
        }
    }

    fn die(&mut self, reason: DownReason) {
        if self.phase == Phase::Dead {
            return;
        }
        // Flush what the machines still hold (e.g. a Terminate-Ack).
        while let Some(p) = self.lcp.poll_transmit() {
            self.transmit.push_back((proto::LCP, p));
        }
        self.network_down();
        self.phase = Phase::Dead;
        self.auth_deadline = None;
        self.rechallenge_at = None;
        self.echo_at = None;
        self.auth_pending = false;
        self.reauth_pending = false;
        self.events.push_back(LinkEvent::Down { reason });
    }
}
