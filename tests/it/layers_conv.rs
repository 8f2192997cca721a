//! The time-axis layers (Conv1D, MaxPooling1D, AveragePooling1D, GlobalMaxPooling1D,
//! GlobalAveragePooling1D, ZeroPadding1D, Cropping1D) on every executor:
//!
//! * `keras_cases`: every real-Keras case of `tests/fixtures/layers/` (made by
//!   `scripts/gen_fixtures/gen_layer_cases.py`, Keras 3 and tf_keras), built from the
//!   layer's Keras config and weights: the CPU equals Keras within
//!   1e-5 (NaN where Keras gives NaN), the GPU equals the CPU, and the output carries a mask
//!   exactly when Keras's did;
//! * random configurations on odd sizes, checked against the formulas written out here
//!   (f64, independent of the crate's code);
//! * sizes past the loop budget (a reduction over more than 65 535 channels, a pooling
//!   window of 33 000 steps, 100 000 steps of global pooling) and a device allowing 3
//!   workgroups per dimension;
//! * mask rules per Keras version and typed errors for bad configurations.

use std::path::{Path, PathBuf};

use ndarray::{Array1, Array2, Array3, ArrayD, Axis, Ix1, Ix2, Ix3, IxDyn};
use rand::Rng;
use rand::rngs::StdRng;
use serde_json::{Value as Json, json};
use wgpu_lstm::gpu::{CallOptions, KernelChoice};
use wgpu_lstm::keras::read_npy_f32;
use wgpu_lstm::layers::activation_layer::LayerActivation;
use wgpu_lstm::layers::conv1d::{ConvPadding, DataFormat};
use wgpu_lstm::layers::pooling::PoolMode;
use wgpu_lstm::layers::{
    Conv1D, Cropping1D, GlobalPooling1D, Layer, Masking, Pooling1D, ZeroPadding1D,
};
use wgpu_lstm::model::{Model, ModelInput};
use wgpu_lstm::plan::Plan;
use wgpu_lstm::tensor::TensorInfo;
use wgpu_lstm::{Activation, Device, Error, KerasFlavour, Precision};

use crate::common::{Exec, assert_no_gpu_errors, gpu, max_abs, random, random_mask, rng};
use crate::layers::check_plan;

fn execs() -> [Exec; 2] {
    [Exec::Cpu, Exec::Gpu(KernelChoice::Auto, Precision::F32)]
}

// ------------------------------------------------------------------ reference math

/// (B, A1, A2) in `fmt` → element (b, t, c).
fn at(x: &Array3<f32>, fmt: DataFormat, b: usize, t: usize, c: usize) -> f64 {
    match fmt {
        DataFormat::ChannelsLast => x[[b, t, c]] as f64,
        DataFormat::ChannelsFirst => x[[b, c, t]] as f64,
    }
}

/// (steps, channels) of a (B, A1, A2) array in `fmt`.
fn tc(x: &Array3<f32>, fmt: DataFormat) -> (usize, usize) {
    let (_, a1, a2) = x.dim();
    match fmt {
        DataFormat::ChannelsLast => (a1, a2),
        DataFormat::ChannelsFirst => (a2, a1),
    }
}

/// A (B, L, C) result put into `fmt`.
fn put(y: Array3<f64>, fmt: DataFormat) -> ArrayD<f32> {
    let y = y.mapv(|v| v as f32);
    match fmt {
        DataFormat::ChannelsLast => y.into_dyn(),
        DataFormat::ChannelsFirst => y
            .permuted_axes([0, 2, 1])
            .as_standard_layout()
            .into_owned()
            .into_dyn(),
    }
}

/// Output length and left padding, as TensorFlow pads (written out again here).
fn geometry(
    t: usize,
    k: usize,
    s: usize,
    d: usize,
    padding: ConvPadding,
) -> Option<(usize, usize)> {
    let span = d * (k - 1) + 1;
    match padding {
        ConvPadding::Valid => (t >= span).then(|| ((t - span) / s + 1, 0)),
        ConvPadding::Same => {
            let l = t.div_ceil(s);
            let total = ((l - 1) * s + span).saturating_sub(t);
            Some((l, total / 2))
        }
        ConvPadding::Causal => Some((t.div_ceil(s), span - 1)),
    }
}

fn conv_ref(c: &Conv1D, x: &Array3<f32>) -> ArrayD<f32> {
    let fmt = c.data_format;
    let (t, _) = tc(x, fmt);
    let (k, cg, f) = c.kernel.dim();
    let fg = f / c.groups;
    let (l, pad) = geometry(t, k, c.strides, c.dilation_rate, c.padding).unwrap();
    let b = x.dim().0;
    let mut y = Array3::<f64>::zeros((b, l, f));
    for bi in 0..b {
        for li in 0..l {
            for fi in 0..f {
                let g = fi / fg;
                let mut acc = c.bias.as_ref().map_or(0.0, |b| b[fi] as f64);
                for tap in 0..k {
                    let p = (li * c.strides + tap * c.dilation_rate) as isize - pad as isize;
                    if p < 0 || p >= t as isize {
                        continue;
                    }
                    for ci in 0..cg {
                        acc += at(x, fmt, bi, p as usize, g * cg + ci)
                            * c.kernel[[tap, ci, fi]] as f64;
                    }
                }
                y[[bi, li, fi]] = acc;
            }
        }
    }
    let mut y = put(y, fmt);
    c.activation.apply(&mut y);
    y
}

fn pool_ref(p: &Pooling1D, x: &Array3<f32>) -> ArrayD<f32> {
    let fmt = p.data_format;
    let (t, ch) = tc(x, fmt);
    let (l, pad) = geometry(t, p.pool_size, p.strides, 1, p.padding).unwrap();
    let b = x.dim().0;
    let mut y = Array3::<f64>::zeros((b, l, ch));
    for bi in 0..b {
        for li in 0..l {
            for ci in 0..ch {
                let vals: Vec<f64> = (0..p.pool_size)
                    .map(|j| (li * p.strides + j) as isize - pad as isize)
                    .filter(|&s| s >= 0 && s < t as isize)
                    .map(|s| at(x, fmt, bi, s as usize, ci))
                    .collect();
                assert!(!vals.is_empty());
                y[[bi, li, ci]] = match p.mode {
                    PoolMode::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max),
                    PoolMode::Average => vals.iter().sum::<f64>() / vals.len() as f64,
                };
            }
        }
    }
    put(y, fmt)
}

