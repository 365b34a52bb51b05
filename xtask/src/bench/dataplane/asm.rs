//! A tiny BPF assembler and the helper programs built with it: the traffic
//! generator, the counter at the far end, a bare redirect and a bare pass.

use anyhow::Result;

use super::bpf::{ArrayMap, XDP_DROP, XDP_PASS, XDP_TX};

// Helper function ids.
const FN_MAP_LOOKUP_ELEM: i32 = 1;
const FN_REDIRECT: i32 = 23;
const FN_TAIL_CALL: i32 = 12;

/// One eBPF instruction (`struct bpf_insn`, little-endian register nibbles).
#[repr(C)]
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

const fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | dst,
        off,
        imm,
    }
}

// Registers.
const R0: u8 = 0;
const R1: u8 = 1;
const R2: u8 = 2;
const R3: u8 = 3;
const R4: u8 = 4;
const R5: u8 = 5;
const R6: u8 = 6;
const R7: u8 = 7;
const R8: u8 = 8;
const R10: u8 = 10;

const fn mov_imm(dst: u8, imm: i32) -> Insn {
    insn(0xb7, dst, 0, 0, imm) // BPF_ALU64 | BPF_MOV | BPF_K
}
const fn mov_reg(dst: u8, src: u8) -> Insn {
    insn(0xbf, dst, src, 0, 0) // BPF_ALU64 | BPF_MOV | BPF_X
}
const fn add_imm(dst: u8, imm: i32) -> Insn {
    insn(0x07, dst, 0, 0, imm) // BPF_ALU64 | BPF_ADD | BPF_K
}
const fn ldx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x61, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_W
}
const fn ldx_dw(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x79, dst, src, off, 0) // BPF_LDX | BPF_MEM | BPF_DW
}
const fn stx_w(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x63, dst, src, off, 0) // BPF_STX | BPF_MEM | BPF_W
}
const fn stx_dw(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x7b, dst, src, off, 0) // BPF_STX | BPF_MEM | BPF_DW
}
const fn st_w(dst: u8, off: i16, imm: i32) -> Insn {
    insn(0x62, dst, 0, off, imm) // BPF_ST | BPF_MEM | BPF_W
}
const fn atomic_add_dw(dst: u8, src: u8, off: i16) -> Insn {
    insn(0xdb, dst, src, off, 0) // BPF_STX | BPF_ATOMIC | BPF_DW, BPF_ADD
}
/// `r_dst = map` (`BPF_LD | BPF_IMM | BPF_DW`, `BPF_PSEUDO_MAP_FD`).
fn ld_map(dst: u8, map: &ArrayMap) -> [Insn; 2] {
    [insn(0x18, dst, 1, 0, map.raw()), insn(0, 0, 0, 0, 0)]
}
const fn call(helper: i32) -> Insn {
    insn(0x85, 0, 0, 0, helper)
}
const fn exit() -> Insn {
    insn(0x95, 0, 0, 0, 0)
}
const fn jeq_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x15, dst, 0, off, imm)
}
const fn jne_imm(dst: u8, imm: i32, off: i16) -> Insn {
    insn(0x55, dst, 0, off, imm)
}
const fn jgt_reg(dst: u8, src: u8, off: i16) -> Insn {
    insn(0x2d, dst, src, off, 0)
}

/// Instructions with forward jumps to a shared "drop" tail.
struct Asm {
    insns: Vec<Insn>,
    to_drop: Vec<usize>,
}

impl Asm {
    fn new() -> Self {
        Self {
            insns: Vec::new(),
            to_drop: Vec::new(),
        }
    }
    fn push(&mut self, i: impl IntoIterator<Item = Insn>) {
        self.insns.extend(i);
    }
    /// A conditional jump (its `off` is patched) to the drop tail.
    fn jump_to_drop(&mut self, i: Insn) {
        self.to_drop.push(self.insns.len());
        self.insns.push(i);
    }
    /// Append `r0 = XDP_DROP; exit` and resolve the jumps to it.
    fn finish(mut self) -> Result<Vec<Insn>> {
        let tail = self.insns.len();
        self.insns.push(mov_imm(R0, XDP_DROP));
        self.insns.push(exit());
        for at in self.to_drop {
            self.insns[at].off = i16::try_from(tail - at - 1)?;
        }
        Ok(self.insns)
    }
}

