import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Bytes and parts done, shared by the workers, drawn as one line on a terminal: bytes, rate, ETA, parts.
public final class TransferProgress: @unchecked Sendable {
    private let lock = NSLock()
    private var totalBytes: Int?
    private var totalParts: Int?
    private var bytes = 0
    private var parts = 0
    private var started = Date()
    private var label: String
    private var timer: DispatchSourceTimer?

    /// A progress line on stderr, or nil when stderr is not a terminal (cron, pipes, logs stay clean).
    public static func onTerminal(label: String) -> TransferProgress? {
        isatty(STDERR_FILENO) == 1 ? TransferProgress(label: label) : nil
    }

    init(label: String) { self.label = label }

    func start(totalBytes: Int?, totalParts: Int?) {
        lock.withLock {
            self.totalBytes = totalBytes
            self.totalParts = totalParts
            bytes = 0
            parts = 0
            started = Date()
        }
        guard timer == nil else { return }
        let timer = DispatchSource.makeTimerSource(queue: .global())
        timer.schedule(deadline: .now() + 0.5, repeating: 0.5)
        timer.setEventHandler { [weak self] in self?.draw(final: false) }
        timer.resume()
        self.timer = timer
    }

    func add(bytes count: Int, parts done: Int) {
        lock.withLock {
            bytes += count
            parts += done
        }
    }

    public func setLabel(_ text: String) { lock.withLock { label = text } }

    /// Clears the line; the tool's own messages follow on a clean line.
    public func finish() {
        timer?.cancel()
        timer = nil
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }

    private func draw(final: Bool) {
        let (label, bytes, parts, totalBytes, totalParts, started) = lock.withLock {
            (self.label, self.bytes, self.parts, self.totalBytes, self.totalParts, self.started)
        }
        let elapsed = max(Date().timeIntervalSince(started), 0.001)
        let rate = Double(bytes) / elapsed
        var line = "\(label)  \(ByteSize.format(bytes))"
        if let totalBytes { line += " / \(ByteSize.format(totalBytes))" }
        line += "  \(ByteSize.format(Int(rate)))/s"
        if let totalBytes, rate > 0 {
            let remaining = Int(Double(totalBytes - bytes) / rate)
            line += String(format: "  ETA %d:%02d", remaining / 60, remaining % 60)
        }
        line += "  parts \(parts)" + (totalParts.map { "/\($0)" } ?? "")
        FileHandle.standardError.write(Data("\r\u{1b}[K\(line)".utf8))
    }
}
