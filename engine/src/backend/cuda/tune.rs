//! The builder's CUDA half: compile the kernels for this GPU's exact architecture, then time
//! every candidate tactic of every conv on the device and keep the fastest (TensorRT's tactic
//! selection), then time the whole network with each conv's close runners-up in its place
//! (`refine`): a conv timed alone, repeated on warm caches, is not a conv between two others
//! in a frame with dependent launches.

use super::device::{driver_error, DeviceBuffer, Gpu};
use super::engine::{element_size, CudaEngine};
use super::kernels;
use super::launch::Launch;
use super::nvrtc::Nvrtc;
use super::tactics::{self, Arith, ConvShape, ConvTactic};
use crate::builder::Step;
use crate::error::{Error, Result};
use crate::graph::{Graph, Op};
use crate::plan::{Fingerprint, Plan, Tactic};
use cudarc::driver::sys;
use cudarc::driver::{result, CudaStream};
use std::path::Path;

/// Timed launches per candidate, after two untimed ones.
const REPS: usize = 10;

/// A runner-up is timed in the network if alone it took at most this much longer than the pick.
const CLOSE: f32 = 1.15;
/// And at most this many of them per conv.
const RUNNERS_UP: usize = 2;
/// A change is kept if the network got faster by more than this fraction (its run-to-run noise
/// is a few tenths of a percent).
const MIN_GAIN: f32 = 0.003;
/// The most time the network timings may take (an FP32 YOLOv3 frame is 16 ms on an H200:
/// its few hundred timings would take a minute, and FP32 plans are for checking, not speed).
const NETWORK_BUDGET_MS: f32 = 10_000.0;
/// Passes over the convs (a later conv's change can make an earlier one's worth undoing).
const PASSES: usize = 2;
/// Alternating network timings of the per-conv picks and the refined ones that decide between
/// them at the end.
const CONFIRM: usize = 5;

pub struct Built {
    pub fingerprint: Fingerprint,
    pub device_code: Vec<u8>,
    pub tactics: Vec<Tactic>,
}

