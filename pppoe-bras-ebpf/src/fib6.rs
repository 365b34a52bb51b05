//! Next hop of an IPv6 destination with `bpf_fib_lookup` (AF_INET6), asked
//! for the uplink like the IPv4 lookups (see `fib`): needs
//! `net.ipv6.conf.<uplink>.forwarding=1`, which the daemon sets.
//!
//! Cached like IPv4 (`FIB6_CACHE`: per CPU, direct-mapped, one multiply
//! picks the slot, 1 s freshness): the lookup costs ~100 ns, most of the
//! upstream IPv6 path. Keyed by destination only: IPv6 is routed, not
//! translated, and source-based policy routing is not supported with it.
use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, BPF_FIB_LKUP_RET_FRAG_NEEDED, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_SUCCESS,
    },
    helpers::{bpf_fib_lookup, bpf_ktime_get_coarse_ns},
    programs::XdpContext,
    EbpfContext,
};
use pppoe_bras_common::{
    maps::{Fib6Entry, FIB_CACHE_NS, FIB_CACHE_SLOTS},
    stats::Stat,
};

use crate::{
    fib::NextHop,
    maps::FIB6_CACHE,
    verdict::{drop, Verdict},
};

/// [`lookup_uncached`] through `FIB6_CACHE`.
#[inline(always)]
pub fn lookup(
    ctx: &XdpContext,
    ifindex: u32,
    access: u32,
    src: &[u8; 16],
    dst: &[u8; 16],
    proto: u8,
    tot_len: u16,
) -> Result<NextHop, Verdict> {
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    let slot = FIB6_CACHE.get_ptr_mut(slot_of(dst));
    if let Some(e) = slot {
        // Safety: this CPU's slot, valid for the program's run; no other writer.
        let e = unsafe { &*e };
        if e.dst == *dst && now.wrapping_sub(e.when) < FIB_CACHE_NS && tot_len <= e.mtu {
            return Ok(NextHop {
                ifindex: e.ifindex,
                smac: e.smac,
                dmac: e.dmac,
            });
        }
    }
    let hop = lookup_uncached(ctx, ifindex, access, src, dst, proto, tot_len)?;
    if let Some(e) = slot {
        // The route MTU: asked with the largest length (FRAG_NEEDED says it).
        let mtu = match lookup_uncached(ctx, ifindex, access, src, dst, proto, u16::MAX) {
            Ok(_) => u16::MAX,
            Err(_) => tot_len,
        };
        // Safety: as above.
        unsafe {
            *e = Fib6Entry {
                dst: *dst,
                ifindex: hop.ifindex,
                mtu,
                smac: hop.smac,
                dmac: hop.dmac,
                _pad: [0; 6],
                when: now,
            };
        }
    }
    Ok(hop)
}

/// The cache slot of `dst`: multiplicative hash of its words, top bits.
#[inline(always)]
fn slot_of(dst: &[u8; 16]) -> u32 {
    let w = |i: usize| u32::from_ne_bytes([dst[i], dst[i + 1], dst[i + 2], dst[i + 3]]);
    let x = w(0) ^ w(4).rotate_left(7) ^ w(8).rotate_left(13) ^ w(12).rotate_left(19);
    x.wrapping_mul(0x9e37_79b1) >> (32 - FIB_CACHE_SLOTS.trailing_zeros())
}

const AF_INET6: u8 = 10;

/// Route `src → dst` as if it arrived on `ifindex`; a route out of
/// `access` is refused.
#[inline(always)]
fn lookup_uncached(
    ctx: &XdpContext,
    ifindex: u32,
    access: u32,
    src: &[u8; 16],
    dst: &[u8; 16],
    proto: u8,
    tot_len: u16,
) -> Result<NextHop, Verdict> {
    // Safety: all-zero is a valid bpf_fib_lookup.
    let mut p: FibParams = unsafe { core::mem::zeroed() };
    p.family = AF_INET6;
    p.l4_protocol = proto;
    p.ifindex = ifindex;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.__bindgen_anon_3.ipv6_src = words(src);
    p.__bindgen_anon_4.ipv6_dst = words(dst);
    // Safety: ctx is the program's xdp_md; p is a stack struct of the size passed.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.as_ptr(),
            &mut p,
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        if p.ifindex == access {
            return Err(drop(Stat::DropFibFail));
        }
        return Ok(NextHop {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
        });
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        return Err(drop(Stat::DropNoNeigh));
    }
    if rc == BPF_FIB_LKUP_RET_FRAG_NEEDED as i64 {
        return Err(drop(Stat::DropTooBig6));
    }
    Err(drop(Stat::DropFibFail))
}

/// An IPv6 address as the four network-order words `bpf_fib_lookup` holds.
#[inline(always)]
fn words(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}
