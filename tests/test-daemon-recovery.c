/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Crash recovery on a real catalog and real files: a segment left
 * 'writing' is probed and kept with its real end, a file without a row is
 * adopted, an unreadable file is quarantined (never deleted), a row whose
 * file never reached the disk is dropped, a half-done deletion is
 * finished, an open run is closed; and running it again changes nothing.
 * On an archive of 20,000 segments and their files it reads only the
 * newest day folder and looks up nothing it need not: a file without a
 * row in an old day folder is left to the catalog check. */
#include <errno.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <string.h>
#include <unistd.h>
#include <utime.h>

#include "vigil-fsck.h"
#include "vigil-recorder.h"
#include "vigil-recovery.h"
#include "vigil-test-util.h"

#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1795000000) * S)    /* 2026-11-18T11:06:40Z */

typedef struct {
  gchar      *dir;
  VigilStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *catalog = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "hall", &error));
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->store);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Writes @seconds of 10 fps H.264 in Matroska at @relative under the root. */
static gchar *
make_segment (Fixture *f, const gchar *relative, guint seconds)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *folder = NULL;
  g_autofree gchar *description = NULL;
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstMessage) message = NULL;
  gchar *path = g_build_filename (f->dir, relative, NULL);

  folder = g_path_get_dirname (path);
  g_mkdir_with_parents (folder, 0700);
  description = g_strdup_printf ("videotestsrc num-buffers=%u ! video/x-raw,width=160,height=120,framerate=10/1 "
                                 "! x264enc key-int-max=10 ! h264parse ! matroskamux ! filesink location=\"%s\"",
                                 seconds * 10, path);
  pipeline = gst_parse_launch (description, &error);
  g_assert_no_error (error);
  bus = gst_element_get_bus (pipeline);
  gst_element_set_state (pipeline, GST_STATE_PLAYING);
  message = gst_bus_timed_pop_filtered (bus, 60 * GST_SECOND, GST_MESSAGE_EOS | GST_MESSAGE_ERROR);
  g_assert_nonnull (message);
  g_assert_cmpint (GST_MESSAGE_TYPE (message), ==, GST_MESSAGE_EOS);
  gst_element_set_state (pipeline, GST_STATE_NULL);
  return path;
}

