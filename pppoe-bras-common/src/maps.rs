//! Map names, sizes, keys and values of the data plane.
//!
//! Layout rules: every struct is `#[repr(C)]` with explicit padding fields, so
//! there is no implicit padding (the kernel compares keys byte by byte and
//! `aya::Pod` needs every byte initialised). Sizes are asserted below.
//! Byte order: IPv4 addresses are `[u8; 4]` in wire order (`Ipv4Addr::octets`);
//! every other integer (ports, VLAN ids, TPIDs, session ids, MTUs) is in
//! **host** byte order, so `bpftool map dump` and userspace read them
//! directly. The XDP programs swap when they read or write packet bytes.
//!
//! | map (pinned name) | type | key | value | max entries |
//! |---|---|---|---|---|
//! | `SESSIONS` | hash | [`SessionKey`] (16 B) | [`SessionValue`] (20 B) | [`MAX_SESSIONS`] |
//! | `SESSION_BY_ID` | array | PPPoE session id `u32` | [`SessionEntry`] (36 B, zero: free) | [`MAX_SESSIONS`] |
//! | `SUBSCRIBERS` | hash | subscriber IPv4 `[u8; 4]` | [`Subscriber`] (36 B) | [`MAX_SESSIONS`] |
//! | `SUB_BY_SLOT` | array | session slot `u32` | [`Subscriber`] (36 B, zero: free) | [`MAX_SESSIONS`] |
//! | `NAT_OUT` | hash | [`NatKey`] (proto, subscriber ip, subscriber port) | [`NatValue`] (24 B: public ip, public port, last use) | [`MAX_NAT`] |
//! | `NAT_IN` | hash | [`NatKey`] (proto, public ip, public port) | [`NatValue`] (24 B: subscriber ip, subscriber port, slot, TCP state, last use) | [`MAX_NAT`] |
//! | `COUNTERS` | per-CPU array | session slot `u32` | [`SessionCounters`] (32 B) | [`MAX_SESSIONS`] |
//! | `STATS` | per-CPU array | [`crate::stats::Stat`] as `u32` | `u64` packets | [`crate::stats::STAT_COUNT`] |
//! | `CONFIG` | array | `0u32` | [`Config`] (64 B) | 1 |
//! | `SESSION6` | array | session slot `u32` | [`Session6`] (24 B: /64 and delegated prefix) | [`MAX_SESSIONS`] |
//! | `NET64` | hash | /64 `[u8; 8]` | slot `u32` | [`MAX_SESSIONS`] |
//! | `DELEG6` | hash | delegated prefix `[u8; 8]` (masked) | slot `u32` | [`MAX_SESSIONS`] |
//! | `INSIDE_NETS` | LPM trie | prefix length `u32` + IPv4 `[u8; 4]` | `u8` (1) | [`MAX_SESSIONS`] |
//! | `NEIGH_MISS` | array | `0u32` | [`NeighMiss`] (16 B) | 1 |
//! | `FRAGS` | LRU hash | [`FragKey`] (12 B) | [`FragValue`] (16 B) | [`MAX_FRAGS`] |
//! | `FIB_CACHE` | per-CPU array | hash of [`FibKey`] | [`FibEntry`] (40 B) | [`FIB_CACHE_SLOTS`] |
//! | `CPUS` | CPU map | CPU number `u32` | `bpf_cpumap_val` (queue size, program) | [`MAX_CPUS`] |
//! | `SPREAD_CPUS` | array | `0..Config::spread_cpus` | CPU number `u32` | [`MAX_CPUS`] |
//! | `NAT_SLOTS` | array | session slot `u32` | [`NatSlot`] (56 B: allocation cursors, mappings created; XDP writes) | [`MAX_SESSIONS`] |
//! | `NAT_FREED` | array | session slot `u32` | [`NatFreed`] (24 B: mappings removed; the daemon writes) | [`MAX_SESSIONS`] |
//! | `CAPTURE` | array | `0u32` | [`crate::capture::CaptureConfig`] (48 B) | 1 |
//! | `CAPTURE_BUDGET` | per-CPU array | `0u32` | `u64` (GCRA arrival time) | 1 |
//! | `CAPTURE_EVENTS` | perf event array | CPU | perf buffer fd | CPUs |

