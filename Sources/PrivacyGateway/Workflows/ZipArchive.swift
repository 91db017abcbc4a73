import Foundation
import ZIPFoundation

/// A zip archive built in memory (nothing touches the disk: the content is personal data).
enum ZipArchive {
  struct File {
    var name: String
    var data: Data
  }

  /// Deflated entries, in the order given, all dated `modifiedAt`.
  static func build(_ files: [File], modifiedAt: Date) throws -> Data {
    let archive = try Archive(data: Data(), accessMode: .create)
    for file in files {
      let data = file.data
      try archive.addEntry(
        with: file.name, type: .file, uncompressedSize: Int64(data.count), modificationDate: modifiedAt,
        compressionMethod: .deflate
      ) { position, size in
        let start = data.startIndex + Int(position)
        return data.subdata(in: start..<min(start + size, data.endIndex))
      }
    }
    guard let data = archive.data else { throw ZipBuildFailed() }
    return data
  }

  struct ZipBuildFailed: Error {}
}
