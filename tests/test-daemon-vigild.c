/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The real vigild, recording two simulated cameras: SIGTERM finalises and
 * catalogs every open segment within 5 s and exits 0; kill -9 loses
 * nothing, because the next start recovers the interrupted segment (it
 * plays up to its last cluster), adopts files the catalog lacks and
 * quarantines unreadable ones, leaving no row without a file and no file
 * without a row; losing the bus or a SIGHUP stops nothing. */
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <string.h>

#include "vigil-recorder.h"
#include "vigil-simcam.h"
#include "vigil-store.h"
#include "vigil-test-util.h"

#define N_CAMERAS 2

typedef struct {
  gchar       *dir;
  gchar       *root;
  gchar       *catalog;
  gchar       *conf;
  gchar       *log;
  VigilSimcam *simcam;
  GSubprocess *vigild;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) conf = g_string_new (NULL);
  VigilSimcamOptions options = { .n_streams = N_CAMERAS, .width = 320, .height = 240, .fps = 10,
                                 .bitrate_kbps = 300, .gop_frames = 10, .clip_seconds = 4 };

  f->dir = vigil_test_make_tmp_dir ();
  f->root = g_build_filename (f->dir, "recordings", NULL);
  g_mkdir (f->root, 0700);
  f->catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->conf = g_build_filename (f->dir, "vigil.conf", NULL);
  f->log = g_build_filename (f->dir, "vigild.log", NULL);
  f->simcam = vigil_simcam_new (&options, &error);
  g_assert_no_error (error);

  g_string_append_printf (conf, "[storage]\nroot=%s\ncatalog=%s\nsegment_seconds=2\n", f->root, f->catalog);
  for (guint i = 0; i < N_CAMERAS; i++)
    {
      g_autofree gchar *url = vigil_simcam_get_url (f->simcam, i);
      g_string_append_printf (conf, "\n[camera cam%u]\nurl=%s\nstall_seconds=5\n", i, url);
    }
  g_assert_true (g_file_set_contents (f->conf, conf->str, -1, NULL));
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  if (f->vigild != NULL)
    {
      g_subprocess_force_exit (f->vigild);
      g_subprocess_wait (f->vigild, NULL, NULL);
    }
  g_clear_object (&f->vigild);
  g_clear_object (&f->simcam);
  g_free (f->root);
  g_free (f->catalog);
  g_free (f->conf);
  g_free (f->log);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

/* Starts vigild; on the session bus at @bus_address when given. */
static void
start_vigild_on (Fixture *f, const gchar *bus_address)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_NONE);

  g_assert_null (f->vigild);
  /* Appends, so the log of a run killed with -9 stays readable. */
  g_subprocess_launcher_take_stderr_fd (launcher, g_open (f->log, O_WRONLY | O_CREAT | O_APPEND, 0600));
  if (bus_address != NULL)
    {
      g_subprocess_launcher_setenv (launcher, "DBUS_SESSION_BUS_ADDRESS", bus_address, TRUE);
      f->vigild = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("VIGILD"), "--config", f->conf,
                                               "--session", NULL);
    }
  else
    f->vigild = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("VIGILD"), "--config", f->conf, NULL);
  g_assert_no_error (error);
}

static void
start_vigild (Fixture *f)
{
  start_vigild_on (f, NULL);
}

static void
on_vigild_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_subprocess_wait_finish (G_SUBPROCESS (source), result, NULL);
  *(gboolean *) user_data = TRUE;
}

/* Signals vigild and waits for it; returns how long it took, in µs. */
static gint64
signal_and_wait (Fixture *f, int signum)
{
  gboolean exited = FALSE;
  gint64 start_us = g_get_monotonic_time ();

  g_subprocess_wait_async (f->vigild, NULL, on_vigild_exited, &exited);
  g_subprocess_send_signal (f->vigild, signum);
  if (!vigil_test_wait_for (&exited, 30))
    {
      g_autofree gchar *log = NULL;
      g_file_get_contents (f->log, &log, NULL, NULL);
      g_error ("vigild did not exit after signal %d; its log:\n%s", signum, log);
    }
  return g_get_monotonic_time () - start_us;
}

