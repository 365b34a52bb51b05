//! What the daemon's settings become for the session manager and the data
//! plane, with what only the NIC knows (MAC, MTU).

use super::*;

/// The session layer's settings: the config's discovery and link sections
/// as they are, with what needs the NIC or this run (the access MAC, a fresh
/// cookie key) and what the link takes from other areas.
pub fn manager_config(cfg: &Config, access_mac: [u8; 6]) -> ManagerConfig {
    let pair = |v: &[std::net::Ipv4Addr]| [v.first().copied(), v.get(1).copied()];
    ManagerConfig {
        discovery: DiscoveryConfig {
            cookie_key: cookie_key(),
            local_mac: access_mac,
            ..cfg.discovery.clone()
        },
        link: LinkConfig {
            settings: cfg.link.clone(),
            auth: cfg.auth.clone(),
            local_address: cfg.local_address,
            dns: pair(&cfg.dns),
            nbns: pair(&cfg.nbns),
            auth_name: cfg.discovery.ac_name.clone(),
            ipv4: cfg.v6.ipv4,
            ipv6: cfg.v6.ipv6,
        },
        v6: cfg.v6.clone(),
    }
}

/// RFC 4638: a PPP-Max-Payload above 1492 only works when the access NIC
/// carries it plus the 8-byte PPPoE/PPP header ("baby jumbo", MTU ≥ 1508 for
/// 1500). Agree to no more than the NIC fits; below 1493 the tag is off.
pub(super) fn fitting_max_payload(configured: u16, access_mtu: u32, access_if: &str) -> u16 {
    let fits = u16::try_from(access_mtu.saturating_sub(8)).unwrap_or(u16::MAX);
    if configured == 0 || configured <= fits {
        return configured;
    }
    if fits <= crate::discovery::MIN_MAX_PAYLOAD {
        log::warn!(
            "RFC 4638 PPP-Max-Payload off: {access_if} has MTU {access_mtu}, a payload of \
             {configured} needs {}; raise the MTU (e.g. `ip link set {access_if} mtu {}`) \
             to offer it",
            u32::from(configured) + 8,
            u32::from(configured) + 8
        );
        return 0;
    }
    log::warn!("RFC 4638 PPP-Max-Payload capped at {fits}: {access_if} has MTU {access_mtu}");
    fits
}

/// The data plane's settings, from the config and the pool's inside
/// prefixes ([`crate::pool::Pool::inside_prefixes`]).
pub fn dataplane_config(cfg: &Config, inside: Vec<(Ipv4Addr, u8)>) -> DataplaneConfig {
    DataplaneConfig {
        access_if: cfg.access_interface.clone(),
        uplink_if: cfg.uplink_interface.clone(),
        pin_dir: cfg.pin_dir.clone(),
        public_ips: if cfg.public_addresses.is_empty() {
            cfg.public_address.into_iter().collect()
        } else {
            cfg.public_addresses.clone()
        },
        local_ip: Some(cfg.local_address),
        mss_clamp: cfg.mss_clamp,
        // Our MRU, or the larger PPP-Max-Payload a session may negotiate (RFC 4638).
        mru: cfg.link.mru.max(cfg.discovery.max_payload),
        nat: cfg.nat,
        port_block_size: cfg.port_block_size,
        first_port: cfg.first_port,
        xdp_mode: cfg.xdp_mode,
        nat_table_size: cfg.nat_table_size,
        nat_session_mappings: cfg.nat_session_mappings,
        // At most 65534 (checked by config).
        max_sessions: cfg.discovery.max_sessions as u32,
        timeouts: NatTimeouts {
            udp: Duration::from_secs(u64::from(cfg.nat_udp_timeout)),
            tcp: Duration::from_secs(u64::from(cfg.nat_tcp_timeout)),
            tcp_transitory: Duration::from_secs(u64::from(cfg.nat_tcp_transitory_timeout)),
            icmp: Duration::from_secs(u64::from(cfg.nat_icmp_timeout)),
        },
        access_allow: cfg.access_allow,
        isolate_subscribers: cfg.isolate_subscribers,
        inside,
        ipv6: cfg.v6.ipv6,
        ipv6_proxy_nd: cfg.v6.proxy_nd,
        v6_deleg_len: cfg.v6.delegated_length,
    }
}

#[cfg(test)]
mod test {
    use super::{fitting_max_payload, manager_config};
    use crate::config::Config;

    #[test]
    fn cookie_key_is_fresh_per_daemon() {
        let cfg = Config::default();
        let a = manager_config(&cfg, [2, 0, 0, 0, 0, 1])
            .discovery
            .cookie_key;
        let b = manager_config(&cfg, [2, 0, 0, 0, 0, 1])
            .discovery
            .cookie_key;
        assert_ne!(a, b);
        assert_ne!(a, [0; 16]);
    }

    #[test]
    fn max_payload_fits_the_access_mtu() {
        assert_eq!(fitting_max_payload(1500, 1508, "a0"), 1500);
        assert_eq!(fitting_max_payload(1500, 9000, "a0"), 1500);
        assert_eq!(fitting_max_payload(1500, 1504, "a0"), 1496, "capped");
        assert_eq!(fitting_max_payload(1500, 1500, "a0"), 0, "a 1500 NIC can't");
        assert_eq!(fitting_max_payload(0, 9000, "a0"), 0, "off stays off");
    }
}
