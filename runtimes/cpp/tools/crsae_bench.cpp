// crsae-bench MODEL INPUT.npy [--output codes|reconstruction] [--chunk N] [--warmup W] [--repeat R] [--threads T]
// Times Model::run on one input: W untimed runs, then R timed runs; prints one line with the mean, the median
// and the minimum in milliseconds, with the ONNX Runtime version and thread setting, so runs can be compared.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <iostream>
#include <numeric>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "crsae/errors.hpp"
#include "crsae/model.hpp"
#include "crsae/npy.hpp"

int main(int argc, char** argv) {
  std::vector<std::string> paths;
  std::string output = "codes";
  std::optional<int64_t> chunk;
  int warmup = 5, repeat = 50, threads = 0;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    bool has_value = i + 1 < argc;
    if (a == "--output" && has_value) output = argv[++i];
    else if (a == "--chunk" && has_value) chunk = std::stoll(argv[++i]);
    else if (a == "--warmup" && has_value) warmup = std::stoi(argv[++i]);
    else if (a == "--repeat" && has_value) repeat = std::max(1, std::stoi(argv[++i]));
    else if (a == "--threads" && has_value) threads = std::stoi(argv[++i]);
    else if (!a.empty() && a[0] != '-') paths.push_back(a);
    else {
      std::cerr << "usage: crsae-bench MODEL INPUT.npy [--output codes|reconstruction] [--chunk N] "
                   "[--warmup W] [--repeat R] [--threads T]\n";
      return 2;
    }
  }
  if (paths.size() != 2) {
    std::cerr << "error: expected MODEL and INPUT.npy\n";
    return 2;
  }
  try {
    crsae::Model model(paths[0], crsae::Model::Options{threads});
    crsae::Tensor signal = crsae::read_npy(paths[1]);
    for (int i = 0; i < warmup; ++i) model.run(signal, output, chunk);
    std::vector<double> ms;
    for (int i = 0; i < repeat; ++i) {
      auto t0 = std::chrono::steady_clock::now();
      model.run(signal, output, chunk);
      ms.push_back(std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count());
    }
    double mean = std::accumulate(ms.begin(), ms.end(), 0.0) / ms.size();
    std::sort(ms.begin(), ms.end());
    std::printf("%s %s %s chunk=%s: mean %.3f ms, median %.3f ms, min %.3f ms over %d runs (%d warmup); "
                "onnxruntime %s CPU, intra_op_threads=%d (0 = auto), %u hardware threads\n",
                paths[0].c_str(), output.c_str(), crsae::shape_str(signal.shape).c_str(),
                chunk ? std::to_string(*chunk).c_str() : "none", mean, ms[ms.size() / 2], ms[0], repeat, warmup,
                crsae::onnxruntime_version().c_str(), threads, std::thread::hardware_concurrency());
    return 0;
  } catch (const crsae::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
