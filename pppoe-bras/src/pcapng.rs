//! A pcapng writer, sans-IO: each function returns the bytes of one block
//! (draft-ietf-opsawg-pcapng: Section Header, Interface Description,
//! Enhanced Packet). Little-endian, as the byte-order magic says; readers
//! (tshark, tcpdump, Wireshark) accept either order.
//!
//! Only what `pppoe-bras capture` needs: interface name and description,
//! nanosecond timestamps (`if_tsresol` 9), and per packet the direction
//! (`epb_flags` inbound/outbound) and a comment.

/// LINKTYPE_ETHERNET.
pub const LINKTYPE_ETHERNET: u16 = 1;

const BT_SHB: u32 = 0x0A0D_0D0A;
const BT_IDB: u32 = 0x0000_0001;
const BT_EPB: u32 = 0x0000_0006;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

const OPT_ENDOFOPT: u16 = 0;
const OPT_COMMENT: u16 = 1;
const SHB_USERAPPL: u16 = 4;
const IF_NAME: u16 = 2;
const IF_DESCRIPTION: u16 = 3;
const IF_TSRESOL: u16 = 9;
const EPB_FLAGS: u16 = 2;

/// Packet direction (`epb_flags` bits 0–1).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Direction {
    /// Received by the interface.
    Inbound,
    /// Sent by the interface.
    Outbound,
}

/// One capture interface (an Interface Description Block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interface {
    /// `if_name`, e.g. "access".
    pub name: String,
    /// `if_description` (empty: none).
    pub description: String,
    /// Link type, e.g. [`LINKTYPE_ETHERNET`].
    pub linktype: u16,
    /// Largest captured length (0: no limit).
    pub snaplen: u32,
}

/// One packet (an Enhanced Packet Block).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    /// Index of its interface, in the order the IDBs were written.
    pub interface: u32,
    /// Nanoseconds since the Unix epoch.
    pub ts_ns: u64,
    /// The captured bytes.
    pub data: &'a [u8],
    /// Length of the packet on the wire (≥ `data.len()`).
    pub orig_len: u32,
    /// `epb_flags` direction.
    pub direction: Option<Direction>,
    /// `opt_comment`.
    pub comment: Option<&'a str>,
}

/// A block: type, total length, body, total length again.
fn block(kind: u32, body: &[u8]) -> Vec<u8> {
    let total = (12 + body.len()) as u32;
    let mut b = Vec::with_capacity(total as usize);
    b.extend_from_slice(&kind.to_le_bytes());
    b.extend_from_slice(&total.to_le_bytes());
    b.extend_from_slice(body);
    b.extend_from_slice(&total.to_le_bytes());
    b
}

/// Append `data` padded with zeros to a multiple of 4.
fn padded(out: &mut Vec<u8>, data: &[u8]) {
    out.extend_from_slice(data);
    out.resize(out.len() + (4 - data.len() % 4) % 4, 0);
}

/// Append one option (code, length, value padded to 4).
fn option(out: &mut Vec<u8>, code: u16, value: &[u8]) {
    out.extend_from_slice(&code.to_le_bytes());
    out.extend_from_slice(&(value.len().min(u16::MAX as usize) as u16).to_le_bytes());
    padded(out, &value[..value.len().min(u16::MAX as usize)]);
}

fn end_of_options(out: &mut Vec<u8>) {
    out.extend_from_slice(&OPT_ENDOFOPT.to_le_bytes());
    out.extend_from_slice(&0u16.to_le_bytes());
}

/// Section Header Block: version 1.0, section length unknown, `shb_userappl`.
pub fn section_header(application: &str) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&BYTE_ORDER_MAGIC.to_le_bytes());
    body.extend_from_slice(&1u16.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&(-1i64).to_le_bytes());
    if !application.is_empty() {
        option(&mut body, SHB_USERAPPL, application.as_bytes());
        end_of_options(&mut body);
    }
    block(BT_SHB, &body)
}

/// Interface Description Block with `if_name`, `if_description` and
/// nanosecond timestamps.
pub fn interface_description(i: &Interface) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&i.linktype.to_le_bytes());
    body.extend_from_slice(&0u16.to_le_bytes());
    body.extend_from_slice(&i.snaplen.to_le_bytes());
    option(&mut body, IF_NAME, i.name.as_bytes());
    if !i.description.is_empty() {
        option(&mut body, IF_DESCRIPTION, i.description.as_bytes());
    }
    option(&mut body, IF_TSRESOL, &[9]);
    end_of_options(&mut body);
    block(BT_IDB, &body)
}

