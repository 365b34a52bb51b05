//! pppd-format secrets (`pap-secrets`/`chap-secrets`) and credential checks.
//!
//! # File format (as `man pppd`, "AUTHENTICATION")
//! One entry per line: `client server secret [address ...]`.
//! - Words are separated by blanks. A word starting with `#` begins a comment
//!   that runs to the end of the line (a `#` inside a word is literal).
//! - Parts of a word may be quoted with `"` or `'`; quoted text may hold blanks
//!   and `#`. Backslash escapes work in and out of quotes: `\\`, `\"`, `\'`,
//!   `\n`, `\r`, `\t`, `\xHH`, `\ooo` (octal); any other `\c` means `c`.
//! - `*` as client or server matches any name.
//! - Addresses: missing or `*` → one from the pool; an IPv4 address → that
//!   static address (the first one listed is used; more may follow).
//!   pppd's `-` (no address), subnets and `!` exclusions are refused with a
//!   message, as is `@/path` secret indirection.
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
use std::path::Path;

use md5::{Digest, Md5};

use crate::config::ConfigError;
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
    origin: String,
    line: usize,
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

    /// Reads and parses a pppd secrets file.
    pub fn load(path: &Path) -> Result<Secrets, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            what: "secrets file",
            source,
        })?;
        Secrets::parse(&text, &path.display().to_string())
    }

    /// Parses secrets text; `origin` names it in errors (usually the path).
    pub fn parse(text: &str, origin: &str) -> Result<Secrets, ConfigError> {
        let mut entries = Vec::new();
        for (i, line) in text.lines().enumerate() {
            let lineno = i + 1;
            let at = |message: String| ConfigError::At {
                origin: origin.to_string(),
                line: lineno,
                column: None,
                message,
            };
            let words = split_words(line).map_err(at)?;
            if words.is_empty() {
                continue;
            }
            if words.len() < 3 {
                return Err(at(format!(
                    "expected `client server secret [address ...]` but found {} word(s); \
                     quote a secret that holds blanks or starts with #",
                    words.len()
                )));
            }
            let text_of = |w: &[u8], what: &str| {
                String::from_utf8(w.to_vec())
                    .map_err(|_| at(format!("the {what} name is not valid UTF-8")))
            };
            let client = text_of(&words[0], "client")?;
            let server = text_of(&words[1], "server")?;
            for (name, what) in [(&client, "client"), (&server, "server")] {
                if name.is_empty() {
                    return Err(at(format!(
                        "the {what} name is empty; write a name or * for any"
                    )));
                }
            }
            let secret = &words[2];
            if secret.first() == Some(&b'@') {
                return Err(at(
                    "secrets read from a file (\"@/path\") are not supported; \
                     write the secret itself here"
                        .to_string(),
                ));
            }
            let mut address = None;
            for w in &words[3..] {
                let w = String::from_utf8_lossy(w);
                if let Some(a) = parse_address_word(&w).map_err(at)? {
                    address = address.or(Some(a));
                }
            }
            entries.push(Entry {
                client: Pattern::parse(&client),
                server: Pattern::parse(&server),
                secret: Secret::new(secret.clone()),
                address,
                origin: origin.to_string(),
                line: lineno,
            });
        }
        Ok(Secrets { entries })
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
        if ok {
            Verdict::Accept {
                static_address: e.address,
            }
        } else {
            Verdict::BadSecret
        }
    }

    /// Every static address, for [`crate::pool::Pool::reserve_static`].
    pub fn static_addresses(&self) -> impl Iterator<Item = Ipv4Addr> + '_ {
        self.entries.iter().filter_map(|e| e.address)
    }
}

/// One word of the address list: `Ok(None)` for `*`, the address for an
/// address; an error message (with the fix) otherwise. Shared with the
/// config's `[[users]] address`.
pub(crate) fn parse_address_word(w: &str) -> Result<Option<Ipv4Addr>, String> {
    if w == "*" {
        return Ok(None);
    }
    if w == "-" {
        return Err(
            "address \"-\" (no address allowed) is not supported: pppoe-bras serves \
             IPv4 subscribers only; write * for an address from the pool, or an address"
                .to_string(),
        );
    }
    if w.starts_with('!') || w.contains('/') {
        return Err(format!(
            "address {w:?}: subnets and ! exclusions are not supported; \
             write one address, or * for an address from the pool"
        ));
    }
    let a: Ipv4Addr = w.parse().map_err(|_| {
        format!(
            "address {w:?} is not an IPv4 address; write it like 172.16.0.101, \
             or * for an address from the pool"
        )
    })?;
    if a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] == 0
        || a.octets()[0] >= 240
    {
        return Err(format!(
            "address {w:?} cannot be given to a subscriber; write a unicast address"
        ));
    }
    Ok(Some(a))
}

