@testable import ArchiveCore
import Foundation
import Synchronization
import XCTest

/// The engine on its own (no server): exactly N jobs at once on any core count, results in order, a producer
/// held back by the bounded queue, and each worker keeping one connection of a pool for its life.
final class TransferEngineTests: XCTestCase {
    /// Jobs running now and the most ever.
    final class Gauge: Sendable {
        private let counts = Mutex((now: 0, most: 0))
        func enter() { counts.withLock { $0.now += 1; $0.most = max($0.most, $0.now) } }
        func leave() { counts.withLock { $0.now -= 1 } }
        var most: Int { counts.withLock { $0.most } }
    }

    func testRunsExactlyConcurrencyJobsAtOnce() {
        for concurrency in [1, 3, 8, 16] {
            let engine = TransferEngine(concurrency: concurrency)
            let gauge = Gauge()
            engine.forEach(0..<(concurrency * 3)) { _ in
                gauge.enter()
                Thread.sleep(forTimeInterval: 0.05)
                gauge.leave()
            }
            XCTAssertEqual(gauge.most, concurrency, "on \(ProcessInfo.processInfo.activeProcessorCount) cores")
        }
    }

    func testMapDeliversInOrderAndStopsQueueing() {
        let engine = TransferEngine(concurrency: 4)
        var delivered: [Int] = []
        engine.map(Array(0..<40), { number in
            // Later items finish first.
            Thread.sleep(forTimeInterval: Double(40 - number) / 4000)
            return number * 2
        }) { position, result in
            XCTAssertEqual(result, position * 2)
            delivered.append(position)
        }
        XCTAssertEqual(delivered, Array(0..<40))

        var seen: [Int] = []
        engine.map(Array(0..<100), { $0 }, shouldContinue: { seen.count < 5 }) { _, result in seen.append(result) }
        XCTAssertEqual(Array(seen.prefix(5)), Array(0..<5))
        XCTAssertLessThan(seen.count, 100, "no more items are queued once told to stop")
    }

    func testAProducerWaitsWhileTheQueueIsFull() {
        let engine = TransferEngine(concurrency: 2)
        let release = DispatchSemaphore(value: 0)
        let started = Gauge()
        let batch = engine.batch()
        let submitted = Mutex(0)
        let producerDone = DispatchSemaphore(value: 0)
        Thread.detachNewThread {
            for _ in 0..<10 {
                batch.submit {
                    started.enter()
                    release.wait()
                }
                submitted.withLock { $0 += 1 }
            }
            producerDone.signal()
        }
        Thread.sleep(forTimeInterval: 0.3)
        // Two running and two queued: the fifth submit blocks.
        XCTAssertEqual(submitted.withLock { $0 }, 4)
        for _ in 0..<10 { release.signal() }
        producerDone.wait()
        batch.wait()
        XCTAssertEqual(submitted.withLock { $0 }, 10)
    }

    func testEachWorkerKeepsItsOwnConnection() {
        let pool = ConnectionPool(settings: HTTPSettings())
        let engine = TransferEngine(concurrency: 3)
        let seen = Mutex<[ObjectIdentifier: Set<ObjectIdentifier>]>([:])
        engine.forEach(0..<30) { _ in
            let id = pool.withConnection { ObjectIdentifier($0) }
            guard let worker = WorkerConnections.current.map(ObjectIdentifier.init) else { return XCTFail("not a worker") }
            seen.withLock { $0[worker, default: []].insert(id) }
            Thread.sleep(forTimeInterval: 0.01)
        }
        let byWorker = seen.withLock { $0 }
        XCTAssertEqual(byWorker.count, 3, "\(byWorker)")
        XCTAssertTrue(byWorker.values.allSatisfy { $0.count == 1 }, "one connection per worker for its life: \(byWorker)")
        XCTAssertEqual(Set(byWorker.values.flatMap { $0 }).count, 3, "no two workers share a connection")
    }
}
