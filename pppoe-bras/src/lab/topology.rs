//! The [`Lab`]: three namespaces, two veth pairs, addresses, routes and
//! sysctls, the echo servers in `inet`; its names, its scratch files, and
//! its teardown (also of labs left by dead processes). The daemon's and the
//! emulator's command lines are in `launch.rs`.

use std::{
    fmt,
    path::{Path, PathBuf},
    process::{Command, Output, Stdio},
    sync::atomic::{AtomicU32, Ordering},
};

use anyhow::{anyhow, bail, Context as _};

use super::{
    capture::Capture,
    echo::{EchoRecord, EchoServers},
    ensure_bpffs, is_root,
    netns::{delete_netns, in_netns, ip, list_netns},
    process::{run, LabProcess},
    CLASSIC_SECRETS, DELEGATED_POOL6, ECHO_ADDR, ECHO_ADDR6, INET_PEER_IP6, PREFIX_POOL6,
    TEST_HOST6, TEST_NET6, UPLINK_IP6,
};

static LAB_COUNTER: AtomicU32 = AtomicU32::new(0);

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
pub(super) struct Names {
    pub(super) id: String,
    pub(super) ns_cpe: String,
    pub(super) ns_bras: String,
    pub(super) ns_inet: String,
    pub(super) cpe_if: String,
    pub(super) access_if: String,
    pub(super) uplink_if: String,
    pub(super) inet_if: String,
    pub(super) pin_dir: PathBuf,
    pub(super) tmp_dir: PathBuf,
}

impl Names {
    pub(super) fn new(prefix: &str, pid: u32, n: u32) -> Self {
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

pub(super) fn validate_prefix(prefix: &str) -> anyhow::Result<()> {
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
pub(super) fn owner_pid(prefix: &str, name: &str) -> Option<u32> {
    let rest = name.strip_prefix(prefix)?.strip_prefix('-')?;
    rest.split('-').next()?.parse().ok()
}

fn pid_alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// A closed cpe ↔ bras ↔ inet topology in three network namespaces, with
/// UDP/TCP echo servers on [`ECHO_ADDR`] in `inet`. Dropping it deletes it.
pub struct Lab {
    names: Names,
    echo: Vec<EchoServers>,
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
        let mut lab = Lab {
            names,
            echo: Vec::new(),
        };
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
        self.echo
            .push(EchoServers::start(&n.ns_inet, ECHO_ADDR.into())?);
        self.echo.push(EchoServers::start(&n.ns_inet, ECHO_ADDR6)?);
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
            .iter()
            .flat_map(|e| e.log.lock().map(|l| l.clone()).unwrap_or_default())
            .collect()
    }

    /// Capture on `iface` in `ns` into `file` with tcpdump until the guard drops.
    pub fn tcpdump(&self, ns: &str, iface: &str, file: &Path) -> anyhow::Result<Capture> {
        Capture::start(self, ns, iface, file)
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        for e in self.echo.drain(..) {
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
