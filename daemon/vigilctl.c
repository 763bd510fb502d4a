/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl: the operator's command line over vigild's D-Bus interface
 * (dbus/org.vigil.Vigil1.xml), plus checking an export bundle locally.
 * It talks to vigild only through the generated VigilDBus* proxies and
 * never opens the catalog, the recordings or anything else of vigild's
 * itself; it links neither GStreamer nor SQLite. Human output is plain
 * aligned text with every control character from the daemon or a bundle
 * replaced, so a title cannot drive the terminal; --json prints one JSON
 * document on stdout instead. Errors are one line on stderr.
 * Exit status: 0 done, 1 vigild refused or failed (or a bundle or the
 * audit log did not verify), 2 bad command line, 3 vigild not reachable. */
#include <glib-unix.h>
#include <json-glib/json-glib.h>
#include <limits.h>
#include <locale.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

#include "vigil-bundle.h"
#include "vigil-dbus-generated.h"
#include "vigil-onvif.h"
#include "vigil-time.h"

#define BUS_NAME             "org.vigil.Vigil1"
#define MANAGER_PATH         "/org/vigil/Vigil1"
#define CAMERA_PATH_PREFIX   MANAGER_PATH "/Camera/"
#define INCIDENT_PATH_PREFIX MANAGER_PATH "/Incident/"
#define EXPORT_INTERFACE     "org.vigil.Vigil1.Export"

enum {
  EXIT_OK = 0,
  EXIT_FAILED = 1,       /* vigild refused or failed; verification failed */
  EXIT_USAGE = 2,        /* bad command line */
  EXIT_UNREACHABLE = 3,  /* no bus, or nobody owns org.vigil.Vigil1 on it */
};

#define TIME_FORMS "Times: 2026-11-28T14:05:00 or \"2026-11-28 14:05\" (local time; add Z or +01:00 for\n" \
                   "another zone), 14:05 (today), now, or relative: -30s, -15m, -2h, -1d, +30d."

static gboolean opt_session;
static gboolean opt_json;

static const GOptionEntry global_entries[] = {
  { "session", 0, 0, G_OPTION_ARG_NONE, &opt_session, "Talk to a vigild on the session bus (default: the system bus)", NULL },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print one JSON document on stdout instead of text", NULL },
  { NULL }
};

typedef struct {
  gchar            *command;   /* "incident create", for messages and help */
  GDBusConnection  *bus;
  VigilDBusManager *manager;
} Ctl;

static void
ctl_clear (Ctl *ctl)
{
  g_clear_pointer (&ctl->command, g_free);
  g_clear_object (&ctl->manager);
  g_clear_object (&ctl->bus);
}

static const gchar *
bus_label (void)
{
  return opt_session ? "session" : "system";
}

/* ---- Messages and exit statuses ---------------------------------------- */

static int usage (Ctl *ctl, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

/* A bad command line: says what, and where the help is. */
static int
usage (Ctl *ctl, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "vigilctl: %s (see vigilctl %s%s--help)\n", message,
           ctl->command != NULL ? ctl->command : "", ctl->command != NULL ? " " : "");
  return EXIT_USAGE;
}

static int
unreachable (const gchar *detail)
{
  fprintf (stderr, "vigilctl: vigild is not reachable on the %s bus (%s); %s\n", bus_label (), detail,
           opt_session ? "is vigild running with --session? (without it vigilctl uses the system bus)"
                       : "for a vigild running on the session bus, add --session");
  return EXIT_UNREACHABLE;
}

static gboolean
is_unreachable (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_SERVICE_UNKNOWN) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_NAME_HAS_NO_OWNER) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_DISCONNECTED) ||
         g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CLOSED);
}

/* Calling into an object vigild does not have. */
static gboolean
is_unknown_object (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE);
}

/* Prints a failed call's error as one line and returns the exit status it
 * calls for. vigild's own errors (org.vigil.Vigil1.Error.*) carry a
 * message meant for the operator, so only the D-Bus prefix goes. */
static int
fail (GError *error)
{
  if (is_unreachable (error))
    {
      g_dbus_error_strip_remote_error (error);
      return unreachable (error->message);
    }
  g_dbus_error_strip_remote_error (error);
  fprintf (stderr, "vigilctl: %s\n", error->message);
  return EXIT_FAILED;
}

static int fail_message (const gchar *format, ...) G_GNUC_PRINTF (1, 2);

static int
fail_message (const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  fprintf (stderr, "vigilctl: %s\n", message);
  return EXIT_FAILED;
}

/* ---- Text output -------------------------------------------------------- */

/* @text with every control character (escape sequences, newlines, tabs)
 * replaced by a space, or kept as a newline when @keep_newlines. D-Bus
 * strings are valid UTF-8; a bundle's problem lines are treated the same. */
static gchar *
sanitize (const gchar *text, gboolean keep_newlines)
{
  g_autofree gchar *valid = g_utf8_make_valid (text != NULL ? text : "", -1);
  GString *out = g_string_sized_new (strlen (valid));

  for (const gchar *p = valid; *p != '\0'; p = g_utf8_next_char (p))
    {
      gunichar c = g_utf8_get_char (p);

      if (c == '\n' && keep_newlines)
        g_string_append_c (out, '\n');
      else if (g_unichar_iscntrl (c))
        g_string_append_c (out, ' ');
      else
        g_string_append_unichar (out, c);
    }
  return g_string_free (out, FALSE);
}

static gchar *
local_or_dash (gint64 time_us)
{
  return time_us != 0 ? vigil_time_format_local (time_us) : g_strdup ("-");
}

