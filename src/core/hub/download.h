#pragma once
// Verified downloads with libcurl (http, https, file URLs): progress bar on
// stderr, retries with backoff, SHA-256 check, and never a partial file under the
// final name (data goes to "<dest>.part" and is renamed only once verified).
#include <filesystem>
#include <string>
#include <string_view>

namespace clipscope {

struct DownloadOptions {
  int attempts = 3;            // total tries for transient failures
  bool progress = true;        // progress bar on stderr
  double backoff_seconds = 1;  // first retry delay, doubled each retry
};

// Downloads url to dest. expected_sha256 (hex) is checked when non-empty;
// a mismatch throws Error("... checksum mismatch ...") and leaves no file behind.
// Transient failures (connection errors, timeouts, partial transfers, HTTP 5xx /
// 408 / 429) are retried; permanent ones (HTTP 4xx, missing file://, bad URL,
// checksum mismatch) throw at once. An existing dest is replaced only by a
// verified download.
void download_file(const std::string& url, const std::filesystem::path& dest, const std::string& expected_sha256,
                   const DownloadOptions& options = {});

// Lowercase hex SHA-256 of a file's bytes.
std::string sha256_file(const std::filesystem::path& path);
std::string sha256_text(std::string_view text);

// "file://" URL of a local path (made absolute, bytes outside [A-Za-z0-9-._~/]
// percent-encoded), e.g. for mirrors in folders whose names contain spaces.
std::string file_url(const std::filesystem::path& path);

namespace detail {
// Whether a failed transfer is worth retrying: curl_code is a CURLcode,
// http_status the response code (0 when there was none). Exposed for tests.
bool is_transient_failure(int curl_code, long http_status);
}  // namespace detail

}  // namespace clipscope
