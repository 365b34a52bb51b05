//! Operating a live daemon from the CLI: `sessions` with filters and
//! `--json`, `show` by id/user/ip/mac, `kill` by user, and a control socket
//! only root can use.
mod common;

use std::{os::unix::fs::PermissionsExt as _, process::Command, time::Duration};

use common::*;

fn cli(lab: &Lab, args: &[&str]) -> (bool, String) {
    let out = Command::new(bin())
        .args(args)
        .arg("--control-socket")
        .arg(lab.control_socket())
        .output()
        .expect("run the CLI");
    (
        out.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        ),
    )
}

#[test]
fn sessions_show_and_kill_against_the_live_daemon() {
    if !root_or_skip("cli_ops") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, lab::POOL_USER_SECRET));
    let mut o = EmuOptions::user("testuser1");
    o.tun = Some("ppp0".to_owned());
    let (_emu1, up1) = bring_up(&lab, &o);
    let (_emu3, up3) = bring_up(&lab, &EmuOptions::user("testuser3"));
    let mode = std::fs::metadata(lab.control_socket())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600, "control socket is root-only");
    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "2", "-W", "2", "192.0.2.1"])
        .unwrap();
    assert!(String::from_utf8_lossy(&ping.stdout).contains("2 received"));

    // Every session, as JSON, matches what the emulators were told.
    let (ok, text) = cli(&lab, &["sessions", "--json"]);
    assert!(ok, "{text}");
    let rows: serde_json::Value = serde_json::from_str(&text).expect("JSON");
    let rows = rows.as_array().unwrap();
    assert_eq!(rows.len(), 2, "{text}");
    let one = rows
        .iter()
        .find(|r| r["user"] == "testuser1")
        .expect("testuser1");
    assert_eq!(one["address"], up1.address.to_string());
    assert_eq!(one["state"], "up");
    assert_eq!(one["session_id"], format!("{:#06x}", up1.session));
    assert!(
        one["counters"]["up_packets"].as_u64().unwrap() >= 2,
        "{one}"
    );

    // Filters.
    let (ok, text) = cli(&lab, &["sessions", "--user", "testuser3"]);
    assert!(ok);
    assert_eq!(text.lines().count(), 1, "{text}");
    assert!(text.contains(&format!("address={}", up3.address)), "{text}");
    let (_, text) = cli(&lab, &["sessions", "--ip", &up1.address.to_string()]);
    assert!(
        text.contains("user=testuser1") && text.lines().count() == 1,
        "{text}"
    );
    let (_, text) = cli(&lab, &["sessions", "--state", "auth"]);
    assert!(text.is_empty(), "{text}");
    let (_, text) = cli(&lab, &["sessions", "--vlan", "7"]);
    assert!(text.is_empty(), "{text}");
    let (ok, text) = cli(&lab, &["sessions", "--state", "happy"]);
    assert!(!ok && text.contains("one of lcp, auth"), "{text}");

    // show by user, id, ip and MAC name the same session.
    let (ok, by_user) = cli(&lab, &["show", "testuser1"]);
    assert!(ok, "{by_user}");
    for field in [
        "state       up",
        "auth        chap",
        "ipcp        local 172.16.0.254",
        "nat         198.51.100.1:",
        "auth ok user=testuser1",
        "ipcp up address=",
    ] {
        assert!(by_user.contains(field), "missing {field:?} in\n{by_user}");
    }
    let up_line = session_up_log(&bras, up1.session);
    let mac = mac_in_log(&up_line);
    let head = |t: &str| t.lines().take(3).map(str::to_owned).collect::<Vec<_>>();
    for sel in [format!("{:#06x}", up1.session), up1.address.to_string()] {
        let (_, t) = cli(&lab, &["show", &sel]);
        assert_eq!(head(&t), head(&by_user), "show {sel}:\n{t}");
    }
    // Both emulators use the cpe interface's MAC: show by MAC lists both.
    let (_, t) = cli(&lab, &["show", &mac]);
    assert_eq!(
        t.lines().filter(|l| l.starts_with("session ")).count(),
        2,
        "{t}"
    );
    assert!(
        t.contains(&by_user.lines().next().unwrap().to_owned()),
        "{t}"
    );
    let (_, j) = cli(&lab, &["show", "testuser1", "--json"]);
    let j: serde_json::Value = serde_json::from_str(&j).unwrap();
    assert_eq!(j[0]["peer_mru"], 1492);
    assert!(j[0]["peer_magic"].is_string(), "{j}");
    let (ok, t) = cli(&lab, &["show", "nobody"]);
    assert!(!ok && t.contains("no session user=nobody"), "{t}");

    // kill by user ends exactly that user's session.
    let (ok, t) = cli(&lab, &["kill", "testuser3"]);
    assert!(ok, "{t}");
    assert!(eventually(Duration::from_secs(5), || {
        let (_, t) = cli(&lab, &["sessions"]);
        t.lines().count() == 1 && t.contains("user=testuser1")
    }));
}
