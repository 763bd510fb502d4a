/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The real vigild for end-to-end tests; see vigil-test-vigild.h. */
#include "vigil-test-vigild.h"

#include <fcntl.h>
#include <glib/gstdio.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>

#include "vigil-test-util.h"

static void
on_segment_completed (VigilDBusManager *manager, const gchar *camera, gint64 start_us, gint64 end_us,
                      guint64 size_bytes, VigilTestVigild *f)
{
  f->segments_completed++;
}

static void
on_name_appeared (GDBusConnection *connection, const gchar *name, const gchar *owner, gpointer user_data)
{
  *(gboolean *) user_data = TRUE;
}

gchar *
vigil_test_vigild_read_log (VigilTestVigild *f)
{
  gchar *log = NULL;

  if (!g_file_get_contents (f->log, &log, NULL, NULL))
    log = g_strdup ("(no log)");
  return log;
}

static GDBusConnection *
connect_to (const gchar *address)
{
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection;

  connection = g_dbus_connection_new_for_address_sync (address,
                                                       G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                                       | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                                       NULL, NULL, &error);
  g_assert_no_error (error);
  return connection;
}

void
vigil_test_vigild_set_up (VigilTestVigild *f, GTestDBus *bus, const VigilSimcamOptions *options,
                          guint segment_seconds, const gchar *storage_extra, const gchar *camera_extra,
                          const gchar *extra)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GString) conf = g_string_new (NULL);
  g_autofree gchar *state = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  f->root = g_build_filename (f->dir, "recordings", NULL);
  f->out = g_build_filename (f->dir, "out", NULL);
  state = g_build_filename (f->dir, "state", NULL);
  g_mkdir (f->root, 0700);
  g_mkdir (f->out, 0700);
  /* Catalog and key in a state folder of their own: exports may not go there. */
  g_mkdir (state, 0700);
  f->catalog = g_build_filename (state, "catalog.db", NULL);
  f->conf = g_build_filename (f->dir, "vigil.conf", NULL);
  f->log = g_build_filename (f->dir, "vigild.log", NULL);
  if (options != NULL)
    {
      f->simcam = vigil_simcam_new (options, &error);
      g_assert_no_error (error);
    }
  g_string_append_printf (conf, "[storage]\nroot=%s\ncatalog=%s\nsegment_seconds=%u\n%s\n", f->root, f->catalog,
                          segment_seconds, storage_extra ? storage_extra : "");
  for (guint i = 0; options != NULL && i < MAX (options->n_streams, 1); i++)
    {
      g_autofree gchar *url = vigil_simcam_get_url (f->simcam, i);
      g_string_append_printf (conf, "[camera cam%u]\nurl=%s\n%s\n", i, url, camera_extra ? camera_extra : "");
    }
  g_string_append (conf, extra ? extra : "");
  g_assert_true (g_file_set_contents (f->conf, conf->str, -1, NULL));
  if (bus != NULL)
    f->connection = connect_to (g_test_dbus_get_bus_address (bus));
}

void
vigil_test_vigild_use_system_bus (VigilTestVigild *f, const gchar *address)
{
  g_assert_null (f->connection);
  f->system_bus = g_strdup (address);
  f->connection = connect_to (address);
}

/* When vigild does not answer, its threads' stacks say where it is stuck
 * (gdb is a developer tool: without it, only the log is shown). */
static gchar *
vigild_stacks (VigilTestVigild *f)
{
  g_autoptr(GSubprocess) gdb = NULL;
  const gchar *pid = g_subprocess_get_identifier (f->vigild);
  gchar *out = NULL;

  if (pid == NULL || !g_file_test ("/usr/bin/gdb", G_FILE_TEST_IS_EXECUTABLE))
    return g_strdup ("(vigild has exited, or gdb is not installed)");
  gdb = g_subprocess_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_MERGE, NULL, "/usr/bin/gdb",
                          "-batch", "-p", pid, "-ex", "thread apply all bt", NULL);
  if (gdb == NULL || !g_subprocess_communicate_utf8 (gdb, NULL, NULL, &out, NULL, NULL))
    return g_strdup ("(gdb failed)");
  return out;
}

/* In the child: vigild ends when the test does, failed or not. */
static void
end_with_the_test (gpointer unused)
{
  prctl (PR_SET_PDEATHSIG, SIGTERM);
}

/* Replaces "KEY=@old\n" in the config by "KEY=@new\n". */
static void
replace_config_path (VigilTestVigild *f, const gchar *key, const gchar *old, const gchar *new)
{
  g_autofree gchar *conf = NULL;
  g_autofree gchar *from = g_strdup_printf ("%s=%s\n", key, old);
  g_autofree gchar *to = g_strdup_printf ("%s=%s\n", key, new);
  g_auto(GStrv) parts = NULL;
  g_autofree gchar *all = NULL;

  g_assert_true (g_file_get_contents (f->conf, &conf, NULL, NULL));
  parts = g_strsplit (conf, from, 2);
  g_assert_cmpuint (g_strv_length (parts), ==, 2);
  all = g_strjoinv (to, parts);
  g_assert_true (g_file_set_contents (f->conf, all, -1, NULL));
}

