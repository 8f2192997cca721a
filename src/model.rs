//! [`Model`]: a [`Plan`] on a device — loaded from a Keras file (`.keras`, legacy `.h5`) or
//! built from layers — with the states its stateful layers carry between calls. A thin
//! facade: the CPU executor (`cpu_executor.rs`) or the GPU executor (`gpu/executor.rs`) runs
//! the plan.
//!
//! On a GPU the whole model is one command encoder and one submit per call: activations stay
//! in GPU buffers from layer to layer, and only the outputs are read back.

use std::path::Path;

use ndarray::{ArrayD, ArrayView, ArrayView2, ArrayViewD, Dimension};

use crate::activation::KerasFlavour;
use crate::config::Precision;
use crate::cpu_executor::CpuExecutor;
use crate::device::Device;
use crate::error::{Error, Result};
use crate::gpu::executor::GpuExecutor;
use crate::gpu::options::{CallOptions, CallReport};
use crate::keras;
use crate::layers::Layer;
use crate::plan::Plan;
use crate::state::LstmState;
use crate::tensor::{Dtype, TensorInfo, Value};

/// A Keras `Sequential` model's definition: name, Keras flavour and layers (with their
/// names), in order. [`Model::new`] turns it into a one-input [`Plan`].
///
/// ```
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
/// assert_eq!(m.plan().nodes.len(), 2);
/// ```
#[derive(Debug, Clone)]
pub struct ModelDef {
    /// The model's name.
    pub name: String,
    /// Which Keras saved it.
    pub flavour: KerasFlavour,
    /// (layer name, layer), in order.
    pub layers: Vec<(String, Layer)>,
}

impl ModelDef {
    /// The sequence input (B, T, D) the first layer with weights takes.
    fn input(&self) -> Result<TensorInfo> {
        let d = self.layers.iter().find_map(|(_, l)| match l {
            Layer::Recurrent(r) => Some(r.input_dim()),
            Layer::Bidirectional(b) => Some(b.forward.input_dim()),
            Layer::Dense(d) => Some(d.kernel.nrows()),
            _ => None,
        });
        let d = d.ok_or_else(|| {
            Error::Unsupported(format!("model `{}` has no layer with weights", self.name))
        })?;
        Ok(TensorInfo::f32(vec![None, Some(d)]))
    }

    /// The plan of this Sequential model on sequences (B, T, D).
    ///
    /// ```
    /// use wgpu_lstm::{layers::{Layer, Recurrent}, model::ModelDef, KerasFlavour, LstmConfig, LstmWeights};
    /// let cfg = LstmConfig::new(2);
    /// let def = ModelDef { name: "m".into(), flavour: KerasFlavour::Keras3, layers: vec![
    ///     ("lstm".into(), Layer::Recurrent(Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap())),
    /// ]};
    /// assert_eq!(def.plan().unwrap().output_info(0).shape, vec![Some(2)]);
    /// ```
    pub fn plan(&self) -> Result<Plan> {
        Plan::sequential(&self.name, self.flavour, self.input()?, self.layers.clone())
    }
}

/// What a model call returns: every output, in the model's output order.
///
/// ```
/// use wgpu_lstm::model::ModelOutput;
/// let out = ModelOutput { outputs: vec![ndarray::ArrayD::zeros(vec![1, 2])] };
/// assert_eq!(out.output().shape(), &[1, 2]);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct ModelOutput {
    /// The outputs in the model's order (a Sequential ending in a layer that returns several
    /// tensors returns them all, as Keras does).
    pub outputs: Vec<ArrayD<f32>>,
}

impl ModelOutput {
    /// The first output.
    ///
    /// ```
    /// let out = wgpu_lstm::model::ModelOutput { outputs: vec![ndarray::ArrayD::zeros(vec![3])] };
    /// assert_eq!(out.output().len(), 3);
    /// ```
    pub fn output(&self) -> &ArrayD<f32> {
        &self.outputs[0]
    }
}

