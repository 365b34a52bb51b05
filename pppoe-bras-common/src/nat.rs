//! NAT port choice inside a session's port block (RFC 7422-style
//! deterministic blocks; RFC 4787 REQ-1 endpoint-independent mapping).
//!
//! A session owns the public ports `[start, start + count)`. For a new mapping
//! the XDP program tries [`NAT_PROBES`] candidates from [`candidate`] in order
//! and keeps the first one it can insert into `NAT_IN` with `BPF_NOEXIST`.
//! The first candidate keeps the subscriber's own port number modulo the
//! block, so a block of even size keeps the port parity (RFC 4787 REQ-3
//! "port parity preservation", a MAY) and a lightly used block often keeps the
//! low bits of the port. Further candidates step by 2 (same parity) for the
//! first half of the probes, then by 2 starting one port further (other
//! parity), so parity is only given up when the same-parity probes collide.

/// How many ports a new mapping probes before giving up (bounded loop in XDP).
pub const NAT_PROBES: u32 = 16;

/// The `i`-th public port to try for subscriber port `orig`, in the block
/// `[start, start + count)`. `count` must be non-zero (the caller checks).
#[inline(always)]
pub fn candidate(orig: u16, start: u16, count: u16, i: u32) -> u16 {
    let count = count as u32;
    let base = orig as u32 % count;
    let half = NAT_PROBES / 2;
    let step = if i < half { 2 * i } else { 2 * (i - half) + 1 };
    let off = (base + step) % count;
    // start + off < start + count <= 65536 by construction of the blocks.
    (start as u32 + off) as u16
}

/// The port block of block index `index`, or `None` when it would pass port
/// 65535 or the size is 0.
pub fn block(first_port: u16, size: u16, index: u32) -> Option<(u16, u16)> {
    if size == 0 {
        return None;
    }
    let start = first_port as u32 + index.checked_mul(size as u32)?;
    if start + size as u32 > 0x1_0000 {
        return None;
    }
    Some((start as u16, size))
}

/// How many whole blocks of `size` fit in `[first_port, 65535]`.
pub fn block_count(first_port: u16, size: u16) -> u32 {
    if size == 0 {
        return 0;
    }
    (0x1_0000 - first_port as u32) / size as u32
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_candidate_keeps_port_modulo_block_and_parity() {
        assert_eq!(candidate(40001, 1024, 512, 0), 1024 + 40001 % 512);
        for i in 0..NAT_PROBES / 2 {
            assert_eq!(candidate(40001, 1024, 512, i) % 2, 1, "probe {i}");
        }
        assert_eq!(candidate(40001, 1024, 512, NAT_PROBES / 2) % 2, 0);
    }

    #[test]
    fn candidates_stay_in_block_and_are_distinct() {
        for &(start, count) in &[(1024u16, 512u16), (65024, 512), (2000, 3), (1024, 1)] {
            let mut seen = std::vec::Vec::new();
            for i in 0..NAT_PROBES {
                let p = candidate(65535, start, count, i);
                assert!(p >= start && (p as u32) < start as u32 + count as u32);
                seen.push(p);
            }
            seen.sort_unstable();
            seen.dedup();
            assert_eq!(seen.len(), (count as usize).min(NAT_PROBES as usize));
        }
    }

    #[test]
    fn blocks_tile_the_range_without_passing_65535() {
        assert_eq!(block(1024, 512, 0), Some((1024, 512)));
        assert_eq!(block(1024, 512, 1), Some((1536, 512)));
        let n = block_count(1024, 512);
        assert_eq!(n, 126);
        assert_eq!(block(1024, 512, n - 1), Some((65024, 512)));
        assert_eq!(block(1024, 512, n), None);
        assert_eq!(block(1024, 0, 0), None);
    }
}
