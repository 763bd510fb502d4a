/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The operator's side, end to end: the real vigild on a private bus
 * (GTestDBus) records a simulated camera; through the generated proxies
 * the test marks an incident, exports it and checks the bundle the way
 * the police would (decode the clip, hashes, signature with stock
 * openssl, vigilctl verify), and that bad requests get a clear D-Bus
 * error, leave nothing behind and do not stop the recording. */
#define _GNU_SOURCE   /* O_PATH */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/mount.h>
#include <unistd.h>

#include "vigil-bundle.h"
#include "vigil-dbus-generated.h"
#include "vigil-export-job.h"
#include "vigil-simcam.h"
#include "vigil-store.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))
#define FPS 10
#define GOP_FRAMES 10           /* a keyframe every second */
#define SEGMENT_SECONDS 2
/* vigild's two refusals of a destination, which name no path. */
#define NOT_YOURS "cannot use the destination: not an existing folder that you can write to"
#define NOT_THERE "cannot use the destination: vigild does not write into system folders or its own storage"

/* A D-Bus call that must succeed: its error, if any, is shown. */
#define CALL_OK(call) G_STMT_START { gboolean ok_ = (call); g_assert_no_error (error); g_assert_true (ok_); } G_STMT_END

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = FPS, .bitrate_kbps = 300,
                                 .gop_frames = GOP_FRAMES, .clip_seconds = 4 };

  vigil_test_vigild_set_up (f, bus, &options, SEGMENT_SECONDS, NULL, NULL, NULL);
  vigil_test_vigild_start (f);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

static gboolean
folder_is_empty (const gchar *folder)
{
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    if (!g_str_equal (name, "lost+found"))
      return FALSE;
  return TRUE;
}

static gint64
parse_time (JsonObject *object, const gchar *member)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_iso8601 (json_object_get_string_member (object, member), NULL);

  g_assert_nonnull (t);
  return g_date_time_to_unix (t) * S + g_date_time_get_microsecond (t);
}

static gchar *
sha256_of (const gchar *path)
{
  g_autofree gchar *data = NULL;
  gsize length = 0;

  g_assert_true (g_file_get_contents (path, &data, &length, NULL));
  return g_compute_checksum_for_data (G_CHECKSUM_SHA256, (const guchar *) data, length);
}

typedef struct {
  gchar   *job;
  gchar   *state;
  gchar   *bundle;
  gchar   *sha256;
  gboolean finished;
} ExportWait;

static void
on_export_finished (VigilDBusManager *manager, const gchar *job, const gchar *state, const gchar *bundle,
                    const gchar *sha256, ExportWait *wait)
{
  if (wait->job == NULL || !g_str_equal (job, wait->job))
    return;
  wait->state = g_strdup (state);
  wait->bundle = g_strdup (bundle);
  wait->sha256 = g_strdup (sha256);
  wait->finished = TRUE;
}

/* Waits for the export job @wait->job to finish; the handler was
 * connected before the export started, so it cannot be missed. */
static void
wait_for_export (Fixture *f, ExportWait *wait)
{
  if (!vigil_test_wait_for (&wait->finished, 120))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("export %s never finished; vigild's log:\n%s", wait->job, log);
    }
}

static void
export_wait_clear (ExportWait *wait)
{
  g_free (wait->job);
  g_free (wait->state);
  g_free (wait->bundle);
  g_free (wait->sha256);
}

static gchar *
create_incident (Fixture *f, gint64 from_us, gint64 to_us, const gchar *title)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariantDict) options = g_variant_dict_new (NULL);
  const gchar *cameras[] = { "cam0", NULL };
  const gchar *tags[] = { "police", NULL };
  gchar *path = NULL;

  g_variant_dict_insert (options, "pre-roll-s", "u", 0);
  g_variant_dict_insert (options, "post-roll-s", "u", 0);
  g_variant_dict_insert (options, "note", "s", "two people at the door");
  CALL_OK (vigil_dbus_manager_call_create_incident_sync (f->manager, cameras, from_us, to_us, title,
                                                                "seen on the entrance feed", tags,
                                                                g_variant_dict_end (options), &path, NULL, &error));
  g_assert_no_error (error);
  return path;
}