/// Compiles and tunes `graph` (optimized, validated) for GPU `ordinal`. `plan` is the plan so
/// far (bindings, metadata); its fingerprint, code and tactics are filled in here.
pub fn build(
    plan: &Plan,
    ordinal: usize,
    nvrtc: Option<&Path>,
    progress: &mut dyn FnMut(Step),
) -> Result<Built> {
    let gpu = Gpu::open(ordinal)?;
    let arch = gpu.info.arch();
    let nvrtc = Nvrtc::load(nvrtc).map_err(Error::Device)?;
    progress(Step::Compile);
    let device_code = kernels::compile(&nvrtc, &arch)?;
    let fingerprint = gpu.info.fingerprint();
    let cc = gpu.info.cc;
    let graph: &Graph = &plan.graph;
    let precision = plan.precision;
    let arith =
        |node: usize| Arith::of(precision, plan.quant.as_ref().is_some_and(|q| q.int8[node]));
    // A first plan with the always-eligible tactic everywhere, to load weights and kernels.
    let first: Vec<Tactic> = conv_nodes(graph)
        .map(|i| Tactic {
            node: i,
            name: ConvTactic::fallback(arith(i)).name(arith(i)),
        })
        .collect();
    let provisional = Plan {
        fingerprint: fingerprint.clone(),
        device_code,
        tactics: first,
        ..plan.clone()
    };
    let engine = CudaEngine::new(&provisional, gpu)?;
    let ctx = &engine.gpu().ctx;
    let arena = DeviceBuffer::zeroed(ctx, engine.memory().arena_len * element_size(precision))?;
    let candidates: Vec<(usize, ConvShape, Vec<ConvTactic>)> = conv_nodes(graph)
        .map(|i| {
            let shape = engine.conv_shape(i).expect("a conv node");
            (i, shape, tactics::candidates(&shape, cc))
        })
        .collect();
    let workspace_bytes = candidates
        .iter()
        .flat_map(|(i, _, ts)| ts.iter().map(|t| engine.workspace_bytes(Some((*i, *t)))))
        .max()
        .unwrap_or(0);
    let workspace = DeviceBuffer::zeroed(ctx, workspace_bytes)?;
    let stream = ctx
        .new_stream()
        .map_err(|e| driver_error("creating a stream", e))?;
    let timer = Timer::new()?;
    let total = candidates.len();
    // Per conv, the candidates that launched, fastest first.
    let mut timed: Vec<Vec<(f32, ConvTactic)>> = Vec::with_capacity(total);
    for (done, (node, shape, options)) in candidates.iter().enumerate() {
        progress(Step::Tune { done, total });
        let mut times = Vec::new();
        let mut failed = None;
        let mut launches = Vec::new();
        for &t in options {
            launches.clear();
            // A candidate that cannot launch here is skipped, not fatal. One asking more shared
            // memory than this GPU gives a block is expected to (a Jetson gives less than an
            // H100); any other failure is a defect to see, as the 48 KiB launches were that
            // tuning once skipped in silence.
            match engine
                .node_launches(*node, arena.ptr(), workspace.ptr(), Some(t), &mut launches)
                .and_then(|()| timer.time(&stream, &launches))
            {
                Ok(ms) => times.push((ms, t)),
                Err(e) => {
                    let name = t.name(arith(*node));
                    if t.fits_block(shape, engine.gpu().max_shared_per_block) {
                        log::warn!(
                            "tactic {name} failed to launch for conv {node} ({}), skipped: {e}",
                            graph.nodes[*node].name
                        );
                    } else {
                        log::debug!("tactic {name} skipped (shared memory): {e}");
                    }
                    failed = Some(e);
                }
            }
        }
        // The CUDA-core tactic is always a candidate: none launching is a failing GPU.
        if times.is_empty() {
            let why = failed.map_or_else(|| "no candidate".to_string(), |e| e.to_string());
            return Err(Error::Device(format!(
                "no kernel for conv {} ({}) launches on this GPU: {why}",
                node, graph.nodes[*node].name
            )));
        }
        times.sort_by(|a, b| a.0.total_cmp(&b.0));
        timed.push(times);
    }
    progress(Step::Network);
    let convs: Vec<usize> = candidates.iter().map(|(node, _, _)| *node).collect();
    let picks: Vec<ConvTactic> = timed.iter().map(|t| t[0].1).collect();
    let choices: Vec<Vec<ConvTactic>> = timed
        .iter()
        .map(|t| [t[0].1].into_iter().chain(runners_up(t)).collect())
        .collect();
    let mut launches = Vec::new();
    let mut frame = |picks: &[ConvTactic]| -> Result<f32> {
        launches.clear();
        let mut conv = convs.iter().zip(picks).peekable();
        for i in 0..graph.nodes.len() {
            let t = conv.next_if(|(node, _)| **node == i).map(|(_, t)| *t);
            engine.node_launches(i, arena.ptr(), workspace.ptr(), t, &mut launches)?;
        }
        timer.time(&stream, &launches)
    };
    // Each pass tries every choice of a conv but its current one, and the one it had before a
    // change is tried again: at most all of them.
    let timings = 1 + PASSES * choices.iter().map(Vec::len).sum::<usize>() + 2 * CONFIRM;
    // The network timing only refines the picks: if it fails, they stand.
    let refined = frame(&picks).and_then(|ms| {
        let cost = ms * (REPS + 2) as f32 * timings as f32;
        if cost > NETWORK_BUDGET_MS {
            log::info!(
                "network timing skipped: it would take about {:.0} s",
                cost / 1e3
            );
            return Ok(None);
        }
        refine(picks.clone(), &choices, &mut frame).map(Some)
    });
    let picks = match refined {
        Ok(Some(r)) => {
            log::info!(
                "network timing: {} of {total} convs took a runner-up, {:.3} -> {:.3} ms (layers alone, stream launches)",
                r.changed,
                r.before_ms,
                r.after_ms
            );
            r.picks
        }
        Ok(None) => picks,
        Err(e) => {
            log::warn!("network timing failed, keeping each conv's fastest alone: {e}");
            picks
        }
    };
    let tactics = convs
        .iter()
        .zip(&picks)
        .map(|(&node, t)| Tactic {
            node,
            name: t.name(arith(node)),
        })
        .collect();
    Ok(Built {
        fingerprint,
        device_code: provisional.device_code,
        tactics,
    })
}

