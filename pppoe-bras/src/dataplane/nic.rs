//! What the NICs are and whether native `XDP_REDIRECT` into them delivers.
//!
//! Native `XDP_REDIRECT` into a veth hands the frame to the *peer's* NAPI
//! (`veth_xdp_xmit`), which only exists when the peer runs a native XDP
//! program or has GRO on; otherwise the kernel drops every frame (counted
//! in the veth's `tx_queue_N_xdp_xmit_errors`, nowhere in ours). The
//! access program redirects into the uplink and back into the access NIC
//! (ICMP errors, hairpin), the uplink program into the access NIC and back
//! into the uplink: both NICs are targets of both programs. So
//! [`decide`] (sans-IO: facts in, decision out) puts both programs in
//! generic mode (`auto`) or refuses to start (`native`) when either NIC is
//! a veth whose peer would drop, or whose peer it cannot see (another
//! namespace it cannot find). Generic-mode redirects go through the
//! peer's normal receive path and always deliver. Enabling GRO on the peer
//! instead was not chosen: the peer is someone else's interface (a tester,
//! a container), and changing it behind their back is worse than a slower
//! mode and a log line saying how to get native.
//!
//! The facts come from rtnetlink (`RTM_GETLINK`: kind, peer, peer netns id,
//! attached XDP) and the legacy ethtool ioctl (GRO), in the peer's namespace
//! when it is another one (found by its netns id among `/run/netns/*` and
//! `/proc/*/ns/net`). [`xdp_stats`] reads the NICs' XDP counters (`ethtool
//! -S`) for `pppoe-bras stats`.
use std::{
    fs::File,
    io,
    os::fd::{AsRawFd as _, FromRawFd as _, OwnedFd},
};

use anyhow::{anyhow, bail, Context as _};

use super::XdpMode;

/// Whether native-mode redirects into a NIC deliver.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// Not a veth: the driver's `ndo_xdp_xmit` (or the lack of it, which
    /// the kernel reports at attach) decides; nothing known to be silent.
    NotVeth,
    /// A veth whose peer runs NAPI (native XDP program or GRO on).
    VethOk,
    /// A veth whose peer runs neither: frames redirected into it are dropped.
    VethDrops {
        /// The peer's name.
        peer: String,
    },
    /// A veth whose peer could not be inspected (another namespace that
    /// was not found): treated as dropping.
    VethUnknownPeer {
        /// Why.
        why: String,
    },
}

/// Facts of one NIC, as [`facts`] finds them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Facts {
    /// Its name.
    pub ifname: String,
    /// What redirecting into it does.
    pub target: Target,
}

/// How to attach both programs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// As configured (`auto`: native, else generic).
    AsConfigured,
    /// Generic mode on both NICs; the log line says why.
    Generic(String),
}

/// The attach decision for `mode` given both NICs' facts; an error (with
/// the fix) when `native` was asked for and cannot deliver.
pub fn decide(mode: XdpMode, nics: &[Facts]) -> anyhow::Result<Decision> {
    if mode == XdpMode::Generic {
        return Ok(Decision::AsConfigured);
    }
    let mut problems = Vec::new();
    let mut fixes = Vec::new();
    for f in nics {
        match &f.target {
            Target::NotVeth | Target::VethOk => {}
            Target::VethDrops { peer } => {
                problems.push(format!(
                    "native XDP_REDIRECT into veth {} is dropped: its peer {peer} runs no XDP \
                     program and has GRO off",
                    f.ifname
                ));
                fixes.push(format!(
                    "enable GRO on the peer of veth {} (ethtool -K {peer} gro on) or attach an \
                     XDP program there",
                    f.ifname
                ));
            }
            Target::VethUnknownPeer { why } => {
                problems.push(format!(
                    "the peer of veth {} cannot be inspected ({why}), so native XDP_REDIRECT \
                     into it may be dropped",
                    f.ifname
                ));
                fixes.push(format!(
                    "make the peer of veth {} reachable (a named netns in /run/netns) with GRO \
                     on or an XDP program",
                    f.ifname
                ));
            }
        }
    }
    if problems.is_empty() {
        return Ok(Decision::AsConfigured);
    }
    let names: Vec<&str> = nics.iter().map(|f| f.ifname.as_str()).collect();
    match mode {
        XdpMode::Native => bail!(
            "xdp_mode = native cannot deliver: {}; {}, or use xdp_mode = auto/generic",
            problems.join("; "),
            fixes.join("; ")
        ),
        _ => Ok(Decision::Generic(format!(
            "xdp_mode auto: generic mode on {} (both programs redirect into both NICs): {}; for \
             native mode, {}",
            names.join(" and "),
            problems.join("; "),
            fixes.join("; ")
        ))),
    }
}

