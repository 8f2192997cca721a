//! Benchmarks over the shared grid: one Keras `LSTM` (tanh / sigmoid, Keras default
//! initializers, seeded, f32, `return_sequences=False`) timed on a [`Device`], with the GPU's
//! work counters, GPU time from timestamp queries where the adapter has them, and reports as
//! JSON, Markdown, SVG and a ratio table against the cuDNN anchor
//! (`shared/bench/cudnn_bench.py`). See `BENCHMARKS.md` for how to run and read them.
//!
//! The grid (B, T, D, U), shared with the cuDNN anchor:
//!
//! | name | B | T | D | U |
//! |---|---|---|---|---|
//! | `stream_step` | 1 | 1 | 64 | 256 |
//! | `small_seq` | 1 | 100 | 32 | 128 |
//! | `long_seq` | 1 | 1000 | 128 | 512 |
//! | `medium` | 64 | 100 | 128 | 256 |
//! | `large` | 256 | 200 | 512 | 1024 |
//!
//! A configuration with T = 1 (such as `stream_step`) is a *streaming* benchmark: a stateful
//! layer called once per step, its state carried on the device from call to call; there the
//! host wall time per call is the number that matters.
//!
//! ```
//! use wgpu_lstm::Device;
//! use wgpu_lstm::bench::{BenchConfig, BenchOptions, markdown_table, run_bench};
//! let cfg = BenchConfig::parse("2,3,4,5").unwrap();
//! let r = run_bench(&cfg, &Device::Cpu, &BenchOptions::quick(), |_, _| {}).unwrap();
//! assert!(r.median_ms > 0.0);
//! assert_eq!(markdown_table(&[r]).lines().count(), 3);
//! ```

use std::io::Write as _;
use std::path::Path;
use std::time::{Duration, Instant};

use ndarray::Array3;
use rand::{Rng, SeedableRng, rngs::StdRng};
use serde::{Deserialize, Serialize};

use crate::config::Precision;
use crate::config::{CellKind, LstmConfig};
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::{CallOptions, GpuStats, KernelChoice};
use crate::layer::Lstm;
use crate::weights::LstmWeights;

/// The shared grid: (name, B, T, D, U), in the order the reports list them.
///
/// ```
/// assert_eq!(wgpu_lstm::bench::GRID[1], ("small_seq", 1, 100, 32, 128));
/// ```
pub const GRID: [(&str, usize, usize, usize, usize); 5] = [
    ("stream_step", 1, 1, 64, 256),
    ("small_seq", 1, 100, 32, 128),
    ("long_seq", 1, 1000, 128, 512),
    ("medium", 64, 100, 128, 256),
    ("large", 256, 200, 512, 1024),
];

/// Alignment assumed for the per-step parameter records in the memory estimate (WebGPU's
/// default `min_uniform_buffer_offset_alignment`).
const RECORD_STRIDE: u64 = 256;

/// Most timed calls one benchmark makes, whatever `min_time` asks for.
const MAX_CALLS: usize = 100_000;

/// The recurrent cell a benchmark runs (the CLI's `--cell lstm|gru|simple_rnn`): Keras's
/// `LSTM` (the default), `GRU` (`reset_after=True`, Keras's default) or `SimpleRNN`, each
/// with Keras's default options.
///
/// ```
/// use wgpu_lstm::bench::BenchCell;
/// assert_eq!(BenchCell::parse("gru").unwrap(), BenchCell::Gru);
/// assert_eq!(BenchCell::SimpleRnn.name(), "simple_rnn");
/// assert!(BenchCell::parse("rnn").is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum BenchCell {
    /// Keras `LSTM`.
    #[default]
    Lstm,
    /// Keras `GRU` with `reset_after=True`.
    Gru,
    /// Keras `SimpleRNN`.
    SimpleRnn,
}

impl BenchCell {
    /// `lstm`, `gru` or `simple_rnn`; anything else is an [`Error::Config`] naming `cell`.
    ///
    /// ```
    /// assert!(wgpu_lstm::bench::BenchCell::parse("simple_rnn").is_ok());
    /// ```
    pub fn parse(s: &str) -> Result<Self> {
        match s.trim() {
            "lstm" => Ok(BenchCell::Lstm),
            "gru" => Ok(BenchCell::Gru),
            "simple_rnn" => Ok(BenchCell::SimpleRnn),
            other => Err(Error::config(
                "cell",
                format!("`{other}` is not one of lstm, gru, simple_rnn"),
            )),
        }
    }

    /// The name `parse` reads.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::bench::BenchCell::Lstm.name(), "lstm");
    /// ```
    pub fn name(self) -> &'static str {
        match self {
            BenchCell::Lstm => "lstm",
            BenchCell::Gru => "gru",
            BenchCell::SimpleRnn => "simple_rnn",
        }
    }

    /// The layer's [`CellKind`].
    ///
    /// ```
    /// use wgpu_lstm::{bench::BenchCell, CellKind};
    /// assert_eq!(BenchCell::Gru.kind(), CellKind::Gru { reset_after: true });
    /// ```
    pub fn kind(self) -> CellKind {
        match self {
            BenchCell::Lstm => CellKind::Lstm,
            BenchCell::Gru => CellKind::Gru { reset_after: true },
            BenchCell::SimpleRnn => CellKind::SimpleRnn,
        }
    }
}

/// One benchmark shape: batch B, timesteps T, input features D, units U, and a name.
///
/// ```
/// use wgpu_lstm::bench::BenchConfig;
/// let c = BenchConfig::new("tiny", 2, 3, 4, 5);
/// assert_eq!(c.flop(), 2 * 2 * 3 * 4 * 5 * (4 + 5));
/// assert!(!c.is_streaming());
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct BenchConfig {
    /// A grid name (`small_seq`, ...) or the shape as `B,T,D,U` for a custom one.
    pub name: String,
    /// Batch size B.
    pub batch: usize,
    /// Timesteps T per call (1 = a streaming benchmark, see [`BenchConfig::is_streaming`]).
    pub timesteps: usize,
    /// Input features D.
    pub input_dim: usize,
    /// Keras `units` U.
    pub units: usize,
    /// The recurrent cell (LSTM unless [`BenchConfig::with_cell`] says otherwise).
    #[serde(default)]
    pub cell: BenchCell,
}

impl BenchConfig {
    /// A configuration from its parts (not checked: see [`BenchConfig::validate`]).
    ///
    /// ```
    /// let c = wgpu_lstm::bench::BenchConfig::new("mine", 1, 10, 8, 16);
    /// assert_eq!(c.shape(), "1,10,8,16");
    /// ```
    pub fn new(
        name: impl Into<String>,
        batch: usize,
        timesteps: usize,
        input_dim: usize,
        units: usize,
    ) -> Self {
        BenchConfig {
            name: name.into(),
            batch,
            timesteps,
            input_dim,
            units,
            cell: BenchCell::Lstm,
        }
    }

    /// The same shape with another cell; a GRU or SimpleRNN benchmark is named
    /// `{name}-{cell}` (so it is never compared with an LSTM's anchor or goal).
    ///
    /// ```
    /// use wgpu_lstm::bench::{BenchCell, BenchConfig};
    /// let c = BenchConfig::named("small_seq").unwrap().with_cell(BenchCell::Gru);
    /// assert_eq!(c.name, "small_seq-gru");
    /// assert_eq!(c.flop(), 2 * 100 * 3 * 128 * (32 + 128));
    /// ```
    pub fn with_cell(mut self, cell: BenchCell) -> Self {
        if cell != self.cell && cell != BenchCell::Lstm {
            self.name = format!("{}-{}", self.name, cell.name());
        }
        self.cell = cell;
        self
    }

    /// The whole grid ([`GRID`]) in order.
    ///
    /// ```
    /// let names: Vec<String> = wgpu_lstm::bench::BenchConfig::grid().into_iter().map(|c| c.name).collect();
    /// assert_eq!(names, ["stream_step", "small_seq", "long_seq", "medium", "large"]);
    /// ```
    pub fn grid() -> Vec<BenchConfig> {
        GRID.iter()
            .map(|&(n, b, t, d, u)| BenchConfig::new(n, b, t, d, u))
            .collect()
    }

    /// The grid configuration of that name, if any.
    ///
    /// ```
    /// use wgpu_lstm::bench::BenchConfig;
    /// assert_eq!(BenchConfig::named("medium").unwrap().batch, 64);
    /// assert!(BenchConfig::named("huge").is_none());
    /// ```
    pub fn named(name: &str) -> Option<BenchConfig> {
        Self::grid().into_iter().find(|c| c.name == name)
    }

