// crsae-bench MODEL INPUT.npy [--output codes|reconstruction] [--chunk N] [--warmup W] [--repeat R] [--threads T]
// Times Model::run on one input: W untimed runs, then R timed runs; prints one line with the mean, the median
// and the minimum in milliseconds, with the ONNX Runtime version and thread setting, so runs can be compared.
// Errors as crsae-infer: one "error: ..." line on stderr, exit 1 (2 for bad usage).
#include <algorithm>
#include <chrono>
#include <climits>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "cli.hpp"
#include "crsae/contract.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"

namespace {

const char* kUsage =
    "usage: crsae-bench MODEL INPUT.npy [--output codes|reconstruction] [--chunk N] [--warmup W] [--repeat R] "
    "[--threads T]\n"
    "  --output   the output to time: codes (default) or reconstruction\n"
    "  --chunk N  1-D only: run in cores of N output samples\n"
    "  --warmup W untimed runs first (default 5)\n"
    "  --repeat R timed runs (default 50)\n"
    "  --threads T  ONNX Runtime intra-op threads (default 0: one per core)\n";

}  // namespace

int main(int argc, char** argv) {
  return crsae::cli::guarded("crsae-bench", [&] {
    using crsae::cli::UsageError;
    using crsae::cli::parse_int;
    std::vector<std::string> paths;
    std::string output = "codes";
    std::optional<int64_t> chunk;
    int64_t warmup = 5, repeat = 50, threads = 0;
    bool options_done = false;
    for (int i = 1; i < argc; ++i) {
      const std::string a = argv[i];
      auto value = [&]() -> std::string {
        if (i + 1 >= argc) throw UsageError(a + " needs a value");
        return argv[++i];
      };
      if (options_done || a.empty() || a == "-" || a[0] != '-') paths.push_back(a);
      else if (a == "--") options_done = true;
      else if (a == "-h" || a == "--help") { std::cout << kUsage; return 0; }
      else if (a == "--output") {
        output = value();
        if (!crsae::contract::is_output(output))
          throw UsageError("--output must be " + crsae::contract::outputs_text() + ", got '" + output + "'");
      }
      else if (a == "--chunk") chunk = parse_int(a, value(), 1, INT64_MAX);
      else if (a == "--warmup") warmup = parse_int(a, value(), 0, 1000000);
      else if (a == "--repeat") repeat = parse_int(a, value(), 1, 1000000);
      else if (a == "--threads") threads = parse_int(a, value(), 0, 4096);
      else throw UsageError("unknown option " + a);
    }
    if (paths.size() != 2)
      throw UsageError("expected MODEL and INPUT.npy, got " + std::to_string(paths.size()) + " paths");

    crsae::Model model(paths[0], crsae::Model::Options{int(threads)});
    const crsae::Tensor signal = crsae::read_npy(paths[1]);
    for (int64_t i = 0; i < warmup; ++i) model.run(signal, output, chunk);
    std::vector<double> ms;
    for (int64_t i = 0; i < repeat; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      model.run(signal, output, chunk);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    const double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / double(ms.size());
    std::sort(ms.begin(), ms.end());
    std::printf("%s %s %s chunk=%s: mean %.3f ms, median %.3f ms, min %.3f ms over %lld runs (%lld warmup); "
                "onnxruntime %s CPU, intra_op_threads=%lld (0 = auto), %u hardware threads\n",
                paths[0].c_str(), output.c_str(), crsae::shape_str(signal.shape).c_str(),
                chunk ? std::to_string(*chunk).c_str() : "none", mean, ms[ms.size() / 2], ms[0],
                (long long)repeat, (long long)warmup, crsae::onnxruntime_version().c_str(), (long long)threads,
                std::thread::hardware_concurrency());
    return 0;
  });
}