static VigilStore *
open_catalog (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  VigilStore *store = vigil_store_new (f->catalog, f->root, &error);

  g_assert_no_error (error);
  return store;
}

static guint
count_in_state (VigilStore *store, VigilSegmentState state)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) rows = vigil_store_list_segments_in_state (store, state, &error);

  g_assert_no_error (error);
  return rows->len;
}

typedef struct {
  Fixture *f;
  guint    complete;      /* at least this many complete segments */
  gboolean writing_data;  /* and a segment being written with data in it */
} CatalogWait;

static gboolean
catalog_has (gpointer data)
{
  CatalogWait *wait = data;
  g_autoptr(VigilStore) store = NULL;
  g_autoptr(GPtrArray) writing = NULL;

  if (!g_file_test (wait->f->catalog, G_FILE_TEST_EXISTS))
    return FALSE;
  store = open_catalog (wait->f);
  if (count_in_state (store, VIGIL_SEGMENT_COMPLETE) < wait->complete)
    return FALSE;
  if (!wait->writing_data)
    return TRUE;
  writing = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_WRITING, NULL);
  for (guint i = 0; writing != NULL && i < writing->len; i++)
    {
      g_autofree gchar *path = vigil_store_get_absolute_path (store, ((VigilSegment *) writing->pdata[i])->path);
      GStatBuf st;

      /* A cluster or more written: about a second of this camera. */
      if (g_stat (path, &st) == 0 && st.st_size > 20000)
        return TRUE;
    }
  return FALSE;
}

static void
wait_for_catalog (Fixture *f, guint complete, gboolean writing_data)
{
  CatalogWait wait = { f, complete, writing_data };

  if (!vigil_test_wait_until (catalog_has, &wait, 60))
    {
      g_autofree gchar *log = NULL;
      g_file_get_contents (f->log, &log, NULL, NULL);
      g_error ("catalog never reached %u complete segments; vigild's log:\n%s", complete, log);
    }
}

/* Every .mkv under root (quarantine aside), relative. */
static void
list_files (const gchar *root, const gchar *relative, GHashTable *into)
{
  g_autofree gchar *folder = g_build_filename (root, relative, NULL);
  g_autoptr(GDir) dir = g_dir_open (folder, 0, NULL);
  const gchar *name;

  while (dir != NULL && (name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *child = *relative ? g_build_filename (relative, name, NULL) : g_strdup (name);
      g_autofree gchar *path = g_build_filename (root, child, NULL);

      if (name[0] == '.')
        continue;
      if (g_file_test (path, G_FILE_TEST_IS_DIR))
        list_files (root, child, into);
      else if (g_str_has_suffix (name, ".mkv"))
        g_hash_table_add (into, g_steal_pointer (&child));
    }
}

/* No row without its file, no file without its row, every file decodes. */
static void
assert_catalog_matches_disk (Fixture *f, VigilStore *store)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GHashTable) rows = vigil_store_list_paths (store, &error);
  g_autoptr(GHashTable) files = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  GHashTableIter iter;
  gpointer path;

  g_assert_no_error (error);
  list_files (f->root, "", files);
  g_assert_cmpuint (g_hash_table_size (files), >, 0);
  g_hash_table_iter_init (&iter, rows);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    if (!g_hash_table_contains (files, path))
      g_error ("catalog row %s has no file", (gchar *) path);
  g_hash_table_iter_init (&iter, files);
  while (g_hash_table_iter_next (&iter, &path, NULL))
    {
      g_autofree gchar *absolute = g_build_filename (f->root, path, NULL);

      if (!g_hash_table_contains (rows, path))
        g_error ("file %s is not in the catalog", (gchar *) path);
      g_assert_cmpint (vigil_test_decode_file (absolute, &error), >, 0);
      g_assert_no_error (error);
    }
}

