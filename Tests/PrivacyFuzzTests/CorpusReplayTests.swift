import Foundation
import PrivacyFuzz
import Testing

/// Every saved fuzz input, replayed through its target in the plain build: the seeds, and each
/// input that once crashed a parser (moved from Tests/Fuzz/crashes into the corpus once fixed).
@Suite("Fuzz corpus replay")
struct CorpusReplayTests {
  static let corpus = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .appendingPathComponent("Fuzz/corpus")

  @Test("every corpus folder names a target and every input passes through it", arguments: FuzzTargets.all.keys.sorted())
  func replay(_ target: String) throws {
    let folder = Self.corpus.appendingPathComponent(target)
    let inputs = try FileManager.default.contentsOfDirectory(atPath: folder.path)
    #expect(!inputs.isEmpty, "no seed for \(target)")
    for input in inputs {
      let data = try #require(FileManager.default.contents(atPath: folder.appendingPathComponent(input).path))
      FuzzTargets.all[target]!(Array(data))
    }
  }

  @Test("the corpus holds no folder without a target")
  func foldersMatchTargets() throws {
    let folders = try FileManager.default.contentsOfDirectory(atPath: Self.corpus.path)
    #expect(Set(folders) == Set(FuzzTargets.all.keys))
  }
}