/// One input array of a call: float32 features, or integer token ids for an `Embedding`.
///
/// ```
/// use wgpu_lstm::model::InputData;
/// let x = ndarray::Array3::<f32>::zeros((1, 2, 3));
/// let d = InputData::F32(x.view().into_dyn());
/// assert_eq!(d.shape(), &[1, 2, 3]);
/// ```
#[derive(Debug, Clone)]
pub enum InputData<'a> {
    /// float32 values.
    F32(ArrayViewD<'a, f32>),
    /// Integer token ids (int32 or int64 files are read as i64).
    Tokens(ArrayViewD<'a, i64>),
}

impl InputData<'_> {
    /// The array's shape.
    ///
    /// ```
    /// let t = ndarray::Array2::<i64>::zeros((2, 5));
    /// assert_eq!(wgpu_lstm::model::InputData::Tokens(t.view().into_dyn()).shape(), &[2, 5]);
    /// ```
    pub fn shape(&self) -> &[usize] {
        match self {
            InputData::F32(a) => a.shape(),
            InputData::Tokens(a) => a.shape(),
        }
    }
}

/// One input of a call: its data and optionally a mask (B, T) (Keras's `mask=`).
///
/// ```
/// use wgpu_lstm::model::ModelInput;
/// let x = ndarray::Array3::<f32>::zeros((1, 2, 3));
/// let m = ndarray::Array2::from_elem((1, 2), true);
/// let input = ModelInput::f32(x.view().into_dyn()).with_mask(m.view());
/// assert!(input.mask.is_some());
/// ```
#[derive(Debug, Clone)]
pub struct ModelInput<'a> {
    /// The array.
    pub data: InputData<'a>,
    /// A mask (B, T), `true` = the step is valid.
    pub mask: Option<ArrayView2<'a, bool>>,
}

impl<'a> ModelInput<'a> {
    /// float32 data without a mask.
    ///
    /// ```
    /// let x = ndarray::Array2::<f32>::zeros((1, 3));
    /// let _ = wgpu_lstm::model::ModelInput::f32(x.view().into_dyn());
    /// ```
    pub fn f32(data: ArrayViewD<'a, f32>) -> Self {
        ModelInput {
            data: InputData::F32(data),
            mask: None,
        }
    }

    /// Token ids without a mask.
    ///
    /// ```
    /// let t = ndarray::Array2::<i64>::zeros((1, 3));
    /// let _ = wgpu_lstm::model::ModelInput::tokens(t.view().into_dyn());
    /// ```
    pub fn tokens(data: ArrayViewD<'a, i64>) -> Self {
        ModelInput {
            data: InputData::Tokens(data),
            mask: None,
        }
    }

    /// The same input with a mask (B, T).
    ///
    /// ```
    /// let x = ndarray::Array3::<f32>::zeros((1, 2, 1));
    /// let m = ndarray::array![[true, false]];
    /// let _ = wgpu_lstm::model::ModelInput::f32(x.view().into_dyn()).with_mask(m.view());
    /// ```
    pub fn with_mask(mut self, mask: ArrayView2<'a, bool>) -> Self {
        self.mask = Some(mask);
        self
    }
}

/// An [`Error::Unsupported`] from building a file's plan, with the file's name in front.
fn naming_file(e: Error, file: &str) -> Error {
    match e {
        Error::Unsupported(msg) if !msg.starts_with(file) => {
            Error::Unsupported(format!("{file}: {msg}"))
        }
        e => e,
    }
}

enum Exec {
    Cpu(CpuExecutor),
    Gpu(Box<GpuExecutor>),
}

/// A runnable model: a [`Plan`] on a device, and the states its stateful layers carry.
///
/// ```
/// use wgpu_lstm::{Device, model::Model};
/// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
/// let mut model = Model::from_keras_bytes(bytes, "sine_forecaster.keras", &Device::Cpu).unwrap();
/// let x = ndarray::Array3::<f32>::zeros((1, 10, 1));
/// let y = model.predict(x.view()).unwrap();
/// assert_eq!(y[0].shape(), &[1, 10, 1]);
/// ```
pub struct Model {
    plan: Plan,
    exec: Exec,
    precision: Precision,
    /// The batch size the stateful layers' states hold (none before the first call).
    state_batch: Option<usize>,
    /// The options plain calls use.
    options: CallOptions,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Model")
            .field("name", &self.plan.name)
            .field(
                "layers",
                &self
                    .plan
                    .nodes
                    .iter()
                    .map(|n| (&n.name, n.layer.class_name()))
                    .collect::<Vec<_>>(),
            )
            .finish()
    }
}

