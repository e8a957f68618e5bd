import Crypto
import FirmchainCore
import SwiftASN1

/// Reads back what a container carries as its payload, for the release verifier's
/// `release.exports` check: the payload's file name and sha256, found by bounded readers of the
/// formats Firmchain writes. It does not check container signatures (the keys of a
/// distributor are not part of a release's trust); the stock tools do that on the device.
public enum ContainerInspection {
    /// What a container says its payload is.
    public struct Payload: Sendable, Hashable {
        /// The container format (`mender`, `swu`, `rauc-verity`).
        public var format: String
        /// The payload's file name inside the container.
        public var fileName: String
        /// The sha256 (hex) of the payload bytes, or, for RAUC verity bundles, the sha256 the
        /// signed manifest states for the image after the dm-verity tree was checked.
        public var sha256: String
    }

    /// The payload of the container `bytes` named `name` (by its extension: `.mender`, `.swu`,
    /// `.raucb`); nil for files that are not containers (descriptors). Throws
    /// `export.option-invalid` for a container that does not parse.
    public static func payload(of bytes: [UInt8], name: String) throws -> Payload? {
        if name.hasSuffix(".mender") { return try mender(bytes) }
        if name.hasSuffix(".swu") { return try swu(bytes) }
        if name.hasSuffix(".raucb") { return try rauc(bytes) }
        return nil
    }

    static func malformed(_ what: String) -> FirmchainError { FirmchainError(.exportOptionInvalid, "the container is malformed: \(what)") }

    /// The members of a ustar archive (regular files), bounds-checked.
    static func tarMembers(_ b: ArraySlice<UInt8>) throws -> [(name: String, content: ArraySlice<UInt8>)] {
        var out = [(String, ArraySlice<UInt8>)]()
        var i = b.startIndex
        while i + 512 <= b.endIndex {
            let header = b[i..<(i + 512)]
            if header.allSatisfy({ $0 == 0 }) { break }
            let nameField = header[i..<(i + 100)]
            let name = String(decoding: nameField.prefix { $0 != 0 }, as: UTF8.self)
            let sizeText = String(decoding: header[(i + 124)..<(i + 136)].prefix { $0 != 0 && $0 != 0x20 }, as: UTF8.self)
            guard let size = Int(sizeText, radix: 8), size >= 0 else { throw malformed("a tar size is not octal") }
            let start = i + 512
            guard size <= b.endIndex - start else { throw malformed("a tar member runs past the end") }
            out.append((name, b[start..<(start + size)]))
            i = start + (size + 511) / 512 * 512
            guard out.count <= 64 else { throw malformed("too many tar members") }
        }
        return out
    }

    /// The members of a cpio newc archive, bounds-checked.
    static func cpioMembers(_ b: [UInt8]) throws -> [(name: String, content: ArraySlice<UInt8>)] {
        var out = [(String, ArraySlice<UInt8>)]()
        var i = 0
        func field(_ k: Int) throws -> Int {
            let s = i + 6 + 8 * k
            guard let v = Int(String(decoding: b[s..<(s + 8)], as: UTF8.self), radix: 16) else { throw malformed("a cpio field is not hex") }
            return v
        }
        while true {
            guard i + 110 <= b.count, b[i..<(i + 6)].elementsEqual("070701".utf8) else { throw malformed("not a cpio newc header") }
            let size = try field(6), nameSize = try field(11)
            guard nameSize >= 1, nameSize <= 4096, i + 110 + nameSize <= b.count else { throw malformed("a cpio name runs past the end") }
            let name = String(decoding: b[(i + 110)..<(i + 110 + nameSize - 1)], as: UTF8.self)
            let start = (i + 110 + nameSize + 3) / 4 * 4
            guard size <= b.count - start else { throw malformed("a cpio member runs past the end") }
            if name == "TRAILER!!!" { break }
            out.append((name, b[start..<(start + size)]))
            i = (start + size + 3) / 4 * 4
            guard out.count <= 64 else { throw malformed("too many cpio members") }
        }
        return out
    }

    static func sha256(_ b: ArraySlice<UInt8>) -> String { Hex.encode(Array(SHA256.hash(data: Array(b)))) }

