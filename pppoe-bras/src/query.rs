//! What `pppoe-bras sessions`, `show` and `kill` ask of a running daemon:
//! which sessions (a [`Selector`] for one, a [`Filter`] for a listing) and
//! how they are printed (text lines or JSON). Sans-IO: the driver hands in
//! the sessions and the data-plane figures; this module only matches and
//! formats, so it is tested without a daemon.

use std::{fmt::Write as _, net::Ipv4Addr, time::Duration};

use serde::Serialize;

use crate::{
    control::parse_session_id,
    discovery::SessionKey,
    ppp::Phase,
    session::SessionInfo,
    wire::{
        eth::{fmt_mac, parse_mac},
        text::escape,
    },
};

/// One session, named the way an operator knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selector {
    /// PPPoE session id (`0x0001` or `1`).
    Id(u16),
    /// Subscriber address.
    Ip(Ipv4Addr),
    /// Client MAC.
    Mac([u8; 6]),
    /// User name (PAP/CHAP).
    User(String),
}

impl Selector {
    /// `0x1a2b`/`12` → id, `a.b.c.d` → address, `aa:bb:…` → MAC, anything
    /// else a user name; `user=`, `ip=`, `mac=`, `id=` force the kind.
    pub fn parse(s: &str) -> Result<Selector, String> {
        let bad = |what: &str| format!("{s:?} is not {what}");
        if let Some(u) = s.strip_prefix("user=") {
            return Ok(Selector::User(u.to_owned()));
        }
        if let Some(v) = s.strip_prefix("ip=") {
            return v
                .parse()
                .map(Selector::Ip)
                .map_err(|_| bad("an IPv4 address"));
        }
        if let Some(v) = s.strip_prefix("mac=") {
            return parse_mac(v).map(Selector::Mac).ok_or_else(|| bad("a MAC"));
        }
        if let Some(v) = s.strip_prefix("id=") {
            return parse_session_id(v)
                .map(Selector::Id)
                .ok_or_else(|| bad("a session id"));
        }
        if let Some(id) = parse_session_id(s) {
            return Ok(Selector::Id(id));
        }
        if let Ok(a) = s.parse() {
            return Ok(Selector::Ip(a));
        }
        if let Some(m) = parse_mac(s) {
            return Ok(Selector::Mac(m));
        }
        if s.is_empty() {
            return Err("empty selector: give a session id, user, address or MAC".to_owned());
        }
        Ok(Selector::User(s.to_owned()))
    }

    /// The wire form (`kind=value`), unambiguous for [`Selector::parse`].
    pub fn to_word(&self) -> String {
        match self {
            Selector::Id(id) => format!("id={id:#06x}"),
            Selector::Ip(a) => format!("ip={a}"),
            Selector::Mac(m) => format!("mac={}", fmt_mac(m)),
            Selector::User(u) => format!("user={u}"),
        }
    }

    /// True when the session `key` with `info` is the one named.
    pub fn matches(&self, key: &SessionKey, info: &SessionInfo<'_>) -> bool {
        match self {
            Selector::Id(id) => key.session_id == *id,
            Selector::Ip(a) => info.address == Some(*a),
            Selector::Mac(m) => key.peer_mac == *m,
            Selector::User(u) => info.user == Some(u.as_str()),
        }
    }
}

/// A session's state as `--state` names it.
pub fn state(info: &SessionInfo<'_>) -> &'static str {
    match info.link.phase() {
        Phase::Establish => "lcp",
        Phase::Authenticate => "auth",
        Phase::Network if info.installed => "up",
        Phase::Network => "ipcp",
        Phase::Terminate => "terminating",
        Phase::Dead => "down",
    }
}

/// The states `--state` accepts.
pub const STATES: [&str; 6] = ["lcp", "auth", "ipcp", "up", "terminating", "down"];

/// Which sessions a listing shows: every given criterion must match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub user: Option<String>,
    pub mac: Option<[u8; 6]>,
    pub ip: Option<Ipv4Addr>,
    /// Outer (or only) VLAN id.
    pub vlan: Option<u16>,
    pub state: Option<String>,
    /// Print JSON instead of text lines.
    pub json: bool,
}

