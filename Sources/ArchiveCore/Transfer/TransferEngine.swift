import Foundation
import Synchronization

/// The one way transfers run side by side (s3-put's parts and objects, s3-restore's ranges and objects,
/// s3-verify's checks): `concurrency` dedicated threads, each keeping its own HTTP connection warm for its life,
/// fed by a bounded queue. `--concurrency N` therefore means N requests in flight, whatever the core count
/// (a Dispatch pool would cap them at the cores). A producer blocks while the queue is full, so work is read
/// (and memory taken) only as fast as it is sent. Jobs never wait for other jobs, so they cannot deadlock.
public final class TransferEngine: Sendable {
    public typealias Job = @Sendable () -> Void

    /// How many jobs run at once.
    public let concurrency: Int
    private let queue: HandOff<Job>
    private let workers: [JoinableThread]

    public init(concurrency: Int) {
        self.concurrency = max(1, concurrency)
        // Enough queued that a worker finishing a job finds the next one waiting, few enough that a producer
        // does not run far ahead of the network.
        let queue = HandOff<Job>(capacity: self.concurrency)
        self.queue = queue
        workers = (1...self.concurrency).map { number in
            JoinableThread(name: "transfer-\(number)") {
                WorkerConnections.adopt()
                while let job = queue.pop() { job() }
                WorkerConnections.release()
            }
        }
    }

    /// Closes the queue and waits for the workers to end, thread-local clean-up included: a worker still freeing
    /// its curl handle or OpenSSL's per-thread state while the process exits corrupts the heap.
    deinit {
        queue.close(consumers: concurrency)
        if WorkerConnections.current == nil { for worker in workers { worker.join() } }
    }

    /// Queues a job; blocks while the queue is full.
    public func submit(_ job: @escaping Job) { queue.push(job) }

    /// A set of jobs to wait for together.
    public func batch() -> TransferBatch { TransferBatch(engine: self) }

    /// Runs `work` on every item, at most `concurrency` at once, and returns when all are done.
    public func forEach<Item: Sendable>(_ items: some Sequence<Item>, _ work: @escaping @Sendable (Item) -> Void) {
        let batch = batch()
        for item in items { batch.submit { work(item) } }
        batch.wait()
    }

    /// Runs `work` on every item, at most `concurrency` at once, and hands each result to `deliver` on the
    /// calling thread in the items' order, as soon as it and all before it are done. `shouldContinue` is asked
    /// before each item is queued: false stops queueing (items already queued still finish and are delivered).
    /// Items for which `runsHere` is true run on the calling thread instead, in their turn, while the queued
    /// ones go on: work that itself submits jobs (a multipart upload's parts) must not occupy a worker.
    public func map<Item: Sendable, Result: Sendable>(_ items: [Item], _ work: @escaping @Sendable (Item) -> Result,
                                                    runsHere: (Item) -> Bool = { _ in false },
                                                    shouldContinue: () -> Bool = { true },
                                                    deliver: (Int, Result) -> Void) {
        let finished = Mutex<[Int: Result]>([:])
        let done = DispatchSemaphore(value: 0)
        var next = 0
        var queued = 0
        func deliverReady() {
            while let result = finished.withLock({ $0.removeValue(forKey: next) }) {
                deliver(next, result)
                next += 1
            }
        }
        for (position, item) in items.enumerated() {
            guard shouldContinue() else { break }
            if runsHere(item) {
                let result = work(item)
                finished.withLock { $0[position] = result }
                done.signal()
            } else {
                submit {
                    let result = work(item)
                    finished.withLock { $0[position] = result }
                    done.signal()
                }
            }
            queued += 1
            deliverReady()
        }
        while next < queued {
            done.wait()
            deliverReady()
        }
    }
}

/// Jobs submitted together and waited for together (the parts of one upload), on a shared engine.
public final class TransferBatch: Sendable {
    private let engine: TransferEngine
    private let group = DispatchGroup()

    init(engine: TransferEngine) { self.engine = engine }

    /// Queues a job; blocks while the engine's queue is full.
    public func submit(_ job: @escaping TransferEngine.Job) {
        group.enter()
        engine.submit { [group] in
            job()
            group.leave()
        }
    }

    /// Returns when every job submitted so far has finished.
    public func wait() { group.wait() }
}
