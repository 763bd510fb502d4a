/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilService: the objects on the bus and what they share. It makes the
 * Manager, Camera, Incident and Export objects (each its own type, in
 * vigil-*-object.c) and puts them under the object manager; the method
 * handlers are theirs. Here are the helpers they share through
 * vigil-service-private.h (the caller lookup, the audit log, error
 * replies), the incident expiry check, and the list of export objects. */
#include "vigil-service.h"

#include <json-glib/json-glib.h>
#include <errno.h>
#include <fcntl.h>
#include <pwd.h>
#include <unistd.h>

#include "vigil-audit.h"
#include "vigil-authority.h"
#include "vigil-camera-object.h"
#include "vigil-error.h"
#include "vigil-export-object.h"
#include "vigil-incident-object.h"
#include "vigil-manager-object.h"
#include "vigil-reserve.h"
#include "vigil-service-private.h"
#include "vigil-text.h"

#define EXPORT_PATH_PREFIX   VIGIL_DBUS_PATH "/Export/"
/* An error message to a caller is cut after this many characters: it may
 * quote the caller's own (huge) argument back. */
#define ERROR_MESSAGE_MAX_CHARS 500
/* Export job objects kept on the bus after they finish. */
#define MAX_EXPORT_OBJECTS   32
/* Incident objects kept on the bus, the most recently used: at most
 * ~14 kB each (title, description, tags, cameras, reason bounded), so
 * GetManagedObjects stays a few MB below the bus's 32 MiB limit however
 * large the catalog grows. */
#define MAX_INCIDENT_OBJECTS 256
/* Per caller: incidents created at once, then one every 6 s; notes and
 * tag changes 60 at once, then one every 2 s. A monitoring room marks a
 * few incidents an hour; a script gone wrong is stopped well before the
 * catalog or the bus notice. */
#define INCIDENT_BURST        20
#define INCIDENT_REFILL_MS    6000
#define CHANGE_BURST          60
#define CHANGE_REFILL_MS      2000
/* How often incident expiries are looked for. */
#define EXPIRY_CHECK_S       60

struct _VigilService
{
  GObject                    parent_instance;
  VigilDaemon               *daemon;
  VigilStore                *store;            /* the daemon's */
  GDBusConnection           *connection;
  VigilAuthority            *authority;        /* each object holds it too, for the authorize hook */
  GDBusObjectManagerServer  *manager_server;
  VigilManagerObject        *manager;
  GPtrArray                 *cameras;          /* VigilCameraObject, in config order */
  GHashTable                *incidents;        /* gint64* id → VigilIncidentObject*, on the bus */
  GQueue                     incident_order;   /* their ids (gint64*, borrowed from incidents), least recently used first */
  VigilRateLimit            *incident_rate;
  VigilRateLimit            *change_rate;
  GQueue                     exports;          /* VigilDBusObjectSkeleton* of a VigilExportObject, oldest first */
  GPtrArray                 *pending_exports;  /* PendingExport: waiting for open segments to close */
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
  const gchar *interface_name = g_dbus_method_invocation_get_interface_name (invocation);
  const gchar *method_name = g_dbus_method_invocation_get_method_name (invocation);
  VigilAuthority *authority;
  const gchar *action;
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

  /* Every method needs its action before it runs; an object without an
   * authority, or a method without an action, is refused. */
  authority = g_object_get_data (G_OBJECT (interface), "vigil-authority");
  action = vigil_authority_action_for (interface_name, method_name);
  if (authority == NULL || action == NULL)
    {
      g_dbus_method_invocation_return_error (invocation, VIGIL_ERROR, VIGIL_ERROR_ACCESS_DENIED,
                                             "%s.%s is not open to callers", interface_name, method_name);
      return FALSE;
    }
  if (!vigil_authority_check_sync (authority, connection, sender, uid, caller->user, action, &error))
    {
      g_autofree gchar *method = g_strdup_printf ("%s.%s", interface_name, method_name);

      vigil_authority_report_refusal (authority, uid, caller->user, action, method,
                                      g_dbus_method_invocation_get_object_path (invocation));
      vigil_service_return_error (invocation, g_steal_pointer (&error));
      return FALSE;
    }
  g_object_set_data_full (G_OBJECT (invocation), "vigil-caller", g_steal_pointer (&caller),
                          (GDestroyNotify) vigil_caller_free);
  return TRUE;
}

