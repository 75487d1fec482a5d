import Foundation
import FashionTensor

/// Random image augmentation with the semantics of Keras' (legacy) `ImageDataGenerator`:
/// `get_random_transform` draws the parameters, `apply_transform` applies them
/// (`apply_affine_transform` = scipy.ndimage.affine_transform, order 1, then the flips).
public struct AugmentationSettings: Sendable, Equatable {
    public enum FillMode: String, Sendable, CaseIterable {
        /// scipy 'nearest': edge pixel repeated.
        case nearest
        /// scipy 'constant': every sample outside [0, n-1] is `cval` (no interpolation beyond the edge).
        case constant
        /// scipy 'reflect': half-sample symmetric (d c b a | a b c d | d c b a).
        case reflect
        /// scipy's legacy 'wrap' (not 'grid-wrap'): the coordinate is wrapped with period n-1,
        /// which is what Keras passes to scipy and what its outputs show.
        case wrap
    }

    /// Degrees; theta ~ U(-r, r).
    public var rotationRange: Double
    /// Keras' `width_shift_range`: drawn as ty (scaled by the width), which after Keras' axis
    /// swap moves the rows (see README, "Data augmentation").
    public var widthShiftRange: ShiftRange
    /// Keras' `height_shift_range`: drawn as tx (scaled by the height), which moves the columns.
    public var heightShiftRange: ShiftRange
    /// Zoom factors are drawn from [lo, hi] (Keras: a number z means [1-z, 1+z]).
    public var zoomRange: (lo: Double, hi: Double)
    /// Degrees; shear ~ U(-s, s).
    public var shearRange: Double
    public var horizontalFlip: Bool
    public var verticalFlip: Bool
    public var fillMode: FillMode
    public var cval: Float

    public init(rotationRange: Double = 0, widthShiftRange: ShiftRange = .off, heightShiftRange: ShiftRange = .off,
                zoomRange: (lo: Double, hi: Double) = (1, 1), shearRange: Double = 0,
                horizontalFlip: Bool = false, verticalFlip: Bool = false,
                fillMode: FillMode = .nearest, cval: Float = 0) {
        self.rotationRange = rotationRange
        self.widthShiftRange = widthShiftRange
        self.heightShiftRange = heightShiftRange
        self.zoomRange = zoomRange
        self.shearRange = shearRange
        self.horizontalFlip = horizontalFlip
        self.verticalFlip = verticalFlip
        self.fillMode = fillMode
        self.cval = cval
    }

    /// Keras' float `zoom_range`: z → [1 - z, 1 + z].
    public static func zoom(_ z: Double) -> (lo: Double, hi: Double) { (1 - z, 1 + z) }

    /// True when no setting changes an image.
    public var isIdentity: Bool {
        rotationRange == 0 && widthShiftRange.isOff && heightShiftRange.isOff
            && zoomRange.lo == 1 && zoomRange.hi == 1 && shearRange == 0 && !horizontalFlip && !verticalFlip
    }

    public static func == (a: AugmentationSettings, b: AugmentationSettings) -> Bool {
        a.rotationRange == b.rotationRange && a.widthShiftRange == b.widthShiftRange
            && a.heightShiftRange == b.heightShiftRange && a.zoomRange.lo == b.zoomRange.lo
            && a.zoomRange.hi == b.zoomRange.hi && a.shearRange == b.shearRange
            && a.horizontalFlip == b.horizontalFlip && a.verticalFlip == b.verticalFlip
            && a.fillMode == b.fillMode && a.cval == b.cval
    }
}

/// Keras' `width_shift_range` / `height_shift_range`, in its three forms (legacy
/// `ImageDataGenerator.get_random_transform`):
/// - a float r: a shift uniform in [−r, r);
/// - an int n: `np.random.choice(n)` (0 … n−1 pixels) times a random sign, so n = 2 gives
///   −1, 0, 0, +1 (whole pixels; 1 never shifts);
/// - a list: one of its values (`np.random.choice`) times a random sign.
/// A float or list whose largest value is below 1 is a fraction of the image's side; otherwise
/// pixels (an int always is).
public enum ShiftRange: Sendable, Equatable {
    case uniform(Double)
    case integers(Int)
    case list([Double])

    public static let off = ShiftRange.uniform(0)

    /// Keras skips the draw for 0 (`if self.width_shift_range:`); a list of zeros or an int of
    /// at most 1 draws, but only 0.
    public var isOff: Bool {
        switch self {
        case let .uniform(r): return r == 0
        case let .integers(n): return n <= 1
        case let .list(values): return values.allSatisfy { $0 == 0 }
        }
    }

    /// One shift in pixels along a side of `side` pixels.
    public func draw(side: Int, using rng: inout SeededGenerator) -> Double {
        func sign() -> Double { rng.nextUnitDouble() < 0.5 ? -1 : 1 }
        switch self {
        case let .uniform(r):
            let shift = -r + 2 * r * rng.nextUnitDouble()
            return r < 1 ? shift * Double(side) : shift
        case let .integers(n):
            let k = min(Int(rng.nextUnitDouble() * Double(n)), n - 1)
            return Double(k) * sign()
        case let .list(values):
            let k = min(Int(rng.nextUnitDouble() * Double(values.count)), values.count - 1)
            let shift = values[k] * sign()
            return values.max()! < 1 ? shift * Double(side) : shift
        }
    }
}

