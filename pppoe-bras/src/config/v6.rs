//! IPv4/IPv6 switches and the IPv6 keys (prefix pools, delegation, DNS,
//! RA timers and lifetimes, DHCPv6 IA_NA), into [`crate::v6::V6Settings`].

use std::ops::RangeInclusive;

use super::keys::Raw;
use super::place::{raw_span, Place, Resolver, S};
use super::ConfigError;

/// The `ipv4`/`ipv6` and IPv6 keys (no flags).
pub(super) fn resolve(
    r: &Resolver<'_>,
    raw: &mut Raw,
    d: &crate::v6::V6Settings,
) -> Result<crate::v6::V6Settings, ConfigError> {
    use crate::v6::pool6::parse_prefix;
    let flag = |r: &Resolver<'_>, key, v: S<bool>, d: bool| -> Result<bool, ConfigError> {
        Ok(r.scalar(key, v)?.map_or(d, |(v, _)| v))
    };
    let ipv4 = flag(r, "ipv4", raw.ipv4.take(), d.ipv4)?;
    let ipv6 = flag(r, "ipv6", raw.ipv6.take(), d.ipv6)?;
    if !ipv4 && !ipv6 {
        let place = r
            .file_place(raw_span(&raw.ipv4).unwrap_or(0..0), "ipv4")
            .unwrap_or(Place::Flag("ipv4"));
        return Err(place.bad(
            false,
            "with ipv6 = false too no session could carry traffic; enable ipv4 or ipv6",
        ));
    }
    let prefix = |key, v: S<String>, d: (std::net::Ipv6Addr, u8)| -> Result<_, ConfigError> {
        match r.scalar(key, v)? {
            None => Ok(d),
            Some((v, place)) => parse_prefix(&v).map_err(|e| place.bad(&v, e)),
        }
    };
    let prefix_pool = prefix(
        "ipv6_prefix_pool",
        raw.ipv6_prefix_pool.take(),
        d.prefix_pool,
    )?;
    let delegated_pool = prefix(
        "ipv6_delegated_pool",
        raw.ipv6_delegated_pool.take(),
        d.delegated_pool,
    )?;
    if prefix_pool.1 >= 64 {
        return Err(Place::Flag("ipv6_prefix_pool").bad(
            prefix_pool,
            "must be shorter than /64 (it is cut into one /64 per session), e.g. a /48",
        ));
    }
    let delegated_length: u8 = r.int(
        "ipv6_delegated_length",
        raw.ipv6_delegated_length.take(),
        d.delegated_length,
        1..=64,
        "; a prefix length like 56 (longer than ipv6_delegated_pool's, at most 64)",
    )?;
    if delegated_length <= delegated_pool.1 {
        return Err(Place::Flag("ipv6_delegated_length").bad(
            delegated_length,
            format!(
                "must be longer than ipv6_delegated_pool's /{}",
                delegated_pool.1
            ),
        ));
    }
    let dns6 = match r.list("dns6", raw.dns6.take()) {
        None => d.dns6.clone(),
        Some((items, whole)) => {
            if items.len() > 3 {
                return Err(whole.bad(items.len(), "at most 3 IPv6 DNS servers"));
            }
            let mut out = Vec::new();
            for (s, place) in items {
                out.push(
                    s.parse::<std::net::Ipv6Addr>()
                        .map_err(|_| place.bad(&s, "not an IPv6 address"))?,
                );
            }
            out
        }
    };
    let secs = |key, v: S<i64>, d: u32, range: RangeInclusive<i64>| r.int(key, v, d, range, "");
    let ra_interval = secs(
        "ipv6_ra_interval",
        raw.ipv6_ra_interval.take(),
        d.ra_interval,
        4..=1800,
    )?;
    let router_lifetime = secs(
        "ipv6_router_lifetime",
        raw.ipv6_router_lifetime.take(),
        d.router_lifetime,
        0..=9000,
    )?;
    let valid_lifetime = secs(
        "ipv6_valid_lifetime",
        raw.ipv6_valid_lifetime.take(),
        d.valid_lifetime,
        60..=0xffff_ffff,
    )?;
    let preferred_lifetime = secs(
        "ipv6_preferred_lifetime",
        raw.ipv6_preferred_lifetime.take(),
        d.preferred_lifetime,
        0..=0xffff_ffff,
    )?;
    if preferred_lifetime > valid_lifetime {
        return Err(Place::Flag("ipv6_preferred_lifetime").bad(
            preferred_lifetime,
            "must not exceed ipv6_valid_lifetime (RFC 4862 §5.5.3)",
        ));
    }
    Ok(crate::v6::V6Settings {
        ipv4,
        ipv6,
        prefix_pool,
        delegated_pool,
        delegated_length,
        dns6,
        ra_interval,
        router_lifetime,
        ra_managed: flag(
            r,
            "ipv6_ra_managed",
            raw.ipv6_ra_managed.take(),
            d.ra_managed,
        )?,
        valid_lifetime,
        preferred_lifetime,
        dhcpv6_ia_na: flag(r, "dhcpv6_ia_na", raw.dhcpv6_ia_na.take(), d.dhcpv6_ia_na)?,
        proxy_nd: flag(r, "ipv6_proxy_nd", raw.ipv6_proxy_nd.take(), d.proxy_nd)?,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;

    #[test]
    fn ipv6_keys() {
        let cfg = parse(IFACES).unwrap();
        assert_eq!(cfg.v6, crate::v6::V6Settings::default());
        assert!(cfg.v6.ipv4 && cfg.v6.ipv6);
        let cfg = parse(&format!(
            "{IFACES}ipv4 = false\nipv6_prefix_pool = \"2001:db8:aa::/48\"\n\
             ipv6_delegated_pool = \"2001:db8:bb00::/40\"\nipv6_delegated_length = 60\n\
             dns6 = [\"2001:db8::53\"]\nipv6_ra_interval = 30\nipv6_ra_managed = true\n\
             dhcpv6_ia_na = true\nipv6_valid_lifetime = 600\nipv6_preferred_lifetime = 300\n"
        ))
        .unwrap();
        assert!(!cfg.v6.ipv4 && cfg.v6.ipv6);
        assert_eq!(cfg.v6.prefix_pool, ("2001:db8:aa::".parse().unwrap(), 48));
        assert_eq!(cfg.v6.delegated_length, 60);
        assert_eq!(
            cfg.v6.dns6,
            ["2001:db8::53".parse::<std::net::Ipv6Addr>().unwrap()]
        );
        assert_eq!(
            (cfg.v6.ra_interval, cfg.v6.ra_managed, cfg.v6.dhcpv6_ia_na),
            (30, true, true)
        );
        assert!(
            err(&format!("{IFACES}ipv4 = false\nipv6 = false\n")).contains("enable ipv4 or ipv6")
        );
        assert!(err(&format!(
            "{IFACES}ipv6_prefix_pool = \"2001:db8:aa::1/48\"\n"
        ))
        .contains("write 2001:db8:aa::/48"));
        assert!(err(&format!("{IFACES}dns6 = [\"192.0.2.1\"]\n")).contains("not an IPv6"));
        assert!(err(&format!("{IFACES}ipv6_delegated_length = 40\n")).contains("longer than"));
        assert!(err(&format!(
            "{IFACES}ipv6_valid_lifetime = 100\nipv6_preferred_lifetime = 200\n"
        ))
        .contains("must not exceed"));
    }
}
