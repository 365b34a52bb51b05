//! LCP option policy (RFC 1661 §6, RFC 2516 §7, RFC 1994 §3) for both roles.
//!
//! The same [`Lcp`] serves the BRAS (requests MRU, Auth-Protocol,
//! Magic-Number; refuses to be authenticated) and the subscriber emulator
//! (requests MRU and Magic-Number; agrees to be authenticated with one of
//! `accept_auth`). Policy is the data in [`LcpPolicy`].

use crate::wire::ppp::{self as wire, OptionWriter};

use super::fsm::{Protocol, Verdict};
use super::rng::Rng;
use super::{proto, AuthProto, DownReason};

/// LCP configuration option types (RFC 1661 §6, IANA "PPP LCP Configuration
/// Option Types").
pub mod opt {
    pub const MRU: u8 = 1;
    pub const ACCM: u8 = 2;
    pub const AUTH_PROTOCOL: u8 = 3;
    pub const QUALITY_PROTOCOL: u8 = 4;
    pub const MAGIC_NUMBER: u8 = 5;
    pub const PFC: u8 = 7;
    pub const ACFC: u8 = 8;
    pub const FCS_ALTERNATIVES: u8 = 9;
    pub const CALLBACK: u8 = 13;
    pub const MRRU: u8 = 17;
    pub const SHORT_SEQUENCE: u8 = 18;
    pub const ENDPOINT_DISCRIMINATOR: u8 = 19;
}

/// Smallest MRU we accept from a peer (RFC 791's 68 minus some slack). A
/// smaller one is Naked with this value: the closest MRU we accept, as
/// RFC 1661 §5.3 asks of a Nak (pppd Naks with its own minimum too, 128).
pub const MIN_MRU: u16 = 64;
/// MRU assumed when the peer does not send the option (RFC 1661 §6.1).
pub const DEFAULT_MRU: u16 = 1500;
/// Our own Magic-Number coming back this many times means the line is
/// looped (RFC 1661 §6.4; pppd's lcp-loopback-fail is 10).
pub const LOOP_LIMIT: u32 = 5;

/// Auth-Protocol option value for `p` (CHAP is always algorithm 5, MD5).
pub fn auth_option(p: AuthProto) -> &'static [u8] {
    match p {
        AuthProto::Chap => &[0xc2, 0x23, 0x05],
        AuthProto::Pap => &[0xc0, 0x23],
    }
}

/// Parse an Auth-Protocol option value we support (PAP, CHAP-MD5).
pub fn parse_auth(value: &[u8]) -> Option<AuthProto> {
    match value {
        [0xc0, 0x23] => Some(AuthProto::Pap),
        [0xc2, 0x23, 0x05] => Some(AuthProto::Chap),
        _ => None,
    }
}

/// LCP negotiation policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LcpPolicy {
    /// The MRU we request (what we can receive).
    pub mru: u16,
    /// The largest MRU we let the peer announce (what we can send): 1492 on
    /// PPPoE, or PPP-Max-Payload (RFC 4638).
    pub max_peer_mru: u16,
    /// Server role: the peer must authenticate with one of these, in order
    /// of preference. Empty: we don't ask for authentication.
    pub request_auth: Vec<AuthProto>,
    /// Client role: we let the peer authenticate us with these (first is
    /// our preference in a Nak). Empty: we Reject the peer's Auth-Protocol.
    pub accept_auth: Vec<AuthProto>,
    /// Client quirk: the first time the peer asks for an Auth-Protocol, Nak
    /// it with this raw value (e.g. `c2 23 81`, MS-CHAPv2, as Windows does).
    pub auth_nak_first: Option<Vec<u8>>,
}

/// LCP option state for one link; plug into [`super::fsm::Fsm`].
#[derive(Debug)]
pub struct Lcp {
    policy: LcpPolicy,
    rng: Rng,
    // Our request.
    mru: Option<u16>,
    magic: u32,
    send_magic: bool,
    auth_idx: usize,
    /// Auth-Protocol Naks received in this negotiation (bounds re-offers).
    auth_naks: usize,
    send_auth: bool,
    // Results.
    acked_auth: Option<AuthProto>,
    acked_mru: u16,
    peer_mru: u16,
    peer_magic: Option<u32>,
    peer_auth: Option<AuthProto>,
    loops: u32,
    nak_first_done: bool,
    failure: Option<DownReason>,
}

