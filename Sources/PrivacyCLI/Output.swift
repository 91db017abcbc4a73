import ArgumentParser
import Foundation
import SwiftProtobuf

/// How a command prints its result.
enum OutputFormat: String, ExpressibleByArgument, CaseIterable {
  case table
  case json
}

/// Writes a command's result to standard output in the chosen format.
///
/// JSON is the protobuf JSON mapping of the response message, with the field names of the
/// `.proto` files (`subject_id`, not `subjectId`) so scripts can use the names they read in the
/// contract. As in every proto3 JSON encoding, fields at their default value (false, 0, empty) are
/// left out.
struct Printer {
  var format: OutputFormat

  /// Prints `message` as JSON, or the text `table` renders.
  func emit(_ message: some SwiftProtobuf.Message, table: () -> String) throws {
    switch format {
    case .json: try Self.write(json(message) + "\n")
    case .table: try Self.write(table())
    }
  }

  /// The message as indented JSON with sorted keys.
  func json(_ message: some SwiftProtobuf.Message) throws -> String {
    var options = JSONEncodingOptions()
    options.preserveProtoFieldNames = true
    let compact = try message.jsonUTF8Data(options: options)
    let object = try JSONSerialization.jsonObject(with: compact, options: [.fragmentsAllowed])
    let pretty = try JSONSerialization.data(withJSONObject: object, options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
    return String(decoding: pretty, as: UTF8.self)
  }

  static func write(_ text: String) throws {
    try FileHandle.standardOutput.write(contentsOf: Data(text.utf8))
  }

  static func writeError(_ text: String) {
    try? FileHandle.standardError.write(contentsOf: Data(text.utf8))
  }
}

/// A plain text table with aligned columns.
struct Table {
  var header: [String]
  var rows: [[String]]

  init(header: [String], rows: [[String]]) {
    self.header = header
    self.rows = rows
  }

  var rendered: String {
    let all = [header] + rows
    let widths = header.indices.map { column in all.map { column < $0.count ? $0[column].count : 0 }.max() ?? 0 }
    return all.map { row in
      let line = row.enumerated().map { index, cell in
        index == row.count - 1 ? cell : cell.padding(toLength: widths[index] + 2, withPad: " ", startingAt: 0)
      }.joined()
      return String(line.reversed().drop(while: { $0 == " " }).reversed())
    }.joined(separator: "\n") + "\n"
  }

  /// The table, or `empty` when it has no rows, followed by the next page token when there is one.
  func rendered(empty: String, nextPageToken: String = "") -> String {
    var text = rows.isEmpty ? empty + "\n" : rendered
    if !nextPageToken.isEmpty { text += "next page: --page-token \(nextPageToken)\n" }
    return text
  }
}

/// One object shown as aligned `name  value` lines; rows whose value is empty are left out.
struct Details {
  private let rows: [(String, String)]

  init(_ rows: [(String, String)]) {
    self.rows = rows
  }

  var rendered: String {
    let shown = rows.filter { !$0.1.isEmpty }
    let width = (shown.map { $0.0.count }.max() ?? 0) + 2
    return shown.map { name, value in (name + ":").padding(toLength: width + 1, withPad: " ", startingAt: 0) + value }
      .joined(separator: "\n") + "\n"
  }
}
