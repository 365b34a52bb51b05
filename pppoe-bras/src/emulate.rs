//! Subscriber emulator: PPPoE clients built on the same `wire` and `ppp` code
//! as the BRAS, in the peer role. This kernel has no pppd, so the lab and the
//! tests use this as the CPE.
//!
//! [`Client`] is sans-IO (frames and `now` in; frames, timers and events out);
//! [`main`] is its tokio shell: an AF_PACKET socket on the CPE interface and,
//! for one session, a TUN device carrying the session's IPv4 so ordinary
//! `ping` and sockets in the CPE namespace go through the PPPoE session.
//!
//! [`Profile`]s reproduce the control-plane behaviour of routers seen in the
//! field (`pppoe-bras emulate --profile edgerouter`), for interop tests.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use crate::rawsock::OwnsFd as _;
use crate::{
    ppp::{
        fsm::FsmConfig,
        peer::{Peer, PeerConfig, PeerEvent},
        proto, AuthProto,
    },
    wire::{
        eth::{fmt_mac, is_multicast, EthHeader, VlanTag, Vlans, BROADCAST},
        pppoe::{self, Code, DiscoveryTags, TagType},
        text::escape,
    },
};

/// One emulated subscriber's settings.
#[derive(Debug, Clone)]
pub struct ClientConfig {
    pub mac: [u8; 6],
    pub vlans: Vlans,
    /// Service-Name to ask for (empty: any).
    pub service_name: String,
    pub host_uniq: Vec<u8>,
    /// RFC 4638 PPP-Max-Payload to ask for.
    pub max_payload: Option<u16>,
    /// PADI/PADR retransmission interval (doubles each time, as pppd does,
    /// unless `discovery_backoff` is off).
    pub discovery_timeout: Duration,
    pub discovery_attempts: u32,
    /// Double the retransmission interval each time (pppd); off: a fixed
    /// interval (aggressive CPEs).
    pub discovery_backoff: bool,
    pub peer: PeerConfig,
    /// With `peer.ipv6`: also ask DHCPv6 for an address (IA_NA).
    pub ia_na: bool,
    /// With `peer.ipv6`: DHCPv6 Solicit with Rapid Commit.
    pub rapid_commit: bool,
}

impl Default for ClientConfig {
    /// pppd-like: untagged, any service, 2 s discovery timeout doubling, 5
    /// attempts, [`PeerConfig::default`].
    fn default() -> Self {
        ClientConfig {
            mac: [0x02, 0xc0, 0, 0, 0, 1],
            vlans: Vlans::NONE,
            service_name: String::new(),
            host_uniq: Vec::new(),
            max_payload: None,
            discovery_timeout: Duration::from_secs(2),
            discovery_attempts: 5,
            discovery_backoff: true,
            peer: PeerConfig::default(),
            ia_na: false,
            rapid_commit: false,
        }
    }
}

/// Control-plane behaviour of a CPE seen in the field. [`Profile::apply`]
/// turns a [`ClientConfig`] (user, password, MAC, VLANs kept) into it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Profile {
    /// Ubiquiti EdgeRouter (pppd 2.4 inside), as captured on a bench: LCP
    /// MRU 1492 + Magic-Number; IPCP Configure-Request with
    /// IP-Compression-Protocol VJ, IP-Address 0.0.0.0, primary and secondary
    /// DNS; a CCP Configure-Request that a BRAS without CCP must
    /// Protocol-Reject; accepts CHAP (and PAP).
    EdgeRouter,
    /// YAMAHA RTX on NTT FLET'S: MRU 1454, PAP only (Naks CHAP).
    YamahaRtx,
    /// Cisco IOS dialer: CHAP only, Magic-Number, MRU 1492, sends its own LCP
    /// Echo-Requests every 10 s.
    CiscoIos,
    /// A Windows-style client: Naks our first Auth-Protocol with MS-CHAPv2
    /// (`c2 23 81`), then accepts CHAP-MD5 when it is offered again.
    MsChapV2First,
    /// A dual-stack CPE: also sends an IPv6CP Configure-Request, which must
    /// get an LCP Protocol-Reject while IPv4 stays up.
    Ipv6cp,
    /// RFC 4638: PPP-Max-Payload 1500 in PADI/PADR, LCP MRU 1500.
    MaxPayload,
    /// Retransmits PADI/PADR and LCP/IPCP Configure-Requests (and PAP
    /// requests) every 200 ms without backoff, before answers can arrive on
    /// a slow link; the BRAS must still end up with one session.
    Aggressive,
}

impl Profile {
    /// Every profile, in the order the README lists them.
    pub const ALL: [Profile; 7] = [
        Profile::EdgeRouter,
        Profile::YamahaRtx,
        Profile::CiscoIos,
        Profile::MsChapV2First,
        Profile::Ipv6cp,
        Profile::MaxPayload,
        Profile::Aggressive,
    ];

    /// The `--profile` name.
    pub fn name(self) -> &'static str {
        match self {
            Profile::EdgeRouter => "edgerouter",
            Profile::YamahaRtx => "yamaha-rtx",
            Profile::CiscoIos => "cisco-ios",
            Profile::MsChapV2First => "mschapv2-first",
            Profile::Ipv6cp => "ipv6cp",
            Profile::MaxPayload => "max-payload",
            Profile::Aggressive => "aggressive",
        }
    }

    /// Make `cfg` behave like this CPE (identity, MAC and VLANs untouched).
    pub fn apply(self, cfg: &mut ClientConfig) {
        let p = &mut cfg.peer;
        match self {
            Profile::EdgeRouter => {
                p.mru = 1492;
                p.auth_accept = vec![AuthProto::Chap, AuthProto::Pap];
                p.request_dns = true;
                p.request_vj = true;
                p.extra_protocols = vec![proto::CCP];
            }
            Profile::YamahaRtx => {
                p.mru = 1454;
                p.auth_accept = vec![AuthProto::Pap];
                p.request_dns = true;
            }
            Profile::CiscoIos => {
                p.mru = 1492;
                p.auth_accept = vec![AuthProto::Chap];
                p.echo_interval = Duration::from_secs(10);
            }
            Profile::MsChapV2First => {
                p.auth_accept = vec![AuthProto::Chap];
                p.auth_nak_first = Some(vec![0xc2, 0x23, 0x81]);
            }
            Profile::Ipv6cp => {
                // One bare IPv6CP Configure-Request, as before the BRAS
                // spoke IPv6CP (a BRAS with `ipv6 = false` rejects it).
                p.ipv6 = false;
                p.extra_protocols = vec![proto::IPV6CP];
            }
            Profile::MaxPayload => {
                cfg.max_payload = Some(1500);
                p.mru = 1500;
            }
            Profile::Aggressive => {
                cfg.discovery_timeout = Duration::from_millis(200);
                cfg.discovery_backoff = false;
                cfg.discovery_attempts = 50;
                p.fsm = FsmConfig {
                    restart: Duration::from_millis(200),
                    max_configure: 50,
                    ..FsmConfig::default()
                };
            }
        }
    }
}

