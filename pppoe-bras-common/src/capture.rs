//! `pppoe-bras capture`: what the XDP programs and the capture command share.
//!
//! The capture command fills `CAPTURE[0]` ([`CaptureConfig`]); while its
//! [`CAPTURE_F_ENABLED`] flag is set and its lease ([`CaptureConfig::expires_ns`])
//! has not run out, the programs copy the frames that match to the
//! `CAPTURE_EVENTS` perf event array: a [`CaptureMeta`] followed by the
//! first `cap_len` bytes of the frame (`bpf_perf_event_output` on the XDP
//! context, frame length in the upper 32 bits of the flags). Each CPU has a
//! frame budget (`CAPTURE_BUDGET`, a GCRA like the ICMP error limit);
//! frames over it count `capture_over_budget`, frames the perf buffer had no
//! room for `capture_lost`.
//!
//! Capture points: each program's entry ("as received") and, for frames it
//! redirects, its exit ("as sent", after the rewrite). Frames a program
//! passes to the host or drops are only seen as received.
//!
//! Integers are in host byte order, IPv4 addresses in wire order, as in
//! `crate::maps`.

/// `CaptureConfig::flags`: capture is on (with an unexpired lease).
pub const CAPTURE_F_ENABLED: u32 = 1;
/// `CaptureConfig::flags`: frames on the access NIC (PPPoE).
pub const CAPTURE_F_ACCESS: u32 = 2;
/// `CaptureConfig::flags`: frames on the uplink NIC (IPv4).
pub const CAPTURE_F_UPLINK: u32 = 4;
/// `CaptureConfig::flags`: upstream frames (subscriber → uplink: received
/// on the access NIC, sent on the uplink).
pub const CAPTURE_F_UP: u32 = 8;
/// `CaptureConfig::flags`: downstream frames (received on the uplink, sent
/// on the access NIC).
pub const CAPTURE_F_DOWN: u32 = 16;
/// `CaptureConfig::flags`: access-side frames must be PPPoE session frames
/// of `session_id`.
pub const CAPTURE_F_SESSION: u32 = 32;
/// `CaptureConfig::flags`: access-side frames must be PPPoE IPv4 with
/// `sub_addr` as source or destination (when no session is known).
pub const CAPTURE_F_SUB_ADDR: u32 = 64;
/// `CaptureConfig::flags`: uplink-side frames must be IPv4 with `pub_addr`
/// as source or destination (a routed session's address, or any host).
/// Without it, a session filter matches no uplink frame.
pub const CAPTURE_F_PUB_ADDR: u32 = 128;
/// `CaptureConfig::flags`: with [`CAPTURE_F_PUB_ADDR`], `pub_addr` (the
/// session's NAT address) must be on the subscriber's end (source of what
/// is sent, destination of what is received) with a port (TCP/UDP) or
/// ICMP echo identifier in `port_lo..=port_hi` (its NAT port block).
pub const CAPTURE_F_PUB_PORTS: u32 = 256;

/// Value of `CAPTURE[0]`, written by the capture command.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureConfig {
    /// `CAPTURE_F_*`; 0: no capture (the programs do nothing more).
    pub flags: u32,
    /// Pid of the capture command that owns the capture.
    pub owner_pid: u32,
    /// Lease: `bpf_ktime_get_ns()` (CLOCK_MONOTONIC) after which the
    /// programs ignore the capture. The command renews it every second;
    /// a command killed with SIGKILL stops costing anything when it runs out.
    pub expires_ns: u64,
    /// Bytes copied per frame at most.
    pub snaplen: u32,
    /// Budget per CPU: one frame per `interval_ns` on average…
    pub interval_ns: u32,
    /// …with bursts of `burst_ns / interval_ns` frames.
    pub burst_ns: u64,
    /// [`CAPTURE_F_SESSION`]: PPPoE SESSION_ID.
    pub session_id: u16,
    /// [`CAPTURE_F_PUB_PORTS`]: first port.
    pub port_lo: u16,
    /// [`CAPTURE_F_PUB_PORTS`]: last port (inclusive).
    pub port_hi: u16,
    /// Always 0.
    pub _pad: u16,
    /// [`CAPTURE_F_SUB_ADDR`]: the subscriber's address.
    pub sub_addr: [u8; 4],
    /// [`CAPTURE_F_PUB_ADDR`]: the address on the uplink side.
    pub pub_addr: [u8; 4],
}

