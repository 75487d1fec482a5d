import FashionReports
import Foundation
import Testing
import FashionStats

@Suite("Reports: run CSV files")
struct ReportsCSVTests {
    let names = ["T-shirt/top", "Bag, \"large\"", "Ankle boot"]

    @Test func predictions() {
        let labels = [0, 1, 2, 1]
        let probabilities: [[Float]] = [[0.7, 0.2, 0.1], [0.1, 0.8, 0.1], [0.25, 0.25, 0.5], [0.4, 0.4, 0.2]]
        #expect(RunFiles.predictionsCSV(labels: labels, probabilities: probabilities, classNames: names) == #"""
            index,true_label,true_name,predicted_label,predicted_name,top_probability
            0,0,T-shirt/top,0,T-shirt/top,0.7
            1,1,"Bag, ""large""",1,"Bag, ""large""",0.8
            2,2,Ankle boot,2,Ankle boot,0.5
            3,1,"Bag, ""large""",0,T-shirt/top,0.4

            """#)
        #expect(RunFiles.predictionsCSV(labels: labels, probabilities: probabilities, classNames: names,
                                        includeProbabilities: true) == #"""
            index,true_label,true_name,predicted_label,predicted_name,top_probability,p_0,p_1,p_2
            0,0,T-shirt/top,0,T-shirt/top,0.7,0.7,0.2,0.1
            1,1,"Bag, ""large""",1,"Bag, ""large""",0.8,0.1,0.8,0.1
            2,2,Ankle boot,2,Ankle boot,0.5,0.25,0.25,0.5
            3,1,"Bag, ""large""",0,T-shirt/top,0.4,0.4,0.4,0.2

            """#)
        // The model's flat output gives the same file.
        #expect(RunFiles.predictionsCSV(labels: labels, flatProbabilities: probabilities.flatMap { $0 }, classCount: 3,
                                        classNames: names, includeProbabilities: true)
                == RunFiles.predictionsCSV(labels: labels, probabilities: probabilities, classNames: names, includeProbabilities: true))
        // float64 probabilities keep all 17 digits.
        #expect(RunFiles.predictionsCSV(labels: [0], probabilities: [[1.0 / 3, 2.0 / 3]], classNames: ["a", "b"]) == #"""
            index,true_label,true_name,predicted_label,predicted_name,top_probability
            0,0,a,1,b,0.6666666666666666

            """#)
    }

    @Test func argmaxIsNumpys() {
        #expect(RunFiles.argmax([0.2, 0.5, 0.5]) == 1)
        #expect(RunFiles.argmax([Float.nan, 0.1]) == 1)
        #expect(RunFiles.argmax([Double]()) == -1)
    }

    @Test func confusionMatrices() {
        let matrix = Confusion.matrix(truth: [0, 0, 1, 1, 1, 0], predicted: [0, 1, 1, 1, 0, 0], classes: 3)
        #expect(matrix == [[2, 1, 0], [1, 2, 0], [0, 0, 0]])
        #expect(RunFiles.confusionMatrixCSV(matrix, classNames: names) == #"""
            true\predicted,T-shirt/top,"Bag, ""large""",Ankle boot
            T-shirt/top,2,1,0
            "Bag, ""large""",1,2,0
            Ankle boot,0,0,0

            """#)
        #expect(RunFiles.normalizedConfusionMatrixCSV(matrix, classNames: names) == #"""
            true\predicted,T-shirt/top,"Bag, ""large""",Ankle boot
            T-shirt/top,0.6666666666666666,0.3333333333333333,0.0
            "Bag, ""large""",0.3333333333333333,0.6666666666666666,0.0
            Ankle boot,0.0,0.0,0.0

            """#)
    }

    /// A fixed 3×3 matrix, against sklearn's classification_report(zero_division=0) worked by
    /// hand: class 2 is never predicted (precision 0 by zero_division), support 6, 6, 4.
    @Test func perClassMatchesSklearn() throws {
        let matrix = [[5, 1, 0], [2, 4, 0], [1, 3, 0]]
        let csv = RunFiles.perClassCSV(matrix, classNames: ["a", "b", "c"])
        let lines = csv.split(separator: "\n").map { $0.split(separator: ",", omittingEmptySubsequences: false).map(String.init) }
        #expect(lines.first == ["class", "precision", "recall", "f1", "support"])
        #expect(lines.map(\.first) == ["class", "a", "b", "c", "accuracy", "macro avg", "weighted avg"])
        let expected: [[Double?]] = [
            [5.0 / 8, 5.0 / 6, 5.0 / 7, 6],
            [4.0 / 8, 4.0 / 6, 4.0 / 7, 6],
            [0, 0, 0, 4],
            [nil, nil, 9.0 / 16, 16],
            [0.375, 0.5, 3.0 / 7, 16],
            [6.75 / 16, 9.0 / 16, 27.0 / 56, 16],
        ]
        for (row, want) in zip(lines.dropFirst(), expected) {
            #expect(row.count == 5)
            for (field, value) in zip(row.dropFirst(), want) {
                if let value {
                    let got = try #require(Double(field), "\(row)")
                    #expect(abs(got - value) <= 1e-15, "\(row[0]): \(got) vs \(value)")
                } else {
                    #expect(field == "")
                }
            }
        }
        // The support column is integral.
        #expect(lines.dropFirst().map(\.last) == ["6", "6", "4", "16", "16", "16"])
    }

    @Test func perClassWithNoExamplesIsAllZero() {
        #expect(RunFiles.perClassCSV([[0, 0], [0, 0]], classNames: ["a", "b"]) == #"""
            class,precision,recall,f1,support
            a,0.0,0.0,0.0,0
            b,0.0,0.0,0.0,0
            accuracy,,,0.0,0
            macro avg,0.0,0.0,0.0,0
            weighted avg,0.0,0.0,0.0,0

            """#)
    }

    @Test func float32Numbers() {
        #expect(ResultFiles.number(float: 0.1) == "0.1")
        #expect(ResultFiles.number(float: nil) == "")
        #expect(ResultFiles.number(float: .nan) == "nan")
        #expect(Float(Double(ResultFiles.number(float: 0.123456789))!) == Float(0.123456789))
    }
}
