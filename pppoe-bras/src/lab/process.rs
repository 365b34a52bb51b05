//! Child processes of the lab: commands run to completion (`run`) and
//! background ones ([`LabProcess`]: the daemon, the emulator, tcpdump) whose
//! output is collected line by line and waited on.

use std::{
    fmt,
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    process::{Child, Command, ExitStatus, Stdio},
    sync::{Arc, Condvar, Mutex},
    thread::JoinHandle,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context as _};

use super::{check_interrupted, launch::UpLine};

/// Run a command to completion; error (with its stderr) when it fails.
pub(super) fn run(cmd: &mut Command) -> anyhow::Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .with_context(|| format!("spawn {cmd:?}"))?;
    if !out.status.success() {
        bail!(
            "{cmd:?} failed ({}): {}",
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

#[derive(Default)]
struct OutputLines {
    stdout: Vec<String>,
    stderr: Vec<String>,
    open_streams: u8,
}

struct Shared {
    lines: Mutex<OutputLines>,
    cv: Condvar,
}

/// A background process (daemon, emulator, tcpdump) whose stdout and stderr
/// are collected line by line (and echoed to stderr as `[name] line`).
/// Dropping it terminates it (SIGTERM, then SIGKILL after 5 s).
pub struct LabProcess {
    name: String,
    child: Child,
    shared: Arc<Shared>,
    readers: Vec<JoinHandle<()>>,
    status: Option<ExitStatus>,
}

impl fmt::Debug for LabProcess {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabProcess")
            .field("name", &self.name)
            .field("pid", &self.child.id())
            .finish()
    }
}

/// Which output stream a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stream {
    /// Standard output.
    Stdout,
    /// Standard error.
    Stderr,
}

impl LabProcess {
    /// Spawn `cmd` with stdin closed and stdout/stderr collected.
    ///
    /// The child gets its own process group (a Ctrl-C on the terminal reaches
    /// only us, and we stop children in order) and `PR_SET_PDEATHSIG`
    /// SIGTERM, so it does not outlive a killed test or demo.
    pub fn spawn(name: &str, mut cmd: Command) -> anyhow::Result<LabProcess> {
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            cmd.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let mut child = cmd.spawn().with_context(|| format!("spawn {cmd:?}"))?;
        let shared = Arc::new(Shared {
            lines: Mutex::new(OutputLines {
                open_streams: 2,
                ..Default::default()
            }),
            cv: Condvar::new(),
        });
        let mut readers = Vec::new();
        if let Some(out) = child.stdout.take() {
            readers.push(Self::reader(name, Stream::Stdout, out, shared.clone()));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(Self::reader(name, Stream::Stderr, err, shared.clone()));
        }
        Ok(LabProcess {
            name: name.to_owned(),
            child,
            shared,
            readers,
            status: None,
        })
    }

    fn reader(
        name: &str,
        stream: Stream,
        pipe: impl Read + Send + 'static,
        shared: Arc<Shared>,
    ) -> JoinHandle<()> {
        let tag = match stream {
            Stream::Stdout => format!("[{name}] "),
            Stream::Stderr => format!("[{name}!] "),
        };
        std::thread::spawn(move || {
            let mut r = BufReader::new(pipe);
            let mut buf = Vec::new();
            loop {
                buf.clear();
                match r.read_until(b'\n', &mut buf) {
                    Ok(0) | Err(_) => break,
                    Ok(_) => {
                        let line = String::from_utf8_lossy(&buf).trim_end().to_owned();
                        eprintln!("{tag}{line}");
                        if let Ok(mut l) = shared.lines.lock() {
                            match stream {
                                Stream::Stdout => l.stdout.push(line),
                                Stream::Stderr => l.stderr.push(line),
                            }
                        }
                        shared.cv.notify_all();
                    }
                }
            }
            if let Ok(mut l) = shared.lines.lock() {
                l.open_streams = l.open_streams.saturating_sub(1);
            }
            shared.cv.notify_all();
        })
    }

