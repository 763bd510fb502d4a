/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Exports asked for by an unprivileged local user, end to end: the real
 * vigild runs as root (as these tests do) on a system-like bus with the
 * real polkitd (tests/vigil-test-polkit.h), and vigilctl runs as a
 * supervisor (a user in vigil-supervisors, which may export; setpriv),
 * exporting into a folder that user owns. The user then does what issue 12 showed was
 * enough to take root: driven by inotify, the test renames vigild's work
 * folder aside the moment it appears and puts a link to a root-only
 * folder in its place; and before an export, it plants a dangling link
 * and a file of its own at the names the bundle would take. The root-only
 * folder must keep its one file, owner, mode and bytes; the export either
 * completes where it belongs (and verifies) or fails with an error; and a
 * folder the user cannot write into is refused with vigild's fixed
 * message. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib-unix.h>
#include <glib/gstdio.h>
#include <pwd.h>
#include <signal.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-simcam.h"
#include "vigil-store.h"
#include "vigil-test-polkit.h"
#include "vigil-test-util.h"
#include "vigil-test-vigild.h"

#define S (G_GINT64_CONSTANT (1000000))
/* The exporting user: a supervisor, gid = uid. */
#define CALLER VIGIL_TEST_SUPERVISOR_UID
#define SETPRIV "/usr/bin/setpriv"
#define SECRET "root only\n"
#define NOT_YOURS "cannot use the destination: not an existing folder that you can write to"

/* Why every test is skipped here, or NULL. */
static gchar *skip_reason;

typedef struct {
  VigilTestVigild  v;
  VigilTestPolkit  polkit;
  gchar           *drop;     /* the user's export folder: the caller's, 0755 */
  gchar           *victim;   /* root's, 0755, holding secret (root's, 0600) */
  gchar           *secret;
} Fixture;

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  VigilSimcamOptions options = { .n_streams = 1, .width = 320, .height = 240, .fps = 10, .bitrate_kbps = 300,
                                 .gop_frames = 10, .clip_seconds = 4 };

  if (skip_reason != NULL)
    return;
  vigil_test_vigild_set_up (&f->v, NULL, &options, 2, NULL, NULL, NULL);
  /* The caller must reach its folder; what else is in here is root's. */
  g_assert_cmpint (g_chmod (f->v.dir, 0755), ==, 0);
  f->drop = g_build_filename (f->v.dir, "drop", NULL);
  f->victim = g_build_filename (f->v.dir, "victim", NULL);
  f->secret = g_build_filename (f->victim, "secret", NULL);
  g_assert_cmpint (g_mkdir (f->drop, 0755), ==, 0);
  g_assert_cmpint (chown (f->drop, CALLER, CALLER), ==, 0);
  g_assert_cmpint (g_mkdir (f->victim, 0755), ==, 0);
  g_assert_true (g_file_set_contents_full (f->secret, SECRET, -1, G_FILE_SET_CONTENTS_NONE, 0600, NULL));
  vigil_test_polkit_start (&f->polkit, f->v.dir);
  vigil_test_vigild_use_system_bus (&f->v, f->polkit.address);
  vigil_test_vigild_start (&f->v);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  vigil_test_vigild_tear_down (&f->v);
  vigil_test_polkit_stop (&f->polkit);
  g_free (f->drop);
  g_free (f->victim);
  g_free (f->secret);
}

static gboolean
skipped (void)
{
  if (skip_reason == NULL)
    return FALSE;
  g_test_skip (skip_reason);
  return TRUE;
}

/* ---- Running vigilctl as the caller --------------------------------------- */

