//! Who logs in and what they are given: the secrets files, inline
//! `[[users]]`, the auth protocols offered, the address pool and the named
//! `[pools]`, DNS and NBNS; and from them the [`Secrets`] and [`Pool`] the
//! session manager consumes.

use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;
use std::path::PathBuf;

use serde::Deserialize;
use toml::Spanned;

use super::keys::Raw;
use super::place::{Place, Resolver, S};
use super::secrets::parse_address_word;
use super::syntax::parse_auth_proto;
use super::{Config, ConfigError};
use crate::auth::{Entry, Secret, Secrets};
use crate::pool::{Pool, PoolRange};

/// An inline user (`[[users]]` table): same meaning as a secrets line
/// `name * "password" address`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct User {
    /// The PAP Peer-ID / CHAP Name.
    pub name: String,
    /// Used for both PAP and CHAP. `Debug` prints `***`.
    pub password: Secret,
    /// Static address; `None` (key missing or `"*"`) → from the pool.
    pub address: Option<Ipv4Addr>,
    /// Static IPv6 (`ipv6_prefix`, a /64; `delegated_prefix`): instead of
    /// ones from the pools.
    pub ipv6: Vec<crate::auth::Prefix6>,
    /// Line of the `name` key in the config file, for error messages.
    pub line: usize,
}

/// One `[[users]]` table as written.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    name: Spanned<String>,
    password: Spanned<String>,
    address: S<String>,
    ipv6_prefix: S<String>,
    delegated_prefix: S<String>,
}

/// Secrets files, auth protocols, pools, DNS and NBNS.
pub(super) fn resolve(
    r: &Resolver<'_>,
    raw: &mut Raw,
    cfg: &mut Config,
) -> Result<(), ConfigError> {
    let d = Config::default();
    cfg.secrets = match r.list("secrets", raw.secrets.take()) {
        None => d.secrets,
        Some((items, _)) => items
            .into_iter()
            .map(|(s, place)| match place {
                // A flag's path is taken as given (the working directory's).
                Place::Flag(_) => PathBuf::from(s),
                Place::File { .. } => r.path(&s),
            })
            .collect(),
    };

    cfg.auth = match r.list("auth", raw.auth.take()) {
        None => d.auth,
        Some((items, whole)) => {
            if items.is_empty() {
                return Err(whole.bad(
                    Vec::<String>::new(),
                    r#"offer at least one method; write ["chap", "pap"]"#,
                ));
            }
            let mut out = Vec::new();
            for (s, place) in items {
                let proto = parse_auth_proto(&s).map_err(|e| place.bad(&s, e))?;
                if out.contains(&proto) {
                    return Err(place.bad(&s, "listed twice; remove one"));
                }
                out.push(proto);
            }
            out
        }
    };

    cfg.pool = match r.list("pool", raw.pool.take()) {
        None => d.pool,
        Some((items, _)) => {
            let mut out: Vec<(PoolRange, String)> = Vec::new();
            for (s, place) in items {
                let range: PoolRange = s.parse().map_err(|e| place.bad(&s, e))?;
                if let Some((_, other)) = out.iter().find(|(r, _)| r.overlaps(&range)) {
                    return Err(place.bad(
                        &s,
                        format!("overlaps {other:?}; remove or shrink one of them"),
                    ));
                }
                out.push((range, s));
            }
            out.into_iter().map(|(r, _)| r).collect()
        }
    };

    cfg.pools = named_pools(r, raw.pools.take(), &cfg.pool)?;

    cfg.dns = r.addr_list("dns", raw.dns.take(), d.dns, 2)?;
    cfg.nbns = r.addr_list("nbns", raw.nbns.take(), d.nbns, 2)?;
    Ok(())
}

