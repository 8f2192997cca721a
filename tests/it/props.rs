//! Property tests on random configurations (CPU path): invariants that hold for Keras's LSTM.

use ndarray::{Array2, Axis, s};
use proptest::prelude::*;
use wgpu_lstm::{Activation, Lstm, LstmConfig, LstmInput, LstmWeights};

use crate::common::{max_abs, random3, rng};

#[derive(Debug, Clone)]
struct Case {
    units: usize,
    dim: usize,
    batch: usize,
    steps: usize,
    act: usize,
    rec: usize,
    use_bias: bool,
    seed: u64,
}

fn case() -> impl Strategy<Value = Case> {
    (
        1usize..9,
        1usize..6,
        1usize..4,
        1usize..10,
        0usize..26,
        0usize..26,
        any::<bool>(),
        any::<u64>(),
    )
        .prop_map(
            |(units, dim, batch, steps, act, rec, use_bias, seed)| Case {
                units,
                dim,
                batch,
                steps,
                act,
                rec,
                use_bias,
                seed,
            },
        )
}

fn config(c: &Case) -> LstmConfig {
    let mut act = Activation::ALL[c.act];
    // exponential feeds e^c back through R and overflows at random scale; keep it bounded here.
    if act == Activation::Exponential {
        act = Activation::Tanh;
    }
    LstmConfig {
        activation: act,
        recurrent_activation: Activation::ALL[c.rec],
        use_bias: c.use_bias,
        return_sequences: true,
        return_state: true,
        ..LstmConfig::new(c.units)
    }
}

fn layer(cfg: LstmConfig, c: &Case) -> Lstm {
    let mut r = rng(c.seed);
    let w = LstmWeights::new(
        crate::common::random(&mut r, ndarray::Ix2(c.dim, 4 * c.units), 0.5),
        crate::common::random(&mut r, ndarray::Ix2(c.units, 4 * c.units), 0.5),
        cfg.use_bias
            .then(|| crate::common::random(&mut r, ndarray::Ix1(4 * c.units), 0.5)),
    )
    .unwrap();
    Lstm::new(cfg, w).unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(96))]

    fn a_mask_of_all_ones_equals_no_mask(c in case()) {
        let x = random3(&mut rng(c.seed ^ 1), c.batch, c.steps, c.dim, 2.0);
        let mut l = layer(config(&c), &c);
        let plain = l.forward(x.view()).unwrap();
        let ones = Array2::from_elem((c.batch, c.steps), true);
        let masked = l.call(LstmInput::new(x.view()).mask(ones.view())).unwrap();
        prop_assert_eq!(max_abs(&plain.output, &masked.output), 0.0);
        prop_assert_eq!(max_abs(&plain.c.unwrap().into_dyn(), &masked.c.unwrap().into_dyn()), 0.0);
    }

    fn go_backwards_equals_forward_on_reversed_input(c in case()) {
        let x = random3(&mut rng(c.seed ^ 2), c.batch, c.steps, c.dim, 2.0);
        let rev = x.slice(s![.., ..;-1, ..]).to_owned();
        let mut back = layer(LstmConfig { go_backwards: true, ..config(&c) }, &c);
        let mut fwd = layer(config(&c), &c);
        let a = back.forward(x.view()).unwrap();
        let b = fwd.forward(rev.view()).unwrap();
        prop_assert!(max_abs(&a.output, &b.output) <= 1e-6);
        prop_assert!(max_abs(&a.h.unwrap().into_dyn(), &b.h.unwrap().into_dyn()) <= 1e-6);
        prop_assert!(max_abs(&a.c.unwrap().into_dyn(), &b.c.unwrap().into_dyn()) <= 1e-6);
    }

    fn a_stateful_call_split_in_two_equals_one_call(c in case(), cut in 1usize..10) {
        let steps = c.steps.max(2);
        let cut = cut.min(steps - 1);
        let x = random3(&mut rng(c.seed ^ 3), c.batch, steps, c.dim, 2.0);
        let cfg = LstmConfig { stateful: true, ..config(&c) };
        let mut whole = layer(cfg.clone(), &c);
        let mut split = layer(cfg, &c);
        let all = whole.forward(x.view()).unwrap();
        let first = split.forward(x.slice(s![.., ..cut, ..])).unwrap();
        let second = split.forward(x.slice(s![.., cut.., ..])).unwrap();
        let joined = ndarray::concatenate(Axis(1), &[first.output.view(), second.output.view()]).unwrap();
        prop_assert!(max_abs(&all.output, &joined) <= 1e-6);
        prop_assert!(max_abs(&all.c.unwrap().into_dyn(), &second.c.unwrap().into_dyn()) <= 1e-6);
        let (sw, ss) = (whole.states().unwrap().unwrap(), split.states().unwrap().unwrap());
        prop_assert!(max_abs(&sw.h.into_dyn(), &ss.h.into_dyn()) <= 1e-6);
    }

    fn the_output_at_step_t_does_not_depend_on_later_inputs(c in case(), t in 0usize..10) {
        let t = t.min(c.steps - 1);
        let x = random3(&mut rng(c.seed ^ 4), c.batch, c.steps, c.dim, 2.0);
        let mut y = x.clone();
        y.slice_mut(s![.., t + 1.., ..]).mapv_inplace(|v| v * -3.0 + 1.0);
        let mut l = layer(config(&c), &c);
        let a = l.forward(x.view()).unwrap().output;
        let b = l.forward(y.view()).unwrap().output;
        let (a, b) = (a.slice(s![.., ..=t, ..]).to_owned().into_dyn(), b.slice(s![.., ..=t, ..]).to_owned().into_dyn());
        prop_assert_eq!(max_abs(&a, &b), 0.0);
    }
}

/// This module's tests, for the harness in main.rs.
pub fn tests() -> Vec<libtest_mimic::Trial> {
    vec![
        crate::common::test(
            "props::a_mask_of_all_ones_equals_no_mask",
            a_mask_of_all_ones_equals_no_mask,
        ),
        crate::common::test(
            "props::go_backwards_equals_forward_on_reversed_input",
            go_backwards_equals_forward_on_reversed_input,
        ),
        crate::common::test(
            "props::a_stateful_call_split_in_two_equals_one_call",
            a_stateful_call_split_in_two_equals_one_call,
        ),
        crate::common::test(
            "props::the_output_at_step_t_does_not_depend_on_later_inputs",
            the_output_at_step_t_does_not_depend_on_later_inputs,
        ),
    ]
}
