//! What both ends of a PPP link share: LCP, IPCP and IPv6CP automata, the outgoing
//! queue, keepalive (RFC 1661 §5.8 Echo), closing and the single `Down`.
//!
//! [`LinkCore`] runs the machinery; the role ([`super::link::Link`], server,
//! or [`super::peer::Peer`], client) owns its policy in a [`Role`]: what to do
//! when LCP comes up or goes down, which authentication packets to send and
//! which events to report. The core calls the role back with itself as an
//! argument, so a hook may close the link or start IPCP.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::ppp::{self as wire, Code};

use super::fsm::{self, Fsm, FsmConfig, Protocol, State};
use super::ipv6cp::Ipv6cp;
use super::lcp::Lcp;
use super::rng::Rng;
use super::{proto, DownReason};

/// Settings the core needs from the role's configuration.
#[derive(Debug, Clone)]
pub(super) struct CoreConfig {
    pub fsm: FsmConfig,
    /// LCP Echo-Request interval in Opened; zero disables keepalive.
    pub echo_interval: Duration,
    /// Unanswered Echo-Requests before the link is declared dead.
    pub echo_failure: u32,
    /// Server role: an Echo-Reply carrying our own Magic-Number is a loop,
    /// not a live peer, and a looped-back line (LCP) ends at once without a
    /// Terminate-Request; when keepalive gives up after our own
    /// Echo-Requests came back, the reason is `LoopedBack`, not
    /// `EchoTimeout`. The client role just counts replies and closes.
    pub loop_kills: bool,
}

/// The role's side of the link: its policy, called back from [`LinkCore`].
pub(super) trait Role<I> {
    /// Next authentication frame to send: (PPP protocol, information field).
    fn poll_auth_transmit(&mut self) -> Option<(u16, Vec<u8>)>;
    /// LCP reached Opened.
    fn lcp_up(&mut self, core: &mut LinkCore<I>, now: Instant);
    /// LCP left Opened; the core already took IPCP down and stopped keepalive.
    fn lcp_down(&mut self, core: &mut LinkCore<I>, now: Instant);
    /// The peer Protocol-Rejected `protocol`; the core already told IPCP.
    fn protocol_rejected(&mut self, core: &mut LinkCore<I>, now: Instant, protocol: u16);
    /// IPCP reached Opened.
    fn network_up(&mut self, core: &LinkCore<I>);
    /// IPCP left Opened (or the link died while it was up).
    fn network_down(&mut self);
    /// IPv6CP reached Opened.
    fn ipv6_up(&mut self, core: &LinkCore<I>);
    /// IPv6CP left Opened (or the link died while it was up).
    fn ipv6_down(&mut self);
    /// [`LinkCore::close`] started terminating the link.
    fn closing(&mut self);
    /// The link is dead: report `Down { reason }` (called exactly once).
    fn down(&mut self, reason: DownReason);
    /// An NCP (`protocol`: IPCP or IPv6CP) finished (This-Layer-Finished:
    /// Max-Configure, Protocol-Reject, or closed by the peer). The server
    /// ends the link when it was the last one (see
    /// [`LinkCore::other_ncp_alive`]); the client keeps its default
    /// (nothing).
    fn ncp_finished(&mut self, _core: &mut LinkCore<I>, _now: Instant, _protocol: u16) {}
}

/// LCP, IPCP, the transmit queue and keepalive of one link, either role.
#[derive(Debug)]
pub(super) struct LinkCore<I> {
    pub lcp: Fsm<Lcp>,
    pub ipcp: Fsm<I>,
    pub ipv6cp: Fsm<Ipv6cp>,
    /// Frames to send: (PPP protocol, information field).
    pub transmit: VecDeque<(u16, Vec<u8>)>,
    /// Why we are closing (the Down reason once LCP finishes).
    pub closing: Option<DownReason>,
    echo_interval: Duration,
    echo_failure: u32,
    loop_kills: bool,
    echo_at: Option<Instant>,
    echo_pending: u32,
    echo_sent: u64,
    echo_replies: u64,
    /// Echo-Requests and Echo-Replies that carried our own Magic-Number.
    looped_echoes: u64,
    /// Of those, how many since the peer last showed life (any echo with
    /// another Magic-Number).
    echo_loops: u32,
    network_up: bool,
    /// IPCP reached Opened at least once.
    network_was_up: bool,
    /// IPv6CP is Opened (and the role was told).
    ipv6_up: bool,
    /// IPv6CP reached Opened at least once.
    ipv6_was_up: bool,
    dead: bool,
}

