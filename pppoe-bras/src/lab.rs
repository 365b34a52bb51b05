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
use std::{
    fmt,
    fs::File,
    io::{BufRead, BufReader, ErrorKind, Read, Write},
    net::{Ipv4Addr, SocketAddr, SocketAddrV4, TcpListener, TcpStream, UdpSocket},
    os::{fd::AsRawFd, unix::process::CommandExt},
    path::{Path, PathBuf},
    process::{Child, Command, ExitStatus, Output, Stdio},
    sync::{
        atomic::{AtomicBool, AtomicU32, Ordering},
        Arc, Condvar, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};

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
/// The classic secrets: two users with static addresses.
pub const CLASSIC_SECRETS: &str = "# client server secret address\n\
testuser1 * \"password\" 172.16.0.101\n\
testuser2 * \"password\" 172.16.0.102\n";
/// A secrets line for a user without a static address (gets one from the pool).
pub const POOL_USER_SECRET: &str = "testuser3 * \"password\"\n";
/// Pin directory of the demo (the daemon's default).
pub const DEFAULT_PIN_DIR: &str = "/sys/fs/bpf/pppoe-bras";

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);
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

// ---------------------------------------------------------------------------
// Namespaces

/// Move the calling thread into the network namespace `/run/netns/<ns>`.
///
/// Only this thread changes namespace (`setns(2)` with `CLONE_NEWNET`);
/// sockets it opens afterwards belong to `ns` for their whole life.
pub fn enter_netns(ns: &str) -> anyhow::Result<()> {
    let path = Path::new("/run/netns").join(ns);
    let f = File::open(&path).with_context(|| format!("open {}", path.display()))?;
    // SAFETY: plain syscall on a valid, open fd.
    let rc = unsafe { libc::setns(f.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        bail!(
            "setns({}): {}",
            path.display(),
            std::io::Error::last_os_error()
        );
    }
    Ok(())
}

/// Run `f` on a fresh thread inside network namespace `ns` and return its result.
pub fn in_netns<T, F>(ns: &str, f: F) -> anyhow::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> anyhow::Result<T> + Send + 'static,
{
    let ns = ns.to_owned();
    std::thread::Builder::new()
        .name(format!("netns-{ns}"))
        .spawn(move || {
            enter_netns(&ns)?;
            f()
        })
        .context("spawn netns thread")?
        .join()
        .map_err(|_| anyhow!("netns thread panicked"))?
}

/// One UDP echo exchange from namespace `ns`: send `payload` to `dst` on a
/// connected socket and wait up to `timeout` for the same bytes back.
/// Returns the round-trip time.
pub fn udp_round_trip(
    ns: &str,
    dst: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let payload = payload.to_vec();
    in_netns(ns, move || {
        let sock = UdpSocket::bind("0.0.0.0:0").context("bind")?;
        sock.connect(dst)
            .with_context(|| format!("connect {dst}"))?;
        sock.set_read_timeout(Some(timeout))?;
        let start = Instant::now();
        sock.send(&payload).context("send")?;
        let mut buf = vec![0u8; payload.len() + 64];
        let n = sock
            .recv(&mut buf)
            .with_context(|| format!("no UDP echo from {dst} within {timeout:?}"))?;
        let rtt = start.elapsed();
        if buf.get(..n) != Some(&payload[..]) {
            bail!("UDP echo from {dst} returned different bytes ({n} bytes)");
        }
        Ok(rtt)
    })
}

/// One TCP echo exchange from namespace `ns`: connect to `dst`, send
/// `payload`, read the same number of bytes back, all within `timeout`.
/// Returns the time from connect to the last byte (includes the handshake).
pub fn tcp_round_trip(
    ns: &str,
    dst: SocketAddr,
    payload: &[u8],
    timeout: Duration,
) -> anyhow::Result<Duration> {
    let payload = payload.to_vec();
    in_netns(ns, move || {
        let start = Instant::now();
        let mut s = TcpStream::connect_timeout(&dst, timeout)
            .with_context(|| format!("TCP connect {dst}"))?;
        s.set_read_timeout(Some(timeout))?;
        s.set_write_timeout(Some(timeout))?;
        s.write_all(&payload).context("send")?;
        let mut buf = vec![0u8; payload.len()];
        s.read_exact(&mut buf)
            .with_context(|| format!("no TCP echo from {dst} within {timeout:?}"))?;
        let rtt = start.elapsed();
        if buf != payload {
            bail!("TCP echo from {dst} returned different bytes");
        }
        Ok(rtt)
    })
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

/// Run a command to completion; error (with its stderr) when it fails.
fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawn {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

fn ip(args: &[&str]) -> anyhow::Result<String> {
    run(Command::new("ip").args(args))
}

/// Interface offloads set through the legacy ethtool ioctl (so the lab needs
/// no `ethtool` binary).
fn set_offload(ifname: &str, cmd: u32, on: bool) -> anyhow::Result<()> {
    #[repr(C)]
    struct EthtoolValue {
        cmd: u32,
        data: u32,
    }
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        data: *mut EthtoolValue,
        _pad: [u8; 16],
    }
    const SIOCETHTOOL: libc::c_ulong = 0x8946;
    if ifname.len() >= libc::IFNAMSIZ {
        bail!("interface name too long: {ifname}");
    }
    let mut val = EthtoolValue {
        cmd,
        data: u32::from(on),
    };
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data: &mut val,
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // SAFETY: socket() has no preconditions; the fd is closed below.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        bail!("socket: {}", std::io::Error::last_os_error());
    }
    // SAFETY: `req` is a valid ifreq whose data pointer points at a live
    // ethtool_value for the duration of the call.
    let rc = unsafe { libc::ioctl(fd, SIOCETHTOOL as _, &mut req as *mut IfReq) };
    let err = std::io::Error::last_os_error();
    // SAFETY: fd is ours and open.
    unsafe { libc::close(fd) };
    if rc != 0 {
        bail!("SIOCETHTOOL {cmd:#x} on {ifname}: {err}");
    }
    Ok(())
}

const ETHTOOL_STXCSUM: u32 = 0x17;
const ETHTOOL_SGRO: u32 = 0x2c;

/// Names and paths of one lab; everything is derived from `id`.
#[derive(Debug, Clone)]
struct Names {
    id: String,
    ns_cpe: String,
    ns_bras: String,
    ns_inet: String,
    cpe_if: String,
    access_if: String,
    uplink_if: String,
    inet_if: String,
    pin_dir: PathBuf,
    tmp_dir: PathBuf,
}

impl Names {
    fn new(prefix: &str, pid: u32, n: u32) -> Self {
        let id = format!("{prefix}-{pid}-{n}");
        // Interfaces live only inside the lab's namespaces, but unique names
        // keep logs and captures unambiguous: role + pid + counter in hex,
        // at most 3 + 6 + 1 + 4 = 14 characters for pid_max ≤ 2^22.
        let tok = format!("{pid:x}x{:x}", n & 0xffff);
        Names {
            ns_cpe: format!("{id}-cpe"),
            ns_bras: format!("{id}-bras"),
            ns_inet: format!("{id}-inet"),
            cpe_if: format!("cpe{tok}"),
            access_if: format!("acc{tok}"),
            uplink_if: format!("upl{tok}"),
            inet_if: format!("ine{tok}"),
            pin_dir: Path::new("/sys/fs/bpf").join(&id),
            tmp_dir: std::env::temp_dir().join(&id),
            id,
        }
    }

    fn namespaces(&self) -> [&str; 3] {
        [&self.ns_cpe, &self.ns_bras, &self.ns_inet]
    }
}

fn validate_prefix(prefix: &str) -> anyhow::Result<()> {
    if prefix.is_empty()
        || prefix.len() > 16
        || !prefix
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        bail!("lab prefix must be 1-16 characters of [a-z0-9_], got {prefix:?}");
    }
    Ok(())
}

/// Pid parsed from a lab name `<prefix>-<pid>-...`, when the name belongs to `prefix`.
fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Kill every process whose network namespace is `ns` (SIGTERM, then SIGKILL).
fn kill_netns_pids(ns: &str) {
    let pids = |ns: &str| -> Vec<i32> {
        ip(&["netns", "pids", ns])
            .map(|s| {
                s.split_whitespace()
                    .filter_map(|p| p.parse().ok())
                    .collect()
            })
            .unwrap_or_default()
    };
    let first = pids(ns);
    if first.is_empty() {
        return;
    }
    for &p in &first {
        // SAFETY: kill has no memory-safety preconditions.
        unsafe { libc::kill(p, libc::SIGTERM) };
    }
    let deadline = Instant::now() + Duration::from_secs(3);
    while Instant::now() < deadline {
        if pids(ns).is_empty() {
            return;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    for p in pids(ns) {
        // SAFETY: as above.
        unsafe { libc::kill(p, libc::SIGKILL) };
    }
}

fn delete_netns(ns: &str) -> anyhow::Result<()> {
    if !Path::new("/run/netns").join(ns).exists() {
        return Ok(());
    }
    kill_netns_pids(ns);
    ip(&["netns", "del", ns]).map(drop)
}

/// The names of the network namespaces under /run/netns.
pub fn list_netns() -> Vec<String> {
    std::fs::read_dir("/run/netns")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| e.file_name().into_string().ok())
                .collect()
        })
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// The lab

