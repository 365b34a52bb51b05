//! NAPT mapping lookup and creation (RFC 4787 endpoint-independent mapping,
//! RFC 7422-style per-session port blocks). Only map work here; the packet
//! rewrite is `ipv4::translate`, so routed mode simply skips this module.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_coarse_ns};
use pppoe_bras_common::{
    maps::{NatKey, NatValue, SessionValue, NAT_ST_FIN, NAT_ST_IN, NAT_ST_OUT, NAT_ST_RST},
    nat::{candidate, NAT_PROBES},
    proto::{IPPROTO_TCP, TCP_ACK, TCP_FIN, TCP_RST, TCP_SYN},
    stats::Stat,
};

use crate::{
    maps::{NAT_IN, NAT_OUT},
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
/// the mapping on first use: claim a free public port of the session's block
/// in `NAT_IN` with `BPF_NOEXIST` (probing a bounded number of candidates),
/// then publish `NAT_OUT`.
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
    let back = NatValue {
        addr: sess.addr,
        port,
        state: if proto == IPPROTO_TCP { NAT_ST_OUT } else { 0 },
        _pad: 0,
        slot: sess.slot,
        _pad2: 0,
        last_seen: now,
    };
    let mut i = 0;
    while i < NAT_PROBES {
        let public_port = candidate(port, sess.port_start, sess.port_count, i);
        let in_key = NatKey {
            addr: sess.public_addr,
            port: public_port,
            proto,
            _pad: 0,
        };
        if NAT_IN.insert(in_key, back, BPF_NOEXIST as u64).is_ok() {
            let out = NatValue {
                addr: sess.public_addr,
                port: public_port,
                state: 0,
                _pad: 0,
                slot: 0,
                _pad2: 0,
                last_seen: now,
            };
            if NAT_OUT.insert(key, out, BPF_NOEXIST as u64).is_ok() {
                return Ok((sess.public_addr, public_port));
            }
            // Another CPU created this mapping meanwhile (or NAT_OUT is
            // full): give the claimed port back and use the winner's.
            let _ = NAT_IN.remove(in_key);
            if let Some(v) = NAT_OUT.get_ptr(key) {
                // Safety: live map value.
                return Ok(unsafe { ((*v).addr, (*v).port) });
            }
            return Err(drop(Stat::DropNoNatPort));
        }
        i += 1;
    }
    Err(drop(Stat::DropNoNatPort))
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
