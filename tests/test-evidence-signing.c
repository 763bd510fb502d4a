/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The recorder's signing key is created once, private to vigild, and
 * reloads to the same identity; keys anyone else could read, or that are
 * not Ed25519, are refused; signatures and hashes are the ones stock
 * openssl computes and checks. */
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vigil-signing.h"
#include "vigil-test-util.h"

#define OPENSSL "/usr/bin/openssl"

/* RFC 8032 section 7.1, TEST 1: the secret key as PKCS#8 PEM, its public
 * key's SHA-256, and its signature of the empty message. */
static const gchar rfc8032_key_pem[] =
  "-----BEGIN PRIVATE KEY-----\n"
  "MC4CAQAwBQYDK2VwBCIEIJ1hsZ3v/VpguoRK9JLsLMREScVpezJpGXA7rAMcrn9g\n"
  "-----END PRIVATE KEY-----\n";
static const gchar rfc8032_fingerprint[] = "21fe31dfa154a261626bf854046fd2271b7bed4b6abe45aa58877ef47f9721b9";
static const gchar rfc8032_empty_signature[] =
  "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e06522490155"
  "5fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b";

/* Same PKCS#8 form, other algorithms: X25519 has the same 32-byte size. */
static const gchar x25519_key_pem[] =
  "-----BEGIN PRIVATE KEY-----\n"
  "MC4CAQAwBQYDK2VuBCIEIIjXMezM6I3pcHJiK5U4hPn8mq+GOCJzFlqZS3z5BdVB\n"
  "-----END PRIVATE KEY-----\n";
static const gchar p256_key_pem[] =
  "-----BEGIN PRIVATE KEY-----\n"
  "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgDL6PjLndiFyrkjhp\n"
  "j8eDOPoud2xxWmlbCkMcko9FFq+hRANCAATtocQuzNsxzThrv0BvLnIRYJefyHcP\n"
  "j3CEKSAqVGxMLtxZ+5NJSb62CzymxSBEYYb91ToWEjHQ4gkvxxwYLdQk\n"
  "-----END PRIVATE KEY-----\n";
static const gchar x25519_public_pem[] =
  "-----BEGIN PUBLIC KEY-----\n"
  "MCowBQYDK2VuAyEA+Z5s+G1UIedIpnXOYyNHILPTnjvE2W5UYXRxMPNocBI=\n"
  "-----END PUBLIC KEY-----\n";
/* An Ed25519 key encrypted with a passphrase: must be refused, never
 * prompted for. */
static const gchar encrypted_key_pem[] =
  "-----BEGIN ENCRYPTED PRIVATE KEY-----\n"
  "MIGbMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAiY9E7nbKOGEQICCAAw\n"
  "DAYIKoZIhvcNAgkFADAdBglghkgBZQMEASoEEPJ0DuJiY5oKvKh1R+K+LvoEQPdZ\n"
  "GIP88otzDHak0w4vu8q1/aLvEIZxRwzTtjOINx6+t+669O6x1xIh4Hghbj+1u2Qr\n"
  "FEcJ+SO1BHydcliveaU=\n"
  "-----END ENCRYPTED PRIVATE KEY-----\n";

