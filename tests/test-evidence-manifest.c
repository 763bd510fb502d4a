/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil-manifest: what the export job writes is what a verifier reads
 * back, and it says what the police need to know: who, when, why, which
 * incident, what each clip holds, where the gaps are, and where every
 * byte came from. */
#include <json-glib/json-glib.h>

#include "vigil-manifest.h"

#define SHA_A "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SHA_B "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb"
#define T0_US G_GINT64_CONSTANT (1780000000000000)   /* 2026-05-28T20:26:40Z */

static gchar *
write_example (gboolean with_incident, gsize *out_length)
{
  const gchar *const cameras[] = { "door", "hall", NULL };
  const gchar *const tags[] = { "police", NULL };
  const VigilManifestNote notes[] = { { T0_US + 5000000, 1000, "ann", "two people, one in red" } };
  const VigilManifestIncident incident = {
    .id = 12, .title = "fight at the door", .description = "by the bins", .cameras = cameras, .tags = tags,
    .start_us = T0_US, .end_us = 0, .pre_roll_us = 30 * G_USEC_PER_SEC, .post_roll_us = 30 * G_USEC_PER_SEC,
    .created_by = "ann", .created_us = T0_US + 1000, .notes = notes, .n_notes = G_N_ELEMENTS (notes),
  };
  g_autoptr(VigilManifestWriter) writer = vigil_manifest_writer_new (&(VigilManifestHeader) {
    .bundle = "incident-12", .public_key_sha256 = SHA_B, .exported_at_us = T0_US + 600 * G_USEC_PER_SEC,
    .uid = 1000, .user = "ann", .reason = "police request 2026/1234",
    .requested_from_us = T0_US - 30 * G_USEC_PER_SEC, .requested_to_us = T0_US + 90 * G_USEC_PER_SEC,
    .incident = with_incident ? &incident : NULL,
  });

  vigil_manifest_writer_begin_camera (writer, "door", T0_US - 30 * G_USEC_PER_SEC, T0_US + 90 * G_USEC_PER_SEC);
  /* Sources and gaps may come before the clip: the writer orders them. */
  vigil_manifest_writer_add_source (writer, "door/2026/05/28/a.mkv", T0_US - 40 * G_USEC_PER_SEC, T0_US,
                                    123456, SHA_A);
  vigil_manifest_writer_add_gap (writer, T0_US, T0_US + 2 * G_USEC_PER_SEC, "offline");
  vigil_manifest_writer_add_gap (writer, T0_US + 60 * G_USEC_PER_SEC, T0_US + 61 * G_USEC_PER_SEC, NULL);
  vigil_manifest_writer_set_clip (writer, &(VigilManifestClip) {
    .first_frame_us = T0_US - 31 * G_USEC_PER_SEC, .end_us = T0_US + 90 * G_USEC_PER_SEC, .video_frames = 1210,
    .duration_ms = 121000, .audio = "copied", .clip = "door.mp4", .snapshot = "door.jpg", .clip_sha256 = SHA_A,
  });
  vigil_manifest_writer_add_file (writer, "door.mp4", 99999, SHA_A);
  vigil_manifest_writer_add_file (writer, "door.jpg", 4242, SHA_B);
  vigil_manifest_writer_end_camera (writer);
  vigil_manifest_writer_begin_camera (writer, "hall", T0_US - 30 * G_USEC_PER_SEC, T0_US + 90 * G_USEC_PER_SEC);
  vigil_manifest_writer_end_camera (writer);
  return vigil_manifest_writer_finish (writer, 77, SHA_A, out_length);
}

static JsonObject *
parse_object (JsonParser *parser, const gchar *text, gsize length)
{
  g_autoptr(GError) error = NULL;

  json_parser_load_from_data (parser, text, (gssize) length, &error);
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

static void
test_manifest_reads_back_what_was_written (void)
{
  gsize length = 0;
  g_autofree gchar *text = write_example (TRUE, &length);
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilManifest) manifest = vigil_manifest_parse (text, length, &error);
  const VigilManifestEntry *entry;

  g_assert_no_error (error);
  g_assert_cmpuint (strlen (text), ==, length);
  g_assert_cmpuint (manifest->problems->len, ==, 0);
  g_assert_cmpstr (manifest->public_key_sha256, ==, SHA_B);
  g_assert_cmpuint (manifest->entries->len, ==, 2);
  entry = manifest->entries->pdata[0];
  g_assert_cmpstr (entry->name, ==, "door.mp4");
  g_assert_cmpint (entry->size_bytes, ==, 99999);
  g_assert_cmpstr (entry->sha256, ==, SHA_A);
  g_assert_cmpuint (entry->problems->len, ==, 0);
  entry = manifest->entries->pdata[1];
  g_assert_cmpstr (entry->name, ==, "door.jpg");
  g_assert_cmpint (entry->size_bytes, ==, 4242);
}

