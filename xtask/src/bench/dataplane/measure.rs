//! Measuring: packets per second at the far end, and the per-packet cost
//! of a program (warm and cold) with `BPF_PROG_RUN`.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use anyhow::{anyhow, bail, Context, Result};

use crate::util::{check_stop, sleep_checked, stop_requested};

use super::{
    asm, bpf,
    net::{enter_netns, in_netns, Iface},
    traffic::{Flow, Traffic},
};

// ---------------------------------------------------------------------------
// Measuring

#[derive(Clone, Copy, Debug, Default)]
pub(super) struct Rate {
    /// Median of the per-second received rates.
    pub(super) pps: f64,
    /// What the generator sent, averaged.
    pub(super) offered: f64,
}

/// Send `traffic` from `src` as fast as possible, count at `counter`, and
/// return the median received rate over `seconds` 1-s samples (after 1 s of
/// warm-up).
pub(super) fn measure(
    src: &Iface,
    counter: &bpf::ArrayMap,
    traffic: Traffic,
    seconds: u32,
) -> Result<Rate> {
    let flows = u32::try_from(traffic.frames.len())?;
    let frame_len = traffic.frames.first().map(Vec::len).unwrap_or(0);
    // Copy whole words; the frame must be at least that long.
    let words = traffic.header_len.div_ceil(8);
    if words * 8 > frame_len {
        bail!("{frame_len}-byte frames are too short for the generator");
    }
    let state = bpf::ArrayMap::new("bench_gen_st", 8, 1)?;
    let table = bpf::ArrayMap::new("bench_gen_tbl", words * 8, flows)?;
    for (i, f) in traffic.frames.iter().enumerate() {
        table.set(u32::try_from(i)?, &f[..words * 8])?;
    }
    let prog = bpf::Prog::load(
        "bench_gen",
        &asm::generator_prog(&state, &table, flows, words, None)?,
    )?;
    let frame = traffic.frames.into_iter().next().unwrap_or_default();

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let ifindex = src.index;
    let ns_path = format!("/run/netns/{}", src.ns);
    let gen = {
        let (stop, sent) = (stop.clone(), sent.clone());
        thread::spawn(move || -> Result<()> {
            enter_netns(&ns_path)?;
            pin_to_cpu(GEN_CPU);
            // Keep the tables alive as long as the program runs.
            let _maps = (state, table);
            const BATCH: u32 = 1 << 16;
            while !stop.load(Ordering::Relaxed) && !stop_requested() {
                prog.test_run(&frame, ifindex, BATCH, true)?;
                sent.fetch_add(u64::from(BATCH), Ordering::Relaxed);
            }
            Ok(())
        })
    };

    let result = (|| -> Result<Rate> {
        let start = Instant::now();
        let mut last = (Instant::now(), counter.get_u64(0)?);
        let sent0 = sent.load(Ordering::Relaxed);
        let mut samples = Vec::new();
        for tick in 0..=seconds {
            sleep_checked(Duration::from_secs(1))?;
            if gen.is_finished() {
                bail!("generator stopped early");
            }
            let now = (Instant::now(), counter.get_u64(0)?);
            if tick > 0 {
                let dt = now.0.duration_since(last.0).as_secs_f64();
                samples.push(now.1.saturating_sub(last.1) as f64 / dt);
            }
            last = now;
        }
        let offered = (sent.load(Ordering::Relaxed) - sent0) as f64 / start.elapsed().as_secs_f64();
        Ok(Rate {
            pps: median(&mut samples),
            offered,
        })
    })();
    stop.store(true, Ordering::Relaxed);
    let joined = gen
        .join()
        .map_err(|_| anyhow!("generator thread panicked"))?;
    let rate = result?;
    joined.context("generator")?;
    Ok(rate)
}

/// The CPU the generator thread runs on. The DUT's and the sink's receive
/// processing follow it (veth NAPI runs in the sender's softirq), so every
/// case but the spread one runs on this CPU alone; pinning keeps that from
/// moving around between samples.
const GEN_CPU: usize = 0;

/// Pin the calling thread to `cpu` (best effort).
fn pin_to_cpu(cpu: usize) {
    // SAFETY: a zeroed cpu_set_t is a valid empty set; CPU_SET stays in bounds
    // for cpu < CPU_SETSIZE; sched_setaffinity(0) affects this thread only.
    unsafe {
        let mut set: libc::cpu_set_t = std::mem::zeroed();
        libc::CPU_SET(cpu, &mut set);
        if libc::sched_setaffinity(0, std::mem::size_of::<libc::cpu_set_t>(), &set) != 0 {
            eprintln!("bench: pinning the generator to CPU {cpu} failed");
        }
    }
}

