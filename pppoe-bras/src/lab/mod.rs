//! The network-namespace lab: a closed topology for the demo (`pppoe-bras lab`)
//! and the integration tests (`tests/netns_*.rs`).
//!
//! ```text
//!  ns <id>-cpe              ns <id>-bras                         ns <id>-inet
//!  ┌─────────────┐ veth  ┌──────────────────────────────┐ veth ┌───────────────────────┐
//!  │ cpe_if      ├───────┤ access_if       uplink_if    ├──────┤ inet_if 198.51.100.2  │
//!  │ (emulator)  │       │ (no IP)   198.51.100.1/24    │      │ lo: 192.0.2.1/24      │
//!  └─────────────┘       │ 192.0.2.0/24 via .100.2      │      │ UDP+TCP echo on :7    │
//!                        └──────────────────────────────┘      └───────────────────────┘
//! ```
//!
//! No namespace has a default route and nothing is connected to the host's
//! namespace, so no frame of the lab can leave the machine. Everything is
//! deleted when the [`Lab`] drops (also while unwinding from a failed
//! assertion); namespaces left behind by a killed process are removed by
//! [`Lab::cleanup_stale`], which [`Lab::new`] calls first.
//!
//! Test traffic is generated in-process where possible: [`in_netns`] runs a
//! closure on a thread that has `setns(2)`-ed into a namespace, so UDP/TCP
//! round trips ([`udp_round_trip`], [`tcp_round_trip`]) need neither `nc` nor
//! `socat`. External tools used: `ip` (iproute2), `sysctl` (procps; only via
//! `ip netns exec`), `ping`, `tcpdump`, `tshark`, `bpftool`, `python3` with
//! scapy (tests only).
//!
//! One file a job: `topology` (the [`Lab`]: names, veths, addresses, routes),
//! `netns` (entering, listing and deleting namespaces), `launch` (the
//! daemon's and the emulator's command lines and readiness lines),
//! `process` (child processes and their output), `echo` (the echo servers
//! and the round trips against them), `capture` (tcpdump), `dissect`
//! (tshark), `demo` (the steps of `pppoe-bras lab`).

mod capture;
mod demo;
mod dissect;
mod echo;
mod launch;
mod netns;
mod process;
mod topology;

#[cfg(test)]
mod tests;

use std::{
    net::{Ipv4Addr, SocketAddrV4},
    process::Command,
    sync::atomic::{AtomicBool, Ordering},
};

use anyhow::{bail, Context as _};

pub use capture::Capture;
pub use demo::{run_demo, run_demo_with, DemoOptions};
pub use dissect::{contains_in_order, tshark_check, tshark_fields, Dissection, Frame};
pub use echo::{tcp_round_trip, udp_round_trip, EchoRecord, Proto};
pub use launch::{line_fields, BrasOptions, EmuOptions, UpLine};
pub use netns::{in_netns, list_netns};
pub use process::{LabProcess, Stream};
pub use topology::Lab;

use process::run;

/// The BRAS's own address on the PPP links (the subscribers' peer address).
pub const LOCAL_IP: Ipv4Addr = Ipv4Addr::new(172, 16, 0, 254);
/// The classic bench pool.
pub const POOL: &str = "172.16.0.100-172.16.0.199";
/// First and last address of [`POOL`].
pub const POOL_RANGE: (Ipv4Addr, Ipv4Addr) = (
    Ipv4Addr::new(172, 16, 0, 100),
    Ipv4Addr::new(172, 16, 0, 199),
);
/// DNS servers handed out by IPCP (RFC 1877) in the lab.
pub const DNS: [Ipv4Addr; 2] = [Ipv4Addr::new(192, 0, 2, 53), Ipv4Addr::new(192, 0, 2, 54)];
/// The BRAS's uplink address, which is also the NAT address.
pub const UPLINK_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 1);
/// The `inet` namespace's address on the uplink link (the BRAS's next hop).
pub const INET_PEER_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 2);
/// The test host in the `inet` namespace.
pub const TEST_HOST: Ipv4Addr = Ipv4Addr::new(192, 0, 2, 1);
/// The test host's IPv6 address in `inet` (dual-stack lab).
pub const TEST_HOST6: std::net::Ipv6Addr = std::net::Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 1);
/// The test network the BRAS routes to `inet` over IPv6.
pub const TEST_NET6: &str = "2001:db8::/64";
/// The BRAS's uplink IPv6 address, and `inet`'s on the same link.
pub const UPLINK_IP6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 1);
pub const INET_PEER_IP6: std::net::Ipv6Addr =
    std::net::Ipv6Addr::new(0x2001, 0xdb8, 0xffff, 0, 0, 0, 0, 2);