static GSubprocess *
spawn_as_caller (Fixture *f, const gchar *const *args)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GPtrArray) argv = g_ptr_array_new ();
  g_autofree gchar *reuid = g_strdup_printf ("--reuid=%u", CALLER);
  g_autofree gchar *regid = g_strdup_printf ("--regid=%u", CALLER);
  g_autoptr(GError) error = NULL;
  GSubprocess *process;

  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_PIPE | G_SUBPROCESS_FLAGS_STDERR_PIPE);
  g_subprocess_launcher_setenv (launcher, "HOME", "/nonexistent", TRUE);
  g_subprocess_launcher_setenv (launcher, "DBUS_SYSTEM_BUS_ADDRESS", f->polkit.address, TRUE);
  g_ptr_array_add (argv, (gpointer) SETPRIV);
  g_ptr_array_add (argv, reuid);
  g_ptr_array_add (argv, regid);
  g_ptr_array_add (argv, (gpointer) "--init-groups");
  g_ptr_array_add (argv, (gpointer) "--");
  g_ptr_array_add (argv, (gpointer) g_getenv ("VIGILCTL"));
  for (guint i = 0; args[i] != NULL; i++)
    g_ptr_array_add (argv, (gpointer) args[i]);
  g_ptr_array_add (argv, NULL);
  process = g_subprocess_launcher_spawnv (launcher, (const gchar *const *) argv->pdata, &error);
  g_assert_no_error (error);
  return process;
}

static gint
exit_status (GSubprocess *process)
{
  return g_subprocess_get_if_exited (process) ? g_subprocess_get_exit_status (process) : -1;
}

/* Runs vigilctl as the caller with @args to its end; its exit status. */
static gint
run_as_caller (Fixture *f, const gchar *const *args, gchar **out_stdout, gchar **out_stderr)
{
  g_autoptr(GSubprocess) process = spawn_as_caller (f, args);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *out = NULL, *err = NULL;
  gint status;

  g_assert_true (g_subprocess_communicate_utf8 (process, NULL, NULL, &out, &err, &error));
  g_assert_no_error (error);
  status = exit_status (process);
  g_test_message ("vigilctl %s ... as uid %u: exit %d\n%s%s", args[0], CALLER, status, out, err);
  if (out_stdout != NULL)
    *out_stdout = g_steal_pointer (&out);
  if (out_stderr != NULL)
    *out_stderr = g_steal_pointer (&err);
  return status;
}

/* ---- What must hold ------------------------------------------------------ */

/* The root-only folder is exactly as set up: nothing made, nothing
 * removed, its one file still root's, 0600, with the same bytes. */