    /// Parses a grid name (`small_seq`) or a shape `B,T,D,U` (also `BxTxDxU`) of four
    /// integers ≥ 1. A shape equal to a grid entry takes that entry's name (so it is compared
    /// with the cuDNN anchor); any other is named by its shape. Anything else is an
    /// [`Error::Config`] naming the string and what is accepted.
    ///
    /// ```
    /// use wgpu_lstm::{Error, bench::BenchConfig};
    /// assert_eq!(BenchConfig::parse("small_seq").unwrap().timesteps, 100);
    /// assert_eq!(BenchConfig::parse(" 2, 3,4,5 ").unwrap().name, "2,3,4,5");
    /// assert_eq!(BenchConfig::parse("1x100x32x128").unwrap().name, "small_seq");
    /// assert!(matches!(BenchConfig::parse("2,3,0,5"), Err(Error::Config { .. })));
    /// assert!(matches!(BenchConfig::parse("small"), Err(Error::Config { .. })));
    /// ```
    pub fn parse(s: &str) -> Result<BenchConfig> {
        let t = s.trim();
        if let Some(c) = Self::named(t) {
            return Ok(c);
        }
        let names = GRID.map(|g| g.0).join(", ");
        let parts: Vec<&str> = t.split([',', 'x']).map(str::trim).collect();
        let looks_numeric = parts
            .iter()
            .all(|p| p.chars().all(|ch| ch.is_ascii_digit()));
        if parts.len() != 4 || !looks_numeric || parts.iter().any(|p| p.is_empty()) {
            return Err(Error::config(
                "bench config",
                format!(
                    "`{s}` is neither a grid name ({names}) nor a shape B,T,D,U of four \
                     positive integers (e.g. 1,100,32,128)"
                ),
            ));
        }
        let mut n = [0usize; 4];
        for (slot, p) in n.iter_mut().zip(&parts) {
            *slot = p.parse().map_err(|_| {
                Error::config(
                    "bench config",
                    format!("`{s}`: `{p}` is not an integer that fits this machine"),
                )
            })?;
        }
        let name = GRID
            .iter()
            .find(|g| (g.1, g.2, g.3, g.4) == (n[0], n[1], n[2], n[3]))
            .map(|g| g.0.to_string())
            .unwrap_or_else(|| format!("{},{},{},{}", n[0], n[1], n[2], n[3]));
        if n.contains(&0) {
            return Err(Error::config(
                "bench config",
                format!("`{s}`: B, T, D and U must each be at least 1"),
            ));
        }
        let c = BenchConfig::new(name, n[0], n[1], n[2], n[3]);
        c.validate()?;
        Ok(c)
    }

    /// Parses a list of items as the CLI and `WGPU_LSTM_BENCH_CONFIGS` give them: each item
    /// is a comma-separated mix of grid names, `all`, and runs of four integers (a shape).
    /// No items (or only blanks) means the whole grid.
    ///
    /// ```
    /// use wgpu_lstm::bench::BenchConfig;
    /// let v = BenchConfig::parse_list(&["small_seq,2,3,4,5,medium"]).unwrap();
    /// let names: Vec<&str> = v.iter().map(|c| c.name.as_str()).collect();
    /// assert_eq!(names, ["small_seq", "2,3,4,5", "medium"]);
    /// assert_eq!(BenchConfig::parse_list::<&str>(&[]).unwrap().len(), 5);
    /// assert!(BenchConfig::parse_list(&["small_seq,2,3"]).is_err());
    /// ```
    pub fn parse_list<S: AsRef<str>>(items: &[S]) -> Result<Vec<BenchConfig>> {
        let tokens: Vec<&str> = items
            .iter()
            .flat_map(|s| s.as_ref().split(','))
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .collect();
        if tokens.is_empty() {
            return Ok(Self::grid());
        }
        let mut out = Vec::new();
        let mut i = 0;
        while i < tokens.len() {
            let tok = tokens[i];
            if tok == "all" {
                out.extend(Self::grid());
                i += 1;
            } else if tok.chars().all(|c| c.is_ascii_digit()) {
                let run: Vec<&str> = tokens[i..]
                    .iter()
                    .take(4)
                    .take_while(|t| t.chars().all(|c| c.is_ascii_digit()))
                    .copied()
                    .collect();
                if run.len() < 4 {
                    return Err(Error::config(
                        "bench config",
                        format!(
                            "`{}` is an incomplete shape: give four integers B,T,D,U",
                            run.join(",")
                        ),
                    ));
                }
                out.push(Self::parse(&run.join(","))?);
                i += 4;
            } else {
                out.push(Self::parse(tok)?);
                i += 1;
            }
        }
        Ok(out)
    }

    /// Checks that B, T, D and U are each at least 1, that `units` is one an LSTM can have
    /// ([`LstmConfig::validate`]), and that the host memory every device needs — the default
    /// weights with the initializer's work space, and the inputs (B, T, D) — is within the
    /// host-memory budget ([`crate::host_memory`]): all before anything is built.
    ///
    /// ```
    /// use wgpu_lstm::{Error, bench::BenchConfig};
    /// assert!(BenchConfig::new("z", 0, 1, 1, 1).validate().is_err());
    /// assert!(BenchConfig::new("ok", 1, 1, 1, 1).validate().is_ok());
    /// // LSTM(100000) has a 160 GB recurrent kernel: refused up front
    /// let e = BenchConfig::new("big", 1, 1, 1, 100_000).validate().unwrap_err();
    /// assert!(matches!(e, Error::HostMemory { .. }));
    /// assert!(e.to_string().contains("recurrent_kernel"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        self.validate_dims()?;
        self.host_bytes(false)?.check()
    }

    /// Checks [`BenchConfig::validate`] and the host memory a benchmark on `device` needs:
    /// on the CPU also every array of the call ([`crate::cell::call_host_bytes`]).
    ///
    /// ```
    /// use wgpu_lstm::{Device, Error, bench::BenchConfig};
    /// assert!(BenchConfig::new("ok", 2, 3, 4, 5).check_host_memory(&Device::Cpu).is_ok());
    /// // 2^36 rows of inputs: refused before any input is drawn
    /// let e = BenchConfig::new("wide", 1 << 36, 1, 1, 1).check_host_memory(&Device::Cpu).unwrap_err();
    /// assert!(matches!(e, Error::HostMemory { .. }));
    /// ```
    pub fn check_host_memory(&self, device: &Device) -> Result<()> {
        self.validate_dims()?;
        self.host_bytes(matches!(device, Device::Cpu))?.check()
    }

    /// The layer configuration this benchmark builds.
    fn lstm_config(&self) -> LstmConfig {
        LstmConfig {
            stateful: self.is_streaming(),
            cell: self.cell.kind(),
            ..LstmConfig::new(self.units)
        }
    }

    /// Host memory of the benchmark: default weights and their initializer, the inputs, and
    /// on the CPU the call.
    fn host_bytes(&self, cpu: bool) -> Result<crate::host_memory::HostBytes> {
        let cfg = self.lstm_config();
        let (b, t, d) = (self.batch, self.timesteps, self.input_dim);
        let mut need = crate::host_memory::HostBytes::new(format!(
            "bench config `{}` (B = {b}, T = {t}, D = {d}, U = {})",
            self.name, self.units
        ));
        need.absorb(crate::weights::default_init_bytes(d, &cfg)?);
        need.array::<f32>("inputs (B, T, D)", &[b, t, d])?;
        if cpu {
            need.absorb(crate::cell::call_host_bytes(&cfg, b, t, d)?);
        }
        Ok(need)
    }

    /// B, T, D, U ≥ 1.
    fn validate_dims(&self) -> Result<()> {
        for (field, v) in [
            ("batch", self.batch),
            ("timesteps", self.timesteps),
            ("input_dim", self.input_dim),
            ("units", self.units),
        ] {
            if v == 0 {
                return Err(Error::config(
                    field,
                    format!("bench config `{}`: must be at least 1, got 0", self.name),
                ));
            }
        }
        Ok(())
    }

    /// The shape as `B,T,D,U`.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::bench::BenchConfig::named("large").unwrap().shape(), "256,200,512,1024");
    /// ```
    pub fn shape(&self) -> String {
        format!(
            "{},{},{},{}",
            self.batch, self.timesteps, self.input_dim, self.units
        )
    }

    /// Whether this is a streaming benchmark (T = 1): a stateful layer called once per step,
    /// its state carried from call to call.
    ///
    /// ```
    /// use wgpu_lstm::bench::BenchConfig;
    /// assert!(BenchConfig::named("stream_step").unwrap().is_streaming());
    /// assert!(!BenchConfig::named("small_seq").unwrap().is_streaming());
    /// ```
    pub fn is_streaming(&self) -> bool {
        self.timesteps == 1
    }

    /// Floating-point operations of one forward: `2·B·T·4U·(D+U)` (the two matrix products;
    /// the element-wise gate work is not counted), the convention of `cudnn_bench.py`; with
    /// G·U for 4U for a GRU (G = 3) or a SimpleRNN (G = 1).
    ///
    /// ```
    /// let c = wgpu_lstm::bench::BenchConfig::named("small_seq").unwrap();
    /// assert_eq!(c.flop(), 2 * 100 * 4 * 128 * (32 + 128));
    /// ```
    pub fn flop(&self) -> u64 {
        let (b, t, d, u) = (
            self.batch as u64,
            self.timesteps as u64,
            self.input_dim as u64,
            self.units as u64,
        );
        // saturating: a shape this large is refused by validate() anyway
        let g = self.cell.kind().gates() as u64;
        [2, b, t, g, u, d.saturating_add(u)]
            .iter()
            .fold(1u64, |acc, &x| acc.saturating_mul(x))
    }

    /// Estimated peak GPU memory of one layer running this configuration in one part, in
    /// bytes — **computed from the shapes, not measured** (a call whose projection scratch
    /// exceeds the context's scratch budget runs in parts and needs less): the buffers the scheduler allocates, all
    /// f32: weights `(D·4U + U·4U + 4U)`, inputs `B·T·D`, input-projection scratch `B·T·4U`,
    /// output `B·U` (`return_sequences=False`), state `4·B·U` (two h slots, c, the mask hold),
    /// the readback staging `3·B·U`, plus two banks of per-step parameter records, `2·T·256`
    /// bytes. The benchmark also reports the measured peak ([`BenchResult::peak_gpu_bytes`]).
    ///
    /// ```
    /// let c = wgpu_lstm::bench::BenchConfig::new("t", 1, 1, 1, 1);
    /// assert_eq!(c.memory_estimate_bytes(), 4 * (4 + 4 + 4 + 1 + 4 + 1 + 4 + 3) + 2 * 256);
    /// ```
    pub fn memory_estimate_bytes(&self) -> u64 {
        let (b, t, d, u) = (
            self.batch as u64,
            self.timesteps as u64,
            self.input_dim as u64,
            self.units as u64,
        );
        // in u128, saturated to u64: no wrapped estimate for an absurd shape
        let (b, t, d, u) = (b as u128, t as u128, d as u128, u as u128);
        let g = 4 * u;
        let floats = d * g + u * g + g // weights
            + b * t * d // x
            + b * t * g // projection scratch
            + b * u // out
            + 4 * b * u // h (2 slots), c, hold
            + 3 * b * u; // staging: out + h + c
        u64::try_from(floats * 4 + 2 * t * RECORD_STRIDE as u128).unwrap_or(u64::MAX)
    }
}

