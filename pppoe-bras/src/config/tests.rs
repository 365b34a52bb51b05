//! The config folder's tests: whole files and flags in, `Config` or the
//! exact message out.

pub(super) use super::*;
pub(super) use crate::auth::{Secret, Verdict};
pub(super) use crate::ppp::Credential;
pub(super) use std::time::Duration;

pub(super) const ORIGIN: &str = "config/bras.toml";

pub(super) fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(
        text,
        ORIGIN,
        Path::new("/etc/pppoe-bras"),
        Overrides::default(),
    )
}

pub(super) fn err(text: &str) -> String {
    parse(text).unwrap_err().to_string()
}

pub(super) const IFACES: &str = "access_interface = \"eth1\"\nuplink_interface = \"eth0\"\n";

pub(super) fn a(s: &str) -> Ipv4Addr {
    s.parse().unwrap()
}

/// A scratch directory for file-based tests.
pub(super) fn scratch(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("pppoe-bras-cfg-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn example_files_load_and_match_the_classic_bench() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../config/bras.toml");
    let cfg = Config::load(&path).unwrap();
    assert_eq!(cfg.access_interface, "eth1");
    assert_eq!(cfg.uplink_interface, "eth0");
    assert_eq!(cfg.local_address, a("172.16.0.254"));
    assert_eq!(cfg.auth, vec![AuthProto::Chap, AuthProto::Pap]);
    assert_eq!(cfg.pool, vec!["172.16.0.100-172.16.0.199".parse().unwrap()]);
    assert_eq!(cfg.dns, vec![a("192.0.2.53"), a("192.0.2.54")]);
    assert_eq!(
        (cfg.link.echo_interval, cfg.link.echo_failure),
        (Duration::from_secs(10), 2)
    );
    assert_eq!(
        cfg.secrets,
        vec![path.parent().unwrap().join("chap-secrets")]
    );
    assert_eq!(cfg.source.as_deref(), Some(path.as_path()));
    let secrets = cfg.secrets().unwrap();
    assert_eq!(secrets.len(), 2);
    let pap = Credential::Pap {
        password: b"password".to_vec(),
    };
    assert_eq!(
        secrets.verify("testuser1", &cfg.discovery.ac_name, &pap),
        Verdict::Accept {
            static_address: Some(a("172.16.0.101"))
        }
    );
    let mut pool = cfg.build_pool(&secrets);
    assert_eq!(
        pool.allocate("testuser2", Some(a("172.16.0.102"))),
        Ok(a("172.16.0.102"))
    );
    // Dynamic users skip the testusers' reserved addresses.
    let mut got = Vec::new();
    while let Ok(x) = pool.allocate("guest", None) {
        got.push(x);
    }
    assert_eq!(got.len(), 98);
    assert!(!got.contains(&a("172.16.0.101")) && !got.contains(&a("172.16.0.254")));
}

#[test]
fn minimal_file_gets_the_defaults() {
    let cfg = parse(IFACES).unwrap();
    let expected = Config {
        access_interface: "eth1".into(),
        uplink_interface: "eth0".into(),
        ..Config::default()
    };
    assert_eq!(cfg, expected);
    assert_eq!(cfg.secrets, vec![PathBuf::from("/etc/ppp/chap-secrets")]);
    assert_eq!(cfg.link.mru, 1492);
    assert_eq!(cfg.xdp_mode, XdpMode::Auto);
}