static void
test_manifest_says_who_what_and_where_from (void)
{
  gsize length = 0;
  g_autofree gchar *text = write_example (TRUE, &length);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = parse_object (parser, text, length);
  JsonObject *incident, *door, *hall, *actual, *gap;
  JsonArray *cameras, *gaps, *sources;

  g_assert_cmpstr (json_object_get_string_member (root, "format"), ==, VIGIL_BUNDLE_FORMAT);
  g_assert_cmpstr (json_object_get_string_member (root, "reason"), ==, "police request 2026/1234");
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "exported_by"), "uid"), ==, 1000);
  /* Every time twice: UTC for the record, local for the reader. */
  g_assert_cmpstr (json_object_get_string_member (root, "exported_at"), ==, "2026-05-28T20:36:40.000000Z");
  g_assert_true (json_object_has_member (root, "exported_at_local"));
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (root, "audit_head"), "id"), ==, 77);

  incident = json_object_get_object_member (root, "incident");
  g_assert_cmpint (json_object_get_int_member (incident, "id"), ==, 12);
  g_assert_cmpint (json_object_get_int_member (incident, "pre_roll_s"), ==, 30);
  g_assert_false (json_object_has_member (incident, "end"));   /* still open */
  g_assert_cmpstr (json_object_get_string_member (
                     json_array_get_object_element (json_object_get_array_member (incident, "notes"), 0), "text"),
                   ==, "two people, one in red");

  cameras = json_object_get_array_member (root, "cameras");
  g_assert_cmpuint (json_array_get_length (cameras), ==, 2);
  door = json_array_get_object_element (cameras, 0);
  hall = json_array_get_object_element (cameras, 1);
  g_assert_cmpstr (json_object_get_string_member (door, "name"), ==, "door");
  actual = json_object_get_object_member (door, "actual");
  g_assert_cmpint (json_object_get_int_member (actual, "video_frames"), ==, 1210);
  g_assert_cmpstr (json_object_get_string_member (door, "clip_sha256"), ==, SHA_A);
  gaps = json_object_get_array_member (door, "gaps");
  g_assert_cmpuint (json_array_get_length (gaps), ==, 2);
  gap = json_array_get_object_element (gaps, 1);
  g_assert_cmpstr (json_object_get_string_member (gap, "reason"), ==, "unknown");
  sources = json_object_get_array_member (door, "source_segments");
  g_assert_cmpint (json_object_get_int_member (json_array_get_object_element (sources, 0), "size_bytes"), ==, 123456);
  /* A camera with nothing in the span says so. */
  g_assert_true (json_object_has_member (hall, "actual"));
  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (hall, "actual")));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (hall, "source_segments")), ==, 0);
}

static void
test_manifest_of_a_range_export_has_null_incident (void)
{
  gsize length = 0;
  g_autofree gchar *text = write_example (FALSE, &length);
  g_autoptr(JsonParser) parser = json_parser_new ();
  JsonObject *root = parse_object (parser, text, length);

  g_assert_true (JSON_NODE_HOLDS_NULL (json_object_get_member (root, "incident")));
}

static void
test_manifest_reader_reports_bad_entries (void)
{
  const gchar *text = "{\"format\": \"vigil-export/1\", \"recorder\": {\"public_key_sha256\": 5},"
                      " \"files\": [{\"name\": \"../etc/passwd\", \"size_bytes\": 1, \"sha256\": \"" SHA_A "\"},"
                      " {\"name\": \"a.mp4\", \"size_bytes\": \"big\", \"sha256\": \"xyz\"},"
                      " {\"name\": \"a.mp4\", \"size_bytes\": 1, \"sha256\": \"" SHA_A "\"}, 7]}";
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilManifest) manifest = vigil_manifest_parse (text, strlen (text), &error);
  const VigilManifestEntry *entry;

  g_assert_no_error (error);
  g_assert_null (manifest->public_key_sha256);   /* not a string */
  g_assert_cmpuint (manifest->entries->len, ==, 4);
  entry = manifest->entries->pdata[0];
  g_assert_null (entry->name);
  g_assert_cmpstr (entry->problems->pdata[0], ==,
                   "manifest.json: files[0]: name “../etc/passwd” is a path, not a file name in the bundle");
  entry = manifest->entries->pdata[1];
  g_assert_cmpuint (entry->problems->len, ==, 2);
  entry = manifest->entries->pdata[2];
  g_assert_cmpstr (entry->problems->pdata[0], ==, "a.mp4: listed more than once in the manifest");
  entry = manifest->entries->pdata[3];
  g_assert_cmpstr (entry->problems->pdata[0], ==, "manifest.json: files[3] is not an object");
}

static void
test_manifest_reader_refuses_what_it_cannot_read (void)
{
  g_autofree gchar *deep = g_strnfill (100000, '[');
  g_autoptr(GError) error = NULL;

  g_assert_null (vigil_manifest_parse (deep, strlen (deep), &error));
  g_assert_error (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE);
  g_clear_error (&error);
  g_assert_null (vigil_manifest_parse ("{\"format\":", 10, &error));
  g_assert_error (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE);
  g_clear_error (&error);
  g_assert_null (vigil_manifest_parse ("", 0, &error));
  g_assert_error (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE);
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/evidence/manifest/reads-back-what-was-written", test_manifest_reads_back_what_was_written);
  g_test_add_func ("/evidence/manifest/says-who-what-and-where-from", test_manifest_says_who_what_and_where_from);
  g_test_add_func ("/evidence/manifest/range-export-has-null-incident",
                   test_manifest_of_a_range_export_has_null_incident);
  g_test_add_func ("/evidence/manifest/reader-reports-bad-entries", test_manifest_reader_reports_bad_entries);
  g_test_add_func ("/evidence/manifest/reader-refuses-unreadable", test_manifest_reader_refuses_what_it_cannot_read);
  return g_test_run ();
}
