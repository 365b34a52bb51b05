//! IPCP option policy (RFC 1332, RFC 1877): [`IpcpServer`] hands out the
//! subscriber address and DNS/NBNS servers, [`IpcpClient`] asks for them.

use std::net::Ipv4Addr;

use crate::wire::ppp::{self as wire, OptionWriter};

use super::fsm::{Protocol, Verdict};
use super::{proto, DownReason};

/// IPCP configuration option types.
pub mod opt {
    /// Deprecated (RFC 1172); rejected.
    pub const IP_ADDRESSES: u8 = 1;
    /// Van Jacobson compression (RFC 1332 §3.2); rejected by the BRAS.
    pub const IP_COMPRESSION: u8 = 2;
    pub const IP_ADDRESS: u8 = 3;
    pub const PRIMARY_DNS: u8 = 129;
    pub const PRIMARY_NBNS: u8 = 130;
    pub const SECONDARY_DNS: u8 = 131;
    pub const SECONDARY_NBNS: u8 = 132;
}

/// VJ compression value as pppd/EdgeRouter send it: protocol 0x002d,
/// max-slot-id 15, comp-slot-id 1.
pub const VJ_VALUE: [u8; 4] = [0x00, 0x2d, 0x0f, 0x01];

/// Server-side IPCP policy.
#[derive(Debug, Clone)]
pub struct IpcpServer {
    local: Ipv4Addr,
    assigned: Ipv4Addr,
    dns: [Option<Ipv4Addr>; 2],
    nbns: [Option<Ipv4Addr>; 2],
    send_local: bool,
    peer_address: Option<Ipv4Addr>,
    max_packet: usize,
    /// Naks of a wrong IP-Address so far, and how many the peer gets
    /// (Max-Failure) before insisting ends the link.
    addr_naks: u32,
    max_addr_naks: u32,
    failure: Option<DownReason>,
}

impl IpcpServer {
    pub fn new(local: Ipv4Addr, dns: [Option<Ipv4Addr>; 2], nbns: [Option<Ipv4Addr>; 2]) -> Self {
        IpcpServer {
            local,
            assigned: Ipv4Addr::UNSPECIFIED,
            dns,
            nbns,
            send_local: true,
            peer_address: None,
            max_packet: 1500,
            addr_naks: 0,
            max_addr_naks: 5,
            failure: None,
        }
    }

    /// How many Naks of a wrong IP-Address the peer gets before the link
    /// ends with [`DownReason::PeerInsists`] (the FSM's Max-Failure).
    pub fn set_max_address_naks(&mut self, n: u32) {
        self.max_addr_naks = n.max(1);
    }

    /// Largest control packet the peer takes (its LCP MRU): bounds Code-Reject.
    pub fn set_max_packet(&mut self, max: usize) {
        self.max_packet = max;
    }

    /// The address the peer must take (from the authenticator's verdict).
    /// The DNS servers offered (RFC 1877), e.g. from RADIUS.
    pub fn set_dns(&mut self, dns: [Option<Ipv4Addr>; 2]) {
        self.dns = dns;
    }

    pub fn set_assigned(&mut self, addr: Ipv4Addr) {
        self.assigned = addr;
    }

    pub fn assigned(&self) -> Ipv4Addr {
        self.assigned
    }

    pub fn local(&self) -> Ipv4Addr {
        self.local
    }

    /// Re-adoption: the peer's acknowledged address, as it was.
    pub fn restore_peer_address(&mut self, addr: Ipv4Addr) {
        self.peer_address = Some(addr);
    }

    /// The IP-Address the peer's acknowledged request carried.
    pub fn peer_address(&self) -> Option<Ipv4Addr> {
        self.peer_address
    }

    fn server_value(&self, kind: u8) -> Option<Option<Ipv4Addr>> {
        Some(match kind {
            opt::PRIMARY_DNS => self.dns[0],
            opt::SECONDARY_DNS => self.dns[1],
            opt::PRIMARY_NBNS => self.nbns[0],
            opt::SECONDARY_NBNS => self.nbns[1],
            _ => return None,
        })
    }
}

impl IpcpServer {
    fn fail(&mut self, asked: Ipv4Addr) {
        if self.failure.is_none() {
            self.failure = Some(DownReason::PeerInsists {
                asked,
                assigned: self.assigned,
            });
        }
    }
}

/// Ack `value` if it equals `want`, else Nak with `want`.
fn ack_or_nak(kind: u8, value: Ipv4Addr, want: Ipv4Addr, nak: &mut OptionWriter<'_>) -> Verdict {
    if value == want {
        Verdict::Ack
    } else {
        nak.push_ipv4(kind, want);
        Verdict::Nak
    }
}

impl Protocol for IpcpServer {
    const PROTOCOL: u16 = proto::IPCP;
    const NAME: &'static str = "ipcp";

    fn reset(&mut self) {
        self.send_local = true;
        self.addr_naks = 0;
    }

