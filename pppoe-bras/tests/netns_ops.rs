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

/// `GET /metrics` from inside the BRAS namespace.
fn scrape(lab: &Lab, port: u16) -> String {
    pppoe_bras::lab::in_netns(lab.ns_bras(), move || {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", port))?;
        s.write_all(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .expect("scrape")
}

/// The value of one series (`name{labels}` exactly) in exposition text.
fn series(text: &str, name: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l[name.len()..].trim().parse().ok())
}

fn stat_of(stats: &str, name: &str) -> Option<u64> {
    stats.lines().find_map(|l| {
        let (n, v) = l.split_once(' ')?;
        (n == name).then(|| v.trim().parse().ok()).flatten()
    })
}

/// Metrics scraped while 1,000 sessions come up, and after: the figures
/// match `sessions` and `stats`; 404 elsewhere; the scrape never stalls
/// session setup.
#[test]
fn metrics_match_sessions_and_stats_during_a_setup_storm() {
    if !root_or_skip("metrics") {
        return;
    }
    let lab = new_lab();
    let conf = lab
        .write_file(
            "metrics.toml",
            "metrics_listen = \"127.0.0.1:9469\"\nport_block_size = 32\n\
             pool = [\"100.64.0.1-100.64.3.254\"]\n",
        )
        .unwrap();
    let mut opts = classic(&lab, lab::POOL_USER_SECRET);
    opts.pool.clear();
    opts.extra
        .extend(["-c".to_owned(), conf.display().to_string()]);
    let bras = start_bras(&lab, &opts);
    assert!(bras
        .wait_stderr(
            |l| l.contains("metrics on http://127.0.0.1:9469/metrics"),
            Duration::from_secs(5)
        )
        .unwrap()
        .is_some());
    let mut o = EmuOptions::user("testuser3");
    o.sessions = Some(1000);
    o.extra = vec!["--rate".to_owned(), "500".to_owned()];
    o.timeout_secs = Some(90);
    let emu = start_emu(&lab, &o);
    // Scrape while the storm runs: every scrape answers, with a sane count.
    let mut during = 0;
    while emu
        .wait_stdout(|l| l.starts_with("ALLUP"), Duration::from_millis(50))
        .unwrap()
        .is_none()
    {
        let t = scrape(&lab, 9469);
        assert!(t.starts_with("HTTP/1.1 200 OK"), "{t}");
        let up = series(&t, "pppoe_bras_sessions{state=\"up\"}").expect("sessions up");
        assert!((0.0..=1000.0).contains(&up));
        during += 1;
        assert!(during < 1500, "no ALLUP:\n{}", emu.tail(10));
    }
    let t = scrape(&lab, 9469);
    let (_, stats) = cli(&lab, &["stats"]);
    let (_, listing) = cli(&lab, &["sessions", "--state", "up"]);
    assert_eq!(listing.lines().count(), 1000);
    assert!(during >= 2, "scraped during the storm: {during}");
    assert_eq!(
        series(&t, "pppoe_bras_sessions{state=\"up\"}"),
        Some(1000.0),
        "{t}"
    );
    assert_eq!(series(&t, "pppoe_bras_session_setups_total"), Some(1000.0));
    assert_eq!(
        series(&t, "pppoe_bras_sessions_by_auth{proto=\"chap\"}"),
        Some(1000.0)
    );
    assert_eq!(series(&t, "pppoe_bras_pool_addresses_in_use"), Some(1000.0));
    assert_eq!(series(&t, "pppoe_bras_pool_addresses"), Some(1022.0));
    assert_eq!(
        series(&t, "pppoe_bras_discovery_frames_total{event=\"pads_tx\"}").map(|v| v as u64),
        stat_of(&stats, "discovery.pads_tx"),
        "{stats}"
    );
    assert!(series(&t, "pppoe_bras_event_loop_lag_seconds").is_some());
    assert!(t.contains("pppoe_bras_nat_port_blocks_free{public_address=\"198.51.100.1\"}"));
    assert!(t.contains("# TYPE pppoe_bras_xdp_drops counter"));
    let nf = pppoe_bras::lab::in_netns(lab.ns_bras(), || {
        use std::io::{Read as _, Write as _};
        let mut s = std::net::TcpStream::connect(("127.0.0.1", 9469))?;
        s.write_all(b"GET / HTTP/1.1\r\n\r\n")?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    })
    .unwrap();
    assert!(nf.starts_with("HTTP/1.1 404"), "{nf}");
    drop(emu);
}

/// Reload (SIGHUP and `pppoe-bras reload`) adds a user and a pool range
/// while 100 sessions stay up; an invalid file is refused with file:line
/// and a key that cannot change live is named, the old configuration
/// staying in force both times. `check-config` says the same offline.
#[test]
fn reload_adds_a_user_and_a_pool_range_keeping_sessions() {
    if !root_or_skip("reload") {
        return;
    }
    let lab = new_lab();
    let base = "port_block_size = 64\npool = [\"100.64.0.1-100.64.0.100\"]\n";
    let conf = lab.write_file("bras.toml", base).unwrap();
    let mut opts = classic(&lab, lab::POOL_USER_SECRET);
    opts.pool.clear();
    opts.extra
        .extend(["-c".to_owned(), conf.display().to_string()]);
    let secrets = opts.secrets[0].clone();
    let bras = start_bras(&lab, &opts);
    let mut o = EmuOptions::user("testuser3");
    o.sessions = Some(100);
    o.extra = vec!["--rate".to_owned(), "400".to_owned()];
    o.timeout_secs = Some(120);
    let fleet = start_emu(&lab, &o);
    assert!(fleet
        .wait_stdout(|l| l.starts_with("ALLUP"), Duration::from_secs(30))
        .unwrap()
        .is_some());
    // The pool is full: a new user cannot get in yet (and is unknown).
    let mut extra = std::fs::read_to_string(&secrets).unwrap();
    extra.push_str("newuser * \"password\"\n");
    std::fs::write(&secrets, extra).unwrap();
    std::fs::write(
        &conf,
        format!("{base}pool = [\"100.64.0.1-100.64.0.100\", \"100.64.1.1-100.64.1.10\"]\n")
            .replacen("pool = [\"100.64.0.1-100.64.0.100\"]\n", "", 1),
    )
    .unwrap();

    // check-config offline agrees.
    let out = std::process::Command::new(bin())
        .args(["check-config", "-c"])
        .arg(&conf)
        .args(["-I", "eth1", "-U", "eth0", "--secrets"])
        .arg(&secrets)
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.contains("pool of 110 addresses"),
        "{text}"
    );

    let pid = bras.pid();
    // Safety: plain kill(2) of our child.
    unsafe { libc::kill(pid as i32, libc::SIGHUP) };
    let line = bras
        .wait_stderr(|l| l.contains("reloaded:"), Duration::from_secs(5))
        .unwrap()
        .unwrap_or_else(|| panic!("no reload line:\n{}", bras.tail(20)));
    assert!(line.contains("100 live sessions kept"), "{line}");
    let (_newbie_emu, newbie) = bring_up(&lab, &EmuOptions::user("newuser"));
    assert!(
        newbie.address.to_string().starts_with("100.64.1."),
        "{newbie:?}"
    );
    let (_, listing) = cli(&lab, &["sessions", "--state", "up"]);
    assert_eq!(
        listing.lines().count(),
        101,
        "{} lines:\n{listing}",
        listing.lines().count()
    );

    // An invalid file is refused with file:line, the old config stays.
    std::fs::write(&conf, format!("{base}lcp_echo_interval = \"soon\"\n")).unwrap();
    let (ok, t) = cli(&lab, &["reload"]);
    assert!(
        !ok && t.contains("reload refused") && t.contains("bras.toml:3"),
        "{t}"
    );
    // A key that cannot change live is named.
    std::fs::write(&conf, format!("{base}xdp_mode = \"generic\"\n")).unwrap();
    let (ok, t) = cli(&lab, &["reload"]);
    assert!(
        !ok && t.contains("xdp_mode cannot change while running"),
        "{t}"
    );
    let (_, listing) = cli(&lab, &["sessions", "--state", "up"]);
    assert_eq!(listing.lines().count(), 101, "nothing dropped: {listing}");
    drop(fleet);
}

/// `log_format = "json"`: every line the daemon logs once the config is
/// read is one JSON object, session events included.
#[test]
fn json_logs_are_one_object_per_line() {
    if !root_or_skip("json_logs") {
        return;
    }
    let lab = new_lab();
    let conf = lab
        .write_file("json.toml", "log_format = \"json\"\n")
        .unwrap();
    let mut opts = classic(&lab, "");
    opts.extra
        .extend(["-c".to_owned(), conf.display().to_string()]);
    let bras = start_bras(&lab, &opts);
    let (_emu, up) = bring_up(&lab, &EmuOptions::user("testuser1"));
    let _ = session_up_log(&bras, up.session);
    let lines = bras.stderr_lines();
    let start = lines
        .iter()
        .position(|l| l.contains("ready access="))
        .expect("ready line");
    let mut parsed = 0;
    for l in &lines[start..] {
        let v: serde_json::Value =
            serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}"));
        assert!(v["ts"].is_string() && v["level"].is_string(), "{l}");
        parsed += 1;
    }
    assert!(parsed >= 3, "{lines:?}");
    assert!(lines[start..]
        .iter()
        .any(|l| l.contains("up user=testuser1")));
}
