//! `pppoe-bras emulate`'s command line: the flags ([`EmulateArgs`]), their
//! translation into each client's [`ClientConfig`], the clients' MACs, and
//! the lines printed on stdout (`PADS`, `UP`, `UP6`, `DOWN`, …) that the
//! lab and the tests read.

use std::time::Duration;

use super::{
    client::{Client, ClientConfig, ClientEvent},
    profile::Profile,
};
use crate::{
    ppp::{peer::PeerConfig, AuthProto},
    wire::{
        eth::{fmt_mac, VlanTag, Vlans},
        text::escape,
    },
};

/// `--vlan 100` → one 802.1Q tag.
pub fn parse_vlan(s: &str) -> Result<Vlans, String> {
    let vid = parse_vid(s)?;
    Ok(Vlans::single(VlanTag::dot1q(vid)))
}

/// `--qinq 100.200` → outer 802.1ad (0x88a8) VID 100, inner 802.1Q VID 200.
pub fn parse_qinq(s: &str) -> Result<Vlans, String> {
    let (o, i) = s
        .split_once('.')
        .ok_or_else(|| format!("{s:?}: write OUTER.INNER, e.g. 100.200"))?;
    Ok(Vlans::double(
        VlanTag::dot1ad(parse_vid(o)?),
        VlanTag::dot1q(parse_vid(i)?),
    ))
}

fn parse_vid(s: &str) -> Result<u16, String> {
    match s.trim().parse::<u16>() {
        Ok(v) if (1..=4094).contains(&v) => Ok(v),
        _ => Err(format!("{s:?} is not a VLAN id (1 to 4094)")),
    }
}

/// `pppoe-bras emulate` flags.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Enter network namespace /run/netns/NAME first.
    #[arg(long, value_name = "NAME")]
    pub netns: Option<String>,
    /// Interface facing the BRAS.
    #[arg(short = 'I', long = "interface", value_name = "IF")]
    pub interface: String,
    #[arg(long, default_value = "testuser1")]
    pub user: String,
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Behave like this CPE: edgerouter, yamaha-rtx, yamaha-rtx-v6,
    /// cisco-ios, mschapv2-first, ipv6cp, max-payload, aggressive. Flags given
    /// explicitly (--mru, --auth, --max-payload, --lcp-echo-interval) win.
    #[arg(long, value_name = "NAME")]
    pub profile: Option<Profile>,
    /// Authentication we accept when the BRAS asks: chap, pap or any
    /// (default any, or the profile's).
    #[arg(long)]
    pub auth: Option<String>,
    /// Send every frame with one 802.1Q tag (VID 1–4094).
    #[arg(long, value_name = "VID", value_parser = parse_vlan, conflicts_with = "qinq")]
    pub vlan: Option<Vlans>,
    /// Send every frame double tagged: 802.1ad outer, 802.1Q inner (e.g. 100.200).
    #[arg(long, value_name = "OUTER.INNER", value_parser = parse_qinq)]
    pub qinq: Option<Vlans>,
    /// Number of sessions (distinct MACs; the interface is put in promiscuous mode when > 1).
    #[arg(long, default_value_t = 1)]
    pub sessions: u32,
    /// Sessions started per second, so a big `--sessions` does not flood
    /// the BRAS; 0 = all at once.
    #[arg(long, default_value_t = 500)]
    pub rate: u32,
    /// Sessions hung up per second on SIGTERM (default: `--rate`); 0 = all
    /// at once. A second SIGTERM hangs up the rest at once.
    #[arg(long, value_name = "N")]
    pub close_rate: Option<u32>,
    /// Print only `ALLUP` (once every session is up), the final `SUMMARY`
    /// line and failures, not a line per session event.
    #[arg(long)]
    pub quiet: bool,
    /// Carry session 1's IPv4 over this TUN device (its address set).
    #[arg(long, value_name = "NAME")]
    pub tun: Option<String>,
    /// With --tun: also make the TUN the default route (as a CPE's WAN is).
    /// Meant for a namespace of its own; on a host it replaces the host's
    /// default route.
    #[arg(long, requires = "tun")]
    pub default_route: bool,
    /// LCP MRU to ask for (default 1492, or the profile's).
    #[arg(long)]
    pub mru: Option<u16>,
    /// Ask for RFC 4638 PPP-Max-Payload.
    #[arg(long, value_name = "BYTES")]
    pub max_payload: Option<u16>,
    /// Service-Name to ask for.
    #[arg(long, default_value = "")]
    pub service_name: String,
    /// Don't ask for DNS servers in IPCP.
    #[arg(long)]
    pub no_dns: bool,
    /// Give up when a session is not up after this many seconds (counted
    /// from when the last session is due to start at `--rate`).
    #[arg(long, default_value_t = 30)]
    pub timeout: u64,
    /// Seconds between our LCP Echo-Requests (0: never send any; default
    /// 0, or the profile's).
    #[arg(long)]
    pub lcp_echo_interval: Option<u64>,
    /// Hold every received frame this long before the clients see it: a
    /// slow access line, so retransmissions (e.g. `--profile aggressive`)
    /// really reach the BRAS before their answers arrive.
    #[arg(long, value_name = "MS", default_value_t = 0)]
    pub rx_delay_ms: u64,
    /// No IPv6CP (a v4-only CPE: the BRAS's IPv6CP is Protocol-Rejected).
    /// By default the client negotiates IPv6CP, sends a Router
    /// Solicitation, takes SLAAC from the RA's /64 and asks DHCPv6 for a
    /// delegated prefix (`UP6` line).
    #[arg(long)]
    pub no_ipv6: bool,
    /// No IPCP (an IPv6-only CPE: the BRAS's IPCP is Protocol-Rejected);
    /// the session counts as up at its `UP6` line.
    #[arg(long, conflicts_with = "no_ipv6")]
    pub no_ipv4: bool,
    /// Also ask DHCPv6 for an address (IA_NA).
    #[arg(long)]
    pub ia_na: bool,
}