static void
assert_victim_untouched (Fixture *f)
{
  g_autofree gchar *names = vigil_test_list_folder (f->victim);
  g_autofree gchar *contents = NULL;
  GStatBuf st;

  g_assert_cmpstr (names, ==, "secret");
  g_assert_cmpint (g_lstat (f->secret, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 0);
  g_assert_cmpuint (st.st_gid, ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0600);
  g_assert_true (g_file_get_contents (f->secret, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, SECRET);
  g_assert_cmpint (g_lstat (f->victim, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, 0);
  g_assert_cmpuint (st.st_mode & 07777, ==, 0755);
}

/* @bundle is a real folder (not a link), the caller's with everything in
 * it, and verifies. */
static void
assert_bundle_verifies (const gchar *bundle)
{
  g_autoptr(GDir) dir = g_dir_open (bundle, 0, NULL);
  const gchar *name;
  GStatBuf st;

  g_assert_cmpint (g_lstat (bundle, &st), ==, 0);
  g_assert_true (S_ISDIR (st.st_mode));
  g_assert_cmpuint (st.st_uid, ==, CALLER);
  g_assert_nonnull (dir);
  while ((name = g_dir_read_name (dir)) != NULL)
    {
      g_autofree gchar *path = g_build_filename (bundle, name, NULL);

      g_assert_cmpint (g_lstat (path, &st), ==, 0);
      g_assert_true (S_ISREG (st.st_mode));
      g_assert_cmpuint (st.st_uid, ==, CALLER);
    }
  g_assert_cmpint (vigil_test_run_vigilctl (NULL, NULL, NULL, "verify", bundle, NULL), ==, 0);
}

static gchar *
iso_utc (gint64 time_us)
{
  g_autoptr(GDateTime) t = g_date_time_new_from_unix_utc (time_us / S);
  g_autoptr(GDateTime) t_us = g_date_time_add (t, time_us % S);
  return g_date_time_format (t_us, "%Y-%m-%dT%H:%M:%S.%fZ");
}

/* ---- The swap, driven by inotify --------------------------------------- */

typedef struct {
  Fixture  *f;
  gchar    *swapped;      /* the work folder's name, once swapped for the link */
  gboolean  too_late;     /* it was gone before the swap */
  gboolean  done;         /* vigilctl has exited */
  gint      status;
  gchar    *out, *err;
} Race;

/* Runs as soon as anything is created in the user's folder: the first
 * hidden folder there is vigild's work folder (".vigil-export-…", or
 * ".NAME.XXXXXX.partial" before vigild worked on descriptors). It is
 * renamed aside, and a link to the root-only folder takes its name. */
static gboolean
on_drop_changed (gint fd, GIOCondition condition, gpointer user_data)
{
  Race *race = user_data;
  gchar buffer[4096] __attribute__ ((aligned (__alignof__ (struct inotify_event))));
  ssize_t n;

  while ((n = read (fd, buffer, sizeof buffer)) > 0)
    for (gchar *p = buffer; p < buffer + n; p += sizeof (struct inotify_event) + ((struct inotify_event *) p)->len)
      {
        const struct inotify_event *event = (const struct inotify_event *) p;
        g_autofree gchar *work = NULL, *aside = NULL;

        if (race->swapped != NULL || race->too_late || (event->mask & IN_ISDIR) == 0 || event->len == 0
            || event->name[0] != '.')
          continue;
        work = g_build_filename (race->f->drop, event->name, NULL);
        aside = g_build_filename (race->f->drop, "aside", NULL);
        if (g_rename (work, aside) != 0)
          {
            g_test_message ("%s was gone before it could be swapped: %s", event->name, g_strerror (errno));
            race->too_late = TRUE;
            continue;
          }
        g_assert_cmpint (symlink (race->f->victim, work), ==, 0);
        race->swapped = g_strdup (event->name);
        g_test_message ("swapped %s for a link to %s", event->name, race->f->victim);
      }
  return race->swapped == NULL && !race->too_late ? G_SOURCE_CONTINUE : G_SOURCE_REMOVE;
}

static void
on_vigilctl_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  Race *race = user_data;
  g_autoptr(GError) error = NULL;

  g_assert_true (g_subprocess_communicate_utf8_finish (G_SUBPROCESS (source), result, &race->out, &race->err,
                                                       &error));
  g_assert_no_error (error);
  race->status = exit_status (G_SUBPROCESS (source));
  race->done = TRUE;
}

static void
race_clear (Race *race)
{
  g_clear_pointer (&race->swapped, g_free);
  g_clear_pointer (&race->out, g_free);
  g_clear_pointer (&race->err, g_free);
}

/* One export by the caller into its folder, with the swap armed. */
static void
race_export (Fixture *f, const gchar *from, const gchar *to, Race *race)
{
  g_autoptr(GSubprocess) vigilctl = NULL;
  guint watch;
  int inotify;

  inotify = inotify_init1 (IN_NONBLOCK | IN_CLOEXEC);
  g_assert_cmpint (inotify, >=, 0);
  g_assert_cmpint (inotify_add_watch (inotify, f->drop, IN_CREATE), >=, 0);
  watch = g_unix_fd_add (inotify, G_IO_IN, on_drop_changed, race);

  vigilctl = spawn_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                       "--out", f->drop, "--reason", "mine now", NULL });
  g_subprocess_communicate_utf8_async (vigilctl, NULL, NULL, on_vigilctl_exited, race);
  if (!vigil_test_wait_for (&race->done, 300))
    {
      g_autofree gchar *log = vigil_test_vigild_read_log (&f->v);
      g_error ("vigilctl export never returned; vigild's log:\n%s", log);
    }
  if (race->swapped == NULL && !race->too_late)
    g_source_remove (watch);
  g_close (inotify, NULL);
  g_test_message ("vigilctl: exit %d\n%s%s", race->status, race->out, race->err);
}

