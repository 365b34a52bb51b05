use super::*;
use crate::v6::pool6::parse_prefix;

const BRAS_MAC: [u8; 6] = [0x02, 0, 0, 0, 0, 0x01];
const CPE_DUID: [u8; 10] = [0, 3, 0, 1, 0x02, 0xc0, 0, 0, 0, 1];

fn cfg(ia_na: bool) -> ServerConfig {
    ServerConfig {
        duid: duid_ll(BRAS_MAC),
        dns: vec!["2001:db8::53".parse().unwrap()],
        valid_lifetime: 7200,
        preferred_lifetime: 3600,
        ia_na,
        burst: 10,
        per_sec: 2,
    }
}

fn pool(s: &str, len: u8) -> PrefixPool {
    let mut p = PrefixPool::new(parse_prefix(s).unwrap(), len).unwrap();
    p.reserve_index(0);
    p
}

struct T {
    server: Server,
    pool: PrefixPool,
    now: Instant,
}

impl T {
    fn new(ia_na: bool) -> Self {
        T {
            server: Server::new(cfg(ia_na)),
            pool: pool("2001:db8:200::/40", 56),
            now: Instant::now(),
        }
    }

    fn send(&mut self, m: &[u8]) -> Result<(Option<Vec<u8>>, Option<PdChange>), DhcpError> {
        self.now += Duration::from_secs(1);
        let mut ctx = Ctx {
            now: self.now,
            prefix64: ("2001:db8:100:1::".parse().unwrap(), 64),
            user: "alice",
            pd_pool: &mut self.pool,
        };
        self.server.handle(&mut ctx, m)
    }
}

/// A client message: type, xid 0x123456, ClientID, then `rest`.
fn client_msg(t: u8, server_id: bool, rest: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut b = Builder::new(t, [0x12, 0x34, 0x56]);
    b.opt(opt::CLIENTID, &CPE_DUID);
    if server_id {
        b.opt(opt::SERVERID, &duid_ll(BRAS_MAC));
    }
    for (c, v) in rest {
        b.opt(*c, v);
    }
    b.0
}

fn ia_pd(iaid: u32) -> (u16, Vec<u8>) {
    (opt::IA_PD, [iaid.to_be_bytes(), [0; 4], [0; 4]].concat())
}

fn ia_na(iaid: u32) -> (u16, Vec<u8>) {
    (opt::IA_NA, [iaid.to_be_bytes(), [0; 4], [0; 4]].concat())
}

#[rustfmt::skip]
const SERVER_ID: [u8; 14] = [0, 2, 0, 10, 0, 3, 0, 1, 0x02, 0, 0, 0, 0, 0x01];
#[rustfmt::skip]
const CLIENT_ID: [u8; 14] = [0, 1, 0, 10, 0, 3, 0, 1, 0x02, 0xc0, 0, 0, 0, 1];
#[rustfmt::skip]
const DNS: [u8; 20] = [0, 23, 0, 16, 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x53];

/// IA_PD 1 with 2001:db8:200:100::/56, T1 1800, T2 2880, 3600/7200.
#[rustfmt::skip]
const IA_PD_BOUND: [u8; 45] = [
    0, 25, 0, 41, 0, 0, 0, 1, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40,
    0, 26, 0, 25, 0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20, 56,
    0x20, 0x01, 0x0d, 0xb8, 0x02, 0x00, 0x01, 0x00, 0, 0, 0, 0, 0, 0, 0, 0,
];

#[test]
fn solicit_advertise_request_reply_bytes() {
    let mut t = T::new(false);
    let (adv, change) = t
        .send(&client_msg(
            msg::SOLICIT,
            false,
            &[ia_pd(1), (opt::ORO, vec![0, 23])],
        ))
        .unwrap();
    let expected = [
        &[2, 0x12, 0x34, 0x56][..],
        &CLIENT_ID,
        &SERVER_ID,
        &IA_PD_BOUND,
        &DNS,
    ]
    .concat();
    assert_eq!(adv.unwrap(), expected);
    let pd = parse_prefix("2001:db8:200:100::/56").unwrap();
    assert_eq!(
        change,
        Some(PdChange {
            old: None,
            new: Some(pd)
        })
    );
    let (reply, change) = t
        .send(&client_msg(msg::REQUEST, true, &[ia_pd(1)]))
        .unwrap();
    let mut expected = expected;
    expected[0] = msg::REPLY;
    assert_eq!(reply.unwrap(), expected);
    assert_eq!(change, None, "same prefix");
    assert_eq!(t.server.delegated(), Some(pd));
    assert_eq!(t.pool.holder(pd), Some("alice"));
}

#[test]
fn rapid_commit_gets_a_reply() {
    let mut t = T::new(false);
    let (reply, _) = t
        .send(&client_msg(
            msg::SOLICIT,
            false,
            &[ia_pd(7), (opt::RAPID_COMMIT, vec![])],
        ))
        .unwrap();
    let m = parse(&reply.unwrap()).unwrap();
    assert_eq!(m.msg_type, msg::REPLY);
    assert!(m.rapid_commit);
    assert_eq!(m.ia_pd[0].iaid, 7);
    assert_eq!(
        m.ia_pd[0].items[0].0,
        "2001:db8:200:100::".parse::<Ipv6Addr>().unwrap()
    );
}

