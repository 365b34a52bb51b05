//! The PPP link: MRU, keepalives, the RFC 1661 timers and counters, the
//! authentication timeout and CHAP re-challenges, straight into the link's
//! own [`LinkSettings`] (`Config::link`), which `driver` hands on to
//! `ppp::link` unchanged; and the RFC 4638 payload, into discovery's
//! settings (`Config::discovery`), which offer it.

use super::keys::Raw;
use super::place::Resolver;
use super::{Config, ConfigError};
use crate::ppp::{FsmConfig, LinkSettings};

/// The link's keys.
pub(super) fn resolve(
    r: &Resolver<'_>,
    raw: &mut Raw,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let d = LinkSettings::default();
    cfg.link.mru = r.int(
        "mru",
        raw.mru.take(),
        d.mru,
        64..=1500,
        " (RFC 1661 MRU; 1492 suits PPPoE)",
    )?;
    cfg.discovery.max_payload = match raw.max_payload.take() {
        Some(v) if *v.get_ref() == 0 => 0,
        v => r.int(
            "max_payload",
            v,
            Config::default().discovery.max_payload,
            1492..=9000,
            ", or 0 to disable RFC 4638",
        )?,
    };
    cfg.link.echo_interval = r.secs(
        "lcp_echo_interval",
        raw.lcp_echo_interval.take(),
        d.echo_interval,
        0..=3600,
        " seconds (0 disables keepalives)",
    )?;
    cfg.link.echo_failure = r.int(
        "lcp_echo_failure",
        raw.lcp_echo_failure.take(),
        d.echo_failure,
        1..=1000,
        "; to disable keepalives set lcp_echo_interval = 0",
    )?;
    cfg.link.auth_timeout = r.secs(
        "auth_timeout",
        raw.auth_timeout.take(),
        d.auth_timeout,
        1..=3600,
        " seconds",
    )?;
    cfg.link.fsm = FsmConfig {
        restart: r.secs(
            "restart_timer",
            raw.restart_timer.take(),
            d.fsm.restart,
            1..=60,
            " seconds (RFC 1661 default 3)",
        )?,
        max_configure: r.int(
            "max_configure",
            raw.max_configure.take(),
            d.fsm.max_configure,
            1..=255,
            " (RFC 1661 default 10)",
        )?,
        max_failure: r.int(
            "max_failure",
            raw.max_failure.take(),
            d.fsm.max_failure,
            1..=255,
            " (RFC 1661 default 5)",
        )?,
        max_terminate: r.int(
            "max_terminate",
            raw.max_terminate.take(),
            d.fsm.max_terminate,
            1..=255,
            " (RFC 1661 default 2)",
        )?,
    };
    cfg.link.chap_rechallenge = r.secs(
        "chap_rechallenge_interval",
        raw.chap_rechallenge_interval.take(),
        d.chap_rechallenge,
        0..=86_400,
        " seconds (0 = off)",
    )?;
    Ok(())
}
