use super::*;
use crate::wire::radius::unhide_password;

fn server(port: u16, secret: &str) -> ServerConfig {
    ServerConfig {
        addr: SocketAddr::from(([127, 0, 0, 1], port)),
        secret: secret.as_bytes().to_vec(),
        timeout: Duration::from_secs(3),
        retries: 1,
        // Config order is failover order unless priorities are given.
        priority: u32::from(port),
        weight: 1,
    }
}

fn pap() -> Request {
    Request {
        code: code::ACCESS_REQUEST,
        attrs: vec![(attr::USER_NAME, b"bob".to_vec())],
        password: Some(b"pw".to_vec()),
        created: None,
    }
}

fn answer(sent: &[u8], secret: &str, c: u8) -> Vec<u8> {
    let req = Packet::parse(sent).unwrap();
    let mut r = Packet::new(c, req.identifier);
    r.add(attr::MESSAGE_AUTHENTICATOR, &[0; 16]);
    r.add(attr::REPLY_MESSAGE, b"hello");
    r.encode_response(&req.authenticator, secret.as_bytes())
}

fn client(servers: Vec<ServerConfig>) -> Client {
    Client::with_rng(servers, 2, crate::ppp::rng::Rng::seeded(1))
}

#[test]
fn request_answered() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1812, "s1")]);
    let tok = c.submit(t0, pap()).unwrap();
    let (to, bytes) = c.poll_transmit().unwrap();
    assert_eq!(to.port(), 1812);
    let req = Packet::parse(&bytes).unwrap();
    assert_eq!(req.attrs[0].0, attr::MESSAGE_AUTHENTICATOR);
    let pw = unhide_password(
        req.get(attr::USER_PASSWORD).unwrap(),
        b"s1",
        &req.authenticator,
    );
    assert_eq!(pw, b"pw");
    // Wrong secret → dropped; the right one → the result.
    assert_eq!(
        c.handle_datagram(t0, to, &answer(&bytes, "nope", code::ACCESS_ACCEPT)),
        Received::Dropped(DropReason::BadAuthenticator)
    );
    assert_eq!(
        c.handle_datagram(t0, to, &answer(&bytes, "s1", code::ACCESS_ACCEPT)),
        Received::Answer
    );
    let (t, o) = c.poll_result().unwrap();
    assert_eq!(t, tok);
    let Outcome::Response(p) = o else { panic!() };
    assert_eq!(p.get_str(attr::REPLY_MESSAGE).unwrap(), "hello");
    // A duplicate answer matches nothing any more.
    assert_eq!(
        c.handle_datagram(t0, to, &answer(&bytes, "s1", code::ACCESS_ACCEPT)),
        Received::Dropped(DropReason::UnknownId)
    );
    let st = *c.servers(t0)[0].2;
    assert_eq!((st[ServerStat::Requests], st[ServerStat::Accepts]), (1, 1));
    assert_eq!(st[DropReason::BadAuthenticator.stat()], 1);
    assert_eq!(st[DropReason::UnknownId.stat()], 1);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn answer_without_message_authenticator_is_refused() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1812, "s1")]);
    c.submit(t0, pap()).unwrap();
    let (to, bytes) = c.poll_transmit().unwrap();
    let req = Packet::parse(&bytes).unwrap();
    let r =
        Packet::new(code::ACCESS_ACCEPT, req.identifier).encode_response(&req.authenticator, b"s1");
    assert_eq!(
        c.handle_datagram(t0, to, &r),
        Received::Dropped(DropReason::NoMessageAuthenticator)
    );
    assert_eq!(c.outstanding(), 1);
}

/// Same priority: requests spread by weight (3:1 over 8 requests, never
/// two in a row for the light one); a worse priority only while the
/// better ones are dead, and the dead time is the configured one.
#[test]
fn weights_spread_requests_and_priorities_order_failover() {
    let t0 = Instant::now();
    let with = |port, priority, weight| ServerConfig {
        priority,
        weight,
        ..server(port, "s")
    };
    let mut c = Client::with_rng(
        vec![with(1, 1, 3), with(2, 1, 1), with(3, 2, 1)],
        64,
        crate::ppp::rng::Rng::seeded(1),
    )
    .with_dead_time(Duration::from_secs(5));
    let mut ports = Vec::new();
    for _ in 0..8 {
        c.submit(t0, pap()).unwrap();
        ports.push(c.poll_transmit().unwrap().0.port());
    }
    assert_eq!(ports, [1, 1, 2, 1, 1, 1, 2, 1], "3:1, smooth");
    // Both priority-1 servers die (every request times out twice).
    let t1 = t0 + Duration::from_secs(3);
    c.handle_timeout(t1);
    let t2 = t1 + Duration::from_secs(3);
    c.handle_timeout(t2);
    while c.poll_transmit().is_some() {}
    let live: Vec<bool> = c.servers(t2).iter().map(|s| !s.1).collect();
    assert_eq!(live, [false, false, true]);
    c.submit(t2, pap()).unwrap();
    assert_eq!(c.poll_transmit().unwrap().0.port(), 3, "backup priority");
    // After the 5 s dead time, priority 1 is back.
    let t3 = t2 + Duration::from_secs(5);
    assert!(!c.servers(t3)[0].1);
    c.submit(t3, pap()).unwrap();
    assert_ne!(c.poll_transmit().unwrap().0.port(), 3);
}

