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

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::net::Ipv4Addr;
use std::ops::{Range, RangeInclusive};
use std::path::{Path, PathBuf};
use std::str::FromStr;

use serde::Deserialize;
use toml::Spanned;

use crate::auth::{parse_address_word, Entry, Secret, Secrets};
use crate::discovery::{RateLimit, VlanRule};
use crate::pool::{Pool, PoolRange};
use crate::ppp::AuthProto;

pub mod aaa;
pub use aaa::AaaConfig;

/// A configuration (or secrets) error. `Display` gives the place first:
/// `file:line[:column]: what is wrong; how to fix it`.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A file could not be read.
    #[error("{}: cannot read {what}: {source}", .path.display())]
    Read {
        path: PathBuf,
        /// "config file", "secrets file".
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    /// Something at a known line of a file is wrong.
    #[error("{origin}:{line}{}: {message}", column_suffix(.column))]
    At {
        origin: String,
        line: usize,
        column: Option<usize>,
        message: String,
    },
    /// Something without a line: a command-line value, a missing setting.
    #[error("{origin}: {message}")]
    Invalid { origin: String, message: String },
}

fn column_suffix(column: &Option<usize>) -> String {
    column.map(|c| format!(":{c}")).unwrap_or_default()
}

/// How the XDP programs are attached (`xdp_mode`); defined by the data plane.
pub use crate::dataplane::XdpMode;

impl FromStr for XdpMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(XdpMode::Auto),
            "native" | "driver" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(r#"unknown XDP mode; use "auto", "native" or "generic""#.to_string()),
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// Parses an `auth` word: `"chap"` (CHAP with MD5, RFC 1994) or `"pap"` (RFC 1334).
pub fn parse_auth_proto(s: &str) -> Result<AuthProto, String> {
    match s.to_ascii_lowercase().as_str() {
        "chap" | "chap-md5" => Ok(AuthProto::Chap),
        "pap" => Ok(AuthProto::Pap),
        _ => Err(
            r#"unknown auth method; use "chap" or "pap" (MS-CHAP is not supported)"#.to_string(),
        ),
    }
}

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
    /// Line of the `name` key in the config file, for error messages.
    pub line: usize,
}

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
    /// AC-Name tag in PADO/PADS (RFC 2516 §5.2) and the server name matched
    /// against the secrets' server field (pppoe-server `-C`). Default
    /// `"pppoe-bras"`. Flag `--ac-name`.
    pub ac_name: String,
    /// Service-Names offered (pppoe-server `-S`); empty → accept any
    /// requested service. Default `[]`. Flag `--service-name` (repeatable).
    pub service_names: Vec<String>,
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
    /// MRU we ask for in LCP (RFC 1661 §6.1), 64–1500. Default 1492
    /// (1500 − 8 bytes of PPPoE, RFC 2516 §7).
    pub mru: u16,
    /// Largest PPP-Max-Payload we accept (RFC 4638), 1492–9000; 0 disables
    /// RFC 4638 (the MRU then stays at most 1492). Default 1500.
    pub max_payload: u16,
    /// Seconds between LCP Echo-Requests (RFC 1661 §5.8); 0 disables.
    /// Default 10. Flag `--lcp-echo-interval` (pppd `lcp-echo-interval`).
    pub lcp_echo_interval: u32,
    /// Unanswered Echo-Requests before the link is declared dead, ≥ 1.
    /// Default 3. Flag `--lcp-echo-failure` (pppd `lcp-echo-failure`).
    pub lcp_echo_failure: u32,
    /// Seconds the peer has to authenticate after LCP opens. Default 30.
    pub auth_timeout: u32,
    /// Restart timer in seconds (RFC 1661 §4.6). Default 3.
    pub restart_timer: u32,
    /// Max-Configure (RFC 1661 §4.6). Default 10.
    pub max_configure: u32,
    /// Max-Failure (RFC 1661 §4.6). Default 5.
    pub max_failure: u32,
    /// Max-Terminate (RFC 1661 §4.6). Default 2.
    pub max_terminate: u32,
    /// Most concurrent sessions, 1–65534 (PPPoE session ids 1–0xFFFE).
    /// Default 65534. Flag `--max-sessions` (pppoe-server `-N`).
    pub max_sessions: u32,
    /// Most concurrent sessions from one client MAC. Default 16.
    pub max_sessions_per_mac: u32,
    /// PADI rate per client MAC (and VLAN tags), a token bucket: `"10/s"`,
    /// `"10/s burst 20"`, or `"off"`. Excess PADIs are dropped and counted
    /// (`discovery.drop_rate_mac`). Default `"10/s burst 20"`.
    pub padi_rate_per_mac: Option<RateLimit>,
    /// PADI rate over all clients, same syntax. Default `"off"`.
    pub padi_rate_total: Option<RateLimit>,
    /// Milliseconds to wait before answering a PADI (0–30000), so that in a
    /// segment with several BRASes the one without delay wins. Default 0.
    pub pado_delay_ms: u32,
    /// Most concurrent sessions on one VLAN tag stack (single tag, or
    /// outer.inner pair; untagged sessions are not counted); 0 = no limit.
    /// Default 0.
    pub max_sessions_per_vlan: u32,
    /// VLANs served; PPPoE on any other tag stack is ignored. Entries:
    /// `"any"`, `"untagged"`, `"100"`, `"100-199"` or `"*"` (one tag),
    /// `"200.10-20"`, `"200.*"` (QinQ outer.inner; 802.1ad or 802.1Q
    /// outer). Default `[]` = everything.
    pub vlans: Vec<VlanRule>,
    /// Seconds between CHAP re-challenges of an established session
    /// (RFC 1994 §2.3; a wrong answer ends the session); 0 = off. Default 0.
    pub chap_rechallenge_interval: u32,
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
            ac_name: "pppoe-bras".to_string(),
            service_names: Vec::new(),
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
            mru: 1492,
            max_payload: 1500,
            lcp_echo_interval: 10,
            lcp_echo_failure: 3,
            auth_timeout: 30,
            restart_timer: 3,
            max_configure: 10,
            max_failure: 5,
            max_terminate: 2,
            max_sessions: 65534,
            max_sessions_per_mac: 16,
            padi_rate_per_mac: Some(RateLimit {
                per_sec: 10,
                burst: 20,
            }),
            padi_rate_total: None,
            pado_delay_ms: 0,
            max_sessions_per_vlan: 0,
            vlans: Vec::new(),
            chap_rechallenge_interval: 0,
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

/// Values set on the command line; each wins over the file. Text values
/// are checked by [`Config::resolve`] with the same rules (and messages) as
/// the file, so the CLI can pass them through as strings. The flag names in
/// messages are the field names in kebab case (`--access-interface`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Overrides {
    pub access_interface: Option<String>,
    pub uplink_interface: Option<String>,
    pub local_address: Option<String>,
    pub ac_name: Option<String>,
    pub service_names: Option<Vec<String>>,
    pub secrets: Option<Vec<PathBuf>>,
    pub pool: Option<Vec<String>>,
    pub dns: Option<Vec<String>>,
    pub nbns: Option<Vec<String>>,
    pub auth: Option<Vec<String>>,
    pub lcp_echo_interval: Option<u32>,
    pub lcp_echo_failure: Option<u32>,
    pub max_sessions: Option<u32>,
    pub nat: Option<bool>,
    pub pin_dir: Option<PathBuf>,
    pub xdp_mode: Option<String>,
    pub public_address: Option<String>,
}

type S<T> = Option<Spanned<T>>;
type SList = Option<Spanned<Vec<Spanned<String>>>>;

