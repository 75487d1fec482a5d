#include "cimagecodecs.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>
#include <jerror.h>
#include <png.h>

// Images larger than this are refused rather than allocated (a corrupt header can claim 65535²).
#define FB_MAX_PIXELS (1u << 26)

struct fb_jpeg_error {
    struct jpeg_error_mgr manager;
    jmp_buf jump;
    char message[JMSG_LENGTH_MAX];
};

static void fb_jpeg_error_exit(j_common_ptr info) {
    struct fb_jpeg_error *e = (struct fb_jpeg_error *)info->err;
    (*info->err->format_message)(info, e->message);
    longjmp(e->jump, 1);
}

// A truncated file is only a warning to libjpeg, which then fills the rest with grey: treat it
// as an error (PIL refuses such files too), so a damaged image is reported and skipped. So are
// the warnings of damaged entropy-coded data (a segment cut short by a marker, a bad Huffman
// code, lost restart markers), which PIL passes over and decodes into grey or noise; not one of
// the 14,999 images of the shared slice raises any libjpeg warning. Others (extraneous bytes
// between markers, …) leave the image intact and are, as in PIL, ignored.
static void fb_jpeg_emit_message(j_common_ptr info, int level) {
    if (level >= 0) return;
    switch (info->err->msg_code) {
    case JWRN_JPEG_EOF: case JWRN_HIT_MARKER: case JWRN_HUFF_BAD_CODE: case JWRN_MUST_RESYNC:
        fb_jpeg_error_exit(info);
    }
}

// PIL (Keras' load_img) turns CMYK into RGB as R = (255 - C)(255 - K) / 255 with this rounding;
// libjpeg hands Adobe CMYK files out inverted, i.e. already as 255 - C.
static uint8_t fb_muldiv255(unsigned a, unsigned b) {
    unsigned t = a * b + 128;
    return (uint8_t)((t + (t >> 8)) >> 8);
}

int fb_decode_jpeg(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                   char *error, size_t error_size) {
    struct jpeg_decompress_struct info;
    struct fb_jpeg_error e;
    uint8_t *volatile out = NULL;
    uint8_t *volatile row = NULL;
    *pixels = NULL;
    info.err = jpeg_std_error(&e.manager);
    e.manager.error_exit = fb_jpeg_error_exit;
    e.manager.emit_message = fb_jpeg_emit_message;
    if (setjmp(e.jump)) {
        snprintf(error, error_size, "not a valid JPEG: %s", e.message);
        jpeg_destroy_decompress(&info);
        free(out);
        free(row);
        return -1;
    }
    jpeg_create_decompress(&info);
    jpeg_mem_src(&info, data, (unsigned long)size);
    jpeg_read_header(&info, TRUE);
    int cmyk = info.jpeg_color_space == JCS_CMYK || info.jpeg_color_space == JCS_YCCK;
    info.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    if ((size_t)info.image_width * info.image_height > FB_MAX_PIXELS) {
        snprintf(error, error_size, "JPEG of %ux%u pixels is too large", info.image_width, info.image_height);
        jpeg_destroy_decompress(&info);
        return -1;
    }
    jpeg_start_decompress(&info);
    int w = (int)info.output_width, h = (int)info.output_height, c = info.output_components;
    out = malloc((size_t)w * h * 3);
    row = malloc((size_t)w * c);
    if (!out || !row) {
        snprintf(error, error_size, "out of memory for a %dx%d JPEG", w, h);
        jpeg_destroy_decompress(&info);
        free(out);
        free(row);
        return -1;
    }
    while (info.output_scanline < info.output_height) {
        uint8_t *dst = out + (size_t)info.output_scanline * w * 3;
        JSAMPROW rows[1] = {cmyk ? row : dst};
        jpeg_read_scanlines(&info, rows, 1);
        if (cmyk) {
            for (int x = 0; x < w; x++) {
                const uint8_t *p = row + 4 * x;
                dst[3 * x] = fb_muldiv255(p[0], p[3]);
                dst[3 * x + 1] = fb_muldiv255(p[1], p[3]);
                dst[3 * x + 2] = fb_muldiv255(p[2], p[3]);
            }
        }
    }
    jpeg_finish_decompress(&info);
    jpeg_destroy_decompress(&info);
    free(row);
    *pixels = out;
    *width = w;
    *height = h;
    return 0;
}

struct fb_png_source {
    const uint8_t *data;
    size_t size, offset;
};

