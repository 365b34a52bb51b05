//! Accounting records and RADIUS against the real daemon (and the real
//! FreeRADIUS, started in the lab's `inet` namespace on 198.51.100.2).
mod common;
mod freeradius;

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

const RADIUS_SECRET: &str = "testing123";

/// FreeRADIUS is needed: missing it fails under `cargo xtask test`.
fn freeradius_or_skip(test: &str) -> bool {
    if !root_or_skip(test) {
        return false;
    }
    if lab::have_tool("freeradius") {
        return true;
    }
    if std::env::var_os("PPPOE_BRAS_NETNS_TESTS").is_some() {
        panic!("{test}: needs FreeRADIUS: apt-get install freeradius freeradius-utils");
    }
    eprintln!("skipping {test}: needs freeradius");
    false
}

/// The users FreeRADIUS knows, with what it answers for each.
const USERS: &str = r#"raduser1 Cleartext-Password := "radpass"
	Framed-IP-Address = 172.16.0.150,
	Session-Timeout = 3600,
	Reply-Message = "Hello from RADIUS",
	MS-Primary-DNS-Server = 192.0.2.153,
	MS-Secondary-DNS-Server = 192.0.2.154,
	Class = "gold"

shortuser Cleartext-Password := "radpass"
	Framed-IP-Address = 255.255.255.254,
	Session-Timeout = 3

idleuser Cleartext-Password := "radpass"
	Framed-IP-Address = 255.255.255.254,
	Idle-Timeout = 3

subscriber Cleartext-Password := "password"

rad6user Cleartext-Password := "radpass"
	Framed-IPv6-Prefix = 2001:db8:100:77::/64,
	Delegated-IPv6-Prefix = 2001:db8:200:7700::/56,
	Framed-MTU = 1400

pooluser Cleartext-Password := "radpass"
	Framed-Pool = "gold"

nopooluser Cleartext-Password := "radpass"
	Framed-Pool = "platinum"

baduser Auth-Type := Reject
	Reply-Message = "Account disabled"
"#;

/// A FreeRADIUS 3 config directory: the BRAS (198.51.100.1) as client,
/// listening on 198.51.100.2 in the inet namespace (see `freeradius/`).
fn radius_dir(lab: &Lab) -> std::path::PathBuf {
    let dir = scratch(lab, "raddb");
    let radiusd = freeradius::Radiusd {
        client: "198.51.100.1",
        listen: "198.51.100.2",
        secret: RADIUS_SECRET,
        load: freeradius::Load::Tests,
    };
    radiusd.write_dir(&dir, USERS).unwrap();
    dir
}

/// How every FreeRADIUS test starts: `None` (skip) without root or
/// FreeRADIUS; else a lab, FreeRADIUS ready in its inet namespace with
/// [`radius_dir`], and the path for the daemon's accounting log. Bound in
/// this order, they drop in reverse: FreeRADIUS before its lab.
fn radius_lab(test: &str) -> Option<(Lab, std::path::PathBuf, LabProcess, std::path::PathBuf)> {
    if !freeradius_or_skip(test) {
        return None;
    }
    let lab = new_lab();
    let dir = radius_dir(&lab);
    let radiusd = start_radius(&lab, &dir);
    let log = scratch(&lab, "acct.jsonl");
    Some((lab, dir, radiusd, log))
}

fn start_radius(lab: &Lab, dir: &std::path::Path) -> LabProcess {
    let d = dir.display().to_string();
    let p = lab
        .spawn_in(lab.ns_inet(), "radiusd", &["freeradius", "-X", "-d", &d])
        .expect("start freeradius");
    let ready = p
        .wait_stdout(
            |l| l.contains("Ready to process requests"),
            Duration::from_secs(20),
        )
        .unwrap();
    assert!(ready.is_some(), "freeradius not ready:\n{}", p.tail(30));
    p
}

