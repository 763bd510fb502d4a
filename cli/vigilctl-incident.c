/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigilctl incident: create, list, show and change incidents through
 * vigild's Manager and Incident objects. The incident's lock and its rules
 * are vigild's; this only asks, and shows what vigild answers. */
#include <stdio.h>

#include "vigilctl-private.h"
#include "vigil-time.h"

static gchar *
join_or_dash (const gchar *const *strv)
{
  return strv != NULL && strv[0] != NULL ? g_strjoinv (",", (gchar **) strv) : g_strdup ("-");
}

/* Incidents asked of vigild per ListIncidents call: its most. */
#define PAGE 100u

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
  g_autofree gchar *path = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilDBusIncident) incident = NULL;
  g_auto(GStrv) names = NULL;

  /* vigild keeps only recently used incidents on the bus: this puts @id
   * there (or says there is no such incident). */
  if (!vigil_dbus_manager_call_get_incident_sync (ctl->manager, id, &path, NULL, &error))
    {
      *out_status = fail (error);
      return NULL;
    }
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

/* The incident's notes, asked of vigild (not a property: see the XML);
 * NULL when it cannot tell. */
static GVariant *
get_notes (VigilDBusIncident *incident)
{
  GVariant *notes = NULL;

  if (!vigil_dbus_incident_call_get_notes_sync (incident, &notes, NULL, NULL))
    return NULL;
  return notes;
}

static void
json_add_incident (JsonBuilder *builder, VigilDBusIncident *incident)
{
  g_autoptr(GVariant) notes = get_notes (incident);

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
  g_autoptr(GVariant) notes = get_notes (incident);
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
      g_autofree gchar *clean = vigil_text_sanitize (description, 0, VIGIL_TEXT_KEEP_NEWLINES);
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

/* One row (or JSON object) of `incident list`. */
static void
add_listed_incident (JsonBuilder *builder, Table *table, VigilDBusIncident *incident)
{
  gint64 end_us = vigil_dbus_incident_get_end_us (incident);

  if (builder != NULL)
    {
      json_add_incident (builder, incident);
      return;
    }
  table_take (table, g_strdup_printf ("%" G_GINT64_FORMAT, vigil_dbus_incident_get_id (incident)));
  table_add (table, vigil_dbus_incident_get_state (incident));
  table_take (table, vigil_time_format_local (vigil_dbus_incident_get_start_us (incident)));
  table_take (table, end_us != 0 ? vigil_time_format_local (end_us) : g_strdup ("open"));
  table_take (table, join_or_dash (vigil_dbus_incident_get_cameras (incident)));
  table_take (table, join_or_dash (vigil_dbus_incident_get_tags (incident)));
  table_add (table, vigil_dbus_incident_get_title (incident));
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
  g_autoptr(GVariant) criteria = NULL;
  g_autoptr(GError) error = NULL;
  g_autoptr(JsonBuilder) builder = NULL;
  guint limit = 0;
  g_autoptr(Table) table = NULL;
  int status;

  if (!parse_options_no_args (ctl, "Incidents, newest first.", TIME_FORMS, entries, &argc, &argv))
    return EXIT_USAGE;
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
  if (limit_text != NULL && !parse_uint_option (ctl, "--limit", limit_text, &limit))
    return EXIT_USAGE;
  if ((status = ctl_connect (ctl)) != EXIT_OK)
    return status;
  criteria = g_variant_ref_sink (g_variant_builder_end (&filter));

  if (opt_json)
    builder = json_begin_listing ("incidents");
  else
    table = table_new ("rllllll", "ID", "STATE", "START", "END", "CAMERAS", "TAGS", "TITLE");
  /* vigild answers a page of at most PAGE at a time. */
  for (guint offset = 0, page_size = PAGE; limit == 0 || offset < limit; offset += page_size)
    {
      g_auto(GVariantBuilder) page = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
      g_auto(GStrv) paths = NULL;
      GVariantIter iter;
      const gchar *key;
      GVariant *value;

      page_size = limit != 0 ? MIN (PAGE, limit - offset) : PAGE;
      g_variant_iter_init (&iter, criteria);
      while (g_variant_iter_loop (&iter, "{&sv}", &key, &value))
        g_variant_builder_add (&page, "{sv}", key, value);
      g_variant_builder_add (&page, "{sv}", "limit", g_variant_new_uint32 (page_size));
      g_variant_builder_add (&page, "{sv}", "offset", g_variant_new_uint32 (offset));
      if (!vigil_dbus_manager_call_list_incidents_sync (ctl->manager, g_variant_builder_end (&page), &paths, NULL,
                                                        &error))
        return fail (error);
      for (guint i = 0; paths[i] != NULL; i++)
        {
          g_autoptr(VigilDBusIncident) incident = NULL;
          gint64 id = incident_id_from_path (paths[i]);

          status = EXIT_OK;
          if (id == 0 || (incident = ctl_get_incident (ctl, id, TRUE, &status)) == NULL)
            continue;
          add_listed_incident (builder, table, incident);
        }
      if (g_strv_length (paths) < page_size)
        break;
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

int
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
