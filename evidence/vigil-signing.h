/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The recorder's Ed25519 signing key and the SHA-256 hashing that export
 * bundles rely on, in a form anyone can check with stock openssl: the key
 * is PKCS#8 PEM, the public key SubjectPublicKeyInfo PEM, a signature the
 * raw 64 bytes of pure Ed25519 over the exact bytes signed. This is the
 * only file in vigil that includes OpenSSL headers; nothing here ever logs
 * or returns the private key. Blocking file I/O; safe on any thread (a
 * key never changes once loaded). */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VIGIL_SIGNING_ERROR (vigil_signing_error_quark ())
typedef enum {
  VIGIL_SIGNING_ERROR_FAILED,         /* I/O or OpenSSL failure; see message */
  VIGIL_SIGNING_ERROR_BAD_KEY,        /* key file unsafe (mode), unreadable as a key, or not Ed25519 */
  VIGIL_SIGNING_ERROR_BAD_SIGNATURE,  /* the signature does not hold for this key and data */
} VigilSigningError;
GQuark vigil_signing_error_quark (void);

#define VIGIL_SIGNING_SIGNATURE_SIZE 64   /* bytes of a raw Ed25519 signature */

typedef struct _VigilSigningKey VigilSigningKey;   /* an Ed25519 private key */

/* Loads the Ed25519 private key (PKCS#8 PEM, unencrypted) at @path, or,
 * when no file is there, creates one: mode 0600, written to a temporary
 * file in the same folder, fsync'ed, renamed into place (never over a key
 * that appeared meanwhile) and the folder fsync'ed. @out_created (may be
 * NULL) says which happened. Refuses with BAD_KEY, naming the path, a key
 * file whose mode gives group or others any access (as ssh does), one that
 * is not a regular file, and one that is not an Ed25519 private key. The
 * folder must exist. */
VigilSigningKey *vigil_signing_key_load_or_create  (const gchar *path,
                                                    gboolean    *out_created,
                                                    GError     **error);
void             vigil_signing_key_free            (VigilSigningKey *key);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilSigningKey, vigil_signing_key_free)

/* "-----BEGIN PUBLIC KEY-----\n…-----END PUBLIC KEY-----\n" (SPKI PEM). */
gchar           *vigil_signing_key_get_public_pem  (VigilSigningKey *key);
/* Lowercase hex SHA-256 of the 32 raw public-key bytes (64 characters). */
gchar           *vigil_signing_key_get_fingerprint (VigilSigningKey *key);
/* The raw VIGIL_SIGNING_SIGNATURE_SIZE-byte Ed25519 signature of @data. */
GBytes          *vigil_signing_key_sign            (VigilSigningKey *key,
                                                    const guint8    *data,
                                                    gsize            size,
                                                    GError         **error);

/* The public-key side, for verifiers. Both fail with BAD_KEY when
 * @public_pem is not an Ed25519 SPKI PEM public key. */
gchar           *vigil_signing_fingerprint_of_pem  (const gchar *public_pem,
                                                    GError     **error);
/* TRUE when @signature is @public_pem's signature of @data; FALSE with
 * BAD_SIGNATURE when it does not hold (including a wrong length). */
gboolean         vigil_signing_verify              (const gchar  *public_pem,
                                                    const guint8 *data,
                                                    gsize         size,
                                                    GBytes       *signature,
                                                    GError      **error);

/* Incremental SHA-256. vigil_sha256_finish_hex() ends the hash (only
 * vigil_sha256_free() may follow) and returns lowercase hex. */
typedef struct _VigilSha256 VigilSha256;
VigilSha256     *vigil_sha256_new                  (void);
void             vigil_sha256_update               (VigilSha256  *sha,
                                                    const guint8 *data,
                                                    gsize         size);
gchar           *vigil_sha256_finish_hex           (VigilSha256 *sha);
void             vigil_sha256_free                 (VigilSha256 *sha);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilSha256, vigil_sha256_free)

/* Lowercase hex SHA-256 of the regular file at @path (symbolic links are
 * followed; FIFOs, devices and folders are refused, so this never blocks
 * on one), read 1 MiB at a time; @out_size_bytes (may be NULL) gets the
 * number of bytes hashed. Checks @cancellable between reads. Errors are
 * G_IO_ERROR, G_IO_ERROR_CANCELLED when cancelled. */
gchar           *vigil_sha256_file                 (const gchar  *path,
                                                    guint64      *out_size_bytes,
                                                    GCancellable *cancellable,
                                                    GError      **error);
/* The same for the open file @fd, from its first byte to its end (its file
 * offset is neither used nor moved); @name is what messages call it. For a
 * file that must not be reopened by path. @fd stays open. */
gchar           *vigil_sha256_fd                   (int           fd,
                                                    const gchar  *name,
                                                    guint64      *out_size_bytes,
                                                    GCancellable *cancellable,
                                                    GError      **error);

G_END_DECLS