/// raduser1 up (PAP or CHAP, as offered) and its Start in the accounting
/// log: the emulator and the session's Acct-Session-Id.
fn raduser1_accounted(lab: &Lab, log: &std::path::Path) -> (LabProcess, String) {
    let mut o = EmuOptions::user("raduser1");
    o.password = "radpass".into();
    o.timeout_secs = Some(60);
    let (emu, _up) = bring_up(lab, &o);
    assert!(eventually(Duration::from_secs(5), || records(log).len() == 1));
    let id = records(log)[0]["acct_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    (emu, id)
}

/// The real FreeRADIUS as auth and acct server.
const ONE_SERVER: &str = r#"
[[radius_servers]]
address = "198.51.100.2"
secret = "testing123"
timeout = 1
retries = 2
[[radius_servers]]
address = "198.51.100.2"
kind = "acct"
secret = "testing123"
timeout = 1
"#;

/// The daemon with RADIUS auth and accounting (and the JSON log).
fn radius_bras(lab: &Lab, acct_log: &std::path::Path) -> LabProcess {
    radius_bras_with(lab, acct_log, "", ONE_SERVER, |_| {})
}

/// The daemon with the common AAA keys, `top` (top-level keys) and
/// `toml` (the server tables); `tweak` adjusts the options.
fn radius_bras_with(
    lab: &Lab,
    acct_log: &std::path::Path,
    top: &str,
    toml: &str,
    tweak: impl FnOnce(&mut BrasOptions),
) -> LabProcess {
    let conf = lab
        .write_file(
            "aaa.toml",
            &format!(
                r#"accounting_log = "{}"
{top}
auth_sources = ["radius"]
nas_identifier = "bras-test"
dae_listen = "198.51.100.1:3799"
[[dae_clients]]
address = "198.51.100.2"
secret = "{RADIUS_SECRET}"
{toml}"#,
                acct_log.display()
            ),
        )
        .unwrap();
    let mut opts = classic(lab, "");
    opts.extra = vec!["-c".into(), conf.display().to_string()];
    tweak(&mut opts);
    start_bras(lab, &opts)
}

/// Seconds since the epoch.
fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// radclient from the inet namespace to the DAE port: `kind` is
/// `disconnect` or `coa`; its output (-x: the answer's attributes).
fn radclient(lab: &Lab, kind: &str, attrs: &str) -> String {
    let cmd =
        format!("echo '{attrs}' | radclient -x -r 1 -t 2 198.51.100.1:3799 {kind} {RADIUS_SECRET}");
    let out = lab.exec(lab.ns_inet(), &["sh", "-c", &cmd]).unwrap();
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The value of a `pppoe-bras stats` line.
fn stat(lab: &Lab, name: &str) -> Option<u64> {
    cli(lab, &["stats"]).lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == name).then(|| v.trim().parse().ok())?
    })
}

/// The detail file's records: (status, attributes) in order.
fn detail(dir: &std::path::Path) -> Vec<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(dir.join("detail")).unwrap_or_default();
    let mut out = Vec::new();
    let mut cur: Option<std::collections::HashMap<String, String>> = None;
    for line in text.lines() {
        if line.trim().is_empty() {
            continue;
        }
        if !line.starts_with(char::is_whitespace) {
            out.extend(cur.take());
            cur = Some(Default::default());
        } else if let (Some(c), Some((k, v))) = (cur.as_mut(), line.trim().split_once(" = ")) {
            c.insert(k.to_owned(), v.trim_matches('"').to_owned());
        }
    }
    out.extend(cur);
    out
}