static void
test_vigild_sigterm_catalogs_open_segments (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilStore) store = NULL;
  g_autoptr(GError) error = NULL;
  gint64 took_us;

  start_vigild (f);
  wait_for_catalog (f, 2 * N_CAMERAS, TRUE);
  took_us = signal_and_wait (f, SIGTERM);
  g_test_message ("SIGTERM to exit: %.2f s", took_us / 1e6);
  g_assert_true (g_subprocess_get_if_exited (f->vigild));
  g_assert_cmpint (g_subprocess_get_exit_status (f->vigild), ==, 0);
  g_assert_cmpint (took_us, <, 5 * G_USEC_PER_SEC);

  store = open_catalog (f);
  g_assert_cmpuint (count_in_state (store, VIGIL_SEGMENT_WRITING), ==, 0);
  for (guint i = 0; i < N_CAMERAS; i++)
    {
      g_autofree gchar *camera = g_strdup_printf ("cam%u", i);
      g_autoptr(GPtrArray) runs = vigil_store_list_runs (store, camera, 10, &error);

      g_assert_no_error (error);
      g_assert_cmpuint (runs->len, ==, 1);
      g_assert_cmpstr (((VigilRun *) runs->pdata[0])->end_reason, ==, "stopped");
    }
  assert_catalog_matches_disk (f, store);
}

static void
test_vigild_recovers_after_kill_9 (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilStore) store = NULL;
  g_autoptr(GPtrArray) interrupted = NULL;
  g_autoptr(GPtrArray) runs = NULL;
  g_autoptr(GPtrArray) complete = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *garbage = NULL;
  g_autofree gchar *garbage_folder = NULL;
  g_autofree gchar *orphan_folder = NULL;
  g_autofree gchar *quarantined = NULL;
  g_autofree gchar *orphan = NULL;
  g_autofree gchar *orphan_source = NULL;
  g_autofree gchar *orphan_data = NULL;
  g_autofree gchar *orphan_relative = NULL;
  g_autofree gchar *garbage_relative = NULL;
  gint64 orphan_start_us = 0, garbage_start_us = 0;
  gsize orphan_len;
  const VigilSegment *segment;

  start_vigild (f);
  wait_for_catalog (f, 2 * N_CAMERAS, TRUE);
  signal_and_wait (f, SIGKILL);
  g_clear_object (&f->vigild);

  store = open_catalog (f);
  interrupted = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_WRITING, &error);
  g_assert_cmpuint (interrupted->len, >=, 1);

  /* A copy of a complete segment under a name the catalog does not know
   * (as if its row was lost), and garbage under a segment's name. Both
   * are newer than their camera's newest segment (the one interrupted),
   * where a crash leaves such files and where recovery looks for them;
   * ten minutes later, so that the next run's segments do not overlap. */
  complete = vigil_store_list_segments_in_state (store, VIGIL_SEGMENT_COMPLETE, &error);
  segment = complete->pdata[0];
  orphan_source = vigil_store_get_absolute_path (store, segment->path);
  g_assert_true (g_file_get_contents (orphan_source, &orphan_data, &orphan_len, NULL));
  for (guint i = 0; i < interrupted->len; i++)
    {
      const VigilSegment *was = interrupted->pdata[i];

      if (g_str_equal (was->camera, "cam0"))
        orphan_start_us = was->start_us + 600 * G_USEC_PER_SEC;
      else
        garbage_start_us = was->start_us + 600 * G_USEC_PER_SEC;
    }
  g_assert_cmpint (orphan_start_us, >, 0);
  g_assert_cmpint (garbage_start_us, >, 0);
  orphan_relative = vigil_segment_path_for ("cam0", orphan_start_us);
  garbage_relative = vigil_segment_path_for ("cam1", garbage_start_us);
  orphan = g_build_filename (f->root, orphan_relative, NULL);
  garbage = g_build_filename (f->root, garbage_relative, NULL);
  garbage_folder = g_path_get_dirname (garbage);
  orphan_folder = g_path_get_dirname (orphan);
  g_mkdir_with_parents (garbage_folder, 0700);
  g_mkdir_with_parents (orphan_folder, 0700);
  g_assert_true (g_file_set_contents (orphan, orphan_data, orphan_len, NULL));
  g_assert_true (g_file_set_contents (garbage, "not a video at all", -1, NULL));
  g_clear_object (&store);

  /* Restart: recovery runs before recording resumes. */
  start_vigild (f);
  wait_for_catalog (f, 4 * N_CAMERAS, FALSE);
  g_assert_cmpint (signal_and_wait (f, SIGTERM), <, 5 * G_USEC_PER_SEC);
  g_assert_cmpint (g_subprocess_get_exit_status (f->vigild), ==, 0);

  store = open_catalog (f);
  for (guint i = 0; i < interrupted->len; i++)
    {
      const VigilSegment *was = interrupted->pdata[i];
      g_autoptr(GPtrArray) now = vigil_store_list_segments (store, was->camera, was->start_us,
                                                            was->start_us + 1, &error);
      const VigilSegment *recovered;
      g_autofree gchar *path = NULL;

      g_assert_no_error (error);
      g_assert_cmpuint (now->len, ==, 1);
      recovered = now->pdata[0];
      g_assert_cmpstr (recovered->path, ==, was->path);
      g_assert_cmpint (recovered->state, ==, VIGIL_SEGMENT_RECOVERED);
      g_assert_cmpuint (recovered->frames, >, 0);
      g_assert_cmpint (recovered->end_us, >, recovered->start_us);
      path = vigil_store_get_absolute_path (store, recovered->path);
      g_assert_cmpint (vigil_test_decode_file (path, &error), ==, (gint64) recovered->frames);
      g_assert_no_error (error);
    }
  runs = vigil_store_list_runs (store, "cam0", 10, &error);
  g_assert_cmpuint (runs->len, ==, 2);
  g_assert_cmpstr (((VigilRun *) runs->pdata[1])->end_reason, ==, "crash");
  g_assert_cmpstr (((VigilRun *) runs->pdata[0])->end_reason, ==, "stopped");

  /* The orphan is adopted with the start its name gives; the garbage
   * is moved aside, not deleted. */
  {
    g_autoptr(GPtrArray) adopted = vigil_store_list_segments (store, "cam0", orphan_start_us, orphan_start_us + 1,
                                                              &error);
    g_assert_cmpuint (adopted->len, ==, 1);
    g_assert_cmpstr (((VigilSegment *) adopted->pdata[0])->path, ==, orphan_relative);
    g_assert_cmpint (((VigilSegment *) adopted->pdata[0])->frames, ==, segment->frames);
  }
  quarantined = g_build_filename (f->root, ".quarantine", garbage_relative, NULL);
  g_assert_false (g_file_test (garbage, G_FILE_TEST_EXISTS));
  g_assert_true (g_file_test (quarantined, G_FILE_TEST_IS_REGULAR));

  assert_catalog_matches_disk (f, store);
}