static gchar *
join_or_dash (const gchar *const *strv)
{
  return strv != NULL && strv[0] != NULL ? g_strjoinv (",", (gchar **) strv) : g_strdup ("-");
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

/* Aligned columns, a header row first; the last column is not padded. */
typedef struct {
  const gchar *align;       /* one 'l' or 'r' per column */
  guint        n_columns;
  GPtrArray   *cells;       /* gchar*, sanitized, row-major */
} Table;

static void
table_free (Table *table)
{
  g_ptr_array_unref (table->cells);
  g_free (table);
}
G_DEFINE_AUTOPTR_CLEANUP_FUNC (Table, table_free)

/* Takes ownership of @text. */
static void
table_take (Table *table, gchar *text)
{
  g_ptr_array_add (table->cells, sanitize (text, FALSE));
  g_free (text);
}

static void
table_add (Table *table, const gchar *text)
{
  g_ptr_array_add (table->cells, sanitize (text, FALSE));
}

/* @align gives the number of columns; then that many header strings. */
static Table *
table_new (const gchar *align, ...)
{
  Table *table = g_new0 (Table, 1);
  va_list args;

  table->align = align;
  table->n_columns = strlen (align);
  table->cells = g_ptr_array_new_with_free_func (g_free);
  va_start (args, align);
  for (guint i = 0; i < table->n_columns; i++)
    table_add (table, va_arg (args, const gchar *));
  va_end (args);
  return table;
}

static void
table_print (Table *table)
{
  g_autofree glong *widths = g_new0 (glong, table->n_columns);
  g_autoptr(GString) line = g_string_new (NULL);

  g_assert (table->cells->len % table->n_columns == 0);
  for (guint i = 0; i < table->cells->len; i++)
    widths[i % table->n_columns] = MAX (widths[i % table->n_columns],
                                        g_utf8_strlen (table->cells->pdata[i], -1));
  for (guint i = 0; i < table->cells->len; i++)
    {
      guint column = i % table->n_columns;
      const gchar *cell = table->cells->pdata[i];
      gsize pad = widths[column] - g_utf8_strlen (cell, -1);

      if (column > 0)
        g_string_append (line, "  ");
      if (table->align[column] == 'r')
        g_string_append_printf (line, "%*s", (int) pad, "");
      g_string_append (line, cell);
      if (table->align[column] != 'r')
        g_string_append_printf (line, "%*s", (int) pad, "");
      if (column == table->n_columns - 1)
        {
          while (line->len > 0 && line->str[line->len - 1] == ' ')
            g_string_truncate (line, line->len - 1);
          printf ("%s\n", line->str);
          g_string_truncate (line, 0);
        }
    }
}

/* "key:   value" lines with the values lined up. */
static void
print_field (const gchar *key, const gchar *value)
{
  g_autofree gchar *label = g_strconcat (key, ":", NULL);
  g_autofree gchar *clean = sanitize (value, FALSE);

  printf ("%-16s %s\n", label, clean);
}

/* ---- JSON output -------------------------------------------------------- */

static JsonBuilder *
json_begin (void)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  return builder;
}

static void
json_print (JsonBuilder *builder)
{
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autofree gchar *text = NULL;

  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  json_generator_set_pretty (generator, TRUE);
  text = json_generator_to_data (generator, NULL);
  printf ("%s\n", text);
}

/* Ends a listing: the JSON array opened on @builder with --json, else
 * the table. */
static void
print_listing (JsonBuilder *builder, Table *table)
{
  if (opt_json)
    {
      json_builder_end_array (builder);
      json_print (builder);
    }
  else
    table_print (table);
}

