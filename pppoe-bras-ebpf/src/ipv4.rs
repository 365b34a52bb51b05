//! IPv4 and L4 parsing plus the in-place rewrites (TTL, address, port) with
//! incremental checksum updates (RFC 1624 via `pppoe_bras_common::csum`).
use aya_ebpf::programs::XdpContext;
use pppoe_bras_common::{csum, proto::*};

use crate::hdr::{be16, ptr_at, Ipv4Hdr};

/// A validated IPv4 header.
///
/// Verifier trap: holds offsets, not packet pointers. LLVM knows `data` is a
/// zero-extended u32 and, under register pressure, spilled a packet pointer
/// kept across helper calls as a 32-bit store, which the verifier rejects
/// ("invalid size of register spill"). Pointers are re-derived (and
/// re-checked) right where they are written.
pub struct Ip {
    /// Offset of the IPv4 header from `data`.
    pub off: usize,
    /// Offset of the L4 header from `data` (bounded: IP offset + 20..60).
    pub l4_off: usize,
    /// Header length in bytes (20..60).
    pub hlen: usize,
    pub tot_len: u16,
    /// Identification (RFC 791), host order.
    pub id: u16,
    pub proto: u8,
    pub tos: u8,
    pub ttl: u8,
    pub src: [u8; 4],
    pub dst: [u8; 4],
    /// MF set or a non-zero fragment offset.
    pub fragment: bool,
    /// A fragment after the first (offset > 0): no L4 header.
    pub later_fragment: bool,
    /// Don't Fragment.
    pub df: bool,
}

/// Parse the IPv4 header at `off`: version 4, IHL ≥ 5, total length ≥ header,
/// ≤ `limit` (what the encapsulation says) and inside the frame.
#[inline(always)]
pub fn parse(ctx: &XdpContext, off: usize, limit: u16) -> Option<Ip> {
    let hdr: *mut Ipv4Hdr = ptr_at(ctx, off)?;
    // Safety: `hdr` was bounds-checked for a whole Ipv4Hdr.
    let h = unsafe { &*hdr };
    if h.ver_ihl >> 4 != 4 {
        return None;
    }
    let hlen = ((h.ver_ihl & 0x0f) as usize) * 4;
    if hlen < IPV4_MIN_HLEN {
        return None;
    }
    let tot_len = be16(h.tot_len);
    if (tot_len as usize) < hlen || tot_len > limit {
        return None;
    }
    // The whole datagram must be in the frame (trailing Ethernet padding is fine).
    if ctx.data() + off + tot_len as usize > ctx.data_end() {
        return None;
    }
    let frag = be16(h.frag_off);
    Some(Ip {
        off,
        l4_off: off + hlen,
        hlen,
        tot_len,
        id: be16(h.id),
        proto: h.proto,
        tos: h.tos,
        ttl: h.ttl,
        src: h.src,
        dst: h.dst,
        fragment: frag & 0x3fff != 0,
        later_fragment: frag & 0x1fff != 0,
        df: frag & 0x4000 != 0,
    })
}

/// Which L4 header carries the NAT port.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum L4Kind {
    Tcp,
    Udp,
    /// ICMP echo request/reply: the identifier plays the port.
    IcmpEcho,
}

/// The translatable part of an L4 header (offsets from `data`, see [`Ip`]).
pub struct L4 {
    pub kind: L4Kind,
    /// Offset of the port (or ICMP id) NAT rewrites: source upstream, destination downstream.
    pub port_off: usize,
    pub port: u16,
    /// Offset of the L4 checksum.
    pub csum_off: usize,
}

/// Direction of translation, chooses which port is rewritten.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Dir {
    /// Subscriber → public: source port / echo request id.
    Out,
    /// Public → subscriber: destination port / echo reply id.
    In,
}

/// Find the NAT-relevant L4 fields. `None`: not TCP/UDP/ICMP echo of the
/// right direction, or the L4 header is truncated (caller distinguishes by
/// protocol if it matters).
#[inline(always)]
pub fn l4(ctx: &XdpContext, ip: &Ip, dir: Dir) -> Option<L4> {
    // The IP total length bounds the L4 header too: it may not run into
    // Ethernet padding (checked per protocol below with `fits`).
    let end = ip.off + ip.tot_len as usize;
    let fits = |n: usize| ip.l4_off + n <= end;
    let port_off = if dir == Dir::Out { 0 } else { 2 };
    match ip.proto {
        IPPROTO_TCP => {
            if !fits(20) {
                return None;
            }
            let p: *mut [u8; 20] = ptr_at(ctx, ip.l4_off)?;
            let base = p as *mut u8;
            // Safety: 20 bytes checked above.
            let port = unsafe { be16(*(base.add(port_off) as *const [u8; 2])) };
            Some(L4 {
                kind: L4Kind::Tcp,
                port_off: ip.l4_off + port_off,
                port,
                csum_off: ip.l4_off + 16,
            })
        }
        IPPROTO_UDP => {
            if !fits(8) {
                return None;
            }
            let p: *mut [u8; 8] = ptr_at(ctx, ip.l4_off)?;
            let base = p as *mut u8;
            // Safety: 8 bytes checked above.
            let port = unsafe { be16(*(base.add(port_off) as *const [u8; 2])) };
            Some(L4 {
                kind: L4Kind::Udp,
                port_off: ip.l4_off + port_off,
                port,
                csum_off: ip.l4_off + 6,
            })
        }
        IPPROTO_ICMP => {
            if !fits(8) {
                return None;
            }
            let p: *mut [u8; 8] = ptr_at(ctx, ip.l4_off)?;
            let base = p as *mut u8;
            let want = if dir == Dir::Out {
                ICMP_ECHO_REQUEST
            } else {
                ICMP_ECHO_REPLY
            };
            // Safety: 8 bytes checked above.
            let (ty, code, port) =
                unsafe { (*base, *base.add(1), be16(*(base.add(4) as *const [u8; 2]))) };
            if ty != want || code != 0 {
                return None;
            }
            Some(L4 {
                kind: L4Kind::IcmpEcho,
                port_off: ip.l4_off + 4,
                port,
                csum_off: ip.l4_off + 2,
            })
        }
        _ => None,
    }
}