#[test]
fn retransmit_then_fail_over_then_no_server() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1, "a"), server(2, "b")]);
    let tok = c.submit(t0, pap()).unwrap();
    let (_, first) = c.poll_transmit().unwrap();
    assert_eq!(c.poll_timeout(), Some(t0 + Duration::from_secs(3)));
    let t1 = t0 + Duration::from_secs(3);
    c.handle_timeout(t1);
    let (to, again) = c.poll_transmit().unwrap();
    assert_eq!(to.port(), 1, "one retransmission to the same server");
    assert_ne!(first[4..20], again[4..20], "fresh authenticator");
    let t2 = t1 + Duration::from_secs(3);
    c.handle_timeout(t2);
    let (to, moved) = c.poll_transmit().unwrap();
    assert_eq!(to.port(), 2, "failover");
    let req = Packet::parse(&moved).unwrap();
    // Hidden with the second server's secret.
    let pw = unhide_password(
        req.get(attr::USER_PASSWORD).unwrap(),
        b"b",
        &req.authenticator,
    );
    assert_eq!(pw, b"pw");
    // New requests skip the dead server.
    let tok2 = c.submit(t2, pap()).unwrap();
    assert_eq!(c.poll_transmit().unwrap().0.port(), 2);
    // Limit 2: a third request waits in the queue, unsent.
    let tok3 = c.submit(t2, pap()).unwrap();
    assert!(c.poll_transmit().is_none());
    assert_eq!((c.in_flight(), c.queued()), (2, 1));
    c.cancel(tok3);
    assert_eq!(c.queued(), 0);
    // Server 2 dies too: both requests fail.
    for k in 1..=2 {
        c.handle_timeout(t2 + Duration::from_secs(3 * k));
    }
    let mut failed: Vec<_> = std::iter::from_fn(|| c.poll_result()).collect();
    failed.sort_by_key(|(t, _)| *t);
    assert_eq!(
        failed,
        vec![(tok, Outcome::NoServer), (tok2, Outcome::NoServer)]
    );
    let t3 = t2 + Duration::from_secs(6);
    assert!(c.all_dead(t3));
    assert_eq!(c.submit(t3, pap()), Err(SubmitError::AllDead));
    // After the dead time, servers are tried again.
    assert!(!c.all_dead(t1 + DEAD_TIME + Duration::from_secs(3)));
}

#[test]
fn accounting_delay_time_grows_on_retransmission() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1813, "s")]);
    let req = Request {
        code: code::ACCOUNTING_REQUEST,
        attrs: vec![(attr::ACCT_STATUS_TYPE, 1u32.to_be_bytes().to_vec())],
        password: None,
        created: None,
    };
    c.submit(t0, req).unwrap();
    let (_, a) = c.poll_transmit().unwrap();
    assert_eq!(
        Packet::parse(&a).unwrap().get_u32(attr::ACCT_DELAY_TIME),
        Some(0)
    );
    assert!(crate::wire::radius::verify_request_digest(&a, b"s"));
    c.handle_timeout(t0 + Duration::from_secs(3));
    let (_, b) = c.poll_transmit().unwrap();
    let p = Packet::parse(&b).unwrap();
    assert_eq!(p.get_u32(attr::ACCT_DELAY_TIME), Some(3));
    // Accounting-Response: Response Authenticator over the request's.
    let mut r = Packet::new(code::ACCOUNTING_RESPONSE, p.identifier);
    r.attrs.clear();
    let auth: [u8; 16] = b[4..20].try_into().unwrap();
    let rb = r.encode_response(&auth, b"s");
    assert_eq!(
        c.handle_datagram(t0, SocketAddr::from(([127, 0, 0, 1], 1813)), &rb),
        Received::Answer
    );
}

#[test]
fn queue_beyond_the_outstanding_limit_then_admitted_in_order() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1812, "s1")]);
    let toks: Vec<Token> = (0..5).map(|_| c.submit(t0, pap()).unwrap()).collect();
    assert_eq!((c.in_flight(), c.queued(), c.outstanding()), (2, 3, 5));
    let mut answered = Vec::new();
    while let Some((to, b)) = c.poll_transmit() {
        // Answer each as it goes out; the queue refills the slot.
        assert!(c.in_flight() <= 2);
        assert_eq!(
            c.handle_datagram(t0, to, &answer(&b, "s1", code::ACCESS_ACCEPT)),
            Received::Answer
        );
        answered.extend(std::iter::from_fn(|| c.poll_result()).map(|(t, _)| t));
    }
    assert_eq!(answered, toks, "FIFO, every request answered");
    assert_eq!(
        c.stats[ClientStat::MaxOutstandingSeen],
        2,
        "never more than the limit"
    );
    assert_eq!(c.stats[ClientStat::MaxQueuedSeen], 3);
    assert_eq!(c.outstanding(), 0);
}

