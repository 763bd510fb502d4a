/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl export and verify: asks vigild for a signed bundle and waits for
 * the job (Ctrl-C cancels it), and checks a bundle folder here without
 * vigild. vigild writes the bundle; this never writes one itself. The
 * destination goes to vigild as a folder this process opened, with the
 * user's own rights, never as a path for vigild (root) to resolve. */
#include <errno.h>
#include <fcntl.h>
#include <gio/gunixfdlist.h>
#include <glib-unix.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vigilctl-private.h"
#include "vigil-bundle.h"

/* ---- export ------------------------------------------------------------- */

typedef struct {
  GMainLoop       *loop;
  gchar           *job_path;       /* NULL until ExportIncident/ExportRange returned */
  GHashTable      *early;          /* job path → GStrv {state, bundle, sha}: ExportFinished seen before */
  VigilDBusExport *job;
  gchar           *state;          /* once finished: "done", "failed" or "cancelled" */
  gchar           *bundle;
  gchar           *manifest_sha256;
  gboolean         cancelling;     /* Ctrl-C was pressed once */
  gboolean         interrupted;    /* Ctrl-C was pressed twice: leave now */
  gboolean         vanished;       /* vigild left the bus */
  gboolean         show_progress;  /* stderr is a terminal */
  gint             shown_percent;  /* last drawn, -1 before the first */
} ExportWait;

static void
export_wait_finish (ExportWait *wait, const gchar *state, const gchar *bundle, const gchar *manifest_sha256)
{
  if (wait->state != NULL)
    return;
  wait->state = g_strdup (state);
  wait->bundle = g_strdup (bundle);
  wait->manifest_sha256 = g_strdup (manifest_sha256);
  g_main_loop_quit (wait->loop);
}

static void
on_manager_export_finished (VigilDBusManager *manager, const gchar *job, const gchar *state, const gchar *bundle,
                            const gchar *manifest_sha256, ExportWait *wait)
{
  if (wait->job_path == NULL)
    {
      const gchar *values[] = { state, bundle, manifest_sha256, NULL };
      g_hash_table_insert (wait->early, g_strdup (job), g_strdupv ((gchar **) values));
    }
  else if (g_str_equal (job, wait->job_path))
    export_wait_finish (wait, state, bundle, manifest_sha256);
}

static void
on_job_finished (VigilDBusExport *job, const gchar *state, const gchar *bundle, const gchar *manifest_sha256,
                 ExportWait *wait)
{
  export_wait_finish (wait, state, bundle, manifest_sha256);
}

static void
draw_progress (ExportWait *wait, gdouble progress)
{
  enum { WIDTH = 30 };
  gint percent = (gint) CLAMP (progress * 100, 0, 100);
  gint filled = percent * WIDTH / 100;
  gchar bar[WIDTH + 1];

  if (!wait->show_progress || percent == wait->shown_percent)
    return;
  wait->shown_percent = percent;
  memset (bar, '#', filled);
  memset (bar + filled, '-', WIDTH - filled);
  bar[WIDTH] = '\0';
  fprintf (stderr, "\rexporting [%s] %3d %%", bar, percent);
  fflush (stderr);
}

static void
clear_progress (ExportWait *wait)
{
  if (wait->show_progress && wait->shown_percent >= 0)
    {
      fprintf (stderr, "\r%*s\r", 48, "");
      fflush (stderr);
    }
}

static void
on_job_progress (VigilDBusExport *job, GParamSpec *pspec, ExportWait *wait)
{
  draw_progress (wait, vigil_dbus_export_get_progress (job));
}

static void
on_manager_name_owner (GDBusProxy *manager, GParamSpec *pspec, ExportWait *wait)
{
  g_autofree gchar *owner = g_dbus_proxy_get_name_owner (manager);

  if (owner == NULL)
    {
      wait->vanished = TRUE;
      g_main_loop_quit (wait->loop);
    }
}

static void
on_cancel_returned (GObject *job, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(GError) error = NULL;

  /* The job may have ended meanwhile; its Finished says how either way. */
  if (!vigil_dbus_export_call_cancel_finish (VIGIL_DBUS_EXPORT (job), result, &error))
    g_debug ("cancel: %s", error->message);
}