impl std::str::FromStr for Profile {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Profile::ALL
            .into_iter()
            .find(|p| p.name().eq_ignore_ascii_case(s))
            .ok_or_else(|| {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                format!("unknown profile {s:?}; use one of {}", names.join(", "))
            })
    }
}

impl std::fmt::Display for Profile {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

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

/// What happened to a client, for the shell to print.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientEvent {
    SessionStarted {
        session_id: u16,
        ac_mac: [u8; 6],
        ac_name: String,
    },
    AuthFailed {
        message: String,
    },
    Up {
        address: Ipv4Addr,
        peer_address: Ipv4Addr,
        dns: [Option<Ipv4Addr>; 2],
        mru: u16,
    },
    /// IPCP closed; LCP (the session) stays up.
    NetworkDown,
    /// IPv6 configured: the RA's /64 and our SLAAC address in it, the
    /// DHCPv6 delegated prefix and address (None: not given).
    Ipv6Up {
        prefix: Option<(std::net::Ipv6Addr, u8)>,
        address: Option<std::net::Ipv6Addr>,
        pd: Option<(std::net::Ipv6Addr, u8)>,
        na: Option<std::net::Ipv6Addr>,
        dns: Vec<std::net::Ipv6Addr>,
    },
    /// Our DHCPv6 Release was answered.
    Ipv6Released,
    /// The BRAS sent LCP Protocol-Reject for this protocol (once each).
    ProtocolRejected {
        protocol: u16,
    },
    /// An Echo-Reply to one of our Echo-Requests (`count` so far).
    EchoReply {
        count: u64,
    },
    Down {
        reason: String,
    },
}

enum State {
    Discovering {
        attempts: u32,
        next_at: Instant,
    },
    Requesting {
        ac_mac: [u8; 6],
        cookie: Option<Vec<u8>>,
        relay: Option<Vec<u8>>,
        attempts: u32,
        next_at: Instant,
    },
    Session {
        ac_mac: [u8; 6],
        session_id: u16,
        peer: Box<Peer>,
    },
    Finished,
}

/// One PPPoE client: discovery, then a PPP [`Peer`] on the session.
pub struct Client {
    cfg: ClientConfig,
    state: State,
    seed: u64,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<ClientEvent>,
    up: bool,
    /// The last session id PADS gave us (kept after the session ends).
    last_session_id: Option<u16>,
    /// AC-Name from the PADO we answered.
    ac_name: String,
    /// Protocol-Rejects and Echo-Replies already reported.
    rejected_seen: usize,
    echo_replies_seen: u64,
    /// IPv6 control plane (RS, SLAAC, DHCPv6) once IPv6CP is up.
    v6: Option<crate::v6::client::V6Client>,
    /// The latest `now` seen.
    now: Instant,
    /// RA DNS servers, for the Ipv6Up event.
    v6_dns: Vec<std::net::Ipv6Addr>,
}

impl Client {
    /// A client that sends its first PADI right away.
    pub fn new(cfg: ClientConfig, now: Instant, seed: u64) -> Self {
        let mut c = Client {
            cfg,
            state: State::Finished,
            seed,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            up: false,
            last_session_id: None,
            ac_name: String::new(),
            rejected_seen: 0,
            echo_replies_seen: 0,
            v6: None,
            now,
            v6_dns: Vec::new(),
        };
        c.send_padi();
        c.state = State::Discovering {
            attempts: 1,
            next_at: now + c.cfg.discovery_timeout,
        };
        c
    }

    /// True once IPCP has opened (and stays true after it went down).
    pub fn was_up(&self) -> bool {
        self.up
    }

    /// True when the client has nothing more to do.
    pub fn is_finished(&self) -> bool {
        matches!(self.state, State::Finished)
    }

    /// The session id, once PADS arrived (also after the session ended).
    pub fn session_id(&self) -> Option<u16> {
        self.last_session_id
    }

    /// The PPP peer while the session lasts.
    pub fn peer(&self) -> Option<&Peer> {
        match &self.state {
            State::Session { peer, .. } => Some(peer),
            _ => None,
        }
    }

    /// The PPP peer while the session lasts (e.g. to change the password
    /// before a CHAP re-challenge).
    pub fn peer_mut(&mut self) -> Option<&mut Peer> {
        match &mut self.state {
            State::Session { peer, .. } => Some(peer),
            _ => None,
        }
    }

    pub fn config(&self) -> &ClientConfig {
        &self.cfg
    }

    fn retransmit_after(&self, attempts: u32) -> Duration {
        if self.cfg.discovery_backoff {
            self.cfg.discovery_timeout * (1 << attempts.saturating_sub(1).min(4))
        } else {
            self.cfg.discovery_timeout
        }
    }

    fn eth(&self, dst: [u8; 6], ethertype: u16) -> EthHeader {
        EthHeader {
            dst,
            src: self.cfg.mac,
            vlans: self.cfg.vlans,
            ethertype,
        }
    }

    fn discovery_tags(&self) -> Vec<(TagType, Vec<u8>)> {
        let mut tags = vec![(
            TagType::ServiceName,
            self.cfg.service_name.as_bytes().to_vec(),
        )];
        if !self.cfg.host_uniq.is_empty() {
            tags.push((TagType::HostUniq, self.cfg.host_uniq.clone()));
        }
        if let Some(mp) = self.cfg.max_payload {
            tags.push((TagType::PppMaxPayload, mp.to_be_bytes().to_vec()));
        }
        tags
    }

    fn send_padi(&mut self) {
        let tags = self.discovery_tags();
        let refs: Vec<(TagType, &[u8])> = tags.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        let eth = self.eth(BROADCAST, pppoe_bras_common::proto::ETH_P_PPP_DISC);
        self.transmit
            .push_back(pppoe::discovery_frame(&eth, Code::Padi, 0, &refs));
    }

    fn send_padr(&mut self, ac_mac: [u8; 6], cookie: Option<&[u8]>, relay: Option<&[u8]>) {
        let mut tags = self.discovery_tags();
        if let Some(c) = cookie {
            tags.push((TagType::AcCookie, c.to_vec()));
        }
        if let Some(r) = relay {
            tags.push((TagType::RelaySessionId, r.to_vec()));
        }
        let refs: Vec<(TagType, &[u8])> = tags.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        let eth = self.eth(ac_mac, pppoe_bras_common::proto::ETH_P_PPP_DISC);
        self.transmit
            .push_back(pppoe::discovery_frame(&eth, Code::Padr, 0, &refs));
    }