/* The attack of issue 12, point 1, by a user who owns the destination. */
static void
test_work_folder_swapped_for_a_link (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) first = NULL;
  g_autoptr(VigilSegment) last = NULL;
  g_autofree gchar *from = NULL, *to = NULL, *link = NULL, *target = NULL;
  Race race = { f };

  if (skipped ())
    return;
  vigil_test_vigild_wait_for_segments (&f->v, 4);
  first = vigil_test_vigild_get_segment (&f->v, "cam0", 0);
  last = vigil_test_vigild_get_segment (&f->v, "cam0", 2);
  from = iso_utc (first->start_us);
  to = iso_utc (last->end_us);

  /* The export takes far longer than an inotify wake-up, so the swap
   * lands while vigild works; should a loaded machine let an export end
   * first, that one proves nothing and the user tries again. */
  for (guint attempt = 1; attempt <= 3; attempt++)
    {
      race_clear (&race);
      race = (Race) { f };
      race_export (f, from, to, &race);
      if (race.swapped != NULL)
        break;
      g_test_message ("attempt %u: the export ended before the swap", attempt);
    }
  g_assert_nonnull (race.swapped);
  assert_victim_untouched (f);
  link = g_build_filename (f->drop, race.swapped, NULL);
  target = g_file_read_link (link, NULL);
  g_assert_cmpstr (target, ==, f->victim);
  /* Either outcome is sound; vigild takes the second (the name no longer
   * leads to its folder, so it neither publishes nor removes by it). */
  if (race.status == 0)
    {
      g_strchomp (race.out);
      g_assert_true (g_str_has_prefix (race.out, f->drop));
      assert_bundle_verifies (race.out);
    }
  else
    {
      g_assert_cmpint (race.status, ==, 1);
      g_assert_nonnull (strstr (race.err, "export failed"));
    }
  race_clear (&race);
}

/* Before the export, the user plants a dangling link to a root-only place
 * at the bundle's name, a file of its own at the next, and a link at the
 * predictable work folder name vigild once used. None is followed,
 * replaced or removed; the bundle takes the first free name. */
static void
test_planted_names (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) segment = NULL;
  g_autoptr(GDateTime) start = NULL;
  g_autofree gchar *from = NULL, *to = NULL, *base = NULL, *stamp = NULL, *out = NULL, *names = NULL;
  g_autofree gchar *link = NULL, *link_target = NULL, *file = NULL, *old_work = NULL, *old_target = NULL;
  g_autofree gchar *expected_bundle = NULL, *expected_names = NULL, *target = NULL, *contents = NULL;
  GStatBuf st;

  if (skipped ())
    return;
  vigil_test_vigild_wait_for_segments (&f->v, 2);
  segment = vigil_test_vigild_get_segment (&f->v, "cam0", 0);
  from = iso_utc (segment->start_us);
  to = iso_utc (segment->end_us);
  start = g_date_time_new_from_unix_utc (segment->start_us / S);
  stamp = g_date_time_format (start, "%Y%m%dT%H%M%SZ");
  base = g_strdup_printf ("cam0-%s", stamp);

  link = g_strdup_printf ("%s/%s", f->drop, base);
  link_target = g_build_filename (f->victim, "made-by-vigild", NULL);
  file = g_strdup_printf ("%s/%s-2", f->drop, base);
  old_work = g_strdup_printf ("%s/.%s.partial", f->drop, base);
  old_target = g_build_filename (f->victim, "partial", NULL);
  g_assert_cmpint (symlink (link_target, link), ==, 0);
  g_assert_cmpint (symlink (old_target, old_work), ==, 0);
  g_assert_true (g_file_set_contents (file, "mine", 4, NULL));
  g_assert_cmpint (lchown (link, CALLER, CALLER), ==, 0);
  g_assert_cmpint (lchown (old_work, CALLER, CALLER), ==, 0);
  g_assert_cmpint (lchown (file, CALLER, CALLER), ==, 0);

  g_assert_cmpint (run_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                           "--out", f->drop, "--reason", "planted", NULL },
                                  &out, NULL), ==, 0);
  g_strchomp (out);
  expected_bundle = g_strdup_printf ("%s/%s-3", f->drop, base);
  g_assert_cmpstr (out, ==, expected_bundle);
  assert_bundle_verifies (out);
  assert_victim_untouched (f);

  /* Exactly the three planted names and the bundle: no work folder left. */
  names = vigil_test_list_folder (f->drop);
  expected_names = g_strdup_printf (".%s.partial,%s,%s-2,%s-3", base, base, base, base);
  g_assert_cmpstr (names, ==, expected_names);
  target = g_file_read_link (link, NULL);
  g_assert_cmpstr (target, ==, link_target);
  g_clear_pointer (&target, g_free);
  target = g_file_read_link (old_work, NULL);
  g_assert_cmpstr (target, ==, old_target);
  g_assert_true (g_file_get_contents (file, &contents, NULL, NULL));
  g_assert_cmpstr (contents, ==, "mine");
  g_assert_cmpint (g_lstat (file, &st), ==, 0);
  g_assert_cmpuint (st.st_uid, ==, CALLER);
}

