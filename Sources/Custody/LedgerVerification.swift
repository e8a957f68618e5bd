import FirmchainCore
import Signing

/// The result of checking a ledger (`Ledger.verify`): every check with its outcome, and the
/// entries that could be read.
public struct LedgerVerification: Sendable, Hashable {
    /// The checks, in the order they ran.
    public var checks: [CustodyCheck]
    /// Every whole line that could be read as an entry, in file order.
    public var entries: [LedgerEntry]
    /// The sequence number of the last checkpoint with a valid trusted signature.
    public var lastValidCheckpoint: Int64?
    /// Bytes after the last newline (a torn line from a crash), if any.
    public var tornTailLength: Int?

    /// Whether no check failed.
    public var holds: Bool { checks.allHold }
}

extension Ledger {
    /// Checks the ledger, in this order:
    ///
    /// 1. every whole line is an entry of format version 1, in the ledger's exact encoding;
    /// 2. sequence numbers run 1, 2, 3, … without gaps or repeats (a deleted, inserted or
    ///    reordered entry breaks this);
    /// 3. each entry's `prev` is the sha256 of the line before it (an edited line breaks the
    ///    next entry's link);
    /// 4. each checkpoint carries a valid signature by one of `trustedKeys`;
    /// 5. every entry is covered by a later valid checkpoint (warning otherwise: a run still
    ///    going, or one that stopped before its checkpoint);
    /// 6. the file ends with a whole line (warning otherwise: a crash tore the last append,
    ///    which was never committed);
    /// 7. the ledger still holds, byte for byte, the entry the checkpoint file names and that
    ///    entry is validly signed (a ledger cut short fails here even at a line boundary).
    ///
    /// - Throws: only when the file cannot be read; findings are in the result.
    public func verify(trustedKeys: [TUFKey]) throws -> LedgerVerification {
        let snap = try readSnapshot()
        let keys = Dictionary(trustedKeys.map { ($0.keyid, $0) }, uniquingKeysWith: { a, _ in a })
        guard snap.exists else {
            return LedgerVerification(checks: [CustodyCheck("the ledger exists", .failed, ["\(path) does not exist"])],
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
        var checks = [CustodyCheck]()
        checks.append(.from("every ledger line is an entry of format version 1 (\(snap.lines.count) lines)", failures: unreadable))

        var seqFailures = [String]()
        for (i, p) in parsed.enumerated() {
            guard let e = p.entry else { continue }
            if e.seq != Int64(i + 1) { seqFailures.append("line \(p.number) has seq \(e.seq), expected \(i + 1)") }
        }
        checks.append(.from("sequence numbers run 1…\(snap.lines.count) without gaps, repeats or reordering", failures: seqFailures))

        var chainFailures = [String]()
        var previousHash = LedgerEntry.genesis
        for (i, p) in parsed.enumerated() {
            if let e = p.entry, e.prev != previousHash {
                chainFailures.append("line \(p.number) (seq \(e.seq)): prev does not match the sha256 of \(i == 0 ? "the empty ledger" : "line \(p.number - 1)") — an entry before it was edited, removed or inserted")
            }
            previousHash = DigestCalculator.sha256Hex(snap.lines[i].bytes)
        }
        checks.append(.from("each entry's prev is the sha256 of the line before it (hash chain)", failures: chainFailures))

        var cpFailures = [String]()
        var lastValid: Int64?
        var lastValidLine = 0
        let checkpoints = parsed.filter { $0.entry?.isCheckpoint == true }
        for p in checkpoints {
            let e = p.entry!
            if keys.values.contains(where: { e.isSigned(by: $0) }) {
                lastValid = e.seq
                lastValidLine = p.number
            } else {
                let who = e.signatures.map { String($0.keyid.prefix(8)) }.joined(separator: ", ")
                cpFailures.append("line \(p.number) (seq \(e.seq)): no valid signature by a trusted key (signed by \(who.isEmpty ? "nobody" : who))")
            }
        }
        if checkpoints.isEmpty {
            checks.append(CustodyCheck("checkpoints are signed by trusted keys", .skipped, ["the ledger has no checkpoint"]))
        } else {
            checks.append(.from("checkpoints are signed by trusted keys", failures: cpFailures,
                                passedDetails: ["\(checkpoints.count) checkpoint(s), the last at seq \(lastValid ?? 0)"]))
        }

        let uncovered = snap.lines.count - lastValidLine
        checks.append(uncovered == 0
            ? CustodyCheck("every entry is covered by a signed checkpoint", .passed)
            : CustodyCheck("every entry is covered by a signed checkpoint", .warning,
                           ["\(uncovered) entr\(uncovered == 1 ? "y" : "ies") after \(lastValid.map { "the checkpoint at seq \($0)" } ?? "the start") \(uncovered == 1 ? "is" : "are") not signed yet (a run still going, or one that stopped before its checkpoint)"]))

        if let torn = snap.tornTail {
            checks.append(CustodyCheck("the ledger ends with a whole line", .warning,
                                       ["\(torn.count) byte(s) after the last newline: an append torn by a crash (never committed); entries up to seq \(entries.last?.seq ?? 0) are intact and the next append cuts them off"]))
        } else {
            checks.append(CustodyCheck("the ledger ends with a whole line", .passed))
        }

        let anchorTitle = "the ledger still holds the entry named by the signed checkpoint file"
        if let checkpointFile = snap.checkpointFile {
            do {
                let anchor = try Self.parseCheckpoint(checkpointFile, path: checkpointPath)
                var failures = [String]()
                if !keys.values.contains(where: { anchor.isSigned(by: $0) }) { failures.append("\(checkpointPath) is not signed by a trusted key") }
                let idx = Int(anchor.seq) - 1
                if idx >= snap.lines.count {
                    failures.append("the checkpoint names entry seq \(anchor.seq) but the ledger ends at seq \(snap.lines.count): it was truncated")
                } else if !snap.lines[idx].bytes.elementsEqual(anchor.line) {
                    failures.append("line \(idx + 1) differs from the checkpoint of seq \(anchor.seq): the ledger was rewritten")
                }
                checks.append(.from(anchorTitle, failures: failures, passedDetails: ["checkpoint seq \(anchor.seq)"]))
            } catch {
                checks.append(CustodyCheck(anchorTitle, .failed, ["\(error)"]))
            }
        } else if !checkpoints.isEmpty {
            checks.append(CustodyCheck(anchorTitle, .failed, ["\(checkpointPath) is missing although the ledger has checkpoints"]))
        } else {
            checks.append(CustodyCheck(anchorTitle, .skipped, ["no checkpoint has been made"]))
        }
        return LedgerVerification(checks: checks, entries: entries, lastValidCheckpoint: lastValid, tornTailLength: snap.tornTail?.count)
    }
}