impl<I: Protocol> LinkCore<I> {
    /// The automata in Initial; `rng` gives each its first identifier.
    pub fn new(lcp: Lcp, ipcp: I, ipv6cp: Ipv6cp, cfg: CoreConfig, rng: &mut Rng) -> Self {
        LinkCore {
            lcp: Fsm::new(lcp, cfg.fsm.clone(), rng.next_u8()),
            ipcp: Fsm::new(ipcp, cfg.fsm.clone(), rng.next_u8()),
            ipv6cp: Fsm::new(ipv6cp, cfg.fsm, rng.next_u8()),
            transmit: VecDeque::new(),
            closing: None,
            echo_interval: cfg.echo_interval,
            echo_failure: cfg.echo_failure,
            loop_kills: cfg.loop_kills,
            echo_at: None,
            echo_pending: 0,
            echo_sent: 0,
            echo_replies: 0,
            looped_echoes: 0,
            echo_loops: 0,
            network_up: false,
            network_was_up: false,
            ipv6_up: false,
            ipv6_was_up: false,
            dead: false,
        }
    }

    /// LCP gets Open and Up: the first Configure-Request is queued.
    pub fn start(&mut self, now: Instant, role: &mut impl Role<I>) {
        self.lcp.open(now);
        self.lcp.up(now);
        self.pump(now, role);
    }

    /// `Down` was reported: the link ignores input and has no timeout.
    pub fn is_dead(&self) -> bool {
        self.dead
    }

    /// IPCP is Opened (and the role was told).
    pub fn is_network_up(&self) -> bool {
        self.network_up
    }

    /// IPv6CP is Opened (and the role was told).
    pub fn is_ipv6_up(&self) -> bool {
        self.ipv6_up
    }

    /// Some NCP reached Opened at least once on this link.
    pub fn any_ncp_was_up(&self) -> bool {
        self.network_was_up || self.ipv6_was_up
    }

    /// The NCP other than `protocol` (IPCP ↔ IPv6CP) is Opened or still
    /// negotiating: the link has, or may get, a network protocol without
    /// `protocol`. An NCP that was never opened (disabled) is in Initial.
    pub fn other_ncp_alive(&self, protocol: u16) -> bool {
        let state = if protocol == proto::IPCP {
            self.ipv6cp.state()
        } else {
            self.ipcp.state()
        };
        matches!(
            state,
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened
        )
    }

    /// IPCP was restored Opened (re-adoption): the network is up, without
    /// telling the role (its rows are already in the data plane).
    pub fn restore_network_up(&mut self) {
        self.network_up = true;
        self.network_was_up = true;
    }

    /// LCP Echo-Requests sent and Echo-Replies received.
    pub fn echo_counts(&self) -> (u64, u64) {
        (self.echo_sent, self.echo_replies)
    }

    /// LCP Echo-Requests/-Replies that carried our own Magic-Number (a
    /// looped-back line, RFC 1661 §6.4). Looped Echo-Requests are not
    /// answered and, like looped replies, do not count as a live peer.
    pub fn looped_echoes(&self) -> u64 {
        self.looped_echoes
    }

