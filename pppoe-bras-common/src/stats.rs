//! Named data-plane counters: the index of the per-CPU `STATS` array.
//!
//! Every verdict of both XDP programs bumps exactly one of these (cilium's
//! `drop_reasons.h` habit), so `pppoe-bras stats` can tell why a packet went
//! where it went. Append new reasons before [`Stat::Count`]; never reorder (the
//! numbers are visible through `bpftool map dump`).

/// One counter of the `STATS` map.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stat {
    /// Access: not a PPPoE frame, but of a kind the operator allowed
    /// (`access_allow`, e.g. ARP or LLDP): passed to the host.
    AccessPassOther = 0,
    /// Access: PPPoE discovery or a session frame that is not IPv4 (LCP,
    /// PAP/CHAP, IPCP, …): passed to the daemon's AF_PACKET socket.
    AccessPassControl,
    /// Access: IPv4 decapsulated, NATed and redirected to the uplink.
    UpForwarded,
    /// Uplink: IPv4 translated, encapsulated and redirected to the access NIC.
    DownForwarded,
    /// Uplink: not IPv4 TCP/UDP/ICMP echo reply, or other traffic of the host.
    UplinkPassOther,
    /// Uplink: TCP/UDP/echo reply without a NAT mapping: the host's own traffic.
    UplinkPassNoMapping,
    /// Uplink: a later fragment whose first fragment matched no mapping (the
    /// host's own traffic may be fragmented).
    UplinkPassFragment,
    /// Access: PPPoE session IPv4 without a matching `SESSIONS` row.
    DropNoSession,
    /// Access: IPv4 source is not the session's address (anti-spoofing), or
    /// any IPv4 from an IPv6-only session (IPCP not open).
    DropSpoofedSource,
    /// Access: every port of the session's block is taken (for the protocol).
    DropNoNatPort,
    /// TTL would reach zero and no ICMP Time Exceeded could be built (the
    /// datagram is shorter than its header + 8 bytes, or is itself an ICMP error).
    DropTtlExpired,
    /// Access: larger than the uplink route's MTU (`bpf_fib_lookup` FRAG_NEEDED).
    DropTooBig,
    /// Bad PPPoE/IPv4 header, lengths that do not fit, truncated L4 header.
    DropMalformed,
    /// `bpf_fib_lookup` found no route (or forwarding is off, or the route
    /// points back to the access NIC).
    DropFibFail,
    /// `bpf_fib_lookup` found the route but the next hop has no neighbour
    /// entry yet; the daemon resolves it (see `NEIGH_MISS`).
    DropNoNeigh,
    /// Access: a later fragment (offset > 0) of a NATed session whose first
    /// fragment was not seen within 30 s: it carries no ports to translate.
    DropFragment,
    /// Access: a protocol the NAT cannot translate (not TCP/UDP/ICMP echo).
    DropNatUnsupported,
    /// Uplink: a NAT mapping whose subscriber row is gone (teardown race).
    DropNoSubscriber,
    /// `CONFIG` not filled in yet: everything is passed.
    PassDisabled,
    /// Internal failure after the frame was touched (adjust_head failed …).
    Aborted,
    /// Uplink: an ICMP error about a NAT flow (RFC 5508): outer destination and
    /// quoted inner source translated, sent to the subscriber.
    DownIcmpError,
    /// Access: a subscriber's ICMP error about an inbound NAT flow: outer source
    /// and quoted inner destination translated, forwarded to the uplink.
    UpIcmpError,
    /// Access: TTL expired at the BRAS: ICMP Time Exceeded from the PPP local
    /// address sent back through the session (XDP_TX).
    AccessTxTimeExceeded,
    /// Uplink: TTL expired on the way to a subscriber: ICMP Time Exceeded sent
    /// back to the sender (XDP_TX).
    UplinkTxTimeExceeded,
    /// Uplink: DF set and larger than the session MTU: ICMP Fragmentation Needed
    /// (RFC 1191, next-hop MTU = session MTU) sent back to the sender (XDP_TX).
    UplinkTxFragNeeded,
    /// Uplink: larger than the session MTU with DF clear (or a fragment): XDP
    /// cannot fragment, so it is dropped (see README, "MTU").
    DropTooBigNoDf,
    /// Access: IPv4 packet larger than our MRU (malformed for PPP, RFC 1661 §6.1).
    DropOverMru,
    /// Access: a subscriber's ICMP error whose quoted packet matches no NAT
    /// mapping (or is truncated, or quotes an ICMP error).
    DropIcmpErrorUnmatched,
    /// Access: sent to another subscriber's public address and port: translated
    /// both ways and sent to that subscriber (RFC 4787 REQ-9 hairpinning).
    UpHairpin,
    /// Access: a PPPoE session frame handed to its session's CPU through
    /// the `CPUS` map (spreading); `bras_access_cpu` there counts its verdict.
    AccessSpread,
    /// An ICMP error the BRAS would have sent (Time Exceeded, Fragmentation
    /// Needed) over its per-CPU rate (RFC 1812 §4.3.2.8): dropped instead.
    DropIcmpRateLimit,
    /// Access: not PPPoE (plain IPv4/IPv6, ARP, anything) and not allowed by
    /// `access_allow`: the access segment carries PPPoE only, so nothing
    /// else reaches the host's stack from it.
    DropAccessNotPppoe,
    /// Access: ICMP Echo Request to the BRAS's PPP address (`local_address`)
    /// answered in place, back through the session (the gateway pings).
    AccessTxEchoReply,
    /// Access: other traffic to `local_address`: ICMP Destination
    /// Unreachable (port for TCP/UDP, protocol otherwise) sent back.
    AccessTxUnreachable,
    /// Access: to `local_address` but nothing can be answered (an ICMP
    /// error, a later fragment, a truncated datagram): dropped.
    DropToLocal,
    /// Access: to another subscriber's inside address: forwarded PPPoE to
    /// PPPoE (as the kernel routes between ppp interfaces), no NAT.
    UpSubscriber,
    /// Access: to another subscriber with `isolate_subscribers` on.
    DropIsolated,
    /// Access: to an address of a pool or a static user that no session
    /// holds now: never sent to the uplink.
    DropInsideNoSubscriber,
    /// Access: a new flow of a session that already holds its most live NAT
    /// mappings (`nat_session_mappings`, RFC 6888 REQ-4): dropped, nothing
    /// evicted.
    DropNatSessionLimit,
    /// `pppoe-bras capture`: a frame that matched the capture but was over
    /// the capture's per-CPU frame budget: not copied.
    CaptureOverBudget,
    /// `pppoe-bras capture`: a frame the perf buffer had no room for (or
    /// with no reader on this CPU): not copied.
    CaptureLost,
    /// Access: IPv6 from a session, checked, routed and redirected to the uplink.
    UpForwarded6,
    /// Uplink: IPv6 to a session's /64 or delegated prefix, encapsulated
    /// and redirected to the access NIC.
    DownForwarded6,
    /// Access: IPv6 from a session that has no IPv6 prefixes (yet), or IPv6
    /// while the data plane has IPv6 off: the daemon's business.
    AccessPassIpv6,
    /// Access: IPv6 source outside the session's /64 and delegated prefix.
    DropSpoofedSource6,
    /// Hop limit would reach zero (IPv6).
    DropHopLimit,
    /// IPv6 larger than the session MTU (downstream) or the route MTU
    /// (upstream): dropped (no Packet Too Big yet).
    DropTooBig6,
    /// ICMPv6 Time Exceeded sent (hop limit expired at the BRAS), either way.
    TxTimeExceeded6,
    /// ICMPv6 Packet Too Big sent to a sender whose datagram does not fit
    /// the session MTU (RFC 8201).
    TxPacketTooBig6,
    /// Uplink (`ipv6_proxy_nd`): a Neighbor Solicitation for an address in
    /// a session's /64 or delegated prefix, answered with a Neighbor
    /// Advertisement of the uplink's MAC (RFC 4861 §7.2.8).
    TxNeighborAdvert6,
    /// Uplink: an ICMPv6 Neighbor Solicitation handed from the IPv6 path to
    /// the proxy subprogram. A marker between the two: never counted (the
    /// proxy answers, or passes the frame as `uplink_pass_other`).
    UplinkProxyNd,
    /// Number of counters (not a counter).
    Count,
}