/// A closed cpe ↔ bras ↔ inet topology in three network namespaces, with
/// UDP/TCP echo servers on [`ECHO_ADDR`] in `inet`. Dropping it deletes it.
pub struct Lab {
    names: Names,
    echo: Option<EchoServers>,
}

impl fmt::Debug for Lab {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Lab").field("names", &self.names).finish()
    }
}

impl Lab {
    /// Build a new lab named `<prefix>-<pid>-<counter>`. Needs root.
    ///
    /// First removes leftovers of dead processes with the same prefix
    /// ([`Lab::cleanup_stale`]) and mounts bpffs if needed.
    pub fn new(prefix: &str) -> anyhow::Result<Lab> {
        validate_prefix(prefix)?;
        if !is_root() {
            bail!("the lab needs root (network namespaces, XDP, bpffs)");
        }
        if let Err(e) = Lab::cleanup_stale(prefix) {
            log::warn!("cleanup of stale labs failed: {e:#}");
        }
        ensure_bpffs()?;
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        let names = Names::new(prefix, std::process::id(), n);
        let mut lab = Lab { names, echo: None };
        // From here on, Drop cleans up whatever part was built.
        lab.build()
            .with_context(|| format!("build lab {}", lab.names.id))?;
        Ok(lab)
    }

    fn build(&mut self) -> anyhow::Result<()> {
        let n = self.names.clone();
        std::fs::create_dir_all(&n.tmp_dir)
            .with_context(|| format!("create {}", n.tmp_dir.display()))?;
        // IPv6 off by default (set before the veths exist, so they inherit
        // it): no DAD/MLD chatter in the captures; switched on below where
        // the lab routes IPv6.
        let no_v6 =
            "sysctl -q -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1";
        for ns in n.namespaces() {
            ip(&["netns", "add", ns])?;
            ip(&["-n", ns, "link", "set", "lo", "up"])?;
            self.exec_ok(ns, &no_v6.split_whitespace().collect::<Vec<_>>())?;
        }
        let (cpe, bras, inet) = (&n.ns_cpe, &n.ns_bras, &n.ns_inet);
        let (cpe_if, acc, upl, inet_if) = (&n.cpe_if, &n.access_if, &n.uplink_if, &n.inet_if);
        // Each veth pair is created directly inside its namespaces, so nothing
        // ever appears in the host's namespace. Then, in bras: the access NIC
        // without address, the uplink 198.51.100.1/24, a route to the test
        // network only, forwarding on (bpf_fib_lookup needs it). In inet: the
        // test host on lo and the uplink peer. In cpe: the emulator's NIC,
        // without address (PPPoE needs none). The access link is "baby
        // jumbo" (1508), so RFC 4638 PPP-Max-Payload 1500 fits.
        for cmd in [
            format!("-n {bras} link add {acc} mtu 1508 type veth peer name {cpe_if} mtu 1508 netns {cpe}"),
            format!("-n {bras} link add {upl} type veth peer name {inet_if} netns {inet}"),
            format!("-n {bras} link set {acc} up"),
            format!("-n {bras} addr add 198.51.100.1/24 dev {upl}"),
            format!("-n {bras} link set {upl} up"),
            format!("-n {bras} route add 192.0.2.0/24 via 198.51.100.2"),
            format!("-n {inet} addr add 192.0.2.1/24 dev lo"),
            format!("-n {inet} addr add 198.51.100.2/24 dev {inet_if}"),
            format!("-n {inet} link set {inet_if} up"),
            format!("-n {cpe} link set {cpe_if} up"),
        ] {
            ip(&cmd.split_whitespace().collect::<Vec<_>>())?;
        }
        // IPv6 where the lab routes it: the uplink link, the test host
        // 2001:db8::1 in inet (which routes the BRAS's prefix pools back to
        // it), and new interfaces in cpe (the emulator's TUN); never on the
        // access link (only PPPoE there: no DAD/MLD/RS chatter in captures).
        for (ns, sysctls) in [
            (cpe, vec!["net.ipv6.conf.default.disable_ipv6=0".to_owned()]),
            (
                bras,
                vec![
                    format!("net.ipv6.conf.{upl}.disable_ipv6=0"),
                    format!("net.ipv6.conf.{upl}.accept_ra=0"),
                ],
            ),
            (
                inet,
                vec![
                    format!("net.ipv6.conf.{inet_if}.disable_ipv6=0"),
                    "net.ipv6.conf.lo.disable_ipv6=0".to_owned(),
                ],
            ),
        ] {
            let mut args = vec!["sysctl", "-q", "-w"];
            args.extend(sysctls.iter().map(String::as_str));
            self.exec_ok(ns, &args)?;
        }
        for cmd in [
            format!("-n {bras} -6 addr add {UPLINK_IP6}/64 dev {upl} nodad"),
            format!("-n {bras} -6 route add {TEST_NET6} via {INET_PEER_IP6}"),
            format!("-n {inet} -6 addr add {INET_PEER_IP6}/64 dev {inet_if} nodad"),
            format!("-n {inet} -6 addr add {TEST_HOST6}/128 dev lo"),
            format!("-n {inet} -6 route add {PREFIX_POOL6} via {UPLINK_IP6}"),
            format!("-n {inet} -6 route add {DELEGATED_POOL6} via {UPLINK_IP6}"),
        ] {
            ip(&cmd.split_whitespace().collect::<Vec<_>>())?;
        }
        let sysctl = "sysctl -q -w net.ipv4.ip_forward=1 net.ipv4.conf.all.forwarding=1";
        self.exec_ok(bras, &sysctl.split_whitespace().collect::<Vec<_>>())?;
        // The ends facing the BRAS receive frames that XDP_REDIRECTs into
        // their peer; a veth accepts those only with GRO (NAPI) or an XDP
        // program on it. Transmit checksum offload off, so frames the XDP
        // programs see carry complete checksums (no CHECKSUM_PARTIAL).
        for (ns, ifname) in [(&n.ns_cpe, &n.cpe_if), (&n.ns_inet, &n.inet_if)] {
            let (ns, ifname) = (ns.clone(), ifname.clone());
            in_netns(&ns, move || {
                set_offload(&ifname, ETHTOOL_SGRO, true)?;
                set_offload(&ifname, ETHTOOL_STXCSUM, false)
            })?;
        }
        self.echo = Some(EchoServers::start(&n.ns_inet, ECHO_ADDR)?);
        // Resolve the BRAS's next hop, as on any live network: bpf_fib_lookup
        // answers NO_NEIGH for a cold neighbour and the first packet is lost
        // (tests of that case call `flush_neighbours` first).
        self.exec_ok(bras, &["ping", "-c", "1", "-W", "2", "198.51.100.2"])
            .context("prime the uplink neighbour")?;
        let peer6 = INET_PEER_IP6.to_string();
        self.exec_ok(bras, &["ping", "-6", "-c", "1", "-W", "2", &peer6])
            .context("prime the uplink's IPv6 neighbour")?;
        Ok(())
    }

    /// Delete namespaces (and their processes) and pin directories left by
    /// dead processes of this prefix. Returns how many namespaces it removed.
    pub fn cleanup_stale(prefix: &str) -> anyhow::Result<usize> {
        validate_prefix(prefix)?;
        let mut removed = 0;
        for ns in list_netns() {
            match owner_pid(prefix, &ns) {
                Some(pid) if !pid_alive(pid) => {
                    delete_netns(&ns)?;
                    removed += 1;
                }
                _ => {}
            }
        }
        if let Ok(rd) = std::fs::read_dir("/sys/fs/bpf") {
            for e in rd.filter_map(|e| e.ok()) {
                let name = e.file_name().to_string_lossy().into_owned();
                if matches!(owner_pid(prefix, &name), Some(pid) if !pid_alive(pid)) {
                    let _ = std::fs::remove_dir_all(e.path());
                }
            }
        }
        Ok(removed)
    }