impl Filter {
    /// Parse the control words (`user=…`, `mac=…`, `ip=…`, `vlan=…`,
    /// `state=…`, `json`).
    pub fn parse<'a>(words: impl Iterator<Item = &'a str>) -> Result<Filter, String> {
        let mut f = Filter::default();
        for w in words {
            match w.split_once('=') {
                None if w == "json" => f.json = true,
                Some(("user", v)) => f.user = Some(v.to_owned()),
                Some(("mac", v)) => {
                    f.mac = Some(parse_mac(v).ok_or_else(|| format!("bad MAC {v:?}"))?)
                }
                Some(("ip", v)) => {
                    f.ip = Some(v.parse().map_err(|_| format!("bad IPv4 address {v:?}"))?)
                }
                Some(("vlan", v)) => {
                    f.vlan = Some(
                        v.parse()
                            .ok()
                            .filter(|v| *v < 4096)
                            .ok_or_else(|| format!("bad VLAN id {v:?}: 0-4095"))?,
                    )
                }
                Some(("state", v)) if STATES.contains(&v) => f.state = Some(v.to_owned()),
                Some(("state", v)) => {
                    return Err(format!("bad state {v:?}: one of {}", STATES.join(", ")))
                }
                _ => return Err(format!("unknown filter {w:?}")),
            }
        }
        Ok(f)
    }

    /// The control words for this filter.
    pub fn to_words(&self) -> Vec<String> {
        let mut w = Vec::new();
        if let Some(u) = &self.user {
            w.push(format!("user={u}"));
        }
        if let Some(m) = &self.mac {
            w.push(format!("mac={}", fmt_mac(m)));
        }
        if let Some(a) = &self.ip {
            w.push(format!("ip={a}"));
        }
        if let Some(v) = self.vlan {
            w.push(format!("vlan={v}"));
        }
        if let Some(s) = &self.state {
            w.push(format!("state={s}"));
        }
        if self.json {
            w.push("json".to_owned());
        }
        w
    }

    pub fn matches(&self, key: &SessionKey, info: &SessionInfo<'_>) -> bool {
        self.user.as_deref().is_none_or(|u| info.user == Some(u))
            && self.mac.is_none_or(|m| key.peer_mac == m)
            && self.ip.is_none_or(|a| info.address == Some(a))
            && self.vlan.is_none_or(|v| key.vlans.outer_vid() == v)
            && self.state.as_deref().is_none_or(|s| state(info) == s)
    }
}

/// Packets/bytes of a session, each way.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Counters {
    pub up_packets: u64,
    pub up_bytes: u64,
    pub down_packets: u64,
    pub down_bytes: u64,
}

/// A session's row as printed (text or JSON).
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub session_id: String,
    pub mac: String,
    /// As the daemon logs it: `untagged`, `vlan 100`, `vlan 200.300`.
    pub vlans: String,
    pub outer_vlan: u16,
    pub inner_vlan: u16,
    pub user: Option<String>,
    pub address: Option<Ipv4Addr>,
    pub state: &'static str,
    pub mtu: u16,
    pub age_secs: u64,
    pub counters: Counters,
    /// The session's /64 (RA) and delegated prefix (DHCPv6), `P/len`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ipv6: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pd: Option<String>,
}

impl Row {
    pub fn new(key: &SessionKey, info: &SessionInfo<'_>, counters: Counters) -> Row {
        Row {
            session_id: format!("{:#06x}", key.session_id),
            mac: fmt_mac(&key.peer_mac),
            vlans: key.vlans.to_string(),
            outer_vlan: key.vlans.outer_vid(),
            inner_vlan: key.vlans.inner_vid(),
            // Escaped: JSON would carry a newline safely, but the text
            // listing must stay one line per session.
            user: info.user.map(|u| escape(u).to_string()),
            address: info.address,
            state: state(info),
            mtu: info.mtu,
            age_secs: info.age.as_secs(),
            counters,
            ipv6: info.ipv6.map(|(a, l)| format!("{a}/{l}")),
            pd: info.delegated.map(|(a, l)| format!("{a}/{l}")),
        }
    }

