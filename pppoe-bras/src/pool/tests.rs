use super::*;

fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

fn r(s: &str) -> PoolRange {
    s.parse().unwrap()
}

#[test]
fn reconfigure_keeps_leases_and_uses_the_new_ranges() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
    let a1 = p.allocate("a", None).unwrap();
    let a2 = p.allocate("b", None).unwrap();
    assert!(p.allocate("c", None).is_err(), "full");
    // A range added: new leases come from it; the old ones stay.
    p.reconfigure(Pool::new(
        &[r("10.0.0.1-10.0.0.2"), r("10.0.1.1-10.0.1.1")],
        &[],
    ));
    assert_eq!((p.holder(a1), p.holder(a2)), (Some("a"), Some("b")));
    assert_eq!(p.allocate("c", None), Ok(a("10.0.1.1")));
    // The first range removed while leased: the lease lives on, and
    // once released the address is not handed out again.
    p.reconfigure(Pool::new(&[r("10.0.1.1-10.0.1.1")], &[]));
    assert_eq!(p.holder(a1), Some("a"));
    p.release(a1);
    assert!(p.allocate("d", None).is_err(), "only 10.0.1.1, leased");
    p.release(a("10.0.1.1"));
    assert_eq!(p.allocate("d", None), Ok(a("10.0.1.1")));
}

#[test]
fn inside_prefixes_cover_ranges_exactly_and_statics_outside_them() {
    let mut p = Pool::new(&[r("172.16.0.100-172.16.0.199")], &[]);
    p.reserve_static([a("172.16.0.101"), a("10.9.9.9")]);
    let got = p.inside_prefixes();
    let want: Vec<(Ipv4Addr, u8)> = [
        ("172.16.0.100", 30),
        ("172.16.0.104", 29),
        ("172.16.0.112", 28),
        ("172.16.0.128", 26),
        ("172.16.0.192", 29),
        ("10.9.9.9", 32),
    ]
    .iter()
    .map(|(s, l)| (a(s), *l))
    .collect();
    assert_eq!(got, want);
    // Every address of the range is covered exactly once, no other.
    let covered = |x: u32| {
        got.iter()
            .filter(|(n, l)| {
                let m = if *l == 0 {
                    0
                } else {
                    u32::MAX << (32 - u32::from(*l))
                };
                x & m == u32::from(*n)
            })
            .count()
    };
    for x in u32::from(a("172.16.0.90"))..=u32::from(a("172.16.0.210")) {
        let inside = (100..=199).contains(&(x & 0xff));
        assert_eq!(covered(x), usize::from(inside), "{}", Ipv4Addr::from(x));
    }
    assert_eq!(covering_prefix(&got[..5]), (a("172.16.0.0"), 24));
    assert_eq!(covering_prefix(&got), (a("0.0.0.0"), 0));
    assert_eq!(covering_prefix(&[]), (a("0.0.0.0"), 0));
    assert_eq!(covering_prefix(&[(a("10.9.9.9"), 32)]), (a("10.9.9.9"), 32));
    let mut whole = Vec::new();
    cidrs(0, u32::MAX, &mut whole);
    assert_eq!(whole, vec![(a("0.0.0.0"), 0)]);
}

#[test]
fn parses_ranges_cidrs_and_single_addresses() {
    let x = r("172.16.0.100-172.16.0.199");
    assert_eq!(
        (x.first(), x.last(), x.len()),
        (a("172.16.0.100"), a("172.16.0.199"), 100)
    );
    assert_eq!(r(" 10.0.0.1 - 10.0.0.2 ").len(), 2);
    let c = r("172.16.0.0/24");
    assert_eq!((c.first(), c.last()), (a("172.16.0.1"), a("172.16.0.254")));
    let c = r("10.0.0.0/30");
    assert_eq!((c.first(), c.last()), (a("10.0.0.1"), a("10.0.0.2")));
    let c = r("10.0.0.0/31");
    assert_eq!((c.first(), c.last()), (a("10.0.0.0"), a("10.0.0.1")));
    let c = r("10.0.0.7/32");
    assert_eq!((c.first(), c.last()), (a("10.0.0.7"), a("10.0.0.7")));
    assert_eq!(r("10.1.2.3").len(), 1);
    assert_eq!(r("100.64.0.0/10").len(), (1 << 22) - 2);
    assert_eq!(x.to_string(), "172.16.0.100-172.16.0.199");
}

