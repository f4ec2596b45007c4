import Foundation
import SystemPackage

/// The local-directory implementation of `ObjectStore` (`file:///path`): a NAS, an external disk, a test.
/// Objects are plain files. What S3 would keep beside an object (its ETag, part size, class, metadata) lives in
/// a hidden sidecar `.NAME.s3meta.json`, so HEAD answers with the ETag S3 would give for the same upload.
/// Nothing here is encrypted: an SSE-C key is refused for writing (`Storage.open`: the bytes would be stored in
/// the clear) and ignored for reading (`OpenStores`), so records mixing s3:// and file:// URLs still verify.
public struct LocalStore: ObjectStore {
    public let root: String

    public init(root: String) { self.root = root.hasSuffix("/") ? root : root + "/" }

    public var location: String { "file://\(root)" }

    struct Sidecar: Codable {
        var size: Int
        var etag: String
        var storageClass: String
        var metadata: [String: String]
        var modified: Double
    }

    func path(_ key: String) -> String { root + key }

    func sidecarPath(_ key: String) -> String {
        let p = path(key)
        return Paths.parent(p) + "/." + Paths.name(p) + ".s3meta.json"
    }

    func uploadDirectory(_ key: String, _ uploadID: String) -> String {
        let p = path(key)
        return Paths.parent(p) + "/." + Paths.name(p) + ".upload-" + uploadID
    }

    /// The directory a prefix lists: itself when it ends in `/`, else its parent; without a trailing slash.
    func folder(containing prefix: String) -> String {
        let base = path(prefix)
        let directory = base.hasSuffix("/") ? String(base.dropLast()) : Paths.parent(base)
        return directory.isEmpty ? "/" : directory
    }

    public func checkWritable() throws {
        var directory = root
        while !FileManager.default.fileExists(atPath: directory) { directory = Paths.parent(directory) }
        guard FileManager.default.isWritableFile(atPath: directory) else {
            throw Failure(.noPermission, "\(directory): not writable: check the directory's permissions")
        }
    }

    public func head(_ key: String) throws -> ObjectInfo? {
        let reader: FileReader
        do { reader = try FileReader(path: path(key)) } catch let error as LocalFileError where error.errno == .noSuchFileOrDirectory {
            return nil
        }
        let size = reader.size ?? 0
        let modified = reader.modified?.timeIntervalSince1970 ?? 0
        if let data = FileManager.default.contents(atPath: sidecarPath(key)),
           let sidecar = try? JSONDecoder().decode(Sidecar.self, from: data),
           sidecar.size == size, sidecar.modified == modified {
            // A directory never freezes its files: whatever class was asked for, the bytes are readable.
            return ObjectInfo(key: key, size: size, etag: sidecar.etag, storageClass: sidecar.storageClass,
                              lastModified: reader.modified, metadata: sidecar.metadata,
                              restore: "ongoing-request=\"false\"")
        }
        // No record of how it was written: it is what a single PUT of these bytes would be.
        let etag = try ETag.compute(reader, layout: PartLayout(partSize: max(size, 1)))
        return ObjectInfo(key: key, size: size, etag: etag, lastModified: reader.modified)
    }

    /// Files are stored whole: what s3-put wrote in parts, its sidecar records the layout of.
    public func firstPart(_ key: String) throws -> FirstPart? { nil }

    public func put(_ key: String, body: ArraySlice<UInt8>, md5: [UInt8], checksum: CRC64NVME?, options: ObjectOptions,
                    ifAbsent: Bool) throws -> WrittenObject {
        if ifAbsent { try refuseIfTaken(key) }
        let writer = try AtomicFileWriter(path: path(key))
        try writer.write(body)
        try writer.commit()
        let etag = md5.hex
        try writeSidecar(key, etag: etag, options: options)
        return WrittenObject(etag: etag)
    }