impl Lcp {
    /// `rng` draws the Magic-Numbers (see [`Rng`]).
    pub fn new(policy: LcpPolicy, rng: Rng) -> Self {
        let mut lcp = Lcp {
            rng,
            mru: Some(policy.mru),
            magic: 0,
            send_magic: true,
            auth_idx: 0,
            auth_naks: 0,
            send_auth: !policy.request_auth.is_empty(),
            acked_auth: None,
            acked_mru: DEFAULT_MRU.min(policy.mru),
            peer_mru: DEFAULT_MRU.min(policy.max_peer_mru),
            peer_magic: None,
            peer_auth: None,
            loops: 0,
            nak_first_done: false,
            failure: None,
            policy,
        };
        lcp.magic = lcp.rng.nonzero_u32();
        lcp
    }

    pub fn policy(&self) -> &LcpPolicy {
        &self.policy
    }

    /// Server role: the Auth-Protocol the peer acknowledged.
    pub fn auth(&self) -> Option<AuthProto> {
        self.acked_auth
    }

    /// Client role: the Auth-Protocol the peer requires from us.
    pub fn peer_auth(&self) -> Option<AuthProto> {
        self.peer_auth
    }

    /// The peer's MRU: the largest PPP information field we may send.
    pub fn peer_mru(&self) -> u16 {
        self.peer_mru
    }

    /// Our MRU as acknowledged by the peer.
    pub fn our_mru(&self) -> u16 {
        self.acked_mru
    }

    /// Our current Magic-Number (0 if the peer rejected the option).
    pub fn our_magic(&self) -> u32 {
        if self.send_magic {
            self.magic
        } else {
            0
        }
    }

    pub fn peer_magic(&self) -> Option<u32> {
        self.peer_magic
    }

    /// The results of a negotiation a previous daemon made (re-adoption):
    /// our Magic-Number and MRU, the peer's, the authentication protocol.
    pub fn restore(
        &mut self,
        our_magic: u32,
        peer_magic: Option<u32>,
        our_mru: u16,
        peer_mru: u16,
        auth: Option<AuthProto>,
    ) {
        self.magic = our_magic;
        self.send_magic = our_magic != 0;
        self.peer_magic = peer_magic;
        self.acked_mru = our_mru;
        self.peer_mru = peer_mru;
        self.acked_auth = auth;
    }

    /// A fatal negotiation outcome (auth impossible, loopback), once.
    pub fn take_failure(&mut self) -> Option<DownReason> {
        self.failure.take()
    }

    fn fail(&mut self, reason: DownReason) {
        if self.failure.is_none() {
            self.failure = Some(reason);
        }
    }

    /// The peer Naked our Auth-Protocol, maybe suggesting another (RFC 1661
    /// §5.3): take the suggestion if it is in our list, also one offered
    /// before (a client that Naked CHAP-MD5 with MS-CHAPv2 and then Naks PAP
    /// with CHAP-MD5 gets CHAP-MD5 again); without a usable suggestion move
    /// to the next entry. At most two offers per protocol, then give up.
    fn auth_fallback(&mut self, suggested: Option<AuthProto>) {
        let list = &self.policy.request_auth;
        self.auth_naks += 1;
        if self.auth_naks >= 2 * list.len() {
            self.fail(DownReason::NegotiationFailed("auth"));
            return;
        }
        let current = list.get(self.auth_idx).copied();
        let next = self.auth_idx + 1;
        match suggested
            .filter(|s| Some(*s) != current)
            .and_then(|s| list.iter().position(|p| *p == s))
        {
            Some(i) => self.auth_idx = i,
            None if next < list.len() => self.auth_idx = next,
            None => self.fail(DownReason::NegotiationFailed("auth")),
        }
    }
}

