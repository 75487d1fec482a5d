import Foundation
import FashionStats
import FashionReports

/// Repeated runs of one experiment summarised per metric: mean, sample standard deviation and
/// the Student-t interval mean ± t(1 − α/2, n − 1)·s/√n (seed 003's "accuracy with a 95%
/// range").
public struct RepeatSummary {
    public static let metrics = ["test_accuracy", "test_loss", "test_reconstruction_mse", "best_val_accuracy", "final_val_accuracy",
                                 "epochs_run", "train_seconds"]

    public let seeds: [Int]
    public let confidence: Double
    public let classes: Int
    /// Per metric, the runs' values in seed order and their summary.
    public let values: [(metric: String, values: [Double], summary: Summary)]

    public init(runs: [RunResult], confidence: Double) {
        self.confidence = confidence
        classes = runs.first?.classNames.count ?? 0
        seeds = runs.map { ($0.metrics["seed"] as? Int) ?? 0 }
        values = RepeatSummary.metrics.compactMap { metric in
            let v = runs.compactMap { RepeatSummary.number($0.metrics[metric]) }
            guard v.count == runs.count, !v.isEmpty else { return nil }
            return (metric, v, Summary.of(v, confidence: confidence))
        }
    }

    static func number(_ any: Any?) -> Double? {
        switch any {
        case let d as Double: return d
        case let i as Int: return Double(i)
        default: return nil
        }
    }

    public func summary(_ metric: String) -> Summary? { values.first { $0.metric == metric }?.summary }

    public var headline: String {
        guard let s = summary("test_accuracy") else { return "" }
        return String(format: "Test accuracy over %d runs: %.4f ± %.4f (sd %.4f), %@%% interval [%.4f, %.4f] (t = %.3f, %d d.o.f.)",
                      s.count, s.mean, s.upper - s.mean, s.standardDeviation, percentText(confidence), s.lower, s.upper, s.tCritical, s.count - 1)
    }

    /// metric, n, mean, std, sem, confidence, t, lower, upper, then the runs' values.
    public var csv: String {
        let header = ["metric", "n", "mean", "std", "sem", "confidence", "t", "lower", "upper"] + seeds.map { "seed_\($0)" }
        return ResultFiles.csv(header: header, rows: values.map { v in
            let s = v.summary
            return [v.metric, String(s.count)] + [s.mean, s.standardDeviation, s.standardError, confidence, s.tCritical, s.lower, s.upper].map(ResultFiles.number)
                + v.values.map(ResultFiles.number)
        })
    }

    public var json: [String: Any] {
        var metrics: [String: Any] = [:]
        for v in values {
            let s = v.summary
            metrics[v.metric] = ["n": s.count, "mean": s.mean, "std": s.standardDeviation, "sem": s.standardError,
                                 "t": s.tCritical.isFinite ? s.tCritical : NSNull(), "lower": s.lower, "upper": s.upper, "values": v.values]
        }
        return ["seeds": seeds, "confidence": confidence, "metrics": metrics]
    }
}
