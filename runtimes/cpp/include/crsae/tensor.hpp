// A dense float32 array in C order: the type every crsae C++ function takes and returns.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace crsae {

struct Tensor {
  std::vector<int64_t> shape;  // e.g. (batch, channels, length)
  std::vector<float> data;     // C order, size == numel(shape)
};

// Product of the dimensions (1 for a scalar shape).
int64_t numel(const std::vector<int64_t>& shape);

// "(4, 2, 300)", as numpy prints shapes.
std::string shape_str(const std::vector<int64_t>& shape);

}  // namespace crsae
