//! RADIUS packets (RFC 2865 §3–5, RFC 2866, RFC 5176): header, attribute
//! TLVs (vendor-specific included), User-Password hiding (RFC 2865 §5.2),
//! Request/Response Authenticators, and the HMAC-MD5 Message-Authenticator
//! (RFC 2869 §5.14, RFC 3579 §3.2).
//!
//! Parsing never panics; building appends to a `Vec<u8>`. The shared secret
//! is only ever an argument: nothing here logs it.

use md5::{Digest as _, Md5};

use super::Error;

/// Packet codes.
pub mod code {
    pub const ACCESS_REQUEST: u8 = 1;
    pub const ACCESS_ACCEPT: u8 = 2;
    pub const ACCESS_REJECT: u8 = 3;
    pub const ACCOUNTING_REQUEST: u8 = 4;
    pub const ACCOUNTING_RESPONSE: u8 = 5;
    pub const ACCESS_CHALLENGE: u8 = 11;
    pub const DISCONNECT_REQUEST: u8 = 40;
    pub const DISCONNECT_ACK: u8 = 41;
    pub const DISCONNECT_NAK: u8 = 42;
    pub const COA_REQUEST: u8 = 43;
    pub const COA_ACK: u8 = 44;
    pub const COA_NAK: u8 = 45;
}

/// Attribute types.
pub mod attr {
    pub const USER_NAME: u8 = 1;
    pub const USER_PASSWORD: u8 = 2;
    pub const CHAP_PASSWORD: u8 = 3;
    pub const NAS_IP_ADDRESS: u8 = 4;
    pub const SERVICE_TYPE: u8 = 6;
    pub const FRAMED_PROTOCOL: u8 = 7;
    pub const FRAMED_IP_ADDRESS: u8 = 8;
    pub const FRAMED_MTU: u8 = 12;
    /// RFC 2869 §5.18: the name of an address pool.
    pub const FRAMED_POOL: u8 = 88;
    /// RFC 3162 §2.3.
    pub const FRAMED_IPV6_PREFIX: u8 = 97;
    /// RFC 4818.
    pub const DELEGATED_IPV6_PREFIX: u8 = 123;
    pub const REPLY_MESSAGE: u8 = 18;
    pub const STATE: u8 = 24;
    pub const CLASS: u8 = 25;
    pub const VENDOR_SPECIFIC: u8 = 26;
    pub const SESSION_TIMEOUT: u8 = 27;
    pub const IDLE_TIMEOUT: u8 = 28;
    pub const CALLING_STATION_ID: u8 = 31;
    pub const PROXY_STATE: u8 = 33;
    pub const NAS_IDENTIFIER: u8 = 32;
    pub const ACCT_STATUS_TYPE: u8 = 40;
    pub const ACCT_DELAY_TIME: u8 = 41;
    pub const ACCT_INPUT_OCTETS: u8 = 42;
    pub const ACCT_OUTPUT_OCTETS: u8 = 43;
    pub const ACCT_SESSION_ID: u8 = 44;
    pub const ACCT_SESSION_TIME: u8 = 46;
    pub const ACCT_INPUT_PACKETS: u8 = 47;
    pub const ACCT_OUTPUT_PACKETS: u8 = 48;
    pub const ACCT_TERMINATE_CAUSE: u8 = 49;
    pub const ACCT_INPUT_GIGAWORDS: u8 = 52;
    pub const ACCT_OUTPUT_GIGAWORDS: u8 = 53;
    pub const EVENT_TIMESTAMP: u8 = 55;
    pub const CHAP_CHALLENGE: u8 = 60;
    pub const NAS_PORT_TYPE: u8 = 61;
    pub const ACCT_INTERIM_INTERVAL: u8 = 85;
    pub const NAS_PORT_ID: u8 = 87;
    pub const MESSAGE_AUTHENTICATOR: u8 = 80;
    pub const ERROR_CAUSE: u8 = 101;
}

