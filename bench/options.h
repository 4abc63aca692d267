// SPDX-License-Identifier: Apache-2.0
// Command-line handling shared by the benchmarks (Boost.Program_options, as the daemon).
#pragma once

#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace clio::bench {

/// Parses argv into *vm. Returns -1 to go on, else the exit code: 0 after printing --help (with
/// `extra_help` below the options), 2 after printing a parse error and the options.
int parse_options(const char* name, int argc, char** argv,
                  const boost::program_options::options_description& opts,
                  boost::program_options::variables_map* vm, const std::string& extra_help = "");

/// "a,b,,c" -> {"a", "b", "c"}.
std::vector<std::string> split_list(const std::string& s);
/// A --mn list: like split_list, but the commas inside a locator ("udp:host=h,port=7400")
/// stay in it.
std::vector<std::string> split_targets(const std::string& s);

}  // namespace clio::bench