/// How long to measure.
///
/// A benchmark makes `warmup` untimed calls, then timed calls: at least `reps`, more until
/// `min_time` has passed (at most 100 000 calls), and no new call once `max_time` has passed
/// (at least one call is always timed). `warmup` and `reps` are each at most 100 000
/// ([`BenchOptions::validate`]). With `gpu_timing` on
/// a GPU that has timestamp queries, up to `reps` further calls are timed on the GPU
/// (separately, so the timestamps cost the host-wall numbers nothing).
///
/// ```
/// use wgpu_lstm::bench::BenchOptions;
/// let o = BenchOptions { reps: 50, ..BenchOptions::default() };
/// assert_eq!(o.warmup, 3);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct BenchOptions {
    /// Untimed calls first (buffer growth, pipeline warm-up). Default 3.
    pub warmup: usize,
    /// Least number of timed calls. Default 10.
    pub reps: usize,
    /// Keep timing until the timed calls add up to this. Default 1 s.
    pub min_time: Duration,
    /// Start no new timed call after this much timing. Default 30 s.
    pub max_time: Duration,
    /// Measure GPU time with timestamp queries where supported. Default true.
    pub gpu_timing: bool,
    /// Seed of the weights and the inputs. Default 0.
    pub seed: u64,
    /// The recurrent kernel to force on a GPU for this benchmark (the context's previous
    /// choice is restored afterwards); `None` = the context's choice (by default
    /// [`KernelChoice::Auto`]). Default `None`.
    pub kernel: Option<KernelChoice>,
    /// The projection-scratch budget in bytes to set on a GPU context for this benchmark
    /// (restored afterwards); a call whose scratch `B·T·4U·4` exceeds it runs in parts, one
    /// submit each. `None` = the context's budget (by default
    /// [`crate::gpu::DEFAULT_SCRATCH_BUDGET`], 256 MiB, which splits `large`). Default `None`.
    pub scratch_budget: Option<u64>,
    /// The layer's weight precision: [`Precision::F32`] (exact, the default) or the opt-in
    /// [`Precision::F16Weights`] (recurrent kernel stored as f16 on the GPU).
    pub precision: Precision,
}

impl Default for BenchOptions {
    fn default() -> Self {
        BenchOptions {
            warmup: 3,
            reps: 10,
            min_time: Duration::from_secs(1),
            max_time: Duration::from_secs(30),
            gpu_timing: true,
            seed: 0,
            kernel: None,
            scratch_budget: None,
            precision: Precision::F32,
        }
    }
}

impl BenchOptions {
    /// Checks the call counts: `warmup` and `reps` are each at most 100 000 (the most one
    /// benchmark makes); more is an [`Error::Config`] naming the field.
    ///
    /// ```
    /// use wgpu_lstm::{Error, bench::BenchOptions};
    /// assert!(BenchOptions::default().validate().is_ok());
    /// let e = BenchOptions { reps: usize::MAX, ..BenchOptions::default() }.validate().unwrap_err();
    /// assert!(matches!(&e, Error::Config { field, .. } if field == "reps"));
    /// ```
    pub fn validate(&self) -> Result<()> {
        for (field, calls) in [("warmup", self.warmup), ("reps", self.reps)] {
            if calls > MAX_CALLS {
                return Err(Error::config(
                    field,
                    format!("{calls} calls: at most {MAX_CALLS} (the most one benchmark makes)"),
                ));
            }
        }
        Ok(())
    }

    /// A quick setting for tests and smoke runs: 1 warm-up call, 3 timed calls, no minimum
    /// time.
    ///
    /// ```
    /// assert_eq!(wgpu_lstm::bench::BenchOptions::quick().reps, 3);
    /// ```
    pub fn quick() -> Self {
        BenchOptions {
            warmup: 1,
            reps: 3,
            min_time: Duration::ZERO,
            max_time: Duration::from_secs(10),
            ..BenchOptions::default()
        }
    }
}

/// One benchmark ready to run: a seeded layer on a device and its input. [`run_bench`] and
/// the criterion benches (`benches/lstm.rs`) both time [`BenchCase::forward`].
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}};
/// let mut case = BenchCase::new(&BenchConfig::parse("2,3,4,5").unwrap(), &Device::Cpu, 0).unwrap();
/// case.forward().unwrap();
/// ```
#[derive(Debug)]
pub struct BenchCase {
    config: BenchConfig,
    lstm: Lstm,
    x: Array3<f32>,
    opts: CallOptions,
}

