import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// s3-archive end to end: a session tree with every kind of entry (long, UTF-8 and spaced names, empty file and
/// directory, symlinks, a hard link pair, distinct mtimes, modes) extracts identically with GNU tar and bsdtar;
/// the index describes every byte; bad input is refused before any byte; a file that changes while archived
/// fails the run without an index; and `s3-archive | s3-put --index` stores the archive and its index in SeaweedFS.
final class ArchiveTests: EndToEndCase {
    private let session = "M31_2024-03-17"

    // MARK: Helpers

    private var archiveTool: String { env.tool("s3-archive") }

    /// Runs s3-archive with stdout captured (or sent to `stdoutPath`).
    private func s3archive(_ arguments: [String], stdoutPath: String? = nil, directory: String? = nil,
                           timeout: TimeInterval = 60,
                           file: StaticString = #filePath, line: UInt = #line) throws -> ProcessResult {
        guard FileManager.default.isExecutableFile(atPath: archiveTool) else {
            XCTFail("\(archiveTool) is not an executable: build first", file: file, line: line)
            throw TestEnvironment.Missing()
        }
        let result = try runProcess(archiveTool, arguments, environment: env.processEnvironment(),
                                    stdoutPath: stdoutPath, directory: directory, timeout: timeout)
        XCTAssertFalse(result.timedOut, "s3-archive timed out: \(result.summary)", file: file, line: line)
        return result
    }

    /// The rich session tree, at TEMP/sessions/NAME.
    private func makeSession(_ name: String? = nil, bigSizes: [Int]? = nil) throws -> String {
        let root = temp.file("sessions/\(name ?? session)")
        if let bigSizes {
            try SessionTree.makeRich(at: root, bigSizes: bigSizes)
        } else {
            try SessionTree.makeRich(at: root)
        }
        return root
    }

    /// `s3-archive --index I ROOT > T`, checked to succeed silently; returns (T, I).
    private func archive(_ root: String, _ extra: [String] = [], label: String = "a",
                         file: StaticString = #filePath, line: UInt = #line) throws -> (tar: String, index: String) {
        let tar = temp.file("\(label).tar"), index = temp.file("\(label).idx")
        let result = try s3archive(extra + ["--index", index, root], stdoutPath: tar, file: file, line: line)
        XCTAssertEqual(result.status, 0, result.summary, file: file, line: line)
        XCTAssertEqual(result.err, "", "a clean tree gives no message", file: file, line: line)
        return (tar, index)
    }

