//! The benchmark module: config parsing and typed errors, run_bench on the CPU and the GPU
//! (work counters per call), the Markdown / SVG / JSON reports, and the cuDNN comparison —
//! in Rust and, where python3 exists, the same table from `scripts/compare_cudnn.py`.

use std::time::Duration;

use wgpu_lstm::bench::{
    BenchConfig, BenchOptions, BenchReport, BenchResult, compare_with_cudnn, markdown_table,
    run_bench, run_suite, svg_chart,
};
use wgpu_lstm::gpu::{GpuContext, GpuOptions, KernelChoice};
use wgpu_lstm::{Device, Error};

use crate::common::gpu;

fn parses_grid_names_and_shapes() {
    let grid = [
        ("stream_step", (1, 1, 64, 256)),
        ("small_seq", (1, 100, 32, 128)),
        ("long_seq", (1, 1000, 128, 512)),
        ("medium", (64, 100, 128, 256)),
        ("large", (256, 200, 512, 1024)),
    ];
    for (name, shape) in grid {
        let c = BenchConfig::parse(name).unwrap();
        assert_eq!(c.name, name);
        assert_eq!((c.batch, c.timesteps, c.input_dim, c.units), shape);
        assert_eq!(c.is_streaming(), name == "stream_step");
    }
    let c = BenchConfig::parse("2,3,4,5").unwrap();
    assert_eq!(
        (c.name.as_str(), c.batch, c.timesteps, c.input_dim, c.units),
        ("2,3,4,5", 2, 3, 4, 5)
    );
    assert_eq!(BenchConfig::parse(" 2 x 3x4x5").unwrap().shape(), "2,3,4,5");
    // A grid shape given as numbers gets the grid name (so it is compared with cuDNN).
    assert_eq!(BenchConfig::parse("64,100,128,256").unwrap().name, "medium");
}

fn bad_config_strings_are_typed_errors_naming_the_input() {
    for bad in [
        "",
        "small",
        "1,2,3",
        "1,2,3,4,5",
        "1,2,-3,4",
        "a,b,c,d",
        "1,2,0,4",
        "0,1,1,1",
        "1,,2,3",
        "1.5,2,3,4",
    ] {
        match BenchConfig::parse(bad) {
            Err(Error::Config { field, reason }) => {
                assert_eq!(field, "bench config", "{bad:?}");
                assert!(reason.contains(&format!("`{bad}`")), "{bad:?}: {reason}");
            }
            other => panic!("{bad:?}: expected a Config error, got {other:?}"),
        }
    }
    let err = BenchConfig::parse("smal_seq").unwrap_err().to_string();
    assert!(
        err.contains("small_seq") && err.contains("B,T,D,U"),
        "{err}"
    );
    assert!(matches!(
        BenchConfig::parse_list(&["small_seq,1,2"]),
        Err(Error::Config { .. })
    ));
    assert!(matches!(
        BenchConfig::parse_list(&["small_seq", "nope"]),
        Err(Error::Config { .. })
    ));
}

fn parse_list_mixes_names_shapes_and_all() {
    let v = BenchConfig::parse_list(&["medium, 2,3,4,5", "stream_step"]).unwrap();
    let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["medium", "2,3,4,5", "stream_step"]);
    assert_eq!(
        BenchConfig::parse_list(&["all"]).unwrap(),
        BenchConfig::grid()
    );
    assert_eq!(
        BenchConfig::parse_list(&[" "]).unwrap(),
        BenchConfig::grid()
    );
}

fn flop_and_memory_estimate_follow_the_shapes() {
    let large = BenchConfig::named("large").unwrap();
    assert_eq!(large.flop(), 2 * 256 * 200 * 4 * 1024 * (512 + 1024));
    // The input-projection scratch B·T·4U dominates: 800 MiB of the estimate.
    let mib = large.memory_estimate_bytes() as f64 / (1 << 20) as f64;
    assert!((900.0..1000.0).contains(&mib), "{mib}");
}

