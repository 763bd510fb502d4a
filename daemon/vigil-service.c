/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilService: vigild's D-Bus objects and method handlers.
 *
 * Handlers run on the main thread and never block on the network or a
 * long file operation: catalog reads and writes are small SQLite
 * statements, and exports run in VigilExportJob's worker. Argument errors
 * are caught here and returned as org.vigil.Vigil1.Error.* with a message
 * naming the argument. */
#include "vigil-service.h"

#include <errno.h>
#include <json-glib/json-glib.h>
#include <pwd.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vigil-alerts.h"
#include "vigil-audit.h"
#include "vigil-camera-object.h"
#include "vigil-health.h"
#include "vigil-dbus-generated.h"
#include "vigil-error.h"
#include "vigil-export-job.h"
#include "vigil-export-object.h"
#include "vigil-incident-object.h"
#include "vigil-incidents.h"
#include "vigil-service-private.h"

#define EXPORT_PATH_PREFIX   VIGIL_DBUS_PATH "/Export/"
/* Export job objects kept on the bus after they finish. */
#define MAX_EXPORT_OBJECTS   32
/* How often incident expiries are looked for. */
#define EXPIRY_CHECK_S       60

struct _VigilService
{
  GObject                    parent_instance;
  VigilDaemon               *daemon;
  VigilStore                *store;            /* the daemon's */
  GDBusConnection           *connection;
  GDBusObjectManagerServer  *manager_server;
  VigilDBusManager          *manager;
  GHashTable                *cameras;          /* VigilCamera* → VigilCameraObject* */
  GHashTable                *incidents;        /* gint64* id → VigilIncidentObject* */
  GQueue                     exports;          /* VigilDBusObjectSkeleton* of a VigilExportObject, oldest first */
  guint                      next_export;
  guint                      expiry_id;
};

G_DEFINE_FINAL_TYPE (VigilService, vigil_service, G_TYPE_OBJECT)

/* ---- Callers and the audit log ---------------------------------------- */

VigilCaller *
vigil_caller_copy (const VigilCaller *caller)
{
  VigilCaller *copy = g_new0 (VigilCaller, 1);

  copy->uid = caller->uid;
  copy->user = g_strdup (caller->user);
  return copy;
}

void
vigil_caller_free (VigilCaller *caller)
{
  if (caller == NULL)
    return;
  g_free (caller->user);
  g_free (caller);
}

/* Blocking on the bus daemon and NSS is fine here: this runs in a worker
 * thread of GDBusInterfaceSkeleton, before the handler. */
gboolean
vigil_service_authorize_method (GDBusInterfaceSkeleton *interface, GDBusMethodInvocation *invocation)
{
  GDBusConnection *connection = g_dbus_method_invocation_get_connection (invocation);
  const gchar *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autoptr(GError) error = NULL;
  g_autoptr(GVariant) reply = NULL;
  g_autoptr(VigilCaller) caller = g_new0 (VigilCaller, 1);
  struct passwd pw, *found = NULL;
  gchar buffer[4096];
  guint32 uid = 0;

  if (sender != NULL)
    {
      reply = g_dbus_connection_call_sync (connection, "org.freedesktop.DBus", "/org/freedesktop/DBus",
                                           "org.freedesktop.DBus", "GetConnectionUnixUser",
                                           g_variant_new ("(s)", sender), G_VARIANT_TYPE ("(u)"),
                                           G_DBUS_CALL_FLAGS_NONE, 10000, NULL, &error);
      if (reply != NULL)
        g_variant_get (reply, "(u)", &uid);
    }
  else
    {
      GCredentials *credentials = g_dbus_connection_get_peer_credentials (connection);
      if (credentials != NULL)
        uid = g_credentials_get_unix_user (credentials, &error);
      else
        g_set_error_literal (&error, G_IO_ERROR, G_IO_ERROR_FAILED, "peer has no credentials");
    }
  if (error != NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VIGIL_ERROR, VIGIL_ERROR_FAILED,
                                             "cannot tell who is calling: %s", error->message);
      return FALSE;
    }
  caller->uid = uid;
  if (getpwuid_r (uid, &pw, buffer, sizeof buffer, &found) == 0 && found != NULL)
    caller->user = g_strdup (found->pw_name);
  else
    caller->user = g_strdup_printf ("uid %u", uid);
  g_object_set_data_full (G_OBJECT (invocation), "vigil-caller", g_steal_pointer (&caller),
                          (GDestroyNotify) vigil_caller_free);
  return TRUE;
}

const VigilCaller *
vigil_service_get_caller (GDBusMethodInvocation *invocation)
{
  static const VigilCaller unknown = { -1, (gchar *) "unknown" };
  const VigilCaller *caller = g_object_get_data (G_OBJECT (invocation), "vigil-caller");

  return caller != NULL ? caller : &unknown;
}

static gboolean
on_authorize_method (GDBusInterfaceSkeleton *interface, GDBusMethodInvocation *invocation, gpointer user_data)
{
  return vigil_service_authorize_method (interface, invocation);
}

static void
watch_interface (gpointer skeleton)
{
  g_signal_connect (skeleton, "g-authorize-method", G_CALLBACK (on_authorize_method), NULL);
}

