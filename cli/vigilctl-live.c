/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl live and sessions: where a camera can be watched over RTSP, and
 * who is watching now. Read-only; the serving itself is vigild's. The URL
 * printed never carries a user or password: the player asks for them. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

int
cmd_live (Ctl *ctl, int argc, char **argv)
{
  gboolean open = FALSE, sub = FALSE;
  g_autofree gchar *from_text = NULL;
  const GOptionEntry entries[] = {
    { "open", 0, 0, G_OPTION_ARG_NONE, &open, "Start this desktop's player for it", NULL },
    { "sub", 0, 0, G_OPTION_ARG_NONE, &sub, "The camera's smaller sub-stream", NULL },
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "The recording from this time on instead of live", "T" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status_dict = NULL;
  g_auto(GStrv) cameras = NULL;
  g_autofree gchar *escaped = NULL;
  g_autofree gchar *camera_path = NULL;
  g_autoptr(GString) url = NULL;
  const gchar *base = NULL, *state = NULL;
  gint64 from_us = 0;
  int status;

  if (!parse_options (ctl, "CAM", "The RTSP address of a camera's live picture (or its recording), for any\n"
                      "player (VLC, ffplay, mpv, another recorder); it asks for a viewer's login.",
                      TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return usage (ctl, "which camera?");
  if (sub && from_text != NULL)
    return usage (ctl, "--sub is live only; the recording is of the main stream");
  if (from_text != NULL && !parse_time_option (ctl, "--from", from_text, &from_us))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_cameras_sync (ctl->manager, &cameras, NULL, &error))
    return fail (g_steal_pointer (&error));
  escaped = g_dbus_escape_object_path (argv[1]);
  camera_path = g_strconcat (CAMERA_PATH_PREFIX, escaped, NULL);
  if (!g_strv_contains ((const gchar *const *) cameras, camera_path))
    return fail_message ("no camera %s (vigilctl cameras lists them)", argv[1]);
  if (!vigil_dbus_manager_call_get_status_sync (ctl->manager, &status_dict, NULL, &error))
    return fail (g_steal_pointer (&error));
  g_variant_lookup (status_dict, "live-url", "&s", &base);
  g_variant_lookup (status_dict, "live", "&s", &state);
  if (base == NULL || *base == '\0')
    return fail_message ("vigild does not serve cameras over RTSP: %s", state != NULL ? state : "not supported");

  url = g_string_new (base);
  g_string_append (url, argv[1]);
  if (sub)
    g_string_append (url, "/sub");
  else if (from_text != NULL)
    {
      g_autoptr(GDateTime) from = g_date_time_new_from_unix_utc (from_us / G_USEC_PER_SEC);
      g_autofree gchar *iso = g_date_time_format (from, "%Y-%m-%dT%H:%M:%SZ");

      g_string_append_printf (url, "/playback?start=%s", iso);
    }
  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "url", url->str);
      json_print (builder);
    }
  else
    printf ("%s\n", url->str);
  if (open && !g_app_info_launch_default_for_uri (url->str, NULL, &error))
    return fail_message ("no player for rtsp:// here (%s); open the address above in one", error->message);
  return EXIT_OK;
}

int
cmd_sessions (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) sessions = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(Table) table = NULL;
  GVariantIter iter;
  guint64 id;
  const gchar *user, *address, *camera, *mount, *kind, *range;
  gint64 start_us;
  int status;

  if (!parse_options_no_args (ctl, "Who is watching over RTSP now: each viewing session, its login and address,\n"
                              "the camera, live or recorded, and since when. Each session's start and end\n"
                              "are also in the audit log (view-start, view-end).", NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_sessions_sync (ctl->manager, &sessions, NULL, &error))
    return fail (error);
  if (opt_json)
    builder = json_begin_listing ("sessions");
  else
    table = table_new ("rlllllll", "ID", "USER", "FROM", "CAMERA", "WHAT", "SINCE", "FOR", "");
  g_variant_iter_init (&iter, sessions);
  while (g_variant_iter_next (&iter, "(t&s&s&s&s&s&sx)", &id, &user, &address, &camera, &mount, &kind, &range,
                              &start_us))
    {
      gint64 for_s = MAX (g_get_real_time () - start_us, 0) / G_USEC_PER_SEC;

      if (opt_json)
        {
          json_builder_begin_object (builder);
          json_add_int (builder, "id", (gint64) id);
          json_add_string (builder, "user", user);
          json_add_string (builder, "address", address);
          json_add_string (builder, "camera", camera);
          json_add_string (builder, "mount", mount);
          json_add_string (builder, "kind", kind);
          json_add_string (builder, "range", range);
          json_add_time (builder, "start", start_us);
          json_builder_end_object (builder);
        }
      else
        {
          table_take (table, g_strdup_printf ("%" G_GUINT64_FORMAT, id));
          table_add (table, user);
          table_add (table, address);
          table_add (table, camera);
          table_take (table, *range != '\0' ? g_strdup_printf ("%s %s", kind, range) : g_strdup (mount));
          table_take (table, vigil_time_format_local (start_us));
          table_take (table, g_strdup_printf ("%" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT ":%02" G_GINT64_FORMAT,
                                              for_s / 3600, for_s / 60 % 60, for_s % 60));
          table_add (table, "");
        }
    }
  print_listing (builder, table);
  return EXIT_OK;
}