fn quick() -> BenchOptions {
    BenchOptions {
        warmup: 1,
        reps: 4,
        min_time: Duration::ZERO,
        max_time: Duration::from_secs(20),
        ..BenchOptions::default()
    }
}

fn check_common(r: &BenchResult, cfg: &BenchConfig) {
    assert_eq!(&r.config, cfg);
    assert_eq!(r.reps, 4);
    assert!(
        r.median_ms > 0.0 && r.min_ms > 0.0 && r.min_ms <= r.median_ms,
        "{r:?}"
    );
    assert_eq!(r.flop, cfg.flop());
    assert!(r.gflops > 0.0 && r.gflops.is_finite());
    assert_eq!(r.memory_estimate_bytes, cfg.memory_estimate_bytes());
}

fn run_bench_on_the_cpu() {
    let cfg = BenchConfig::parse("2,3,4,5").unwrap();
    let mut seen = Vec::new();
    let r = run_bench(&cfg, &Device::Cpu, &quick(), |d, t| seen.push((d, t))).unwrap();
    check_common(&r, &cfg);
    assert_eq!(r.backend, "cpu");
    assert!(r.device.starts_with("cpu"));
    assert!(!r.is_gpu() && !r.streaming);
    assert_eq!(r.gpu_ms, None);
    assert_eq!(r.dispatches_per_call, None);
    assert_eq!(r.submits_per_call, None);
    assert_eq!(seen.len(), 5);
    assert_eq!(seen.last(), Some(&(5, 5)));
    // Streaming: a stateful layer, one step per call.
    let s = BenchConfig::parse("1,1,3,4").unwrap();
    let r = run_bench(&s, &Device::Cpu, &quick(), |_, _| {}).unwrap();
    assert!(r.streaming);
    // Invalid configs are typed errors, not panics.
    let zero = BenchConfig::new("zero", 1, 0, 3, 4);
    assert!(matches!(
        run_bench(&zero, &Device::Cpu, &quick(), |_, _| {}),
        Err(Error::Config { .. })
    ));
}

/// A private context on the shared context's adapter: the benchmark reads per-call deltas of
/// the context's counters and switches its GPU timing, which other tests running in parallel
/// on the shared context would disturb.
fn private_gpu() -> Option<Device> {
    let shared = gpu()?;
    let ctx = GpuContext::with_options(&GpuOptions {
        backends: Some(shared.adapter_info().backend.into()),
        adapter_name: Some(shared.adapter_name().to_string()),
    })
    .expect("a second context on the same adapter");
    Some(Device::Gpu(ctx))
}