fn global_ref(g: &GlobalPooling1D, x: &Array3<f32>, mask: Option<&Array2<bool>>) -> ArrayD<f32> {
    let fmt = g.data_format;
    let (t, ch) = tc(x, fmt);
    let b = x.dim().0;
    let mut y = Array2::<f32>::zeros((b, ch));
    for bi in 0..b {
        for ci in 0..ch {
            let steps =
                (0..t).filter(|&s| g.mode == PoolMode::Max || mask.is_none_or(|m| m[[bi, s]]));
            let vals: Vec<f64> = steps.map(|s| at(x, fmt, bi, s, ci)).collect();
            y[[bi, ci]] = match g.mode {
                PoolMode::Max => vals.iter().copied().fold(f64::NEG_INFINITY, f64::max) as f32,
                // an empty mean is 0 / 0 = NaN, as Keras computes it
                PoolMode::Average => (vals.iter().sum::<f64>() / vals.len() as f64) as f32,
            };
        }
    }
    if g.keepdims {
        let axis = match fmt {
            DataFormat::ChannelsLast => Axis(1),
            DataFormat::ChannelsFirst => Axis(2),
        };
        y.insert_axis(axis).into_dyn()
    } else {
        y.into_dyn()
    }
}

/// Zero padding (shift > 0 = left zeros) or cropping (shift < 0) along axis 1 or 2.
fn shift_ref(x: &Array3<f32>, axis: usize, shift: isize, len: usize) -> ArrayD<f32> {
    let (b, a1, a2) = x.dim();
    let (t, shape) = if axis == 2 {
        (a2, (b, a1, len))
    } else {
        (a1, (b, len, a2))
    };
    let mut y = Array3::<f32>::zeros(shape);
    for ((bi, i1, i2), v) in y.indexed_iter_mut() {
        let l = if axis == 2 { i2 } else { i1 };
        let s = l as isize - shift;
        if s >= 0 && (s as usize) < t {
            *v = if axis == 2 {
                x[[bi, i1, s as usize]]
            } else {
                x[[bi, s as usize, i2]]
            };
        }
    }
    y.into_dyn()
}

/// |got − want| / max(1, |want|) ≤ tol, NaN only where `want` is NaN.
fn assert_close(got: &ArrayD<f32>, want: &ArrayD<f32>, tol: f32, what: &str) {
    assert_eq!(got.shape(), want.shape(), "{what}: shapes");
    for (g, w) in got.iter().zip(want.iter()) {
        if w.is_nan() {
            assert!(
                g.is_nan(),
                "{what}: {g} where Keras / the formula gives NaN"
            );
            continue;
        }
        if g == w {
            continue; // ±inf too
        }
        let e = (g - w).abs() / w.abs().max(1.0);
        assert!(e <= tol, "{what}: {g} vs {w} (error {e:e})");
    }
}

fn info3(a1: Option<usize>, a2: Option<usize>) -> TensorInfo {
    TensorInfo::f32(vec![a1, a2])
}

fn plan_of(name: &str, flavour: KerasFlavour, input: TensorInfo, layer: Layer) -> Plan {
    Plan::sequential(name, flavour, input, vec![(name.into(), layer)]).unwrap()
}

fn run(ex: &Exec, plan: &Plan, x: &Array3<f32>, mask: Option<&Array2<bool>>) -> ArrayD<f32> {
    let mut input = ModelInput::f32(x.view().into_dyn());
    if let Some(m) = mask {
        input = input.with_mask(m.view());
    }
    check_plan(ex, plan, &[input]).remove(0)
}

// ------------------------------------------------------------------ real-Keras cases

fn layers_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/layers")
}

fn npy(dir: &Path, file: &str) -> ArrayD<f32> {
    read_npy_f32(&dir.join(file)).unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
}

/// The layer of a Keras class from its config and weights (named `kernel`, `bias`), with
/// the layers' own `from_keras` readers (the class table's entries call the same ones).
fn from_keras(
    class: &str,
    config: &Json,
    weights: Vec<(String, ArrayD<f32>)>,
    flavour: KerasFlavour,
) -> wgpu_lstm::Result<Layer> {
    let mut w: std::collections::HashMap<String, ArrayD<f32>> = weights.into_iter().collect();
    Ok(match class {
        "Conv1D" => Layer::Conv1D(Conv1D::from_keras(
            config,
            w.remove("kernel").expect("a Conv1D case has a kernel"),
            w.remove("bias"),
            flavour,
        )?),
        "MaxPooling1D" => Layer::Pooling1D(Pooling1D::from_keras(PoolMode::Max, config)?),
        "AveragePooling1D" => Layer::Pooling1D(Pooling1D::from_keras(PoolMode::Average, config)?),
        "GlobalMaxPooling1D" => {
            Layer::GlobalPooling1D(GlobalPooling1D::from_keras(PoolMode::Max, config, flavour)?)
        }
        "GlobalAveragePooling1D" => Layer::GlobalPooling1D(GlobalPooling1D::from_keras(
            PoolMode::Average,
            config,
            flavour,
        )?),
        "ZeroPadding1D" => Layer::ZeroPadding1D(ZeroPadding1D::from_keras(config)?),
        "Cropping1D" => Layer::Cropping1D(Cropping1D::from_keras(config)?),
        other => panic!("no case class {other}"),
    })
}

/// The classes of this group's cases (tests/fixtures/layers holds other groups' cases too,
/// in their own layouts).
const CONV_GROUP: &[&str] = &[
    "Conv1D",
    "MaxPooling1D",
    "AveragePooling1D",
    "GlobalMaxPooling1D",
    "GlobalAveragePooling1D",
    "ZeroPadding1D",
    "Cropping1D",
];

