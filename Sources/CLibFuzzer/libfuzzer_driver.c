// Declarations only (include/libfuzzer_driver.h); libFuzzer itself comes with -sanitize=fuzzer.
#include "libfuzzer_driver.h"
