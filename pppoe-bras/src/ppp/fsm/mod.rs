//! The RFC 1661 §4 option-negotiation automaton, written once and shared by
//! LCP, IPCP (and later IPv6CP).
//!
//! The automaton knows states, events, actions, counters, identifiers and the
//! restart timer; everything protocol specific (which options to request, how
//! to judge the peer's) comes from a [`Protocol`] implementation. It is
//! sans-IO: call [`Fsm::up`]/[`Fsm::open`]/[`Fsm::handle_packet`]/
//! [`Fsm::handle_timeout`] with the current time, then drain
//! [`Fsm::poll_transmit`] (control packets of protocol [`Protocol::PROTOCOL`]),
//! [`Fsm::poll_event`] and re-arm on [`Fsm::poll_timeout`].
//!
//! Names follow the RFC: events `up`, `down`, `open`, `close`, TO+/TO-,
//! RCR+/RCR-, RCA, RCN, RTR, RTA, RUC, RXJ+/RXJ-, RXR; actions `tlu`, `tld`,
//! `tls`, `tlf`, `irc`, `zrc`, `scr`, `sca`, `scn`, `str`, `sta`, `scj`, `ser`.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::ppp::{self as wire, Code, OptionWriter};

mod actions;
mod receive;
#[cfg(test)]
mod tests;

/// The ten states of RFC 1661 §4.2.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum State {
    /// Lower layer down, no Open.
    Initial,
    /// Open issued, lower layer still down.
    Starting,
    /// Lower layer up, no Open (we answer with Terminate-Ack).
    Closed,
    /// Negotiation gave up (tlf) or the peer terminated; waiting passively.
    Stopped,
    /// We sent Terminate-Request after a Close.
    Closing,
    /// We sent Terminate-Request (or Ack) without a Close.
    Stopping,
    /// Configure-Request sent, nothing acknowledged yet.
    ReqSent,
    /// Our Configure-Request was acknowledged.
    AckRcvd,
    /// We acknowledged the peer's Configure-Request.
    AckSent,
    /// Both directions acknowledged.
    Opened,
}

/// Counters and timer of the automaton (RFC 1661 §4.6). Defaults are the RFC's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FsmConfig {
    /// Restart timer.
    pub restart: Duration,
    /// Configure-Requests sent without an answer before giving up.
    pub max_configure: u32,
    /// Configure-Naks sent without an Ack before Naks become Rejects.
    pub max_failure: u32,
    /// Terminate-Requests sent without an Ack before giving up.
    pub max_terminate: u32,
}

impl Default for FsmConfig {
    fn default() -> Self {
        FsmConfig {
            restart: Duration::from_secs(3),
            max_configure: 10,
            max_failure: 5,
            max_terminate: 2,
        }
    }
}

/// A protocol's judgement of one option of the peer's Configure-Request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Acceptable as is.
    Ack,
    /// Acceptable with another value: the protocol wrote the option it wants
    /// into the Nak writer. Turned into a Reject after Max-Failure Naks.
    Nak,
    /// Not negotiable: the option is echoed in a Configure-Reject.
    Reject,
}

/// What a control protocol plugs into the automaton: its number and its
/// option policy.
pub trait Protocol {
    /// PPP protocol number of the control packets (e.g. 0xc021).
    const PROTOCOL: u16;
    /// Short name for diagnostics ("lcp", "ipcp").
    const NAME: &'static str;
    /// LCP only: codes 8–13 (Protocol-Reject, Echo, Discard, Identification,
    /// Time-Remaining) belong to the protocol; otherwise they are unknown
    /// codes and get a Code-Reject.
    const LCP_CODES: bool = false;

