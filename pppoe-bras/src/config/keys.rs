//! Every key of the config file, once: its TOML name, the type the file
//! gives it, its flag (if any), its default as the README writes it, and a
//! line of help. The file's [`Raw`] form (what serde reads, with spans),
//! the [`KEYS`] list (unknown-key messages), the command line's flags
//! (`flags.rs` makes clap's args from each row's [`Flag`]), [`flag_name`]
//! (blame on the command line) and the README's reference table (checked by
//! a test) all come from this one table. Adding a key is a row here, its
//! check in the area's resolver file and its field where that resolver
//! puts it: the consumer's own settings for the sections (`Config::link` is
//! `ppp::LinkSettings`, `Config::discovery` is `DiscoveryConfig`), else
//! [`super::Config`]. A flag is the row's [`Flag`]; nothing else names it.

use std::collections::BTreeMap;

use serde::Deserialize;
use toml::Spanned;

use super::aaa::{RawDaeClient, RawRadiusServer};
use super::place::{SList, S};
use super::users::RawUser;

/// One key of the config file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Key {
    /// The TOML name (`lcp_echo_interval`), also the flag's id in clap's
    /// matches and its name in [`super::Overrides`].
    pub name: &'static str,
    /// The command-line flag that sets it, if any (`--lcp-echo-interval`).
    pub flag: Option<Flag>,
    /// The default, as the README's reference table writes it.
    pub default: &'static str,
    /// What it does, in one line.
    pub help: &'static str,
}

/// A key's command-line flag, as clap takes it and `--help` shows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag {
    /// `--lcp-echo-interval`, as errors blame it.
    pub long: &'static str,
    /// pppoe-server's letter (`-I`), if any.
    pub short: Option<char>,
    /// A second long name, shown in `--help` (`--interface`).
    pub alias: Option<&'static str>,
    /// The value's name in `--help` (`SECS`); none for a switch.
    pub value: &'static str,
    pub takes: Takes,
    /// The flag's line in `--help`.
    pub help: &'static str,
}

/// What a flag takes; its values reach the resolvers as text, like the
/// file's, and are checked there with the same messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Takes {
    /// One value.
    One,
    /// One whole number, 0 to 4294967295 (clap refuses other text).
    Number,
    /// One value a time, repeatable: the key's list.
    Repeated,
    /// Comma-separated values, repeatable: the key's list.
    Commas,
    /// No value: given, the key is this (`--no-nat`: `nat = false`).
    Switch(&'static str),
}

/// `--long VALUE`, with its `--help` line; `.short`, `.alias` and
/// `.takes` add the rest.
const fn flag(long: &'static str, value: &'static str, help: &'static str) -> Flag {
    Flag {
        long,
        short: None,
        alias: None,
        value,
        takes: Takes::One,
        help,
    }
}

impl Flag {
    const fn short(mut self, letter: char) -> Flag {
        self.short = Some(letter);
        self
    }

    const fn alias(mut self, long: &'static str) -> Flag {
        self.alias = Some(long);
        self
    }

    const fn takes(mut self, takes: Takes) -> Flag {
        self.takes = takes;
        self
    }
}

/// Declares the keys: `name: file type, flag, default, help;`. Makes the
/// [`Raw`] struct (one field per key, in this order) and [`KEYS`].
macro_rules! keys {
    ($($name:ident: $raw:ty, $flag:expr, $default:expr, $help:expr;)*) => {
        /// The file as written, with spans for error messages; each
        /// resolver file takes (`Option::take`) the keys of its area.
        #[derive(Deserialize, Default)]
        #[serde(deny_unknown_fields)]
        pub(super) struct Raw {
            $(pub(super) $name: $raw,)*
        }

        /// Every key, in the order of the reference (and of the
        /// unknown-key message).
        pub const KEYS: &[Key] = &[
            $(Key { name: stringify!($name), flag: $flag, default: $default, help: $help },)*
        ];
    };
}