/// The parameters dict of Keras' `apply_transform`: theta and shear in degrees, tx and ty shifts
/// in pixels (Keras' names; after Keras' axis swap tx moves the columns, out[r][q] = in[r][q + tx],
/// and ty the rows), zx/zy zoom factors (> 1 shows less of the image).
public struct AffineParameters: Sendable, Equatable {
    public var theta: Double
    public var tx: Double
    public var ty: Double
    public var shear: Double
    public var zx: Double
    public var zy: Double
    public var flipHorizontal: Bool
    public var flipVertical: Bool

    public init(theta: Double = 0, tx: Double = 0, ty: Double = 0, shear: Double = 0, zx: Double = 1, zy: Double = 1,
                flipHorizontal: Bool = false, flipVertical: Bool = false) {
        self.theta = theta
        self.tx = tx
        self.ty = ty
        self.shear = shear
        self.zx = zx
        self.zy = zy
        self.flipHorizontal = flipHorizontal
        self.flipVertical = flipVertical
    }
}

public enum Augmentation {
    /// Keras' `get_random_transform` for float ranges (uniform draws, in Keras' order:
    /// theta, tx (height shift), ty (width shift), shear, zx, zy, horizontal flip, vertical flip).
    /// The draws come from `rng`, not numpy, so values differ from Keras' for the same seed;
    /// the distributions are the same.
    public static func randomParameters(_ s: AugmentationSettings, height: Int, width: Int,
                                        using rng: inout SeededGenerator) -> AffineParameters {
        func uniform(_ lo: Double, _ hi: Double) -> Double { lo + (hi - lo) * rng.nextUnitDouble() }
        var p = AffineParameters()
        if s.rotationRange != 0 { p.theta = uniform(-s.rotationRange, s.rotationRange) }
        if !s.heightShiftRange.isOff { p.tx = s.heightShiftRange.draw(side: height, using: &rng) }
        if !s.widthShiftRange.isOff { p.ty = s.widthShiftRange.draw(side: width, using: &rng) }
        if s.shearRange != 0 { p.shear = uniform(-s.shearRange, s.shearRange) }
        if !(s.zoomRange.lo == 1 && s.zoomRange.hi == 1) {
            p.zx = uniform(s.zoomRange.lo, s.zoomRange.hi)
            p.zy = uniform(s.zoomRange.lo, s.zoomRange.hi)
        }
        // Keras draws both flip coins whether or not the flip is enabled.
        let h = rng.nextUnitDouble() < 0.5, v = rng.nextUnitDouble() < 0.5
        p.flipHorizontal = h && s.horizontalFlip
        p.flipVertical = v && s.verticalFlip
        return p
    }

    typealias M3 = [[Double]]
    static func dot(_ a: M3, _ b: M3) -> M3 {
        var r = [[Double]](repeating: [0, 0, 0], count: 3)
        for i in 0..<3 { for j in 0..<3 { r[i][j] = a[i][0] * b[0][j] + a[i][1] * b[1][j] + a[i][2] * b[2][j] } }
        return r
    }

    /// The scipy (matrix, offset) Keras passes to `affine_transform` for a channels-last image,
    /// mapping output (row, col) to input (row, col); nil when the affine part is the identity.
    public static func scipyMatrix(_ p: AffineParameters, height: Int, width: Int)
        -> (matrix: (Double, Double, Double, Double), offset: (Double, Double))? {
        var m: M3?
        func compose(_ b: M3) { m = m.map { dot($0, b) } ?? b }
        if p.theta != 0 {
            let t = p.theta * (Double.pi / 180)  // numpy's deg2rad, to the last bit
            compose([[cos(t), -sin(t), 0], [sin(t), cos(t), 0], [0, 0, 1]])
        }
        if p.tx != 0 || p.ty != 0 { compose([[1, 0, p.tx], [0, 1, p.ty], [0, 0, 1]]) }
        if p.shear != 0 {
            let s = p.shear * (Double.pi / 180)
            compose([[1, -sin(s), 0], [0, cos(s), 0], [0, 0, 1]])
        }
        if p.zx != 1 || p.zy != 1 { compose([[p.zx, 0, 0], [0, p.zy, 0], [0, 0, 1]]) }
        guard let core = m else { return nil }
        // transform_matrix_offset_center(matrix, h, w): o_x = h/2 - 0.5 on the first coordinate.
        let ox = Double(height) / 2 - 0.5, oy = Double(width) / 2 - 0.5
        let t = dot(dot([[1, 0, ox], [0, 1, oy], [0, 0, 1]], core), [[1, 0, -ox], [0, 1, -oy], [0, 0, 1]])
        // col_axis > row_axis: Keras swaps columns 0/1 and rows 0/1 (M' = P M P).
        return ((t[1][1], t[1][0], t[0][1], t[0][0]), (t[1][2], t[0][2]))
    }

