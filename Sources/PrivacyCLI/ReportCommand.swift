import ArgumentParser
import Foundation
import PrivacyProtocol
import SwiftProtobuf

/// `privacyctl report processing|breach|deadlines`: the accountability reports a controller must
/// be able to produce.
struct ReportCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "report",
    abstract: "Reports: the records of processing (art 30), a breach assessment (arts 33, 34), request deadlines.",
    subcommands: [Processing.self, Breach.self, Deadlines.self]
  )

  enum ReportFormat: String, ExpressibleByArgument, CaseIterable {
    case table, json, csv
  }

  struct Processing: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "The records of processing activities (art 30), one per purpose, built from the catalogue.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "table, json or csv.")
    var format: ReportFormat = .table

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.getProcessingRecords(.init(), options: gateway.call)
      }
      switch format {
      case .json: try Printer.write(try connection.printer.json(response) + "\n")
      case .csv: try Printer.write(Self.csv(response.records))
      case .table:
        try Printer.write(
          Table(
            header: ["PURPOSE", "BASIS", "CATEGORY", "DATA", "SUBJECTS", "RECIPIENTS", "TRANSFERS", "RETENTION"],
            rows: response.records.map { record in
              [
                record.purposeID, Format.name(record.legalBasis), Format.name(record.category), Self.data(record),
                Format.list(record.subjectCategories), Format.list(record.recipients.map(\.name)), Self.transfers(record),
                record.retentionDays == 0 ? "-" : "\(record.retentionDays) days",
              ]
            }
          ).rendered(empty: "no purposes"))
      }
    }

    static func data(_ record: Privacy_Gateway_V1_ProcessingRecord) -> String {
      Format.list(record.dataCategories.map { "\($0.field) (\(Format.name($0.classification)))" })
    }

    static func transfers(_ record: Privacy_Gateway_V1_ProcessingRecord) -> String {
      Format.list(record.transfers.map { "\($0.country): \($0.safeguard)" })
    }

    /// One row per purpose, lists joined with "; ", fields quoted as RFC 4180 asks.
    static func csv(_ records: [Privacy_Gateway_V1_ProcessingRecord]) -> String {
      func cell(_ text: String) -> String {
        text.contains(where: { $0 == "," || $0 == "\"" || $0 == "\n" || $0 == "\r" })
          ? "\"" + text.replacingOccurrences(of: "\"", with: "\"\"") + "\"" : text
      }
      let header = [
        "purpose_id", "title", "legal_basis", "category", "data_categories", "subject_categories", "recipients", "transfers",
        "retention_days", "technical_measures",
      ]
      let rows = records.map { record in
        [
          record.purposeID, record.title, Format.name(record.legalBasis), Format.name(record.category),
          record.dataCategories.map { "\($0.field) (\(Format.name($0.classification)))" }.joined(separator: "; "),
          record.subjectCategories.joined(separator: "; "), record.recipients.map(\.name).joined(separator: "; "),
          record.transfers.map { "\($0.recipientID) \($0.country): \($0.safeguard)" }.joined(separator: "; "),
          "\(record.retentionDays)", record.technicalMeasures.joined(separator: "; "),
        ]
      }
      return ([header] + rows).map { $0.map(cell).joined(separator: ",") }.joined(separator: "\r\n") + "\r\n"
    }
  }

  struct Breach: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Assess a breach from the access and audit logs: subjects, records, categories, and a draft art 33 notification.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Start of the window.")
    var from: Instant

    @Option(help: "End of the window.")
    var to: Instant

    @Option(help: "Only what this actor did (repeatable; default every actor).")
    var actor: [String] = []

    @Option(name: .customLong("key-id"), help: "A key-encryption key id the breach exposed (repeatable).")
    var keyIDs: [String] = []

    @Option(help: "Only this vault field (repeatable; default every field).")
    var field: [String] = []

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.admin.assessBreach(.with {
          $0.from = from.timestamp
          $0.to = to.timestamp
          $0.actors = actor
          $0.keyIds = keyIDs
          $0.fields = field
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("subjects affected", "\(response.subjectsAffected)"),
          ("records affected", "\(response.recordsAffected)"),
          ("categories", Format.list(response.categories.map { "\($0.field) (\(Format.name($0.classification)))" })),
          ("special categories", Format.yesNo(response.specialCategoriesAffected)),
          ("encrypted out of scope", Format.yesNo(response.encryptedOutOfScope)),
        ]).rendered + "\ndraft notification (art 33(3)):\n" + response.draftNotification + "\n"
      }
    }
  }

  struct Deadlines: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Open data-subject requests by time left to answer, overdue first.")

    @OptionGroup var connection: ConnectionOptions

    func run() async throws {
      var all = Privacy_Rights_V1_ListRequestsResponse()
      try await connection.withGateway { gateway in
        var token = ""
        repeat {
          let page = try await gateway.rights.listRequests(.with {
            $0.filter = .with { $0.openOnly = true }
            $0.pageSize = 1000
            $0.pageToken = token
          }, options: gateway.call)
          all.requests += page.requests
          token = page.nextPageToken
        } while !token.isEmpty
      }
      all.requests.sort { ($0.dueAt.seconds, $0.requestID) < ($1.dueAt.seconds, $1.requestID) }
      let now = Date()
      try connection.printer.emit(all) {
        Table(
          header: ["REQUEST", "SUBJECT", "RIGHT", "STATUS", "DUE", "LEFT"],
          rows: all.requests.map { request in
            [
              request.requestID, request.subjectID.isEmpty ? "-" : request.subjectID, Format.name(request.right),
              Format.name(request.status), Format.time(request.dueAt), Self.left(until: request.dueAt.date, from: now),
            ]
          }
        ).rendered(empty: "no open requests")
      }
    }

    /// Days and hours left, or `OVERDUE by ...`.
    static func left(until due: Date, from now: Date) -> String {
      let seconds = Int(due.timeIntervalSince(now))
      let magnitude = abs(seconds)
      let text = "\(magnitude / 86_400)d \((magnitude % 86_400) / 3600)h"
      return seconds < 0 ? "OVERDUE by \(text)" : text
    }
  }
}
