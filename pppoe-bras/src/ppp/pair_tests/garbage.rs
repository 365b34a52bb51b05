//! Garbage in every state: mutated and truncated packets never panic.

use super::*;

/// Feed `info` and mutated/truncated variants of it, for every protocol,
/// into both machines. Must not panic, whatever state they are in.
fn hammer(p: &mut Pair, rng: &mut Rng, info: &[u8]) {
    let protos = [
        proto::LCP,
        proto::PAP,
        proto::CHAP,
        proto::IPCP,
        proto::IPV6CP,
        proto::CCP,
        proto::IPV4,
        0x1234,
    ];
    let mut variants: Vec<Vec<u8>> = (0..=info.len().min(12))
        .map(|n| info[..n].to_vec())
        .collect();
    for _ in 0..8 {
        let mut v = info.to_vec();
        if !v.is_empty() {
            let i = (rng.next_u32() as usize) % v.len();
            v[i] = rng.next_u8();
        }
        variants.push(v);
        let mut r = vec![0u8; (rng.next_u32() % 40) as usize];
        rng.fill(&mut r);
        variants.push(r);
    }
    for v in &variants {
        for &pr in &protos {
            p.server.handle_frame(p.now, pr, v);
            p.client.handle_frame(p.now, pr, v);
        }
    }
    // Drain without delivering (they are answers to junk).
    while p.server.poll_transmit().is_some() {}
    while p.client.poll_transmit().is_some() {}
    while p.server.poll_event().is_some() {}
    while p.client.poll_event().is_some() {}
}

#[test]
fn garbage_in_every_state_never_panics() {
    let mut rng = Rng::seeded(42);
    let templates: Vec<Vec<u8>> = vec![
        wire::packet(
            Code::ConfReq,
            1,
            &[1, 4, 5, 0xd4, 3, 5, 0xc2, 0x23, 5, 5, 6, 1, 2, 3, 4],
        ),
        wire::packet(Code::ConfAck, 1, &[1, 4, 5, 0xd4]),
        wire::packet(Code::ConfNak, 1, &[3, 4, 0xc0, 0x23, 1, 4, 0, 10]),
        wire::packet(Code::ConfRej, 1, &[3, 5, 0xc2, 0x23, 5, 5, 6, 0, 0, 0, 0]),
        wire::packet(Code::TermAck, 1, &[]),
        wire::packet(Code::CodeRej, 1, &[1, 1, 0, 4]),
        wire::packet(Code::ProtRej, 1, &[0x80, 0x21, 1]),
        wire::packet(Code::EchoReq, 1, &[0, 0, 0, 0, 1]),
        wire::packet(Code::EchoRep, 1, &[0, 0, 0, 1]),
        wire::packet(
            Code::from(1),
            1,
            &[5, b'a', b'l', b'i', b'c', b'e', 3, b'x'],
        ),
        wire::packet(Code::from(2), 1, &[16, 0, 0]),
        wire::packet(Code::from(3), 1, b"ok"),
        vec![0xff; 64],
        vec![],
    ];
    // Snapshot points: after each settle step in a normal negotiation and
    // during teardown, hammer both machines with junk.
    for seed in 0..6u64 {
        let mut p = Pair::new(
            LinkConfig {
                auth: if seed % 2 == 0 {
                    vec![AuthProto::Chap, AuthProto::Pap]
                } else {
                    vec![AuthProto::Pap]
                },
                ..server_cfg()
            },
            PeerConfig {
                request_vj: seed % 3 == 0,
                extra_protocols: vec![proto::CCP],
                ..client_cfg()
            },
        );
        for round in 0..12 {
            for t in &templates {
                hammer(&mut p, &mut rng, t);
            }
            // Also replay real frames seen so far, truncated and mutated.
            let seen: Vec<Vec<u8>> = p.log.iter().map(|f| f.info.clone()).collect();
            for f in seen.iter().rev().take(10) {
                hammer(&mut p, &mut rng, f);
            }
            if round == 8 {
                p.server.close(p.now, DownReason::AdminClose);
            }
            p.step();
            p.drive_for(Duration::from_millis(1500 + seed * 100));
        }
    }
}
