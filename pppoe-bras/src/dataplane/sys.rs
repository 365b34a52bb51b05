//! Small OS helpers for the loader: interface lookups, sysctl, bpffs, clock.
use std::{
    ffi::{CStr, CString},
    fs, io,
    net::{Ipv4Addr, UdpSocket},
    path::Path,
};

use anyhow::{anyhow, bail, Context as _};

/// The first IPv4 address configured on `name`.
pub fn first_ipv4(name: &str) -> anyhow::Result<Ipv4Addr> {
    let mut head: *mut libc::ifaddrs = std::ptr::null_mut();
    // Safety: getifaddrs fills `head` with a list we free below.
    if unsafe { libc::getifaddrs(&mut head) } != 0 {
        return Err(io::Error::last_os_error()).context("getifaddrs");
    }
    let mut found = None;
    let mut cur = head;
    while !cur.is_null() {
        // Safety: `cur` is a node of the list returned by getifaddrs.
        let ifa = unsafe { &*cur };
        cur = ifa.ifa_next;
        if ifa.ifa_addr.is_null() || ifa.ifa_name.is_null() {
            continue;
        }
        // Safety: ifa_name is a NUL-terminated string owned by the list.
        let n = unsafe { CStr::from_ptr(ifa.ifa_name) };
        // Safety: ifa_addr is non-null; sa_family is always readable.
        let family = unsafe { (*ifa.ifa_addr).sa_family };
        if n.to_bytes() == name.as_bytes() && family as i32 == libc::AF_INET {
            // Safety: AF_INET addresses are sockaddr_in.
            let sin = unsafe { &*(ifa.ifa_addr as *const libc::sockaddr_in) };
            found = Some(Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)));
            break;
        }
    }
    // Safety: `head` came from getifaddrs.
    unsafe { libc::freeifaddrs(head) };
    found.ok_or_else(|| anyhow!("interface {name} has no IPv4 address (set public_ip)"))
}

/// Set `net.ipv4.conf.<name>.forwarding` and return what it was.
/// `bpf_fib_lookup` refuses to route for an interface without it
/// (`BPF_FIB_LKUP_RET_FWD_DISABLED`); the kernel forwards nothing that
/// arrives on an interface with it off.
pub fn set_forwarding(name: &str, on: bool) -> anyhow::Result<bool> {
    set_forwarding_family("ipv4", name, on)
}

/// [`set_forwarding`] for `net.<family>.conf.<name>.forwarding` (`ipv4`,
/// `ipv6`; `bpf_fib_lookup` with AF_INET6 checks the IPv6 one).
pub fn set_forwarding_family(family: &str, name: &str, on: bool) -> anyhow::Result<bool> {
    let p = format!("/proc/sys/net/{family}/conf/{name}/forwarding");
    let was = fs::read_to_string(&p)
        .with_context(|| format!("reading {p}"))?
        .trim()
        == "1";
    if was != on {
        fs::write(&p, if on { "1" } else { "0" })
            .with_context(|| format!("setting {p} to {}", u8::from(on)))?;
    }
    Ok(was)
}

const BPF_FS_MAGIC: i64 = 0xcafe_4a11;

fn is_bpffs(p: &Path) -> bool {
    let Ok(c) = CString::new(p.as_os_str().as_encoded_bytes()) else {
        return false;
    };
    // Safety: zeroed statfs is a valid out-buffer.
    let mut st: libc::statfs = unsafe { std::mem::zeroed() };
    // Safety: valid path and buffer.
    let rc = unsafe { libc::statfs(c.as_ptr(), &mut st) };
    rc == 0 && st.f_type as i64 == BPF_FS_MAGIC
}

