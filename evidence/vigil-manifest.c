/* SPDX-License-Identifier: GPL-2.0-or-later */
/* manifest.json, written and read; see vigil-manifest.h. Member names
 * appear in this file only. Also the problem lines evidence/ shares
 * (vigil-evidence-private.h). */
#include "vigil-manifest.h"

#include <json-glib/json-glib.h>
#include <string.h>

#include "vigil-evidence-private.h"

G_DEFINE_QUARK (vigil-manifest-error-quark, vigil_manifest_error)

/* json-glib 1.6 parses recursively: deep enough nesting overflows the
 * stack. A manifest nests 4 levels. */
#define MANIFEST_MAX_DEPTH 64
#define NAME_MAX_BYTES 255

static const gchar *const bundle_files[] = {
  VIGIL_BUNDLE_MANIFEST, VIGIL_BUNDLE_SIGNATURE, VIGIL_BUNDLE_PUBLIC_KEY, NULL
};

/* ---- Writing --------------------------------------------------------- */

struct _VigilManifestWriter
{
  JsonBuilder *root;        /* the manifest object, inside its "cameras" array */
  JsonBuilder *files;       /* the "files" array */
  /* The camera begun and not yet ended: */
  gboolean     in_camera;
  JsonBuilder *camera;      /* name and requested span, then the clip */
  gboolean     has_clip;
  JsonBuilder *gaps;        /* array */
  JsonBuilder *sources;     /* array */
};

static void
add_time (JsonBuilder *builder, const gchar *member, gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  g_autoptr(GDateTime) utc_us = g_date_time_add (utc, time_us % G_USEC_PER_SEC);
  g_autoptr(GDateTime) local = g_date_time_to_local (utc_us);
  g_autofree gchar *utc_text = g_date_time_format (utc_us, "%Y-%m-%dT%H:%M:%S.%fZ");
  g_autofree gchar *local_text = g_date_time_format (local, "%Y-%m-%dT%H:%M:%S.%f%:z");
  g_autofree gchar *local_member = g_strconcat (member, "_local", NULL);

  json_builder_set_member_name (builder, member);
  json_builder_add_string_value (builder, utc_text);
  json_builder_set_member_name (builder, local_member);
  json_builder_add_string_value (builder, local_text);
}

static void
add_string (JsonBuilder *builder, const gchar *member, const gchar *value)
{
  json_builder_set_member_name (builder, member);
  json_builder_add_string_value (builder, value ? value : "");
}

static void
add_int (JsonBuilder *builder, const gchar *member, gint64 value)
{
  json_builder_set_member_name (builder, member);
  json_builder_add_int_value (builder, value);
}

static void
add_strv (JsonBuilder *builder, const gchar *member, const gchar *const *values)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_array (builder);
  for (guint i = 0; values != NULL && values[i] != NULL; i++)
    json_builder_add_string_value (builder, values[i]);
  json_builder_end_array (builder);
}

/* "from"/"to" (and their _local twins) in an object named @member. */
static void
add_span (JsonBuilder *builder, const gchar *member, gint64 from_us, gint64 to_us)
{
  json_builder_set_member_name (builder, member);
  json_builder_begin_object (builder);
  add_time (builder, "from", from_us);
  add_time (builder, "to", to_us);
  json_builder_end_object (builder);
}

/* Adds @array's finished array to @builder as @member; takes @array. */
static void
add_array (JsonBuilder *builder, const gchar *member, JsonBuilder *array)
{
  g_autoptr(JsonBuilder) owned = array;

  json_builder_end_array (owned);
  json_builder_set_member_name (builder, member);
  json_builder_add_value (builder, json_builder_get_root (owned));
}

static JsonBuilder *
new_array (void)
{
  JsonBuilder *builder = json_builder_new ();

  json_builder_begin_array (builder);
  return builder;
}