    /// A failed run: its exit status, one line on stderr that names `naming`, and not a byte on stdout.
    private func assertRefused(_ result: ProcessResult, status: Int32, naming: String, saying words: String? = nil,
                               file: StaticString = #filePath, line: UInt = #line) {
        XCTAssertEqual(result.status, status, result.summary, file: file, line: line)
        XCTAssertEqual(result.stdout.count, 0, "no byte on stdout when refused: \(result.summary)", file: file, line: line)
        let message = result.message
        XCTAssertTrue(message.hasPrefix("s3-archive: "), "message: \(message)", file: file, line: line)
        XCTAssertFalse(message.contains("\n"), "one line, not: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(naming), "message should name \(naming): \(message)", file: file, line: line)
        if let words {
            XCTAssertTrue(message.lowercased().contains(words), "message should say '\(words)': \(message)", file: file, line: line)
        }
    }

    /// The archive paths a snapshot gives under `top`, in the snapshot's (the documented) order.
    private func archivePaths(_ snapshot: TreeSnapshot, under top: String, keeping keep: (PathBytes) -> Bool = { _ in true })
        -> [PathBytes] {
        snapshot.order.filter(keep).map { $0.isEmpty ? bytes(top) : bytes(top + "/") + $0 }
    }

    /// `sh -c SCRIPT sh ARGS...` with s3-put's environment (the test's own catalog).
    private func shell(_ script: String, _ arguments: [String], timeout: TimeInterval = 120) throws -> ProcessResult {
        let result = try runProcess("/bin/sh", ["-c", script, "sh"] + arguments, environment: s3putEnvironment(),
                                    timeout: timeout)
        assertNoSecret(result, env.secretKey)
        XCTAssertFalse(result.timedOut, "pipeline timed out: \(result.summary)")
        return result
    }

    /// `s3-archive [--index I] DIR | s3-put --index PUTINDEX [OPTIONS] URL`.
    private func pipeline(_ root: String, archiveIndex: String?, putIndex: String, url: String,
                          putOptions: [String] = []) throws -> ProcessResult {
        let archiveArguments = archiveIndex.map { "--index '\($0)' " } ?? ""
        let options = putOptions.map { "'\($0)'" }.joined(separator: " ")
        return try shell("\"$1\" \(archiveArguments)\"$2\" | \"$3\" --endpoint-url \"$4\" \(options) --index \"$5\" \"$6\"",
                         [archiveTool, root, env.tool("s3-put"), env.endpoint, putIndex, url])
    }

    private func assertNothingStored(_ bucket: String, _ key: String, file: StaticString = #filePath, line: UInt = #line) throws {
        XCTAssertNil(try headObject(bucket, key, file: file, line: line), "\(key) must not be stored", file: file, line: line)
        XCTAssertNil(try headObject(bucket, key + ".index.json", file: file, line: line), "\(key).index.json must not be stored",
                     file: file, line: line)
        assertNoMultipartUploads(bucket, file: file, line: line)
    }

    // MARK: 1. The tree survives GNU tar and bsdtar

    func testTreeExtractsIdenticallyWithGNUTarAndBsdtar() throws {
        let root = try makeSession()
        let source = try TreeSnapshot(root)
        // The tree holds what the test claims it holds.
        XCTAssertGreaterThan(source.order.map { $0.count }.max() ?? 0, 255, "a path longer than 255 bytes")
        XCTAssertNotNil(source.items[bytes("empty dir")], "an empty directory")
        XCTAssertEqual(source.items[bytes("empty.dat")]?.size, 0, "an empty file")
        XCTAssertEqual(source.items[bytes("hard/b.bin")]?.linkCount, 2, "a hard link pair")
        XCTAssertEqual(source.items[bytes("private.key")]?.mode, 0o600)
        XCTAssertEqual(source.items[bytes("run.sh")]?.mode, 0o755)
        let inodes = Dictionary(source.items.values.map { ("\($0.device):\($0.inode)", $0.mtimeSeconds) }) { a, _ in a }
        XCTAssertEqual(Set(inodes.values).count, inodes.count, "distinct mtimes")

        let (tar, _) = try archive(root)
        for tool in ["tar", "bsdtar"] {
            let target = temp.file("extracted-\(tool)")
            try extract(tool, tar, into: target)
            XCTAssertEqual(try directoryNames(target).map(text), [session], "\(tool): one top folder")
            assertSameTree(try TreeSnapshot(target + "/" + session), source, tool)
        }
    }

    // MARK: 2. The index

    func testIndexDescribesEveryEntryAndEveryByteInOrder() throws {
        let root = try makeSession()
        let source = try TreeSnapshot(root)
        let (tar, indexPath) = try archive(root)
        let index = try IndexFile(path: indexPath)
        let tarBytes = try Data(contentsOf: URL(fileURLWithPath: tar))

        XCTAssertEqual(index.object.string("format"), "s3-archive-index/1")
        XCTAssertEqual(index.session, session)
        XCTAssertTrue(matches(index.object.string("created") ?? "", #"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$"#),
                      "created: \(index.object["created"] ?? "none")")
        XCTAssertEqual(index.archiveSize, tarBytes.count, "archive.size is the tar's size")
        XCTAssertEqual(index.archiveCRC64NVME, try awscrtChecksum(tar), "archive.crc64nvme is the tar's CRC64NVME")
        XCTAssertNil(index.archiveSHA256, "no second SHA-256 of every byte: the files have theirs, the tar its CRC")

        // Order: the top folder, then depth first, names in byte order (NFC "café" before NFD "café").
        let expected = archivePaths(source, under: session)
        XCTAssertEqual(index.paths.map(text), expected.map(text), "index entries in the documented order")
        XCTAssertTrue(index.paths == expected, "index paths are byte for byte the names on disk")
        for tool in ["tar", "bsdtar"] {
            XCTAssertTrue(try tarListing(tool, tar) == expected, "\(tool) -t lists the index's paths in the index's order")
        }

        // The digests of every regular file, by sha256sum.
        let files = source.order.filter { source.items[$0]?.kind == .file }
        let digests = Dictionary(uniqueKeysWithValues: zip(files, try sha256sums(files.map(source.absolute))))

        var firstOfInode: [String: PathBytes] = [:]
        var fileCount = 0, byteCount = 0, newest = 0.0
        for (entry, relative) in zip(index.entries, source.order) {
            guard let item = source.items[relative] else { continue }
            let path = entry.string("path") ?? "?"
            let keys = Set(entry.keys)
            XCTAssertEqual(entry.int("mode"), Int(item.mode), "\(path): mode (with special bits)")
            XCTAssertEqual(entry.double("mtime") ?? 0, item.mtime, accuracy: 2e-6, "\(path): mtime with its fraction")
            switch item.kind {
            case .directory:
                XCTAssertEqual(entry.string("type"), "directory", path)
                XCTAssertEqual(entry.int("size"), 0, path)
                XCTAssertEqual(keys, ["path", "type", "size", "mode", "mtime"], "\(path): fields")
            case .symlink:
                XCTAssertEqual(entry.string("type"), "symlink", path)
                XCTAssertEqual(entry.int("size"), 0, path)
                XCTAssertEqual(entry.string("target").map(bytes), item.target, "\(path): target as written")
                XCTAssertEqual(keys, ["path", "type", "size", "mode", "mtime", "target"], "\(path): fields")
            case .file:
                let inode = "\(item.device):\(item.inode)"
                XCTAssertEqual(entry.int("size"), item.size, "\(path): size")
                XCTAssertEqual(entry.string("sha256"), digests[relative], "\(path): sha256")
                if item.linkCount > 1, let first = firstOfInode[inode] {
                    XCTAssertEqual(entry.string("type"), "hardlink", path)
                    XCTAssertEqual(entry.string("target"), session + "/" + text(first), "\(path): a hard link names the file entry")
                    XCTAssertEqual(keys, ["path", "type", "size", "mode", "mtime", "target", "sha256"], "\(path): fields")
                    continue
                }
                firstOfInode[inode] = relative
                XCTAssertEqual(entry.string("type"), "file", path)
                XCTAssertEqual(keys, ["path", "type", "size", "mode", "mtime", "sha256", "offset"], "\(path): fields")
                fileCount += 1
                byteCount += item.size
                newest = max(newest, item.mtime)
                guard let offset = entry.int("offset") else { XCTFail("\(path): no offset"); continue }
                XCTAssertEqual(offset % 512, 0, "\(path): data starts on a tar block")
                XCTAssertLessThanOrEqual(offset + item.size, tarBytes.count, "\(path): data inside the tar")
                guard offset + item.size <= tarBytes.count else { continue }
                let slice = tarBytes.subdata(in: offset ..< offset + item.size)
                XCTAssertTrue(slice == source.contents(relative), "\(path): tar bytes at [offset, offset+size) are the file's")
                // And the slice hashes (independently) to the index's digest.
                let slicePath = temp.file("slice")
                try slice.write(to: URL(fileURLWithPath: slicePath))
                XCTAssertEqual(try sha256(ofFile: slicePath), entry.string("sha256"), "\(path): slice's SHA-256")
            case .other:
                XCTFail("\(path): the rich tree has no special files")
            }
        }
        XCTAssertEqual(index.object.int("files"), fileCount, "files: regular files stored with their data")
        XCTAssertEqual(index.object.int("bytes"), byteCount, "bytes")
        XCTAssertEqual(index.object.double("newest_mtime") ?? 0, newest, accuracy: 2e-6, "newest_mtime")
    }

    func testNameOptionPutsEverythingUnderTheID() throws {
        let root = try makeSession()
        let source = try TreeSnapshot(root)
        let id = "2024-03-17_M31-retake"
        let (tar, indexPath) = try archive(root, ["--name", id])
        let index = try IndexFile(path: indexPath)
        XCTAssertEqual(index.session, id)
        let expected = archivePaths(source, under: id)
        XCTAssertTrue(index.paths == expected, "index paths under \(id)/: \(index.paths.prefix(3).map(text))")
        XCTAssertTrue(try tarListing("tar", tar) == expected, "tar paths under \(id)/")
        let target = temp.file("extracted")
        try extract("tar", tar, into: target)
        XCTAssertEqual(try directoryNames(target).map(text), [id])
        assertSameTree(try TreeSnapshot(target + "/" + id), source, "--name")

        // Without --name, '.' and a trailing '/' are named after the directory itself.
        for (argument, directory) in [(".", root), (root + "/", nil), ("../../\(session)/./data/..", root + "/data")] {
            let index = temp.file("dot.idx")
            let result = try s3archive(["--index", index, argument], stdoutPath: temp.file("dot.tar"), directory: directory)
            XCTAssertEqual(result.status, 0, "\(argument): \(result.summary)")
            XCTAssertEqual(try IndexFile(path: index).session, session, "'\(argument)' is named after the directory")
        }

        // An ID that is not one folder name is a usage error.
        for bad in ["a/b", "..", ".", ""] {
            let result = try s3archive(["--name", bad, root])
            assertRefused(result, status: 64, naming: "'\(bad)'")
        }
    }

    func testExcludeLeavesOutMatchingPathsInTarAndIndexAlike() throws {
        let root = try makeSession()
        let source = try TreeSnapshot(root)
        let (tar, indexPath) = try archive(root, ["--exclude", "*.tmp", "--exclude", "unicode/日本"])
        let index = try IndexFile(path: indexPath)
        let left = bytes("unicode/日本")
        let expected = archivePaths(source, under: session) { relative in
            let components = relative.split(separator: UInt8(ascii: "/"))
            let tmp = components.contains { text(Array($0)).hasSuffix(".tmp") }
            let japanese = relative == left || relative.starts(with: left + [UInt8(ascii: "/")])
            return !tmp && !japanese
        }
        XCTAssertEqual(expected.count, source.order.count - 6, "the test's own expectation: 3 .tmp paths, cache.tmp/inside.bin, 日本/ and its file")
        XCTAssertEqual(index.paths.map(text), expected.map(text), "index without the excluded paths")
        XCTAssertTrue(try tarListing("tar", tar) == index.paths, "tar listing and index agree")
        XCTAssertFalse(index.paths.map(text).contains { $0.hasSuffix(".tmp") || $0.contains(".tmp/") })
    }

    /// "café" twice, NFC (U+00E9) and NFD (e + U+0301): two names on Linux, which must stay two names in the archive,
    /// as they are, and the same names as in the index; and a lone NFD name keeps its bytes. (GNU tar reads names as
    /// bytes; bsdtar's reader itself folds pax names to NFC, so it is not the judge here.)
    func testNamesDifferingOnlyInUnicodeNormalizationStayDistinct() throws {
        let root = temp.file("normalization/S")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        for (name, contents) in [("caf\u{E9}.txt", "NFC\n"), ("cafe\u{301}.txt", "NFD\n"), ("nai\u{308}ve.txt", "lone NFD\n")] {
            try Data(contents.utf8).write(to: URL(fileURLWithPath: root + "/" + name))
        }
        let source = try TreeSnapshot(root)
        XCTAssertEqual(source.order.count, 4, "precondition: the file system keeps both spellings of café")
        let (tar, indexPath) = try archive(root)
        let index = try IndexFile(path: indexPath)
        XCTAssertTrue(index.paths == archivePaths(source, under: "S"), "the index has the names as they are")
        let listed = try tarListing("tar", tar)
        XCTAssertTrue(listed == index.paths,
                      "the tar's names are the index's, byte for byte; tar has \(listed.map { $0.map { String($0, radix: 16) }.joined() }), index has \(index.paths.map { $0.map { String($0, radix: 16) }.joined() })")
        let target = temp.file("extracted")
        try extract("tar", tar, into: target)
        assertSameTree(try TreeSnapshot(target + "/S"), source, "GNU tar")
    }

    func testOutputFileHoldsTheSameBytesAsStandardOutput() throws {
        let root = try makeSession()
        let (tar, _) = try archive(root)
        let outDirectory = temp.file("out")
        try FileManager.default.createDirectory(atPath: outDirectory, withIntermediateDirectories: true)
        let output = outDirectory + "/session.tar", index = outDirectory + "/session.idx"
        // An older file under that name is replaced.
        try Data("an older archive".utf8).write(to: URL(fileURLWithPath: output))
        let result = try s3archive(["-o", output, "--index", index, root])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.stdout.count, 0, "with -o nothing goes to stdout")
        XCTAssertTrue(try Data(contentsOf: URL(fileURLWithPath: output)) == Data(contentsOf: URL(fileURLWithPath: tar)),
                      "-o FILE and stdout give the same archive, byte for byte")
        XCTAssertEqual(try IndexFile(path: index).archiveCRC64NVME, try awscrtChecksum(output))
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: outDirectory).sorted(), ["session.idx", "session.tar"],
                       "no temporary file left beside the outputs")
    }

    /// `--index I` and `-o T` with a one-character name in the current directory, as in the usage
    /// `s3-archive --index I DIR > T`.
    func testOneCharacterOutputNamesInTheCurrentDirectory() throws {
        let root = try makeSession(bigSizes: [1000])
        let cwd = temp.file("cwd")
        try FileManager.default.createDirectory(atPath: cwd, withIntermediateDirectories: true)
        let piped = try s3archive(["--index", "I", root], stdoutPath: cwd + "/T", directory: cwd)
        XCTAssertEqual(piped.status, 0, "--index I: \(piped.summary)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cwd + "/I"), "the index I is written")
        let file = try s3archive(["-o", "O", root], directory: cwd)
        XCTAssertEqual(file.status, 0, "-o O: \(file.summary)")
        XCTAssertTrue(FileManager.default.fileExists(atPath: cwd + "/O"), "the archive O is written")
    }

    // MARK: 3. Bad input

    func testMissingDirectoryOrAFileIsRefused() throws {
        let root = try makeSession(bigSizes: [1000])
        // An index left from an earlier run is removed, so that it cannot pass for this run's.
        let index = temp.file("old.idx")
        _ = try archive(root, label: "old")
        let missing = temp.file("no-such-session")
        assertRefused(try s3archive(["--index", index, missing]), status: 66, naming: missing)
        XCTAssertFalse(FileManager.default.fileExists(atPath: index), "a failed run leaves no index, not even an older one")

        let regular = root + "/data/raw1.fits"
        assertRefused(try s3archive([regular]), status: 66, naming: regular, saying: "not a directory")
    }

    /// chmod 000 does not stop root: as root, s3-archive runs as nobody (setpriv) on a tree nobody can read but for
    /// the part made unreadable; a control run first shows that nobody can archive the readable tree.
    func testUnreadableDirectoryOrFileIsRefusedBeforeAnyByte() throws {
        let base = temp.file("perm")
        let root = base + "/S"
        let fm = FileManager.default
        try fm.createDirectory(atPath: root + "/sub", withIntermediateDirectories: true)
        try fm.createDirectory(atPath: root + "/closed", withIntermediateDirectories: true)
        try makeRandomFile(root + "/ok.bin", size: 100_000)
        try makeRandomFile(root + "/sub/secret.bin", size: 1000)
        try makeRandomFile(root + "/closed/inner.bin", size: 1000)
        for directory in [temp.path, base, root, root + "/sub", root + "/closed"] { try chmodOrThrow(directory, 0o755) }
        for file in ["ok.bin", "sub/secret.bin", "closed/inner.bin"] { try chmodOrThrow(root + "/" + file, 0o644) }

        let asRoot = getuid() == 0
        func run() throws -> ProcessResult {
            if asRoot {
                guard let setpriv = which("setpriv") else {
                    XCTFail("setpriv (util-linux) is needed to test unreadable files as root")
                    throw TestEnvironment.Missing()
                }
                // A copy nobody can reach, wherever the checkout lives (its folders may be closed to others).
                let copy = temp.path + "/s3-archive-copy"
                if !fm.fileExists(atPath: copy) {
                    try fm.copyItem(atPath: archiveTool, toPath: copy)
                    try chmodOrThrow(copy, 0o755)
                }
                return try runProcess(setpriv, ["--reuid=65534", "--regid=65534", "--clear-groups", copy, root],
                                      environment: env.processEnvironment(), timeout: 60)
            }
            return try s3archive([root])
        }

        let control = try run()
        XCTAssertEqual(control.status, 0, "control run (readable tree\(asRoot ? ", as uid 65534" : "")): \(control.summary)")
        XCTAssertGreaterThan(control.stdout.count, 100_000, "control run writes the tar")

        for (what, path, mode) in [("a file in the tree", root + "/sub/secret.bin", 0o644),
                                   ("a directory in the tree", root + "/closed", 0o755),
                                   ("the session directory", root, 0o755)] {
            try chmodOrThrow(path, 0)
            let result = try run()
            try chmodOrThrow(path, mode)
            XCTAssertFalse(result.err.isEmpty, "\(what): a message")
            assertRefused(result, status: 66, naming: path, saying: "permission denied")
        }
    }

    func testIndexOrOutputInAMissingDirectoryIsAnIOError() throws {
        let root = try makeSession(bigSizes: [1000])
        let index = temp.file("no-such-dir/S.idx")
        assertRefused(try s3archive(["--index", index, root]), status: 74, naming: index)
        let output = temp.file("no-such-dir/S.tar")
        assertRefused(try s3archive(["-o", output, root]), status: 74, naming: output)
        XCTAssertFalse(FileManager.default.fileExists(atPath: temp.file("no-such-dir")), "the directory is not created")
    }

    func testTerminalOnStandardOutputIsRefused() throws {
        guard let script = which("script") else { return XCTFail("script (util-linux) is not on PATH") }
        let root = try makeSession(bigSizes: [1000])
        let result = try runProcess(script, ["-qec", "'\(archiveTool)' '\(root)'", "/dev/null"],
                                    environment: env.processEnvironment(), timeout: 30)
        XCTAssertEqual(result.status, 64, result.summary)
        let shown = result.out.trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(shown.hasPrefix("s3-archive: ") && shown.contains("terminal"), "the terminal shows why: \(shown)")
        XCTAssertFalse(shown.contains("\n"), "one line: \(shown)")
        XCTAssertFalse(shown.contains("ustar") || shown.contains(session + "/"), "no tar bytes reach the terminal")

        // With -o the terminal is no obstacle.
        let output = temp.file("tty.tar")
        let withFile = try runProcess(script, ["-qec", "'\(archiveTool)' -o '\(output)' '\(root)'", "/dev/null"],
                                      environment: env.processEnvironment(), timeout: 30)
        XCTAssertEqual(withFile.status, 0, withFile.summary)
        XCTAssertTrue(FileManager.default.fileExists(atPath: output))
    }

    func testFIFOAndSocketAreSkippedWithAWarning() throws {
        let root = temp.file("special/S")
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        try makeRandomFile(root + "/a.bin", size: 1000)
        try makeRandomFile(root + "/z.bin", size: 1000)
        XCTAssertEqual(mkfifo(root + "/ctl", 0o644), 0, "mkfifo")
        let socketPath = root + "/sock"
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (i, byte) in socketPath.utf8.enumerated() where i < raw.count - 1 { raw[i] = byte }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        close(fd)
        XCTAssertEqual(bound, 0, "bind a socket at \(socketPath)")

        let tar = temp.file("special.tar"), index = temp.file("special.idx")
        let result = try s3archive(["--index", index, root], stdoutPath: tar, timeout: 30)
        XCTAssertEqual(result.status, 0, result.summary)
        let warnings = result.err.split(separator: "\n").map(String.init)
        XCTAssertEqual(warnings.count, 2, "one warning each: \(result.err)")
        XCTAssertTrue(warnings.contains { $0.hasPrefix("s3-archive: ") && $0.contains(root + "/ctl") && $0.contains("FIFO") },
                      "the FIFO is named: \(result.err)")
        XCTAssertTrue(warnings.contains { $0.contains(socketPath) && $0.contains("socket") }, "the socket is named: \(result.err)")
        let expected = ["S", "S/a.bin", "S/z.bin"]
        XCTAssertEqual(try IndexFile(path: index).paths.map(text), expected, "index without the FIFO and the socket")
        XCTAssertEqual(try tarListing("tar", tar).map(text), expected, "tar without the FIFO and the socket")
    }

    // MARK: 4. A file that changes while it is archived

    /// s3-archive writes into a pipe nobody reads: it blocks a few MiB into a 200 MiB file, which the test then
    /// shrinks or grows before draining the pipe. The file is sparse: its reading speed does not matter, since the
    /// pipe holds s3-archive back.
    private func archiveWhileResizing(to newSize: Int, expecting word: String,
                                      file: StaticString = #filePath, line: UInt = #line) throws {
        try archiveWhileChanging(expecting: word, status: 75, blockedBefore: newSize, file: file, line: line) { big, _ in
            XCTAssertEqual(truncate(big, off_t(newSize)), 0, "truncate", file: file, line: line)
            return big
        }
    }

    /// s3-archive blocks on its full pipe while reading the big first file; `change` then alters the session
    /// (and returns the path the message must name) before the pipe is drained.
    private func archiveWhileChanging(expecting word: String, status: Int32, blockedBefore limit: Int = .max,
                                      forbidden: String? = nil, file: StaticString = #filePath, line: UInt = #line,
                                      change: (_ big: String, _ root: String) throws -> String) throws {
        let size = 200 * MiB
        let directory = temp.file("changing")
        let root = directory + "/S"
        try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
        let big = root + "/a_big.fits"
        XCTAssertTrue(FileManager.default.createFile(atPath: big, contents: nil))
        XCTAssertEqual(truncate(big, off_t(size)), 0)
        // s3-archive reads small files ahead on a second thread (64 at most): 200 small files between the big file
        // and b_after.txt keep it from reading b_after.txt before `change` has altered it.
        for n in 0..<200 {
            try Data("filler \(n)\n".utf8).write(to: URL(fileURLWithPath: root + "/a_filler_\(String(format: "%03d", n)).txt"))
        }
        try Data("after the big file\n".utf8).write(to: URL(fileURLWithPath: root + "/b_after.txt"))
        let index = directory + "/S.idx"

        let process = Process()
        process.executableURL = URL(fileURLWithPath: archiveTool)
        process.arguments = ["--index", index, root]
        process.environment = env.processEnvironment()
        process.standardInput = FileHandle(forReadingAtPath: "/dev/null")
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        try process.run()
        let pid = process.processIdentifier
        let stderr = Locked(Data())
        let readers = DispatchGroup()
        let errHandle = err.fileHandleForReading
        DispatchQueue.global().async(group: readers) {
            let data = errHandle.readDataToEndOfFile()
            stderr.withLock { $0 = data }
        }
        // Never hang the suite.
        let watchdog = DispatchWorkItem { kill(pid, SIGKILL) }
        DispatchQueue.global().asyncAfter(deadline: .now() + 60, execute: watchdog)
        defer { watchdog.cancel() }

        // Wait until it has opened the file and stopped moving in it: blocked on the full pipe.
        var position: Int?
        var steady = 0
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline, process.isRunning, steady < 3 {
            Thread.sleep(forTimeInterval: 0.1)
            let now = readPosition(pid: pid, of: big)
            steady = (now != nil && now! > 0 && now == position) ? steady + 1 : 0
            position = now
        }
        guard steady >= 3, let blockedAt = position else {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return XCTFail("s3-archive never blocked while reading \(big) (position \(position.map(String.init) ?? "none"))",
                           file: file, line: line)
        }
        XCTAssertLessThan(blockedAt, min(size, limit), "blocked before the point of change", file: file, line: line)
        let named = try change(big, root)

        var drained = 0
        var tail = Data()
        let outHandle = out.fileHandleForReading
        while true {
            let chunk = outHandle.availableData
            if chunk.isEmpty { break }
            drained += chunk.count
            tail = (tail + chunk).suffix(1 << 20)
        }
        if let forbidden {
            XCTAssertNil(tail.range(of: Data(forbidden.utf8)), "\(forbidden) reached the archive", file: file, line: line)
        }
        process.waitUntilExit()
        readers.wait()
        let message = String(decoding: stderr.current, as: UTF8.self).trimmingCharacters(in: .newlines)

        XCTAssertEqual(process.terminationStatus, status, "exit status; stderr: \(message)", file: file, line: line)
        XCTAssertTrue(message.hasPrefix("s3-archive: ") && !message.contains("\n"), "one line: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(named), "the message names the file: \(message)", file: file, line: line)
        XCTAssertTrue(message.contains(word), "the message says it \(word): \(message)", file: file, line: line)
        XCTAssertFalse(FileManager.default.fileExists(atPath: index), "no index for an incomplete archive", file: file, line: line)
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: directory), ["S"],
                       "no temporary index left", file: file, line: line)
        let complete = 512 + 512 + size + 512 + 512 + 1024
        XCTAssertLessThan(drained, complete, "the archive on stdout is incomplete", file: file, line: line)
    }

    func testFileThatShrinksWhileArchivedFailsWithoutIndex() throws {
        try archiveWhileResizing(to: 100 * MiB, expecting: "still being written? try again later")
    }

    func testFileThatGrowsWhileArchivedFailsWithoutIndex() throws {
        try archiveWhileResizing(to: 300 * MiB, expecting: "still being written? try again later")
    }

    /// A file swapped for a symlink (to a secret) between the scan and its read is refused, never followed: the run
    /// fails with 75 (try again later) and the secret's bytes are not in the archive.
    func testFileSwappedForSymlinkAfterScanIsRefused() throws {
        let secret = temp.file("secret.txt")
        try Data("SECRET-BYTES-NOT-TO-ARCHIVE".utf8).write(to: URL(fileURLWithPath: secret))
        try archiveWhileChanging(expecting: "replaced", status: 75, forbidden: "SECRET-BYTES") { _, root in
            let victim = root + "/b_after.txt"
            try FileManager.default.removeItem(atPath: victim)
            try FileManager.default.createSymbolicLink(atPath: victim, withDestinationPath: secret)
            return victim
        }
    }

    /// A file replaced by another file (another inode) after the scan is refused the same way.
    func testFileReplacedByAnotherAfterScanIsRefused() throws {
        try archiveWhileChanging(expecting: "replaced", status: 75) { _, root in
            let victim = root + "/b_after.txt"
            // Moved aside, not deleted: a freed inode number could be given to the new file.
            try FileManager.default.moveItem(atPath: victim, toPath: temp.file("b_before.txt"))
            try Data("a different file of another size\n".utf8).write(to: URL(fileURLWithPath: victim))
            return victim
        }
    }

    // MARK: 5. Into SeaweedFS with s3-put --index

    func testPipelineStoresArchiveAndIndexInSeaweedFS() throws {
        let bucket = try bucket
        let root = try makeSession()
        let source = try TreeSnapshot(root)
        let index = temp.file("pipe.idx")
        let key = "backups/raw/2024/\(session).tar"
        let url = "s3://\(bucket)/\(key)"
        let result = try pipeline(root, archiveIndex: index, putIndex: index, url: url,
                                  putOptions: ["--part-size", "5MiB", "--storage-class", "STANDARD_IA"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.lines.count, 1, "one record: \(result.out)")
        guard let line = result.lines.first,
              let record = try JSONSerialization.jsonObject(with: Data(line.utf8)) as? [String: Any] else {
            return XCTFail("no record: \(result.summary)")
        }
        let local = try IndexFile(path: index)
        XCTAssertEqual(record.string("url"), url)
        XCTAssertEqual(record.string("checksum_crc64nvme"), local.archiveCRC64NVME, "the record's CRC64NVME is the index's")
        XCTAssertNil(record["sha256"], "an index without the tar's SHA-256 gives a record without one")
        XCTAssertEqual(record.int("size"), local.archiveSize, "record size is the index's")
        XCTAssertEqual(record.string("session"), session)
        XCTAssertEqual(record.string("index"), url + ".index.json")
        XCTAssertGreaterThan(record.int("parts") ?? 0, 1, "a multipart upload of a stream: \(line)")

        // The archive comes back whole and extracts to the source.
        let back = temp.file("back.tar")
        let copy = try aws(["s3", "cp", url, back])
        XCTAssertEqual(copy.status, 0, copy.summary)
        XCTAssertEqual(try awscrtChecksum(back), local.archiveCRC64NVME, "the stored archive is the one the index describes")
        let target = temp.file("extracted")
        try extract("tar", back, into: target)
        assertSameTree(try TreeSnapshot(target + "/" + session), source, "from SeaweedFS")

        // The index is beside it, byte for byte, in STANDARD whatever the archive's class.
        let indexBack = temp.file("back.idx")
        let indexCopy = try aws(["s3", "cp", url + ".index.json", indexBack])
        XCTAssertEqual(indexCopy.status, 0, indexCopy.summary)
        XCTAssertTrue(FileManager.default.contents(atPath: indexBack) == local.raw, "KEY.index.json holds the index's bytes")
        let archiveHead = try headObjectFields(bucket, key)
        XCTAssertEqual(archiveHead?["StorageClass"] as? String, "STANDARD_IA",
                       "SeaweedFS keeps storage classes: the archive has the class asked for")
        let indexHead = try headObjectFields(bucket, key + ".index.json")
        XCTAssertNotNil(indexHead)
        let indexClass = indexHead?["StorageClass"] as? String ?? "STANDARD"
        XCTAssertEqual(indexClass, "STANDARD", "the index stays in STANDARD")
    }

    func testIndexOfAnotherSessionStoresNothing() throws {
        let bucket = try bucket
        let root = try makeSession()
        let other = try makeSession("M31_2024-03-18", bigSizes: [1000])
        let (_, otherIndex) = try archive(other, label: "other")
        let key = "backups/raw/2024/\(session).tar"
        let result = try pipeline(root, archiveIndex: nil, putIndex: otherIndex, url: "s3://\(bucket)/\(key)",
                                  putOptions: ["--part-size", "5MiB"])
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertEqual(result.out, "", "no record")
        XCTAssertTrue(result.err.contains(otherIndex), "the message names the index: \(result.err)")
        try assertNothingStored(bucket, key)
    }

    /// The index of another session whose archive has the same size: only its digest tells it apart.
    func testSameSizeIndexOfAnotherSessionStoresNothing() throws {
        let bucket = try bucket
        var roots: [String] = []
        for name in ["SESS_A", "SESS_B"] {
            let root = temp.file("twins/\(name)")
            try FileManager.default.createDirectory(atPath: root, withIntermediateDirectories: true)
            try makeRandomFile(root + "/data.fits", size: 6 * MiB + 1)
            try setMtime(root + "/data.fits", seconds: 1_700_000_000, nanoseconds: 0)
            try setMtime(root, seconds: 1_700_000_000, nanoseconds: 0)
            roots.append(root)
        }
        let (_, indexA) = try archive(roots[0], label: "A")
        let (_, indexB) = try archive(roots[1], label: "B")
        let a = try IndexFile(path: indexA), b = try IndexFile(path: indexB)
        XCTAssertEqual(a.archiveSize, b.archiveSize, "precondition: the two archives have the same size")
        XCTAssertNotEqual(a.archiveCRC64NVME, b.archiveCRC64NVME, "precondition: and different bytes")

        let key = "backups/raw/2024/SESS_B.tar"
        let result = try pipeline(roots[1], archiveIndex: nil, putIndex: indexA, url: "s3://\(bucket)/\(key)",
                                  putOptions: ["--part-size", "5MiB"])
        XCTAssertEqual(result.status, 1,
                       "SESS_B's archive with SESS_A's index must be refused (the record would claim CRC64NVME \(a.archiveCRC64NVME ?? "") and session SESS_A for SESS_B's bytes): \(result.summary)")
        XCTAssertEqual(result.out, "", "no record")
        try assertNothingStored(bucket, key)
    }

    // MARK: 6. A failed s3-archive in the pipe

    func testFailedArchiveInThePipeStoresNothing() throws {
        let bucket = try bucket
        let root = try makeSession(bigSizes: [1000])
        // A valid index of this session from an earlier run sits at the path: s3-archive removes it first.
        let (_, index) = try archive(root, label: "earlier")
        let missing = temp.file("sessions/no-such-session")
        let key = "backups/raw/2024/no-such-session.tar"
        let result = try pipeline(missing, archiveIndex: index, putIndex: index, url: "s3://\(bucket)/\(key)")
        XCTAssertNotEqual(result.status, 0, result.summary)
        XCTAssertEqual(result.out, "", "no record")
        XCTAssertTrue(result.err.contains(missing), "s3-archive names the directory: \(result.err)")
        XCTAssertTrue(result.err.contains("s3-put: "), "s3-put says why it stored nothing: \(result.err)")
        XCTAssertFalse(FileManager.default.fileExists(atPath: index), "the earlier index is gone")
        try assertNothingStored(bucket, key)
    }
}