    /// The `sessions` text line.
    pub fn line(&self) -> String {
        let c = &self.counters;
        let mut v6 = String::new();
        if let Some(p) = &self.ipv6 {
            v6.push_str(&format!(" ipv6={p}"));
        }
        if let Some(p) = &self.pd {
            v6.push_str(&format!(" pd={p}"));
        }
        format!(
            "{} {} {} user={} address={}{v6} state={} mtu={} age={}s up={}p/{}B down={}p/{}B",
            self.session_id,
            self.mac,
            self.vlans,
            self.user.as_deref().unwrap_or("-"),
            self.address
                .map_or_else(|| "-".to_owned(), |a| a.to_string()),
            self.state,
            self.mtu,
            self.age_secs,
            c.up_packets,
            c.up_bytes,
            c.down_packets,
            c.down_bytes,
        )
    }
}

/// Everything `show` prints about one session.
#[derive(Debug, Clone, Serialize)]
pub struct Detail {
    #[serde(flatten)]
    pub row: Row,
    pub lcp_state: String,
    pub ipcp_state: String,
    pub ipv6cp_state: String,
    /// Link-locals from IPv6CP (`fe80::…`) once it opened.
    pub ipv6_local: Option<String>,
    pub ipv6_peer: Option<String>,
    /// The DHCPv6 IA_NA address, if bound.
    pub ipv6_address: Option<std::net::Ipv6Addr>,
    pub our_mru: u16,
    pub peer_mru: u16,
    pub our_magic: String,
    pub peer_magic: Option<String>,
    pub auth_proto: Option<String>,
    pub local_address: Ipv4Addr,
    pub dns: Vec<Ipv4Addr>,
    /// NAT public address and port block (`addr:first-last`), when NATed.
    pub nat: Option<String>,
    /// `+seconds event`, oldest first.
    pub events: Vec<String>,
}

impl Detail {
    pub fn new(row: Row, info: &SessionInfo<'_>, nat: Option<(Ipv4Addr, u16, u16)>) -> Detail {
        let link = info.link;
        let cfg = link.config();
        Detail {
            row,
            lcp_state: format!("{:?}", link.lcp_state()),
            ipcp_state: format!("{:?}", link.ipcp_state()),
            ipv6cp_state: format!("{:?}", link.ipv6cp_state()),
            ipv6_local: info
                .ipv6
                .map(|_| crate::v6::link_local(link.our_iid()).to_string()),
            ipv6_peer: link
                .peer_iid()
                .filter(|_| info.ipv6.is_some())
                .map(|i| crate::v6::link_local(i).to_string()),
            ipv6_address: info.ipv6_address,
            our_mru: link.our_mru(),
            peer_mru: link.peer_mru(),
            our_magic: format!("{:#010x}", link.our_magic()),
            peer_magic: link.peer_magic().map(|m| format!("{m:#010x}")),
            auth_proto: link.auth_proto().map(|p| format!("{p:?}").to_lowercase()),
            local_address: link.local_address(),
            dns: cfg.dns.iter().flatten().copied().collect(),
            nat: nat.map(|(a, first, size)| {
                format!("{a}:{first}-{}", u32::from(first) + u32::from(size) - 1)
            }),
            events: info
                .events
                .iter()
                .map(|(t, e)| format!("+{} {e}", secs(*t)))
                .collect(),
        }
    }