impl BenchCase {
    /// Builds `LSTM(U)` (tanh / sigmoid, Keras default initializers seeded with `seed`,
    /// `return_sequences=False`; `stateful=True` for a streaming config) on `device`, and a
    /// seeded input (B, T, D) uniform in [-1, 1).
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}};
    /// let case = BenchCase::new(&BenchConfig::new("s", 1, 1, 3, 4), &Device::Cpu, 1).unwrap();
    /// assert!(case.layer().config().stateful);
    /// ```
    pub fn new(config: &BenchConfig, device: &Device, seed: u64) -> Result<Self> {
        Self::with_precision(config, device, seed, Precision::F32)
    }

    /// [`BenchCase::new`] with the layer's weights in `precision` (f16 recurrent weights need
    /// a GPU with `SHADER_F16`: a typed error otherwise).
    ///
    /// ```
    /// use wgpu_lstm::{Device, Precision, bench::{BenchCase, BenchConfig}};
    /// let cfg = BenchConfig::new("s", 1, 2, 3, 4);
    /// let mut case = BenchCase::with_precision(&cfg, &Device::Cpu, 1, Precision::F16Weights).unwrap();
    /// case.forward().unwrap();
    /// ```
    pub fn with_precision(
        config: &BenchConfig,
        device: &Device,
        seed: u64,
        precision: Precision,
    ) -> Result<Self> {
        // sizes and host memory first: nothing is built for a shape the host cannot hold
        config.check_host_memory(device)?;
        let cfg = config.lstm_config();
        let weights = LstmWeights::keras_default(config.input_dim, &cfg, seed)?;
        let lstm = Lstm::on_device_with_precision(cfg, weights, device, precision)?;
        let mut rng = StdRng::seed_from_u64(seed ^ 0x5eed_1234);
        let mut x: Array3<f32> = crate::host_memory::zeros(
            "bench inputs (B, T, D)",
            (config.batch, config.timesteps, config.input_dim),
        )?;
        x.iter_mut()
            .for_each(|v| *v = rng.random_range(-1.0f32..1.0));
        Ok(BenchCase {
            config: config.clone(),
            lstm,
            x,
            opts: CallOptions::default(),
        })
    }

    /// One forward call (inputs uploaded, output read back, as a caller would).
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}};
    /// let mut case = BenchCase::new(&BenchConfig::new("s", 1, 2, 3, 4), &Device::Cpu, 1).unwrap();
    /// for _ in 0..3 {
    ///     case.forward().unwrap();
    /// }
    /// ```
    pub fn forward(&mut self) -> Result<()> {
        let out = self
            .lstm
            .call_with(crate::LstmInput::new(self.x.view()), &self.opts)?;
        std::hint::black_box(out);
        Ok(())
    }

    /// Sets the options of the case's GPU calls (kernel, scratch budget, timing).
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}, gpu::{CallOptions, KernelChoice}};
    /// let mut case = BenchCase::new(&BenchConfig::new("s", 1, 2, 3, 4), &Device::Cpu, 1).unwrap();
    /// case.set_options(CallOptions { kernel: KernelChoice::PerStep, ..CallOptions::default() });
    /// case.forward().unwrap();
    /// ```
    pub fn set_options(&mut self, opts: CallOptions) {
        self.opts = opts;
    }

    /// The configuration.
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}};
    /// let case = BenchCase::new(&BenchConfig::new("s", 1, 2, 3, 4), &Device::Cpu, 1).unwrap();
    /// assert_eq!(case.config().units, 4);
    /// ```
    pub fn config(&self) -> &BenchConfig {
        &self.config
    }

    /// The layer under test.
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchCase, BenchConfig}};
    /// let case = BenchCase::new(&BenchConfig::new("s", 1, 2, 3, 4), &Device::Cpu, 1).unwrap();
    /// assert_eq!(case.layer().input_dim(), 3);
    /// ```
    pub fn layer(&self) -> &Lstm {
        &self.lstm
    }
}

/// What one benchmark measured (all times per forward call). Serialises to the JSON that
/// `scripts/compare_cudnn.py` reads.
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, run_bench}};
/// let r = run_bench(&BenchConfig::new("t", 1, 2, 3, 4), &Device::Cpu, &BenchOptions::quick(), |_, _| {}).unwrap();
/// assert_eq!(r.backend, "cpu");
/// assert!(r.dispatches_per_call.is_none() && r.gpu_ms.is_none());
/// let back: wgpu_lstm::bench::BenchResult = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
/// // (serde_json parses floats to within an ulp, not always bit-exactly)
/// assert_eq!((&back.config, back.reps), (&r.config, r.reps));
/// assert!((back.median_ms - r.median_ms).abs() <= 1e-12 * r.median_ms);
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// What was run.
    pub config: BenchConfig,
    /// `cpu (<CPU model>)` or the GPU adapter's name.
    pub device: String,
    /// `cpu`, or the wgpu backend (`Vulkan`, `Metal`, `Dx12`, `Gl`).
    pub backend: String,
    /// Driver name and version (GPU), or the CPU path's description.
    pub driver: String,
    /// A streaming benchmark (stateful layer, one step per call)?
    pub streaming: bool,
    /// The recurrent-kernel choice in force on the GPU (`Auto`, `PerStep`, `Persistent`:
    /// see [`KernelChoice`]; `Auto` takes the persistent kernel for U ≤ 256), or `cpu`.
    /// `dispatches_per_call` tells which kernel ran: 2 = persistent, 1 + T = per step.
    #[serde(default)]
    pub kernel: String,
    /// Untimed calls made first.
    pub warmup: usize,
    /// Timed calls (host wall).
    pub reps: usize,
    /// Median host wall time per call, ms: upload, run, wait, read back the output.
    pub median_ms: f64,
    /// Fastest host wall time per call, ms.
    pub min_ms: f64,
    /// Median GPU time per call from timestamp queries (first pass begin to last pass end;
    /// for a call split by the scratch budget into several submits, the sum over its parts,
    /// the host's gaps between them not included), ms; `None` on the CPU, where the adapter
    /// lacks `TIMESTAMP_QUERY`, or with timing off.
    pub gpu_ms: Option<f64>,
    /// Calls timed on the GPU.
    pub gpu_reps: usize,
    /// Compute dispatches per call ([`GpuStats`] delta over the timed calls); GPU only.
    pub dispatches_per_call: Option<f64>,
    /// Queue submissions per call; GPU only.
    pub submits_per_call: Option<f64>,
    /// Bytes written host → GPU per call; GPU only.
    pub bytes_uploaded_per_call: Option<f64>,
    /// Bytes read GPU → host per call; GPU only.
    pub bytes_read_per_call: Option<f64>,
    /// GPU buffers created per call (0 in a steady state: nothing is allocated per call);
    /// GPU only.
    #[serde(default)]
    pub buffers_created_per_call: Option<f64>,
    /// Floating-point operations per call ([`BenchConfig::flop`]).
    pub flop: u64,
    /// `flop / median_ms`, in GFLOP/s.
    pub gflops: f64,
    /// `flop / gpu_ms`, in GFLOP/s, when GPU time was measured.
    pub gpu_gflops: Option<f64>,
    /// [`BenchConfig::memory_estimate_bytes`]: computed from the shapes, not measured.
    pub memory_estimate_bytes: u64,
    /// Measured peak device memory in buffers while building the layer and running the
    /// calls ([`GpuStats::peak_buffer_bytes`], wgpu-hal's allocation counter: everything the
    /// context holds, allocation rounding included); GPU only, `None` where the backend does
    /// not count.
    #[serde(default)]
    pub peak_gpu_bytes: Option<u64>,
    /// Whether the opt-in f16 recurrent weights were used ([`Precision::F16Weights`]); the
    /// comparison with cuDNN then applies the f16 goals.
    #[serde(default)]
    pub f16_weights: bool,
}

impl BenchResult {
    /// Whether this ran on a GPU.
    ///
    /// ```
    /// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, run_bench}};
    /// let r = run_bench(&BenchConfig::new("t", 1, 1, 1, 1), &Device::Cpu, &BenchOptions::quick(), |_, _| {}).unwrap();
    /// assert!(!r.is_gpu());
    /// ```
    pub fn is_gpu(&self) -> bool {
        self.backend != "cpu"
    }
}

/// The CPU model from `/proc/cpuinfo` (`"unknown CPU"` elsewhere).
///
/// ```
/// assert!(!wgpu_lstm::bench::cpu_model().is_empty());
/// ```
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "unknown CPU".into())
}

fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        return f64::NAN;
    }
    if n % 2 == 1 {
        v[n / 2]
    } else {
        0.5 * (v[n / 2 - 1] + v[n / 2])
    }
}

