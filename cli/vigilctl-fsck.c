/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl fsck: asks vigild for the full check of its catalog against
 * the files under its storage root (and with --repair, for the repair),
 * waits for it without a timeout, and prints what was found. Ctrl-C stops
 * the check: vigild stops it when its caller leaves the bus. The check
 * runs in vigild; this never looks at the recordings itself. */
#include <glib-unix.h>
#include <stdio.h>
#include <unistd.h>

#include "vigilctl-private.h"

typedef struct {
  GMainLoop *loop;
  GVariant  *report;        /* the reply, once it came */
  GError    *error;
  gboolean   interrupted;   /* Ctrl-C or SIGTERM */
  gboolean   vanished;      /* vigild left the bus */
} FsckWait;

static void
on_fsck_returned (GObject *source, GAsyncResult *result, gpointer data)
{
  FsckWait *wait = data;

  if (!vigil_dbus_manager_call_fsck_finish (VIGIL_DBUS_MANAGER (source), &wait->report, result, &wait->error))
    wait->report = NULL;
  g_main_loop_quit (wait->loop);
}

static gboolean
on_interrupt (gpointer data)
{
  FsckWait *wait = data;

  wait->interrupted = TRUE;
  g_main_loop_quit (wait->loop);
  return G_SOURCE_CONTINUE;
}

static void
on_manager_name_owner (GDBusProxy *manager, GParamSpec *pspec, FsckWait *wait)
{
  g_autofree gchar *owner = g_dbus_proxy_get_name_owner (manager);

  if (owner == NULL)
    {
      wait->vanished = TRUE;
      g_main_loop_quit (wait->loop);
    }
}

static guint64
get_count (GVariant *report, const gchar *key)
{
  guint64 value = 0;

  g_variant_lookup (report, key, "t", &value);
  return value;
}

static const gchar *const count_keys[] = {
  "rows-checked", "files-checked", "skipped", "missing", "orphans", "unplayable", "adopted", "quarantined",
  "rows-removed", "locked", "found", "unresolved", "duration-ms", NULL
};

static void
print_json (GVariant *report)
{
  g_autoptr(JsonBuilder) builder = json_begin ();
  g_autoptr(GVariant) problems = g_variant_lookup_value (report, "problems", G_VARIANT_TYPE ("a(sss)"));
  gboolean repair = FALSE;
  GVariantIter iter;
  const gchar *kind, *path, *detail;

  g_variant_lookup (report, "repair", "b", &repair);
  json_add_boolean (builder, "repair", repair);
  for (guint i = 0; count_keys[i] != NULL; i++)
    {
      g_autofree gchar *name = g_strdelimit (g_strdup (count_keys[i]), "-", '_');
      json_add_int (builder, name, (gint64) get_count (report, count_keys[i]));
    }
  json_builder_set_member_name (builder, "problems");
  json_builder_begin_array (builder);
  if (problems != NULL)
    {
      g_variant_iter_init (&iter, problems);
      while (g_variant_iter_next (&iter, "(&s&s&s)", &kind, &path, &detail))
        {
          json_builder_begin_object (builder);
          json_add_string (builder, "kind", kind);
          json_add_string (builder, "path", path);
          json_add_string (builder, "detail", detail);
          json_builder_end_object (builder);
        }
    }
  json_builder_end_array (builder);
  json_print (builder);
}

static void
print_count (const gchar *key, guint64 count, const gchar *what)
{
  g_autofree gchar *text = g_strdup_printf ("%" G_GUINT64_FORMAT " (%s)", count, what);

  print_field (key, text);
}