#[test]
fn radius_pap_chap_accept_and_accounting_against_freeradius() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_accept") else {
        return;
    };
    let bras = radius_bras(&lab, &log);
    // Accounting-On at start.
    assert!(
        eventually(Duration::from_secs(5), || detail(&dir)
            .iter()
            .any(
                |r| r.get("Acct-Status-Type").map(String::as_str) == Some("Accounting-On")
            )),
        "no Accounting-On in {:?}",
        detail(&dir)
    );

    // PAP: the RADIUS address and DNS, not the pool's.
    let mut o = EmuOptions::user("raduser1");
    o.password = "radpass".into();
    o.auth = Some("pap".into());
    o.tun = Some("ppp0".into());
    let (emu, up) = bring_up(&lab, &o);
    assert_eq!(up.address.to_string(), "172.16.0.150", "{up:?}");
    assert_eq!(
        up.dns.iter().map(|a| a.to_string()).collect::<Vec<_>>(),
        ["192.0.2.153", "192.0.2.154"]
    );
    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "3", "-W", "2", "192.0.2.1"])
        .unwrap();
    assert!(String::from_utf8_lossy(&ping.stdout).contains("3 received"));
    let rows: serde_json::Value =
        serde_json::from_str(&cli(&lab, &["sessions", "--json"])).unwrap();
    let c = rows[0]["counters"].clone();
    cli(&lab, &["kill", "raduser1"]);
    let stop = |d: &Vec<std::collections::HashMap<String, String>>| {
        d.iter()
            .find(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Stop"))
            .cloned()
    };
    assert!(
        eventually(Duration::from_secs(10), || stop(&detail(&dir)).is_some()),
        "no Stop in the detail file: {:?}\n{}",
        detail(&dir),
        bras.tail(20)
    );
    drop(emu);
    let d = detail(&dir);
    let start = d
        .iter()
        .find(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Start"))
        .expect("Start");
    let stop = stop(&d).unwrap();
    assert_eq!(start["Acct-Session-Id"], stop["Acct-Session-Id"]);
    assert_eq!(stop["User-Name"], "raduser1");
    assert_eq!(stop["Framed-IP-Address"], "172.16.0.150");
    assert_eq!(stop["Class"], "0x676f6c64", "Class echoed: {stop:?}");
    assert_eq!(stop["Acct-Terminate-Cause"], "Admin-Reset");
    assert_eq!(stop["NAS-Identifier"], "bras-test");
    assert_eq!(stop["NAS-Port-Type"], "Ethernet");
    assert_eq!(
        stop["Acct-Input-Octets"],
        c["up_bytes"].to_string(),
        "{stop:?} vs {c}"
    );
    assert_eq!(stop["Acct-Output-Octets"], c["down_bytes"].to_string());
    assert_eq!(stop["Acct-Input-Packets"], c["up_packets"].to_string());
    assert_eq!(stop["Acct-Input-Gigawords"], "0");
    // The JSON log has the same session.
    let recs = records(&log);
    assert_eq!(
        recs.last().unwrap()["acct_session_id"],
        stop["Acct-Session-Id"].as_str()
    );

    // CHAP-MD5 (CHAP-Password + CHAP-Challenge).
    let mut o = EmuOptions::user("raduser1");
    o.password = "radpass".into();
    o.auth = Some("chap".into());
    let (_emu, up) = bring_up(&lab, &o);
    assert_eq!(up.address.to_string(), "172.16.0.150");
    assert!(bras
        .stderr_lines()
        .iter()
        .any(|l| l.contains("auth ok user=raduser1 proto=Chap")));

    // RFC 5176 Disconnect-Request from radclient: unknown session → NAK
    // 503, this session → ACK and a stop with admin-reset.
    assert!(eventually(Duration::from_secs(5), || records(&log).len() == 3));
    let id = records(&log)[2]["acct_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let disconnect = |attrs: &str| {
        radclient(
            &lab,
            "disconnect",
            &format!("{attrs}, Event-Timestamp = {}", unix_now()),
        )
    };
    let nak = disconnect("Acct-Session-Id = \"no-such-session\"");
    assert!(nak.contains("Disconnect-NAK"), "{nak}");
    assert!(
        nak.contains("Error-Cause = Session-Context-Not-Found"),
        "{nak}"
    );
    let ack = disconnect(&format!("Acct-Session-Id = \"{id}\", User-Name = raduser1"));
    assert!(ack.contains("Disconnect-ACK"), "{ack}");
    assert!(
        eventually(Duration::from_secs(10), || records(&log).len() == 4),
        "{:?}",
        records(&log)
    );
    let stop = &records(&log)[3];
    assert_eq!(stop["acct_session_id"], id.as_str());
    assert_eq!(stop["terminate_cause"], "admin-reset");
}

#[test]
fn radius_reject_session_timeout_and_wrong_password() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_reject") else {
        return;
    };
    let bras = radius_bras(&lab, &log);

    // Access-Reject: its Reply-Message reaches the subscriber.
    let mut o = EmuOptions::user("baduser");
    o.auth = Some("pap".into());
    o.timeout_secs = Some(5);
    let emu = start_emu(&lab, &o);
    let fail = emu
        .wait_stdout(|l| l.contains("AUTHFAIL"), Duration::from_secs(10))
        .unwrap()
        .unwrap_or_else(|| panic!("no AUTHFAIL:\n{}", emu.tail(10)));
    assert!(fail.contains("Account disabled"), "{fail}");
    drop(emu);

    // A wrong password: rejected, the local secrets are not consulted.
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".into());
    o.timeout_secs = Some(5);
    let emu = start_emu(&lab, &o);
    assert!(emu
        .wait_stdout(|l| l.contains("AUTHFAIL"), Duration::from_secs(10))
        .unwrap()
        .is_some());
    drop(emu);

    // Session-Timeout = 3 s; 255.255.255.254 = from the pool.
    let mut o = EmuOptions::user("shortuser");
    o.password = "radpass".into();
    o.timeout_secs = Some(30);
    let (_emu, up) = bring_up(&lab, &o);
    assert_eq!(
        up.address.to_string(),
        "172.16.0.100",
        "pool address: {up:?}"
    );
    let down = bras
        .wait_stderr(
            |l| l.contains("down reason=session-timeout"),
            Duration::from_secs(10),
        )
        .unwrap();
    assert!(down.is_some(), "no session-timeout:\n{}", bras.tail(20));
    assert!(
        eventually(Duration::from_secs(5), || records(&log)
            .iter()
            .any(
                |r| r["terminate_cause"] == "session-timeout" && r["user"] == "shortuser"
            )),
        "{:?}",
        records(&log)
    );
    let stop = detail(&dir)
        .into_iter()
        .find(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Stop"));
    assert!(
        eventually(Duration::from_secs(5), || detail(&dir)
            .iter()
            .any(
                |r| r.get("Acct-Terminate-Cause").map(String::as_str) == Some("Session-Timeout")
            )),
        "{stop:?}"
    );
}

