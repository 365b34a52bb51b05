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
use super::fsm::{FsmConfig, State};
use super::ipcp::{IpcpClient, IpcpClientPolicy};
use super::ipv6cp::{Ipv6cp, Ipv6cpRole};
use super::lcp::{Lcp, LcpPolicy};
use super::link_core::{CoreConfig, LinkCore, Role};
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
    /// Run IPCP (a v6-only CPE does not).
    pub ipv4: bool,
    /// Run IPv6CP (RFC 5072); when false a server's IPv6CP is
    /// Protocol-Rejected, as a v4-only CPE does.
    pub ipv6: bool,
    /// Tests: the first Interface-Identifier we offer (e.g. 0, to be
    /// Nak'd); None: random.
    pub ipv6_first_iid: Option<u64>,
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
            ipv4: true,
            ipv6: false,
            ipv6_first_iid: None,
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
    /// IPv6CP Opened: our and the server's Interface-Identifiers.
    Ipv6Up { our_iid: u64, peer_iid: Option<u64> },
    /// IPv6CP left Opened.
    Ipv6Down,
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
    core: LinkCore<IpcpClient>,
    client: Client,
}

/// The client role: authenticatee, IPCP client, extra NCPs and events.
#[derive(Debug)]
struct Client {
    cfg: PeerConfig,
    rng: Rng,
    auth: Authenticatee,
    networking: bool,
    auth_failed: bool,
    rejected: Vec<u16>,
    events: VecDeque<PeerEvent>,
}

impl Peer {
    /// Start: LCP Up + Open, first Configure-Request queued. The emulated
    /// subscriber is deterministic: `rng_seed` drives its Magic-Numbers and
    /// identifiers ([`Rng::seeded`]).
    pub fn new(cfg: PeerConfig, now: Instant, rng_seed: u64) -> Self {
        let mut rng = Rng::seeded(rng_seed);
        let lcp = Lcp::new(
            LcpPolicy {
                mru: cfg.mru,
                max_peer_mru: cfg.mru.max(1492),
                request_auth: Vec::new(),
                accept_auth: cfg.auth_accept.clone(),
                auth_nak_first: cfg.auth_nak_first.clone(),
            },
            rng.fork(),
        );
        let ipcp = IpcpClient::new(IpcpClientPolicy {
            request_dns: cfg.request_dns,
            request_vj: cfg.request_vj,
        });
        let core_cfg = CoreConfig {
            fsm: cfg.fsm.clone(),
            echo_interval: cfg.echo_interval,
            echo_failure: cfg.echo_failure,
            loop_kills: false,
        };
        let ipv6cp = Ipv6cp::new(Ipv6cpRole::Client, rng.fork(), cfg.ipv6_first_iid);
        let core = LinkCore::new(lcp, ipcp, ipv6cp, core_cfg, &mut rng);
        let mut peer = Peer {
            core,
            client: Client {
                cfg,
                rng,
                auth: Authenticatee::None,
                networking: false,
                auth_failed: false,
                rejected: Vec::new(),
                events: VecDeque::new(),
            },
        };
        peer.core.start(now, &mut peer.client);
        peer
    }

