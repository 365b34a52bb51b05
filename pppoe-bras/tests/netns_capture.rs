//! `pppoe-bras capture` against the real daemon in the netns lab: what
//! tcpdump on the access NIC no longer shows (XDP redirects every data
//! frame before any tap), read back with tshark.
//!
//! The capture command runs in the test's own namespace: it only needs the
//! pinned maps (bpffs is not per namespace) and, for `--user`, the lab
//! daemon's control socket.
mod common;

use std::{
    path::Path,
    process::{Command, Stdio},
    time::Duration,
};

use common::*;
use pppoe_bras::lab::{self, EmuOptions};

fn with_tun() -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

/// `pppoe-bras capture` with the lab's pin dir and control socket.
fn capture_cmd(lab: &Lab, args: &[&str]) -> Command {
    let mut c = Command::new(bin());
    c.arg("capture")
        .arg("--pin-dir")
        .arg(lab.pin_dir())
        .arg("--control-socket")
        .arg(lab.control_socket())
        .args(args);
    c
}

/// Start a capture and wait until it says it runs (the flag is set then).
fn start_capture(lab: &Lab, name: &str, args: &[&str]) -> LabProcess {
    let p = LabProcess::spawn(name, capture_cmd(lab, args)).expect("spawn capture");
    let started = p
        .wait_stderr(
            |l| l.starts_with("pppoe-bras capture: ") && l.contains("pid "),
            Duration::from_secs(10),
        )
        .expect("wait for the capture");
    assert!(started.is_some(), "capture did not start:\n{}", p.tail(20));
    p
}

/// Stop with SIGTERM; the summary line (it must exit 0).
fn stop_capture(mut p: LabProcess) -> String {
    let status = p.stop(Duration::from_secs(10)).expect("stop capture");
    assert!(status.success(), "capture exit {status}:\n{}", p.tail(20));
    summary(&p)
}

fn summary(p: &LabProcess) -> String {
    p.stderr_lines()
        .into_iter()
        .find(|l| l.contains("frames captured"))
        .unwrap_or_else(|| panic!("no summary:\n{}", p.tail(20)))
}

fn ping(lab: &Lab, count: u32) {
    let n = count.to_string();
    let out = lab
        .exec(
            lab.ns_cpe(),
            &["ping", "-c", &n, "-i", "0.2", "-W", "2", "192.0.2.1"],
        )
        .expect("run ping");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("{count} received")),
        "ping through the session:\n{text}"
    );
}

fn fields(file: &Path, filter: &str, f: &[&str]) -> Vec<Vec<String>> {
    lab::tshark_fields(file, filter, f).unwrap_or_else(|e| panic!("tshark {filter}: {e:#}"))
}