impl Model {
    /// Loads a `.keras` or legacy `.h5` file (see [`crate::keras::load_model_file`]) onto a
    /// device.
    ///
    /// ```no_run
    /// let mut m = wgpu_lstm::model::Model::load("model.keras".as_ref(), &wgpu_lstm::Device::Cpu).unwrap();
    /// ```
    ///
    /// A model with layers this crate cannot run is one [`Error::Unsupported`] naming the file
    /// and every such layer in model order (name, class, why).
    pub fn load(path: &Path, device: &Device) -> Result<Model> {
        let file = keras::load_model_file(path)?;
        let plan = keras::plan_from_model_file(&file)
            .map_err(|e| naming_file(e, &path.display().to_string()))?;
        Self::from_plan(plan, device)
    }

    /// Loads a `.keras` archive from memory.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.param_count(), 4385);
    /// ```
    pub fn from_keras_bytes(bytes: &[u8], name: &str, device: &Device) -> Result<Model> {
        let file = keras::load_keras_bytes(bytes, name)?;
        let plan = keras::plan_from_model_file(&file).map_err(|e| naming_file(e, name))?;
        Self::from_plan(plan, device)
    }

    /// A Sequential model from its layers (see [`ModelDef`]), on sequences (B, T, D).
    ///
    /// ```
    /// use wgpu_lstm::{Device, LstmConfig, LstmWeights, KerasFlavour};
    /// use wgpu_lstm::layers::{Layer, Recurrent};
    /// use wgpu_lstm::model::{Model, ModelDef};
    /// let c0 = LstmConfig { return_sequences: true, ..LstmConfig::new(6) };
    /// let c1 = LstmConfig::new(4);
    /// let lstm = |c: &LstmConfig, d| Layer::Recurrent(Recurrent::lstm(c.clone(), LstmWeights::keras_default(d, c, 0).unwrap()).unwrap());
    /// let def = ModelDef {
    ///     name: "stack".into(),
    ///     flavour: KerasFlavour::Keras3,
    ///     layers: vec![("lstm".into(), lstm(&c0, 3)), ("lstm_1".into(), lstm(&c1, 6))],
    /// };
    /// let mut m = Model::new(def, &Device::Cpu).unwrap();
    /// assert_eq!(m.predict(ndarray::Array3::<f32>::zeros((2, 5, 3)).view()).unwrap()[0].shape(), &[2, 4]);
    /// ```
    pub fn new(def: ModelDef, device: &Device) -> Result<Model> {
        Self::from_plan(def.plan()?, device)
    }

    /// A model from a plan on a device (f32 weights).
    ///
    /// ```
    /// use wgpu_lstm::{model::Model, plan::Plan, tensor::TensorInfo, Device, KerasFlavour};
    /// let mut b = Plan::builder("identity", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(2)]));
    /// let mut m = Model::from_plan(b.finish(vec![x]).unwrap(), &Device::Cpu).unwrap();
    /// assert_eq!(m.predict(ndarray::array![[1.0f32, 2.0]].view()).unwrap()[0][[0, 1]], 2.0);
    /// ```
    pub fn from_plan(plan: Plan, device: &Device) -> Result<Model> {
        Self::from_plan_with_precision(plan, device, Precision::F32)
    }

    /// A model from a plan with a weight precision for its LSTMs (see [`Precision`]; f16
    /// recurrent weights need `SHADER_F16` on a GPU, and round the same way on the CPU).
    ///
    /// ```
    /// use wgpu_lstm::{model::Model, plan::Plan, tensor::TensorInfo, Device, KerasFlavour, Precision};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(2)]));
    /// assert!(Model::from_plan_with_precision(b.finish(vec![x]).unwrap(), &Device::Cpu, Precision::F16Weights).is_ok());
    /// ```
    pub fn from_plan_with_precision(
        mut plan: Plan,
        device: &Device,
        precision: Precision,
    ) -> Result<Model> {
        if precision == Precision::F16Weights {
            for node in &mut plan.nodes {
                for r in node.layer.lstms_mut() {
                    r.weights = r.weights.with_f16_recurrent_kernel();
                }
            }
        }
        let exec = match device {
            Device::Cpu => Exec::Cpu(CpuExecutor::new(&plan)),
            Device::Gpu(ctx) => Exec::Gpu(Box::new(GpuExecutor::new(ctx, &plan, precision)?)),
        };
        Ok(Model {
            plan,
            exec,
            precision,
            state_batch: None,
            options: CallOptions::default(),
        })
    }

    /// The plan (layers, tensors, inputs and outputs).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.plan().name, "sine_forecaster");
    /// ```
    pub fn plan(&self) -> &Plan {
        &self.plan
    }

