//! [`GpuContext`]: adapter choice, device request, error capture, and the buffer helpers
//! every GPU layer uses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use crate::error::{Error, Result};
use crate::gpu::kernels::Kernels;

/// How to pick an adapter. Unset fields fall back to the environment (`WGPU_BACKEND`,
/// `WGPU_ADAPTER_NAME`), then to wgpu's defaults; a discrete GPU is preferred.
///
/// ```
/// use wgpu_lstm::gpu::GpuOptions;
/// let opts = GpuOptions { adapter_name: Some("llvmpipe".into()), ..GpuOptions::default() };
/// assert!(opts.backends.is_none());
/// ```
#[derive(Debug, Clone, Default)]
pub struct GpuOptions {
    /// Backends to consider (e.g. `wgpu::Backends::VULKAN`); `None` = `WGPU_BACKEND` or all.
    pub backends: Option<wgpu::Backends>,
    /// A case-insensitive substring of the adapter name; `None` = `WGPU_ADAPTER_NAME` or any.
    pub adapter_name: Option<String>,
}

/// A short description of one adapter, as `wgpu-lstm adapters` prints it.
///
/// ```no_run
/// for a in wgpu_lstm::gpu::list_adapters(None) {
///     println!("{a}");
/// }
/// ```
#[derive(Debug, Clone)]
pub struct AdapterSummary {
    /// Adapter name, e.g. `"NVIDIA H100 80GB HBM3"` or `"llvmpipe (LLVM 15.0.6, 256 bits)"`.
    pub name: String,
    /// Backend (Vulkan, Metal, Dx12, Gl).
    pub backend: wgpu::Backend,
    /// Discrete, integrated, virtual, CPU, other.
    pub device_type: wgpu::DeviceType,
    /// Driver name and version info.
    pub driver: String,
    /// The adapter's limits.
    pub limits: wgpu::Limits,
    /// The adapter's features.
    pub features: wgpu::Features,
}

impl std::fmt::Display for AdapterSummary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} [{:?}, {:?}, driver: {}] storage binding {} MiB, workgroup storage {} KiB, \
             {} invocations/workgroup, f16: {}, subgroups: {}, timestamps: {}",
            self.name,
            self.backend,
            self.device_type,
            if self.driver.is_empty() {
                "?"
            } else {
                &self.driver
            },
            self.limits.max_storage_buffer_binding_size / (1 << 20),
            self.limits.max_compute_workgroup_storage_size / 1024,
            self.limits.max_compute_invocations_per_workgroup,
            self.features.contains(wgpu::Features::SHADER_F16),
            self.features.contains(wgpu::Features::SUBGROUP),
            self.features.contains(wgpu::Features::TIMESTAMP_QUERY),
        )
    }
}

fn summary(adapter: &wgpu::Adapter) -> AdapterSummary {
    let info = adapter.get_info();
    AdapterSummary {
        name: info.name,
        backend: info.backend,
        device_type: info.device_type,
        driver: format!("{} {}", info.driver, info.driver_info)
            .trim()
            .to_string(),
        limits: adapter.limits(),
        features: adapter.features(),
    }
}

/// Maps a wgpu error to the crate's typed error; `what` names the operation it came from.
/// wgpu's multi-line description ("Validation Error\n\nCaused by:\n  ...") becomes one line.
pub(crate) fn classify(e: &wgpu::Error, what: &str) -> Error {
    let one_line = |m: String| {
        let parts: Vec<&str> = m.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
        let msg = parts.join(" ");
        if what.is_empty() {
            msg
        } else {
            format!("{what}: {msg}")
        }
    };
    match e {
        wgpu::Error::OutOfMemory { .. } => Error::OutOfMemory(one_line(e.to_string())),
        other => {
            let msg = one_line(other.to_string());
            if msg.contains("lost") {
                Error::DeviceLost(msg)
            } else {
                Error::Gpu(msg)
            }
        }
    }
}

