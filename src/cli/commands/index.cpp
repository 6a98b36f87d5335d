// clipscope index ... --out ATLAS   (also under mpirun -np N)
// clipscope merge SHARD... --out ATLAS
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <cstdlib>
#include <future>
#include <thread>

#include "atlas/indexer.h"
#include "atlas/merge.h"
#include "cli/context.h"
#include "cli/image_inputs.h"
#include "core/hub/download.h"
#include "core/util/error.h"

#ifdef CLIPSCOPE_WITH_MPI
#include <mpi.h>
#endif

namespace clipscope::cli {
namespace {

namespace fs = std::filesystem;

struct IndexCommand {
  std::string model, out, precision, shard = "0/1";
  std::vector<std::string> layers, matrix, matrix_layers;
  ImageInputs images;
  int k = 100;
  double checkpoint_seconds = 60;
  std::string command_line;
};

// Ranks and local ranks as the MPI launcher tells them, before MPI_Init (OpenMPI,
// then the PMI variables other launchers set). 1 when not launched by mpirun.
int launcher_env(std::initializer_list<const char*> names) {
  for (const char* name : names)
    if (const char* v = std::getenv(name)) return std::max(1, std::atoi(v));
  return 1;
}

void print_result(const atlas::IndexResult& r, const fs::path& out) {
  if (r.already_complete) {
    fmt::print(stderr, "{}: already complete ({} images, {} skipped); nothing to do\n", out.string(), r.images,
               r.skipped);
    return;
  }
  fmt::print(stderr, "{}: {} images indexed{} in {:.1f} s ({:.1f} img/s){}\n", out.string(), r.images,
             r.skipped ? fmt::format(", {} unreadable skipped (listed in the atlas)", r.skipped) : "", r.seconds,
             r.images_per_second, r.resumed_at >= 0 ? fmt::format("; resumed at input {}", r.resumed_at) : "");
}

atlas::IndexOptions index_options(const IndexCommand& c, bool progress) {
  atlas::IndexOptions o;
  o.layers = c.layers;
  o.k = c.k;
  for (const auto& q : c.matrix) o.matrix_quantities.push_back(atlas::parse_quantity(q, "matrix"));
  o.matrix_layers = c.matrix.empty() || !c.matrix_layers.empty() ? c.matrix_layers : c.layers;
  o.batch_size = c.images.batch_size;
  o.workers = c.images.workers;
  o.shard = atlas::parse_shard(c.shard);
  o.checkpoint_seconds = c.checkpoint_seconds;
  o.progress = progress;
  o.command_line = c.command_line;
  return o;
}

atlas::IndexResult run_index(Context& ctx, const IndexCommand& c, const fs::path& out, atlas::IndexOptions options) {
  if (c.checkpoint_seconds < 0) throw Error(fmt::format("--checkpoint-seconds {}: must be >= 0", c.checkpoint_seconds));
  const auto inputs = collect_image_paths(c.images.inputs);
  if (inputs.empty())
    throw Error(fmt::format("--images {}: no JPEG or PNG images found", fmt::join(c.images.inputs, " ")));
  auto [model, identity] = ctx.load_identified_model(c.model, c.precision);
  return atlas::index_images(model, identity, inputs, out, options);
}

#ifdef CLIPSCOPE_WITH_MPI
// Under mpirun: rank r indexes shard r/n into OUT/shards/, then rank 0 merges them
// into OUT and removes them. A failure on any rank fails every rank.
void run_index_mpi(Context& ctx, const IndexCommand& c, int ranks) {
  MPI_Init(nullptr, nullptr);
  int rank = 0;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &ranks);
  const fs::path out(c.out);
  const fs::path shards_dir = out / "shards";
  auto shard_dir = [&](int r) { return shards_dir / fmt::format("rank-{}-of-{}", r, ranks); };
  std::string error;
  try {
    if (c.shard != "0/1") throw Error("--shard: not with mpirun (each rank takes its own shard)");
    if (atlas::Atlas::exists(out)) {
      if (rank == 0) fmt::print(stderr, "{}: already complete; nothing to do\n", out.string());
    } else {
      // Each rank's LibTorch gets its share of the node's cores.
      if (ctx.threads == 0) {
        const int local = launcher_env({"OMPI_COMM_WORLD_LOCAL_SIZE", "MPI_LOCALNRANKS"});
        ctx.threads = std::max(1, static_cast<int>(std::thread::hardware_concurrency()) / local);
      }
      atlas::IndexOptions options = index_options(c, !ctx.quiet && rank == 0);
      options.shard = {rank, ranks};
      const auto r = run_index(ctx, c, shard_dir(rank), options);
      if (!ctx.quiet && rank == 0) print_result(r, shard_dir(rank));
    }
  } catch (const std::exception& e) {
    error = e.what();
  }
  int ok = error.empty() ? 1 : 0, all_ok = 0;
  MPI_Allreduce(&ok, &all_ok, 1, MPI_INT, MPI_MIN, MPI_COMM_WORLD);
  if (all_ok && rank == 0 && !atlas::Atlas::exists(out)) {
    try {
      std::vector<fs::path> parts;
      for (int r = 0; r < ranks; ++r) parts.push_back(shard_dir(r));
      const auto m = atlas::merge_atlases(parts, out, c.command_line);
      fs::remove_all(shards_dir);
      if (!ctx.quiet)
        fmt::print(stderr, "{}: merged {} ranks: {} images ({} skipped) in {:.2f} s\n", out.string(), ranks, m.images,
                   m.skipped, m.seconds);
    } catch (const std::exception& e) {
      error = e.what();
    }
  }
  int merged_ok = error.empty() ? 1 : 0;
  MPI_Bcast(&merged_ok, 1, MPI_INT, 0, MPI_COMM_WORLD);
  MPI_Finalize();
  if (!error.empty()) throw Error(fmt::format("rank {}: {}", rank, error));
  if (!all_ok || !merged_ok) throw Error(fmt::format("rank {}: stopping because another rank failed", rank));
}
#endif

}  // namespace

