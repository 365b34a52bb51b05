//! The table and `target/bench/dataplane.json`.

use std::fmt::Write as _;

use serde::Serialize;

use crate::{
    bench::report::{machine_line, render_table, TableRow},
    util::rounded,
};

use super::{measure::Rate, DataplaneArgs, Row};

/// How this bench ran, after the machine: the table's first line and the
/// JSON's `machine`.
pub(super) fn header(args: &DataplaneArgs) -> String {
    let napi = if args.threaded_napi {
        ", threaded NAPI"
    } else {
        ""
    };
    machine_line(&format!(
        "veth native XDP{napi}, generator BPF_PROG_RUN live frames, {} s per case, median of 1 s \
         samples",
        args.seconds
    ))
}

/// The row the ratios compare pppoe-bras against.
pub(super) fn baseline<'a>(rows: &'a [Row], kind: &str, flows: u32) -> Option<&'a Row> {
    rows.iter()
        .find(|r| r.kind == kind && r.flows == flows)
        .or_else(|| rows.iter().find(|r| r.kind == kind))
}

fn ratio(a: Option<Rate>, b: Option<Rate>) -> Option<f64> {
    match (a, b) {
        (Some(a), Some(b)) if b.pps > 0.0 => Some(a.pps / b.pps),
        _ => None,
    }
}

pub(super) fn ratios(rows: &[Row], row: &Row, against: &str) -> Vec<Option<f64>> {
    if !row.kind.starts_with("bras") {
        return vec![None; row.rates.len()];
    }
    let base = baseline(rows, against, row.flows);
    row.rates
        .iter()
        .enumerate()
        .map(|(i, r)| ratio(*r, base.and_then(|b| b.rates.get(i).copied().flatten())))
        .collect()
}

pub(super) fn table(header: &str, sizes: &[usize], rows: &[Row]) -> String {
    let mut cols = vec!["case".to_string()];
    cols.extend(sizes.iter().map(|s| format!("{s} B Mpps")));
    cols.extend(sizes.iter().map(|s| format!("a/b {s}")));
    cols.extend(sizes.iter().map(|s| format!("a/c {s}")));
    cols.push("ns/pkt".into());
    cols.push("ns cold".into());
    let mut body = Vec::new();
    let mut notes = Vec::new();
    for r in rows {
        let mut cells = vec![r.label.clone()];
        let pending = r.rates.iter().all(Option::is_none);
        let missing = match &r.note {
            Some(n) if n.starts_with("failed") => "failed",
            _ => "pending",
        };
        for x in &r.rates {
            cells.push(match x {
                Some(x) => format!("{:.3}", x.pps / 1e6),
                None => missing.into(),
            });
        }
        for against in ["kernel", "ceiling"] {
            for x in ratios(rows, r, against) {
                cells.push(x.map(|x| format!("{x:.2}")).unwrap_or_else(|| "-".into()));
            }
        }
        for ns in [r.ns_per_pkt, r.ns_cold] {
            cells.push(match ns {
                Some(ns) => format!("{ns:.0}"),
                None if pending && r.kind.starts_with("bras") => missing.into(),
                None => "-".into(),
            });
        }
        body.push(TableRow::new(cells));
        if let Some(n) = &r.note {
            if !notes.contains(n) {
                notes.push(n.clone());
            }
        }
    }
    let mut footer = String::from(
        "a/b: pppoe-bras / kernel with the same flow count (downstream too: the kernel row is upstream); \
         a/c: / bare redirect.\nns/pkt: warm in-kernel cost per packet over a bare bpf_redirect() program \
         (live-frame BPF_PROG_RUN, frames of all flows in turn); \
         ns cold: one BPF_PROG_RUN per call on flow 0's frame (cold caches), minus a bare XDP_PASS.\n",
    );
    for n in notes {
        let _ = writeln!(footer, "note: {n}");
    }
    let title = format!("pppoe-bras data path: {header}");
    render_table(&title, &cols, &body, &footer)
}

/// `target/bench/dataplane.json`.
#[derive(Serialize)]
pub(super) struct Report<'a> {
    machine: &'a str,
    seconds: u32,
    frame_sizes: &'a [usize],
    rows: Vec<RowJson<'a>>,
}

/// One [`Row`] in [`Report`]; all figures to 4 decimal places.
#[derive(Serialize)]
struct RowJson<'a> {
    kind: &'a str,
    label: &'a str,
    flows: u32,
    ns_per_packet: Option<f64>,
    ns_cold: Option<f64>,
    note: Option<&'a str>,
    results: Vec<SizeJson>,
}

/// One frame size of a [`RowJson`].
#[derive(Serialize)]
struct SizeJson {
    frame_size: usize,
    pps: Option<f64>,
    offered_pps: Option<f64>,
    a_over_b: Option<f64>,
    a_over_c: Option<f64>,
}

