//! Which weights each layer class has, and the checks that tie them to the config.
//!
//! The file readers ([`super::weights_h5`], [`super::legacy_h5`]) only find arrays; this
//! module decides what a layer must hold, names the arrays, checks every shape against the
//! config (units, and the input feature size where the file states it or the previous
//! layer implies it), and builds the [`ModelFile`].

use serde_json::Value;

use super::arch::{Arch, ArchLayer, last_dim};
use super::{LayerSpec, ModelFile, WeightArray};
use crate::error::{Error, Result};

/// Layer classes without weights that pass their input's feature size through unchanged.
const PASS_THROUGH: &[&str] = &[
    "InputLayer",
    "Masking",
    "Dropout",
    "SpatialDropout1D",
    "GaussianNoise",
    "GaussianDropout",
    "AlphaDropout",
    "ActivityRegularization",
    "Activation",
];

/// An LSTM's weight-relevant config.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct LstmDims {
    pub units: usize,
    pub use_bias: bool,
}

/// What a layer class stores.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Kind {
    /// `LSTM`: kernel, recurrent_kernel, bias (if use_bias).
    Lstm(LstmDims),
    /// `Bidirectional(LSTM)`: forward's arrays, then backward's.
    Bidirectional {
        forward: LstmDims,
        backward: LstmDims,
        merge_mode: Option<String>,
    },
    /// `Dense`: kernel, bias (if use_bias).
    Dense { units: usize, use_bias: bool },
    /// A known class without weights that keeps the feature size (`Masking`, `Dropout`, ...).
    PassThrough,
    /// Any other class: loaded only when the file holds no weights for it.
    Other,
}

/// One array as a reader found it, before naming and checking.
#[derive(Debug, Clone)]
pub(crate) struct RawWeight {
    /// Where it was found, e.g. `/layers/lstm/cell/vars/0`.
    pub path: String,
    pub shape: Vec<usize>,
    pub data: Vec<f32>,
}

/// What a reader found for one layer.
pub(crate) enum Found {
    /// The arrays, in Keras order.
    Weights(Vec<RawWeight>),
    /// No weights (for a layer kind that has none).
    Nothing,
    /// The file holds arrays under this path for a layer whose class this crate cannot read
    /// weights for.
    UnreadableWeights(String),
}

/// A reader of one file layout: hands out each layer's arrays, in model order.
pub(crate) trait WeightSource {
    /// The arrays of `layer` (called once per layer, in model order). For weighted kinds a
    /// missing group/dataset is an error naming the layer and the path.
    fn layer(&mut self, layer: &ArchLayer, kind: &Kind) -> Result<Found>;
    /// Called after the last layer: refuses weights the architecture has no layer for.
    fn finish(&mut self) -> Result<()>;
}

fn bad_config(src: &str, layer: &str, class: &str, field: &str, why: &str) -> Error {
    Error::model_file(
        src,
        format!("layer `{layer}` ({class}): config field `{field}` {why}"),
    )
}

fn positive_usize(cfg: &Value, field: &str, src: &str, layer: &str, class: &str) -> Result<usize> {
    let v = cfg
        .get(field)
        .ok_or_else(|| bad_config(src, layer, class, field, "is missing"))?;
    let n = v
        .as_u64()
        .and_then(|n| usize::try_from(n).ok())
        .filter(|&n| n > 0 && n <= (1 << 28))
        .ok_or_else(|| {
            bad_config(
                src,
                layer,
                class,
                field,
                &format!("must be a positive integer, got {v}"),
            )
        })?;
    Ok(n)
}

fn use_bias(cfg: &Value, src: &str, layer: &str, class: &str) -> Result<bool> {
    match cfg.get("use_bias") {
        None => Ok(true),
        Some(v) => v
            .as_bool()
            .ok_or_else(|| bad_config(src, layer, class, "use_bias", "must be true or false")),
    }
}

fn lstm_dims(cfg: &Value, src: &str, layer: &str, class: &str) -> Result<LstmDims> {
    Ok(LstmDims {
        units: positive_usize(cfg, "units", src, layer, class)?,
        use_bias: use_bias(cfg, src, layer, class)?,
    })
}

/// The inner layer of a `Bidirectional` wrapper: `(class_name, config)`.
fn inner<'a>(v: &'a Value, field: &str, src: &str, layer: &str) -> Result<(&'a str, &'a Value)> {
    let class = v.get("class_name").and_then(Value::as_str).ok_or_else(|| {
        bad_config(
            src,
            layer,
            "Bidirectional",
            field,
            "has no string `class_name`",
        )
    })?;
    let cfg = v
        .get("config")
        .filter(|c| c.is_object())
        .ok_or_else(|| bad_config(src, layer, "Bidirectional", field, "has no object `config`"))?;
    Ok((class, cfg))
}