/* The test: mark, export, and check the bundle as the police would. */
static void
test_incident_export_verifies (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(VigilBundleReport) report = NULL;
  g_autoptr(GUnixFDList) destination = NULL;
  g_autofree gchar *incident_path = NULL;
  g_autofree gchar *manifest_path = NULL;
  g_autofree gchar *clip_path = NULL;
  g_autofree gchar *pem = NULL;
  g_autofree gchar *fingerprint = NULL;
  g_autofree gchar *openssl_out = NULL;
  ExportWait wait = { 0 };
  JsonObject *manifest, *camera;
  JsonArray *files, *sources;
  gint64 from_us, to_us, keyframe_us, actual_from_us;
  gint64 frames;
  const gchar *vigilctl = g_getenv ("VIGILCTL");

  vigil_test_vigild_wait_for_segments (f, 3);
  /* From 1.45 s into a complete segment (mid-GOP: keyframes are at whole
   * seconds from its start) to 1.5 s later, in the next segment. */
  segment = vigil_test_vigild_get_segment (f, "cam0", 1);
  from_us = segment->start_us + 1450000;
  to_us = from_us + 1500000;
  keyframe_us = segment->start_us + S;
  incident_path = create_incident (f, from_us, to_us, "fight at the door");

  incident = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                                 incident_path, NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_dbus_incident_get_locked (incident));
  g_assert_cmpstr (vigil_dbus_incident_get_state (incident), ==, "closed");
  g_assert_cmpstr (vigil_dbus_incident_get_created_by (incident), ==, g_get_user_name ());

  g_signal_connect (f->manager, "export-finished", G_CALLBACK (on_export_finished), &wait);
  destination = vigil_test_open_destination (f->out);
  CALL_OK (vigil_dbus_manager_call_export_incident_sync (f->manager, incident_path, g_variant_new_handle (0),
                                                                "police request 2026/1234", destination, &wait.job,
                                                                NULL, NULL, &error));
  g_assert_no_error (error);
  wait_for_export (f, &wait);
  g_signal_handlers_disconnect_by_data (f->manager, &wait);
  g_assert_cmpstr (wait.state, ==, "done");
  g_assert_true (g_str_has_prefix (wait.bundle, f->out));

  /* The manifest: what was asked, what was found, who and why. */
  manifest_path = g_build_filename (wait.bundle, "manifest.json", NULL);
  g_assert_cmpstr (sha256_of (manifest_path), ==, wait.sha256);
  g_assert_true (json_parser_load_from_file (parser, manifest_path, &error));
  manifest = json_node_get_object (json_parser_get_root (parser));
  g_assert_cmpstr (json_object_get_string_member (manifest, "reason"), ==, "police request 2026/1234");
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (manifest, "exported_by"), "user"),
                   ==, g_get_user_name ());
  g_assert_cmpint (json_object_get_int_member (json_object_get_object_member (manifest, "exported_by"), "uid"), ==,
                   getuid ());
  g_assert_cmpstr (json_object_get_string_member (json_object_get_object_member (manifest, "incident"), "title"),
                   ==, "fight at the door");
  g_assert_cmpint (parse_time (json_object_get_object_member (manifest, "requested"), "from"), ==, from_us);
  camera = json_array_get_object_element (json_object_get_array_member (manifest, "cameras"), 0);
  g_assert_cmpstr (json_object_get_string_member (camera, "name"), ==, "cam0");
  g_assert_true (json_object_has_member (json_object_get_object_member (camera, "actual"), "from_local"));
  g_assert_cmpuint (json_array_get_length (json_object_get_array_member (camera, "gaps")), ==, 0);

  /* The clip starts on the keyframe at or before from. */
  actual_from_us = parse_time (json_object_get_object_member (camera, "actual"), "from");
  g_assert_cmpint (actual_from_us, <=, from_us);
  g_assert_cmpint (ABS (actual_from_us - keyframe_us), <, S / FPS / 2);

  /* It plays: every frame from that keyframe up to to decodes. */
  clip_path = g_build_filename (wait.bundle, "cam0.mp4", NULL);
  frames = vigil_test_decode_file (clip_path, &error);
  g_assert_no_error (error);
  g_assert_cmpint (frames, >=, (to_us - keyframe_us) * FPS / S - 1);
  g_assert_cmpint (frames, <=, (to_us - keyframe_us) * FPS / S + 1);

  /* Every listed file and every source segment has the hash the manifest says. */
  files = json_object_get_array_member (manifest, "files");
  g_assert_cmpuint (json_array_get_length (files), ==, 2);
  for (guint i = 0; i < json_array_get_length (files); i++)
    {
      JsonObject *file = json_array_get_object_element (files, i);
      g_autofree gchar *path = g_build_filename (wait.bundle, json_object_get_string_member (file, "name"), NULL);
      g_autofree gchar *sha = sha256_of (path);
      g_assert_cmpstr (sha, ==, json_object_get_string_member (file, "sha256"));
    }
  sources = json_object_get_array_member (camera, "source_segments");
  g_assert_cmpuint (json_array_get_length (sources), ==, 2);
  for (guint i = 0; i < json_array_get_length (sources); i++)
    {
      JsonObject *source = json_array_get_object_element (sources, i);
      g_autofree gchar *path = g_build_filename (f->root, json_object_get_string_member (source, "path"), NULL);
      g_autofree gchar *sha = sha256_of (path);
      g_assert_cmpstr (sha, ==, json_object_get_string_member (source, "sha256"));
    }

  /* Signed by this recorder's key, which vigilctl key / GetPublicKey shows. */
  CALL_OK (vigil_dbus_manager_call_get_public_key_sync (f->manager, &pem, &fingerprint, NULL, &error));
  g_assert_no_error (error);
  report = vigil_bundle_verify (wait.bundle, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->problems->len, ==, 0);
  g_assert_cmpstr (report->fingerprint, ==, fingerprint);

  /* Stock openssl, exactly as the README says. */
  if (g_file_test ("/usr/bin/openssl", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree gchar *key = g_build_filename (wait.bundle, "public-key.pem", NULL);
      g_autofree gchar *sig = g_build_filename (wait.bundle, "manifest.json.sig", NULL);

      g_assert_cmpint (vigil_test_run (&openssl_out, "/usr/bin/openssl", "pkeyutl", "-verify", "-pubin", "-inkey",
                                       key, "-rawin", "-in", manifest_path, "-sigfile", sig, NULL), ==, 0);
      g_assert_nonnull (strstr (openssl_out, "Signature Verified Successfully"));
    }
  if (vigilctl != NULL)
    g_assert_cmpint (vigil_test_run (NULL, vigilctl, "verify", wait.bundle, NULL), ==, 0);

  /* One flipped byte in the clip: verification fails. */
  vigil_test_flip_byte (clip_path, 5000);
  g_clear_pointer (&report, vigil_bundle_report_free);
  report = vigil_bundle_verify (wait.bundle, NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (report->problems->len, ==, 1);
  g_assert_nonnull (strstr (report->problems->pdata[0], "cam0.mp4"));
  if (vigilctl != NULL)
    g_assert_cmpint (vigil_test_run (NULL, vigilctl, "verify", wait.bundle, NULL), !=, 0);
  vigil_test_flip_byte (clip_path, 5000);

  /* One flipped byte in the manifest: the signature no longer holds. */
  vigil_test_flip_byte (manifest_path, 40);
  if (g_file_test ("/usr/bin/openssl", G_FILE_TEST_IS_EXECUTABLE))
    {
      g_autofree gchar *key = g_build_filename (wait.bundle, "public-key.pem", NULL);
      g_autofree gchar *sig = g_build_filename (wait.bundle, "manifest.json.sig", NULL);

      g_assert_cmpint (vigil_test_run (NULL, "/usr/bin/openssl", "pkeyutl", "-verify", "-pubin", "-inkey", key,
                                       "-rawin", "-in", manifest_path, "-sigfile", sig, NULL), !=, 0);
    }
  if (vigilctl != NULL)
    g_assert_cmpint (vigil_test_run (NULL, vigilctl, "verify", wait.bundle, NULL), !=, 0);
  export_wait_clear (&wait);
}

static gchar *
iso_utc (gint64 time_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (time_us / S);
  g_autoptr(GDateTime) t_us = g_date_time_add (t, time_us % S);
  return g_date_time_format (t_us, "%Y-%m-%dT%H:%M:%S.%fZ");
}

/* The operator's command line against the real vigild: what the README
 * promises (id alone on stdout, bundle folder on stdout, exit codes). */
static void
test_vigilctl (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GError) error = NULL;
  g_autofree gchar *from = NULL;
  g_autofree gchar *to = NULL;
  g_autofree gchar *out = NULL;
  g_autofree gchar *err = NULL;
  g_autofree gchar *id = NULL;
  g_autofree gchar *bundle = NULL;
  g_autofree gchar *missing = g_build_filename (f->dir, "missing", NULL);
  JsonArray *listed;

  if (g_getenv ("VIGILCTL") == NULL)
    {
      g_test_skip ("VIGILCTL not set");
      return;
    }
  vigil_test_vigild_wait_for_segments (f, 2);
  segment = vigil_test_vigild_get_segment (f, "cam0", 0);
  from = iso_utc (segment->start_us + 200000);
  to = iso_utc (segment->end_us);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &id, NULL, "--session", "incident", "create", "cam0", "--from",
                                            from, "--to", to, "--title", "bike theft", "--tag", "bike",
                                            "--pre-roll", "0", "--post-roll", "0", NULL), ==, 0);
  g_strchomp (id);
  g_assert_cmpuint (strspn (id, "0123456789"), ==, strlen (id));
  g_assert_cmpuint (strlen (id), >, 0);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "cameras", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "cam0"));
  g_assert_nonnull (strstr (out, "recording"));
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "--json", "incident", "list", "--tag",
                                            "bike", NULL), ==, 0);
  g_assert_true (json_parser_load_from_data (parser, out, -1, &error));
  g_assert_no_error (error);
  listed = json_object_get_array_member (json_node_get_object (json_parser_get_root (parser)), "incidents");
  g_assert_cmpuint (json_array_get_length (listed), ==, 1);
  g_clear_pointer (&out, g_free);

  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &bundle, NULL, "--session", "export", id, "--out", f->out,
                                            "--reason", "police request", NULL), ==, 0);
  g_strchomp (bundle);
  g_assert_true (g_str_has_prefix (bundle, f->out));
  g_assert_true (g_file_test (bundle, G_FILE_TEST_IS_DIR));
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, NULL, "verify", bundle, NULL), ==, 0);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, NULL, "--session", "audit", "--verify", NULL), ==, 0);
  g_assert_nonnull (strstr (out, "intact"));
  g_clear_pointer (&out, g_free);

  /* Errors: what vigild refuses (1), bad usage (2), no vigild (3). */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, &err, "--session", "incident", "create", "garage", "--from",
                                            from, "--title", "x", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "garage"));
  g_clear_pointer (&err, g_free);
  /* vigild names no path in a refusal; vigilctl puts the operator's in
   * front. A folder that does not open is vigilctl's own to report. */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, &err, "--session", "export", id, "--out", "/etc", "--reason",
                                            "r", NULL), ==, 1);
  g_assert_nonnull (strstr (err, "/etc: " NOT_THERE));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, &err, "--session", "export", id, "--out", missing,
                                            "--reason", "r", NULL), ==, 1);
  g_assert_nonnull (strstr (err, missing));
  g_clear_pointer (&err, g_free);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, NULL, "--session", "spans", "cam0", "--from", "yesterday-ish",
                                            "--to", "now", NULL), ==, 2);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, NULL, "--session", "frobnicate", NULL), ==, 2);
  g_assert_cmpint (vigil_test_run_vigilctl ("unix:path=/nonexistent/bus", NULL, &err, "--session", "cameras", NULL),
                   ==, 3);
  g_assert_nonnull (strstr (err, "session"));
}

