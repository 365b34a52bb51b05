//! The subscriber side of the session's IPv6 control plane, sans-IO, for
//! the emulator: a Router Solicitation, SLAAC from the RA's /64 (prefix +
//! our IPv6CP Interface-Identifier), then DHCPv6 Solicit/Request with
//! IA_PD (and IA_NA when asked), Renew and Release on demand.

use std::collections::VecDeque;
use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::dhcpv6::{self, msg, opt, Builder, Ia};
use super::link_local;
use super::ra;
use super::wire::{self, ALL_DHCP};

const RETRANSMIT: Duration = Duration::from_secs(1);
const MAX_TRIES: u32 = 5;

/// What the client reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum V6ClientEvent {
    /// An RA arrived; `address` is prefix + our identifier (SLAAC), if the
    /// RA allowed it.
    RouterAdvertisement {
        prefix: Option<(Ipv6Addr, u8)>,
        address: Option<Ipv6Addr>,
        managed: bool,
        dns: Vec<Ipv6Addr>,
    },
    /// DHCPv6 Reply with bindings (after Request, Rapid Commit or Renew).
    Bound {
        pd: Option<(Ipv6Addr, u8)>,
        address: Option<Ipv6Addr>,
        dns: Vec<Ipv6Addr>,
    },
    /// The server answered Release.
    Released,
    /// Gave up (what).
    Failed(&'static str),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Idle,
    Soliciting,
    Requesting,
    Bound,
    Renewing,
    Releasing,
}

/// One emulated CPE's IPv6 control plane.
#[derive(Debug)]
pub struct V6Client {
    our_iid: u64,
    duid: Vec<u8>,
    ia_na: bool,
    rapid_commit: bool,
    server_duid: Option<Vec<u8>>,
    xid: u32,
    phase: Phase,
    tries: u32,
    rs_tries: u32,
    got_ra: bool,
    next_at: Option<Instant>,
    rs_at: Option<Instant>,
    /// T1 of the bindings (RFC 8415 §18.2.4): when to Renew.
    renew_at: Option<Instant>,
    pub prefix64: Option<(Ipv6Addr, u8)>,
    pub address: Option<Ipv6Addr>,
    pub pd: Option<(Ipv6Addr, u8)>,
    pub na: Option<Ipv6Addr>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<V6ClientEvent>,
}

const IAID: u32 = 1;

