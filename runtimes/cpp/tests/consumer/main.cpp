// consumer MODEL INPUT.npy: load a model with the installed crsae, encode the input, print one summary line.
#include <iostream>

#include <crsae/contract.hpp>
#include <crsae/errors.hpp>
#include <crsae/model.hpp>
#include <crsae/npy.hpp>

int main(int argc, char** argv) {
  if (argc != 3) {
    std::cerr << "usage: consumer MODEL INPUT.npy\n";
    return 2;
  }
  try {
    crsae::Model model(argv[1]);
    const crsae::Tensor y = crsae::read_npy(argv[2]);
    const crsae::Tensor x = model.encode(y);
    std::cout << "contract " << crsae::contract::format << " " << crsae::contract::version << "; "
              << model.metadata().kind << " model, min_size " << model.metadata().min_size << "; codes "
              << crsae::shape_str(x.shape) << "; onnxruntime " << crsae::onnxruntime_version() << "\n";
    return 0;
  } catch (const crsae::Error& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
}
