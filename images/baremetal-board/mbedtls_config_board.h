// mbed TLS for dmfw's bare-metal board: only what hashlib (SHA-1, SHA-256, MD5)
// and cryptolib (AES in ECB, CBC, CTR) use. Debian's mbedtls source package
// provides the library (images/baremetal.py).
#ifndef DMFW_MBEDTLS_CONFIG_H
#define DMFW_MBEDTLS_CONFIG_H

#define MBEDTLS_AES_C
#define MBEDTLS_CIPHER_MODE_CBC
#define MBEDTLS_CIPHER_MODE_CTR
#define MBEDTLS_SHA1_C
#define MBEDTLS_SHA256_C
#define MBEDTLS_MD5_C
// No AES-NI, padlock or runtime CPU checks on a RISC-V core; tables in ROM.
#define MBEDTLS_AES_ROM_TABLES

#endif
