//! IPv6 header view and the few rewrites the routed IPv6 path does (hop
//! limit only: IPv6 has no header checksum, and nothing is translated).
use aya_ebpf::programs::XdpContext;
use pppoe_bras_common::proto::IPV6_HLEN;

use crate::hdr::ptr_at;

/// IPv6 fixed header (RFC 8200 §3).
#[repr(C)]
pub struct Ipv6Hdr {
    pub ver_tc_flow: [u8; 4],
    pub payload_len: [u8; 2],
    pub next_header: u8,
    pub hop_limit: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// A validated IPv6 header (offsets, not pointers: see `ipv4::Ip`).
pub struct Ip6 {
    pub off: usize,
    /// Header + payload.
    pub tot_len: u16,
    pub hop_limit: u8,
    pub next_header: u8,
    pub src: [u8; 16],
    pub dst: [u8; 16],
}

/// Parse the IPv6 header at `off`: version 6, the whole datagram (40 +
/// payload length, no jumbograms) inside the frame and ≤ `limit`.
#[inline(always)]
pub fn parse(ctx: &XdpContext, off: usize, limit: u16) -> Option<Ip6> {
    let h: *mut Ipv6Hdr = ptr_at(ctx, off)?;
    // Safety: bounds-checked above.
    let h = unsafe { &*h };
    if h.ver_tc_flow[0] >> 4 != 6 {
        return None;
    }
    let payload = u16::from_be_bytes(h.payload_len);
    let tot = (IPV6_HLEN as u32) + u32::from(payload);
    if tot > u32::from(limit) {
        return None;
    }
    if ctx.data() + off + tot as usize > ctx.data_end() {
        return None;
    }
    Some(Ip6 {
        off,
        tot_len: tot as u16,
        hop_limit: h.hop_limit,
        next_header: h.next_header,
        src: h.src,
        dst: h.dst,
    })
}

/// Link-local unicast (fe80::/10).
#[inline(always)]
pub fn is_link_local(a: &[u8; 16]) -> bool {
    a[0] == 0xfe && a[1] & 0xc0 == 0x80
}

/// Multicast (ff00::/8).
#[inline(always)]
pub fn is_multicast(a: &[u8; 16]) -> bool {
    a[0] == 0xff
}

/// The first 8 bytes (the /64).
#[inline(always)]
pub fn net64(a: &[u8; 16]) -> [u8; 8] {
    [a[0], a[1], a[2], a[3], a[4], a[5], a[6], a[7]]
}

/// Decrement the hop limit (the caller checked it is > 1).
#[inline(always)]
pub fn dec_hop_limit(ctx: &XdpContext, ip: &Ip6) -> Option<()> {
    let h: *mut Ipv6Hdr = ptr_at(ctx, ip.off)?;
    // Safety: bounds-checked above.
    unsafe { (*h).hop_limit = (*h).hop_limit.wrapping_sub(1) };
    Some(())
}