/// The `[[users]]` tables (checked last, after every other key).
pub(super) fn inline(r: &Resolver<'_>, raw: &mut Raw, cfg: &mut Config) -> Result<(), ConfigError> {
    let mut users = Vec::new();
    let mut names = HashSet::new();
    for u in raw.users.take().unwrap_or_default() {
        let name_place = r.file_place(u.name.span(), "name");
        let line = r.src.map_or(0, |s| s.line_col(u.name.span().start).0);
        let name = u.name.into_inner();
        if let Some(place) = &name_place {
            if name.is_empty() {
                return Err(place.bad(
                    &name,
                    "empty user name; write the PAP/CHAP name the CPE sends",
                ));
            }
            if !names.insert(name.clone()) {
                return Err(place.bad(
                    &name,
                    "a [[users]] table with this name already exists; remove one",
                ));
            }
        }
        let address = match u.address {
            None => None,
            Some(a) => {
                let text = a.get_ref().clone();
                match (parse_address_word(&text), r.file_place(a.span(), "address")) {
                    (Ok(v), _) => v,
                    (Err(e), Some(place)) => return Err(place.bad(&text, e)),
                    (Err(e), None) => return Err(Place::Flag("address").bad(&text, e)),
                }
            }
        };
        let mut ipv6 = Vec::new();
        for (key, value, want) in [
            ("ipv6_prefix", u.ipv6_prefix, "a /64"),
            ("delegated_prefix", u.delegated_prefix, "shorter than /64"),
        ] {
            let Some(v) = value else { continue };
            let place = r.file_place(v.span(), key).unwrap_or(Place::Flag(key));
            let text = v.into_inner();
            let p = crate::auth::parse_prefix6(&text).map_err(|e| place.bad(&text, e))?;
            if (p.1 == 64) != (key == "ipv6_prefix") {
                return Err(place.bad(&text, format!("{key} must be {want}")));
            }
            ipv6.push(p);
        }
        users.push(User {
            name,
            password: Secret::new(u.password.into_inner()),
            address,
            ipv6,
            line,
        });
    }
    cfg.users = users;
    Ok(())
}

/// `[pools]`: each name (RADIUS Framed-Pool asks for it by name) with its
/// ranges, none overlapping `pool` or another named pool.
fn named_pools(
    r: &Resolver<'_>,
    raw: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    default: &[PoolRange],
) -> Result<Vec<(String, Vec<PoolRange>)>, ConfigError> {
    let mut out: Vec<(String, Vec<PoolRange>)> = Vec::new();
    for (name, list) in raw.unwrap_or_default() {
        let Some(whole) = r.file_place(list.span(), "pools") else {
            continue;
        };
        let ok_name = (1..=64).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !ok_name {
            return Err(whole.bad(
                &name,
                "a pool name is 1 to 64 letters, digits, '-', '_' or '.'; rename it",
            ));
        }
        let items = list.into_inner();
        if items.is_empty() {
            return Err(whole.bad(
                &name,
                "an empty pool hands out nothing; give it ranges like [\"10.9.0.0/24\"] or remove it",
            ));
        }
        let mut ranges = Vec::new();
        for item in items {
            let place = r.file_place(item.span(), "pools").unwrap_or(whole.clone());
            let text = item.into_inner();
            let range: PoolRange = text.parse().map_err(|e| place.bad(&text, e))?;
            let clash = default
                .iter()
                .find(|d| d.overlaps(&range))
                .map(|d| format!("`pool` range {d}"))
                .or_else(|| {
                    ranges
                        .iter()
                        .find(|o: &&PoolRange| o.overlaps(&range))
                        .map(|o| format!("{o} of the same pool"))
                })
                .or_else(|| {
                    out.iter().find_map(|(n, rs)| {
                        rs.iter()
                            .find(|o| o.overlaps(&range))
                            .map(|o| format!("pool {n:?}'s {o}"))
                    })
                });
            if let Some(other) = clash {
                return Err(place.bad(
                    &text,
                    format!(
                        "in pool {name:?} overlaps {other}; an address belongs to one pool, \
                         shrink one of them"
                    ),
                ));
            }
            ranges.push(range);
        }
        out.push((name, ranges));
    }
    Ok(out)
}

