#include "core/util/progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <cstdio>

namespace clipscope {

Progress::Progress(std::string label, int64_t total, std::string unit, bool enabled)
    : label_(std::move(label)),
      unit_(std::move(unit)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

Progress::~Progress() { finish(); }

void Progress::add(int64_t n) { set(done_ + n); }

void Progress::set(int64_t done) {
  done_ = done;
  const auto now = std::chrono::steady_clock::now();
  const auto interval = tty_ ? std::chrono::milliseconds(100) : std::chrono::milliseconds(5000);
  if (now - last_draw_ >= interval) {
    last_draw_ = now;
    draw(false);
  }
}

void Progress::resume_at(int64_t done) {
  resumed_ = done;
  set(done);
}

void Progress::set_total(int64_t total) { total_ = total; }

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  draw(true);
}

std::string Progress::format_count(double v, const std::string& unit) {
  if (unit == "B") {
    const char* units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int i = 0;
    while (v >= 1024 && i < 4) {
      v /= 1024;
      ++i;
    }
    return i == 0 ? fmt::format("{:.0f} B", v) : fmt::format("{:.1f} {}", v, units[i]);
  }
  if (v >= 1e6) return fmt::format("{:.2f}M{}{}", v / 1e6, unit.empty() ? "" : " ", unit);
  if (v >= 1e4) return fmt::format("{:.1f}k{}{}", v / 1e3, unit.empty() ? "" : " ", unit);
  return fmt::format("{:.0f}{}{}", v, unit.empty() ? "" : " ", unit);
}

void Progress::draw(bool final) {
  if (!enabled_) return;
  const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double rate = secs > 0 ? static_cast<double>(done_ - resumed_) / secs : 0;
  std::string line = label_ + ": " + format_count(static_cast<double>(done_), unit_);
  if (total_ > 0) {
    line += " / " + format_count(static_cast<double>(total_), unit_);
    line += fmt::format(" ({:.0f}%)", 100.0 * static_cast<double>(done_) / static_cast<double>(total_));
  }
  line += " | " + format_count(rate, unit_) + "/s";
  if (total_ > 0 && rate > 0 && !final) {
    const double eta = static_cast<double>(total_ - done_) / rate;
    line += fmt::format(" | ETA {:d}:{:02d}", static_cast<int>(eta) / 60, static_cast<int>(eta) % 60);
  } else if (final) {
    line += fmt::format(" | {:.1f} s", secs);
  }
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace clipscope