    /// A PPP frame from the server.
    pub fn handle_frame(&mut self, now: Instant, protocol: u16, info: &[u8]) {
        if self.core.is_dead() {
            return;
        }
        let (core, c) = (&mut self.core, &mut self.client);
        match protocol {
            proto::LCP => {
                let terminated = if c.auth_failed {
                    DownReason::AuthFailed
                } else {
                    DownReason::PeerTerminate
                };
                core.handle_lcp(now, info, terminated, c);
            }
            proto::PAP | proto::CHAP if core.lcp.is_opened() => {
                let outcome = match (&mut c.auth, protocol) {
                    (Authenticatee::Pap(p), proto::PAP) => p.handle_packet(info),
                    (Authenticatee::Chap(a), proto::CHAP) => a.handle_packet(info),
                    _ => None,
                };
                match outcome {
                    Some(ClientOutcome::Success(_)) => {
                        c.events.push_back(PeerEvent::Authenticated);
                        c.start_network(core, now);
                    }
                    Some(ClientOutcome::Failure(message)) => {
                        c.auth_failed = true;
                        c.events.push_back(PeerEvent::AuthFailed { message });
                    }
                    None => {}
                }
            }
            proto::IPCP if c.networking && c.cfg.ipv4 => core.ipcp.handle_packet(now, info),
            proto::IPV6CP if c.networking && c.cfg.ipv6 => core.ipv6cp.handle_packet(now, info),
            // IPv6 packets are the emulator's (`crate::v6::client`).
            proto::IPV6 if c.cfg.ipv6 => {}
            p if c.cfg.extra_protocols.contains(&p) => {}
            proto::IPV4 => {}
            other => {
                if c.networking {
                    core.reject_protocol(other, info);
                }
            }
        }
        core.pump(now, c);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.is_dead() {
            return;
        }
        let (core, c) = (&mut self.core, &mut self.client);
        core.handle_fsm_timeouts(now);
        if let Authenticatee::Pap(p) = &mut c.auth {
            p.handle_timeout(now);
            if p.exhausted() {
                core.close(now, DownReason::AuthTimeout, c);
            }
        }
        let was_dead = core.is_dead();
        core.handle_echo_timer(now, c);
        if core.is_dead() && !was_dead {
            // Echo timeout: nothing more goes out.
            return;
        }
        core.pump(now, c);
    }

    /// Hang up: LCP Terminate-Request, `Down { reason }` after the Ack.
    pub fn close(&mut self, now: Instant, reason: DownReason) {
        self.core.close(now, reason, &mut self.client);
    }

    /// End at once without any PPP frame (PADT from the server).
    pub fn kill(&mut self, reason: DownReason) {
        self.core.kill(reason, &mut self.client);
    }

    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.core.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        let pap = match &self.client.auth {
            Authenticatee::Pap(p) => p.poll_timeout(),
            _ => None,
        };
        self.core.poll_timeout(&[pap])
    }

    pub fn poll_event(&mut self) -> Option<PeerEvent> {
        self.client.events.pop_front()
    }

    /// LCP Echo-Requests we sent and Echo-Replies we got.
    pub fn echo_counts(&self) -> (u64, u64) {
        self.core.echo_counts()
    }

    /// Copies of our acknowledged Configure-Requests the server sent again
    /// (LCP, IPCP) that we answered without renegotiating.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.core.duplicates_absorbed()
    }

    /// Answer later CHAP challenges with this password (re-challenge tests).
    pub fn set_password(&mut self, password: &[u8]) {
        self.client.cfg.password = password.to_vec();
        if let Authenticatee::Chap(c) = &mut self.client.auth {
            c.set_password(password);
        }
    }

    /// Protocols the server Protocol-Rejected (e.g. CCP, IPv6CP).
    pub fn rejected_protocols(&self) -> &[u16] {
        &self.client.rejected
    }

    pub fn is_down(&self) -> bool {
        self.core.is_dead()
    }

    pub fn is_up(&self) -> bool {
        self.core.is_network_up()
    }

    pub fn lcp_state(&self) -> State {
        self.core.lcp.state()
    }

    pub fn ipcp_state(&self) -> State {
        self.core.ipcp.state()
    }

    pub fn ipv6cp_state(&self) -> State {
        self.core.ipv6cp.state()
    }

    /// IPv6CP is Opened.
    pub fn is_ipv6_up(&self) -> bool {
        self.core.is_ipv6_up()
    }

    /// Our Interface-Identifier (as negotiated so far).
    pub fn our_iid(&self) -> u64 {
        self.core.ipv6cp.proto().our_iid()
    }

    /// The server's Interface-Identifier, once acknowledged.
    pub fn peer_iid(&self) -> Option<u64> {
        self.core.ipv6cp.proto().peer_iid()
    }

    /// The Auth-Protocol the server required.
    pub fn auth_proto(&self) -> Option<AuthProto> {
        self.core.lcp.proto().peer_auth()
    }

    /// The server's MRU.
    pub fn peer_mru(&self) -> u16 {
        self.core.peer_mru()
    }

    /// Our IPCP address (0.0.0.0 until assigned).
    pub fn address(&self) -> Ipv4Addr {
        self.core.ipcp.proto().address()
    }

    pub fn config(&self) -> &PeerConfig {
        &self.client.cfg
    }
}