/* A private bus daemon listening at @socket_path (a fixed address, so a
 * restarted one is found where the old one was). */
static GSubprocess *
start_bus (const gchar *socket_path)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *listen = g_strdup_printf ("--address=unix:path=%s", socket_path);
  GSubprocess *bus;

  g_unlink (socket_path);
  bus = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE, &error, "dbus-daemon", "--session", "--nofork",
                          "--nopidfile", "--nosyslog", listen, NULL);
  g_assert_no_error (error);
  return bus;
}

typedef struct {
  const gchar *address;
  gboolean     owned;      /* wait until the name is owned (TRUE) */
} NameWait;

static gboolean
vigild_name_owned (gpointer data)
{
  NameWait *wait = data;
  g_autoptr(GDBusConnection) connection = NULL;
  g_autoptr(GVariant) reply = NULL;
  gboolean owned = FALSE;

  connection = g_dbus_connection_new_for_address_sync (wait->address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                       | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, NULL);
  if (connection != NULL)
    reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                         "org.freedesktop.DBus", "NameHasOwner",
                                         g_variant_new ("(s)", "org.vigil.Vigil1"), G_VARIANT_TYPE ("(b)"),
                                         G_DBUS_CALL_FLAGS_NONE, 5000, NULL, NULL);
  if (reply != NULL)
    g_variant_get (reply, "(b)", &owned);
  if (connection != NULL)
    g_dbus_connection_close_sync (connection, NULL, NULL);
  return owned == wait->owned;
}

