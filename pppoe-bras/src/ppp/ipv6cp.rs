//! IPv6CP option policy (RFC 5072): both ends negotiate a 64-bit
//! Interface-Identifier each, from which the link-local addresses
//! `fe80::<iid>` follow (RFC 5072 §5). Global addresses come later, from
//! Router Advertisements and DHCPv6 (see `crate::v6`).
//!
//! The policy is the same in both roles, so one type serves the BRAS
//! ([`Ipv6cp::server`]) and the emulated CPE ([`Ipv6cp::client`]):
//! - ours is random and non-zero (from the session's [`Rng`]);
//! - the peer's is acknowledged when it is non-zero and differs from ours;
//!   a zero or colliding one is Nak'd with a fresh random suggestion
//!   (RFC 5072 §4.1);
//! - a Nak of ours is taken when its suggestion is usable, otherwise we pick
//!   a new random one; a Reject stops us sending the option;
//! - IPv6-Compression-Protocol (type 2) and anything unknown is rejected.

use crate::wire::ppp::{self as wire, OptionWriter};

use super::fsm::{Protocol, Verdict};
use super::proto;
use super::rng::Rng;

/// IPv6CP configuration option types.
pub mod opt {
    pub const INTERFACE_IDENTIFIER: u8 = 1;
    /// RFC 5072 §4.2; never accepted here.
    pub const IPV6_COMPRESSION: u8 = 2;
}

/// Which end we are (diagnostics; the option policy is symmetric).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6cpRole {
    Server,
    Client,
}

/// IPv6CP policy of one end.
#[derive(Debug)]
pub struct Ipv6cp {
    role: Ipv6cpRole,
    rng: Rng,
    our_iid: u64,
    /// We still send our Interface-Identifier (cleared by a Reject).
    send_iid: bool,
    peer_iid: Option<u64>,
}

impl Ipv6cp {
    /// The BRAS side; our identifier is drawn from `rng` at once.
    pub fn server(rng: Rng) -> Self {
        Self::new(Ipv6cpRole::Server, rng, None)
    }

    /// The CPE side.
    pub fn client(rng: Rng) -> Self {
        Self::new(Ipv6cpRole::Client, rng, None)
    }

    /// Either side with a chosen first identifier (tests: a zero or a
    /// colliding one, to see the Naks).
    pub fn new(role: Ipv6cpRole, mut rng: Rng, first_iid: Option<u64>) -> Self {
        let our_iid = first_iid.unwrap_or_else(|| fresh(&mut rng, &[]));
        Ipv6cp {
            role,
            rng,
            our_iid,
            send_iid: true,
            peer_iid: None,
        }
    }

    pub fn role(&self) -> Ipv6cpRole {
        self.role
    }

    /// Our Interface-Identifier (link-local `fe80::<iid>`).
    pub fn our_iid(&self) -> u64 {
        self.our_iid
    }

    /// The peer's, from its acknowledged request (None if it sent none).
    pub fn peer_iid(&self) -> Option<u64> {
        self.peer_iid
    }
}

/// A random identifier that is non-zero and none of `avoid`.
fn fresh(rng: &mut Rng, avoid: &[u64]) -> u64 {
    loop {
        let v = rng.next_u64();
        if v != 0 && !avoid.contains(&v) {
            return v;
        }
    }
}

fn value_u64(value: &[u8]) -> Option<u64> {
    <[u8; 8]>::try_from(value).ok().map(u64::from_be_bytes)
}

fn iid_of(options: &[u8]) -> Option<u64> {
    wire::options(options)
        .flatten()
        .find(|o| o.kind == opt::INTERFACE_IDENTIFIER)
        .and_then(|o| value_u64(o.value))
}

impl Protocol for Ipv6cp {
    const PROTOCOL: u16 = proto::IPV6CP;
    const NAME: &'static str = "ipv6cp";

    fn reset(&mut self) {
        self.send_iid = true;
    }

    fn build_request(&mut self, w: &mut OptionWriter<'_>) {
        if self.send_iid {
            w.push(opt::INTERFACE_IDENTIFIER, &self.our_iid.to_be_bytes());
        }
    }

