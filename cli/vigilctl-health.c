/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl alerts and selfcheck: vigild's recording-health, picture and
 * storage alerts, and the shift-start checklist. Read-only; the checks
 * themselves run in vigild. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

/* ---- alerts, selfcheck -------------------------------------------------- */

int
cmd_alerts (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *since_text = NULL, *limit_text = NULL;
  gboolean open_only = FALSE;
  const GOptionEntry entries[] = {
    { "open", 0, 0, G_OPTION_ARG_NONE, &open_only, "Only alerts still raised", NULL },
    { "since", 0, 0, G_OPTION_ARG_STRING, &since_text, "Alerts raised or cleared at or after this time", "T" },
    { "limit", 0, 0, G_OPTION_ARG_STRING, &limit_text, "Only the newest N", "N" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) alerts = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(Table) table = NULL;
  GVariantIter iter;
  guint64 id;
  gint64 since_us = 0, raised_us, cleared_us;
  const gchar *kind, *severity, *subject, *details;
  guint limit = 0;
  int status;

  if (!parse_options_no_args (ctl, "Recording-health, picture and storage alerts, newest first: when each began\n"
                              "and ended explains a gap in the recording.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (since_text != NULL && !parse_time_option (ctl, "--since", since_text, &since_us))
    return EXIT_USAGE;
  if (limit_text != NULL && !parse_uint_option (ctl, "--limit", limit_text, &limit))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_alerts_sync (ctl->manager, open_only, since_us, limit, &alerts, NULL, &error))
    return fail (error);
  if (opt_json)
    builder = json_begin_listing ("alerts");
  else
    table = table_new ("rlllllll", "ID", "RAISED", "CLEARED", "SEVERITY", "SUBJECT", "KIND", "DETAILS", "");
  g_variant_iter_init (&iter, alerts);
  while (g_variant_iter_next (&iter, "(t&s&s&sxx&s)", &id, &kind, &severity, &subject, &raised_us, &cleared_us,
                              &details))
    {
      if (opt_json)
        {
          json_builder_begin_object (builder);
          json_add_int (builder, "id", (gint64) id);
          json_add_string (builder, "kind", kind);
          json_add_string (builder, "severity", severity);
          json_add_string (builder, "subject", subject);
          json_add_time (builder, "raised", raised_us);
          json_add_time (builder, "cleared", cleared_us);
          json_add_string (builder, "details", details);
          json_builder_end_object (builder);
        }
      else
        {
          table_take (table, g_strdup_printf ("%" G_GUINT64_FORMAT, id));
          table_take (table, vigil_time_format_local (raised_us));
          table_take (table, cleared_us != 0 ? vigil_time_format_local (cleared_us) : g_strdup ("open"));
          table_add (table, severity);
          table_add (table, subject);
          table_add (table, kind);
          table_add (table, details);
          table_add (table, "");
        }
    }
  print_listing (builder, table);
  return EXIT_OK;
}

/* The checks of one subject, in the order vigild sent them. */
typedef struct {
  gchar     *subject;
  GPtrArray *cells;      /* "✓ reason" or "✗ reason" per check */
  gboolean   ok;
} CheckRow;

static void
check_row_free (CheckRow *row)
{
  g_free (row->subject);
  g_ptr_array_unref (row->cells);
  g_free (row);
}

int
cmd_selfcheck (Ctl *ctl, int argc, char **argv)
{
  const GOptionEntry entries[] = { { NULL } };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) checks = NULL;
  g_autoptr(GPtrArray) rows = g_ptr_array_new_with_free_func ((GDestroyNotify) check_row_free);
  g_autoptr(JsonBuilder) builder = NULL;
  GVariantIter iter;
  const gchar *subject, *check, *reason;
  gboolean ok, all_ok = TRUE;
  int status;

  if (!parse_options_no_args (ctl, "The shift-start checklist: for each camera, stream live, picture clear,\n"
                              "recording working and reachable; for the storage, free space and days left.\n"
                              "Exit status 1 when any check fails.", NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_self_check_sync (ctl->manager, &checks, NULL, &error))
    return fail (error);
  if (opt_json)
    builder = json_begin_listing ("checks");
  g_variant_iter_init (&iter, checks);
  while (g_variant_iter_next (&iter, "(&s&sb&s)", &subject, &check, &ok, &reason))
    {
      CheckRow *row = rows->len > 0 ? rows->pdata[rows->len - 1] : NULL;
      g_autofree gchar *clean = vigil_text_sanitize (reason, 0, VIGIL_TEXT_DEFAULT);

      all_ok &= ok;
      if (opt_json)
        {
          json_builder_begin_object (builder);
          json_add_string (builder, "subject", subject);
          json_add_string (builder, "check", check);
          json_add_boolean (builder, "ok", ok);
          json_add_string (builder, "reason", reason);
          json_builder_end_object (builder);
          continue;
        }
      if (row == NULL || !g_str_equal (row->subject, subject))
        {
          row = g_new0 (CheckRow, 1);
          row->subject = g_strdup (subject);
          row->cells = g_ptr_array_new_with_free_func (g_free);
          row->ok = TRUE;
          g_ptr_array_add (rows, row);
        }
      row->ok &= ok;
      g_ptr_array_add (row->cells, g_strdup_printf ("%s %s: %s", ok ? "✓" : "✗", check, clean));
    }
  if (opt_json)
    {
      json_builder_end_array (builder);
      json_add_boolean (builder, "ok", all_ok);
      json_print (builder);
    }
  else
    for (guint i = 0; i < rows->len; i++)
      {
        CheckRow *row = rows->pdata[i];

        printf ("%s %s\n", row->ok ? "✓" : "✗", row->subject);
        for (guint j = 0; j < row->cells->len; j++)
          printf ("    %s\n", (const gchar *) row->cells->pdata[j]);
      }
  return all_ok ? EXIT_OK : EXIT_FAILED;
}
