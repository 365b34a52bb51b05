//! IPv4 fragments through the NAT. Only the first fragment carries the L4
//! header with the ports; it is translated like any packet and its result
//! (the new address) is remembered in the `FRAGS` LRU map under (source,
//! destination, protocol, identification) as received — the fields that
//! name a datagram (RFC 791). Later fragments of the same datagram get the
//! same address rewrite (the L4 checksum lives in the first fragment and was
//! already patched for the whole datagram). A later fragment that arrives
//! before its first one, or more than 30 s after it, cannot be translated
//! (no reassembly or buffering in XDP): upstream it is dropped and counted
//! (`drop_fragment`), downstream it passes to the host (it may be the host's
//! own, `uplink_pass_fragment`).
use aya_ebpf::helpers::bpf_ktime_get_ns;
use pppoe_bras_common::maps::{FragKey, FragValue, FRAG_TTL_NS};

use crate::{ipv4::Ip, maps::FRAGS};

#[inline(always)]
fn key(ip: &Ip, dir: u8) -> FragKey {
    FragKey {
        src: ip.src,
        dst: ip.dst,
        id: ip.id,
        proto: ip.proto,
        dir,
    }
}

/// Remember that the datagram of the first fragment `ip` is translated to `addr`.
#[inline(always)]
pub fn remember(ip: &Ip, dir: u8, addr: [u8; 4]) {
    let v = FragValue {
        addr,
        _pad: 0,
        // Safety: helper without preconditions.
        when: unsafe { bpf_ktime_get_ns() },
    };
    let _ = FRAGS.insert(key(ip, dir), v, 0);
}

/// The address the first fragment of `ip`'s datagram was translated to.
#[inline(always)]
pub fn recall(ip: &Ip, dir: u8) -> Option<[u8; 4]> {
    let v = FRAGS.get_ptr(key(ip, dir))?;
    // Safety: live map value, copied.
    let v = unsafe { *v };
    // Safety: helper without preconditions.
    let now = unsafe { bpf_ktime_get_ns() };
    (now.wrapping_sub(v.when) < FRAG_TTL_NS).then_some(v.addr)
}
