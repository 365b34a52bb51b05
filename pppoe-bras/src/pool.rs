//! IPv4 address leases: static per user, dynamic ranges.
