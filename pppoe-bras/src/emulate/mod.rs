//! Subscriber emulator: PPPoE clients built on the same `wire` and `ppp` code
//! as the BRAS, in the peer role. This kernel has no pppd, so the lab and the
//! tests use this as the CPE.
//!
//! [`Client`] is sans-IO (frames and `now` in; frames, timers and events out);
//! [`main`] is its tokio shell: an AF_PACKET socket on the CPE interface and,
//! for one session, a TUN device carrying the session's IPv4 so ordinary
//! `ping` and sockets in the CPE namespace go through the PPPoE session.
//!
//! [`Profile`]s reproduce the control-plane behaviour of routers seen in the
//! field (`pppoe-bras emulate --profile edgerouter`), for interop tests.
//!
//! One file a job: `client` (one subscriber: settings, events, state, its
//! public face), `discovery` (its PADI…PADS), `session` (its PPP peer and
//! IPv6 once PADS arrived), `fleet` (many clients on one interface, paced),
//! `profile` (the CPE behaviours), `cli` (`pppoe-bras emulate`'s flags and
//! its output lines), `shell` (the tokio loop over AF_PACKET and the TUN).

mod cli;
mod client;
mod discovery;
mod fleet;
mod profile;
mod session;
mod shell;

#[cfg(test)]
mod tests;

pub use cli::{client_mac, parse_qinq, parse_vlan, EmulateArgs};
pub use client::{Client, ClientConfig, ClientEvent};
pub use fleet::{DuplicateClient, Fleet, FleetStats};
pub use profile::Profile;
pub use shell::main;
