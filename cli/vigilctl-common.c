/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What every vigilctl command uses: the global options, messages and exit
 * statuses, command-line parsing, aligned text tables and JSON output, and
 * the connection to vigild. It prints what it is asked to and errors as one
 * line on stderr; it never decides a command's outcome, and text from
 * vigild or a bundle reaches the terminal only through vigil_text_sanitize()
 * (common/vigil-text.h). */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

gboolean opt_session;
gboolean opt_json;

const GOptionEntry global_entries[] = {
  { "session", 0, 0, G_OPTION_ARG_NONE, &opt_session, "Talk to a vigild on the session bus (default: the system bus)", NULL },
  { "json", 0, 0, G_OPTION_ARG_NONE, &opt_json, "Print one JSON document on stdout instead of text", NULL },
  { NULL }
};

const gchar *
bus_label (void)
{
  return opt_session ? "session" : "system";
}

/* ---- Messages and exit statuses ---------------------------------------- */

/* A bad command line: says what, and where the help is. */
int
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
gboolean
is_unknown_object (const GError *error)
{
  return g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_METHOD) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_OBJECT) ||
         g_error_matches (error, G_DBUS_ERROR, G_DBUS_ERROR_UNKNOWN_INTERFACE);
}

/* Prints a failed call's error as one line and returns the exit status it
 * calls for. vigild's own errors (org.vigil.Vigil1.Error.*) carry a
 * message meant for the operator, so only the D-Bus prefix goes. */
int
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

int
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

/* Aligned columns, a header row first; the last column is not padded. */
struct Table {
  const gchar *align;       /* one 'l' or 'r' per column */
  guint        n_columns;
  GPtrArray   *cells;       /* gchar*, sanitized, row-major */
};

void
table_free (Table *table)
{
  g_ptr_array_unref (table->cells);
  g_free (table);
}

/* Takes ownership of @text. */
void
table_take (Table *table, gchar *text)
{
  g_ptr_array_add (table->cells, vigil_text_sanitize (text, 0, VIGIL_TEXT_DEFAULT));
  g_free (text);
}

void
table_add (Table *table, const gchar *text)
{
  g_ptr_array_add (table->cells, vigil_text_sanitize (text, 0, VIGIL_TEXT_DEFAULT));
}

/* @align gives the number of columns; then that many header strings. */
Table *
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

void
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
void
print_field (const gchar *key, const gchar *value)
{
  g_autofree gchar *label = g_strconcat (key, ":", NULL);
  g_autofree gchar *clean = vigil_text_sanitize (value, 0, VIGIL_TEXT_DEFAULT);

  printf ("%-16s %s\n", label, clean);
}
/* ---- JSON output -------------------------------------------------------- */

JsonBuilder *
json_begin (void)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_object (builder);
  return builder;
}

void
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

/* Begins a listing for --json: the document's object with the array @name
 * open in it, for print_listing() (or the caller) to end. */
JsonBuilder *
json_begin_listing (const gchar *name)
{
  JsonBuilder *builder = json_begin ();

  json_builder_set_member_name (builder, name);
  json_builder_begin_array (builder);
  return builder;
}

/* Ends a listing: the JSON array opened on @builder with --json, else
 * the table. */
void
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

void
json_add_string (JsonBuilder *builder, const gchar *name, const gchar *value)
{
  json_builder_set_member_name (builder, name);
  if (value != NULL)
    json_builder_add_string_value (builder, value);
  else
    json_builder_add_null_value (builder);
}

void
json_add_int (JsonBuilder *builder, const gchar *name, gint64 value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_int_value (builder, value);
}

void
json_add_double (JsonBuilder *builder, const gchar *name, gdouble value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_double_value (builder, value);
}

void
json_add_boolean (JsonBuilder *builder, const gchar *name, gboolean value)
{
  json_builder_set_member_name (builder, name);
  json_builder_add_boolean_value (builder, value);
}

/* NAME_us, the µs as vigild gave them, and NAME, the same in ISO 8601
 * UTC (null where 0 means none). */
void
json_add_time (JsonBuilder *builder, const gchar *name, gint64 time_us)
{
  g_autofree gchar *name_us = g_strconcat (name, "_us", NULL);
  g_autofree gchar *iso = time_us != 0 ? vigil_time_format_iso8601 (time_us) : NULL;

  json_add_int (builder, name_us, time_us);
  json_add_string (builder, name, iso);
}

void
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
gboolean
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

/* parse_options() for a command that takes no positional arguments. */
gboolean
parse_options_no_args (Ctl *ctl, const gchar *summary, const gchar *description, const GOptionEntry *entries,
                       int *argc, char ***argv)
{
  if (!parse_options (ctl, NULL, summary, description, entries, argc, argv))
    return FALSE;
  if (*argc > 1)
    {
      usage (ctl, "unexpected argument “%s”", (*argv)[1]);
      return FALSE;
    }
  return TRUE;
}

gboolean
parse_time_option (Ctl *ctl, const gchar *option, const gchar *text, gint64 *out_us)
{
  g_autoptr(GError) error = NULL;

  if (vigil_time_parse (text, out_us, &error))
    return TRUE;
  usage (ctl, "%s: %s", option, error->message);
  return FALSE;
}

gboolean
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

gboolean
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
int
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

GDBusObjectManager *
ctl_get_object_manager (Ctl *ctl, GError **error)
{
  return vigil_dbus_object_manager_client_new_sync (ctl->bus, G_DBUS_OBJECT_MANAGER_CLIENT_FLAGS_NONE,
                                                    BUS_NAME, MANAGER_PATH, NULL, error);
}

/* A proxy for camera @name's object, its properties not loaded: calls on
 * a camera vigild does not have fail with an unknown-object error. */
VigilDBusCamera *
ctl_get_camera (Ctl *ctl, const gchar *name, GError **error)
{
  g_autofree gchar *escaped = g_dbus_escape_object_path (name);
  g_autofree gchar *path = g_strconcat (CAMERA_PATH_PREFIX, escaped, NULL);

  return vigil_dbus_camera_proxy_new_sync (ctl->bus,
                                           G_DBUS_PROXY_FLAGS_DO_NOT_LOAD_PROPERTIES |
                                           G_DBUS_PROXY_FLAGS_DO_NOT_CONNECT_SIGNALS,
                                           BUS_NAME, path, NULL, error);
}

gchar *
incident_path (gint64 id)
{
  return g_strdup_printf (INCIDENT_PATH_PREFIX "%" G_GINT64_FORMAT, id);
}
