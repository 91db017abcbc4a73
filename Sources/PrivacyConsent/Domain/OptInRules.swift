/// The email opt-in status rules (Vtiger's): who may set which status from which status.
public enum OptInRules {
  /// Checks a change requested through SetEmailOptInStatus.
  /// - SINGLE_OPT_IN_USER only by a user; SINGLE_OPT_IN_WEBFORM only by a web form submission.
  /// - DOUBLE_OPT_IN only by confirming a link (never through this call); NONE only initially.
  /// - OPT_OUT_USER set (and reversed) by users; OPT_OUT_CONTACT only set by the contact.
  /// - From OPT_OUT_CONTACT only the contact's own web form submission moves back, to
  ///   SINGLE_OPT_IN_WEBFORM; a user can never reverse it.
  public static func checkChange(from current: OptInStatus, to target: OptInStatus, by setter: OptInSetter) throws(ConsentError) {
    func refuse(_ why: String) -> ConsentError { .illegalOptInTransition(from: current, to: target, why: why) }
    switch target {
    case .none:
      throw refuse("NONE is only the initial status")
    case .doubleOptIn:
      throw refuse("DOUBLE_OPT_IN is only set by confirming a double opt-in link")
    case .singleOptInUser where setter != .user:
      throw refuse("only a user may set SINGLE_OPT_IN_USER")
    case .singleOptInWebform where setter != .webform:
      throw refuse("only a web form submission may set SINGLE_OPT_IN_WEBFORM")
    case .optOutUser where setter != .user:
      throw refuse("only a user may set OPT_OUT_USER")
    case .optOutContact where setter != .contact:
      throw refuse("only the contact may set OPT_OUT_CONTACT")
    default:
      break
    }
    if current == .optOutContact && target != .optOutContact && !(target == .singleOptInWebform && setter == .webform) {
      throw refuse("the contact opted out; only the contact's own web form submission reverses it")
    }
  }

  /// Whether a double opt-in may be started or confirmed from the current status: not after the
  /// contact opted out (only their own web form submission reverses that).
  public static func checkDoubleOptIn(from current: OptInStatus) throws(ConsentError) {
    if current == .optOutContact {
      throw .illegalOptInTransition(
        from: current, to: .doubleOptIn, why: "the contact opted out; only the contact's own web form submission reverses it"
      )
    }
  }
}