/// The file as written, with spans for error messages.
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Raw {
    access_interface: S<String>,
    uplink_interface: S<String>,
    local_address: S<String>,
    ac_name: S<String>,
    service_names: SList,
    secrets: SList,
    auth: SList,
    pool: SList,
    pools: Option<BTreeMap<String, Spanned<Vec<Spanned<String>>>>>,
    dns: SList,
    nbns: SList,
    mru: S<i64>,
    max_payload: S<i64>,
    lcp_echo_interval: S<i64>,
    lcp_echo_failure: S<i64>,
    auth_timeout: S<i64>,
    restart_timer: S<i64>,
    max_configure: S<i64>,
    max_failure: S<i64>,
    max_terminate: S<i64>,
    max_sessions: S<i64>,
    max_sessions_per_mac: S<i64>,
    padi_rate_per_mac: S<String>,
    padi_rate_total: S<String>,
    pado_delay_ms: S<i64>,
    max_sessions_per_vlan: S<i64>,
    vlans: SList,
    chap_rechallenge_interval: S<i64>,
    nat: S<bool>,
    public_address: S<String>,
    public_addresses: SList,
    mss_clamp: S<bool>,
    access_allow: SList,
    isolate_subscribers: S<bool>,
    metrics_listen: S<String>,
    metrics_per_session: S<bool>,
    log_format: S<String>,
    spread: S<bool>,
    ipv4: S<bool>,
    ipv6: S<bool>,
    ipv6_prefix_pool: S<String>,
    ipv6_delegated_pool: S<String>,
    ipv6_delegated_length: S<i64>,
    dns6: SList,
    ipv6_ra_interval: S<i64>,
    ipv6_router_lifetime: S<i64>,
    ipv6_ra_managed: S<bool>,
    ipv6_valid_lifetime: S<i64>,
    ipv6_preferred_lifetime: S<i64>,
    dhcpv6_ia_na: S<bool>,
    ipv6_proxy_nd: S<bool>,
    port_block_size: S<i64>,
    first_port: S<i64>,
    nat_table_size: S<i64>,
    nat_session_mappings: S<i64>,
    nat_udp_timeout: S<i64>,
    nat_tcp_timeout: S<i64>,
    nat_icmp_timeout: S<i64>,
    nat_tcp_transitory_timeout: S<i64>,
    pin_dir: S<String>,
    xdp_mode: S<String>,
    users: Option<Vec<RawUser>>,
    accounting_log: S<String>,
    acct_interim_interval: S<i64>,
    auth_sources: SList,
    radius_servers: Option<Vec<aaa::RawRadiusServer>>,
    nas_identifier: S<String>,
    dae_listen: S<String>,
    dae_clients: Option<Vec<aaa::RawDaeClient>>,
    dae_replay_window: S<i64>,
    radius_max_outstanding: S<i64>,
    radius_dead_time: S<i64>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawUser {
    name: Spanned<String>,
    password: Spanned<String>,
    address: S<String>,
}

/// The config file's text, for turning spans into lines.
struct Source {
    origin: String,
    text: String,
    dir: PathBuf,
}

impl Source {
    fn line_col(&self, offset: usize) -> (usize, usize) {
        let before = self.text.get(..offset).unwrap_or(&self.text);
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        (line, col)
    }
}

/// Where a value came from, to blame it.
#[derive(Clone)]
enum Place<'a> {
    File {
        src: &'a Source,
        span: Range<usize>,
        key: &'static str,
    },
    Flag(&'static str),
}

impl Place<'_> {
    /// `"{key} {value}: {problem}"` at the value's line, or on the flag.
    fn bad(&self, value: impl fmt::Debug, problem: impl fmt::Display) -> ConfigError {
        match self {
            Place::File { src, span, key } => ConfigError::At {
                origin: src.origin.clone(),
                line: src.line_col(span.start).0,
                column: None,
                message: format!("{key} {value:?}: {problem}"),
            },
            Place::Flag(flag) => ConfigError::Invalid {
                origin: "command line".to_string(),
                message: format!("{flag} {value:?}: {problem}"),
            },
        }
    }
}

/// `--flag` naming of a key.
fn flag_name(key: &'static str) -> &'static str {
    match key {
        "access_interface" => "--access-interface",
        "uplink_interface" => "--uplink-interface",
        "local_address" => "--local-address",
        "ac_name" => "--ac-name",
        "service_names" => "--service-name",
        "secrets" => "--secrets",
        "pool" => "--pool",
        "dns" => "--dns",
        "nbns" => "--nbns",
        "auth" => "--auth",
        "lcp_echo_interval" => "--lcp-echo-interval",
        "lcp_echo_failure" => "--lcp-echo-failure",
        "max_sessions" => "--max-sessions",
        "nat" => "--no-nat",
        "pin_dir" => "--pin-dir",
        "xdp_mode" => "--xdp-mode",
        "public_address" => "--public-address",
        _ => "(no flag)",
    }
}

/// List items, each with where it was written.
type Placed<'a> = Vec<(String, Place<'a>)>;

/// The file's `ipv4`/`ipv6` and IPv6 keys.
struct RawV6 {
    ipv4: S<bool>,
    ipv6: S<bool>,
    ipv6_prefix_pool: S<String>,
    ipv6_delegated_pool: S<String>,
    ipv6_delegated_length: S<i64>,
    dns6: SList,
    ipv6_ra_interval: S<i64>,
    ipv6_router_lifetime: S<i64>,
    ipv6_ra_managed: S<bool>,
    ipv6_valid_lifetime: S<i64>,
    ipv6_preferred_lifetime: S<i64>,
    dhcpv6_ia_na: S<bool>,
    ipv6_proxy_nd: S<bool>,
}

/// The `ipv4`/`ipv6` and IPv6 keys (no flags).
fn resolve_v6(
    r: &Resolver<'_>,
    mut raw: RawV6,
    d: &crate::v6::V6Settings,
) -> Result<crate::v6::V6Settings, ConfigError> {
    use crate::v6::pool6::parse_prefix;
    let flag =
        |r: &Resolver<'_>, key, v: S<bool>, d: bool| r.scalar(key, None, v).map_or(d, |(v, _)| v);
    let ipv4 = flag(r, "ipv4", raw.ipv4.take(), d.ipv4);
    let ipv6 = flag(r, "ipv6", raw.ipv6.take(), d.ipv6);
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
        match r.scalar(key, None, v) {
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
        None,
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
    let dns6 = match r.list("dns6", None, raw.dns6.take()) {
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
    let secs =
        |key, v: S<i64>, d: u32, range: RangeInclusive<i64>| r.int(key, None, v, d, range, "");
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
        ),
        valid_lifetime,
        preferred_lifetime,
        dhcpv6_ia_na: flag(r, "dhcpv6_ia_na", raw.dhcpv6_ia_na.take(), d.dhcpv6_ia_na),
        proxy_nd: flag(r, "ipv6_proxy_nd", raw.ipv6_proxy_nd.take(), d.proxy_nd),
    })
}

fn raw_span<T>(v: &S<T>) -> Option<Range<usize>> {
    v.as_ref().map(|s| s.span())
}

/// Checks and builds one value from the flag (wins) or the file.
struct Resolver<'a> {
    src: Option<&'a Source>,
}