/* Refusals go to the audit log (within the authority's per-uid limit). */
static void
on_refused (guint32 uid, const gchar *user, const gchar *action, const gchar *method, const gchar *target,
            guint left_out, gpointer user_data)
{
  VigilStore *store = user_data;
  VigilCaller caller = { uid, (gchar *) user };
  g_autofree gchar *left_out_text = g_strdup_printf ("%u", left_out);

  g_message ("access: %s (uid %u) refused %s for %s on %s%s", user, uid, action, method, target,
             left_out > 0 ? " (and earlier refusals not logged)" : "");
  vigil_service_audit (store, &caller, "access-denied", target, "action", action, "method", method,
                       left_out > 0 ? "not-logged-before" : NULL, left_out_text, NULL);
}

const gchar *
vigil_service_describe_authority (VigilService *self)
{
  return vigil_authority_describe (self->authority);
}

/* Lets the authorize hook find the authority from @skeleton. */
static void
guard (VigilService *self, gpointer skeleton)
{
  g_object_set_data_full (G_OBJECT (skeleton), "vigil-authority", g_object_ref (self->authority), g_object_unref);
}

const VigilCaller *
vigil_service_get_caller (GDBusMethodInvocation *invocation)
{
  static const VigilCaller unknown = { -1, (gchar *) "unknown" };
  const VigilCaller *caller = g_object_get_data (G_OBJECT (invocation), "vigil-caller");

  return caller != NULL ? caller : &unknown;
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
vigil_service_retry_on_full (VigilStore *store, GError **error)
{
  g_autoptr(GError) reserve_error = NULL;
  guint64 released = 0;

  if (!g_error_matches (*error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
    return FALSE;
  /* One unlink on the main thread: rare, and what a person is waiting on. */
  if (!vigil_reserve_remove (vigil_store_get_root (store), &released, &reserve_error))
    g_warning ("%s", reserve_error->message);
  if (released == 0)
    return FALSE;
  g_message ("the catalog's disk is full: gave back the %.1f MB space reserve for an operator's change",
             released / 1e6);
  g_clear_error (error);
  return TRUE;
}

gboolean
vigil_service_return_error (GDBusMethodInvocation *invocation, GError *error)
{
  g_autofree gchar *message = NULL;

  if (error->domain == VIGIL_ONVIF_ERROR)
    vigil_error_from_onvif (&error);
  else if (error->domain != VIGIL_ERROR)
    vigil_error_from_store (&error, VIGIL_ERROR_FAILED);
  /* A message may quote what the caller sent: one line, and short. */
  message = vigil_text_sanitize (error->message, ERROR_MESSAGE_MAX_CHARS, VIGIL_TEXT_DEFAULT);
  g_dbus_method_invocation_return_error_literal (invocation, error->domain, error->code, message);
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
  return vigil_service_return_error (invocation,
                                     g_error_new_literal (VIGIL_ERROR, VIGIL_ERROR_INVALID_ARGUMENT, message));
}

gchar *
vigil_service_format_time (gint64 time_us)
{
  g_autoptr(GDateTime) utc = g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC);
  return utc != NULL ? g_date_time_format_iso8601 (utc) : g_strdup ("(invalid time)");
}

/* ---- Cameras ----------------------------------------------------------- */

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

      guard (self, skeleton);

      vigil_dbus_object_skeleton_set_camera (object, VIGIL_DBUS_CAMERA (skeleton));
      g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
      g_ptr_array_add (self->cameras, g_steal_pointer (&skeleton));
    }
}

/* ---- Incidents --------------------------------------------------------- */

/* Marks incident @id (on the bus) as the most recently used. */
static void
touch_incident (VigilService *self, gint64 id)
{
  gpointer key = NULL;
  GList *link;

  if (!g_hash_table_lookup_extended (self->incidents, &id, &key, NULL))
    return;
  link = g_queue_find (&self->incident_order, key);
  if (link != NULL)
    g_queue_unlink (&self->incident_order, link);
  else
    link = g_list_alloc ();
  link->data = key;
  g_queue_push_tail_link (&self->incident_order, link);
}

