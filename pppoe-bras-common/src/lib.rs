//! Types shared by the XDP programs and the daemon: map keys and values, map
//! names, protocol constants, the named counters and the pure arithmetic both
//! sides need (checksum updates, NAT port choice). `#![no_std]`; `aya::Pod`
//! impls behind `user`.
#![cfg_attr(not(any(test, feature = "user")), no_std)]

pub mod capture;
pub mod csum;
pub mod maps;
pub mod nat;
pub mod proto;
pub mod stats;