/// The runners-up of a conv worth timing in the network: up to `RUNNERS_UP` within `CLOSE` of
/// the fastest alone (`times` sorted, fastest first).
fn runners_up(times: &[(f32, ConvTactic)]) -> Vec<ConvTactic> {
    let best = times[0].0;
    times[1..]
        .iter()
        .take_while(|(ms, _)| *ms <= best * CLOSE)
        .take(RUNNERS_UP)
        .map(|(_, t)| *t)
        .collect()
}

struct Refined<T> {
    picks: Vec<T>,
    changed: usize,
    before_ms: f32,
    after_ms: f32,
}

/// Tries each conv's `choices` (its pick among them) in the network in place of its current
/// one, conv after conv, for up to `PASSES` passes, keeping a change that makes `frame` (the
/// network's time, ms) faster by more than `MIN_GAIN`. Changes kept on single timings are then
/// checked as a whole: the refined picks replace the per-conv ones only if they are faster in
/// the median of `CONFIRM` alternating timings.
fn refine<T: Copy + PartialEq>(
    picks: Vec<T>,
    choices: &[Vec<T>],
    frame: &mut dyn FnMut(&[T]) -> Result<f32>,
) -> Result<Refined<T>> {
    let mut best = picks.clone();
    let mut best_ms = frame(&best)?;
    for _ in 0..PASSES {
        let mut moved = false;
        for (c, options) in choices.iter().enumerate() {
            for &o in options {
                if o == best[c] {
                    continue;
                }
                let kept = std::mem::replace(&mut best[c], o);
                let ms = frame(&best)?;
                if ms < best_ms * (1.0 - MIN_GAIN) {
                    best_ms = ms;
                    moved = true;
                } else {
                    best[c] = kept;
                }
            }
        }
        if !moved {
            break;
        }
    }
    let changed = best.iter().zip(&picks).filter(|(a, b)| a != b).count();
    if changed == 0 {
        return Ok(Refined {
            picks,
            changed,
            before_ms: best_ms,
            after_ms: best_ms,
        });
    }
    let (mut before, mut after) = (Vec::new(), Vec::new());
    for _ in 0..CONFIRM {
        before.push(frame(&picks)?);
        after.push(frame(&best)?);
    }
    let (before_ms, after_ms) = (median(&mut before), median(&mut after));
    Ok(if after_ms < before_ms {
        Refined {
            picks: best,
            changed,
            before_ms,
            after_ms,
        }
    } else {
        Refined {
            picks,
            changed: 0,
            before_ms,
            after_ms: before_ms,
        }
    })
}

fn median(v: &mut [f32]) -> f32 {
    v.sort_by(f32::total_cmp);
    v[v.len() / 2]
}

fn conv_nodes(graph: &Graph) -> impl Iterator<Item = usize> + '_ {
    graph
        .nodes
        .iter()
        .enumerate()
        .filter(|(_, n)| matches!(n.op, Op::Conv(_)))
        .map(|(i, _)| i)
}

struct Timer {
    start: sys::CUevent,
    end: sys::CUevent,
}

impl Timer {
    fn new() -> Result<Timer> {
        let ev = || {
            result::event::create(sys::CUevent_flags::CU_EVENT_DEFAULT)
                .map_err(|e| driver_error("creating an event", e))
        };
        Ok(Timer {
            start: ev()?,
            end: ev()?,
        })
    }