    /// The `show` text.
    pub fn text(&self) -> String {
        let mut o = String::new();
        let r = &self.row;
        let _ = writeln!(o, "session {} {} {}", r.session_id, r.mac, r.vlans);
        let _ = writeln!(o, "  user        {}", r.user.as_deref().unwrap_or("-"));
        let _ = writeln!(
            o,
            "  state       {} (lcp {}, ipcp {})",
            r.state, self.lcp_state, self.ipcp_state
        );
        let _ = writeln!(o, "  age         {}s", r.age_secs);
        let _ = writeln!(
            o,
            "  lcp         our mru {} magic {}; peer mru {} magic {}",
            self.our_mru,
            self.our_magic,
            self.peer_mru,
            self.peer_magic.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            o,
            "  auth        {}",
            self.auth_proto.as_deref().unwrap_or("-")
        );
        let _ = writeln!(
            o,
            "  ipcp        local {} peer {} dns {}",
            self.local_address,
            r.address.map_or_else(|| "-".to_owned(), |a| a.to_string()),
            if self.dns.is_empty() {
                "-".to_owned()
            } else {
                self.dns
                    .iter()
                    .map(|d| d.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            }
        );
        if r.ipv6.is_some() || r.pd.is_some() {
            let _ = writeln!(
                o,
                "  ipv6        {} prefix {} pd {}{} local {} peer {}",
                self.ipv6cp_state,
                r.ipv6.as_deref().unwrap_or("-"),
                r.pd.as_deref().unwrap_or("-"),
                self.ipv6_address
                    .map_or_else(String::new, |a| format!(" address {a}")),
                self.ipv6_local.as_deref().unwrap_or("-"),
                self.ipv6_peer.as_deref().unwrap_or("-"),
            );
        }
        let _ = writeln!(o, "  mtu         {}", r.mtu);
        let _ = writeln!(o, "  nat         {}", self.nat.as_deref().unwrap_or("-"));
        let c = &r.counters;
        let _ = writeln!(
            o,
            "  up          {} packets {} bytes",
            c.up_packets, c.up_bytes
        );
        let _ = writeln!(
            o,
            "  down        {} packets {} bytes",
            c.down_packets, c.down_bytes
        );
        let _ = writeln!(o, "  events");
        for e in &self.events {
            let _ = writeln!(o, "    {e}");
        }
        o
    }
}

fn secs(d: Duration) -> String {
    format!("{:.1}s", d.as_secs_f64())
}

/// JSON of `v`, one document and a newline.
pub fn json<T: Serialize>(v: &T) -> String {
    let mut s =
        serde_json::to_string_pretty(v).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"));
    s.push('\n');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn selectors_guess_the_kind_and_round_trip() {
        let a = |s: &str| Selector::parse(s).unwrap();
        assert_eq!(a("0x0001"), Selector::Id(1));
        assert_eq!(a("258"), Selector::Id(258));
        assert_eq!(
            a("172.16.0.101"),
            Selector::Ip(Ipv4Addr::new(172, 16, 0, 101))
        );
        assert_eq!(a("02:00:00:00:00:01"), Selector::Mac([2, 0, 0, 0, 0, 1]));
        assert_eq!(a("testuser1"), Selector::User("testuser1".into()));
        assert_eq!(a("user=258"), Selector::User("258".into()));
        for s in [
            a("0x0101"),
            a("10.0.0.1"),
            a("02:00:00:00:00:01"),
            a("bob"),
            a("user=1"),
        ] {
            assert_eq!(Selector::parse(&s.to_word()), Ok(s.clone()));
        }
        assert!(Selector::parse("ip=10.0.0").is_err());
        assert!(Selector::parse("mac=zz").is_err());
        assert!(Selector::parse("").is_err());
    }

    #[test]
    fn filters_parse_and_round_trip() {
        let f = Filter::parse(
            "user=bob mac=02:00:00:00:00:01 ip=10.0.0.1 vlan=100 state=up json".split(' '),
        )
        .unwrap();
        assert_eq!(f.user.as_deref(), Some("bob"));
        assert_eq!(f.vlan, Some(100));
        assert!(f.json);
        let w = f.to_words();
        assert_eq!(Filter::parse(w.iter().map(String::as_str)), Ok(f));
        assert!(Filter::parse(["vlan=4096"].into_iter()).is_err());
        assert!(Filter::parse(["state=happy"].into_iter())
            .unwrap_err()
            .contains("one of lcp, auth"));
        assert!(Filter::parse(["colour=red"].into_iter()).is_err());
    }
}