    /// `"cpu"` or the GPU adapter's name.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.device_name(), "cpu");
    /// ```
    pub fn device_name(&self) -> String {
        match &self.exec {
            Exec::Cpu(_) => "cpu".into(),
            Exec::Gpu(g) => g.ctx().adapter_name().to_string(),
        }
    }

    /// The last axis of the first input (the feature size D of a sequence model).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.input_dim(), 1);
    /// ```
    pub fn input_dim(&self) -> usize {
        self.plan
            .tensor(self.plan.inputs[0].tensor)
            .last()
            .unwrap_or(0)
    }

    /// Keras's total parameter count.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.param_count(), 4352 + 33);
    /// ```
    pub fn param_count(&self) -> usize {
        self.plan.param_count()
    }

    /// A summary like Keras's `model.summary()`.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.summary().contains("Total params: 4385"));
    /// ```
    pub fn summary(&self) -> String {
        self.plan.summary()
    }

    /// Sets the options plain calls ([`Model::call`], [`Model::predict`], [`Model::run`])
    /// use on the GPU; they belong to this model only.
    ///
    /// ```
    /// use wgpu_lstm::gpu::{CallOptions, KernelChoice};
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// m.set_options(CallOptions { kernel: KernelChoice::PerStep, ..CallOptions::default() });
    /// assert_eq!(m.options().kernel, KernelChoice::PerStep);
    /// ```
    pub fn set_options(&mut self, options: CallOptions) {
        self.options = options;
    }

    /// The options plain calls use.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.options(), wgpu_lstm::gpu::CallOptions::default());
    /// ```
    pub fn options(&self) -> CallOptions {
        self.options
    }

    /// What the last GPU call did (kernel, parts, GPU time); the default on the CPU.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert_eq!(m.last_report().parts, 0);
    /// ```
    pub fn last_report(&self) -> CallReport {
        match &self.exec {
            Exec::Cpu(_) => CallReport::default(),
            Exec::Gpu(g) => g.report(),
        }
    }

    /// Runs the model on one float input (B, T, D) (or whatever the model's single input
    /// is) and returns every output.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.predict(ndarray::Array2::<f32>::zeros((1, 1)).view()).is_err());
    /// ```
    pub fn predict<D: Dimension>(
        &mut self,
        inputs: ArrayView<'_, f32, D>,
    ) -> Result<Vec<ArrayD<f32>>> {
        let opts = self.options;
        self.run(&[ModelInput::f32(inputs.into_dyn())], &opts)
    }

    /// Runs the model on one float input with an optional mask (B, T) (Keras's
    /// `model(x, mask=...)`; a Masking or Embedding layer derives its own).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((2, 4, 1));
    /// let mask = ndarray::Array2::from_elem((2, 4), true);
    /// let out = m.call(x.view().into_dyn(), Some(mask.view().into_dyn())).unwrap();
    /// assert_eq!(out.output().shape(), &[2, 4, 1]);
    /// ```
    pub fn call(
        &mut self,
        inputs: ArrayViewD<'_, f32>,
        mask: Option<ArrayViewD<'_, bool>>,
    ) -> Result<ModelOutput> {
        let mut input = ModelInput::f32(inputs);
        if let Some(m) = mask {
            let m2 = m
                .clone()
                .into_dimensionality::<ndarray::Ix2>()
                .map_err(|_| Error::shape("mask", "(B, T)", m.shape()))?;
            input = input.with_mask(m2);
        }
        let opts = self.options;
        Ok(ModelOutput {
            outputs: self.run(&[input], &opts)?,
        })
    }

