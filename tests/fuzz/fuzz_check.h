// FUZZ_CHECK for the fuzz targets: a property that must hold for every
// input. A violation prints what broke and aborts, which libFuzzer reports as
// a crash and saves the input (and the corpus replay test fails on it).
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

#define FUZZ_CHECK(condition, what)                                        \
  do {                                                                     \
    if (!(condition)) {                                                    \
      std::fprintf(stderr, "%s:%d: FUZZ_CHECK(%s) failed: %s\n", __FILE__, \
                   __LINE__, #condition, std::string(what).c_str());       \
      std::abort();                                                        \
    }                                                                      \
  } while (false)
