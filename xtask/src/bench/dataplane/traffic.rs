//! The frames the generator sends: one UDP flow per session (in PPPoE or
//! plain, IPv4 or IPv6), checksums included, and the subscribers' addresses.

use std::net::Ipv4Addr;

use anyhow::{bail, Result};

use super::net::FIRST_SUBSCRIBER;

fn ones_sum(data: &[u8], mut sum: u32) -> u32 {
    let mut chunks = data.chunks_exact(2);
    for c in &mut chunks {
        sum += u32::from(u16::from_be_bytes([c[0], c[1]]));
    }
    if let [b] = chunks.remainder() {
        sum += u32::from(*b) << 8;
    }
    sum
}

fn fold(mut sum: u32) -> u16 {
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }
    !(sum as u16)
}

/// One UDP flow, optionally inside a PPPoE session.
#[derive(Clone, Copy, Debug)]
pub(super) struct Flow {
    pub(super) src_mac: [u8; 6],
    pub(super) dst_mac: [u8; 6],
    /// PPPoE SESSION_ID (RFC 2516 §5.5); `None` = plain IPv4.
    pub(super) pppoe: Option<u16>,
    pub(super) src: Ipv4Addr,
    pub(super) dst: Ipv4Addr,
    pub(super) sport: u16,
    pub(super) dport: u16,
    /// IPv6 (source, destination) instead of `src`/`dst`.
    pub(super) v6: Option<(std::net::Ipv6Addr, std::net::Ipv6Addr)>,
}

const ETH_LEN: usize = 14;
pub(super) const PPPOE_LEN: usize = 8; // 6-byte PPPoE header + 2-byte PPP protocol
const IP_UDP_LEN: usize = 28;

impl Flow {
    pub(super) fn header_len(&self) -> usize {
        let ip_udp = if self.v6.is_some() { 48 } else { IP_UDP_LEN };
        ETH_LEN + if self.pppoe.is_some() { PPPOE_LEN } else { 0 } + ip_udp
    }

    /// The whole frame of `len` bytes (no FCS), checksums filled in, zero
    /// payload.
    pub(super) fn frame(&self, len: usize) -> Result<Vec<u8>> {
        let hdr = self.header_len();
        if len < hdr {
            bail!("frame of {len} bytes cannot hold {hdr} bytes of headers");
        }
        if let Some((src, dst)) = self.v6 {
            return Ok(self.frame6(len, src, dst));
        }
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let ip_len = len - ETH_LEN - if self.pppoe.is_some() { PPPOE_LEN } else { 0 };
        let ip_len16 = u16::try_from(ip_len)?;
        if let Some(sid) = self.pppoe {
            f.extend_from_slice(&0x8864u16.to_be_bytes());
            f.push(0x11); // VER = 1, TYPE = 1
            f.push(0x00); // CODE = 0: session data
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&(ip_len16 + 2).to_be_bytes()); // LENGTH: PPP payload
            f.extend_from_slice(&0x0021u16.to_be_bytes()); // PPP: IPv4
        } else {
            f.extend_from_slice(&0x0800u16.to_be_bytes());
        }
        let ip_at = f.len();
        f.extend_from_slice(&[0x45, 0]);
        f.extend_from_slice(&ip_len16.to_be_bytes());
        f.extend_from_slice(&[0, 0, 0x40, 0, 64, 17, 0, 0]); // id, DF, TTL 64, UDP
        f.extend_from_slice(&self.src.octets());
        f.extend_from_slice(&self.dst.octets());
        let csum = fold(ones_sum(&f[ip_at..ip_at + 20], 0));
        f[ip_at + 10..ip_at + 12].copy_from_slice(&csum.to_be_bytes());
        let udp_at = f.len();
        let udp_len = ip_len16 - 20;
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        f.extend_from_slice(&udp_len.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.resize(len, 0);
        let mut pseudo = Vec::with_capacity(12);
        pseudo.extend_from_slice(&self.src.octets());
        pseudo.extend_from_slice(&self.dst.octets());
        pseudo.extend_from_slice(&[0, 17]);
        pseudo.extend_from_slice(&udp_len.to_be_bytes());
        let c = fold(ones_sum(&f[udp_at..], ones_sum(&pseudo, 0)));
        let c = if c == 0 { 0xffff } else { c };
        f[udp_at + 6..udp_at + 8].copy_from_slice(&c.to_be_bytes());
        Ok(f)
    }
}

