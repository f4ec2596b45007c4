import Foundation

/// Where and as whom to talk S3: resolved once from flags, the environment and `~/.aws`, as aws-cli does.
public struct S3Configuration: Sendable {
    public var credentials: Credentials
    public var region: String
    /// A custom endpoint (SeaweedFS, MinIO, moto): requests go path-style to it. Nil means AWS itself.
    public var endpoint: URL?
    public var http: HTTPSettings
    public var maxAttempts: Int

    public init(credentials: Credentials, region: String, endpoint: URL?, http: HTTPSettings = HTTPSettings(),
                maxAttempts: Int = 5) {
        self.credentials = credentials
        self.region = region
        self.endpoint = endpoint
        self.http = http
        self.maxAttempts = maxAttempts
    }

    /// The settings a user gave on the command line; nil means "not given".
    public struct Overrides: Sendable {
        public var endpointURL: String?
        public var region: String?
        public var profile: String?
        /// Bytes per second for all uploads together (`--limit-rate`).
        public var maxSendRate: Int?
        public init(endpointURL: String? = nil, region: String? = nil, profile: String? = nil) {
            self.endpointURL = endpointURL
            self.region = region
            self.profile = profile
        }
    }

    /// The region: the flag, `AWS_REGION`, `AWS_DEFAULT_REGION`, the profile's `region` (its section of
    /// `~/.aws/config`), else us-east-1, as aws-cli chooses it.
    public static func region(_ flag: String?, environment: [String: String], profile: [String: String] = [:]) -> String {
        flag ?? environment["AWS_REGION"] ?? environment["AWS_DEFAULT_REGION"] ?? profile["region"] ?? "us-east-1"
    }

    /// Flags first, then `AWS_*` variables, then the profile in `~/.aws/credentials` and `~/.aws/config`.
    public static func resolve(_ overrides: Overrides,
                               environment: [String: String] = ProcessInfo.processInfo.environment) throws -> S3Configuration {
        let home = environment["HOME"] ?? NSHomeDirectory()
        let profileName = overrides.profile ?? environment["AWS_PROFILE"] ?? environment["AWS_DEFAULT_PROFILE"] ?? "default"
        let credentialsFile = environment["AWS_SHARED_CREDENTIALS_FILE"] ?? "\(home)/.aws/credentials"
        let configFile = environment["AWS_CONFIG_FILE"] ?? "\(home)/.aws/config"
        let credentialsSection = IniFile.read(credentialsFile)?[profileName] ?? [:]
        let configSection = IniFile.read(configFile)?[profileName == "default" ? "default" : "profile \(profileName)"] ?? [:]
        if overrides.profile != nil, credentialsSection.isEmpty, configSection.isEmpty {
            throw Failure(.noPermission, "profile '\(profileName)' not found in \(credentialsFile) or \(configFile)")
        }

        let credentials = try Self.credentials(
            environment: overrides.profile == nil ? environment : [:],
            profiles: [(credentialsSection, "[\(profileName)] in \(credentialsFile)"),
                       (configSection, "[\(profileName == "default" ? "default" : "profile \(profileName)")] in \(configFile)")],
            credentialsFile: credentialsFile)

        let region = Self.region(overrides.region, environment: environment, profile: configSection)
        let endpointText = overrides.endpointURL ?? environment["AWS_ENDPOINT_URL_S3"] ?? environment["AWS_ENDPOINT_URL"]
            ?? configSection["endpoint_url"]
        var endpoint: URL?
        if let endpointText, !endpointText.isEmpty {
            guard let url = URL(string: endpointText), let scheme = url.scheme, ["http", "https"].contains(scheme),
                  url.host != nil else {
                throw Failure.usage("invalid endpoint URL '\(endpointText)': write it as http://HOST:PORT or https://HOST")
            }
            endpoint = url
        }
        let attempts = environment["AWS_MAX_ATTEMPTS"].flatMap(Int.init) ?? 5
        let caBundle = try Self.caBundle(environment: environment, profile: configSection, configFile: configFile,
                                         https: endpoint.map { $0.scheme == "https" } ?? true)
        return S3Configuration(credentials: credentials,
                               region: region, endpoint: endpoint,
                               http: HTTPSettings(caBundle: caBundle,
                                                  sendLimit: overrides.maxSendRate.map { RateLimiter(bytesPerSecond: $0) }),
                               maxAttempts: max(1, attempts))
    }
}

