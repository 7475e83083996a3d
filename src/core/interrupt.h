#pragma once
// SIGINT and SIGTERM as a request, not a kill: the handler only sets a flag (and restores the
// default action, so a second signal kills at once). Long loops poll it at safe points: training
// finishes the step, writes every checkpoint and throws cwd::Interrupted ("interrupted at
// iteration N; rerun to resume"), which the CLI turns into exit 130. SIGUSR1 asks the same but
// never kills: a parent passes the request on to its job processes with it.

#include <string>

namespace cwd {

/// Installs the handlers for SIGINT and SIGTERM (idempotent). The CLI calls it at start.
void install_interrupt_handlers();

/// Whether a SIGINT or SIGTERM arrived since the handlers were installed.
bool interrupt_requested();

/// The signal that arrived (SIGINT or SIGTERM), 0 when none.
int interrupt_signal();

/// Throws cwd::Interrupted("interrupted <where>; <next>") when a signal arrived.
void throw_if_interrupted(const std::string& where, const std::string& next);

/// Tests only: forgets a request (and reinstalls the handlers).
void reset_interrupt_for_testing();

}  // namespace cwd
