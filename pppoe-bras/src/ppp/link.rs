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

use super::chap::ChapServer;
use super::fsm::{FsmConfig, State};
use super::ipcp::IpcpServer;
use super::ipv6cp::Ipv6cp;
use super::lcp::{Lcp, LcpPolicy};
use super::link_core::{CoreConfig, LinkCore, Role};
use super::pap::PapServer;
use super::rng::Rng;
use super::{proto, AuthProto, AuthResult, Credential, DownReason};

/// What [`Link::restore`] needs of a link a previous daemon negotiated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    pub user: String,
    pub address: Ipv4Addr,
    pub auth: Option<AuthProto>,
    pub our_magic: u32,
    pub peer_magic: Option<u32>,
    pub our_mru: u16,
    pub peer_mru: u16,
}

/// The link's own knobs: what `config/link.rs` resolves the link's keys
/// into (`Config::link`), handed on unchanged by `driver`. Adding a link
/// knob is a row in `config/keys.rs`, its check in `config/link.rs` and its
/// field here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkSettings {
    /// Our MRU and the largest MRU we accept from the peer (`mru`): 1492 on
    /// plain PPPoE, up to PPP-Max-Payload with RFC 4638.
    pub mru: u16,
    /// LCP Echo-Request interval in Opened (`lcp_echo_interval`, RFC 1661
    /// §5.8); zero disables keepalive.
    pub echo_interval: Duration,
    /// Unanswered Echo-Requests before the link is declared dead
    /// (`lcp_echo_failure`).
    pub echo_failure: u32,
    /// Time allowed from LCP Opened to an authentication verdict
    /// (`auth_timeout`).
    pub auth_timeout: Duration,
    /// Re-challenge a CHAP-authenticated peer this often in the Network
    /// phase (`chap_rechallenge_interval`; RFC 1994 §2.3: "at random
    /// intervals" is allowed, periodic is what BRASes do); zero: never. A
    /// wrong or missing answer (within `auth_timeout`) ends the link.
    pub chap_rechallenge: Duration,
    /// RFC 1661 counters and restart timer (LCP, IPCP, CHAP retransmits):
    /// `restart_timer`, `max_configure`, `max_failure`, `max_terminate`.
    pub fsm: FsmConfig,
}

impl Default for LinkSettings {
    /// The defaults of the daemon's keys (and of the unit tests).
    fn default() -> Self {
        LinkSettings {
            mru: 1492,
            echo_interval: Duration::from_secs(10),
            echo_failure: 3,
            auth_timeout: Duration::from_secs(30),
            chap_rechallenge: Duration::ZERO,
            fsm: FsmConfig::default(),
        }
    }
}

/// Server-side link configuration: the link's own [`LinkSettings`] and
/// what it takes from other areas (authentication, addresses, NCPs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkConfig {
    /// MRU, keepalives, timeouts and RFC 1661 counters.
    pub settings: LinkSettings,
    /// Authentication protocols in order of preference. Empty means the
    /// default `[Chap, Pap]`: the BRAS always authenticates.
    pub auth: Vec<AuthProto>,
    /// Our IPCP address.
    pub local_address: Ipv4Addr,
    /// DNS servers handed out via RFC 1877 (None: the option is rejected).
    pub dns: [Option<Ipv4Addr>; 2],
    /// NBNS servers (RFC 1877), usually none.
    pub nbns: [Option<Ipv4Addr>; 2],
    /// Our CHAP name (e.g. the AC-Name).
    pub auth_name: String,
    /// Run IPCP (IPv4); when false IPCP is Protocol-Rejected.
    pub ipv4: bool,
    /// Run IPv6CP (RFC 5072); when false IPv6CP is Protocol-Rejected. The
    /// link lives while at least one NCP is up or negotiating.
    pub ipv6: bool,
}

