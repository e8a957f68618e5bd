/// Text from untrusted input (a file name, a hardware id, a reason quoting either) made safe
/// to show on one line of a terminal or a log.
public enum DisplayText {
    /// Whether `scalar` must not reach a terminal as it is: a control character (C0, DEL, C1),
    /// a format character (a right-to-left override, a zero-width joiner) or a line or paragraph
    /// separator.
    public static func isUnsafe(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.properties.generalCategory {
        case .control, .format, .lineSeparator, .paragraphSeparator: return true
        default: return false
        }
    }

    /// `text` with every unsafe scalar written as `\u{…}` (a newline as `\u{a}`, ESC as
    /// `\u{1b}`), so it stays one line and shows what it says.
    public static func oneLine(_ text: String) -> String {
        var out = String.UnicodeScalarView()
        for u in text.unicodeScalars {
            if isUnsafe(u) { out.append(contentsOf: "\\u{\(String(u.value, radix: 16))}".unicodeScalars) } else { out.append(u) }
        }
        return String(out)
    }

    /// Whether `text` is 1 to `maxBytes` bytes with no unsafe scalar: what a version or a
    /// hardware id may be.
    public static func isPrintable(_ text: String, maxBytes: Int = 256) -> Bool {
        !text.isEmpty && text.utf8.count <= maxBytes && !text.unicodeScalars.contains(where: isUnsafe)
    }
}