static void
add_incident (JsonBuilder *builder, const VigilManifestIncident *incident)
{
  json_builder_set_member_name (builder, "incident");
  if (incident == NULL)
    {
      json_builder_add_null_value (builder);
      return;
    }
  json_builder_begin_object (builder);
  add_int (builder, "id", incident->id);
  add_string (builder, "title", incident->title);
  add_string (builder, "description", incident->description);
  add_strv (builder, "cameras", incident->cameras);
  add_strv (builder, "tags", incident->tags);
  add_time (builder, "start", incident->start_us);
  if (incident->end_us != 0)
    add_time (builder, "end", incident->end_us);
  add_int (builder, "pre_roll_s", incident->pre_roll_us / G_USEC_PER_SEC);
  add_int (builder, "post_roll_s", incident->post_roll_us / G_USEC_PER_SEC);
  add_string (builder, "created_by", incident->created_by);
  add_time (builder, "created", incident->created_us);
  json_builder_set_member_name (builder, "notes");
  json_builder_begin_array (builder);
  for (guint i = 0; i < incident->n_notes; i++)
    {
      const VigilManifestNote *note = &incident->notes[i];

      json_builder_begin_object (builder);
      add_time (builder, "time", note->time_us);
      add_int (builder, "uid", note->uid);
      add_string (builder, "user", note->user);
      add_string (builder, "text", note->text);
      json_builder_end_object (builder);
    }
  json_builder_end_array (builder);
  json_builder_end_object (builder);
}

VigilManifestWriter *
vigil_manifest_writer_new (const VigilManifestHeader *header)
{
  VigilManifestWriter *writer = g_new0 (VigilManifestWriter, 1);
  JsonBuilder *root = json_builder_new ();
  g_autoptr(GTimeZone) zone = g_time_zone_new_local ();

  writer->root = root;
  writer->files = new_array ();
  json_builder_begin_object (root);
  add_string (root, "format", VIGIL_BUNDLE_FORMAT);
  add_string (root, "vigil_version", VIGIL_VERSION);
  json_builder_set_member_name (root, "recorder");
  json_builder_begin_object (root);
  add_string (root, "host", g_get_host_name ());
  add_string (root, "public_key_sha256", header->public_key_sha256);
  json_builder_end_object (root);
  add_string (root, "bundle", header->bundle);
  add_time (root, "exported_at", header->exported_at_us);
  add_string (root, "time_zone", g_time_zone_get_identifier (zone));
  json_builder_set_member_name (root, "exported_by");
  json_builder_begin_object (root);
  add_int (root, "uid", header->uid);
  add_string (root, "user", header->user);
  json_builder_end_object (root);
  add_string (root, "reason", header->reason);
  add_span (root, "requested", header->requested_from_us, header->requested_to_us);
  add_incident (root, header->incident);
  json_builder_set_member_name (root, "cameras");
  json_builder_begin_array (root);
  return writer;
}

static void
clear_camera (VigilManifestWriter *writer)
{
  g_clear_object (&writer->camera);
  g_clear_object (&writer->gaps);
  g_clear_object (&writer->sources);
  writer->has_clip = FALSE;
  writer->in_camera = FALSE;
}

void
vigil_manifest_writer_free (VigilManifestWriter *writer)
{
  if (writer == NULL)
    return;
  clear_camera (writer);
  g_clear_object (&writer->root);
  g_clear_object (&writer->files);
  g_free (writer);
}

void
vigil_manifest_writer_begin_camera (VigilManifestWriter *writer, const gchar *name, gint64 from_us, gint64 to_us)
{
  g_return_if_fail (writer != NULL && writer->root != NULL && !writer->in_camera);

  writer->in_camera = TRUE;
  writer->camera = json_builder_new ();
  writer->gaps = new_array ();
  writer->sources = new_array ();
  json_builder_begin_object (writer->camera);
  add_string (writer->camera, "name", name);
  add_span (writer->camera, "requested", from_us, to_us);
}

void
vigil_manifest_writer_set_clip (VigilManifestWriter *writer, const VigilManifestClip *clip)
{
  JsonBuilder *camera;

  g_return_if_fail (writer != NULL && writer->in_camera && !writer->has_clip);

  camera = writer->camera;
  writer->has_clip = TRUE;
  json_builder_set_member_name (camera, "actual");
  json_builder_begin_object (camera);
  add_time (camera, "from", clip->first_frame_us);
  add_time (camera, "to", clip->end_us);
  add_int (camera, "video_frames", clip->video_frames);
  add_int (camera, "duration_ms", clip->duration_ms);
  add_string (camera, "audio", clip->audio);
  json_builder_end_object (camera);
  add_string (camera, "clip", clip->clip);
  add_string (camera, "snapshot", clip->snapshot);
  add_string (camera, "clip_sha256", clip->clip_sha256);
}