    /// `<prefix>-<pid>-<n>`, the stem of every name of this lab.
    pub fn id(&self) -> &str {
        &self.names.id
    }
    /// Namespace of the subscriber side (the emulator runs here).
    pub fn ns_cpe(&self) -> &str {
        &self.names.ns_cpe
    }
    /// Namespace of the BRAS.
    pub fn ns_bras(&self) -> &str {
        &self.names.ns_bras
    }
    /// Namespace of the upstream network and the test host.
    pub fn ns_inet(&self) -> &str {
        &self.names.ns_inet
    }
    /// The emulator's interface, in [`Lab::ns_cpe`].
    pub fn cpe_if(&self) -> &str {
        &self.names.cpe_if
    }
    /// The BRAS's access interface, in [`Lab::ns_bras`].
    pub fn access_if(&self) -> &str {
        &self.names.access_if
    }
    /// The BRAS's uplink interface, in [`Lab::ns_bras`].
    pub fn uplink_if(&self) -> &str {
        &self.names.uplink_if
    }
    /// The upstream end of the uplink, in [`Lab::ns_inet`].
    pub fn inet_if(&self) -> &str {
        &self.names.inet_if
    }
    /// A pin directory unique to this lab (`/sys/fs/bpf/<id>`), removed on drop.
    pub fn pin_dir(&self) -> &Path {
        &self.names.pin_dir
    }
    /// A scratch directory (secrets, captures), removed on drop unless panicking.
    pub fn tmp_dir(&self) -> &Path {
        &self.names.tmp_dir
    }

    /// A [`Command`] that runs `args` inside `ns` through `ip netns exec`.
    pub fn command_in(&self, ns: &str, args: &[&str]) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", ns]).args(args);
        c
    }

    /// Run `args` in `ns` to completion and return its output, whatever its status.
    pub fn exec(&self, ns: &str, args: &[&str]) -> anyhow::Result<Output> {
        self.command_in(ns, args)
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("ip netns exec {ns} {}", args.join(" ")))
    }

    /// Run `args` in `ns`; its stdout, or an error with its stderr when it fails.
    pub fn exec_ok(&self, ns: &str, args: &[&str]) -> anyhow::Result<String> {
        run(&mut self.command_in(ns, args))
    }

    /// Start `args` in `ns` in the background (prefer the daemon's and the
    /// emulator's own `--netns` flag: see [`Lab::start_bras`]).
    pub fn spawn_in(&self, ns: &str, name: &str, args: &[&str]) -> anyhow::Result<LabProcess> {
        LabProcess::spawn(name, self.command_in(ns, args))
    }

    /// Write `contents` to `<tmp_dir>/<file>` and return the path.
    pub fn write_file(&self, file: &str, contents: &str) -> anyhow::Result<PathBuf> {
        let p = self.names.tmp_dir.join(file);
        std::fs::write(&p, contents).with_context(|| format!("write {}", p.display()))?;
        Ok(p)
    }

    /// Write [`CLASSIC_SECRETS`] plus `extra` lines to a chap-secrets style file.
    pub fn write_secrets(&self, extra: &str) -> anyhow::Result<PathBuf> {
        let n = LAB_COUNTER.fetch_add(1, Ordering::Relaxed);
        self.write_file(
            &format!("secrets-{n}"),
            &format!("{CLASSIC_SECRETS}{extra}"),
        )
    }

    /// MAC address of `ifname` in `ns`, as `aa:bb:cc:dd:ee:ff`.
    pub fn mac_of(&self, ns: &str, ifname: &str) -> anyhow::Result<String> {
        let out = ip(&["-n", ns, "-br", "link", "show", "dev", ifname])?;
        out.split_whitespace()
            .nth(2)
            .filter(|m| m.len() == 17)
            .map(str::to_owned)
            .ok_or_else(|| anyhow!("no MAC in `ip -br link` output: {out:?}"))
    }

    /// Interfaces in the bras namespace that have an XDP program attached
    /// (from `ip -d link show`).
    pub fn xdp_attached(&self) -> anyhow::Result<Vec<String>> {
        let out = ip(&["-n", self.ns_bras(), "-d", "-o", "link", "show"])?;
        Ok(out
            .lines()
            .filter(|l| l.contains(" xdp") || l.contains("prog/xdp"))
            .filter_map(|l| l.split(':').nth(1))
            .map(|s| s.trim().split('@').next().unwrap_or_default().to_owned())
            .collect())
    }

    /// Forget every neighbour (ARP) entry in `ns`.
    pub fn flush_neighbours(&self, ns: &str) -> anyhow::Result<()> {
        ip(&["-n", ns, "neigh", "flush", "all"]).map(drop)
    }

    /// Everything the echo servers received so far.
    pub fn echo_log(&self) -> Vec<EchoRecord> {
        self.echo
            .as_ref()
            .map(|e| e.log.lock().map(|l| l.clone()).unwrap_or_default())
            .unwrap_or_default()
    }

    /// Capture on `iface` in `ns` into `file` with tcpdump until the guard drops.
    pub fn tcpdump(&self, ns: &str, iface: &str, file: &Path) -> anyhow::Result<Capture> {
        Capture::start(self, ns, iface, file)
    }

    /// The daemon command line for `opts` (`<exe> run --netns <bras> ...`).
    pub fn bras_command(&self, exe: &Path, opts: &BrasOptions) -> Command {
        let mut c = Command::new(exe);
        c.args(["run", "--netns", self.ns_bras(), "-I", self.access_if()])
            .args(["-U", self.uplink_if(), "-L"])
            .arg(LOCAL_IP.to_string());
        for s in &opts.secrets {
            c.arg("--secrets").arg(s);
        }
        for p in &opts.pool {
            c.args(["--pool", p]);
        }
        for d in &opts.dns {
            c.arg("--dns").arg(d.to_string());
        }
        c.args(["--auth", &opts.auth])
            .args(["--lcp-echo-interval", &opts.lcp_echo_interval.to_string()])
            .args(["--lcp-echo-failure", &opts.lcp_echo_failure.to_string()])
            .arg("--pin-dir")
            .arg(&opts.pin_dir);
        if let Some(m) = &opts.xdp_mode {
            c.args(["--xdp-mode", m]);
        }
        if !opts.extra.iter().any(|a| a == "--control-socket") {
            // Each lab's daemon its own socket, so labs can run side by side.
            c.arg("--control-socket").arg(self.control_socket());
        }
        c.args(&opts.extra);
        if std::env::var_os("RUST_LOG").is_none() {
            c.env("RUST_LOG", "info");
        }
        c
    }

    /// The control socket of this lab's daemon (`pppoe-bras sessions
    /// --control-socket …`), unless the test passed its own.
    pub fn control_socket(&self) -> PathBuf {
        self.tmp_dir().join("control.sock")
    }

    /// Start the daemon and wait for its `ready access=<if> ...` log line.
    pub fn start_bras(&self, exe: &Path, opts: &BrasOptions) -> anyhow::Result<LabProcess> {
        let mut p = LabProcess::spawn("bras", self.bras_command(exe, opts))?;
        let want = format!("access={}", self.access_if());
        let ready = |l: &str| l.contains("ready ") && l.contains(&want);
        if p.wait_stderr(ready, opts.ready_timeout)?.is_some() {
            return Ok(p);
        }
        match p.wait_timeout(Duration::from_millis(200))? {
            Some(status) => bail!(
                "daemon exited ({status}) before `ready`; its last output:\n{}",
                p.tail(20)
            ),
            None => bail!(
                "daemon not ready within {:?}; its last output:\n{}",
                opts.ready_timeout,
                p.tail(20)
            ),
        }
    }

    /// The emulator command line for `opts` (`<exe> emulate --netns <cpe> -I <cpe_if> ...`).
    pub fn emulator_command(&self, exe: &Path, opts: &EmuOptions) -> Command {
        let mut c = Command::new(exe);
        c.args(["emulate", "--netns", self.ns_cpe(), "-I", self.cpe_if()])
            .args(["--user", &opts.user, "--password", &opts.password]);
        if let Some(a) = &opts.auth {
            c.args(["--auth", a]);
        }
        if let Some(n) = opts.sessions {
            c.args(["--sessions", &n.to_string()]);
        }
        if let Some(t) = &opts.tun {
            // The cpe namespace is the CPE: its WAN is its default route.
            c.args(["--tun", t, "--default-route"]);
        }
        if let Some(m) = opts.mru {
            c.args(["--mru", &m.to_string()]);
        }
        if opts.no_dns {
            c.arg("--no-dns");
        }
        if let Some(t) = opts.timeout_secs {
            c.args(["--timeout", &t.to_string()]);
        }
        if let Some(i) = opts.lcp_echo_interval {
            c.args(["--lcp-echo-interval", &i.to_string()]);
        }
        c.args(&opts.extra);
        if std::env::var_os("RUST_LOG").is_none() {
            c.env("RUST_LOG", "info");
        }
        c
    }

    /// Start the emulator (does not wait; see [`LabProcess::wait_up`]).
    pub fn start_emulator(&self, exe: &Path, opts: &EmuOptions) -> anyhow::Result<LabProcess> {
        LabProcess::spawn("emu", self.emulator_command(exe, opts))
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(e) = self.echo.take() {
            e.stop();
        }
        // A daemon killed in the lab leaves its state file for a successor.
        let _ = std::fs::remove_file(crate::state::default_path(&self.names.pin_dir));
        for ns in self.names.namespaces() {
            if let Err(e) = delete_netns(ns) {
                eprintln!("lab {}: {e:#}", self.names.id);
            }
        }
        if self.names.pin_dir.exists() {
            let _ = std::fs::remove_dir_all(&self.names.pin_dir);
        }
        if std::thread::panicking() {
            eprintln!(
                "lab {}: kept {} for inspection",
                self.names.id,
                self.names.tmp_dir.display()
            );
        } else {
            let _ = std::fs::remove_dir_all(&self.names.tmp_dir);
        }
    }
}