/// Parses a recurrent-kernel choice as the CLI takes it: `auto`, `per-step`,
/// `per-step-subgroup` or `persistent`.
///
/// ```
/// use wgpu_lstm::gpu::KernelChoice;
/// assert_eq!(wgpu_lstm::bench::parse_kernel_choice("per-step").unwrap(), KernelChoice::PerStep);
/// assert!(wgpu_lstm::bench::parse_kernel_choice("fast").is_err());
/// ```
pub fn parse_kernel_choice(s: &str) -> Result<KernelChoice> {
    match s.trim() {
        "auto" => Ok(KernelChoice::Auto),
        "per-step" | "per_step" | "perstep" => Ok(KernelChoice::PerStep),
        "per-step-subgroup" | "per_step_subgroup" | "subgroup" => Ok(KernelChoice::PerStepSubgroup),
        "persistent" => Ok(KernelChoice::Persistent),
        other => Err(Error::config(
            "kernel",
            format!("`{other}` is not one of auto, per-step, per-step-subgroup, persistent"),
        )),
    }
}

/// Parses a weight precision as the CLI takes it: `f32` or `f16` (f16 recurrent weights).
///
/// ```
/// use wgpu_lstm::Precision;
/// assert_eq!(wgpu_lstm::bench::parse_precision("f16").unwrap(), Precision::F16Weights);
/// assert!(wgpu_lstm::bench::parse_precision("bf16").is_err());
/// ```
pub fn parse_precision(s: &str) -> Result<Precision> {
    match s.trim() {
        "f32" => Ok(Precision::F32),
        "f16" | "f16-weights" => Ok(Precision::F16Weights),
        other => Err(Error::config(
            "precision",
            format!("`{other}` is not one of f32, f16"),
        )),
    }
}

/// Runs one benchmark: builds the layer ([`BenchCase::new`]), makes the warm-up and timed
/// calls ([`BenchOptions`]) and, on a GPU, reads the work counters and GPU time.
///
/// `progress(done, total)` is called after every call; `total` may grow once, after the
/// warm-up, when `min_time` asks for more calls than `reps`.
///
/// On a GPU the per-call counters are deltas of [`crate::gpu::GpuContext::stats`] over the timed calls:
/// nothing else may use the same context meanwhile (tests sharing one context must give
/// the benchmark its own). GPU timing is switched on for the GPU-timed calls only.
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, run_bench}};
/// let mut calls = 0;
/// let r = run_bench(&BenchConfig::new("t", 2, 3, 4, 5), &Device::Cpu, &BenchOptions::quick(), |_, _| calls += 1).unwrap();
/// assert_eq!(calls, 1 + r.reps);
/// assert!(r.min_ms <= r.median_ms && r.gflops > 0.0);
/// ```
pub fn run_bench(
    config: &BenchConfig,
    device: &Device,
    opts: &BenchOptions,
    mut progress: impl FnMut(usize, usize),
) -> Result<BenchResult> {
    opts.validate()?;
    let ctx = match device {
        Device::Gpu(ctx) => Some(ctx.clone()),
        Device::Cpu => None,
    };
    let mut call_opts = CallOptions::default();
    if let Some(k) = opts.kernel {
        call_opts.kernel = k;
    }
    if let Some(b) = opts.scratch_budget {
        call_opts.scratch_budget = b;
    }
    let kernel = match &ctx {
        Some(_) => format!("{:?}", call_opts.kernel),
        None => "cpu".to_string(),
    };
    if let Some(c) = &ctx {
        c.reset_peak_memory();
    }
    let mut case = BenchCase::with_precision(config, device, opts.seed, opts.precision)?;
    case.set_options(call_opts);
    let timed_gpu = ctx.as_ref().is_some_and(|c| {
        opts.gpu_timing
            && c.device()
                .features()
                .contains(wgpu::Features::TIMESTAMP_QUERY)
    });
    let gpu_planned = if timed_gpu { opts.reps.max(1) } else { 0 };
    let reps = opts.reps.max(1);
    let mut total = opts.warmup + reps + gpu_planned;
    let mut done = 0;

    let mut warm = Vec::with_capacity(opts.warmup);
    for _ in 0..opts.warmup {
        let t0 = Instant::now();
        case.forward()?;
        warm.push(t0.elapsed().as_secs_f64());
        done += 1;
        progress(done, total);
    }

    // How many timed calls: reps, or more to fill min_time, bounded by max_time.
    let mut planned = reps;
    if let Some(&est) = warm.last() {
        let est = est.max(1e-9);
        let for_min = (opts.min_time.as_secs_f64() / est).ceil() as usize;
        let cap = ((opts.max_time.as_secs_f64() / est).floor() as usize).max(1);
        planned = planned.max(for_min).min(cap).clamp(1, MAX_CALLS);
        total = opts.warmup + planned + gpu_planned.min(planned);
    }

    // what the choice turned into for this shape (Auto, or a forced kernel that does not apply)
    let ran = case.layer().last_report().kernel;
    let kernel = match &ctx {
        Some(_) if opts.warmup > 0 && !ran.is_empty() => format!("{kernel} → {ran}"),
        _ => kernel,
    };
    let before = ctx.as_ref().map(|c| c.stats());
    let mut times = Vec::with_capacity(planned);
    let start = Instant::now();
    loop {
        let n = times.len();
        let elapsed = start.elapsed();
        let wanted = n < planned || (elapsed < opts.min_time && n < MAX_CALLS);
        if !wanted || (n > 0 && elapsed >= opts.max_time) {
            break;
        }
        if n >= planned {
            // The warm-up underestimated how many calls fill min_time.
            planned += 1;
            total += 1;
        }
        let t0 = Instant::now();
        case.forward()?;
        times.push(t0.elapsed().as_secs_f64() * 1e3);
        done += 1;
        progress(done, total);
    }
    let calls = times.len();
    let per_call = |after: &GpuStats, before: &GpuStats| {
        let n = calls as f64;
        (
            (after.dispatches - before.dispatches) as f64 / n,
            (after.submits - before.submits) as f64 / n,
            (after.bytes_uploaded - before.bytes_uploaded) as f64 / n,
            (after.bytes_read - before.bytes_read) as f64 / n,
            (after.buffers_created - before.buffers_created) as f64 / n,
        )
    };
    let counters = match (&ctx, before) {
        (Some(c), Some(b)) => Some(per_call(&c.stats(), &b)),
        _ => None,
    };

    let mut gpu_times = Vec::new();
    if let (Some(c), true) = (&ctx, timed_gpu) {
        let n = gpu_planned.min(calls);
        total = done + n;
        let _ = c;
        case.set_options(CallOptions {
            gpu_timing: true,
            ..call_opts
        });
        let start = Instant::now();
        while gpu_times.len() < n && (gpu_times.is_empty() || start.elapsed() < opts.max_time) {
            case.forward()?;
            if let Some(ns) = case.layer().last_report().gpu_time_ns {
                gpu_times.push(ns as f64 / 1e6);
            }
            done += 1;
            progress(done, total);
        }
    }
    if done < total {
        // Fewer calls than announced (max_time, or no GPU-timed phase): close the display.
        progress(done, done);
    }

    let min_ms = times.iter().copied().fold(f64::INFINITY, f64::min);
    let median_ms = median(&mut times);
    let gpu_reps = gpu_times.len();
    let gpu_ms = (gpu_reps > 0).then(|| median(&mut gpu_times));
    let flop = config.flop();
    let (device_name, backend, driver) = match device {
        Device::Cpu => (
            format!("cpu ({})", cpu_model()),
            "cpu".to_string(),
            crate::cpu_kernels::describe(),
        ),
        Device::Gpu(c) => {
            let info = c.adapter_info();
            (
                info.name.clone(),
                format!("{:?}", info.backend),
                format!("{} {}", info.driver, info.driver_info)
                    .trim()
                    .to_string(),
            )
        }
    };
    Ok(BenchResult {
        config: config.clone(),
        device: device_name,
        backend,
        driver,
        streaming: config.is_streaming(),
        kernel,
        warmup: opts.warmup,
        reps: calls,
        median_ms,
        min_ms,
        gpu_ms,
        gpu_reps,
        dispatches_per_call: counters.map(|c| c.0),
        submits_per_call: counters.map(|c| c.1),
        bytes_uploaded_per_call: counters.map(|c| c.2),
        bytes_read_per_call: counters.map(|c| c.3),
        buffers_created_per_call: counters.map(|c| c.4),
        flop,
        gflops: flop as f64 / (median_ms * 1e-3) / 1e9,
        gpu_gflops: gpu_ms.map(|g| flop as f64 / (g * 1e-3) / 1e9),
        memory_estimate_bytes: config.memory_estimate_bytes(),
        peak_gpu_bytes: ctx
            .as_ref()
            .map(|c| c.stats().peak_buffer_bytes)
            .filter(|&b| b > 0),
        f16_weights: opts.precision == Precision::F16Weights,
    })
}

