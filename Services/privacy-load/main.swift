import ArgumentParser
import Foundation
import GRPCCore
import PrivacyLoad

/// The benchmarks' load client: distinct requests from a template, many connections and streams,
/// one JSON report on standard output (see Benchmarks/README.md).
struct PrivacyLoadCommand: ParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "privacy-load",
    abstract: "Loads one gRPC method with a request of its own per call and prints a JSON report.",
    discussion: """
      The requests file holds serialized requests, each preceded by its length (4 bytes, big-endian); call i sends request i, \
      and the load ends when the window does or the requests run out. Pin it to a core with taskset.
      """)

  @Option(help: "host:port of the server (plaintext HTTP/2).") var target: String
  @Option(help: "The method, as /package.Service/Method.") var method: String
  @Option(help: "A file of length-prefixed serialized requests.") var requests: String
  @Option(help: "key=value sent with every call; repeatable.") var metadata: [String] = []
  @Option(help: "HTTP/2 connections.") var connections = 1
  @Option(help: "Calls in flight on each connection.") var streams = 1
  @Option(help: "Seconds of calls before the measured window.") var warmUp = 1.0
  @Option(help: "Seconds in the measured window.") var seconds = 10.0
  @Option(help: "Each call's deadline in seconds.") var timeout = 30.0

  func load() async throws {
    let parts = target.split(separator: ":")
    guard parts.count == 2, let port = Int(parts[1]) else { throw ValidationError("--target must be host:port") }
    var headers: Metadata = [:]
    for pair in metadata {
      guard let equals = pair.firstIndex(of: "="), equals != pair.startIndex else { throw ValidationError("--metadata must be key=value") }
      headers.addString(String(pair[pair.index(after: equals)...]), forKey: String(pair[..<equals]))
    }
    let bytes = try Data(contentsOf: URL(fileURLWithPath: requests))
    let plan = try LoadPlan(
      host: String(parts[0]), port: port, method: try LoadPlan.method(path: method), requests: try RequestList(file: Array(bytes)),
      metadata: headers, connections: connections, streams: streams, warmUp: .milliseconds(Int64(warmUp * 1000)),
      duration: .milliseconds(Int64(seconds * 1000)), timeout: .milliseconds(Int64(timeout * 1000)))
    print(try await runLoad(plan).json())
  }
}

do {
  try await PrivacyLoadCommand.parse().load()
} catch {
  PrivacyLoadCommand.exit(withError: error)
}
