#pragma once
// The modality gap (Liang et al. 2022, "Mind the Gap"): CLIP's image and text
// embeddings lie in two separate narrow cones. Measured on paired images and
// captions: the distance between the two modalities' centroids (of normalized
// embeddings; they report 0.82 for CLIP on MSCOCO), each cone's width (pairwise
// cosine within a modality), the contrastive loss as both modalities are shifted
// toward each other along the gap vector (their embedding-shift experiment), and
// a 2-D projection of both modalities.
#include <torch/types.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "core/image/stream.h"
#include "core/model/clip.h"
#include "core/text/tokenizer.h"

namespace clipscope::experiments {

// Liang et al.'s centroid distance for CLIP ViT-B/32 on MSCOCO's validation captions.
inline constexpr double kPublishedCentroidDistance = 0.82;

// Image-caption pairs in open_clip's CSV/TSV layout: a header row naming the columns,
// then one pair per line (".tsv": tab-separated, anything else: CSV as RFC 4180 writes it).
// Relative image paths are relative to the table's folder (the world's captions.tsv
// names images/NNNN.png).
struct CaptionPair {
  std::filesystem::path image;
  std::string caption;
};
struct CaptionTable {
  std::vector<CaptionPair> pairs;
  std::vector<std::string> skipped;  // "line N: problem" for lines that are not a pair
};
// Throws Error naming the file for a missing file, a missing column or no pairs at all.
CaptionTable read_caption_table(const std::filesystem::path& table, const std::string& image_column = "filepath",
                                const std::string& caption_column = "title");

struct GapOptions {
  // Shift amounts λ: images move by -λΔ/2 and texts by +λΔ/2 (Δ = image centroid -
  // text centroid), then are normalized again; λ = 1 makes the centroids meet before
  // normalization, λ < 0 widens the gap.
  std::vector<double> shifts = {-0.5, -0.25, 0, 0.25, 0.5, 0.75, 1};
  // The loss is CLIP's over consecutive blocks of this many pairs (as a training batch
  // sees them), averaged; the last, partial block counts by its size.
  int64_t loss_batch = 1024;
};

struct GapShift {
  double shift = 0;              // λ
  double centroid_distance = 0;  // after the shift and normalization
  double loss = 0;               // CLIP's contrastive loss at the model's temperature
};

struct Cone {
  double mean_cosine = 0;  // over all pairs i != j within the modality
  double min_cosine = 0;
};

struct GapResult {
  int64_t pairs = 0;
  double centroid_distance = 0;  // || mean(image) - mean(text) || of normalized embeddings
  Cone image_cone, text_cone;
  double paired_cosine = 0;  // mean cosine of an image with its own caption
  double logit_scale = 0;    // exp(model's logit_scale): the loss's inverse temperature
  std::vector<GapShift> sweep;
  // Both modalities on the top two principal components of all 2N normalized
  // embeddings, (N, 2) each; each component's sign makes its largest loading positive.
  torch::Tensor image_2d, text_2d;

  nlohmann::json to_json() const;  // everything but the projection
  std::string table() const;       // the numbers, with the published centroid distance beside ours
};

// images, texts: (N, D) embeddings of N pairs (row i of each is one pair), N >= 2,
// normalized here. logit_scale: the multiplier of the cosines (CLIP: exp(logit_scale)).
GapResult modality_gap(const torch::Tensor& images, const torch::Tensor& texts, double logit_scale,
                       const GapOptions& options = {});

struct GapRun {
  GapResult result;
  std::vector<StreamItem> skipped_images;  // unreadable images; their pairs are left out
  std::vector<std::string> skipped_lines;  // from the table
};

struct GapRunOptions {
  GapOptions gap;
  std::string image_column = "filepath", caption_column = "title";  // of the table
  int64_t max_pairs = 0;                                            // > 0: the first this many pairs of the table
  int batch_size = 32;
  bool truncate = false;  // captions longer than the context are cut (else an Error naming one)
  bool progress = true;
};

// The experiment's entry point: embeds the table's images (unreadable ones skipped and
// counted) and captions with `model`, then measures the gap.
GapRun measure_gap(CLIP& model, const Tokenizer& tokenizer, const std::filesystem::path& table,
                   const GapRunOptions& options = {});

// The 2-D projection as a scatter plot: images and texts in two colours, each pair
// joined by a grey line (the first `joined` pairs; 0: none).
void write_gap_plot(const std::filesystem::path& png, const GapResult& result, int64_t joined = 300);

}  // namespace clipscope::experiments