    /// A conditional write's check. A directory has no atomic "create unless present" for a rename, so a
    /// writer racing this one between the check and the rename still wins; s3-put's own runs never race here
    /// (the catalog serialises them), other writers are the directory owner's business.
    private func refuseIfTaken(_ key: String) throws {
        guard FileManager.default.fileExists(atPath: path(key)) else { return }
        throw WriteNotApplied(.keyTaken, afterLostAnswer: false,
                              underlying: Failure(.objectExists, "\(url(of: key)): an object is already there"))
    }

    public func delete(_ key: String, versionID: String?) throws {
        for file in [path(key), sidecarPath(key)] where FileManager.default.fileExists(atPath: file) {
            do { try FileManager.default.removeItem(atPath: file) } catch {
                throw Failure(.ioError, "\(file): cannot delete: \(Failure.describing(error))")
            }
        }
    }

    public func startMultipart(_ key: String, options: ObjectOptions) throws -> String {
        let id = UUID().uuidString.lowercased()
        let directory = uploadDirectory(key, id)
        do {
            try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let data = try JSONEncoder().encode(Sidecar(size: 0, etag: "", storageClass: options.storageClass ?? "STANDARD",
                                                        metadata: options.metadata, modified: 0))
            try data.write(to: URL(fileURLWithPath: directory + "/options.json"))
        } catch {
            throw Failure(.ioError, "\(directory): cannot create the upload directory: \(error.localizedDescription)")
        }
        return id
    }

    public func putPart(_ key: String, uploadID: String, number: Int, body: ArraySlice<UInt8>, md5: [UInt8],
                        checksum: CRC64NVME?) throws -> WrittenObject {
        let writer = try AtomicFileWriter(path: uploadDirectory(key, uploadID) + String(format: "/part-%05d", number),
                                          createDirectories: false)
        try writer.write(body)
        try writer.commit()
        return WrittenObject(etag: md5.hex)
    }

    public func completeMultipart(_ key: String, uploadID: String, parts: [(number: Int, etag: String)],
                                  checksum: CRC64NVME?, ifAbsent: Bool) throws -> WrittenObject {
        if ifAbsent { try refuseIfTaken(key) }
        let directory = uploadDirectory(key, uploadID)
        let writer = try AtomicFileWriter(path: path(key))
        var digests: [UInt8] = []
        var buffer: [UInt8] = []
        for part in parts {
            let reader = try FileReader(path: directory + String(format: "/part-%05d", part.number))
            let count = try reader.read(into: &buffer, count: reader.size ?? 0)
            try writer.write(buffer[..<count])
            digests += ETag.bytes(ofHex: part.etag)
        }
        try writer.commit()
        let etag = Digest.md5(digests).hex + "-\(parts.count)"
        let options = (FileManager.default.contents(atPath: directory + "/options.json"))
            .flatMap { try? JSONDecoder().decode(Sidecar.self, from: $0) }
        try writeSidecar(key, etag: etag, options: ObjectOptions(storageClass: options?.storageClass,
                                                                 metadata: options?.metadata ?? [:]))
        try? FileManager.default.removeItem(atPath: directory)
        return WrittenObject(etag: etag)
    }

    public func abortMultipart(_ key: String, uploadID: String) throws {
        try? FileManager.default.removeItem(atPath: uploadDirectory(key, uploadID))
    }

    public func listParts(_ key: String, uploadID: String) throws -> [StoredPart]? {
        let directory = uploadDirectory(key, uploadID)
        guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else { return nil }
        return try names.filter { $0.hasPrefix("part-") }.sorted().map { name in
            let reader = try FileReader(path: directory + "/" + name)
            let etag = try ETag.compute(reader, layout: PartLayout(partSize: max(reader.size ?? 0, 1)))
            return StoredPart(number: Int(name.dropFirst("part-".count)) ?? 0, etag: etag, size: reader.size ?? 0)
        }
    }

