// Helpers for ArchiveTests: a generated session tree with every kind of entry s3-archive must keep, a snapshot of
// a tree taken with readdir/lstat (names as raw bytes, so that an NFC and an NFD name stay two names), the
// comparison of two snapshots, and the index read as plain JSON (not through ArchiveCore's own type).

import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// A path as raw bytes: the key of every map here. Swift's String equality is canonical equivalence, under which
/// "café" (NFC) and "café" (NFD) are equal, while on disk and in a tar they are two different names.
typealias PathBytes = [UInt8]

func bytes(_ text: String) -> PathBytes { Array(text.utf8) }
func text(_ path: PathBytes) -> String { String(decoding: path, as: UTF8.self) }

/// `a/b` from a parent (possibly "") and a name.
func join(_ parent: PathBytes, _ name: PathBytes) -> PathBytes {
    parent.isEmpty ? name : parent + [UInt8(ascii: "/")] + name
}

// MARK: - Snapshots

/// One entry of a tree, as lstat and readlink see it.
struct TreeItem {
    enum Kind: String { case file, directory, symlink, other }
    var kind: Kind
    /// Permission bits with set-user-ID, set-group-ID and sticky.
    var mode: UInt32
    var size: Int
    var mtimeSeconds: Int
    var mtimeNanoseconds: Int
    var device: UInt64
    var inode: UInt64
    var linkCount: Int
    var target: PathBytes?

    var mtime: Double { Double(mtimeSeconds) + Double(mtimeNanoseconds) / 1e9 }
}

/// A tree under `root`, walked depth first with each directory's names in byte order — the order the man page
/// gives for the archive — each path relative to `root`, "" being `root` itself.
struct TreeSnapshot {
    let root: String
    /// "" first, then depth first, byte order, each directory followed at once by its contents.
    var order: [PathBytes] = []
    var items: [PathBytes: TreeItem] = [:]

    /// The root's exact bytes (a folder named in Latin-1 too).
    let rootBytes: PathBytes

    init(_ root: String) throws {
        try self.init(bytes: bytes(root))
    }

    init(bytes root: PathBytes) throws {
        self.root = text(root)
        rootBytes = root
        try visit([])
    }

    func absolute(_ relative: PathBytes) -> String {
        relative.isEmpty ? root : root + "/" + text(relative)
    }

    /// The absolute path as bytes: exact for names that are not UTF-8.
    func absoluteBytes(_ relative: PathBytes) -> PathBytes {
        relative.isEmpty ? rootBytes : join(rootBytes, relative)
    }

    private mutating func visit(_ relative: PathBytes) throws {
        let item = try lstatItem(absoluteBytes(relative))
        order.append(relative)
        items[relative] = item
        guard item.kind == .directory else { return }
        for name in try directoryNames(absoluteBytes(relative)).sorted(by: { $0.lexicographicallyPrecedes($1) }) {
            try visit(join(relative, name))
        }
    }

    /// The contents of a regular file.
    func contents(_ relative: PathBytes) -> Data? {
        readFile(absoluteBytes(relative))
    }
}

struct TreeError: Error, CustomStringConvertible {
    let description: String
}

/// Calls `body` with `path` as a NUL-terminated C string, byte for byte.
func withCPath<T>(_ path: PathBytes, _ body: (UnsafePointer<CChar>) throws -> T) rethrows -> T {
    try (path + [0]).withUnsafeBufferPointer { buffer in
        try buffer.withMemoryRebound(to: CChar.self) { try body($0.baseAddress!) }
    }
}

/// A whole file read by its exact path bytes, or nil when it cannot be opened.
func readFile(_ path: PathBytes) -> Data? {
    let fd = withCPath(path) { open($0, O_RDONLY) }
    guard fd >= 0 else { return nil }
    defer { close(fd) }
    var data = Data()
    var buffer = [UInt8](repeating: 0, count: 1 << 16)
    while true {
        let n = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
        if n <= 0 { return n == 0 ? data : nil }
        data.append(contentsOf: buffer[..<n])
    }
}

