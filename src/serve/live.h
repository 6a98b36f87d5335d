#pragma once
// What the page can ask of the model itself (`serve --model`): the units an
// uploaded image excites, the units aligned with a text's direction, and feature
// visualizations and maximal texts computed on request in a background job.
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <nlohmann/json.hpp>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "core/model/clip.h"
#include "core/raster/text.h"
#include "core/text/tokenizer.h"
#include "maxtext/maximal_text.h"
#include "serve/atlas_view.h"
#include "words/encoder.h"

namespace clipscope::serve {

struct LiveOptions {
  int render_steps = 512;  // lucid's default (Microscope used 4,096)
  uint64_t seed = 0;
  maxtext::Options maximal_text;  // the search a unit page asks for (hill climbing, the defaults)
  std::string model_sha256;       // of the model's checkpoint, stored with each maximal text
};

class LiveModel {
 public:
  LiveModel(CLIP model, Tokenizer tokenizer, AtlasView& view, LiveOptions options);
  ~LiveModel();
  LiveModel(const LiveModel&) = delete;
  LiveModel& operator=(const LiveModel&) = delete;

  // JPEG or PNG bytes -> {"layers": [{layer, units: [{unit, value, std, thumb}]}]}, each
  // layer's units ranked by value in std units (value / the unit's RMS over the atlas).
  nlohmann::json image_search(std::string_view bytes, int k);
  // {"layer", "units": [{unit, score, thumb}]} for the layer whose units feed the
  // image embedding, ranked by the cosine between the text's embedding and the
  // unit's direction in embedding space (the attention pool or ln_post taken as
  // linear, as in the article's bilinear view); null when the atlas has no such layer.
  nlohmann::json text_search(const std::string& text, int k);
  // The text drawn and encoded as each word set encoded its words (same style and
  // baseline: the channel difference engine), so any phrase can be looked up:
  // [{"layer", "units": [{unit, value, thumb}]} or {"layer", "problem"}].
  nlohmann::json rendered_search(const std::string& text, int k);

  // The unit's circuit, for a layer that is (or ends in) a ResNet bottleneck: the units of
  // the previous block's output with the largest expanded weights into it (circuits/
  // expanded_weights.h; thumbnails when the atlas has that layer), and its residual share
  // on its top `examples` dataset examples. HttpError 400 for other layers.
  nlohmann::json circuit(const atlas::LayerInfo& layer, int64_t unit, int k, int examples);

  // Background jobs, one at a time, of two kinds: "render" (a feature visualization,
  // written below the visualization folder) and "maximal-text" (the unit's maximal
  // texts, stored in the atlas: maxtext/store.h). Each call queues a job for the unit,
  // or returns its queued or running job of that kind.
  nlohmann::json render(const atlas::LayerInfo& layer, int64_t unit);
  // HttpError 400 for a layer whose units have no text direction (can_find_text).
  nlohmann::json maximal_text(const atlas::LayerInfo& layer, int64_t unit);
  bool can_find_text(const atlas::LayerInfo& layer) const { return directions_.count(layer.id) > 0; }
  nlohmann::json job(int64_t id) const;  // HttpError 404 for an unknown id
  // The unit's queued or running job of the kind, or null.
  nlohmann::json job_for_unit(const std::string& layer, int64_t unit, const std::string& kind) const;

 private:
  struct Job {
    int64_t id = 0;
    std::string kind;  // "render" or "maximal-text"
    std::string layer;
    int64_t unit = 0;
    std::string status = "queued";  // queued, running, done, failed
    int step = 0, steps = 0;
    std::string error;
  };
  static nlohmann::json job_json(const Job& job);
  nlohmann::json enqueue(const std::string& kind, const atlas::LayerInfo& layer, int64_t unit, int steps);
  void work();
  void run_render(const Job& job);
  void run_maximal_text(const Job& job);
  void set_step(int64_t id, int64_t done);  // throws once the server is stopping

  CLIP model_;
  Tokenizer tokenizer_;
  AtlasView& view_;
  LiveOptions options_;
  std::mutex model_mutex_;                                       // one forward (or render) at a time
  std::map<int, torch::Tensor> directions_;                      // atlas layer id -> (units, embed_dim), unit length
  std::map<int, std::unique_ptr<words::WordEncoder>> encoders_;  // by word set id, made on first use
  std::map<int, torch::Tensor> baselines_;                       // by word set id
  TextRasterizer raster_;                                        // to check that a text can be drawn

  mutable std::mutex jobs_mutex_;
  std::condition_variable wake_;
  std::vector<Job> jobs_;  // by id
  std::deque<int64_t> queue_;
  bool stopping_ = false;
  std::thread worker_;
};

}  // namespace clipscope::serve
