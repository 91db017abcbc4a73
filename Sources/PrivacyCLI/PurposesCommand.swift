import ArgumentParser
import PrivacyProtocol

/// `privacyctl purposes list|upsert`: the purposes of processing and their lawful basis.
struct PurposesCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "purposes",
    abstract: "List and define purposes of processing.",
    subcommands: [List.self, Upsert.self]
  )

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the purposes.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var page: PageOptions

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.listPurposes(.with {
          $0.pageSize = page.pageSize
          $0.pageToken = page.pageToken
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Table(
          header: ["PURPOSE", "TITLE", "BASIS", "CATEGORY", "RETENTION", "NOTICE", "VAULT FIELDS"],
          rows: response.purposes.map { purpose in
            [
              purpose.purposeID, purpose.title, Format.name(purpose.legalBasis), Format.name(purpose.category),
              purpose.retentionDays == 0 ? "-" : "\(purpose.retentionDays) d", purpose.noticeVersion,
              Format.list(purpose.vaultFields),
            ]
          }
        ).rendered(empty: "no purposes", nextPageToken: response.nextPageToken)
      }
    }
  }

  struct Upsert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create or update a purpose (a new notice version is kept in its history)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Purpose id, e.g. newsletter.")
    var purpose: String

    @Option(help: "Short title.")
    var title: String

    @Option(help: "What the processing is for.")
    var description: String = ""

    @Option(help: "Lawful basis (art 6).")
    var basis: Privacy_Consent_V1_LegalBasis

    @Option(help: "Category, which decides the consequences of a withdrawal.")
    var category: Privacy_Consent_V1_PurposeCategory

    @Option(help: "Days the data is kept for this purpose (0: no limit of its own).")
    var retentionDays: UInt32 = 0

    @Option(help: "Version of the privacy notice shown for this purpose.")
    var noticeVersion: String = ""

    @Option(help: "Text of that notice.")
    var noticeText: String = ""

    @Option(name: .customLong("vault-field"), help: "A vault field whose storage this consent covers (repeatable; DATA_STORAGE).")
    var vaultFields: [String] = []

    @Option(name: .customLong("subject-category"), help: "A category of data subjects it concerns, for the records of processing (repeatable).")
    var subjectCategories: [String] = []

    func run() async throws {
      let request = Privacy_Consent_V1_UpsertPurposeRequest.with {
        $0.purpose = .with {
          $0.purposeID = purpose
          $0.title = title
          $0.description_p = description
          $0.legalBasis = basis
          $0.category = category
          $0.retentionDays = retentionDays
          $0.noticeVersion = noticeVersion
          $0.noticeText = noticeText
          $0.vaultFields = vaultFields
          $0.subjectCategories = subjectCategories
        }
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.consent.upsertPurpose(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        let stored = response.purpose
        return Details([
          ("purpose", stored.purposeID),
          ("outcome", response.created ? "created" : "updated"),
          ("title", stored.title),
          ("basis", Format.name(stored.legalBasis)),
          ("category", Format.name(stored.category)),
          ("retention", stored.retentionDays == 0 ? "" : "\(stored.retentionDays) days"),
          ("notice", stored.noticeVersion + (response.noticeVersionAdded ? " (new version)" : "")),
          ("vault fields", Format.list(stored.vaultFields)),
          ("subject categories", Format.list(stored.subjectCategories)),
        ]).rendered
      }
    }
  }
}
