#pragma once
// Feature visualization as one call, as lucid's render_vis is: what to render
// (units and/or an objective expression), the method's recipe as options with
// lucid's defaults, and a folder that receives one PNG per image, grid.png and
// visualize.json. A folder holding an interrupted run with the same options
// resumes where it stopped; one with other options is refused. `clipscope
// visualize`, serve's live renders and the tests call it.
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/model/clip.h"

namespace clipscope::optvis {

// lucid: Fourier, decorrelated colours, standard transforms. preimage: Mahendran
// and Vedaldi's raw pixels with alpha-norm and total-variation priors. deepdream:
// gradient ascent over octaves from an image.
enum class Method { Lucid, Preimage, DeepDream };
Method parse_method(const std::string& name);  // ArgumentError naming "method"
std::string method_name(Method method);

struct VisualizeOptions {
  // What: "LAYER:INDEX[,INDEX...]" (one image per unit) and/or an objective
  // expression (added to every unit's, or alone). At least one of the two.
  std::string unit;
  std::string objective;
  bool neuron = false;  // the unit at the centre position only (lucid's neuron), not its spatial mean
  Method method = Method::Lucid;

  // The recipe. 0 for lr means the method's default (lucid 0.05, facets 0.02,
  // preimage 0.01); 0 for size means the model's input resolution; empty
  // transforms mean the method's ("standard", "facet:SIZE", preimage "jitter(4)").
  int steps = 512;  // Deep Dream: per octave
  int size = 0;
  int batch = 8;   // units rendered together, one image each
  int images = 1;  // images for an objective without units
  double lr = 0;
  std::string thresholds;  // "32,128": also save the images after these steps
  uint64_t seed = 0;
  std::string param = "fft";  // fft or pixel
  double sd = 0.01, decay_power = 1;
  bool no_decorrelate = false;
  std::string range = "sigmoid";  // sigmoid or clamp
  std::string transforms;
  int redirect_relu_steps = 16;
  bool grayscale = false;
  double alpha = 6, alpha_weight = 1e-3, tv_weight = 0.05;  // preimage
  std::string init;                                         // deepdream: the start image (default: grey noise)
  int octaves = 4;
  double octave_scale = 1.4, step_size = 0.01;  // deepdream
  std::string facet;                            // a facet probe (.npy from facet-probe): faceted lucid
  std::string facet_strength = "0.1,5";         // the facet term's weight, first to last image of a unit's batch
  int facet_batch = 9;
  double l2_weight = 10;  // facets: mean squared distance from grey

  // Recorded in visualize.json, not used to render: the model spec and precision
  // the caller loaded, and the command line that asked.
  std::string model, precision, command;

  bool progress = false;                                     // count, rate and ETA on stderr
  std::function<void(int64_t done, int64_t total)> on_step;  // after every optimization step
  int crash_after = 0;  // tests: throw CrashForTesting after this many saved renders (core/util/crash.h)
};

// Everything in `options` that decides what is written; a folder resumes only
// when its visualize.json holds the same (visualize.json's "settings").
nlohmann::json visualize_settings(const VisualizeOptions& options);

struct VisualizeResult {
  std::filesystem::path report;     // visualize.json
  int64_t images = 0;               // final images in the folder (not counting threshold snapshots)
  size_t renders = 0, resumed = 0;  // image batches; of them, found saved by an interrupted run
};

VisualizeResult visualize(CLIP& model, const VisualizeOptions& options, const std::filesystem::path& out);

}  // namespace clipscope::optvis
