// s3-restore of prefixes as other clients fill them: keys XML 1.0 cannot carry raw (listed with
// encoding-type=url), listings cut short (an error, never the end of the prefix), and folder markers.

import Foundation
import XCTest

final class RestoreListingTests: EndToEndCase {
    /// Keys aws-cli stores as they are: a control byte (XML 1.0 has no way to write U+0001), `+`, a space, `&`.
    static let awkwardNames = ["ctl\u{01}byte.txt", "plus+and space.txt", "amp&less<.txt", "plain.txt"]

    func testKeysXMLCannotCarryAreListedEncodedAndRestored() throws {
        try restoreAwkwardKeys(endpoint: env.endpoint, bucket: try bucket)
    }

    func testKeysXMLCannotCarryAreListedEncodedAndRestoredFromMoto() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("listingmoto")
        let made = try aws(["s3", "mb", "s3://\(bucket)"], endpoint: moto)
        XCTAssertEqual(made.status, 0, made.summary)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(bucket)"], endpoint: moto) }
        try restoreAwkwardKeys(endpoint: moto, bucket: bucket)
    }

    private func restoreAwkwardKeys(endpoint: String, bucket: String) throws {
        let source = try makeDirectory("src")
        for (number, name) in Self.awkwardNames.enumerated() {
            try makeRandomFile(source + "/" + name, size: 1000 + number)
            let put = try aws(["s3api", "put-object", "--bucket", bucket, "--key", "enc/" + name, "--body", source + "/" + name],
                              endpoint: endpoint)
            XCTAssertEqual(put.status, 0, "aws-cli stores \(name.debugDescription): \(put.summary)")
        }
        let proxy = try CountingProxy(upstream: endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
        defer { proxy.stop() }
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/enc/"], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        let listings = proxy.requests().filter { $0.method == "GET" && $0.query.contains("list-type=2") }
        XCTAssertFalse(listings.isEmpty, "the prefix was listed")
        XCTAssertTrue(listings.allSatisfy { $0.query.contains("encoding-type=url") }, "\(listings.map(\.path))")
        for name in Self.awkwardNames {
            XCTAssertEqual(try? sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name),
                           "\(name.debugDescription) restored under its own name")
        }
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix("_download_status_") }, Self.awkwardNames.sorted())
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.value("Status"), "SUCCESS", report.lines.joined(separator: "\n"))
            XCTAssertEqual(report.value("Total files"), String(Self.awkwardNames.count))
        }
    }

    func testListingCutShortFailsTheRestoreInsteadOfEndingThePrefix() throws {
        let bucket = try bucket
        let source = try makeDirectory("src")
        var names: [String] = []
        for number in 0..<40 {
            let name = String(format: "file-%02d.bin", number)
            try makeRandomFile(source + "/" + name, size: 100)
            names.append(name)
        }
        let put = try s3put(names.map { source + "/" + $0 } + ["s3://\(bucket)/cut/"])
        XCTAssertEqual(put.status, 0, put.summary)

        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment(),
                                        mode: "cut-listing")
        defer { proxy.stop() }
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/cut/"], endpoint: proxy.endpoint)
        XCTAssertGreaterThan(proxy.cutCount(), 0, "the proxy cut a listing")
        XCTAssertNotEqual(result.status, 0, "a listing that does not parse is a failure: \(result.summary)")
        XCTAssertTrue(result.err.contains("listing"), "stderr names the listing: \(result.err)")
        XCTAssertTrue(result.err.contains("s3://\(bucket)/cut/"), "stderr names the prefix: \(result.err)")
        for path in statusReports(in: destination) {
            let report = try StatusReportFile(path: path)
            XCTAssertNotEqual(report.value("Status"), "SUCCESS", "no SUCCESS for part of a prefix: \(report.lines)")
        }
    }

    /// `run1/` (size 0, as the S3 console's "Create folder" makes) is a folder: the files under it come back
    /// beneath it, an empty marker is an empty folder, and the marker is no report line.
    func testFolderMarkersAreFolders() throws {
        let bucket = try bucket
        let source = try makeDirectory("src")
        try makeRandomFile(source + "/a.txt", size: 1234)
        try makeRandomFile(source + "/b.txt", size: 0)
        for (key, body) in [("fm/run1/", nil), ("fm/run1/a.txt", "a.txt"), ("fm/run1/empty/", nil),
                            ("fm/run2/", nil), ("fm/run2/deep/b.txt", "b.txt")] as [(String, String?)] {
            let put = try aws(["s3api", "put-object", "--bucket", bucket, "--key", key] + (body.map { ["--body", source + "/" + $0] } ?? []))
            XCTAssertEqual(put.status, 0, "\(key): \(put.summary)")
        }
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/fm/"])
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix("_download_status_") },
                       ["run1", "run1/a.txt", "run1/empty", "run2", "run2/deep", "run2/deep/b.txt"])
        XCTAssertTrue(isDirectory(destination + "/run1") && isDirectory(destination + "/run1/empty"))
        XCTAssertEqual(try? sha256(ofFile: destination + "/run1/a.txt"), try sha256(ofFile: source + "/a.txt"))
        XCTAssertEqual(try? sha256(ofFile: destination + "/run2/deep/b.txt"), try sha256(ofFile: source + "/b.txt"))
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.value("Status"), "SUCCESS", report.lines.joined(separator: "\n"))
            XCTAssertEqual(report.value("Total files"), "2", "the markers are no report lines: \(report.fileLines)")
        }

        // The marker of the prefix asked for is the destination itself.
        let inner = try makeDirectory("inner")
        let again = try s3restore(["--to", inner, "s3://\(bucket)/fm/run1/"])
        XCTAssertEqual(again.status, 0, again.summary)
        XCTAssertEqual(allPaths(under: inner).filter { !$0.hasPrefix("_download_status_") }, ["a.txt", "empty"])
    }

    /// Best effort, like cat(1): a missing URL and an archive whose index is not an index are each named on stderr
    /// and in a report of their own; the archives before and after them are restored; the exit status says so.
    func testOneBadURLDoesNotStopTheOthers() throws {
        let bucket = try bucket
        let first = temp.file("src/sess-first"), last = temp.file("src/sess-last")
        try RestoreTree.make(at: first, bigSizes: [10_000])
        try RestoreTree.make(at: last, bigSizes: [20_000])
        let firstURL = "s3://\(bucket)/be/sess-first.tar", lastURL = "s3://\(bucket)/be/sess-last.tar"
        XCTAssertNotNil(try archiveAndPut(first, to: firstURL))
        XCTAssertNotNil(try archiveAndPut(last, to: lastURL))
        let badURL = "s3://\(bucket)/be/sess-bad.tar"
        let garbage = temp.file("garbage")
        try Data("not an index\n".utf8).write(to: URL(fileURLWithPath: garbage))
        for key in ["be/sess-bad.tar", "be/sess-bad.tar.index.json"] {
            XCTAssertEqual(try aws(["s3api", "put-object", "--bucket", bucket, "--key", key, "--body", garbage]).status, 0)
        }
        let missingURL = "s3://\(bucket)/be/sess-missing.tar"

        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, firstURL, missingURL, badURL, lastURL])
        XCTAssertEqual(result.status, 66, "the first failure's status (no such object): \(result.summary)")
        assertSameFiles(destination + "/sess-first", first)
        assertSameFiles(destination + "/sess-last", last)
        XCTAssertTrue(result.err.contains(missingURL), "stderr names the missing URL: \(result.err)")
        XCTAssertTrue(result.err.contains("sess-bad.tar.index.json"), "stderr names the bad index: \(result.err)")
        let reports = try statusReports(in: destination).map { try StatusReportFile(path: $0) }
        XCTAssertEqual(reports.count, 4, "one report per URL: \(reports.map(\.name))")
        let failed = reports.filter { $0.value("Status") == "COMPLETE FAILURE" }
        XCTAssertEqual(Set(failed.compactMap { $0.value("Archive") }), [missingURL, badURL], "\(reports.map(\.lines))")
        for report in failed {
            XCTAssertEqual(report.fileLines.count, 1, "one FAILURE line naming the archive: \(report.lines)")
            XCTAssertTrue(report.fileLines.first?.contains(": FAILURE - ") ?? false, "\(report.lines)")
        }
        XCTAssertEqual(reports.filter { $0.value("Status") == "SUCCESS" }.count, 2)
    }

    /// A prefix mixing STANDARD and GLACIER objects (moto keeps storage classes): the readable files come back on
    /// the first run while the cold ones are asked to thaw; the run exits 75 and their lines say so. Through a
    /// proxy that holds the thaw (moto would finish it at once).
    func testMixedPrefixFetchesTheReadableFilesWhileTheColdOnesThaw() throws {
        let moto = try env.requireMoto()
        let bucket = uniqueBucketName("mixedprefix")
        XCTAssertEqual(try aws(["s3", "mb", "s3://\(bucket)"], endpoint: moto).status, 0)
        defer { _ = try? aws(["s3", "rb", "--force", "s3://\(bucket)"], endpoint: moto) }
        let source = try makeDirectory("src")
        let classes = ["a.raw": "STANDARD", "b.raw": "GLACIER", "c.raw": "STANDARD", "d.raw": "DEEP_ARCHIVE"]
        for (name, storageClass) in classes {
            try makeRandomFile(source + "/" + name, size: 5000)
            let put = try aws(["s3api", "put-object", "--bucket", bucket, "--key", "mix/" + name, "--body", source + "/" + name,
                               "--storage-class", storageClass], endpoint: moto)
            XCTAssertEqual(put.status, 0, put.summary)
        }
        let proxy = try ListingCutProxy(upstream: moto, directory: temp.file("proxy"), environment: env.processEnvironment(),
                                        mode: "hold-thaw")
        defer { proxy.stop() }
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/mix/"], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 75, "the cold ones are still thawing: \(result.summary)")
        XCTAssertEqual(proxy.heldCount(), 2, "one RestoreObject for each cold object")
        XCTAssertEqual(allPaths(under: destination).filter { !$0.hasPrefix("_download_status_") }, ["a.raw", "c.raw"],
                       "the readable files are fetched at once")
        for name in ["a.raw", "c.raw"] {
            XCTAssertEqual(try? sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name))
        }
        if let report = try onlyReport(in: destination) {
            XCTAssertTrue(report.outcomes["b.raw"]?.contains("run the same command again later") ?? false, "\(report.lines)")
            XCTAssertTrue(report.outcomes["a.raw"]?.hasPrefix("OK - Downloaded and verified") ?? false, "\(report.lines)")
        }

        // Once thawed (straight from moto now), the next run fetches the cold ones and skips the others.
        for report in statusReports(in: destination) { try FileManager.default.removeItem(atPath: report) }
        let second = try s3restore(["--to", destination, "s3://\(bucket)/mix/"], endpoint: moto)
        XCTAssertEqual(second.status, 0, second.summary)
        for name in classes.keys {
            XCTAssertEqual(try? sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name), name)
        }
        if let report = try onlyReport(in: destination) {
            XCTAssertEqual(report.outcomes["a.raw"], "OK - Skipped (already exists)")
            XCTAssertEqual(report.value("Status"), "SUCCESS")
        }
    }

    /// A ranged GET of an archive cut halfway is resumed from the first byte not received, for the same archive
    /// (If-Match its ETag), and the restore is whole.
    func testCutTransferResumesWithIfMatch() throws {
        let bucket = try bucket
        let source = temp.file("src/sess-cut")
        try RestoreTree.make(at: source, bigSizes: [3 * MiB])
        let url = "s3://\(bucket)/resume/sess-cut.tar"
        XCTAssertNotNil(try archiveAndPut(source, to: url))
        guard let etag = try headObject(bucket, "resume/sess-cut.tar")?.etag else { return XCTFail("no archive") }
        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment(),
                                        mode: "cut-get:/resume/sess-cut.tar")
        defer { proxy.stop() }
        proxy.go()
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "--concurrency", "1", url], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 0, result.summary)
        XCTAssertTrue(proxy.didCut, "the proxy cut the transfer: \(proxy.log())")
        XCTAssertEqual(proxy.resumes().count, 1, "\(proxy.log())")
        XCTAssertTrue(proxy.resumes().first?.hasSuffix("if-match=\"\(etag)\"") ?? false, "\(proxy.log())")
        assertSameFiles(destination + "/sess-cut", source)
    }

    /// The index object changed on its way (a proxy turns b.fits into c.fits in the GET's body: no server hands
    /// out other bytes than it keeps): it is checked against the checksum the store keeps before any path in it is
    /// trusted, so nothing is restored from it (no c.fits), and the run fails with 65 naming the index.
    func testIndexChangedOnItsWayIsRefused() throws {
        let bucket = try bucket
        let source = temp.file("src/sess-flip")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try makeRandomFile(source + "/a.fits", size: 1000)
        try makeRandomFile(source + "/b.fits", size: 2000)
        let url = "s3://\(bucket)/flip/sess-flip.tar"
        XCTAssertNotNil(try archiveAndPut(source, to: url))
        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("flip-proxy"),
                                        environment: env.processEnvironment(), mode: "flip-index")
        defer { proxy.stop() }
        let destination = try makeDirectory("flip-dest")
        let result = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertTrue(proxy.log().contains { $0.hasPrefix("FLIPPED") }, "the proxy changed the index: \(proxy.log())")
        XCTAssertEqual(result.status, 65, result.summary)
        XCTAssertTrue(result.err.contains("\(url).index.json: the index read is not the index stored"), result.err)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/sess-flip/c.fits"), "nothing under another name")
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/sess-flip/a.fits"), "nothing from that index")

        let direct = try s3restore(["--to", destination, url])
        XCTAssertEqual(direct.status, 0, "control: straight from the server: \(direct.summary)")
        assertSameFiles(destination + "/sess-flip", source)
    }

    /// Objects whose ETag is no MD5 (SSE-KMS on AWS; a proxy stands in, since neither server has KMS: it answers
    /// a stand-in ETag and the KMS header) are restored and checked by the CRC64NVME the store keeps: fetched,
    /// then skipped as intact, then a damaged copy healed; one stored without a checksum cannot be checked and is
    /// not written.
    func testObjectsWhoseETagIsNoMD5AreCheckedByTheirStoredChecksum() throws {
        let bucket = try bucket
        let source = temp.file("kms-src")
        try FileManager.default.createDirectory(atPath: source, withIntermediateDirectories: true)
        try makeRandomFile(source + "/a.raw", size: 3000)
        try makeRandomFile(source + "/b.raw", size: 7 * MiB)
        for name in ["a.raw", "b.raw"] {
            XCTAssertEqual(try s3put(["--part-size", "5MiB", source + "/" + name, "s3://\(bucket)/kms/\(name)"]).status, 0)
        }
        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("kms-proxy"),
                                        environment: env.processEnvironment(), mode: "kms")
        defer { proxy.stop() }
        let destination = try makeDirectory("kms-dest")
        let url = "s3://\(bucket)/kms/"
        let first = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(first.status, 0, first.summary)
        for name in ["a.raw", "b.raw"] {
            XCTAssertEqual(try sha256(ofFile: destination + "/" + name), try sha256(ofFile: source + "/" + name), name)
        }
        let again = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(again.status, 0, again.summary)
        let report = try StatusReportFile(path: try XCTUnwrap(statusReports(in: destination).last))
        XCTAssertEqual(report.outcomes["a.raw"]?.hasPrefix("OK - Skipped"), true, "\(report.lines)")
        XCTAssertEqual(report.outcomes["b.raw"]?.hasPrefix("OK - Skipped"), true, "\(report.lines)")

        try flipByte(destination + "/b.raw", at: 100)
        let healed = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(healed.status, 0, healed.summary)
        XCTAssertEqual(try sha256(ofFile: destination + "/b.raw"), try sha256(ofFile: source + "/b.raw"), "healed")

        XCTAssertEqual(try s3put(["--checksum", "none", source + "/a.raw", "s3://\(bucket)/kms-bare/a.raw"]).status, 0)
        let bare = try makeDirectory("kms-bare-dest")
        let unchecked = try s3restore(["--to", bare, "s3://\(bucket)/kms-bare/"], endpoint: proxy.endpoint)
        XCTAssertEqual(unchecked.status, 1, unchecked.summary)
        XCTAssertFalse(FileManager.default.fileExists(atPath: bare + "/a.raw"), "nothing unchecked written")
    }

    /// An object replaced between the cut and the resume answers 412 to If-Match: that file fails, nothing of the
    /// two objects is spliced into one, no temporary is left.
    func testObjectChangedBeforeTheResumeFailsThatFile() throws {
        let bucket = try bucket
        let source = try makeDirectory("src")
        try makeRandomFile(source + "/big.bin", size: 4 * MiB)
        try makeRandomFile(source + "/other.bin", size: 4 * MiB)
        XCTAssertEqual(try aws(["s3", "cp", source + "/big.bin", "s3://\(bucket)/changed/big.bin"]).status, 0)
        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment(),
                                        mode: "cut-get:/changed/big.bin")
        defer { proxy.stop() }
        // Once the transfer is cut, the object is replaced (aws-cli, in a shell of its own); then the resume may go.
        guard let awsPath = which("aws") else { return XCTFail("aws-cli is not on PATH") }
        let replacer = Process()
        replacer.executableURL = URL(fileURLWithPath: "/bin/bash")
        replacer.arguments = ["-c", #"while [ ! -e "$1.cutdone" ]; do sleep 0.05; done; "$2" --endpoint-url "$3" s3 cp "$4" "$5" >/dev/null; touch "$1.go""#,
                              "bash", proxy.logPath, awsPath, env.endpoint, source + "/other.bin", "s3://\(bucket)/changed/big.bin"]
        replacer.environment = env.processEnvironment()
        try replacer.run()
        defer { if replacer.isRunning { replacer.terminate() } }
        let destination = try makeDirectory("dest")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/changed/big.bin"], endpoint: proxy.endpoint)
        replacer.waitUntilExit()
        XCTAssertEqual(replacer.terminationStatus, 0, "aws s3 cp replaced the object")
        XCTAssertEqual(result.status, 1, result.summary)
        XCTAssertEqual(proxy.resumes().count, 1, "\(proxy.log())")
        XCTAssertTrue(proxy.resumes().first?.contains("if-match=\"") ?? false, "\(proxy.log())")
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/big.bin"), "no spliced file")
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
        if let report = try onlyReport(in: destination) {
            XCTAssertTrue(report.outcomes["big.bin"]?.contains("changed while it was being downloaded") ?? false, "\(report.lines)")
        }
    }
}

