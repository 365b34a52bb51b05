//! One session's IPv6 services, sans-IO: Router Advertisements (answers to
//! Router Solicitations, unsolicited at IPv6CP up and every
//! `ra_interval`) and the DHCPv6 server. The session manager feeds it the
//! IPv6 packets of the session (PPP protocol 0x0057) and sends what comes
//! out in the session's PPPoE encapsulation.

use std::net::Ipv6Addr;
use std::time::{Duration, Instant};

use super::dhcpv6::{self, PdChange};
use super::pool6::PrefixPool;
use super::ra::{self, RaParams};
use super::wire::{self, ALL_DHCP, ALL_NODES, ALL_ROUTERS};
use super::{link_local, V6Settings, V6Stat, V6Stats};

/// Answers to Router Solicitations at most this often (unicast answers
/// are allowed without RFC 4861's multicast delay; this only bounds a
/// flood).
const MIN_SOLICITED_GAP: Duration = Duration::from_secs(1);

/// What one IPv6 packet of the peer produced.
#[derive(Debug, Default)]
pub struct Output {
    /// IPv6 packets to send to the peer.
    pub packets: Vec<Vec<u8>>,
    /// The delegated prefix changed.
    pub pd: Option<PdChange>,
}

/// IPv6 services of one session.
#[derive(Debug)]
pub struct V6Service {
    our_iid: u64,
    peer_iid: Option<u64>,
    prefix64: (Ipv6Addr, u8),
    ra: RaParams,
    interval: Duration,
    active: bool,
    next_ra: Option<Instant>,
    last_solicited: Option<Instant>,
    dhcp: dhcpv6::Server,
}

impl V6Service {
    /// Services for a session holding `prefix64`, with MTU `mtu`.
    pub fn new(s: &V6Settings, bras_mac: [u8; 6], prefix64: (Ipv6Addr, u8), mtu: u16) -> Self {
        V6Service {
            our_iid: 0,
            peer_iid: None,
            prefix64,
            ra: RaParams {
                prefix64,
                managed: s.ra_managed,
                router_lifetime: u16::try_from(s.router_lifetime).unwrap_or(9000),
                valid_lifetime: s.valid_lifetime,
                preferred_lifetime: s.preferred_lifetime,
                dns: s.dns6.clone(),
                dns_lifetime: s.ra_interval.saturating_mul(3),
                mtu: u32::from(mtu),
            },
            interval: Duration::from_secs(u64::from(s.ra_interval.max(1))),
            active: false,
            next_ra: None,
            last_solicited: None,
            dhcp: dhcpv6::Server::new(dhcpv6::ServerConfig {
                duid: dhcpv6::duid_ll(bras_mac),
                dns: s.dns6.clone(),
                valid_lifetime: s.valid_lifetime,
                preferred_lifetime: s.preferred_lifetime,
                ia_na: s.dhcpv6_ia_na,
                burst: 10,
                per_sec: 2,
            }),
        }
    }

    /// IPv6CP opened: the unsolicited RA to ff02::1 (RFC 4861 §6.2.4).
    pub fn up(&mut self, now: Instant, our_iid: u64, peer_iid: Option<u64>) -> Vec<u8> {
        self.our_iid = our_iid;
        self.peer_iid = peer_iid;
        self.active = true;
        self.next_ra = Some(now + self.interval);
        ra::build_ra(link_local(our_iid), ALL_NODES, &self.ra)
    }

    /// IPv6CP left Opened: silent until it opens again.
    pub fn down(&mut self) {
        self.active = false;
        self.next_ra = None;
    }

    pub fn prefix64(&self) -> (Ipv6Addr, u8) {
        self.prefix64
    }

    pub fn delegated(&self) -> Option<(Ipv6Addr, u8)> {
        self.dhcp.delegated()
    }

    /// The DHCPv6 IA_NA address, if bound.
    pub fn address(&self) -> Option<Ipv6Addr> {
        self.dhcp.address(self.prefix64)
    }

    pub fn our_iid(&self) -> u64 {
        self.our_iid
    }

    pub fn peer_iid(&self) -> Option<u64> {
        self.peer_iid
    }

