//! PPPoE header and discovery tags (RFC 2516, RFC 4638).
//!
//! ```text
//!  0                   1                   2                   3
//!  0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1 2 3 4 5 6 7 8 9 0 1
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |  VER  | TYPE  |      CODE     |          SESSION_ID           |
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! |            LENGTH             |           payload             ~
//! +-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+-+
//! ```
//! Discovery payloads are a list of TLV tags (RFC 2516 §5 and Appendix A).
//! Parsing never panics; unknown codes and tags are kept as `Unknown(..)`.

use super::eth::{EthHeader, ETHERTYPE_PPPOE_DISCOVERY, ETHERTYPE_PPPOE_SESSION};
use super::Error;

/// PPPoE header length.
pub const HEADER_LEN: usize = 6;
/// Tag header length (type + length).
pub const TAG_HEADER_LEN: usize = 4;
/// VER = 1, TYPE = 1 (RFC 2516 §4).
pub const VER_TYPE: u8 = 0x11;

enum_with_unknown! {
    /// PPPoE CODE field (RFC 2516 §5).
    pub enum Code(u8) {
        /// Session stage data.
        Session = 0x00,
        /// Active Discovery Offer.
        Pado = 0x07,
        /// Active Discovery Initiation.
        Padi = 0x09,
        /// Active Discovery Request.
        Padr = 0x19,
        /// Active Discovery Session-confirmation.
        Pads = 0x65,
        /// Active Discovery Terminate.
        Padt = 0xa7,
    }
}

enum_with_unknown! {
    /// Discovery TAG_TYPE (RFC 2516 Appendix A, RFC 4638).
    pub enum TagType(u16) {
        EndOfList = 0x0000,
        ServiceName = 0x0101,
        AcName = 0x0102,
        HostUniq = 0x0103,
        AcCookie = 0x0104,
        VendorSpecific = 0x0105,
        RelaySessionId = 0x0110,
        /// RFC 4638.
        PppMaxPayload = 0x0120,
        ServiceNameError = 0x0201,
        AcSystemError = 0x0202,
        GenericError = 0x0203,
    }
}

/// The fixed PPPoE header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    pub code: Code,
    pub session_id: u16,
    /// Payload length (bytes after the 6-byte header).
    pub length: u16,
}

impl Header {
    /// Parses the header and returns the payload of exactly `length` bytes.
    /// Bytes after it (Ethernet padding to 60 bytes) are ignored.
    pub fn parse(buf: &[u8]) -> Result<(Header, &[u8]), Error> {
        let Some(&[vt, code, s0, s1, l0, l1]) = buf.get(..HEADER_LEN) else {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: buf.len(),
            });
        };
        if vt != VER_TYPE {
            return Err(Error::BadVersion(vt));
        }
        let length = u16::from_be_bytes([l0, l1]);
        let rest = &buf[HEADER_LEN..];
        let Some(payload) = rest.get(..usize::from(length)) else {
            return Err(Error::BadLength {
                claimed: usize::from(length),
                available: rest.len(),
            });
        };
        Ok((
            Header {
                code: Code::from(code),
                session_id: u16::from_be_bytes([s0, s1]),
                length,
            },
            payload,
        ))
    }

    /// Appends the 6-byte header.
    pub fn emit(&self, out: &mut Vec<u8>) {
        out.push(VER_TYPE);
        out.push(self.code.into());
        out.extend_from_slice(&self.session_id.to_be_bytes());
        out.extend_from_slice(&self.length.to_be_bytes());
    }
}

/// One discovery tag, borrowing its value from the packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tag<'a> {
    pub ty: TagType,
    pub value: &'a [u8],
}

/// Iterator over the tags of a discovery payload.
///
/// Yields `Err` once (then stops) when a tag runs past the end of the payload;
/// stops at End-Of-List; unknown tags are yielded.
#[derive(Debug, Clone)]
pub struct Tags<'a> {
    rest: &'a [u8],
    done: bool,
}