static void
on_job_finished (VigilExportJob *job, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

static VigilExportState
run_job (Fixture *f, VigilStore *store, VigilSigningKey *key, gboolean cancel_first)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) segment = vigil_test_vigild_get_segment (f, "cam0", 0);
  g_autoptr(VigilExportJob) job = NULL;
  const gchar *private_folders[] = { f->root, NULL };
  int destination_fd = g_open (f->out, O_RDONLY | O_DIRECTORY | O_CLOEXEC, 0);
  VigilExportRequest request = {
    .destination_fd = destination_fd, .reason = "test", .uid = getuid (), .user = "tester", .camera = "cam0",
    .from_us = segment->start_us, .to_us = segment->end_us,
  };
  gboolean finished = FALSE;

  g_assert_cmpint (destination_fd, >=, 0);
  job = vigil_export_job_new (store, key, private_folders, &request, &error);
  g_assert_no_error (error);
  g_close (destination_fd, NULL);   /* the job keeps its own */
  g_signal_connect (job, "finished", G_CALLBACK (on_job_finished), &finished);
  if (cancel_first)
    vigil_export_job_cancel (job);
  vigil_export_job_start (job);
  g_assert_true (vigil_test_wait_for (&finished, 120));
  return vigil_export_job_get_state (job);
}

