//! AF_PACKET sockets, interface facts (ifindex, MAC, IPv4), network-namespace
//! entry and TUN devices: the thin layer of syscalls under the tokio shells.

use std::{
    ffi::CString,
    fs::File,
    io,
    mem::{size_of, zeroed},
    os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd},
};

use anyhow::Context as _;
use pppoe_bras_common::proto::{ETH_P_8021AD, ETH_P_8021Q, ETH_P_PPP_DISC, ETH_P_PPP_SES};

/// Join the network namespace `/run/netns/<name>` (as `ip netns exec` names
/// them). Only the calling thread moves: call it before starting any runtime
/// so every thread spawned afterwards inherits it. The mount namespace is kept,
/// so `/sys/fs/bpf` pins stay visible to the host's `bpftool`.
pub fn enter_netns(name: &str) -> anyhow::Result<()> {
    let path = format!("/run/netns/{name}");
    let file = File::open(&path).with_context(|| format!("open {path}"))?;
    // Safety: plain syscall on a valid fd.
    let rc = unsafe { libc::setns(file.as_raw_fd(), libc::CLONE_NEWNET) };
    if rc != 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("setns({path})"));
    }
    Ok(())
}

/// Interface index of `name`.
pub fn if_index(name: &str) -> anyhow::Result<u32> {
    let c = CString::new(name).context("interface name")?;
    // Safety: c is a valid NUL-terminated string.
    let idx = unsafe { libc::if_nametoindex(c.as_ptr()) };
    if idx == 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("no interface {name:?}"));
    }
    Ok(idx)
}

fn ifreq(name: &str) -> anyhow::Result<libc::ifreq> {
    // Safety: ifreq is plain old data; all-zero is valid.
    let mut req: libc::ifreq = unsafe { zeroed() };
    let bytes = name.as_bytes();
    if bytes.len() >= req.ifr_name.len() {
        anyhow::bail!("interface name {name:?} too long");
    }
    for (dst, src) in req.ifr_name.iter_mut().zip(bytes) {
        *dst = *src as libc::c_char;
    }
    Ok(req)
}

fn ioctl_ifreq(name: &str, request: libc::c_ulong) -> anyhow::Result<libc::ifreq> {
    let mut req = ifreq(name)?;
    // Safety: a datagram socket is only used as an ioctl handle.
    let fd = unsafe { libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0) };
    if fd < 0 {
        return Err(io::Error::last_os_error()).context("socket(AF_INET)");
    }
    // Safety: fd is ours; we close it right after.
    let sock = unsafe { OwnedFd::from_raw_fd(fd) };
    // Safety: req is a valid ifreq for this request.
    let rc = unsafe { libc::ioctl(sock.as_raw_fd(), request, &mut req) };
    if rc < 0 {
        return Err(io::Error::last_os_error()).with_context(|| format!("ioctl on {name:?}"));
    }
    Ok(req)
}

/// Hardware (MAC) address of `name`. Uses ioctl, not /sys: /sys shows the
/// namespace it was mounted in, not the one this thread joined.
pub fn if_mac(name: &str) -> anyhow::Result<[u8; 6]> {
    let req = ioctl_ifreq(name, libc::SIOCGIFHWADDR)?;
    // Safety: SIOCGIFHWADDR filled the hwaddr member of the union.
    let sa = unsafe { req.ifr_ifru.ifru_hwaddr };
    let mut mac = [0u8; 6];
    for (dst, src) in mac.iter_mut().zip(sa.sa_data.iter()) {
        *dst = *src as u8;
    }
    Ok(mac)
}

/// MTU of `name`.
pub fn if_mtu(name: &str) -> anyhow::Result<u32> {
    let req = ioctl_ifreq(name, libc::SIOCGIFMTU)?;
    // Safety: SIOCGIFMTU filled the mtu member.
    let mtu = unsafe { req.ifr_ifru.ifru_mtu };
    Ok(u32::try_from(mtu).unwrap_or(0))
}

/// A raw AF_PACKET socket bound to one interface that receives every frame
/// with ethertype 0x8863 or 0x8864 (also VLAN-tagged ones) and sends frames
/// as written.
///
/// VLAN quirk: the kernel strips the outer 802.1Q/802.1ad tag before taps see
/// the frame (rx-vlan offload or `skb_vlan_untag`), and reports it in
/// `PACKET_AUXDATA`. [`PacketSocket::recv`] puts the tag back in the frame, so
/// the wire parsers see frames exactly as they were on the wire.
pub struct PacketSocket {
    fd: OwnedFd,
    ifindex: u32,
}

