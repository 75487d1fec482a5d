// HDF5's property-list and type identifiers are macros over library globals, which Swift
// cannot import; these functions hand them over. Everything else is HDF5's C API as is.
#ifndef CHDF5_H
#define CHDF5_H
#include <hdf5.h>

hid_t chdf5_p_default(void);
hid_t chdf5_s_all(void);
unsigned chdf5_f_acc_trunc(void);
unsigned chdf5_f_acc_rdonly(void);
unsigned chdf5_f_acc_excl(void);
hid_t chdf5_native_float(void);
hid_t chdf5_native_double(void);
hid_t chdf5_native_int64(void);
hid_t chdf5_native_int32(void);
hid_t chdf5_native_uint8(void);
hid_t chdf5_c_s1(void);
/// Silences HDF5's automatic error printing (errors are reported by return value).
void chdf5_silence_errors(void);
/// Copies the description of the innermost error on this thread's HDF5 error stack (where the
/// failure began, e.g. a checksum mismatch) into `buffer`; an empty string when there is none.
void chdf5_innermost_error(char *buffer, size_t size);
/// A dataset-creation property list for a chunked dataset with HDF5's Fletcher-32 checksum
/// (`rank` chunk extents in `chunk`); the caller closes it. Negative on failure.
hid_t chdf5_checksummed_layout(int rank, const hsize_t *chunk);

#endif
