//! What pppoe-server and pppd benches write, and where it stands among the
//! sources: [`ConfigSource`] merges the config file, a pppd options file
//! (`-O`) and the flags; [`pppoe_server_pool`] turns pppoe-server's
//! `-R START -N COUNT` into a pool range.
//!
//! pppd options files (`pppoe-server -O /etc/ppp/options`): the subset a
//! PPPoE server bench uses, so an existing bench's file works as is.
//!
//! Understood: `require-chap`, `require-pap` (offered CHAP first, as pppd
//! does), `lcp-echo-interval N`, `lcp-echo-failure N`, `ms-dns ADDR` (twice
//! for primary and secondary), `ms-wins ADDR`, `mru N`. Options that only
//! make sense for pppd itself (`auth`, `debug`, `noipdefault`, `proxyarp`,
//! `ktune`, `lock`, `default-asyncmap`, `novj`, …) are accepted and ignored,
//! each with a warning naming the line. Comments start with `#`.

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use super::syntax::unicast;
use super::{Config, ConfigError, Overrides};

/// What an options file sets.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct PppdOptions {
    /// By key name, as the flags would set them, each checked here at its
    /// line: `auth` (`require-chap` / `require-pap`, CHAP first),
    /// `lcp_echo_interval`, `lcp_echo_failure`, `dns` (`ms-dns`, in order),
    /// `nbns` (`ms-wins`, in order).
    pub set: Overrides,
    /// `mru`, laid over the resolved config (it has no flag).
    pub mru: Option<u16>,
    /// One line per ignored option: `file:line: option "x" ignored (…)`.
    pub warnings: Vec<String>,
}

