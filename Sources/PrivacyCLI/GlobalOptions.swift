/// The connection options every command takes (`--gateway`, `--api-key`, `--timeout`, `--output`,
/// `--ca-file`, `--plaintext`), accepted before the subcommand too: `privacyctl --output json
/// consent check ...` means `privacyctl consent check ... --output json`. The argument parser
/// only knows options of the command they follow, so they are moved behind it before parsing.
enum GlobalOptions {
  static let valued: Set<String> = ["--gateway", "--api-key", "--timeout", "--output", "--ca-file"]
  static let flags: Set<String> = ["--plaintext"]

  /// `arguments` with the global options that lead them moved behind the subcommand and its own
  /// arguments (before a `--` that ends the options, if any).
  static func movedBehindSubcommand(_ arguments: [String]) -> [String] {
    var leading: [String] = []
    var index = arguments.startIndex
    while index < arguments.endIndex {
      let argument = arguments[index]
      let name = String(argument.prefix { $0 != "=" })
      if flags.contains(argument) || (valued.contains(name) && argument.contains("=")) {
        leading.append(argument)
        index += 1
      } else if valued.contains(argument), index + 1 < arguments.endIndex {
        leading.append(contentsOf: arguments[index...index + 1])
        index += 2
      } else {
        break
      }
    }
    var rest = Array(arguments[index...])
    rest.insert(contentsOf: leading, at: rest.firstIndex(of: "--") ?? rest.endIndex)
    return rest
  }
}