    /// A frame from the wire. Returns the IPv4 packet when it is session data.
    pub fn handle_frame<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Option<&'a [u8]> {
        let (eth, payload) = EthHeader::parse(frame).ok()?;
        if eth.dst != self.cfg.mac || eth.vlans != self.cfg.vlans || is_multicast(&eth.src) {
            return None;
        }
        match eth.ethertype {
            pppoe_bras_common::proto::ETH_P_PPP_DISC => {
                self.handle_discovery(now, &eth, payload);
                None
            }
            pppoe_bras_common::proto::ETH_P_PPP_SES => self.handle_session(now, &eth, payload),
            _ => None,
        }
    }

    fn handle_discovery(&mut self, now: Instant, eth: &EthHeader, payload: &[u8]) {
        let Ok((hdr, body)) = pppoe::Header::parse(payload) else {
            return;
        };
        let Ok(tags) = DiscoveryTags::parse(body) else {
            return;
        };
        // Host-Uniq tells our PADO/PADS from other clients' on a shared
        // segment; PADT needs no Host-Uniq (RFC 2516 §5.5).
        let ours =
            self.cfg.host_uniq.is_empty() || tags.host_uniq == Some(self.cfg.host_uniq.as_slice());
        if !ours && hdr.code != Code::Padt {
            return;
        }
        match (&self.state, hdr.code) {
            (State::Discovering { .. }, Code::Pado) => {
                self.ac_name = tags
                    .ac_name
                    .map(|v| String::from_utf8_lossy(v).into_owned())
                    .unwrap_or_default();
                let cookie = tags.ac_cookie.map(<[u8]>::to_vec);
                let relay = tags.relay_session_id.map(<[u8]>::to_vec);
                self.send_padr(eth.src, cookie.as_deref(), relay.as_deref());
                self.state = State::Requesting {
                    ac_mac: eth.src,
                    cookie,
                    relay,
                    attempts: 1,
                    next_at: now + self.cfg.discovery_timeout,
                };
            }
            (State::Requesting { ac_mac, .. }, Code::Pads) if *ac_mac == eth.src => {
                let ac_mac = *ac_mac;
                if hdr.session_id == 0 {
                    let why = tags
                        .service_name_error
                        .or(tags.ac_system_error)
                        .or(tags.generic_error)
                        .map(|v| escape(v).to_string())
                        .unwrap_or_default();
                    self.finish(format!("PADS refused: {why}"));
                    return;
                }
                let mut peer_cfg = self.cfg.peer.clone();
                if let Some(mp) = tags
                    .ppp_max_payload
                    .filter(|_| self.cfg.max_payload.is_some())
                {
                    peer_cfg.mru = peer_cfg.mru.max(mp);
                }
                let peer = Peer::new(peer_cfg, now, self.seed);
                self.events.push_back(ClientEvent::SessionStarted {
                    session_id: hdr.session_id,
                    ac_mac,
                    ac_name: self.ac_name.clone(),
                });
                self.last_session_id = Some(hdr.session_id);
                self.state = State::Session {
                    ac_mac,
                    session_id: hdr.session_id,
                    peer: Box::new(peer),
                };
                self.drive_peer();
            }
            (
                State::Session {
                    ac_mac, session_id, ..
                },
                Code::Padt,
            ) if *ac_mac == eth.src && *session_id == hdr.session_id => {
                self.finish("PADT from the BRAS".to_owned());
            }
            _ => {}
        }
    }

    fn handle_session<'a>(
        &mut self,
        now: Instant,
        eth: &EthHeader,
        payload: &'a [u8],
    ) -> Option<&'a [u8]> {
        let State::Session {
            ac_mac,
            session_id,
            peer,
        } = &mut self.state
        else {
            return None;
        };
        let (sid, protocol, info) = pppoe::parse_session(payload).ok()?;
        if sid != *session_id || eth.src != *ac_mac {
            return None;
        }
        if protocol == proto::IPV4 {
            return Some(info);
        }
        self.now = now;
        if protocol == proto::IPV6 {
            if let Some(v6) = self.v6.as_mut() {
                // RA and DHCPv6 are the client's; anything else is data
                // for the TUN (ping6 replies and the like).
                if !is_v6_control(info) {
                    return Some(info);
                }
                v6.handle_packet(now, info);
                self.drive_v6();
                return None;
            }
        }
        peer.handle_frame(now, protocol, info);
        self.drive_peer();
        None
    }

    /// Run expired timers.
    pub fn handle_timeout(&mut self, now: Instant) {
        match &mut self.state {
            State::Discovering { attempts, next_at } if *next_at <= now => {
                if *attempts >= self.cfg.discovery_attempts {
                    self.finish("no PADO".to_owned());
                    return;
                }
                *attempts += 1;
                let n = *attempts;
                let at = now + self.retransmit_after(n);
                if let State::Discovering { next_at, .. } = &mut self.state {
                    *next_at = at;
                }
                self.send_padi();
            }
            State::Requesting {
                ac_mac,
                cookie,
                relay,
                attempts,
                next_at,
            } if *next_at <= now => {
                if *attempts >= self.cfg.discovery_attempts {
                    self.finish("no PADS".to_owned());
                    return;
                }
                *attempts += 1;
                let n = *attempts;
                let (ac_mac, cookie, relay) = (*ac_mac, cookie.clone(), relay.clone());
                let at = now + self.retransmit_after(n);
                if let State::Requesting { next_at, .. } = &mut self.state {
                    *next_at = at;
                }
                self.send_padr(ac_mac, cookie.as_deref(), relay.as_deref());
            }
            State::Session { peer, .. } => {
                self.now = now;
                if peer.poll_timeout().is_some_and(|t| t <= now) {
                    peer.handle_timeout(now);
                    self.drive_peer();
                }
                if let Some(v6) = self.v6.as_mut() {
                    if v6.poll_timeout().is_some_and(|t| t <= now) {
                        v6.handle_timeout(now);
                        self.drive_v6();
                    }
                }
            }
            _ => {}
        }
    }

    /// The IPv6 side (after IPv6CP opened), e.g. to renew or release.
    pub fn v6(&self) -> Option<&crate::v6::client::V6Client> {
        self.v6.as_ref()
    }

    /// DHCPv6 Renew now.
    pub fn v6_renew(&mut self, now: Instant) {
        if let Some(v6) = self.v6.as_mut() {
            v6.renew(now);
            self.drive_v6();
        }
    }

    /// DHCPv6 Release now.
    pub fn v6_release(&mut self, now: Instant) {
        if let Some(v6) = self.v6.as_mut() {
            v6.release(now);
            self.drive_v6();
        }
    }

    /// Send the IPv6 side's packets, report its events.
    fn drive_v6(&mut self) {
        let State::Session {
            ac_mac, session_id, ..
        } = &self.state
        else {
            return;
        };
        let (ac_mac, session_id) = (*ac_mac, *session_id);
        let Some(v6) = self.v6.as_mut() else {
            return;
        };
        let mut frames = Vec::new();
        while let Some(p) = v6.poll_transmit() {
            frames.push(p);
        }
        let mut evs = Vec::new();
        while let Some(ev) = v6.poll_event() {
            evs.push(ev);
        }
        let (prefix, address) = (v6.prefix64, v6.address);
        for p in frames {
            let eth = self.eth(ac_mac, pppoe_bras_common::proto::ETH_P_PPP_SES);
            self.transmit
                .push_back(pppoe::session_frame(&eth, session_id, proto::IPV6, &p));
        }
        use crate::v6::client::V6ClientEvent as E;
        for ev in evs {
            match ev {
                E::RouterAdvertisement { dns, .. } => self.v6_dns = dns,
                E::Bound {
                    pd,
                    address: na,
                    dns,
                } => {
                    let dns = if dns.is_empty() {
                        self.v6_dns.clone()
                    } else {
                        dns
                    };
                    self.events.push_back(ClientEvent::Ipv6Up {
                        prefix,
                        address,
                        pd,
                        na,
                        dns,
                    });
                }
                E::Released => self.events.push_back(ClientEvent::Ipv6Released),
                E::Failed(what) => log::debug!("ipv6: {what}"),
            }
        }
    }

    /// The next instant `handle_timeout` has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.state {
            State::Discovering { next_at, .. } | State::Requesting { next_at, .. } => {
                Some(*next_at)
            }
            State::Session { peer, .. } => [
                peer.poll_timeout(),
                self.v6.as_ref().and_then(|v| v.poll_timeout()),
            ]
            .into_iter()
            .flatten()
            .min(),
            State::Finished => None,
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<ClientEvent> {
        self.events.pop_front()
    }

    /// Wrap an IPv4 packet for the session; `None` before the session exists.
    pub fn encap_ipv4(&self, packet: &[u8]) -> Option<Vec<u8>> {
        let State::Session {
            ac_mac, session_id, ..
        } = &self.state
        else {
            return None;
        };
        let eth = self.eth(*ac_mac, pppoe_bras_common::proto::ETH_P_PPP_SES);
        // The version nibble picks the PPP protocol (the TUN carries both).
        let protocol = match packet.first().map(|b| b >> 4) {
            Some(6) => proto::IPV6,
            _ => proto::IPV4,
        };
        Some(pppoe::session_frame(&eth, *session_id, protocol, packet))
    }

    /// Hang up: LCP Terminate-Request, then PADT right away (as pppd does on
    /// SIGTERM).
    pub fn close(&mut self, now: Instant) {
        if let State::Session {
            ac_mac,
            session_id,
            peer,
        } = &mut self.state
        {
            peer.close(now, crate::ppp::DownReason::AdminClose);
            let (ac_mac, session_id) = (*ac_mac, *session_id);
            self.drive_peer();
            let eth = self.eth(ac_mac, pppoe_bras_common::proto::ETH_P_PPP_DISC);
            self.transmit
                .push_back(pppoe::discovery_frame(&eth, Code::Padt, session_id, &[]));
            self.events.push_back(ClientEvent::Down {
                reason: "closed".to_owned(),
            });
            self.state = State::Finished;
        } else if !self.is_finished() {
            self.finish("closed before the session started".to_owned());
        }
    }

    fn finish(&mut self, reason: String) {
        self.events.push_back(ClientEvent::Down { reason });
        self.state = State::Finished;
    }

    fn drive_peer(&mut self) {
        loop {
            let State::Session {
                ac_mac,
                session_id,
                peer,
            } = &mut self.state
            else {
                return;
            };
            let (ac_mac, session_id) = (*ac_mac, *session_id);
            if let Some((protocol, info)) = peer.poll_transmit() {
                let eth = self.eth(ac_mac, pppoe_bras_common::proto::ETH_P_PPP_SES);
                self.transmit
                    .push_back(pppoe::session_frame(&eth, session_id, protocol, &info));
                continue;
            }
            if let Some(&protocol) = peer.rejected_protocols().get(self.rejected_seen) {
                self.rejected_seen += 1;
                self.events
                    .push_back(ClientEvent::ProtocolRejected { protocol });
                continue;
            }
            let (_, replies) = peer.echo_counts();
            if replies > self.echo_replies_seen {
                self.echo_replies_seen = replies;
                self.events
                    .push_back(ClientEvent::EchoReply { count: replies });
                continue;
            }
            let Some(ev) = peer.poll_event() else {
                return;
            };
            match ev {
                PeerEvent::Authenticated => {}
                PeerEvent::Ipv6Up { our_iid, .. } => {
                    let mut v6 = crate::v6::client::V6Client::new(
                        self.cfg.mac,
                        self.cfg.ia_na,
                        self.cfg.rapid_commit,
                        self.seed as u32,
                    );
                    v6.start(self.now, our_iid);
                    self.v6 = Some(v6);
                    self.drive_v6();
                }
                PeerEvent::Ipv6Down => {}
                PeerEvent::NetworkDown => {
                    self.events.push_back(ClientEvent::NetworkDown);
                }
                PeerEvent::AuthFailed { message } => {
                    self.events.push_back(ClientEvent::AuthFailed { message });
                }
                PeerEvent::Up {
                    address,
                    peer_address,
                    dns,
                    mru,
                } => {
                    self.up = true;
                    self.events.push_back(ClientEvent::Up {
                        address,
                        peer_address,
                        dns,
                        mru,
                    });
                }
                PeerEvent::Down { reason } => {
                    // Drain the peer's last frames (Terminate-Ack) first.
                    while let Some((protocol, info)) = peer.poll_transmit() {
                        let eth = EthHeader {
                            dst: ac_mac,
                            src: self.cfg.mac,
                            vlans: self.cfg.vlans,
                            ethertype: pppoe_bras_common::proto::ETH_P_PPP_SES,
                        };
                        self.transmit
                            .push_back(pppoe::session_frame(&eth, session_id, protocol, &info));
                    }
                    let eth = self.eth(ac_mac, pppoe_bras_common::proto::ETH_P_PPP_DISC);
                    self.transmit.push_back(pppoe::discovery_frame(
                        &eth,
                        Code::Padt,
                        session_id,
                        &[],
                    ));
                    self.finish(reason.to_string());
                    return;
                }
            }
        }
    }
}