#[test]
fn every_key_round_trips() {
    let text = r#"
access_interface = "ens1f0"
uplink_interface = "ens1f1"
local_address = "10.255.255.1"
ac_name = "BRAS-1"
service_names = ["internet", "voip"]
secrets = ["/etc/ppp/chap-secrets", "pap-secrets"]
auth = ["pap"]
pool = ["10.0.0.0/22", "10.1.0.10-10.1.0.20"]
dns = ["198.51.100.53"]
nbns = ["198.51.100.137", "198.51.100.138"]
mru = 1480
max_payload = 0
lcp_echo_interval = 0
lcp_echo_failure = 7
auth_timeout = 20
restart_timer = 2
max_configure = 9
max_failure = 4
max_terminate = 3
max_sessions = 1000
max_sessions_per_mac = 1
nat = false
public_address = "198.51.100.1"
public_addresses = ["198.51.100.1", "198.51.100.3"]
mss_clamp = false
access_allow = ["arp", "LLDP"]
isolate_subscribers = true
metrics_listen = "127.0.0.1:9469"
metrics_per_session = true
log_format = "json"
spread = false
port_block_size = 256
first_port = 2048
nat_table_size = 500000
nat_session_mappings = 600
nat_udp_timeout = 120
nat_tcp_timeout = 86400
nat_icmp_timeout = 30
nat_tcp_transitory_timeout = 300
pin_dir = "/sys/fs/bpf/bras2"
xdp_mode = "generic"

[[users]]
name = "lab1"
password = "secret one"
address = "10.9.0.1"
delegated_prefix = "2001:db8:200:4200::/56"

[[users]]
name = "lab2"
password = ""
address = "*"

[pools]
gold = ["10.9.1.0/24", "10.9.2.1-10.9.2.9"]
"#;
    let cfg = parse(text).unwrap();
    let expected = Config {
        access_interface: "ens1f0".into(),
        uplink_interface: "ens1f1".into(),
        local_address: a("10.255.255.1"),
        secrets: vec![
            PathBuf::from("/etc/ppp/chap-secrets"),
            PathBuf::from("/etc/pppoe-bras/pap-secrets"),
        ],
        auth: vec![AuthProto::Pap],
        pool: vec![
            "10.0.0.1-10.0.3.254".parse().unwrap(),
            "10.1.0.10-10.1.0.20".parse().unwrap(),
        ],
        pools: vec![(
            "gold".into(),
            vec![
                "10.9.1.0/24".parse().unwrap(),
                "10.9.2.1-10.9.2.9".parse().unwrap(),
            ],
        )],
        dns: vec![a("198.51.100.53")],
        nbns: vec![a("198.51.100.137"), a("198.51.100.138")],
        link: LinkSettings {
            mru: 1480,
            echo_interval: Duration::from_secs(0),
            echo_failure: 7,
            auth_timeout: Duration::from_secs(20),
            chap_rechallenge: Duration::from_secs(0),
            fsm: crate::ppp::FsmConfig {
                restart: Duration::from_secs(2),
                max_configure: 9,
                max_failure: 4,
                max_terminate: 3,
            },
        },
        discovery: DiscoveryConfig {
            ac_name: "BRAS-1".into(),
            service_names: vec!["internet".into(), "voip".into()],
            max_sessions: 1000,
            max_sessions_per_mac: 1,
            max_payload: 0,
            // Discovery/interop knobs: defaults here, own test below.
            padi_rate_per_mac: Config::default().discovery.padi_rate_per_mac,
            padi_rate_total: None,
            pado_delay: Duration::ZERO,
            max_sessions_per_vlan: 0,
            vlans: vec![],
            ..Config::default().discovery
        },
        nat: false,
        public_address: Some(a("198.51.100.1")),
        public_addresses: vec![a("198.51.100.1"), a("198.51.100.3")],
        mss_clamp: false,
        access_allow: pppoe_bras_common::maps::access_allow::ARP
            | pppoe_bras_common::maps::access_allow::LLDP,
        isolate_subscribers: true,
        metrics_listen: Some("127.0.0.1:9469".parse().unwrap()),
        metrics_per_session: true,
        log_json: true,
        spread: false,
        v6: crate::v6::V6Settings::default(),
        port_block_size: 256,
        first_port: 2048,
        nat_table_size: 500_000,
        nat_session_mappings: 600,
        nat_udp_timeout: 120,
        nat_tcp_timeout: 86400,
        nat_icmp_timeout: 30,
        nat_tcp_transitory_timeout: 300,
        pin_dir: PathBuf::from("/sys/fs/bpf/bras2"),
        xdp_mode: XdpMode::Generic,
        users: vec![
            User {
                name: "lab1".into(),
                password: Secret::new("secret one"),
                address: Some(a("10.9.0.1")),
                ipv6: vec![crate::auth::parse_prefix6("2001:db8:200:4200::/56").unwrap()],
                line: 45,
            },
            User {
                name: "lab2".into(),
                password: Secret::new(""),
                address: None,
                ipv6: vec![],
                line: 51,
            },
        ],
        aaa: AaaConfig::default(),
        source: None,
    };
    assert_eq!(cfg, expected);
    let e = err(&format!(
        "{IFACES}[[users]]\nname = \"x\"\npassword = \"p\"\nipv6_prefix = \"2001:db8:100::/56\"\n"
    ));
    assert!(e.contains("ipv6_prefix must be a /64"), "{e}");
    // Inline passwords stay out of Debug output.
    let dbg = format!("{cfg:?}");
    assert!(!dbg.contains("secret one") && dbg.contains("***"), "{dbg}");
}

