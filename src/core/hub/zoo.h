#pragma once
// The official CLIP checkpoints and the BPE vocabulary: names, URLs, SHA-256s,
// the cache directory, and name -> cached file resolution (downloading when needed).
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace clipscope {

struct RemoteFile {
  std::string name;  // "RN50", "ViT-B/32", "bpe_simple_vocab_16e6.txt.gz"
  std::string url;
  std::string sha256;  // lowercase hex; empty = not verified
  // File name in the cache ("RN50.pt", "ViT-B-32.pt", "ViT-L-14-336px.pt"): the name
  // with every character outside [A-Za-z0-9._-] replaced by '-' and a leading '.'
  // by '_' (so it is never a path or hidden), plus the URL's extension when the
  // name lacks it. For the official files this equals the URL's last segment.
  std::string filename() const;
};

// OpenAI's checkpoints as listed in openai/CLIP clip/clip.py; SHA-256 = the URL's
// second-to-last path segment.
const std::vector<RemoteFile>& official_models();
// Official names in listing order, for "available models" messages.
std::vector<std::string> official_model_names();
// Accepts the official name ("ViT-B/32"), the cache file name ("ViT-B-32.pt") or
// its stem ("ViT-B-32"); exact matches first, then the same forms ignoring ASCII
// case ("vit-b/32"), which is unambiguous because the official names differ in
// more than case. nullopt when nothing matches.
std::optional<RemoteFile> find_official_model(std::string_view name);
const RemoteFile& bpe_vocab_file();
// A copy of bpe_vocab_file() that an installed Python package ships (OpenAI's `clip`
// and `open_clip` both carry it inside the package), found without running Python:
// the site-packages of $VIRTUAL_ENV, $CONDA_PREFIX, ~/.local, /usr/local and /usr,
// and $PYTHONPATH. Only a copy with the pinned SHA-256 counts. nullopt when none.
std::optional<std::filesystem::path> installed_bpe_vocab();

// clipscope's own demo CLIP, trained by `clipscope train-demo` on the synthetic
// world and shipped with the project (no download): $CLIPSCOPE_DEMO_MODEL when set,
// else models/demo/clipscope-demo.pt of the installed data or the source tree.
// Its BPE merges file lies beside it (see merges_beside).
inline constexpr std::string_view kDemoModelName = "demo";
std::filesystem::path demo_model_path();
// The merges file that belongs to a checkpoint: "<dir>/<stem>.bpe.txt.gz" beside it.
std::filesystem::path merges_beside(const std::filesystem::path& checkpoint);

// $CLIPSCOPE_CACHE, else $XDG_CACHE_HOME/clipscope (only when absolute, as the XDG
// spec requires), else ~/.cache/clipscope. Empty variables count as unset.
std::filesystem::path default_cache_dir();

// $CLIPSCOPE_MIRROR (a base URL, e.g. file:///data/clip-mirror or
// http://host/clip, or a plain absolute directory) replaces the scheme+host part of
// official URLs and keeps their path, for air-gapped clusters and tests. So a mirror
// is a folder tree laid out like the original hosts' paths, e.g.
//   <mirror>/clip/models/<sha256>/RN50.pt                      (openaipublic.azureedge.net)
//   <mirror>/openai/CLIP/raw/main/clip/bpe_simple_vocab_16e6.txt.gz  (github.com)
// Returns url unchanged when the variable is unset or empty.
std::string apply_mirror(const std::string& url);

// Returns the cached file for `file`, downloading (and verifying) it when absent.
// A cached file whose SHA-256 does not match is re-downloaded (with a warning on
// stderr). Downloads go through apply_mirror and are serialised between processes
// by an advisory lock on "<file>.lock" in cache_dir.
std::filesystem::path ensure_cached(const RemoteFile& file, const std::filesystem::path& cache_dir,
                                    bool progress = true);

}  // namespace clipscope
