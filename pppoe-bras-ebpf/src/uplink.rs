//! `bras_uplink`: IPv4 to a NAT public address (or to a routed subscriber)
//! → de-NAT → PPPoE encapsulation → access NIC. ICMP errors about NAT flows
//! are translated inside too (RFC 5508); packets that cannot reach the
//! subscriber get an ICMP error back out of the uplink (Time Exceeded,
//! Fragmentation Needed for PMTUD). Everything it does not own passes to the
//! host untouched (the host's own SSH, ARP, fragments, …).
use aya_ebpf::{bindings::xdp_action, helpers::bpf_redirect, programs::XdpContext};
use pppoe_bras_common::{
    maps::{Config, Subscriber, CONFIG_F_MSS_CLAMP, CONFIG_F_ROUTED, FRAG_DIR_DOWN, SESSION_F_NAT},
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters, encap, frag,
    hdr::{ptr_at, put, read},
    icmp::{self, Reply},
    ipv4::{self, Dir, Ip, L4},
    maps::{SUBSCRIBERS, SUB_BY_SLOT},
    nat, tcp,
    verdict::{self, drop, pass, Verdict},
};

/// How a downstream packet is translated.
enum Down {
    /// Routed session: nothing.
    Routed,
    /// Later fragment: destination address only.
    Addr([u8; 4]),
    /// Destination address and port/identifier.
    Nat(L4, [u8; 4], u16),
}

/// The uplink path. Inlined: as a BPF subprogram returning this `Result`
/// through a caller stack slot, LLVM may leave that stack pointer in r0 at
/// exit, which the verifier rejects ("cannot return stack pointer").
#[inline(always)]
pub fn run(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let cfg = config().ok_or(pass(Stat::PassDisabled))?;
    let eth: *mut [u8; ETH_HLEN] = ptr_at(ctx, 0).ok_or(pass(Stat::UplinkPassOther))?;
    // Safety: bounds-checked above.
    if unsafe { u16::from_ne_bytes([(*eth)[12], (*eth)[13]]) } != ETH_P_IP_BE {
        return Ok(pass(Stat::UplinkPassOther));
    }
    let ip = ipv4::parse(ctx, ETH_HLEN, u16::MAX).ok_or(pass(Stat::UplinkPassOther))?;

    // Routed session (no NAT): the destination is the subscriber itself; any
    // protocol, fragments included. With NAT on there are none: no lookup.
    if cfg.flags & CONFIG_F_ROUTED != 0 {
        if let Some(sub) = routed(&ip.dst) {
            return forward(ctx, &cfg, &ip, &sub, Down::Routed);
        }
    }
    if icmp::is_error(ctx, &ip) {
        return icmp_error(ctx, &ip);
    }
    if ip.later_fragment {
        let addr = frag::recall(&ip, FRAG_DIR_DOWN).ok_or(pass(Stat::UplinkPassFragment))?;
        let sub = subscriber(&addr)?;
        return forward(ctx, &cfg, &ip, &sub, Down::Addr(addr));
    }
    let l4 = ipv4::l4(ctx, &ip, Dir::In).ok_or(pass(Stat::UplinkPassOther))?;
    let flags = ipv4::tcp_flags(ctx, &ip);
    let (sub_addr, sub_port, slot) =
        nat::inbound(ip.proto, ip.dst, l4.port, flags).ok_or(pass(Stat::UplinkPassNoMapping))?;
    let sub = subscriber_at(slot, &sub_addr)?;
    if ip.fragment {
        frag::remember(&ip, FRAG_DIR_DOWN, sub_addr);
    }
    forward(ctx, &cfg, &ip, &sub, Down::Nat(l4, sub_addr, sub_port))
}

/// The subscriber of a NAT mapping: `SUB_BY_SLOT[slot]` (an array index)
/// when it still holds that address, else the `SUBSCRIBERS` row.
#[inline(always)]
fn subscriber_at(slot: u32, addr: &[u8; 4]) -> Result<Subscriber, Verdict> {
    if let Some(s) = SUB_BY_SLOT.get_ptr(slot) {
        // Safety: live map value, copied.
        let s = unsafe { *s };
        if s.addr == *addr && s.ifindex != 0 {
            return Ok(s);
        }
    }
    subscriber(addr)
}

/// The subscriber row of a NAT mapping's inside address.
#[inline(always)]
fn subscriber(addr: &[u8; 4]) -> Result<Subscriber, Verdict> {
    let sub = SUBSCRIBERS
        .get_ptr(addr)
        .ok_or(drop(Stat::DropNoSubscriber))?;
    // Safety: live map value, copied.
    Ok(unsafe { *sub })
}

/// The subscriber row of `dst` when it is a routed (non-NAT) session.
#[inline(always)]
fn routed(dst: &[u8; 4]) -> Option<Subscriber> {
    let sub = SUBSCRIBERS.get_ptr(dst)?;
    // Safety: live map value, copied.
    let sub = unsafe { *sub };
    (sub.flags & SESSION_F_NAT == 0).then_some(sub)
}

