//! Reliability: no silently wrong GPU answer past lavapipe's loop budget, a dropped async
//! call that leaves its layer usable, and GPU errors that stay with the call (or thread)
//! that caused them.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, Waker};

use ndarray::{Array2, Array3};
use wgpu_lstm::layers::{Dense, Layer, Masking, Recurrent};
use wgpu_lstm::model::{Model, ModelDef};
use wgpu_lstm::{Activation, Device, KerasFlavour, Lstm, LstmConfig, LstmInput, LstmWeights};

use crate::common::{assert_no_gpu_errors, gpu, max_abs, random, random3, rng};

fn model(layers: Vec<(&str, Layer)>) -> ModelDef {
    ModelDef {
        name: "m".into(),
        flavour: KerasFlavour::Keras3,
        layers: layers
            .into_iter()
            .map(|(n, l)| (n.to_string(), l))
            .collect(),
    }
}

fn gpu_and_cpu(def: &ModelDef, x: &Array3<f32>) -> (ndarray::ArrayD<f32>, ndarray::ArrayD<f32>) {
    let ctx = gpu().expect("checked by the caller");
    let mut g = Model::new(def.clone(), &Device::Gpu(ctx)).unwrap();
    g.set_options(wgpu_lstm::gpu::CallOptions {
        poison: true,
        ..Default::default()
    });
    let got = g.predict(x.view()).unwrap().swap_remove(0);
    let want = Model::new(def.clone(), &Device::Cpu)
        .unwrap()
        .predict(x.view())
        .unwrap()
        .swap_remove(0);
    (got, want)
}

/// Masking over 70 000 features (a one-hot vocabulary): a step valid only through feature
/// 69 999 — past one invocation's 65 535 loop iterations — is valid on the GPU too.
fn masking_over_more_features_than_one_loop_may_scan() {
    if gpu().is_none() {
        return;
    }
    let d = 70_000;
    let mut r = rng(1);
    let mut x = Array3::<f32>::zeros((3, 3, d));
    x[[0, 0, d - 1]] = 1.0; // valid only at the very last feature
    x[[1, 1, 5]] = -2.0;
    x[[2, 2, 65_536]] = 0.5; // just past the first chunk boundary
    let cfg = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(2)
    };
    let def = model(vec![
        ("masking", Layer::Masking(Masking { mask_value: 0.0 })),
        (
            "lstm",
            Layer::Recurrent(Recurrent {
                weights: LstmWeights::new(
                    random(&mut r, ndarray::Ix2(d, 8), 0.5),
                    random(&mut r, ndarray::Ix2(2, 8), 0.5),
                    Some(random(&mut r, ndarray::Ix1(8), 0.5)),
                )
                .unwrap(),
                config: cfg,
            }),
        ),
    ]);
    let (got, want) = gpu_and_cpu(&def, &x);
    // the CPU says row 0's first step is valid: its output there is not zero
    assert!(want[[0, 0, 0]] != 0.0 && want[[2, 2, 0]] != 0.0);
    assert!(max_abs(&got, &want) <= 1e-4, "{}", max_abs(&got, &want));
    assert_no_gpu_errors(&gpu().unwrap());
}

/// An input projection over D = 1 100 000 features (more than 65 535 slices of 16) and a
/// Dense layer over as many inputs: the dot products are cut into chunks of K, summed in
/// place, and equal the CPU.
fn projections_over_more_features_than_one_loop_may_scan() {
    if gpu().is_none() {
        return;
    }
    let d = 1_100_000;
    let mut r = rng(2);
    let x = random3(&mut r, 1, 2, d, 1.0);
    let cfg = LstmConfig {
        return_sequences: true,
        ..LstmConfig::new(1)
    };
    let lstm = model(vec![(
        "lstm",
        Layer::Recurrent(Recurrent {
            weights: LstmWeights::new(
                random(&mut r, ndarray::Ix2(d, 4), 0.002),
                random(&mut r, ndarray::Ix2(1, 4), 0.5),
                Some(random(&mut r, ndarray::Ix1(4), 0.5)),
            )
            .unwrap(),
            config: cfg,
        }),
    )]);
    let (got, want) = gpu_and_cpu(&lstm, &x);
    assert!(want.iter().all(|v| v.abs() > 1e-6));
    assert!(max_abs(&got, &want) <= 1e-4, "{}", max_abs(&got, &want));
    let dense = model(vec![(
        "dense",
        Layer::Dense(Dense {
            kernel: random(&mut r, ndarray::Ix2(d, 3), 0.002),
            bias: Some(random(&mut r, ndarray::Ix1(3), 0.5)),
            activation: Activation::Tanh.into(),
        }),
    )]);
    let (got, want) = gpu_and_cpu(&dense, &x);
    assert!(max_abs(&got, &want) <= 1e-4, "{}", max_abs(&got, &want));
    assert_no_gpu_errors(&gpu().unwrap());
}

