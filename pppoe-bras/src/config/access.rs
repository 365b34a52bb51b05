//! The access side: the two interfaces, our address, the names discovery
//! answers with, and discovery's limits (sessions, PADI rates, PADO delay,
//! VLANs served): the interfaces into [`Config`], discovery's names and
//! limits straight into discovery's own settings (`Config::discovery`).

use std::collections::HashSet;
use std::time::Duration;

use super::keys::{flag_name, Raw};
use super::place::{Resolver, S};
use super::syntax::{check_ifname, check_tag_text};
use super::{Config, ConfigError};
use crate::discovery::{RateLimit, VlanRule};

/// The interfaces, our address and the names discovery answers with.
pub(super) fn interfaces(
    r: &Resolver<'_>,
    raw: &mut Raw,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let d = Config::default();
    let origin = r.origin();
    let missing = |key: &'static str, example: &str| ConfigError::Invalid {
        origin: origin.clone(),
        message: format!(
            "{key} is not set; add `{key} = \"{example}\"` to the config file or pass {} {example}",
            flag_name(key)
        ),
    };

    let access = r.string(
        "access_interface",
        raw.access_interface.take(),
        check_ifname,
    )?;
    let uplink = r.string(
        "uplink_interface",
        raw.uplink_interface.take(),
        check_ifname,
    )?;
    let (access_interface, _) = access.ok_or_else(|| missing("access_interface", "eth1"))?;
    let (uplink_interface, uplink_place) =
        uplink.ok_or_else(|| missing("uplink_interface", "eth0"))?;
    if access_interface == uplink_interface {
        return Err(uplink_place.bad(
            &uplink_interface,
            "is also the access_interface; the BRAS needs two different NICs",
        ));
    }

    cfg.local_address = r
        .addr("local_address", raw.local_address.take())?
        .unwrap_or(d.local_address);
    cfg.discovery.ac_name = r
        .string("ac_name", raw.ac_name.take(), check_tag_text)?
        .map_or(d.discovery.ac_name, |(v, _)| v);

    cfg.discovery.service_names = match r.list("service_names", raw.service_names.take()) {
        None => d.discovery.service_names,
        Some((items, _)) => {
            let mut seen = HashSet::new();
            let mut out = Vec::new();
            for (s, place) in items {
                if s.is_empty() {
                    return Err(place.bad(
                        &s,
                        "empty service name; write service_names = [] to accept any service",
                    ));
                }
                check_tag_text(&s).map_err(|e| place.bad(&s, e))?;
                if !seen.insert(s.clone()) {
                    return Err(place.bad(&s, "listed twice; remove one"));
                }
                out.push(s);
            }
            out
        }
    };
    cfg.access_interface = access_interface;
    cfg.uplink_interface = uplink_interface;
    Ok(())
}

