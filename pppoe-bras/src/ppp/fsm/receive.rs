//! Receive events (RFC 1661 §4.3): what each packet does in each state,
//! as the §4.1 table says.

use std::time::Instant;

use super::{Fsm, Protocol, State};
use crate::wire::ppp::{self as wire, Code};

impl<P: Protocol> Fsm<P> {
    pub(super) fn rcr(&mut self, now: Instant, id: u8, data: &[u8]) {
        match self.state {
            State::Closed => self.sta(id),
            State::Stopped => {
                if wire::validate_options(data).is_err() {
                    return;
                }
                self.start_negotiation();
                self.scr(now);
                let good = self.judge_and_reply(id, data);
                self.set_state(if good { State::AckSent } else { State::ReqSent });
            }
            State::Closing | State::Stopping => {}
            State::ReqSent | State::AckSent => {
                if wire::validate_options(data).is_err() {
                    return;
                }
                let good = self.judge_and_reply(id, data);
                self.set_state(if good { State::AckSent } else { State::ReqSent });
            }
            State::AckRcvd => {
                if wire::validate_options(data).is_err() {
                    return;
                }
                if self.judge_and_reply(id, data) {
                    self.set_state(State::Opened);
                    self.tlu();
                }
            }
            State::Opened => {
                if wire::validate_options(data).is_err() {
                    return;
                }
                // A copy of the request we acknowledged (same identifier,
                // same bytes, so the same Magic-Number): a retransmission
                // that crossed our Ack, as aggressive CPEs send every
                // 200 ms. RFC 1661 would renegotiate (tld/scr/sca), and two
                // such peers can renegotiate forever; pppd-era BRASes answer
                // the copy with the same Ack and stay Opened. A restarted
                // peer picks a new identifier or Magic-Number and still
                // renegotiates.
                if self
                    .acked_peer_req
                    .as_ref()
                    .is_some_and(|(aid, opts)| *aid == id && opts.as_slice() == data)
                {
                    self.duplicates_absorbed += 1;
                    self.transmit
                        .push_back(wire::packet(Code::ConfAck, id, data));
                    return;
                }
                self.tld();
                self.start_negotiation();
                self.scr(now);
                let good = self.judge_and_reply(id, data);
                self.set_state(if good { State::AckSent } else { State::ReqSent });
            }
            State::Initial | State::Starting => {}
        }
    }

    pub(super) fn rca(&mut self, now: Instant, id: u8, data: &[u8]) {
        match self.state {
            State::Closed | State::Stopped => self.sta(id),
            State::Closing | State::Stopping => {}
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened => {
                // The Ack must answer our current request, byte for byte.
                if !self.is_reply(id) || data != self.req.as_slice() {
                    return;
                }
                self.reply_seen = true;
                match self.state {
                    State::ReqSent => {
                        self.proto.acked(data);
                        self.irc();
                        self.set_state(State::AckRcvd);
                    }
                    State::AckRcvd => {
                        // Crossed connection (x): start over.
                        self.scr(now);
                        self.set_state(State::ReqSent);
                    }
                    State::AckSent => {
                        self.proto.acked(data);
                        self.irc();
                        self.set_state(State::Opened);
                        self.tlu();
                    }
                    _ => {
                        self.tld();
                        self.start_negotiation();
                        self.scr(now);
                        self.set_state(State::ReqSent);
                    }
                }
            }
            State::Initial | State::Starting => {}
        }
    }

    pub(super) fn rcn(&mut self, now: Instant, code: Code, id: u8, data: &[u8]) {
        match self.state {
            State::Closed | State::Stopped => self.sta(id),
            State::Closing | State::Stopping => {}
            State::ReqSent | State::AckRcvd | State::AckSent | State::Opened => {
                if !self.is_reply(id) || wire::validate_options(data).is_err() {
                    return;
                }
                self.reply_seen = true;
                let apply = |p: &mut P| {
                    if code == Code::ConfNak {
                        p.nak_received(data)
                    } else {
                        p.reject_received(data)
                    }
                };
                match self.state {
                    State::ReqSent => {
                        apply(&mut self.proto);
                        self.irc();
                        self.scr(now);
                    }
                    State::AckRcvd => {
                        apply(&mut self.proto);
                        self.scr(now);
                        self.set_state(State::ReqSent);
                    }
                    State::AckSent => {
                        apply(&mut self.proto);
                        self.irc();
                        self.scr(now);
                    }
                    _ => {
                        self.tld();
                        self.start_negotiation();
                        apply(&mut self.proto);
                        self.scr(now);
                        self.set_state(State::ReqSent);
                    }
                }
            }
            State::Initial | State::Starting => {}
        }
    }

    pub(super) fn rtr(&mut self, now: Instant, id: u8) {
        match self.state {
            State::Closed | State::Stopped | State::Closing | State::Stopping => self.sta(id),
            State::ReqSent | State::AckRcvd | State::AckSent => {
                self.sta(id);
                self.set_state(State::ReqSent);
            }
            State::Opened => {
                self.tld();
                self.zrc(now);
                self.sta(id);
                self.set_state(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }

    pub(super) fn rta(&mut self, now: Instant) {
        match self.state {
            State::Closing => {
                self.tlf();
                self.set_state(State::Closed);
            }
            State::Stopping => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            State::AckRcvd => self.set_state(State::ReqSent),
            State::Opened => {
                self.tld();
                self.start_negotiation();
                self.scr(now);
                self.set_state(State::ReqSent);
            }
            _ => {}
        }
    }

    /// RXJ+: a tolerable reject. The table sends Ack-Rcvd back to Req-Sent.
    pub(super) fn rxj_good(&mut self) {
        if self.state == State::AckRcvd {
            self.set_state(State::ReqSent);
        }
    }

    pub(super) fn rxj_bad(&mut self, now: Instant) {
        match self.state {
            State::Closed | State::Closing => {
                self.tlf();
                self.set_state(State::Closed);
            }
            State::Stopped | State::Stopping | State::ReqSent | State::AckRcvd | State::AckSent => {
                self.tlf();
                self.set_state(State::Stopped);
            }
            State::Opened => {
                self.tld();
                self.irc_terminate();
                self.str(now);
                self.set_state(State::Stopping);
            }
            State::Initial | State::Starting => {}
        }
    }
}
