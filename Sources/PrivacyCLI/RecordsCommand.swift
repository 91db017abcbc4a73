import ArgumentParser
import PrivacyProtocol

/// `privacyctl records ...`: a subject's personal data in the vault, as the caller's role may see it.
struct RecordsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "records",
    abstract: "Read, write, reveal and erase a subject's vault record.",
    subcommands: [Get.self, Put.self, Reveal.self, Erase.self]
  )

  struct Get: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show a subject's record: values masked or withheld as the caller's role requires."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.vault.getRecord(.with { $0.subjectID = subject }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        let record = response.record
        var text = Details([
          ("subject", record.subjectID),
          ("version", "\(record.version)"),
          ("restricted", record.restricted ? "yes (\(record.restrictionReason))" : ""),
          ("erased", record.erased ? "yes, \(Format.time(record.erasedAt)) (\(record.erasureReason))" : ""),
          ("human review", record.humanReview ? "yes (\(record.humanReviewReason))" : ""),
          ("updated", Format.time(record.updatedAt, isSet: record.hasUpdatedAt)),
          ("withheld", Format.list(response.withheldFields)),
        ]).rendered
        text += "\n" + Table(
          header: ["FIELD", "CLASSIFICATION", "VALUE", "MASKED", "LOCKED", "UPDATED"],
          rows: record.fields.map { field in
            [
              field.name, Format.name(field.classification), field.value, Format.yesNo(field.masked),
              Format.yesNo(field.locked), Format.time(field.updatedAt, isSet: field.hasUpdatedAt),
            ]
          }
        ).rendered(empty: "no fields")
        return text
      }
    }
  }

  struct Put: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Write field values of a subject's record (creates it if new).")

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(name: .customLong("value"), help: "A field value as name=value (repeatable).")
    var values: [KeyValue] = []

    @OptionGroup var source: SourceOptions

    func validate() throws {
      guard !values.isEmpty else { throw ValidationError("give at least one --value name=value") }
      _ = try values.dictionary(flag: "--value")
    }

    func run() async throws {
      let request = try Privacy_Vault_V1_PutRecordRequest.with {
        $0.subjectID = subject
        $0.values = try values.dictionary(flag: "--value")
        $0.source = source.valueSource
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.vault.putRecord(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("subject", subject),
          ("outcome", response.created ? "created" : "updated"),
          ("version", "\(response.version)"),
          ("changed", response.changedFields.isEmpty ? "nothing" : Format.list(response.changedFields)),
        ]).rendered
      }
    }
  }

  struct Reveal: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Show one field's clear value; the reason is written to the vault's access log and the audit log."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(help: "Field name.")
    var field: String

    @Option(help: "Why the clear value is needed (required, logged).")
    var reason: String

    func validate() throws {
      guard !reason.trimmingCharacters(in: .whitespaces).isEmpty else { throw ValidationError("--reason must not be empty") }
    }

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.vault.revealField(.with {
          $0.subjectID = subject
          $0.field = field
          $0.reason = reason
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Details([
          ("field", field),
          ("value", response.value),
          ("access log", "#\(response.accessLogSequence)"),
          ("revealed", Format.time(response.revealedAt, isSet: response.hasRevealedAt)),
        ]).rendered
      }
    }
  }

  struct Erase: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Erase fields of a record (--field, optionally --lock), or all its personal data (--all, art 17).",
      discussion: """
        --all erases every PERSONAL and SENSITIVE field and destroys the subject's data key; it touches \
        only the vault. A full erasure across every service (blocklist, consent, notifications) is an \
        ERASURE request run with `requests execute`.
        """
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Subject id.")
    var subject: String

    @Option(name: .customLong("field"), help: "A field to erase (repeatable).")
    var fields: [String] = []

    @Flag(help: "Lock the erased fields: later writes to them fail until unlocked.")
    var lock = false

    @Flag(help: "Erase every personal and sensitive field of the record.")
    var all = false

    @Option(help: "Why (recorded in the access log).")
    var reason: String

    func validate() throws {
      guard all != !fields.isEmpty else { throw ValidationError("give either --field (one or more) or --all") }
      guard !(all && lock) else { throw ValidationError("--lock applies to --field only") }
    }

    func run() async throws {
      if all {
        let response = try await connection.withGateway { gateway in
          try await gateway.vault.erasePersonalData(.with {
            $0.subjectID = subject
            $0.reason = reason
          }, options: gateway.call)
        }
        try connection.printer.emit(response) {
          Details([
            ("subject", subject),
            ("erased", response.alreadyErased ? "already erased" : Format.list(response.erasedFields)),
            ("retained", Format.list(response.retainedFields)),
            ("data key destroyed", Format.yesNo(response.keyDestroyed)),
            ("k-anonymity", Format.name(response.kAnonymity.outcome)),
            ("version", "\(response.version)"),
          ]).rendered
        }
      } else {
        let response = try await connection.withGateway { gateway in
          try await gateway.vault.eraseFields(.with {
            $0.subjectID = subject
            $0.fields = fields
            $0.lock = lock
            $0.reason = reason
          }, options: gateway.call)
        }
        try connection.printer.emit(response) {
          Details([
            ("subject", subject),
            ("erased", Format.list(response.erasedFields)),
            ("locked", Format.list(response.lockedFields)),
            ("version", "\(response.version)"),
          ]).rendered
        }
      }
    }
  }
}