gboolean
vigil_test_vigild_use_small_disk (VigilTestVigild *f, guint size_mib)
{
  g_autofree gchar *disk = g_build_filename (f->dir, "disk", NULL);
  g_autofree gchar *root = NULL;
  g_autofree gchar *state = NULL;
  g_autofree gchar *catalog = NULL;

  g_assert_null (f->disk);
  g_assert_cmpint (g_mkdir (disk, 0700), ==, 0);
  if (!vigil_test_mount_tmpfs (disk, size_mib))
    return FALSE;
  f->disk = g_steal_pointer (&disk);
  root = g_build_filename (f->disk, "recordings", NULL);
  state = g_build_filename (f->disk, "state", NULL);
  catalog = g_build_filename (state, "catalog.db", NULL);
  g_assert_cmpint (g_mkdir (root, 0700), ==, 0);
  g_assert_cmpint (g_mkdir (state, 0700), ==, 0);
  replace_config_path (f, "root", f->root, root);
  replace_config_path (f, "catalog", f->catalog, catalog);
  g_free (f->root);
  f->root = g_steal_pointer (&root);
  g_free (f->catalog);
  f->catalog = g_steal_pointer (&catalog);
  return TRUE;
}

void
vigil_test_vigild_append_config (VigilTestVigild *f, const gchar *text)
{
  g_autofree gchar *conf = NULL;
  g_autofree gchar *all = NULL;

  g_assert_true (g_file_get_contents (f->conf, &conf, NULL, NULL));
  all = g_strconcat (conf, text, NULL);
  g_assert_true (g_file_set_contents (f->conf, all, -1, NULL));
}

void
vigil_test_vigild_setenv (VigilTestVigild *f, const gchar *name, const gchar *value)
{
  if (f->env == NULL)
    f->env = g_ptr_array_new_with_free_func (g_free);
  g_ptr_array_add (f->env, g_strdup (name));
  g_ptr_array_add (f->env, g_strdup (value));
}

void
vigil_test_vigild_start (VigilTestVigild *f)
{
  g_autoptr(GError) error = NULL;
  /* Not on the test's stdout: a test that fails would otherwise leave
   * meson waiting for vigild to close the TAP pipe until the timeout. */
  g_autoptr(GSubprocessLauncher) launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE);
  gboolean appeared = FALSE;
  guint watch;

  watch = g_bus_watch_name_on_connection (f->connection, "org.vigil.Vigil1", G_BUS_NAME_WATCHER_FLAGS_NONE,
                                          on_name_appeared, NULL, &appeared, NULL);
  g_subprocess_launcher_take_stderr_fd (launcher, g_open (f->log, O_WRONLY | O_CREAT | O_APPEND, 0600));
  g_subprocess_launcher_set_child_setup (launcher, end_with_the_test, NULL, NULL);
  for (guint i = 0; f->env != NULL && i + 1 < f->env->len; i += 2)
    g_subprocess_launcher_setenv (launcher, f->env->pdata[i], f->env->pdata[i + 1], TRUE);
  if (f->system_bus != NULL)
    {
      g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", f->system_bus, TRUE);
      f->vigild = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("VIGILD"), "--verbose", "--config",
                                               f->conf, NULL);
    }
  else
    f->vigild = g_subprocess_launcher_spawn (launcher, &error, g_getenv ("VIGILD"), "--session", "--verbose",
                                             "--config", f->conf, NULL);
  g_assert_no_error (error);
  if (!vigil_test_wait_for (&appeared, 120))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_autofree gchar *stacks = vigild_stacks (f);
      g_error ("vigild never took its bus name; its log:\n%s\nits threads:\n%s", log, stacks);
    }
  g_bus_unwatch_name (watch);
  f->manager = vigil_dbus_manager_proxy_new_sync (f->connection, G_DBUS_PROXY_FLAGS_NONE, "org.vigil.Vigil1",
                                                  "/org/vigil/Vigil1", NULL, &error);
  g_assert_no_error (error);
  g_signal_connect (f->manager, "segment-completed", G_CALLBACK (on_segment_completed), f);
}

