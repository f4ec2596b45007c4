import ArchiveCore
import ArgumentParser

/// A command run as one of the toolkit's executables: its `main` is ArgumentParser's, except that a usage error
/// is one line that starts with the tool's name (`s3-put: --part-size must be…`), as Unix tools say it, instead
/// of `Error:` and the whole usage block; an unknown subcommand is named with the ones there are.
public protocol ToolCommand: ParsableCommand {}

extension ArchiveCommand: ToolCommand {}
extension PutCommand: ToolCommand {}
extension ETagCommand: ToolCommand {}
extension VerifyCommand: ToolCommand {}
extension RestoreCommand: ToolCommand {}
extension ReportCommand: ToolCommand {}
extension LifecycleCommand: ToolCommand {}

extension ToolCommand {
    public static func main() {
        let arguments = Array(CommandLine.arguments.dropFirst())
        if let ambiguity = ArgumentBytes.ambiguity {
            warn(toolName, ambiguity)
            exit(withError: ExitCode(ExitStatus.usage.rawValue))
        }
        do {
            var command = try parseAsRoot(arguments)
            try command.run()
        } catch {
            let code = exitCode(for: error)
            // Help and version go out as ArgumentParser writes them; an `ExitCode` was already explained.
            if code == .success || error is ExitCode { exit(withError: error) }
            warn(toolName, usageMessage(for: error, arguments: arguments))
            exit(withError: ExitCode(code.rawValue))
        }
    }

    static var toolName: String { configuration.commandName ?? "s3-archive" }

    static var subcommandNames: [String] {
        configuration.subcommands.compactMap { $0.configuration.commandName ?? $0._commandName }
    }

    /// One line: what was wrong, and where to read more (the subcommand's help when one was named).
    static func usageMessage(for error: Error, arguments: [String]) -> String {
        let named = arguments.first.flatMap { subcommandNames.contains($0) ? $0 : nil }
        if !subcommandNames.isEmpty, named == nil, let first = arguments.first, !first.hasPrefix("-"), first != "help" {
            return "unknown subcommand '\(first)': choose one of \(subcommandNames.joined(separator: ", ")) (see '\(toolName) --help')"
        }
        var message = Self.message(for: error).split(whereSeparator: \.isNewline).joined(separator: " ")
        // ArgumentParser's own sentences start with a capital ("Unknown option"); the tools' messages do not.
        if let head = message.first, head.isUppercase, message.dropFirst().first?.isLowercase == true {
            message = head.lowercased() + message.dropFirst()
        }
        let help = [toolName, named].compactMap { $0 }.joined(separator: " ") + " --help"
        return "\(message) (see '\(help)')"
    }
}