#[test]
fn bad_responses_are_dropped_and_counted_by_reason() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1812, "s1")]);
    c.submit(t0, pap()).unwrap();
    let (to, bytes) = c.poll_transmit().unwrap();
    let good = answer(&bytes, "s1", code::ACCESS_ACCEPT);
    // Wrong Response Authenticator (a flipped bit in it).
    let mut b = good.clone();
    b[4] ^= 1;
    assert_eq!(
        c.handle_datagram(t0, to, &b),
        Received::Dropped(DropReason::BadAuthenticator)
    );
    // A tampered attribute: the Message-Authenticator no longer matches.
    let mut b = good.clone();
    let n = b.len();
    b[n - 1] ^= 1;
    assert_eq!(
        c.handle_datagram(t0, to, &b),
        Received::Dropped(DropReason::BadAuthenticator)
    );
    // Unknown identifier.
    let mut b = good.clone();
    b[1] = b[1].wrapping_add(1);
    assert_eq!(
        c.handle_datagram(t0, to, &b),
        Received::Dropped(DropReason::UnknownId)
    );
    // Truncated: Length says more than the datagram holds; an attribute
    // longer than the packet; a header only half there; Length over 4096.
    let mut b = good.clone();
    b.truncate(b.len() - 3);
    assert_eq!(
        c.handle_datagram(t0, to, &b),
        Received::Dropped(DropReason::Malformed)
    );
    let mut b = good.clone();
    b[21] = 250;
    assert_eq!(
        c.handle_datagram(t0, to, &b),
        Received::Dropped(DropReason::Malformed)
    );
    assert_eq!(
        c.handle_datagram(t0, to, &good[..12]),
        Received::Dropped(DropReason::Malformed)
    );
    let mut big = good.clone();
    big.resize(4200, 0);
    big[2..4].copy_from_slice(&4200u16.to_be_bytes());
    assert_eq!(
        c.handle_datagram(t0, to, &big),
        Received::Dropped(DropReason::Malformed)
    );
    // An Accounting-Response to an Access-Request.
    let req = Packet::parse(&bytes).unwrap();
    let wrong = Packet::new(code::ACCOUNTING_RESPONSE, req.identifier)
        .encode_response(&req.authenticator, b"s1");
    assert_eq!(
        c.handle_datagram(t0, to, &wrong),
        Received::Dropped(DropReason::UnexpectedCode)
    );
    // From elsewhere: not ours (the caller counts it).
    let other = SocketAddr::from(([127, 0, 0, 2], 1812));
    assert_eq!(c.handle_datagram(t0, other, &good), Received::NotOurs);
    let st = *c.servers(t0)[0].2;
    let d: Vec<u64> = ServerStat::ALL
        .iter()
        .filter(|s| s.drop_reason_name().is_some())
        .map(|&s| st[s])
        .collect();
    assert_eq!(d, [2, 0, 1, 4, 1]);
    // The request is still waiting, and the genuine answer completes it.
    assert_eq!(c.handle_datagram(t0, to, &good), Received::Answer);
}

#[test]
fn timeouts_and_dead_marks_are_counted_per_server() {
    let t0 = Instant::now();
    let mut c = client(vec![server(1, "a"), server(2, "b")]);
    c.submit(t0, pap()).unwrap();
    c.handle_timeout(t0 + Duration::from_secs(3));
    c.handle_timeout(t0 + Duration::from_secs(6));
    let s = c.servers(t0 + Duration::from_secs(6));
    assert!(s[0].1, "first server dead");
    assert!(!s[1].1);
    let a = s[0].2;
    assert_eq!(
        (
            a[ServerStat::Requests],
            a[ServerStat::Retransmits],
            a[ServerStat::Timeouts],
            a[ServerStat::MarkedDead]
        ),
        (1, 1, 1, 1)
    );
    assert_eq!(s[1].2[ServerStat::Requests], 1, "moved to the second");
    assert_eq!(c.stats[ClientStat::Failovers], 1);
}

#[test]
fn log_limit_once_per_period_and_counts_what_it_held() {
    let t0 = Instant::now();
    let mut l = LogLimit::new(Duration::from_secs(60));
    assert_eq!(l.allow(t0, "x"), Some(0));
    assert_eq!(l.allow(t0 + Duration::from_secs(1), "x"), None);
    assert_eq!(l.allow(t0 + Duration::from_secs(2), "x"), None);
    assert_eq!(
        l.allow(t0 + Duration::from_secs(2), "y"),
        Some(0),
        "per key"
    );
    assert_eq!(l.allow(t0 + Duration::from_secs(61), "x"), Some(2));
    assert_eq!(LogLimit::more(2), " (2 more like it since the last line)");
    assert_eq!(LogLimit::more(0), "");
}