/// Number of entries of the `STATS` map.
pub const STAT_COUNT: u32 = Stat::Count as u32;

impl Stat {
    /// All counters, in index order.
    pub const ALL: [Stat; STAT_COUNT as usize] = [
        Stat::AccessPassOther,
        Stat::AccessPassControl,
        Stat::UpForwarded,
        Stat::DownForwarded,
        Stat::UplinkPassOther,
        Stat::UplinkPassNoMapping,
        Stat::UplinkPassFragment,
        Stat::DropNoSession,
        Stat::DropSpoofedSource,
        Stat::DropNoNatPort,
        Stat::DropTtlExpired,
        Stat::DropTooBig,
        Stat::DropMalformed,
        Stat::DropFibFail,
        Stat::DropNoNeigh,
        Stat::DropFragment,
        Stat::DropNatUnsupported,
        Stat::DropNoSubscriber,
        Stat::PassDisabled,
        Stat::Aborted,
        Stat::DownIcmpError,
        Stat::UpIcmpError,
        Stat::AccessTxTimeExceeded,
        Stat::UplinkTxTimeExceeded,
        Stat::UplinkTxFragNeeded,
        Stat::DropTooBigNoDf,
        Stat::DropOverMru,
        Stat::DropIcmpErrorUnmatched,
        Stat::UpHairpin,
        Stat::AccessSpread,
        Stat::DropIcmpRateLimit,
        Stat::DropAccessNotPppoe,
        Stat::AccessTxEchoReply,
        Stat::AccessTxUnreachable,
        Stat::DropToLocal,
        Stat::UpSubscriber,
        Stat::DropIsolated,
        Stat::DropInsideNoSubscriber,
        Stat::DropNatSessionLimit,
        Stat::CaptureOverBudget,
        Stat::CaptureLost,
        Stat::UpForwarded6,
        Stat::DownForwarded6,
        Stat::AccessPassIpv6,
        Stat::DropSpoofedSource6,
        Stat::DropHopLimit,
        Stat::DropTooBig6,
        Stat::TxTimeExceeded6,
        Stat::TxPacketTooBig6,
        Stat::TxNeighborAdvert6,
        Stat::UplinkProxyNd,
    ];

