//! The CPU kernels (`cpu_kernels`): on every path this machine has (each ISA, forced team
//! sizes, small projection chunks), the packed, fused LSTM equals the plain reference
//! (`cpu::run_sequence_reference`: one `gemm` projection, then per step the recurrent
//! product and the element-wise cell) on random configurations with every activation, masks,
//! initial states, go_backwards, non-finite inputs and sizes that are no multiple of the
//! vector width or the row block; a warm layer packs and allocates nothing more; replaced
//! weights are packed again. The Keras fixtures run on every path in fixtures.rs, and the
//! GPU-vs-CPU tests take their CPU reference from every path in turn.

use libtest_mimic::Trial;
use ndarray::{Array2, Array3};
use rand::Rng;
use wgpu_lstm::cpu::{self, StepState};
use wgpu_lstm::cpu_kernels::{self, KernelOptions};
use wgpu_lstm::{Activation, CellKind, Lstm, LstmConfig, LstmInput, LstmWeights, cell};

use crate::common::{cpu_paths, random, random_config, random_mask, rng, test};

pub fn tests() -> Vec<Trial> {
    vec![
        test(
            "cpu_kernels::packed_lstm_equals_the_reference_on_every_path",
            packed_lstm_equals_the_reference_on_every_path,
        ),
        test(
            "cpu_kernels::default_activations_take_the_vector_path_exactly",
            default_activations_take_the_vector_path_exactly,
        ),
        test(
            "cpu_kernels::a_warm_layer_packs_and_allocates_nothing",
            a_warm_layer_packs_and_allocates_nothing,
        ),
        test(
            "cpu_kernels::replaced_weights_are_packed_again",
            replaced_weights_are_packed_again,
        ),
        test(
            "cpu_kernels::results_do_not_depend_on_the_team_or_the_split",
            results_do_not_depend_on_the_team_or_the_split,
        ),
        test(
            "cpu_kernels::packed_gru_and_simple_rnn_equal_the_reference_on_every_path",
            packed_gru_and_simple_rnn_equal_the_reference_on_every_path,
        ),
        test(
            "cpu_kernels::gru_and_simple_rnn_default_activations_take_the_vector_path",
            gru_and_simple_rnn_default_activations_take_the_vector_path,
        ),
        test(
            "cpu_kernels::gru_and_simple_rnn_do_not_depend_on_the_team_or_the_split",
            gru_and_simple_rnn_do_not_depend_on_the_team_or_the_split,
        ),
        test(
            "cpu_kernels::a_warm_gru_or_simple_rnn_packs_and_allocates_nothing",
            a_warm_gru_or_simple_rnn_packs_and_allocates_nothing,
        ),
    ]
}

/// Max |a - b| / max(1, |b|), with equal values (inf too) and NaN against NaN as 0.
fn rel_err(a: &Array3<f32>, b: &Array3<f32>) -> f32 {
    assert_eq!(a.shape(), b.shape());
    a.iter()
        .zip(b.iter())
        .map(|(x, y)| {
            if x == y || (x.is_nan() && y.is_nan()) {
                0.0
            } else {
                let d = (x - y).abs() / y.abs().max(1.0);
                if d.is_nan() { f32::INFINITY } else { d }
            }
        })
        .fold(0.0, f32::max)
}

struct Case {
    cfg: LstmConfig,
    w: LstmWeights,
    x: Array3<f32>,
    mask: Option<Array2<bool>>,
    h0: Array2<f32>,
    c0: Array2<f32>,
}