static void
json_add_string (JsonBuilder *builder, const gchar *name, const gchar *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

static void
json_add_int (JsonBuilder *builder, const gchar *name, gint64 value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

static void
json_add_double (JsonBuilder *builder, const gchar *name, gdouble value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_double_value (builder, value);
}

static void
json_add_boolean (JsonBuilder *builder, const gchar *name, gboolean value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_boolean_value (builder, value);
}

/* NAME_us, the µs as vigild gave them, and NAME, the same in ISO 8601
 * UTC (null where 0 means none). */
static void
json_add_time (JsonBuilder *builder, const gchar *name, gint64 time_us)
{
  g_autofree gchar *name_us = g_strconcat (name, "_us", NULL);
  g_autofree gchar *iso = time_us != 0 ? vigil_time_format_iso8601 (time_us) : NULL;

  json_add_int (builder, name_us, time_us);
  json_add_string (builder, name, iso);
}

static void
json_add_strv (JsonBuilder *builder, const gchar *name, const gchar *const *strv)
{
  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  for (guint i = 0; strv != NULL && strv[i] != NULL; i++)
    json_builder_add_string_value (builder, strv[i]);
  json_builder_end_array (builder);
}

/* ---- Command lines ------------------------------------------------------ */

/* Parses a command's options (its own and the global ones) out of
 * @argc/@argv, leaving argv[0] and the positional arguments. --help
 * prints and exits 0, as GOption does. */
static gboolean
parse_options (Ctl *ctl, const gchar *parameters, const gchar *summary, const gchar *description,
               const GOptionEntry *entries, int *argc, char ***argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new (parameters);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *prgname = g_strconcat ("vigilctl ", ctl->command, NULL);

  g_set_prgname (prgname);
  g_option_context_set_summary (context, summary);
  if (description != NULL)
    g_option_context_set_description (context, description);
  if (entries != NULL)
    g_option_context_add_main_entries (context, entries, NULL);
  g_option_context_add_main_entries (context, global_entries, NULL);
  if (!g_option_context_parse (context, argc, argv, &error))
    {
      usage (ctl, "%s", error->message);
      return FALSE;
    }
  /* GOption keeps a "--" that follows a positional argument; it only
   * ever means "no more options" here (incident note 7 -- -1 is fine). */
  for (int i = 1; i < *argc; i++)
    if (g_str_equal ((*argv)[i], "--"))
      {
        memmove (*argv + i, *argv + i + 1, (*argc - i) * sizeof (char *));   /* with the NULL */
        (*argc)--;
        break;
      }
  return TRUE;
}

static gboolean
parse_time_option (Ctl *ctl, const gchar *option, const gchar *text, gint64 *out_us)
{
  g_autoptr(GError) error = NULL;

  if (vigil_time_parse (text, out_us, &error))
    return TRUE;
  usage (ctl, "%s: %s", option, error->message);
  return FALSE;
}

static gboolean
parse_uint_option (Ctl *ctl, const gchar *option, const gchar *text, guint *out_value)
{
  guint64 value;

  if (!g_ascii_string_to_unsigned (text, 10, 0, G_MAXUINT32, &value, NULL))
    {
      usage (ctl, "%s: “%s” is not a whole number from 0 to %u", option, text, G_MAXUINT32);
      return FALSE;
    }
  *out_value = (guint) value;
  return TRUE;
}

static gboolean
parse_incident_id (Ctl *ctl, const gchar *text, gint64 *out_id)
{
  if (!g_ascii_string_to_signed (text, 10, 1, G_MAXINT64, out_id, NULL))
    {
      usage (ctl, "“%s” is not an incident id (a number, as incident list shows)", text);
      return FALSE;
    }
  return TRUE;
}

/* ---- Reaching vigild ---------------------------------------------------- */

/* Connects to the bus and to vigild's Manager; on failure prints why and
 * returns the exit status. The Manager proxy also carries vigild's signals
 * (ExportFinished), subscribed from here on. */
static int
ctl_connect (Ctl *ctl)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *owner = NULL;

  ctl->bus = g_bus_get_sync (opt_session ? G_BUS_TYPE_SESSION : G_BUS_TYPE_SYSTEM, NULL, &error);
  if (ctl->bus == NULL)
    {
      g_autofree gchar *detail = g_strdup_printf ("cannot connect: %s", error->message);
      return unreachable (detail);
    }
  /* Without DO_NOT_AUTO_START, a bus-activatable vigild is started here. */
  ctl->manager = vigil_dbus_manager_proxy_new_sync (ctl->bus, G_DBUS_PROXY_FLAGS_NONE, BUS_NAME, MANAGER_PATH,
                                                    NULL, &error);
  if (ctl->manager == NULL)
    return fail (error);
  owner = g_dbus_proxy_get_name_owner (G_DBUS_PROXY (ctl->manager));
  if (owner == NULL)
    return unreachable ("nobody owns " BUS_NAME);
  return EXIT_OK;
}

static GDBusObjectManager *
ctl_get_object_manager (Ctl *ctl, GError **error)
{
  return vigil_dbus_object_manager_client_new_sync (ctl->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                    BUS_NAME, MANAGER_PATH, NULL, error);
}

/* A proxy for camera @name's object, its properties not loaded: calls on
 * a camera vigild does not have fail with an unknown-object error. */
static VigilDBusCamera *
ctl_get_camera (Ctl *ctl, const gchar *name, GError **error)
{
  g_autofree gchar *escaped = g_dbus_escape_object_path (name);
  g_autofree gchar *path = g_strconcat (CAMERA_PATH_PREFIX, escaped, NULL);

  return vigil_dbus_camera_proxy_new_sync (ctl->bus,
                                           G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                           G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                           BUS_NAME, path, NULL, error);
}

static gchar *
incident_path (gint64 id)
{
  return g_strdup_printf (INCIDENT_PATH_PREFIX "%" G_GINT64_FORMAT, id);
}

/* The id in /org/vigil/Vigil1/Incident/ID, or 0. */
static gint64
incident_id_from_path (const gchar *path)
{
  gint64 id = 0;

  if (!g_str_has_prefix (path, INCIDENT_PATH_PREFIX) ||
      !g_ascii_string_to_signed (path + strlen (INCIDENT_PATH_PREFIX), 10, 1, G_MAXINT64, &id, NULL))
    return 0;
  return id;
}

/* A proxy for incident @id; with @load_properties, NULL and exit status 1
 * (printed) when vigild has no such incident. */
static VigilDBusIncident *
ctl_get_incident (Ctl *ctl, gint64 id, gboolean load_properties, int *out_status)
{
  g_autofree gchar *path = incident_path (id);
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_auto(GStrv) names = NULL;

  incident = vigil_dbus_incident_proxy_new_sync (ctl->bus,
                                                 load_properties ? G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS
                                                                 : G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                                                   G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                                 BUS_NAME, path, NULL, &error);
  if (incident == NULL)
    {
      *out_status = fail (error);
      return NULL;
    }
  if (!load_properties)
    return g_steal_pointer (&incident);
  /* GDBusProxy loads properties quietly; none at all means no such object. */
  names = g_dbus_proxy_get_cached_property_names (G_DBUS_PROXY (incident));
  if (names == NULL || names[0] == NULL)
    {
      *out_status = fail_message ("no incident %" G_GINT64_FORMAT, id);
      return NULL;
    }
  return g_steal_pointer (&incident);
}

/* fail() for a call on incident @id, naming it when vigild has no such object. */
static int
fail_incident (GError *error, gint64 id)
{
  if (is_unknown_object (error))
    return fail_message ("no incident %" G_GINT64_FORMAT, id);
  return fail (error);
}

/* ---- Incidents as text and JSON ----------------------------------------- */

static void
json_add_incident (JsonBuilder *builder, VigilDBusIncident *incident)
{
  GVariant *notes = vigil_dbus_incident_get_notes (incident);

  json_builder_begin_object (builder);
  json_add_int (builder, "id", vigil_dbus_incident_get_id (incident));
  json_add_string (builder, "path", g_dbus_proxy_get_object_path (G_DBUS_PROXY (incident)));
  json_add_string (builder, "title", vigil_dbus_incident_get_title (incident));
  json_add_string (builder, "description", vigil_dbus_incident_get_description (incident));
  json_add_string (builder, "state", vigil_dbus_incident_get_state (incident));
  json_add_boolean (builder, "locked", vigil_dbus_incident_get_locked (incident));
  json_add_strv (builder, "cameras", vigil_dbus_incident_get_cameras (incident));
  json_add_strv (builder, "tags", vigil_dbus_incident_get_tags (incident));
  json_add_time (builder, "start", vigil_dbus_incident_get_start_us (incident));
  json_add_time (builder, "end", vigil_dbus_incident_get_end_us (incident));
  json_add_int (builder, "pre_roll_s", vigil_dbus_incident_get_pre_roll_s (incident));
  json_add_int (builder, "post_roll_s", vigil_dbus_incident_get_post_roll_s (incident));
  json_add_time (builder, "expires", vigil_dbus_incident_get_expires_us (incident));
  json_add_time (builder, "created", vigil_dbus_incident_get_created_us (incident));
  json_add_string (builder, "created_by", vigil_dbus_incident_get_created_by (incident));
  json_add_string (builder, "release_reason", vigil_dbus_incident_get_release_reason (incident));
  json_builder_set_member_name (builder, "notes");
  json_builder_begin_array (builder);
  if (notes != NULL && g_variant_is_of_type (notes, G_VARIANT_TYPE ("a(xxss)")))
    {
      GVariantIter iter;
      gint64 time_us, uid;
      const gchar *user, *text;

      g_variant_iter_init (&iter, notes);
      while (g_variant_iter_next (&iter, "(xx&s&s)", &time_us, &uid, &user, &text))
        {
          json_builder_begin_object (builder);
          json_add_time (builder, "time", time_us);
          json_add_int (builder, "uid", uid);
          json_add_string (builder, "user", user);
          json_add_string (builder, "text", text);
          json_builder_end_object (builder);
        }
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
}

/* The incident as vigild has it now, as JSON: what the commands that
 * change an incident print with --json. */
static int
print_incident_json (Ctl *ctl, gint64 id)
{
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  int status = EXIT_OK;

  incident = ctl_get_incident (ctl, id, TRUE, &status);
  if (incident == NULL)
    return status;
  builder = json_begin ();
  json_builder_set_member_name (builder, "incident");
  json_add_incident (builder, incident);
  json_print (builder);
  return EXIT_OK;
}

static void
print_incident (VigilDBusIncident *incident)
{
  gint64 start_us = vigil_dbus_incident_get_start_us (incident);
  gint64 end_us = vigil_dbus_incident_get_end_us (incident);
  gint64 expires_us = vigil_dbus_incident_get_expires_us (incident);
  const gchar *release_reason = vigil_dbus_incident_get_release_reason (incident);
  const gchar *description = vigil_dbus_incident_get_description (incident);
  GVariant *notes = vigil_dbus_incident_get_notes (incident);
  g_autofree gchar *id = g_strdup_printf ("%" G_GINT64_FORMAT, vigil_dbus_incident_get_id (incident));
  g_autofree gchar *state = g_strdup_printf ("%s (%s)", vigil_dbus_incident_get_state (incident),
                                             vigil_dbus_incident_get_locked (incident) ? "evidence locked"
                                                                                       : "not locked");
  g_autofree gchar *cameras = join_or_dash (vigil_dbus_incident_get_cameras (incident));
  g_autofree gchar *tags = join_or_dash (vigil_dbus_incident_get_tags (incident));
  g_autofree gchar *start = vigil_time_format_local (start_us);
  g_autofree gchar *end = NULL;
  g_autofree gchar *pre_roll = NULL, *post_roll = NULL, *expires = NULL, *created = NULL;

  if (end_us == 0)
    end = g_strdup ("open");
  else
    {
      g_autofree gchar *when = vigil_time_format_local (end_us);
      g_autofree gchar *duration = vigil_time_format_duration (end_us - start_us);
      end = g_strdup_printf ("%s (%s)", when, duration);
    }
  pre_roll = vigil_time_format_duration ((gint64) vigil_dbus_incident_get_pre_roll_s (incident) * G_USEC_PER_SEC);
  post_roll = vigil_time_format_duration ((gint64) vigil_dbus_incident_get_post_roll_s (incident) * G_USEC_PER_SEC);
  expires = expires_us != 0 ? vigil_time_format_local (expires_us) : g_strdup ("never");
  {
    g_autofree gchar *when = vigil_time_format_local (vigil_dbus_incident_get_created_us (incident));
    created = g_strdup_printf ("%s by %s", when, vigil_dbus_incident_get_created_by (incident));
  }

  print_field ("id", id);
  print_field ("title", vigil_dbus_incident_get_title (incident));
  print_field ("state", state);
  print_field ("cameras", cameras);
  print_field ("tags", tags);
  print_field ("start", start);
  print_field ("end", end);
  print_field ("pre-roll", pre_roll);
  print_field ("post-roll", post_roll);
  print_field ("lock expires", expires);
  print_field ("created", created);
  if (release_reason != NULL && release_reason[0] != '\0')
    print_field ("release reason", release_reason);
  if (description == NULL || description[0] == '\0')
    print_field ("description", "-");
  else
    {
      g_autofree gchar *clean = sanitize (description, TRUE);
      g_auto(GStrv) lines = g_strsplit (clean, "\n", -1);

      printf ("description:\n");
      for (guint i = 0; lines[i] != NULL; i++)
        printf ("  %s\n", lines[i]);
    }
  if (notes == NULL || !g_variant_is_of_type (notes, G_VARIANT_TYPE ("a(xxss)")) || g_variant_n_children (notes) == 0)
    print_field ("notes", "-");
  else
    {
      GVariantIter iter;
      gint64 time_us, uid;
      const gchar *user, *text;
      g_autoptr(Table) table = table_new ("lll", "  TIME", "USER", "NOTE");

      printf ("notes:\n");
      g_variant_iter_init (&iter, notes);
      while (g_variant_iter_next (&iter, "(xx&s&s)", &time_us, &uid, &user, &text))
        {
          g_autofree gchar *when = vigil_time_format_local (time_us);

          table_take (table, g_strconcat ("  ", when, NULL));
          table_take (table, g_strdup_printf ("%s(%" G_GINT64_FORMAT ")", user, uid));
          table_add (table, text);
        }
      table_print (table);
    }
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

static int
cmd_cameras (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_auto(GStrv) paths = NULL;
  g_autoptr(Table) table = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  int status;

  if (!parse_options (ctl, NULL, "The cameras and their recording: state, the current recording run, the\n"
                      "newest segment's bitrate and frame rate, the bytes stored, how far the\n"
                      "camera's clock is off vigild's, and for ONVIF cameras their make, model\n"
                      "and firmware.", NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_cameras_sync (ctl->manager, &paths, NULL, &error))
    return fail (error);
  objects = ctl_get_object_manager (ctl, &error);
  if (objects == NULL)
    return fail (error);

  if (opt_json)
    {
      builder = json_begin ();
      json_builder_set_member_name (builder, "cameras");
      json_builder_begin_array (builder);
    }
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
        }
    }
  print_listing (builder, table);
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

static int
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
    { "storage-root", "s", "storage root", show_string },
    { "stored-bytes", "t", "stored", show_bytes },
    { "free-bytes", "t", "free", show_bytes },
    { "open-incidents", "u", "open incidents", show_number },
    { "audit-rows", "x", "audit rows", show_number },
    { "public-key-sha256", "s", "public key", show_fingerprint },
  };
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) status_dict = NULL;
  g_autoptr(GHashTable) shown = g_hash_table_new (g_str_hash, g_str_equal);
  GVariantIter iter;
  const gchar *key;
  GVariant *value;
  int status;

  if (!parse_options (ctl, NULL, "vigild's health at a glance.", NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
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

static int
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

/* ---- incident ----------------------------------------------------------- */

static int
cmd_incident_create (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *from_text = NULL, *to_text = NULL, *title = NULL, *description = NULL, *note = NULL;
  g_autofree gchar *pre_roll_text = NULL, *post_roll_text = NULL, *expires_text = NULL;
  g_auto(GStrv) tags = NULL;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "When it began (required)", "T" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to_text, "When it ended (default: open until incident close)", "T" },
    { "title", 0, 0, G_OPTION_ARG_STRING, &title, "What happened (required)", "TEXT" },
    { "description", 0, 0, G_OPTION_ARG_STRING, &description, "More words", "TEXT" },
    { "tag", 0, 0, G_OPTION_ARG_STRING_ARRAY, &tags, "A tag (repeat for more)", "TAG" },
    { "note", 0, 0, G_OPTION_ARG_STRING, &note, "A first note", "TEXT" },
    { "pre-roll", 0, 0, G_OPTION_ARG_STRING, &pre_roll_text, "Seconds kept before the start (vigild's default: 30)", "SECONDS" },
    { "post-roll", 0, 0, G_OPTION_ARG_STRING, &post_roll_text, "Seconds kept after the end (vigild's default: 30)", "SECONDS" },
    { "expires", 0, 0, G_OPTION_ARG_STRING, &expires_text, "When the evidence lock lapses (default: never)", "T" },
    { NULL }
  };
  g_autoptr(GPtrArray) cameras = g_ptr_array_new_with_free_func (g_free);
  g_auto(GVariantBuilder) options = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *path = NULL;
  gint64 from_us, to_us = 0, id;
  guint seconds;
  int status;

  if (!parse_options (ctl, "CAM[,CAM…] --from T --title TEXT",
                      "Marks an incident on one or more cameras and locks their recording from\n"
                      "start - pre-roll to end + post-roll against deletion. Prints the new\n"
                      "incident's id alone.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  for (int i = 1; i < argc; i++)
    {
      g_auto(GStrv) names = g_strsplit (argv[i], ",", -1);

      for (guint j = 0; names[j] != NULL; j++)
        {
          g_strstrip (names[j]);
          if (names[j][0] == '\0')
            return usage (ctl, "empty camera name in “%s”", argv[i]);
          g_ptr_array_add (cameras, g_strdup (names[j]));
        }
    }
  if (cameras->len == 0)
    return usage (ctl, "which cameras? (CAM or CAM,CAM,…)");
  g_ptr_array_add (cameras, NULL);
  if (from_text == NULL)
    return usage (ctl, "--from is required");
  if (title == NULL)
    return usage (ctl, "--title is required");
  if (!parse_time_option (ctl, "--from", from_text, &from_us))
    return EXIT_USAGE;
  if (to_text != NULL && !parse_time_option (ctl, "--to", to_text, &to_us))
    return EXIT_USAGE;
  if (pre_roll_text != NULL)
    {
      if (!parse_uint_option (ctl, "--pre-roll", pre_roll_text, &seconds))
        return EXIT_USAGE;
      g_variant_builder_add (&options, "{sv}", "pre-roll-s", g_variant_new_uint32 (seconds));
    }
  if (post_roll_text != NULL)
    {
      if (!parse_uint_option (ctl, "--post-roll", post_roll_text, &seconds))
        return EXIT_USAGE;
      g_variant_builder_add (&options, "{sv}", "post-roll-s", g_variant_new_uint32 (seconds));
    }
  if (expires_text != NULL && g_ascii_strcasecmp (expires_text, "never") != 0)
    {
      gint64 expires_us;

      if (!parse_time_option (ctl, "--expires", expires_text, &expires_us))
        return EXIT_USAGE;
      g_variant_builder_add (&options, "{sv}", "expires-us", g_variant_new_int64 (expires_us));
    }
  if (note != NULL)
    g_variant_builder_add (&options, "{sv}", "note", g_variant_new_string (note));
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;

  if (!vigil_dbus_manager_call_create_incident_sync (ctl->manager, (const gchar *const *) cameras->pdata, from_us,
                                                     to_us, title, description != NULL ? description : "",
                                                     (const gchar *const *) (tags != NULL ? tags : (gchar *[]) { NULL }),
                                                     g_variant_builder_end (&options), &path, NULL, &error))
    return fail (error);
  id = incident_id_from_path (path);
  if (id == 0)
    return fail_message ("vigild returned an unexpected incident path %s", path);
  if (opt_json)
    {
      g_autoptr(JsonBuilder) builder = json_begin ();

      json_add_int (builder, "id", id);
      json_add_string (builder, "path", path);
      json_print (builder);
    }
  else
    printf ("%" G_GINT64_FORMAT "\n", id);
  return EXIT_OK;
}

/* The commands that change one incident: each takes the incident's id
 * first, and prints nothing (with --json: the incident as it is after). */
typedef enum {
  CHANGE_NOTE,
  CHANGE_TAG,
  CHANGE_UNTAG,
  CHANGE_CLOSE,
  CHANGE_RELEASE,
  CHANGE_EXPIRE,
} Change;

static int
run_change (Ctl *ctl, Change change, int argc, char **argv)
{
  g_autofree gchar *at_text = NULL, *reason = NULL;
  const GOptionEntry close_entries[] = {
    { "at", 0, 0, G_OPTION_ARG_STRING, &at_text, "When it ended (default: now)", "T" },
    { NULL }
  };
  const GOptionEntry release_entries[] = {
    { "reason", 0, 0, G_OPTION_ARG_STRING, &reason, "Why the recording may now be deleted (required)", "TEXT" },
    { NULL }
  };
  static const struct {
    const gchar *parameters;
    const gchar *summary;
    int          n_args;    /* positional arguments after ID; -1: one or more words */
  } forms[] = {
    [CHANGE_NOTE] = { "ID TEXT", "Adds a note to an incident (TEXT may be several words).", -1 },
    [CHANGE_TAG] = { "ID TAG", "Adds a tag to an incident.", 1 },
    [CHANGE_UNTAG] = { "ID TAG", "Removes a tag from an incident.", 1 },
    [CHANGE_CLOSE] = { "ID [--at T]", "Ends an open incident; its lock then ends at end + post-roll.", 0 },
    [CHANGE_RELEASE] = { "ID --reason TEXT", "Drops an incident's evidence lock for good; the incident stays.", 0 },
    [CHANGE_EXPIRE] = { "ID T|never", "Sets when an incident's evidence lock lapses by itself.", 1 },
  };
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *text = NULL;
  gboolean ok = FALSE;
  gint64 id, time_us = 0;
  int status = EXIT_OK;

  if (!parse_options (ctl, forms[change].parameters, forms[change].summary,
                      change == CHANGE_CLOSE || change == CHANGE_EXPIRE ? TIME_FORMS : NULL,
                      change == CHANGE_CLOSE ? close_entries : change == CHANGE_RELEASE ? release_entries : NULL,
                      &argc, &argv))
    return EXIT_USAGE;
  if (argc < 2)
    return usage (ctl, "which incident? (an id, as incident list shows)");
  if (!parse_incident_id (ctl, argv[1], &id))
    return EXIT_USAGE;
  if (forms[change].n_args < 0 && argc < 3)
    return usage (ctl, "what should the note say?");
  if (forms[change].n_args >= 0 && argc != 2 + forms[change].n_args)
    return usage (ctl, argc < 2 + forms[change].n_args ? "missing %s" : "too many arguments (%s)",
                  forms[change].parameters);
  if (forms[change].n_args < 0)
    text = g_strjoinv (" ", argv + 2);
  else if (forms[change].n_args == 1)
    text = g_strdup (argv[2]);

  if (change == CHANGE_CLOSE && at_text != NULL && !parse_time_option (ctl, "--at", at_text, &time_us))
    return EXIT_USAGE;
  if (change == CHANGE_RELEASE && (reason == NULL || reason[0] == '\0'))
    return usage (ctl, "--reason is required");
  if (change == CHANGE_EXPIRE && g_ascii_strcasecmp (text, "never") != 0 &&
      !parse_time_option (ctl, "expiry", text, &time_us))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  incident = ctl_get_incident (ctl, id, FALSE, &status);
  if (incident == NULL)
    return status;

  switch (change)
    {
    case CHANGE_NOTE:
      ok = vigil_dbus_incident_call_add_note_sync (incident, text, NULL, &error);
      break;
    case CHANGE_TAG:
      ok = vigil_dbus_incident_call_add_tag_sync (incident, text, NULL, &error);
      break;
    case CHANGE_UNTAG:
      ok = vigil_dbus_incident_call_remove_tag_sync (incident, text, NULL, &error);
      break;
    case CHANGE_CLOSE:
      ok = vigil_dbus_incident_call_close_sync (incident, time_us, NULL, &error);
      break;
    case CHANGE_RELEASE:
      ok = vigil_dbus_incident_call_release_sync (incident, reason, NULL, &error);
      break;
    case CHANGE_EXPIRE:
      ok = vigil_dbus_incident_call_set_expiry_sync (incident, time_us, NULL, &error);
      break;
    }
  if (!ok)
    return fail_incident (error, id);
  return opt_json ? print_incident_json (ctl, id) : EXIT_OK;
}

static int
cmd_incident_list (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *from_text = NULL, *to_text = NULL, *camera = NULL, *tag = NULL, *search = NULL;
  g_autofree gchar *limit_text = NULL;
  const GOptionEntry entries[] = {
    { "from", 0, 0, G_OPTION_ARG_STRING, &from_text, "Incidents overlapping from this time", "T" },
    { "to", 0, 0, G_OPTION_ARG_STRING, &to_text, "Incidents overlapping up to this time", "T" },
    { "camera", 0, 0, G_OPTION_ARG_STRING, &camera, "On this camera", "CAM" },
    { "tag", 0, 0, G_OPTION_ARG_STRING, &tag, "With this tag", "TAG" },
    { "search", 0, 0, G_OPTION_ARG_STRING, &search, "With TEXT in the title or description", "TEXT" },
    { "limit", 0, 0, G_OPTION_ARG_STRING, &limit_text, "At most N, newest first", "N" },
    { NULL }
  };
  g_auto(GVariantBuilder) filter = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_autoptr(GError) error = NULL;
  g_autoptr(GDBusObjectManager) objects = NULL;
  g_auto(GStrv) paths = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  g_autoptr(Table) table = NULL;
  int status;

  if (!parse_options (ctl, NULL, "Incidents, newest first.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
  if (from_text != NULL)
    {
      gint64 from_us;

      if (!parse_time_option (ctl, "--from", from_text, &from_us))
        return EXIT_USAGE;
      g_variant_builder_add (&filter, "{sv}", "from-us", g_variant_new_int64 (from_us));
    }
  if (to_text != NULL)
    {
      gint64 to_us;

      if (!parse_time_option (ctl, "--to", to_text, &to_us))
        return EXIT_USAGE;
      g_variant_builder_add (&filter, "{sv}", "to-us", g_variant_new_int64 (to_us));
    }
  if (camera != NULL)
    g_variant_builder_add (&filter, "{sv}", "camera", g_variant_new_string (camera));
  if (tag != NULL)
    g_variant_builder_add (&filter, "{sv}", "tag", g_variant_new_string (tag));
  if (search != NULL)
    g_variant_builder_add (&filter, "{sv}", "text", g_variant_new_string (search));
  if (limit_text != NULL)
    {
      guint limit;

      if (!parse_uint_option (ctl, "--limit", limit_text, &limit))
        return EXIT_USAGE;
      g_variant_builder_add (&filter, "{sv}", "limit", g_variant_new_uint32 (limit));
    }
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_incidents_sync (ctl->manager, g_variant_builder_end (&filter), &paths, NULL,
                                                    &error))
    return fail (error);
  objects = ctl_get_object_manager (ctl, &error);
  if (objects == NULL)
    return fail (error);

  if (opt_json)
    {
      builder = json_begin ();
      json_builder_set_member_name (builder, "incidents");
      json_builder_begin_array (builder);
    }
  else
    table = table_new ("rllllll", "ID", "STATE", "START", "END", "CAMERAS", "TAGS", "TITLE");
  for (guint i = 0; paths[i] != NULL; i++)
    {
      g_autoptr(GDBusObject) object = g_dbus_object_manager_get_object (objects, paths[i]);
      g_autoptr(VigilDBusIncident) incident = NULL;

      if (object != NULL)
        incident = vigil_dbus_object_get_incident (VIGIL_DBUS_OBJECT (object));
      if (incident == NULL)
        {
          /* Created after the object manager's snapshot: ask it directly. */
          gint64 id = incident_id_from_path (paths[i]);

          status = EXIT_OK;
          if (id == 0 || (incident = ctl_get_incident (ctl, id, TRUE, &status)) == NULL)
            continue;
        }
      if (opt_json)
        json_add_incident (builder, incident);
      else
        {
          gint64 end_us = vigil_dbus_incident_get_end_us (incident);

          table_take (table, g_strdup_printf ("%" G_GINT64_FORMAT, vigil_dbus_incident_get_id (incident)));
          table_add (table, vigil_dbus_incident_get_state (incident));
          table_take (table, vigil_time_format_local (vigil_dbus_incident_get_start_us (incident)));
          table_take (table, end_us != 0 ? vigil_time_format_local (end_us) : g_strdup ("open"));
          table_take (table, join_or_dash (vigil_dbus_incident_get_cameras (incident)));
          table_take (table, join_or_dash (vigil_dbus_incident_get_tags (incident)));
          table_add (table, vigil_dbus_incident_get_title (incident));
        }
    }
  print_listing (builder, table);
  return EXIT_OK;
}

static int
cmd_incident_show (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(VigilDBusIncident) incident = NULL;
  gint64 id;
  int status;

  if (!parse_options (ctl, "ID", "Everything about one incident, its notes with author and time.", NULL, NULL,
                      &argc, &argv))
    return EXIT_USAGE;
  if (argc != 2)
    return usage (ctl, argc < 2 ? "which incident? (an id, as incident list shows)" : "one incident at a time");
  if (!parse_incident_id (ctl, argv[1], &id))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (opt_json)
    return print_incident_json (ctl, id);
  incident = ctl_get_incident (ctl, id, TRUE, &status);
  if (incident == NULL)
    return status;
  print_incident (incident);
  return EXIT_OK;
}

static int cmd_incident_note (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_NOTE, argc, argv); }
static int cmd_incident_tag (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_TAG, argc, argv); }
static int cmd_incident_untag (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_UNTAG, argc, argv); }
static int cmd_incident_close (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_CLOSE, argc, argv); }
static int cmd_incident_release (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_RELEASE, argc, argv); }
static int cmd_incident_expire (Ctl *ctl, int argc, char **argv) { return run_change (ctl, CHANGE_EXPIRE, argc, argv); }

