//! Ethernet II header with up to two VLAN tags (802.1Q, QinQ 802.1ad).
