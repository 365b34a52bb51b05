//! Protocol numbers the data plane and the control plane both need.
//!
//! The `*_BE` twins are pre-swapped to network byte order so the XDP code can
//! compare raw header fields without a swap (Katran's `BE_ETH_P_IP` habit).

/// EtherType of PPPoE discovery (RFC 2516 §4).
pub const ETH_P_PPP_DISC: u16 = 0x8863;
/// EtherType of PPPoE session (RFC 2516 §4).
pub const ETH_P_PPP_SES: u16 = 0x8864;
/// EtherType of IPv4.
pub const ETH_P_IP: u16 = 0x0800;
/// IEEE 802.1Q customer VLAN tag (also the inner tag of QinQ).
pub const ETH_P_8021Q: u16 = 0x8100;
/// IEEE 802.1ad service VLAN tag (outer tag of QinQ).
pub const ETH_P_8021AD: u16 = 0x88a8;
/// PPP protocol number for IPv4 (RFC 1332).
pub const PPP_IPV4: u16 = 0x0021;
/// PPP protocol number of IPv6 (RFC 5072).
pub const PPP_IPV6: u16 = 0x0057;
/// EtherType of IPv6.
pub const ETH_P_IPV6: u16 = 0x86dd;
/// [`ETH_P_IPV6`] in network byte order.
pub const ETH_P_IPV6_BE: u16 = ETH_P_IPV6.to_be();
/// [`PPP_IPV6`] in network byte order.
pub const PPP_IPV6_BE: u16 = PPP_IPV6.to_be();
/// IPv6 header length.
pub const IPV6_HLEN: usize = 40;
/// PPPoE VER (1) and TYPE (1) packed in one octet (RFC 2516 §4).
pub const PPPOE_VER_TYPE: u8 = 0x11;
/// PPPoE CODE of session data (RFC 2516 §5.5 / §6).
pub const PPPOE_CODE_SESSION: u8 = 0x00;

/// Ethernet header length (no tags).
pub const ETH_HLEN: usize = 14;
/// One 802.1Q/802.1ad tag.
pub const VLAN_HLEN: usize = 4;
/// PPPoE header length (RFC 2516 §4).
pub const PPPOE_HLEN: usize = 6;
/// PPP protocol field (uncompressed).
pub const PPP_PROTO_LEN: usize = 2;
/// PPPoE header plus PPP protocol field: what encapsulation adds to an IPv4 packet.
pub const PPPOE_PPP_LEN: usize = PPPOE_HLEN + PPP_PROTO_LEN;
/// Minimum IPv4 header.
pub const IPV4_MIN_HLEN: usize = 20;

/// IP protocol numbers.
pub const IPPROTO_ICMP: u8 = 1;
/// IP protocol numbers.
pub const IPPROTO_TCP: u8 = 6;
/// IP protocol numbers.
pub const IPPROTO_UDP: u8 = 17;

/// ICMP echo reply type (RFC 792).
pub const ICMP_ECHO_REPLY: u8 = 0;
/// ICMP echo request type (RFC 792).
pub const ICMP_ECHO_REQUEST: u8 = 8;

/// ICMP Destination Unreachable (RFC 792); code 4 = Fragmentation Needed (RFC 1191).
pub const ICMP_DEST_UNREACH: u8 = 3;
/// ICMP Time Exceeded (RFC 792); code 0 = TTL exceeded in transit.
pub const ICMP_TIME_EXCEEDED: u8 = 11;
/// ICMP Parameter Problem (RFC 792).
pub const ICMP_PARAM_PROBLEM: u8 = 12;
/// Destination Unreachable code: Fragmentation Needed and DF set (RFC 1191).
pub const ICMP_FRAG_NEEDED: u8 = 4;
/// ICMP header length (type, code, checksum, 4 bytes of rest of header).
pub const ICMP_HLEN: usize = 8;
/// Bytes of the offending datagram's payload quoted after its header in an
/// ICMP error (RFC 792).
pub const ICMP_QUOTE_L4: usize = 8;

/// TCP header flags (RFC 9293 §3.1).
pub const TCP_FIN: u8 = 0x01;
/// TCP SYN.
pub const TCP_SYN: u8 = 0x02;
/// TCP RST.
pub const TCP_RST: u8 = 0x04;
/// TCP ACK.
pub const TCP_ACK: u8 = 0x10;
/// TCP option kind Maximum Segment Size (RFC 9293 §3.2), length 4.
pub const TCP_OPT_MSS: u8 = 2;
/// IPv4 + TCP headers without options: MSS = MTU − 40 (RFC 9293 §3.7.1).
pub const TCP_IP_HLEN: u16 = 40;

/// [`ETH_P_PPP_DISC`] in network byte order.
pub const ETH_P_PPP_DISC_BE: u16 = ETH_P_PPP_DISC.to_be();
/// [`ETH_P_PPP_SES`] in network byte order.
pub const ETH_P_PPP_SES_BE: u16 = ETH_P_PPP_SES.to_be();
/// [`ETH_P_IP`] in network byte order.
pub const ETH_P_IP_BE: u16 = ETH_P_IP.to_be();
/// [`ETH_P_8021Q`] in network byte order.
pub const ETH_P_8021Q_BE: u16 = ETH_P_8021Q.to_be();
/// [`ETH_P_8021AD`] in network byte order.
pub const ETH_P_8021AD_BE: u16 = ETH_P_8021AD.to_be();
/// [`PPP_IPV4`] in network byte order.
pub const PPP_IPV4_BE: u16 = PPP_IPV4.to_be();
