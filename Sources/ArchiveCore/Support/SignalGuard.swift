import Foundation
import Synchronization

/// Catches SIGINT and SIGTERM while work that must be cleaned up is under way: runs `cleanup`, then exits with
/// 128 + the signal's number, as a shell would report it. The cleanup has `deadline` seconds; a second signal
/// (a second Ctrl-C) ends the run at once, without waiting for it.
public final class SignalGuard: Sendable {
    private let sources: Mutex<[DispatchSourceSignal]>
    private let interruptedBy = Interruption()

    public init(deadline: TimeInterval = 10, _ cleanup: @escaping @Sendable (Int32) -> Void) {
        let interruption = self.interruptedBy
        var sources: [DispatchSourceSignal] = []
        for number in [ProcessSignals.interrupt, ProcessSignals.terminate] {
            ProcessSignals.ignore(number)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                let first = interruption.signal.withLock { signal in
                    defer { if signal == nil { signal = number } }
                    return signal == nil
                }
                guard first else { Self.exitOnce(128 + number) }
                // The handler returns at once, so that a second signal is still heard while the cleanup runs.
                Thread.detachNewThread {
                    cleanup(number)
                    Self.exitOnce(128 + number)
                }
                Thread.detachNewThread {
                    Thread.sleep(forTimeInterval: deadline)
                    Self.exitOnce(128 + number)
                }
            }
            source.resume()
            sources.append(source)
        }
        self.sources = Mutex(sources)
    }

    /// True once a signal has been caught: the run is ending, and its own errors (requests cut short by the
    /// cleanup) are no longer worth reporting.
    public var interrupted: Bool { interruptedBy.signal.withLock { $0 != nil } }

    /// Called by a thread whose work failed because of the interrupt: waits for the cleanup to end the process,
    /// so the exit status is the signal's, not the failure's.
    public func waitForExit() -> Never {
        while true { Thread.sleep(forTimeInterval: 60) }
    }

    public func cancel() {
        sources.withLock { sources in
            for source in sources { source.cancel() }
            sources.removeAll()
        }
        ProcessSignals.restoreDefault(ProcessSignals.interrupt)
        ProcessSignals.restoreDefault(ProcessSignals.terminate)
    }

    /// The first signal caught, shared with the handlers.
    private final class Interruption: Sendable {
        let signal = Mutex<Int32?>(nil)
    }

    private static let exiting = Mutex(false)

    /// Only the first caller exits: exit's handlers must not run twice at once.
    private static func exitOnce(_ status: Int32) -> Never {
        let first = exiting.withLock { exiting in
            defer { exiting = true }
            return !exiting
        }
        if first { ProcessSignals.exitNow(status) }
        while true { Thread.sleep(forTimeInterval: 60) }
    }
}