/// Every case of this group in tests/fixtures/layers, the layer built from its Keras config
/// and weights, in a plan whose input has an open time axis: the CPU equals Keras, the GPU
/// the CPU, and masks follow Keras.
fn keras_cases(ex: &Exec) {
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(layers_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            std::fs::read_to_string(p.join("case.json")).is_ok_and(|text| {
                let case: Json = serde_json::from_str(&text).unwrap();
                case.get("weights").is_some()
                    && case["class_name"]
                        .as_str()
                        .is_some_and(|c| CONV_GROUP.contains(&c))
            })
        })
        .collect();
    dirs.sort();
    assert!(dirs.len() >= 130, "only {} layer cases", dirs.len());
    let mut per_class = std::collections::BTreeMap::<(String, String), usize>::new();
    for dir in &dirs {
        let case: Json =
            serde_json::from_str(&std::fs::read_to_string(dir.join("case.json")).unwrap()).unwrap();
        let name = case["case"].as_str().unwrap();
        let class = case["class_name"].as_str().unwrap().to_string();
        let version = case["keras_version"].as_str().unwrap().to_string();
        let config = case["config"].clone();
        let weights: Vec<(String, ArrayD<f32>)> = case["weights"]
            .as_array()
            .unwrap()
            .iter()
            .map(|w| {
                let name = w["name"].as_str().unwrap().to_string();
                (name, npy(dir, w["file"].as_str().unwrap()))
            })
            .collect();
        let x = npy(dir, case["input"].as_str().unwrap())
            .into_dimensionality::<Ix3>()
            .unwrap();
        let want = npy(dir, case["output"].as_str().unwrap());
        let mask: Option<Array2<bool>> = case["mask"].as_str().map(|f| {
            npy(dir, f)
                .into_dimensionality::<Ix2>()
                .unwrap()
                .mapv(|v| v != 0.0)
        });
        // the time axis open, as Keras models declare it
        let time_first = class == "Cropping1D"
            || config["data_format"].as_str().unwrap_or("channels_last") == "channels_last";
        let (_, a1, a2) = x.dim();

        let flavour = KerasFlavour::from_keras_version(&version).unwrap();
        let layer =
            from_keras(&class, &config, weights, flavour).unwrap_or_else(|e| panic!("{name}: {e}"));
        let (d1, d2) = if time_first {
            (None, Some(a2))
        } else {
            (Some(a1), None)
        };
        let plan = plan_of(name, flavour, info3(d1, d2), layer);
        assert_eq!(plan.nodes[0].layer.class_name(), class, "{name}");
        let got = run(ex, &plan, &x, mask.as_ref());
        assert_close(&got, &want, 1e-5, name);
        // the mask rule: the output is masked exactly when Keras's was (never, for these)
        let masked_in = TensorInfo::f32(vec![None, Some(a2)]).with_mask(mask.is_some());
        if time_first {
            let out = plan.nodes[0].layer.infer(&[masked_in], flavour).unwrap();
            assert_eq!(
                out[0].masked,
                case["output_masked"].as_bool().unwrap(),
                "{name}"
            );
        }
        *per_class.entry((class, version)).or_default() += 1;
    }
    // every class from both Keras versions
    for class in [
        "Conv1D",
        "MaxPooling1D",
        "AveragePooling1D",
        "GlobalMaxPooling1D",
        "GlobalAveragePooling1D",
        "ZeroPadding1D",
        "Cropping1D",
    ] {
        for v in ["3.15.1", "2.21.0"] {
            assert!(
                per_class
                    .get(&(class.to_string(), v.to_string()))
                    .copied()
                    .unwrap_or(0)
                    >= 2,
                "{class} {v}: {per_class:?}"
            );
        }
    }
}

// ------------------------------------------------------------------ random configurations

fn random_activation(r: &mut StdRng) -> LayerActivation {
    match r.random_range(0..6) {
        0 => LayerActivation::Softmax,
        1 => LayerActivation::LogSoftmax,
        2 => Activation::Relu.into(),
        3 => Activation::Tanh.into(),
        4 => Activation::Gelu.into(),
        _ => Activation::Linear.into(),
    }
}

fn random_format(r: &mut StdRng) -> DataFormat {
    if r.random_bool(0.3) {
        DataFormat::ChannelsFirst
    } else {
        DataFormat::ChannelsLast
    }
}

/// Conv1D with random padding, strides, dilation, groups, data format, bias and activation
/// on odd sizes (open time axis; masked input, whose mask it drops).
fn conv1d_random(ex: &Exec) {
    let mut r = rng(101);
    for i in 0..14 {
        let groups = [1, 1, 3][r.random_range(0..3)];
        let cg = r.random_range(1..5);
        let fg = r.random_range(1..4);
        let k = r.random_range(1..6);
        let (strides, dilation) = match r.random_range(0..3) {
            0 => (1, r.random_range(2..4)),
            1 => (r.random_range(2..4), 1),
            _ => (1, 1),
        };
        let padding = [ConvPadding::Valid, ConvPadding::Same, ConvPadding::Causal][i % 3];
        let fmt = random_format(&mut r);
        let c = Conv1D {
            strides,
            padding,
            dilation_rate: dilation,
            groups,
            data_format: fmt,
            ..Conv1D::new(
                random(&mut r, Ix3(k, cg, fg * groups), 0.7),
                r.random_bool(0.7)
                    .then(|| random(&mut r, Ix1(fg * groups), 0.5)),
                random_activation(&mut r),
            )
            .unwrap()
        };
        let (b, ch) = (r.random_range(1..4), cg * groups);
        let t = dilation * (k - 1) + 1 + r.random_range(0..9);
        let (a1, a2) = fmt.axes(t, ch);
        let x = random(&mut r, Ix3(b, a1, a2), 1.0);
        let (d1, d2) = fmt.axes(None, Some(ch));
        let plan = plan_of(
            "conv",
            KerasFlavour::Keras3,
            info3(d1, d2),
            Layer::Conv1D(c.clone()),
        );
        let mask = (fmt == DataFormat::ChannelsLast).then(|| random_mask(&mut r, b, t));
        let y = run(ex, &plan, &x, mask.as_ref());
        assert_close(&y, &conv_ref(&c, &x), 2e-5, &format!("conv {i}: {c:?}"));
        // Conv1D drops the mask
        assert!(!plan.output_info(0).masked);
    }
}

