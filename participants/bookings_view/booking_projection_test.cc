#include "participants/bookings_view/booking_projection.h"

#include <gtest/gtest.h>

namespace saga::bookings {
namespace {

ViewMessage Message(const std::string& type, int64_t seq,
                    const std::string& payload, const std::string& step = "") {
  ViewMessage message;
  message.message_id = "s-1:" + std::to_string(seq);
  message.saga_id = "s-1";
  message.saga_type = "appointment_booking";
  message.type = type;
  message.step = step;
  message.seq = seq;
  message.payload_json = payload;
  message.at_ms = 1000 * seq;
  return message;
}

const char kStarted[] =
    R"({"saga_type":"appointment_booking","input":{"patient_id":"p-1001",)"
    R"("preferred_date":"2027-02-10","specialty":"cardiology"}})";
const char kReserved[] =
    R"({"output":{"reservation_id":"r-7","doctor_id":"d-1",)"
    R"("doctor_name":"Dr. Who","doctor_email":"who@example.com",)"
    R"("date":"2027-02-11"}})";

// Folds `messages` in order from no booking.
Booking Fold(const std::vector<ViewMessage>& messages) {
  std::optional<Booking> booking;
  for (const ViewMessage& message : messages) {
    auto next = Project(booking, message);
    EXPECT_TRUE(next.ok()) << next.status();
    if (next.ok() && next->has_value()) booking = **next;
  }
  EXPECT_TRUE(booking.has_value());
  return booking.value_or(Booking{});
}

TEST(BookingProjectionTest, CompletedSagaIsAConfirmedBookingWithItsDoctor) {
  Booking booking = Fold({
      Message("saga.started", 1, kStarted),
      Message("saga.step.succeeded", 3, R"({"output":{"name":"Ada"}})",
              "validate_patient"),
      Message("saga.step.succeeded", 5, kReserved, "reserve_doctor"),
      Message("saga.step.succeeded", 7, R"({"output":{}})", "notify"),
      Message("saga.completed", 8, "{}"),
  });
  EXPECT_EQ(booking.patient_id, "p-1001");
  EXPECT_EQ(booking.specialty, "cardiology");
  EXPECT_EQ(booking.preferred_date, "2027-02-10");
  EXPECT_EQ(booking.status, BookingStatus::kConfirmed);
  EXPECT_EQ(booking.doctor_id, "d-1");
  EXPECT_EQ(booking.doctor_name, "Dr. Who");
  EXPECT_EQ(booking.day, "2027-02-11");
  EXPECT_EQ(booking.reservation_id, "r-7");
  EXPECT_EQ(booking.requested_ms, 1000);
  EXPECT_EQ(booking.confirmed_ms, 8000);
  EXPECT_EQ(booking.released_ms, 0);
  EXPECT_EQ(booking.last_seq, 8);
  EXPECT_EQ(booking.reason, "");
}

TEST(BookingProjectionTest, RollbackBeforeAReservationIsRefusedWithTheReason) {
  Booking booking = Fold({
      Message("saga.started", 1, kStarted),
      Message("saga.step.failed", 3,
              R"({"error":"patient p-1003 is not active","retryable":false})",
              "validate_patient"),
      Message("saga.compensation.started", 4, R"({"reason":"step failed"})"),
  });
  EXPECT_EQ(booking.status, BookingStatus::kRequested);
  EXPECT_EQ(booking.reason, "patient p-1003 is not active");
  auto ended = Project(booking, Message("saga.compensated", 5,
                                        R"({"reason":"no such patient"})"));
  ASSERT_TRUE(ended.ok() && ended->has_value());
  EXPECT_EQ((*ended)->status, BookingStatus::kRefused);
  EXPECT_EQ((*ended)->reason, "no such patient");
  EXPECT_EQ(booking.doctor_id, "");
}

TEST(BookingProjectionTest, RollbackAfterAReservationIsReleased) {
  Booking booking = Fold({
      Message("saga.started", 1, kStarted),
      Message("saga.step.succeeded", 5, kReserved, "reserve_doctor"),
      Message("saga.compensation.started", 7, R"({"reason":"cancelled"})"),
      Message("saga.step.compensated", 9, "{}", "reserve_doctor"),
      Message("saga.compensated", 10, R"({"reason":"cancelled"})"),
  });
  EXPECT_EQ(booking.status, BookingStatus::kReleased);
  EXPECT_EQ(booking.reason, "cancelled");
  EXPECT_EQ(booking.doctor_id, "d-1");
  EXPECT_EQ(booking.released_ms, 9000);
}

TEST(BookingProjectionTest, MessageAboutAnUnseenSagaStartsABookingFromIt) {
  auto booking = Project(std::nullopt, Message("saga.step.succeeded", 5,
                                               kReserved, "reserve_doctor"));
  ASSERT_TRUE(booking.ok()) << booking.status();
  ASSERT_TRUE(booking->has_value());
  EXPECT_EQ((*booking)->saga_id, "s-1");
  EXPECT_EQ((*booking)->saga_type, "appointment_booking");
  EXPECT_EQ((*booking)->patient_id, "");
  EXPECT_EQ((*booking)->status, BookingStatus::kReserved);
  EXPECT_EQ((*booking)->doctor_id, "d-1");
}

TEST(BookingProjectionTest, OlderMessageThanTheBookingChangesNothing) {
  Booking booking = Fold({Message("saga.started", 1, kStarted),
                          Message("saga.completed", 8, "{}")});
  auto again = Project(
      booking, Message("saga.step.succeeded", 5, kReserved, "reserve_doctor"));
  ASSERT_TRUE(again.ok());
  EXPECT_FALSE(again->has_value());
}

TEST(BookingProjectionTest, PayloadThatIsNotAnObjectIsRefused) {
  auto booking = Project(std::nullopt, Message("saga.started", 1, "[1]"));
  EXPECT_EQ(booking.status().code(), absl::StatusCode::kInvalidArgument);
}

TEST(BookingProjectionTest, HeaderGivesStepAndSeq) {
  auto message = ReadHeader(
      Message("saga.step.succeeded", 0, "{}"),
      R"({"saga_id":"s-1","saga_type":"t","seq":12,"step":"reserve_doctor"})");
  ASSERT_TRUE(message.ok()) << message.status();
  EXPECT_EQ(message->seq, 12);
  EXPECT_EQ(message->step, "reserve_doctor");
  EXPECT_FALSE(
      ReadHeader(Message("saga.started", 0, "{}"), R"({"seq":0})").ok());
  EXPECT_FALSE(ReadHeader(Message("saga.started", 0, "{}"), "nope").ok());
}

TEST(BookingProjectionTest, StatusNamesRoundTrip) {
  for (BookingStatus status :
       {BookingStatus::kRequested, BookingStatus::kReserved,
        BookingStatus::kConfirmed, BookingStatus::kReleased,
        BookingStatus::kRefused, BookingStatus::kFailed}) {
    EXPECT_EQ(ParseBookingStatus(BookingStatusName(status)), status);
  }
  EXPECT_FALSE(ParseBookingStatus("booked").has_value());
}

}  // namespace
}  // namespace saga::bookings
