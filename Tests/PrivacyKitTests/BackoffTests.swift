import PrivacyKit
import Testing

@Suite("Backoff")
struct BackoffTests {
  @Test("doubles after each failure up to its ceiling; a success starts over")
  func doubling() {
    var backoff = Backoff(ceiling: .milliseconds(500))
    #expect((1...5).map { _ in backoff.next() } == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(500), .milliseconds(500)])
    backoff.reset()
    #expect(backoff.delay == .milliseconds(100))
    #expect(backoff.next() == .milliseconds(100))
  }
}
