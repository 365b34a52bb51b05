//! Peer-supplied text made safe for log lines and listings.
//!
//! User names (PAP Peer-ID, CHAP Name), Service-Name, AC-Name, Host-Uniq,
//! PAP/CHAP messages: anything a peer sends may hold newlines, terminal
//! escapes or invalid UTF-8. [`Escaped`] prints printable ASCII
//! (0x20..=0x7e) as is, `\` as `\\`, and every other byte, non-ASCII UTF-8
//! included, as `\xNN` (lowercase hex). One event stays one line, a log
//! reader sees exactly which bytes arrived, and the output is still plain
//! text for the common case (`testuser1` prints as `testuser1`).

use std::fmt;

/// `Display` for peer bytes, escaped as the module says. Build it with
/// [`escape`].
#[derive(Clone, Copy)]
pub struct Escaped<'a>(&'a [u8]);

/// Escape `text` (a `str`, `String`, `[u8]` or `Vec<u8>`) for display.
pub fn escape<T: AsRef<[u8]> + ?Sized>(text: &T) -> Escaped<'_> {
    Escaped(text.as_ref())
}

impl fmt::Display for Escaped<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut rest = self.0;
        while !rest.is_empty() {
            // Runs of plain bytes are written in one go.
            let plain = rest
                .iter()
                .position(|&b| !(0x20..=0x7e).contains(&b) || b == b'\\')
                .unwrap_or(rest.len());
            if plain > 0 {
                // Printable ASCII is valid UTF-8.
                f.write_str(std::str::from_utf8(&rest[..plain]).map_err(|_| fmt::Error)?)?;
                rest = &rest[plain..];
                continue;
            }
            match rest[0] {
                b'\\' => f.write_str("\\\\")?,
                b => write!(f, "\\x{b:02x}")?,
            }
            rest = &rest[1..];
        }
        Ok(())
    }
}

impl fmt::Debug for Escaped<'_> {
    /// Quoted: `"bob\x0a"`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "\"{self}\"")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn printable_ascii_as_is_everything_else_as_hex() {
        assert_eq!(escape("testuser1").to_string(), "testuser1");
        assert_eq!(escape("a b~!\"'").to_string(), "a b~!\"'");
        assert_eq!(escape("bob\nx=1\x1b[2J").to_string(), "bob\\x0ax=1\\x1b[2J");
        assert_eq!(
            escape("a\\x0a").to_string(),
            "a\\\\x0a",
            "a backslash can't forge an escape"
        );
        assert_eq!(escape("\r\t\0\x7f").to_string(), "\\x0d\\x09\\x00\\x7f");
        assert_eq!(
            escape("é").to_string(),
            "\\xc3\\xa9",
            "non-ASCII UTF-8 by bytes"
        );
        assert_eq!(
            escape(&[0xff, b'z'][..]).to_string(),
            "\\xffz",
            "invalid UTF-8"
        );
        assert_eq!(escape("").to_string(), "");
        assert_eq!(format!("{:?}", escape("a\n")), "\"a\\x0a\"");
        for b in 0..=255u8 {
            let s = escape(&[b]).to_string();
            assert!(
                s.bytes().all(|c| (0x20..=0x7e).contains(&c)),
                "{b:#x} -> {s}"
            );
        }
    }
}
