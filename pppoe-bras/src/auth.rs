//! pppd-format secrets (`pap-secrets`/`chap-secrets`) and credential checks.
//!
//! # File format
//! pppd's (`man pppd`, "AUTHENTICATION"): one entry per logical line,
//! `client server secret [address ...]`; parsed, with the rules and their
//! messages, in `config::secrets`.
//!
//! Both PAP (RFC 1334) and CHAP-MD5 (RFC 1994) use the same entries, as
//! pppd does when both files hold the same lines.
//!
//! # Matching
//! Among entries whose client matches the user and whose server is `*` or
//! equals the server name, an exact client beats `*` and an exact server
//! beats `*` (client first); among equals the earliest entry wins (pppd's
//! "best match").
//!
//! Secrets never show up in `Debug` output: [`Secret`] prints `***`.

use std::fmt;
use std::net::Ipv4Addr;

use md5::{Digest, Md5};

use crate::ppp::Credential;

/// A password or CHAP secret. `Debug` prints `***`; compare with
/// [`Secret::matches`] (constant time for equal lengths).
#[derive(Clone, Default)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Secret {
        Secret(bytes.into())
    }

    /// The secret bytes. Do not log them.
    pub fn expose(&self) -> &[u8] {
        &self.0
    }

    /// Constant-time comparison (the length is not hidden).
    pub fn matches(&self, candidate: &[u8]) -> bool {
        ct_eq(&self.0, candidate)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

impl PartialEq for Secret {
    fn eq(&self, other: &Secret) -> bool {
        ct_eq(&self.0, &other.0)
    }
}

impl Eq for Secret {}

/// Compares without an early exit, so the time does not depend on where the
/// first difference is.
fn ct_eq(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
    std::hint::black_box(diff) == 0
}

/// CHAP-MD5 response (RFC 1994 §4.1): MD5(Identifier ‖ secret ‖ Challenge).
/// The authenticator compares it; the emulator (peer role) sends it.
pub fn chap_md5(identifier: u8, secret: &[u8], challenge: &[u8]) -> [u8; 16] {
    let mut h = Md5::new();
    h.update([identifier]);
    h.update(secret);
    h.update(challenge);
    h.finalize().into()
}

/// The outcome of [`Secrets::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Right secret. `static_address` is the entry's address, `None` → pool.
    Accept { static_address: Option<Ipv4Addr> },
    /// No entry matches this user (and server name).
    UnknownUser,
    /// An entry matches but the password / CHAP response is wrong.
    BadSecret,
    /// Right secret, but the entry allows no address at all (`-` in its
    /// address column): the login is refused.
    NoAddressAllowed,
}

/// Client or server field.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pattern {
    /// `*`
    Any,
    Exact(String),
}

impl Pattern {
    fn parse(word: &str) -> Pattern {
        if word == "*" {
            Pattern::Any
        } else {
            Pattern::Exact(word.to_string())
        }
    }

    /// 0 for no match, 1 for `*`, 2 for an exact match.
    fn score(&self, name: &str) -> u8 {
        match self {
            Pattern::Any => 1,
            Pattern::Exact(n) if n == name => 2,
            Pattern::Exact(_) => 0,
        }
    }
}

/// One secrets line (or one `[[users]]` table of the config).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    client: Pattern,
    server: Pattern,
    secret: Secret,
    address: Option<Ipv4Addr>,
    /// `-` in the address column: no address may be given.
    no_address: bool,
    /// Static IPv6: the session's /64 and its delegated prefix, instead of
    /// ones from the pools.
    ipv6: (Option<Prefix6>, Option<Prefix6>),
    origin: String,
    line: usize,
}

/// An IPv6 prefix and its length.
pub type Prefix6 = (std::net::Ipv6Addr, u8);

