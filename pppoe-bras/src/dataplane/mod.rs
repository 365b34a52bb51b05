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
//!
//! By file: this one has the configuration, the public types and the
//! [`Dataplane`] handles; `load` brings it up and down, `adopt` takes over
//! a previous daemon's pins (hitless restart), `session` writes a
//! session's IPv4 and IPv6 rows, `nat` expires and counts NAT mappings,
//! `stats` reads counters, `settings` changes `CONFIG` while running.
//! `blocks` is the sans-IO part: the port-block, slot and session-id
//! allocators, with time passed in. `sys` (raw syscalls, sysctls), `nic`
//! (native XDP checks) and `capture` (the capture maps) serve the others.

mod adopt;
mod blocks;
pub mod capture;
mod load;
mod nat;
mod nic;
mod session;
mod settings;
mod stats;
mod sys;

use std::{collections::HashMap as StdHashMap, net::Ipv4Addr, path::PathBuf, time::Duration};

use anyhow::{anyhow, Context as _};
use aya::{
    maps::{lpm_trie::LpmTrie, Array, CpuMap, HashMap, MapData, PerCpuArray},
    programs::{links::PinnedLink, TestRun, TestRunOptions},
    Ebpf,
};
pub use blocks::{layout_blocks, BLOCK_REUSE_DELAY};
use blocks::{PortBlocks, SessionIds, Slots};
use nat::Sweep;
pub use nat::{nat_sizing, SweepStep};
pub use nic::{
    decide as decide_xdp_mode, Decision as XdpDecision, Facts as NicFacts, Target as RedirectTarget,
};
pub use pppoe_bras_common::maps::PIN_DIR;
use pppoe_bras_common::maps::{
    programs, Config, NatFreed, NatKey, NatSlot, NatValue, NeighMiss, Session6,
    SessionCounters as RawCounters, SessionEntry, SessionKey, SessionValue, Subscriber,
    MAX_SESSIONS,
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
    /// Answer Neighbor Solicitations on the uplink for addresses in the
    /// sessions' prefixes (`ipv6_proxy_nd`).
    pub ipv6_proxy_nd: bool,
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
            ipv6_proxy_nd: false,
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

impl Dataplane {
    /// The allocations of an installed session (slot, block), for the
    /// state file.
    pub fn allocation(&self, address: Ipv4Addr) -> Option<(u32, Option<u32>)> {
        self.installed.get(&address).map(|i| (i.slot, i.block))
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
}

#[cfg(test)]
mod tests;