    /// Runs the model on all its inputs (in the model's input order, each with an optional
    /// mask) with per-call options; returns every output in the model's output order.
    ///
    /// Errors name the input and what does not fit: the number of inputs, a shape, a
    /// batch size that differs between inputs, a mask not (B, T), a stateful model called
    /// with another batch size than it holds (or was built for).
    ///
    /// ```
    /// use wgpu_lstm::model::{Model, ModelInput};
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((1, 3, 1));
    /// let y = m.run(&[ModelInput::f32(x.view().into_dyn())], &Default::default()).unwrap();
    /// assert_eq!(y.len(), 1);
    /// ```
    pub fn run(
        &mut self,
        inputs: &[ModelInput<'_>],
        opts: &CallOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        self.run_with_state(inputs, None, opts)
    }

    /// The same call as a future: on a GPU the work is submitted at the first poll and the
    /// future completes when the outputs are mapped, polling the device without blocking
    /// (any executor will do, e.g. `pollster::block_on`). A call split into parts runs its
    /// parts at the first poll. Dropped before its first poll, the call did not happen;
    /// once polled it happened (stateful layers' states advanced) and dropping the future
    /// only discards the outputs. The model stays usable either way.
    ///
    /// ```
    /// use wgpu_lstm::model::{Model, ModelInput};
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let x = ndarray::Array3::<f32>::zeros((1, 3, 1));
    /// let opts = Default::default();
    /// let y = pollster::block_on(m.run_async(&[ModelInput::f32(x.view().into_dyn())], &opts)).unwrap();
    /// assert_eq!(y[0].shape(), &[1, 3, 1]);
    /// ```
    pub async fn run_async(
        &mut self,
        inputs: &[ModelInput<'_>],
        opts: &CallOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        self.run_async_with_state(inputs, None, opts).await
    }

    pub(crate) async fn run_async_with_state(
        &mut self,
        inputs: &[ModelInput<'_>],
        host: Option<&[LstmState]>,
        opts: &CallOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        let (values, carry) = self.begin(inputs)?;
        let batch = values[0].batch();
        let stateful = self.plan.is_stateful();
        match &mut self.exec {
            Exec::Cpu(c) => {
                let out = c.call(&self.plan, values, carry, host)?;
                if stateful {
                    self.state_batch = Some(batch);
                }
                Ok(out)
            }
            Exec::Gpu(g) => {
                let mut started = g.start(&self.plan, &values, carry, host, opts, true)?;
                if stateful {
                    self.state_batch = Some(batch);
                }
                if let crate::gpu::executor::Started::Pending(p) = &mut started {
                    std::future::poll_fn(|cx| match g.poll(p) {
                        Ok(true) => std::task::Poll::Ready(Ok(())),
                        Ok(false) => {
                            cx.waker().wake_by_ref();
                            std::task::Poll::Pending
                        }
                        Err(e) => std::task::Poll::Ready(Err(e)),
                    })
                    .await?;
                }
                g.finish(started)
            }
        }
    }

    /// Checks the inputs and the stateful batch rules; returns the values and whether the
    /// stateful layers carry their states into this call.
    fn begin(&self, inputs: &[ModelInput<'_>]) -> Result<(Vec<Value>, bool)> {
        let values = self.check_inputs(inputs)?;
        let batch = values[0].batch();
        let stateful = self.plan.is_stateful();
        if stateful {
            if let Some(b) = self.plan.batch
                && b != batch
            {
                return Err(Error::StatefulBatch {
                    expected: b,
                    got: batch,
                });
            }
            if let Some(sb) = self.state_batch
                && sb != batch
            {
                return Err(Error::StatefulBatch {
                    expected: sb,
                    got: batch,
                });
            }
        }
        Ok((values, stateful && self.state_batch == Some(batch)))
    }

    /// [`Model::run`] with the first node's start states given from the host (a single
    /// layer's `initial_state`).
    pub(crate) fn run_with_state(
        &mut self,
        inputs: &[ModelInput<'_>],
        host: Option<&[LstmState]>,
        opts: &CallOptions,
    ) -> Result<Vec<ArrayD<f32>>> {
        let (values, carry) = self.begin(inputs)?;
        let batch = values[0].batch();
        let stateful = self.plan.is_stateful();
        let out = match &mut self.exec {
            Exec::Cpu(c) => c.call(&self.plan, values, carry, host),
            Exec::Gpu(g) => g.call(&self.plan, &values, carry, host, opts),
        }?;
        if stateful {
            self.state_batch = Some(batch);
        }
        Ok(out)
    }

    /// Checks the call's inputs against the plan and turns them into values.
    fn check_inputs(&self, inputs: &[ModelInput<'_>]) -> Result<Vec<Value>> {
        let n = self.plan.inputs.len();
        if inputs.len() != n {
            let names: Vec<&str> = self.plan.inputs.iter().map(|i| i.name.as_str()).collect();
            return Err(Error::config(
                "inputs",
                format!(
                    "model `{}` takes {n} input(s) [{}], got {}",
                    self.plan.name,
                    names.join(", "),
                    inputs.len()
                ),
            ));
        }
        let mut batch = None;
        let mut values = Vec::with_capacity(n);
        for (input, spec) in inputs.iter().zip(&self.plan.inputs) {
            let info = self.plan.tensor(spec.tensor);
            let shape = input.data.shape();
            let what = if n == 1 {
                "inputs".to_string()
            } else {
                format!("input `{}`", spec.name)
            };
            let fits = shape.len() == info.rank()
                && shape.iter().all(|&d| d > 0)
                && info
                    .shape
                    .iter()
                    .zip(&shape[1..])
                    .all(|(want, &got)| want.is_none_or(|w| w == got));
            if !fits {
                return Err(Error::shape(
                    what,
                    crate::tensor::expected_words(info, self.plan.batch),
                    shape,
                ));
            }
            let b = shape[0];
            if *batch.get_or_insert(b) != b {
                return Err(Error::shape(
                    what,
                    format!("batch size {} like the first input", batch.unwrap_or(0)),
                    shape,
                ));
            }
            if let Some(m) = &input.mask {
                crate::tensor::check_mask((n > 1).then_some(what.as_str()), m, shape)?;
            }
        }
        // the host memory of the whole call, before anything is copied
        let given: Vec<(&[usize], bool)> = inputs
            .iter()
            .map(|i| (i.data.shape(), i.mask.is_some()))
            .collect();
        match &self.exec {
            Exec::Cpu(_) => CpuExecutor::host_bytes(&self.plan, &given)?.check()?,
            Exec::Gpu(_) => {
                let mut need = crate::host_memory::HostBytes::new(format!(
                    "the inputs of model `{}`",
                    self.plan.name
                ));
                for (i, (shape, masked)) in given.iter().enumerate() {
                    need.array::<f32>(&format!("input {i} copy"), shape)?;
                    if *masked {
                        need.array::<u32>(&format!("input {i} mask words"), &shape[..2])?;
                    }
                }
                need.check()?;
            }
        }
        for (input, spec) in inputs.iter().zip(&self.plan.inputs) {
            let info = self.plan.tensor(spec.tensor);
            let mut v = match (&input.data, info.dtype) {
                (InputData::F32(a), Dtype::F32) => Value::new(a.as_standard_layout().into_owned()),
                (InputData::Tokens(a), Dtype::Int) => {
                    Value::from_tokens(a.as_standard_layout().into_owned())
                }
                // Keras casts integers given to a float input to float32
                (InputData::Tokens(a), Dtype::F32) => Value::new(a.mapv(|t| t as f32)),
                (InputData::F32(a), Dtype::Int) => {
                    // Keras casts float tokens to int32 (truncating; NaN becomes INT_MIN, which no
                    // vocabulary holds)
                    Value::from_tokens(a.mapv(|x| if x.is_nan() { i64::MIN } else { x as i64 }))
                }
            };
            if let Some(m) = &input.mask {
                v.mask = Some(m.to_owned());
            }
            values.push(v);
        }
        Ok(values)
    }

    /// Zeroes the state of every stateful layer (Keras's `model.reset_states()`); the batch
    /// size the states were made for is kept.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// m.reset_states().unwrap();
    /// ```
    pub fn reset_states(&mut self) -> Result<()> {
        let Some(b) = self.state_batch else {
            return Ok(());
        };
        self.fill_states(b)
    }

    /// Every state slot set to zeros for `batch` rows.
    fn fill_states(&mut self, batch: usize) -> Result<()> {
        let units = self.slot_units();
        // every slot's host memory, together, before any slot changes
        let mut need = crate::host_memory::HostBytes::new(format!(
            "the states of model `{}` for {batch} rows",
            self.plan.name
        ));
        for &(u, _) in &units {
            need.absorb(crate::state::state_bytes(batch, u)?);
        }
        need.check()?;
        match &mut self.exec {
            Exec::Cpu(c) => {
                for (s, (u, cell)) in c.slots_mut().into_iter().zip(units) {
                    match s {
                        Some(st) if st.batch() == batch => {
                            st.h.fill(0.0);
                            st.c.fill(0.0);
                        }
                        _ => *s = Some(LstmState::zeros_for(batch, u, cell)?),
                    }
                }
                Ok(())
            }
            Exec::Gpu(g) => g.lstms().into_iter().try_for_each(|l| l.reset_state(batch)),
        }
    }

    /// The units and cell of every state slot, in plan order (a GRU's or SimpleRNN's state
    /// has an empty c).
    fn slot_units(&self) -> Vec<(usize, crate::config::CellKind)> {
        self.plan
            .nodes
            .iter()
            .flat_map(|n| {
                n.layer
                    .lstms()
                    .into_iter()
                    .map(|r| (r.config.units, r.config.cell))
            })
            .collect()
    }

    /// Makes every LSTM of the model stateful (Keras: rebuilding with `stateful=True`), for
    /// streaming a signal through it call by call. Returns the same model on `device`.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// let m = m.into_stateful(&wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.plan().is_stateful());
    /// ```
    pub fn into_stateful(self, device: &Device) -> Result<Model> {
        let mut plan = self.plan;
        for node in &mut plan.nodes {
            for r in node.layer.lstms_mut() {
                r.config.stateful = true;
            }
        }
        let mut m = Self::from_plan(plan, device)?;
        m.precision = self.precision;
        m.options = self.options;
        Ok(m)
    }

    fn check_stateful(&self) -> Result<usize> {
        if !self.plan.is_stateful() {
            return Err(Error::NoState(format!(
                "model `{}` has no stateful layer (stateful=True): it holds no per-row state",
                self.plan.name
            )));
        }
        self.state_batch.ok_or_else(|| {
            Error::NoState(
                "the stateful model holds no state yet: call it once or use init_states(batch)"
                    .into(),
            )
        })
    }

    fn check_rows(&self, rows: &[usize]) -> Result<usize> {
        let batch = self.check_stateful()?;
        match rows.iter().find(|&&r| r >= batch) {
            Some(&row) => Err(Error::RowOutOfRange { row, batch }),
            None => Ok(batch),
        }
    }

    /// Gives every stateful layer a zero state for `batch` rows: the stream slots of a
    /// server (Keras: a model built with a fixed `batch_shape`).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(16).unwrap();
    /// ```
    pub fn init_states(&mut self, batch: usize) -> Result<()> {
        if !self.plan.is_stateful() {
            return Err(Error::config(
                "stateful",
                "is false: a stateless model holds no state to set",
            ));
        }
        if batch == 0 {
            return Err(Error::config("batch", "must be at least 1"));
        }
        if let Some(b) = self.plan.batch
            && b != batch
        {
            return Err(Error::StatefulBatch {
                expected: b,
                got: batch,
            });
        }
        self.fill_states(batch)?;
        self.state_batch = Some(batch);
        Ok(())
    }

    /// Zeroes the given batch rows in every stateful layer (those streams start over); every
    /// other row keeps its state exactly.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(4).unwrap();
    /// m.reset_rows(&[0, 3]).unwrap();
    /// assert!(m.reset_rows(&[4]).is_err());
    /// ```
    pub fn reset_rows(&mut self, rows: &[usize]) -> Result<()> {
        self.check_rows(rows)?;
        match &mut self.exec {
            Exec::Cpu(c) => {
                for s in c.slots_mut().into_iter().flatten() {
                    for &r in rows {
                        s.h.row_mut(r).fill(0.0);
                        s.c.row_mut(r).fill(0.0);
                    }
                }
                Ok(())
            }
            Exec::Gpu(g) => g.lstms().into_iter().try_for_each(|l| l.reset_rows(rows)),
        }
    }

    /// The state of one batch row in every stateful layer, in plan order (a checkpoint of the
    /// stream in that slot), each (1, U).
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(2).unwrap();
    /// assert_eq!(m.row_states(1).unwrap().len(), 1);
    /// ```
    pub fn row_states(&self, row: usize) -> Result<Vec<LstmState>> {
        self.check_rows(&[row])?;
        let units = self.slot_units();
        match &self.exec {
            Exec::Cpu(c) => c
                .states()
                .into_iter()
                .zip(units)
                .map(|(s, u)| match s {
                    Some(s) => Ok(LstmState {
                        h: s.h.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                        c: s.c.slice(ndarray::s![row..row + 1, ..]).to_owned(),
                    }),
                    None => LstmState::zeros_for(1, u.0, u.1),
                })
                .collect(),
            Exec::Gpu(g) => g
                .lstms_ref()
                .into_iter()
                .map(|l| l.read_state(Some(row)))
                .collect(),
        }
    }

    /// Writes one batch row's state in every stateful layer (restore or migrate a stream),
    /// `states` as returned by [`Model::row_states`]; every other row keeps its state.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let dev = wgpu_lstm::Device::Cpu;
    /// let mut m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &dev).unwrap().into_stateful(&dev).unwrap();
    /// m.init_states(2).unwrap();
    /// let s = m.row_states(0).unwrap();
    /// m.set_row_states(1, &s).unwrap();
    /// ```
    pub fn set_row_states(&mut self, row: usize, states: &[LstmState]) -> Result<()> {
        let batch = self.check_rows(&[row])?;
        let units = self.slot_units();
        if states.len() != units.len() {
            return Err(Error::shape(
                "row states",
                format!("{} states (one per LSTM)", units.len()),
                &[states.len()],
            ));
        }
        for (s, &(u, cell)) in states.iter().zip(&units) {
            let cu = cell.c_units(u);
            for (name, a, w) in [("row state h", &s.h, u), ("row state c", &s.c, cu)] {
                if a.dim() != (1, w) {
                    return Err(Error::shape(name, format!("(1, {w})"), a.shape()));
                }
            }
        }
        match &mut self.exec {
            Exec::Cpu(c) => {
                for ((slot, s), (u, cell)) in c.slots_mut().into_iter().zip(states).zip(units) {
                    if slot.is_none() {
                        *slot = Some(LstmState::zeros_for(batch, u, cell)?);
                    }
                    let st = slot.as_mut().expect("just set");
                    st.h.row_mut(row).assign(&s.h.row(0));
                    st.c.row_mut(row).assign(&s.c.row(0));
                }
                Ok(())
            }
            Exec::Gpu(g) => g.lstms().into_iter().zip(states).try_for_each(|(l, s)| {
                let h = s.h.as_standard_layout();
                let c = s.c.as_standard_layout();
                l.write_row(row, h.as_slice().expect("std"), c.as_slice().expect("std"))
            }),
        }
    }

    /// Sets the whole state of every stateful layer (each (B, U)), fixing the batch size.
    pub(crate) fn set_states(&mut self, states: &[LstmState]) -> Result<()> {
        if !self.plan.is_stateful() {
            return Err(Error::config(
                "stateful",
                "is false: a stateless layer holds no state to set (pass initial_state instead)",
            ));
        }
        let units = self.slot_units();
        let b = states.first().map_or(0, LstmState::batch);
        for (s, &(u, cell)) in states.iter().zip(&units) {
            let cu = cell.c_units(u);
            for (name, a, w) in [("state h", &s.h, u), ("state c", &s.c, cu)] {
                if a.dim() != (b, w) || b == 0 {
                    return Err(Error::shape(
                        name,
                        format!("({b}, {w}) with B >= 1"),
                        a.shape(),
                    ));
                }
            }
        }
        if let Some(fixed) = self.plan.batch
            && fixed != b
        {
            return Err(Error::StatefulBatch {
                expected: fixed,
                got: b,
            });
        }
        match &mut self.exec {
            Exec::Cpu(c) => {
                for (slot, s) in c.slots_mut().into_iter().zip(states) {
                    *slot = Some(s.clone());
                }
            }
            Exec::Gpu(g) => {
                for (l, s) in g.lstms().into_iter().zip(states) {
                    l.write_state(s)?;
                }
            }
        }
        self.state_batch = Some(b);
        Ok(())
    }

    /// The states the stateful layers hold (read back from the GPU), in plan order; `None`
    /// for a stateless layer or before the first call.
    ///
    /// ```
    /// let bytes = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/demo/sine_forecaster.keras"));
    /// let m = wgpu_lstm::model::Model::from_keras_bytes(bytes, "demo", &wgpu_lstm::Device::Cpu).unwrap();
    /// assert!(m.states().unwrap().iter().all(|s| s.is_none()));
    /// ```
    pub fn states(&self) -> Result<Vec<Option<LstmState>>> {
        let stateful: Vec<bool> = self
            .plan
            .nodes
            .iter()
            .flat_map(|n| n.layer.lstms().into_iter().map(|r| r.config.stateful))
            .collect();
        let units = self.slot_units();
        let Some(batch) = self.state_batch else {
            return Ok(vec![None; stateful.len()]);
        };
        match &self.exec {
            Exec::Cpu(c) => c
                .states()
                .into_iter()
                .zip(&stateful)
                .zip(units)
                .map(|((s, &on), u)| match (on, s) {
                    (false, _) => Ok(None),
                    (true, Some(s)) => Ok(Some(s)),
                    (true, None) => LstmState::zeros_for(batch, u.0, u.1).map(Some),
                })
                .collect(),
            Exec::Gpu(g) => g
                .lstms_ref()
                .into_iter()
                .zip(&stateful)
                .map(|(l, &on)| {
                    if on {
                        l.read_state(None).map(Some)
                    } else {
                        Ok(None)
                    }
                })
                .collect(),
        }
    }
}
