// libFuzzer target for the strict CBOR reader and the COSE_Encrypt profile parser (Docs/architecture.md
// "Every algorithm ships with its oracle": a fuzz target for every parser of untrusted bytes). Built and
// run by `make fuzz` (Tests/Fuzz/run.sh) with `swiftc -sanitize=fuzzer,address`; not part of the package.
//
// Oracle: whatever CBORDecoder accepts re-encodes to exactly the input (the reader takes only definite
// lengths in their shortest form, so an accepted item has one encoding), and whatever COSEEncrypt accepts
// re-encodes to a structure that parses to the same value. Anything else must be a FirmchainError.
import FirmchainCore
import Encryption

@_cdecl("LLVMFuzzerTestOneInput")
public func coseFuzz(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    do {
        let item = try CBORDecoder.decode(bytes)
        if item.encoded != bytes { fatalError("an accepted CBOR item does not re-encode to its input") }
    } catch is FirmchainError {
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    do {
        let s = try COSEEncrypt(decoding: bytes)
        if try COSEEncrypt(decoding: s.encoded) != s { fatalError("a COSE_Encrypt does not survive its own encoding") }
    } catch is FirmchainError {
    } catch {
        fatalError("unexpected error type: \(error)")
    }
    return 0
}