typedef struct {
  gchar *dir;        /* temporary folder */
  gchar *key_path;   /* dir/signing.key, absent at first */
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  f->dir = vigil_test_make_tmp_dir ();
  f->key_path = g_build_filename (f->dir, "signing.key", NULL);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_pointer (&f->key_path, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static void
write_file (const gchar *path, const gchar *contents, gssize size, int mode)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents_full (path, contents, size, G_FILE_SET_CONTENTS_NONE, mode, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_chmod (path, mode), ==, 0);
}

static gchar *
bytes_to_hex (GBytes *bytes)
{
  gsize size;
  const guint8 *data = g_bytes_get_data (bytes, &size);
  GString *hex = g_string_new (NULL);

  for (gsize i = 0; i < size; i++)
    g_string_append_printf (hex, "%02x", data[i]);
  return g_string_free (hex, FALSE);
}

static guint
count_entries (const gchar *dir)
{
  g_autoptr(GDir) d = g_dir_open (dir, 0, NULL);
  guint n = 0;

  g_assert_nonnull (d);
  while (g_dir_read_name (d) != NULL)
    n++;
  return n;
}

/* Runs @argv in @cwd; returns its exit status, stdout in @out_stdout. */
static gint
run (const gchar *cwd, gchar **out_stdout, const gchar *const *argv)
{
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE
                                                                       | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *output = NULL;

  g_subprocess_launcher_set_cwd (launcher, cwd);
  process = g_subprocess_launcher_spawnv (launcher, argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("%s: %s", argv[1], output);
  if (out_stdout != NULL)
    *out_stdout = g_steal_pointer (&output);
  return g_subprocess_get_exit_status (process);
}

static void
test_key_created_private_and_reloads (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(VigilSigningKey) again = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *fingerprint = NULL;
  g_autofree gchar *fingerprint_again = NULL;
  g_autofree gchar *pem = NULL;
  g_autofree gchar *pem_fingerprint = NULL;
  gboolean created = FALSE;
  GStatBuf st;

  key = vigil_signing_key_load_or_create (f->key_path, &created, &error);
  g_assert_no_error (error);
  g_assert_nonnull (key);
  g_assert_true (created);
  g_assert_cmpint (g_stat (f->key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 07777, ==, 0600);
  g_assert_cmpuint (count_entries (f->dir), ==, 1);   /* no temporary file left */

  fingerprint = vigil_signing_key_get_fingerprint (key);
  g_assert_cmpuint (strlen (fingerprint), ==, 64);
  for (const gchar *p = fingerprint; *p; p++)
    g_assert_true (g_ascii_isdigit (*p) || (*p >= 'a' && *p <= 'f'));

  again = vigil_signing_key_load_or_create (f->key_path, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  fingerprint_again = vigil_signing_key_get_fingerprint (again);
  g_assert_cmpstr (fingerprint_again, ==, fingerprint);

  pem = vigil_signing_key_get_public_pem (key);
  g_assert_true (g_str_has_prefix (pem, "-----BEGIN PUBLIC KEY-----\n"));
  g_assert_true (g_str_has_suffix (pem, "-----END PUBLIC KEY-----\n"));
  pem_fingerprint = vigil_signing_fingerprint_of_pem (pem, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (pem_fingerprint, ==, fingerprint);
}

/* openssl reads the key file vigild writes, and derives the same public key. */
static void
test_key_file_is_pkcs8_openssl_reads (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pem = NULL;
  g_autofree gchar *openssl_pem = NULL;
  g_autofree gchar *text = NULL;

  key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (g_file_get_contents (f->key_path, &text, NULL, NULL));
  g_assert_true (g_str_has_prefix (text, "-----BEGIN PRIVATE KEY-----\n"));

  if (!g_file_test (OPENSSL, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs " OPENSSL);
      return;
    }
  g_assert_cmpint (run (f->dir, &openssl_pem,
                       (const gchar *[]) { OPENSSL, "pkey", "-in", "signing.key", "-pubout", NULL }), ==, 0);
  pem = vigil_signing_key_get_public_pem (key);
  g_assert_cmpstr (openssl_pem, ==, pem);
}

static void
test_key_refused_when_others_can_read (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  const int modes[] = { 0644, 0640, 0604, 0620 };

  key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
  g_assert_no_error (error);
  g_clear_pointer (&key, vigil_signing_key_free);

  for (guint i = 0; i < G_N_ELEMENTS (modes); i++)
    {
      g_autofree gchar *mode = g_strdup_printf ("%04o", modes[i]);

      g_assert_cmpint (g_chmod (f->key_path, modes[i]), ==, 0);
      key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
      g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY);
      g_assert_null (key);
      g_assert_nonnull (strstr (error->message, f->key_path));
      g_assert_nonnull (strstr (error->message, mode));
      g_clear_error (&error);
    }
  /* Refused, not replaced. */
  g_assert_cmpuint (count_entries (f->dir), ==, 1);
  g_assert_cmpint (g_chmod (f->key_path, 0400), ==, 0);
  key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_nonnull (key);
}

static void
test_key_refused_when_not_ed25519 (Fixture *f, gconstpointer unused)
{
  const struct { const gchar *contents; gssize size; } files[] = {
    { "hello, world\n", -1 },
    { "", 0 },
    { "\0\1\2\3garbage\xff", 12 },
    { x25519_key_pem, -1 },
    { p256_key_pem, -1 },
    { encrypted_key_pem, -1 },
    { x25519_public_pem, -1 },
  };

  for (guint i = 0; i < G_N_ELEMENTS (files); i++)
    {
      g_autoptr(VigilSigningKey) key = NULL;
      g_autoptr(GError) error = NULL;

      write_file (f->key_path, files[i].contents, files[i].size, 0600);
      key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
      g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY);
      g_assert_null (key);
      g_assert_nonnull (strstr (error->message, f->key_path));
      g_test_message ("refused: %s", error->message);
    }
}

static void
test_key_refused_when_not_a_file (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *in_missing_folder = g_build_filename (f->dir, "no-such-folder", "signing.key", NULL);

  g_assert_cmpint (g_mkdir (f->key_path, 0700), ==, 0);
  key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY);
  g_clear_error (&error);

  key = vigil_signing_key_load_or_create (in_missing_folder, NULL, &error);
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_FAILED);
  g_assert_null (key);
}

/* A known key gives the RFC's public key and signature bit for bit. */
static void
test_sign_matches_rfc8032 (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autofree gchar *fingerprint = NULL;
  g_autofree gchar *hex = NULL;
  gboolean created = TRUE;

  write_file (f->key_path, rfc8032_key_pem, -1, 0600);
  key = vigil_signing_key_load_or_create (f->key_path, &created, &error);
  g_assert_no_error (error);
  g_assert_false (created);
  fingerprint = vigil_signing_key_get_fingerprint (key);
  g_assert_cmpstr (fingerprint, ==, rfc8032_fingerprint);

  signature = vigil_signing_key_sign (key, NULL, 0, &error);
  g_assert_no_error (error);
  hex = bytes_to_hex (signature);
  g_assert_cmpstr (hex, ==, rfc8032_empty_signature);
}

static void
test_sign_verify_round_trip (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSigningKey) key = NULL;
  g_autoptr(VigilSigningKey) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(GBytes) signature = NULL;
  g_autoptr(GBytes) short_signature = NULL;
  g_autoptr(GBytes) bad_signature = NULL;
  g_autofree gchar *pem = NULL;
  g_autofree gchar *other_pem = NULL;
  g_autofree gchar *other_path = g_build_filename (f->dir, "other.key", NULL);
  g_autofree guint8 *flipped = NULL;
  const gchar *data = "{\"format\": \"vigil-export/1\"}\n";
  gsize size = strlen (data);
  guint8 *bad;

  key = vigil_signing_key_load_or_create (f->key_path, NULL, &error);
  g_assert_no_error (error);
  other = vigil_signing_key_load_or_create (other_path, NULL, &error);
  g_assert_no_error (error);
  pem = vigil_signing_key_get_public_pem (key);
  other_pem = vigil_signing_key_get_public_pem (other);

  signature = vigil_signing_key_sign (key, (const guint8 *) data, size, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (g_bytes_get_size (signature), ==, VIGIL_SIGNING_SIGNATURE_SIZE);
  g_assert_true (vigil_signing_verify (pem, (const guint8 *) data, size, signature, &error));
  g_assert_no_error (error);

  /* One flipped bit anywhere in the data. */
  flipped = g_memdup2 (data, size);
  for (gsize i = 0; i < size; i++)
    {
      flipped[i] ^= 0x01;
      g_assert_false (vigil_signing_verify (pem, flipped, size, signature, &error));
      g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE);
      g_clear_error (&error);
      flipped[i] ^= 0x01;
    }
  /* Data cut short or grown. */
  g_assert_false (vigil_signing_verify (pem, (const guint8 *) data, size - 1, signature, &error));
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);

  /* A flipped byte of the signature, a short one, another key's. */
  bad = g_memdup2 (g_bytes_get_data (signature, NULL), VIGIL_SIGNING_SIGNATURE_SIZE);
  bad[10] ^= 0x80;
  bad_signature = g_bytes_new_take (bad, VIGIL_SIGNING_SIGNATURE_SIZE);
  g_assert_false (vigil_signing_verify (pem, (const guint8 *) data, size, bad_signature, &error));
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);
  short_signature = g_bytes_new_from_bytes (signature, 0, VIGIL_SIGNING_SIGNATURE_SIZE - 1);
  g_assert_false (vigil_signing_verify (pem, (const guint8 *) data, size, short_signature, &error));
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);
  g_assert_false (vigil_signing_verify (other_pem, (const guint8 *) data, size, signature, &error));
  g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE);
  g_clear_error (&error);
}

