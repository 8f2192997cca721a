//! Serving: many independent streams multiplexed in the batch slots of one stateful layer or
//! model, per-row reset / checkpoint / restore, long streaming runs with flat memory, several
//! threads on one device, the async call.

use ndarray::{Array3, s};
use rand::Rng;
use wgpu_lstm::{Device, Error, Lstm, LstmConfig, LstmState, LstmWeights};

use crate::common::{assert_no_gpu_errors, gpu, max_abs, random3, rng};

fn devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    if let Some(ctx) = gpu() {
        v.push(Device::Gpu(ctx));
    }
    v
}

/// B slots hold independent streams. Each step feeds one timestep to every slot; at random
/// moments a slot is reset (its stream starts over), checkpointed, or a checkpoint is
/// restored into some slot (a stream migrates). Every slot's output must equal its stream
/// run alone (batch 1) on the CPU, and untouched slots keep their state exactly.
fn many_independent_streams_in_one_batch_equal_each_stream_alone() {
    for dev in devices() {
        let mut r = rng(99);
        let (slots, d, u) = (5, 3, 7);
        let cfg = LstmConfig {
            stateful: true,
            return_sequences: true,
            ..LstmConfig::new(u)
        };
        let w = LstmWeights::keras_default(d, &cfg, 5).unwrap();
        let mut served = Lstm::on_device(cfg.clone(), w.clone(), &dev).unwrap();
        served.init_states(slots).unwrap();
        // one batch-1 CPU reference per slot, mirroring the stream that slot holds
        let mut alone: Vec<Lstm> = (0..slots)
            .map(|_| {
                let mut l = Lstm::new(cfg.clone(), w.clone()).unwrap();
                l.init_states(1).unwrap();
                l
            })
            .collect();
        let mut checkpoints: Vec<(LstmState, LstmState)> = Vec::new();
        for step in 0..40 {
            let event = r.random_range(0..10);
            let slot = r.random_range(0..slots);
            let before = served.states().unwrap().unwrap();
            match event {
                0 => {
                    served.reset_rows(&[slot]).unwrap();
                    alone[slot].reset_states().unwrap();
                }
                1 => checkpoints.push((
                    served.row_state(slot).unwrap(),
                    alone[slot].states().unwrap().unwrap(),
                )),
                2 if !checkpoints.is_empty() => {
                    let (gpu_ck, cpu_ck) =
                        checkpoints[r.random_range(0..checkpoints.len())].clone();
                    assert!(
                        max_abs(&gpu_ck.h.clone().into_dyn(), &cpu_ck.h.clone().into_dyn()) <= 1e-4
                    );
                    served.set_row_state(slot, &gpu_ck).unwrap();
                    alone[slot].set_states(&cpu_ck).unwrap();
                }
                _ => {}
            }
            if event <= 2 {
                // rows other than `slot` are untouched by the row operation
                let after = served.states().unwrap().unwrap();
                for row in (0..slots).filter(|&x| x != slot) {
                    assert_eq!(
                        after.h.row(row),
                        before.h.row(row),
                        "step {step}: row {row} changed"
                    );
                    assert_eq!(
                        after.c.row(row),
                        before.c.row(row),
                        "step {step}: row {row} changed"
                    );
                }
            }
            let x = random3(&mut r, slots, 1, d, 1.0);
            let y = served.forward(x.view()).unwrap().output;
            for (k, reference) in alone.iter_mut().enumerate() {
                let yk = reference
                    .forward(x.slice(s![k..k + 1, .., ..]))
                    .unwrap()
                    .output;
                let got = y.slice(s![k..k + 1, .., ..]).to_owned().into_dyn();
                assert!(
                    max_abs(&got, &yk) <= 1e-4,
                    "{}: step {step} slot {k}",
                    dev.name()
                );
            }
        }
        if let Device::Gpu(ctx) = &dev {
            assert_no_gpu_errors(ctx);
        }
    }
}

