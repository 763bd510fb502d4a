/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSigningKey and SHA-256 on OpenSSL's EVP interface; see
 * vigil-signing.h. Every OpenSSL failure is turned into a GError and the
 * thread's OpenSSL error queue is cleared, so that no stale entry is
 * blamed on a later, unrelated call. */
#define _GNU_SOURCE   /* renameat2 */
#include "vigil-signing.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-fsync.h"

G_DEFINE_QUARK (vigil-signing-error-quark, vigil_signing_error)

G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_PKEY, EVP_PKEY_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (EVP_MD_CTX, EVP_MD_CTX_free)
G_DEFINE_AUTOPTR_CLEANUP_FUNC (BIO, BIO_free_all)

#define KEY_FILE_MAX_BYTES (64 * 1024)   /* an Ed25519 PEM key is 119 bytes */
#define READ_CHUNK_BYTES (1024 * 1024)
#define RAW_PUBLIC_KEY_BYTES 32

struct _VigilSigningKey
{
  EVP_PKEY *pkey;   /* Ed25519, with its private half */
};

struct _VigilSha256
{
  EVP_MD_CTX *ctx;
};

G_GNUC_PRINTF (3, 4)
static void
set_openssl_error (GError **error, VigilSigningError code, const gchar *format, ...)
{
  g_autofree gchar *what = NULL;
  unsigned long last = ERR_peek_last_error ();
  const gchar *reason = last != 0 ? ERR_reason_error_string (last) : NULL;
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  ERR_clear_error ();
  if (reason != NULL)
    g_set_error (error, VIGIL_SIGNING_ERROR, code, "%s (openssl: %s)", what, reason);
  else
    g_set_error_literal (error, VIGIL_SIGNING_ERROR, code, what);
}

/* Never prompt on a terminal for an encrypted key's passphrase. */
static int
on_pem_password (char *buf, int size, int rwflag, void *user_data)
{
  return -1;
}

static gboolean
is_ed25519 (EVP_PKEY *pkey)
{
  return EVP_PKEY_get_id (pkey) == EVP_PKEY_ED25519;
}

static gchar *
to_hex (const guint8 *bytes, gsize size)
{
  static const gchar digits[] = "0123456789abcdef";
  gchar *hex = g_malloc (size * 2 + 1);

  for (gsize i = 0; i < size; i++)
    {
      hex[2 * i] = digits[bytes[i] >> 4];
      hex[2 * i + 1] = digits[bytes[i] & 0xf];
    }
  hex[size * 2] = '\0';
  return hex;
}

/* ---- SHA-256 ---- */

VigilSha256 *
vigil_sha256_new (void)
{
  VigilSha256 *sha = g_new0 (VigilSha256, 1);

  /* Both fail only when out of memory (SHA-256 is always in the default
   * provider); abort then, as g_malloc() does. */
  sha->ctx = EVP_MD_CTX_new ();
  if (sha->ctx == NULL || EVP_DigestInit_ex (sha->ctx, EVP_sha256 (), NULL) != 1)
    g_error ("openssl: cannot start a SHA-256 digest");
  return sha;
}

void
vigil_sha256_update (VigilSha256 *sha, const guint8 *data, gsize size)
{
  g_return_if_fail (sha != NULL && sha->ctx != NULL);
  g_return_if_fail (data != NULL || size == 0);

  if (size > 0 && EVP_DigestUpdate (sha->ctx, data, size) != 1)
    g_error ("openssl: SHA-256 update failed");
}

gchar *
vigil_sha256_finish_hex (VigilSha256 *sha)
{
  guint8 digest[EVP_MAX_MD_SIZE];
  unsigned int length = 0;

  g_return_val_if_fail (sha != NULL && sha->ctx != NULL, NULL);

  if (EVP_DigestFinal_ex (sha->ctx, digest, &length) != 1)
    g_error ("openssl: SHA-256 final failed");
  g_clear_pointer (&sha->ctx, EVP_MD_CTX_free);
  return to_hex (digest, length);
}

