//! Operations: the `/metrics` listener and the log format.

use super::keys::Raw;
use super::place::Resolver;
use super::{Config, ConfigError};

/// Metrics and logs.
pub(super) fn resolve(
    r: &Resolver<'_>,
    raw: &mut Raw,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let d = Config::default();
    cfg.metrics_listen = match r.scalar("metrics_listen", raw.metrics_listen.take())? {
        None => d.metrics_listen,
        Some((v, place)) => Some(
            v.parse()
                .map_err(|_| place.bad(&v, "not an address:port; write e.g. \"127.0.0.1:9469\""))?,
        ),
    };
    cfg.metrics_per_session = r
        .scalar("metrics_per_session", raw.metrics_per_session.take())?
        .map_or(d.metrics_per_session, |(v, _)| v);
    cfg.log_json = match r.scalar("log_format", raw.log_format.take())? {
        None => d.log_json,
        Some((v, _)) if v == "text" => false,
        Some((v, _)) if v == "json" => true,
        Some((v, place)) => return Err(place.bad(&v, "use \"text\" or \"json\"")),
    };
    Ok(())
}
