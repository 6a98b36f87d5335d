#include "core/model/precision.h"

#include <cpuinfo.h>
#include <fmt/format.h>

#include "core/util/error.h"

namespace clipscope {

bool cpu_has_native_bf16() {
  static const bool native = [] {
    if (!cpuinfo_initialize()) return false;
#if defined(__x86_64__) || defined(__i386__)
    return cpuinfo_has_x86_avx512bf16();
#elif defined(__aarch64__)
    return cpuinfo_has_arm_bf16();
#else
    return false;
#endif
  }();
  return native;
}

Precision parse_precision(const std::string& spec, torch::Device device) {
  if (spec == "exact") return Precision::Exact;
  if (spec == "fp32") return Precision::FP32;
  if (spec == "bf16") return Precision::BF16;
  if (spec == "auto") {
    // GPUs from Ampere on compute bf16 natively; older ones should ask for fp32.
    if (device.is_cuda()) return Precision::BF16;
    return cpu_has_native_bf16() ? Precision::BF16 : Precision::FP32;
  }
  throw ArgumentError("precision", spec, "expected exact, fp32, bf16 or auto");
}

std::string_view precision_name(Precision precision) {
  switch (precision) {
    case Precision::Exact:
      return "exact";
    case Precision::FP32:
      return "fp32";
    case Precision::BF16:
      return "bf16";
  }
  return "?";
}

}  // namespace clipscope
