import FirmchainCore
import Signing

/// The result of checking a ledger (`Ledger.verify`): every check with its outcome, and the
/// entries that could be read.
public struct LedgerVerification: Sendable, Hashable {
    /// The checks, in the order they ran.
    public var checks: [Check]
    /// Every whole line that could be read as an entry, in file order.
    public var entries: [LedgerEntry]
    /// The sequence number of the last checkpoint with a valid trusted signature.
    public var lastValidCheckpoint: Int64?
    /// Bytes after the last newline (a torn line from a crash), if any.
    public var tornTailLength: Int?

    /// Whether no check failed.
    public var holds: Bool { !checks.contains { $0.status == .failed } }
    /// Whether no check failed or warned.
    public var holdsStrictly: Bool { !checks.contains { $0.status == .failed || $0.status == .warning } }
}

extension Ledger {
    /// Checks the ledger, in this order:
    ///
    /// 1. every whole line is an entry of format version 1, in the ledger's exact encoding;
    /// 2. sequence numbers run 1, 2, 3, … without gaps or repeats (a deleted, inserted or
    ///    reordered entry breaks this);
    /// 3. each entry's `prev` is the sha256 of the line before it (an edited line breaks the
    ///    next entry's link);
    /// 4. each checkpoint carries a valid signature by a key `ring` trusts for checkpoints at
    ///    the checkpoint's time;
    /// 5. every entry is covered by a later valid checkpoint (warning otherwise: a run still
    ///    going, or one that stopped before its checkpoint);
    /// 6. the file ends with a whole line (warning otherwise: a crash tore the last append,
    ///    which was never committed);
    /// 7. the ledger still holds, byte for byte, the entry the checkpoint file names and that
    ///    entry is validly signed (a ledger cut short fails here even at a line boundary).
    ///
    /// Check ids are `custody.ledger.*` (`Docs/verify.md`).
    ///
    /// - Throws: only when the file cannot be read; findings are in the result.
    public func verify(ring: KeyRing) throws -> LedgerVerification {
        try Self.verify(try readSnapshot(), ring: ring, path: path, checkpointPath: checkpointPath)
    }

    /// The same checks over ledger and checkpoint bytes held in memory (nil: the file is absent).
    public static func verify(ledger: [UInt8]?, checkpoint: [UInt8]?, ring: KeyRing, path: String, checkpointPath: String) -> LedgerVerification {
        let snap = ledger.map { snapshot($0, checkpoint: checkpoint) } ?? Snapshot(lines: [], tornTail: nil, exists: false, checkpointFile: checkpoint)
        return verify(snap, ring: ring, path: path, checkpointPath: checkpointPath)
    }

