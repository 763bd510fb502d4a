/* SPDX-License-Identifier: GPL-2.0-or-later */
/* An export bundle signed by vigild verifies, with vigil and with stock
 * openssl; any change to it (a file's bytes, a missing or extra file, the
 * manifest, the key) is reported as a problem naming the file, and a
 * hostile manifest never makes the verifier read outside the folder. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

#include "vigil-bundle.h"
#include "vigil-test-util.h"

#define OPENSSL "/usr/bin/openssl"
#define CLIP_BYTES (300 * 1024)
#define SNAPSHOT_BYTES 5000

typedef struct {
  gchar           *dir;           /* temporary folder */
  gchar           *bundle;        /* dir/bundle: cam0.mp4, cam0.jpg, manifest, signature, key */
  VigilSigningKey *key;           /* the recorder's, at dir/signing.key */
  gchar           *fingerprint;   /* its fingerprint */
} Fixture;

static gchar *
bundle_path (Fixture *f, const gchar *name)
{
  return g_build_filename (f->bundle, name, NULL);
}

static void
write_file (const gchar *path, const gchar *contents, gsize size)
{
  g_autoptr(GError) error = NULL;

  g_file_set_contents (path, contents, (gssize) size, &error);
  g_assert_no_error (error);
}

static gchar *
random_bytes (guint32 seed, gsize size)
{
  g_autoptr(GRand) rand = g_rand_new_with_seed (seed);
  gchar *bytes = g_malloc (size);

  for (gsize i = 0; i < size; i++)
    bytes[i] = (gchar) g_rand_int_range (rand, 0, 256);
  return bytes;
}

/* One "files" entry; the hash comes from GLib, not the code under test. */
static JsonNode *
file_entry (const gchar *name, const gchar *contents, gsize size)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autofree gchar *sha256 = g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guint8 *) contents, size);

  json_builder_begin_object (builder);
  json_builder_set_member_name (builder, "name");
  json_builder_add_string_value (builder, name);
  json_builder_set_member_name (builder, "size_bytes");
  json_builder_add_int_value (builder, (gint64) size);
  json_builder_set_member_name (builder, "sha256");
  json_builder_add_string_value (builder, sha256);
  json_builder_end_object (builder);
  return json_builder_get_root (builder);
}

/* Writes @name into the bundle and returns its manifest entry. */
static JsonNode *
add_file (Fixture *f, const gchar *name, guint32 seed, gsize size)
{
  g_autofree gchar *path = bundle_path (f, name);
  g_autofree gchar *contents = random_bytes (seed, size);

  write_file (path, contents, size);
  return file_entry (name, contents, size);
}

/* A manifest as vigild writes one, listing cam0.mp4 and cam0.jpg. */
static JsonObject *
manifest_new (Fixture *f)
{
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = g_strdup_printf (
    "{ \"format\": \"vigil-export/1\","
    "  \"recorder\": { \"name\": \"test-recorder\", \"public_key_sha256\": \"%s\" },"
    "  \"incident\": { \"id\": 7, \"title\": \"break-in, back door\" },"
    "  \"cameras\": [ { \"name\": \"cam0\" } ],"
    "  \"ranges\": [ { \"camera\": \"cam0\", \"start_us\": 1700000000000000, \"end_us\": 1700000060000000 } ],"
    "  \"files\": [] }", f->fingerprint);
  JsonObject *manifest;
  JsonArray *files;

  json_parser_load_from_data (parser, text, -1, &error);
  g_assert_no_error (error);
  manifest = json_object_ref (json_node_get_object (json_parser_get_root (parser)));
  files = json_object_get_array_member (manifest, "files");
  json_array_add_element (files, add_file (f, "cam0.mp4", 1, CLIP_BYTES));
  json_array_add_element (files, add_file (f, "cam0.jpg", 2, SNAPSHOT_BYTES));
  return manifest;
}

