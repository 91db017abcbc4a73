// Makes a crashing service die at once.
//
// Swift's runtime answers a trap or a bad access by symbolicating a backtrace before the process
// ends, which held a dying service for 15-18 s: a crash became a long outage instead of a quick
// restart by the launcher or the orchestrator. This handler writes one line and the raw return
// addresses (enough for addr2line on the same binary) to standard error, then lets the signal take
// its default action, so the exit still reads as "killed by signal N". The runtime's own
// "Fatal error: ..." message with file and line is printed before the trap and stays.
//
// Written in C because a signal handler may only make async-signal-safe calls and must not
// allocate; the frame buffer is static and backtrace(3) is primed before any signal can arrive.

#include "fatal_signals.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

enum { frame_capacity = 64 };
static void *frames[frame_capacity];

static void on_fatal_signal(int number) {
  static const char line[] = "fatal signal: exiting without symbolication; return addresses follow\n";
  (void)!write(STDERR_FILENO, line, sizeof line - 1);
  backtrace_symbols_fd(frames, backtrace(frames, frame_capacity), STDERR_FILENO);
  // SA_RESETHAND restored the default action: the re-raised signal ends the process.
  raise(number);
}

void privacy_install_fatal_signal_handlers(void) {
  // The first call of backtrace(3) loads the unwinder, which allocates: do it now.
  backtrace(frames, 1);
  static const int numbers[] = {SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE, SIGSEGV};
  for (unsigned i = 0; i < sizeof numbers / sizeof numbers[0]; i++) {
    struct sigaction action;
    memset(&action, 0, sizeof action);
    action.sa_handler = on_fatal_signal;
    action.sa_flags = SA_RESETHAND;
    sigemptyset(&action.sa_mask);
    sigaction(numbers[i], &action, NULL);
  }
}