/// Receive and send buffer of the packet socket.
const SOCKET_BUFFER: libc::c_int = 16 << 20;

/// Largest frame we receive (jumbo frames included); longer ones are cut.
const MAX_FRAME: usize = 65536;

/// Ethernet's minimum frame size without the FCS.
const MIN_FRAME: usize = 60;

const TP_STATUS_VLAN_VALID: u32 = 1 << 4;
const TP_STATUS_VLAN_TPID_VALID: u32 = 1 << 6;

impl PacketSocket {
    /// Open and bind to `ifname`, non-blocking.
    pub fn open(ifname: &str) -> anyhow::Result<Self> {
        let ifindex = if_index(ifname)?;
        let proto = (libc::ETH_P_ALL as u16).to_be();
        // Safety: plain syscall.
        let fd = unsafe {
            libc::socket(
                libc::AF_PACKET,
                libc::SOCK_RAW | libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC,
                i32::from(proto),
            )
        };
        if fd < 0 {
            return Err(io::Error::last_os_error()).context("socket(AF_PACKET) (needs root)");
        }
        // Safety: fd is a fresh socket we own.
        let fd = unsafe { OwnedFd::from_raw_fd(fd) };
        let sock = PacketSocket { fd, ifindex };
        sock.attach_filter()?;
        let one: libc::c_int = 1;
        sock.setsockopt(libc::SOL_PACKET, libc::PACKET_AUXDATA, &one)?;
        // Bursts (thousands of CPEs re-dialling after an outage, the
        // emulator starting a fleet) overflow the default ~200 KB buffers:
        // measured, 10,000 sessions at once lost 2,124 to drops with the
        // default and none with 16 MB. Best effort (needs CAP_NET_ADMIN).
        for opt in [libc::SO_RCVBUFFORCE, libc::SO_SNDBUFFORCE] {
            if let Err(e) = sock.setsockopt(libc::SOL_SOCKET, opt, &SOCKET_BUFFER) {
                log::debug!("packet socket buffer: {e:#}");
            }
        }
        // Safety: sockaddr_ll is plain old data.
        let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
        sll.sll_family = libc::AF_PACKET as u16;
        sll.sll_protocol = proto;
        sll.sll_ifindex = ifindex as i32;
        // Safety: sll is a valid sockaddr_ll of the given size.
        let rc = unsafe {
            libc::bind(
                sock.fd.as_raw_fd(),
                &sll as *const _ as *const libc::sockaddr,
                size_of::<libc::sockaddr_ll>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("bind to {ifname}"));
        }
        // Frames queued between socket() and bind() may come from any
        // interface; drain them.
        let mut buf = [0u8; 64];
        while sock.recv_raw(&mut buf).is_ok() {}
        Ok(sock)
    }

    fn setsockopt<T>(&self, level: i32, name: i32, val: &T) -> anyhow::Result<()> {
        // Safety: val points to a T of the given size.
        let rc = unsafe {
            libc::setsockopt(
                self.fd.as_raw_fd(),
                level,
                name,
                val as *const T as *const libc::c_void,
                size_of::<T>() as u32,
            )
        };
        if rc < 0 {
            return Err(io::Error::last_os_error()).context("setsockopt");
        }
        Ok(())
    }