/// Default directory where the maps are pinned (one file per map, named as below).
pub const PIN_DIR: &str = "/sys/fs/bpf/pppoe-bras";

/// Map names: the ELF symbol, the kernel's map name (≤ 15 characters) and the
/// pinned file name.
pub mod names {
    /// PPPoE session → subscriber (the bpftool view, and the upstream
    /// lookup of sessions whose id is not in `SESSION_BY_ID`).
    pub const SESSIONS: &str = "SESSIONS";
    /// PPPoE session id → session key and value (the upstream lookup: an
    /// array index and a key compare instead of hashing 16 bytes).
    pub const SESSION_BY_ID: &str = "SESSION_BY_ID";
    /// Subscriber IPv4 → encapsulation (downstream lookup).
    pub const SUBSCRIBERS: &str = "SUBSCRIBERS";
    /// NAPT mapping, subscriber side → public side.
    pub const NAT_OUT: &str = "NAT_OUT";
    /// NAPT mapping, public side → subscriber side.
    pub const NAT_IN: &str = "NAT_IN";
    /// Per-session per-CPU packet/byte counters.
    pub const COUNTERS: &str = "COUNTERS";
    /// Per-CPU named verdict counters.
    pub const STATS: &str = "STATS";
    /// Global configuration (one entry).
    pub const CONFIG: &str = "CONFIG";
    /// Last next hop the FIB lookup had no neighbour for (one entry).
    pub const NEIGH_MISS: &str = "NEIGH_MISS";
    /// Translation of IPv4 fragments after the first (LRU).
    pub const FRAGS: &str = "FRAGS";
    /// Next hops of recent upstream destinations (per-CPU, direct-mapped).
    pub const FIB_CACHE: &str = "FIB_CACHE";
    /// CPUs the access program spreads sessions over (`BPF_MAP_TYPE_CPUMAP`).
    pub const CPUS: &str = "CPUS";
    /// The CPU numbers of `CPUS` in use, densely (hash → CPU).
    pub const SPREAD_CPUS: &str = "SPREAD_CPUS";
    /// Session slot → subscriber (downstream: a `NAT_IN` row names the slot,
    /// an array index instead of a second hash lookup).
    pub const SUB_BY_SLOT: &str = "SUB_BY_SLOT";
    /// The pools and static users' addresses (LPM trie): destinations that
    /// are subscribers' inside addresses, never sent to the uplink.
    pub const INSIDE_NETS: &str = "INSIDE_NETS";
    /// Session slot → NAT port allocation cursors and mappings created
    /// (written by XDP only, with atomics).
    pub const NAT_SLOTS: &str = "NAT_SLOTS";
    /// Session slot → NAT mappings removed by the daemon (written by the
    /// daemon only): live mappings = created − freed.
    pub const NAT_FREED: &str = "NAT_FREED";
    /// `pppoe-bras capture`: what to copy (one entry, see `crate::capture`).
    pub const CAPTURE: &str = "CAPTURE";
    /// `pppoe-bras capture`: per-CPU frame budget of the capture (GCRA).
    pub const CAPTURE_BUDGET: &str = "CAPTURE_BUDGET";
    /// `pppoe-bras capture`: the copied frames (perf event array, per CPU).
    pub const CAPTURE_EVENTS: &str = "CAPTURE_EVENTS";
    /// Session slot → the session's IPv6 prefixes (upstream anti-spoofing).
    pub const SESSION6: &str = "SESSION6";
    /// A session's /64 (first 8 bytes) → its slot (downstream lookup).
    pub const NET64: &str = "NET64";
    /// A delegated prefix (first 8 bytes, masked to the delegated length)
    /// → its session's slot (downstream lookup).
    pub const DELEG6: &str = "DELEG6";
    /// All of them, for pinning and unpinning.
    pub const ALL: [&str; 23] = [
        SESSIONS,
        SESSION_BY_ID,
        SUBSCRIBERS,
        NAT_OUT,
        NAT_IN,
        COUNTERS,
        STATS,
        CONFIG,
        NEIGH_MISS,
        FRAGS,
        FIB_CACHE,
        CPUS,
        SPREAD_CPUS,
        SUB_BY_SLOT,
        INSIDE_NETS,
        NAT_SLOTS,
        NAT_FREED,
        CAPTURE,
        CAPTURE_BUDGET,
        CAPTURE_EVENTS,
        SESSION6,
        NET64,
        DELEG6,
    ];
}