/// A benchmark that could not run (e.g. [`Error::TooLarge`] on a small adapter).
///
/// ```
/// let f = wgpu_lstm::bench::BenchFailure { config: "large".into(), device: "cpu".into(), error: "x".into() };
/// assert_eq!(f.config, "large");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchFailure {
    /// The configuration's name.
    pub config: String,
    /// The device's name.
    pub device: String,
    /// The error, as text.
    pub error: String,
}

/// The results of a suite (what `wgpu-lstm bench` writes as JSON), with the failures.
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, BenchReport, run_suite}};
/// let report = run_suite(&[BenchConfig::new("t", 1, 2, 3, 4)], &[Device::Cpu], &BenchOptions::quick());
/// let back = BenchReport::from_json(&report.to_json()).unwrap();
/// assert_eq!(back.results.len(), 1);
/// assert!(back.failures.is_empty());
/// ```
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// `wgpu-lstm` version that measured.
    pub crate_version: String,
    /// The host's CPU model.
    pub host_cpu: String,
    /// One entry per (configuration, device) that ran.
    pub results: Vec<BenchResult>,
    /// One entry per (configuration, device) that failed.
    pub failures: Vec<BenchFailure>,
}

impl BenchReport {
    /// A report of the given results, stamped with this crate's version and the host CPU.
    ///
    /// ```
    /// let r = wgpu_lstm::bench::BenchReport::new(Vec::new());
    /// assert_eq!(r.crate_version, env!("CARGO_PKG_VERSION"));
    /// ```
    pub fn new(results: Vec<BenchResult>) -> Self {
        BenchReport {
            crate_version: env!("CARGO_PKG_VERSION").to_string(),
            host_cpu: cpu_model(),
            results,
            failures: Vec::new(),
        }
    }

    /// Pretty-printed JSON (`{"crate_version", "host_cpu", "results": [...], "failures": [...]}`).
    ///
    /// ```
    /// let j = wgpu_lstm::bench::BenchReport::new(Vec::new()).to_json();
    /// assert!(j.contains("\"results\": []"));
    /// ```
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a report always serialises")
    }

    /// Reads a report written by [`BenchReport::to_json`].
    ///
    /// ```
    /// assert!(wgpu_lstm::bench::BenchReport::from_json("{").is_err());
    /// ```
    pub fn from_json(s: &str) -> Result<Self> {
        serde_json::from_str(s).map_err(|e| Error::Json {
            path: "benchmark report".into(),
            reason: e.to_string(),
        })
    }

    /// [`markdown_table`] of the results, then a list of the failures, if any.
    ///
    /// ```
    /// let mut r = wgpu_lstm::bench::BenchReport::new(Vec::new());
    /// r.failures.push(wgpu_lstm::bench::BenchFailure { config: "large".into(), device: "gpu".into(), error: "too large".into() });
    /// assert!(r.markdown().contains("FAILED: large on gpu: too large"));
    /// ```
    pub fn markdown(&self) -> String {
        let mut s = markdown_table(&self.results);
        if !self.failures.is_empty() {
            s.push('\n');
            for f in &self.failures {
                s.push_str(&format!(
                    "- FAILED: {} on {}: {}\n",
                    f.config, f.device, f.error
                ));
            }
        }
        s
    }

    /// Writes the JSON, Markdown ([`BenchReport::markdown`]) and SVG ([`svg_chart`]) files
    /// that are given.
    ///
    /// ```
    /// let dir = std::env::temp_dir().join("wgpu-lstm-doc-bench");
    /// std::fs::create_dir_all(&dir).unwrap();
    /// let json = dir.join("r.json");
    /// wgpu_lstm::bench::BenchReport::new(Vec::new()).write_files(Some(&json), None, None).unwrap();
    /// assert!(json.exists());
    /// ```
    pub fn write_files(
        &self,
        json: Option<&Path>,
        markdown: Option<&Path>,
        svg: Option<&Path>,
    ) -> Result<()> {
        let write = |path: Option<&Path>, text: String| -> Result<()> {
            match path {
                None => Ok(()),
                Some(p) => std::fs::write(p, text).map_err(|source| Error::Io {
                    path: p.to_path_buf(),
                    source,
                }),
            }
        };
        write(json, self.to_json())?;
        write(markdown, self.markdown())?;
        write(svg, svg_chart(&self.results))
    }
}

/// A progress display on stderr: `label done/total` rewritten in place at most every
/// 100 ms, and a newline when done. (A stand-in for a progress-bar crate.)
///
/// ```
/// let mut p = wgpu_lstm::bench::stderr_progress("cpu/small_seq");
/// p(1, 2);
/// p(2, 2);
/// ```
pub fn stderr_progress(label: &str) -> impl FnMut(usize, usize) + use<> {
    let label = label.to_string();
    let mut last: Option<Instant> = None;
    move |done, total| {
        let finished = done >= total;
        if finished || last.is_none_or(|t| t.elapsed() >= Duration::from_millis(100)) {
            last = Some(Instant::now());
            let mut err = std::io::stderr().lock();
            let _ = write!(err, "\r{label}: {done}/{total} calls");
            if finished {
                let _ = writeln!(err);
            }
            let _ = err.flush();
        }
    }
}

/// Runs every configuration on every device ([`run_bench`] with [`BenchOptions`]), showing
/// progress and a one-line summary per benchmark on stderr. A benchmark that fails is
/// recorded in [`BenchReport::failures`] and the suite goes on.
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, run_suite}};
/// let cfgs = [BenchConfig::new("a", 1, 2, 3, 4), BenchConfig::new("bad", 0, 2, 3, 4)];
/// let r = run_suite(&cfgs, &[Device::Cpu], &BenchOptions::quick());
/// assert_eq!((r.results.len(), r.failures.len()), (1, 1));
/// ```
pub fn run_suite(configs: &[BenchConfig], devices: &[Device], opts: &BenchOptions) -> BenchReport {
    let mut report = BenchReport::new(Vec::new());
    for device in devices {
        let dev = match device {
            Device::Cpu => "cpu".to_string(),
            Device::Gpu(c) => c.adapter_name().to_string(),
        };
        let kind = if matches!(device, Device::Cpu) {
            "cpu"
        } else {
            "gpu"
        };
        for cfg in configs {
            let label = if cfg.name == cfg.shape() {
                format!("{kind}/{}", cfg.name)
            } else {
                format!("{kind}/{} ({})", cfg.name, cfg.shape())
            };
            match run_bench(cfg, device, opts, stderr_progress(&label)) {
                Ok(r) => {
                    // (a closed stderr must not panic: the report is what matters)
                    let _ = writeln!(
                        std::io::stderr(),
                        "{label} on {dev}: median {} ms, min {} ms, GPU {}, {:.2} GFLOP/s",
                        fmt_ms(r.median_ms),
                        fmt_ms(r.min_ms),
                        r.gpu_ms
                            .map(|g| format!("{} ms", fmt_ms(g)))
                            .unwrap_or_else(|| "not timed".into()),
                        r.gflops
                    );
                    report.results.push(r);
                }
                Err(e) => {
                    let _ = writeln!(std::io::stderr(), "\n{label} on {dev}: FAILED: {e}");
                    report.failures.push(BenchFailure {
                        config: cfg.name.clone(),
                        device: dev.clone(),
                        error: e.to_string(),
                    });
                }
            }
        }
    }
    report
}

/// Milliseconds with about four significant digits.
fn fmt_ms(v: f64) -> String {
    if !v.is_finite() {
        return "-".into();
    }
    let a = v.abs();
    if a >= 100.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.3}")
    } else if a >= 0.01 {
        format!("{v:.4}")
    } else {
        format!("{v:.2e}")
    }
}

