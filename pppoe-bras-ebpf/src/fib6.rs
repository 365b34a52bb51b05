//! Next hop of an IPv6 destination with `bpf_fib_lookup` (AF_INET6), asked
//! for the uplink like the IPv4 lookups (see `fib`): needs
//! `net.ipv6.conf.<uplink>.forwarding=1`, which the daemon sets.
use aya_ebpf::{
    bindings::{
        bpf_fib_lookup as FibParams, BPF_FIB_LKUP_RET_FRAG_NEEDED, BPF_FIB_LKUP_RET_NO_NEIGH,
        BPF_FIB_LKUP_RET_SUCCESS,
    },
    helpers::bpf_fib_lookup,
    programs::XdpContext,
    EbpfContext,
};
use pppoe_bras_common::stats::Stat;

use crate::{
    fib::NextHop,
    verdict::{drop, Verdict},
};

const AF_INET6: u8 = 10;

/// Route `src → dst` as if it arrived on `ifindex`; a route out of
/// `access` is refused.
#[inline(always)]
pub fn lookup(
    ctx: &XdpContext,
    ifindex: u32,
    access: u32,
    src: &[u8; 16],
    dst: &[u8; 16],
    proto: u8,
    tot_len: u16,
) -> Result<NextHop, Verdict> {
    // Safety: all-zero is a valid bpf_fib_lookup.
    let mut p: FibParams = unsafe { core::mem::zeroed() };
    p.family = AF_INET6;
    p.l4_protocol = proto;
    p.ifindex = ifindex;
    p.__bindgen_anon_1.tot_len = tot_len;
    p.__bindgen_anon_3.ipv6_src = words(src);
    p.__bindgen_anon_4.ipv6_dst = words(dst);
    // Safety: ctx is the program's xdp_md; p is a stack struct of the size passed.
    let rc = unsafe {
        bpf_fib_lookup(
            ctx.as_ptr(),
            &mut p,
            core::mem::size_of::<FibParams>() as i32,
            0,
        )
    };
    if rc == BPF_FIB_LKUP_RET_SUCCESS as i64 {
        if p.ifindex == access {
            return Err(drop(Stat::DropFibFail));
        }
        return Ok(NextHop {
            ifindex: p.ifindex,
            smac: p.smac,
            dmac: p.dmac,
        });
    }
    if rc == BPF_FIB_LKUP_RET_NO_NEIGH as i64 {
        return Err(drop(Stat::DropNoNeigh));
    }
    if rc == BPF_FIB_LKUP_RET_FRAG_NEEDED as i64 {
        return Err(drop(Stat::DropTooBig6));
    }
    Err(drop(Stat::DropFibFail))
}

/// An IPv6 address as the four network-order words `bpf_fib_lookup` holds.
#[inline(always)]
fn words(a: &[u8; 16]) -> [u32; 4] {
    [
        u32::from_ne_bytes([a[0], a[1], a[2], a[3]]),
        u32::from_ne_bytes([a[4], a[5], a[6], a[7]]),
        u32::from_ne_bytes([a[8], a[9], a[10], a[11]]),
        u32::from_ne_bytes([a[12], a[13], a[14], a[15]]),
    ]
}
