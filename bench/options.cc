// SPDX-License-Identifier: Apache-2.0
#include "bench/options.h"

#include <iostream>
#include <sstream>

namespace po = boost::program_options;

namespace clio::bench {

int parse_options(const char* name, int argc, char** argv, const po::options_description& opts,
                  po::variables_map* vm, const std::string& extra_help) {
  try {
    po::store(po::parse_command_line(argc, argv, opts), *vm);
    po::notify(*vm);
  } catch (const po::error& e) {
    std::cerr << name << ": " << e.what() << "\n\n" << opts << "\n";
    return 2;
  }
  if (vm->count("help")) {
    std::cout << opts << "\n" << extra_help;
    return 0;
  }
  return -1;
}

std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string item;
  while (std::getline(ss, item, ','))
    if (!item.empty()) out.push_back(item);
  return out;
}

std::vector<std::string> split_targets(const std::string& s) {
  std::vector<std::string> out;
  for (std::string& item : split_list(s)) {
    // "key=value" with no backend before it continues the previous locator's keys.
    const bool continues =
        item.find('=') != std::string::npos && item.find(':') == std::string::npos;
    if (continues && !out.empty())
      out.back() += "," + item;
    else
      out.push_back(std::move(item));
  }
  return out;
}

}  // namespace clio::bench