impl Protocol for Lcp {
    const PROTOCOL: u16 = proto::LCP;
    const NAME: &'static str = "lcp";
    const LCP_CODES: bool = true;

    fn reset(&mut self) {
        self.mru = Some(self.policy.mru);
        self.magic = self.rng.nonzero_u32();
        self.send_magic = true;
        self.auth_idx = 0;
        self.auth_naks = 0;
        self.send_auth = !self.policy.request_auth.is_empty();
        self.acked_auth = None;
    }

    fn build_request(&mut self, w: &mut OptionWriter<'_>) {
        if let Some(mru) = self.mru {
            w.push_u16(opt::MRU, mru);
        }
        if self.send_auth {
            if let Some(p) = self.policy.request_auth.get(self.auth_idx) {
                w.push(opt::AUTH_PROTOCOL, auth_option(*p));
            }
        }
        if self.send_magic {
            w.push_u32(opt::MAGIC_NUMBER, self.magic);
        }
    }

    fn check_option(&mut self, kind: u8, value: &[u8], nak: &mut OptionWriter<'_>) -> Verdict {
        match kind {
            opt::MRU => match wire::value_u16(value) {
                Some(v) if (MIN_MRU..=self.policy.max_peer_mru).contains(&v) => Verdict::Ack,
                Some(v) => {
                    // The closest value we accept: our minimum or maximum.
                    let suggest = if v < MIN_MRU {
                        MIN_MRU
                    } else {
                        self.policy.max_peer_mru
                    };
                    nak.push_u16(opt::MRU, suggest);
                    Verdict::Nak
                }
                None => Verdict::Reject,
            },
            opt::MAGIC_NUMBER => match wire::value_u32(value) {
                Some(v) if self.send_magic && v == self.magic => {
                    // RFC 1661 §6.4: our own number came back.
                    self.loops += 1;
                    if self.loops >= LOOP_LIMIT {
                        self.fail(DownReason::LoopedBack);
                    }
                    let suggest = self.rng.nonzero_u32();
                    nak.push_u32(opt::MAGIC_NUMBER, suggest);
                    Verdict::Nak
                }
                Some(0) => {
                    // RFC 1661 §6.4: zero is illegal and MUST be Naked (or
                    // the option rejected): suggest a fresh random number.
                    nak.push_u32(opt::MAGIC_NUMBER, self.rng.nonzero_u32());
                    Verdict::Nak
                }
                Some(_) => Verdict::Ack,
                None => Verdict::Reject,
            },
            opt::AUTH_PROTOCOL => {
                let Some(first) = self.policy.accept_auth.first().copied() else {
                    // We authenticate, we are not authenticated.
                    return Verdict::Reject;
                };
                if !self.nak_first_done {
                    self.nak_first_done = true;
                    if let Some(raw) = &self.policy.auth_nak_first {
                        nak.push(opt::AUTH_PROTOCOL, raw);
                        return Verdict::Nak;
                    }
                }
                match parse_auth(value) {
                    Some(p) if self.policy.accept_auth.contains(&p) => Verdict::Ack,
                    _ => {
                        nak.push(opt::AUTH_PROTOCOL, auth_option(first));
                        Verdict::Nak
                    }
                }
            }
            // ACCM, PFC, ACFC, FCS-Alternatives are meaningless on PPPoE
            // (RFC 2516 §7); Quality, Callback, Multilink unsupported;
            // anything unknown is rejected as well.
            _ => Verdict::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_mru = DEFAULT_MRU.min(self.policy.max_peer_mru);
        self.peer_magic = None;
        self.peer_auth = None;
        for o in wire::options(options).flatten() {
            match o.kind {
                opt::MRU => {
                    if let Some(v) = wire::value_u16(o.value) {
                        self.peer_mru = v;
                    }
                }
                opt::MAGIC_NUMBER => self.peer_magic = wire::value_u32(o.value),
                opt::AUTH_PROTOCOL => self.peer_auth = parse_auth(o.value),
                _ => {}
            }
        }
    }

    fn acked(&mut self, _options: &[u8]) {
        self.acked_auth = if self.send_auth {
            self.policy.request_auth.get(self.auth_idx).copied()
        } else {
            None
        };
        self.acked_mru = self.mru.unwrap_or(DEFAULT_MRU);
    }

    fn nak_received(&mut self, options: &[u8]) {
        for o in wire::options(options).flatten() {
            match o.kind {
                opt::MRU => {
                    if let Some(v) = wire::value_u16(o.value) {
                        self.mru = Some(v.clamp(MIN_MRU, self.policy.mru));
                    }
                }
                opt::MAGIC_NUMBER => self.magic = self.rng.nonzero_u32(),
                opt::AUTH_PROTOCOL if self.send_auth => self.auth_fallback(parse_auth(o.value)),
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for o in wire::options(options).flatten() {
            match o.kind {
                opt::MRU => self.mru = None,
                opt::MAGIC_NUMBER => self.send_magic = false,
                opt::AUTH_PROTOCOL if self.send_auth => {
                    // We require authentication. On a looped line our own
                    // request comes back and we reject our own Auth-Protocol:
                    // having seen our magic, call it what it is.
                    self.fail(if self.loops > 0 {
                        DownReason::LoopedBack
                    } else {
                        DownReason::NegotiationFailed("auth")
                    });
                }
                _ => {}
            }
        }
    }

    fn magic(&self) -> u32 {
        self.our_magic()
    }

    fn max_packet(&self) -> usize {
        usize::from(self.peer_mru)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn server() -> Lcp {
        Lcp::new(
            LcpPolicy {
                mru: 1492,
                max_peer_mru: 1492,
                request_auth: vec![AuthProto::Chap, AuthProto::Pap],
                accept_auth: vec![],
                auth_nak_first: None,
            },
            Rng::seeded(7),
        )
    }

    fn judge(l: &mut Lcp, kind: u8, value: &[u8]) -> (Verdict, Vec<u8>) {
        let mut nak = Vec::new();
        let v = l.check_option(kind, value, &mut OptionWriter::new(&mut nak));
        (v, nak)
    }

    #[test]
    fn request_layout() {
        let mut l = server();
        let mut buf = Vec::new();
        l.build_request(&mut OptionWriter::new(&mut buf));
        let m = l.our_magic().to_be_bytes();
        assert_eq!(
            buf,
            [1, 4, 0x05, 0xd4, 3, 5, 0xc2, 0x23, 5, 5, 6, m[0], m[1], m[2], m[3]]
        );
    }

    #[test]
    fn peer_mru_policy() {
        let mut l = server();
        assert_eq!(judge(&mut l, 1, &1454u16.to_be_bytes()).0, Verdict::Ack);
        assert_eq!(judge(&mut l, 1, &1492u16.to_be_bytes()).0, Verdict::Ack);
        assert_eq!(
            judge(&mut l, 1, &1500u16.to_be_bytes()),
            (Verdict::Nak, vec![1, 4, 0x05, 0xd4])
        );
        assert_eq!(judge(&mut l, 1, &[5]).0, Verdict::Reject);
        // Below the minimum: Naked with the minimum (the closest we accept).
        assert_eq!(judge(&mut l, 1, &64u16.to_be_bytes()).0, Verdict::Ack);
        for small in [0u16, 1, 63] {
            assert_eq!(
                judge(&mut l, 1, &small.to_be_bytes()),
                (Verdict::Nak, vec![1, 4, 0, 64]),
                "{small}"
            );
        }
        l.peer_acked(&[1, 4, 0x05, 0xae]);
        assert_eq!(l.peer_mru(), 1454);
        l.peer_acked(&[]);
        assert_eq!(l.peer_mru(), 1492, "default 1500 capped to the PPPoE max");
    }

    #[test]
    fn rejected_options() {
        let mut l = server();
        for kind in [2, 4, 7, 8, 9, 13, 17, 18, 19, 200, 3] {
            assert_eq!(
                judge(&mut l, kind, &[0xc0, 0x23]).0,
                Verdict::Reject,
                "{kind}"
            );
        }
    }

    #[test]
    fn auth_fallback() {
        let mut l = server();
        l.nak_received(&[3, 4, 0xc0, 0x23]);
        assert_eq!(l.auth_idx, 1, "PAP suggested and in our list");
        assert!(l.take_failure().is_none());
        l.nak_received(&[3, 4, 0xc0, 0x23]);
        assert_eq!(
            l.take_failure(),
            Some(DownReason::NegotiationFailed("auth"))
        );

        let mut l = server();
        l.nak_received(&[3, 5, 0xc2, 0x23, 0x81]);
        assert_eq!(l.auth_idx, 1, "MS-CHAPv2 unsupported: next in our list");
        // A CHAP-only client then Naks PAP with CHAP-MD5: offered again.
        l.nak_received(&[3, 5, 0xc2, 0x23, 5]);
        assert_eq!(l.auth_idx, 0, "CHAP-MD5 suggested: re-offered");
        assert!(l.take_failure().is_none());
        l.nak_received(&[3, 5, 0xc2, 0x23, 0x81]);
        assert_eq!(l.auth_idx, 1);
        // Ping-pong is bounded: two offers per protocol.
        l.nak_received(&[3, 5, 0xc2, 0x23, 5]);
        assert_eq!(
            l.take_failure(),
            Some(DownReason::NegotiationFailed("auth"))
        );
        let mut l = server();
        l.reject_received(&[3, 5, 0xc2, 0x23, 5]);
        assert_eq!(
            l.take_failure(),
            Some(DownReason::NegotiationFailed("auth"))
        );
    }

    #[test]
    fn magic_loopback() {
        let mut l = server();
        let ours = l.our_magic().to_be_bytes();
        for _ in 1..LOOP_LIMIT {
            let (v, nak) = judge(&mut l, 5, &ours);
            assert_eq!(v, Verdict::Nak);
            assert_eq!(nak.len(), 6);
            assert_ne!(&nak[2..], &ours);
        }
        assert!(l.take_failure().is_none());
        judge(&mut l, 5, &ours);
        assert_eq!(l.take_failure(), Some(DownReason::LoopedBack));
        assert_eq!(judge(&mut l, 5, &[1, 2, 3, 4]).0, Verdict::Ack);
    }

    /// RFC 1661 §6.4: a Magic-Number of zero MUST be Naked; the Nak
    /// carries a fresh random non-zero number (the next draw after ours).
    #[test]
    fn magic_zero_is_naked_with_a_fresh_number() {
        let mut l = server();
        let mut same = Rng::seeded(7);
        assert_eq!(l.our_magic(), same.nonzero_u32());
        for _ in 0..3 {
            let fresh = same.nonzero_u32().to_be_bytes();
            assert_eq!(
                judge(&mut l, 5, &[0, 0, 0, 0]),
                (
                    Verdict::Nak,
                    vec![5, 6, fresh[0], fresh[1], fresh[2], fresh[3]]
                )
            );
        }
        assert!(l.take_failure().is_none(), "zero is not a loop");
        assert_eq!(judge(&mut l, 5, &[0, 0, 0, 1]).0, Verdict::Ack);
    }

    #[test]
    fn client_auth_acceptance() {
        let mut c = Lcp::new(
            LcpPolicy {
                mru: 1454,
                max_peer_mru: 1492,
                request_auth: vec![],
                accept_auth: vec![AuthProto::Pap],
                auth_nak_first: None,
            },
            Rng::seeded(1),
        );
        assert_eq!(
            judge(&mut c, 3, &[0xc2, 0x23, 5]),
            (Verdict::Nak, vec![3, 4, 0xc0, 0x23])
        );
        assert_eq!(judge(&mut c, 3, &[0xc0, 0x23]).0, Verdict::Ack);
        c.peer_acked(&[3, 4, 0xc0, 0x23]);
        assert_eq!(c.peer_auth(), Some(AuthProto::Pap));
    }
}