fn run_bench_on_the_gpu_counts_one_submit_and_one_plus_t_dispatches() {
    let Some(dev) = private_gpu() else { return };
    let Device::Gpu(ctx) = &dev else {
        unreachable!()
    };
    let cfg = BenchConfig::parse("2,3,4,5").unwrap();
    // The per-step schedule: the input projection, then one dispatch per timestep.
    let per_step = BenchOptions {
        kernel: Some(KernelChoice::PerStep),
        ..quick()
    };
    let r = run_bench(&cfg, &dev, &per_step, |_, _| {}).unwrap();
    assert_eq!(r.kernel, "PerStep → per-step");
    check_common(&r, &cfg);
    assert!(r.is_gpu());
    assert_eq!(r.device, ctx.adapter_name());
    assert_eq!(r.dispatches_per_call, Some(1.0 + 3.0), "{r:?}");
    assert_eq!(r.submits_per_call, Some(1.0), "{r:?}");
    // Uploads: exactly the inputs (B·T·D f32: the step records and dims are already on the
    // GPU after the warm-up); reads: exactly the output (B·U f32).
    assert_eq!(
        r.bytes_uploaded_per_call,
        Some((2 * 3 * 4 * 4) as f64),
        "{r:?}"
    );
    assert_eq!(r.bytes_read_per_call, Some((2 * 5 * 4) as f64), "{r:?}");
    // After the warm-up a call allocates nothing.
    assert_eq!(r.buffers_created_per_call, Some(0.0), "{r:?}");
    // The measured peak holds at least the layer's weights, inputs and projection scratch
    // (f32), and no more than a generous bound (wgpu rounds allocations up).
    let peak = r.peak_gpu_bytes.expect("Vulkan counts buffer memory");
    let (d, u, bt) = (4u64, 5u64, 6u64);
    let floor = 4 * (d * 4 * u + u * 4 * u + 4 * u + bt * d + bt * 4 * u);
    assert!(
        peak >= floor && peak < 64 << 20,
        "peak {peak} B, floor {floor} B"
    );
    let timestamps = ctx
        .device()
        .features()
        .contains(wgpu::Features::TIMESTAMP_QUERY);
    if timestamps {
        let g = r.gpu_ms.expect("GPU time where timestamps are supported");
        assert!(g.is_finite() && g >= 0.0, "{g}");
        assert!(r.gpu_reps > 0 && r.gpu_gflops.is_some());
    } else {
        assert_eq!(r.gpu_ms, None);
    }
    // The persistent kernel: the projection and one dispatch for the whole sequence.
    let persistent = BenchOptions {
        kernel: Some(KernelChoice::Persistent),
        ..quick()
    };
    let r = run_bench(&cfg, &dev, &persistent, |_, _| {}).unwrap();
    assert_eq!(r.kernel, "Persistent → persistent");
    assert_eq!(r.dispatches_per_call, Some(2.0), "{r:?}");
    assert_eq!(r.submits_per_call, Some(1.0), "{r:?}");
    // A scratch budget too small for the call splits it into parts, one submit each: its GPU
    // time is the sum over the parts.
    let tiny = BenchOptions {
        scratch_budget: Some(2 * 16 * 5),
        ..quick()
    };
    let r = run_bench(&cfg, &dev, &tiny, |_, _| {}).unwrap();
    assert!(r.submits_per_call.unwrap() > 1.0, "{r:?}");
    if timestamps {
        let g = r
            .gpu_ms
            .expect("a split call has a GPU time: the sum of its parts");
        assert!(g.is_finite() && g > 0.0, "{r:?}");
    }
    assert!(r.median_ms > 0.0);
    // Streaming: stateful, T = 1: one projection + one step, one submit, the output read
    // back, h and c left on the GPU, nothing allocated.
    let s = BenchConfig::parse("1,1,4,5").unwrap();
    let r = run_bench(&s, &dev, &quick(), |_, _| {}).unwrap();
    assert!(r.streaming);
    assert_eq!(r.dispatches_per_call, Some(2.0), "{r:?}");
    assert_eq!(r.submits_per_call, Some(1.0), "{r:?}");
    assert_eq!(r.bytes_read_per_call, Some((5 * 4) as f64), "{r:?}");
    assert_eq!(r.buffers_created_per_call, Some(0.0), "{r:?}");
    ctx.check_errors()
        .expect("no wgpu errors during the benchmark");
}

fn fake(
    name: &str,
    device: &str,
    backend: &str,
    median_ms: f64,
    gpu_ms: Option<f64>,
) -> BenchResult {
    let cfg = BenchConfig::named(name).unwrap_or_else(|| BenchConfig::parse(name).unwrap());
    BenchResult {
        streaming: cfg.is_streaming(),
        kernel: if backend == "cpu" { "cpu" } else { "Auto" }.into(),
        flop: cfg.flop(),
        gflops: cfg.flop() as f64 / (median_ms * 1e-3) / 1e9,
        gpu_gflops: gpu_ms.map(|g| cfg.flop() as f64 / (g * 1e-3) / 1e9),
        memory_estimate_bytes: cfg.memory_estimate_bytes(),
        peak_gpu_bytes: None,
        f16_weights: false,
        config: cfg,
        device: device.into(),
        backend: backend.into(),
        driver: "test".into(),
        warmup: 1,
        reps: 10,
        median_ms,
        min_ms: median_ms * 0.9,
        gpu_ms,
        gpu_reps: gpu_ms.map_or(0, |_| 10),
        dispatches_per_call: (backend != "cpu").then_some(101.0),
        submits_per_call: (backend != "cpu").then_some(1.0),
        bytes_uploaded_per_call: None,
        bytes_read_per_call: None,
        buffers_created_per_call: None,
    }
}

