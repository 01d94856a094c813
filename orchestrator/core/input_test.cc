#include "orchestrator/core/input.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "orchestrator/core/definition_loader.h"
#include "tests/support/definitions.h"

namespace saga::core {
namespace {

using testing::Booking;

SagaDefinition Typed() {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      "name: typed\nversion: 1\ninput:\n  required:\n    s: string\n"
      "    n: number\n    i: integer\n    b: boolean\n    o: object\n"
      "    a: array\nsteps:\n"
      "  - {name: a, kind: read_only, participant: p, action: a}\n",
      "typed.yaml");
  if (!def.ok()) {
    ADD_FAILURE() << def.status();
    return SagaDefinition{};
  }
  return *def;
}

constexpr size_t kLimit = 262144;

TEST(ValidateSagaInputTest, ReturnsTheCanonicalForm) {
  absl::StatusOr<std::string> out =
      ValidateSagaInput(Booking(),
                        R"({ "specialty": "cardiology", "patient_id": "p1",
           "preferred_date": "2024-05-17", "extra": [1, 2] })",
                        kLimit);
  ASSERT_TRUE(out.ok()) << out.status();
  EXPECT_EQ(*out,
            R"({"extra":[1,2],"patient_id":"p1","preferred_date":"2024-05-17",)"
            R"("specialty":"cardiology"})");
}

TEST(ValidateSagaInputTest, AcceptsEveryDeclaredType) {
  absl::StatusOr<std::string> out = ValidateSagaInput(
      Typed(), R"({"s":"x","n":1.5,"i":3,"b":false,"o":{},"a":[]})", kLimit);
  EXPECT_TRUE(out.ok()) << out.status();
  out = ValidateSagaInput(
      Typed(), R"({"s":"x","n":2,"i":4.0,"b":true,"o":{"k":1},"a":[1]})",
      kLimit);
  EXPECT_TRUE(out.ok()) << out.status();
}

struct BadInput {
  const char* what;
  std::string input;
  std::string error;  // exact message, or a prefix ending in '*'
};

class BadInputTest : public ::testing::TestWithParam<BadInput> {};

TEST_P(BadInputTest, IsInvalidArgumentNamingTheProblem) {
  absl::StatusOr<std::string> out =
      ValidateSagaInput(Typed(), GetParam().input, kLimit);
  ASSERT_FALSE(out.ok()) << GetParam().what;
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string& want = GetParam().error;
  const std::string got(out.status().message());
  if (!want.empty() && want.back() == '*') {
    EXPECT_EQ(got.substr(0, want.size() - 1), want.substr(0, want.size() - 1))
        << got;
  } else {
    EXPECT_EQ(got, want);
  }
}

const std::string kGood = R"("n":1,"i":1,"b":true,"o":{},"a":[])";

INSTANTIATE_TEST_SUITE_P(
    Cases, BadInputTest,
    ::testing::Values(
        BadInput{"not json", "{nope", "input is not valid JSON: *"},
        BadInput{"empty", "", "input is not valid JSON: *"},
        BadInput{"array", "[1]", "input must be a JSON object"},
        BadInput{"string", "\"x\"", "input must be a JSON object"},
        BadInput{"missing field", "{" + kGood + "}",
                 "input field 's' is required (string)"},
        BadInput{"string is a number", R"({"s":1,)" + kGood + "}",
                 "input field 's' must be of type string, got number"},
        BadInput{"integer is fractional",
                 R"({"s":"x","n":1,"i":1.5,"b":true,)"
                 R"("o":{},"a":[]})",
                 "input field 'i' must be of type integer, got number"},
        BadInput{"number is a string",
                 R"({"s":"x","n":"1","i":1,"b":true,)"
                 R"("o":{},"a":[]})",
                 "input field 'n' must be of type number, got string"},
        BadInput{"boolean is null",
                 R"({"s":"x","n":1,"i":1,"b":null,)"
                 R"("o":{},"a":[]})",
                 "input field 'b' must be of type boolean, got null"},
        BadInput{"object is array",
                 R"({"s":"x","n":1,"i":1,"b":true,)"
                 R"("o":[],"a":[]})",
                 "input field 'o' must be of type object, got array"},
        BadInput{"array is object",
                 R"({"s":"x","n":1,"i":1,"b":true,)"
                 R"("o":{},"a":{}})",
                 "input field 'a' must be of type array, got object"},
        // Regression: the last value won, so a caller could pass one value
        // to a reader that keeps the first and another to us.
        BadInput{"key twice", R"({"s":"p-1003","s":"p-1001",)" + kGood + "}",
                 "input has the key 's' twice"},
        BadInput{"nested key twice",
                 R"({"s":"x","n":1,"i":1,"b":true,)"
                 R"("o":{"l":[{"k":1,"k":2}]},"a":[]})",
                 "input has the key 'k' twice in o.l[0]"}),
    [](const ::testing::TestParamInfo<BadInput>& info) {
      std::string name;
      for (const char* c = info.param.what; *c; ++c) {
        name += (*c == ' ') ? '_' : *c;
      }
      return name;
    });