/// A Dense layer of 4 200 000 units needs more than 65 535 workgroups of 64 columns: its
/// GEMM runs as two blocks of columns and equals the CPU.
fn a_dense_layer_wider_than_one_dispatch() {
    if gpu().is_none() {
        return;
    }
    let units = 4_200_000;
    let mut r = rng(3);
    let cfg = LstmConfig::new(2);
    let def = model(vec![
        (
            "lstm",
            Layer::Recurrent(Recurrent {
                weights: LstmWeights::keras_default(3, &cfg, 3).unwrap(),
                config: cfg,
            }),
        ),
        (
            "dense",
            Layer::Dense(Dense {
                kernel: random(&mut r, ndarray::Ix2(2, units), 0.5),
                bias: Some(random(&mut r, ndarray::Ix1(units), 0.5)),
                activation: Activation::Sigmoid.into(),
            }),
        ),
    ]);
    let x = random3(&mut r, 1, 2, 3, 1.0);
    let (got, want) = gpu_and_cpu(&def, &x);
    assert_eq!(got.shape(), &[1, units]);
    assert!(max_abs(&got, &want) <= 1e-5, "{}", max_abs(&got, &want));
    assert_no_gpu_errors(&gpu().unwrap());
}

/// Polls a future once with a waker that does nothing.
fn poll_once<F: Future>(f: Pin<&mut F>) -> Poll<F::Output> {
    f.poll(&mut Context::from_waker(Waker::noop()))
}

fn stateful(units: usize) -> (LstmConfig, LstmWeights) {
    let cfg = LstmConfig {
        stateful: true,
        return_sequences: true,
        ..LstmConfig::new(units)
    };
    let w = LstmWeights::keras_default(4, &cfg, 11).unwrap();
    (cfg, w)
}

/// A `call_async` future does nothing until it is first polled (dropped before that, the call
/// did not happen); once polled the work is submitted, so dropped after that the call
/// happened (a stateful layer's state advanced) and only its results are discarded. Either
/// way the layer and every other layer of the context stay usable and equal the CPU.
fn a_dropped_async_call_leaves_its_layer_usable() {
    let Some(ctx) = gpu() else { return };
    let (cfg, w) = stateful(32);
    let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    let mut c = Lstm::new(cfg.clone(), w.clone()).unwrap();
    let mut other = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    let mut other_cpu = Lstm::new(cfg.clone(), w.clone()).unwrap();
    let mut r = rng(5);
    let check = |g: &mut Lstm, c: &mut Lstm, x: &Array3<f32>| {
        let a = g.forward(x.view()).unwrap().output;
        let b = c.forward(x.view()).unwrap().output;
        assert!(max_abs(&a, &b) <= 1e-4, "{}", max_abs(&a, &b));
    };
    // a long call, so that the first poll finds it still running on lavapipe
    let big = random3(&mut r, 8, 300, 4, 1.0);
    check(&mut g, &mut c, &random3(&mut r, 8, 3, 4, 1.0));

    // 1. dropped before its first poll: nothing was submitted, the state did not move
    drop(g.call_async(LstmInput::new(big.view())));
    check(&mut g, &mut c, &random3(&mut r, 8, 3, 4, 1.0));

    // 2. dropped after one poll, while the GPU works: the call happened
    {
        let mut fut = std::pin::pin!(g.call_async(LstmInput::new(big.view())));
        assert!(
            poll_once(fut.as_mut()).is_pending(),
            "the call finished at once"
        );
    }
    c.forward(big.view()).unwrap(); // the CPU twin makes the same call
    for _ in 0..3 {
        check(&mut g, &mut c, &random3(&mut r, 8, 3, 4, 1.0));
        check(&mut other, &mut other_cpu, &random3(&mut r, 8, 5, 4, 1.0));
    }
    // the same again on the async path itself, completed
    let x = random3(&mut r, 8, 4, 4, 1.0);
    let a = pollster::block_on(g.call_async(LstmInput::new(x.view()))).unwrap();
    let b = c.forward(x.view()).unwrap();
    assert!(max_abs(&a.output, &b.output) <= 1e-4);

    // 3. a future that owns its layer, dropped after one poll: the layer goes with it, the
    // context and its other layers carry on
    let owned = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    let big2 = big.clone();
    {
        let mut fut = std::pin::pin!(async move {
            let mut l = owned;
            l.call_async(LstmInput::new(big2.view()))
                .await
                .map(|o| o.output)
        });
        assert!(poll_once(fut.as_mut()).is_pending());
    }
    for _ in 0..3 {
        check(&mut other, &mut other_cpu, &random3(&mut r, 8, 5, 4, 1.0));
        check(&mut g, &mut c, &random3(&mut r, 8, 2, 4, 1.0));
    }
    assert_no_gpu_errors(&ctx);
}