/* A cancelled export removes its partial folder: a bundle is whole or
 * absent. (The job runs in this process on vigild's catalog.) */
static void
test_cancelled_export_leaves_nothing (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = NULL;
  g_autoptr(VigilSigningKey) key = NULL;
  g_autofree gchar *key_path = g_build_filename (f->dir, "state", "test-key.pem", NULL);
  g_autoptr(GDir) dir = NULL;
  const gchar *name;

  vigil_test_vigild_wait_for_segments (f, 1);
  store = vigil_store_new (f->catalog, f->root, &error);
  g_assert_no_error (error);
  key = vigil_signing_key_load_or_create (key_path, NULL, &error);
  g_assert_no_error (error);

  g_assert_cmpint (run_job (f, store, key, TRUE), ==, VIGIL_EXPORT_CANCELLED);
  g_assert_true (folder_is_empty (f->out));

  g_assert_cmpint (run_job (f, store, key, FALSE), ==, VIGIL_EXPORT_DONE);
  dir = g_dir_open (f->out, 0, NULL);
  name = g_dir_read_name (dir);
  g_assert_nonnull (name);
  g_assert_false (g_str_has_prefix (name, "."));
  g_assert_null (g_dir_read_name (dir));
}

#define N_CONCURRENT_EXPORTS 6

