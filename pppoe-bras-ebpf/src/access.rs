//! `bras_access`: PPPoE session IPv4 from subscribers → NAT → uplink.
//!
//! parse L2 (+ up to two VLAN tags) → anything but PPPoE dropped (the
//! access segment is sealed; `access_allow` kinds pass) → PPPoE/PPP →
//! session lookup → IPv4 checks → anti-spoof → MRU → to `local_address`:
//! answered here (`gateway`) → TTL (expiry answered with ICMP Time
//! Exceeded through the session) → to another subscriber's inside address:
//! PPPoE to PPPoE (or `drop_isolated`), to a free inside address: dropped →
//! NAT decision (map work only: a flow, an
//! ICMP error about an inbound flow, or a later fragment) → FIB lookup (a
//! local destination is a hairpin candidate) → and only then the rewrite:
//! TTL, NAT, MSS clamp, strip the encapsulation, fresh Ethernet → redirect.
//! Every check that can fail runs before the first write, and any failure
//! after it drops (never passes a half-rewritten frame).
use aya_ebpf::btf_maps::lpm_trie::Key;
use aya_ebpf::{
    bindings::xdp_action,
    helpers::{bpf_redirect, bpf_xdp_adjust_head},
    programs::XdpContext,
};
use pppoe_bras_common::{
    maps::{
        access_allow, Config, SessionKey, SessionValue, Subscriber, CONFIG_F_ISOLATE,
        CONFIG_F_MSS_CLAMP, FRAG_DIR_UP, SESSION_F_NAT,
    },
    proto::*,
    stats::Stat,
};

use crate::{
    config, counters, encap,
    fib::{self, Route},
    frag,
    gateway::{self, Back},
    hdr::{be16, ptr_at, EthHdr, PppoeHdr, VlanHdr},
    icmp::{self, Quoted},
    ipv4::{self, Dir, Ip, L4},
    maps::{INSIDE_NETS, SESSIONS, SESSION_BY_ID, SUBSCRIBERS},
    nat, spread, tcp,
    verdict::{self, drop, pass, Verdict},
};

/// How an upstream packet is translated.
enum Up {
    /// Routed session: nothing.
    Routed,
    /// Later fragment: source address only.
    Addr([u8; 4]),
    /// Source address and port/identifier.
    Nat(L4, [u8; 4], u16),
    /// ICMP error about an inbound flow: outer source, quoted destination.
    Error(Quoted, [u8; 4], u16),
}

/// Layer 2 of a frame on the access NIC.
pub(crate) struct L2 {
    pub src: [u8; 6],
    pub dst: [u8; 6],
    /// TPID of the outer tag as received, 0 when untagged.
    pub outer_tpid: u16,
    pub outer_vid: u16,
    pub inner_vid: u16,
    /// EtherType after the tags, raw (network order).
    pub proto: u16,
    /// Offset of the payload after the tags (14, 18 or 22).
    pub off: usize,
}

/// Ethernet plus up to two tags: 0x8100, or 0x88a8/0x8100 outer with 0x8100 inner.
#[inline(always)]
pub(crate) fn parse_l2(ctx: &XdpContext) -> Option<L2> {
    let eth: *mut EthHdr = ptr_at(ctx, 0)?;
    // Safety: bounds-checked above.
    let (src, dst, proto) = unsafe { ((*eth).src, (*eth).dst, u16::from_ne_bytes((*eth).proto)) };
    let outer_tpid = u16::from_be(proto);
    if proto != ETH_P_8021Q_BE && proto != ETH_P_8021AD_BE {
        return Some(L2 {
            src,
            dst,
            outer_tpid: 0,
            outer_vid: 0,
            inner_vid: 0,
            proto,
            off: ETH_HLEN,
        });
    }
    let v1: *mut VlanHdr = ptr_at(ctx, ETH_HLEN)?;
    // Safety: bounds-checked above.
    let (tci, proto) = unsafe { (be16((*v1).tci), u16::from_ne_bytes((*v1).proto)) };
    let outer_vid = tci & 0x0fff;
    if proto != ETH_P_8021Q_BE {
        return Some(L2 {
            src,
            dst,
            outer_tpid,
            outer_vid,
            inner_vid: 0,
            proto,
            off: ETH_HLEN + VLAN_HLEN,
        });
    }
    let v2: *mut VlanHdr = ptr_at(ctx, ETH_HLEN + VLAN_HLEN)?;
    // Safety: bounds-checked above.
    let (tci, proto) = unsafe { (be16((*v2).tci), u16::from_ne_bytes((*v2).proto)) };
    Some(L2 {
        src,
        dst,
        outer_tpid,
        outer_vid,
        inner_vid: tci & 0x0fff,
        proto,
        off: ETH_HLEN + 2 * VLAN_HLEN,
    })
}