/// Microsoft's vendor id and its DNS attributes (RFC 2548 §2.4).
pub const VENDOR_MICROSOFT: u32 = 311;
pub const MS_PRIMARY_DNS_SERVER: u8 = 28;
pub const MS_SECONDARY_DNS_SERVER: u8 = 29;

/// Header length (code, identifier, length, authenticator).
pub const HEADER_LEN: usize = 20;
/// Largest packet (RFC 2865 §3).
pub const MAX_LEN: usize = 4096;

/// A parsed or to-be-built packet. Attributes keep their order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Packet {
    pub code: u8,
    pub identifier: u8,
    pub authenticator: [u8; 16],
    pub attrs: Vec<(u8, Vec<u8>)>,
}

impl Packet {
    pub fn new(code: u8, identifier: u8) -> Packet {
        Packet {
            code,
            identifier,
            authenticator: [0; 16],
            attrs: Vec::new(),
        }
    }

    /// Parses a datagram (trailing bytes past Length are ignored, §3).
    pub fn parse(b: &[u8]) -> Result<Packet, Error> {
        if b.len() < HEADER_LEN {
            return Err(Error::Truncated {
                need: HEADER_LEN,
                have: b.len(),
            });
        }
        let len = usize::from(u16::from_be_bytes([b[2], b[3]]));
        if !(HEADER_LEN..=MAX_LEN).contains(&len) {
            return Err(Error::Malformed("RADIUS length out of 20..=4096"));
        }
        if len > b.len() {
            return Err(Error::BadLength {
                claimed: len,
                available: b.len(),
            });
        }
        let mut authenticator = [0; 16];
        authenticator.copy_from_slice(&b[4..20]);
        let mut attrs = Vec::new();
        let mut rest = &b[HEADER_LEN..len];
        while !rest.is_empty() {
            if rest.len() < 2 {
                return Err(Error::Malformed("truncated attribute"));
            }
            let alen = usize::from(rest[1]);
            if alen < 2 || alen > rest.len() {
                return Err(Error::Malformed("attribute length"));
            }
            attrs.push((rest[0], rest[2..alen].to_vec()));
            rest = &rest[alen..];
        }
        Ok(Packet {
            code: b[0],
            identifier: b[1],
            authenticator,
            attrs,
        })
    }

    /// Adds an attribute; values over 253 bytes are cut (callers keep
    /// within limits: names, ids and messages are short).
    pub fn add(&mut self, t: u8, v: &[u8]) -> &mut Self {
        let v = &v[..v.len().min(253)];
        self.attrs.push((t, v.to_vec()));
        self
    }

    pub fn add_u32(&mut self, t: u8, v: u32) -> &mut Self {
        self.add(t, &v.to_be_bytes())
    }

    /// A Vendor-Specific attribute with one sub-attribute.
    pub fn add_vendor(&mut self, vendor: u32, t: u8, v: &[u8]) -> &mut Self {
        let mut b = vendor.to_be_bytes().to_vec();
        let v = &v[..v.len().min(247)];
        b.push(t);
        b.push(v.len() as u8 + 2);
        b.extend_from_slice(v);
        self.add(attr::VENDOR_SPECIFIC, &b)
    }

    /// An IPv6 prefix attribute (RFC 3162 §2.3 layout: reserved, prefix
    /// length, the significant prefix bytes), the host bits cleared; `None`
    /// when absent or malformed (length over 128, bytes missing or extra).
    pub fn get_ipv6_prefix(&self, t: u8) -> Option<(std::net::Ipv6Addr, u8)> {
        let v = self.get(t)?;
        let (&len, bytes) = v.get(1..)?.split_first()?;
        if len > 128 || bytes.len() > 16 || bytes.len() < usize::from(len).div_ceil(8) {
            return None;
        }
        let mut a = [0u8; 16];
        a[..bytes.len()].copy_from_slice(bytes);
        let m = if len == 0 {
            0
        } else {
            u128::MAX << (128 - u32::from(len))
        };
        Some((std::net::Ipv6Addr::from(u128::from_be_bytes(a) & m), len))
    }

