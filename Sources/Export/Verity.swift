import Crypto

/// The dm-verity hash tree (format 1, SHA-256, 4096-byte data and hash blocks, no superblock),
/// as RAUC's `verity` bundles carry it after the squashfs (Docs/formats/distributors.md "RAUC
/// bundle"): each hash is SHA-256(salt ‖ block); level 0 hashes the data blocks, each next
/// level hashes the previous level's hash blocks (128 hashes per block, zero padded), until a
/// level fits one block; the root hash is the hash of that block. The levels are stored top
/// level first.
public enum VerityTree {
    /// The block size of data and hashes.
    public static let blockSize = 4096

    /// The tree over `data` (a multiple of 4096 bytes) with `salt`: the stored levels and the
    /// root hash.
    public static func build(data: [UInt8], salt: [UInt8]) -> (tree: [UInt8], rootHash: [UInt8]) {
        precondition(data.count % blockSize == 0 && !data.isEmpty, "verity data is whole 4096-byte blocks")
        func hash(_ block: ArraySlice<UInt8>) -> [UInt8] {
            var h = SHA256()
            h.update(data: salt)
            h.update(data: Array(block))
            return Array(h.finalize())
        }
        // Invariant: `level` holds the hashes of every block of the level below, padded to
        // whole hash blocks.
        var levels = [[UInt8]]()
        var blocks = data
        repeat {
            var level = [UInt8]()
            level.reserveCapacity(blocks.count / blockSize * 32 + blockSize)
            var i = 0
            while i < blocks.count {
                level += hash(blocks[i..<(i + blockSize)])
                i += blockSize
            }
            level += [UInt8](repeating: 0, count: (blockSize - level.count % blockSize) % blockSize)
            levels.append(level)
            blocks = level
        } while blocks.count > blockSize
        let root = hash(levels.last![...])
        return (levels.reversed().flatMap { $0 }, root)
    }
}