func lstatItem(_ path: String) throws -> TreeItem { try lstatItem(bytes(path)) }

func lstatItem(_ pathBytes: PathBytes) throws -> TreeItem {
    var info = stat()
    let path = text(pathBytes)
    guard withCPath(pathBytes, { lstat($0, &info) }) == 0 else { throw TreeError(description: "lstat \(path): \(String(cString: strerror(errno)))") }
    let kind: TreeItem.Kind
    var target: PathBytes?
    switch info.st_mode & S_IFMT {
    case S_IFREG: kind = .file
    case S_IFDIR: kind = .directory
    case S_IFLNK:
        kind = .symlink
        var buffer = [UInt8](repeating: 0, count: 4097)
        let n = buffer.withUnsafeMutableBytes { raw in
            withCPath(pathBytes) { readlink($0, raw.baseAddress!.assumingMemoryBound(to: CChar.self), 4096) }
        }
        guard n >= 0 else { throw TreeError(description: "readlink \(path): \(String(cString: strerror(errno)))") }
        target = Array(buffer[..<n])
    default: kind = .other
    }
    return TreeItem(kind: kind, mode: UInt32(info.st_mode) & 0o7777, size: Int(info.st_size),
                    mtimeSeconds: Int(info.st_mtim.tv_sec), mtimeNanoseconds: Int(info.st_mtim.tv_nsec),
                    device: UInt64(info.st_dev), inode: UInt64(info.st_ino), linkCount: Int(info.st_nlink),
                    target: target)
}

/// The names in a directory, as raw bytes, without "." and "..".
func directoryNames(_ path: String) throws -> [PathBytes] { try directoryNames(bytes(path)) }

func directoryNames(_ pathBytes: PathBytes) throws -> [PathBytes] {
    let path = text(pathBytes)
    guard let handle = withCPath(pathBytes, { opendir($0) }) else {
        throw TreeError(description: "opendir \(path): \(String(cString: strerror(errno)))")
    }
    defer { closedir(handle) }
    var names: [PathBytes] = []
    while let entry = readdir(handle) {
        let name = withUnsafeBytes(of: entry.pointee.d_name) { Array($0.prefix { $0 != 0 }) }
        if name == [46] || name == [46, 46] { continue }
        names.append(name)
    }
    return names
}

/// Compares an extracted tree with its source: the same paths, kinds, file bytes, symlink targets, hard links
/// (one inode), permission bits (all of them when root extracted, else the low nine), and, for files and
/// directories, the mtime to the second.
func assertSameTree(_ extracted: TreeSnapshot, _ source: TreeSnapshot, _ label: String,
                    file: StaticString = #filePath, line: UInt = #line) {
    let have = Set(extracted.items.keys), want = Set(source.items.keys)
    let missing = want.subtracting(have).map(text).sorted()
    let extra = have.subtracting(want).map(text).sorted()
    XCTAssertEqual(missing, [], "\(label): missing after extraction", file: file, line: line)
    XCTAssertEqual(extra, [], "\(label): extra after extraction", file: file, line: line)
    let modeMask: UInt32 = getuid() == 0 ? 0o7777 : 0o777
    for path in source.order {
        guard let s = source.items[path], let x = extracted.items[path] else { continue }
        let name = "\(label): '\(text(path))'"
        XCTAssertEqual(x.kind, s.kind, "\(name): kind", file: file, line: line)
        guard x.kind == s.kind else { continue }
        switch s.kind {
        case .file:
            XCTAssertEqual(x.size, s.size, "\(name): size", file: file, line: line)
            XCTAssertTrue(extracted.contents(path) == source.contents(path), "\(name): bytes differ", file: file, line: line)
        case .symlink:
            XCTAssertEqual(x.target.map(text), s.target.map(text), "\(name): link target", file: file, line: line)
            XCTAssertEqual(x.target, s.target, "\(name): link target bytes", file: file, line: line)
        case .directory, .other:
            break
        }
        if s.kind == .file || s.kind == .directory {
            XCTAssertEqual(String(x.mode & modeMask, radix: 8), String(s.mode & modeMask, radix: 8), "\(name): mode",
                           file: file, line: line)
            XCTAssertEqual(x.mtimeSeconds, s.mtimeSeconds, "\(name): mtime (seconds)", file: file, line: line)
        }
    }
    // Hard links: the names that share an inode in the source share one in the extracted tree.
    var groups: [String: [PathBytes]] = [:]
    for path in source.order {
        if let s = source.items[path], s.kind == .file, s.linkCount > 1 { groups["\(s.device):\(s.inode)", default: []].append(path) }
    }
    for names in groups.values where names.count > 1 {
        let inodes = Set(names.compactMap { extracted.items[$0].map { "\($0.device):\($0.inode)" } })
        XCTAssertEqual(inodes.count, 1, "\(label): \(names.map(text)) are hard links in the source but not once extracted",
                       file: file, line: line)
    }
}