/// `CaptureMeta::point`: received on the access NIC (PPPoE, before `bras_access`).
pub const POINT_ACCESS_IN: u8 = 0;
/// `CaptureMeta::point`: sent on the access NIC (PPPoE, as redirected there).
pub const POINT_ACCESS_OUT: u8 = 1;
/// `CaptureMeta::point`: received on the uplink (IPv4, before `bras_uplink`).
pub const POINT_UPLINK_IN: u8 = 2;
/// `CaptureMeta::point`: sent on the uplink (IPv4 after NAT, as redirected there).
pub const POINT_UPLINK_OUT: u8 = 3;

/// `CaptureMeta::prog`: `bras_access`.
pub const PROG_ACCESS: u8 = 0;
/// `CaptureMeta::prog`: `bras_access_cpu` (the access path on a spread CPU).
pub const PROG_ACCESS_CPU: u8 = 1;
/// `CaptureMeta::prog`: `bras_uplink`.
pub const PROG_UPLINK: u8 = 2;

/// `CaptureMeta::stat` of frames captured as received (no verdict yet).
pub const STAT_NONE: u16 = u16::MAX;

/// Header of every `CAPTURE_EVENTS` sample; `cap_len` frame bytes follow.
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CaptureMeta {
    /// `bpf_ktime_get_ns()` (CLOCK_MONOTONIC).
    pub ts_ns: u64,
    /// Interface the frame was received on or is sent to.
    pub ifindex: u32,
    /// Length of the whole frame.
    pub orig_len: u32,
    /// Bytes of the frame that follow this header.
    pub cap_len: u32,
    /// `POINT_*`.
    pub point: u8,
    /// `PROG_*`: the program that saw the frame.
    pub prog: u8,
    /// The verdict's `Stat` index for frames captured as sent, else [`STAT_NONE`].
    pub stat: u16,
}

impl CaptureMeta {
    /// Parse the header at the start of a sample (`None` when too short).
    pub fn parse(b: &[u8]) -> Option<CaptureMeta> {
        if b.len() < core::mem::size_of::<CaptureMeta>() {
            return None;
        }
        let u32_at = |o: usize| u32::from_ne_bytes([b[o], b[o + 1], b[o + 2], b[o + 3]]);
        Some(CaptureMeta {
            ts_ns: u64::from(u32_at(0)) | (u64::from(u32_at(4)) << 32),
            ifindex: u32_at(8),
            orig_len: u32_at(12),
            cap_len: u32_at(16),
            point: b[20],
            prog: b[21],
            stat: u16::from_ne_bytes([b[22], b[23]]),
        })
    }
}

/// True when `point` is on the access NIC.
pub const fn point_is_access(point: u8) -> bool {
    point == POINT_ACCESS_IN || point == POINT_ACCESS_OUT
}

/// True when `point` is a frame as received (inbound).
pub const fn point_is_in(point: u8) -> bool {
    point == POINT_ACCESS_IN || point == POINT_UPLINK_IN
}

const _: () = {
    assert!(core::mem::size_of::<CaptureConfig>() == 48);
    assert!(core::mem::size_of::<CaptureMeta>() == 24);
};

#[cfg(feature = "user")]
// Safety: `#[repr(C)]`, integer/byte-array fields only, no implicit padding
// (size asserted above), every bit pattern valid.
unsafe impl aya::Pod for CaptureConfig {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meta_parses_what_the_program_writes() {
        let m = CaptureMeta {
            ts_ns: 0x0102_0304_0506_0708,
            ifindex: 7,
            orig_len: 1500,
            cap_len: 96,
            point: POINT_UPLINK_OUT,
            prog: PROG_ACCESS_CPU,
            stat: 2,
        };
        // Safety: repr(C) without padding: its bytes are what the kernel copies.
        let bytes: [u8; 24] = unsafe { core::mem::transmute(m) };
        assert_eq!(CaptureMeta::parse(&bytes), Some(m));
        assert_eq!(CaptureMeta::parse(&bytes[..23]), None);
        assert!(!point_is_access(POINT_UPLINK_OUT) && !point_is_in(POINT_UPLINK_OUT));
        assert!(point_is_access(POINT_ACCESS_IN) && point_is_in(POINT_ACCESS_IN));
    }
}
