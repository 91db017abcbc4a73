import Foundation
import PrivacyProtocol
import SwiftProtobuf

/// The proto files a server may describe through reflection: the files declaring the services it
/// hosts and everything they import, nothing more (a backend does not describe the gateway's API).
struct DescriptorIndex: Sendable {
  /// Fully qualified names of the hosted services, sorted.
  let services: [String]
  /// Each describable file, serialized as a `FileDescriptorProto`, by file name.
  private let files: [String: Data]
  /// Each file's direct imports, by file name.
  private let imports: [String: [String]]
  /// The file declaring each fully qualified symbol (message, field, enum, enum value, service,
  /// method).
  private let symbols: [String: String]
  /// Fully qualified names of the message types, for extension-number queries.
  private let messages: Set<String>

  /// - Parameter services: fully qualified names of the hosted services; each must be declared in
  ///   `ProtocolDescriptors` (a missing one is a programming error caught by the tests).
  init(services: [String]) {
    let set = Self.descriptorSet
    let byName = Dictionary(set.file.map { ($0.name, $0) }, uniquingKeysWith: { first, _ in first })
    let hosted = Set(services)

    // The files declaring hosted services, then their imports, transitively.
    var reachable = Set<String>()
    var pending = set.file.filter { file in file.service.contains { hosted.contains(Self.qualified(file.package, $0.name)) } }.map(\.name)
    while let name = pending.popLast() {
      guard reachable.insert(name).inserted, let file = byName[name] else { continue }
      pending.append(contentsOf: file.dependency)
    }

    var files: [String: Data] = [:]
    var imports: [String: [String]] = [:]
    var symbols: [String: String] = [:]
    var messages = Set<String>()
    for name in reachable {
      guard let file = byName[name], let bytes = try? file.serializedData() else { continue }
      files[name] = bytes
      imports[name] = file.dependency
      var collector = SymbolCollector(file: name)
      collector.add(messages: file.messageType, enums: file.enumType, scope: file.package)
      for service in file.service {
        let serviceName = Self.qualified(file.package, service.name)
        collector.symbols[serviceName] = name
        for method in service.method { collector.symbols[serviceName + "." + method.name] = name }
      }
      symbols.merge(collector.symbols) { first, _ in first }
      messages.formUnion(collector.messages)
    }
    self.services = hosted.sorted()
    self.files = files
    self.imports = imports
    self.symbols = symbols
    self.messages = messages
  }

  /// The file named, then every file it imports (transitively), serialized; nil when the server
  /// does not describe that file.
  func fileWithImports(named name: String) -> [Data]? {
    guard files[name] != nil else { return nil }
    var order: [String] = []
    var seen = Set<String>()
    var pending = [name]
    while !pending.isEmpty {
      let next = pending.removeFirst()
      guard seen.insert(next).inserted, files[next] != nil else { continue }
      order.append(next)
      pending.append(contentsOf: imports[next] ?? [])
    }
    return order.compactMap { files[$0] }
  }

  /// The file declaring a fully qualified symbol (a leading dot is allowed), with its imports.
  func fileWithImports(declaring symbol: String) -> [Data]? {
    let name = symbol.hasPrefix(".") ? String(symbol.dropFirst()) : symbol
    return symbols[name].flatMap { fileWithImports(named: $0) }
  }

  /// Every file's descriptor, decoded once per process on first use.
  private static let descriptorSet: Google_Protobuf_FileDescriptorSet = {
    guard
      let data = Data(base64Encoded: ProtocolDescriptors.fileDescriptorSetBase64),
      let set = try? Google_Protobuf_FileDescriptorSet(serializedBytes: data)
    else { preconditionFailure("ProtocolDescriptors holds no FileDescriptorSet: run Protocol/generate") }
    return set
  }()

  /// Whether a fully qualified name is a message type this server describes.
  func isMessage(_ name: String) -> Bool {
    messages.contains(name.hasPrefix(".") ? String(name.dropFirst()) : name)
  }

  static func qualified(_ scope: String, _ name: String) -> String {
    scope.isEmpty ? name : scope + "." + name
  }
}

/// Walks a file's nested messages and enums, recording each declared name.
private struct SymbolCollector {
  let file: String
  var symbols: [String: String] = [:]
  var messages = Set<String>()

  mutating func add(messages: [Google_Protobuf_DescriptorProto], enums: [Google_Protobuf_EnumDescriptorProto], scope: String) {
    for message in messages {
      let name = DescriptorIndex.qualified(scope, message.name)
      symbols[name] = file
      self.messages.insert(name)
      for field in message.field { symbols[name + "." + field.name] = file }
      for oneof in message.oneofDecl { symbols[name + "." + oneof.name] = file }
      add(messages: message.nestedType, enums: message.enumType, scope: name)
    }
    for enumeration in enums {
      symbols[DescriptorIndex.qualified(scope, enumeration.name)] = file
      // Enum values are scoped like their enum's siblings (C++ scoping rules).
      for value in enumeration.value { symbols[DescriptorIndex.qualified(scope, value.name)] = file }
    }
  }
}
