#if FUZZING
import CLibFuzzer
import Foundation
import PrivacyFuzz

/// The fuzz build's entry point: libFuzzer's driver feeds every input to the target named by
/// `PRIVACY_FUZZ_TARGET`. Whichever `main` the link keeps (SwiftPM's entry point or libFuzzer's
/// own), inputs reach `LLVMFuzzerTestOneInput`.
@main
struct FuzzMain {
  static func main() {
    var argc = CommandLine.argc
    var argv = Optional(CommandLine.unsafeArgv)
    exit(LLVMFuzzerRunDriver(&argc, &argv) { data, size in fuzzOne(data, size) })
  }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOne(_ data: UnsafePointer<UInt8>?, _ size: Int) -> Int32 {
  selectedTarget(data.map { Array(UnsafeBufferPointer(start: $0, count: size)) } ?? [])
  return 0
}

let selectedTarget: @Sendable ([UInt8]) -> Void = {
  guard let target = FuzzTargets.all[ProcessInfo.processInfo.environment["PRIVACY_FUZZ_TARGET"] ?? ""] else {
    FileHandle.standardError.write(Data("PRIVACY_FUZZ_TARGET must be one of \(FuzzTargets.all.keys.sorted())\n".utf8))
    exit(2)
  }
  return target
}()
#endif