/// The daemon's default IPv6 pools, which `inet` routes to the BRAS.
pub const PREFIX_POOL6: &str = "2001:db8:100::/48";
pub const DELEGATED_POOL6: &str = "2001:db8:200::/40";
/// Port of the UDP and TCP echo servers on [`TEST_HOST`] (RFC 862).
pub const ECHO_PORT: u16 = 7;
/// Where the echo servers listen.
pub const ECHO_ADDR: SocketAddrV4 = SocketAddrV4::new(TEST_HOST, ECHO_PORT);
/// The same echo servers over IPv6, on [`TEST_HOST6`].
pub const ECHO_ADDR6: std::net::SocketAddr =
    std::net::SocketAddr::V6(std::net::SocketAddrV6::new(TEST_HOST6, ECHO_PORT, 0, 0));
/// The classic secrets: two users with static addresses.
pub const CLASSIC_SECRETS: &str = "# client server secret address\n\
testuser1 * \"password\" 172.16.0.101\n\
testuser2 * \"password\" 172.16.0.102\n";
/// A secrets line for a user without a static address (gets one from the pool).
pub const POOL_USER_SECRET: &str = "testuser3 * \"password\"\n";
/// Pin directory of the demo (the daemon's default).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/pppoe-bras";

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

/// True once SIGINT/SIGTERM arrived while [`install_interrupt_handler`] was in
/// force; every wait in this module then gives up early.
pub fn interrupted() -> bool {
    INTERRUPTED.load(Ordering::Relaxed)
}

extern "C" fn on_interrupt(_sig: libc::c_int) {
    INTERRUPTED.store(true, Ordering::Relaxed);
}

/// Make SIGINT and SIGTERM set [`interrupted`] instead of killing the process,
/// so the lab is torn down by the normal `Drop`s.
pub fn install_interrupt_handler() -> anyhow::Result<()> {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is
        // async-signal-safe; `signal` has no other preconditions.
        let prev = unsafe {
            libc::signal(
                sig,
                on_interrupt as extern "C" fn(libc::c_int) as libc::sighandler_t,
            )
        };
        if prev == libc::SIG_ERR {
            bail!("signal({sig}): {}", std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn check_interrupted() -> anyhow::Result<()> {
    if interrupted() {
        bail!("interrupted");
    }
    Ok(())
}

/// Mount bpffs on /sys/fs/bpf if it is not mounted (the daemon pins there).
pub fn ensure_bpffs() -> anyhow::Result<()> {
    let mounts = std::fs::read_to_string("/proc/mounts").context("read /proc/mounts")?;
    let mounted = mounts.lines().any(|l| {
        let mut f = l.split_whitespace();
        let (_dev, mnt, fstype) = (f.next(), f.next(), f.next());
        mnt == Some("/sys/fs/bpf") && fstype == Some("bpf")
    });
    if !mounted {
        run(Command::new("mount").args(["-t", "bpf", "bpf", "/sys/fs/bpf"]))
            .context("mount bpffs on /sys/fs/bpf")?;
    }
    Ok(())
}

/// True when the effective user is root.
pub fn is_root() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// True when `program` is an executable file on PATH.
pub fn have_tool(program: &str) -> bool {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join(program).is_file()))
        .unwrap_or(false)
}
