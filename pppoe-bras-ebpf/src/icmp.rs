//! ICMP errors: translating the ones about NAT flows (RFC 5508 §4.2: the
//! quoted header is rewritten too, so the sender's socket recognises it) and
//! building the ones the BRAS sends itself (Time Exceeded, RFC 792;
//! Fragmentation Needed, RFC 1191) in place of the offending frame.
//!
//! Checksums, all incremental (RFC 1624) except for the fresh reply:
//! - outer IPv4 header: the translated outer address;
//! - quoted IPv4 header: the translated quoted address;
//! - quoted L4 checksum (UDP when non-zero, TCP when its checksum lies
//!   inside the quote, ICMP echo): pseudo-header address and port/identifier;
//! - ICMP checksum: every 16-bit word changed inside the ICMP message.
//!   Receivers match errors to sockets by the quoted addresses and ports;
//!   Linux does not verify quoted L4 checksums, but we keep them right
//!   wherever they are quoted, like netfilter's NAT does.
use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_get_buff_len},
    programs::XdpContext,
};
use pppoe_bras_common::{csum, proto::*, stats::Stat};

use crate::{
    hdr::{be16, ptr_at, put, read, swap16, swap4, Ipv4Hdr},
    ipv4::{Dir, Ip},
    verdict::{drop, Verdict},
};

/// True when `ip` is an ICMP error message (the kinds that quote a datagram).
#[inline(always)]
pub fn is_error(ctx: &XdpContext, ip: &Ip) -> bool {
    if ip.proto != IPPROTO_ICMP || ip.later_fragment {
        return false;
    }
    match read::<2>(ctx, ip.l4_off) {
        Some([t, _]) => {
            t == ICMP_DEST_UNREACH || t == ICMP_TIME_EXCEEDED || t == ICMP_PARAM_PROBLEM
        }
        None => false,
    }
}

/// The flow an ICMP error quotes (offsets from `data`).
pub struct Quoted {
    /// Offset of the quoted IPv4 header.
    pub ip_off: usize,
    /// IP protocol of the quoted datagram.
    pub proto: u8,
    /// The quoted address NAT translates: the source for `Dir::In` (the
    /// public address our packet left with), the destination for `Dir::Out`
    /// (the subscriber an inbound packet was for).
    pub addr: [u8; 4],
    /// Offset of the quoted port/identifier NAT translates.
    pub port_off: usize,
    pub port: u16,
    /// Offset of the quoted L4 checksum, 0 when it is not inside the quote.
    pub csum_off: usize,
}