    static func mender(_ b: [UInt8]) throws -> Payload {
        guard let data = try tarMembers(b[...]).first(where: { $0.name == "data/0000.tar" }) else { throw malformed("no data/0000.tar") }
        let files = try tarMembers(data.content)
        guard files.count == 1 else { throw malformed("data/0000.tar holds \(files.count) files, not one") }
        return Payload(format: "mender", fileName: files[0].name, sha256: sha256(files[0].content))
    }

    static func swu(_ b: [UInt8]) throws -> Payload {
        let members = try cpioMembers(b)
        guard members.count == 3, members[0].name == "sw-description", members[1].name == "sw-description.sig" else {
            throw malformed("not sw-description, its signature and one image")
        }
        return Payload(format: "swu", fileName: members[2].name, sha256: sha256(members[2].content))
    }

    /// A RAUC bundle: a verity bundle's signed manifest (the CMS content), its dm-verity tree
    /// recomputed over the squashfs and compared with the stored tree and `verity-hash`. Plain
    /// bundles keep the manifest inside the squashfs, which Firmchain does not read: nil.
    static func rauc(_ b: [UInt8]) throws -> Payload? {
        guard b.count > 8 else { throw malformed("shorter than its length trailer") }
        let length = b.suffix(8).reduce(0) { ($0 << 8) | Int($1) }
        guard length > 0, length <= b.count - 8 else { throw malformed("the CMS length is out of range") }
        let cmsStart = b.count - 8 - length
        guard let manifest = try attachedContent(Array(b[cmsStart..<(b.count - 8)])) else { return nil }
        var sections = [String: [String: String]]()
        var section = ""
        for line in String(decoding: manifest, as: UTF8.self).split(separator: "\n") {
            if line.hasPrefix("[") && line.hasSuffix("]") { section = String(line.dropFirst().dropLast()); continue }
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { sections[section, default: [:]][String(kv[0])] = String(kv[1]) }
        }
        guard let bundle = sections["bundle"], bundle["format"] == "verity", let rootHex = bundle["verity-hash"],
              let saltHex = bundle["verity-salt"], let salt = Hex.decode(saltHex), let size = bundle["verity-size"].flatMap({ Int($0) }),
              size >= 0, size <= cmsStart else { throw malformed("the signed manifest has no verity fields") }
        let squashfsEnd = cmsStart - size
        guard squashfsEnd > 0, squashfsEnd % VerityTree.blockSize == 0 else { throw malformed("the squashfs is not whole 4096-byte blocks") }
        let (tree, root) = VerityTree.build(data: Array(b[0..<squashfsEnd]), salt: salt)
        guard Hex.encode(root) == rootHex.lowercased(), tree.elementsEqual(b[squashfsEnd..<cmsStart]) else {
            throw malformed("the squashfs does not hash to the signed verity-hash")
        }
        guard let image = sections.first(where: { $0.key.hasPrefix("image.") })?.value, let file = image["filename"], let sha = image["sha256"] else {
            throw malformed("the signed manifest names no image")
        }
        return Payload(format: "rauc-verity", fileName: file, sha256: sha.lowercased())
    }

    /// The eContent of a CMS ContentInfo holding SignedData (RFC 5652 §5.1–5.2), nil when detached.
    static func attachedContent(_ der: [UInt8]) throws -> [UInt8]? {
        func children(_ n: ASN1Node) throws -> [ASN1Node] {
            guard case .constructed(let c) = n.content else { throw malformed("a CMS field is not constructed") }
            return Array(c)
        }
        do {
            let contentInfo = try children(try DER.parse(der))
            guard contentInfo.count == 2 else { throw malformed("not a CMS ContentInfo") }
            let signedData = try children(try children(contentInfo[1]).first ?? contentInfo[1])
            guard signedData.count >= 4 else { throw malformed("not a CMS SignedData") }
            let encap = try children(signedData[2])
            guard encap.count == 2, let explicit = try children(encap[1]).first, case .primitive(let bytes) = explicit.content else { return nil }
            return Array(bytes)
        } catch let e as FirmchainError {
            throw e
        } catch {
            throw malformed("the CMS does not parse: \(error)")
        }
    }
}
