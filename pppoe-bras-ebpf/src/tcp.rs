//! TCP MSS clamping (RFC 4459 §3.2): the MSS
//! option of SYN and SYN-ACK segments is lowered to the session MTU − 40, so
//! neither end sends segments that do not fit the PPPoE session.
use aya_ebpf::programs::XdpContext;
use pppoe_bras_common::{csum, proto::*};

use crate::{
    hdr::{be16, read, swap16},
    ipv4::Ip,
};

/// Options looked at before giving up (the MSS option is first in practice).
const MAX_OPTIONS: usize = 8;

/// If `ip` is a TCP SYN (with or without ACK) whose MSS option exceeds
/// `mss`, lower it and patch the TCP checksum. `None` only when a byte
/// already checked vanished (the caller drops); a missing or malformed
/// option list is left alone.
#[inline(always)]
pub fn clamp_mss(ctx: &XdpContext, ip: &Ip, flags: u8, mss: u16) -> Option<()> {
    if flags & TCP_SYN == 0 {
        return Some(());
    }
    let end = ip.off + ip.tot_len as usize;
    let Some(h) = read::<13>(ctx, ip.l4_off) else {
        return Some(());
    };
    let doff = ((h[12] >> 4) as usize) * 4;
    let opt_end = ip.l4_off + doff;
    if doff <= 20 || opt_end > end {
        return Some(());
    }
    let mut off = ip.l4_off + 20;
    let mut i = 0;
    while i < MAX_OPTIONS {
        i += 1;
        if off >= opt_end {
            break;
        }
        // Two bytes even for a one-byte NOP/EOL (see `hdr::read`): a NOP
        // in the last option byte ends the scan, which loses nothing.
        let Some([kind, len]) = read::<2>(ctx, off & 0xfff) else {
            break;
        };
        if kind == 0 {
            break;
        }
        if kind == 1 {
            off += 1;
            continue;
        }
        if off + 2 > opt_end {
            break;
        }
        if kind == TCP_OPT_MSS {
            if len != 4 || off + 4 > opt_end {
                break;
            }
            let v_off = (off + 2) & 0xfff;
            let Some(v) = read::<2>(ctx, v_off) else {
                break;
            };
            let old = be16(v);
            if old <= mss {
                break;
            }
            let c_off = ip.l4_off + 16;
            let c = be16(read::<2>(ctx, c_off)?);
            swap16(ctx, v_off, mss)?;
            // At an odd offset from the header start the value straddles two
            // checksum words: its contribution is the byte-swapped value
            // (RFC 1071 §2(B), byte-order independence).
            let c = if (off - ip.l4_off).is_multiple_of(2) {
                csum::replace2(c, old, mss)
            } else {
                csum::replace2(c, old.swap_bytes(), mss.swap_bytes())
            };
            swap16(ctx, c_off, c)?;
            break;
        }
        if len < 2 {
            break;
        }
        off += len as usize;
    }
    Some(())
}