TEST(ValidateSagaInputTest, RefusesOversizedInput) {
  const std::string input = R"({"patient_id":")" + std::string(100, 'x') +
                            R"(","preferred_date":"d","specialty":"s"})";
  absl::StatusOr<std::string> out = ValidateSagaInput(Booking(), input, 64);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(), "input is " + std::to_string(input.size()) +
                                        " bytes; the limit is 64");
  EXPECT_TRUE(ValidateSagaInput(Booking(), input, input.size()).ok());
}

// Regression: nlohmann reports a number beyond double's range as
// out_of_range, not parse_error; the exception escaped and killed the
// orchestrator on StartSaga('{"a":1e400}').
TEST(ValidateSagaInputTest, NumberOverflowIsInvalidArgumentNotACrash) {
  for (const std::string number : {"1e400", "-1e400", "1e999"}) {
    const std::string input = R"({"a":)" + number + "}";
    absl::StatusOr<std::string> out = ValidateSagaInput(Typed(), input, kLimit);
    ASSERT_FALSE(out.ok()) << input;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(out.status().message(),
              "input is not valid JSON: [json.exception.out_of_range.406] "
              "number overflow parsing '" +
                  number + "'");
  }
}

// Regression: a 256 KiB input of nested arrays parsed, then overflowed the
// stack when serialised (recursion per level).
TEST(ValidateSagaInputTest, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep =
      "{\"a\":" + std::string(100000, '[') + std::string(100000, ']') + "}";
  absl::StatusOr<std::string> out = ValidateSagaInput(Typed(), deep, kLimit);
  ASSERT_FALSE(out.ok());
  EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(out.status().message(),
            "input nests objects/arrays deeper than 64 levels (at byte 68)");

  // Exactly the limit is fine, and brackets inside strings do not count.
  std::string nested = std::string(kMaxInputDepth - 1, '[') +
                       std::string(kMaxInputDepth - 1, ']');
  const std::string at_limit =
      R"({"s":"[[[[\"{{{{","n":1,"i":1,"b":true,"o":{},"a":)" + nested + "}";
  out = ValidateSagaInput(Typed(), at_limit, kLimit);
  EXPECT_TRUE(out.ok()) << out.status();
}

// Regression: PostgreSQL jsonb cannot store \u0000, so such an input failed
// in the database (INTERNAL) instead of being refused.
TEST(ValidateSagaInputTest, NulCharacterIsRefusedNamingTheField) {
  const std::string good = R"("s":"x","n":1,"i":1,"b":true,"o":{},"a":[])";
  struct Case {
    std::string input;
    std::string path;
  };
  for (const Case& c : std::vector<Case>{
           {R"({"s":"a\u0000b","n":1,"i":1,"b":true,"o":{},"a":[]})", "s"},
           {"{" + good + R"(,"x":{"y":["ok","\u0000"]}})", "x.y[1]"},
           {"{" + good + R"(,"o2":{"k\u0000":1}})", "o2.k\\u0000"}}) {
    absl::StatusOr<std::string> out =
        ValidateSagaInput(Typed(), c.input, kLimit);
    ASSERT_FALSE(out.ok()) << c.input;
    EXPECT_EQ(out.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(out.status().message(),
              "input field '" + c.path +
                  "' contains a NUL character (\\u0000), which cannot be "
                  "stored");
  }
}

TEST(ValidateSagaInputTest, ParserMessagesAreShortened) {
  const std::string input = R"({"s":")" + std::string(10000, 'x');
  absl::StatusOr<std::string> out = ValidateSagaInput(Typed(), input, kLimit);
  ASSERT_FALSE(out.ok());
  EXPECT_LT(out.status().message().size(), 300u) << out.status();
}

SagaState BookingState(const SagaDefinition& def) {
  SagaState state = NewSagaState(def, "s1");
  state.input_json =
      R"({"patient_id":"p1","preferred_date":"2024-05-17","specialty":"eye"})";
  return state;
}

TEST(BuildStepInputTest, MapsSagaInput) {
  const SagaDefinition def = Booking();
  SagaState state = BookingState(def);
  absl::StatusOr<std::string> in = BuildStepInput(def, state, 1);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, R"({"patient_id":"p1","preferred_date":"2024-05-17",)"
                 R"("specialty":"eye"})");
}

TEST(BuildStepInputTest, MapsEarlierOutputs) {
  const SagaDefinition def = Booking();
  SagaState state = BookingState(def);
  state.steps[0].status = StepStatus::kSucceeded;
  state.steps[0].output_json =
      R"({"email":"ann@example.com","name":"Ann","patient_id":"p1"})";
  state.steps[1].status = StepStatus::kSucceeded;
  state.steps[1].output_json =
      R"({"date":"2024-05-17","doctor_email":"bob@example.com",)"
      R"("doctor_id":"d1","doctor_name":"Dr Bob","reservation_id":"r1"})";
  absl::StatusOr<std::string> in = BuildStepInput(def, state, 2);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, R"({"date":"2024-05-17","doctor_email":"bob@example.com",)"
                 R"("doctor_name":"Dr Bob","patient_email":"ann@example.com",)"
                 R"("patient_name":"Ann","reservation_id":"r1"})");
}

