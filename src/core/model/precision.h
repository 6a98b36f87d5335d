#pragma once
// How a forward-only job computes. `Exact` is OpenAI's computation op for op (fp32,
// batch norms applied separately): parity tests and gradients use it. The fast
// paths fold batch norms into convolutions, run convolutions channels-last with
// prepacked weights and trim text to its longest sequence; `BF16` also computes
// convolutions and matrix products in bfloat16 (fp32 accumulation), which is
// several times faster where the CPU has native bf16 (AVX512-BF16, AMX, Arm BF16).
#include <torch/types.h>

#include <string>
#include <string_view>

namespace clipscope {

enum class Precision { Exact, FP32, BF16 };

// "exact" | "fp32" | "bf16" | "auto" (bf16 where the device computes it natively,
// else fp32); throws Error for anything else.
Precision parse_precision(const std::string& spec, torch::Device device = torch::kCPU);
std::string_view precision_name(Precision precision);

// Native bf16 arithmetic on this CPU: x86 AVX512-BF16 (every AMX CPU has it too) or Arm BF16.
bool cpu_has_native_bf16();

}  // namespace clipscope
