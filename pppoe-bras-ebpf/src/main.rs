//! The XDP data plane of pppoe-bras: `bras_access` (subscriber → uplink) and
//! `bras_uplink` (uplink → subscriber). One job per module:
//! `hdr` (views, bounds checks), `ipv4` (parse, rewrite, checksums), `nat`
//! (mappings), `fib` (next hop), `access`/`uplink` (the two paths), `maps`,
//! `verdict` (the one exit and its counter), `gateway` (what the BRAS
//! answers subscribers itself), `capture` (`pppoe-bras capture`: frames as
//! received at entry, as sent at exit).
#![no_std]
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]
#![no_main]

mod access;
mod access6;
mod capture;
mod encap;
mod fib;
mod fib6;
mod frag;
mod gateway;
mod hdr;
mod icmp;
mod icmp6;
mod icmp_limit;
mod ipv4;
mod ipv6;
mod maps;
mod nat;
mod spread;
mod tcp;
mod uplink;
mod uplink6;
mod verdict;

use aya_ebpf::{
    bindings::{xdp_action, xdp_md},
    macros::xdp,
    programs::XdpContext,
};
use pppoe_bras_common::{
    capture::{PROG_ACCESS, PROG_ACCESS_CPU, PROG_UPLINK, STAT_NONE},
    maps::{Config, CONFIG_F_ENABLED},
    stats::Stat,
};

use crate::maps::{CONFIG, COUNTERS};

/// Access NIC: PPPoE session IPv4 is forwarded (or, spreading, handed to
/// its session's CPU); control frames pass to the daemon.
#[xdp]
pub fn bras_access(ctx: XdpContext) -> u32 {
    let cap = capture::flags();
    if cap != 0 {
        capture::frame(ctx.ctx, PROG_ACCESS as u32, STAT_NONE as u32);
    }
    let mut v = unpack(access_path::<true>(ctx.ctx));
    if v.stat as u32 == Stat::AccessPassIpv6 as u32 {
        v = unpack(access6_path(ctx.ctx));
        if v.stat as u32 == Stat::DropHopLimit as u32 {
            v = unpack(access6_time_exceeded(ctx.ctx));
        }
    }
    sent(&ctx, cap, PROG_ACCESS, v);
    verdict::finish(v)
}

/// The access path on the CPU a session was spread to (`CPUS` entries).
/// Its frames were captured as received by `bras_access`.
#[xdp(map = "cpumap")]
pub fn bras_access_cpu(ctx: XdpContext) -> u32 {
    let cap = capture::flags();
    let mut v = unpack(access_path::<false>(ctx.ctx));
    if v.stat as u32 == Stat::AccessPassIpv6 as u32 {
        v = unpack(access6_path(ctx.ctx));
        if v.stat as u32 == Stat::DropHopLimit as u32 {
            v = unpack(access6_time_exceeded(ctx.ctx));
        }
    }
    sent(&ctx, cap, PROG_ACCESS_CPU, v);
    verdict::finish(v)
}

/// Uplink NIC: NATed replies are encapsulated towards subscribers; the rest passes.
#[xdp]
pub fn bras_uplink(ctx: XdpContext) -> u32 {
    let cap = capture::flags();
    if cap != 0 {
        capture::frame(ctx.ctx, PROG_UPLINK as u32, STAT_NONE as u32);
    }
    let v = if is_ipv6(&ctx) {
        let v = unpack(uplink6_path(ctx.ctx));
        let s = v.stat as u32;
        if s == Stat::DropHopLimit as u32 || s == Stat::DropTooBig6 as u32 {
            unpack(uplink6_error(ctx.ctx, s))
        } else if s == Stat::UplinkProxyNd as u32 {
            unpack(uplink6_proxy_nd(ctx.ctx))
        } else {
            v
        }
    } else {
        unpack(uplink_path(ctx.ctx))
    };
    sent(&ctx, cap, PROG_UPLINK, v);
    verdict::finish(v)
}

