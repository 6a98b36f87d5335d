#include "support/cli_runner.h"

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <algorithm>
#include <cstdlib>

#include "support/shared_data.h"

namespace clipscope::testing {

std::string shell_quote(const std::string& s) {
  std::string q = "'";
  for (char c : s) q += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return q + "'";
}

CliResult run_clipscope(const std::vector<std::string>& args, const std::string& env) {
  const auto dir = temp_dir("clipscope-cli");
  std::string cmd = env + " " + shell_quote(CLIPSCOPE_BINARY) + " --quiet";
  for (const auto& a : args) cmd += " " + shell_quote(a);
  cmd += " >" + shell_quote((dir / "out").string()) + " 2>" + shell_quote((dir / "err").string()) + " </dev/null";
  const int status = std::system(cmd.c_str());
  return {WEXITSTATUS(status), read_file(dir / "out"), read_file(dir / "err")};
}

void expect_one_line_error(const CliResult& r, const std::string& fragment) {
  EXPECT_NE(r.code, 0);
  EXPECT_EQ(r.err.rfind("clipscope: ", 0), 0u) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_NE(r.err.find(fragment), std::string::npos) << "'" << fragment << "' not in: " << r.err;
}

}  // namespace clipscope::testing