/// One thread provokes GPU validation errors in a loop — on the shared device with no
/// error scope (as a careless application would) and inside error scopes of its own —
/// while other threads run healthy layers and models on the same context: every healthy
/// call succeeds and equals the CPU, and the provoked errors are reported by
/// `check_errors`, to nobody's call.
fn gpu_errors_stay_with_the_thread_that_caused_them() {
    let Some(_) = gpu() else { return };
    // a context of its own, so the uncaptured errors counted here are this test's
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let bad = {
        let (ctx, stop) = (ctx.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut provoked = 0u32;
            while !stop.load(std::sync::atomic::Ordering::Relaxed) || provoked < 20 {
                // MAP_READ with STORAGE is invalid: a validation error
                let bad = |label| {
                    ctx.device().create_buffer(&wgpu::BufferDescriptor {
                        label: Some(label),
                        size: 64,
                        usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::STORAGE,
                        mapped_at_creation: false,
                    })
                };
                drop(bad("provoked, uncaptured"));
                let scope = ctx.device().push_error_scope(wgpu::ErrorFilter::Validation);
                drop(bad("provoked, in the thread's own scope"));
                assert!(pollster::block_on(scope.pop()).is_some());
                provoked += 1;
                std::thread::yield_now();
            }
            provoked
        })
    };
    let healthy: Vec<_> = (0..3u64)
        .map(|k| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let cfg = LstmConfig {
                    return_sequences: true,
                    stateful: k == 1,
                    ..LstmConfig::new(5 + k as usize)
                };
                let w = LstmWeights::keras_default(3, &cfg, k).unwrap();
                let mut g =
                    Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
                let mut c = Lstm::new(cfg.clone(), w.clone()).unwrap();
                let dense = Layer::Dense(Dense {
                    kernel: Array2::from_elem((cfg.units, 2), 0.25),
                    bias: None,
                    activation: Activation::Linear.into(),
                });
                let def = model(vec![
                    ("masking", Layer::Masking(Masking { mask_value: 0.0 })),
                    (
                        "lstm",
                        Layer::Recurrent(Recurrent {
                            config: LstmConfig {
                                stateful: false,
                                ..cfg.clone()
                            },
                            weights: w,
                        }),
                    ),
                    ("dense", dense),
                ]);
                let mut gm = Model::new(def.clone(), &Device::Gpu(ctx)).unwrap();
                let mut cm = Model::new(def, &Device::Cpu).unwrap();
                for i in 0..15 {
                    let x = random3(&mut rng(k * 100 + i), 2, 4, 3, 1.0);
                    let a = g.forward(x.view()).unwrap().output;
                    let b = c.forward(x.view()).unwrap().output;
                    assert!(max_abs(&a, &b) <= 1e-4);
                    let a = gm.predict(x.view()).unwrap().swap_remove(0);
                    let b = cm.predict(x.view()).unwrap().swap_remove(0);
                    assert!(max_abs(&a, &b) <= 1e-4);
                }
            })
        })
        .collect();
    for h in healthy {
        h.join().expect("every healthy call succeeds");
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    let provoked = bad.join().unwrap();
    assert!(provoked >= 20);
    // the uncaptured ones were kept for check_errors (and only there)
    let e = ctx.check_errors().unwrap_err();
    assert!(e.to_string().contains("provoked"), "{e}");
    ctx.check_errors().expect("cleared by the first check");
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::gpu_test(
            "reliability::masking_over_more_features_than_one_loop_may_scan",
            masking_over_more_features_than_one_loop_may_scan,
        ),
        crate::common::gpu_test(
            "reliability::projections_over_more_features_than_one_loop_may_scan",
            projections_over_more_features_than_one_loop_may_scan,
        ),
        crate::common::gpu_test(
            "reliability::a_dense_layer_wider_than_one_dispatch",
            a_dense_layer_wider_than_one_dispatch,
        ),
        crate::common::gpu_test(
            "reliability::a_dropped_async_call_leaves_its_layer_usable",
            a_dropped_async_call_leaves_its_layer_usable,
        ),
        crate::common::gpu_test(
            "reliability::gpu_errors_stay_with_the_thread_that_caused_them",
            gpu_errors_stay_with_the_thread_that_caused_them,
        ),
    ]
}