/// The same multiplexing through a whole model (the demo: LSTM → Dense), on the GPU.
fn a_stateful_model_serves_streams_per_row() {
    let bytes = std::fs::read(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/sine_forecaster.keras"),
    )
    .unwrap();
    for dev in devices() {
        let load = |d: &Device| {
            wgpu_lstm::model::Model::from_keras_bytes(&bytes, "demo", d)
                .unwrap()
                .into_stateful(d)
                .unwrap()
        };
        let mut served = load(&dev);
        served.init_states(3).unwrap();
        let mut alone: Vec<_> = (0..3).map(|_| load(&Device::Cpu)).collect();
        let mut r = rng(3);
        let mut ck = None;
        for step in 0..24 {
            if step == 8 {
                ck = Some((served.row_states(1).unwrap(), alone[1].states().unwrap()));
            }
            if step == 12 {
                served.reset_rows(&[0]).unwrap();
                alone[0].reset_states().unwrap();
            }
            if step == 16 {
                // migrate stream 1 as it was at step 8 into slot 2
                let (g, c) = ck.clone().unwrap();
                served.set_row_states(2, &g).unwrap();
                let c: Vec<LstmState> = c.into_iter().map(|s| s.unwrap()).collect();
                alone[2].set_row_states(0, &c).unwrap();
            }
            let x = random3(&mut r, 3, 1, 1, 1.0);
            let y = served.predict(x.view()).unwrap().swap_remove(0);
            for (k, a) in alone.iter_mut().enumerate() {
                let yk = a
                    .predict(x.slice(s![k..k + 1, .., ..]))
                    .unwrap()
                    .swap_remove(0);
                assert!(
                    max_abs(&y.slice(s![k..k + 1, .., ..]).to_owned().into_dyn(), &yk) <= 1e-4,
                    "step {step} slot {k}"
                );
            }
        }
    }
}

fn per_row_operations_give_typed_errors() {
    for dev in devices() {
        let cfg = LstmConfig {
            stateful: true,
            ..LstmConfig::new(3)
        };
        let mut l = Lstm::on_device(
            cfg.clone(),
            LstmWeights::keras_default(2, &cfg, 0).unwrap(),
            &dev,
        )
        .unwrap();
        assert!(matches!(l.row_state(0), Err(Error::NoState(_))));
        l.init_states(2).unwrap();
        assert!(matches!(
            l.reset_rows(&[0, 2]),
            Err(Error::RowOutOfRange { row: 2, batch: 2 })
        ));
        assert!(matches!(
            l.row_state(5),
            Err(Error::RowOutOfRange { row: 5, batch: 2 })
        ));
        let bad = LstmState::zeros(2, 3).unwrap();
        assert!(matches!(l.set_row_state(0, &bad), Err(Error::Shape { .. })));
        let stateless = LstmConfig::new(3);
        let mut s = Lstm::on_device(
            stateless.clone(),
            LstmWeights::keras_default(2, &stateless, 0).unwrap(),
            &dev,
        )
        .unwrap();
        assert!(matches!(s.reset_rows(&[0]), Err(Error::NoState(_))));
    }
}

