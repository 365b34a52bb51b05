//! Discovery's settings, as `config/` hands them over.

use std::time::Duration;

use super::{RateLimit, VlanRule, MAX_ID, MAX_PAYLOAD_CAP};
use crate::wire::eth::fmt_mac;

/// Discovery policy. `Debug` hides the cookie key.
#[derive(Clone, PartialEq, Eq)]
pub struct DiscoveryConfig {
    /// Sent in AC-Name.
    pub ac_name: String,
    /// Services offered; empty: accept any requested name (and a blank one).
    /// With a list, a blank request is accepted and offered the list.
    pub service_names: Vec<String>,
    /// Key of the AC-Cookie MAC; random per daemon start.
    pub cookie_key: [u8; 16],
    /// Live sessions in total; beyond, PADI is ignored and PADR refused with
    /// AC-System-Error.
    pub max_sessions: usize,
    /// Live sessions per peer MAC (per VLAN tags); same treatment.
    pub max_sessions_per_mac: usize,
    /// RFC 4638 PPP-Max-Payload: the largest value agreed (a larger request
    /// is answered with this); 0 turns the tag off. It must fit the access
    /// NIC: MTU ≥ value + 8.
    pub max_payload: u16,
    /// The access NIC's MAC (AC MAC).
    pub local_mac: [u8; 6],
    /// PADI rate per peer MAC (and VLAN tags); excess PADIs are dropped.
    pub padi_rate_per_mac: Option<RateLimit>,
    /// PADI rate over all peers.
    pub padi_rate_total: Option<RateLimit>,
    /// Wait this long before sending a PADO (a backup BRAS in a multi-BRAS
    /// segment answers later, so clients pick the primary).
    pub pado_delay: Duration,
    /// Live sessions per VLAN tag stack (tagged frames only); 0: no limit.
    pub max_sessions_per_vlan: usize,
    /// Tag stacks served; empty: all.
    pub vlans: Vec<VlanRule>,
}

impl Default for DiscoveryConfig {
    /// Lab defaults: no limits beyond 65534 sessions. The cookie key is all
    /// zeros: set a random one outside tests.
    fn default() -> Self {
        DiscoveryConfig {
            ac_name: "pppoe-bras".to_owned(),
            service_names: Vec::new(),
            cookie_key: [0; 16],
            max_sessions: usize::from(MAX_ID),
            max_sessions_per_mac: usize::from(MAX_ID),
            max_payload: MAX_PAYLOAD_CAP,
            local_mac: [0x02, 0, 0, 0, 0, 0xfe],
            padi_rate_per_mac: None,
            padi_rate_total: None,
            pado_delay: Duration::ZERO,
            max_sessions_per_vlan: 0,
            vlans: Vec::new(),
        }
    }
}

impl std::fmt::Debug for DiscoveryConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DiscoveryConfig")
            .field("ac_name", &self.ac_name)
            .field("service_names", &self.service_names)
            .field("cookie_key", &"<hidden>")
            .field("max_sessions", &self.max_sessions)
            .field("max_sessions_per_mac", &self.max_sessions_per_mac)
            .field("max_payload", &self.max_payload)
            .field("local_mac", &fmt_mac(&self.local_mac))
            .field("padi_rate_per_mac", &self.padi_rate_per_mac)
            .field("padi_rate_total", &self.padi_rate_total)
            .field("pado_delay", &self.pado_delay)
            .field("max_sessions_per_vlan", &self.max_sessions_per_vlan)
            .field("vlans", &self.vlans)
            .finish()
    }
}
