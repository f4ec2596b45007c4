import Foundation

extension ArchiveIndex {
    /// The bytes of the index stored at `key` (the archive's key + `.index.json`), checked against what the store
    /// keeps of them before any path in them is trusted: the CRC64NVME it stores, else the MD5 a single PUT's
    /// ETag is. A difference throws a data error naming `archiveURL`'s index and, after it, `consequence` (what the
    /// caller does not do with it).
    public static func fetchChecked(_ key: String, in store: ObjectStore, archiveURL: String,
                                    consequence: String) throws -> [UInt8] {
        let bytes = try store.get(key, range: nil)
        guard let info = try store.head(key) else { return bytes }
        let problem: String?
        if info.size != bytes.count {
            problem = "\(bytes.count) bytes read, the store holds \(info.size)"
        } else if let stored = info.fullObjectCRC64NVME {
            let read = CRC64NVME.checksum(bytes).value
            problem = read == stored ? nil : "its CRC64NVME is \(String(read, radix: 16)), the store keeps \(String(stored, radix: 16))"
        } else if info.etagIsMD5, ETag.partCount(info.etag) == nil {
            let read = Digest.md5(bytes).hex
            problem = read == info.etag ? nil : "its MD5 is \(read), the store's ETag \(info.etag)"
        } else {
            problem = nil
        }
        if let problem {
            throw Failure(.dataError, "\(archiveURL).index.json: the index read is not the index stored (\(problem)): \(consequence)")
        }
        return bytes
    }
}