fn fake_results() -> Vec<BenchResult> {
    vec![
        fake("stream_step", "GPU A", "Vulkan", 0.030, Some(0.010)),
        fake("small_seq", "GPU A", "Vulkan", 0.5, Some(0.16)),
        fake("long_seq", "GPU A", "Vulkan", 9.0, Some(8.0)),
        fake("medium", "GPU A", "Vulkan", 1.0, None),
        fake("2,3,4,5", "GPU A", "Vulkan", 0.1, Some(0.05)),
        fake("small_seq", "cpu (X)", "cpu", 5.0, None),
        fake("small_seq", "GPU <B> & co", "Vulkan", 0.4, Some(0.3)),
        BenchResult {
            f16_weights: true,
            ..fake("small_seq", "GPU A", "Vulkan", 0.4, Some(0.07))
        },
        BenchResult {
            f16_weights: true,
            ..fake("stream_step", "GPU A", "Vulkan", 0.030, Some(0.010))
        },
    ]
}

fn fake_cudnn() -> serde_json::Value {
    serde_json::json!({
        "device": "NVIDIA H100 80GB HBM3", "torch": "2.11.0", "cudnn": 91900,
        "fp32": {
            "stream_step": {"shape": [1, 1, 64, 256], "eager_ms": 0.084, "wall_ms": 0.1, "graph_ms": 0.0125},
            "small_seq": {"shape": [1, 100, 32, 128], "eager_ms": 0.262, "wall_ms": 0.3, "graph_ms": 0.2},
            "long_seq": {"shape": [1, 1000, 128, 512], "eager_ms": 10.6, "wall_ms": 10.7, "graph_ms": 5.0},
            "medium": {"shape": [64, 100, 128, 256], "eager_ms": 1.94, "wall_ms": 2.0, "graph_ms": 1.07}
        },
        "tf32": {}
    })
}

fn markdown_has_one_row_per_result() {
    let rs = fake_results();
    let md = markdown_table(&rs);
    let lines: Vec<&str> = md.lines().collect();
    assert_eq!(lines.len(), 2 + rs.len());
    let cols = lines[0].matches('|').count();
    for l in &lines {
        assert_eq!(
            l.matches('|').count() - l.matches("\\|").count(),
            cols,
            "{l}"
        );
    }
    assert!(lines[2].contains("| stream_step | 1,1,64,256 | stream"));
    assert!(lines[3].contains("| 101 | 1 |"), "{}", lines[3]);
}

fn svg_has_one_rect_per_bar_and_escapes_names() {
    let rs = fake_results();
    let svg = svg_chart(&rs);
    assert!(svg.starts_with("<svg "), "{}", &svg[..40]);
    assert!(svg.trim_end().ends_with("</svg>"));
    assert_eq!(svg.matches("<rect").count(), rs.len());
    assert_eq!(svg.matches("<rect").count(), svg.matches("</rect>").count());
    assert!(svg.contains("GPU &lt;B&gt; &amp; co") && !svg.contains("<B>"));
    // One GPU-time tick per result with a GPU time.
    let ticks = rs.iter().filter(|r| r.gpu_ms.is_some()).count();
    assert_eq!(svg.matches("<title>GPU ").count(), ticks);
    // Balanced tags, roughly: every opened text/title is closed.
    assert_eq!(svg.matches("<text").count(), svg.matches("</text>").count());
    assert_eq!(
        svg.matches("<title>").count(),
        svg.matches("</title>").count()
    );
    let empty = svg_chart(&[]);
    assert!(empty.starts_with("<svg") && !empty.contains("<rect"));
}

