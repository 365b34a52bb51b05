//! The maps, one line each. Layouts and byte order: `pppoe_bras_common::maps`.
//!
//! BTF-defined maps (`.maps` section, `#[btf_map]`), so `bpftool map dump`
//! shows field names. The symbol names are the `names::*` constants of common.
use aya_ebpf::{
    btf_maps::{Array, CpuMap, HashMap, LpmTrie, LruHashMap, PerCpuArray, PerfEventArray},
    macros::btf_map,
};
use pppoe_bras_common::{
    capture::CaptureConfig,
    maps::{
        Config, Fib6Entry, FibEntry, FragKey, FragValue, NatFreed, NatKey, NatSlot, NatValue,
        NeighMiss, Session6, SessionCounters, SessionEntry, SessionKey, SessionValue, Subscriber,
        FIB_CACHE_SLOTS, MAX_CPUS, MAX_FRAGS, MAX_NAT, MAX_SESSIONS,
    },
    stats::STAT_COUNT,
};

/// PPPoE session (ifindex, VLANs, client MAC, session id) → subscriber address, NAT block, counter slot.
#[btf_map]
pub static SESSIONS: HashMap<SessionKey, SessionValue, { MAX_SESSIONS as usize }> = HashMap::new();

/// PPPoE session id → (session, its key): the upstream lookup; `SESSIONS` is the fallback.
#[btf_map]
pub static SESSION_BY_ID: Array<SessionEntry, { MAX_SESSIONS as usize }> = Array::new();

/// Subscriber IPv4 → how to encapsulate towards it (access ifindex, tags, MACs, session id, MTU).
#[btf_map]
pub static SUBSCRIBERS: HashMap<[u8; 4], Subscriber, { MAX_SESSIONS as usize }> = HashMap::new();

/// NAPT (proto, subscriber ip, port/id) → (public ip, port, last use). Created by `bras_access`.
#[btf_map]
pub static NAT_OUT: HashMap<NatKey, NatValue, { MAX_NAT as usize }> = HashMap::new();

/// NAPT (proto, public ip, port/id) → (subscriber ip, port, last use). Created by `bras_access` first (`BPF_NOEXIST` claims the port).
#[btf_map]
pub static NAT_IN: HashMap<NatKey, NatValue, { MAX_NAT as usize }> = HashMap::new();

/// Per-session, per-CPU packets/bytes, indexed by the session's slot.
#[btf_map]
pub static COUNTERS: PerCpuArray<SessionCounters, { MAX_SESSIONS as usize }> = PerCpuArray::new();

/// Per-CPU verdict counters indexed by `Stat`.
#[btf_map]
pub static STATS: PerCpuArray<u64, { STAT_COUNT as usize }> = PerCpuArray::new();

/// Global knobs, entry 0, written by the daemon before attaching.
#[btf_map]
pub static CONFIG: Array<Config, 1> = Array::new();

/// Last next hop without a neighbour entry, entry 0 (the daemon resolves it).
#[btf_map]
pub static NEIGH_MISS: Array<NeighMiss, 1> = Array::new();

/// First fragment's translation, for the later fragments of the same datagram.
#[btf_map]
pub static FRAGS: LruHashMap<FragKey, FragValue, { MAX_FRAGS as usize }> = LruHashMap::new();

/// Next hops of recent upstream destinations, per CPU, direct-mapped (see `fib`).
#[btf_map]
pub static FIB_CACHE: PerCpuArray<FibEntry, { FIB_CACHE_SLOTS as usize }> = PerCpuArray::new();

/// The CPUs sessions are spread over; each entry runs `bras_access_cpu`.
#[btf_map]
pub static CPUS: CpuMap<{ MAX_CPUS as usize }> = CpuMap::new();

/// `CPUS` keys in use, densely: a session's hash picks one of the first `Config::spread_cpus`.
#[btf_map]
pub static SPREAD_CPUS: Array<u32, { MAX_CPUS as usize }> = Array::new();

/// Per-CPU budget of the ICMP errors the BRAS sends (see `icmp_limit`).
#[btf_map]
pub static ICMP_BUDGET: PerCpuArray<u64, 1> = PerCpuArray::new();

/// Session slot → subscriber (zero: free); `NAT_IN` rows name the slot.
#[btf_map]
pub static SUB_BY_SLOT: Array<Subscriber, { MAX_SESSIONS as usize }> = Array::new();

/// Inside addresses (pools as prefixes, static users as /32): a destination
/// here that no session holds is dropped, never sent to the uplink.
#[btf_map]
pub static INSIDE_NETS: LpmTrie<[u8; 4], u8, { MAX_SESSIONS as usize }> = LpmTrie::new();

/// Session slot → NAT allocation cursors and mappings created (XDP writes, atomically).
#[btf_map]
pub static NAT_SLOTS: Array<NatSlot, { MAX_SESSIONS as usize }> = Array::new();

/// Session slot → NAT mappings the daemon removed (the daemon writes; XDP reads).
#[btf_map]
pub static NAT_FREED: Array<NatFreed, { MAX_SESSIONS as usize }> = Array::new();

/// `pppoe-bras capture`: what to copy, entry 0 (0 flags: nothing; see `capture`).
#[btf_map]
pub static CAPTURE: Array<CaptureConfig, 1> = Array::new();

/// `pppoe-bras capture`: per-CPU frame budget (GCRA arrival time).
#[btf_map]
pub static CAPTURE_BUDGET: PerCpuArray<u64, 1> = PerCpuArray::new();

/// `pppoe-bras capture`: the copied frames, one perf buffer per CPU.
#[btf_map]
pub static CAPTURE_EVENTS: PerfEventArray = PerfEventArray::new();

/// Session slot → the session's IPv6 prefixes (upstream anti-spoofing).
#[btf_map]
pub static SESSION6: Array<Session6, { MAX_SESSIONS as usize }> = Array::new();

/// A session's /64 → its slot (downstream).
#[btf_map]
pub static NET64: HashMap<[u8; 8], u32, { MAX_SESSIONS as usize }> = HashMap::new();

/// A delegated prefix (masked to `Config::v6_deleg_len`) → its session's slot (downstream).
#[btf_map]
pub static DELEG6: HashMap<[u8; 8], u32, { MAX_SESSIONS as usize }> = HashMap::new();

/// Next hops of recent upstream IPv6 destinations, per CPU, direct-mapped (see `fib6`).
#[btf_map]
pub static FIB6_CACHE: PerCpuArray<Fib6Entry, { FIB_CACHE_SLOTS as usize }> = PerCpuArray::new();
