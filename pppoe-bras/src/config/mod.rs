//! Configuration: TOML file plus pppoe-server-style flags.
//!
//! [`Config::resolve`] reads the file (if any), lays the command-line
//! [`Overrides`] on top (flags win), fills defaults and validates
//! everything before returning: nothing starts half-configured. Every error
//! names where the bad value was written (`file:line`, or the flag) and what
//! to write instead, e.g.
//!
//! ```text
//! config/bras.toml:7: pool "172.16.0.200-172.16.0.100": range end is before its start; write the lower address first
//! ```
//!
//! Defaults reproduce the classic pppoe-server + pppd bench: server address
//! 172.16.0.254, pool 172.16.0.100–199, CHAP then PAP, secrets in
//! `/etc/ppp/chap-secrets`.

//! The folder owns every string form of the configuration and every
//! translation into the typed settings the other modules consume:
//!
//! - `keys.rs`: each key once (TOML name, flag, default, help) → the file's
//!   raw form, the known-keys list, the flags, the README check;
//! - `flags.rs`: [`Overrides`] (what the flags set, by key name) and the
//!   clap args made from `keys.rs`;
//! - `place.rs`: where a value was written (file:line or flag) and the
//!   `Resolver` that checks values and blames that place;
//! - `syntax.rs`: the string syntaxes (XDP mode, auth words, addresses,
//!   interface names, rate limits, VLAN rules);
//! - one resolver per area, each filling its [`Config`] fields: `access.rs`
//!   (interfaces, names, discovery limits), `users.rs` (secrets, users,
//!   pools, DNS), `link.rs` (PPP), `nat.rs` (data plane and NAT), `v6.rs`,
//!   `ops.rs` (metrics, logs), `aaa.rs` (RADIUS, accounting, DAE);
//! - `secrets.rs`: the pppd secrets-file syntax; `pppd.rs`: pppd options
//!   files, pppoe-server's `-R`/`-N` and the precedence of the sources;
//! - `error.rs`: [`ConfigError`].

use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::discovery::{DiscoveryConfig, RateLimit};
use crate::pool::PoolRange;
use crate::ppp::{AuthProto, LinkSettings};

pub mod aaa;
mod access;
mod error;
mod flags;
pub mod keys;
mod link;
mod nat;
mod ops;
mod place;
pub mod pppd;
mod secrets;
mod syntax;
mod users;
mod v6;

#[cfg(test)]
mod tests;

pub use aaa::AaaConfig;
pub use error::ConfigError;
pub use flags::Overrides;
pub use pppd::ConfigSource;
pub use syntax::parse_auth_proto;
pub use users::User;

use keys::{rewrite_toml_message, Raw};
use place::{Resolver, Source};

/// How the XDP programs are attached (`xdp_mode`); defined by the data plane.
pub use crate::dataplane::XdpMode;

