/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore keeps a true catalog of runs and segments in a real SQLite
 * file: rows survive reopening, span queries and gaps are right, a
 * catalog from a newer vigil is refused rather than damaged; totals are
 * kept as rows come and go, and what start-up and span queries ask is
 * looked up, never scanned for. */
#include <glib/gstdio.h>
#include <sqlite3.h>
#include <string.h>
#include <sys/stat.h>

#include "vigil-store.h"
#include "vigil-test-util.h"

#define S (G_USEC_PER_SEC)
#define T0 (G_GINT64_CONSTANT (1795000000) * S)    /* 2026-11-18, an arbitrary UTC instant */

typedef struct {
  gchar      *dir;
  gchar      *catalog;
  VigilStore *store;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  f->catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_true (vigil_store_add_camera (f->store, "entrance", &error));
  g_assert_no_error (error);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->store);
  g_clear_pointer (&f->catalog, g_free);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Adds and completes a segment [start, end) of @run. */
static gint64
add_complete (Fixture *f, gint64 run, const gchar *path, gint64 start_us, gint64 end_us)
{
  g_autoptr(GError) error = NULL;
  VigilSegment segment = { 0 };

  segment.id = vigil_store_add_segment (f->store, "entrance", run, path, start_us, &error);
  g_assert_no_error (error);
  segment.end_us = end_us;
  segment.media_duration_ns = (end_us - start_us) * 1000;
  segment.size_bytes = 1000;
  segment.frames = 25 * (end_us - start_us) / S;
  segment.keyframes = 1;
  segment.codec = "h264";
  segment.state = VIGIL_SEGMENT_COMPLETE;
  g_assert_true (vigil_store_finish_segment (f->store, &segment, &error));
  g_assert_no_error (error);
  return segment.id;
}

static void
test_store_segment_lifecycle (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) listed = NULL;
  gint64 run = vigil_store_start_run (f->store, "entrance", T0, &error);
  VigilSegment *segment;
  guint64 bytes = 0;

  g_assert_no_error (error);
  g_assert_cmpint (run, >, 0);

  /* A segment being written is not yet part of the recording. */
  g_assert_cmpint (vigil_store_add_segment (f->store, "entrance", run, "entrance/a.mkv", T0, &error), >, 0);
  listed = vigil_store_list_segments (f->store, "entrance", T0 - 100 * S, T0 + 100 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->len, ==, 0);
  g_clear_pointer (&listed, g_ptr_array_unref);

  add_complete (f, run, "entrance/b.mkv", T0 + 10 * S, T0 + 20 * S);
  listed = vigil_store_list_segments (f->store, "entrance", T0, T0 + 15 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->len, ==, 1);
  segment = listed->pdata[0];
  g_assert_cmpstr (segment->path, ==, "entrance/b.mkv");
  g_assert_cmpstr (segment->camera, ==, "entrance");
  g_assert_cmpint (segment->run_id, ==, run);
  g_assert_cmpint (segment->start_us, ==, T0 + 10 * S);
  g_assert_cmpint (segment->end_us, ==, T0 + 20 * S);
  g_assert_cmpuint (segment->frames, ==, 250);
  g_assert_cmpstr (segment->codec, ==, "h264");
  g_assert_cmpint (segment->state, ==, VIGIL_SEGMENT_COMPLETE);

  /* [from, to) is half open: a segment ending at from is not listed. */
  g_clear_pointer (&listed, g_ptr_array_unref);
  listed = vigil_store_list_segments (f->store, "entrance", T0 + 20 * S, T0 + 30 * S, &error);
  g_assert_cmpuint (listed->len, ==, 0);

  g_assert_true (vigil_store_get_camera_bytes (f->store, "entrance", &bytes, &error));
  g_assert_cmpuint (bytes, ==, 1000);

  /* Unknown cameras are an error that names the camera. */
  g_clear_pointer (&listed, g_ptr_array_unref);
  listed = vigil_store_list_segments (f->store, "nosuch", T0, T0 + S, &error);
  g_assert_null (listed);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND);
  g_assert_nonnull (strstr (error->message, "nosuch"));
}