    /// The first value of an attribute.
    pub fn get(&self, t: u8) -> Option<&[u8]> {
        self.attrs
            .iter()
            .find(|(a, _)| *a == t)
            .map(|(_, v)| v.as_slice())
    }

    /// Every value of an attribute, in order.
    pub fn all(&self, t: u8) -> impl Iterator<Item = &[u8]> {
        self.attrs
            .iter()
            .filter(move |(a, _)| *a == t)
            .map(|(_, v)| v.as_slice())
    }

    pub fn get_u32(&self, t: u8) -> Option<u32> {
        self.get(t)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(u32::from_be_bytes)
    }

    pub fn get_ipv4(&self, t: u8) -> Option<std::net::Ipv4Addr> {
        self.get(t)
            .and_then(|v| <[u8; 4]>::try_from(v).ok())
            .map(std::net::Ipv4Addr::from)
    }

    pub fn get_str(&self, t: u8) -> Option<String> {
        self.get(t).map(|v| String::from_utf8_lossy(v).into_owned())
    }

    /// The first sub-attribute `t` of vendor `vendor` (RFC 2865 §5.26
    /// suggested format: type, length, value; several per VSA allowed).
    pub fn vendor(&self, vendor: u32, t: u8) -> Option<&[u8]> {
        self.all(attr::VENDOR_SPECIFIC).find_map(|v| {
            if v.len() < 4 || u32::from_be_bytes([v[0], v[1], v[2], v[3]]) != vendor {
                return None;
            }
            let mut rest = &v[4..];
            while rest.len() >= 2 {
                let l = usize::from(rest[1]);
                if l < 2 || l > rest.len() {
                    return None;
                }
                if rest[0] == t {
                    return Some(&rest[2..l]);
                }
                rest = &rest[l..];
            }
            None
        })
    }

    /// The wire bytes as they stand (authenticator as set).
    pub fn encode(&self) -> Vec<u8> {
        let mut b = Vec::with_capacity(64);
        b.push(self.code);
        b.push(self.identifier);
        b.extend_from_slice(&[0, 0]);
        b.extend_from_slice(&self.authenticator);
        for (t, v) in &self.attrs {
            b.push(*t);
            b.push(v.len() as u8 + 2);
            b.extend_from_slice(v);
        }
        let len = b.len() as u16;
        b[2..4].copy_from_slice(&len.to_be_bytes());
        b
    }

    /// An Access-Request: `authenticator` must be fresh random bytes. A
    /// Message-Authenticator is appended (always, RFC 3579 §3.2 and the
    /// BlastRADIUS advice) and signed.
    pub fn encode_access_request(&self, secret: &[u8]) -> Vec<u8> {
        let mut p = self.clone();
        p.attrs.retain(|(t, _)| *t != attr::MESSAGE_AUTHENTICATOR);
        // First, so no attribute can be spliced in front of it.
        p.attrs
            .insert(0, (attr::MESSAGE_AUTHENTICATOR, vec![0; 16]));
        let mut b = p.encode();
        sign_message_authenticator(&mut b, secret);
        b
    }

    /// Accounting-Request, Disconnect-Request (RFC 2866 §3, RFC 5176 §2.3):
    /// the authenticator is MD5(packet with a zero authenticator ‖ secret).
    pub fn encode_with_request_digest(&self, secret: &[u8]) -> Vec<u8> {
        let mut p = self.clone();
        p.authenticator = [0; 16];
        let mut b = p.encode();
        let d = md5_of(&[&b, secret]);
        b[4..20].copy_from_slice(&d);
        b
    }