impl Default for LinkConfig {
    fn default() -> Self {
        LinkConfig {
            settings: LinkSettings::default(),
            auth: vec![AuthProto::Chap, AuthProto::Pap],
            local_address: Ipv4Addr::new(172, 16, 0, 254),
            dns: [None, None],
            nbns: [None, None],
            auth_name: "pppoe-bras".to_owned(),
            ipv4: true,
            // The IPv4-only link of the unit tests; the daemon's default
            // (config `ipv6 = true`) comes from `crate::config`.
            ipv6: false,
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
    /// IPv6CP Opened: link-locals `fe80::<our_iid>` (ours) and
    /// `fe80::<peer_iid>` (the peer's; None if it negotiated none).
    Ipv6Up { our_iid: u64, peer_iid: Option<u64> },
    /// IPv6CP left Opened. Also emitted right before `Down` if it was up.
    Ipv6Down,
    /// An NCP (`proto::IPCP` or `proto::IPV6CP`) finished for good while
    /// the other keeps the link: that family's rows go.
    NcpFinished { protocol: u16 },
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

impl Authenticator {
    /// Answer the pending credential (Ack/Nak, Success/Failure).
    fn verdict(&mut self, ok: bool, message: &str) {
        match self {
            Authenticator::Pap(p) => p.verdict(ok, message),
            Authenticator::Chap(c) => c.verdict(ok, message),
            Authenticator::None => {}
        }
    }

    fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        match self {
            Authenticator::Pap(a) => a.poll_transmit().map(|p| (proto::PAP, p)),
            Authenticator::Chap(a) => a.poll_transmit().map(|p| (proto::CHAP, p)),
            Authenticator::None => None,
        }
    }
}

/// One subscriber's PPP link, server role.
#[derive(Debug)]
pub struct Link {
    core: LinkCore<IpcpServer>,
    server: Server,
}

/// The server role: authenticator, IPCP server, phases and events.
#[derive(Debug)]
struct Server {
    cfg: LinkConfig,
    rng: Rng,
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
    events: VecDeque<LinkEvent>,
    /// PAP/CHAP success message for the next Accept (e.g. a RADIUS
    /// Reply-Message); the default otherwise.
    success_message: Option<String>,
}

impl Link {
    /// Start the link: LCP gets Up and Open, so the first Configure-Request
    /// is queued immediately. Magic-Numbers, identifiers and CHAP challenges
    /// come from the OS-keyed CSPRNG ([`Rng::from_os`]).
    pub fn new(cfg: LinkConfig, now: Instant) -> Self {
        Link::with_rng(cfg, now, Rng::from_os())
    }

    /// [`Link::new`] drawing from `rng`: the manager hands each session a
    /// fork of its own source; tests pass [`Rng::seeded`].
    pub fn with_rng(cfg: LinkConfig, now: Instant, rng: Rng) -> Self {
        let mut link = Self::unstarted(cfg, rng);
        link.core.start(now, &mut link.server);
        link
    }

    /// The link with its automata in Initial, nothing sent yet.
    fn unstarted(mut cfg: LinkConfig, mut rng: Rng) -> Self {
        if cfg.auth.is_empty() {
            cfg.auth = vec![AuthProto::Chap, AuthProto::Pap];
        }
        let lcp = Lcp::new(
            LcpPolicy {
                mru: cfg.settings.mru,
                max_peer_mru: cfg.settings.mru,
                request_auth: cfg.auth.clone(),
                accept_auth: Vec::new(),
                auth_nak_first: None,
            },
            rng.fork(),
        );
        let ipcp = IpcpServer::new(cfg.local_address, cfg.dns, cfg.nbns);
        let ipv6cp = Ipv6cp::server(rng.fork());
        let core_cfg = CoreConfig {
            fsm: cfg.settings.fsm.clone(),
            echo_interval: cfg.settings.echo_interval,
            echo_failure: cfg.settings.echo_failure,
            loop_kills: true,
        };
        let core = LinkCore::new(lcp, ipcp, ipv6cp, core_cfg, &mut rng);
        Link {
            core,
            server: Server {
                cfg,
                rng,
                auth: Authenticator::None,
                phase: Phase::Establish,
                user: None,
                auth_pending: false,
                reauth_pending: false,
                rechallenge_at: None,
                auth_deadline: None,
                events: VecDeque::new(),
                success_message: None,
            },
        }
    }

    /// A link a previous daemon negotiated, re-adopted from its state file:
    /// LCP and IPCP Opened with the saved options, the Network phase, the
    /// user authenticated, keepalive running from `now`. Nothing is sent
    /// (the peer never saw the daemon go). CHAP re-challenges start over.
    pub fn restore(cfg: LinkConfig, now: Instant, rng: Rng, saved: &Restored) -> Self {
        let mut link = Self::unstarted(cfg, rng);
        let (core, s) = (&mut link.core, &mut link.server);
        core.lcp.proto_mut().restore(
            saved.our_magic,
            saved.peer_magic,
            saved.our_mru,
            saved.peer_mru,
            saved.auth,
        );
        core.lcp.restore_opened();
        let ipcp = core.ipcp.proto_mut();
        ipcp.set_assigned(saved.address);
        ipcp.set_max_packet(usize::from(saved.peer_mru));
        ipcp.set_max_address_naks(s.cfg.settings.fsm.max_failure);
        ipcp.restore_peer_address(saved.address);
        core.ipcp.restore_opened();
        core.restore_network_up();
        core.start_keepalive(now);
        s.phase = Phase::Network;
        s.user = Some(saved.user.clone());
        if s.cfg.ipv6 {
            // IPv6 is not in the state file: negotiate IPv6CP afresh (the
            // peer's Opened IPv6CP renegotiates on our Configure-Request),
            // so RA and DHCPv6 hand out the prefixes again.
            core.ipv6cp.open(now);
            core.ipv6cp.up(now);
            core.pump(now, s);
        }
        if saved.auth == Some(AuthProto::Chap) && !s.cfg.settings.chap_rechallenge.is_zero() {
            // A fresh CHAP server for the periodic re-challenges.
            s.auth = Authenticator::Chap(ChapServer::new(
                &s.cfg.auth_name,
                s.cfg.settings.fsm.restart,
                s.cfg.settings.fsm.max_configure,
                s.rng.fork(),
            ));
            s.schedule_rechallenge(now);
        }
        link
    }

    /// A PPP frame from the peer: `protocol` and the information field.
    pub fn handle_frame(&mut self, now: Instant, protocol: u16, info: &[u8]) {
        if self.core.is_dead() {
            return;
        }
        let (core, s) = (&mut self.core, &mut self.server);
        match protocol {
            proto::LCP => core.handle_lcp(now, info, DownReason::PeerTerminate, s),
            proto::PAP | proto::CHAP => s.handle_auth_packet(protocol, info),
            proto::IPCP if s.cfg.ipv4 => {
                // NCP packets before the Network phase are discarded (§3.2).
                if s.phase == Phase::Network {
                    core.ipcp.handle_packet(now, info);
                }
            }
            proto::IPV6CP if s.cfg.ipv6 => {
                if s.phase == Phase::Network {
                    core.ipv6cp.handle_packet(now, info);
                }
            }
            // IPv4 data belongs to the XDP path; a stray one is not our
            // business. IPv6 control traffic (RS, DHCPv6) is the session
            // layer's (`crate::v6`), IPv6 data the XDP path's.
            proto::IPV4 => {}
            proto::IPV6 if s.cfg.ipv6 => {}
            other => {
                // Unsupported or disabled protocol (CCP, IPv6CP with
                // `ipv6 = false`, …): Protocol-Reject,
                // only possible in LCP Opened, and only once networking.
                if s.phase == Phase::Network {
                    core.reject_protocol(other, info);
                }
            }
        }
        core.pump(now, s);
    }

    /// Timers: LCP/IPCP restart, CHAP retransmit, auth timeout, keepalive.
    pub fn handle_timeout(&mut self, now: Instant) {
        if self.core.is_dead() {
            return;
        }
        let (core, s) = (&mut self.core, &mut self.server);
        core.handle_fsm_timeouts(now);
        if let Authenticator::Chap(c) = &mut s.auth {
            c.handle_timeout(now);
        }
        if matches!(s.rechallenge_at, Some(t) if now >= t) {
            s.rechallenge_at = None;
            if let (Authenticator::Chap(c), Phase::Network) = (&mut s.auth, s.phase) {
                // New identifier and value (RFC 1994 §2.3).
                c.start(now);
                s.auth_deadline = Some(now + s.cfg.settings.auth_timeout);
            }
        }
        core.pump(now, s);
        if matches!(s.auth_deadline, Some(t) if now >= t) {
            s.auth_deadline = None;
            s.auth_pending = false;
            s.reauth_pending = false;
            core.close(now, DownReason::AuthTimeout, s);
        }
        core.handle_echo_timer(now, s);
        core.pump(now, s);
    }

    /// The verdict on the last [`LinkEvent::Authenticate`]. Ignored if none
    /// is pending (late answers after a timeout or teardown).
    pub fn handle_auth_result(&mut self, now: Instant, result: AuthResult) {
        let (core, s) = (&mut self.core, &mut self.server);
        if s.reauth_pending && s.phase == Phase::Network {
            s.reauth_result(core, now, result);
            return;
        }
        if !s.auth_pending || s.phase != Phase::Authenticate {
            return;
        }
        s.auth_pending = false;
        s.auth_deadline = None;
        let user = s.user.clone().unwrap_or_default();
        let proto = match &s.auth {
            Authenticator::Pap(_) => AuthProto::Pap,
            _ => AuthProto::Chap,
        };
        match result {
            AuthResult::Accept { address } => {
                let default = match proto {
                    AuthProto::Pap => "Login ok",
                    AuthProto::Chap => "Welcome",
                };
                let message = s.success_message.take();
                s.auth.verdict(true, message.as_deref().unwrap_or(default));
                s.events.push_back(LinkEvent::AuthSucceeded { user, proto });
                s.phase = Phase::Network;
                s.schedule_rechallenge(now);
                core.ipcp.proto_mut().set_assigned(address);
                core.ipcp
                    .proto_mut()
                    .set_max_address_naks(s.cfg.settings.fsm.max_failure);
                let mru = usize::from(core.peer_mru());
                core.ipcp.proto_mut().set_max_packet(mru);
                core.pump(now, s);
                if s.cfg.ipv4 {
                    core.ipcp.open(now);
                    core.ipcp.up(now);
                }
                if s.cfg.ipv6 {
                    core.ipv6cp.open(now);
                    core.ipv6cp.up(now);
                }
            }
            AuthResult::Reject { message } => {
                s.auth.verdict(false, &message);
                s.events.push_back(LinkEvent::AuthFailed { user, message });
                core.pump(now, s);
                core.close(now, DownReason::AuthFailed, s);
            }
        }
        core.pump(now, s);
    }

    /// The message the next accepted authentication sends (RADIUS
    /// Reply-Message) instead of "Login ok"/"Welcome".
    pub fn set_success_message(&mut self, message: String) {
        self.server.success_message = Some(message);
    }

    /// The DNS servers IPCP offers from now on (RADIUS MS-*-DNS-Server).
    pub fn set_dns(&mut self, dns: [Option<std::net::Ipv4Addr>; 2]) {
        self.core.ipcp.proto_mut().set_dns(dns);
    }

    /// Terminate the link: LCP Terminate-Request; `Down { reason }` follows
    /// the Terminate-Ack or Max-Terminate timeouts (or comes at once if LCP
    /// was not negotiating). A second close is ignored.
    pub fn close(&mut self, now: Instant, reason: DownReason) {
        self.core.close(now, reason, &mut self.server);
    }

    /// End the link at once, without any PPP frame: e.g. on PADT
    /// ([`DownReason::Padt`]), after which RFC 2516 §5.5 forbids PPP traffic.
    /// Pending frames are discarded; `Down { reason }` follows (once).
    pub fn kill(&mut self, reason: DownReason) {
        self.core.kill(reason, &mut self.server);
    }

    /// Next frame to send: (PPP protocol, information field).
    pub fn poll_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.core.transmit.pop_front()
    }

    /// Earliest deadline for [`Link::handle_timeout`]; None once down.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let s = &self.server;
        let chap = match &s.auth {
            Authenticator::Chap(c) => c.poll_timeout(),
            _ => None,
        };
        self.core
            .poll_timeout(&[chap, s.auth_deadline, s.rechallenge_at])
    }

