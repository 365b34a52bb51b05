//! The state file that lets a new daemon re-adopt the sessions of one that
//! died (`kill -9`, a crash, an upgrade): the XDP programs stay attached
//! through pinned links and the pinned maps keep forwarding meanwhile; this
//! file holds what the maps do not: who each session is, its PPP options
//! (Magic-Numbers, MRUs, auth protocol) and which counter slot and NAT port
//! block it uses.
//!
//! Sans-IO: encode/decode and the compatibility check; the driver writes
//! the bytes atomically (temporary file + rename). A file of another
//! format or data-plane layout is refused ([`StateError`]), never mis-read.

use std::net::Ipv4Addr;

use serde::{Deserialize, Serialize};

/// Bumped whenever [`StateFile`] changes meaning.
pub const FORMAT: u32 = 1;

/// A fingerprint of the data-plane layout (map key/value sizes, table
/// sizes, statistic count): a state file and pinned maps from a build
/// whose layout differs cannot be adopted.
pub fn layout() -> u64 {
    use pppoe_bras_common::maps::*;
    use std::mem::size_of;
    let parts: [u64; 14] = [
        size_of::<SessionKey>() as u64,
        size_of::<SessionValue>() as u64,
        size_of::<SessionEntry>() as u64,
        size_of::<Subscriber>() as u64,
        size_of::<NatKey>() as u64,
        size_of::<NatValue>() as u64,
        size_of::<SessionCounters>() as u64,
        size_of::<Config>() as u64,
        size_of::<NatSlot>() as u64,
        size_of::<NatFreed>() as u64,
        u64::from(MAX_SESSIONS),
        u64::from(MAX_NAT),
        u64::from(pppoe_bras_common::stats::STAT_COUNT),
        names::ALL.len() as u64,
    ];
    // FNV-1a over the parts: stable across builds and platforms.
    parts.iter().fold(0xcbf2_9ce4_8422_2325u64, |h, p| {
        p.to_le_bytes()
            .iter()
            .fold(h, |h, b| (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3))
    })
}

/// One session as a new daemon needs it to carry on.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SavedSession {
    pub session_id: u16,
    pub client_mac: [u8; 6],
    /// Outer (or only) VLAN tag as received: (TPID, VID).
    pub outer_tag: Option<(u16, u16)>,
    /// Inner tag of QinQ: (TPID, VID).
    pub inner_tag: Option<(u16, u16)>,
    pub user: String,
    pub address: Ipv4Addr,
    /// `"chap"`, `"pap"` or `"none"`.
    pub auth: String,
    pub our_magic: u32,
    pub peer_magic: Option<u32>,
    pub our_mru: u16,
    pub peer_mru: u16,
    /// Seconds the session had been up when saved (ages carry on).
    pub age_secs: u64,
    /// Data-plane allocation: counter slot and NAT port block index.
    pub slot: u32,
    pub block: Option<u32>,
    /// The session's Acct-Session-Id: accounting goes on under it.
    #[serde(default)]
    pub acct_id: String,
    /// Seconds left of a RADIUS Session-Timeout, if one runs.
    #[serde(default)]
    pub expires_in_secs: Option<u64>,
    /// RADIUS Class attributes (hex), echoed in its accounting.
    #[serde(default)]
    pub class: Vec<String>,
    /// RADIUS Acct-Interim-Interval, seconds.
    #[serde(default)]
    pub interim_secs: Option<u64>,
    /// RADIUS Idle-Timeout, seconds.
    #[serde(default)]
    pub idle_secs: Option<u64>,
    /// RADIUS Framed-MTU.
    #[serde(default)]
    pub framed_mtu: Option<u16>,
    /// The session's /64 and delegated prefix: IPv6CP is negotiated again
    /// after a restart, and these come back to it (not new ones).
    #[serde(default)]
    pub ipv6: Option<(std::net::Ipv6Addr, u8)>,
    #[serde(default)]
    pub delegated: Option<(std::net::Ipv6Addr, u8)>,
}

/// The whole file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StateFile {
    pub format: u32,
    pub layout: u64,
    /// The pin directory the sessions' maps live in.
    pub pin_dir: String,
    pub sessions: Vec<SavedSession>,
}

/// Why a state file cannot be adopted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StateError {
    #[error("state file is not readable JSON ({0}); starting clean")]
    Garbled(String),
    #[error("state file format {found}, this daemon writes {FORMAT}; starting clean")]
    Format { found: u32 },
    #[error(
        "state file and pinned maps are from a build with another data-plane layout \
         ({found:#x}, this one {expected:#x}); starting clean"
    )]
    Layout { found: u64, expected: u64 },
    #[error("state file is for pin dir {found}, not {expected}; starting clean")]
    PinDir { found: String, expected: String },
}