// MARK: - The session tree

/// Builds session trees on disk.
enum SessionTree {
    /// A 120-byte directory name, and a 110-byte file name: a path of more than 255 bytes under two of them.
    static let longDirectory1 = "long_directory_one_" + String(repeating: "d", count: 101)
    static let longDirectory2 = "long_directory_two_" + String(repeating: "e", count: 101)
    static let longFileName = "deep_file_" + String(repeating: "f", count: 95) + ".fits"
    static var deepFile: String { "\(longDirectory1)/\(longDirectory2)/\(longFileName)" }
    /// A 155-byte name at the top: longer than a ustar name field.
    static let longTopName = "observation_" + String(repeating: "n", count: 138) + ".fits"
    /// The first name of the hard-link pair, 115 bytes, so the second one's link target is longer than 100 bytes.
    static let hardLinkFirst = String(repeating: "a", count: 111) + ".bin"

    /// The tree every archive test starts from, at `root` (which must not exist yet). `bigSizes` are the sizes of
    /// data/raw1.fits, raw2.fits, raw3.fits (random bytes).
    static func makeRich(at root: String, bigSizes: [Int] = [3 * MiB / 2, 3 * MiB + 17, 6 * MiB + 5]) throws {
        let fm = FileManager.default
        func dir(_ relative: String, mode: Int = 0o755) throws {
            try fm.createDirectory(atPath: root + "/" + relative, withIntermediateDirectories: true)
            try chmodOrThrow(root + "/" + relative, mode)
        }
        func write(_ relative: String, _ data: Data, mode: Int = 0o644) throws {
            guard fm.createFile(atPath: root + "/" + relative, contents: data) else {
                throw TreeError(description: "cannot create \(root)/\(relative)")
            }
            try chmodOrThrow(root + "/" + relative, mode)
        }
        func random(_ relative: String, _ size: Int, mode: Int = 0o644) throws {
            try makeRandomFile(root + "/" + relative, size: size)
            try chmodOrThrow(root + "/" + relative, mode)
        }
        func symlink(_ relative: String, to target: String) throws {
            guard Glibc.symlink(target, root + "/" + relative) == 0 else {
                throw TreeError(description: "symlink \(relative): \(String(cString: strerror(errno)))")
            }
        }

        try dir("")
        try write("README with spaces.txt", Data("A session of test observations.\n".utf8))
        try write("empty.dat", Data())
        try dir("empty dir")
        try dir("empty")
        try random("private.key", 100, mode: 0o600)
        try write("run.sh", Data("#!/bin/sh\necho reduce\n".utf8), mode: 0o755)
        try write("setuid-tool", Data("not really a tool\n".utf8), mode: 0o4755)
        try random(longTopName, 2_000)
        try dir("\(longDirectory1)/\(longDirectory2)")
        try random(deepFile, 5_000)
        try dir("data")
        for (index, size) in bigSizes.enumerated() { try random("data/raw\(index + 1).fits", size) }
        try dir("unicode")
        try write("unicode/caf\u{E9}.txt", Data("NFC\n".utf8))
        try dir("unicode/日本")
        try random("unicode/日本/観測データ.fits", 4_321)
        try random("unicode/🔭 telescope.bin", 777)
        try dir("links")
        try symlink("links/relative", to: "../data/raw1.fits")
        try symlink("links/dangling", to: "../nowhere/at all")
        try symlink("links/long-target", to: "../" + deepFile)
        try dir("hard")
        try random("hard/\(hardLinkFirst)", 3_000)
        guard link(root + "/hard/\(hardLinkFirst)", root + "/hard/b.bin") == 0 else {
            throw TreeError(description: "link: \(String(cString: strerror(errno)))")
        }
        try dir("private", mode: 0o700)
        try write("private/inner.txt", Data("inside a 0700 directory\n".utf8))
        // For --exclude '*.tmp': a file at the top, one deeper, and a directory with something in it.
        try write("notes.tmp", Data("scratch\n".utf8))
        try write("data/scratch.tmp", Data("scratch\n".utf8))
        try dir("cache.tmp")
        try write("cache.tmp/inside.bin", Data("cached\n".utf8))

        try setDistinctMtimes(root)
    }

