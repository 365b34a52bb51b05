//! What a run measured, the table and `target/bench/sessions.json`.

use serde::Serialize;

use crate::{
    bench::report::{machine_line, render_table, TableRow},
    util::rounded,
};

use super::SessionsArgs;

#[derive(Debug, Clone, Default)]
pub(super) struct Measured {
    pub(super) sessions: u32,
    pub(super) rate: u32,
    /// `local` (secrets file) or `radius` (FreeRADIUS).
    pub(super) auth: &'static str,
    pub(super) port_block_size: Option<u16>,
    pub(super) up: Option<u64>,
    pub(super) failed: Option<u64>,
    pub(super) first_up_ms: Option<u64>,
    /// Emulator start of the first session → the last one up.
    pub(super) all_up_ms: Option<u64>,
    pub(super) daemon_sessions: Option<u64>,
    pub(super) daemon_rss_idle_kib: Option<u64>,
    pub(super) daemon_rss_up_kib: Option<u64>,
    pub(super) daemon_rss_after_kib: Option<u64>,
    pub(super) emu_rss_up_kib: Option<u64>,
    /// SIGTERM to the emulator → the daemon's `sessions 0`.
    pub(super) teardown_ms: Option<u64>,
    /// Non-zero `drop*` and error counters of the daemon.
    pub(super) drops: Vec<(String, u64)>,
    pub(super) note: Option<String>,
}

impl Measured {
    pub(super) fn failed(n: u32, rate: u32, note: String) -> Self {
        Measured {
            sessions: n,
            rate,
            auth: "local",
            note: Some(note),
            ..Default::default()
        }
    }

    pub(super) fn sessions_per_sec(&self) -> Option<f64> {
        let ms = self.all_up_ms.filter(|&ms| ms > 0)?;
        Some(f64::from(self.sessions) * 1000.0 / ms as f64)
    }

    fn bytes_per_session(&self, idle: Option<u64>, up: Option<u64>) -> Option<f64> {
        let (idle, up) = (idle?, up?);
        Some(up.saturating_sub(idle) as f64 * 1024.0 / f64::from(self.sessions))
    }

    pub(super) fn daemon_bytes_per_session(&self) -> Option<f64> {
        self.bytes_per_session(self.daemon_rss_idle_kib, self.daemon_rss_up_kib)
    }

    pub(super) fn emu_bytes_per_session(&self) -> Option<f64> {
        self.bytes_per_session(Some(0), self.emu_rss_up_kib)
    }
}

/// How this bench ran, after the machine: the table's first line and the
/// JSON's `machine`.
pub(super) fn header(args: &SessionsArgs) -> String {
    let nat = if args.no_nat {
        "routed (no NAT)"
    } else {
        "NAT, port blocks fitted to N"
    };
    machine_line(&format!(
        "veth, pppoe-bras release build, RUST_LOG=info, CHAP, {nat}; emulator in the same machine"
    ))
}

fn opt<T: std::fmt::Display>(v: Option<T>) -> String {
    v.map_or_else(|| "-".to_owned(), |v| v.to_string())
}

pub(super) fn table(header: &str, rows: &[Measured]) -> String {
    let cols = [
        "sessions",
        "auth",
        "rate/s",
        "all up s",
        "sess/s",
        "failed",
        "first ms",
        "daemon MiB",
        "B/session",
        "emu MiB",
        "emu B/s.",
        "teardown s",
    ]
    .map(String::from);
    let mut body = Vec::new();
    for r in rows {
        let mib = |k: Option<u64>| opt(k.map(|k| format!("{:.1}", k as f64 / 1024.0)));
        let daemon = match (r.daemon_rss_idle_kib, r.daemon_rss_up_kib) {
            (Some(a), Some(b)) => format!("{:.1}→{:.1}", a as f64 / 1024.0, b as f64 / 1024.0),
            _ => "-".into(),
        };
        let mut row = TableRow::new(vec![
            r.sessions.to_string(),
            r.auth.to_owned(),
            if r.rate == 0 {
                "max".to_owned()
            } else {
                r.rate.to_string()
            },
            opt(r.all_up_ms.map(|ms| format!("{:.2}", ms as f64 / 1000.0))),
            opt(r.sessions_per_sec().map(|v| format!("{v:.0}"))),
            opt(r.failed),
            opt(r.first_up_ms),
            daemon,
            opt(r.daemon_bytes_per_session().map(|v| format!("{v:.0}"))),
            mib(r.emu_rss_up_kib),
            opt(r.emu_bytes_per_session().map(|v| format!("{v:.0}"))),
            opt(r.teardown_ms.map(|ms| format!("{:.2}", ms as f64 / 1000.0))),
        ]);
        if let Some(b) = r.port_block_size {
            row.under.push(format!("NAT port blocks of {b}"));
        }
        if !r.drops.is_empty() {
            let d: Vec<String> = r.drops.iter().map(|(k, v)| format!("{k}={v}")).collect();
            row.under.push(format!("daemon counters: {}", d.join(" ")));
        }
        if let Some(n) = &r.note {
            row.under.push(format!("note: {n}"));
        }
        body.push(row);
    }
    let footer = "auth: local secrets, or RADIUS (FreeRADIUS 3 in the inet netns: Access-Request per\n\
         session, Accounting Start and Stop to its detail file);\n\
         all up s: emulator's first start → last session up (IPCP open); sess/s = sessions / that;\n\
         B/session: daemon RSS growth / sessions; emu B/s.: emulator RSS / sessions;\n\
         teardown s: SIGTERM to the emulator (hang-up paced at --close-rate) → daemon `sessions 0`.";
    render_table(&format!("Control plane: {header}"), &cols, &body, footer)
}

