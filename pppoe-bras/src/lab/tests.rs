use std::net::Ipv4Addr;

use super::{
    dissect::classify,
    topology::{owner_pid, validate_prefix, Names},
    *,
};

#[test]
fn up_line_parses_every_field() {
    let l = "UP session=0x0001 address=172.16.0.101 peer=172.16.0.254 dns=192.0.2.53,192.0.2.54 mru=1492";
    assert_eq!(
        UpLine::parse(l),
        Some(UpLine {
            session: 1,
            address: Ipv4Addr::new(172, 16, 0, 101),
            peer: Some(LOCAL_IP),
            dns: DNS.to_vec(),
            mru: Some(1492),
        })
    );
}

#[test]
fn up_line_needs_session_and_address() {
    assert_eq!(UpLine::parse("UP address=172.16.0.101"), None);
    assert_eq!(UpLine::parse("UP session=0x0002"), None);
    assert_eq!(UpLine::parse("DOWN session=0x0001 reason=padt"), None);
    let min = UpLine::parse("UP session=2 address=10.0.0.1").expect("minimal line");
    assert_eq!(
        (min.session, min.peer, min.dns.len(), min.mru),
        (2, None, 0, None)
    );
}

#[test]
fn names_fit_the_kernel_limits_and_parse_back() {
    let n = Names::new("pbt", 4_194_304, 65_535);
    for i in [&n.cpe_if, &n.access_if, &n.uplink_if, &n.inet_if] {
        assert!(i.len() < libc::IFNAMSIZ, "{i} too long");
    }
    assert_eq!(n.ns_cpe, "pbt-4194304-65535-cpe");
    assert_eq!(owner_pid("pbt", &n.ns_bras), Some(4_194_304));
    assert_eq!(owner_pid("pb", &n.ns_bras), None);
    assert_eq!(owner_pid("pbt", "pbtx-1-0-cpe"), None);
    assert!(validate_prefix("pbt").is_ok());
    assert!(validate_prefix("a-b").is_err());
    assert!(validate_prefix("").is_err());
}

#[test]
fn classify_tshark_lines() {
    let k = |l: &str| classify(l).kind;
    assert_eq!(k("eth:ethertype:pppoed\t0x09\t0x0000\t\t\t"), "PADI");
    assert_eq!(k("eth:ethertype:pppoed\t0x65\t0x0001\t\t\t"), "PADS");
    assert_eq!(k("eth:ethertype:pppoed\t0xa7\t0x0001\t\t\t"), "PADT");
    let lcp = classify("eth:ethertype:pppoes:ppp:lcp\t0x00\t0x0001\t9\t\t");
    assert_eq!(
        (lcp.kind.as_str(), lcp.detail.as_str(), lcp.session),
        ("LCP", "Echo-Request", 1)
    );
    assert_eq!(
        classify("eth:ethertype:pppoes:ppp:chap\t0x00\t0x0001\t\t3\t").detail,
        "Success"
    );
    assert_eq!(
        k("eth:ethertype:pppoes:ppp:ipcp\t0x00\t0x0001\t1\t\t"),
        "IPCP"
    );
    assert_eq!(
        k("eth:ethertype:pppoes:ppp:ip:icmp\t0x00\t0x0001\t\t\t"),
        "IPv4"
    );
    let udp = classify("eth:ethertype:pppoes:ppp:ip:udp:echo\t0x00\t0x0001\t\t\t");
    assert_eq!((udp.kind.as_str(), udp.detail.as_str()), ("IPv4", "udp"));
    assert_eq!(k("eth:ethertype:pppoed\t\t\t\t\t"), "PPPoED?");
    assert_eq!(k(""), "");
}

#[test]
fn control_sequence_collapses_repeats_and_skips_data() {
    let f = |k: &str| Frame {
        kind: k.into(),
        detail: String::new(),
        session: 1,
    };
    let d = Dissection {
        frames: [
            "PADI", "PADO", "PADR", "PADS", "LCP", "LCP", "CHAP", "IPCP", "IPv4", "LCP", "PADT",
        ]
        .into_iter()
        .map(f)
        .collect(),
        malformed: 0,
    };
    let seq = d.control_sequence();
    assert_eq!(
        seq,
        ["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP", "LCP", "PADT"]
    );
    assert!(contains_in_order(
        &seq,
        &["PADI", "PADS", "CHAP", "IPCP", "PADT"]
    ));
    assert!(!contains_in_order(&seq, &["IPCP", "CHAP"]));
}
