// Minimal .npy reader/writer: float32, little-endian, C order, format 1.0 or 2.0 headers.
// Anything else (float64, big-endian, Fortran order, format 3.0, object arrays) is refused with the fix.
#pragma once
#include <string>

#include "crsae/tensor.hpp"

namespace crsae {

// Read PATH; throws crsae::DataError naming the file, the problem and the fix.
Tensor read_npy(const std::string& path);

// Write PATH (format 1.0, '<f4', C order), as numpy.save would; throws crsae::DataError if it cannot.
void write_npy(const std::string& path, const Tensor& tensor);

}  // namespace crsae