/// `xdp.<name>` from `pppoe-bras stats`.
fn xdp_stat(lab: &Lab, name: &str) -> u64 {
    let out = Command::new(bin())
        .args(["stats", "--control-socket"])
        .arg(lab.control_socket())
        .output()
        .expect("pppoe-bras stats");
    let text = String::from_utf8_lossy(&out.stdout);
    let key = format!("xdp.{name} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&key))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or_else(|| panic!("no {key} in stats:\n{text}"))
}

#[test]
fn capture_shows_the_session_on_both_sides_as_tshark_reads_it() {
    if !root_or_skip("capture_both_sides") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, up) = bring_up(&lab, &with_tun());
    let file = scratch(&lab, "capture.pcapng");
    let file_s = file.to_str().unwrap();
    let cap = start_capture(&lab, "capture", &["--user", "testuser1", "-w", file_s]);
    ping(&lab, 3);
    let line = stop_capture(cap);
    assert!(line.contains(", 0 dropped by the budget, 0 lost"), "{line}");

    let sid = format!("{:#06x}", up.session);
    let addr = up.address.to_string();
    // Access side: PPPoE session frames with the ICMP inside, both ways,
    // upstream as received, downstream as sent.
    let access = fields(
        &file,
        "frame.interface_name == \"access\" && icmp",
        &[
            "pppoe.session_id",
            "ip.src",
            "ip.dst",
            "icmp.type",
            "frame.packet_flags_direction",
            "frame.comment",
        ],
    );
    let requests: Vec<_> = access.iter().filter(|r| r[3] == "8").collect();
    let replies: Vec<_> = access.iter().filter(|r| r[3] == "0").collect();
    assert_eq!((requests.len(), replies.len()), (3, 3), "{access:?}");
    for r in &requests {
        assert_eq!(r[0], sid, "session id: {r:?}");
        assert_eq!((r[1].as_str(), r[2].as_str()), (addr.as_str(), "192.0.2.1"));
        assert_eq!(r[4], "0x00000001", "inbound: {r:?}");
        assert_eq!(r[5], "bras_access in");
    }
    for r in &replies {
        assert_eq!(r[0], sid, "session id: {r:?}");
        assert_eq!((r[1].as_str(), r[2].as_str()), ("192.0.2.1", addr.as_str()));
        assert_eq!(r[4], "0x00000002", "outbound: {r:?}");
        assert_eq!(r[5], "bras_uplink → access out (down_forwarded)");
    }
    // Uplink side: plain IPv4, NATed.
    let uplink = fields(
        &file,
        "frame.interface_name == \"uplink\"",
        &[
            "eth.type",
            "ip.src",
            "ip.dst",
            "icmp.type",
            "frame.packet_flags_direction",
            "frame.comment",
        ],
    );
    assert_eq!(uplink.len(), 6, "3 requests out, 3 replies in: {uplink:?}");
    for r in &uplink {
        assert_eq!(r[0], "0x0800", "plain IPv4: {r:?}");
        match r[3].as_str() {
            "8" => {
                assert_eq!(
                    (r[1].as_str(), r[2].as_str()),
                    ("198.51.100.1", "192.0.2.1")
                );
                assert_eq!(r[4], "0x00000002");
                assert!(r[5].ends_with("→ uplink out (up_forwarded)"), "{r:?}");
            }
            "0" => {
                assert_eq!(
                    (r[1].as_str(), r[2].as_str()),
                    ("192.0.2.1", "198.51.100.1")
                );
                assert_eq!(
                    (r[4].as_str(), r[5].as_str()),
                    ("0x00000001", "bras_uplink in")
                );
            }
            t => panic!("unexpected ICMP type {t}: {r:?}"),
        }
    }
    // tshark's own summary line names PPPoE Session and the ICMP inside.
    let plain = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-Y", "frame.interface_name == \"access\" && icmp.type == 8"])
        .output()
        .expect("tshark -r");
    let text = String::from_utf8_lossy(&plain.stdout);
    assert!(text.contains("Echo (ping) request"), "{text}");
    let verbose = Command::new("tshark")
        .arg("-r")
        .arg(&file)
        .args(["-V", "-Y", "pppoes && icmp.type == 8"])
        .output()
        .expect("tshark -V");
    let text = String::from_utf8_lossy(&verbose.stdout);
    assert!(text.contains("PPP-over-Ethernet Session"), "{text}");
    assert!(text.contains("Internet Control Message Protocol"), "{text}");

    // `-w -` into tshark, stopped by -c: upstream access frames to or from
    // a host (an address no session holds).
    let mut pipe = Command::new("sh");
    pipe.arg("-c")
        .arg(format!(
            "'{}' capture --pin-dir '{}' -i access --direction up --ip 192.0.2.1 -c 2 -w - \
             | tshark -r - -T fields -e pppoe.session_id -e ip.src -e ip.dst -e icmp.type",
            bin().display(),
            lab.pin_dir().display()
        ))
        .stdin(Stdio::null());
    let mut piped = LabProcess::spawn("pipe", pipe).expect("spawn the pipeline");
    piped
        .wait_stderr(
            |l| l.starts_with("pppoe-bras capture: "),
            Duration::from_secs(10),
        )
        .expect("wait");
    ping(&lab, 3);
    let status = piped
        .wait_timeout(Duration::from_secs(10))
        .expect("wait")
        .expect("-c 2 stops the capture and tshark gets EOF");
    assert!(status.success(), "pipeline: {status}\n{}", piped.tail(20));
    let rows = piped.stdout_lines();
    assert_eq!(rows.len(), 2, "-c 2: {rows:?}");
    for r in &rows {
        let r: Vec<&str> = r.split('\t').collect();
        assert_eq!(r, [sid.as_str(), addr.as_str(), "192.0.2.1", "8"]);
    }
    assert!(
        summary(&piped).starts_with("pppoe-bras capture: 2 frames captured (access 2, uplink 0)")
    );
}