pub(super) fn report<'a>(header: &'a str, args: &'a DataplaneArgs, rows: &'a [Row]) -> Report<'a> {
    let round = |x| rounded(x, 4);
    let row = |r: &'a Row| {
        let a_b = ratios(rows, r, "kernel");
        let a_c = ratios(rows, r, "ceiling");
        let results = args
            .sizes
            .iter()
            .enumerate()
            .map(|(i, &frame_size)| {
                let rate = r.rates.get(i).copied().flatten();
                SizeJson {
                    frame_size,
                    pps: round(rate.map(|x| x.pps)),
                    offered_pps: round(rate.map(|x| x.offered)),
                    a_over_b: round(a_b.get(i).copied().flatten()),
                    a_over_c: round(a_c.get(i).copied().flatten()),
                }
            })
            .collect();
        RowJson {
            kind: r.kind,
            label: &r.label,
            flows: r.flows,
            ns_per_packet: round(r.ns_per_pkt),
            ns_cold: round(r.ns_cold),
            note: r.note.as_deref(),
            results,
        }
    };
    Report {
        machine: header,
        seconds: args.seconds,
        frame_sizes: &args.sizes,
        rows: rows.iter().map(row).collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_use_the_matching_flow_count() {
        let rate = |pps| Some(Rate { pps, offered: pps });
        let row = |kind, flows, pps| Row {
            kind,
            label: String::new(),
            flows,
            rates: vec![rate(pps)],
            ns_per_pkt: None,
            ns_cold: None,
            note: None,
        };
        let rows = vec![
            row("ceiling", 1, 4.0),
            row("kernel", 1, 1.0),
            row("kernel", 10, 0.5),
            row("bras-up", 10, 2.0),
        ];
        assert_eq!(ratios(&rows, &rows[3], "kernel"), vec![Some(4.0)]);
        assert_eq!(ratios(&rows, &rows[3], "ceiling"), vec![Some(0.5)]);
        assert_eq!(ratios(&rows, &rows[1], "ceiling"), vec![None]);
    }

    #[test]
    fn json_keeps_its_keys_and_shape() {
        let rate = |pps| Some(Rate { pps, offered: pps });
        let row = |kind, flows, pps, note: Option<&str>| Row {
            kind,
            label: format!("{kind} {flows}"),
            flows,
            rates: vec![rate(pps)],
            ns_per_pkt: Some(97.123_456),
            ns_cold: None,
            note: note.map(str::to_owned),
        };
        let rows = vec![
            row("ceiling", 1, 3.0, None),
            row("kernel", 1, 1.0, None),
            row("bras-up", 1, 2.0, Some("a \"quoted\"\nnote")),
        ];
        let args = DataplaneArgs::parse_from_for_test();
        let text = serde_json::to_string(&report("m", &args, &rows)).unwrap();
        let j: serde_json::Value = serde_json::from_str(&text).unwrap();
        // serde_json's maps are sorted, so compare sorted key lists.
        let keys = |v: &serde_json::Value| -> Vec<String> {
            v.as_object().unwrap().keys().cloned().collect()
        };
        fn sorted(mut v: Vec<&str>) -> Vec<&str> {
            v.sort();
            v
        }
        assert_eq!(
            keys(&j),
            sorted(vec!["machine", "seconds", "frame_sizes", "rows"])
        );
        assert_eq!(j["frame_sizes"], serde_json::json!([64]));
        let r = &j["rows"][2];
        assert_eq!(
            keys(r),
            sorted(vec![
                "kind",
                "label",
                "flows",
                "ns_per_packet",
                "ns_cold",
                "note",
                "results"
            ])
        );
        assert_eq!(r["kind"], "bras-up");
        assert_eq!(r["note"], "a \"quoted\"\nnote");
        assert_eq!(r["ns_per_packet"], 97.1235);
        assert!(r["ns_cold"].is_null());
        let res = &r["results"][0];
        assert_eq!(
            keys(res),
            sorted(vec![
                "frame_size",
                "pps",
                "offered_pps",
                "a_over_b",
                "a_over_c"
            ])
        );
        assert_eq!(res["frame_size"], 64);
        assert_eq!(res["a_over_b"], 2.0);
        assert_eq!(res["a_over_c"], 0.6667);
        assert!(j["rows"][0]["results"][0]["a_over_b"].is_null());
    }

    impl DataplaneArgs {
        fn parse_from_for_test() -> Self {
            DataplaneArgs {
                seconds: 1,
                sizes: vec![64],
                sessions: vec![1],
                runs: 1,
                bras_bin: None,
                no_build: true,
                baselines_only: true,
                threaded_napi: false,
                json: None,
            }
        }
    }
}