/// Start or stop pacing: item `k` is due at `t0 + k / rate` (all at once when
/// `rate` is 0).
#[derive(Debug, Clone, Copy)]
struct Pacer {
    t0: Instant,
    rate: u32,
    /// Items already done.
    done: u64,
}

impl Pacer {
    fn new(t0: Instant, rate: u32) -> Self {
        Pacer { t0, rate, done: 0 }
    }

    /// When item number `done` is due.
    fn next_at(&self) -> Instant {
        if self.rate == 0 {
            return self.t0;
        }
        let nanos = u128::from(self.done) * 1_000_000_000 / u128::from(self.rate);
        self.t0 + Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
    }

    fn is_due(&self, now: Instant) -> bool {
        self.next_at() <= now
    }
}

/// A client index could not be added: another client already has this MAC
/// and VLAN tag stack, so frames for it could not be told apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("two clients with MAC {} and tags {vlans}", fmt_mac(.mac))]
pub struct DuplicateClient {
    pub mac: [u8; 6],
    pub vlans: Vlans,
}

/// Counters of a [`Fleet`], for the `SUMMARY` line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FleetStats {
    /// Clients launched, started or still waiting for their start time.
    pub clients: usize,
    /// Clients that sent their first PADI.
    pub started: usize,
    /// Clients whose IPCP opened at least once.
    pub up: usize,
    /// Clients that are finished (session ended or discovery gave up).
    pub finished: usize,
    /// Finished without ever being up.
    pub failed: usize,
    /// When the first and the latest client came up.
    pub first_up: Option<Instant>,
    pub last_up: Option<Instant>,
    /// Frames addressed to no client of ours (broadcast, other hosts).
    pub unknown_dst: u64,
}

