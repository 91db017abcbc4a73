import GRPCCore
import Testing

@testable import PrivacyWire

@Suite("Request paths")
struct RequestPathTests {
  @Test("a path of /service/method names a method; any other shape names none")
  func methodPaths() {
    #expect(RequestHead.descriptor(path: "/privacy.consent.v1.ConsentService/CheckConsent")
      == MethodDescriptor(fullyQualifiedService: "privacy.consent.v1.ConsentService", method: "CheckConsent"))
    #expect(RequestHead.descriptor(path: "/pä.SS/Mé") == MethodDescriptor(fullyQualifiedService: "pä.SS", method: "Mé"))
    for path in ["", "/", "//", "//Check", "/a.B/", "/a.B", "a.B/C", "/a.B/C/", "/a.B/C/D", "/a.B//C"] {
      #expect(RequestHead.descriptor(path: path) == nil, "\(path)")
    }
  }
}
