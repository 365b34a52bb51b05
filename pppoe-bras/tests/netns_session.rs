//! Sessions end to end in the netns lab: the daemon (`pppoe-bras run
//! --netns`) against the emulator (`pppoe-bras emulate --netns`).
//!
//! What these tests assume of the CLI (see the README and `lab/launch.rs`):
//! - daemon log lines `ready access=<if> ...`, `session 0x0001 <mac> up
//!   user=<u> address=<ip> mtu=<n>`, `session 0x0001 <mac> down
//!   reason=<reason> ...`, `auth failed user=<u>`;
//! - emulator stdout lines `UP session=0x0001 address=... peer=... dns=a,b
//!   mru=N`, `AUTHFAIL ...`, `DOWN session=0x0001 reason=...`; exit 1 when no
//!   session comes up within `--timeout`; exit 0 after SIGTERM (with PADT);
//! - the session map pinned as `<pin-dir>/SESSIONS`, empty when no session is up.
mod common;

use std::{net::Ipv4Addr, time::Duration};

use common::*;
use pppoe_bras::lab::{self, EmuOptions, DNS, LOCAL_IP, POOL_RANGE};

fn emu(user: &str, auth: &str) -> EmuOptions {
    let mut o = EmuOptions::user(user);
    o.auth = Some(auth.to_owned());
    o
}

/// Log in as `user` with `auth`; check the emulator's UP line, the daemon's
/// `up` line and the session map; return the address.
fn login_ok(user: &str, auth: &str, extra_secrets: &str) -> Ipv4Addr {
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, extra_secrets));
    let (_emu, up) = bring_up(&lab, &emu(user, auth));
    assert_eq!(up.peer, Some(LOCAL_IP), "{up:?}");
    assert_eq!(up.dns, DNS.to_vec(), "{up:?}");
    let mru = up.mru.expect("MRU in UP line");
    assert!(
        mru <= 1492,
        "PPPoE MRU must fit a 1500-byte Ethernet MTU: {up:?}"
    );
    let line = session_up_log(&bras, up.session);
    assert!(line.contains(&format!("user={user}")), "{line}");
    assert!(line.contains(&format!("address={}", up.address)), "{line}");
    assert!(line.contains("mtu="), "{line}");
    let mac = mac_in_log(&line);
    let cpe_mac = lab.mac_of(lab.ns_cpe(), lab.cpe_if()).expect("cpe MAC");
    assert_eq!(mac, cpe_mac, "one emulated session uses the NIC's MAC");
    assert_eq!(
        map_rows(lab.pin_dir(), SESSIONS_MAP).expect("session map"),
        1
    );
    up.address
}

#[test]
fn chap_login_gets_the_static_address_from_secrets() {
    if !root_or_skip("chap_login") {
        return;
    }
    assert_eq!(
        login_ok("testuser1", "chap", ""),
        Ipv4Addr::new(172, 16, 0, 101)
    );
}

#[test]
fn pap_login_gets_the_static_address_from_secrets() {
    if !root_or_skip("pap_login") {
        return;
    }
    assert_eq!(
        login_ok("testuser2", "pap", ""),
        Ipv4Addr::new(172, 16, 0, 102)
    );
}

#[test]
fn user_without_static_address_gets_one_from_the_pool() {
    if !root_or_skip("pool_address") {
        return;
    }
    let a = login_ok("testuser3", "chap", lab::POOL_USER_SECRET);
    assert!(
        (POOL_RANGE.0..=POOL_RANGE.1).contains(&a),
        "{a} not in {}",
        lab::POOL
    );
}