static gboolean
on_interrupt (gpointer user_data)
{
  ExportWait *wait = user_data;

  if (wait->cancelling || wait->job == NULL)
    {
      wait->interrupted = TRUE;
      g_main_loop_quit (wait->loop);
      return G_SOURCE_CONTINUE;
    }
  wait->cancelling = TRUE;
  clear_progress (wait);
  fprintf (stderr, "vigilctl: cancelling the export (Ctrl-C again to stop waiting)\n");
  wait->shown_percent = -1;
  vigil_dbus_export_call_cancel (wait->job, NULL, on_cancel_returned, NULL);
  return G_SOURCE_CONTINUE;
}

/* The job's Error property, read now: the cached one may trail Finished. */
static gchar *
get_job_error (Ctl *ctl, const gchar *job_path)
{
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(GVariant) value = NULL;

  reply = g_dbus_connection_call_sync (ctl->bus, BUS_NAME, job_path, "org.freedesktop.DBus.Properties", "Get",
                                       g_variant_new ("(ss)", EXPORT_INTERFACE, "Error"), G_VARIANT_TYPE ("(v)"),
                                       G_DBUS_CALL_FLAGS_NONE, -1, NULL, NULL);
  if (reply == NULL)
    return NULL;
  g_variant_get (reply, "(v)", &value);
  return g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_dup_string (value, NULL) : NULL;
}

/* @out made absolute against the working directory, symbolic links and
 * ".." resolved when the folder exists: the bundle folder is printed under
 * it. */
static gchar *
absolute_destination (const gchar *out)
{
  g_autofree gchar *cwd = g_get_current_dir ();
  g_autofree gchar *joined = g_canonicalize_filename (out, cwd);
  char resolved[PATH_MAX];

  if (realpath (joined, resolved) != NULL)
    return g_strdup (resolved);
  return g_steal_pointer (&joined);
}

/* A refused destination: vigild's message names no path (it got a
 * descriptor), so the operator's own is put in front of it. */
static int
fail_destination (GError *error, const gchar *destination)
{
  g_autofree gchar *remote = g_dbus_error_get_remote_error (error);

  if (g_strcmp0 (remote, "org.vigil.Vigil1.Error.NotWritable") == 0)
    {
      g_dbus_error_strip_remote_error (error);
      g_prefix_error (&error, "%s: ", destination);
    }
  return fail (error);
}

/* The bundle folder under the destination as the operator named it: vigild
 * reports it as the kernel names its descriptor, which another mount
 * namespace (a service's private /tmp, a container) may spell otherwise. */
static gchar *
bundle_under (const gchar *destination, const gchar *bundle)
{
  g_autofree gchar *name = g_path_get_basename (bundle);

  return g_build_filename (destination, name, NULL);
}