/* Takes the least recently used incidents off the bus, down to the limit. */
static void
trim_incidents (VigilService *self)
{
  while (self->incident_order.length > MAX_INCIDENT_OBJECTS)
    {
      gint64 id = *(gint64 *) g_queue_pop_head (&self->incident_order);
      g_autofree gchar *path = vigil_incident_object_build_path (id);

      g_dbus_object_manager_server_unexport (self->manager_server, path);
      g_hash_table_remove (self->incidents, &id);
    }
}

static void
export_incident (VigilService *self, const VigilIncident *incident)
{
  g_autofree gchar *path = vigil_incident_object_build_path (incident->id);
  g_autoptr(VigilDBusObjectSkeleton) object = vigil_dbus_object_skeleton_new (path);
  VigilIncidentObject *skeleton = vigil_incident_object_new (self->store, VIGIL_DBUS_MANAGER (self->manager),
                                                             self->change_rate, incident);

  guard (self, skeleton);
  vigil_dbus_object_skeleton_set_incident (object, VIGIL_DBUS_INCIDENT (skeleton));
  g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
  g_hash_table_insert (self->incidents, g_memdup2 (&incident->id, sizeof incident->id), skeleton);   /* takes it */
  touch_incident (self, incident->id);
}

gchar *
vigil_service_expose_incident (VigilService *self, gint64 id, GError **error)
{
  if (!g_hash_table_contains (self->incidents, &id))
    {
      g_autoptr(VigilIncident) incident = vigil_store_get_incident (self->store, id, error);

      if (incident == NULL)
        {
          vigil_error_from_store (error, VIGIL_ERROR_UNKNOWN_INCIDENT);
          return NULL;
        }
      export_incident (self, incident);
      trim_incidents (self);
    }
  else
    touch_incident (self, id);
  return vigil_incident_object_build_path (id);
}

VigilRateLimit *
vigil_service_get_incident_rate (VigilService *self)
{
  return self->incident_rate;
}

gboolean
vigil_service_take_rate (VigilRateLimit *limit, GDBusMethodInvocation *invocation, const gchar *what)
{
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  guint retry_ms = 0;

  if (vigil_rate_limit_take (limit, caller->uid, g_get_monotonic_time (), &retry_ms))
    return TRUE;
  g_dbus_method_invocation_return_error (invocation, VIGIL_ERROR, VIGIL_ERROR_RATE_LIMITED,
                                         "too many %s from %s; try again in %u.%u s", what, caller->user,
                                         retry_ms / 1000, (retry_ms % 1000) / 100);
  return FALSE;
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
      touch_incident (self, id);
      return;
    }
  incident = vigil_store_get_incident (self->store, id, &error);
  if (incident == NULL)
    {
      g_warning ("incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return;
    }
  export_incident (self, incident);
  trim_incidents (self);
  path = vigil_incident_object_build_path (id);
  vigil_dbus_manager_emit_incident_changed (VIGIL_DBUS_MANAGER (self->manager), path, change);
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

/* The newest incidents, up to the limit; older ones come on demand. */
static void
export_newest_incidents (VigilService *self)
{
  g_autoptr(GError) error = NULL;
  VigilIncidentFilter newest = { .limit = MAX_INCIDENT_OBJECTS };
  g_autoptr(GPtrArray) incidents = vigil_store_list_incidents (self->store, &newest, &error);

  if (incidents == NULL)
    {
      g_warning ("cannot list incidents: %s", error->message);
      return;
    }
  /* Oldest first, so that the newest are the most recently used. */
  for (guint i = incidents->len; i > 0; i--)
    export_incident (self, incidents->pdata[i - 1]);
}

/* ---- Exports ----------------------------------------------------------- */

/* Announces an export's end on the Manager too, after the Export object's
 * own Finished went out. */
static void
on_export_finished (VigilDBusExport *export, const gchar *state, const gchar *bundle, const gchar *manifest_sha256,
                    VigilService *self)
{
  const gchar *path = g_dbus_object_get_object_path (g_dbus_interface_get_object (G_DBUS_INTERFACE (export)));

  vigil_dbus_manager_emit_export_finished (VIGIL_DBUS_MANAGER (self->manager), path, state, bundle,
                                           manifest_sha256);
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

/* Makes, shows and starts the job, and answers @invocation. */
static void
start_job (VigilService *self, GDBusMethodInvocation *invocation, const VigilExportRequest *request)
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
      return;
    }
  path = g_strdup_printf (EXPORT_PATH_PREFIX "%u", ++self->next_export);
  export = vigil_export_object_new (job, self->store, invocation);
  guard (self, export);
  object = vigil_dbus_object_skeleton_new (path);
  vigil_dbus_object_skeleton_set_export (object, VIGIL_DBUS_EXPORT (export));
  g_dbus_object_manager_server_export (self->manager_server, G_DBUS_OBJECT_SKELETON (object));
  g_signal_connect_after (export, "finished", G_CALLBACK (on_export_finished), self);
  g_queue_push_tail (&self->exports, object);
  vigil_service_audit (self->store, caller, "export-start", vigil_export_job_get_summary (job), "reason",
                       request->reason, NULL);
  vigil_export_job_start (job);
  trim_exports (self);
  g_dbus_method_invocation_return_value (invocation, g_variant_new ("(o)", path));
}

