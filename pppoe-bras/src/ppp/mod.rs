//! Sans-IO PPP machines: the RFC 1661 automaton shared by LCP and IPCP, the
//! authentication protocols, and the link that ties them into phases.
//!
//! - [`fsm`]: the §4 option-negotiation automaton, generic over a
//!   [`fsm::Protocol`] (option policy as data).
//! - [`lcp`], [`ipcp`], [`ipv6cp`]: the option policies (server and client roles).
//! - [`pap`], [`chap`]: authentication packets and both roles.
//! - [`link`]: the BRAS side of a session ([`Link`]); the session layer's API.
//! - [`peer`]: the subscriber side ([`Peer`]), for the emulator.
//!
//! No clocks, sockets or channels inside: every input carries `now`, every
//! output is polled. Randomness (Magic-Numbers, CHAP challenges and
//! identifiers) comes from an [`rng::Rng`] the caller hands in: the OS-keyed
//! CSPRNG in the daemon, a seeded one in tests and the emulator.

use std::net::Ipv4Addr;

pub mod chap;
pub mod fsm;
pub mod ipcp;
pub mod ipv6cp;
pub mod lcp;
pub mod link;
mod link_core;
pub mod pap;
pub mod peer;
pub mod rng;

#[cfg(test)]
mod pair_tests;

pub use fsm::{FsmConfig, State};
pub use link::{Link, LinkConfig, LinkEvent, LinkSettings, Phase};
pub use peer::{Peer, PeerConfig, PeerEvent};

/// PPP protocol numbers.
pub mod proto {
    pub const IPV4: u16 = 0x0021;
    pub const IPV6: u16 = 0x0057;
    pub const IPCP: u16 = 0x8021;
    pub const IPV6CP: u16 = 0x8057;
    pub const CCP: u16 = 0x80fd;
    pub const LCP: u16 = 0xc021;
    pub const PAP: u16 = 0xc023;
    pub const CHAP: u16 = 0xc223;
}

/// What the peer presented to authenticate. Verified outside the machine
/// (see `auth`), so RADIUS can slot in later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// PAP: the password in clear (never log it).
    Pap { password: Vec<u8> },
    /// CHAP-MD5: MD5(identifier ‖ secret ‖ challenge) must equal `response`.
    ChapMd5 {
        identifier: u8,
        challenge: Vec<u8>,
        response: Vec<u8>,
    },
}

/// The verdict on a [`Credential`], fed back into the link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthResult {
    /// Accepted; the subscriber gets this IPv4 address.
    Accept { address: Ipv4Addr },
    /// Refused; `message` goes to the peer (short, e.g. "authentication failed").
    Reject { message: String },
}

/// Authentication protocols we can offer, in order of preference.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AuthProto {
    Chap,
    Pap,
}

/// Why a link (the whole PPP session) went down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DownReason {
    /// The peer sent LCP Terminate-Request.
    PeerTerminate,
    /// We closed it (admin kill, daemon stop).
    AdminClose,
    /// `lcp_echo_failure` Echo-Requests went unanswered.
    EchoTimeout,
    /// Authentication refused (wrong password, unknown user).
    AuthFailed,
    /// The peer never finished authenticating in time.
    AuthTimeout,
    /// LCP (or a required NCP) could not converge: Max-Configure/Max-Failure.
    NegotiationFailed(&'static str),
    /// Our own Magic-Number came back: the line is looped.
    LoopedBack,
    /// PPPoE PADT from the peer.
    Padt,
    /// The last network protocol went down after being up (the peer closed
    /// IPCP): no data path is left, so the link ends (RFC 1661 §3.7, as
    /// pppd does: "No network protocols running").
    NoNetwork(&'static str),
    /// IPCP: the peer kept asking for `asked` (Max-Failure Naks) or acked
    /// without the address it was given: it would be up with no data path.
    PeerInsists { asked: Ipv4Addr, assigned: Ipv4Addr },
    /// The authorised session time (RADIUS Session-Timeout) ran out.
    SessionTimeout,
    /// No traffic for the authorised idle time (RADIUS Idle-Timeout).
    IdleTimeout,
    /// The NAS could not serve the session (e.g. no data path).
    NasError,
}

impl DownReason {
    /// The reason without its details: a fixed label for metrics.
    pub fn kind(&self) -> &'static str {
        match self {
            DownReason::PeerTerminate => "peer-terminate",
            DownReason::AdminClose => "admin-close",
            DownReason::EchoTimeout => "echo-timeout",
            DownReason::AuthFailed => "auth-failed",
            DownReason::AuthTimeout => "auth-timeout",
            DownReason::NegotiationFailed(_) => "negotiation-failed",
            DownReason::LoopedBack => "looped-back",
            DownReason::Padt => "padt",
            DownReason::NoNetwork(_) => "no-network",
            DownReason::PeerInsists { .. } => "peer-insists",
            DownReason::SessionTimeout => "session-timeout",
            DownReason::IdleTimeout => "idle-timeout",
            DownReason::NasError => "nas-error",
        }
    }
}

impl std::fmt::Display for DownReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DownReason::PeerTerminate => f.write_str("peer-terminate"),
            DownReason::AdminClose => f.write_str("admin-close"),
            DownReason::EchoTimeout => f.write_str("echo-timeout"),
            DownReason::AuthFailed => f.write_str("auth-failed"),
            DownReason::AuthTimeout => f.write_str("auth-timeout"),
            DownReason::NegotiationFailed(what) => write!(f, "negotiation-failed({what})"),
            DownReason::LoopedBack => f.write_str("looped-back"),
            DownReason::Padt => f.write_str("padt"),
            DownReason::NoNetwork(what) => write!(f, "no-network({what})"),
            DownReason::PeerInsists { asked, assigned } => {
                write!(f, "peer-insists(asked={asked},assigned={assigned})")
            }
            DownReason::SessionTimeout => f.write_str("session-timeout"),
            DownReason::IdleTimeout => f.write_str("idle-timeout"),
            DownReason::NasError => f.write_str("nas-error"),
        }
    }
}
