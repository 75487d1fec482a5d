# PNGs that PIL 13 (Keras' load_img) and libpng's conveniences read differently, written byte
# by byte, with the RGB PIL's Image.open(...).convert("RGB") gives for each (<name>.rgb).
# Run with Pillow installed: python3 make_png_cases.py
import io, struct, zlib
import numpy as np
from PIL import Image

def chunk(kind, data):
    return struct.pack('>I', len(data)) + kind + data + struct.pack('>I', zlib.crc32(kind + data) & 0xffffffff)

def png(width, rows, depth, colour, extra=b'', interlace=0):
    raw = b''.join(b'\x00' + r for r in rows)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', width, len(rows), depth, colour, 0, 0, interlace))
            + extra + chunk(b'IDAT', zlib.compress(raw)) + chunk(b'IEND', b''))

v16 = [0, 43, 255, 256, 43 * 257 + 100, 200 * 256 + 255, 65535]
v8 = [0, 43, 100, 177, 255]
cases = {
    # 16-bit RGB: PIL keeps the high byte (libpng's simplified API treats it as linear light).
    'png_rgb16': png(7, [b''.join(struct.pack('>HHH', v, v // 2, 65535 - v) for v in v16)], 16, 2),
    # 16-bit grey: PIL opens it as I;16 and clips to 255 when converting.
    'png_grey16': png(7, [b''.join(struct.pack('>H', v) for v in v16)], 16, 0),
    # 16-bit grey + alpha: PIL reads LA;16B's high bytes, alpha dropped.
    'png_greyalpha16': png(7, [b''.join(struct.pack('>HH', v, 1000) for v in v16)], 16, 4),
    # gAMA 1.0 on 8-bit RGB: PIL ignores it.
    'png_gamma': png(5, [bytes(x for v in v8 for x in (v, 255 - v, v // 3))], 8, 2, chunk(b'gAMA', struct.pack('>I', 100000))),
    # A palette with a transparent entry (tRNS): the palette's colours, alpha dropped.
    'png_palette_trns': png(4, [bytes([0, 1, 2, 1])], 8, 3,
                            chunk(b'PLTE', bytes([10, 20, 30, 200, 100, 50, 0, 255, 0])) + chunk(b'tRNS', bytes([0, 128]))),
    # 2-bit grey, interlaced (Adam7 over 3 rows).
    'png_grey2_interlaced': None,
}
# Interlacing needs passes; let PIL write it (PIL writes non-interlaced): build it via Adam7 by hand.
def adam7(pixels, width, height, depth):
    passes = [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]
    out = b''
    for x0, y0, dx, dy in passes:
        xs = list(range(x0, width, dx)); ys = list(range(y0, height, dy))
        if not xs or not ys: continue
        for y in ys:
            bits = ''.join(format(pixels[y][x], '0%db' % depth) for x in xs)
            bits += '0' * (-len(bits) % 8)
            out += b'\x00' + bytes(int(bits[i:i + 8], 2) for i in range(0, len(bits), 8))
    return out
grey2 = [[(x + y) % 4 for x in range(9)] for y in range(3)]
cases['png_grey2_interlaced'] = (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', 9, 3, 2, 0, 0, 0, 1))
                                 + chunk(b'IDAT', zlib.compress(adam7(grey2, 9, 3, 2))) + chunk(b'IEND', b''))
# CRCs: PIL checks every chunk's up to the image data (a bad one makes the file unreadable),
# not the image data's: a bad IDAT CRC decodes, a bad tEXt CRC before it does not.
def bad_crc(data, kind):
    at = data.index(kind) + 4 + struct.unpack('>I', data[data.index(kind) - 4:data.index(kind)])[0]
    return data[:at] + bytes(b ^ 0xFF for b in data[at:at + 4]) + data[at + 4:]
cases['png_bad_idat_crc'] = bad_crc(cases['png_gamma'], b'IDAT')
refused = {'png_bad_text_crc': bad_crc(png(5, [bytes(range(15))], 8, 2, chunk(b'tEXt', b'Comment\x00hello')), b'tEXt')}
for name, data in refused.items():
    open(name + '.png', 'wb').write(data)
    try:
        Image.open(io.BytesIO(data)).convert('RGB')
        raise SystemExit(name + ': PIL read it')
    except SyntaxError:
        pass
    except Exception as e:
        print(name, 'refused by PIL:', type(e).__name__, e)
for name, data in cases.items():
    open(name + '.png', 'wb').write(data)
    rgb = np.array(Image.open(io.BytesIO(data)).convert('RGB'), dtype=np.uint8)
    rgb.tofile(name + '.rgb')
    print(name, rgb.shape, rgb.reshape(-1, 3)[:, 0].tolist())
