//! Types shared by the XDP programs and the daemon: map keys and values, map
//! names, protocol constants. `#![no_std]`; `aya::Pod` impls behind `user`.
#![cfg_attr(not(any(test, feature = "user")), no_std)]

pub mod maps;
pub mod proto;
