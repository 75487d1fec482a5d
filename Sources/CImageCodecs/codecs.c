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
// as an error (PIL refuses such files too), so a damaged image is reported and skipped. Other
// warnings (extraneous bytes before a marker, …) are harmless and, as in PIL, ignored.
static void fb_jpeg_emit_message(j_common_ptr info, int level) {
    if (level < 0 && info->err->msg_code == JWRN_JPEG_EOF) fb_jpeg_error_exit(info);
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

int fb_decode_png(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                  char *error, size_t error_size) {
    png_image image;
    memset(&image, 0, sizeof image);
    image.version = PNG_IMAGE_VERSION;
    *pixels = NULL;
    if (!png_image_begin_read_from_memory(&image, data, size)) {
        snprintf(error, error_size, "not a valid PNG: %s", image.message);
        png_image_free(&image);
        return -1;
    }
    if ((size_t)image.width * image.height > FB_MAX_PIXELS) {
        snprintf(error, error_size, "PNG of %ux%u pixels is too large", image.width, image.height);
        png_image_free(&image);
        return -1;
    }
    // Read with alpha and drop it, as PIL's convert("RGB") does (no compositing).
    image.format = PNG_FORMAT_RGBA;
    size_t n = (size_t)image.width * image.height;
    uint8_t *rgba = malloc(n * 4);
    uint8_t *out = malloc(n * 3);
    if (!rgba || !out) {
        snprintf(error, error_size, "out of memory for a %ux%u PNG", image.width, image.height);
        png_image_free(&image);
        free(rgba);
        free(out);
        return -1;
    }
    if (!png_image_finish_read(&image, NULL, rgba, 0, NULL)) {
        snprintf(error, error_size, "not a valid PNG: %s", image.message);
        png_image_free(&image);
        free(rgba);
        free(out);
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        out[3 * i] = rgba[4 * i];
        out[3 * i + 1] = rgba[4 * i + 1];
        out[3 * i + 2] = rgba[4 * i + 2];
    }
    free(rgba);
    *pixels = out;
    *width = (int)image.width;
    *height = (int)image.height;
    return 0;
}

void fb_free(void *pointer) { free(pointer); }
