//! What both benches build their labs from: a set of network namespaces
//! joined by veths, deleted on exit, failure or Ctrl-C; and the NAT port
//! blocks that fit N subscribers on the one public address.

use std::path::PathBuf;

use anyhow::Result;

use crate::util::{del_netns, ip, ns_exec};

/// Namespaces `<prefix>-<role>`, each with `lo` up. Dropping it deletes
/// them (their veths go with them), then [`Topology::pin_dir`].
pub struct Topology {
    prefix: String,
    namespaces: Vec<String>,
}

impl Topology {
    /// `<prefix>-<role>` for every role in `roles`. On failure the ones
    /// already made are deleted again.
    pub fn create(prefix: String, roles: &[&str]) -> Result<Self> {
        let mut topo = Topology {
            prefix,
            namespaces: Vec::new(),
        };
        for role in roles {
            let ns = topo.ns(role);
            ip(&["netns", "add", &ns])?;
            topo.namespaces.push(ns.clone());
            ip(&["-n", &ns, "link", "set", "lo", "up"])?;
        }
        Ok(topo)
    }

    /// The namespace of `role`.
    pub fn ns(&self, role: &str) -> String {
        format!("{}-{role}", self.prefix)
    }

    /// A veth pair, `a_if` in the namespace of role `a` and `b_if` in that
    /// of `b`, both up. Created directly inside the namespaces: no name
    /// ever exists in the caller's namespace, so parallel runs cannot
    /// collide.
    pub fn veth(&self, (a, a_if): (&str, &str), (b, b_if): (&str, &str)) -> Result<()> {
        let (a, b) = (self.ns(a), self.ns(b));
        ip(&[
            "-n", &a, "link", "add", a_if, "type", "veth", "peer", "name", b_if, "netns", &b,
        ])?;
        ip(&["-n", &a, "link", "set", a_if, "up"])?;
        ip(&["-n", &b, "link", "set", b_if, "up"])?;
        Ok(())
    }

    /// Narrow the ephemeral ports of `role`'s namespace to
    /// [`EPHEMERAL_FIRST`]–65535. The data plane leaves the host's
    /// ephemeral ports out of its NAT blocks (the default 32768–60999
    /// would take almost half of them), so this is what lets the blocks of
    /// [`port_block_size`] fit.
    pub fn narrow_ephemeral_ports(&self, role: &str) -> Result<()> {
        let range = format!("net.ipv4.ip_local_port_range={EPHEMERAL_FIRST} 65535");
        ns_exec(&self.ns(role), &["sysctl", "-qw", &range])?;
        Ok(())
    }

    /// A bpffs directory of this lab's own, `/sys/fs/bpf/<prefix>`, for
    /// a daemon's pins; removed with the namespaces.
    pub fn pin_dir(&self) -> PathBuf {
        PathBuf::from(format!("/sys/fs/bpf/{}", self.prefix))
    }
}

impl Drop for Topology {
    fn drop(&mut self) {
        for ns in &self.namespaces {
            del_netns(ns);
        }
        let _ = std::fs::remove_dir_all(self.pin_dir());
    }
}

/// The first port of the NAT port blocks (the daemon's default).
pub const FIRST_PORT: u16 = 1024;
/// The daemon's default block size: the most a subscriber gets here.
const MAX_PORT_BLOCK_SIZE: u16 = 512;
/// The first ephemeral port once [`Topology::narrow_ephemeral_ports`]
/// ran: the NAT blocks stay below it.
pub const EPHEMERAL_FIRST: u16 = 65000;

/// The largest NAT port block, at most the daemon's default 512, of which
/// `n` fit between [`FIRST_PORT`] and [`EPHEMERAL_FIRST`]: `n` sessions on
/// the one public address.
pub fn port_block_size(n: u32) -> u16 {
    let fit = u32::from(EPHEMERAL_FIRST - FIRST_PORT) / n.max(1);
    u16::try_from(fit.clamp(1, u32::from(MAX_PORT_BLOCK_SIZE))).unwrap_or(MAX_PORT_BLOCK_SIZE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_blocks_fit_the_sessions() {
        assert_eq!(port_block_size(1), 512);
        assert_eq!(port_block_size(100), 512);
        assert_eq!(port_block_size(1000), 63);
        assert_eq!(port_block_size(10_000), 6);
        assert_eq!(port_block_size(60_000), 1);
        for n in [1, 125, 1000, 10_000, 60_000] {
            let used = u32::from(port_block_size(n)) * n;
            assert!(used <= u32::from(EPHEMERAL_FIRST - FIRST_PORT), "{n}");
        }
    }
}
