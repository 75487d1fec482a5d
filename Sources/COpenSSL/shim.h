// SHA-256 from Debian's libssl-dev (libcrypto), for dataset checksums.
#include <openssl/evp.h>