fn pooling_random(ex: &Exec) {
    let mut r = rng(102);
    for i in 0..16 {
        let mode = if i % 2 == 0 {
            PoolMode::Max
        } else {
            PoolMode::Average
        };
        let pool = r.random_range(1..6);
        let padding = if i % 4 < 2 {
            ConvPadding::Same
        } else {
            ConvPadding::Valid
        };
        let fmt = random_format(&mut r);
        let p = Pooling1D {
            strides: r.random_range(1..5),
            padding,
            data_format: fmt,
            ..Pooling1D::new(mode, pool)
        };
        let (b, ch) = (r.random_range(1..4), r.random_range(1..6));
        let t = r.random_range(1..12)
            + if padding == ConvPadding::Valid {
                pool
            } else {
                0
            };
        let (a1, a2) = fmt.axes(t, ch);
        let x = random(&mut r, Ix3(b, a1, a2), 2.0);
        let (d1, d2) = fmt.axes(None, Some(ch));
        let plan = plan_of(
            "pool",
            KerasFlavour::Keras2,
            info3(d1, d2),
            Layer::Pooling1D(p.clone()),
        );
        let y = run(ex, &plan, &x, None);
        assert_close(&y, &pool_ref(&p, &x), 1e-5, &format!("pool {i}: {p:?}"));
    }
}

/// Global pooling with and without masks (some rows fully masked: NaN for an average), both
/// flavours, keepdims and data formats.
fn global_pooling_random(ex: &Exec) {
    let mut r = rng(103);
    for i in 0..16 {
        let mode = if i % 2 == 0 {
            PoolMode::Max
        } else {
            PoolMode::Average
        };
        let flavour = if i % 4 < 2 {
            KerasFlavour::Keras3
        } else {
            KerasFlavour::Keras2
        };
        let fmt = if i % 8 >= 6 {
            DataFormat::ChannelsFirst
        } else {
            DataFormat::ChannelsLast
        };
        let g = GlobalPooling1D {
            keepdims: r.random_bool(0.5),
            data_format: fmt,
            flavour,
            ..GlobalPooling1D::new(mode)
        };
        let (b, t, ch) = (
            r.random_range(1..6),
            r.random_range(1..40),
            r.random_range(1..7),
        );
        let (a1, a2) = fmt.axes(t, ch);
        let x = random(&mut r, Ix3(b, a1, a2), 2.0);
        let mask =
            (fmt == DataFormat::ChannelsLast && i % 3 != 0).then(|| random_mask(&mut r, b, t));
        let (d1, d2) = fmt.axes(None, Some(ch));
        let plan = plan_of(
            "gpool",
            flavour,
            info3(d1, d2),
            Layer::GlobalPooling1D(g.clone()),
        );
        let y = run(ex, &plan, &x, mask.as_ref());
        assert_close(
            &y,
            &global_ref(&g, &x, mask.as_ref()),
            1e-5,
            &format!("global {i}: {g:?}"),
        );
        assert!(!plan.output_info(0).masked);
    }
}

fn padding_cropping_random(ex: &Exec) {
    let mut r = rng(104);
    for i in 0..10 {
        let (b, t, ch) = (
            r.random_range(1..4),
            r.random_range(3..9),
            r.random_range(1..5),
        );
        let (left, right) = (r.random_range(0..4), r.random_range(0..4));
        if i % 2 == 0 {
            let fmt = random_format(&mut r);
            let z = ZeroPadding1D {
                left,
                right,
                data_format: fmt,
            };
            let (a1, a2) = fmt.axes(t, ch);
            let x = random(&mut r, Ix3(b, a1, a2), 1.0);
            let (d1, d2) = fmt.axes(None, Some(ch));
            let plan = plan_of(
                "pad",
                KerasFlavour::Keras3,
                info3(d1, d2),
                Layer::ZeroPadding1D(z),
            );
            let axis = if fmt == DataFormat::ChannelsFirst {
                2
            } else {
                1
            };
            let want = shift_ref(&x, axis, left as isize, t + left + right);
            assert_close(&run(ex, &plan, &x, None), &want, 0.0, "ZeroPadding1D");
        } else {
            let (left, right) = (left.min(t - 1), right.min(t - 1 - left.min(t - 1)));
            let c = Cropping1D { left, right };
            let x = random(&mut r, Ix3(b, t, ch), 1.0);
            let plan = plan_of(
                "crop",
                KerasFlavour::Keras2,
                info3(None, Some(ch)),
                Layer::Cropping1D(c),
            );
            let m = random_mask(&mut r, b, t);
            let want = shift_ref(&x, 1, -(left as isize), t - left - right);
            assert_close(&run(ex, &plan, &x, Some(&m)), &want, 0.0, "Cropping1D");
            assert!(!plan.output_info(0).masked);
        }
    }
}

