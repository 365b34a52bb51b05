//! Protocol numbers the data plane and the control plane both need.

/// EtherType of PPPoE discovery (RFC 2516).
pub const ETH_P_PPP_DISC: u16 = 0x8863;
/// EtherType of PPPoE session (RFC 2516).
pub const ETH_P_PPP_SES: u16 = 0x8864;
/// PPP protocol number for IPv4.
pub const PPP_IPV4: u16 = 0x0021;