/// The access path. `SPREAD`: this is the NIC's program, which may hand
/// session frames to another CPU (`spread`) instead of processing them.
#[inline(always)]
pub fn run<const SPREAD: bool>(ctx: &XdpContext) -> Result<Verdict, Verdict> {
    let cfg = config().ok_or(pass(Stat::PassDisabled))?;
    let l2 = parse_l2(ctx).ok_or(drop(Stat::DropMalformed))?;
    if SPREAD {
        if let Some(v) = spread::maybe(ctx, &cfg, &l2.src, l2.proto, l2.off) {
            return Ok(v);
        }
    }
    if l2.proto == ETH_P_PPP_DISC_BE {
        return Ok(pass(Stat::AccessPassControl));
    }
    if l2.proto != ETH_P_PPP_SES_BE {
        return Err(not_pppoe(&cfg, l2.proto));
    }
    // Constant per branch of parse_l2; masking keeps the verifier's range tight.
    let off = l2.off & 0x1f;
    let pppoe: *mut PppoeHdr = ptr_at(ctx, off).ok_or(drop(Stat::DropMalformed))?;
    // Safety: bounds-checked above.
    let (ver_type, code, sid, len, ppp_proto) = unsafe {
        let h = &*pppoe;
        (
            h.ver_type,
            h.code,
            be16(h.session_id),
            be16(h.length),
            u16::from_ne_bytes(h.ppp_proto),
        )
    };
    if ver_type != PPPOE_VER_TYPE || code != PPPOE_CODE_SESSION {
        return Err(drop(Stat::DropMalformed));
    }
    if ppp_proto == PPP_IPV6_BE {
        // Handed to `access6` by the program's entry (its own subprogram:
        // the stack of one call chain is limited).
        return Ok(pass(Stat::AccessPassIpv6));
    }
    if ppp_proto != PPP_IPV4_BE {
        // LCP, PAP/CHAP, IPCP, CCP, IPv6CP, …: the daemon's business.
        return Ok(pass(Stat::AccessPassControl));
    }
    let ifindex = ctx.ingress_ifindex() as u32;
    let key = SessionKey {
        ifindex,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        client_mac: l2.src,
        session_id: sid,
    };
    let sess = session(&key).ok_or(drop(Stat::DropNoSession))?;

    let ip_off = off + PPPOE_PPP_LEN;
    // PPPoE LENGTH covers the PPP protocol field and the datagram (RFC 2516 §4)
    // and must lie inside the frame (the rest is Ethernet padding).
    let payload_len = len.saturating_sub(PPP_PROTO_LEN as u16);
    if ctx.data() + ip_off + payload_len as usize > ctx.data_end() {
        return Err(drop(Stat::DropMalformed));
    }
    let ip = ipv4::parse(ctx, ip_off, payload_len).ok_or(drop(Stat::DropMalformed))?;
    // An IPv6-only session's address is a placeholder in 0.0.0.0/8
    // (IPCP is not open): any IPv4 from it is dropped here.
    if ip.src != sess.addr || sess.addr[0] == 0 {
        return Err(drop(Stat::DropSpoofedSource));
    }
    if cfg.mru != 0 && ip.tot_len > cfg.mru {
        return Err(drop(Stat::DropOverMru));
    }
    let back = Back {
        outer_tpid: l2.outer_tpid,
        outer_vid: l2.outer_vid,
        inner_vid: l2.inner_vid,
        session_id: sid,
        client_mac: l2.src,
        bras_mac: l2.dst,
    };
    if ip.dst == cfg.local_addr && cfg.local_addr != [0; 4] {
        return gateway::to_local(ctx, &cfg, &back, ip_off, &ip, &sess);
    }
    if ip.ttl <= 1 {
        return gateway::time_exceeded(ctx, &cfg, &back, ip_off, &ip, &sess);
    }
    if is_inside(&cfg, ip.dst) {
        if let Some(to) = SUBSCRIBERS.get_ptr(ip.dst) {
            // Safety: live map value, copied.
            let to = unsafe { *to };
            return to_subscriber(ctx, &cfg, ip_off, &ip, &sess, &to);
        }
        if INSIDE_NETS.get(&Key::new(32, ip.dst)).is_some() {
            return Err(drop(Stat::DropInsideNoSubscriber));
        }
    }

    // NAT: decide (and create the mapping) now, rewrite later.
    let now = nat::now();
    let mut up = Up::Routed;
    let mut fib_src = ip.src;
    if sess.flags & SESSION_F_NAT != 0 {
        up = nat_decision(ctx, &ip, &sess, now)?;
        fib_src = match &up {
            Up::Routed => ip.src,
            Up::Addr(a) | Up::Nat(_, a, _) | Up::Error(_, a, _) => *a,
        };
    }

    let hop = match fib::lookup(
        ctx,
        cfg.uplink_ifindex,
        ifindex,
        fib_src,
        ip.dst,
        ip.tos,
        ip.proto,
        ip.tot_len,
        now,
    )? {
        Route::Hop(h) => h,
        Route::Local => {
            return match up {
                Up::Nat(l4, a, p) => hairpin(ctx, &cfg, ip_off, &ip, &sess, &l4, a, p),
                _ => Err(drop(Stat::DropFibFail)),
            }
        }
    };
    let flags = ipv4::tcp_flags(ctx, &ip);

    // ---- from here on the frame is being rewritten: failures DROP ----
    ipv4::dec_ttl(ctx, &ip).ok_or(drop(Stat::Aborted))?;
    let mut stat = Stat::UpForwarded;
    match &up {
        Up::Routed => {}
        Up::Addr(a) => ipv4::translate_addr(ctx, &ip, Dir::Out, *a).ok_or(drop(Stat::Aborted))?,
        Up::Nat(l4, a, p) => {
            ipv4::translate(ctx, &ip, l4, Dir::Out, *a, *p).ok_or(drop(Stat::Aborted))?
        }
        Up::Error(q, a, p) => {
            icmp::translate_error(ctx, &ip, q, Dir::Out, *a, *p).ok_or(drop(Stat::Aborted))?;
            stat = Stat::UpIcmpError;
        }
    }
    if cfg.flags & CONFIG_F_MSS_CLAMP != 0 && flags & TCP_SYN != 0 {
        let mss = sess.mtu.saturating_sub(TCP_IP_HLEN);
        tcp::clamp_mss(ctx, &ip, flags, mss).ok_or(drop(Stat::Aborted))?;
    }
    counters::up(sess.slot, ip.tot_len);

    // Strip Ethernet+tags+PPPoE+PPP minus the 14 bytes reused for the new Ethernet header.
    let strip = (ip_off - ETH_HLEN) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if unsafe { bpf_xdp_adjust_head(ctx.ctx, strip) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    // adjust_head invalidated every packet pointer: re-derive and re-check.
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    unsafe {
        (*eth).dst = hop.dmac;
        (*eth).src = hop.smac;
        (*eth).proto = ETH_P_IP_BE.to_ne_bytes();
    }
    // Safety: helper without preconditions.
    let action = unsafe { bpf_redirect(hop.ifindex, 0) } as u32;
    if action != xdp_action::XDP_REDIRECT {
        return Err(drop(Stat::Aborted));
    }
    Ok(Verdict { action, stat })
}

/// The session of `key`: `SESSION_BY_ID[session id]` when it holds this very
/// key (an array index and a 16-byte compare), else the `SESSIONS` hash.
/// Copied, so later map updates cannot alias it.
#[inline(always)]
pub(crate) fn session(key: &SessionKey) -> Option<SessionValue> {
    if let Some(e) = SESSION_BY_ID.get_ptr(key.session_id as u32) {
        // Safety: live array element; read field by field, then checked.
        let (k, v) = unsafe { ((*e).key, (*e).val) };
        if k == *key {
            return Some(v);
        }
    }
    let v = SESSIONS.get_ptr(*key)?;
    // Safety: live map value.
    Some(unsafe { *v })
}

/// The translation of a NAT session's packet: a later fragment gets its
/// first fragment's address; an ICMP error about an inbound flow the
/// reverse of that flow's mapping (RFC 5508 §4.2); anything else the
/// session's mapping of its (proto, port), created on first use.
#[inline(always)]
fn nat_decision(ctx: &XdpContext, ip: &Ip, sess: &SessionValue, now: u64) -> Result<Up, Verdict> {
    if ip.later_fragment {
        let a = frag::recall(ip, FRAG_DIR_UP).ok_or(drop(Stat::DropFragment))?;
        return Ok(Up::Addr(a));
    }
    if icmp::is_error(ctx, ip) {
        let q = icmp::quoted(ctx, ip, Dir::Out).ok_or(drop(Stat::DropIcmpErrorUnmatched))?;
        let (a, p) =
            nat::peek_out(q.proto, q.addr, q.port).ok_or(drop(Stat::DropIcmpErrorUnmatched))?;
        return Ok(Up::Error(q, a, p));
    }
    let l4 = match ipv4::l4(ctx, ip, Dir::Out) {
        Some(l4) => l4,
        None if ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP => {
            return Err(drop(Stat::DropMalformed))
        }
        None => return Err(drop(Stat::DropNatUnsupported)),
    };
    let (a, p) = nat::outbound(ip.proto, l4.port, sess, now)?;
    if ip.proto == IPPROTO_TCP {
        nat::tcp_out(a, p, ipv4::tcp_flags(ctx, ip));
    }
    if ip.fragment {
        frag::remember(ip, FRAG_DIR_UP, a);
    }
    Ok(Up::Nat(l4, a, p))
}

/// The destination is local: if it is another subscriber's public address
/// and port (a `NAT_IN` mapping), hairpin (RFC 4787 REQ-9, RFC 5382 REQ-8):
/// source → this session's public address and port, destination → the
/// other subscriber, then out of the access NIC in its encapsulation. So
/// both subscribers see each other's public endpoints, as from outside.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn hairpin(
    ctx: &XdpContext,
    cfg: &Config,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
    l4: &L4,
    paddr: [u8; 4],
    pport: u16,
) -> Result<Verdict, Verdict> {
    if ip.fragment || (ip.proto != IPPROTO_TCP && ip.proto != IPPROTO_UDP) {
        return Err(drop(Stat::DropFibFail));
    }
    let l4_in = ipv4::l4(ctx, ip, Dir::In).ok_or(drop(Stat::DropMalformed))?;
    let flags = ipv4::tcp_flags(ctx, ip);
    let (to_addr, to_port, _) =
        nat::inbound(ip.proto, ip.dst, l4_in.port, flags).ok_or(drop(Stat::DropFibFail))?;
    let to = SUBSCRIBERS
        .get_ptr(to_addr)
        .ok_or(drop(Stat::DropNoSubscriber))?;
    // Safety: live map value, copied.
    let to = unsafe { *to };
    if ip.tot_len > to.mtu {
        return Err(drop(Stat::DropTooBigNoDf));
    }

    // ---- rewrite: failures DROP ----
    ipv4::dec_ttl(ctx, ip).ok_or(drop(Stat::Aborted))?;
    ipv4::translate(ctx, ip, l4, Dir::Out, paddr, pport).ok_or(drop(Stat::Aborted))?;
    ipv4::translate(ctx, ip, &l4_in, Dir::In, to_addr, to_port).ok_or(drop(Stat::Aborted))?;
    deliver(ctx, cfg, ip_off, ip, sess, &to, flags, Stat::UpHairpin)
}

