//! Interop profiles against the real daemon in the netns lab: `pppoe-bras
//! emulate --profile NAME` plays a CPE seen in the field; each test checks
//! the emulator's UP line, the daemon's log, and that tshark dissects every
//! captured control frame without a malformed or expert-error verdict.
//! Also VLAN and QinQ sessions end to end (control plane and data path).
//!
//! Emulator lines used besides `UP`: `PROTREJ session=.. protocol=0x80fd`,
//! `ECHOREPLY session=.. count=N`.
mod common;

use std::{net::Ipv4Addr, time::Duration};

use common::*;
use pppoe_bras::lab::{self, EmuOptions, DNS, LOCAL_IP};

/// testuser1 (static 172.16.0.101) playing `profile`.
fn profile_opts(profile: &str, extra: &[&str]) -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.extra = ["--profile", profile]
        .iter()
        .chain(extra)
        .map(|s| (*s).to_owned())
        .collect();
    o
}

/// Everything one profile run shows.
struct Run {
    up: UpLine,
    emu_lines: Vec<String>,
    bras_up_line: String,
    dissection: lab::Dissection,
    stats: String,
}

/// Daemon + capture on the access side + emulator with `profile`; the
/// emulator hangs up (PADT) once `until` matched one of its lines.
fn run_profile(lab: &lab::Lab, profile: &str, extra: &[&str], until: &dyn Fn(&str) -> bool) -> Run {
    let cap = lab
        .tcpdump(
            lab.ns_cpe(),
            lab.cpe_if(),
            &scratch(lab, &format!("{profile}.pcap")),
        )
        .expect("tcpdump");
    let (mut emu, up) = bring_up(lab, &profile_opts(profile, extra));
    let seen = emu
        .wait_stdout(until, Duration::from_secs(15))
        .expect("wait");
    assert!(
        seen.is_some(),
        "{profile}: expected line missing:\n{}",
        emu.tail(20)
    );
    let stats = lab
        .exec_ok(
            lab.ns_bras(),
            &[
                bin().to_str().expect("utf-8 path"),
                "stats",
                "--control-socket",
                &control_socket(lab),
            ],
        )
        .unwrap_or_default();
    let status = emu.stop(Duration::from_secs(5)).expect("stop emulator");
    assert!(status.success(), "{profile}: emulator exit {status}");
    let file = cap.stop().expect("stop tcpdump");
    let dissection = lab::tshark_check(&file).expect("tshark");
    Run {
        up,
        emu_lines: emu.stdout_lines(),
        bras_up_line: String::new(),
        dissection,
        stats,
    }
}

/// The daemon's control socket in this lab.
fn control_socket(lab: &lab::Lab) -> String {
    scratch(lab, "control.sock").display().to_string()
}

fn bras_opts(lab: &lab::Lab) -> lab::BrasOptions {
    let mut o = classic(lab, lab::POOL_USER_SECRET);
    o.extra = vec!["--control-socket".to_owned(), control_socket(lab)];
    o
}

