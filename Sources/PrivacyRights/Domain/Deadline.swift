public import Foundation
import PrivacyKit

/// Legal deadlines (art 12(3)): one calendar month from receipt, extendable by two further
/// months. Pure calendar arithmetic on the proleptic Gregorian calendar in UTC, at microsecond
/// precision, independent of Foundation's calendar and the host's time zone.
public enum Deadline {
  /// The first deadline: one calendar month after receipt.
  public static let baseMonths = 1
  /// The most all extensions together may add.
  public static let maximumExtensionMonths = 2

  /// `receivedAt` plus `months` calendar months, same time of day, the day clamped to the last day
  /// of the target month: 31 January + 1 month is 28 (or 29) February, 30 April + 1 is 30 May.
  public static func adding(months: Int, to date: Date) -> Date {
    let micros = Microseconds(date).value
    let microsPerDay: Int64 = 86_400_000_000
    let (days, timeOfDay) = floorDivide(micros, microsPerDay)
    let civil = CivilDate(daysSinceEpoch: days)
    let total = (civil.year * 12 + (civil.month - 1)) + Int64(months)
    let (year, monthIndex) = floorDivide(total, 12)
    let month = monthIndex + 1
    let day = min(civil.day, CivilDate.daysIn(month: month, year: year))
    let target = CivilDate(year: year, month: month, day: day)
    return Microseconds(value: target.daysSinceEpoch * microsPerDay + timeOfDay).date
  }

  /// The due date after `extensionMonths` months of extension in total.
  public static func due(receivedAt: Date, extensionMonths: Int = 0) -> Date {
    adding(months: baseMonths + extensionMonths, to: receivedAt)
  }

  private static func floorDivide(_ value: Int64, _ divisor: Int64) -> (quotient: Int64, remainder: Int64) {
    var quotient = value / divisor
    var remainder = value % divisor
    if remainder < 0 {
      quotient -= 1
      remainder += divisor
    }
    return (quotient, remainder)
  }
}

/// A day of the proleptic Gregorian calendar (H. Hinnant's days-from-civil algorithms).
public struct CivilDate: Sendable, Equatable {
  public var year: Int64
  public var month: Int64
  public var day: Int64

  public init(year: Int64, month: Int64, day: Int64) {
    self.year = year
    self.month = month
    self.day = day
  }

  public static func isLeap(_ year: Int64) -> Bool {
    (year % 4 == 0 && year % 100 != 0) || year % 400 == 0
  }

  public static func daysIn(month: Int64, year: Int64) -> Int64 {
    switch month {
    case 2: isLeap(year) ? 29 : 28
    case 4, 6, 9, 11: 30
    default: 31
    }
  }

  public init(daysSinceEpoch days: Int64) {
    let z = days + 719_468
    let era = (z >= 0 ? z : z - 146_096) / 146_097
    let dayOfEra = z - era * 146_097
    let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
    let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
    let monthPrime = (5 * dayOfYear + 2) / 153
    day = dayOfYear - (153 * monthPrime + 2) / 5 + 1
    month = monthPrime < 10 ? monthPrime + 3 : monthPrime - 9
    year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
  }

  public var daysSinceEpoch: Int64 {
    let y = month <= 2 ? year - 1 : year
    let era = (y >= 0 ? y : y - 399) / 400
    let yearOfEra = y - era * 400
    let monthPrime = month > 2 ? month - 3 : month + 9
    let dayOfYear = (153 * monthPrime + 2) / 5 + day - 1
    let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
    return era * 146_097 + dayOfEra - 719_468
  }
}
