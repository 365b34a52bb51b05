//! Bringing the data plane up and down: load the embedded object (map
//! sizes, pins), fill `CONFIG`, set the NICs' forwarding, attach both
//! programs through pinned links ([`Dataplane::start`]); detach, unpin and
//! restore at [`Dataplane::shutdown`] or `Drop`. Taking over a previous
//! daemon's pins is in [`super::adopt`].

use std::{
    collections::HashMap as StdHashMap,
    net::Ipv4Addr,
    path::{Path, PathBuf},
};

use anyhow::{anyhow, bail, Context as _};
use aya::{
    maps::{lpm_trie::Key as LpmKey, Array, LpmTrie, Map, MapData, MapError},
    programs::{
        links::FdLink,
        xdp::{XdpLinkId, XdpMode as AyaXdpMode},
        ProgramError, Xdp,
    },
    Ebpf, EbpfLoader,
};
use pppoe_bras_common::maps::{
    names, programs, Config, CONFIG6_F_ENABLED, CONFIG6_F_PROXY_ND, CONFIG_F_ENABLED,
    CONFIG_F_ISOLATE, CONFIG_F_MSS_CLAMP, CONFIG_F_ROUTED, MAX_SESSIONS,
};

use super::{
    adopt::adoptable,
    blocks::{layout_blocks, PortBlocks, SessionIds, Slots},
    capture, ebpf_object,
    nat::nat_sizing,
    nat::Sweep,
    nic,
    settings::covering,
    sys, Adopted, Dataplane, DataplaneConfig, Program, SessionRow, XdpMode,
};

pub(super) fn take<T>(
    ebpf: &mut Ebpf,
    name: &str,
    pin_dir: &Path,
    pinned: &mut Vec<PathBuf>,
) -> anyhow::Result<T>
where
    T: TryFrom<Map, Error = MapError>,
{
    let map = ebpf
        .take_map(name)
        .ok_or_else(|| anyhow!("map {name} missing from the XDP object"))?;
    let path = pin_dir.join(name);
    // Re-adopting, the map was opened from this very pin.
    if !path.exists() {
        map.pin(&path)
            .with_context(|| format!("pinning {}", path.display()))?;
    }
    pinned.push(path);
    T::try_from(map).with_context(|| format!("map {name}: unexpected type"))
}

impl Dataplane {
    /// Load the embedded object, fill `CONFIG`, pin the maps under
    /// `cfg.pin_dir` (stale pins removed first), enable IPv4 forwarding on
    /// the access NIC (needed by `bpf_fib_lookup`) and attach both programs.
    pub fn start(cfg: &DataplaneConfig) -> anyhow::Result<Self> {
        Self::start_with(cfg, None).map(|(dp, _)| dp)
    }

    /// [`Dataplane::start`], re-adopting what a previous daemon left
    /// running in `cfg.pin_dir` (its pinned links and maps): the maps are
    /// reused as they are (sessions, NAT mappings, counters), the new
    /// programs are swapped into the running links atomically, and the
    /// allocations of `adopt` (from the state file) are taken over; rows of
    /// sessions the state file does not know are removed. Without usable
    /// pins it starts clean. Returns the sessions actually adopted.
    pub fn start_adopting(
        cfg: &DataplaneConfig,
        adopt: &[Adopted],
    ) -> anyhow::Result<(Self, Vec<SessionRow>)> {
        Self::start_with(cfg, Some(adopt))
    }

