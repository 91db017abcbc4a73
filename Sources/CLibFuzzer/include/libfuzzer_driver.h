#ifndef PRIVACY_LIBFUZZER_DRIVER_H
#define PRIVACY_LIBFUZZER_DRIVER_H
#include <stddef.h>
#include <stdint.h>

/// libFuzzer's driver (compiler-rt, linked by -sanitize=fuzzer). SwiftPM names an executable's
/// entry point itself, so the fuzz build calls the driver from there instead of libFuzzer's main.
int LLVMFuzzerRunDriver(int *argc, char ***argv, int (*callback)(const uint8_t *data, size_t size));

#endif