    fn build_request(&mut self, w: &mut OptionWriter<'_>) {
        if self.send_local {
            w.push_ipv4(opt::IP_ADDRESS, self.local);
        }
    }

    fn check_option(&mut self, kind: u8, value: &[u8], nak: &mut OptionWriter<'_>) -> Verdict {
        let Some(v) = wire::value_ipv4(value) else {
            return Verdict::Reject;
        };
        match kind {
            opt::IP_ADDRESS if !self.assigned.is_unspecified() => {
                if v != self.assigned && self.addr_naks >= self.max_addr_naks {
                    // RFC 1661 would turn the Nak into a Reject now, and a
                    // peer that then drops the option would be Acked with an
                    // address we cannot forward for: end it instead.
                    self.fail(v);
                    return Verdict::Reject;
                }
                let verdict = ack_or_nak(kind, v, self.assigned, nak);
                if verdict == Verdict::Nak {
                    self.addr_naks += 1;
                }
                verdict
            }
            _ => match self.server_value(kind) {
                Some(Some(want)) => ack_or_nak(kind, v, want, nak),
                // Not configured, VJ, IP-Addresses, unknown.
                _ => Verdict::Reject,
            },
        }
    }

    /// A peer that does not ask for an address is told which one it has
    /// (RFC 1332 §3.3 lets the server Nak an option the peer omitted).
    fn check_missing(&mut self, options: &[u8], nak: &mut OptionWriter<'_>) {
        let has_addr = wire::options(options)
            .flatten()
            .any(|o| o.kind == opt::IP_ADDRESS);
        if !has_addr && !self.assigned.is_unspecified() {
            nak.push_ipv4(opt::IP_ADDRESS, self.assigned);
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_address = wire::options(options)
            .flatten()
            .find(|o| o.kind == opt::IP_ADDRESS)
            .and_then(|o| wire::value_ipv4(o.value));
        // Acked without the assigned address (only possible once Max-Failure
        // stopped the Naks of a missing one): no data path would work.
        if !self.assigned.is_unspecified() && self.peer_address != Some(self.assigned) {
            self.fail(self.peer_address.unwrap_or(Ipv4Addr::UNSPECIFIED));
        }
        self.addr_naks = 0;
    }

    fn take_failure(&mut self) -> Option<DownReason> {
        self.failure.take()
    }

    /// We keep our address when Naked (the peer converges or Max-Configure
    /// ends it).
    fn nak_received(&mut self, _options: &[u8]) {}

    fn reject_received(&mut self, options: &[u8]) {
        if wire::options(options)
            .flatten()
            .any(|o| o.kind == opt::IP_ADDRESS)
        {
            self.send_local = false;
        }
    }

    fn max_packet(&self) -> usize {
        self.max_packet
    }
}

/// Client-side IPCP request policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IpcpClientPolicy {
    /// Ask for primary and secondary DNS (0.0.0.0, RFC 1877).
    pub request_dns: bool,
    /// Ask for VJ compression first (EdgeRouter default).
    pub request_vj: bool,
}

/// Client-side IPCP: asks for an address (and DNS), takes Naks, drops
/// rejected options.
#[derive(Debug, Clone)]
pub struct IpcpClient {
    policy: IpcpClientPolicy,
    address: Option<Ipv4Addr>,
    dns: [Option<Ipv4Addr>; 2],
    vj: bool,
    peer_address: Option<Ipv4Addr>,
}

impl IpcpClient {
    pub fn new(policy: IpcpClientPolicy) -> Self {
        let mut c = IpcpClient {
            policy,
            address: None,
            dns: [None; 2],
            vj: false,
            peer_address: None,
        };
        c.reset();
        c
    }

    /// Our address (0.0.0.0 until the server Naks it).
    pub fn address(&self) -> Ipv4Addr {
        self.address.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// DNS servers learned (None if not requested, rejected or still 0).
    pub fn dns(&self) -> [Option<Ipv4Addr>; 2] {
        self.dns.map(|d| d.filter(|a| !a.is_unspecified()))
    }

    /// The server's address from its request.
    pub fn peer_address(&self) -> Ipv4Addr {
        self.peer_address.unwrap_or(Ipv4Addr::UNSPECIFIED)
    }

    /// Whether VJ is still being requested.
    pub fn requests_vj(&self) -> bool {
        self.vj
    }
}

impl Protocol for IpcpClient {
    const PROTOCOL: u16 = proto::IPCP;
    const NAME: &'static str = "ipcp";

    fn reset(&mut self) {
        self.address = Some(Ipv4Addr::UNSPECIFIED);
        let d = self.policy.request_dns.then_some(Ipv4Addr::UNSPECIFIED);
        self.dns = [d, d];
        self.vj = self.policy.request_vj;
    }

    fn build_request(&mut self, w: &mut OptionWriter<'_>) {
        if self.vj {
            w.push(opt::IP_COMPRESSION, &VJ_VALUE);
        }
        if let Some(a) = self.address {
            w.push_ipv4(opt::IP_ADDRESS, a);
        }
        if let Some(d) = self.dns[0] {
            w.push_ipv4(opt::PRIMARY_DNS, d);
        }
        if let Some(d) = self.dns[1] {
            w.push_ipv4(opt::SECONDARY_DNS, d);
        }
    }

