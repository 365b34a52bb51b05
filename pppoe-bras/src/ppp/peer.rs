//! The client side of a PPP session, for the subscriber emulator: the same
//! [`Fsm`] as the BRAS with the mirrored policy (we ask for an address and
//! get authenticated instead of authenticating).
//!
//! Same sans-IO call order as [`super::link::Link`]. Interop quirks of
//! real CPEs are fields of [`PeerConfig`] (VJ first, MS-CHAPv2 first, extra
//! NCPs that the BRAS must Protocol-Reject, small MRU).

use std::collections::VecDeque;
use std::net::Ipv4Addr;
use std::time::{Duration, Instant};

use crate::wire::ppp::{self as wire, Code, OptionWriter};

use super::chap::ChapClient;
use super::fsm::{self, Fsm, FsmConfig, State};
use super::ipcp::{IpcpClient, IpcpClientPolicy};
use super::lcp::{Lcp, LcpPolicy};
use super::pap::{ClientOutcome, PapClient};
use super::rng::Rng;
use super::{proto, AuthProto, DownReason};

/// Client configuration (one emulated CPE).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PeerConfig {
    pub user: String,
    pub password: Vec<u8>,
    /// MRU we request (YAMAHA routers: 1454).
    pub mru: u16,
    /// Auth protocols we agree to when the server asks (first = our Nak
    /// suggestion).
    pub auth_accept: Vec<AuthProto>,
    /// Quirk: Nak the server's first Auth-Protocol with this raw value, e.g.
    /// `vec![0xc2, 0x23, 0x81]` for an MS-CHAPv2-first client.
    pub auth_nak_first: Option<Vec<u8>>,
    /// Ask for both DNS servers (RFC 1877).
    pub request_dns: bool,
    /// Ask for VJ compression first (EdgeRouter).
    pub request_vj: bool,
    /// Our LCP Echo-Request interval; zero: we only answer.
    pub echo_interval: Duration,
    pub echo_failure: u32,
    /// Other NCPs to start once networking (e.g. `proto::CCP`,
    /// `proto::IPV6CP`): one Configure-Request each; a BRAS that does not
    /// speak them answers with Protocol-Reject (see [`Peer::rejected_protocols`]).
    pub extra_protocols: Vec<u16>,
    pub fsm: FsmConfig,
}

impl Default for PeerConfig {
    fn default() -> Self {
        PeerConfig {
            user: "user".to_owned(),
            password: b"password".to_vec(),
            mru: 1492,
            auth_accept: vec![AuthProto::Chap, AuthProto::Pap],
            auth_nak_first: None,
            request_dns: true,
            request_vj: false,
            echo_interval: Duration::ZERO,
            echo_failure: 3,
            extra_protocols: Vec::new(),
            fsm: FsmConfig::default(),
        }
    }
}

/// What the emulated client observes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PeerEvent {
    /// The server accepted our credentials.
    Authenticated,
    /// The server refused them.
    AuthFailed { message: String },
    /// IPCP Opened.
    Up {
        /// Our address.
        address: Ipv4Addr,
        /// The server's IPCP address.
        peer_address: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
        /// The server's MRU (largest information field we may send).
        mru: u16,
    },
    /// IPCP left Opened (LCP may stay up).
    NetworkDown,
    /// The session is over (emitted once).
    Down { reason: DownReason },
}

#[derive(Debug)]
enum Authenticatee {
    None,
    Pap(PapClient),
    Chap(ChapClient),
}

/// One emulated PPP client.
#[derive(Debug)]
pub struct Peer {
    cfg: PeerConfig,
    rng: Rng,
    lcp: Fsm<Lcp>,
    ipcp: Fsm<IpcpClient>,
    auth: Authenticatee,
    networking: bool,
    network_up: bool,
    auth_failed: bool,
    echo_at: Option<Instant>,
    echo_pending: u32,
    echo_sent: u64,
    echo_replies: u64,
    closing: Option<DownReason>,
    dead: bool,
    rejected: Vec<u16>,
    transmit: VecDeque<(u16, Vec<u8>)>,
    events: VecDeque<PeerEvent>,
}

impl Peer {
    /// Start: LCP Up + Open, first Configure-Request queued.
    pub fn new(cfg: PeerConfig, now: Instant, rng_seed: u64) -> Self {
        let mut rng = Rng::new(rng_seed);
        let lcp = Lcp::new(
            LcpPolicy {
                mru: cfg.mru,
                max_peer_mru: cfg.mru.max(1492),
                request_auth: Vec::new(),
                accept_auth: cfg.auth_accept.clone(),
                auth_nak_first: cfg.auth_nak_first.clone(),
            },
            rng.next_u64(),
        );
        let ipcp = IpcpClient::new(IpcpClientPolicy {
            request_dns: cfg.request_dns,
            request_vj: cfg.request_vj,
        });
        let mut peer = Peer {
            lcp: Fsm::new(lcp, cfg.fsm.clone(), rng.next_u8()),
            ipcp: Fsm::new(ipcp, cfg.fsm.clone(), rng.next_u8()),
            rng,
            cfg,
            auth: Authenticatee::None,
            networking: false,
            network_up: false,
            auth_failed: false,
            echo_at: None,
            echo_pending: 0,
            echo_sent: 0,
            echo_replies: 0,
            closing: None,
            dead: false,
            rejected: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        };
        peer.lcp.open(now);
        peer.lcp.up(now);
        peer.pump(now);
        peer
    }