/// The whole daemon configuration. Field docs double as the README's
/// configuration reference; the TOML key is the field name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Subscriber-facing NIC, where PPPoE runs (pppoe-server `-I`).
    /// Required. Flag `--access-interface`.
    pub access_interface: String,
    /// Upstream NIC towards the Internet. Required. Flag `--uplink-interface`.
    pub uplink_interface: String,
    /// Our address in IPCP, the subscribers' peer address (pppoe-server `-L`).
    /// Never leased. Default `172.16.0.254`. Flag `--local-address`.
    pub local_address: Ipv4Addr,
    /// pppd-format secrets files, used by both PAP and CHAP. Relative paths
    /// in the config file are relative to the file's directory. Default
    /// `["/etc/ppp/chap-secrets"]`. Flag `--secrets` (repeatable).
    pub secrets: Vec<PathBuf>,
    /// Authentication protocols offered in LCP, in order of preference
    /// (`"chap"` = CHAP-MD5, `"pap"`); a peer that Naks the first gets the
    /// next. Default `["chap", "pap"]`. Flag `--auth` (repeatable).
    pub auth: Vec<AuthProto>,
    /// Dynamic address ranges: `"FIRST-LAST"`, CIDR (network and broadcast
    /// left out) or single addresses; must not overlap. May be empty when
    /// every user has a static address. Default
    /// `["172.16.0.100-172.16.0.199"]`. Flag `--pool` (repeatable).
    pub pool: Vec<PoolRange>,
    /// Named pools (`[pools]` table, `gold = ["10.9.0.0/24"]`), used when
    /// RADIUS names one in Framed-Pool; disjoint from `pool` and from each
    /// other. Default none.
    pub pools: Vec<(String, Vec<PoolRange>)>,
    /// DNS servers given in IPCP (RFC 1877: primary, secondary), 0 to 2;
    /// empty → the DNS options are rejected. Default `["192.0.2.53"]`.
    /// Flag `--dns` (repeatable).
    pub dns: Vec<Ipv4Addr>,
    /// NBNS (WINS) servers for IPCP (RFC 1877), 0 to 2. Default `[]`.
    pub nbns: Vec<Ipv4Addr>,
    /// The PPP link's keys (`mru`, `lcp_echo_interval`, `lcp_echo_failure`,
    /// `auth_timeout`, `restart_timer`, `max_configure`, `max_failure`,
    /// `max_terminate`, `chap_rechallenge_interval`), resolved by
    /// `config/link.rs` into the link's own settings, which `driver` hands
    /// on unchanged.
    pub link: LinkSettings,
    /// Discovery's keys (`ac_name`, `service_names`, `max_sessions`,
    /// `max_sessions_per_mac`, `max_payload`, `padi_rate_per_mac`,
    /// `padi_rate_total`, `pado_delay_ms`, `max_sessions_per_vlan`,
    /// `vlans`), resolved by `config/access.rs` (`max_payload` by
    /// `config/link.rs`) into discovery's own settings. `driver` hands them
    /// on with what needs the NIC or the run: the MAC, the cookie key, and
    /// `max_payload` capped to the NIC's MTU. `ac_name` is also the link's
    /// CHAP name and the server matched in the secrets.
    pub discovery: DiscoveryConfig,
    /// Translate subscriber addresses to `public_address` (NAPT). `false`
    /// routes subscriber addresses as they are. Default `true`. Flag `--no-nat`.
    pub nat: bool,
    /// Public IPv4 used for NAT; `None` → the uplink's first IPv4 address.
    /// Flag `--public-address`. Ignored when `public_addresses` is set.
    pub public_address: Option<Ipv4Addr>,
    /// Several public IPv4 addresses for NAT (at most 256). Each session's
    /// port block lies on one of them ("paired" pooling, RFC 4787 REQ-2), so
    /// capacity = addresses × blocks per address. Addresses other than the
    /// uplink's must be routed to the BRAS (or added to the uplink). Default
    /// `[]` (→ `public_address`).
    pub public_addresses: Vec<Ipv4Addr>,
    /// Clamp the TCP MSS option of SYN and SYN-ACK segments, both ways, to
    /// the session MTU − 40 (RFC 4459 §3.2). Default `true`.
    pub mss_clamp: bool,
    /// `access_allow`: non-PPPoE frame kinds the access NIC passes to the
    /// host (`pppoe_bras_common::maps::access_allow` bits); default none.
    pub access_allow: u32,
    /// `isolate_subscribers`: drop subscriber-to-subscriber traffic
    /// instead of forwarding it PPPoE to PPPoE (default false).
    pub isolate_subscribers: bool,
    /// `metrics_listen`: where `/metrics` is served (off when unset).
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// `metrics_per_session`: per-session series in `/metrics` (default false).
    pub metrics_per_session: bool,
    /// `log_format`: `"text"` (default) or `"json"` (one object per line).
    pub log_json: bool,
    /// Spread session traffic over every online CPU (cpumap keyed by
    /// session): RSS gives all PPPoE on a NIC one flow hash, so without
    /// this one core does all the work. Default `true` (no effect on one CPU).
    pub spread: bool,
    /// Which NCPs run, and the IPv6 control plane: `ipv4`, `ipv6`,
    /// `ipv6_prefix_pool`, `ipv6_delegated_pool`, `ipv6_delegated_length`,
    /// `dns6`, `ipv6_ra_interval`, `ipv6_router_lifetime`,
    /// `ipv6_ra_managed`, `ipv6_valid_lifetime`, `ipv6_preferred_lifetime`,
    /// `dhcpv6_ia_na`, `ipv6_proxy_nd` (see [`crate::v6::V6Settings`]).
    pub v6: crate::v6::V6Settings,
    /// Public ports per subscriber block (RFC 6888 per-subscriber limit;
    /// RFC 7422-style blocks). Default 512. With one public address,
    /// `(65536 − first_port) / port_block_size` subscribers fit.
    pub port_block_size: u16,
    /// First public port used for NAT blocks, ≥ 1024. Default 1024.
    pub first_port: u16,
    /// Entries of each NAT map (mappings); 0 = auto: enough for every
    /// session's quota (at least 262,144, at most 1,048,576). The daemon
    /// refuses to start when the quotas (sessions × per-session mappings)
    /// could outgrow it (RFC 6888 REQ-3/4). Default 0.
    pub nat_table_size: u32,
    /// Most live NAT mappings one session may hold, all protocols together
    /// (enforced in XDP; RFC 6888 REQ-4); 0 = 3 × `port_block_size` (one
    /// block per protocol). Default 0.
    pub nat_session_mappings: u32,
    /// Idle seconds before a UDP mapping expires (RFC 4787 REQ-5: ≥ 120,
    /// 300 recommended). Default 300.
    pub nat_udp_timeout: u32,
    /// Idle seconds before an established TCP mapping expires (RFC 5382:
    /// ≥ 7440). Default 7440.
    pub nat_tcp_timeout: u32,
    /// Idle seconds before an ICMP query mapping expires (RFC 5508: ≥ 60).
    /// Default 60.
    pub nat_icmp_timeout: u32,
    /// Idle seconds before a transitory TCP mapping expires: SYN not yet
    /// answered, or FIN/RST seen (RFC 5382: ≥ 240). Default 240.
    pub nat_tcp_transitory_timeout: u32,
    /// bpffs directory where maps are pinned (absolute). Default
    /// `/sys/fs/bpf/pppoe-bras`. Flag `--pin-dir`.
    pub pin_dir: PathBuf,
    /// XDP attach mode: `"auto"`, `"native"` or `"generic"`. Default
    /// `"auto"`. Flag `--xdp-mode`.
    pub xdp_mode: XdpMode,
    /// Inline users (`[[users]]` tables with `name`, `password`, optional
    /// `address`), checked before the secrets files. Handy for labs.
    pub users: Vec<User>,
    /// Accounting and RADIUS keys (`accounting_log`, `acct_interim_interval`,
    /// `auth_sources`, `[[radius_servers]]`, `nas_identifier`, `dae_listen`,
    /// `[[dae_clients]]`), see [`aaa`].
    pub aaa: AaaConfig,
    /// The file this came from, if any (not a TOML key).
    pub source: Option<PathBuf>,
}