pub(super) fn median(v: &mut [f64]) -> f64 {
    if v.is_empty() {
        return 0.0;
    }
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Cost in ns of one run of `prog` on `frame` received on `ifindex` in `ns`
/// (see the module doc), and the XDP action of the runs, which must all agree.
pub(super) fn ns_per_packet(
    ns: &str,
    prog: bpf::Prog,
    frame: Vec<u8>,
    ifindex: u32,
    runs: u32,
) -> Result<(u32, f64)> {
    let pass = bpf::Prog::load("bench_pass", &asm::pass_prog())?;
    in_netns(ns, move || {
        let timed = |p: &bpf::Prog| -> Result<(u32, f64)> {
            let mut action = None;
            let mut ns = Vec::with_capacity(runs as usize);
            for _ in 0..runs.max(1) {
                let (a, d) = p.test_run(&frame, ifindex, 1, false)?;
                if *action.get_or_insert(a) != a {
                    bail!("XDP action changed between runs ({action:?} then {a})");
                }
                ns.push(f64::from(d));
            }
            Ok((action.unwrap_or(0), median(&mut ns)))
        };
        let (action, t) = timed(&prog)?;
        let (_, base) = timed(&pass)?;
        Ok((action, (t - base).max(0.0)))
    })
}

/// Live-frame `BPF_PROG_RUN` batches per program in [`ns_per_packet_warm`].
const WARM_CALLS: usize = 5;
/// Frames per batch.
const WARM_REPEAT: u32 = 1 << 19;

/// Warm per-packet cost in ns of `prog` over a bare `bpf_redirect()` to
/// `egress` (see the module doc): the generator restores flow `i`'s frame
/// and tail-calls `prog`, in live-frame mode, `WARM_REPEAT` frames per call;
/// the kernel's average time per frame for that, minus the same with a bare
/// redirect program in place of `prog`. The two alternate, `WARM_CALLS`
/// calls each; the fastest call of each counts (other work on the machine
/// only ever adds time).
pub(super) fn ns_per_packet_warm(
    ns: &str,
    prog: bpf::Prog,
    flows: &[Flow],
    ifindex: u32,
    egress: u32,
) -> Result<f64> {
    let bare = bpf::Prog::load("bench_redirect", &asm::redirect_prog(egress)?)?;
    // The smallest frame that holds the flows' headers rounded up to the
    // generator's 8-byte words (the table rows are whole words): 72 B for
    // IPv6 in PPPoE, 64 B downstream. Without the rounding the IPv6 rows'
    // header (70 and 62 B) fell short of its last word and the table fill
    // panicked.
    let min = flows
        .first()
        .map_or(60, |f| f.header_len().next_multiple_of(8).max(60));
    let traffic = Traffic::new(flows, min)?;
    in_netns(ns, move || {
        let setup = |target: &bpf::Prog| -> Result<_> {
            let n = u32::try_from(traffic.frames.len())?;
            let words = traffic.header_len.div_ceil(8);
            let state = bpf::ArrayMap::new("bench_gen_st", 8, 1)?;
            let table = bpf::ArrayMap::new("bench_gen_tbl", words * 8, n)?;
            for (i, f) in traffic.frames.iter().enumerate() {
                table.set(u32::try_from(i)?, &f[..words * 8])?;
            }
            let tail = bpf::ArrayMap::prog_array("bench_tail", target)?;
            let gen = bpf::Prog::load(
                "bench_gen_tail",
                &asm::generator_prog(&state, &table, n, words, Some(&tail))?,
            )?;
            Ok((gen, state, table, tail))
        };
        let under_test = setup(&prog)?;
        let baseline = setup(&bare)?;
        let frame = traffic.frames.first().cloned().unwrap_or_default();
        let (mut t, mut base) = (u32::MAX, u32::MAX);
        for _ in 0..WARM_CALLS {
            check_stop()?;
            t = t.min(under_test.0.test_run(&frame, ifindex, WARM_REPEAT, true)?.1);
            base = base.min(baseline.0.test_run(&frame, ifindex, WARM_REPEAT, true)?.1);
        }
        Ok((f64::from(t) - f64::from(base)).max(0.0))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_samples() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
        assert_eq!(median(&mut []), 0.0);
    }
}
