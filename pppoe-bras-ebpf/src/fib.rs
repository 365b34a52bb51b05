//! Next-hop resolution with `bpf_fib_lookup`, done BEFORE the frame is
//! rewritten so a failure can still drop a pristine frame.
//!
//! `bpf_fib_lookup` costs ~200 ns per call on the bench machine (the
//! biggest single cost of the upstream path), so successful lookups are
//! cached for [`FIB_CACHE_NS`] (1 s) in `FIB_CACHE`, a per-CPU direct-mapped
//! table (no locks, no hashing helper: one multiply picks the slot, the
//! slot holds its key) of (ingress ifindex, source after NAT, destination);
//! route and neighbour changes reach the data plane within that second.
//! Packets larger than the cached route MTU, misses (incl. two hot
//! destinations sharing a slot) and stale entries take the full lookup, so
//! `FRAG_NEEDED`, `NO_NEIGH` and local destinations behave as without the
//! cache.
use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, BPF_FIB_LKUP_RET_FRAG_NEEDED, BPF_FIB_LKUP_RET_NOT_FWDED,
        BPF_FIB_LKUP_RET_NO_NEIGH, BPF_FIB_LKUP_RET_SUCCESS,
    },
    helpers::{bpf_fib_lookup, bpf_ktime_get_ns},
    programs::XdpContext,
    EbpfContext,
};
use pppoe_bras_common::{
    maps::{FibEntry, FibKey, NeighMiss, FIB_CACHE_NS, FIB_CACHE_SLOTS},
    stats::Stat,
};

use crate::{
    maps::{FIB_CACHE, NEIGH_MISS},
    verdict::{drop, Verdict},
};

const AF_INET: u8 = 2;

/// Where to send the packet.
pub struct NextHop {
    pub ifindex: u32,
    pub smac: [u8; 6],
    pub dmac: [u8; 6],
}

/// What the FIB says about a destination.
pub enum Route {
    /// Forward to this next hop.
    Hop(NextHop),
    /// The destination is local to the BRAS (`NOT_FWDED`): e.g. one of its
    /// public addresses, i.e. a hairpin candidate.
    Local,
}

/// Route `src → dst` as if it arrived on `ifindex` (the uplink, see
/// [`lookup_uncached`]), from `FIB_CACHE` when a fresh entry exists (`now`:
/// coarse clock, ns). A route out of `access` (the access NIC) is refused.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
pub fn lookup(
    ctx: &XdpContext,
    ifindex: u32,
    access: u32,
    src: [u8; 4],
    dst: [u8; 4],
    tos: u8,
    proto: u8,
    tot_len: u16,
    now: u64,
) -> Result<Route, Verdict> {
    let key = FibKey { ifindex, src, dst };
    let slot = FIB_CACHE.get_ptr_mut(slot_of(&key));
    if let Some(e) = slot {
        // Safety: this CPU's slot, valid for the program's run; no other writer.
        let e = unsafe { &*e };
        if e.key == key && now.wrapping_sub(e.when) < FIB_CACHE_NS && tot_len <= e.mtu {
            return Ok(Route::Hop(NextHop {
                ifindex: e.ifindex,
                smac: e.smac,
                dmac: e.dmac,
            }));
        }
    }
    let route = lookup_uncached(ctx, ifindex, access, src, dst, tos, proto, tot_len)?;
    if let (Route::Hop(h), Some(e)) = (&route, slot) {
        let mtu = route_mtu(ctx, ifindex, src, dst, tos, proto);
        // Safety: as above.
        unsafe {
            *e = FibEntry {
                key,
                ifindex: h.ifindex,
                mtu,
                smac: h.smac,
                dmac: h.dmac,
                _pad: [0; 2],
                when: now,
            };
        }
    }
    Ok(route)
}

/// The cache slot of `key`: multiplicative hash, top bits.
#[inline(always)]
fn slot_of(key: &FibKey) -> u32 {
    let x = u32::from_ne_bytes(key.dst) ^ u32::from_ne_bytes(key.src).rotate_left(11) ^ key.ifindex;
    x.wrapping_mul(0x9e37_79b1) >> (32 - FIB_CACHE_SLOTS.trailing_zeros())
}

