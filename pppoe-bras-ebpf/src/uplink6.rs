//! `bras_uplink`, IPv6: a datagram to a session's /64 or delegated prefix
//! is encapsulated (PPP protocol 0x0057) towards the subscriber. Everything
//! else IPv6 (the host's own, link-local, multicast) passes to the host.
//! With `ipv6_proxy_nd`, a Neighbor Solicitation for an address in a
//! session's prefix is answered here ([`proxy_nd`]).
use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_get_buff_len},
    programs::XdpContext,
};
use pppoe_bras_common::{
    csum,
    maps::{mask64, Subscriber, CONFIG6_F_ENABLED, CONFIG6_F_PROXY_ND},
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters, encap,
    hdr::{ptr_at, put, EthHdr},
    icmp6::{self, IPPROTO_ICMPV6},
    ipv6::{self, Ip6},
    maps::{DELEG6, NET64, SUB_BY_SLOT},
    verdict::{self, drop, pass, Verdict},
};

#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let cfg = config().ok_or(pass(Stat::PassDisabled))?;
    if cfg.v6_flags & CONFIG6_F_ENABLED == 0 {
        return Ok(pass(Stat::UplinkPassOther));
    }
    let ip = ipv6::parse(ctx, ETH_HLEN, u16::MAX).ok_or(pass(Stat::UplinkPassOther))?;
    // Neighbor Discovery arrives with hop limit 255 (RFC 4861 §7.1.1): a
    // Neighbor Solicitation goes to the proxy (a subprogram of its own),
    // whether multicast (solicited-node) or unicast (unreachability
    // detection of an address already resolved).
    if cfg.v6_flags & CONFIG6_F_PROXY_ND != 0
        && ip.next_header == IPPROTO_ICMPV6
        && ip.hop_limit == 255
        && icmp6_type(ctx, &ip) == Some(ND_NEIGHBOR_SOLICIT)
    {
        return Ok(pass(Stat::UplinkProxyNd));
    }
    if ipv6::is_multicast(&ip.dst) || ipv6::is_link_local(&ip.dst) {
        return Ok(pass(Stat::UplinkPassOther));
    }
    let dst64 = ipv6::net64(&ip.dst);
    let slot = match NET64.get_ptr(dst64) {
        // Safety: live map value.
        Some(s) => unsafe { *s },
        None => {
            let d = mask64(dst64, cfg.v6_deleg_len);
            match DELEG6.get_ptr(d) {
                // Safety: live map value.
                Some(s) if cfg.v6_deleg_len != 0 => unsafe { *s },
                _ => return Ok(pass(Stat::UplinkPassOther)),
            }
        }
    };
    let sub = SUB_BY_SLOT.get(slot).ok_or(drop(Stat::DropNoSubscriber))?;
    // Copied: later map updates cannot alias it.
    let sub: Subscriber = *sub;
    if sub.ifindex == 0 {
        return Err(drop(Stat::DropNoSubscriber));
    }
    // Both answered by `error_path` (a subprogram of its own).
    if ip.hop_limit <= 1 {
        return Err(drop(Stat::DropHopLimit));
    }
    if ip.tot_len > sub.mtu {
        return Err(drop(Stat::DropTooBig6));
    }

    // ---- rewrite: failures DROP ----
    ipv6::dec_hop_limit(ctx, &ip).ok_or(drop(Stat::Aborted))?;
    counters::down(sub.slot, ip.tot_len);
    let grow = (PPPOE_PPP_LEN + encap::tags(&sub) * VLAN_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -grow) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    let _ = ptr_at::<u8>(ctx, 0);
    encap::write_l2_proto(ctx, &sub, ip.tot_len, PPP_IPV6)?;
    verdict::redirect(sub.ifindex, Stat::DownForwarded6)
}

const ND_NEIGHBOR_SOLICIT: u8 = 135;
const ND_NEIGHBOR_ADVERT: u8 = 136;
/// ICMPv6 NS/NA without options: type, code, checksum, 4 bytes, target.
const ND_LEN: usize = 24;
/// The NA we send: ND_LEN + the Target Link-Layer Address option (8).
const NA_LEN: usize = ND_LEN + 8;

/// The ICMPv6 type of the datagram (the next header right after the fixed
/// header; extension headers are not walked: ND never carries them).
#[inline(always)]
fn icmp6_type(ctx: &XdpContext, ip: &Ip6) -> Option<u8> {
    // Two bytes, never one (see `ptr_at`'s verifier trap).
    let t = ptr_at::<[u8; 2]>(ctx, (ip.off & 0x3f) + IPV6_HLEN)?;
    // Safety: bounds-checked above.
    Some(unsafe { (*t)[0] })
}

/// The session slot whose /64 or delegated prefix holds `a`, if any.
#[inline(always)]
fn slot_of(a: &[u8; 16], deleg_len: u16) -> Option<u32> {
    let a64 = ipv6::net64(a);
    if let Some(s) = NET64.get_ptr(a64) {
        // Safety: live map value.
        return Some(unsafe { *s });
    }
    if deleg_len == 0 {
        return None;
    }
    // Safety: live map value.
    DELEG6
        .get_ptr(mask64(a64, deleg_len))
        .map(|s| unsafe { *s })
}

