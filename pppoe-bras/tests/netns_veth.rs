//! No silent blackholes on veth: native `XDP_REDIRECT` into a veth whose
//! peer runs no XDP program and has GRO off drops every frame (while our
//! counters call them forwarded). That is how a software tester is often
//! wired to a BRAS, so the daemon checks the peers at attach: `auto` falls
//! back to generic mode with one log line saying why, `native` refuses to
//! start with the fix. The lab's veth peers have GRO on; these tests turn
//! it off on the uplink's peer (in the inet namespace).
mod common;

use std::{net::SocketAddr, time::Duration};

use common::*;
use pppoe_bras::lab::{self, EmuOptions, ECHO_ADDR};

fn gro_off_on_uplink_peer(lab: &Lab) {
    lab.exec_ok(
        lab.ns_inet(),
        &["ethtool", "-K", lab.inet_if(), "gro", "off"],
    )
    .expect("ethtool -K gro off");
}

fn with_tun() -> EmuOptions {
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    o
}

/// `auto` with a GRO-less, XDP-less peer: generic mode on both NICs, one
/// line saying why and how to get native, and session traffic through the
/// NAT still passes; `stats` shows the NICs' XDP counters by name.
#[test]
fn auto_mode_goes_generic_when_a_veth_peer_would_drop() {
    if !root_or_skip("auto_mode_goes_generic") {
        return;
    }
    let lab = new_lab();
    gro_off_on_uplink_peer(&lab);
    let bras = start_bras(&lab, &classic(&lab, ""));
    let lines = bras.stderr_lines();
    let why: Vec<&String> = lines
        .iter()
        .filter(|l| l.contains("xdp_mode auto: generic mode on"))
        .collect();
    assert_eq!(why.len(), 1, "one line saying why:\n{}", bras.tail(20));
    let fix = format!("ethtool -K {} gro on", lab.inet_if());
    assert!(
        why[0].contains(&format!("veth {}", lab.uplink_if())) && why[0].contains(&fix),
        "{}",
        why[0]
    );
    for prog in ["bras_access", "bras_uplink"] {
        assert!(
            lines
                .iter()
                .any(|l| l.contains(prog) && l.contains("in generic mode")),
            "{prog} not generic:\n{}",
            bras.tail(20)
        );
    }
    let (_emu, _up) = bring_up(&lab, &with_tun());
    lab::udp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"through-generic",
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("no traffic in generic mode: {e}\n{}", bras.tail(20)));
    let out = std::process::Command::new(bin())
        .args(["stats", "--control-socket"])
        .arg(lab.control_socket())
        .output()
        .expect("pppoe-bras stats");
    let text = String::from_utf8_lossy(&out.stdout);
    for nic in [lab.access_if(), lab.uplink_if()] {
        let line = format!("nic.{nic}.tx_xdp_xmit_errors 0");
        assert!(text.lines().any(|l| l == line), "no `{line}` in:\n{text}");
    }
}

/// `native` with the same peer refuses to start, with the fix.
#[test]
fn native_mode_refuses_a_veth_peer_that_would_drop() {
    if !root_or_skip("native_mode_refuses") {
        return;
    }
    let lab = new_lab();
    gro_off_on_uplink_peer(&lab);
    let mut o = classic(&lab, "");
    o.xdp_mode = Some("native".to_owned());
    let e = match lab.start_bras(bin(), &o) {
        Ok(p) => panic!("native started on a dropping veth:\n{}", p.tail(20)),
        Err(e) => format!("{e:#}"),
    };
    let fix = format!(
        "enable GRO on the peer of veth {} (ethtool -K {} gro on) or attach an XDP program there",
        lab.uplink_if(),
        lab.inet_if()
    );
    assert!(e.contains(&fix), "{e}");
    assert!(e.contains("or use xdp_mode = auto/generic"), "{e}");
}
