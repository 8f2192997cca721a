//! The one integration-test binary (wgpu links once), with its own harness
//! (libtest-mimic): plain tests, GPU tests, and the suite that runs the same checks over
//! every executor — the CPU and the GPU with each recurrent kernel and precision — as tract
//! runs one op suite over every implementation. Without a GPU adapter, GPU tests show as
//! ignored (never as passed) outside CI, and fail inside CI with the adapters found.
//!
//! Modules: fixtures (Keras oracle), keras_vectors (Keras's own unit-test numbers), props
//! (proptest invariants), errors (typed errors), gpu_vs_cpu (random configs on both paths),
//! stateful (GPU state across calls), shaders (naga validation), cli (the binary), serving,
//! reliability, models, precision, bench, bad_inputs, fuzz_corpus, activations.

mod common;

mod activations;
mod bad_inputs;
mod bench;
mod cli;
mod errors;
mod fixtures;
mod fuzz_corpus;
mod gpu_vs_cpu;
mod keras_vectors;
mod layers;
mod layers_shape;
mod models;
mod precision;
mod props;
mod reliability;
mod serving;
mod shaders;
mod stateful;

fn main() {
    let args = libtest_mimic::Arguments::from_args();
    let trials: Vec<libtest_mimic::Trial> = [
        activations::tests(),
        bad_inputs::tests(),
        bench::tests(),
        cli::tests(),
        errors::tests(),
        fixtures::tests(),
        fuzz_corpus::tests(),
        gpu_vs_cpu::tests(),
        keras_vectors::tests(),
        layers::tests(),
        layers_shape::tests(),
        models::tests(),
        precision::tests(),
        props::tests(),
        reliability::tests(),
        serving::tests(),
        shaders::tests(),
        stateful::tests(),
    ]
    .into_iter()
    .flatten()
    .collect();
    libtest_mimic::run(&args, trials).exit();
}
