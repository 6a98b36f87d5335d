#pragma once
// Zero-shot classification as in the CLIP paper: each label's text embedding is
// the mean of its L2-normalized prompt embeddings (one per template), itself
// normalized; probabilities are softmax(exp(logit_scale) * cos(image, label)).
#include <torch/types.h>

#include <filesystem>
#include <string>
#include <vector>

#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope {

// Templates use "{}" for the label. A template file holds one per line (blank
// lines and lines starting with '#' are skipped); throws Error when it has none.
std::vector<std::string> read_templates(const std::filesystem::path& path);
std::string apply_template(const std::string& templ, const std::string& label);

// (labels, embed_dim) normalized class embeddings. templates empty = the label itself.
// A prompt longer than the context is an Error naming it, unless `truncate` (then it
// is cut as clip.tokenize(truncate=True) cuts it).
torch::Tensor zero_shot_weights(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                const std::vector<std::string>& templates = {}, bool truncate = false);

// zero_shot_weights, computed once and kept in `cache_dir` (as .npy): with 80
// templates, ImageNet's 1,000 labels are 80,000 prompts. The key covers everything
// the weights depend on: `identity` (the caller's description of the checkpoint and
// the vocabulary, e.g. their file_identity), the precision, the labels and the
// templates. A damaged entry is recomputed and replaced; an unwritable cache
// directory only costs the recomputation.
torch::Tensor zero_shot_weights_cached(CLIP& model, const Tokenizer& tokenizer, const std::vector<std::string>& labels,
                                       const std::vector<std::string>& templates, const std::string& identity,
                                       const std::filesystem::path& cache_dir, bool truncate = false);

// "path|size|mtime" of a file, for cache keys that must change when the file does.
std::string file_identity(const std::filesystem::path& path);

// (images, labels) probabilities for preprocessed images.
torch::Tensor zero_shot_probabilities(CLIP& model, const torch::Tensor& images, const torch::Tensor& class_weights);

}  // namespace clipscope