static void
test_store_gaps_carry_the_reason (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) gaps = NULL;
  gint64 run1, run2;
  VigilGap *gap;

  run1 = vigil_store_start_run (f->store, "entrance", T0, &error);
  add_complete (f, run1, "entrance/1.mkv", T0, T0 + 10 * S);
  add_complete (f, run1, "entrance/2.mkv", T0 + 10 * S, T0 + 20 * S);
  g_assert_true (vigil_store_end_run (f->store, run1, T0 + 20 * S, "stalled: no video for 10 s", &error));
  run2 = vigil_store_start_run (f->store, "entrance", T0 + 50 * S, &error);
  add_complete (f, run2, "entrance/3.mkv", T0 + 50 * S, T0 + 60 * S);
  g_assert_no_error (error);

  gaps = vigil_store_list_gaps (f->store, "entrance", T0 - 5 * S, T0 + 70 * S, &error);
  g_assert_no_error (error);
  /* Before the first run, between the runs, after the last segment. */
  g_assert_cmpuint (gaps->len, ==, 3);
  gap = gaps->pdata[1];
  g_assert_cmpint (gap->start_us, ==, T0 + 20 * S);
  g_assert_cmpint (gap->end_us, ==, T0 + 50 * S);
  g_assert_cmpstr (gap->reason, ==, "stalled: no video for 10 s");
  gap = gaps->pdata[0];
  g_assert_cmpint (gap->start_us, ==, T0 - 5 * S);
  g_assert_cmpint (gap->end_us, ==, T0);
  g_assert_cmpstr (gap->reason, ==, VIGIL_GAP_NOT_RECORDING);
  gap = gaps->pdata[2];
  g_assert_cmpint (gap->start_us, ==, T0 + 60 * S);
  g_assert_cmpint (gap->end_us, ==, T0 + 70 * S);
  /* run2 is still on: not the first run's stall. */
  g_assert_cmpstr (gap->reason, ==, VIGIL_GAP_STILL_RECORDING);

  /* A segment gone from inside a run that ended later. */
  g_assert_true (vigil_store_end_run (f->store, run2, T0 + 90 * S, NULL, &error));
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = vigil_store_list_gaps (f->store, "entrance", T0 + 50 * S, T0 + 90 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (gaps->len, ==, 1);
  g_assert_cmpstr (((VigilGap *) gaps->pdata[0])->reason, ==, VIGIL_GAP_NOT_CATALOGED);

  /* Back-to-back segments inside a run are not a gap. */
  g_clear_pointer (&gaps, g_ptr_array_unref);
  gaps = vigil_store_list_gaps (f->store, "entrance", T0, T0 + 20 * S, &error);
  g_assert_cmpuint (gaps->len, ==, 0);
}

static void
test_store_survives_reopen_and_ends_open_runs (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) runs = NULL;
  g_autoptr(GPtrArray) oldest = NULL;
  gint64 run = vigil_store_start_run (f->store, "entrance", T0, &error);
  VigilRun *r;

  add_complete (f, run, "entrance/1.mkv", T0, T0 + 10 * S);
  add_complete (f, run, "entrance/2.mkv", T0 + 10 * S, T0 + 17 * S);
  /* As after kill -9: reopen without ending the run. */
  g_clear_object (&f->store);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);

  g_assert_cmpint (vigil_store_end_open_runs (f->store, "crash", &error), ==, 1);
  g_assert_cmpint (vigil_store_end_open_runs (f->store, "crash", &error), ==, 0);
  runs = vigil_store_list_runs (f->store, "entrance", 10, &error);
  g_assert_cmpuint (runs->len, ==, 1);
  r = runs->pdata[0];
  g_assert_cmpint (r->end_us, ==, T0 + 17 * S);
  g_assert_cmpstr (r->end_reason, ==, "crash");

  oldest = vigil_store_list_oldest_segments (f->store, NULL, 1, &error);
  g_assert_cmpuint (oldest->len, ==, 1);
  g_assert_cmpstr (((VigilSegment *) oldest->pdata[0])->path, ==, "entrance/1.mkv");
}

