//! What the shell exchanges with the [`Manager`](super::Manager): the map
//! changes it applies, the credentials it verifies externally, the
//! settings, counters and listing rows.

use super::*;

/// An IPv6 prefix and its length.
pub type Prefix6 = (Ipv6Addr, u8);

/// A change the data plane must apply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DataplaneOp {
    /// IPCP opened: install the session's rows.
    Install {
        key: SessionKey,
        address: Ipv4Addr,
        mtu: u16,
    },
    /// Remove the session's rows (IPCP closed or the session ended). When the
    /// session ended, `down` carries what the shell logs with the final byte
    /// counts it reads while removing.
    Remove {
        key: SessionKey,
        address: Ipv4Addr,
        down: Option<DownInfo>,
    },
    /// IPv6CP opened (or the delegated prefix changed): install or update
    /// the session's IPv6 rows. Upstream, sources in `prefix64` (the
    /// session's /64, SLAAC and IA_NA addresses) or `delegated` (DHCPv6
    /// IA_PD) pass anti-spoofing; downstream, destinations in either are
    /// encapsulated to this session. Idempotent: the same op again (e.g.
    /// after an IPv6CP renegotiation, or with `delegated` now known)
    /// replaces the rows in place.
    InstallV6 {
        key: SessionKey,
        prefix64: (Ipv6Addr, u8),
        delegated: Option<(Ipv6Addr, u8)>,
        mtu: u16,
    },
    /// Remove exactly the listed IPv6 rows of a session: both at the end
    /// of the session (or when IPv6CP finishes while IPv4 keeps the link),
    /// only `delegated` when the subscriber released its delegated prefix.
    RemoveV6 {
        key: SessionKey,
        prefix64: Option<(Ipv6Addr, u8)>,
        delegated: Option<(Ipv6Addr, u8)>,
    },
}

/// A credential the shell must get a verdict for (external authentication,
/// see [`Manager::set_external_auth`]); answered by
/// [`Manager::handle_auth_verdict`], possibly much later.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthRequest {
    pub key: SessionKey,
    /// Identifies this session (a later session may reuse the key).
    pub acct_session_id: String,
    pub user: String,
    pub credential: crate::ppp::Credential,
    /// The answer to a CHAP re-challenge of an up session.
    pub reauth: bool,
}

/// An external verdict (e.g. from RADIUS).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ExternalVerdict {
    Accept {
        /// `None`: from the pool.
        address: Option<Ipv4Addr>,
        /// RADIUS Framed-Pool: the `[pools]` entry to lease from instead of
        /// the default `pool` ranges.
        pool: Option<String>,
        /// End the session after this long (RADIUS Session-Timeout).
        session_timeout: Option<Duration>,
        /// DNS servers for IPCP instead of the configured ones.
        dns: Option<[Option<Ipv4Addr>; 2]>,
        /// PAP/CHAP success message.
        message: Option<String>,
        /// RADIUS Framed-IPv6-Prefix (the session's /64 instead of one from
        /// `ipv6_prefix_pool`).
        ipv6_prefix: Option<(Ipv6Addr, u8)>,
        /// RADIUS Delegated-IPv6-Prefix (DHCPv6-PD hands this one out).
        delegated: Option<(Ipv6Addr, u8)>,
        /// RADIUS Framed-MTU: the session's MTU when below the peer's MRU.
        framed_mtu: Option<u16>,
    },
    Reject {
        message: String,
    },
    /// Check the local secrets instead (every RADIUS server is dead).
    Local(crate::ppp::Credential),
}

/// What the end-of-session log line says besides the byte counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownInfo {
    pub user: Option<String>,
    pub reason: DownReason,
    pub duration: Duration,
    /// The session's /64 and delegated prefix, if it had them.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub delegated: Option<(Ipv6Addr, u8)>,
}

impl DownInfo {
    /// The one log line for a session's end.
    pub fn log_line(&self, key: &SessionKey, address: Option<Ipv4Addr>, bytes: &str) -> String {
        format!(
            "session {:#06x} {} down reason={} user={} address={}{} duration={:.1}s {}",
            key.session_id,
            fmt_mac(&key.peer_mac),
            self.reason,
            escape(self.user.as_deref().unwrap_or("-")),
            address.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            v6_fields(self.ipv6, self.delegated),
            self.duration.as_secs_f64(),
            bytes
        )
    }
}

