/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl audit and key: vigild's audit log (listed, or its hash chain
 * checked by vigild) and the public key that signs export manifests.
 * Read-only. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

/* ---- audit -------------------------------------------------------------- */

int
cmd_audit (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *since_text = NULL, *limit_text = NULL;
  gboolean verify = FALSE;
  const GOptionEntry entries[] = {
    { "since", 0, 0, G_OPTION_ARG_STRING, &since_text, "Rows at or after this time", "T" },
    { "limit", 0, 0, G_OPTION_ARG_STRING, &limit_text, "Only the last N rows (at most 1000; default 1000)", "N" },
    { "verify", 0, 0, G_OPTION_ARG_NONE, &verify, "Check the hash chain instead of listing", NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  gint64 since_us = 0;
  guint limit = 0;
  int status;

  if (!parse_options_no_args (ctl, "The audit log of every change made over D-Bus, oldest first; --verify\n"
                              "checks that every row still fits its hash chain.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (verify && (since_text != NULL || limit_text != NULL))
    return usage (ctl, "--verify checks the whole log; it takes no --since or --limit");
  if (since_text != NULL && !parse_time_option (ctl, "--since", since_text, &since_us))
    return EXIT_USAGE;
  if (limit_text != NULL && !parse_uint_option (ctl, "--limit", limit_text, &limit))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;

  if (verify)
    {
      gboolean intact;
      gint64 rows;
      g_autofree gchar *head = NULL, *problem = NULL;

      if (!vigil_dbus_manager_call_verify_audit_sync (ctl->manager, &intact, &rows, &head, &problem, NULL, &error))
        return fail (error);
      if (opt_json)
        {
          g_autoptr(JsonBuilder) builder = json_begin ();

          json_add_boolean (builder, "intact", intact);
          json_add_int (builder, "rows", rows);
          json_add_string (builder, "head_sha256", head);
          json_add_string (builder, "problem", intact ? NULL : problem);
          json_print (builder);
        }
      else if (intact)
        printf ("audit log intact: %" G_GINT64_FORMAT " row%s, head SHA256:%s\n", rows, rows == 1 ? "" : "s", head);
      if (!intact)
        {
          g_autofree gchar *clean = vigil_text_sanitize (problem, 0, VIGIL_TEXT_DEFAULT);
          return fail_message ("audit log broken: %s", clean);
        }
      return EXIT_OK;
    }

  {
    g_autoptr(GVariant) rows = NULL;
    g_autoptr(JsonBuilder) builder = NULL;
    g_autoptr(Table) table = NULL;
    GVariantIter iter;
    guint64 row_id;
    gint64 time_us, uid;
    const gchar *user, *action, *target, *details, *sha256;

    if (!vigil_dbus_manager_call_list_audit_sync (ctl->manager, since_us, limit, &rows, NULL, &error))
      return fail (error);
    if (opt_json)
      builder = json_begin_listing ("rows");
    else
      table = table_new ("rlllll", "ID", "TIME", "USER", "ACTION", "TARGET", "DETAILS");
    g_variant_iter_init (&iter, rows);
    while (g_variant_iter_next (&iter, "(txx&s&s&s&s&s)", &row_id, &time_us, &uid, &user, &action, &target,
                                &details, &sha256))
      {
        if (opt_json)
          {
            g_autoptr(JsonNode) details_node = json_from_string (details, NULL);

            json_builder_begin_object (builder);
            json_add_int (builder, "id", (gint64) row_id);
            json_add_time (builder, "time", time_us);
            json_add_int (builder, "uid", uid);
            json_add_string (builder, "user", user);
            json_add_string (builder, "action", action);
            json_add_string (builder, "target", target);
            json_builder_set_member_name (builder, "details");
            if (details_node != NULL)
              json_builder_add_value (builder, g_steal_pointer (&details_node));
            else
              json_builder_add_string_value (builder, details);
            json_add_string (builder, "sha256", sha256);
            json_builder_end_object (builder);
          }
        else
          {
            table_take (table, g_strdup_printf ("%" G_GUINT64_FORMAT, row_id));
            table_take (table, vigil_time_format_local (time_us));
            table_take (table, g_strdup_printf ("%s(%" G_GINT64_FORMAT ")", user, uid));
            table_add (table, action);
            table_add (table, target);
            table_add (table, details);
          }
      }
    print_listing (builder, table);
    /* vigild answers at most the newest 1000 rows a call. */
    if (limit == 0 && g_variant_n_children (rows) >= 1000)
      fprintf (stderr, "vigilctl: the newest %" G_GSIZE_FORMAT " rows; narrow with --since for older ones\n",
               g_variant_n_children (rows));
  }
  return EXIT_OK;
}

/* ---- key ---------------------------------------------------------------- */

int
cmd_key (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pem = NULL, *sha256 = NULL;
  int status;

  if (!parse_options_no_args (ctl, "The recorder's Ed25519 public key, which signs every export manifest,\n"
                              "and its fingerprint (what vigilctl verify reports for a bundle from here).",
                              NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_get_public_key_sync (ctl->manager, &pem, &sha256, NULL, &error))
    return fail (error);
  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "pem", pem);
      json_add_string (builder, "sha256", sha256);
      json_print (builder);
    }
  else
    printf ("%s%sSHA256:%s\n", pem, g_str_has_suffix (pem, "\n") ? "" : "\n", sha256);
  return EXIT_OK;
}
