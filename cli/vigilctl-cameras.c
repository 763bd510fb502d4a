/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl cameras, status and spans: what vigild records, read from its
 * Manager and Camera objects, and why a camera that refused the login or
 * is busy waits. Read-only; changes nothing in vigild. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

static gchar *
local_or_dash (gint64 time_us)
{
  return time_us != 0 ? vigil_time_format_local (time_us) : g_strdup ("-");
}

/* "1.2 GiB"; GLib puts a no-break space before the unit, which copies
 * badly out of terminals, so it becomes a plain one. */
static gchar *
format_bytes (guint64 bytes)
{
  g_autofree gchar *text = g_format_size_full (bytes, G_FORMAT_SIZE_IEC_UNITS);
  g_auto(GStrv) parts = g_strsplit (text, "\u00a0", -1);

  return g_strjoinv (" ", parts);
}

/* ---- cameras ------------------------------------------------------------ */

/* "+0.1 s" ahead or behind vigild's host, "-" while unknown. */
static gchar *
describe_clock (VigilDBusCamera *camera)
{
  const gchar *source = vigil_dbus_camera_get_clock_source (camera);

  if (source == NULL || source[0] == '\0')
    return g_strdup ("-");
  return g_strdup_printf ("%+.1f s", vigil_dbus_camera_get_clock_offset_us (camera) / 1e6);
}

/* "Make Model (firmware F), PTZ" for an ONVIF camera, "-" otherwise. */
static gchar *
describe_device (VigilDBusCamera *camera)
{
  const gchar *make = vigil_dbus_camera_get_manufacturer (camera);
  const gchar *model = vigil_dbus_camera_get_model (camera);
  const gchar *firmware = vigil_dbus_camera_get_firmware (camera);
  const gchar *device = vigil_dbus_camera_get_onvif_device (camera);
  GString *text;

  if (device == NULL || device[0] == '\0')
    return g_strdup ("-");
  if (make == NULL || make[0] == '\0')
    return g_strdup_printf ("ONVIF %s (not answered yet)", device);
  text = g_string_new (NULL);
  g_string_append_printf (text, "%s %s", make, model != NULL ? model : "");
  if (firmware != NULL && firmware[0] != '\0')
    g_string_append_printf (text, " (firmware %s)", firmware);
  if (vigil_dbus_camera_get_has_ptz (camera))
    g_string_append (text, ", PTZ");
  return g_string_free (text, FALSE);
}

/* "cam1: login refused (401 Unauthorized) for user admin; next attempt at
 * …, `vigilctl camera retry cam1` to try now". */
static gchar *
describe_wait (const gchar *name, const gchar *reason, gint64 next_attempt_us)
{
  g_autofree gchar *when = next_attempt_us != 0 ? vigil_time_format_local (next_attempt_us) : g_strdup ("?");

  return g_strdup_printf ("%s: %s; next attempt at %s, `vigilctl camera retry %s` to try now", name, reason, when,
                          name);
}

