import Foundation

/// Per-epoch progress: a live bar with ETA and samples/s on a terminal, one line per epoch
/// otherwise (logs, CI).
final class ProgressPrinter {
    let epochs: Int
    let live: Bool
    private var lastDraw = DispatchTime(uptimeNanoseconds: 0)

    init(epochs: Int, live: Bool = isatty(STDOUT_FILENO) == 1) {
        self.epochs = epochs
        self.live = live
    }

    func batch(epoch: Int, done: Int, total: Int, loss: Double, accuracy: Double?, seconds: Double) {
        guard live else { return }
        let now = DispatchTime.now()
        guard done == total || now.uptimeNanoseconds - lastDraw.uptimeNanoseconds > 100_000_000 else { return }
        lastDraw = now
        let width = 30
        let filled = total == 0 ? width : width * done / total
        let bar = String(repeating: "=", count: max(0, filled - 1)) + (filled > 0 ? (done == total ? "=" : ">") : "")
            + String(repeating: ".", count: width - filled)
        let rate = Double(done) / max(seconds, 1e-9)
        let eta = Double(total - done) / max(rate, 1e-9)
        var line = String(format: "Epoch %d/%d [%@] %d/%d  ETA %@  %.0f samples/s - loss: %.4f",
                          epoch + 1, epochs, bar, done, total, ProgressPrinter.clock(eta), rate, loss)
        if let accuracy { line += String(format: " - accuracy: %.4f", accuracy) }
        FileHandle.standardOutput.write(Data(("\r\u{1B}[K" + line).utf8))
    }

    func epochEnd(_ r: EpochRecord) {
        var line = String(format: "Epoch %d/%d - %.1fs - %.0f samples/s - loss: %.4f",
                          r.epoch, epochs, r.seconds, Double(r.samples) / max(r.trainSeconds, 1e-9), r.loss)
        if let a = r.accuracy { line += String(format: " - accuracy: %.4f", a) }
        if let vl = r.valLoss { line += String(format: " - val_loss: %.4f", vl) }
        if let va = r.valAccuracy { line += String(format: " - val_accuracy: %.4f", va) }
        if live { FileHandle.standardOutput.write(Data("\r\u{1B}[K".utf8)) }
        print(line)
        fflush(stdout)
    }

    static func clock(_ s: Double) -> String {
        let t = Int(s.rounded())
        return t >= 3600 ? String(format: "%d:%02d:%02d", t / 3600, t / 60 % 60, t % 60) : String(format: "%d:%02d", t / 60, t % 60)
    }
}