fn report_round_trips_through_json_and_lists_failures() {
    let cfgs = [
        BenchConfig::parse("1,2,3,4").unwrap(),
        BenchConfig::new("broken", 1, 2, 0, 4),
    ];
    let r = run_suite(&cfgs, &[Device::Cpu], &quick());
    assert_eq!(r.results.len(), 1);
    assert_eq!(r.failures.len(), 1);
    assert_eq!(r.failures[0].config, "broken");
    assert!(
        r.failures[0].error.contains("input_dim"),
        "{:?}",
        r.failures
    );
    let back = BenchReport::from_json(&r.to_json()).unwrap();
    // serde_json parses floats to within an ulp (not bit-exactly without float_roundtrip).
    assert_eq!(back.failures, r.failures);
    assert_eq!(back.crate_version, r.crate_version);
    assert_eq!(back.results.len(), 1);
    let (a, b) = (&back.results[0], &r.results[0]);
    assert_eq!(
        (&a.config, &a.device, a.reps, a.flop),
        (&b.config, &b.device, b.reps, b.flop)
    );
    for (x, y) in [
        (a.median_ms, b.median_ms),
        (a.min_ms, b.min_ms),
        (a.gflops, b.gflops),
    ] {
        assert!((x - y).abs() <= 1e-12 * y.abs(), "{x} vs {y}");
    }
    assert!(r.markdown().contains("- FAILED: broken on cpu"));
    assert!(matches!(
        BenchReport::from_json("{\"results\": 3}"),
        Err(Error::Json { .. })
    ));
}

fn row<'a>(md: &'a str, start: &str) -> &'a str {
    md.lines()
        .find(|l| l.starts_with(start))
        .unwrap_or_else(|| panic!("no row starting {start:?} in\n{md}"))
}

fn compare_with_cudnn_gives_the_ratios_and_goals() {
    let md = compare_with_cudnn(&fake_results(), &fake_cudnn());
    assert!(
        md.contains("NVIDIA H100 80GB HBM3 (PyTorch 2.11.0, cuDNN 91900)"),
        "{md}"
    );
    // stream_step: host 0.030 / wall 0.1 = 0.30 ≤ 0.5; GPU 0.010 / graph 0.0125 = 0.80 ≤ 1.
    let s = row(&md, "| stream_step | GPU A |");
    assert!(
        s.contains("| 0.80× | 0.30× |") && s.ends_with("| met |"),
        "{s}"
    );
    // small_seq: GPU 0.16 / 0.2 = 0.80 ≤ 0.8 (met, the bound is inclusive); host 0.5/0.3.
    let s = row(&md, "| small_seq | GPU A |");
    assert!(
        s.contains("| 0.80× | 1.67× |") && s.ends_with("| met |"),
        "{s}"
    );
    // The other device: 0.3 / 0.2 = 1.50 > 0.8.
    let s = row(&md, "| small_seq | GPU <B> & co |");
    assert!(s.contains("| 1.50× |") && s.ends_with("| missed |"), "{s}");
    // long_seq: 8 / 5 = 1.60 > 0.5.
    let s = row(&md, "| long_seq |");
    assert!(
        s.contains("| 1.60× |") && s.contains("GPU/graph ≤ 0.5×"),
        "{s}"
    );
    assert!(s.ends_with("| missed |"), "{s}");
    // medium: no GPU time: not measured, never met.
    let s = row(&md, "| medium |");
    assert!(
        s.contains("| - | 0.50× |") && s.ends_with("| not measured |"),
        "{s}"
    );
    // Custom config and the CPU result are not compared.
    assert!(!md.contains("| 2,3,4,5 |") && md.contains("2,3,4,5 on GPU A: not in the cuDNN JSON"));
    assert!(md.contains("small_seq on cpu (X): CPU result, not compared"));
    // f16 weights: their own goal (0.07 / 0.2 = 0.35 > 0.33), none for streaming.
    let s = row(&md, "| small_seq (f16 R) | GPU A |");
    assert!(
        s.contains("| 0.35× |") && s.contains("GPU/graph ≤ 0.33×") && s.ends_with("| missed |"),
        "{s}"
    );
    let s = row(&md, "| stream_step (f16 R) | GPU A |");
    assert!(s.ends_with("| - | - |"), "{s}");
    assert!(
        md.contains("goals: 2 met, 3 missed, 1 not measured"),
        "{md}"
    );
}

