//! GPU vs CPU on fresh random configurations: odd sizes, random masks with fully masked and
//! leading-masked rows, large-magnitude inputs, every activation in both slots. The GPU's
//! output buffers are poisoned with NaN before each run, so an element the kernels fail to
//! write fails the comparison.

use ndarray::ArrayD;
use rand::Rng;
use wgpu_lstm::{Activation, Device, Lstm, LstmConfig, LstmInput, LstmWeights};

use wgpu_lstm::gpu::{CallOptions, KernelChoice};

use crate::common::{
    Exec, assert_no_gpu_errors, gpu, random, random_config, random_mask, random3, rng,
};

/// The test options: every output and scratch buffer poisoned with NaN first.
fn poisoned(kernel: KernelChoice) -> CallOptions {
    CallOptions {
        kernel,
        poison: true,
        ..CallOptions::default()
    }
}

/// Max error relative to max(1, |cpu|): activations such as linear/relu/exponential let
/// values grow far beyond 1 with large inputs, where f32 itself has an absolute resolution
/// coarser than 1e-4. For |value| ≤ 1 this is the plain 1e-4 absolute tolerance. NaN must
/// agree in place; values past 1e30 (where unbounded gate activations overflow f32 after a
/// few dozen steps, one side a step before the other) must overflow on both sides, same sign.
fn rel_err(gpu: &ArrayD<f32>, cpu: &ArrayD<f32>) -> f32 {
    assert_eq!(gpu.shape(), cpu.shape());
    let huge = |v: f32| v.is_infinite() || v.abs() > 1e30;
    gpu.iter().zip(cpu.iter()).fold(0.0f32, |m, (g, c)| {
        let same = g == c || (g.is_nan() && c.is_nan());
        let both_overflowed = huge(*g) && huge(*c) && g.signum() == c.signum();
        if same || both_overflowed {
            m
        } else {
            let e = (g - c).abs() / c.abs().max(1.0);
            if e.is_nan() { f32::INFINITY } else { m.max(e) }
        }
    })
}

struct Shape {
    units: usize,
    dim: usize,
    batch: usize,
    steps: usize,
}

/// Gate activations whose range is [0, 1]: the recurrence is contractive in c. With any other
/// recurrent activation (relu, gelu, linear, …) a forget "gate" above 1 makes c grow
/// geometrically and amplifies every rounding difference step after step (measured: GPU and
/// CPU drift 1.7e-4 apart by step 3 at values near 150 with gelu gates), so such cases are
/// kept to 6 steps with smaller weights, like the Keras fixtures for them (T = 6).
fn contractive(a: Activation) -> bool {
    matches!(
        a,
        Activation::Sigmoid
            | Activation::HardSigmoid
            | Activation::HardSigmoidKeras2
            | Activation::SparseSigmoid
    )
}