/// TTL and MTU checks (answered with ICMP errors), then rewrite,
/// encapsulate and redirect to the subscriber.
#[inline(always)]
fn forward(
    ctx: &XdpContext,
    cfg: &Config,
    ip: &Ip,
    sub: &Subscriber,
    how: Down,
) -> Result<Verdict, Verdict> {
    if ip.ttl <= 1 {
        return reply(
            ctx,
            cfg,
            ip,
            ICMP_TIME_EXCEEDED,
            0,
            [0; 4],
            Stat::UplinkTxTimeExceeded,
            Stat::DropTtlExpired,
        );
    }
    if ip.tot_len > sub.mtu {
        if ip.df && !ip.fragment {
            let m = sub.mtu.to_be_bytes();
            return reply(
                ctx,
                cfg,
                ip,
                ICMP_DEST_UNREACH,
                ICMP_FRAG_NEEDED,
                [0, 0, m[0], m[1]],
                Stat::UplinkTxFragNeeded,
                Stat::DropTooBigNoDf,
            );
        }
        return Err(drop(Stat::DropTooBigNoDf));
    }
    let flags = ipv4::tcp_flags(ctx, ip);

    // ---- rewrite: failures DROP ----
    ipv4::dec_ttl(ctx, ip).ok_or(drop(Stat::Aborted))?;
    match &how {
        Down::Routed => {}
        Down::Addr(a) => ipv4::translate_addr(ctx, ip, Dir::In, *a).ok_or(drop(Stat::Aborted))?,
        Down::Nat(l4, a, p) => {
            ipv4::translate(ctx, ip, l4, Dir::In, *a, *p).ok_or(drop(Stat::Aborted))?
        }
    }
    if cfg.flags & CONFIG_F_MSS_CLAMP != 0 && flags & TCP_SYN != 0 {
        let mss = sub.mtu.saturating_sub(TCP_IP_HLEN);
        tcp::clamp_mss(ctx, ip, flags, mss).ok_or(drop(Stat::Aborted))?;
    }
    redirect(ctx, ip, sub, Stat::DownForwarded)
}

/// Encapsulate towards `sub`, count, redirect to the access NIC.
#[inline(always)]
fn redirect(ctx: &XdpContext, ip: &Ip, sub: &Subscriber, stat: Stat) -> Result<Verdict, Verdict> {
    encap::encap(ctx, sub, ip.tot_len)?;
    counters::down(sub.slot, ip.tot_len);
    // Safety: helper without preconditions.
    let action = unsafe { bpf_redirect(sub.ifindex, 0) } as u32;
    if action != xdp_action::XDP_REDIRECT {
        return Err(drop(Stat::Aborted));
    }
    Ok(Verdict { action, stat })
}

/// An ICMP error about a NAT flow (RFC 5508): the quoted datagram is one
/// the subscriber sent; translate outer destination and quoted source back.
/// No ICMP error is ever sent about it (RFC 1122 §3.2.2): TTL and MTU
/// failures are plain drops.
#[inline(always)]
fn icmp_error(ctx: &XdpContext, ip: &Ip) -> Result<Verdict, Verdict> {
    let q = icmp::quoted(ctx, ip, Dir::In).ok_or(pass(Stat::UplinkPassOther))?;
    let (sub_addr, sub_port) =
        nat::peek_in(q.proto, q.addr, q.port).ok_or(pass(Stat::UplinkPassNoMapping))?;
    let sub = subscriber(&sub_addr)?;
    if ip.ttl <= 1 {
        return Err(drop(Stat::DropTtlExpired));
    }
    if ip.tot_len > sub.mtu {
        return Err(drop(Stat::DropTooBigNoDf));
    }
    // ---- rewrite: failures DROP ----
    ipv4::dec_ttl(ctx, ip).ok_or(drop(Stat::Aborted))?;
    icmp::translate_error(ctx, ip, &q, Dir::In, sub_addr, sub_port).ok_or(drop(Stat::Aborted))?;
    redirect(ctx, ip, &sub, Stat::DownIcmpError)
}

/// Answer `ip` with an ICMP error back out of the uplink (redirected to the
/// ingress NIC, see `verdict::redirect`), from the
/// uplink's address, to the packet's source; MACs swapped. `cant`: the drop
/// counted when no error may be sent about `ip`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn reply(
    ctx: &XdpContext,
    cfg: &Config,
    ip: &Ip,
    ty: u8,
    code: u8,
    rest: [u8; 4],
    sent: Stat,
    cant: Stat,
) -> Result<Verdict, Verdict> {
    let sum = icmp::quote_sum(ctx, ip).ok_or(drop(cant))?;
    let macs = read::<12>(ctx, 0).ok_or(drop(cant))?;
    crate::icmp_limit::take()?;
    let src = if cfg.public_addr != [0; 4] {
        cfg.public_addr
    } else {
        ip.dst
    };
    let r = Reply {
        ty,
        code,
        rest,
        src,
        dst: ip.src,
    };
    // ---- rewrite: failures DROP ----
    icmp::reply(ctx, ETH_HLEN, ip, sum, &r)?;
    let base = ptr_at::<[u8; ETH_HLEN]>(ctx, 0).ok_or(drop(Stat::Aborted))? as *mut u8;
    // Safety: ETH_HLEN bytes checked above.
    unsafe {
        put(
            base,
            0,
            &[macs[6], macs[7], macs[8], macs[9], macs[10], macs[11]],
        );
        put(
            base,
            6,
            &[macs[0], macs[1], macs[2], macs[3], macs[4], macs[5]],
        );
        put(base, 12, &ETH_P_IP.to_be_bytes());
    }
    verdict::redirect(ctx.ingress_ifindex() as u32, sent)
}
