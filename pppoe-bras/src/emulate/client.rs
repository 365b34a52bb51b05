//! One emulated subscriber, sans-IO: its settings ([`ClientConfig`]), what
//! it reports ([`ClientEvent`]), its state, and its public face ([`Client`]:
//! frames and `now` in; frames, timers and events out). The discovery stage
//! is in `discovery.rs`, the session stage (PPP peer, IPv6) in `session.rs`.

use std::{
    collections::VecDeque,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use crate::{
    ppp::{
        peer::{Peer, PeerConfig},
        proto,
    },
    wire::{
        eth::{is_multicast, EthHeader, Vlans},
        pppoe::{self, Code},
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

pub(super) enum State {
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
    pub(super) cfg: ClientConfig,
    pub(super) state: State,
    pub(super) seed: u64,
    pub(super) transmit: VecDeque<Vec<u8>>,
    pub(super) events: VecDeque<ClientEvent>,
    pub(super) up: bool,
    /// The last session id PADS gave us (kept after the session ends).
    pub(super) last_session_id: Option<u16>,
    /// AC-Name from the PADO we answered.
    pub(super) ac_name: String,
    /// Protocol-Rejects and Echo-Replies already reported.
    pub(super) rejected_seen: usize,
    pub(super) echo_replies_seen: u64,
    /// IPv6 control plane (RS, SLAAC, DHCPv6) once IPv6CP is up.
    pub(super) v6: Option<crate::v6::client::V6Client>,
    /// The latest `now` seen.
    pub(super) now: Instant,
    /// RA DNS servers, for the Ipv6Up event.
    pub(super) v6_dns: Vec<std::net::Ipv6Addr>,
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

    pub(super) fn eth(&self, dst: [u8; 6], ethertype: u16) -> EthHeader {
        EthHeader {
            dst,
            src: self.cfg.mac,
            vlans: self.cfg.vlans,
            ethertype,
        }
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

    /// Hang up: DHCPv6 Release of the bindings (RFC 8415 §18.2.7), LCP
    /// Terminate-Request, then PADT right away (as pppd does on SIGTERM).
    pub fn close(&mut self, now: Instant) {
        self.v6_release(now);
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

    pub(super) fn finish(&mut self, reason: String) {
        self.events.push_back(ClientEvent::Down { reason });
        self.state = State::Finished;
    }
}