/// The `down reason=…` log line of `user`, waited for.
fn wait_down(bras: &LabProcess, user: &str, timeout: Duration) -> Option<String> {
    let u = format!("user={user} ");
    bras.wait_stderr(|l| l.contains(" down reason=") && l.contains(&u), timeout)
        .unwrap()
}

#[test]
fn coa_changes_session_timeout_naks_unsupported_and_ignores_replays() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_coa") else {
        return;
    };
    let bras = radius_bras(&lab, &log);
    let (_emu, id) = raduser1_accounted(&lab, &log);

    // An old Event-Timestamp (10 minutes ago): silently dropped, counted.
    let old = radclient(
        &lab,
        "coa",
        &format!(
            "Acct-Session-Id = \"{id}\", Session-Timeout = 2, Event-Timestamp = {}",
            unix_now() - 600
        ),
    );
    assert!(
        !old.contains("CoA-ACK") && !old.contains("CoA-NAK"),
        "{old}"
    );
    assert_eq!(
        stat(&lab, "radius.dae.dropped_old_event_timestamp"),
        Some(1)
    );
    // Without Event-Timestamp: dropped too.
    let none = radclient(&lab, "coa", &format!("Acct-Session-Id = \"{id}\""));
    assert!(!none.contains("CoA-ACK"), "{none}");
    assert_eq!(stat(&lab, "radius.dae.dropped_no_event_timestamp"), Some(1));

    // An attribute we cannot apply: NAK 401; Authorize-Only: NAK 405.
    let ts = unix_now();
    let nak = radclient(
        &lab,
        "coa",
        &format!("Acct-Session-Id = \"{id}\", Filter-Id = \"gold\", Event-Timestamp = {ts}"),
    );
    assert!(nak.contains("CoA-NAK"), "{nak}");
    assert!(nak.contains("Error-Cause = Unsupported-Attribute"), "{nak}");
    let nak = radclient(
        &lab,
        "coa",
        &format!(
            "Acct-Session-Id = \"{id}\", Service-Type = Authorize-Only, Event-Timestamp = {ts}"
        ),
    );
    assert!(nak.contains("Error-Cause = Unsupported-Service"), "{nak}");
    // Unknown session: NAK 503.
    let nak = radclient(
        &lab,
        "coa",
        &format!("Acct-Session-Id = \"nope\", Session-Timeout = 2, Event-Timestamp = {ts}"),
    );
    assert!(
        nak.contains("Error-Cause = Session-Context-Not-Found"),
        "{nak}"
    );
    assert!(
        wait_down(&bras, "raduser1", Duration::from_millis(100)).is_none(),
        "nothing above touched the session"
    );

    // Session-Timeout = 4 (it was 3600): ACK, and the session ends with
    // session-timeout 4 s later.
    let t0 = std::time::Instant::now();
    let ack = radclient(
        &lab,
        "coa",
        &format!(
            "Acct-Session-Id = \"{id}\", User-Name = raduser1, Session-Timeout = 4, \
             Event-Timestamp = {}",
            unix_now()
        ),
    );
    assert!(ack.contains("CoA-ACK"), "{ack}");
    let down = wait_down(&bras, "raduser1", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no down line:\n{}", bras.tail(20)));
    let after = t0.elapsed();
    assert!(down.contains("down reason=session-timeout"), "{down}");
    assert!(
        after >= Duration::from_millis(3500) && after < Duration::from_secs(7),
        "ended {after:?} after the CoA"
    );
    assert!(
        eventually(Duration::from_secs(5), || detail(&dir).iter().any(|r| {
            r.get("Acct-Session-Id").map(String::as_str) == Some(id.as_str())
                && r.get("Acct-Terminate-Cause").map(String::as_str) == Some("Session-Timeout")
        })),
        "{:?}",
        detail(&dir)
    );
    assert_eq!(stat(&lab, "radius.dae.coa_ack"), Some(1));
    assert_eq!(stat(&lab, "radius.dae.coa_nak"), Some(3));
}