/// The limits of discovery: sessions, PADI rates, PADO delay, VLANs.
pub(super) fn limits(r: &Resolver<'_>, raw: &mut Raw, cfg: &mut Config) -> Result<(), ConfigError> {
    let d = Config::default();
    cfg.discovery.max_sessions = r.int(
        "max_sessions",
        raw.max_sessions.take(),
        d.discovery.max_sessions,
        1..=65534,
        " (PPPoE session ids are 1 to 0xFFFE)",
    )?;
    cfg.discovery.max_sessions_per_mac = r.int(
        "max_sessions_per_mac",
        raw.max_sessions_per_mac.take(),
        d.discovery.max_sessions_per_mac,
        1..=65534,
        "",
    )?;
    let rate = |key: &'static str, file: S<String>, default: Option<RateLimit>| match r
        .scalar(key, file)?
    {
        None => Ok(default),
        Some((v, place)) => RateLimit::parse(&v).map_err(|e| place.bad(&v, e)),
    };
    cfg.discovery.padi_rate_per_mac = rate(
        "padi_rate_per_mac",
        raw.padi_rate_per_mac.take(),
        d.discovery.padi_rate_per_mac,
    )?;
    cfg.discovery.padi_rate_total = rate(
        "padi_rate_total",
        raw.padi_rate_total.take(),
        d.discovery.padi_rate_total,
    )?;
    let pado_delay_ms = r.int(
        "pado_delay_ms",
        raw.pado_delay_ms.take(),
        u64::try_from(d.discovery.pado_delay.as_millis()).unwrap_or(u64::MAX),
        0..=30_000,
        " milliseconds",
    )?;
    cfg.discovery.pado_delay = Duration::from_millis(pado_delay_ms);
    cfg.discovery.max_sessions_per_vlan = r.int(
        "max_sessions_per_vlan",
        raw.max_sessions_per_vlan.take(),
        d.discovery.max_sessions_per_vlan,
        0..=65534,
        " (0 = no limit)",
    )?;
    cfg.discovery.vlans = match r.list("vlans", raw.vlans.take()) {
        None => d.discovery.vlans,
        Some((items, _)) => {
            let mut out: Vec<VlanRule> = Vec::new();
            for (s, place) in items {
                let rule: VlanRule = s.parse().map_err(|e| place.bad(&s, e))?;
                if out.contains(&rule) {
                    return Err(place.bad(&s, "listed twice; remove one"));
                }
                out.push(rule);
            }
            out
        }
    };
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;
    use crate::discovery::VlanRule;

    #[test]
    fn discovery_limits_vlans_and_rechallenge_keys() {
        let base = "access_interface = \"eth1\"\nuplink_interface = \"eth0\"\n";
        let cfg = parse(&format!(
            "{base}padi_rate_per_mac = \"5/s burst 8\"\npadi_rate_total = \"200/s\"\n\
             pado_delay_ms = 150\nmax_sessions_per_vlan = 3\n\
             vlans = [\"untagged\", \"100-199\", \"200.10-20\", \"300.*\"]\n\
             chap_rechallenge_interval = 600\n"
        ))
        .unwrap();
        assert_eq!(
            cfg.discovery.padi_rate_per_mac,
            Some(RateLimit {
                per_sec: 5,
                burst: 8
            })
        );
        assert_eq!(
            cfg.discovery.padi_rate_total,
            Some(RateLimit {
                per_sec: 200,
                burst: 200
            })
        );
        assert_eq!(
            cfg.discovery.pado_delay,
            std::time::Duration::from_millis(150)
        );
        assert_eq!(cfg.discovery.max_sessions_per_vlan, 3);
        use crate::discovery::VidSet;
        assert_eq!(
            cfg.discovery.vlans,
            vec![
                VlanRule::Untagged,
                VlanRule::Single(VidSet::Range(100, 199)),
                VlanRule::Double(VidSet::Range(200, 200), VidSet::Range(10, 20)),
                VlanRule::Double(VidSet::Range(300, 300), VidSet::Any),
            ]
        );
        assert_eq!(
            cfg.link.chap_rechallenge,
            std::time::Duration::from_secs(600)
        );
        // Defaults: per-MAC PADI limit on, the rest off.
        let d = parse(base).unwrap();
        assert_eq!(
            d.discovery.padi_rate_per_mac.map(|r| (r.per_sec, r.burst)),
            Some((10, 20))
        );
        assert_eq!(d.discovery.padi_rate_total, None);
        assert!(d.discovery.vlans.is_empty());
        let off = parse(&format!("{base}padi_rate_per_mac = \"off\"\n")).unwrap();
        assert_eq!(off.discovery.padi_rate_per_mac, None);
        // Errors name the line and say what to write.
        for (line, want) in [
            (
                "padi_rate_per_mac = \"10\"",
                "config/bras.toml:3: padi_rate_per_mac \"10\": not a rate; write it like \"10/s\"",
            ),
            ("padi_rate_total = \"0/s\"", "at least 1"),
            ("padi_rate_total = \"5/s burst\"", "unexpected words"),
            (
                "vlans = [\"4095\"]",
                "config/bras.toml:3: vlans \"4095\": \"4095\" is not a VLAN id (1 to 4094)",
            ),
            (
                "vlans = [\"200-100\"]",
                "ends before it starts; write 100-200",
            ),
            ("vlans = [\"1.2.3\"]", "not a VLAN id"),
            ("vlans = [\"any\", \"any\"]", "listed twice"),
            (
                "pado_delay_ms = 40000",
                "must be from 0 to 30000 milliseconds",
            ),
            ("chap_rechallenge_interval = -1", "must be from 0 to 86400"),
        ] {
            let e = err(&format!("{base}{line}\n"));
            assert!(e.contains(want), "{line}: {e}");
        }
    }
}