/// `r0 = *map[0]` into r0 (NULL-checked: jumps to drop).
fn lookup_slot0(a: &mut Asm, map: &ArrayMap, stack_off: i16) {
    a.push([
        st_w(R10, stack_off, 0),
        mov_reg(R2, R10),
        add_imm(R2, stack_off as i32),
    ]);
    a.push(ld_map(R1, map));
    a.push([call(FN_MAP_LOOKUP_ELEM)]);
    a.jump_to_drop(jeq_imm(R0, 0, 0));
}

/// Count (`map[0] += 1`, atomically) and drop.
pub fn counter_prog(map: &ArrayMap) -> Result<Vec<Insn>> {
    let mut a = Asm::new();
    lookup_slot0(&mut a, map, -4);
    a.push([mov_imm(R1, 1), atomic_add_dw(R0, R1, 0)]);
    a.finish()
}

/// `return bpf_redirect(ifindex, 0)`.
pub fn redirect_prog(ifindex: u32) -> Result<Vec<Insn>> {
    Ok(vec![
        mov_imm(R1, i32::try_from(ifindex)?),
        mov_imm(R2, 0),
        call(FN_REDIRECT),
        exit(),
    ])
}

/// `return XDP_PASS`.
pub fn pass_prog() -> Vec<Insn> {
    vec![mov_imm(R0, XDP_PASS), exit()]
}

/// The generator: `i = state[0]; state[0] = (i + 1) % flows;` copy
/// `table[i]` (`words` × 8 bytes) over the start of the frame; `XDP_TX`,
/// or with `tail`, `bpf_tail_call` into the program in `tail[0]` (the
/// frame it sees is then always the pristine frame of flow `i`: the
/// copy undoes what it did to this page's last frame).
pub fn generator_prog(
    state: &ArrayMap,
    table: &ArrayMap,
    flows: u32,
    words: usize,
    tail: Option<&ArrayMap>,
) -> Result<Vec<Insn>> {
    let flows = i32::try_from(flows)?;
    let bytes = i32::try_from(words * 8)?;
    let mut a = Asm::new();
    a.push([mov_reg(R6, R1)]);
    lookup_slot0(&mut a, state, -4);
    a.push([
        ldx_dw(R7, R0, 0),
        mov_reg(R8, R7),
        add_imm(R8, 1),
        jne_imm(R8, flows, 1),
        mov_imm(R8, 0),
        stx_dw(R0, R8, 0),
        stx_w(R10, R7, -8),
        mov_reg(R2, R10),
        add_imm(R2, -8),
    ]);
    a.push(ld_map(R1, table));
    a.push([call(FN_MAP_LOOKUP_ELEM)]);
    a.jump_to_drop(jeq_imm(R0, 0, 0));
    a.push([
        ldx_w(R2, R6, 0), // xdp_md.data
        ldx_w(R3, R6, 4), // xdp_md.data_end
        mov_reg(R4, R2),
        add_imm(R4, bytes),
    ]);
    a.jump_to_drop(jgt_reg(R4, R3, 0));
    for k in 0..words {
        let off = i16::try_from(k * 8)?;
        a.push([ldx_dw(R5, R0, off), stx_dw(R2, R5, off)]);
    }
    match tail {
        None => a.push([mov_imm(R0, XDP_TX), exit()]),
        Some(t) => {
            a.push([mov_reg(R1, R6)]);
            a.push(ld_map(R2, t));
            a.push([mov_imm(R3, 0), call(FN_TAIL_CALL)]);
            // Only reached when the tail call failed: drop.
        }
    }
    a.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodings_match_the_kernel_abi() {
        // r1 = 1 ; r0 = r10 ; lock *(u64 *)(r0 + 0) += r1
        assert_eq!(
            mov_imm(R1, 1),
            Insn {
                code: 0xb7,
                regs: 0x01,
                off: 0,
                imm: 1
            }
        );
        assert_eq!(
            mov_reg(R0, R10),
            Insn {
                code: 0xbf,
                regs: 0xa0,
                off: 0,
                imm: 0
            }
        );
        assert_eq!(atomic_add_dw(R0, R1, 0).regs, 0x10);
        assert_eq!(std::mem::size_of::<Insn>(), 8);
    }

    #[test]
    fn drop_jumps_land_on_the_tail() {
        let mut a = Asm::new();
        a.jump_to_drop(jeq_imm(R0, 0, 0));
        a.push([mov_imm(R0, XDP_PASS), exit()]);
        let p = a.finish().unwrap();
        // 0: jeq +2 -> 3: r0 = XDP_DROP
        assert_eq!(p[0].off, 2);
        assert_eq!(p[3], mov_imm(R0, XDP_DROP));
    }
}
