//! Ethernet II header with up to two VLAN tags (802.1Q, QinQ 802.1ad).
//!
//! [`EthHeader::parse`] accepts an outer tag with TPID 0x8100, 0x88a8 or
//! 0x9100 (pre-standard QinQ) and an inner tag with TPID 0x8100; a third tag
//! is an error. Only TPID and VID are kept: PCP/DEI are not part of a
//! session's identity (a CPE may change its priority bits between frames), and
//! [`EthHeader::emit`] writes them as zero.

use super::Error;

// The EtherTypes, TPIDs and lengths the data plane shares, under this
// module's names: one definition, in `pppoe_bras_common::proto`.
pub use pppoe_bras_common::proto::{
    ETH_HLEN as HEADER_LEN, ETH_P_8021AD as TPID_8021AD, ETH_P_8021Q as TPID_8021Q,
    ETH_P_PPP_DISC as ETHERTYPE_PPPOE_DISCOVERY, ETH_P_PPP_SES as ETHERTYPE_PPPOE_SESSION,
    VLAN_HLEN as VLAN_TAG_LEN,
};

/// Pre-standard QinQ outer TPID still used by some switches.
pub const TPID_QINQ_LEGACY: u16 = 0x9100;

/// The broadcast MAC address.
pub const BROADCAST: [u8; 6] = [0xff; 6];

/// One VLAN tag: its TPID and 12-bit VLAN id.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VlanTag {
    /// Tag protocol identifier (0x8100, 0x88a8, 0x9100).
    pub tpid: u16,
    /// VLAN id, 0..=4095 (only the low 12 bits are used).
    pub vid: u16,
}

impl VlanTag {
    /// An 802.1Q tag (TPID 0x8100).
    pub const fn dot1q(vid: u16) -> Self {
        Self {
            tpid: TPID_8021Q,
            vid: vid & 0x0fff,
        }
    }

    /// An 802.1ad S-tag (TPID 0x88a8).
    pub const fn dot1ad(vid: u16) -> Self {
        Self {
            tpid: TPID_8021AD,
            vid: vid & 0x0fff,
        }
    }
}

/// The VLAN tags of a frame, outermost first. `Default` is untagged.
///
/// Part of the session key: frames of one session must carry the same tags.
/// `inner` without `outer` is never produced by [`EthHeader::parse`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Vlans {
    /// The outer tag (the only one for single-tagged frames).
    pub outer: Option<VlanTag>,
    /// The inner tag of a QinQ frame.
    pub inner: Option<VlanTag>,
}

impl Vlans {
    /// No tag.
    pub const NONE: Vlans = Vlans {
        outer: None,
        inner: None,
    };

    /// One tag.
    pub const fn single(tag: VlanTag) -> Self {
        Self {
            outer: Some(tag),
            inner: None,
        }
    }

    /// Two tags (QinQ), outer first.
    pub const fn double(outer: VlanTag, inner: VlanTag) -> Self {
        Self {
            outer: Some(outer),
            inner: Some(inner),
        }
    }

    /// Number of tags present.
    pub fn count(&self) -> usize {
        usize::from(self.outer.is_some()) + usize::from(self.inner.is_some())
    }

    /// Outer VID, 0 when untagged.
    pub fn outer_vid(&self) -> u16 {
        self.outer.map_or(0, |t| t.vid)
    }

    /// Inner VID, 0 when not QinQ.
    pub fn inner_vid(&self) -> u16 {
        self.inner.map_or(0, |t| t.vid)
    }
}

impl std::fmt::Display for Vlans {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match (self.outer, self.inner) {
            (None, None) => f.write_str("untagged"),
            (Some(o), None) => write!(f, "vlan {}", o.vid),
            (Some(o), Some(i)) => write!(f, "vlan {}.{}", o.vid, i.vid),
            (None, Some(i)) => write!(f, "vlan ?.{}", i.vid),
        }
    }
}

/// An Ethernet II header with its VLAN tags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct EthHeader {
    pub dst: [u8; 6],
    pub src: [u8; 6],
    pub vlans: Vlans,
    /// The EtherType after the tags.
    pub ethertype: u16,
}

