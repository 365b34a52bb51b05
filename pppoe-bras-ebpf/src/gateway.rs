//! What the BRAS answers a subscriber itself, back through the session it
//! came from: its PPP address (`local_address`, the gateway CPEs monitor:
//! MikroTik check-gateway, YAMAHA `ip keepalive … icmp-echo`, EdgeRouter and
//! pfSense gateway monitors) answers ICMP Echo like pppd's ppp0 address;
//! anything else sent to it gets ICMP Destination Unreachable; and a TTL
//! that expires here gets ICMP Time Exceeded (the first traceroute hop).
//!
//! Every answer is rate limited by `icmp_limit` (RFC 1812 §4.3.2.8) and
//! leaves with `bpf_redirect` to the ingress NIC (see `verdict::redirect`).
use aya_ebpf::programs::XdpContext;
use pppoe_bras_common::{
    csum,
    maps::{Config, SessionValue, Subscriber},
    proto::*,
    stats::Stat,
};

use crate::{
    counters, encap,
    hdr::{be16, ptr_at, read, swap16, EthHdr, Ipv4Hdr},
    icmp::{self, Reply},
    icmp_limit,
    ipv4::Ip,
    verdict::{self, drop, Verdict},
};

/// ICMP Destination Unreachable codes (RFC 792).
const UNREACH_PROTOCOL: u8 = 2;
const UNREACH_PORT: u8 = 3;

/// The session a frame came in on, as the encapsulation to answer it with.
pub struct Back {
    pub outer_tpid: u16,
    pub outer_vid: u16,
    pub inner_vid: u16,
    pub session_id: u16,
    pub client_mac: [u8; 6],
    pub bras_mac: [u8; 6],
}

impl Back {
    #[inline(always)]
    pub(crate) fn subscriber(&self, sess: &SessionValue) -> Subscriber {
        Subscriber {
            ifindex: 0,
            outer_tpid: self.outer_tpid,
            outer_vid: self.outer_vid,
            inner_vid: self.inner_vid,
            session_id: self.session_id,
            client_mac: self.client_mac,
            bras_mac: self.bras_mac,
            mtu: sess.mtu,
            flags: sess.flags,
            slot: sess.slot,
            addr: sess.addr,
        }
    }
}

/// A datagram to `local_address`: Echo Request → Echo Reply; TCP/UDP →
/// Port Unreachable; other protocols → Protocol Unreachable; ICMP other
/// than Echo Request, ICMP errors, later fragments → dropped (RFC 1122
/// §3.2.2: no error about an error or a non-first fragment).
#[inline(always)]
pub fn to_local(
    ctx: &XdpContext,
    cfg: &Config,
    back: &Back,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
) -> Result<Verdict, Verdict> {
    if ip.proto == IPPROTO_ICMP {
        if ip.fragment {
            return Err(drop(Stat::DropToLocal));
        }
        let p: *mut [u8; 2] = ptr_at(ctx, ip.l4_off).ok_or(drop(Stat::DropToLocal))?;
        // Safety: bounds-checked above. Read byte by byte: a match on an
        // `Option<[u8; 2]>` let LLVM shift the packet pointer on the `None`
        // path ("pointer arithmetic with <<= operator prohibited").
        let (ty, code) = unsafe { ((*p)[0], (*p)[1]) };
        if ty != ICMP_ECHO_REQUEST || code != 0 {
            return Err(drop(Stat::DropToLocal));
        }
        return echo_reply(ctx, ip_off, ip, sess);
    }
    let code = if ip.proto == IPPROTO_TCP || ip.proto == IPPROTO_UDP {
        UNREACH_PORT
    } else {
        UNREACH_PROTOCOL
    };
    answer(
        ctx,
        cfg,
        back,
        ip_off,
        ip,
        sess,
        ICMP_DEST_UNREACH,
        code,
        Stat::AccessTxUnreachable,
        Stat::DropToLocal,
    )
}

