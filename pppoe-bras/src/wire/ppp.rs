//! PPP control packets (code, identifier, length, data) and their options.
//!
//! RFC 1661 §5: every LCP/NCP packet (and PAP/CHAP, which reuse the same
//! header) is `code(1) identifier(1) length(2) data(length-4)`. Octets past
//! `length` are padding (PPPoE may add some) and are ignored. Options inside
//! Configure-* packets are TLVs `type(1) length(1) value(length-2)` (§6).
//!
//! Nothing here panics on peer bytes: [`parse`] and [`Options`] return
//! [`Error`]s. Builders append to a `Vec<u8>`.

use std::net::Ipv4Addr;

use super::Error;

/// Length of the control packet header (code, identifier, length).
pub const HEADER_LEN: usize = 4;

/// Length of the PPP protocol field in a PPPoE session payload.
pub const PROTOCOL_LEN: usize = 2;

enum_with_unknown! {
    /// LCP/NCP packet codes (RFC 1661 §5, §6; 12 and 13 from RFC 1570).
    /// `Unknown` keeps any other value, so a Code-Reject can echo it.
    pub enum Code(u8) {
        ConfReq = 1,
        ConfAck = 2,
        ConfNak = 3,
        ConfRej = 4,
        TermReq = 5,
        TermAck = 6,
        CodeRej = 7,
        ProtRej = 8,
        EchoReq = 9,
        EchoRep = 10,
        DiscardReq = 11,
        Identification = 12,
        TimeRemaining = 13,
    }
}

/// A validated control packet header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub code: Code,
    pub identifier: u8,
    /// The packet's length field (header included), already checked to be
    /// `>= 4` and `<=` the buffer.
    pub length: u16,
}

/// Parse a control packet (the PPP information field of LCP, IPCP, PAP, CHAP…).
///
/// Returns the header and the data (exactly `length - 4` bytes; trailing
/// padding is dropped).
pub fn parse(info: &[u8]) -> Result<(Header, &[u8]), Error> {
    if info.len() < HEADER_LEN {
        return Err(Error::Truncated {
            need: HEADER_LEN,
            have: info.len(),
        });
    }
    let length = u16::from_be_bytes([info[2], info[3]]);
    let len = usize::from(length);
    if len < HEADER_LEN {
        return Err(Error::Malformed("control packet length < 4"));
    }
    if len > info.len() {
        return Err(Error::BadLength {
            claimed: len,
            available: info.len(),
        });
    }
    let header = Header {
        code: Code::from(info[0]),
        identifier: info[1],
        length,
    };
    Ok((header, &info[HEADER_LEN..len]))
}

/// Split a PPPoE session payload into the PPP protocol number and the
/// information field. Only the two-octet (uncompressed) protocol field is
/// accepted: RFC 2516 §7 forbids PFC on PPPoE.
pub fn parse_protocol(payload: &[u8]) -> Result<(u16, &[u8]), Error> {
    match payload {
        [hi, lo, rest @ ..] => Ok((u16::from_be_bytes([*hi, *lo]), rest)),
        _ => Err(Error::Truncated {
            need: PROTOCOL_LEN,
            have: payload.len(),
        }),
    }
}

/// Append a control packet `code, identifier, length, data` to `buf`.
///
/// `data` longer than 65531 bytes is truncated so the length field stays
/// truthful (never happens with PPPoE-sized packets).
pub fn emit(buf: &mut Vec<u8>, code: Code, identifier: u8, data: &[u8]) {
    let data = &data[..data.len().min(usize::from(u16::MAX) - HEADER_LEN)];
    // Cannot overflow: bounded just above.
    let length = (data.len() + HEADER_LEN) as u16;
    buf.push(code.into());
    buf.push(identifier);
    buf.extend_from_slice(&length.to_be_bytes());
    buf.extend_from_slice(data);
}

/// A control packet as a fresh `Vec<u8>`.
pub fn packet(code: Code, identifier: u8, data: &[u8]) -> Vec<u8> {
    let mut buf = Vec::with_capacity(HEADER_LEN + data.len());
    emit(&mut buf, code, identifier, data);
    buf
}

/// One option TLV of a Configure-* packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Opt<'a> {
    /// Option type.
    pub kind: u8,
    /// Option value (the bytes after type and length).
    pub value: &'a [u8],
    /// The whole TLV as received, for echoing in a Configure-Reject.
    pub raw: &'a [u8],
}

