import Export
import FirmchainCore
import Foundation
import Testing
import TestSupport

/// The hawkBit, AWS IoT and Azure Device Update descriptors written beside a container.
@Suite("Service descriptors name the container's exact bytes")
struct ServiceDescriptorTests {
    let container = Array("a container".utf8)
    let options = ServiceDescriptors.Options(provider: "Example-Corp", name: "board-a-fw", version: "1.2.0",
                                             compatibility: ["manufacturer": "example", "model": "board-a"],
                                             objectURL: "https://bucket.s3.eu-west-1.amazonaws.com/fw.swu",
                                             created: Date(timeIntervalSince1970: 1_790_000_000))

    func json(_ bytes: [UInt8]?) throws -> JSONValue { try JSONReader().parse(try #require(bytes), path: "descriptor") }

    @Test("an ADU import manifest v5 carries the base64 sha256 and size of the .swu, the swupdate handler and no extra members")
    func adu() throws {
        let docs = try ServiceDescriptors.make(fileName: "fw.swu", bytes: container, container: .swu, options: options)
        let m = try json(docs["adu-import-manifest"])
        #expect(m["manifestVersion"]?.stringValue == "5.0")
        #expect(Set(m.objectValue!.keys) == ["updateId", "compatibility", "instructions", "files", "createdDateTime", "manifestVersion"])
        #expect(m["files"]?.arrayValue?.first?["hashes"]?["sha256"]?.stringValue == Base64.encode(Array(SHA256Hex.digest(container))))
        #expect(m["files"]?.arrayValue?.first?["sizeInBytes"]?.int64Value == Int64(container.count))
        #expect(m["instructions"]?["steps"]?.arrayValue?.first?["handler"]?.stringValue == "microsoft/swupdate:2")
    }

    @Test("ADU names and versions outside the published rules are refused")
    func aduRules() throws {
        var bad = options
        bad.name = "has space"
        let name = #expect(throws: FirmchainError.self) { _ = try ServiceDescriptors.make(fileName: "fw.swu", bytes: container, container: .swu, options: bad) }
        #expect(name?.code == .exportOptionInvalid && name?.reason.contains("'has space' must match") == true, "\(String(describing: name))")
        bad = options
        bad.version = "1"
        let version = #expect(throws: FirmchainError.self) { _ = try ServiceDescriptors.make(fileName: "fw.swu", bytes: container, container: .swu, options: bad) }
        #expect(version?.code == .exportOptionInvalid && version?.reason == "the ADU version '1' must have 2 to 4 numeric parts", "\(String(describing: version))")
    }

    @Test("hawkBit and AWS IoT descriptors carry the hex digests and a presigned-URL placeholder; no ADU manifest for a Mender artifact")
    func hawkbitAndAWS() throws {
        let docs = try ServiceDescriptors.make(fileName: "fw.mender", bytes: container, container: .mender, options: options)
        #expect(docs["adu-import-manifest"] == nil)
        let h = try json(docs["hawkbit"])
        #expect(h["artifact"]?["sha256sum"]?.stringValue == Hex.encode(SHA256Hex.digest(container)))
        let a = try json(docs["aws-job"])
        #expect(a["files"]?.arrayValue?.first?["url"]?.stringValue == "${aws:iot:s3-presigned-url-v2:https://bucket.s3.eu-west-1.amazonaws.com/fw.swu}")
        #expect(docs["aws-job"]!.count <= ServiceDescriptors.awsJobDocumentLimit)
    }
}

import Crypto
enum SHA256Hex {
    static func digest(_ b: [UInt8]) -> [UInt8] { Array(SHA256.hash(data: b)) }
}
