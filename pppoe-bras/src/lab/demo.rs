//! `pppoe-bras lab`: the demo, a list of checked steps over one lab, one
//! daemon and one emulated subscriber, each printed with ✔ or ✘.

use std::{
    path::{Path, PathBuf},
    process::Command,
    sync::atomic::Ordering,
    time::Duration,
};

use anyhow::{anyhow, bail, Context as _};

use super::{
    check_interrupted, contains_in_order, have_tool, install_interrupt_handler, interrupted,
    is_root, list_netns, process::run, tcp_round_trip, tshark_check, udp_round_trip, BrasOptions,
    EmuOptions, Lab, Proto, DEFAULT_PIN_DIR, ECHO_ADDR, INTERRUPTED, LOCAL_IP, TEST_HOST6,
};

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
