/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl ptz and discover, the ONVIF commands: ptz turns a camera through
 * vigild (which logs every move in the audit log) and never talks to the
 * camera directly; discover runs WS-Discovery here, without vigild. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-onvif.h"

/* ---- ptz ---------------------------------------------------------------- */

/* GOption takes "-0.5" for an option; numbers are marked before parsing
 * and unmarked after, so "goto -0.5 0.2" needs no "--". */
#define NUMBER_MARK "\x1f"

static void
mark_negative_numbers (int argc, char **argv, GPtrArray *keep)
{
  for (int i = 1; i < argc; i++)
    if (argv[i][0] == '-' && (g_ascii_isdigit (argv[i][1]) || argv[i][1] == '.'))
      {
        argv[i] = g_strconcat (NUMBER_MARK, argv[i], NULL);
        g_ptr_array_add (keep, argv[i]);
      }
}

static const gchar *
unmark (const gchar *arg)
{
  return g_str_has_prefix (arg, NUMBER_MARK) ? arg + strlen (NUMBER_MARK) : arg;
}

static gboolean
parse_number (Ctl *ctl, const gchar *what, const gchar *text, gdouble min, gdouble max, gdouble *out)
{
  gchar *end = NULL;
  gdouble value = g_ascii_strtod (unmark (text), &end);

  if (end == unmark (text) || *end != '\0' || !(value >= min && value <= max))
    {
      usage (ctl, "%s “%s” is not a number from %g to %g", what, unmark (text), min, max);
      return FALSE;
    }
  *out = value;
  return TRUE;
}

/* "500ms", "2s", "1.5s" or plain milliseconds. */
static gboolean
parse_duration_ms (Ctl *ctl, const gchar *text, guint *out_ms)
{
  gchar *end = NULL;
  gdouble value = g_ascii_strtod (text, &end);
  gdouble scale = 1;

  if (end != text && g_str_equal (end, "s"))
    scale = 1000;
  else if (end == text || (*end != '\0' && !g_str_equal (end, "ms")))
    {
      usage (ctl, "--for “%s” is not a duration such as 500ms or 2s", text);
      return FALSE;
    }
  if (!(value * scale >= 100 && value * scale <= 10000))
    {
      usage (ctl, "--for must be from 100ms to 10s");
      return FALSE;
    }
  *out_ms = (guint) (value * scale);
  return TRUE;
}

