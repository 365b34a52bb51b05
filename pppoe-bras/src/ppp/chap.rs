//! CHAP with MD5 (RFC 1994): packets, the authenticator (server) and the
//! peer (client).
//!
//! The server does not know secrets: it hands out
//! [`Credential::ChapMd5`](super::Credential) and the caller verifies
//! `MD5(identifier ‖ secret ‖ challenge) == response` (see [`md5_response`]).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use md5::{Digest, Md5};

use super::rng::Rng;
use crate::wire::ppp::{self as wire, Code};

/// CHAP codes (RFC 1994 §4).
pub mod code {
    pub const CHALLENGE: u8 = 1;
    pub const RESPONSE: u8 = 2;
    pub const SUCCESS: u8 = 3;
    pub const FAILURE: u8 = 4;
}

/// Length of the challenge value we send.
pub const CHALLENGE_LEN: usize = 16;

/// `MD5(identifier ‖ secret ‖ challenge)` (RFC 1994 §2).
pub fn md5_response(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// Challenge/Response data: `value_size, value, name` (name = rest).
pub fn parse_value_name(data: &[u8]) -> Option<(&[u8], &[u8])> {
    let (&size, rest) = data.split_first()?;
    let value = rest.get(..usize::from(size))?;
    Some((value, &rest[usize::from(size)..]))
}

/// A Challenge (`code::CHALLENGE`) or Response (`code::RESPONSE`) packet.
pub fn value_name_packet(c: u8, identifier: u8, value: &[u8], name: &[u8]) -> Vec<u8> {
    let value = &value[..value.len().min(255)];
    let name = &name[..name.len().min(1000)];
    let mut data = Vec::with_capacity(1 + value.len() + name.len());
    data.push(value.len() as u8);
    data.extend_from_slice(value);
    data.extend_from_slice(name);
    wire::packet(Code::from(c), identifier, &data)
}

/// A Success or Failure packet; the message is the whole data.
pub fn result_packet(ok: bool, identifier: u8, message: &str) -> Vec<u8> {
    let c = if ok { code::SUCCESS } else { code::FAILURE };
    let m = message.as_bytes();
    wire::packet(Code::from(c), identifier, &m[..m.len().min(1000)])
}

/// What the server received and the caller must verify.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapResponse {
    pub user: String,
    pub identifier: u8,
    pub challenge: Vec<u8>,
    pub response: Vec<u8>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum ServerState {
    Idle,
    /// Challenge sent, waiting for a Response with `identifier`.
    Challenged {
        left: u32,
    },
    /// Response handed out for verification.
    Pending,
    Done {
        ok: bool,
        message: String,
    },
}

/// The authenticator: Challenge, retransmitted on the restart timer.
#[derive(Debug)]
pub struct ChapServer {
    name: Vec<u8>,
    rng: Rng,
    restart: Duration,
    max_challenges: u32,
    identifier: u8,
    challenge: [u8; CHALLENGE_LEN],
    state: ServerState,
    timer: Option<Instant>,
    transmit: VecDeque<Vec<u8>>,
}

impl ChapServer {
    /// `name` goes into the Challenge (e.g. the AC name); `rng` draws the
    /// challenge values and identifiers (see [`Rng`]).
    pub fn new(name: &str, restart: Duration, max_challenges: u32, mut rng: Rng) -> Self {
        let identifier = rng.next_u8();
        ChapServer {
            name: name.as_bytes().to_vec(),
            rng,
            restart,
            max_challenges: max_challenges.max(1),
            identifier,
            challenge: [0; CHALLENGE_LEN],
            state: ServerState::Idle,
            timer: None,
            transmit: VecDeque::new(),
        }
    }

    /// Send a fresh Challenge: a new random identifier (never the previous
    /// one, RFC 1994 §4.1) and a new random value.
    pub fn start(&mut self, now: Instant) {
        let previous = self.identifier;
        while self.identifier == previous {
            self.identifier = self.rng.next_u8();
        }
        self.rng.fill(&mut self.challenge);
        self.state = ServerState::Challenged {
            left: self.max_challenges - 1,
        };
        self.send_challenge(now);
    }

    fn send_challenge(&mut self, now: Instant) {
        self.transmit.push_back(value_name_packet(
            code::CHALLENGE,
            self.identifier,
            &self.challenge,
            &self.name,
        ));
        self.timer = Some(now + self.restart);
    }

    /// Retransmit the Challenge (same identifier and value) until the
    /// budget is used up; the link's auth timeout ends it.
    pub fn handle_timeout(&mut self, now: Instant) {
        if !matches!(self.timer, Some(t) if now >= t) {
            return;
        }
        self.timer = None;
        if let ServerState::Challenged { left } = &mut self.state {
            if *left > 0 {
                *left -= 1;
                self.send_challenge(now);
            }
        }
    }

    /// A CHAP packet from the peer. Returns the response to verify the first
    /// time a Response with our identifier arrives; repeats after the verdict
    /// get the same verdict; other identifiers are ignored.
    pub fn handle_packet(&mut self, packet: &[u8]) -> Option<ChapResponse> {
        let (h, data) = wire::parse(packet).ok()?;
        if u8::from(h.code) != code::RESPONSE || h.identifier != self.identifier {
            return None;
        }
        let (value, name) = parse_value_name(data)?;
        match &self.state {
            ServerState::Challenged { .. } => {
                self.state = ServerState::Pending;
                self.timer = None;
                Some(ChapResponse {
                    user: String::from_utf8_lossy(name).into_owned(),
                    identifier: h.identifier,
                    challenge: self.challenge.to_vec(),
                    response: value.to_vec(),
                })
            }
            ServerState::Done { ok, message } => {
                let p = result_packet(*ok, self.identifier, message);
                self.transmit.push_back(p);
                None
            }
            ServerState::Idle | ServerState::Pending => None,
        }
    }

    /// Answer the pending response.
    pub fn verdict(&mut self, ok: bool, message: &str) {
        if self.state == ServerState::Pending {
            self.transmit
                .push_back(result_packet(ok, self.identifier, message));
            self.state = ServerState::Done {
                ok,
                message: message.to_owned(),
            };
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.timer
    }
}

/// What the client learns from Success/Failure.
pub use super::pap::ClientOutcome;

/// The peer being authenticated: answers every Challenge.
#[derive(Debug)]
pub struct ChapClient {
    user: Vec<u8>,
    password: Vec<u8>,
    last_id: Option<u8>,
    done: bool,
    transmit: VecDeque<Vec<u8>>,
}

impl ChapClient {
    pub fn new(user: &[u8], password: &[u8]) -> Self {
        ChapClient {
            user: user.to_vec(),
            password: password.to_vec(),
            last_id: None,
            done: false,
            transmit: VecDeque::new(),
        }
    }

    pub fn handle_packet(&mut self, packet: &[u8]) -> Option<ClientOutcome> {
        let (h, data) = wire::parse(packet).ok()?;
        match u8::from(h.code) {
            code::CHALLENGE => {
                let (challenge, _name) = parse_value_name(data)?;
                if self.last_id != Some(h.identifier) {
                    // A new challenge (e.g. a re-challenge in the Network
                    // phase): its verdict is reported again.
                    self.done = false;
                }
                let r = md5_response(h.identifier, &self.password, challenge);
                self.transmit.push_back(value_name_packet(
                    code::RESPONSE,
                    h.identifier,
                    &r,
                    &self.user,
                ));
                self.last_id = Some(h.identifier);
                None
            }
            c @ (code::SUCCESS | code::FAILURE) if Some(h.identifier) == self.last_id => {
                if self.done {
                    return None;
                }
                self.done = true;
                let msg = String::from_utf8_lossy(data).into_owned();
                Some(if c == code::SUCCESS {
                    ClientOutcome::Success(msg)
                } else {
                    ClientOutcome::Failure(msg)
                })
            }
            _ => None,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Answer later challenges with another secret (tests of re-challenge).
    pub fn set_password(&mut self, password: &[u8]) {
        self.password = password.to_vec();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1994_md5() {
        // MD5(0x01 ‖ "secret" ‖ 00..0f), computed independently.
        let ch: Vec<u8> = (0u8..16).collect();
        let r = md5_response(1, b"secret", &ch);
        let mut h = Md5::new();
        h.update([1u8]);
        h.update(b"secret");
        h.update(&ch);
        assert_eq!(r, <[u8; 16]>::from(h.finalize()));
    }

    #[test]
    fn challenge_response_bytes() {
        let p = value_name_packet(code::CHALLENGE, 9, &[0xaa, 0xbb], b"ac");
        assert_eq!(p, [1, 9, 0, 9, 2, 0xaa, 0xbb, b'a', b'c']);
        let (_, data) = wire::parse(&p).unwrap();
        assert_eq!(
            parse_value_name(data),
            Some((&[0xaa, 0xbb][..], &b"ac"[..]))
        );
        assert_eq!(parse_value_name(&[3, 1]), None);
        assert_eq!(result_packet(true, 9, "Hi"), [3, 9, 0, 6, b'H', b'i']);
    }

    #[test]
    fn server_flow() {
        let t0 = Instant::now();
        let mut s = ChapServer::new("bras", Duration::from_secs(3), 3, Rng::seeded(1));
        s.start(t0);
        let ch = s.poll_transmit().unwrap();
        let id = ch[1];
        s.handle_timeout(t0 + Duration::from_secs(3));
        assert_eq!(s.poll_transmit().unwrap(), ch, "same id and value");
        s.handle_timeout(t0 + Duration::from_secs(6));
        assert!(s.poll_transmit().is_some());
        s.handle_timeout(t0 + Duration::from_secs(9));
        assert!(s.poll_transmit().is_none(), "max 3 challenges");

        let mut c = ChapClient::new(b"bob", b"pw");
        assert!(c.handle_packet(&ch).is_none());
        let resp = c.poll_transmit().unwrap();
        // Wrong identifier ignored.
        let mut bad = resp.clone();
        bad[1] = id.wrapping_add(1);
        assert!(s.handle_packet(&bad).is_none());
        let r = s.handle_packet(&resp).unwrap();
        assert_eq!(r.user, "bob");
        assert_eq!(r.response, md5_response(id, b"pw", &r.challenge));
        assert!(s.handle_packet(&resp).is_none(), "pending: absorbed");
        s.verdict(true, "Welcome");
        let ok = s.poll_transmit().unwrap();
        assert_eq!(ok, result_packet(true, id, "Welcome"));
        assert!(s.handle_packet(&resp).is_none());
        assert_eq!(s.poll_transmit().unwrap(), ok, "same verdict resent");
        assert_eq!(
            c.handle_packet(&ok),
            Some(ClientOutcome::Success("Welcome".into()))
        );
    }
}