/// The route MTU of `src → dst`: asks with the largest total length, which
/// the kernel answers with `FRAG_NEEDED` and the MTU (0 when it cannot tell:
/// the entry then serves nothing but the full lookup keeps working).
#[inline(always)]
fn route_mtu(
    ctx: &XdpContext,
    ifindex: u32,
    src: [u8; 4],
    dst: [u8; 4],
    tos: u8,
    proto: u8,
) -> u16 {
    let mut p = params(ifindex, src, dst, tos, proto, u16::MAX);
    let rc = fib_lookup(ctx, &mut p);
    if rc == BPF_FIB_LKUP_RET_FRAG_NEEDED as i64 {
        // Safety: union member the kernel writes with FRAG_NEEDED.
        unsafe { p.__bindgen_anon_1.mtu_result }
    } else if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        u16::MAX
    } else {
        0
    }
}

/// `bpf_fib_lookup` on `p`, returning the kernel's `BPF_FIB_LKUP_RET_*`.
#[inline(always)]
fn fib_lookup(ctx: &XdpContext, p: &mut FibParams) -> i64 {
    // Safety: ctx is the program's xdp_md; p is a stack struct of the size passed.
    unsafe { bpf_fib_lookup(ctx.as_ptr(), p, core::mem::size_of::<FibParams>() as i32, 0) }
}

#[inline(always)]
fn params(ifindex: u32, src: [u8; 4], dst: [u8; 4], tos: u8, proto: u8, tot_len: u16) -> FibParams {
    // Safety: all-zero is a valid bpf_fib_lookup (plain integers/unions of integers).
    let mut p: FibParams = unsafe { core::mem::zeroed() };
    p.family = AF_INET;
    p.l4_protocol = proto;
    p.ifindex = ifindex;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.__bindgen_anon_2.tos = tos;
    p.__bindgen_anon_3.ipv4_src = u32::from_ne_bytes(src);
    p.__bindgen_anon_4.ipv4_dst = u32::from_ne_bytes(dst);
    p
}

/// Route `src → dst` as if it arrived on `ifindex`.
///
/// `bpf_fib_lookup` needs IPv4 forwarding enabled on the device it is
/// asked for (else `FWD_DISABLED`). The lookup is made for the **uplink**
/// (`Config::uplink_ifindex`), not the access NIC the packet came in on:
/// so the access NIC keeps `net.ipv4.conf.<access>.forwarding=0` and the
/// kernel never routes a frame that arrived there, even if one got past
/// XDP (a detached program, an `access_allow`ed kind). The daemon sets
/// forwarding on the uplink only. Policy rules that match on `iif` see the
/// uplink. The kernel checks the
/// route MTU against `tot_len` (`FRAG_NEEDED` → `DropTooBig`). On `NO_NEIGH`
/// the kernel has filled in the egress ifindex and the next hop (gateway or
/// destination); it is recorded in `NEIGH_MISS` so the daemon can make the
/// kernel resolve it (XDP cannot; `bpf_redirect_neigh` is TC-only).
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn lookup_uncached(
    ctx: &XdpContext,
    ifindex: u32,
    access: u32,
    src: [u8; 4],
    dst: [u8; 4],
    tos: u8,
    proto: u8,
    tot_len: u16,
) -> Result<Route, Verdict> {
    let mut p = params(ifindex, src, dst, tos, proto, tot_len);
    let rc = fib_lookup(ctx, &mut p);
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        if p.ifindex == access {
            // The route points back out of the access NIC: not ours to forward.
            return Err(drop(Stat::DropFibFail));
        }
        return Ok(Route::Hop(NextHop {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
        }));
    }
    if rc == BPF_FIB_LKUP_RET_NOT_FWDED as i64 {
        return Ok(Route::Local);
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        if let Some(m) = NEIGH_MISS.get_ptr_mut(0) {
            // Safety: array slot 0 exists; racy writes from several CPUs only
            // mix two valid misses, which is harmless for a hint.
            unsafe {
                *m = NeighMiss {
                    ifindex: p.ifindex,
                    // Safety: union member written by the kernel for IPv4.
                    addr: p.__bindgen_anon_4.ipv4_dst.to_ne_bytes(),
                    when: bpf_ktime_get_ns(),
                };
            }
        }
        return Err(drop(Stat::DropNoNeigh));
    }
    if rc == BPF_FIB_LKUP_RET_FRAG_NEEDED as i64 {
        return Err(drop(Stat::DropTooBig));
    }
    Err(drop(Stat::DropFibFail))
}