impl StateFile {
    pub fn new(pin_dir: &str, sessions: Vec<SavedSession>) -> Self {
        StateFile {
            format: FORMAT,
            layout: layout(),
            pin_dir: pin_dir.to_owned(),
            sessions,
        }
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut v = serde_json::to_vec(self).unwrap_or_default();
        v.push(b'\n');
        v
    }

    /// Parse and check a file written for `pin_dir`.
    pub fn decode(bytes: &[u8], pin_dir: &str) -> Result<StateFile, StateError> {
        #[derive(Deserialize)]
        struct Head {
            format: u32,
        }
        let head: Head =
            serde_json::from_slice(bytes).map_err(|e| StateError::Garbled(e.to_string()))?;
        if head.format != FORMAT {
            return Err(StateError::Format { found: head.format });
        }
        let f: StateFile =
            serde_json::from_slice(bytes).map_err(|e| StateError::Garbled(e.to_string()))?;
        if f.layout != layout() {
            return Err(StateError::Layout {
                found: f.layout,
                expected: layout(),
            });
        }
        if f.pin_dir != pin_dir {
            return Err(StateError::PinDir {
                found: f.pin_dir,
                expected: pin_dir.to_owned(),
            });
        }
        Ok(f)
    }
}

/// The default state file of a pin dir: one per pin dir, so daemons with
/// their own pin dirs (labs, tests) never adopt each other's sessions.
pub fn default_path(pin_dir: &std::path::Path) -> std::path::PathBuf {
    let name: String = pin_dir
        .to_string_lossy()
        .trim_matches('/')
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    std::path::Path::new("/run/pppoe-bras").join(format!("{name}.state.json"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn saved(id: u16) -> SavedSession {
        SavedSession {
            session_id: id,
            client_mac: [2, 0, 0, 0, 0, id as u8],
            outer_tag: Some((0x8100, 100)),
            inner_tag: None,
            user: "user\n1".into(),
            address: Ipv4Addr::new(172, 16, 0, 101),
            auth: "chap".into(),
            our_magic: 0x1234_5678,
            peer_magic: Some(0x9abc_def0),
            our_mru: 1492,
            peer_mru: 1454,
            age_secs: 42,
            slot: 7,
            block: Some(3),
            acct_id: "5f3a-1".into(),
            expires_in_secs: Some(30),
            class: vec!["676f6c64".into()],
            interim_secs: Some(60),
            idle_secs: None,
            framed_mtu: Some(1400),
            ipv6: Some(("2001:db8:100:1::".parse().unwrap(), 64)),
            delegated: None,
        }
    }

    #[test]
    fn round_trip_and_refusals() {
        let f = StateFile::new("/sys/fs/bpf/pppoe-bras", vec![saved(1), saved(2)]);
        let bytes = f.encode();
        assert_eq!(
            StateFile::decode(&bytes, "/sys/fs/bpf/pppoe-bras"),
            Ok(f.clone())
        );
        assert!(matches!(
            StateFile::decode(&bytes, "/sys/fs/bpf/other"),
            Err(StateError::PinDir { .. })
        ));
        let half = &bytes[..bytes.len() / 2];
        assert!(matches!(
            StateFile::decode(half, "/sys/fs/bpf/pppoe-bras"),
            Err(StateError::Garbled(_))
        ));
        let mut old = f.clone();
        old.layout ^= 1;
        assert!(matches!(
            StateFile::decode(&old.encode(), "/sys/fs/bpf/pppoe-bras"),
            Err(StateError::Layout { .. })
        ));
        let foreign = br#"{"format": 99, "anything": true}"#;
        assert_eq!(
            StateFile::decode(foreign, "/sys/fs/bpf/pppoe-bras"),
            Err(StateError::Format { found: 99 })
        );
        assert!(matches!(
            StateFile::decode(b"\x00\xffnot json", "/x"),
            Err(StateError::Garbled(_))
        ));
    }

    #[test]
    fn default_paths_differ_per_pin_dir() {
        let a = default_path(std::path::Path::new("/sys/fs/bpf/pppoe-bras"));
        let b = default_path(std::path::Path::new("/sys/fs/bpf/pbt-1-0"));
        assert_ne!(a, b);
        assert_eq!(
            a,
            std::path::Path::new("/run/pppoe-bras/sys_fs_bpf_pppoe-bras.state.json")
        );
    }
}
