//! Incremental Internet checksum update (RFC 1624, eqn. 3:
//! `HC' = ~(~HC + ~m + m')`), shared by the XDP programs and the tests.
//!
//! Values are the 16-bit words as read big-endian from the packet
//! (`u16::from_be_bytes`); the result is written back the same way. The
//! one's-complement sum does not care about byte order as long as every word is
//! read the same way.

/// Fold a 32-bit one's-complement accumulator into 16 bits.
#[inline(always)]
pub fn fold(mut sum: u32) -> u16 {
    // Two folds are enough for any sum of a handful of 16-bit words.
    sum = (sum & 0xffff) + (sum >> 16);
    sum = (sum & 0xffff) + (sum >> 16);
    sum as u16
}

/// Add the 16-bit words of `bytes` (big-endian pairs) to a one's-complement
/// accumulator; fold with [`fold`] and complement to get a checksum.
#[inline(always)]
pub fn add_words<const N: usize>(mut sum: u32, bytes: &[u8; N]) -> u32 {
    let mut i = 0;
    while i + 1 < N {
        sum += u16::from_be_bytes([bytes[i], bytes[i + 1]]) as u32;
        i += 2;
    }
    if N % 2 == 1 {
        sum += (bytes[N - 1] as u32) << 8;
    }
    sum
}

/// Checksum after one 16-bit word of the covered data changed from `old` to `new`.
#[inline(always)]
pub fn replace2(csum: u16, old: u16, new: u16) -> u16 {
    let sum = (!csum as u32) + (!old as u32) + (new as u32);
    !fold(sum)
}

/// Checksum after a 32-bit field (e.g. an IPv4 address, as the 4 raw bytes)
/// changed from `old` to `new`.
#[inline(always)]
pub fn replace4(csum: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    let o_hi = u16::from_be_bytes([old[0], old[1]]) as u32;
    let o_lo = u16::from_be_bytes([old[2], old[3]]) as u32;
    let n_hi = u16::from_be_bytes([new[0], new[1]]) as u32;
    let n_lo = u16::from_be_bytes([new[2], new[3]]) as u32;
    let sum = (!csum as u32) + (!o_hi & 0xffff) + (!o_lo & 0xffff) + n_hi + n_lo;
    !fold(sum)
}

/// Same as [`replace2`] for a UDP checksum: 0 means "no checksum" and stays 0;
/// a computed 0 is sent as 0xffff (RFC 768).
#[inline(always)]
pub fn udp_replace2(csum: u16, old: u16, new: u16) -> u16 {
    if csum == 0 {
        return 0;
    }
    let c = replace2(csum, old, new);
    if c == 0 {
        0xffff
    } else {
        c
    }
}

/// Same as [`replace4`] for a UDP checksum (see [`udp_replace2`]).
#[inline(always)]
pub fn udp_replace4(csum: u16, old: [u8; 4], new: [u8; 4]) -> u16 {
    if csum == 0 {
        return 0;
    }
    let c = replace4(csum, old, new);
    if c == 0 {
        0xffff
    } else {
        c
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Full checksum over 16-bit big-endian words.
    fn full(data: &[u8]) -> u16 {
        let mut sum = 0u32;
        for c in data.chunks(2) {
            let w = if c.len() == 2 {
                u16::from_be_bytes([c[0], c[1]])
            } else {
                u16::from_be_bytes([c[0], 0])
            };
            sum += w as u32;
        }
        while sum > 0xffff {
            sum = (sum & 0xffff) + (sum >> 16);
        }
        !(sum as u16)
    }

    #[test]
    fn ipv4_header_address_and_ttl_rewrite_matches_full_recompute() {
        // A real IPv4 header (checksum zeroed, then computed).
        let mut h: [u8; 20] = [
            0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0, 0, 100, 64, 0, 7, 192,
            0, 2, 1,
        ];
        let c = full(&h);
        h[10..12].copy_from_slice(&c.to_be_bytes());
        // Source 100.64.0.7 -> 203.0.113.5, TTL 64 -> 63.
        let mut c = u16::from_be_bytes([h[10], h[11]]);
        c = replace4(c, [100, 64, 0, 7], [203, 0, 113, 5]);
        h[12..16].copy_from_slice(&[203, 0, 113, 5]);
        let old = u16::from_be_bytes([h[8], h[9]]);
        h[8] -= 1;
        c = replace2(c, old, u16::from_be_bytes([h[8], h[9]]));
        h[10..12].copy_from_slice(&c.to_be_bytes());
        assert_eq!(full(&h), 0, "header with updated checksum must verify");
        h[10..12].copy_from_slice(&[0, 0]);
        assert_eq!(c, full(&h));
    }

    #[test]
    fn add_words_matches_full() {
        let h: [u8; 20] = [
            0x45, 0x00, 0x00, 0x54, 0x12, 0x34, 0x40, 0x00, 0x40, 0x01, 0, 0, 100, 64, 0, 7, 192,
            0, 2, 1,
        ];
        assert_eq!(!fold(add_words(0, &h)), full(&h));
        let odd: [u8; 3] = [1, 2, 3];
        assert_eq!(!fold(add_words(0, &odd)), full(&odd));
    }

    #[test]
    fn udp_zero_checksum_stays_zero() {
        assert_eq!(udp_replace2(0, 1, 2), 0);
        assert_eq!(udp_replace4(0, [1, 2, 3, 4], [5, 6, 7, 8]), 0);
    }

    #[test]
    fn udp_computed_zero_becomes_ffff() {
        // replace2(0xffff - x ...) constructed so the result folds to 0.
        // ~(~c + ~old + new) == 0  <=>  ~c + ~old + new == 0xffff (mod fold)
        // Take c = 0x0001, old = 0x0000, new = 0x0001: ~c=0xfffe, ~old=0xffff, new=1
        // sum = 0x1fffe -> fold 0xffff -> ~ = 0.
        assert_eq!(replace2(0x0001, 0x0000, 0x0001), 0);
        assert_eq!(udp_replace2(0x0001, 0x0000, 0x0001), 0xffff);
    }
}
