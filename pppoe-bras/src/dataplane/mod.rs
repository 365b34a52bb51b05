//! The only module that touches aya: load the XDP object, attach both
//! programs, pin the maps, fill and delete session rows, read counters and
//! expire idle NAT mappings.
//!
//! Map layouts and byte order are documented in `pppoe_bras_common::maps`.
//! The XDP programs create NAT mappings themselves (first outbound packet);
//! this module only expires them ([`Dataplane::expire_idle`]) and removes a
//! session's mappings at [`Dataplane::remove`].
//!
//! NAT port blocks (RFC 7422 style, RFC 6888 REQ-3/4 per-subscriber limit):
//! every public address is cut into blocks of `port_block_size` ports from
//! `first_port` on, leaving out every block that overlaps the host's own
//! ephemeral ports (`net.ipv4.ip_local_port_range`, read at start), so a
//! mapping can never capture a reply meant for one of the host's sockets. A
//! session gets one block on one address (paired pooling, RFC 4787 REQ-2);
//! capacity = addresses × blocks per address. Freed blocks go to the back of
//! the queue and are not handed out again for [`BLOCK_REUSE_DELAY`]
//! (RFC 6888 REQ-11... "wait ≥ 120 s before reuse").
//!
//! Lifecycle: [`Dataplane::start`] → [`Dataplane::install`] /
//! [`Dataplane::remove`] per session → [`Dataplane::shutdown`] (also run,
//! best effort, on `Drop`, so a daemon crash path never leaves XDP attached
//! or pins behind).

mod blocks;
pub mod capture;
mod nic;
mod sys;

use std::{
    collections::HashMap as StdHashMap,
    net::Ipv4Addr,
    os::fd::AsFd as _,
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use aya::{
    maps::{
        lpm_trie::{Key as LpmKey, LpmTrie},
        Array, CpuMap, HashMap, Map, MapData, MapError, PerCpuArray, PerCpuValues,
    },
    programs::{
        links::{FdLink, PinnedLink},
        xdp::{XdpLink, XdpLinkId, XdpMode as AyaXdpMode},
        ProgramError, TestRun, TestRunOptions, Xdp,
    },
    Ebpf, EbpfLoader,
};
pub use blocks::{layout_blocks, BLOCK_REUSE_DELAY};
use blocks::{Claim, PortBlocks, SessionIds, Slots};
pub use nic::{
    decide as decide_xdp_mode, Decision as XdpDecision, Facts as NicFacts, Target as RedirectTarget,
};
pub use pppoe_bras_common::maps::PIN_DIR;
use pppoe_bras_common::{
    maps::{
        names, programs, tcp_established, Config, NatFreed, NatKey, NatSlot, NatValue, NeighMiss,
        Session6, SessionCounters as RawCounters, SessionEntry, SessionKey, SessionValue,
        Subscriber, CONFIG6_F_ENABLED, CONFIG_F_ENABLED, CONFIG_F_ISOLATE, CONFIG_F_MSS_CLAMP,
        CONFIG_F_ROUTED, CONFIG_F_SPREAD, MAX_CPUS, MAX_NAT, MAX_SESSIONS, SESSION_F_NAT,
    },
    nat,
    proto::{ETH_P_8021AD, ETH_P_8021Q, IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP},
    stats::Stat,
};
pub use sys::{monotonic_ns, parse_port_range};

/// Largest NAT table `nat_table_size = 0` (auto) picks by itself (each
/// mapping costs about 128 bytes of kernel memory over both maps, allocated
/// at start); a larger one must be asked for explicitly.
pub const NAT_TABLE_AUTO_MAX: u32 = 1 << 20;

/// Entries one [`Dataplane::expire_step`] call visits at most by default:
/// one `BPF_MAP_LOOKUP_BATCH` plus about one lookup per entry, ~1–3 ms.
pub const EXPIRY_BUDGET: u32 = 2048;

/// Frames queued per CPU of the `CPUS` cpumap when spreading sessions.
pub const SPREAD_QUEUE: u32 = 2048;

/// The online CPUs (`/sys/devices/system/cpu/online`), e.g. for
/// [`Dataplane::set_spread`].
pub fn online_cpus() -> anyhow::Result<Vec<u32>> {
    aya::util::online_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))
}

/// How the XDP programs are attached.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum XdpMode {
    /// Try native (driver) mode, fall back to generic (skb) mode; logs which.
    #[default]
    Auto,
    /// Native (driver) mode only.
    Native,
    /// Generic (skb) mode: works on every interface, slower.
    Generic,
}

/// Idle timeouts of NAT mappings (RFC 4787 REQ-5: UDP ≥ 2 min, 5 min
/// recommended; RFC 5382 REQ-5: established TCP ≥ 2 h 4 min, transitory
/// ≥ 4 min; RFC 5508 REQ-1 ICMP query ≥ 60 s).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NatTimeouts {
    /// UDP mappings.
    pub udp: Duration,
    /// Established TCP connections (both ends sent, no FIN/RST seen).
    pub tcp: Duration,
    /// Transitory TCP connections: SYN only, or FIN/RST seen.
    pub tcp_transitory: Duration,
    /// ICMP echo mappings.
    pub icmp: Duration,
}

impl Default for NatTimeouts {
    fn default() -> Self {
        Self {
            udp: Duration::from_secs(300),
            tcp: Duration::from_secs(7440),
            tcp_transitory: Duration::from_secs(240),
            icmp: Duration::from_secs(60),
        }
    }
}

/// Data-plane configuration.
#[derive(Clone, Debug)]
pub struct DataplaneConfig {
    /// Access NIC (PPPoE subscribers).
    pub access_if: String,
    /// Uplink NIC.
    pub uplink_if: String,
    /// Where the maps are pinned (default [`PIN_DIR`]); must be on a bpffs.
    pub pin_dir: PathBuf,
    /// NAT source addresses (paired pooling: a session's block lies on one
    /// of them); empty: the first IPv4 of the uplink. Addresses other than
    /// the uplink's must be routed to the BRAS by the upstream router (or
    /// added to the uplink interface), since XDP does not answer ARP.
    pub public_ips: Vec<Ipv4Addr>,
    /// The BRAS's PPP address (IPCP local address): source of the ICMP
    /// Time Exceeded sent to subscribers. `None`: the first public address.
    pub local_ip: Option<Ipv4Addr>,
    /// Clamp the TCP MSS option of SYN and SYN-ACK segments to the session
    /// MTU − 40, both directions.
    pub mss_clamp: bool,
    /// Largest IPv4 packet accepted from a subscriber (our MRU; the larger of
    /// `mru` and PPP-Max-Payload with RFC 4638). 0: no check.
    pub mru: u16,
    /// Translate subscribers' traffic (NAPT). Off: routed mode, the
    /// subscribers' addresses must be routable (and the uplink router must
    /// route them to the BRAS).
    pub nat: bool,
    /// Public ports per session (RFC 7422-style block).
    pub port_block_size: u16,
    /// First public port of the first block. Blocks overlapping the host's
    /// own ephemeral ports (`net.ipv4.ip_local_port_range`) are skipped,
    /// since the uplink program takes any packet matching a mapping; narrow
    /// that range (e.g. `61000 65535`) to give the NAT more blocks.
    pub first_port: u16,
    /// Attach mode.
    pub xdp_mode: XdpMode,
    /// NAT idle timeouts.
    pub timeouts: NatTimeouts,
    /// Non-PPPoE frames the access program passes to the host
    /// (`pppoe_bras_common::maps::access_allow` bits); 0: PPPoE only.
    pub access_allow: u32,
    /// Drop subscriber-to-subscriber traffic instead of forwarding it.
    pub isolate_subscribers: bool,
    /// Inside addresses (pools, static users) as prefixes
    /// ([`crate::pool::Pool::inside_prefixes`]): destinations never sent
    /// to the uplink.
    pub inside: Vec<(Ipv4Addr, u8)>,
    /// Route subscribers' IPv6 in XDP (sessions with prefixes).
    pub ipv6: bool,
    /// Length of every delegated prefix (≤ 64).
    pub v6_deleg_len: u8,
    /// Entries of each NAT map (`NAT_OUT`, `NAT_IN`); 0 = auto: enough for
    /// every session's quota, at least [`MAX_NAT`], at most
    /// [`NAT_TABLE_AUTO_MAX`]. Start fails when the quotas could outgrow it.
    pub nat_table_size: u32,
    /// Most live mappings one session may hold, all protocols together
    /// (enforced in XDP, `drop_nat_session_limit`); 0 = 3 × `port_block_size`
    /// (only the port block limits, per protocol).
    pub nat_session_mappings: u32,
    /// Most sessions at once (the daemon's `max_sessions`): with
    /// `nat_session_mappings` it bounds what the NAT table must hold.
    pub max_sessions: u32,
}

impl DataplaneConfig {
    /// Defaults: NAT on, blocks of 512 ports from 1024, auto attach mode.
    pub fn new(access_if: impl Into<String>, uplink_if: impl Into<String>) -> Self {
        Self {
            access_if: access_if.into(),
            uplink_if: uplink_if.into(),
            pin_dir: PathBuf::from(PIN_DIR),
            public_ips: Vec::new(),
            local_ip: None,
            mss_clamp: true,
            mru: 0,
            nat: true,
            port_block_size: 512,
            first_port: 1024,
            xdp_mode: XdpMode::Auto,
            timeouts: NatTimeouts::default(),
            access_allow: 0,
            isolate_subscribers: false,
            inside: Vec::new(),
            ipv6: true,
            v6_deleg_len: 56,
            nat_table_size: 0,
            nat_session_mappings: 0,
            max_sessions: MAX_SESSIONS,
        }
    }
}

/// A session's /64 and delegated prefix (with its length).
type V6Prefixes = (Option<std::net::Ipv6Addr>, Option<(std::net::Ipv6Addr, u8)>);

/// A session a previous daemon installed, as its state file says: the row
/// and the allocations it holds in the maps.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Adopted {
    pub row: SessionRow,
    pub slot: u32,
    pub block: Option<u32>,
}

/// One PPPoE session as the data plane needs it (filled once IPCP is up).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionRow {
    /// (outer or only VLAN id, inner VLAN id); 0 = absent.
    pub vlans: (u16, u16),
    /// TPID of the outer tag as the subscriber sent it (0x8100 or 0x88a8);
    /// 0 = default: 0x8100 for a single tag, 0x88a8 for QinQ. The inner tag is
    /// always 0x8100.
    pub outer_tpid: u16,
    /// Subscriber (CPE) MAC.
    pub client_mac: [u8; 6],
    /// BRAS (AC) MAC the session uses.
    pub bras_mac: [u8; 6],
    /// PPPoE SESSION_ID.
    pub session_id: u16,
    /// Address given by IPCP.
    pub address: Ipv4Addr,
    /// PPP MTU (largest IPv4 packet towards the subscriber), e.g. 1492.
    pub mtu: u16,
}