void
vigil_test_vigild_tear_down (VigilTestVigild *f)
{
  if (f->dir == NULL)
    return;     /* the test skipped before setting up */
  /* The waits they point to lived on the test's stack. */
  for (guint i = 0; f->alert_watches != NULL && i < f->alert_watches->len; i++)
    g_signal_handler_disconnect (f->manager, g_array_index (f->alert_watches, gulong, i));
  g_clear_pointer (&f->alert_watches, g_array_unref);
  g_clear_pointer (&f->env, g_ptr_array_unref);
  g_clear_pointer (&f->system_bus, g_free);
  if (f->vigild != NULL)
    {
      g_subprocess_send_signal (f->vigild, SIGTERM);
      g_subprocess_wait (f->vigild, NULL, NULL);
      if (g_test_failed ())
        {
          g_autofree gchar *log = vigil_test_vigild_read_log (f);
          g_printerr ("vigild's log:\n%s", log);
        }
    }
  g_clear_object (&f->vigild);
  g_clear_object (&f->manager);
  g_clear_object (&f->connection);
  g_clear_object (&f->simcam);
  /* Tests that need a small or read-only file system mount a tmpfs on
   * these; nothing else is mounted there. */
  umount2 (f->out, MNT_DETACH);
  umount2 (f->root, MNT_DETACH);
  if (f->disk != NULL)
    umount2 (f->disk, MNT_DETACH);
  g_clear_pointer (&f->disk, g_free);
  g_free (f->root);
  g_free (f->catalog);
  g_free (f->conf);
  g_free (f->log);
  g_free (f->out);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

typedef struct {
  VigilTestVigild *f;
  guint            target;
} SegmentWait;

static gboolean
segments_reached (gpointer data)
{
  SegmentWait *wait = data;
  return wait->f->segments_completed >= wait->target;
}

void
vigil_test_vigild_wait_for_segments (VigilTestVigild *f, guint n)
{
  SegmentWait wait = { f, f->segments_completed + n };

  if (!vigil_test_wait_until (segments_reached, &wait, 60))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("no %u more segments within 60 s; vigild's log:\n%s", n, log);
    }
}

VigilSegment *
vigil_test_vigild_get_segment (VigilTestVigild *f, const gchar *camera, guint n)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilStore) store = vigil_store_new (f->catalog, f->root, &error);
  g_autoptr(GPtrArray) segments = NULL;

  g_assert_no_error (error);
  segments = vigil_store_list_segments (store, camera, 0, G_MAXINT64, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (segments->len, >, n);
  return vigil_segment_copy (segments->pdata[n]);
}

static void
on_alert_signal (VigilDBusManager *manager, GVariant *alert, VigilTestAlertWait *wait)
{
  const gchar *kind, *subject, *details;
  gint64 raised_us, cleared_us;

  g_variant_get (alert, "(t&s&s&sxx&s)", NULL, &kind, NULL, &subject, &raised_us, &cleared_us, &details);
  if (g_str_equal (kind, wait->kind) && g_strcmp0 (subject, wait->subject) == 0)
    {
      wait->seen = TRUE;
      wait->raised_us = raised_us;
      wait->cleared_us = cleared_us;
      g_strlcpy (wait->details, details, sizeof wait->details);
    }
}

void
vigil_test_vigild_watch_alert (VigilTestVigild *f, VigilTestAlertWait *wait)
{
  g_assert_nonnull (f->manager);
  if (wait->handler != 0)
    return;
  if (f->alert_watches == NULL)
    f->alert_watches = g_array_new (FALSE, FALSE, sizeof (gulong));
  wait->handler = g_signal_connect (f->manager, wait->cleared ? "alert-cleared" : "alert-raised",
                                    G_CALLBACK (on_alert_signal), wait);
  g_array_append_val (f->alert_watches, wait->handler);
}

void
vigil_test_vigild_wait_for_alert (VigilTestVigild *f, VigilTestAlertWait *wait, guint timeout_s)
{
  vigil_test_vigild_watch_alert (f, wait);
  if (!vigil_test_wait_for (&wait->seen, timeout_s))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (f);
      g_error ("no %s %s alert for %s within %u s; vigild's log:\n%s", wait->cleared ? "cleared" : "raised",
               wait->kind, wait->subject, timeout_s, log);
    }
  for (guint i = 0; i < f->alert_watches->len; i++)
    if (g_array_index (f->alert_watches, gulong, i) == wait->handler)
      {
        g_array_remove_index_fast (f->alert_watches, i);
        break;
      }
  g_signal_handler_disconnect (f->manager, wait->handler);
  wait->handler = 0;
}

gint
vigil_test_run_vigilctl (const gchar *bus_address, gchar **out_stdout, gchar **out_stderr, const gchar *first, ...)
{
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  const gchar *env[] = { "DBUS_SESSION_BUS_ADDRESS", bus_address, NULL };
  g_autofree gchar *ignored = NULL;
  const gchar *arg;
  va_list args;

  g_ptr_array_add (argv, (gpointer) g_getenv ("VIGILCTL"));
  g_ptr_array_add (argv, (gpointer) first);
  va_start (args, first);
  while ((arg = va_arg (args, const gchar *)) != NULL)
    g_ptr_array_add (argv, (gpointer) arg);
  va_end (args);
  g_ptr_array_add (argv, NULL);
  /* stderr apart from stdout, whether or not the caller wants it. */
  return vigil_test_run_argv ((const gchar *const *) argv->pdata, bus_address != NULL ? env : NULL, out_stdout,
                              out_stderr != NULL ? out_stderr : &ignored);
}

GUnixFDList *
vigil_test_open_destination (const gchar *path)
{
  int fd = g_open (path, O_RDONLY | O_CLOEXEC, 0);

  g_assert_cmpint (fd, >=, 0);
  return g_unix_fd_list_new_from_array (&fd, 1);   /* takes fd */
}