/// Iterates over the tags of a discovery payload (the bytes after the header).
pub fn tags(payload: &[u8]) -> Tags<'_> {
    Tags {
        rest: payload,
        done: false,
    }
}

impl<'a> Iterator for Tags<'a> {
    type Item = Result<Tag<'a>, Error>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done || self.rest.is_empty() {
            return None;
        }
        let Some(&[t0, t1, l0, l1]) = self.rest.get(..TAG_HEADER_LEN) else {
            self.done = true;
            return Some(Err(Error::Truncated {
                need: TAG_HEADER_LEN,
                have: self.rest.len(),
            }));
        };
        let ty = TagType::from(u16::from_be_bytes([t0, t1]));
        let len = usize::from(u16::from_be_bytes([l0, l1]));
        let body = &self.rest[TAG_HEADER_LEN..];
        let Some(value) = body.get(..len) else {
            self.done = true;
            return Some(Err(Error::BadLength {
                claimed: len,
                available: body.len(),
            }));
        };
        if ty == TagType::EndOfList {
            self.done = true;
            return None;
        }
        self.rest = &body[len..];
        Some(Ok(Tag { ty, value }))
    }
}

/// The tags a discovery peer cares about, picked out of a payload in one
/// pass. For single-instance tags the first occurrence wins; unknown tags
/// are skipped.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DiscoveryTags<'a> {
    /// First Service-Name.
    pub service_name: Option<&'a [u8]>,
    /// Number of Service-Name tags (a PADO may offer several).
    pub service_name_count: usize,
    pub ac_name: Option<&'a [u8]>,
    pub host_uniq: Option<&'a [u8]>,
    pub ac_cookie: Option<&'a [u8]>,
    pub relay_session_id: Option<&'a [u8]>,
    /// RFC 4638 PPP-Max-Payload value; `None` if absent or not 2 bytes long.
    pub ppp_max_payload: Option<u16>,
    pub service_name_error: Option<&'a [u8]>,
    pub ac_system_error: Option<&'a [u8]>,
    pub generic_error: Option<&'a [u8]>,
}

impl<'a> DiscoveryTags<'a> {
    /// Walks all tags; fails if one is truncated.
    pub fn parse(payload: &'a [u8]) -> Result<Self, Error> {
        let mut t = DiscoveryTags::default();
        for tag in tags(payload) {
            let Tag { ty, value } = tag?;
            let slot = match ty {
                TagType::ServiceName => {
                    t.service_name_count += 1;
                    &mut t.service_name
                }
                TagType::AcName => &mut t.ac_name,
                TagType::HostUniq => &mut t.host_uniq,
                TagType::AcCookie => &mut t.ac_cookie,
                TagType::RelaySessionId => &mut t.relay_session_id,
                TagType::ServiceNameError => &mut t.service_name_error,
                TagType::AcSystemError => &mut t.ac_system_error,
                TagType::GenericError => &mut t.generic_error,
                TagType::PppMaxPayload => {
                    if t.ppp_max_payload.is_none() {
                        if let &[hi, lo] = value {
                            t.ppp_max_payload = Some(u16::from_be_bytes([hi, lo]));
                        }
                    }
                    continue;
                }
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value);
            }
        }
        Ok(t)
    }
}

/// Builds a discovery packet (header + tags) in a caller's buffer; the
/// LENGTH field is fixed up by [`TagWriter::finish`].
#[derive(Debug)]
pub struct TagWriter<'a> {
    out: &'a mut Vec<u8>,
    start: usize,
}

impl<'a> TagWriter<'a> {
    /// Writes the PPPoE header with a placeholder length.
    pub fn new(out: &'a mut Vec<u8>, code: Code, session_id: u16) -> Self {
        let start = out.len();
        Header {
            code,
            session_id,
            length: 0,
        }
        .emit(out);
        TagWriter { out, start }
    }

