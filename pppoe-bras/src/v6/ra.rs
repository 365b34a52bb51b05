//! Router Solicitation in, Router Advertisement out (RFC 4861 §4.1, §4.2,
//! §6.1.1, §6.2.6), with the Prefix Information (SLAAC, RFC 4862), MTU and
//! RDNSS (RFC 8106) options; and the host side (RS out, RA in) for the
//! emulator. There are no link-layer address options: PPP has none.

use std::net::Ipv6Addr;

use super::wire::{self, Packet, V6Error};

pub const ROUTER_SOLICITATION: u8 = 133;
pub const ROUTER_ADVERTISEMENT: u8 = 134;

/// Option types.
pub mod opt {
    pub const SOURCE_LINK_ADDR: u8 = 1;
    pub const PREFIX_INFORMATION: u8 = 3;
    pub const MTU: u8 = 5;
    pub const RDNSS: u8 = 25;
}

/// What one session's RAs say.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RaParams {
    /// The session's /64 (Prefix Information).
    pub prefix64: (Ipv6Addr, u8),
    /// M and O flags, no A flag (addresses by DHCPv6).
    pub managed: bool,
    pub router_lifetime: u16,
    pub valid_lifetime: u32,
    pub preferred_lifetime: u32,
    pub dns: Vec<Ipv6Addr>,
    /// RDNSS lifetime (RFC 8106 §5.1: at least 3 × the RA interval).
    pub dns_lifetime: u32,
    /// The session MTU (MTU option).
    pub mtu: u32,
}

/// The RA from `src` (our link-local) to `dst` as a full IPv6 packet.
pub fn build_ra(src: Ipv6Addr, dst: Ipv6Addr, p: &RaParams) -> Vec<u8> {
    let mut m = vec![ROUTER_ADVERTISEMENT, 0, 0, 0];
    // Cur Hop Limit 64; M, O; router lifetime; reachable, retrans: unspecified.
    m.push(64);
    m.push(if p.managed { 0xc0 } else { 0 });
    m.extend_from_slice(&p.router_lifetime.to_be_bytes());
    m.extend_from_slice(&[0; 8]);
    // MTU (type 5, length 1 × 8).
    m.extend_from_slice(&[opt::MTU, 1, 0, 0]);
    m.extend_from_slice(&p.mtu.to_be_bytes());
    // Prefix Information (type 3, length 4 × 8): L always, A unless managed.
    m.extend_from_slice(&[opt::PREFIX_INFORMATION, 4, p.prefix64.1]);
    m.push(if p.managed { 0x80 } else { 0xc0 });
    m.extend_from_slice(&p.valid_lifetime.to_be_bytes());
    m.extend_from_slice(&p.preferred_lifetime.to_be_bytes());
    m.extend_from_slice(&[0; 4]);
    m.extend_from_slice(&p.prefix64.0.octets());
    if !p.dns.is_empty() {
        m.extend_from_slice(&[opt::RDNSS, (1 + 2 * p.dns.len()) as u8, 0, 0]);
        m.extend_from_slice(&p.dns_lifetime.to_be_bytes());
        for d in &p.dns {
            m.extend_from_slice(&d.octets());
        }
    }
    wire::icmpv6(src, dst, 255, m)
}

/// Why a Router Solicitation (or RA, client side) was not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum NdError {
    #[error("ipv6: {0}")]
    Ip(#[from] V6Error),
    #[error("hop limit is not 255 (RFC 4861 §6.1.1)")]
    HopLimit,
    #[error("ICMP code is not 0")]
    Code,
    #[error("too short")]
    Short,
    #[error("bad option length")]
    OptionLength,
    #[error("source-link-layer option from the unspecified address")]
    SllaoFromUnspecified,
    #[error("not a router solicitation/advertisement")]
    NotNd,
}

/// The options of an ND message, each (type, whole option), checked for
/// length (zero-length options make the message invalid).
fn options(mut b: &[u8]) -> Result<Vec<(u8, &[u8])>, NdError> {
    let mut out = Vec::new();
    while !b.is_empty() {
        if b.len() < 2 || b[1] == 0 || usize::from(b[1]) * 8 > b.len() {
            return Err(NdError::OptionLength);
        }
        let n = usize::from(b[1]) * 8;
        out.push((b[0], &b[..n]));
        b = &b[n..];
    }
    Ok(out)
}

/// Validate a Router Solicitation (RFC 4861 §6.1.1).
pub fn check_rs(p: &Packet<'_>) -> Result<(), NdError> {
    if p.hop_limit != 255 {
        return Err(NdError::HopLimit);
    }
    let (ty, code, body) = wire::parse_icmpv6(p)?;
    if ty != ROUTER_SOLICITATION {
        return Err(NdError::NotNd);
    }
    if code != 0 {
        return Err(NdError::Code);
    }
    let rest = body.get(4..).ok_or(NdError::Short)?;
    let opts = options(rest)?;
    if p.src.is_unspecified() && opts.iter().any(|(t, _)| *t == opt::SOURCE_LINK_ADDR) {
        return Err(NdError::SllaoFromUnspecified);
    }
    Ok(())
}