/// One profile in its own lab: UP values, daemon log, clean dissection.
fn profile_test(profile: &str, extra: &[&str], mru: u16, until: &dyn Fn(&str) -> bool) -> Run {
    let lab = new_lab();
    let bras = start_bras(&lab, &bras_opts(&lab));
    let mut run = run_profile(&lab, profile, extra, until);
    let up = &run.up;
    assert_eq!(
        up.address,
        Ipv4Addr::new(172, 16, 0, 101),
        "{profile}: {up:?}"
    );
    assert_eq!(up.peer, Some(LOCAL_IP), "{profile}: {up:?}");
    assert_eq!(up.dns, DNS.to_vec(), "{profile}: {up:?}");
    let line = session_up_log(&bras, up.session);
    assert!(line.contains("user=testuser1"), "{line}");
    assert!(line.contains("address=172.16.0.101"), "{line}");
    assert!(line.contains(&format!("mtu={mru}")), "{profile}: {line}");
    run.bras_up_line = line;
    let d = &run.dissection;
    assert_eq!(d.malformed, 0, "{profile}: {:#?}", d.summaries());
    let seq = d.control_sequence();
    assert!(
        lab::contains_in_order(
            &seq,
            &["PADI", "PADO", "PADR", "PADS", "LCP", "IPCP", "PADT"]
        ),
        "{profile}: control sequence {seq:?}"
    );
    // One session: every PADS carries the same id, one `up` line.
    let ids: std::collections::BTreeSet<u16> = d
        .frames
        .iter()
        .filter(|f| f.kind == "PADS")
        .map(|f| f.session)
        .collect();
    assert_eq!(ids.len(), 1, "{profile}: PADS ids {ids:?}");
    let ups = bras
        .stderr_lines()
        .iter()
        .filter(|l| l.contains(" up user=") && !l.contains(" ipv6 up "))
        .count();
    assert_eq!(ups, 1, "{profile}: daemon log:\n{}", bras.tail(40));
    run
}

fn starts(prefix: &'static str) -> impl Fn(&str) -> bool {
    move |l: &str| l.starts_with(prefix)
}

#[test]
fn profile_edgerouter() {
    if !root_or_skip("profile_edgerouter") {
        return;
    }
    let run = profile_test("edgerouter", &[], 1492, &|l: &str| {
        l.starts_with("PROTREJ") && l.contains("protocol=0x80fd")
    });
    assert_eq!(run.up.mru, Some(1492));
    // VJ rejected in IPCP, CCP Protocol-Rejected in LCP (tshark's view).
    let d = &run.dissection;
    assert!(d
        .frames
        .iter()
        .any(|f| f.kind == "IPCP" && f.detail == "Configure-Reject"));
    assert!(d
        .frames
        .iter()
        .any(|f| f.kind == "LCP" && f.detail == "Protocol-Reject"));
    assert!(d
        .frames
        .iter()
        .any(|f| f.kind == "CHAP" && f.detail == "Success"));
}

#[test]
fn profile_yamaha_rtx() {
    if !root_or_skip("profile_yamaha_rtx") {
        return;
    }
    let run = profile_test("yamaha-rtx", &[], 1454, &starts("UP "));
    assert_eq!(run.up.mru, Some(1492), "the BRAS's own MRU");
    let d = &run.dissection;
    assert!(d
        .frames
        .iter()
        .any(|f| f.kind == "PAP" && f.detail == "Authenticate-Ack"));
    assert!(!d.frames.iter().any(|f| f.kind == "CHAP"));
}

#[test]
fn profile_cisco_ios() {
    if !root_or_skip("profile_cisco_ios") {
        return;
    }
    let run = profile_test(
        "cisco-ios",
        &["--lcp-echo-interval", "1"],
        1492,
        &|l: &str| l.starts_with("ECHOREPLY") && l.contains("count=3"),
    );
    let d = &run.dissection;
    let replies = d
        .frames
        .iter()
        .filter(|f| f.kind == "LCP" && f.detail == "Echo-Reply")
        .count();
    assert!(replies >= 3, "{:#?}", d.summaries());
}

#[test]
fn profile_mschapv2_first() {
    if !root_or_skip("profile_mschapv2_first") {
        return;
    }
    let run = profile_test("mschapv2-first", &[], 1492, &starts("UP "));
    let d = &run.dissection;
    let naks = d
        .frames
        .iter()
        .filter(|f| f.kind == "LCP" && f.detail == "Configure-Nak")
        .count();
    assert!(
        naks >= 2,
        "MS-CHAPv2, then CHAP-MD5 for PAP: {:#?}",
        d.summaries()
    );
    assert!(d
        .frames
        .iter()
        .any(|f| f.kind == "CHAP" && f.detail == "Success"));
}