/// An IPv6 prefix word of a secrets line or a `[[users]]` key: the host
/// bits zero, at most /64. `/64` is the session's /64, shorter its
/// delegated prefix. The message says how to fix anything else.
pub fn parse_prefix6(w: &str) -> Result<Prefix6, String> {
    let bad = || {
        format!(
            "{w:?} is not an IPv6 prefix; write the user's /64 like 2001:db8:100:42::/64 \
             or its delegated prefix like 2001:db8:200:4200::/56"
        )
    };
    let (a, l) = w.split_once('/').ok_or_else(bad)?;
    let a: std::net::Ipv6Addr = a.parse().map_err(|_| bad())?;
    let l: u8 = l
        .parse()
        .ok()
        .filter(|l| (1..=64).contains(l))
        .ok_or_else(bad)?;
    let mask = u128::MAX << (128 - u32::from(l));
    if u128::from(a) & !mask != 0 {
        return Err(format!(
            "{w:?} has host bits set; write {}/{l}",
            std::net::Ipv6Addr::from(u128::from(a) & mask)
        ));
    }
    Ok((a, l))
}

impl Entry {
    /// An entry; `None` for client/server means `*`.
    pub fn new(
        client: Option<&str>,
        server: Option<&str>,
        secret: Secret,
        address: Option<Ipv4Addr>,
        origin: &str,
        line: usize,
    ) -> Entry {
        Entry {
            client: client.map_or(Pattern::Any, Pattern::parse),
            server: server.map_or(Pattern::Any, Pattern::parse),
            secret,
            address,
            no_address: false,
            ipv6: (None, None),
            origin: origin.to_string(),
            line,
        }
    }

    pub fn client(&self) -> &Pattern {
        &self.client
    }

    pub fn server(&self) -> &Pattern {
        &self.server
    }

    pub fn secret(&self) -> &Secret {
        &self.secret
    }

    /// The static address, `None` → from the pool.
    pub fn static_address(&self) -> Option<Ipv4Addr> {
        self.address
    }

    /// The same entry with `-` in its address column: the user may have
    /// no address.
    pub fn without_address(self) -> Entry {
        Entry {
            no_address: true,
            ..self
        }
    }

    /// The same entry with static IPv6 prefixes: `prefixes` as parsed by
    /// [`parse_prefix6`], a /64 the session's, a shorter one its delegated
    /// prefix (the first of each kind counts).
    pub fn with_ipv6(mut self, prefixes: &[Prefix6]) -> Entry {
        for &p in prefixes {
            if p.1 == 64 {
                self.ipv6.0 = self.ipv6.0.or(Some(p));
            } else {
                self.ipv6.1 = self.ipv6.1.or(Some(p));
            }
        }
        self
    }

    /// Static IPv6: (the session's /64, its delegated prefix).
    pub fn ipv6(&self) -> (Option<Prefix6>, Option<Prefix6>) {
        self.ipv6
    }

    /// `-` in the address column: the user may have no address.
    pub fn no_address(&self) -> bool {
        self.no_address
    }

    /// Where the entry was written: file name (or config file) and line.
    pub fn origin(&self) -> (&str, usize) {
        (&self.origin, self.line)
    }
}

/// The secrets of all files, in order.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Secrets {
    entries: Vec<Entry>,
}

impl Secrets {
    pub fn new() -> Secrets {
        Secrets::default()
    }

    /// Appends `other`'s entries after ours (ours win ties).
    pub fn merge(&mut self, other: Secrets) {
        self.entries.extend(other.entries);
    }

