//! Many [`Client`]s on one interface, sans-IO, at scale: frames routed by
//! destination MAC and VLAN tags, deadlines in one heap, starts and
//! hang-ups paced, counters for the `SUMMARY` line.

use std::{
    cmp::Reverse,
    collections::{BinaryHeap, HashMap, VecDeque},
    time::{Duration, Instant},
};

use super::client::{Client, ClientConfig, ClientEvent};
use crate::ppp::rng::Rng;
use crate::wire::eth::{fmt_mac, EthHeader, Vlans};

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
    pub(super) timers: BinaryHeap<Reverse<(Instant, usize)>>,
    /// The deadline each client has in `timers`.
    scheduled: Vec<Option<Instant>>,
    up_seen: Vec<bool>,
    transmit: VecDeque<Vec<u8>>,
    events: VecDeque<(usize, ClientEvent)>,
    /// Draws each client's seed.
    rng: Rng,
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
            rng: Rng::seeded(seed),
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
            let seed = self.rng.next_u64();
            let i = self.clients.len();
            self.clients.push(Client::new(cfg, now, seed));
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
            // Up: IPCP open, or IPv6 bound for an IPv6-only client.
            let up = match &ev {
                ClientEvent::Up { .. } => true,
                ClientEvent::Ipv6Up { .. } => !c.config().peer.ipv4,
                _ => false,
            };
            match &ev {
                _ if up => {
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