    fn start_with(
        cfg: &DataplaneConfig,
        adopt: Option<&[Adopted]>,
    ) -> anyhow::Result<(Self, Vec<SessionRow>)> {
        let object = ebpf_object().ok_or_else(|| {
            anyhow!("built without the XDP object (AYA_BUILD_SKIP=1): the data plane cannot start")
        })?;
        if cfg.nat && cfg.port_block_size == 0 {
            bail!("port_block_size must be > 0 with NAT on");
        }
        let access_ifindex = crate::rawsock::if_index(&cfg.access_if)?;
        let uplink_ifindex = crate::rawsock::if_index(&cfg.uplink_if)?;
        let uplink_ip = sys::first_ipv4(&cfg.uplink_if).ok();
        let public_ips = if !cfg.public_ips.is_empty() {
            cfg.public_ips.clone()
        } else if cfg.nat {
            vec![uplink_ip.ok_or_else(|| {
                anyhow!(
                    "uplink {} has no IPv4 address to use for NAT; set public_addresses",
                    cfg.uplink_if
                )
            })?]
        } else {
            Vec::new()
        };
        let public_ip = public_ips.first().copied().unwrap_or(Ipv4Addr::UNSPECIFIED);
        let local_ip = cfg.local_ip.unwrap_or(public_ip);
        let ephemeral = match sys::ephemeral_ports() {
            Ok(r) => Some(r),
            Err(e) => {
                log::warn!("{e:#}: NAT blocks may overlap the host's ephemeral ports");
                None
            }
        };
        let nr_cpus = aya::util::nr_cpus().map_err(|(what, e)| anyhow!("{what}: {e}"))?;
        let blocks = if cfg.nat {
            layout_blocks(&public_ips, cfg.first_port, cfg.port_block_size, ephemeral)
        } else {
            Vec::new()
        };
        if cfg.nat && blocks.is_empty() {
            bail!(
                "no NAT port block of {} ports fits from port {} outside the host's ephemeral \
                 ports {ephemeral:?}; lower first_port or port_block_size",
                cfg.port_block_size,
                cfg.first_port
            );
        }
        let (nat_table_size, nat_session_cap) = nat_sizing(cfg, blocks.len())?;

        sys::ensure_bpffs(&cfg.pin_dir)?;
        let adopting = match adopt {
            Some(_) => match adoptable(&cfg.pin_dir, nat_table_size) {
                Ok(()) => true,
                Err(why) => {
                    log::warn!("not re-adopting the previous data plane: {why}; starting clean");
                    false
                }
            },
            None => false,
        };
        if !adopting {
            remove_pins(&cfg.pin_dir);
        }
        std::fs::create_dir_all(&cfg.pin_dir)
            .with_context(|| format!("creating {}", cfg.pin_dir.display()))?;

        let mut loader = EbpfLoader::new();
        loader
            .map_max_entries(names::NAT_OUT, nat_table_size)
            .map_max_entries(names::NAT_IN, nat_table_size);
        // Every shared map is pinned at creation (a new daemon re-adopting
        // opens each of these pins instead of creating the map).
        for name in names::ALL {
            loader.map_pin_path(name, cfg.pin_dir.join(name));
        }
        let mut ebpf = loader.load(object).context("loading the XDP object")?;
        let mut pinned = Vec::new();
        let pd = cfg.pin_dir.as_path();
        let sessions = take(&mut ebpf, names::SESSIONS, pd, &mut pinned)?;
        let session_by_id = take(&mut ebpf, names::SESSION_BY_ID, pd, &mut pinned)?;
        let subscribers = take(&mut ebpf, names::SUBSCRIBERS, pd, &mut pinned)?;
        let sub_by_slot = take(&mut ebpf, names::SUB_BY_SLOT, pd, &mut pinned)?;
        let nat_out = take(&mut ebpf, names::NAT_OUT, pd, &mut pinned)?;
        let nat_in = take(&mut ebpf, names::NAT_IN, pd, &mut pinned)?;
        let nat_slots = take(&mut ebpf, names::NAT_SLOTS, pd, &mut pinned)?;
        let nat_freed = take(&mut ebpf, names::NAT_FREED, pd, &mut pinned)?;
        let nat_out_raw = MapData::from_pin(pd.join(names::NAT_OUT)).context("opening NAT_OUT")?;
        let nat_in_raw = MapData::from_pin(pd.join(names::NAT_IN)).context("opening NAT_IN")?;
        let counters = take(&mut ebpf, names::COUNTERS, pd, &mut pinned)?;
        let stats = take(&mut ebpf, names::STATS, pd, &mut pinned)?;
        let mut config: Array<MapData, Config> = take(&mut ebpf, names::CONFIG, pd, &mut pinned)?;
        let neigh_miss = take(&mut ebpf, names::NEIGH_MISS, pd, &mut pinned)?;
        let cpus = take(&mut ebpf, names::CPUS, pd, &mut pinned)?;
        let spread_cpus = take(&mut ebpf, names::SPREAD_CPUS, pd, &mut pinned)?;
        let capture_maps = capture::pin(&mut ebpf, pd, &mut pinned)?;
        let session6 = take(&mut ebpf, names::SESSION6, pd, &mut pinned)?;
        let net64 = take(&mut ebpf, names::NET64, pd, &mut pinned)?;
        let deleg6 = take(&mut ebpf, names::DELEG6, pd, &mut pinned)?;
        let mut inside_nets: LpmTrie<MapData, [u8; 4], u8> =
            take(&mut ebpf, names::INSIDE_NETS, pd, &mut pinned)?;
        for (net, len) in &cfg.inside {
            inside_nets
                .insert(&LpmKey::new(u32::from(*len), net.octets()), 1, 0)
                .with_context(|| format!("writing INSIDE_NETS {net}/{len}"))?;
        }
        let (inside_net, inside_mask) = covering(&cfg.inside);
        let mut flags = CONFIG_F_ENABLED;
        if cfg.isolate_subscribers {
            flags |= CONFIG_F_ISOLATE;
        }
        if cfg.mss_clamp {
            flags |= CONFIG_F_MSS_CLAMP;
        }
        if !cfg.nat {
            flags |= CONFIG_F_ROUTED;
        }
        let config_value = Config {
            public_addr: uplink_ip.unwrap_or(public_ip).octets(),
            uplink_ifindex,
            access_ifindex,
            flags,
            local_addr: local_ip.octets(),
            mru: cfg.mru,
            spread_cpus: 0,
            access_allow: cfg.access_allow,
            inside_net,
            inside_mask,
            nat_session_cap,
            _pad: 0,
            v6_flags: match (cfg.ipv6, cfg.ipv6_proxy_nd) {
                (false, _) => 0,
                (true, false) => CONFIG6_F_ENABLED,
                (true, true) => CONFIG6_F_ENABLED | CONFIG6_F_PROXY_ND,
            },
            v6_deleg_len: u16::from(cfg.v6_deleg_len.min(64)),
            uplink6: sys::first_global_ipv6(&cfg.uplink_if)
                .map(|a| a.octets())
                .unwrap_or_default(),
            uplink_mac: crate::rawsock::if_mac(&cfg.uplink_if).unwrap_or_default(),
            _pad6: [0; 2],
        };
        config.set(0, config_value, 0)?;
        // The FIB lookups are made for the uplink (see the eBPF `fib`
        // module), so forwarding is on there and OFF on the access NIC: the
        // kernel never routes anything that arrived from the subscriber
        // segment, even if a frame got past XDP.
        let access_fwd = sys::set_forwarding(&cfg.access_if, false).unwrap_or_else(|e| {
            log::warn!(
                "{e:#}: the kernel may route non-PPPoE frames from {}",
                cfg.access_if
            );
            false
        });
        let uplink_fwd = sys::set_forwarding(&cfg.uplink_if, true).unwrap_or_else(|e| {
            log::warn!("{e:#}: upstream FIB lookups will fail (drop_fib_fail)");
            true
        });
        if cfg.ipv6 {
            // The same for IPv6: the FIB lookups of `access6` are made for the
            // uplink; nothing arriving on the access NIC is routed.
            let _ = sys::set_forwarding_family("ipv6", &cfg.access_if, false);
            if let Err(e) = sys::set_forwarding_family("ipv6", &cfg.uplink_if, true) {
                log::warn!("{e:#}: IPv6 FIB lookups will fail (drop_fib_fail)");
            }
        }
        if access_fwd {
            log::info!(
                "IPv4 forwarding turned off on the access NIC {}: only PPPoE enters from it",
                cfg.access_if
            );
        }

        let n_blocks = blocks.len();
        let mut dp = Self {
            ebpf,
            sessions,
            session_by_id,
            subscribers,
            sub_by_slot,
            nat_out,
            nat_in,
            nat_out_raw,
            nat_in_raw,
            nat_slots,
            nat_freed,
            freed: StdHashMap::new(),
            sweep: Sweep::default(),
            nat_table_size,
            nat_session_cap,
            counters,
            stats,
            neigh_miss,
            config,
            config_value,
            inside_nets,
            inside: cfg.inside.clone(),
            session6,
            pending6: StdHashMap::new(),
            by_key: StdHashMap::new(),
            net64,
            deleg6,
            v6_deleg_len: cfg.v6_deleg_len.min(64),
            cpus,
            spread_cpus,
            spread: Vec::new(),
            links: Vec::new(),
            pin_dir: cfg.pin_dir.clone(),
            pinned,
            access_ifindex,
            nics: [cfg.access_if.clone(), cfg.uplink_if.clone()],
            last_xmit_errors: 0,
            public_ip,
            nat: cfg.nat,
            timeouts: cfg.timeouts,
            installed: StdHashMap::new(),
            ids: SessionIds::default(),
            slots: Slots::new(MAX_SESSIONS),
            blocks: PortBlocks::new(blocks, cfg.port_block_size),
            last_neigh_miss: 0,
            _capture: capture_maps,
            last_quota_drops: 0,
            nr_cpus,
            forwarding_was: Some((
                cfg.access_if.clone(),
                access_fwd,
                cfg.uplink_if.clone(),
                uplink_fwd,
            )),
            done: false,
        };
        // From here on Drop cleans up (pins, links) if attaching fails.
        dp.xdp(Program::AccessCpu)?
            .load()
            .with_context(|| format!("verifier rejected {}", programs::ACCESS_CPU))?;
        let mut adopted = Vec::new();
        if adopting {
            dp.swap_into_pinned_link(Program::Access)?;
            dp.swap_into_pinned_link(Program::Uplink)?;
            adopted = dp.take_over(adopt.unwrap_or_default(), &cfg.inside)?;
        } else {
            let mode = attach_mode(cfg)?;
            dp.attach(Program::Access, &cfg.access_if, mode)?;
            dp.attach(Program::Uplink, &cfg.uplink_if, mode)?;
        }
        dp.last_xmit_errors = dp.xmit_errors();
        // bpf_fib_lookup only finds neighbours the kernel already knows;
        // resolve the uplink's gateways now so a subscriber's first packet
        // is not lost to `drop_no_neigh` (later misses go through NEIGH_MISS).
        match sys::gateways(&cfg.uplink_if) {
            Ok(gws) => {
                for gw in gws {
                    if let Err(e) = sys::poke_neighbour(gw) {
                        log::debug!("resolving gateway {gw}: {e}");
                    }
                }
            }
            Err(e) => log::debug!("reading gateways of {}: {e}", cfg.uplink_if),
        }
        if cfg.ipv6 {
            for gw in sys::gateways6(&cfg.uplink_if).unwrap_or_default() {
                if let Err(e) = sys::poke_neighbour6(gw) {
                    log::debug!("resolving IPv6 gateway {gw}: {e}");
                }
            }
        }
        let eph = ephemeral.map_or_else(|| "?".to_owned(), |(a, b)| format!("{a}-{b}"));
        log::info!(
            "data plane up: access {} (ifindex {access_ifindex}), uplink {} (ifindex \
             {uplink_ifindex}), nat {}, public {}, {n_blocks} port blocks of {} (host ephemeral \
             ports {eph} left out), NAT table {nat_table_size} mappings, {} per session, mss \
             clamp {}, maps in {}",
            cfg.access_if,
            cfg.uplink_if,
            if cfg.nat { "on" } else { "off" },
            public_ips
                .iter()
                .map(|a| a.to_string())
                .collect::<Vec<_>>()
                .join(","),
            cfg.port_block_size,
            if nat_session_cap == 0 {
                "block-limited".to_owned()
            } else {
                format!("at most {nat_session_cap}")
            },
            if cfg.mss_clamp { "on" } else { "off" },
            cfg.pin_dir.display()
        );
        Ok((dp, adopted))
    }

