//! Which VLAN tag stacks the BRAS serves (config `vlans`).

use super::Discovery;
use crate::wire::eth::Vlans;

/// VIDs on one tag level of a [`VlanRule`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VidSet {
    /// `*` or `any`.
    Any,
    /// `N` or `N-M` (1–4094).
    Range(u16, u16),
}

impl VidSet {
    fn contains(&self, vid: u16) -> bool {
        match *self {
            VidSet::Any => true,
            VidSet::Range(lo, hi) => (lo..=hi).contains(&vid),
        }
    }
}

/// Which tag stacks the BRAS serves (config `vlans`, a list of these; an
/// empty list serves everything). The TPID (0x8100, 0x88a8, 0x9100) does
/// not matter. Written (and parsed, in `config::syntax`) as:
///
/// | written | serves |
/// |---|---|
/// | `"any"` | every frame: untagged, single- and double-tagged |
/// | `"untagged"` | frames without a tag |
/// | `"100"`, `"100-199"`, `"*"` | single-tagged frames with that VID |
/// | `"200.10-20"`, `"200-209.*"`, `"*.5"` | double-tagged (QinQ): outer.inner |
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VlanRule {
    Any,
    Untagged,
    Single(VidSet),
    Double(VidSet, VidSet),
}

impl VlanRule {
    /// Whether frames with these tags are served.
    pub fn matches(&self, vlans: &Vlans) -> bool {
        match (*self, vlans.outer, vlans.inner) {
            (VlanRule::Any, _, _) => true,
            (VlanRule::Untagged, None, None) => true,
            (VlanRule::Single(s), Some(o), None) => s.contains(o.vid),
            (VlanRule::Double(so, si), Some(o), Some(i)) => {
                so.contains(o.vid) && si.contains(i.vid)
            }
            _ => false,
        }
    }
}

impl Discovery {
    /// Whether frames with these tags are served (`vlans`).
    pub fn vlan_ok(&self, vlans: &Vlans) -> bool {
        self.cfg.vlans.is_empty() || self.cfg.vlans.iter().any(|r| r.matches(vlans))
    }
}