int
cmd_export (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *out = NULL, *reason = NULL, *camera = NULL, *from_text = NULL, *to_text = NULL;
  const GOptionEntry entries[] = {
    { "out", 0, 0, G_OPTION_ARG_FILENAME, &out, "Existing folder to create the bundle folder in (required)", "DIR" },
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "Why (goes in the manifest and the audit log; required)", "TEXT" },
    { "camera", 0, 0, G_OPTION_ARG_STRING, &camera, "Export this camera's range instead of an incident", "CAM" },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "Start of the range (with --camera)", "T" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to_text, "End of the range (with --camera)", "T" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GHashTable) early = NULL;
  g_autoptr(VigilDBusExport) job = NULL;
  g_autofree gchar *destination = NULL, *job_path = NULL;
  g_autoptr(GUnixFDList) fd_list = NULL;
  int fd;
  g_autofree gchar *state = NULL, *bundle = NULL, *manifest_sha256 = NULL;
  ExportWait wait = { 0 };
  gchar **seen;
  gulong finished_id, owner_id;
  guint sigint_id, sigterm_id;
  gint64 id = 0, from_us = 0, to_us = 0;
  int status;

  if (!parse_options (ctl, "ID --out DIR --reason TEXT | --camera CAM --from T --to T --out DIR --reason TEXT",
                      "Exports an incident (every camera over start - pre-roll to end + post-roll)\n"
                      "or one camera's range into a signed bundle folder made in DIR, waits for\n"
                      "it, and prints the bundle folder. Ctrl-C cancels the export.",
                      TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (camera == NULL)
    {
      if (argc != 2)
        return usage (ctl, argc < 2 ? "which incident? (an id, or --camera CAM --from T --to T)"
                                    : "one incident at a time");
      if (!parse_incident_id (ctl, argv[1], &id))
        return EXIT_USAGE;
      if (from_text != NULL || to_text != NULL)
        return usage (ctl, "--from and --to go with --camera; an incident's range is its own");
    }
  else
    {
      if (argc > 1)
        return usage (ctl, "either an incident id or --camera, not both");
      if (from_text == NULL || to_text == NULL)
        return usage (ctl, "--camera needs --from and --to");
      if (!parse_time_option (ctl, "--from", from_text, &from_us) ||
          !parse_time_option (ctl, "--to", to_text, &to_us))
        return EXIT_USAGE;
      if (to_us <= from_us)
        return usage (ctl, "--to must be after --from");
    }
  if (out == NULL)
    return usage (ctl, "--out DIR is required");
  if (reason == NULL || reason[0] == '\0')
    return usage (ctl, "--reason is required");
  destination = absolute_destination (out);
  /* Opened here, as the user: the kernel checks their right to read and
   * enter it, and vigild checks by the descriptor that they could write
   * into it. O_RDONLY rather than O_PATH, which vigild refuses. */
  fd = open (destination, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return fail_message ("cannot use %s: %s", destination, g_strerror (errno));
  fd_list = g_unix_fd_list_new_from_array (&fd, 1);   /* takes fd */
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;

  /* Listen before asking, so a job that ends at once is not missed. */
  loop = g_main_loop_new (NULL, FALSE);
  early = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) g_strfreev);
  wait.loop = loop;
  wait.early = early;
  wait.shown_percent = -1;
  wait.show_progress = isatty (STDERR_FILENO);
  finished_id = g_signal_connect (ctl->manager, "export-finished", G_CALLBACK (on_manager_export_finished), &wait);
  owner_id = g_signal_connect (ctl->manager, "notify::g-name-owner", G_CALLBACK (on_manager_name_owner), &wait);

  if (camera == NULL)
    {
      g_autofree gchar *path = incident_path (id);

      if (!vigil_dbus_manager_call_export_incident_sync (ctl->manager, path, g_variant_new_handle (0), reason,
                                                         fd_list, &job_path, NULL, NULL, &error))
        status = fail_destination (error, destination);
    }
  else if (!vigil_dbus_manager_call_export_range_sync (ctl->manager, camera, from_us, to_us,
                                                       g_variant_new_handle (0), reason, fd_list, &job_path, NULL,
                                                       NULL, &error))
    status = fail_destination (error, destination);

  if (status == EXIT_OK)
    {
      wait.job_path = job_path;
      seen = g_hash_table_lookup (early, job_path);
      if (seen != NULL)
        export_wait_finish (&wait, seen[0], seen[1], seen[2]);
    }
  if (status == EXIT_OK && wait.state == NULL)
    {
      job = vigil_dbus_export_proxy_new_sync (ctl->bus, G_DBUS_PROXY_FLAGS_NONE, BUS_NAME, job_path, NULL, &error);
      if (job == NULL)
        status = fail (error);
    }
  if (status == EXIT_OK && wait.state == NULL)
    {
      const gchar *job_state;

      wait.job = job;
      g_signal_connect (job, "finished", G_CALLBACK (on_job_finished), &wait);
      g_signal_connect (job, "notify::progress", G_CALLBACK (on_job_progress), &wait);
      /* Subscribed now (the proxy subscribes before loading properties); a
       * job that ended before that is told by its State. */
      job_state = vigil_dbus_export_get_state (job);
      if (job_state == NULL)
        status = fail_message ("export job %s is gone from vigild", job_path);
      else if (!g_str_equal (job_state, "running"))
        export_wait_finish (&wait, job_state, vigil_dbus_export_get_bundle (job),
                            vigil_dbus_export_get_manifest_sha256 (job));
      else
        {
          draw_progress (&wait, vigil_dbus_export_get_progress (job));
          sigint_id = g_unix_signal_add (SIGINT, on_interrupt, &wait);
          sigterm_id = g_unix_signal_add (SIGTERM, on_interrupt, &wait);
          g_main_loop_run (loop);
          g_source_remove (sigint_id);
          g_source_remove (sigterm_id);
          clear_progress (&wait);
        }
      g_signal_handlers_disconnect_by_data (job, &wait);
    }
  g_signal_handler_disconnect (ctl->manager, finished_id);
  g_signal_handler_disconnect (ctl->manager, owner_id);
  state = g_steal_pointer (&wait.state);
  bundle = wait.bundle != NULL && wait.bundle[0] != '\0' ? bundle_under (destination, wait.bundle) : NULL;
  g_clear_pointer (&wait.bundle, g_free);
  manifest_sha256 = g_steal_pointer (&wait.manifest_sha256);
  if (status != EXIT_OK)
    return status;

  if (state == NULL)
    {
      if (wait.vanished)
        {
          fprintf (stderr, "vigilctl: vigild left the %s bus during the export; how it ended is unknown\n",
                   bus_label ());
          return EXIT_UNREACHABLE;
        }
      return fail_message ("stopped waiting; export job %s may still be running", job_path);
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();
      g_autofree gchar *job_error = g_str_equal (state, "failed") ? get_job_error (ctl, job_path) : NULL;

      json_add_string (builder, "job", job_path);
      json_add_string (builder, "state", state);
      json_add_string (builder, "bundle", bundle != NULL && bundle[0] != '\0' ? bundle : NULL);
      json_add_string (builder, "manifest_sha256",
                       manifest_sha256 != NULL && manifest_sha256[0] != '\0' ? manifest_sha256 : NULL);
      json_add_string (builder, "error", job_error);
      json_print (builder);
    }
  if (g_str_equal (state, "done"))
    {
      if (!opt_json)
        {
          g_autofree gchar *clean = vigil_text_sanitize (bundle, 0, VIGIL_TEXT_DEFAULT);
          printf ("%s\n", clean);
        }
      return EXIT_OK;
    }
  if (g_str_equal (state, "failed"))
    {
      g_autofree gchar *job_error = get_job_error (ctl, job_path);

      return fail_message ("export failed: %s", job_error != NULL && job_error[0] != '\0' ? job_error
                                                                                          : "vigild gave no reason");
    }
  if (g_str_equal (state, "cancelled"))
    return fail_message ("export cancelled");
  return fail_message ("export ended in state “%s”", state);
}

