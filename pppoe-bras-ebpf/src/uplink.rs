//! `bras_uplink`: IPv4 to a NAT public address (or to a routed subscriber)
//! → de-NAT → PPPoE encapsulation
//! → access NIC. Everything it does not own passes to the host untouched (the
//! host's own SSH, ARP, fragments, …).
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_redirect, bpf_xdp_adjust_head},
    programs::XdpContext,
};
use pppoe_bras_common::{
    maps::{Subscriber, SESSION_F_NAT},
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters,
    hdr::{ptr_at, EthHdr},
    ipv4::{self, Dir},
    maps::SUBSCRIBERS,
    nat,
    verdict::{drop, pass, Verdict},
};

pub fn run(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    config().ok_or(pass(Stat::PassDisabled))?;
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(pass(Stat::UplinkPassOther))?;
    // Safety: bounds-checked above.
    if unsafe { u16::from_ne_bytes((*eth).proto) } != ETH_P_IP_BE {
        return Ok(pass(Stat::UplinkPassOther));
    }
    let ip = ipv4::parse(ctx, ETH_HLEN, u16::MAX).ok_or(pass(Stat::UplinkPassOther))?;

    // Routed session (no NAT): the destination is the subscriber itself; any
    // protocol, fragments included.
    let (sub, snat) = match routed(&ip.dst) {
        Some(sub) => (sub, None),
        None => {
            if ip.fragment {
                return Ok(pass(Stat::UplinkPassFragment));
            }
            let l4 = ipv4::l4(ctx, &ip, Dir::In).ok_or(pass(Stat::UplinkPassOther))?;
            let (sub_addr, sub_port) =
                nat::inbound(ip.proto, ip.dst, l4.port).ok_or(pass(Stat::UplinkPassNoMapping))?;
            let sub = SUBSCRIBERS
                .get_ptr(&sub_addr)
                .ok_or(drop(Stat::DropNoSubscriber))?;
            // Safety: live map value, copied.
            (unsafe { *sub }, Some((l4, sub_addr, sub_port)))
        }
    };
    if ip.ttl <= 1 {
        return Err(drop(Stat::DropTtlExpired));
    }
    if ip.tot_len > sub.mtu {
        // TODO(carrier-grade issue): ICMP fragmentation needed (RFC 1191) when DF is set.
        return Err(drop(Stat::DropTooBig));
    }

    // ---- rewrite: failures DROP ----
    ipv4::dec_ttl(ctx, &ip).ok_or(drop(Stat::Aborted))?;
    if let Some((l4, sub_addr, sub_port)) = &snat {
        ipv4::translate(ctx, &ip, l4, Dir::In, *sub_addr, *sub_port).ok_or(drop(Stat::Aborted))?;
    }
    encap(ctx, &sub, ip.tot_len)?;
    counters::down(sub.slot, ip.tot_len);
    // Safety: helper without preconditions.
    let action = unsafe { bpf_redirect(sub.ifindex, 0) } as u32;
    if action != xdp_action::XDP_REDIRECT {
        return Err(drop(Stat::Aborted));
    }
    Ok(Verdict {
        action,
        stat: Stat::DownForwarded,
    })
}

/// The subscriber row of `dst` when it is a routed (non-NAT) session.
#[inline(always)]
fn routed(dst: &[u8; 4]) -> Option<Subscriber> {
    let sub = SUBSCRIBERS.get_ptr(dst)?;
    // Safety: live map value, copied.
    let sub = unsafe { *sub };
    (sub.flags & SESSION_F_NAT == 0).then_some(sub)
}

/// Header bytes in front of the IPv4 packet, for the largest case (two tags).
const MAX_ENCAP: usize = ETH_HLEN + 2 * VLAN_HLEN + PPPOE_PPP_LEN;

/// Grow the head and write Ethernet (+ tags) + PPPoE session header + PPP
/// protocol in place of the uplink's Ethernet header.
#[inline(always)]
fn encap(ctx: &XdpContext, sub: &Subscriber, tot_len: u16) -> Result<(), Verdict> {
    let tags: usize = if sub.outer_tpid == 0 {
        0
    } else if sub.inner_vid == 0 {
        1
    } else {
        2
    };
    let grow = (PPPOE_PPP_LEN + tags * VLAN_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -grow) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    // Re-derive after adjust_head. MAX_ENCAP (30) bytes always exist: the
    // frame now holds ≥ 22 bytes of header plus a ≥ 20-byte IPv4 header.
    let base = ptr_at::<[u8; MAX_ENCAP]>(ctx, 0).ok_or(drop(Stat::Aborted))? as *mut u8;
    // Safety: MAX_ENCAP bytes checked; each arm writes below that bound with
    // constant offsets (kept constant per arm for the verifier).
    unsafe {
        put(base, 0, &sub.client_mac);
        put(base, 6, &sub.bras_mac);
        match tags {
            0 => session_hdr(base, 12, sub.session_id, tot_len),
            1 => {
                put(base, 12, &sub.outer_tpid.to_be_bytes());
                put(base, 14, &sub.outer_vid.to_be_bytes());
                session_hdr(base, 16, sub.session_id, tot_len);
            }
            _ => {
                put(base, 12, &sub.outer_tpid.to_be_bytes());
                put(base, 14, &sub.outer_vid.to_be_bytes());
                put(base, 16, &ETH_P_8021Q.to_be_bytes());
                put(base, 18, &sub.inner_vid.to_be_bytes());
                session_hdr(base, 20, sub.session_id, tot_len);
            }
        }
    }
    Ok(())
}

/// EtherType 0x8864, VER/TYPE 0x11, CODE 0, SESSION_ID, LENGTH (PPP protocol
/// + datagram, RFC 2516 §4), PPP protocol 0x0021.
///
/// # Safety
/// `base + off + 10` must be inside the checked packet range.
#[inline(always)]
unsafe fn session_hdr(base: *mut u8, off: usize, sid: u16, tot_len: u16) {
    let len = tot_len.wrapping_add(PPP_PROTO_LEN as u16);
    // Safety: per the function contract.
    unsafe {
        put(base, off, &ETH_P_PPP_SES.to_be_bytes());
        put(base, off + 2, &[PPPOE_VER_TYPE, PPPOE_CODE_SESSION]);
        put(base, off + 4, &sid.to_be_bytes());
        put(base, off + 6, &len.to_be_bytes());
        put(base, off + 8, &PPP_IPV4.to_be_bytes());
    }
}

/// Copy `N` bytes to `base + off`.
///
/// # Safety
/// The range must be inside the checked packet range.
#[inline(always)]
unsafe fn put<const N: usize>(base: *mut u8, off: usize, bytes: &[u8; N]) {
    // Safety: per the function contract.
    unsafe { core::ptr::write_unaligned(base.add(off) as *mut [u8; N], *bytes) }
}