static void
assert_private (const gchar *path)
{
  GStatBuf st;

  g_assert_cmpint (g_stat (path, &st), ==, 0);
  if ((st.st_mode & 077) != 0)
    g_error ("%s is mode %04o: others may read the catalog", path, (guint) (st.st_mode & 07777));
}

/* Incidents, notes and the audit log are vigild's: the catalog and its
 * WAL files are 0600 whatever the umask, and a catalog an older vigil left
 * readable is narrowed at open. */
static void
test_store_catalog_is_private (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *wal = g_strconcat (f->catalog, "-wal", NULL);
  gint64 run;
  mode_t old_umask;

  run = vigil_store_start_run (f->store, "entrance", T0, &error);
  add_complete (f, run, "entrance/1.mkv", T0, T0 + 10 * S);
  assert_private (f->catalog);
  assert_private (wal);

  /* A clean close removes the WAL; an older vigil killed hard left one. */
  g_clear_object (&f->store);
  g_assert_cmpint (g_chmod (f->catalog, 0644), ==, 0);
  if (!g_file_test (wal, G_FILE_TEST_EXISTS))
    g_assert_true (g_file_set_contents (wal, "", 0, NULL));
  g_assert_cmpint (g_chmod (wal, 0666), ==, 0);
  old_umask = umask (0);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  umask (old_umask);
  g_assert_no_error (error);
  assert_private (f->catalog);
  assert_private (wal);
}

/* The watchdog opens a store of its own on the daemon's catalog, in the
 * same process, while vigilctl or a backup reads it from another. Opening
 * a store must not drop the other store's locks (closing any descriptor
 * of a file drops all this process's POSIX locks on it): another process
 * that sees no lock takes itself for the last user and, closing, removes
 * the WAL under the daemon's feet. */
static void
test_store_second_store_in_process (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *program = g_find_program_in_path ("sqlite3");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = NULL;
  gint64 run = vigil_store_start_run (f->store, "entrance", T0, &error);

  if (program == NULL)
    {
      g_test_skip ("needs the sqlite3 program");
      return;
    }
  g_assert_no_error (error);
  for (guint i = 0; i < 3; i++)
    {
      g_autofree gchar *path = g_strdup_printf ("entrance/%u.mkv", i);
      g_autoptr(VigilStore) watchdog = NULL;
      g_autoptr(GPtrArray) oldest = NULL;

      add_complete (f, run, path, T0 + i * 10 * S, T0 + (i + 1) * 10 * S);
      watchdog = vigil_store_new (f->catalog, f->dir, &error);
      g_assert_no_error (error);
      oldest = vigil_store_list_oldest_segments (watchdog, NULL, 100, &error);
      g_assert_no_error (error);
      g_clear_object (&watchdog);
      g_assert_cmpint (vigil_test_run (&out, "sqlite3", f->catalog, "select count(*) from segments;", NULL), ==, 0);
      g_clear_pointer (&out, g_free);
    }
  /* The daemon's store goes on as if nothing happened. */
  add_complete (f, run, "entrance/last.mkv", T0 + 100 * S, T0 + 110 * S);
  {
    g_autoptr(GPtrArray) oldest = vigil_store_list_oldest_segments (f->store, NULL, 100, &error);
    g_assert_no_error (error);
    g_assert_cmpuint (oldest->len, ==, 4);
  }
}

static void
test_store_refuses_newer_catalog (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) again = NULL;
  sqlite3 *db = NULL;

  g_clear_object (&f->store);
  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_exec (db, "update version set version = 99", NULL, NULL, NULL), ==, SQLITE_OK);
  sqlite3_close (db);

  again = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_null (again);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_VERSION);
  g_assert_nonnull (strstr (error->message, "99"));
}