#[test]
fn toml_syntax_error_names_line_and_column() {
    let e = err("access_interface = \"eth1\"\nuplink_interface = \"eth0\"\nmru = = 3\n");
    assert!(e.starts_with("config/bras.toml:3:7: "), "{e}");
    let e = err("access_interface = \"eth1\nuplink_interface = \"eth0\"\n");
    assert!(e.starts_with("config/bras.toml:1:"), "{e}");
    assert!(!e.contains('\n'), "one line: {e}");
}

#[test]
fn unknown_keys_are_named_with_the_known_ones() {
    let e = err(&format!("{IFACES}\n# comment\nlcp_echo_intervall = 5\n"));
    assert!(
        e.starts_with("config/bras.toml:5:1: unknown key \"lcp_echo_intervall\"; known keys are "),
        "{e}"
    );
    assert!(e.contains("lcp_echo_interval, lcp_echo_failure"), "{e}");
    let e = err(&format!(
        "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\nadress = \"10.0.0.1\"\n"
    ));
    assert!(
        e.starts_with(
            "config/bras.toml:6:1: unknown key \"adress\"; known keys are name, password, address"
        ),
        "{e}"
    );
    let e = err(&format!("{IFACES}[[users]]\nname = \"u\"\n"));
    assert!(
        e.contains(":3:") && e.contains("missing key \"password\""),
        "{e}"
    );
}

#[test]
fn wrong_types_name_the_line() {
    let e = err(&format!("{IFACES}mru = \"big\"\n"));
    assert!(
        e.starts_with("config/bras.toml:3:7: wrong type: string \"big\", expected a whole number"),
        "{e}"
    );
    let e = err(&format!("{IFACES}nat = \"yes\"\n"));
    assert!(e.starts_with("config/bras.toml:3:7: wrong type"), "{e}");
    let e = err(&format!("{IFACES}pool = [\n  \"10.0.0.1\",\n  42,\n]\n"));
    assert!(e.starts_with("config/bras.toml:5:3: wrong type"), "{e}");
}

#[test]
fn reversed_pool_range_message_is_exact() {
    let text = format!("{IFACES}\n\n# pools\n\npool = [\"172.16.0.200-172.16.0.100\"]\n");
    assert_eq!(
        err(&text),
        "config/bras.toml:7: pool \"172.16.0.200-172.16.0.100\": range end is before its start; \
         write the lower address first"
    );
}

#[test]
fn bad_addresses_name_the_key_and_line() {
    let e = err(&format!("{IFACES}local_address = \"172.16.0.2544\"\n"));
    assert_eq!(
        e,
        "config/bras.toml:3: local_address \"172.16.0.2544\": not an IPv4 address; write it like 172.16.0.254"
    );
    let e = err(&format!("{IFACES}\npublic_address = \"224.0.0.1\"\n"));
    assert!(
        e.starts_with("config/bras.toml:4: public_address \"224.0.0.1\": not a unicast"),
        "{e}"
    );
    let e = err(&format!("{IFACES}dns = [\"192.0.2.53\", \"192.0.2.x\"]\n"));
    assert!(
        e.starts_with("config/bras.toml:3: dns \"192.0.2.x\": not an IPv4"),
        "{e}"
    );
}

#[test]
fn too_many_dns_servers() {
    let e = err(&format!(
        "{IFACES}dns = [\n \"192.0.2.1\",\n \"192.0.2.2\",\n \"192.0.2.3\"]\n"
    ));
    assert!(
        e.starts_with(
            "config/bras.toml:3: dns [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]: at most 2"
        ),
        "{e}"
    );
    let e = err(&format!(
        "{IFACES}nbns = [\"192.0.2.1\", \"192.0.2.2\", \"192.0.2.3\"]\n"
    ));
    assert!(e.starts_with("config/bras.toml:3: nbns"), "{e}");
    assert_eq!(
        parse(&format!("{IFACES}dns = []\n")).unwrap().dns,
        Vec::<Ipv4Addr>::new()
    );
}

