// Participant calls that an orchestrator instance made while another
// instance drove the saga ("zombie calls"; an instance must send none, see
// the README's "Partial failure"). Found from two records that do not
// depend on the instances' own view:
//  - the participants' logs: a line per call with the calling instance
//    (caller=), the saga, and when the call arrived (the line's time minus
//    the call's duration, ms=);
//  - the orchestrator's events: who wrote each (written_by) and when it
//    was decided (at_ms).
// A call from instance X that arrived at time T is a zombie call when the
// saga's last event decided at or before T was written by another
// instance: that instance was driving the saga then.
#pragma once

#include <chrono>
#include <string>
#include <vector>

#include "tests/integration/cluster.h"

namespace saga::testing {

struct ParticipantCall {
  std::string participant;
  std::string caller;  // the orchestrator instance; empty if not sent
  std::string saga_id;
  std::string line;  // as logged
  std::chrono::system_clock::time_point arrived;
};

// Every call the participants logged so far.
std::vector<ParticipantCall> ParticipantCalls(TestCluster& cluster);

// The zombie calls among them, as defined above.
std::vector<ParticipantCall> ZombieCalls(TestCluster& cluster);

}  // namespace saga::testing
