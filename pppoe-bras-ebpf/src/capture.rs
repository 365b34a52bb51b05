//! `pppoe-bras capture`: copy the frames the programs handle to userspace,
//! as they were on the wire (see `pppoe_bras_common::capture`).
//!
//! Cost without a capture: the entry wrappers in `main.rs` read
//! `CAPTURE[0].flags` once (an array lookup the verifier inlines) and
//! branch on it, at entry and at exit. Everything else is in [`frame`], a
//! BPF subprogram (`#[inline(never)]`): the access path is large, and the
//! capture code is verified once per call site instead of being inlined
//! into both programs' bodies. It returns nothing (no `Result` through a
//! caller stack slot, see the README's verifier traps).
use aya_ebpf::{
    bindings::{xdp_md, BPF_F_CURRENT_CPU},
    helpers::{bpf_ktime_get_ns, bpf_perf_event_output, bpf_xdp_get_buff_len},
    programs::XdpContext,
};
use pppoe_bras_common::{
    capture::*,
    proto::{
        ETH_HLEN, ETH_P_8021AD_BE, ETH_P_8021Q_BE, ETH_P_IP_BE, ETH_P_PPP_DISC_BE,
        ETH_P_PPP_SES_BE, ICMP_ECHO_REPLY, ICMP_ECHO_REQUEST, IPPROTO_ICMP, IPPROTO_TCP,
        IPPROTO_UDP, PPP_IPV4_BE, VLAN_HLEN,
    },
    stats::Stat,
};

use crate::{
    hdr::{ptr_at, read},
    maps::{CAPTURE, CAPTURE_BUDGET, CAPTURE_EVENTS, CONFIG, STATS},
};

/// Largest frame length `bpf_perf_event_output` takes from the context
/// (`BPF_F_CTXLEN_MASK`: 20 bits).
const CTXLEN_MAX: u32 = 0xf_ffff;

/// The capture's flags; 0 when no capture runs.
#[inline(always)]
pub fn flags() -> u32 {
    match CAPTURE.get(0) {
        Some(c) => c.flags,
        None => 0,
    }
}

/// Copy the frame in `md` if the capture wants it. `prog`: `PROG_*`;
/// `stat`: the verdict's counter for a frame about to be sent (after the
/// program redirected it), [`STAT_NONE`] for a frame as received.
#[inline(never)]
pub fn frame(md: *mut xdp_md, prog: u32, stat: u32) {
    let ctx = XdpContext::new(md);
    let Some(c) = CAPTURE.get(0) else {
        return;
    };
    let c = *c;
    if c.flags & CAPTURE_F_ENABLED == 0 {
        return;
    }
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    if now > c.expires_ns {
        return;
    }
    let Some(l2) = l2(&ctx) else {
        return;
    };
    let sent = stat != STAT_NONE as u32;
    // Where a redirected frame goes follows from what it is: the access
    // segment carries PPPoE only, the uplink plain IPv4.
    let access = if sent {
        l2.proto == ETH_P_PPP_SES_BE || l2.proto == ETH_P_PPP_DISC_BE
    } else {
        prog != PROG_UPLINK as u32
    };
    let point = match (access, sent) {
        (true, false) => POINT_ACCESS_IN,
        (true, true) => POINT_ACCESS_OUT,
        (false, false) => POINT_UPLINK_IN,
        (false, true) => POINT_UPLINK_OUT,
    };
    let side = if access {
        CAPTURE_F_ACCESS
    } else {
        CAPTURE_F_UPLINK
    };
    // Upstream: received on the access NIC or sent on the uplink.
    let dir = if access != sent {
        CAPTURE_F_UP
    } else {
        CAPTURE_F_DOWN
    };
    if c.flags & side == 0 || c.flags & dir == 0 {
        return;
    }
    let matched = if access {
        access_matches(&ctx, &c, &l2)
    } else {
        uplink_matches(&ctx, &c, &l2, sent)
    };
    if !matched {
        return;
    }
    if !budget(&c, now) {
        count(Stat::CaptureOverBudget);
        return;
    }
    let ifindex = if !sent {
        ctx.ingress_ifindex() as u32
    } else {
        match CONFIG.get(0) {
            Some(cfg) if access => cfg.access_ifindex,
            Some(cfg) => cfg.uplink_ifindex,
            None => 0,
        }
    };
    // Safety: `md` is the program's context.
    let len = unsafe { bpf_xdp_get_buff_len(md) } as u32;
    let snap = if c.snaplen < CTXLEN_MAX {
        c.snaplen
    } else {
        CTXLEN_MAX
    };
    let cap_len = if len < snap { len } else { snap };
    let meta = CaptureMeta {
        ts_ns: now,
        ifindex,
        orig_len: len,
        cap_len,
        point,
        prog: prog as u8,
        stat: stat as u16,
    };
    let flags = (u64::from(cap_len) << 32) | u64::from(BPF_F_CURRENT_CPU);
    // Safety: `md` is the context (the helper copies `cap_len` frame bytes
    // after `meta`), the map pointer is the perf event array's definition,
    // `meta` lives on this stack for the call.
    let r = unsafe {
        bpf_perf_event_output(
            md.cast(),
            core::ptr::from_ref(&CAPTURE_EVENTS).cast_mut().cast(),
            flags,
            core::ptr::from_ref(&meta).cast_mut().cast(),
            core::mem::size_of::<CaptureMeta>() as u64,
        )
    };
    if r < 0 {
        count(Stat::CaptureLost);
    }
}