/// Turn the Echo Request in place into its Echo Reply (RFC 792): addresses
/// swapped, TTL 64, type 0, both checksums patched incrementally, MACs
/// swapped; tags, session id, PPPoE length and payload as received.
#[inline(always)]
fn echo_reply(
    ctx: &XdpContext,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
) -> Result<Verdict, Verdict> {
    // The whole ICMP header must lie inside the datagram.
    if (ip.tot_len as usize) < ip.hlen + ICMP_HLEN {
        return Err(drop(Stat::DropMalformed));
    }
    icmp_limit::take()?;
    counters::up(sess.slot, ip.tot_len);
    // ---- rewrite: failures DROP ----
    let hdr: *mut Ipv4Hdr = ptr_at(ctx, ip.off).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    let h = unsafe { &mut *hdr };
    // Swapping source and destination leaves the header sum unchanged.
    let (src, dst) = (h.src, h.dst);
    h.src = dst;
    h.dst = src;
    let old = u16::from_be_bytes([h.ttl, h.proto]);
    h.ttl = 64;
    let new = u16::from_be_bytes([h.ttl, h.proto]);
    h.csum = csum::replace2(be16(h.csum), old, new).to_be_bytes();
    // Type 8 → 0 (code stays 0).
    let icmp_csum = be16(read::<2>(ctx, ip.l4_off + 2).ok_or(drop(Stat::Aborted))?);
    swap16(ctx, ip.l4_off, u16::from_be_bytes([ICMP_ECHO_REPLY, 0])).ok_or(drop(Stat::Aborted))?;
    let c = csum::replace2(
        icmp_csum,
        u16::from_be_bytes([ICMP_ECHO_REQUEST, 0]),
        u16::from_be_bytes([ICMP_ECHO_REPLY, 0]),
    );
    swap16(ctx, ip.l4_off + 2, c).ok_or(drop(Stat::Aborted))?;
    let _ = ip_off;
    let eth: *mut EthHdr = ptr_at(ctx, 0).ok_or(drop(Stat::Aborted))?;
    // Safety: bounds-checked above.
    unsafe {
        let (s, d) = ((*eth).src, (*eth).dst);
        (*eth).src = d;
        (*eth).dst = s;
    }
    counters::down(sess.slot, ip.tot_len);
    verdict::redirect(ctx.ingress_ifindex() as u32, Stat::AccessTxEchoReply)
}

/// The TTL expired here: ICMP Time Exceeded (RFC 792) from `local_address`.
#[inline(always)]
pub fn time_exceeded(
    ctx: &XdpContext,
    cfg: &Config,
    back: &Back,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
) -> Result<Verdict, Verdict> {
    answer(
        ctx,
        cfg,
        back,
        ip_off,
        ip,
        sess,
        ICMP_TIME_EXCEEDED,
        0,
        Stat::AccessTxTimeExceeded,
        Stat::DropTtlExpired,
    )
}

/// Answer `ip` with an ICMP error `ty`/`code` from the PPP local address
/// (the public address when none is set) back through the same session
/// (MACs swapped, same tags and session id), counted under `sent`; when no
/// error may be sent about it (RFC 1122 §3.2.2) or the quote is short, drop
/// under `not_sent`.
#[allow(clippy::too_many_arguments)]
#[inline(always)]
fn answer(
    ctx: &XdpContext,
    cfg: &Config,
    back: &Back,
    ip_off: usize,
    ip: &Ip,
    sess: &SessionValue,
    ty: u8,
    code: u8,
    sent: Stat,
    not_sent: Stat,
) -> Result<Verdict, Verdict> {
    let sum = icmp::quote_sum(ctx, ip).ok_or(drop(not_sent))?;
    let sub = back.subscriber(sess);
    // A priority-tagged inner VLAN (VID 0) would change the header length.
    if encap::l2_len(&sub) != ip_off {
        return Err(drop(not_sent));
    }
    icmp_limit::take()?;
    let src = if cfg.local_addr != [0; 4] {
        cfg.local_addr
    } else {
        cfg.public_addr
    };
    let r = Reply {
        ty,
        code,
        rest: [0; 4],
        src,
        dst: ip.src,
    };
    counters::up(sess.slot, ip.tot_len);
    // ---- rewrite: failures DROP ----
    let tot_len = icmp::reply(ctx, ip_off, ip, sum, &r)?;
    encap::write_l2(ctx, &sub, tot_len)?;
    counters::down(sess.slot, tot_len);
    verdict::redirect(ctx.ingress_ifindex() as u32, sent)
}
