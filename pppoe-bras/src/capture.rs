//! `pppoe-bras capture`: the frames the XDP programs handle, as pcapng, the
//! way tcpdump shows an interface: on the access side PPPoE-encapsulated
//! (upstream as received by `bras_access`, downstream as sent after
//! `bras_uplink` encapsulated it), on the uplink side plain IPv4 (upstream
//! as sent after NAT, downstream as received). Since the programs redirect
//! every data frame before any tap sees it, `tcpdump -i <access NIC>` no
//! longer shows subscriber data; this does.
//!
//! The command writes `CAPTURE[0]` in the pinned maps and reads the copies
//! from the `CAPTURE_EVENTS` perf buffers (see
//! `pppoe_bras_common::capture` and `dataplane::capture`); the daemon is
//! only asked (control socket) to resolve `--user`. One pcapng interface
//! per side ("access", "uplink"), each packet with its direction
//! (`epb_flags`) and a comment naming the program and capture point.

use std::{
    io::Write,
    net::Ipv4Addr,
    path::PathBuf,
    sync::atomic::{AtomicBool, Ordering},
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};
use clap::{Args, ValueEnum};
use pppoe_bras_common::{
    capture::*,
    maps::{SessionKey, SessionValue, PIN_DIR},
    stats::Stat,
};

use crate::{
    control,
    dataplane::{
        capture::{buffer_fd, CaptureMaps, LEASE},
        monotonic_ns, online_cpus,
    },
    pcapng,
};

/// Which NIC(s) to capture on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Sides {
    /// The access NIC (PPPoE).
    Access,
    /// The uplink (IPv4).
    Uplink,
    /// Both.
    Both,
}

/// Which direction(s).
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Directions {
    /// Subscriber → uplink.
    Up,
    /// Uplink → subscriber.
    Down,
    /// Both.
    Both,
}

/// `pppoe-bras capture` arguments.
#[derive(Args, Debug, Clone)]
pub struct CaptureArgs {
    /// Where: access, uplink or both.
    #[arg(short = 'i', long = "interface", value_enum, default_value = "both")]
    pub interface: Sides,
    /// Only this PPPoE session (e.g. 0x0001).
    #[arg(long, value_name = "ID", group = "filter")]
    pub session: Option<String>,
    /// Only the session of this user (asks the daemon, see --control-socket).
    #[arg(long, value_name = "NAME", group = "filter")]
    pub user: Option<String>,
    /// Only the session holding this address; if none does, any frame with
    /// this IPv4 source or destination.
    #[arg(long, value_name = "ADDR", group = "filter")]
    pub ip: Option<Ipv4Addr>,
    /// up (subscriber → uplink), down or both.
    #[arg(long, value_enum, default_value = "both")]
    pub direction: Directions,
    /// Stop after COUNT frames.
    #[arg(short = 'c', long = "count", value_name = "COUNT")]
    pub count: Option<u64>,
    /// Stop after SECS seconds.
    #[arg(long, value_name = "SECS")]
    pub duration: Option<f64>,
    /// Bytes kept per frame.
    #[arg(short = 's', long = "snaplen", default_value_t = 262_144)]
    pub snaplen: u32,
    /// Frame budget per CPU and second (bursts of a tenth of it, at least
    /// 100); frames over it are counted (`capture_over_budget`), not copied.
    /// 0: no budget.
    #[arg(long, value_name = "PPS", default_value_t = 10_000)]
    pub rate: u32,
    /// Where the daemon pinned its maps.
    #[arg(long, value_name = "DIR", default_value = PIN_DIR)]
    pub pin_dir: PathBuf,
    /// The daemon's control socket (for --user).
    #[arg(long, value_name = "PATH", default_value = control::DEFAULT_SOCKET)]
    pub control_socket: PathBuf,
    /// pcapng output file, `-` for stdout (e.g. `| tshark -r -`).
    #[arg(short = 'w', long = "write", value_name = "FILE")]
    pub write: String,
}

/// Who the capture is about, once resolved.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Target {
    /// The PPPoE session id (access-side filter).
    pub session_id: Option<u16>,
    /// The session's map row, when it is installed.
    pub session: Option<SessionValue>,
    /// `--ip` that no session holds: any frame to or from it.
    pub host: Option<Ipv4Addr>,
}

