import Foundation
import GRDB
import GRPCCore
import PrivacyKit
import PrivacyLoad
import PrivacyProtocol
import PrivacyRights
import PrivacyTesting
import SwiftProtobuf
import Testing

@Suite("Request lists")
struct RequestListTests {
  @Test("a list reads back the requests written, in order, empty ones included")
  func roundTrip() throws {
    let requests: [[UInt8]] = [Array("first".utf8), [], Array(repeating: 7, count: 70_000)]
    let list = try RequestList(file: RequestList.file(of: requests))
    #expect(list.count == 3)
    #expect((0..<3).map { Array(list[$0]) } == requests)
  }

  @Test("a file cut inside a length or a request, an empty file and plans that cannot run are refused")
  func refusals() throws {
    let file = RequestList.file(of: [Array("first".utf8), Array("second".utf8)])
    #expect(throws: LoadPlanError.truncatedRequests(request: 1)) { try RequestList(file: Array(file.dropLast())) }
    #expect(throws: LoadPlanError.truncatedRequests(request: 1)) { try RequestList(file: Array(file.prefix(11))) }
    #expect(throws: LoadPlanError.noRequests) { try RequestList(file: []) }
    let method = try LoadPlan.method(path: "/privacy.rights.v1.SubjectRightsService/OpenRequest")
    #expect(method.fullyQualifiedMethod == "privacy.rights.v1.SubjectRightsService/OpenRequest")
    #expect(throws: LoadPlanError.malformedMethod("OpenRequest")) { try LoadPlan.method(path: "OpenRequest") }
    #expect(throws: LoadPlanError.noCalls) {
      try LoadPlan(host: "127.0.0.1", port: 1, method: method, requests: try RequestList(file: file), streams: 0)
    }
  }
}

@Suite("The load client against a real subject-rights service")
struct LoadClientTests {
  @Test("every call sends a request of its own, once, and the report counts exactly the calls made")
  func distinctWrites() async throws {
    let (report, subjects) = try await load(count: 120, metadata: CallerIdentity(actor: "load", role: "service", requestID: "load").metadata(
      internalToken: testInternalToken))
    #expect(report.statuses == ["OK": 120])
    #expect(report.acknowledged == 120)
    #expect(report.highestIndex == 119)
    #expect(report.ranOutOfRequests)
    #expect(report.latencies.totalCount == 120)
    #expect(report.milliseconds(atPercentile: 50) > 0)
    #expect(subjects == (0..<120).map { "load-\($0)" }.sorted())
    let json = try JSONSerialization.jsonObject(with: Data(try report.json().utf8)) as? [String: Any]
    #expect(json?["acknowledged"] as? Int == 120)
    #expect(json?["ran_out_of_requests"] as? Bool == true)
    #expect((json?["statuses"] as? [String: Int]) == ["OK": 120])
    #expect((json?["latency_ms"] as? [String: Double])?.keys.sorted() == ["max", "p50", "p90", "p99", "p99.9"])
  }

  @Test("refused calls are counted by status and acknowledge nothing")
  func refusedCalls() async throws {
    let (report, subjects) = try await load(count: 30, metadata: [:])
    #expect(report.statuses == ["UNAUTHENTICATED": 30])
    #expect(report.acknowledged == 0)
    #expect(report.latencies.totalCount == 0)
    #expect(subjects.isEmpty)
  }

  /// Loads OpenRequest on a fresh service with `count` requests, each for a subject of its own
  /// (`load-<i>`), on two connections of four streams; returns the report and the subjects the
  /// service then holds requests for.
  private func load(count: Int, metadata: Metadata) async throws -> (LoadReport, [String]) {
    let directory = try TestDirectory()
    defer { directory.remove() }
    let database = directory.path("rights.sqlite")
    let environment = testEnvironment(database: database)
    let server = try await makeRightsServer(
      service: try ServiceConfiguration(kind: .rights, environment: environment), environment: EnvironmentReader(environment),
      logger: silentLogger)
    let report = try await withRunningServer(server) { port in
      try await runLoad(
        try LoadPlan(
          host: "127.0.0.1", port: port, method: try LoadPlan.method(path: "/privacy.rights.v1.SubjectRightsService/OpenRequest"),
          requests: try RequestList(file: RequestList.file(of: (0..<count).map { try openRequest($0).serializedBytes() })),
          metadata: metadata, connections: 2, streams: 4, warmUp: .zero, duration: .seconds(60)))
    }
    let subjects = try await DatabaseQueue(path: database).read { db in
      try String.fetchAll(db, sql: "SELECT subject_id FROM requests ORDER BY subject_id")
    }
    return (report, subjects)
  }
}

private func openRequest(_ index: Int) -> Privacy_Rights_V1_OpenRequestRequest {
  .with {
    $0.subjectID = "load-\(index)"
    $0.right = .access
    $0.requesterEmail = "person.\(index)@example.com"
    $0.channel = .email
  }
}