fn fmt_opt(v: Option<f64>, f: impl Fn(f64) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

fn fmt_count(v: f64) -> String {
    if (v - v.round()).abs() < 1e-9 {
        format!("{}", v.round() as u64)
    } else {
        format!("{v:.2}")
    }
}

fn fmt_gflops(v: f64) -> String {
    if v >= 100.0 {
        format!("{v:.0}")
    } else if v >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

/// A Markdown table, one row per result: configuration, shape, mode, kernel, device, timed calls,
/// host wall median and min (ms), GPU time (ms), GFLOP/s from the host median, dispatches,
/// submits, bytes uploaded and read, and GPU buffers created per call, the measured peak GPU
/// buffer memory and the computed estimate (MiB).
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, markdown_table, run_bench}};
/// let r = run_bench(&BenchConfig::new("t", 1, 2, 3, 4), &Device::Cpu, &BenchOptions::quick(), |_, _| {}).unwrap();
/// let md = markdown_table(&[r.clone(), r]);
/// assert_eq!(md.lines().count(), 2 + 2);
/// assert!(md.starts_with("| config |"));
/// ```
pub fn markdown_table(results: &[BenchResult]) -> String {
    let mut s = String::from(
        "| config | B,T,D,U | mode | kernel | device | calls | host median ms | host min ms | GPU ms | \
         GFLOP/s (host) | dispatches/call | submits/call | uploaded B/call | read B/call | \
         buffers/call | peak GPU MiB (measured) | est. GPU MiB (computed) |\n\
         |---|---|---|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {:.1} |\n",
            md_cell(&r.config.name),
            r.config.shape(),
            if r.streaming {
                "stream (stateful, T=1/call)"
            } else {
                "sequence"
            },
            if r.f16_weights {
                format!("{} (f16 R)", r.kernel)
            } else {
                r.kernel.clone()
            },
            md_cell(&r.device),
            r.reps,
            fmt_ms(r.median_ms),
            fmt_ms(r.min_ms),
            fmt_opt(r.gpu_ms, fmt_ms),
            fmt_gflops(r.gflops),
            fmt_opt(r.dispatches_per_call, fmt_count),
            fmt_opt(r.submits_per_call, fmt_count),
            fmt_opt(r.bytes_uploaded_per_call, fmt_count),
            fmt_opt(r.bytes_read_per_call, fmt_count),
            fmt_opt(r.buffers_created_per_call, fmt_count),
            fmt_opt(r.peak_gpu_bytes.map(|b| b as f64 / (1u64 << 20) as f64), |m| format!(
                "{m:.1}"
            )),
            r.memory_estimate_bytes as f64 / (1u64 << 20) as f64,
        ));
    }
    s
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|")
}

/// A decade tick label: 1000, 10, 1, 0.1, 0.001, then 1e-4 and below.
fn fmt_decade(k: i32) -> String {
    if (-3..=15).contains(&k) {
        format!("{}", 10f64.powi(k))
    } else {
        format!("1e{k}")
    }
}

fn xml_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

const PALETTE: [&str; 6] = [
    "#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2", "#b07aa1",
];

/// A hand-written SVG bar chart: per configuration a group with one bar per device, bar
/// height the median host wall ms on a log scale (decade grid lines), a black tick at the
/// GPU time where it was measured, and a legend. The bars are the only `<rect>` elements
/// (one per result), so the chart is easy to check.
///
/// ```
/// use wgpu_lstm::{Device, bench::{BenchConfig, BenchOptions, run_bench, svg_chart}};
/// let r = run_bench(&BenchConfig::new("t", 1, 2, 3, 4), &Device::Cpu, &BenchOptions::quick(), |_, _| {}).unwrap();
/// let svg = svg_chart(&[r]);
/// assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
/// assert_eq!(svg.matches("<rect").count(), 1);
/// ```
pub fn svg_chart(results: &[BenchResult]) -> String {
    // one series (bar colour) per device and precision
    let series = |r: &BenchResult| {
        if r.f16_weights {
            format!("{} (f16 R)", r.device)
        } else {
            r.device.clone()
        }
    };
    let mut configs: Vec<&str> = Vec::new();
    let mut devices: Vec<String> = Vec::new();
    for r in results {
        if !configs.contains(&r.config.name.as_str()) {
            configs.push(&r.config.name);
        }
        if !devices.contains(&series(r)) {
            devices.push(series(r));
        }
    }
    let (left, right, top, plot_h) = (70.0, 20.0, 50.0, 260.0);
    let bar_w = 26.0;
    let group_w = devices.len().max(1) as f64 * bar_w + 30.0;
    let legend_h = 18.0 * devices.len() as f64;
    let width = (left + right + group_w * configs.len().max(1) as f64).max(600.0);
    let height = top + plot_h + 50.0 + legend_h;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" \
         viewBox=\"0 0 {width:.0} {height:.0}\" font-family=\"sans-serif\" font-size=\"11\">\n"
    );
    s.push_str(&format!(
        "<text x=\"{:.0}\" y=\"20\" font-size=\"13\" text-anchor=\"middle\">wgpu-lstm: median host wall ms per forward, log scale (black tick: GPU ms)</text>\n",
        width / 2.0
    ));
    let values: Vec<f64> = results
        .iter()
        .flat_map(|r| std::iter::once(r.median_ms).chain(r.gpu_ms))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    if values.is_empty() {
        s.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\">no results</text>\n</svg>\n",
            width / 2.0,
            top + plot_h / 2.0
        ));
        return s;
    }
    let lo_v = values.iter().copied().fold(f64::INFINITY, f64::min);
    let hi_v = values.iter().copied().fold(0.0, f64::max);
    let mut lo = lo_v.log10().floor();
    if lo == lo_v.log10() {
        lo -= 1.0;
    }
    let hi = hi_v.log10().ceil().max(lo + 1.0);
    let y_of = |v: f64| {
        let f = ((v.max(1e-300).log10() - lo) / (hi - lo)).clamp(0.0, 1.0);
        top + plot_h * (1.0 - f)
    };
    let axis_right = width - right;
    for k in (lo as i32)..=(hi as i32) {
        let v = 10f64.powi(k);
        let y = y_of(v);
        s.push_str(&format!(
            "<line x1=\"{left:.0}\" y1=\"{y:.1}\" x2=\"{axis_right:.0}\" y2=\"{y:.1}\" stroke=\"#ddd\"/>\n\
             <text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{}</text>\n",
            left - 6.0,
            y + 4.0,
            fmt_decade(k),
        ));
    }
    s.push_str(&format!(
        "<text x=\"14\" y=\"{:.0}\" transform=\"rotate(-90 14 {:.0})\" text-anchor=\"middle\">ms</text>\n",
        top + plot_h / 2.0,
        top + plot_h / 2.0
    ));
    let base = top + plot_h;
    for (gi, cfg) in configs.iter().enumerate() {
        let gx = left + group_w * gi as f64 + 15.0;
        for (di, dev) in devices.iter().enumerate() {
            let Some(r) = results
                .iter()
                .find(|r| r.config.name == *cfg && series(r) == *dev)
            else {
                continue;
            };
            let x = gx + bar_w * di as f64;
            let y = y_of(r.median_ms);
            s.push_str(&format!(
                "<rect x=\"{x:.1}\" y=\"{y:.1}\" width=\"{:.1}\" height=\"{:.1}\" fill=\"{}\"><title>{} on {}: {} ms</title></rect>\n",
                bar_w - 4.0,
                (base - y).max(0.0),
                PALETTE[di % PALETTE.len()],
                xml_escape(cfg),
                xml_escape(dev),
                fmt_ms(r.median_ms)
            ));
            let tick_y = r.gpu_ms.filter(|g| g.is_finite() && *g > 0.0).map(y_of);
            s.push_str(&format!(
                "<text x=\"{:.1}\" y=\"{:.1}\" font-size=\"9\" text-anchor=\"middle\">{}</text>\n",
                x + (bar_w - 4.0) / 2.0,
                y.min(tick_y.unwrap_or(y)) - 4.0,
                fmt_ms(r.median_ms)
            ));
            if let (Some(g), Some(gy)) = (r.gpu_ms, tick_y) {
                s.push_str(&format!(
                    "<line x1=\"{:.1}\" y1=\"{gy:.1}\" x2=\"{:.1}\" y2=\"{gy:.1}\" stroke=\"#000\" stroke-width=\"2\"><title>GPU {} ms</title></line>\n",
                    x - 2.0,
                    x + bar_w - 2.0,
                    fmt_ms(g)
                ));
            }
        }
        s.push_str(&format!(
            "<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{}</text>\n",
            gx + bar_w * devices.len() as f64 / 2.0 - 2.0,
            base + 16.0,
            xml_escape(cfg)
        ));
    }
    s.push_str(&format!(
        "<line x1=\"{left:.0}\" y1=\"{base:.1}\" x2=\"{axis_right:.0}\" y2=\"{base:.1}\" stroke=\"#000\"/>\n"
    ));
    for (di, dev) in devices.iter().enumerate() {
        let y = base + 36.0 + 18.0 * di as f64;
        s.push_str(&format!(
            "<circle cx=\"{:.0}\" cy=\"{:.1}\" r=\"6\" fill=\"{}\"/>\n<text x=\"{:.0}\" y=\"{:.1}\">{}</text>\n",
            left + 6.0,
            y - 4.0,
            PALETTE[di % PALETTE.len()],
            left + 18.0,
            y,
            xml_escape(dev)
        ));
    }
    s.push_str("</svg>\n");
    s
}