fn run_case(
    ctx: &std::sync::Arc<wgpu_lstm::gpu::GpuContext>,
    opts: &CallOptions,
    seed: u64,
    mut s: Shape,
    cfg: LstmConfig,
) {
    let mut r = rng(seed);
    if !contractive(cfg.recurrent_activation) {
        s.steps = s.steps.min(6);
    }
    let bounded = [cfg.activation, cfg.recurrent_activation].contains(&Activation::Exponential);
    let wscale = if bounded {
        0.1
    } else if contractive(cfg.recurrent_activation) {
        0.6
    } else {
        0.3
    };
    let w = LstmWeights::new(
        random(
            &mut r,
            ndarray::Ix2(s.dim, 4 * s.units),
            wscale / (s.dim as f32).sqrt().max(1.0),
        ),
        random(
            &mut r,
            ndarray::Ix2(s.units, 4 * s.units),
            wscale / (s.units as f32).sqrt().max(1.0),
        ),
        cfg.use_bias
            .then(|| random(&mut r, ndarray::Ix1(4 * s.units), wscale)),
    )
    .unwrap();
    // Large-magnitude inputs (±1000) go to layers whose activations saturate: that is where
    // they test something (tanh/exp clamps, no NaN from inf/inf). Through unbounded activations
    // (linear, relu, gelu, …) values of 1e5 are formed by sums that cancel, and two f32
    // implementations that sum in a different order legitimately differ by more than 1e-4
    // relative there (measured 1.2e-4 and 1.8e-4 on gelu/celu and gelu/sparse_plus).
    let saturating = |a: Activation| {
        contractive(a)
            || matches!(
                a,
                Activation::Tanh | Activation::Softsign | Activation::HardTanh | Activation::Relu6
            )
    };
    let big_ok = saturating(cfg.activation) && contractive(cfg.recurrent_activation);
    let xscale = if bounded {
        1.0
    } else if big_ok && r.random_bool(0.5) {
        1000.0
    } else {
        2.0
    };
    let x = random3(&mut r, s.batch, s.steps, s.dim, xscale);
    let mask = r
        .random_bool(0.6)
        .then(|| random_mask(&mut r, s.batch, s.steps));
    let init = r.random_bool(0.3).then(|| {
        (
            random(&mut r, ndarray::Ix2(s.batch, s.units), 1.0),
            random(&mut r, ndarray::Ix2(s.batch, s.units), 1.0),
        )
    });
    let mut input = LstmInput::new(x.view());
    if let Some(m) = &mask {
        input = input.mask(m.view());
    }
    if let Some((h, c)) = &init {
        input = input.initial_state(h.view(), c.view());
    }
    let mut on_cpu = Lstm::new(cfg.clone(), w.clone()).unwrap();
    let mut on_gpu = Lstm::on_device(cfg.clone(), w, &Device::Gpu(ctx.clone())).unwrap();
    on_gpu.set_options(*opts);
    // the reference on every CPU kernel path in turn (ISAs, team sizes, chunks)
    let want = crate::common::on_cpu_path(seed as usize, || on_cpu.call(input.clone()).unwrap());
    let got = on_gpu.call(input).unwrap();
    let what = format!(
        "{:?} seed {seed}: U={} D={} B={} T={} act={} rec={} mask={} init={} xscale={xscale} cfg={cfg:?}",
        opts.kernel,
        s.units,
        s.dim,
        s.batch,
        s.steps,
        cfg.activation,
        cfg.recurrent_activation,
        mask.is_some(),
        init.is_some(),
    );
    let e = rel_err(&got.output, &want.output);
    assert!(e <= 1e-4, "output error {e}: {what}");
    if cfg.return_state {
        let eh = rel_err(&got.h.unwrap().into_dyn(), &want.h.unwrap().into_dyn());
        let ec = rel_err(&got.c.unwrap().into_dyn(), &want.c.unwrap().into_dyn());
        assert!(
            eh <= 1e-4 && ec <= 1e-4,
            "state error h {eh} c {ec}: {what}"
        );
    }
    assert_no_gpu_errors(ctx);
}

/// Random shapes within units 1–300, features 1–150, batch 1–20, timesteps 1–60, kept to a
/// work budget that lavapipe runs in seconds, on every GPU kernel variant (the CPU is the
/// reference). For the subgroup kernel, every k-split it can take on this adapter too.
fn random_configurations_match_the_cpu(ex: &Exec) {
    let Exec::Gpu(kernel, _) = *ex else { return };
    let ctx = gpu().expect("a GPU trial");
    let opts = poisoned(kernel);
    let seed = match kernel {
        KernelChoice::Auto => 0x5eed,
        KernelChoice::PerStep => 0xbeef,
        KernelChoice::PerStepSubgroup => 0x5b9,
        KernelChoice::Persistent => 0x9e75,
    };
    random_cases(&ctx, &opts, seed, 30);
    if kernel != KernelChoice::PerStepSubgroup {
        return;
    }
    let lanes = ctx.subgroup_lanes().expect("checked by the suite");
    assert!(lanes.is_power_of_two());
    // k-splits 1, 2, 4, … up to the lanes: batch × units from large to tiny
    let mut r = rng(3);
    for (u, b) in [(300, 64), (130, 90), (64, 100), (40, 20), (1, 1)] {
        let cfg = LstmConfig {
            return_sequences: true,
            return_state: true,
            ..random_config(&mut r, u)
        };
        let s = Shape {
            units: u,
            dim: 3,
            batch: b,
            steps: 2,
        };
        run_case(&ctx, &opts, r.random(), s, LstmConfig { units: u, ..cfg });
    }
}