    /// Gives every entry under `root` (and `root`) its own mtime, with a fraction of a second: children first, so
    /// that nothing changes a directory's mtime after it is set.
    static func setDistinctMtimes(_ root: String, base: Int = 1_500_000_000) throws {
        let snapshot = try TreeSnapshot(root)
        for (position, relative) in snapshot.order.enumerated().reversed() {
            let seconds = base + position * 86_400 + 17
            let nanoseconds = (position * 123_456_789 + 250_000_000) % 1_000_000_000
            try setMtime(snapshot.absolute(relative), seconds: seconds, nanoseconds: nanoseconds)
        }
    }
}

func chmodOrThrow(_ path: String, _ mode: Int) throws {
    guard chmod(path, mode_t(mode)) == 0 else {
        throw TreeError(description: "chmod \(path): \(String(cString: strerror(errno)))")
    }
}

func setMtime(_ path: String, seconds: Int, nanoseconds: Int) throws {
    var times = [timespec(tv_sec: seconds, tv_nsec: nanoseconds), timespec(tv_sec: seconds, tv_nsec: nanoseconds)]
    guard utimensat(AT_FDCWD, path, &times, AT_SYMLINK_NOFOLLOW) == 0 else {
        throw TreeError(description: "utimensat \(path): \(String(cString: strerror(errno)))")
    }
}

// MARK: - The index, as plain JSON

/// An index read with JSONSerialization: what is on disk, not what ArchiveCore's decoder would accept.
struct IndexFile {
    let object: [String: Any]
    let raw: Data

    init(path: String) throws {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TreeError(description: "\(path): no index")
        }
        raw = data
        guard let object = try JSONSerialization.jsonObject(with: data) as? [String: Any] else {
            throw TreeError(description: "\(path): not a JSON object")
        }
        self.object = object
    }

    var entries: [[String: Any]] { object["entries"] as? [[String: Any]] ?? [] }
    var paths: [PathBytes] { entries.map { bytes($0["path"] as? String ?? "?") } }
    var session: String? { object["session"] as? String }
    var archiveSize: Int? { ((object["archive"] as? [String: Any])?["size"] as? NSNumber)?.intValue }
    /// Only in indexes written before the tar's SHA-256 was dropped (a test writes such an index).
    var archiveSHA256: String? { (object["archive"] as? [String: Any])?["sha256"] as? String }
    var archiveCRC64NVME: String? { (object["archive"] as? [String: Any])?["crc64nvme"] as? String }
}