/// Iterator over the options of a Configure-Request/Ack/Nak/Reject.
///
/// Yields `Err` once for a malformed option (length 0 or 1, or running past
/// the end) and then stops.
#[derive(Debug, Clone)]
pub struct Options<'a> {
    rest: &'a [u8],
    failed: bool,
}

/// Iterate the options in a Configure-* packet's data.
pub fn options(data: &[u8]) -> Options<'_> {
    Options {
        rest: data,
        failed: false,
    }
}

impl<'a> Iterator for Options<'a> {
    type Item = Result<Opt<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.rest.is_empty() {
            return None;
        }
        let (kind, len) = match self.rest {
            [kind, len, ..] => (*kind, usize::from(*len)),
            _ => {
                self.failed = true;
                return Some(Err(Error::Truncated {
                    need: 2,
                    have: self.rest.len(),
                }));
            }
        };
        if len < 2 {
            self.failed = true;
            return Some(Err(Error::Malformed("option length < 2")));
        }
        if len > self.rest.len() {
            self.failed = true;
            return Some(Err(Error::BadLength {
                claimed: len,
                available: self.rest.len(),
            }));
        }
        let (raw, rest) = self.rest.split_at(len);
        self.rest = rest;
        Some(Ok(Opt {
            kind,
            value: &raw[2..],
            raw,
        }))
    }
}

/// Check that all options of `data` are well formed.
pub fn validate_options(data: &[u8]) -> Result<(), Error> {
    options(data).try_for_each(|o| o.map(|_| ()))
}

/// Appends option TLVs to a buffer (RFC 1661 §6).
#[derive(Debug)]
pub struct OptionWriter<'a> {
    buf: &'a mut Vec<u8>,
}

impl<'a> OptionWriter<'a> {
    /// Largest value an option can carry (length is one octet, header 2).
    pub const MAX_VALUE: usize = 253;

    pub fn new(buf: &'a mut Vec<u8>) -> Self {
        OptionWriter { buf }
    }

    /// Append `type, length, value`. A value longer than [`Self::MAX_VALUE`]
    /// is truncated (no option we build comes close).
    pub fn push(&mut self, kind: u8, value: &[u8]) -> &mut Self {
        let value = &value[..value.len().min(Self::MAX_VALUE)];
        self.buf.push(kind);
        // Bounded by MAX_VALUE + 2 = 255.
        self.buf.push((value.len() + 2) as u8);
        self.buf.extend_from_slice(value);
        self
    }

    pub fn push_u16(&mut self, kind: u8, value: u16) -> &mut Self {
        self.push(kind, &value.to_be_bytes())
    }

    pub fn push_u32(&mut self, kind: u8, value: u32) -> &mut Self {
        self.push(kind, &value.to_be_bytes())
    }

    pub fn push_ipv4(&mut self, kind: u8, value: Ipv4Addr) -> &mut Self {
        self.push(kind, &value.octets())
    }

    /// Bytes written so far into the underlying buffer.
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }
}

/// Read a big-endian u16 option value of exactly two bytes.
pub fn value_u16(value: &[u8]) -> Option<u16> {
    <[u8; 2]>::try_from(value).ok().map(u16::from_be_bytes)
}

/// Read a big-endian u32 option value of exactly four bytes.
pub fn value_u32(value: &[u8]) -> Option<u32> {
    <[u8; 4]>::try_from(value).ok().map(u32::from_be_bytes)
}

/// Read an IPv4 address option value of exactly four bytes.
pub fn value_ipv4(value: &[u8]) -> Option<Ipv4Addr> {
    <[u8; 4]>::try_from(value).ok().map(Ipv4Addr::from)
}

#[cfg(test)]
mod test {
    use super::*;

    /// LCP Configure-Request id 1: MRU 1492, Auth CHAP-MD5, Magic 0x01020304.
    static CONF_REQ: [u8; 19] = [
        0x01, 0x01, 0x00, 0x13, // code, id, length 19
        0x01, 0x04, 0x05, 0xd4, // MRU 1492
        0x03, 0x05, 0xc2, 0x23, 0x05, // Auth CHAP MD5
        0x05, 0x06, 0x01, 0x02, 0x03, 0x04, // Magic
    ];