/// What wgpu reported outside this crate's error scopes, and whether the device was lost.
#[derive(Default)]
struct ErrorLog {
    /// Set once by the device-lost callback; every later operation reports it.
    lost: Option<String>,
    /// Errors raised outside any error scope (by an application sharing the device, or a bug
    /// here): kept for [`GpuContext::check_errors`], never handed to a call.
    uncaptured: Vec<Error>,
}

fn instance(backends: Option<wgpu::Backends>) -> wgpu::Instance {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle_from_env();
    if let Some(b) = backends {
        desc.backends = b;
    }
    wgpu::Instance::new(desc)
}

/// Every adapter wgpu can see (for the given backends, or `WGPU_BACKEND`, or all).
///
/// ```no_run
/// let n = wgpu_lstm::gpu::list_adapters(Some(wgpu::Backends::VULKAN)).len();
/// println!("{n} Vulkan adapters");
/// ```
pub fn list_adapters(backends: Option<wgpu::Backends>) -> Vec<AdapterSummary> {
    let inst = instance(backends);
    let all = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
    all.iter().map(summary).collect()
}

/// A GPU device and queue with the crate's shader modules and bind-group layouts, built once.
///
/// Every operation of this crate on the device (a layer's or model's call, state reads and
/// writes, building a layer) runs inside its own wgpu error scopes, which are thread-local:
/// a call sees exactly the errors its own work raised, never those of another thread's call on
/// the same context, and a failed call leaves other layers untouched. Errors wgpu reports
/// outside any scope are kept for [`GpuContext::check_errors`]; a lost device is reported by
/// every later operation as [`Error::DeviceLost`].
///
/// ```no_run
/// use wgpu_lstm::gpu::GpuContext;
/// let ctx = GpuContext::new().expect("a GPU adapter");
/// println!("running on {}", ctx.adapter_name());
/// ```
pub struct GpuContext {
    device: wgpu::Device,
    queue: wgpu::Queue,
    info: wgpu::AdapterInfo,
    errors: Arc<Mutex<ErrorLog>>,
    stats: [AtomicU64; 7],
    pub(crate) kernels: Kernels,
}

/// A submitted readback whose map may not have completed yet.
///
/// Dropping it before [`GpuContext::finish_read`] (a `call_async` future dropped by a timeout
/// or `select!`) aborts or releases the staging buffer's map, so the next call can use the
/// buffer: the submitted work still runs, only its results are discarded.
pub(crate) struct PendingRead {
    device: wgpu::Device,
    staging: wgpu::Buffer,
    total: u64,
    spans: Vec<(u64, u64)>,
    rx: std::sync::mpsc::Receiver<std::result::Result<(), wgpu::BufferAsyncError>>,
    done: Option<Result<()>>,
    /// A map was requested and the buffer has not been unmapped since.
    mapped: bool,
}

impl Drop for PendingRead {
    fn drop(&mut self) {
        if !self.mapped {
            return;
        }
        // Pending: unmap aborts the map. Mapped: unmap releases it. Failed (the buffer is
        // idle): unmap is a validation error, swallowed by a scope of its own.
        let scope = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        self.staging.unmap();
        let _ = pollster::block_on(scope.pop());
    }
}

/// Work counters of a [`GpuContext`] since its creation: what lavapipe can show about the
/// schedule without timing it.
///
/// ```no_run
/// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
/// let s = ctx.stats();
/// assert_eq!(s.submits, 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct GpuStats {
    /// Queue submissions.
    pub submits: u64,
    /// Compute dispatches recorded.
    pub dispatches: u64,
    /// Bytes written to GPU buffers from the host.
    pub bytes_uploaded: u64,
    /// Bytes read back to the host.
    pub bytes_read: u64,
    /// GPU buffers created (a streaming loop that creates none allocates no GPU memory).
    pub buffers_created: u64,
    /// Bind groups created (layers and models cache theirs: a repeated call creates none).
    pub bind_groups_created: u64,
    /// Device memory held by this device's live buffers now, in bytes, as wgpu-hal counts
    /// its allocations (measured, not computed: allocation rounding included; 0 on a backend
    /// that does not count).
    pub buffer_bytes: u64,
    /// The most [`GpuStats::buffer_bytes`] seen at any buffer creation or submit since the
    /// context was made or [`GpuContext::reset_peak_memory`] was called.
    pub peak_buffer_bytes: u64,
}