impl Default for Config {
    /// The defaults, with empty interface names (a [`Config::resolve`]d
    /// config always has both). Meant for tests of other modules.
    fn default() -> Config {
        Config {
            access_interface: String::new(),
            uplink_interface: String::new(),
            local_address: Ipv4Addr::new(172, 16, 0, 254),
            secrets: vec![PathBuf::from("/etc/ppp/chap-secrets")],
            auth: vec![AuthProto::Chap, AuthProto::Pap],
            pool: vec![PoolRange::new(
                Ipv4Addr::new(172, 16, 0, 100),
                Ipv4Addr::new(172, 16, 0, 199),
            )
            .unwrap_or_else(|_| unreachable!("constant range is valid"))],
            pools: Vec::new(),
            dns: vec![Ipv4Addr::new(192, 0, 2, 53)],
            nbns: Vec::new(),
            link: LinkSettings::default(),
            discovery: DiscoveryConfig {
                ac_name: "pppoe-bras".to_string(),
                service_names: Vec::new(),
                max_sessions: 65534,
                max_sessions_per_mac: 16,
                max_payload: 1500,
                padi_rate_per_mac: Some(RateLimit {
                    per_sec: 10,
                    burst: 20,
                }),
                padi_rate_total: None,
                pado_delay: Duration::ZERO,
                max_sessions_per_vlan: 0,
                vlans: Vec::new(),
                // The run's and the NIC's: set by `driver`.
                ..DiscoveryConfig::default()
            },
            nat: true,
            public_address: None,
            public_addresses: Vec::new(),
            mss_clamp: true,
            access_allow: 0,
            isolate_subscribers: false,
            metrics_listen: None,
            metrics_per_session: false,
            log_json: false,
            spread: true,
            v6: crate::v6::V6Settings::default(),
            port_block_size: 512,
            first_port: 1024,
            nat_table_size: 0,
            nat_session_mappings: 0,
            nat_udp_timeout: 300,
            nat_tcp_timeout: 7440,
            nat_icmp_timeout: 60,
            nat_tcp_transitory_timeout: 240,
            pin_dir: PathBuf::from("/sys/fs/bpf/pppoe-bras"),
            xdp_mode: XdpMode::Auto,
            users: Vec::new(),
            aaa: AaaConfig::default(),
            source: None,
        }
    }
}