impl Target {
    /// What the filter is, for the start line.
    pub fn describe(&self) -> String {
        match (self.session_id, self.session, self.host) {
            (Some(id), Some(v), _) if v.port_count > 0 => format!(
                "session {id:#06x} ({}, NAT {}:{}-{})",
                Ipv4Addr::from(v.addr),
                Ipv4Addr::from(v.public_addr),
                v.port_start,
                u32::from(v.port_start) + u32::from(v.port_count) - 1
            ),
            (Some(id), Some(v), _) => format!("session {id:#06x} ({})", Ipv4Addr::from(v.addr)),
            (Some(id), None, _) => {
                format!("session {id:#06x} (not up: access side only)")
            }
            (None, _, Some(a)) => format!("host {a}"),
            _ => "everything".to_owned(),
        }
    }
}

/// `CAPTURE[0]` for a capture of `sides`/`dirs` about `target` (owner and
/// lease left 0: the caller fills them).
pub fn capture_config(
    sides: Sides,
    dirs: Directions,
    target: &Target,
    snaplen: u32,
    rate: u32,
) -> CaptureConfig {
    let mut c = CaptureConfig {
        flags: CAPTURE_F_ENABLED,
        snaplen,
        ..CaptureConfig::default()
    };
    if matches!(sides, Sides::Access | Sides::Both) {
        c.flags |= CAPTURE_F_ACCESS;
    }
    if matches!(sides, Sides::Uplink | Sides::Both) {
        c.flags |= CAPTURE_F_UPLINK;
    }
    if matches!(dirs, Directions::Up | Directions::Both) {
        c.flags |= CAPTURE_F_UP;
    }
    if matches!(dirs, Directions::Down | Directions::Both) {
        c.flags |= CAPTURE_F_DOWN;
    }
    if let Some(interval) = 1_000_000_000u32.checked_div(rate) {
        c.interval_ns = interval.max(1);
        c.burst_ns = u64::from(c.interval_ns) * u64::from((rate / 10).max(100));
    }
    if let Some(id) = target.session_id {
        c.flags |= CAPTURE_F_SESSION;
        c.session_id = id;
        match target.session {
            Some(v) if v.port_count > 0 => {
                c.flags |= CAPTURE_F_PUB_ADDR | CAPTURE_F_PUB_PORTS;
                c.pub_addr = v.public_addr;
                c.port_lo = v.port_start;
                c.port_hi = v.port_start.saturating_add(v.port_count - 1);
            }
            Some(v) => {
                c.flags |= CAPTURE_F_PUB_ADDR;
                c.pub_addr = v.addr;
            }
            None => {}
        }
    } else if let Some(a) = target.host {
        c.flags |= CAPTURE_F_SUB_ADDR | CAPTURE_F_PUB_ADDR;
        c.sub_addr = a.octets();
        c.pub_addr = a.octets();
    }
    c
}

/// Session ids of `user` in the daemon's `sessions` reply.
pub fn sessions_of_user(reply: &str, user: &str) -> Vec<u16> {
    let want = format!("user={user}");
    reply
        .lines()
        .filter(|l| l.split_whitespace().any(|w| w == want))
        .filter_map(|l| control::parse_session_id(l.split_whitespace().next()?))
        .collect()
}

/// The packet comment: program and capture point, and for frames as sent
/// the verdict's counter.
pub fn comment(m: &CaptureMeta) -> String {
    let prog = match m.prog {
        PROG_ACCESS => "bras_access",
        PROG_ACCESS_CPU => "bras_access_cpu",
        PROG_UPLINK => "bras_uplink",
        _ => "?",
    };
    if point_is_in(m.point) {
        return format!("{prog} in");
    }
    let side = if point_is_access(m.point) {
        "access"
    } else {
        "uplink"
    };
    match Stat::ALL.get(usize::from(m.stat)) {
        Some(s) => format!("{prog} → {side} out ({})", s.name()),
        None => format!("{prog} → {side} out"),
    }
}

/// Frames and losses of one capture.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Summary {
    /// Frames written, access side.
    pub access: u64,
    /// Frames written, uplink side.
    pub uplink: u64,
    /// Frames over the budget (`capture_over_budget` during the capture).
    pub over_budget: u64,
    /// Frames the perf buffers had no room for.
    pub lost: u64,
}