/// RFC 3162 Framed-IPv6-Prefix and RFC 4818 Delegated-IPv6-Prefix from
/// FreeRADIUS: the CPE's RA /64 and DHCPv6-PD prefix are the ones in the
/// users file, and IPv6 is routed through them both ways; Framed-MTU lowers
/// the session's MTU.
#[test]
fn radius_ipv6_prefixes_reach_the_cpe_and_route() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_ipv6") else {
        return;
    };
    let bras = radius_bras(&lab, &log);
    let mut o = EmuOptions::user("rad6user");
    o.password = "radpass".into();
    o.tun = Some("ppp0".into());
    let (emu, _up) = bring_up(&lab, &o);
    let (addr6, pd) = up6(&emu);
    assert!(
        addr6.starts_with("2001:db8:100:77:") && addr6.ends_with("/64"),
        "{addr6}\n{}",
        bras.tail(20)
    );
    assert_eq!(pd, "2001:db8:200:7700::/56");
    // Routed: the SLAAC address answers from the inet side.
    let slaac = addr6.trim_end_matches("/64").to_owned();
    let (_, text) = ping6(&lab, lab.ns_inet(), &["-c", "2", "-W", "2", &slaac], 20);
    assert!(text.contains("2 received"), "inet → {slaac}:\n{text}");
    // Framed-MTU 1400: the session's MTU, and XDP answers a bigger packet
    // towards the CPE with Packet Too Big carrying it.
    let rows = cli(&lab, &["sessions"]);
    assert!(rows.contains(" mtu=1400 "), "{rows}");
    let big = lab
        .exec(
            lab.ns_inet(),
            &[
                "ping", "-6", "-c", "1", "-W", "2", "-M", "do", "-s", "1400", &slaac,
            ],
        )
        .unwrap();
    let out = String::from_utf8_lossy(&big.stdout);
    assert!(
        out.contains("mtu=1400"),
        "no Packet Too Big mtu=1400:\n{out}"
    );
    // Accounting carries both prefixes (RFC 6911 / RFC 4818).
    cli(&lab, &["kill", "rad6user"]);
    let stop = || {
        detail(&dir)
            .into_iter()
            .find(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Stop"))
    };
    assert!(
        eventually(Duration::from_secs(10), || stop().is_some()),
        "no Stop: {:?}",
        detail(&dir)
    );
    drop(emu);
    let stop = stop().unwrap();
    assert_eq!(
        stop.get("Framed-IPv6-Prefix").map(String::as_str),
        Some("2001:db8:100:77::/64"),
        "{stop:?}"
    );
    assert_eq!(
        stop.get("Delegated-IPv6-Prefix").map(String::as_str),
        Some("2001:db8:200:7700::/56"),
        "{stop:?}"
    );
}

