//! [`Plan`]: a model as a validated graph — layers as nodes, tensors (with their Keras
//! masks) as edges, one or several inputs and outputs. Sequential, Functional and nested
//! Keras models are all flattened into one plan (`keras/classes.rs` builds it from a file);
//! a single layer is a one-node plan. Shapes and masks are propagated once, when the plan is
//! built, with errors that name the layer; the executors (`cpu_executor.rs`,
//! `gpu/executor.rs`) then run any plan.

use crate::activation::KerasFlavour;
use crate::error::{Error, Result};
use crate::layers::Layer;
use crate::tensor::{Dtype, TensorInfo};

/// A tensor of a plan.
///
/// ```
/// let t = wgpu_lstm::plan::TensorId(0);
/// assert_eq!(t.0, 0);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TensorId(pub usize);

/// An input of a plan: its name (Keras's input layer name) and tensor.
///
/// ```
/// use wgpu_lstm::plan::{Plan, TensorId};
/// use wgpu_lstm::{tensor::TensorInfo, KerasFlavour};
/// let mut b = Plan::builder("m", KerasFlavour::Keras3);
/// let x = b.input("x", TensorInfo::f32(vec![None, Some(3)]));
/// let plan = b.finish(vec![x]).unwrap();
/// assert_eq!(plan.inputs[0].name, "x");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanInput {
    /// The input's name.
    pub name: String,
    /// Its tensor.
    pub tensor: TensorId,
}

/// One layer call of a plan.
///
/// ```
/// use wgpu_lstm::layers::{Layer, Masking};
/// use wgpu_lstm::plan::Plan;
/// use wgpu_lstm::{tensor::TensorInfo, KerasFlavour};
/// let mut b = Plan::builder("m", KerasFlavour::Keras3);
/// let x = b.input("x", TensorInfo::f32(vec![None, Some(3)]));
/// let y = b.node("masking", Layer::Masking(Masking { mask_value: 0.0 }), &[x]).unwrap();
/// let plan = b.finish(y).unwrap();
/// assert_eq!(plan.nodes[0].inputs, vec![x]);
/// ```
#[derive(Debug, Clone)]
pub struct Node {
    /// The layer's name (as in Keras; a nested model's layers keep their own names).
    pub name: String,
    /// The layer with its configuration and weights.
    pub layer: Layer,
    /// The tensors it reads, in Keras's call order (a recurrent layer's sequence first, then
    /// any initial states).
    pub inputs: Vec<TensorId>,
    /// The tensors it produces.
    pub outputs: Vec<TensorId>,
    /// A tensor given as the layer's `mask=` (Keras 3 records the mask it computed for a
    /// layer of a Functional model): nonzero = valid, shape (B, T). It replaces the mask of
    /// the first input.
    pub mask: Option<TensorId>,
}

/// A validated model graph. Nodes are in an order in which every node's inputs exist
/// before it runs.
///
/// ```
/// use wgpu_lstm::layers::{Layer, Recurrent};
/// use wgpu_lstm::plan::Plan;
/// use wgpu_lstm::{tensor::TensorInfo, KerasFlavour, LstmConfig, LstmWeights};
/// let cfg = LstmConfig::new(4);
/// let lstm = Recurrent::lstm(cfg.clone(), LstmWeights::keras_default(3, &cfg, 0).unwrap()).unwrap();
/// let plan = Plan::sequential(
///     "m",
///     KerasFlavour::Keras3,
///     TensorInfo::f32(vec![None, Some(3)]),
///     vec![("lstm".into(), Layer::Recurrent(lstm))],
/// ).unwrap();
/// assert_eq!(plan.output_info(0).shape, vec![Some(4)]);
/// assert_eq!(plan.param_count(), 128);
/// ```
#[derive(Debug, Clone)]
pub struct Plan {
    /// The model's name.
    pub name: String,
    /// Which Keras made it (decides `hard_sigmoid` and mask rules).
    pub flavour: KerasFlavour,
    /// The inputs, in the model's input order.
    pub inputs: Vec<PlanInput>,
    /// The layer calls, in a runnable order.
    pub nodes: Vec<Node>,
    /// The outputs, in the model's output order.
    pub outputs: Vec<TensorId>,
    /// Every tensor's shape, dtype and mask.
    tensors: Vec<TensorInfo>,
    /// The batch size the model was built for, when fixed (Keras's `batch_shape`, required by
    /// stateful models): calls with another batch size are refused.
    pub batch: Option<usize>,
    /// Keras layers that became several nodes (an `RNN(StackedRNNCells)`, its
    /// `Bidirectional`): the layer's name and its outputs in Keras's (flattened) order.
    chains: Vec<(String, Vec<TensorId>)>,
}

