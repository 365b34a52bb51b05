//! The data plane and NAT: routed or NAPT, the public addresses, MSS
//! clamping, spreading over CPUs, frames passed to the host, isolation,
//! the port blocks and mapping quotas, the NAT timers, where the maps are
//! pinned and how XDP attaches.

use std::path::PathBuf;

use super::keys::Raw;
use super::place::{Place, Resolver};
use super::syntax::access_allow_bit;
use super::{Config, ConfigError};

/// NAT, the public addresses, the data plane's switches and maps.
pub(super) fn resolve(
    r: &Resolver<'_>,
    raw: &mut Raw,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let d = Config::default();
    let origin = r.origin();
    cfg.nat = r.scalar("nat", raw.nat.take())?.map_or(d.nat, |(v, _)| v);
    cfg.public_address = r.addr("public_address", raw.public_address.take())?;
    cfg.public_addresses = r.addr_list(
        "public_addresses",
        raw.public_addresses.take(),
        Vec::new(),
        256,
    )?;
    cfg.mss_clamp = r
        .scalar("mss_clamp", raw.mss_clamp.take())?
        .map_or(d.mss_clamp, |(v, _)| v);
    cfg.spread = r
        .scalar("spread", raw.spread.take())?
        .map_or(d.spread, |(v, _)| v);
    cfg.access_allow = match r.list("access_allow", raw.access_allow.take()) {
        None => d.access_allow,
        Some((items, _)) => {
            let mut bits = 0;
            for (s, place) in items {
                bits |= access_allow_bit(&s).map_err(|e| place.bad(&s, e))?;
            }
            bits
        }
    };
    cfg.isolate_subscribers = r
        .scalar("isolate_subscribers", raw.isolate_subscribers.take())?
        .map_or(d.isolate_subscribers, |(v, _)| v);
    let blame = [
        ("port_block_size", raw.port_block_size.clone()),
        ("first_port", raw.first_port.clone()),
    ]
    .into_iter()
    .find_map(|(key, v)| r.file_place(v?.span(), key));
    let port_block_size = r.int(
        "port_block_size",
        raw.port_block_size.take(),
        d.port_block_size,
        1..=64512,
        "",
    )?;
    let first_port: u16 = r.int(
        "first_port",
        raw.first_port.take(),
        d.first_port,
        1024..=65535,
        " (ports below 1024 stay with the host)",
    )?;
    if u32::from(first_port) + u32::from(port_block_size) > 65536 {
        let message = format!(
            "first_port {first_port} leaves no room for one block of {port_block_size} ports; \
             lower first_port or port_block_size"
        );
        return Err(match blame {
            Some(Place::File { src, span, .. }) => ConfigError::At {
                origin: src.origin.clone(),
                line: src.line_col(span.start).0,
                column: None,
                message,
            },
            _ => ConfigError::Invalid { origin, message },
        });
    }
    cfg.nat_table_size = r.int(
        "nat_table_size",
        raw.nat_table_size.take(),
        d.nat_table_size,
        0..=(1 << 26),
        " mappings (0: auto)",
    )?;
    cfg.nat_session_mappings = r.int(
        "nat_session_mappings",
        raw.nat_session_mappings.take(),
        d.nat_session_mappings,
        0..=196_608,
        " mappings (0: 3 × port_block_size)",
    )?;
    cfg.nat_udp_timeout = r.int(
        "nat_udp_timeout",
        raw.nat_udp_timeout.take(),
        d.nat_udp_timeout,
        1..=604800,
        " seconds (RFC 4787: at least 120)",
    )?;
    cfg.nat_tcp_timeout = r.int(
        "nat_tcp_timeout",
        raw.nat_tcp_timeout.take(),
        d.nat_tcp_timeout,
        1..=604800,
        " seconds (RFC 5382: at least 7440)",
    )?;
    cfg.nat_icmp_timeout = r.int(
        "nat_icmp_timeout",
        raw.nat_icmp_timeout.take(),
        d.nat_icmp_timeout,
        1..=604800,
        " seconds (RFC 5508: at least 60)",
    )?;
    cfg.nat_tcp_transitory_timeout = r.int(
        "nat_tcp_transitory_timeout",
        raw.nat_tcp_transitory_timeout.take(),
        d.nat_tcp_transitory_timeout,
        1..=604800,
        " seconds (RFC 5382: at least 240)",
    )?;

    cfg.pin_dir = match r.scalar("pin_dir", raw.pin_dir.take())? {
        None => d.pin_dir,
        Some((v, place)) => {
            if !v.starts_with('/') {
                return Err(place.bad(
                    &v,
                    "must be an absolute path on a bpffs, like /sys/fs/bpf/pppoe-bras",
                ));
            }
            PathBuf::from(v)
        }
    };
    cfg.xdp_mode = match r.scalar("xdp_mode", raw.xdp_mode.take())? {
        None => d.xdp_mode,
        Some((v, place)) => v.parse().map_err(|e: String| place.bad(&v, e))?,
    };
    cfg.port_block_size = port_block_size;
    cfg.first_port = first_port;
    Ok(())
}
