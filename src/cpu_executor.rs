//! The CPU executor: runs any [`Plan`] with each layer's CPU code (`layers/<kind>.rs`),
//! node by node, keeping every stateful layer's states between calls.
//!
//! Twin of `gpu/executor.rs`.

use ndarray::ArrayD;

use crate::error::{Error, Result};
use crate::host_memory::HostBytes;
use crate::plan::Plan;
use crate::state::LstmState;
use crate::tensor::Value;

/// A (B, T) tensor as a mask: nonzero = valid.
fn mask_of_tensor(a: &ArrayD<f32>) -> Result<ndarray::Array2<bool>> {
    let shape = a.shape().to_vec();
    a.view()
        .into_dimensionality::<ndarray::Ix2>()
        .map(|m| m.mapv(|v| v != 0.0))
        .map_err(|_| Error::shape("mask", "(B, T)", &shape))
}

/// The states of a plan's recurrent layers on the CPU, and the runner.
#[derive(Debug, Clone)]
pub(crate) struct CpuExecutor {
    /// Per node, one entry per state slot (`LayerOps::state_slots`).
    states: Vec<Vec<Option<LstmState>>>,
}

impl CpuExecutor {
    pub fn new(plan: &Plan) -> Self {
        CpuExecutor {
            states: plan
                .nodes
                .iter()
                .map(|n| vec![None; n.layer.ops().state_slots()])
                .collect(),
        }
    }

    /// Runs the plan on `inputs` (one per plan input, masks attached); returns the outputs.
    /// `carry`: stateful layers start from the states they hold (else from zeros); `host`
    /// overrides the start states of the first node (a single layer's `initial_state`).
    pub fn call(
        &mut self,
        plan: &Plan,
        inputs: Vec<Value>,
        carry: bool,
        host: Option<&[LstmState]>,
    ) -> Result<Vec<ArrayD<f32>>> {
        let host_values: Vec<Value> = host
            .unwrap_or_default()
            .iter()
            .flat_map(|s| {
                // a GRU's or SimpleRNN's state has an empty c and takes h alone
                let c = (s.c.ncols() > 0).then(|| Value::new(s.c.clone().into_dyn()));
                std::iter::once(Value::new(s.h.clone().into_dyn())).chain(c)
            })
            .collect();
        if !carry {
            for (node, slots) in plan.nodes.iter().zip(&mut self.states) {
                if node.layer.ops().stateful() {
                    slots.iter_mut().for_each(|s| *s = None);
                }
            }
        }
        let mut values: Vec<Option<Value>> = vec![None; plan.tensor_count()];
        let mut readers = plan.readers();
        for (i, v) in plan.inputs.iter().zip(inputs) {
            values[i.tensor.0] = Some(v);
        }
        for (i, (node, slots)) in plan.nodes.iter().zip(&mut self.states).enumerate() {
            let mut ins: Vec<&Value> = node
                .inputs
                .iter()
                .map(|t| values[t.0].as_ref().expect("a plan's nodes run in order"))
                .collect();
            if i == 0 {
                ins.extend(host_values.iter());
            }
            // a tensor given as `mask=` replaces the first input's mask
            let masked;
            if let Some(m) = node.mask {
                let mv = values[m.0].as_ref().expect("a plan's nodes run in order");
                let mask = mask_of_tensor(&mv.data)
                    .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
                masked = Value {
                    mask: Some(mask),
                    ..ins[0].clone()
                };
                ins[0] = &masked;
            }
            let outs = node
                .layer
                .ops()
                .cpu(&ins, slots)
                .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
            if outs.len() != node.outputs.len() {
                return Err(Error::Gpu(format!(
                    "layer `{}` produced {} tensors, its plan says {}",
                    node.name,
                    outs.len(),
                    node.outputs.len()
                )));
            }
            // free what no later node reads
            for t in node.inputs.iter().chain(node.mask.iter()) {
                readers[t.0] -= 1;
                if readers[t.0] == 0 {
                    values[t.0] = None;
                }
            }
            for (t, v) in node.outputs.iter().zip(outs) {
                values[t.0] = Some(v);
            }
        }
        Ok(plan
            .outputs
            .iter()
            .map(|t| values[t.0].as_ref().expect("outputs are kept").data.clone())
            .collect())
    }

    /// The host memory a call of `plan` on inputs of these shapes (batch first, with a mask
    /// or not) may hold at once, counted before anything is copied: every tensor of the
    /// graph and its mask (as if all were alive together), the stored states, and the
    /// largest work any one layer allocates ([`crate::layers::Layer`]'s CPU work). Overflow
    /// is an [`Error::SizeOverflow`]; `check()` it against the budget.
    pub fn host_bytes(plan: &Plan, inputs: &[(&[usize], bool)]) -> Result<HostBytes> {
        let (shapes, infos) = plan.concrete_shapes(inputs)?;
        let shown: Vec<String> = inputs
            .iter()
            .map(|(s, _)| {
                let dims: Vec<String> = s.iter().map(usize::to_string).collect();
                format!("({})", dims.join(", "))
            })
            .collect();
        let mut need = HostBytes::new(format!(
            "a CPU call of model `{}` on inputs {}",
            plan.name,
            shown.join(", ")
        ));
        for (i, (shape, info)) in shapes.iter().zip(&infos).enumerate() {
            need.array::<f32>(&format!("tensor {i}"), shape)?;
            if info.masked && shape.len() >= 2 {
                need.array::<bool>(&format!("tensor {i}'s mask"), &shape[..2])?;
            }
        }
        let mut peak = HostBytes::new("the largest layer work");
        for node in &plan.nodes {
            let ins: Vec<&[usize]> = node.inputs.iter().map(|t| shapes[t.0].as_slice()).collect();
            let mut work = HostBytes::new(format!("layer `{}`", node.name));
            node.layer
                .ops()
                .cpu_work(&ins, &mut work)
                .map_err(|e| e.in_layer(&node.name, node.layer.class_name()))?;
            if work.total() > peak.total() {
                peak = work;
            }
        }
        need.absorb(peak);
        Ok(need)
    }

    /// Every state slot, in plan order (`None` where nothing is held).
    pub fn states(&self) -> Vec<Option<LstmState>> {
        self.states.iter().flatten().cloned().collect()
    }

    /// Mutable access to the state slots, in plan order.
    pub fn slots_mut(&mut self) -> Vec<&mut Option<LstmState>> {
        self.states.iter_mut().flatten().collect()
    }
}
