#include <exception>
#include <iostream>
#include <set>
#include <string>

#include "check.hpp"

// test_x            run every test
// test_x NAME...    run those (ctest runs each test alone, in a fresh process: see tests/CMakeLists.txt)
// test_x --list     print the test names, one a line
int main(int argc, char** argv) {
  if (argc == 2 && std::string(argv[1]) == "--list") {
    for (const auto& c : check::registry()) std::cout << c.name << "\n";
    return check::registry().empty() ? 1 : 0;
  }
  const std::set<std::string> wanted(argv + 1, argv + argc);
  std::set<std::string> unknown = wanted;
  int failed = 0, ran = 0;
  for (const auto& c : check::registry()) {
    if (!wanted.empty() && !wanted.count(c.name)) continue;
    unknown.erase(c.name);
    ++ran;
    try {
      c.body();
      std::cout << "PASS " << c.name << "\n";
    } catch (const std::exception& e) {
      ++failed;
      std::cout << "FAIL " << c.name << ": " << e.what() << "\n";
    }
  }
  for (const auto& name : unknown) {
    ++failed;
    std::cout << "FAIL " << name << ": no such test\n";
  }
  if (ran == 0) {
    std::cout << "no test matched\n";
    return 1;
  }
  std::cout << ran - failed << "/" << ran << " passed\n";
  return failed ? 1 : 0;
}
