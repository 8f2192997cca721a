//! # wgpu-lstm
//!
//! Keras's `LSTM` layer, exact in every semantic corner, as WGSL compute shaders on wgpu
//! (Vulkan, Metal, DX12, and lavapipe in CI), with a CPU reference path that checks every GPU
//! result.
//!
//! ## What a Keras `LSTM(N)` is
//!
//! One layer of N cells. Per step, for each batch row, with `x` (D), `h` and `c` (N):
//!
//! ```text
//! z  = x·kernel + h·recurrent_kernel + bias      kernel (D, 4N), recurrent_kernel (N, 4N), bias (4N)
//! i, f, o = recurrent_activation(z_i, z_f, z_o)  gate blocks in order i, f, c, o
//! c' = f·c + i·activation(z_c)
//! h' = o·activation(c')                          the step's output
//! ```
//!
//! `stateful=True` carries h and c from one call to the next. Masked steps carry the state
//! and repeat the previous output (zeros before a row's first valid step); `go_backwards`
//! returns the sequence in processing order. See [`Lstm`] and `wgpu-lstm describe`.
//!
//! ```
//! use ndarray::Array3;
//! use wgpu_lstm::{Lstm, LstmConfig};
//! let mut lstm = Lstm::with_default_weights(LstmConfig::new(4), 3, 0).unwrap();
//! let y = lstm.forward(Array3::<f32>::zeros((2, 5, 3)).view()).unwrap();
//! assert_eq!(y.output.shape(), &[2, 4]);
//! ```

pub mod activation;
pub mod bench;
pub mod cell;
pub mod config;
pub mod conformance;
pub mod cpu;
pub(crate) mod cpu_executor;
pub mod cpu_kernels;
pub mod describe;
pub mod device;
pub mod error;
pub mod gpu;
pub mod host_memory;
pub mod keras;
pub mod layer;
pub mod layers;
pub mod matmul;
pub mod model;
pub mod plan;
pub(crate) mod state;
pub mod tensor;
pub mod weights;

pub use activation::{Activation, KerasFlavour};
pub use config::{CellKind, LstmConfig, Precision};
pub use device::Device;
pub use error::{Error, Result};
pub use layer::{Lstm, LstmInput, LstmOutput};
pub use state::LstmState;
pub use weights::LstmWeights;
