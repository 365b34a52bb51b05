//! CPE behaviours seen in the field (`pppoe-bras emulate --profile …`),
//! each a change to a [`ClientConfig`], for interop tests.

use std::time::Duration;

use super::client::ClientConfig;
use crate::ppp::{fsm::FsmConfig, proto, AuthProto};

/// Control-plane behaviour of a CPE seen in the field. [`Profile::apply`]
/// turns a [`ClientConfig`] (user, password, MAC, VLANs kept) into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Ubiquiti EdgeRouter (pppd 2.4 inside), as captured on a bench: LCP
    /// MRU 1492 + Magic-Number; IPCP Configure-Request with
    /// IP-Compression-Protocol VJ, IP-Address 0.0.0.0, primary and secondary
    /// DNS; a CCP Configure-Request that a BRAS without CCP must
    /// Protocol-Reject; accepts CHAP (and PAP).
    EdgeRouter,
    /// YAMAHA RTX on NTT FLET'S: MRU 1454, PAP only (Naks CHAP).
    YamahaRtx,
    /// YAMAHA RTX on a FLET'S "IPv6 PPPoE" session: MRU 1454, PAP only,
    /// IPv6 alone (IPCP Protocol-Rejected): IPv6CP, RS/SLAAC and a
    /// DHCPv6-PD prefix for its LAN.
    YamahaRtxV6,
    /// Cisco IOS dialer: CHAP only, Magic-Number, MRU 1492, sends its own LCP
    /// Echo-Requests every 10 s.
    CiscoIos,
    /// A Windows-style client: Naks our first Auth-Protocol with MS-CHAPv2
    /// (`c2 23 81`), then accepts CHAP-MD5 when it is offered again.
    MsChapV2First,
    /// A dual-stack CPE: also sends an IPv6CP Configure-Request, which must
    /// get an LCP Protocol-Reject while IPv4 stays up.
    Ipv6cp,
    /// RFC 4638: PPP-Max-Payload 1500 in PADI/PADR, LCP MRU 1500.
    MaxPayload,
    /// Retransmits PADI/PADR and LCP/IPCP Configure-Requests (and PAP
    /// requests) every 200 ms without backoff, before answers can arrive on
    /// a slow link; the BRAS must still end up with one session.
    Aggressive,
}

impl Profile {
    /// Every profile, in the order the README lists them.
    pub const ALL: [Profile; 8] = [
        Profile::EdgeRouter,
        Profile::YamahaRtx,
        Profile::YamahaRtxV6,
        Profile::CiscoIos,
        Profile::MsChapV2First,
        Profile::Ipv6cp,
        Profile::MaxPayload,
        Profile::Aggressive,
    ];

    /// The `--profile` name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::EdgeRouter => "edgerouter",
            Profile::YamahaRtx => "yamaha-rtx",
            Profile::YamahaRtxV6 => "yamaha-rtx-v6",
            Profile::CiscoIos => "cisco-ios",
            Profile::MsChapV2First => "mschapv2-first",
            Profile::Ipv6cp => "ipv6cp",
            Profile::MaxPayload => "max-payload",
            Profile::Aggressive => "aggressive",
        }
    }

    /// Make `cfg` behave like this CPE (identity, MAC and VLANs untouched).
    pub fn apply(self, cfg: &mut ClientConfig) {
        let p = &mut cfg.peer;
        match self {
            Profile::EdgeRouter => {
                p.mru = 1492;
                p.auth_accept = vec![AuthProto::Chap, AuthProto::Pap];
                p.request_dns = true;
                p.request_vj = true;
                p.extra_protocols = vec![proto::CCP];
            }
            Profile::YamahaRtx => {
                p.mru = 1454;
                p.auth_accept = vec![AuthProto::Pap];
                p.request_dns = true;
            }
            Profile::YamahaRtxV6 => {
                p.mru = 1454;
                p.auth_accept = vec![AuthProto::Pap];
                p.ipv4 = false;
                p.ipv6 = true;
            }
            Profile::CiscoIos => {
                p.mru = 1492;
                p.auth_accept = vec![AuthProto::Chap];
                p.echo_interval = Duration::from_secs(10);
            }
            Profile::MsChapV2First => {
                p.auth_accept = vec![AuthProto::Chap];
                p.auth_nak_first = Some(vec![0xc2, 0x23, 0x81]);
            }
            Profile::Ipv6cp => {
                // One bare IPv6CP Configure-Request, as before the BRAS
                // spoke IPv6CP (a BRAS with `ipv6 = false` rejects it).
                p.ipv6 = false;
                p.extra_protocols = vec![proto::IPV6CP];
            }
            Profile::MaxPayload => {
                cfg.max_payload = Some(1500);
                p.mru = 1500;
            }
            Profile::Aggressive => {
                cfg.discovery_timeout = Duration::from_millis(200);
                cfg.discovery_backoff = false;
                cfg.discovery_attempts = 50;
                p.fsm = FsmConfig {
                    restart: Duration::from_millis(200),
                    max_configure: 50,
                    ..FsmConfig::default()
                };
            }
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown profile {s:?}; use one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}
