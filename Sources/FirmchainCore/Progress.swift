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
