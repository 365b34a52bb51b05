//! pppd-format secrets (`pap-secrets`/`chap-secrets`) and credential checks.
//!
//! # File format (as `man pppd`, "AUTHENTICATION")
//! One entry per logical line: `client server secret [address ...]`.
//! - Words are separated by blanks. A word starting with `#` begins a comment
//!   that runs to the end of the line (a `#` inside a word or inside quotes
//!   is literal).
//! - Parts of a word may be quoted with `"` or `'`; quoted text may hold blanks
//!   and `#`. Backslash escapes work in and out of quotes: `\\`, `\"`, `\'`,
//!   `\n`, `\r`, `\t`, `\xHH`, `\ooo` (octal); any other `\c` means `c`.
//! - A backslash at the end of a line (before the newline) joins the next
//!   line to this one, in and out of quotes, as in pppd; errors name the
//!   physical line they are on.
//! - `*` as client or server matches any name. The server column is matched
//!   against `ac_name` (the name the BRAS authenticates as).
//! - A secret `@/path` is read from that file: its first word (same quoting
//!   rules), as pppd does. An unreadable or empty file stops the load with
//!   `file:line` (pppd would skip the line with a warning). A secret that
//!   starts with `@` but not `@/` is taken literally, as in pppd.
//! - Addresses (the words after the secret):
//!   - none, or `*` → an address from the pool. pppd would allow *no*
//!     address for a line of three words; a BRAS that owns a pool hands one
//!     out, as pppoe-bras always did (write `-` to refuse addresses);
//!   - `-` as the first address word → the client may use no address at all
//!     (as pppd); pppoe-bras then refuses the login with
//!     `reason=no-address-allowed` instead of letting a session come up that
//!     can never carry traffic; words after `-` are ignored, as in pppd;
//!   - IPv4 addresses → the first one listed is the user's static address
//!     (when it is busy the pool gives another, see [`crate::pool`]); `*`
//!     among them changes nothing (the pool is always the fallback);
//!   - pppd's subnets (`a.b.c.d/n`, `/n+`) and `!` exclusions restrict which
//!     addresses a user may have. pppoe-bras cannot restrict its pool per
//!     user, and silently handing out an address outside what the line
//!     allows would widen the admin's rule, so these stop the load with a
//!     message saying what to write instead.
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
            no_address: false,
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
    /// `@/path` secrets are read from their files.
    pub fn parse(text: &str, origin: &str) -> Result<Secrets, ConfigError> {
        let mut entries = Vec::new();
        let mut words = Words::new(text.as_bytes());
        loop {
            let at = |line: usize, message: String| ConfigError::At {
                origin: origin.to_string(),
                line,
                column: None,
                message,
            };
            let line = words.next_line().map_err(|(l, m)| at(l, m))?;
            let Some((lineno, words_of_line)) = line else {
                break;
            };
            let at = |message: String| at(lineno, message);
            if words_of_line.len() < 3 {
                return Err(at(format!(
                    "expected `client server secret [address ...]` but found {} word(s); \
                     quote a secret that holds blanks or starts with #",
                    words_of_line.len()
                )));
            }
            let text_of = |w: &[u8], what: &str| {
                String::from_utf8(w.to_vec())
                    .map_err(|_| at(format!("the {what} name is not valid UTF-8")))
            };
            let client = text_of(&words_of_line[0], "client")?;
            let server = text_of(&words_of_line[1], "server")?;
            for (name, what) in [(&client, "client"), (&server, "server")] {
                if name.is_empty() {
                    return Err(at(format!(
                        "the {what} name is empty; write a name or * for any"
                    )));
                }
            }
            let mut secret = words_of_line[2].clone();
            if let Some(path) = secret.strip_prefix(b"@/".as_slice()) {
                let path = format!("/{}", String::from_utf8_lossy(path));
                secret = read_secret_file(&path).map_err(at)?;
            }
            let mut address = None;
            let mut no_address = false;
            for (i, w) in words_of_line[3..].iter().enumerate() {
                let w = String::from_utf8_lossy(w);
                if i == 0 && w == "-" {
                    // pppd: "-" first means no address at all; the rest
                    // of the line does not matter.
                    no_address = true;
                    break;
                }
                if let Some(a) = parse_address_word(&w).map_err(at)? {
                    address = address.or(Some(a));
                }
            }
            entries.push(Entry {
                client: Pattern::parse(&client),
                server: Pattern::parse(&server),
                secret: Secret::new(secret),
                address,
                no_address,
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

/// One word of the address list: `Ok(None)` for `*`, the address for an
/// address; an error message (with the fix) otherwise. Shared with the
/// config's `[[users]] address`.
pub(crate) fn parse_address_word(w: &str) -> Result<Option<Ipv4Addr>, String> {
    if w == "*" {
        return Ok(None);
    }
    if w == "-" {
        return Err(
            "address \"-\" (no address allowed) only means something as the first \
             address word of a secrets line; write * for an address from the pool, \
             or an address"
                .to_string(),
        );
    }
    if w.starts_with('!') || w.contains('/') {
        return Err(format!(
            "address {w:?}: pppoe-bras cannot limit its pool per user, so pppd's \
             subnets and ! exclusions are not supported; write the addresses the \
             user may have (the first one is used), * for any address from the pool, \
             or - for none"
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

/// The first word of an `@/path` secret file (pppd reads it with the same
/// word rules).
fn read_secret_file(path: &str) -> Result<Vec<u8>, String> {
    let text = std::fs::read(path).map_err(|e| {
        format!("cannot read the secret file {path:?} (\"@{path}\"): {e}; fix the path or write the secret itself")
    })?;
    let mut words = Words::new(&text);
    match words.next_line() {
        Ok(Some((_, w))) => Ok(w.into_iter().next().unwrap_or_default()),
        Ok(None) => Err(format!(
            "the secret file {path:?} holds no secret; write the secret as its first word"
        )),
        Err((line, m)) => Err(format!("in the secret file {path:?}, line {line}: {m}")),
    }
}

/// A logical line: the physical line it starts on, its words.
type LogicalLine = (usize, Vec<Vec<u8>>);

/// Splits secrets text into logical lines of words (quotes, escapes,
/// comments and backslash-newline continuation as in pppd).
struct Words<'a> {
    bytes: &'a [u8],
    i: usize,
    /// Physical line of `bytes[i]`, from 1.
    line: usize,
}

impl<'a> Words<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Words {
            bytes,
            i: 0,
            line: 1,
        }
    }

    /// A backslash-newline (or backslash-CRLF) at `i`: skip it.
    fn continuation(&mut self) -> bool {
        let rest = &self.bytes[self.i..];
        let len = if rest.starts_with(b"\\\n") {
            2
        } else if rest.starts_with(b"\\\r\n") {
            3
        } else {
            return false;
        };
        self.i += len;
        self.line += 1;
        true
    }

    /// The next non-empty logical line: (line of its first word, words).
    /// `Err((line, message))` for a malformed word.
    fn next_line(&mut self) -> Result<Option<LogicalLine>, (usize, String)> {
        let mut words = Vec::new();
        let mut first_line = self.line;
        loop {
            // Blanks, continuations, comments, the end of the line.
            loop {
                if self.continuation() {
                    continue;
                }
                match self.bytes.get(self.i) {
                    None => {
                        return Ok((!words.is_empty()).then_some((first_line, words)));
                    }
                    Some(b'\n') => {
                        self.i += 1;
                        self.line += 1;
                        if !words.is_empty() {
                            return Ok(Some((first_line, words)));
                        }
                    }
                    Some(b'#') => {
                        while self.bytes.get(self.i).is_some_and(|&b| b != b'\n') {
                            self.i += 1;
                        }
                    }
                    Some(b) if b.is_ascii_whitespace() => self.i += 1,
                    Some(_) => break,
                }
            }
            if words.is_empty() {
                first_line = self.line;
            }
            words.push(self.word()?);
        }
    }

    /// One word starting at `i` (not a blank).
    fn word(&mut self) -> Result<Vec<u8>, (usize, String)> {
        let mut word = Vec::new();
        while let Some(&c) = self.bytes.get(self.i) {
            if self.continuation() {
                continue;
            }
            if c.is_ascii_whitespace() {
                break;
            }
            self.i += 1;
            match c {
                b'"' | b'\'' => loop {
                    if self.continuation() {
                        continue;
                    }
                    match self.bytes.get(self.i) {
                        None | Some(b'\n') => {
                            let q = char::from(c);
                            return Err((
                                self.line,
                                format!(
                                    "unterminated {q}-quoted string; add the closing {q} \
                                     (end the line with a backslash to continue it)"
                                ),
                            ));
                        }
                        Some(&b) if b == c => {
                            self.i += 1;
                            break;
                        }
                        Some(b'\\') => {
                            self.i += 1;
                            word.push(
                                unescape(self.bytes, &mut self.i).map_err(|m| (self.line, m))?,
                            );
                        }
                        Some(&b) => {
                            self.i += 1;
                            word.push(b);
                        }
                    }
                },
                b'\\' => word.push(unescape(self.bytes, &mut self.i).map_err(|m| (self.line, m))?),
                _ => word.push(c),
            }
        }
        Ok(word)
    }
}

/// Decodes the escape after a backslash at `bytes[*i]`.
fn unescape(bytes: &[u8], i: &mut usize) -> Result<u8, String> {
    let Some(&c) = bytes.get(*i) else {
        return Err(
            "a backslash ends the file with no line to continue; remove it \
             (or write \\\\ for a backslash)"
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
        let e = err("u * p 10.0.0.1 -\n");
        assert!(
            e.contains(":1: address \"-\" (no address allowed) only means something as the first"),
            "{e}"
        );
        let e = err("u * p 10.0.0.0/24\n");
        assert!(
            e.contains("subnets and ! exclusions are not supported"),
            "{e}"
        );
        assert!(e.contains("or - for none"), "{e}");
        let e = err("u * p !10.0.0.9\n");
        assert!(
            e.contains(":1: address \"!10.0.0.9\": pppoe-bras cannot limit"),
            "{e}"
        );
        let e = err("u * p 224.0.0.1\n");
        assert!(e.contains("cannot be given to a subscriber"), "{e}");
        let e = err("\"\" * p\n");
        assert!(e.contains(":1: the client name is empty"), "{e}");
        let e = err("u * p\\");
        assert!(e.contains(":1: a backslash ends the file"), "{e}");
        // Errors after continued lines name the physical line.
        let e = err("a * \\\nb\nc * \"x\n");
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:3: unterminated"),
            "{e}"
        );
        let e = err("u * '\\xg'\n");
        assert!(e.contains("\\x must be followed by hex digits"), "{e}");
        let e = err("u * '\\777'\n");
        assert!(e.contains("octal escape"), "{e}");
    }

    #[test]
    fn backslash_newline_continues_the_line() {
        let text = "\
u * \\\n   pass \\\r\n 10.0.0.1
# a comment \\
v\\\nw * \"pa\\\nss\" \\\n
x * 'y'
";
        let s = Secrets::parse(text, "x").unwrap();
        assert_eq!(s.len(), 3, "{s:?}");
        let e = &s.entries()[0];
        assert_eq!(e.secret().expose(), b"pass");
        assert_eq!(e.static_address(), Some(a("10.0.0.1")));
        assert_eq!(e.origin(), ("x", 1));
        // Inside a word and inside quotes the two lines join.
        let e = &s.entries()[1];
        assert_eq!(e.client(), &Pattern::Exact("vw".into()));
        assert_eq!(e.secret().expose(), b"pass");
        assert_eq!(e.origin(), ("x", 5));
        assert_eq!(s.entries()[2].origin(), ("x", 9));
        // A continued last line at the end of the file.
        let s = Secrets::parse("u * p\\\n", "x").unwrap();
        assert_eq!(s.entries()[0].secret().expose(), b"p");
    }

    #[test]
    fn address_column_forms() {
        let text = "\
none * p -
none-more * p - 10.0.0.1
pool * p *
list * p 10.0.0.7 10.0.0.8 *
star-first * p * 10.0.0.9
";
        let s = Secrets::parse(text, "x").unwrap();
        // "-": the right secret is still refused (no address may be given),
        // a wrong one is just wrong.
        for user in ["none", "none-more"] {
            assert!(s.lookup(user, "b").unwrap().no_address());
            assert_eq!(s.verify(user, "b", &pap("p")), Verdict::NoAddressAllowed);
            assert_eq!(s.verify(user, "b", &pap("q")), Verdict::BadSecret);
        }
        let addr = |u: &str| s.lookup(u, "b").unwrap().static_address();
        assert_eq!(addr("pool"), None);
        assert_eq!(addr("list"), Some(a("10.0.0.7")), "the first listed");
        assert_eq!(addr("star-first"), Some(a("10.0.0.9")));
        assert!(!s.lookup("pool", "b").unwrap().no_address());
        assert_eq!(
            s.static_addresses().collect::<Vec<_>>(),
            vec![a("10.0.0.7"), a("10.0.0.9")]
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
    fn at_file_secrets() {
        let dir = std::env::temp_dir().join(format!("pppoe-bras-auth-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join("bob.secret");
        std::fs::write(&file, "  # the secret\n\"s3cr et\" ignored\nmore\n").unwrap();
        let empty = dir.join("empty.secret");
        std::fs::write(&empty, "# nothing\n").unwrap();
        let f = file.display();
        let s = Secrets::parse(&format!("bob * @{f} 10.0.0.1\nat * @literal\n"), "x").unwrap();
        assert_eq!(s.entries()[0].secret().expose(), b"s3cr et");
        assert_eq!(s.entries()[0].static_address(), Some(a("10.0.0.1")));
        assert_eq!(
            s.entries()[1].secret().expose(),
            b"@literal",
            "pppd: only @/ reads a file"
        );
        let e = err(&format!("\nbob * @{}\n", empty.display()));
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:2: the secret file"),
            "{e}"
        );
        assert!(e.contains("holds no secret"), "{e}");
        let e = err("bob * @/nonexistent/bob.secret\n");
        assert!(
            e.starts_with(
                "/etc/ppp/chap-secrets:1: cannot read the secret file \"/nonexistent/bob.secret\""
            ),
            "{e}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
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
