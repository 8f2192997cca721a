//! Sizes and allocations driven by user input: every size product is checked (overflow is a
//! typed error), every host allocation a user size drives is checked against the budget
//! before any work starts, and the errors name the field — through the library and through
//! the CLI (exit 2, a message, never a panic, an abort or a hang). Also: messages that name
//! the real problem (a bit-flipped `.npy` dtype, a non-numeric `mask_value`), bool `.npy`
//! masks, and a CLI that survives a closed stdout.

use std::io::{BufRead, BufReader, Cursor, Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ndarray::{Array2, Array3, ArrayD, IxDyn};
use serde_json::{Value, json};
use wgpu_lstm::bench::{BenchCase, BenchConfig, BenchOptions, run_bench};
use wgpu_lstm::conformance::{Fixture, json_array};
use wgpu_lstm::describe::describe_layer;
use wgpu_lstm::keras::{self, LayerSpec, ModelFile};
use wgpu_lstm::model::Model;
use wgpu_lstm::{Device, Error, Lstm, LstmConfig, LstmInput, LstmState, LstmWeights, host_memory};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_wgpu-lstm"))
}

fn demo_model() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/sine_forecaster.keras")
}

fn tempdir(tag: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("wgpu-lstm-sizes-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Runs the CLI and returns (exit code, stdout, stderr), asserting no panic.
fn cli(args: &[&str]) -> (Option<i32>, String, String) {
    let out = bin().args(args).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    (out.status.code(), stdout, stderr)
}

/// The CLI refuses with exit 2, a message on stderr containing every `needles`, no panic.
fn cli_refuses(args: &[&str], needles: &[&str]) -> String {
    let (code, _, stderr) = cli(args);
    assert_eq!(code, Some(2), "{args:?}: {stderr}");
    assert!(stderr.starts_with("error: "), "{args:?}: {stderr}");
    for n in needles {
        assert!(stderr.contains(n), "{args:?}: `{n}` not in {stderr}");
    }
    stderr
}

fn is_field(e: &Error, name: &str) -> bool {
    match e {
        Error::Config { field, .. } => field == name,
        Error::Layer { source, .. } => is_field(source, name),
        _ => false,
    }
}

// ---------------------------------------------------------------------------------------
// conformance JSON: ragged arrays are refused before anything is reserved
// ---------------------------------------------------------------------------------------

/// `[[first, 0, 0, ...], 0, 0, ...]` nested `depth` times, each list `len` long: the first
/// elements claim `len^depth` numbers, the value holds about `len·depth`.
fn claims_huge(depth: usize, len: usize) -> Value {
    let mut v = json!(0.5);
    for _ in 0..depth {
        let mut items = vec![v];
        items.extend(std::iter::repeat_n(json!(0), len - 1));
        v = Value::Array(items);
    }
    v
}

fn ragged_json_arrays_are_typed_errors_that_name_the_place() {
    let cases: Vec<(Value, &str)> = vec![
        // a long first row claims (3, 100000)
        (json!([vec![0; 100_000], [1], [2]]), "x[1] is a list of 1"),
        // 1000^6 elements claimed (4e18 bytes): used to abort or panic "capacity overflow"
        (claims_huge(6, 1000), "x[0][0][0][0][1] is a number"),
        // a product past usize::MAX: used to overflow
        (claims_huge(8, 1000), "x[0][0][0][0][0][0][1] is a number"),
        // a number where a list belongs, and a list where a number belongs
        (json!([[1, 2], 3]), "x[1] is a number"),
        (json!([[1, 2], [3, [4]]]), "x[1][1] is a list of 1"),
        // not numbers at all
        (json!([[1, "2"]]), "x[0][1] is a string"),
        (json!([[1, null]]), "x[0][1] is null"),
        (json!([[1], {}]), "x[1] is an object"),
        (
            json!([[[1, 2], [3, 4]], [[5, 6], [7]]]),
            "x[1][1] is a list of 1",
        ),
        (json!([[], [1]]), "x[1] is a list of 1"),
    ];
    for (v, at) in cases {
        let start = Instant::now();
        let e = json_array(&v, "x").unwrap_err();
        assert!(matches!(e, Error::Json { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("not a rectangular array") && msg.contains(at),
            "{msg}"
        );
        assert!(start.elapsed() < Duration::from_secs(5), "{msg}");
    }
    // deep but rectangular nesting is fine, and so is a ragged one at the bottom
    let mut deep = json!([1.5]);
    for _ in 0..100 {
        deep = json!([deep]);
    }
    let a = json_array(&deep, "deep").unwrap();
    assert_eq!((a.ndim(), a.len()), (101, 1));
    let mut ragged_deep = json!([[1.0], [2.0, 3.0]]);
    for _ in 0..100 {
        ragged_deep = json!([ragged_deep]);
    }
    let msg = json_array(&ragged_deep, "deep").unwrap_err().to_string();
    assert!(
        msg.contains(&format!("{}[1] is a list of 2", "[0]".repeat(100))),
        "{msg}"
    );
}

/// A fixture file whose call inputs are `inputs`.
fn fixture_text(inputs: &Value) -> String {
    json!({
        "kind": "lstm",
        "keras_api": "keras3",
        "config": {"units": 1},
        "weights": {"kernel": [[0, 0, 0, 0]], "recurrent_kernel": [[0, 0, 0, 0]], "bias": [0, 0, 0, 0]},
        "calls": [{"inputs": inputs, "outputs": {"output": [[0]]}}],
    })
    .to_string()
}

fn ragged_fixture_files_fail_with_the_file_and_field_named() {
    for (inputs, at) in [
        (claims_huge(6, 1000), "inputs[0][0][0][0][1] is a number"),
        (claims_huge(3, 20_000), "inputs[0][1] is a number"),
        (json!([[[1]], [[2], [3]]]), "inputs[1] is a list of 2"),
    ] {
        let e = Fixture::parse(&fixture_text(&inputs), "ragged.json".as_ref()).unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::Json { .. }), "{e:?}");
        assert!(msg.contains("ragged.json") && msg.contains(at), "{msg}");
    }
    // through the CLI: the file is reported as a failed fixture, no abort, no panic
    let dir = tempdir("ragged");
    std::fs::write(dir.join("ragged.json"), fixture_text(&claims_huge(6, 1000))).unwrap();
    let (code, stdout, _) = cli(&["conformance", dir.to_str().unwrap()]);
    assert_eq!(code, Some(1), "{stdout}");
    assert!(
        stdout.contains("FAIL")
            && stdout.contains("ragged")
            && stdout.contains("inputs[0][0][0][0][1] is a number"),
        "{stdout}"
    );
    assert!(stdout.ends_with("0 passed, 1 failed\n"), "{stdout}");
}

// ---------------------------------------------------------------------------------------
// units and parameter counts: checked arithmetic
// ---------------------------------------------------------------------------------------

fn describe_refuses_units_whose_sizes_overflow() {
    for units in ["2147483648", "4611686018427387904", "9223372036854775808"] {
        let err = cli_refuses(
            &["describe", "--units", units, "--input-dim", "3"],
            &["units", units],
        );
        assert!(err.contains("too large"), "{err}");
    }
    // the input_dim term of the count overflows: named
    cli_refuses(
        &[
            "describe",
            "--units",
            "4",
            "--input-dim",
            "4611686018427387904",
        ],
        &["input_dim", "overflows"],
    );
    // the largest units that still fits describes itself with exact counts
    let (code, out, err) = cli(&["describe", "--units", "536870912", "--input-dim", "3"]);
    assert_eq!(code, Some(0), "{err}");
    let g = 4u128 * 536_870_912;
    let want = g * 3 + g * 536_870_912 + g;
    assert!(out.contains(&format!("parameters: {want}")), "{out}");
    assert!(!out.contains("= 0 params"), "{out}");
}

fn the_library_checks_units_and_counts() {
    for units in [1usize << 31, 1 << 62, 1 << 63, usize::MAX] {
        let cfg = LstmConfig::new(units);
        assert!(is_field(&cfg.validate().unwrap_err(), "units"), "{units}");
        assert!(is_field(&cfg.param_count(3).unwrap_err(), "units"));
        assert!(is_field(
            &describe_layer(&cfg, 3, None, None).unwrap_err(),
            "units"
        ));
        let e = Lstm::with_default_weights(cfg.clone(), 1, 0).unwrap_err();
        assert!(is_field(&e, "units"), "{e:?}");
    }
    let e = LstmConfig::new(4).param_count(usize::MAX / 16).unwrap_err();
    assert!(is_field(&e, "input_dim"), "{e:?}");
    assert_eq!(LstmConfig::new(4).param_count(3).unwrap(), 128);
}

fn default_weights_check_memory_before_any_work() {
    // 2^20 units: a 16 TiB recurrent kernel, refused at once (the O(U³) initializer
    // would otherwise run for ages before the allocation failed)
    let start = Instant::now();
    let e = Lstm::with_default_weights(LstmConfig::new(1 << 20), 1, 0).unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(
        msg.contains("units=1048576") && msg.contains("WGPU_LSTM_HOST_MEMORY_BUDGET"),
        "{msg}"
    );
    let e = LstmWeights::keras_default(usize::MAX / 4, &LstmConfig::new(1), 0).unwrap_err();
    assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
    assert!(start.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------
// states and calls
// ---------------------------------------------------------------------------------------

fn stateful(units: usize, device: &Device) -> Lstm {
    let cfg = LstmConfig {
        stateful: true,
        ..LstmConfig::new(units)
    };
    let w = LstmWeights::keras_default(2, &cfg, 3).unwrap();
    Lstm::on_device(cfg, w, device).unwrap()
}

fn devices() -> Vec<Device> {
    let mut v = vec![Device::Cpu];
    if let Some(ctx) = crate::common::gpu() {
        v.push(Device::Gpu(ctx));
    }
    v
}

fn init_states_of_absurd_batches_are_typed_errors() {
    for dev in devices() {
        let mut l = stateful(64, &dev);
        let e = l.init_states(usize::MAX / 2).unwrap_err();
        assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
        // 1e9 rows of 64 units: 512 GB of h and c
        let e = l.init_states(1_000_000_000).unwrap_err();
        assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
        assert!(e.to_string().contains("1000000000"), "{e}");
        // nothing changed: no state, and a normal batch still works
        assert!(l.states().unwrap().is_none());
        l.init_states(3).unwrap();
        assert_eq!(l.states().unwrap().unwrap().batch(), 3);
    }
    let e = LstmState::zeros(usize::MAX / 2, 2).unwrap_err();
    assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
}

fn broadcast_inputs_of_huge_batches_are_refused_on_the_cpu() {
    let one = Array3::<f32>::ones((1, 1, 2));
    // B = 2^40 rows that occupy 8 bytes: the CPU path would copy them (and project them)
    let huge = one.broadcast((1usize << 40, 1, 2)).unwrap();
    let mut l = stateful(4, &Device::Cpu);
    let e = l.forward(huge).unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    let msg = e.to_string();
    assert!(msg.contains("(1099511627776, 1, 2)"), "{msg}");
    // refused before the stateful bookkeeping: the layer still takes any batch
    assert!(l.states().unwrap().is_none());
    l.forward(Array3::<f32>::ones((3, 2, 2)).view()).unwrap();
    assert_eq!(l.states().unwrap().unwrap().batch(), 3);
    // B·T·4U past isize::MAX bytes: an overflow, named
    let mut l = Lstm::with_default_weights(LstmConfig::new(4), 2, 0).unwrap();
    let e = l
        .forward(one.broadcast((1usize << 40, 1usize << 21, 2)).unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
    // a broadcast initial state is refused too (it would be copied)
    let x = one.broadcast((1usize << 40, 1, 2)).unwrap();
    let h = Array2::<f32>::zeros((1, 4));
    let hb = h.broadcast((1usize << 40, 4)).unwrap();
    let e = l
        .call(LstmInput::new(x).initial_state(hb.view(), hb.view()))
        .unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    // a model on the CPU
    let bytes = std::fs::read(demo_model()).unwrap();
    let mut m = Model::from_keras_bytes(&bytes, "demo", &Device::Cpu).unwrap();
    let one = Array3::<f32>::ones((1, 1, 1));
    let e = m
        .predict(one.broadcast((1usize << 40, 1, 1)).unwrap())
        .unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    // the same broadcast is fine when small, and equals the copied input
    let small = Array3::<f32>::ones((1, 3, 1));
    let b = m.predict(small.broadcast((4, 3, 1)).unwrap()).unwrap();
    let c = m.predict(Array3::<f32>::ones((4, 3, 1)).view()).unwrap();
    assert_eq!(b, c);
}

fn broadcast_inputs_of_huge_batches_are_errors_on_the_gpu() {
    let Some(ctx) = crate::common::gpu() else {
        return;
    };
    let one = Array3::<f32>::ones((1, 1, 2));
    let huge = one.broadcast((1usize << 40, 1, 2)).unwrap();
    let mut l = Lstm::on_device(
        LstmConfig::new(4),
        LstmWeights::keras_default(2, &LstmConfig::new(4), 0).unwrap(),
        &Device::Gpu(ctx),
    )
    .unwrap();
    assert!(l.forward(huge).is_err());
}

// ---------------------------------------------------------------------------------------
// bench configurations: validated, memory included, before any initialisation
// ---------------------------------------------------------------------------------------

fn bench_refuses_huge_configs_quickly_through_the_cli() {
    let start = Instant::now();
    // U = 100000: a 160 GB recurrent kernel, refused before the O(U³) initializer
    let err = cli_refuses(
        &["bench", "--config", "1,1,1,100000", "--device", "cpu"],
        &["recurrent_kernel", "100000", "host-memory budget"],
    );
    assert!(err.contains("bench config `1,1,1,100000`"), "{err}");
    // the default device (gpu) too: the shape is refused before a device is looked for
    cli_refuses(
        &["bench", "--config", "1,1,1,100000"],
        &["recurrent_kernel"],
    );
    // B = 4e9 rows: the CPU call needs ~100 GB, refused before any input is drawn
    cli_refuses(
        &["bench", "--config", "4000000000,1,1,1", "--device", "cpu"],
        &["4000000000", "host-memory budget"],
    );
    // too many calls: named
    cli_refuses(
        &[
            "bench",
            "--config",
            "1,1,1,1",
            "--device",
            "cpu",
            "--reps",
            "18446744073709551615",
        ],
        &["reps"],
    );
    // a scratch budget whose bytes overflow: named, not wrapped
    cli_refuses(
        &[
            "bench",
            "--config",
            "1,1,1,1",
            "--device",
            "cpu",
            "--scratch-budget-mib",
            "18446744073709551615",
        ],
        &["scratch-budget-mib", "overflows"],
    );
    assert!(start.elapsed() < Duration::from_secs(30));
}

fn bench_refuses_huge_configs_through_the_library() {
    let e = BenchConfig::parse("1,1,1,100000").unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    // U past what an LSTM can be: the units field, not a generic message
    let e = BenchConfig::parse("1,1,1,4611686018427387904").unwrap_err();
    assert!(is_field(&e, "units"), "{e:?}");
    let big_b = BenchConfig::new("b", 4_000_000_000, 1, 1, 1);
    let e = BenchCase::new(&big_b, &Device::Cpu, 0).unwrap_err();
    assert!(matches!(e, Error::HostMemory { .. }), "{e:?}");
    let e = BenchConfig::new("o", usize::MAX / 2, 4, 1, 1)
        .check_host_memory(&Device::Cpu)
        .unwrap_err();
    assert!(matches!(e, Error::SizeOverflow { .. }), "{e:?}");
    assert_eq!(
        BenchConfig::new("o", usize::MAX, usize::MAX, 1, 1).flop(),
        u64::MAX
    );
    let opts = BenchOptions {
        reps: usize::MAX,
        ..BenchOptions::quick()
    };
    let e = run_bench(
        &BenchConfig::new("t", 1, 1, 1, 1),
        &Device::Cpu,
        &opts,
        |_, _| {},
    )
    .unwrap_err();
    assert!(is_field(&e, "reps"), "{e:?}");
}

fn the_budget_is_reported_and_configurable_per_process() {
    let budget = host_memory::host_memory_budget().unwrap();
    assert!(budget > 0);
    // a 1 KiB budget through the environment refuses even a small run, naming it
    let (code, _, err) = {
        let out = bin()
            .env("WGPU_LSTM_HOST_MEMORY_BUDGET", "1K")
            .args(["bench", "--config", "2,3,4,5", "--device", "cpu"])
            .output()
            .unwrap();
        (
            out.status.code(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("budget of 1024 bytes"), "{err}");
    // a value that is not a byte count is refused by name, not ignored
    let out = bin()
        .env("WGPU_LSTM_HOST_MEMORY_BUDGET", "lots")
        .args(["bench", "--config", "2,3,4,5", "--device", "cpu"])
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("WGPU_LSTM_HOST_MEMORY_BUDGET") && err.contains("lots"),
        "{err}"
    );
}

// ---------------------------------------------------------------------------------------
// Masking(mask_value=...) must be a number
// ---------------------------------------------------------------------------------------

/// The demo model's layers with a Masking layer of `mask_value` inserted after the input.
fn demo_with_masking(mask_value: Option<Value>) -> ModelFile {
    let bytes = std::fs::read(demo_model()).unwrap();
    let mut file = keras::load_keras_bytes(&bytes, "demo").unwrap();
    let mut config = json!({"name": "masking"});
    if let Some(v) = mask_value {
        config["mask_value"] = v;
    }
    file.layers.insert(
        1,
        LayerSpec {
            class_name: "Masking".into(),
            name: "masking".into(),
            config,
            weights: vec![],
            module: Some("keras.layers".into()),
            ..Default::default()
        },
    );
    file
}

fn masking_values_that_are_not_numbers_are_refused() {
    for bad in [json!("banana"), json!(true), json!([0.0]), json!({"v": 0})] {
        let e = keras::plan_from_model_file(&demo_with_masking(Some(bad.clone()))).unwrap_err();
        assert!(is_field(&e, "mask_value"), "{bad}: {e:?}");
        let msg = e.to_string();
        assert!(
            msg.contains("masking") && msg.contains(&bad.to_string()),
            "{msg}"
        );
    }
    // a number, null and absent (Keras's default 0.0) are read as such
    for (v, want) in [
        (Some(json!(-1.5)), -1.5f32),
        (Some(json!(3)), 3.0),
        (Some(Value::Null), 0.0),
        (None, 0.0),
    ] {
        let plan = keras::plan_from_model_file(&demo_with_masking(v)).unwrap();
        let got = match &plan.nodes[0].layer {
            wgpu_lstm::layers::Layer::Masking(m) => m.mask_value,
            other => panic!("{other:?}"),
        };
        assert_eq!(got, want);
    }
}

fn a_merge_mode_that_is_not_a_name_is_refused() {
    let mut file = demo_with_masking(None);
    file.layers[2] = LayerSpec {
        class_name: "Bidirectional".into(),
        name: "bidi".into(),
        config: json!({"name": "bidi", "merge_mode": 5, "layer": {"config": {"units": 32}}}),
        weights: vec![],
        ..Default::default()
    };
    let e = keras::plan_from_model_file(&file).unwrap_err();
    assert!(is_field(&e, "merge_mode"), "{e:?}");
    assert!(
        e.to_string().contains("bidi") && e.to_string().contains("got 5"),
        "{e}"
    );
}

/// The members of a zip archive.
fn zip_members(bytes: &[u8]) -> Vec<(String, Vec<u8>)> {
    let mut z = zip::ZipArchive::new(Cursor::new(bytes)).unwrap();
    (0..z.len())
        .map(|i| {
            let mut f = z.by_index(i).unwrap();
            let mut v = Vec::new();
            f.read_to_end(&mut v).unwrap();
            (f.name().unwrap().into_owned(), v)
        })
        .collect()
}

fn a_keras_file_with_a_banana_mask_value_is_refused_by_the_cli() {
    let bytes = std::fs::read(demo_model()).unwrap();
    let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, mut data) in zip_members(&bytes) {
        if name == "config.json" {
            let mut config: Value = serde_json::from_slice(&data).unwrap();
            let layers = config["config"]["layers"].as_array_mut().unwrap();
            layers.insert(
                1,
                json!({
                    "module": "keras.layers",
                    "class_name": "Masking",
                    "config": {"name": "masking", "trainable": true, "dtype": "float32", "mask_value": "banana"},
                    "registered_name": null,
                }),
            );
            data = serde_json::to_vec(&config).unwrap();
        }
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(&data).unwrap();
    }
    let dir = tempdir("banana");
    let path = dir.join("banana.keras");
    std::fs::write(&path, w.finish().unwrap().into_inner()).unwrap();
    cli_refuses(
        &["describe", path.to_str().unwrap()],
        &["mask_value", "banana", "masking"],
    );
    // the library says the same through Model::load
    let e = Model::load(&path, &Device::Cpu).unwrap_err();
    assert!(is_field(&e, "mask_value"), "{e:?}");
}

// ---------------------------------------------------------------------------------------
// .npy: a bit-flipped dtype is named as damage; bool masks are read
// ---------------------------------------------------------------------------------------

/// Bytes of an `.npy` file with the given descr, shape and raw data (format 1.0).
fn npy_bytes(descr: &str, shape: &[usize], data: &[u8]) -> Vec<u8> {
    let dims: Vec<String> = shape.iter().map(usize::to_string).collect();
    let shape = match dims.len() {
        1 => format!("({},)", dims[0]),
        _ => format!("({})", dims.join(", ")),
    };
    let header = format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {shape}, }}");
    let pad = (64 - (10 + header.len() + 1) % 64) % 64;
    let full = format!("{header}{}\n", " ".repeat(pad));
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend_from_slice(&(full.len() as u16).to_le_bytes());
    bytes.extend_from_slice(full.as_bytes());
    bytes.extend_from_slice(data);
    bytes
}

fn a_bit_flipped_dtype_is_reported_as_damage() {
    let x = ArrayD::<f32>::zeros(IxDyn(&[1, 4, 1]));
    let good = keras::npy_f32_bytes(&x.view());
    let at = good.windows(5).position(|w| w == b"'<f4'").unwrap() + 1;
    let dir = tempdir("flip");
    for (bit, needle) in [
        (0x01u8, "byte order '=' (native)"),
        (0x40, "byte order '|' (not applicable)"),
    ] {
        let mut b = good.clone();
        b[at] ^= bit;
        let e = keras::read_npy_f32_bytes(&b, "x.npy").unwrap_err();
        let msg = e.to_string();
        assert!(matches!(e, Error::ModelFile { .. }), "{e:?}");
        assert!(msg.contains(needle) && msg.contains("damaged"), "{msg}");
        assert!(!msg.contains("(float32) is not"), "{msg}");
        let path = dir.join(format!("flip{bit}.npy"));
        std::fs::write(&path, &b).unwrap();
        cli_refuses(
            &[
                "run",
                demo_model().to_str().unwrap(),
                "--input",
                path.to_str().unwrap(),
                "--device",
                "cpu",
            ],
            &[needle, "damaged", path.to_str().unwrap()],
        );
    }
}

fn run_accepts_a_bool_mask_like_the_float_one() {
    let dir = tempdir("mask");
    let (b, t) = (2usize, 6usize);
    let x = ArrayD::from_shape_fn(IxDyn(&[b, t, 1]), |i| (i[0] * t + i[1]) as f32 * 0.1 - 0.4);
    let valid: Vec<bool> = (0..b * t).map(|i| i % 4 != 1 && i != 6).collect();
    let xin = dir.join("x.npy");
    keras::write_npy_f32(&xin, &x.view()).unwrap();
    let bool_mask = dir.join("mask_bool.npy");
    let bool_data: Vec<u8> = valid.iter().map(|&v| v as u8).collect();
    std::fs::write(&bool_mask, npy_bytes("|b1", &[b, t], &bool_data)).unwrap();
    let float_mask = dir.join("mask_f32.npy");
    let mf = ArrayD::from_shape_vec(
        IxDyn(&[b, t]),
        valid
            .iter()
            .map(|&v| if v { 1.0f32 } else { 0.0 })
            .collect(),
    )
    .unwrap();
    keras::write_npy_f32(&float_mask, &mf.view()).unwrap();
    let mut outputs = Vec::new();
    for (mask, name) in [
        (&bool_mask, "yb.npy"),
        (&float_mask, "yf.npy"),
        (&xin, "yn.npy"),
    ] {
        let y = dir.join(name);
        let mut args = vec![
            "run",
            demo_model().to_str().unwrap(),
            "--input",
            xin.to_str().unwrap(),
            "--output",
            y.to_str().unwrap(),
            "--device",
            "cpu",
        ]
        .into_iter()
        .map(String::from)
        .collect::<Vec<_>>();
        if mask != &xin {
            args.extend(["--mask".to_string(), mask.to_str().unwrap().to_string()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, err) = cli(&args);
        assert_eq!(code, Some(0), "{err}");
        outputs.push(keras::read_npy_f32(&y).unwrap());
    }
    // the bool mask gives exactly the float mask's result, and the mask matters
    assert_eq!(outputs[0], outputs[1]);
    assert_ne!(outputs[0], outputs[2]);
    // and the library agrees with the CLI
    let bytes = std::fs::read(demo_model()).unwrap();
    let mut m = Model::from_keras_bytes(&bytes, "demo", &Device::Cpu).unwrap();
    let mask = keras::read_npy_mask(&bool_mask).unwrap();
    let y = m.call(x.view(), Some(mask.view())).unwrap();
    assert_eq!(y.output(), &outputs[0]);
    // a bool byte that is neither 0 nor 1 is damage, named
    let bad = dir.join("bad_mask.npy");
    let mut data = bool_data.clone();
    data[3] = 7;
    std::fs::write(&bad, npy_bytes("|b1", &[b, t], &data)).unwrap();
    cli_refuses(
        &[
            "run",
            demo_model().to_str().unwrap(),
            "--input",
            xin.to_str().unwrap(),
            "--mask",
            bad.to_str().unwrap(),
            "--device",
            "cpu",
        ],
        &["bad_mask.npy", "element 3", "0x07"],
    );
}

// ---------------------------------------------------------------------------------------
// stdout closed early: no panic, the process exits
// ---------------------------------------------------------------------------------------

/// Spawns the CLI, reads one line of stdout, closes the pipe and waits (at most `limit`):
/// returns (exited in time, stderr).
fn read_one_line_then_close(args: &[&str], limit: Duration) -> (bool, String) {
    let mut child = bin()
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    assert!(!line.is_empty(), "{args:?}: no first line");
    // the reader is dropped here: the pipe is closed
    let start = Instant::now();
    let exited = loop {
        if child.try_wait().unwrap().is_some() {
            break true;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            break false;
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    let _ = child.wait();
    (exited, stderr)
}

fn describe_piped_into_head_never_panics() {
    let model = demo_model();
    for _ in 0..50 {
        let (exited, stderr) = read_one_line_then_close(
            &["describe", model.to_str().unwrap()],
            Duration::from_secs(60),
        );
        assert!(exited, "describe did not exit: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
    }
}

fn long_outputs_end_quietly_when_stdout_closes() {
    // the demo streams a line per step: it is still writing when the pipe closes, so it
    // must see the broken pipe and stop (not panic, not run a million steps)
    let (exited, stderr) = read_one_line_then_close(
        &["demo", "--device", "cpu", "--steps", "1000000"],
        Duration::from_secs(60),
    );
    assert!(exited, "the demo kept running: {stderr}");
    assert!(
        !stderr.contains("panicked") && stderr.is_empty(),
        "{stderr}"
    );
    let (exited, stderr) = read_one_line_then_close(
        &["describe", "--units", "8", "--input-dim", "3"],
        Duration::from_secs(60),
    );
    assert!(exited && !stderr.contains("panicked"), "{stderr}");
}

pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "sizes::ragged_json_arrays_are_typed_errors_that_name_the_place",
            ragged_json_arrays_are_typed_errors_that_name_the_place,
        ),
        crate::common::test(
            "sizes::ragged_fixture_files_fail_with_the_file_and_field_named",
            ragged_fixture_files_fail_with_the_file_and_field_named,
        ),
        crate::common::test(
            "sizes::describe_refuses_units_whose_sizes_overflow",
            describe_refuses_units_whose_sizes_overflow,
        ),
        crate::common::test(
            "sizes::the_library_checks_units_and_counts",
            the_library_checks_units_and_counts,
        ),
        crate::common::test(
            "sizes::default_weights_check_memory_before_any_work",
            default_weights_check_memory_before_any_work,
        ),
        crate::common::test(
            "sizes::init_states_of_absurd_batches_are_typed_errors",
            init_states_of_absurd_batches_are_typed_errors,
        ),
        crate::common::test(
            "sizes::broadcast_inputs_of_huge_batches_are_refused_on_the_cpu",
            broadcast_inputs_of_huge_batches_are_refused_on_the_cpu,
        ),
        crate::common::gpu_test(
            "sizes::broadcast_inputs_of_huge_batches_are_errors_on_the_gpu",
            broadcast_inputs_of_huge_batches_are_errors_on_the_gpu,
        ),
        crate::common::test(
            "sizes::bench_refuses_huge_configs_quickly_through_the_cli",
            bench_refuses_huge_configs_quickly_through_the_cli,
        ),
        crate::common::test(
            "sizes::bench_refuses_huge_configs_through_the_library",
            bench_refuses_huge_configs_through_the_library,
        ),
        crate::common::test(
            "sizes::the_budget_is_reported_and_configurable_per_process",
            the_budget_is_reported_and_configurable_per_process,
        ),
        crate::common::test(
            "sizes::masking_values_that_are_not_numbers_are_refused",
            masking_values_that_are_not_numbers_are_refused,
        ),
        crate::common::test(
            "sizes::a_merge_mode_that_is_not_a_name_is_refused",
            a_merge_mode_that_is_not_a_name_is_refused,
        ),
        crate::common::test(
            "sizes::a_keras_file_with_a_banana_mask_value_is_refused_by_the_cli",
            a_keras_file_with_a_banana_mask_value_is_refused_by_the_cli,
        ),
        crate::common::test(
            "sizes::a_bit_flipped_dtype_is_reported_as_damage",
            a_bit_flipped_dtype_is_reported_as_damage,
        ),
        crate::common::test(
            "sizes::run_accepts_a_bool_mask_like_the_float_one",
            run_accepts_a_bool_mask_like_the_float_one,
        ),
        crate::common::test(
            "sizes::describe_piped_into_head_never_panics",
            describe_piped_into_head_never_panics,
        ),
        crate::common::test(
            "sizes::long_outputs_end_quietly_when_stdout_closes",
            long_outputs_end_quietly_when_stdout_closes,
        ),
    ]
}
