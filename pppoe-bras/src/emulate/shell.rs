//! The emulator's tokio shell: an AF_PACKET socket on the CPE interface
//! feeding a [`Fleet`], and for one session a TUN device carrying its IPv4
//! and IPv6, so ordinary `ping` and sockets in the CPE namespace go through
//! the PPPoE session.

use std::{
    collections::VecDeque,
    net::Ipv4Addr,
    time::{Duration, Instant},
};

use anyhow::Context as _;

use super::{
    cli::{client_mac, print_event, EmulateArgs},
    client::{Client, ClientEvent},
    fleet::Fleet,
};
use crate::rawsock::OwnsFd as _;

/// Run `pppoe-bras emulate`.
pub fn main(args: EmulateArgs) -> anyhow::Result<()> {
    if let Some(ns) = &args.netns {
        crate::rawsock::enter_netns(ns)?;
    }
    let code = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(shell(args))?;
    std::process::exit(code);
}

async fn shell(args: EmulateArgs) -> anyhow::Result<i32> {
    use std::io::ErrorKind::WouldBlock;
    use tokio::{
        io::unix::AsyncFd,
        signal::unix::{signal, SignalKind},
    };

    let sock = crate::rawsock::PacketSocket::open(&args.interface)?.into_async()?;
    let base_mac = crate::rawsock::if_mac(&args.interface)?;
    if args.sessions > 1 {
        run_ip(&["link", "set", &args.interface, "promisc", "on"])?;
    }
    let cfgs = (0..args.sessions)
        .map(|i| args.client_config(i, client_mac(base_mac, i)))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let tun = match &args.tun {
        Some(name) if args.sessions == 1 => Some(crate::rawsock::Tun::create(name)?.into_async()?),
        Some(_) => anyhow::bail!("--tun works with --sessions 1 only"),
        None => None,
    };
    let mut sigterm = signal(SignalKind::terminate())?;
    let mut sigint = signal(SignalKind::interrupt())?;
    let start = Instant::now();
    let mut fleet = Fleet::new(rand::random());
    fleet.launch(start, cfgs, args.rate)?;
    let launch_time = match args.rate {
        0 => Duration::ZERO,
        r => Duration::from_secs_f64(f64::from(args.sessions) / f64::from(r)),
    };
    let give_up =
        tokio::time::Instant::from_std(start + launch_time + Duration::from_secs(args.timeout));
    let mut buf = Vec::with_capacity(65536);
    let mut tun_buf = vec![0u8; 65536];
    let close_rate = args.close_rate.unwrap_or(args.rate);
    let mut closing = false;
    let mut announced = false;
    // The IPv6 address on the TUN, to replace when the prefix changes.
    let mut tun6: Option<std::net::Ipv6Addr> = None;
    let rx_delay = Duration::from_millis(args.rx_delay_ms);
    // Frames held back by --rx-delay-ms, in arrival order.
    let mut held: VecDeque<(Instant, Vec<u8>)> = VecDeque::new();
    let to_tun = |tun: &Option<AsyncFd<crate::rawsock::Tun>>, ip: &[u8]| {
        if let Some(t) = tun {
            let _ = t.get_ref().send(ip);
        }
    };
    loop {
        let now = Instant::now();
        while held.front().is_some_and(|(at, _)| *at <= now) {
            if let Some((_, frame)) = held.pop_front() {
                if let Some((_, ip)) = fleet.handle_frame(now, &frame) {
                    to_tun(&tun, ip);
                }
            }
        }
        while let Some(frame) = fleet.poll_transmit() {
            if let Err(e) = sock.get_ref().send(&frame) {
                log::warn!("send: {e}");
            }
        }
        while let Some((i, ev)) = fleet.poll_event() {
            // Configure the TUN before saying UP, so whoever waits for
            // the line can use the session at once.
            if let (ClientEvent::Up { address, mru, .. }, Some(t)) = (&ev, &tun) {
                let name = t.get_ref().name().to_owned();
                configure_tun(&name, *address, *mru, args.default_route)
                    .context("configure the TUN device")?;
            }
            if let (
                ClientEvent::Ipv6Up {
                    address: Some(a), ..
                },
                Some(t),
            ) = (&ev, &tun)
            {
                let name = t.get_ref().name().to_owned();
                // IPv6 only (--no-ipv4 or the profile): no IPCP brought
                // the TUN up.
                if fleet.client(i).is_some_and(|c| !c.config().peer.ipv4) {
                    let mru = fleet
                        .client(i)
                        .and_then(Client::peer)
                        .map_or(1492, |p| p.peer_mru());
                    run_ip(&["link", "set", &name, "mtu", &mru.to_string(), "up"])
                        .context("bring the TUN device up")?;
                }
                // A new /64 (the BRAS restarted and renegotiated IPv6CP):
                // the old address goes, or the kernel may keep choosing it
                // as the source and the BRAS drops that as spoofed.
                if let Some(old) = tun6.filter(|o| o != a) {
                    let _ = run_ip(&["-6", "addr", "del", &format!("{old}/128"), "dev", &name]);
                }
                tun6 = Some(*a);
                // A namespace with IPv6 disabled still gets its IPv4.
                if let Err(e) = configure_tun6(&name, *a, args.default_route) {
                    log::warn!("IPv6 on {name}: {e:#}");
                }
            }
            let failure = matches!(ev, ClientEvent::AuthFailed { .. })
                || matches!(&ev, ClientEvent::Down { .. } if !fleet.client(i).is_some_and(Client::was_up));
            if !args.quiet || failure {
                print_event(i, fleet.client(i), &ev);
            }
        }
        if !announced && fleet.all_up() {
            // Once, when the last session came up: for benches that
            // measure before hanging up.
            announced = true;
            println!("{}", fleet.stats().line("ALLUP", start));
        }
        if fleet.is_done() {
            break;
        }
        let deadline = fleet
            .poll_timeout()
            .into_iter()
            .chain(held.front().map(|(at, _)| *at))
            .min();
        let all_up = fleet.all_up();
        let sleep = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(tokio::time::Instant::from_std(at)).await,
                None => std::future::pending().await,
            }
        };
        let tun_readable = async {
            match &tun {
                Some(t) => t.readable().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            guard = sock.readable() => {
                let mut guard = guard?;
                // Bounded batch so timers and signals are never starved.
                for _ in 0..1024 {
                    match sock.get_ref().recv(&mut buf) {
                        Ok(()) if !rx_delay.is_zero() => {
                            if held.len() < 100_000 {
                                held.push_back((Instant::now() + rx_delay, buf.clone()));
                            }
                        }
                        Ok(()) => {
                            if let Some((_, ip)) = fleet.handle_frame(Instant::now(), &buf) {
                                to_tun(&tun, ip);
                            }
                        }
                        Err(e) if e.kind() == WouldBlock => { guard.clear_ready(); break; }
                        Err(e) => return Err(e).context("recv"),
                    }
                }
            }
            guard = tun_readable => {
                let mut guard = guard?;
                let t = tun.as_ref().map(AsyncFd::get_ref);
                while let Some(t) = t {
                    match t.recv(&mut tun_buf) {
                        Ok(n) => {
                            if let Some(frame) = fleet.encap_ipv4(0, tun_buf.get(..n).unwrap_or_default()) {
                                let _ = sock.get_ref().send(&frame);
                            }
                        }
                        Err(e) if e.kind() == WouldBlock => { guard.clear_ready(); break; }
                        Err(e) => return Err(e).context("tun read"),
                    }
                }
            }
            () = sleep => fleet.handle_timeout(Instant::now()),
            () = tokio::time::sleep_until(give_up), if !all_up && !closing => {
                let st = fleet.stats();
                eprintln!(
                    "emulate: not every session came up within {} s ({} of {} up)",
                    args.timeout, st.up, st.clients
                );
                fleet.close(Instant::now(), close_rate);
                closing = true;
            }
            // A second signal hangs up the rest at once.
            _ = sigterm.recv() => {
                fleet.close(Instant::now(), if closing { 0 } else { close_rate });
                closing = true;
            }
            _ = sigint.recv() => {
                fleet.close(Instant::now(), if closing { 0 } else { close_rate });
                closing = true;
            }
        }
    }
    println!("{}", fleet.stats().summary_line(start));
    Ok(if fleet.all_up() { 0 } else { 1 })
}