/// Enhanced Packet Block (timestamps in the interface's nanoseconds).
pub fn enhanced_packet(p: &Packet<'_>) -> Vec<u8> {
    let mut body = Vec::with_capacity(32 + p.data.len());
    body.extend_from_slice(&p.interface.to_le_bytes());
    body.extend_from_slice(&((p.ts_ns >> 32) as u32).to_le_bytes());
    body.extend_from_slice(&(p.ts_ns as u32).to_le_bytes());
    body.extend_from_slice(&(p.data.len() as u32).to_le_bytes());
    body.extend_from_slice(&p.orig_len.max(p.data.len() as u32).to_le_bytes());
    padded(&mut body, p.data);
    let mut opts = false;
    if let Some(c) = p.comment {
        option(&mut body, OPT_COMMENT, c.as_bytes());
        opts = true;
    }
    if let Some(d) = p.direction {
        let flags: u32 = match d {
            Direction::Inbound => 1,
            Direction::Outbound => 2,
        };
        option(&mut body, EPB_FLAGS, &flags.to_le_bytes());
        opts = true;
    }
    if opts {
        end_of_options(&mut body);
    }
    block(BT_EPB, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn u16_at(b: &[u8], o: usize) -> u16 {
        u16::from_le_bytes([b[o], b[o + 1]])
    }

    fn u32_at(b: &[u8], o: usize) -> u32 {
        u32::from_le_bytes(b[o..o + 4].try_into().unwrap())
    }

    /// (code, value) of the options from `at` to the block's trailer.
    fn options(b: &[u8], mut at: usize) -> Vec<(u16, Vec<u8>)> {
        let mut out = Vec::new();
        let end = b.len() - 4;
        while at < end {
            let (code, len) = (u16_at(b, at), u16_at(b, at + 2) as usize);
            if code == OPT_ENDOFOPT {
                assert_eq!(at + 4, end, "opt_endofopt is last");
                break;
            }
            out.push((code, b[at + 4..at + 4 + len].to_vec()));
            at += 4 + len.div_ceil(4) * 4;
        }
        out
    }

    fn check_frame(b: &[u8], kind: u32) {
        assert_eq!(u32_at(b, 0), kind);
        assert_eq!(u32_at(b, 4) as usize, b.len(), "total length");
        assert_eq!(u32_at(b, b.len() - 4) as usize, b.len(), "trailing length");
        assert_eq!(b.len() % 4, 0, "32-bit aligned");
    }

    #[test]
    fn section_header_is_version_1_0_little_endian() {
        let b = section_header("pppoe-bras capture");
        check_frame(&b, BT_SHB);
        assert_eq!(&b[8..12], &[0x4d, 0x3c, 0x2b, 0x1a], "byte-order magic, LE");
        assert_eq!((u16_at(&b, 12), u16_at(&b, 14)), (1, 0));
        assert_eq!(&b[16..24], &[0xff; 8], "section length unknown");
        assert_eq!(
            options(&b, 24),
            vec![(SHB_USERAPPL, b"pppoe-bras capture".to_vec())]
        );
        // Without options: the minimal 28-byte SHB.
        assert_eq!(section_header("").len(), 28);
    }

    #[test]
    fn interface_block_names_the_side_with_ns_timestamps() {
        let b = interface_description(&Interface {
            name: "access".into(),
            description: "bras_access, ifindex 3".into(),
            linktype: LINKTYPE_ETHERNET,
            snaplen: 262_144,
        });
        check_frame(&b, BT_IDB);
        assert_eq!(u16_at(&b, 8), 1, "Ethernet");
        assert_eq!(u32_at(&b, 12), 262_144);
        assert_eq!(
            options(&b, 16),
            vec![
                (IF_NAME, b"access".to_vec()),
                (IF_DESCRIPTION, b"bras_access, ifindex 3".to_vec()),
                (IF_TSRESOL, vec![9]),
            ]
        );
    }

    #[test]
    fn packet_block_pads_data_and_carries_direction_and_comment() {
        let data = [0xaau8; 61];
        let b = enhanced_packet(&Packet {
            interface: 1,
            ts_ns: 0x0000_0001_0000_0002,
            data: &data,
            orig_len: 1500,
            direction: Some(Direction::Outbound),
            comment: Some("bras_access → uplink out"),
        });
        check_frame(&b, BT_EPB);
        assert_eq!(u32_at(&b, 8), 1, "interface id");
        assert_eq!(
            (u32_at(&b, 12), u32_at(&b, 16)),
            (1, 2),
            "timestamp high, low"
        );
        assert_eq!(
            (u32_at(&b, 20), u32_at(&b, 24)),
            (61, 1500),
            "captured, original"
        );
        assert_eq!(&b[28..28 + 61], &data);
        assert_eq!(&b[28 + 61..28 + 64], &[0, 0, 0], "padding");
        assert_eq!(
            options(&b, 28 + 64),
            vec![
                (OPT_COMMENT, "bras_access → uplink out".as_bytes().to_vec()),
                (EPB_FLAGS, 2u32.to_le_bytes().to_vec()),
            ]
        );
        // No options: no opt_endofopt either; orig_len never below caplen.
        let b = enhanced_packet(&Packet {
            interface: 0,
            ts_ns: 5,
            data: &[1, 2, 3, 4],
            orig_len: 0,
            direction: None,
            comment: None,
        });
        assert_eq!(b.len(), 28 + 4 + 4);
        assert_eq!(u32_at(&b, 24), 4);
        let inbound = enhanced_packet(&Packet {
            direction: Some(Direction::Inbound),
            ..Packet {
                interface: 0,
                ts_ns: 0,
                data: &[],
                orig_len: 0,
                direction: None,
                comment: None,
            }
        });
        assert_eq!(options(&inbound, 28), vec![(EPB_FLAGS, vec![1, 0, 0, 0])]);
    }
}