/// The daemon's options in the lab; [`BrasOptions::classic`] is the bench setup.
#[derive(Debug, Clone)]
pub struct BrasOptions {
    /// `--pin-dir`.
    pub pin_dir: PathBuf,
    /// `--secrets`, one per file.
    pub secrets: Vec<PathBuf>,
    /// `--pool` ranges.
    pub pool: Vec<String>,
    /// `--dns` servers.
    pub dns: Vec<Ipv4Addr>,
    /// `--auth` (e.g. `chap,pap`).
    pub auth: String,
    /// `--lcp-echo-interval` in seconds.
    pub lcp_echo_interval: u32,
    /// `--lcp-echo-failure`.
    pub lcp_echo_failure: u32,
    /// `--xdp-mode` (daemon default when `None`).
    pub xdp_mode: Option<String>,
    /// Appended verbatim.
    pub extra: Vec<String>,
    /// How long [`Lab::start_bras`] waits for the `ready` line.
    pub ready_timeout: Duration,
}

impl BrasOptions {
    /// The classic bench settings with the given pin dir and secrets file.
    pub fn classic(pin_dir: &Path, secrets: &Path) -> Self {
        BrasOptions {
            pin_dir: pin_dir.to_owned(),
            secrets: vec![secrets.to_owned()],
            pool: vec![POOL.to_owned()],
            dns: DNS.to_vec(),
            auth: "chap,pap".to_owned(),
            lcp_echo_interval: 10,
            lcp_echo_failure: 2,
            xdp_mode: None,
            extra: Vec::new(),
            ready_timeout: Duration::from_secs(20),
        }
    }
}

/// The emulator's options in the lab.
#[derive(Debug, Clone, Default)]
pub struct EmuOptions {
    /// `--user`.
    pub user: String,
    /// `--password`.
    pub password: String,
    /// `--auth chap|pap|any`.
    pub auth: Option<String>,
    /// `--sessions N`.
    pub sessions: Option<u32>,
    /// `--tun NAME`.
    pub tun: Option<String>,
    /// `--mru N`.
    pub mru: Option<u16>,
    /// `--no-dns`.
    pub no_dns: bool,
    /// `--timeout SECS`.
    pub timeout_secs: Option<u32>,
    /// `--lcp-echo-interval SECS`.
    pub lcp_echo_interval: Option<u32>,
    /// Appended verbatim.
    pub extra: Vec<String>,
}

impl EmuOptions {
    /// One session of `user` with the classic password.
    pub fn user(user: &str) -> Self {
        EmuOptions {
            user: user.to_owned(),
            password: "password".to_owned(),
            ..Default::default()
        }
    }
}

/// The emulator's `UP session=0x0001 address=... peer=... dns=a,b mru=1492` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpLine {
    /// PPPoE session id.
    pub session: u16,
    /// Address IPCP gave the subscriber.
    pub address: Ipv4Addr,
    /// The BRAS's address (IPCP peer).
    pub peer: Option<Ipv4Addr>,
    /// DNS servers (RFC 1877), possibly empty.
    pub dns: Vec<Ipv4Addr>,
    /// Negotiated MRU.
    pub mru: Option<u16>,
}

/// `session=0x0001` → 1 (also accepts decimal).
fn parse_session_id(s: &str) -> Option<u16> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(h) => u16::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// `key=value` pairs of a whitespace-separated line.
pub fn line_fields(line: &str) -> impl Iterator<Item = (&str, &str)> {
    line.split_whitespace().filter_map(|t| t.split_once('='))
}

impl UpLine {
    /// Parse an `UP ...` line; `None` when it is not one or lacks session/address.
    pub fn parse(line: &str) -> Option<UpLine> {
        let rest = line.trim().strip_prefix("UP ")?;
        let (mut session, mut address, mut peer, mut dns, mut mru) =
            (None, None, None, vec![], None);
        for (k, v) in line_fields(rest) {
            match k {
                "session" => session = parse_session_id(v),
                "address" => address = v.parse().ok(),
                "peer" => peer = v.parse().ok(),
                "dns" => dns = v.split(',').filter_map(|a| a.parse().ok()).collect(),
                "mru" => mru = v.parse().ok(),
                _ => {}
            }
        }
        Some(UpLine {
            session: session?,
            address: address?,
            peer,
            dns,
            mru,
        })
    }
}

// ---------------------------------------------------------------------------
// Child processes

#[derive(Default)]
struct OutputLines {
    stdout: Vec<String>,
    stderr: Vec<String>,
    open_streams: u8,
}

struct Shared {
    lines: Mutex<OutputLines>,
    cv: Condvar,
}

/// A background process (daemon, emulator, tcpdump) whose stdout and stderr
/// are collected line by line (and echoed to stderr as `[name] line`).
/// Dropping it terminates it (SIGTERM, then SIGKILL after 5 s).
pub struct LabProcess {
    name: String,
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl fmt::Debug for LabProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabProcess")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish()
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LabProcess {
    /// Spawn `cmd` with stdin closed and stdout/stderr collected.
    ///
    /// The child gets its own process group (a Ctrl-C on the terminal reaches
    /// only us, and we stop children in order) and `PR_SET_PDEATHSIG`
    /// SIGTERM, so it does not outlive a killed test or demo.
    pub fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<LabProcess> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
        let shared = Arc::new(Shared {
            lines: Mutex::new(OutputLines {
                open_streams: 2,
                ..Default::default()
            }),
            cv: Condvar::new(),
        });
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(Self::reader(name, Stream::Stdout, out, shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(Self::reader(name, Stream::Stderr, err, shared.clone()));
        }
        Ok(LabProcess {
            name: name.to_owned(),
            child,
            shared,
            readers,
            status: None,
        })
    }

    fn reader(
        name: &str,
        stream: Stream,
        pipe: impl Read + Send + 'static,
        shared: Arc<Shared>,
    ) -> JoinHandle<()> {
        let tag = match stream {
            Stream::Stdout => format!("[{name}] "),
            Stream::Stderr => format!("[{name}!] "),
        };
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                        eprintln!("{tag}{line}");
                        if let Ok(mut l) = shared.lines.lock() {
                            match stream {
                                Stream::Stdout => l.stdout.push(line),
                                Stream::Stderr => l.stderr.push(line),
                            }
                        }
                        shared.cv.notify_all();
                    }
                }
            }
            if let Ok(mut l) = shared.lines.lock() {
                l.open_streams = l.open_streams.saturating_sub(1);
            }
            shared.cv.notify_all();
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lines printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.stdout.clone())
            .unwrap_or_default()
    }

    /// Lines printed on stderr (the log) so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.stderr.clone())
            .unwrap_or_default()
    }

    /// The last `n` lines of each stream, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let mut s = String::new();
        for (label, lines) in [
            ("stdout", self.stdout_lines()),
            ("stderr", self.stderr_lines()),
        ] {
            let from = lines.len().saturating_sub(n);
            for l in &lines[from..] {
                s.push_str(&format!("  {label}: {l}\n"));
            }
        }
        s
    }

    /// Wait until a line of `stream` (already printed or new) matches `pred`.
    /// `Ok(None)` on timeout or when the stream closed without a match;
    /// `Err` when [`interrupted`].
    pub fn wait_line(
        &self,
        stream: Stream,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .shared
            .lines
            .lock()
            .map_err(|_| anyhow!("output lock poisoned"))?;
        loop {
            check_interrupted()?;
            let lines = match stream {
                Stream::Stdout => &guard.stdout,
                Stream::Stderr => &guard.stderr,
            };
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Ok(Some(l.clone()));
            }
            let now = Instant::now();
            if now >= deadline || guard.open_streams == 0 {
                return Ok(None);
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            guard = self
                .shared
                .cv
                .wait_timeout(guard, slice)
                .map_err(|_| anyhow!("output lock poisoned"))?
                .0;
        }
    }

    /// [`LabProcess::wait_line`] on stdout.
    pub fn wait_stdout(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        self.wait_line(Stream::Stdout, pred, timeout)
    }

    /// [`LabProcess::wait_line`] on stderr.
    pub fn wait_stderr(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        self.wait_line(Stream::Stderr, pred, timeout)
    }

    /// Wait for the emulator's `UP ...` line and parse it.
    pub fn wait_up(&self, timeout: Duration) -> anyhow::Result<UpLine> {
        match self.wait_stdout(|l| l.starts_with("UP "), timeout)? {
            Some(l) => UpLine::parse(&l).ok_or_else(|| anyhow!("unparsable UP line: {l:?}")),
            None => bail!(
                "{}: no UP line within {timeout:?}; its last output:\n{}",
                self.name,
                self.tail(20)
            ),
        }
    }

    /// Send `sig` (e.g. `libc::SIGSTOP`) to the child.
    pub fn signal(&self, sig: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill has no memory-safety preconditions.
        if unsafe { libc::kill(pid, sig) } != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Wait up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                // Let the readers drain what the child printed last.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status
    /// (of the SIGTERM, if the child obeyed in time).
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        let _ = self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM)?;
        if let Some(s) = self.wait_timeout(timeout)? {
            return Ok(s);
        }
        let _ = self.child.kill();
        let s = self.child.wait()?;
        self.status = Some(s);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Ok(s)
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(5));
    }
}

