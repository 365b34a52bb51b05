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

/// Send the (rewritten) frame to `ifindex` with `bpf_redirect`, counted
/// under `stat`; a failed redirect drops (the frame is already rewritten).
///
/// Frames that go back out of the interface they came in on (ICMP errors
/// the BRAS sends, hairpinned packets) use this too, with the ingress
/// ifindex, rather than `XDP_TX`: on veth, native `XDP_TX` frames are only
/// delivered when the peer runs an XDP program itself (the kernel's
/// `veth_xdp_flush` wakes the peer only then; GRO on the peer is not
/// enough), so they would sit in the peer's ring until the next redirected
/// frame. `bpf_redirect` flushes via `ndo_xdp_xmit` and works with GRO.
/// On hardware NICs the cost difference is small.
#[inline(always)]
pub fn redirect(ifindex: u32, stat: Stat) -> Result<Verdict, Verdict> {
    // Safety: helper without preconditions.
    let action = unsafe { aya_ebpf::helpers::bpf_redirect(ifindex, 0) } as u32;
    if action != xdp_action::XDP_REDIRECT {
        return Err(drop(Stat::Aborted));
    }
    Ok(Verdict { action, stat })
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