/// The emulator reports AUTHFAIL and exits non-zero without UP; the daemon
/// logs the failure and installs nothing.
fn login_fails(user: &str, password: &str, auth: &str) {
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    let mut o = emu(user, auth);
    o.password = password.to_owned();
    o.timeout_secs = Some(10);
    let mut emu = start_emu(&lab, &o);
    let fail = emu
        .wait_stdout(|l| l.starts_with("AUTHFAIL"), Duration::from_secs(15))
        .expect("wait");
    assert!(
        fail.is_some(),
        "no AUTHFAIL line; emulator:\n{}",
        emu.tail(20)
    );
    let status = emu
        .wait_timeout(Duration::from_secs(20))
        .expect("wait")
        .expect("emulator exits after a failed login");
    assert!(!status.success(), "emulator exit status {status}");
    assert!(
        !emu.stdout_lines().iter().any(|l| l.starts_with("UP ")),
        "{:?}",
        emu.stdout_lines()
    );
    let want = format!("auth failed user={user}");
    assert!(
        bras.wait_stderr(|l| l.contains(&want), Duration::from_secs(5))
            .expect("wait")
            .is_some(),
        "no `{want}` log line:\n{}",
        bras.tail(30)
    );
    assert_eq!(
        map_rows(lab.pin_dir(), SESSIONS_MAP).expect("session map"),
        0
    );
}

#[test]
fn wrong_password_is_refused_and_leaves_no_session() {
    if !root_or_skip("wrong_password") {
        return;
    }
    login_fails("testuser1", "wrong", "chap");
}

#[test]
fn wrong_pap_password_is_refused_and_leaves_no_session() {
    if !root_or_skip("wrong_pap_password") {
        return;
    }
    login_fails("testuser1", "wrong", "pap");
}

#[test]
fn user_missing_from_secrets_cannot_log_in() {
    if !root_or_skip("unknown_user") {
        return;
    }
    login_fails("nosuchuser", "password", "chap");
}

#[test]
fn lcp_echo_failure_tears_the_session_down() {
    if !root_or_skip("echo_failure") {
        return;
    }
    let lab = new_lab();
    let mut opts = classic(&lab, "");
    opts.lcp_echo_interval = 1;
    opts.lcp_echo_failure = 2;
    let bras = start_bras(&lab, &opts);
    let (mut emu, up) = bring_up(&lab, &emu("testuser1", "chap"));
    assert_eq!(map_rows(lab.pin_dir(), SESSIONS_MAP).expect("map"), 1);

    // A frozen subscriber answers no Echo-Request (RFC 1661 §5.8).
    emu.signal(libc::SIGSTOP).expect("SIGSTOP");
    let sid = format!("session {:#06x} ", up.session);
    let down = bras
        .wait_stderr(
            |l| l.contains(&sid) && l.contains(" down ") && l.contains("reason=echo-timeout"),
            Duration::from_secs(8),
        )
        .expect("wait");
    emu.signal(libc::SIGCONT).expect("SIGCONT");
    assert!(
        down.is_some(),
        "no `{sid}... down reason=echo-timeout` within 8 s:\n{}",
        bras.tail(30)
    );
    assert!(
        eventually(Duration::from_secs(2), || map_rows(
            lab.pin_dir(),
            SESSIONS_MAP
        )
        .is_ok_and(|n| n == 0)),
        "session row left in {SESSIONS_MAP}"
    );
    emu.stop(Duration::from_secs(5)).expect("stop emulator");
}