void
vigil_manifest_writer_add_gap (VigilManifestWriter *writer, gint64 from_us, gint64 to_us, const gchar *reason)
{
  g_return_if_fail (writer != NULL && writer->in_camera);

  json_builder_begin_object (writer->gaps);
  add_time (writer->gaps, "from", from_us);
  add_time (writer->gaps, "to", to_us);
  add_string (writer->gaps, "reason", reason != NULL ? reason : "unknown");
  json_builder_end_object (writer->gaps);
}

void
vigil_manifest_writer_add_source (VigilManifestWriter *writer, const gchar *path, gint64 start_us, gint64 end_us,
                                  guint64 size_bytes, const gchar *sha256)
{
  g_return_if_fail (writer != NULL && writer->in_camera);

  json_builder_begin_object (writer->sources);
  add_string (writer->sources, "path", path);
  add_time (writer->sources, "start", start_us);
  add_time (writer->sources, "end", end_us);
  add_int (writer->sources, "size_bytes", (gint64) size_bytes);
  add_string (writer->sources, "sha256", sha256);
  json_builder_end_object (writer->sources);
}

void
vigil_manifest_writer_end_camera (VigilManifestWriter *writer)
{
  JsonBuilder *camera;

  g_return_if_fail (writer != NULL && writer->in_camera);

  camera = writer->camera;
  if (!writer->has_clip)
    {
      /* Nothing at all from this camera in the span: said so. */
      json_builder_set_member_name (camera, "actual");
      json_builder_add_null_value (camera);
    }
  add_array (camera, "gaps", g_steal_pointer (&writer->gaps));
  /* The originals the clip was cut from, with their hashes: whoever holds
   * the recorder can show the clip came from these files. */
  add_array (camera, "source_segments", g_steal_pointer (&writer->sources));
  json_builder_end_object (camera);
  json_builder_add_value (writer->root, json_builder_get_root (camera));
  clear_camera (writer);
}

void
vigil_manifest_writer_add_file (VigilManifestWriter *writer, const gchar *name, guint64 size_bytes,
                                const gchar *sha256)
{
  g_return_if_fail (writer != NULL && writer->files != NULL);

  json_builder_begin_object (writer->files);
  add_string (writer->files, "name", name);
  add_int (writer->files, "size_bytes", (gint64) size_bytes);
  add_string (writer->files, "sha256", sha256);
  json_builder_end_object (writer->files);
}

gchar *
vigil_manifest_writer_finish (VigilManifestWriter *writer, gint64 audit_head_id, const gchar *audit_head_sha256,
                              gsize *out_length)
{
  g_autoptr(JsonBuilder) root = NULL;
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) node = NULL;

  g_return_val_if_fail (writer != NULL && writer->root != NULL && !writer->in_camera, NULL);

  root = g_steal_pointer (&writer->root);
  json_builder_end_array (root);   /* cameras */
  add_array (root, "files", g_steal_pointer (&writer->files));
  json_builder_set_member_name (root, "audit_head");
  json_builder_begin_object (root);
  add_int (root, "id", audit_head_id);
  add_string (root, "sha256", audit_head_sha256);
  json_builder_end_object (root);
  json_builder_end_object (root);

  node = json_builder_get_root (root);
  json_generator_set_root (generator, node);
  json_generator_set_pretty (generator, TRUE);
  return json_generator_to_data (generator, out_length);
}

/* ---- Reading --------------------------------------------------------- */

gchar *
vigil_evidence_printable (const gchar *name)
{
  gboolean plain = g_utf8_validate (name, -1, NULL);

  for (const gchar *p = name; plain && *p != '\0'; p++)
    plain = !g_ascii_iscntrl (*p);
  return plain ? g_strdup (name) : g_strescape (name, NULL);
}

void
vigil_evidence_add_problem (GPtrArray *problems, const gchar *name, const gchar *format, ...)
{
  g_autofree gchar *what = NULL;
  g_autofree gchar *shown = vigil_evidence_printable (name);
  va_list args;

  va_start (args, format);
  what = g_strdup_vprintf (format, args);
  va_end (args);
  g_ptr_array_add (problems, g_strdup_printf ("%s: %s", shown, what));
}

