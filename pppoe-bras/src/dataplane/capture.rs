//! The capture maps (`CAPTURE`, `CAPTURE_BUDGET`, `CAPTURE_EVENTS`, see
//! `pppoe_bras_common::capture`): pinned by the daemon with the others, and
//! opened from the pins by `pppoe-bras capture` ([`CaptureMaps`]).
//!
//! One capture at a time: the command holds an exclusive `flock` on the
//! pin directory while it runs (released by the kernel when it exits, also
//! on SIGKILL), and names the holder from `CAPTURE[0].owner_pid`. A killed
//! command leaves the flag set, but its lease (`expires_ns`) runs out
//! within [`LEASE`] and the programs ignore it from then on; the next
//! capture takes over.

use std::{
    fs::File,
    os::fd::{AsRawFd, RawFd},
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::{anyhow, bail, Context as _};
use aya::maps::{
    perf::PerfEventArrayBuffer, Array, HashMap, Map, MapData, PerCpuArray, PerfEventArray,
};
use pppoe_bras_common::{
    capture::CaptureConfig,
    maps::{names, Config, SessionKey, SessionValue},
    stats::Stat,
};

use super::load::take;

/// How long a capture's flag stays valid without being renewed.
pub const LEASE: Duration = Duration::from_secs(3);

/// The daemon's handles of the capture maps: they must stay open until the
/// programs that use them are loaded.
pub(super) struct Pinned {
    _config: Array<MapData, CaptureConfig>,
    _budget: PerCpuArray<MapData, u64>,
    _events: PerfEventArray<MapData>,
}

/// Pin the capture maps (at data plane start); `CAPTURE` starts all zero: off.
pub(super) fn pin(
    ebpf: &mut aya::Ebpf,
    pin_dir: &Path,
    pinned: &mut Vec<PathBuf>,
) -> anyhow::Result<Pinned> {
    Ok(Pinned {
        _config: take(ebpf, names::CAPTURE, pin_dir, pinned)?,
        _budget: take(ebpf, names::CAPTURE_BUDGET, pin_dir, pinned)?,
        _events: take(ebpf, names::CAPTURE_EVENTS, pin_dir, pinned)?,
    })
}

fn open_pinned(pin_dir: &Path, name: &str) -> anyhow::Result<Map> {
    let path = pin_dir.join(name);
    let data = MapData::from_pin(&path).with_context(|| {
        format!(
            "opening {} (is `pppoe-bras run` running with this pin dir? use --pin-dir)",
            path.display()
        )
    })?;
    Map::from_map_data(data).with_context(|| format!("map {name}"))
}

/// Per-CPU perf buffer of the captured frames.
pub type EventBuffer = PerfEventArrayBuffer<MapData>;

/// `pppoe-bras capture`'s side of the maps, with the capture lock held.
pub struct CaptureMaps {
    config: Array<MapData, CaptureConfig>,
    events: PerfEventArray<MapData>,
    stats: PerCpuArray<MapData, u64>,
    sessions: HashMap<MapData, SessionKey, SessionValue>,
    dp_config: Array<MapData, Config>,
    _lock: File,
}

impl CaptureMaps {
    /// Open the pinned maps under `pin_dir` and take the capture lock;
    /// fails, naming the running capture's pid, when another holds it.
    pub fn open(pin_dir: &Path) -> anyhow::Result<Self> {
        let config: Array<MapData, CaptureConfig> =
            open_pinned(pin_dir, names::CAPTURE)?.try_into()?;
        let lock = File::open(pin_dir).with_context(|| format!("opening {}", pin_dir.display()))?;
        // Safety: valid fd.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let e = std::io::Error::last_os_error();
            if e.raw_os_error() == Some(libc::EWOULDBLOCK) {
                let pid = config.get(&0, 0).map(|c| c.owner_pid).unwrap_or(0);
                bail!(
                    "another capture is running on {} (pid {pid}); stop it first",
                    pin_dir.display()
                );
            }
            return Err(anyhow!(e).context(format!("locking {}", pin_dir.display())));
        }
        Ok(Self {
            config,
            events: open_pinned(pin_dir, names::CAPTURE_EVENTS)?.try_into()?,
            stats: open_pinned(pin_dir, names::STATS)?.try_into()?,
            sessions: open_pinned(pin_dir, names::SESSIONS)?.try_into()?,
            dp_config: open_pinned(pin_dir, names::CONFIG)?.try_into()?,
            _lock: lock,
        })
    }

    /// Write `CAPTURE[0]`.
    pub fn set(&mut self, c: &CaptureConfig) -> anyhow::Result<()> {
        self.config.set(0, c, 0).context("writing CAPTURE")
    }

    /// Turn the capture off (all zero).
    pub fn disable(&mut self) -> anyhow::Result<()> {
        self.set(&CaptureConfig::default())
    }

    /// One `STATS` counter summed over CPUs.
    pub fn stat(&self, s: Stat) -> u64 {
        self.stats
            .get(&(s as u32), 0)
            .map(|v| v.iter().sum())
            .unwrap_or(0)
    }

    /// (access, uplink) ifindex of the running data plane.
    pub fn ifindexes(&self) -> (u32, u32) {
        self.dp_config
            .get(&0, 0)
            .map(|c| (c.access_ifindex, c.uplink_ifindex))
            .unwrap_or((0, 0))
    }

    /// The installed sessions (`SESSIONS`).
    pub fn sessions(&self) -> Vec<(SessionKey, SessionValue)> {
        self.sessions.iter().flatten().collect()
    }

    /// Open a perf buffer of `pages` pages (a power of two) for each CPU.
    pub fn open_buffers(&mut self, cpus: &[u32], pages: usize) -> anyhow::Result<Vec<EventBuffer>> {
        cpus.iter()
            .map(|&cpu| {
                self.events
                    .open(cpu, Some(pages))
                    .with_context(|| format!("perf buffer of CPU {cpu}"))
            })
            .collect()
    }
}

/// The raw fd of a buffer, for `poll`.
pub fn buffer_fd(b: &EventBuffer) -> RawFd {
    b.as_raw_fd()
}