#[test]
fn daemon_stop_sends_padt_and_removes_pins_xdp_and_namespaces() {
    if !root_or_skip("daemon_stop") {
        return;
    }
    let lab = new_lab();
    let id = lab.id().to_owned();
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "cpe.pcap"))
        .expect("tcpdump");
    let mut bras = start_bras(&lab, &classic(&lab, ""));
    let (mut emu, up) = bring_up(&lab, &emu("testuser1", "chap"));

    let attached = lab.xdp_attached().expect("ip -d link");
    assert!(
        attached.iter().any(|i| i == lab.access_if())
            && attached.iter().any(|i| i == lab.uplink_if()),
        "XDP on access and uplink while running, got {attached:?}"
    );
    assert!(lab.pin_dir().is_dir());

    bras.signal(libc::SIGTERM).expect("SIGTERM");
    let status = bras
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("daemon exits within 10 s of SIGTERM");
    assert!(status.success(), "daemon exit status {status}");
    let down = emu
        .wait_stdout(|l| l.starts_with("DOWN "), Duration::from_secs(5))
        .expect("wait")
        .unwrap_or_else(|| panic!("emulator saw no PADT:\n{}", emu.tail(20)));
    assert!(
        down.contains(&format!("session={:#06x}", up.session)),
        "{down}"
    );
    assert!(
        !lab.pin_dir().exists(),
        "pins left in {}",
        lab.pin_dir().display()
    );
    assert_eq!(
        lab.xdp_attached().expect("ip -d link"),
        Vec::<String>::new()
    );
    emu.stop(Duration::from_secs(5)).expect("stop emulator");

    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    let padt = d
        .frames
        .iter()
        .find(|f| f.kind == "PADT")
        .unwrap_or_else(|| panic!("no PADT captured: {:#?}", d.summaries()));
    assert_eq!(padt.session, up.session);

    drop(emu);
    drop(lab);
    assert!(namespaces_of(&id).is_empty(), "{:?}", namespaces_of(&id));
}

#[test]
fn control_frames_dissect_cleanly_in_the_expected_order() {
    if !root_or_skip("control_frames") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "control.pcap"))
        .expect("tcpdump");
    let (mut emu, _up) = bring_up(&lab, &emu("testuser1", "chap"));
    // The subscriber hangs up: PADT from its side.
    let status = emu.stop(Duration::from_secs(5)).expect("stop emulator");
    assert!(
        status.success(),
        "emulator exit status after SIGTERM: {status}"
    );
    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    let seq = d.control_sequence();
    assert!(
        lab::contains_in_order(
            &seq,
            &["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP", "PADT"]
        ),
        "control sequence {seq:?}"
    );
    // RFC 2516 §5.3/§5.4: discovery carries session 0 until PADS.
    for f in d
        .frames
        .iter()
        .filter(|f| matches!(f.kind.as_str(), "PADI" | "PADO" | "PADR"))
    {
        assert_eq!(f.session, 0, "{f}");
    }
    let chap: Vec<&str> = d
        .frames
        .iter()
        .filter(|f| f.kind == "CHAP")
        .map(|f| f.detail.as_str())
        .collect();
    assert!(
        lab::contains_in_order(&chap, &["Challenge", "Response", "Success"]),
        "CHAP exchange {chap:?}"
    );
}

/// The classic bench's pppd options file, given as pppoe-server's `-O`:
/// its DNS servers and MRU reach the CPE, and what pppoe-bras does not
/// implement is named in a warning instead of stopping the daemon.
#[test]
fn pppd_options_file_of_the_classic_bench_is_read() {
    if !root_or_skip("pppd_options_file") {
        return;
    }
    let lab = new_lab();
    let options = lab
        .write_file(
            "options",
            "# /etc/ppp/options\nrequire-chap\nlcp-echo-interval 10\nlcp-echo-failure 2\n\
             ms-dns 192.0.2.98\nms-dns 192.0.2.99\nmru 1454\nproxyarp\n",
        )
        .expect("write options");
    let mut o = classic(&lab, "");
    o.dns.clear(); // flags would win over the file
    o.extra.push("-O".to_owned());
    o.extra.push(options.display().to_string());
    let bras = start_bras(&lab, &o);
    let (_emu, up) = bring_up(&lab, &emu("testuser1", "chap"));
    assert_eq!(
        up.dns,
        vec![Ipv4Addr::new(192, 0, 2, 98), Ipv4Addr::new(192, 0, 2, 99)]
    );
    assert_eq!(up.mru, Some(1454), "the BRAS's MRU from the options file");
    let warned = bras
        .wait_stderr(
            |l| l.contains("\"proxyarp\" ignored"),
            Duration::from_secs(2),
        )
        .expect("daemon log");
    assert!(warned.is_some(), "{}", bras.tail(20));
}
