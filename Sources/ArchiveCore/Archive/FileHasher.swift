import Foundation
import Synchronization

/// Takes the SHA-256 of each archived file on a thread of its own, from the tar's own buffers the file was read
/// into, so that hashing (most of s3-archive's CPU time) overlaps the reading and the tar's writing on the other core.
/// Each file hashed here gets a ticket, numbered in order; its hash is asked for by ticket when its index entry
/// is written. Small files are hashed by the caller at once: a hand-over per file would cost more than the hash.
final class FileHasher: Sendable {
    /// Files up to this size are hashed on the caller's thread.
    static let inlineLimit = 256 << 10
    /// The most read at once: the hashing of a large file starts after its first chunk.
    static let chunk = 1 << 20

    private enum Work: Sendable {
        case bytes(TarChunk)
        case end
    }

    private let queue = HandOff<Work>()
    private let thread = Mutex<JoinableThread?>(nil)
    private let state = Mutex(State())
    private let finished = DispatchSemaphore(value: 0)

    private struct State {
        var issued = 0
        var hashed: [Int: String] = [:]
        var done = 0
    }

    init() {
        let started = JoinableThread(name: "archive-hasher") { [self] in run() }
        thread.withLock { $0 = started }
    }

    private func run() {
        let digest = Digest(.sha256)
        while let work = queue.pop() {
            switch work {
            case .bytes(let chunk):
                digest.update(chunk)
                chunk.letGo()
            case .end:
                let hex = digest.finish().hex
                state.withLock { $0.hashed[$0.done] = hex; $0.done += 1 }
                finished.signal()
            }
        }
    }

    /// A new file begins: its ticket.
    func begin() -> Int { state.withLock { s in defer { s.issued += 1 }; return s.issued } }

    /// The next bytes of the file begun last (let go of once hashed).
    func hash(_ chunk: TarChunk) { queue.push(.bytes(chunk)) }

    /// The file begun last has no more bytes.
    func end() { queue.push(.end) }

    /// The hash of the file with this ticket, if it is done (`wait`: once it is); each is handed out once.
    func result(_ ticket: Int, wait: Bool) -> String? {
        while true {
            let (hex, done) = state.withLock { ($0.hashed.removeValue(forKey: ticket), $0.done > ticket) }
            if hex != nil || done || !wait { return hex }
            finished.wait()
        }
    }

    /// Ends the thread, waiting for it (its OpenSSL clean-up must be over before the process can exit).
    func close() {
        guard let running = thread.withLock({ t in defer { t = nil }; return t }) else { return }
        queue.close()
        running.join()
    }

    deinit { close() }
}