fn configure_tun(
    name: &str,
    address: Ipv4Addr,
    mtu: u16,
    default_route: bool,
) -> anyhow::Result<()> {
    let addr = format!("{address}/32");
    let mtu = mtu.to_string();
    run_ip(&["addr", "add", &addr, "dev", name])?;
    run_ip(&["link", "set", name, "mtu", &mtu, "up"])?;
    if default_route {
        run_ip(&["route", "replace", "default", "dev", name])?;
    }
    Ok(())
}

/// The SLAAC address on the TUN (nodad: the BRAS is the only other end),
/// and the default IPv6 route through it for the cpe namespace.
fn configure_tun6(
    name: &str,
    address: std::net::Ipv6Addr,
    default_route: bool,
) -> anyhow::Result<()> {
    let addr = format!("{address}/128");
    run_ip(&["-6", "addr", "replace", &addr, "dev", name, "nodad"])?;
    if default_route {
        run_ip(&["-6", "route", "replace", "default", "dev", name])?;
    }
    Ok(())
}

fn run_ip(args: &[&str]) -> anyhow::Result<()> {
    let status = std::process::Command::new("ip")
        .args(args)
        .status()
        .context("run ip(8)")?;
    anyhow::ensure!(status.success(), "ip {} failed", args.join(" "));
    Ok(())
}
