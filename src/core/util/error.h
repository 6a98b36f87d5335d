#pragma once
// One exception type for every user-facing failure. Its message is a single line
// that names the thing (file, layer, argument) and the problem; the CLI prints it
// as "clipscope: <message>" and exits non-zero.
#include <stdexcept>
#include <string>
#include <utility>

namespace clipscope {

struct Error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// A bad value of a library parameter (a function's argument or an options
// field), named as the library names it: "batch_size 0: must be positive". The
// library never names command-line flags; the CLI, which knows them, prints the
// flag the user typed in the parameter's place ("--batch-size 0: must be
// positive"; flags are the parameter's name with '-' for '_').
class ArgumentError : public Error {
 public:
  ArgumentError(std::string parameter, std::string value, std::string problem)
      : Error(parameter + (value.empty() ? "" : " " + value) + ": " + problem),
        parameter_(std::move(parameter)),
        value_(std::move(value)),
        problem_(std::move(problem)) {}
  const std::string& parameter() const { return parameter_; }
  const std::string& value() const { return value_; }
  const std::string& problem() const { return problem_; }

 private:
  std::string parameter_, value_, problem_;
};

}  // namespace clipscope