impl PppdOptions {
    /// Read and parse `path`.
    pub fn load(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            what: "pppd options file",
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parse an options file's text; `origin` names it in messages.
    pub fn parse(text: &str, origin: &str) -> Result<Self, ConfigError> {
        let mut o = PppdOptions::default();
        let (mut chap, mut pap) = (false, false);
        for (i, raw) in text.lines().enumerate() {
            let line = i + 1;
            let content = raw.split('#').next().unwrap_or("");
            let mut words = content.split_whitespace();
            let Some(opt) = words.next() else {
                continue;
            };
            let err = |message: String| ConfigError::At {
                origin: origin.to_owned(),
                line,
                column: None,
                message,
            };
            let mut value = |what: &str| {
                words
                    .next()
                    .ok_or_else(|| err(format!("{opt} needs {what}; write e.g. `{opt} 10`")))
            };
            match opt {
                "require-chap" => chap = true,
                "require-pap" => pap = true,
                "lcp-echo-interval" | "lcp-echo-failure" | "mru" => {
                    let v = value("a number")?;
                    let n: u32 = v
                        .parse()
                        .map_err(|_| err(format!("{opt} {v:?}: not a number")))?;
                    match opt {
                        "lcp-echo-interval" => o.set.set("lcp_echo_interval", [n.to_string()]),
                        "lcp-echo-failure" => o.set.set("lcp_echo_failure", [n.to_string()]),
                        _ => {
                            if !(64..=1500).contains(&n) {
                                return Err(err(format!(
                                    "mru {n}: out of range; PPPoE allows 64 to 1500"
                                )));
                            }
                            o.mru = u16::try_from(n).ok();
                        }
                    }
                }
                "ms-dns" | "ms-wins" => {
                    let v = value("an IPv4 address")?;
                    // The same rule as the config's dns/nbns, at this line.
                    let a: Ipv4Addr = unicast(v).map_err(|e| err(format!("{opt} {v:?}: {e}")))?;
                    let list = o
                        .set
                        .values_mut(if opt == "ms-dns" { "dns" } else { "nbns" });
                    if list.len() == 2 {
                        return Err(err(format!(
                            "a third {opt}: IPCP carries a primary and a secondary only \
                             (RFC 1877); remove one"
                        )));
                    }
                    list.push(a.to_string());
                }
                _ => o.warnings.push(format!(
                    "{origin}:{line}: pppd option {opt:?} ignored (pppoe-bras reads \
                     require-chap, require-pap, lcp-echo-interval, lcp-echo-failure, ms-dns, \
                     ms-wins and mru; the rest is pppd's own business)"
                )),
            }
        }
        if chap || pap {
            let mut auth = Vec::new();
            if chap {
                auth.push("chap".to_owned());
            }
            if pap {
                auth.push("pap".to_owned());
            }
            o.set.set("auth", auth);
        }
        Ok(o)
    }
}

/// Where a daemon's configuration comes from: the file, a pppd options
/// file (`-O`) and the command-line flags, in that precedence. Kept by the
/// daemon so `reload` (SIGHUP) reads the same sources again.
#[derive(Debug, Clone, Default)]
pub struct ConfigSource {
    pub file: Option<PathBuf>,
    pub pppd_options: Option<PathBuf>,
    pub overrides: Overrides,
}

impl ConfigSource {
    /// Read and merge every source; warnings of the pppd options file are
    /// returned for the caller to log.
    pub fn load(&self) -> Result<(Config, Vec<String>), ConfigError> {
        let pppd = self
            .pppd_options
            .as_deref()
            .map(PppdOptions::load)
            .transpose()?;
        let mut overrides = self.overrides.clone();
        // Precedence: config file < pppd options file (-O) < flags. The
        // file's values go through the same checks as the flags' (ms-wins
        // as --nbns).
        if let Some(p) = &pppd {
            overrides.fill_from(&p.set);
        }
        let mut cfg = Config::resolve(self.file.as_deref(), overrides)?;
        let mut warnings = Vec::new();
        if let Some(p) = pppd {
            cfg.link.mru = p.mru.unwrap_or(cfg.link.mru);
            warnings = p.warnings;
        }
        Ok((cfg, warnings))
    }
}

/// pppoe-server's `-R START -N COUNT` as a pool range (`START-LAST`); a
/// count of 0 or one running past 255.255.255.255 is passed through as is,
/// for the config validation to refuse with its usual message.
pub fn pppoe_server_pool(start: Ipv4Addr, count: u32) -> String {
    let last = u32::from(start)
        .checked_add(count.saturating_sub(1))
        .map(Ipv4Addr::from);
    match (count, last) {
        (1.., Some(last)) => format!("{start}-{last}"),
        _ => format!("{start}-(+{count})"),
    }
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn the_classic_bench_options_file() {
        let text = "# /etc/ppp/options of the classic bench\n\
                    require-pap\n\
                    require-chap\n\
                    lcp-echo-interval 10\n\
                    lcp-echo-failure 2\n\
                    ms-dns 192.0.2.53   # primary\n\
                    ms-dns 192.0.2.54\n\
                    proxyarp\n";
        let o = PppdOptions::parse(text, "options").unwrap();
        let set = |key| o.set.get(key).map(<[String]>::to_vec);
        let strings = |v: &[&str]| -> Option<Vec<String>> {
            Some(v.iter().map(ToString::to_string).collect())
        };
        assert_eq!(set("auth"), strings(&["chap", "pap"]));
        assert_eq!(set("lcp_echo_interval"), strings(&["10"]));
        assert_eq!(set("lcp_echo_failure"), strings(&["2"]));
        assert_eq!(set("dns"), strings(&["192.0.2.53", "192.0.2.54"]));
        assert_eq!(o.warnings.len(), 1);
        assert!(o.warnings[0].starts_with("options:8: pppd option \"proxyarp\" ignored"));
    }

    #[test]
    fn bad_values_name_the_line() {
        for (text, line, needle) in [
            ("lcp-echo-interval ten\n", 1, "not a number"),
            ("\nms-dns 192.0.2\n", 2, "not an IPv4 address"),
            (
                "ms-wins 224.0.0.1\n",
                1,
                "ms-wins \"224.0.0.1\": not a unicast address",
            ),
            ("ms-dns 0.0.0.0\n", 1, "not a unicast address"),
            ("\n\nlcp-echo-failure\n", 3, "needs a number"),
            ("mru 70000\n", 1, "out of range"),
            (
                "ms-dns 192.0.2.1\nms-dns 192.0.2.2\nms-dns 192.0.2.3\n",
                3,
                "a third ms-dns",
            ),
        ] {
            let e = PppdOptions::parse(text, "opts").unwrap_err().to_string();
            assert!(e.starts_with(&format!("opts:{line}")), "{e}");
            assert!(e.contains(needle), "{e}");
            assert!(!e.contains("  "), "a run of blanks in {e:?}");
        }
    }

    #[test]
    fn nothing_said_changes_nothing() {
        let o = PppdOptions::parse("# only a comment\n\n", "x").unwrap();
        assert_eq!(o, PppdOptions::default());
    }

    #[test]
    fn pppoe_server_r_and_n_make_a_pool_range() {
        let start = Ipv4Addr::new(172, 16, 0, 100);
        assert_eq!(pppoe_server_pool(start, 100), "172.16.0.100-172.16.0.199");
        assert_eq!(pppoe_server_pool(start, 1), "172.16.0.100-172.16.0.100");
        // Refused later by the config validation, with its message.
        assert!(pppoe_server_pool(start, 0).contains("(+0)"));
        assert!(pppoe_server_pool(Ipv4Addr::BROADCAST, 2).contains("(+2)"));
    }
}