#[test]
fn ia_na_off_by_default_on_when_configured() {
    let mut t = T::new(false);
    let (adv, _) = t
        .send(&client_msg(msg::SOLICIT, false, &[ia_na(3), ia_pd(1)]))
        .unwrap();
    let m = parse(&adv.unwrap()).unwrap();
    assert_eq!(m.ia_na[0].status, Some(status::NO_ADDRS_AVAIL));
    assert!(m.ia_na[0].items.is_empty());
    assert_eq!(m.ia_pd[0].items.len(), 1);

    let mut t = T::new(true);
    let (reply, _) = t
        .send(&client_msg(msg::REQUEST, true, &[ia_na(3)]))
        .unwrap();
    let reply = reply.unwrap();
    #[rustfmt::skip]
    let ia: [u8; 44] = [
        0, 3, 0, 40, 0, 0, 0, 3, 0, 0, 0x07, 0x08, 0, 0, 0x0b, 0x40,
        0, 5, 0, 24, 0x20, 0x01, 0x0d, 0xb8, 0x01, 0x00, 0, 1, 0, 0, 0, 0, 0, 0, 0x01, 0x00,
        0, 0, 0x0e, 0x10, 0, 0, 0x1c, 0x20,
    ];
    assert_eq!(
        reply,
        [
            &[7, 0x12, 0x34, 0x56][..],
            &CLIENT_ID,
            &SERVER_ID,
            &ia,
            &DNS
        ]
        .concat()
    );
    // Confirm: on link, then not.
    let on = [3u32.to_be_bytes(), [0; 4], [0; 4]].concat();
    let mut addr = vec![0, 5, 0, 24];
    addr.extend_from_slice(&"2001:db8:100:1::100".parse::<Ipv6Addr>().unwrap().octets());
    addr.extend_from_slice(&[0; 8]);
    let (r, _) = t
        .send(&client_msg(
            msg::CONFIRM,
            false,
            &[(opt::IA_NA, [on.clone(), addr.clone()].concat())],
        ))
        .unwrap();
    assert_eq!(parse(&r.unwrap()).unwrap().status, Some(status::SUCCESS));
    addr[4 + 5] = 0x99;
    let (r, _) = t
        .send(&client_msg(
            msg::CONFIRM,
            false,
            &[(opt::IA_NA, [on, addr].concat())],
        ))
        .unwrap();
    assert_eq!(
        parse(&r.unwrap()).unwrap().status,
        Some(status::NOT_ON_LINK)
    );
    // Confirm without addresses: no reply.
    assert_eq!(
        t.send(&client_msg(msg::CONFIRM, false, &[])).unwrap(),
        (None, None)
    );
}

#[test]
fn renew_rebind_release() {
    let mut t = T::new(false);
    t.send(&client_msg(msg::REQUEST, true, &[ia_pd(1)]))
        .unwrap();
    let pd = t.server.delegated().unwrap();
    let (r, c) = t.send(&client_msg(msg::RENEW, true, &[ia_pd(1)])).unwrap();
    assert_eq!(c, None);
    let m = parse(&r.unwrap()).unwrap();
    assert_eq!((m.msg_type, m.ia_pd[0].items[0].0), (msg::REPLY, pd.0));
    let (r, _) = t
        .send(&client_msg(msg::REBIND, false, &[ia_pd(1)]))
        .unwrap();
    assert_eq!(parse(&r.unwrap()).unwrap().ia_pd[0].items[0].2, 3600);
    // Unknown IAID: NoBinding.
    let (r, _) = t.send(&client_msg(msg::RENEW, true, &[ia_pd(9)])).unwrap();
    assert_eq!(
        parse(&r.unwrap()).unwrap().ia_pd[0].status,
        Some(status::NO_BINDING)
    );
    // Release: Success, prefix back in the pool.
    let (r, c) = t
        .send(&client_msg(msg::RELEASE, true, &[ia_pd(1)]))
        .unwrap();
    assert_eq!(
        r.unwrap(),
        [
            &[7, 0x12, 0x34, 0x56][..],
            &CLIENT_ID,
            &SERVER_ID,
            &[0, 13, 0, 4, 0, 0, b'o', b'k'],
            &DNS
        ]
        .concat()
    );
    assert_eq!(
        c,
        Some(PdChange {
            old: Some(pd),
            new: None
        })
    );
    assert_eq!(t.pool.holder(pd), None);
    // Sticky: the same prefix again.
    t.send(&client_msg(msg::REQUEST, true, &[ia_pd(1)]))
        .unwrap();
    assert_eq!(t.server.delegated(), Some(pd));
    assert_eq!(t.server.release_all(&mut t.pool), Some(pd));
    assert_eq!(t.pool.in_use(), 0);
}