const SUBMITS: usize = 0;
const DISPATCHES: usize = 1;
const UPLOADED: usize = 2;
const READ: usize = 3;
const BUFFERS: usize = 4;
const PEAK: usize = 5;
const BIND_GROUPS: usize = 6;

/// Most loop iterations one shader invocation may make, counted over all its loops, on every
/// adapter: lavapipe (llvmpipe) silently stops every loop of an invocation after 65 535
/// iterations in total and returns wrong results with no error, so every kernel whose trip
/// counts grow with a user's sizes (features, units, timesteps) is cut into dispatches that
/// stay under this, or the shape is refused before anything runs.
pub const LOOP_BUDGET: u64 = 60_000;

impl std::fmt::Debug for GpuContext {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GpuContext")
            .field("adapter", &self.info.name)
            .field("backend", &self.info.backend)
            .finish()
    }
}

impl GpuContext {
    /// Picks an adapter following the environment (`WGPU_BACKEND`, `WGPU_ADAPTER_NAME`),
    /// preferring a discrete GPU, and requests a device.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// ```
    pub fn new() -> Result<Arc<Self>> {
        Self::with_options(&GpuOptions::default())
    }

    /// Picks an adapter by backend and/or name (see [`GpuOptions`]).
    ///
    /// No matching adapter is an [`Error::NoAdapter`] that lists the adapters seen and says
    /// what to install.
    ///
    /// ```no_run
    /// use wgpu_lstm::gpu::{GpuContext, GpuOptions};
    /// let ctx = GpuContext::with_options(&GpuOptions {
    ///     backends: Some(wgpu::Backends::VULKAN),
    ///     adapter_name: None,
    /// }).unwrap();
    /// ```
    pub fn with_options(opts: &GpuOptions) -> Result<Arc<Self>> {
        let inst = instance(opts.backends);
        let adapters = pollster::block_on(inst.enumerate_adapters(wgpu::Backends::all()));
        let name = opts
            .adapter_name
            .clone()
            .or_else(|| std::env::var("WGPU_ADAPTER_NAME").ok())
            .filter(|n| !n.is_empty())
            .map(|n| n.to_lowercase());
        let rank = |t: wgpu::DeviceType| match t {
            wgpu::DeviceType::DiscreteGpu => 0,
            wgpu::DeviceType::IntegratedGpu => 1,
            wgpu::DeviceType::VirtualGpu => 2,
            wgpu::DeviceType::Other => 3,
            wgpu::DeviceType::Cpu => 4,
        };
        let backend_rank = |b: wgpu::Backend| match b {
            wgpu::Backend::Vulkan | wgpu::Backend::Metal | wgpu::Backend::Dx12 => 0,
            _ => 1,
        };
        let chosen = adapters
            .iter()
            .filter(|a| {
                name.as_ref()
                    .is_none_or(|n| a.get_info().name.to_lowercase().contains(n))
            })
            .min_by_key(|a| {
                let i = a.get_info();
                (backend_rank(i.backend), rank(i.device_type))
            });
        let Some(adapter) = chosen else {
            let mut filter = String::new();
            if let Some(n) = &name {
                filter.push_str(&format!(" matching name `{n}`"));
            }
            if let Some(b) = opts.backends {
                filter.push_str(&format!(" on backends {b:?}"));
            }
            let found = adapters
                .iter()
                .map(|a| {
                    let i = a.get_info();
                    format!("{} ({:?})", i.name, i.backend)
                })
                .collect::<Vec<_>>()
                .join(", ");
            return Err(Error::NoAdapter { filter, found });
        };
        Self::from_adapter(adapter)
    }

