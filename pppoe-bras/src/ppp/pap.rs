//! PAP (RFC 1334 §2): packets, the authenticator (server) and the peer
//! (client). PAP reuses the control packet header of RFC 1661.
//!
//! The server does not verify: [`PapServer::handle_packet`] hands out the
//! Peer-ID and password, the caller decides, [`PapServer::verdict`] answers.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use crate::wire::ppp::{self as wire, Code};

/// PAP codes (RFC 1334 §2.2).
pub mod code {
    pub const REQUEST: u8 = 1;
    pub const ACK: u8 = 2;
    pub const NAK: u8 = 3;
}

/// Authenticate-Request data: `peer_id_len, peer_id, passwd_len, password`.
pub fn parse_request(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&id_len, rest) = data.split_first()?;
    let peer_id = rest.get(..usize::from(id_len))?;
    let rest = &rest[usize::from(id_len)..];
    let (&pw_len, rest) = rest.split_first()?;
    let password = rest.get(..usize::from(pw_len))?;
    Some((peer_id, password))
}

/// Authenticate-Ack/Nak data: `msg_len, message`. A missing or
/// over-long message is tolerated (read what is there).
pub fn parse_reply(data: &[u8]) -> String {
    match data.split_first() {
        Some((&len, rest)) => {
            String::from_utf8_lossy(&rest[..rest.len().min(usize::from(len))]).into_owned()
        }
        None => String::new(),
    }
}

fn short(b: &[u8]) -> &[u8] {
    &b[..b.len().min(255)]
}

/// An Authenticate-Request packet (fields longer than 255 bytes truncated).
pub fn request_packet(identifier: u8, peer_id: &[u8], password: &[u8]) -> Vec<u8> {
    let (peer_id, password) = (short(peer_id), short(password));
    let mut data = Vec::with_capacity(2 + peer_id.len() + password.len());
    data.push(peer_id.len() as u8);
    data.extend_from_slice(peer_id);
    data.push(password.len() as u8);
    data.extend_from_slice(password);
    wire::packet(Code::ConfReq, identifier, &data)
}

/// An Authenticate-Ack (`ok`) or -Nak packet with a message.
pub fn reply_packet(ok: bool, identifier: u8, message: &str) -> Vec<u8> {
    let msg = short(message.as_bytes());
    let mut data = Vec::with_capacity(1 + msg.len());
    data.push(msg.len() as u8);
    data.extend_from_slice(msg);
    let c = if ok { code::ACK } else { code::NAK };
    wire::packet(Code::from(c), identifier, &data)
}

/// A credential the server received and the caller must judge.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PapRequest {
    pub user: String,
    pub password: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    Waiting,
    /// Credential handed out; answer with the latest request's identifier.
    Pending {
        identifier: u8,
    },
    Done {
        ok: bool,
        message: String,
    },
}

/// The authenticator side. The overall timeout lives in the link.
#[derive(Debug)]
pub struct PapServer {
    state: ServerState,
    transmit: VecDeque<Vec<u8>>,
}

impl Default for PapServer {
    fn default() -> Self {
        Self::new()
    }
}

impl PapServer {
    pub fn new() -> Self {
        PapServer {
            state: ServerState::Waiting,
            transmit: VecDeque::new(),
        }
    }

    /// A PAP packet from the peer. Returns the credential the first time a
    /// well-formed Authenticate-Request arrives; duplicates while pending
    /// are absorbed, duplicates after the verdict get the same verdict.
    pub fn handle_packet(&mut self, packet: &[u8]) -> Option<PapRequest> {
        let (h, data) = wire::parse(packet).ok()?;
        if u8::from(h.code) != code::REQUEST {
            return None;
        }
        let (peer_id, password) = parse_request(data)?;
        match &mut self.state {
            ServerState::Waiting => {
                self.state = ServerState::Pending {
                    identifier: h.identifier,
                };
                Some(PapRequest {
                    user: String::from_utf8_lossy(peer_id).into_owned(),
                    password: password.to_vec(),
                })
            }
            ServerState::Pending { identifier } => {
                *identifier = h.identifier;
                None
            }
            ServerState::Done { ok, message } => {
                let p = reply_packet(*ok, h.identifier, message);
                self.transmit.push_back(p);
                None
            }
        }
    }

