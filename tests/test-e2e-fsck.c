/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl fsck end to end, against the real vigild recording a simulated
 * camera on a private bus: the check reports a row whose file is gone, a
 * file without a row in an old day folder (which start-up recovery no
 * longer looks for) and a file that does not play, and changes nothing;
 * --repair fixes all three while recording goes on; a second check finds
 * nothing; each check is in the audit log with its outcome; and Ctrl-C on
 * vigilctl stops the check in vigild. */
#include <glib/gstdio.h>
#include <json-glib/json-glib.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include "vigil-recorder.h"
#include "vigil-recovery.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

static GTestDBus *bus;

typedef VigilTestVigild Fixture;

static const VigilSimcamOptions camera = { .n_streams = 1, .width = 320, .height = 240, .fps = 10,
                                           .bitrate_kbps = 300, .gop_frames = 10, .clip_seconds = 4 };

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_set_up (f, bus, &camera, 2, NULL, NULL, NULL);
  vigil_test_vigild_start (f);
  vigil_test_vigild_wait_for_segments (f, 3);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (f);
}

static void
backdate (const gchar *path)
{
  struct utimbuf times;

  times.actime = times.modtime = g_get_real_time () / G_USEC_PER_SEC - 7 * 86400;
  g_assert_cmpint (g_utime (path, &times), ==, 0);
}

/* A file at segment path @relative under the root, a week old: a copy of
 * @source, or @garbage. */
static void
plant (Fixture *f, const gchar *relative, const gchar *source, const gchar *garbage)
{
  g_autofree gchar *path = g_build_filename (f->root, relative, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);
  g_autofree gchar *data = NULL;
  gsize length = 0;

  g_mkdir_with_parents (folder, 0700);
  if (source != NULL)
    {
      g_assert_true (g_file_get_contents (source, &data, &length, NULL));
      g_assert_true (g_file_set_contents (path, data, length, NULL));
    }
  else
    g_assert_true (g_file_set_contents (path, garbage, -1, NULL));
  backdate (path);
}

static JsonObject *
parse_json (JsonParser *parser, const gchar *text)
{
  g_autoptr(GError) error = NULL;

  g_assert_true (json_parser_load_from_data (parser, text, -1, &error));
  g_assert_no_error (error);
  return json_node_get_object (json_parser_get_root (parser));
}

/* The audit rows of @action, oldest first, as "details" JSON texts. */
static GPtrArray *
audit_details (Fixture *f, const gchar *action)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) rows = NULL;
  GPtrArray *details = g_ptr_array_new_with_free_func (g_free);
  GVariantIter iter;
  const gchar *row_action, *row_details;

  g_assert_true (vigil_dbus_manager_call_list_audit_sync (f->manager, 0, 0, &rows, NULL, &error));
  g_assert_no_error (error);
  g_variant_iter_init (&iter, rows);
  while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", NULL, NULL, NULL, NULL, &row_action, NULL, &row_details,
                              NULL))
    if (g_str_equal (row_action, action))
      g_ptr_array_add (details, g_strdup (row_details));
  return details;
}

