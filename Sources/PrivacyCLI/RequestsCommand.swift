import ArgumentParser
import Foundation
import PrivacyProtocol

/// `privacyctl requests ...`: data-subject requests (arts 15-22) from intake to completion.
struct RequestsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "requests",
    abstract: "Open, verify, extend, execute and inspect data-subject requests.",
    subcommands: [Open.self, List.self, Get.self, Verify.self, Outbox.self, Extend.self, Execute.self, Reject.self]
  )

  struct Open: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Open a request; it is due one calendar month after receipt.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id, when known.")
    var subject: String = ""

    @Option(help: "The right exercised.")
    var right: Privacy_Rights_V1_Right

    @Option(help: "Address the verification and answers go to.")
    var requesterEmail: String = ""

    @Option(help: "Channel the request came through (default: email).")
    var channel: Privacy_Common_V1_Channel?

    @Option(help: "Free-text note.")
    var note: String = ""

    @Option(name: .customLong("change"), help: "RECTIFICATION: a corrected value as name=value (repeatable).")
    var changes: [KeyValue] = []

    @Option(name: .customLong("purpose"), help: "OBJECTION: a purpose objected to (repeatable).")
    var purposes: [String] = []

    @Flag(help: "OBJECTION: the subject objects to direct marketing (always honoured).")
    var directMarketing = false

    @Option(help: "Key that makes a retried open return the same request.")
    var idempotencyKey: String = ""

    func validate() throws {
      _ = try changes.dictionary(flag: "--change")
      if !changes.isEmpty, right != .rectification { throw ValidationError("--change applies to --right rectification") }
      if !purposes.isEmpty || directMarketing, right != .objection {
        throw ValidationError("--purpose and --direct-marketing apply to --right objection")
      }
    }

    func run() async throws {
      let request = try Privacy_Rights_V1_OpenRequestRequest.with {
        $0.subjectID = subject
        $0.right = right
        $0.requesterEmail = requesterEmail
        $0.channel = channel ?? .email
        $0.idempotencyKey = idempotencyKey
        $0.details.note = note
        if !changes.isEmpty { $0.details.rectification.changes = try changes.dictionary(flag: "--change") }
        if !purposes.isEmpty || directMarketing {
          $0.details.objection = .with {
            $0.purposeIds = purposes
            $0.directMarketing = directMarketing
          }
        }
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.rights.openRequest(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        RequestView.details(response.request, extra: [("result", response.created ? "opened" : "already open (same idempotency key)")])
      }
    }
  }

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List requests, most urgent first.")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Only requests in this status.")
    var status: Privacy_Rights_V1_RequestStatus?

    @Option(help: "Only requests for this right.")
    var right: Privacy_Rights_V1_Right?

    @Option(help: "Only requests about this subject.")
    var subject: String = ""

    @Flag(help: "Only requests past their deadline.")
    var overdue = false

    @Flag(help: "Only requests not completed or rejected.")
    var openOnly = false

    @Option(help: "Only requests due within this many days.")
    var dueWithinDays: Int32?

    @OptionGroup var page: PageOptions

    func run() async throws {
      let request = Privacy_Rights_V1_ListRequestsRequest.with {
        $0.filter = .with {
          if let status { $0.status = status }
          if let right { $0.right = right }
          $0.subjectID = subject
          $0.overdue = overdue
          $0.openOnly = openOnly
          if let dueWithinDays { $0.dueWithinDays = dueWithinDays }
        }
        $0.pageSize = page.pageSize
        $0.pageToken = page.pageToken
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.rights.listRequests(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        RequestView.table(response.requests).rendered(empty: "no requests", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a request with its steps; --artifact-out saves its artifact (e.g. an access bundle)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Request id.")
    var request: String

    @OptionGroup var artifact: ArtifactOptions

    func run() async throws {
      let (response, saved) = try await connection.withGateway { gateway in
        let response = try await gateway.rights.getRequest(.with { $0.requestID = request }, options: gateway.call)
        return (response, try await artifact.save(request: request, gateway: gateway))
      }
      try connection.printer.emit(response) { RequestView.details(response.request) }
      artifact.report(saved)
    }
  }

  struct Verify: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Verify the requester's identity: by an emailed token, or manually.",
      subcommands: [Start.self, Confirm.self, Manual.self]
    )

    struct Start: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Send a verification token to the requester's address.")

      @OptionGroup var connection: ConnectionOptions

      @Option(help: "Request id.")
      var request: String

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.rights.startVerification(.with { $0.requestID = request }, options: gateway.call)
        }
        try connection.printer.emit(response) {
          RequestView.details(response.request, extra: [
            ("verification", "token sent, message \(response.messageID), expires \(Format.time(response.expiresAt))"),
          ])
        }
      }
    }

    struct Confirm: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Confirm the token the requester received.")

      @OptionGroup var connection: ConnectionOptions

      @Option(help: "Request id.")
      var request: String

      /// Unconditional: a base64url token may begin with `-`, which would otherwise read as a flag.
      @Option(parsing: .unconditional, help: "The token from the verification message.")
      var token: String

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.rights.confirmVerification(.with {
            $0.requestID = request
            $0.token = token
          }, options: gateway.call)
        }
        try connection.printer.emit(response) { RequestView.details(response.request) }
      }
    }

    struct Manual: AsyncParsableCommand {
      static let configuration = CommandConfiguration(abstract: "Record that the identity was verified another way (ID seen at the desk, ...).")

      @OptionGroup var connection: ConnectionOptions

      @Option(help: "Request id.")
      var request: String

      @Option(help: "How the identity was verified (required).")
      var note: String

      func run() async throws {
        let response = try await connection.withGateway { gateway in
          try await gateway.rights.verifyManually(.with {
            $0.requestID = request
            $0.note = note
          }, options: gateway.call)
        }
        try connection.printer.emit(response) { RequestView.details(response.request) }
      }
    }
  }

  struct Extend: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Extend a request's deadline by up to two months (art 12(3)).")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Request id.")
    var request: String

    @Option(help: "Months to add (1 or 2).")
    var months: Int32

    @Option(help: "Why (told to the requester).")
    var reason: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.rights.extendDeadline(.with {
          $0.requestID = request
          $0.months = months
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) { RequestView.details(response.request) }
    }
  }

  struct Execute: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Run a verified request to completion in every service (resumes one that stopped half-way)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Request id.")
    var request: String

    @OptionGroup var artifact: ArtifactOptions

    func run() async throws {
      let (response, saved) = try await connection.withGateway { gateway in
        let response = try await gateway.admin.executeRequest(.with { $0.requestID = request }, options: gateway.call)
        return (response, try await artifact.save(request: request, gateway: gateway))
      }
      try connection.printer.emit(response) {
        var text = Details([
          ("request", response.requestID),
          ("right", Format.name(response.right)),
          ("status", Format.name(response.status) + (response.resumed ? " (resumed)" : "")),
          ("completed", Format.time(response.completedAt, isSet: response.hasCompletedAt)),
          ("artifact", response.hasArtifact ? "\(response.artifact.fileName) (\(response.artifact.sizeBytes) bytes)" : ""),
          ("fields rectified", Format.list(response.fieldsRectified)),
          ("purposes withdrawn", Format.list(response.purposesWithdrawn)),
          ("human review", response.humanReviewFlagged ? "flagged" : ""),
          ("fields erased", Format.list(response.erasureEvidence.fieldsErased)),
          ("blocklisted", response.hasErasureEvidence ? "\(response.erasureEvidence.identifiersBlocklisted) identifiers" : ""),
        ]).rendered
        if !response.recipientsToNotify.isEmpty { text += "\n" + RecipientTable.table(response.recipientsToNotify).rendered }
        if !response.steps.isEmpty { text += "\n" + StepTable.table(response.steps).rendered }
        return text
      }
      artifact.report(saved)
    }
  }

  struct Reject: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Reject a request on stated grounds (the requester is told why).")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Request id.")
    var request: String

    @Option(help: "Grounds of the rejection.")
    var grounds: Privacy_Rights_V1_RejectionGrounds

    @Option(help: "Why (told to the requester).")
    var reason: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.rights.rejectRequest(.with {
          $0.requestID = request
          $0.grounds = grounds
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) { RequestView.details(response.request) }
    }
  }
}

