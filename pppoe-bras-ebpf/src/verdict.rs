//! The one exit of both programs: an XDP action plus the `Stat` it is counted under.
use aya_ebpf::bindings::xdp_action;
use pppoe_bras_common::stats::Stat;

use crate::maps::STATS;

/// What the program does with the frame, and why.
#[derive(Clone, Copy)]
pub struct Verdict {
    pub action: u32,
    pub stat: Stat,
}

/// `XDP_PASS`, counted under `stat`.
#[inline(always)]
pub fn pass(stat: Stat) -> Verdict {
    Verdict {
        action: xdp_action::XDP_PASS,
        stat,
    }
}

/// `XDP_DROP`, counted under `stat`.
#[inline(always)]
pub fn drop(stat: Stat) -> Verdict {
    Verdict {
        action: xdp_action::XDP_DROP,
        stat,
    }
}

/// Bump the verdict's counter and return its action.
#[inline(always)]
pub fn finish(v: Verdict) -> u32 {
    if let Some(c) = STATS.get_ptr_mut(v.stat as u32) {
        // Safety: per-CPU slot, valid for the program's run; no other writer on this CPU.
        unsafe { *c += 1 };
    }
    v.action
}
