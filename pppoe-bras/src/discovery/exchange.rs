//! The exchanges: PADI → PADO, PADR → PADS (or an error PADS), PADT from
//! the peer; the tags echoed, the service and limit checks, the session
//! ids.

use std::time::Instant;

use super::{
    Discovery, DiscoveryEvent, DiscoveryStat, Session, SessionKey, MAX_DELAYED_PADO,
    MAX_DISCOVERY_PAYLOAD, MAX_ID, MAX_PAYLOAD_CAP, MIN_MAX_PAYLOAD, PADR_RETRANSMIT_WINDOW,
};
use crate::wire::eth::{fmt_mac, EthHeader, BROADCAST, ETHERTYPE_PPPOE_DISCOVERY};
use crate::wire::pppoe::{Code, DiscoveryTags, Header, TagType, TagWriter};
use crate::wire::text::escape;

impl Discovery {
    /// RFC 2516 §5.1/§5.2: answer a PADI we can serve with a unicast PADO.
    pub(super) fn handle_padi(
        &mut self,
        now: Instant,
        eth: &EthHeader,
        hdr: &Header,
        tags: &DiscoveryTags<'_>,
    ) {
        if eth.dst != BROADCAST && eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADI");
        }
        if hdr.session_id != 0 {
            return self.drop_frame(DiscoveryStat::DropBadSessionId, eth, "PADI");
        }
        self.stats[DiscoveryStat::PadiRx] += 1;
        if !self.padi_allowed(now, eth) {
            return;
        }
        log::info!("PADI from {} {}", fmt_mac(&eth.src), eth.vlans);
        let Some(service) = tags.service_name else {
            return self.drop_frame(DiscoveryStat::DropNoServiceName, eth, "PADI");
        };
        if !self.service_ok(service) {
            // RFC 2516 §5.2: the AC must not answer a PADI it cannot serve.
            let what = format_args!("PADI for {:?}", escape(service));
            return self.drop_frame(DiscoveryStat::DropUnknownService, eth, what);
        }
        if self.at_limit(eth) {
            return self.drop_frame(DiscoveryStat::DropLimit, eth, "PADI");
        }
        let cookie = self.cookie(self.bucket(now), eth);
        let max_payload = self.agreed_max_payload(tags);

        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut out = Vec::with_capacity(128);
        reply.emit(&mut out);
        let mut w = TagWriter::new(&mut out, Code::Pado, 0);
        w.tag(TagType::AcName, self.cfg.ac_name.as_bytes());
        // RFC 2516 §5.2: a Service-Name identical to the PADI's, then the
        // other services offered.
        w.tag(TagType::ServiceName, service);
        if service.is_empty() {
            for name in self.cfg.service_names.iter().filter(|n| !n.is_empty()) {
                w.tag(TagType::ServiceName, name.as_bytes());
            }
        }
        w.tag(TagType::AcCookie, &cookie);
        Self::echo_tags(&mut w, tags, max_payload);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADI (PADO over 1500 bytes)",
            );
        }
        w.finish();
        if self.cfg.pado_delay.is_zero() {
            self.transmit.push_back(out);
        } else if self.delayed.len() < MAX_DELAYED_PADO {
            self.delayed.push_back((now + self.cfg.pado_delay, out));
        } else {
            return self.drop_frame(DiscoveryStat::DropPadoBacklog, eth, "PADI");
        }
        self.stats[DiscoveryStat::PadoTx] += 1;
    }

    /// RFC 2516 §5.3/§5.4: a PADR with a valid cookie gets a PADS.
    pub(super) fn handle_padr(
        &mut self,
        now: Instant,
        eth: &EthHeader,
        hdr: &Header,
        tags: &DiscoveryTags<'_>,
    ) {
        if eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADR");
        }
        if hdr.session_id != 0 {
            return self.drop_frame(DiscoveryStat::DropBadSessionId, eth, "PADR");
        }
        self.stats[DiscoveryStat::PadrRx] += 1;
        if !tags.ac_cookie.is_some_and(|c| self.cookie_ok(now, eth, c)) {
            return self.drop_frame(DiscoveryStat::DropBadCookie, eth, "PADR");
        }
        let Some(service) = tags.service_name else {
            return self.drop_frame(DiscoveryStat::DropNoServiceName, eth, "PADR");
        };
        let peer = (eth.vlans, eth.src);

        // A retransmitted PADR (our PADS was lost): same PADS again.
        if let Some(ids) = self.per_peer.get(&peer) {
            for &id in ids {
                let key = SessionKey {
                    vlans: eth.vlans,
                    peer_mac: eth.src,
                    session_id: id,
                };
                let Some(s) = self.sessions.get(&key) else {
                    continue;
                };
                if !s.terminated
                    && !s.active
                    && s.host_uniq.as_deref() == tags.host_uniq
                    && now.saturating_duration_since(s.started) <= PADR_RETRANSMIT_WINDOW
                {
                    self.transmit.push_back(s.pads.clone());
                    self.stats[DiscoveryStat::PadsRetransmit] += 1;
                    log::debug!(
                        "discovery: PADR retransmission from {}, PADS re-sent",
                        fmt_mac(&eth.src)
                    );
                    return;
                }
            }
        }

        if !self.service_ok(service) {
            self.stats[DiscoveryStat::DropUnknownService] += 1;
            log::info!(
                "PADR from {} for unserved service {:?}: Service-Name-Error",
                fmt_mac(&eth.src),
                escape(service)
            );
            self.pads_error(eth, tags, TagType::ServiceNameError, b"service not offered");
            return;
        }
        if self.at_limit(eth) {
            self.stats[DiscoveryStat::DropLimit] += 1;
            log::info!("PADR from {} refused: session limit", fmt_mac(&eth.src));
            self.pads_error(eth, tags, TagType::AcSystemError, b"session limit reached");
            return;
        }
        let max_payload = self.agreed_max_payload(tags);

        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut pads = Vec::with_capacity(64);
        reply.emit(&mut pads);
        // The id is patched in below, once the frame is known to fit.
        let mut w = TagWriter::new(&mut pads, Code::Pads, 0);
        w.tag(TagType::ServiceName, service);
        Self::echo_tags(&mut w, tags, max_payload);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADR (PADS over 1500 bytes)",
            );
        }
        w.finish();
        let Some(id) = self.alloc_id() else {
            self.stats[DiscoveryStat::DropLimit] += 1;
            log::info!(
                "PADR from {} refused: no free session id",
                fmt_mac(&eth.src)
            );
            self.pads_error(eth, tags, TagType::AcSystemError, b"no free session id");
            return;
        };
        let sid_at = reply.header_len() + 2;
        pads[sid_at..sid_at + 2].copy_from_slice(&id.to_be_bytes());

        let key = SessionKey {
            vlans: eth.vlans,
            peer_mac: eth.src,
            session_id: id,
        };
        let service_name = String::from_utf8_lossy(service).into_owned();
        log::info!(
            "PADS session {id:#06x} to {} {} service '{}'",
            fmt_mac(&eth.src),
            eth.vlans,
            escape(service)
        );
        self.transmit.push_back(pads.clone());
        self.stats[DiscoveryStat::PadsTx] += 1;
        self.sessions.insert(
            key,
            Session {
                started: now,
                host_uniq: tags.host_uniq.map(<[u8]>::to_vec),
                relay_session_id: tags.relay_session_id.map(<[u8]>::to_vec),
                pads,
                terminated: false,
                active: false,
            },
        );
        self.per_peer.entry(peer).or_default().push(id);
        if eth.vlans.count() > 0 {
            *self.per_vlan.entry(eth.vlans).or_default() += 1;
        }
        self.events.push_back(DiscoveryEvent::SessionStarted {
            key,
            service_name,
            max_payload,
        });
    }

    /// RFC 2516 §5.5: a PADT from the peer ends a live session.
    pub(super) fn handle_padt(&mut self, eth: &EthHeader, hdr: &Header) {
        if eth.dst != self.cfg.local_mac {
            return self.drop_frame(DiscoveryStat::DropBadDstMac, eth, "PADT");
        }
        let key = SessionKey {
            vlans: eth.vlans,
            peer_mac: eth.src,
            session_id: hdr.session_id,
        };
        match self.sessions.get_mut(&key) {
            Some(s) => {
                self.stats[DiscoveryStat::PadtRx] += 1;
                if !s.terminated {
                    s.terminated = true;
                    log::info!("PADT from peer for {key}");
                    self.events
                        .push_back(DiscoveryEvent::PeerTerminated { key });
                }
            }
            None if self.ended_set.contains(&key) => {
                self.stats[DiscoveryStat::PadtAfterEnd] += 1;
                log::debug!("discovery: PADT for {key}, which already ended");
            }
            None => {
                let what = format_args!("PADT for session {:#06x}", hdr.session_id);
                self.drop_frame(DiscoveryStat::DropUnknownSession, eth, what);
            }
        }
    }

    /// PADS with session id 0 and an error tag (RFC 2516 §5.4).
    fn pads_error(&mut self, eth: &EthHeader, tags: &DiscoveryTags<'_>, ty: TagType, msg: &[u8]) {
        let reply = eth.reply(self.cfg.local_mac, ETHERTYPE_PPPOE_DISCOVERY);
        let mut out = Vec::with_capacity(64);
        reply.emit(&mut out);
        let mut w = TagWriter::new(&mut out, Code::Pads, 0);
        if let Some(service) = tags.service_name {
            w.tag(TagType::ServiceName, service);
        }
        w.tag(ty, msg);
        Self::echo_tags(&mut w, tags, None);
        if w.payload_len() > MAX_DISCOVERY_PAYLOAD {
            return self.drop_frame(
                DiscoveryStat::DropTooBig,
                eth,
                "PADR (error PADS over 1500 bytes)",
            );
        }
        w.finish();
        self.transmit.push_back(out);
        self.stats[DiscoveryStat::PadsErrorTx] += 1;
    }

    /// Host-Uniq and Relay-Session-Id echoed byte for byte (RFC 2516 App. A),
    /// PPP-Max-Payload if agreed (RFC 4638).
    fn echo_tags(w: &mut TagWriter<'_>, tags: &DiscoveryTags<'_>, max_payload: Option<u16>) {
        if let Some(hu) = tags.host_uniq {
            w.tag(TagType::HostUniq, hu);
        }
        if let Some(relay) = tags.relay_session_id {
            w.tag(TagType::RelaySessionId, relay);
        }
        if let Some(mp) = max_payload {
            w.tag(TagType::PppMaxPayload, &mp.to_be_bytes());
        }
    }

    fn service_ok(&self, requested: &[u8]) -> bool {
        requested.is_empty()
            || self.cfg.service_names.is_empty()
            || self
                .cfg
                .service_names
                .iter()
                .any(|s| s.as_bytes() == requested)
    }

    fn at_limit(&self, eth: &EthHeader) -> bool {
        let per_peer = self.per_peer.get(&(eth.vlans, eth.src)).map_or(0, Vec::len);
        let per_vlan = self.per_vlan.get(&eth.vlans).copied().unwrap_or(0);
        self.sessions.len() >= self.cfg.max_sessions
            || per_peer >= self.cfg.max_sessions_per_mac
            || (self.cfg.max_sessions_per_vlan > 0
                && eth.vlans.count() > 0
                && per_vlan >= self.cfg.max_sessions_per_vlan)
    }

    fn agreed_max_payload(&self, tags: &DiscoveryTags<'_>) -> Option<u16> {
        if self.cfg.max_payload < MIN_MAX_PAYLOAD {
            return None;
        }
        tags.ppp_max_payload
            .filter(|&v| v >= MIN_MAX_PAYLOAD)
            .map(|v| v.min(self.cfg.max_payload).min(MAX_PAYLOAD_CAP))
    }

    pub(super) fn alloc_id(&mut self) -> Option<u16> {
        for _ in 0..MAX_ID {
            let id = self.next_id;
            self.next_id = if id >= MAX_ID { 1 } else { id + 1 };
            if !self.ids.contains(&id) {
                self.ids.insert(id);
                return Some(id);
            }
        }
        None
    }
}