    /// Keras' `apply_transform` on one HWC float image: `apply_affine_transform` (scipy
    /// affine_transform, order 1, per channel, with the fill mode), then horizontal and vertical flips.
    /// `image` and `out` must not overlap.
    public static func apply(_ p: AffineParameters, to image: UnsafePointer<Float>, into out: UnsafeMutablePointer<Float>,
                             height: Int, width: Int, channels: Int,
                             fillMode: AugmentationSettings.FillMode, cval: Float) {
        let h = height, w = width, c = channels
        if let (m, off) = scipyMatrix(p, height: h, width: w) {
            for r in 0..<h {
                for q in 0..<w {
                    let dst = out + (r * w + q) * c
                    // scipy's order of additions: on an exact 90° turn the coordinate lands on the
                    // border, where `constant` and `wrap` jump, so the last bit decides the pixel.
                    let ir = (off.0 + m.0 * Double(r)) + m.1 * Double(q)
                    let ic = (off.1 + m.2 * Double(r)) + m.3 * Double(q)
                    guard let a = taps(ir, h, fillMode), let b = taps(ic, w, fillMode) else {
                        for k in 0..<c { dst[k] = cval }
                        continue
                    }
                    let p00 = image + (a.i0 * w + b.i0) * c, p01 = image + (a.i0 * w + b.i1) * c
                    let p10 = image + (a.i1 * w + b.i0) * c, p11 = image + (a.i1 * w + b.i1) * c
                    for k in 0..<c {
                        let v = a.w0 * (b.w0 * Double(p00[k]) + b.w1 * Double(p01[k]))
                            + a.w1 * (b.w0 * Double(p10[k]) + b.w1 * Double(p11[k]))
                        dst[k] = Float(v)
                    }
                }
            }
        } else {
            out.update(from: image, count: h * w * c)
        }
        if p.flipHorizontal {
            for r in 0..<h {
                for q in 0..<(w / 2) {
                    let x = out + (r * w + q) * c, y = out + (r * w + (w - 1 - q)) * c
                    for k in 0..<c { swap(&x[k], &y[k]) }
                }
            }
        }
        if p.flipVertical {
            for r in 0..<(h / 2) {
                let x = out + r * w * c, y = out + (h - 1 - r) * w * c
                for k in 0..<(w * c) { swap(&x[k], &y[k]) }
            }
        }
    }

    /// The two linear-interpolation taps (indices, weights) along one axis of length n at input
    /// coordinate x, as scipy's NI_GeometricTransform computes them for order 1; nil means cval.
    @inline(__always)
    static func taps(_ x: Double, _ n: Int, _ mode: AugmentationSettings.FillMode)
        -> (i0: Int, i1: Int, w0: Double, w1: Double)? {
        var x = x
        // A shift of 1e300 pixels is legal: `nearest` clamps any coordinate, and the periodic
        // modes reduce a huge one exactly (fmod) before it becomes an array index. Only a
        // coordinate without a place (NaN, or infinite in a periodic mode) takes cval.
        if x.isNaN || (x.isInfinite && (mode == .wrap || mode == .reflect)) { return nil }
        if n <= 1 {
            if mode == .constant && (x < 0 || x > 0) { return nil }
            return (0, 0, 1, 0)
        }
        let len = Double(n)
        switch mode {
        case .constant:
            if x < 0 || x > len - 1 { return nil }
        case .nearest:
            x = min(max(x, 0), len - 1)
        case .wrap:
            // scipy map_coordinate, NI_EXTEND_WRAP: period n - 1.
            let sz = len - 1
            if abs(x) >= 0x1p52 { x = fmod(x, sz) }
            if x < 0 {
                x += sz * (Double(Int(-x / sz)) + 1)
            } else if x > len - 1 {
                x -= sz * Double(Int(x / sz))
            }
        case .reflect:
            // Linear interpolation on the half-sample symmetric extension.
            let f0 = floor(x)
            let f = x - f0
            let i = Int(abs(f0) >= 0x1p52 ? fmod(f0, 2 * len) : f0)
            return (reflectIndex(i, n), reflectIndex(i + 1, n), 1 - f, f)
        }
        let f0 = floor(x)
        let f = x - f0
        let i = Int(f0)
        return (mirrorIndex(i, n), mirrorIndex(i + 1, n), 1 - f, f)
    }

    /// scipy's border mapping for filter taps outside the array (whole-sample mirror).
    @inline(__always)
    static func mirrorIndex(_ i: Int, _ n: Int) -> Int {
        if i >= 0 && i < n { return i }
        let s2 = 2 * n - 2
        var idx = i
        if idx < 0 {
            idx = s2 * (-idx / s2) + idx
            idx = idx <= 1 - n ? idx + s2 : -idx
        } else {
            idx -= s2 * (idx / s2)
            if idx >= n { idx = s2 - idx }
        }
        return idx
    }

    @inline(__always)
    static func reflectIndex(_ i: Int, _ n: Int) -> Int {
        var idx = i % (2 * n)
        if idx < 0 { idx += 2 * n }
        return idx < n ? idx : 2 * n - 1 - idx
    }
}
