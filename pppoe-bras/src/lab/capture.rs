//! Packet captures in the lab: a `tcpdump -w` running in a namespace until
//! its guard drops (the files are read by `dissect`).

use std::{
    path::{Path, PathBuf},
    time::Duration,
};

use anyhow::bail;

use super::{process::LabProcess, Lab};

/// A running `tcpdump -U -w FILE`; stopped (and the file flushed) on drop or [`Capture::stop`].
#[derive(Debug)]
pub struct Capture {
    proc: Option<LabProcess>,
    file: PathBuf,
}

impl Capture {
    pub(super) fn start(lab: &Lab, ns: &str, iface: &str, file: &Path) -> anyhow::Result<Capture> {
        let file_s = file.to_string_lossy().into_owned();
        // -Z root: Debian's tcpdump drops to user `tcpdump`, which may not be
        // able to write into our temp dir. --immediate-mode: without it frames
        // wait up to a second in the ring and are lost when we stop tcpdump.
        let args = [
            "tcpdump",
            "--immediate-mode",
            "-n",
            "-U",
            "-Z",
            "root",
            "-s",
            "0",
            "-i",
            iface,
            "-w",
            &file_s,
        ];
        let p = lab.spawn_in(ns, "tcpdump", &args)?;
        if p.wait_stderr(|l| l.contains("listening on"), Duration::from_secs(10))?
            .is_none()
        {
            bail!("tcpdump on {ns}/{iface} did not start:\n{}", p.tail(10));
        }
        Ok(Capture {
            proc: Some(p),
            file: file.to_owned(),
        })
    }

    /// The capture file.
    pub fn path(&self) -> &Path {
        &self.file
    }

    /// Stop tcpdump (flushing the file) and return the file's path.
    pub fn stop(mut self) -> anyhow::Result<PathBuf> {
        self.finish()?;
        Ok(self.file.clone())
    }

    fn finish(&mut self) -> anyhow::Result<()> {
        if let Some(mut p) = self.proc.take() {
            // Give frames in flight a moment to be written.
            std::thread::sleep(Duration::from_millis(200));
            p.signal(libc::SIGINT)?;
            if p.wait_timeout(Duration::from_secs(5))?.is_none() {
                p.stop(Duration::from_secs(1))?;
            }
        }
        Ok(())
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        let _ = self.finish();
    }
}