/// Builds a [`Plan`] node by node; each node's shapes and masks are checked as it is added.
///
/// ```
/// use wgpu_lstm::plan::Plan;
/// use wgpu_lstm::{tensor::TensorInfo, KerasFlavour};
/// let mut b = Plan::builder("empty", KerasFlavour::Keras3);
/// let x = b.input("x", TensorInfo::f32(vec![Some(2)]));
/// assert!(b.finish(vec![x]).is_ok());
/// ```
#[derive(Debug)]
pub struct PlanBuilder {
    plan: Plan,
}

impl PlanBuilder {
    /// Adds an input tensor.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(1)]));
    /// let c = b.input("c", TensorInfo::f32(vec![Some(1)]));
    /// assert_ne!(a, c);
    /// ```
    pub fn input(&mut self, name: &str, info: TensorInfo) -> TensorId {
        let id = self.tensor(info);
        self.plan.inputs.push(PlanInput {
            name: name.to_string(),
            tensor: id,
        });
        id
    }

    fn tensor(&mut self, info: TensorInfo) -> TensorId {
        self.plan.tensors.push(info);
        TensorId(self.plan.tensors.len() - 1)
    }

    /// The shape, dtype and mask of a tensor added so far.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// assert_eq!(b.info(a).shape, vec![Some(5)]);
    /// ```
    pub fn info(&self, id: TensorId) -> &TensorInfo {
        &self.plan.tensors[id.0]
    }

    /// Sets the fixed batch size (Keras's `batch_shape`).
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// b.fixed_batch(Some(2));
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// assert_eq!(b.finish(vec![a]).unwrap().batch, Some(2));
    /// ```
    pub fn fixed_batch(&mut self, batch: Option<usize>) {
        self.plan.batch = batch;
    }

    /// Adds a layer call on existing tensors; returns its output tensors. The layer's
    /// shape and mask rules run here: an error names the layer.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Dense, Layer};
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, Activation, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(3)]));
    /// let d = Dense::new(ndarray::Array2::zeros((4, 1)), None, Activation::Linear.into()).unwrap();
    /// let e = b.node("dense", Layer::Dense(d), &[x]).unwrap_err();
    /// assert!(e.to_string().starts_with("layer `dense` (Dense)"));
    /// ```
    pub fn node(&mut self, name: &str, layer: Layer, inputs: &[TensorId]) -> Result<Vec<TensorId>> {
        self.node_masked(name, layer, inputs, None)
    }

    /// [`PlanBuilder::node`] with a tensor given as the layer's `mask=` (see [`Node::mask`]):
    /// (B, T), nonzero = valid; it replaces the first input's mask.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Identity, Layer};
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(4), Some(3)]));
    /// let m = b.input("m", TensorInfo::f32(vec![Some(4)]));
    /// let y = b.node_masked("dropout", Layer::Identity(Identity::new("Dropout")), &[x], Some(m)).unwrap();
    /// assert!(b.info(y[0]).masked);
    /// ```
    pub fn node_masked(
        &mut self,
        name: &str,
        layer: Layer,
        inputs: &[TensorId],
        mask: Option<TensorId>,
    ) -> Result<Vec<TensorId>> {
        for t in inputs.iter().chain(mask.iter()) {
            if t.0 >= self.plan.tensors.len() {
                return Err(Error::config("inputs", format!("no tensor {}", t.0))
                    .in_layer(name, layer.class_name()));
            }
        }
        let mut infos: Vec<TensorInfo> = inputs.iter().map(|t| self.info(*t).clone()).collect();
        if let Some(m) = mask {
            let x = infos.first().ok_or_else(|| {
                Error::config("mask", "a layer with no input cannot take a mask")
                    .in_layer(name, layer.class_name())
            })?;
            let mi = self.info(m);
            if x.rank() < 3
                || mi.shape.len() != 1
                || (x.shape[0].is_some() && mi.shape[0].is_some() && x.shape[0] != mi.shape[0])
            {
                return Err(Error::config(
                    "mask",
                    format!(
                        "a mask {} does not fit the input {} (it must be (B, T))",
                        mi.keras_shape(None),
                        x.keras_shape(None)
                    ),
                )
                .in_layer(name, layer.class_name()));
            }
            infos[0].masked = true;
        }
        for (i, t) in infos.iter().enumerate() {
            if t.dtype == Dtype::Int && !layer.takes_tokens() {
                return Err(Error::config(
                    "inputs",
                    format!("input {i} holds integer tokens, which only an Embedding reads"),
                )
                .in_layer(name, layer.class_name()));
            }
        }
        let outs = layer
            .infer(&infos, self.plan.flavour)
            .map_err(|e| e.in_layer(name, layer.class_name()))?;
        let ids: Vec<TensorId> = outs.into_iter().map(|o| self.tensor(o)).collect();
        self.plan.nodes.push(Node {
            name: name.to_string(),
            layer,
            inputs: inputs.to_vec(),
            outputs: ids.clone(),
            mask,
        });
        Ok(ids)
    }

    /// Records that the Keras layer `name` was built as several nodes and that `outputs` are
    /// its outputs in Keras's order (see [`Plan::layer_outputs`]).
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(2)]));
    /// b.chain("rnn", vec![x]);
    /// assert_eq!(b.finish(vec![x]).unwrap().layer_outputs("rnn"), Some(&[x][..]));
    /// ```
    pub fn chain(&mut self, name: &str, outputs: Vec<TensorId>) {
        self.plan.chains.push((name.to_string(), outputs));
    }

    /// Names the outputs and returns the plan.
    ///
    /// ```
    /// use wgpu_lstm::{plan::{Plan, TensorId}, tensor::TensorInfo, KerasFlavour};
    /// let b = Plan::builder("m", KerasFlavour::Keras3);
    /// assert!(b.finish(vec![TensorId(7)]).is_err());
    /// ```
    pub fn finish(mut self, outputs: Vec<TensorId>) -> Result<Plan> {
        if self.plan.inputs.is_empty() {
            return Err(Error::config("inputs", "a model needs at least one input"));
        }
        if outputs.is_empty() {
            return Err(Error::config(
                "outputs",
                "a model needs at least one output",
            ));
        }
        for t in &outputs {
            if t.0 >= self.plan.tensors.len() {
                return Err(Error::config("outputs", format!("no tensor {}", t.0)));
            }
        }
        self.plan.outputs = outputs;
        Ok(self.plan)
    }
}