    /// Appends one tag. A value longer than 65535 bytes is truncated (never
    /// happens for values taken from a received frame).
    pub fn tag(&mut self, ty: TagType, value: &[u8]) -> &mut Self {
        let len = u16::try_from(value.len()).unwrap_or(u16::MAX);
        self.out.extend_from_slice(&u16::from(ty).to_be_bytes());
        self.out.extend_from_slice(&len.to_be_bytes());
        self.out.extend_from_slice(&value[..usize::from(len)]);
        self
    }

    /// Bytes of payload written so far.
    pub fn payload_len(&self) -> usize {
        self.out.len() - self.start - HEADER_LEN
    }

    /// Writes the LENGTH field; returns the payload length.
    pub fn finish(self) -> usize {
        let len = self.payload_len();
        let field = u16::try_from(len).unwrap_or(u16::MAX).to_be_bytes();
        self.out[self.start + 4..self.start + 6].copy_from_slice(&field);
        len
    }
}

/// Appends a complete discovery packet (header + tags, length filled in).
pub fn emit_discovery(out: &mut Vec<u8>, code: Code, session_id: u16, tags: &[(TagType, &[u8])]) {
    let mut w = TagWriter::new(out, code, session_id);
    for (ty, value) in tags {
        w.tag(*ty, value);
    }
    w.finish();
}

/// Appends a session-stage packet: header (code 0) + PPP protocol + info.
/// LENGTH = 2 + `info.len()` (RFC 2516 §6).
pub fn emit_session(out: &mut Vec<u8>, session_id: u16, ppp_protocol: u16, info: &[u8]) {
    let len = u16::try_from(info.len() + 2).unwrap_or(u16::MAX);
    Header {
        code: Code::Session,
        session_id,
        length: len,
    }
    .emit(out);
    out.extend_from_slice(&ppp_protocol.to_be_bytes());
    out.extend_from_slice(&info[..usize::from(len) - 2]);
}

/// Parses a session-stage packet: returns (session id, PPP protocol, info).
/// Padding after LENGTH is ignored.
pub fn parse_session(payload: &[u8]) -> Result<(u16, u16, &[u8]), Error> {
    let (h, body) = Header::parse(payload)?;
    if h.code != Code::Session {
        return Err(Error::Malformed("session frame with non-zero code"));
    }
    let Some(&[p0, p1]) = body.get(..2) else {
        return Err(Error::Truncated {
            need: 2,
            have: body.len(),
        });
    };
    Ok((h.session_id, u16::from_be_bytes([p0, p1]), &body[2..]))
}

/// A complete Ethernet frame carrying a discovery packet (EtherType 0x8863
/// is forced, the rest of `eth` is used as is).
pub fn discovery_frame(
    eth: &EthHeader,
    code: Code,
    session_id: u16,
    tags: &[(TagType, &[u8])],
) -> Vec<u8> {
    let mut out = Vec::with_capacity(64);
    EthHeader {
        ethertype: ETHERTYPE_PPPOE_DISCOVERY,
        ..*eth
    }
    .emit(&mut out);
    emit_discovery(&mut out, code, session_id, tags);
    out
}

/// A complete Ethernet frame carrying a session packet (EtherType 0x8864 is
/// forced).
pub fn session_frame(eth: &EthHeader, session_id: u16, ppp_protocol: u16, info: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(eth.header_len() + HEADER_LEN + 2 + info.len());
    EthHeader {
        ethertype: ETHERTYPE_PPPOE_SESSION,
        ..*eth
    }
    .emit(&mut out);
    emit_session(&mut out, session_id, ppp_protocol, info);
    out
}

#[cfg(test)]
mod test {
    use super::*;
    use crate::ppp::rng::Rng;
    use crate::wire::eth::{Vlans, BROADCAST};