#[test]
fn profile_ipv6cp() {
    if !root_or_skip("profile_ipv6cp") {
        return;
    }
    // The BRAS speaks IPv6CP now (dual stack is tested in netns_ipv6.rs;
    // with `ipv6 = false` IPv6CP is Protocol-Rejected, see the pair tests):
    // this CPE's own IPv6CP exchange dissects cleanly and IPv4 stays up.
    let run = profile_test("ipv6cp", &[], 1492, &starts("UP "));
    assert!(run.dissection.frames.iter().any(|f| f.kind == "IPV6CP"));
    // IPv4 stayed up until the hang-up: NETDOWN only right before DOWN.
    let lines = &run.emu_lines;
    let first_netdown = lines.iter().position(|l| l.starts_with("NETDOWN"));
    let down = lines.iter().position(|l| l.starts_with("DOWN "));
    assert!(
        first_netdown.is_none_or(|n| Some(n + 1) == down),
        "{lines:?}"
    );
}

#[test]
fn profile_max_payload() {
    if !root_or_skip("profile_max_payload") {
        return;
    }
    let run = profile_test("max-payload", &[], 1500, &starts("UP "));
    assert_eq!(run.up.mru, Some(1500));
}

#[test]
fn profile_aggressive_on_a_slow_line_gives_one_session() {
    if !root_or_skip("profile_aggressive") {
        return;
    }
    // Answers reach the client 600 ms late: PADR and ConfReqs go out ~3 times.
    let run = profile_test(
        "aggressive",
        &["--rx-delay-ms", "600"],
        1492,
        &starts("UP "),
    );
    let d = &run.dissection;
    let padr = d.frames.iter().filter(|f| f.kind == "PADR").count();
    assert!(padr >= 2, "PADR retransmitted: {:#?}", d.summaries());
    let lcp_req = d
        .frames
        .iter()
        .filter(|f| f.kind == "LCP" && f.detail == "Configure-Request")
        .count();
    assert!(lcp_req >= 4, "ConfReqs retransmitted: {:#?}", d.summaries());
    assert!(
        run.stats.contains("discovery.pads_retransmit "),
        "stats:\n{}",
        run.stats
    );
    assert!(run.stats.contains("sessions 1\n"), "stats:\n{}", run.stats);
}

/// All profiles one after the other against one daemon, one capture: tshark
/// finds nothing malformed in any control frame, and the counters show the
/// Protocol-Rejects' sources never cost a session.
#[test]
fn all_profiles_one_daemon_dissect_cleanly() {
    if !root_or_skip("all_profiles") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &bras_opts(&lab));
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "all.pcap"))
        .expect("tcpdump");
    for profile in [
        "edgerouter",
        "yamaha-rtx",
        "cisco-ios",
        "mschapv2-first",
        "ipv6cp",
        "max-payload",
        "aggressive",
    ] {
        let (mut emu, up) = bring_up(&lab, &profile_opts(profile, &["--lcp-echo-interval", "1"]));
        assert_eq!(up.address, Ipv4Addr::new(172, 16, 0, 101), "{profile}");
        std::thread::sleep(Duration::from_millis(1500));
        emu.stop(Duration::from_secs(5)).expect("stop emulator");
        let sid = format!("session {:#06x} ", up.session);
        assert!(
            bras.wait_stderr(
                |l| l.contains(&sid) && l.contains(" down "),
                Duration::from_secs(5)
            )
            .expect("wait")
            .is_some(),
            "{profile}: no down line:\n{}",
            bras.tail(20)
        );
    }
    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    // The BRAS's own control frames: every kind shows up.
    for kind in [
        "PADO", "PADS", "PADT", "LCP", "PAP", "CHAP", "IPCP", "IPV6CP",
    ] {
        assert!(
            d.frames.iter().any(|f| f.kind == kind),
            "no {kind}: {:#?}",
            d.summaries()
        );
    }
    let ups = bras
        .stderr_lines()
        .iter()
        .filter(|l| l.contains(" up user=") && !l.contains(" ipv6 up "))
        .count();
    assert_eq!(ups, 7, "one session per profile:\n{}", bras.tail(60));
}

