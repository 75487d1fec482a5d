#include "chdf5.h"
#include <stdio.h>

hid_t chdf5_p_default(void) { return H5P_DEFAULT; }
hid_t chdf5_s_all(void) { return H5S_ALL; }
unsigned chdf5_f_acc_trunc(void) { return H5F_ACC_TRUNC; }
unsigned chdf5_f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
unsigned chdf5_f_acc_excl(void) { return H5F_ACC_EXCL; }
hid_t chdf5_native_float(void) { return H5T_NATIVE_FLOAT; }
hid_t chdf5_native_double(void) { return H5T_NATIVE_DOUBLE; }
hid_t chdf5_native_int64(void) { return H5T_NATIVE_INT64; }
hid_t chdf5_native_int32(void) { return H5T_NATIVE_INT32; }
hid_t chdf5_native_uint8(void) { return H5T_NATIVE_UINT8; }
hid_t chdf5_c_s1(void) { return H5T_C_S1; }
void chdf5_silence_errors(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

struct chdf5_error_text { char *buffer; size_t size; int found; };

static herr_t chdf5_keep_first(unsigned n, const H5E_error2_t *error, void *data) {
    (void)n;
    struct chdf5_error_text *text = data;
    if (!text->found && error->desc != NULL) {
        snprintf(text->buffer, text->size, "%s", error->desc);
        text->found = 1;
    }
    return 0;
}

void chdf5_innermost_error(char *buffer, size_t size) {
    if (size == 0) return;
    buffer[0] = 0;
    struct chdf5_error_text text = {buffer, size, 0};
    /* Walking upward starts at the innermost frame: the function where the failure began. */
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, chdf5_keep_first, &text);
}

hid_t chdf5_checksummed_layout(int rank, const hsize_t *chunk) {
    hid_t plist = H5Pcreate(H5P_DATASET_CREATE);
    if (plist < 0) return plist;
    if (H5Pset_chunk(plist, rank, chunk) < 0 || H5Pset_fletcher32(plist) < 0) {
        H5Pclose(plist);
        return -1;
    }
    return plist;
}

/* HDF5 closes whatever is still open in an atexit handler. A file whose H5Fclose failed (a
   full disk) stays registered half-closed, and that handler then dereferences freed state and
   crashes the process after its error was reported. Every file is closed or discarded
   explicitly, so the handler is not needed; H5dont_atexit must run before the library
   initialises, hence at load time. */
__attribute__((constructor)) static void chdf5_no_atexit_cleanup(void) { H5dont_atexit(); }
