//! NAT port choice inside a session's port block (RFC 7422-style
//! deterministic blocks; RFC 4787 REQ-1 endpoint-independent mapping).
//!
//! A session owns the public ports `[start, start + count)` (per protocol).
//! For a new mapping the XDP program first tries [`candidate`]`(…, 0)`,
//! which keeps the subscriber's own port number modulo the block, so a block
//! of even size keeps the port parity (RFC 4787 REQ-3 "port parity
//! preservation", a MAY) and a lightly used block often keeps the low bits
//! of the port. When that port is taken it walks the block from the
//! session's allocation cursor ([`cursor_port`], `NAT_SLOTS[slot].next`,
//! advanced atomically by every probe), claiming the first port it can
//! insert into `NAT_IN` with `BPF_NOEXIST`, for at most `count` probes
//! (`bpf_loop`). A cursor walking the block in order finds the ports no one
//! has used yet in one probe each, and the ports freed by expiry when it
//! comes round again, so new flows get a port whenever the block has a free
//! one. Whether it has is known before probing: `NAT_SLOTS` counts the
//! mappings created and `NAT_FREED` those the daemon removed, per protocol
//! ([`live`]), so a full block costs one array read, not `count` probes.

/// Index of a protocol in the per-protocol arrays of `NAT_SLOTS` and
/// `NAT_FREED`: TCP 0, UDP 1, anything else (ICMP echo) 2.
#[inline(always)]
pub fn proto_index(proto: u8) -> usize {
    match proto {
        crate::proto::IPPROTO_TCP => 0,
        crate::proto::IPPROTO_UDP => 1,
        _ => 2,
    }
}

/// Live mappings from the two counters (`created` by XDP, `freed` by the
/// daemon; both only grow, wrapping).
#[inline(always)]
pub fn live(created: u64, freed: u64) -> u64 {
    created.wrapping_sub(freed)
}

/// The public port at cursor value `cursor` in the block `[start, start +
/// count)`. `count` must be non-zero (the caller checks).
#[inline(always)]
pub fn cursor_port(cursor: u64, start: u16, count: u16) -> u16 {
    (start as u64 + cursor % count as u64) as u16
}

/// How many ports the first-candidate rule spreads over (the old probe
/// count; only [`candidate`]`(…, 0)` is used by the data plane now).
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

    /// The allocation the XDP program does (first candidate, then the
    /// cursor, `count` probes at most), simulated: a session opening flows
    /// from random source ports gets every port of its block before the
    /// first refusal, and the probes per flow stay O(1) on average.
    #[test]
    fn cursor_fills_the_whole_block_before_refusing() {
        let (start, count) = (1024u16, 512u16);
        struct Block {
            taken: std::collections::HashSet<u16>,
            cursor: u64,
            probes: u64,
        }
        fn alloc(b: &mut Block, orig: u16, start: u16, count: u16) -> Option<u16> {
            b.probes += 1;
            if b.taken.insert(candidate(orig, start, count, 0)) {
                return Some(candidate(orig, start, count, 0));
            }
            for _ in 0..count {
                let p = cursor_port(b.cursor, start, count);
                b.cursor = b.cursor.wrapping_add(1);
                b.probes += 1;
                if b.taken.insert(p) {
                    return Some(p);
                }
            }
            None
        }
        let mut b = Block {
            taken: Default::default(),
            cursor: 0,
            probes: 0,
        };
        let mut rng = 0x2545_f491_4f6c_dd1du64;
        for n in 0..count {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            let p = alloc(&mut b, (rng >> 16) as u16, start, count)
                .unwrap_or_else(|| panic!("flow {n}"));
            assert!(p >= start && u32::from(p) < u32::from(start) + u32::from(count));
        }
        assert_eq!(b.taken.len(), count as usize);
        let probes = b.probes;
        // Amortized: the cursor passed every position about once.
        assert!(
            probes < 4 * u64::from(count),
            "{probes} probes for {count} flows"
        );
        assert_eq!(
            alloc(&mut b, 40000, start, count),
            None,
            "513th flow refused"
        );
        // After expiry frees a port anywhere, the next flow finds it.
        b.taken.remove(&(start + 7));
        assert_eq!(alloc(&mut b, 40000, start, count), Some(start + 7));
    }

    #[test]
    fn proto_index_and_live_counts() {
        assert_eq!(proto_index(6), 0);
        assert_eq!(proto_index(17), 1);
        assert_eq!(proto_index(1), 2);
        assert_eq!(live(5, 3), 2);
        assert_eq!(live(2, u64::MAX), 3, "wrapping counters");
        assert_eq!(cursor_port(513, 1024, 512), 1025);
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