    /// Classic BPF: keep PPPoE (0x8863/0x8864) and anything whose outer tag
    /// was stripped into metadata (checked again in userspace) or that is
    /// still tagged; drop the rest in the kernel so IPv4 floods on the access
    /// NIC never reach userspace.
    fn attach_filter(&self) -> anyhow::Result<()> {
        const LD_H_ABS: u16 = 0x28;
        const LD_W_ABS: u16 = 0x20;
        const JEQ_K: u16 = 0x15;
        const RET_K: u16 = 0x06;
        const SKF_AD_OFF: u32 = 0xffff_f000;
        const SKF_AD_VLAN_TAG_PRESENT: u32 = 48;
        let ins = |code: u16, jt: u8, jf: u8, k: u32| libc::sock_filter { code, jt, jf, k };
        let prog = [
            ins(LD_W_ABS, 0, 0, SKF_AD_OFF + SKF_AD_VLAN_TAG_PRESENT), // 0
            ins(JEQ_K, 0, 1, 1),                                       // 1: tag in metadata
            ins(RET_K, 0, 0, 0xffff),                                  // 2
            ins(LD_H_ABS, 0, 0, 12),                                   // 3: ethertype
            ins(JEQ_K, 4, 0, ETH_P_PPP_DISC.into()),                   // 4
            ins(JEQ_K, 3, 0, ETH_P_PPP_SES.into()),                    // 5
            ins(JEQ_K, 2, 0, ETH_P_8021Q.into()),                      // 6
            ins(JEQ_K, 1, 0, ETH_P_8021AD.into()),                     // 7
            ins(RET_K, 0, 0, 0),                                       // 8: drop
            ins(RET_K, 0, 0, 0xffff),                                  // 9: accept
        ];
        let fprog = libc::sock_fprog {
            len: prog.len() as u16,
            filter: prog.as_ptr() as *mut libc::sock_filter,
        };
        self.setsockopt(libc::SOL_SOCKET, libc::SO_ATTACH_FILTER, &fprog)
    }

    /// The interface this socket is bound to.
    pub fn ifindex(&self) -> u32 {
        self.ifindex
    }