    fn check_option(&mut self, kind: u8, value: &[u8], _nak: &mut OptionWriter<'_>) -> Verdict {
        match (kind, wire::value_ipv4(value)) {
            (opt::IP_ADDRESS, Some(_)) => Verdict::Ack,
            _ => Verdict::Reject,
        }
    }

    fn peer_acked(&mut self, options: &[u8]) {
        self.peer_address = wire::options(options)
            .flatten()
            .find(|o| o.kind == opt::IP_ADDRESS)
            .and_then(|o| wire::value_ipv4(o.value));
    }

    fn nak_received(&mut self, options: &[u8]) {
        for o in wire::options(options).flatten() {
            let v = wire::value_ipv4(o.value);
            match o.kind {
                opt::IP_ADDRESS if self.address.is_some() => self.address = v.or(self.address),
                opt::PRIMARY_DNS if self.dns[0].is_some() => self.dns[0] = v.or(self.dns[0]),
                opt::SECONDARY_DNS if self.dns[1].is_some() => self.dns[1] = v.or(self.dns[1]),
                // We only speak the one VJ variant: drop it.
                opt::IP_COMPRESSION => self.vj = false,
                _ => {}
            }
        }
    }

    fn reject_received(&mut self, options: &[u8]) {
        for o in wire::options(options).flatten() {
            match o.kind {
                opt::IP_ADDRESS => self.address = None,
                opt::PRIMARY_DNS => self.dns[0] = None,
                opt::SECONDARY_DNS => self.dns[1] = None,
                opt::IP_COMPRESSION => self.vj = false,
                _ => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judge(s: &mut IpcpServer, kind: u8, value: &[u8]) -> (Verdict, Vec<u8>) {
        let mut nak = Vec::new();
        let v = s.check_option(kind, value, &mut OptionWriter::new(&mut nak));
        (v, nak)
    }

    #[test]
    fn server_policy() {
        let mut s = IpcpServer::new(
            Ipv4Addr::new(172, 16, 0, 254),
            [Some(Ipv4Addr::new(9, 9, 9, 9)), None],
            [None, None],
        );
        s.set_assigned(Ipv4Addr::new(100, 64, 0, 2));
        assert_eq!(
            judge(&mut s, 3, &[0, 0, 0, 0]),
            (Verdict::Nak, vec![3, 6, 100, 64, 0, 2])
        );
        assert_eq!(judge(&mut s, 3, &[100, 64, 0, 9]).0, Verdict::Nak);
        assert_eq!(judge(&mut s, 3, &[100, 64, 0, 2]).0, Verdict::Ack);
        assert_eq!(
            judge(&mut s, 129, &[0, 0, 0, 0]),
            (Verdict::Nak, vec![129, 6, 9, 9, 9, 9])
        );
        assert_eq!(judge(&mut s, 129, &[9, 9, 9, 9]).0, Verdict::Ack);
        assert_eq!(judge(&mut s, 131, &[0, 0, 0, 0]).0, Verdict::Reject);
        assert_eq!(judge(&mut s, 130, &[0, 0, 0, 0]).0, Verdict::Reject);
        assert_eq!(judge(&mut s, 2, &VJ_VALUE).0, Verdict::Reject);
        assert_eq!(judge(&mut s, 1, &[0; 8]).0, Verdict::Reject);
        assert_eq!(judge(&mut s, 3, &[1, 2, 3]).0, Verdict::Reject);
        let mut nak = Vec::new();
        s.check_missing(&[129, 6, 9, 9, 9, 9], &mut OptionWriter::new(&mut nak));
        assert_eq!(nak, [3, 6, 100, 64, 0, 2]);
    }

    #[test]
    fn client_request_and_naks() {
        let mut c = IpcpClient::new(IpcpClientPolicy {
            request_dns: true,
            request_vj: true,
        });
        let mut req = Vec::new();
        c.build_request(&mut OptionWriter::new(&mut req));
        assert_eq!(
            req,
            [2, 6, 0, 0x2d, 0x0f, 1, 3, 6, 0, 0, 0, 0, 129, 6, 0, 0, 0, 0, 131, 6, 0, 0, 0, 0]
        );
        c.reject_received(&[2, 6, 0, 0x2d, 0x0f, 1]);
        c.nak_received(&[3, 6, 10, 0, 0, 1, 129, 6, 1, 1, 1, 1, 131, 6, 8, 8, 8, 8]);
        assert_eq!(c.address(), Ipv4Addr::new(10, 0, 0, 1));
        assert_eq!(
            c.dns(),
            [
                Some(Ipv4Addr::new(1, 1, 1, 1)),
                Some(Ipv4Addr::new(8, 8, 8, 8))
            ]
        );
        assert!(!c.requests_vj());
    }
}
