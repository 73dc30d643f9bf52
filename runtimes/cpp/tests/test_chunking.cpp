// The chunking rule of export/CONTRACT.md, checked as pure arithmetic.
#include "check.hpp"
#include "crsae/chunking.hpp"
#include "crsae/errors.hpp"

namespace {

void check_plan(int64_t N, int64_t K, int64_t halo, int64_t chunk, const std::string& output) {
  auto plan = crsae::plan_chunks(N, K, halo, chunk, output);
  const bool codes = output == "codes";
  const int64_t M = codes ? N - K + 1 : N;
  int64_t next = 0;
  for (const auto& w : plan) {
    CHECK_EQ(w.core_begin, next);  // cores tile [0, M) in order
    CHECK(w.core_end > w.core_begin && w.core_end - w.core_begin <= chunk);
    CHECK_EQ(w.window_begin, std::max<int64_t>(0, w.core_begin - halo));
    CHECK_EQ(w.window_end, std::min(N, w.core_end + (codes ? K - 1 : 0) + halo));
    CHECK(w.window_end - w.window_begin >= K);  // every window is a valid model input
    next = w.core_end;
  }
  CHECK_EQ(next, M);
}

}  // namespace

TEST(cores_tile_the_output_and_windows_follow_the_rule) {
  for (int64_t N : {9, 10, 57, 1000})
    for (int64_t chunk : {1, 3, 64, 999, 5000})
      for (const char* output : {"codes", "reconstruction"}) check_plan(N, 9, (10 + 1) * (9 - 1), chunk, output);
  check_plan(5, 5, 4, 1, "codes");  // N == K: one code; T = 0, halo = K - 1 (the smallest 1-D halo)
  check_plan(5, 5, 4, 1, "reconstruction");
  check_plan(6, 5, 4, 1, "reconstruction");
}

TEST(worked_example) {
  // N = 100, K = 5, T = 2 -> halo = 12; codes M = 96 in cores of 40: [0,40) [40,80) [80,96)
  auto plan = crsae::plan_chunks(100, 5, 12, 40, "codes");
  CHECK_EQ(plan.size(), 3u);
  CHECK(plan[1].core_begin == 40 && plan[1].core_end == 80 && plan[1].window_begin == 28 && plan[1].window_end == 96);
  CHECK(plan[2].core_begin == 80 && plan[2].core_end == 96 && plan[2].window_begin == 68 && plan[2].window_end == 100);
  auto recon = crsae::plan_chunks(100, 5, 12, 40, "reconstruction");
  CHECK(recon[1].window_begin == 28 && recon[1].window_end == 92 && recon[2].core_end == 100);
}

TEST(huge_chunk_is_one_window) {
  auto plan = crsae::plan_chunks(100, 5, 12, INT64_MAX, "codes");
  CHECK(plan.size() == 1 && plan[0].window_begin == 0 && plan[0].window_end == 100 && plan[0].core_end == 96);
}

TEST(rejects_bad_arguments) {
  CHECK_THROWS(crsae::plan_chunks(100, 5, 12, 0, "codes"), crsae::ConfigError, "chunk is 0; pass a core size of at least 1");
  CHECK_THROWS(crsae::plan_chunks(4, 5, 12, 10, "codes"), crsae::ShapeError, "shorter than kernel_size 5");
  CHECK_THROWS(crsae::plan_chunks(100, 5, 12, 10, "x"), crsae::ConfigError, "unknown output 'x'");
}
