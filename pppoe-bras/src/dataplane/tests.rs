use pppoe_bras_common::maps::MAX_NAT;

use super::*;

#[test]
fn nat_table_holds_every_quota_or_start_is_refused() {
    let mut cfg = DataplaneConfig::new("a", "u");
    // Defaults, one address (70 blocks): 70 × 1536 fits the default table.
    assert_eq!(nat_sizing(&cfg, 70).unwrap(), (MAX_NAT, 0));
    // Four addresses: 280 × 1536 = 430,080 > 262,144: auto grows the table.
    assert_eq!(nat_sizing(&cfg, 280).unwrap(), (430_080, 0));
    // An explicit table too small for the quotas is refused, naming the keys.
    cfg.nat_table_size = 262_144;
    let e = nat_sizing(&cfg, 280).unwrap_err().to_string();
    assert!(
        e.contains("280 port blocks") && e.contains("nat_table_size = 430080"),
        "{e}"
    );
    assert!(e.contains("nat_session_mappings = 936 or less"), "{e}");
    // ... unless a per-session cap makes them fit; XDP then enforces it.
    cfg.nat_session_mappings = 936;
    assert_eq!(nat_sizing(&cfg, 280).unwrap(), (262_144, 936));
    // max_sessions bounds the sessions when it is below the blocks.
    cfg.nat_session_mappings = 0;
    cfg.max_sessions = 100;
    assert_eq!(nat_sizing(&cfg, 280).unwrap(), (262_144, 0));
    // A cap at or above 3 blocks is no cap.
    cfg.nat_session_mappings = 5000;
    assert_eq!(nat_sizing(&cfg, 280).unwrap().1, 0);
    // Auto never goes beyond its limit by itself.
    cfg.nat_table_size = 0;
    cfg.max_sessions = 65534;
    cfg.nat_session_mappings = 0;
    let e = nat_sizing(&cfg, 17_920).unwrap_err().to_string();
    assert!(e.contains("automatic limit"), "{e}");
}