    pub(super) fn xdp(&mut self, which: Program) -> anyhow::Result<&mut Xdp> {
        let name = which.name();
        let p: &mut Xdp = self
            .ebpf
            .program_mut(name)
            .ok_or_else(|| anyhow!("program {name} missing from the XDP object"))?
            .try_into()
            .with_context(|| format!("program {name} is not XDP"))?;
        Ok(p)
    }

    fn attach(&mut self, which: Program, iface: &str, mode: XdpMode) -> anyhow::Result<()> {
        let name = which.name();
        let prog = self.xdp(which)?;
        prog.load()
            .with_context(|| format!("verifier rejected {name}"))?;
        let try_attach = |prog: &mut Xdp, m: AyaXdpMode| -> Result<XdpLinkId, ProgramError> {
            prog.attach(iface, m)
        };
        let (id, used) = match mode {
            XdpMode::Native => (try_attach(prog, AyaXdpMode::Driver)?, "native"),
            XdpMode::Generic => (try_attach(prog, AyaXdpMode::Skb)?, "generic"),
            XdpMode::Auto => match try_attach(prog, AyaXdpMode::Driver) {
                Ok(id) => (id, "native"),
                Err(e) => {
                    log::info!("{name} on {iface}: native XDP failed ({e}), using generic");
                    (try_attach(prog, AyaXdpMode::Skb)?, "generic")
                }
            },
        };
        log::info!("{name} attached to {iface} in {used} mode");
        self.pin_link(which, id)
    }