#[test]
fn numbers_out_of_range() {
    let e = err(&format!("{IFACES}mru = 9000\n"));
    assert!(
        e.starts_with("config/bras.toml:3: mru 9000: must be from 64 to 1500"),
        "{e}"
    );
    let e = err(&format!("{IFACES}\n\nlcp_echo_failure = 0\n"));
    assert!(
        e.starts_with("config/bras.toml:5: lcp_echo_failure 0: must be from 1 to 1000"),
        "{e}"
    );
    assert!(e.contains("set lcp_echo_interval = 0"), "{e}");
    let e = err(&format!("{IFACES}max_sessions = 65535\n"));
    assert!(
        e.starts_with("config/bras.toml:3: max_sessions 65535"),
        "{e}"
    );
    let e = err(&format!("{IFACES}max_payload = 1000\n"));
    assert!(
        e.contains(":3: max_payload 1000: must be from 1492 to 9000, or 0 to disable"),
        "{e}"
    );
    let e = err(&format!("{IFACES}restart_timer = -1\n"));
    assert!(e.starts_with("config/bras.toml:3: restart_timer -1"), "{e}");
    let e = err(&format!("{IFACES}first_port = 65200\n"));
    assert!(
        e.starts_with("config/bras.toml:3: first_port 65200 leaves no room"),
        "{e}"
    );
    let e = err(&format!(
        "{IFACES}port_block_size = 64512\nfirst_port = 2000\n"
    ));
    assert!(
        e.starts_with("config/bras.toml:3: first_port 2000 leaves no room"),
        "{e}"
    );
}

#[test]
fn auth_and_xdp_mode_words() {
    let e = err(&format!("{IFACES}auth = [\"chap\", \"mschap\"]\n"));
    assert!(
        e.starts_with(
            "config/bras.toml:3: auth \"mschap\": unknown auth method; use \"chap\" or \"pap\""
        ),
        "{e}"
    );
    let e = err(&format!("{IFACES}auth = []\n"));
    assert!(
        e.starts_with("config/bras.toml:3: auth []: offer at least one"),
        "{e}"
    );
    let e = err(&format!("{IFACES}auth = [\"pap\", \"PAP\"]\n"));
    assert!(e.contains(":3: auth \"PAP\": listed twice"), "{e}");
    let e = err(&format!("{IFACES}xdp_mode = \"fast\"\n"));
    assert!(
        e.starts_with("config/bras.toml:3: xdp_mode \"fast\": unknown XDP mode"),
        "{e}"
    );
    assert_eq!(
        parse(&format!("{IFACES}xdp_mode = \"native\"\n"))
            .unwrap()
            .xdp_mode,
        XdpMode::Native
    );
}

#[test]
fn interfaces_required_valid_and_distinct() {
    let e = err("uplink_interface = \"eth0\"\n");
    assert_eq!(
        e,
        "config/bras.toml: access_interface is not set; add `access_interface = \"eth1\"` \
         to the config file or pass --access-interface eth1"
    );
    let e = err("access_interface = \"eth1\"\n");
    assert!(
        e.contains("uplink_interface is not set") && e.contains("--uplink-interface"),
        "{e}"
    );
    let e = err("access_interface = \"eth1\"\nuplink_interface = \"eth1\"\n");
    assert!(
        e.starts_with(
            "config/bras.toml:2: uplink_interface \"eth1\": is also the access_interface"
        ),
        "{e}"
    );
    let e = err("access_interface = \"a-very-long-interface-name\"\nuplink_interface = \"eth1\"\n");
    assert!(
        e.starts_with("config/bras.toml:1: access_interface") && e.contains("1 to 15"),
        "{e}"
    );
}

#[test]
fn other_validation_errors() {
    let e = err(&format!("{IFACES}service_names = [\"a\", \"\"]\n"));
    assert!(
        e.contains(":3: service_names \"\": empty service name"),
        "{e}"
    );
    let e = err(&format!("{IFACES}access_allow = [\"arp\", \"ipx\"]\n"));
    assert!(
        e.contains(":3: access_allow \"ipx\": unknown frame kind; use some of arp, lldp"),
        "{e}"
    );
    let e = err(&format!("{IFACES}log_format = \"xml\"\n"));
    assert!(
        e.contains(":3: log_format \"xml\": use \"text\" or \"json\""),
        "{e}"
    );
    let e = err(&format!("{IFACES}metrics_listen = \"9469\"\n"));
    assert!(
        e.contains(":3: metrics_listen \"9469\": not an address:port"),
        "{e}"
    );
    let e = err(&format!("{IFACES}pin_dir = \"bpf/x\"\n"));
    assert!(
        e.contains(":3: pin_dir \"bpf/x\": must be an absolute path"),
        "{e}"
    );
    let e = err(&format!(
        "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\naddress = \"-\"\n"
    ));
    assert!(e.starts_with("config/bras.toml:6: address \"-\": "), "{e}");
    let e = err(&format!(
        "{IFACES}[[users]]\nname = \"u\"\npassword = \"p\"\n[[users]]\nname = \"u\"\npassword = \"q\"\n"
    ));
    assert!(
        e.starts_with("config/bras.toml:7: name \"u\": a [[users]] table with this name"),
        "{e}"
    );
}