/// Make sure `pin_dir` lives on a bpffs: when its parent is not one and is
/// `/sys/fs/bpf` (the usual mount point, unmounted on some minimal systems),
/// mount bpffs there, as systemd would.
pub fn ensure_bpffs(pin_dir: &Path) -> anyhow::Result<()> {
    let parent = pin_dir
        .parent()
        .ok_or_else(|| anyhow!("pin dir {} has no parent", pin_dir.display()))?;
    if is_bpffs(parent) {
        return Ok(());
    }
    if parent != Path::new("/sys/fs/bpf") {
        bail!(
            "{} is not on a bpf filesystem (mount -t bpf bpf {})",
            pin_dir.display(),
            parent.display()
        );
    }
    let src = c"bpf";
    let target = c"/sys/fs/bpf";
    // Safety: valid NUL-terminated strings; no data argument.
    let rc = unsafe {
        libc::mount(
            src.as_ptr(),
            target.as_ptr(),
            src.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if rc != 0 {
        return Err(io::Error::last_os_error()).context("mounting bpffs on /sys/fs/bpf");
    }
    log::info!("mounted bpffs on /sys/fs/bpf");
    Ok(())
}

/// CLOCK_MONOTONIC in ns: the clock of `bpf_ktime_get_ns`.
pub fn monotonic_ns() -> u64 {
    // Safety: zeroed timespec is a valid out-buffer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // Safety: valid clock id and buffer.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Gateways of the IPv4 routes through `ifname`, from `/proc/net/route`
/// (which shows the calling thread's network namespace).
pub fn gateways(ifname: &str) -> io::Result<Vec<Ipv4Addr>> {
    let text = std::fs::read_to_string("/proc/net/route")?;
    Ok(parse_route_gateways(&text, ifname))
}

#[cfg(test)]
#[test]
fn ipv6_route_gateways() {
    let t = "00000000000000000000000000000000 00 00000000000000000000000000000000 00 20010db8ffff000000000000000000fe 00000400 00000001 00000000 00000003   up0\n\
             20010db8ffff00000000000000000000 40 00000000000000000000000000000000 00 00000000000000000000000000000000 00000100 00000001 00000000 00000001   up0\n";
    assert_eq!(
        parse_route6_gateways(t, "up0"),
        vec!["2001:db8:ffff::fe".parse::<std::net::Ipv6Addr>().unwrap()]
    );
    assert!(parse_route6_gateways(t, "eth9").is_empty());
}

fn parse_route_gateways(text: &str, ifname: &str) -> Vec<Ipv4Addr> {
    let mut out = Vec::new();
    for line in text.lines().skip(1) {
        let f: Vec<&str> = line.split_whitespace().collect();
        let (Some(iface), Some(gw)) = (f.first(), f.get(2)) else {
            continue;
        };
        if *iface != ifname {
            continue;
        }
        // Little-endian hex, e.g. 0264330A = 10.51.100.2 reversed.
        if let Ok(v) = u32::from_str_radix(gw, 16) {
            let gw = Ipv4Addr::from(v.swap_bytes());
            if !gw.is_unspecified() && !out.contains(&gw) {
                out.push(gw);
            }
        }
    }
    out
}

/// Make the kernel resolve `addr`'s neighbour entry: any packet routed to it
/// queues an ARP request. One byte to the discard port (9) is the cheapest
/// packet std can send without raw sockets or netlink.
/// The first global IPv6 address of `ifname` (from `/proc/net/if_inet6`,
/// scope 00), the source of the ICMPv6 errors the BRAS sends.
pub fn first_global_ipv6(ifname: &str) -> Option<std::net::Ipv6Addr> {
    let text = std::fs::read_to_string("/proc/thread-self/net/if_inet6").ok()?;
    parse_if_inet6(&text, ifname)
}

fn parse_if_inet6(text: &str, ifname: &str) -> Option<std::net::Ipv6Addr> {
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // address ifindex prefix-length scope flags device
        if f.len() < 6 || f[5] != ifname || f[3] != "00" {
            return None;
        }
        u128::from_str_radix(f[0], 16)
            .ok()
            .map(std::net::Ipv6Addr::from)
    })
}

#[cfg(test)]
#[test]
fn global_ipv6_of_an_interface() {
    let t = "fe800000000000000000000000000001 03 40 20 80   up0\n\
             20010db8ffff00000000000000000001 03 40 00 80   up0\n";
    assert_eq!(
        parse_if_inet6(t, "up0"),
        Some("2001:db8:ffff::1".parse().unwrap())
    );
    assert_eq!(parse_if_inet6(t, "acc0"), None);
}

pub fn poke_neighbour6(addr: std::net::Ipv6Addr) -> io::Result<()> {
    let s = UdpSocket::bind((std::net::Ipv6Addr::UNSPECIFIED, 0))?;
    s.send_to(&[0], (addr, 9)).map(|_| ())
}

/// IPv6 gateways of `ifname` from `/proc/net/ipv6_route` (routes with a
/// next hop on that device).
pub fn gateways6(ifname: &str) -> io::Result<Vec<std::net::Ipv6Addr>> {
    let text = std::fs::read_to_string("/proc/thread-self/net/ipv6_route")?;
    Ok(parse_route6_gateways(&text, ifname))
}

fn parse_route6_gateways(text: &str, ifname: &str) -> Vec<std::net::Ipv6Addr> {
    let mut out = Vec::new();
    for line in text.lines() {
        let f: Vec<&str> = line.split_whitespace().collect();
        // dest plen src plen nexthop metric refcnt use flags device
        let (Some(nh), Some(dev)) = (f.get(4), f.get(9)) else {
            continue;
        };
        if *dev != ifname || nh.len() != 32 {
            continue;
        }
        let Ok(v) = u128::from_str_radix(nh, 16) else {
            continue;
        };
        let gw = std::net::Ipv6Addr::from(v);
        if !gw.is_unspecified() && !out.contains(&gw) {
            out.push(gw);
        }
    }
    out
}

pub fn poke_neighbour(addr: Ipv4Addr) -> io::Result<()> {
    let s = UdpSocket::bind((Ipv4Addr::UNSPECIFIED, 0))?;
    s.send_to(&[0], (addr, 9)).map(|_| ())
}

/// The host's ephemeral port range (`net.ipv4.ip_local_port_range`) in the
/// caller's network namespace.
pub fn ephemeral_ports() -> anyhow::Result<(u16, u16)> {
    let path = "/proc/sys/net/ipv4/ip_local_port_range";
    let text = std::fs::read_to_string(path).with_context(|| format!("reading {path}"))?;
    parse_port_range(&text).ok_or_else(|| anyhow::anyhow!("{path}: cannot parse {text:?}"))
}

/// `"32768\t60999\n"` → `(32768, 60999)`.
pub fn parse_port_range(text: &str) -> Option<(u16, u16)> {
    let mut it = text.split_whitespace().map(|w| w.parse::<u16>());
    let lo = it.next()?.ok()?;
    let hi = it.next()?.ok()?;
    (lo <= hi).then_some((lo, hi))
}

/// `BPF_MAP_LOOKUP_BATCH` (aya 0.14 has no batch operations): up to
/// `max` entries of the hash map `fd` from bucket `token` on (`None`: the
/// start), into `keys` and `values` (room for `max` of each). Returns how
/// many came and the token to go on from, `None` once the walk is through.
/// A hash-map batch never splits a bucket, so it may return fewer than
/// `max` (and `ENOSPC` only when one bucket alone holds more).
pub fn map_lookup_batch(
    fd: std::os::fd::BorrowedFd<'_>,
    token: Option<u32>,
    keys: &mut [u8],
    values: &mut [u8],
    max: u32,
) -> io::Result<(u32, Option<u32>)> {
    use std::os::fd::AsRawFd as _;
    #[repr(C)]
    #[derive(Default)]
    struct BatchAttr {
        in_batch: u64,
        out_batch: u64,
        keys: u64,
        values: u64,
        count: u32,
        map_fd: u32,
        elem_flags: u64,
        flags: u64,
    }
    const BPF_MAP_LOOKUP_BATCH: libc::c_long = 24;
    let in_tok: u64 = token.map_or(0, u64::from);
    let mut out_tok: u64 = 0;
    let mut attr = BatchAttr {
        in_batch: if token.is_some() {
            &in_tok as *const u64 as u64
        } else {
            0
        },
        out_batch: &mut out_tok as *mut u64 as u64,
        keys: keys.as_mut_ptr() as u64,
        values: values.as_mut_ptr() as u64,
        count: max,
        map_fd: fd.as_raw_fd() as u32,
        ..BatchAttr::default()
    };
    // Safety: the attr points at buffers that outlive the call and hold
    // `max` keys and values (the caller sized them); the kernel writes at
    // most `count` of each and a 4-byte token.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            BPF_MAP_LOOKUP_BATCH,
            &mut attr as *mut BatchAttr,
            std::mem::size_of::<BatchAttr>(),
        )
    };
    if rc == 0 {
        return Ok((attr.count, Some(out_tok as u32)));
    }
    let e = io::Error::last_os_error();
    if e.raw_os_error() == Some(libc::ENOENT) {
        return Ok((attr.count, None));
    }
    Err(e)
}

#[cfg(test)]
mod route_test {
    #[test]
    fn gateways_of_one_interface() {
        let text =
            "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                    up0\t000200C0\t026433C6\t0003\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    up0\t006433C6\t00000000\t0001\t0\t0\t0\t00FFFFFF\t0\t0\t0\n\
                    eth0\t00000000\t0100000A\t0003\t0\t0\t0\t00000000\t0\t0\t0\n";
        assert_eq!(
            super::parse_route_gateways(text, "up0"),
            vec![std::net::Ipv4Addr::new(198, 51, 100, 2)]
        );
    }

    #[test]
    fn port_range() {
        assert_eq!(
            super::parse_port_range("32768\t60999\n"),
            Some((32768, 60999))
        );
        assert_eq!(super::parse_port_range("61000 65535"), Some((61000, 65535)));
        assert_eq!(super::parse_port_range("9 8"), None);
        assert_eq!(super::parse_port_range("x"), None);
    }
}