void
vigil_sha256_free (VigilSha256 *sha)
{
  if (sha == NULL)
    return;
  g_clear_pointer (&sha->ctx, EVP_MD_CTX_free);
  g_free (sha);
}

static gboolean
hash_fd (int fd, const gchar *path, VigilSha256 *sha, guint64 *out_size_bytes, GCancellable *cancellable,
         GError **error)
{
  g_autofree guint8 *buffer = g_malloc (READ_CHUNK_BYTES);
  guint64 total = 0;

  for (;;)
    {
      gssize n;

      if (g_cancellable_set_error_if_cancelled (cancellable, error))
        return FALSE;
      /* pread from 0: the descriptor's own offset neither matters nor moves. */
      n = pread (fd, buffer, READ_CHUNK_BYTES, (off_t) total);
      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot read %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
      if (n == 0)
        break;
      vigil_sha256_update (sha, buffer, (gsize) n);
      total += (guint64) n;
    }
  if (out_size_bytes != NULL)
    *out_size_bytes = total;
  return TRUE;
}

gchar *
vigil_sha256_file (const gchar *path, guint64 *out_size_bytes, GCancellable *cancellable, GError **error)
{
  gchar *hex;
  int fd;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* O_NONBLOCK: opening a FIFO must not wait for a writer. It changes
   * nothing for the regular files that are all we go on to read. */
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved = errno;
      g_set_error (error, G_IO_ERROR, g_io_error_from_errno (saved), "cannot open %s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  hex = vigil_sha256_fd (fd, path, out_size_bytes, cancellable, error);
  close (fd);
  return hex;
}

gchar *
vigil_sha256_fd (int fd, const gchar *name, guint64 *out_size_bytes, GCancellable *cancellable, GError **error)
{
  g_autoptr(VigilSha256) sha = NULL;
  struct stat st;

  g_return_val_if_fail (fd >= 0, NULL);
  g_return_val_if_fail (name != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE, "%s is not a regular file", name);
      return NULL;
    }
  sha = vigil_sha256_new ();
  if (!hash_fd (fd, name, sha, out_size_bytes, cancellable, error))
    return NULL;
  return vigil_sha256_finish_hex (sha);
}

/* ---- keys ---- */

void
vigil_signing_key_free (VigilSigningKey *key)
{
  if (key == NULL)
    return;
  g_clear_pointer (&key->pkey, EVP_PKEY_free);
  g_free (key);
}

static VigilSigningKey *
key_new_take (EVP_PKEY *pkey)
{
  VigilSigningKey *key = g_new0 (VigilSigningKey, 1);

  key->pkey = pkey;
  return key;
}

/* Reads the whole of @fd (at most KEY_FILE_MAX_BYTES) into secure memory,
 * so that the PEM text of a private key is wiped when freed. */
static BIO *
read_key_file (int fd, const gchar *path, GError **error)
{
  g_autoptr(BIO) bio = BIO_new (BIO_s_secmem ());
  guint8 chunk[4096];
  gsize total = 0;

  if (bio == NULL)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot read key %s", path);
      return NULL;
    }
  for (;;)
    {
      gssize n = read (fd, chunk, sizeof chunk);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        {
          int saved = errno;
          OPENSSL_cleanse (chunk, sizeof chunk);
          g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot read key %s: %s", path,
                       g_strerror (saved));
          return NULL;
        }
      if (n == 0)
        break;
      total += (gsize) n;
      if (total > KEY_FILE_MAX_BYTES)
        {
          OPENSSL_cleanse (chunk, sizeof chunk);
          g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY,
                       "%s is larger than %u bytes: not an Ed25519 private key", path, KEY_FILE_MAX_BYTES);
          return NULL;
        }
      if (BIO_write (bio, chunk, (int) n) != (int) n)
        {
          OPENSSL_cleanse (chunk, sizeof chunk);
          set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot read key %s", path);
          return NULL;
        }
    }
  OPENSSL_cleanse (chunk, sizeof chunk);
  return g_steal_pointer (&bio);
}