static void fb_png_read(png_structp png, png_bytep out, png_size_t count) {
    struct fb_png_source *source = png_get_io_ptr(png);
    if (count > source->size - source->offset) png_error(png, "file ends early (truncated)");
    memcpy(out, source->data + source->offset, count);
    source->offset += count;
}

static void fb_png_error(png_structp png, png_const_charp message) {
    snprintf((char *)png_get_error_ptr(png), 200, "%s", message);
    png_longjmp(png, 1);
}

static void fb_png_warning(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

// The pixels PIL's Image.open(…).convert("RGB") gives, which is what Keras' load_img sees: no
// gamma, sRGB or ICC conversion (PIL ignores gAMA, cHRM, sRGB and iCCP), 16-bit samples by
// their high byte (PIL's RGB;16B, RGBA;16B and LA;16B), except 16-bit greyscale, which PIL
// opens as I;16 and clips to 255 when converting; palettes and 1-, 2-, 4-bit grey expanded;
// alpha dropped, not composited; transparency chunks ignored.
int fb_decode_png(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                  char *error, size_t error_size) {
    char message[200] = "unknown error";
    struct fb_png_source source = {data, size, 0};
    uint8_t *volatile out = NULL;
    uint8_t *volatile image = NULL;
    png_bytep *volatile rows = NULL;
    *pixels = NULL;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, message, fb_png_error, fb_png_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!png || !info) {
        snprintf(error, error_size, "out of memory for a PNG decoder");
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    if (setjmp(png_jmpbuf(png))) {
        snprintf(error, error_size, "not a valid PNG: %s", message);
        png_destroy_read_struct(&png, &info, NULL);
        free(out);
        free(image);
        free(rows);
        return -1;
    }
    png_set_read_fn(png, &source, fb_png_read);
    // PIL checks the CRC of every chunk up to the image data, ancillary ones too (a bad one
    // makes the file unreadable), and not of the image data or what follows it.
    png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
    png_read_info(png, info);
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    png_uint_32 w = png_get_image_width(png, info), h = png_get_image_height(png, info);
    int depth = png_get_bit_depth(png, info), type = png_get_color_type(png, info);
    if ((size_t)w * h > FB_MAX_PIXELS) {
        snprintf(error, error_size, "PNG of %ux%u pixels is too large", w, h);
        png_destroy_read_struct(&png, &info, NULL);
        return -1;
    }
    int grey16 = depth == 16 && type == PNG_COLOR_TYPE_GRAY;
    if (type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (type == PNG_COLOR_TYPE_GRAY && depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (depth == 16 && !grey16) png_set_strip_16(png);
    if (type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
    if (!grey16 && (type == PNG_COLOR_TYPE_GRAY || type == PNG_COLOR_TYPE_GRAY_ALPHA)) png_set_gray_to_rgb(png);
    png_set_interlace_handling(png);
    png_read_update_info(png, info);
    size_t row_bytes = png_get_rowbytes(png, info);
    // 3 channels, or 4 when a palette's transparency (tRNS) became alpha on expansion.
    int channels = png_get_channels(png, info);
    if (!grey16 && channels != 3 && channels != 4) {
        snprintf(message, sizeof message, "unexpected %d channels after expansion", channels);
        png_longjmp(png, 1);
    }
    size_t n = (size_t)w * h;
    image = malloc(row_bytes * h);
    rows = malloc(sizeof(png_bytep) * h);
    out = malloc(n * 3);
    if (!image || !rows || !out) {
        snprintf(message, sizeof message, "out of memory for a %ux%u PNG", w, h);
        png_longjmp(png, 1);
    }
    for (png_uint_32 y = 0; y < h; y++) rows[y] = image + y * row_bytes;
    png_read_image(png, rows);
    if (grey16) {
        for (size_t i = 0; i < n; i++) {
            unsigned v = (unsigned)image[2 * i] << 8 | image[2 * i + 1];
            out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = (uint8_t)(v > 255 ? 255 : v);
        }
    } else if (channels == 3) {
        memcpy(out, image, n * 3);
    } else {
        for (size_t i = 0; i < n; i++) memcpy(out + 3 * i, image + 4 * i, 3);  // alpha dropped, as PIL's convert("RGB")
    }
    png_destroy_read_struct(&png, &info, NULL);
    free(image);
    free(rows);
    *pixels = out;
    *width = (int)w;
    *height = (int)h;
    return 0;
}

void fb_free(void *pointer) { free(pointer); }
