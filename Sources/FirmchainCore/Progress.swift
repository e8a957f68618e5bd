/// Receives progress of long work. Libraries report through it and never print; the command
/// line shows it on a terminal and drops it otherwise.
public protocol ProgressReporter: Sendable {
    /// `completed` of `total` units of `phase` are done (`total` may be 0 when unknown).
    func report(phase: String, completed: Int64, total: Int64)
}

/// A reporter that discards everything: the default for libraries and tests.
public struct SilentProgress: ProgressReporter {
    /// A reporter that discards every report.
    public init() {}
    /// Discards the report.
    public func report(phase: String, completed: Int64, total: Int64) {}
}

/// Names what the phases belong to: `delta 1.0.0 → 1.2.0: suffix sort 42%`.
public struct LabelledProgress: ProgressReporter {
    /// The label put before every phase.
    public let label: String
    /// Where the labelled reports go.
    public let base: ProgressReporter

    /// Reports to `base`, each phase prefixed with `label`.
    public init(_ label: String, _ base: ProgressReporter) {
        self.label = label
        self.base = base
    }

    /// Forwards the report with the phase labelled.
    public func report(phase: String, completed: Int64, total: Int64) {
        base.report(phase: "\(label): \(phase)", completed: completed, total: total)
    }
}