/// `target/bench/sessions.json`.
#[derive(Serialize)]
pub(super) struct Report<'a> {
    machine: &'a str,
    rate: u32,
    close_rate: u32,
    nat: bool,
    runs: Vec<RunJson<'a>>,
}

/// One session count in [`Report`]; rates and bytes per session to 0.1.
#[derive(Serialize)]
struct RunJson<'a> {
    sessions: u32,
    auth: &'a str,
    rate: u32,
    port_block_size: Option<u16>,
    up: Option<u64>,
    failed: Option<u64>,
    first_up_ms: Option<u64>,
    all_up_ms: Option<u64>,
    sessions_per_sec: Option<f64>,
    daemon_sessions: Option<u64>,
    daemon_rss_idle_kib: Option<u64>,
    daemon_rss_up_kib: Option<u64>,
    daemon_rss_after_teardown_kib: Option<u64>,
    daemon_bytes_per_session: Option<f64>,
    emulator_rss_kib: Option<u64>,
    emulator_bytes_per_session: Option<f64>,
    teardown_ms: Option<u64>,
    /// An object, in the daemon's counter order.
    #[serde(serialize_with = "as_map")]
    daemon_drops: &'a [(String, u64)],
    note: Option<&'a str>,
}

fn as_map<S: serde::Serializer>(pairs: &&[(String, u64)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

pub(super) fn report<'a>(header: &'a str, args: &SessionsArgs, rows: &'a [Measured]) -> Report<'a> {
    Report {
        machine: header,
        rate: args.rate,
        close_rate: args.close_rate.unwrap_or(args.rate),
        nat: !args.no_nat,
        runs: rows
            .iter()
            .map(|r| RunJson {
                sessions: r.sessions,
                auth: r.auth,
                rate: r.rate,
                port_block_size: r.port_block_size,
                up: r.up,
                failed: r.failed,
                first_up_ms: r.first_up_ms,
                all_up_ms: r.all_up_ms,
                sessions_per_sec: rounded(r.sessions_per_sec(), 1),
                daemon_sessions: r.daemon_sessions,
                daemon_rss_idle_kib: r.daemon_rss_idle_kib,
                daemon_rss_up_kib: r.daemon_rss_up_kib,
                daemon_rss_after_teardown_kib: r.daemon_rss_after_kib,
                daemon_bytes_per_session: rounded(r.daemon_bytes_per_session(), 1),
                emulator_rss_kib: r.emu_rss_up_kib,
                emulator_bytes_per_session: rounded(r.emu_bytes_per_session(), 1),
                teardown_ms: r.teardown_ms,
                daemon_drops: &r.drops,
                note: r.note.as_deref(),
            })
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn json_keeps_its_keys_and_shape() {
        let mut m = Measured::failed(10, 5, "bad \"x\"\n".into());
        m.all_up_ms = Some(3);
        m.drops = vec![("z.drop".into(), 2), ("a.error".into(), 1)];
        let args = SessionsArgs {
            sessions: vec![10],
            rate: 5,
            close_rate: None,
            no_nat: true,
            timeout: 1,
            bras_bin: None,
            no_build: true,
            json: None,
            radius: false,
        };
        let text = serde_json::to_string(&report("h", &args, &[m])).unwrap();
        // The daemon's counter order, not sorted.
        assert!(
            text.contains(r#""daemon_drops":{"z.drop":2,"a.error":1}"#),
            "{text}"
        );
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        let keys = |v: &serde_json::Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        let mut want = vec!["machine", "rate", "close_rate", "nat", "runs"];
        want.sort();
        assert_eq!(keys(&j), want);
        assert_eq!(j["close_rate"], 5);
        assert_eq!(j["nat"], false);
        let run = &j["runs"][0];
        let mut want = vec![
            "sessions",
            "auth",
            "rate",
            "port_block_size",
            "up",
            "failed",
            "first_up_ms",
            "all_up_ms",
            "sessions_per_sec",
            "daemon_sessions",
            "daemon_rss_idle_kib",
            "daemon_rss_up_kib",
            "daemon_rss_after_teardown_kib",
            "daemon_bytes_per_session",
            "emulator_rss_kib",
            "emulator_bytes_per_session",
            "teardown_ms",
            "daemon_drops",
            "note",
        ];
        want.sort();
        assert_eq!(keys(run), want);
        assert_eq!(run["note"], "bad \"x\"\n");
        assert_eq!(run["auth"], "local");
        assert_eq!(run["sessions_per_sec"], 3333.3);
        assert!(run["up"].is_null());
        assert!(run["daemon_bytes_per_session"].is_null());
    }
}