static void
test_verify_refuses_other_public_keys (Fixture *f, gconstpointer unused)
{
  static const guint8 zeros[VIGIL_SIGNING_SIGNATURE_SIZE] = { 0 };
  const gchar *pems[] = { "", "not a key", x25519_public_pem, rfc8032_key_pem };
  g_autoptr(GBytes) signature = g_bytes_new_static (zeros, sizeof zeros);

  for (guint i = 0; i < G_N_ELEMENTS (pems); i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree gchar *fingerprint = vigil_signing_fingerprint_of_pem (pems[i], &error);

      g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY);
      g_assert_null (fingerprint);
      g_clear_error (&error);
      g_assert_false (vigil_signing_verify (pems[i], (const guint8 *) "", 0, signature, &error));
      g_assert_error (error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_KEY);
    }
}

static void
test_sha256_known_vectors (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *empty_path = g_build_filename (f->dir, "empty", NULL);
  g_autofree gchar *abc_path = g_build_filename (f->dir, "abc", NULL);
  g_autoptr(VigilSha256) sha = vigil_sha256_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *empty = NULL;
  g_autofree gchar *abc = NULL;
  g_autofree gchar *incremental = NULL;
  guint64 size = 99;

  write_file (empty_path, "", 0, 0644);
  write_file (abc_path, "abc", 3, 0644);
  empty = vigil_sha256_file (empty_path, &size, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (empty, ==, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
  g_assert_cmpuint (size, ==, 0);
  abc = vigil_sha256_file (abc_path, &size, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (abc, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  g_assert_cmpuint (size, ==, 3);

  vigil_sha256_update (sha, (const guint8 *) "a", 1);
  vigil_sha256_update (sha, (const guint8 *) "", 0);
  vigil_sha256_update (sha, (const guint8 *) "bc", 2);
  incremental = vigil_sha256_finish_hex (sha);
  g_assert_cmpstr (incremental, ==, abc);
}

/* Several 1 MiB reads and a partial one, against openssl dgst and GLib. */
static void
test_sha256_file_equals_openssl (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = g_build_filename (f->dir, "cam0.mp4", NULL);
  g_autoptr(GRand) rand = g_rand_new_with_seed (7);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *contents = NULL;
  g_autofree gchar *ours = NULL;
  g_autofree gchar *glib = NULL;
  g_autofree gchar *openssl_out = NULL;
  g_autofree gchar *expected_line = NULL;
  const gsize size = 3 * 1024 * 1024 + 17;
  guint64 hashed = 0;

  contents = g_malloc (size);
  for (gsize i = 0; i < size; i++)
    contents[i] = (gchar) g_rand_int_range (rand, 0, 256);
  write_file (path, contents, (gssize) size, 0644);
  glib = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) contents, size);

  ours = vigil_sha256_file (path, &hashed, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (ours, ==, glib);
  g_assert_cmpuint (hashed, ==, size);

  if (!g_file_test (OPENSSL, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs " OPENSSL);
      return;
    }
  g_assert_cmpint (run (f->dir, &openssl_out, (const gchar *[]) { OPENSSL, "dgst", "-sha256", "-r", "cam0.mp4", NULL }),
                   ==, 0);
  expected_line = g_strdup_printf ("%s *cam0.mp4\n", ours);
  g_assert_cmpstr (openssl_out, ==, expected_line);
}

static void
test_sha256_file_errors (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *missing = g_build_filename (f->dir, "missing", NULL);
  g_autofree gchar *fifo = g_build_filename (f->dir, "fifo", NULL);
  g_autofree gchar *file = g_build_filename (f->dir, "file", NULL);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *hex = NULL;

  hex = vigil_sha256_file (missing, NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_FOUND);
  g_assert_null (hex);
  g_clear_error (&error);

  /* Neither a folder nor a FIFO (which would block a plain open). */
  hex = vigil_sha256_file (f->dir, NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_clear_error (&error);
  g_assert_cmpint (mkfifo (fifo, 0600), ==, 0);
  hex = vigil_sha256_file (fifo, NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_clear_error (&error);

  write_file (file, "abc", 3, 0644);
  g_cancellable_cancel (cancellable);
  hex = vigil_sha256_file (file, NULL, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (hex);
}

/* An open descriptor hashes from its first byte whatever its offset, and
 * the offset stays where it was; a folder's descriptor is refused. */
static void
test_sha256_fd (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *path = g_build_filename (f->dir, "abc", NULL);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *hex = NULL;
  guint64 size = 0;
  int fd, dir_fd;

  write_file (path, "abc", 3, 0644);
  fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);
  g_assert_cmpint (fd, >=, 0);
  g_assert_cmpint (lseek (fd, 2, SEEK_SET), ==, 2);
  hex = vigil_sha256_fd (fd, "abc", &size, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (hex, ==, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
  g_assert_cmpuint (size, ==, 3);
  g_assert_cmpint (lseek (fd, 0, SEEK_CUR), ==, 2);
  g_close (fd, NULL);

  dir_fd = g_open (f->dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  g_assert_cmpint (dir_fd, >=, 0);
  g_clear_pointer (&hex, g_free);
  hex = vigil_sha256_fd (dir_fd, "the folder", NULL, NULL, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_NOT_REGULAR_FILE);
  g_assert_null (hex);
  g_close (dir_fd, NULL);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/evidence/signing/key/created-private-and-reloads", test_key_created_private_and_reloads);
  ADD ("/evidence/signing/key/file-is-pkcs8-openssl-reads", test_key_file_is_pkcs8_openssl_reads);
  ADD ("/evidence/signing/key/refused-when-others-can-read", test_key_refused_when_others_can_read);
  ADD ("/evidence/signing/key/refused-when-not-ed25519", test_key_refused_when_not_ed25519);
  ADD ("/evidence/signing/key/refused-when-not-a-file", test_key_refused_when_not_a_file);
  ADD ("/evidence/signing/sign/matches-rfc8032", test_sign_matches_rfc8032);
  ADD ("/evidence/signing/sign/verify-round-trip", test_sign_verify_round_trip);
  ADD ("/evidence/signing/verify/refuses-other-public-keys", test_verify_refuses_other_public_keys);
  ADD ("/evidence/signing/sha256/known-vectors", test_sha256_known_vectors);
  ADD ("/evidence/signing/sha256/file-equals-openssl", test_sha256_file_equals_openssl);
  ADD ("/evidence/signing/sha256/file-errors", test_sha256_file_errors);
  ADD ("/evidence/signing/sha256/fd", test_sha256_fd);
#undef ADD
  return g_test_run ();
}