/// A chain as models use it: Masking → ZeroPadding1D → Conv1D (softmax, channels_last) →
/// MaxPooling1D → Cropping1D → AveragePooling1D (same) → GlobalAveragePooling1D (keepdims):
/// the mask stops at the padding (the average pools every step), equal on every executor.
fn chain(ex: &Exec) {
    let mut r = rng(105);
    let (b, t, ch) = (3, 17, 4);
    let layers = vec![
        (
            "masking".to_string(),
            Layer::Masking(Masking { mask_value: 0.0 }),
        ),
        (
            "pad".to_string(),
            Layer::ZeroPadding1D(ZeroPadding1D {
                left: 2,
                right: 1,
                data_format: DataFormat::ChannelsLast,
            }),
        ),
        (
            "conv".to_string(),
            Layer::Conv1D(Conv1D {
                padding: ConvPadding::Causal,
                dilation_rate: 2,
                ..Conv1D::new(
                    random(&mut r, Ix3(3, ch, 6), 0.5),
                    Some(random(&mut r, Ix1(6), 0.5)),
                    LayerActivation::Softmax,
                )
                .unwrap()
            }),
        ),
        (
            "max".to_string(),
            Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 2)),
        ),
        (
            "crop".to_string(),
            Layer::Cropping1D(Cropping1D { left: 1, right: 2 }),
        ),
        (
            "avg".to_string(),
            Layer::Pooling1D(Pooling1D {
                padding: ConvPadding::Same,
                strides: 2,
                ..Pooling1D::new(PoolMode::Average, 3)
            }),
        ),
        (
            "gap".to_string(),
            Layer::GlobalPooling1D(GlobalPooling1D {
                keepdims: true,
                ..GlobalPooling1D::new(PoolMode::Average)
            }),
        ),
    ];
    let plan = Plan::sequential(
        "chain",
        KerasFlavour::Keras3,
        info3(None, Some(ch)),
        layers.clone(),
    )
    .unwrap();
    let masks: Vec<bool> = plan
        .nodes
        .iter()
        .map(|n| plan.tensor(n.outputs[0]).masked)
        .collect();
    assert_eq!(masks, [true, false, false, false, false, false, false]);
    let mut x = random(&mut r, Ix3(b, t, ch), 1.0);
    x.slice_mut(ndarray::s![1, 3..5, ..]).fill(0.0);
    let y = run(ex, &plan, &x, None);
    // the same math step by step with the reference formulas
    let mut v = x.clone();
    v.slice_mut(ndarray::s![1, 3..5, ..]).fill(0.0);
    let v = shift_ref(&v, 1, 2, t + 3)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let Layer::Conv1D(c) = &layers[2].1 else {
        unreachable!()
    };
    let v = conv_ref(c, &v).into_dimensionality::<Ix3>().unwrap();
    let v = pool_ref(&Pooling1D::new(PoolMode::Max, 2), &v)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let l = v.dim().1;
    let v = shift_ref(&v, 1, -1, l - 3)
        .into_dimensionality::<Ix3>()
        .unwrap();
    let Layer::Pooling1D(avg) = &layers[5].1 else {
        unreachable!()
    };
    let v = pool_ref(avg, &v).into_dimensionality::<Ix3>().unwrap();
    let Layer::GlobalPooling1D(gap) = &layers[6].1 else {
        unreachable!()
    };
    assert_close(&y, &global_ref(gap, &v, None), 2e-5, "chain");
}

/// Recurrent layers after layers that change the sequence length (Conv1D valid / strided /
/// channels_first, pooling, padding, cropping): the GPU runs each LSTM over its own input's
/// steps, not the model input's, and equals the CPU.
fn recurrent_after_length_changes(ex: &Exec) {
    use wgpu_lstm::layers::Recurrent;
    use wgpu_lstm::{LstmConfig, LstmWeights};
    let mut r = rng(109);
    let lstm = |d: usize, units: usize, rs: bool, seed: u64| {
        let cfg = LstmConfig {
            return_sequences: rs,
            ..LstmConfig::new(units)
        };
        let w = LstmWeights::keras_default(d, &cfg, seed).unwrap();
        Layer::Recurrent(Recurrent::lstm(cfg, w).unwrap())
    };
    let (b, t, ch) = (3, 13, 4);
    let chains: Vec<(TensorInfo, Vec<(String, Layer)>)> = vec![
        (
            info3(None, Some(ch)),
            vec![
                (
                    "conv".into(),
                    Layer::Conv1D(
                        Conv1D::new(
                            random(&mut rng(1), Ix3(3, ch, 5), 0.5),
                            None,
                            Activation::Relu.into(),
                        )
                        .unwrap(),
                    ),
                ),
                (
                    "max".into(),
                    Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 2)),
                ),
                ("lstm".into(), lstm(5, 4, false, 1)),
            ],
        ),
        (
            info3(None, Some(ch)),
            vec![
                (
                    "conv".into(),
                    Layer::Conv1D(Conv1D {
                        strides: 2,
                        groups: 2,
                        ..Conv1D::new(
                            random(&mut rng(2), Ix3(3, 2, 6), 0.5),
                            None,
                            Activation::Linear.into(),
                        )
                        .unwrap()
                    }),
                ),
                (
                    "avg".into(),
                    Layer::Pooling1D(Pooling1D {
                        padding: ConvPadding::Same,
                        ..Pooling1D::new(PoolMode::Average, 2)
                    }),
                ),
                ("lstm".into(), lstm(6, 3, true, 2)),
            ],
        ),
        (
            // the LSTM needs its features (the steps here) known
            info3(Some(ch), Some(t)),
            vec![
                (
                    "conv".into(),
                    Layer::Conv1D(Conv1D {
                        data_format: DataFormat::ChannelsFirst,
                        ..Conv1D::new(
                            random(&mut rng(3), Ix3(2, ch, 4), 0.5),
                            None,
                            Activation::Linear.into(),
                        )
                        .unwrap()
                    }),
                ),
                // (B, 4 filters, 12 steps): the LSTM sees 4 steps of 12 features
                ("lstm".into(), lstm(t - 1, 3, false, 3)),
            ],
        ),
        (
            info3(None, Some(ch)),
            vec![
                (
                    "pad".into(),
                    Layer::ZeroPadding1D(ZeroPadding1D {
                        left: 1,
                        right: 2,
                        data_format: DataFormat::ChannelsLast,
                    }),
                ),
                ("lstm".into(), lstm(ch, 4, true, 4)),
                (
                    "crop".into(),
                    Layer::Cropping1D(Cropping1D { left: 1, right: 1 }),
                ),
                (
                    "gmp".into(),
                    Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Max)),
                ),
            ],
        ),
    ];
    for (input, layers) in chains {
        let plan = Plan::sequential("chain", KerasFlavour::Keras3, input.clone(), layers).unwrap();
        let shape: Vec<usize> = if input.shape[0].is_none() {
            vec![b, t, ch]
        } else {
            vec![b, ch, t]
        };
        let x = random(&mut r, Ix3(shape[0], shape[1], shape[2]), 1.0);
        run(ex, &plan, &x, None);
    }
    // a Bidirectional after max pooling
    let half = wgpu_lstm::LstmConfig {
        return_sequences: true,
        ..wgpu_lstm::LstmConfig::new(3)
    };
    let bidir = crate::common::BidirDef {
        forward: (
            half.clone(),
            wgpu_lstm::LstmWeights::keras_default(ch, &half, 5).unwrap(),
        ),
        backward: (
            half.clone(),
            wgpu_lstm::LstmWeights::keras_default(ch, &half, 6).unwrap(),
        ),
        merge: wgpu_lstm::layers::bidirectional::MergeMode::Concat,
    }
    .build();
    let plan = Plan::sequential(
        "bidir",
        KerasFlavour::Keras3,
        info3(None, Some(ch)),
        vec![
            (
                "max".into(),
                Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 3)),
            ),
            ("bidir".into(), bidir),
            (
                "gap".into(),
                Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Average)),
            ),
        ],
    )
    .unwrap();
    let x = random(&mut r, Ix3(b, t, ch), 1.0);
    run(ex, &plan, &x, None);
}

