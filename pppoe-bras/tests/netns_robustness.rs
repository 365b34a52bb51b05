//! Bad input end to end: while a subscriber's session is up, thousands of
//! malformed, truncated, contradictory and random frames hit the access NIC
//! (discovery and session EtherTypes, garbage on the live session's own id,
//! broken IPv4 inside it, random MACs). The daemon must keep running, count
//! what it dropped, and the live session must neither go down nor lose its
//! data path.
mod common;

use std::{net::SocketAddr, time::Duration};

use common::*;
use pppoe_bras::{
    lab::{self, ECHO_ADDR},
    rawsock::PacketSocket,
};

/// The crate's seeded generator: deterministic, so a failure replays.
struct Rng(pppoe_bras::ppp::rng::Rng);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0.next_u64()
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
    /// Up to `max - 1` random bytes.
    fn some_bytes(&mut self, max: u64) -> Vec<u8> {
        let n = self.below(max) as usize;
        self.bytes(n)
    }
    fn unicast_mac(&mut self) -> [u8; 6] {
        let mut m = [0u8; 6];
        m.copy_from_slice(&self.bytes(6));
        m[0] = (m[0] & 0xfe) | 0x02;
        m
    }
}

fn parse_mac(s: &str) -> [u8; 6] {
    pppoe_bras::wire::eth::parse_mac(s).expect("MAC")
}

/// Frames that must not harm the live session `(client, sid)`.
fn garbage(rng: &mut Rng, bras: [u8; 6], client: [u8; 6], sid: u16) -> Vec<u8> {
    let mut f = Vec::with_capacity(128);
    let kind = rng.below(6);
    // Destination: the BRAS, broadcast, or someone else.
    let dst = match rng.below(4) {
        0 => [0xff; 6],
        1 => rng.unicast_mac(),
        _ => bras,
    };
    let on_session = kind >= 3;
    f.extend_from_slice(&dst);
    f.extend_from_slice(&if on_session {
        client
    } else {
        rng.unicast_mac()
    });
    // Sometimes one or two VLAN tags in front.
    for _ in 0..rng.below(3) {
        f.extend_from_slice(&[0x81, 0x00]);
        f.extend_from_slice(&(rng.below(4096) as u16).to_be_bytes());
    }
    match kind {
        // Discovery with random code, id, length and tags (PADT included:
        // from a random MAC it can never match the live session).
        0 | 1 => {
            f.extend_from_slice(&[0x88, 0x63]);
            let vt = if rng.below(8) == 0 {
                rng.next() as u8
            } else {
                0x11
            };
            let code = [0x09, 0x19, 0xa7, 0x07, 0x65, rng.next() as u8][rng.below(6) as usize];
            f.push(vt);
            f.push(code);
            f.extend_from_slice(&(rng.next() as u16).to_be_bytes());
            let body = rng.some_bytes(80);
            let len = if rng.below(3) == 0 {
                rng.next() as u16
            } else {
                body.len() as u16
            };
            f.extend_from_slice(&len.to_be_bytes());
            f.extend_from_slice(&body);
        }
        // Session frames for sessions that don't exist.
        2 => {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
            f.extend_from_slice(&(rng.next() as u16).to_be_bytes());
            let body = rng.some_bytes(60);
            f.extend_from_slice(&(body.len() as u16).to_be_bytes());
            f.extend_from_slice(&body);
        }
        // On the live session's own key: broken PPPoE (version, code,
        // length past the end) …
        3 => {
            f.extend_from_slice(&[0x88, 0x64]);
            let (vt, code) = if rng.below(2) == 0 {
                (rng.next() as u8 | 0x01, 0x00)
            } else {
                (0x11, rng.next() as u8 | 0x01)
            };
            f.push(if vt == 0x11 && code == 0 { 0x21 } else { vt });
            f.push(code);
            f.extend_from_slice(&sid.to_be_bytes());
            f.extend_from_slice(&(rng.next() as u16 | 0x0800).to_be_bytes());
            f.extend_from_slice(&rng.some_bytes(40));
        }
        // … unknown PPP protocols with random data (Protocol-Reject, never
        // LCP/auth/IPCP codes that would legitimately renegotiate) …
        4 => {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
            f.extend_from_slice(&sid.to_be_bytes());
            let proto = 0x4000 | (rng.next() as u16 & 0x3ffe) | 1;
            let body = rng.some_bytes(60);
            f.extend_from_slice(&(body.len() as u16 + 2).to_be_bytes());
            f.extend_from_slice(&proto.to_be_bytes());
            f.extend_from_slice(&body);
        }
        // … and IPv4 that is not IPv4: bad version/IHL, lengths past the end.
        _ => {
            f.extend_from_slice(&[0x88, 0x64, 0x11, 0x00]);
            f.extend_from_slice(&sid.to_be_bytes());
            let n = 20 + rng.below(30) as usize;
            let mut ip = rng.bytes(n);
            ip[0] = [0x45, 0x44, 0x4f, 0x60, 0x41][rng.below(5) as usize];
            ip[2..4].copy_from_slice(&(rng.next() as u16).to_be_bytes());
            f.extend_from_slice(&(ip.len() as u16 + 2).to_be_bytes());
            f.extend_from_slice(&[0x00, 0x21]);
            f.extend_from_slice(&ip);
        }
    }
    // Random truncation of a quarter of them.
    if rng.below(4) == 0 {
        let cut = rng.below(f.len() as u64 + 1) as usize;
        f.truncate(cut.max(1));
    }
    f
}