/// Classifies a layer and reads the config fields its weights depend on.
pub(crate) fn kind_of(layer: &ArchLayer, src: &str) -> Result<Kind> {
    let (name, class, cfg) = (&layer.name, layer.class_name.as_str(), &layer.config);
    match class {
        "LSTM" => Ok(Kind::Lstm(lstm_dims(cfg, src, name, class)?)),
        "Dense" => Ok(Kind::Dense {
            units: positive_usize(cfg, "units", src, name, class)?,
            use_bias: use_bias(cfg, src, name, class)?,
        }),
        "Bidirectional" => {
            let fwd = cfg
                .get("layer")
                .ok_or_else(|| bad_config(src, name, class, "layer", "is missing"))?;
            let (fclass, fcfg) = inner(fwd, "layer", src, name)?;
            let (bclass, bcfg) = match cfg.get("backward_layer").filter(|b| !b.is_null()) {
                Some(b) => inner(b, "backward_layer", src, name)?,
                None => (fclass, fcfg),
            };
            for c in [fclass, bclass] {
                if c != "LSTM" {
                    return Err(Error::Unsupported(format!(
                        "{src}: layer `{name}` is Bidirectional({c}); only Bidirectional(LSTM) is supported"
                    )));
                }
            }
            let merge_mode = match cfg.get("merge_mode") {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(v) => {
                    return Err(bad_config(
                        src,
                        name,
                        class,
                        "merge_mode",
                        &format!("must be a string or null, got {v}"),
                    ));
                }
            };
            Ok(Kind::Bidirectional {
                forward: lstm_dims(fcfg, src, name, "Bidirectional.layer")?,
                backward: lstm_dims(bcfg, src, name, "Bidirectional.backward_layer")?,
                merge_mode,
            })
        }
        c if PASS_THROUGH.contains(&c) => Ok(Kind::PassThrough),
        _ => Ok(Kind::Other),
    }
}

/// The roles of a layer's arrays in Keras order, e.g. `["kernel", "recurrent_kernel", "bias"]`;
/// for `Bidirectional` prefixed `forward/` and `backward/`.
pub(crate) fn roles(kind: &Kind) -> Vec<String> {
    let lstm = |d: &LstmDims, prefix: &str| {
        let mut v = vec![
            format!("{prefix}kernel"),
            format!("{prefix}recurrent_kernel"),
        ];
        if d.use_bias {
            v.push(format!("{prefix}bias"));
        }
        v
    };
    match kind {
        Kind::Lstm(d) => lstm(d, ""),
        Kind::Bidirectional {
            forward, backward, ..
        } => {
            let mut v = lstm(forward, "forward/");
            v.extend(lstm(backward, "backward/"));
            v
        }
        Kind::Dense { use_bias, .. } => {
            if *use_bias {
                vec!["kernel".into(), "bias".into()]
            } else {
                vec!["kernel".into()]
            }
        }
        Kind::PassThrough | Kind::Other => Vec::new(),
    }
}

/// Checks one array's shape; `expected` entries of `None` mean "any size ≥ 1".
fn check_shape(
    src: &str,
    layer: &ArchLayer,
    role: &str,
    w: &RawWeight,
    expected: &[Option<usize>],
) -> Result<()> {
    let ok = w.shape.len() == expected.len()
        && w.shape
            .iter()
            .zip(expected)
            .all(|(&g, e)| e.map_or(g > 0, |e| g == e));
    if ok {
        return Ok(());
    }
    let words: Vec<String> = expected
        .iter()
        .map(|e| e.map_or_else(|| "D".to_string(), |e| e.to_string()))
        .collect();
    let expected = if words.len() == 1 {
        format!("({},)", words[0])
    } else {
        format!("({})", words.join(", "))
    };
    Err(Error::shape(
        format!(
            "{src}: layer `{}` ({}) weight `{role}` at {}",
            layer.name, layer.class_name, w.path
        ),
        expected,
        &w.shape,
    ))
}

/// Checks an LSTM's arrays (kernel, recurrent_kernel, bias?) and returns its input size.
fn check_lstm(
    src: &str,
    layer: &ArchLayer,
    ws: &[RawWeight],
    roles: &[String],
    d: LstmDims,
    input_dim: Option<usize>,
) -> Result<usize> {
    let four_u = 4 * d.units;
    check_shape(src, layer, &roles[0], &ws[0], &[input_dim, Some(four_u)])?;
    check_shape(
        src,
        layer,
        &roles[1],
        &ws[1],
        &[Some(d.units), Some(four_u)],
    )?;
    if d.use_bias {
        check_shape(src, layer, &roles[2], &ws[2], &[Some(four_u)])?;
    }
    Ok(ws[0].shape[0])
}

