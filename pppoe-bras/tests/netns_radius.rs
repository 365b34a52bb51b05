//! Accounting records and RADIUS against the real daemon (and the real
//! FreeRADIUS, started in the lab's `inet` namespace on 198.51.100.2).
mod common;

use std::{process::Command, time::Duration};

use common::*;

fn cli(lab: &Lab, args: &[&str]) -> String {
    let out = Command::new(bin())
        .args(args)
        .arg("--control-socket")
        .arg(lab.control_socket())
        .output()
        .expect("run the CLI");
    assert!(out.status.success(), "{args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The JSON lines of the accounting log.
fn records(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect()
}

#[test]
fn accounting_log_start_and_stop_with_the_session_counters() {
    if !root_or_skip("accounting_log") {
        return;
    }
    let lab = new_lab();
    let log = scratch(&lab, "acct.jsonl");
    let conf = lab
        .write_file(
            "aaa.toml",
            &format!("accounting_log = \"{}\"\n", log.display()),
        )
        .unwrap();
    let mut opts = classic(&lab, "");
    opts.extra = vec!["-c".into(), conf.display().to_string()];
    let bras = start_bras(&lab, &opts);
    let mut o = EmuOptions::user("testuser1");
    o.tun = Some("ppp0".to_owned());
    let (_emu, up) = bring_up(&lab, &o);
    assert!(
        eventually(Duration::from_secs(5), || records(&log).len() == 1),
        "one start record: {:?}",
        records(&log)
    );
    let start = &records(&log)[0];
    assert_eq!(start["status"], "start", "{start}");
    assert_eq!(start["user"], "testuser1");
    assert_eq!(start["session_id"], format!("{:#06x}", up.session));
    assert_eq!(start["framed_address"], up.address.to_string());
    assert_eq!(start["nat"]["address"], "198.51.100.1", "{start}");
    assert_eq!(start["input_octets"], 0);
    let mac = mac_in_log(&session_up_log(&bras, up.session));
    assert_eq!(start["client_mac"], mac);
    let id = start["acct_session_id"].as_str().unwrap().to_owned();
    assert!(id.len() > 12, "{id}");

    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "3", "-W", "2", "192.0.2.1"])
        .unwrap();
    assert!(String::from_utf8_lossy(&ping.stdout).contains("3 received"));
    let rows: serde_json::Value =
        serde_json::from_str(&cli(&lab, &["sessions", "--json"])).unwrap();
    let c = rows[0]["counters"].clone();
    assert!(c["up_packets"].as_u64().unwrap() >= 3, "{c}");
    cli(&lab, &["kill", "testuser1"]);
    assert!(
        eventually(Duration::from_secs(10), || records(&log).len() == 2),
        "a stop record: {:?}\n{}",
        records(&log),
        bras.tail(10)
    );
    let stop = &records(&log)[1];
    assert_eq!(stop["status"], "stop", "{stop}");
    assert_eq!(stop["acct_session_id"], id.as_str());
    assert_eq!(stop["terminate_cause"], "admin-reset");
    assert_eq!(stop["input_octets"], c["up_bytes"], "{stop} vs {c}");
    assert_eq!(stop["input_packets"], c["up_packets"]);
    assert_eq!(stop["output_octets"], c["down_bytes"]);
    assert_eq!(stop["output_packets"], c["down_packets"]);
    assert_eq!(stop["framed_address"], up.address.to_string());
}
