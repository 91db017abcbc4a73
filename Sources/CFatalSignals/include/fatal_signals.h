#ifndef PRIVACY_FATAL_SIGNALS_H
#define PRIVACY_FATAL_SIGNALS_H

/// Installs handlers for SIGILL, SIGTRAP, SIGABRT, SIGBUS, SIGFPE and SIGSEGV that write one line
/// and the raw return addresses to standard error, then let the signal end the process at once.
void privacy_install_fatal_signal_handlers(void);

#endif