    /// Unfinished uploads are the hidden `.NAME.upload-ID` folders beside where their objects will be.
    public func listUploads(prefix: String) throws -> [PendingUpload] {
        let directory = folder(containing: prefix)
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var uploads: [PendingUpload] = []
        while let relative = walker.nextObject() as? String {
            let name = Paths.name(relative)
            guard name.hasPrefix("."), let marker = name.range(of: ".upload-") else { continue }
            let objectName = String(name[name.index(after: name.startIndex)..<marker.lowerBound])
            let folder = Paths.parent(relative)
            let fullPath = directory + "/" + (folder.isEmpty ? "" : folder + "/") + objectName
            let key = String(fullPath.dropFirst(root.count))
            guard key.hasPrefix(prefix) || prefix.isEmpty else { continue }
            let created = (try? FileManager.default.attributesOfItem(atPath: directory + "/" + relative)[.creationDate] as? Date)
                ?? (try? FileManager.default.attributesOfItem(atPath: directory + "/" + relative)[.modificationDate] as? Date)
            uploads.append(PendingUpload(key: key, uploadID: String(name[marker.upperBound...]), initiated: created ?? Date()))
            walker.skipDescendants()
        }
        return uploads
    }

    public func get(_ key: String, range: ClosedRange<Int>?) throws -> [UInt8] {
        let reader = try FileReader(path: path(key))
        var buffer: [UInt8] = []
        let start = range?.lowerBound ?? 0
        let count = range.map { $0.count } ?? (reader.size ?? 0)
        let n = try reader.read(into: &buffer, count: count, at: start)
        return Array(buffer[..<n])
    }

    /// A local file is read in one go, never resumed: `ifMatch` has nothing to guard.
    public func download(_ key: String, range: ClosedRange<Int>?, ifMatch: String?,
                         receive: @escaping (UnsafeRawBufferPointer) throws -> Void) throws {
        let reader = try FileReader(path: path(key))
        var offset = range?.lowerBound ?? 0
        let end = range.map { $0.upperBound + 1 } ?? (reader.size ?? 0)
        var buffer: [UInt8] = []
        while offset < end {
            let n = try reader.read(into: &buffer, count: min(4 << 20, end - offset), at: offset)
            if n == 0 { break }
            try buffer[..<n].withUnsafeBytes { try receive($0) }
            offset += n
        }
    }

    /// Objects are the regular files under the prefix, less the store's own hidden sidecars and uploads.
    public func list(prefix: String) throws -> [ObjectInfo] {
        let directory = folder(containing: prefix)
        guard let walker = FileManager.default.enumerator(atPath: directory) else { return [] }
        var objects: [ObjectInfo] = []
        while let relative = walker.nextObject() as? String {
            let name = Paths.name(relative)
            if name.hasPrefix(".") && (name.hasSuffix(".s3meta.json") || name.contains(".upload-") || name.contains(".tmp-")) {
                walker.skipDescendants()
                continue
            }
            guard walker.fileAttributes?[.type] as? FileAttributeType == .typeRegular else { continue }
            let key = String((directory + "/" + relative).dropFirst(root.count))
            guard key.hasPrefix(prefix) else { continue }
            if let info = try head(key) { objects.append(info) }
        }
        return objects.sorted { $0.key < $1.key }
    }

    /// Nothing in a directory is ever cold.
    public func requestRestore(_ key: String, days: Int, tier: String) throws {}

    private func writeSidecar(_ key: String, etag: String, options: ObjectOptions) throws {
        let reader = try FileReader(path: path(key))
        let sidecar = Sidecar(size: reader.size ?? 0, etag: etag, storageClass: options.storageClass ?? "STANDARD",
                              metadata: options.metadata, modified: reader.modified?.timeIntervalSince1970 ?? 0)
        let writer = try AtomicFileWriter(path: sidecarPath(key))
        try writer.write(try JSONEncoder().encode(sidecar))
        try writer.commit()
    }
}