static guint
count_complete (Fixture *f)
{
  g_autoptr(VigilStore) store = open_catalog (f);

  return count_in_state (store, VIGIL_SEGMENT_COMPLETE);
}

static void
fail_with_log (Fixture *f, const gchar *what)
{
  g_autofree gchar *log = NULL;

  g_file_get_contents (f->log, &log, NULL, NULL);
  g_error ("%s; vigild's log:\n%s", what, log);
}

/* The bus going away (killed, restarted) never stops recording: vigild
 * keeps cataloging segments without it, reconnects and owns its name again
 * when it is back. SIGHUP and SIGUSR1 do not end it either; SIGTERM still
 * stops it cleanly, with exit status 0. */
static void
test_vigild_outlives_its_bus_and_signals (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *program = g_find_program_in_path ("dbus-daemon");
  g_autofree gchar *socket_path = g_build_filename (f->dir, "bus", NULL);
  g_autofree gchar *address = g_strdup_printf ("unix:path=%s", socket_path);
  g_autoptr(GSubprocess) bus = NULL;
  g_autofree gchar *log = NULL;
  NameWait owned = { address, TRUE };
  guint before;

  if (program == NULL)
    {
      g_test_skip ("needs dbus-daemon");
      return;
    }
  bus = start_bus (socket_path);
  start_vigild_on (f, address);
  if (!vigil_test_wait_until (vigild_name_owned, &owned, 60))
    fail_with_log (f, "vigild never owned its name");
  wait_for_catalog (f, N_CAMERAS, FALSE);

  g_subprocess_force_exit (bus);
  g_assert_true (g_subprocess_wait (bus, NULL, NULL));
  g_clear_object (&bus);
  before = count_complete (f);
  wait_for_catalog (f, before + 2 * N_CAMERAS, FALSE);
  if (g_subprocess_get_identifier (f->vigild) == NULL)
    fail_with_log (f, "vigild ended with its bus");

  bus = start_bus (socket_path);
  if (!vigil_test_wait_until (vigild_name_owned, &owned, 90))
    fail_with_log (f, "vigild never owned its name again after the bus came back");

  g_subprocess_send_signal (f->vigild, SIGHUP);
  g_subprocess_send_signal (f->vigild, SIGUSR1);
  g_subprocess_send_signal (f->vigild, SIGUSR2);
  before = count_complete (f);
  wait_for_catalog (f, before + N_CAMERAS, FALSE);
  if (g_subprocess_get_identifier (f->vigild) == NULL)
    fail_with_log (f, "vigild ended on SIGHUP or SIGUSR1");

  signal_and_wait (f, SIGTERM);
  g_assert_true (g_subprocess_get_if_exited (f->vigild));
  g_assert_cmpint (g_subprocess_get_exit_status (f->vigild), ==, 0);
  g_assert_true (g_file_get_contents (f->log, &log, NULL, NULL));
  g_assert_nonnull (strstr (log, "lost the session bus"));
  g_assert_nonnull (strstr (log, "SIGHUP: re-reading the configuration is not supported yet"));
  g_subprocess_force_exit (bus);
  g_subprocess_wait (bus, NULL, NULL);
}

int
main (int argc, char **argv)
{
  gst_init (&argc, &argv);
  g_test_init (&argc, &argv, NULL);
  if (!vigil_test_have_elements ("rtspsrc", "splitmuxsink", "matroskamux", "x264enc", "avdec_h264", NULL))
    {
      g_test_skip ("needs rtspsrc, splitmuxsink, matroskamux, x264enc and avdec_h264");
      return g_test_run ();
    }
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/vigild/outlives-its-bus-and-signals", test_vigild_outlives_its_bus_and_signals);
  ADD ("/daemon/vigild/sigterm-catalogs-open-segments", test_vigild_sigterm_catalogs_open_segments);
  ADD ("/daemon/vigild/recovers-after-kill-9", test_vigild_recovers_after_kill_9);
  return g_test_run ();
}
