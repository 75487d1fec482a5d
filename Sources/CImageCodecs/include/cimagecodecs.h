#ifndef CIMAGECODECS_H
#define CIMAGECODECS_H
#include <stddef.h>
#include <stdint.h>

/// Decodes a JPEG (libjpeg-turbo) or PNG (libpng) held in memory into 8-bit RGB, row-major.
/// Returns 0 on success: *pixels (malloc'ed, width*height*3 bytes; free with fb_free) and
/// the size are set. Returns -1 on failure with a one-line reason in `error`.
/// libjpeg reports errors by calling error_exit, which by default ends the process: these
/// wrappers catch it with setjmp, so a corrupt file becomes an error, never a crash.
int fb_decode_jpeg(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                   char *error, size_t error_size);
int fb_decode_png(const uint8_t *data, size_t size, uint8_t **pixels, int *width, int *height,
                  char *error, size_t error_size);
void fb_free(void *pointer);

#endif