/// To another subscriber's inside address: routed PPPoE to PPPoE without
/// NAT, as the kernel routes between ppp interfaces in the classic bench,
/// unless `isolate_subscribers` is on. Never sent to the uplink.
#[inline(always)]
fn to_subscriber(
    ctx: &XdpContext,
    cfg: &Config,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
    to: &Subscriber,
) -> Result<Verdict, Verdict> {
    if cfg.flags & CONFIG_F_ISOLATE != 0 {
        return Err(drop(Stat::DropIsolated));
    }
    if ip.tot_len > to.mtu {
        return Err(drop(Stat::DropTooBigNoDf));
    }
    let flags = ipv4::tcp_flags(ctx, ip);
    // ---- rewrite: failures DROP ----
    ipv4::dec_ttl(ctx, ip).ok_or(drop(Stat::Aborted))?;
    deliver(ctx, cfg, ip_off, ip, sess, to, flags, Stat::UpSubscriber)
}

/// The end of both subscriber-to-subscriber paths: MSS clamp to the smaller
/// MTU, count on both sessions, swap the encapsulation for `to`'s and
/// redirect to its access NIC.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn deliver(
    ctx: &XdpContext,
    cfg: &Config,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
    to: &Subscriber,
    flags: u8,
    stat: Stat,
) -> Result<Verdict, Verdict> {
    if cfg.flags & CONFIG_F_MSS_CLAMP != 0 && flags & TCP_SYN != 0 {
        let mtu = if to.mtu < sess.mtu { to.mtu } else { sess.mtu };
        let mss = mtu.saturating_sub(TCP_IP_HLEN);
        tcp::clamp_mss(ctx, ip, flags, mss).ok_or(drop(Stat::Aborted))?;
    }
    counters::up(sess.slot, ip.tot_len);
    counters::down(to.slot, ip.tot_len);
    let delta = ip_off as i32 - encap::l2_len(to) as i32;
    // Safety: ctx.ctx is the program's xdp_md.
    if delta != 0 && unsafe { bpf_xdp_adjust_head(ctx.ctx, delta) } != 0 {
        return Err(drop(Stat::Aborted));
    }
    encap::write_l2(ctx, to, ip.tot_len)?;
    verdict::redirect(to.ifindex, stat)
}

/// A frame that is not PPPoE: passed to the host when its kind is in
/// `access_allow`, else dropped. Nothing else from the subscriber segment
/// reaches the host's stack (no routing, no local services).
#[inline(always)]
fn not_pppoe(cfg: &Config, proto_be: u16) -> Verdict {
    if cfg.access_allow & access_allow::bit(u16::from_be(proto_be)) != 0 {
        pass(Stat::AccessPassOther)
    } else {
        drop(Stat::DropAccessNotPppoe)
    }
}

/// True when `dst` lies in the prefix that covers every inside address.
#[inline(always)]
fn is_inside(cfg: &Config, dst: [u8; 4]) -> bool {
    let m = u32::from_ne_bytes(cfg.inside_mask);
    u32::from_ne_bytes(dst) & m == u32::from_ne_bytes(cfg.inside_net)
}