/* Anyone can open /etc, or root's 0755 folder, read-only: that descriptor
 * is still no licence to write there. A folder the user's group may write
 * into is. */
static void
test_unwritable_folder_refused (Fixture *f, gconstpointer unused)
{
  g_autoptr(VigilSegment) segment = NULL;
  g_autofree gchar *from = NULL, *to = NULL, *err = NULL, *out = NULL, *expected = NULL, *names = NULL;
  g_autofree gchar *roots = g_build_filename (f->v.dir, "roots", NULL);
  g_autofree gchar *group = g_build_filename (f->v.dir, "group", NULL);

  if (skipped ())
    return;
  g_assert_cmpint (g_mkdir (roots, 0755), ==, 0);
  g_assert_cmpint (g_mkdir (group, 0770), ==, 0);
  g_assert_cmpint (chown (group, 0, CALLER), ==, 0);
  g_assert_cmpint (g_chmod (group, 0770), ==, 0);   /* past the umask */
  vigil_test_vigild_wait_for_segments (&f->v, 2);
  segment = vigil_test_vigild_get_segment (&f->v, "cam0", 0);
  from = iso_utc (segment->start_us);
  to = iso_utc (segment->end_us);

  g_assert_cmpint (run_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                           "--out", roots, "--reason", "r", NULL },
                                  NULL, &err), ==, 1);
  expected = g_strdup_printf ("vigilctl: %s: " NOT_YOURS "\n", roots);
  g_assert_cmpstr (err, ==, expected);
  names = vigil_test_list_folder (roots);
  g_assert_cmpstr (names, ==, "");
  g_clear_pointer (&err, g_free);
  g_clear_pointer (&expected, g_free);

  g_assert_cmpint (run_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                           "--out", f->victim, "--reason", "r", NULL },
                                  NULL, &err), ==, 1);
  expected = g_strdup_printf ("vigilctl: %s: " NOT_YOURS "\n", f->victim);
  g_assert_cmpstr (err, ==, expected);
  assert_victim_untouched (f);
  g_clear_pointer (&err, g_free);

  g_assert_cmpint (run_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                           "--out", "/etc", "--reason", "r", NULL },
                                  NULL, &err), ==, 1);
  g_assert_cmpstr (err, ==, "vigilctl: /etc: " NOT_YOURS "\n");

  /* Root's folder, writable by the caller's group in the user database. */
  g_assert_cmpint (run_as_caller (f, (const gchar *const[]) { "export", "--camera", "cam0", "--from", from, "--to", to,
                                                           "--out", group, "--reason", "r", NULL },
                                  &out, NULL), ==, 0);
  g_strchomp (out);
  g_assert_true (g_str_has_prefix (out, group));
  assert_bundle_verifies (out);
}

int
main (int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  int status;

  /* First, before any thread: see vigil-test-polkit.h. */
  if (!vigil_test_polkit_enter_sandbox (&error))
    skip_reason = g_strdup_printf ("polkit sandbox: %s", error->message);
  g_test_init (&argc, &argv, NULL);
  gst_init (NULL, NULL);
  if (skip_reason != NULL)
    ;
  else if (!g_file_test (SETPRIV, G_FILE_TEST_IS_EXECUTABLE))
    skip_reason = g_strdup ("needs " SETPRIV);
  else if (g_getenv ("VIGILCTL") == NULL)
    skip_reason = g_strdup ("VIGILCTL not set");
  else if (!vigil_test_have_elements ("x264enc", "rtph264pay", "matroskamux", "mp4mux", "avdec_h264", NULL))
    skip_reason = g_strdup ("GStreamer elements missing");
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/e2e/export-fd/work-folder-swapped-for-a-link", test_work_folder_swapped_for_a_link);
  ADD ("/e2e/export-fd/planted-names", test_planted_names);
  ADD ("/e2e/export-fd/unwritable-folder-refused", test_unwritable_folder_refused);
#undef ADD
  status = g_test_run ();
  vigil_test_polkit_leave_sandbox ();
  g_free (skip_reason);
  return status;
}
