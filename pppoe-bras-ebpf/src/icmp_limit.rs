//! Rate limit for the ICMP errors the BRAS itself sends (Time Exceeded,
//! Fragmentation Needed): RFC 1812 §4.3.2.8 asks routers to limit them, and
//! without a limit a flood of TTL=1 or oversized DF packets is reflected at
//! line rate. A GCRA per CPU: one u64 (the theoretical arrival time), no
//! division, only touched on this rare path.
use aya_ebpf::helpers::bpf_ktime_get_coarse_ns;
use pppoe_bras_common::stats::Stat;

use crate::{
    maps::ICMP_BUDGET,
    verdict::{drop, Verdict},
};

/// One error per millisecond per CPU on average…
const INTERVAL_NS: u64 = 1_000_000;
/// …with bursts of up to 100.
const BURST_NS: u64 = 100 * INTERVAL_NS;

/// `Ok` when one more error may be sent now; else the drop to count.
#[inline(always)]
pub fn take() -> Result<(), Verdict> {
    let Some(tat) = ICMP_BUDGET.get_ptr_mut(0) else {
        return Err(drop(Stat::DropIcmpRateLimit));
    };
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_coarse_ns() };
    // Safety: per-CPU slot, no other writer on this CPU during the run.
    let t = unsafe { &mut *tat };
    let base = if *t > now { *t } else { now };
    if base - now > BURST_NS {
        return Err(drop(Stat::DropIcmpRateLimit));
    }
    *t = base + INTERVAL_NS;
    Ok(())
}