    /// A response to a request with authenticator `request_auth`: signs the
    /// Message-Authenticator when present, then the Response Authenticator
    /// (RFC 2865 §3: MD5(code ‖ id ‖ length ‖ request auth ‖ attributes ‖ secret)).
    pub fn encode_response(&self, request_auth: &[u8; 16], secret: &[u8]) -> Vec<u8> {
        let mut p = self.clone();
        p.authenticator = *request_auth;
        let mut b = p.encode();
        if find_attr(&b, attr::MESSAGE_AUTHENTICATOR).is_some() {
            sign_message_authenticator(&mut b, secret);
        }
        let d = md5_of(&[&b, secret]);
        b[4..20].copy_from_slice(&d);
        b
    }
}

fn md5_of(parts: &[&[u8]]) -> [u8; 16] {
    let mut h = Md5::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

/// HMAC-MD5 (RFC 2104).
pub fn hmac_md5(key: &[u8], data: &[&[u8]]) -> [u8; 16] {
    let mut k = [0u8; 64];
    if key.len() > 64 {
        k[..16].copy_from_slice(&md5_of(&[key]));
    } else {
        k[..key.len()].copy_from_slice(key);
    }
    let ipad: Vec<u8> = k.iter().map(|b| b ^ 0x36).collect();
    let opad: Vec<u8> = k.iter().map(|b| b ^ 0x5c).collect();
    let mut parts: Vec<&[u8]> = vec![&ipad];
    parts.extend_from_slice(data);
    let inner = md5_of(&parts);
    md5_of(&[&opad, &inner])
}

/// Offset of the first attribute `t`'s value in encoded bytes.
fn find_attr(b: &[u8], t: u8) -> Option<usize> {
    let len = usize::from(u16::from_be_bytes([*b.get(2)?, *b.get(3)?])).min(b.len());
    let mut i = HEADER_LEN;
    while i + 2 <= len {
        let l = usize::from(b[i + 1]);
        if l < 2 || i + l > len {
            return None;
        }
        if b[i] == t {
            return Some(i + 2);
        }
        i += l;
    }
    None
}

/// Fill the (zeroed or not) Message-Authenticator of `b` in place: HMAC-MD5
/// over the packet with it zeroed, keyed by the secret (RFC 3579 §3.2).
/// `b`'s authenticator field must already hold what the MAC covers.
fn sign_message_authenticator(b: &mut [u8], secret: &[u8]) {
    let Some(at) = find_attr(b, attr::MESSAGE_AUTHENTICATOR) else {
        return;
    };
    b[at..at + 16].fill(0);
    let mac = hmac_md5(secret, &[b]);
    b[at..at + 16].copy_from_slice(&mac);
}

/// Why a response was not accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("bad Response Authenticator")]
    ResponseAuthenticator,
    #[error("missing Message-Authenticator")]
    NoMessageAuthenticator,
    #[error("bad Message-Authenticator")]
    MessageAuthenticator,
}

/// Check a response datagram against its request's authenticator:
/// Response Authenticator, and the Message-Authenticator (which must be
/// present when `require_ma`).
pub fn verify_response(
    b: &[u8],
    request_auth: &[u8; 16],
    secret: &[u8],
    require_ma: bool,
) -> Result<(), VerifyError> {
    let len = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    let b = &b[..len];
    let mut copy = b.to_vec();
    copy[4..20].copy_from_slice(request_auth);
    if md5_of(&[&copy, secret]) != b[4..20] {
        return Err(VerifyError::ResponseAuthenticator);
    }
    match find_attr(&copy, attr::MESSAGE_AUTHENTICATOR) {
        None if require_ma => Err(VerifyError::NoMessageAuthenticator),
        None => Ok(()),
        Some(at) => {
            let got: [u8; 16] = copy
                .get(at..at + 16)
                .and_then(|s| s.try_into().ok())
                .ok_or(VerifyError::MessageAuthenticator)?;
            copy[at..at + 16].fill(0);
            if hmac_md5(secret, &[&copy]) == got {
                Ok(())
            } else {
                Err(VerifyError::MessageAuthenticator)
            }
        }
    }
}