    /// Take the program's link over and pin it, so it outlives the daemon.
    pub(super) fn pin_link(&mut self, which: Program, id: XdpLinkId) -> anyhow::Result<()> {
        let name = which.name();
        let path = self.pin_dir.join(link_pin(which));
        let link = self.xdp(which)?.take_link(id)?;
        let fd: FdLink = link
            .try_into()
            .with_context(|| format!("{name}: not a bpf_link (kernel too old?)"))?;
        let pinned = fd
            .pin(&path)
            .with_context(|| format!("pinning {}", path.display()))?;
        self.links.push(pinned);
        Ok(())
    }

    /// Detach both programs, unpin the maps and remove the pin directory.
    pub fn shutdown(mut self) -> anyhow::Result<()> {
        self.teardown()
    }

    pub(super) fn teardown(&mut self) -> anyhow::Result<()> {
        if self.done {
            return Ok(());
        }
        self.done = true;
        let mut first_err = None;
        for link in std::mem::take(&mut self.links) {
            // Unpinned and dropped: the last reference goes, the program
            // is detached.
            if let Err(e) = link.unpin() {
                log::warn!("unpinning an XDP link: {e}");
                first_err.get_or_insert(e.into());
            }
        }
        for p in self.pinned.drain(..) {
            if let Err(e) = std::fs::remove_file(&p) {
                if e.kind() != std::io::ErrorKind::NotFound {
                    log::warn!("unpinning {}: {e}", p.display());
                }
            }
        }
        remove_pins(&self.pin_dir);
        if let Some((access, a, uplink, u)) = self.forwarding_was.take() {
            // Best effort: the interfaces may be gone (a lab torn down first).
            let _ = sys::set_forwarding(&access, a);
            let _ = sys::set_forwarding(&uplink, u);
        }
        first_err.map_or(Ok(()), Err)
    }
}