    /// Stable snake_case name for the CLI and metrics.
    pub const fn name(self) -> &'static str {
        match self {
            Stat::AccessPassOther => "access_pass_other",
            Stat::AccessPassControl => "access_pass_control",
            Stat::UpForwarded => "up_forwarded",
            Stat::DownForwarded => "down_forwarded",
            Stat::UplinkPassOther => "uplink_pass_other",
            Stat::UplinkPassNoMapping => "uplink_pass_no_mapping",
            Stat::UplinkPassFragment => "uplink_pass_fragment",
            Stat::DropNoSession => "drop_no_session",
            Stat::DropSpoofedSource => "drop_spoofed_source",
            Stat::DropNoNatPort => "drop_no_nat_port",
            Stat::DropTtlExpired => "drop_ttl_expired",
            Stat::DropTooBig => "drop_too_big",
            Stat::DropMalformed => "drop_malformed",
            Stat::DropFibFail => "drop_fib_fail",
            Stat::DropNoNeigh => "drop_no_neigh",
            Stat::DropFragment => "drop_fragment",
            Stat::DropNatUnsupported => "drop_nat_unsupported",
            Stat::DropNoSubscriber => "drop_no_subscriber",
            Stat::PassDisabled => "pass_disabled",
            Stat::Aborted => "aborted",
            Stat::DownIcmpError => "down_icmp_error",
            Stat::UpIcmpError => "up_icmp_error",
            Stat::AccessTxTimeExceeded => "access_tx_time_exceeded",
            Stat::UplinkTxTimeExceeded => "uplink_tx_time_exceeded",
            Stat::UplinkTxFragNeeded => "uplink_tx_frag_needed",
            Stat::DropTooBigNoDf => "drop_too_big_no_df",
            Stat::DropOverMru => "drop_over_mru",
            Stat::DropIcmpErrorUnmatched => "drop_icmp_error_unmatched",
            Stat::UpHairpin => "up_hairpin",
            Stat::AccessSpread => "access_spread",
            Stat::DropIcmpRateLimit => "drop_icmp_rate_limit",
            Stat::DropAccessNotPppoe => "drop_access_not_pppoe",
            Stat::AccessTxEchoReply => "access_tx_echo_reply",
            Stat::AccessTxUnreachable => "access_tx_unreachable",
            Stat::DropToLocal => "drop_to_local",
            Stat::UpSubscriber => "up_subscriber",
            Stat::DropIsolated => "drop_isolated",
            Stat::DropInsideNoSubscriber => "drop_inside_no_subscriber",
            Stat::DropNatSessionLimit => "drop_nat_session_limit",
            Stat::CaptureOverBudget => "capture_over_budget",
            Stat::CaptureLost => "capture_lost",
            Stat::UpForwarded6 => "up_forwarded6",
            Stat::DownForwarded6 => "down_forwarded6",
            Stat::AccessPassIpv6 => "access_pass_ipv6",
            Stat::DropSpoofedSource6 => "drop_spoofed_source6",
            Stat::DropHopLimit => "drop_hop_limit",
            Stat::DropTooBig6 => "drop_too_big6",
            Stat::TxTimeExceeded6 => "tx_time_exceeded6",
            Stat::TxPacketTooBig6 => "tx_packet_too_big6",
            Stat::TxNeighborAdvert6 => "tx_neighbor_advert6",
            Stat::UplinkProxyNd => "uplink_proxy_nd",
            Stat::Count => "count",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_is_in_index_order_and_names_are_unique() {
        for (i, s) in Stat::ALL.iter().enumerate() {
            assert_eq!(*s as usize, i);
        }
        let mut names: std::vec::Vec<_> = Stat::ALL.iter().map(|s| s.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), STAT_COUNT as usize);
    }
}