static void
test_store_rejects_bad_spans (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  VigilSegment segment = { .camera = "entrance", .path = "entrance/x.mkv", .start_us = T0, .end_us = T0 - S,
                           .state = VIGIL_SEGMENT_RECOVERED };

  g_assert_cmpint (vigil_store_adopt_segment (f->store, &segment, &error), ==, 0);
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
  g_clear_error (&error);
  g_assert_null (vigil_store_list_gaps (f->store, "entrance", T0, T0, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID);
}

static gpointer
open_catalog_thread (gpointer data)
{
  const gchar *const *paths = data;   /* catalog, root */
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (paths[0], paths[1], &error);

  return store != NULL ? NULL : g_strdup (error->message);
}

/* vigild creating a new catalog while another process opens it (vigilctl,
 * a backup) must not make either fail: both race to create the schema. */
static void
test_store_concurrent_first_open (Fixture *f, gconstpointer unused)
{
  for (guint round = 0; round < 5; round++)
    {
      g_autofree gchar *catalog = g_strdup_printf ("%s/fresh-%u.db", f->dir, round);
      const gchar *paths[] = { catalog, f->dir };
      GThread *threads[6];

      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        threads[i] = g_thread_new ("open", open_catalog_thread, paths);
      for (guint i = 0; i < G_N_ELEMENTS (threads); i++)
        {
          g_autofree gchar *failure = g_thread_join (threads[i]);
          g_assert_cmpstr (failure, ==, NULL);
        }
    }
}

/* The catalog's own sums, the slow way, to check the running totals. */
static void
sum_segments (Fixture *f, const gchar *camera, guint64 *out_rows, guint64 *out_bytes)
{
  sqlite3 *db = NULL;
  sqlite3_stmt *stmt = NULL;

  g_assert_cmpint (sqlite3_open_v2 (f->catalog, &db, SQLITE_OPEN_READONLY, NULL), ==, SQLITE_OK);
  g_assert_cmpint (sqlite3_prepare_v2 (db, "select count(*), coalesce(sum(size_bytes), 0) from segments s "
                                       "join cameras c on c.id = s.camera_id where ?1 is null or c.name = ?1",
                                       -1, &stmt, NULL), ==, SQLITE_OK);
  sqlite3_bind_text (stmt, 1, camera, -1, SQLITE_STATIC);
  g_assert_cmpint (sqlite3_step (stmt), ==, SQLITE_ROW);
  *out_rows = sqlite3_column_int64 (stmt, 0);
  *out_bytes = sqlite3_column_int64 (stmt, 1);
  sqlite3_finalize (stmt);
  sqlite3_close (db);
}

static void
assert_totals_match (Fixture *f, const gchar *camera)
{
  g_autoptr(GError) error = NULL;
  VigilStoreTotals totals = { 0 };
  guint64 rows = 0, bytes = 0;

  sum_segments (f, camera, &rows, &bytes);
  g_assert_true (vigil_store_get_totals (f->store, camera, &totals, &error));
  g_assert_no_error (error);
  g_assert_cmpuint (totals.segments, ==, rows);
  g_assert_cmpuint (totals.size_bytes, ==, bytes);
}

/* Stored bytes and counts are running totals that follow every row: one
 * opened, finished, adopted, marked for deletion and removed. */
static void
test_store_totals_follow_rows (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  VigilSegment adopted = { .camera = "hall", .path = "hall/x.mkv", .start_us = T0, .end_us = T0 + 5 * S,
                           .size_bytes = 777, .state = VIGIL_SEGMENT_RECOVERED };
  VigilStoreTotals totals = { 0 };
  gint64 run = vigil_store_start_run (f->store, "entrance", T0, &error);
  gint64 first, writing;
  guint64 bytes = 0;

  g_assert_true (vigil_store_add_camera (f->store, "hall", &error));
  first = add_complete (f, run, "entrance/1.mkv", T0, T0 + 10 * S);
  add_complete (f, run, "entrance/2.mkv", T0 + 10 * S, T0 + 20 * S);
  writing = vigil_store_add_segment (f->store, "entrance", run, "entrance/3.mkv", T0 + 20 * S, &error);
  g_assert_cmpint (vigil_store_adopt_segment (f->store, &adopted, &error), >, 0);
  g_assert_no_error (error);
  assert_totals_match (f, "entrance");
  assert_totals_match (f, "hall");
  assert_totals_match (f, NULL);
  g_assert_true (vigil_store_get_totals (f->store, "entrance", &totals, &error));
  g_assert_cmpuint (totals.segments, ==, 3);
  g_assert_cmpuint (totals.size_bytes, ==, 2000);
  g_assert_true (vigil_store_get_camera_bytes (f->store, "hall", &bytes, &error));
  g_assert_cmpuint (bytes, ==, 777);

  g_assert_true (vigil_store_mark_segment_deleting (f->store, first, &error));
  assert_totals_match (f, "entrance");
  g_assert_true (vigil_store_remove_segment (f->store, first, &error));
  g_assert_true (vigil_store_remove_segment (f->store, writing, &error));
  g_assert_no_error (error);
  assert_totals_match (f, "entrance");
  assert_totals_match (f, NULL);
  g_assert_true (vigil_store_get_totals (f->store, NULL, &totals, &error));
  g_assert_cmpuint (totals.segments, ==, 2);
  g_assert_cmpuint (totals.size_bytes, ==, 1777);
  g_assert_false (vigil_store_get_totals (f->store, "nosuch", &totals, &error));
  g_assert_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND);
}