/// Program names (ELF symbols).
pub mod programs {
    /// XDP program of the access NIC.
    pub const ACCESS: &str = "bras_access";
    /// XDP program of the uplink NIC.
    pub const UPLINK: &str = "bras_uplink";
    /// The access program's full processing, run in the `CPUS` map's
    /// kernel threads when sessions are spread over CPUs.
    pub const ACCESS_CPU: &str = "bras_access_cpu";
}

/// Sessions (and counter slots).
pub const MAX_SESSIONS: u32 = 65536;
/// NAPT mappings (each of `NAT_OUT` and `NAT_IN`): the size compiled into
/// the object; the daemon resizes both maps at load (`nat_table_size`).
pub const MAX_NAT: u32 = 262_144;
/// Fragmented datagrams in flight whose later fragments can be translated.
pub const MAX_FRAGS: u32 = 8192;
/// Slots of the direct-mapped next-hop cache `FIB_CACHE` (per CPU, a power of two).
pub const FIB_CACHE_SLOTS: u32 = 1024;
/// How long (ns) a cached next hop is used before `bpf_fib_lookup` is asked
/// again: route and neighbour changes reach the data plane within this time.
pub const FIB_CACHE_NS: u64 = 1_000_000_000;
/// Largest CPU number sessions can be spread to (size of `CPUS`).
pub const MAX_CPUS: u32 = 64;

/// How long (ns) the first fragment's translation applies to later
/// fragments of the same datagram (the usual reassembly timeout, 30 s).
pub const FRAG_TTL_NS: u64 = 30_000_000_000;

/// `SessionValue::flags` / `Subscriber::flags`: translate this session's traffic.
pub const SESSION_F_NAT: u16 = 1;

/// `Config::flags`: the programs handle traffic (otherwise everything passes).
pub const CONFIG_F_ENABLED: u32 = 1;
/// `Config::flags`: clamp the TCP MSS option of SYNs to the session MTU − 40.
pub const CONFIG_F_MSS_CLAMP: u32 = 2;
/// `Config::flags`: sessions are routed (NAT off): the uplink program looks
/// the destination up in `SUBSCRIBERS`; without it, only NAT mappings.
pub const CONFIG_F_ROUTED: u32 = 4;
/// `Config::flags`: the access program hands PPPoE session frames to the
/// CPU of their session (`SPREAD_CPUS[hash % spread_cpus]`) through `CPUS`,
/// where `bras_access_cpu` does the work.
pub const CONFIG_F_SPREAD: u32 = 8;

/// `Config::flags`: traffic from one subscriber to another's inside
/// address is dropped (`drop_isolated`) instead of forwarded.
pub const CONFIG_F_ISOLATE: u32 = 16;

/// `Config::access_allow` bits: which non-PPPoE frames the access program
/// passes to the host (everything else is dropped, `drop_access_not_pppoe`).
pub mod access_allow {
    /// ARP (0x0806).
    pub const ARP: u32 = 1;
    /// LLDP (0x88cc).
    pub const LLDP: u32 = 2;
    /// IPv4 (0x0800) outside PPPoE: the host's own management on the segment.
    pub const IPV4: u32 = 4;
    /// IPv6 (0x86dd) outside PPPoE.
    pub const IPV6: u32 = 8;
    /// Slow protocols (0x8809: LACP, OAM).
    pub const LACP: u32 = 16;
    /// IEEE 802.3 length-field frames (LLC: STP, CDP …).
    pub const LLC: u32 = 32;
    /// 802.1X EAPOL (0x888e).
    pub const EAPOL: u32 = 64;
    /// The words of `access_allow` in the config, with their bits.
    pub const WORDS: [(&str, u32); 7] = [
        ("arp", ARP),
        ("lldp", LLDP),
        ("ipv4", IPV4),
        ("ipv6", IPV6),
        ("lacp", LACP),
        ("llc", LLC),
        ("eapol", EAPOL),
    ];

