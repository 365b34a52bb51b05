//! `bras_access`: PPPoE session IPv4 from subscribers → NAT → uplink.
//!
//! parse L2 (+ up to two VLAN tags) → PPPoE/PPP → session lookup → IPv4
//! checks → anti-spoof → NAT mapping (map work only) → FIB lookup → and only
//! then the rewrite: TTL, NAT, strip the encapsulation, fresh Ethernet →
//! redirect. Every check that can fail runs before the first write, and any
//! failure after it drops (never passes a half-rewritten frame).
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_redirect, bpf_xdp_adjust_head},
    programs::XdpContext,
};
use pppoe_bras_common::{
    maps::{SessionKey, SESSION_F_NAT},
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters, fib,
    hdr::{be16, ptr_at, EthHdr, PppoeHdr, VlanHdr},
    ipv4::{self, Dir},
    maps::SESSIONS,
    nat,
    verdict::{drop, pass, Verdict},
};

/// Layer 2 of a frame on the access NIC.
struct L2 {
    src: [u8; 6],
    outer_vid: u16,
    inner_vid: u16,
    /// EtherType after the tags, raw (network order).
    proto: u16,
    /// Offset of the payload after the tags (14, 18 or 22).
    off: usize,
}

/// Ethernet plus up to two tags: 0x8100, or 0x88a8/0x8100 outer with 0x8100 inner.
#[inline(always)]
fn parse_l2(ctx: &XdpContext) -> Option<L2> {
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // Safety: bounds-checked above.
    let (src, proto) = unsafe { ((*eth).src, u16::from_ne_bytes((*eth).proto)) };
    if proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE {
        return Some(L2 {
            src,
            outer_vid: 0,
            inner_vid: 0,
            proto,
            off: ETH_HLEN,
        });
    }
    let v1: *mut VlanHdr = ptr_at(ctx, ETH_HLEN)?;
    // Safety: bounds-checked above.
    let (tci, proto) = unsafe { (be16((*v1).tci), u16::from_ne_bytes((*v1).proto)) };
    let outer_vid = tci & 0x0fff;
    if proto != ETH_P_8021Q_BE {
        return Some(L2 {
            src,
            outer_vid,
            inner_vid: 0,
            proto,
            off: ETH_HLEN + VLAN_HLEN,
        });
    }
    let v2: *mut VlanHdr = ptr_at(ctx, ETH_HLEN + VLAN_HLEN)?;
    // Safety: bounds-checked above.
    let (tci, proto) = unsafe { (be16((*v2).tci), u16::from_ne_bytes((*v2).proto)) };
    Some(L2 {
        src,
        outer_vid,
        inner_vid: tci & 0x0fff,
        proto,
        off: ETH_HLEN + 2 * VLAN_HLEN,
    })
}

pub fn run(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    config().ok_or(pass(Stat::PassDisabled))?;
    let l2 = parse_l2(ctx).ok_or(pass(Stat::AccessPassOther))?;
    if l2.proto == ETH_P_PPP_DISC_BE {
        return Ok(pass(Stat::AccessPassControl));
    }
    if l2.proto != ETH_P_PPP_SES_BE {
        return Ok(pass(Stat::AccessPassOther));
    }
    // Constant per branch of parse_l2; masking keeps the verifier's range tight.
    let off = l2.off & 0x1f;
    let pppoe: *mut PppoeHdr = ptr_at(ctx, off).ok_or(drop(Stat::DropMalformed))?;
    // Safety: bounds-checked above.
    let (ver_type, code, sid, len, ppp_proto) = unsafe {
        let h = &*pppoe;
        (
            h.ver_type,
            h.code,
            be16(h.session_id),
            be16(h.length),
            u16::from_ne_bytes(h.ppp_proto),
        )
    };
    if ver_type != PPPOE_VER_TYPE || code != PPPOE_CODE_SESSION {
        return Err(drop(Stat::DropMalformed));
    }
    if ppp_proto != PPP_IPV4_BE {
        // LCP, PAP/CHAP, IPCP, CCP, IPv6CP, …: the daemon's business.
        return Ok(pass(Stat::AccessPassControl));
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    let key = SessionKey {
        ifindex,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        client_mac: l2.src,
        session_id: sid,
    };
    let sess = SESSIONS.get_ptr(&key).ok_or(drop(Stat::DropNoSession))?;
    // Safety: live map value; copied so later map updates cannot alias it.
    let sess = unsafe { *sess };

    let ip_off = off + PPPOE_PPP_LEN;
    // PPPoE LENGTH covers the PPP protocol field and the datagram (RFC 2516 §4)
    // and must lie inside the frame (the rest is Ethernet padding).
    let payload_len = len.saturating_sub(PPP_PROTO_LEN as u16);
    if ctx.data() + ip_off + payload_len as usize > ctx.data_end() {
        return Err(drop(Stat::DropMalformed));
    }
    let ip = ipv4::parse(ctx, ip_off, payload_len).ok_or(drop(Stat::DropMalformed))?;
    if ip.src != sess.addr {
        return Err(drop(Stat::DropSpoofedSource));
    }
    if ip.ttl <= 1 {
        return Err(drop(Stat::DropTtlExpired));
    }

    // NAT: decide (and create the mapping) now, rewrite later.
    let mut snat = None;
    let mut fib_src = ip.src;
    if sess.flags & SESSION_F_NAT != 0 {
        if ip.fragment {
            return Err(drop(Stat::DropFragment));
        }
        let l4 = match ipv4::l4(ctx, &ip, Dir::Out) {
            Some(l4) => l4,
            None if ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP => {
                return Err(drop(Stat::DropMalformed))
            }
            None => return Err(drop(Stat::DropNatUnsupported)),
        };
        let (paddr, pport) = nat::outbound(ip.proto, l4.port, &sess)?;
        fib_src = paddr;
        snat = Some((l4, paddr, pport));
    }

    let hop = fib::lookup(ctx, ifindex, fib_src, ip.dst, ip.tos, ip.proto, ip.tot_len)?;

    // ---- from here on the frame is being rewritten: failures DROP ----
    ipv4::dec_ttl(ctx, &ip).ok_or(drop(Stat::Aborted))?;
    if let Some((l4, paddr, pport)) = &snat {
        ipv4::translate(ctx, &ip, l4, Dir::Out, *paddr, *pport).ok_or(drop(Stat::Aborted))?;
    }
    counters::up(sess.slot, ip.tot_len);

    // Strip Ethernet+tags+PPPoE+PPP minus the 14 bytes reused for the new Ethernet header.
    let strip = (ip_off - ETH_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, strip) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    // adjust_head invalidated every packet pointer: re-derive and re-check.
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    unsafe {
        (*eth).dst = hop.dmac;
        (*eth).src = hop.smac;
        (*eth).proto = ETH_P_IP_BE.to_ne_bytes();
    }
    // Safety: helper without preconditions.
    let action = unsafe { bpf_redirect(hop.ifindex, 0) } as u32;
    if action != xdp_action::XDP_REDIRECT {
        return Err(drop(Stat::Aborted));
    }
    Ok(Verdict {
        action,
        stat: Stat::UpForwarded,
    })
}