    fn recv_raw(&self, buf: &mut [u8]) -> io::Result<usize> {
        // Safety: buf is valid for writes of its length.
        let n = unsafe {
            libc::recv(
                self.fd.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Receive one incoming frame into `buf` (cleared first), with a stripped
    /// outer VLAN tag re-inserted. Frames we sent ourselves are skipped.
    /// `WouldBlock` when nothing is queued.
    pub fn recv(&self, buf: &mut Vec<u8>) -> io::Result<()> {
        loop {
            // Receive into the spare capacity: no 64 KB memset per frame.
            buf.clear();
            buf.reserve(MAX_FRAME);
            let spare = buf.spare_capacity_mut();
            let cap = spare.len();
            let mut iov = libc::iovec {
                iov_base: spare.as_mut_ptr() as *mut libc::c_void,
                iov_len: cap,
            };
            let mut cmsg_buf = [0u64; 16];
            // Safety: sockaddr_ll and msghdr are plain old data.
            let mut sll: libc::sockaddr_ll = unsafe { zeroed() };
            let mut msg: libc::msghdr = unsafe { zeroed() };
            msg.msg_name = &mut sll as *mut _ as *mut libc::c_void;
            msg.msg_namelen = size_of::<libc::sockaddr_ll>() as u32;
            msg.msg_iov = &mut iov;
            msg.msg_iovlen = 1;
            msg.msg_control = cmsg_buf.as_mut_ptr() as *mut libc::c_void;
            msg.msg_controllen = size_of::<[u64; 16]>();
            // Safety: msg points at live buffers for the duration of the call.
            let n = unsafe { libc::recvmsg(self.fd.as_raw_fd(), &mut msg, libc::MSG_TRUNC) };
            if n < 0 {
                buf.clear();
                return Err(io::Error::last_os_error());
            }
            let n = (n as usize).min(cap);
            // Safety: recvmsg initialised the first n bytes of the spare
            // capacity (n ≤ cap: MSG_TRUNC reports the full length, clamped).
            unsafe { buf.set_len(n) };
            if sll.sll_pkttype == libc::PACKET_OUTGOING {
                continue;
            }
            if let Some((tpid, tci)) = vlan_from_cmsgs(&msg) {
                if buf.len() >= 12 {
                    let tag = [(tpid >> 8) as u8, tpid as u8, (tci >> 8) as u8, tci as u8];
                    buf.splice(12..12, tag);
                }
            }
            return Ok(());
        }
    }

    /// Send one complete Ethernet frame.
    ///
    /// Frames shorter than Ethernet's 60-byte minimum (a PADT is 20 bytes)
    /// are zero-padded here: most NICs pad in hardware, but veth, tap and
    /// some virtual NICs don't, and a switch drops runts. PPPoE receivers
    /// ignore the padding (the PPPoE length field says where data ends).
    pub fn send(&self, frame: &[u8]) -> io::Result<()> {
        let mut padded = [0u8; MIN_FRAME];
        let frame = if frame.len() < MIN_FRAME {
            padded[..frame.len()].copy_from_slice(frame);
            &padded[..]
        } else {
            frame
        };
        // Safety: frame is valid for reads of its length.
        let n = unsafe {
            libc::send(
                self.fd.as_raw_fd(),
                frame.as_ptr() as *const libc::c_void,
                frame.len(),
                0,
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

fn vlan_from_cmsgs(msg: &libc::msghdr) -> Option<(u16, u16)> {
    // Safety: msg was filled by recvmsg; the CMSG macros walk within it.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(msg);
        while !cmsg.is_null() {
            let hdr = &*cmsg;
            if hdr.cmsg_level == libc::SOL_PACKET && hdr.cmsg_type == libc::PACKET_AUXDATA {
                let aux =
                    std::ptr::read_unaligned(libc::CMSG_DATA(cmsg) as *const libc::tpacket_auxdata);
                if aux.tp_status & TP_STATUS_VLAN_VALID != 0 || aux.tp_vlan_tci != 0 {
                    let tpid = if aux.tp_status & TP_STATUS_VLAN_TPID_VALID != 0 {
                        aux.tp_vlan_tpid
                    } else {
                        ETH_P_8021Q
                    };
                    return Some((tpid, aux.tp_vlan_tci));
                }
            }
            cmsg = libc::CMSG_NXTHDR(msg, cmsg);
        }
    }
    None
}

/// Register an fd-owning socket or device with tokio.
///
/// `T` must own its fd for its whole life and always return the same one
/// (true of [`PacketSocket`] and [`Tun`], which hold an `OwnedFd`/`File`).
pub trait OwnsFd: AsRawFd + Sized {
    /// Wrap in a tokio `AsyncFd`.
    fn into_async(self) -> io::Result<tokio::io::unix::AsyncFd<Self>> {
        // Safety: implementors own their fd until dropped (see trait doc),
        // and the AsyncFd owns the implementor.
        unsafe { tokio::io::unix::AsyncFd::register(self) }.map_err(io::Error::from)
    }
}

impl OwnsFd for PacketSocket {}
impl OwnsFd for Tun {}

impl AsRawFd for PacketSocket {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

impl AsFd for PacketSocket {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }
}

/// A TUN device (IFF_TUN | IFF_NO_PI): reads and writes bare IP packets.
pub struct Tun {
    file: File,
    name: String,
}

const TUNSETIFF: libc::c_ulong = 0x4004_54ca;

impl Tun {
    /// Create (or attach to) TUN device `name`, non-blocking.
    pub fn create(name: &str) -> anyhow::Result<Self> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/dev/net/tun")
            .context("open /dev/net/tun")?;
        let mut req = ifreq(name)?;
        req.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
        // Safety: req is a valid ifreq for TUNSETIFF.
        let rc = unsafe { libc::ioctl(file.as_raw_fd(), TUNSETIFF, &mut req) };
        if rc < 0 {
            return Err(io::Error::last_os_error()).with_context(|| format!("TUNSETIFF {name}"));
        }
        // Safety: fcntl on our own fd.
        unsafe {
            let flags = libc::fcntl(file.as_raw_fd(), libc::F_GETFL);
            libc::fcntl(file.as_raw_fd(), libc::F_SETFL, flags | libc::O_NONBLOCK);
        }
        Ok(Tun {
            file,
            name: name.to_owned(),
        })
    }

    /// The device name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Read one IP packet; `WouldBlock` when none is queued.
    pub fn recv(&self, buf: &mut [u8]) -> io::Result<usize> {
        // Safety: buf is valid for writes of its length.
        let n = unsafe {
            libc::read(
                self.file.as_raw_fd(),
                buf.as_mut_ptr() as *mut libc::c_void,
                buf.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(n as usize)
    }

    /// Write one IP packet.
    pub fn send(&self, pkt: &[u8]) -> io::Result<()> {
        // Safety: pkt is valid for reads of its length.
        let n = unsafe {
            libc::write(
                self.file.as_raw_fd(),
                pkt.as_ptr() as *const libc::c_void,
                pkt.len(),
            )
        };
        if n < 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }
}

impl AsRawFd for Tun {
    fn as_raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }
}

impl AsFd for Tun {
    fn as_fd(&self) -> BorrowedFd<'_> {
        self.file.as_fd()
    }
}
