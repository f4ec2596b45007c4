import CCurl

extension TransportError {
    /// What no retry can change, said at once with the setting to change: a certificate the CA bundle does not
    /// vouch for, a CA bundle curl cannot load, the host name of a configured endpoint that does not resolve, a
    /// URL curl cannot use. Nil for what may pass (refused or reset connections, timeouts), which are retried.
    /// A failed DNS lookup of AWS's own names may be the network's hiccup, so only a configured endpoint's counts.
    func permanentFailure(settings: HTTPSettings, endpointConfigured: Bool) -> Failure? {
        let host = Self.origin(of: url)
        switch code {
        case Int(CURLE_PEER_FAILED_VERIFICATION.rawValue):
            let bundle = settings.caBundle.map { "the CA bundle \($0)" } ?? "the system's CA certificates"
            return Failure(.unavailable, "\(host): the server's TLS certificate is not trusted by \(bundle) (\(message)): set AWS_CA_BUNDLE, or ca_bundle in the profile, to the PEM file of the CA that signed it (not retried)")
        case Int(CURLE_SSL_CACERT_BADFILE.rawValue), Int(CURLE_SSL_CRL_BADFILE.rawValue):
            return Failure(.unavailable, "cannot load the CA bundle \(settings.caBundle ?? "") (\(message)): set AWS_CA_BUNDLE, or ca_bundle in the profile, to a readable file of PEM certificates, or unset it (not retried)")
        case Int(CURLE_COULDNT_RESOLVE_HOST.rawValue) where endpointConfigured:
            return Failure(.unavailable, "\(host): the endpoint's host name does not resolve (\(message)): check --endpoint-url, AWS_ENDPOINT_URL or endpoint_url in the profile (not retried)")
        case Int(CURLE_UNSUPPORTED_PROTOCOL.rawValue), Int(CURLE_URL_MALFORMAT.rawValue):
            return Failure(.unavailable, "\(host): \(message): check --endpoint-url, AWS_ENDPOINT_URL or endpoint_url in the profile (not retried)")
        default:
            return nil
        }
    }

    /// `https://host:port` of a request URL: the part the message is about, without the key.
    static func origin(of url: String) -> String {
        guard let schemeEnd = url.range(of: "://") else { return url }
        let rest = url[schemeEnd.upperBound...]
        return String(url[..<schemeEnd.upperBound]) + String(rest.prefix { $0 != "/" && $0 != "?" })
    }
}