#[test]
fn flags_win_over_the_file() {
    let text =
        format!("{IFACES}pool = [\"10.0.0.0/24\"]\nlcp_echo_interval = 30\nac_name = \"file\"\n");
    let o = Overrides::default()
        .with("access_interface", ["veth-acc"])
        .with("pool", ["10.9.0.1-10.9.0.9"])
        .with("lcp_echo_interval", ["5"])
        .with("dns", Vec::<String>::new())
        .with("auth", ["pap"])
        .with("nat", ["false"])
        .with("xdp_mode", ["skb"])
        .with("secrets", ["rel/secrets"]);
    let cfg = Config::parse(&text, ORIGIN, Path::new("/etc/pppoe-bras"), o).unwrap();
    assert_eq!(cfg.access_interface, "veth-acc");
    assert_eq!(cfg.uplink_interface, "eth0");
    assert_eq!(cfg.pool, vec!["10.9.0.1-10.9.0.9".parse().unwrap()]);
    assert_eq!(cfg.link.echo_interval, Duration::from_secs(5));
    assert_eq!(cfg.discovery.ac_name, "file");
    assert_eq!(cfg.dns, Vec::<Ipv4Addr>::new());
    assert_eq!(cfg.auth, vec![AuthProto::Pap]);
    assert!(!cfg.nat);
    assert_eq!(cfg.xdp_mode, XdpMode::Generic);
    // Flag paths are taken as given (relative to the working directory).
    assert_eq!(cfg.secrets, vec![PathBuf::from("rel/secrets")]);
}

#[test]
fn every_flag_wins() {
    let text = format!("{IFACES}max_sessions = 10\npublic_address = \"198.51.100.1\"\n");
    let o = Overrides::default()
        .with("access_interface", ["a0"])
        .with("uplink_interface", ["u0"])
        .with("local_address", ["10.0.0.254"])
        .with("ac_name", ["flag-ac"])
        .with("service_names", ["isp"])
        .with("secrets", ["/s"])
        .with("pool", ["10.0.0.0/24"])
        .with("dns", ["192.0.2.1", "192.0.2.2"])
        .with("nbns", ["192.0.2.137"])
        .with("auth", ["pap", "chap"])
        .with("lcp_echo_interval", ["1"])
        .with("lcp_echo_failure", ["9"])
        .with("max_sessions", ["20"])
        .with("nat", ["false"])
        .with("pin_dir", ["/sys/fs/bpf/x"])
        .with("xdp_mode", ["native"])
        .with("public_address", ["198.51.100.2"]);
    // Every key with a flag is set above.
    for key in keys::KEYS.iter().filter(|k| k.flag.is_some()) {
        assert!(o.get(key.name).is_some(), "{} not tried", key.name);
    }
    let c = Config::parse(&text, ORIGIN, Path::new("/"), o).unwrap();
    assert_eq!(
        (c.access_interface.as_str(), c.uplink_interface.as_str()),
        ("a0", "u0")
    );
    assert_eq!(c.local_address, a("10.0.0.254"));
    assert_eq!(c.discovery.ac_name, "flag-ac");
    assert_eq!(c.discovery.service_names, vec!["isp".to_string()]);
    assert_eq!(c.secrets, vec![PathBuf::from("/s")]);
    assert_eq!(c.pool, vec!["10.0.0.1-10.0.0.254".parse().unwrap()]);
    assert_eq!(c.dns, vec![a("192.0.2.1"), a("192.0.2.2")]);
    assert_eq!(c.nbns, vec![a("192.0.2.137")]);
    assert_eq!(c.auth, vec![AuthProto::Pap, AuthProto::Chap]);
    assert_eq!(
        (
            c.link.echo_interval,
            c.link.echo_failure,
            c.discovery.max_sessions
        ),
        (Duration::from_secs(1), 9, 20)
    );
    assert!(!c.nat);
    assert_eq!(c.pin_dir, PathBuf::from("/sys/fs/bpf/x"));
    assert_eq!(c.xdp_mode, XdpMode::Native);
    assert_eq!(c.public_address, Some(a("198.51.100.2")));
}

