import Foundation
import PrivacyKit
import PrivacyRights
import Testing

@Suite("Deadline arithmetic")
struct DeadlineTests {
  @Test("one calendar month later, same time of day, clamped to the month's last day", arguments: [
    (utc(2027, 1, 31, 14, 30, 5), utc(2027, 2, 28, 14, 30, 5)),  // not a leap year
    (utc(2028, 1, 31, 9), utc(2028, 2, 29, 9)),  // leap year
    (utc(2028, 1, 29), utc(2028, 2, 29)),
    (utc(2027, 1, 29), utc(2027, 2, 28)),
    (utc(2026, 4, 30, 23, 59, 59), utc(2026, 5, 30, 23, 59, 59)),
    (utc(2026, 3, 31), utc(2026, 4, 30)),
    (utc(2026, 5, 31), utc(2026, 6, 30)),
    (utc(2026, 12, 31, 12), utc(2027, 1, 31, 12)),
    (utc(2026, 2, 28), utc(2026, 3, 28)),
    (utc(2028, 2, 29), utc(2028, 3, 29)),
    (utc(2100, 1, 31), utc(2100, 2, 28)),  // divisible by 100: not leap
    (utc(2000, 1, 31), utc(2000, 2, 29)),  // divisible by 400: leap
    (utc(1969, 12, 31, 23), utc(1970, 1, 31, 23)),  // before the epoch
  ])
  func oneMonth(received: Date, due: Date) {
    #expect(Deadline.due(receivedAt: received) == due)
  }

  @Test("extensions count from receipt, so two single months equal one of two")
  func extensions() {
    let received = utc(2027, 11, 30, 8)
    #expect(Deadline.due(receivedAt: received, extensionMonths: 1) == utc(2028, 1, 30, 8))
    #expect(Deadline.due(receivedAt: received, extensionMonths: 2) == utc(2028, 2, 29, 8))
    let lastDay = utc(2027, 10, 31)
    #expect(Deadline.due(receivedAt: lastDay) == utc(2027, 11, 30))
    // Not clamped twice: 31 Oct + 3 months is 31 Jan, not 30 Jan.
    #expect(Deadline.due(receivedAt: lastDay, extensionMonths: 2) == utc(2028, 1, 31))
  }

  @Test("microseconds survive")
  func precision() {
    let received = utc(2026, 1, 31, 10).addingTimeInterval(0.123456)
    #expect(Deadline.due(receivedAt: received) == utc(2026, 2, 28, 10).addingTimeInterval(0.123456).microsecondPrecision)
  }

  @Test("civil dates round-trip over four centuries")
  func civilRoundTrip() {
    for days in stride(from: Int64(-200_000), through: 200_000, by: 7) {
      #expect(CivilDate(daysSinceEpoch: days).daysSinceEpoch == days)
    }
    #expect(CivilDate(daysSinceEpoch: 0) == CivilDate(year: 1970, month: 1, day: 1))
    #expect(CivilDate(year: 2028, month: 2, day: 29).daysSinceEpoch + 1 == CivilDate(year: 2028, month: 3, day: 1).daysSinceEpoch)
  }
}
