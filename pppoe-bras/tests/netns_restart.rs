//! Hitless restart: the daemon is killed (`kill -9`) while 1,000 sessions
//! are up and one of them pings through the NAT; the XDP programs stay
//! attached through their pinned links, the pinned maps keep forwarding,
//! and a new daemon re-adopts every session from the state file. Nothing
//! is lost: no session, no ping. Twice in a row; then a plain SIGTERM still
//! leaves nothing behind. `--keep-sessions` does the same on purpose.
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
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn opts(lab: &Lab) -> BrasOptions {
    let conf = lab
        .write_file(
            "restart.toml",
            "port_block_size = 32\npool = [\"100.64.0.1-100.64.3.254\"]\n",
        )
        .unwrap();
    let mut o = classic(lab, lab::POOL_USER_SECRET);
    o.pool.clear();
    o.lcp_echo_interval = 1;
    o.lcp_echo_failure = 3;
    o.extra
        .extend(["-c".to_owned(), conf.display().to_string()]);
    o
}

/// `ping` from the cpe namespace in the background: (sent, received).
fn ping_result(out: &std::process::Output) -> (u32, u32) {
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.contains("packets transmitted"))
        .unwrap_or_else(|| panic!("no ping summary:\n{text}"));
    let n: Vec<u32> = line
        .split(|c: char| !c.is_ascii_digit())
        .filter_map(|w| w.parse().ok())
        .collect();
    (n[0], n[1])
}

fn wait_readopted(bras: &LabProcess, n: usize) {
    let line = bras
        .wait_stderr(|l| l.contains("re-adopted "), Duration::from_secs(20))
        .unwrap()
        .unwrap_or_else(|| panic!("no re-adoption:\n{}", bras.tail(30)));
    assert!(line.contains(&format!("re-adopted {n} sessions")), "{line}");
}

