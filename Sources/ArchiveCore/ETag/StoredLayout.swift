import Foundation

/// The first part of a multipart object, as a server answers `HEAD ?partNumber=1`.
public struct FirstPart: Sendable, Equatable {
    public var length: Int
    /// The server's `x-amz-mp-parts-count`; nil when it does not say (then it did not read the part number).
    public var partsCount: Int?

    public init(length: Int, partsCount: Int?) {
        self.length = length
        self.partsCount = partsCount
    }
}

/// The server's account of an object's parts contradicts its ETag: the part size is unknown, and is not guessed.
public struct PartLayoutConflict: ReportableError {
    public let url: String
    public let etagParts: Int
    public let firstPart: FirstPart
    public let size: Int

    public var exitStatus: ExitStatus { .dataError }
    public var description: String {
        "\(url): the server says part 1 is \(firstPart.length) bytes of \(firstPart.partsCount ?? 0) parts, "
            + "but the ETag has \(etagParts) parts over \(size) bytes: its part size is unknown; report it to the store's operator"
    }
}

extension ObjectStore {
    /// The part layout that gives `info`'s ETag, known without reading a byte: the one s3-put recorded in the
    /// object's metadata, a single part, or for other clients' multipart uploads the server's first part
    /// (`HEAD ?partNumber=1`), every part but the last being of its size. Nil when the server does not answer
    /// part numbers (only trying part sizes can tell then); throws `PartLayoutConflict` when its answer does not
    /// fit the ETag's part count.
    public func partLayout(of info: ObjectInfo) throws -> PartLayout? {
        if let layout = info.recordedLayout { return layout }
        guard let count = ETag.partCount(info.etag) else { return PartLayout(partSize: max(info.size, 1)) }
        guard let first = try firstPart(info.key), first.partsCount != nil else { return nil }
        guard let layout = PartLayout(first, size: info.size, etagParts: count) else {
            throw PartLayoutConflict(url: url(of: info.key), etagParts: count, firstPart: first, size: info.size)
        }
        return layout
    }
}

extension PartLayout {
    /// Parts all of the first one's size but the last, as every common client cuts them; nil unless that gives
    /// the ETag's and the server's parts count over `size` bytes.
    public init?(_ first: FirstPart, size: Int, etagParts: Int) {
        guard first.length > 0, first.partsCount == etagParts else { return nil }
        self.init(partSize: first.length)
        guard parts(total: size).count == etagParts else { return nil }
    }
}
