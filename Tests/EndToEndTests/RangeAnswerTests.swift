import Foundation
import XCTest

/// A ranged GET (an archive's files, or a download resumed after a cut, with If-Match) answered 200 instead of
/// 206 is refused at its status line: the file fails with the reason, and the transfer
/// is dropped there, not read to its end.
final class RangeAnswerTests: EndToEndCase {
    func testResumeAnswered200IsRefusedBeforeItsBody() throws {
        let bucket = try bucket
        let source = temp.file("whole.bin")
        let size = 24 * MiB
        try makeRandomFile(source, size: size)
        XCTAssertEqual(try aws(["s3", "cp", source, "s3://\(bucket)/resume/whole.bin"]).status, 0)
        let proxy = try WholeAnswerProxy(upstream: env.endpoint, directory: temp.file("proxy-resume"),
                                         environment: env.processEnvironment(), mode: "cut-then-200:/resume/whole.bin")
        defer { proxy.stop() }
        let destination = try makeDirectory("resume")
        let result = try s3restore(["--to", destination, "s3://\(bucket)/resume/"], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 1, result.summary)
        guard let report = try onlyReport(in: destination) else { return }
        let outcome = report.outcomes["whole.bin"] ?? "(no line)"
        XCTAssertTrue(outcome.hasPrefix("FAILURE - ") && outcome.contains("answered 200, not 206 Partial Content"), outcome)
        XCTAssertFalse(FileManager.default.fileExists(atPath: destination + "/whole.bin"))
        XCTAssertEqual(leftoverTemporaryFiles(under: destination), [])
        // The client hung up on the 200 long before its 12 MiB were sent (socket buffers hold a few MiB at most).
        let answers = proxy.log().filter { $0.hasPrefix("WHOLE ") }
        XCTAssertEqual(answers.count, 1, proxy.log().joined(separator: "\n"))
        for answer in answers {
            XCTAssertTrue(answer.contains("hung up"), answer)
            let sent = Int(answer.split(separator: " ").last ?? "") ?? size
            XCTAssertLessThan(sent, size / 2 - 4 * MiB, answer)
        }
    }

    func testArchiveRangesAnswered200AreRefused() throws {
        let bucket = try bucket
        let session = temp.file("src/sess-range")
        try FileManager.default.createDirectory(atPath: session, withIntermediateDirectories: true)
        try makeRandomFile(session + "/a.bin", size: 3 * MiB)
        try Data("z\n".utf8).write(to: URL(fileURLWithPath: session + "/z.txt"))
        let url = "s3://\(bucket)/backups/sess-range.tar"
        guard try archiveAndPut(session, to: url) != nil else { return }
        let proxy = try WholeAnswerProxy(upstream: env.endpoint, directory: temp.file("proxy-archive"),
                                         environment: env.processEnvironment(), mode: "ignore-range")
        defer { proxy.stop() }
        let destination = try makeDirectory("archive")
        let result = try s3restore(["--to", destination, url], endpoint: proxy.endpoint)
        XCTAssertEqual(result.status, 1, result.summary)
        guard let report = try onlyReport(in: destination) else { return }
        for name in ["a.bin", "z.txt"] {
            let outcome = report.outcomes["sess-range/\(name)"] ?? "(no line)"
            XCTAssertTrue(outcome.hasPrefix("FAILURE - ") && outcome.contains("not 206 Partial Content"), "\(name): \(outcome)")
        }
    }
}

/// A pass-through proxy in python3 that answers ranged GETs with 200 instead of 206 (the range's bytes, as a
/// server that ignores Range would send more), which no real server does (SeaweedFS and moto honour Range):
/// `ignore-range` for every ranged GET of an object (not its index); `cut-then-200:PATH` cuts the first GET of
/// PATH halfway (the connection drops) and answers the resumed one so. It streams that body and notes
/// `WHOLE path sent N` or `WHOLE path hung up after N`.
final class WholeAnswerProxy {
    private let running: RunningProxy
    var endpoint: String { running.endpoint }

    static let script = #"""
import http.client, http.server, sys, threading, urllib.parse, os

upstream = urllib.parse.urlsplit(sys.argv[1])
port_file, log_file, mode = sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()
state = {"cut": False}

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
        path = urllib.parse.urlsplit(self.path).path
        target = mode.startswith("cut-then-200:") and path.endswith(mode[len("cut-then-200:"):])
        ranged = self.command == "GET" and self.headers.get("Range") is not None
        whole = ranged and ((mode == "ignore-range" and not path.endswith(".index.json")) or (target and state["cut"]))
        cut = self.command == "GET" and target and not state["cut"]
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
        # Every header is signed, so the request goes as it came; the answer's 206 becomes a plain 200.
        status = 200 if whole and response.status == 206 else response.status
        self.send_response_only(status, "OK" if status == 200 else response.reason)
        for name, value in response.getheaders():
            if name.lower() in ("connection", "keep-alive", "transfer-encoding", "content-length"):
                continue
            if whole and name.lower() == "content-range":
                continue
            self.send_header(name, value)
        if self.command == "HEAD":
            self.send_header("Content-Length", response.getheader("Content-Length") or "0")
        else:
            self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        if self.command == "HEAD":
            return
        if cut:
            state["cut"] = True
            self.wfile.write(data[: len(data) // 2])
            self.wfile.flush()
            note("CUT " + path)
            self.close_connection = True
            self.connection.shutdown(2)
            return
        if not whole:
            self.wfile.write(data)
            return
        sent = 0
        try:
            while sent < len(data):
                self.wfile.write(data[sent:sent + 65536])
                self.wfile.flush()
                sent += min(65536, len(data) - sent)
            note("WHOLE %s sent %d" % (path, sent))
        except (BrokenPipeError, ConnectionResetError):
            note("WHOLE %s hung up after %d" % (path, sent))
            self.close_connection = True

    do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = handle_any

\#(proxyServe)
"""#

    init(upstream: String, directory: String, environment: [String: String], mode: String) throws {
        running = try RunningProxy(script: Self.script, upstream: upstream, arguments: [mode], directory: directory,
                                   file: "whole-proxy", name: "the whole-answer proxy", environment: environment)
    }

    func log() -> [String] { running.logLines }

    func stop() { running.stop() }
}