#[test]
fn kill_9_loses_no_session_and_no_packet() {
    if !root_or_skip("hitless_restart") {
        return;
    }
    let lab = new_lab();
    let o = opts(&lab);
    let mut bras = start_bras(&lab, &o);
    let mut one = EmuOptions::user("testuser1");
    one.tun = Some("ppp0".to_owned());
    one.timeout_secs = Some(300);
    let (_emu1, up1) = bring_up(&lab, &one);
    let mut fleet = EmuOptions::user("testuser3");
    fleet.sessions = Some(999);
    fleet.timeout_secs = Some(300);
    fleet.extra = vec!["--rate".to_owned(), "1000".to_owned()];
    let emu = start_emu(&lab, &fleet);
    assert!(emu
        .wait_stdout(|l| l.starts_with("ALLUP"), Duration::from_secs(60))
        .unwrap()
        .is_some());
    assert_eq!(
        cli(&lab, &["sessions", "--state", "up"]).lines().count(),
        1000
    );
    // Let the state file catch up (written within 0.5 s of a change).
    std::thread::sleep(Duration::from_millis(800));
    // testuser1's /64 and delegated prefix, which must survive the restarts.
    let v6_of = |lab: &Lab| -> String {
        let rows = cli(lab, &["sessions"]);
        let line = rows
            .lines()
            .find(|l| l.contains(&format!("address={} ", up1.address)))
            .unwrap_or_default()
            .to_owned();
        line.split_whitespace()
            .filter(|w| w.starts_with("ipv6=") || w.starts_with("pd="))
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert!(
        eventually(Duration::from_secs(10), || v6_of(&lab).contains("pd=")),
        "testuser1 has IPv6: {}",
        v6_of(&lab)
    );
    let before6 = v6_of(&lab);

    for round in 0..2 {
        // 400 pings over ~4 s; the daemon dies after ~1 s and a new one
        // starts ~0.5 s later.
        let ping = lab
            .command_in(
                lab.ns_cpe(),
                &["ping", "-i", "0.01", "-c", "400", "-W", "1", "192.0.2.1"],
            )
            .output();
        let pinger = std::thread::spawn(move || ping);
        std::thread::sleep(Duration::from_secs(1));
        bras.signal(libc::SIGKILL).unwrap();
        let _ = bras.wait_timeout(Duration::from_secs(5)).unwrap();
        assert!(
            !lab.xdp_attached().unwrap().is_empty(),
            "round {round}: XDP must stay attached after kill -9"
        );
        std::thread::sleep(Duration::from_millis(500));
        bras = start_bras(&lab, &o);
        wait_readopted(&bras, 1000);
        let out = pinger.join().unwrap().expect("ping ran");
        let (sent, got) = ping_result(&out);
        assert_eq!((sent, got), (400, 400), "round {round}: no ping lost");
        // Echoes resume: after several echo intervals no session went down.
        std::thread::sleep(Duration::from_secs(4));
        let up = cli(&lab, &["sessions", "--state", "up"]);
        assert_eq!(up.lines().count(), 1000, "round {round}: sessions kept");
        assert!(
            up.contains(&format!("address={} ", up1.address)),
            "same address kept"
        );
        assert!(
            !bras
                .stderr_lines()
                .iter()
                .any(|l| l.contains(" down reason=")),
            "round {round}: a session went down:\n{}",
            bras.tail(20)
        );
        let stats = cli(&lab, &["stats"]);
        assert!(stats.contains("sessions 1000"), "{stats}");
    }
    // IPv6 is not in the state file: the adopted sessions renegotiate
    // IPv6CP and get their prefixes again, so IPv6 works after the restart.
    let target = pppoe_bras::lab::TEST_HOST6.to_string();
    let (ok6, _) = ping6(&lab, lab.ns_cpe(), &["-c", "1", "-W", "1", &target], 40);
    assert!(
        ok6,
        "IPv6 through the re-adopted session:\n{}",
        bras.tail(20)
    );
    // The state file carries the prefixes: the same ones came back.
    assert!(
        eventually(Duration::from_secs(10), || v6_of(&lab) == before6),
        "prefixes kept through the restarts: {before6} then {}",
        v6_of(&lab)
    );
    // New sessions still come up next to the adopted ones (ids, addresses
    // and NAT blocks are not handed out twice).
    let (_emu2, up2) = bring_up(&lab, &EmuOptions::user("testuser2"));
    assert_eq!(up2.address.to_string(), "172.16.0.102");
    assert_eq!(
        cli(&lab, &["sessions", "--state", "up"]).lines().count(),
        1001
    );

    // A plain SIGTERM still hangs up and removes everything.
    bras.stop(Duration::from_secs(10)).unwrap();
    assert!(lab.xdp_attached().unwrap().is_empty(), "XDP detached");
    assert!(!lab.pin_dir().exists(), "pins removed");
    assert!(
        !pppoe_bras::state::default_path(lab.pin_dir()).exists(),
        "state file removed"
    );
}

/// `--keep-sessions`: SIGTERM leaves the data plane for the next daemon
/// (an upgrade), without PADT; a state file from another layout is
/// refused and the daemon starts clean.
#[test]
fn keep_sessions_on_sigterm_and_a_foreign_state_file_starts_clean() {
    if !root_or_skip("keep_sessions") {
        return;
    }
    let lab = new_lab();
    let mut o = opts(&lab);
    o.extra.push("--keep-sessions".to_owned());
    let mut bras = start_bras(&lab, &o);
    let mut one = EmuOptions::user("testuser1");
    one.tun = Some("ppp0".to_owned());
    one.timeout_secs = Some(120);
    let (emu, _) = bring_up(&lab, &one);
    bras.stop(Duration::from_secs(10)).unwrap();
    assert!(
        !emu.stdout_lines().iter().any(|l| l.starts_with("DOWN")),
        "no PADT to the subscriber"
    );
    assert!(!lab.xdp_attached().unwrap().is_empty());
    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "2", "-W", "2", "192.0.2.1"])
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ping.stdout).contains("2 received"),
        "forwarding with no daemon at all"
    );
    let bras2 = start_bras(&lab, &o);
    wait_readopted(&bras2, 1);
    drop(bras2);

    // A state file of another layout (an older build): refused, clean start.
    let path = pppoe_bras::state::default_path(lab.pin_dir());
    let mut v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let layout = v["layout"].as_u64().unwrap();
    v["layout"] = serde_json::json!(layout ^ 1);
    std::fs::write(&path, v.to_string()).unwrap();
    let bras3 = start_bras(&lab, &opts(&lab));
    assert!(bras3
        .wait_stderr(
            |l| l.contains("another data-plane layout"),
            Duration::from_secs(5)
        )
        .unwrap()
        .is_some());
    assert!(!bras3
        .stderr_lines()
        .iter()
        .any(|l| l.contains("re-adopted")));
    assert_eq!(cli(&lab, &["sessions"]).lines().count(), 0);
    let _ = bras;
}