extension S3Configuration {
    /// Key, secret and session token from one provider, the first that has a key, in aws-cli's order: the
    /// `AWS_*` variables (unless a profile was named with --profile), the profile's section of the credentials
    /// file, then of the config file. A token is never taken from another provider than its key: a stale token
    /// left in a file would otherwise be sent with fresh keys from the environment, and be refused.
    static func credentials(environment: [String: String], profiles: [(section: [String: String], name: String)],
                            credentialsFile: String) throws -> Credentials {
        func value(_ name: String, in values: [String: String]) -> String? {
            values[name].flatMap { $0.isEmpty ? nil : $0 }
        }
        let envKey = value("AWS_ACCESS_KEY_ID", in: environment), envSecret = value("AWS_SECRET_ACCESS_KEY", in: environment)
        if envKey != nil || envSecret != nil {
            guard let envKey, let envSecret else {
                let (given, missing) = envKey == nil ? ("AWS_SECRET_ACCESS_KEY", "AWS_ACCESS_KEY_ID") : ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY")
                throw Failure(.noPermission, "\(given) is set but \(missing) is not: set both, or neither to use the profile")
            }
            return Credentials(accessKeyID: envKey, secretAccessKey: envSecret,
                               sessionToken: value("AWS_SESSION_TOKEN", in: environment) ?? value("AWS_SECURITY_TOKEN", in: environment))
        }
        for (section, name) in profiles {
            let key = value("aws_access_key_id", in: section), secret = value("aws_secret_access_key", in: section)
            guard key != nil || secret != nil else { continue }
            guard let key, let secret else {
                throw Failure(.noPermission, "\(name) has \(key == nil ? "aws_secret_access_key but no aws_access_key_id" : "aws_access_key_id but no aws_secret_access_key"): give both")
            }
            return Credentials(accessKeyID: key, secretAccessKey: secret,
                               sessionToken: value("aws_session_token", in: section) ?? value("aws_security_token", in: section))
        }
        throw Failure(.noPermission,
                      "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in \(credentialsFile)")
    }

    /// The CA certificates to trust for HTTPS: `AWS_CA_BUNDLE`, else the profile's `ca_bundle` (as aws-cli reads
    /// them), else the system's. A file that cannot be read is said at once, naming where it was set, rather
    /// than found by every request's failing handshake.
    static func caBundle(environment: [String: String], profile: [String: String], configFile: String,
                         https: Bool) throws -> String? {
        let (path, setting): (String?, String) = environment["AWS_CA_BUNDLE"].flatMap { $0.isEmpty ? nil : $0 }
            .map { ($0, "AWS_CA_BUNDLE") } ?? (profile["ca_bundle"], "ca_bundle in \(configFile)")
        guard let path, !path.isEmpty else { return nil }
        if https, !FileManager.default.isReadableFile(atPath: path) {
            let why = FileManager.default.fileExists(atPath: path) ? "cannot be read" : "does not exist"
            throw Failure(.unavailable, "the CA bundle \(path) (\(setting)) \(why): point \(setting) at a readable file of PEM certificates, or unset it")
        }
        return path
    }
}

/// The INI dialect of `~/.aws/credentials` and `~/.aws/config`: sections of `key = value` lines.
enum IniFile {
    static func read(_ path: String) -> [String: [String: String]]? {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return nil }
        var sections: [String: [String: String]] = [:]
        var current = ""
        for raw in text.split(whereSeparator: \.isNewline) {
            let line = raw.trimmingCharacters(in: .whitespaces)
            if line.isEmpty || line.hasPrefix("#") || line.hasPrefix(";") { continue }
            if line.hasPrefix("["), line.hasSuffix("]") {
                current = String(line.dropFirst().dropLast()).trimmingCharacters(in: .whitespaces)
                continue
            }
            guard let eq = line.firstIndex(of: "=") else { continue }
            let key = line[..<eq].trimmingCharacters(in: .whitespaces).lowercased()
            let value = line[line.index(after: eq)...].trimmingCharacters(in: .whitespaces)
            sections[current, default: [:]][key] = value
        }
        return sections
    }
}