/// `--artifact-out FILE`: saves a request's artifact (GetArtifact) to a file.
struct ArtifactOptions: ParsableArguments {
  @Option(help: ArgumentHelp("Save the request's artifact to this file (replaced if it exists).", valueName: "file"))
  var artifactOut: String?

  /// Fetches and writes the artifact when asked; returns what was written.
  func save(request: String, gateway: Gateway) async throws -> Privacy_Rights_V1_Artifact? {
    guard let artifactOut else { return nil }
    let response = try await gateway.rights.getArtifact(.with { $0.requestID = request }, options: gateway.call)
    // Written with owner-only permissions: an access bundle holds all of a person's data.
    let url = URL(fileURLWithPath: artifactOut)
    try? FileManager.default.removeItem(at: url)
    guard FileManager.default.createFile(atPath: url.path, contents: response.artifact.content, attributes: [.posixPermissions: 0o600]) else {
      throw LocalFailure("cannot write \(artifactOut)")
    }
    return response.artifact
  }

  /// Tells on standard error where the artifact went, so standard output stays the response.
  func report(_ artifact: Privacy_Rights_V1_Artifact?) {
    guard let artifact, let artifactOut else { return }
    Printer.writeError("saved \(artifact.fileName.isEmpty ? "artifact" : artifact.fileName) (\(artifact.content.count) bytes, sha256 \(artifact.sha256)) to \(artifactOut)\n")
  }
}

