import ArgumentParser
import PrivacyProtocol

/// `privacyctl fields list|upsert`: the vault's field schema (classification, mask, encryption).
struct FieldsCommand: AsyncParsableCommand {
  static let configuration = CommandConfiguration(
    commandName: "fields",
    abstract: "List and define vault fields.",
    subcommands: [List.self, Upsert.self]
  )

  struct List: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "List the vault fields.")

    @OptionGroup var connection: ConnectionOptions
    @OptionGroup var page: PageOptions

    @Option(help: "Only fields carrying this tag.")
    var tag: String = ""

    func run() async throws {
      let response = try await connection.withGateway { gateway in
        try await gateway.vault.listFields(.with {
          $0.tag = tag
          $0.pageSize = page.pageSize
          $0.pageToken = page.pageToken
        }, options: gateway.call)
      }
      try connection.printer.emit(response) {
        Table(
          header: ["FIELD", "CLASSIFICATION", "SPECIAL", "MASK", "ENCRYPTED", "SEARCHABLE", "TAGS"],
          rows: response.fields.map { field in
            [
              field.name, Format.name(field.classification), special(field), Format.name(field.mask),
              Format.yesNo(field.encrypted), Format.yesNo(field.searchable), Format.list(field.tags),
            ]
          }
        ).rendered(empty: "no fields", nextPageToken: response.nextPageToken)
      }
    }

    private func special(_ field: Privacy_Vault_V1_FieldDefinition) -> String {
      let names = [
        field.specialCategory.rawValue == 0 ? nil : Format.name(field.specialCategory),
        field.criminalOffence ? "CRIMINAL_OFFENCE" : nil,
      ].compactMap { $0 }
      return names.isEmpty ? "-" : names.joined(separator: ", ")
    }
  }

  struct Upsert: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
      abstract: "Create or update a vault field (encryption, once on, cannot be turned off)."
    )

    @OptionGroup var connection: ConnectionOptions

    @Option(help: "Field name, e.g. email.")
    var field: String

    @Option(help: "Classification.")
    var classification: Privacy_Vault_V1_Classification

    @Option(help: "Art 9 special category, if the field holds one.")
    var specialCategory: Privacy_Vault_V1_SpecialCategory?

    @Flag(help: "The field holds art 10 data (criminal convictions and offences).")
    var criminalOffence = false

    @Option(help: "How the value is masked for roles that may not see it in clear.")
    var mask: Privacy_Vault_V1_Mask?

    @Flag(inversion: .prefixedNo, help: "Encrypt the values (default: the vault's rule for the classification).")
    var encrypted: Bool?

    @Flag(help: "Allow exact-match search on the field (FindByField).")
    var searchable = false

    @Option(name: .customLong("tag"), help: "A tag such as email, phone, billing (repeatable).")
    var tags: [String] = []

    @Option(help: "What the field holds.")
    var description: String = ""

    func run() async throws {
      let request = Privacy_Vault_V1_UpsertFieldRequest.with {
        $0.name = field
        $0.classification = classification
        if let specialCategory { $0.specialCategory = specialCategory }
        $0.criminalOffence = criminalOffence
        if let mask { $0.mask = mask }
        if let encrypted { $0.encrypted = encrypted }
        $0.searchable = searchable
        $0.tags = tags
        $0.description_p = description
      }
      let response = try await connection.withGateway { gateway in
        try await gateway.vault.upsertField(request, options: gateway.call)
      }
      try connection.printer.emit(response) {
        let stored = response.field
        return Details([
          ("field", stored.name),
          ("outcome", response.created ? "created" : "updated"),
          ("classification", Format.name(stored.classification)),
          ("special category", stored.specialCategory.rawValue == 0 ? "" : Format.name(stored.specialCategory)),
          ("criminal offence", stored.criminalOffence ? "yes" : ""),
          ("mask", Format.name(stored.mask)),
          ("encrypted", Format.yesNo(stored.encrypted)),
          ("searchable", Format.yesNo(stored.searchable)),
          ("tags", Format.list(stored.tags)),
        ]).rendered
      }
    }
  }
}