static void
write_manifest_text (Fixture *f, const gchar *text)
{
  g_autofree gchar *path = bundle_path (f, VIGIL_BUNDLE_MANIFEST);

  write_file (path, text, strlen (text));
}

static void
write_manifest_text_and_sign (Fixture *f, const gchar *text, VigilSigningKey *key)
{
  g_autoptr(GError) error = NULL;

  write_manifest_text (f, text);
  g_assert_true (vigil_bundle_sign (f->bundle, key, &error));
  g_assert_no_error (error);
}

static gchar *
manifest_to_text (JsonNode *root)
{
  g_autoptr(JsonGenerator) generator = json_generator_new ();

  json_generator_set_pretty (generator, TRUE);
  json_generator_set_root (generator, root);
  return json_generator_to_data (generator, NULL);
}

static void
write_manifest_and_sign (Fixture *f, JsonObject *manifest)
{
  g_autoptr(JsonNode) root = json_node_init_object (json_node_alloc (), manifest);
  g_autofree gchar *text = manifest_to_text (root);

  write_manifest_text_and_sign (f, text, f->key);
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonObject) manifest = NULL;
  g_autofree gchar *key_path = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  f->bundle = g_build_filename (f->dir, "bundle", NULL);
  g_assert_cmpint (g_mkdir (f->bundle, 0755), ==, 0);
  key_path = g_build_filename (f->dir, "signing.key", NULL);
  f->key = vigil_signing_key_load_or_create (key_path, NULL, &error);
  g_assert_no_error (error);
  f->fingerprint = vigil_signing_key_get_fingerprint (f->key);

  manifest = manifest_new (f);
  write_manifest_and_sign (f, manifest);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_pointer (&f->key, vigil_signing_key_free);
  g_clear_pointer (&f->fingerprint, g_free);
  g_clear_pointer (&f->bundle, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static VigilBundleReport *
verify (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  VigilBundleReport *report = vigil_bundle_verify (f->bundle, NULL, &error);

  g_assert_no_error (error);
  g_assert_nonnull (report);
  for (guint i = 0; i < report->problems->len; i++)
    g_test_message ("problem: %s", (const gchar *) report->problems->pdata[i]);
  return report;
}

/* The report's problems are exactly @expected (NULL-terminated), in order. */
static void
assert_problems (VigilBundleReport *report, const gchar *const *expected)
{
  guint n = g_strv_length ((gchar **) expected);

  for (guint i = 0; i < MIN (n, report->problems->len); i++)
    g_assert_cmpstr (report->problems->pdata[i], ==, expected[i]);
  g_assert_cmpuint (report->problems->len, ==, n);
}

static gboolean
has_problem (VigilBundleReport *report, const gchar *line)
{
  for (guint i = 0; i < report->problems->len; i++)
    if (g_str_equal (report->problems->pdata[i], line))
      return TRUE;
  return FALSE;
}

static void
test_verify_intact_bundle (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilBundleReport) report = verify (f);
  const gchar *const none[] = { NULL };
  g_autofree gchar *signature_path = bundle_path (f, VIGIL_BUNDLE_SIGNATURE);
  g_autofree gchar *key_path = bundle_path (f, VIGIL_BUNDLE_PUBLIC_KEY);
  g_autoptr(GDir) dir = NULL;
  const gchar *name;
  guint entries = 0;
  GStatBuf st;

  assert_problems (report, none);
  g_assert_cmpuint (report->files_checked, ==, 2);
  g_assert_cmpstr (report->fingerprint, ==, f->fingerprint);

  /* Readable by whoever receives it; no temporary file left behind. */
  g_assert_cmpint (g_stat (signature_path, &st), ==, 0);
  g_assert_cmpint (st.st_size, ==, VIGIL_SIGNING_SIGNATURE_SIZE);
  g_assert_cmpint (st.st_mode & 0444, ==, 0444);
  g_assert_cmpint (g_stat (key_path, &st), ==, 0);
  g_assert_cmpint (st.st_mode & 0444, ==, 0444);
  dir = g_dir_open (f->bundle, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    entries++;
  g_assert_cmpuint (entries, ==, 5);
}

/* What the police do, with nothing but openssl. */
static void
test_openssl_checks_the_bundle (Fixture *f, gconstpointer unused)
{
  const gchar *const verify_argv[] = {
    OPENSSL, "pkeyutl", "-verify", "-pubin", "-inkey", VIGIL_BUNDLE_PUBLIC_KEY, "-rawin",
    "-in", VIGIL_BUNDLE_MANIFEST, "-sigfile", VIGIL_BUNDLE_SIGNATURE, NULL
  };
  const gchar *const dgst_argv[] = { OPENSSL, "dgst", "-sha256", "-r", "cam0.mp4", "cam0.jpg", NULL };
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GSubprocess) process = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autofree gchar *manifest_path = bundle_path (f, VIGIL_BUNDLE_MANIFEST);
  g_autofree gchar *output = NULL;
  g_autofree gchar *expected = NULL;
  JsonArray *files;

  if (!g_file_test (OPENSSL, G_FILE_TEST_IS_EXECUTABLE))
    {
      g_test_skip ("needs " OPENSSL);
      return;
    }
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE);
  g_subprocess_launcher_set_cwd (launcher, f->bundle);

  /* The hashes in the manifest are openssl dgst's. */
  process = g_subprocess_launcher_spawnv (launcher, dgst_argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  json_parser_load_from_file (parser, manifest_path, &error);
  g_assert_no_error (error);
  files = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "files");
  expected = g_strdup_printf ("%s *cam0.mp4\n%s *cam0.jpg\n",
                              json_object_get_string_member (json_array_get_object_element (files, 0), "sha256"),
                              json_object_get_string_member (json_array_get_object_element (files, 1), "sha256"));
  g_assert_cmpstr (output, ==, expected);
  g_clear_object (&process);
  g_clear_pointer (&output, g_free);

  process = g_subprocess_launcher_spawnv (launcher, verify_argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("openssl: %s", output);
  g_assert_cmpint (g_subprocess_get_exit_status (process), ==, 0);
  g_assert_nonnull (strstr (output, "Signature Verified Successfully"));
  g_clear_object (&process);
  g_clear_pointer (&output, g_free);

  vigil_test_flip_byte (manifest_path, 40);
  process = g_subprocess_launcher_spawnv (launcher, verify_argv, &error);
  g_assert_no_error (error);
  g_subprocess_communicate_utf8 (process, NULL, NULL, &output, NULL, &error);
  g_assert_no_error (error);
  g_test_message ("openssl: %s", output);
  g_assert_cmpint (g_subprocess_get_exit_status (process), !=, 0);
  g_assert_nonnull (strstr (output, "Signature Verification Failure"));
}