    /// Appends one entry (e.g. a `[[users]]` table of the config).
    pub fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
    }

    pub fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The best entry for `user` talking to `server_name` (see module doc).
    pub fn lookup(&self, user: &str, server_name: &str) -> Option<&Entry> {
        let mut best: Option<(u8, &Entry)> = None;
        for e in &self.entries {
            let (c, s) = (e.client.score(user), e.server.score(server_name));
            if c == 0 || s == 0 {
                continue;
            }
            let score = c * 2 + s;
            if best.is_none_or(|(b, _)| score > b) {
                best = Some((score, e));
            }
        }
        best.map(|(_, e)| e)
    }

    /// Checks `cred` for `user`: PAP compares the password, CHAP-MD5 the
    /// response to MD5(identifier ‖ secret ‖ challenge) (RFC 1994 §4.1).
    pub fn verify(&self, user: &str, server_name: &str, cred: &Credential) -> Verdict {
        let Some(e) = self.lookup(user, server_name) else {
            return Verdict::UnknownUser;
        };
        let ok = match cred {
            Credential::Pap { password } => e.secret.matches(password),
            Credential::ChapMd5 {
                identifier,
                challenge,
                response,
            } => ct_eq(
                &chap_md5(*identifier, e.secret.expose(), challenge),
                response,
            ),
        };
        if !ok {
            Verdict::BadSecret
        } else if e.no_address {
            Verdict::NoAddressAllowed
        } else {
            Verdict::Accept {
                static_address: e.address,
            }
        }
    }

    /// Every static address, for [`crate::pool::Pool::reserve_static`].
    pub fn static_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.entries.iter().filter_map(|e| e.address)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    const BENCH: &str = "\
# Secrets for authentication using CHAP
# client\tserver\tsecret\t\t\tIP addresses
testuser1 * \"password\" 172.16.0.101
testuser2 * \"password\" 172.16.0.102
";

    pub(crate) fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    pub(crate) fn pap(p: &str) -> Credential {
        Credential::Pap {
            password: p.as_bytes().to_vec(),
        }
    }

    #[test]
    fn classic_bench_lines() {
        let s = Secrets::parse(BENCH, "chap-secrets").unwrap();
        assert_eq!(s.len(), 2);
        let e = &s.entries()[0];
        assert_eq!(e.client(), &Pattern::Exact("testuser1".into()));
        assert_eq!(e.server(), &Pattern::Any);
        assert_eq!(e.secret().expose(), b"password");
        assert_eq!(e.static_address(), Some(a("172.16.0.101")));
        assert_eq!(e.origin(), ("chap-secrets", 3));
        assert_eq!(
            s.verify("testuser2", "pppoe-bras", &pap("password")),
            Verdict::Accept {
                static_address: Some(a("172.16.0.102"))
            }
        );
        assert_eq!(
            s.static_addresses().collect::<Vec<_>>(),
            vec![a("172.16.0.101"), a("172.16.0.102")]
        );
    }

    #[test]
    fn pap_right_wrong_and_unknown_user() {
        let s = Secrets::parse(BENCH, "x").unwrap();
        assert!(matches!(
            s.verify("testuser1", "any", &pap("password")),
            Verdict::Accept { .. }
        ));
        assert_eq!(
            s.verify("testuser1", "any", &pap("passwordx")),
            Verdict::BadSecret
        );
        assert_eq!(s.verify("testuser1", "any", &pap("")), Verdict::BadSecret);
        assert_eq!(
            s.verify("nobody", "any", &pap("password")),
            Verdict::UnknownUser
        );
        // Names are case-sensitive, as in pppd.
        assert_eq!(
            s.verify("TESTUSER1", "any", &pap("password")),
            Verdict::UnknownUser
        );
    }

    #[test]
    fn chap_md5_known_vector() {
        // python3 -c "import hashlib; print(hashlib.md5(bytes([0x2a]) +
        //   b'password' + bytes(range(16))).hexdigest())"
        // → 3e0949a5572c2d338c182b7f6377471d
        let expected: [u8; 16] = [
            0x3e, 0x09, 0x49, 0xa5, 0x57, 0x2c, 0x2d, 0x33, 0x8c, 0x18, 0x2b, 0x7f, 0x63, 0x77,
            0x47, 0x1d,
        ];
        let challenge: Vec<u8> = (0..16).collect();
        assert_eq!(chap_md5(0x2a, b"password", &challenge), expected);
        let s = Secrets::parse(BENCH, "x").unwrap();
        let cred = |identifier, response: &[u8]| Credential::ChapMd5 {
            identifier,
            challenge: challenge.clone(),
            response: response.to_vec(),
        };
        assert_eq!(
            s.verify("testuser1", "bras", &cred(0x2a, &expected)),
            Verdict::Accept {
                static_address: Some(a("172.16.0.101"))
            }
        );
        // Another identifier, a flipped bit or a truncated response fails.
        assert_eq!(
            s.verify("testuser1", "bras", &cred(0x2b, &expected)),
            Verdict::BadSecret
        );
        let mut bad = expected;
        bad[15] ^= 1;
        assert_eq!(
            s.verify("testuser1", "bras", &cred(0x2a, &bad)),
            Verdict::BadSecret
        );
        assert_eq!(
            s.verify("testuser1", "bras", &cred(0x2a, &expected[..15])),
            Verdict::BadSecret
        );
        assert_eq!(
            s.verify("ghost", "bras", &cred(0x2a, &expected)),
            Verdict::UnknownUser
        );
    }

    #[test]
    fn wildcard_user_and_exact_before_wildcard() {
        let text = "\
* * \"guest\"
bob * bobpw 10.0.0.2
bob bras bobpw-here 10.0.0.3
bob * second-bob
";
        let s = Secrets::parse(text, "x").unwrap();
        // Anyone with the guest password gets in, from the pool.
        assert_eq!(
            s.verify("whoever", "bras", &pap("guest")),
            Verdict::Accept {
                static_address: None
            }
        );
        assert_eq!(
            s.verify("whoever", "bras", &pap("nope")),
            Verdict::BadSecret
        );
        // Exact client + exact server beats exact client + * beats * *.
        assert_eq!(
            s.verify("bob", "bras", &pap("bobpw-here")),
            Verdict::Accept {
                static_address: Some(a("10.0.0.3"))
            }
        );
        assert_eq!(s.verify("bob", "bras", &pap("guest")), Verdict::BadSecret);
        // Another server name: the first exact-client line wins over the later one.
        assert_eq!(
            s.verify("bob", "other", &pap("bobpw")),
            Verdict::Accept {
                static_address: Some(a("10.0.0.2"))
            }
        );
        assert_eq!(
            s.verify("bob", "other", &pap("second-bob")),
            Verdict::BadSecret
        );
    }

    #[test]
    fn server_column_is_matched_against_the_ac_name() {
        let text = "\
bob pppoe-bras here 10.0.0.1
bob other-bras there 10.0.0.2
* pppoe-bras anyone
";
        let s = Secrets::parse(text, "x").unwrap();
        assert_eq!(
            s.verify("bob", "pppoe-bras", &pap("here")),
            Verdict::Accept {
                static_address: Some(a("10.0.0.1"))
            }
        );
        assert_eq!(
            s.verify("bob", "pppoe-bras", &pap("there")),
            Verdict::BadSecret
        );
        assert_eq!(
            s.verify("bob", "other-bras", &pap("there")),
            Verdict::Accept {
                static_address: Some(a("10.0.0.2"))
            }
        );
        assert_eq!(s.verify("bob", "third", &pap("here")), Verdict::UnknownUser);
        assert!(matches!(
            s.verify("alice", "pppoe-bras", &pap("anyone")),
            Verdict::Accept { .. }
        ));
        assert_eq!(
            s.verify("alice", "third", &pap("anyone")),
            Verdict::UnknownUser
        );
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secrets::parse("testuser1 * \"hunter2-secret\" 172.16.0.101\n", "x").unwrap();
        let dbg = format!("{s:?} {:?}", s.entries()[0].secret());
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"), "{dbg}");
        assert!(dbg.contains("testuser1"), "{dbg}");
    }
}