fn case(r: &mut rand::rngs::StdRng, cfg: LstmConfig, b: usize, t: usize, d: usize) -> Case {
    let u = cfg.units;
    let contractive = |a: Activation| {
        matches!(
            a,
            Activation::Sigmoid
                | Activation::HardSigmoid
                | Activation::HardSigmoidKeras2
                | Activation::SparseSigmoid
                | Activation::Tanh
        )
    };
    let ws = if contractive(cfg.recurrent_activation) {
        0.6
    } else {
        0.2
    };
    let w = LstmWeights::new(
        random(r, ndarray::Ix2(d, 4 * u), ws / (d as f32).sqrt()),
        random(r, ndarray::Ix2(u, 4 * u), ws / (u as f32).sqrt()),
        cfg.use_bias.then(|| random(r, ndarray::Ix1(4 * u), ws)),
    )
    .unwrap();
    let mut x = random(r, ndarray::Ix3(b, t, d), 2.0);
    // now and then a NaN or an infinity in the inputs: the exact path must take over there
    if r.random_bool(0.1) {
        let at = (
            r.random_range(0..b),
            r.random_range(0..t),
            r.random_range(0..d),
        );
        x[at] = [f32::NAN, f32::INFINITY, f32::NEG_INFINITY][r.random_range(0..3)];
    }
    let mask = r.random_bool(0.5).then(|| random_mask(r, b, t));
    let init = r.random_bool(0.5);
    let st = |r: &mut rand::rngs::StdRng| {
        if init {
            random(r, ndarray::Ix2(b, u), 1.0)
        } else {
            Array2::zeros((b, u))
        }
    };
    let (h0, c0) = (st(r), st(r));
    Case {
        cfg,
        w,
        x,
        mask,
        h0,
        c0,
    }
}

/// What a call gives: (output, h, c, hold).
type Outcome = (Array3<f32>, Array2<f32>, Array2<f32>, Array2<f32>);

/// The [`Outcome`] of the packed kernels on the current path, and of the reference.
fn both(c: &Case) -> [Outcome; 2] {
    let run = |packed: bool| {
        let mut st = StepState::zeros(c.x.dim().0, c.cfg.units).unwrap();
        st.h.assign(&c.h0);
        st.c.assign(&c.c0);
        let m = c.mask.as_ref().map(|m| m.view());
        let y = if packed {
            cpu::run_sequence(&c.cfg, &c.w, c.x.view(), m, &mut st)
        } else {
            cpu::run_sequence_reference(&c.cfg, &c.w, c.x.view(), m, &mut st)
        }
        .unwrap();
        (y, st.h, st.c, st.hold)
    };
    [run(true), run(false)]
}

fn check(c: &Case, what: &str) -> f32 {
    let [(y, h, cc, hold), (ry, rh, rc, rhold)] = both(c);
    let e = rel_err(&y, &ry);
    let three = |a: Array2<f32>| a.insert_axis(ndarray::Axis(1));
    let es = rel_err(&three(h), &three(rh))
        .max(rel_err(&three(cc), &three(rc)))
        .max(rel_err(&three(hold), &three(rhold)));
    assert!(
        e <= 1e-5 && es <= 1e-5,
        "{what}: output {e:e}, state {es:e}; cfg {:?}",
        c.cfg
    );
    e.max(es)
}

/// Random configurations (every activation in both slots over the run, units and batches
/// around the vector widths and row blocks) on every CPU path, against the reference.
fn packed_lstm_equals_the_reference_on_every_path() {
    let units = [1, 3, 7, 8, 15, 16, 17, 31, 33, 48, 65];
    let batches = [1, 2, 3, 5, 6, 7, 13];
    for (p, path) in cpu_paths().into_iter().enumerate() {
        let mut r = rng(0xc0de + p as u64);
        let mut worst = 0.0f32;
        for i in 0..60 {
            let u = units[i % units.len()];
            let b = batches[(i / 3) % batches.len()];
            let t = r.random_range(1..=9);
            let d = r.random_range(1..=19);
            let mut cfg = random_config(&mut r, u);
            if i % 3 == 0 {
                cfg.activation = Activation::Tanh;
                cfg.recurrent_activation = Activation::Sigmoid;
            }
            let c = case(&mut r, cfg, b, t, d);
            let what = format!("{path:?} case {i} (B={b} T={t} D={d} U={u})");
            worst = worst.max(cpu_kernels::with_options(path, || check(&c, &what)).unwrap());
        }
        eprintln!("{path:?}: worst relative difference {worst:.2e}");
    }
}

