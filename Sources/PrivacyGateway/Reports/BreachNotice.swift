import Foundation
import PrivacyProtocol

/// The draft notification of a breach to the supervisory authority, under the headings of
/// art 33(3), with the art 34 assessment of whether the people concerned must be told. Built from
/// the assessment; what only the controller knows is left for it to fill in, marked as such.
struct BreachNotice {
  let scope: BreachAssessment.Scope
  let response: Privacy_Gateway_V1_AssessBreachResponse
  let keysInScope: [String]
  let activeKeyID: String

  static let toComplete = "to be completed by the controller"

  var json: String {
    let sensitive = response.categories.contains { $0.classification == .sensitive || $0.classification == .unspecified }
    let special = response.specialCategoriesAffected
    let categories = response.categories.map { category -> [String: Any] in
      var row: [String: Any] = ["field": category.field, "classification": ProtoJSON.enumName(category, key: "classification")]
      if category.specialCategory != .unspecified { row["special_category"] = ProtoJSON.enumName(category, key: "special_category") }
      if category.criminalOffence { row["criminal_offence"] = true }
      return row
    }
    let highRisk = response.subjectsAffected > 0 && (special || sensitive)
    let mustTell = highRisk && !response.encryptedOutOfScope
    var measures = ["revoke or review the credentials of the actors in scope", "review the audit log and the vault access log of the window"]
    if !keysInScope.isEmpty {
      measures.append("add a new key-encryption key, make it active and run RotateMasterKey; remove \(keysInScope.joined(separator: ", ")) from the keyring")
    }
    let document: [String: Any] = [
      "article_33_3": [
        "a_nature_of_the_breach": [
          "window": ["from": RFC3339.string(scope.from), "to": RFC3339.string(scope.to)],
          "actors": scope.actors.isEmpty ? ["any"] : scope.actors,
          "categories_of_data": categories,
          "special_categories_affected": special,
          "approximate_number_of_data_subjects": response.subjectsAffected,
          "data_subjects_read_in_batches_not_named_by_the_logs": response.subjectsUnattributed,
          "approximate_number_of_personal_data_records": response.recordsAffected,
        ],
        "b_contact_point": Self.toComplete,
        "c_likely_consequences": special
          ? "art 9/10 data seen in clear: high risk of discrimination, identity fraud or damage to reputation"
          : sensitive ? "sensitive data seen in clear: risk of financial loss or fraud"
          : response.subjectsAffected > 0 ? "personal data seen in clear: risk to the people's privacy" : "no value seen in clear in the scope",
        "d_measures_taken_or_proposed": measures,
      ],
      "article_34": [
        "communication_to_data_subjects_required": mustTell,
        "reason": response.encryptedOutOfScope
          ? "art 34(3)(a): the values stay encrypted under keys outside the breach (active key \(activeKeyID))"
          : mustTell ? "likely high risk to the rights and freedoms of the people concerned" : "no likely high risk shown by the logs",
      ],
      "article_33_1_deadline": "notify the supervisory authority within 72 hours of becoming aware of the breach",
    ]
    let data = (try? JSONSerialization.data(withJSONObject: document, options: [.prettyPrinted, .sortedKeys])) ?? Data()
    return String(decoding: data, as: UTF8.self)
  }
}