typedef struct {
  guint      started, finished;
  GPtrArray *states, *bundles;
} ManyExports;

static void
on_export_started (GObject *source, GAsyncResult *result, gpointer user_data)
{
  ManyExports *wait = user_data;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *job = NULL;

  vigil_dbus_manager_call_export_range_finish (VIGIL_DBUS_MANAGER (source), &job, NULL, result, &error);
  g_assert_no_error (error);
  wait->started++;
}

static gboolean
all_exports_started (gpointer data)
{
  return ((ManyExports *) data)->started == N_CONCURRENT_EXPORTS;
}

static void
on_any_export_finished (VigilDBusManager *manager, const gchar *job, const gchar *state, const gchar *bundle,
                        const gchar *sha256, ManyExports *wait)
{
  g_ptr_array_add (wait->states, g_strdup (state));
  g_ptr_array_add (wait->bundles, g_strdup (bundle));
  wait->finished++;
}

static gboolean
all_exports_finished (gpointer data)
{
  return ((ManyExports *) data)->finished == N_CONCURRENT_EXPORTS;
}

/* The same export asked for six times at once (a double click, a script)
 * gives six whole bundles under six names, each of which verifies: jobs
 * never share a work folder, a name, or each other's files. */
static void
test_concurrent_exports (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(GHashTable) names = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GDir) dir = NULL;
  g_autoptr(GUnixFDList) destination = NULL;
  ManyExports wait = { 0, 0, g_ptr_array_new_with_free_func (g_free), g_ptr_array_new_with_free_func (g_free) };
  const gchar *name;
  gulong handler;
  guint entries = 0;

  vigil_test_vigild_wait_for_segments (f, 2);
  segment = vigil_test_vigild_get_segment (f, "cam0", 0);
  handler = g_signal_connect (f->manager, "export-finished", G_CALLBACK (on_any_export_finished), &wait);
  /* All sent before any answer: vigild plans them in one go. Each
   * message carries its own copy of the one descriptor. */
  destination = vigil_test_open_destination (f->out);
  for (guint i = 0; i < N_CONCURRENT_EXPORTS; i++)
    vigil_dbus_manager_call_export_range (f->manager, "cam0", segment->start_us, segment->end_us,
                                          g_variant_new_handle (0), "police request", destination, NULL,
                                          on_export_started, &wait);
  if (!vigil_test_wait_until (all_exports_started, &wait, 60))
    g_error ("only %u of %u exports started", wait.started, N_CONCURRENT_EXPORTS);
  if (!vigil_test_wait_until (all_exports_finished, &wait, 300))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("only %u of %u exports finished; vigild's log:\n%s", wait.finished, N_CONCURRENT_EXPORTS, log);
    }
  g_signal_handler_disconnect (f->manager, handler);
  for (guint i = 0; i < N_CONCURRENT_EXPORTS; i++)
    {
      g_autoptr(VigilBundleReport) report = NULL;

      g_assert_cmpstr (wait.states->pdata[i], ==, "done");
      g_assert_true (g_hash_table_add (names, wait.bundles->pdata[i]));   /* each its own */
      report = vigil_bundle_verify (wait.bundles->pdata[i], NULL, &error);
      g_assert_no_error (error);
      for (guint j = 0; j < report->problems->len; j++)
        g_test_message ("%s: %s", (gchar *) wait.bundles->pdata[i], (gchar *) report->problems->pdata[j]);
      g_assert_cmpuint (report->problems->len, ==, 0);
    }
  /* Nothing else left behind: no work folder. */
  dir = g_dir_open (f->out, 0, NULL);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_assert_false (g_str_has_prefix (name, "."));
      entries++;
    }
  g_assert_cmpuint (entries, ==, N_CONCURRENT_EXPORTS);
  g_ptr_array_unref (wait.states);
  g_ptr_array_unref (wait.bundles);
}

