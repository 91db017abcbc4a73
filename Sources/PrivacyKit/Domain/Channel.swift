/// Where a piece of personal data, a decision or a request came from (privacy.common.v1.Channel).
public enum Channel: String, Sendable, CaseIterable {
  case webform
  case `import`
  case manual
  case api
  case integration
  case preferencePage = "preference_page"
  case emailLink = "email_link"
  case email
  case phone
  case post
}

/// Who performed an action (privacy.common.v1.ActorKind).
public enum ActorKind: String, Sendable, CaseIterable {
  case unspecified
  case subject
  case guardian
  case staff
  case system
  case integration
}
