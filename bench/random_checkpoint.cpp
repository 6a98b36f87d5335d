// Writes a CLIP checkpoint with random weights at the shape of a released model
// (OpenAI's initialization, batch-norm statistics included), for benchmarks that
// run the clipscope program end to end where no real weights can be downloaded.
//   random_checkpoint RN50 /tmp/rn50-random.pt [seed]
#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/model/checkpoint.h"
#include "core/model/clip.h"
#include "core/util/error.h"

int main(int argc, char** argv) {
  if (argc < 3) {
    std::fprintf(stderr, "usage: random_checkpoint MODEL OUT.pt [SEED]  (MODEL: RN50, RN50x4, ViT-B/32, ...)\n");
    return 2;
  }
  try {
    torch::manual_seed(argc > 3 ? std::atoll(argv[3]) : 0);
    clipscope::CLIP model(clipscope::CLIPConfig::preset(argv[1]));
    {
      // Running statistics like a trained network's, so batch norms are not identities.
      torch::NoGradGuard no_grad;
      for (auto& buffer : model->named_buffers()) {
        if (buffer.key().ends_with("running_mean")) buffer.value().normal_(0, 0.1);
        if (buffer.key().ends_with("running_var")) buffer.value().uniform_(0.5, 2.0);
      }
      // OpenAI's initialization zeroes each bottleneck's last batch-norm scale (the
      // branch starts as nothing); a trained network's is not, and the circuits tools
      // read the branch.
      for (auto& p : model->named_parameters())
        if (p.key().ends_with("bn3.weight")) p.value().uniform_(0.1, 0.5);
    }
    clipscope::StateDict sd;
    for (const auto& p : model->named_parameters()) sd[p.key()] = p.value().detach();
    for (const auto& b : model->named_buffers()) sd[b.key()] = b.value().detach();
    clipscope::save_state_dict(argv[2], sd);
    std::printf("wrote %s (%s)\n", argv[2], model->config().describe().c_str());
  } catch (const std::exception& e) {
    std::fprintf(stderr, "random_checkpoint: %s\n", e.what());
    return 1;
  }
  return 0;
}