    pub fn poll_timeout(&self) -> Option<Instant> {
        self.next_ra
    }

    /// The periodic RA, when due.
    pub fn handle_timeout(&mut self, now: Instant, stats: &mut V6Stats) -> Option<Vec<u8>> {
        match self.next_ra {
            Some(t) if t <= now && self.active => {
                self.next_ra = Some(now + self.interval);
                stats[V6Stat::RaTx] += 1;
                Some(ra::build_ra(link_local(self.our_iid), ALL_NODES, &self.ra))
            }
            _ => None,
        }
    }

    /// The delegated prefix DHCPv6 hands out, given from outside (RADIUS
    /// Delegated-IPv6-Prefix) instead of one from the pool.
    pub fn preset_delegated(&mut self, prefix: (Ipv6Addr, u8)) {
        self.dhcp.preset_pd(prefix);
    }

    /// The session ends: the delegated prefix goes back to its pool (the
    /// caller releases the /64).
    pub fn release(&mut self, pd_pool: &mut PrefixPool) -> Option<(Ipv6Addr, u8)> {
        self.dhcp.release_all(pd_pool)
    }

    /// An IPv6 packet from the peer.
    pub fn handle_packet(
        &mut self,
        now: Instant,
        packet: &[u8],
        user: &str,
        pd_pool: &mut PrefixPool,
        stats: &mut V6Stats,
    ) -> Output {
        let mut out = Output::default();
        stats[V6Stat::Rx] += 1;
        if !self.active {
            stats[V6Stat::DropInactive] += 1;
            return out;
        }
        let p = match wire::parse(packet) {
            Ok(p) => p,
            Err(e) => {
                stats[V6Stat::DropBadIpv6] += 1;
                log::debug!("drop ipv6: {e}");
                return out;
            }
        };
        let ours = link_local(self.our_iid);
        match p.next_header {
            wire::NH_ICMPV6 if p.dst == ALL_ROUTERS || p.dst == ours => {
                if p.payload.first() != Some(&ra::ROUTER_SOLICITATION) {
                    stats[V6Stat::DropNotControl] += 1;
                    return out;
                }
                if let Err(e) = ra::check_rs(&p) {
                    stats[V6Stat::DropBadRs] += 1;
                    log::debug!("drop router solicitation: {e}");
                    return out;
                }
                stats[V6Stat::RsRx] += 1;
                if self
                    .last_solicited
                    .is_some_and(|t| now.saturating_duration_since(t) < MIN_SOLICITED_GAP)
                {
                    stats[V6Stat::DropRsRate] += 1;
                    return out;
                }
                self.last_solicited = Some(now);
                let dst = if p.src.is_unspecified() {
                    ALL_NODES
                } else {
                    p.src
                };
                stats[V6Stat::RaTx] += 1;
                out.packets.push(ra::build_ra(ours, dst, &self.ra));
            }
            wire::NH_UDP if p.dst == ALL_DHCP || p.dst == ours => {
                let (sport, dport, payload) = match wire::parse_udp(&p) {
                    Ok(v) => v,
                    Err(e) => {
                        stats[V6Stat::DropBadIpv6] += 1;
                        log::debug!("drop udp: {e}");
                        return out;
                    }
                };
                if dport != dhcpv6::SERVER_PORT {
                    stats[V6Stat::DropNotControl] += 1;
                    return out;
                }
                let before = self.dhcp.stats;
                let mut ctx = dhcpv6::Ctx {
                    now,
                    prefix64: self.prefix64,
                    user,
                    pd_pool,
                };
                let r = self.dhcp.handle(&mut ctx, payload);
                stats.add_since(&before, &self.dhcp.stats);
                match r {
                    Ok((reply, pd)) => {
                        out.pd = pd;
                        if let Some(reply) = reply {
                            out.packets.push(wire::udp(
                                ours,
                                p.src,
                                dhcpv6::SERVER_PORT,
                                sport,
                                &reply,
                            ));
                        }
                    }
                    Err(e) => log::debug!("drop dhcpv6: {e}"),
                }
            }
            _ => stats[V6Stat::DropNotControl] += 1,
        }
        out
    }
}