// ------------------------------------------------------------------ facts

const RTM_NEWLINK: u16 = 16;
const RTM_GETLINK: u16 = 18;
const RTM_NEWNSID: u16 = 88;
const RTM_GETNSID: u16 = 90;
const NLM_F_REQUEST: u16 = 1;
const NLMSG_ERROR: u16 = 2;
const IFLA_IFNAME: u16 = 3;
const IFLA_LINK: u16 = 5;
const IFLA_LINKINFO: u16 = 18;
const IFLA_INFO_KIND: u16 = 1;
const IFLA_LINK_NETNSID: u16 = 37;
const IFLA_XDP: u16 = 43;
const IFLA_XDP_ATTACHED: u16 = 2;
const IFLA_XDP_DRV_PROG_ID: u16 = 5;
const XDP_ATTACHED_DRV: u8 = 1;
const NETNSA_NSID: u16 = 1;
const NETNSA_FD: u16 = 3;

/// One link as rtnetlink shows it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct Link {
    name: String,
    kind: String,
    peer_ifindex: Option<u32>,
    peer_netnsid: Option<i32>,
    xdp_native: bool,
}

fn netlink() -> io::Result<OwnedFd> {
    // Safety: plain socket call; the fd is owned below.
    let fd = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: a fresh fd we own.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Send one request (header filled here) and return the first answer's
/// type and payload.
fn request(msg_type: u16, body: &[u8]) -> io::Result<(u16, Vec<u8>)> {
    let sock = netlink()?;
    let len = 16 + body.len();
    let mut msg = Vec::with_capacity(len);
    msg.extend_from_slice(&(len as u32).to_ne_bytes());
    msg.extend_from_slice(&msg_type.to_ne_bytes());
    msg.extend_from_slice(&NLM_F_REQUEST.to_ne_bytes());
    msg.extend_from_slice(&1u32.to_ne_bytes()); // seq
    msg.extend_from_slice(&0u32.to_ne_bytes()); // pid
    msg.extend_from_slice(body);
    // Safety: valid buffer of `len` bytes; the kernel is the destination
    // (unconnected netlink socket, default address).
    let rc = unsafe { libc::send(sock.as_raw_fd(), msg.as_ptr().cast(), msg.len(), 0) };
    if rc < 0 {
        return Err(io::Error::last_os_error());
    }
    let mut buf = vec![0u8; 65536];
    // Safety: valid buffer.
    let n = unsafe { libc::recv(sock.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
    if n < 16 {
        return Err(io::Error::last_os_error());
    }
    let n = n as usize;
    let mlen = (u32::from_ne_bytes(buf[0..4].try_into().unwrap_or_default()) as usize).min(n);
    let mtype = u16::from_ne_bytes([buf[4], buf[5]]);
    if mtype == NLMSG_ERROR {
        let err = i32::from_ne_bytes(buf[16..20].try_into().unwrap_or_default());
        return Err(io::Error::from_raw_os_error(-err));
    }
    Ok((mtype, buf[16..mlen].to_vec()))
}

/// (type, payload) of the attributes in `b`.
fn attrs(mut b: &[u8]) -> Vec<(u16, &[u8])> {
    let mut out = Vec::new();
    while b.len() >= 4 {
        let len = u16::from_ne_bytes([b[0], b[1]]) as usize;
        let ty = u16::from_ne_bytes([b[2], b[3]]) & 0x3fff;
        if len < 4 || len > b.len() {
            break;
        }
        out.push((ty, &b[4..len]));
        let next = (len + 3) & !3;
        b = b.get(next..).unwrap_or_default();
    }
    out
}

fn u32_of(p: &[u8]) -> Option<u32> {
    Some(u32::from_ne_bytes(p.get(..4)?.try_into().ok()?))
}

/// `RTM_GETLINK` of `ifindex` in the calling thread's namespace.
fn link(ifindex: u32) -> io::Result<Link> {
    let mut body = vec![0u8; 16]; // struct ifinfomsg
    body[4..8].copy_from_slice(&(ifindex as i32).to_ne_bytes());
    let (ty, payload) = request(RTM_GETLINK, &body)?;
    if ty != RTM_NEWLINK || payload.len() < 16 {
        return Err(io::Error::other("unexpected RTM_GETLINK answer"));
    }
    parse_link(&payload[16..])
}

fn parse_link(attrs_bytes: &[u8]) -> io::Result<Link> {
    let mut l = Link::default();
    for (ty, p) in attrs(attrs_bytes) {
        match ty {
            IFLA_IFNAME => {
                l.name = String::from_utf8_lossy(p.split(|b| *b == 0).next().unwrap_or_default())
                    .into_owned()
            }
            IFLA_LINK => l.peer_ifindex = u32_of(p),
            IFLA_LINK_NETNSID => l.peer_netnsid = u32_of(p).map(|v| v as i32),
            IFLA_LINKINFO => {
                for (t, k) in attrs(p) {
                    if t == IFLA_INFO_KIND {
                        l.kind = String::from_utf8_lossy(
                            k.split(|b| *b == 0).next().unwrap_or_default(),
                        )
                        .into_owned();
                    }
                }
            }
            IFLA_XDP => {
                for (t, v) in attrs(p) {
                    match t {
                        IFLA_XDP_ATTACHED if v.first() == Some(&XDP_ATTACHED_DRV) => {
                            l.xdp_native = true
                        }
                        IFLA_XDP_DRV_PROG_ID if u32_of(v).unwrap_or(0) != 0 => l.xdp_native = true,
                        _ => {}
                    }
                }
            }
            _ => {}
        }
    }
    Ok(l)
}

/// The id the calling thread's namespace gives the namespace `ns`
/// (`RTM_GETNSID`), if it has one.
fn nsid_of(ns: &File) -> Option<i32> {
    let mut body = vec![0u8; 4]; // struct rtgenmsg, padded
    body[0] = libc::AF_UNSPEC as u8;
    body.extend_from_slice(&8u16.to_ne_bytes());
    body.extend_from_slice(&NETNSA_FD.to_ne_bytes());
    body.extend_from_slice(&(ns.as_raw_fd() as u32).to_ne_bytes());
    let (ty, payload) = request(RTM_GETNSID, &body).ok()?;
    if ty != RTM_NEWNSID {
        return None;
    }
    attrs(payload.get(4..)?)
        .into_iter()
        .find(|(t, _)| *t == NETNSA_NSID)
        .and_then(|(_, p)| u32_of(p))
        .map(|v| v as i32)
        .filter(|v| *v >= 0)
}

/// The namespace whose id (as seen from here) is `nsid`: named ones first,
/// then every process's.
fn find_netns(nsid: i32) -> Option<File> {
    let mut paths: Vec<std::path::PathBuf> = std::fs::read_dir("/run/netns")
        .into_iter()
        .flatten()
        .filter_map(|e| e.ok().map(|e| e.path()))
        .collect();
    paths.extend(
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .filter_map(|e| e.ok())
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .bytes()
                    .all(|b| b.is_ascii_digit())
            })
            .map(|e| e.path().join("ns/net")),
    );
    paths
        .into_iter()
        .filter_map(|p| File::open(p).ok())
        .find(|f| nsid_of(f) == Some(nsid))
}

/// GRO of `ifname` in the calling thread's namespace (`ETHTOOL_GGRO`).
fn gro(ifname: &str) -> io::Result<bool> {
    let mut val = [0x2bu32, 0]; // ETHTOOL_GGRO, data
    ethtool(ifname, val.as_mut_ptr().cast())?;
    Ok(val[1] != 0)
}

/// One `SIOCETHTOOL` ioctl on `ifname` with `data` as the command buffer.
fn ethtool(ifname: &str, data: *mut libc::c_void) -> io::Result<()> {
    #[repr(C)]
    struct IfReq {
        name: [u8; libc::IFNAMSIZ],
        data: *mut libc::c_void,
        _pad: [u8; 16],
    }
    if ifname.len() >= libc::IFNAMSIZ {
        return Err(io::Error::from_raw_os_error(libc::EINVAL));
    }
    let mut req = IfReq {
        name: [0; libc::IFNAMSIZ],
        data,
        _pad: [0; 16],
    };
    req.name[..ifname.len()].copy_from_slice(ifname.as_bytes());
    // Safety: plain socket call.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // Safety: a fresh fd we own.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    // Safety: `req` is a valid ifreq whose data pointer the caller keeps
    // alive and sized for the command.
    let rc = unsafe { libc::ioctl(fd.as_raw_fd(), 0x8946, &mut req as *mut IfReq) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The peer's (native XDP, GRO) in the calling thread's namespace.
fn peer_napi(peer: u32) -> io::Result<(String, bool)> {
    let l = link(peer)?;
    let napi = l.xdp_native || gro(&l.name)?;
    Ok((l.name, napi))
}

/// What redirecting into `ifname` does (see [`Target`]).
pub fn facts(ifname: &str) -> anyhow::Result<Facts> {
    let index = crate::rawsock::if_index(ifname)?;
    let l = link(index).with_context(|| format!("RTM_GETLINK {ifname}"))?;
    let target = if l.kind != "veth" {
        Target::NotVeth
    } else {
        let peer = l
            .peer_ifindex
            .ok_or_else(|| anyhow!("veth {ifname} without a peer"))?;
        let res = match l.peer_netnsid {
            None => peer_napi(peer).map_err(|e| e.to_string()),
            Some(nsid) => match find_netns(nsid) {
                None => Err(format!("its namespace (id {nsid}) was not found")),
                Some(ns) => std::thread::spawn(move || {
                    // Safety: plain syscall on a valid netns fd; this
                    // thread only, which ends here.
                    if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
                        return Err(io::Error::last_os_error().to_string());
                    }
                    peer_napi(peer).map_err(|e| e.to_string())
                })
                .join()
                .unwrap_or_else(|_| Err("inspecting thread panicked".into())),
            },
        };
        match res {
            Ok((_, true)) => Target::VethOk,
            Ok((peer, false)) => Target::VethDrops { peer },
            Err(why) => Target::VethUnknownPeer { why },
        }
    };
    Ok(Facts {
        ifname: ifname.to_owned(),
        target,
    })
}

// ------------------------------------------------------------------ stats

/// The NIC's XDP counters from `ethtool -S` (`ETHTOOL_GSTATS`), per-queue
/// ones summed (`tx_queue_0_xdp_xmit_errors` → `tx_xdp_xmit_errors`). On a
/// veth, `tx_xdp_xmit_errors` counts frames XDP redirected into it that
/// were dropped. Empty when the driver has none.
pub fn xdp_stats(ifname: &str) -> io::Result<Vec<(String, u64)>> {
    // ETHTOOL_GSSET_INFO for ETH_SS_STATS: how many counters.
    let mut info = [0u32; 6]; // cmd, reserved, sset_mask (u64), data[1]
    info[0] = 0x37;
    info[2] = 1 << 1; // ETH_SS_STATS
    ethtool(ifname, info.as_mut_ptr().cast())?;
    let n = if info[2] & 2 != 0 {
        info[4] as usize
    } else {
        0
    };
    if n == 0 {
        return Ok(Vec::new());
    }
    let mut strings = vec![0u8; 12 + n * 32]; // cmd, string_set, len, data
    strings[0..4].copy_from_slice(&0x1bu32.to_ne_bytes()); // ETHTOOL_GSTRINGS
    strings[4..8].copy_from_slice(&1u32.to_ne_bytes());
    strings[8..12].copy_from_slice(&(n as u32).to_ne_bytes());
    ethtool(ifname, strings.as_mut_ptr().cast())?;
    let mut stats = vec![0u64; 1 + n]; // cmd + n_stats (u32 each), data
    stats[0] = 0x1d | ((n as u64) << 32); // ETHTOOL_GSTATS
    ethtool(ifname, stats.as_mut_ptr().cast())?;
    let mut out: Vec<(String, u64)> = Vec::new();
    for i in 0..n {
        let raw = &strings[12 + i * 32..12 + (i + 1) * 32];
        let name =
            String::from_utf8_lossy(raw.split(|b| *b == 0).next().unwrap_or_default()).into_owned();
        if !name.contains("xdp") {
            continue;
        }
        let name = collapse_queue(&name);
        match out.iter_mut().find(|(n, _)| *n == name) {
            Some(e) => e.1 += stats[1 + i],
            None => out.push((name, stats[1 + i])),
        }
    }
    Ok(out)
}

/// `rx_queue_3_xdp_drops` → `rx_xdp_drops`; other names unchanged.
fn collapse_queue(name: &str) -> String {
    for dir in ["rx", "tx"] {
        if let Some(rest) = name.strip_prefix(&format!("{dir}_queue_")) {
            if let Some((q, tail)) = rest.split_once('_') {
                if q.bytes().all(|b| b.is_ascii_digit()) {
                    return format!("{dir}_{tail}");
                }
            }
        }
    }
    name.to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn f(name: &str, target: Target) -> Facts {
        Facts {
            ifname: name.into(),
            target,
        }
    }

    #[test]
    fn decision_per_mode_and_peer() {
        let drops = || Target::VethDrops {
            peer: "inet0".into(),
        };
        let ok = [f("acc0", Target::VethOk), f("up0", Target::NotVeth)];
        for mode in [XdpMode::Auto, XdpMode::Native, XdpMode::Generic] {
            assert_eq!(
                decide(mode, &ok).unwrap(),
                Decision::AsConfigured,
                "{mode:?}"
            );
        }
        let bad = [f("acc0", Target::VethOk), f("up0", drops())];
        match decide(XdpMode::Auto, &bad).unwrap() {
            Decision::Generic(why) => {
                assert!(
                    why.starts_with("xdp_mode auto: generic mode on acc0 and up0"),
                    "{why}"
                );
                assert!(
                    why.contains("veth up0") && why.contains("ethtool -K inet0 gro on"),
                    "{why}"
                );
            }
            d => panic!("{d:?}"),
        }
        let e = decide(XdpMode::Native, &bad).unwrap_err().to_string();
        assert!(
            e.contains("enable GRO on the peer of veth up0 (ethtool -K inet0 gro on)")
                && e.contains("or use xdp_mode = auto/generic"),
            "{e}"
        );
        assert_eq!(
            decide(XdpMode::Generic, &bad).unwrap(),
            Decision::AsConfigured
        );
        // A peer out of reach counts as dropping.
        let unknown = [f(
            "acc0",
            Target::VethUnknownPeer {
                why: "its namespace (id 3) was not found".into(),
            },
        )];
        assert!(matches!(
            decide(XdpMode::Auto, &unknown).unwrap(),
            Decision::Generic(_)
        ));
        assert!(decide(XdpMode::Native, &unknown).is_err());
    }

    #[test]
    fn queue_counters_collapse() {
        assert_eq!(
            collapse_queue("tx_queue_0_xdp_xmit_errors"),
            "tx_xdp_xmit_errors"
        );
        assert_eq!(collapse_queue("rx_queue_12_xdp_drops"), "rx_xdp_drops");
        assert_eq!(collapse_queue("rx_xdp_redirect"), "rx_xdp_redirect");
    }

    #[test]
    fn link_attributes_parse() {
        // IFLA_IFNAME "v0", IFLA_LINK 7, IFLA_LINK_NETNSID 2,
        // IFLA_LINKINFO { IFLA_INFO_KIND "veth" }, IFLA_XDP { ATTACHED 1 }.
        let mut b = Vec::new();
        let put = |b: &mut Vec<u8>, ty: u16, p: &[u8]| {
            b.extend_from_slice(&((4 + p.len()) as u16).to_ne_bytes());
            b.extend_from_slice(&ty.to_ne_bytes());
            b.extend_from_slice(p);
            while !b.len().is_multiple_of(4) {
                b.push(0);
            }
        };
        put(&mut b, IFLA_IFNAME, b"v0\0");
        put(&mut b, IFLA_LINK, &7u32.to_ne_bytes());
        put(&mut b, IFLA_LINK_NETNSID, &2u32.to_ne_bytes());
        let mut info = Vec::new();
        put(&mut info, IFLA_INFO_KIND, b"veth\0");
        put(&mut b, IFLA_LINKINFO | 0x8000, &info);
        let mut xdp = Vec::new();
        put(&mut xdp, IFLA_XDP_ATTACHED, &[XDP_ATTACHED_DRV]);
        put(&mut b, IFLA_XDP | 0x8000, &xdp);
        let l = parse_link(&b).unwrap();
        assert_eq!(
            l,
            Link {
                name: "v0".into(),
                kind: "veth".into(),
                peer_ifindex: Some(7),
                peer_netnsid: Some(2),
                xdp_native: true,
            }
        );
    }
}
