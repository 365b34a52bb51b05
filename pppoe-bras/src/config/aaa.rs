//! The AAA keys of the config file: accounting log and interim interval,
//! authentication sources, RADIUS servers, dynamic authorization (RFC 5176).

use std::{net::Ipv4Addr, net::SocketAddr, path::PathBuf};

use serde::Deserialize;
use toml::Spanned;

use super::keys::Raw;
use super::place::{Place, Resolver, S};
use super::ConfigError;
use crate::auth::Secret;

/// Where credentials are checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthSource {
    /// The secrets files and `[[users]]`.
    Local,
    /// The `[[radius_servers]]` of kind `auth`.
    Radius,
}

/// What a RADIUS server is used for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RadiusKind {
    Auth,
    Acct,
}

/// One `[[radius_servers]]` table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RadiusServer {
    pub address: Ipv4Addr,
    /// Default 1812 (auth) or 1813 (acct).
    pub port: u16,
    /// Shared secret (never logged: `Debug` prints `***`).
    pub secret: Secret,
    pub kind: RadiusKind,
    /// Seconds before a retransmission. Default 3.
    pub timeout: u32,
    /// Retransmissions before the server is declared dead. Default 2.
    pub retries: u32,
    /// Lower is tried first; a worse priority only while every better one
    /// is dead. Default: the server's position among its kind (1, 2, …),
    /// so the list order is the failover order.
    pub priority: u32,
    /// Share of the requests among live servers of the same priority.
    /// Default 1.
    pub weight: u32,
}

/// One `[[dae_clients]]` table: who may send Disconnect-Requests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaeClient {
    pub address: Ipv4Addr,
    pub secret: Secret,
}

/// The AAA part of [`super::Config`] (TOML keys at the top level).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AaaConfig {
    /// `accounting_log`: append one JSON line per accounting record here.
    /// Default none (off).
    pub accounting_log: Option<PathBuf>,
    /// `acct_interim_interval`: seconds between interim records, 0 = off
    /// (RADIUS Acct-Interim-Interval overrides it per session). Default 0.
    pub acct_interim_interval: u32,
    /// `auth_sources`: `["local"]` (default), `["radius"]`, or
    /// `["radius", "local"]` (local only while every RADIUS server is dead).
    pub auth_sources: Vec<AuthSource>,
    /// `[[radius_servers]]`: in order of preference per kind.
    pub radius_servers: Vec<RadiusServer>,
    /// `nas_identifier`: RADIUS NAS-Identifier. Default: `ac_name`.
    pub nas_identifier: Option<String>,
    /// `dae_listen`: `"addr:port"` for RFC 5176 Disconnect-Requests
    /// (default off; 3799 is the standard port).
    pub dae_listen: Option<SocketAddr>,
    /// `[[dae_clients]]`: address and secret of each allowed DAE client.
    pub dae_clients: Vec<DaeClient>,
    /// `dae_replay_window`: seconds a Disconnect/CoA-Request's
    /// Event-Timestamp may be away from our clock (RFC 5176 §3.5); requests
    /// without one or outside it are dropped. 0 = no check. Default 300.
    pub dae_replay_window: u32,
    /// `radius_max_outstanding`: most requests waiting for an answer per
    /// client (auth, acct); more wait in a queue. Default 256.
    pub radius_max_outstanding: u32,
    /// `radius_dead_time`: seconds a server that stopped answering is
    /// skipped. Default 30.
    pub radius_dead_time: u32,
}

impl Default for AaaConfig {
    fn default() -> Self {
        AaaConfig {
            accounting_log: None,
            acct_interim_interval: 0,
            auth_sources: vec![AuthSource::Local],
            radius_servers: Vec::new(),
            nas_identifier: None,
            dae_listen: None,
            dae_clients: Vec::new(),
            dae_replay_window: 300,
            radius_max_outstanding: 256,
            radius_dead_time: 30,
        }
    }
}

impl AaaConfig {
    /// True when RADIUS authenticates.
    pub fn radius_auth(&self) -> bool {
        self.auth_sources.contains(&AuthSource::Radius)
    }

