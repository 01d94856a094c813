#include "orchestrator/engine/saga_ids.h"

#include <cstdint>
#include <cstdio>
#include <random>

namespace saga::engine {

namespace {

std::mt19937_64& Generator() {
  thread_local std::mt19937_64 generator(std::random_device{}());
  return generator;
}

}  // namespace

std::string NewSagaId() {
  uint64_t high = Generator()();
  uint64_t low = Generator()();
  high = (high & 0xffffffffffff0fffULL) | 0x0000000000004000ULL;  // version 4
  low = (low & 0x3fffffffffffffffULL) | 0x8000000000000000ULL;    // variant 1
  char text[37];
  std::snprintf(text, sizeof(text), "%08x-%04x-%04x-%04x-%012llx",
                static_cast<unsigned>(high >> 32),
                static_cast<unsigned>((high >> 16) & 0xffff),
                static_cast<unsigned>(high & 0xffff),
                static_cast<unsigned>(low >> 48),
                static_cast<unsigned long long>(low & 0xffffffffffffULL));
  return text;
}

std::string NewCompletionToken() {
  thread_local std::random_device source;
  char text[33];
  for (int i = 0; i < 4; ++i) {
    std::snprintf(text + 8 * i, 9, "%08x", static_cast<unsigned>(source()));
  }
  return std::string(text, 32);
}

double ThreadLocalUnitRandom() {
  return std::uniform_real_distribution<double>(0.0, 1.0)(Generator());
}

}  // namespace saga::engine
