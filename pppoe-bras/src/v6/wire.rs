//! IPv6, ICMPv6 and UDP as the session's control plane needs them (RFC 8200,
//! RFC 4443, RFC 768): parse without panics into typed errors, build with
//! the checksum over the pseudo-header (RFC 8200 §8.1).

use std::net::Ipv6Addr;

pub const NH_UDP: u8 = 17;
pub const NH_ICMPV6: u8 = 58;
pub const HEADER_LEN: usize = 40;

/// `ff02::1`, all nodes.
pub const ALL_NODES: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 1);
/// `ff02::2`, all routers (Router Solicitations).
pub const ALL_ROUTERS: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 0, 2);
/// `ff02::1:2`, All_DHCP_Relay_Agents_and_Servers (RFC 8415 §7.1).
pub const ALL_DHCP: Ipv6Addr = Ipv6Addr::new(0xff02, 0, 0, 0, 0, 0, 1, 2);

/// Why an IPv6 packet was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum V6Error {
    #[error("shorter than its header")]
    Short,
    #[error("IP version is not 6")]
    Version,
    #[error("payload length disagrees with the frame")]
    Length,
    #[error("extension header {0} (not handled by the control plane)")]
    Extension(u8),
    #[error("bad checksum")]
    Checksum,
    #[error("bad UDP length")]
    UdpLength,
}

/// A parsed IPv6 header and its payload (trailing padding cut off).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Packet<'a> {
    pub src: Ipv6Addr,
    pub dst: Ipv6Addr,
    pub next_header: u8,
    pub hop_limit: u8,
    pub payload: &'a [u8],
}

fn addr(b: &[u8]) -> Ipv6Addr {
    let mut a = [0u8; 16];
    a.copy_from_slice(&b[..16]);
    Ipv6Addr::from(a)
}

/// Parse an IPv6 packet. Only ICMPv6 and UDP directly after the header are
/// of interest; any other next header is returned as is.
pub fn parse(p: &[u8]) -> Result<Packet<'_>, V6Error> {
    if p.len() < HEADER_LEN {
        return Err(V6Error::Short);
    }
    if p[0] >> 4 != 6 {
        return Err(V6Error::Version);
    }
    let len = usize::from(u16::from_be_bytes([p[4], p[5]]));
    let payload = p.get(HEADER_LEN..HEADER_LEN + len).ok_or(V6Error::Length)?;
    Ok(Packet {
        src: addr(&p[8..24]),
        dst: addr(&p[24..40]),
        next_header: p[6],
        hop_limit: p[7],
        payload,
    })
}

/// The one's-complement sum of the pseudo-header and `upper` (RFC 8200
/// §8.1), folded, not inverted.
fn sum(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, upper: &[u8]) -> u16 {
    let mut acc: u64 = 0;
    let mut add = |b: &[u8]| {
        for c in b.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            acc += u64::from(w);
        }
    };
    add(&src.octets());
    add(&dst.octets());
    add(&(upper.len() as u32).to_be_bytes());
    add(&[0, 0, 0, nh]);
    add(upper);
    while acc > 0xffff {
        acc = (acc & 0xffff) + (acc >> 16);
    }
    acc as u16
}

/// The checksum field value for `upper` (whose own checksum field is zero).
pub fn checksum(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, upper: &[u8]) -> u16 {
    !sum(src, dst, nh, upper)
}

/// Whether `upper` (checksum field filled in) verifies.
pub fn checksum_ok(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, upper: &[u8]) -> bool {
    sum(src, dst, nh, upper) == 0xffff
}

/// An IPv6 packet around `payload`.
pub fn build(src: Ipv6Addr, dst: Ipv6Addr, nh: u8, hop_limit: u8, payload: &[u8]) -> Vec<u8> {
    let mut p = Vec::with_capacity(HEADER_LEN + payload.len());
    p.extend_from_slice(&[0x60, 0, 0, 0]);
    p.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    p.push(nh);
    p.push(hop_limit);
    p.extend_from_slice(&src.octets());
    p.extend_from_slice(&dst.octets());
    p.extend_from_slice(payload);
    p
}

/// An ICMPv6 message (`msg`: type, code, two checksum bytes, body) in an
/// IPv6 packet, checksum filled in.
pub fn icmpv6(src: Ipv6Addr, dst: Ipv6Addr, hop_limit: u8, mut msg: Vec<u8>) -> Vec<u8> {
    msg[2] = 0;
    msg[3] = 0;
    let c = checksum(src, dst, NH_ICMPV6, &msg);
    msg[2..4].copy_from_slice(&c.to_be_bytes());
    build(src, dst, NH_ICMPV6, hop_limit, &msg)
}