static void
test_verify_reports_changed_file (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *clip = bundle_path (f, "cam0.mp4");
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *const expected[] = { "cam0.mp4: SHA-256 differs from the manifest", NULL };

  vigil_test_flip_byte (clip, CLIP_BYTES / 2);
  report = verify (f);
  assert_problems (report, expected);
  g_assert_cmpuint (report->files_checked, ==, 2);
}

static void
test_verify_reports_truncated_file (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *clip = bundle_path (f, "cam0.mp4");
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *const expected[] = { "cam0.mp4: 307199 bytes, the manifest says 307200", NULL };

  g_assert_cmpint (truncate (clip, CLIP_BYTES - 1), ==, 0);
  report = verify (f);
  assert_problems (report, expected);
}

static void
test_verify_reports_missing_file (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *snapshot = bundle_path (f, "cam0.jpg");
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *const expected[] = { "cam0.jpg: listed in the manifest but missing", NULL };

  g_assert_cmpint (g_unlink (snapshot), ==, 0);
  report = verify (f);
  assert_problems (report, expected);
  g_assert_cmpuint (report->files_checked, ==, 1);
}

static void
test_verify_reports_extra_files (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *extra = bundle_path (f, "extra.txt");
  g_autofree gchar *sub = bundle_path (f, "sub");
  g_autofree gchar *hidden = bundle_path (f, ".hidden");
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *const expected[] = {
    ".hidden: not listed in the manifest",
    "extra.txt: not listed in the manifest",
    "sub: not listed in the manifest",
    NULL
  };

  write_file (extra, "hello", 5);
  write_file (hidden, "", 0);
  g_assert_cmpint (g_mkdir (sub, 0755), ==, 0);
  report = verify (f);
  assert_problems (report, expected);
}

