/// The version of Firmchain, printed by `firmchain --version` and recorded in custody evidence.
public enum Firmchain {
    /// Semantic version of this build.
    public static let version = "0.1.0"
}