/// Layer 2 as the capture needs it.
struct L2 {
    /// EtherType after up to two tags (network order).
    proto: u16,
    /// Offset of what follows (14, 18 or 22).
    off: usize,
}

#[inline(always)]
fn l2(ctx: &XdpContext) -> Option<L2> {
    let mut proto = u16::from_ne_bytes(read::<2>(ctx, 12)?);
    let mut off = ETH_HLEN;
    if proto == ETH_P_8021Q_BE || proto == ETH_P_8021AD_BE {
        proto = u16::from_ne_bytes(read::<2>(ctx, off + 2)?);
        off += VLAN_HLEN;
        if proto == ETH_P_8021Q_BE {
            proto = u16::from_ne_bytes(read::<2>(ctx, off + 2)?);
            off += VLAN_HLEN;
        }
    }
    Some(L2 { proto, off })
}

/// Access side: the session id, or the subscriber's address inside PPPoE.
#[inline(always)]
fn access_matches(ctx: &XdpContext, c: &CaptureConfig, l2: &L2) -> bool {
    if c.flags & (CAPTURE_F_SESSION | CAPTURE_F_SUB_ADDR) == 0 {
        return true;
    }
    if l2.proto != ETH_P_PPP_SES_BE {
        return false;
    }
    let off = l2.off & 0x1f;
    // VER/TYPE, CODE, SESSION_ID, LENGTH, PPP protocol.
    let Some(h) = read::<8>(ctx, off) else {
        return false;
    };
    if c.flags & CAPTURE_F_SESSION != 0 {
        return u16::from_be_bytes([h[2], h[3]]) == c.session_id;
    }
    if u16::from_ne_bytes([h[6], h[7]]) != PPP_IPV4_BE {
        return false;
    }
    // IPv4 source and destination.
    let Some(a) = read::<8>(ctx, off + 8 + 12) else {
        return false;
    };
    let s = c.sub_addr;
    (a[0] == s[0] && a[1] == s[1] && a[2] == s[2] && a[3] == s[3])
        || (a[4] == s[0] && a[5] == s[1] && a[6] == s[2] && a[7] == s[3])
}

/// Uplink side: the address as source or destination; with a NAT port
/// block, the session's public address and port on the subscriber's end
/// (the source of what is sent, the destination of what is received).
#[inline(always)]
fn uplink_matches(ctx: &XdpContext, c: &CaptureConfig, l2: &L2, sent: bool) -> bool {
    if c.flags & CAPTURE_F_PUB_ADDR == 0 {
        return c.flags & (CAPTURE_F_SESSION | CAPTURE_F_SUB_ADDR) == 0;
    }
    if l2.proto != ETH_P_IP_BE {
        return false;
    }
    let off = l2.off & 0x1f;
    // ver/ihl, tos, total length, id, flags/fragment offset, ttl, protocol,
    // checksum, source, destination.
    let Some(h) = ptr_at::<[u8; 20]>(ctx, off) else {
        return false;
    };
    // Safety: bounds-checked above.
    let h = unsafe { *h };
    let p = c.pub_addr;
    let at = |a: usize| h[a] == p[0] && h[a + 1] == p[1] && h[a + 2] == p[2] && h[a + 3] == p[3];
    if c.flags & CAPTURE_F_PUB_PORTS == 0 {
        return at(12) || at(16);
    }
    if !at(if sent { 12 } else { 16 }) {
        return false;
    }
    // A later fragment carries no ports.
    if u16::from_be_bytes([h[6], h[7]]) & 0x1fff != 0 {
        return false;
    }
    let l4 = off + (((h[0] & 0x0f) as usize) * 4 & 0x3c);
    let Some(w) = read::<8>(ctx, l4) else {
        return false;
    };
    let port = match h[9] {
        IPPROTO_TCP | IPPROTO_UDP if sent => u16::from_be_bytes([w[0], w[1]]),
        IPPROTO_TCP | IPPROTO_UDP => u16::from_be_bytes([w[2], w[3]]),
        IPPROTO_ICMP if w[0] == ICMP_ECHO_REQUEST || w[0] == ICMP_ECHO_REPLY => {
            u16::from_be_bytes([w[4], w[5]])
        }
        _ => return false,
    };
    port >= c.port_lo && port <= c.port_hi
}

/// One more frame within this CPU's budget (GCRA, like `icmp_limit`)?
#[inline(always)]
fn budget(c: &CaptureConfig, now: u64) -> bool {
    if c.interval_ns == 0 {
        return true;
    }
    let Some(tat) = CAPTURE_BUDGET.get_ptr_mut(0) else {
        return false;
    };
    // Safety: per-CPU slot, no other writer on this CPU during the run.
    let t = unsafe { &mut *tat };
    let base = if *t > now { *t } else { now };
    if base - now > c.burst_ns {
        return false;
    }
    *t = base + u64::from(c.interval_ns);
    true
}

#[inline(always)]
fn count(s: Stat) {
    if let Some(p) = STATS.get_ptr_mut(s as u32) {
        // Safety: per-CPU slot of this run.
        unsafe { *p += 1 };
    }
}
