/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The catalog check on a real catalog and real files: it reports rows
 * without files, files without rows and files that do not play, and
 * changes nothing; with repair it removes the rows, adopts the files that
 * play and quarantines the rest, but leaves alone (and says so) what an
 * evidence lock holds, what is being written, and every row when the
 * storage root is empty; a second repair finds nothing more. It can be
 * cancelled, and runs its own thread at idle I/O priority. */
#define _GNU_SOURCE   /* gettid */
#include <errno.h>
#include <glib/gstdio.h>
#include <gst/gst.h>
#include <linux/ioprio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <utime.h>

#include "vigil-fsck.h"
#include "vigil-incidents.h"
#include "vigil-recorder.h"
#include "vigil-recovery.h"
#include "vigil-test-util.h"

#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1793491200) * S)    /* 2026-11-01T00:00:00Z */

typedef struct {
  gchar      *dir;
  gchar      *source;     /* a real segment, a week old, in a hidden folder */
  VigilStore *store;
  gint64      run;
} Fixture;

static void
backdate (const gchar *path, gint64 seconds)
{
  struct utimbuf times;

  times.actime = times.modtime = g_get_real_time () / G_USEC_PER_SEC - seconds;
  g_assert_cmpint (g_utime (path, &times), ==, 0);
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *catalog = NULL;
  g_autofree gchar *folder = NULL;
  g_autofree gchar *pipeline = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "hall", &error));
  f->run = vigil_store_start_run (f->store, "hall", T0, &error);
  g_assert_no_error (error);

  f->source = g_build_filename (f->dir, ".source", "segment.mkv", NULL);
  folder = g_path_get_dirname (f->source);
  g_mkdir_with_parents (folder, 0700);
  pipeline = g_strdup_printf ("videotestsrc num-buffers=20 ! video/x-raw,width=160,height=120,framerate=10/1 "
                              "! x264enc key-int-max=10 ! h264parse ! matroskamux ! filesink location=\"%s\"",
                              f->source);
  vigil_test_run_pipeline (pipeline, 60);
  backdate (f->source, 7 * 86400);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->store);
  g_clear_pointer (&f->source, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static gchar *
absolute (Fixture *f, const gchar *relative)
{
  return g_build_filename (f->dir, relative, NULL);
}

/* A file at the path of a segment of "hall" starting at @start_us: a hard
 * link to the real segment, or @garbage (also a week old). Returns the
 * relative path. */
static gchar *
put_file (Fixture *f, gint64 start_us, const gchar *garbage)
{
  gchar *relative = vigil_segment_path_for ("hall", start_us);
  g_autofree gchar *path = absolute (f, relative);
  g_autofree gchar *folder = g_path_get_dirname (path);

  g_mkdir_with_parents (folder, 0700);
  if (garbage == NULL)
    g_assert_cmpint (link (f->source, path), ==, 0);
  else
    {
      g_assert_true (g_file_set_contents (path, garbage, -1, NULL));
      backdate (path, 7 * 86400);
    }
  return relative;
}

/* A complete row for a 2 s segment starting at @start_us. */
static gchar *
put_row (Fixture *f, gint64 start_us)
{
  g_autoptr(GError) error = NULL;
  gchar *relative = vigil_segment_path_for ("hall", start_us);
  VigilSegment segment = { .camera = "hall", .run_id = f->run, .path = relative, .start_us = start_us,
                           .end_us = start_us + 2 * S, .media_duration_ns = 2 * GST_SECOND, .size_bytes = 1000,
                           .frames = 20, .keyframes = 2, .codec = "h264", .state = VIGIL_SEGMENT_COMPLETE };

  g_assert_cmpint (vigil_store_adopt_segment (f->store, &segment, &error), >, 0);
  g_assert_no_error (error);
  return relative;
}

/* An incident over [from_us, to_us) on "hall": its lock holds that span. */
static void
lock_span (Fixture *f, gint64 from_us, gint64 to_us)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  const gchar *cameras[] = { "hall", NULL };

  incident->title = g_strdup ("evidence");
  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->start_us = from_us;
  incident->end_us = to_us;
  incident->created_us = g_get_real_time ();
  incident->created_uid = 1000;
  incident->created_user = g_strdup ("alice");
  g_assert_cmpint (vigil_store_add_incident (f->store, incident, &error), >, 0);
  g_assert_no_error (error);
}

