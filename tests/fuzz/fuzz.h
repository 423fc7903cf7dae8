/* The libFuzzer entry point every target in tests/fuzz defines; replay.c runs
 * it over a corpus under `make check`, libFuzzer drives it under scripts/fuzz. */
#ifndef GW_FUZZ_H
#define GW_FUZZ_H

#include <stddef.h>
#include <stdint.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#endif