static void
entry_free (VigilManifestEntry *entry)
{
  g_free (entry->name);
  g_free (entry->sha256);
  g_clear_pointer (&entry->problems, g_ptr_array_unref);
  g_free (entry);
}

void
vigil_manifest_free (VigilManifest *manifest)
{
  if (manifest == NULL)
    return;
  g_clear_pointer (&manifest->problems, g_ptr_array_unref);
  g_clear_pointer (&manifest->entries, g_ptr_array_unref);
  g_free (manifest->public_key_sha256);
  g_free (manifest);
}

/* Why @name is not a plain file name in the folder, or NULL when it is. */
static const gchar *
check_name (const gchar *name)
{
  if (*name == '\0')
    return "is empty";
  if (g_str_equal (name, ".") || g_str_equal (name, ".."))
    return "is not a file name";
  if (strchr (name, '/') != NULL || strchr (name, '\\') != NULL)
    return "is a path, not a file name in the bundle";
  if (strlen (name) > NAME_MAX_BYTES)
    return "is too long for a file name";
  for (const gchar *p = name; *p != '\0'; p++)
    if (g_ascii_iscntrl (*p))
      return "holds control characters";
  if (g_strv_contains (bundle_files, name))
    return "is one of the bundle's own files, not a listed one";
  return NULL;
}

/* Checks how deep @text nests arrays and objects, outside strings, and
 * whether a string holds an escaped NUL (json-glib would silently cut the
 * string there, so "a.mp4\u0000x" would read as "a.mp4"). */
static gboolean
check_json_shape (const gchar *text, gsize size, gboolean *out_has_nul, GError **error)
{
  guint depth = 0;
  gboolean in_string = FALSE;

  *out_has_nul = FALSE;
  for (gsize i = 0; i < size; i++)
    {
      gchar c = text[i];

      if (in_string)
        {
          if (c == '\\' && i + 1 < size)
            {
              if (text[i + 1] == 'u' && i + 5 < size && strncmp (text + i + 2, "0000", 4) == 0)
                *out_has_nul = TRUE;
              i++;
            }
          else if (c == '"')
            in_string = FALSE;
        }
      else if (c == '"')
        in_string = TRUE;
      else if (c == '[' || c == '{')
        {
          if (++depth > MANIFEST_MAX_DEPTH)
            {
              g_set_error (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE,
                           "nests deeper than %u levels", MANIFEST_MAX_DEPTH);
              return FALSE;
            }
        }
      else if ((c == ']' || c == '}') && depth > 0)
        depth--;
    }
  return TRUE;
}

/* The member's string, or NULL when it is missing or not a string. */
static const gchar *
get_string_member (JsonObject *object, const gchar *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  if (node == NULL || !JSON_NODE_HOLDS_VALUE (node) || json_node_get_value_type (node) != G_TYPE_STRING)
    return NULL;
  return json_node_get_string (node);
}

static JsonObject *
get_object_member (JsonObject *object, const gchar *member)
{
  JsonNode *node = object != NULL ? json_object_get_member (object, member) : NULL;

  return node != NULL && JSON_NODE_HOLDS_OBJECT (node) ? json_node_get_object (node) : NULL;
}

static gboolean
is_sha256_hex (const gchar *text)
{
  gsize i;

  for (i = 0; text[i] != '\0'; i++)
    if (!g_ascii_isxdigit (text[i]))
      return FALSE;
  return i == 64;
}