/// A pass-through proxy in python3 that stands in for one fault alone, which no local server produces:
/// `cut-listing` cuts every ListObjectsV2 answer's XML in half (sent whole as HTTP, with its Content-Length, so
/// only the document is broken); `hold-thaw` answers RestoreObject 202 without passing it on, so that the object
/// stays frozen as it does for hours on AWS (moto thaws at once); `cut-get:KEY` drops the connection halfway
/// through the first GET of KEY, and holds the next one until the test says go (no server drops a transfer on
/// cue, nor lets an object change between two requests of one download). The real server does all the rest.
final class ListingCutProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }
    var logPath: String { running.logPath }

    static let script = #"""
import http.client, http.server, sys, threading, time, urllib.parse, os

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, mode = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()

def note(line):
    with lock:
        with open(log_file, "a") as f:
            f.write(line + "\n")

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        query = urllib.parse.urlsplit(self.path).query.split("&")
        if mode == "hold-thaw" and self.command == "POST" and "restore" in query:
            # Accepted, and never passed on: the object stays frozen, as it does for hours on AWS.
            note("HELD " + self.path)
            self.send_response_only(202, "Accepted")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if mode.startswith("cut-get:") and self.command == "GET" and urllib.parse.urlsplit(self.path).path.endswith(mode[8:]):
            with lock:
                first = not os.path.exists(log_file + ".cut")
                if first:
                    open(log_file + ".cut", "w").close()
            if not first:
                note("RESUME %s range=%s if-match=%s" % (self.path, self.headers.get("Range"), self.headers.get("If-Match")))
                # The test may change the object between the cut and the resume.
                for _ in range(600):
                    if os.path.exists(log_file + ".go"):
                        break
                    time.sleep(0.05)
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() in ("expect", "connection", "keep-alive", "proxy-connection"):
                continue
            if mode == "kms" and name.lower() == "if-match":
                continue  # the client holds the stand-in ETag below, which the server never gave
            conn.putheader(name, value)
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if mode == "cut-listing" and self.command == "GET" and "list-type=2" in query and response.status == 200:
            data = data[: len(data) // 2]
            note("CUT " + self.path)
        if mode == "flip-index" and self.command == "GET" and self.path.split("?")[0].endswith(".index.json") \
                and response.status == 200 and b"b.fits" in data:
            # One byte of a path changed on its way, as a flipped bit at rest would: b.fits becomes c.fits.
            data = data.replace(b"b.fits", b"c.fits")
            note("FLIPPED " + self.path)
        self.send_response_only(response.status, response.reason)
        kms = mode == "kms" and self.command in ("GET", "HEAD") and "list-type=2" not in query and response.status in (200, 206)
        for name, value in response.getheaders():
            if name.lower() in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                continue
            if kms and name.lower() == "etag":
                # As SSE-KMS objects answer on AWS: an ETag that is no MD5 of the bytes.
                value = '"5e1ec7ed5e1ec7ed5e1ec7ed5e1ec7ed"'
            self.send_header(name, value)
        if kms:
            self.send_header("x-amz-server-side-encryption", "aws:kms")
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            if mode.startswith("cut-get:") and self.command == "GET" and urllib.parse.urlsplit(self.path).path.endswith(mode[8:]) \
                    and not os.path.exists(log_file + ".cutdone"):
                open(log_file + ".cutdone", "w").close()
                # Half the body, then the connection drops, as a reset mid-transfer would.
                self.wfile.write(data[: len(data) // 2])
                self.wfile.flush()
                note("CUT %s range=%s" % (self.path, self.headers.get("Range")))
                self.close_connection = True
                self.connection.shutdown(2)
                return
            note("PASSED %s %d" % (self.path, response.status))
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, environment: [String: String], mode: String = "cut-listing") throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [mode], directory: directory,
                                   file: "cut-proxy", name: "the listing-cut proxy", environment: environment)
    }

    /// How many listings the proxy cut.
    func cutCount() -> Int { log().filter { $0.hasPrefix("CUT ") }.count }

    /// How many RestoreObject requests the proxy held back.
    func heldCount() -> Int { log().filter { $0.hasPrefix("HELD ") }.count }

    /// The resumed GETs, as "RESUME path range=... if-match=...".
    func resumes() -> [String] { log().filter { $0.hasPrefix("RESUME ") } }

    /// Whether the first GET of the key was cut.
    var didCut: Bool { log().contains { $0.hasPrefix("CUT ") } }

    /// Lets the resumed GET go on.
    func go() { FileManager.default.createFile(atPath: logPath + ".go", contents: nil) }

    /// All the proxy noted.
    func log() -> [String] {
        running.logLines
    }

    func stop() { running.stop() }
}
