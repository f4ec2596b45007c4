import Foundation
import Synchronization

/// Multipart uploads under way in this process, so that SIGINT or SIGTERM can abort them before exiting.
public final class ActiveUploads: Sendable {
    private struct Upload {
        var store: ObjectStore
        var key: String
        var resumable: Bool
    }
    private let uploads = Mutex<[String: Upload]>([:])

    public init() {}

    func register(store: ObjectStore, key: String, uploadID: String, resumable: Bool) {
        uploads.withLock { $0[uploadID] = Upload(store: store, key: key, resumable: resumable) }
    }

    func unregister(_ uploadID: String) { _ = uploads.withLock { $0.removeValue(forKey: uploadID) } }

    /// Aborts every upload still registered (but those a later run could resume, when asked to keep them);
    /// returns how many were aborted. Each gets one quick attempt (short timeouts, no retries): an interrupted
    /// run must end within seconds, and an upload left behind is listed and aborted by `s3-put --abort-stale`.
    @discardableResult
    public func abortAll(catalog: Catalog?, keepingResumable: Bool = false) -> Int {
        let all = uploads.withLock { $0 }.filter { !(keepingResumable && $0.value.resumable) }
        return all.filter { id, upload in
            abortUpload(id, key: upload.key, url: nil, store: Self.quick(upload.store), catalog: catalog)
        }.count
    }

    /// The same bucket through a client that tries once and gives up after a few seconds.
    private static func quick(_ store: ObjectStore) -> ObjectStore {
        guard let s3 = store as? S3Store else { return store }
        var configuration = s3.client.configuration
        configuration.maxAttempts = 1
        configuration.http.connectTimeout = 3
        configuration.http.stallTimeout = 3
        configuration.http.sendLimit = nil
        return S3Store(client: S3Client(configuration), bucket: s3.bucket, customerKey: s3.customerKey)
    }
}

/// Aborts one multipart upload and tells the catalog only what is known: `aborted` once the store agreed, `ended`
/// when the store no longer knew the upload. When the store could not be asked (down, unreachable) the upload
/// stays in progress in the catalog, with a line in the operations log (outcome `abort_failed`), so that the
/// next run of the same command resumes or aborts it (`settleLeftoverUploads`) instead of leaving its parts
/// stored, billed and forgotten. True when the upload is no longer at the store.
@discardableResult
func abortUpload(_ uploadID: String, key: String, url: String?, store: ObjectStore, catalog: Catalog?) -> Bool {
    do {
        try store.abortMultipart(key, uploadID: uploadID)
        try? catalog?.uploadEnded(uploadID, state: "aborted")
        return true
    } catch let error as S3Error where error.code == "NoSuchUpload" {
        try? catalog?.uploadEnded(uploadID, state: "ended")
        return true
    } catch {
        try? catalog?.log(tool: "s3-put", action: "abort", url: url, outcome: "abort_failed",
                          message: "upload \(uploadID) at \(key): \(Failure.describing(error)): "
                            + "still in progress, for the next run to resume or abort")
        return false
    }
}
