//! Align-1 header views and the bounds-checked accessor.
//!
//! After Ethernet + tags + PPPoE + PPP the IPv4 header sits at an offset that
//! is only 2-byte aligned, so every multi-byte field is a byte array read with
//! `from_be_bytes` (no unaligned-access assumptions in the BPF target).
use aya_ebpf::programs::XdpContext;

/// Ethernet header.
#[repr(C)]
pub struct EthHdr {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub proto: [u8; 2],
}

/// 802.1Q/802.1ad tag body (after the TPID, which is the previous `proto`).
#[repr(C)]
pub struct VlanHdr {
    pub tci: [u8; 2],
    pub proto: [u8; 2],
}

/// PPPoE session header plus the PPP protocol field (RFC 2516 §4, RFC 1661 §2).
#[repr(C)]
pub struct PppoeHdr {
    pub ver_type: u8,
    pub code: u8,
    pub session_id: [u8; 2],
    pub length: [u8; 2],
    pub ppp_proto: [u8; 2],
}

/// IPv4 header without options (RFC 791).
#[repr(C)]
pub struct Ipv4Hdr {
    pub ver_ihl: u8,
    pub tos: u8,
    pub tot_len: [u8; 2],
    pub id: [u8; 2],
    pub frag_off: [u8; 2],
    pub ttl: u8,
    pub proto: u8,
    pub csum: [u8; 2],
    pub src: [u8; 4],
    pub dst: [u8; 4],
}

/// Pointer to a `T` at `off` bytes into the frame, or `None` when it does not
/// fit before `data_end`. `off` may be variable but must be bounded (the
/// verifier needs a maximum): callers pass offsets built from constants and
/// masked header lengths.
///
/// Verifier trap (kernel 6.18, LLVM 22): with plain loads LLVM proves some
/// checks redundant from earlier *scalar* facts (e.g. "L4 header fits in the IP
/// total length, which fits in the frame") and deletes them; the verifier only
/// learns packet ranges from explicit `pkt + k <= pkt_end` compares and then
/// rejects the access ("R4 offset is outside of the packet"). Volatile loads of
/// `data`/`data_end` keep every check in the object.
#[inline(always)]
pub fn ptr_at<T>(ctx: &XdpContext, off: usize) -> Option<*mut T> {
    // Safety: ctx.ctx is the program's valid xdp_md.
    let (start, end) = unsafe {
        (
            core::ptr::read_volatile(&(*ctx.ctx).data) as usize,
            core::ptr::read_volatile(&(*ctx.ctx).data_end) as usize,
        )
    };
    if start + off + core::mem::size_of::<T>() > end {
        return None;
    }
    Some((start + off) as *mut T)
}

/// Big-endian 16-bit read of a header field.
#[inline(always)]
pub fn be16(b: [u8; 2]) -> u16 {
    u16::from_be_bytes(b)
}

/// Copy `N` bytes to `base + off`.
///
/// # Safety
/// The range must be inside the checked packet range.
#[inline(always)]
pub unsafe fn put<const N: usize>(base: *mut u8, off: usize, bytes: &[u8; N]) {
    // Safety: per the function contract.
    unsafe { core::ptr::write_unaligned(base.add(off) as *mut [u8; N], *bytes) }
}

/// Read the `N` bytes at `off`, or `None` when they are not in the frame.
///
/// Verifier trap: never use `N = 1` (or `ptr_at::<u8>`) at a variable
/// offset. LLVM turns `p + 1 > end` into `p >= end`, and the verifier learns
/// no range from a right-open compare at offset 0 ("R4 offset is outside of
/// the packet"). Read two bytes instead.
#[inline(always)]
pub fn read<const N: usize>(ctx: &XdpContext, off: usize) -> Option<[u8; N]> {
    let p: *mut [u8; N] = ptr_at(ctx, off)?;
    // Safety: bounds-checked above.
    Some(unsafe { *p })
}

/// Replace the big-endian 16-bit word at `off`; returns the old value.
/// `None` when it is not in the frame.
#[inline(always)]
pub fn swap16(ctx: &XdpContext, off: usize, new: u16) -> Option<u16> {
    let p: *mut [u8; 2] = ptr_at(ctx, off)?;
    // Safety: bounds-checked above.
    unsafe {
        let old = be16(*p);
        *p = new.to_be_bytes();
        Some(old)
    }
}

/// Replace the 4 bytes at `off` (an address); returns the old value.
#[inline(always)]
pub fn swap4(ctx: &XdpContext, off: usize, new: [u8; 4]) -> Option<[u8; 4]> {
    let p: *mut [u8; 4] = ptr_at(ctx, off)?;
    // Safety: bounds-checked above.
    unsafe {
        let old = *p;
        *p = new;
        Some(old)
    }
}