fn be16(b: &[u8], at: usize) -> Result<u16, Error> {
    match b.get(at..at + 2) {
        Some(&[hi, lo]) => Ok(u16::from_be_bytes([hi, lo])),
        _ => Err(Error::Truncated {
            need: at + 2,
            have: b.len(),
        }),
    }
}

fn mac_at(b: &[u8], at: usize) -> [u8; 6] {
    let mut m = [0; 6];
    if let Some(s) = b.get(at..at + 6) {
        m.copy_from_slice(s);
    }
    m
}

impl EthHeader {
    /// Parses the header (and up to two VLAN tags) and returns the payload
    /// after the EtherType. Ethernet padding stays in the payload: upper layers
    /// use their own length fields.
    pub fn parse(frame: &[u8]) -> Result<(EthHeader, &[u8]), Error> {
        if frame.len() < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: frame.len(),
            });
        }
        let dst = mac_at(frame, 0);
        let src = mac_at(frame, 6);
        let mut at = 12;
        let mut ethertype = be16(frame, at)?;
        let mut vlans = Vlans::NONE;
        if matches!(ethertype, TPID_8021Q | TPID_8021AD | TPID_QINQ_LEGACY) {
            let tci = be16(frame, at + 2)?;
            vlans.outer = Some(VlanTag {
                tpid: ethertype,
                vid: tci & 0x0fff,
            });
            at += VLAN_TAG_LEN;
            ethertype = be16(frame, at)?;
            if ethertype == TPID_8021Q {
                let tci = be16(frame, at + 2)?;
                vlans.inner = Some(VlanTag {
                    tpid: ethertype,
                    vid: tci & 0x0fff,
                });
                at += VLAN_TAG_LEN;
                ethertype = be16(frame, at)?;
            }
            if matches!(ethertype, TPID_8021Q | TPID_8021AD | TPID_QINQ_LEGACY) {
                return Err(Error::Malformed(
                    "more than two VLAN tags or bad inner TPID",
                ));
            }
        }
        let payload = frame.get(at + 2..).unwrap_or(&[]);
        Ok((
            EthHeader {
                dst,
                src,
                vlans,
                ethertype,
            },
            payload,
        ))
    }

    /// Length of this header on the wire (14, 18 or 22 bytes).
    pub fn header_len(&self) -> usize {
        HEADER_LEN + VLAN_TAG_LEN * self.vlans.count()
    }

    /// Appends the header (tags with PCP = DEI = 0) to `out`.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.dst);
        out.extend_from_slice(&self.src);
        for tag in [self.vlans.outer, self.vlans.inner].into_iter().flatten() {
            out.extend_from_slice(&tag.tpid.to_be_bytes());
            out.extend_from_slice(&(tag.vid & 0x0fff).to_be_bytes());
        }
        out.extend_from_slice(&self.ethertype.to_be_bytes());
    }

    /// The header of a reply: source and destination swapped, tags mirrored,
    /// the source set to `local_mac`.
    pub fn reply(&self, local_mac: [u8; 6], ethertype: u16) -> EthHeader {
        EthHeader {
            dst: self.src,
            src: local_mac,
            vlans: self.vlans,
            ethertype,
        }
    }
}

/// True for group (multicast/broadcast) addresses: the I/G bit is set.
pub fn is_multicast(mac: &[u8; 6]) -> bool {
    mac[0] & 1 == 1
}

/// `"02:00:00:00:00:01"` → bytes (the form [`fmt_mac`] writes).
pub fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let mut out = [0u8; 6];
    let mut it = s.split(':');
    for b in out.iter_mut() {
        *b = u8::from_str_radix(it.next()?, 16).ok()?;
    }
    it.next().is_none().then_some(out)
}

/// Formats a MAC as `02:00:00:00:00:01`.
pub fn fmt_mac(mac: &[u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        mac[0], mac[1], mac[2], mac[3], mac[4], mac[5]
    )
}

#[cfg(test)]
mod test {
    use super::*;