impl V6Client {
    /// `mac`: for our DUID-LL; `xid_seed`: first transaction id.
    pub fn new(mac: [u8; 6], ia_na: bool, rapid_commit: bool, xid_seed: u32) -> Self {
        V6Client {
            our_iid: 0,
            duid: dhcpv6::duid_ll(mac),
            ia_na,
            rapid_commit,
            server_duid: None,
            xid: xid_seed & 0xff_ffff,
            phase: Phase::Idle,
            tries: 0,
            rs_tries: 0,
            got_ra: false,
            next_at: None,
            rs_at: None,
            renew_at: None,
            prefix64: None,
            address: None,
            pd: None,
            na: None,
            transmit: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// IPv6CP is up with `our_iid`: RS and Solicit go out.
    pub fn start(&mut self, now: Instant, our_iid: u64) {
        self.our_iid = our_iid;
        self.send_rs(now);
        self.phase = Phase::Soliciting;
        self.tries = 0;
        self.send_dhcp(now);
    }

    fn src(&self) -> Ipv6Addr {
        link_local(self.our_iid)
    }

    fn send_rs(&mut self, now: Instant) {
        self.rs_tries += 1;
        self.rs_at = Some(now + RETRANSMIT);
        self.transmit.push_back(ra::build_rs(self.src()));
    }

    fn xid(&self) -> [u8; 3] {
        let b = self.xid.to_be_bytes();
        [b[1], b[2], b[3]]
    }

    fn ias(&self, b: &mut Builder, with_bindings: bool) {
        let pd = Ia {
            iaid: IAID,
            t1: 0,
            t2: 0,
            items: if with_bindings {
                self.pd.map(|p| vec![(p.0, p.1, 0, 0)]).unwrap_or_default()
            } else {
                Vec::new()
            },
            status: None,
        };
        b.opt(opt::IA_PD, &dhcpv6::ia_value(opt::IA_PD, &pd));
        if self.ia_na {
            let na = Ia {
                iaid: IAID,
                t1: 0,
                t2: 0,
                items: if with_bindings {
                    self.na.map(|a| vec![(a, 128, 0, 0)]).unwrap_or_default()
                } else {
                    Vec::new()
                },
                status: None,
            };
            b.opt(opt::IA_NA, &dhcpv6::ia_value(opt::IA_NA, &na));
        }
    }

    fn send_dhcp(&mut self, now: Instant) {
        let t = match self.phase {
            Phase::Soliciting => msg::SOLICIT,
            Phase::Requesting => msg::REQUEST,
            Phase::Renewing => msg::RENEW,
            Phase::Releasing => msg::RELEASE,
            Phase::Idle | Phase::Bound => return,
        };
        self.tries += 1;
        self.next_at = Some(now + RETRANSMIT);
        let mut b = Builder::new(t, self.xid());
        b.opt(opt::CLIENTID, &self.duid.clone());
        if t != msg::SOLICIT {
            if let Some(s) = self.server_duid.clone() {
                b.opt(opt::SERVERID, &s);
            }
        }
        b.opt(opt::ELAPSED_TIME, &[0, 0]);
        self.ias(&mut b, t != msg::SOLICIT);
        b.opt(opt::ORO, &opt::DNS_SERVERS.to_be_bytes());
        if t == msg::SOLICIT && self.rapid_commit {
            b.opt(opt::RAPID_COMMIT, &[]);
        }
        let pkt = wire::udp(
            self.src(),
            ALL_DHCP,
            dhcpv6::CLIENT_PORT,
            dhcpv6::SERVER_PORT,
            &b.0,
        );
        self.transmit.push_back(pkt);
    }

    fn new_exchange(&mut self, now: Instant, phase: Phase) {
        self.xid = (self.xid + 1) & 0xff_ffff;
        self.phase = phase;
        self.tries = 0;
        self.send_dhcp(now);
    }

    /// Renew the bindings now (T1, or a test).
    pub fn renew(&mut self, now: Instant) {
        if self.phase == Phase::Bound {
            self.renew_at = None;
            self.new_exchange(now, Phase::Renewing);
        }
    }

    /// Give the bindings back.
    pub fn release(&mut self, now: Instant) {
        if self.phase == Phase::Bound {
            self.renew_at = None;
            self.new_exchange(now, Phase::Releasing);
        }
    }

    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        self.transmit.pop_front()
    }

    pub fn poll_event(&mut self) -> Option<V6ClientEvent> {
        self.events.pop_front()
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        [self.next_at, self.rs_at, self.renew_at]
            .into_iter()
            .flatten()
            .min()
    }

    pub fn handle_timeout(&mut self, now: Instant) {
        if self.renew_at.is_some_and(|t| t <= now) {
            self.renew(now);
        }
        if self.rs_at.is_some_and(|t| t <= now) {
            self.rs_at = None;
            if !self.got_ra {
                if self.rs_tries < 3 {
                    self.send_rs(now);
                } else {
                    self.events
                        .push_back(V6ClientEvent::Failed("no router advertisement"));
                }
            }
        }
        if self.next_at.is_some_and(|t| t <= now) {
            self.next_at = None;
            if self.tries >= MAX_TRIES {
                self.phase = if self.pd.is_some() || self.na.is_some() {
                    Phase::Bound
                } else {
                    Phase::Idle
                };
                self.events
                    .push_back(V6ClientEvent::Failed("no dhcpv6 answer"));
            } else {
                self.send_dhcp(now);
            }
        }
    }

    /// An IPv6 packet from the BRAS.
    pub fn handle_packet(&mut self, now: Instant, packet: &[u8]) {
        let Ok(p) = wire::parse(packet) else {
            return;
        };
        match p.next_header {
            wire::NH_ICMPV6 => {
                let Ok(info) = ra::parse_ra(&p) else {
                    return;
                };
                self.got_ra = true;
                self.rs_at = None;
                let prefix = info.autoconf.first().copied().filter(|p| p.1 == 64);
                self.prefix64 = prefix.or(info.prefixes.first().copied());
                self.address =
                    prefix.map(|(a, _)| Ipv6Addr::from(u128::from(a) | u128::from(self.our_iid)));
                self.events.push_back(V6ClientEvent::RouterAdvertisement {
                    prefix: self.prefix64,
                    address: self.address,
                    managed: info.managed,
                    dns: info.dns,
                });
            }
            wire::NH_UDP => {
                let Ok((_, dport, payload)) = wire::parse_udp(&p) else {
                    return;
                };
                if dport != dhcpv6::CLIENT_PORT {
                    return;
                }
                let Ok(m) = dhcpv6::parse(payload) else {
                    return;
                };
                if m.xid != self.xid() || m.client_id.as_deref() != Some(self.duid.as_slice()) {
                    return;
                }
                self.handle_dhcp(now, m);
            }
            _ => {}
        }
    }

    fn handle_dhcp(&mut self, now: Instant, m: dhcpv6::Message) {
        let pd = m
            .ia_pd
            .first()
            .and_then(|ia| ia.items.first())
            .map(|i| (i.0, i.1));
        let na = m.ia_na.first().and_then(|ia| ia.items.first()).map(|i| i.0);
        match (self.phase, m.msg_type) {
            (Phase::Soliciting, msg::ADVERTISE) => {
                self.server_duid = m.server_id;
                self.new_exchange(now, Phase::Requesting);
            }
            (Phase::Soliciting | Phase::Requesting | Phase::Renewing, msg::REPLY) => {
                if self.phase == Phase::Soliciting && !m.rapid_commit {
                    return;
                }
                if m.server_id.is_some() {
                    self.server_duid = m.server_id;
                }
                self.pd = pd;
                self.na = na;
                self.phase = Phase::Bound;
                self.next_at = None;
                // Renew at T1 as a CPE does (0: the client's choice, here
                // none; infinity: never).
                let t1 = m.ia_pd.first().or(m.ia_na.first()).map_or(0, |ia| ia.t1);
                self.renew_at = (t1 != 0 && t1 != u32::MAX)
                    .then(|| now + std::time::Duration::from_secs(u64::from(t1)));
                self.events.push_back(V6ClientEvent::Bound {
                    pd,
                    address: na,
                    dns: m.dns,
                });
            }
            (Phase::Releasing, msg::REPLY) => {
                self.renew_at = None;
                self.pd = None;
                self.na = None;
                self.phase = Phase::Idle;
                self.next_at = None;
                self.events.push_back(V6ClientEvent::Released);
            }
            _ => {}
        }
    }
}
