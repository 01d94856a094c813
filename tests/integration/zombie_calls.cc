#include "tests/integration/zombie_calls.h"

#include <ctime>
#include <iomanip>
#include <map>
#include <pqxx/pqxx>
#include <sstream>
#include <utility>

namespace saga::testing {
namespace {

using std::chrono::milliseconds;
using std::chrono::system_clock;

// The value of `key=` in a text log line, up to the next space; "" if the
// line has no such field.
std::string Field(const std::string& line, const std::string& key) {
  const std::string needle = " " + key + "=";
  const size_t at = line.find(needle);
  if (at == std::string::npos) return "";
  const size_t start = at + needle.size();
  return line.substr(start, line.find(' ', start) - start);
}

// "2026-12-06T05:01:02.123 ..." (local time, as the services log it).
bool LineTime(const std::string& line, system_clock::time_point& time) {
  if (line.size() < 23 || line[19] != '.') return false;
  std::tm tm{};
  std::istringstream stamp(line.substr(0, 19));
  stamp >> std::get_time(&tm, "%Y-%m-%dT%H:%M:%S");
  if (stamp.fail()) return false;
  tm.tm_isdst = -1;
  time = system_clock::from_time_t(std::mktime(&tm)) +
         milliseconds(std::stoi(line.substr(20, 3)));
  return true;
}

}  // namespace

std::vector<ParticipantCall> ParticipantCalls(TestCluster& cluster) {
  std::vector<ParticipantCall> calls;
  for (const auto& name : cluster.ParticipantNames()) {
    std::istringstream log(cluster.ParticipantLog(name));
    for (std::string line; std::getline(log, line);) {
      const std::string saga_id = Field(line, "saga_id");
      const std::string ms = Field(line, "ms");
      ParticipantCall call;
      if (saga_id.empty() || ms.empty() || !LineTime(line, call.arrived)) {
        continue;
      }
      call.participant = name;
      call.caller = Field(line, "caller");
      call.saga_id = saga_id;
      call.arrived -= milliseconds(std::stoll(ms));
      call.line = std::move(line);
      calls.push_back(std::move(call));
    }
  }
  return calls;
}

std::vector<ParticipantCall> ZombieCalls(TestCluster& cluster) {
  // Each saga's writers in seq order, with when each event was decided.
  std::map<std::string, std::vector<std::pair<int64_t, std::string>>> writers;
  {
    pqxx::connection conn(cluster.orchestrator_dsn());
    pqxx::nontransaction tx(conn);
    for (const auto& row :
         tx.exec("SELECT saga_id, at_ms, written_by FROM saga_events "
                 "ORDER BY saga_id, seq")) {
      writers[row[0].as<std::string>()].emplace_back(
          row[1].as<int64_t>(), row[2].as<std::string>(""));
    }
  }
  std::vector<ParticipantCall> zombies;
  for (ParticipantCall& call : ParticipantCalls(cluster)) {
    auto it = writers.find(call.saga_id);
    if (call.caller.empty() || it == writers.end()) continue;
    const int64_t arrived_ms = std::chrono::duration_cast<milliseconds>(
                                   call.arrived.time_since_epoch())
                                   .count();
    std::string driver;
    for (const auto& [at_ms, writer] : it->second) {
      if (at_ms > arrived_ms) break;
      driver = writer;
    }
    if (!driver.empty() && driver != call.caller) {
      zombies.push_back(std::move(call));
    }
  }
  return zombies;
}

}  // namespace saga::testing