/// With tanh / sigmoid and finite values the vector path runs, and its results are within
/// 1e-6 of the reference's scalar fast path (same activations bit for bit; only the dot
/// products' order differs), for sizes that fill whole tiles and ragged ones, one step and
/// many, a large batch spread over a team.
fn default_activations_take_the_vector_path_exactly() {
    for path in cpu_paths() {
        let mut r = rng(77);
        for (b, t, d, u) in [
            (1, 1, 64, 256),
            (1, 30, 32, 128),
            (9, 12, 20, 40),
            (32, 5, 8, 70),
        ] {
            let cfg = LstmConfig {
                return_sequences: true,
                ..LstmConfig::new(u)
            };
            let mut c = case(&mut r, cfg, b, t, d);
            c.x.mapv_inplace(|v| if v.is_finite() { v } else { 0.5 });
            let [(y, h, ..), (ry, rh, ..)] = cpu_kernels::with_options(path, || both(&c)).unwrap();
            let e = rel_err(&y, &ry).max(rel_err(
                &h.insert_axis(ndarray::Axis(1)),
                &rh.insert_axis(ndarray::Axis(1)),
            ));
            assert!(e <= 1e-6, "{path:?} ({b},{t},{d},{u}): {e:e}");
        }
    }
}

/// Once warm, neither a stateful stream of single steps nor repeated sequence calls (same
/// or smaller inputs) pack weights or grow a buffer, on any path — with a team of helpers
/// too. The first call packs exactly once.
fn a_warm_layer_packs_and_allocates_nothing() {
    for path in cpu_paths() {
        cpu_kernels::with_options(path, || {
            let cfg = LstmConfig {
                stateful: true,
                ..LstmConfig::new(40)
            };
            let mut stream = Lstm::with_default_weights(cfg, 6, 1).unwrap();
            let x = Array3::<f32>::from_elem((1, 1, 6), 0.3);
            let before = cpu_kernels::thread_stats();
            stream.call(LstmInput::new(x.view())).unwrap();
            let first = cpu_kernels::thread_stats();
            assert_eq!(first.packs - before.packs, 1, "{path:?}: one packing");
            stream.call(LstmInput::new(x.view())).unwrap();
            let warm = cpu_kernels::thread_stats();
            for _ in 0..20 {
                stream.call(LstmInput::new(x.view())).unwrap();
            }
            assert_eq!(cpu_kernels::thread_stats(), warm, "{path:?}: stream");

            let mut seq = Lstm::with_default_weights(LstmConfig::new(33), 5, 2).unwrap();
            let big = Array3::<f32>::from_elem((7, 9, 5), 0.2);
            let small = Array3::<f32>::from_elem((3, 4, 5), -0.1);
            seq.forward(big.view()).unwrap();
            let warm = cpu_kernels::thread_stats();
            for _ in 0..5 {
                seq.forward(big.view()).unwrap();
                seq.forward(small.view()).unwrap();
            }
            assert_eq!(cpu_kernels::thread_stats(), warm, "{path:?}: sequences");
        })
        .unwrap();
    }
}

/// Replacing an array of the weights (a new allocation) makes the next call pack again,
/// and the results follow the new weights.
fn replaced_weights_are_packed_again() {
    let mut r = rng(5);
    let cfg = LstmConfig::new(12);
    let mut w = LstmWeights::keras_default(4, &cfg, 0).unwrap();
    let x = random(&mut r, ndarray::Ix3(2, 5, 4), 1.0);
    let run = |w: &LstmWeights, reference: bool| {
        let mut st = StepState::zeros(2, 12).unwrap();
        if reference {
            cpu::run_sequence_reference(&cfg, w, x.view(), None, &mut st).unwrap()
        } else {
            cpu::run_sequence(&cfg, w, x.view(), None, &mut st).unwrap()
        }
    };
    let first = run(&w, false);
    assert!(w.cpu_packed_bytes() > 0);
    w.recurrent_kernel = random(&mut r, ndarray::Ix2(12, 48), 0.3);
    assert_eq!(
        w.cpu_packed_bytes(),
        0,
        "the held pack is for the old array"
    );
    let before = cpu_kernels::thread_stats();
    let second = run(&w, false);
    assert_eq!(cpu_kernels::thread_stats().packs - before.packs, 1);
    assert!(rel_err(&second, &run(&w, true)) <= 1e-6);
    assert!(rel_err(&first, &second) > 1e-3, "the new weights were used");
    let _ = KernelOptions::default();
}