static void
test_fsck_reports_repairs_and_audits (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) first = vigil_test_vigild_get_segment (f, "cam0", 0);
  g_autoptr(VigilSegment) second = vigil_test_vigild_get_segment (f, "cam0", 1);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GPtrArray) started = NULL;
  g_autoptr(GPtrArray) done = NULL;
  g_autofree gchar *source = g_build_filename (f->root, first->path, NULL);
  g_autofree gchar *gone = g_build_filename (f->root, second->path, NULL);
  g_autofree gchar *orphan = vigil_segment_path_for ("cam0", G_GINT64_CONSTANT (1793577600) * G_USEC_PER_SEC);
  g_autofree gchar *garbage = vigil_segment_path_for ("cam0", G_GINT64_CONSTANT (1793577660) * G_USEC_PER_SEC);
  g_autofree gchar *garbage_path = g_build_filename (f->root, garbage, NULL);
  g_autofree gchar *quarantined = g_build_filename (f->root, VIGIL_QUARANTINE_FOLDER, garbage, NULL);
  g_autofree gchar *out = NULL, *err = NULL, *log = NULL;
  JsonObject *report;

  /* A file without a row in a day folder of last month (2026-11-02), one
   * that does not play beside it, and a cataloged file gone. */
  plant (f, orphan, source, NULL);
  plant (f, garbage, NULL, "\x1a\x45\xdf\xa3 and nothing else");
  g_assert_cmpint (g_unlink (gone), ==, 0);

  /* The check: found, listed, nothing changed; exit 1. */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, &err, "--session", "fsck", NULL), ==, 1);
  g_test_message ("vigilctl fsck:\n%s", out);
  g_assert_true (g_regex_match_simple ("\nmissing: +1 \\(rows whose file is gone\\)\n", out, 0, 0));
  g_assert_true (g_regex_match_simple ("\norphans: +2 \\(files without a row\\)\n", out, 0, 0));
  g_assert_true (g_regex_match_simple ("\nunplayable: +1 \\(files that do not play\\)\n", out, 0, 0));
  g_assert_nonnull (strstr (out, orphan));
  g_assert_nonnull (strstr (out, garbage));
  g_assert_nonnull (strstr (out, second->path));
  g_assert_true (g_file_test (garbage_path, G_FILE_TEST_EXISTS));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* The same as JSON, with --repair: all three fixed, exit 0. */
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, &err, "--session", "--json", "fsck", "--repair", NULL), ==, 0);
  report = parse_json (parser, out);
  g_assert_true (json_object_get_boolean_member (report, "repair"));
  g_assert_cmpint (json_object_get_int_member (report, "missing"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (report, "orphans"), ==, 2);
  g_assert_cmpint (json_object_get_int_member (report, "unplayable"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (report, "adopted"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (report, "quarantined"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (report, "rows_removed"), ==, 1);
  g_assert_cmpint (json_object_get_int_member (report, "unresolved"), ==, 0);
  g_assert_cmpint (json_array_get_length (json_object_get_array_member (report, "problems")), ==, 3);
  g_assert_cmpint (json_object_get_int_member (report, "rows_checked"), >=, 3);
  g_assert_false (g_file_test (garbage_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (quarantined, G_FILE_TEST_IS_REGULAR));
  g_clear_pointer (&out, g_free);
  g_clear_pointer (&err, g_free);

  /* Recording went on; the catalog and the disk now agree. */
  vigil_test_vigild_wait_for_segments (f, 1);
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, &out, &err, "--session", "fsck", NULL), ==, 0);
  g_assert_true (g_regex_match_simple ("\nmissing: +0 .*\norphans: +0 .*\nunplayable: +0 ", out, 0, 0));

  /* Each check is on record: who asked, whether to repair, and how it ended. */
  started = audit_details (f, "fsck");
  done = audit_details (f, "fsck-done");
  g_assert_cmpuint (started->len, ==, 3);
  g_assert_cmpuint (done->len, ==, 3);
  g_assert_nonnull (strstr (started->pdata[1], "\"repair\":\"true\""));
  g_assert_nonnull (strstr (done->pdata[1], "\"outcome\":\"done\""));
  g_assert_nonnull (strstr (done->pdata[1], "1 adopted, 1 quarantined, 1 rows removed"));
  log = vigil_test_vigild_read_log (f);
  g_assert_nonnull (strstr (log, "fsck started by"));
}

typedef struct {
  Fixture     *f;
  const gchar *text;
} LogWait;

static gboolean
log_has (gpointer data)
{
  LogWait *wait = data;
  g_autofree gchar *log = vigil_test_vigild_read_log (wait->f);

  return strstr (log, wait->text) != NULL;
}

static void
wait_for_log (Fixture *f, const gchar *text)
{
  LogWait wait = { f, text };

  if (!vigil_test_wait_until (log_has, &wait, 60))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("vigild never logged “%s”; its log:\n%s", text, log);
    }
}

/* Enough files that the check takes a while: hard links to one segment,
 * a week old, in one day folder of last month. */
#define N_LINKS 30000

static void
test_fsck_stops_on_ctrl_c (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) first = vigil_test_vigild_get_segment (f, "cam0", 0);
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocess) vigilctl = NULL;
  g_autoptr(GPtrArray) done = NULL;
  g_autofree gchar *source = g_build_filename (f->root, first->path, NULL);
  g_autofree gchar *copy = vigil_segment_path_for ("cam0", G_GINT64_CONSTANT (1793577600) * G_USEC_PER_SEC);
  g_autofree gchar *copy_path = g_build_filename (f->root, copy, NULL);

  plant (f, copy, source, NULL);
  for (guint i = 1; i < N_LINKS; i++)
    {
      g_autofree gchar *relative = vigil_segment_path_for ("cam0", (G_GINT64_CONSTANT (1793577600) + i)
                                                                   * G_USEC_PER_SEC);
      g_autofree gchar *path = g_build_filename (f->root, relative, NULL);

      g_assert_cmpint (link (copy_path, path), ==, 0);
    }

  vigilctl = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDERR_SILENCE, &error,
                               g_getenv ("VIGILCTL"), "--session", "fsck", NULL);
  g_assert_no_error (error);
  wait_for_log (f, "fsck started by");
  g_subprocess_send_signal (vigilctl, SIGINT);
  g_assert_true (g_subprocess_wait (vigilctl, NULL, &error));
  g_assert_true (g_subprocess_get_if_exited (vigilctl));
  g_assert_cmpint (g_subprocess_get_exit_status (vigilctl), ==, 1);

  wait_for_log (f, "left the bus; stopping the check");
  wait_for_log (f, "fsck stopped");
  done = audit_details (f, "fsck-done");
  g_assert_cmpuint (done->len, ==, 1);
  g_assert_nonnull (strstr (done->pdata[0], "\"outcome\":\"cancelled\""));
}

int
main (int argc, char **argv)
{
  int status;

  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", NULL))
    {
      g_test_skip ("GStreamer elements missing");
      return 0;
    }
  bus = g_test_dbus_new (G_TEST_DBUS_NONE);
  g_test_dbus_up (bus);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/e2e/fsck/reports-repairs-and-audits", test_fsck_reports_repairs_and_audits);
  ADD ("/e2e/fsck/stops-on-ctrl-c", test_fsck_stops_on_ctrl_c);
  status = g_test_run ();
  g_test_dbus_down (bus);
  return status;
}
