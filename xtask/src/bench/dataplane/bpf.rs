//! bpf(2), just what the bench needs: array maps, loading, attaching and
//! `BPF_PROG_RUN`ning XDP programs.

use std::{
    ffi::CString,
    os::fd::{AsRawFd, FromRawFd, OwnedFd},
};

use anyhow::{bail, Context, Result};

use super::asm::Insn;

const MAP_CREATE: libc::c_long = 0;
const MAP_LOOKUP_ELEM: libc::c_long = 1;
const MAP_UPDATE_ELEM: libc::c_long = 2;
const PROG_LOAD: libc::c_long = 5;
const PROG_TEST_RUN: libc::c_long = 10;
const PROG_GET_FD_BY_ID: libc::c_long = 13;
const LINK_CREATE: libc::c_long = 28;

const MAP_TYPE_ARRAY: u32 = 2;
const MAP_TYPE_PROG_ARRAY: u32 = 3;
const PROG_TYPE_XDP: u32 = 6;
const ATTACH_TYPE_XDP: u32 = 37;
const XDP_FLAGS_DRV_MODE: u32 = 1 << 2;
const F_TEST_XDP_LIVE_FRAMES: u32 = 1 << 1;

pub const XDP_DROP: i32 = 1;
pub const XDP_PASS: i32 = 2;
pub const XDP_TX: i32 = 3;
pub const XDP_REDIRECT: u32 = 4;

fn sys<T>(cmd: libc::c_long, attr: &mut T) -> std::io::Result<libc::c_long> {
    // SAFETY: `attr` is a #[repr(C)] prefix of `union bpf_attr` for `cmd`,
    // zero-filled beyond the fields set; the kernel reads `size` bytes.
    let r = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            cmd,
            attr as *mut T as *mut libc::c_void,
            std::mem::size_of::<T>(),
        )
    };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn fd(r: libc::c_long) -> OwnedFd {
    // SAFETY: the kernel just returned this new fd to us.
    unsafe { OwnedFd::from_raw_fd(r as i32) }
}

fn name16(s: &str) -> [u8; 16] {
    let mut n = [0u8; 16];
    for (d, b) in n.iter_mut().zip(s.bytes().take(15)) {
        *d = b;
    }
    n
}

#[repr(C)]
#[derive(Default)]
struct MapCreate {
    map_type: u32,
    key_size: u32,
    value_size: u32,
    max_entries: u32,
    map_flags: u32,
    inner_map_fd: u32,
    numa_node: u32,
    map_name: [u8; 16],
}

#[repr(C)]
struct MapElem {
    map_fd: u32,
    _pad: u32,
    key: u64,
    value: u64,
    flags: u64,
}

#[repr(C)]
#[derive(Default)]
struct ProgLoad {
    prog_type: u32,
    insn_cnt: u32,
    insns: u64,
    license: u64,
    log_level: u32,
    log_size: u32,
    log_buf: u64,
    kern_version: u32,
    prog_flags: u32,
    prog_name: [u8; 16],
    prog_ifindex: u32,
    expected_attach_type: u32,
}

#[repr(C)]
#[derive(Default)]
struct TestRun {
    prog_fd: u32,
    retval: u32,
    data_size_in: u32,
    data_size_out: u32,
    data_in: u64,
    data_out: u64,
    repeat: u32,
    duration: u32,
    ctx_size_in: u32,
    ctx_size_out: u32,
    ctx_in: u64,
    ctx_out: u64,
    flags: u32,
    cpu: u32,
    batch_size: u32,
    _pad: u32,
}

#[repr(C)]
#[derive(Default)]
struct LinkCreate {
    prog_fd: u32,
    target_ifindex: u32,
    attach_type: u32,
    flags: u32,
    _rest: [u64; 4],
}

#[repr(C)]
#[derive(Default)]
struct GetFdById {
    id: u32,
    next_id: u32,
    open_flags: u32,
}

/// A `BPF_MAP_TYPE_ARRAY` with `u32` keys.
pub struct ArrayMap {
    fd: OwnedFd,
    value_size: usize,
}

impl ArrayMap {
    pub fn new(name: &str, value_size: usize, max_entries: u32) -> Result<Self> {
        Self::create(name, MAP_TYPE_ARRAY, value_size, max_entries)
    }

    /// A one-slot `BPF_MAP_TYPE_PROG_ARRAY` holding `prog` (for `bpf_tail_call`).
    pub fn prog_array(name: &str, prog: &Prog) -> Result<Self> {
        let m = Self::create(name, MAP_TYPE_PROG_ARRAY, 4, 1)?;
        m.set(0, &(prog.fd.as_raw_fd() as u32).to_ne_bytes())?;
        Ok(m)
    }

    fn create(name: &str, map_type: u32, value_size: usize, max_entries: u32) -> Result<Self> {
        let mut a = MapCreate {
            map_type,
            key_size: 4,
            value_size: u32::try_from(value_size)?,
            max_entries,
            map_name: name16(name),
            ..Default::default()
        };
        let r = sys(MAP_CREATE, &mut a).with_context(|| format!("creating map {name}"))?;
        Ok(Self {
            fd: fd(r),
            value_size,
        })
    }