/// Parse the datagram quoted by the ICMP error `ip` (the caller checked
/// [`is_error`]). `None` when it is truncated (less than its header plus 8
/// bytes), a later fragment, not TCP/UDP/ICMP echo of the direction's kind
/// (an error about an error is never translated, RFC 5508 §4.1), or not
/// about the outer address (`Dir::In`: quoted source = outer destination;
/// `Dir::Out`: quoted destination = outer source).
#[inline(always)]
pub fn quoted(ctx: &XdpContext, ip: &Ip, dir: Dir) -> Option<Quoted> {
    let end = ip.off + ip.tot_len as usize;
    let q_off = ip.l4_off + ICMP_HLEN;
    if q_off + IPV4_MIN_HLEN > end {
        return None;
    }
    let h: *mut Ipv4Hdr = ptr_at(ctx, q_off)?;
    // Safety: bounds-checked above.
    let h = unsafe { &*h };
    if h.ver_ihl >> 4 != 4 {
        return None;
    }
    let q_hlen = ((h.ver_ihl & 0x0f) as usize) * 4;
    if q_hlen < IPV4_MIN_HLEN || be16(h.frag_off) & 0x1fff != 0 {
        return None;
    }
    let (addr, outer) = if dir == Dir::In {
        (h.src, ip.dst)
    } else {
        (h.dst, ip.src)
    };
    if addr != outer {
        return None;
    }
    let proto = h.proto;
    let l4 = q_off + q_hlen;
    if l4 + ICMP_QUOTE_L4 > end {
        return None;
    }
    let b = read::<8>(ctx, l4)?;
    let (port_off, csum_off) = match proto {
        IPPROTO_UDP => {
            let p = if dir == Dir::In { 0 } else { 2 };
            (l4 + p, l4 + 6)
        }
        IPPROTO_TCP => {
            let p = if dir == Dir::In { 0 } else { 2 };
            let c = if l4 + 18 <= end { l4 + 16 } else { 0 };
            (l4 + p, c)
        }
        IPPROTO_ICMP => {
            // Our echo request (Dir::In) or the remote's echo reply (Dir::Out).
            let want = if dir == Dir::In {
                ICMP_ECHO_REQUEST
            } else {
                ICMP_ECHO_REPLY
            };
            if b[0] != want || b[1] != 0 {
                return None;
            }
            (l4 + 4, l4 + 2)
        }
        _ => return None,
    };
    let rel = port_off - l4;
    let port = match rel {
        0 => u16::from_be_bytes([b[0], b[1]]),
        2 => u16::from_be_bytes([b[2], b[3]]),
        _ => u16::from_be_bytes([b[4], b[5]]),
    };
    Some(Quoted {
        ip_off: q_off,
        proto,
        addr,
        port_off,
        port,
        csum_off,
    })
}

/// Translate an ICMP error about a NAT flow: the outer destination
/// (`Dir::In`) or source (`Dir::Out`) becomes `addr`, and the quoted
/// datagram's source (`Dir::In`) or destination (`Dir::Out`) becomes
/// `addr`:`port`, with every checksum kept right (see the module doc).
/// `None` when a header is no longer in the frame (the caller drops).
#[inline(always)]
pub fn translate_error(
    ctx: &XdpContext,
    ip: &Ip,
    q: &Quoted,
    dir: Dir,
    addr: [u8; 4],
    port: u16,
) -> Option<()> {
    crate::ipv4::translate_addr(ctx, ip, dir, addr)?;
    let icmp_csum_off = ip.l4_off + 2;
    let mut c = be16(read::<2>(ctx, icmp_csum_off)?);

    // Quoted IPv4 header: address and its header checksum.
    let a_off = if dir == Dir::In {
        q.ip_off + 12
    } else {
        q.ip_off + 16
    };
    let old_addr = swap4(ctx, a_off, addr)?;
    let old_qc = be16(read::<2>(ctx, q.ip_off + 10)?);
    let new_qc = csum::replace4(old_qc, old_addr, addr);
    swap16(ctx, q.ip_off + 10, new_qc)?;
    c = csum::replace4(c, old_addr, addr);
    c = csum::replace2(c, old_qc, new_qc);

    // Quoted port / identifier.
    let old_port = swap16(ctx, q.port_off, port)?;
    c = csum::replace2(c, old_port, port);

    // Quoted L4 checksum, where quoted.
    if q.csum_off != 0 {
        let old_l4c = be16(read::<2>(ctx, q.csum_off)?);
        let new_l4c = match q.proto {
            IPPROTO_UDP => {
                csum::udp_replace2(csum::udp_replace4(old_l4c, old_addr, addr), old_port, port)
            }
            IPPROTO_TCP => csum::replace2(csum::replace4(old_l4c, old_addr, addr), old_port, port),
            // ICMP has no pseudo-header.
            _ => csum::replace2(old_l4c, old_port, port),
        };
        swap16(ctx, q.csum_off, new_l4c)?;
        c = csum::replace2(c, old_l4c, new_l4c);
    }
    swap16(ctx, icmp_csum_off, c)?;
    Some(())
}

/// IPv4 + ICMP header bytes the BRAS puts in front of a quoted datagram.
pub const REPLY_GROW: usize = IPV4_MIN_HLEN + ICMP_HLEN;