/* ---- verify ------------------------------------------------------------- */

int
cmd_verify (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilBundleReport) report = NULL;
  const gchar *folder;

  if (!parse_options (ctl, "BUNDLE",
                      "Checks an export bundle folder here, without vigild: every file against the\n"
                      "signed manifest, and the signature against the bundle's public key. Compare\n"
                      "the key fingerprint with what vigilctl key shows on the recorder.",
                      NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return usage (ctl, argc < 2 ? "which bundle folder?" : "one bundle at a time");
  folder = argv[1];

  report = vigil_bundle_verify (folder, NULL, &error);
  if (report == NULL)
    return fail_message ("%s", error->message);   /* it names the folder */

  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "bundle", folder);
      json_add_boolean (builder, "verified", report->problems->len == 0);
      json_add_int (builder, "files_checked", report->files_checked);
      json_add_string (builder, "fingerprint", report->fingerprint);
      json_builder_set_member_name (builder, "problems");
      json_builder_begin_array (builder);
      for (guint i = 0; i < report->problems->len; i++)
        json_builder_add_string_value (builder, report->problems->pdata[i]);
      json_builder_end_array (builder);
      json_print (builder);
    }
  else
    for (guint i = 0; i < report->problems->len; i++)
      {
        g_autofree gchar *clean = vigil_text_sanitize (report->problems->pdata[i], 0, VIGIL_TEXT_DEFAULT);
        printf ("%s\n", clean);
      }

  if (report->problems->len > 0)
    return fail_message ("%s did NOT verify: %u problem%s", folder, report->problems->len,
                         report->problems->len == 1 ? "" : "s");
  if (!opt_json)
    printf ("verified: %u file%s, signed by key SHA256:%s\n", report->files_checked,
            report->files_checked == 1 ? "" : "s", report->fingerprint != NULL ? report->fingerprint : "?");
  return EXIT_OK;
}