impl Config {
    /// The keys whose new value a running daemon cannot take (interfaces,
    /// maps and NAT layout, attach mode, listeners), by name, where `new`
    /// differs from `self`: a reload that changes one is refused.
    pub fn fixed_keys_changed(&self, new: &Config) -> Vec<&'static str> {
        let mut out = Vec::new();
        let mut check = |changed: bool, key: &'static str| {
            if changed {
                out.push(key);
            }
        };
        check(
            self.access_interface != new.access_interface,
            "access_interface",
        );
        check(
            self.uplink_interface != new.uplink_interface,
            "uplink_interface",
        );
        check(self.local_address != new.local_address, "local_address");
        check(self.pin_dir != new.pin_dir, "pin_dir");
        check(self.xdp_mode != new.xdp_mode, "xdp_mode");
        check(self.nat != new.nat, "nat");
        check(self.public_address != new.public_address, "public_address");
        check(
            self.public_addresses != new.public_addresses,
            "public_addresses",
        );
        check(
            self.port_block_size != new.port_block_size,
            "port_block_size",
        );
        check(self.first_port != new.first_port, "first_port");
        check(self.nat_table_size != new.nat_table_size, "nat_table_size");
        check(
            self.nat_session_mappings != new.nat_session_mappings,
            "nat_session_mappings",
        );
        check(self.mss_clamp != new.mss_clamp, "mss_clamp");
        check(self.spread != new.spread, "spread");
        check(
            self.v6.prefix_pool != new.v6.prefix_pool,
            "ipv6_prefix_pool",
        );
        check(
            self.v6.delegated_pool != new.v6.delegated_pool
                || self.v6.delegated_length != new.v6.delegated_length,
            "ipv6_delegated_pool/ipv6_delegated_length",
        );
        check(self.v6.proxy_nd != new.v6.proxy_nd, "ipv6_proxy_nd");
        check(self.access_allow != new.access_allow, "access_allow");
        check(
            self.isolate_subscribers != new.isolate_subscribers,
            "isolate_subscribers",
        );
        check(
            self.discovery.max_payload != new.discovery.max_payload,
            "max_payload",
        );
        check(self.link.mru != new.link.mru, "mru");
        check(self.metrics_listen != new.metrics_listen, "metrics_listen");
        check(
            self.aaa != new.aaa,
            "the RADIUS and accounting keys (auth_sources, radius servers, accounting_log, …)",
        );
        check(
            self.nat_udp_timeout != new.nat_udp_timeout,
            "nat_udp_timeout",
        );
        check(
            self.nat_tcp_timeout != new.nat_tcp_timeout,
            "nat_tcp_timeout",
        );
        check(
            self.nat_icmp_timeout != new.nat_icmp_timeout,
            "nat_icmp_timeout",
        );
        check(
            self.nat_tcp_transitory_timeout != new.nat_tcp_transitory_timeout,
            "nat_tcp_transitory_timeout",
        );
        out
    }
}