    pub fn set(&self, index: u32, value: &[u8]) -> Result<()> {
        if value.len() != self.value_size {
            bail!(
                "map value of {} bytes, expected {}",
                value.len(),
                self.value_size
            );
        }
        self.elem(MAP_UPDATE_ELEM, index, value.as_ptr() as u64)
            .context("map update")
    }

    pub fn get_u64(&self, index: u32) -> Result<u64> {
        let mut v = vec![0u8; self.value_size.max(8)];
        self.elem(MAP_LOOKUP_ELEM, index, v.as_mut_ptr() as u64)
            .context("map lookup")?;
        let mut b = [0u8; 8];
        b.copy_from_slice(&v[..8]);
        Ok(u64::from_ne_bytes(b))
    }

    /// Element command `cmd` (lookup, update) on slot `index`; `value`
    /// is the address of `value_size` bytes.
    fn elem(&self, cmd: libc::c_long, index: u32, value: u64) -> std::io::Result<()> {
        let mut a = MapElem {
            map_fd: self.raw() as u32,
            _pad: 0,
            key: &index as *const u32 as u64,
            value,
            flags: 0,
        };
        sys(cmd, &mut a).map(drop)
    }

    pub(super) fn raw(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// A loaded XDP program.
pub struct Prog {
    fd: OwnedFd,
}

impl Prog {
    pub fn load(name: &str, insns: &[Insn]) -> Result<Self> {
        let license = CString::new("GPL")?;
        let mut log = vec![0u8; 64 * 1024];
        let mut a = ProgLoad {
            prog_type: PROG_TYPE_XDP,
            insn_cnt: u32::try_from(insns.len())?,
            insns: insns.as_ptr() as u64,
            license: license.as_ptr() as u64,
            log_level: 1,
            log_size: log.len() as u32,
            log_buf: log.as_mut_ptr() as u64,
            prog_name: name16(name),
            expected_attach_type: ATTACH_TYPE_XDP,
            ..Default::default()
        };
        match sys(PROG_LOAD, &mut a) {
            Ok(r) => Ok(Self { fd: fd(r) }),
            Err(e) => {
                let end = log.iter().position(|&b| b == 0).unwrap_or(log.len());
                bail!(
                    "loading {name}: {e}\nverifier log:\n{}",
                    String::from_utf8_lossy(&log[..end])
                )
            }
        }
    }

    /// Open an already loaded program by id.
    pub fn from_id(id: u32) -> Result<Self> {
        let mut a = GetFdById {
            id,
            ..Default::default()
        };
        let r = sys(PROG_GET_FD_BY_ID, &mut a).with_context(|| format!("program id {id}"))?;
        Ok(Self { fd: fd(r) })
    }

    /// Attach in native mode to `ifindex` of the calling thread's
    /// namespace; detached when the returned link is dropped.
    pub fn attach(&self, ifindex: u32) -> Result<OwnedFd> {
        let mut a = LinkCreate {
            prog_fd: self.fd.as_raw_fd() as u32,
            target_ifindex: ifindex,
            attach_type: ATTACH_TYPE_XDP,
            flags: XDP_FLAGS_DRV_MODE,
            ..Default::default()
        };
        let r = sys(LINK_CREATE, &mut a)
            .with_context(|| format!("attaching XDP to ifindex {ifindex}"))?;
        Ok(fd(r))
    }

    /// `BPF_PROG_RUN` on `frame` as received on `ifindex` (of the calling
    /// thread's namespace). With `live`, frames are really transmitted
    /// (`XDP_TX`/`XDP_REDIRECT`) and the result is the return value of
    /// the last run; otherwise returns (action, ns per run).
    pub fn test_run(
        &self,
        frame: &[u8],
        ifindex: u32,
        repeat: u32,
        live: bool,
    ) -> Result<(u32, u32)> {
        // struct xdp_md { data, data_end, data_meta, ingress_ifindex, rx_queue_index, egress_ifindex }
        let ctx: [u32; 6] = [0, u32::try_from(frame.len())?, 0, ifindex, 0, 0];
        let mut out = vec![0u8; frame.len() + 512];
        let mut a = TestRun {
            prog_fd: self.fd.as_raw_fd() as u32,
            data_size_in: u32::try_from(frame.len())?,
            data_in: frame.as_ptr() as u64,
            repeat,
            ctx_size_in: std::mem::size_of_val(&ctx) as u32,
            ctx_in: ctx.as_ptr() as u64,
            ..Default::default()
        };
        if live {
            a.flags = F_TEST_XDP_LIVE_FRAMES;
        } else {
            a.data_size_out = out.len() as u32;
            a.data_out = out.as_mut_ptr() as u64;
        }
        sys(PROG_TEST_RUN, &mut a).context("BPF_PROG_RUN")?;
        Ok((a.retval, a.duration))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn attrs_match_the_kernel_abi() {
        assert_eq!(std::mem::size_of::<TestRun>(), 80);
        assert_eq!(std::mem::size_of::<ProgLoad>(), 72);
    }
}