impl Default for SessionRow {
    fn default() -> Self {
        Self {
            vlans: (0, 0),
            outer_tpid: 0,
            client_mac: [0; 6],
            bras_mac: [0; 6],
            session_id: 0,
            address: Ipv4Addr::UNSPECIFIED,
            mtu: 1492,
        }
    }
}

/// Packets/bytes of one session, summed over CPUs. Bytes are IPv4 octets.
#[derive(Default, Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCounters {
    /// Subscriber → uplink packets.
    pub up_packets: u64,
    /// Subscriber → uplink IPv4 bytes.
    pub up_bytes: u64,
    /// Uplink → subscriber packets.
    pub down_packets: u64,
    /// Uplink → subscriber IPv4 bytes.
    pub down_bytes: u64,
}

/// One NAT mapping, for `sessions`/debug output and tests.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NatMapping {
    /// IP protocol (6, 17, 1).
    pub proto: u8,
    /// Subscriber side.
    pub inside: (Ipv4Addr, u16),
    /// Public side.
    pub outside: (Ipv4Addr, u16),
    /// Last use (CLOCK_MONOTONIC ns), the later of both directions.
    pub last_seen_ns: u64,
    /// TCP state bits (`pppoe_bras_common::maps::NAT_ST_*`), 0 for UDP/ICMP.
    pub state: u8,
}

/// Which program [`Dataplane::test_run`] runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Program {
    /// `bras_access`.
    Access,
    /// `bras_uplink`.
    Uplink,
    /// `bras_access_cpu`: the access path as run on the CPU a session was
    /// spread to (no spreading step).
    AccessCpu,
}

impl Program {
    fn name(self) -> &'static str {
        match self {
            Program::Access => programs::ACCESS,
            Program::Uplink => programs::UPLINK,
            Program::AccessCpu => programs::ACCESS_CPU,
        }
    }
}

/// Result of [`Dataplane::test_run`].
#[derive(Debug, Clone)]
pub struct TestRunOutput {
    /// XDP action (`XDP_DROP` = 1, `XDP_PASS` = 2, `XDP_REDIRECT` = 4, …).
    pub action: u32,
    /// The frame after the program (after `adjust_head`).
    pub frame: Vec<u8>,
    /// Average run time per repetition as measured by the kernel.
    pub duration: Duration,
}

/// The stand-in address of the IPv6-only session in `slot`: 0.0.0.0/8
/// ("this network", RFC 1122) is never leased, so it never clashes with a
/// subscriber, and XDP drops IPv4 from a session whose address is in it.
fn placeholder(slot: u32) -> Ipv4Addr {
    Ipv4Addr::from(slot + 1)
}

/// Whether `a` is a [`placeholder`].
pub(crate) fn is_placeholder(a: Ipv4Addr) -> bool {
    a.octets()[0] == 0 && !a.is_unspecified()
}

/// What `install` allocated for a session.
#[derive(Debug, Clone, Copy)]
struct Installed {
    key: SessionKey,
    slot: u32,
    block: Option<u32>,
}

/// The loaded and attached data plane.
pub struct Dataplane {
    ebpf: Ebpf,
    sessions: HashMap<MapData, SessionKey, SessionValue>,
    session_by_id: Array<MapData, SessionEntry>,
    subscribers: HashMap<MapData, [u8; 4], Subscriber>,
    sub_by_slot: Array<MapData, Subscriber>,
    nat_out: HashMap<MapData, NatKey, NatValue>,
    nat_in: HashMap<MapData, NatKey, NatValue>,
    /// Second handles of `NAT_OUT`/`NAT_IN` (opened by pin) for the raw
    /// batch lookups of the expiry sweep.
    nat_out_raw: MapData,
    nat_in_raw: MapData,
    nat_slots: Array<MapData, NatSlot>,
    nat_freed: Array<MapData, NatFreed>,
    /// What the daemon wrote to `NAT_FREED`, per slot in use.
    freed: StdHashMap<u32, [u64; 3]>,
    /// Where the expiry sweep is (see [`Dataplane::expire_step_at`]).
    sweep: Sweep,
    nat_table_size: u32,
    nat_session_cap: u32,
    counters: PerCpuArray<MapData, RawCounters>,
    stats: PerCpuArray<MapData, u64>,
    neigh_miss: Array<MapData, NeighMiss>,
    config: Array<MapData, Config>,
    config_value: Config,
    inside_nets: LpmTrie<MapData, [u8; 4], u8>,
    inside: Vec<(Ipv4Addr, u8)>,
    session6: Array<MapData, Session6>,
    /// IPv6 prefixes of sessions whose IPv4 rows are not installed yet
    /// (IPv6CP opened first): applied when they are.
    pending6: StdHashMap<SessionKey, V6Prefixes>,
    /// Installed sessions by key (their IPv4 address).
    by_key: StdHashMap<SessionKey, Ipv4Addr>,
    net64: HashMap<MapData, [u8; 8], u32>,
    deleg6: HashMap<MapData, [u8; 8], u32>,
    v6_deleg_len: u8,
    cpus: CpuMap<MapData>,
    spread_cpus: Array<MapData, u32>,
    /// CPUs sessions are spread over (empty: off).
    spread: Vec<u32>,
    /// The XDP links of both programs, pinned (`link_*` in the pin dir) so
    /// the programs stay attached if the daemon dies; unpinned (detached)
    /// at teardown, left pinned by [`Dataplane::leave`].
    links: Vec<PinnedLink>,
    pin_dir: PathBuf,
    pinned: Vec<PathBuf>,
    access_ifindex: u32,
    /// (access, uplink) interface names, for their `ethtool -S` counters.
    nics: [String; 2],
    /// Redirect failures counted by the NICs at the last [`Dataplane::periodic`].
    last_xmit_errors: u64,
    public_ip: Ipv4Addr,
    nat: bool,
    timeouts: NatTimeouts,
    installed: StdHashMap<Ipv4Addr, Installed>,
    /// Who holds `SESSION_BY_ID[session id]`, who waits for it.
    ids: SessionIds,
    /// The session slots.
    slots: Slots,
    /// The NAT port blocks (none with NAT off).
    blocks: PortBlocks,
    last_neigh_miss: u64,
    /// The capture maps' handles (`pppoe-bras capture` opens the pins).
    _capture: capture::Pinned,
    /// `drop_no_nat_port` at the last [`Dataplane::expire_idle`], for the
    /// rate-limited quota log line.
    last_quota_drops: u64,
    nr_cpus: usize,
    /// `forwarding` of (access, uplink) before start, restored at teardown.
    forwarding_was: Option<(String, bool, String, bool)>,
    done: bool,
}

/// The embedded XDP object, or `None` when built with `AYA_BUILD_SKIP=1`.
pub fn ebpf_object() -> Option<&'static [u8]> {
    #[cfg(ebpf_skipped)]
    {
        None
    }
    #[cfg(not(ebpf_skipped))]
    {
        Some(aya::include_bytes_aligned!(concat!(
            env!("OUT_DIR"),
            "/pppoe-bras"
        )))
    }
}

fn take<T>(
    ebpf: &mut Ebpf,
    name: &str,
    pin_dir: &Path,
    pinned: &mut Vec<PathBuf>,
) -> anyhow::Result<T>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or_else(|| anyhow!("map {name} missing from the XDP object"))?;
    let path = pin_dir.join(name);
    // Re-adopting, the map was opened from this very pin.
    if !path.exists() {
        map.pin(&path)
            .with_context(|| format!("pinning {}", path.display()))?;
    }
    pinned.push(path);
    T::try_from(map).with_context(|| format!("map {name}: unexpected type"))
}

impl Dataplane {
    /// Load the embedded object, fill `CONFIG`, pin the maps under
    /// `cfg.pin_dir` (stale pins removed first), enable IPv4 forwarding on
    /// the access NIC (needed by `bpf_fib_lookup`) and attach both programs.
    pub fn start(cfg: &DataplaneConfig) -> anyhow::Result<Self> {
        Self::start_with(cfg, None).map(|(dp, _)| dp)
    }

    /// [`Dataplane::start`], re-adopting what a previous daemon left
    /// running in `cfg.pin_dir` (its pinned links and maps): the maps are
    /// reused as they are (sessions, NAT mappings, counters), the new
    /// programs are swapped into the running links atomically, and the
    /// allocations of `adopt` (from the state file) are taken over; rows of
    /// sessions the state file does not know are removed. Without usable
    /// pins it starts clean. Returns the sessions actually adopted.
    pub fn start_adopting(
        cfg: &DataplaneConfig,
        adopt: &[Adopted],
    ) -> anyhow::Result<(Self, Vec<SessionRow>)> {
        Self::start_with(cfg, Some(adopt))
    }