    /// The bit that allows a frame of `ethertype` (host order; a value
    /// below 0x0600 is an 802.3 length), 0 for kinds that are never allowed.
    pub const fn bit(ethertype: u16) -> u32 {
        match ethertype {
            0x0806 => ARP,
            0x88cc => LLDP,
            0x0800 => IPV4,
            0x86dd => IPV6,
            0x8809 => LACP,
            0x888e => EAPOL,
            t if t < 0x0600 => LLC,
            _ => 0,
        }
    }
}

/// `NatValue::state` (in `NAT_IN`, TCP only): the subscriber sent a segment.
pub const NAT_ST_OUT: u8 = 1;
/// `NatValue::state`: the remote end answered (a segment arrived from the uplink).
pub const NAT_ST_IN: u8 = 2;
/// `NatValue::state`: a FIN was seen (either direction): the connection is closing.
pub const NAT_ST_FIN: u8 = 4;
/// `NatValue::state`: a RST was seen (either direction).
pub const NAT_ST_RST: u8 = 8;

/// True when a TCP mapping with `state` counts as established (RFC 5382
/// §5: both ends have sent segments and neither closed): it then gets the
/// long idle timeout; otherwise (SYN only, FIN or RST seen) the transitory one.
pub const fn tcp_established(state: u8) -> bool {
    state & (NAT_ST_OUT | NAT_ST_IN) == (NAT_ST_OUT | NAT_ST_IN)
        && state & (NAT_ST_FIN | NAT_ST_RST) == 0
}

/// Key of `SESSIONS`: what identifies a PPPoE session on the wire
/// (RFC 2516 §4: the session is the pair of MACs plus SESSION_ID; the BRAS
/// MAC is implied by the interface). VLAN ids are the 12-bit VID only (PCP/DEI
/// masked off), 0 when the tag is absent; a single tag is `outer_vid`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct SessionKey {
    /// Ingress ifindex of the access NIC.
    pub ifindex: u32,
    /// Outer (or only) VLAN id, 0 = untagged.
    pub outer_vid: u16,
    /// Inner VLAN id of QinQ, 0 = none.
    pub inner_vid: u16,
    /// Subscriber (CPE) MAC.
    pub client_mac: [u8; 6],
    /// PPPoE SESSION_ID, host byte order.
    pub session_id: u16,
}

/// Value of `SESSIONS`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionValue {
    /// The address IPCP gave the subscriber; the only accepted source address.
    pub addr: [u8; 4],
    /// NAT source address of this session.
    pub public_addr: [u8; 4],
    /// First public port of the session's block.
    pub port_start: u16,
    /// Ports in the block (0 = no NAT possible).
    pub port_count: u16,
    /// PPP MTU negotiated for the session (the upstream PPPoE payload limit).
    pub mtu: u16,
    /// `SESSION_F_*`.
    pub flags: u16,
    /// Index into `COUNTERS`.
    pub slot: u32,
}

/// Value of `SESSION_BY_ID` (index: the PPPoE SESSION_ID): a session and
/// the key it belongs to. The daemon allocates session ids uniquely (RFC
/// 2516 §5.3 lets the AC pick them), so the id alone finds the session; the
/// program still compares the whole key (ifindex, VLANs, client MAC, id)
/// before using the value, and a mismatch falls back to `SESSIONS` (where a
/// session whose id is taken by another one lives only). All zero: free
/// (no interface has ifindex 0). The key is last so that a reader racing a
/// (forward) copy by the daemon sees the whole value once it sees the key.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionEntry {
    /// The session, as in `SESSIONS`.
    pub val: SessionValue,
    /// Whose session it is, as the key of `SESSIONS`.
    pub key: SessionKey,
}

/// Value of `SUBSCRIBERS` (key: subscriber IPv4 octets): how to encapsulate
/// a downstream packet.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Subscriber {
    /// Access NIC ifindex (redirect target).
    pub ifindex: u32,
    /// TPID of the outer tag (0x8100 or 0x88a8), 0 = untagged.
    pub outer_tpid: u16,
    /// Outer (or only) VLAN id.
    pub outer_vid: u16,
    /// Inner VLAN id (TPID 0x8100), 0 = no inner tag.
    pub inner_vid: u16,
    /// PPPoE SESSION_ID, host byte order.
    pub session_id: u16,
    /// Subscriber (CPE) MAC: Ethernet destination.
    pub client_mac: [u8; 6],
    /// BRAS MAC of the session (AC MAC): Ethernet source.
    pub bras_mac: [u8; 6],
    /// PPP MTU (largest IPv4 packet sent to the subscriber).
    pub mtu: u16,
    /// `SESSION_F_*`.
    pub flags: u16,
    /// Index into `COUNTERS` and `SUB_BY_SLOT`.
    pub slot: u32,
    /// The subscriber's IPv4 address (the key of `SUBSCRIBERS`).
    pub addr: [u8; 4],
}

