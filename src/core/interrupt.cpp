#include "src/core/interrupt.h"

#include "src/core/error.h"

#include <fmt/format.h>

#include <csignal>

#include <signal.h>

namespace cwd {

namespace {

volatile std::sig_atomic_t g_signal = 0;

extern "C" void on_signal(int sig) {
  g_signal = sig;
  // A second SIGINT or SIGTERM takes the default action (the process ends at once).
  if (sig != SIGUSR1) std::signal(sig, SIG_DFL);
}

}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_signal;
  sigemptyset(&action.sa_mask);
  action.sa_flags = SA_RESTART;  // system calls continue; loops poll the flag
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
  sigaction(SIGUSR1, &action, nullptr);  // a parent's request (jobs.cpp); never kills
}

bool interrupt_requested() { return g_signal != 0; }

int interrupt_signal() { return static_cast<int>(g_signal); }

void throw_if_interrupted(const std::string& where, const std::string& next) {
  if (!interrupt_requested()) return;
  throw Interrupted(fmt::format("interrupted {}; {}", where, next));
}

void reset_interrupt_for_testing() {
  g_signal = 0;
  install_interrupt_handlers();
}

}  // namespace cwd