/// Splits a secrets line into words (quotes, escapes and comments as in pppd).
fn split_words(line: &str) -> Result<Vec<Vec<u8>>, String> {
    let bytes = line.as_bytes();
    let mut words = Vec::new();
    let mut i = 0;
    loop {
        while bytes.get(i).is_some_and(u8::is_ascii_whitespace) {
            i += 1;
        }
        match bytes.get(i) {
            None | Some(b'#') => return Ok(words),
            Some(_) => {}
        }
        let mut word = Vec::new();
        while let Some(&c) = bytes.get(i) {
            if c.is_ascii_whitespace() {
                break;
            }
            i += 1;
            match c {
                b'"' | b'\'' => loop {
                    match bytes.get(i) {
                        None => {
                            let q = char::from(c);
                            return Err(format!(
                                "unterminated {q}-quoted string; add the closing {q} \
                                 (quoted strings cannot span lines)"
                            ));
                        }
                        Some(&b) if b == c => {
                            i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            i += 1;
                            word.push(unescape(bytes, &mut i)?);
                        }
                        Some(&b) => {
                            i += 1;
                            word.push(b);
                        }
                    }
                },
                b'\\' => word.push(unescape(bytes, &mut i)?),
                _ => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Decodes the escape after a backslash at `bytes[*i]`.
fn unescape(bytes: &[u8], i: &mut usize) -> Result<u8, String> {
    let Some(&c) = bytes.get(*i) else {
        return Err(
            "a backslash ends the line; line continuation is not supported, \
             join the lines (or write \\\\ for a backslash)"
                .to_string(),
        );
    };
    *i += 1;
    let digits = |i: &mut usize, radix: u32, max: usize| {
        let start = *i;
        while *i - start < max
            && bytes
                .get(*i)
                .is_some_and(|b| char::from(*b).is_digit(radix))
        {
            *i += 1;
        }
        std::str::from_utf8(&bytes[start..*i])
            .ok()
            .and_then(|s| u32::from_str_radix(s, radix).ok())
    };
    Ok(match c {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'x' => match digits(i, 16, 2) {
            Some(v) => v as u8,
            None => return Err("\\x must be followed by hex digits, like \\x41".to_string()),
        },
        b'0'..=b'7' => {
            *i -= 1;
            match digits(i, 8, 3).and_then(|v| u8::try_from(v).ok()) {
                Some(v) => v,
                None => return Err("octal escape above \\377".to_string()),
            }
        }
        other => other,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const BENCH: &str = "\
# Secrets for authentication using CHAP
# client\tserver\tsecret\t\t\tIP addresses
testuser1 * \"password\" 172.16.0.101
testuser2 * \"password\" 172.16.0.102
";

    fn a(s: &str) -> Ipv4Addr {
        s.parse().unwrap()
    }

    fn pap(p: &str) -> Credential {
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
    fn quoted_secret_with_blanks_and_hash() {
        // python3 -c "import hashlib; print(hashlib.md5(bytes([1]) + b'pass word #1'
        //   + bytes.fromhex('00112233445566778899aabbccddeeff')).hexdigest())"
        // → d3ec88d55b012e058c6ed92674db0f1b
        let s = Secrets::parse(
            "  'alice smith'\tbras \"pass word #1\"  # trailing comment\n",
            "x",
        )
        .unwrap();
        let e = &s.entries()[0];
        assert_eq!(e.client(), &Pattern::Exact("alice smith".into()));
        assert_eq!(e.server(), &Pattern::Exact("bras".into()));
        assert_eq!(e.static_address(), None);
        let challenge = hex("00112233445566778899aabbccddeeff");
        let cred = Credential::ChapMd5 {
            identifier: 1,
            challenge,
            response: hex("d3ec88d55b012e058c6ed92674db0f1b"),
        };
        assert_eq!(
            s.verify("alice smith", "bras", &cred),
            Verdict::Accept {
                static_address: None
            }
        );
        // Wrong server name: the entry does not apply.
        assert_eq!(
            s.verify("alice smith", "other", &cred),
            Verdict::UnknownUser
        );
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    #[test]
    fn escapes_comments_and_mixed_quoting() {
        let text = "\
# full-line comment

\t   # indented comment
a\\ b * pa#ss
c * 'it''s'\"\\x41\\101\\n\\\\\\q\" *
d * \"\"
";
        let s = Secrets::parse(text, "x").unwrap();
        assert_eq!(s.len(), 3);
        assert_eq!(s.entries()[0].client(), &Pattern::Exact("a b".into()));
        assert_eq!(s.entries()[0].secret().expose(), b"pa#ss");
        assert_eq!(s.entries()[1].secret().expose(), b"its\x41\x41\n\\q");
        assert_eq!(s.entries()[1].static_address(), None);
        // An empty secret matches only an empty password.
        assert!(matches!(
            s.verify("d", "x", &pap("")),
            Verdict::Accept { .. }
        ));
        assert_eq!(s.verify("d", "x", &pap("x")), Verdict::BadSecret);
        // CRLF line ends.
        let s = Secrets::parse("u * p 10.0.0.1\r\nv * q\r\n", "x").unwrap();
        assert_eq!(s.entries()[0].static_address(), Some(a("10.0.0.1")));
        assert_eq!(s.entries()[1].secret().expose(), b"q");
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
    fn first_address_of_a_list_is_the_static_one() {
        let s = Secrets::parse("u * p 10.0.0.5 10.0.0.6\nv * p * 10.0.0.7\n", "x").unwrap();
        assert_eq!(s.entries()[0].static_address(), Some(a("10.0.0.5")));
        assert_eq!(s.entries()[1].static_address(), Some(a("10.0.0.7")));
    }

    fn err(text: &str) -> String {
        Secrets::parse(text, "/etc/ppp/chap-secrets")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn bad_lines_name_file_line_and_fix() {
        let e = err("# ok\ntestuser1 * \"password 172.16.0.101\n");
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:2: unterminated \"-quoted"),
            "{e}"
        );
        assert!(e.contains("add the closing \""), "{e}");
        let e = err("\n\ntestuser1 * password 172.16.0.1011\n");
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:3: address \"172.16.0.1011\" is not an IPv4"),
            "{e}"
        );
        let e = err("testuser1 * \n");
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:1: expected `client server secret"),
            "{e}"
        );
        assert!(e.contains("found 2 word(s)"), "{e}");
        let e = err("u * @/etc/ppp/u.secret\n");
        assert!(e.contains(":1: secrets read from a file"), "{e}");
        let e = err("u * p -\n");
        assert!(
            e.contains(":1: address \"-\" (no address allowed) is not supported"),
            "{e}"
        );
        let e = err("u * p 10.0.0.0/24\n");
        assert!(e.contains("subnets and ! exclusions"), "{e}");
        let e = err("u * p 224.0.0.1\n");
        assert!(e.contains("cannot be given to a subscriber"), "{e}");
        let e = err("\"\" * p\n");
        assert!(e.contains(":1: the client name is empty"), "{e}");
        let e = err("u * p\\\n");
        assert!(e.contains(":1: a backslash ends the line"), "{e}");
        let e = err("u * '\\xg'\n");
        assert!(e.contains("\\x must be followed by hex digits"), "{e}");
        let e = err("u * '\\777'\n");
        assert!(e.contains("octal escape"), "{e}");
    }

    #[test]
    fn load_names_the_missing_file_and_merge_keeps_order() {
        let e = Secrets::load(Path::new("/nonexistent/chap-secrets")).unwrap_err();
        let msg = e.to_string();
        assert!(
            msg.starts_with("/nonexistent/chap-secrets: cannot read secrets file"),
            "{msg}"
        );
        let mut s = Secrets::parse("u * first\n", "a").unwrap();
        s.merge(Secrets::parse("u * second\nw * w\n", "b").unwrap());
        assert_eq!(s.len(), 3);
        assert!(matches!(
            s.verify("u", "x", &pap("first")),
            Verdict::Accept { .. }
        ));
        assert_eq!(s.verify("u", "x", &pap("second")), Verdict::BadSecret);
        s.push(Entry::new(
            Some("z"),
            None,
            Secret::new("zz"),
            None,
            "cfg",
            9,
        ));
        assert!(matches!(
            s.verify("z", "x", &pap("zz")),
            Verdict::Accept { .. }
        ));
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = Secrets::parse("testuser1 * \"hunter2-secret\" 172.16.0.101\n", "x").unwrap();
        let dbg = format!("{s:?} {:?}", s.entries()[0].secret());
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("***"), "{dbg}");
        assert!(dbg.contains("testuser1"), "{dbg}");
    }

    #[test]
    fn arbitrary_bytes_never_panic() {
        for text in [
            "\\",
            "'",
            "\"\\",
            "a b \\x",
            "a b \\0",
            "\u{0} \u{7f} é\"",
            "* * *\n* * * *",
        ] {
            let _ = Secrets::parse(text, "fuzz");
        }
    }
}
