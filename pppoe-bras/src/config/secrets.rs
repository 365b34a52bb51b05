//! The pppd secrets-file syntax (`pap-secrets`/`chap-secrets`): text in,
//! [`Secrets`] out. What the entries mean and how they are matched is
//! `auth`'s business; how they are written is this file's.
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

use std::net::Ipv4Addr;
use std::path::Path;

use super::ConfigError;
use crate::auth::{Entry, Secret, Secrets};

impl Secrets {
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
        let mut entries = Secrets::new();
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
            let mut prefixes = Vec::new();
            for (i, w) in words_of_line[3..].iter().enumerate() {
                let w = String::from_utf8_lossy(w);
                if i == 0 && w == "-" {
                    // pppd: "-" first means no address at all; the rest
                    // of the line does not matter.
                    no_address = true;
                    break;
                }
                // A pppoe-bras extension: IPv6 prefixes among the
                // addresses (the user's /64 and delegated prefix).
                if w.contains(':') {
                    prefixes.push(crate::auth::parse_prefix6(&w).map_err(at)?);
                    continue;
                }
                if let Some(a) = parse_address_word(&w).map_err(at)? {
                    address = address.or(Some(a));
                }
            }
            let entry = Entry::new(
                Some(&client),
                Some(&server),
                Secret::new(secret),
                address,
                origin,
                lineno,
            );
            let entry = entry.with_ipv6(&prefixes);
            entries.push(if no_address {
                entry.without_address()
            } else {
                entry
            });
        }
        Ok(entries)
    }
}

/// One word of the address list: `Ok(None)` for `*`, the address for an
/// address; an error message (with the fix) otherwise. Shared with the
/// config's `[[users]] address`.
pub(super) fn parse_address_word(w: &str) -> Result<Option<Ipv4Addr>, String> {
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
    use crate::auth::tests::{a, pap};
    use crate::auth::{Pattern, Verdict};
    use crate::ppp::Credential;

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

    /// pppoe-bras's extension: IPv6 prefixes among the addresses are the
    /// user's /64 and delegated prefix; malformed ones name line and fix.
    #[test]
    fn ipv6_prefixes_in_the_address_column() {
        let s = Secrets::parse(
            "u * p 10.0.0.5 2001:db8:200:4200::/56 2001:db8:100:42::/64\nv * p * 2001:db8:100:43::/64\n",
            "x",
        )
        .unwrap();
        let p = |t: &str| crate::auth::parse_prefix6(t).unwrap();
        assert_eq!(s.entries()[0].static_address(), Some(a("10.0.0.5")));
        assert_eq!(
            s.entries()[0].ipv6(),
            (
                Some(p("2001:db8:100:42::/64")),
                Some(p("2001:db8:200:4200::/56"))
            )
        );
        assert_eq!(
            s.entries()[1].ipv6(),
            (Some(p("2001:db8:100:43::/64")), None)
        );
        let e = err("u * p 2001:db8:200:4201::/56\n");
        assert!(
            e.starts_with("/etc/ppp/chap-secrets:1:") && e.contains("write 2001:db8:200:4200::/56"),
            "{e}"
        );
        let e = err("u * p 2001:db8::1/128\n");
        assert!(e.contains("is not an IPv6 prefix"), "{e}");
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