// ---------------------------------------------------------------------------
// VLANs end to end.

fn ping_ok(lab: &lab::Lab) {
    let out = lab
        .exec(lab.ns_cpe(), &["ping", "-c", "3", "-W", "2", "192.0.2.1"])
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("3 received"),
        "ping through the session:\n{text}"
    );
}

#[test]
fn single_tagged_and_qinq_sessions_carry_traffic() {
    if !root_or_skip("vlan_sessions") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &bras_opts(&lab));
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "vlan.pcap"))
        .expect("tcpdump");

    // 802.1Q VID 100, with a TUN: ping through the XDP path.
    let mut o = EmuOptions::user("testuser1");
    o.tun = Some("ppp100".to_owned());
    o.extra = vec!["--vlan".to_owned(), "100".to_owned()];
    let (mut single, up1) = bring_up(&lab, &o);
    let line = session_up_log(&bras, up1.session);
    assert!(
        line.contains("vlan 100") || bras.tail(40).contains("vlan 100"),
        "{line}"
    );
    ping_ok(&lab);

    // Same MAC, QinQ 200.300 at the same time: a second, distinct session.
    let mut o = EmuOptions::user("testuser2");
    o.extra = vec!["--qinq".to_owned(), "200.300".to_owned()];
    let (mut qinq, up2) = bring_up(&lab, &o);
    assert_ne!(up1.session, up2.session);
    assert_eq!(map_rows(lab.pin_dir(), SESSIONS_MAP).expect("map"), 2);
    let sessions = lab
        .exec_ok(
            lab.ns_bras(),
            &[
                bin().to_str().expect("utf-8"),
                "sessions",
                "--control-socket",
                &control_socket(&lab),
            ],
        )
        .expect("sessions");
    assert!(sessions.contains("vlan 100 "), "{sessions}");
    assert!(sessions.contains("vlan 200.300 "), "{sessions}");
    single.stop(Duration::from_secs(5)).expect("stop");
    qinq.stop(Duration::from_secs(5)).expect("stop");

    // QinQ with a TUN: ping through the double-tagged path.
    let mut o = EmuOptions::user("testuser3");
    o.tun = Some("pppq".to_owned());
    o.extra = vec!["--qinq".to_owned(), "201.301".to_owned()];
    let (mut q2, _up3) = bring_up(&lab, &o);
    ping_ok(&lab);
    q2.stop(Duration::from_secs(5)).expect("stop");

    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    // Replies (PADO/PADS, session frames) carry the client's tags.
    let tagged = lab::tshark_fields(
        &file,
        "pppoe.code == 0x07 || pppoe.code == 0x65",
        &["ieee8021ad.id", "vlan.id"],
    )
    .expect("tshark");
    // Outer 802.1ad (tshark: ieee8021ad.id), inner or single 802.1Q (vlan.id).
    let ids: Vec<String> = tagged.iter().map(|r| r.join(".")).collect();
    for want in [".100", "200.300", "201.301"] {
        assert!(ids.iter().any(|i| i == want), "{want} in {ids:?}");
    }
}