typedef struct {
  const gchar *name;
  const gchar *synopsis;
  int        (*run) (Ctl *ctl, int argc, char **argv);
} Command;

static const Command incident_commands[] = {
  { "create", "CAM[,CAM…] --from T [--to T] --title TEXT [--description TEXT] [--tag TAG]… [--note TEXT]\n"
              "           [--pre-roll SECONDS] [--post-roll SECONDS] [--expires T|never]", cmd_incident_create },
  { "list", "[--from T] [--to T] [--camera CAM] [--tag TAG] [--search TEXT] [--limit N]", cmd_incident_list },
  { "show", "ID", cmd_incident_show },
  { "note", "ID TEXT", cmd_incident_note },
  { "tag", "ID TAG", cmd_incident_tag },
  { "untag", "ID TAG", cmd_incident_untag },
  { "close", "ID [--at T]", cmd_incident_close },
  { "release", "ID --reason TEXT", cmd_incident_release },
  { "expire", "ID T|never", cmd_incident_expire },
  { NULL }
};

static gchar *
incident_help (void)
{
  GString *help = g_string_new ("Usage:\n  vigilctl incident SUBCOMMAND …\n\nSubcommands:\n");

  for (guint i = 0; incident_commands[i].name != NULL; i++)
    g_string_append_printf (help, "  %-7s  %s\n", incident_commands[i].name, incident_commands[i].synopsis);
  g_string_append (help, "\nRun vigilctl incident SUBCOMMAND --help for its options.\n");
  return g_string_free (help, FALSE);
}