/// Everything the manager needs besides the discovery settings.
pub struct ManagerConfig {
    pub discovery: DiscoveryConfig,
    /// Template for every session's link; `mru` is the cap without RFC 4638.
    pub link: LinkConfig,
    /// IPv6 control plane (pools, RA, DHCPv6); `link.ipv4`/`link.ipv6`
    /// say which NCPs run.
    pub v6: crate::v6::V6Settings,
}

crate::counters::counters! {
    /// The manager's own counters: frames it received and discarded, by
    /// reason, and session outcomes (discovery keeps its own
    /// [`crate::discovery::DiscoveryStat`]s). Shown by `pppoe-bras stats`
    /// as `session.<name>`.
    pub enum ManagerStat in ManagerCounters {
        /// PPPoE session frames (0x8864) handed to a live session.
        SessionRx = "session_rx",
        /// Shorter than an Ethernet header, or a truncated VLAN tag.
        DropBadEthernet = "drop_bad_ethernet",
        /// Neither PPPoE discovery nor session.
        DropEthertype = "drop_ethertype",
        /// Session frame not addressed to our MAC.
        DropWrongDstMac = "drop_wrong_dst_mac",
        /// Session frame with a bad PPPoE header: VER/TYPE, code, length,
        /// truncated PPP protocol field.
        DropBadPppoe = "drop_bad_pppoe",
        /// Session frame for no live (MAC, VLANs, session id).
        DropUnknownSession = "drop_unknown_session",
        /// CHAP re-challenge answered wrongly or by another user.
        ReauthFailed = "reauth_failed",
        /// LCP Echo-Requests/-Replies carrying our own Magic-Number (a
        /// looped-back line, RFC 1661 §6.4); see [`Link::looped_echoes`].
        LcpLoopedEcho = "lcp_looped_echo",
        /// Sessions whose data path was installed (first time).
        Setups = "setups",
        /// Refused authentications, initial and re-challenges (those also
        /// count in `reauth_failed`).
        AuthFailed = "auth_failed",
    }
}

/// Everything the manager counts: its [`ManagerStat`]s (indexed by them,
/// `stats[ManagerStat::SessionRx]`), teardowns by reason and the IPv6
/// control plane's counters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManagerStats {
    /// Every [`ManagerStat`].
    pub counts: ManagerCounters,
    /// Ended sessions by [`DownReason::kind`].
    pub teardowns: std::collections::BTreeMap<&'static str, u64>,
    /// IPv6 control plane (RS/RA, DHCPv6).
    pub v6: crate::v6::V6Stats,
}

impl std::ops::Index<ManagerStat> for ManagerStats {
    type Output = u64;
    fn index(&self, s: ManagerStat) -> &u64 {
        &self.counts[s]
    }
}

impl std::ops::IndexMut<ManagerStat> for ManagerStats {
    fn index_mut(&mut self, s: ManagerStat) -> &mut u64 {
        &mut self.counts[s]
    }
}

impl ManagerStats {
    /// Every counter with its name: the [`ManagerStat`]s, then the IPv6 ones.
    pub fn counters(&self) -> Vec<(&'static str, u64)> {
        let mut v = self.counts.counters();
        v.extend(self.v6.counters());
        v
    }
}

/// A live session as `sessions` lists it.
#[derive(Debug, Clone)]
pub struct SessionInfo<'a> {
    pub user: Option<&'a str>,
    pub address: Option<Ipv4Addr>,
    /// Map rows installed (IPCP open).
    pub installed: bool,
    pub mtu: u16,
    /// Time since PADS, as of the last event the manager saw.
    pub age: Duration,
    /// The PPP link (negotiated options, phase), for `show`.
    pub link: &'a Link,
    /// The last [`EVENT_HISTORY`] events: time since PADS and what happened.
    pub events: &'a VecDeque<(Duration, String)>,
    /// The session's /64 (RA) and delegated prefix (DHCPv6), once leased.
    pub ipv6: Option<(Ipv6Addr, u8)>,
    pub delegated: Option<(Ipv6Addr, u8)>,
    /// The DHCPv6 IA_NA address, if bound.
    pub ipv6_address: Option<Ipv6Addr>,
}

/// Events each session remembers for `pppoe-bras show`.
pub const EVENT_HISTORY: usize = 20;

/// ` ipv6=P/64 pd=P/56` for log lines (empty without IPv6).
pub fn v6_fields(ipv6: Option<(Ipv6Addr, u8)>, pd: Option<(Ipv6Addr, u8)>) -> String {
    let mut out = String::new();
    if let Some((a, l)) = ipv6 {
        out.push_str(&format!(" ipv6={a}/{l}"));
    }
    if let Some((a, l)) = pd {
        out.push_str(&format!(" pd={a}/{l}"));
    }
    out
}