fn random_cases(
    ctx: &std::sync::Arc<wgpu_lstm::gpu::GpuContext>,
    opts: &CallOptions,
    seed: u64,
    n: usize,
) {
    let mut r = rng(seed);
    let mut done = 0;
    while done < n {
        let s = Shape {
            units: r.random_range(1..=300),
            dim: r.random_range(1..=150),
            batch: r.random_range(1..=20),
            steps: r.random_range(1..=60),
        };
        // lavapipe budget: ~4·U²·B·T multiply-adds in the recurrence.
        if s.units * s.units * s.batch * s.steps > 3_000_000 {
            continue;
        }
        let seed = r.random();
        let cfg = random_config(&mut r, s.units);
        run_case(ctx, opts, seed, s, cfg);
        done += 1;
    }
}

/// Every activation in each slot at least once, including the extremes of the size ranges
/// and every k-split of the step kernel (1 … 32).
fn every_activation_in_both_slots() {
    let Some(ctx) = gpu() else { return };
    let opts = &poisoned(KernelChoice::Auto);
    let mut r = rng(77);
    for (i, a) in Activation::ALL.into_iter().enumerate() {
        let other = Activation::ALL[(i * 7 + 3) % Activation::ALL.len()];
        for (act, rec) in [(a, Activation::Sigmoid), (Activation::Tanh, a), (a, other)] {
            let cfg = LstmConfig {
                activation: act,
                recurrent_activation: rec,
                return_sequences: true,
                return_state: true,
                ..random_config(&mut r, 5)
            };
            let s = Shape {
                units: 5,
                dim: 3,
                batch: 3,
                steps: 7,
            };
            run_case(&ctx, opts, r.random(), s, LstmConfig { units: 5, ..cfg });
        }
    }
    for (u, d, b, t) in [
        (1, 1, 1, 1),
        (300, 1, 1, 3),
        (7, 150, 2, 5),
        (3, 2, 20, 60),
        (64, 33, 5, 9),
        // k-split 1 (B·U ≥ 16384) and 2 of the step kernel; the cases above cover 4 … 32
        (300, 1, 64, 2),
        (130, 2, 90, 2),
    ] {
        let cfg = LstmConfig {
            return_sequences: true,
            return_state: true,
            ..LstmConfig::new(u)
        };
        run_case(
            &ctx,
            opts,
            r.random(),
            Shape {
                units: u,
                dim: d,
                batch: b,
                steps: t,
            },
            cfg,
        );
    }
}

/// One call of a whole sequence is one queue submission with 1 + T dispatches.
fn one_sequence_costs_one_submit() {
    // A context of its own: the shared one counts other tests' work running in parallel.
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let cfg = LstmConfig {
        return_sequences: true,
        return_state: true,
        ..LstmConfig::new(8)
    };
    let mut l = Lstm::on_device(
        cfg.clone(),
        LstmWeights::keras_default(4, &cfg, 1).unwrap(),
        &Device::Gpu(ctx.clone()),
    )
    .unwrap();
    l.set_options(CallOptions {
        kernel: KernelChoice::PerStep,
        ..CallOptions::default()
    });
    let x = random3(&mut rng(5), 3, 17, 4, 1.0);
    l.forward(x.view()).unwrap();
    let before = ctx.stats();
    l.forward(x.view()).unwrap();
    let after = ctx.stats();
    assert_eq!(after.submits - before.submits, 1);
    assert_eq!(after.dispatches - before.dispatches, 1 + 17);
    // the persistent kernel: projection + one dispatch for all 17 steps
    l.set_options(CallOptions::default());
    l.forward(x.view()).unwrap();
    let persistent = ctx.stats();
    assert_eq!(persistent.submits - after.submits, 1);
    assert_eq!(persistent.dispatches - after.dispatches, 2);
    // read back only what was asked for: output (3·17·8) + h + c (3·8 each), in f32
    assert_eq!(
        after.bytes_read - before.bytes_read,
        4 * (3 * 17 * 8 + 2 * 3 * 8)
    );
    assert_no_gpu_errors(&ctx);
}

