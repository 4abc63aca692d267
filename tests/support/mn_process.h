// SPDX-License-Identifier: Apache-2.0
// Runs clio-mn as a child process (tests, benchmarks, the main job): starts it, waits for its
// "serving" line by reading the child's stdout (no sleeping), and stops it when done.
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "common/unique_fd.h"

namespace clio::testing {

/// The clio-mn next to the running program (same folder, or ../mn/ in the build tree), else
/// "clio-mn" from PATH.
std::string default_mn_binary();

/// A credential file for MNs started by tests, benchmarks and the main job: CLIO_AUTH_FILE if
/// set, else a file of this process's own with a random secret (mode 0600, removed at exit),
/// which it then names in CLIO_AUTH_FILE so that CLib in this process uses it.
std::string test_credential_file();

class MnProcess {
 public:
  /// Starts the clio-mn at `binary` with `args` (plus --auth-file test_credential_file() unless
  /// args already say --auth-file or --insecure-no-auth); throws std::runtime_error if it does not
  /// say it is serving within 20 s (the message carries what it printed on stderr).
  MnProcess(const std::string& binary, const std::vector<std::string>& args);
  /// SIGTERM, then SIGKILL if it has not exited after 10 s.
  ~MnProcess();
  MnProcess(const MnProcess&) = delete;
  MnProcess& operator=(const MnProcess&) = delete;

  const std::string& locator() const { return locator_; }
  pid_t pid() const { return pid_; }

  /// SIGKILL and reap: the MN vanishes without a word, like a crashed host.
  void kill_now();
  /// Sends `sig`, and for SIGTERM/SIGINT waits for the exit; returns the exit status (or -1)
  /// and everything the child wrote to stderr so far in *err.
  int signal_and_collect(int sig, std::string* err);
  /// Sends `sig` and reads stderr until `needle` appears (20 s at most). True if it did.
  bool signal_and_expect(int sig, const std::string& needle, std::string* err);

 private:
  void drain_stderr(int timeout_ms);
  pid_t pid_ = -1;
  UniqueFd out_fd_;  ///< its stdout and stderr: closed however construction ends
  UniqueFd err_fd_;
  std::string locator_;
  std::string err_;
};

}  // namespace clio::testing