static void
test_verify_reports_tampered_manifest (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *manifest_path = bundle_path (f, VIGIL_BUNDLE_MANIFEST);
  g_autofree gchar *text = NULL;
  g_autoptr(GString) edited = NULL;
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *const expected[] = { "manifest.json.sig: signature does not match manifest.json", NULL };

  /* The incident's title rewritten: every listed file still matches. */
  g_assert_true (g_file_get_contents (manifest_path, &text, NULL, NULL));
  edited = g_string_new (text);
  g_assert_cmpuint (g_string_replace (edited, "back door", "front door", 1), ==, 1);
  write_manifest_text (f, edited->str);
  report = verify (f);
  assert_problems (report, expected);
}

static void
test_verify_reports_replaced_public_key (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *other_path = g_build_filename (f->dir, "other.key", NULL);
  g_autofree gchar *key_path = bundle_path (f, VIGIL_BUNDLE_PUBLIC_KEY);
  g_autoptr(VigilSigningKey) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilBundleReport) report = NULL;
  g_autofree gchar *other_pem = NULL;
  g_autofree gchar *other_fingerprint = NULL;
  g_autofree gchar *mismatch = NULL;

  other = vigil_signing_key_load_or_create (other_path, NULL, &error);
  g_assert_no_error (error);
  other_pem = vigil_signing_key_get_public_pem (other);
  other_fingerprint = vigil_signing_key_get_fingerprint (other);
  mismatch = g_strdup_printf ("public-key.pem: fingerprint %s differs from the manifest's recorder key %s",
                              other_fingerprint, f->fingerprint);

  /* Only the key swapped: neither the fingerprint nor the signature holds. */
  write_file (key_path, other_pem, strlen (other_pem));
  report = verify (f);
  {
    const gchar *const expected[] = { mismatch, "manifest.json.sig: signature does not match manifest.json", NULL };
    assert_problems (report, expected);
  }
  g_assert_cmpstr (report->fingerprint, ==, other_fingerprint);
  g_clear_pointer (&report, vigil_bundle_report_free);

  /* Re-signed with the other key: the signature holds, the fingerprint
   * still gives it away. */
  g_assert_true (vigil_bundle_sign (f->bundle, other, &error));
  g_assert_no_error (error);
  report = verify (f);
  {
    const gchar *const expected[] = { mismatch, NULL };
    assert_problems (report, expected);
  }
}

/* A forger who rewrites the manifest's fingerprint too makes a bundle
 * that is consistent; it is the reported fingerprint, compared with the
 * recorder's, that tells. */
static void
test_verify_reports_the_signer (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *other_path = g_build_filename (f->dir, "other.key", NULL);
  g_autoptr(VigilSigningKey) other = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilBundleReport) report = NULL;
  g_autoptr(JsonObject) manifest = manifest_new (f);
  g_autofree gchar *other_fingerprint = NULL;
  g_autoptr(JsonNode) root = NULL;
  g_autofree gchar *text = NULL;
  const gchar *const none[] = { NULL };

  other = vigil_signing_key_load_or_create (other_path, NULL, &error);
  g_assert_no_error (error);
  other_fingerprint = vigil_signing_key_get_fingerprint (other);
  json_object_set_string_member (json_object_get_object_member (manifest, "recorder"), "public_key_sha256",
                                 other_fingerprint);
  root = json_node_init_object (json_node_alloc (), manifest);
  text = manifest_to_text (root);
  write_manifest_text_and_sign (f, text, other);

  report = verify (f);
  assert_problems (report, none);
  g_assert_cmpstr (report->fingerprint, ==, other_fingerprint);
  g_assert_cmpstr (report->fingerprint, !=, f->fingerprint);
}

