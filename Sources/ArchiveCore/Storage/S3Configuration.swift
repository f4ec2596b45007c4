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

        // Explicitly named profile wins over the environment's keys, as in aws-cli.
        let fromEnv = overrides.profile == nil
        let key = (fromEnv ? environment["AWS_ACCESS_KEY_ID"] : nil) ?? credentialsSection["aws_access_key_id"]
            ?? configSection["aws_access_key_id"]
        let secret = (fromEnv ? environment["AWS_SECRET_ACCESS_KEY"] : nil) ?? credentialsSection["aws_secret_access_key"]
            ?? configSection["aws_secret_access_key"]
        let token = (fromEnv ? environment["AWS_SESSION_TOKEN"] : nil) ?? credentialsSection["aws_session_token"]
            ?? configSection["aws_session_token"]
        guard let key, !key.isEmpty, let secret, !secret.isEmpty else {
            throw Failure(.noPermission,
                          "no AWS credentials: set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY, or a profile in \(credentialsFile)")
        }

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
        return S3Configuration(credentials: Credentials(accessKeyID: key, secretAccessKey: secret, sessionToken: token),
                               region: region, endpoint: endpoint,
                               http: HTTPSettings(caBundle: environment["AWS_CA_BUNDLE"],
                                                  sendLimit: overrides.maxSendRate.map { RateLimiter(bytesPerSecond: $0) }),
                               maxAttempts: max(1, attempts))
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
