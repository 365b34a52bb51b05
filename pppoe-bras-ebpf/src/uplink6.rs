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
    hdr::ptr_at,
    ipv6,
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