/* Loads the key at @path; sets *@out_missing (and no error) when there is
 * no file there. */
static VigilSigningKey *
load_key (const gchar *path, gboolean *out_missing, GError **error)
{
  g_autoptr(BIO) bio = NULL;
  g_autoptr(EVP_PKEY) pkey = NULL;
  struct stat st;
  int fd;

  *out_missing = FALSE;
  fd = g_open (path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0);
  if (fd < 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        {
          *out_missing = TRUE;
          return NULL;
        }
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot open key %s: %s", path,
                   g_strerror (saved));
      return NULL;
    }
  if (fstat (fd, &st) != 0 || !S_ISREG (st.st_mode))
    {
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY, "key %s is not a regular file", path);
      close (fd);
      return NULL;
    }
  /* Checked before reading, so that a key others could have copied is
   * refused rather than used; as ssh, any group or other bit counts (a
   * key others can write can be swapped for theirs). */
  if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY,
                   "key %s has mode %04o: group or others can access it; it must be 0600 (chmod 600 %s)", path,
                   (guint) (st.st_mode & 07777), path);
      close (fd);
      return NULL;
    }
  bio = read_key_file (fd, path, error);
  close (fd);
  if (bio == NULL)
    return NULL;

  pkey = PEM_read_bio_PrivateKey (bio, NULL, on_pem_password, NULL);
  if (pkey == NULL)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_BAD_KEY, "%s is not an unencrypted PEM private key", path);
      return NULL;
    }
  if (!is_ed25519 (pkey))
    {
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY,
                   "%s holds a %s key, not an Ed25519 key", path, EVP_PKEY_get0_type_name (pkey));
      return NULL;
    }
  return key_new_take (g_steal_pointer (&pkey));
}

static gboolean
write_all (int fd, const guint8 *data, gsize size)
{
  while (size > 0)
    {
      gssize n = write (fd, data, size);

      if (n < 0 && errno == EINTR)
        continue;
      if (n < 0)
        return FALSE;
      data += n;
      size -= (gsize) n;
    }
  return TRUE;
}

/* Puts @data at @path, mode 0600, all or nothing and durably, but never
 * over a file that is already there: *@out_exists is set (and no error)
 * when one is. */
static gboolean
write_key_file (const gchar *path, const guint8 *data, gsize size, gboolean *out_exists, GError **error)
{
  g_autofree gchar *tmp_path = g_strdup_printf ("%s.XXXXXX", path);
  g_autofree gchar *folder = g_path_get_dirname (path);
  g_autoptr(GError) local_error = NULL;
  int fd;
  int saved;

  *out_exists = FALSE;
  fd = g_mkstemp_full (tmp_path, O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0)
    {
      saved = errno;
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot create key %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  /* The umask can only have narrowed 0600, but make it exact. */
  if (fchmod (fd, 0600) != 0 || !write_all (fd, data, size) || fsync (fd) != 0)
    {
      saved = errno;
      close (fd);
      g_unlink (tmp_path);
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot write key %s: %s", tmp_path,
                   g_strerror (saved));
      return FALSE;
    }
  if (close (fd) != 0)
    {
      saved = errno;
      g_unlink (tmp_path);
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot write key %s: %s", tmp_path,
                   g_strerror (saved));
      return FALSE;
    }
  /* RENAME_NOREPLACE: a key that some other process created meanwhile
   * wins; ours is thrown away. File systems without it get rename(). */
  if (renameat2 (AT_FDCWD, tmp_path, AT_FDCWD, path, RENAME_NOREPLACE) != 0
      && !((errno == EINVAL || errno == ENOSYS) && g_rename (tmp_path, path) == 0))
    {
      saved = errno;
      g_unlink (tmp_path);
      if (saved == EEXIST)
        {
          *out_exists = TRUE;
          return TRUE;
        }
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "cannot create key %s: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  if (!vigil_fsync_path (folder, &local_error))
    {
      g_set_error_literal (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, local_error->message);
      return FALSE;
    }
  return TRUE;
}

