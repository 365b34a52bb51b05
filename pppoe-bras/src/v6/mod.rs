//! The IPv6 control plane of a session, sans-IO: what runs over PPP once
//! IPv6CP is up (RFC 5072 gives only link-local addresses).
//!
//! - [`pool6`]: prefix pools (the per-session /64s, the delegated prefixes).
//! - [`wire`]: IPv6/ICMPv6/UDP headers and checksums.
//! - [`ra`]: Router Solicitation in, Router Advertisement out (RFC 4861,
//!   RFC 4862 SLAAC, RFC 8106 RDNSS).
//! - [`dhcpv6`]: the DHCPv6 server of a session (RFC 8415 IA_PD and
//!   IA_NA, RFC 3646 DNS).
//! - [`client`]: the subscriber side of all of it, for the emulator.
//! - [`server`]: one session's IPv6 services, driven by the session manager.

/// `fe80::<iid>`'s lower half as IPv6 text writes it (`211:22ff:fe33:4455`).
pub fn fmt_iid(iid: u64) -> String {
    let a = std::net::Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid));
    let s = a.to_string();
    s.strip_prefix("fe80::").unwrap_or(&s).to_owned()
}

/// The link-local address `fe80::<iid>`.
pub fn link_local(iid: u64) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::from((0xfe80u128 << 112) | u128::from(iid))
}

pub mod dhcpv6;
pub mod pool6;
pub mod ra;
pub mod wire;

use std::net::Ipv6Addr;

/// The IP settings of sessions: which NCPs run, and everything IPv6
/// (`config/v6.rs` fills it from the `ipv4`, `ipv6`, `ipv6_*`, `dns6` and
/// `dhcpv6_*` keys).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct V6Settings {
    /// Run IPCP. Default true.
    pub ipv4: bool,
    /// Run IPv6CP, RAs and DHCPv6. Default true.
    pub ipv6: bool,
    /// Cut into one /64 per session (SLAAC prefix of the RA).
    pub prefix_pool: (Ipv6Addr, u8),
    /// Cut into one `delegated_length` prefix per subscriber (DHCPv6 IA_PD).
    pub delegated_pool: (Ipv6Addr, u8),
    pub delegated_length: u8,
    /// Recursive DNS servers (RA RDNSS, DHCPv6 option 23), at most 3.
    pub dns6: Vec<Ipv6Addr>,
    /// Seconds between unsolicited RAs.
    pub ra_interval: u32,
    /// RA router lifetime, seconds.
    pub router_lifetime: u32,
    /// RA with M and O flags and no A flag: addresses from DHCPv6 IA_NA.
    pub ra_managed: bool,
    /// Valid and preferred lifetimes of the /64 (RA) and of DHCPv6 leases.
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    /// Answer IA_NA (an address in the session's /64) in DHCPv6.
    pub dhcpv6_ia_na: bool,
    /// Answer Neighbor Solicitations on the uplink for addresses in the
    /// sessions' prefixes (XDP), for an upstream router that sees them as
    /// on-link instead of routing them to the BRAS.
    pub proxy_nd: bool,
}

impl Default for V6Settings {
    fn default() -> Self {
        V6Settings {
            ipv4: true,
            ipv6: true,
            prefix_pool: (Ipv6Addr::new(0x2001, 0xdb8, 0x100, 0, 0, 0, 0, 0), 48),
            delegated_pool: (Ipv6Addr::new(0x2001, 0xdb8, 0x200, 0, 0, 0, 0, 0), 40),
            delegated_length: 56,
            dns6: Vec::new(),
            ra_interval: 200,
            router_lifetime: 1800,
            ra_managed: false,
            valid_lifetime: 7200,
            preferred_lifetime: 3600,
            dhcpv6_ia_na: false,
            proxy_nd: false,
        }
    }
}

pub mod client;
pub mod server;

crate::counters::counters! {
    /// IPv6 control-plane counters of all sessions (`pppoe-bras stats`,
    /// `session.v6_*` and `session.dhcpv6_*`). Each session's DHCPv6
    /// server keeps the `dhcpv6_*` ones of its own, summed by the manager.
    pub enum V6Stat in V6Stats {
        /// IPv6 packets from peers handed to the control plane.
        Rx = "v6_rx",
        /// Router Solicitations taken.
        RsRx = "v6_rs_rx",
        /// Router Advertisements sent.
        RaTx = "v6_ra_tx",
        /// Malformed IPv6/UDP (lengths, checksums).
        DropBadIpv6 = "v6_drop_bad_ipv6",
        /// Router Solicitations failing RFC 4861 §6.1.1.
        DropBadRs = "v6_drop_bad_rs",
        /// Router Solicitations within a second of the last answered one.
        DropRsRate = "v6_drop_rs_rate",
        /// IPv6 that is neither an RS nor DHCPv6 (data the XDP path let by).
        DropNotControl = "v6_drop_not_control",
        /// IPv6 while IPv6CP is not Opened.
        DropInactive = "v6_drop_inactive",
        /// DHCPv6 messages taken by a session's server.
        Dhcpv6Rx = "dhcpv6_rx",
        /// DHCPv6 replies sent.
        Dhcpv6Tx = "dhcpv6_tx",
        /// DHCPv6 messages malformed, of a type no client sends, or
        /// without a Client Identifier (or with a misplaced Server one).
        Dhcpv6DropBad = "dhcpv6_drop_bad",
        /// DHCPv6 messages whose Server Identifier is not ours.
        Dhcpv6DropServerId = "dhcpv6_drop_server_id",
        /// DHCPv6 messages over the server's rate.
        Dhcpv6DropRate = "dhcpv6_drop_rate",
        /// IA_PD asked for while the delegated-prefix pool was exhausted.
        Dhcpv6NoPrefix = "dhcpv6_no_prefix",
        /// IPv6CP opened but the /64 pool was exhausted.
        NoPrefix64 = "v6_no_prefix64",
    }
}