impl EmulateArgs {
    /// Client `i`'s settings: defaults, then the profile, then explicit flags.
    pub fn client_config(&self, i: u32, mac: [u8; 6]) -> anyhow::Result<ClientConfig> {
        let mut cfg = ClientConfig {
            mac,
            vlans: self.vlan.or(self.qinq).unwrap_or(Vlans::NONE),
            service_name: self.service_name.clone(),
            // Unique per process and client, as pppd's (its pid): two
            // emulators on one MAC must not look like one PADR retransmitted.
            host_uniq: [std::process::id().to_be_bytes(), i.to_be_bytes()].concat(),
            peer: PeerConfig {
                user: self.user.clone(),
                password: self.password.as_bytes().to_vec(),
                ipv4: !self.no_ipv4,
                ipv6: !self.no_ipv6,
                ..PeerConfig::default()
            },
            ia_na: self.ia_na,
            ..ClientConfig::default()
        };
        if let Some(p) = self.profile {
            p.apply(&mut cfg);
        }
        if let Some(a) = &self.auth {
            cfg.peer.auth_accept = match a.as_str() {
                "chap" => vec![AuthProto::Chap],
                "pap" => vec![AuthProto::Pap],
                "any" => vec![AuthProto::Chap, AuthProto::Pap],
                other => anyhow::bail!("--auth {other:?}: use chap, pap or any"),
            };
        }
        if let Some(m) = self.mru {
            cfg.peer.mru = m;
        }
        if self.max_payload.is_some() {
            cfg.max_payload = self.max_payload;
        }
        if self.no_dns {
            cfg.peer.request_dns = false;
        }
        if let Some(i) = self.lcp_echo_interval {
            cfg.peer.echo_interval = Duration::from_secs(i);
        }
        Ok(cfg)
    }
}

pub(super) fn print_event(i: usize, client: Option<&Client>, ev: &ClientEvent) {
    let sid = client.and_then(Client::session_id).unwrap_or(0);
    match ev {
        ClientEvent::SessionStarted {
            session_id,
            ac_mac,
            ac_name,
        } => println!(
            "PADS session={session_id:#06x} ac={} ac_name={:?} client={i}",
            fmt_mac(ac_mac),
            escape(ac_name)
        ),
        ClientEvent::AuthFailed { message } => {
            println!(
                "AUTHFAIL session={sid:#06x} message={:?} client={i}",
                escape(message)
            );
        }
        ClientEvent::Up {
            address,
            peer_address,
            dns,
            mru,
        } => {
            let dns: Vec<String> = dns.iter().flatten().map(ToString::to_string).collect();
            println!(
                "UP session={sid:#06x} address={address} peer={peer_address} dns={} mru={mru} client={i}",
                dns.join(",")
            );
        }
        ClientEvent::NetworkDown => println!("NETDOWN session={sid:#06x} client={i}"),
        ClientEvent::Ipv6Up {
            prefix,
            address,
            pd,
            na,
            dns,
        } => {
            let dns: Vec<String> = dns.iter().map(ToString::to_string).collect();
            println!(
                "UP6 session={sid:#06x} ipv6={} pd={} na={} dns6={} client={i}",
                match (address, prefix) {
                    (Some(a), Some((_, l))) => format!("{a}/{l}"),
                    (None, Some((p, l))) => format!("{p}/{l}"),
                    _ => "-".to_owned(),
                },
                pd.map_or_else(|| "-".to_owned(), |(p, l)| format!("{p}/{l}")),
                na.map_or_else(|| "-".to_owned(), |a| a.to_string()),
                dns.join(",")
            );
        }
        ClientEvent::Ipv6Released => println!("RELEASED6 session={sid:#06x} client={i}"),
        ClientEvent::ProtocolRejected { protocol } => {
            println!("PROTREJ session={sid:#06x} protocol={protocol:#06x} client={i}")
        }
        ClientEvent::EchoReply { count } => {
            println!("ECHOREPLY session={sid:#06x} count={count} client={i}")
        }
        ClientEvent::Down { reason } => {
            println!("DOWN session={sid:#06x} reason={reason} client={i}")
        }
    }
}

/// Client `i`'s MAC: session 0 uses the interface's own, the others
/// locally administered `02:e0:<i as 4 bytes>`.
pub fn client_mac(base: [u8; 6], i: u32) -> [u8; 6] {
    if i == 0 {
        return base;
    }
    let b = i.to_be_bytes();
    [0x02, 0xe0, b[0], b[1], b[2], b[3]]
}