int
cmd_cameras (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GString) waits = g_string_new (NULL);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_auto(GStrv) paths = NULL;
  g_autoptr(Table) table = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  int status;

  if (!parse_options_no_args (ctl, "The cameras and their recording: state, the current recording run, the\n"
                              "newest segment's bitrate and frame rate, the bytes stored, how far the\n"
                              "camera's clock is off vigild's, and for ONVIF cameras their make, model\n"
                              "and firmware.", NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_cameras_sync (ctl->manager, &paths, NULL, &error))
    return fail (error);
  objects = ctl_get_object_manager (ctl, &error);
  if (objects == NULL)
    return fail (error);

  if (opt_json)
    builder = json_begin_listing ("cameras");
  else
    table = table_new ("llllrrrrl", "NAME", "STATE", "RECORDING SINCE", "LAST SEGMENT END", "MBIT/S", "FPS",
                       "STORED", "CLOCK", "CAMERA");
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autoptr(GDBusObject) object = g_dbus_object_manager_get_object (objects, paths[i]);
      g_autoptr(VigilDBusCamera) camera = NULL;

      /* A camera removed between the two calls is simply left out. */
      if (object == NULL || (camera = vigil_dbus_object_get_camera (VIGIL_DBUS_OBJECT (object))) == NULL)
        continue;
      if (opt_json)
        {
          json_builder_begin_object (builder);
          json_add_string (builder, "name", vigil_dbus_camera_get_name (camera));
          json_add_string (builder, "path", paths[i]);
          json_add_string (builder, "state", vigil_dbus_camera_get_state (camera));
          json_add_time (builder, "recording_since", vigil_dbus_camera_get_run_start_us (camera));
          json_add_time (builder, "last_segment_end", vigil_dbus_camera_get_last_segment_end_us (camera));
          json_add_int (builder, "bitrate_bps", (gint64) vigil_dbus_camera_get_bitrate_bps (camera));
          json_add_double (builder, "frame_rate", vigil_dbus_camera_get_frame_rate (camera));
          json_add_int (builder, "stored_bytes", (gint64) vigil_dbus_camera_get_stored_bytes (camera));
          json_add_string (builder, "clock_source", vigil_dbus_camera_get_clock_source (camera));
          json_add_int (builder, "clock_offset_us", vigil_dbus_camera_get_clock_offset_us (camera));
          json_add_string (builder, "onvif_device", vigil_dbus_camera_get_onvif_device (camera));
          json_add_string (builder, "manufacturer", vigil_dbus_camera_get_manufacturer (camera));
          json_add_string (builder, "model", vigil_dbus_camera_get_model (camera));
          json_add_string (builder, "firmware", vigil_dbus_camera_get_firmware (camera));
          json_add_string (builder, "profile", vigil_dbus_camera_get_profile (camera));
          json_add_boolean (builder, "ptz", vigil_dbus_camera_get_has_ptz (camera));
          json_add_string (builder, "wait_reason", vigil_dbus_camera_get_wait_reason (camera));
          json_add_time (builder, "next_attempt", vigil_dbus_camera_get_next_attempt_us (camera));
          json_builder_end_object (builder);
        }
      else
        {
          guint64 bitrate_bps = vigil_dbus_camera_get_bitrate_bps (camera);
          gdouble frame_rate = vigil_dbus_camera_get_frame_rate (camera);

          table_add (table, vigil_dbus_camera_get_name (camera));
          table_add (table, vigil_dbus_camera_get_state (camera));
          table_take (table, local_or_dash (vigil_dbus_camera_get_run_start_us (camera)));
          table_take (table, local_or_dash (vigil_dbus_camera_get_last_segment_end_us (camera)));
          table_take (table, bitrate_bps > 0 ? g_strdup_printf ("%.2f", bitrate_bps / 1e6) : g_strdup ("-"));
          table_take (table, frame_rate > 0 ? g_strdup_printf ("%.1f", frame_rate) : g_strdup ("-"));
          table_take (table, format_bytes (vigil_dbus_camera_get_stored_bytes (camera)));
          table_take (table, describe_clock (camera));
          table_take (table, describe_device (camera));
          if (vigil_dbus_camera_get_wait_reason (camera) != NULL && vigil_dbus_camera_get_wait_reason (camera)[0])
            {
              g_autofree gchar *line = describe_wait (vigil_dbus_camera_get_name (camera),
                                                      vigil_dbus_camera_get_wait_reason (camera),
                                                      vigil_dbus_camera_get_next_attempt_us (camera));
              g_autofree gchar *shown = vigil_text_sanitize (line, 0, VIGIL_TEXT_DEFAULT);

              g_string_append_printf (waits, "%s\n", shown);
            }
        }
    }
  print_listing (builder, table);
  if (waits->len > 0)
    printf ("\n%s", waits->str);
  return EXIT_OK;
}

/* ---- status ------------------------------------------------------------- */

/* Turns one GetStatus value into text; @status for values shown together. */
typedef gchar *(*ShowFunc) (GVariant *value, GVariant *status);

static gchar *
show_string (GVariant *value, GVariant *status)
{
  return g_variant_dup_string (value, NULL);
}

static gchar *
show_uptime (GVariant *value, GVariant *status)
{
  guint64 seconds = MIN (g_variant_get_uint64 (value), (guint64) G_MAXINT64 / G_USEC_PER_SEC);

  return vigil_time_format_duration ((gint64) seconds * G_USEC_PER_SEC);
}

static gchar *
show_cameras (GVariant *value, GVariant *status)
{
  g_autoptr(GVariant) recording = g_variant_lookup_value (status, "cameras-recording", G_VARIANT_TYPE_UINT32);

  if (recording == NULL)
    return g_strdup_printf ("%u", g_variant_get_uint32 (value));
  return g_strdup_printf ("%u (%u recording)", g_variant_get_uint32 (value), g_variant_get_uint32 (recording));
}