static void
exec_sql (Fixture *f, const gchar *sql)
{
  sqlite3 *db = NULL;
  gchar *message = NULL;

  g_assert_cmpint (sqlite3_open (f->catalog, &db), ==, SQLITE_OK);
  sqlite3_busy_timeout (db, 5000);
  if (sqlite3_exec (db, sql, NULL, NULL, &message) != SQLITE_OK)
    g_error ("%s: %s", sql, message);
  sqlite3_close (db);
}

/* Rows for @n segments of 10 s of camera "entrance" (id 1) starting at T0,
 * in one transaction, as a big archive would hold them. */
static void
generate_segments (Fixture *f, guint n)
{
  g_autofree gchar *sql = g_strdup_printf (
      "begin;"
      "insert into runs (id, camera_id, start_us, end_us, end_reason) values (1000, 1, %" G_GINT64_FORMAT ", "
      "  %" G_GINT64_FORMAT ", 'stopped');"
      "with recursive n(i) as (select 0 union all select i + 1 from n where i < %u - 1) "
      "insert into segments (camera_id, run_id, path, start_us, end_us, media_duration_ns, size_bytes, frames, "
      "  keyframes, codec, state) "
      "select 1, 1000, 'entrance/gen/' || i || '.mkv', %" G_GINT64_FORMAT " + i * 10000000, "
      "  %" G_GINT64_FORMAT " + (i + 1) * 10000000, 10000000000, 1000 + i, 250, 5, 'h264', 'complete' from n;"
      "commit;",
      T0, T0 + (gint64) n * 10 * S, n, T0, T0);

  exec_sql (f, sql);
}

/* A catalog from before the running totals (schema version 4) gains them,
 * right, at its first open; its rows are untouched and found through the
 * new indexes. */
