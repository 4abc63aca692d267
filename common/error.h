// SPDX-License-Identifier: Apache-2.0
// Exceptions of the set-up and control paths. Datapath functions never throw: they return a
// Status or a count.
#pragma once

#include <stdexcept>
#include <string>

namespace clio {

/// Base of every exception this project throws; the message carries the context.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

/// A bad configuration value or argument, e.g. "--page-size 3K: not a power of two".
class ConfigError : public Error {
 public:
  using Error::Error;
};

/// An Error for a failed system call: "<what>: <call>: <strerror(err)> (errno <err>)".
Error system_error(const std::string& what, const char* call, int err);

}  // namespace clio