/// Proxy Neighbor Discovery (RFC 4861 §7.2.8, `ipv6_proxy_nd`): a
/// Neighbor Solicitation from the uplink whose target lies in a session's
/// /64 or delegated prefix is answered, in place, with a Neighbor
/// Advertisement of the uplink's MAC (Router and Solicited set, Override
/// clear as a proxy's must be, Target Link-Layer Address option), sent back
/// to the solicitor. Everything else (other targets, DAD probes from ::,
/// malformed) passes to the host as before.
#[inline(always)]
pub fn proxy_nd(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let other = pass(Stat::UplinkPassOther);
    let cfg = config().ok_or(other)?;
    let ip = ipv6::parse(ctx, ETH_HLEN, u16::MAX).ok_or(other)?;
    let icmp = (ip.off & 0x3f) + IPV6_HLEN;
    if ip.tot_len < (IPV6_HLEN + ND_LEN) as u16 || ip.src == [0; 16] {
        return Err(other);
    }
    let ns = ptr_at::<[u8; ND_LEN]>(ctx, icmp).ok_or(other)?;
    // Safety: bounds-checked above.
    let ns = unsafe { *ns };
    if ns[0] != ND_NEIGHBOR_SOLICIT || ns[1] != 0 {
        return Err(other);
    }
    let mut target = [0u8; 16];
    target.copy_from_slice(&ns[8..24]);
    if ipv6::is_multicast(&target) || ipv6::is_link_local(&target) {
        return Err(other);
    }
    slot_of(&target, cfg.v6_deleg_len).ok_or(other)?;
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(other)?;
    // Safety: bounds-checked above.
    let solicitor_mac = unsafe { (*eth).src };

    // ---- rewrite: failures DROP ----
    let want = (ETH_HLEN + IPV6_HLEN + NA_LEN) as i64;
    // Safety: ctx.ctx is the program's xdp_md.
    let have = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as i64;
    if want != have {
        // Safety: as above.
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, (want - have) as i32) } != 0 {
            return Err(drop(Stat::Aborted));
        }
    }
    let mac = cfg.uplink_mac;
    let plen = (NA_LEN as u16).to_be_bytes();
    // Pseudo-header (RFC 8200 §8.1), then the NA with checksum 0.
    let mut sum = csum::add_words(0, &target);
    sum = csum::add_words(sum, &ip.src);
    sum += u32::from(u16::from_be_bytes(plen)) + u32::from(IPPROTO_ICMPV6);
    sum += u32::from(ND_NEIGHBOR_ADVERT) << 8;
    // Flags: Router (0x80) and Solicited (0x40).
    sum += 0xc000;
    sum = csum::add_words(sum, &target);
    let opt = [2, 1, mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]];
    sum = csum::add_words(sum, &opt);
    let c = (!csum::fold(sum)).to_be_bytes();
    let base = ptr_at::<[u8; ETH_HLEN + IPV6_HLEN + NA_LEN]>(ctx, 0).ok_or(drop(Stat::Aborted))?
        as *mut u8;
    let src = ip.src;
    // Safety: the whole reply's bytes were checked above; constant offsets.
    unsafe {
        put(base, 0, &solicitor_mac);
        put(base, 6, &mac);
        put(base, 12, &ETH_P_IPV6_BE.to_ne_bytes());
        let ipo = ETH_HLEN;
        put(base, ipo, &[0x60, 0, 0, 0]);
        put(base, ipo + 4, &[plen[0], plen[1], IPPROTO_ICMPV6, 255]);
        put(base, ipo + 8, &target);
        put(base, ipo + 24, &src);
        let o = ipo + IPV6_HLEN;
        put(base, o, &[ND_NEIGHBOR_ADVERT, 0, c[0], c[1], 0xc0, 0, 0, 0]);
        put(base, o + 8, &target);
        put(base, o + ND_LEN, &opt);
    }
    verdict::redirect(ctx.ingress_ifindex() as u32, Stat::TxNeighborAdvert6)
}

/// A downstream datagram `run` dropped for its hop limit or size: ICMPv6
/// Time Exceeded or Packet Too Big (RFC 8201, MTU = the session's) back to
/// its sender, out of the uplink to the router that sent it (MACs
/// swapped). Parses the frame again (a rare path); any doubt drops.
#[inline(always)]
pub fn error(ctx: &XdpContext, otherwise: Stat) -> Result<Verdict, Verdict> {
    let no = drop(otherwise);
    let cfg = config().ok_or(no)?;
    if cfg.uplink6 == [0; 16] {
        return Err(no);
    }
    let ip = ipv6::parse(ctx, ETH_HLEN, u16::MAX).ok_or(no)?;
    let dst64 = ipv6::net64(&ip.dst);
    let slot = match NET64.get_ptr(dst64) {
        // Safety: live map value.
        Some(s) => unsafe { *s },
        None => match DELEG6.get_ptr(mask64(dst64, cfg.v6_deleg_len)) {
            // Safety: live map value.
            Some(s) => unsafe { *s },
            None => return Err(no),
        },
    };
    let mtu = SUB_BY_SLOT.get(slot).ok_or(no)?.mtu;
    let (ty, param, stat) = if ip.hop_limit <= 1 {
        (icmp6::ICMP6_TIME_EXCEEDED, 0, Stat::TxTimeExceeded6)
    } else if ip.tot_len > mtu {
        (
            icmp6::ICMP6_PACKET_TOO_BIG,
            u32::from(mtu),
            Stat::TxPacketTooBig6,
        )
    } else {
        return Err(no);
    };
    if !icmp6::may_answer(ctx, &ip) {
        return Err(no);
    }
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(no)?;
    // Safety: bounds-checked above.
    let (smac, dmac) = unsafe { ((*eth).src, (*eth).dst) };
    icmp6::reply(ctx, ETH_HLEN, &ip, ty, 0, param, &cfg.uplink6, &ip.src)?;
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    unsafe {
        (*eth).dst = smac;
        (*eth).src = dmac;
        (*eth).proto = ETH_P_IPV6_BE.to_ne_bytes();
    }
    verdict::redirect(ctx.ingress_ifindex() as u32, stat)
}
