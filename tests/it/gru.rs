//! GRU and SimpleRNN beyond the Keras fixtures: stateful streaming on the GPU equals the CPU
//! step for step (state kept on the GPU between calls, per-row reset / read / write for
//! serving), for every recurrent kernel; `return_state` and `initial_state` through the
//! layer API with the h-only state.

use ndarray::{Array2, s};
use wgpu_lstm::model::Model;
use wgpu_lstm::{CellKind, Device, LstmConfig, LstmInput, LstmState, LstmWeights, Precision};

use crate::common::{Exec, max_abs, random3, rng};

/// The recurrent cells other than the LSTM.
fn cells() -> [CellKind; 3] {
    [
        CellKind::Gru { reset_after: true },
        CellKind::Gru { reset_after: false },
        CellKind::SimpleRnn,
    ]
}

fn close(a: &Array2<f32>, b: &Array2<f32>, tol: f32, what: &str) {
    assert_eq!(a.dim(), b.dim(), "{what}: shapes");
    let e = max_abs(&a.clone().into_dyn(), &b.clone().into_dyn());
    assert!(e <= tol, "{what}: max |Δ| = {e:e} > {tol:e}");
}

/// A stateful layer of each cell streamed on `ex` and on the CPU, with one-step and longer
/// calls, a mask, a full reset, a row reset and a row migrated with `set_row_state`: every
/// output and every state read back agree within the executor's tolerance.
fn stateful_streaming_equals_the_cpu_step_for_step(ex: &Exec) {
    for cell in cells() {
        let cfg = LstmConfig {
            cell,
            stateful: true,
            return_sequences: true,
            ..LstmConfig::new(5)
        };
        let mut w = LstmWeights::keras_default(3, &cfg, 11).unwrap();
        if let Some(b) = w.bias.as_mut() {
            // non-zero biases (both rows of a reset_after GRU's)
            b.iter_mut()
                .enumerate()
                .for_each(|(i, v)| *v = (i as f32 * 0.37).sin() * 0.3);
        }
        let mut gpu = wgpu_lstm::Lstm::on_device_with_precision(
            cfg.clone(),
            w.clone(),
            &ex.device(),
            ex.precision(),
        )
        .unwrap();
        gpu.set_options(ex.options());
        let cpu_w = if ex.precision() == Precision::F16Weights {
            w.with_f16_recurrent_kernel()
        } else {
            w
        };
        let mut cpu = wgpu_lstm::Lstm::on_device(cfg.clone(), cpu_w, &Device::Cpu).unwrap();
        let tol = ex.tolerance();
        let mut r = rng(7);
        let mut saved = None;
        for step in 0..16 {
            let what = format!("{} step {step}", cfg.class_name());
            if step == 6 {
                gpu.reset_states().unwrap();
                cpu.reset_states().unwrap();
            }
            if step == 9 {
                gpu.reset_rows(&[1]).unwrap();
                cpu.reset_rows(&[1]).unwrap();
                saved = Some(cpu.row_state(0).unwrap());
            }
            if step == 12 {
                let st: LstmState = saved.clone().unwrap();
                assert_eq!(st.c.dim(), (1, 0), "{what}: no c");
                gpu.set_row_state(2, &st).unwrap();
                cpu.set_row_state(2, &st).unwrap();
            }
            let t = [1, 3, 1, 2][step % 4];
            let x = random3(&mut r, 3, t, 3, 1.0);
            let mask = Array2::from_shape_fn((3, t), |(b, k)| (b + k + step) % 3 != 0);
            let input = || {
                let i = LstmInput::new(x.view());
                if step % 2 == 1 {
                    i.mask(mask.view())
                } else {
                    i
                }
            };
            let yg = gpu.call(input()).unwrap().output;
            let yc = cpu.call(input()).unwrap().output;
            let e = max_abs(&yg, &yc);
            assert!(e <= tol, "{what}: output max |Δ| = {e:e} > {tol:e}");
            let (sg, sc) = (
                gpu.states().unwrap().unwrap(),
                cpu.states().unwrap().unwrap(),
            );
            close(&sg.h, &sc.h, tol, &format!("{what}: state h"));
            assert_eq!(sg.c.dim(), (3, 0), "{what}: a GPU state without c");
            for row in 0..3 {
                close(
                    &gpu.row_state(row).unwrap().h,
                    &sc.h.slice(s![row..row + 1, ..]).to_owned(),
                    tol,
                    &format!("{what}: row {row}"),
                );
            }
        }
    }
}