static void
test_store_upgrade_from_version_4 (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) writing = NULL;
  g_autoptr(GPtrArray) listed = NULL;
  gint64 run = vigil_store_start_run (f->store, "entrance", T0, &error);
  g_autofree gchar *out = NULL;

  add_complete (f, run, "entrance/1.mkv", T0, T0 + 10 * S);
  g_assert_true (vigil_store_add_camera (f->store, "hall", &error));
  g_clear_object (&f->store);
  /* Back to version 4, then rows written the way a version-4 vigil would
   * (no triggers to keep totals), one of them still being written, and
   * one a minute long. */
  exec_sql (f, "drop trigger cameras_totals_insert; drop trigger segments_totals_insert; "
               "drop trigger segments_totals_update; drop trigger segments_totals_delete; "
               "drop table camera_totals; drop index segments_in_flight; drop index runs_open; "
               "update version set version = 4");
  generate_segments (f, 500);
  exec_sql (f, "insert into segments (camera_id, path, start_us, end_us, size_bytes, state) values "
               "(2, 'hall/a.mkv', 1795000000000000, 1795000060000000, 5000, 'complete'), "
               "(2, 'hall/b.mkv', 1795000060000000, 1795000060000000, 0, 'writing')");

  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  g_assert_cmpint (vigil_test_run (&out, "sqlite3", f->catalog, "select version from version;", NULL), ==, 0);
  g_assert_cmpstr (g_strstrip (out), ==, "5");
  assert_totals_match (f, "entrance");
  assert_totals_match (f, "hall");
  writing = vigil_store_list_segments_in_state (f->store, VIGIL_SEGMENT_WRITING, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (writing->len, ==, 1);
  g_assert_cmpstr (((VigilSegment *) writing->pdata[0])->path, ==, "hall/b.mkv");
  /* The minute-long segment reaches 50 s into a span starting after it
   * started: the seeded longest span must make the query look back far
   * enough. */
  listed = vigil_store_list_segments (f->store, "hall", T0 + 50 * S, T0 + 51 * S, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (listed->len, ==, 1);
  /* And the totals go on from there. */
  add_complete (f, run, "entrance/2.mkv", T0 + G_GINT64_CONSTANT (5000) * S, T0 + G_GINT64_CONSTANT (5010) * S);
  assert_totals_match (f, "entrance");
}

typedef struct {
  guint64 full_scan_steps, vm_steps;
} Work;

static Work
work_since (Fixture *f, const Work *before)
{
  Work now;

  vigil_store_get_work (f->store, &now.full_scan_steps, &now.vm_steps);
  return (Work) { now.full_scan_steps - before->full_scan_steps, now.vm_steps - before->vm_steps };
}

#define N_GENERATED 20000

/* What start-up and a span query ask of a catalog of 20,000 segments is
 * looked up through indexes and running totals: no full scan of anything
 * but the cameras, and far less work than one step per row. A full scan
 * of the segments table, which each of these once was, costs more than
 * N_GENERATED steps on its own. */
static void
test_store_lookups_read_only_what_they_must (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) listed = NULL;
  g_autoptr(GPtrArray) writing = NULL;
  g_autoptr(GPtrArray) deleting = NULL;
  g_autoptr(VigilSegment) newest = NULL;
  VigilStoreTotals totals;
  gint64 open_run;
  gboolean has = FALSE;
  guint64 bytes = 0;
  Work start, work;

  generate_segments (f, N_GENERATED);
  open_run = vigil_store_start_run (f->store, "entrance", T0 + (gint64) N_GENERATED * 10 * S, &error);
  g_assert_cmpint (vigil_store_add_segment (f->store, "entrance", open_run, "entrance/open.mkv",
                                            T0 + (gint64) N_GENERATED * 10 * S, &error), >, 0);
  g_assert_no_error (error);

  vigil_store_get_work (f->store, &start.full_scan_steps, &start.vm_steps);
  writing = vigil_store_list_segments_in_state (f->store, VIGIL_SEGMENT_WRITING, &error);
  deleting = vigil_store_list_segments_in_state (f->store, VIGIL_SEGMENT_DELETING, &error);
  g_assert_true (vigil_store_get_newest_segment (f->store, "entrance", &newest, &error));
  g_assert_true (vigil_store_has_segment_path (f->store, "entrance/gen/123.mkv", &has, &error));
  g_assert_true (vigil_store_get_camera_bytes (f->store, "entrance", &bytes, &error));
  g_assert_true (vigil_store_get_totals (f->store, NULL, &totals, &error));
  g_assert_cmpint (vigil_store_end_open_runs (f->store, "crash", &error), ==, 1);
  g_assert_no_error (error);
  work = work_since (f, &start);
  g_test_message ("start-up lookups: %" G_GUINT64_FORMAT " full-scan steps, %" G_GUINT64_FORMAT " VM steps",
                  work.full_scan_steps, work.vm_steps);
  g_assert_cmpuint (writing->len, ==, 1);
  g_assert_cmpuint (deleting->len, ==, 0);
  g_assert_cmpstr (newest->path, ==, "entrance/gen/19999.mkv");
  g_assert_true (has);
  g_assert_cmpuint (totals.segments, ==, N_GENERATED + 1);
  g_assert_cmpuint (bytes, ==, (guint64) N_GENERATED * 1000 + (guint64) N_GENERATED * (N_GENERATED - 1) / 2);
  g_assert_cmpuint (work.full_scan_steps, <, 50);
  g_assert_cmpuint (work.vm_steps, <, 2000);

  /* One hour in the middle of the archive: 360 segments, whatever lies
   * before it. */
  vigil_store_get_work (f->store, &start.full_scan_steps, &start.vm_steps);
  listed = vigil_store_list_segments (f->store, "entrance", T0 + G_GINT64_CONSTANT (100000) * S, T0 + G_GINT64_CONSTANT (103600) * S, &error);
  g_assert_no_error (error);
  work = work_since (f, &start);
  g_test_message ("one hour of spans: %" G_GUINT64_FORMAT " full-scan steps, %" G_GUINT64_FORMAT " VM steps",
                  work.full_scan_steps, work.vm_steps);
  g_assert_cmpuint (listed->len, ==, 360);
  g_assert_cmpuint (work.full_scan_steps, <, 50);
  g_assert_cmpuint (work.vm_steps, <, 360 * 100);

  /* The catalog check's rows of one folder: an index range, in strcmp
   * order ("entrance/gen/1..." after "entrance/gen/0..."). */
  {
    g_autoptr(GPtrArray) paths = NULL;
    g_autoptr(GPtrArray) none = NULL;

    vigil_store_get_work (f->store, &start.full_scan_steps, &start.vm_steps);
    paths = vigil_store_list_paths_under (f->store, "entrance/gen/1999", &error);
    none = vigil_store_list_paths_under (f->store, "entrance/nothing/", &error);
    g_assert_no_error (error);
    work = work_since (f, &start);
    g_assert_cmpuint (paths->len, ==, 11);   /* 1999 and 19990 to 19999 */
    g_assert_cmpstr (paths->pdata[0], ==, "entrance/gen/1999.mkv");
    g_assert_cmpstr (paths->pdata[1], ==, "entrance/gen/19990.mkv");
    g_assert_cmpuint (none->len, ==, 0);
    g_assert_cmpuint (work.full_scan_steps, ==, 0);
    g_assert_cmpuint (work.vm_steps, <, 1000);
  }
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/storage/store/segment-lifecycle", test_store_segment_lifecycle);
  ADD ("/storage/store/gaps-carry-the-reason", test_store_gaps_carry_the_reason);
  ADD ("/storage/store/survives-reopen-and-ends-open-runs", test_store_survives_reopen_and_ends_open_runs);
  ADD ("/storage/store/catalog-is-private", test_store_catalog_is_private);
  ADD ("/storage/store/second-store-in-process", test_store_second_store_in_process);
  ADD ("/storage/store/refuses-newer-catalog", test_store_refuses_newer_catalog);
  ADD ("/storage/store/rejects-bad-spans", test_store_rejects_bad_spans);
  ADD ("/storage/store/concurrent-first-open", test_store_concurrent_first_open);
  ADD ("/storage/store/totals-follow-rows", test_store_totals_follow_rows);
  ADD ("/storage/store/lookups-read-only-what-they-must", test_store_lookups_read_only_what_they_must);
  ADD ("/storage/catalog/upgrade-from-4", test_store_upgrade_from_version_4);
  return g_test_run ();
}