impl FleetStats {
    /// `SUMMARY sessions=N up=U failed=F first_up_ms=.. all_up_ms=.. rate=../s`
    /// with times since `start`; `all_up_ms` and `rate` are `-` until every
    /// client came up (`rate` = sessions up per second from start to the
    /// last one up).
    pub fn summary_line(&self, start: Instant) -> String {
        self.line("SUMMARY", start)
    }

    /// [`FleetStats::summary_line`] with another first word (`ALLUP`).
    pub fn line(&self, tag: &str, start: Instant) -> String {
        let ms = |t: Option<Instant>| {
            t.map_or_else(
                || "-".to_owned(),
                |t| t.saturating_duration_since(start).as_millis().to_string(),
            )
        };
        let all_up = self.up == self.clients && self.clients > 0;
        let last = self.last_up.filter(|_| all_up);
        let rate = last.map_or_else(
            || "-".to_owned(),
            |t| {
                let secs = t.saturating_duration_since(start).as_secs_f64();
                if secs > 0.0 {
                    format!("{:.1}/s", self.up as f64 / secs)
                } else {
                    "-".to_owned()
                }
            },
        );
        format!(
            "{tag} sessions={} up={} failed={} first_up_ms={} all_up_ms={} rate={rate}",
            self.clients,
            self.up,
            self.clients - self.up,
            ms(self.first_up),
            ms(last),
        )
    }
}

/// Many [`Client`]s on one interface, sans-IO, at scale: a received frame
/// goes to the one client its destination MAC and VLAN tags name (one hash
/// lookup; broadcast and unknown destinations are counted and dropped);
/// deadlines sit in a heap with lazy invalidation (a client's entry is
/// pushed only when its deadline changes), so a tick costs O(k log n) for k
/// due clients. Starts are paced ([`Fleet::launch`]), and so is the
/// hang-up ([`Fleet::close`]), so a big fleet does not flood the BRAS.
///
/// Client `i` is the `i`-th configuration launched; events carry `i`.
pub struct Fleet {
    clients: Vec<Client>,
    /// Configurations launched but not started yet, in order.
    pending: VecDeque<ClientConfig>,
    launch: Option<Pacer>,
    /// Hang-up in progress: clients `..next_close` are done.
    closing: Option<Pacer>,
    next_close: usize,
    /// (MAC, VLANs) → client index (also for pending clients).
    by_addr: HashMap<([u8; 6], Vlans), usize>,
    timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The deadline each client has in `timers`.
    scheduled: Vec<Option<Instant>>,
    up_seen: Vec<bool>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<(usize, ClientEvent)>,
    seed: u64,
    stats: FleetStats,
}

impl Fleet {
    /// An empty fleet; client seeds are derived from `seed`.
    pub fn new(seed: u64) -> Self {
        Fleet {
            clients: Vec::new(),
            pending: VecDeque::new(),
            launch: None,
            closing: None,
            next_close: 0,
            by_addr: HashMap::new(),
            timers: BinaryHeap::new(),
            scheduled: Vec::new(),
            up_seen: Vec::new(),
            transmit: VecDeque::new(),
            events: VecDeque::new(),
            seed,
            stats: FleetStats {
                clients: 0,
                started: 0,
                up: 0,
                finished: 0,
                failed: 0,
                first_up: None,
                last_up: None,
                unknown_dst: 0,
            },
        }
    }

    /// Start clients with these settings, `rate` per second from `now`
    /// (0: all at once, at the next [`Fleet::handle_timeout`] or poll). If a
    /// launch is still in progress, these queue behind it at its rate.
    /// Refused as a whole when two clients would share a MAC and VLAN tags.
    pub fn launch(
        &mut self,
        now: Instant,
        cfgs: impl IntoIterator<Item = ClientConfig>,
        rate: u32,
    ) -> Result<(), DuplicateClient> {
        let cfgs: Vec<ClientConfig> = cfgs.into_iter().collect();
        let first = self.stats.clients;
        let mut added = Vec::with_capacity(cfgs.len());
        for (n, c) in cfgs.iter().enumerate() {
            let key = (c.mac, c.vlans);
            if self.by_addr.contains_key(&key) {
                for k in added {
                    self.by_addr.remove(&k);
                }
                return Err(DuplicateClient {
                    mac: c.mac,
                    vlans: c.vlans,
                });
            }
            self.by_addr.insert(key, first + n);
            added.push(key);
        }
        self.stats.clients += cfgs.len();
        if self.pending.is_empty() {
            self.launch = Some(Pacer::new(now, rate));
        }
        self.pending.extend(cfgs);
        self.start_due(now);
        Ok(())
    }

    /// Number of clients launched (started or not).
    pub fn len(&self) -> usize {
        self.stats.clients
    }

    /// True when nothing was launched.
    pub fn is_empty(&self) -> bool {
        self.stats.clients == 0
    }

    /// Client `i`, once started.
    pub fn client(&self, i: usize) -> Option<&Client> {
        self.clients.get(i)
    }

    /// Every started client, in launch order.
    pub fn clients(&self) -> &[Client] {
        &self.clients
    }

    pub fn stats(&self) -> FleetStats {
        self.stats
    }

    /// True when every launched client started and finished.
    pub fn is_done(&self) -> bool {
        self.pending.is_empty() && self.stats.finished == self.clients.len()
    }

    /// True when every launched client is up (or was).
    pub fn all_up(&self) -> bool {
        self.stats.up == self.stats.clients
    }

