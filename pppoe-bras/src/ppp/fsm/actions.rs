//! Actions (RFC 1661 §4.4) and the automaton's small helpers.

use std::time::Instant;

use super::{Event, Fsm, Protocol, State, Verdict};
use crate::wire::ppp::{self as wire, Code, OptionWriter};

impl<P: Protocol> Fsm<P> {
    pub(super) fn tlu(&mut self) {
        self.events.push_back(Event::Up);
    }

    pub(super) fn tld(&mut self) {
        self.events.push_back(Event::Down);
    }

    pub(super) fn tls(&mut self) {
        self.events.push_back(Event::Started);
    }

    pub(super) fn tlf(&mut self) {
        self.events.push_back(Event::Finished);
    }

    /// Initialize-Restart-Count for Configure-Requests.
    pub(super) fn irc(&mut self) {
        self.restart_count = self.cfg.max_configure;
    }

    /// Initialize-Restart-Count for Terminate-Requests.
    pub(super) fn irc_terminate(&mut self) {
        self.restart_count = self.cfg.max_terminate;
    }

    /// Zero-Restart-Count: wait one restart period (Stopping after RTR).
    pub(super) fn zrc(&mut self, now: Instant) {
        self.restart_count = 0;
        self.timer = Some(now + self.cfg.restart);
    }

    /// A negotiation starts from a non-negotiating state: fresh request
    /// and counter (the implicit irc of scr in pppd's fsm_sconfreq).
    pub(super) fn start_negotiation(&mut self) {
        self.proto.reset();
        self.irc();
    }

    /// Send-Configure-Request with a new identifier and freshly built options.
    pub(super) fn scr(&mut self, now: Instant) {
        self.req.clear();
        self.proto
            .build_request(&mut OptionWriter::new(&mut self.req));
        self.req_id = self.new_id();
        self.reply_seen = false;
        self.transmit
            .push_back(wire::packet(Code::ConfReq, self.req_id, &self.req));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.cfg.restart);
    }

    /// TO+ retransmission: identical bytes and identifier while no reply has
    /// been seen (RFC 1661 §5.1 allows it), else a new request.
    pub(super) fn scr_retransmit(&mut self, now: Instant) {
        if self.reply_seen {
            self.scr(now);
            return;
        }
        self.transmit
            .push_back(wire::packet(Code::ConfReq, self.req_id, &self.req));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.cfg.restart);
    }

    /// Judge the peer's request and send Ack, Nak or Reject; true for RCR+.
    pub(super) fn judge_and_reply(&mut self, id: u8, data: &[u8]) -> bool {
        let mut rej = Vec::new();
        let mut nak = Vec::new();
        let over = self.failures >= self.cfg.max_failure;
        for opt in wire::options(data) {
            let Ok(opt) = opt else { break };
            let mark = nak.len();
            let verdict =
                self.proto
                    .check_option(opt.kind, opt.value, &mut OptionWriter::new(&mut nak));
            match verdict {
                Verdict::Ack => nak.truncate(mark),
                Verdict::Nak if !over && nak.len() > mark => {}
                Verdict::Nak | Verdict::Reject => {
                    nak.truncate(mark);
                    rej.extend_from_slice(opt.raw);
                }
            }
        }
        if rej.is_empty() && !over {
            self.proto
                .check_missing(data, &mut OptionWriter::new(&mut nak));
        }
        if !rej.is_empty() {
            self.scn(id, Code::ConfRej, &rej);
            false
        } else if !nak.is_empty() {
            self.scn(id, Code::ConfNak, &nak);
            false
        } else {
            self.sca(id, data);
            true
        }
    }

    pub(super) fn sca(&mut self, id: u8, data: &[u8]) {
        self.failures = 0;
        self.acked_peer_req = Some((id, data.to_vec()));
        self.proto.peer_acked(data);
        self.transmit
            .push_back(wire::packet(Code::ConfAck, id, data));
    }

    pub(super) fn scn(&mut self, id: u8, code: Code, data: &[u8]) {
        if code == Code::ConfNak {
            self.failures = self.failures.saturating_add(1);
        }
        self.transmit.push_back(wire::packet(code, id, data));
    }

    /// Send-Terminate-Request (new identifier each time).
    pub(super) fn str(&mut self, now: Instant) {
        let id = self.new_id();
        self.transmit
            .push_back(wire::packet(Code::TermReq, id, &[]));
        self.restart_count = self.restart_count.saturating_sub(1);
        self.timer = Some(now + self.cfg.restart);
    }

    pub(super) fn sta(&mut self, id: u8) {
        self.transmit
            .push_back(wire::packet(Code::TermAck, id, &[]));
    }

    /// Send-Code-Reject echoing the packet (truncated to the peer's limit).
    pub(super) fn scj(&mut self, packet: &[u8]) {
        self.send_packet(Code::CodeRej, packet);
    }

    /// Send-Echo-Reply: our magic and the request's data, never larger than
    /// the peer's MRU.
    pub(super) fn ser(&mut self, id: u8, data: &[u8]) {
        let max = self.proto.max_packet().saturating_sub(wire::HEADER_LEN + 4);
        let mut body = Vec::with_capacity(4 + data.len().min(max));
        body.extend_from_slice(&self.proto.magic().to_be_bytes());
        body.extend_from_slice(&data[..data.len().min(max)]);
        self.transmit
            .push_back(wire::packet(Code::EchoRep, id, &body));
    }

    // ---- helpers ----

    pub(super) fn new_id(&mut self) -> u8 {
        self.last_id = self.last_id.wrapping_add(1);
        self.last_id
    }

    pub(super) fn is_reply(&self, id: u8) -> bool {
        id == self.req_id && !self.reply_seen
    }

    pub(super) fn set_state(&mut self, state: State) {
        if !matches!(
            state,
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent
        ) {
            self.timer = None;
        }
        self.state = state;
    }

    #[cfg(test)]
    pub(crate) fn force(&mut self, state: State, restart_count: u32, now: Instant) {
        self.state = state;
        self.restart_count = restart_count;
        self.timer = match state {
            State::Closing | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                Some(now + self.cfg.restart)
            }
            _ => None,
        };
        self.req.clear();
        self.proto
            .build_request(&mut OptionWriter::new(&mut self.req));
        self.req_id = self.new_id();
        self.reply_seen = false;
    }

    #[cfg(test)]
    pub(crate) fn last_request(&self) -> (u8, &[u8]) {
        (self.req_id, &self.req)
    }
}
