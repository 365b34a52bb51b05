//! Writing the subscriber side's layer 2: Ethernet (+ tags) + PPPoE session
//! header + PPP protocol, for downstream packets, hairpinned packets and the
//! ICMP errors the BRAS itself sends to subscribers.
use aya_ebpf::{helpers::bpf_xdp_adjust_head, programs::XdpContext};
use pppoe_bras_common::{maps::Subscriber, proto::*, stats::Stat};

use crate::{
    hdr::{ptr_at, put},
    verdict::{drop, Verdict},
};

/// Header bytes in front of the IPv4 packet, for the largest case (two tags).
pub const MAX_ENCAP: usize = ETH_HLEN + 2 * VLAN_HLEN + PPPOE_PPP_LEN;

/// Number of VLAN tags `sub` is reached with.
#[inline(always)]
pub fn tags(sub: &Subscriber) -> usize {
    if sub.outer_tpid == 0 {
        0
    } else if sub.inner_vid == 0 {
        1
    } else {
        2
    }
}

/// Bytes in front of the IPv4 header towards `sub` (22, 26 or 30).
#[inline(always)]
pub fn l2_len(sub: &Subscriber) -> usize {
    ETH_HLEN + tags(sub) * VLAN_HLEN + PPPOE_PPP_LEN
}

/// Grow the head and write Ethernet (+ tags) + PPPoE session header + PPP
/// protocol in place of the 14-byte Ethernet header the frame starts with.
#[inline(always)]
pub fn encap(ctx: &XdpContext, sub: &Subscriber, tot_len: u16) -> Result<(), Verdict> {
    let grow = (PPPOE_PPP_LEN + tags(sub) * VLAN_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -grow) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    write_l2(ctx, sub, tot_len)
}

/// Write the layer 2 towards `sub` at the start of the frame, for an IPv4
/// packet of `tot_len` bytes that follows it.
#[inline(always)]
pub fn write_l2(ctx: &XdpContext, sub: &Subscriber, tot_len: u16) -> Result<(), Verdict> {
    write_l2_proto(ctx, sub, tot_len, PPP_IPV4)
}

/// [`write_l2`] for a datagram of PPP protocol `ppp` (0x0021 IPv4, 0x0057
/// IPv6).
#[inline(always)]
pub fn write_l2_proto(
    ctx: &XdpContext,
    sub: &Subscriber,
    tot_len: u16,
    ppp: u16,
) -> Result<(), Verdict> {
    // Re-derived after any adjust_head. MAX_ENCAP (30) bytes always exist:
    // the frame holds ≥ 22 bytes of header plus a ≥ 20-byte IPv4 header.
    let base = ptr_at::<[u8; MAX_ENCAP]>(ctx, 0).ok_or(drop(Stat::Aborted))? as *mut u8;
    // Safety: MAX_ENCAP bytes checked; each arm writes below that bound with
    // constant offsets (kept constant per arm for the verifier).
    unsafe {
        put(base, 0, &sub.client_mac);
        put(base, 6, &sub.bras_mac);
        match tags(sub) {
            0 => session_hdr(base, 12, sub.session_id, tot_len, ppp),
            1 => {
                put(base, 12, &sub.outer_tpid.to_be_bytes());
                put(base, 14, &sub.outer_vid.to_be_bytes());
                session_hdr(base, 16, sub.session_id, tot_len, ppp);
            }
            _ => {
                put(base, 12, &sub.outer_tpid.to_be_bytes());
                put(base, 14, &sub.outer_vid.to_be_bytes());
                put(base, 16, &ETH_P_8021Q.to_be_bytes());
                put(base, 18, &sub.inner_vid.to_be_bytes());
                session_hdr(base, 20, sub.session_id, tot_len, ppp);
            }
        }
    }
    Ok(())
}

/// EtherType 0x8864, VER/TYPE 0x11, CODE 0, SESSION_ID, LENGTH (PPP protocol
/// + datagram, RFC 2516 §4), PPP protocol `ppp`.
///
/// # Safety
/// `base + off + 10` must be inside the checked packet range.
#[inline(always)]
unsafe fn session_hdr(base: *mut u8, off: usize, sid: u16, tot_len: u16, ppp: u16) {
    let len = tot_len.wrapping_add(PPP_PROTO_LEN as u16);
    // Safety: per the function contract.
    unsafe {
        put(base, off, &ETH_P_PPP_SES.to_be_bytes());
        put(base, off + 2, &[PPPOE_VER_TYPE, PPPOE_CODE_SESSION]);
        put(base, off + 4, &sid.to_be_bytes());
        put(base, off + 6, &len.to_be_bytes());
        put(base, off + 8, &ppp.to_be_bytes());
    }
}