    /// True when local secrets are consulted (alone or as fallback).
    pub fn local_auth(&self) -> bool {
        self.auth_sources.contains(&AuthSource::Local)
    }

    /// Servers of one kind, in order.
    pub fn servers(&self, kind: RadiusKind) -> impl Iterator<Item = &RadiusServer> {
        self.radius_servers.iter().filter(move |s| s.kind == kind)
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRadiusServer {
    address: Spanned<String>,
    port: S<i64>,
    secret: Spanned<String>,
    kind: S<String>,
    timeout: S<i64>,
    retries: S<i64>,
    priority: S<i64>,
    weight: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawDaeClient {
    address: Spanned<String>,
    secret: Spanned<String>,
}

fn place<'a>(r: &Resolver<'a>, span: std::ops::Range<usize>, key: &'static str) -> Place<'a> {
    r.file_place(span, key).unwrap_or(Place::Flag(key))
}

/// The AAA keys, checked.
pub(super) fn resolve(r: &Resolver<'_>, raw: &mut Raw) -> Result<AaaConfig, ConfigError> {
    let d = AaaConfig::default();
    let accounting_log = r
        .scalar("accounting_log", raw.accounting_log.take())?
        .map(|(v, _)| r.path(&v));
    let acct_interim_interval = r.int(
        "acct_interim_interval",
        raw.acct_interim_interval.take(),
        d.acct_interim_interval,
        0..=86_400,
        " seconds (0 = off; RFC 2869 suggests at least 60)",
    )?;
    let auth_sources = match r.list("auth_sources", raw.auth_sources.take()) {
        None => d.auth_sources,
        Some((items, whole)) => {
            let mut out = Vec::new();
            for (s, p) in &items {
                let v = match s.as_str() {
                    "local" => AuthSource::Local,
                    "radius" => AuthSource::Radius,
                    _ => return Err(p.bad(s, "use \"local\" or \"radius\"")),
                };
                if out.contains(&v) {
                    return Err(p.bad(s, "listed twice; remove one"));
                }
                out.push(v);
            }
            if out.is_empty() || out == [AuthSource::Local, AuthSource::Radius] {
                let shown: Vec<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
                return Err(whole.bad(
                    shown,
                    "use [\"local\"], [\"radius\"] or [\"radius\", \"local\"] (local as fallback)",
                ));
            }
            out
        }
    };
    let mut radius_servers = Vec::new();
    let table = r.file_only();
    for s in raw.radius_servers.take().unwrap_or_default() {
        let ap = place(r, s.address.span(), "address");
        let text = s.address.into_inner();
        let address: Ipv4Addr = text
            .parse()
            .map_err(|_| ap.bad(&text, "not an IPv4 address"))?;
        let kind = match table.scalar("kind", s.kind)? {
            None => RadiusKind::Auth,
            Some((k, p)) => match k.as_str() {
                "auth" => RadiusKind::Auth,
                "acct" => RadiusKind::Acct,
                _ => return Err(p.bad(&k, "use \"auth\" or \"acct\"")),
            },
        };
        let default_port = if kind == RadiusKind::Auth { 1812 } else { 1813 };
        let port = table.int("port", s.port, default_port, 1..=65535, "")?;
        let timeout = table.int("timeout", s.timeout, 3, 1..=60, " seconds")?;
        let retries = table.int("retries", s.retries, 2, 0..=10, "")?;
        let position = radius_servers
            .iter()
            .filter(|o: &&RadiusServer| o.kind == kind)
            .count() as u32
            + 1;
        let priority = table.int(
            "priority",
            s.priority,
            position,
            1..=1000,
            " (lower is tried first)",
        )?;
        let weight = table.int(
            "weight",
            s.weight,
            1,
            1..=1000,
            " (share among servers of the same priority)",
        )?;
        let sp = place(r, s.secret.span(), "secret");
        let secret = s.secret.into_inner();
        if secret.is_empty() {
            return Err(sp.bad("***", "empty shared secret"));
        }
        radius_servers.push(RadiusServer {
            address,
            port,
            secret: Secret::new(secret),
            kind,
            timeout,
            retries,
            priority,
            weight,
        });
    }
    if auth_sources.contains(&AuthSource::Radius)
        && !radius_servers.iter().any(|s| s.kind == RadiusKind::Auth)
    {
        return Err(ConfigError::Invalid {
            origin: r.origin(),
            message: "auth_sources has \"radius\" but no [[radius_servers]] with kind = \"auth\""
                .to_owned(),
        });
    }
    let nas_identifier = r
        .scalar("nas_identifier", raw.nas_identifier.take())?
        .map(|(v, _)| v);
    let dae_listen = match r.scalar("dae_listen", raw.dae_listen.take())? {
        None => None,
        Some((v, p)) => Some(
            v.parse::<SocketAddr>()
                .map_err(|_| p.bad(&v, "use \"address:port\", e.g. \"0.0.0.0:3799\""))?,
        ),
    };
    let mut dae_clients = Vec::new();
    for c in raw.dae_clients.take().unwrap_or_default() {
        let ap = place(r, c.address.span(), "address");
        let text = c.address.into_inner();
        let address: Ipv4Addr = text
            .parse()
            .map_err(|_| ap.bad(&text, "not an IPv4 address"))?;
        dae_clients.push(DaeClient {
            address,
            secret: Secret::new(c.secret.into_inner()),
        });
    }
    let dae_replay_window = r.int(
        "dae_replay_window",
        raw.dae_replay_window.take(),
        d.dae_replay_window,
        0..=86_400,
        " seconds (0 = Event-Timestamp not required)",
    )?;
    let radius_max_outstanding = r.int(
        "radius_max_outstanding",
        raw.radius_max_outstanding.take(),
        d.radius_max_outstanding,
        1..=65_536,
        " requests per client",
    )?;
    let radius_dead_time = r.int(
        "radius_dead_time",
        raw.radius_dead_time.take(),
        d.radius_dead_time,
        1..=3600,
        " seconds a silent server is skipped",
    )?;
    Ok(AaaConfig {
        accounting_log,
        acct_interim_interval,
        auth_sources,
        radius_servers,
        nas_identifier,
        dae_listen,
        dae_clients,
        dae_replay_window,
        radius_max_outstanding,
        radius_dead_time,
    })
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;

    #[test]
    fn radius_servers_take_priorities_weights_and_a_dead_time() {
        let text = format!(
            "{IFACES}auth_sources = [\"radius\"]\nradius_dead_time = 10\n\
             [[radius_servers]]\naddress = \"192.0.2.1\"\nsecret = \"a\"\n\
             [[radius_servers]]\naddress = \"192.0.2.2\"\nsecret = \"b\"\nweight = 3\npriority = 1\n\
             [[radius_servers]]\naddress = \"192.0.2.3\"\nsecret = \"c\"\nkind = \"acct\"\n"
        );
        let cfg = parse(&text).unwrap();
        let got: Vec<(u32, u32, u16)> = cfg
            .aaa
            .radius_servers
            .iter()
            .map(|s| (s.priority, s.weight, s.port))
            .collect();
        // Default priority is the position among servers of the same kind.
        assert_eq!(got, [(1, 1, 1812), (1, 3, 1812), (1, 1, 1813)]);
        assert_eq!(cfg.aaa.radius_dead_time, 10);
        assert_eq!(parse(IFACES).unwrap().aaa.radius_dead_time, 30);
        let e = err(&format!(
            "{IFACES}[[radius_servers]]\naddress = \"192.0.2.1\"\nsecret = \"a\"\nweight = 0\n"
        ));
        assert!(
            e.starts_with("config/bras.toml:6: weight 0: must be from 1 to 1000"),
            "{e}"
        );
        let e = err(&format!("{IFACES}radius_dead_time = 0\n"));
        assert!(
            e.starts_with("config/bras.toml:3: radius_dead_time 0"),
            "{e}"
        );
    }
}