/// Decrement the TTL and patch the header checksum. The caller checked TTL > 1.
/// `None` when the header is no longer in the frame (the caller drops).
#[inline(always)]
pub fn dec_ttl(ctx: &XdpContext, ip: &Ip) -> Option<()> {
    let hdr: *mut Ipv4Hdr = ptr_at(ctx, ip.off)?;
    // Safety: bounds-checked above.
    let h = unsafe { &mut *hdr };
    let old = u16::from_be_bytes([h.ttl, h.proto]);
    h.ttl = h.ttl.wrapping_sub(1);
    let new = u16::from_be_bytes([h.ttl, h.proto]);
    h.csum = csum::replace2(be16(h.csum), old, new).to_be_bytes();
    Some(())
}

/// Rewrite the source (`Dir::Out`) or destination (`Dir::In`) address and
/// the L4 port/identifier, patching the IP and L4 checksums. `None` when a
/// header is no longer in the frame (the caller drops).
#[inline(always)]
pub fn translate(
    ctx: &XdpContext,
    ip: &Ip,
    l4: &L4,
    dir: Dir,
    addr: [u8; 4],
    port: u16,
) -> Option<()> {
    let hdr: *mut Ipv4Hdr = ptr_at(ctx, ip.off)?;
    let port_ptr: *mut [u8; 2] = ptr_at(ctx, l4.port_off)?;
    let csum_ptr: *mut [u8; 2] = ptr_at(ctx, l4.csum_off)?;
    // Safety: bounds-checked above.
    let h = unsafe { &mut *hdr };
    let old_addr = if dir == Dir::Out { h.src } else { h.dst };
    h.csum = csum::replace4(be16(h.csum), old_addr, addr).to_be_bytes();
    if dir == Dir::Out {
        h.src = addr;
    } else {
        h.dst = addr;
    }
    // Safety: bounds-checked above.
    let c = unsafe { be16(*csum_ptr) };
    let c = match l4.kind {
        // The TCP/UDP checksum covers the pseudo-header (addresses) and the port.
        L4Kind::Tcp => csum::replace2(csum::replace4(c, old_addr, addr), l4.port, port),
        L4Kind::Udp => csum::udp_replace2(csum::udp_replace4(c, old_addr, addr), l4.port, port),
        // ICMP has no pseudo-header: only the identifier changes.
        L4Kind::IcmpEcho => csum::replace2(c, l4.port, port),
    };
    // Safety: bounds-checked above.
    unsafe {
        *csum_ptr = c.to_be_bytes();
        *port_ptr = port.to_be_bytes();
    }
    Some(())
}

/// Rewrite only the source (`Dir::Out`) or destination (`Dir::In`) address
/// and the header checksum: later fragments, which carry no L4 header.
#[inline(always)]
pub fn translate_addr(ctx: &XdpContext, ip: &Ip, dir: Dir, addr: [u8; 4]) -> Option<()> {
    let hdr: *mut Ipv4Hdr = ptr_at(ctx, ip.off)?;
    // Safety: bounds-checked above.
    let h = unsafe { &mut *hdr };
    let old = if dir == Dir::Out { h.src } else { h.dst };
    h.csum = csum::replace4(be16(h.csum), old, addr).to_be_bytes();
    if dir == Dir::Out {
        h.src = addr;
    } else {
        h.dst = addr;
    }
    Some(())
}

/// The TCP flags octet (byte 13) of a TCP header at `ip.l4_off`, or 0 when
/// absent (later fragment, truncated).
#[inline(always)]
pub fn tcp_flags(ctx: &XdpContext, ip: &Ip) -> u8 {
    if ip.proto != IPPROTO_TCP || ip.later_fragment || ip.hlen + 14 > ip.tot_len as usize {
        return 0;
    }
    match ptr_at::<[u8; 14]>(ctx, ip.l4_off) {
        // Safety: bounds-checked by ptr_at.
        Some(p) => unsafe { (*p)[13] },
        None => 0,
    }
}