/// A call over the scratch budget is split over time and batch (forced here with tiny
/// budgets) and gives the same results as the CPU, masks, go_backwards, initial states and
/// stateful carry included.
fn split_calls_equal_unsplit_ones() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let (b, t, d, u) = (5, 9, 2, 3);
    let mut r = rng(31);
    // budget in row-steps of the projection (16·U bytes each): (rows, chunk) = (5, 2), (5, 1), (3, 1), (1, 1)
    for row_steps in [12u64, 7, 3, 1] {
        for (rseq, back, masked) in [
            (true, false, true),
            (true, true, true),
            (false, false, true),
            (false, true, false),
        ] {
            let cfg = LstmConfig {
                return_sequences: rseq,
                return_state: true,
                go_backwards: back,
                stateful: true,
                ..LstmConfig::new(u)
            };
            let w = LstmWeights::keras_default(d, &cfg, row_steps).unwrap();
            let mut cpu = Lstm::new(cfg.clone(), w.clone()).unwrap();
            let mut split = Lstm::on_device(cfg, w, &Device::Gpu(ctx.clone())).unwrap();
            // bytes per row-step: x (D), the output (U) and h/c states' outputs, the mask,
            // and the projection scratch (4U): enough for `row_steps` of them
            split.set_options(CallOptions {
                scratch_budget: row_steps * 4 * (d + 3 * u + 1 + 4 * u) as u64,
                poison: true,
                ..CallOptions::default()
            });
            for call in 0..2 {
                let x = random3(&mut r, b, t, d, 1.0);
                let mask = random_mask(&mut r, b, t);
                let h0 = random(&mut r, ndarray::Ix2(b, u), 0.5);
                let mut input = LstmInput::new(x.view());
                if masked {
                    input = input.mask(mask.view());
                }
                if call == 0 {
                    input = input.initial_state(h0.view(), h0.view());
                }
                let want = cpu.call(input.clone()).unwrap();
                let got = split.call(input).unwrap();
                let what = format!(
                    "row_steps {row_steps} rseq {rseq} back {back} mask {masked} call {call}"
                );
                assert!(
                    crate::common::max_abs(&got.output, &want.output) <= 1e-5,
                    "{what}"
                );
                assert!(
                    crate::common::max_abs(&got.h.unwrap().into_dyn(), &want.h.unwrap().into_dyn())
                        <= 1e-5,
                    "{what}"
                );
                assert!(
                    crate::common::max_abs(&got.c.unwrap().into_dyn(), &want.c.unwrap().into_dyn())
                        <= 1e-5,
                    "{what}"
                );
            }
        }
    }
    assert_no_gpu_errors(&ctx);
}

/// What cannot be split — one timestep of one row over the budget — is a typed error
/// naming the limit.
fn unsplittable_inputs_are_a_typed_error() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let cfg = LstmConfig::new(4);
    let mut l = Lstm::on_device(
        cfg.clone(),
        LstmWeights::keras_default(1, &cfg, 1).unwrap(),
        &Device::Gpu(ctx.clone()),
    )
    .unwrap();
    l.set_options(CallOptions {
        scratch_budget: 32,
        ..CallOptions::default()
    });
    let x = ndarray::Array3::<f32>::zeros((1, 3, 1));
    let e = l.forward(x.view()).unwrap_err();
    assert!(
        matches!(e, wgpu_lstm::Error::TooLarge { limit: 32, .. }),
        "{e}"
    );
    assert_no_gpu_errors(&ctx);
}

