//! tshark's reading of a capture: every frame classified (PPPoE discovery,
//! LCP, authentication, NCPs, session data), malformed frames counted, and
//! arbitrary fields extracted.

use std::{fmt, path::Path, process::Command};

use super::process::run;

/// One frame as tshark dissected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `PADI`, `PADO`, `PADR`, `PADS`, `PADT`, `LCP`, `PAP`, `CHAP`, `IPCP`,
    /// `IPV6CP`, `IPv4` (session data), or tshark's last protocol otherwise.
    pub kind: String,
    /// Code name for control packets (`Configure-Request`, `Challenge`, …).
    pub detail: String,
    /// PPPoE session id (0 for discovery before PADS).
    pub session: u16,
}

impl Frame {
    /// PPPoE discovery or PPP control (LCP, authentication, NCPs).
    pub fn is_control(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "PADI" | "PADO" | "PADR" | "PADS" | "PADT" | "LCP" | "PAP" | "CHAP" | "IPCP" | "IPV6CP"
        )
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{} (session {:#06x})", self.kind, self.session)
        } else {
            write!(
                f,
                "{} {} (session {:#06x})",
                self.kind, self.detail, self.session
            )
        }
    }
}

/// tshark's verdict on a capture.
#[derive(Debug, Clone, Default)]
pub struct Dissection {
    /// Every frame in order.
    pub frames: Vec<Frame>,
    /// Frames tshark calls malformed or flags with an expert error.
    pub malformed: usize,
}

impl Dissection {
    /// One line per frame.
    pub fn summaries(&self) -> Vec<String> {
        self.frames.iter().map(|f| f.to_string()).collect()
    }

    /// The kinds of the control frames (not `IPv4` or other data) with
    /// consecutive repeats collapsed: e.g. `PADI PADO PADR PADS LCP CHAP IPCP LCP PADT`.
    pub fn control_sequence(&self) -> Vec<String> {
        let mut seq: Vec<String> = Vec::new();
        for f in &self.frames {
            if f.is_control() && seq.last() != Some(&f.kind) {
                seq.push(f.kind.clone());
            }
        }
        seq
    }
}

/// True when `needles` occur in `haystack` in this order (not necessarily adjacent).
pub fn contains_in_order<S: AsRef<str>>(haystack: &[S], needles: &[&str]) -> bool {
    let mut it = haystack.iter();
    needles.iter().all(|n| it.any(|h| h.as_ref() == *n))
}

fn cp_code_name(code: u8) -> &'static str {
    // RFC 1661 §5 (LCP) and RFC 1332 (IPCP share codes 1–7).
    match code {
        1 => "Configure-Request",
        2 => "Configure-Ack",
        3 => "Configure-Nak",
        4 => "Configure-Reject",
        5 => "Terminate-Request",
        6 => "Terminate-Ack",
        7 => "Code-Reject",
        8 => "Protocol-Reject",
        9 => "Echo-Request",
        10 => "Echo-Reply",
        11 => "Discard-Request",
        _ => "?",
    }
}

fn parse_num(s: &str) -> Option<u32> {
    let s = s.split(',').next()?.trim();
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Classify one line of `tshark -T fields -e frame.protocols -e pppoe.code
/// -e pppoe.session_id -e ppp.code -e chap.code -e pap.code`.
pub(super) fn classify(line: &str) -> Frame {
    let f: Vec<&str> = line.split('\t').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("");
    let protos: Vec<&str> = get(0).split(':').collect();
    let session = parse_num(get(2))
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(0);
    let has = |p: &str| protos.contains(&p);
    let (kind, detail) = if has("pppoed") {
        let k = match parse_num(get(1)) {
            Some(0x09) => "PADI",
            Some(0x07) => "PADO",
            Some(0x19) => "PADR",
            Some(0x65) => "PADS",
            Some(0xa7) => "PADT",
            _ => "PPPoED?",
        };
        (k.to_owned(), String::new())
    } else if has("lcp") || has("ipcp") || has("ipv6cp") {
        let k = if has("lcp") {
            "LCP"
        } else if has("ipcp") {
            "IPCP"
        } else {
            "IPV6CP"
        };
        let d = parse_num(get(3))
            .and_then(|c| u8::try_from(c).ok())
            .map(cp_code_name)
            .unwrap_or("");
        (k.to_owned(), d.to_owned())
    } else if has("chap") {
        let d = match parse_num(get(4)) {
            Some(1) => "Challenge",
            Some(2) => "Response",
            Some(3) => "Success",
            Some(4) => "Failure",
            _ => "?",
        };
        ("CHAP".to_owned(), d.to_owned())
    } else if has("pap") {
        let d = match parse_num(get(5)) {
            Some(1) => "Authenticate-Request",
            Some(2) => "Authenticate-Ack",
            Some(3) => "Authenticate-Nak",
            _ => "?",
        };
        ("PAP".to_owned(), d.to_owned())
    } else if has("pppoes") && has("ip") {
        // The transport: the protocol right after `ip` (`udp`, not `echo`).
        let l4 = protos
            .iter()
            .skip_while(|p| **p != "ip")
            .nth(1)
            .copied()
            .unwrap_or("");
        ("IPv4".to_owned(), l4.to_owned())
    } else {
        (
            protos.last().copied().unwrap_or("?").to_owned(),
            String::new(),
        )
    };
    Frame {
        kind,
        detail,
        session,
    }
}

/// Dissect `file` with tshark: every frame classified, plus the number of
/// frames matching `_ws.malformed || _ws.expert.severity >= error`.
pub fn tshark_check(file: &Path) -> anyhow::Result<Dissection> {
    let file_s = file.to_string_lossy();
    let fields = run(Command::new("tshark").args([
        "-r",
        &file_s,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "frame.protocols",
        "-e",
        "pppoe.code",
        "-e",
        "pppoe.session_id",
        "-e",
        "ppp.code",
        "-e",
        "chap.code",
        "-e",
        "pap.code",
    ]))?;
    let frames = fields
        .lines()
        .filter(|l| !l.is_empty())
        .map(classify)
        .collect();
    let bad = run(Command::new("tshark").args([
        "-r",
        &file_s,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ]))?;
    let malformed = bad.lines().filter(|l| !l.trim().is_empty()).count();
    Ok(Dissection { frames, malformed })
}

/// `tshark -r file -Y filter -T fields -e f1 -e f2 ...`, one Vec per frame.
pub fn tshark_fields(
    file: &Path,
    filter: &str,
    fields: &[&str],
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut c = Command::new("tshark");
    c.arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        c.args(["-e", f]);
    }
    Ok(run(&mut c)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}