    /// A PPP frame from the server.
    pub fn handle_frame(&mut self, now: Instant, protocol: u16, info: &[u8]) {
        if self.dead {
            return;
        }
        match protocol {
            proto::LCP => {
                let term_req = matches!(wire::parse(info), Ok((h, _)) if h.code == Code::TermReq);
                self.lcp.handle_packet(now, info);
                if term_req {
                    self.pump(now);
                    let reason = match &self.closing {
                        Some(r) => r.clone(),
                        None if self.auth_failed => DownReason::AuthFailed,
                        None => DownReason::PeerTerminate,
                    };
                    self.die(reason);
                }
            }
            proto::PAP | proto::CHAP if self.lcp.is_opened() => {
                let outcome = match (&mut self.auth, protocol) {
                    (Authenticatee::Pap(p), proto::PAP) => p.handle_packet(info),
                    (Authenticatee::Chap(c), proto::CHAP) => c.handle_packet(info),
                    _ => None,
                };
                match outcome {
                    Some(ClientOutcome::Success(_)) => {
                        self.events.push_back(PeerEvent::Authenticated);
                        self.start_network(now);
                    }
                    Some(ClientOutcome::Failure(message)) => {
                        self.auth_failed = true;
                        self.events.push_back(PeerEvent::AuthFailed { message });
                    }
                    None => {}
                }
            }
            proto::IPCP if self.networking => self.ipcp.handle_packet(now, info),
            p if self.cfg.extra_protocols.contains(&p) => {}
            proto::IPV4 => {}
            other => {
                if self.networking && self.lcp.is_opened() {
                    let mut data = other.to_be_bytes().to_vec();
                    data.extend_from_slice(info);
                    self.lcp.send_packet(Code::ProtRej, &data);
                }
            }
        }
        self.pump(now);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.dead {
            return;
        }
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        if let Authenticatee::Pap(p) = &mut self.auth {
            p.handle_timeout(now);
            if p.exhausted() {
                self.close(now, DownReason::AuthTimeout);
            }
        }
        if matches!(self.echo_at, Some(t) if now >= t) {
            if self.echo_pending >= self.cfg.echo_failure {
                self.die(DownReason::EchoTimeout);
                return;
            }
            let magic = self.lcp.proto().our_magic();
            self.lcp.send_packet(Code::EchoReq, &magic.to_be_bytes());
            self.echo_sent += 1;
            self.echo_pending += 1;
            self.echo_at = Some(now + self.cfg.echo_interval);
        }
        self.pump(now);
    }

    /// Hang up: LCP Terminate-Request, `Down { reason }` after the Ack.
    pub fn close(&mut self, now: Instant, reason: DownReason) {
        if self.dead || self.closing.is_some() {
            return;
        }
        self.closing = Some(reason);
        self.echo_at = None;
        self.lcp.close(now);
        self.pump(now);
    }