/// Data-subject requests as text.
enum RequestView {
  static func table(_ requests: [Privacy_Rights_V1_DataSubjectRequest]) -> Table {
    Table(
      header: ["REQUEST", "SUBJECT", "RIGHT", "STATUS", "RECEIVED", "DUE", "OVERDUE"],
      rows: requests.map { request in
        [
          request.requestID, request.subjectID.isEmpty ? "-" : request.subjectID, Format.name(request.right),
          Format.name(request.status), Format.time(request.receivedAt), Format.time(request.dueAt), Format.yesNo(request.overdue),
        ]
      }
    )
  }

  /// The request, with `extra` rows (what the call did) after its id.
  static func details(_ request: Privacy_Rights_V1_DataSubjectRequest, extra: [(String, String)] = []) -> String {
    var text = Details([("request", request.requestID)] + extra + [
      ("subject", request.subjectID),
      ("right", Format.name(request.right)),
      ("status", Format.name(request.status)),
      ("origin", Format.name(request.origin)),
      ("channel", Format.name(request.channel)),
      ("received", Format.time(request.receivedAt)),
      ("due", Format.time(request.dueAt) + (request.overdue ? " (OVERDUE)" : "")),
      ("extended", request.extensions.isEmpty ? "" : request.extensions.map { "+\($0.months) month(s): \($0.reason)" }.joined(separator: "; ")),
      ("verified", Format.time(request.verification.verifiedAt, isSet: request.verification.hasVerifiedAt)),
      ("outcome", request.outcome),
      ("rejected", request.hasRejection ? "\(Format.name(request.rejection.grounds)): \(request.rejection.reason)" : ""),
      ("artifact", request.hasArtifact ? "\(request.artifact.fileName) (\(request.artifact.sizeBytes) bytes)\(request.artifact.purged ? ", purged" : "")" : ""),
      ("closed", Format.time(request.closedAt, isSet: request.hasClosedAt)),
    ]).rendered
    if !request.steps.isEmpty { text += "\n" + StepTable.table(request.steps).rendered }
    return text
  }
}
