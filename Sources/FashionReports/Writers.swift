import Foundation
import FashionConfig

/// Files a run writes. Every file is written whole, to a temporary name, then renamed, so a
/// reader (or a crash) never sees half a file.
public enum ResultFiles {
    public static func write(_ text: String, to url: URL) throws {
        try TemporaryFiles.writeAtomically(Data(text.utf8), to: url)
    }

    /// A CSV table: header, then rows; numbers as given (already formatted).
    public static func csv(header: [String], rows: [[String]]) -> String {
        ([header] + rows).map { $0.map(escape).joined(separator: ",") }.joined(separator: "\n") + "\n"
    }

    static func escape(_ field: String) -> String {
        guard field.contains(where: { ",\"\n\r".contains($0) }) else { return field }
        return "\"" + field.replacingOccurrences(of: "\"", with: "\"\"") + "\""
    }

    /// A number for CSV/JSON with full float32/float64 round-trip precision.
    public static func number(_ v: Double?) -> String {
        guard let v else { return "" }
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        return "\(v)"
    }

    /// A float32 value with its own shortest round-trip digits ("0.1", not the float64
    /// widening "0.10000000149011612"); reading it as float64 and rounding to float32 gives
    /// the original back. A distinct label keeps `number(nil)` unambiguous.
    public static func number(float v: Float?) -> String {
        guard let v else { return "" }
        guard v.isFinite else { return v.isNaN ? "nan" : (v > 0 ? "inf" : "-inf") }
        return "\(v)"
    }

    /// Pretty, key-sorted JSON of a dictionary of plain values; a NaN or infinite number is
    /// written as null (JSON has no such numbers).
    public static func json(_ object: [String: Any]) throws -> String {
        let data = try JSONSerialization.data(withJSONObject: finiteOrNull(object), options: [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes])
        return String(decoding: data, as: UTF8.self) + "\n"
    }

    static func finiteOrNull(_ value: Any) -> Any {
        switch value {
        case let d as Double: return d.isFinite ? d : NSNull()
        case let f as Float: return f.isFinite ? f : NSNull()
        case let dictionary as [String: Any]: return dictionary.mapValues(finiteOrNull)
        case let array as [Any]: return array.map(finiteOrNull)
        default: return value
        }
    }
}