/// Framed-Pool names a `[pools]` entry: the address comes from it and the
/// session routes (the named range is inside for XDP); a pool the config
/// does not have fails that authentication with the reason logged.
#[test]
fn radius_framed_pool_leases_from_the_named_pool() {
    let Some((lab, _dir, _radiusd, log)) = radius_lab("radius_pool") else {
        return;
    };
    let pools = format!("{ONE_SERVER}\n[pools]\ngold = [\"10.9.0.10-10.9.0.11\"]\n");
    let bras = radius_bras_with(&lab, &log, "", &pools, |_| {});
    let mut o = EmuOptions::user("pooluser");
    o.password = "radpass".into();
    o.tun = Some("ppp0".into());
    let (emu, up) = bring_up(&lab, &o);
    assert_eq!(
        up.address.to_string(),
        "10.9.0.10",
        "{up:?}\n{}",
        bras.tail(20)
    );
    let ping = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "2", "-W", "2", "192.0.2.1"])
        .unwrap();
    let text = String::from_utf8_lossy(&ping.stdout);
    assert!(text.contains("2 received"), "{text}");
    drop(emu);

    let mut o = EmuOptions::user("nopooluser");
    o.password = "radpass".into();
    o.timeout_secs = Some(5);
    let emu = start_emu(&lab, &o);
    let fail = emu
        .wait_stdout(|l| l.contains("AUTHFAIL"), Duration::from_secs(10))
        .unwrap()
        .unwrap_or_else(|| panic!("no AUTHFAIL:\n{}", emu.tail(10)));
    assert!(fail.contains("no address available"), "{fail}");
    assert!(
        eventually(Duration::from_secs(5), || {
            let t = bras.tail(50);
            t.contains("no pool named") && t.contains("platinum")
        }),
        "{}",
        bras.tail(20)
    );
}

#[test]
fn idle_timeout_from_access_accept_ends_a_quiet_session_not_a_busy_one() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_idle") else {
        return;
    };
    let bras = radius_bras(&lab, &log);
    let mut o = EmuOptions::user("idleuser");
    o.password = "radpass".into();
    o.tun = Some("ppp0".into());
    o.timeout_secs = Some(60);
    let (_emu, _up) = bring_up(&lab, &o);
    // 8 s of pings every 0.5 s: well past Idle-Timeout = 3, still up.
    let ping = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-c", "16", "-i", "0.5", "-W", "2", "192.0.2.1"],
        )
        .unwrap();
    assert!(
        String::from_utf8_lossy(&ping.stdout).contains("16 received"),
        "{ping:?}"
    );
    assert!(
        bras.stderr_lines()
            .iter()
            .all(|l| !l.contains("down reason=")),
        "ended while busy:\n{}",
        bras.tail(20)
    );
    // Quiet from here: ends with idle-timeout within 3 s (+ a check step).
    let t0 = std::time::Instant::now();
    let down = wait_down(&bras, "idleuser", Duration::from_secs(10))
        .unwrap_or_else(|| panic!("no idle timeout:\n{}", bras.tail(20)));
    assert!(down.contains("down reason=idle-timeout"), "{down}");
    assert!(t0.elapsed() < Duration::from_secs(6), "{:?}", t0.elapsed());
    assert!(
        eventually(Duration::from_secs(5), || records(&log)
            .iter()
            .any(|r| r["terminate_cause"] == "idle-timeout")),
        "{:?}",
        records(&log)
    );
    assert!(
        eventually(Duration::from_secs(5), || detail(&dir)
            .iter()
            .any(
                |r| r.get("Acct-Terminate-Cause").map(String::as_str) == Some("Idle-Timeout")
            )),
        "{:?}",
        detail(&dir)
    );
}

#[test]
fn failover_to_the_second_server_and_no_stop_lost() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_failover") else {
        return;
    };
    // Primaries: ports nothing listens on; secondaries: FreeRADIUS.
    let servers = r#"
[[radius_servers]]
address = "198.51.100.2"
port = 1912
secret = "testing123"
timeout = 1
retries = 1
[[radius_servers]]
address = "198.51.100.2"
secret = "testing123"
timeout = 1
[[radius_servers]]
address = "198.51.100.2"
port = 1913
kind = "acct"
secret = "testing123"
timeout = 1
retries = 1
[[radius_servers]]
address = "198.51.100.2"
kind = "acct"
secret = "testing123"
timeout = 1
"#;
    let bras = radius_bras_with(&lab, &log, "", servers, |_| {});
    let mut o = EmuOptions::user("raduser1");
    o.password = "radpass".into();
    o.timeout_secs = Some(60);
    let (emu, up) = bring_up(&lab, &o);
    assert_eq!(up.address.to_string(), "172.16.0.150");
    assert_eq!(stat(&lab, "radius.198.51.100.2:1912.dead"), Some(1));
    assert_eq!(stat(&lab, "radius.198.51.100.2:1912.marked_dead"), Some(1));
    assert_eq!(stat(&lab, "radius.198.51.100.2:1912.timeouts"), Some(1));
    assert_eq!(stat(&lab, "radius.198.51.100.2:1812.accepts"), Some(1));
    assert!(stat(&lab, "radius.auth.failovers").unwrap() >= 1);
    drop(emu);
    // A second login goes straight to the secondary (the primary is dead
    // for 30 s): no new request to the primary.
    let (_emu, _) = bring_up(&lab, &o);
    assert_eq!(stat(&lab, "radius.198.51.100.2:1912.requests"), Some(1));
    assert_eq!(stat(&lab, "radius.198.51.100.2:1812.accepts"), Some(2));
    // Accounting: Accounting-On, Starts and the first session's Stop all
    // reached FreeRADIUS through the secondary.
    let first_id = records(&log)[0]["acct_session_id"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        eventually(Duration::from_secs(15), || detail(&dir).iter().any(|r| {
            r.get("Acct-Session-Id").map(String::as_str) == Some(first_id.as_str())
                && r.get("Acct-Status-Type").map(String::as_str) == Some("Stop")
        })),
        "no Stop for {first_id}: {:?}\n{}",
        detail(&dir),
        bras.tail(20)
    );
    assert_eq!(stat(&lab, "radius.198.51.100.2:1913.dead"), Some(1));
    assert_eq!(stat(&lab, "radius.acct.stop_queue"), Some(0));
}