/* ExportRange with @destination (may be NULL: no descriptor at all) as
 * handle 0 is refused with @error_name and, when given, @message. */
static void
assert_export_refused_fds (Fixture *f, const gchar *camera, gint64 from_us, gint64 to_us, GUnixFDList *destination,
                           const gchar *reason, const gchar *error_name, const gchar *message)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *job = NULL;

  g_assert_false (vigil_dbus_manager_call_export_range_sync (f->manager, camera, from_us, to_us,
                                                              g_variant_new_handle (0), reason, destination, &job,
                                                              NULL, NULL, &error));
  vigil_test_assert_dbus_error (error, error_name);
  g_test_message ("refused as expected: %s", error->message);
  if (message != NULL)
    {
      g_dbus_error_strip_remote_error (error);
      g_assert_cmpstr (error->message, ==, message);
    }
}

/* The same with @destination opened read-only, as vigilctl would. */
static void
assert_export_refused (Fixture *f, const gchar *camera, gint64 from_us, gint64 to_us, const gchar *destination,
                       const gchar *reason, const gchar *error_name)
{
  g_autoptr(GUnixFDList) fds = vigil_test_open_destination (destination);

  assert_export_refused_fds (f, camera, from_us, to_us, fds, reason, error_name, NULL);
}

/* Bad requests: a clear D-Bus error naming the problem, nothing written,
 * and the camera keeps recording throughout. */