    fn start_with(
        cfg: &DataplaneConfig,
        adopt: Option<&[Adopted]>,
    ) -> anyhow::Result<(Self, Vec<SessionRow>)> {
        let object = ebpf_object().ok_or_else(|| {
            anyhow!("built without the XDP object (AYA_BUILD_SKIP=1): the data plane cannot start")
        })?;
        if cfg.nat && cfg.port_block_size == 0 {
            bail!("port_block_size must be > 0 with NAT on");
        }
        let access_ifindex = crate::rawsock::if_index(&cfg.access_if)?;
        let uplink_ifindex = crate::rawsock::if_index(&cfg.uplink_if)?;
        let uplink_ip = sys::first_ipv4(&cfg.uplink_if).ok();
        let public_ips = if !cfg.public_ips.is_empty() {
            cfg.public_ips.clone()
        } else if cfg.nat {
            vec![uplink_ip.ok_or_else(|| {
                anyhow!(
                    "uplink {} has no IPv4 address to use for NAT; set public_addresses",
                    cfg.uplink_if
                )
            })?]
        } else {
            Vec::new()
        };
        let public_ip = public_ips.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let local_ip = cfg.local_ip.unwrap_or(public_ip);
        let ephemeral = match sys::ephemeral_ports() {
            Ok(r) => Some(r),
            Err(e) => {
                log::warn!("{e:#}: NAT blocks may overlap the host's ephemeral ports");
                None
            }
        };
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        let blocks = if cfg.nat {
            layout_blocks(&public_ips, cfg.first_port, cfg.port_block_size, ephemeral)
        } else {
            Vec::new()
        };
        if cfg.nat && blocks.is_empty() {
            bail!(
                "no NAT port block of {} ports fits from port {} outside the host's ephemeral \
                 ports {ephemeral:?}; lower first_port or port_block_size",
                cfg.port_block_size,
                cfg.first_port
            );
        }
        let (nat_table_size, nat_session_cap) = nat_sizing(cfg, blocks.len())?;

        sys::ensure_bpffs(&cfg.pin_dir)?;
        let adopting = match adopt {
            Some(_) => match adoptable(&cfg.pin_dir, nat_table_size) {
                Ok(()) => true,
                Err(why) => {
                    log::warn!("not re-adopting the previous data plane: {why}; starting clean");
                    false
                }
            },
            None => false,
        };
        if !adopting {
            remove_pins(&cfg.pin_dir);
        }
        std::fs::create_dir_all(&cfg.pin_dir)
            .with_context(|| format!("creating {}", cfg.pin_dir.display()))?;

        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(names::NAT_OUT, nat_table_size)
            .map_max_entries(names::NAT_IN, nat_table_size);
        // Every shared map is pinned at creation (a new daemon re-adopting
        // opens each of these pins instead of creating the map).
        for name in names::ALL {
            loader.map_pin_path(name, cfg.pin_dir.join(name));
        }
        let mut ebpf = loader.load(object).context("loading the XDP object")?;
        let mut pinned = Vec::new();
        let pd = cfg.pin_dir.as_path();
        let sessions = take(&mut ebpf, names::SESSIONS, pd, &mut pinned)?;
        let session_by_id = take(&mut ebpf, names::SESSION_BY_ID, pd, &mut pinned)?;
        let subscribers = take(&mut ebpf, names::SUBSCRIBERS, pd, &mut pinned)?;
        let sub_by_slot = take(&mut ebpf, names::SUB_BY_SLOT, pd, &mut pinned)?;
        let nat_out = take(&mut ebpf, names::NAT_OUT, pd, &mut pinned)?;
        let nat_in = take(&mut ebpf, names::NAT_IN, pd, &mut pinned)?;
        let nat_slots = take(&mut ebpf, names::NAT_SLOTS, pd, &mut pinned)?;
        let nat_freed = take(&mut ebpf, names::NAT_FREED, pd, &mut pinned)?;
        let nat_out_raw = MapData::from_pin(pd.join(names::NAT_OUT)).context("opening NAT_OUT")?;
        let nat_in_raw = MapData::from_pin(pd.join(names::NAT_IN)).context("opening NAT_IN")?;
        let counters = take(&mut ebpf, names::COUNTERS, pd, &mut pinned)?;
        let stats = take(&mut ebpf, names::STATS, pd, &mut pinned)?;
        let mut config: Array<MapData, Config> = take(&mut ebpf, names::CONFIG, pd, &mut pinned)?;
        let neigh_miss = take(&mut ebpf, names::NEIGH_MISS, pd, &mut pinned)?;
        let cpus = take(&mut ebpf, names::CPUS, pd, &mut pinned)?;
        let spread_cpus = take(&mut ebpf, names::SPREAD_CPUS, pd, &mut pinned)?;
        let capture_maps = capture::pin(&mut ebpf, pd, &mut pinned)?;
        let session6 = take(&mut ebpf, names::SESSION6, pd, &mut pinned)?;
        let net64 = take(&mut ebpf, names::NET64, pd, &mut pinned)?;
        let deleg6 = take(&mut ebpf, names::DELEG6, pd, &mut pinned)?;
        let mut inside_nets: LpmTrie<MapData, [u8; 4], u8> =
            take(&mut ebpf, names::INSIDE_NETS, pd, &mut pinned)?;
        for (net, len) in &cfg.inside {
            inside_nets
                .insert(&LpmKey::new(u32::from(*len), net.octets()), 1, 0)
                .with_context(|| format!("writing INSIDE_NETS {net}/{len}"))?;
        }
        let (inside_net, inside_mask) = covering(&cfg.inside);
        let mut flags = CONFIG_F_ENABLED;
        if cfg.isolate_subscribers {
            flags |= CONFIG_F_ISOLATE;
        }
        if cfg.mss_clamp {
            flags |= CONFIG_F_MSS_CLAMP;
        }
        if !cfg.nat {
            flags |= CONFIG_F_ROUTED;
        }
        let config_value = Config {
            public_addr: uplink_ip.unwrap_or(public_ip).octets(),
            uplink_ifindex,
            access_ifindex,
            flags,
            local_addr: local_ip.octets(),
            mru: cfg.mru,
            spread_cpus: 0,
            access_allow: cfg.access_allow,
            inside_net,
            inside_mask,
            nat_session_cap,
            _pad: 0,
            v6_flags: if cfg.ipv6 { CONFIG6_F_ENABLED } else { 0 },
            v6_deleg_len: u16::from(cfg.v6_deleg_len.min(64)),
            uplink6: sys::first_global_ipv6(&cfg.uplink_if)
                .map(|a| a.octets())
                .unwrap_or_default(),
        };
        config.set(0, config_value, 0)?;
        // The FIB lookups are made for the uplink (see the eBPF `fib`
        // module), so forwarding is on there and OFF on the access NIC: the
        // kernel never routes anything that arrived from the subscriber
        // segment, even if a frame got past XDP.
        let access_fwd = sys::set_forwarding(&cfg.access_if, false).unwrap_or_else(|e| {
            log::warn!(
                "{e:#}: the kernel may route non-PPPoE frames from {}",
                cfg.access_if
            );
            false
        });
        let uplink_fwd = sys::set_forwarding(&cfg.uplink_if, true).unwrap_or_else(|e| {
            log::warn!("{e:#}: upstream FIB lookups will fail (drop_fib_fail)");
            true
        });
        if cfg.ipv6 {
            // The same for IPv6: the FIB lookups of `access6` are made for the
            // uplink; nothing arriving on the access NIC is routed.
            let _ = sys::set_forwarding_family("ipv6", &cfg.access_if, false);
            if let Err(e) = sys::set_forwarding_family("ipv6", &cfg.uplink_if, true) {
                log::warn!("{e:#}: IPv6 FIB lookups will fail (drop_fib_fail)");
            }
        }
        if access_fwd {
            log::info!(
                "IPv4 forwarding turned off on the access NIC {}: only PPPoE enters from it",
                cfg.access_if
            );
        }

        let n_blocks = blocks.len();
        let mut dp = Self {
            ebpf,
            sessions,
            session_by_id,
            subscribers,
            sub_by_slot,
            nat_out,
            nat_in,
            nat_out_raw,
            nat_in_raw,
            nat_slots,
            nat_freed,
            freed: StdHashMap::new(),
            sweep: Sweep::default(),
            nat_table_size,
            nat_session_cap,
            counters,
            stats,
            neigh_miss,
            config,
            config_value,
            inside_nets,
            inside: cfg.inside.clone(),
            session6,
            pending6: StdHashMap::new(),
            by_key: StdHashMap::new(),
            net64,
            deleg6,
            v6_deleg_len: cfg.v6_deleg_len.min(64),
            cpus,
            spread_cpus,
            spread: Vec::new(),
            links: Vec::new(),
            pin_dir: cfg.pin_dir.clone(),
            pinned,
            access_ifindex,
            nics: [cfg.access_if.clone(), cfg.uplink_if.clone()],
            last_xmit_errors: 0,
            public_ip,
            nat: cfg.nat,
            timeouts: cfg.timeouts,
            installed: StdHashMap::new(),
            ids: SessionIds::default(),
            slots: Slots::new(MAX_SESSIONS),
            blocks: PortBlocks::new(blocks, cfg.port_block_size),
            last_neigh_miss: 0,
            _capture: capture_maps,
            last_quota_drops: 0,
            nr_cpus,
            forwarding_was: Some((
                cfg.access_if.clone(),
                access_fwd,
                cfg.uplink_if.clone(),
                uplink_fwd,
            )),
            done: false,
        };
        // From here on Drop cleans up (pins, links) if attaching fails.
        dp.xdp(Program::AccessCpu)?
            .load()
            .with_context(|| format!("verifier rejected {}", programs::ACCESS_CPU))?;
        let mut adopted = Vec::new();
        if adopting {
            dp.swap_into_pinned_link(Program::Access)?;
            dp.swap_into_pinned_link(Program::Uplink)?;
            adopted = dp.take_over(adopt.unwrap_or_default(), &cfg.inside)?;
        } else {
            let mode = attach_mode(cfg)?;
            dp.attach(Program::Access, &cfg.access_if, mode)?;
            dp.attach(Program::Uplink, &cfg.uplink_if, mode)?;
        }
        dp.last_xmit_errors = dp.xmit_errors();
        // bpf_fib_lookup only finds neighbours the kernel already knows;
        // resolve the uplink's gateways now so a subscriber's first packet
        // is not lost to `drop_no_neigh` (later misses go through NEIGH_MISS).
        match sys::gateways(&cfg.uplink_if) {
            Ok(gws) => {
                for gw in gws {
                    if let Err(e) = sys::poke_neighbour(gw) {
                        log::debug!("resolving gateway {gw}: {e}");
                    }
                }
            }
            Err(e) => log::debug!("reading gateways of {}: {e}", cfg.uplink_if),
        }
        if cfg.ipv6 {
            for gw in sys::gateways6(&cfg.uplink_if).unwrap_or_default() {
                if let Err(e) = sys::poke_neighbour6(gw) {
                    log::debug!("resolving IPv6 gateway {gw}: {e}");
                }
            }
        }
        let eph = ephemeral.map_or_else(|| "?".to_owned(), |(a, b)| format!("{a}-{b}"));
        log::info!(
            "data plane up: access {} (ifindex {access_ifindex}), uplink {} (ifindex \
             {uplink_ifindex}), nat {}, public {}, {n_blocks} port blocks of {} (host ephemeral \
             ports {eph} left out), NAT table {nat_table_size} mappings, {} per session, mss \
             clamp {}, maps in {}",
            cfg.access_if,
            cfg.uplink_if,
            if cfg.nat { "on" } else { "off" },
            public_ips
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(","),
            cfg.port_block_size,
            if nat_session_cap == 0 {
                "block-limited".to_owned()
            } else {
                format!("at most {nat_session_cap}")
            },
            if cfg.mss_clamp { "on" } else { "off" },
            cfg.pin_dir.display()
        );
        Ok((dp, adopted))
    }

