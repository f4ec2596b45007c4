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

        let proxy = try ListingCutProxy(upstream: env.endpoint, directory: temp.file("proxy"), environment: env.processEnvironment())
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
}

/// A pass-through proxy in python3 that cuts every ListObjectsV2 answer's XML in half (sent whole as HTTP, with
/// its Content-Length, so only the document is broken). This is a stand-in for one fault alone: no real server
/// can be made to send a listing that does not parse. SeaweedFS behind it does all the work; every other request
/// passes untouched.
final class ListingCutProxy {
    let endpoint: String
    private let process: Process
    private let logPath: String

    static let script = #"""
import http.client, http.server, sys, threading, urllib.parse, os

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file = sys.argv[2], sys.argv[3]
lock = threading.Lock()

class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def handle_any(self):
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        conn = http.client.HTTPConnection(upstream.hostname, upstream.port, timeout=120)
        conn.putrequest(self.command, self.path, skip_host=True, skip_accept_encoding=True)
        for name, value in self.headers.items():
            if name.lower() in ("expect", "connection", "keep-alive", "proxy-connection"):
                continue
            conn.putheader(name, value)
        conn.endheaders(body if body else None)
        response = conn.getresponse()
        data = response.read()
        conn.close()
        if self.command == "GET" and "list-type=2" in self.path and response.status == 200:
            data = data[: len(data) // 2]
            with lock:
                with open(log_file, "a") as f:
                    f.write("CUT " + self.path + "\n")
        self.send_response_only(response.status, response.reason)
        for name, value in response.getheaders():
            if name.lower() in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
server.daemon_threads = True
with open(port_file + ".tmp", "w") as f:
    f.write(str(server.server_address[1]))
os.rename(port_file + ".tmp", port_file)
server.serve_forever()
"""#

    init(upstream: String, directory: String, environment: [String: String]) throws {
        guard let python = which("python3") else {
            XCTFail("python3 is not on PATH")
            throw TestEnvironment.Missing()
        }
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        let portFile = directory + "/cut-proxy.port"
        logPath = directory + "/cut-proxy.log"
        (process, endpoint) = try startPythonProxy(python: python, script: Self.script, arguments: [upstream, portFile, logPath],
                                                   portFile: portFile, environment: environment, name: "the listing-cut proxy")
    }

    /// How many listings the proxy cut.
    func cutCount() -> Int {
        ((try? String(contentsOfFile: logPath, encoding: .utf8)) ?? "").split(separator: "\n").count
    }

    func stop() {
        guard process.isRunning else { return }
        process.terminate()
        process.waitUntilExit()
    }
}
