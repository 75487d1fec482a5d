// Debian's libopenblas-dev installs cblas.h (with openblas_set_num_threads) under the
// multiarch include directory.
#if defined(__x86_64__)
#include <x86_64-linux-gnu/cblas.h>
#elif defined(__aarch64__)
#include <aarch64-linux-gnu/cblas.h>
#else
#include <cblas.h>
#endif
