import Foundation
import XCTest

/// `s3-archive -o` and `--index` inside the directory being archived: the tar and the index being written (and
/// an earlier run's, which they replace) are never archived, whatever name leads to them.
final class ArchiveOwnOutputTests: EndToEndCase {
    func testOutputAndIndexInsideTheSessionAreLeftOut() throws {
        let session = try makeDirectory("S1")
        try FileManager.default.createDirectory(atPath: session + "/sub", withIntermediateDirectories: true)
        try makeRandomFile(session + "/a.fits", size: 3 * MiB)
        try makeRandomFile(session + "/sub/b.fits", size: 1000)
        // Through a symbolic link to the session: names differ, the files are the same.
        let link = temp.file("link")
        try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: session)
        for run in 1...2 {
            let result = try runProcess(env.tool("s3-archive"), ["-o", link + "/out.tar", "--index", link + "/sub/out.idx", session],
                                        environment: env.processEnvironment(), timeout: 120)
            XCTAssertEqual(result.status, 0, "run \(run): \(result.summary)")
            let listing = try runProcess("/bin/tar", ["-tf", session + "/out.tar"], environment: env.processEnvironment())
            XCTAssertEqual(listing.status, 0, listing.summary)
            XCTAssertEqual(listing.lines.sorted(), ["S1/", "S1/a.fits", "S1/sub/", "S1/sub/b.fits"], "run \(run)")
            let index = try String(contentsOfFile: session + "/sub/out.idx", encoding: .utf8)
            XCTAssertFalse(index.contains("out.tar") || index.contains("out.idx") || index.contains(".tmp-"), "run \(run): \(index)")
            XCTAssertEqual(leftoverTemporaryFiles(under: session), [], "run \(run)")
        }
    }
}