/// Check that an ICMP error may be sent about `ip` and sum what its
/// checksum covers besides its own header: the quote is `ip`'s header plus 8
/// bytes (RFC 792). `None`: no error may be sent (RFC 1122 §3.2.2: not about
/// an ICMP error, nor a later fragment) or the datagram is shorter than the
/// quote.
///
/// A valid IPv4 header sums to 0xffff, which adds nothing in one's-complement
/// arithmetic, so only the 8 L4 bytes are summed. A datagram whose header
/// checksum was wrong gets an error with a wrong ICMP checksum, which its
/// sender discards: the same outcome as dropping it.
#[inline(always)]
pub fn quote_sum(ctx: &XdpContext, ip: &Ip) -> Option<u32> {
    if ip.later_fragment || (ip.tot_len as usize) < ip.hlen + ICMP_QUOTE_L4 {
        return None;
    }
    if is_error(ctx, ip) {
        return None;
    }
    let b = read::<8>(ctx, ip.l4_off)?;
    Some(csum::add_words(0, &b))
}

/// What an ICMP error built by [`reply`] says.
pub struct Reply {
    pub ty: u8,
    pub code: u8,
    /// The 4 "rest of header" bytes (next-hop MTU for Fragmentation Needed).
    pub rest: [u8; 4],
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

/// Reshape the frame into `l2_len` bytes of layer 2 (left for the caller to
/// write) + IPv4 + ICMP `r` + the quote (`ip`'s header + 8 bytes): cut the
/// tail after the quote, grow the head by [`REPLY_GROW`], write the new
/// headers. `sum` comes from [`quote_sum`]. Returns the new IPv4 total length.
/// Once the frame is touched every failure drops.
#[inline(always)]
pub fn reply(
    ctx: &XdpContext,
    l2_len: usize,
    ip: &Ip,
    sum: u32,
    r: &Reply,
) -> Result<u16, Verdict> {
    let quote = ip.hlen + ICMP_QUOTE_L4;
    let want = l2_len + quote;
    // The frame length as a scalar (packet pointers may not be subtracted
    // from data_end); the quote lies inside the frame, so delta ≤ 0.
    // Safety: ctx.ctx is the program's xdp_md.
    let have = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as i64;
    let delta = (want as i64 - have) as i32;
    if delta != 0 {
        // Safety: ctx.ctx is the program's xdp_md.
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
            return Err(drop(Stat::Aborted));
        }
    }
    // Safety: as above.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(REPLY_GROW as i32)) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    let tot_len = (REPLY_GROW + quote) as u16;
    let t = tot_len.to_be_bytes();
    let mut hdr: [u8; 20] = [
        0x45,
        0xc0,
        t[0],
        t[1],
        0,
        0,
        0,
        0,
        64,
        IPPROTO_ICMP,
        0,
        0,
        r.src[0],
        r.src[1],
        r.src[2],
        r.src[3],
        r.dst[0],
        r.dst[1],
        r.dst[2],
        r.dst[3],
    ];
    let hc = (!csum::fold(csum::add_words(0, &hdr))).to_be_bytes();
    hdr[10] = hc[0];
    hdr[11] = hc[1];
    let mut icmp: [u8; 8] = [
        r.ty, r.code, 0, 0, r.rest[0], r.rest[1], r.rest[2], r.rest[3],
    ];
    let ic = (!csum::fold(csum::add_words(sum, &icmp))).to_be_bytes();
    icmp[2] = ic[0];
    icmp[3] = ic[1];
    // l2_len is 14 or 22/26/30: bounded for the verifier.
    let base =
        ptr_at::<[u8; REPLY_GROW]>(ctx, l2_len & 0x3f).ok_or(drop(Stat::Aborted))? as *mut u8;
    // Safety: REPLY_GROW bytes checked above.
    unsafe {
        put(base, 0, &hdr);
        put(base, IPV4_MIN_HLEN, &icmp);
    }
    Ok(tot_len)
}