/* ---- Exports up to now ------------------------------------------------- */

/* An export whose range reaches past a recording camera's last complete
 * segment first has that camera close its open segment (at the next
 * keyframe) and waits for it to be cataloged, at most CLOSE_WAIT_S: so
 * "the last ten minutes" hold video up to the request, not up to the last
 * segment boundary (a minute back with segment_seconds=60). */
#define CLOSE_WAIT_S      15
/* A closed segment that ends this close to the request is close enough. */
#define CLOSED_ENOUGH_US  (2 * G_USEC_PER_SEC)

typedef struct _PendingExport PendingExport;

typedef struct {
  PendingExport *pending;
  VigilCamera   *camera;
  gulong         handler;
  gboolean       closed;
} CameraWait;

struct _PendingExport {
  VigilService          *service;       /* borrowed: it answers and frees pending exports on dispose */
  GDBusMethodInvocation *invocation;
  int                    destination_fd;
  gint64                 incident_id;   /* 0: a range of one camera */
  gchar                 *camera;
  gint64                 from_us, to_us;
  gchar                 *reason;
  gint64                 until_us;      /* the closed segments must reach this */
  GPtrArray             *waits;         /* CameraWait */
  guint                  timeout_id;
};

static void
camera_wait_free (CameraWait *wait)
{
  g_clear_signal_handler (&wait->handler, wait->camera);
  g_object_unref (wait->camera);
  g_free (wait);
}

static void
pending_export_free (PendingExport *pending)
{
  g_clear_handle_id (&pending->timeout_id, g_source_remove);
  g_clear_pointer (&pending->waits, g_ptr_array_unref);
  if (pending->destination_fd >= 0)
    close (pending->destination_fd);
  g_object_unref (pending->invocation);
  g_free (pending->camera);
  g_free (pending->reason);
  g_free (pending);
}

/* The waiting is over (all closed, or the time is up): plan and start. */
static void
resume_export (PendingExport *pending)
{
  VigilService *self = pending->service;
  const VigilCaller *caller = vigil_service_get_caller (pending->invocation);
  g_autoptr(VigilIncident) incident = NULL;
  GError *error = NULL;
  VigilExportRequest request = {
    .destination_fd = pending->destination_fd, .reason = pending->reason, .uid = caller->uid,
    .user = caller->user, .camera = pending->camera, .from_us = pending->from_us, .to_us = pending->to_us,
  };

  g_ptr_array_remove (self->pending_exports, pending);   /* not freed: stolen below */
  if (pending->incident_id != 0)
    {
      incident = vigil_store_get_incident (self->store, pending->incident_id, &error);
      if (incident == NULL)
        {
          vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_INCIDENT);
          vigil_service_return_error (pending->invocation, error);
          pending_export_free (pending);
          return;
        }
      request.incident = incident;
    }
  start_job (self, pending->invocation, &request);
  pending_export_free (pending);
}