    /// Mean milliseconds of one run of `launches`.
    fn time(&self, stream: &CudaStream, launches: &[Launch]) -> Result<f32> {
        let run = || -> Result<()> {
            for l in launches {
                l.record(stream)
                    .map_err(|e| driver_error("launching a candidate kernel", e))?;
            }
            Ok(())
        };
        run()?;
        run()?;
        // SAFETY: events and stream belong to the current context.
        unsafe { result::event::record(self.start, stream.cu_stream()) }
            .map_err(|e| driver_error("recording an event", e))?;
        for _ in 0..REPS {
            run()?;
        }
        // SAFETY: as above.
        unsafe { result::event::record(self.end, stream.cu_stream()) }
            .map_err(|e| driver_error("recording an event", e))?;
        // SAFETY: `end` was recorded on this stream.
        unsafe { result::event::synchronize(self.end) }
            .map_err(|e| driver_error("timing a candidate kernel", e))?;
        // SAFETY: both events completed.
        let ms = unsafe { result::event::elapsed(self.start, self.end) }
            .map_err(|e| driver_error("reading an event", e))?;
        Ok(ms / REPS as f32)
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        // SAFETY: created in `new`, destroyed once.
        unsafe {
            let _ = result::event::destroy(self.start);
            let _ = result::event::destroy(self.end);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A network of three convs with two choices each (0: each one's fastest alone), where a
    /// conv on choice 0 right after another on choice 0 costs 0.3 more (say, two split-K
    /// convs back to back), which no conv timed alone shows.
    fn frame(picks: &[u8]) -> f32 {
        let alone = [[1.0, 1.1], [2.0, 2.1], [1.5, 1.6]];
        let mut ms: f32 = picks
            .iter()
            .enumerate()
            .map(|(c, &o)| alone[c][o as usize])
            .sum();
        for w in picks.windows(2) {
            if w == [0, 0] {
                ms += 0.3;
            }
        }
        ms
    }

    #[test]
    fn refine_takes_a_runner_up_that_makes_the_network_faster() {
        let both = || vec![0, 1];
        let r = refine(vec![0, 0, 0], &[both(), both(), both()], &mut |p| {
            Ok(frame(p))
        })
        .unwrap();
        // By hand: 0,0,0 costs 5.1. First pass: 1,0,0 4.9 (kept), 1,1,0 4.7 (kept), 1,1,1 4.8
        // (not). Second pass: 0,1,0 4.6 (kept: the second conv's change made the first one's
        // worthless), 1,1,0 again 4.7, 0,0,0 5.1 and 0,1,1 4.7 (not).
        assert_eq!(r.picks, vec![0, 1, 0]);
        assert_eq!(r.changed, 1);
        assert!(
            (r.before_ms - 5.1).abs() < 1e-4 && (r.after_ms - 4.6).abs() < 1e-4,
            "{} {}",
            r.before_ms,
            r.after_ms
        );
    }

    #[test]
    fn refine_keeps_the_picks_when_no_runner_up_gains_more_than_the_noise() {
        // Every runner-up is 0.1% faster in the network: under MIN_GAIN.
        let frame =
            |p: &[u8]| -> f32 { 10.0 - 0.01 * p.iter().map(|&o| f32::from(o)).sum::<f32>() };
        let r = refine(vec![0, 0], &[vec![0, 1], vec![0, 1]], &mut |p| Ok(frame(p))).unwrap();
        assert_eq!((r.picks, r.changed), (vec![0, 0], 0));
    }

    #[test]
    fn refine_drops_changes_that_alternating_timings_do_not_confirm() {
        // The first timing of the runner-up comes out fast (noise); every later one says it
        // is slower than the pick.
        let mut calls = 0;
        let mut noisy = |p: &[u8]| -> Result<f32> {
            calls += 1;
            Ok(if calls == 2 {
                1.0
            } else {
                2.0 + f32::from(p[0])
            })
        };
        let r = refine(vec![0], &[vec![0, 1]], &mut noisy).unwrap();
        assert_eq!((r.picks, r.changed), (vec![0], 0));
        assert_eq!((r.before_ms, r.after_ms), (2.0, 2.0));
        // The pick; the runner-up (kept on that timing); the second pass's try of the pick in
        // its place (slower than 1.0: not kept); then CONFIRM alternating pairs.
        assert_eq!(calls, 3 + 2 * CONFIRM);
    }

    #[test]
    fn runners_up_are_the_close_ones_and_few() {
        let t = |splits| ConvTactic {
            kernel: ConvTactic::fallback(Arith::F16).kernel,
            splits,
        };
        let times = [
            (1.0, t(1)),
            (1.05, t(2)),
            (1.1, t(4)),
            (1.12, t(8)),
            (1.3, t(3)),
        ];
        assert_eq!(runners_up(&times), vec![t(2), t(4)]);
        assert_eq!(
            runners_up(&[(1.0, t(1)), (1.2, t(2))]),
            Vec::<ConvTactic>::new()
        );
    }
}