/// On each ISA, a call gives the same bits with 1, 2 or 3 threads (tile mode, row mode with
/// row groups of any size), and a stateful call split in two gives the state of one call:
/// every row's dot products run in one order whatever block it shares.
fn results_do_not_depend_on_the_team_or_the_split() {
    let mut r = rng(11);
    for isa in cpu_kernels::Isa::available() {
        for (b, t, d, u) in [(1, 7, 5, 40), (5, 6, 9, 33), (7, 9, 4, 17), (13, 5, 8, 70)] {
            let cfg = LstmConfig {
                return_sequences: true,
                ..LstmConfig::new(u)
            };
            let mut c = case(&mut r, cfg, b, t, d);
            c.x.mapv_inplace(|v| if v.is_finite() { v } else { 0.5 });
            let run = |threads: usize, x: ndarray::ArrayView3<'_, f32>, st: &mut StepState| {
                let o = KernelOptions {
                    isa: Some(isa),
                    threads: Some(threads),
                    chunk_steps: None,
                };
                cpu_kernels::with_options(o, || {
                    cpu::run_sequence(&c.cfg, &c.w, x, None, st).unwrap()
                })
                .unwrap()
            };
            let fresh = || {
                let mut st = StepState::zeros(b, u).unwrap();
                st.h.assign(&c.h0);
                st.c.assign(&c.c0);
                st
            };
            let mut st1 = fresh();
            let one = run(1, c.x.view(), &mut st1);
            for threads in [2, 3] {
                let mut st = fresh();
                let y = run(threads, c.x.view(), &mut st);
                assert_eq!(y, one, "{isa:?} ({b},{t},{d},{u}) {threads} threads");
                assert_eq!(
                    (&st.h, &st.c),
                    (&st1.h, &st1.c),
                    "{isa:?} {threads} threads"
                );
            }
            // the first steps on 1 thread, the rest on 2: the same state as one call
            let mut st = fresh();
            let cut = t / 2;
            run(1, c.x.slice(ndarray::s![.., ..cut, ..]), &mut st);
            run(2, c.x.slice(ndarray::s![.., cut.., ..]), &mut st);
            assert_eq!(
                (&st.h, &st.c),
                (&st1.h, &st1.c),
                "{isa:?} ({b},{t},{d},{u}) split"
            );
        }
    }
}

/// The cells of the GRU / SimpleRNN tests: GRU both ways (reset_after=False in two phases
/// per step) and SimpleRNN.
const CELLS: [CellKind; 3] = [
    CellKind::Gru { reset_after: true },
    CellKind::Gru { reset_after: false },
    CellKind::SimpleRnn,
];

/// A GRU / SimpleRNN case: `case`'s inputs, mask and h0 with weights of the cell's shapes.
fn cell_case(
    r: &mut rand::rngs::StdRng,
    mut cfg: LstmConfig,
    cell: CellKind,
    b: usize,
    t: usize,
    d: usize,
) -> Case {
    let u = cfg.units;
    let mut c = case(r, cfg.clone(), b, t, d);
    cfg.cell = cell;
    let g = cell.gates() * u;
    let ws = if cell == CellKind::SimpleRnn {
        0.4
    } else {
        0.6
    };
    c.w = LstmWeights::new_for(
        cell,
        random(r, ndarray::Ix2(d, g), ws / (d as f32).sqrt()),
        random(r, ndarray::Ix2(u, g), ws / (u as f32).sqrt()),
        cfg.use_bias
            .then(|| random(r, ndarray::Ix1(cell.bias_len(u)), ws)),
    )
    .unwrap();
    c.c0 = Array2::zeros((b, 0));
    c.cfg = cfg;
    c
}

