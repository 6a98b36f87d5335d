#pragma once
// One exception type for every user-facing failure. Its message is a single line
// that names the thing (file, layer, argument) and the problem; the CLI prints it
// as "clipscope: <message>" and exits non-zero.
#include <stdexcept>
#include <string>

namespace clipscope {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

}  // namespace clipscope