// ------------------------------------------------------------------ loop budget, limits

/// Sizes whose loops would pass lavapipe's 65 535 iterations in one invocation if the
/// kernels did not cut them: a Conv1D over 70 001 channels (kernel_size 1: 5 ranges) and
/// over 3 × 12 000 (3 ranges, with softmax), a pooling window of 33 000 steps (2 ranges,
/// max and average, same padding), and 100 001 steps of global pooling (391 chunks, masked
/// average and max).
fn past_the_loop_budget(ex: &Exec) {
    let mut r = rng(106);
    // a reduction over more channels than one loop may run
    for (k, ch, act) in [
        (
            1usize,
            70_001usize,
            LayerActivation::Elementwise(Activation::Tanh),
        ),
        (3, 12_000, LayerActivation::Softmax),
    ] {
        let c = Conv1D {
            padding: ConvPadding::Same,
            ..Conv1D::new(
                random(&mut r, Ix3(k, ch, 3), 0.02),
                Some(random(&mut r, Ix1(3), 0.5)),
                act,
            )
            .unwrap()
        };
        let x = random(&mut r, Ix3(1, 3, ch), 1.0);
        let plan = plan_of(
            "conv",
            KerasFlavour::Keras3,
            info3(None, Some(ch)),
            Layer::Conv1D(c.clone()),
        );
        assert_close(
            &run(ex, &plan, &x, None),
            &conv_ref(&c, &x),
            1e-4,
            "conv over many channels",
        );
    }
    // a window longer than one loop may run
    for mode in [PoolMode::Max, PoolMode::Average] {
        let p = Pooling1D {
            strides: 9_000,
            padding: ConvPadding::Same,
            ..Pooling1D::new(mode, 33_000)
        };
        let x = random(&mut r, Ix3(2, 40_001, 1), 1.0);
        let plan = plan_of(
            "pool",
            KerasFlavour::Keras3,
            info3(None, Some(1)),
            Layer::Pooling1D(p.clone()),
        );
        assert_close(
            &run(ex, &plan, &x, None),
            &pool_ref(&p, &x),
            1e-5,
            "long window",
        );
    }
    // a long sequence
    let t = 100_001;
    let x = random(&mut r, Ix3(2, t, 2), 1.0);
    let mut m = Array2::from_elem((2, t), true);
    m.slice_mut(ndarray::s![1, 50_000..]).fill(false);
    for mode in [PoolMode::Max, PoolMode::Average] {
        let g = GlobalPooling1D::new(mode);
        let plan = plan_of(
            "gpool",
            KerasFlavour::Keras3,
            info3(None, Some(2)),
            Layer::GlobalPooling1D(g.clone()),
        );
        assert_close(
            &run(ex, &plan, &x, Some(&m)),
            &global_ref(&g, &x, Some(&m)),
            1e-5,
            "long sequence",
        );
    }
}

/// On a device allowing 3 workgroups per dimension (192 invocations per row of the grid),
/// every layer spreads its invocations over a 3-D grid and equals the CPU; a call whose one
/// row would need more than 3³ workgroups of 64 is refused with a typed error.
fn small_dispatch_limit() {
    let Some(ctx) = crate::common::small_dispatch_limit_gpu() else {
        return;
    };
    let mut r = rng(107);
    let (b, t, ch) = (5, 41, 9);
    let x = random(&mut r, Ix3(b, t, ch), 1.0);
    let m = random_mask(&mut r, b, t);
    let layers = [
        Layer::Conv1D(Conv1D {
            padding: ConvPadding::Same,
            ..Conv1D::new(
                random(&mut r, Ix3(3, ch, 7), 0.5),
                None,
                Activation::Relu.into(),
            )
            .unwrap()
        }),
        Layer::Pooling1D(Pooling1D {
            strides: 1,
            padding: ConvPadding::Same,
            ..Pooling1D::new(PoolMode::Average, 3)
        }),
        Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Average)),
        Layer::ZeroPadding1D(ZeroPadding1D {
            left: 3,
            right: 2,
            data_format: DataFormat::ChannelsLast,
        }),
        Layer::Cropping1D(Cropping1D { left: 1, right: 1 }),
    ];
    for layer in layers {
        let plan = plan_of("small", KerasFlavour::Keras3, info3(None, Some(ch)), layer);
        let input = [ModelInput::f32(x.view().into_dyn()).with_mask(m.view())];
        let want = Model::from_plan(plan.clone(), &Device::Cpu)
            .unwrap()
            .run(&input, &Default::default())
            .unwrap();
        let mut g = Model::from_plan(plan.clone(), &Device::Gpu(ctx.clone())).unwrap();
        let got = g
            .run(
                &input,
                &CallOptions {
                    poison: true,
                    ..Default::default()
                },
            )
            .unwrap();
        assert!(
            max_abs(&got[0], &want[0]) <= 1e-5,
            "{}",
            plan.nodes[0].layer.class_name()
        );
    }
    // one row of 1 × 2 000 outputs needs 32 workgroups: more than 3³ = 27
    let c = Conv1D::new(
        random(&mut r, Ix3(1, 1, 2_000), 0.5),
        None,
        Activation::Linear.into(),
    )
    .unwrap();
    let plan = plan_of(
        "too_wide",
        KerasFlavour::Keras3,
        info3(None, Some(1)),
        Layer::Conv1D(c),
    );
    let x = random(&mut r, Ix3(1, 1, 1), 1.0);
    let err = Model::from_plan(plan, &Device::Gpu(ctx.clone()))
        .unwrap()
        .run(&[ModelInput::f32(x.view().into_dyn())], &Default::default())
        .unwrap_err();
    assert!(
        matches!(&err, Error::Layer { source, .. } if matches!(**source, Error::TooLarge { .. })),
        "{err}"
    );
    assert_no_gpu_errors(&ctx);
}

