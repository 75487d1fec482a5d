import Foundation
import Testing
import FashionStats

private func close(_ actual: Double, _ expected: Double, _ tolerance: Double = 1e-14) -> Bool {
    expected == 0 ? abs(actual) <= tolerance : abs(actual - expected) <= tolerance * abs(expected)
}

@Suite("Stats: confusion matrix and classification report (scikit-learn definitions)")
struct StatsClassificationTests {
    @Test("confusion matrix and row normalisation")
    func confusion() {
        let truth = [0, 0, 0, 1, 1, 2, 2, 2, 2]
        let predicted = [0, 1, 0, 1, 1, 0, 2, 2, 1]
        let m = Confusion.matrix(truth: truth, predicted: predicted, classes: 4)
        #expect(m == [[2, 1, 0, 0], [0, 2, 0, 0], [1, 1, 2, 0], [0, 0, 0, 0]])
        let n = Confusion.rowNormalised(m)
        #expect(n[0] == [2.0 / 3, 1.0 / 3, 0, 0])
        #expect(n[1] == [0, 1, 0, 0])
        #expect(n[2] == [0.25, 0.25, 0.5, 0])
        #expect(n[3] == [0, 0, 0, 0])   // no examples: stays 0, not NaN
    }

    @Test("report on a full 3×3 matrix")
    func reportFull() {
        // rows = true class, columns = predicted
        let m = [[50, 3, 7],
                 [4, 40, 6],
                 [10, 5, 25]]
        let r = ClassificationReport.from(confusion: m, classNames: ["shirt", "coat", "pullover"])
        // column sums (TP + FP) 64, 48, 38; row sums (support) 60, 50, 40; total 150.
        // class 0: P = 50/64, R = 50/60, F1 = 2·50/(2·50 + 14 + 10) = 100/124
        // class 1: P = 40/48, R = 40/50, F1 = 80/(80 + 8 + 10) = 80/98
        // class 2: P = 25/38, R = 25/40, F1 = 50/(50 + 13 + 15) = 50/78
        let p = [50.0 / 64, 40.0 / 48, 25.0 / 38]
        let rc = [50.0 / 60, 40.0 / 50, 25.0 / 40]
        let f = [100.0 / 124, 80.0 / 98, 50.0 / 78]
        #expect(r.classes.map(\.name) == ["shirt", "coat", "pullover"])
        #expect(r.classes.map(\.support) == [60, 50, 40])
        for c in 0..<3 {
            #expect(close(r.classes[c].precision, p[c]))
            #expect(close(r.classes[c].recall, rc[c]))
            #expect(close(r.classes[c].f1, f[c]))
        }
        // Numerically (numpy): P = [0.78125, 0.8333333333333334, 0.6578947368421053],
        // R = [0.8333333333333334, 0.8, 0.625], F1 = [0.8064516129032259, 0.816326530612245,
        // 0.6410256410256411].
        #expect(close(r.classes[0].precision, 0.78125))
        #expect(close(r.classes[2].f1, 0.6410256410256411))
        // macro = plain means: P 0.7574926900584796, R 0.7527777777777778, F1 0.754601261513704
        #expect(close(r.macro.precision, 0.7574926900584796))
        #expect(close(r.macro.recall, 0.7527777777777778))
        #expect(close(r.macro.f1, 0.754601261513704))
        // weighted by support (60, 50, 40)/150: P 0.7657163742690059, R = accuracy = 115/150,
        // F1 0.7656296596388762 (numpy)
        #expect(close(r.weighted.precision, 0.7657163742690059))
        #expect(close(r.weighted.recall, 115.0 / 150))
        #expect(close(r.weighted.f1, 0.7656296596388762))
        #expect(r.macro.name == "macro avg" && r.weighted.name == "weighted avg")
        #expect(r.macro.support == 150 && r.weighted.support == 150)
        #expect(close(r.accuracy, 115.0 / 150) && r.total == 150)
    }

    @Test("report with a never-predicted class and a class with no support")
    func reportDegenerate() {
        // Class 1 ("coat") is never predicted (column 1 all 0): precision 0 (zero_division = 0),
        // recall 0/5. Class 2 ("bag") has no true examples (row 2 all 0) but is predicted 4 times:
        // precision 0/4 = 0, recall 0 (zero_division), F1 0.
        let m = [[5, 0, 1],
                 [2, 0, 3],
                 [0, 0, 0]]
        let r = ClassificationReport.from(confusion: m, classNames: ["shirt", "coat", "bag"])
        // class 0: TP 5, predicted 7, support 6: P = 5/7, R = 5/6, F1 = 10/(10 + 2 + 1) = 10/13.
        #expect(close(r.classes[0].precision, 5.0 / 7))
        #expect(close(r.classes[0].recall, 5.0 / 6))
        #expect(close(r.classes[0].f1, 10.0 / 13))
        #expect(r.classes[1].precision == 0 && r.classes[1].recall == 0 && r.classes[1].f1 == 0)
        #expect(r.classes[1].support == 5)
        #expect(r.classes[2].precision == 0 && r.classes[2].recall == 0 && r.classes[2].f1 == 0)
        #expect(r.classes[2].support == 0)
        // macro over all three classes: P = (5/7)/3, R = (5/6)/3, F1 = (10/13)/3.
        #expect(close(r.macro.precision, 5.0 / 21))
        #expect(close(r.macro.recall, 5.0 / 18))
        #expect(close(r.macro.f1, 10.0 / 39))
        // weighted by support (6, 5, 0)/11: P = 6·(5/7)/11 = 30/77, R = 5/11, F1 = 60/143.
        #expect(close(r.weighted.precision, 30.0 / 77))
        #expect(close(r.weighted.recall, 5.0 / 11))
        #expect(close(r.weighted.f1, 60.0 / 143))
        #expect(close(r.accuracy, 5.0 / 11) && r.total == 11)
    }
}
