// SPDX-License-Identifier: Apache-2.0
#include "tests/support/mn_process.h"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>

#include "common/clock.h"
#include "common/rng.h"

extern char** environ;  // posix_spawn passes it on

namespace clio::testing {

std::string default_mn_binary() {
  char self[4096];
  const ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
  if (n > 0) {
    std::string dir(self, static_cast<size_t>(n));
    dir = dir.substr(0, dir.rfind('/'));
    for (const std::string& cand : {dir + "/clio-mn", dir + "/../mn/clio-mn"})
      if (access(cand.c_str(), X_OK) == 0) return cand;
  }
  return "clio-mn";
}

std::string test_credential_file() {
  static const std::string path = [] {
    if (const char* env = std::getenv("CLIO_AUTH_FILE"); env != nullptr && *env != '\0')
      return std::string(env);
    char tmpl[] = "/tmp/clio-auth-XXXXXX";
    const int fd = mkstemp(tmpl);  // mode 0600
    if (fd < 0) throw std::runtime_error(std::string("mkstemp: ") + std::strerror(errno));
    const std::string secret = std::to_string(random_key()) + "-" + std::to_string(random_key());
    const std::string line = secret + "\n";
    if (write(fd, line.data(), line.size()) != static_cast<ssize_t>(line.size()))
      throw std::runtime_error(std::string("write credential: ") + std::strerror(errno));
    close(fd);
    static const std::string made = tmpl;
    std::atexit([] { unlink(made.c_str()); });
    setenv("CLIO_AUTH_FILE", tmpl, 1);
    return std::string(tmpl);
  }();
  return path;
}

MnProcess::MnProcess(const std::string& binary, const std::vector<std::string>& given) {
  std::vector<std::string> args = given;
  bool has_auth = false;
  for (const std::string& a : args)
    has_auth |= a == "--auth-file" || a.rfind("--auth-file=", 0) == 0 ||
                a == "--insecure-no-auth" || a == "--help" || a == "-h";
  if (!has_auth) {
    args.push_back("--auth-file");
    args.push_back(test_credential_file());
  }
  // posix_spawn: the child runs clio-mn straight away, so nothing is allocated or locked
  // between fork and exec (the parent may have other threads holding malloc's lock). Everything
  // the child needs (argv, the pipes' ends as its stdout and stderr) is prepared here.
  std::vector<std::string> strings;
  strings.reserve(args.size() + 1);
  strings.push_back(binary);
  for (const std::string& a : args) strings.push_back(a);
  std::vector<char*> argv;
  for (std::string& a : strings) argv.push_back(a.data());
  argv.push_back(nullptr);
  int out[2], err[2];
  if (pipe2(out, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd out_read(out[0]), out_write(out[1]);
  if (pipe2(err, O_CLOEXEC) != 0)
    throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
  UniqueFd err_read(err[0]), err_write(err[1]);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, out[1], 1);  // dup2 clears O_CLOEXEC on 1 and 2
  posix_spawn_file_actions_adddup2(&actions, err[1], 2);
  pid_t pid = -1;
  const int rc = posix_spawnp(&pid, binary.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) throw std::runtime_error("cannot run " + binary + ": " + std::strerror(rc));
  pid_ = pid;
  // The child holds the write ends now: ours close, so that its exit reads as end of file. The
  // read ends stay ours for the process's life, closed even if the start below fails and throws.
  out_write.reset();
  err_write.reset();
  out_fd_ = std::move(out_read);
  err_fd_ = std::move(err_read);
  fcntl(err_fd_.get(), F_SETFL, O_NONBLOCK);

  std::string line;
  const uint64_t deadline = now_ns() + 20'000'000'000ull;
  const std::string prefix = "clio-mn: serving ";
  while (now_ns() < deadline) {
    pollfd p{out_fd_.get(), POLLIN, 0};
    if (poll(&p, 1, 100) <= 0) {
      drain_stderr(0);
      continue;
    }
    char c;
    const ssize_t n = read(out_fd_.get(), &c, 1);
    if (n <= 0) break;  // exited
    if (c != '\n') {
      line.push_back(c);
      continue;
    }
    if (line.rfind(prefix, 0) == 0) {
      locator_ = line.substr(prefix.size());
      return;
    }
    line.clear();
  }
  drain_stderr(200);
  kill_now();
  throw std::runtime_error("clio-mn did not start: " + err_);
}

MnProcess::~MnProcess() {
  if (pid_ > 0) {
    std::string ignored;
    signal_and_collect(SIGTERM, &ignored);
  }
}

void MnProcess::drain_stderr(int timeout_ms) {
  pollfd p{err_fd_.get(), POLLIN, 0};
  if (poll(&p, 1, timeout_ms) <= 0) return;
  char buf[4096];
  ssize_t n;
  while ((n = read(err_fd_.get(), buf, sizeof buf)) > 0) err_.append(buf, static_cast<size_t>(n));
}

void MnProcess::kill_now() {
  if (pid_ <= 0) return;
  kill(pid_, SIGKILL);
  waitpid(pid_, nullptr, 0);
  pid_ = -1;
}

int MnProcess::signal_and_collect(int sig, std::string* err) {
  if (pid_ <= 0) return -1;
  kill(pid_, sig);
  int status = 0;
  const uint64_t deadline = now_ns() + 10'000'000'000ull;
  pid_t r = 0;
  while ((r = waitpid(pid_, &status, WNOHANG)) == 0 && now_ns() < deadline) drain_stderr(50);
  if (r == 0) {
    kill(pid_, SIGKILL);
    waitpid(pid_, &status, 0);
  }
  pid_ = -1;
  drain_stderr(0);
  *err = err_;
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

bool MnProcess::signal_and_expect(int sig, const std::string& needle, std::string* err) {
  const size_t from = err_.size();
  kill(pid_, sig);
  const uint64_t deadline = now_ns() + 20'000'000'000ull;
  while (now_ns() < deadline) {
    drain_stderr(50);
    if (err_.find(needle, from) != std::string::npos) {
      *err = err_;
      return true;
    }
  }
  *err = err_;
  return false;
}

}  // namespace clio::testing