/// The zoo's stateful GRU model (Keras 3 and tf_keras files) streamed one step at a time
/// on `ex` equals the CPU streamed the same way, and the same call on the whole sequence.
fn zoo_stateful_gru_model_streams_like_the_cpu(ex: &Exec) {
    for case in [
        "stateful_gru_stream__k3_keras",
        "stateful_gru_stream__k2_h5",
    ] {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/zoo");
        let file = std::fs::read_dir(dir.join(case))
            .unwrap()
            .map(|e| e.unwrap().path())
            .find(|p| p.extension().is_some_and(|e| e == "keras" || e == "h5"))
            .unwrap();
        let mut gpu = Model::load(&file, &ex.device()).unwrap();
        gpu.set_options(ex.options());
        let mut cpu = Model::load(&file, &Device::Cpu).unwrap();
        let mut r = rng(5);
        let x = random3(&mut r, 2, 9, 3, 1.0);
        for t in 0..9 {
            let xt = x.slice(s![.., t..t + 1, ..]);
            let yg = gpu.predict(xt).unwrap().swap_remove(0);
            let yc = cpu.predict(xt).unwrap().swap_remove(0);
            let e = max_abs(&yg, &yc);
            assert!(e <= ex.tolerance(), "{case} step {t}: max |Δ| = {e:e}");
            let (sg, sc) = (gpu.states().unwrap(), cpu.states().unwrap());
            for (g, c) in sg.iter().zip(&sc) {
                let (g, c) = (g.as_ref().unwrap(), c.as_ref().unwrap());
                close(
                    &g.h,
                    &c.h,
                    ex.tolerance(),
                    &format!("{case} step {t}: state"),
                );
            }
        }
    }
}

/// `initial_state` (h alone) and `return_state` (h alone) through the layer API, on every
/// executor, for each cell, equal the CPU's; an LSTM given h alone is refused.
fn initial_and_returned_state_are_h_alone(ex: &Exec) {
    for cell in cells() {
        let cfg = LstmConfig {
            cell,
            return_state: true,
            go_backwards: true,
            ..LstmConfig::new(4)
        };
        let w = LstmWeights::keras_default(2, &cfg, 3).unwrap();
        let w = if ex.precision() == Precision::F16Weights {
            w.with_f16_recurrent_kernel()
        } else {
            w
        };
        let mut l = wgpu_lstm::Lstm::on_device(cfg.clone(), w.clone(), &ex.device()).unwrap();
        l.set_options(ex.options());
        let mut c = wgpu_lstm::Lstm::on_device(cfg.clone(), w, &Device::Cpu).unwrap();
        let x = random3(&mut rng(1), 2, 5, 2, 1.0);
        let h0 = Array2::from_shape_fn((2, 4), |(b, j)| (b as f32 - j as f32) * 0.2);
        let a = l
            .call(LstmInput::new(x.view()).initial_h(h0.view()))
            .unwrap();
        let b = c
            .call(LstmInput::new(x.view()).initial_h(h0.view()))
            .unwrap();
        assert!(
            a.c.is_none() && b.c.is_none(),
            "{}: no c returned",
            cfg.class_name()
        );
        close(
            &a.h.unwrap(),
            &b.h.unwrap(),
            ex.tolerance(),
            cfg.class_name(),
        );
        assert!(max_abs(&a.output, &b.output) <= ex.tolerance());
    }
    let lstm = LstmConfig::new(2);
    let mut l = wgpu_lstm::Lstm::with_default_weights(lstm, 1, 0).unwrap();
    let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    let h = Array2::<f32>::zeros((1, 2));
    assert!(
        l.call(LstmInput::new(x.view()).initial_h(h.view()))
            .is_err()
    );
}

/// Sizes that change the GPU's schedule, for each cell on `ex`, against the CPU: a call
/// longer than one persistent dispatch may loop (3 300 steps: two chunks, three for a
/// reset_after=False GRU, whose step loops twice as much), and 300 units (past the
/// persistent kernel's 256: per-step kernels whatever the choice), masked, backwards.
fn long_calls_and_wide_layers_equal_the_cpu(ex: &Exec) {
    for cell in cells() {
        for (b, t, u, long) in [(2, 3300, 5, true), (2, 4, 300, false)] {
            let cfg = LstmConfig {
                cell,
                return_sequences: true,
                go_backwards: !long,
                ..LstmConfig::new(u)
            };
            let w = LstmWeights::keras_default(3, &cfg, 2).unwrap();
            let w = if ex.precision() == Precision::F16Weights {
                w.with_f16_recurrent_kernel()
            } else {
                w
            };
            let mut g = wgpu_lstm::Lstm::on_device_with_precision(
                cfg.clone(),
                w.clone(),
                &ex.device(),
                ex.precision(),
            )
            .unwrap();
            g.set_options(ex.options());
            let mut c = wgpu_lstm::Lstm::on_device(cfg.clone(), w, &Device::Cpu).unwrap();
            let x = random3(&mut rng(4), b, t, 3, 1.0);
            let mask = Array2::from_shape_fn((b, t), |(r, k)| (r + 2 * k) % 5 != 0);
            let input = || LstmInput::new(x.view()).mask(mask.view());
            let (yg, yc) = (g.call(input()).unwrap(), c.call(input()).unwrap());
            // rounding differences of 3 300 steps add up a little
            let tol = if long { 10.0 } else { 1.0 } * ex.tolerance();
            let e = max_abs(&yg.output, &yc.output);
            assert!(
                e <= tol,
                "{} B={b} T={t} U={u}: max |Δ| = {e:e} > {tol:e}",
                cfg.class_name()
            );
        }
    }
}

