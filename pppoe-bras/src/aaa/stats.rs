//! What AAA counts, as `pppoe-bras stats` lines and `/metrics` series.

use std::time::Instant;

use super::Aaa;

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
                let s = &c.stats;
                for (n, v) in [
                    ("in_flight", c.in_flight() as u64),
                    ("queued", c.queued() as u64),
                    ("max_outstanding", c.max_outstanding() as u64),
                    ("max_outstanding_seen", s.max_outstanding_seen),
                    ("max_queued_seen", s.max_queued_seen),
                    ("failovers", s.failovers),
                    ("no_server", s.no_server),
                    ("busy", s.busy),
                ] {
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
                    out.push(Series::counter("radius_requests", l(&sk), st.requests));
                    for (outcome, v) in [
                        ("accept", st.accepts),
                        ("reject", st.rejects),
                        ("challenge", st.challenges),
                        ("accounting_response", st.acct_responses),
                        ("timeout", st.timeouts),
                    ] {
                        let mut lab = l(&sk);
                        lab.push(("outcome", outcome.to_owned()));
                        out.push(Series::counter("radius_request_outcomes", lab, v));
                    }
                    out.push(Series::counter(
                        "radius_retransmits",
                        l(&sk),
                        st.retransmits,
                    ));
                    for reason in crate::radius_client::DropReason::ALL {
                        let mut lab = l(&sk);
                        lab.push(("reason", reason.name().to_owned()));
                        out.push(Series::counter(
                            "radius_dropped_responses",
                            lab,
                            st.dropped[reason as usize],
                        ));
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
                    c.stats.max_outstanding_seen,
                ));
                out.push(Series::counter(
                    "radius_failovers",
                    l(&k),
                    c.stats.failovers,
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