// ---------------------------------------------------------------------------
// Echo servers

/// Which echo server saw a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// The UDP echo server.
    Udp,
    /// The TCP echo server.
    Tcp,
}

/// One datagram (UDP) or one read (TCP) seen by the echo servers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EchoRecord {
    /// Server.
    pub proto: Proto,
    /// Source address as seen by the test host (the NAT address, through the BRAS).
    pub from: SocketAddr,
    /// The first bytes received (at most 256).
    pub data: Vec<u8>,
}

const ECHO_LOG_MAX: usize = 10_000;

struct EchoServers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    log: Arc<Mutex<Vec<EchoRecord>>>,
}

fn record(log: &Mutex<Vec<EchoRecord>>, proto: Proto, from: SocketAddr, data: &[u8]) {
    if let Ok(mut l) = log.lock() {
        if l.len() < ECHO_LOG_MAX {
            let data = data.get(..256).unwrap_or(data).to_vec();
            l.push(EchoRecord { proto, from, data });
        }
    }
}

impl EchoServers {
    /// Bind UDP and TCP echo servers on `addr` inside `ns`; returns once both listen.
    fn start(ns: &str, addr: SocketAddrV4) -> anyhow::Result<EchoServers> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let mut threads = Vec::new();

        let (ns_u, stop_u, log_u, tx_u) = (ns.to_owned(), stop.clone(), log.clone(), tx.clone());
        threads.push(std::thread::spawn(move || {
            let sock = enter_netns(&ns_u).and_then(|()| {
                let s = UdpSocket::bind(addr).with_context(|| format!("bind udp {addr}"))?;
                s.set_read_timeout(Some(Duration::from_millis(100)))?;
                Ok(s)
            });
            let sock = match sock {
                Ok(s) => {
                    let _ = tx_u.send(Ok(()));
                    s
                }
                Err(e) => {
                    let _ = tx_u.send(Err(e));
                    return;
                }
            };
            let mut buf = [0u8; 65536];
            while !stop_u.load(Ordering::Relaxed) {
                match sock.recv_from(&mut buf) {
                    Ok((n, from)) => {
                        let data = buf.get(..n).unwrap_or_default();
                        record(&log_u, Proto::Udp, from, data);
                        let _ = sock.send_to(data, from);
                    }
                    Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        }));

        let (ns_t, stop_t, log_t) = (ns.to_owned(), stop.clone(), log.clone());
        threads.push(std::thread::spawn(move || {
            let listener = enter_netns(&ns_t).and_then(|()| {
                let l = TcpListener::bind(addr).with_context(|| format!("bind tcp {addr}"))?;
                l.set_nonblocking(true)?;
                Ok(l)
            });
            let listener = match listener {
                Ok(l) => {
                    let _ = tx.send(Ok(()));
                    l
                }
                Err(e) => {
                    let _ = tx.send(Err(e));
                    return;
                }
            };
            let mut conns: Vec<JoinHandle<()>> = Vec::new();
            while !stop_t.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((s, from)) => {
                        let (stop_c, log_c) = (stop_t.clone(), log_t.clone());
                        conns.push(std::thread::spawn(move || {
                            tcp_echo_conn(s, from, &stop_c, &log_c)
                        }));
                    }
                    Err(e) if e.kind() == ErrorKind::WouldBlock => {
                        std::thread::sleep(Duration::from_millis(20))
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(20)),
                }
                conns.retain(|c| !c.is_finished());
            }
            for c in conns {
                let _ = c.join();
            }
        }));

        let servers = EchoServers { stop, threads, log };
        for _ in 0..2 {
            match rx.recv_timeout(Duration::from_secs(5)) {
                Ok(Ok(())) => {}
                Ok(Err(e)) => {
                    servers.stop();
                    return Err(e);
                }
                Err(_) => {
                    servers.stop();
                    bail!("echo servers did not start");
                }
            }
        }
        Ok(servers)
    }

    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

fn tcp_echo_conn(
    mut s: TcpStream,
    from: SocketAddr,
    stop: &AtomicBool,
    log: &Mutex<Vec<EchoRecord>>,
) {
    if s.set_nonblocking(false).is_err()
        || s.set_read_timeout(Some(Duration::from_millis(100)))
            .is_err()
    {
        return;
    }
    let mut buf = [0u8; 16384];
    while !stop.load(Ordering::Relaxed) {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(n) => {
                let data = buf.get(..n).unwrap_or_default();
                record(log, Proto::Tcp, from, data);
                if s.write_all(data).is_err() {
                    return;
                }
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(_) => return,
        }
    }
}

// ---------------------------------------------------------------------------
// Captures

/// A running `tcpdump -U -w FILE`; stopped (and the file flushed) on drop or [`Capture::stop`].
#[derive(Debug)]
pub struct Capture {
    proc: Option<LabProcess>,
    file: PathBuf,
}

impl Capture {
    fn start(lab: &Lab, ns: &str, iface: &str, file: &Path) -> anyhow::Result<Capture> {
        let file_s = file.to_string_lossy().into_owned();
        // -Z root: Debian's tcpdump drops to user `tcpdump`, which may not be
        // able to write into our temp dir. --immediate-mode: without it frames
        // wait up to a second in the ring and are lost when we stop tcpdump.
        let args = [
            "tcpdump",
            "--immediate-mode",
            "-n",
            "-U",
            "-Z",
            "root",
            "-s",
            "0",
            "-i",
            iface,
            "-w",
            &file_s,
        ];
        let p = lab.spawn_in(ns, "tcpdump", &args)?;
        if p.wait_stderr(|l| l.contains("listening on"), Duration::from_secs(10))?
            .is_none()
        {
            bail!("tcpdump on {ns}/{iface} did not start:\n{}", p.tail(10));
        }
        Ok(Capture {
            proc: Some(p),
            file: file.to_owned(),
        })
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Stop tcpdump (flushing the file) and return the file's path.
    pub fn stop(mut self) -> anyhow::Result<PathBuf> {
        self.finish()?;
        Ok(self.file.clone())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.proc.take() {
            // Give frames in flight a moment to be written.
            std::thread::sleep(Duration::from_millis(200));
            p.signal(libc::SIGINT)?;
            if p.wait_timeout(Duration::from_secs(5))?.is_none() {
                p.stop(Duration::from_secs(1))?;
            }
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}

/// One frame as tshark dissected it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// `PADI`, `PADO`, `PADR`, `PADS`, `PADT`, `LCP`, `PAP`, `CHAP`, `IPCP`,
    /// `IPV6CP`, `IPv4` (session data), or tshark's last protocol otherwise.
    pub kind: String,
    /// Code name for control packets (`Configure-Request`, `Challenge`, …).
    pub detail: String,
    /// PPPoE session id (0 for discovery before PADS).
    pub session: u16,
}

impl Frame {
    /// PPPoE discovery or PPP control (LCP, authentication, NCPs).
    pub fn is_control(&self) -> bool {
        matches!(
            self.kind.as_str(),
            "PADI" | "PADO" | "PADR" | "PADS" | "PADT" | "LCP" | "PAP" | "CHAP" | "IPCP" | "IPV6CP"
        )
    }
}

impl fmt::Display for Frame {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.detail.is_empty() {
            write!(f, "{} (session {:#06x})", self.kind, self.session)
        } else {
            write!(
                f,
                "{} {} (session {:#06x})",
                self.kind, self.detail, self.session
            )
        }
    }
}

/// tshark's verdict on a capture.
#[derive(Debug, Clone, Default)]
pub struct Dissection {
    /// Every frame in order.
    pub frames: Vec<Frame>,
    /// Frames tshark calls malformed or flags with an expert error.
    pub malformed: usize,
}

impl Dissection {
    /// One line per frame.
    pub fn summaries(&self) -> Vec<String> {
        self.frames.iter().map(|f| f.to_string()).collect()
    }