static int
cmd_incident (Ctl *ctl, int argc, char **argv)
{
  if (argc >= 2 && (g_str_equal (argv[1], "--help") || g_str_equal (argv[1], "-h")))
    {
      g_autofree gchar *help = incident_help ();

      fputs (help, stdout);
      return EXIT_OK;
    }
  if (argc < 2)
    return usage (ctl, "which subcommand? (create, list, show, note, tag, untag, close, release, expire)");
  for (guint i = 0; incident_commands[i].name != NULL; i++)
    if (g_str_equal (argv[1], incident_commands[i].name))
      {
        g_free (ctl->command);
        ctl->command = g_strconcat ("incident ", argv[1], NULL);
        return incident_commands[i].run (ctl, argc - 1, argv + 1);
      }
  return usage (ctl, "unknown subcommand “%s”", argv[1]);
}

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

/* @out made absolute against the working directory, as vigild (with
 * another working directory) needs it; symbolic links and ".." resolved
 * when the folder exists, so vigild sees the folder the operator meant. */
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

static int
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

      if (!vigil_dbus_manager_call_export_incident_sync (ctl->manager, path, destination, reason, &job_path, NULL,
                                                         &error))
        status = fail (error);
    }
  else if (!vigil_dbus_manager_call_export_range_sync (ctl->manager, camera, from_us, to_us, destination, reason,
                                                       &job_path, NULL, &error))
    status = fail (error);

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
  bundle = g_steal_pointer (&wait.bundle);
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
          g_autofree gchar *clean = sanitize (bundle, FALSE);
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

