import FirmchainCore
import SwiftASN1

/// PEM (RFC 7468) reading and writing.
///
/// Writing goes through swift-asn1's `PEMDocument` (64-column base64) with a final newline.
/// Reading stays lenient where `PEMDocument` is strict, so that every key file other tools write
/// still opens: text before the block, lines of any width, CR/LF endings, a second block after
/// the first, and RFC 1421 headers (reported, so legacy encrypted keys get a clear refusal).
enum PEM {
    /// One decoded block: its label (`PRIVATE KEY`, `PUBLIC KEY`, …) and DER bytes.
    struct Block {
        let label: String
        let der: [UInt8]
        /// Whether the block carried RFC 1421 headers (`Proc-Type: 4,ENCRYPTED`).
        let hasHeaders: Bool
    }

    /// The first PEM block in `text`, or nil when there is none or its base64 is invalid.
    static func firstBlock(in text: String) -> Block? {
        let lines = text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r" })
            .map { $0.trimmingCharacters(in: " \t") }
        guard let begin = lines.firstIndex(where: { $0.hasPrefix("-----BEGIN ") && $0.hasSuffix("-----") }) else { return nil }
        let label = String(lines[begin].dropFirst(11).dropLast(5))
        guard let end = lines[(begin + 1)...].firstIndex(of: "-----END \(label)-----") else { return nil }
        var body = ""
        var headers = false
        for line in lines[(begin + 1)..<end] {
            if line.contains(":") { headers = true; continue }
            body += line
        }
        guard let der = Base64.decode(body), !der.isEmpty else { return nil }
        return Block(label: label, der: der, hasHeaders: headers)
    }

    /// `-----BEGIN label-----`, base64 in 64-column lines, `-----END label-----` and a newline.
    static func encode(_ der: [UInt8], label: String) -> String {
        PEMDocument(type: label, derBytes: der).pemString + "\n"
    }
}

extension String {
    fileprivate func trimmingCharacters(in set: String) -> String {
        var s = Substring(self)
        while let f = s.first, set.contains(f) { s = s.dropFirst() }
        while let l = s.last, set.contains(l) { s = s.dropLast() }
        return String(s)
    }
}

extension Substring {
    fileprivate func trimmingCharacters(in set: String) -> String { String(self).trimmingCharacters(in: set) }
}
