// The contract's chunking rule for long 1-D signals (export/CONTRACT.md, "Chunking long 1-D signals").
// Pure functions of sizes, independent of ONNX Runtime, so they can be tested alone.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace crsae {

// One chunk: keep output entries [core_begin, core_end) from the model run on signal[window_begin:window_end];
// they sit at [core_begin - window_begin, core_end - window_begin) of that run's output.
struct Window {
  int64_t core_begin, core_end;      // [a, b) in output samples
  int64_t window_begin, window_end;  // [ws, we) in signal samples
};

// Plan the chunks for `output` ("codes" or "reconstruction") of a signal of `length` N samples:
//   codes:          cores tile [0, N - K + 1); ws = max(0, a - halo), we = min(N, b + K - 1 + halo)
//   reconstruction: cores tile [0, N);         ws = max(0, a - halo), we = min(N, b + halo)
// with halo = metadata chunk_halo = (T + 1)(K - 1) and cores of `chunk` entries (the last may be shorter).
// Throws crsae::ConfigError for chunk < 1, length < kernel_size or an unknown output.
std::vector<Window> plan_chunks(int64_t length, int64_t kernel_size, int64_t halo, int64_t chunk,
                                const std::string& output);

}  // namespace crsae
