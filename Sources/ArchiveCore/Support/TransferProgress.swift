import Foundation
import Synchronization

/// Bytes and items (parts, files, objects) done, shared by the workers, drawn as one line on a terminal: label,
/// bytes done of the total, rate, ETA, items. The workers only add to two atomic counters; a drawing thread
/// reads them a few times a second, so that a display switched on costs the hot path one atomic add per chunk,
/// and one switched off (nil) costs nothing.
public final class TransferProgress: Sendable {
    private struct Line {
        var totalBytes: Int?
        var totalItems: Int?
        var started = Date()
        var label: String
        /// Counts the drawing threads started; a thread draws while it is the latest and drawing is on.
        var generation = 0
        var drawing = false
        /// Something is on the terminal's current line that a message must clear first.
        var shown = false
    }
    private let line: Mutex<Line>
    private let bytes = Atomic<Int>(0)
    private let items = Atomic<Int>(0)
    /// What the items are, in the users' words: "parts" (s3-put), "files", "objects".
    private let itemName: String
    /// Seconds between two drawings: a terminal gains nothing from more, and each costs a write.
    static let interval = 0.5

    /// A progress line on stderr, or nil when stderr is not a terminal (cron, pipes, logs stay clean).
    public static func onTerminal(label: String, counting itemName: String = "parts") -> TransferProgress? {
        Terminal.standardErrorIsTerminal ? TransferProgress(label: label, counting: itemName) : nil
    }

    init(label: String, counting itemName: String = "parts") {
        line = Mutex(Line(label: label))
        self.itemName = itemName
    }

    /// Starts (or restarts, from zero) the count towards these totals and draws the line at once and then every
    /// `interval`; nil totals are unknown (a stream).
    public func start(totalBytes: Int?, totalItems: Int?) {
        bytes.store(0, ordering: .relaxed)
        items.store(0, ordering: .relaxed)
        let generation: Int? = line.withLock { line in
            line.totalBytes = totalBytes
            line.totalItems = totalItems
            line.started = Date()
            guard !line.drawing else { return nil }
            line.drawing = true
            line.generation += 1
            return line.generation
        }
        draw()
        guard let generation else { return }
        Thread.detachNewThread { [weak self] in
            while true {
                Thread.sleep(forTimeInterval: Self.interval)
                guard let self, self.line.withLock({ $0.drawing && $0.generation == generation }) else { return }
                // `draw` checks again under its lock: `finish` may come between the two.
                self.draw()
            }
        }
    }

    func start(totalBytes: Int?, totalParts: Int?) { start(totalBytes: totalBytes, totalItems: totalParts) }

    /// Called by the workers as bytes arrive or leave: an atomic add, no lock.
    public func add(bytes count: Int, items done: Int = 0) {
        if count != 0 { bytes.add(count, ordering: .relaxed) }
        if done != 0 { items.add(done, ordering: .relaxed) }
    }

    func add(bytes count: Int, parts done: Int) { add(bytes: count, items: done) }

    public func setLabel(_ text: String) { line.withLock { $0.label = text } }

    /// Writes a message line (the tool's `warn`, or a record on the same terminal) on a line of its own: the
    /// progress line is cleared first and drawn again at the next tick. Held under the lock the drawing takes,
    /// so that no drawing lands in the middle of the message.
    public func clearingLine(_ write: () -> Void) {
        line.withLock { line in
            if line.shown { FileHandle.standardError.write(Data("\r\u{1b}[K".utf8)) }
            line.shown = false
            write()
        }
    }

    /// `write`, each message on a line of its own while the progress line may be drawn (see `clearingLine(_:)`).
    public func clearingLine(around write: @escaping @Sendable (String) -> Void) -> @Sendable (String) -> Void {
        { message in self.clearingLine { write(message) } }
    }

    /// Stops drawing. `leavingSummary`: the final counts stay on the terminal, ended by a newline (as pv and
    /// rsync --progress leave theirs); otherwise the line is cleared. Either way the tool's own messages follow
    /// on a clean line.
    /// Finishing twice (a summary, then the tool's own `defer`) leaves nothing more.
    public func finish(leavingSummary: Bool = false) {
        let wasDrawing = line.withLock { line in
            defer { line.drawing = false }
            return line.drawing
        }
        if leavingSummary, wasDrawing { draw(final: true) }
        line.withLock { line in
            guard line.shown else { return }
            FileHandle.standardError.write(Data((leavingSummary ? "\n" : "\r\u{1b}[K").utf8))
            line.shown = false
        }
    }

    /// `final`: the time taken in place of the ETA. A tick that finds drawing over draws nothing: a stale line
    /// after the summary would never be cleared.
    private func draw(final: Bool = false) {
        line.withLock { line in
            guard final || line.drawing else { return }
            let text = Self.text(line, bytes: bytes.load(ordering: .relaxed), items: items.load(ordering: .relaxed),
                                 itemName: itemName, final: final)
            FileHandle.standardError.write(Data("\r\u{1b}[K\(text)".utf8))
            line.shown = true
        }
    }

    private static func text(_ line: Line, bytes: Int, items: Int, itemName: String, final: Bool) -> String {
        let elapsed = max(Date().timeIntervalSince(line.started), 0.001)
        let rate = Double(bytes) / elapsed
        // A line longer than the terminal wraps, and "\r ESC[K" would then clear only its last row: a long
        // label (an object's name) keeps its end.
        let label = line.label.count > 28 ? "…" + line.label.suffix(27) : line.label
        var text = "\(label)  \(ByteSize.format(bytes))"
        if let totalBytes = line.totalBytes { text += " / \(ByteSize.format(totalBytes))" }
        text += "  \(ByteSize.format(Int(rate)))/s"
        if final {
            text += String(format: "  in %d:%02d", Int(elapsed) / 60, Int(elapsed) % 60)
        } else if let totalBytes = line.totalBytes, rate > 0 {
            let remaining = Int(Double(max(totalBytes - bytes, 0)) / rate)
            text += String(format: "  ETA %d:%02d", remaining / 60, remaining % 60)
        }
        return text + "  \(itemName) \(items)" + (line.totalItems.map { "/\($0)" } ?? "")
    }
}