/* Creates a key and stores it at @path; *@out_exists as write_key_file(). */
static VigilSigningKey *
create_key (const gchar *path, gboolean *out_exists, GError **error)
{
  g_autoptr(EVP_PKEY) pkey = EVP_PKEY_Q_keygen (NULL, NULL, "ED25519");
  g_autoptr(BIO) bio = NULL;
  char *pem = NULL;
  long pem_size;

  if (pkey == NULL)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot generate an Ed25519 key for %s", path);
      return NULL;
    }
  bio = BIO_new (BIO_s_secmem ());
  if (bio == NULL || PEM_write_bio_PrivateKey (bio, pkey, NULL, NULL, 0, NULL, NULL) != 1)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot encode the key for %s", path);
      return NULL;
    }
  pem_size = BIO_get_mem_data (bio, &pem);
  if (!write_key_file (path, (const guint8 *) pem, (gsize) pem_size, out_exists, error) || *out_exists)
    return NULL;
  return key_new_take (g_steal_pointer (&pkey));
}

VigilSigningKey *
vigil_signing_key_load_or_create (const gchar *path, gboolean *out_created, GError **error)
{
  g_autoptr(VigilSigningKey) key = NULL;
  gboolean missing = FALSE;
  gboolean exists = FALSE;

  g_return_val_if_fail (path != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  if (out_created != NULL)
    *out_created = FALSE;
  key = load_key (path, &missing, error);
  if (key != NULL || !missing)
    return g_steal_pointer (&key);

  key = create_key (path, &exists, error);
  if (key != NULL)
    {
      if (out_created != NULL)
        *out_created = TRUE;
      return g_steal_pointer (&key);
    }
  if (!exists)
    return NULL;
  /* Lost a race with another creator: use the key that won. */
  key = load_key (path, &missing, error);
  if (key == NULL && missing)
    g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED, "key %s vanished as it was created", path);
  return g_steal_pointer (&key);
}

static gchar *
public_pem_of (EVP_PKEY *pkey)
{
  g_autoptr(BIO) bio = BIO_new (BIO_s_mem ());
  char *pem = NULL;
  long pem_size;

  /* Memory BIOs fail only when out of memory. */
  if (bio == NULL || PEM_write_bio_PUBKEY (bio, pkey) != 1)
    g_error ("openssl: cannot encode a public key");
  pem_size = BIO_get_mem_data (bio, &pem);
  return g_strndup (pem, (gsize) pem_size);
}

static gchar *
fingerprint_of (EVP_PKEY *pkey)
{
  g_autoptr(VigilSha256) sha = vigil_sha256_new ();
  guint8 raw[RAW_PUBLIC_KEY_BYTES];
  size_t raw_size = sizeof raw;

  if (EVP_PKEY_get_raw_public_key (pkey, raw, &raw_size) != 1 || raw_size != sizeof raw)
    g_error ("openssl: cannot read an Ed25519 public key's bytes");
  vigil_sha256_update (sha, raw, raw_size);
  return vigil_sha256_finish_hex (sha);
}

gchar *
vigil_signing_key_get_public_pem (VigilSigningKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);

  return public_pem_of (key->pkey);
}

gchar *
vigil_signing_key_get_fingerprint (VigilSigningKey *key)
{
  g_return_val_if_fail (key != NULL, NULL);

  return fingerprint_of (key->pkey);
}

