import Foundation
import Synchronization

/// Bytes and parts done, shared by the workers, drawn as one line on a terminal: bytes, rate, ETA, parts.
public final class TransferProgress: Sendable {
    private struct Counts {
        var totalBytes: Int?
        var totalParts: Int?
        var bytes = 0
        var parts = 0
        var started = Date()
        var label: String
        /// Counts the drawing threads started; a thread draws while it is the latest and drawing is on.
        var generation = 0
        var drawing = false
    }
    private let counts: Mutex<Counts>

    /// A progress line on stderr, or nil when stderr is not a terminal (cron, pipes, logs stay clean).
    public static func onTerminal(label: String) -> TransferProgress? {
        Terminal.standardErrorIsTerminal ? TransferProgress(label: label) : nil
    }

    init(label: String) { counts = Mutex(Counts(label: label)) }

    func start(totalBytes: Int?, totalParts: Int?) {
        let generation: Int? = counts.withLock { counts in
            counts.totalBytes = totalBytes
            counts.totalParts = totalParts
            counts.bytes = 0
            counts.parts = 0
            counts.started = Date()
            guard !counts.drawing else { return nil }
            counts.drawing = true
            counts.generation += 1
            return counts.generation
        }
        guard let generation else { return }
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: 0.5)
                guard let self, self.counts.withLock({ $0.drawing && $0.generation == generation }) else { return }
                self.draw()
            }
        }
    }

    func add(bytes count: Int, parts done: Int) {
        counts.withLock {
            $0.bytes += count
            $0.parts += done
        }
    }

    public func setLabel(_ text: String) { counts.withLock { $0.label = text } }

    /// Clears the line; the tool's own messages follow on a clean line.
    public func finish() {
        counts.withLock { $0.drawing = false }
        FileHandle.standardError.write(Data("\r\u{1b}[K".utf8))
    }

    private func draw() {
        let now = counts.withLock { $0 }
        let elapsed = max(Date().timeIntervalSince(now.started), 0.001)
        let rate = Double(now.bytes) / elapsed
        var line = "\(now.label)  \(ByteSize.format(now.bytes))"
        if let totalBytes = now.totalBytes { line += " / \(ByteSize.format(totalBytes))" }
        line += "  \(ByteSize.format(Int(rate)))/s"
        if let totalBytes = now.totalBytes, rate > 0 {
            let remaining = Int(Double(totalBytes - now.bytes) / rate)
            line += String(format: "  ETA %d:%02d", remaining / 60, remaining % 60)
        }
        line += "  parts \(now.parts)" + (now.totalParts.map { "/\($0)" } ?? "")
        FileHandle.standardError.write(Data("\r\u{1b}[K\(line)".utf8))
    }
}