#[test]
fn stop_queued_while_freeradius_is_down_arrives_after_restart() {
    let Some((lab, dir, mut radiusd, log)) = radius_lab("radius_stop_queue") else {
        return;
    };
    let bras = radius_bras(&lab, &log);
    let (_emu, id) = raduser1_accounted(&lab, &log);
    assert!(eventually(Duration::from_secs(5), || detail(&dir)
        .iter()
        .any(
            |r| r.get("Acct-Status-Type").map(String::as_str) == Some("Start")
        )));
    radiusd.stop(Duration::from_secs(5)).unwrap();
    cli(&lab, &["kill", "raduser1"]);
    // Three tries (timeout 1 s, 2 retries), then the Stop waits in the queue.
    assert!(
        eventually(Duration::from_secs(10), || stat(
            &lab,
            "radius.acct.stop_queue"
        ) == Some(1)),
        "{}",
        bras.tail(20)
    );
    let stops = |d: &[std::collections::HashMap<String, String>]| {
        d.iter()
            .filter(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Stop"))
            .count()
    };
    assert_eq!(stops(&detail(&dir)), 0);
    let _radiusd = start_radius(&lab, &dir);
    // Retried every 5 s once the server's dead time (30 s) is over.
    assert!(
        eventually(Duration::from_secs(45), || stops(&detail(&dir)) == 1),
        "the queued Stop never arrived: {:?}\n{}",
        detail(&dir),
        bras.tail(20)
    );
    let stop = detail(&dir)
        .into_iter()
        .find(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Stop"))
        .unwrap();
    assert_eq!(stop["Acct-Session-Id"], id);
    assert_eq!(stop["Acct-Terminate-Cause"], "Admin-Reset");
    let delay: u64 = stop["Acct-Delay-Time"].parse().unwrap();
    assert!(delay >= 5, "Acct-Delay-Time counts the wait: {delay}");
    assert!(eventually(Duration::from_secs(5), || stat(
        &lab,
        "radius.acct.stop_queue"
    ) == Some(0)));
}

/// 1,000 sessions started at once through FreeRADIUS with at most 16
/// requests in flight: the rest wait in the client's queue.
#[test]
fn thousand_sessions_through_freeradius_within_the_outstanding_limit() {
    const N: usize = 1000;
    const LIMIT: u64 = 16;
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_scale") else {
        return;
    };
    let top = format!("port_block_size = 32\nradius_max_outstanding = {LIMIT}");
    let bras = radius_bras_with(&lab, &log, &top, ONE_SERVER, |o| {
        o.pool = vec!["100.64.0.0/22".to_owned()];
    });
    let mut eo = EmuOptions::user("subscriber");
    eo.sessions = Some(N as u32);
    eo.timeout_secs = Some(120);
    eo.extra = vec!["--rate".to_owned(), "0".to_owned()];
    let emu = start_emu(&lab, &eo);
    let ups = || {
        emu.stdout_lines()
            .iter()
            .filter(|l| UpLine::parse(l).is_some())
            .count()
    };
    assert!(
        eventually(Duration::from_secs(120), || ups() >= N),
        "{} of {N} up\n{}\n{}",
        ups(),
        emu.tail(10),
        bras.tail(20)
    );
    assert_eq!(stat(&lab, "sessions"), Some(N as u64));
    assert_eq!(
        stat(&lab, "radius.198.51.100.2:1812.accepts"),
        Some(N as u64)
    );
    let seen = stat(&lab, "radius.auth.max_outstanding_seen").unwrap();
    assert!((1..=LIMIT).contains(&seen), "auth max in flight {seen}");
    let seen = stat(&lab, "radius.acct.max_outstanding_seen").unwrap();
    assert!((1..=LIMIT).contains(&seen), "acct max in flight {seen}");
    assert_eq!(stat(&lab, "radius.auth.busy"), Some(0));
    // Every session's Start reached FreeRADIUS (a retransmission, new
    // identifier, may be recorded twice: counted by Acct-Session-Id).
    let starts = || {
        detail(&dir)
            .iter()
            .filter(|r| r.get("Acct-Status-Type").map(String::as_str) == Some("Start"))
            .filter_map(|r| r.get("Acct-Session-Id").cloned())
            .collect::<std::collections::HashSet<_>>()
            .len()
    };
    assert!(
        eventually(Duration::from_secs(30), || starts() == N),
        "starts in detail: {}",
        starts()
    );
    // The burst did not fit in 16: requests waited instead of failing.
    let queued = stat(&lab, "radius.auth.max_queued_seen").unwrap();
    assert!(queued > 0, "auth queue never used");
    eprintln!(
        "auth: max in flight {:?}, queue peak {queued}; acct: max in flight {:?}, queue peak {:?}",
        stat(&lab, "radius.auth.max_outstanding_seen"),
        stat(&lab, "radius.acct.max_outstanding_seen"),
        stat(&lab, "radius.acct.max_queued_seen")
    );
}

/// A daemon killed with `kill -9` and started again: the re-adopted
/// session's accounting goes on under its Acct-Session-Id (no second
/// Start), its Class is still echoed, and the Stop counts the packets of
/// both daemons' time.
#[test]
fn restart_keeps_the_sessions_accounting_and_class() {
    let Some((lab, dir, _radiusd, log)) = radius_lab("radius_restart") else {
        return;
    };
    let mut bras = radius_bras(&lab, &log);
    let mut o = EmuOptions::user("raduser1");
    o.password = "radpass".into();
    o.auth = Some("pap".into());
    o.tun = Some("ppp0".into());
    o.timeout_secs = Some(120);
    let (emu, up) = bring_up(&lab, &o);
    assert_eq!(up.address.to_string(), "172.16.0.150");
    let ping = |n: &str| {
        let out = lab
            .exec(lab.ns_cpe(), &["ping", "-c", n, "-W", "2", "192.0.2.1"])
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    assert!(ping("2").contains("2 received"));
    // The state file is written within 0.5 s of a change.
    std::thread::sleep(Duration::from_millis(800));
    bras.signal(libc::SIGKILL).unwrap();
    let _ = bras.stop(Duration::from_secs(5));
    let bras = radius_bras(&lab, &log);
    assert!(
        bras.wait_stderr(
            |l| l.contains("re-adopted 1 sessions"),
            Duration::from_secs(20)
        )
        .unwrap()
        .is_some(),
        "{}",
        bras.tail(20)
    );
    assert!(ping("3").contains("3 received"));
    cli(&lab, &["kill", "raduser1"]);
    let records = |status: &str| -> Vec<std::collections::HashMap<String, String>> {
        detail(&dir)
            .into_iter()
            .filter(|r| r.get("Acct-Status-Type").map(String::as_str) == Some(status))
            .collect()
    };
    assert!(
        eventually(Duration::from_secs(10), || !records("Stop").is_empty()),
        "no Stop after the restart: {:?}\n{}",
        detail(&dir),
        bras.tail(20)
    );
    drop(emu);
    let (starts, stops) = (records("Start"), records("Stop"));
    assert_eq!(starts.len(), 1, "one Start across the restart: {starts:?}");
    assert_eq!(stops.len(), 1, "{stops:?}");
    assert_eq!(starts[0]["Acct-Session-Id"], stops[0]["Acct-Session-Id"]);
    assert_eq!(
        stops[0]["Class"], "0x676f6c64",
        "Class kept: {:?}",
        stops[0]
    );
    let packets: u64 = stops[0]["Acct-Input-Packets"].parse().unwrap();
    assert!(packets >= 5, "both daemons' pings counted: {:?}", stops[0]);
}
