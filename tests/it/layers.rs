//! Layer kinds one by one, on every executor: each plan's outputs equal the CPU executor's
//! (the CPU's own numbers are checked against Keras by the zoo and fixture suites, and
//! against their formulas here). `check_plan` is what each layer group's tests use.

use ndarray::{ArrayD, IxDyn};
use rand::Rng;
use wgpu_lstm::Device;
use wgpu_lstm::layers::activation_layer::LayerActivation;
use wgpu_lstm::layers::{ActivationLayer, Dense, Layer};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::tensor::TensorInfo;
use wgpu_lstm::{Activation, KerasFlavour, Precision};

use crate::common::{Exec, assert_no_gpu_errors, max_abs, random, rng};

/// Runs `plan` on `ex` and on the CPU with the same inputs; every output must agree within
/// the executor's tolerance (relative to max(1, |cpu|)). Returns the CPU outputs.
pub fn check_plan(ex: &Exec, plan: &Plan, inputs: &[ModelInput<'_>]) -> Vec<ArrayD<f32>> {
    let mut cpu = Model::from_plan(plan.clone(), &Device::Cpu).unwrap();
    let want = cpu.run(inputs, &Default::default()).unwrap();
    if *ex == Exec::Cpu {
        return want;
    }
    let mut m =
        Model::from_plan_with_precision(plan.clone(), &ex.device(), Precision::F32).unwrap();
    let got = m.run(inputs, &ex.options()).unwrap();
    assert_eq!(got.len(), want.len());
    for (i, (g, w)) in got.iter().zip(&want).enumerate() {
        assert_eq!(g.shape(), w.shape(), "output {i}");
        let scale = w.iter().fold(1.0f32, |m, v| m.max(v.abs()));
        let e = max_abs(g, w) / scale;
        assert!(
            e <= ex.tolerance(),
            "{}: output {i} of `{}` differs by {e:e}",
            ex.name(),
            plan.name
        );
    }
    if let Device::Gpu(ctx) = ex.device() {
        assert_no_gpu_errors(&ctx);
    }
    want
}

/// A plan of one layer on one input.
pub fn one_layer(name: &str, input: TensorInfo, layer: Layer) -> Plan {
    Plan::sequential(
        name,
        KerasFlavour::Keras3,
        input,
        vec![(name.into(), layer)],
    )
    .unwrap()
}

/// Activation layers (element-wise, softmax, log-softmax) and Dense with softmax heads, on
/// odd shapes: equal on every executor, and the CPU equals the formulas.
fn activations_and_softmax_heads(ex: &Exec) {
    let mut r = rng(31);
    for (shape, act) in [
        (vec![2, 5, 7], LayerActivation::Softmax),
        (vec![3, 1, 1], LayerActivation::Softmax),
        (vec![4, 300], LayerActivation::LogSoftmax),
        (
            vec![2, 3, 4],
            LayerActivation::Elementwise(Activation::Gelu),
        ),
        (vec![1, 2, 3, 5], LayerActivation::Softmax),
    ] {
        let x = random(&mut r, IxDyn(&shape), 4.0);
        let info = TensorInfo::f32(shape[1..].iter().map(|&d| Some(d)).collect());
        let plan = one_layer(
            "activation",
            info,
            Layer::Activation(ActivationLayer { activation: act }),
        );
        let y = check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
        // the formula, row by row over the last axis
        let c = *shape.last().unwrap();
        for (xr, yr) in x
            .as_slice()
            .unwrap()
            .chunks(c)
            .zip(y[0].as_slice().unwrap().chunks(c))
        {
            let m = xr.iter().copied().fold(f32::MIN, f32::max);
            let s: f64 = xr.iter().map(|&v| ((v - m) as f64).exp()).sum();
            for (&xv, &yv) in xr.iter().zip(yr) {
                let want = match act {
                    LayerActivation::Softmax => (((xv - m) as f64).exp() / s) as f32,
                    LayerActivation::LogSoftmax => ((xv - m) as f64 - s.ln()) as f32,
                    LayerActivation::Elementwise(a) => a.apply(xv),
                    other => unreachable!("{other} is not among the cases"),
                };
                assert!(
                    (yv - want).abs() <= 1e-6 * want.abs().max(1.0),
                    "{act}: {yv} vs {want}"
                );
            }
        }
    }
    // Dense heads with softmax / log-softmax on a sequence and on a vector
    for (shape, act) in [
        (vec![3, 4, 6], LayerActivation::Softmax),
        (vec![5, 6], LayerActivation::LogSoftmax),
    ] {
        let x = random(&mut r, IxDyn(&shape), 1.0);
        let units = r.random_range(2..9);
        let dense = Dense::new(
            random(&mut r, ndarray::Ix2(6, units), 1.0),
            Some(random(&mut r, ndarray::Ix1(units), 1.0)),
            act,
        )
        .unwrap();
        let info = TensorInfo::f32(shape[1..].iter().map(|&d| Some(d)).collect());
        let plan = one_layer("dense", info, Layer::Dense(dense));
        let y = check_plan(ex, &plan, &[ModelInput::f32(x.view())]);
        if act == LayerActivation::Softmax {
            for row in y[0].as_slice().unwrap().chunks(units) {
                let s: f32 = row.iter().sum();
                assert!((s - 1.0).abs() < 1e-5, "softmax row sums to {s}");
            }
        }
    }
}

/// This module's tests, for the harness in main.rs.
/// An encoder-decoder graph: the decoder LSTM starts from the encoder's (h, c) — tensors of
/// the graph, not the caller's — and from (h, c) given as model inputs; masked and not,
/// odd sizes, go_backwards. Every output (sequences, h, c) equals the CPU's.
fn lstm_initial_state_from_graph_tensors(ex: &Exec) {
    use wgpu_lstm::layers::Recurrent;
    use wgpu_lstm::{LstmConfig, LstmWeights};
    let mut r = rng(47);
    for (b, t1, t2, d1, d2, u, backwards) in [
        (2, 6, 5, 4, 7, 6, false),
        (3, 1, 9, 1, 2, 5, true),
        (1, 4, 3, 3, 3, 33, false),
    ] {
        let enc_cfg = LstmConfig {
            return_state: true,
            ..LstmConfig::new(u)
        };
        let dec_cfg = LstmConfig {
            return_state: true,
            return_sequences: true,
            go_backwards: backwards,
            ..LstmConfig::new(u)
        };
        let enc = Recurrent::lstm(
            enc_cfg.clone(),
            LstmWeights::keras_default(d1, &enc_cfg, r.random()).unwrap(),
        )
        .unwrap();
        let dec = Recurrent::lstm(
            dec_cfg.clone(),
            LstmWeights::keras_default(d2, &dec_cfg, r.random()).unwrap(),
        )
        .unwrap();
        // encoder states feed the decoder; the two sequences differ in length
        let mut pb = Plan::builder("seq2seq", KerasFlavour::Keras3);
        let ex_in = pb.input("enc", TensorInfo::f32(vec![Some(t1), Some(d1)]));
        let dx_in = pb.input("dec", TensorInfo::f32(vec![Some(t2), Some(d2)]));
        let e = pb.node("encoder", Layer::Recurrent(enc), &[ex_in]).unwrap();
        let dnode = Layer::Recurrent(dec.clone());
        let d = pb.node("decoder", dnode, &[dx_in, e[1], e[2]]).unwrap();
        let plan = pb.finish(vec![e[0], e[1], e[2], d[0], d[1], d[2]]).unwrap();
        let xe = random(&mut r, IxDyn(&[b, t1, d1]), 1.0);
        let xd = random(&mut r, IxDyn(&[b, t2, d2]), 1.0);
        check_plan(
            ex,
            &plan,
            &[ModelInput::f32(xe.view()), ModelInput::f32(xd.view())],
        );
        // (h, c) as model inputs
        let mut pb = Plan::builder("given", KerasFlavour::Keras3);
        let x = pb.input("x", TensorInfo::f32(vec![Some(t2), Some(d2)]));
        let h = pb.input("h", TensorInfo::f32(vec![Some(u)]));
        let c = pb.input("c", TensorInfo::f32(vec![Some(u)]));
        let d = pb
            .node("decoder", Layer::Recurrent(dec), &[x, h, c])
            .unwrap();
        let plan = pb.finish(d).unwrap();
        let h0 = random(&mut r, IxDyn(&[b, u]), 1.0);
        let c0 = random(&mut r, IxDyn(&[b, u]), 1.0);
        let mask = crate::common::random_mask(&mut r, b, t2);
        let y = check_plan(
            ex,
            &plan,
            &[
                ModelInput::f32(xd.view()).with_mask(mask.view()),
                ModelInput::f32(h0.view()),
                ModelInput::f32(c0.view()),
            ],
        );
        assert_eq!(y.len(), 3);
    }
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    let mut v = crate::common::suite_of(
        "layers::activations_and_softmax_heads",
        &[
            Exec::Cpu,
            Exec::Gpu(wgpu_lstm::gpu::KernelChoice::Auto, Precision::F32),
        ],
        activations_and_softmax_heads,
    );
    v.extend(crate::common::suite(
        "layers::lstm_initial_state_from_graph_tensors",
        lstm_initial_state_from_graph_tensors,
    ));
    v
}