/// A repeated call of the same shape creates no buffer or bind group and uploads only its
/// input and mask (Conv1D in 2 ranges with softmax, pooling, masked global average,
/// padding, cropping).
fn repeated_calls_create_nothing() {
    if gpu().is_none() {
        return;
    }
    // a context of its own: other tests use the shared one concurrently
    let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    let mut r = rng(108);
    let (b, t, ch) = (3, 11, 17_000);
    let layers = vec![
        (
            "pad".to_string(),
            Layer::ZeroPadding1D(ZeroPadding1D {
                left: 1,
                right: 1,
                data_format: DataFormat::ChannelsLast,
            }),
        ),
        (
            "conv".to_string(),
            Layer::Conv1D(
                Conv1D::new(
                    random(&mut r, Ix3(1, ch, 4), 0.01),
                    Some(Array1::zeros(4)),
                    LayerActivation::Softmax,
                )
                .unwrap(),
            ),
        ),
        (
            "max".to_string(),
            Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 2)),
        ),
        (
            "crop".to_string(),
            Layer::Cropping1D(Cropping1D { left: 1, right: 0 }),
        ),
        (
            "gap".to_string(),
            Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Average)),
        ),
    ];
    let plan = Plan::sequential(
        "repeat",
        KerasFlavour::Keras3,
        info3(None, Some(ch)),
        layers,
    )
    .unwrap();
    let mut cpu = Model::from_plan(plan.clone(), &Device::Cpu).unwrap();
    let mut g = Model::from_plan(plan, &Device::Gpu(ctx.clone())).unwrap();
    for call in 0..3 {
        let x = random(&mut r, Ix3(b, t, ch), 1.0);
        let input = [ModelInput::f32(x.view().into_dyn())];
        let before = ctx.stats();
        let got = g.run(&input, &Default::default()).unwrap();
        let after = ctx.stats();
        let want = cpu.run(&input, &Default::default()).unwrap();
        assert!(max_abs(&got[0], &want[0]) <= 1e-4, "call {call}");
        if call >= 1 {
            assert_eq!(after.buffers_created, before.buffers_created, "call {call}");
            assert_eq!(
                after.bind_groups_created, before.bind_groups_created,
                "call {call}"
            );
            assert_eq!(
                after.bytes_uploaded - before.bytes_uploaded,
                (x.len() * 4) as u64,
                "call {call}"
            );
        }
    }
    assert_no_gpu_errors(&ctx);
}

// ------------------------------------------------------------------ masks and errors