#[test]
fn vlan_filter_ignores_unserved_tags() {
    if !root_or_skip("vlan_filter") {
        return;
    }
    let lab = new_lab();
    let cfg = lab
        .write_file(
            "vlans.toml",
            "vlans = [\"100-199\", \"200.10-20\"]\npadi_rate_per_mac = \"off\"\n",
        )
        .expect("config");
    let mut opts = bras_opts(&lab);
    opts.extra
        .extend(["-c".to_owned(), cfg.display().to_string()]);
    let _bras = start_bras(&lab, &opts);
    let mut o = EmuOptions::user("testuser1");
    o.extra = vec!["--vlan".to_owned(), "150".to_owned()];
    let (mut ok, _) = bring_up(&lab, &o);
    ok.stop(Duration::from_secs(5)).expect("stop");
    let mut o = EmuOptions::user("testuser1");
    o.timeout_secs = Some(4);
    o.extra = vec!["--vlan".to_owned(), "300".to_owned()];
    let mut refused = start_emu(&lab, &o);
    let status = refused
        .wait_timeout(Duration::from_secs(15))
        .expect("wait")
        .expect("emulator gives up");
    assert!(!status.success());
    assert!(!refused.stdout_lines().iter().any(|l| l.starts_with("PADS")));
    let stats = lab
        .exec_ok(
            lab.ns_bras(),
            &[
                bin().to_str().expect("utf-8"),
                "stats",
                "--control-socket",
                &control_socket(&lab),
            ],
        )
        .expect("stats");
    let drop_vlan = stats
        .lines()
        .find_map(|l| l.strip_prefix("discovery.drop_vlan "))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    assert!(drop_vlan >= 1, "stats:\n{stats}");
    assert!(stats.contains("session.drop_unknown_session "), "{stats}");
}

/// FLET'S "IPv6 PPPoE" on a YAMAHA RTX: PAP, IPv6 alone. The CPE
/// Protocol-Rejects IPCP; the session lives on IPv6CP, gets its /64 and a
/// delegated prefix (UP6), and its LAN (an address of the delegated
/// prefix) reaches the test host through XDP; tshark finds nothing
/// malformed in PAP, IPv6CP, ICMPv6 or DHCPv6.
#[test]
fn profile_yamaha_rtx_v6_ipv6_only() {
    if !root_or_skip("profile_yamaha_rtx_v6") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &bras_opts(&lab));
    let cap = lab
        .tcpdump(lab.ns_cpe(), lab.cpe_if(), &scratch(&lab, "rtx-v6.pcap"))
        .expect("tcpdump");
    let mut o = profile_opts("yamaha-rtx-v6", &[]);
    o.tun = Some("ppp0".to_owned());
    let mut emu = start_emu(&lab, &o);
    let (_addr6, pd) = up6(&emu);
    // The RTX numbers its LAN from the delegated prefix: ::1 of it (on
    // the TUN here: the lab's cpe namespace has IPv6 off elsewhere).
    let prefix: std::net::Ipv6Addr = pd.split('/').next().unwrap().parse().unwrap();
    let lan = std::net::Ipv6Addr::from(u128::from(prefix) | 1).to_string();
    lab.exec_ok(
        lab.ns_cpe(),
        &[
            "ip",
            "-6",
            "addr",
            "add",
            &format!("{lan}/128"),
            "dev",
            "ppp0",
            "nodad",
        ],
    )
    .expect("LAN address");
    let target = lab::TEST_HOST6.to_string();
    let (_, text) = ping6(
        &lab,
        lab.ns_cpe(),
        &["-c", "2", "-W", "2", "-I", &lan, &target],
        20,
    );
    assert!(
        text.contains("2 received"),
        "from the delegated prefix:\n{text}\n{}",
        bras.tail(20)
    );
    assert!(
        !emu.stdout_lines().iter().any(|l| l.starts_with("UP ")),
        "no IPv4: {:?}",
        emu.stdout_lines()
    );
    emu.stop(Duration::from_secs(5)).expect("stop emulator");
    let file = cap.stop().expect("stop tcpdump");
    let d = lab::tshark_check(&file).expect("tshark");
    assert_eq!(d.malformed, 0, "{:#?}", d.summaries());
    let has = |kind: &str, detail: &str| {
        d.frames
            .iter()
            .any(|f| f.kind == kind && f.detail.contains(detail))
    };
    assert!(has("PAP", "Authenticate-Ack"), "{:#?}", d.summaries());
    assert!(
        has("LCP", "Protocol-Reject"),
        "the CPE rejects IPCP: {:#?}",
        d.summaries()
    );
    assert!(has("IPV6CP", "Configure-Ack"), "{:#?}", d.summaries());
}
