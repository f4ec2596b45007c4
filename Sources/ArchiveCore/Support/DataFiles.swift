import Foundation

/// The files the tools ship with (the lifecycle policies and `pricing.json`), found from the executable's real
/// path, never from the current directory, so that cron and any other folder get the same answer: beside an
/// installed tool, `PREFIX/bin/../share/s3-archive/` (what bin/install writes); for a tool run from a build,
/// the package it was built from (`ROOT/.build/…/s3-report` reads `ROOT/lifecycle/`).
public enum DataFiles {
    /// `PREFIX/share/s3-archive` for `PREFIX/bin/TOOL`, when that folder exists.
    static func installedFolder(executable: URL?) -> String? {
        guard let executable else { return nil }
        let folder = executable.deletingLastPathComponent().deletingLastPathComponent().path + "/share/s3-archive"
        return isDirectory(folder) ? folder : nil
    }

    /// `ROOT/lifecycle` for an executable anywhere under `ROOT/.build/`, when that folder exists.
    static func sourceFolder(executable: URL?) -> String? {
        var folder = executable?.deletingLastPathComponent()
        while let current = folder, current.path != "/" {
            if current.lastPathComponent == ".build" {
                let lifecycle = current.deletingLastPathComponent().path + "/lifecycle"
                return isDirectory(lifecycle) ? lifecycle : nil
            }
            folder = current.deletingLastPathComponent()
        }
        return nil
    }

    /// This process's executable, symbolic links resolved (a link in /usr/local/bin to an install elsewhere
    /// finds that install's data).
    public static var executable: URL? { Bundle.main.executableURL?.resolvingSymlinksInPath() }

    /// Where `pricing.json` may be, in the order tried.
    public static func pricingCandidates(executable: URL? = DataFiles.executable) -> [String] {
        [installedFolder(executable: executable).map { $0 + "/pricing.json" },
         sourceFolder(executable: executable).map { $0 + "/pricing.json" }].compactMap { $0 }
    }

    /// A lifecycle policy shipped with the tools, by name (`default`, `archive-fast.json`), when `name` is no
    /// file here and has no slash in it: the installed one, else the source tree's. Nil when none is found.
    public static func policy(named name: String, executable: URL? = DataFiles.executable) -> String? {
        guard !name.contains("/"), !FileManager.default.fileExists(atPath: name) else { return nil }
        let file = name.hasSuffix(".json") ? name : name + ".json"
        let folders = [installedFolder(executable: executable).map { $0 + "/lifecycle" }, sourceFolder(executable: executable)]
        return folders.compactMap { $0 }.map { $0 + "/" + file }.first { FileManager.default.fileExists(atPath: $0) }
    }

    private static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }
}