    const UNTAGGED: [u8; 16] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x88, 0x63, // ethertype
        0xaa, 0xbb, // payload
    ];

    const QINQ: [u8; 24] = [
        0x02, 0x00, 0x00, 0x00, 0x00, 0xfe, // dst
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x88, 0xa8, 0xe0, 0x64, // S-tag PCP 7, VID 100
        0x81, 0x00, 0x10, 0xc8, // C-tag DEI 1, VID 200
        0x88, 0x64, // ethertype
        0x11, 0x00, // payload
    ];

    #[test]
    fn parse_untagged() {
        let (h, p) = EthHeader::parse(&UNTAGGED).unwrap();
        assert_eq!(h.dst, BROADCAST);
        assert_eq!(h.src, [2, 0, 0, 0, 0, 1]);
        assert_eq!(h.vlans, Vlans::default());
        assert_eq!(h.ethertype, ETHERTYPE_PPPOE_DISCOVERY);
        assert_eq!(p, &[0xaa, 0xbb]);
        assert_eq!(h.header_len(), 14);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, &UNTAGGED[..14]);
    }

    #[test]
    fn parse_dot1q() {
        let mut f = Vec::new();
        f.extend_from_slice(&UNTAGGED[..12]);
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x0a, 0x88, 0x63, 0x01]);
        let (h, p) = EthHeader::parse(&f).unwrap();
        assert_eq!(h.vlans, Vlans::single(VlanTag::dot1q(10)));
        assert_eq!(h.ethertype, 0x8863);
        assert_eq!(p, &[0x01]);
        assert_eq!(h.header_len(), 18);
        let mut out = Vec::new();
        h.emit(&mut out);
        assert_eq!(out, &f[..18]);
    }

    #[test]
    fn parse_qinq_drops_pcp_dei() {
        let (h, p) = EthHeader::parse(&QINQ).unwrap();
        assert_eq!(
            h.vlans,
            Vlans::double(VlanTag::dot1ad(100), VlanTag::dot1q(200))
        );
        assert_eq!((h.vlans.outer_vid(), h.vlans.inner_vid()), (100, 200));
        assert_eq!(h.ethertype, ETHERTYPE_PPPOE_SESSION);
        assert_eq!(p, &[0x11, 0x00]);
        assert_eq!(h.header_len(), 22);
        let mut out = Vec::new();
        h.emit(&mut out);
        let mut expect = QINQ[..22].to_vec();
        expect[14] = 0x00; // PCP cleared
        expect[18] = 0x00; // DEI cleared
        assert_eq!(out, expect);
        assert_eq!(h.vlans.to_string(), "vlan 100.200");
    }

    #[test]
    fn three_tags_rejected() {
        let mut f = QINQ[..16].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01, 0x81, 0x00, 0x00, 0x02, 0x88, 0x63]);
        assert!(matches!(EthHeader::parse(&f), Err(Error::Malformed(_))));
        // An S-tag inside a C-tag is not accepted either.
        let mut f = UNTAGGED[..12].to_vec();
        f.extend_from_slice(&[0x81, 0x00, 0x00, 0x01, 0x88, 0xa8, 0x00, 0x02, 0x88, 0x63]);
        assert!(matches!(EthHeader::parse(&f), Err(Error::Malformed(_))));
    }

    #[test]
    fn every_prefix_is_an_error_not_a_panic() {
        for n in 0..QINQ.len() {
            let r = EthHeader::parse(&QINQ[..n]);
            if n < 22 {
                assert!(r.is_err(), "prefix {n}");
            }
        }
        for n in 0..14 {
            assert!(EthHeader::parse(&UNTAGGED[..n]).is_err());
        }
        assert_eq!(EthHeader::parse(&UNTAGGED[..14]).unwrap().1, &[] as &[u8]);
    }

    #[test]
    fn mac_helpers() {
        assert_eq!(fmt_mac(&[2, 0, 0, 0, 0, 1]), "02:00:00:00:00:01");
        assert_eq!(fmt_mac(&[0xff, 0xab, 0, 0x10, 0, 0xc]), "ff:ab:00:10:00:0c");
        assert!(is_multicast(&BROADCAST));
        assert!(is_multicast(&[0x01, 0x00, 0x5e, 0, 0, 1]));
        assert!(!is_multicast(&[0x02, 0, 0, 0, 0, 1]));
    }
}