impl Summary {
    /// The line printed at the end.
    pub fn line(&self, file: &str) -> String {
        let n = self.access + self.uplink;
        let mut s = format!(
            "{n} frames captured (access {}, uplink {}), {} dropped by the budget, {} lost in the \
             buffer",
            self.access, self.uplink, self.over_budget, self.lost
        );
        if n == 0 {
            s.push_str(&format!(
                "; nothing matched the filter: {file} is an empty pcapng"
            ));
        }
        s
    }
}

/// Maps the capture's points to pcapng interface ids.
struct Ifaces {
    access: Option<u32>,
    uplink: Option<u32>,
}

static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    STOP.store(true, Ordering::Relaxed);
}

/// SIGINT/SIGTERM set [`STOP`] (no SA_RESTART: `poll` returns early).
fn catch_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM] {
        // Safety: zeroed sigaction with a handler that only stores an atomic.
        unsafe {
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigemptyset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

fn realtime_ns() -> u64 {
    // Safety: zeroed timespec is a valid out-buffer.
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // Safety: valid clock id and buffer.
    unsafe { libc::clock_gettime(libc::CLOCK_REALTIME, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

fn resolve(args: &CaptureArgs, maps: &CaptureMaps) -> anyhow::Result<Target> {
    let sessions = maps.sessions();
    let by_id = |id: u16| -> Option<SessionValue> {
        sessions
            .iter()
            .find(|(k, _): &&(SessionKey, SessionValue)| k.session_id == id)
            .map(|(_, v)| *v)
    };
    if let Some(s) = &args.session {
        let id = control::parse_session_id(s)
            .ok_or_else(|| anyhow!("bad session id {s:?}: use 0x1a2b or a decimal number"))?;
        return Ok(Target {
            session_id: Some(id),
            session: by_id(id),
            host: None,
        });
    }
    if let Some(user) = &args.user {
        let reply = control::request(&args.control_socket, "sessions")?;
        let ids = sessions_of_user(&reply, user);
        let Some(&id) = ids.first() else {
            bail!("user {user} has no session (pppoe-bras sessions)");
        };
        if ids.len() > 1 {
            log::warn!(
                "user {user} has {} sessions; capturing the first, {id:#06x}",
                ids.len()
            );
        }
        return Ok(Target {
            session_id: Some(id),
            session: by_id(id),
            host: None,
        });
    }
    if let Some(ip) = args.ip {
        let found = sessions.iter().find(|(_, v)| v.addr == ip.octets());
        return Ok(match found {
            Some((k, v)) => Target {
                session_id: Some(k.session_id),
                session: Some(*v),
                host: None,
            },
            None => Target {
                session_id: None,
                session: None,
                host: Some(ip),
            },
        });
    }
    Ok(Target::default())
}

/// Turns the capture off when dropped (errors, panics, the normal end).
struct Disable<'a>(&'a mut CaptureMaps);

impl Drop for Disable<'_> {
    fn drop(&mut self) {
        if let Err(e) = self.0.disable() {
            eprintln!("pppoe-bras capture: turning the capture off: {e:#}");
        }
    }
}

/// Run `pppoe-bras capture` until -c, --duration, SIGINT/SIGTERM or a
/// closed output; prints the summary on stderr.
pub fn main(args: CaptureArgs) -> anyhow::Result<()> {
    if args.snaplen == 0 {
        bail!("--snaplen must be > 0");
    }
    let mut maps = CaptureMaps::open(&args.pin_dir)?;
    let target = resolve(&args, &maps)?;
    let cpus = online_cpus()?;
    // 64 pages (256 KiB with 4 KiB pages) per CPU: ~170 full-size frames.
    let mut buffers = maps.open_buffers(&cpus, 64)?;
    let (access_ifindex, uplink_ifindex) = maps.ifindexes();

    let mut out: Box<dyn Write> = if args.write == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout()))
    } else {
        let f = std::fs::File::create(&args.write)
            .with_context(|| format!("creating {}", args.write))?;
        Box::new(std::io::BufWriter::new(f))
    };
    let snaplen = args.snaplen;
    out.write_all(&pcapng::section_header("pppoe-bras capture"))?;
    let mut next = 0;
    let mut iface = |name: &str, desc: String, out: &mut dyn Write| -> anyhow::Result<u32> {
        out.write_all(&pcapng::interface_description(&pcapng::Interface {
            name: name.to_owned(),
            description: desc,
            linktype: pcapng::LINKTYPE_ETHERNET,
            snaplen,
        }))?;
        next += 1;
        Ok(next - 1)
    };
    let ifaces = Ifaces {
        access: match args.interface {
            Sides::Access | Sides::Both => Some(iface(
                "access",
                format!("access NIC (ifindex {access_ifindex}): bras_access in, PPPoE out"),
                &mut *out,
            )?),
            Sides::Uplink => None,
        },
        uplink: match args.interface {
            Sides::Uplink | Sides::Both => Some(iface(
                "uplink",
                format!("uplink NIC (ifindex {uplink_ifindex}): bras_uplink in, NATed out"),
                &mut *out,
            )?),
            Sides::Access => None,
        },
    };
    out.flush()?;

    let mut cfg = capture_config(
        args.interface,
        args.direction,
        &target,
        args.snaplen,
        args.rate,
    );
    cfg.owner_pid = std::process::id();
    let base_budget = maps.stat(Stat::CaptureOverBudget);
    let base_lost = maps.stat(Stat::CaptureLost);
    let clock_offset = realtime_ns().saturating_sub(monotonic_ns());
    catch_signals();
    let sides = match args.interface {
        Sides::Access => "access",
        Sides::Uplink => "uplink",
        Sides::Both => "access and uplink",
    };
    let dirs = match args.direction {
        Directions::Up => "upstream",
        Directions::Down => "downstream",
        Directions::Both => "both directions",
    };
    let file = if args.write == "-" {
        "stdout".to_owned()
    } else {
        args.write.clone()
    };
    let mut summary = Summary::default();
    let mut perf_lost = 0u64;
    let deadline = args
        .duration
        .map(|s| Instant::now() + Duration::from_secs_f64(s.max(0.0)));
    let limit = args.count.unwrap_or(u64::MAX);
    let mut stopped_by_output = false;
    {
        let guard = Disable(&mut maps);
        cfg.expires_ns = monotonic_ns() + LEASE.as_nanos() as u64;
        guard.0.set(&cfg)?;
        let mut renewed = Instant::now();
        eprintln!(
            "pppoe-bras capture: {sides}, {dirs}, {} → {file} (pid {}; Ctrl-C stops)",
            target.describe(),
            cfg.owner_pid
        );
        let mut fds: Vec<libc::pollfd> = buffers
            .iter()
            .map(|b| libc::pollfd {
                fd: buffer_fd(b),
                events: libc::POLLIN,
                revents: 0,
            })
            .collect();
        let mut finishing = false;
        loop {
            if !finishing {
                if renewed.elapsed() >= Duration::from_secs(1) {
                    cfg.expires_ns = monotonic_ns() + LEASE.as_nanos() as u64;
                    guard.0.set(&cfg)?;
                    renewed = Instant::now();
                }
                // Safety: valid pollfd array.
                unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, 200) };
            }
            // Each CPU has its own buffer: merge what they hold by time.
            let mut batch: Vec<(CaptureMeta, Vec<u8>)> = Vec::new();
            for b in buffers.iter_mut() {
                b.for_each(|ev| match ev {
                    aya::maps::perf::PerfEvent::Lost { count } => perf_lost += count,
                    aya::maps::perf::PerfEvent::Sample { head, tail } => {
                        // A sample that wraps around the ring comes in two parts.
                        let joined;
                        let sample = if tail.is_empty() {
                            head
                        } else {
                            joined = [head, tail].concat();
                            &joined[..]
                        };
                        let Some(m) = CaptureMeta::parse(sample) else {
                            return;
                        };
                        let start = std::mem::size_of::<CaptureMeta>();
                        let end = (start + m.cap_len as usize).min(sample.len());
                        let frame = sample[start..end].to_vec();
                        batch.push((m, frame));
                    }
                });
            }
            batch.sort_by_key(|(m, _)| m.ts_ns);
            let mut write_err = None;
            for (m, frame) in &batch {
                if summary.access + summary.uplink >= limit {
                    break;
                }
                let access = point_is_access(m.point);
                let Some(id) = (if access { ifaces.access } else { ifaces.uplink }) else {
                    continue;
                };
                let text = comment(m);
                let block = pcapng::enhanced_packet(&pcapng::Packet {
                    interface: id,
                    ts_ns: m.ts_ns.wrapping_add(clock_offset),
                    data: frame,
                    orig_len: m.orig_len,
                    direction: Some(if point_is_in(m.point) {
                        pcapng::Direction::Inbound
                    } else {
                        pcapng::Direction::Outbound
                    }),
                    comment: Some(&text),
                });
                if let Err(e) = out.write_all(&block) {
                    write_err = Some(e);
                    break;
                }
                if access {
                    summary.access += 1;
                } else {
                    summary.uplink += 1;
                }
            }
            let flushed = out.flush();
            if let Some(e) = write_err.or(flushed.err()) {
                if e.kind() == std::io::ErrorKind::BrokenPipe {
                    stopped_by_output = true;
                    break;
                }
                return Err(e).with_context(|| format!("writing {file}"));
            }
            if finishing {
                break;
            }
            let done = summary.access + summary.uplink >= limit
                || STOP.load(Ordering::Relaxed)
                || deadline.is_some_and(|d| Instant::now() >= d);
            if done {
                // Off first, then one last drain of what is already buffered.
                guard.0.disable()?;
                finishing = true;
            }
        }
        drop(guard);
    }
    summary.over_budget = maps
        .stat(Stat::CaptureOverBudget)
        .saturating_sub(base_budget);
    summary.lost = maps
        .stat(Stat::CaptureLost)
        .saturating_sub(base_lost)
        .max(perf_lost);
    if stopped_by_output {
        eprintln!("pppoe-bras capture: output closed");
    }
    eprintln!("pppoe-bras capture: {}", summary.line(&file));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nat_session() -> SessionValue {
        SessionValue {
            addr: [172, 16, 0, 101],
            public_addr: [198, 51, 100, 1],
            port_start: 1024,
            port_count: 512,
            mtu: 1492,
            flags: 1,
            slot: 0,
        }
    }

    #[test]
    fn config_selects_sides_directions_and_budget() {
        let c = capture_config(
            Sides::Both,
            Directions::Both,
            &Target::default(),
            96,
            10_000,
        );
        assert_eq!(
            c.flags,
            CAPTURE_F_ENABLED | CAPTURE_F_ACCESS | CAPTURE_F_UPLINK | CAPTURE_F_UP | CAPTURE_F_DOWN
        );
        assert_eq!(c.snaplen, 96);
        assert_eq!(c.interval_ns, 100_000, "10,000 frames/s per CPU");
        assert_eq!(c.burst_ns, 1000 * 100_000, "bursts of a tenth of a second");
        let c = capture_config(Sides::Uplink, Directions::Down, &Target::default(), 96, 0);
        assert_eq!(
            c.flags,
            CAPTURE_F_ENABLED | CAPTURE_F_UPLINK | CAPTURE_F_DOWN
        );
        assert_eq!((c.interval_ns, c.burst_ns), (0, 0), "no budget");
        let c = capture_config(Sides::Access, Directions::Up, &Target::default(), 96, 50);
        assert_eq!(c.flags, CAPTURE_F_ENABLED | CAPTURE_F_ACCESS | CAPTURE_F_UP);
        assert_eq!(c.burst_ns, 100 * 20_000_000, "at least 100 frames of burst");
    }

    #[test]
    fn session_filter_uses_the_id_and_the_nat_block() {
        let t = Target {
            session_id: Some(0x0001),
            session: Some(nat_session()),
            host: None,
        };
        let c = capture_config(Sides::Both, Directions::Both, &t, 96, 0);
        assert_ne!(c.flags & CAPTURE_F_SESSION, 0);
        assert_ne!(c.flags & CAPTURE_F_PUB_ADDR, 0);
        assert_ne!(c.flags & CAPTURE_F_PUB_PORTS, 0);
        assert_eq!(c.flags & CAPTURE_F_SUB_ADDR, 0);
        assert_eq!(c.session_id, 1);
        assert_eq!(c.pub_addr, [198, 51, 100, 1]);
        assert_eq!((c.port_lo, c.port_hi), (1024, 1535));
        assert_eq!(
            t.describe(),
            "session 0x0001 (172.16.0.101, NAT 198.51.100.1:1024-1535)"
        );

        // Routed: the subscriber's own address on the uplink, no ports.
        let routed = Target {
            session: Some(SessionValue {
                port_count: 0,
                port_start: 0,
                ..nat_session()
            }),
            ..t
        };
        let c = capture_config(Sides::Both, Directions::Both, &routed, 96, 0);
        assert_eq!(c.flags & CAPTURE_F_PUB_PORTS, 0);
        assert_eq!(c.pub_addr, [172, 16, 0, 101]);

        // Not up: the access side by id, nothing on the uplink.
        let absent = Target {
            session_id: Some(0x7777),
            session: None,
            host: None,
        };
        let c = capture_config(Sides::Both, Directions::Both, &absent, 96, 0);
        assert_ne!(c.flags & CAPTURE_F_SESSION, 0);
        assert_eq!(c.flags & (CAPTURE_F_PUB_ADDR | CAPTURE_F_SUB_ADDR), 0);
        assert!(absent.describe().contains("not up"));
    }

    #[test]
    fn host_filter_matches_the_address_on_both_sides() {
        let t = Target {
            host: Some(Ipv4Addr::new(192, 0, 2, 1)),
            ..Target::default()
        };
        let c = capture_config(Sides::Both, Directions::Both, &t, 96, 0);
        assert_eq!(c.flags & CAPTURE_F_SESSION, 0);
        assert_eq!(
            c.flags & (CAPTURE_F_SUB_ADDR | CAPTURE_F_PUB_ADDR | CAPTURE_F_PUB_PORTS),
            CAPTURE_F_SUB_ADDR | CAPTURE_F_PUB_ADDR
        );
        assert_eq!((c.sub_addr, c.pub_addr), ([192, 0, 2, 1], [192, 0, 2, 1]));
        assert_eq!(t.describe(), "host 192.0.2.1");
    }

    #[test]
    fn user_resolves_through_the_sessions_reply() {
        let reply = "0x0001 02:00:00:00:00:01 untagged user=testuser1 address=172.16.0.101 \
                     mtu=1492 age=3s up=3p/252B down=3p/252B\n\
                     0x0002 02:00:00:00:00:02 untagged user=testuser10 address=172.16.0.110 \
                     mtu=1492 age=1s up=0p/0B down=0p/0B\n";
        assert_eq!(sessions_of_user(reply, "testuser1"), vec![1]);
        assert_eq!(sessions_of_user(reply, "testuser10"), vec![2]);
        assert!(sessions_of_user(reply, "testuser").is_empty());
    }

    #[test]
    fn comments_name_program_point_and_verdict() {
        let m = |point, prog, stat| CaptureMeta {
            point,
            prog,
            stat,
            ..CaptureMeta::default()
        };
        assert_eq!(
            comment(&m(POINT_ACCESS_IN, PROG_ACCESS, STAT_NONE)),
            "bras_access in"
        );
        assert_eq!(
            comment(&m(POINT_UPLINK_IN, PROG_UPLINK, STAT_NONE)),
            "bras_uplink in"
        );
        assert_eq!(
            comment(&m(
                POINT_UPLINK_OUT,
                PROG_ACCESS_CPU,
                Stat::UpForwarded as u16
            )),
            "bras_access_cpu → uplink out (up_forwarded)"
        );
        assert_eq!(
            comment(&m(
                POINT_ACCESS_OUT,
                PROG_UPLINK,
                Stat::DownForwarded as u16
            )),
            "bras_uplink → access out (down_forwarded)"
        );
    }

    #[test]
    fn summary_says_when_nothing_matched() {
        let s = Summary::default();
        assert!(s.line("x.pcapng").contains("0 frames captured"));
        assert!(s.line("x.pcapng").contains("nothing matched the filter"));
        let s = Summary {
            access: 6,
            uplink: 6,
            over_budget: 1,
            lost: 2,
        };
        assert_eq!(
            s.line("x"),
            "12 frames captured (access 6, uplink 6), 1 dropped by the budget, 2 lost in the \
             buffer"
        );
    }
}
