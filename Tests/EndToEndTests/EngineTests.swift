@testable import ArchiveCore
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The transfer engine end to end against SeaweedFS: `--concurrency N` is N requests in flight, counted at a
/// loopback proxy that holds each request long enough (300 ms) for overlap to show, on a machine with fewer
/// cores than N; and an interrupted s3-put ends quickly (one Ctrl-C aborts its upload within seconds, a second
/// ends the run at once).
final class EngineTests: EndToEndCase {
    private var proxies: [CountingProxy] = []
    private var running: [BackgroundProcess] = []

    override func tearDownWithError() throws {
        for process in running { process.stop() }
        running = []
        for proxy in proxies { proxy.stop() }
        proxies = []
        try super.tearDownWithError()
    }

    private func proxy(delaying delayed: String, by delay: Double = 0.3) throws -> CountingProxy {
        let proxy = try CountingProxy(upstream: env.endpoint, directory: temp.file("proxy-\(proxies.count)"),
                                      environment: env.processEnvironment(), delay: delay, delayed: delayed)
        proxies.append(proxy)
        return proxy
    }

    // MARK: Requests in flight

    func testRestoreOfAnArchiveHasConcurrencyRangesInFlight() throws {
        let bucket = try bucket
        let session = "sess-inflight"
        let source = temp.file("src/" + session)
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        // Twenty files of 100 KiB; restoring every other one leaves gaps too wide to join: ten ranged GETs.
        for number in 0..<20 { try makeRandomFile(source + String(format: "/f%02d.bin", number), size: 100 * 1024) }
        let url = "s3://\(bucket)/inflight/\(session).tar"
        guard try archiveAndPut(source, to: url) != nil else { return }

        let proxy = try proxy(delaying: "GET")
        let destination = try makeDirectory("dest")
        let wanted = stride(from: 0, to: 20, by: 2).map { String(format: "f%02d.bin", $0) }
        let result = try s3restore(["--to", destination, "--concurrency", "8"] + wanted.flatMap { ["--include", $0] } + [url],
                                   endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        let ranged = proxy.gets(bucket: bucket, key: "inflight/\(session).tar")
        XCTAssertEqual(ranged.count, 10, "one ranged GET per wanted file: \(ranged.map { $0.range ?? "-" })")
        XCTAssertEqual(proxy.maxInFlight(), 8, "--concurrency 8 is 8 requests at once (on \(ProcessInfo.processInfo.activeProcessorCount) cores)")
        for name in wanted {
            XCTAssertEqual(try sha256(ofFile: destination + "/\(session)/" + name), try sha256(ofFile: source + "/" + name), name)
        }
    }

    func testRestoreOfAPrefixFetchesObjectsSideBySide() throws {
        let bucket = try bucket
        let source = try makeDirectory("objects")
        let names = (0..<16).map { String(format: "o%02d.dat", $0) }
        for name in names { try makeRandomFile(source + "/" + name, size: 20_000 + names.count) }
        let put = try s3put(names.map { source + "/" + $0 } + ["s3://\(bucket)/objects/"])
        XCTAssertEqual(put.status, 0, put.summary)

        let proxy = try proxy(delaying: "GET")
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "--concurrency", "8", "s3://\(bucket)/objects/"], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(proxy.maxInFlight(), 8, "objects of a prefix come down 8 at a time")
        for name in names {
            XCTAssertEqual(try sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name), name)
        }
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.fileLines.map { String($0.prefix { $0 != ":" }) }, names, "the report keeps the listing's order")
        }
    }

    func testPutSendsConcurrencyPartsAtOnce() throws {
        let bucket = try bucket
        let source = temp.file("parts.bin")
        try makeRandomFile(source, size: 40 * MiB)
        let proxy = try proxy(delaying: "PART")
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--part-size", "5MiB", "--concurrency", "6", source,
                                "s3://\(bucket)/parts.bin"], endpoint: false)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(records(result).map(\.parts), [8])
        XCTAssertEqual(proxy.maxInFlight(), 6, "--concurrency 6 is 6 parts at once")
    }

    func testRecursivePutSendsObjectsSideBySideAndRecordsInOrder() throws {
        let bucket = try bucket
        let folder = try makeDirectory("many")
        let names = (0..<12).map { String(format: "m%02d.txt", $0) }
        for name in names { try makeRandomFile(folder + "/" + name, size: 2_000) }
        let proxy = try proxy(delaying: "PUT,HEAD")
        let result = try s3put(["--endpoint-url", proxy.endpoint, "--concurrency", "6", "--recursive", folder,
                                "s3://\(bucket)/many/"], endpoint: false)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(records(result).map(\.key), names.map { "many/many/" + $0 }, "records in the inputs' order")
        XCTAssertEqual(proxy.maxInFlight(), 6, "objects go 6 at a time, not one by one")

        // s3-verify checks the records side by side too, and prints in their order.
        let recordsFile = temp.file("many.jsonl")
        try result.out.write(toFile: recordsFile, atomically: true, encoding: .utf8)
        proxy.reset()
        let verify = try s3verify(["--concurrency", "4", recordsFile], endpoint: proxy.endpoint)
        XCTAssertEqual(verify.status, 0, verify.summary)
        XCTAssertEqual(verify.lines, names.map { "OK s3://\(bucket)/many/many/\($0)" })
        XCTAssertEqual(proxy.maxInFlight(), 4, "s3-verify --concurrency 4 sends 4 HEADs at once")
    }

    // MARK: Spooled parts

    /// Parts over their memory share go through an unnamed temporary file and are sent from it by curl's read
    /// callback. A real stream reaches such parts only past 5 GB (bench-foundation measures that); here the
    /// uploader's own pieces run with a share of zero, so every part is spooled, against SeaweedFS.
    func testSpooledPartsAreSentFromTheirFiles() throws {
        let bucket = try bucket
        let source = temp.file("spooled.bin")
        try makeRandomFile(source, size: 12 * MiB + 321)
        let configuration = try S3Configuration.resolve(S3Configuration.Overrides(endpointURL: env.endpoint),
                                                        environment: env.processEnvironment())
        let store = S3Store(client: S3Client(configuration), bucket: bucket)
        let key = "spooled/spooled.bin"
        let layout = PartLayout(partSize: 5 * MiB)
        let uploadID = try store.startMultipart(key, options: ObjectOptions())
        let state = MultipartState()
        let sender = PartSender(store: store, key: key, uploadID: uploadID, url: .s3(bucket: bucket, key: key),
                                options: UploadOptions(), state: state)
        let reader = PartReader(source: try FileReader(path: source), budget: MemoryBudget(bytes: 0, slots: 2, partSize: 0),
                                streamDigest: nil)
        for part in layout.parts(total: 12 * MiB + 321) {
            let read = try reader.read(number: part.number, length: part.length, offset: part.offset)
            XCTAssertNotNil(read.spool, "part \(part.number) is spooled")
            XCTAssertEqual(read.spool?.count, part.length)
            sender.send(read)
            read.giveBack(to: reader.pool)
        }
        XCTAssertNil(state.error)
        let digests = state.digestsInOrder()
        let written = try store.completeMultipart(key, uploadID: uploadID,
                                                  parts: digests.enumerated().map { ($0.offset + 1, $0.element.hex) },
                                                  ifAbsent: true)
        let expected = try ETag.compute(FileReader(path: source), layout: layout)
        XCTAssertEqual(ETag.unquote(written.etag), expected)
        XCTAssertEqual(try headObject(bucket, key)?.etag, expected)
        let back = temp.file("spooled.back")
        XCTAssertEqual(try aws(["s3", "cp", "s3://\(bucket)/\(key)", back]).status, 0)
        XCTAssertEqual(try sha256(ofFile: back), try sha256(ofFile: source), "the bytes sent from the spool files")
    }

    // MARK: Interrupts

    /// s3-put reading a pipe from `head -c`, slowed by --limit-rate; started once its upload shows in the store.
    private func startSlowStream(key: String, bucket: String, endpoint: String) throws -> BackgroundProcess {
        let script = #"exec "$0" "$@" < <(head -c 41943040 /dev/urandom)"#
        let process = try BackgroundProcess("/bin/bash", ["-c", script, env.tool("s3-put"), "--endpoint-url", endpoint,
                                                          "--part-size", "5MiB", "--limit-rate", "4MiB",
                                                          "s3://\(bucket)/\(key)"],
                                            environment: s3putEnvironment(), directory: temp.path,
                                            label: "slow-\(UUID().uuidString.prefix(8))")
        running.append(process)
        let started = try productionWait(timeout: 60, interval: 0.2) {
            if !process.isRunning { return true }
            return try productionOpenUploads(bucket).contains { $0.key == key }
        }
        XCTAssertTrue(started && process.isRunning, "the multipart upload never showed up: \(process.summary)")
        return process
    }

    func testOneSIGINTAbortsTheStreamWithinSeconds() throws {
        let bucket = try bucket
        let key = "sigint/stream.bin"
        let process = try startSlowStream(key: key, bucket: bucket, endpoint: env.endpoint)
        let sent = Date()
        process.send(SIGINT)
        XCTAssertTrue(process.wait(timeout: 15), "s3-put did not stop within 15 s of SIGINT")
        XCTAssertLessThan(Date().timeIntervalSince(sent), 10, "the abort has a short deadline")
        XCTAssertEqual(process.reason, .exit, process.summary)
        XCTAssertEqual(process.status, 130, process.summary)
        XCTAssertTrue(process.err.contains("aborted 1 unfinished upload"), process.err)
        XCTAssertEqual(process.out, "")
        XCTAssertEqual(try productionOpenUploads(bucket).filter { $0.key == key }, [], "the stream's upload is aborted")
    }

    func testASecondSIGINTEndsTheRunAtOnce() throws {
        let bucket = try bucket
        let key = "sigint/twice.bin"
        // The abort's DELETE is held 30 s at the proxy: only the deadline or a second Ctrl-C ends the wait.
        let proxy = try proxy(delaying: "DELETE", by: 30)
        let process = try startSlowStream(key: key, bucket: bucket, endpoint: proxy.endpoint)
        process.send(SIGINT)
        // The abort is under way (its DELETE held at the proxy) a second later.
        Thread.sleep(forTimeInterval: 1)
        XCTAssertTrue(process.isRunning, "the first SIGINT waits for the abort: \(process.summary)")
        let second = Date()
        process.send(SIGINT)
        XCTAssertTrue(process.wait(timeout: 5), "s3-put did not stop after the second SIGINT")
        XCTAssertLessThan(Date().timeIntervalSince(second), 2, "a second Ctrl-C ends the run at once")
        XCTAssertEqual(process.reason, .exit, process.summary)
        XCTAssertEqual(process.status, 130, process.summary)
        XCTAssertEqual(process.out, "")
        // The held DELETE reaches the store once the proxy lets it go; abort whatever remains.
        for upload in try productionOpenUploads(bucket) where upload.key == key {
            _ = try aws(["s3api", "abort-multipart-upload", "--bucket", bucket, "--key", key, "--upload-id", upload.uploadID])
        }
    }
}
