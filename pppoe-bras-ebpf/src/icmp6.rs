//! ICMPv6 errors the BRAS sends itself (RFC 4443): Time Exceeded when a
//! hop limit expires here, Packet Too Big (RFC 8201) when a datagram does
//! not fit the session. Built in place of the offending datagram, which is
//! quoted by its first [`QUOTE`] bytes (the IPv6 header and 8 bytes of the
//! transport header: what a host needs to find the socket; RFC 4443 asks
//! for as much as fits in 1280 bytes, which XDP cannot checksum cheaply).
//! Never about an ICMPv6 error (RFC 4443 §2.4 e), rate limited with the
//! IPv4 ones (`icmp_limit`).
use aya_ebpf::{
    helpers::{bpf_xdp_adjust_head, bpf_xdp_adjust_tail, bpf_xdp_get_buff_len},
    programs::XdpContext,
};
use pppoe_bras_common::{csum, proto::*, stats::Stat};

use crate::{
    hdr::{ptr_at, put},
    icmp_limit,
    ipv6::Ip6,
    verdict::{drop, Verdict},
};

/// Bytes of the offending datagram quoted.
pub const QUOTE: usize = IPV6_HLEN + 8;
/// IPv6 + ICMPv6 header bytes put in front of the quote.
const GROW: usize = IPV6_HLEN + 8;
/// The error's IPv6 total length.
pub const TOT_LEN: u16 = (GROW + QUOTE) as u16;

pub const ICMP6_PACKET_TOO_BIG: u8 = 2;
pub const ICMP6_TIME_EXCEEDED: u8 = 3;
pub const IPPROTO_ICMPV6: u8 = 58;

/// Whether an error may be sent about `ip`: long enough to quote, and not
/// itself an ICMPv6 error (types 0–127).
#[inline(always)]
pub fn may_answer(ctx: &XdpContext, ip: &Ip6) -> bool {
    if (ip.tot_len as usize) < QUOTE {
        return false;
    }
    if ip.next_header != IPPROTO_ICMPV6 {
        return true;
    }
    match ptr_at::<[u8; 1]>(ctx, ip.off + IPV6_HLEN) {
        // Safety: bounds-checked by ptr_at.
        Some(t) => (unsafe { (*t)[0] }) >= 128,
        None => false,
    }
}

/// The one's-complement sum of the [`QUOTE`] bytes at `off`, by the
/// kernel (`bpf_csum_diff` over packet memory): a loop here made LLVM
/// spill past the 512-byte stack.
#[inline(always)]
fn quote_sum(ctx: &XdpContext, off: usize) -> Option<u32> {
    let q = ptr_at::<[u8; QUOTE]>(ctx, off)?;
    // Safety: QUOTE (a multiple of 4, ≤ 512) bytes of packet checked above.
    let s = unsafe {
        aya_ebpf::helpers::bpf_csum_diff(core::ptr::null_mut(), 0, q as *mut u32, QUOTE as u32, 0)
    };
    if s < 0 {
        return None;
    }
    // csum_partial adds the 16-bit words as the CPU reads them (little
    // endian here); the one's-complement sum of the byte-swapped words is
    // the byte-swapped sum.
    Some(u32::from(csum::fold(s as u32).swap_bytes()))
}

/// Reshape the frame into `l2_len` bytes of layer 2 (for the caller) +
/// IPv6 (`src` → `dst`, hop limit 64) + ICMPv6 `ty`/`code` with `param`
/// (the MTU for Packet Too Big) + the quote. The caller checked
/// [`may_answer`]. Rate limited. Once the frame is touched, failures drop.
#[inline(always)]
pub fn reply(
    ctx: &XdpContext,
    l2_len: usize,
    ip: &Ip6,
    ty: u8,
    code: u8,
    param: u32,
    src: &[u8; 16],
    dst: &[u8; 16],
) -> Result<(), Verdict> {
    icmp_limit::take()?;
    // The quote's sum, before anything moves, read word by word from the
    // packet (no copy on the 512-byte stack).
    let qsum = quote_sum(ctx, ip.off & 0x3f).ok_or(drop(Stat::Aborted))?;
    // ---- rewrite: failures DROP ----
    let want = (l2_len & 0x3f) + QUOTE;
    // Safety: ctx.ctx is the program's xdp_md.
    let have = unsafe { bpf_xdp_get_buff_len(ctx.ctx) } as i64;
    let delta = (want as i64 - have) as i32;
    if delta != 0 {
        // Safety: as above.
        if unsafe { bpf_xdp_adjust_tail(ctx.ctx, delta) } != 0 {
            return Err(drop(Stat::Aborted));
        }
    }
    // The datagram starts at l2_len (the offending frame's own layer 2);
    // grow in front of it: the new headers go at l2_len, the quote follows.
    // Safety: as above.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, -(GROW as i32)) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    let plen = ((8 + QUOTE) as u16).to_be_bytes();
    let p = param.to_be_bytes();
    // Pseudo-header (RFC 8200 §8.1): addresses, upper-layer length, next
    // header; then the ICMPv6 header (checksum 0) and the quote.
    let mut sum = csum::add_words(0, src);
    sum = csum::add_words(sum, dst);
    sum += u32::from(u16::from_be_bytes(plen)) + u32::from(IPPROTO_ICMPV6);
    sum += (u32::from(ty) << 8) | u32::from(code);
    sum +=
        u32::from(u16::from_be_bytes([p[0], p[1]])) + u32::from(u16::from_be_bytes([p[2], p[3]]));
    sum = sum.wrapping_add(qsum);
    let c = (!csum::fold(sum)).to_be_bytes();
    let base = ptr_at::<[u8; GROW]>(ctx, l2_len & 0x3f).ok_or(drop(Stat::Aborted))? as *mut u8;
    // Safety: GROW bytes checked above; constant offsets below GROW.
    unsafe {
        put(base, 0, &[0x60, 0, 0, 0]);
        put(base, 4, &[plen[0], plen[1], IPPROTO_ICMPV6, 64]);
        put(base, 8, src);
        put(base, 24, dst);
        put(base, 40, &[ty, code, c[0], c[1], p[0], p[1], p[2], p[3]]);
    }
    Ok(())
}
