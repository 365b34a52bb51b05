//! pppoe-bras: a PPPoE BRAS whose session data path runs in XDP.
//!
//! Sans-IO (events and `now` in; frames, timers and events out; no socket,
//! file or process of their own): `wire`, `discovery`, `session`, `ppp`,
//! `pool`, `v6`, `auth`, `accounting`, `radius_client`, `dae`, `query`,
//! `state` (encodes and decodes; `driver` writes the file), `pcapng`, and
//! `emulate` apart from its shell. `ppp::rng::Rng::from_os` draws from the
//! OS's randomness.
//!
//! The modules that do I/O:
//! - `driver`: the daemon's tokio event loop (packet socket, timers,
//!   signals, the state file);
//! - `rawsock`: AF_PACKET sockets, interface ioctls, netns entry, TUN;
//! - `dataplane`: the XDP programs and maps through aya, bpffs pins, the
//!   NIC's settings;
//! - `aaa`: the RADIUS and DAE UDP sockets and the `accounting_log` file;
//! - `control`: the Unix control socket (daemon and command side);
//! - `metrics`: the `/metrics` TCP listener ([`metrics::serve`]);
//! - `config`: reads the config file, pppd options files and secrets files;
//! - `capture`: the `capture` command (pinned maps, perf buffers, the
//!   pcapng file, the control socket);
//! - `bench_setup`: a benchmark's data plane and sessions file;
//! - `lab`: network namespaces, processes, echo servers, tshark;
//! - `emulate::shell` (TUN and packet socket) and `emulate::cli` (printing);
//! - `logfmt`: installs the logger that writes to stderr.

pub mod aaa;
pub mod accounting;
pub mod auth;
#[doc(hidden)]
pub mod bench_setup;
pub mod capture;
pub mod config;
pub mod control;
pub mod counters;
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