    /// See [`Fsm::duplicates_absorbed`]: LCP and both NCPs together.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.lcp.duplicates_absorbed()
            + self.ipcp.duplicates_absorbed()
            + self.ipv6cp.duplicates_absorbed()
    }

    /// The peer's MRU (largest PPP information field we may send it).
    pub fn peer_mru(&self) -> u16 {
        self.lcp.proto().peer_mru()
    }

    /// An LCP packet from the peer. A Terminate-Request ends the link as soon
    /// as its Terminate-Ack is queued (for PPPoE we need not wait a restart
    /// period: PADT follows), with `terminated` as the reason unless we were
    /// closing ourselves.
    pub fn handle_lcp(
        &mut self,
        now: Instant,
        info: &[u8],
        terminated: DownReason,
        role: &mut impl Role<I>,
    ) {
        let term_req = matches!(wire::parse(info), Ok((h, _)) if h.code == Code::TermReq);
        self.lcp.handle_packet(now, info);
        if term_req {
            self.pump(now, role);
            let reason = self.closing.clone().unwrap_or(terminated);
            self.die(reason, role);
        }
    }

    /// Protocol-Reject a frame of an unsupported protocol (RFC 1661 §5.7);
    /// only possible in LCP Opened. The caller checks the phase.
    pub fn reject_protocol(&mut self, protocol: u16, info: &[u8]) {
        if self.lcp.is_opened() {
            let mut data = Vec::with_capacity(2 + info.len());
            data.extend_from_slice(&protocol.to_be_bytes());
            data.extend_from_slice(info);
            self.lcp.send_packet(Code::ProtRej, &data);
        }
    }

    /// Restart timers of LCP and IPCP.
    pub fn handle_fsm_timeouts(&mut self, now: Instant) {
        self.lcp.handle_timeout(now);
        self.ipcp.handle_timeout(now);
        self.ipv6cp.handle_timeout(now);
    }

    /// Start keepalive (LCP just opened): the first Echo-Request is due one
    /// interval from now.
    pub fn start_keepalive(&mut self, now: Instant) {
        self.echo_pending = 0;
        self.echo_loops = 0;
        self.echo_at = (!self.echo_interval.is_zero()).then(|| now + self.echo_interval);
    }

    /// The keepalive timer, if due: after `echo_failure` unanswered
    /// Echo-Requests the peer is gone (down without a Terminate-Request;
    /// `LoopedBack` in the server role when our own echoes came back
    /// meanwhile), otherwise the next Echo-Request goes out with our
    /// Magic-Number.
    pub fn handle_echo_timer(&mut self, now: Instant, role: &mut impl Role<I>) {
        if !matches!(self.echo_at, Some(t) if now >= t) {
            return;
        }
        if !self.lcp.is_opened() || self.echo_interval.is_zero() {
            self.echo_at = None;
            return;
        }
        if self.echo_pending >= self.echo_failure {
            let reason = if self.loop_kills && self.echo_loops > 0 {
                DownReason::LoopedBack
            } else {
                DownReason::EchoTimeout
            };
            self.die(reason, role);
            return;
        }
        let magic = self.lcp.proto().our_magic();
        self.lcp.send_packet(Code::EchoReq, &magic.to_be_bytes());
        self.echo_sent += 1;
        self.echo_pending += 1;
        self.echo_at = Some(now + self.echo_interval);
    }

    /// Earliest deadline of LCP, IPCP, keepalive and the role's own
    /// timers; None once dead.
    pub fn poll_timeout(&self, role_timers: &[Option<Instant>]) -> Option<Instant> {
        if self.dead {
            return None;
        }
        [
            self.lcp.poll_timeout(),
            self.ipcp.poll_timeout(),
            self.ipv6cp.poll_timeout(),
            self.echo_at,
        ]
        .into_iter()
        .chain(role_timers.iter().copied())
        .flatten()
        .min()
    }

    /// Terminate the link: LCP Terminate-Request; `Down { reason }` follows
    /// the Terminate-Ack or Max-Terminate timeouts (or comes at once if LCP
    /// was not negotiating). Ignored when dead or already closing.
    pub fn close(&mut self, now: Instant, reason: DownReason, role: &mut impl Role<I>) {
        if self.dead || self.closing.is_some() {
            return;
        }
        self.closing = Some(reason);
        self.echo_at = None;
        role.closing();
        self.lcp.close(now);
        self.pump(now, role);
    }

    /// End at once without any PPP frame (PADT: RFC 2516 §5.5 forbids PPP
    /// traffic afterwards). Pending frames are discarded.
    pub fn kill(&mut self, reason: DownReason, role: &mut impl Role<I>) {
        self.transmit.clear();
        while self.lcp.poll_transmit().is_some() {}
        self.die(reason, role);
    }

    /// Move queued packets out and react to the automata's events until quiet.
    pub fn pump(&mut self, now: Instant, role: &mut impl Role<I>) {
        loop {
            let mut progress = false;
            while let Some(p) = self.lcp.poll_transmit() {
                self.transmit.push_back((proto::LCP, p));
                progress = true;
            }
            while let Some(frame) = role.poll_auth_transmit() {
                self.transmit.push_back(frame);
                progress = true;
            }
            while let Some(p) = self.ipcp.poll_transmit() {
                self.transmit.push_back((proto::IPCP, p));
                progress = true;
            }
            while let Some(p) = self.ipv6cp.poll_transmit() {
                self.transmit.push_back((proto::IPV6CP, p));
                progress = true;
            }
            if self.dead {
                return;
            }
            while let Some(ev) = self.lcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => role.lcp_up(self, now),
                    fsm::Event::Down => {
                        // Renegotiation or termination: NCPs go down.
                        self.ipcp.down(now);
                        self.ipv6cp.down(now);
                        self.echo_at = None;
                        role.lcp_down(self, now);
                    }
                    fsm::Event::Finished => {
                        self.die(self.closing_or_lcp_failed(), role);
                        return;
                    }
                    fsm::Event::Started => {}
                    fsm::Event::EchoReply { magic, .. } => {
                        self.echo_replies += 1;
                        let ours = self.lcp.proto().our_magic();
                        if magic != 0 && magic == ours {
                            self.looped_echoes += 1;
                            self.echo_loops += 1;
                        }
                        if !self.loop_kills || magic == 0 || magic != ours {
                            self.echo_pending = 0;
                            self.echo_loops = 0;
                        }
                    }
                    fsm::Event::EchoRequest => {
                        self.echo_pending = 0;
                        self.echo_loops = 0;
                    }
                    fsm::Event::LoopedEchoRequest => {
                        self.looped_echoes += 1;
                        self.echo_loops += 1;
                    }
                    fsm::Event::ProtocolRejected { protocol } => {
                        if protocol == proto::IPCP {
                            self.ipcp.protocol_rejected(now);
                        }
                        if protocol == proto::IPV6CP {
                            self.ipv6cp.protocol_rejected(now);
                        }
                        role.protocol_rejected(self, now, protocol);
                    }
                }
            }
            if let Some(reason) = self.lcp.proto_mut().take_failure() {
                progress = true;
                if self.loop_kills && reason == DownReason::LoopedBack {
                    self.die(reason, role);
                    return;
                }
                self.close(now, reason, role);
            }
            while let Some(ev) = self.ipcp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => {
                        self.network_up = true;
                        self.network_was_up = true;
                        role.network_up(self);
                    }
                    fsm::Event::Down => self.network_down(role),
                    fsm::Event::Finished => role.ncp_finished(self, now, proto::IPCP),
                    _ => {}
                }
            }
            while let Some(ev) = self.ipv6cp.poll_event() {
                progress = true;
                match ev {
                    fsm::Event::Up => {
                        self.ipv6_up = true;
                        self.ipv6_was_up = true;
                        role.ipv6_up(self);
                    }
                    fsm::Event::Down => self.ipv6_down(role),
                    fsm::Event::Finished => role.ncp_finished(self, now, proto::IPV6CP),
                    _ => {}
                }
            }
            if let Some(reason) = self.ipcp.proto_mut().take_failure() {
                progress = true;
                self.close(now, reason, role);
            }
            if matches!(
                self.lcp.state(),
                State::Initial | State::Starting | State::Closed | State::Stopped
            ) {
                self.die(self.closing_or_lcp_failed(), role);
                return;
            }
            if !progress {
                return;
            }
        }
    }

    fn closing_or_lcp_failed(&self) -> DownReason {
        self.closing
            .clone()
            .unwrap_or(DownReason::NegotiationFailed("lcp"))
    }

    fn network_down(&mut self, role: &mut impl Role<I>) {
        if self.network_up {
            self.network_up = false;
            role.network_down();
        }
    }

    fn ipv6_down(&mut self, role: &mut impl Role<I>) {
        if self.ipv6_up {
            self.ipv6_up = false;
            role.ipv6_down();
        }
    }

    /// The link is over: flush what LCP still holds (e.g. a Terminate-Ack),
    /// report NetworkDown if needed, then Down (once).
    pub fn die(&mut self, reason: DownReason, role: &mut impl Role<I>) {
        if self.dead {
            return;
        }
        while let Some(p) = self.lcp.poll_transmit() {
            self.transmit.push_back((proto::LCP, p));
        }
        self.ipv6_down(role);
        self.network_down(role);
        self.dead = true;
        self.echo_at = None;
        role.down(reason);
    }
}
