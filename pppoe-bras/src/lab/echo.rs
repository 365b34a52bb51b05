//! The UDP and TCP echo servers (RFC 862) on the test host in `inet`, which
//! log what they see (the source address shows the NAT), and the in-process
//! round trips that exercise them from a namespace ([`udp_round_trip`],
//! [`tcp_round_trip`]).

use std::{
    io::{ErrorKind, Read, Write},
    net::{SocketAddr, TcpListener, TcpStream, UdpSocket},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{bail, Context as _};

use super::netns::in_netns;

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
        let any = if dst.is_ipv6() { "[::]:0" } else { "0.0.0.0:0" };
        let sock = UdpSocket::bind(any).context("bind")?;
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

pub(super) struct EchoServers {
    stop: Arc<AtomicBool>,
    threads: Vec<JoinHandle<()>>,
    pub(super) log: Arc<Mutex<Vec<EchoRecord>>>,
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
    pub(super) fn start(ns: &str, addr: SocketAddr) -> anyhow::Result<EchoServers> {
        let stop = Arc::new(AtomicBool::new(false));
        let log = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel::<anyhow::Result<()>>();
        let mut threads = Vec::new();

        let (ns_u, stop_u, log_u, tx_u) = (ns.to_owned(), stop.clone(), log.clone(), tx.clone());
        threads.push(std::thread::spawn(move || {
            let sock = crate::rawsock::enter_netns(&ns_u).and_then(|()| {
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
            let listener = crate::rawsock::enter_netns(&ns_t).and_then(|()| {
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

    pub(super) fn stop(self) {
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