    /// Requests a device from a given adapter with the features and limits this crate uses.
    ///
    /// ```no_run
    /// let inst = wgpu::Instance::new(wgpu::InstanceDescriptor::new_without_display_handle());
    /// let adapter = pollster::block_on(inst.request_adapter(&Default::default())).unwrap();
    /// let ctx = wgpu_lstm::gpu::GpuContext::from_adapter(&adapter).unwrap();
    /// ```
    pub fn from_adapter(adapter: &wgpu::Adapter) -> Result<Arc<Self>> {
        let have = adapter.limits();
        // Only what the kernels need beyond the defaults: big storage buffers.
        // Beyond the defaults: big storage buffers, and workgroups of up to 1024 invocations
        // with their workgroup memory for the persistent kernel.
        let required_limits = wgpu::Limits {
            max_storage_buffer_binding_size: have.max_storage_buffer_binding_size,
            max_buffer_size: have.max_buffer_size,
            max_compute_invocations_per_workgroup: have
                .max_compute_invocations_per_workgroup
                .min(1024),
            max_compute_workgroup_size_x: have.max_compute_workgroup_size_x.min(1024),
            max_compute_workgroup_storage_size: have.max_compute_workgroup_storage_size,
            ..wgpu::Limits::default()
        };
        let wanted =
            wgpu::Features::TIMESTAMP_QUERY | wgpu::Features::SHADER_F16 | wgpu::Features::SUBGROUP;
        let required_features = adapter.features() & wanted;
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("wgpu-lstm"),
            required_features,
            required_limits,
            experimental_features: wgpu::ExperimentalFeatures::disabled(),
            memory_hints: wgpu::MemoryHints::Performance,
            trace: wgpu::Trace::Off,
        }))
        .map_err(|e| Error::Gpu(format!("request_device failed: {e}")))?;
        Ok(Self::from_device(adapter.get_info(), device, queue))
    }

    /// Wraps a caller's existing device and queue (e.g. an application that renders too).
    /// The device needs no extra features; storage buffers are limited by its limits.
    ///
    /// ```no_run
    /// fn share(adapter: &wgpu::Adapter, device: wgpu::Device, queue: wgpu::Queue) {
    ///     let ctx = wgpu_lstm::gpu::GpuContext::from_device(adapter.get_info(), device, queue);
    ///     println!("sharing {}", ctx.adapter_name());
    /// }
    /// ```
    pub fn from_device(
        info: wgpu::AdapterInfo,
        device: wgpu::Device,
        queue: wgpu::Queue,
    ) -> Arc<Self> {
        let errors: Arc<Mutex<ErrorLog>> = Arc::default();
        let sink = errors.clone();
        device.on_uncaptured_error(Arc::new(move |e: wgpu::Error| {
            let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
            if log.uncaptured.len() < 64 {
                log.uncaptured.push(classify(&e, "outside any call"));
            }
        }));
        let lost = errors.clone();
        device.set_device_lost_callback(move |reason, msg| {
            let mut log = lost.lock().unwrap_or_else(|p| p.into_inner());
            log.lost.get_or_insert(format!("{reason:?}: {msg}"));
        });
        let kernels = Kernels::new(&device);
        Arc::new(GpuContext {
            device,
            queue,
            info,
            errors,
            stats: Default::default(),
            kernels,
        })
    }

    /// The adapter's name.
    ///
    /// ```no_run
    /// println!("{}", wgpu_lstm::gpu::GpuContext::new().unwrap().adapter_name());
    /// ```
    pub fn adapter_name(&self) -> &str {
        &self.info.name
    }

    /// The adapter's info (backend, type, driver).
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// println!("{:?}", ctx.adapter_info().backend);
    /// ```
    pub fn adapter_info(&self) -> &wgpu::AdapterInfo {
        &self.info
    }

    /// The wgpu device.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// println!("{:?}", ctx.device().limits().max_storage_buffer_binding_size);
    /// ```
    pub fn device(&self) -> &wgpu::Device {
        &self.device
    }

    /// The wgpu queue.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// let _q = ctx.queue();
    /// ```
    pub fn queue(&self) -> &wgpu::Queue {
        &self.queue
    }

    /// Returns (and clears) the errors wgpu reported outside this crate's error scopes since
    /// the last check — errors of an application sharing the device, or a bug in this crate —
    /// as one typed error; a lost device as [`Error::DeviceLost`] (every time). Calls of
    /// layers and models never report these: each sees only the errors of its own work.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// ctx.check_errors().expect("no validation errors so far");
    /// ```
    pub fn check_errors(&self) -> Result<()> {
        self.check_lost()?;
        let mut log = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        let mut v = std::mem::take(&mut log.uncaptured);
        if v.is_empty() {
            return Ok(());
        }
        let more = v.len() - 1;
        Err(match (v.swap_remove(0), more) {
            (Error::Gpu(m), n) if n > 0 => Error::Gpu(format!("{m} (and {n} more errors)")),
            (e, _) => e,
        })
    }

    /// [`Error::DeviceLost`] once the device was lost, else `Ok`.
    pub(crate) fn check_lost(&self) -> Result<()> {
        let log = self.errors.lock().unwrap_or_else(|p| p.into_inner());
        match &log.lost {
            Some(m) => Err(Error::DeviceLost(m.clone())),
            None => Ok(()),
        }
    }

    /// Runs `f` — one operation of a layer or model on this device (`what` names it) — inside
    /// its own error scopes (validation, out-of-memory, internal). wgpu's scopes are
    /// thread-local, so the operation sees exactly the errors its own work raised: another
    /// thread's failing call on this context cannot fail it, and its failure reaches no other
    /// call. `f`'s own error wins over a captured one; a lost device over both.
    pub(crate) fn scoped<T>(&self, what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
        self.check_lost()?;
        let oom = self.device.push_error_scope(wgpu::ErrorFilter::OutOfMemory);
        let internal = self.device.push_error_scope(wgpu::ErrorFilter::Internal);
        let validation = self.device.push_error_scope(wgpu::ErrorFilter::Validation);
        let r = f();
        // popped in reverse order of pushing; wgpu-core answers at once
        let captured = [validation.pop(), internal.pop(), oom.pop()].map(pollster::block_on);
        self.check_lost()?;
        let r = r?;
        match captured.into_iter().flatten().next() {
            Some(e) => Err(classify(&e, what)),
            None => Ok(r),
        }
    }

    /// Whether shader loops may run this many iterations per invocation ([`LOOP_BUDGET`],
    /// on every adapter).
    pub(crate) fn loop_budget_ok(&self, iterations: u64) -> bool {
        iterations < LOOP_BUDGET
    }

    /// The persistent kernel's workgroup size on this device: 1024 invocations where the
    /// device's limits allow it (and its workgroup memory holds 1024 partial sums), else 256.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// assert!([256, 512, 1024].contains(&ctx.sequence_workgroup_size()));
    /// ```
    pub fn sequence_workgroup_size(&self) -> u32 {
        let l = self.device.limits();
        let mut wg = 1024u32;
        // partial sums (16 B per invocation) + h of one row (256 floats)
        while wg > 256
            && (wg > l.max_compute_invocations_per_workgroup
                || wg > l.max_compute_workgroup_size_x
                || wg * 16 + 1024 > l.max_compute_workgroup_storage_size)
        {
            wg /= 2;
        }
        wg
    }

    /// How many invocations may share one unit's dot product in the subgroup step kernel:
    /// the adapter's smallest subgroup size (a power of two, read from the adapter, never
    /// assumed), at most 32; `None` without the `SUBGROUP` feature.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// if let Some(lanes) = ctx.subgroup_lanes() {
    ///     assert!(lanes.is_power_of_two() && lanes <= 32);
    /// }
    /// ```
    pub fn subgroup_lanes(&self) -> Option<u32> {
        let min = self.info.subgroup_min_size;
        (self.device.features().contains(wgpu::Features::SUBGROUP)
            && min >= 2
            && min.is_power_of_two())
        .then_some(min.min(32))
    }

    /// Whether the adapter's subgroups have one size (its smallest and largest agree), as on
    /// NVIDIA (32) and lavapipe (8): there `Auto` uses the subgroup step kernel, which
    /// assumes full subgroups.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// println!("{}", ctx.subgroup_size_fixed());
    /// ```
    pub fn subgroup_size_fixed(&self) -> bool {
        self.info.subgroup_min_size == self.info.subgroup_max_size
    }

    /// The work counters so far.
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// println!("{:?}", ctx.stats());
    /// ```
    pub fn stats(&self) -> GpuStats {
        let get = |i: usize| self.stats[i].load(Ordering::Relaxed);
        GpuStats {
            submits: get(SUBMITS),
            dispatches: get(DISPATCHES),
            bytes_uploaded: get(UPLOADED),
            bytes_read: get(READ),
            buffers_created: get(BUFFERS),
            bind_groups_created: get(BIND_GROUPS),
            buffer_bytes: self.buffer_bytes(),
            peak_buffer_bytes: get(PEAK).max(self.buffer_bytes()),
        }
    }

    /// Device memory held by live buffers now (wgpu-hal's counter).
    fn buffer_bytes(&self) -> u64 {
        self.device
            .get_internal_counters()
            .hal
            .buffer_memory
            .read()
            .max(0) as u64
    }

    /// Records the buffer memory held now in the peak.
    fn note_memory(&self) {
        self.stats[PEAK].fetch_max(self.buffer_bytes(), Ordering::Relaxed);
    }

    /// Starts a new peak: [`GpuStats::peak_buffer_bytes`] restarts from the memory held now
    /// (the benchmark calls this before each configuration).
    ///
    /// ```no_run
    /// let ctx = wgpu_lstm::gpu::GpuContext::new().unwrap();
    /// ctx.reset_peak_memory();
    /// let s = ctx.stats();
    /// assert_eq!(s.peak_buffer_bytes, s.buffer_bytes);
    /// ```
    pub fn reset_peak_memory(&self) {
        self.stats[PEAK].store(self.buffer_bytes(), Ordering::Relaxed);
    }

    pub(crate) fn count_dispatches(&self, n: u64) {
        self.stats[DISPATCHES].fetch_add(n, Ordering::Relaxed);
    }

    /// Writes `bytes` into `buffer` at `offset` through the queue (counted).
    pub(crate) fn upload(&self, buffer: &wgpu::Buffer, offset: u64, bytes: &[u8]) {
        self.stats[UPLOADED].fetch_add(bytes.len() as u64, Ordering::Relaxed);
        self.queue.write_buffer(buffer, offset, bytes);
    }

    /// Submits one command buffer (counted).
    pub(crate) fn submit(&self, encoder: wgpu::CommandEncoder) {
        self.stats[SUBMITS].fetch_add(1, Ordering::Relaxed);
        self.queue.submit([encoder.finish()]);
        self.note_memory();
    }

    /// Fills the first `elems` f32 of `buffer` with NaN (`CallOptions::poison`).
    pub(crate) fn poison(&self, buffer: &wgpu::Buffer, elems: usize) {
        let nan = vec![f32::NAN; elems];
        self.queue
            .write_buffer(buffer, 0, bytemuck::cast_slice(&nan));
    }

    /// Checks that a buffer of `bytes` fits one storage binding of this device.
    pub(crate) fn check_binding(&self, what: &str, bytes: u64) -> Result<()> {
        let limits = self.device.limits();
        let limit = limits
            .max_storage_buffer_binding_size
            .min(limits.max_buffer_size);
        if bytes > limit {
            return Err(Error::TooLarge {
                what: what.to_string(),
                bytes,
                limit,
                limit_name: "the device's max_storage_buffer_binding_size".into(),
            });
        }
        Ok(())
    }

    /// Creates a buffer (counted in [`GpuStats::buffers_created`]).
    pub(crate) fn buffer(&self, desc: &wgpu::BufferDescriptor<'_>) -> wgpu::Buffer {
        self.stats[BUFFERS].fetch_add(1, Ordering::Relaxed);
        let buffer = self.device.create_buffer(desc);
        self.note_memory();
        buffer
    }

    /// Creates a bind group whose entries are whole buffers, binding `i` = `buffers[i]`
    /// (counted in [`GpuStats::bind_groups_created`]).
    pub(crate) fn bind_group(
        &self,
        label: &str,
        layout: &wgpu::BindGroupLayout,
        buffers: &[&wgpu::Buffer],
    ) -> wgpu::BindGroup {
        let entries: Vec<wgpu::BindGroupEntry<'_>> = buffers
            .iter()
            .enumerate()
            .map(|(i, b)| wgpu::BindGroupEntry {
                binding: i as u32,
                resource: b.as_entire_binding(),
            })
            .collect();
        self.bind_group_with(&wgpu::BindGroupDescriptor {
            label: Some(label),
            layout,
            entries: &entries,
        })
    }

    /// Creates a bind group (counted in [`GpuStats::bind_groups_created`]).
    pub(crate) fn bind_group_with(&self, desc: &wgpu::BindGroupDescriptor<'_>) -> wgpu::BindGroup {
        self.stats[BIND_GROUPS].fetch_add(1, Ordering::Relaxed);
        self.device.create_bind_group(desc)
    }

    /// A uniform buffer of `bytes` (at least 16).
    pub(crate) fn uniform(&self, label: &str, bytes: u64) -> wgpu::Buffer {
        self.buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16),
            usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer of at least `bytes` (rounded up to 16 bytes, never empty).
    pub(crate) fn storage(
        &self,
        label: &str,
        bytes: u64,
        extra: wgpu::BufferUsages,
    ) -> wgpu::Buffer {
        self.buffer(&wgpu::BufferDescriptor {
            label: Some(label),
            size: bytes.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::STORAGE
                | wgpu::BufferUsages::COPY_DST
                | wgpu::BufferUsages::COPY_SRC
                | extra,
            mapped_at_creation: false,
        })
    }

    /// A storage buffer holding `data`.
    pub(crate) fn storage_with(&self, label: &str, data: &[f32]) -> wgpu::Buffer {
        let buf = self.storage(label, (data.len() * 4) as u64, wgpu::BufferUsages::empty());
        self.upload(&buf, 0, bytemuck::cast_slice(data));
        buf
    }

    /// Submits `encoder` after copying each `(buffer, offset, len)` f32 range into `staging`,
    /// waits, and returns the ranges. One submit, one map.
    pub(crate) fn submit_and_read(
        &self,
        encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        ranges: &[(&wgpu::Buffer, u64, usize)],
    ) -> Result<Vec<Vec<f32>>> {
        let pending = self.submit_for_read(encoder, staging, ranges);
        self.wait()?;
        self.finish_read(pending)
    }

    /// The first half of [`GpuContext::submit_and_read`]: records the copies into `staging`,
    /// submits, and asks for the map. Nothing waits.
    pub(crate) fn submit_for_read(
        &self,
        mut encoder: wgpu::CommandEncoder,
        staging: &wgpu::Buffer,
        ranges: &[(&wgpu::Buffer, u64, usize)],
    ) -> PendingRead {
        let mut at = 0u64;
        let mut spans = Vec::with_capacity(ranges.len());
        for (buf, offset_elems, len) in ranges {
            let bytes = (*len as u64) * 4;
            if bytes > 0 {
                encoder.copy_buffer_to_buffer(buf, offset_elems * 4, staging, at, bytes);
            }
            spans.push((at, bytes));
            at += bytes.next_multiple_of(wgpu::COPY_BUFFER_ALIGNMENT.max(4));
        }
        self.submit(encoder);
        self.stats[READ].fetch_add(at, Ordering::Relaxed);
        let (tx, rx) = std::sync::mpsc::channel();
        if at > 0 {
            staging
                .slice(0..at)
                .map_async(wgpu::MapMode::Read, move |r| {
                    let _ = tx.send(r);
                });
        } else {
            let _ = tx.send(Ok(()));
        }
        PendingRead {
            device: self.device.clone(),
            staging: staging.clone(),
            total: at,
            spans,
            rx,
            done: None,
            mapped: at > 0,
        }
    }

    /// Whether a pending read's map has completed (polls the device without blocking).
    pub(crate) fn poll_read(&self, pending: &mut PendingRead) -> Result<bool> {
        if pending.done.is_some() {
            return Ok(true);
        }
        self.device
            .poll(wgpu::PollType::Poll)
            .map_err(|e| Error::DeviceLost(format!("poll failed: {e}")))?;
        match pending.rx.try_recv() {
            Ok(r) => {
                pending.done = Some(r.map_err(|e| Error::Gpu(format!("buffer map failed: {e}"))));
                Ok(true)
            }
            Err(std::sync::mpsc::TryRecvError::Empty) => Ok(false),
            Err(std::sync::mpsc::TryRecvError::Disconnected) => {
                Err(Error::Gpu("buffer map callback dropped".into()))
            }
        }
    }

    /// The second half: after the map completed (a blocking wait or [`GpuContext::poll_read`]),
    /// copies the ranges out.
    pub(crate) fn finish_read(&self, mut pending: PendingRead) -> Result<Vec<Vec<f32>>> {
        let mapped = match pending.done.take() {
            Some(r) => r,
            None => pending
                .rx
                .recv()
                .map_err(|_| Error::Gpu("buffer map callback never ran".into()))
                .and_then(|r| r.map_err(|e| Error::Gpu(format!("buffer map failed: {e}")))),
        };
        if let Err(e) = mapped {
            // the map failed: the buffer is not mapped, dropping must not unmap it
            pending.mapped = false;
            self.check_lost()?;
            return Err(e);
        }
        let out: Vec<Vec<f32>> = if pending.total == 0 {
            pending.spans.iter().map(|_| Vec::new()).collect()
        } else {
            let slice = pending.staging.slice(0..pending.total);
            let out = {
                let view = slice
                    .get_mapped_range()
                    .map_err(|e| Error::Gpu(format!("get_mapped_range failed: {e}")))?;
                pending
                    .spans
                    .iter()
                    .map(|(o, n)| {
                        bytemuck::cast_slice(&view[*o as usize..(*o + *n) as usize]).to_vec()
                    })
                    .collect()
            };
            pending.staging.unmap();
            pending.mapped = false;
            out
        };
        self.check_lost()?;
        Ok(out)
    }

    /// Blocks until the queue is idle; a lost device or a validation error is an error.
    pub(crate) fn wait(&self) -> Result<()> {
        self.device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| match e {
                wgpu::PollError::Timeout => Error::Gpu("timed out waiting for the GPU".into()),
                other => Error::DeviceLost(format!("poll failed: {other}")),
            })?;
        self.check_lost()
    }

    /// A MAP_READ staging buffer of `bytes`.
    pub(crate) fn staging(&self, bytes: u64) -> wgpu::Buffer {
        self.buffer(&wgpu::BufferDescriptor {
            label: Some("wgpu-lstm staging"),
            size: bytes.max(16).next_multiple_of(16),
            usage: wgpu::BufferUsages::MAP_READ | wgpu::BufferUsages::COPY_DST,
            mapped_at_creation: false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn out_of_memory_and_lost_devices_are_typed() {
        let oom = wgpu::Error::OutOfMemory {
            source: Box::new(std::io::Error::other("no room")),
        };
        assert!(matches!(classify(&oom, "x"), Error::OutOfMemory(_)));
        let val = wgpu::Error::Validation {
            source: Box::new(std::io::Error::other("bad")),
            description: "Parent device is lost".into(),
        };
        assert!(matches!(classify(&val, "x"), Error::DeviceLost(_)));
        let val = wgpu::Error::Validation {
            source: Box::new(std::io::Error::other("bad")),
            description: "Buffer is too small".into(),
        };
        assert!(matches!(classify(&val, "x"), Error::Gpu(_)));
    }
}
