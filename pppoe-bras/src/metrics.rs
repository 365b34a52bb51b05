//! Prometheus / OpenMetrics exposition (`metrics_listen`): a [`Snapshot`]
//! of the daemon's counters, taken by the event loop, rendered with
//! `prometheus-client` into the text format. Sans-IO apart from the tiny
//! HTTP responder [`serve`], which only asks the event loop for the text.
//!
//! Names follow the Prometheus conventions: `pppoe_bras_` prefix, `_total`
//! for counters, base units (bytes, seconds), labels for the dimension
//! (reason, state, direction) instead of one metric per value.

use std::net::{Ipv4Addr, SocketAddr};

use prometheus_client::{
    encoding::text::encode,
    metrics::{counter::Counter, family::Family, gauge::Gauge},
    registry::Registry,
};

/// One session's figures (only with `metrics_per_session`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SessionFigures {
    pub session_id: u16,
    pub user: String,
    pub address: String,
    pub up_packets: u64,
    pub up_bytes: u64,
    pub down_packets: u64,
    pub down_bytes: u64,
}

/// Public address → (NAT ports in use, port blocks in total, free).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NatFigures {
    pub address: Ipv4Addr,
    pub mappings: u64,
    pub blocks: u64,
    pub blocks_free: u64,
}

/// One series of a family other parts of the daemon describe themselves
/// (the RADIUS client and DAE server): family name without prefix and
/// `_total`, labels, value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Series {
    pub name: &'static str,
    pub gauge: bool,
    pub labels: Vec<(&'static str, String)>,
    pub value: u64,
}

impl Series {
    pub fn counter(name: &'static str, labels: Vec<(&'static str, String)>, value: u64) -> Self {
        Series {
            name,
            gauge: false,
            labels,
            value,
        }
    }

    pub fn gauge(name: &'static str, labels: Vec<(&'static str, String)>, value: u64) -> Self {
        Series {
            name,
            gauge: true,
            labels,
            value,
        }
    }
}

/// Help text of the [`Series`] families.
fn series_help(name: &str) -> &'static str {
    match name {
        "radius_requests" => "RADIUS requests sent, by server and kind (auth, acct)",
        "radius_request_outcomes" => {
            "RADIUS requests by how they ended on a server (accept, reject, challenge, accounting_response, timeout)"
        }
        "radius_retransmits" => "RADIUS retransmissions by server",
        "radius_dropped_responses" => "RADIUS datagrams dropped, by server and reason",
        "radius_server_dead" => "1 while a RADIUS server is skipped as dead",
        "radius_in_flight" => "RADIUS requests waiting for an answer",
        "radius_queued" => "RADIUS requests waiting for a free slot (radius_max_outstanding)",
        "radius_max_outstanding_seen" => "Most RADIUS requests in flight at once since start",
        "radius_failovers" => "RADIUS requests moved to the next server",
        "radius_stop_queue" => "Accounting stop records waiting for a live server",
        "radius_dae_requests" => "RFC 5176 Disconnect/CoA requests by outcome",
        _ => "",
    }
}