impl<'a> Resolver<'a> {
    fn file_place(&self, span: Range<usize>, key: &'static str) -> Option<Place<'a>> {
        self.src.map(|src| Place::File { src, span, key })
    }

    /// A scalar from the flag or the file, with its place.
    fn scalar<T>(&self, key: &'static str, flag: Option<T>, file: S<T>) -> Option<(T, Place<'a>)> {
        if let Some(v) = flag {
            return Some((v, Place::Flag(flag_name(key))));
        }
        let file = file?;
        let place = self.file_place(file.span(), key)?;
        Some((file.into_inner(), place))
    }

    /// A list from the flag or the file; every item with its place. The
    /// list's own place too (for "too many entries").
    fn list(
        &self,
        key: &'static str,
        flag: Option<Vec<String>>,
        file: SList,
    ) -> Option<(Placed<'a>, Place<'a>)> {
        if let Some(v) = flag {
            let p = Place::Flag(flag_name(key));
            return Some((v.into_iter().map(|s| (s, p.clone())).collect(), p));
        }
        let file = file?;
        let whole = self.file_place(file.span(), key)?;
        let items = file
            .into_inner()
            .into_iter()
            .filter_map(|s| {
                let place = self.file_place(s.span(), key)?;
                Some((s.into_inner(), place))
            })
            .collect();
        Some((items, whole))
    }

    fn int<T: TryFrom<i64>>(
        &self,
        key: &'static str,
        flag: Option<u32>,
        file: S<i64>,
        default: T,
        range: RangeInclusive<i64>,
        hint: &str,
    ) -> Result<T, ConfigError> {
        let Some((v, place)) = self.scalar(key, flag.map(i64::from), file) else {
            return Ok(default);
        };
        if !range.contains(&v) {
            return Err(place.bad(
                v,
                format!("must be from {} to {}{hint}", range.start(), range.end()),
            ));
        }
        T::try_from(v).map_err(|_| place.bad(v, "out of range"))
    }

    fn string(
        &self,
        key: &'static str,
        flag: Option<String>,
        file: S<String>,
        check: fn(&str) -> Result<(), String>,
    ) -> Result<Option<(String, Place<'a>)>, ConfigError> {
        let Some((v, place)) = self.scalar(key, flag, file) else {
            return Ok(None);
        };
        check(&v).map_err(|e| place.bad(&v, e))?;
        Ok(Some((v, place)))
    }

    fn addr(
        &self,
        key: &'static str,
        flag: Option<String>,
        file: S<String>,
    ) -> Result<Option<Ipv4Addr>, ConfigError> {
        let Some((v, place)) = self.scalar(key, flag, file) else {
            return Ok(None);
        };
        unicast(&v).map(Some).map_err(|e| place.bad(&v, e))
    }

    fn addr_list(
        &self,
        key: &'static str,
        flag: Option<Vec<String>>,
        file: SList,
        default: Vec<Ipv4Addr>,
        max: usize,
    ) -> Result<Vec<Ipv4Addr>, ConfigError> {
        let Some((items, whole)) = self.list(key, flag, file) else {
            return Ok(default);
        };
        if items.len() > max {
            let shown: Vec<&str> = items.iter().map(|(s, _)| s.as_str()).collect();
            let what = if max == 2 {
                "servers (primary and secondary, RFC 1877)"
            } else {
                "addresses"
            };
            return Err(whole.bad(shown, format!("at most {max} {what}; remove the rest")));
        }
        items
            .into_iter()
            .map(|(s, place)| unicast(&s).map_err(|e| place.bad(&s, e)))
            .collect()
    }
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

/// A host address to hand out (DNS, NBNS, our own): the message says how
/// to fix anything else.
pub(crate) fn unicast(s: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = s
        .trim()
        .parse()
        .map_err(|_| "not an IPv4 address; write it like 172.16.0.254".to_string())?;
    if a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] >= 240
    {
        return Err("not a unicast address; write a host address like 172.16.0.254".to_string());
    }
    Ok(a)
}

fn check_ifname(s: &str) -> Result<(), String> {
    // IFNAMSIZ is 16 with the NUL; the kernel also refuses "/", ":" and blanks.
    if s.is_empty()
        || s.len() > 15
        || s == "."
        || s == ".."
        || s.contains(['/', ':'])
        || s.contains(char::is_whitespace)
    {
        return Err("not a network interface name; write one like \"eth1\" (1 to 15 characters, no /, : or blanks)".to_string());
    }
    Ok(())
}

fn check_tag_text(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 bytes long".to_string());
    }
    Ok(())
}

/// Known keys, for the unknown-key message.
const KEYS: &[&str] = &[
    "access_interface",
    "uplink_interface",
    "local_address",
    "ac_name",
    "service_names",
    "secrets",
    "auth",
    "pool",
    "pools",
    "dns",
    "nbns",
    "mru",
    "max_payload",
    "lcp_echo_interval",
    "lcp_echo_failure",
    "auth_timeout",
    "restart_timer",
    "max_configure",
    "max_failure",
    "max_terminate",
    "max_sessions",
    "max_sessions_per_mac",
    "padi_rate_per_mac",
    "padi_rate_total",
    "pado_delay_ms",
    "max_sessions_per_vlan",
    "vlans",
    "chap_rechallenge_interval",
    "nat",
    "public_address",
    "public_addresses",
    "mss_clamp",
    "access_allow",
    "isolate_subscribers",
    "metrics_listen",
    "metrics_per_session",
    "log_format",
    "spread",
    "ipv4",
    "ipv6",
    "ipv6_prefix_pool",
    "ipv6_delegated_pool",
    "ipv6_delegated_length",
    "dns6",
    "ipv6_ra_interval",
    "ipv6_router_lifetime",
    "ipv6_ra_managed",
    "ipv6_valid_lifetime",
    "ipv6_preferred_lifetime",
    "dhcpv6_ia_na",
    "ipv6_proxy_nd",
    "port_block_size",
    "first_port",
    "nat_table_size",
    "nat_session_mappings",
    "nat_udp_timeout",
    "nat_tcp_timeout",
    "nat_icmp_timeout",
    "nat_tcp_transitory_timeout",
    "pin_dir",
    "xdp_mode",
    "users",
    "accounting_log",
    "acct_interim_interval",
    "auth_sources",
    "radius_servers",
    "nas_identifier",
    "dae_listen",
    "dae_clients",
    "dae_replay_window",
    "radius_max_outstanding",
    "radius_dead_time",
];

/// The `access_allow` bit of one word (`arp`, `lldp`, …).
fn access_allow_bit(word: &str) -> Result<u32, String> {
    use pppoe_bras_common::maps::access_allow::WORDS;
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word.trim()))
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            let known: Vec<&str> = WORDS.iter().map(|(w, _)| *w).collect();
            format!("unknown frame kind; use some of {}", known.join(", "))
        })
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
            .map(crate::pppd_options::PppdOptions::load)
            .transpose()?;
        let mut overrides = self.overrides.clone();
        // Precedence: config file < pppd options file (-O) < flags.
        if let Some(p) = &pppd {
            overrides.auth = overrides.auth.or_else(|| p.auth.clone());
            overrides.lcp_echo_interval = overrides.lcp_echo_interval.or(p.lcp_echo_interval);
            overrides.lcp_echo_failure = overrides.lcp_echo_failure.or(p.lcp_echo_failure);
            if overrides.dns.is_none() && !p.dns.is_empty() {
                overrides.dns = Some(p.dns.iter().map(ToString::to_string).collect());
            }
            // ms-wins goes through the same validation as the --nbns flag.
            if overrides.nbns.is_none() && !p.nbns.is_empty() {
                overrides.nbns = Some(p.nbns.iter().map(ToString::to_string).collect());
            }
        }
        let mut cfg = Config::resolve(self.file.as_deref(), overrides)?;
        let mut warnings = Vec::new();
        if let Some(p) = pppd {
            cfg.mru = p.mru.unwrap_or(cfg.mru);
            warnings = p.warnings;
        }
        Ok((cfg, warnings))
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
        check(self.max_payload != new.max_payload, "max_payload");
        check(self.mru != new.mru, "mru");
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

