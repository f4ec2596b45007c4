import Foundation
#if canImport(FoundationXML)
import FoundationXML
#endif

/// A parsed XML element: S3's responses are small documents, read whole.
public struct XMLElement: Sendable {
    public var name: String
    public var text: String
    public var children: [XMLElement]

    /// The first child with this name, at any depth below this element.
    public func first(_ name: String) -> XMLElement? {
        for child in children {
            if child.name == name { return child }
            if let found = child.first(name) { return found }
        }
        return nil
    }

    /// The direct children with this name.
    public func all(_ name: String) -> [XMLElement] { children.filter { $0.name == name } }

    public func text(of name: String) -> String? { first(name)?.text }

    public static func parse(_ bytes: [UInt8]) -> XMLElement? {
        let delegate = TreeBuilder()
        let parser = XMLParser(data: Data(bytes))
        parser.delegate = delegate
        guard parser.parse(), let root = delegate.root else { return nil }
        return root
    }
}

private final class TreeBuilder: NSObject, XMLParserDelegate {
    var stack: [XMLElement] = []
    var root: XMLElement?

    func parser(_ parser: XMLParser, didStartElement name: String, namespaceURI: String?,
                qualifiedName: String?, attributes: [String: String] = [:]) {
        stack.append(XMLElement(name: name, text: "", children: []))
    }

    func parser(_ parser: XMLParser, foundCharacters string: String) {
        if !stack.isEmpty { stack[stack.count - 1].text += string }
    }

    func parser(_ parser: XMLParser, didEndElement name: String, namespaceURI: String?, qualifiedName: String?) {
        guard let done = stack.popLast() else { return }
        if stack.isEmpty { root = done } else { stack[stack.count - 1].children.append(done) }
    }
}