/// (output, h, hold) of `cell::run_sequence` (packed) or its reference.
fn cell_run(c: &Case, packed: bool) -> (Array3<f32>, Array2<f32>, Array2<f32>) {
    let b = c.x.dim().0;
    let mut st = StepState {
        c: Array2::zeros((b, 0)),
        ..StepState::zeros(b, c.cfg.units).unwrap()
    };
    st.h.assign(&c.h0);
    let m = c.mask.as_ref().map(|m| m.view());
    let y = if packed {
        cell::run_sequence(&c.cfg, &c.w, c.x.view(), m, &mut st)
    } else {
        cell::run_sequence_reference(&c.cfg, &c.w, c.x.view(), m, &mut st)
    }
    .unwrap();
    (y, st.h, st.hold)
}

fn cell_check(c: &Case, what: &str, tol: f32) -> f32 {
    let (y, h, hold) = cell_run(c, true);
    let (ry, rh, rhold) = cell_run(c, false);
    let three = |a: Array2<f32>| a.insert_axis(ndarray::Axis(1));
    let e = rel_err(&y, &ry)
        .max(rel_err(&three(h), &three(rh)))
        .max(rel_err(&three(hold), &three(rhold)));
    assert!(e <= tol, "{what}: {e:e}; cfg {:?}", c.cfg);
    e
}

/// GRU (both forms) and SimpleRNN: random configurations (every activation in both slots,
/// masks, go_backwards, initial states, non-finite inputs, units and batches around the
/// vector widths and row blocks) on every CPU path, against the per-step reference.
fn packed_gru_and_simple_rnn_equal_the_reference_on_every_path() {
    let units = [1, 3, 7, 8, 15, 16, 17, 31, 33, 48, 65];
    let batches = [1, 2, 3, 5, 6, 7, 13];
    for (p, path) in cpu_paths().into_iter().enumerate() {
        let mut r = rng(0x6e0 + p as u64);
        let mut worst = 0.0f32;
        for i in 0..60 {
            let cell = CELLS[i % 3];
            let u = units[(i / 3) % units.len()];
            let b = batches[(i / 2) % batches.len()];
            let t = r.random_range(1..=9);
            let d = r.random_range(1..=19);
            let mut cfg = random_config(&mut r, u);
            if i % 4 == 0 {
                cfg.activation = Activation::Tanh;
                cfg.recurrent_activation = Activation::Sigmoid;
            }
            let c = cell_case(&mut r, cfg, cell, b, t, d);
            let what = format!("{path:?} {cell:?} case {i} (B={b} T={t} D={d} U={u})");
            worst =
                worst.max(cpu_kernels::with_options(path, || cell_check(&c, &what, 1e-5)).unwrap());
        }
        eprintln!("{path:?}: worst relative difference {worst:.2e}");
    }
}

/// With tanh / sigmoid and finite values the packed GRU and SimpleRNN run the vector cell,
/// within 1e-6 of the reference's scalar fast path (only the dot products' order differs).
fn gru_and_simple_rnn_default_activations_take_the_vector_path() {
    for path in cpu_paths() {
        let mut r = rng(78);
        for cell in CELLS {
            for (b, t, d, u) in [
                (1, 1, 64, 256),
                (1, 30, 32, 128),
                (9, 12, 20, 40),
                (32, 5, 8, 70),
            ] {
                let cfg = LstmConfig {
                    return_sequences: true,
                    ..LstmConfig::new(u)
                };
                let mut c = cell_case(&mut r, cfg, cell, b, t, d);
                c.x.mapv_inplace(|v| if v.is_finite() { v } else { 0.5 });
                let what = format!("{path:?} {cell:?} ({b},{t},{d},{u})");
                cpu_kernels::with_options(path, || cell_check(&c, &what, 1e-6)).unwrap();
            }
        }
    }
}

