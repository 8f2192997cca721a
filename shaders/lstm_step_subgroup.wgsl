// lstm_step_subgroup.wgsl — lstm_step.wgsl with the k-split reduced by subgroup shuffles
// instead of workgroup memory and a barrier. Used where the device has the SUBGROUP feature
// (the scheduler's choice; `KernelChoice::PerStepSubgroup` forces it). Needs activation.wgsl,
// recurrent_f32.wgsl or recurrent_f16.wgsl, and lstm_step_common.wgsl first, like lstm_step.wgsl.
//
// CPU twin: `cpu::lstm_step` in src/cpu.rs (the same math as lstm_step.wgsl).
//
// Bindings: those of lstm_step.wgsl, except that binding 1 holds the recurrent kernel
// transposed (unit-major), so that the KS invocations of one unit read consecutive vec4s:
//   1  r : (U, U) vec4, r[j·U + q] = (R[q, j], R[q, U+j], R[q, 2U+j], R[q, 3U+j])
// Dispatch: (ceil(U / UPW), B, 1) workgroups of 256 invocations, UPW = 256 / KS units each.
// KS is a power of two no larger than the device's smallest subgroup size (never assumed:
// the host reads it from the adapter), so the KS invocations of a unit are consecutive
// lanes of one subgroup whatever the subgroup size and whichever invocations the driver puts
// in a subgroup: the unit of lane l of subgroup s is s·(S / KS) + l / KS, S = subgroup_size.
// This assumes full subgroups (num_subgroups · S = 256), which Vulkan does not promise
// without REQUIRE_FULL_SUBGROUPS (wgpu does not set it); drivers with one subgroup size
// (NVIDIA 32, lavapipe 8) launch full ones for a workgroup of 256, so the host's Auto choice
// takes this kernel only there (`GpuContext::subgroup_size_fixed`) and with KS ≥ 4.
// Each invocation sums its slice q = ks, ks + KS, … of h·R; log2(KS) xor-shuffles add the KS
// partial sums (every lane ends with the total), and lane ks = 0 does the element-wise part.
//
// Math: as lstm_step.wgsl.

@compute @workgroup_size(256, 1, 1)
fn lstm_step_subgroup(
    @builtin(workgroup_id) wg: vec3<u32>,
    @builtin(subgroup_id) sg: u32,
    @builtin(subgroup_size) sg_size: u32,
    @builtin(subgroup_invocation_id) lane: u32,
) {
    let upw = WG / KS;
    let ks = lane % KS;
    let j = wg.x * upw + sg * (sg_size / KS) + lane / KS;
    let b = wg.y;
    let u = step.units;
    let row = b * step.steps + step.t_in;
    var valid = true;
    if (step.has_mask != 0u) {
        valid = mask[row] != 0u;
    }
    // this lane's slice of h·R (every lane reaches the shuffles)
    var acc = vec4<f32>(0.0);
    if (valid && j < u) {
        let hb = step.h_read + b * u;
        let rb = step.c_off + b * u;
        for (var q = ks; q < u; q = q + KS) {
            acc = acc + h_in(hb, rb, q) * r_at(j * u + q);
        }
    }
    for (var m = KS / 2u; m > 0u; m = m / 2u) {
        acc = acc + subgroupShuffleXor(acc, m);
    }
    if (ks != 0u || j >= u) {
        return;
    }
    var x4 = vec4<f32>(0.0);
    var sum = vec4<f32>(0.0);
    if (valid) {
        x4 = z[row * u + j];
        sum = select(acc, x4 + acc, CELL == 0u);
    }
    update_unit(b, j, valid, x4, sum);
}
