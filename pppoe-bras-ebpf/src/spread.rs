//! Spreading PPPoE sessions over CPUs.
//!
//! A NIC's RSS hashes PPPoE session frames by their Ethernet addresses at
//! best (most hash the IP 5-tuple and see no IP in 0x8864 frames), so the
//! whole access side lands on one receive queue and one CPU. With
//! `CONFIG_F_SPREAD` the access program only parses layer 2 and the PPPoE
//! header, picks the session's CPU from a hash of (client MAC, session id)
//! and hands the frame to that CPU's `CPUS` (cpumap) queue, where
//! `bras_access_cpu` does the real work; a session always lands on the same
//! CPU, so its packets stay in order. Frames for the receiving CPU itself,
//! and frames the cpumap refuses, are processed in place. Control frames
//! (discovery, LCP, …) never move: they pass to the daemon from here.
use aya_ebpf::{bindings::xdp_action, helpers::bpf_get_smp_processor_id, programs::XdpContext};
use pppoe_bras_common::{
    maps::{Config, CONFIG_F_SPREAD, MAX_CPUS},
    proto::{ETH_P_PPP_SES_BE, PPP_IPV4_BE},
    stats::Stat,
};

use crate::{
    hdr::{ptr_at, PppoeHdr},
    maps::{CPUS, SPREAD_CPUS},
    verdict::Verdict,
};

/// `Some` when the frame went to another CPU; `None`: process it here.
#[inline(always)]
pub fn maybe(
    ctx: &XdpContext,
    cfg: &Config,
    src: &[u8; 6],
    proto: u16,
    off: usize,
) -> Option<Verdict> {
    if cfg.flags & CONFIG_F_SPREAD == 0 || cfg.spread_cpus < 2 || proto != ETH_P_PPP_SES_BE {
        return None;
    }
    let h: *mut PppoeHdr = ptr_at(ctx, off & 0x1f)?;
    // Safety: bounds-checked above.
    let (sid, ppp) = unsafe { ((*h).session_id, u16::from_ne_bytes((*h).ppp_proto)) };
    if ppp != PPP_IPV4_BE {
        return None;
    }
    let n = (cfg.spread_cpus as u32).min(MAX_CPUS);
    let cpu = *SPREAD_CPUS.get(pick(src, sid, n))?;
    // Safety: helper without preconditions.
    if cpu == unsafe { bpf_get_smp_processor_id() } {
        return None;
    }
    match CPUS.redirect(cpu, 0) {
        Ok(a) if a == xdp_action::XDP_REDIRECT => Some(Verdict {
            action: a,
            stat: Stat::AccessSpread,
        }),
        _ => None,
    }
}

/// Index in `0..n` for a session: a murmur3-style mix of the MAC and the
/// session id (which are often correlated: sequential ids, sequential lab
/// MACs), reduced by multiply-shift (no division).
#[inline(always)]
fn pick(mac: &[u8; 6], sid: [u8; 2], n: u32) -> u32 {
    let a = u32::from_ne_bytes([mac[2], mac[3], mac[4], mac[5]]);
    let b = u32::from_ne_bytes([sid[0], sid[1], mac[0], mac[1]]);
    let mut h = a.wrapping_mul(0xcc9e_2d51).rotate_left(15) ^ b;
    h ^= h >> 16;
    h = h.wrapping_mul(0x85eb_ca6b);
    h ^= h >> 13;
    h = h.wrapping_mul(0xc2b2_ae35);
    h ^= h >> 16;
    ((h as u64 * n as u64) >> 32) as u32
}