static void
on_wait_segment_completed (VigilCamera *camera, const gchar *unused, CameraWait *wait)
{
  const VigilSegment *last = vigil_camera_get_last_segment (camera);
  PendingExport *pending = wait->pending;

  if (last == NULL || last->end_us < pending->until_us - CLOSED_ENOUGH_US)
    return;
  wait->closed = TRUE;
  for (guint i = 0; i < pending->waits->len; i++)
    if (!((CameraWait *) pending->waits->pdata[i])->closed)
      return;
  resume_export (pending);
}

static void
on_wait_timeout (gpointer data)
{
  PendingExport *pending = data;

  pending->timeout_id = 0;
  g_message ("export: a camera's open segment did not close within %d s; exporting what is cataloged",
             CLOSE_WAIT_S);
  resume_export (pending);
}

/* Asks every recording camera of @request whose last complete segment
 * ends before @until_us to close its open one; the cameras asked. */
static GPtrArray *
close_open_segments (VigilService *self, const VigilExportRequest *request, gint64 until_us)
{
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);
  GPtrArray *asked = g_ptr_array_new_with_free_func (g_object_unref);

  for (guint i = 0; i < cameras->len; i++)
    {
      VigilCamera *camera = cameras->pdata[i];
      const gchar *name = vigil_camera_get_name (camera);
      const VigilSegment *last = vigil_camera_get_last_segment (camera);
      gboolean named = request->incident != NULL
                       ? g_strv_contains ((const gchar *const *) request->incident->cameras, name)
                       : g_strcmp0 (request->camera, name) == 0;

      if (!named || (last != NULL && last->end_us >= until_us - CLOSED_ENOUGH_US))
        continue;
      if (vigil_camera_close_segment_now (camera))
        g_ptr_array_add (asked, g_object_ref (camera));
    }
  return asked;
}

void
vigil_service_start_export (VigilService *self, GDBusMethodInvocation *invocation, const VigilExportRequest *request)
{
  gint64 now_us = g_get_real_time ();
  gint64 end_us = request->incident == NULL             ? request->to_us
                  : request->incident->end_us == 0      ? now_us
                                                        : request->incident->end_us
                                                            + request->incident->post_roll_us;
  gint64 until_us = MIN (end_us, now_us);
  g_autoptr(GPtrArray) asked = close_open_segments (self, request, until_us);
  PendingExport *pending;

  if (asked->len == 0)
    {
      start_job (self, invocation, request);
      return;
    }
  pending = g_new0 (PendingExport, 1);
  pending->service = self;
  pending->invocation = g_object_ref (invocation);
  pending->destination_fd = fcntl (request->destination_fd, F_DUPFD_CLOEXEC, 3);
  if (pending->destination_fd < 0)
    {
      int saved = errno;

      pending_export_free (pending);
      vigil_service_return_error (invocation, g_error_new (VIGIL_ERROR, VIGIL_ERROR_FAILED,
                                                           "cannot keep the destination open: %s",
                                                           g_strerror (saved)));
      return;
    }
  pending->incident_id = request->incident != NULL ? request->incident->id : 0;
  pending->camera = g_strdup (request->camera);
  pending->from_us = request->from_us;
  pending->to_us = request->to_us;
  pending->reason = g_strdup (request->reason);
  pending->until_us = until_us;
  pending->waits = g_ptr_array_new_with_free_func ((GDestroyNotify) camera_wait_free);
  for (guint i = 0; i < asked->len; i++)
    {
      CameraWait *wait = g_new0 (CameraWait, 1);

      wait->pending = pending;
      wait->camera = g_object_ref (asked->pdata[i]);
      wait->handler = g_signal_connect (wait->camera, "segment-completed", G_CALLBACK (on_wait_segment_completed),
                                        wait);
      g_ptr_array_add (pending->waits, wait);
    }
  pending->timeout_id = g_timeout_add_once (CLOSE_WAIT_S * 1000, on_wait_timeout, pending);
  g_ptr_array_add (self->pending_exports, pending);
}

