//! The Keras oracle: every fixture on every executor — the CPU (≤ 1e-5), the GPU with each
//! recurrent kernel (≤ 1e-4), and f16 recurrent weights (against the CPU's f16 twin).

use wgpu_lstm::conformance::{self, Fixture};
use wgpu_lstm::{Device, Precision};

use crate::common::{Exec, assert_no_gpu_errors, fixtures_dir, max_abs};

fn lstm_fixtures() -> Vec<Fixture> {
    let files = conformance::fixture_files(&fixtures_dir()).expect("fixture folder readable");
    let all: Vec<Fixture> = files
        .iter()
        .map(|p| Fixture::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    let lstm: Vec<Fixture> = all.into_iter().filter(|f| f.kind == "lstm").collect();
    assert!(
        lstm.len() >= 100,
        "expected the public set (112 lstm fixtures), found {}",
        lstm.len()
    );
    lstm
}

/// Every fixture's calls on executor `ex`, each array compared with Keras's (f32) or with
/// the CPU run with the same f16 rounding (f16 recurrent weights change the numbers: their
/// error against Keras is measured in precision.rs).
fn check_all(ex: &Exec, fixtures: &[Fixture]) {
    let dev = ex.device();
    let mut failures = Vec::new();
    let mut worst = 0.0f32;
    for f in fixtures {
        let got = conformance::run_calls_with(f, &dev, &ex.options(), ex.precision());
        let want: Result<Vec<conformance::NamedArrays>, _> = match ex.precision() {
            Precision::F32 => Ok(f
                .calls
                .iter()
                .map(|c| c.outputs.clone())
                .collect::<Vec<_>>()),
            Precision::F16Weights => conformance::run_calls_with(
                f,
                &Device::Cpu,
                &Default::default(),
                Precision::F16Weights,
            ),
        };
        match (got, want) {
            (Ok(got), Ok(want)) => {
                for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                    for (name, w) in w {
                        let Some((_, g)) = g.iter().find(|(n, _)| n == name) else {
                            failures.push(format!("{} call {i}: no `{name}`", f.name));
                            continue;
                        };
                        let e = max_abs(g, w);
                        worst = worst.max(e);
                        if e > ex.tolerance() {
                            failures.push(format!("{} call {i} `{name}`: {e:e}", f.name));
                        }
                    }
                }
            }
            (Err(e), _) | (_, Err(e)) => failures.push(format!("{}: {e}", f.name)),
        }
    }
    if let Device::Gpu(ctx) = &dev {
        assert_no_gpu_errors(ctx);
    }
    assert!(
        failures.is_empty(),
        "{} failures on {}:\n{}",
        failures.len(),
        ex.name(),
        failures.join("\n")
    );
    eprintln!(
        "{}: worst error {worst:.2e} over {} fixtures",
        ex.name(),
        fixtures.len()
    );
}

/// Every `lstm`-kind fixture on every executor: the CPU (≤ 1e-5 against Keras), the GPU
/// with each recurrent kernel (≤ 1e-4: SCHEMA.md §8 allows it for a GPU exp/tanh that is
/// not correctly rounded; measured on lavapipe below 1e-6) and with f16 recurrent weights.
fn every_lstm_fixture(ex: &Exec) {
    on_every_path(ex, &lstm_fixtures());
}

/// [`check_all`]; on the CPU once per CPU kernel path (each ISA this machine has, forced
/// team sizes, small projection chunks).
fn on_every_path(ex: &Exec, fixtures: &[Fixture]) {
    if !matches!(ex, Exec::Cpu) {
        return check_all(ex, fixtures);
    }
    for path in crate::common::cpu_paths() {
        eprintln!("cpu kernels {path:?}");
        wgpu_lstm::cpu_kernels::with_options(path, || check_all(ex, fixtures)).unwrap();
    }
}