    #[test]
    fn parse_conf_req() {
        let (h, data) = parse(&CONF_REQ).unwrap();
        assert_eq!(h.code, Code::ConfReq);
        assert_eq!(h.identifier, 1);
        assert_eq!(h.length, 19);
        let opts: Vec<_> = options(data).map(Result::unwrap).collect();
        assert_eq!(opts.len(), 3);
        assert_eq!(opts[0].kind, 1);
        assert_eq!(value_u16(opts[0].value), Some(1492));
        assert_eq!(opts[1].kind, 3);
        assert_eq!(opts[1].value, &[0xc2, 0x23, 0x05]);
        assert_eq!(opts[1].raw, &[0x03, 0x05, 0xc2, 0x23, 0x05]);
        assert_eq!(value_u32(opts[2].value), Some(0x0102_0304));
    }

    #[test]
    fn emit_conf_req() {
        let mut data = Vec::new();
        OptionWriter::new(&mut data)
            .push_u16(1, 1492)
            .push(3, &[0xc2, 0x23, 0x05])
            .push_u32(5, 0x0102_0304);
        assert_eq!(packet(Code::ConfReq, 1, &data), CONF_REQ);
    }

    #[test]
    fn trailing_padding_ignored() {
        let mut buf = CONF_REQ.to_vec();
        buf.extend_from_slice(&[0; 10]);
        let (h, data) = parse(&buf).unwrap();
        assert_eq!(h.length, 19);
        assert_eq!(data, &CONF_REQ[4..]);
    }

    #[test]
    fn bad_lengths() {
        assert_eq!(
            parse(&[1, 2, 0]),
            Err(Error::Truncated { need: 4, have: 3 })
        );
        assert!(matches!(parse(&[1, 2, 0, 3]), Err(Error::Malformed(_))));
        assert_eq!(
            parse(&[1, 2, 0, 8, 0]),
            Err(Error::BadLength {
                claimed: 8,
                available: 5
            })
        );
        let (h, data) = parse(&[6, 9, 0, 4]).unwrap();
        assert_eq!((h.code, h.identifier, data.len()), (Code::TermAck, 9, 0));
    }

    #[test]
    fn codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Code::from(v)), v);
        }
        assert_eq!(Code::from(13), Code::TimeRemaining);
        assert_eq!(Code::from(14), Code::Unknown(14));
    }

    #[test]
    fn malformed_options() {
        // length 0
        let mut it = options(&[1, 0, 5, 6]);
        assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
        assert!(it.next().is_none());
        // length 1
        let mut it = options(&[1, 4, 5, 220, 7, 1]);
        assert!(it.next().unwrap().is_ok());
        assert!(matches!(it.next(), Some(Err(Error::Malformed(_)))));
        assert!(it.next().is_none());
        // runs past the end
        let mut it = options(&[5, 6, 1, 2]);
        assert_eq!(
            it.next(),
            Some(Err(Error::BadLength {
                claimed: 6,
                available: 4
            }))
        );
        assert!(it.next().is_none());
        // lone type octet
        assert_eq!(
            options(&[1, 4, 5, 220, 3]).nth(1),
            Some(Err(Error::Truncated { need: 2, have: 1 }))
        );
        assert!(validate_options(&[1, 4, 5, 220]).is_ok());
        assert!(validate_options(&[1, 4, 5]).is_err());
        // empty value is fine (len 2)
        let o = options(&[7, 2]).next().unwrap().unwrap();
        assert_eq!((o.kind, o.value.len()), (7, 0));
    }

    #[test]
    fn value_helpers_check_size() {
        assert_eq!(value_u16(&[1]), None);
        assert_eq!(value_u32(&[1, 2, 3]), None);
        assert_eq!(value_ipv4(&[10, 0, 0, 1]), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!(value_ipv4(&[10, 0, 0, 1, 5]), None);
    }

    #[test]
    fn protocol_field() {
        assert_eq!(parse_protocol(&[0xc0, 0x21, 9]), Ok((0xc021, &[9u8][..])));
        assert!(parse_protocol(&[0xc0]).is_err());
    }

    #[test]
    fn option_writer_truncates_long_values() {
        let mut buf = Vec::new();
        OptionWriter::new(&mut buf).push(9, &[0xaa; 300]);
        assert_eq!(buf.len(), 255);
        assert_eq!(buf[1], 255);
        assert!(validate_options(&buf).is_ok());
    }
}
