//! `bras_access`, IPv6: a session's IPv6 (PPP protocol 0x0057) is routed
//! to the uplink, no translation (RFC 5072 sessions get a /64 by RA and a
//! delegated prefix by DHCPv6-PD; the uplink routes them to the BRAS).
//!
//! parse L2 → PPPoE → session → its prefixes (`SESSION6[slot]`) → IPv6
//! header → link-local or multicast: the daemon's (RS, DHCPv6, NS) →
//! anti-spoof (source in the /64 or the delegated prefix) → MRU → hop
//! limit → FIB (AF_INET6) → rewrite: hop limit, strip the encapsulation,
//! fresh Ethernet → redirect. Every check runs before the first write.
use aya_ebpf::{helpers::bpf_xdp_adjust_head, programs::XdpContext};
use pppoe_bras_common::{
    maps::{mask64, SessionKey, CONFIG6_F_ENABLED},
    proto::*,
    stats::Stat,
};

use crate::{
    access::{parse_l2, session},
    config, counters, encap, fib6,
    gateway::Back,
    hdr::{be16, ptr_at, EthHdr, PppoeHdr},
    icmp6, ipv6,
    maps::SESSION6,
    verdict::{self, drop, pass, Verdict},
};

#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let cfg = config().ok_or(pass(Stat::PassDisabled))?;
    if cfg.v6_flags & CONFIG6_F_ENABLED == 0 {
        return Ok(pass(Stat::AccessPassControl));
    }
    let l2 = parse_l2(ctx).ok_or(drop(Stat::DropMalformed))?;
    let off = l2.off & 0x1f;
    let pppoe: *mut PppoeHdr = ptr_at(ctx, off).ok_or(drop(Stat::DropMalformed))?;
    // Safety: bounds-checked above.
    let (sid, len) = unsafe { (be16((*pppoe).session_id), be16((*pppoe).length)) };
    let key = SessionKey {
        ifindex: ctx.ingress_ifindex() as u32,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        client_mac: l2.src,
        session_id: sid,
    };
    let ip_off = off + PPPOE_PPP_LEN;
    let payload_len = len.saturating_sub(PPP_PROTO_LEN as u16);
    let ip = ipv6::parse(ctx, ip_off, payload_len).ok_or(drop(Stat::DropMalformed))?;
    // Neighbour discovery, RS, DHCPv6: link-local or multicast, the
    // daemon's, before any row lookup: a CPE sends its RS and Solicit the
    // moment its IPv6CP opens, which may be before the daemon has written
    // the session's rows (the daemon checks the session itself).
    if ipv6::is_link_local(&ip.src) || ipv6::is_multicast(&ip.dst) || ipv6::is_link_local(&ip.dst) {
        return Ok(pass(Stat::AccessPassControl));
    }
    let sess = session(&key).ok_or(drop(Stat::DropNoSession))?;
    let s6 = SESSION6.get(sess.slot).ok_or(pass(Stat::AccessPassIpv6))?;
    if s6.net64 == [0; 8] && s6.deleg_len == 0 {
        // No IPv6 data path for this session (yet): the daemon's.
        return Ok(pass(Stat::AccessPassIpv6));
    }
    let src64 = ipv6::net64(&ip.src);
    let in_net = s6.net64 != [0; 8] && src64 == s6.net64;
    let in_deleg = s6.deleg_len != 0 && mask64(src64, u16::from(s6.deleg_len)) == s6.deleg;
    if !in_net && !in_deleg {
        return Err(drop(Stat::DropSpoofedSource6));
    }
    if cfg.mru != 0 && ip.tot_len > cfg.mru {
        return Err(drop(Stat::DropOverMru));
    }
    if ip.hop_limit <= 1 {
        // Answered by `time_exceeded_path` (a subprogram of its own: the
        // stack of one call chain is limited).
        return Err(drop(Stat::DropHopLimit));
    }
    let hop = fib6::lookup(
        ctx,
        cfg.uplink_ifindex,
        key.ifindex,
        &ip.src,
        &ip.dst,
        ip.next_header,
        ip.tot_len,
    )?;

    // ---- from here on the frame is being rewritten: failures DROP ----
    ipv6::dec_hop_limit(ctx, &ip).ok_or(drop(Stat::Aborted))?;
    counters::up(sess.slot, ip.tot_len);
    let strip = (ip_off - ETH_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, strip) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    unsafe {
        (*eth).dst = hop.dmac;
        (*eth).src = hop.smac;
        (*eth).proto = ETH_P_IPV6_BE.to_ne_bytes();
    }
    verdict::redirect(hop.ifindex, Stat::UpForwarded6)
}

/// The hop limit of a session's datagram expired here (`run` said
/// `drop_hop_limit`): ICMPv6 Time Exceeded (RFC 4443 §3.3) from the
/// uplink's address back through the session, so a traceroute shows the
/// BRAS. Parses the frame again (a rare path); any doubt drops.
#[inline(always)]
pub fn time_exceeded(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let no = drop(Stat::DropHopLimit);
    let cfg = config().ok_or(no)?;
    if cfg.uplink6 == [0; 16] {
        return Err(no);
    }
    let l2 = parse_l2(ctx).ok_or(no)?;
    let off = l2.off & 0x1f;
    let pppoe: *mut PppoeHdr = ptr_at(ctx, off).ok_or(no)?;
    // Safety: bounds-checked above.
    let (sid, len) = unsafe { (be16((*pppoe).session_id), be16((*pppoe).length)) };
    let key = SessionKey {
        ifindex: ctx.ingress_ifindex() as u32,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        client_mac: l2.src,
        session_id: sid,
    };
    let sess = session(&key).ok_or(no)?;
    let ip_off = off + PPPOE_PPP_LEN;
    let ip = ipv6::parse(ctx, ip_off, len.saturating_sub(PPP_PROTO_LEN as u16)).ok_or(no)?;
    if ip.hop_limit > 1 || !icmp6::may_answer(ctx, &ip) {
        return Err(no);
    }
    let back = Back {
        outer_tpid: l2.outer_tpid,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        session_id: sid,
        client_mac: l2.src,
        bras_mac: l2.dst,
    };
    let sub = back.subscriber(&sess);
    // A priority-tagged inner VLAN (VID 0) would change the header length.
    if encap::l2_len(&sub) != ip_off {
        return Err(no);
    }
    icmp6::reply(
        ctx,
        ip_off,
        &ip,
        icmp6::ICMP6_TIME_EXCEEDED,
        0,
        0,
        &cfg.uplink6,
        &ip.src,
    )?;
    encap::write_l2_proto(ctx, &sub, icmp6::TOT_LEN, PPP_IPV6)?;
    counters::down(sess.slot, icmp6::TOT_LEN);
    verdict::redirect(ctx.ingress_ifindex() as u32, Stat::TxTimeExceeded6)
}
