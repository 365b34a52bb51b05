//! `bras_uplink`, IPv6: a datagram to a session's /64 or delegated prefix
//! is encapsulated (PPP protocol 0x0057) towards the subscriber. Everything
//! else IPv6 (the host's own, link-local, multicast) passes to the host.
use aya_ebpf::{helpers::bpf_xdp_adjust_head, programs::XdpContext};
use pppoe_bras_common::{
    maps::{mask64, Subscriber, CONFIG6_F_ENABLED},
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters, encap,
    hdr::{ptr_at, EthHdr},
    icmp6, ipv6,
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