/// A UDP datagram in an IPv6 packet, checksum filled in (never zero over
/// IPv6, RFC 8200 §8.1).
pub fn udp(src: Ipv6Addr, dst: Ipv6Addr, sport: u16, dport: u16, payload: &[u8]) -> Vec<u8> {
    let mut u = Vec::with_capacity(8 + payload.len());
    u.extend_from_slice(&sport.to_be_bytes());
    u.extend_from_slice(&dport.to_be_bytes());
    u.extend_from_slice(&((8 + payload.len()) as u16).to_be_bytes());
    u.extend_from_slice(&[0, 0]);
    u.extend_from_slice(payload);
    let c = match checksum(src, dst, NH_UDP, &u) {
        0 => 0xffff,
        c => c,
    };
    u[6..8].copy_from_slice(&c.to_be_bytes());
    build(src, dst, NH_UDP, 64, &u)
}

/// A UDP datagram of `p`: (source port, destination port, payload), the
/// length and checksum verified.
pub fn parse_udp<'a>(p: &Packet<'a>) -> Result<(u16, u16, &'a [u8]), V6Error> {
    let u = p.payload;
    if u.len() < 8 {
        return Err(V6Error::UdpLength);
    }
    let len = usize::from(u16::from_be_bytes([u[4], u[5]]));
    if len < 8 || len > u.len() {
        return Err(V6Error::UdpLength);
    }
    let u = &u[..len];
    if !checksum_ok(p.src, p.dst, NH_UDP, u) {
        return Err(V6Error::Checksum);
    }
    Ok((
        u16::from_be_bytes([u[0], u[1]]),
        u16::from_be_bytes([u[2], u[3]]),
        &u[8..],
    ))
}

/// An ICMPv6 message of `p` with its checksum verified: (type, code, body
/// after the 4-byte header).
pub fn parse_icmpv6<'a>(p: &Packet<'a>) -> Result<(u8, u8, &'a [u8]), V6Error> {
    let m = p.payload;
    if m.len() < 4 {
        return Err(V6Error::Short);
    }
    if !checksum_ok(p.src, p.dst, NH_ICMPV6, m) {
        return Err(V6Error::Checksum);
    }
    Ok((m[0], m[1], &m[4..]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udp_round_trip_and_checksum_by_hand() {
        let src: Ipv6Addr = "fe80::1".parse().unwrap();
        let dst: Ipv6Addr = "fe80::2".parse().unwrap();
        let pkt = udp(src, dst, 547, 546, &[0xab]);
        // By hand: pseudo-header fe80+1 + fe80+2 + length 9 + next header
        // 17, UDP 547 + 546 + 9 + 0 + 0xab00.
        let s: u32 = 0xfe80 + 1 + 0xfe80 + 2 + 9 + 17 + 547 + 546 + 9 + 0xab00;
        let folded = (s & 0xffff) + (s >> 16);
        assert_eq!(u16::from_be_bytes([pkt[46], pkt[47]]), !(folded as u16));
        let p = parse(&pkt).unwrap();
        assert_eq!((p.src, p.dst, p.next_header), (src, dst, NH_UDP));
        assert_eq!(parse_udp(&p).unwrap(), (547, 546, &[0xab][..]));
        let mut bad = pkt.clone();
        bad[48] ^= 1;
        assert_eq!(parse_udp(&parse(&bad).unwrap()), Err(V6Error::Checksum));
    }

    #[test]
    fn malformed() {
        assert_eq!(parse(&[0x60; 39]), Err(V6Error::Short));
        let mut p = build(Ipv6Addr::LOCALHOST, Ipv6Addr::LOCALHOST, 58, 255, &[0; 8]);
        p[0] = 0x40;
        assert_eq!(parse(&p), Err(V6Error::Version));
        p[0] = 0x60;
        p[5] = 9;
        assert_eq!(parse(&p), Err(V6Error::Length));
        p[5] = 2;
        let short = parse(&p).unwrap();
        assert_eq!(parse_udp(&short), Err(V6Error::UdpLength));
        assert_eq!(parse_icmpv6(&short), Err(V6Error::Short));
    }
}