#[test]
fn refuses_bad_ranges_with_a_fix() {
    let e = "172.16.0.200-172.16.0.100"
        .parse::<PoolRange>()
        .unwrap_err();
    assert_eq!(e, PoolRangeError::Reversed);
    assert!(e.to_string().contains("lower address first"));
    let e = "172.16.0.5/24".parse::<PoolRange>().unwrap_err();
    assert!(e.to_string().contains("write 172.16.0.0/24"), "{e}");
    assert_eq!(
        "10.0.0.0/33".parse::<PoolRange>().unwrap_err(),
        PoolRangeError::BadPrefix("33".into())
    );
    assert_eq!(
        "10.0.0.x-10.0.0.9".parse::<PoolRange>().unwrap_err(),
        PoolRangeError::BadAddress("10.0.0.x".into())
    );
    assert_eq!("".parse::<PoolRange>().unwrap_err(), PoolRangeError::Format);
    assert_eq!(
        "10.0.0.1 10.0.0.2".parse::<PoolRange>().unwrap_err(),
        PoolRangeError::Format
    );
    assert_eq!(
        "0.0.0.0/0".parse::<PoolRange>().unwrap_err(),
        PoolRangeError::Unusable
    );
    assert_eq!(
        "127.0.0.1".parse::<PoolRange>().unwrap_err(),
        PoolRangeError::Unusable
    );
    assert_eq!(
        "223.255.255.250-224.0.0.3"
            .parse::<PoolRange>()
            .unwrap_err(),
        PoolRangeError::Unusable
    );
}

#[test]
fn static_address_is_granted_even_outside_the_ranges() {
    let mut p = Pool::new(&[r("172.16.0.100-172.16.0.101")], &[]);
    assert_eq!(
        p.allocate("u1", Some(a("172.16.0.101"))),
        Ok(a("172.16.0.101"))
    );
    assert_eq!(p.allocate("u2", Some(a("10.9.9.9"))), Ok(a("10.9.9.9")));
    assert_eq!(p.in_use(), 2);
    assert_eq!(p.holder(a("10.9.9.9")), Some("u2"));
    // The static lease in the range uses up one dynamic address.
    assert_eq!(p.allocate("u3", None), Ok(a("172.16.0.100")));
    assert!(p.allocate("u4", None).is_err());
}

#[test]
fn dynamic_allocation_is_round_robin_and_exhausts() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.3")], &[]);
    assert_eq!(p.allocate("a", None), Ok(a("10.0.0.1")));
    assert_eq!(p.allocate("b", None), Ok(a("10.0.0.2")));
    assert_eq!(p.allocate("c", None), Ok(a("10.0.0.3")));
    assert_eq!(p.allocate("d", None), Err(PoolError::Exhausted { size: 3 }));
    assert!(p
        .allocate("d", None)
        .unwrap_err()
        .to_string()
        .contains("widen `pool`"));
    assert_eq!(p.in_use(), 3);
}

#[test]
fn released_address_goes_to_the_back_of_the_queue() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.4")], &[]);
    assert_eq!(p.allocate("a", None), Ok(a("10.0.0.1")));
    assert_eq!(p.allocate("b", None), Ok(a("10.0.0.2")));
    p.release(a("10.0.0.1"));
    assert_eq!(p.in_use(), 1);
    // Someone else gets a fresh address, not the one just released.
    assert_eq!(p.allocate("c", None), Ok(a("10.0.0.3")));
    assert_eq!(p.allocate("d", None), Ok(a("10.0.0.4")));
    // Wraps around to the released one once the rest is used.
    assert_eq!(p.allocate("e", None), Ok(a("10.0.0.1")));
    // Releasing twice or releasing an unknown address is harmless.
    p.release(a("10.0.0.4"));
    p.release(a("10.0.0.4"));
    p.release(a("192.0.2.1"));
    assert_eq!(p.in_use(), 3);
    assert_eq!(p.allocate("f", None), Ok(a("10.0.0.4")));
    assert!(p.allocate("g", None).is_err());
}

#[test]
fn reconnecting_user_gets_its_last_address_back() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.9")], &[]);
    let first = p.allocate("alice", None).unwrap();
    p.allocate("bob", None).unwrap();
    p.release(first);
    assert_eq!(p.allocate("alice", None), Ok(first));
    // If someone else holds it meanwhile, alice gets another one.
    p.release(first);
    let carol = p.allocate("carol", None).unwrap();
    assert_ne!(carol, first);
    let mut q = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
    let x = q.allocate("alice", None).unwrap();
    q.release(x);
    let y = q.allocate("bob", None).unwrap(); // round-robin: the other one
    assert_ne!(x, y);
    let z = q.allocate("dave", None).unwrap(); // only x left
    assert_eq!(z, x);
    q.release(z); // dave now remembers x; alice's memory is dropped
    assert_eq!(q.last_by_user.get("alice"), None);
    assert_eq!(q.last_by_addr.len(), 1);
}

#[test]
fn static_conflicts_fall_back_and_reserved_addresses_stay_reserved() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.3")], &[]);
    p.reserve_static([a("10.0.0.1"), a("10.0.0.2")]);
    // Dynamic users skip both reserved addresses.
    assert_eq!(p.allocate("dyn", None), Ok(a("10.0.0.3")));
    assert!(p.allocate("dyn2", None).is_err());
    // The owner gets its static address.
    assert_eq!(p.allocate("s1", Some(a("10.0.0.1"))), Ok(a("10.0.0.1")));
    // Someone else with the same static (duplicate secrets line) does not.
    p.release(a("10.0.0.3"));
    assert_eq!(p.allocate("s1bis", Some(a("10.0.0.1"))), Ok(a("10.0.0.3")));
    // Busy static and no dynamic left: exhausted.
    assert!(p.allocate("s1ter", Some(a("10.0.0.1"))).is_err());
}