/// Every fixture of kind `stacked` and `bidirectional`, on every executor.
fn every_stacked_and_bidirectional_fixture(ex: &Exec) {
    let files = conformance::fixture_files(&fixtures_dir()).unwrap();
    let multi: Vec<Fixture> = files
        .iter()
        .map(|p| Fixture::load(p).unwrap())
        .filter(|f| f.kind != "lstm")
        .collect();
    assert!(
        multi.len() >= 9,
        "expected 9 public multi-layer fixtures, found {}",
        multi.len()
    );
    on_every_path(ex, &multi);
}

/// The GRU / SimpleRNN fixtures (`tests/fixtures/rnn`, `SCHEMA_EXT.md`): every one of them
/// (single layers of every option, stacked, bidirectional; both Keras versions), or those of
/// `RNN_FIXTURES_DIR` when set (held-out sets).
fn rnn_fixtures() -> Vec<Fixture> {
    let dir = match std::env::var_os("RNN_FIXTURES_DIR") {
        Some(d) if !d.is_empty() => std::path::PathBuf::from(d),
        _ => std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/rnn"),
    };
    let files = conformance::fixture_files(&dir).expect("rnn fixture folder readable");
    let all: Vec<Fixture> = files
        .iter()
        .map(|p| Fixture::load(p).unwrap_or_else(|e| panic!("{e}")))
        .collect();
    assert!(
        all.len() >= 300 || std::env::var_os("RNN_FIXTURES_DIR").is_some(),
        "expected the 353 GRU / SimpleRNN fixtures, found {}",
        all.len()
    );
    all
}

/// Every GRU and SimpleRNN fixture on every executor: the CPU within 1e-5 of Keras on every
/// CPU kernel path, the GPU with each recurrent kernel within 1e-4, f16 recurrent weights
/// against the CPU's twin.
fn every_gru_and_simple_rnn_fixture(ex: &Exec) {
    on_every_path(ex, &rnn_fixtures());
}

/// The vendored fixtures are byte-identical copies of the oracle (checked when the shared
/// folder is present beside the repository).
fn vendored_fixtures_are_byte_identical_to_the_oracle() {
    let shared = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/keras-fixtures");
    let vendored = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/keras");
    let Ok(rd) = std::fs::read_dir(&shared) else {
        eprintln!("{} not present; nothing to compare", shared.display());
        return;
    };
    let mut n = 0;
    for e in rd.flatten() {
        if e.path().is_file() {
            let a = std::fs::read(e.path()).unwrap();
            let b = std::fs::read(vendored.join(e.file_name()))
                .unwrap_or_else(|_| panic!("{:?} is not vendored", e.file_name()));
            assert!(a == b, "{:?} differs from the oracle", e.file_name());
            n += 1;
        }
    }
    assert!(n > 100);
}

/// A fixture that is not JSON, or lacks fields, is a typed error naming the file.
fn malformed_fixture_json_is_a_typed_error() {
    for text in [
        "{",
        "[]",
        r#"{"kind": "lstm"}"#,
        r#"{"kind":"lstm","keras_api":"keras3","config":{},"calls":[{"inputs":[[1],[2,3]]}]}"#,
    ] {
        let err = Fixture::parse(text, "bad.json".as_ref()).unwrap_err();
        assert!(matches!(err, wgpu_lstm::Error::Json { .. }), "{err:?}");
        assert!(err.to_string().contains("bad.json"), "{err}");
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let mut v = vec![
        crate::common::test(
            "fixtures::vendored_fixtures_are_byte_identical_to_the_oracle",
            vendored_fixtures_are_byte_identical_to_the_oracle,
        ),
        crate::common::test(
            "fixtures::malformed_fixture_json_is_a_typed_error",
            malformed_fixture_json_is_a_typed_error,
        ),
    ];
    v.extend(crate::common::suite(
        "fixtures::every_lstm_fixture",
        every_lstm_fixture,
    ));
    v.extend(crate::common::suite(
        "fixtures::every_stacked_and_bidirectional_fixture",
        every_stacked_and_bidirectional_fixture,
    ));
    v.extend(crate::common::suite(
        "fixtures::every_gru_and_simple_rnn_fixture",
        every_gru_and_simple_rnn_fixture,
    ));
    v
}