/// Mask rules (both versions): none of these layers passes a mask on; GlobalAveragePooling1D
/// reads it (and refuses it over channels_first); bad configurations and shapes give typed
/// errors naming the layer.
fn mask_rules_and_errors() {
    let conv = |k: usize, cg: usize, f: usize| {
        Conv1D::new(Array3::zeros((k, cg, f)), None, Activation::Linear.into()).unwrap()
    };
    let masked = TensorInfo::f32(vec![None, Some(4)]).with_mask(true);
    let layers = [
        Layer::Conv1D(conv(3, 4, 2)),
        Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 2)),
        Layer::Pooling1D(Pooling1D::new(PoolMode::Average, 2)),
        Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Max)),
        Layer::GlobalPooling1D(GlobalPooling1D {
            keepdims: true,
            ..GlobalPooling1D::new(PoolMode::Average)
        }),
        Layer::ZeroPadding1D(ZeroPadding1D {
            left: 1,
            right: 1,
            data_format: DataFormat::ChannelsLast,
        }),
        Layer::Cropping1D(Cropping1D { left: 1, right: 1 }),
    ];
    for flavour in [KerasFlavour::Keras3, KerasFlavour::Keras2] {
        for l in &layers {
            let out = l.infer(std::slice::from_ref(&masked), flavour).unwrap();
            assert!(!out[0].masked, "{} {flavour:?}", l.class_name());
        }
        // Masking → Conv1D: the layer after the convolution sees no mask
        let plan = Plan::sequential(
            "m",
            flavour,
            TensorInfo::f32(vec![None, Some(4)]),
            vec![
                (
                    "masking".into(),
                    Layer::Masking(Masking { mask_value: 0.0 }),
                ),
                ("conv".into(), Layer::Conv1D(conv(3, 4, 2))),
            ],
        )
        .unwrap();
        assert!(!plan.output_info(0).masked);
    }
    // shapes
    let shape_of = |l: Layer, input: TensorInfo| {
        l.infer(&[input], KerasFlavour::Keras3)
            .map(|o| o[0].shape.clone())
    };
    assert_eq!(
        shape_of(Layer::Conv1D(conv(3, 4, 2)), info3(Some(9), Some(4))).unwrap(),
        vec![Some(7), Some(2)]
    );
    assert_eq!(
        shape_of(
            Layer::Conv1D(Conv1D {
                data_format: DataFormat::ChannelsFirst,
                ..conv(2, 5, 4)
            }),
            info3(Some(5), Some(8))
        )
        .unwrap(),
        vec![Some(4), Some(7)]
    );
    assert_eq!(
        shape_of(
            Layer::GlobalPooling1D(GlobalPooling1D {
                keepdims: true,
                data_format: DataFormat::ChannelsFirst,
                ..GlobalPooling1D::new(PoolMode::Max)
            }),
            info3(Some(3), None)
        )
        .unwrap(),
        vec![Some(3), Some(1)]
    );
    // errors, each typed and naming the layer in a plan
    let bad: Vec<(Layer, TensorInfo, &str)> = vec![
        (
            Layer::Conv1D(conv(3, 5, 2)),
            info3(None, Some(4)),
            "channels",
        ),
        (
            Layer::Conv1D(conv(4, 2, 2)),
            info3(Some(3), Some(2)),
            "empty",
        ),
        (
            Layer::Conv1D(Conv1D {
                strides: 2,
                dilation_rate: 2,
                ..conv(2, 2, 2)
            }),
            info3(None, Some(2)),
            "dilation_rate",
        ),
        (
            Layer::Conv1D(Conv1D {
                groups: 2,
                ..conv(2, 2, 3)
            }),
            info3(None, Some(4)),
            "divisible",
        ),
        (
            Layer::Conv1D(Conv1D {
                strides: 0,
                ..conv(2, 2, 2)
            }),
            info3(None, Some(2)),
            "strides",
        ),
        (
            Layer::Conv1D(conv(2, 2, 2)),
            TensorInfo::f32(vec![None, Some(2), Some(2)]),
            "3-D",
        ),
        (
            Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 5)),
            info3(Some(4), Some(2)),
            "empty",
        ),
        (
            Layer::Pooling1D(Pooling1D {
                padding: ConvPadding::Causal,
                ..Pooling1D::new(PoolMode::Max, 2)
            }),
            info3(None, Some(2)),
            "causal",
        ),
        (
            Layer::Pooling1D(Pooling1D::new(PoolMode::Max, 0)),
            info3(None, Some(2)),
            "pool_size",
        ),
        (
            Layer::Cropping1D(Cropping1D { left: 2, right: 2 }),
            info3(Some(4), Some(2)),
            "at least one",
        ),
        (
            Layer::GlobalPooling1D(GlobalPooling1D {
                data_format: DataFormat::ChannelsFirst,
                ..GlobalPooling1D::new(PoolMode::Average)
            }),
            info3(Some(2), None).with_mask(true),
            "channels_first",
        ),
        (
            Layer::GlobalPooling1D(GlobalPooling1D::new(PoolMode::Max)),
            TensorInfo::f32(vec![Some(2)]),
            "3-D",
        ),
    ];
    for (layer, input, word) in bad {
        let class = layer.class_name();
        let mut b = Plan::builder("bad", KerasFlavour::Keras3);
        let x = b.input("x", input);
        let e = b.node("bad_layer", layer, &[x]).unwrap_err();
        let text = e.to_string();
        assert!(
            text.starts_with(&format!("layer `bad_layer` ({class})")),
            "{text}"
        );
        assert!(text.contains(word), "{text}");
    }
    // an open time axis too short at call time: a typed error from the call, not a panic
    let plan = plan_of(
        "late",
        KerasFlavour::Keras3,
        info3(None, Some(2)),
        Layer::Cropping1D(Cropping1D { left: 2, right: 1 }),
    );
    let x = Array3::<f32>::zeros((1, 3, 2));
    let mut execs = vec![Device::Cpu];
    if let Some(ctx) = gpu() {
        execs.push(Device::Gpu(ctx));
    }
    for dev in execs {
        let err = Model::from_plan(plan.clone(), &dev)
            .unwrap()
            .run(&[ModelInput::f32(x.view().into_dyn())], &Default::default());
        let text = err.unwrap_err().to_string();
        assert!(
            text.contains("Cropping1D") && text.contains("cropping"),
            "{text}"
        );
    }
    // configs from Keras dicts: the typed errors name the field
    let k = ArrayD::<f32>::zeros(IxDyn(&[3, 2, 4]));
    for (cfg, field) in [
        (
            json!({"filters": 4, "kernel_size": [3], "padding": "full", "use_bias": false}),
            "padding",
        ),
        (
            json!({"filters": 4, "kernel_size": [3], "data_format": "NWC", "use_bias": false}),
            "data_format",
        ),
        (
            json!({"filters": 4, "kernel_size": [2], "use_bias": false}),
            "kernel",
        ),
        (
            json!({"filters": 4, "kernel_size": [3], "activation": "sofmax", "use_bias": false}),
            "sofmax",
        ),
        (
            json!({"filters": 4, "kernel_size": [3], "use_bias": true}),
            "bias",
        ),
    ] {
        let e = Conv1D::from_keras(&cfg, k.clone(), None, KerasFlavour::Keras3).unwrap_err();
        assert!(e.to_string().contains(field), "{e}");
    }
    assert!(
        Pooling1D::from_keras(PoolMode::Max, &json!({"pool_size": [2], "strides": [0]})).is_err()
    );
    assert!(ZeroPadding1D::from_keras(&json!({"padding": "2"})).is_err());
    assert!(Cropping1D::from_keras(&json!({"cropping": [1, 2, 3]})).is_err());
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    let e = execs();
    let mut v = Vec::new();
    v.extend(crate::common::suite_of(
        "layers_conv::keras_cases",
        &e,
        keras_cases,
    ));
    v.extend(crate::common::suite_of(
        "layers_conv::conv1d_random",
        &e,
        conv1d_random,
    ));
    v.extend(crate::common::suite_of(
        "layers_conv::pooling_random",
        &e,
        pooling_random,
    ));
    v.extend(crate::common::suite_of(
        "layers_conv::global_pooling_random",
        &e,
        global_pooling_random,
    ));
    v.extend(crate::common::suite_of(
        "layers_conv::padding_cropping_random",
        &e,
        padding_cropping_random,
    ));
    v.extend(crate::common::suite_of("layers_conv::chain", &e, chain));
    v.extend(crate::common::suite_of(
        "layers_conv::recurrent_after_length_changes",
        &e,
        recurrent_after_length_changes,
    ));
    v.extend(crate::common::suite_of(
        "layers_conv::past_the_loop_budget",
        &e,
        past_the_loop_budget,
    ));
    v.push(crate::common::gpu_test(
        "layers_conv::small_dispatch_limit",
        small_dispatch_limit,
    ));
    v.push(crate::common::gpu_test(
        "layers_conv::repeated_calls_create_nothing",
        repeated_calls_create_nothing,
    ));
    v.push(crate::common::test(
        "layers_conv::mask_rules_and_errors",
        mask_rules_and_errors,
    ));
    v
}