#[test]
fn one_capture_at_a_time_empty_filter_and_a_killed_capture_expires() {
    if !root_or_skip("capture_exclusive") {
        return;
    }
    let lab = new_lab();
    let _bras = start_bras(&lab, &classic(&lab, ""));
    let (_emu, _up) = bring_up(&lab, &with_tun());

    // A filter that matches nothing: an empty pcapng, and it says so.
    let empty = scratch(&lab, "empty.pcapng");
    let first = start_capture(
        &lab,
        "capture-none",
        &["--session", "0x7777", "-w", empty.to_str().unwrap()],
    );
    // A second capture is refused while the first runs, naming it.
    let out = capture_cmd(&lab, &["-w", "/dev/null"])
        .output()
        .expect("second capture");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "second capture must fail: {err}");
    assert!(
        err.contains("another capture is running") && err.contains(&format!("pid {}", first.pid())),
        "{err}"
    );
    ping(&lab, 3);
    let line = stop_capture(first);
    assert!(line.contains("0 frames captured"), "{line}");
    assert!(line.contains("nothing matched the filter"), "{line}");
    // tshark reads it, and there is nothing in it.
    assert!(fields(&empty, "frame", &["frame.number"]).is_empty());
    let capinfos = Command::new("tshark")
        .arg("-r")
        .arg(&empty)
        .output()
        .expect("tshark");
    assert!(capinfos.status.success(), "{capinfos:?}");

    // -c COUNT stops by itself.
    let counted = scratch(&lab, "counted.pcapng");
    let mut c = start_capture(
        &lab,
        "capture-c",
        &["-c", "3", "-w", counted.to_str().unwrap()],
    );
    ping(&lab, 3);
    let status = c
        .wait_timeout(Duration::from_secs(10))
        .unwrap()
        .expect("-c 3 stops the capture");
    assert!(status.success());
    assert_eq!(fields(&counted, "frame", &["frame.number"]).len(), 3);

    // A capture killed with SIGKILL: the lock goes with it, and the flag's
    // lease runs out, after which the programs no longer try to copy.
    let killed = start_capture(&lab, "capture-killed", &["-w", "/dev/null"]);
    killed.signal(libc::SIGKILL).unwrap();
    let lost0 = xdp_stat(&lab, "capture_lost");
    ping(&lab, 1);
    assert!(
        xdp_stat(&lab, "capture_lost") > lost0,
        "within the lease the orphaned flag still costs a copy attempt"
    );
    std::thread::sleep(Duration::from_millis(3500));
    let lost1 = xdp_stat(&lab, "capture_lost");
    ping(&lab, 3);
    assert_eq!(
        xdp_stat(&lab, "capture_lost"),
        lost1,
        "the killed capture's lease ran out"
    );
    // And the next capture runs.
    let next = scratch(&lab, "next.pcapng");
    let cap = start_capture(&lab, "capture-next", &["-w", next.to_str().unwrap()]);
    ping(&lab, 1);
    stop_capture(cap);
    let icmp = fields(&next, "icmp", &["frame.interface_name", "icmp.type"]);
    let mut icmp: Vec<String> = icmp.iter().map(|r| r.join(" ")).collect();
    icmp.sort();
    assert_eq!(icmp, ["access 0", "access 8", "uplink 0", "uplink 8"]);
}