impl Client {
    /// Authenticated (or nothing to authenticate): IPCP and the extra NCPs
    /// start.
    fn start_network(&mut self, core: &mut LinkCore<IpcpClient>, now: Instant) {
        if self.networking {
            return;
        }
        self.networking = true;
        if self.cfg.ipv4 {
            core.ipcp.open(now);
            core.ipcp.up(now);
        }
        if self.cfg.ipv6 {
            core.ipv6cp.open(now);
            core.ipv6cp.up(now);
        }
        for p in self.cfg.extra_protocols.clone() {
            if p == proto::IPV6CP && self.cfg.ipv6 {
                continue;
            }
            let mut opts = Vec::new();
            if p == proto::IPV6CP {
                // Interface-Identifier (RFC 5072 §4.1), random and non-zero.
                let id = self.rng.next_u64() | 1;
                OptionWriter::new(&mut opts).push(1, &id.to_be_bytes());
            }
            let id = self.rng.next_u8();
            core.transmit
                .push_back((p, wire::packet(Code::ConfReq, id, &opts)));
        }
    }
}

impl Role<IpcpClient> for Client {
    fn poll_auth_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        match &mut self.auth {
            Authenticatee::Pap(a) => a.poll_transmit().map(|p| (proto::PAP, p)),
            Authenticatee::Chap(a) => a.poll_transmit().map(|p| (proto::CHAP, p)),
            Authenticatee::None => None,
        }
    }

    /// Keepalive starts; we answer the server's Auth-Protocol, or go
    /// straight to networking when it asked for none.
    fn lcp_up(&mut self, core: &mut LinkCore<IpcpClient>, now: Instant) {
        core.start_keepalive(now);
        self.auth = match core.lcp.proto().peer_auth() {
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
                self.start_network(core, now);
                Authenticatee::None
            }
        };
    }

    fn lcp_down(&mut self, _core: &mut LinkCore<IpcpClient>, _now: Instant) {
        self.networking = false;
        self.auth = Authenticatee::None;
    }

    fn protocol_rejected(
        &mut self,
        _core: &mut LinkCore<IpcpClient>,
        _now: Instant,
        protocol: u16,
    ) {
        if !self.rejected.contains(&protocol) {
            self.rejected.push(protocol);
        }
    }

    fn network_up(&mut self, core: &LinkCore<IpcpClient>) {
        let ip = core.ipcp.proto();
        self.events.push_back(PeerEvent::Up {
            address: ip.address(),
            peer_address: ip.peer_address(),
            dns: ip.dns(),
            mru: core.peer_mru(),
        });
    }

    fn network_down(&mut self) {
        self.events.push_back(PeerEvent::NetworkDown);
    }

    fn ipv6_up(&mut self, core: &LinkCore<IpcpClient>) {
        let p = core.ipv6cp.proto();
        self.events.push_back(PeerEvent::Ipv6Up {
            our_iid: p.our_iid(),
            peer_iid: p.peer_iid(),
        });
    }

    fn ipv6_down(&mut self) {
        self.events.push_back(PeerEvent::Ipv6Down);
    }

    fn closing(&mut self) {}

    fn down(&mut self, reason: DownReason) {
        self.events.push_back(PeerEvent::Down { reason });
    }
}