/* Each waiting camera, why and until when. */
static gchar *
show_waiting (GVariant *value, GVariant *status)
{
  GString *text = g_string_new (NULL);
  GVariantIter iter;
  const gchar *name, *reason;
  gint64 next_attempt_us;

  g_variant_iter_init (&iter, value);
  while (g_variant_iter_next (&iter, "(&s&sx)", &name, &reason, &next_attempt_us))
    {
      g_autofree gchar *line = describe_wait (name, reason, next_attempt_us);

      g_string_append_printf (text, "%s%s", text->len > 0 ? " | " : "", line);
    }
  if (text->len == 0)
    g_string_append (text, "none");
  return g_string_free (text, FALSE);
}

static gchar *
show_bytes (GVariant *value, GVariant *status)
{
  return format_bytes (g_variant_get_uint64 (value));
}

static gchar *
show_number (GVariant *value, GVariant *status)
{
  return g_variant_print (value, FALSE);
}

static gchar *
show_fingerprint (GVariant *value, GVariant *status)
{
  return g_strconcat ("SHA256:", g_variant_get_string (value, NULL), NULL);
}

int
cmd_status (Ctl *ctl, int argc, char **argv)
{
  /* GetStatus's documented keys, shown first and readably; any others
   * (or a documented key of another type) follow as vigild gave them. */
  static const struct {
    const gchar *key, *type, *label;
    ShowFunc     show;
  } fields[] = {
    { "version", "s", "version", show_string },
    { "uptime-s", "t", "uptime", show_uptime },
    { "cameras", "u", "cameras", show_cameras },
    { "cameras-recording", "u", NULL, NULL },   /* shown with "cameras" */
    { "cameras-waiting", "a(ssx)", "waiting", show_waiting },
    { "storage-root", "s", "storage root", show_string },
    { "stored-bytes", "t", "stored", show_bytes },
    { "free-bytes", "t", "free", show_bytes },
    { "open-incidents", "u", "open incidents", show_number },
    { "audit-rows", "x", "audit rows", show_number },
    { "public-key-sha256", "s", "public key", show_fingerprint },
    { "live", "s", "live viewing", show_string },
    { "live-url", "s", "live url", show_string },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status_dict = NULL;
  g_autoptr(GHashTable) shown = g_hash_table_new (g_str_hash, g_str_equal);
  GVariantIter iter;
  const gchar *key;
  GVariant *value;
  int status;

  if (!parse_options_no_args (ctl, "vigild's health at a glance.", NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_get_status_sync (ctl->manager, &status_dict, NULL, &error))
    return fail (error);

  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      g_variant_iter_init (&iter, status_dict);
      while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
        {
          json_builder_set_member_name (builder, key);
          json_builder_add_value (builder, json_gvariant_serialize (value));
          g_variant_unref (value);
        }
      json_print (builder);
      return EXIT_OK;
    }

  for (guint i = 0; i < G_N_ELEMENTS (fields); i++)
    {
      g_autoptr(GVariant) field = g_variant_lookup_value (status_dict, fields[i].key, G_VARIANT_TYPE (fields[i].type));
      g_autofree gchar *text = NULL;

      if (field == NULL)
        continue;
      if (fields[i].show == NULL)
        {
          g_autoptr(GVariant) cameras = g_variant_lookup_value (status_dict, "cameras", G_VARIANT_TYPE_UINT32);

          if (cameras != NULL)
            g_hash_table_add (shown, (gpointer) fields[i].key);
          continue;
        }
      text = fields[i].show (field, status_dict);
      print_field (fields[i].label, text);
      g_hash_table_add (shown, (gpointer) fields[i].key);
    }
  g_variant_iter_init (&iter, status_dict);
  while (g_variant_iter_next (&iter, "{&sv}", &key, &value))
    {
      g_autoptr(GVariant) owned = value;
      g_autofree gchar *text = NULL;

      if (g_hash_table_contains (shown, key))
        continue;
      text = g_variant_is_of_type (value, G_VARIANT_TYPE_STRING) ? g_variant_dup_string (value, NULL)
                                                                  : g_variant_print (value, FALSE);
      print_field (key, text);
    }
  return EXIT_OK;
}

/* ---- spans -------------------------------------------------------------- */

typedef struct {
  gint64       start_us, end_us;
  const gchar *gap_reason;   /* NULL for a recorded span; borrowed from the reply */
} Stretch;

static gint
compare_stretches (gconstpointer a, gconstpointer b)
{
  const Stretch *x = a, *y = b;

  return x->start_us < y->start_us ? -1 : x->start_us > y->start_us ? 1 : 0;
}

static void
json_add_stretch (JsonBuilder *builder, const Stretch *stretch)
{
  json_builder_begin_object (builder);
  json_add_time (builder, "start", stretch->start_us);
  json_add_time (builder, "end", stretch->end_us);
  json_add_int (builder, "duration_us", stretch->end_us - stretch->start_us);
  if (stretch->gap_reason != NULL)
    json_add_string (builder, "reason", stretch->gap_reason);
  json_builder_end_object (builder);
}

int
cmd_spans (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *from_text = NULL, *to_text = NULL;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "Start of the range (required)", "T" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to_text, "End of the range (required)", "T" },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusCamera) camera = NULL;
  g_autoptr(GVariant) spans = NULL, gaps = NULL;
  g_autoptr(GArray) stretches = g_array_new (FALSE, FALSE, sizeof (Stretch));
  GVariantIter iter;
  Stretch stretch = { 0 };
  gint64 from_us, to_us;
  int status;

  if (!parse_options (ctl, "CAM --from T --to T",
                      "A camera's recorded stretches and the gaps between them over [from, to],\n"
                      "with the reason each gap began.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return usage (ctl, argc < 2 ? "which camera?" : "one camera at a time");
  if (from_text == NULL || to_text == NULL)
    return usage (ctl, "--from and --to are required");
  if (!parse_time_option (ctl, "--from", from_text, &from_us) || !parse_time_option (ctl, "--to", to_text, &to_us))
    return EXIT_USAGE;
  if (to_us <= from_us)
    return usage (ctl, "--to must be after --from");
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;

  camera = ctl_get_camera (ctl, argv[1], &error);
  if (camera == NULL)
    return fail (error);
  if (!vigil_dbus_camera_call_list_spans_sync (camera, from_us, to_us, &spans, &gaps, NULL, &error))
    {
      if (is_unknown_object (error))
        return fail_message ("no camera “%s” (vigilctl cameras lists them)", argv[1]);
      return fail (error);
    }

  g_variant_iter_init (&iter, spans);
  while (g_variant_iter_next (&iter, "(xx)", &stretch.start_us, &stretch.end_us))
    g_array_append_val (stretches, stretch);
  g_variant_iter_init (&iter, gaps);
  while (g_variant_iter_next (&iter, "(xx&s)", &stretch.start_us, &stretch.end_us, &stretch.gap_reason))
    g_array_append_val (stretches, stretch);
  g_array_sort (stretches, compare_stretches);

  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_string (builder, "camera", argv[1]);
      json_add_time (builder, "from", from_us);
      json_add_time (builder, "to", to_us);
      json_builder_set_member_name (builder, "spans");
      json_builder_begin_array (builder);
      for (guint i = 0; i < stretches->len; i++)
        if (g_array_index (stretches, Stretch, i).gap_reason == NULL)
          json_add_stretch (builder, &g_array_index (stretches, Stretch, i));
      json_builder_end_array (builder);
      json_builder_set_member_name (builder, "gaps");
      json_builder_begin_array (builder);
      for (guint i = 0; i < stretches->len; i++)
        if (g_array_index (stretches, Stretch, i).gap_reason != NULL)
          json_add_stretch (builder, &g_array_index (stretches, Stretch, i));
      json_builder_end_array (builder);
      json_print (builder);
    }
  else
    {
      g_autoptr(Table) table = table_new ("llrl", "START", "END", "DURATION", "");
      gint64 recorded_us = 0;
      g_autofree gchar *recorded = NULL, *total = NULL;

      for (guint i = 0; i < stretches->len; i++)
        {
          const Stretch *s = &g_array_index (stretches, Stretch, i);

          table_take (table, vigil_time_format_local (s->start_us));
          table_take (table, vigil_time_format_local (s->end_us));
          table_take (table, vigil_time_format_duration (s->end_us - s->start_us));
          if (s->gap_reason == NULL)
            {
              table_add (table, "recorded");
              recorded_us += s->end_us - s->start_us;
            }
          else if (s->gap_reason[0] == '\0')
            table_add (table, "gap");
          else
            table_take (table, g_strconcat ("gap: ", s->gap_reason, NULL));
        }
      table_print (table);
      recorded = vigil_time_format_duration (recorded_us);
      total = vigil_time_format_duration (to_us - from_us);
      printf ("recorded %s of %s\n", recorded, total);
    }
  return EXIT_OK;
}