static void
print_text (GVariant *report)
{
  g_autoptr(GVariant) problems = g_variant_lookup_value (report, "problems", G_VARIANT_TYPE ("a(sss)"));
  g_autofree gchar *checked = NULL, *repaired = NULL;
  gboolean repair = FALSE;
  guint64 listed = problems != NULL ? g_variant_n_children (problems) : 0;

  g_variant_lookup (report, "repair", "b", &repair);
  checked = g_strdup_printf ("%" G_GUINT64_FORMAT " rows and %" G_GUINT64_FORMAT " files in %.1f s (%"
                             G_GUINT64_FORMAT " left alone as being recorded)",
                             get_count (report, "rows-checked"), get_count (report, "files-checked"),
                             get_count (report, "duration-ms") / 1e3, get_count (report, "skipped"));
  print_field ("checked", checked);
  print_count ("missing", get_count (report, "missing"), "rows whose file is gone");
  print_count ("orphans", get_count (report, "orphans"), "files without a row");
  print_count ("unplayable", get_count (report, "unplayable"), "files that do not play");
  if (repair)
    {
      repaired = g_strdup_printf ("%" G_GUINT64_FORMAT " files adopted, %" G_GUINT64_FORMAT
                                  " moved to quarantine, %" G_GUINT64_FORMAT " rows removed",
                                  get_count (report, "adopted"), get_count (report, "quarantined"),
                                  get_count (report, "rows-removed"));
      print_field ("repaired", repaired);
    }
  if (get_count (report, "locked") > 0)
    {
      g_autofree gchar *locked = g_strdup_printf ("%" G_GUINT64_FORMAT " under an evidence lock, left alone",
                                                  get_count (report, "locked"));
      print_field ("locked", locked);
    }
  if (listed > 0)
    {
      g_autoptr(Table) table = table_new ("lll", "PROBLEM", "PATH", "DETAIL");
      GVariantIter iter;
      const gchar *kind, *path, *detail;

      g_variant_iter_init (&iter, problems);
      while (g_variant_iter_next (&iter, "(&s&s&s)", &kind, &path, &detail))
        {
          table_add (table, kind);
          table_add (table, path);
          table_add (table, detail);
        }
      printf ("\n");
      table_print (table);
      if (get_count (report, "found") > listed)
        printf ("… and %" G_GUINT64_FORMAT " more (vigild's log has the repairs)\n",
                get_count (report, "found") - listed);
    }
}

int
cmd_fsck (Ctl *ctl, int argc, char **argv)
{
  gboolean repair = FALSE;
  const GOptionEntry entries[] = {
    { "repair", 0, 0, G_OPTION_ARG_NONE, &repair,
      "Remove rows whose file is gone, adopt files without a row that play, move files that do not play to "
      "the quarantine folder (never what an evidence lock holds)", NULL },
    { NULL }
  };
  g_autoptr(GMainLoop) loop = NULL;
  g_autoptr(GVariant) report = NULL;
  g_autoptr(GError) error = NULL;
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  FsckWait wait = { 0 };
  gulong owner_id;
  guint sigint_id, sigterm_id;
  int status;

  if (!parse_options_no_args (ctl, "Checks vigild's whole catalog against the files under its storage root:\n"
                              "rows whose file is gone, files without a row, files that do not play. It\n"
                              "runs in vigild at idle disk priority while recording goes on, and on a large\n"
                              "archive takes a while; Ctrl-C stops it. Exit status 1 when anything is still\n"
                              "wrong afterwards (always, if anything was found without --repair).",
                              NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (repair)
    g_variant_builder_add (&options, "{sv}", "repair", g_variant_new_boolean (TRUE));

  loop = g_main_loop_new (NULL, FALSE);
  wait.loop = loop;
  owner_id = g_signal_connect (ctl->manager, "notify::g-name-owner", G_CALLBACK (on_manager_name_owner), &wait);
  sigint_id = g_unix_signal_add (SIGINT, on_interrupt, &wait);
  sigterm_id = g_unix_signal_add (SIGTERM, on_interrupt, &wait);
  if (isatty (STDERR_FILENO))
    fprintf (stderr, "vigilctl: checking the catalog against the recordings%s (Ctrl-C stops)…\n",
             repair ? " and repairing" : "");
  /* No timeout: the check takes as long as the archive is large. */
  g_dbus_proxy_set_default_timeout (G_DBUS_PROXY (ctl->manager), G_MAXINT);
  vigil_dbus_manager_call_fsck (ctl->manager, g_variant_builder_end (&options), NULL, on_fsck_returned, &wait);
  g_main_loop_run (loop);
  g_source_remove (sigint_id);
  g_source_remove (sigterm_id);
  g_signal_handler_disconnect (ctl->manager, owner_id);

  if (wait.report == NULL && wait.error == NULL)
    {
      if (wait.interrupted)
        /* vigild stops the check once this connection is gone, at exit. */
        return fail_message ("stopped: vigild stops the check when vigilctl leaves");
      if (wait.vanished)
        return fail_message ("vigild left the %s bus during the check", bus_label ());
    }
  error = g_steal_pointer (&wait.error);
  report = g_steal_pointer (&wait.report);
  if (error != NULL)
    return fail (error);
  if (opt_json)
    print_json (report);
  else
    print_text (report);
  return get_count (report, "unresolved") == 0 ? EXIT_OK : EXIT_FAILED;
}
