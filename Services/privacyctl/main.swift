import PrivacyCLI

await PrivacyCtl.run(CommandLine.arguments.dropFirst())
