//! The local control socket: `pppoe-bras sessions`, `stats` and `kill` talk
//! to a running daemon over a Unix stream socket, one command line in, text
//! lines out. The daemon side only parses and queues the command; the event
//! loop in `driver` answers it, so no lock is shared with the protocol code.

use std::path::{Path, PathBuf};

use anyhow::Context as _;

use crate::query::{Filter, Selector};
use tokio::{
    io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader},
    net::{UnixListener, UnixStream},
    sync::{mpsc, oneshot},
};

/// Default socket path.
pub const DEFAULT_SOCKET: &str = "/run/pppoe-bras.sock";

/// A command from a client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    /// List live sessions (those the filter matches).
    Sessions(Filter),
    /// One session in full (`json`: as JSON).
    Show(Selector, bool),
    /// Data-plane and discovery counters.
    Stats,
    /// Terminate a session by id, user, address or MAC.
    Kill(Selector),
    /// Re-read the configuration and secrets (as SIGHUP).
    Reload,
}

impl Command {
    /// Parse one command line: `sessions [user=… mac=… ip=… vlan=… state=…
    /// json]`, `show <selector> [json]`, `stats`, `kill <selector>`.
    pub fn parse(line: &str) -> Result<Command, String> {
        let mut words = line.split_whitespace();
        match (words.next(), words.next(), words.next()) {
            (Some("sessions"), first, _) => {
                let rest = line.split_whitespace().skip(1);
                let _ = first;
                Filter::parse(rest).map(Command::Sessions)
            }
            (Some("stats"), None, _) => Ok(Command::Stats),
            (Some("reload"), None, _) => Ok(Command::Reload),
            (Some("show"), Some(sel), json) => {
                let json = match json {
                    None => false,
                    Some("json") if words.next().is_none() => true,
                    Some(w) => return Err(format!("unexpected {w:?} after show {sel}")),
                };
                Selector::parse(sel).map(|s| Command::Show(s, json))
            }
            (Some("kill"), Some(sel), None) => Selector::parse(sel).map(Command::Kill),
            _ => Err(format!(
                "unknown command {line:?}: use sessions, show <sel>, stats, kill <sel> or reload"
            )),
        }
    }
}

/// `0x0001`, `1` → 1.
pub fn parse_session_id(s: &str) -> Option<u16> {
    match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    }
}

/// A command with the channel its reply goes back on.
pub type Request = (Command, oneshot::Sender<String>);

/// Listen on `path` (replacing a stale socket) and forward commands to the
/// returned receiver. The socket file is removed when the guard drops.
pub fn listen(path: &Path) -> anyhow::Result<(mpsc::Receiver<Request>, SocketGuard)> {
    let _ = std::fs::remove_file(path);
    let listener =
        UnixListener::bind(path).with_context(|| format!("control socket {}", path.display()))?;
    // Root only: the socket can end sessions and lists subscribers.
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
            .with_context(|| format!("chmod 0600 {}", path.display()))?;
    }
    let (tx, rx) = mpsc::channel(16);
    tokio::spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else {
                continue;
            };
            let tx = tx.clone();
            tokio::spawn(async move {
                let _ = serve_client(stream, tx).await;
            });
        }
    });
    Ok((
        rx,
        SocketGuard {
            path: path.to_owned(),
        },
    ))
}

async fn serve_client(stream: UnixStream, tx: mpsc::Sender<Request>) -> anyhow::Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    let mut reader = BufReader::new(read.take(1024));
    tokio::time::timeout(
        std::time::Duration::from_secs(5),
        reader.read_line(&mut line),
    )
    .await??;
    let reply = match Command::parse(line.trim()) {
        Ok(cmd) => {
            let (rtx, rrx) = oneshot::channel();
            tx.send((cmd, rtx)).await?;
            rrx.await?
        }
        Err(e) => format!("error: {e}\n"),
    };
    write.write_all(reply.as_bytes()).await?;
    write.shutdown().await?;
    Ok(())
}

/// Removes the socket file on drop.
pub struct SocketGuard {
    path: PathBuf,
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Client side: send `line`, print the reply.
pub fn request(path: &Path, line: &str) -> anyhow::Result<String> {
    use std::io::{Read, Write};
    let mut s = std::os::unix::net::UnixStream::connect(path).with_context(|| {
        format!(
            "connect to {} (is `pppoe-bras run` running? use --control-socket)",
            path.display()
        )
    })?;
    s.write_all(format!("{line}\n").as_bytes())?;
    let mut out = String::new();
    s.read_to_string(&mut out)?;
    Ok(out)
}

#[cfg(test)]
mod test {
    use super::*;

    #[test]
    fn parses_commands() {
        assert_eq!(
            Command::parse("sessions"),
            Ok(Command::Sessions(Filter::default()))
        );
        assert_eq!(Command::parse(" stats "), Ok(Command::Stats));
        assert_eq!(
            Command::parse("kill 0x0001"),
            Ok(Command::Kill(Selector::Id(1)))
        );
        assert_eq!(
            Command::parse("kill 258"),
            Ok(Command::Kill(Selector::Id(258)))
        );
        assert_eq!(
            Command::parse("kill user=bob"),
            Ok(Command::Kill(Selector::User("bob".into())))
        );
        assert_eq!(
            Command::parse("show 10.0.0.1 json"),
            Ok(Command::Show(Selector::Ip([10, 0, 0, 1].into()), true))
        );
        let f = Command::parse("sessions user=bob json").unwrap();
        assert!(matches!(f, Command::Sessions(f) if f.json && f.user.as_deref() == Some("bob")));
        assert!(Command::parse("kill").is_err());
        assert!(Command::parse("show").is_err());
        assert!(Command::parse("show 1 yaml").is_err());
        assert!(Command::parse("kill ip=1.2.3").is_err());
        assert!(Command::parse("reboot").is_err());
        assert!(Command::parse("sessions now").is_err());
    }
}