static void
add_entry (JsonArray *files, const gchar *json)
{
  g_autoptr(GError) error = NULL;
  JsonNode *node = json_from_string (json, &error);

  g_assert_no_error (error);
  json_array_add_element (files, node);
}

/* Signed by the recorder's own key, so only the entries are wrong. */
static void
test_verify_survives_hostile_names (Fixture *f, gconstpointer unused)
{
  g_autoptr(JsonObject) manifest = manifest_new (f);
  g_autoptr(VigilBundleReport) report = NULL;
  g_autofree gchar *outside_folder = g_build_filename (f->dir, "etc", NULL);
  g_autofree gchar *outside = g_build_filename (outside_folder, "passwd", NULL);
  g_autofree gchar *inner_folder = bundle_path (f, "a");
  g_autofree gchar *inner = g_build_filename (inner_folder, "b", NULL);
  g_autofree gchar *tiny = bundle_path (f, "tiny.bin");
  g_autofree gchar *abc_entry = NULL;
  const gchar *abc_sha256 = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  JsonArray *files = json_object_get_array_member (manifest, "files");
  const gchar *const expected[] = {
    "manifest.json: files[2]: name “../etc/passwd” is a path, not a file name in the bundle",
    "manifest.json: files[3]: name “a/b” is a path, not a file name in the bundle",
    "manifest.json: files[4]: name “” is empty",
    "manifest.json: files[5]: name “..” is not a file name",
    "manifest.json: files[6]: name “/etc/passwd” is a path, not a file name in the bundle",
    "manifest.json: files[7]: name “manifest.json” is one of the bundle's own files, not a listed one",
    "manifest.json: files[8]: name “bad\\nname” holds control characters",
    "cam0.mp4: listed more than once in the manifest",
    "manifest.json: files[10] is not an object",
    "manifest.json: files[11] has no “name” string",
    "manifest.json: files[12] has no “name” string",
    "size.bin: the manifest's “size_bytes” is not a whole number of bytes",
    "negative.bin: the manifest's “size_bytes” is not a whole number of bytes",
    "float.bin: the manifest's “size_bytes” is not a whole number of bytes",
    "tiny.bin: 3 bytes, the manifest says 9223372036854775807",
    "nohash.bin: the manifest's “sha256” is not 64 hexadecimal digits",
    "shorthash.bin: the manifest's “sha256” is not 64 hexadecimal digits",
    "a: not listed in the manifest",
    NULL
  };

  /* Files the hostile names would reach if they were followed. */
  g_assert_cmpint (g_mkdir (outside_folder, 0755), ==, 0);
  write_file (outside, "abc", 3);
  g_assert_cmpint (g_mkdir (inner_folder, 0755), ==, 0);
  write_file (inner, "abc", 3);
  write_file (tiny, "abc", 3);

#define ENTRY(name) "{\"name\": \"" name "\", \"size_bytes\": 3, \"sha256\": \"%s\"}"
  abc_entry = g_strdup_printf (ENTRY ("../etc/passwd"), abc_sha256);
  add_entry (files, abc_entry);
  g_clear_pointer (&abc_entry, g_free);
  abc_entry = g_strdup_printf (ENTRY ("a/b"), abc_sha256);
  add_entry (files, abc_entry);
  add_entry (files, "{\"name\": \"\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "{\"name\": \"..\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "{\"name\": \"/etc/passwd\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "{\"name\": \"manifest.json\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "{\"name\": \"bad\\nname\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "{\"name\": \"cam0.mp4\", \"size_bytes\": 3, \"sha256\": \"00\"}");
  add_entry (files, "42");
  add_entry (files, "{\"name\": 7}");
  add_entry (files, "{\"size_bytes\": 3}");
  g_clear_pointer (&abc_entry, g_free);
  abc_entry = g_strdup_printf ("{\"name\": \"size.bin\", \"size_bytes\": \"3\", \"sha256\": \"%s\"}", abc_sha256);
  add_entry (files, abc_entry);
  g_clear_pointer (&abc_entry, g_free);
  abc_entry = g_strdup_printf ("{\"name\": \"negative.bin\", \"size_bytes\": -3, \"sha256\": \"%s\"}", abc_sha256);
  add_entry (files, abc_entry);
  g_clear_pointer (&abc_entry, g_free);
  abc_entry = g_strdup_printf ("{\"name\": \"float.bin\", \"size_bytes\": 3.5, \"sha256\": \"%s\"}", abc_sha256);
  add_entry (files, abc_entry);
  g_clear_pointer (&abc_entry, g_free);
  abc_entry = g_strdup_printf ("{\"name\": \"tiny.bin\", \"size_bytes\": 9223372036854775807, \"sha256\": \"%s\"}",
                               abc_sha256);
  add_entry (files, abc_entry);
  add_entry (files, "{\"name\": \"nohash.bin\", \"size_bytes\": 3}");
  add_entry (files, "{\"name\": \"shorthash.bin\", \"size_bytes\": 3, \"sha256\": \"ba7816bf\"}");
#undef ENTRY
  write_manifest_and_sign (f, manifest);

  report = verify (f);
  assert_problems (report, expected);
  g_assert_cmpuint (report->files_checked, ==, 2);   /* cam0.mp4 and cam0.jpg, nothing else read */
}

static void
test_verify_survives_wrong_json_types (Fixture *f, gconstpointer unused)
{
  g_autoptr(JsonObject) manifest = manifest_new (f);
  g_autoptr(VigilBundleReport) report = NULL;
  g_autofree gchar *nul_text = NULL;

  /* Not an object at all. */
  write_manifest_text_and_sign (f, "[1, 2, 3]", f->key);
  report = verify (f);
  {
    const gchar *const expected[] = {
      "manifest.json: is not a JSON object",
      "cam0.jpg: not listed in the manifest",
      "cam0.mp4: not listed in the manifest",
      "manifest.json: “recorder”.“public_key_sha256” is missing or not a string",
      NULL
    };
    assert_problems (report, expected);
  }
  g_clear_pointer (&report, vigil_bundle_report_free);

  /* Members of the wrong type. */
  json_object_set_int_member (manifest, "format", 1);
  json_object_set_string_member (manifest, "recorder", "me");
  json_object_set_string_member (manifest, "files", "cam0.mp4");
  write_manifest_and_sign (f, manifest);
  report = verify (f);
  {
    const gchar *const expected[] = {
      "manifest.json: “format” is not “vigil-export/1”",
      "manifest.json: “files” is missing or not a list",
      "cam0.jpg: not listed in the manifest",
      "cam0.mp4: not listed in the manifest",
      "manifest.json: “recorder”.“public_key_sha256” is missing or not a string",
      NULL
    };
    assert_problems (report, expected);
  }
  g_clear_pointer (&report, vigil_bundle_report_free);

  /* A NUL inside a name (json-glib would cut "cam0.jpg\u0000x" to
   * "cam0.jpg"), and a size too large for any integer. */
  nul_text = g_strdup_printf ("{\"format\": \"vigil-export/1\", \"recorder\": {\"public_key_sha256\": \"%s\"},"
                              " \"files\": [{\"name\": \"cam0.jpg\\u0000/../../x\","
                              "  \"size_bytes\": 1, \"sha256\": \"00\"},"
                              " {\"name\": \"cam0.mp4\", \"size_bytes\": 1e300, \"sha256\": \"00\"}]}",
                              f->fingerprint);
  write_manifest_text_and_sign (f, nul_text, f->key);
  report = verify (f);
  g_assert_true (has_problem (report, "manifest.json: a string holds a NUL character (\\u0000)"));
  g_assert_true (has_problem (report, "cam0.mp4: the manifest's “size_bytes” is not a whole number of bytes"));
}

static void
test_verify_refuses_links_and_fifos (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *snapshot = bundle_path (f, "cam0.jpg");
  g_autofree gchar *clip = bundle_path (f, "cam0.mp4");
  g_autofree gchar *outside = g_build_filename (f->dir, "outside.jpg", NULL);
  g_autofree gchar *contents = NULL;
  g_autofree gchar *manifest_path = bundle_path (f, VIGIL_BUNDLE_MANIFEST);
  g_autofree gchar *moved_manifest = g_build_filename (f->dir, "manifest.json", NULL);
  g_autoptr(VigilBundleReport) report = NULL;
  g_autoptr(GError) error = NULL;
  gsize size;
  const gchar *const expected[] = {
    "cam0.mp4: is not a regular file",
    "cam0.jpg: is a symbolic link, not a file",
    NULL
  };

  /* The same bytes, but outside the bundle. */
  g_assert_true (g_file_get_contents (snapshot, &contents, &size, NULL));
  write_file (outside, contents, size);
  g_assert_cmpint (g_unlink (snapshot), ==, 0);
  g_assert_cmpint (symlink (outside, snapshot), ==, 0);
  g_assert_cmpint (g_unlink (clip), ==, 0);
  g_assert_cmpint (mkfifo (clip, 0644), ==, 0);

  report = verify (f);
  assert_problems (report, expected);
  g_assert_cmpuint (report->files_checked, ==, 0);

  /* Nor is a manifest read through a link. */
  g_assert_cmpint (g_rename (manifest_path, moved_manifest), ==, 0);
  g_assert_cmpint (symlink (moved_manifest, manifest_path), ==, 0);
  g_clear_pointer (&report, vigil_bundle_report_free);
  report = vigil_bundle_verify (f->bundle, NULL, &error);
  g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
  g_assert_null (report);
}

static void
test_verify_reports_missing_signature_and_key (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *signature = bundle_path (f, VIGIL_BUNDLE_SIGNATURE);
  g_autofree gchar *key = bundle_path (f, VIGIL_BUNDLE_PUBLIC_KEY);
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *bad_pem = "-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----\n";

  g_assert_cmpint (g_unlink (signature), ==, 0);
  report = verify (f);
  {
    const gchar *const expected[] = { "manifest.json.sig: missing", NULL };
    assert_problems (report, expected);
  }
  g_clear_pointer (&report, vigil_bundle_report_free);

  write_file (key, bad_pem, strlen (bad_pem));
  report = verify (f);
  g_assert_null (report->fingerprint);
  g_assert_cmpuint (report->problems->len, ==, 2);
  g_assert_true (g_str_has_prefix (report->problems->pdata[0], "public-key.pem: not a PEM public key"));
  g_clear_pointer (&report, vigil_bundle_report_free);

  g_assert_cmpint (g_unlink (key), ==, 0);
  report = verify (f);
  {
    const gchar *const expected[] = { "public-key.pem: missing", "manifest.json.sig: missing", NULL };
    assert_problems (report, expected);
  }
}

static void
test_verify_refuses_unreadable_bundles (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *manifest_path = bundle_path (f, VIGIL_BUNDLE_MANIFEST);
  g_autofree gchar *clip = bundle_path (f, "cam0.mp4");
  g_autofree gchar *missing = g_build_filename (f->dir, "no-such-bundle", NULL);
  g_autoptr(GString) deep = g_string_new (NULL);
  const gchar *not_json[] = { "", "{", "{\"format\": }", "\xff\xfe{}" };
  g_autoptr(GError) error = NULL;
  VigilBundleReport *report;

  report = vigil_bundle_verify (missing, NULL, &error);
  g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
  g_assert_null (report);
  g_clear_error (&error);
  report = vigil_bundle_verify (clip, NULL, &error);
  g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
  g_clear_error (&error);

  for (guint i = 0; i < G_N_ELEMENTS (not_json); i++)
    {
      write_manifest_text (f, not_json[i]);
      report = vigil_bundle_verify (f->bundle, NULL, &error);
      g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
      g_assert_null (report);
      g_clear_error (&error);
    }

  /* Deep enough to overflow json-glib's recursive parser's stack. */
  for (guint i = 0; i < 200000; i++)
    g_string_append_c (deep, '[');
  for (guint i = 0; i < 200000; i++)
    g_string_append_c (deep, ']');
  write_manifest_text (f, deep->str);
  report = vigil_bundle_verify (f->bundle, NULL, &error);
  g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
  g_assert_null (report);
  g_clear_error (&error);

  g_assert_cmpint (g_unlink (manifest_path), ==, 0);
  report = vigil_bundle_verify (f->bundle, NULL, &error);
  g_assert_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE);
  g_assert_null (report);
}

static void
test_verify_cancelled (Fixture *f, gconstpointer unused)
{
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilBundleReport) report = NULL;

  g_cancellable_cancel (cancellable);
  report = vigil_bundle_verify (f->bundle, cancellable, &error);
  g_assert_error (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_assert_null (report);
}

/* The daemon edits nothing after signing, but a re-sign must replace both
 * files in place. */
static void
test_sign_replaces_signature (Fixture *f, gconstpointer unused)
{
  g_autoptr(JsonObject) manifest = manifest_new (f);
  g_autoptr(VigilBundleReport) report = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *missing = g_build_filename (f->dir, "no-such-bundle", NULL);
  const gchar *const none[] = { NULL };

  json_object_set_string_member (json_object_get_object_member (manifest, "incident"), "title", "edited");
  write_manifest_and_sign (f, manifest);
  report = verify (f);
  assert_problems (report, none);

  g_assert_false (vigil_bundle_sign (missing, f->key, &error));
  g_assert_error (error, G_FILE_ERROR, G_FILE_ERROR_NOENT);
  g_assert_nonnull (strstr (error->message, missing));
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, func) g_test_add (path, Fixture, NULL, fixture_set_up, func, fixture_tear_down)
  ADD ("/evidence/bundle/verify/intact-bundle", test_verify_intact_bundle);
  ADD ("/evidence/bundle/openssl/checks-the-bundle", test_openssl_checks_the_bundle);
  ADD ("/evidence/bundle/verify/reports-changed-file", test_verify_reports_changed_file);
  ADD ("/evidence/bundle/verify/reports-truncated-file", test_verify_reports_truncated_file);
  ADD ("/evidence/bundle/verify/reports-missing-file", test_verify_reports_missing_file);
  ADD ("/evidence/bundle/verify/reports-extra-files", test_verify_reports_extra_files);
  ADD ("/evidence/bundle/verify/reports-tampered-manifest", test_verify_reports_tampered_manifest);
  ADD ("/evidence/bundle/verify/reports-replaced-public-key", test_verify_reports_replaced_public_key);
  ADD ("/evidence/bundle/verify/reports-the-signer", test_verify_reports_the_signer);
  ADD ("/evidence/bundle/verify/survives-hostile-names", test_verify_survives_hostile_names);
  ADD ("/evidence/bundle/verify/survives-wrong-json-types", test_verify_survives_wrong_json_types);
  ADD ("/evidence/bundle/verify/refuses-links-and-fifos", test_verify_refuses_links_and_fifos);
  ADD ("/evidence/bundle/verify/reports-missing-signature-and-key", test_verify_reports_missing_signature_and_key);
  ADD ("/evidence/bundle/verify/refuses-unreadable-bundles", test_verify_refuses_unreadable_bundles);
  ADD ("/evidence/bundle/verify/cancelled", test_verify_cancelled);
  ADD ("/evidence/bundle/sign/replaces-signature", test_sign_replaces_signature);
#undef ADD
  return g_test_run ();
}
