//! NAPT mapping lookup and creation (RFC 4787 endpoint-independent mapping,
//! RFC 7422-style per-session port blocks). Only map work here; the packet
//! rewrite is `ipv4::translate`, so routed mode simply skips this module.
use aya_ebpf::{bindings::BPF_NOEXIST, helpers::bpf_ktime_get_ns};
use pppoe_bras_common::{
    maps::{NatKey, NatValue, SessionValue},
    nat::{candidate, NAT_PROBES},
    stats::Stat,
};

use crate::{
    maps::{NAT_IN, NAT_OUT},
    verdict::{drop, Verdict},
};

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
pub fn outbound(proto: u8, port: u16, sess: &SessionValue) -> Result<([u8; 4], u16), Verdict> {
    let key = NatKey {
        addr: sess.addr,
        port,
        proto,
        _pad: 0,
    };
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    if let Some(v) = NAT_OUT.get_ptr_mut(&key) {
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
        _pad: 0,
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
        if NAT_IN.insert(&in_key, &back, BPF_NOEXIST as u64).is_ok() {
            let out = NatValue {
                addr: sess.public_addr,
                port: public_port,
                _pad: 0,
                last_seen: now,
            };
            if NAT_OUT.insert(&key, &out, BPF_NOEXIST as u64).is_ok() {
                return Ok((sess.public_addr, public_port));
            }
            // Another CPU created this mapping meanwhile (or NAT_OUT is
            // full): give the claimed port back and use the winner's.
            let _ = NAT_IN.remove(&in_key);
            if let Some(v) = NAT_OUT.get_ptr(&key) {
                // Safety: live map value.
                return Ok(unsafe { ((*v).addr, (*v).port) });
            }
            return Err(drop(Stat::DropNoNatPort));
        }
        i += 1;
    }
    Err(drop(Stat::DropNoNatPort))
}

/// The subscriber (address, port) behind a public (proto, address, port), refreshing it.
#[inline(always)]
pub fn inbound(proto: u8, addr: [u8; 4], port: u16) -> Option<([u8; 4], u16)> {
    let key = NatKey {
        addr,
        port,
        proto,
        _pad: 0,
    };
    let v = NAT_IN.get_ptr_mut(&key)?;
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    refresh(v, now);
    // Safety: live map value.
    Some(unsafe { ((*v).addr, (*v).port) })
}