/// A Router Solicitation from `src` (host side), to ff02::2.
pub fn build_rs(src: Ipv6Addr) -> Vec<u8> {
    wire::icmpv6(
        src,
        wire::ALL_ROUTERS,
        255,
        vec![ROUTER_SOLICITATION, 0, 0, 0, 0, 0, 0, 0],
    )
}

/// What a host learns from an RA.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RaInfo {
    pub managed: bool,
    pub other: bool,
    pub router_lifetime: u16,
    /// Prefixes with the A flag (SLAAC), with their length.
    pub autoconf: Vec<(Ipv6Addr, u8)>,
    /// Every prefix, A flag or not.
    pub prefixes: Vec<(Ipv6Addr, u8)>,
    pub mtu: Option<u32>,
    pub dns: Vec<Ipv6Addr>,
}

/// Parse and validate a Router Advertisement (RFC 4861 §6.1.2).
pub fn parse_ra(p: &Packet<'_>) -> Result<RaInfo, NdError> {
    if p.hop_limit != 255 {
        return Err(NdError::HopLimit);
    }
    let (ty, code, body) = wire::parse_icmpv6(p)?;
    if ty != ROUTER_ADVERTISEMENT {
        return Err(NdError::NotNd);
    }
    if code != 0 {
        return Err(NdError::Code);
    }
    if body.len() < 12 {
        return Err(NdError::Short);
    }
    let mut info = RaInfo {
        managed: body[1] & 0x80 != 0,
        other: body[1] & 0x40 != 0,
        router_lifetime: u16::from_be_bytes([body[2], body[3]]),
        ..RaInfo::default()
    };
    for (t, o) in options(&body[12..])? {
        match t {
            opt::PREFIX_INFORMATION if o.len() == 32 => {
                let mut a = [0u8; 16];
                a.copy_from_slice(&o[16..32]);
                let prefix = (Ipv6Addr::from(a), o[2]);
                info.prefixes.push(prefix);
                if o[3] & 0x40 != 0 {
                    info.autoconf.push(prefix);
                }
            }
            opt::MTU if o.len() == 8 => {
                info.mtu = Some(u32::from_be_bytes([o[4], o[5], o[6], o[7]]));
            }
            opt::RDNSS if o.len() >= 24 => {
                for c in o[8..].chunks_exact(16) {
                    let mut a = [0u8; 16];
                    a.copy_from_slice(c);
                    info.dns.push(Ipv6Addr::from(a));
                }
            }
            _ => {}
        }
    }
    Ok(info)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(managed: bool) -> RaParams {
        RaParams {
            prefix64: ("2001:db8:100:1::".parse().unwrap(), 64),
            managed,
            router_lifetime: 1800,
            valid_lifetime: 7200,
            preferred_lifetime: 3600,
            dns: vec!["2001:db8::53".parse().unwrap()],
            dns_lifetime: 600,
            mtu: 1492,
        }
    }

    const SRC: Ipv6Addr = Ipv6Addr::new(0xfe80, 0, 0, 0, 0x0211, 0x22ff, 0xfe33, 0x4455);

    #[test]
    fn ra_bytes() {
        let pkt = build_ra(SRC, wire::ALL_NODES, &params(false));
        let icmp = &pkt[40..];
        #[rustfmt::skip]
        let expected: Vec<u8> = vec![
            134, 0, 0xff, 0xff, // type, code, checksum (patched below)
            64, 0x00, 0x07, 0x08, // hop limit, flags, router lifetime 1800
            0, 0, 0, 0, 0, 0, 0, 0, // reachable, retrans
            5, 1, 0, 0, 0, 0, 0x05, 0xd4, // MTU 1492
            3, 4, 64, 0xc0, 0, 0, 0x1c, 0x20, 0, 0, 0x0e, 0x10, 0, 0, 0, 0, // PIO L+A
            0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
            25, 3, 0, 0, 0, 0, 0x02, 0x58, // RDNSS, lifetime 600
            0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53,
        ];
        assert_eq!(icmp[..2], expected[..2]);
        assert_eq!(icmp[4..], expected[4..]);
        // Header: payload length, ICMPv6, hop limit 255, addresses.
        assert_eq!(pkt[..8], [0x60, 0, 0, 0, 0, expected.len() as u8, 58, 255]);
        assert_eq!(pkt[8..24], SRC.octets());
        assert_eq!(pkt[24..40], wire::ALL_NODES.octets());
        // The checksum by hand: the one's-complement sum of the
        // pseudo-header and the message is all ones.
        let mut acc: u32 = 0;
        for c in SRC
            .octets()
            .chunks(2)
            .chain(wire::ALL_NODES.octets().chunks(2))
        {
            acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        acc += icmp.len() as u32 + 58;
        for c in icmp.chunks(2) {
            acc += u32::from(u16::from_be_bytes([c[0], c[1]]));
        }
        while acc > 0xffff {
            acc = (acc & 0xffff) + (acc >> 16);
        }
        assert_eq!(acc, 0xffff);
        let info = parse_ra(&wire::parse(&pkt).unwrap()).unwrap();
        assert_eq!(info.autoconf, [params(false).prefix64]);
        assert_eq!(info.mtu, Some(1492));
        assert_eq!(info.dns, params(false).dns);
        assert!(!info.managed && !info.other);
    }

    #[test]
    fn managed_ra_has_m_o_and_no_a() {
        let pkt = build_ra(SRC, wire::ALL_NODES, &params(true));
        assert_eq!(pkt[40 + 5], 0xc0);
        assert_eq!(pkt[40 + 16 + 8 + 3], 0x80, "L only");
        let info = parse_ra(&wire::parse(&pkt).unwrap()).unwrap();
        assert!(info.managed && info.other);
        assert!(info.autoconf.is_empty());
        assert_eq!(info.prefixes.len(), 1);
    }

    #[test]
    fn router_solicitation_checks() {
        let src: Ipv6Addr = "fe80::abcd".parse().unwrap();
        let rs = build_rs(src);
        assert_eq!(rs[40..], {
            let c = wire::checksum(src, wire::ALL_ROUTERS, 58, &[133, 0, 0, 0, 0, 0, 0, 0]);
            let c = c.to_be_bytes();
            [133, 0, c[0], c[1], 0, 0, 0, 0]
        });
        assert_eq!(check_rs(&wire::parse(&rs).unwrap()), Ok(()));
        let mut hop = rs.clone();
        hop[7] = 64;
        assert_eq!(
            check_rs(&wire::parse(&hop).unwrap()),
            Err(NdError::HopLimit)
        );
        let mut sum = rs.clone();
        sum[42] ^= 0xff;
        assert!(matches!(
            check_rs(&wire::parse(&sum).unwrap()),
            Err(NdError::Ip(V6Error::Checksum))
        ));
        // A zero-length option.
        let bad = wire::icmpv6(
            src,
            wire::ALL_ROUTERS,
            255,
            vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
        );
        assert_eq!(
            check_rs(&wire::parse(&bad).unwrap()),
            Err(NdError::OptionLength)
        );
        // SLLAO from ::.
        let bad = wire::icmpv6(
            Ipv6Addr::UNSPECIFIED,
            wire::ALL_ROUTERS,
            255,
            vec![133, 0, 0, 0, 0, 0, 0, 0, 1, 1, 2, 0, 0, 0, 0, 1],
        );
        assert_eq!(
            check_rs(&wire::parse(&bad).unwrap()),
            Err(NdError::SllaoFromUnspecified)
        );
    }
}

/// scapy dissects our RA as a valid ICMPv6 RA with the options we meant
/// (skipped when python3-scapy is missing).
#[cfg(test)]
#[test]
fn scapy_dissects_the_ra() {
    let p = RaParams {
        prefix64: ("2001:db8:100:1::".parse().unwrap(), 64),
        managed: false,
        router_lifetime: 1800,
        valid_lifetime: 7200,
        preferred_lifetime: 3600,
        dns: vec!["2001:db8::53".parse().unwrap()],
        dns_lifetime: 600,
        mtu: 1492,
    };
    let pkt = build_ra("fe80::1".parse().unwrap(), wire::ALL_NODES, &p);
    let hex: String = pkt.iter().map(|b| format!("{b:02x}")).collect();
    let script = format!(
        "from scapy.all import IPv6, ICMPv6ND_RA, ICMPv6NDOptPrefixInfo, ICMPv6NDOptMTU, ICMPv6NDOptRDNSS\n\
         p = IPv6(bytes.fromhex('{hex}'))\n\
         c = p[ICMPv6ND_RA].cksum\n\
         del p[ICMPv6ND_RA].cksum\n\
         q = IPv6(bytes(p))\n\
         assert q[ICMPv6ND_RA].cksum == c, (q[ICMPv6ND_RA].cksum, c)\n\
         assert p.hlim == 255 and p[ICMPv6ND_RA].routerlifetime == 1800\n\
         pi = p[ICMPv6NDOptPrefixInfo]\n\
         assert pi.prefix == '2001:db8:100:1::' and pi.prefixlen == 64 and pi.A == 1 and pi.L == 1\n\
         assert pi.validlifetime == 7200 and pi.preferredlifetime == 3600\n\
         assert p[ICMPv6NDOptMTU].mtu == 1492\n\
         assert p[ICMPv6NDOptRDNSS].dns == ['2001:db8::53'] and p[ICMPv6NDOptRDNSS].lifetime == 600\n\
         print('ok')\n"
    );
    let out = match std::process::Command::new("/usr/bin/python3")
        .args(["-c", &script])
        .output()
    {
        Ok(o) => o,
        Err(_) => return eprintln!("skipped: no python3"),
    };
    let err = String::from_utf8_lossy(&out.stderr);
    if err.contains("No module named 'scapy'") {
        return eprintln!("skipped: no scapy");
    }
    assert!(out.status.success(), "{err}");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok");
}
