#include <exception>
#include <iostream>
#include <set>

#include "check.hpp"

int main(int argc, char** argv) {
  std::set<std::string> only(argv + 1, argv + argc);
  int failed = 0, ran = 0;
  for (const auto& c : check::registry()) {
    if (!only.empty() && !only.count(c.name)) continue;
    ++ran;
    try {
      c.body();
      std::cout << "PASS " << c.name << "\n";
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "FAIL " << c.name << ": " << e.what() << "\n";
    }
  }
  if (ran == 0) {
    std::cout << "no test matched\n";
    return 1;
  }
  std::cout << ran - failed << "/" << ran << " passed\n";
  return failed ? 1 : 0;
}
