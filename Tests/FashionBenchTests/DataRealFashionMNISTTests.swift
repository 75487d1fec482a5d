import FashionData
import Foundation
import Testing

/// The installed data set (Debian `dataset-fashion-mnist`), when present.
@Suite("Data: real Fashion-MNIST")
struct DataRealFashionMNISTTests {
    @Test(.enabled(if: FileManager.default.fileExists(atPath: FashionMNIST.defaultDirectory),
                   "needs \(FashionMNIST.defaultDirectory) (sudo apt-get install dataset-fashion-mnist)"))
    func loadInstalledDataWithChecksums() throws {
        let (train, test) = try FashionMNIST.load(directory: FashionMNIST.defaultDirectory, verifyChecksums: true)
        #expect(train.count == 60000)
        #expect(test.count == 10000)
        #expect(train.shape == [28, 28, 1])
        #expect(train.pixels.count == 60000 * 784)
        #expect(test.pixels.count == 10000 * 784)
        // First labels as read from the decompressed files (`gzip -dc … | xxd`).
        #expect(Array(train.labels.prefix(5)) == [9, 0, 0, 3, 0])
        #expect(train.classNames[Int(train.labels[0])] == "Ankle boot")
        #expect(Array(test.labels.prefix(5)) == [9, 2, 1, 1, 6])
        // Balanced: 6000 training and 1000 test examples per class.
        for c in 0..<10 {
            #expect(train.labels.filter { $0 == c }.count == 6000)
            #expect(test.labels.filter { $0 == c }.count == 1000)
        }
    }
}