void
vigil_service_audit (VigilStore *store, const VigilCaller *caller, const gchar *action, const gchar *target, ...)
{
  g_autoptr(JsonBuilder) builder = json_builder_new ();
  g_autoptr(JsonGenerator) generator = json_generator_new ();
  g_autoptr(JsonNode) root = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *details = NULL;
  const gchar *key;
  va_list args;

  json_builder_begin_object (builder);
  va_start (args, target);
  while ((key = va_arg (args, const gchar *)) != NULL)
    {
      const gchar *value = va_arg (args, const gchar *);
      json_builder_set_member_name (builder, key);
      json_builder_add_string_value (builder, value ? value : "");
    }
  va_end (args);
  json_builder_end_object (builder);
  root = json_builder_get_root (builder);
  json_generator_set_root (generator, root);
  details = json_generator_to_data (generator, NULL);
  if (vigil_store_append_audit (store, g_get_real_time (), caller->uid, caller->user, action, target, details,
                                &error) == 0)
    g_warning ("audit log: cannot record %s %s by %s: %s", action, target, caller->user, error->message);
  else
    g_info ("audit: %s %s by %s (uid %" G_GINT64_FORMAT ")", action, target, caller->user, caller->uid);
}

static const VigilCaller vigild_itself = { -1, (gchar *) "vigild" };