    /// Re-adoption: take the allocations of `adopt` over where the maps
    /// agree (the session's row is there with that address and slot), drop
    /// rows of sessions nobody knows any more, and bring `INSIDE_NETS` to
    /// `inside`. Returns the rows adopted.
    fn take_over(
        &mut self,
        adopt: &[Adopted],
        inside: &[(Ipv4Addr, u8)],
    ) -> anyhow::Result<Vec<SessionRow>> {
        let mut rows = Vec::new();
        let mut keys = std::collections::HashSet::new();
        for a in adopt {
            let key = self.key(&a.row);
            let Ok(val) = self.sessions.get(&key, 0) else {
                log::warn!(
                    "re-adoption: session {:#06x} has no SESSIONS row; not adopted",
                    a.row.session_id
                );
                continue;
            };
            if val.addr != a.row.address.octets() || val.slot != a.slot {
                log::warn!(
                    "re-adoption: session {:#06x} differs in the maps; not adopted",
                    a.row.session_id
                );
                continue;
            }
            let block_ok = a.block.is_none_or(|b| (b as usize) < self.blocks.len());
            if a.slot >= MAX_SESSIONS || !block_ok {
                continue;
            }
            self.slots.claim(a.slot);
            if let Some(b) = a.block {
                self.blocks.claim(b);
            }
            let inst = Installed {
                key,
                slot: a.slot,
                block: a.block,
            };
            self.installed.insert(a.row.address, inst);
            self.by_key.insert(key, a.row.address);
            self.claim_id(a.row.address, key, val)?;
            keys.insert(key);
            rows.push(a.row);
        }
        // IPv6 is not in the state file: the adopted sessions renegotiate
        // IPv6CP and get their prefixes installed again; clear every IPv6
        // row meanwhile, so no prefix points at a slot it no longer owns.
        for k in self.net64.keys().flatten().collect::<Vec<_>>() {
            let _ = self.net64.remove(&k);
        }
        for k in self.deleg6.keys().flatten().collect::<Vec<_>>() {
            let _ = self.deleg6.remove(&k);
        }
        for slot in 0..MAX_SESSIONS {
            if self
                .session6
                .get(&slot, 0)
                .is_ok_and(|v| v != Session6::default())
            {
                let _ = self.session6.set(slot, Session6::default(), 0);
            }
        }
        // Rows the state file does not know (installed after its last write):
        // nobody can run their PPP any more; their NAT mappings expire.
        let stale: Vec<(SessionKey, SessionValue)> = self
            .sessions
            .iter()
            .flatten()
            .filter(|(k, _)| !keys.contains(k))
            .collect();
        for (k, v) in &stale {
            let _ = self.sessions.remove(k);
            if let Ok(e) = self.session_by_id.get(&u32::from(k.session_id), 0) {
                if e.key == *k {
                    let _ =
                        self.session_by_id
                            .set(u32::from(k.session_id), SessionEntry::default(), 0);
                }
            }
            if self
                .subscribers
                .get(&v.addr, 0)
                .is_ok_and(|s| s.slot == v.slot)
            {
                let _ = self.subscribers.remove(&v.addr);
            }
            let _ = self.sub_by_slot.set(v.slot, Subscriber::default(), 0);
        }
        if !stale.is_empty() {
            log::warn!(
                "re-adoption: removed {} session rows the state file did not know",
                stale.len()
            );
        }
        let old: Vec<(Ipv4Addr, u8)> = self
            .inside_nets
            .keys()
            .flatten()
            .map(|k| (Ipv4Addr::from(k.data()), k.prefix_len() as u8))
            .collect();
        self.inside = old;
        self.set_inside(inside.to_vec())?;
        Ok(rows)
    }

