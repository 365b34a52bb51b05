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

/// IPv6 control-plane counters of all sessions (`pppoe-bras stats`,
/// `session.v6_*`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct V6Stats {
    /// IPv6 packets from peers handed to the control plane.
    pub rx: u64,
    /// Router Solicitations taken; Router Advertisements sent.
    pub rs_rx: u64,
    pub ra_tx: u64,
    /// Malformed IPv6/UDP (lengths, checksums).
    pub drop_bad_ipv6: u64,
    /// Router Solicitations failing RFC 4861 §6.1.1.
    pub drop_bad_rs: u64,
    /// Router Solicitations within a second of the last answered one.
    pub drop_rs_rate: u64,
    /// IPv6 that is neither an RS nor DHCPv6 (data the XDP path let by).
    pub drop_not_control: u64,
    /// IPv6 while IPv6CP is not Opened.
    pub drop_inactive: u64,
    pub dhcpv6_rx: u64,
    pub dhcpv6_tx: u64,
    pub dhcpv6_drop_bad: u64,
    pub dhcpv6_drop_server_id: u64,
    pub dhcpv6_drop_rate: u64,
    pub dhcpv6_no_prefix: u64,
    /// IPv6CP opened but the /64 pool was exhausted.
    pub no_prefix64: u64,
}

impl V6Stats {
    fn add_dhcp(&mut self, before: dhcpv6::ServerStats, after: dhcpv6::ServerStats) {
        self.dhcpv6_rx += after.rx - before.rx;
        self.dhcpv6_tx += after.tx - before.tx;
        self.dhcpv6_drop_bad += after.drop_bad - before.drop_bad;
        self.dhcpv6_drop_server_id += after.drop_server_id - before.drop_server_id;
        self.dhcpv6_drop_rate += after.drop_rate - before.drop_rate;
        self.dhcpv6_no_prefix += after.no_prefix - before.no_prefix;
    }

    /// Every counter with its name.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        vec![
            ("v6_rx", self.rx),
            ("v6_rs_rx", self.rs_rx),
            ("v6_ra_tx", self.ra_tx),
            ("v6_drop_bad_ipv6", self.drop_bad_ipv6),
            ("v6_drop_bad_rs", self.drop_bad_rs),
            ("v6_drop_rs_rate", self.drop_rs_rate),
            ("v6_drop_not_control", self.drop_not_control),
            ("v6_drop_inactive", self.drop_inactive),
            ("dhcpv6_rx", self.dhcpv6_rx),
            ("dhcpv6_tx", self.dhcpv6_tx),
            ("dhcpv6_drop_bad", self.dhcpv6_drop_bad),
            ("dhcpv6_drop_server_id", self.dhcpv6_drop_server_id),
            ("dhcpv6_drop_rate", self.dhcpv6_drop_rate),
            ("dhcpv6_no_prefix", self.dhcpv6_no_prefix),
            ("v6_no_prefix64", self.no_prefix64),
        ]
    }
}