static gboolean
is_cataloged (Fixture *f, const gchar *relative)
{
  g_autoptr(GError) error = NULL;
  gboolean has = FALSE;

  g_assert_true (vigil_store_has_segment_path (f->store, relative, &has, &error));
  g_assert_no_error (error);
  return has;
}

static const VigilFsckProblem *
find_problem (VigilFsckReport *report, const gchar *relative)
{
  for (guint i = 0; i < report->problems->len; i++)
    if (g_str_equal (((VigilFsckProblem *) report->problems->pdata[i])->path, relative))
      return report->problems->pdata[i];
  g_error ("no problem reported for %s", relative);
}

static VigilFsckReport *
run_fsck (Fixture *f, gboolean repair)
{
  g_autoptr(GError) error = NULL;
  VigilFsckReport *report = vigil_fsck_report_new ();

  g_assert_true (vigil_fsck_run (f->store, repair, NULL, report, &error));
  g_assert_no_error (error);
  return report;
}

static void
test_fsck_reports_then_repairs (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilFsckReport) report = NULL;
  g_autoptr(VigilFsckReport) repaired = NULL;
  g_autoptr(VigilFsckReport) again = NULL;
  g_autofree gchar *sound = NULL, *gone = NULL, *gone_locked = NULL, *bad_row = NULL, *bad_row_locked = NULL;
  g_autofree gchar *orphan = NULL, *bad_orphan = NULL, *young = NULL, *writing = NULL, *stranger = NULL;
  g_autofree gchar *young_path = NULL, *bad_orphan_path = NULL, *bad_row_path = NULL;
  g_autofree gchar *quarantined_orphan = NULL, *quarantined_row = NULL, *bad_row_locked_path = NULL;
  gint64 day = G_GINT64_CONSTANT (86400) * S;
  GLogLevelFlags fatal;

  /* Day 1: a sound segment, a row whose file is gone, a row whose file is
   * garbage; the same two again under an evidence lock on day 2. */
  sound = put_row (f, T0);
  g_free (put_file (f, T0, NULL));
  gone = put_row (f, T0 + 10 * S);
  bad_row = put_row (f, T0 + 20 * S);
  g_free (put_file (f, T0 + 20 * S, "\x1a\x45\xdf\xa3 cut before the first cluster"));
  gone_locked = put_row (f, T0 + day);
  bad_row_locked = put_row (f, T0 + day + 10 * S);
  g_free (put_file (f, T0 + day + 10 * S, ""));
  lock_span (f, T0 + day - 60 * S, T0 + day + 60 * S);
  /* Day 3: files without a row, one that plays and one that does not, one
   * written a moment ago; a row being written; a file not named like a
   * segment. */
  orphan = put_file (f, T0 + 2 * day, NULL);
  bad_orphan = put_file (f, T0 + 2 * day + 10 * S, "not a video");
  young = vigil_segment_path_for ("hall", T0 + 2 * day + 20 * S);
  young_path = absolute (f, young);
  g_assert_true (g_file_set_contents (young_path, "being written", -1, NULL));   /* changed just now */
  writing = vigil_segment_path_for ("hall", T0 + 2 * day + 30 * S);
  g_assert_cmpint (vigil_store_add_segment (f->store, "hall", f->run, writing, T0 + 2 * day + 30 * S, &error), >, 0);
  stranger = g_build_filename ("hall", "2026", "11", "03", "notes.mkv", NULL);
  {
    g_autofree gchar *path = absolute (f, stranger);
    g_assert_true (g_file_set_contents (path, "an operator's file", -1, NULL));
    backdate (path, 86400);
  }

  /* Report only: everything found, nothing changed. */
  report = run_fsck (f, FALSE);
  g_assert_cmpuint (report->rows_checked, ==, 5);
  g_assert_cmpuint (report->files_checked, ==, 6);
  g_assert_cmpuint (report->missing, ==, 2);
  g_assert_cmpuint (report->orphans, ==, 2);
  g_assert_cmpuint (report->unplayable, ==, 3);
  g_assert_cmpuint (report->locked, ==, 2);
  g_assert_cmpuint (report->skipped, ==, 2);
  g_assert_cmpuint (report->adopted + report->quarantined + report->rows_removed, ==, 0);
  g_assert_cmpuint (report->problems->len, ==, 6);
  g_assert_cmpuint (report->found, ==, 6);
  g_assert_cmpuint (report->unresolved, ==, 6);
  g_assert_cmpint (find_problem (report, gone)->kind, ==, VIGIL_FSCK_MISSING);
  g_assert_cmpint (find_problem (report, bad_row)->kind, ==, VIGIL_FSCK_UNPLAYABLE);
  g_assert_nonnull (strstr (find_problem (report, gone_locked)->detail, "evidence lock"));
  g_assert_nonnull (strstr (find_problem (report, bad_row_locked)->detail, "evidence lock"));
  g_assert_cmpint (find_problem (report, orphan)->kind, ==, VIGIL_FSCK_ORPHAN);
  g_assert_cmpint (find_problem (report, bad_orphan)->kind, ==, VIGIL_FSCK_UNPLAYABLE);
  g_assert_true (is_cataloged (f, gone));
  g_assert_true (is_cataloged (f, bad_row));
  g_assert_false (is_cataloged (f, orphan));
  bad_orphan_path = absolute (f, bad_orphan);
  bad_row_path = absolute (f, bad_row);
  g_assert_true (g_file_test (bad_orphan_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (bad_row_path, G_FILE_TEST_EXISTS));

  /* Repair. Each file moved aside is a warning in the log, among messages
   * saying what else it did; warnings are not fatal meanwhile. */
  fatal = g_log_set_always_fatal (G_LOG_FATAL_MASK | G_LOG_LEVEL_CRITICAL);
  repaired = run_fsck (f, TRUE);
  g_log_set_always_fatal (fatal);
  g_assert_cmpuint (repaired->adopted, ==, 1);
  g_assert_cmpuint (repaired->quarantined, ==, 2);
  g_assert_cmpuint (repaired->rows_removed, ==, 2);
  g_assert_cmpuint (repaired->locked, ==, 2);
  g_assert_cmpuint (repaired->found, ==, 6);
  g_assert_cmpuint (repaired->unresolved, ==, 2);
  g_assert_false (is_cataloged (f, gone));
  g_assert_false (is_cataloged (f, bad_row));
  g_assert_true (is_cataloged (f, orphan));
  g_assert_true (is_cataloged (f, gone_locked));
  g_assert_true (is_cataloged (f, bad_row_locked));
  g_assert_true (is_cataloged (f, sound));
  g_assert_true (is_cataloged (f, writing));
  g_assert_false (is_cataloged (f, young));
  g_assert_nonnull (strstr (find_problem (repaired, gone_locked)->detail, "left alone: under an evidence lock"));
  quarantined_orphan = g_build_filename (f->dir, VIGIL_QUARANTINE_FOLDER, bad_orphan, NULL);
  quarantined_row = g_build_filename (f->dir, VIGIL_QUARANTINE_FOLDER, bad_row, NULL);
  bad_row_locked_path = absolute (f, bad_row_locked);
  g_assert_true (g_file_test (quarantined_orphan, G_FILE_TEST_IS_REGULAR));
  g_assert_true (g_file_test (quarantined_row, G_FILE_TEST_IS_REGULAR));
  g_assert_false (g_file_test (bad_orphan_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (bad_row_locked_path, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (young_path, G_FILE_TEST_EXISTS));

  /* Nothing more to do but what the lock holds. */
  again = run_fsck (f, TRUE);
  g_assert_cmpuint (again->missing, ==, 1);
  g_assert_cmpuint (again->unplayable, ==, 1);
  g_assert_cmpuint (again->locked, ==, 2);
  g_assert_cmpuint (again->orphans + again->adopted + again->quarantined + again->rows_removed, ==, 0);
  g_assert_cmpuint (again->unresolved, ==, 2);
}

/* A storage root with nothing in it is a disk that is not mounted: the
 * rows stay, whatever repair says. */
static void
test_fsck_keeps_rows_of_an_empty_root (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilFsckReport) report = NULL;
  g_autofree gchar *row = put_row (f, T0);

  report = run_fsck (f, TRUE);
  g_assert_cmpuint (report->missing, ==, 1);
  g_assert_cmpuint (report->rows_removed, ==, 0);
  g_assert_cmpuint (report->unresolved, ==, 1);
  g_assert_nonnull (strstr (((VigilFsckProblem *) report->problems->pdata[0])->detail, "is its disk mounted?"));
  g_assert_true (is_cataloged (f, row));
}

typedef struct {
  GMainLoop       *loop;
  VigilFsckReport *report;
  GError          *error;
} AsyncWait;

static void
on_fsck_done (GObject *source, GAsyncResult *result, gpointer data)
{
  AsyncWait *wait = data;

  wait->report = vigil_fsck_run_finish (result, &wait->error);
  g_main_loop_quit (wait->loop);
}

/* In its own thread: done, or cancelled between two files. */
static void
test_fsck_runs_in_a_thread_and_cancels (Fixture *f, gconstpointer unused)
{
  g_autoptr(GMainLoop) loop = g_main_loop_new (NULL, FALSE);
  g_autoptr(GCancellable) cancellable = g_cancellable_new ();
  g_autofree gchar *catalog = g_build_filename (f->dir, "catalog.db", NULL);
  AsyncWait wait = { loop };

  for (guint i = 0; i < 20; i++)
    {
      g_free (put_row (f, T0 + i * 2 * S));
      g_free (put_file (f, T0 + i * 2 * S, NULL));
    }
  vigil_fsck_run_async (catalog, f->dir, FALSE, NULL, on_fsck_done, &wait);
  vigil_test_run_loop_or_fail (loop, 60);
  g_assert_no_error (wait.error);
  g_assert_cmpuint (wait.report->rows_checked, ==, 20);
  g_assert_cmpuint (wait.report->problems->len, ==, 0);
  g_clear_pointer (&wait.report, vigil_fsck_report_free);

  g_cancellable_cancel (cancellable);
  vigil_fsck_run_async (catalog, f->dir, TRUE, cancellable, on_fsck_done, &wait);
  vigil_test_run_loop_or_fail (loop, 60);
  g_assert_null (wait.report);
  g_assert_error (wait.error, G_IO_ERROR, G_IO_ERROR_CANCELLED);
  g_clear_error (&wait.error);
}

typedef struct {
  int io_priority;
  int cpu_priority;
} Priorities;

static void
get_priorities (Priorities *out)
{
  out->io_priority = syscall (SYS_ioprio_get, IOPRIO_WHO_PROCESS, 0);
  errno = 0;
  out->cpu_priority = getpriority (PRIO_PROCESS, gettid ());
}

static gpointer
lowered_thread (gpointer data)
{
  vigil_fsck_lower_priority ();
  get_priorities (data);
  return NULL;
}

/* The check's thread reads at idle I/O priority and the lowest CPU
 * priority; the rest of the process (recording) keeps its own. */
static void
test_fsck_lowers_only_its_own_thread (void)
{
  Priorities before, lowered, after;

  get_priorities (&before);
  g_thread_join (g_thread_new ("lowered", lowered_thread, &lowered));
  get_priorities (&after);
  g_assert_cmpint (IOPRIO_PRIO_CLASS (lowered.io_priority), ==, IOPRIO_CLASS_IDLE);
  g_assert_cmpint (lowered.cpu_priority, ==, 19);
  g_assert_cmpint (after.io_priority, ==, before.io_priority);
  g_assert_cmpint (after.cpu_priority, ==, before.cpu_priority);
  g_assert_cmpint (IOPRIO_PRIO_CLASS (after.io_priority), !=, IOPRIO_CLASS_IDLE);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/daemon/fsck/lowers-only-its-own-thread", test_fsck_lowers_only_its_own_thread);
  if (!vigil_test_have_elements ("x264enc", "matroskamux", "parsebin", NULL))
    {
      g_test_skip ("needs x264enc, matroskamux and parsebin");
      return g_test_run ();
    }
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/fsck/reports-then-repairs", test_fsck_reports_then_repairs);
  ADD ("/daemon/fsck/keeps-rows-of-an-empty-root", test_fsck_keeps_rows_of_an_empty_root);
  ADD ("/daemon/fsck/runs-in-a-thread-and-cancels", test_fsck_runs_in_a_thread_and_cancels);
  return g_test_run ();
}