impl Flow {
    /// [`Flow::frame`] for IPv6/UDP (the caller checked the length).
    fn frame6(&self, len: usize, src: std::net::Ipv6Addr, dst: std::net::Ipv6Addr) -> Vec<u8> {
        let mut f = Vec::with_capacity(len);
        f.extend_from_slice(&self.dst_mac);
        f.extend_from_slice(&self.src_mac);
        let ip_len = len - ETH_LEN - if self.pppoe.is_some() { PPPOE_LEN } else { 0 };
        let payload = (ip_len - 40) as u16;
        if let Some(sid) = self.pppoe {
            f.extend_from_slice(&0x8864u16.to_be_bytes());
            f.extend_from_slice(&[0x11, 0x00]);
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&(ip_len as u16 + 2).to_be_bytes());
            f.extend_from_slice(&0x0057u16.to_be_bytes()); // PPP: IPv6
        } else {
            f.extend_from_slice(&0x86ddu16.to_be_bytes());
        }
        f.extend_from_slice(&[0x60, 0, 0, 0]);
        f.extend_from_slice(&payload.to_be_bytes());
        f.extend_from_slice(&[17, 64]); // UDP, hop limit 64
        f.extend_from_slice(&src.octets());
        f.extend_from_slice(&dst.octets());
        let udp_at = f.len();
        f.extend_from_slice(&self.sport.to_be_bytes());
        f.extend_from_slice(&self.dport.to_be_bytes());
        f.extend_from_slice(&payload.to_be_bytes());
        f.extend_from_slice(&[0, 0]);
        f.resize(len, 0);
        let mut pseudo = Vec::with_capacity(40);
        pseudo.extend_from_slice(&src.octets());
        pseudo.extend_from_slice(&dst.octets());
        pseudo.extend_from_slice(&u32::from(payload).to_be_bytes());
        pseudo.extend_from_slice(&[0, 0, 0, 17]);
        let c = fold(ones_sum(&f[udp_at..], ones_sum(&pseudo, 0)));
        let c = if c == 0 { 0xffff } else { c };
        f[udp_at + 6..udp_at + 8].copy_from_slice(&c.to_be_bytes());
        f
    }
}

/// The /64 of session `i` in the IPv6 rows (`bench-dataplane-setup --ipv6`
/// gives session i the same), and its host address there.
pub(super) fn subscriber_ip6(i: u32) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::new(
        0x2001,
        0xdb8,
        0x1000 + (i >> 16) as u16,
        i as u16,
        0,
        0,
        0,
        1,
    )
}

pub(super) fn subscriber_ip(i: u32) -> Ipv4Addr {
    Ipv4Addr::from(FIRST_SUBSCRIBER + i)
}

/// Locally administered CPE MAC of session `i`.
pub(super) fn client_mac(i: u32) -> [u8; 6] {
    let b = i.to_be_bytes();
    [0x02, 0xb0, b[0], b[1], b[2], b[3]]
}

/// Frames of one measurement: `frames[i]` is flow `i`.
pub(super) struct Traffic {
    pub(super) frames: Vec<Vec<u8>>,
    pub(super) header_len: usize,
}

impl Traffic {
    pub(super) fn new(flows: &[Flow], frame_len: usize) -> Result<Self> {
        let header_len = flows.first().map(Flow::header_len).unwrap_or(0);
        let frames = flows
            .iter()
            .map(|f| f.frame(frame_len))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { frames, header_len })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::dataplane::net::{CLIENT_PORT, SERVER, SERVER_PORT};

    fn flow(pppoe: Option<u16>) -> Flow {
        Flow {
            src_mac: [2, 0, 0, 0, 0, 1],
            dst_mac: [2, 0, 0, 0, 0, 2],
            pppoe,
            src: Ipv4Addr::new(198, 18, 0, 2),
            dst: SERVER,
            sport: CLIENT_PORT,
            dport: SERVER_PORT,
            v6: None,
        }
    }

    #[test]
    fn plain_frame_has_valid_checksums() {
        let f = flow(None).frame(60).unwrap();
        assert_eq!(f.len(), 60);
        assert_eq!(&f[12..14], &[0x08, 0x00]);
        assert_eq!(u16::from_be_bytes([f[16], f[17]]), 46); // IP total length
        assert_eq!(fold(ones_sum(&f[14..34], 0)), 0, "IPv4 header checksum");
        let mut pseudo = Vec::new();
        pseudo.extend_from_slice(&f[26..34]);
        pseudo.extend_from_slice(&[0, 17, 0, 26]);
        assert_eq!(
            fold(ones_sum(&f[34..], ones_sum(&pseudo, 0))),
            0,
            "UDP checksum"
        );
    }

    #[test]
    fn pppoe_frame_layout() {
        let f = flow(Some(0x1234)).frame(60).unwrap();
        // 0x8864, VER/TYPE 0x11, CODE 0, SESSION_ID, LENGTH = PPP payload, PPP 0x0021
        assert_eq!(
            &f[12..22],
            &[0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0, 40, 0x00, 0x21]
        );
        assert_eq!(u16::from_be_bytes([f[24], f[25]]), 38); // IP total length
        assert_eq!(fold(ones_sum(&f[22..42], 0)), 0);
        assert_eq!(flow(Some(1)).header_len(), 50);
    }

    #[test]
    fn too_short_frames_are_refused() {
        assert!(flow(Some(1)).frame(49).is_err());
        assert!(flow(None).frame(42).is_ok());
    }

    #[test]
    fn client_macs_are_unique_and_local() {
        assert_eq!(client_mac(0x0102), [0x02, 0xb0, 0, 0, 1, 2]);
        assert_ne!(client_mac(1), client_mac(2));
        assert_eq!(subscriber_ip(0), Ipv4Addr::new(198, 18, 0, 2));
        assert_eq!(subscriber_ip(10_000), Ipv4Addr::new(198, 18, 39, 18));
    }
}