static void
test_bad_requests (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *file = g_build_filename (f->dir, "a-file", NULL);
  g_autofree gchar *link = g_build_filename (f->dir, "etc-link", NULL);
  g_autofree gchar *inside_root = g_build_filename (f->root, "cam0", NULL);
  g_autoptr(GUnixFDList) o_path = NULL;
  const gchar *unknown[] = { "garage", NULL };
  const gchar *none[] = { NULL };
  gint64 from_us, to_us;

  vigil_test_vigild_wait_for_segments (f, 2);
  segment = vigil_test_vigild_get_segment (f, "cam0", 0);
  from_us = segment->start_us;
  to_us = segment->end_us;
  g_assert_true (g_file_set_contents (file, "x", -1, NULL));
  g_assert_cmpint (symlink ("/etc", link), ==, 0);

  g_assert_false (vigil_dbus_manager_call_create_incident_sync (f->manager, unknown, from_us, 0, "x", "", none,
                                                                 g_variant_new ("a{sv}", NULL), &path, NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.UnknownCamera");
  g_assert_nonnull (strstr (error->message, "garage"));
  g_clear_error (&error);
  g_assert_false (vigil_dbus_manager_call_create_incident_sync (f->manager, (const gchar *[]) { "cam0", NULL },
                                                                 to_us, from_us, "x", "", none,
                                                                 g_variant_new ("a{sv}", NULL), &path, NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_clear_error (&error);
  /* A huge argument quoted back in the error comes back as one short line,
   * and nothing the caller wrote forges a line in vigild's log. */
  {
    g_autofree gchar *tag = g_strnfill (200000, 't');
    g_autofree gchar *log = NULL;
    const gchar *tags[] = { tag, NULL };

    tag[100] = '\n';
    g_assert_false (vigil_dbus_manager_call_create_incident_sync (f->manager, (const gchar *[]) { "cam0", NULL },
                                                                   from_us, to_us, "x\nFORGED audit line", "",
                                                                   tags, g_variant_new ("a{sv}", NULL), &path, NULL,
                                                                   &error));
    vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
    g_assert_cmpuint (strlen (error->message), <, 600);
    g_assert_null (strchr (error->message, '\n'));
    g_clear_error (&error);
    log = vigil_test_vigild_read_log (f);
    g_assert_null (strstr (log, "\nFORGED"));
  }

  assert_export_refused (f, "garage", from_us, to_us, f->out, "r", "org.vigil.Vigil1.Error.UnknownCamera");
  assert_export_refused (f, "cam0", to_us, from_us, f->out, "r", "org.vigil.Vigil1.Error.InvalidArgument");
  assert_export_refused (f, "cam0", from_us - 86400 * 365 * S, from_us - 86400 * 364 * S, f->out, "r",
                         "org.vigil.Vigil1.Error.NoRecording");
  assert_export_refused (f, "cam0", from_us - 25 * 3600 * S, to_us, f->out, "r",
                         "org.vigil.Vigil1.Error.RangeTooLarge");
  assert_export_refused (f, "cam0", G_MININT64, G_MAXINT64, f->out, "r", "org.vigil.Vigil1.Error.InvalidArgument");
  assert_export_refused (f, "cam0", from_us - 86400 * 365 * 2 * S, to_us, f->out, "r",
                         "org.vigil.Vigil1.Error.RangeTooLarge");
  assert_export_refused (f, "cam0", from_us, to_us, f->out, "  ", "org.vigil.Vigil1.Error.InvalidArgument");
  /* The destination is a descriptor (a path that does not open is
   * vigilctl's to report, test_vigilctl): none at all, a file's, an O_PATH
   * one (opened without the kernel checking read rights), /etc through a
   * link, and vigil's own storage. */
  assert_export_refused_fds (f, "cam0", from_us, to_us, NULL, "r", "org.vigil.Vigil1.Error.InvalidArgument", NULL);
  {
    int fd = g_open (f->out, O_PATH | O_DIRECTORY | O_CLOEXEC, 0);

    g_assert_cmpint (fd, >=, 0);
    o_path = g_unix_fd_list_new_from_array (&fd, 1);
  }
  assert_export_refused_fds (f, "cam0", from_us, to_us, o_path, "r", "org.vigil.Vigil1.Error.NotWritable", NOT_YOURS);
  {
    g_autoptr(GUnixFDList) fds = vigil_test_open_destination (file);
    assert_export_refused_fds (f, "cam0", from_us, to_us, fds, "r", "org.vigil.Vigil1.Error.NotWritable", NOT_YOURS);
  }
  {
    g_autoptr(GUnixFDList) fds = vigil_test_open_destination (link);
    assert_export_refused_fds (f, "cam0", from_us, to_us, fds, "r", "org.vigil.Vigil1.Error.NotWritable", NOT_THERE);
  }
  {
    g_autoptr(GUnixFDList) fds = vigil_test_open_destination (inside_root);
    assert_export_refused_fds (f, "cam0", from_us, to_us, fds, "r", "org.vigil.Vigil1.Error.NotWritable", NOT_THERE);
  }
  g_assert_true (folder_is_empty (f->out));

  /* A destination that cannot be written, and one too small for the
   * export, on real file systems: root mounts tmpfs; others use modes. */
  if (geteuid () == 0 && mount ("tmpfs", f->out, "tmpfs", MS_RDONLY, "size=1m") == 0)
    {
      assert_export_refused (f, "cam0", from_us, to_us, f->out, "r", "org.vigil.Vigil1.Error.NotWritable");
      g_assert_cmpint (umount2 (f->out, MNT_DETACH), ==, 0);
      g_assert_cmpint (mount ("tmpfs", f->out, "tmpfs", 0, "size=1m"), ==, 0);
      assert_export_refused (f, "cam0", from_us, to_us, f->out, "r", "org.vigil.Vigil1.Error.NoSpace");
      g_assert_true (folder_is_empty (f->out));
      g_assert_cmpint (umount2 (f->out, MNT_DETACH), ==, 0);
    }
  else if (geteuid () != 0)
    {
      g_assert_cmpint (g_chmod (f->out, 0500), ==, 0);
      assert_export_refused (f, "cam0", from_us, to_us, f->out, "r", "org.vigil.Vigil1.Error.NotWritable");
      g_assert_cmpint (g_chmod (f->out, 0700), ==, 0);
    }

  /* Still recording, still answering. */
  vigil_test_vigild_wait_for_segments (f, 1);
  path = g_strdup ("/org/vigil/Vigil1/Camera/cam0");
  camera = vigil_dbus_camera_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1", path,
                                             NULL, &error);
  g_assert_no_error (error);
  g_assert_cmpstr (vigil_dbus_camera_get_state (camera), ==, "recording");
  g_assert_cmpuint (vigil_dbus_camera_get_stored_bytes (camera), >, 0);
  /* The 31-day bound holds at the extremes too (no overflow). */
  {
    g_autoptr(GVariant) spans = NULL;
    g_autoptr(GVariant) gaps = NULL;

    g_assert_false (vigil_dbus_camera_call_list_spans_sync (camera, G_MININT64, G_MAXINT64, &spans, &gaps, NULL,
                                                            &error));
    vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.RangeTooLarge");
  }
}

/* Every action is in the audit log under the caller's name; an edited row
 * is detected by VerifyAudit. */
static void
test_audit_log (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) rows = NULL;
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *head = NULL;
  g_autofree gchar *problem = NULL;
  GVariantIter iter;
  gboolean intact = FALSE, seen_create = FALSE, seen_release = FALSE;
  gint64 n = 0;
  guint64 id;
  gint64 time_us, uid;
  const gchar *user, *action, *target, *details, *sha;
  sqlite3 *db = NULL;

  vigil_test_vigild_wait_for_segments (f, 1);
  segment = vigil_test_vigild_get_segment (f, "cam0", 0);
  path = create_incident (f, segment->start_us, segment->end_us, "broken window");
  incident = vigil_dbus_incident_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1", path,
                                                 NULL, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_dbus_incident_call_release_sync (incident, "", NULL, &error) == FALSE);
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_clear_error (&error);
  /* An expiry in the past is not a way round Release's reason. */
  g_assert_false (vigil_dbus_incident_call_set_expiry_sync (incident, 1, NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_assert_nonnull (strstr (error->message, "future"));
  g_clear_error (&error);
  g_assert_false (vigil_dbus_incident_call_release_sync (incident, "   ", NULL, &error));
  vigil_test_assert_dbus_error (error, "org.vigil.Vigil1.Error.InvalidArgument");
  g_clear_error (&error);
  CALL_OK (vigil_dbus_incident_call_release_sync (incident, "insurance has its copy", NULL, &error));
  g_assert_no_error (error);

  CALL_OK (vigil_dbus_manager_call_list_audit_sync (f->manager, 0, 0, &rows, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", &id, &time_us, &uid, &user, &action, &target, &details,
                              &sha))
    {
      if (g_str_equal (action, "incident-create"))
        {
          seen_create = TRUE;
          g_assert_cmpint (uid, ==, getuid ());
          g_assert_cmpstr (user, ==, g_get_user_name ());
          g_assert_nonnull (strstr (details, "broken window"));
        }
      seen_release |= g_str_equal (action, "incident-release") && strstr (details, "insurance") != NULL;
    }
  g_assert_true (seen_create);
  g_assert_true (seen_release);
  CALL_OK (vigil_dbus_manager_call_verify_audit_sync (f->manager, &intact, &n, &head, &problem, NULL, &error));
  g_assert_true (intact);
  g_assert_cmpint (n, >=, 4);     /* start, create, note, release */

  /* Someone with the catalog file edits who created the incident. */
  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 10000);
  g_assert_cmpint (sqlite3_exec (db, "drop trigger audit_no_update; "
                                 "update audit set user = 'mallory' where action = 'incident-create'",
                                 NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);
  g_clear_pointer (&head, g_free);
  g_clear_pointer (&problem, g_free);
  CALL_OK (vigil_dbus_manager_call_verify_audit_sync (f->manager, &intact, &n, &head, &problem, NULL, &error));
  g_assert_no_error (error);
  g_assert_false (intact);
  g_assert_nonnull (strstr (problem, "row"));
  g_test_message ("tampering detected: %s", problem);
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", "mp4mux", "avdec_h264", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  /* One private bus for the whole program: vigild finds it through
   * DBUS_SESSION_BUS_ADDRESS, which g_test_dbus_up() sets. */
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/e2e/dbus/incident-export-verifies", test_incident_export_verifies);
  ADD ("/e2e/dbus/bad-requests", test_bad_requests);
  ADD ("/e2e/dbus/audit-log", test_audit_log);
  ADD ("/e2e/dbus/vigilctl", test_vigilctl);
  ADD ("/e2e/dbus/cancelled-export-leaves-nothing", test_cancelled_export_leaves_nothing);
  ADD ("/e2e/dbus/concurrent-exports", test_concurrent_exports);
  status = g_test_run ();
  g_test_dbus_down (bus);
  g_clear_object (&bus);
  return status;
}
