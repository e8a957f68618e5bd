import FirmchainCore
/// Applies a read-and-checked BSDIFF40 patch (`BSDIFF40.Contents`) to `old` (Docs/formats/BSDIFF40.md §3).
///
/// Old bytes outside [0, oldsize): upstream bsdiff 4.3 and bsdiff4 read them as 0; Debian's
/// bspatch reads out of bounds below 0 (§5). Firmchain **rejects** any add step that would read
/// outside `old` (`delta.old-out-of-range`), failing closed (Docs/architecture.md "Rules that hold everywhere"): no writer we know of
/// (bsdiff 4.3, bsdiff4, Firmchain) produces such an add, so a patch that needs one is hostile
/// or meant for another old file.
public enum Patcher {
    /// The new file: validates every triple's old range first, then runs unchecked copy loops.
    ///
    /// - Throws: `FirmchainError` `delta.old-out-of-range` or `delta.bad-control` (old cursor overflow).
    public static func apply(old: UnsafeBufferPointer<UInt8>, _ patch: BSDIFF40.Contents) throws -> [UInt8] {
        // Pass 1: the old cursor. Invariant: oldpos is the old offset before triple k.
        let oldSize = Int64(old.count)
        var oldpos: Int64 = 0
        for (k, t) in patch.triples.enumerated() {
            if t.add > 0 {
                guard oldpos >= 0, oldpos <= oldSize, t.add <= oldSize - oldpos else {
                    throw FirmchainError(.deltaOldOutOfRange, "control triple \(k) adds old bytes [\(oldpos), \(oldpos &+ t.add)) outside the \(oldSize)-byte old file (wrong old file, or a hostile patch)")
                }
            }
            var (p, o1) = oldpos.addingReportingOverflow(t.add)
            (p, o1) = o1 ? (p, true) : p.addingReportingOverflow(t.seek)
            guard !o1 else {
                throw FirmchainError(.deltaBadControl, "control triple \(k) moves the old cursor out of the 64-bit range")
            }
            oldpos = p
        }

        // Pass 2: build the output. Every range below was checked by BSDIFF40.read (new side,
        // diff, extra) and by pass 1 (old side).
        var out = [UInt8](repeating: 0, count: patch.newSize)
        out.withUnsafeMutableBufferPointer { ob in
            patch.diff.withUnsafeBufferPointer { db in
                patch.extra.withUnsafeBufferPointer { eb in
                    var newpos = 0, op = 0, d = 0, e = 0
                    for t in patch.triples {
                        let x = Int(t.add), y = Int(t.copy)
                        if x > 0 {
                            let o = ob.baseAddress! + newpos, s = old.baseAddress! + op, df = db.baseAddress! + d
                            for i in 0..<x { o[i] = df[i] &+ s[i] }
                        }
                        newpos += x; op &+= x; d += x
                        if y > 0 { (ob.baseAddress! + newpos).update(from: eb.baseAddress! + e, count: y) }
                        newpos += y; e += y
                        op &+= Int(t.seek)
                    }
                }
            }
        }
        return out
    }
}