    fn xdp(&mut self, which: Program) -> anyhow::Result<&mut Xdp> {
        let name = which.name();
        let p: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("program {name} missing from the XDP object"))?
            .try_into()
            .with_context(|| format!("program {name} is not XDP"))?;
        Ok(p)
    }

    fn attach(&mut self, which: Program, iface: &str, mode: XdpMode) -> anyhow::Result<()> {
        let name = which.name();
        let prog = self.xdp(which)?;
        prog.load()
            .with_context(|| format!("verifier rejected {name}"))?;
        let try_attach = |prog: &mut Xdp, m: AyaXdpMode| -> Result<XdpLinkId, ProgramError> {
            prog.attach(iface, m)
        };
        let (id, used) = match mode {
            XdpMode::Native => (try_attach(prog, AyaXdpMode::Driver)?, "native"),
            XdpMode::Generic => (try_attach(prog, AyaXdpMode::Skb)?, "generic"),
            XdpMode::Auto => match try_attach(prog, AyaXdpMode::Driver) {
                Ok(id) => (id, "native"),
                Err(e) => {
                    log::info!("{name} on {iface}: native XDP failed ({e}), using generic");
                    (try_attach(prog, AyaXdpMode::Skb)?, "generic")
                }
            },
        };
        log::info!("{name} attached to {iface} in {used} mode");
        self.pin_link(which, id)
    }

    /// Take the program's link over and pin it, so it outlives the daemon.
    fn pin_link(&mut self, which: Program, id: XdpLinkId) -> anyhow::Result<()> {
        let name = which.name();
        let path = self.pin_dir.join(link_pin(which));
        let link = self.xdp(which)?.take_link(id)?;
        let fd: FdLink = link
            .try_into()
            .with_context(|| format!("{name}: not a bpf_link (kernel too old?)"))?;
        let pinned = fd
            .pin(&path)
            .with_context(|| format!("pinning {}", path.display()))?;
        self.links.push(pinned);
        Ok(())
    }

    /// Re-adoption: load `which` and swap it into the link a previous daemon
    /// pinned, atomically (`bpf_link_update`: not one frame meets no
    /// program), then pin the link again.
    fn swap_into_pinned_link(&mut self, which: Program) -> anyhow::Result<()> {
        let name = which.name();
        let path = self.pin_dir.join(link_pin(which));
        let prog = self.xdp(which)?;
        prog.load()
            .with_context(|| format!("verifier rejected {name}"))?;
        let pinned =
            PinnedLink::from_pin(&path).with_context(|| format!("opening {}", path.display()))?;
        let fd = pinned.unpin().context("unpinning the old link")?;
        let link = XdpLink::try_from(fd).context("pinned link is not an XDP link")?;
        let id = prog
            .attach_to_link(link)
            .with_context(|| format!("replacing the program of {name}'s link"))?;
        log::info!("{name}: new program swapped into the running link");
        self.pin_link(which, id)
    }

    /// End this daemon but leave the data plane running for the next one
    /// (`--keep-sessions`, an upgrade): programs stay attached through their
    /// pinned links, maps stay pinned, forwarding settings stay.
    pub fn leave(mut self) {
        self.done = true;
        // Dropping a PinnedLink closes our fd; the pin keeps the link.
        self.links.clear();
        log::info!(
            "data plane left running for the next daemon (maps and links pinned in {})",
            self.pin_dir.display()
        );
    }

    /// Install a session: allocates a counter slot and (NAT on) a port block,
    /// zeroes the counters, writes `SUBSCRIBERS` then `SESSIONS` and
    /// `SESSION_BY_ID` (so the return path exists before the first upstream
    /// packet is accepted).
    /// Re-installing the same session updates it in place.
    pub fn install(&mut self, row: &SessionRow) -> anyhow::Result<()> {
        let key = self.key(row);
        // IPv6 only, or IPCP came or went while IPv6 keeps the session: the
        // same slot (its counters and IPv6 rows) under another address.
        if let Some(held) = self.by_key.get(&key).copied() {
            let wants_v4 = !row.address.is_unspecified();
            if is_placeholder(held) && wants_v4 || !is_placeholder(held) && !wants_v4 {
                return self.readdress(key, held, row);
            }
        }
        if row.address.is_unspecified() {
            if let Some(held) = self.by_key.get(&key).copied() {
                let inst = self.installed.get(&held).copied();
                let row = SessionRow {
                    address: held,
                    ..*row
                };
                return match inst {
                    Some(inst) => self.write_rows(&row, &inst),
                    None => Ok(()),
                };
            }
        }
        if let Some(old) = self.installed.get(&row.address).copied() {
            if old.key != key {
                bail!("address {} already belongs to another session", row.address);
            }
            return self.write_rows(row, &old);
        }
        let slot = self
            .slots
            .take()
            .ok_or_else(|| anyhow!("session table full ({MAX_SESSIONS})"))?;
        // An IPv6-only session has no IPv4 address: it is known by a
        // placeholder in 0.0.0.0/8 that no subscriber can hold (the pool
        // refuses that range), unique per slot.
        let row = &SessionRow {
            address: if row.address.is_unspecified() {
                placeholder(slot)
            } else {
                row.address
            },
            ..*row
        };
        let block = if self.nat && !is_placeholder(row.address) {
            match self.blocks.take(Instant::now()) {
                Some(b) => Some(b),
                None => {
                    self.slots.give_back(slot);
                    bail!(
                        "no free NAT port block for {} ({} blocks, freed ones rest {}s)",
                        row.address,
                        self.blocks.len(),
                        BLOCK_REUSE_DELAY.as_secs()
                    );
                }
            }
        } else {
            None
        };
        let inst = Installed { key, slot, block };
        let res = self
            .zero_counters(slot)
            .and_then(|()| self.zero_nat_slot(slot))
            .and_then(|()| self.write_rows(row, &inst));
        if let Err(e) = res {
            let _ = self.release_id(row.address, &key);
            let _ = self.sessions.remove(&key);
            let _ = self.subscribers.remove(&row.address.octets());
            let _ = self.sub_by_slot.set(slot, Subscriber::default(), 0);
            self.slots.give_back(slot);
            if let Some(b) = block {
                // Never used: no need to rest.
                self.blocks.give_back_unused(b);
            }
            return Err(e);
        }
        self.installed.insert(row.address, inst);
        self.by_key.insert(key, row.address);
        if let Some((net64, deleg)) = self.pending6.remove(&key) {
            if let Err(e) = self.install6(row.address, net64, deleg) {
                log::warn!("session {:#06x}: IPv6 rows: {e:#}", row.session_id);
            }
        }
        Ok(())
    }

    /// Move the session installed under `held` to `row.address` (a real
    /// address when IPCP opens on an IPv6-only session, unspecified when
    /// IPCP finishes and IPv6 keeps it): same slot, counters and IPv6
    /// rows; a NAT block taken or given back. When no block is free the
    /// whole session leaves the data plane (the caller ends it).
    fn readdress(
        &mut self,
        key: SessionKey,
        held: Ipv4Addr,
        row: &SessionRow,
    ) -> anyhow::Result<()> {
        let Some(mut inst) = self.installed.get(&held).copied() else {
            bail!("session {:#06x} not installed", key.session_id);
        };
        let to = if row.address.is_unspecified() {
            placeholder(inst.slot)
        } else {
            row.address
        };
        if self.installed.get(&to).is_some_and(|o| o.key != key) {
            bail!("address {to} already belongs to another session");
        }
        let block = if self.nat && !is_placeholder(to) {
            match self.blocks.take(Instant::now()) {
                Some(b) => Some(b),
                None => {
                    let _ = self.remove(&SessionRow {
                        address: held,
                        ..*row
                    });
                    bail!(
                        "no free NAT port block for {to} ({} blocks, freed ones rest {}s)",
                        self.blocks.len(),
                        BLOCK_REUSE_DELAY.as_secs()
                    );
                }
            }
        } else {
            None
        };
        self.release_id(held, &key)?;
        ignore_missing(self.subscribers.remove(&held.octets()))
            .context("deleting from SUBSCRIBERS")?;
        if let Some((public, start, count)) = inst.block.and_then(|b| self.blocks.get(b)) {
            self.remove_block_mappings(held, public, start, count);
            self.blocks
                .give_back(inst.block.unwrap_or(0), Instant::now());
            if let Err(e) = self.zero_nat_slot(inst.slot) {
                log::warn!("session {held}: zeroing NAT_SLOTS[{}]: {e:#}", inst.slot);
            }
        }
        inst.block = block;
        self.installed.remove(&held);
        self.installed.insert(to, inst);
        self.by_key.insert(key, to);
        self.write_rows(
            &SessionRow {
                address: to,
                ..*row
            },
            &inst,
        )
    }

    /// The session's IPv6 prefixes (the control plane's `InstallV6`): now
    /// when the session's rows are installed, else when they will be (an
    /// IPv6-only session's rows are installed under a placeholder address
    /// when IPv6CP opens; see [`Dataplane::install`]).
    pub fn set_v6(
        &mut self,
        row: &SessionRow,
        net64: Option<std::net::Ipv6Addr>,
        deleg: Option<(std::net::Ipv6Addr, u8)>,
    ) -> anyhow::Result<()> {
        let key = self.key(row);
        match self.by_key.get(&key).copied() {
            Some(address) => self.install6(address, net64, deleg),
            None => {
                self.pending6.insert(key, (net64, deleg));
                Ok(())
            }
        }
    }

    /// The session's delegated prefix went (released, or another one
    /// bound); its /64 stays.
    pub fn drop_delegated(&mut self, row: &SessionRow) -> anyhow::Result<()> {
        let key = self.key(row);
        if let Some((n, d)) = self.pending6.get_mut(&key) {
            let _ = n;
            *d = None;
            return Ok(());
        }
        let Some(address) = self.by_key.get(&key).copied() else {
            return Ok(());
        };
        let slot = self.installed.get(&address).map(|i| i.slot).unwrap_or(0);
        let Ok(v) = self.session6.get(&slot, 0) else {
            return Ok(());
        };
        let net64 = (v.net64 != [0; 8]).then(|| {
            let mut o = [0u8; 16];
            o[..8].copy_from_slice(&v.net64);
            std::net::Ipv6Addr::from(o)
        });
        self.install6(address, net64, None)
    }

    /// Take the session's IPv6 rows (or pending prefixes) away.
    pub fn clear_v6(&mut self, row: &SessionRow) {
        let key = self.key(row);
        self.pending6.remove(&key);
        if let Some(address) = self.by_key.get(&key).copied() {
            self.remove6(address);
        }
    }

    /// The address `row`'s session is installed under: its own when that
    /// row is this session's, else the one its key holds (a placeholder
    /// for an IPv6-only session, whose rows the caller names without an
    /// address).
    fn resolve(&self, row: &SessionRow) -> Option<Ipv4Addr> {
        let key = self.key(row);
        if self
            .installed
            .get(&row.address)
            .is_some_and(|i| i.key == key)
        {
            return Some(row.address);
        }
        self.by_key.get(&key).copied()
    }

    fn key(&self, row: &SessionRow) -> SessionKey {
        SessionKey {
            ifindex: self.access_ifindex,
            outer_vid: row.vlans.0 & 0x0fff,
            inner_vid: row.vlans.1 & 0x0fff,
            client_mac: row.client_mac,
            session_id: row.session_id,
        }
    }

    fn write_rows(&mut self, row: &SessionRow, inst: &Installed) -> anyhow::Result<()> {
        let (public, port_start, port_count) = inst
            .block
            .and_then(|b| self.blocks.get(b))
            .unwrap_or((self.public_ip, 0, 0));
        let flags = if self.nat { SESSION_F_NAT } else { 0 };
        let (outer_vid, inner_vid) = (row.vlans.0 & 0x0fff, row.vlans.1 & 0x0fff);
        let outer_tpid = match (outer_vid, inner_vid, row.outer_tpid) {
            (0, _, _) => 0,
            (_, _, t) if t != 0 => t,
            (_, 0, _) => ETH_P_8021Q,
            _ => ETH_P_8021AD,
        };
        let sub = Subscriber {
            ifindex: self.access_ifindex,
            outer_tpid,
            outer_vid,
            inner_vid: if outer_vid == 0 { 0 } else { inner_vid },
            session_id: row.session_id,
            client_mac: row.client_mac,
            bras_mac: row.bras_mac,
            mtu: row.mtu,
            flags,
            slot: inst.slot,
            addr: row.address.octets(),
        };
        let val = SessionValue {
            addr: row.address.octets(),
            public_addr: public.octets(),
            port_start,
            port_count,
            mtu: row.mtu,
            flags,
            slot: inst.slot,
        };
        // A placeholder is no destination: nothing downstream finds it.
        if !is_placeholder(row.address) {
            self.subscribers
                .insert(row.address.octets(), sub, 0)
                .context("writing SUBSCRIBERS")?;
        }
        self.sub_by_slot
            .set(inst.slot, sub, 0)
            .context("writing SUB_BY_SLOT")?;
        self.sessions
            .insert(inst.key, val, 0)
            .context("writing SESSIONS")?;
        self.claim_id(row.address, inst.key, val)
    }

    /// Put the session into `SESSION_BY_ID[session id]` unless another
    /// session holds that id (then it stays in `SESSIONS` only, and waits).
    fn claim_id(
        &mut self,
        addr: Ipv4Addr,
        key: SessionKey,
        val: SessionValue,
    ) -> anyhow::Result<()> {
        let sid = key.session_id;
        match self.ids.claim(sid, addr) {
            Claim::Wait { owner, queued } => {
                if queued {
                    log::debug!("session id {sid:#06x} of {addr} is taken by {owner}: hash lookup");
                }
                Ok(())
            }
            Claim::Write => {
                self.session_by_id
                    .set(u32::from(sid), SessionEntry { val, key }, 0)
                    .context("writing SESSION_BY_ID")?;
                self.ids.own(sid, addr);
                Ok(())
            }
        }
    }

    /// Take the session of `addr` out of `SESSION_BY_ID` (or out of the
    /// waiting list of its id); a waiting session with the same id takes
    /// the entry over.
    fn release_id(&mut self, addr: Ipv4Addr, key: &SessionKey) -> anyhow::Result<()> {
        let sid = key.session_id;
        if !self.ids.release(sid, addr) {
            return Ok(());
        }
        self.session_by_id
            .set(u32::from(sid), SessionEntry::default(), 0)
            .context("clearing SESSION_BY_ID")?;
        if let Some(next) = self.ids.next_waiting(sid) {
            if let Some(inst) = self.installed.get(&next).copied() {
                let val = self
                    .sessions
                    .get(&inst.key, 0)
                    .context("reading SESSIONS")?;
                self.claim_id(next, inst.key, val)?;
            }
        }
        Ok(())
    }

    /// Zero a slot's NAT allocation state (`NAT_SLOTS`, `NAT_FREED`): only
    /// while no session uses the slot.
    fn zero_nat_slot(&mut self, slot: u32) -> anyhow::Result<()> {
        self.freed.remove(&slot);
        self.nat_slots
            .set(slot, NatSlot::default(), 0)
            .context("zeroing NAT_SLOTS")?;
        self.nat_freed
            .set(slot, NatFreed::default(), 0)
            .context("zeroing NAT_FREED")?;
        Ok(())
    }

    /// Live NAT mappings of a session (created − removed, all protocols),
    /// as the XDP programs count them against `nat_session_mappings`.
    pub fn nat_live(&self, row: &SessionRow) -> Option<u64> {
        let slot = self.installed.get(&self.resolve(row)?)?.slot;
        let s = self.nat_slots.get(&slot, 0).ok()?;
        let f = self.nat_freed.get(&slot, 0).ok()?;
        Some(nat::live(
            s.total,
            f.freed.iter().fold(0u64, |a, b| a.wrapping_add(*b)),
        ))
    }

    /// Per public address: (live NAT mappings, port blocks, free blocks),
    /// for metrics. Costs two array reads per installed NATed session.
    pub fn nat_by_address(&self) -> Vec<(Ipv4Addr, u64, u64, u64)> {
        let mut out: Vec<(Ipv4Addr, u64, u64, u64)> = self
            .blocks
            .by_address()
            .into_iter()
            .map(|(a, blocks, free)| (a, 0, blocks, free))
            .collect();
        for inst in self.installed.values() {
            let Some(a) = inst.block.and_then(|b| self.blocks.address(b)) else {
                continue;
            };
            let (Ok(s), Ok(f)) = (
                self.nat_slots.get(&inst.slot, 0),
                self.nat_freed.get(&inst.slot, 0),
            ) else {
                continue;
            };
            let live = nat::live(
                s.total,
                f.freed.iter().fold(0u64, |x, y| x.wrapping_add(*y)),
            );
            // Every block's address is listed already.
            if let Some(e) = out.iter_mut().find(|e| e.0 == a) {
                e.1 += live;
            }
        }
        out
    }

    /// New inside prefixes (a reload changed the pools or static users):
    /// the new ones are written before the old ones go, and the covering
    /// prefix in `CONFIG` is widened first and narrowed last, so no inside
    /// destination is ever unguarded in between.
    pub fn set_inside(&mut self, inside: Vec<(Ipv4Addr, u8)>) -> anyhow::Result<()> {
        let mut both = self.inside.clone();
        both.extend(inside.iter().copied());
        self.write_covering(&both)?;
        for (net, len) in &inside {
            self.inside_nets
                .insert(&LpmKey::new(u32::from(*len), net.octets()), 1, 0)
                .with_context(|| format!("writing INSIDE_NETS {net}/{len}"))?;
        }
        for old in &self.inside {
            if !inside.contains(old) {
                let _ = self
                    .inside_nets
                    .remove(&LpmKey::new(u32::from(old.1), old.0.octets()));
            }
        }
        self.write_covering(&inside)?;
        self.inside = inside;
        Ok(())
    }

    fn write_covering(&mut self, prefixes: &[(Ipv4Addr, u8)]) -> anyhow::Result<()> {
        let (net, mask) = covering(prefixes);
        self.config_value.inside_net = net;
        self.config_value.inside_mask = mask;
        self.config
            .set(0, self.config_value, 0)
            .context("writing CONFIG")?;
        Ok(())
    }

    /// Entries of each NAT map.
    pub fn nat_table_size(&self) -> u32 {
        self.nat_table_size
    }

    /// The per-session cap of live NAT mappings in force (0: the block only).
    pub fn nat_session_cap(&self) -> u32 {
        self.nat_session_cap
    }

    fn zero_counters(&mut self, slot: u32) -> anyhow::Result<()> {
        let zeros = PerCpuValues::try_from(vec![RawCounters::default(); self.nr_cpus])?;
        self.counters.set(slot, zeros, 0)?;
        Ok(())
    }

    /// Remove a session: `SESSION_BY_ID` and `SESSIONS` first (no new mappings), then
    /// `SUBSCRIBERS`, then every NAT mapping of its port block; frees the
    /// slot and block and returns the final counters.
    pub fn remove(&mut self, row: &SessionRow) -> anyhow::Result<SessionCounters> {
        let address = self
            .resolve(row)
            .ok_or_else(|| anyhow!("no session installed for {}", row.address))?;
        let row = &SessionRow { address, ..*row };
        let inst = self
            .installed
            .get(&row.address)
            .copied()
            .ok_or_else(|| anyhow!("no session installed for {}", row.address))?;
        self.remove6_slot(inst.slot);
        self.pending6.remove(&inst.key);
        self.by_key.remove(&inst.key);
        self.release_id(row.address, &inst.key)?;
        ignore_missing(self.sessions.remove(&inst.key)).context("deleting from SESSIONS")?;
        ignore_missing(self.subscribers.remove(&row.address.octets()))
            .context("deleting from SUBSCRIBERS")?;
        self.sub_by_slot
            .set(inst.slot, Subscriber::default(), 0)
            .context("clearing SUB_BY_SLOT")?;
        if let Some((public, start, count)) = inst.block.and_then(|b| self.blocks.get(b)) {
            self.remove_block_mappings(row.address, public, start, count);
        }
        let counters = self.slot_counters(inst.slot);
        // No new mappings since SESSIONS went (in-flight packets aside) and
        // the block's mappings are gone: the slot's counts start over.
        if let Err(e) = self.zero_nat_slot(inst.slot) {
            log::warn!(
                "session {}: zeroing NAT_SLOTS[{}]: {e:#}",
                row.address,
                inst.slot
            );
        }
        self.installed.remove(&row.address);
        self.slots.give_back(inst.slot);
        if let Some(b) = inst.block {
            self.blocks.give_back(b, Instant::now());
        }
        Ok(counters)
    }

    /// The session's public ports are known, so its `NAT_IN` keys are too:
    /// 3 × block size point lookups instead of a walk over the whole table.
    fn remove_block_mappings(&mut self, addr: Ipv4Addr, public: Ipv4Addr, start: u16, count: u16) {
        let public = public.octets();
        for proto in [IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMP] {
            for i in 0..count {
                let in_key = NatKey {
                    addr: public,
                    port: start.wrapping_add(i),
                    proto,
                    _pad: 0,
                };
                let Ok(v) = self.nat_in.get(&in_key, 0) else {
                    continue;
                };
                if v.addr != addr.octets() {
                    continue;
                }
                let _ = self.nat_in.remove(&in_key);
                let out_key = NatKey {
                    addr: v.addr,
                    port: v.port,
                    proto,
                    _pad: 0,
                };
                let _ = self.nat_out.remove(&out_key);
            }
        }
    }

    fn slot_counters(&self, slot: u32) -> SessionCounters {
        let mut c = SessionCounters::default();
        if let Ok(vals) = self.counters.get(&slot, 0) {
            for v in vals.iter() {
                c.up_packets += v.up_packets;
                c.up_bytes += v.up_bytes;
                c.down_packets += v.down_packets;
                c.down_bytes += v.down_bytes;
            }
        }
        c
    }

    /// Give the IPv4 session at `address` its IPv6 prefixes (or change
    /// them): the /64 its RA announced and the prefix DHCPv6 delegated.
    /// Downstream they find its slot (`NET64`, `DELEG6`), upstream its
    /// sources are checked against them (`SESSION6`).
    pub fn install6(
        &mut self,
        address: Ipv4Addr,
        net64: Option<std::net::Ipv6Addr>,
        deleg: Option<(std::net::Ipv6Addr, u8)>,
    ) -> anyhow::Result<()> {
        let slot = self
            .installed
            .get(&address)
            .map(|i| i.slot)
            .ok_or_else(|| anyhow!("no IPv4 session at {address} to add IPv6 to"))?;
        let first8 = |a: std::net::Ipv6Addr| -> [u8; 8] {
            let o = a.octets();
            [o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]
        };
        if let Some((_, len)) = deleg {
            if len != self.v6_deleg_len {
                bail!(
                    "delegated prefix length /{len} differs from ipv6_delegated_length /{}",
                    self.v6_deleg_len
                );
            }
        }
        self.remove6_slot(slot);
        let mut v = Session6::default();
        if let Some(n) = net64 {
            v.net64 = first8(n);
            self.net64
                .insert(v.net64, slot, 0)
                .context("writing NET64")?;
        }
        if let Some((d, len)) = deleg {
            v.deleg = pppoe_bras_common::maps::mask64(first8(d), u16::from(len));
            v.deleg_len = len;
            self.deleg6
                .insert(v.deleg, slot, 0)
                .context("writing DELEG6")?;
        }
        self.session6.set(slot, v, 0).context("writing SESSION6")?;
        Ok(())
    }

    /// Take the IPv6 rows of the session at `address` away.
    pub fn remove6(&mut self, address: Ipv4Addr) {
        if let Some(slot) = self.installed.get(&address).map(|i| i.slot) {
            self.remove6_slot(slot);
        }
    }

    fn remove6_slot(&mut self, slot: u32) {
        let Ok(v) = self.session6.get(&slot, 0) else {
            return;
        };
        if v.net64 != [0; 8] && self.net64.get(&v.net64, 0).is_ok_and(|s| s == slot) {
            let _ = self.net64.remove(&v.net64);
        }
        if v.deleg_len != 0 && self.deleg6.get(&v.deleg, 0).is_ok_and(|s| s == slot) {
            let _ = self.deleg6.remove(&v.deleg);
        }
        let _ = self.session6.set(slot, Session6::default(), 0);
    }

    /// The allocations of an installed session (slot, block), for the
    /// state file.
    pub fn allocation(&self, address: Ipv4Addr) -> Option<(u32, Option<u32>)> {
        self.installed.get(&address).map(|i| (i.slot, i.block))
    }

    /// Current counters of an installed session (zero when unknown).
    pub fn counters(&self, row: &SessionRow) -> SessionCounters {
        self.resolve(row)
            .and_then(|a| self.installed.get(&a))
            .map(|i| self.slot_counters(i.slot))
            .unwrap_or_default()
    }

    /// The session's public port block `(first port, size)`, if it has one.
    pub fn port_block(&self, row: &SessionRow) -> Option<(u16, u16)> {
        self.nat_block(row).map(|(_, start, size)| (start, size))
    }

    /// The session's NAT block `(public address, first port, size)`, if it
    /// has one: what to log at session start (RFC 6888 §4: with port
    /// blocks, one line per session is enough to trace a flow back).
    pub fn nat_block(&self, row: &SessionRow) -> Option<(Ipv4Addr, u16, u16)> {
        let b = self.installed.get(&self.resolve(row)?)?.block?;
        self.blocks.get(b)
    }

    /// The first public (NAT source) address.
    pub fn public_ip(&self) -> Ipv4Addr {
        self.public_ip
    }

    /// Number of NAT port blocks (sessions that can be NATed at once).
    pub fn block_capacity(&self) -> usize {
        self.blocks.len()
    }

    /// Named `STATS` counters summed over CPUs, in `Stat` order.
    pub fn stats(&self) -> Vec<(&'static str, u64)> {
        Stat::ALL
            .iter()
            .map(|s| {
                let n = self
                    .stats
                    .get(&(*s as u32), 0)
                    .map(|v| v.iter().sum())
                    .unwrap_or(0);
                (s.name(), n)
            })
            .collect()
    }

    /// All NAT mappings (walks `NAT_OUT`; for diagnostics and tests).
    pub fn nat_mappings(&self) -> Vec<NatMapping> {
        let mut out = Vec::new();
        for (k, v) in self.nat_out.iter().flatten() {
            let back = self.nat_in.get(
                &NatKey {
                    addr: v.addr,
                    port: v.port,
                    proto: k.proto,
                    _pad: 0,
                },
                0,
            );
            let back = back.ok();
            let last = back.map(|b| b.last_seen).unwrap_or(0).max(v.last_seen);
            out.push(NatMapping {
                proto: k.proto,
                inside: (Ipv4Addr::from(k.addr), k.port),
                outside: (Ipv4Addr::from(v.addr), v.port),
                last_seen_ns: last,
                state: back.map(|b| b.state).unwrap_or(0),
            });
        }
        out
    }

    /// Expire idle NAT mappings now (a whole sweep, see
    /// [`Self::expire_step_at`]); also does [`Self::periodic`]. For tests
    /// and tools: the daemon sweeps in bounded steps instead, so its event
    /// loop never waits for a whole table. Returns the mappings removed.
    pub fn expire_idle(&mut self) -> usize {
        self.periodic();
        self.expire_idle_at(sys::monotonic_ns())
    }

    /// The periodic checks besides expiry: resolve the last next hop the
    /// data plane had no neighbour for, and log (at most once per call, so
    /// once per period) when new flows were dropped because a session's port
    /// block was full (`drop_no_nat_port`, RFC 6888 REQ-4: drop, never evict).
    pub fn periodic(&mut self) {
        self.resolve_neighbours();
        self.log_quota_drops();
        let errors = self.xmit_errors();
        if errors > self.last_xmit_errors {
            log::warn!(
                "{} frames the data plane redirected were dropped by the NICs since the last \
                 check (nic.*.tx_xdp_xmit_errors in `pppoe-bras stats`): counted as forwarded, \
                 they never left",
                errors - self.last_xmit_errors
            );
        }
        self.last_xmit_errors = errors;
    }

    /// The XDP counters both NICs keep (`ethtool -S`, per-queue ones
    /// summed), as `nic.<interface>.<counter>`: redirects the kernel
    /// dropped after our programs counted them as forwarded show here
    /// (veth: `tx_xdp_xmit_errors`).
    pub fn nic_stats(&self) -> Vec<(String, u64)> {
        let mut out = Vec::new();
        for ifname in &self.nics {
            match nic::xdp_stats(ifname) {
                Ok(v) => out.extend(v.into_iter().map(|(n, c)| (format!("nic.{ifname}.{n}"), c))),
                Err(e) => log::debug!("ethtool -S {ifname}: {e}"),
            }
        }
        out
    }

    /// Frames redirected into either NIC that it failed to send.
    fn xmit_errors(&self) -> u64 {
        self.nic_stats()
            .iter()
            .filter(|(n, _)| n.ends_with("xdp_xmit_errors") || n.ends_with("xdp_xmit_err"))
            .map(|(_, c)| c)
            .sum()
    }

    fn log_quota_drops(&mut self) {
        let now = self.stat(Stat::DropNoNatPort) + self.stat(Stat::DropNatSessionLimit);
        if now > self.last_quota_drops {
            log::warn!(
                "NAT port quota: {} new flows dropped since the last check because a session's \
                 block of {} ports (or its nat_session_mappings) was full \
                 (xdp.drop_no_nat_port {}, xdp.drop_nat_session_limit {})",
                now - self.last_quota_drops,
                self.blocks.size(),
                self.stat(Stat::DropNoNatPort),
                self.stat(Stat::DropNatSessionLimit),
            );
        }
        self.last_quota_drops = now;
    }

    /// One `STATS` counter summed over CPUs.
    pub fn stat(&self, s: Stat) -> u64 {
        self.stats
            .get(&(s as u32), 0)
            .map(|v| v.iter().sum())
            .unwrap_or(0)
    }

    /// A whole expiry sweep at an explicit CLOCK_MONOTONIC time (ns): starts
    /// a new pass and runs [`Self::expire_step_at`] until it is through.
    pub fn expire_idle_at(&mut self, now_ns: u64) -> usize {
        self.sweep = Sweep::default();
        let mut removed = 0;
        loop {
            let step = self.expire_step_at(now_ns, EXPIRY_BUDGET);
            removed += step.removed;
            if step.pass_done {
                return removed;
            }
        }
    }

    /// [`Self::expire_step_at`] now.
    pub fn expire_step(&mut self, budget: u32) -> SweepStep {
        self.expire_step_at(sys::monotonic_ns(), budget)
    }

    /// One bounded step of the expiry sweep: one `BPF_MAP_LOOKUP_BATCH` of
    /// at most `budget` entries (a hash-map batch never splits a bucket:
    /// more only when a single bucket is larger) from where the last step
    /// stopped, and the checks and deletions of those entries. A pass walks
    /// `NAT_OUT`, then `NAT_IN`; `pass_done` says this step finished one.
    ///
    /// A mapping is idle when neither direction was seen for the protocol's
    /// timeout (TCP: established or transitory by the state the XDP
    /// programs keep in the `NAT_IN` row). Also removes orphans: `NAT_OUT`
    /// rows whose `NAT_IN` twin is gone or points elsewhere, and `NAT_IN`
    /// rows without their `NAT_OUT` twin for more than a second (a creation
    /// race in XDP or a removal in progress). Every `NAT_OUT` row removed is
    /// counted in its session's `NAT_FREED`, which gives the session the
    /// room back (live = created − freed).
    pub fn expire_step_at(&mut self, now_ns: u64, budget: u32) -> SweepStep {
        let max = budget.max(1);
        let ks = std::mem::size_of::<NatKey>();
        let vs = std::mem::size_of::<NatValue>();
        let mut keys = vec![0u8; max as usize * ks];
        let mut vals = vec![0u8; max as usize * vs];
        let phase_in = self.sweep.phase_in;
        let res = {
            let raw = if phase_in {
                &self.nat_in_raw
            } else {
                &self.nat_out_raw
            };
            let fd = raw.fd().as_fd();
            let mut res = sys::map_lookup_batch(fd, self.sweep.token, &mut keys, &mut vals, max);
            // A bucket larger than the budget: take that bucket whole.
            let mut room = max;
            while matches!(&res, Err(e) if e.raw_os_error() == Some(libc::ENOSPC)) && room < 1 << 16
            {
                room *= 2;
                keys.resize(room as usize * ks, 0);
                vals.resize(room as usize * vs, 0);
                res = sys::map_lookup_batch(fd, self.sweep.token, &mut keys, &mut vals, room);
            }
            res
        };
        let (n, next) = match res {
            Ok(r) => r,
            Err(e) => {
                log::warn!("NAT expiry: batch lookup failed: {e}; starting over");
                self.sweep = Sweep::default();
                return SweepStep {
                    visited: 0,
                    removed: 0,
                    pass_done: true,
                };
            }
        };
        let entries = (0..n as usize).map(|i| {
            // Safety: the kernel wrote `n` packed keys and values; NatKey and
            // NatValue are Pod; read_unaligned copes with the Vec<u8> alignment.
            unsafe {
                (
                    std::ptr::read_unaligned(keys.as_ptr().add(i * ks) as *const NatKey),
                    std::ptr::read_unaligned(vals.as_ptr().add(i * vs) as *const NatValue),
                )
            }
        });
        let entries: Vec<_> = entries.collect();
        let removed = if phase_in {
            self.expire_orphans(now_ns, &entries);
            0
        } else {
            self.expire_out(now_ns, &entries)
        };
        let mut pass_done = false;
        match next {
            Some(t) => self.sweep.token = Some(t),
            None if !phase_in => {
                self.sweep = Sweep {
                    phase_in: true,
                    token: None,
                }
            }
            None => {
                self.sweep = Sweep::default();
                pass_done = true;
            }
        }
        SweepStep {
            visited: n,
            removed,
            pass_done,
        }
    }

    fn nat_timeout(&self, proto: u8, state: u8) -> u64 {
        let d = match proto {
            IPPROTO_TCP if tcp_established(state) => self.timeouts.tcp,
            IPPROTO_TCP => self.timeouts.tcp_transitory,
            IPPROTO_UDP => self.timeouts.udp,
            _ => self.timeouts.icmp,
        };
        d.as_nanos().min(u64::MAX as u128) as u64
    }

    /// The `NAT_OUT` half of a sweep step: idle or inconsistent rows go,
    /// with their `NAT_IN` twin.
    fn expire_out(&mut self, now_ns: u64, entries: &[(NatKey, NatValue)]) -> usize {
        let mut removed = 0;
        let mut dirty = Vec::new();
        for (k, v) in entries {
            let in_key = NatKey {
                addr: v.addr,
                port: v.port,
                proto: k.proto,
                _pad: 0,
            };
            let twin = self.nat_in.get(&in_key, 0).ok();
            let consistent = twin.is_some_and(|t| t.addr == k.addr && t.port == k.port);
            let last = twin.map(|t| t.last_seen).unwrap_or(0).max(v.last_seen);
            let state = twin.map(|t| t.state).unwrap_or(0);
            if consistent && now_ns.saturating_sub(last) <= self.nat_timeout(k.proto, state) {
                continue;
            }
            if self.nat_out.remove(k).is_ok() {
                removed += 1;
                let owner = self.installed.get(&Ipv4Addr::from(k.addr)).map(|i| i.slot);
                if owner == Some(v.slot) {
                    let f = self.freed.entry(v.slot).or_default();
                    let pi = nat::proto_index(k.proto);
                    f[pi] = f[pi].wrapping_add(1);
                    dirty.push(v.slot);
                }
            }
            // Only delete the NAT_IN row if it is still this mapping's twin.
            if consistent {
                let _ = self.nat_in.remove(&in_key);
            }
        }
        dirty.sort_unstable();
        dirty.dedup();
        for slot in dirty {
            let freed = self.freed.get(&slot).copied().unwrap_or_default();
            if let Err(e) = self.nat_freed.set(slot, NatFreed { freed }, 0) {
                log::warn!("writing NAT_FREED[{slot}]: {e}");
            }
        }
        removed
    }

    /// The `NAT_IN` half of a sweep step: rows without their `NAT_OUT`
    /// twin for more than a second go.
    fn expire_orphans(&mut self, now_ns: u64, entries: &[(NatKey, NatValue)]) {
        for (k, v) in entries {
            let out_key = NatKey {
                addr: v.addr,
                port: v.port,
                proto: k.proto,
                _pad: 0,
            };
            let ok = self
                .nat_out
                .get(&out_key, 0)
                .is_ok_and(|o| o.addr == k.addr && o.port == k.port);
            if !ok && now_ns.saturating_sub(v.last_seen) > 1_000_000_000 {
                let _ = self.nat_in.remove(k);
            }
        }
    }

    /// Spread PPPoE sessions over `cpus` (CPU numbers; fewer than two turns
    /// spreading off): the access program hands each session's IPv4 frames
    /// to one of these CPUs, chosen by a hash of (client MAC, session id),
    /// where `bras_access_cpu` processes them (`CPUS` cpumap, queue of
    /// [`SPREAD_QUEUE`] frames per CPU). RSS cannot do this for PPPoE. Can be
    /// changed at any time; a session may move CPU when the set changes.
    pub fn set_spread(&mut self, cpus: &[u32]) -> anyhow::Result<()> {
        let mut want: Vec<u32> = cpus.iter().copied().filter(|c| *c < MAX_CPUS).collect();
        want.sort_unstable();
        want.dedup();
        if want.len() < 2 {
            want.clear();
        }
        // Off first, so the program never indexes a half-written table.
        self.config_value.flags &= !CONFIG_F_SPREAD;
        self.config_value.spread_cpus = 0;
        self.config.set(0, self.config_value, 0)?;
        let fd = self.xdp(Program::AccessCpu)?.fd()?.try_clone()?;
        for (i, cpu) in want.iter().enumerate() {
            self.cpus
                .set(*cpu, SPREAD_QUEUE, Some(&fd), 0)
                .with_context(|| format!("adding CPU {cpu} to the cpumap"))?;
            self.spread_cpus.set(i as u32, *cpu, 0)?;
        }
        if !want.is_empty() {
            self.config_value.flags |= CONFIG_F_SPREAD;
            self.config_value.spread_cpus = want.len() as u16;
            self.config.set(0, self.config_value, 0)?;
            log::info!("spreading PPPoE sessions over CPUs {want:?}");
        }
        self.spread = want;
        Ok(())
    }

    /// The CPUs sessions are spread over (empty: spreading is off).
    pub fn spread(&self) -> &[u32] {
        &self.spread
    }

    /// If the data plane recorded a new next hop without a neighbour entry
    /// (`NEIGH_MISS`, `drop_no_neigh`), send it one datagram so the kernel
    /// resolves it; the next packets then find the neighbour.
    pub fn resolve_neighbours(&mut self) {
        let Ok(m) = self.neigh_miss.get(&0, 0) else {
            return;
        };
        if m.when == 0 || m.when == self.last_neigh_miss {
            return;
        }
        self.last_neigh_miss = m.when;
        let addr = Ipv4Addr::from(m.addr);
        if let Err(e) = sys::poke_neighbour(addr) {
            log::debug!("resolving neighbour {addr}: {e}");
        }
    }

    /// Run a program once (or `repeat` times) on `frame` with
    /// `BPF_PROG_TEST_RUN`, as if received on `ingress_ifindex` (must exist in
    /// the caller's network namespace). Maps are the live ones: this is for
    /// tests and per-packet cost measurements. `XDP_REDIRECT` is reported,
    /// not performed.
    pub fn test_run(
        &mut self,
        which: Program,
        frame: &[u8],
        ingress_ifindex: u32,
        repeat: u32,
    ) -> anyhow::Result<TestRunOutput> {
        // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
        let len = u32::try_from(frame.len()).context("frame too long")?;
        let mut ctx = [0u8; 24];
        ctx[4..8].copy_from_slice(&len.to_ne_bytes());
        ctx[12..16].copy_from_slice(&ingress_ifindex.to_ne_bytes());
        // Room for encapsulation growth (≤ 30 bytes) plus slack.
        let mut out = vec![0u8; frame.len() + 256];
        let prog = self.xdp(which)?;
        let res = prog
            .test_run(TestRunOptions {
                data_in: Some(frame),
                data_out: Some(&mut out),
                ctx_in: Some(&ctx),
                repeat: repeat.max(1),
                ..TestRunOptions::default()
            })
            .context("BPF_PROG_TEST_RUN")?;
        out.truncate(res.data_size_out as usize);
        Ok(TestRunOutput {
            action: res.return_value,
            frame: out,
            duration: res.duration,
        })
    }

    /// Detach both programs, unpin the maps and remove the pin directory.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.teardown()
    }

    fn teardown(&mut self) -> anyhow::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let mut first_err = None;
        for link in std::mem::take(&mut self.links) {
            // Unpinned and dropped: the last reference goes, the program
            // is detached.
            if let Err(e) = link.unpin() {
                log::warn!("unpinning an XDP link: {e}");
                first_err.get_or_insert(e.into());
            }
        }
        for p in self.pinned.drain(..) {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("unpinning {}: {e}", p.display());
                }
            }
        }
        remove_pins(&self.pin_dir);
        if let Some((access, a, uplink, u)) = self.forwarding_was.take() {
            // Best effort: the interfaces may be gone (a lab torn down first).
            let _ = sys::set_forwarding(&access, a);
            let _ = sys::set_forwarding(&uplink, u);
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            log::warn!("data plane teardown: {e:#}");
        }
    }
}

