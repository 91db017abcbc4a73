import Testing

/// The tests that start a whole suite of processes (`privacy-suite`, or the compose file's
/// services), one suite at a time: side by side they load a 2-core machine enough to push the
/// timing bounds of unrelated tests.
@Suite(.serialized) enum LaunchedSuites {}
