//! pppoe-bras: a PPPoE BRAS whose session data path runs in XDP.
//!
//! Everything except `driver`, `rawsock`, `dataplane`, `control` (the
//! socket), `lab` (namespaces and processes) and `emulate`'s I/O shell
//! (`emulate::shell`, and `emulate::cli`'s printing) is sans-IO: events and
//! `now` in, frames, timers and events out.

pub mod aaa;
pub mod accounting;
pub mod auth;
#[doc(hidden)]
pub mod bench_setup;
pub mod capture;
pub mod config;
pub mod control;
pub mod dae;
pub mod dataplane;
pub mod discovery;
pub mod driver;
pub mod emulate;
pub mod lab;
pub mod logfmt;
pub mod metrics;
pub mod pcapng;
pub mod pool;
pub mod ppp;
pub mod query;
pub mod radius_client;
pub mod rawsock;
pub mod session;
pub mod state;
pub mod v6;
pub mod wire;

#[cfg(test)]
mod sim_tests;
#[cfg(test)]
mod test_log;