    /// The kinds of the control frames (not `IPv4` or other data) with
    /// consecutive repeats collapsed: e.g. `PADI PADO PADR PADS LCP CHAP IPCP LCP PADT`.
    pub fn control_sequence(&self) -> Vec<String> {
        let mut seq: Vec<String> = Vec::new();
        for f in &self.frames {
            if f.is_control() && seq.last() != Some(&f.kind) {
                seq.push(f.kind.clone());
            }
        }
        seq
    }
}

/// True when `needles` occur in `haystack` in this order (not necessarily adjacent).
pub fn contains_in_order<S: AsRef<str>>(haystack: &[S], needles: &[&str]) -> bool {
    let mut it = haystack.iter();
    needles.iter().all(|n| it.any(|h| h.as_ref() == *n))
}

fn cp_code_name(code: u8) -> &'static str {
    // RFC 1661 §5 (LCP) and RFC 1332 (IPCP share codes 1–7).
    match code {
        1 => "Configure-Request",
        2 => "Configure-Ack",
        3 => "Configure-Nak",
        4 => "Configure-Reject",
        5 => "Terminate-Request",
        6 => "Terminate-Ack",
        7 => "Code-Reject",
        8 => "Protocol-Reject",
        9 => "Echo-Request",
        10 => "Echo-Reply",
        11 => "Discard-Request",
        _ => "?",
    }
}

fn parse_num(s: &str) -> Option<u32> {
    let s = s.split(',').next()?.trim();
    match s.strip_prefix("0x") {
        Some(h) => u32::from_str_radix(h, 16).ok(),
        None => s.parse().ok(),
    }
}

/// Classify one line of `tshark -T fields -e frame.protocols -e pppoe.code
/// -e pppoe.session_id -e ppp.code -e chap.code -e pap.code`.
fn classify(line: &str) -> Frame {
    let f: Vec<&str> = line.split('\t').collect();
    let get = |i: usize| f.get(i).copied().unwrap_or("");
    let protos: Vec<&str> = get(0).split(':').collect();
    let session = parse_num(get(2))
        .and_then(|v| u16::try_from(v).ok())
        .unwrap_or(0);
    let has = |p: &str| protos.contains(&p);
    let (kind, detail) = if has("pppoed") {
        let k = match parse_num(get(1)) {
            Some(0x09) => "PADI",
            Some(0x07) => "PADO",
            Some(0x19) => "PADR",
            Some(0x65) => "PADS",
            Some(0xa7) => "PADT",
            _ => "PPPoED?",
        };
        (k.to_owned(), String::new())
    } else if has("lcp") || has("ipcp") || has("ipv6cp") {
        let k = if has("lcp") {
            "LCP"
        } else if has("ipcp") {
            "IPCP"
        } else {
            "IPV6CP"
        };
        let d = parse_num(get(3))
            .and_then(|c| u8::try_from(c).ok())
            .map(cp_code_name)
            .unwrap_or("");
        (k.to_owned(), d.to_owned())
    } else if has("chap") {
        let d = match parse_num(get(4)) {
            Some(1) => "Challenge",
            Some(2) => "Response",
            Some(3) => "Success",
            Some(4) => "Failure",
            _ => "?",
        };
        ("CHAP".to_owned(), d.to_owned())
    } else if has("pap") {
        let d = match parse_num(get(5)) {
            Some(1) => "Authenticate-Request",
            Some(2) => "Authenticate-Ack",
            Some(3) => "Authenticate-Nak",
            _ => "?",
        };
        ("PAP".to_owned(), d.to_owned())
    } else if has("pppoes") && has("ip") {
        // The transport: the protocol right after `ip` (`udp`, not `echo`).
        let l4 = protos
            .iter()
            .skip_while(|p| **p != "ip")
            .nth(1)
            .copied()
            .unwrap_or("");
        ("IPv4".to_owned(), l4.to_owned())
    } else {
        (
            protos.last().copied().unwrap_or("?").to_owned(),
            String::new(),
        )
    };
    Frame {
        kind,
        detail,
        session,
    }
}

/// Dissect `file` with tshark: every frame classified, plus the number of
/// frames matching `_ws.malformed || _ws.expert.severity >= error`.
pub fn tshark_check(file: &Path) -> anyhow::Result<Dissection> {
    let file_s = file.to_string_lossy();
    let fields = run(Command::new("tshark").args([
        "-r",
        &file_s,
        "-T",
        "fields",
        "-E",
        "separator=/t",
        "-e",
        "frame.protocols",
        "-e",
        "pppoe.code",
        "-e",
        "pppoe.session_id",
        "-e",
        "ppp.code",
        "-e",
        "chap.code",
        "-e",
        "pap.code",
    ]))?;
    let frames = fields
        .lines()
        .filter(|l| !l.is_empty())
        .map(classify)
        .collect();
    let bad = run(Command::new("tshark").args([
        "-r",
        &file_s,
        "-Y",
        "_ws.malformed || _ws.expert.severity >= error",
    ]))?;
    let malformed = bad.lines().filter(|l| !l.trim().is_empty()).count();
    Ok(Dissection { frames, malformed })
}

/// `tshark -r file -Y filter -T fields -e f1 -e f2 ...`, one Vec per frame.
pub fn tshark_fields(
    file: &Path,
    filter: &str,
    fields: &[&str],
) -> anyhow::Result<Vec<Vec<String>>> {
    let mut c = Command::new("tshark");
    c.arg("-r")
        .arg(file)
        .args(["-Y", filter, "-T", "fields", "-E", "separator=/t"]);
    for f in fields {
        c.args(["-e", f]);
    }
    Ok(run(&mut c)?
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.split('\t').map(str::to_owned).collect())
        .collect())
}

// ---------------------------------------------------------------------------
// The demo: `pppoe-bras lab`

/// Options of `pppoe-bras lab` (flatten into the CLI with `#[command(flatten)]`
/// or use as the subcommand's arguments directly).
#[derive(Debug, Clone, clap::Args)]
pub struct DemoOptions {
    /// Where the daemon pins its maps.
    #[arg(long, default_value = DEFAULT_PIN_DIR)]
    pub pin_dir: PathBuf,
    /// Subscriber to log in as (the classic secrets know testuser1 and testuser2).
    #[arg(long, default_value = "testuser1")]
    pub user: String,
    /// Password of --user.
    #[arg(long, default_value = "password")]
    pub password: String,
    /// Authentication the emulator offers: chap, pap or any.
    #[arg(long, default_value = "chap")]
    pub auth: String,
    /// XDP attach mode passed to the daemon (auto, native, generic).
    #[arg(long)]
    pub xdp_mode: Option<String>,
    /// Copy the access-side capture here (pcap) before tearing down.
    #[arg(long)]
    pub pcap: Option<PathBuf>,
    /// After the checks, keep the lab and the session up until Ctrl-C.
    #[arg(long)]
    pub hold: bool,
}

impl Default for DemoOptions {
    fn default() -> Self {
        DemoOptions {
            pin_dir: PathBuf::from(DEFAULT_PIN_DIR),
            user: "testuser1".to_owned(),
            password: "password".to_owned(),
            auth: "chap".to_owned(),
            xdp_mode: None,
            pcap: None,
            hold: false,
        }
    }
}

/// Prints each step with ✔/✘ and counts them.
#[derive(Default)]
struct Steps {
    passed: usize,
    failed: usize,
}

impl Steps {
    /// Run one step; a failure is printed and counted, and returned as `None`.
    fn check<T>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> anyhow::Result<(T, String)>,
    ) -> Option<T> {
        if interrupted() {
            return None;
        }
        match f() {
            Ok((v, detail)) => {
                self.passed += 1;
                if detail.is_empty() {
                    println!("✔ {what}");
                } else {
                    println!("✔ {what}: {detail}");
                }
                Some(v)
            }
            Err(e) => {
                self.failed += 1;
                println!("✘ {what}: {e:#}");
                None
            }
        }
    }

    /// Like `check`, but the demo cannot go on without it.
    fn must<T>(
        &mut self,
        what: &str,
        f: impl FnOnce() -> anyhow::Result<(T, String)>,
    ) -> anyhow::Result<T> {
        check_interrupted()?;
        self.check(what, f)
            .ok_or_else(|| anyhow!("cannot continue after: {what}"))
    }
}