/// Checks a layer's arrays against its kind and the input size, names them, and returns
/// them with the layer's output feature size (`None` when unknown).
fn check_layer(
    src: &str,
    layer: &ArchLayer,
    kind: &Kind,
    found: Vec<RawWeight>,
    input_dim: Option<usize>,
) -> Result<(Vec<WeightArray>, Option<usize>)> {
    let roles = roles(kind);
    if found.len() != roles.len() {
        let paths: Vec<&str> = found.iter().map(|w| w.path.as_str()).collect();
        return Err(Error::model_file(
            src,
            format!(
                "layer `{}` ({}): the file holds {} weight arrays [{}], the config calls for {} [{}] (check use_bias)",
                layer.name,
                layer.class_name,
                found.len(),
                paths.join(", "),
                roles.len(),
                roles.join(", ")
            ),
        ));
    }
    // The input size this layer must take: from the chain, else from the file's own hint.
    let want_in = input_dim.or(layer.input_dim_hint);
    if let (Some(a), Some(b)) = (input_dim, layer.input_dim_hint)
        && a != b
    {
        return Err(Error::model_file(
            src,
            format!(
                "layer `{}` ({}): its build_config says input feature size {b}, but the layer before it outputs {a}",
                layer.name, layer.class_name
            ),
        ));
    }
    let out = match kind {
        Kind::Lstm(d) => {
            check_lstm(src, layer, &found, &roles, *d, want_in)?;
            Some(d.units)
        }
        Kind::Bidirectional {
            forward,
            backward,
            merge_mode,
        } => {
            let nf = if forward.use_bias { 3 } else { 2 };
            let d_in = check_lstm(src, layer, &found[..nf], &roles[..nf], *forward, want_in)?;
            check_lstm(
                src,
                layer,
                &found[nf..],
                &roles[nf..],
                *backward,
                Some(d_in),
            )?;
            match merge_mode.as_deref() {
                Some("concat") => Some(forward.units + backward.units),
                Some("sum" | "mul" | "ave") if forward.units == backward.units => {
                    Some(forward.units)
                }
                Some("sum" | "mul" | "ave") => {
                    return Err(Error::model_file(
                        src,
                        format!(
                            "layer `{}` (Bidirectional): merge_mode {merge_mode:?} needs equal units, got {} and {}",
                            layer.name, forward.units, backward.units
                        ),
                    ));
                }
                _ => None,
            }
        }
        Kind::Dense { units, use_bias } => {
            check_shape(src, layer, &roles[0], &found[0], &[want_in, Some(*units)])?;
            if *use_bias {
                check_shape(src, layer, &roles[1], &found[1], &[Some(*units)])?;
            }
            Some(*units)
        }
        Kind::PassThrough => want_in,
        Kind::Other => None,
    };
    let weights = found
        .into_iter()
        .zip(roles)
        .map(|(w, name)| WeightArray {
            name,
            shape: w.shape,
            data: w.data,
        })
        .collect();
    Ok((weights, out))
}

/// Walks the architecture in order, takes each layer's arrays from `source`, checks them
/// and builds the [`ModelFile`].
pub(crate) fn assemble(
    arch: &Arch,
    keras_version: &str,
    src: &str,
    source: &mut dyn WeightSource,
) -> Result<ModelFile> {
    let mut layers = Vec::with_capacity(arch.layers.len());
    let mut dim = arch.build_input_dim;
    for layer in &arch.layers {
        let kind = kind_of(layer, src)?;
        let found = match source.layer(layer, &kind)? {
            Found::Weights(w) => w,
            Found::Nothing => Vec::new(),
            Found::UnreadableWeights(path) => {
                return Err(Error::Unsupported(format!(
                    "{src}: layer `{}` of class {} has weights (at {path}); only LSTM, Bidirectional(LSTM) and Dense weights can be loaded",
                    layer.name, layer.class_name
                )));
            }
        };
        let (weights, out) = check_layer(src, layer, &kind, found, dim)?;
        dim = out;
        if layer.class_name == "InputLayer" {
            dim = last_dim(
                layer
                    .config
                    .get("batch_shape")
                    .or_else(|| layer.config.get("batch_input_shape")),
            );
        }
        layers.push(LayerSpec {
            class_name: layer.class_name.clone(),
            name: layer.name.clone(),
            config: layer.config.clone(),
            weights,
        });
    }
    source.finish()?;
    Ok(ModelFile {
        keras_version: keras_version.to_string(),
        model_name: arch.model_name.clone(),
        class_name: arch.class_name.clone(),
        layers,
    })
}