static void
on_watchdog_deleted (VigilWatchdog *watchdog, guint segments, guint64 bytes, VigilService *self)
{
  /* Retention changed what is stored: re-read the totals. */
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_object_refresh_stored_bytes (self->cameras->pdata[i]);
}

/* ---- Life cycle -------------------------------------------------------- */

static void
vigil_service_dispose (GObject *object)
{
  VigilService *self = VIGIL_SERVICE (object);

  g_clear_handle_id (&self->expiry_id, g_source_remove);
  if (self->daemon != NULL)
    g_signal_handlers_disconnect_by_data (vigil_daemon_get_watchdog (self->daemon), self);
  /* Running exports are cancelled; their workers clean up their partial
   * folders before the job objects go. */
  for (GList *l = self->exports.head; l != NULL; l = l->next)
    {
      VigilDBusExport *export = vigil_dbus_object_peek_export (l->data);

      g_signal_handlers_disconnect_by_data (export, self);
      vigil_export_job_cancel (vigil_export_object_get_job (VIGIL_EXPORT_OBJECT (export)));
    }
  g_queue_clear_full (&self->exports, g_object_unref);
  /* Exports still waiting for a segment to close are answered now. */
  while (self->pending_exports != NULL && self->pending_exports->len > 0)
    {
      PendingExport *pending = g_ptr_array_steal_index (self->pending_exports, 0);

      g_dbus_method_invocation_return_error_literal (pending->invocation, VIGIL_ERROR, VIGIL_ERROR_FAILED,
                                                     "vigild's D-Bus service is going away");
      pending_export_free (pending);
    }
  g_clear_pointer (&self->pending_exports, g_ptr_array_unref);
  g_queue_clear (&self->incident_order);
  g_clear_pointer (&self->incidents, g_hash_table_unref);
  g_clear_object (&self->incident_rate);
  g_clear_object (&self->change_rate);
  if (self->manager != NULL && g_dbus_interface_skeleton_get_connection (G_DBUS_INTERFACE_SKELETON (self->manager)))
    g_dbus_interface_skeleton_unexport (G_DBUS_INTERFACE_SKELETON (self->manager));
  /* Unexports every object below the Manager before the Manager goes
   * (incident objects hold it to announce their changes). */
  g_clear_object (&self->manager_server);
  g_clear_object (&self->manager);
  g_clear_pointer (&self->cameras, g_ptr_array_unref);
  g_clear_object (&self->connection);
  g_clear_object (&self->authority);
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
  self->pending_exports = g_ptr_array_new ();
  g_queue_init (&self->incident_order);
  self->incident_rate = vigil_rate_limit_new (INCIDENT_BURST, INCIDENT_REFILL_MS);
  self->change_rate = vigil_rate_limit_new (CHANGE_BURST, CHANGE_REFILL_MS);
  self->cameras = g_ptr_array_new_with_free_func (g_object_unref);
  self->incidents = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_object_unref);
}

VigilService *
vigil_service_new (VigilDaemon *daemon, GDBusConnection *connection, VigilAuthorityKind authority,
                   GError **error)
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
  self->authority = vigil_authority_new (authority, on_refused, g_object_ref (self->store), g_object_unref);
  g_message ("D-Bus callers are authorized by %s", vigil_authority_describe (self->authority));
  self->manager_server = g_dbus_object_manager_server_new (VIGIL_DBUS_PATH);

  export_cameras (self);
  self->manager = vigil_manager_object_new (self, daemon, self->cameras);
  guard (self, self->manager);
  g_signal_connect (vigil_daemon_get_watchdog (daemon), "deleted", G_CALLBACK (on_watchdog_deleted), self);
  /* The object manager serves the objects below its own path; the
   * Manager interface sits on that path itself. */
  if (!g_dbus_interface_skeleton_export (G_DBUS_INTERFACE_SKELETON (self->manager), connection, VIGIL_DBUS_PATH,
                                         error))
    return NULL;
  export_newest_incidents (self);
  g_dbus_object_manager_server_set_connection (self->manager_server, connection);
  self->expiry_id = g_timeout_add_seconds (EXPIRY_CHECK_S, on_expiry_check, self);
  on_expiry_check (self);
  return g_steal_pointer (&self);
}