    /// Answer the pending request. Ignored unless a request is pending.
    pub fn verdict(&mut self, ok: bool, message: &str) {
        if let ServerState::Pending { identifier } = self.state {
            self.transmit
                .push_back(reply_packet(ok, identifier, message));
            self.state = ServerState::Done {
                ok,
                message: message.to_owned(),
            };
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }
}

/// The outcome the client learns.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientOutcome {
    Success(String),
    Failure(String),
}

/// The authenticatee side: sends Authenticate-Request, retransmits on the
/// restart timer until Ack/Nak or `max_requests` are used up.
#[derive(Debug)]
pub struct PapClient {
    user: Vec<u8>,
    password: Vec<u8>,
    restart: Duration,
    left: u32,
    identifier: u8,
    timer: Option<Instant>,
    done: bool,
    transmit: VecDeque<Vec<u8>>,
}

impl PapClient {
    pub fn new(
        user: &[u8],
        password: &[u8],
        restart: Duration,
        max_requests: u32,
        first_id: u8,
    ) -> Self {
        PapClient {
            user: user.to_vec(),
            password: password.to_vec(),
            restart,
            left: max_requests,
            identifier: first_id.wrapping_sub(1),
            timer: None,
            done: false,
            transmit: VecDeque::new(),
        }
    }

    /// Send the first Authenticate-Request.
    pub fn start(&mut self, now: Instant) {
        self.send(now);
    }

    fn send(&mut self, now: Instant) {
        if self.left == 0 || self.done {
            self.timer = None;
            return;
        }
        self.left -= 1;
        // RFC 1334 §2.2.1: the Identifier changes with each request.
        self.identifier = self.identifier.wrapping_add(1);
        self.transmit
            .push_back(request_packet(self.identifier, &self.user, &self.password));
        self.timer = Some(now + self.restart);
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if matches!(self.timer, Some(t) if now >= t) {
            self.send(now);
        }
    }

    /// True when all retransmissions went unanswered.
    pub fn exhausted(&self) -> bool {
        !self.done && self.left == 0 && self.timer.is_none()
    }

    pub fn handle_packet(&mut self, packet: &[u8]) -> Option<ClientOutcome> {
        let (h, data) = wire::parse(packet).ok()?;
        if self.done || h.identifier != self.identifier {
            return None;
        }
        let msg = parse_reply(data);
        let out = match u8::from(h.code) {
            code::ACK => ClientOutcome::Success(msg),
            code::NAK => ClientOutcome::Failure(msg),
            _ => return None,
        };
        self.done = true;
        self.timer = None;
        Some(out)
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_bytes() {
        let p = request_packet(7, b"bob", b"pw");
        assert_eq!(p, [1, 7, 0, 11, 3, b'b', b'o', b'b', 2, b'p', b'w']);
        let (_, data) = wire::parse(&p).unwrap();
        assert_eq!(parse_request(data), Some((&b"bob"[..], &b"pw"[..])));
        assert_eq!(parse_request(&[3, b'b']), None);
        assert_eq!(parse_request(&[1, b'b']), None);
        assert_eq!(parse_request(&[]), None);
        assert_eq!(reply_packet(true, 7, "ok"), [2, 7, 0, 7, 2, b'o', b'k']);
        assert_eq!(parse_reply(&[9, b'o']), "o");
    }

    #[test]
    fn server_duplicates() {
        let mut s = PapServer::new();
        let req = s.handle_packet(&request_packet(1, b"bob", b"pw")).unwrap();
        assert_eq!(req.user, "bob");
        assert!(s.handle_packet(&request_packet(2, b"bob", b"pw")).is_none());
        s.verdict(false, "no");
        assert_eq!(s.poll_transmit().unwrap(), reply_packet(false, 2, "no"));
        assert!(s.handle_packet(&request_packet(3, b"bob", b"pw")).is_none());
        assert_eq!(s.poll_transmit().unwrap(), reply_packet(false, 3, "no"));
        s.verdict(true, "late");
        assert!(s.poll_transmit().is_none());
    }
}