    pub fn poll_event(&mut self) -> Option<LinkEvent> {
        self.server.events.pop_front()
    }

    /// The peer's MRU (largest PPP information field we may send it).
    pub fn peer_mru(&self) -> u16 {
        self.core.peer_mru()
    }

    /// Our MRU as negotiated (what the peer may send us).
    pub fn our_mru(&self) -> u16 {
        self.core.lcp.proto().our_mru()
    }

    /// Our LCP Magic-Number (0 when not negotiated).
    pub fn our_magic(&self) -> u32 {
        self.core.lcp.proto().our_magic()
    }

    /// The peer's LCP Magic-Number, if it sent one.
    pub fn peer_magic(&self) -> Option<u32> {
        self.core.lcp.proto().peer_magic()
    }

    /// The user name the peer presented, once it did.
    pub fn user(&self) -> Option<&str> {
        self.server.user.as_deref()
    }

    pub fn phase(&self) -> Phase {
        self.server.phase
    }

    pub fn is_down(&self) -> bool {
        self.core.is_dead()
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

    /// Our IPv6CP Interface-Identifier (link-local `fe80::<iid>`).
    pub fn our_iid(&self) -> u64 {
        self.core.ipv6cp.proto().our_iid()
    }

    /// The peer's acknowledged Interface-Identifier.
    pub fn peer_iid(&self) -> Option<u64> {
        self.core.ipv6cp.proto().peer_iid()
    }

    /// The authentication protocol LCP agreed on.
    pub fn auth_proto(&self) -> Option<AuthProto> {
        self.core.lcp.proto().auth()
    }

    /// The address given to the peer (after an accepted authentication).
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        Some(self.core.ipcp.proto().assigned()).filter(|a| !a.is_unspecified())
    }