int
cmd_ptz (Ctl *ctl, int argc, char **argv)
{
  static const struct {
    const gchar *name;
    gdouble      pan, tilt, zoom;
  } directions[] = {
    { "left", -1, 0, 0 }, { "right", 1, 0, 0 }, { "up", 0, 1, 0 }, { "down", 0, -1, 0 },
    { "zoom-in", 0, 0, 1 }, { "zoom-out", 0, 0, -1 },
  };
  gdouble speed = 0.5;
  g_autofree gchar *for_text = NULL;
  const GOptionEntry entries[] = {
    { "speed", 0, 0, G_OPTION_ARG_DOUBLE, &speed, "Speed of a move, 0.05 to 1 (default 0.5)", "S" },
    { "for", 0, 0, G_OPTION_ARG_STRING, &for_text, "How long a move lasts: 100ms to 10s (default 500ms)", "D" },
    { NULL }
  };
  g_autoptr(GPtrArray) marked = g_ptr_array_new_with_free_func (g_free);
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  const gchar *action;
  guint duration_ms = 500;
  gdouble v[3] = { 0, 0, -1 };
  gboolean ok = FALSE;
  gint direction = -1;
  int status;

  mark_negative_numbers (argc, argv, marked);
  if (!parse_options (ctl, "CAM ACTION [ARG…]",
                      "Turn a PTZ camera (set up by onvif= in vigild's config). Actions:\n"
                      "  left|right|up|down|zoom-in|zoom-out  move for --for at --speed, then stop\n"
                      "  stop                                 stop moving\n"
                      "  goto PAN TILT [ZOOM]                 to a position: pan, tilt -1..1, zoom 0..1\n"
                      "  move-by PAN TILT [ZOOM]              by a step: each -1..1\n"
                      "  status                               where it points, and whether it moves\n"
                      "  presets                              the camera's presets\n"
                      "  preset save|go|rm NAME               save the current view, go to or remove one\n"
                      "Every command that moves it or changes presets is in the audit log.",
                      NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc < 3)
    return usage (ctl, argc < 2 ? "which camera?" : "which action? (left, right, up, down, zoom-in, zoom-out, "
                                                    "stop, goto, move-by, status, presets, preset)");
  action = argv[2];
  if (!(speed >= 0.05 && speed <= 1))
    return usage (ctl, "--speed must be from 0.05 to 1");
  if (for_text != NULL && !parse_duration_ms (ctl, for_text, &duration_ms))
    return EXIT_USAGE;
  if (g_str_equal (action, "goto") || g_str_equal (action, "move-by"))
    {
      gboolean is_goto = g_str_equal (action, "goto");

      if (argc < 5 || argc > 6)
        return usage (ctl, "%s takes PAN TILT and optionally ZOOM", action);
      if (!parse_number (ctl, "pan", argv[3], -1, 1, &v[0]) || !parse_number (ctl, "tilt", argv[4], -1, 1, &v[1])
          || (argc == 6 && !parse_number (ctl, "zoom", argv[5], is_goto ? 0 : -1, 1, &v[2])))
        return EXIT_USAGE;
      if (!is_goto && argc == 5)
        v[2] = 0;
    }
  else if (g_str_equal (action, "preset"))
    {
      if (argc != 5 || !(g_str_equal (argv[3], "save") || g_str_equal (argv[3], "go") || g_str_equal (argv[3], "rm")))
        return usage (ctl, "preset takes save, go or rm and a NAME");
    }
  else
    {
      static const gchar *const plain[] = { "stop", "status", "presets", NULL };

      for (guint i = 0; i < G_N_ELEMENTS (directions) && direction < 0; i++)
        if (g_str_equal (action, directions[i].name))
          direction = i;
      if (direction < 0 && !g_strv_contains (plain, action))
        return usage (ctl, "unknown action “%s”", unmark (action));
      if (argc != 3)
        return usage (ctl, "unexpected argument “%s”", unmark (argv[3]));
    }

  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  camera = ctl_get_camera (ctl, argv[1], &error);
  if (camera == NULL)
    return fail (error);

  if (direction >= 0)
    ok = vigil_dbus_camera_call_ptz_move_sync (camera, directions[direction].pan * speed,
                                               directions[direction].tilt * speed, directions[direction].zoom * speed,
                                               duration_ms, NULL, &error);
  else if (g_str_equal (action, "stop"))
    ok = vigil_dbus_camera_call_ptz_stop_sync (camera, NULL, &error);
  else if (g_str_equal (action, "goto"))
    ok = vigil_dbus_camera_call_ptz_goto_sync (camera, v[0], v[1], v[2], NULL, &error);
  else if (g_str_equal (action, "move-by"))
    ok = vigil_dbus_camera_call_ptz_move_by_sync (camera, v[0], v[1], v[2], NULL, &error);
  else if (g_str_equal (action, "status"))
    {
      gboolean has_position;
      gdouble pan, tilt, zoom;
      g_autofree gchar *moving = NULL;

      ok = vigil_dbus_camera_call_ptz_get_status_sync (camera, &has_position, &pan, &tilt, &zoom, &moving, NULL,
                                                       &error);
      if (ok && opt_json)
        {
          g_autoptr(JsonBuilder) builder = json_begin ();

          json_add_string (builder, "camera", argv[1]);
          json_add_boolean (builder, "has_position", has_position);
          json_add_double (builder, "pan", pan);
          json_add_double (builder, "tilt", tilt);
          json_add_double (builder, "zoom", zoom);
          json_add_string (builder, "moving", moving);
          json_print (builder);
        }
      else if (ok)
        {
          g_autofree gchar *position = has_position ? g_strdup_printf ("pan %.3f, tilt %.3f, zoom %.3f", pan, tilt,
                                                                       zoom)
                                                    : g_strdup ("not told by the camera");

          print_field ("position", position);
          print_field ("moving", moving);
        }
    }
  else if (g_str_equal (action, "presets"))
    {
      g_autoptr(GVariant) presets = NULL;

      ok = vigil_dbus_camera_call_list_presets_sync (camera, &presets, NULL, &error);
      if (ok)
        {
          g_autoptr(Table) table = opt_json ? NULL : table_new ("ll", "NAME", "TOKEN");
          g_autoptr(JsonBuilder) builder = NULL;
          GVariantIter iter;
          const gchar *token, *name;

          if (opt_json)
            builder = json_begin_listing ("presets");
          g_variant_iter_init (&iter, presets);
          while (g_variant_iter_next (&iter, "(&s&s)", &token, &name))
            if (opt_json)
              {
                json_builder_begin_object (builder);
                json_add_string (builder, "name", name);
                json_add_string (builder, "token", token);
                json_builder_end_object (builder);
              }
            else
              {
                table_add (table, name);
                table_add (table, token);
              }
          print_listing (builder, table);
        }
    }
  else if (g_str_equal (action, "preset") && g_str_equal (argv[3], "save"))
    {
      g_autofree gchar *token = NULL;

      ok = vigil_dbus_camera_call_save_preset_sync (camera, argv[4], &token, NULL, &error);
      if (ok && !opt_json)
        printf ("%s\n", token);
    }
  else if (g_str_equal (action, "preset") && g_str_equal (argv[3], "go"))
    ok = vigil_dbus_camera_call_goto_preset_sync (camera, argv[4], NULL, &error);
  else
    ok = vigil_dbus_camera_call_remove_preset_sync (camera, argv[4], NULL, &error);

  if (!ok)
    {
      if (is_unknown_object (error))
        return fail_message ("no camera “%s” (vigilctl cameras lists them)", argv[1]);
      return fail (error);
    }
  return EXIT_OK;
}

/* ---- discover ------------------------------------------------------------ */

/* A config group name from what the camera calls itself: letters, digits,
 * - and _ only, at most 64 (vigild's rule for camera names). */
static gchar *
suggest_camera_name (const VigilOnvifDiscovered *found, guint index)
{
  const gchar *source = found->name != NULL ? found->name : found->hardware;
  GString *name = g_string_new (NULL);

  for (const gchar *p = source; p != NULL && *p != '\0' && name->len < 64; p++)
    if (g_ascii_isalnum (*p) || *p == '-' || *p == '_')
      g_string_append_c (name, g_ascii_tolower (*p));
    else if (name->len > 0 && name->str[name->len - 1] != '-')
      g_string_append_c (name, '-');
  while (name->len > 0 && name->str[name->len - 1] == '-')
    g_string_truncate (name, name->len - 1);
  if (name->len == 0)
    g_string_printf (name, "camera%u", index + 1);
  return g_string_free (name, FALSE);
}

int
cmd_discover (Ctl *ctl, int argc, char **argv)
{
  gint timeout_ms = 3000;
  g_autofree gchar *target = NULL;
  const GOptionEntry entries[] = {
    { "timeout", 0, 0, G_OPTION_ARG_INT, &timeout_ms, "How long to listen for answers, in ms (default 3000)", "MS" },
    { "target", 0, 0, G_OPTION_ARG_STRING, &target,
      "Probe HOST:PORT only, instead of the multicast group 239.255.255.250:3702", "HOST:PORT" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) found = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(Table) table = NULL;

  if (!parse_options_no_args (ctl,
                              "Find ONVIF cameras on the local network (WS-Discovery), and print each with\n"
                              "its address, make and model and a config snippet for vigild. Runs here,\n"
                              "without vigild.", NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if (timeout_ms < 100 || timeout_ms > 60000)
    return usage (ctl, "--timeout must be from 100 to 60000 ms");
  found = vigil_onvif_discover (target, (guint) timeout_ms, NULL, &error);
  if (found == NULL)
    return fail_message ("discovery failed: %s", error->message);

  if (opt_json)
    builder = json_begin_listing ("cameras");
  else
    table = table_new ("llll", "ADDRESS", "NAME", "HARDWARE", "ENDPOINT");
  for (guint i = 0; i < found->len; i++)
    {
      const VigilOnvifDiscovered *camera = found->pdata[i];
      g_autofree gchar *name = suggest_camera_name (camera, i);

      if (opt_json)
        {
          json_builder_begin_object (builder);
          json_add_string (builder, "device_url", camera->device_url);
          json_add_string (builder, "name", camera->name);
          json_add_string (builder, "hardware", camera->hardware);
          json_add_string (builder, "endpoint", camera->endpoint);
          json_add_string (builder, "from", camera->from_address);
          json_add_strv (builder, "xaddrs", (const gchar *const *) camera->xaddrs);
          json_add_strv (builder, "scopes", (const gchar *const *) camera->scopes);
          json_add_string (builder, "suggested_name", name);
          json_builder_end_object (builder);
        }
      else
        {
          table_add (table, camera->device_url);
          table_add (table, camera->name != NULL ? camera->name : "-");
          table_add (table, camera->hardware != NULL ? camera->hardware : "-");
          table_add (table, camera->endpoint);
        }
    }
  if (opt_json)
    {
      print_listing (builder, table);
      return EXIT_OK;
    }
  if (found->len == 0)
    {
      printf ("no ONVIF camera answered within %d ms\n", timeout_ms);
      return EXIT_OK;
    }
  print_listing (builder, table);
  printf ("\nFor vigild's config (the password goes in the file, readable by vigild only):\n");
  for (guint i = 0; i < found->len; i++)
    {
      const VigilOnvifDiscovered *camera = found->pdata[i];
      g_autofree gchar *name = suggest_camera_name (camera, i);
      g_autofree gchar *clean_url = vigil_text_sanitize (camera->device_url, 0, VIGIL_TEXT_DEFAULT);

      printf ("\n[camera %s]\nonvif=%s\nuser=admin\npassword_file=/etc/vigil/%s.password\n", name, clean_url, name);
    }
  return EXIT_OK;
}