keys! {
    // The access side and discovery (access.rs).
    access_interface: S<String>,
        Some(flag("--access-interface", "IF",
            "Access interface, where the PPPoE clients are (pppoe-server -I)")
            .short('I').alias("interface")),
        "(required)",
        "subscriber-facing NIC, where PPPoE runs (pppoe-server -I)";
    uplink_interface: S<String>,
        Some(flag("--uplink-interface", "IF", "Uplink interface, towards the internet")
            .short('U').alias("uplink")),
        "(required)",
        "NIC towards the internet";
    local_address: S<String>,
        Some(flag("--local-address", "ADDR", "Our IPCP address (pppoe-server -L)")
            .short('L').alias("local-ip")),
        "172.16.0.254",
        "our IPCP address, never leased (pppoe-server -L)";
    ac_name: S<String>,
        Some(flag("--ac-name", "AC_NAME", "AC-Name in PADO (pppoe-server -C)").short('C')),
        "pppoe-bras",
        "AC-Name in PADO/PADS; also the server field matched in secrets";
    service_names: SList,
        Some(flag("--service-name", "NAME",
            "Service-Name to offer (repeatable; none = accept any)")
            .short('S').takes(Takes::Repeated)),
        "[] (any)",
        "Service-Names offered; empty accepts any";
    // Who logs in and what they are given (users.rs).
    secrets: SList,
        Some(flag("--secrets", "FILE", "pppd-format secrets file (repeatable)")
            .takes(Takes::Repeated)),
        "/etc/ppp/chap-secrets",
        "pppd-format secrets files";
    auth: SList,
        Some(flag("--auth", "LIST", "Authentication protocols in order of preference: chap, pap")
            .takes(Takes::Commas)),
        r#"["chap", "pap"]"#,
        "authentication protocols offered in LCP, in order of preference";
    pool: SList,
        Some(flag("--pool", "RANGE",
            "Address pool, e.g. 172.16.0.100-172.16.0.199 or 172.16.0.0/24 (repeatable)")
            .takes(Takes::Repeated)),
        "172.16.0.100-172.16.0.199",
        "address ranges for users without a static address";
    pools: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>, None, "none",
        "named pools for RADIUS Framed-Pool";
    dns: SList,
        Some(flag("--dns", "ADDR", "DNS server handed out in IPCP (repeatable, at most 2)")
            .takes(Takes::Repeated)),
        "192.0.2.53",
        "DNS servers given in IPCP (RFC 1877), 0 to 2";
    nbns: SList,
        Some(flag("--nbns", "ADDR",
            "NBNS (WINS) server handed out in IPCP (repeatable, at most 2)")
            .takes(Takes::Repeated)),
        "[]",
        "NBNS (WINS) servers given in IPCP (RFC 1877), 0 to 2";
    // The PPP link (link.rs).
    mru: S<i64>, None, "1492", "MRU asked for in LCP";
    max_payload: S<i64>, None, "1500", "largest RFC 4638 PPP-Max-Payload; 0 disables it";
    lcp_echo_interval: S<i64>,
        Some(flag("--lcp-echo-interval", "SECS", "Seconds between LCP Echo-Requests (0 disables)")
            .takes(Takes::Number)),
        "10",
        "seconds between LCP Echo-Requests; 0 disables";
    lcp_echo_failure: S<i64>,
        Some(flag("--lcp-echo-failure", "N", "Unanswered echoes before the session is torn down")
            .takes(Takes::Number)),
        "3",
        "unanswered Echo-Requests before the link is dead";
    auth_timeout: S<i64>, None, "30", "seconds to authenticate after LCP opens";
    restart_timer: S<i64>, None, "3", "RFC 1661 restart timer, seconds";
    max_configure: S<i64>, None, "10", "RFC 1661 Max-Configure";
    max_failure: S<i64>, None, "5", "RFC 1661 Max-Failure";
    max_terminate: S<i64>, None, "2", "RFC 1661 Max-Terminate";
    // Limits of discovery (access.rs).
    max_sessions: S<i64>,
        Some(flag("--max-sessions", "N", "Maximum number of sessions").takes(Takes::Number)),
        "65534", "most concurrent sessions";
    max_sessions_per_mac: S<i64>, None, "16", "most concurrent sessions of one client MAC";
    padi_rate_per_mac: S<String>, None, r#""10/s burst 20""#, "PADI rate per client MAC";
    padi_rate_total: S<String>, None, r#""off""#, "PADI rate over all clients";
    pado_delay_ms: S<i64>, None, "0", "milliseconds before a PADO";
    max_sessions_per_vlan: S<i64>, None, "0 (off)", "most concurrent sessions on one tag stack";
    vlans: SList, None, "[] (all)", "tag stacks served";
    chap_rechallenge_interval: S<i64>, None, "0 (off)",
        "seconds between CHAP re-challenges (link.rs)";
    // The data plane and NAT (nat.rs).
    nat: S<bool>,
        Some(flag("--no-nat", "",
            "Routed mode: no NAT (subscribers have routable addresses)")
            .takes(Takes::Switch("false"))),
        "true", "NAPT to the public address; false routes";
    public_address: S<String>,
        Some(flag("--public-address", "ADDR",
            "Public NAT address (default: the uplink's first IPv4 address)")),
        "uplink's first IPv4",
        "public IPv4 for NAT";
    public_addresses: SList, None, "uplink's first IPv4",
        "several public IPv4 addresses for NAT (paired pooling)";
    mss_clamp: S<bool>, None, "true", "clamp the TCP MSS to the session MTU - 40";
    access_allow: SList, None, "[] (PPPoE only)",
        "non-PPPoE frame kinds the access NIC passes to the host";
    isolate_subscribers: S<bool>, None, "false", "drop subscriber-to-subscriber traffic";
    // Operations (ops.rs).
    metrics_listen: S<String>, None, "off", "address:port of /metrics";
    metrics_per_session: S<bool>, None, "false", "per-session series in /metrics";
    log_format: S<String>, None, r#""text""#, r#""text" or "json" (one object per line)"#;
    spread: S<bool>, None, "true", "spread session traffic over all CPUs (nat.rs)";
    // IPv6 (v6.rs).
    ipv4: S<bool>, None, "true", "run IPCP";
    ipv6: S<bool>, None, "true", "run IPv6CP";
    ipv6_prefix_pool: S<String>, None, "2001:db8:100::/48", "cut into one /64 per session";
    ipv6_delegated_pool: S<String>, None, "2001:db8:200::/40",
        "cut into one delegated prefix per subscriber";
    ipv6_delegated_length: S<i64>, None, "56", "length of a delegated prefix";
    dns6: SList, None, "[]", "IPv6 DNS servers (RDNSS, DHCPv6), at most 3";
    ipv6_ra_interval: S<i64>, None, "200", "seconds between unsolicited RAs";
    ipv6_router_lifetime: S<i64>, None, "1800", "RA router lifetime, seconds";
    ipv6_ra_managed: S<bool>, None, "false", "RA with M and O flags (DHCPv6 IA_NA)";
    ipv6_valid_lifetime: S<i64>, None, "7200", "valid lifetime of the /64 and leases";
    ipv6_preferred_lifetime: S<i64>, None, "3600", "preferred lifetime of the /64 and leases";
    dhcpv6_ia_na: S<bool>, None, "false", "also answer IA_NA";
    ipv6_proxy_nd: S<bool>, None, "false", "answer Neighbor Solicitations on the uplink for the sessions' prefixes";
    // NAT ports and timers, where the maps live (nat.rs).
    port_block_size: S<i64>, None, "512", "public ports per subscriber block";
    first_port: S<i64>, None, "1024", "first public port of the NAT blocks";
    nat_table_size: S<i64>, None, "0 (auto)", "entries of each NAT map";
    nat_session_mappings: S<i64>, None, "0 (= 3 × `port_block_size`)",
        "most live NAT mappings of one session";
    nat_udp_timeout: S<i64>, None, "300", "idle seconds of a UDP mapping";
    nat_tcp_timeout: S<i64>, None, "7440", "idle seconds of an established TCP mapping";
    nat_icmp_timeout: S<i64>, None, "60", "idle seconds of an ICMP query mapping";
    nat_tcp_transitory_timeout: S<i64>, None, "240", "idle seconds of a transitory TCP mapping";
    pin_dir: S<String>, Some(flag("--pin-dir", "DIR", "Where the maps are pinned")),
        "/sys/fs/bpf/pppoe-bras", "where the maps are pinned";
    xdp_mode: S<String>,
        Some(flag("--xdp-mode", "MODE", "XDP attach mode: auto, native or generic")),
        "auto", "XDP attach mode: auto, native or generic";
    // Inline users (users.rs).
    users: Option<Vec<RawUser>>, None, "", "inline secrets: name, password, address";
    // RADIUS and accounting (aaa.rs).
    accounting_log: S<String>, None, "none (off)", "one JSON line per accounting record";
    acct_interim_interval: S<i64>, None, "0 (off)", "seconds between interim records";
    auth_sources: SList, None, r#"["local"]"#, "local secrets, RADIUS, or RADIUS then local";
    radius_servers: Option<Vec<RawRadiusServer>>, None, "[]", "RADIUS servers";
    nas_identifier: S<String>, None, "`ac_name`", "RADIUS NAS-Identifier";
    dae_listen: S<String>, None, "off", "RFC 5176 listener address:port";
    dae_clients: Option<Vec<RawDaeClient>>, None, "off", "who may send DAE requests";
    dae_replay_window: S<i64>, None, "300", "seconds of Event-Timestamp skew accepted";
    radius_max_outstanding: S<i64>, None, "256", "RADIUS requests in flight per client";
    radius_dead_time: S<i64>, None, "30", "seconds a silent server is skipped";
}