/// Key of `NAT_OUT` (subscriber side) and `NAT_IN` (public side).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct NatKey {
    /// IPv4 address (subscriber's in `NAT_OUT`, public in `NAT_IN`).
    pub addr: [u8; 4],
    /// TCP/UDP port or ICMP echo identifier, host byte order.
    pub port: u16,
    /// IP protocol (6, 17, 1).
    pub proto: u8,
    /// Always 0.
    pub _pad: u8,
}

/// Value of `NAT_OUT` (public side) and `NAT_IN` (subscriber side).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatValue {
    /// IPv4 address (public in `NAT_OUT`, subscriber's in `NAT_IN`).
    pub addr: [u8; 4],
    /// Port or ICMP identifier, host byte order.
    pub port: u16,
    /// TCP state bits `NAT_ST_*`, kept in the `NAT_IN` row (0 elsewhere).
    pub state: u8,
    /// Always 0.
    pub _pad: u8,
    /// The subscriber's session slot (`NAT_IN`: index of `SUB_BY_SLOT`,
    /// checked against the address; both: whose `NAT_SLOTS` count the
    /// mapping is in).
    pub slot: u32,
    /// Always 0.
    pub _pad2: u32,
    /// `bpf_ktime_get_coarse_ns()` (CLOCK_MONOTONIC, one tick coarse) of the
    /// last packet in this map's direction, refreshed at most once a second
    /// per mapping.
    pub last_seen: u64,
}

/// Value of `COUNTERS` (per CPU; userspace sums). Bytes are IPv4 total lengths.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SessionCounters {
    /// Packets subscriber → uplink.
    pub up_packets: u64,
    /// IPv4 bytes subscriber → uplink.
    pub up_bytes: u64,
    /// Packets uplink → subscriber.
    pub down_packets: u64,
    /// IPv4 bytes uplink → subscriber.
    pub down_bytes: u64,
}

/// Value of `CONFIG[0]`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Config {
    /// The uplink's own address: source of the ICMP errors the BRAS sends
    /// upstream (Fragmentation Needed, Time Exceeded); 0 = use the
    /// destination of the packet that caused them.
    pub public_addr: [u8; 4],
    /// Uplink ifindex.
    pub uplink_ifindex: u32,
    /// Access ifindex.
    pub access_ifindex: u32,
    /// `CONFIG_F_*`.
    pub flags: u32,
    /// The BRAS's PPP address (IPCP local address): source of the ICMP
    /// Time Exceeded sent to subscribers, i.e. the first traceroute hop.
    pub local_addr: [u8; 4],
    /// Largest IPv4 packet accepted from a subscriber (our MRU, RFC 1661
    /// §6.1; larger with RFC 4638). Larger ones are dropped (`drop_over_mru`).
    pub mru: u16,
    /// Entries of `SPREAD_CPUS` in use (with [`CONFIG_F_SPREAD`]).
    pub spread_cpus: u16,
    /// [`access_allow`] bits: non-PPPoE frames passed to the host.
    pub access_allow: u32,
    /// A prefix covering every inside address (pools, static users):
    /// only destinations in it are looked up in `SUBSCRIBERS` and
    /// `INSIDE_NETS` (one compare spares the lookups for the rest).
    pub inside_net: [u8; 4],
    /// Its mask (0.0.0.0 with `inside_net` 0.0.0.0: every destination is looked up).
    pub inside_mask: [u8; 4],
    /// Most live NAT mappings one session may hold, all protocols together
    /// (RFC 6888 REQ-4); 0 = only the port block limits (per protocol).
    pub nat_session_cap: u32,
    /// Always 0.
    pub _pad: u32,
    /// [`CONFIG6_F_ENABLED`]: the programs route subscribers' IPv6.
    pub v6_flags: u16,
    /// Length of every delegated prefix (`ipv6_delegated_length`, ≤ 64):
    /// the downstream lookup masks the destination to it.
    pub v6_deleg_len: u16,
    /// The uplink's global IPv6 address: source of the ICMPv6 errors the
    /// BRAS sends (all zero: none are sent, the datagrams are dropped).
    pub uplink6: [u8; 16],
    /// The uplink's MAC: the link-layer address proxy ND advertises.
    pub uplink_mac: [u8; 6],
    /// Always 0.
    pub _pad6: [u8; 2],
}