    static func verify(_ snap: Snapshot, ring: KeyRing, path: String, checkpointPath: String) -> LedgerVerification {
        guard snap.exists else {
            return LedgerVerification(checks: [Check("custody.ledger.exists", .failed, "the ledger does not exist", subject: path)],
                                      entries: [], lastValidCheckpoint: nil, tornTailLength: nil)
        }
        var entries = [LedgerEntry]()
        var parsed = [(number: Int, entry: LedgerEntry?)]()
        var unreadable = [String]()
        for (number, bytes) in snap.lines {
            do {
                let e = try LedgerEntry(line: bytes)
                entries.append(e)
                parsed.append((number, e))
            } catch {
                unreadable.append("line \(number): \(error)")
                parsed.append((number, nil))
            }
        }
        var checks = [Check]()
        checks.append(.from("custody.ledger.format", "every ledger line is an entry of format version 1 (\(snap.lines.count) lines)", failures: unreadable))

        var seqFailures = [String]()
        for (i, p) in parsed.enumerated() {
            guard let e = p.entry else { continue }
            if e.seq != Int64(i + 1) { seqFailures.append("line \(p.number) has seq \(e.seq), expected \(i + 1)") }
        }
        checks.append(.from("custody.ledger.sequence", "sequence numbers run 1…\(snap.lines.count) without gaps, repeats or reordering", failures: seqFailures))

        var chainFailures = [String]()
        var previousHash = LedgerEntry.genesis
        for (i, p) in parsed.enumerated() {
            if let e = p.entry, e.prev != previousHash {
                chainFailures.append("line \(p.number) (seq \(e.seq)): prev does not match the sha256 of \(i == 0 ? "the empty ledger" : "line \(p.number - 1)") — an entry before it was edited, removed or inserted")
            }
            previousHash = DigestCalculator.sha256Hex(snap.lines[i].bytes)
        }
        checks.append(.from("custody.ledger.chain", "each entry's prev is the sha256 of the line before it (hash chain)", failures: chainFailures))

        var cpFailures = [String]()
        var lastValid: Int64?
        var lastValidLine = 0
        let checkpoints = parsed.filter { $0.entry?.isCheckpoint == true }
        for p in checkpoints {
            let e = p.entry!
            if e.isSigned(in: ring) {
                lastValid = e.seq
                lastValidLine = p.number
            } else {
                let who = e.signatures.map { String($0.keyid.prefix(8)) }.joined(separator: ", ")
                cpFailures.append("line \(p.number) (seq \(e.seq)): no valid signature by a trusted key (signed by \(who.isEmpty ? "nobody" : who))")
            }
        }
        if checkpoints.isEmpty {
            checks.append(Check("custody.ledger.checkpoints", .skipped, "the ledger has no checkpoint"))
        } else {
            checks.append(.from("custody.ledger.checkpoints", "checkpoints are signed by trusted keys", failures: cpFailures,
                                passedDetails: ["\(checkpoints.count) checkpoint(s), the last at seq \(lastValid ?? 0)"]))
        }

        let uncovered = snap.lines.count - lastValidLine
        checks.append(uncovered == 0
            ? Check("custody.ledger.coverage", .passed, "every entry is covered by a signed checkpoint")
            : Check("custody.ledger.coverage", .warning, "every entry is covered by a signed checkpoint",
                    details: ["\(uncovered) entr\(uncovered == 1 ? "y" : "ies") after \(lastValid.map { "the checkpoint at seq \($0)" } ?? "the start") \(uncovered == 1 ? "is" : "are") not signed yet (a run still going, or one that stopped before its checkpoint)"]))

        if let torn = snap.tornTail {
            checks.append(Check("custody.ledger.tail", .warning, "the ledger ends with a whole line",
                                details: ["\(torn.count) byte(s) after the last newline: an append torn by a crash (never committed); entries up to seq \(entries.last?.seq ?? 0) are intact and the next append cuts them off"]))
        } else {
            checks.append(Check("custody.ledger.tail", .passed, "the ledger ends with a whole line"))
        }

        let anchorTitle = "the ledger still holds the entry named by the signed checkpoint file"
        if let checkpointFile = snap.checkpointFile {
            do {
                let anchor = try Self.parseCheckpoint(checkpointFile, path: checkpointPath)
                var failures = [String]()
                if !anchor.isSigned(in: ring) { failures.append("\(checkpointPath) is not signed by a trusted key") }
                let idx = Int(anchor.seq) - 1
                if idx >= snap.lines.count {
                    failures.append("the checkpoint names entry seq \(anchor.seq) but the ledger ends at seq \(snap.lines.count): it was truncated")
                } else if !snap.lines[idx].bytes.elementsEqual(anchor.line) {
                    failures.append("line \(idx + 1) differs from the checkpoint of seq \(anchor.seq): the ledger was rewritten")
                }
                checks.append(.from("custody.ledger.anchor", anchorTitle, failures: failures, passedDetails: ["checkpoint seq \(anchor.seq)"]))
            } catch {
                checks.append(Check("custody.ledger.anchor", .failed, anchorTitle, details: ["\(error)"]))
            }
        } else if !checkpoints.isEmpty {
            checks.append(Check("custody.ledger.anchor", .failed, anchorTitle, details: ["\(checkpointPath) is missing although the ledger has checkpoints"]))
        } else {
            checks.append(Check("custody.ledger.anchor", .skipped, anchorTitle, details: ["no checkpoint has been made"]))
        }
        return LedgerVerification(checks: checks, entries: entries, lastValidCheckpoint: lastValid, tornTailLength: snap.tornTail?.count)
    }
}