    /// End at once without any PPP frame (PADT from the server).
    pub fn kill(&mut self, reason: DownReason) {
        self.transmit.clear();
        while self.lcp.poll_transmit().is_some() {}
        self.die(reason);
    }

    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.dead {
            return None;
        }
        let pap = match &self.auth {
            Authenticatee::Pap(p) => p.poll_timeout(),
            _ => None,
        };
        [
            self.lcp.poll_timeout(),
            self.ipcp.poll_timeout(),
            pap,
            self.echo_at,
        ]
        .into_iter()
        .flatten()
        .min()
    }

    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.events.pop_front()
    }

    /// LCP Echo-Requests we sent and Echo-Replies we got.
    pub fn echo_counts(&self) -> (u64, u64) {
        (self.echo_sent, self.echo_replies)
    }

    /// Copies of our acknowledged Configure-Requests the server sent again
    /// (LCP, IPCP) that we answered without renegotiating.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.lcp.duplicates_absorbed() + self.ipcp.duplicates_absorbed()
    }

    /// Answer later CHAP challenges with this password (re-challenge tests).
    pub fn set_password(&mut self, password: &[u8]) {
        self.cfg.password = password.to_vec();
        if let Authenticatee::Chap(c) = &mut self.auth {
            c.set_password(password);
        }
    }

    /// Protocols the server Protocol-Rejected (e.g. CCP, IPv6CP).
    pub fn rejected_protocols(&self) -> &[u16] {
        &self.rejected
    }

    pub fn is_down(&self) -> bool {
        self.dead
    }

    pub fn is_up(&self) -> bool {
        self.network_up
    }

    pub fn lcp_state(&self) -> State {
        self.lcp.state()
    }

    pub fn ipcp_state(&self) -> State {
        self.ipcp.state()
    }

    /// The Auth-Protocol the server required.
    pub fn auth_proto(&self) -> Option<AuthProto> {
        self.lcp.proto().peer_auth()
    }

    /// The server's MRU.
    pub fn peer_mru(&self) -> u16 {
        self.lcp.proto().peer_mru()
    }

    /// Our IPCP address (0.0.0.0 until assigned).
    pub fn address(&self) -> Ipv4Addr {
        self.ipcp.proto().address()
    }

    pub fn config(&self) -> &PeerConfig {
        &self.cfg
    }

    // ---- internals ----

    fn on_lcp_up(&mut self, now: Instant) {
        self.echo_pending = 0;
        self.echo_at = (!self.cfg.echo_interval.is_zero()).then(|| now + self.cfg.echo_interval);
        self.auth = match self.lcp.proto().peer_auth() {
            Some(AuthProto::Pap) => {
                let mut p = PapClient::new(
                    self.cfg.user.as_bytes(),
                    &self.cfg.password,
                    self.cfg.fsm.restart,
                    self.cfg.fsm.max_configure,
                    self.rng.next_u8(),
                );
                p.start(now);
                Authenticatee::Pap(p)
            }
            Some(AuthProto::Chap) => Authenticatee::Chap(ChapClient::new(
                self.cfg.user.as_bytes(),
                &self.cfg.password,
            )),
            None => {
                self.start_network(now);
                Authenticatee::None
            }
        };
    }

    fn start_network(&mut self, now: Instant) {
        if self.networking {
            return;
        }
        self.networking = true;
        self.ipcp.open(now);
        self.ipcp.up(now);
        for p in self.cfg.extra_protocols.clone() {
            let mut opts = Vec::new();
            if p == proto::IPV6CP {
                // Interface-Identifier (RFC 5072 §4.1), random and non-zero.
                let id = self.rng.next_u64() | 1;
                OptionWriter::new(&mut opts).push(1, &id.to_be_bytes());
            }
            let id = self.rng.next_u8();
            self.transmit
                .push_back((p, wire::packet(Code::ConfReq, id, &opts)));
        }
    }

    fn pump(&mut self, now: Instant) {
        loop {
            let mut progress = false;
            while let Some(p) = self.lcp.poll_transmit() {
                self.transmit.push_back((proto::LCP, p));
                progress = true;
            }
            loop {
                let (protocol, p) = match &mut self.auth {
                    Authenticatee::Pap(a) => (proto::PAP, a.poll_transmit()),
                    Authenticatee::Chap(a) => (proto::CHAP, a.poll_transmit()),
                    Authenticatee::None => (0, None),
                };
                let Some(p) = p else { break };
                self.transmit.push_back((protocol, p));
                progress = true;
            }
            while let Some(p) = self.ipcp.poll_transmit() {
                self.transmit.push_back((proto::IPCP, p));
                progress = true;
            }
            if self.dead {
                return;
            }
            while let Some(ev) = self.lcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => self.on_lcp_up(now),
                    fsm::Event::Down => {
                        self.ipcp.down(now);
                        self.networking = false;
                        self.auth = Authenticatee::None;
                        self.echo_at = None;
                    }
                    fsm::Event::Finished => {
                        let reason = self
                            .closing
                            .clone()
                            .unwrap_or(DownReason::NegotiationFailed("lcp"));
                        self.die(reason);
                        return;
                    }
                    fsm::Event::EchoReply { .. } => {
                        self.echo_replies += 1;
                        self.echo_pending = 0;
                    }
                    fsm::Event::EchoRequest => self.echo_pending = 0,
                    fsm::Event::ProtocolRejected { protocol } => {
                        if protocol == proto::IPCP {
                            self.ipcp.protocol_rejected(now);
                        }
                        if !self.rejected.contains(&protocol) {
                            self.rejected.push(protocol);
                        }
                    }
                    fsm::Event::Started => {}
                }
            }
            if let Some(reason) = self.lcp.proto_mut().take_failure() {
                progress = true;
                self.close(now, reason);
            }
            while let Some(ev) = self.ipcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => {
                        self.network_up = true;
                        let ip = self.ipcp.proto();
                        self.events.push_back(PeerEvent::Up {
                            address: ip.address(),
                            peer_address: ip.peer_address(),
                            dns: ip.dns(),
                            mru: self.lcp.proto().peer_mru(),
                        });
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
            self.events.push_back(PeerEvent::NetworkDown);
        }
    }

    fn die(&mut self, reason: DownReason) {
        if self.dead {
            return;
        }
        while let Some(p) = self.lcp.poll_transmit() {
            self.transmit.push_back((proto::LCP, p));
        }
        self.network_down();
        self.dead = true;
        self.echo_at = None;
        self.events.push_back(PeerEvent::Down { reason });
    }
}