gboolean
vigil_service_return_error (GDBusMethodInvocation *invocation, GError *error)
{
  if (error->domain == VIGIL_ONVIF_ERROR)
    vigil_error_from_onvif (&error);
  else if (error->domain != VIGIL_ERROR)
    vigil_error_from_store (&error, VIGIL_ERROR_FAILED);
  g_dbus_method_invocation_return_gerror (invocation, error);
  g_error_free (error);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

gboolean
vigil_service_return_invalid (GDBusMethodInvocation *invocation, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_dbus_method_invocation_return_error_literal (invocation, VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, message);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

gchar *
vigil_service_format_time (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  return utc != NULL ? g_date_time_format_iso8601 (utc) : g_strdup ("(invalid time)");
}

/* ---- Cameras ----------------------------------------------------------- */

/* The Manager's signals about a camera follow the Camera object's own
 * property changes (connected after them). */
static void
on_camera_state_changed (VigilCamera *camera, VigilCameraState state, VigilService *self)
{
  vigil_dbus_manager_emit_camera_state_changed (self->manager, vigil_camera_get_name (camera),
                                                vigil_camera_state_to_string (state));
}

static void
on_camera_segment_completed (VigilCamera *camera, const gchar *path, VigilService *self)
{
  const VigilSegment *segment = vigil_camera_get_last_segment (camera);

  if (segment == NULL)
    return;
  vigil_dbus_manager_emit_segment_completed (self->manager, vigil_camera_get_name (camera), segment->start_us,
                                             segment->end_us, segment->size_bytes);
}

static void
export_cameras (VigilService *self)
{
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);

  for (guint i = 0; i < cameras->len; i++)
    {
      VigilCamera *camera = cameras->pdata[i];
      g_autofree gchar *path = vigil_camera_object_build_path (vigil_camera_get_name (camera));
      g_autoptr(VigilDBusObjectSkeleton) object = vigil_dbus_object_skeleton_new (path);
      g_autoptr(VigilCameraObject) skeleton = vigil_camera_object_new (camera, self->store);

      vigil_dbus_object_skeleton_set_camera (object, VIGIL_DBUS_CAMERA (skeleton));
      g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
      g_hash_table_insert (self->cameras, camera, g_steal_pointer (&skeleton));
      g_signal_connect_after (camera, "state-changed", G_CALLBACK (on_camera_state_changed), self);
      g_signal_connect_after (camera, "segment-completed", G_CALLBACK (on_camera_segment_completed), self);
    }
}

/* ---- Incidents --------------------------------------------------------- */

static void
export_incident (VigilService *self, const VigilIncident *incident)
{
  g_autofree gchar *path = vigil_incident_object_build_path (incident->id);
  g_autoptr(VigilDBusObjectSkeleton) object = vigil_dbus_object_skeleton_new (path);
  g_autoptr(VigilIncidentObject) skeleton = vigil_incident_object_new (self->store, self->manager, incident);

  vigil_dbus_object_skeleton_set_incident (object, VIGIL_DBUS_INCIDENT (skeleton));
  g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
  g_hash_table_insert (self->incidents, g_memdup2 (&incident->id, sizeof incident->id), g_steal_pointer (&skeleton));
}

void
vigil_service_refresh_incident (VigilService *self, gint64 id, const gchar *change)
{
  VigilIncidentObject *object = g_hash_table_lookup (self->incidents, &id);
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = NULL;
  g_autofree gchar *path = NULL;

  if (object != NULL)
    {
      vigil_incident_object_refresh (object, change);
      return;
    }
  incident = vigil_store_get_incident (self->store, id, &error);
  if (incident == NULL)
    {
      g_warning ("incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return;
    }
  export_incident (self, incident);
  path = vigil_incident_object_build_path (id);
  vigil_dbus_manager_emit_incident_changed (self->manager, path, change);
}

static gboolean
on_expiry_check (gpointer user_data)
{
  VigilService *self = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GArray) released = vigil_store_release_expired_incidents (self->store, g_get_real_time (), &error);

  if (released == NULL)
    {
      g_warning ("incident expiry: %s", error->message);
      return G_SOURCE_CONTINUE;
    }
  for (guint i = 0; i < released->len; i++)
    {
      gint64 id = g_array_index (released, gint64, i);
      g_autofree gchar *target = vigil_incident_object_build_target (id);

      g_message ("incident %" G_GINT64_FORMAT ": evidence lock expired", id);
      vigil_service_audit (self->store, &vigild_itself, "incident-expire", target, NULL);
      vigil_service_refresh_incident (self, id, "released");
    }
  return G_SOURCE_CONTINUE;
}

/* Reads an optional a{sv} member of type @type; FALSE (with the
 * invocation answered) when present with the wrong type. */
static gboolean
lookup_option (GVariant *options, const gchar *key, const GVariantType *type, GVariant **out_value,
               GDBusMethodInvocation *invocation)
{
  g_autoptr(GVariant) value = g_variant_lookup_value (options, key, NULL);

  *out_value = NULL;
  if (value == NULL)
    return TRUE;
  if (!g_variant_is_of_type (value, type))
    {
      vigil_service_return_invalid (invocation, "option “%s” must have type %s, not %s", key, g_variant_type_peek_string (type),
                      g_variant_get_type_string (value));
      return FALSE;
    }
  *out_value = g_steal_pointer (&value);
  return TRUE;
}

static gboolean
check_known_options (GVariant *options, const gchar *const *known, GDBusMethodInvocation *invocation)
{
  GVariantIter iter;
  const gchar *key;

  g_variant_iter_init (&iter, options);
  while (g_variant_iter_next (&iter, "{&sv}", &key, NULL))
    if (!g_strv_contains (known, key))
      {
        vigil_service_return_invalid (invocation, "unknown option “%s”", key);
        return FALSE;
      }
  return TRUE;
}

static gboolean
on_handle_create_incident (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                           const gchar *const *cameras, gint64 start_us, gint64 end_us, const gchar *title,
                           const gchar *description, const gchar *const *tags, GVariant *options,
                           VigilService *self)
{
  static const gchar *const known[] = { "pre-roll-s", "post-roll-s", "expires-us", "note", "preset", NULL };
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  g_autoptr(VigilIncident) incident = vigil_incident_new ();
  g_autoptr(GVariant) pre = NULL, post = NULL, expires = NULL, note = NULL, preset = NULL;
  g_autofree gchar *path = NULL;
  g_autofree gchar *target = NULL;
  g_autofree gchar *cameras_text = NULL;
  g_autofree gchar *start_text = NULL;
  GError *error = NULL;
  gint64 now_us = g_get_real_time ();
  gint64 id;

  if (!check_known_options (options, known, invocation)
      || !lookup_option (options, "pre-roll-s", G_VARIANT_TYPE_UINT32, &pre, invocation)
      || !lookup_option (options, "post-roll-s", G_VARIANT_TYPE_UINT32, &post, invocation)
      || !lookup_option (options, "expires-us", G_VARIANT_TYPE_INT64, &expires, invocation)
      || !lookup_option (options, "note", G_VARIANT_TYPE_STRING, &note, invocation)
      || !lookup_option (options, "preset", G_VARIANT_TYPE_STRING, &preset, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (preset != NULL && g_variant_get_string (preset, NULL)[0] == '\0')
    return vigil_service_return_invalid (invocation, "preset must name a preset");
  if (start_us > now_us + VIGIL_INCIDENT_FUTURE_SLACK_US)
    return vigil_service_return_invalid (invocation, "start time is in the future");
  if (end_us < 0)
    return vigil_service_return_invalid (invocation, "end time must be 0 (open) or a time");

  incident->cameras = g_strdupv ((gchar **) cameras);
  incident->start_us = start_us;
  incident->end_us = end_us;
  incident->title = g_strdup (title);
  incident->description = g_strdup (description);
  incident->tags = g_strdupv ((gchar **) tags);
  if (pre != NULL)
    incident->pre_roll_us = g_variant_get_uint32 (pre) * G_USEC_PER_SEC;
  if (post != NULL)
    incident->post_roll_us = g_variant_get_uint32 (post) * G_USEC_PER_SEC;
  if (expires != NULL)
    incident->expires_us = g_variant_get_int64 (expires);
  incident->created_us = now_us;
  incident->created_uid = caller->uid;
  incident->created_user = g_strdup (caller->user);
  id = vigil_store_add_incident (self->store, incident, &error);
  if (id == 0)
    {
      vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_CAMERA);
      return vigil_service_return_error (invocation, error);
    }
  target = vigil_incident_object_build_target (id);
  cameras_text = g_strjoinv (",", (gchar **) cameras);
  start_text = vigil_service_format_time (start_us);
  vigil_service_audit (self->store, caller, "incident-create", target, "title", title, "cameras", cameras_text, "start", start_text,
         NULL);
  if (note != NULL)
    {
      VigilIncidentNote first = { now_us, caller->uid, caller->user, (gchar *) g_variant_get_string (note, NULL) };

      if (!vigil_store_add_incident_note (self->store, id, &first, &error))
        {
          /* The incident and its lock stand; only the note is refused. */
          g_prefix_error (&error, "incident %" G_GINT64_FORMAT " was created, but its note was not: ", id);
          vigil_service_refresh_incident (self, id, "created");
          return vigil_service_return_error (invocation, error);
        }
      vigil_service_audit (self->store, caller, "incident-note", target, "text", first.text, NULL);
    }
  if (preset != NULL)
    {
      /* The cameras turn to the scene while the incident is recorded. */
      GPtrArray *all = vigil_daemon_get_cameras (self->daemon);

      for (guint i = 0; i < all->len; i++)
        if (g_strv_contains (cameras, vigil_camera_get_name (all->pdata[i])))
          vigil_camera_object_goto_preset (g_hash_table_lookup (self->cameras, all->pdata[i]), invocation,
                                           g_variant_get_string (preset, NULL), target);
    }
  vigil_service_refresh_incident (self, id, "created");
  g_message ("incident %" G_GINT64_FORMAT " created by %s: %s", id, caller->user, title);
  path = vigil_incident_object_build_path (id);
  vigil_dbus_manager_complete_create_incident (manager, invocation, path);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_list_incidents (VigilDBusManager *manager, GDBusMethodInvocation *invocation, GVariant *filter_options,
                          VigilService *self)
{
  static const gchar *const known[] = { "from-us", "to-us", "camera", "tag", "text", "limit", NULL };
  g_autoptr(GVariant) from = NULL, to = NULL, camera = NULL, tag = NULL, text = NULL, limit = NULL;
  g_autoptr(GPtrArray) incidents = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  VigilIncidentFilter filter = { 0 };
  GError *error = NULL;

  if (!check_known_options (filter_options, known, invocation)
      || !lookup_option (filter_options, "from-us", G_VARIANT_TYPE_INT64, &from, invocation)
      || !lookup_option (filter_options, "to-us", G_VARIANT_TYPE_INT64, &to, invocation)
      || !lookup_option (filter_options, "camera", G_VARIANT_TYPE_STRING, &camera, invocation)
      || !lookup_option (filter_options, "tag", G_VARIANT_TYPE_STRING, &tag, invocation)
      || !lookup_option (filter_options, "text", G_VARIANT_TYPE_STRING, &text, invocation)
      || !lookup_option (filter_options, "limit", G_VARIANT_TYPE_UINT32, &limit, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  filter.from_us = from ? g_variant_get_int64 (from) : 0;
  filter.to_us = to ? g_variant_get_int64 (to) : 0;
  filter.camera = camera ? g_variant_get_string (camera, NULL) : NULL;
  filter.tag = tag ? g_variant_get_string (tag, NULL) : NULL;
  filter.text = text ? g_variant_get_string (text, NULL) : NULL;
  filter.limit = limit ? g_variant_get_uint32 (limit) : 0;
  if (filter.from_us != 0 && filter.to_us != 0 && filter.to_us <= filter.from_us)
    return vigil_service_return_invalid (invocation, "the range ends before it starts");
  incidents = vigil_store_list_incidents (self->store, &filter, &error);
  if (incidents == NULL)
    return vigil_service_return_error (invocation, error);
  for (guint i = 0; i < incidents->len; i++)
    g_ptr_array_add (paths, vigil_incident_object_build_path (((VigilIncident *) incidents->pdata[i])->id));
  g_ptr_array_add (paths, NULL);
  vigil_dbus_manager_complete_list_incidents (manager, invocation, (const gchar *const *) paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
export_all_incidents (VigilService *self)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) incidents = vigil_store_list_incidents (self->store, NULL, &error);

  if (incidents == NULL)
    {
      g_warning ("cannot list incidents: %s", error->message);
      return;
    }
  for (guint i = 0; i < incidents->len; i++)
    export_incident (self, incidents->pdata[i]);
}

/* ---- Exports ----------------------------------------------------------- */

/* Announces an export's end on the Manager too, after the Export object's
 * own Finished went out. */
static void
on_export_finished (VigilDBusExport *export, const gchar *state, const gchar *bundle, const gchar *manifest_sha256,
                    VigilService *self)
{
  const gchar *path = g_dbus_object_get_object_path (g_dbus_interface_get_object (G_DBUS_INTERFACE (export)));

  vigil_dbus_manager_emit_export_finished (self->manager, path, state, bundle, manifest_sha256);
}

static gboolean
is_export_running (VigilDBusObject *object)
{
  VigilExportObject *export = VIGIL_EXPORT_OBJECT (vigil_dbus_object_peek_export (object));

  return vigil_export_job_get_state (vigil_export_object_get_job (export)) == VIGIL_EXPORT_RUNNING;
}

/* Drops finished jobs beyond the last MAX_EXPORT_OBJECTS from the bus. */
static void
trim_exports (VigilService *self)
{
  for (GList *l = self->exports.head; l != NULL && self->exports.length > MAX_EXPORT_OBJECTS;)
    {
      VigilDBusObjectSkeleton *object = l->data;
      GList *next = l->next;

      if (!is_export_running (VIGIL_DBUS_OBJECT (object)))
        {
          g_dbus_object_manager_server_unexport (self->manager_server,
                                                 g_dbus_object_get_object_path (G_DBUS_OBJECT (object)));
          g_queue_delete_link (&self->exports, l);
          g_object_unref (object);
        }
      l = next;
    }
}

static gboolean
start_export (VigilService *self, GDBusMethodInvocation *invocation, const VigilExportRequest *request,
              gchar **out_path)
{
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  GError *error = NULL;
  g_autoptr(VigilExportJob) job = NULL;
  g_autoptr(VigilExportObject) export = NULL;
  g_autofree gchar *path = NULL;
  VigilDBusObjectSkeleton *object;

  job = vigil_export_job_new (self->store, vigil_daemon_get_signing_key (self->daemon),
                              vigil_daemon_get_private_folders (self->daemon), request, &error);
  if (job == NULL)
    {
      g_message ("export refused for %s: %s", caller->user, error->message);
      vigil_service_return_error (invocation, error);
      return FALSE;
    }
  path = g_strdup_printf (EXPORT_PATH_PREFIX "%u", ++self->next_export);
  export = vigil_export_object_new (job, self->store, invocation);
  object = vigil_dbus_object_skeleton_new (path);
  vigil_dbus_object_skeleton_set_export (object, VIGIL_DBUS_EXPORT (export));
  g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
  g_signal_connect_after (export, "finished", G_CALLBACK (on_export_finished), self);
  g_queue_push_tail (&self->exports, object);
  vigil_service_audit (self->store, caller, "export-start", vigil_export_job_get_summary (job), "reason",
                       request->reason, NULL);
  vigil_export_job_start (job);
  trim_exports (self);
  *out_path = g_steal_pointer (&path);
  return TRUE;
}

static gboolean
on_handle_export_incident (VigilDBusManager *manager, GDBusMethodInvocation *invocation, const gchar *incident_path,
                           const gchar *destination, const gchar *reason, VigilService *self)
{
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  g_autoptr(VigilIncident) incident = NULL;
  g_autofree gchar *job_path = NULL;
  GError *error = NULL;
  gint64 id = 0;

  if (!vigil_incident_object_parse_path (incident_path, &id))
    {
      g_dbus_method_invocation_return_error (invocation, VIGIL_ERROR, VIGIL_ERROR_UNKNOWN_INCIDENT,
                                             "%s is not an incident's object path", incident_path);
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  incident = vigil_store_get_incident (self->store, id, &error);
  if (incident == NULL)
    {
      vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_INCIDENT);
      return vigil_service_return_error (invocation, error);
    }
  {
    VigilExportRequest request = {
      .destination = destination, .reason = reason, .uid = caller->uid, .user = caller->user, .incident = incident,
    };
    if (start_export (self, invocation, &request, &job_path))
      vigil_dbus_manager_complete_export_incident (manager, invocation, job_path);
  }
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_export_range (VigilDBusManager *manager, GDBusMethodInvocation *invocation, const gchar *camera,
                        gint64 from_us, gint64 to_us, const gchar *destination, const gchar *reason,
                        VigilService *self)
{
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  g_autofree gchar *job_path = NULL;
  VigilExportRequest request = {
    .destination = destination, .reason = reason, .uid = caller->uid, .user = caller->user, .camera = camera,
    .from_us = from_us, .to_us = to_us,
  };

  if (start_export (self, invocation, &request, &job_path))
    vigil_dbus_manager_complete_export_range (manager, invocation, job_path);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Status, key, audit ------------------------------------------------ */

static gboolean
on_handle_get_status (VigilDBusManager *manager, GDBusMethodInvocation *invocation, VigilService *self)
{
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);
  g_autoptr(GPtrArray) open_incidents = NULL;
  g_autofree gchar *head = NULL;
  g_autofree gchar *fingerprint = NULL;
  VigilIncidentFilter open_filter = { .from_us = g_get_real_time () };
  VigilSigningKey *key = vigil_daemon_get_signing_key (self->daemon);
  GVariantBuilder builder;
  struct statvfs fs;
  guint64 stored = 0;
  guint recording = 0, open_count = 0;
  gint64 head_id = 0;

  for (guint i = 0; i < cameras->len; i++)
    {
      VigilDBusCamera *skeleton = g_hash_table_lookup (self->cameras, cameras->pdata[i]);

      stored += vigil_dbus_camera_get_stored_bytes (skeleton);
      recording += vigil_camera_get_state (cameras->pdata[i]) == VIGIL_CAMERA_STATE_RECORDING;
    }
  open_incidents = vigil_store_list_incidents (self->store, &open_filter, NULL);
  for (guint i = 0; open_incidents != NULL && i < open_incidents->len; i++)
    open_count += ((VigilIncident *) open_incidents->pdata[i])->end_us == 0;
  vigil_store_get_audit_head (self->store, &head_id, &head, NULL);
  fingerprint = key != NULL ? vigil_signing_key_get_fingerprint (key) : g_strdup ("");

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&builder, "{sv}", "version", g_variant_new_string (VIGIL_VERSION));
  g_variant_builder_add (&builder, "{sv}", "uptime-s",
                         g_variant_new_uint64 ((g_get_real_time () - vigil_daemon_get_started_us (self->daemon))
                                               / G_USEC_PER_SEC));
  g_variant_builder_add (&builder, "{sv}", "cameras", g_variant_new_uint32 (cameras->len));
  g_variant_builder_add (&builder, "{sv}", "cameras-recording", g_variant_new_uint32 (recording));
  g_variant_builder_add (&builder, "{sv}", "storage-root", g_variant_new_string (vigil_store_get_root (self->store)));
  g_variant_builder_add (&builder, "{sv}", "stored-bytes", g_variant_new_uint64 (stored));
  if (statvfs (vigil_store_get_root (self->store), &fs) == 0)
    g_variant_builder_add (&builder, "{sv}", "free-bytes", g_variant_new_uint64 ((guint64) fs.f_bavail * fs.f_frsize));
  g_variant_builder_add (&builder, "{sv}", "open-incidents", g_variant_new_uint32 (open_count));
  g_variant_builder_add (&builder, "{sv}", "audit-rows", g_variant_new_int64 (head_id));
  g_variant_builder_add (&builder, "{sv}", "public-key-sha256", g_variant_new_string (fingerprint));
  vigil_dbus_manager_complete_get_status (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_list_cameras (VigilDBusManager *manager, GDBusMethodInvocation *invocation, VigilService *self)
{
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < cameras->len; i++)
    g_ptr_array_add (paths, vigil_camera_object_build_path (vigil_camera_get_name (cameras->pdata[i])));
  g_ptr_array_add (paths, NULL);
  vigil_dbus_manager_complete_list_cameras (manager, invocation, (const gchar *const *) paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_get_public_key (VigilDBusManager *manager, GDBusMethodInvocation *invocation, VigilService *self)
{
  VigilSigningKey *key = vigil_daemon_get_signing_key (self->daemon);
  g_autofree gchar *pem = NULL;
  g_autofree gchar *fingerprint = NULL;

  if (key == NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, VIGIL_ERROR, VIGIL_ERROR_FAILED,
                                                     "vigild has no signing key (see its log)");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  pem = vigil_signing_key_get_public_pem (key);
  fingerprint = vigil_signing_key_get_fingerprint (key);
  vigil_dbus_manager_complete_get_public_key (manager, invocation, pem, fingerprint);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_list_audit (VigilDBusManager *manager, GDBusMethodInvocation *invocation, gint64 since_us, guint limit,
                      VigilService *self)
{
  g_autoptr(GPtrArray) rows = NULL;
  GVariantBuilder builder;
  GError *error = NULL;

  rows = vigil_store_list_audit (self->store, since_us, limit, &error);
  if (rows == NULL)
    return vigil_service_return_error (invocation, error);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(txxsssss)"));
  for (guint i = 0; i < rows->len; i++)
    {
      const VigilAuditEntry *row = rows->pdata[i];
      g_variant_builder_add (&builder, "(txxsssss)", (guint64) row->id, row->time_us, row->uid, row->user,
                             row->action, row->target, row->details, row->sha256);
    }
  vigil_dbus_manager_complete_list_audit (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_verify_audit (VigilDBusManager *manager, GDBusMethodInvocation *invocation, VigilService *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *head = NULL;
  gint64 rows = 0;

  if (vigil_store_verify_audit (self->store, &rows, NULL, &head, &error))
    vigil_dbus_manager_complete_verify_audit (manager, invocation, TRUE, rows, head, "");
  else if (g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_TAMPERED))
    {
      g_warning ("%s", error->message);
      vigil_dbus_manager_complete_verify_audit (manager, invocation, FALSE, rows, "", error->message);
    }
  else
    return vigil_service_return_error (invocation, g_steal_pointer (&error));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Alerts and the self-check ----------------------------------------- */

static GVariant *
alert_variant (const VigilAlert *alert)
{
  return g_variant_new ("(tsssxxs)", (guint64) alert->id, alert->kind, vigil_alert_severity_to_string (alert->severity),
                        alert->subject, alert->raised_us, alert->cleared_us, alert->details ? alert->details : "");
}

static void
on_alert_raised (VigilAlerts *alerts, const VigilAlert *alert, VigilService *self)
{
  vigil_dbus_manager_emit_alert_raised (self->manager, alert_variant (alert));
}

static void
on_alert_cleared (VigilAlerts *alerts, const VigilAlert *alert, VigilService *self)
{
  vigil_dbus_manager_emit_alert_cleared (self->manager, alert_variant (alert));
}

static gboolean
on_handle_list_alerts (VigilDBusManager *manager, GDBusMethodInvocation *invocation, gboolean open_only,
                       gint64 since_us, guint limit, VigilService *self)
{
  g_autoptr(GPtrArray) alerts = NULL;
  GVariantBuilder builder;
  GError *error = NULL;

  alerts = vigil_store_list_alerts (self->store, open_only, since_us, limit, &error);
  if (alerts == NULL)
    return vigil_service_return_error (invocation, error);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(tsssxxs)"));
  for (guint i = 0; i < alerts->len; i++)
    g_variant_builder_add_value (&builder, alert_variant (alerts->pdata[i]));
  vigil_dbus_manager_complete_list_alerts (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
on_watchdog_deleted (VigilWatchdog *watchdog, guint segments, guint64 bytes, VigilService *self)
{
  GHashTableIter iter;
  gpointer object;

  /* Retention changed what is stored: re-read the totals. */
  g_hash_table_iter_init (&iter, self->cameras);
  while (g_hash_table_iter_next (&iter, NULL, &object))
    vigil_camera_object_refresh_stored_bytes (object);
}

static const gchar *const picture_kinds[] = { "black", "white", "frozen", "blurred", "covered", "moved", NULL };

static void
add_check (GVariantBuilder *builder, const gchar *subject, const gchar *check, gboolean ok, const gchar *reason)
{
  g_variant_builder_add (builder, "(ssbs)", subject, check, ok, reason);
}

static void
check_camera (VigilService *self, VigilCamera *camera, GVariantBuilder *builder)
{
  VigilAlerts *alerts = vigil_daemon_get_alerts (self->daemon);
  VigilCameraState state = vigil_camera_get_state (camera);
  const VigilSegment *last = vigil_camera_get_last_segment (camera);
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (camera));
  g_autoptr(GPtrArray) raised = vigil_alerts_list_raised (alerts, subject);
  g_autoptr(GString) picture = g_string_new (NULL);
  g_autofree gchar *live = NULL;
  g_autofree gchar *recording = NULL;
  gint64 age_s = last != NULL ? (g_get_real_time () - last->end_us) / G_USEC_PER_SEC : -1;
  guint stall_s = vigil_health_stall_seconds (vigil_daemon_get_segment_seconds (self->daemon));
  gboolean recording_ok;

  live = g_strdup_printf ("camera %s", vigil_camera_state_to_string (state));
  add_check (builder, subject, "stream-live", state == VIGIL_CAMERA_STATE_RECORDING, live);
  for (guint i = 0; i < raised->len; i++)
    {
      const VigilAlert *alert = raised->pdata[i];

      if (g_strv_contains (picture_kinds, alert->kind))
        g_string_append_printf (picture, "%s%s (%s)", picture->len ? "; " : "", alert->kind, alert->details);
    }
  add_check (builder, subject, "picture-clear", picture->len == 0 && state == VIGIL_CAMERA_STATE_RECORDING,
             picture->len > 0 ? picture->str
             : state == VIGIL_CAMERA_STATE_RECORDING ? "no picture fault seen" : "no picture to judge");
  recording_ok = last != NULL && !vigil_alerts_is_raised (alerts, "recording-stalled", subject)
                 && !vigil_alerts_is_raised (alerts, "write-error", subject)
                 && age_s <= (gint64) stall_s;
  if (last == NULL)
    recording = g_strdup ("no segment completed since vigild started");
  else
    recording = g_strdup_printf ("last segment completed %" G_GINT64_FORMAT " s ago%s", age_s,
                                 recording_ok ? "" : " (too long)");
  add_check (builder, subject, "recording-working", recording_ok, recording);
  add_check (builder, subject, "reachable", state != VIGIL_CAMERA_STATE_OFFLINE
                                            && !vigil_alerts_is_raised (alerts, "offline", subject),
             state == VIGIL_CAMERA_STATE_OFFLINE ? "no answer on its RTSP port"
             : vigil_alerts_is_raised (alerts, "offline", subject) ? "offline alert raised" : "answers");
}

static void
check_storage (VigilService *self, GVariantBuilder *builder)
{
  VigilAlerts *alerts = vigil_daemon_get_alerts (self->daemon);
  g_autofree gchar *subject = g_strdup_printf ("storage %s", vigil_store_get_root (self->store));
  g_autofree gchar *space = NULL;
  g_autofree gchar *days = NULL;
  g_autoptr(GError) error = NULL;
  VigilStorageStatus status;

  if (!vigil_watchdog_get_status (vigil_daemon_get_watchdog (self->daemon), &status, &error))
    {
      add_check (builder, subject, "free-space", FALSE, error->message);
      add_check (builder, subject, "days-left", FALSE, error->message);
      return;
    }
  space = g_strdup_printf ("%.1f GB free of %.1f GB (%.1f %%)", status.free_bytes / 1e9, status.total_bytes / 1e9,
                           status.total_bytes ? 100.0 * status.free_bytes / status.total_bytes : 0);
  add_check (builder, subject, "free-space", !vigil_alerts_is_raised (alerts, "disk-low", subject)
                                             && !vigil_alerts_is_raised (alerts, "disk-full-locked", subject), space);
  if (status.hours_left < 0)
    days = g_strdup ("write rate not known yet (measured over the first minutes)");
  else
    days = g_strdup_printf ("%.1f days at %.2f MB/s", status.hours_left / 24, status.write_bytes_per_s / 1e6);
  /* Less than a day of headroom before the watchdog must delete is a
   * problem for the next shift, not just this one. */
  add_check (builder, subject, "days-left", status.hours_left < 0 || status.hours_left >= 24, days);
}

static gboolean
on_handle_self_check (VigilDBusManager *manager, GDBusMethodInvocation *invocation, VigilService *self)
{
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ssbs)"));
  for (guint i = 0; i < cameras->len; i++)
    if (vigil_camera_get_state (cameras->pdata[i]) != VIGIL_CAMERA_STATE_DISABLED)
      check_camera (self, cameras->pdata[i], &builder);
  check_storage (self, &builder);
  vigil_dbus_manager_complete_self_check (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Life cycle -------------------------------------------------------- */

static void
vigil_service_dispose (GObject *object)
{
  VigilService *self = VIGIL_SERVICE (object);
  GHashTableIter iter;
  gpointer camera;

  g_clear_handle_id (&self->expiry_id, g_source_remove);
  if (self->daemon != NULL)
    {
      g_signal_handlers_disconnect_by_data (vigil_daemon_get_alerts (self->daemon), self);
      g_signal_handlers_disconnect_by_data (vigil_daemon_get_watchdog (self->daemon), self);
    }
  if (self->cameras != NULL)
    {
      g_hash_table_iter_init (&iter, self->cameras);
      while (g_hash_table_iter_next (&iter, &camera, NULL))
        g_signal_handlers_disconnect_by_data (camera, self);
    }
  /* Running exports are cancelled; their workers clean up their partial
   * folders before the job objects go. */
  for (GList *l = self->exports.head; l != NULL; l = l->next)
    {
      VigilDBusExport *export = vigil_dbus_object_peek_export (l->data);

      g_signal_handlers_disconnect_by_data (export, self);
      vigil_export_job_cancel (vigil_export_object_get_job (VIGIL_EXPORT_OBJECT (export)));
    }
  g_queue_clear_full (&self->exports, g_object_unref);
  g_clear_pointer (&self->cameras, g_hash_table_unref);
  g_clear_pointer (&self->incidents, g_hash_table_unref);
  if (self->manager != NULL)
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  g_clear_object (&self->manager);
  g_clear_object (&self->manager_server);
  g_clear_object (&self->connection);
  g_clear_object (&self->store);
  g_clear_object (&self->daemon);
  G_OBJECT_CLASS (vigil_service_parent_class)->dispose (object);
}

static void
vigil_service_class_init (VigilServiceClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_service_dispose;
}

static void
vigil_service_init (VigilService *self)
{
  g_queue_init (&self->exports);
  self->cameras = g_hash_table_new_full (NULL, NULL, NULL, g_object_unref);
  self->incidents = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
}

VigilService *
vigil_service_new (VigilDaemon *daemon, GDBusConnection *connection, GError **error)
{
  g_autoptr(VigilService) self = g_object_new (VIGIL_TYPE_SERVICE, NULL);

  g_return_val_if_fail (VIGIL_IS_DAEMON (daemon), NULL);
  g_return_val_if_fail (G_IS_DBUS_CONNECTION (connection), NULL);
  /* Registers the D-Bus error names before the first reply needs them. */
  g_type_ensure (G_TYPE_DBUS_OBJECT_SKELETON);
  (void) vigil_error_quark ();

  self->daemon = g_object_ref (daemon);
  self->store = g_object_ref (vigil_daemon_get_store (daemon));
  self->connection = g_object_ref (connection);
  self->manager_server = g_dbus_object_manager_server_new (VIGIL_DBUS_PATH);

  self->manager = vigil_dbus_manager_skeleton_new ();
  vigil_dbus_manager_set_version (self->manager, VIGIL_VERSION);
  vigil_dbus_manager_set_started_us (self->manager, vigil_daemon_get_started_us (daemon));
  watch_interface (self->manager);
  g_signal_connect (self->manager, "handle-get-status", G_CALLBACK (on_handle_get_status), self);
  g_signal_connect (self->manager, "handle-list-cameras", G_CALLBACK (on_handle_list_cameras), self);
  g_signal_connect (self->manager, "handle-create-incident", G_CALLBACK (on_handle_create_incident), self);
  g_signal_connect (self->manager, "handle-list-incidents", G_CALLBACK (on_handle_list_incidents), self);
  g_signal_connect (self->manager, "handle-export-incident", G_CALLBACK (on_handle_export_incident), self);
  g_signal_connect (self->manager, "handle-export-range", G_CALLBACK (on_handle_export_range), self);
  g_signal_connect (self->manager, "handle-get-public-key", G_CALLBACK (on_handle_get_public_key), self);
  g_signal_connect (self->manager, "handle-list-audit", G_CALLBACK (on_handle_list_audit), self);
  g_signal_connect (self->manager, "handle-verify-audit", G_CALLBACK (on_handle_verify_audit), self);
  g_signal_connect (self->manager, "handle-list-alerts", G_CALLBACK (on_handle_list_alerts), self);
  g_signal_connect (self->manager, "handle-self-check", G_CALLBACK (on_handle_self_check), self);
  g_signal_connect (vigil_daemon_get_alerts (daemon), "raised", G_CALLBACK (on_alert_raised), self);
  g_signal_connect (vigil_daemon_get_alerts (daemon), "cleared", G_CALLBACK (on_alert_cleared), self);
  g_signal_connect (vigil_daemon_get_watchdog (daemon), "deleted", G_CALLBACK (on_watchdog_deleted), self);
  /* The object manager serves the objects below its own path; the
   * Manager interface sits on that path itself. */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager), connection, VIGIL_DBUS_PATH,
                                         error))
    return NULL;

  export_cameras (self);
  export_all_incidents (self);
  g_dbus_object_manager_server_set_connection (self->manager_server, connection);
  self->expiry_id = g_timeout_add_seconds (EXPIRY_CHECK_S, on_expiry_check, self);
  on_expiry_check (self);
  return g_steal_pointer (&self);
}