/// The bench runs a GRU and a SimpleRNN (`--cell`) on `ex`: the layer it builds is of that
/// cell, streaming (stateful) and sequence shapes alike.
fn bench_runs_every_cell(ex: &Exec) {
    use wgpu_lstm::bench::{BenchCase, BenchCell, BenchConfig};
    for cell in [BenchCell::Gru, BenchCell::SimpleRnn] {
        for shape in [
            BenchConfig::new("s", 2, 5, 3, 4),
            BenchConfig::new("st", 2, 1, 3, 4),
        ] {
            let cfg = shape.with_cell(cell);
            let mut case =
                BenchCase::with_precision(&cfg, &ex.device(), 1, ex.precision()).unwrap();
            assert_eq!(case.layer().config().cell, cell.kind());
            for _ in 0..2 {
                case.forward().unwrap();
            }
        }
    }
}

/// `describe` explains GRU(N) and SimpleRNN(N) as LSTM(N): Keras's parameter counts
/// (GRU(4) on 3 features: 108 with reset_after=True, 96 without; SimpleRNN(4): 32), every
/// weight's shape, the per-step equations, the h-only state.
fn describe_explains_gru_and_simple_rnn() {
    use wgpu_lstm::describe::describe_layer;
    let ra = describe_layer(&LstmConfig::gru(4), 3, None, None).unwrap();
    for want in [
        "GRU(4) on 3 input features",
        "kernel            (3, 12)",
        "recurrent_kernel  (4, 12)",
        "bias              (2, 12)",
        "parameters: 108",
        "h~  = act(xg[8:12] + r * hg[8:12])",
        "h_t = z * h_(t-1) + (1 - z) * h~",
        "optional initial_state [h (B, 4)]",
    ] {
        assert!(ra.contains(want), "missing {want:?} in\n{ra}");
    }
    let rb = LstmConfig {
        cell: CellKind::Gru { reset_after: false },
        stateful: true,
        ..LstmConfig::new(4)
    };
    let rb = describe_layer(&rb, 3, Some(2), Some(5)).unwrap();
    assert!(rb.contains("parameters: 96") && rb.contains("bias              (12)"));
    assert!(rb.contains("(r * h_(t-1))·recurrent_kernel[:, 8:12]"));
    assert!(rb.contains("stateful=True: h (2, 4) is kept"));
    let sr = describe_layer(&LstmConfig::simple_rnn(4), 3, None, None).unwrap();
    assert!(sr.contains("SimpleRNN(4)") && sr.contains("parameters: 32"));
    assert!(sr.contains("h_t = act(x_t·kernel + h_(t-1)·recurrent_kernel + bias)"));
}

/// `wgpu-lstm describe --units 4 --input-dim 3 --cell gru|simple_rnn [--no-reset-after]`
/// prints Keras's counts; an unknown cell is a typed error (exit 2).
fn cli_describes_gru_and_simple_rnn() {
    let run = |args: &[&str]| {
        std::process::Command::new(env!("CARGO_BIN_EXE_wgpu-lstm"))
            .args(["describe", "--units", "4", "--input-dim", "3"])
            .args(args)
            .output()
            .unwrap()
    };
    for (args, want) in [
        (&["--cell", "gru"][..], "parameters: 108"),
        (&["--cell", "gru", "--no-reset-after"][..], "parameters: 96"),
        (&["--cell", "simple_rnn"][..], "parameters: 32"),
        (&[][..], "parameters: 128"),
    ] {
        let out = run(args);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains(want),
            "{args:?}: {text}"
        );
    }
    let bad = run(&["--cell", "lstm2"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("cell"));
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let mut v = vec![
        crate::common::test(
            "gru::describe_explains_gru_and_simple_rnn",
            describe_explains_gru_and_simple_rnn,
        ),
        crate::common::test(
            "gru::cli_describes_gru_and_simple_rnn",
            cli_describes_gru_and_simple_rnn,
        ),
    ];
    v.extend(crate::common::suite(
        "gru::stateful_streaming_equals_the_cpu_step_for_step",
        stateful_streaming_equals_the_cpu_step_for_step,
    ));
    v.extend(crate::common::suite(
        "gru::zoo_stateful_gru_model_streams_like_the_cpu",
        zoo_stateful_gru_model_streams_like_the_cpu,
    ));
    v.extend(crate::common::suite(
        "gru::long_calls_and_wide_layers_equal_the_cpu",
        long_calls_and_wide_layers_equal_the_cpu,
    ));
    v.extend(crate::common::suite(
        "gru::bench_runs_every_cell",
        bench_runs_every_cell,
    ));
    v.extend(crate::common::suite(
        "gru::initial_and_returned_state_are_h_alone",
        initial_and_returned_state_are_h_alone,
    ));
    v
}