/// `rtt min/avg/max/mdev = 0.1/0.2/0.3/0.04 ms` → `0.2 ms` (avg).
fn ping_avg(out: &str) -> Option<String> {
    let l = out.lines().find(|l| l.contains("min/avg/max"))?;
    let nums = l.split('=').nth(1)?.trim();
    let avg = nums.split('/').nth(1)?;
    Some(format!("avg {avg} ms"))
}

fn fmt_rtt(d: Duration) -> String {
    format!("{:.3} ms", d.as_secs_f64() * 1e3)
}

/// `pppoe-bras lab`: build the netns lab, run the daemon and one emulated
/// subscriber, show traffic through the session and the maps, then tear
/// everything down. Ctrl-C at any point tears down too. Needs root.
pub fn run_demo(opts: &DemoOptions) -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("current_exe")?;
    run_demo_with(&exe, opts)
}

/// [`run_demo`] with another `pppoe-bras` binary (`exe run ...`, `exe emulate ...`).
pub fn run_demo_with(exe: &Path, opts: &DemoOptions) -> anyhow::Result<()> {
    if !is_root() {
        bail!("`pppoe-bras lab` needs root (try `cargo xtask lab`, which uses sudo)");
    }
    install_interrupt_handler()?;
    let mut steps = Steps::default();
    let mut lab_id = None;
    let result = demo_steps(exe, opts, &mut steps, &mut lab_id);
    let interrupted = interrupted();
    // Everything the steps built has been dropped by now: the lab is gone.
    let stem = lab_id.map(|id| format!("{id}-"));
    let prefix_left: Vec<String> = list_netns()
        .into_iter()
        .filter(|n| stem.as_deref().is_some_and(|s| n.starts_with(s)))
        .collect();
    if prefix_left.is_empty() {
        println!("✔ teardown: namespaces, veths and the lab's files removed");
    } else {
        steps.failed += 1;
        println!("✘ teardown: namespaces left: {}", prefix_left.join(" "));
    }
    println!();
    println!("{} passed, {} failed", steps.passed, steps.failed);
    if interrupted {
        bail!("interrupted; the lab was torn down");
    }
    result?;
    if steps.failed > 0 {
        bail!("{} step(s) failed", steps.failed);
    }
    Ok(())
}

