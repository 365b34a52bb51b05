//! The string syntaxes of the configuration, each with the message that
//! says what to write instead: XDP mode, auth words, host addresses,
//! interface names, tag text, `access_allow` words, rate limits and VLAN
//! rules. The types live with their consumers (`dataplane`, `ppp`,
//! `discovery`); how they are written lives here.

use std::fmt;
use std::net::Ipv4Addr;
use std::str::FromStr;

use crate::discovery::{RateLimit, VidSet, VlanRule};
use crate::ppp::AuthProto;

use super::XdpMode;

impl FromStr for XdpMode {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_lowercase().as_str() {
            "auto" => Ok(XdpMode::Auto),
            "native" | "driver" | "drv" => Ok(XdpMode::Native),
            "generic" | "skb" => Ok(XdpMode::Generic),
            _ => Err(r#"unknown XDP mode; use "auto", "native" or "generic""#.to_string()),
        }
    }
}

impl fmt::Display for XdpMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            XdpMode::Auto => "auto",
            XdpMode::Native => "native",
            XdpMode::Generic => "generic",
        })
    }
}

/// Parses an `auth` word: `"chap"` (CHAP with MD5, RFC 1994) or `"pap"` (RFC 1334).
pub fn parse_auth_proto(s: &str) -> Result<AuthProto, String> {
    match s.to_ascii_lowercase().as_str() {
        "chap" | "chap-md5" => Ok(AuthProto::Chap),
        "pap" => Ok(AuthProto::Pap),
        _ => Err(
            r#"unknown auth method; use "chap" or "pap" (MS-CHAP is not supported)"#.to_string(),
        ),
    }
}

/// A host address to hand out (DNS, NBNS, our own): the message says how
/// to fix anything else.
pub(crate) fn unicast(s: &str) -> Result<Ipv4Addr, String> {
    let a: Ipv4Addr = s
        .trim()
        .parse()
        .map_err(|_| "not an IPv4 address; write it like 172.16.0.254".to_string())?;
    if a.is_unspecified()
        || a.is_loopback()
        || a.is_multicast()
        || a.is_broadcast()
        || a.octets()[0] >= 240
    {
        return Err("not a unicast address; write a host address like 172.16.0.254".to_string());
    }
    Ok(a)
}

pub(super) fn check_ifname(s: &str) -> Result<(), String> {
    // IFNAMSIZ is 16 with the NUL; the kernel also refuses "/", ":" and blanks.
    if s.is_empty()
        || s.len() > 15
        || s == "."
        || s == ".."
        || s.contains(['/', ':'])
        || s.contains(char::is_whitespace)
    {
        return Err("not a network interface name; write one like \"eth1\" (1 to 15 characters, no /, : or blanks)".to_string());
    }
    Ok(())
}

pub(super) fn check_tag_text(s: &str) -> Result<(), String> {
    if s.is_empty() || s.len() > 255 {
        return Err("must be 1 to 255 bytes long".to_string());
    }
    Ok(())
}

/// The `access_allow` bit of one word (`arp`, `lldp`, …).
pub(super) fn access_allow_bit(word: &str) -> Result<u32, String> {
    use pppoe_bras_common::maps::access_allow::WORDS;
    WORDS
        .iter()
        .find(|(w, _)| w.eq_ignore_ascii_case(word.trim()))
        .map(|(_, b)| *b)
        .ok_or_else(|| {
            let known: Vec<&str> = WORDS.iter().map(|(w, _)| *w).collect();
            format!("unknown frame kind; use some of {}", known.join(", "))
        })
}

impl RateLimit {
    /// Parse `"N/s"`, `"N/s burst B"` or `"off"` (→ `None`).
    pub fn parse(s: &str) -> Result<Option<RateLimit>, String> {
        const HINT: &str = r#"write it like "10/s", "10/s burst 20" or "off""#;
        let s = s.trim();
        if s.eq_ignore_ascii_case("off") {
            return Ok(None);
        }
        let mut words = s.split_whitespace();
        let rate = words.next().ok_or_else(|| format!("empty rate; {HINT}"))?;
        let per_sec: u32 = rate
            .strip_suffix("/s")
            .and_then(|n| n.parse().ok())
            .ok_or_else(|| format!("not a rate; {HINT}"))?;
        let burst = match (words.next(), words.next(), words.next()) {
            (None, _, _) => per_sec,
            (Some(w), Some(b), None) if w.eq_ignore_ascii_case("burst") => b
                .parse()
                .map_err(|_| format!("burst is not a whole number; {HINT}"))?,
            _ => return Err(format!("unexpected words after the rate; {HINT}")),
        };
        if per_sec == 0 || burst == 0 {
            return Err(format!("rate and burst must be at least 1; {HINT}"));
        }
        if per_sec > 1_000_000 || burst > 1_000_000 {
            return Err(format!("at most 1000000/s and burst 1000000; {HINT}"));
        }
        Ok(Some(RateLimit { per_sec, burst }))
    }
}

impl fmt::Display for RateLimit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/s burst {}", self.per_sec, self.burst)
    }
}

impl FromStr for VidSet {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s == "*" || s.eq_ignore_ascii_case("any") {
            return Ok(VidSet::Any);
        }
        let vid = |t: &str| -> Result<u16, String> {
            match t.trim().parse::<u16>() {
                Ok(v) if (1..=4094).contains(&v) => Ok(v),
                _ => Err(format!("{t:?} is not a VLAN id (1 to 4094)")),
            }
        };
        let (lo, hi) = match s.split_once('-') {
            Some((a, b)) => (vid(a)?, vid(b)?),
            None => (vid(s)?, vid(s)?),
        };
        if lo > hi {
            return Err(format!(
                "range {lo}-{hi} ends before it starts; write {hi}-{lo}"
            ));
        }
        Ok(VidSet::Range(lo, hi))
    }
}

impl fmt::Display for VidSet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            VidSet::Any => f.write_str("*"),
            VidSet::Range(lo, hi) if lo == hi => write!(f, "{lo}"),
            VidSet::Range(lo, hi) => write!(f, "{lo}-{hi}"),
        }
    }
}

impl FromStr for VlanRule {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        const HINT: &str = r#"write "any", "untagged", "100", "100-199" (one tag) or "200.10-20" (QinQ outer.inner)"#;
        let s = s.trim();
        if s.eq_ignore_ascii_case("any") {
            return Ok(VlanRule::Any);
        }
        if s.eq_ignore_ascii_case("untagged") {
            return Ok(VlanRule::Untagged);
        }
        let err = |e: String| format!("{e}; {HINT}");
        match s.split_once('.') {
            Some((o, i)) => Ok(VlanRule::Double(
                o.parse().map_err(err)?,
                i.parse().map_err(err)?,
            )),
            None => Ok(VlanRule::Single(s.parse().map_err(err)?)),
        }
    }
}

impl fmt::Display for VlanRule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VlanRule::Any => f.write_str("any"),
            VlanRule::Untagged => f.write_str("untagged"),
            VlanRule::Single(v) => write!(f, "{v}"),
            VlanRule::Double(o, i) => write!(f, "{o}.{i}"),
        }
    }
}
