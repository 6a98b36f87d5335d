#pragma once
// Progress on stderr for long work: count, rate, ETA. Redraws one line when stderr
// is a terminal and prints a line every few seconds otherwise (logs, CI).
#include <chrono>
#include <cstdint>
#include <string>

namespace clipscope {

class Progress {
 public:
  // total <= 0 means unknown. unit is printed after counts ("img", "B").
  Progress(std::string label, int64_t total, std::string unit = "", bool enabled = true);
  ~Progress();
  void add(int64_t n = 1);
  void set(int64_t done);
  // A resumed job: `done` units were finished before this run; the rate and the ETA
  // count only what this run does.
  void resume_at(int64_t done);
  void set_total(int64_t total);
  void finish();
  static std::string format_count(double value, const std::string& unit);

 private:
  void draw(bool final);
  std::string label_, unit_;
  int64_t total_, done_ = 0, resumed_ = 0;
  bool enabled_, tty_, finished_ = false;
  std::chrono::steady_clock::time_point start_, last_draw_;
};

}  // namespace clipscope
