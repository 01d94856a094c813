#include "orchestrator/core/child_saga.h"

#include <cstdio>

#include "nlohmann/json.hpp"

namespace saga::core {

namespace {

using Json = nlohmann::json;

uint64_t Mix(uint64_t x) {  // splitmix64's finaliser
  x ^= x >> 30;
  x *= 0xbf58476d1ce4e5b9ULL;
  x ^= x >> 27;
  x *= 0x94d049bb133111ebULL;
  x ^= x >> 31;
  return x;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// The 128 bits of a UUID's hex digits; any other text (test ids) is hashed.
void ParentBits(const std::string& id, uint64_t& hi, uint64_t& lo) {
  hi = 0;
  lo = 0;
  int digits = 0;
  bool hex = true;
  for (char c : id) {
    if (c == '-') continue;
    const int v = HexValue(c);
    if (v < 0 || digits == 32) {
      hex = false;
      break;
    }
    (digits < 16 ? hi : lo) = ((digits < 16 ? hi : lo) << 4) | v;
    ++digits;
  }
  if (hex && digits == 32) return;
  hi = 0xcbf29ce484222325ULL;  // FNV-1a, twice over with other bases
  lo = 0x84222325cbf29ce4ULL;
  for (unsigned char c : id) {
    hi = (hi ^ c) * 0x100000001b3ULL;
    lo = (lo ^ c) * 0x100000001b3ULL + 1;
  }
}

}  // namespace

std::string ChildSagaId(const std::string& parent_id, int step) {
  uint64_t left = 0;
  uint64_t right = 0;
  ParentBits(parent_id, left, right);
  right ^= Mix(static_cast<uint64_t>(step) + 1);
  // A Feistel network: a bijection of the 128 bits, whatever the rounds.
  for (uint64_t round = 1; round <= 4; ++round) {
    const uint64_t next = left ^ Mix(right + round * 0x9e3779b97f4a7c15ULL);
    left = right;
    right = next;
  }
  // Version 8 (RFC 9562: custom) and the RFC variant.
  left = (left & ~0xf000ULL) | 0x8000ULL;
  right = (right & ~(0xc0ULL << 56)) | (0x80ULL << 56);
  char text[37];
  std::snprintf(text, sizeof(text), "%08llx-%04llx-%04llx-%04llx-%012llx",
                static_cast<unsigned long long>(left >> 32),
                static_cast<unsigned long long>((left >> 16) & 0xffff),
                static_cast<unsigned long long>(left & 0xffff),
                static_cast<unsigned long long>(right >> 48),
                static_cast<unsigned long long>(right & 0xffffffffffffULL));
  return text;
}

std::string ChildOutput(const SagaDefinition& definition,
                        const SagaState& state) {
  Json output = Json::object();
  for (size_t i = 0; i < definition.steps.size() && i < state.steps.size();
       ++i) {
    Json step = Json::parse(state.steps[i].output_json, nullptr, false);
    output[definition.steps[i].name] =
        step.is_discarded() ? Json::object() : std::move(step);
  }
  return output.dump(-1, ' ', false, Json::error_handler_t::replace);
}

std::optional<ChildResult> ResultOfChild(const SagaDefinition& definition,
                                         const SagaState& child,
                                         bool compensating) {
  const std::string ended = "child saga " + child.saga_id + " (" +
                            definition.name + ") ended " +
                            SagaStatusName(child.status);
  switch (child.status) {
    case SagaStatus::kRunning:
    case SagaStatus::kCompensating:
      return std::nullopt;
    case SagaStatus::kCompleted:
      if (compensating) return std::nullopt;
      return ChildResult{CallOutcome::kSucceeded,
                         ChildOutput(definition, child), ""};
    case SagaStatus::kCompensated:
      if (compensating) return ChildResult{};
      return ChildResult{CallOutcome::kBusinessFailure, "",
                         ended + ": " + child.reason};
    case SagaStatus::kFailed:
      return ChildResult{CallOutcome::kBusinessFailure, "",
                         ended + ": " + child.reason};
  }
  return std::nullopt;
}

}  // namespace saga::core
