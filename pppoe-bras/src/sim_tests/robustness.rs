//! Bad input mixed into live sessions, and the BRAS's own echo looped back.

use super::*;
use crate::discovery::DiscoveryStat;
use crate::session::ManagerStat;

#[test]
fn garbage_mixed_into_live_sessions_hurts_no_bystander() {
    let mut sim = Sim::new(manager(10, 3));
    let victim = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    let a = sim.add(client_cfg(2, "testuser2", "password", &[AuthProto::Pap]));
    let b = sim.add(client_cfg(3, "testuser3", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(5));
    for i in [victim, a, b] {
        assert!(sim.up(i).is_some());
    }
    let bystanders: Vec<_> = [a, b]
        .iter()
        .map(|&i| {
            sim.bras
                .key_by_id(sim.clients[i].session_id().unwrap())
                .unwrap()
        })
        .collect();
    let victim_mac = sim.clients[victim].config().mac;
    let victim_sid = sim.clients[victim].session_id().unwrap();
    let captured: Vec<Vec<u8>> = sim.wire.iter().map(|(_, f)| f.clone()).collect();
    let victim_frames: Vec<Vec<u8>> = sim
        .wire
        .iter()
        .filter(|(d, f)| *d == Dir::ToBras && f[6..12] == victim_mac)
        .map(|(_, f)| f.clone())
        .collect();
    let session_frame = |dst: [u8; 6], src: [u8; 6], sid: u16, protocol: u16, info: &[u8]| {
        let eth = EthHeader {
            dst,
            src,
            vlans: Vlans::NONE,
            ethertype: 0x8864,
        };
        pppoe::session_frame(&eth, sid, protocol, info)
    };
    let mut s = Rng::seeded(0x1234_5678_9abc_def1);
    for i in 0..20_000u32 {
        let r = s.next_u64();
        let frame: Vec<u8> = match i % 8 {
            // Pure noise.
            0 => (0..r % 100).map(|_| s.next_u64() as u8).collect(),
            // Any captured frame (also others' discovery), truncated.
            1 => {
                let f = &captured[(r as usize) % captured.len()];
                f[..(s.next_u64() as usize) % f.len()].to_vec()
            }
            // The victim's own frames, mutated (source kept: only the victim
            // may suffer).
            2 | 3 => {
                let mut f = victim_frames[(r as usize) % victim_frames.len()].clone();
                for _ in 0..(s.next_u64() % 4 + 1) {
                    let at = (s.next_u64() as usize) % f.len();
                    f[at] = s.next_u64() as u8;
                }
                f[6..12].copy_from_slice(&victim_mac);
                f
            }
            // Random control packets into the victim's session.
            4 => {
                let protocol = [
                    proto::LCP,
                    proto::IPCP,
                    proto::CHAP,
                    proto::PAP,
                    0x8057,
                    0x1234,
                ][(r as usize) % 6];
                let info: Vec<u8> = (0..s.next_u64() % 40).map(|_| s.next_u64() as u8).collect();
                session_frame(BRAS_MAC, victim_mac, victim_sid, protocol, &info)
            }
            // Unknown sessions, wrong destination, other EtherTypes.
            5 => session_frame(
                BRAS_MAC,
                victim_mac,
                victim_sid ^ 0x4000,
                proto::LCP,
                &[9, 1, 0, 8, 0, 0, 0, 0],
            ),
            6 => session_frame(
                [0x02, 9, 9, 9, 9, 9],
                victim_mac,
                victim_sid,
                proto::LCP,
                &[9, 1, 0, 8, 0, 0, 0, 0],
            ),
            _ => {
                let mut f = captured[(r as usize) % captured.len()].clone();
                if f.len() > 13 {
                    f[12] = 0x08;
                    f[13] = 0x06;
                }
                f
            }
        };
        let now = sim.now;
        sim.bras.handle_frame(now, &frame);
        sim.settle();
        if i % 1000 == 0 {
            sim.run_for(Duration::from_millis(500));
        }
    }
    // Keepalives keep running for everyone left.
    sim.run_for(Duration::from_secs(60));
    for (i, key) in [a, b].iter().zip(&bystanders) {
        assert!(
            sim.clients[*i].peer().is_some_and(|p| p.is_up()),
            "bystander {i} down"
        );
        assert!(
            sim.bras.link(key).is_some(),
            "bystander {i} gone at the BRAS"
        );
        assert!(
            !sim.ops
                .iter()
                .any(|op| matches!(op, DataplaneOp::Remove { key: k, .. } if k == key)),
            "bystander {i}'s rows removed"
        );
    }
    let st = sim.bras.stats();
    for (name, v) in st.counters() {
        if name.starts_with("drop_") {
            assert!(v > 0, "{name} never counted: {st:?}");
        }
    }
    let d = sim.bras.discovery().stats();
    assert!(
        d[DiscoveryStat::DropMalformed]
            + d[DiscoveryStat::DropBadVersion]
            + d[DiscoveryStat::DropUnexpectedCode]
            > 0,
        "{d:?}"
    );
}

/// The BRAS's own LCP Echo-Request looped back to it (source and
/// destination MAC swapped, as a looped access line would): not answered,
/// counted in `session.lcp_looped_echo`.
#[test]
fn looped_echo_request_is_counted_not_answered() {
    let mut sim = Sim::new(manager(10, 3));
    let c = sim.add(client_cfg(1, "testuser1", "password", &[AuthProto::Chap]));
    sim.run_for(Duration::from_secs(11));
    assert!(sim.up(c).is_some());
    let is_echo_req = |f: &Vec<u8>| {
        EthHeader::parse(f)
            .ok()
            .and_then(|(_, p)| pppoe::parse_session(p).ok())
            .is_some_and(|(_, proto_, info)| {
                proto_ == proto::LCP && info.first() == Some(&u8::from(Code::EchoReq))
            })
    };
    let mut looped = sim
        .wire
        .iter()
        .rev()
        .find(|(d, f)| *d == Dir::ToClients && is_echo_req(f))
        .map(|(_, f)| f.clone())
        .expect("the BRAS sent an Echo-Request at 10 s");
    let (dst, src) = looped.split_at_mut(6);
    dst.swap_with_slice(&mut src[..6]);
    let replies = sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep).len();
    sim.send(Dir::ToBras, looped);
    sim.settle();
    assert_eq!(sim.bras.stats()[ManagerStat::LcpLoopedEcho], 1);
    assert_eq!(
        sim.packets(Dir::ToClients, proto::LCP, Code::EchoRep).len(),
        replies,
        "not answered"
    );
    assert!(sim
        .bras
        .counters()
        .contains(&("session.lcp_looped_echo".to_owned(), 1)));
    assert_eq!(sim.bras.len(), 1, "one looped echo is not the end");
}