fn rss_bytes() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// 100 000 one-step calls with row resets and full resets: no GPU buffer is created after
/// the warm-up and host memory stays flat.
/// The measurement runs in a child process of its own (this test binary, filtered to this
/// test): the process's resident memory is what is measured, and tests running beside it
/// in this process (pipelines compiled, fixtures loaded) would grow it too.
fn one_hundred_thousand_streaming_steps_keep_memory_flat() {
    const CHILD: &str = "WGPU_LSTM_SERVING_MEMORY_CHILD";
    const NAME: &str = "serving::one_hundred_thousand_streaming_steps_keep_memory_flat";
    let Some(_) = gpu() else { return };
    if std::env::var_os(CHILD).is_none() {
        let out = std::process::Command::new(std::env::current_exe().unwrap())
            .args([NAME, "--exact", "--test-threads", "1"])
            .env(CHILD, "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && text.contains("1 passed"),
            "the child process failed: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let cfg = LstmConfig {
        stateful: true,
        return_sequences: true,
        ..LstmConfig::new(4)
    };
    let mut l = Lstm::on_device(
        cfg.clone(),
        LstmWeights::keras_default(2, &cfg, 1).unwrap(),
        &Device::Gpu(ctx.clone()),
    )
    .unwrap();
    let x = Array3::<f32>::from_elem((2, 1, 2), 0.5);
    for _ in 0..1000 {
        l.forward(x.view()).unwrap();
    }
    let (buffers, rss) = (ctx.stats().buffers_created, rss_bytes());
    let mut last = None;
    for i in 0..100_000u32 {
        if i % 1000 == 999 {
            l.reset_rows(&[(i as usize / 1000) % 2]).unwrap();
        }
        if i % 10_000 == 9_999 {
            l.reset_states().unwrap();
        }
        last = Some(l.forward(x.view()).unwrap().output);
    }
    assert!(last.unwrap().iter().all(|v| v.is_finite()));
    assert_eq!(
        ctx.stats().buffers_created,
        buffers,
        "GPU buffers were created while streaming"
    );
    let grown = rss_bytes().saturating_sub(rss);
    assert!(
        grown < 16 << 20,
        "host memory grew by {} KiB over 100 000 steps",
        grown >> 10
    );
    assert_no_gpu_errors(&ctx);
}

/// Layers are Send + Sync; several threads run their own layers on one shared device.
fn layers_run_from_several_threads_on_one_device() {
    fn send_sync<T: Send + Sync>() {}
    send_sync::<Lstm>();
    send_sync::<wgpu_lstm::model::Model>();
    send_sync::<wgpu_lstm::gpu::GpuContext>();
    let Some(ctx) = gpu() else { return };
    let handles: Vec<_> = (0..4u64)
        .map(|k| {
            let ctx = ctx.clone();
            std::thread::spawn(move || {
                let cfg = LstmConfig {
                    return_sequences: true,
                    ..LstmConfig::new(5 + k as usize)
                };
                let w = LstmWeights::keras_default(3, &cfg, k).unwrap();
                let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx)).unwrap();
                let mut c = Lstm::new(cfg, w).unwrap();
                for i in 0..10 {
                    let x = random3(&mut rng(k * 100 + i), 2, 4, 3, 1.0);
                    let a = g.forward(x.view()).unwrap().output;
                    let b = c.forward(x.view()).unwrap().output;
                    assert!(max_abs(&a, &b) <= 1e-4);
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert_no_gpu_errors(&ctx);
}

/// The async call gives the same result as the blocking one, on every device, and a
/// stateful layer's state advances the same way.
fn the_async_call_equals_the_blocking_call() {
    for dev in devices() {
        let cfg = LstmConfig {
            stateful: true,
            return_sequences: true,
            return_state: true,
            ..LstmConfig::new(6)
        };
        let w = LstmWeights::keras_default(3, &cfg, 8).unwrap();
        let mut a = Lstm::on_device(cfg.clone(), w.clone(), &dev).unwrap();
        let mut b = Lstm::on_device(cfg, w, &dev).unwrap();
        for i in 0..3 {
            let x = random3(&mut rng(i), 2, 5, 3, 1.0);
            let ya = pollster::block_on(a.call_async(wgpu_lstm::LstmInput::new(x.view()))).unwrap();
            let yb = b.forward(x.view()).unwrap();
            assert_eq!(ya, yb, "{}", dev.name());
        }
        let x = ndarray::Array3::<f32>::zeros((3, 5, 3));
        let e = pollster::block_on(a.call_async(wgpu_lstm::LstmInput::new(x.view()))).unwrap_err();
        assert!(matches!(e, Error::StatefulBatch { .. }));
    }
}

/// A lost device is a typed error, never a panic or a hang; afterwards a new context and
/// layer work.
fn a_lost_device_is_a_typed_error_and_a_new_context_works() {
    if gpu().is_none() {
        return;
    }
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let cfg = LstmConfig {
        stateful: true,
        ..LstmConfig::new(4)
    };
    let w = LstmWeights::keras_default(2, &cfg, 1).unwrap();
    let mut l = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
    let x = Array3::<f32>::ones((2, 3, 2));
    let want = l.forward(x.view()).unwrap();
    ctx.device().destroy();
    let e = l.forward(x.view()).unwrap_err();
    assert!(matches!(&e, Error::DeviceLost(_)), "{e:?}");
    assert!(l.states().is_err());
    assert!(Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).is_err());
    // a fresh context and layer
    let fresh = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let mut l2 = Lstm::on_device(cfg, w, &Device::Gpu(fresh)).unwrap();
    assert_eq!(l2.forward(x.view()).unwrap(), want);
}

/// NaN and Inf in inputs, as in Keras: a NaN at a valid step makes that row's state and
/// outputs NaN from that step on; a NaN at a masked step is ignored; ±Inf saturates the gates
/// to finite values; other rows are untouched. Same on the CPU and the GPU, nothing crashes.
fn nan_and_inf_inputs_propagate_as_in_keras() {
    for dev in devices() {
        let cfg = LstmConfig {
            return_sequences: true,
            return_state: true,
            ..LstmConfig::new(5)
        };
        let w = LstmWeights::keras_default(1, &cfg, 4).unwrap();
        let mut l = Lstm::on_device(cfg.clone(), w.clone(), &dev).unwrap();
        let mut x = random3(&mut rng(1), 4, 6, 1, 1.0);
        x[[0, 2, 0]] = f32::NAN; // row 0: NaN at a valid step
        x[[1, 2, 0]] = f32::NAN; // row 1: NaN at a masked step
        x[[2, 3, 0]] = f32::INFINITY; // row 2: +inf
        x[[3, 1, 0]] = f32::NEG_INFINITY; // row 3: -inf
        let mut mask = ndarray::Array2::from_elem((4, 6), true);
        mask[[1, 2]] = false;
        let y = l
            .call(wgpu_lstm::LstmInput::new(x.view()).mask(mask.view()))
            .unwrap();
        let out = &y.output;
        assert!(
            out.slice(s![0, ..2, ..]).iter().all(|v| v.is_finite()),
            "{}",
            dev.name()
        );
        assert!(
            out.slice(s![0, 2.., ..]).iter().all(|v| v.is_nan()),
            "{}: NaN must propagate",
            dev.name()
        );
        assert!(y.h.as_ref().unwrap().row(0).iter().all(|v| v.is_nan()));
        for row in 1..4 {
            assert!(
                out.slice(s![row, .., ..]).iter().all(|v| v.is_finite()),
                "{} row {row}",
                dev.name()
            );
        }
        // the same numbers as the CPU reference, NaN in the same places
        let mut cpu = Lstm::new(cfg, w).unwrap();
        let want = cpu
            .call(wgpu_lstm::LstmInput::new(x.view()).mask(mask.view()))
            .unwrap();
        assert!(max_abs(out, &want.output) <= 1e-4, "{}", dev.name());
    }
}

/// A repeated call of the same shape uploads only its inputs: the projection dims and the
/// step records (one bank per starting h slot) are already on the GPU. Checked for both
/// recurrent kernels, for a stateful stream of odd-length calls (the starting slot
/// alternates) and for stateless sequences, with every output checked against the CPU.
fn repeated_calls_upload_only_their_inputs() {
    use wgpu_lstm::gpu::{GpuContext, KernelChoice};
    let Some(_) = gpu() else { return };
    // the subgroup step kernel where the adapter has subgroups (lavapipe does)
    let mut choices = vec![KernelChoice::PerStep, KernelChoice::Persistent];
    if GpuContext::new().unwrap().subgroup_lanes().is_some() {
        choices.push(KernelChoice::PerStepSubgroup);
    }
    for choice in choices {
        let ctx = GpuContext::new().unwrap();
        // no poisoning: it uploads NaNs into the scratch, which this test counts
        let opts = wgpu_lstm::gpu::CallOptions {
            kernel: choice,
            ..Default::default()
        };
        for (stateful, steps) in [(true, 1), (true, 3), (false, 5)] {
            let cfg = LstmConfig {
                stateful,
                return_sequences: true,
                ..LstmConfig::new(6)
            };
            let w = LstmWeights::keras_default(3, &cfg, 7).unwrap();
            let mut g = Lstm::on_device(cfg.clone(), w.clone(), &Device::Gpu(ctx.clone())).unwrap();
            g.set_options(opts);
            let mut c = Lstm::on_device(cfg, w, &Device::Cpu).unwrap();
            let mut r = rng(steps as u64);
            for call in 0..6 {
                let x = random3(&mut r, 2, steps, 3, 1.0);
                let before = ctx.stats();
                let out = g.forward(x.view()).unwrap().output;
                let after = ctx.stats();
                let uploaded = after.bytes_uploaded - before.bytes_uploaded;
                let want = c.forward(x.view()).unwrap().output;
                assert!(
                    max_abs(&out, &want) <= 1e-5,
                    "{choice:?} stateful={stateful} T={steps} call {call}: GPU != CPU"
                );
                if call >= 2 {
                    assert_eq!(
                        uploaded,
                        (x.len() * 4) as u64,
                        "{choice:?} stateful={stateful} T={steps} call {call}: \
                         uploaded more than the inputs"
                    );
                    assert_eq!(after.bind_groups_created, before.bind_groups_created);
                    assert_eq!(after.buffers_created, before.buffers_created);
                }
            }
        }
        assert_no_gpu_errors(&ctx);
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::gpu_test(
            "serving::many_independent_streams_in_one_batch_equal_each_stream_alone",
            many_independent_streams_in_one_batch_equal_each_stream_alone,
        ),
        crate::common::gpu_test(
            "serving::a_stateful_model_serves_streams_per_row",
            a_stateful_model_serves_streams_per_row,
        ),
        crate::common::gpu_test(
            "serving::per_row_operations_give_typed_errors",
            per_row_operations_give_typed_errors,
        ),
        crate::common::gpu_test(
            "serving::one_hundred_thousand_streaming_steps_keep_memory_flat",
            one_hundred_thousand_streaming_steps_keep_memory_flat,
        ),
        crate::common::gpu_test(
            "serving::layers_run_from_several_threads_on_one_device",
            layers_run_from_several_threads_on_one_device,
        ),
        crate::common::gpu_test(
            "serving::the_async_call_equals_the_blocking_call",
            the_async_call_equals_the_blocking_call,
        ),
        crate::common::gpu_test(
            "serving::a_lost_device_is_a_typed_error_and_a_new_context_works",
            a_lost_device_is_a_typed_error_and_a_new_context_works,
        ),
        crate::common::gpu_test(
            "serving::nan_and_inf_inputs_propagate_as_in_keras",
            nan_and_inf_inputs_propagate_as_in_keras,
        ),
        crate::common::gpu_test(
            "serving::repeated_calls_upload_only_their_inputs",
            repeated_calls_upload_only_their_inputs,
        ),
    ]
}