#[test]
fn warnings_for_lab_only_settings() {
    assert!(parse(IFACES).unwrap().warnings().is_empty());
    let c = parse(&format!(
        "{IFACES}nat_udp_timeout = 30\nlcp_echo_interval = 0\n"
    ))
    .unwrap();
    let w = c.warnings();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].starts_with("nat_udp_timeout = 30 is below the 120 s minimum of RFC 4787"));
}

#[test]
fn flags_alone_make_a_config_and_bad_flags_are_named() {
    let o = Overrides::default()
        .with("access_interface", ["eth1"])
        .with("uplink_interface", ["eth0"]);
    let cfg = Config::resolve(None, o.clone()).unwrap();
    assert_eq!(cfg.access_interface, "eth1");
    assert_eq!(cfg.source, None);
    let e = Config::resolve(None, o.clone().with("pool", ["10.0.0.9-10.0.0.1"]))
        .unwrap_err()
        .to_string();
    assert_eq!(
        e,
        "command line: --pool \"10.0.0.9-10.0.0.1\": range end is before its start; write the lower address first"
    );
    let e = Config::resolve(None, o.clone().with("lcp_echo_failure", ["0"]))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("command line: --lcp-echo-failure 0: must be from 1"),
        "{e}"
    );
    let e = Config::resolve(None, Overrides::default())
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("command line: access_interface is not set"),
        "{e}"
    );
    // A bad file value that a flag replaces is never looked at.
    let text = format!("{IFACES}local_address = \"nonsense\"\n");
    let fixed = Overrides::default().with("local_address", ["10.0.0.1"]);
    let cfg = Config::parse(&text, ORIGIN, Path::new("."), fixed).unwrap();
    assert_eq!(cfg.local_address, a("10.0.0.1"));
}

#[test]
fn load_reports_a_missing_file() {
    let e = Config::load(Path::new("/nonexistent/bras.toml"))
        .unwrap_err()
        .to_string();
    assert!(
        e.starts_with("/nonexistent/bras.toml: cannot read config file: "),
        "{e}"
    );
}

/// NBNS from the command line (`--nbns`, or `ms-wins` of a `-O` file)
/// is validated like `--dns`: the same rules, the same messages.
#[test]
fn nbns_flags_are_validated_like_dns_flags() {
    let with = |dns: &[&str], nbns: &[&str]| {
        let o = Overrides::default()
            .with("dns", dns.iter().copied())
            .with("nbns", nbns.iter().copied());
        Config::parse(IFACES, ORIGIN, Path::new("/"), o)
    };
    for bad in [
        "224.0.0.1",
        "0.0.0.0",
        "127.0.0.1",
        "192.0.2",
        "255.255.255.255",
    ] {
        let d = with(&[bad], &[]).unwrap_err().to_string();
        let n = with(&[], &[bad]).unwrap_err().to_string();
        assert!(n.starts_with("command line: --nbns"), "{n}");
        assert_eq!(n.replace("--nbns", "--dns"), d, "{bad}");
    }
    let e = with(&[], &["192.0.2.1", "192.0.2.2", "192.0.2.3"])
        .unwrap_err()
        .to_string();
    assert!(e.contains("at most 2"), "{e}");
    let c = with(&[], &["192.0.2.137", "192.0.2.138"]).unwrap();
    assert_eq!(c.nbns, vec![a("192.0.2.137"), a("192.0.2.138")]);
}

#[test]
fn overrides_cannot_panic_on_odd_text() {
    for s in [
        "", " ", "\u{0}", "é", "1.2.3.4/", "-", "/", "1.2.3.4-", "--",
    ] {
        let o = Overrides::default()
            .with("access_interface", [s])
            .with("uplink_interface", ["eth0"])
            .with("pool", [s])
            .with("dns", [s])
            .with("local_address", [s]);
        let _ = Config::resolve(None, o);
    }
}