fn stream_goal_is_missed_when_either_half_is() {
    let cudnn = fake_cudnn();
    let md = compare_with_cudnn(
        &[fake("stream_step", "G", "Vulkan", 0.08, Some(0.01))],
        &cudnn,
    );
    assert!(row(&md, "| stream_step |").ends_with("| missed |"), "{md}");
    let md = compare_with_cudnn(
        &[fake("stream_step", "G", "Vulkan", 0.03, Some(0.02))],
        &cudnn,
    );
    assert!(row(&md, "| stream_step |").ends_with("| missed |"), "{md}");
    let md = compare_with_cudnn(&[fake("stream_step", "G", "Vulkan", 0.03, None)], &cudnn);
    assert!(
        row(&md, "| stream_step |").ends_with("| not measured |"),
        "{md}"
    );
}

/// `scripts/compare_cudnn.py` must print exactly what `compare_with_cudnn` does.
fn python_comparison_matches_the_rust_one() {
    let python = std::process::Command::new("python3")
        .arg("--version")
        .output();
    if python.is_err() {
        eprintln!("skipping: no python3 on PATH");
        return;
    }
    let dir = std::env::temp_dir().join(format!("wgpu-lstm-cmp-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let ours = dir.join("ours.json");
    let cudnn = dir.join("cudnn.json");
    let report = BenchReport::new(fake_results());
    std::fs::write(&ours, report.to_json()).unwrap();
    std::fs::write(&cudnn, fake_cudnn().to_string()).unwrap();
    let out = std::process::Command::new("python3")
        .arg(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/scripts/compare_cudnn.py"
        ))
        .arg(&ours)
        .arg(&cudnn)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "compare_cudnn.py failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let py = String::from_utf8(out.stdout).unwrap();
    let rs = compare_with_cudnn(&report.results, &fake_cudnn());
    assert_eq!(py, rs);
    std::fs::remove_dir_all(&dir).ok();
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "bench::parses_grid_names_and_shapes",
            parses_grid_names_and_shapes,
        ),
        crate::common::test(
            "bench::bad_config_strings_are_typed_errors_naming_the_input",
            bad_config_strings_are_typed_errors_naming_the_input,
        ),
        crate::common::test(
            "bench::parse_list_mixes_names_shapes_and_all",
            parse_list_mixes_names_shapes_and_all,
        ),
        crate::common::test(
            "bench::flop_and_memory_estimate_follow_the_shapes",
            flop_and_memory_estimate_follow_the_shapes,
        ),
        crate::common::gpu_test("bench::run_bench_on_the_cpu", run_bench_on_the_cpu),
        crate::common::gpu_test(
            "bench::run_bench_on_the_gpu_counts_one_submit_and_one_plus_t_dispatches",
            run_bench_on_the_gpu_counts_one_submit_and_one_plus_t_dispatches,
        ),
        crate::common::test(
            "bench::markdown_has_one_row_per_result",
            markdown_has_one_row_per_result,
        ),
        crate::common::test(
            "bench::svg_has_one_rect_per_bar_and_escapes_names",
            svg_has_one_rect_per_bar_and_escapes_names,
        ),
        crate::common::test(
            "bench::report_round_trips_through_json_and_lists_failures",
            report_round_trips_through_json_and_lists_failures,
        ),
        crate::common::test(
            "bench::compare_with_cudnn_gives_the_ratios_and_goals",
            compare_with_cudnn_gives_the_ratios_and_goals,
        ),
        crate::common::test(
            "bench::stream_goal_is_missed_when_either_half_is",
            stream_goal_is_missed_when_either_half_is,
        ),
        crate::common::test(
            "bench::python_comparison_matches_the_rust_one",
            python_comparison_matches_the_rust_one,
        ),
    ]
}