impl Plan {
    /// The outputs of a Keras layer that the plan holds as several nodes (recorded with
    /// [`PlanBuilder::chain`]), in Keras's order; `None` for any other name.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let x = b.input("x", TensorInfo::f32(vec![Some(2)]));
    /// assert_eq!(b.finish(vec![x]).unwrap().layer_outputs("x"), None);
    /// ```
    pub fn layer_outputs(&self, name: &str) -> Option<&[TensorId]> {
        self.chains
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, t)| t.as_slice())
    }

    /// Concrete shapes (batch first) and infos (with the call's masks) of every tensor, for
    /// inputs of the given shapes (with a mask or not).
    pub(crate) fn concrete_shapes(
        &self,
        inputs: &[(&[usize], bool)],
    ) -> Result<(Vec<Vec<usize>>, Vec<TensorInfo>)> {
        let plan = self;
        let n = plan.tensor_count();
        let mut shapes: Vec<Vec<usize>> = vec![Vec::new(); n];
        let mut infos: Vec<Option<TensorInfo>> = vec![None; n];
        let batch = inputs
            .first()
            .map_or(0, |(s, _)| s.first().copied().unwrap_or(0));
        for (input, &(s, masked)) in plan.inputs.iter().zip(inputs) {
            let t = input.tensor.0;
            shapes[t] = s.to_vec();
            let declared = plan.tensor(input.tensor);
            infos[t] = Some(TensorInfo {
                shape: s[1..].iter().map(|&d| Some(d)).collect(),
                dtype: declared.dtype,
                masked,
            });
        }
        for node in &plan.nodes {
            let mut ins: Vec<TensorInfo> = node
                .inputs
                .iter()
                .map(|t| infos[t.0].clone().expect("nodes run in order"))
                .collect();
            if node.mask.is_some() {
                ins[0].masked = true;
            }
            let outs = node
                .layer
                .infer(&ins, plan.flavour)
                .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
            for (t, o) in node.outputs.iter().zip(outs) {
                shapes[t.0] = o.concrete(batch).ok_or_else(|| {
                    Error::config("shape", "an axis stayed unknown")
                        .in_layer(&node.name, node.layer.class_name())
                })?;
                infos[t.0] = Some(o);
            }
        }
        Ok((
            shapes,
            infos
                .into_iter()
                .map(|i| i.unwrap_or_else(|| TensorInfo::f32(vec![])))
                .collect(),
        ))
    }

    /// A builder for a plan called `name`, made by `flavour`.
    ///
    /// ```
    /// let b = wgpu_lstm::plan::Plan::builder("m", wgpu_lstm::KerasFlavour::Keras2);
    /// ```
    pub fn builder(name: &str, flavour: KerasFlavour) -> PlanBuilder {
        PlanBuilder {
            plan: Plan {
                name: name.to_string(),
                flavour,
                inputs: Vec::new(),
                nodes: Vec::new(),
                outputs: Vec::new(),
                tensors: Vec::new(),
                batch: None,
                chains: Vec::new(),
            },
        }
    }

    /// A Keras `Sequential`: one input, each layer called on the previous layer's (first)
    /// output; the outputs are the last layer's outputs (all of them, as Keras returns them).
    ///
    /// ```
    /// use wgpu_lstm::layers::{Layer, Masking};
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let p = Plan::sequential("m", KerasFlavour::Keras3, TensorInfo::f32(vec![None, Some(2)]),
    ///     vec![("masking".into(), Layer::Masking(Masking { mask_value: 0.0 }))]).unwrap();
    /// assert_eq!(p.nodes.len(), 1);
    /// ```
    pub fn sequential(
        name: &str,
        flavour: KerasFlavour,
        input: TensorInfo,
        layers: Vec<(String, Layer)>,
    ) -> Result<Plan> {
        let mut b = Plan::builder(name, flavour);
        let mut cur = vec![b.input("input", input)];
        for (i, (lname, layer)) in layers.into_iter().enumerate() {
            if i > 0 && cur.len() > 1 {
                let prev = b
                    .plan
                    .nodes
                    .last()
                    .map(|n| n.name.clone())
                    .unwrap_or_default();
                return Err(Error::Unsupported(format!(
                    "layer `{prev}` returns {} tensors, so it must be the last layer of a \
                     Sequential model",
                    cur.len()
                )));
            }
            cur = b.node(&lname, layer, &cur[..1])?;
        }
        b.finish(cur)
    }

    /// The shape, dtype and mask of a tensor.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// let p = b.finish(vec![a]).unwrap();
    /// assert_eq!(p.tensor(a).shape, vec![Some(5)]);
    /// ```
    pub fn tensor(&self, id: TensorId) -> &TensorInfo {
        &self.tensors[id.0]
    }

    /// The info of output `i`.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// assert_eq!(b.finish(vec![a]).unwrap().output_info(0).last(), Some(5));
    /// ```
    pub fn output_info(&self, i: usize) -> &TensorInfo {
        self.tensor(self.outputs[i])
    }

    /// How many tensors the plan has.
    pub(crate) fn tensor_count(&self) -> usize {
        self.tensors.len()
    }

    /// Keras's total parameter count.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// assert_eq!(b.finish(vec![a]).unwrap().param_count(), 0);
    /// ```
    pub fn param_count(&self) -> usize {
        self.nodes.iter().map(|n| n.layer.param_count()).sum()
    }

    /// Whether any layer carries state between calls.
    ///
    /// ```
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let mut b = Plan::builder("m", KerasFlavour::Keras3);
    /// let a = b.input("a", TensorInfo::f32(vec![Some(5)]));
    /// assert!(!b.finish(vec![a]).unwrap().is_stateful());
    /// ```
    pub fn is_stateful(&self) -> bool {
        self.nodes.iter().any(|n| n.layer.ops().stateful())
    }

    /// For each node, how many times each of its outputs is read by later nodes or returned.
    pub(crate) fn readers(&self) -> Vec<usize> {
        let mut n = vec![0usize; self.tensors.len()];
        for node in &self.nodes {
            for t in node.inputs.iter().chain(node.mask.iter()) {
                n[t.0] += 1;
            }
        }
        for t in &self.outputs {
            n[t.0] += 1;
        }
        n
    }

    /// A summary like Keras's `model.summary()`: every layer with its output shape(s) and
    /// parameter count, then the total.
    ///
    /// ```
    /// use wgpu_lstm::layers::{Layer, Masking};
    /// use wgpu_lstm::{plan::Plan, tensor::TensorInfo, KerasFlavour};
    /// let p = Plan::sequential("m", KerasFlavour::Keras3, TensorInfo::f32(vec![None, Some(2)]),
    ///     vec![("masking".into(), Layer::Masking(Masking { mask_value: 0.0 }))]).unwrap();
    /// assert!(p.summary().contains("masking (Masking)"));
    /// assert!(p.summary().contains("Total params: 0"));
    /// ```
    pub fn summary(&self) -> String {
        let mut s = format!(
            "Model \"{}\" (saved by {})\n",
            self.name,
            self.flavour.name()
        );
        s.push_str(&format!(
            "{:<36} {:<26} {:>10}\n",
            "Layer (type)", "Output shape", "Param #"
        ));
        for i in &self.inputs {
            s.push_str(&format!(
                "{:<36} {:<26} {:>10}\n",
                format!("{} (InputLayer)", i.name),
                self.tensor(i.tensor).keras_shape(self.batch),
                0
            ));
        }
        for n in &self.nodes {
            let shapes: Vec<String> = n
                .outputs
                .iter()
                .map(|t| self.tensor(*t).keras_shape(self.batch))
                .collect();
            s.push_str(&format!(
                "{:<36} {:<26} {:>10}   {}\n",
                format!("{} ({})", n.name, n.layer.class_name()),
                shapes.join(", "),
                n.layer.param_count(),
                n.layer.detail()
            ));
        }
        s.push_str(&format!("Total params: {}\n", self.param_count()));
        s
    }
}
