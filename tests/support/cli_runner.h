#pragma once
// Running the clipscope binary from tests: real processes, real files.
#include <string>
#include <vector>

namespace clipscope::testing {

struct CliResult {
  int code;
  std::string out, err;
};

// Shell-quotes one argument.
std::string shell_quote(const std::string& s);
// Runs clipscope --quiet with args (each quoted), after extra environment assignments (`env`).
CliResult run_clipscope(const std::vector<std::string>& args, const std::string& env = "");
// A failure: non-zero exit and exactly one stderr line "clipscope: ..." naming `fragment`.
void expect_one_line_error(const CliResult& r, const std::string& fragment);

}  // namespace clipscope::testing
