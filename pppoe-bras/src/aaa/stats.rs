//! What AAA counts, as `pppoe-bras stats` lines and `/metrics` series.

use std::time::Instant;

use super::Aaa;
use crate::radius_client::{ClientStat, ServerStat};

impl Aaa {
    /// `radius.*` lines for `pppoe-bras stats`: per server
    /// (`radius.<addr:port>.<counter>`), per client (`radius.auth.*`,
    /// `radius.acct.*`) and the DAE outcomes (`radius.dae.*`).
    pub fn stats(&self) -> Vec<(String, u64)> {
        let now = Instant::now();
        let mut out = Vec::new();
        if let Some(r) = &self.radius {
            for (kind, c) in [("auth", &r.auth), ("acct", &r.acct)] {
                let Some(c) = c else { continue };
                for (addr, dead, st) in c.servers(now) {
                    out.push((format!("radius.{addr}.dead"), u64::from(dead)));
                    for (n, v) in st.counters() {
                        out.push((format!("radius.{addr}.{n}"), v));
                    }
                }
                let live = [
                    ("in_flight", c.in_flight() as u64),
                    ("queued", c.queued() as u64),
                    ("max_outstanding", c.max_outstanding() as u64),
                ];
                for (n, v) in live.into_iter().chain(c.stats.counters()) {
                    out.push((format!("radius.{kind}.{n}"), v));
                }
            }
            out.push(("radius.acct.stop_queue".to_owned(), r.stops.len() as u64));
            out.push(("radius.dropped_unknown_source".to_owned(), r.unknown_source));
        }
        if let Some((_, d)) = &self.dae {
            for (n, v) in d.stats.counters() {
                out.push((format!("radius.dae.{n}"), v));
            }
        }
        out
    }

    /// The RADIUS series of `/metrics`.
    pub fn metrics(&self) -> Vec<crate::metrics::Series> {
        use crate::metrics::Series;
        let now = Instant::now();
        let mut out = Vec::new();
        let l = |pairs: &[(&'static str, &str)]| -> Vec<(&'static str, String)> {
            pairs.iter().map(|(k, v)| (*k, (*v).to_owned())).collect()
        };
        if let Some(r) = &self.radius {
            for (kind, c) in [("auth", &r.auth), ("acct", &r.acct)] {
                let Some(c) = c else { continue };
                for (addr, dead, st) in c.servers(now) {
                    let server = addr.to_string();
                    let sk = [("server", server.as_str()), ("kind", kind)];
                    out.push(Series::counter(
                        "radius_requests",
                        l(&sk),
                        st[ServerStat::Requests],
                    ));
                    for (outcome, s) in [
                        ("accept", ServerStat::Accepts),
                        ("reject", ServerStat::Rejects),
                        ("challenge", ServerStat::Challenges),
                        ("accounting_response", ServerStat::AcctResponses),
                        ("timeout", ServerStat::Timeouts),
                    ] {
                        let mut lab = l(&sk);
                        lab.push(("outcome", outcome.to_owned()));
                        out.push(Series::counter("radius_request_outcomes", lab, st[s]));
                    }
                    out.push(Series::counter(
                        "radius_retransmits",
                        l(&sk),
                        st[ServerStat::Retransmits],
                    ));
                    for &s in ServerStat::ALL {
                        let Some(reason) = s.drop_reason_name() else {
                            continue;
                        };
                        let mut lab = l(&sk);
                        lab.push(("reason", reason.to_owned()));
                        out.push(Series::counter("radius_dropped_responses", lab, st[s]));
                    }
                    out.push(Series::gauge("radius_server_dead", l(&sk), u64::from(dead)));
                }
                let k = [("kind", kind)];
                out.push(Series::gauge(
                    "radius_in_flight",
                    l(&k),
                    c.in_flight() as u64,
                ));
                out.push(Series::gauge("radius_queued", l(&k), c.queued() as u64));
                out.push(Series::gauge(
                    "radius_max_outstanding_seen",
                    l(&k),
                    c.stats[ClientStat::MaxOutstandingSeen],
                ));
                out.push(Series::counter(
                    "radius_failovers",
                    l(&k),
                    c.stats[ClientStat::Failovers],
                ));
            }
            out.push(Series::gauge(
                "radius_stop_queue",
                Vec::new(),
                r.stops.len() as u64,
            ));
        }
        if let Some((_, d)) = &self.dae {
            for (n, v) in d.stats.counters() {
                out.push(Series::counter(
                    "radius_dae_requests",
                    l(&[("outcome", n)]),
                    v,
                ));
            }
        }
        out
    }
}