    pub fn local_address(&self) -> Ipv4Addr {
        self.server.cfg.local_address
    }

    pub fn config(&self) -> &LinkConfig {
        &self.server.cfg
    }

    /// Copies of already acknowledged Configure-Requests (LCP, IPCP) that
    /// arrived in Opened and were re-acknowledged without renegotiating.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.core.duplicates_absorbed()
    }

    /// LCP echoes that carried our own Magic-Number (a looped-back line):
    /// looped Echo-Requests are not answered; when keepalive then gives up
    /// the link ends with [`DownReason::LoopedBack`].
    pub fn looped_echoes(&self) -> u64 {
        self.core.looped_echoes()
    }
}

impl Server {
    fn schedule_rechallenge(&mut self, now: Instant) {
        if matches!(self.auth, Authenticator::Chap(_))
            && !self.cfg.settings.chap_rechallenge.is_zero()
        {
            self.rechallenge_at = Some(now + self.cfg.settings.chap_rechallenge);
        }
    }

    /// The verdict on a re-challenge's answer.
    fn reauth_result(&mut self, core: &mut LinkCore<IpcpServer>, now: Instant, result: AuthResult) {
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
                core.pump(now, self);
                core.close(now, DownReason::AuthFailed, self);
            }
        }
        core.pump(now, self);
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
}