impl Config {
    /// Reads, checks and returns the config file (no command-line flags).
    pub fn load(path: &Path) -> Result<Config, ConfigError> {
        Config::resolve(Some(path), Overrides::default())
    }

    /// Parses config text; `origin` names it in errors, relative secrets
    /// paths are taken relative to `dir`.
    pub fn parse(
        text: &str,
        origin: &str,
        dir: &Path,
        overrides: Overrides,
    ) -> Result<Config, ConfigError> {
        let src = Source {
            origin: origin.to_string(),
            text: text.to_string(),
            dir: dir.to_path_buf(),
        };
        let raw: Raw = toml::from_str(text).map_err(|e| {
            let (line, column) = e.span().map_or((1, 1), |s| src.line_col(s.start));
            ConfigError::At {
                origin: origin.to_string(),
                line,
                column: Some(column),
                message: rewrite_toml_message(e.message()),
            }
        })?;
        Config::build(Some(&src), raw, overrides)
    }

    /// The file (if any) with the flags on top; defaults for the rest; all
    /// checked. Missing interfaces → an error naming the key and the flag.
    pub fn resolve(file: Option<&Path>, overrides: Overrides) -> Result<Config, ConfigError> {
        let Some(path) = file else {
            return Config::build(None, Raw::default(), overrides);
        };
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            what: "config file",
            source,
        })?;
        let dir = path.parent().unwrap_or(Path::new("."));
        let mut cfg = Config::parse(&text, &path.display().to_string(), dir, overrides)?;
        cfg.source = Some(path.to_path_buf());
        Ok(cfg)
    }

    fn build(src: Option<&Source>, mut raw: Raw, o: Overrides) -> Result<Config, ConfigError> {
        let r = Resolver { src, flags: &o };
        let mut cfg = Config::default();
        access::interfaces(&r, &mut raw, &mut cfg)?;
        users::resolve(&r, &mut raw, &mut cfg)?;
        link::resolve(&r, &mut raw, &mut cfg)?;
        access::limits(&r, &mut raw, &mut cfg)?;
        nat::resolve(&r, &mut raw, &mut cfg)?;
        cfg.v6 = v6::resolve(&r, &mut raw, &cfg.v6)?;
        ops::resolve(&r, &mut raw, &mut cfg)?;
        cfg.aaa = aaa::resolve(&r, &mut raw)?;
        users::inline(&r, &mut raw, &mut cfg)?;
        Ok(cfg)
    }

    /// Legal but questionable settings, for the daemon to log at startup:
    /// NAT timers below the RFC minimums (fine in a lab, not in service).
    pub fn warnings(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.nat {
            for (key, value, min, rfc) in [
                (
                    "nat_udp_timeout",
                    self.nat_udp_timeout,
                    120,
                    "RFC 4787 REQ-5",
                ),
                (
                    "nat_tcp_timeout",
                    self.nat_tcp_timeout,
                    7440,
                    "RFC 5382 REQ-5",
                ),
                (
                    "nat_icmp_timeout",
                    self.nat_icmp_timeout,
                    60,
                    "RFC 5508 REQ-1",
                ),
            ] {
                if value < min {
                    out.push(format!(
                        "{key} = {value} is below the {min} s minimum of {rfc}; idle flows will break"
                    ));
                }
            }
        }
        if self.link.echo_interval.is_zero() {
            out.push(
                "lcp_echo_interval = 0: dead CPEs are only noticed when they send PADT".to_string(),
            );
        }
        out
    }
}