static int
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
        g_autofree gchar *clean = sanitize (report->problems->pdata[i], FALSE);
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

/* ---- audit -------------------------------------------------------------- */

static int
cmd_audit (Ctl *ctl, int argc, char **argv)
{
  g_autofree gchar *since_text = NULL, *limit_text = NULL;
  gboolean verify = FALSE;
  const GOptionEntry entries[] = {
    { "since", 0, 0, G_OPTION_ARG_STRING, &since_text, "Rows at or after this time", "T" },
    { "limit", 0, 0, G_OPTION_ARG_STRING, &limit_text, "Only the last N rows", "N" },
    { "verify", 0, 0, G_OPTION_ARG_NONE, &verify, "Check the hash chain instead of listing", NULL },
    { NULL }
  };
  g_autoptr(GError) error = NULL;
  gint64 since_us = 0;
  guint limit = 0;
  int status;

  if (!parse_options (ctl, NULL, "The audit log of every change made over D-Bus, oldest first; --verify\n"
                      "checks that every row still fits its hash chain.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
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
          g_autofree gchar *clean = sanitize (problem, FALSE);
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
      {
        builder = json_begin ();
        json_builder_set_member_name (builder, "rows");
        json_builder_begin_array (builder);
      }
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
  }
  return EXIT_OK;
}

/* ---- key ---------------------------------------------------------------- */

static int
cmd_key (Ctl *ctl, int argc, char **argv)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *pem = NULL, *sha256 = NULL;
  int status;

  if (!parse_options (ctl, NULL, "The recorder's Ed25519 public key, which signs every export manifest,\n"
                      "and its fingerprint (what vigilctl verify reports for a bundle from here).",
                      NULL, NULL, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
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

/* ---- alerts, selfcheck -------------------------------------------------- */

static int
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

  if (!parse_options (ctl, NULL, "Recording-health, picture and storage alerts, newest first: when each began\n"
                      "and ended explains a gap in the recording.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
  if (since_text != NULL && !parse_time_option (ctl, "--since", since_text, &since_us))
    return EXIT_USAGE;
  if (limit_text != NULL && !parse_uint_option (ctl, "--limit", limit_text, &limit))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_list_alerts_sync (ctl->manager, open_only, since_us, limit, &alerts, NULL, &error))
    return fail (error);
  if (opt_json)
    {
      builder = json_begin ();
      json_builder_set_member_name (builder, "alerts");
      json_builder_begin_array (builder);
    }
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

static int
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

  if (!parse_options (ctl, NULL, "The shift-start checklist: for each camera, stream live, picture clear,\n"
                      "recording working and reachable; for the storage, free space and days left.\n"
                      "Exit status 1 when any check fails.", NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  if (!vigil_dbus_manager_call_self_check_sync (ctl->manager, &checks, NULL, &error))
    return fail (error);
  if (opt_json)
    {
      builder = json_begin ();
      json_builder_set_member_name (builder, "checks");
      json_builder_begin_array (builder);
    }
  g_variant_iter_init (&iter, checks);
  while (g_variant_iter_next (&iter, "(&s&sb&s)", &subject, &check, &ok, &reason))
    {
      CheckRow *row = rows->len > 0 ? rows->pdata[rows->len - 1] : NULL;
      g_autofree gchar *clean = sanitize (reason, FALSE);

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

static int
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
            {
              builder = json_begin ();
              json_builder_set_member_name (builder, "presets");
              json_builder_begin_array (builder);
            }
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

static int
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

  if (!parse_options (ctl, NULL,
                      "Find ONVIF cameras on the local network (WS-Discovery), and print each with\n"
                      "its address, make and model and a config snippet for vigild. Runs here,\n"
                      "without vigild.", NULL, entries, &argc, &argv))
    return EXIT_USAGE;
  if (argc > 1)
    return usage (ctl, "unexpected argument “%s”", argv[1]);
  if (timeout_ms < 100 || timeout_ms > 60000)
    return usage (ctl, "--timeout must be from 100 to 60000 ms");
  found = vigil_onvif_discover (target, (guint) timeout_ms, NULL, &error);
  if (found == NULL)
    return fail_message ("discovery failed: %s", error->message);

  if (opt_json)
    {
      builder = json_begin ();
      json_builder_set_member_name (builder, "cameras");
      json_builder_begin_array (builder);
    }
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
      g_autofree gchar *clean_url = sanitize (camera->device_url, FALSE);

      printf ("\n[camera %s]\nonvif=%s\nuser=admin\npassword_file=/etc/vigil/%s.password\n", name, clean_url, name);
    }
  return EXIT_OK;
}

/* ---- main --------------------------------------------------------------- */

static const Command commands[] = {
  { "cameras", "", cmd_cameras },
  { "status", "", cmd_status },
  { "spans", "CAM --from T --to T", cmd_spans },
  { "incident", "create|list|show|note|tag|untag|close|release|expire …", cmd_incident },
  { "export", "ID --out DIR --reason TEXT", cmd_export },
  { "export", "--camera CAM --from T --to T --out DIR --reason TEXT", NULL },
  { "verify", "BUNDLE", cmd_verify },
  { "audit", "[--since T] [--limit N] [--verify]", cmd_audit },
  { "key", "", cmd_key },
  { "alerts", "[--open] [--since T] [--limit N]", cmd_alerts },
  { "selfcheck", "", cmd_selfcheck },
  { "ptz", "CAM left|right|up|down|zoom-in|zoom-out|stop|goto|move-by|status|presets|preset …", cmd_ptz },
  { "discover", "[--timeout MS] [--target HOST:PORT]", cmd_discover },
  { NULL }
};

/* One line each for vigilctl --help, in the order of commands[]. */
static const gchar *const command_summaries[] = {
  "the cameras: state, recording since, last segment, bitrate, fps, stored",
  "vigild's health at a glance",
  "a camera's recorded stretches and the gaps between them",
  "mark incidents (locking their recording), annotate, close, release, list",
  "export an incident into a signed bundle folder, and wait for it",
  "export one camera's range the same way",
  "check a bundle folder here, without vigild",
  "the audit log of every change; --verify checks its hash chain",
  "the recorder's public key and its fingerprint",
  "recording-health, picture and storage alerts",
  "the shift-start checklist: every camera and the storage, ✓ or ✗",
  "turn a PTZ camera, send it to a preset, save presets",
  "find ONVIF cameras on the network, with a config snippet for each",
};

static gchar *
main_description (void)
{
  GString *text = g_string_new ("Commands:\n");

  for (guint i = 0; commands[i].name != NULL; i++)
    g_string_append_printf (text, "  %s%s%s\n      %s\n", commands[i].name, commands[i].synopsis[0] != '\0' ? " " : "",
                            commands[i].synopsis, command_summaries[i]);
  g_string_append (text, "\n" TIME_FORMS "\n\n"
                   "Run vigilctl COMMAND --help for a command's options.\n"
                   "Exit status: 0 done, 1 vigild refused or failed, or verification failed,\n"
                   "2 bad command line, 3 vigild not reachable on the bus.");
  return g_string_free (text, FALSE);
}

int
main (int argc, char **argv)
{
  g_autoptr(GOptionContext) context = g_option_context_new ("COMMAND [ARG…]");
  g_autoptr(GError) error = NULL;
  g_autofree gchar *description = main_description ();
  Ctl ctl = { 0 };
  int status = EXIT_USAGE;

  setlocale (LC_ALL, "");
  g_set_prgname ("vigilctl");
  g_option_context_set_summary (context, "Operate vigild, the video recorder, over D-Bus.");
  g_option_context_set_description (context, description);
  g_option_context_add_main_entries (context, global_entries, NULL);
  /* Stop at the command: what follows is the command's to parse. */
  g_option_context_set_strict_posix (context, TRUE);
  if (!g_option_context_parse (context, &argc, &argv, &error))
    return usage (&ctl, "%s", error->message);
  if (argc < 2)
    return usage (&ctl, "which command? (cameras, status, spans, incident, export, verify, audit, key, alerts, selfcheck, ptz, "
                         "discover)");
  if (g_str_equal (argv[1], "help"))
    {
      g_autofree gchar *help = g_option_context_get_help (context, TRUE, NULL);

      fputs (help, stdout);
      return EXIT_OK;
    }

  for (guint i = 0; commands[i].name != NULL; i++)
    if (commands[i].run != NULL && g_str_equal (argv[1], commands[i].name))
      {
        ctl.command = g_strdup (argv[1]);
        status = commands[i].run (&ctl, argc - 1, argv + 1);
        ctl_clear (&ctl);
        return status;
      }
  return usage (&ctl, "unknown command “%s”", argv[1]);
}