fn demo_steps(
    exe: &Path,
    opts: &DemoOptions,
    steps: &mut Steps,
    lab_id: &mut Option<String>,
) -> anyhow::Result<()> {
    let lab = steps.must(
        "lab: namespaces cpe ↔ bras ↔ inet, veths, routes, echo servers",
        || {
            let removed = Lab::cleanup_stale("pbl")?;
            let lab = Lab::new("pbl")?;
            let mut d = format!(
                "{} / {} / {}; access {} uplink {} (198.51.100.1); test host 192.0.2.1 echo :7",
                lab.ns_cpe(),
                lab.ns_bras(),
                lab.ns_inet(),
                lab.access_if(),
                lab.uplink_if()
            );
            if removed > 0 {
                d.push_str(&format!(" ({removed} stale namespaces removed)"));
            }
            Ok((lab, d))
        },
    )?;
    *lab_id = Some(lab.id().to_owned());
    let secrets = lab.write_secrets("")?;
    if opts.pin_dir.exists() {
        println!(
            "  note: {} exists (another pppoe-bras running?); the daemon may refuse to start",
            opts.pin_dir.display()
        );
    }
    let mut bopts = BrasOptions::classic(&opts.pin_dir, &secrets);
    bopts.xdp_mode = opts.xdp_mode.clone();
    let mut bras = steps.must("daemon started and ready", || {
        let p = lab.start_bras(exe, &bopts)?;
        let ready = p
            .wait_stderr(|l| l.contains("ready "), Duration::ZERO)?
            .unwrap_or_default();
        let ready = ready
            .find("ready ")
            .map(|i| ready[i..].to_owned())
            .unwrap_or(ready);
        Ok((p, ready))
    })?;

    let have_tcpdump = have_tool("tcpdump");
    let pcap = lab.tmp_dir().join("access.pcap");
    let capture = if have_tcpdump {
        steps.check(
            "capture started on the subscriber side of the access link",
            || {
                let c = lab.tcpdump(lab.ns_cpe(), lab.cpe_if(), &pcap)?;
                Ok((c, format!("{}/{}", lab.ns_cpe(), lab.cpe_if())))
            },
        )
    } else {
        println!("  (tcpdump not installed: no capture)");
        None
    };

    let mut emo = EmuOptions::user(&opts.user);
    emo.password = opts.password.clone();
    emo.auth = Some(opts.auth.clone());
    emo.tun = Some("ppp0".to_owned());
    emo.timeout_secs = Some(30);
    let mut emu = steps.must("subscriber emulator started", || {
        let p = lab.start_emulator(exe, &emo)?;
        Ok((
            p,
            format!("{} ({}) on {}", opts.user, opts.auth, lab.cpe_if()),
        ))
    })?;
    let up = steps.must("PPPoE session up (discovery, LCP, auth, IPCP)", || {
        let up = emu.wait_up(Duration::from_secs(35))?;
        let d = format!(
            "session {:#06x}, address {}, peer {}, dns {}, mru {}",
            up.session,
            up.address,
            up.peer.map(|p| p.to_string()).unwrap_or_else(|| "-".into()),
            up.dns
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join(","),
            up.mru.map(|m| m.to_string()).unwrap_or_else(|| "-".into())
        );
        Ok((up, d))
    })?;

    let ping = |target: &str| -> anyhow::Result<((), String)> {
        let out = lab.exec(lab.ns_cpe(), &["ping", "-c", "3", "-W", "2", target])?;
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let last = |t: &str| {
                t.lines()
                    .rev()
                    .find(|l| !l.trim().is_empty())
                    .map(str::to_owned)
            };
            let why = last(&err).or_else(|| last(&text)).unwrap_or_default();
            bail!("ping failed: {why}");
        }
        Ok(((), ping_avg(&text).unwrap_or_default()))
    };
    steps.check(
        "ping 172.16.0.254 from the subscriber (the gateway, answered in XDP)",
        || ping(&LOCAL_IP.to_string()),
    );
    steps.check(
        "ping 192.0.2.1 from the subscriber (through XDP + NAT)",
        || ping("192.0.2.1"),
    );
    steps.check(
        "ping 2001:db8::1 from the subscriber over IPv6 (SLAAC /64, routed in XDP)",
        || {
            // The /64 comes with the RA shortly after IPCP: wait for it.
            let target = TEST_HOST6.to_string();
            for _ in 0..20 {
                let out = lab.exec(lab.ns_cpe(), &["ping", "-6", "-c", "1", "-W", "1", &target])?;
                if out.status.success() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(250));
            }
            let out = lab.exec(lab.ns_cpe(), &["ping", "-6", "-c", "3", "-W", "2", &target])?;
            let text = String::from_utf8_lossy(&out.stdout).into_owned();
            if !out.status.success() {
                bail!(
                    "ping -6 failed: {}",
                    text.lines().last().unwrap_or_default()
                );
            }
            Ok(((), ping_avg(&text).unwrap_or_default()))
        },
    );
    let echo_src = |proto: Proto| {
        lab.echo_log()
            .iter()
            .rev()
            .find(|r| r.proto == proto)
            .map(|r| r.from.ip().to_string())
            .unwrap_or_else(|| "?".into())
    };
    steps.check("UDP echo 192.0.2.1:7 from the subscriber", || {
        let rtt = udp_round_trip(
            lab.ns_cpe(),
            ECHO_ADDR.into(),
            b"pppoe-bras lab udp",
            Duration::from_secs(3),
        )?;
        Ok((
            (),
            format!(
                "rtt {}, the test host saw source {}",
                fmt_rtt(rtt),
                echo_src(Proto::Udp)
            ),
        ))
    });
    steps.check("TCP echo 192.0.2.1:7 from the subscriber", || {
        let rtt = tcp_round_trip(
            lab.ns_cpe(),
            ECHO_ADDR.into(),
            b"pppoe-bras lab tcp",
            Duration::from_secs(3),
        )?;
        Ok((
            (),
            format!(
                "rtt {} (incl. handshake), the test host saw source {}",
                fmt_rtt(rtt),
                echo_src(Proto::Tcp)
            ),
        ))
    });
    if have_tool("bpftool") {
        steps.check("maps pinned by the daemon", || {
            let mut names: Vec<PathBuf> = std::fs::read_dir(&opts.pin_dir)
                .with_context(|| format!("read {}", opts.pin_dir.display()))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .collect();
            names.sort();
            let mut listing = String::new();
            for m in &names {
                let out = run(Command::new("bpftool")
                    .args(["map", "dump", "pinned"])
                    .arg(m));
                listing.push_str(&format!("\n  $ bpftool map dump pinned {}\n", m.display()));
                let text = out.unwrap_or_else(|e| format!("{e:#}"));
                let lines: Vec<&str> = text.lines().collect();
                for l in lines.iter().take(40) {
                    listing.push_str(&format!("    {l}\n"));
                }
                if lines.len() > 40 {
                    listing.push_str(&format!("    … {} more lines\n", lines.len() - 40));
                }
            }
            Ok((
                (),
                format!("{} in {}{listing}", names.len(), opts.pin_dir.display()),
            ))
        });
    }

    if opts.hold {
        println!();
        println!("The lab is up. Try, in another terminal:");
        println!("  ip netns exec {} ping 192.0.2.1", lab.ns_cpe());
        println!("  ip netns exec {} ip -d link show", lab.ns_bras());
        println!("  bpftool map dump pinned {}/<map>", opts.pin_dir.display());
        println!(
            "  {} sessions --control-socket {}   (or stats, kill <id>)",
            exe.display(),
            lab.control_socket().display()
        );
        println!("Ctrl-C tears it down.");
        while !interrupted() && emu.try_wait()?.is_none() && bras.try_wait()?.is_none() {
            std::thread::sleep(Duration::from_millis(200));
        }
        INTERRUPTED.store(false, Ordering::Relaxed);
    }

    steps.check("subscriber hangs up (PADT)", || {
        emu.signal(libc::SIGTERM)?;
        let down = emu.wait_stdout(|l| l.starts_with("DOWN "), Duration::from_secs(5))?;
        let status = emu.wait_timeout(Duration::from_secs(5))?;
        match (down, status) {
            (_, Some(s)) if !s.success() => bail!("emulator exited with {s}"),
            (_, None) => bail!("emulator still running 5 s after SIGTERM"),
            (Some(d), Some(_)) => Ok(((), d)),
            (None, Some(_)) => Ok(((), "emulator exited 0 (no DOWN line)".into())),
        }
    });
    let session_hex = format!("{:#06x}", up.session);
    steps.check("daemon saw the session go down", || {
        let l = bras.wait_stderr(
            |l| l.contains(&session_hex) && l.contains(" down "),
            Duration::from_secs(5),
        )?;
        let l = l.ok_or_else(|| anyhow!("no `session {session_hex} ... down` log line"))?;
        let d = l.find("session ").map(|i| l[i..].to_owned()).unwrap_or(l);
        Ok(((), d))
    });
    steps.check("daemon stopped with SIGTERM, pins and XDP removed", || {
        let attached_before = lab.xdp_attached()?;
        bras.signal(libc::SIGTERM)?;
        let status = bras
            .wait_timeout(Duration::from_secs(10))?
            .ok_or_else(|| anyhow!("daemon still running 10 s after SIGTERM"))?;
        if !status.success() {
            bail!("daemon exited with {status}");
        }
        if opts.pin_dir.exists() {
            bail!("{} still exists", opts.pin_dir.display());
        }
        let attached = lab.xdp_attached()?;
        if !attached.is_empty() {
            bail!("XDP still attached to {}", attached.join(" "));
        }
        Ok((
            (),
            format!(
                "exit 0; XDP was on [{}], now on none",
                attached_before.join(" ")
            ),
        ))
    });
    drop(emu);
    drop(bras);

    if let Some(c) = capture {
        steps.check("capture dissected by tshark", || {
            let file = c.stop()?;
            if let Some(dst) = &opts.pcap {
                std::fs::copy(&file, dst).with_context(|| format!("copy to {}", dst.display()))?;
            }
            if !have_tool("tshark") {
                return Ok(((), "tshark not installed".into()));
            }
            let d = tshark_check(&file)?;
            let seq = d.control_sequence();
            let expected = ["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP"];
            let mut text = format!(
                "{} frames, {} malformed; control sequence: {}",
                d.frames.len(),
                d.malformed,
                seq.join(" → ")
            );
            for f in d.frames.iter().filter(|f| f.is_control()).take(60) {
                text.push_str(&format!("\n    {f}"));
            }
            if d.malformed > 0 {
                bail!("{text}");
            }
            let auth = if opts.auth == "pap" { "PAP" } else { "CHAP" };
            let want: Vec<&str> = expected
                .iter()
                .map(|k| if *k == "CHAP" { auth } else { k })
                .collect();
            if !contains_in_order(&seq, &want) {
                bail!("expected {} in order; {text}", want.join(" "));
            }
            Ok(((), text))
        });
    }
    drop(lab);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn up_line_parses_every_field() {
        let l = "UP session=0x0001 address=172.16.0.101 peer=172.16.0.254 dns=192.0.2.53,192.0.2.54 mru=1492";
        assert_eq!(
            UpLine::parse(l),
            Some(UpLine {
                session: 1,
                address: Ipv4Addr::new(172, 16, 0, 101),
                peer: Some(LOCAL_IP),
                dns: DNS.to_vec(),
                mru: Some(1492),
            })
        );
    }

    #[test]
    fn up_line_needs_session_and_address() {
        assert_eq!(UpLine::parse("UP address=172.16.0.101"), None);
        assert_eq!(UpLine::parse("UP session=0x0002"), None);
        assert_eq!(UpLine::parse("DOWN session=0x0001 reason=padt"), None);
        let min = UpLine::parse("UP session=2 address=10.0.0.1").expect("minimal line");
        assert_eq!(
            (min.session, min.peer, min.dns.len(), min.mru),
            (2, None, 0, None)
        );
    }

    #[test]
    fn names_fit_the_kernel_limits_and_parse_back() {
        let n = Names::new("pbt", 4_194_304, 65_535);
        for i in [&n.cpe_if, &n.access_if, &n.uplink_if, &n.inet_if] {
            assert!(i.len() < libc::IFNAMSIZ, "{i} too long");
        }
        assert_eq!(n.ns_cpe, "pbt-4194304-65535-cpe");
        assert_eq!(owner_pid("pbt", &n.ns_bras), Some(4_194_304));
        assert_eq!(owner_pid("pb", &n.ns_bras), None);
        assert_eq!(owner_pid("pbt", "pbtx-1-0-cpe"), None);
        assert!(validate_prefix("pbt").is_ok());
        assert!(validate_prefix("a-b").is_err());
        assert!(validate_prefix("").is_err());
    }

    #[test]
    fn classify_tshark_lines() {
        let k = |l: &str| classify(l).kind;
        assert_eq!(k("eth:ethertype:pppoed\t0x09\t0x0000\t\t\t"), "PADI");
        assert_eq!(k("eth:ethertype:pppoed\t0x65\t0x0001\t\t\t"), "PADS");
        assert_eq!(k("eth:ethertype:pppoed\t0xa7\t0x0001\t\t\t"), "PADT");
        let lcp = classify("eth:ethertype:pppoes:ppp:lcp\t0x00\t0x0001\t9\t\t");
        assert_eq!(
            (lcp.kind.as_str(), lcp.detail.as_str(), lcp.session),
            ("LCP", "Echo-Request", 1)
        );
        assert_eq!(
            classify("eth:ethertype:pppoes:ppp:chap\t0x00\t0x0001\t\t3\t").detail,
            "Success"
        );
        assert_eq!(
            k("eth:ethertype:pppoes:ppp:ipcp\t0x00\t0x0001\t1\t\t"),
            "IPCP"
        );
        assert_eq!(
            k("eth:ethertype:pppoes:ppp:ip:icmp\t0x00\t0x0001\t\t\t"),
            "IPv4"
        );
        let udp = classify("eth:ethertype:pppoes:ppp:ip:udp:echo\t0x00\t0x0001\t\t\t");
        assert_eq!((udp.kind.as_str(), udp.detail.as_str()), ("IPv4", "udp"));
        assert_eq!(k("eth:ethertype:pppoed\t\t\t\t\t"), "PPPoED?");
        assert_eq!(k(""), "");
    }

    #[test]
    fn control_sequence_collapses_repeats_and_skips_data() {
        let f = |k: &str| Frame {
            kind: k.into(),
            detail: String::new(),
            session: 1,
        };
        let d = Dissection {
            frames: [
                "PADI", "PADO", "PADR", "PADS", "LCP", "LCP", "CHAP", "IPCP", "IPv4", "LCP", "PADT",
            ]
            .into_iter()
            .map(f)
            .collect(),
            malformed: 0,
        };
        let seq = d.control_sequence();
        assert_eq!(
            seq,
            ["PADI", "PADO", "PADR", "PADS", "LCP", "CHAP", "IPCP", "LCP", "PADT"]
        );
        assert!(contains_in_order(
            &seq,
            &["PADI", "PADS", "CHAP", "IPCP", "PADT"]
        ));
        assert!(!contains_in_order(&seq, &["IPCP", "CHAP"]));
    }
}