/// lavapipe silently stops shader loops after 65 535 iterations per invocation: on every
/// adapter the persistent kernel runs a sequence that would loop past the budget as several
/// dispatches of chunks of steps (carrying h, c and the hold in their buffers) — same
/// results as the CPU.
fn the_persistent_kernel_respects_the_loop_budget() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let cfg = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(200)
    };
    let w = LstmWeights::keras_default(2, &cfg, 3).unwrap();
    let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    g.set_options(poisoned(KernelChoice::Auto));
    let mut c = Lstm::new(cfg, w).unwrap();
    // enough steps that the loop iterations per invocation (dot-product slices + k-split
    // sum + 2 per step, for this device's workgroup size) pass the budget
    use wgpu_lstm::gpu::kernels::{sequence_ksplit, sequence_workgroup};
    let wg = sequence_workgroup(200, ctx.sequence_workgroup_size());
    let ks = sequence_ksplit(200, wg) as usize;
    let per_step = 200usize.div_ceil(ks) + ks + 2;
    let chunk = (wgpu_lstm::gpu::LOOP_BUDGET as usize - 16) / per_step;
    let steps = chunk + 20;
    let x = random3(&mut rng(8), 1, steps, 2, 1.0);
    let before = ctx.stats().dispatches;
    let y = g.forward(x.view()).unwrap().output;
    let dispatches = ctx.stats().dispatches - before;
    assert_eq!(dispatches, 1 + 2, "projection + two persistent chunks");
    assert_eq!(g.last_report().kernel, "persistent");
    assert_eq!(g.last_report().parts, 1);
    assert!(crate::common::max_abs(&y, &c.forward(x.view()).unwrap().output) <= 1e-4);
    // a shorter sequence of the same layer runs persistent
    let before = ctx.stats().dispatches;
    g.forward(x.slice(ndarray::s![.., ..100, ..])).unwrap();
    assert_eq!(ctx.stats().dispatches - before, 2);
    assert_no_gpu_errors(&ctx);
}

/// One layer whose kernel changes between calls (each kernel reads its own layout of the
/// recurrent kernel, uploaded on first use): every call equals the CPU, state carried.
fn one_layer_switching_kernels_between_calls_matches_the_cpu() {
    use wgpu_lstm::gpu::GpuContext;
    if gpu().is_none() {
        return;
    }
    let ctx = GpuContext::new().unwrap();
    let cfg = LstmConfig {
        stateful: true,
        return_sequences: true,
        ..LstmConfig::new(24)
    };
    let w = LstmWeights::keras_default(5, &cfg, 9).unwrap();
    let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    let mut c = Lstm::new(cfg, w).unwrap();
    let mut r = rng(12);
    for choice in [
        KernelChoice::PerStepSubgroup,
        KernelChoice::PerStep,
        KernelChoice::Persistent,
        KernelChoice::PerStepSubgroup,
        KernelChoice::Auto,
    ] {
        g.set_options(poisoned(choice));
        let x = random3(&mut r, 3, 4, 5, 1.0);
        let got = g.forward(x.view()).unwrap().output;
        let want = c.forward(x.view()).unwrap().output;
        assert!(
            crate::common::max_abs(&got, &want) <= 1e-5,
            "{choice:?}: {}",
            crate::common::max_abs(&got, &want)
        );
    }
    assert_no_gpu_errors(&ctx);
}