void add_index_commands(CLI::App& app, Context& ctx) {
  auto c = std::make_shared<IndexCommand>();
  auto* cmd = app.add_subcommand(
      "index", "Build a neuron atlas: every unit's top and bottom dataset examples and activation statistics");
  add_model_option(*cmd, c->model);
  add_precision_option(*cmd, c->precision);
  cmd->add_option("-l,--layers", c->layers, "Layers to index (point names or aliases, comma-separated)")
      ->required()
      ->delimiter(',');
  add_image_input_options(*cmd, c->images);
  cmd->get_option("--image")->required();
  cmd->add_option("-o,--out", c->out, "Atlas directory (created; an unfinished atlas there is resumed)")->required();
  cmd->add_option("-k,--k", c->k, "Examples kept per unit and list")->default_val(100);
  cmd->add_option("--matrix", c->matrix,
                  "Also keep every image's value per unit (max and/or mean; float16, unit-major .npy) — needed by "
                  "buckets and condprob")
      ->delimiter(',');
  cmd->add_option("--matrix-layers", c->matrix_layers, "Layers whose matrices to keep (default: all indexed layers)")
      ->delimiter(',');
  cmd->add_option("--shard", c->shard, "Index only shard i of n (i/n); join the shards with `clipscope merge`")
      ->default_val("0/1");
  cmd->add_option("--checkpoint-seconds", c->checkpoint_seconds,
                  "Seconds between checkpoints; a killed run resumes from the last one")
      ->default_val(60);
  cmd->callback([&ctx, c] {
    c->command_line = ctx.command_line;
    const int ranks = launcher_env({"OMPI_COMM_WORLD_SIZE", "PMI_SIZE"});
    if (ranks > 1) {
#ifdef CLIPSCOPE_WITH_MPI
      run_index_mpi(ctx, *c, ranks);
      return;
#else
      throw Error("started by mpirun, but this clipscope was built without MPI (install libopenmpi-dev and rebuild)");
#endif
    }
    const auto r = run_index(ctx, *c, c->out, index_options(*c, !ctx.quiet));
    if (!ctx.quiet) print_result(r, c->out);
  });

  struct MergeCommand {
    std::vector<std::string> shards;
    std::string out;
  };
  auto m = std::make_shared<MergeCommand>();
  auto* merge = app.add_subcommand("merge", "Join shard atlases (index --shard i/n) into one atlas");
  merge->add_option("shards", m->shards, "Shard atlas directories")->required();
  merge->add_option("-o,--out", m->out, "Merged atlas directory")->required();
  merge->callback([&ctx, m] {
    std::vector<fs::path> dirs(m->shards.begin(), m->shards.end());
    const auto r = atlas::merge_atlases(dirs, m->out, ctx.command_line);
    if (!ctx.quiet)
      fmt::print(stderr, "{}: merged {} shards: {} images ({} skipped) in {:.2f} s\n", m->out, dirs.size(), r.images,
                 r.skipped, r.seconds);
  });
}

}  // namespace clipscope::cli
