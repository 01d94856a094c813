#include "tests/support/saga_driver.h"

#include <sstream>
#include <utility>

#include "gtest/gtest.h"

namespace saga::testing {

using core::CallOutcome;
using core::Decision;
using core::Event;
using core::Signal;

namespace {

void ExpectAccepted(const Decision& d) {
  ASSERT_TRUE(d.refusal.ok()) << d.refusal;
}

}  // namespace

SagaDriver::SagaDriver(core::SagaDefinition def, Pace pace)
    : now(pace.start_ms), def_(std::move(def)), pace_(pace) {}

Decision SagaDriver::Start(const std::string& input, int64_t start_at_ms) {
  state_ = core::NewSagaState(def_, "s1");
  return Commit(
      core::DecideStart(def_, input, NextContext(false), {}, "", start_at_ms));
}

Decision SagaDriver::StartAsChild(const std::string& input,
                                  const core::ParentLink& parent) {
  state_ = core::NewSagaState(def_, "s1");
  return Commit(
      core::DecideStart(def_, input, NextContext(false), {}, "", 0, parent));
}

Decision SagaDriver::SignalSaga(const std::string& name, const std::string& key,
                                const std::string& payload) {
  Signal s;
  s.kind = Signal::Kind::kSagaSignal;
  s.signal_name = name;
  s.signal_key = key;
  s.output_json = payload;
  return Send(s);
}

Decision SagaDriver::Send(const Signal& signal) {
  return Commit(core::Decide(def_, state_, signal, NextContext(true)));
}

Decision SagaDriver::Answer(CallOutcome outcome, const std::string& output,
                            const std::string& error) {
  return AnswerStep(core::CurrentStep(state_), outcome, output, error);
}

Decision SagaDriver::AnswerStep(int step, CallOutcome outcome,
                                const std::string& output,
                                const std::string& error) {
  const core::ActiveStep* active = core::ActiveOf(state_, step);
  Signal s;
  s.kind = Signal::Kind::kCallResult;
  s.step = step;
  s.attempt = active != nullptr ? active->in_flight_attempt : 0;
  s.compensation = state_.status == core::SagaStatus::kCompensating;
  s.outcome = outcome;
  s.output_json = output;
  s.error = error;
  return Send(s);
}

Decision SagaDriver::Succeed(const std::string& output) {
  return Answer(CallOutcome::kSucceeded, output);
}

Decision SagaDriver::FailForGood(const std::string& error) {
  return Answer(CallOutcome::kBusinessFailure, "", error);
}

Decision SagaDriver::FailRetryably(const std::string& error) {
  return Answer(CallOutcome::kRetryableFailure, "", error);
}

Decision SagaDriver::NotSent() {
  return Answer(CallOutcome::kNotApplied, "",
                "not sent: participant unreachable");
}

Decision SagaDriver::TimeOut() {
  return Answer(CallOutcome::kUnknown, "", "deadline");
}

Decision SagaDriver::Accept() { return Answer(CallOutcome::kAccepted); }

Decision SagaDriver::Complete(CallOutcome outcome, const std::string& output,
                              const std::string& error,
                              const std::string* token) {
  Signal s;
  s.kind = Signal::Kind::kStepCompletion;
  s.step = core::CurrentStep(state_);
  s.completion_token = token != nullptr
                           ? *token
                           : core::CurrentActivity(state_).completion_token;
  s.outcome = outcome;
  s.output_json = output;
  s.error = error;
  return Send(s);
}

Decision SagaDriver::FireTimer() {
  for (const core::Command& c : core::PendingCommands(def_, state_)) {
    if (c.kind == core::Command::Kind::kWaitUntil && c.due_ms > now) {
      now = c.due_ms;
    }
  }
  return Send(Timer());
}

Signal SagaDriver::Timer() {
  Signal s;
  s.kind = Signal::Kind::kTimerFired;
  return s;
}

Decision SagaDriver::Cancel(const std::string& reason) {
  Signal s;
  s.kind = Signal::Kind::kCancel;
  s.error = reason;
  return Send(s);
}

Decision SagaDriver::Resume() {
  now += pace_.restart_ms;
  Signal s;
  s.kind = Signal::Kind::kResume;
  return Send(s);
}

Decision SagaDriver::Operate(Signal::Kind kind, int step) {
  Signal s;
  s.kind = kind;
  s.step = step;
  s.operator_name = "alice";
  s.error = "fixed by hand";
  return Send(s);
}

core::DecideContext SagaDriver::NextContext(bool tick) {
  if (tick) now += pace_.tick_ms;
  if (pace_.vary_random) {
    random = random + 0.37 - static_cast<int>(random + 0.37);
  }
  // "token-N" for the decision's first asynchronous attempt, "token-N.2"
  // and so on for the others a parallel group starts with it.
  const std::string token = "token-" + std::to_string(++tokens_drawn);
  return core::DecideContext{
      now, random, {token, token + ".2", token + ".3", token + ".4"}};
}

Decision SagaDriver::Commit(Decision d) {
  if (!d.refusal.ok()) {
    if (pace_.refusal_fails) ExpectAccepted(d);
    EXPECT_TRUE(d.events.empty());
    EXPECT_TRUE(d.commands.empty());
    return d;
  }
  const core::SagaState before = state_;
  for (const Event& e : d.events) {
    EXPECT_EQ(e.seq, 0) << Label(e);
    EXPECT_EQ(e.at_ms, now) << Label(e);
    Event numbered = e;
    numbered.seq = state_.last_seq + 1;
    absl::StatusOr<Event> decoded = core::DecodeEvent(
        core::EventTypeName(numbered.type), numbered.seq, numbered.at_ms,
        numbered.step, numbered.attempt, core::EncodeEventData(numbered));
    EXPECT_TRUE(decoded.ok()) << decoded.status();
    if (decoded.ok()) {
      EXPECT_EQ(*decoded, numbered) << Label(e);
    }
    core::Apply(def_, state_, numbered);
    history_.push_back(numbered);
  }
  if (!d.events.empty() || !d.commands.empty()) {
    EXPECT_EQ(d.commands, core::CommandsAfter(def_, before, state_));
  }
  EXPECT_EQ(Describe(core::Fold(def_, "s1", history_)), Describe(state_));
  return d;
}

std::string Describe(const core::SagaState& s) {
  std::ostringstream out;
  out << "id=" << s.saga_id << " type=" << s.saga_type << " v"
      << s.definition_version << " input=" << s.input_json
      << " status=" << core::SagaStatusName(s.status)
      << " last_seq=" << s.last_seq << " created=" << s.created_ms
      << " updated=" << s.updated_ms << " start=" << s.start_due_ms
      << " deadline=" << s.deadline_ms << "/" << s.deadline_passed
      << " cancel=" << s.cancel_requested << " reason=" << s.reason << "\n";
  for (const core::ActiveStep& a : s.active) {
    out << "  active " << a.step << " in_flight=" << a.call_in_flight << "/"
        << a.in_flight_attempt << "/" << a.in_flight_deadline_ms
        << " retry=" << a.retry_due_ms << "/" << a.retry_attempt
        << " wait=" << a.wait_due_ms << " completion=" << a.completion_token
        << "/" << a.awaiting_completion << "/" << a.completion_due_ms << "\n";
  }
  for (const core::ReceivedSignal& signal : s.signals) {
    out << "  signal " << signal.name << " key=" << signal.key
        << " payload=" << signal.payload_json << " at=" << signal.received_ms
        << " consumed_by=" << signal.consumed_by << "\n";
  }
  for (const core::StepState& st : s.steps) {
    out << "  " << core::StepStatusName(st.status)
        << " attempts=" << st.attempts << " comp=" << st.compensation_attempts
        << " unknown=" << st.outcome_unknown << " out=" << st.output_json
        << " err=" << st.error << " t=" << st.started_ms << ".." << st.ended_ms
        << " ended_seq=" << st.ended_seq << "\n";
  }
  return out.str();
}

std::string Label(const Event& e) {
  std::string label = core::EventTypeName(e.type);
  if (e.step >= 0) {
    label += " " + std::to_string(e.step) + "/" + std::to_string(e.attempt);
  }
  return label;
}

std::vector<std::string> Labels(const std::vector<Event>& events) {
  std::vector<std::string> labels;
  for (const Event& e : events) labels.push_back(Label(e));
  return labels;
}

}  // namespace saga::testing