GBytes *
vigil_signing_key_sign (VigilSigningKey *key, const guint8 *data, gsize size, GError **error)
{
  g_autoptr(EVP_MD_CTX) ctx = EVP_MD_CTX_new ();
  g_autofree guint8 *signature = g_malloc (VIGIL_SIGNING_SIGNATURE_SIZE);
  size_t signature_size = VIGIL_SIGNING_SIGNATURE_SIZE;

  g_return_val_if_fail (key != NULL, NULL);
  g_return_val_if_fail (data != NULL || size == 0, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  /* Pure Ed25519 takes no digest: NULL, and one-shot EVP_DigestSign(). */
  if (ctx == NULL || EVP_DigestSignInit (ctx, NULL, NULL, NULL, key->pkey) != 1
      || EVP_DigestSign (ctx, signature, &signature_size, data != NULL ? data : (const guint8 *) "", size) != 1
      || signature_size != VIGIL_SIGNING_SIGNATURE_SIZE)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot sign %" G_GSIZE_FORMAT " bytes", size);
      return NULL;
    }
  return g_bytes_new_take (g_steal_pointer (&signature), signature_size);
}

static EVP_PKEY *
parse_public_pem (const gchar *public_pem, GError **error)
{
  g_autoptr(BIO) bio = BIO_new_mem_buf (public_pem, -1);
  g_autoptr(EVP_PKEY) pkey = NULL;

  if (bio == NULL)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot read a public key");
      return NULL;
    }
  pkey = PEM_read_bio_PUBKEY (bio, NULL, on_pem_password, NULL);
  if (pkey == NULL)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_BAD_KEY, "not a PEM public key");
      return NULL;
    }
  if (!is_ed25519 (pkey))
    {
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY, "a %s public key, not an Ed25519 one",
                   EVP_PKEY_get0_type_name (pkey));
      return NULL;
    }
  return g_steal_pointer (&pkey);
}

gchar *
vigil_signing_fingerprint_of_pem (const gchar *public_pem, GError **error)
{
  g_autoptr(EVP_PKEY) pkey = NULL;

  g_return_val_if_fail (public_pem != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  pkey = parse_public_pem (public_pem, error);
  if (pkey == NULL)
    return NULL;
  return fingerprint_of (pkey);
}

gboolean
vigil_signing_verify (const gchar *public_pem, const guint8 *data, gsize size, GBytes *signature, GError **error)
{
  g_autoptr(EVP_PKEY) pkey = NULL;
  g_autoptr(EVP_MD_CTX) ctx = NULL;
  const guint8 *signature_data;
  gsize signature_size;
  int result;

  g_return_val_if_fail (public_pem != NULL, FALSE);
  g_return_val_if_fail (data != NULL || size == 0, FALSE);
  g_return_val_if_fail (signature != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  pkey = parse_public_pem (public_pem, error);
  if (pkey == NULL)
    return FALSE;
  signature_data = g_bytes_get_data (signature, &signature_size);
  if (signature_size != VIGIL_SIGNING_SIGNATURE_SIZE)
    {
      g_set_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE,
                   "the signature is %" G_GSIZE_FORMAT " bytes, not %u", signature_size,
                   VIGIL_SIGNING_SIGNATURE_SIZE);
      return FALSE;
    }
  ctx = EVP_MD_CTX_new ();
  if (ctx == NULL || EVP_DigestVerifyInit (ctx, NULL, NULL, NULL, pkey) != 1)
    {
      set_openssl_error (error, VIGIL_SIGNING_ERROR_FAILED, "cannot start verifying a signature");
      return FALSE;
    }
  result = EVP_DigestVerify (ctx, signature_data, signature_size, data != NULL ? data : (const guint8 *) "", size);
  if (result == 1)
    return TRUE;
  /* 0 is "does not hold"; a negative result is a malformed signature
   * (e.g. S out of range), which does not hold either. */
  ERR_clear_error ();
  g_set_error_literal (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE, "the signature does not hold");
  return FALSE;
}