#[test]
fn local_and_unusable_addresses_are_never_leased() {
    let local = a("172.16.0.254");
    let mut p = Pool::new(&[r("172.16.0.252/30")], &[local]);
    // /30 → .253 and .254; .254 is ours.
    assert_eq!(p.allocate("a", None), Ok(a("172.16.0.253")));
    assert!(p.allocate("b", None).is_err());
    // Even as a static address: falls back to the (exhausted) pool.
    assert!(p.allocate("c", Some(local)).is_err());
    let mut q = Pool::new(&[r("10.0.0.1")], &[]);
    assert_eq!(q.allocate("m", Some(a("224.0.0.1"))), Ok(a("10.0.0.1")));
}

#[test]
fn overlapping_ranges_are_merged() {
    let p = Pool::new(
        &[
            r("10.0.0.5-10.0.0.9"),
            r("10.0.0.1-10.0.0.6"),
            r("10.0.0.10"),
        ],
        &[],
    );
    assert_eq!(p.size(), 10);
    assert_eq!(
        p.default.spans,
        vec![(u32::from(a("10.0.0.1")), u32::from(a("10.0.0.10")))]
    );
}

#[test]
fn many_ranges_and_a_big_pool_are_cheap() {
    let mut p = Pool::new(&[r("100.64.0.0/10"), r("192.0.2.0/24")], &[]);
    for i in 0..1000u32 {
        let got = p.allocate(&format!("u{i}"), None).unwrap();
        assert_eq!(u32::from(got), u32::from(a("100.64.0.1")) + i);
    }
    assert_eq!(p.in_use(), 1000);
    let mut q = Pool::new(&[r("10.0.0.1"), r("10.0.1.1")], &[]);
    assert_eq!(q.allocate("a", None), Ok(a("10.0.0.1")));
    assert_eq!(q.allocate("b", None), Ok(a("10.0.1.1")));
    assert!(q.allocate("c", None).is_err());
    let empty = &mut Pool::new(&[], &[]);
    assert_eq!(
        empty.allocate("x", None),
        Err(PoolError::Exhausted { size: 0 })
    );
    assert_eq!(empty.allocate("x", Some(a("10.1.1.1"))), Ok(a("10.1.1.1")));
}

#[test]
fn named_pools_hand_out_their_own_ranges_and_share_one_lease_table() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
    p.add_named("gold", &[r("10.9.0.1-10.9.0.2")]);
    assert_eq!(p.size(), 4);
    assert_eq!(p.allocate_in(Some("gold"), "a", None), Ok(a("10.9.0.1")));
    assert_eq!(p.allocate("b", None), Ok(a("10.0.0.1")));
    assert_eq!(p.allocate_in(Some("gold"), "c", None), Ok(a("10.9.0.2")));
    assert_eq!(
        p.allocate_in(Some("gold"), "d", None),
        Err(PoolError::NamedExhausted {
            name: "gold".into(),
            size: 2
        }),
        "gold is full even though the default ranges are not"
    );
    assert_eq!(
        p.allocate_in(Some("silver"), "d", None),
        Err(PoolError::Unknown("silver".into()))
    );
    assert_eq!(p.named().collect::<Vec<_>>(), vec![("gold", 2, 2)]);
    // A static address wins over the pool named; sticky only inside it.
    assert_eq!(
        p.allocate_in(Some("gold"), "e", Some(a("10.0.0.2"))),
        Ok(a("10.0.0.2"))
    );
    p.release(a("10.0.0.1"));
    p.release(a("10.9.0.1"));
    assert_eq!(
        p.allocate_in(Some("gold"), "b", None),
        Ok(a("10.9.0.1")),
        "b's last address is not in gold"
    );
    assert_eq!(p.named().collect::<Vec<_>>(), vec![("gold", 2, 2)]);
    // The data plane must know the named ranges are inside.
    let inside = p.inside_prefixes();
    assert!(inside.contains(&(a("10.9.0.1"), 32)) && inside.contains(&(a("10.9.0.2"), 32)));
}

#[test]
fn reload_keeps_named_leases_and_counts_them() {
    let mut p = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
    p.add_named("gold", &[r("10.9.0.1-10.9.0.2")]);
    let g = p.allocate_in(Some("gold"), "a", None).unwrap();
    let mut fresh = Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]);
    fresh.add_named("gold", &[r("10.9.0.1-10.9.0.3")]);
    p.reconfigure(fresh);
    assert_eq!(p.holder(g), Some("a"));
    assert_eq!(p.named().collect::<Vec<_>>(), vec![("gold", 3, 1)]);
    // The pool removed: its lease lives on, the name is unknown now.
    p.reconfigure(Pool::new(&[r("10.0.0.1-10.0.0.2")], &[]));
    assert_eq!(p.holder(g), Some("a"));
    assert_eq!(
        p.allocate_in(Some("gold"), "b", None),
        Err(PoolError::Unknown("gold".into()))
    );
    p.release(g);
    assert_eq!(p.in_use(), 0);
}
