import Foundation
import Testing
import FashionData
import FashionTensor

// Augmentation against Keras 3.15 `ImageDataGenerator.apply_transform` (Fixtures/keras/augmentation.json,
// copied from the shared Keras reference set): scipy affine_transform, order 1, four fill modes.

@Suite("Augmentation")
struct AugmentationTests {
    struct Fixture {
        var input: [Float]
        var shape: [Int]
        var cases: [(params: [String: Any], mode: String, output: [Float])]
        var cval: Float
    }

    static func fixture(_ name: String = "augmentation.json") throws -> Fixture {
        let base = try #require(Bundle.module.url(forResource: "Fixtures", withExtension: nil), "no Fixtures resource")
        let url = base.appendingPathComponent("keras").appendingPathComponent(name)
        let root = try #require(try JSONSerialization.jsonObject(with: Data(contentsOf: url)) as? [String: Any])
        func array(_ any: Any?) throws -> (shape: [Int], data: [Float]) {
            let d = try #require(any as? [String: Any])
            let shape = try #require(d["shape"] as? [Int])
            let data = try #require(d["data"] as? [Double]).map(Float.init)
            return (shape, data)
        }
        let input = try array(root["input"])
        let cases = try #require(root["cases"] as? [[String: Any]])
        return Fixture(input: input.data, shape: input.shape, cases: try cases.map { c in
            (try #require(c["params"] as? [String: Any]), try #require(c["fill_mode"] as? String), try array(c["output"]).data)
        }, cval: Float((root["cval"] as? Double) ?? 0))
    }

    static func parameters(_ d: [String: Any]) -> AffineParameters {
        func num(_ k: String, _ def: Double) -> Double { (d[k] as? NSNumber)?.doubleValue ?? def }
        return AffineParameters(theta: num("theta", 0), tx: num("tx", 0), ty: num("ty", 0), shear: num("shear", 0),
                                zx: num("zx", 1), zy: num("zy", 1),
                                flipHorizontal: (d["flip_horizontal"] as? Bool) ?? false,
                                flipVertical: (d["flip_vertical"] as? Bool) ?? false)
    }

    static func transform(_ image: [Float], _ p: AffineParameters, h: Int, w: Int, c: Int,
                          mode: AugmentationSettings.FillMode = .nearest, cval: Float = 0) -> [Float] {
        var out = [Float](repeating: .nan, count: image.count)
        image.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                Augmentation.apply(p, to: src.baseAddress!, into: dst.baseAddress!, height: h, width: w, channels: c,
                                   fillMode: mode, cval: cval)
            }
        }
        return out
    }

    @Test(arguments: 0..<36)
    func kerasFixture(_ index: Int) throws {
        let f = try Self.fixture()
        #expect(f.cases.count == 36, "augmentation.json has \(f.cases.count) cases; update the test's range")
        guard index < f.cases.count else { return }
        try Self.expectKerasCase(f, index)
    }

    /// Case `index` of `f` through `Augmentation.apply`, against Keras' output to 1e-4.
    static func expectKerasCase(_ f: Fixture, _ index: Int) throws {
        let c = f.cases[index]
        let mode = try #require(AugmentationSettings.FillMode(rawValue: c.mode))
        let got = transform(f.input, parameters(c.params), h: f.shape[0], w: f.shape[1], c: f.shape[2], mode: mode, cval: f.cval)
        let worst = zip(got, c.output).map { abs($0 - $1) }.max() ?? .infinity
        #expect(got.count == c.output.count)
        #expect(worst <= 1e-4, "\(c.params) \(c.mode): max |diff| \(worst)\ngot \(got)\nexpected \(c.output)")
    }

    /// Where the shared fixture does not reach (Fixtures/keras/make_augmentation_edges.py): a
    /// 5x7x2 image, cval -7, quarter turns and integer shifts whose sample points fall exactly
    /// on the border (there `constant` and `wrap` jump, so scipy's rounding decides the pixel),
    /// and random continuous transforms with flips. Every pixel as Keras', to float32 rounding.
    @Test func kerasEdgeCases() throws {
        let f = try Self.fixture("augmentation_edges.json")
        #expect(f.cases.count == 72 && f.shape == [5, 7, 2] && f.cval == -7)
        for index in f.cases.indices { try Self.expectKerasCase(f, index) }
    }

    /// An asymmetric 5x7x2 pattern (no two values equal).
    static let h = 5, w = 7, ch = 2
    static let pattern: [Float] = (0..<(h * w * ch)).map { Float($0 * 3 % 71) + 0.5 }

    @Test func rotation90IsIndexRotation() {
        // Square image: Keras rotates by 90° about the centre, exactly (up to cos(pi/2) ≈ 6e-17).
        let n = 6, c = 2
        let img: [Float] = (0..<(n * n * c)).map { Float(($0 * 7) % 73) }
        let out = Self.transform(img, AffineParameters(theta: 90), h: n, w: n, c: c)
        // Keras' theta = 90 maps output (r, q) to input (q, n-1-r): the image turns counter-clockwise
        // as displayed, i.e. out[r][q] = in[q][n-1-r].
        var expected = [Float](repeating: 0, count: img.count)
        for r in 0..<n { for q in 0..<n { for k in 0..<c { expected[(r * n + q) * c + k] = img[(q * n + (n - 1 - r)) * c + k] } } }
        let worst = zip(out, expected).map { abs($0 - $1) }.max()!
        #expect(worst < 1e-5, "90° rotation: max |diff| \(worst)")
    }

    @Test func integerShiftMovesPattern() {
        // Keras (channels_last) applies tx to the column coordinate and ty to the row coordinate
        // (apply_affine_transform swaps the matrix axes; the fixture's tx=2, ty=-1 case shows the
        // same): out[r][q] = in[r + ty][q + tx] where inside, cval elsewhere.
        let h = Self.h, w = Self.w, c = Self.ch
        let out = Self.transform(Self.pattern, AffineParameters(tx: 2, ty: -3), h: h, w: w, c: c, mode: .constant, cval: -1)
        for r in 0..<h {
            for q in 0..<w {
                for k in 0..<c {
                    let sr = r - 3, sq = q + 2
                    let want: Float = (sr >= 0 && sq < w) ? Self.pattern[(sr * w + sq) * c + k] : -1
                    #expect(out[(r * w + q) * c + k] == want, "(\(r), \(q), \(k))")
                }
            }
        }
    }

    /// A shift of 1e300 pixels (legal in Keras) lands far outside the image: every mode still
    /// gives pixels of the image (or cval), never an index computed from an out-of-range Int.
    @Test(arguments: AugmentationSettings.FillMode.allCases)
    func hugeShiftsStayInTheImage(_ mode: AugmentationSettings.FillMode) {
        let h = Self.h, w = Self.w, c = Self.ch
        let allowed = Set(Self.pattern + [-1])
        for shift in [1e300, -1e300, 8.9e307, 3e9] {
            let out = Self.transform(Self.pattern, AffineParameters(tx: shift, ty: -shift), h: h, w: w, c: c, mode: mode, cval: -1)
            #expect(out.allSatisfy { allowed.contains($0) }, "\(mode) shift \(shift): \(out.filter { !allowed.contains($0) }.prefix(4))")
            if mode == .constant { #expect(out.allSatisfy { $0 == -1 }, "constant fill everywhere at shift \(shift)") }
        }
    }

    @Test func flipsAreExact() {
        let h = Self.h, w = Self.w, c = Self.ch
        let out = Self.transform(Self.pattern, AffineParameters(flipHorizontal: true, flipVertical: true), h: h, w: w, c: c)
        for r in 0..<h { for q in 0..<w { for k in 0..<c {
            #expect(out[(r * w + q) * c + k] == Self.pattern[((h - 1 - r) * w + (w - 1 - q)) * c + k])
        } } }
    }

    @Test func randomParametersStayInRangeAndAreDeterministic() {
        let s = AugmentationSettings(rotationRange: 50, widthShiftRange: .uniform(0.2), heightShiftRange: .uniform(3),
                                     zoomRange: AugmentationSettings.zoom(0.4), shearRange: 20,
                                     horizontalFlip: true, verticalFlip: false)
        var a = SeededGenerator(seed: 7, stream: "augment"), b = SeededGenerator(seed: 7, stream: "augment")
        var flips = 0
        for _ in 0..<2000 {
            let p = Augmentation.randomParameters(s, height: 28, width: 30, using: &a)
            let q = Augmentation.randomParameters(s, height: 28, width: 30, using: &b)
            #expect(p == q)
            #expect(abs(p.theta) <= 50)
            #expect(abs(p.tx) <= 3)              // pixels: height_shift_range ≥ 1
            #expect(abs(p.ty) <= 0.2 * 30)       // fraction of the width
            #expect(abs(p.shear) <= 20)
            #expect(p.zx >= 0.6 && p.zx <= 1.4 && p.zy >= 0.6 && p.zy <= 1.4)
            #expect(!p.flipVertical)
            if p.flipHorizontal { flips += 1 }
        }
        #expect(flips > 800 && flips < 1200)
        var c = SeededGenerator(seed: 8, stream: "augment")
        var d = SeededGenerator(seed: 7, stream: "augment")
        #expect(Augmentation.randomParameters(s, height: 28, width: 30, using: &c)
                != Augmentation.randomParameters(s, height: 28, width: 30, using: &d))
        #expect(AugmentationSettings().isIdentity)
        #expect(!s.isIdentity)
        var e = SeededGenerator(seed: 1)
        #expect(Augmentation.randomParameters(AugmentationSettings(), height: 28, width: 28, using: &e) == AffineParameters())
    }

    /// Keras' three forms of a shift range: an int n draws whole pixels 0…n−1 with a random
    /// sign (n = 2: −1, 0, 0, +1), a float r any shift in [−r, r), a list one of its values
    /// with a random sign (fractions of the side when all are below 1).
    @Test func shiftRangesDrawAsKerasDoes() {
        var g = SeededGenerator(seed: 11, stream: "shift")
        var counts: [Double: Int] = [:]
        for _ in 0..<4000 { counts[ShiftRange.integers(2).draw(side: 28, using: &g), default: 0] += 1 }
        #expect(Set(counts.keys) == [-1, 0, 1])
        #expect(counts[0]! > 1800 && counts[0]! < 2200)
        #expect(counts[-1]! > 850 && counts[1]! > 850)
        var whole = Set<Double>()
        for _ in 0..<4000 { whole.insert(ShiftRange.integers(4).draw(side: 28, using: &g)) }
        #expect(whole == [-3, -2, -1, 0, 1, 2, 3])
        var fractions = Set<Double>()
        for _ in 0..<400 { fractions.insert(ShiftRange.list([0.1, 0.25]).draw(side: 40, using: &g)) }
        #expect(fractions == [-4, 4, -10, 10])
        var pixels = Set<Double>()
        for _ in 0..<400 { pixels.insert(ShiftRange.list([0.5, 3]).draw(side: 40, using: &g)) }
        #expect(pixels == [-0.5, 0.5, -3, 3])
        var lo = 0.0, hi = 0.0
        for _ in 0..<4000 {
            let t = ShiftRange.uniform(2).draw(side: 28, using: &g)
            #expect(abs(t) <= 2)
            lo = min(lo, t)
            hi = max(hi, t)
            #expect(abs(ShiftRange.uniform(0.25).draw(side: 28, using: &g)) <= 7)
        }
        #expect(lo < -1.9 && hi > 1.9)
        #expect(ShiftRange.integers(1).isOff && ShiftRange.list([0, 0]).isOff && ShiftRange.off.isOff)
        #expect(!ShiftRange.integers(2).isOff && !ShiftRange.uniform(1).isOff)
    }
}