#[test]
fn a_storm_of_bad_frames_leaves_the_daemon_and_the_live_session_unharmed() {
    if !root_or_skip("bad_frames_storm") {
        return;
    }
    let lab = new_lab();
    let bras = start_bras(&lab, &classic(&lab, ""));
    let mut o = EmuOptions::user("testuser1");
    o.auth = Some("chap".to_owned());
    o.tun = Some("ppp0".to_owned());
    let (emu, up) = bring_up(&lab, &o);
    let client = parse_mac(&mac_in_log(&session_up_log(&bras, up.session)));
    let bras_mac = parse_mac(
        &lab.mac_of(lab.ns_bras(), lab.access_if())
            .expect("access MAC"),
    );

    let cpe_if = lab.cpe_if().to_owned();
    let sid = up.session;
    let sent = lab::in_netns(lab.ns_cpe(), move || {
        let sock = PacketSocket::open(&cpe_if)?;
        let mut rng = Rng(pppoe_bras::ppp::rng::Rng::seeded(0x5eed_1234_abcd_0001));
        let mut sent = 0u32;
        for i in 0..20_000u32 {
            let f = garbage(&mut rng, bras_mac, client, sid);
            if sock.send(&f).is_ok() {
                sent += 1;
            }
            if i % 500 == 499 {
                // Let the daemon and the session's own traffic breathe.
                std::thread::sleep(Duration::from_millis(5));
            }
        }
        Ok(sent)
    })
    .expect("send the storm");
    assert!(sent > 19_000, "only {sent} frames sent");

    std::thread::sleep(Duration::from_millis(500));
    let mut bras = bras;
    assert!(
        bras.try_wait().expect("daemon status").is_none(),
        "the daemon died:\n{}",
        bras.tail(30)
    );
    assert!(
        emu.wait_stdout(|l| l.starts_with("DOWN "), Duration::from_millis(10))
            .expect("emulator output")
            .is_none(),
        "the live session went down:\n{}",
        emu.tail(20)
    );
    lab::udp_round_trip(
        lab.ns_cpe(),
        SocketAddr::from(ECHO_ADDR),
        b"after-the-storm",
        Duration::from_secs(3),
    )
    .unwrap_or_else(|e| panic!("data path lost after the storm: {e}\n{}", bras.tail(30)));

    // What was thrown away is counted, by reason.
    let out = std::process::Command::new(bin())
        .args(["stats", "--control-socket"])
        .arg(lab.control_socket())
        .output()
        .expect("pppoe-bras stats");
    let text = String::from_utf8_lossy(&out.stdout);
    let count = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(name)?.trim().parse().ok())
            .unwrap_or(0)
    };
    assert_eq!(count("sessions "), 1, "{text}");
    for counter in [
        "discovery.drop_malformed ",
        "discovery.drop_bad_version ",
        "session.drop_unknown_session ",
        "xdp.drop_malformed ",
    ] {
        assert!(count(counter) > 0, "{counter}not counted:\n{text}");
    }
}