/// Rewrites serde's phrasing into ours ("unknown key", "known keys are").
fn rewrite_toml_message(msg: &str) -> String {
    let msg = msg.trim_end();
    if let Some(rest) = msg.strip_prefix("unknown field `") {
        let name = rest.split('`').next().unwrap_or_default();
        let known = if rest.contains("`password`") {
            "name, password, address".to_string()
        } else {
            KEYS.join(", ")
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

    fn build(src: Option<&Source>, raw: Raw, o: Overrides) -> Result<Config, ConfigError> {
        let r = Resolver { src };
        let d = Config::default();
        let origin = src.map_or("command line".to_string(), |s| s.origin.clone());
        let missing = |key: &'static str, example: &str| {
            ConfigError::Invalid {
            origin: origin.clone(),
            message: format!(
                "{key} is not set; add `{key} = \"{example}\"` to the config file or pass {} {example}",
                flag_name(key)
            ),
        }
        };

        let access = r.string(
            "access_interface",
            o.access_interface,
            raw.access_interface,
            check_ifname,
        )?;
        let uplink = r.string(
            "uplink_interface",
            o.uplink_interface,
            raw.uplink_interface,
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

        let local_address = r
            .addr("local_address", o.local_address, raw.local_address)?
            .unwrap_or(d.local_address);
        let ac_name = r
            .string("ac_name", o.ac_name, raw.ac_name, check_tag_text)?
            .map_or(d.ac_name, |(v, _)| v);

        let service_names = match r.list("service_names", o.service_names, raw.service_names) {
            None => d.service_names,
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

        let secrets = match (o.secrets, raw.secrets) {
            (Some(v), _) => v,
            (None, Some(list)) => list
                .into_inner()
                .into_iter()
                .map(|s| {
                    let p = PathBuf::from(s.get_ref());
                    match src {
                        Some(src) if p.is_relative() => src.dir.join(p),
                        _ => p,
                    }
                })
                .collect(),
            (None, None) => d.secrets,
        };

        let auth = match r.list("auth", o.auth, raw.auth) {
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

        let pool = match r.list("pool", o.pool, raw.pool) {
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

        let pools = named_pools(&r, raw.pools, &pool)?;

        let dns = r.addr_list("dns", o.dns, raw.dns, d.dns, 2)?;
        let nbns = r.addr_list("nbns", o.nbns, raw.nbns, d.nbns, 2)?;

        let mru = r.int(
            "mru",
            None,
            raw.mru,
            d.mru,
            64..=1500,
            " (RFC 1661 MRU; 1492 suits PPPoE)",
        )?;
        let max_payload = match raw.max_payload {
            Some(v) if *v.get_ref() == 0 => 0,
            v => r.int(
                "max_payload",
                None,
                v,
                d.max_payload,
                1492..=9000,
                ", or 0 to disable RFC 4638",
            )?,
        };
        let lcp_echo_interval = r.int(
            "lcp_echo_interval",
            o.lcp_echo_interval,
            raw.lcp_echo_interval,
            d.lcp_echo_interval,
            0..=3600,
            " seconds (0 disables keepalives)",
        )?;
        let lcp_echo_failure = r.int(
            "lcp_echo_failure",
            o.lcp_echo_failure,
            raw.lcp_echo_failure,
            d.lcp_echo_failure,
            1..=1000,
            "; to disable keepalives set lcp_echo_interval = 0",
        )?;
        let auth_timeout = r.int(
            "auth_timeout",
            None,
            raw.auth_timeout,
            d.auth_timeout,
            1..=3600,
            " seconds",
        )?;
        let restart_timer = r.int(
            "restart_timer",
            None,
            raw.restart_timer,
            d.restart_timer,
            1..=60,
            " seconds (RFC 1661 default 3)",
        )?;
        let max_configure = r.int(
            "max_configure",
            None,
            raw.max_configure,
            d.max_configure,
            1..=255,
            " (RFC 1661 default 10)",
        )?;
        let max_failure = r.int(
            "max_failure",
            None,
            raw.max_failure,
            d.max_failure,
            1..=255,
            " (RFC 1661 default 5)",
        )?;
        let max_terminate = r.int(
            "max_terminate",
            None,
            raw.max_terminate,
            d.max_terminate,
            1..=255,
            " (RFC 1661 default 2)",
        )?;
        let max_sessions = r.int(
            "max_sessions",
            o.max_sessions,
            raw.max_sessions,
            d.max_sessions,
            1..=65534,
            " (PPPoE session ids are 1 to 0xFFFE)",
        )?;
        let max_sessions_per_mac = r.int(
            "max_sessions_per_mac",
            None,
            raw.max_sessions_per_mac,
            d.max_sessions_per_mac,
            1..=65534,
            "",
        )?;
        let rate = |key: &'static str, file: S<String>, default: Option<RateLimit>| match r
            .scalar(key, None, file)
        {
            None => Ok(default),
            Some((v, place)) => RateLimit::parse(&v).map_err(|e| place.bad(&v, e)),
        };
        let padi_rate_per_mac = rate(
            "padi_rate_per_mac",
            raw.padi_rate_per_mac,
            d.padi_rate_per_mac,
        )?;
        let padi_rate_total = rate("padi_rate_total", raw.padi_rate_total, d.padi_rate_total)?;
        let pado_delay_ms = r.int(
            "pado_delay_ms",
            None,
            raw.pado_delay_ms,
            d.pado_delay_ms,
            0..=30_000,
            " milliseconds",
        )?;
        let max_sessions_per_vlan = r.int(
            "max_sessions_per_vlan",
            None,
            raw.max_sessions_per_vlan,
            d.max_sessions_per_vlan,
            0..=65534,
            " (0 = no limit)",
        )?;
        let vlans = match r.list("vlans", None, raw.vlans) {
            None => d.vlans,
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
        let chap_rechallenge_interval = r.int(
            "chap_rechallenge_interval",
            None,
            raw.chap_rechallenge_interval,
            d.chap_rechallenge_interval,
            0..=86_400,
            " seconds (0 = off)",
        )?;
        let nat = r.scalar("nat", o.nat, raw.nat).map_or(d.nat, |(v, _)| v);
        let public_address = r.addr("public_address", o.public_address, raw.public_address)?;
        let public_addresses = r.addr_list(
            "public_addresses",
            None,
            raw.public_addresses,
            Vec::new(),
            256,
        )?;
        let mss_clamp = r
            .scalar("mss_clamp", None, raw.mss_clamp)
            .map_or(d.mss_clamp, |(v, _)| v);
        let spread = r
            .scalar("spread", None, raw.spread)
            .map_or(d.spread, |(v, _)| v);
        let v6 = resolve_v6(
            &r,
            RawV6 {
                ipv4: raw.ipv4,
                ipv6: raw.ipv6,
                ipv6_prefix_pool: raw.ipv6_prefix_pool,
                ipv6_delegated_pool: raw.ipv6_delegated_pool,
                ipv6_delegated_length: raw.ipv6_delegated_length,
                dns6: raw.dns6,
                ipv6_ra_interval: raw.ipv6_ra_interval,
                ipv6_router_lifetime: raw.ipv6_router_lifetime,
                ipv6_ra_managed: raw.ipv6_ra_managed,
                ipv6_valid_lifetime: raw.ipv6_valid_lifetime,
                ipv6_preferred_lifetime: raw.ipv6_preferred_lifetime,
                dhcpv6_ia_na: raw.dhcpv6_ia_na,
                ipv6_proxy_nd: raw.ipv6_proxy_nd,
            },
            &d.v6,
        )?;
        let access_allow = match r.list("access_allow", None, raw.access_allow) {
            None => d.access_allow,
            Some((items, _)) => {
                let mut bits = 0;
                for (s, place) in items {
                    bits |= access_allow_bit(&s).map_err(|e| place.bad(&s, e))?;
                }
                bits
            }
        };
        let isolate_subscribers = r
            .scalar("isolate_subscribers", None, raw.isolate_subscribers)
            .map_or(d.isolate_subscribers, |(v, _)| v);
        let metrics_listen = match r.scalar("metrics_listen", None, raw.metrics_listen) {
            None => d.metrics_listen,
            Some((v, place)) => Some(v.parse().map_err(|_| {
                place.bad(&v, "not an address:port; write e.g. \"127.0.0.1:9469\"")
            })?),
        };
        let metrics_per_session = r
            .scalar("metrics_per_session", None, raw.metrics_per_session)
            .map_or(d.metrics_per_session, |(v, _)| v);
        let log_json = match r.scalar("log_format", None, raw.log_format) {
            None => d.log_json,
            Some((v, _)) if v == "text" => false,
            Some((v, _)) if v == "json" => true,
            Some((v, place)) => return Err(place.bad(&v, "use \"text\" or \"json\"")),
        };
        let blame = [
            ("port_block_size", raw.port_block_size.clone()),
            ("first_port", raw.first_port.clone()),
        ]
        .into_iter()
        .find_map(|(key, v)| r.file_place(v?.span(), key));
        let port_block_size = r.int(
            "port_block_size",
            None,
            raw.port_block_size,
            d.port_block_size,
            1..=64512,
            "",
        )?;
        let first_port: u16 = r.int(
            "first_port",
            None,
            raw.first_port,
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
        let nat_table_size = r.int(
            "nat_table_size",
            None,
            raw.nat_table_size,
            d.nat_table_size,
            0..=(1 << 26),
            " mappings (0: auto)",
        )?;
        let nat_session_mappings = r.int(
            "nat_session_mappings",
            None,
            raw.nat_session_mappings,
            d.nat_session_mappings,
            0..=196_608,
            " mappings (0: 3 × port_block_size)",
        )?;
        let nat_udp_timeout = r.int(
            "nat_udp_timeout",
            None,
            raw.nat_udp_timeout,
            d.nat_udp_timeout,
            1..=604800,
            " seconds (RFC 4787: at least 120)",
        )?;
        let nat_tcp_timeout = r.int(
            "nat_tcp_timeout",
            None,
            raw.nat_tcp_timeout,
            d.nat_tcp_timeout,
            1..=604800,
            " seconds (RFC 5382: at least 7440)",
        )?;
        let nat_icmp_timeout = r.int(
            "nat_icmp_timeout",
            None,
            raw.nat_icmp_timeout,
            d.nat_icmp_timeout,
            1..=604800,
            " seconds (RFC 5508: at least 60)",
        )?;
        let nat_tcp_transitory_timeout = r.int(
            "nat_tcp_transitory_timeout",
            None,
            raw.nat_tcp_transitory_timeout,
            d.nat_tcp_transitory_timeout,
            1..=604800,
            " seconds (RFC 5382: at least 240)",
        )?;

        let pin_dir = match r.scalar(
            "pin_dir",
            o.pin_dir.map(|p| p.display().to_string()),
            raw.pin_dir,
        ) {
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
        let xdp_mode = match r.scalar("xdp_mode", o.xdp_mode, raw.xdp_mode) {
            None => d.xdp_mode,
            Some((v, place)) => v.parse().map_err(|e: String| place.bad(&v, e))?,
        };

        let aaa = aaa::resolve(
            &r,
            src,
            aaa::RawAaa {
                accounting_log: raw.accounting_log,
                acct_interim_interval: raw.acct_interim_interval,
                auth_sources: raw.auth_sources,
                radius_servers: raw.radius_servers,
                nas_identifier: raw.nas_identifier,
                dae_listen: raw.dae_listen,
                dae_clients: raw.dae_clients,
                dae_replay_window: raw.dae_replay_window,
                radius_max_outstanding: raw.radius_max_outstanding,
                radius_dead_time: raw.radius_dead_time,
            },
        )?;
        let mut users = Vec::new();
        let mut names = HashSet::new();
        for u in raw.users.unwrap_or_default() {
            let name_place = r.file_place(u.name.span(), "name");
            let line = src.map_or(0, |s| s.line_col(u.name.span().start).0);
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
            users.push(User {
                name,
                password: Secret::new(u.password.into_inner()),
                address,
                line,
            });
        }

        Ok(Config {
            access_interface,
            uplink_interface,
            local_address,
            ac_name,
            service_names,
            secrets,
            auth,
            pool,
            pools,
            dns,
            nbns,
            mru,
            max_payload,
            lcp_echo_interval,
            lcp_echo_failure,
            auth_timeout,
            restart_timer,
            max_configure,
            max_failure,
            max_terminate,
            max_sessions,
            max_sessions_per_mac,
            padi_rate_per_mac,
            padi_rate_total,
            pado_delay_ms,
            max_sessions_per_vlan,
            vlans,
            chap_rechallenge_interval,
            nat,
            public_address,
            public_addresses,
            mss_clamp,
            access_allow,
            isolate_subscribers,
            metrics_listen,
            metrics_per_session,
            log_json,
            spread,
            v6,
            port_block_size,
            first_port,
            nat_table_size,
            nat_session_mappings,
            nat_udp_timeout,
            nat_tcp_timeout,
            nat_icmp_timeout,
            nat_tcp_transitory_timeout,
            pin_dir,
            xdp_mode,
            users,
            aaa,
            source: None,
        })
    }

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
            all.push(Entry::new(
                Some(&u.name),
                None,
                u.password.clone(),
                u.address,
                &origin,
                u.line,
            ));
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
        if self.lcp_echo_interval == 0 {
            out.push(
                "lcp_echo_interval = 0: dead CPEs are only noticed when they send PADT".to_string(),
            );
        }
        out
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
    use super::*;
    use crate::auth::Verdict;
    use crate::ppp::Credential;

    const ORIGIN: &str = "config/bras.toml";

    fn parse(text: &str) -> Result<Config, ConfigError> {
        Config::parse(
            text,
            ORIGIN,
            Path::new("/etc/pppoe-bras"),
            Overrides::default(),
        )
    }

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    const IFACES: &str = "access_interface = \"eth1\"\nuplink_interface = \"eth0\"\n";

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

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    /// A scratch directory for file-based tests.
    fn scratch(name: &str) -> PathBuf {
        let d = std::env::temp_dir().join(format!("pppoe-bras-cfg-{}-{name}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn example_files_load_and_match_the_classic_bench() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/bras.toml");
        let cfg = Config::load(&path).unwrap();
        assert_eq!(cfg.access_interface, "eth1");
        assert_eq!(cfg.uplink_interface, "eth0");
        assert_eq!(cfg.local_address, a("172.16.0.254"));
        assert_eq!(cfg.auth, vec![AuthProto::Chap, AuthProto::Pap]);
        assert_eq!(cfg.pool, vec!["172.16.0.100-172.16.0.199".parse().unwrap()]);
        assert_eq!(cfg.dns, vec![a("192.0.2.53"), a("192.0.2.54")]);
        assert_eq!((cfg.lcp_echo_interval, cfg.lcp_echo_failure), (10, 2));
        assert_eq!(
            cfg.secrets,
            vec![path.parent().unwrap().join("chap-secrets")]
        );
        assert_eq!(cfg.source.as_deref(), Some(path.as_path()));
        let secrets = cfg.secrets().unwrap();
        assert_eq!(secrets.len(), 2);
        let pap = Credential::Pap {
            password: b"password".to_vec(),
        };
        assert_eq!(
            secrets.verify("testuser1", &cfg.ac_name, &pap),
            Verdict::Accept {
                static_address: Some(a("172.16.0.101"))
            }
        );
        let mut pool = cfg.build_pool(&secrets);
        assert_eq!(
            pool.allocate("testuser2", Some(a("172.16.0.102"))),
            Ok(a("172.16.0.102"))
        );
        // Dynamic users skip the testusers' reserved addresses.
        let mut got = Vec::new();
        while let Ok(x) = pool.allocate("guest", None) {
            got.push(x);
        }
        assert_eq!(got.len(), 98);
        assert!(!got.contains(&a("172.16.0.101")) && !got.contains(&a("172.16.0.254")));
    }

    #[test]
    fn minimal_file_gets_the_defaults() {
        let cfg = parse(IFACES).unwrap();
        let expected = Config {
            access_interface: "eth1".into(),
            uplink_interface: "eth0".into(),
            ..Config::default()
        };
        assert_eq!(cfg, expected);
        assert_eq!(cfg.secrets, vec![PathBuf::from("/etc/ppp/chap-secrets")]);
        assert_eq!(cfg.mru, 1492);
        assert_eq!(cfg.xdp_mode, XdpMode::Auto);
    }

    #[test]
    fn every_key_round_trips() {
        let text = r#"
access_interface = "ens1f0"
uplink_interface = "ens1f1"
local_address = "10.255.255.1"
ac_name = "BRAS-1"
service_names = ["internet", "voip"]
secrets = ["/etc/ppp/chap-secrets", "pap-secrets"]
auth = ["pap"]
pool = ["10.0.0.0/22", "10.1.0.10-10.1.0.20"]
dns = ["198.51.100.53"]
nbns = ["198.51.100.137", "198.51.100.138"]
mru = 1480
max_payload = 0
lcp_echo_interval = 0
lcp_echo_failure = 7
auth_timeout = 20
restart_timer = 2
max_configure = 9
max_failure = 4
max_terminate = 3
max_sessions = 1000
max_sessions_per_mac = 1
nat = false
public_address = "198.51.100.1"
public_addresses = ["198.51.100.1", "198.51.100.3"]
mss_clamp = false
access_allow = ["arp", "LLDP"]
isolate_subscribers = true
metrics_listen = "127.0.0.1:9469"
metrics_per_session = true
log_format = "json"
spread = false
port_block_size = 256
first_port = 2048
nat_table_size = 500000
nat_session_mappings = 600
nat_udp_timeout = 120
nat_tcp_timeout = 86400
nat_icmp_timeout = 30
nat_tcp_transitory_timeout = 300
pin_dir = "/sys/fs/bpf/bras2"
xdp_mode = "generic"

[[users]]
name = "lab1"
password = "secret one"
address = "10.9.0.1"

[[users]]
name = "lab2"
password = ""
address = "*"

[pools]
gold = ["10.9.1.0/24", "10.9.2.1-10.9.2.9"]
"#;
        let cfg = parse(text).unwrap();
        let expected = Config {
            access_interface: "ens1f0".into(),
            uplink_interface: "ens1f1".into(),
            local_address: a("10.255.255.1"),
            ac_name: "BRAS-1".into(),
            service_names: vec!["internet".into(), "voip".into()],
            secrets: vec![
                PathBuf::from("/etc/ppp/chap-secrets"),
                PathBuf::from("/etc/pppoe-bras/pap-secrets"),
            ],
            auth: vec![AuthProto::Pap],
            pool: vec![
                "10.0.0.1-10.0.3.254".parse().unwrap(),
                "10.1.0.10-10.1.0.20".parse().unwrap(),
            ],
            pools: vec![(
                "gold".into(),
                vec![
                    "10.9.1.0/24".parse().unwrap(),
                    "10.9.2.1-10.9.2.9".parse().unwrap(),
                ],
            )],
            dns: vec![a("198.51.100.53")],
            nbns: vec![a("198.51.100.137"), a("198.51.100.138")],
            mru: 1480,
            max_payload: 0,
            lcp_echo_interval: 0,
            lcp_echo_failure: 7,
            auth_timeout: 20,
            restart_timer: 2,
            max_configure: 9,
            max_failure: 4,
            max_terminate: 3,
            max_sessions: 1000,
            max_sessions_per_mac: 1,
            // Discovery/interop knobs: defaults here, own test below.
            padi_rate_per_mac: Config::default().padi_rate_per_mac,
            padi_rate_total: None,
            pado_delay_ms: 0,
            max_sessions_per_vlan: 0,
            vlans: vec![],
            chap_rechallenge_interval: 0,
            nat: false,
            public_address: Some(a("198.51.100.1")),
            public_addresses: vec![a("198.51.100.1"), a("198.51.100.3")],
            mss_clamp: false,
            access_allow: pppoe_bras_common::maps::access_allow::ARP
                | pppoe_bras_common::maps::access_allow::LLDP,
            isolate_subscribers: true,
            metrics_listen: Some("127.0.0.1:9469".parse().unwrap()),
            metrics_per_session: true,
            log_json: true,
            spread: false,
            v6: crate::v6::V6Settings::default(),
            port_block_size: 256,
            first_port: 2048,
            nat_table_size: 500_000,
            nat_session_mappings: 600,
            nat_udp_timeout: 120,
            nat_tcp_timeout: 86400,
            nat_icmp_timeout: 30,
            nat_tcp_transitory_timeout: 300,
            pin_dir: PathBuf::from("/sys/fs/bpf/bras2"),
            xdp_mode: XdpMode::Generic,
            users: vec![
                User {
                    name: "lab1".into(),
                    password: Secret::new("secret one"),
                    address: Some(a("10.9.0.1")),
                    line: 45,
                },
                User {
                    name: "lab2".into(),
                    password: Secret::new(""),
                    address: None,
                    line: 50,
                },
            ],
            aaa: AaaConfig::default(),
            source: None,
        };
        assert_eq!(cfg, expected);
        // Inline passwords stay out of Debug output.
        let dbg = format!("{cfg:?}");
        assert!(!dbg.contains("secret one") && dbg.contains("***"), "{dbg}");
    }

    #[test]
    fn toml_syntax_error_names_line_and_column() {
        let e = err("access_interface = \"eth1\"\nuplink_interface = \"eth0\"\nmru = = 3\n");
        assert!(e.starts_with("config/bras.toml:3:7: "), "{e}");
        let e = err("access_interface = \"eth1\nuplink_interface = \"eth0\"\n");
        assert!(e.starts_with("config/bras.toml:1:"), "{e}");
        assert!(!e.contains('\n'), "one line: {e}");
    }

    #[test]
    fn unknown_keys_are_named_with_the_known_ones() {
        let e = err(&format!("{IFACES}\n# comment\nlcp_echo_intervall = 5\n"));
        assert!(
            e.starts_with(
                "config/bras.toml:5:1: unknown key \"lcp_echo_intervall\"; known keys are "
            ),
            "{e}"
        );
        assert!(e.contains("lcp_echo_interval, lcp_echo_failure"), "{e}");
        let e = err(&format!(
            "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\nadress = \"10.0.0.1\"\n"
        ));
        assert!(e.starts_with("config/bras.toml:6:1: unknown key \"adress\"; known keys are name, password, address"), "{e}");
        let e = err(&format!("{IFACES}[[users]]\nname = \"u\"\n"));
        assert!(
            e.contains(":3:") && e.contains("missing key \"password\""),
            "{e}"
        );
    }

    #[test]
    fn wrong_types_name_the_line() {
        let e = err(&format!("{IFACES}mru = \"big\"\n"));
        assert!(
            e.starts_with(
                "config/bras.toml:3:7: wrong type: string \"big\", expected a whole number"
            ),
            "{e}"
        );
        let e = err(&format!("{IFACES}nat = \"yes\"\n"));
        assert!(e.starts_with("config/bras.toml:3:7: wrong type"), "{e}");
        let e = err(&format!("{IFACES}pool = [\n  \"10.0.0.1\",\n  42,\n]\n"));
        assert!(e.starts_with("config/bras.toml:5:3: wrong type"), "{e}");
    }

    #[test]
    fn reversed_pool_range_message_is_exact() {
        let text = format!("{IFACES}\n\n# pools\n\npool = [\"172.16.0.200-172.16.0.100\"]\n");
        assert_eq!(
            err(&text),
            "config/bras.toml:7: pool \"172.16.0.200-172.16.0.100\": range end is before its start; \
             write the lower address first"
        );
    }

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
            e.starts_with("config/bras.toml:4: pools \"172.16.0.150\": in pool \"gold\" overlaps `pool` range"),
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
    fn bad_addresses_name_the_key_and_line() {
        let e = err(&format!("{IFACES}local_address = \"172.16.0.2544\"\n"));
        assert_eq!(
            e,
            "config/bras.toml:3: local_address \"172.16.0.2544\": not an IPv4 address; write it like 172.16.0.254"
        );
        let e = err(&format!("{IFACES}\npublic_address = \"224.0.0.1\"\n"));
        assert!(
            e.starts_with("config/bras.toml:4: public_address \"224.0.0.1\": not a unicast"),
            "{e}"
        );
        let e = err(&format!("{IFACES}dns = [\"192.0.2.53\", \"192.0.2.x\"]\n"));
        assert!(
            e.starts_with("config/bras.toml:3: dns \"192.0.2.x\": not an IPv4"),
            "{e}"
        );
    }

    #[test]
    fn too_many_dns_servers() {
        let e = err(&format!(
            "{IFACES}dns = [\n \"192.0.2.1\",\n \"192.0.2.2\",\n \"192.0.2.3\"]\n"
        ));
        assert!(
            e.starts_with(
                "config/bras.toml:3: dns [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]: at most 2"
            ),
            "{e}"
        );
        let e = err(&format!(
            "{IFACES}nbns = [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]\n"
        ));
        assert!(e.starts_with("config/bras.toml:3: nbns"), "{e}");
        assert_eq!(
            parse(&format!("{IFACES}dns = []\n")).unwrap().dns,
            Vec::<Ipv4Addr>::new()
        );
    }

    #[test]
    fn numbers_out_of_range() {
        let e = err(&format!("{IFACES}mru = 9000\n"));
        assert!(
            e.starts_with("config/bras.toml:3: mru 9000: must be from 64 to 1500"),
            "{e}"
        );
        let e = err(&format!("{IFACES}\n\nlcp_echo_failure = 0\n"));
        assert!(
            e.starts_with("config/bras.toml:5: lcp_echo_failure 0: must be from 1 to 1000"),
            "{e}"
        );
        assert!(e.contains("set lcp_echo_interval = 0"), "{e}");
        let e = err(&format!("{IFACES}max_sessions = 65535\n"));
        assert!(
            e.starts_with("config/bras.toml:3: max_sessions 65535"),
            "{e}"
        );
        let e = err(&format!("{IFACES}max_payload = 1000\n"));
        assert!(
            e.contains(":3: max_payload 1000: must be from 1492 to 9000, or 0 to disable"),
            "{e}"
        );
        let e = err(&format!("{IFACES}restart_timer = -1\n"));
        assert!(e.starts_with("config/bras.toml:3: restart_timer -1"), "{e}");
        let e = err(&format!("{IFACES}first_port = 65200\n"));
        assert!(
            e.starts_with("config/bras.toml:3: first_port 65200 leaves no room"),
            "{e}"
        );
        let e = err(&format!(
            "{IFACES}port_block_size = 64512\nfirst_port = 2000\n"
        ));
        assert!(
            e.starts_with("config/bras.toml:3: first_port 2000 leaves no room"),
            "{e}"
        );
    }

    #[test]
    fn auth_and_xdp_mode_words() {
        let e = err(&format!("{IFACES}auth = [\"chap\", \"mschap\"]\n"));
        assert!(
            e.starts_with(
                "config/bras.toml:3: auth \"mschap\": unknown auth method; use \"chap\" or \"pap\""
            ),
            "{e}"
        );
        let e = err(&format!("{IFACES}auth = []\n"));
        assert!(
            e.starts_with("config/bras.toml:3: auth []: offer at least one"),
            "{e}"
        );
        let e = err(&format!("{IFACES}auth = [\"pap\", \"PAP\"]\n"));
        assert!(e.contains(":3: auth \"PAP\": listed twice"), "{e}");
        let e = err(&format!("{IFACES}xdp_mode = \"fast\"\n"));
        assert!(
            e.starts_with("config/bras.toml:3: xdp_mode \"fast\": unknown XDP mode"),
            "{e}"
        );
        assert_eq!(
            parse(&format!("{IFACES}xdp_mode = \"native\"\n"))
                .unwrap()
                .xdp_mode,
            XdpMode::Native
        );
    }

    #[test]
    fn interfaces_required_valid_and_distinct() {
        let e = err("uplink_interface = \"eth0\"\n");
        assert_eq!(
            e,
            "config/bras.toml: access_interface is not set; add `access_interface = \"eth1\"` \
             to the config file or pass --access-interface eth1"
        );
        let e = err("access_interface = \"eth1\"\n");
        assert!(
            e.contains("uplink_interface is not set") && e.contains("--uplink-interface"),
            "{e}"
        );
        let e = err("access_interface = \"eth1\"\nuplink_interface = \"eth1\"\n");
        assert!(
            e.starts_with(
                "config/bras.toml:2: uplink_interface \"eth1\": is also the access_interface"
            ),
            "{e}"
        );
        let e =
            err("access_interface = \"a-very-long-interface-name\"\nuplink_interface = \"eth1\"\n");
        assert!(
            e.starts_with("config/bras.toml:1: access_interface") && e.contains("1 to 15"),
            "{e}"
        );
    }

    #[test]
    fn other_validation_errors() {
        let e = err(&format!("{IFACES}service_names = [\"a\", \"\"]\n"));
        assert!(
            e.contains(":3: service_names \"\": empty service name"),
            "{e}"
        );
        let e = err(&format!("{IFACES}access_allow = [\"arp\", \"ipx\"]\n"));
        assert!(
            e.contains(":3: access_allow \"ipx\": unknown frame kind; use some of arp, lldp"),
            "{e}"
        );
        let e = err(&format!("{IFACES}log_format = \"xml\"\n"));
        assert!(
            e.contains(":3: log_format \"xml\": use \"text\" or \"json\""),
            "{e}"
        );
        let e = err(&format!("{IFACES}metrics_listen = \"9469\"\n"));
        assert!(
            e.contains(":3: metrics_listen \"9469\": not an address:port"),
            "{e}"
        );
        let e = err(&format!("{IFACES}pin_dir = \"bpf/x\"\n"));
        assert!(
            e.contains(":3: pin_dir \"bpf/x\": must be an absolute path"),
            "{e}"
        );
        let e = err(&format!(
            "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\naddress = \"-\"\n"
        ));
        assert!(e.starts_with("config/bras.toml:6: address \"-\": "), "{e}");
        let e = err(&format!(
            "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\n[[users]]\nname = \"u\"\npassword = \"q\"\n"
        ));
        assert!(
            e.starts_with("config/bras.toml:7: name \"u\": a [[users]] table with this name"),
            "{e}"
        );
    }

    #[test]
    fn flags_win_over_the_file() {
        let text = format!(
            "{IFACES}pool = [\"10.0.0.0/24\"]\nlcp_echo_interval = 30\nac_name = \"file\"\n"
        );
        let o = Overrides {
            access_interface: Some("veth-acc".into()),
            pool: Some(vec!["10.9.0.1-10.9.0.9".into()]),
            lcp_echo_interval: Some(5),
            dns: Some(vec![]),
            auth: Some(vec!["pap".into()]),
            nat: Some(false),
            xdp_mode: Some("skb".into()),
            secrets: Some(vec![PathBuf::from("rel/secrets")]),
            ..Overrides::default()
        };
        let cfg = Config::parse(&text, ORIGIN, Path::new("/etc/pppoe-bras"), o).unwrap();
        assert_eq!(cfg.access_interface, "veth-acc");
        assert_eq!(cfg.uplink_interface, "eth0");
        assert_eq!(cfg.pool, vec!["10.9.0.1-10.9.0.9".parse().unwrap()]);
        assert_eq!(cfg.lcp_echo_interval, 5);
        assert_eq!(cfg.ac_name, "file");
        assert_eq!(cfg.dns, Vec::<Ipv4Addr>::new());
        assert_eq!(cfg.auth, vec![AuthProto::Pap]);
        assert!(!cfg.nat);
        assert_eq!(cfg.xdp_mode, XdpMode::Generic);
        // Flag paths are taken as given (relative to the working directory).
        assert_eq!(cfg.secrets, vec![PathBuf::from("rel/secrets")]);
    }

    #[test]
    fn every_flag_wins() {
        let text = format!("{IFACES}max_sessions = 10\npublic_address = \"198.51.100.1\"\n");
        let o = Overrides {
            access_interface: Some("a0".into()),
            uplink_interface: Some("u0".into()),
            local_address: Some("10.0.0.254".into()),
            ac_name: Some("flag-ac".into()),
            service_names: Some(vec!["isp".into()]),
            secrets: Some(vec![PathBuf::from("/s")]),
            pool: Some(vec!["10.0.0.0/24".into()]),
            dns: Some(vec!["192.0.2.1".into(), "192.0.2.2".into()]),
            nbns: Some(vec!["192.0.2.137".into()]),
            auth: Some(vec!["pap".into(), "chap".into()]),
            lcp_echo_interval: Some(1),
            lcp_echo_failure: Some(9),
            max_sessions: Some(20),
            nat: Some(false),
            pin_dir: Some(PathBuf::from("/sys/fs/bpf/x")),
            xdp_mode: Some("native".into()),
            public_address: Some("198.51.100.2".into()),
        };
        let c = Config::parse(&text, ORIGIN, Path::new("/"), o).unwrap();
        assert_eq!(
            (c.access_interface.as_str(), c.uplink_interface.as_str()),
            ("a0", "u0")
        );
        assert_eq!(c.local_address, a("10.0.0.254"));
        assert_eq!(c.ac_name, "flag-ac");
        assert_eq!(c.service_names, vec!["isp".to_string()]);
        assert_eq!(c.secrets, vec![PathBuf::from("/s")]);
        assert_eq!(c.pool, vec!["10.0.0.1-10.0.0.254".parse().unwrap()]);
        assert_eq!(c.dns, vec![a("192.0.2.1"), a("192.0.2.2")]);
        assert_eq!(c.nbns, vec![a("192.0.2.137")]);
        assert_eq!(c.auth, vec![AuthProto::Pap, AuthProto::Chap]);
        assert_eq!(
            (c.lcp_echo_interval, c.lcp_echo_failure, c.max_sessions),
            (1, 9, 20)
        );
        assert!(!c.nat);
        assert_eq!(c.pin_dir, PathBuf::from("/sys/fs/bpf/x"));
        assert_eq!(c.xdp_mode, XdpMode::Native);
        assert_eq!(c.public_address, Some(a("198.51.100.2")));
    }

    #[test]
    fn warnings_for_lab_only_settings() {
        assert!(parse(IFACES).unwrap().warnings().is_empty());
        let c = parse(&format!(
            "{IFACES}nat_udp_timeout = 30\nlcp_echo_interval = 0\n"
        ))
        .unwrap();
        let w = c.warnings();
        assert_eq!(w.len(), 2, "{w:?}");
        assert!(w[0].starts_with("nat_udp_timeout = 30 is below the 120 s minimum of RFC 4787"));
    }

    #[test]
    fn flags_alone_make_a_config_and_bad_flags_are_named() {
        let o = Overrides {
            access_interface: Some("eth1".into()),
            uplink_interface: Some("eth0".into()),
            ..Overrides::default()
        };
        let cfg = Config::resolve(None, o.clone()).unwrap();
        assert_eq!(cfg.access_interface, "eth1");
        assert_eq!(cfg.source, None);
        let e = Config::resolve(
            None,
            Overrides {
                pool: Some(vec!["10.0.0.9-10.0.0.1".into()]),
                ..o.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert_eq!(
            e,
            "command line: --pool \"10.0.0.9-10.0.0.1\": range end is before its start; write the lower address first"
        );
        let e = Config::resolve(
            None,
            Overrides {
                lcp_echo_failure: Some(0),
                ..o.clone()
            },
        )
        .unwrap_err()
        .to_string();
        assert!(
            e.starts_with("command line: --lcp-echo-failure 0: must be from 1"),
            "{e}"
        );
        let e = Config::resolve(None, Overrides::default())
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("command line: access_interface is not set"),
            "{e}"
        );
        // A bad file value that a flag replaces is never looked at.
        let text = format!("{IFACES}local_address = \"nonsense\"\n");
        let fixed = Overrides {
            local_address: Some("10.0.0.1".into()),
            ..Overrides::default()
        };
        let cfg = Config::parse(&text, ORIGIN, Path::new("."), fixed).unwrap();
        assert_eq!(cfg.local_address, a("10.0.0.1"));
    }

    #[test]
    fn load_reports_a_missing_file() {
        let e = Config::load(Path::new("/nonexistent/bras.toml"))
            .unwrap_err()
            .to_string();
        assert!(
            e.starts_with("/nonexistent/bras.toml: cannot read config file: "),
            "{e}"
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

    /// NBNS from the command line (`--nbns`, or `ms-wins` of a `-O` file)
    /// is validated like `--dns`: the same rules, the same messages.
    #[test]
    fn nbns_flags_are_validated_like_dns_flags() {
        let with = |dns: &[&str], nbns: &[&str]| {
            let o = Overrides {
                dns: Some(dns.iter().map(|s| s.to_string()).collect()),
                nbns: Some(nbns.iter().map(|s| s.to_string()).collect()),
                ..Overrides::default()
            };
            Config::parse(IFACES, ORIGIN, Path::new("/"), o)
        };
        for bad in [
            "224.0.0.1",
            "0.0.0.0",
            "127.0.0.1",
            "192.0.2",
            "255.255.255.255",
        ] {
            let d = with(&[bad], &[]).unwrap_err().to_string();
            let n = with(&[], &[bad]).unwrap_err().to_string();
            assert!(n.starts_with("command line: --nbns"), "{n}");
            assert_eq!(n.replace("--nbns", "--dns"), d, "{bad}");
        }
        let e = with(&[], &["192.0.2.1", "192.0.2.2", "192.0.2.3"])
            .unwrap_err()
            .to_string();
        assert!(e.contains("at most 2"), "{e}");
        let c = with(&[], &["192.0.2.137", "192.0.2.138"]).unwrap();
        assert_eq!(c.nbns, vec![a("192.0.2.137"), a("192.0.2.138")]);
    }

    #[test]
    fn overrides_cannot_panic_on_odd_text() {
        for s in [
            "", " ", "\u{0}", "é", "1.2.3.4/", "-", "/", "1.2.3.4-", "--",
        ] {
            let o = Overrides {
                access_interface: Some(s.into()),
                uplink_interface: Some("eth0".into()),
                pool: Some(vec![s.into()]),
                dns: Some(vec![s.into()]),
                local_address: Some(s.into()),
                ..Overrides::default()
            };
            let _ = Config::resolve(None, o);
        }
    }

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
            cfg.padi_rate_per_mac,
            Some(RateLimit {
                per_sec: 5,
                burst: 8
            })
        );
        assert_eq!(
            cfg.padi_rate_total,
            Some(RateLimit {
                per_sec: 200,
                burst: 200
            })
        );
        assert_eq!(cfg.pado_delay_ms, 150);
        assert_eq!(cfg.max_sessions_per_vlan, 3);
        use crate::discovery::VidSet;
        assert_eq!(
            cfg.vlans,
            vec![
                VlanRule::Untagged,
                VlanRule::Single(VidSet::Range(100, 199)),
                VlanRule::Double(VidSet::Range(200, 200), VidSet::Range(10, 20)),
                VlanRule::Double(VidSet::Range(300, 300), VidSet::Any),
            ]
        );
        assert_eq!(cfg.chap_rechallenge_interval, 600);
        // Defaults: per-MAC PADI limit on, the rest off.
        let d = parse(base).unwrap();
        assert_eq!(
            d.padi_rate_per_mac.map(|r| (r.per_sec, r.burst)),
            Some((10, 20))
        );
        assert_eq!(d.padi_rate_total, None);
        assert!(d.vlans.is_empty());
        let off = parse(&format!("{base}padi_rate_per_mac = \"off\"\n")).unwrap();
        assert_eq!(off.padi_rate_per_mac, None);
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