    /// A frame from the wire, for the client it is addressed to. Returns
    /// that client's index and the IPv4 packet when it is session data.
    pub fn handle_frame<'a>(&mut self, now: Instant, frame: &'a [u8]) -> Option<(usize, &'a [u8])> {
        let Ok((eth, _)) = EthHeader::parse(frame) else {
            self.stats.unknown_dst += 1;
            return None;
        };
        let i = match self.by_addr.get(&(eth.dst, eth.vlans)) {
            Some(&i) if i < self.clients.len() => i,
            _ => {
                self.stats.unknown_dst += 1;
                return None;
            }
        };
        let ip = self.clients.get_mut(i)?.handle_frame(now, frame);
        self.collect(now, i);
        ip.map(|p| (i, p))
    }

    /// Run what is due: client timers, paced starts and hang-ups.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.start_due(now);
        self.close_due(now);
        let mut due = Vec::new();
        while let Some(&Reverse((at, i))) = self.timers.peek() {
            if at > now {
                break;
            }
            self.timers.pop();
            due.push((at, i));
        }
        for (at, i) in due {
            if self.scheduled.get(i) != Some(&Some(at)) {
                continue; // stale entry
            }
            if let Some(s) = self.scheduled.get_mut(i) {
                *s = None;
            }
            if let Some(c) = self.clients.get_mut(i) {
                c.handle_timeout(now);
            }
            self.collect(now, i);
        }
    }

    /// The earliest instant [`Fleet::handle_timeout`] has work to do.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let start = self
            .launch
            .filter(|_| !self.pending.is_empty())
            .map(|p| p.next_at());
        let close = self
            .closing
            .filter(|_| self.next_close < self.clients.len())
            .map(|p| p.next_at());
        let timer = self.timers.peek().map(|Reverse((at, _))| *at);
        [start, close, timer].into_iter().flatten().min()
    }

    /// Next frame to send.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    /// Next event, with the index of its client.
    pub fn poll_event(&mut self) -> Option<(usize, ClientEvent)> {
        self.events.pop_front()
    }

    /// Wrap an IPv4 packet for client `i`'s session.
    pub fn encap_ipv4(&self, i: usize, packet: &[u8]) -> Option<Vec<u8>> {
        self.clients.get(i)?.encap_ipv4(packet)
    }

    /// Hang up every client, `rate` per second from `now` (0: all at once);
    /// clients not started yet never start (they count as failed).
    pub fn close(&mut self, now: Instant, rate: u32) {
        self.pending.clear();
        self.by_addr.retain(|_, i| *i < self.clients.len());
        // A second call with rate 0 hurries a paced hang-up along.
        self.closing = Some(match self.closing {
            Some(p) if rate != 0 => p,
            _ => Pacer::new(now, rate),
        });
        self.close_due(now);
    }

    fn start_due(&mut self, now: Instant) {
        while let Some(p) = self.launch.as_mut().filter(|p| p.is_due(now)) {
            let Some(cfg) = self.pending.pop_front() else {
                break;
            };
            p.done += 1;
            self.seed = self
                .seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let i = self.clients.len();
            self.clients.push(Client::new(cfg, now, self.seed));
            self.scheduled.push(None);
            self.up_seen.push(false);
            self.stats.started += 1;
            self.collect(now, i);
        }
    }

    fn close_due(&mut self, now: Instant) {
        while let Some(p) = self.closing.as_mut().filter(|p| p.is_due(now)) {
            let Some(c) = self.clients.get_mut(self.next_close) else {
                break;
            };
            let i = self.next_close;
            self.next_close += 1;
            if c.is_finished() {
                continue; // costs no frames, so no slot either
            }
            p.done += 1;
            c.close(now);
            self.collect(now, i);
        }
    }

    /// After client `i` was touched: take its frames and events, update the
    /// counters, reschedule its deadline if it changed.
    fn collect(&mut self, now: Instant, i: usize) {
        let Some(c) = self.clients.get_mut(i) else {
            return;
        };
        while let Some(f) = c.poll_transmit() {
            self.transmit.push_back(f);
        }
        while let Some(ev) = c.poll_event() {
            match &ev {
                ClientEvent::Up { .. } => {
                    if let Some(seen @ false) = self.up_seen.get_mut(i) {
                        *seen = true;
                        self.stats.up += 1;
                        self.stats.first_up.get_or_insert(now);
                        self.stats.last_up = Some(now);
                    }
                }
                ClientEvent::Down { .. } => {
                    self.stats.finished += 1;
                    if !self.up_seen.get(i).copied().unwrap_or(false) {
                        self.stats.failed += 1;
                    }
                }
                _ => {}
            }
            self.events.push_back((i, ev));
        }
        let at = c.poll_timeout();
        let Some(s) = self.scheduled.get_mut(i) else {
            return;
        };
        if *s != at {
            *s = at;
            if let Some(at) = at {
                self.timers.push(Reverse((at, i)));
                if self.timers.len() > 2 * self.clients.len() + 64 {
                    let live: Vec<_> = self
                        .scheduled
                        .iter()
                        .enumerate()
                        .filter_map(|(i, s)| s.map(|at| Reverse((at, i))))
                        .collect();
                    self.timers = BinaryHeap::from(live);
                }
            }
        }
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
    /// Behave like this CPE: edgerouter, yamaha-rtx, cisco-ios,
    /// mschapv2-first, ipv6cp, max-payload, aggressive. Flags given
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

/// Run `pppoe-bras emulate`.
pub fn main(args: EmulateArgs) -> anyhow::Result<()> {
    if let Some(ns) = &args.netns {
        crate::rawsock::enter_netns(ns)?;
    }
    let code = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(shell(args))?;
    std::process::exit(code);
}

fn print_event(i: usize, client: Option<&Client>, ev: &ClientEvent) {
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

async fn shell(args: EmulateArgs) -> anyhow::Result<i32> {
    use std::io::ErrorKind::WouldBlock;
    use tokio::{
        io::unix::AsyncFd,
        signal::unix::{signal, SignalKind},
    };

    let sock = crate::rawsock::PacketSocket::open(&args.interface)?.into_async()?;
    let base_mac = crate::rawsock::if_mac(&args.interface)?;
    if args.sessions > 1 {
        run_ip(&["link", "set", &args.interface, "promisc", "on"])?;
    }
    let cfgs = (0..args.sessions)
        .map(|i| args.client_config(i, client_mac(base_mac, i)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tun = match &args.tun {
        Some(name) if args.sessions == 1 => Some(crate::rawsock::Tun::create(name)?.into_async()?),
        Some(_) => anyhow::bail!("--tun works with --sessions 1 only"),
        None => None,
    };
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let start = Instant::now();
    let mut fleet = Fleet::new(rand::random());
    fleet.launch(start, cfgs, args.rate)?;
    let launch_time = match args.rate {
        0 => Duration::ZERO,
        r => Duration::from_secs_f64(f64::from(args.sessions) / f64::from(r)),
    };
    let give_up =
        tokio::time::Instant::from_std(start + launch_time + Duration::from_secs(args.timeout));
    let mut buf = Vec::with_capacity(65536);
    let mut tun_buf = vec![0u8; 65536];
    let close_rate = args.close_rate.unwrap_or(args.rate);
    let mut closing = false;
    let mut announced = false;
    let rx_delay = Duration::from_millis(args.rx_delay_ms);
    // Frames held back by --rx-delay-ms, in arrival order.
    let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let to_tun = |tun: &Option<AsyncFd<crate::rawsock::Tun>>, ip: &[u8]| {
        if let Some(t) = tun {
            let _ = t.get_ref().send(ip);
        }
    };
    loop {
        let now = Instant::now();
        while held.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, frame)) = held.pop_front() {
                if let Some((_, ip)) = fleet.handle_frame(now, &frame) {
                    to_tun(&tun, ip);
                }
            }
        }
        while let Some(frame) = fleet.poll_transmit() {
            if let Err(e) = sock.get_ref().send(&frame) {
                log::warn!("send: {e}");
            }
        }
        while let Some((i, ev)) = fleet.poll_event() {
            // Configure the TUN before saying UP, so whoever waits for
            // the line can use the session at once.
            if let (ClientEvent::Up { address, mru, .. }, Some(t)) = (&ev, &tun) {
                let name = t.get_ref().name().to_owned();
                configure_tun(&name, *address, *mru, args.default_route)
                    .context("configure the TUN device")?;
            }
            if let (
                ClientEvent::Ipv6Up {
                    address: Some(a), ..
                },
                Some(t),
            ) = (&ev, &tun)
            {
                let name = t.get_ref().name().to_owned();
                // A namespace with IPv6 disabled still gets its IPv4.
                if let Err(e) = configure_tun6(&name, *a, args.default_route) {
                    log::warn!("IPv6 on {name}: {e:#}");
                }
            }
            let failure = matches!(ev, ClientEvent::AuthFailed { .. })
                || matches!(&ev, ClientEvent::Down { .. } if !fleet.client(i).is_some_and(Client::was_up));
            if !args.quiet || failure {
                print_event(i, fleet.client(i), &ev);
            }
        }
        if !announced && fleet.all_up() {
            // Once, when the last session came up: for benches that
            // measure before hanging up.
            announced = true;
            println!("{}", fleet.stats().line("ALLUP", start));
        }
        if fleet.is_done() {
            break;
        }
        let deadline = fleet
            .poll_timeout()
            .into_iter()
            .chain(held.front().map(|(at, _)| *at))
            .min();
        let all_up = fleet.all_up();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let tun_readable = async {
            match &tun {
                Some(t) => t.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            guard = sock.readable() => {
                let mut guard = guard?;
                // Bounded batch so timers and signals are never starved.
                for _ in 0..1024 {
                    match sock.get_ref().recv(&mut buf) {
                        Ok(()) if !rx_delay.is_zero() => {
                            if held.len() < 100_000 {
                                held.push_back((Instant::now() + rx_delay, buf.clone()));
                            }
                        }
                        Ok(()) => {
                            if let Some((_, ip)) = fleet.handle_frame(Instant::now(), &buf) {
                                to_tun(&tun, ip);
                            }
                        }
                        Err(e) if e.kind() == WouldBlock => { guard.clear_ready(); break; }
                        Err(e) => return Err(e).context("recv"),
                    }
                }
            }
            guard = tun_readable => {
                let mut guard = guard?;
                let t = tun.as_ref().map(AsyncFd::get_ref);
                while let Some(t) = t {
                    match t.recv(&mut tun_buf) {
                        Ok(n) => {
                            if let Some(frame) = fleet.encap_ipv4(0, tun_buf.get(..n).unwrap_or_default()) {
                                let _ = sock.get_ref().send(&frame);
                            }
                        }
                        Err(e) if e.kind() == WouldBlock => { guard.clear_ready(); break; }
                        Err(e) => return Err(e).context("tun read"),
                    }
                }
            }
            () = sleep => fleet.handle_timeout(Instant::now()),
            () = tokio::time::sleep_until(give_up), if !all_up && !closing => {
                let st = fleet.stats();
                eprintln!(
                    "emulate: not every session came up within {} s ({} of {} up)",
                    args.timeout, st.up, st.clients
                );
                fleet.close(Instant::now(), close_rate);
                closing = true;
            }
            // A second signal hangs up the rest at once.
            _ = sigterm.recv() => {
                fleet.close(Instant::now(), if closing { 0 } else { close_rate });
                closing = true;
            }
            _ = sigint.recv() => {
                fleet.close(Instant::now(), if closing { 0 } else { close_rate });
                closing = true;
            }
        }
    }
    println!("{}", fleet.stats().summary_line(start));
    Ok(if fleet.all_up() { 0 } else { 1 })
}

fn configure_tun(
    name: &str,
    address: Ipv4Addr,
    mtu: u16,
    default_route: bool,
) -> anyhow::Result<()> {
    let addr = format!("{address}/32");
    let mtu = mtu.to_string();
    run_ip(&["addr", "add", &addr, "dev", name])?;
    run_ip(&["link", "set", name, "mtu", &mtu, "up"])?;
    if default_route {
        run_ip(&["route", "replace", "default", "dev", name])?;
    }
    Ok(())
}

/// The SLAAC address on the TUN (nodad: the BRAS is the only other end),
/// and the default IPv6 route through it for the cpe namespace.
fn configure_tun6(
    name: &str,
    address: std::net::Ipv6Addr,
    default_route: bool,
) -> anyhow::Result<()> {
    let addr = format!("{address}/128");
    run_ip(&["-6", "addr", "replace", &addr, "dev", name, "nodad"])?;
    if default_route {
        run_ip(&["-6", "route", "replace", "default", "dev", name])?;
    }
    Ok(())
}

/// An IPv6 packet the emulated CPE's own IPv6 client handles: ICMPv6
/// Router Advertisement (and other ND) or DHCPv6 to the client port.
fn is_v6_control(p: &[u8]) -> bool {
    if p.len() < 48 || p[0] >> 4 != 6 {
        return true; // malformed: let the client count it
    }
    match p[6] {
        58 => (133..=137).contains(&p[40]),
        17 => u16::from_be_bytes([p[42], p[43]]) == 546,
        _ => false,
    }
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .context("run ip(8)")?;
    anyhow::ensure!(status.success(), "ip {} failed", args.join(" "));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const AC_MAC: [u8; 6] = [0x02, 0xb5, 0, 0, 0, 1];

    fn cfg(i: u32) -> ClientConfig {
        ClientConfig {
            mac: client_mac([0x02, 0xc0, 0, 0, 0, 1], i),
            host_uniq: i.to_be_bytes().to_vec(),
            ..ClientConfig::default()
        }
    }

    fn drain(fleet: &mut Fleet) -> Vec<Vec<u8>> {
        std::iter::from_fn(|| fleet.poll_transmit()).collect()
    }

    fn code_and_src(frame: &[u8]) -> (Code, [u8; 6]) {
        let (eth, payload) = EthHeader::parse(frame).unwrap();
        let (hdr, _) = pppoe::Header::parse(payload).unwrap();
        (hdr.code, eth.src)
    }

    /// A PADO from the AC to `dst`, echoing `host_uniq`.
    fn pado(dst: [u8; 6], host_uniq: &[u8]) -> Vec<u8> {
        let eth = EthHeader {
            dst,
            src: AC_MAC,
            vlans: Vlans::NONE,
            ethertype: pppoe_bras_common::proto::ETH_P_PPP_DISC,
        };
        pppoe::discovery_frame(
            &eth,
            Code::Pado,
            0,
            &[
                (TagType::AcName, b"bras".as_slice()),
                (TagType::ServiceName, b"".as_slice()),
                (TagType::HostUniq, host_uniq),
                (TagType::AcCookie, b"0123456789abcdef0123".as_slice()),
            ],
        )
    }

    #[test]
    fn frames_go_to_the_addressed_client_only() {
        let t0 = Instant::now();
        let mut fleet = Fleet::new(1);
        fleet.launch(t0, (0..3).map(cfg), 0).unwrap();
        let padis = drain(&mut fleet);
        assert_eq!(padis.len(), 3);
        assert!(padis.iter().all(|f| code_and_src(f).0 == Code::Padi));

        let b = cfg(1);
        assert_eq!(fleet.handle_frame(t0, &pado(b.mac, &b.host_uniq)), None);
        let out = drain(&mut fleet);
        assert_eq!(out.len(), 1, "only client 1 answers");
        assert_eq!(code_and_src(&out[0]), (Code::Padr, b.mac));
        assert_eq!(fleet.stats().unknown_dst, 0);

        // Broadcast, another host's MAC, and garbage reach no client.
        fleet.handle_frame(t0, &pado(BROADCAST, &b.host_uniq));
        fleet.handle_frame(t0, &pado([0x02, 0xee, 0, 0, 0, 9], &b.host_uniq));
        fleet.handle_frame(t0, &[0u8; 5]);
        assert!(drain(&mut fleet).is_empty());
        assert_eq!(fleet.stats().unknown_dst, 3);
    }

    #[test]
    fn duplicate_mac_refuses_the_whole_launch() {
        let t0 = Instant::now();
        let mut fleet = Fleet::new(1);
        let err = fleet.launch(t0, [cfg(1), cfg(2), cfg(1)], 0).unwrap_err();
        assert_eq!(err.mac, cfg(1).mac);
        assert!(fleet.is_empty());
        assert!(drain(&mut fleet).is_empty());
        // Nothing was kept: the same MACs can be launched afterwards.
        fleet.launch(t0, [cfg(1), cfg(2)], 0).unwrap();
        assert_eq!(fleet.len(), 2);
        // Same MAC on another VLAN is another client.
        let mut tagged = cfg(1);
        tagged.vlans = parse_vlan("100").unwrap();
        fleet.launch(t0, [tagged], 0).unwrap();
        assert_eq!(fleet.len(), 3);
        assert!(fleet.launch(t0, [cfg(2)], 0).is_err());
    }

    #[test]
    fn starts_and_hang_ups_are_paced() {
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut fleet = Fleet::new(1);
        fleet.launch(t0, (0..5).map(cfg), 10).unwrap();
        assert_eq!(drain(&mut fleet).len(), 1, "client 0 starts at once");
        assert_eq!(fleet.poll_timeout(), Some(t0 + ms(100)));
        fleet.handle_timeout(t0 + ms(250));
        assert_eq!(drain(&mut fleet).len(), 2, "clients 1 and 2 are due");
        assert_eq!(fleet.stats().started, 3);
        assert_eq!(fleet.poll_timeout(), Some(t0 + ms(300)));

        // Hang-up: the two not started never start; the three started are
        // closed two per second.
        fleet.close(t0 + ms(250), 2);
        assert_eq!(fleet.stats().finished, 1);
        assert_eq!(fleet.poll_timeout(), Some(t0 + ms(750)));
        fleet.handle_timeout(t0 + ms(750));
        assert_eq!(fleet.stats().finished, 2);
        assert!(!fleet.is_done());
        // A second call with rate 0 hurries the rest along.
        fleet.close(t0 + ms(800), 0);
        assert!(fleet.is_done());
        let st = fleet.stats();
        assert_eq!((st.clients, st.started, st.up, st.failed), (5, 3, 0, 3));
        let events: Vec<_> = std::iter::from_fn(|| fleet.poll_event()).collect();
        assert_eq!(
            events.iter().map(|(i, _)| *i).collect::<Vec<_>>(),
            [0, 1, 2]
        );
        assert!(events
            .iter()
            .all(|(_, e)| matches!(e, ClientEvent::Down { .. })));
        assert_eq!(
            st.summary_line(t0),
            "SUMMARY sessions=5 up=0 failed=5 first_up_ms=- all_up_ms=- rate=-"
        );
    }

    #[test]
    fn timers_fire_per_client_and_the_heap_stays_small() {
        let t0 = Instant::now();
        let mut fleet = Fleet::new(1);
        fleet.launch(t0, (0..100).map(cfg), 0).unwrap();
        drain(&mut fleet);
        // PADI retransmissions after 2, 4, 8, 16 s for every client; after
        // the fifth PADI has waited 32 s, all give up.
        let mut now = t0;
        let mut padis = 0;
        while let Some(t) = fleet.poll_timeout() {
            now = t;
            fleet.handle_timeout(now);
            padis += drain(&mut fleet).len();
            assert!(fleet.timers.len() <= 2 * 100 + 64);
        }
        assert_eq!(padis, 100 * 4);
        assert!(fleet.is_done());
        assert_eq!(fleet.stats().failed, 100);
        assert_eq!(now, t0 + Duration::from_secs(2 + 4 + 8 + 16 + 32));
    }

    #[test]
    fn summary_when_all_up() {
        let t0 = Instant::now();
        let st = FleetStats {
            clients: 1000,
            started: 1000,
            up: 1000,
            finished: 0,
            failed: 0,
            first_up: Some(t0 + Duration::from_millis(12)),
            last_up: Some(t0 + Duration::from_millis(2500)),
            unknown_dst: 0,
        };
        assert_eq!(
            st.summary_line(t0),
            "SUMMARY sessions=1000 up=1000 failed=0 first_up_ms=12 all_up_ms=2500 rate=400.0/s"
        );
    }
}