    /// The child's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The name given at spawn.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Lines printed on stdout so far.
    pub fn stdout_lines(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.stdout.clone())
            .unwrap_or_default()
    }

    /// Lines printed on stderr (the log) so far.
    pub fn stderr_lines(&self) -> Vec<String> {
        self.shared
            .lines
            .lock()
            .map(|l| l.stderr.clone())
            .unwrap_or_default()
    }

    /// The last `n` lines of each stream, for error messages.
    pub fn tail(&self, n: usize) -> String {
        let mut s = String::new();
        for (label, lines) in [
            ("stdout", self.stdout_lines()),
            ("stderr", self.stderr_lines()),
        ] {
            let from = lines.len().saturating_sub(n);
            for l in &lines[from..] {
                s.push_str(&format!("  {label}: {l}\n"));
            }
        }
        s
    }

    /// Wait until a line of `stream` (already printed or new) matches `pred`.
    /// `Ok(None)` on timeout or when the stream closed without a match;
    /// `Err` when [`interrupted`](super::interrupted).
    pub fn wait_line(
        &self,
        stream: Stream,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        let deadline = Instant::now() + timeout;
        let mut guard = self
            .shared
            .lines
            .lock()
            .map_err(|_| anyhow!("output lock poisoned"))?;
        loop {
            check_interrupted()?;
            let lines = match stream {
                Stream::Stdout => &guard.stdout,
                Stream::Stderr => &guard.stderr,
            };
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Ok(Some(l.clone()));
            }
            let now = Instant::now();
            if now >= deadline || guard.open_streams == 0 {
                return Ok(None);
            }
            let slice = (deadline - now).min(Duration::from_millis(100));
            guard = self
                .shared
                .cv
                .wait_timeout(guard, slice)
                .map_err(|_| anyhow!("output lock poisoned"))?
                .0;
        }
    }

    /// [`LabProcess::wait_line`] on stdout.
    pub fn wait_stdout(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        self.wait_line(Stream::Stdout, pred, timeout)
    }

    /// [`LabProcess::wait_line`] on stderr.
    pub fn wait_stderr(
        &self,
        pred: impl Fn(&str) -> bool,
        timeout: Duration,
    ) -> anyhow::Result<Option<String>> {
        self.wait_line(Stream::Stderr, pred, timeout)
    }

    /// Wait for the emulator's `UP ...` line and parse it.
    pub fn wait_up(&self, timeout: Duration) -> anyhow::Result<UpLine> {
        match self.wait_stdout(|l| l.starts_with("UP "), timeout)? {
            Some(l) => UpLine::parse(&l).ok_or_else(|| anyhow!("unparsable UP line: {l:?}")),
            None => bail!(
                "{}: no UP line within {timeout:?}; its last output:\n{}",
                self.name,
                self.tail(20)
            ),
        }
    }

    /// Send `sig` (e.g. `libc::SIGSTOP`) to the child.
    pub fn signal(&self, sig: libc::c_int) -> anyhow::Result<()> {
        let pid = libc::pid_t::try_from(self.child.id()).context("pid out of range")?;
        // SAFETY: kill has no memory-safety preconditions.
        if unsafe { libc::kill(pid, sig) } != 0 {
            bail!("kill({pid}, {sig}): {}", std::io::Error::last_os_error());
        }
        Ok(())
    }

    /// The exit status if the child has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        if self.status.is_none() {
            self.status = self.child.try_wait()?;
        }
        Ok(self.status)
    }

    /// Wait up to `timeout` for the child to exit.
    pub fn wait_timeout(&mut self, timeout: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(s) = self.try_wait()? {
                // Let the readers drain what the child printed last.
                for r in self.readers.drain(..) {
                    let _ = r.join();
                }
                return Ok(Some(s));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// SIGTERM, wait up to `timeout`, then SIGKILL. Returns the exit status
    /// (of the SIGTERM, if the child obeyed in time).
    pub fn stop(&mut self, timeout: Duration) -> anyhow::Result<ExitStatus> {
        if let Some(s) = self.try_wait()? {
            return Ok(s);
        }
        let _ = self.signal(libc::SIGCONT);
        self.signal(libc::SIGTERM)?;
        if let Some(s) = self.wait_timeout(timeout)? {
            return Ok(s);
        }
        let _ = self.child.kill();
        let s = self.child.wait()?;
        self.status = Some(s);
        for r in self.readers.drain(..) {
            let _ = r.join();
        }
        Ok(s)
    }
}

impl Drop for LabProcess {
    fn drop(&mut self) {
        let _ = self.stop(Duration::from_secs(5));
    }
}