TEST(BuildStepInputTest, MissingEarlierOutputIsFailedPrecondition) {
  const SagaDefinition def = Booking();
  SagaState state = BookingState(def);
  state.steps[0].status = StepStatus::kSucceeded;
  state.steps[0].output_json = R"({"name":"Ann","email":"a@x"})";
  absl::StatusOr<std::string> in = BuildStepInput(def, state, 2);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(in.status().message(),
            "step 'notify': input field 'reservation_id': source "
            "'steps.reserve_doctor.output.reservation_id' is not available: "
            "step 'reserve_doctor' is PENDING");

  state.steps[1].status = StepStatus::kSucceeded;
  state.steps[1].output_json = R"({"reservation_id":"r1"})";
  in = BuildStepInput(def, state, 2);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(in.status().message(),
            "step 'notify': input field 'date': source "
            "'steps.reserve_doctor.output.date' is missing from the step "
            "output");
}

// A participant answered SUCCEEDED with an output that has a key twice:
// the step stands (its effect exists), but a later step that maps a field
// from that output cannot know which value was meant.
TEST(BuildStepInputTest, OutputWithAKeyTwiceCannotBeMapped) {
  const SagaDefinition def = Booking();
  SagaState state = BookingState(def);
  state.steps[0].status = StepStatus::kSucceeded;
  state.steps[0].output_json = R"({"name":"Ann","email":"a@x"})";
  state.steps[1].status = StepStatus::kSucceeded;
  state.steps[1].output_json =
      R"({"date":"2024-05-17","date":"2024-05-18","doctor_email":"b@x",)"
      R"("doctor_name":"Dr Bob","reservation_id":"r1"})";
  absl::StatusOr<std::string> in = BuildStepInput(def, state, 2);
  ASSERT_FALSE(in.ok());
  EXPECT_EQ(in.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(in.status().message(),
            "step 'notify': input field 'reservation_id': source "
            "'steps.reserve_doctor.output.reservation_id' cannot be read: "
            "the step output has the key 'date' twice");
}

TEST(BuildStepInputTest, AbsentOptionalInputIsOmittedAndPathsNest) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      "name: opt\nversion: 1\nsteps:\n"
      "  - name: a\n    kind: read_only\n    participant: p\n    action: a\n"
      "    input: {note: input.note, city: input.address.city, all: input}\n"
      "  - name: b\n    kind: read_only\n    participant: p\n    action: b\n"
      "    input: {whole: steps.a.output, deep: steps.a.output.x.y}\n",
      "opt.yaml");
  ASSERT_TRUE(def.ok()) << def.status();
  SagaState state = NewSagaState(*def, "s1");
  state.input_json = R"({"address":{"city":"Oslo"}})";
  absl::StatusOr<std::string> in = BuildStepInput(*def, state, 0);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, R"({"all":{"address":{"city":"Oslo"}},"city":"Oslo"})");

  state.steps[0].status = StepStatus::kSucceeded;
  state.steps[0].output_json = R"({"x":{"y":[1,2]}})";
  in = BuildStepInput(*def, state, 1);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, R"({"deep":[1,2],"whole":{"x":{"y":[1,2]}}})");
}

TEST(BuildStepInputTest, StepWithoutMappingGetsAnEmptyObject) {
  absl::StatusOr<SagaDefinition> def = ParseDefinition(
      "name: bare\nversion: 1\nsteps:\n"
      "  - {name: a, kind: read_only, participant: p, action: a}\n",
      "bare.yaml");
  ASSERT_TRUE(def.ok()) << def.status();
  SagaState state = NewSagaState(*def, "s1");
  absl::StatusOr<std::string> in = BuildStepInput(*def, state, 0);
  ASSERT_TRUE(in.ok()) << in.status();
  EXPECT_EQ(*in, "{}");
  EXPECT_FALSE(BuildStepInput(*def, state, 1).ok());
}

// Definitions built in code skip the loader's checks: a source path it
// would refuse is refused here too, by the same parser, rather than followed.
TEST(BuildStepInputTest, SourcePathTheLoaderRefusesIsNotFollowed) {
  SagaDefinition def;
  def.name = "hand_built";
  def.steps.emplace_back();
  def.steps[0].name = "a";
  def.steps[0].kind = StepKind::kReadOnly;
  def.steps[0].participant = "p";
  def.steps[0].action = "a";
  SagaState state = NewSagaState(def, "s1");
  state.input_json = R"({"":{"id":"x"},"id":"y"})";
  for (const std::string source : {"input..id", "env.id", "steps.a"}) {
    def.steps[0].input = {{"id", source}};
    absl::StatusOr<std::string> in = BuildStepInput(def, state, 0);
    ASSERT_FALSE(in.ok()) << source;
    EXPECT_EQ(in.status().code(), absl::StatusCode::kFailedPrecondition);
    EXPECT_EQ(in.status().message(), "step 'a': input field 'id': source '" +
                                         source +
                                         "' is not a valid source path");
  }
}

}  // namespace
}  // namespace saga::core