impl Config {
    /// Inline users first, then every secrets file in order. Refuses a
    /// static address equal to `local_address`, and an empty result (nobody
    /// could log in).
    pub fn secrets(&self) -> Result<Secrets, ConfigError> {
        let origin = self
            .source
            .as_ref()
            .map_or("config".to_string(), |p| p.display().to_string());
        let mut all = Secrets::new();
        for u in &self.users {
            all.push(
                Entry::new(
                    Some(&u.name),
                    None,
                    u.password.clone(),
                    u.address,
                    &origin,
                    u.line,
                )
                .with_ipv6(&u.ipv6),
            );
        }
        for path in &self.secrets {
            all.merge(Secrets::load(path).map_err(|e| match e {
                ConfigError::Read { path, what, source }
                    if source.kind() == std::io::ErrorKind::NotFound =>
                {
                    ConfigError::Invalid {
                        origin: path.display().to_string(),
                        message: format!(
                            "cannot read {what}: {source}; create it, or change `secrets` \
                             (write secrets = [] if you only use [[users]])"
                        ),
                    }
                }
                e => e,
            })?);
        }
        for e in all.entries() {
            if e.static_address() == Some(self.local_address) {
                let (origin, line) = e.origin();
                return Err(ConfigError::At {
                    origin: origin.to_string(),
                    line,
                    column: None,
                    message: format!(
                        "address {} is the BRAS's own local_address; give the user another address or *",
                        self.local_address
                    ),
                });
            }
        }
        if all.is_empty() {
            return Err(ConfigError::Invalid {
                origin,
                message: "no users: every secrets file is empty and there is no [[users]] table; \
                          add a line like `testuser1 * \"password\" *` to a secrets file"
                    .to_string(),
            });
        }
        Ok(all)
    }

    /// The address pool: `pool` ranges minus `local_address`, with every
    /// static address of `secrets` reserved.
    pub fn build_pool(&self, secrets: &Secrets) -> Pool {
        let mut pool = Pool::new(&self.pool, &[self.local_address]);
        for (name, ranges) in &self.pools {
            pool.add_named(name, ranges);
        }
        pool.reserve_static(secrets.static_addresses());
        pool
    }
}

#[cfg(test)]
mod tests {
    use crate::config::tests::*;

    #[test]
    fn named_pool_errors_name_the_line_and_the_clash() {
        // IFACES is two lines; `pool` is the default 172.16.0.100-199.
        let e = err(&format!(
            "{IFACES}[pools]\ngold = [\"10.9.0.0/24\"]\nsilver = [\n  \"10.8.0.0/24\",\n  \"10.9.0.128/25\",\n]\n"
        ));
        assert_eq!(
            e,
            "config/bras.toml:7: pools \"10.9.0.128/25\": in pool \"silver\" overlaps pool \"gold\"'s \
             10.9.0.1-10.9.0.254; an address belongs to one pool, shrink one of them"
        );
        let e = err(&format!("{IFACES}[pools]\ngold = [\"172.16.0.150\"]\n"));
        assert!(
            e.starts_with(
                "config/bras.toml:4: pools \"172.16.0.150\": in pool \"gold\" overlaps `pool` range"
            ),
            "{e}"
        );
        let e = err(&format!(
            "{IFACES}[pools]\n\"gold pool\" = [\"10.9.0.1\"]\n"
        ));
        assert!(e.contains("\"gold pool\": a pool name is 1 to 64"), "{e}");
        let e = err(&format!("{IFACES}[pools]\ngold = []\n"));
        assert!(
            e.starts_with("config/bras.toml:4: pools \"gold\": an empty pool"),
            "{e}"
        );
        let e = err(&format!("{IFACES}[pools]\ngold = [\"10.9.0.5/24\"]\n"));
        assert!(e.contains("write 10.9.0.0/24"), "{e}");
    }