impl Role<IpcpServer> for Server {
    fn poll_auth_transmit(&mut self) -> Option<(u16, Vec<u8>)> {
        self.auth.poll_transmit()
    }

    /// Establish → Authenticate: the negotiated protocol starts, the auth
    /// timeout and keepalive run.
    fn lcp_up(&mut self, core: &mut LinkCore<IpcpServer>, now: Instant) {
        if core.closing.is_some() {
            return;
        }
        self.phase = Phase::Authenticate;
        self.auth_pending = false;
        self.auth = match core.lcp.proto().auth() {
            Some(AuthProto::Chap) => {
                let mut c = ChapServer::new(
                    &self.cfg.auth_name,
                    self.cfg.settings.fsm.restart,
                    self.cfg.settings.fsm.max_configure,
                    self.rng.fork(),
                );
                c.start(now);
                Authenticator::Chap(c)
            }
            Some(AuthProto::Pap) => Authenticator::Pap(PapServer::new()),
            None => Authenticator::None,
        };
        self.auth_deadline = Some(now + self.cfg.settings.auth_timeout);
        core.start_keepalive(now);
    }

    /// Renegotiation or termination: authentication restarts.
    fn lcp_down(&mut self, _core: &mut LinkCore<IpcpServer>, _now: Instant) {
        self.auth = Authenticator::None;
        self.auth_pending = false;
        self.reauth_pending = false;
        self.rechallenge_at = None;
        self.auth_deadline = None;
        if self.phase != Phase::Terminate {
            self.phase = Phase::Establish;
        }
    }