/// Everything one scrape shows, taken in one go by the event loop.
#[derive(Debug, Clone, Default)]
pub struct Snapshot {
    /// Sessions by state (`query::state` names).
    pub sessions_by_state: Vec<(&'static str, u64)>,
    /// Up sessions by authentication protocol.
    pub sessions_by_auth: Vec<(&'static str, u64)>,
    /// Sessions that reached the network phase with a data path.
    pub setups: u64,
    /// Ended sessions by down reason kind.
    pub teardowns: Vec<(&'static str, u64)>,
    /// Refused authentications (initial and re-challenges).
    pub auth_failures: u64,
    /// `manager.counters()`: `discovery.*` and `session.*`.
    pub control: Vec<(String, u64)>,
    /// Data-plane verdicts by name (per-CPU summed).
    pub xdp: Vec<(&'static str, u64)>,
    /// Live sessions' traffic summed: (up packets, up bytes, down packets, down bytes).
    pub traffic: (u64, u64, u64, u64),
    pub nat: Vec<NatFigures>,
    pub pool_size: u64,
    pub pool_in_use: u64,
    /// Longest event-loop lag since the last scrape, seconds.
    pub loop_lag_seconds: f64,
    /// `Some` with `metrics_per_session = true`.
    pub per_session: Option<Vec<SessionFigures>>,
    /// RADIUS client and DAE server series.
    pub radius: Vec<Series>,
}

type L = Vec<(String, String)>;

fn labels(pairs: &[(&str, &str)]) -> L {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

fn counter_family(reg: &mut Registry, name: &str, help: &str) -> Family<L, Counter> {
    let f = Family::<L, Counter>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge_family(reg: &mut Registry, name: &str, help: &str) -> Family<L, Gauge> {
    let f = Family::<L, Gauge>::default();
    reg.register(name, help, f.clone());
    f
}

fn gauge_i(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// The exposition text of `s` (OpenMetrics, ends with `# EOF`).
pub fn render(s: &Snapshot) -> String {
    let mut reg = Registry::with_prefix("pppoe_bras");

    let f = gauge_family(&mut reg, "sessions", "Live sessions by state");
    for (state, n) in &s.sessions_by_state {
        f.get_or_create(&labels(&[("state", state)]))
            .set(gauge_i(*n));
    }
    let f = gauge_family(
        &mut reg,
        "sessions_by_auth",
        "Up sessions by authentication protocol",
    );
    for (proto, n) in &s.sessions_by_auth {
        f.get_or_create(&labels(&[("proto", proto)]))
            .set(gauge_i(*n));
    }
    let c = Counter::<u64>::default();
    c.inc_by(s.setups);
    reg.register(
        "session_setups",
        "Sessions whose data path was installed",
        c,
    );
    let f = counter_family(&mut reg, "session_teardowns", "Ended sessions by reason");
    for (reason, n) in &s.teardowns {
        f.get_or_create(&labels(&[("reason", reason)])).inc_by(*n);
    }
    let c = Counter::<u64>::default();
    c.inc_by(s.auth_failures);
    reg.register("auth_failures", "Refused authentications", c);

    let disc_frames = counter_family(
        &mut reg,
        "discovery_frames",
        "PPPoE discovery frames by event",
    );
    let disc_drops = counter_family(
        &mut reg,
        "discovery_drops",
        "Discovery frames dropped, by reason",
    );
    let ses_events = counter_family(
        &mut reg,
        "session_frames",
        "PPPoE session control frames by event",
    );
    let ses_drops = counter_family(
        &mut reg,
        "session_frame_drops",
        "Session control frames dropped, by reason",
    );
    for (name, v) in &s.control {
        let (fam, what) = match name.split_once('.') {
            Some(("discovery", n)) => match n.strip_prefix("drop_") {
                Some(r) => (&disc_drops, ("reason", r)),
                None => (&disc_frames, ("event", n)),
            },
            Some((_, n)) => match n.strip_prefix("drop_") {
                Some(r) => (&ses_drops, ("reason", r)),
                None => (&ses_events, ("event", n)),
            },
            None => continue,
        };
        fam.get_or_create(&labels(&[what])).inc_by(*v);
    }

    let xdp_pk = counter_family(
        &mut reg,
        "xdp_packets",
        "Packets the XDP programs handled, by verdict",
    );
    let xdp_drops = counter_family(
        &mut reg,
        "xdp_drops",
        "Packets the XDP programs dropped, by reason",
    );
    for (name, v) in &s.xdp {
        match name.strip_prefix("drop_") {
            Some(r) => xdp_drops
                .get_or_create(&labels(&[("reason", r)]))
                .inc_by(*v),
            None => xdp_pk
                .get_or_create(&labels(&[("verdict", name)]))
                .inc_by(*v),
        };
    }
    let pk = counter_family(
        &mut reg,
        "subscriber_packets",
        "Live sessions' packets by direction",
    );
    let by = counter_family(
        &mut reg,
        "subscriber_bytes",
        "Live sessions' IPv4 bytes by direction",
    );
    let (up_p, up_b, down_p, down_b) = s.traffic;
    pk.get_or_create(&labels(&[("direction", "up")]))
        .inc_by(up_p);
    pk.get_or_create(&labels(&[("direction", "down")]))
        .inc_by(down_p);
    by.get_or_create(&labels(&[("direction", "up")]))
        .inc_by(up_b);
    by.get_or_create(&labels(&[("direction", "down")]))
        .inc_by(down_b);

    let maps = gauge_family(
        &mut reg,
        "nat_mappings",
        "Live NAT mappings by public address",
    );
    let blocks = gauge_family(
        &mut reg,
        "nat_port_blocks",
        "NAT port blocks by public address",
    );
    let free = gauge_family(
        &mut reg,
        "nat_port_blocks_free",
        "Free NAT port blocks by public address",
    );
    for n in &s.nat {
        let a = n.address.to_string();
        let l = labels(&[("public_address", &a)]);
        maps.get_or_create(&l).set(gauge_i(n.mappings));
        blocks.get_or_create(&l).set(gauge_i(n.blocks));
        free.get_or_create(&l).set(gauge_i(n.blocks_free));
    }
    let g = Gauge::<i64>::default();
    g.set(gauge_i(s.pool_size));
    reg.register("pool_addresses", "Addresses in the pools", g);
    let g = Gauge::<i64>::default();
    g.set(gauge_i(s.pool_in_use));
    reg.register(
        "pool_addresses_in_use",
        "Pool and static addresses leased",
        g,
    );
    let g = Gauge::<f64, std::sync::atomic::AtomicU64>::default();
    g.set(s.loop_lag_seconds);
    reg.register(
        "event_loop_lag_seconds",
        "Longest delay of the control plane's event loop since the last scrape",
        g,
    );

    let mut counters: std::collections::HashMap<&str, Family<L, Counter>> = Default::default();
    let mut gauges: std::collections::HashMap<&str, Family<L, Gauge>> = Default::default();
    for x in &s.radius {
        let l: L = x
            .labels
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect();
        if x.gauge {
            gauges
                .entry(x.name)
                .or_insert_with(|| gauge_family(&mut reg, x.name, series_help(x.name)))
                .get_or_create(&l)
                .set(gauge_i(x.value));
        } else {
            counters
                .entry(x.name)
                .or_insert_with(|| counter_family(&mut reg, x.name, series_help(x.name)))
                .get_or_create(&l)
                .inc_by(x.value);
        }
    }

    if let Some(rows) = &s.per_session {
        let pk = counter_family(
            &mut reg,
            "session_packets",
            "Packets per session and direction",
        );
        let by = counter_family(
            &mut reg,
            "session_bytes",
            "IPv4 bytes per session and direction",
        );
        for r in rows {
            let id = format!("{:#06x}", r.session_id);
            for (dir, p, b) in [
                ("up", r.up_packets, r.up_bytes),
                ("down", r.down_packets, r.down_bytes),
            ] {
                let l = labels(&[
                    ("session", &id),
                    ("user", &r.user),
                    ("address", &r.address),
                    ("direction", dir),
                ]);
                pk.get_or_create(&l).inc_by(p);
                by.get_or_create(&l).inc_by(b);
            }
        }
    }

    let mut out = String::new();
    // Writing to a String cannot fail.
    let _ = encode(&mut out, &reg);
    out
}

/// Serve `GET /metrics` on `addr`: each request asks the event loop (through
/// `ask`) for the text, so a scrape never blocks it and never sees a
/// half-updated state. Anything but `GET /metrics` gets 404; a client that
/// sends nothing within 5 s is dropped.
pub async fn serve(
    addr: SocketAddr,
    ask: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<String>>,
) -> anyhow::Result<()> {
    use anyhow::Context as _;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("metrics_listen {addr}"))?;
    log::info!("metrics on http://{addr}/metrics");
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let ask = ask.clone();
            tokio::spawn(async move {
                let _ = answer_http(stream, ask).await;
            });
        }
    });
    Ok(())
}

async fn answer_http(
    mut stream: tokio::net::TcpStream,
    ask: tokio::sync::mpsc::Sender<tokio::sync::oneshot::Sender<String>>,
) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    let mut buf = vec![0u8; 4096];
    let mut len = 0;
    // Read until the end of the request head (or 4 KiB, or 5 s).
    let head = tokio::time::timeout(std::time::Duration::from_secs(5), async {
        loop {
            let n = stream.read(&mut buf[len..]).await?;
            if n == 0 {
                break;
            }
            len += n;
            if buf[..len].windows(4).any(|w| w == b"\r\n\r\n") || len == buf.len() {
                break;
            }
        }
        anyhow::Ok(())
    })
    .await;
    if head.is_err() {
        return Ok(());
    }
    let request = String::from_utf8_lossy(&buf[..len]);
    let first = request.lines().next().unwrap_or_default();
    let mut parts = first.split_whitespace();
    let (method, path) = (parts.next(), parts.next());
    let (status, ctype, body) = match (method, path.map(|p| p.split('?').next().unwrap_or(p))) {
        (Some("GET"), Some("/metrics")) => {
            let (tx, rx) = tokio::sync::oneshot::channel();
            ask.send(tx).await?;
            (
                "200 OK",
                "application/openmetrics-text; version=1.0.0; charset=utf-8",
                rx.await?,
            )
        }
        _ => (
            "404 Not Found",
            "text/plain",
            "try GET /metrics\n".to_owned(),
        ),
    };
    let head = format!(
        "HTTP/1.1 {status}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await?;
    stream.write_all(body.as_bytes()).await?;
    stream.shutdown().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn value<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find(|l| l.starts_with(series) && l[series.len()..].starts_with(' '))
            .map(|l| l[series.len()..].trim())
    }

    #[test]
    fn renders_every_family_with_conventional_names() {
        let s = Snapshot {
            sessions_by_state: vec![("up", 3), ("auth", 1)],
            sessions_by_auth: vec![("chap", 2), ("pap", 1)],
            setups: 7,
            teardowns: vec![("echo-timeout", 2), ("admin-close", 2)],
            auth_failures: 1,
            control: vec![
                ("discovery.padi_rx".into(), 9),
                ("discovery.drop_bad_cookie".into(), 4),
                ("session.session_rx".into(), 40),
                ("session.drop_unknown_session".into(), 5),
            ],
            xdp: vec![("up_forwarded", 100), ("drop_spoofed_source", 6)],
            traffic: (100, 8400, 90, 7560),
            nat: vec![NatFigures {
                address: Ipv4Addr::new(198, 51, 100, 1),
                mappings: 12,
                blocks: 70,
                blocks_free: 67,
            }],
            pool_size: 100,
            pool_in_use: 3,
            loop_lag_seconds: 0.0125,
            per_session: Some(vec![SessionFigures {
                session_id: 1,
                user: "testuser1".into(),
                address: "172.16.0.101".into(),
                up_packets: 5,
                up_bytes: 420,
                down_packets: 4,
                down_bytes: 336,
            }]),
            radius: vec![
                Series::counter(
                    "radius_request_outcomes",
                    vec![
                        ("server", "198.51.100.2:1812".into()),
                        ("kind", "auth".into()),
                        ("outcome", "accept".into()),
                    ],
                    11,
                ),
                Series::counter(
                    "radius_dropped_responses",
                    vec![
                        ("server", "198.51.100.2:1812".into()),
                        ("kind", "auth".into()),
                        ("reason", "bad_authenticator".into()),
                    ],
                    2,
                ),
                Series::gauge("radius_server_dead", vec![("server", "x".into())], 1),
                Series::counter(
                    "radius_dae_requests",
                    vec![("outcome", "coa_ack".into())],
                    3,
                ),
            ],
        };
        let t = render(&s);
        for (series, want) in [
            ("pppoe_bras_sessions{state=\"up\"}", "3"),
            ("pppoe_bras_sessions_by_auth{proto=\"pap\"}", "1"),
            ("pppoe_bras_session_setups_total", "7"),
            ("pppoe_bras_session_teardowns_total{reason=\"echo-timeout\"}", "2"),
            ("pppoe_bras_auth_failures_total", "1"),
            ("pppoe_bras_discovery_frames_total{event=\"padi_rx\"}", "9"),
            ("pppoe_bras_discovery_drops_total{reason=\"bad_cookie\"}", "4"),
            ("pppoe_bras_session_frame_drops_total{reason=\"unknown_session\"}", "5"),
            ("pppoe_bras_xdp_packets_total{verdict=\"up_forwarded\"}", "100"),
            ("pppoe_bras_xdp_drops_total{reason=\"spoofed_source\"}", "6"),
            ("pppoe_bras_subscriber_bytes_total{direction=\"down\"}", "7560"),
            ("pppoe_bras_nat_port_blocks_free{public_address=\"198.51.100.1\"}", "67"),
            ("pppoe_bras_pool_addresses_in_use", "3"),
            ("pppoe_bras_event_loop_lag_seconds", "0.0125"),
            (
                "pppoe_bras_radius_request_outcomes_total{server=\"198.51.100.2:1812\",kind=\"auth\",outcome=\"accept\"}",
                "11",
            ),
            (
                "pppoe_bras_radius_dropped_responses_total{server=\"198.51.100.2:1812\",kind=\"auth\",reason=\"bad_authenticator\"}",
                "2",
            ),
            ("pppoe_bras_radius_server_dead{server=\"x\"}", "1"),
            ("pppoe_bras_radius_dae_requests_total{outcome=\"coa_ack\"}", "3"),
            (
                "pppoe_bras_session_bytes_total{session=\"0x0001\",user=\"testuser1\",address=\"172.16.0.101\",direction=\"up\"}",
                "420",
            ),
        ] {
            assert_eq!(value(&t, series), Some(want), "{series} in\n{t}");
        }
        assert!(
            t.contains("# TYPE pppoe_bras_session_setups counter"),
            "{t}"
        );
        assert!(t.trim_end().ends_with("# EOF"));
        let none = render(&Snapshot::default());
        assert!(
            !none.contains("session_bytes"),
            "per-session off by default"
        );
    }
}
