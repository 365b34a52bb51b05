//! Many sessions through the real daemon: one emulator with a few hundred
//! distinct MACs against one `pppoe-bras run`, NAT on with small port
//! blocks so every session gets its data path.

mod common;

use std::{collections::HashSet, net::Ipv4Addr, time::Duration};

use common::*;

const SESSIONS: usize = 300;

/// `pppoe-bras <cmd> --control-socket <sock>` in the bras namespace.
fn control(lab: &Lab, sock: &str, cmd: &str) -> String {
    let exe = bin().to_str().expect("utf-8 path");
    lab.exec_ok(lab.ns_bras(), &[exe, cmd, "--control-socket", sock])
        .unwrap_or_else(|e| panic!("pppoe-bras {cmd}: {e:#}"))
}

/// The `sessions N` line of `pppoe-bras stats`.
fn live_sessions(lab: &Lab, sock: &str) -> Option<usize> {
    control(lab, sock, "stats")
        .lines()
        .find_map(|l| l.strip_prefix("sessions ")?.trim().parse().ok())
}

fn up_lines(emu: &LabProcess) -> Vec<UpLine> {
    emu.stdout_lines()
        .iter()
        .filter_map(|l| UpLine::parse(l))
        .collect()
}

#[test]
fn three_hundred_sessions_up_listed_and_torn_down() {
    if !root_or_skip("three_hundred_sessions_up_listed_and_torn_down") {
        return;
    }
    let lab = new_lab();
    let sock = scratch(&lab, "control.sock").display().to_string();
    let secrets = lab
        .write_file(
            "scale-secrets",
            "# everyone, one password\n* * \"password\"\n",
        )
        .expect("secrets");
    // 64-port blocks: (65536 - 1024) / 64 = 1008 subscribers fit on the one
    // public address (the default 512 gives 126).
    let conf = lab
        .write_file("scale.toml", "port_block_size = 64\n")
        .expect("config");
    let mut opts = BrasOptions::classic(lab.pin_dir(), &secrets);
    opts.pool = vec!["100.64.0.0/22".to_owned()];
    opts.extra = vec![
        "-c".to_owned(),
        conf.display().to_string(),
        "--control-socket".to_owned(),
        sock.clone(),
    ];
    let bras = start_bras(&lab, &opts);

    let mut emu_opts = EmuOptions::user("subscriber");
    emu_opts.sessions = Some(SESSIONS as u32);
    emu_opts.timeout_secs = Some(60);
    emu_opts.extra = vec!["--rate".to_owned(), "200".to_owned()];
    let mut emu = start_emu(&lab, &emu_opts);
    let all_up = eventually(Duration::from_secs(90), || up_lines(&emu).len() >= SESSIONS);
    let ups = up_lines(&emu);
    assert!(
        all_up,
        "{} of {SESSIONS} up; emulator:\n{}\ndaemon:\n{}",
        ups.len(),
        emu.tail(20),
        bras.tail(20)
    );
    let ids: HashSet<u16> = ups.iter().map(|u| u.session).collect();
    let addrs: HashSet<Ipv4Addr> = ups.iter().map(|u| u.address).collect();
    assert_eq!((ids.len(), addrs.len()), (SESSIONS, SESSIONS));
    assert!(
        addrs.iter().all(|a| a.octets()[..2] == [100, 64]),
        "{addrs:?}"
    );

    // The daemon lists every one, each with its address, rows installed.
    let listing = control(&lab, &sock, "sessions");
    let rows: Vec<&str> = listing.lines().filter(|l| l.starts_with("0x")).collect();
    assert_eq!(rows.len(), SESSIONS, "{listing}");
    for a in &addrs {
        assert!(listing.contains(&format!("address={a} ")), "{a} not listed");
    }
    assert_eq!(live_sessions(&lab, &sock), Some(SESSIONS));
    assert_eq!(
        map_rows(lab.pin_dir(), SESSIONS_MAP).expect("session map"),
        SESSIONS
    );
    let errors: Vec<String> = bras
        .stderr_lines()
        .into_iter()
        .filter(|l| l.contains("ERROR") || l.contains("install map rows"))
        .collect();
    assert!(errors.is_empty(), "daemon errors: {errors:#?}");

    // SIGTERM: the emulator hangs up every session (paced) and says so.
    emu.signal(libc::SIGTERM).expect("SIGTERM");
    let status = emu
        .wait_timeout(Duration::from_secs(30))
        .expect("wait")
        .expect("emulator exits after hanging up");
    assert!(status.success(), "emulator exit {status}");
    let summary = emu
        .stdout_lines()
        .into_iter()
        .find(|l| l.starts_with("SUMMARY "))
        .expect("SUMMARY line");
    assert!(
        summary.starts_with(&format!(
            "SUMMARY sessions={SESSIONS} up={SESSIONS} failed=0 "
        )),
        "{summary}"
    );
    let empty = eventually(Duration::from_secs(20), || {
        live_sessions(&lab, &sock) == Some(0)
    });
    assert!(
        empty,
        "daemon still has {:?} sessions:\n{}",
        live_sessions(&lab, &sock),
        bras.tail(20)
    );
    assert_eq!(map_rows(lab.pin_dir(), SESSIONS_MAP).expect("map"), 0);
    let downs = bras
        .stderr_lines()
        .iter()
        .filter(|l| l.contains(" down reason="))
        .count();
    assert_eq!(downs, SESSIONS);
}