/// Where the expiry sweep is: which map, and the batch token to go on from.
#[derive(Clone, Copy, Debug, Default)]
struct Sweep {
    /// Walking `NAT_IN` (orphans) rather than `NAT_OUT`.
    phase_in: bool,
    /// Bucket to continue from (`None`: the map's start).
    token: Option<u32>,
}

/// What one [`Dataplane::expire_step_at`] did.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SweepStep {
    /// Map entries looked at (≤ the budget unless one hash bucket is larger).
    pub visited: u32,
    /// `NAT_OUT` mappings removed.
    pub removed: usize,
    /// This step finished a pass over both maps (the next starts over).
    pub pass_done: bool,
}

/// Size the NAT table and the per-session cap together (RFC 6888 REQ-3/4:
/// one subscriber must never take the others' room): at most
/// `min(max_sessions, port blocks)` sessions are NATed at once, each with
/// at most `nat_session_mappings` live mappings (0: 3 × `port_block_size`,
/// one block per protocol), and the table must hold all of them. Returns
/// (entries of each NAT map, the cap XDP enforces; 0 = the block only).
pub fn nat_sizing(cfg: &DataplaneConfig, port_blocks: usize) -> anyhow::Result<(u32, u32)> {
    if !cfg.nat {
        let size = if cfg.nat_table_size == 0 {
            MAX_NAT
        } else {
            cfg.nat_table_size
        };
        return Ok((size, 0));
    }
    let per_block = 3 * u64::from(cfg.port_block_size);
    let (per, per_why) = match u64::from(cfg.nat_session_mappings) {
        0 => (
            per_block,
            format!("3 × port_block_size {}", cfg.port_block_size),
        ),
        n if n >= per_block => (
            per_block,
            format!("3 × port_block_size {}", cfg.port_block_size),
        ),
        n => (n, "nat_session_mappings".to_owned()),
    };
    let cap = if per < per_block { per as u32 } else { 0 };
    let sessions = u64::from(cfg.max_sessions).min(port_blocks as u64).max(1);
    let sessions_why = if u64::from(cfg.max_sessions) <= port_blocks as u64 {
        format!("max_sessions {}", cfg.max_sessions)
    } else {
        format!("{port_blocks} port blocks")
    };
    let need = sessions * per;
    let (limit, limit_why) = if cfg.nat_table_size == 0 {
        (
            u64::from(NAT_TABLE_AUTO_MAX),
            format!("the automatic limit {NAT_TABLE_AUTO_MAX} (nat_table_size = 0)"),
        )
    } else {
        (
            u64::from(cfg.nat_table_size),
            format!("nat_table_size {}", cfg.nat_table_size),
        )
    };
    if need > limit {
        bail!(
            "NAT quotas can outgrow the NAT table: {sessions} sessions ({sessions_why}) × {per} \
             mappings each ({per_why}) = {need} > {limit_why}, so a few busy subscribers could \
             fill it for everyone; set nat_table_size = {need} (about {} MiB of kernel memory), \
             or nat_session_mappings = {} or less, or lower max_sessions",
            (need * 128).div_ceil(1 << 20),
            (limit / sessions).max(1)
        );
    }
    let size = if cfg.nat_table_size == 0 {
        need.max(u64::from(MAX_NAT)) as u32
    } else {
        cfg.nat_table_size
    };
    Ok((size, cap))
}