/// `--flag` naming of a key.
pub(super) fn flag_name(key: &'static str) -> &'static str {
    KEYS.iter()
        .find(|k| k.name == key)
        .and_then(|k| k.flag)
        .map_or("(no flag)", |f| f.long)
}

/// Rewrites serde's phrasing into ours ("unknown key", "known keys are").
pub(super) fn rewrite_toml_message(msg: &str) -> String {
    let msg = msg.trim_end();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let known = if rest.contains("`password`") {
            "name, password, address".to_string()
        } else {
            KEYS.iter().map(|k| k.name).collect::<Vec<_>>().join(", ")
        };
        return format!("unknown key {name:?}; known keys are {known}");
    }
    if let Some(rest) = msg.strip_prefix("missing field `") {
        let name = rest.split('`').next().unwrap_or_default();
        return format!("missing key {name:?}; every [[users]] table needs name and password");
    }
    msg.replace("invalid type:", "wrong type:")
        .replace("expected i64", "expected a whole number")
        .replace('\n', "; ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The README's configuration reference: each key named in a row's
    /// first column, with that row's flag and default columns.
    fn readme_rows() -> BTreeMap<String, (String, String)> {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md");
        let text = std::fs::read_to_string(path).unwrap();
        let (_, section) = text.split_once("## Configuration reference").unwrap();
        let section = section.split("\n## ").next().unwrap();
        let mut rows = BTreeMap::new();
        for line in section.lines().filter(|l| l.starts_with("| `")) {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            for name in cells[1].split('`').skip(1).step_by(2) {
                let name = name.trim_matches(['[', ']']);
                let row = (cells[2].to_string(), cells[3].to_string());
                assert!(
                    rows.insert(name.to_string(), row).is_none(),
                    "README lists `{name}` twice"
                );
            }
        }
        rows
    }

    #[test]
    fn the_readme_reference_lists_every_key_and_no_other() {
        let rows = readme_rows();
        for key in KEYS {
            let Some((flag, default)) = rows.get(key.name) else {
                panic!(
                    "README's configuration reference misses `{}` ({}); add a row",
                    key.name, key.help
                );
            };
            assert!(
                default.contains(key.default),
                "README's default for `{}` is {default:?}, the table's {:?}",
                key.name,
                key.default
            );
            if key.flag.is_some() {
                assert!(
                    !flag.trim().is_empty(),
                    "README gives `{}` no flag",
                    key.name
                );
            }
        }
        for name in rows.keys() {
            assert!(
                KEYS.iter().any(|k| k.name == name),
                "README's configuration reference lists `{name}`, which is not a key"
            );
        }
    }

    #[test]
    fn each_key_and_flag_once() {
        for (i, k) in KEYS.iter().enumerate() {
            assert!(
                KEYS[..i].iter().all(|o| o.name != k.name
                    && (k.flag.is_none() || o.flag.map(|f| f.long) != k.flag.map(|f| f.long))),
                "{} twice",
                k.name
            );
            assert_eq!(flag_name(k.name), k.flag.map_or("(no flag)", |f| f.long));
        }
        assert_eq!(flag_name("service_names"), "--service-name");
        assert_eq!(flag_name("nat"), "--no-nat");
    }
}