    fn check_option(&mut self, kind: u8, value: &[u8], nak: &mut OptionWriter<'_>) -> Verdict {
        match (kind, value_u64(value)) {
            (opt::INTERFACE_IDENTIFIER, Some(v)) if v != 0 && v != self.our_iid => Verdict::Ack,
            (opt::INTERFACE_IDENTIFIER, Some(v)) => {
                let suggestion = fresh(&mut self.rng, &[self.our_iid, v]);
                nak.push(opt::INTERFACE_IDENTIFIER, &suggestion.to_be_bytes());
                Verdict::Nak
            }
            _ => Verdict::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_iid = iid_of(options);
    }

    fn nak_received(&mut self, options: &[u8]) {
        if let Some(v) = iid_of(options) {
            let taken = [0, self.peer_iid.unwrap_or(0)];
            self.our_iid = if taken.contains(&v) {
                fresh(
                    &mut self.rng,
                    &[self.our_iid, v, self.peer_iid.unwrap_or(0)],
                )
            } else {
                v
            };
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        if wire::options(options)
            .flatten()
            .any(|o| o.kind == opt::INTERFACE_IDENTIFIER)
        {
            self.send_iid = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::ppp::fsm::{Event, Fsm, FsmConfig, State};

    fn judge(p: &mut Ipv6cp, kind: u8, value: &[u8]) -> (Verdict, Vec<u8>) {
        let mut nak = Vec::new();
        let v = p.check_option(kind, value, &mut OptionWriter::new(&mut nak));
        (v, nak)
    }

    const OURS: u64 = 0x0211_22ff_fe33_4455;

    #[test]
    fn request_carries_our_identifier() {
        let mut p = Ipv6cp::new(Ipv6cpRole::Server, Rng::seeded(1), Some(OURS));
        let mut req = Vec::new();
        p.build_request(&mut OptionWriter::new(&mut req));
        assert_eq!(req, [1, 10, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]);
        p.reject_received(&req);
        let mut req = Vec::new();
        p.build_request(&mut OptionWriter::new(&mut req));
        assert!(req.is_empty(), "rejected: not sent again");
        p.reset();
        let mut req = Vec::new();
        p.build_request(&mut OptionWriter::new(&mut req));
        assert_eq!(req.len(), 10, "a new negotiation offers it again");
    }

    #[test]
    fn random_identifiers_are_non_zero_and_differ() {
        let a = Ipv6cp::server(Rng::seeded(7));
        let b = Ipv6cp::client(Rng::seeded(8));
        assert_ne!(a.our_iid(), 0);
        assert_ne!(a.our_iid(), b.our_iid());
        assert_eq!(a.role(), Ipv6cpRole::Server);
    }

    #[test]
    fn peer_identifier_table() {
        let mut p = Ipv6cp::new(Ipv6cpRole::Server, Rng::seeded(1), Some(OURS));
        // Good: acknowledged and remembered.
        let good = 0x1122_3344_5566_7788u64.to_be_bytes();
        assert_eq!(judge(&mut p, 1, &good), (Verdict::Ack, vec![]));
        // Zero and ours: Nak'd with a fresh non-zero value that is neither.
        for bad in [0u64, OURS] {
            let (v, nak) = judge(&mut p, 1, &bad.to_be_bytes());
            assert_eq!(v, Verdict::Nak);
            assert_eq!(&nak[..2], &[1, 10]);
            let s = u64::from_be_bytes(nak[2..].try_into().unwrap());
            assert!(s != 0 && s != OURS && s != bad);
        }
        // Wrong length, compression, unknown: rejected.
        assert_eq!(judge(&mut p, 1, &[1, 2, 3, 4]).0, Verdict::Reject);
        assert_eq!(judge(&mut p, 2, &[0x00, 0x4f]).0, Verdict::Reject);
        assert_eq!(judge(&mut p, 99, &[]).0, Verdict::Reject);
        p.peer_acked(&[1, 10, 0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88]);
        assert_eq!(p.peer_iid(), Some(0x1122_3344_5566_7788));
    }

    #[test]
    fn nak_of_ours_is_taken_unless_unusable() {
        let mut p = Ipv6cp::new(Ipv6cpRole::Client, Rng::seeded(1), Some(0));
        p.nak_received(&[1, 10, 0, 0, 0, 0, 0, 0, 0, 9]);
        assert_eq!(p.our_iid(), 9);
        p.peer_acked(&[1, 10, 0, 0, 0, 0, 0, 0, 0, 5]);
        // A suggestion equal to the peer's own, or zero: pick our own.
        p.nak_received(&[1, 10, 0, 0, 0, 0, 0, 0, 0, 5]);
        assert!(![0, 5, 9].contains(&p.our_iid()));
        let before = p.our_iid();
        p.nak_received(&[1, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
        assert!(![0, 5, before].contains(&p.our_iid()));
    }

    /// Byte-exact through the automaton: a zero identifier from the peer is
    /// Nak'd with a suggestion, the suggested one is acknowledged.
    #[test]
    fn fsm_naks_zero_then_acks() {
        let now = Instant::now();
        let mut f = Fsm::new(
            Ipv6cp::new(Ipv6cpRole::Server, Rng::seeded(3), Some(OURS)),
            FsmConfig::default(),
            1,
        );
        f.open(now);
        f.up(now);
        assert_eq!(
            f.poll_transmit().unwrap(),
            [1, 1, 0, 14, 1, 10, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55]
        );
        f.handle_packet(now, &[1, 7, 0, 14, 1, 10, 0, 0, 0, 0, 0, 0, 0, 0]);
        let nak = f.poll_transmit().unwrap();
        assert_eq!(&nak[..6], &[3, 7, 0, 14, 1, 10]);
        let suggestion = u64::from_be_bytes(nak[6..].try_into().unwrap());
        assert!(suggestion != 0 && suggestion != OURS);
        let mut req = vec![1, 8, 0, 14, 1, 10];
        req.extend_from_slice(&suggestion.to_be_bytes());
        f.handle_packet(now, &req);
        let mut ack = req.clone();
        ack[0] = 2;
        assert_eq!(f.poll_transmit().unwrap(), ack);
        // Our request acknowledged: Opened.
        f.handle_packet(
            now + Duration::from_millis(1),
            &[
                2, 1, 0, 14, 1, 10, 0x02, 0x11, 0x22, 0xff, 0xfe, 0x33, 0x44, 0x55,
            ],
        );
        assert_eq!(f.state(), State::Opened);
        assert_eq!(f.poll_event(), Some(Event::Started));
        assert_eq!(f.poll_event(), Some(Event::Up));
        assert_eq!(f.proto().peer_iid(), Some(suggestion));
    }
}
