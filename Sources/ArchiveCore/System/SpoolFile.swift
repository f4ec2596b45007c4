import Foundation
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Bytes kept on disk instead of in memory: a part too large for its share of s3-put's memory budget. The file
/// has no name (`O_TMPFILE`, or created and unlinked at once where that is unsupported) and mode 0600, so no
/// other user can read it and nothing is left behind however the process ends. Filled once by `make`, then
/// only read (by positioned reads, so a retried request reads it again from the start).
public final class SpoolFile: Sendable {
    /// How many bytes it holds.
    public let count: Int
    private let descriptor: FileDescriptor

    private init(descriptor: FileDescriptor, count: Int) {
        self.descriptor = descriptor
        self.count = count
    }

    deinit { try? descriptor.close() }

    /// A new spool in `directory` (default `$TMPDIR`, else /tmp), filled by `fill`, which is handed the
    /// function that appends bytes.
    public static func make(in directory: String? = nil,
                            fill: (_ append: (ArraySlice<UInt8>) throws -> Void) throws -> Void) throws -> SpoolFile {
        let folder = directory ?? ProcessInfo.processInfo.environment["TMPDIR"].flatMap { $0.isEmpty ? nil : $0 } ?? "/tmp"
        let descriptor = try createUnnamed(in: folder)
        var count = 0
        do {
            try fill { bytes in
                _ = try descriptor.writeAll(toAbsoluteOffset: Int64(count), bytes)
                count += bytes.count
            }
        } catch let error as Errno {
            try? descriptor.close()
            throw SpoolFileError(folder: folder, action: "write a temporary file in", errno: error)
        } catch {
            try? descriptor.close()
            throw error
        }
        return SpoolFile(descriptor: descriptor, count: count)
    }

    /// Fills `buffer` from `offset` on (fewer bytes only at the end); returns how many it holds.
    public func read(into buffer: UnsafeMutableRawBufferPointer, at offset: Int) throws -> Int {
        var filled = 0
        while filled < buffer.count, offset + filled < count {
            let rest = UnsafeMutableRawBufferPointer(rebasing: buffer[filled...])
            let n = try descriptor.read(fromAbsoluteOffset: Int64(offset + filled), into: rest, retryOnInterrupt: true)
            if n == 0 { break }
            filled += n
        }
        return filled
    }

    /// Every byte, in memory (for a store that takes parts only as bytes).
    public func readAll() throws -> [UInt8] {
        var bytes = [UInt8](repeating: 0, count: count)
        let n = try bytes.withUnsafeMutableBytes { try read(into: $0, at: 0) }
        guard n == count else { throw SpoolFileError(folder: "a temporary file", action: "read", errno: .ioError) }
        return bytes
    }

    /// `O_TMPFILE` (Linux ≥ 3.11 on most file systems); where the kernel or file system refuses it, a named
    /// file from mkstemp, unlinked at once.
    private static func createUnnamed(in folder: String) throws -> FileDescriptor {
        // Glibc does not export O_TMPFILE to Swift: it is __O_TMPFILE | O_DIRECTORY, __O_TMPFILE 0o20000000.
        let tmpfile = FileDescriptor.OpenOptions(rawValue: 0o20000000 | O_DIRECTORY)
        do {
            return try FileDescriptor.open(FilePath(folder), .readWrite, options: [tmpfile, .closeOnExec],
                                           permissions: [.ownerRead, .ownerWrite], retryOnInterrupt: true)
        } catch let error as Errno where [.invalidArgument, .notSupported, .isDirectory, .noSuchFileOrDirectory].contains(error) {
            if error == .noSuchFileOrDirectory {
                throw SpoolFileError(folder: folder, action: "create a temporary file in", errno: error)
            }
        } catch let error as Errno {
            throw SpoolFileError(folder: folder, action: "create a temporary file in", errno: error)
        }
        var template = Array((folder + "/s3a-spool.XXXXXX").utf8CString)
        // mkstemp creates the file 0600.
        let fd = template.withUnsafeMutableBufferPointer { mkstemp($0.baseAddress!) }
        guard fd >= 0 else {
            throw SpoolFileError(folder: folder, action: "create a temporary file in", errno: Errno(rawValue: errno))
        }
        let name = template.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
        unlink(name)
        return FileDescriptor(rawValue: fd)
    }
}

/// A temporary file that could not be made or written: the folder, and what to do about it.
public struct SpoolFileError: ReportableError {
    public let folder: String
    public let action: String
    public let errno: Errno
    public var exitStatus: ExitStatus { .ioError }
    public var description: String {
        "\(folder): cannot \(action) it (\(errno)): set TMPDIR to a writable folder with room for a few parts, or raise --memory"
    }
}