/// `Config::v6_flags`: IPv6 of sessions with prefixes is routed in XDP.
pub const CONFIG6_F_ENABLED: u16 = 1;
/// `Config::v6_flags`: answer Neighbor Solicitations on the uplink for
/// addresses in the sessions' prefixes (`ipv6_proxy_nd`).
pub const CONFIG6_F_PROXY_ND: u16 = 2;

/// Value of `SESSION6[slot]`: a session's IPv6 prefixes, what its IPv6
/// source addresses must lie in (all zero: the session has no IPv6).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Session6 {
    /// The session's /64 (SLAAC, from the RA), first 8 bytes.
    pub net64: [u8; 8],
    /// The delegated prefix (DHCPv6-PD), first 8 bytes, zero: none.
    pub deleg: [u8; 8],
    /// Length of `deleg` in bits (0: none).
    pub deleg_len: u8,
    /// Always 0.
    pub _pad: [u8; 7],
}

/// Value of `FIB6_CACHE` (per CPU, direct-mapped by destination): a
/// successful AF_INET6 `bpf_fib_lookup` for the uplink.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Fib6Entry {
    /// The destination looked up (all zero: empty slot).
    pub dst: [u8; 16],
    /// Egress ifindex.
    pub ifindex: u32,
    /// Route MTU: larger datagrams take the full lookup.
    pub mtu: u16,
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
    /// Always 0.
    pub _pad: [u8; 6],
    /// `bpf_ktime_get_coarse_ns()` of the lookup; stale after [`FIB_CACHE_NS`].
    pub when: u64,
}

/// `prefix` (first 8 bytes of an IPv6 address) cut to `len` bits (≤ 64).
pub const fn mask64(prefix: [u8; 8], len: u16) -> [u8; 8] {
    let x = u64::from_be_bytes(prefix);
    let m = if len == 0 {
        0
    } else if len >= 64 {
        u64::MAX
    } else {
        u64::MAX << (64 - len)
    };
    (x & m).to_be_bytes()
}

/// Value of `NAT_SLOTS[slot]`: the session's NAT allocation state, written
/// by the XDP programs only, with atomic adds (several CPUs create mappings
/// of one session at once). Index `i` of both arrays is the protocol
/// ([`crate::nat::proto_index`]: TCP, UDP, ICMP). Zeroed by the daemon when
/// the slot is (re)assigned, while no session uses it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatSlot {
    /// Allocation cursor: the next offset in the port block to try (modulo
    /// the block size), advanced by every probe.
    pub next: [u64; 3],
    /// Mappings created (reserved) since the slot was zeroed, per protocol.
    pub created: [u64; 3],
    /// Mappings created of all protocols (what `Config::nat_session_cap`
    /// is checked against).
    pub total: u64,
}

/// Value of `NAT_FREED[slot]`: the session's mappings the daemon removed
/// (expiry), written by the daemon only. Live = `created − freed`
/// (wrapping), so neither side ever writes the other's counter.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NatFreed {
    /// Per protocol, as [`NatSlot::created`].
    pub freed: [u64; 3],
}

/// Key of `FRAGS`: one fragmented datagram as it arrived (RFC 791: source,
/// destination, protocol and identification name a datagram).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FragKey {
    /// Source address as received.
    pub src: [u8; 4],
    /// Destination address as received.
    pub dst: [u8; 4],
    /// IPv4 identification, host byte order.
    pub id: u16,
    /// IP protocol.
    pub proto: u8,
    /// [`FRAG_DIR_UP`] or [`FRAG_DIR_DOWN`].
    pub dir: u8,
}

/// `FragKey::dir` of subscriber → uplink fragments.
pub const FRAG_DIR_UP: u8 = 0;
/// `FragKey::dir` of uplink → subscriber fragments.
pub const FRAG_DIR_DOWN: u8 = 1;

