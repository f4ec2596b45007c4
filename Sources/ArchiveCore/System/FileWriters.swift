import CShims
import Foundation
import Synchronization
import SystemPackage
#if canImport(Glibc)
import Glibc
#endif

/// Somewhere bytes can be written: a file being made, or an inherited descriptor such as standard output.
public protocol ByteWriter: AnyObject {
    func write(_ bytes: UnsafeRawBufferPointer) throws
}

/// Writes to a descriptor the process already has open (standard output), retrying short writes.
public final class DescriptorWriter: ByteWriter {
    let descriptor: FileDescriptor
    let name: String

    public init(fd: Int32, name: String) {
        descriptor = FileDescriptor(rawValue: fd)
        self.name = name
    }

    public static var standardOutput: DescriptorWriter { DescriptorWriter(fd: STDOUT_FILENO, name: "standard output") }

    /// A pipe's buffer grown to 1 MiB (Linux's default limit for it) where it is smaller: a tar streamed through
    /// a pipe of 64 KiB wakes its reader and writer for every 64 KiB, which costs more CPU than the copy. Nothing
    /// happens for a file or a socket, or where the kernel refuses.
    public func growPipeBuffer() {
        if (try? FileStatus.of(descriptor))?.kind == .fifo { _ = s3a_grow_pipe(descriptor.rawValue, 1 << 20) }
    }

    /// True when the descriptor is a terminal, where binary data must not go.
    public var isTerminal: Bool { Terminal.isTerminal(descriptor.rawValue) }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(descriptor, bytes, name: name)
    }
}

func writeAll(_ descriptor: FileDescriptor, _ bytes: UnsafeRawBufferPointer, name: String) throws {
    do {
        _ = try descriptor.writeAll(bytes)
    } catch {
        throw LocalFileError(path: name, errno: error as? Errno ?? .ioError, action: "write", isInput: false)
    }
}

/// Writes a file under a temporary name beside its target and renames it into place only when complete,
/// so a half-written file never sits under the real name. The temporary file is private (0600) until it is
/// complete; it takes its mode (the one asked for, else 0666 less the umask) just before the rename.
public final class AtomicFileWriter: ByteWriter {
    public let path: String
    private let target: FilePath
    private let temporary: FilePath
    private let descriptor: FileDescriptor
    private var mode: UInt32?
    private var finished = false

    public convenience init(path: String, createDirectories: Bool = true) throws {
        try self.init(path: FilePath(path), createDirectories: createDirectories)
    }

    public init(path: FilePath, createDirectories: Bool = true) throws {
        self.path = path.displayString
        target = path
        var directory = path
        directory.removeLastComponent()
        if createDirectories, !directory.isEmpty {
            do { try Directory.create(directory) } catch {
                throw LocalFileError(path: directory, errno: error as? Errno ?? .ioError, action: "create the directory", isInput: false)
            }
        }
        let name = Array(path.bytes.split(separator: 0x2F, omittingEmptySubsequences: false).last ?? [])
        let suffix = Array(".tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))".utf8)
        let temporaryName = FilePath(bytes: [0x2E] + name + suffix)
        temporary = directory.isEmpty ? temporaryName : directory.appending(bytes: temporaryName.bytes)
        do {
            descriptor = try FileDescriptor.open(temporary, .writeOnly, options: [.create, .exclusiveCreate, .closeOnExec],
                                                 permissions: [.ownerReadWrite])
        } catch {
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "create", isInput: false)
        }
        TemporaryFiles.add(temporary)
    }

    deinit { discard() }

    public func write<Bytes: ContiguousBytes>(_ bytes: Bytes) throws {
        try bytes.withUnsafeBytes { try write($0) }
    }

    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        try writeAll(descriptor, bytes, name: path)
    }

    /// The file being written and the one under the real name now, which it will replace: the files a scan of
    /// the folder it is in (an archive of it) must leave out.
    public var ownFiles: [FileIdentity] {
        [try? FileStatus.of(descriptor), try? FileStatus.ifExists(target)].compactMap { $0?.identity }
    }

    /// The bytes written so far, read back (for checks that need a second look before the rename).
    public func readBack() throws -> FileReader { try FileReader(path: temporary, noFollow: true, name: path) }

    /// Sets permissions and modification time before the file takes its real name.
    public func setAttributes(mode: UInt32?, mtime: Double?) throws {
        if let mode { self.mode = mode }
        if let mtime {
            do { try FileAttributes.setTimes(descriptor, mtime: mtime) } catch {
                throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "set the modification time", isInput: false)
            }
        }
    }

    /// Drops the temporary file: nothing appears under the real name.
    public func discard() {
        guard !finished else { return }
        finished = true
        try? descriptor.close()
        try? FileOperations.remove(temporary)
        TemporaryFiles.remove(temporary)
    }

    /// Flushes to disk and gives the file its real name (and flushes the directory, so the name survives too).
    /// `durable: false` leaves both flushes to the caller (one checked `FileSystemHandle.flush` after many files).
    /// A failed flush, close or rename fails the file: its temporary is removed, nothing takes the real name.
    public func commit(durable: Bool = true) throws {
        precondition(!finished, "AtomicFileWriter: commit after discard or commit")
        do {
            try FileAttributes.setMode(descriptor, mode ?? (0o666 & ~FileAttributes.umask))
            if durable { try Errno.check { fsync(descriptor.rawValue) } }
        } catch {
            discard()
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: durable ? "flush to disk" : "set the mode", isInput: false)
        }
        finished = true
        defer { TemporaryFiles.remove(temporary) }
        do {
            // A failed close can be the first report of a failed write-back (NFS, quotas).
            try descriptor.close()
            try FileOperations.rename(temporary, to: target)
        } catch {
            try? FileOperations.remove(temporary)
            throw LocalFileError(path: path, errno: error as? Errno ?? .ioError, action: "put the file in place", isInput: false)
        }
        if durable {
            var directory = target
            directory.removeLastComponent()
            do { try Directory.sync(directory.isEmpty ? "." : directory) } catch {
                throw LocalFileError(path: directory, errno: error as? Errno ?? .ioError, action: "flush the directory", isInput: false)
            }
        }
    }
}

/// The temporary files of the writers still under way, so that an interrupted run (SIGINT, SIGTERM) can remove
/// them before it exits instead of leaving `.NAME.tmp-PID-N` files beside the real ones.
public enum TemporaryFiles {
    private static let live = Mutex<Set<FilePath>>([])

    static func add(_ path: FilePath) { _ = live.withLock { $0.insert(path) } }
    static func remove(_ path: FilePath) { _ = live.withLock { $0.remove(path) } }

    /// Removes every temporary file still under way; later writes to them fail, which no longer matters.
    public static func removeAll() {
        for path in live.withLock({ paths in defer { paths.removeAll() }; return paths }) {
            try? FileOperations.remove(path)
        }
    }
}