#[test]
fn information_request() {
    let mut t = T::new(false);
    let (r, _) = t
        .send(
            &Builder::new(msg::INFORMATION_REQUEST, [1, 2, 3])
                .opt(opt::ORO, &[0, 23])
                .0
                .clone(),
        )
        .unwrap();
    assert_eq!(r.unwrap(), [&[7, 1, 2, 3][..], &SERVER_ID, &DNS].concat());
}

#[test]
fn bad_input_is_dropped_and_counted() {
    let mut t = T::new(false);
    // Wrong Server ID.
    let mut b = Builder::new(msg::REQUEST, [0, 0, 1]);
    b.opt(opt::CLIENTID, &CPE_DUID)
        .opt(opt::SERVERID, &[0, 3, 0, 1, 9, 9, 9, 9, 9, 9]);
    assert_eq!(t.send(&b.0), Err(DhcpError::WrongServerId));
    // Request without, Solicit with a Server ID.
    assert_eq!(
        t.send(&client_msg(msg::REQUEST, false, &[])),
        Err(DhcpError::ServerIdPresence)
    );
    assert_eq!(
        t.send(&client_msg(msg::SOLICIT, true, &[])),
        Err(DhcpError::ServerIdPresence)
    );
    // No Client ID.
    assert_eq!(
        t.send(&Builder::new(msg::SOLICIT, [0; 3]).0),
        Err(DhcpError::NoClientId)
    );
    // Server-only types.
    assert_eq!(
        t.send(&client_msg(msg::REPLY, false, &[])),
        Err(DhcpError::Type(7))
    );
    // Lengths: short header, option overrun, short IA, odd ORO.
    assert_eq!(t.send(&[1, 2]), Err(DhcpError::Short));
    assert_eq!(
        t.send(&[1, 0, 0, 0, 0, 1, 0, 20, 1]),
        Err(DhcpError::OptionLength)
    );
    assert_eq!(
        t.send(&client_msg(
            msg::SOLICIT,
            false,
            &[(opt::IA_PD, vec![0; 11])]
        )),
        Err(DhcpError::BadOption(opt::IA_PD))
    );
    assert_eq!(
        t.send(&client_msg(msg::SOLICIT, false, &[(opt::ORO, vec![0; 3])])),
        Err(DhcpError::BadOption(opt::ORO))
    );
    let s = t.server.stats;
    assert_eq!(
        (
            s[V6Stat::Dhcpv6DropServerId],
            s[V6Stat::Dhcpv6DropBad],
            s[V6Stat::Dhcpv6Tx]
        ),
        (1, 8, 0)
    );
}

#[test]
fn solicit_flood_is_rate_limited() {
    let mut t = T::new(false);
    let solicit = client_msg(msg::SOLICIT, false, &[ia_pd(1)]);
    let mut ctx_ok = 0;
    let mut limited = 0;
    let now = t.now;
    for _ in 0..100 {
        let mut ctx = Ctx {
            now,
            prefix64: ("2001:db8:100:1::".parse().unwrap(), 64),
            user: "alice",
            pd_pool: &mut t.pool,
        };
        match t.server.handle(&mut ctx, &solicit) {
            Ok(_) => ctx_ok += 1,
            Err(DhcpError::Rate) => limited += 1,
            Err(e) => panic!("{e}"),
        }
    }
    assert_eq!((ctx_ok, limited), (10, 90), "the burst, then nothing");
    assert_eq!(t.server.stats[V6Stat::Dhcpv6DropRate], 90);
    // Two a second come back.
    t.now = now + Duration::from_secs(1);
    assert!(t.send(&solicit).is_ok());
}

#[test]
fn exhausted_pool_says_no_prefix_avail() {
    let mut t = T::new(false);
    t.pool = pool("2001:db8:200::/55", 56); // two /56s, index 0 reserved
    t.pool.allocate("bob").unwrap();
    let (adv, change) = t
        .send(&client_msg(msg::SOLICIT, false, &[ia_pd(1)]))
        .unwrap();
    assert_eq!(change, None);
    let adv = adv.unwrap();
    #[rustfmt::skip]
    let ia: [u8; 41] = [
        0, 25, 0, 37, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0,
        0, 13, 0, 21, 0, 6, b'n', b'o', b' ', b'p', b'r', b'e', b'f', b'i', b'x', b' ',
        b'a', b'v', b'a', b'i', b'l', b'a', b'b', b'l', b'e',
    ];
    assert_eq!(
        adv,
        [
            &[2, 0x12, 0x34, 0x56][..],
            &CLIENT_ID,
            &SERVER_ID,
            &ia,
            &DNS
        ]
        .concat()
    );
    assert_eq!(t.server.stats[V6Stat::Dhcpv6NoPrefix], 1);
}

#[test]
fn garbage_never_panics() {
    let mut t = T::new(true);
    let mut rng = crate::ppp::rng::Rng::seeded(9);
    for _ in 0..5000 {
        let len = (rng.next_u8() % 80) as usize;
        let mut b = vec![0u8; len];
        rng.fill(&mut b);
        if let Some(x) = b.first_mut() {
            *x %= 12;
        }
        t.now += Duration::from_secs(1);
        let _ = t.send(&b);
    }
}