    fn protocol_rejected(&mut self, core: &mut LinkCore<IpcpServer>, now: Instant, protocol: u16) {
        if matches!(protocol, proto::PAP | proto::CHAP) {
            core.close(now, DownReason::NegotiationFailed("auth"), self);
        }
    }

    fn network_up(&mut self, core: &LinkCore<IpcpServer>) {
        let peer_address = core.ipcp.proto().assigned();
        self.events.push_back(LinkEvent::NetworkUp { peer_address });
    }

    fn network_down(&mut self) {
        self.events.push_back(LinkEvent::NetworkDown);
    }

    fn ipv6_up(&mut self, core: &LinkCore<IpcpServer>) {
        let p = core.ipv6cp.proto();
        self.events.push_back(LinkEvent::Ipv6Up {
            our_iid: p.our_iid(),
            peer_iid: p.peer_iid(),
        });
    }

    fn ipv6_down(&mut self) {
        self.events.push_back(LinkEvent::Ipv6Down);
    }

    fn closing(&mut self) {
        self.phase = Phase::Terminate;
        self.auth_deadline = None;
        self.rechallenge_at = None;
    }

    /// The last NCP finished (the other one is neither up nor negotiating,
    /// or disabled): end the link with LCP Terminate, as pppd does, so the
    /// leases are freed and the CPE redials, instead of an LCP link that
    /// holds an address forever. While the other NCP lives the link stays
    /// (dual stack: IPv4 closed, IPv6 still up, or a v4-only CPE that
    /// Protocol-Rejects IPv6CP) and only this family's rows go.
    fn ncp_finished(&mut self, core: &mut LinkCore<IpcpServer>, now: Instant, protocol: u16) {
        if core.closing.is_some() || self.phase != Phase::Network {
            return;
        }
        if core.other_ncp_alive(protocol) {
            self.events.push_back(LinkEvent::NcpFinished { protocol });
            return;
        }
        let name = if protocol == proto::IPCP {
            "ipcp"
        } else {
            "ipv6cp"
        };
        let reason = if core.any_ncp_was_up() {
            DownReason::NoNetwork(name)
        } else {
            DownReason::NegotiationFailed(name)
        };
        core.close(now, reason, self);
    }

    fn down(&mut self, reason: DownReason) {
        self.phase = Phase::Dead;
        self.auth_deadline = None;
        self.rechallenge_at = None;
        self.auth_pending = false;
        self.reauth_pending = false;
        self.events.push_back(LinkEvent::Down { reason });
    }
}
