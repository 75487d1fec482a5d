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
hid_t chdf5_p_dataset_create(void);
hid_t chdf5_p_file_access(void);
/// Silences HDF5's automatic error printing (errors are reported by return value).
void chdf5_silence_errors(void);

#endif