    #[test]
    fn pool_errors_point_at_the_element_line() {
        let e = err(&format!(
            "{IFACES}pool = [\n  \"10.0.0.0/24\",\n  \"10.0.0.128/25\",\n]\n"
        ));
        assert!(
            e.starts_with("config/bras.toml:5: pool \"10.0.0.128/25\": overlaps \"10.0.0.0/24\""),
            "{e}"
        );
        let e = err(&format!("{IFACES}pool = [\"10.0.0.5/24\"]\n"));
        assert!(
            e.starts_with("config/bras.toml:3: pool \"10.0.0.5/24\": ")
                && e.contains("write 10.0.0.0/24"),
            "{e}"
        );
        let e = err(&format!("{IFACES}pool = [\"10.0.0.1..10.0.0.9\"]\n"));
        assert!(
            e.starts_with("config/bras.toml:3: pool") && e.contains("not an IPv4 address"),
            "{e}"
        );
        assert_eq!(
            parse(&format!("{IFACES}pool = []\n")).unwrap().pool,
            Vec::<PoolRange>::new()
        );
    }

    #[test]
    fn secrets_merge_inline_users_and_files() {
        let dir = scratch("merge");
        std::fs::write(
            dir.join("chap-secrets"),
            "u1 * filepw 10.0.0.1\nshared * fromfile\n",
        )
        .unwrap();
        std::fs::write(dir.join("pap-secrets"), "u2 * pw2\n").unwrap();
        let text = format!(
            "{IFACES}secrets = [\"chap-secrets\", \"pap-secrets\"]\n\
             [[users]]\nname = \"shared\"\npassword = \"inline\"\naddress = \"10.0.0.7\"\n"
        );
        std::fs::write(dir.join("bras.toml"), text).unwrap();
        let cfg = Config::load(&dir.join("bras.toml")).unwrap();
        let s = cfg.secrets().unwrap();
        assert_eq!(s.len(), 4);
        let pap = |p: &str| Credential::Pap {
            password: p.as_bytes().to_vec(),
        };
        // The inline user comes first and wins.
        assert_eq!(
            s.verify("shared", "pppoe-bras", &pap("inline")),
            Verdict::Accept {
                static_address: Some(a("10.0.0.7"))
            }
        );
        assert_eq!(
            s.verify("shared", "pppoe-bras", &pap("fromfile")),
            Verdict::BadSecret
        );
        assert!(matches!(
            s.verify("u2", "x", &pap("pw2")),
            Verdict::Accept { .. }
        ));
        let inline = s.entries()[0].origin();
        assert_eq!(
            inline,
            (dir.join("bras.toml").display().to_string().as_str(), 5)
        );
        let pool = cfg.build_pool(&s);
        assert_eq!(pool.in_use(), 0);
        std::fs::remove_dir_all(dir).unwrap();
    }

    #[test]
    fn secrets_errors_name_the_file_and_line() {
        let dir = scratch("errors");
        let secrets = dir.join("chap-secrets");
        std::fs::write(&secrets, "# header\nu1 * pw 172.16.0.254\n").unwrap();
        let cfg = Config {
            access_interface: "eth1".into(),
            uplink_interface: "eth0".into(),
            secrets: vec![secrets.clone()],
            ..Config::default()
        };
        let e = cfg.secrets().unwrap_err().to_string();
        assert_eq!(
            e,
            format!(
                "{}:2: address 172.16.0.254 is the BRAS's own local_address; give the user another address or *",
                secrets.display()
            )
        );
        std::fs::write(&secrets, "# nobody here\n").unwrap();
        let e = cfg.secrets().unwrap_err().to_string();
        assert!(e.starts_with("config: no users"), "{e}");
        std::fs::write(&secrets, "u1 * 'pw\n").unwrap();
        let e = cfg.secrets().unwrap_err().to_string();
        assert!(
            e.starts_with(&format!("{}:1: unterminated", secrets.display())),
            "{e}"
        );
        let missing = Config {
            secrets: vec![dir.join("nope")],
            ..cfg.clone()
        };
        let e = missing.secrets().unwrap_err().to_string();
        assert!(
            e.contains("nope: cannot read secrets file") && e.contains("secrets = []"),
            "{e}"
        );
        std::fs::remove_dir_all(dir).unwrap();
    }
}
