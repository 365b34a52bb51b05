//! NAPT mapping lookup and creation (RFC 4787 endpoint-independent mapping,
//! RFC 7422-style per-session port blocks). Only map work here; the packet
//! rewrite is `ipv4::translate`, so routed mode simply skips this module.
use core::ffi::c_void;
#[cfg(target_arch = "bpf")]
use core::intrinsics::{atomic_xadd, AtomicOrdering};

use aya_ebpf::{
    bindings::BPF_NOEXIST,
    helpers::{bpf_ktime_get_coarse_ns, bpf_loop},
};
use pppoe_bras_common::{
    maps::{
        NatKey, NatSlot, NatValue, SessionValue, NAT_ST_FIN, NAT_ST_IN, NAT_ST_OUT, NAT_ST_RST,
    },
    nat::{candidate, live, proto_index},
    proto::{IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
    stats::Stat,
};

use crate::{
    maps::{CONFIG, NAT_FREED, NAT_IN, NAT_OUT, NAT_SLOTS},
    verdict::{drop, Verdict},
};

/// The clock of `last_seen`: CLOCK_MONOTONIC at tick resolution, which is
/// plenty for idle timeouts of minutes and cheaper than `bpf_ktime_get_ns`.
#[inline(always)]
pub fn now() -> u64 {
    // Safety: helper without preconditions.
    unsafe { bpf_ktime_get_coarse_ns() }
}

/// Refresh `last_seen` at most this often (ns): spares a cache-line write per packet.
const REFRESH_NS: u64 = 1_000_000_000;

#[inline(always)]
fn refresh(v: *mut NatValue, now: u64) {
    // Safety: `v` is a live hash-map value pointer from a lookup in this run.
    unsafe {
        if now.wrapping_sub((*v).last_seen) > REFRESH_NS {
            (*v).last_seen = now;
        }
    }
}

/// The public (address, port) of the subscriber's (proto, port), creating
/// the mapping on first use (see `pppoe_bras_common::nat`): reserve one
/// mapping in the session's `NAT_SLOTS` count (refused when the block or
/// the session cap is full), claim a free public port of the block in
/// `NAT_IN` with `BPF_NOEXIST` (the parity-keeping candidate, then the
/// cursor), then publish `NAT_OUT`.
#[inline(always)]
pub fn outbound(
    proto: u8,
    port: u16,
    sess: &SessionValue,
    now: u64,
) -> Result<([u8; 4], u16), Verdict> {
    let key = NatKey {
        addr: sess.addr,
        port,
        proto,
        _pad: 0,
    };
    if let Some(v) = NAT_OUT.get_ptr_mut(key) {
        refresh(v, now);
        // Safety: live map value.
        return Ok(unsafe { ((*v).addr, (*v).port) });
    }
    if sess.port_count == 0 {
        return Err(drop(Stat::DropNoNatPort));
    }
    let pi = proto_index(proto);
    reserve(sess, pi)?;
    let back = NatValue {
        addr: sess.addr,
        port,
        state: if proto == IPPROTO_TCP { NAT_ST_OUT } else { 0 },
        _pad: 0,
        slot: sess.slot,
        _pad2: 0,
        last_seen: now,
    };
    let first = candidate(port, sess.port_start, sess.port_count, 0);
    let first_key = NatKey {
        addr: sess.public_addr,
        port: first,
        proto,
        _pad: 0,
    };
    let public_port = if NAT_IN.insert(first_key, back, BPF_NOEXIST as u64).is_ok() {
        first
    } else {
        let mut walk = Walk {
            back,
            public_addr: sess.public_addr,
            slot: sess.slot,
            start: sess.port_start,
            count: sess.port_count,
            proto,
            pi: pi as u8,
            found: 0,
            ok: 0,
            _pad: 0,
        };
        // Safety: `walk_step` has the callback signature bpf_loop wants and
        // only touches `walk` (on this stack) through the pointer.
        unsafe {
            bpf_loop(
                sess.port_count as u32,
                walk_step as *mut c_void,
                &mut walk as *mut Walk as *mut c_void,
                0,
            );
        }
        if walk.ok == 0 {
            unreserve(sess.slot, pi);
            return Err(drop(Stat::DropNoNatPort));
        }
        walk.found
    };
    let out = NatValue {
        addr: sess.public_addr,
        port: public_port,
        state: 0,
        _pad: 0,
        slot: sess.slot,
        _pad2: 0,
        last_seen: now,
    };
    if NAT_OUT.insert(key, out, BPF_NOEXIST as u64).is_ok() {
        return Ok((sess.public_addr, public_port));
    }
    // Another CPU created this mapping meanwhile (or NAT_OUT is full): give
    // the claimed port and the reservation back and use the winner's.
    let _ = NAT_IN.remove(NatKey {
        addr: sess.public_addr,
        port: public_port,
        proto,
        _pad: 0,
    });
    unreserve(sess.slot, pi);
    if let Some(v) = NAT_OUT.get_ptr(key) {
        // Safety: live map value.
        return Ok(unsafe { ((*v).addr, (*v).port) });
    }
    Err(drop(Stat::DropNoNatPort))
}

/// The state of the cursor walk over a session's block (`bpf_loop` context).
#[repr(C)]
struct Walk {
    back: NatValue,
    public_addr: [u8; 4],
    slot: u32,
    start: u16,
    count: u16,
    proto: u8,
    pi: u8,
    found: u16,
    ok: u8,
    _pad: u8,
}

/// The cursor of protocol `pi` (0..3) in a `NAT_SLOTS` value.
#[inline(always)]
fn next_of(s: *mut NatSlot, pi: usize) -> *mut u64 {
    // Safety: `s` is a live array value; constant indices only.
    unsafe {
        match pi {
            0 => &mut (*s).next[0],
            1 => &mut (*s).next[1],
            _ => &mut (*s).next[2],
        }
    }
}

/// The created count of protocol `pi` (0..3) in a `NAT_SLOTS` value.
#[inline(always)]
fn created_of(s: *mut NatSlot, pi: usize) -> *mut u64 {
    // Safety: as `next_of`.
    unsafe {
        match pi {
            0 => &mut (*s).created[0],
            1 => &mut (*s).created[1],
            _ => &mut (*s).created[2],
        }
    }
}

#[inline(always)]
fn atomic_add(p: *mut u64, v: u64) {
    // `AtomicU64::fetch_add` is not offered on the BPF target (no CAS), and
    // the object is built for BPF v1 (`--cpu generic`), which has no
    // fetching atomics: the intrinsic with its result unused lowers to the
    // plain `lock xadd`, and callers read the value afterwards.
    // Safety: `p` points into a live map value, 8-byte aligned.
    #[cfg(target_arch = "bpf")]
    let _ = unsafe { atomic_xadd::<u64, u64, { AtomicOrdering::Relaxed }>(p, v) };
    // Host builds (clippy) only.
    #[cfg(not(target_arch = "bpf"))]
    // Safety: as above.
    unsafe { core::sync::atomic::AtomicU64::from_ptr(p) }
        .fetch_add(v, core::sync::atomic::Ordering::Relaxed);
}

#[inline(always)]
fn read(p: *const u64) -> u64 {
    // Safety: `p` points into a live map value; volatile so the read is
    // not merged with the add before it.
    unsafe { core::ptr::read_volatile(p) }
}

/// One probe of the cursor walk: take the cursor's port (advancing it for
/// every CPU) and try to claim it. 1 stops the loop.
extern "C" fn walk_step(_index: u64, ctx: *mut c_void) -> i64 {
    // Safety: `ctx` is the caller's `Walk`, alive for the whole bpf_loop.
    let w = unsafe { &mut *(ctx as *mut Walk) };
    // Locals, checked once: the volatile cursor access below would make
    // the compiler load `w.count` again, and a modulo by a value it cannot
    // prove non-zero brings in a panic path (an endless loop the verifier
    // rejects).
    let (count, start, slot, pi) = (w.count, w.start, w.slot, w.pi as usize);
    if count == 0 {
        return 1;
    }
    let Some(s) = NAT_SLOTS.get_ptr_mut(slot) else {
        return 1;
    };
    // The cursor is a hint: CPUs racing on it may probe the same port
    // (`BPF_NOEXIST` lets one win), so a plain read and write will do.
    let next = next_of(s, pi);
    let c = read(next);
    // Safety: live array value.
    unsafe { *next = c.wrapping_add(1) };
    let p = (start as u64 + c % count as u64) as u16;
    let k = NatKey {
        addr: w.public_addr,
        port: p,
        proto: w.proto,
        _pad: 0,
    };
    if NAT_IN.insert(k, w.back, BPF_NOEXIST as u64).is_ok() {
        w.found = p;
        w.ok = 1;
        return 1;
    }
    0
}

/// Reserve one mapping of protocol `pi` for the session, in its
/// `NAT_SLOTS` counts: refused (and given back) when the protocol's block
/// already holds `port_count` live mappings (`drop_no_nat_port`: one array
/// read instead of probing a full block) or the session holds
/// `Config::nat_session_cap` live mappings of all protocols
/// (`drop_nat_session_limit`, RFC 6888 REQ-4: drop, never evict). Counts
/// are raised first (atomically) and read and checked after, so CPUs racing
/// for the last place may both be refused but never both get it.
#[inline(always)]
fn reserve(sess: &SessionValue, pi: usize) -> Result<(), Verdict> {
    let s = NAT_SLOTS
        .get_ptr_mut(sess.slot)
        .ok_or(drop(Stat::DropNoNatPort))?;
    let freed = NAT_FREED.get(sess.slot).map_or([0; 3], |f| f.freed);
    let mine = match pi {
        0 => freed[0],
        1 => freed[1],
        _ => freed[2],
    };
    let created = created_of(s, pi);
    // Safety: live array value.
    let total = unsafe { &mut (*s).total as *mut u64 };
    atomic_add(created, 1);
    atomic_add(total, 1);
    // Both counts include this reservation (and maybe racing ones).
    if live(read(created), mine) > sess.port_count as u64 {
        unreserve(sess.slot, pi);
        return Err(drop(Stat::DropNoNatPort));
    }
    let cap = CONFIG.get(0).map_or(0, |c| c.nat_session_cap);
    let all = freed[0].wrapping_add(freed[1]).wrapping_add(freed[2]);
    if cap != 0 && live(read(total), all) > cap as u64 {
        unreserve(sess.slot, pi);
        return Err(drop(Stat::DropNatSessionLimit));
    }
    Ok(())
}

/// Give a reservation of [`reserve`] back.
#[inline(always)]
fn unreserve(slot: u32, pi: usize) {
    if let Some(s) = NAT_SLOTS.get_ptr_mut(slot) {
        atomic_add(created_of(s, pi), u64::MAX);
        // Safety: live array value.
        atomic_add(unsafe { &mut (*s).total }, u64::MAX);
    }
}

/// The subscriber (address, port, session slot) behind a public (proto,
/// address, port), refreshing it; `tcp_flags` (0 for other protocols)
/// advance the TCP state.
#[inline(always)]
pub fn inbound(proto: u8, addr: [u8; 4], port: u16, tcp_flags: u8) -> Option<([u8; 4], u16, u32)> {
    let key = NatKey {
        addr,
        port,
        proto,
        _pad: 0,
    };
    let v = NAT_IN.get_ptr_mut(key)?;
    let now = now();
    refresh(v, now);
    if proto == IPPROTO_TCP {
        let mut bits = NAT_ST_IN;
        if tcp_flags & TCP_FIN != 0 {
            bits |= NAT_ST_FIN;
        }
        if tcp_flags & TCP_RST != 0 {
            bits = NAT_ST_RST;
        }
        set_state(v, bits, false);
    }
    // Safety: live map value.
    Some(unsafe { ((*v).addr, (*v).port, (*v).slot) })
}

/// OR `bits` into a mapping's TCP state (`reset`: replace it), writing only
/// when it changes (no cache-line write per packet).
#[inline(always)]
fn set_state(v: *mut NatValue, bits: u8, reset: bool) {
    // Safety: `v` is a live hash-map value pointer from a lookup in this run.
    unsafe {
        let old = (*v).state;
        let new = if reset { bits } else { old | bits };
        if new != old {
            (*v).state = new;
        }
    }
}

/// Upstream TCP segment with SYN, FIN or RST on the mapping whose public
/// side is (`addr`, `port`): a fresh SYN (no ACK) starts the state over
/// (a new connection reusing the endpoint-independent mapping); FIN and RST
/// mark it closing. The state lives in the `NAT_IN` row, so plain segments
/// cost no second lookup.
#[inline(always)]
pub fn tcp_out(addr: [u8; 4], port: u16, tcp_flags: u8) {
    if tcp_flags & (TCP_SYN | TCP_FIN | TCP_RST) == 0 {
        return;
    }
    let key = NatKey {
        addr,
        port,
        proto: IPPROTO_TCP,
        _pad: 0,
    };
    let Some(v) = NAT_IN.get_ptr_mut(key) else {
        return;
    };
    if tcp_flags & TCP_RST != 0 {
        set_state(v, NAT_ST_RST, false);
    } else if tcp_flags & TCP_FIN != 0 {
        set_state(v, NAT_ST_FIN, false);
    } else if tcp_flags & TCP_ACK == 0 {
        set_state(v, NAT_ST_OUT, true);
    }
}

/// The subscriber side of a public (proto, address, port), without
/// refreshing it: an ICMP error is not traffic of the flow and must not
/// keep it alive (nor end it, RFC 4787 REQ-12).
#[inline(always)]
pub fn peek_in(proto: u8, addr: [u8; 4], port: u16) -> Option<([u8; 4], u16)> {
    peek(&NAT_IN, proto, addr, port)
}

/// The public side of a subscriber (proto, address, port), without refreshing it.
#[inline(always)]
pub fn peek_out(proto: u8, addr: [u8; 4], port: u16) -> Option<([u8; 4], u16)> {
    peek(&NAT_OUT, proto, addr, port)
}

#[inline(always)]
fn peek(
    map: &aya_ebpf::btf_maps::HashMap<
        NatKey,
        NatValue,
        { pppoe_bras_common::maps::MAX_NAT as usize },
    >,
    proto: u8,
    addr: [u8; 4],
    port: u16,
) -> Option<([u8; 4], u16)> {
    let key = NatKey {
        addr,
        port,
        proto,
        _pad: 0,
    };
    let v = map.get_ptr(key)?;
    // Safety: live map value.
    Some(unsafe { ((*v).addr, (*v).port) })
}