/// The access path as a BPF subprogram of its own, so that the capture
/// subprogram is called beside it, not from inside its stack frame: the
/// verifier limits the stack of a call chain to 512 bytes, and the access
/// path alone uses ~400. Returns the verdict packed ([`pack`]): a
/// subprogram returns a scalar in r0, never a struct through a caller's
/// stack slot (see the README's verifier traps).
#[inline(never)]
fn access_path<const SPREAD: bool>(md: *mut xdp_md) -> u64 {
    let v = match access::run::<SPREAD>(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// The uplink path, as a subprogram like [`access_path`].
#[inline(never)]
fn uplink_path(md: *mut xdp_md) -> u64 {
    let v = match uplink::run(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// The IPv6 access path (`access6`), a subprogram of its own.
#[inline(never)]
fn access6_path(md: *mut xdp_md) -> u64 {
    let v = match access6::run(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// The IPv6 uplink path (`uplink6`), a subprogram of its own.
#[inline(never)]
fn uplink6_path(md: *mut xdp_md) -> u64 {
    let v = match uplink6::run(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// ICMPv6 Time Exceeded to a session whose hop limit expired here.
#[inline(never)]
fn access6_time_exceeded(md: *mut xdp_md) -> u64 {
    let v = match access6::time_exceeded(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// ICMPv6 Time Exceeded / Packet Too Big to a downstream sender; `stat`
/// is what `uplink6` dropped it under.
#[inline(never)]
fn uplink6_error(md: *mut xdp_md, stat: u32) -> u64 {
    let otherwise = if stat == Stat::DropTooBig6 as u32 {
        Stat::DropTooBig6
    } else {
        Stat::DropHopLimit
    };
    let v = match uplink6::error(&XdpContext::new(md), otherwise) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// Proxy ND: a Neighbor Solicitation `uplink6` handed over.
#[inline(never)]
fn uplink6_proxy_nd(md: *mut xdp_md) -> u64 {
    let v = match uplink6::proxy_nd(&XdpContext::new(md)) {
        Ok(v) | Err(v) => v,
    };
    pack(v)
}

/// An untagged IPv6 frame (the uplink carries no tags).
#[inline(always)]
fn is_ipv6(ctx: &XdpContext) -> bool {
    match hdr::ptr_at::<[u8; pppoe_bras_common::proto::ETH_HLEN]>(ctx, 0) {
        // Safety: bounds-checked by ptr_at.
        Some(eth) => unsafe {
            u16::from_ne_bytes([(*eth)[12], (*eth)[13]]) == pppoe_bras_common::proto::ETH_P_IPV6_BE
        },
        None => false,
    }
}

/// A verdict as one scalar: action in the low half, `Stat` in the high.
#[inline(always)]
fn pack(v: verdict::Verdict) -> u64 {
    u64::from(v.action) | (u64::from(v.stat as u32) << 32)
}

/// The verdict [`pack`] made.
#[inline(always)]
fn unpack(x: u64) -> verdict::Verdict {
    let stat = (x >> 32) as u32;
    verdict::Verdict {
        action: x as u32,
        stat: if stat < Stat::Count as u32 {
            // Safety: `Stat` is `repr(u32)` with consecutive discriminants
            // from 0, and `stat` is below `Count`.
            unsafe { core::mem::transmute::<u32, Stat>(stat) }
        } else {
            Stat::Aborted
        },
    }
}

/// Capture a frame as sent: redirected to a NIC (not handed to another
/// CPU, whose `bras_access_cpu` captures it when it sends it).
#[inline(always)]
fn sent(ctx: &XdpContext, cap: u32, prog: u8, v: verdict::Verdict) {
    if cap != 0
        && v.action == xdp_action::XDP_REDIRECT
        && v.stat as u32 != Stat::AccessSpread as u32
    {
        capture::frame(ctx.ctx, prog as u32, v.stat as u32);
    }
}

/// The configuration, when the daemon has enabled the data plane.
#[inline(always)]
fn config() -> Option<Config> {
    let c = CONFIG.get(0)?;
    if c.flags & CONFIG_F_ENABLED == 0 {
        return None;
    }
    Some(*c)
}

mod counters {
    use super::COUNTERS;

    /// Count one upstream packet of `len` IPv4 bytes on `slot`.
    #[inline(always)]
    pub fn up(slot: u32, len: u16) {
        if let Some(c) = COUNTERS.get_ptr_mut(slot) {
            // Safety: per-CPU slot of this program run.
            unsafe {
                (*c).up_packets += 1;
                (*c).up_bytes += len as u64;
            }
        }
    }

    /// Count one downstream packet of `len` IPv4 bytes on `slot`.
    #[inline(always)]
    pub fn down(slot: u32, len: u16) {
        if let Some(c) = COUNTERS.get_ptr_mut(slot) {
            // Safety: per-CPU slot of this program run.
            unsafe {
                (*c).down_packets += 1;
                (*c).down_bytes += len as u64;
            }
        }
    }
}

#[cfg(not(test))]
#[panic_handler]
fn panic(_info: &core::panic::PanicInfo) -> ! {
    loop {}
}

#[link_section = "license"]
#[no_mangle]
static LICENSE: [u8; 13] = *b"Dual MIT/GPL\0";