    /// A PADI as sent by rp-pppoe / pppd: blank Service-Name, 4-byte Host-Uniq,
    /// padded to 60 bytes.
    const PADI_FRAME: [u8; 60] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, // dst broadcast
        0x02, 0x00, 0x00, 0x00, 0x00, 0x01, // src
        0x88, 0x63, // discovery
        0x11, 0x09, 0x00, 0x00, 0x00, 0x0c, // ver/type, PADI, sid 0, len 12
        0x01, 0x01, 0x00, 0x00, // Service-Name ""
        0x01, 0x03, 0x00, 0x04, 0xde, 0xad, 0xbe, 0xef, // Host-Uniq
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
    ];

    #[test]
    fn codes_round_trip() {
        for v in 0..=255u8 {
            assert_eq!(u8::from(Code::from(v)), v);
        }
        for v in [
            0u16, 0x101, 0x102, 0x103, 0x104, 0x105, 0x110, 0x120, 0x201, 0x202, 0x203, 0x9999,
        ] {
            assert_eq!(u16::from(TagType::from(v)), v);
        }
        assert_eq!(Code::from(0x65), Code::Pads);
        assert_eq!(TagType::from(0x0120), TagType::PppMaxPayload);
        assert_eq!(TagType::from(0x0111), TagType::Unknown(0x0111));
    }

    #[test]
    fn parse_padi_ignores_padding() {
        let (eth, p) = EthHeader::parse(&PADI_FRAME).unwrap();
        assert_eq!(eth.dst, BROADCAST);
        assert_eq!(eth.ethertype, ETHERTYPE_PPPOE_DISCOVERY);
        let (h, body) = Header::parse(p).unwrap();
        assert_eq!(
            h,
            Header {
                code: Code::Padi,
                session_id: 0,
                length: 12
            }
        );
        assert_eq!(body.len(), 12);
        let all: Vec<_> = tags(body).collect::<Result<_, _>>().unwrap();
        assert_eq!(
            all,
            vec![
                Tag {
                    ty: TagType::ServiceName,
                    value: b""
                },
                Tag {
                    ty: TagType::HostUniq,
                    value: &[0xde, 0xad, 0xbe, 0xef]
                },
            ]
        );
        let t = DiscoveryTags::parse(body).unwrap();
        assert_eq!(t.service_name, Some(&b""[..]));
        assert_eq!(t.service_name_count, 1);
        assert_eq!(t.host_uniq, Some(&[0xde, 0xad, 0xbe, 0xef][..]));
        assert_eq!(t.ac_cookie, None);
    }

    #[test]
    fn build_padi_byte_exact() {
        let eth = EthHeader {
            dst: BROADCAST,
            src: [2, 0, 0, 0, 0, 1],
            vlans: Vlans::NONE,
            ethertype: 0,
        };
        let f = discovery_frame(
            &eth,
            Code::Padi,
            0,
            &[
                (TagType::ServiceName, b""),
                (TagType::HostUniq, &[0xde, 0xad, 0xbe, 0xef]),
            ],
        );
        assert_eq!(f, &PADI_FRAME[..32]);
    }

    #[test]
    fn header_errors() {
        assert_eq!(
            Header::parse(&[0x11, 0x09, 0, 0, 0]),
            Err(Error::Truncated { need: 6, have: 5 })
        );
        assert_eq!(
            Header::parse(&[0x21, 0x09, 0, 0, 0, 0]),
            Err(Error::BadVersion(0x21))
        );
        assert_eq!(
            Header::parse(&[0x12, 0x09, 0, 0, 0, 0]),
            Err(Error::BadVersion(0x12))
        );
        assert_eq!(
            Header::parse(&[0x11, 0x09, 0, 0, 0, 3, 1, 2]),
            Err(Error::BadLength {
                claimed: 3,
                available: 2
            })
        );
    }

    #[test]
    fn tag_iterator_stops_on_truncation_and_eol() {
        // Truncated tag header.
        let mut it = tags(&[0x01, 0x01, 0x00]);
        assert!(matches!(it.next(), Some(Err(Error::Truncated { .. }))));
        assert_eq!(it.next(), None);
        // Value past the end.
        let mut it = tags(&[0x01, 0x03, 0x00, 0x05, 1, 2]);
        assert!(matches!(
            it.next(),
            Some(Err(Error::BadLength {
                claimed: 5,
                available: 2
            }))
        ));
        assert_eq!(it.next(), None);
        // End-Of-List stops the walk even if garbage follows.
        let v: Vec<_> = tags(&[0x01, 0x01, 0, 0, 0, 0, 0, 0, 0xff]).collect();
        assert_eq!(
            v,
            vec![Ok(Tag {
                ty: TagType::ServiceName,
                value: b""
            })]
        );
        // Unknown tags are yielded.
        let v: Vec<_> = tags(&[0x77, 0x77, 0, 1, 9]).collect();
        assert_eq!(
            v,
            vec![Ok(Tag {
                ty: TagType::Unknown(0x7777),
                value: &[9]
            })]
        );
        assert!(DiscoveryTags::parse(&[0x01, 0x01, 0x00, 0x05]).is_err());
    }

    #[test]
    fn discovery_tags_first_wins_and_max_payload() {
        let mut out = Vec::new();
        emit_discovery(
            &mut out,
            Code::Pado,
            0,
            &[
                (TagType::AcName, b"bras"),
                (TagType::ServiceName, b"a"),
                (TagType::ServiceName, b"b"),
                (TagType::PppMaxPayload, &[0x05, 0xdc]),
                (
                    TagType::VendorSpecific,
                    &[0, 0, 0x0d, 0xe9, 1, 2, b'x', b'y'],
                ),
                (TagType::AcCookie, &[7; 16]),
            ],
        );
        let (h, body) = Header::parse(&out).unwrap();
        assert_eq!(usize::from(h.length), out.len() - 6);
        let t = DiscoveryTags::parse(body).unwrap();
        assert_eq!(t.ac_name, Some(&b"bras"[..]));
        assert_eq!(t.service_name, Some(&b"a"[..]));
        assert_eq!(t.service_name_count, 2);
        assert_eq!(t.ppp_max_payload, Some(1500));
        assert_eq!(t.ac_cookie, Some(&[7u8; 16][..]));
    }

    #[test]
    fn session_round_trip_and_padding() {
        let eth = EthHeader {
            dst: [2, 0, 0, 0, 0, 1],
            src: [2, 0, 0, 0, 0, 0xfe],
            vlans: Vlans::NONE,
            ethertype: 0,
        };
        let info = [0x01, 0x01, 0x00, 0x04]; // LCP Configure-Request, no options
        let mut f = session_frame(&eth, 0x1234, 0xc021, &info);
        assert_eq!(
            &f[12..],
            &[0x88, 0x64, 0x11, 0x00, 0x12, 0x34, 0x00, 0x06, 0xc0, 0x21, 1, 1, 0, 4]
        );
        f.resize(60, 0);
        let (_, p) = EthHeader::parse(&f).unwrap();
        assert_eq!(parse_session(p).unwrap(), (0x1234, 0xc021, &info[..]));
        // A discovery code in a session frame is rejected.
        assert!(parse_session(&[0x11, 0x09, 0, 0, 0, 2, 0xc0, 0x21]).is_err());
        // Length 1 cannot hold the protocol field.
        assert!(parse_session(&[0x11, 0x00, 0, 1, 0, 1, 0xc0]).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        let mut s = Rng::seeded(0x1234_5678_9abc_def0);
        for _ in 0..20_000 {
            let len = (s.next_u64() % 80) as usize;
            let mut buf: Vec<u8> = (0..len).map(|_| s.next_u64() as u8).collect();
            if len > 0 && s.next_u64() & 1 == 0 {
                buf[0] = VER_TYPE;
            }
            if let Ok((_, body)) = Header::parse(&buf) {
                let _ = DiscoveryTags::parse(body);
                for t in tags(body) {
                    let _ = t;
                }
            }
            let _ = parse_session(&buf);
            let _ = DiscoveryTags::parse(&buf);
        }
    }
}
