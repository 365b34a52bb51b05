//! The control socket's commands answered from the live manager and data
//! plane, and the metrics snapshot.

use super::*;

/// What `/metrics` shows, read in one go from the manager and the data plane.
pub(super) fn snapshot(
    manager: &Manager,
    dataplane: &Dataplane,
    mac: [u8; 6],
    per_session: bool,
    lag: f64,
) -> crate::metrics::Snapshot {
    use std::collections::BTreeMap;
    let mut states: BTreeMap<&'static str, u64> = query::STATES.iter().map(|s| (*s, 0)).collect();
    let mut auth: BTreeMap<&'static str, u64> = BTreeMap::new();
    let mut traffic = (0, 0, 0, 0);
    let mut rows = Vec::new();
    for (k, i) in manager.sessions() {
        *states.entry(query::state(&i)).or_default() += 1;
        if i.installed {
            let p = match i.link.auth_proto() {
                Some(crate::ppp::AuthProto::Chap) => "chap",
                Some(crate::ppp::AuthProto::Pap) => "pap",
                None => "none",
            };
            *auth.entry(p).or_default() += 1;
        }
        let (c, _) = data_of(dataplane, mac, k, &i);
        traffic.0 += c.up_packets;
        traffic.1 += c.up_bytes;
        traffic.2 += c.down_packets;
        traffic.3 += c.down_bytes;
        if per_session && i.installed {
            rows.push(crate::metrics::SessionFigures {
                session_id: k.session_id,
                user: i
                    .user
                    .map(|u| crate::wire::text::escape(u).to_string())
                    .unwrap_or_default(),
                address: i.address.map(|a| a.to_string()).unwrap_or_default(),
                up_packets: c.up_packets,
                up_bytes: c.up_bytes,
                down_packets: c.down_packets,
                down_bytes: c.down_bytes,
            });
        }
    }
    let stats = manager.stats();
    crate::metrics::Snapshot {
        sessions_by_state: states.into_iter().collect(),
        sessions_by_auth: auth.into_iter().collect(),
        setups: stats[crate::session::ManagerStat::Setups],
        teardowns: stats.teardowns.iter().map(|(k, v)| (*k, *v)).collect(),
        auth_failures: stats[crate::session::ManagerStat::AuthFailed],
        control: manager.counters(),
        xdp: dataplane.stats(),
        traffic,
        nat: dataplane
            .nat_by_address()
            .into_iter()
            .map(
                |(address, mappings, blocks, blocks_free)| crate::metrics::NatFigures {
                    address,
                    mappings,
                    blocks,
                    blocks_free,
                },
            )
            .collect(),
        pool_size: manager.pool().size(),
        pool_in_use: manager.pool().in_use() as u64,
        loop_lag_seconds: lag,
        per_session: per_session.then_some(rows),
        radius: Vec::new(),
    }
}

/// Answer a control-socket command.
pub(super) fn answer(
    cmd: Command,
    manager: &mut Manager,
    dataplane: &Dataplane,
    mac: [u8; 6],
) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    match cmd {
        Command::Sessions(filter) => {
            let rows = select(manager, dataplane, mac, |k, i| filter.matches(k, i));
            if filter.json {
                let rows: Vec<_> = rows.into_iter().map(|(row, _)| row).collect();
                out.push_str(&query::json(&rows));
            } else {
                for (row, _) in rows {
                    let _ = writeln!(out, "{}", row.line());
                }
            }
        }
        Command::Show(sel, json) => {
            let details: Vec<query::Detail> = manager
                .sessions()
                .filter(|(k, i)| sel.matches(k, i))
                .map(|(k, i)| {
                    let (c, nat) = data_of(dataplane, mac, k, &i);
                    query::Detail::new(query::Row::new(k, &i, c), &i, nat)
                })
                .collect();
            if details.is_empty() {
                let _ = writeln!(out, "error: no session {}", sel.to_word());
            } else if json {
                out.push_str(&query::json(&details));
            } else {
                for d in details {
                    out.push_str(&d.text());
                }
            }
        }
        Command::Stats => {
            let _ = writeln!(out, "sessions {}", manager.len());
            for (name, v) in manager.counters() {
                let _ = writeln!(out, "{name} {v}");
            }
            for (name, v) in dataplane.stats() {
                let _ = writeln!(out, "xdp.{name} {v}");
            }
            for (name, v) in dataplane.nic_stats() {
                let _ = writeln!(out, "{name} {v}");
            }
        }
        Command::Reload => out.push_str("error: reload is answered by the event loop\n"),
        Command::Kill(sel) => {
            let now = Instant::now();
            let keys: Vec<SessionKey> = manager
                .sessions()
                .filter(|(k, i)| sel.matches(k, i))
                .map(|(k, _)| *k)
                .collect();
            if keys.is_empty() {
                let _ = writeln!(out, "error: no session {}", sel.to_word());
            }
            for key in keys {
                if manager.kill(now, &key) {
                    let _ = writeln!(out, "terminating session {:#06x}", key.session_id);
                }
            }
        }
    }
    out
}

/// The sessions `keep` accepts, as rows, in session id order.
fn select(
    manager: &Manager,
    dataplane: &Dataplane,
    mac: [u8; 6],
    keep: impl Fn(&SessionKey, &crate::session::SessionInfo<'_>) -> bool,
) -> Vec<(query::Row, SessionKey)> {
    let mut rows: Vec<_> = manager
        .sessions()
        .filter(|(k, i)| keep(k, i))
        .map(|(k, i)| {
            let (c, _) = data_of(dataplane, mac, k, &i);
            (query::Row::new(k, &i, c), *k)
        })
        .collect();
    rows.sort_by_key(|(_, k)| k.session_id);
    rows
}

/// A session's counters and NAT block from the data plane (zero/none when
/// its rows are not installed).
fn data_of(
    dataplane: &Dataplane,
    mac: [u8; 6],
    key: &SessionKey,
    info: &crate::session::SessionInfo<'_>,
) -> (query::Counters, Option<(Ipv4Addr, u16, u16)>) {
    if !info.installed {
        return (query::Counters::default(), None);
    }
    // The data plane finds an IPv6-only session by its key.
    let addr = info.address.unwrap_or(Ipv4Addr::UNSPECIFIED);
    let row = session_row(key, mac, addr, 0);
    let c = dataplane.counters(&row);
    (
        query::Counters {
            up_packets: c.up_packets,
            up_bytes: c.up_bytes,
            down_packets: c.down_packets,
            down_bytes: c.down_bytes,
        },
        dataplane.nat_block(&row),
    )
}