/// Value of `FRAGS`: the address the first fragment was translated to
/// (upstream: the public source; downstream: the subscriber destination).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FragValue {
    /// The translated address.
    pub addr: [u8; 4],
    /// Always 0.
    pub _pad: u32,
    /// `bpf_ktime_get_ns()` of the first fragment; later fragments are only
    /// translated within [`FRAG_TTL_NS`].
    pub when: u64,
}

/// Value of `NEIGH_MISS[0]`: the last next hop `bpf_fib_lookup` had no
/// neighbour entry for; the daemon makes the kernel resolve it.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct NeighMiss {
    /// Egress ifindex of the route.
    pub ifindex: u32,
    /// Next-hop IPv4 address.
    pub addr: [u8; 4],
    /// `bpf_ktime_get_ns()` of the miss.
    pub when: u64,
}

/// Key of `FIB_CACHE`: what the upstream route depends on (the source after
/// NAT, so a handful of public addresses in NAT mode). TOS is not part of
/// it: TOS-based routing rules are not supported with the cache.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct FibKey {
    /// Ingress (access) ifindex the lookup is made for.
    pub ifindex: u32,
    /// Source address (after NAT).
    pub src: [u8; 4],
    /// Destination address.
    pub dst: [u8; 4],
}

/// Value of `FIB_CACHE`: a successful `bpf_fib_lookup` of `key`.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FibEntry {
    /// What was looked up (all zero: empty slot).
    pub key: FibKey,
    /// Egress ifindex.
    pub ifindex: u32,
    /// Route MTU: larger packets take the full lookup (Fragmentation Needed).
    pub mtu: u16,
    /// Ethernet source (the egress NIC).
    pub smac: [u8; 6],
    /// Ethernet destination (the next hop's neighbour entry).
    pub dmac: [u8; 6],
    /// Always 0.
    pub _pad: [u8; 2],
    /// `bpf_ktime_get_coarse_ns()` of the lookup; stale after [`FIB_CACHE_NS`].
    pub when: u64,
}

const _: () = {
    assert!(core::mem::size_of::<FibKey>() == 12);
    assert!(core::mem::size_of::<FibEntry>() == 40);
    assert!(core::mem::size_of::<SessionKey>() == 16);
    assert!(core::mem::size_of::<SessionValue>() == 20);
    assert!(core::mem::size_of::<SessionEntry>() == 36);
    assert!(core::mem::size_of::<Subscriber>() == 36);
    assert!(core::mem::size_of::<NatKey>() == 8);
    assert!(core::mem::size_of::<NatValue>() == 24);
    assert!(core::mem::size_of::<SessionCounters>() == 32);
    assert!(core::mem::size_of::<Config>() == 72);
    assert!(core::mem::size_of::<Session6>() == 24);
    assert!(core::mem::size_of::<Fib6Entry>() == 48);
    assert!(core::mem::size_of::<NatSlot>() == 56);
    assert!(core::mem::size_of::<NatFreed>() == 24);
    assert!(core::mem::size_of::<NeighMiss>() == 16);
    assert!(core::mem::size_of::<FragKey>() == 12);
    assert!(core::mem::size_of::<FragValue>() == 16);
};

#[cfg(feature = "user")]
mod pod {
    use super::*;
    // Safety (all): `#[repr(C)]`, only integer/byte-array fields, no implicit
    // padding (sizes asserted above), every bit pattern valid.
    unsafe impl aya::Pod for SessionKey {}
    unsafe impl aya::Pod for SessionValue {}
    unsafe impl aya::Pod for SessionEntry {}
    unsafe impl aya::Pod for Subscriber {}
    unsafe impl aya::Pod for NatKey {}
    unsafe impl aya::Pod for NatValue {}
    unsafe impl aya::Pod for SessionCounters {}
    unsafe impl aya::Pod for Config {}
    unsafe impl aya::Pod for NeighMiss {}
    unsafe impl aya::Pod for FragKey {}
    unsafe impl aya::Pod for FragValue {}
    unsafe impl aya::Pod for FibKey {}
    unsafe impl aya::Pod for FibEntry {}
    unsafe impl aya::Pod for Session6 {}
    unsafe impl aya::Pod for NatSlot {}
    unsafe impl aya::Pod for NatFreed {}
}