/// The issue's goals against the cuDNN fp32 CUDA-graph time: (config, largest ours / cuDNN).
///
/// ```
/// assert!(wgpu_lstm::bench::SEQUENCE_GOALS.contains(&("medium", 0.6)));
/// ```
pub const SEQUENCE_GOALS: [(&str, f64); 4] = [
    ("small_seq", 0.8),
    ("long_seq", 0.5),
    ("medium", 0.6),
    ("large", 1.0),
];

/// The goals for the opt-in f16 recurrent weights, against the same cuDNN fp32 graph time
/// (`large` and `stream_step` have none: the issue's f16 goal for `large` is a stretch
/// against TF32 with cooperative matrices).
///
/// ```
/// assert!(wgpu_lstm::bench::F16_SEQUENCE_GOALS.contains(&("small_seq", 0.33)));
/// ```
pub const F16_SEQUENCE_GOALS: [(&str, f64); 3] =
    [("small_seq", 0.33), ("long_seq", 0.5), ("medium", 0.4)];

/// The streaming goals: host wall per call ≤ this × PyTorch's eager wall (`wall_ms`) ...
///
/// ```
/// assert_eq!(wgpu_lstm::bench::STREAM_WALL_GOAL, 0.5);
/// ```
pub const STREAM_WALL_GOAL: f64 = 0.5;

/// ... and GPU time per call ≤ this × cuDNN's fp32 CUDA-graph time (`graph_ms`).
///
/// ```
/// assert_eq!(wgpu_lstm::bench::STREAM_GPU_GOAL, 1.0);
/// ```
pub const STREAM_GPU_GOAL: f64 = 1.0;

fn ratio_cell(r: Option<f64>) -> String {
    r.map(|v| format!("{v:.2}×")).unwrap_or_else(|| "-".into())
}

/// One goal check: `Some(true)` met, `Some(false)` missed, `None` not measurable.
fn check(ratio: Option<f64>, goal: f64) -> Option<bool> {
    ratio.map(|r| r <= goal)
}

/// Compares GPU results with the output JSON of `cudnn_bench.py` (`fp32.<name>.graph_ms`,
/// `eager_ms`, `wall_ms`), as a Markdown table with the ratios ours / cuDNN and the issue's
/// goals marked met or missed:
///
/// * sequences ([`SEQUENCE_GOALS`]): our GPU time / cuDNN fp32 graph ≤ 0.8 (`small_seq`),
///   0.5 (`long_seq`), 0.6 (`medium`), 1.0 (`large`);
/// * streaming (`stream_step`): our host wall / PyTorch eager wall ≤ 0.5 *and* our GPU time /
///   cuDNN fp32 graph ≤ 1.0.
///
/// A missing GPU time (no timestamp queries) makes a goal "not measured", never met. CPU
/// results and configurations absent from the JSON are listed as not compared.
/// `scripts/compare_cudnn.py` prints the same table.
///
/// ```
/// use wgpu_lstm::bench::{BenchConfig, BenchResult, compare_with_cudnn};
/// let r = BenchResult {
///     config: BenchConfig::named("small_seq").unwrap(), device: "GPU".into(), backend: "Vulkan".into(),
///     driver: String::new(), streaming: false, kernel: "Auto".into(), warmup: 1, reps: 1, median_ms: 0.5, min_ms: 0.5,
///     gpu_ms: Some(0.1), gpu_reps: 1, dispatches_per_call: Some(101.0), submits_per_call: Some(1.0),
///     bytes_uploaded_per_call: None, bytes_read_per_call: None, buffers_created_per_call: None,
///     flop: 1, gflops: 1.0,
///     gpu_gflops: None, memory_estimate_bytes: 0, peak_gpu_bytes: None, f16_weights: false,
/// };
/// let cudnn = serde_json::json!({"device": "H100", "fp32": {"small_seq": {"graph_ms": 0.2, "eager_ms": 0.25, "wall_ms": 0.3}}});
/// let md = compare_with_cudnn(&[r], &cudnn);
/// assert!(md.contains("| 0.50× |") && md.contains("met"));
/// ```
pub fn compare_with_cudnn(ours: &[BenchResult], cudnn_json: &serde_json::Value) -> String {
    let get = |k: &str| {
        cudnn_json
            .get(k)
            .map(|v| match v {
                serde_json::Value::String(s) => s.clone(),
                other => other.to_string(),
            })
            .unwrap_or_else(|| "?".into())
    };
    let mut s = format!(
        "cuDNN reference: {} (PyTorch {}, cuDNN {}), fp32 (TF32 off). Ratios are ours / \
         reference; compare only numbers measured in one run on one machine.\n\n",
        get("device"),
        get("torch"),
        get("cudnn")
    );
    s.push_str(
        "| config | device | kernel | ours GPU ms | ours host ms | cuDNN graph ms | cuDNN eager ms | \
         PyTorch wall ms | GPU / graph | host / wall | goal | status |\n\
         |---|---|---|---:|---:|---:|---:|---:|---:|---:|---|---|\n",
    );
    let (mut met, mut missed, mut unmeasured) = (0, 0, 0);
    let mut notes = Vec::new();
    for r in ours {
        if !r.is_gpu() {
            notes.push(format!(
                "{} on {}: CPU result, not compared",
                r.config.name, r.device
            ));
            continue;
        }
        let row = cudnn_json.get("fp32").and_then(|f| f.get(&r.config.name));
        let num = |k: &str| {
            row.and_then(|v| v.get(k))
                .and_then(serde_json::Value::as_f64)
        };
        let (graph, eager, wall) = (num("graph_ms"), num("eager_ms"), num("wall_ms"));
        if row.is_none() {
            notes.push(format!(
                "{} on {}: not in the cuDNN JSON, not compared",
                r.config.name, r.device
            ));
            continue;
        }
        let gpu_ratio = r.gpu_ms.zip(graph).map(|(a, b)| a / b);
        let wall_ratio = wall.map(|w| r.median_ms / w);
        let goals: &[(&str, f64)] = if r.f16_weights {
            &F16_SEQUENCE_GOALS
        } else {
            &SEQUENCE_GOALS
        };
        let (goal, verdict) = if r.config.name == "stream_step" && !r.f16_weights {
            let a = check(wall_ratio, STREAM_WALL_GOAL);
            let b = check(gpu_ratio, STREAM_GPU_GOAL);
            let v = match (a, b) {
                (Some(true), Some(true)) => Some(true),
                (Some(false), _) | (_, Some(false)) => Some(false),
                _ => None,
            };
            (
                format!("host/wall ≤ {STREAM_WALL_GOAL}× and GPU/graph ≤ {STREAM_GPU_GOAL}×"),
                Some(v),
            )
        } else if let Some(&(_, g)) = goals.iter().find(|(n, _)| *n == r.config.name) {
            (format!("GPU/graph ≤ {g}×"), Some(check(gpu_ratio, g)))
        } else {
            ("-".to_string(), None)
        };
        let status = match verdict {
            None => "-".to_string(),
            Some(Some(true)) => {
                met += 1;
                "met".to_string()
            }
            Some(Some(false)) => {
                missed += 1;
                "missed".to_string()
            }
            Some(None) => {
                unmeasured += 1;
                "not measured".to_string()
            }
        };
        s.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |\n",
            md_cell(&if r.f16_weights {
                format!("{} (f16 R)", r.config.name)
            } else {
                r.config.name.clone()
            }),
            md_cell(&r.device),
            md_cell(&r.kernel),
            fmt_opt(r.gpu_ms, fmt_ms),
            fmt_ms(r.median_ms),
            fmt_opt(graph, fmt_ms),
            fmt_opt(eager, fmt_ms),
            fmt_opt(wall, fmt_ms),
            ratio_cell(gpu_ratio),
            ratio_cell(wall_ratio),
            goal,
            status
        ));
    }
    s.push_str(&format!(
        "\ngoals: {met} met, {missed} missed, {unmeasured} not measured\n"
    ));
    for n in notes {
        s.push_str(&format!("- {n}\n"));
    }
    s
}
