//! AF_PACKET sockets, interface facts (ifindex, MAC), network-namespace entry.