/// The mode both programs are attached in: `cfg.xdp_mode`, unless native
/// redirects into one of the NICs would be dropped (a veth whose peer runs
/// neither XDP nor GRO, see [`nic`]): `auto` then attaches in generic mode
/// and logs one line saying why, `native` refuses to start with the fix.
fn attach_mode(cfg: &DataplaneConfig) -> anyhow::Result<XdpMode> {
    if cfg.xdp_mode == XdpMode::Generic {
        return Ok(XdpMode::Generic);
    }
    let mut facts = Vec::new();
    for ifname in [&cfg.access_if, &cfg.uplink_if] {
        match nic::facts(ifname) {
            Ok(f) => facts.push(f),
            Err(e) => log::warn!("inspecting {ifname} for native XDP: {e:#}"),
        }
    }
    match nic::decide(cfg.xdp_mode, &facts)? {
        nic::Decision::AsConfigured => Ok(cfg.xdp_mode),
        nic::Decision::Generic(why) => {
            log::warn!("{why}");
            Ok(XdpMode::Generic)
        }
    }
}

/// `CONFIG`'s (inside_net, inside_mask) for `prefixes`, wire order.
fn covering(prefixes: &[(Ipv4Addr, u8)]) -> ([u8; 4], [u8; 4]) {
    let (net, len) = crate::pool::covering_prefix(prefixes);
    let mask = if len == 0 {
        0
    } else {
        u32::MAX << (32 - u32::from(len))
    };
    (net.octets(), mask.to_be_bytes())
}