/// On each ISA a GRU or SimpleRNN call gives the same bits with 1, 2 or 3 threads (tile
/// mode, row mode), and a stateful call split in two gives the state of one call.
fn gru_and_simple_rnn_do_not_depend_on_the_team_or_the_split() {
    let mut r = rng(12);
    for isa in cpu_kernels::Isa::available() {
        for cell in CELLS {
            for (b, t, d, u) in [(1, 7, 5, 40), (5, 6, 9, 33), (7, 9, 4, 17), (13, 5, 8, 70)] {
                let cfg = LstmConfig {
                    return_sequences: true,
                    ..LstmConfig::new(u)
                };
                let mut c = cell_case(&mut r, cfg, cell, b, t, d);
                c.x.mapv_inplace(|v| if v.is_finite() { v } else { 0.5 });
                let run = |threads: usize, x: ndarray::ArrayView3<'_, f32>, st: &mut StepState| {
                    let o = KernelOptions {
                        isa: Some(isa),
                        threads: Some(threads),
                        chunk_steps: None,
                    };
                    cpu_kernels::with_options(o, || {
                        cell::run_sequence(&c.cfg, &c.w, x, None, st).unwrap()
                    })
                    .unwrap()
                };
                let fresh = || {
                    let mut st = StepState {
                        c: Array2::zeros((b, 0)),
                        ..StepState::zeros(b, u).unwrap()
                    };
                    st.h.assign(&c.h0);
                    st
                };
                let mut st1 = fresh();
                let one = run(1, c.x.view(), &mut st1);
                for threads in [2, 3] {
                    let mut st = fresh();
                    let y = run(threads, c.x.view(), &mut st);
                    assert_eq!(
                        y, one,
                        "{isa:?} {cell:?} ({b},{t},{d},{u}) {threads} threads"
                    );
                    assert_eq!(st.h, st1.h, "{isa:?} {cell:?} {threads} threads");
                }
                let mut st = fresh();
                let cut = t / 2;
                run(1, c.x.slice(ndarray::s![.., ..cut, ..]), &mut st);
                run(2, c.x.slice(ndarray::s![.., cut.., ..]), &mut st);
                assert_eq!(st.h, st1.h, "{isa:?} {cell:?} ({b},{t},{d},{u}) split");
            }
        }
    }
}

/// A warm GRU (either form) or SimpleRNN packs once, then neither single steps nor
/// repeated sequence calls pack or grow a buffer, on any path.
fn a_warm_gru_or_simple_rnn_packs_and_allocates_nothing() {
    for path in cpu_paths() {
        for cell in CELLS {
            cpu_kernels::with_options(path, || {
                let mut r = rng(3);
                let c = cell_case(&mut r, LstmConfig::new(40), cell, 7, 9, 6);
                let run = |b: usize, t: usize| {
                    let mut st = StepState {
                        c: Array2::zeros((b, 0)),
                        ..StepState::zeros(b, 40).unwrap()
                    };
                    let x = Array3::<f32>::from_elem((b, t, 6), 0.3);
                    cell::run_sequence(&c.cfg, &c.w, x.view(), None, &mut st).unwrap();
                };
                let before = cpu_kernels::thread_stats();
                run(7, 9);
                assert_eq!(
                    cpu_kernels::thread_stats().packs - before.packs,
                    1,
                    "{path:?} {cell:?}: one packing"
                );
                let warm = cpu_kernels::thread_stats();
                for _ in 0..5 {
                    run(7, 9);
                    run(3, 4);
                    run(1, 1);
                }
                assert_eq!(cpu_kernels::thread_stats(), warm, "{path:?} {cell:?}");
            })
            .unwrap();
        }
    }
}
