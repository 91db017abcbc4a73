#if !FUZZING
import Foundation
import PrivacyFuzz

/// Built plainly, the fuzzer replays inputs: `privacy-fuzz TARGET FILE...`, so saved crash inputs
/// stay regression cases without a sanitizer build. Built with -DFUZZING (scripts/fuzz), the entry
/// point is FuzzEntry.swift's instead.
@main
struct Replay {
  static func main() {
    let arguments = CommandLine.arguments.dropFirst()
    guard let name = arguments.first, let target = FuzzTargets.all[name] else {
      FileHandle.standardError.write(Data("usage: privacy-fuzz TARGET FILE... (targets: \(FuzzTargets.all.keys.sorted()))\n".utf8))
      exit(64)
    }
    for path in arguments.dropFirst() {
      guard let data = FileManager.default.contents(atPath: path) else {
        FileHandle.standardError.write(Data("cannot read \(path)\n".utf8))
        exit(1)
      }
      target(Array(data))
    }
    print("replayed \(arguments.count - 1) input(s) through \(name)")
  }
}
#endif
