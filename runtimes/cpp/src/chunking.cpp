#include "crsae/chunking.hpp"

#include <algorithm>

#include "crsae/errors.hpp"

namespace crsae {

std::vector<Window> plan_chunks(int64_t length, int64_t kernel_size, int64_t halo, int64_t chunk,
                                const std::string& output) {
  if (chunk < 1) throw ConfigError("chunk is " + std::to_string(chunk) + "; pass a core size of at least 1");
  if (length < kernel_size)
    throw ShapeError("signal length " + std::to_string(length) + " is shorter than kernel_size " +
                     std::to_string(kernel_size) + "; pass at least " + std::to_string(kernel_size) + " samples");
  bool codes = output == "codes";
  if (!codes && output != "reconstruction")
    throw ConfigError("unknown output '" + output + "'; use 'codes' or 'reconstruction'");

  const int64_t out_length = codes ? length - kernel_size + 1 : length;
  const int64_t reach = codes ? kernel_size - 1 : 0;  // a code at n reads samples n .. n + K - 1
  std::vector<Window> plan;
  for (int64_t a = 0; a < out_length; a += chunk) {
    int64_t b = chunk >= out_length - a ? out_length : a + chunk;  // no overflow for huge chunks
    plan.push_back({a, b, std::max<int64_t>(0, a - halo), std::min(length, b + reach + halo)});
  }
  return plan;
}

}  // namespace crsae
