//! A client once PADS arrived: PPP frames to and from its
//! [`Peer`](crate::ppp::peer::Peer), the peer's events turned into
//! [`ClientEvent`]s, and the IPv6 control plane (RS, SLAAC, DHCPv6) once
//! IPv6CP is up.

use std::time::Instant;

use super::client::{Client, ClientEvent, State};
use crate::{
    ppp::{peer::PeerEvent, proto},
    wire::{
        eth::EthHeader,
        pppoe::{self, Code},
    },
};

impl Client {
    pub(super) fn handle_session<'a>(
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
    pub(super) fn drive_v6(&mut self) {
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
                    // An IPv6-only CPE is up once IPv6 is.
                    if !self.cfg.peer.ipv4 {
                        self.up = true;
                    }
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

    pub(super) fn drive_peer(&mut self) {
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