/// Deleting a row that is already gone is fine.
fn ignore_missing(r: Result<(), MapError>) -> Result<(), MapError> {
    match r {
        Err(MapError::KeyNotFound) => Ok(()),
        Err(MapError::SyscallError(e)) if e.io_error.raw_os_error() == Some(libc::ENOENT) => Ok(()),
        other => other,
    }
}

/// Remove the pins a previous (crashed) run may have left, then the directory.
/// Whether `pin_dir` holds a data plane a new daemon can take over: both
/// links pinned, every map pinned, the NAT tables of the size in force.
fn adoptable(pin_dir: &Path, nat_table_size: u32) -> Result<(), String> {
    for p in [Program::Access, Program::Uplink] {
        if !pin_dir.join(link_pin(p)).exists() {
            return Err(format!("no pinned link {}", link_pin(p)));
        }
    }
    for n in names::ALL {
        if !pin_dir.join(n).exists() {
            return Err(format!("map {n} is not pinned"));
        }
    }
    for n in [names::NAT_OUT, names::NAT_IN] {
        let m = MapData::from_pin(pin_dir.join(n)).map_err(|e| format!("{n}: {e}"))?;
        let info = m.info().map_err(|e| format!("{n}: {e}"))?;
        if info.max_entries() != nat_table_size {
            return Err(format!(
                "{n} holds {} entries, nat_table_size is now {nat_table_size}",
                info.max_entries()
            ));
        }
    }
    Ok(())
}

/// The pin file of a program's link.
fn link_pin(which: Program) -> &'static str {
    match which {
        Program::Access => "link_bras_access",
        Program::Uplink => "link_bras_uplink",
        Program::AccessCpu => "link_bras_access_cpu",
    }
}

/// Remove every pin of a previous data plane: its links first (which
/// detaches its programs), then its maps.
fn remove_pins(dir: &Path) {
    for p in [Program::Access, Program::Uplink] {
        let _ = std::fs::remove_file(dir.join(link_pin(p)));
    }
    for n in names::ALL {
        let _ = std::fs::remove_file(dir.join(n));
    }
    let _ = std::fs::remove_dir(dir);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nat_table_holds_every_quota_or_start_is_refused() {
        let mut cfg = DataplaneConfig::new("a", "u");
        // Defaults, one address (70 blocks): 70 × 1536 fits the default table.
        assert_eq!(nat_sizing(&cfg, 70).unwrap(), (MAX_NAT, 0));
        // Four addresses: 280 × 1536 = 430,080 > 262,144: auto grows the table.
        assert_eq!(nat_sizing(&cfg, 280).unwrap(), (430_080, 0));
        // An explicit table too small for the quotas is refused, naming the keys.
        cfg.nat_table_size = 262_144;
        let e = nat_sizing(&cfg, 280).unwrap_err().to_string();
        assert!(
            e.contains("280 port blocks") && e.contains("nat_table_size = 430080"),
            "{e}"
        );
        assert!(e.contains("nat_session_mappings = 936 or less"), "{e}");
        // ... unless a per-session cap makes them fit; XDP then enforces it.
        cfg.nat_session_mappings = 936;
        assert_eq!(nat_sizing(&cfg, 280).unwrap(), (262_144, 936));
        // max_sessions bounds the sessions when it is below the blocks.
        cfg.nat_session_mappings = 0;
        cfg.max_sessions = 100;
        assert_eq!(nat_sizing(&cfg, 280).unwrap(), (262_144, 0));
        // A cap at or above 3 blocks is no cap.
        cfg.nat_session_mappings = 5000;
        assert_eq!(nat_sizing(&cfg, 280).unwrap().1, 0);
        // Auto never goes beyond its limit by itself.
        cfg.nat_table_size = 0;
        cfg.max_sessions = 65534;
        cfg.nat_session_mappings = 0;
        let e = nat_sizing(&cfg, 17_920).unwrap_err().to_string();
        assert!(e.contains("automatic limit"), "{e}");
    }
}