extension EndToEndCase {
    /// awscrt's CRC64NVME of a file, base64 of the big-endian bytes as S3 writes it: the independent reference.
    func awscrtChecksum(_ path: String) throws -> String? {
        let script = """
            import base64, sys
            from awscrt import checksums
            crc = 0
            with open(sys.argv[1], 'rb') as f:
                for chunk in iter(lambda: f.read(1 << 20), b''):
                    crc = checksums.crc64nvme(chunk, crc)
            print(base64.b64encode(crc.to_bytes(8, 'big')).decode())
            """
        let result = try runProcess(which("python3") ?? "/usr/bin/python3", ["-c", script, path],
                                    environment: env.processEnvironment(), timeout: 120)
        XCTAssertEqual(result.status, 0, "awscrt is missing? run bin/setup: \(result.summary)")
        return result.lines.first
    }
}

extension Dictionary where Key == String, Value == Any {
    func int(_ key: String) -> Int? { (self[key] as? NSNumber)?.intValue }
    func double(_ key: String) -> Double? { (self[key] as? NSNumber)?.doubleValue }
    func string(_ key: String) -> String? { self[key] as? String }
}

// MARK: - Tools

/// SHA-256 of several files in one sha256sum run, in the order given.
func sha256sums(_ paths: [String]) throws -> [String] {
    guard !paths.isEmpty else { return [] }
    guard let tool = which("sha256sum") else { throw TreeError(description: "sha256sum not found") }
    let result = try runProcess(tool, ["--"] + paths, environment: ProcessInfo.processInfo.environment, timeout: 60)
    guard result.status == 0 else { throw TreeError(description: result.summary) }
    let digests = result.lines.map { line -> String in
        var digest = String(line.prefix { $0 != " " })
        if digest.hasPrefix("\\") { digest.removeFirst() }
        return digest
    }
    guard digests.count == paths.count else { throw TreeError(description: "sha256sum printed \(result.out)") }
    return digests
}

/// The names a tar lists (`tar -tf`, in archive order, as raw bytes, without a directory's trailing '/').
func tarListing(_ tool: String, _ archive: String) throws -> [PathBytes] {
    guard let executable = which(tool) else { throw TreeError(description: "\(tool) not found") }
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C.UTF-8"
    let arguments = tool == "tar" ? ["--quoting-style=literal", "-tf", archive] : ["-tf", archive]
    let result = try runProcess(executable, arguments, environment: environment, timeout: 60)
    guard result.status == 0 else { throw TreeError(description: result.summary) }
    return result.stdout.split(separator: UInt8(ascii: "\n")).map { line in
        var name = Array(line)
        if name.last == UInt8(ascii: "/") { name.removeLast() }
        return name
    }
}

/// Extracts `archive` into `directory` (created) with GNU tar or bsdtar, permissions kept.
func extract(_ tool: String, _ archive: String, into directory: String) throws {
    guard let executable = which(tool) else { throw TreeError(description: "\(tool) not found") }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    var environment = ProcessInfo.processInfo.environment
    environment["LC_ALL"] = "C.UTF-8"
    let result = try runProcess(executable, ["-xpf", archive, "-C", directory], environment: environment, timeout: 60)
    guard result.status == 0, result.err.isEmpty else { throw TreeError(description: "\(tool) -x: \(result.summary)") }
}

/// The read position of `path` in the open files of process `pid`, from /proc, or nil when it has not opened it.
func readPosition(pid: Int32, of path: String) -> Int? {
    let fdDirectory = "/proc/\(pid)/fd"
    guard let fds = try? FileManager.default.contentsOfDirectory(atPath: fdDirectory) else { return nil }
    for fd in fds {
        guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: fdDirectory + "/" + fd),
              target == path,
              let info = try? String(contentsOfFile: "/proc/\(pid)/fdinfo/\(fd)", encoding: .utf8) else { continue }
        for line in info.split(separator: "\n") where line.hasPrefix("pos:") {
            return Int(line.dropFirst(4).trimmingCharacters(in: .whitespaces))
        }
    }
    return nil
}

extension ProcessResult {
    /// stderr without its final newline.
    var message: String { err.trimmingCharacters(in: .newlines) }
}