static void
test_recovery_reconciles_catalog_and_disk (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *writing = make_segment (f, "hall/2026/11/18/20261118T110640.000Z.mkv", 3);
  g_autofree gchar *orphan = make_segment (f, "hall/2026/11/18/20261118T110700.500Z.mkv", 2);
  g_autofree gchar *doomed = make_segment (f, "hall/2026/11/18/20261118T110500.000Z.mkv", 1);
  g_autofree gchar *garbage = g_build_filename (f->dir, "hall/2026/11/18/20261118T110800.000Z.mkv", NULL);
  g_autofree gchar *quarantined = g_build_filename (f->dir, ".quarantine/hall/2026/11/18/20261118T110800.000Z.mkv",
                                                    NULL);
  g_autofree gchar *stranger = g_build_filename (f->dir, "hall/2026/11/18/notes.mkv", NULL);
  g_autoptr(GPtrArray) listed = NULL;
  g_autoptr(GPtrArray) runs = NULL;
  VigilRecoveryReport report;
  VigilSegment deleting = { .camera = "hall", .path = "hall/2026/11/18/20261118T110500.000Z.mkv",
                            .start_us = T0 - 100 * S, .end_us = T0 - 99 * S, .state = VIGIL_SEGMENT_DELETING };
  gint64 run;

  g_assert_true (g_file_set_contents (garbage, "\x1a\x45\xdf\xa3 not really", -1, NULL));
  g_assert_true (g_file_set_contents (stranger, "an operator's file", -1, NULL));
  run = vigil_store_start_run (f->store, "hall", T0, &error);
  g_assert_cmpint (vigil_store_add_segment (f->store, "hall", run, "hall/2026/11/18/20261118T110640.000Z.mkv", T0,
                                            &error), >, 0);
  /* Opened, then the crash came before a byte was written. */
  g_assert_cmpint (vigil_store_add_segment (f->store, "hall", run, "hall/2026/11/18/20261118T110643.000Z.mkv",
                                            T0 + 3 * S, &error), >, 0);
  g_assert_cmpint (vigil_store_adopt_segment (f->store, &deleting, &error), >, 0);
  g_assert_no_error (error);

  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "recovery: *20261118T110800.000Z.mkv is unreadable*");
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_MESSAGE,
                         "recovery: 1 recovered, 1 adopted, 1 quarantined, 1 empty rows dropped, "
                         "1 deletions finished, 1 runs closed after a crash");
  g_assert_true (vigil_recovery_run (f->store, &report, &error));
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_assert_cmpuint (report.recovered, ==, 1);
  g_assert_cmpuint (report.adopted, ==, 1);
  g_assert_cmpuint (report.quarantined, ==, 1);
  g_assert_cmpuint (report.dropped_rows, ==, 1);
  g_assert_cmpuint (report.deleted, ==, 1);
  g_assert_cmpuint (report.runs_closed, ==, 1);

  listed = vigil_store_list_segments (f->store, "hall", T0 - 1000 * S, T0 + 1000 * S, &error);
  g_assert_cmpuint (listed->len, ==, 2);
  {
    const VigilSegment *recovered = listed->pdata[0];
    const VigilSegment *adopted = listed->pdata[1];

    g_assert_cmpint (recovered->state, ==, VIGIL_SEGMENT_RECOVERED);
    g_assert_cmpuint (recovered->frames, ==, 30);
    g_assert_cmpint (recovered->end_us, ==, T0 + 3 * S);
    g_assert_cmpuint (recovered->size_bytes, >, 0);
    g_assert_cmpstr (recovered->codec, ==, "h264");
    g_assert_cmpint (adopted->start_us, ==, T0 + 20 * S + 500000);
    g_assert_cmpuint (adopted->frames, ==, 20);
    g_assert_cmpint (adopted->run_id, ==, 0);
  }
  runs = vigil_store_list_runs (f->store, "hall", 10, &error);
  g_assert_cmpstr (((VigilRun *) runs->pdata[0])->end_reason, ==, "crash");
  g_assert_cmpint (((VigilRun *) runs->pdata[0])->end_us, ==, T0 + 3 * S);
  g_assert_false (g_file_test (doomed, G_FILE_TEST_EXISTS));
  g_assert_false (g_file_test (garbage, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (quarantined, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (stranger, G_FILE_TEST_IS_REGULAR));

  /* Idempotent. */
  g_assert_true (vigil_recovery_run (f->store, &report, &error));
  g_assert_cmpuint (report.recovered + report.adopted + report.quarantined + report.dropped_rows + report.deleted
                    + report.runs_closed, ==, 0);
}

/* The generated archive: N_ARCHIVED segments of camera "hall", 30 s each
 * from 2026-11-01T00:00:00Z (about 7 days, so 7 or 8 day folders), each
 * file a hard link to one real segment (ext4 allows 65,000 links). */
#define N_ARCHIVED      20000
#define ARCHIVE_START   (G_GINT64_CONSTANT (1793491200) * S)
#define ARCHIVE_STEP    (30 * S)
#define ARCHIVED_START(i) (ARCHIVE_START + (gint64) (i) * ARCHIVE_STEP)

static void
backdate (const gchar *path, gint64 seconds)
{
  struct utimbuf times;

  times.actime = times.modtime = g_get_real_time () / G_USEC_PER_SEC - seconds;
  g_assert_cmpint (g_utime (path, &times), ==, 0);
}

static void
link_segment (Fixture *f, const gchar *source, const gchar *relative)
{
  g_autofree gchar *path = g_build_filename (f->dir, relative, NULL);
  g_autofree gchar *folder = g_path_get_dirname (path);

  g_assert_cmpint (g_mkdir_with_parents (folder, 0700), ==, 0);
  if (link (source, path) != 0)
    g_error ("link %s: %s", path, g_strerror (errno));
}

/* Rows in one transaction with the sqlite3 program (as bench/catalog
 * makes its millions), then the files. */
static void
generate_archive (Fixture *f, const gchar *source)
{
  g_autofree gchar *catalog = g_build_filename (f->dir, "catalog.db", NULL);
  g_autofree gchar *sql = NULL;
  GStatBuf st;

  g_assert_cmpint (g_stat (source, &st), ==, 0);
  sql = g_strdup_printf (
      "begin;"
      "insert into runs (id, camera_id, start_us, end_us, end_reason) "
      "  select 100, id, %" G_GINT64_FORMAT ", %" G_GINT64_FORMAT ", 'stopped' from cameras where name = 'hall';"
      "with recursive n(i) as (select 0 union all select i + 1 from n where i < %d - 1) "
      "insert into segments (camera_id, run_id, path, start_us, end_us, media_duration_ns, size_bytes, frames, "
      "  keyframes, codec, state) "
      "select (select id from cameras where name = 'hall'), 100, "
      "  'hall/' || strftime('%%Y/%%m/%%d/%%Y%%m%%dT%%H%%M%%S', %" G_GINT64_FORMAT " + i * 30, 'unixepoch') "
      "  || '.000Z.mkv', %" G_GINT64_FORMAT " + i * 30000000, %" G_GINT64_FORMAT " + (i + 1) * 30000000, "
      "  30000000000, %" G_GINT64_FORMAT ", 300, 30, 'h264', 'complete' from n;"
      "commit;",
      ARCHIVE_START, ARCHIVED_START (N_ARCHIVED), N_ARCHIVED, ARCHIVE_START / S, ARCHIVE_START, ARCHIVE_START,
      (gint64) st.st_size);
  g_assert_cmpint (vigil_test_run (NULL, "sqlite3", catalog, sql, NULL), ==, 0);
  for (guint i = 0; i < N_ARCHIVED; i++)
    {
      g_autofree gchar *relative = vigil_segment_path_for ("hall", ARCHIVED_START (i));
      link_segment (f, source, relative);
    }
}

static void
test_recovery_looks_only_at_what_was_in_flight (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  /* In a hidden folder: neither recovery nor the check looks there. */
  g_autofree gchar *source = make_segment (f, ".source/segment.mkv", 1);
  g_autofree gchar *old_orphan = vigil_segment_path_for ("hall", ARCHIVE_START + G_GINT64_CONSTANT (86400 + 3600 + 15) * S);
  g_autofree gchar *new_orphan = vigil_segment_path_for ("hall", ARCHIVED_START (N_ARCHIVED) + 15 * S);
  g_autofree gchar *new_garbage = vigil_segment_path_for ("hall", ARCHIVED_START (N_ARCHIVED) + 75 * S);
  g_autofree gchar *garbage_path = g_build_filename (f->dir, new_garbage, NULL);
  g_autoptr(VigilSegment) newest = NULL;
  VigilRecoveryReport report;
  gboolean cataloged = TRUE;
  guint64 full_scan_steps = 0;

  /* A week old, as an archive's files are (the check leaves young files
   * without a row alone, as being written). */
  backdate (source, 7 * 86400);
  generate_archive (f, source);
  /* Files whose rows were lost: one in a day folder of last week (only a
   * person copying files in or a lost catalog puts one there), one newer
   * than the newest segment (what a crash leaves), and an unreadable one
   * newer still. */
  link_segment (f, source, old_orphan);
  link_segment (f, source, new_orphan);
  g_assert_true (g_file_set_contents (garbage_path, "\x1a\x45\xdf\xa3 not really", -1, NULL));

  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "recovery: *is unreadable*");
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_MESSAGE, "recovery: 0 recovered, 1 adopted, 1 quarantined,*");
  g_assert_true (vigil_recovery_run (f->store, &report, &error));
  g_test_assert_expected_messages ();
  g_assert_no_error (error);
  g_test_message ("recovery: %u folders read, %u files looked up", report.folders_read, report.files_checked);
  g_assert_cmpuint (report.adopted, ==, 1);
  g_assert_cmpuint (report.quarantined, ==, 1);
  /* The root, the camera, its year, month and newest day: nothing older. */
  g_assert_cmpuint (report.folders_read, <=, 6);
  g_assert_cmpuint (report.files_checked, ==, 2);
  vigil_store_get_work (f->store, &full_scan_steps, NULL);
  g_assert_cmpuint (full_scan_steps, <, 100);

  g_assert_true (vigil_store_has_segment_path (f->store, new_orphan, &cataloged, &error));
  g_assert_true (cataloged);
  g_assert_true (vigil_store_has_segment_path (f->store, old_orphan, &cataloged, &error));
  g_assert_false (cataloged);
  g_assert_true (vigil_store_get_newest_segment (f->store, "hall", &newest, &error));
  g_assert_cmpstr (newest->path, ==, new_orphan);

  /* The explicit check reads everything, and finds the one in last
   * week's folder. */
  {
    g_autoptr(VigilFsckReport) fsck = vigil_fsck_report_new ();
    const VigilFsckProblem *problem;
    gint64 started_us = g_get_monotonic_time ();

    g_assert_true (vigil_fsck_run (f->store, FALSE, NULL, fsck, &error));
    g_assert_no_error (error);
    g_test_message ("fsck over %" G_GUINT64_FORMAT " rows and %" G_GUINT64_FORMAT " files: %.2f s",
                    fsck->rows_checked, fsck->files_checked, (g_get_monotonic_time () - started_us) / 1e6);
    g_assert_cmpuint (fsck->rows_checked, ==, N_ARCHIVED + 1);
    g_assert_cmpuint (fsck->files_checked, ==, N_ARCHIVED + 2);
    g_assert_cmpuint (fsck->orphans, ==, 1);
    g_assert_cmpuint (fsck->missing + fsck->unplayable, ==, 0);
    g_assert_cmpuint (fsck->problems->len, ==, 1);
    problem = fsck->problems->pdata[0];
    g_assert_cmpint (problem->kind, ==, VIGIL_FSCK_ORPHAN);
    g_assert_cmpstr (problem->path, ==, old_orphan);
  }
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (!vigil_test_have_elements ("x264enc", "matroskamux", "parsebin", NULL))
    {
      g_test_skip ("needs x264enc, matroskamux and parsebin");
      return g_test_run ();
    }
  g_test_add ("/daemon/recovery/reconciles-catalog-and-disk", Fixture, NULL, fixture_set_up,
              test_recovery_reconciles_catalog_and_disk, fixture_tear_down);
  g_test_add ("/daemon/recovery/looks-only-at-what-was-in-flight", Fixture, NULL, fixture_set_up,
              test_recovery_looks_only_at_what_was_in_flight, fixture_tear_down);
  return g_test_run ();
}