/* Reads files[@index]; @seen holds the names listed before it. */
static VigilManifestEntry *
read_entry (JsonNode *entry_node, guint index, GHashTable *seen)
{
  VigilManifestEntry *entry = g_new0 (VigilManifestEntry, 1);
  JsonObject *object;
  JsonNode *size_node;
  const gchar *name;
  const gchar *sha256;
  const gchar *why;

  entry->size_bytes = -1;
  entry->problems = g_ptr_array_new_with_free_func (g_free);
  if (!JSON_NODE_HOLDS_OBJECT (entry_node))
    {
      vigil_evidence_add_problem (entry->problems, VIGIL_BUNDLE_MANIFEST, "files[%u] is not an object", index);
      return entry;
    }
  object = json_node_get_object (entry_node);
  name = get_string_member (object, "name");
  if (name == NULL)
    {
      vigil_evidence_add_problem (entry->problems, VIGIL_BUNDLE_MANIFEST, "files[%u] has no “name” string", index);
      return entry;
    }
  why = check_name (name);
  if (why != NULL)
    {
      g_autofree gchar *shown = vigil_evidence_printable (name);
      vigil_evidence_add_problem (entry->problems, VIGIL_BUNDLE_MANIFEST, "files[%u]: name “%s” %s", index, shown, why);
      return entry;
    }
  entry->name = g_strdup (name);
  if (!g_hash_table_add (seen, g_strdup (name)))
    {
      vigil_evidence_add_problem (entry->problems, name, "listed more than once in the manifest");
      return entry;
    }

  size_node = json_object_get_member (object, "size_bytes");
  if (size_node != NULL && JSON_NODE_HOLDS_VALUE (size_node) && json_node_get_value_type (size_node) == G_TYPE_INT64)
    entry->size_bytes = MAX (json_node_get_int (size_node), -1);
  sha256 = get_string_member (object, "sha256");
  if (entry->size_bytes < 0)
    vigil_evidence_add_problem (entry->problems, name, "the manifest's “size_bytes” is not a whole number of bytes");
  if (sha256 == NULL || !is_sha256_hex (sha256))
    vigil_evidence_add_problem (entry->problems, name, "the manifest's “sha256” is not 64 hexadecimal digits");
  else
    entry->sha256 = g_strdup (sha256);
  return entry;
}

VigilManifest *
vigil_manifest_parse (const gchar *text, gsize size, GError **error)
{
  g_autoptr(VigilManifest) manifest = g_new0 (VigilManifest, 1);
  g_autoptr(JsonParser) parser = json_parser_new ();
  g_autoptr(GHashTable) seen = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(GError) parse_error = NULL;
  gboolean has_nul = FALSE;
  JsonNode *root;
  JsonObject *object = NULL;
  JsonNode *files_node;

  g_return_val_if_fail (text != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  manifest->problems = g_ptr_array_new_with_free_func (g_free);
  manifest->entries = g_ptr_array_new_with_free_func ((GDestroyNotify) entry_free);
  if (size > G_MAXSSIZE)
    {
      g_set_error_literal (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE, "is too large");
      return NULL;
    }
  if (!check_json_shape (text, size, &has_nul, error))
    return NULL;
  if (!json_parser_load_from_data (parser, text, (gssize) size, &parse_error))
    {
      g_set_error_literal (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE, parse_error->message);
      return NULL;
    }
  root = json_parser_get_root (parser);
  if (root == NULL)
    {
      g_set_error_literal (error, VIGIL_MANIFEST_ERROR, VIGIL_MANIFEST_ERROR_UNREADABLE, "is empty");
      return NULL;
    }

  if (JSON_NODE_HOLDS_OBJECT (root))
    object = json_node_get_object (root);
  if (object == NULL)
    vigil_evidence_add_problem (manifest->problems, VIGIL_BUNDLE_MANIFEST, "is not a JSON object");
  else if (g_strcmp0 (get_string_member (object, "format"), VIGIL_BUNDLE_FORMAT) != 0)
    vigil_evidence_add_problem (manifest->problems, VIGIL_BUNDLE_MANIFEST, "“format” is not “%s”", VIGIL_BUNDLE_FORMAT);
  if (has_nul)
    vigil_evidence_add_problem (manifest->problems, VIGIL_BUNDLE_MANIFEST, "a string holds a NUL character (\\u0000)");
  if (object == NULL)
    return g_steal_pointer (&manifest);

  manifest->public_key_sha256 = g_strdup (get_string_member (get_object_member (object, "recorder"),
                                                             "public_key_sha256"));
  files_node = json_object_get_member (object, "files");
  if (files_node == NULL || !JSON_NODE_HOLDS_ARRAY (files_node))
    vigil_evidence_add_problem (manifest->problems, VIGIL_BUNDLE_MANIFEST, "“files” is missing or not a list");
  else
    {
      JsonArray *files = json_node_get_array (files_node);

      for (guint i = 0; i < json_array_get_length (files); i++)
        g_ptr_array_add (manifest->entries, read_entry (json_array_get_element (files, i), i, seen));
    }
  return g_steal_pointer (&manifest);
}