impl Drop for Dataplane {
    fn drop(&mut self) {
        if let Err(e) = self.teardown() {
            log::warn!("data plane teardown: {e:#}");
        }
    }
}
/// The mode both programs are attached in: `cfg.xdp_mode`, unless native
/// redirects into one of the NICs would be dropped (a veth whose peer runs
/// neither XDP nor GRO, see [`nic`]): `auto` then attaches in generic mode
/// and logs one line saying why, `native` refuses to start with the fix.
fn attach_mode(cfg: &DataplaneConfig) -> anyhow::Result<XdpMode> {
    if cfg.xdp_mode == XdpMode::Generic {
        return Ok(XdpMode::Generic);
    }
    let mut facts = Vec::new();
    for ifname in [&cfg.access_if, &cfg.uplink_if] {
        match nic::facts(ifname) {
            Ok(f) => facts.push(f),
            Err(e) => log::warn!("inspecting {ifname} for native XDP: {e:#}"),
        }
    }
    match nic::decide(cfg.xdp_mode, &facts)? {
        nic::Decision::AsConfigured => Ok(cfg.xdp_mode),
        nic::Decision::Generic(why) => {
            log::warn!("{why}");
            Ok(XdpMode::Generic)
        }
    }
}

/// The pin file of a program's link.
pub(super) fn link_pin(which: Program) -> &'static str {
    match which {
        Program::Access => "link_bras_access",
        Program::Uplink => "link_bras_uplink",
        Program::AccessCpu => "link_bras_access_cpu",
    }
}

/// Remove every pin of a previous data plane: its links first (which
/// detaches its programs), then its maps.
pub(super) fn remove_pins(dir: &Path) {
    for p in [Program::Access, Program::Uplink] {
        let _ = std::fs::remove_file(dir.join(link_pin(p)));
    }
    for n in names::ALL {
        let _ = std::fs::remove_file(dir.join(n));
    }
    let _ = std::fs::remove_dir(dir);
}