    /// A fresh negotiation starts (scr from a state that was not
    /// negotiating): go back to the configured request.
    fn reset(&mut self);
    /// Write the options of our next Configure-Request.
    fn build_request(&mut self, w: &mut OptionWriter<'_>);
    /// Judge one option of the peer's Configure-Request. For [`Verdict::Nak`]
    /// write the suggested option into `nak`.
    fn check_option(&mut self, kind: u8, value: &[u8], nak: &mut OptionWriter<'_>) -> Verdict;
    /// After all options were judged (and none rejected): Nak options the
    /// peer did not include but must (e.g. IPCP IP-Address). Not called once
    /// Max-Failure is reached.
    fn check_missing(&mut self, _options: &[u8], _nak: &mut OptionWriter<'_>) {}
    /// We acknowledge the peer's request: these options are now in force.
    fn peer_acked(&mut self, options: &[u8]);
    /// The peer acknowledged our request (`options` equals what we sent).
    fn acked(&mut self, _options: &[u8]) {}
    /// The peer sent Configure-Nak for our request.
    fn nak_received(&mut self, options: &[u8]);
    /// The peer sent Configure-Reject for our request.
    fn reject_received(&mut self, options: &[u8]);
    /// Our Magic-Number for Echo-Reply (LCP only).
    fn magic(&self) -> u32 {
        0
    }
    /// A negotiation outcome that must end the link (e.g. an IPCP peer
    /// that insists on an address it was not given), reported once. The
    /// link polls it after every packet.
    fn take_failure(&mut self) -> Option<super::DownReason> {
        None
    }
    /// Largest control packet (header included) the peer accepts: Echo-Reply
    /// and Code-Reject are truncated to it.
    fn max_packet(&self) -> usize {
        1500
    }
}

/// What the automaton reports to its owner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// This-Layer-Up: entered Opened.
    Up,
    /// This-Layer-Down: left Opened.
    Down,
    /// This-Layer-Started: the lower layer is needed.
    Started,
    /// This-Layer-Finished: the lower layer is no longer needed (negotiation
    /// failed, terminated, or closed).
    Finished,
    /// LCP Echo-Reply received in Opened.
    EchoReply { identifier: u8, magic: u32 },
    /// LCP Echo-Request received (and answered) in Opened.
    EchoRequest,
    /// LCP Echo-Request carrying our own (non-zero) Magic-Number received
    /// in Opened: our own request came back over a looped line (RFC 1661
    /// §6.4), not a live peer. Not answered (the answer would only loop
    /// back to us too).
    LoopedEchoRequest,
    /// LCP Protocol-Reject for another protocol: stop using it.
    ProtocolRejected { protocol: u16 },
}

/// The RFC 1661 automaton around a [`Protocol`].
#[derive(Debug)]
pub struct Fsm<P> {
    proto: P,
    cfg: FsmConfig,
    state: State,
    /// Restart counter (§4.6): Configure- or Terminate-Requests still allowed.
    restart_count: u32,
    /// Configure-Naks sent since our last Configure-Ack (Max-Failure).
    failures: u32,
    /// Restart timer deadline; `Some` only in Closing..AckSent.
    timer: Option<Instant>,
    /// Last identifier we used.
    last_id: u8,
    /// Identifier and options of our outstanding Configure-Request.
    req_id: u8,
    req: Vec<u8>,
    /// A valid reply to `req_id` was processed: further ones are duplicates.
    reply_seen: bool,
    /// Identifier and options of the peer's request we acknowledged last
    /// (see [`Fsm::duplicates_absorbed`]).
    acked_peer_req: Option<(u8, Vec<u8>)>,
    /// Retransmitted peer requests answered in Opened without renegotiating.
    duplicates_absorbed: u64,
    /// Configure-Request retransmits keep the identifier until a reply arrives.
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<Event>,
}

impl<P: Protocol> Fsm<P> {
    /// A new automaton in Initial. `first_id` seeds the identifier sequence.
    pub fn new(proto: P, cfg: FsmConfig, first_id: u8) -> Self {
        Fsm {
            proto,
            cfg,
            state: State::Initial,
            restart_count: 0,
            failures: 0,
            timer: None,
            last_id: first_id.wrapping_sub(1),
            req_id: 0,
            req: Vec::new(),
            reply_seen: true,
            acked_peer_req: None,
            duplicates_absorbed: 0,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    pub fn state(&self) -> State {
        self.state
    }

    /// Put the automaton straight into Opened, without events or packets:
    /// a link a previous daemon negotiated, re-adopted from its state file
    /// (the peer never saw it go away). The protocol's own results are
    /// restored by the caller.
    pub fn restore_opened(&mut self) {
        self.state = State::Opened;
        self.timer = None;
        self.restart_count = 0;
        self.failures = 0;
        self.reply_seen = true;
        self.acked_peer_req = None;
    }

    pub fn is_opened(&self) -> bool {
        self.state == State::Opened
    }

    pub fn proto(&self) -> &P {
        &self.proto
    }

    /// Copies of an already acknowledged Configure-Request that arrived in
    /// Opened and were answered with the same Configure-Ack instead of
    /// restarting the negotiation.
    pub fn duplicates_absorbed(&self) -> u64 {
        self.duplicates_absorbed
    }

    pub fn proto_mut(&mut self) -> &mut P {
        &mut self.proto
    }

    pub fn config(&self) -> &FsmConfig {
        &self.cfg
    }

    /// Current restart counter (diagnostics and tests).
    pub fn restart_count(&self) -> u32 {
        self.restart_count
    }

    /// Next control packet (without the PPP protocol field) to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<Event> {
        self.events.pop_front()
    }

    /// When [`Fsm::handle_timeout`] must be called (restart timer).
    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }

    // ---- administrative and lower-layer events (§4.3) ----

    /// Up: the lower layer is ready.
    pub fn up(&mut self, now: Instant) {
        match self.state {
            State::Initial => self.set_state(State::Closed),
            State::Starting => {
                self.failures = 0;
                self.start_negotiation();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// Down: the lower layer went away.
    pub fn down(&mut self, _now: Instant) {
        match self.state {
            State::Closed | State::Closing => self.set_state(State::Initial),
            State::Stopped => {
                self.tls();
                self.set_state(State::Starting);
            }
            State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.set_state(State::Starting)
            }
            State::Opened => {
                self.tld();
                self.set_state(State::Starting);
            }
            State::Initial | State::Starting => {}
        }
    }

    /// Open: the administrator allows the link. No restart option: in
    /// Stopped/Closing/Stopping/Opened it only records the intent.
    pub fn open(&mut self, now: Instant) {
        match self.state {
            State::Initial => {
                self.tls();
                self.set_state(State::Starting);
            }
            State::Closed => {
                self.failures = 0;
                self.start_negotiation();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            State::Closing => self.set_state(State::Stopping),
            _ => {}
        }
    }

    /// Close: the administrator wants the link down.
    pub fn close(&mut self, now: Instant) {
        match self.state {
            State::Starting => {
                self.tlf();
                self.set_state(State::Initial);
            }
            State::Stopped => self.set_state(State::Closed),
            State::Stopping => self.set_state(State::Closing),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Closing);
            }
            State::Initial | State::Closed | State::Closing => {}
        }
    }

    /// Restart timer expiry (TO+ / TO-). Does nothing before the deadline.
    pub fn handle_timeout(&mut self, now: Instant) {
        match self.timer {
            Some(t) if now >= t => {}
            _ => return,
        }
        self.timer = None;
        let good = self.restart_count > 0;
        match (self.state, good) {
            (State::Closing, true) | (State::Stopping, true) => self.str(now),
            (State::Closing, false) => {
                self.tlf();
                self.set_state(State::Closed);
            }
            (State::Stopping, false) => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            (State::ReqSent, true) | (State::AckRcvd, true) => {
                self.scr_retransmit(now);
                self.set_state(State::ReqSent);
            }
            (State::AckSent, true) => self.scr_retransmit(now),
            (State::ReqSent | State::AckRcvd | State::AckSent, false) => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            _ => {}
        }
    }

    /// RXJ- from outside: the peer Protocol-Rejected this protocol (an NCP).
    pub fn protocol_rejected(&mut self, now: Instant) {
        self.rxj_bad(now);
    }

    /// A control packet of this protocol arrived (information field, i.e.
    /// without the PPP protocol number). Malformed packets are discarded.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok((h, data)) = wire::parse(packet) else {
            return;
        };
        if matches!(self.state, State::Initial | State::Starting) {
            // The lower layer is down: nothing can arrive (§4.1 "-").
            return;
        }
        match h.code {
            Code::ConfReq => self.rcr(now, h.identifier, data),
            Code::ConfAck => self.rca(now, h.identifier, data),
            Code::ConfNak | Code::ConfRej => self.rcn(now, h.code, h.identifier, data),
            Code::TermReq => self.rtr(now, h.identifier),
            Code::TermAck => self.rta(now),
            Code::CodeRej => match data.first() {
                // Rejecting any of codes 1..=7 makes the protocol unusable.
                Some(1..=7) => self.rxj_bad(now),
                Some(_) => self.rxj_good(),
                None => {}
            },
            Code::ProtRej if P::LCP_CODES => {
                let Some(protocol) = wire::value_u16(data.get(..2).unwrap_or(&[])) else {
                    return;
                };
                if protocol == P::PROTOCOL {
                    self.rxj_bad(now);
                } else {
                    // RXJ+; the owner stops the rejected protocol.
                    self.rxj_good();
                    self.events.push_back(Event::ProtocolRejected { protocol });
                }
            }
            Code::EchoReq if P::LCP_CODES => {
                // RXR; only Opened answers (ser).
                if self.state == State::Opened && data.len() >= 4 {
                    let magic = wire::value_u32(&data[..4]);
                    let ours = self.proto.magic();
                    if ours != 0 && magic == Some(ours) {
                        self.events.push_back(Event::LoopedEchoRequest);
                    } else {
                        self.ser(h.identifier, &data[4..]);
                        self.events.push_back(Event::EchoRequest);
                    }
                }
            }
            Code::EchoRep if P::LCP_CODES => {
                if self.state == State::Opened {
                    if let Some(magic) = wire::value_u32(data.get(..4).unwrap_or(&[])) {
                        self.events.push_back(Event::EchoReply {
                            identifier: h.identifier,
                            magic,
                        });
                    }
                }
            }
            Code::DiscardReq | Code::Identification | Code::TimeRemaining if P::LCP_CODES => {}
            _ => self.scj(packet.get(..usize::from(h.length)).unwrap_or(packet)),
        }
    }

    /// Send an arbitrary packet of this protocol with a fresh identifier
    /// (LCP Echo-Request, Protocol-Reject). Data is truncated to the peer's
    /// limit. Returns the identifier used.
    pub fn send_packet(&mut self, code: Code, data: &[u8]) -> u8 {
        let id = self.new_id();
        let max = self.proto.max_packet().saturating_sub(wire::HEADER_LEN);
        let data = &data[..data.len().min(max)];
        self.transmit.push_back(wire::packet(code, id, data));
        id
    }
}