/// On a device with a tiny dispatch limit (3 workgroups per dimension, requested on
/// purpose) and default limits otherwise (256 invocations, 16 KiB of workgroup memory), a
/// layer and a model split their calls so that no dispatch exceeds the limit, and equal the
/// CPU; the persistent kernel runs with 256-invocation workgroups there.
fn calls_respect_a_small_dispatch_limit() {
    let Some(ctx) = crate::common::small_dispatch_limit_gpu() else {
        return;
    };
    assert_eq!(ctx.sequence_workgroup_size(), 256);
    let mut r = rng(41);
    for choice in [
        wgpu_lstm::gpu::KernelChoice::Auto,
        wgpu_lstm::gpu::KernelChoice::PerStep,
    ] {
        let cfg = LstmConfig {
            return_sequences: true,
            stateful: true,
            ..LstmConfig::new(4)
        };
        let w = LstmWeights::keras_default(3, &cfg, 2).unwrap();
        let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
        g.set_options(poisoned(choice));
        let mut c = Lstm::new(cfg, w).unwrap();
        for _ in 0..2 {
            // 5 rows > 3 workgroups of the recurrence; 5·50 rows > 3·64 of the projection
            let x = random3(&mut r, 5, 50, 3, 1.0);
            let got = g.forward(x.view()).unwrap().output;
            let want = c.forward(x.view()).unwrap().output;
            assert!(
                crate::common::max_abs(&got, &want) <= 1e-5,
                "{choice:?}: {}",
                crate::common::max_abs(&got, &want)
            );
        }
    }
    // a model (LSTM → Dense) splits its rows the same way
    use wgpu_lstm::layers::{Dense, Layer, Masking, Recurrent};
    use wgpu_lstm::model::{Model, ModelDef};
    let cfg = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(4)
    };
    let def = ModelDef {
        name: "m".into(),
        flavour: wgpu_lstm::KerasFlavour::Keras3,
        layers: vec![
            (
                "lstm".into(),
                Layer::Recurrent(Recurrent {
                    weights: LstmWeights::keras_default(3, &cfg, 5).unwrap(),
                    config: cfg,
                }),
            ),
            (
                "dense".into(),
                Layer::Dense(Dense {
                    kernel: crate::common::random(&mut r, ndarray::Ix2(4, 2), 0.5),
                    bias: None,
                    activation: wgpu_lstm::Activation::Linear.into(),
                }),
            ),
        ],
    };
    let x = random3(&mut r, 5, 50, 3, 1.0);
    let got = Model::new(def.clone(), &Device::Gpu(ctx.clone()))
        .unwrap()
        .predict(x.view())
        .unwrap();
    let want = Model::new(def.clone(), &Device::Cpu)
        .unwrap()
        .predict(x.view())
        .unwrap();
    assert!(crate::common::max_abs(&got[0], &want[0]) <= 1e-5);
    // masking (rows × feature chunks) and an element-wise Bidirectional merge (rows × units)
    // cover more invocations than 3 workgroups of 64 along one dimension: 2-D grids
    let half = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(4)
    };
    let bidir = ModelDef {
        name: "bidir".into(),
        flavour: wgpu_lstm::KerasFlavour::Keras3,
        layers: vec![
            (
                "masking".into(),
                Layer::Masking(Masking { mask_value: 0.0 }),
            ),
            (
                "bidirectional".into(),
                crate::common::BidirDef {
                    forward: (
                        half.clone(),
                        LstmWeights::keras_default(3, &half, 6).unwrap(),
                    ),
                    backward: (
                        half.clone(),
                        LstmWeights::keras_default(3, &half, 7).unwrap(),
                    ),
                    merge: wgpu_lstm::layers::bidirectional::MergeMode::Sum,
                }
                .build(),
            ),
        ],
    };
    let mut xm = random3(&mut r, 5, 50, 3, 1.0);
    xm.slice_mut(ndarray::s![1, 10..20, ..]).fill(0.0);
    let got = Model::new(bidir.clone(), &Device::Gpu(ctx.clone()))
        .unwrap()
        .predict(xm.view())
        .unwrap();
    let want = Model::new(bidir, &Device::Cpu)
        .unwrap()
        .predict(xm.view())
        .unwrap();
    assert!(crate::common::max_abs(&got[0], &want[0]) <= 1e-5);
    // a model row longer than one dispatch covers (3·64 projection rows) is cut into
    // several GEMM dispatches: same result
    let long = random3(&mut r, 1, 3 * 64 * 3 + 1, 3, 1.0);
    let got = Model::new(def.clone(), &Device::Gpu(ctx.clone()))
        .unwrap()
        .predict(long.view())
        .unwrap();
    let want = Model::new(def, &Device::Cpu)
        .unwrap()
        .predict(long.view())
        .unwrap();
    assert!(crate::common::max_abs(&got[0], &want[0]) <= 1e-5);
    assert_no_gpu_errors(&ctx);
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let mut v = crate::common::suite_of(
        "gpu_vs_cpu::random_configurations_match_the_cpu",
        &Exec::gpu_f32(),
        random_configurations_match_the_cpu,
    );
    v.extend([
        crate::common::gpu_test(
            "gpu_vs_cpu::every_activation_in_both_slots",
            every_activation_in_both_slots,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::one_sequence_costs_one_submit",
            one_sequence_costs_one_submit,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::split_calls_equal_unsplit_ones",
            split_calls_equal_unsplit_ones,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::unsplittable_inputs_are_a_typed_error",
            unsplittable_inputs_are_a_typed_error,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::the_persistent_kernel_respects_the_loop_budget",
            the_persistent_kernel_respects_the_loop_budget,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::one_layer_switching_kernels_between_calls_matches_the_cpu",
            one_layer_switching_kernels_between_calls_matches_the_cpu,
        ),
        crate::common::gpu_test(
            "gpu_vs_cpu::calls_respect_a_small_dispatch_limit",
            calls_respect_a_small_dispatch_limit,
        ),
    ]);
    v
}
