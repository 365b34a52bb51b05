//! The XDP data plane of pppoe-bras: `bras_access` (subscriber → uplink) and
//! `bras_uplink` (uplink → subscriber). One job per module:
//! `hdr` (views, bounds checks), `ipv4` (parse, rewrite, checksums), `nat`
//! (mappings), `fib` (next hop), `access`/`uplink` (the two paths), `maps`,
//! `verdict` (the one exit and its counter), `gateway` (what the BRAS
//! answers subscribers itself).
#![no_std]
#![cfg_attr(target_arch = "bpf", feature(core_intrinsics))]
#![cfg_attr(target_arch = "bpf", allow(internal_features))]
#![no_main]

mod access;
mod encap;
mod fib;
mod frag;
mod gateway;
mod hdr;
mod icmp;
mod icmp_limit;
mod ipv4;
mod maps;
mod nat;
mod spread;
mod tcp;
mod uplink;
mod verdict;

use aya_ebpf::{macros::xdp, programs::XdpContext};
use pppoe_bras_common::maps::{Config, CONFIG_F_ENABLED};

use crate::maps::{CONFIG, COUNTERS};

/// Access NIC: PPPoE session IPv4 is forwarded (or, spreading, handed to
/// its session's CPU); control frames pass to the daemon.
#[xdp]
pub fn bras_access(ctx: XdpContext) -> u32 {
    let v = match access::run::<true>(&ctx) {
        Ok(v) | Err(v) => v,
    };
    verdict::finish(v)
}

/// The access path on the CPU a session was spread to (`CPUS` entries).
#[xdp(map = "cpumap")]
pub fn bras_access_cpu(ctx: XdpContext) -> u32 {
    let v = match access::run::<false>(&ctx) {
        Ok(v) | Err(v) => v,
    };
    verdict::finish(v)
}

/// Uplink NIC: NATed replies are encapsulated towards subscribers; the rest passes.
#[xdp]
pub fn bras_uplink(ctx: XdpContext) -> u32 {
    let v = match uplink::run(&ctx) {
        Ok(v) | Err(v) => v,
    };
    verdict::finish(v)
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