/// Check a request whose authenticator is MD5(zero authenticator ‖ secret)
/// (Accounting-Request, Disconnect-Request), and its Message-Authenticator
/// if present (RFC 5176 §3.3).
pub fn verify_request_digest(b: &[u8], secret: &[u8]) -> bool {
    let len = usize::from(u16::from_be_bytes([b[2], b[3]])).min(b.len());
    let b = &b[..len];
    let mut copy = b.to_vec();
    copy[4..20].fill(0);
    if md5_of(&[&copy, secret]) != b[4..20] {
        return false;
    }
    match find_attr(&copy, attr::MESSAGE_AUTHENTICATOR) {
        None => true,
        Some(at) if at + 16 <= copy.len() => {
            let got = copy[at..at + 16].to_vec();
            copy[at..at + 16].fill(0);
            hmac_md5(secret, &[&copy]) == got[..]
        }
        Some(_) => false,
    }
}

/// The value of an IPv6 prefix attribute (RFC 3162 §2.3: reserved, prefix
/// length, then only the bytes the length covers).
pub fn ipv6_prefix_value(prefix: std::net::Ipv6Addr, len: u8) -> Vec<u8> {
    let len = len.min(128);
    let n = usize::from(len).div_ceil(8);
    let mut v = vec![0, len];
    v.extend_from_slice(&prefix.octets()[..n]);
    v
}

/// RFC 2865 §5.2: the password padded to 16 bytes and XORed with
/// MD5(secret ‖ previous block), the first block chained from the Request
/// Authenticator. At most 128 bytes.
pub fn hide_password(password: &[u8], secret: &[u8], request_auth: &[u8; 16]) -> Vec<u8> {
    let p = &password[..password.len().min(128)];
    let n = p.len().div_ceil(16).max(1) * 16;
    let mut out = vec![0u8; n];
    out[..p.len()].copy_from_slice(p);
    let mut prev: Vec<u8> = request_auth.to_vec();
    for chunk in out.chunks_mut(16) {
        let b = md5_of(&[secret, &prev]);
        for (c, k) in chunk.iter_mut().zip(b) {
            *c ^= k;
        }
        prev = chunk.to_vec();
    }
    out
}

