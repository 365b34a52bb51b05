//! A client's PPPoE discovery (RFC 2516): PADI, PADO → PADR with the
//! AC-Cookie and Relay-Session-Id echoed, PADS → the session (or the
//! refusal), PADT; the retransmission interval.

use std::time::{Duration, Instant};

use super::client::{Client, ClientEvent, State};
use crate::{
    ppp::peer::Peer,
    wire::{
        eth::{EthHeader, BROADCAST},
        pppoe::{self, Code, DiscoveryTags, TagType},
        text::escape,
    },
};

impl Client {
    pub(super) fn retransmit_after(&self, attempts: u32) -> Duration {
        if self.cfg.discovery_backoff {
            self.cfg.discovery_timeout * (1 << attempts.saturating_sub(1).min(4))
        } else {
            self.cfg.discovery_timeout
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

    pub(super) fn send_padi(&mut self) {
        let tags = self.discovery_tags();
        let refs: Vec<(TagType, &[u8])> = tags.iter().map(|(t, v)| (*t, v.as_slice())).collect();
        let eth = self.eth(BROADCAST, pppoe_bras_common::proto::ETH_P_PPP_DISC);
        self.transmit
            .push_back(pppoe::discovery_frame(&eth, Code::Padi, 0, &refs));
    }

    pub(super) fn send_padr(
        &mut self,
        ac_mac: [u8; 6],
        cookie: Option<&[u8]>,
        relay: Option<&[u8]>,
    ) {
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

    pub(super) fn handle_discovery(&mut self, now: Instant, eth: &EthHeader, payload: &[u8]) {
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
}