/// The reverse of [`hide_password`] (trailing NULs removed).
pub fn unhide_password(hidden: &[u8], secret: &[u8], request_auth: &[u8; 16]) -> Vec<u8> {
    let mut out = Vec::with_capacity(hidden.len());
    let mut prev: Vec<u8> = request_auth.to_vec();
    for chunk in hidden.chunks(16) {
        let b = md5_of(&[secret, &prev]);
        out.extend(chunk.iter().zip(b).map(|(c, k)| c ^ k));
        prev = chunk.to_vec();
    }
    while out.last() == Some(&0) {
        out.pop();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn unhex(s: &str) -> Vec<u8> {
        let s: String = s.split_whitespace().collect();
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    const SECRET: &[u8] = b"xyzzy5461";

    /// RFC 2865 §7.1: User-Name "nemo", password "arctangent".
    const RFC_REQUEST: &str = "01 00 00 38 0f 40 3f 94 73 97 80 57 bd 83 d5 cb
        98 f4 22 7a 01 06 6e 65 6d 6f 02 12 0d be 70 8d 93 d4 13 ce 31 96 e4 3f
        78 2a 0a ee 04 06 c0 a8 01 10 05 06 00 00 00 03";
    const RFC_ACCEPT: &str = "02 00 00 26 86 fe 22 0e 76 24 ba 2a 10 05 f6 bf
        9b 55 e0 b2 06 06 00 00 00 01 0f 06 00 00 00 00 0e 06 c0 a8 01 03";

    #[test]
    fn rfc2865_pap_example_byte_exact() {
        let want = unhex(RFC_REQUEST);
        let auth: [u8; 16] = want[4..20].try_into().unwrap();
        let mut p = Packet::new(code::ACCESS_REQUEST, 0);
        p.authenticator = auth;
        p.add(attr::USER_NAME, b"nemo");
        p.add(
            attr::USER_PASSWORD,
            &hide_password(b"arctangent", SECRET, &auth),
        );
        p.add(attr::NAS_IP_ADDRESS, &[192, 168, 1, 16]);
        p.add_u32(5, 3); // NAS-Port
        assert_eq!(p.encode(), want);
        let parsed = Packet::parse(&want).unwrap();
        assert_eq!(parsed, p);
        let pw = unhide_password(parsed.get(attr::USER_PASSWORD).unwrap(), SECRET, &auth);
        assert_eq!(pw, b"arctangent");
    }

    #[test]
    fn rfc2865_accept_example_verifies() {
        let req = unhex(RFC_REQUEST);
        let auth: [u8; 16] = req[4..20].try_into().unwrap();
        let acc = unhex(RFC_ACCEPT);
        assert_eq!(verify_response(&acc, &auth, SECRET, false), Ok(()));
        // The example predates RFC 3579: without MA it fails when required.
        assert_eq!(
            verify_response(&acc, &auth, SECRET, true),
            Err(VerifyError::NoMessageAuthenticator)
        );
        assert_eq!(
            verify_response(&acc, &auth, b"wrong", false),
            Err(VerifyError::ResponseAuthenticator)
        );
        let p = Packet::parse(&acc).unwrap();
        assert_eq!(p.get_u32(attr::SERVICE_TYPE), Some(1));
        assert_eq!(
            p.get_ipv4(14),
            Some(std::net::Ipv4Addr::new(192, 168, 1, 3))
        );
        // Rebuilt from its attributes, the response is the same bytes.
        assert_eq!(p.encode_response(&auth, SECRET), acc);
    }

    #[test]
    fn hmac_md5_rfc2202_vectors() {
        assert_eq!(
            hmac_md5(&[0x0b; 16], &[b"Hi There"]).to_vec(),
            unhex("9294727a3638bb1c13f48ef8158bfc9d")
        );
        assert_eq!(
            hmac_md5(b"Jefe", &[b"what do ya want ", b"for nothing?"]).to_vec(),
            unhex("750c783e6ab0b503eaa86e310a5db738")
        );
        // Key longer than a block is hashed first (RFC 2202 test 6).
        assert_eq!(
            hmac_md5(
                &[0xaa; 80],
                &[b"Test Using Larger Than Block-Size Key - Hash Key First"]
            )
            .to_vec(),
            unhex("6b1ab7fe4bd7bf8f0b62e6ce61b9d0cd")
        );
    }

    #[test]
    fn message_authenticator_round_trip_and_tamper() {
        let auth = [7u8; 16];
        let mut p = Packet::new(code::ACCESS_REQUEST, 9);
        p.authenticator = auth;
        p.add(attr::USER_NAME, b"u");
        let b = p.encode_access_request(SECRET);
        assert_eq!(b[20], attr::MESSAGE_AUTHENTICATOR);
        assert_eq!(b[21], 18);
        // The server's check: HMAC over the request with MA zeroed.
        let mut z = b.clone();
        z[22..38].fill(0);
        assert_eq!(hmac_md5(SECRET, &[&z]).to_vec(), b[22..38].to_vec());

        let mut r = Packet::new(code::ACCESS_ACCEPT, 9);
        r.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]);
        r.add(attr::REPLY_MESSAGE, b"hi");
        let rb = r.encode_response(&auth, SECRET);
        assert_eq!(verify_response(&rb, &auth, SECRET, true), Ok(()));
        // A forged Response Authenticator over changed attributes still
        // fails on the MAC (the BlastRADIUS attack changes attributes).
        let mut forged = rb.clone();
        let n = forged.len();
        forged[n - 1] = b'!';
        let mut c = forged.clone();
        c[4..20].copy_from_slice(&auth);
        let d = md5_of(&[&c, SECRET]);
        forged[4..20].copy_from_slice(&d);
        assert_eq!(
            verify_response(&forged, &auth, SECRET, true),
            Err(VerifyError::MessageAuthenticator)
        );
    }

    #[test]
    fn request_digest_and_vendor_attributes() {
        let mut p = Packet::new(code::ACCOUNTING_REQUEST, 3);
        p.add_u32(attr::ACCT_STATUS_TYPE, 1);
        p.add(attr::ACCT_SESSION_ID, b"abc");
        let b = p.encode_with_request_digest(SECRET);
        let mut z = b.clone();
        z[4..20].fill(0);
        assert_eq!(md5_of(&[&z, SECRET]).to_vec(), b[4..20].to_vec());
        assert!(verify_request_digest(&b, SECRET));
        assert!(!verify_request_digest(&b, b"other"));

        let mut v = Packet::new(code::ACCESS_ACCEPT, 1);
        v.add_vendor(VENDOR_MICROSOFT, MS_PRIMARY_DNS_SERVER, &[192, 0, 2, 53]);
        v.add_vendor(VENDOR_MICROSOFT, MS_SECONDARY_DNS_SERVER, &[192, 0, 2, 54]);
        let enc = v.encode();
        assert_eq!(
            enc[20..32].to_vec(),
            unhex("1a0c 0000 0137 1c06 c000 0235"),
            "RFC 2548 layout"
        );
        let back = Packet::parse(&enc).unwrap();
        assert_eq!(
            back.vendor(VENDOR_MICROSOFT, MS_SECONDARY_DNS_SERVER),
            Some(&[192, 0, 2, 54][..])
        );
        assert_eq!(back.vendor(9, MS_PRIMARY_DNS_SERVER), None);
    }

    #[test]
    fn long_password_chains_blocks() {
        let auth = [1u8; 16];
        let pw = b"a password longer than sixteen bytes";
        let h = hide_password(pw, SECRET, &auth);
        assert_eq!(h.len(), 48);
        // The second block is keyed by the first ciphertext block.
        let b2 = md5_of(&[SECRET, &h[..16]]);
        assert_eq!(h[16] ^ b2[0], pw[16]);
        assert_eq!(unhide_password(&h, SECRET, &auth), pw);
    }

    #[test]
    fn ipv6_prefix_values_carry_only_the_covered_bytes_and_read_back() {
        let a: std::net::Ipv6Addr = "2001:db8:200:7700::".parse().unwrap();
        let v = ipv6_prefix_value(a, 56);
        assert_eq!(v, [0, 56, 0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0x77]);
        let mut p = Packet::new(code::ACCOUNTING_REQUEST, 1);
        p.add(attr::DELEGATED_IPV6_PREFIX, &v);
        p.add(attr::FRAMED_IPV6_PREFIX, &ipv6_prefix_value(a, 64));
        assert_eq!(
            p.get_ipv6_prefix(attr::DELEGATED_IPV6_PREFIX),
            Some((a, 56))
        );
        assert_eq!(p.get(attr::FRAMED_IPV6_PREFIX).map(<[u8]>::len), Some(10));
        assert_eq!(ipv6_prefix_value(a, 0), [0, 0]);
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        let good = unhex(RFC_REQUEST);
        for n in 0..good.len() {
            let _ = Packet::parse(&good[..n]);
        }
        let mut bad = good.clone();
        bad[21] = 1; // attribute length 1
        assert!(Packet::parse(&bad).is_err());
        let mut bad = good.clone();
        bad[3] = 0xff; // longer than the datagram
        assert!(Packet::parse(&bad).is_err());
    }
}
