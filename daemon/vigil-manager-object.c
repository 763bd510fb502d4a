/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilManagerObject: the Manager's methods and signals. Handlers run on
 * the main thread and never block on the network or a long file
 * operation: catalog reads and writes are small SQLite statements,
 * exports run in VigilExportJob's worker, the catalog check in a thread
 * of its own. Argument errors are caught here and returned as
 * org.vigil.Vigil1.Error.* with a message naming the argument. */
#include "vigil-manager-object.h"

#include <gio/gunixfdlist.h>
#include <sys/statvfs.h>
#include <unistd.h>

#include "vigil-audit.h"
#include "vigil-camera-object.h"
#include "vigil-error.h"
#include "vigil-fsck.h"
#include "vigil-health.h"
#include "vigil-incident-object.h"
#include "vigil-service-private.h"

/* ListIncidents answers at most this many per call (paged with offset). */
#define MAX_LISTED_INCIDENTS 100u
/* ListAudit and ListAlerts answer at most this many rows (the newest):
 * an audit row is at most ~5 kB, so a reply stays a few MB. */
#define MAX_LISTED_ROWS 1000u

struct _VigilManagerObject
{
  VigilDBusManagerSkeleton  parent_instance;
  VigilService             *service;    /* not referenced: it owns this object */
  VigilDaemon              *daemon;
  VigilStore               *store;      /* the daemon's */
  GPtrArray                *cameras;    /* VigilCameraObject, in config order */
  struct FsckCall          *fsck;       /* the catalog check running; NULL when none */
};

static void vigil_manager_object_manager_iface_init (VigilDBusManagerIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilManagerObject, vigil_manager_object, VIGIL_DBUS_TYPE_MANAGER_SKELETON,
                               G_IMPLEMENT_INTERFACE (VIGIL_DBUS_TYPE_MANAGER, vigil_manager_object_manager_iface_init))

/* ---- Incidents and exports --------------------------------------------- */

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
      vigil_service_return_invalid (invocation, "option “%s” must have type %s, not %s", key,
                                    g_variant_type_peek_string (type), g_variant_get_type_string (value));
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
vigil_manager_object_handle_create_incident (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                                             const gchar *const *cameras, gint64 start_us, gint64 end_us,
                                             const gchar *title, const gchar *description, const gchar *const *tags,
                                             GVariant *options)
{
  static const gchar *const known[] = { "pre-roll-s", "post-roll-s", "expires-us", "note", "preset", NULL };
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
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
    {
      incident->expires_us = g_variant_get_int64 (expires);
      if (incident->expires_us <= g_get_real_time ())
        return vigil_service_return_invalid (invocation, "expires-us must be in the future");
    }
  incident->created_us = now_us;
  incident->created_uid = caller->uid;
  incident->created_user = g_strdup (caller->user);
  if (!vigil_service_take_rate (vigil_service_get_incident_rate (self->service), invocation, "incidents"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  id = vigil_store_add_incident (self->store, incident, &error);
  /* What is marked on a full disk is locked all the same. */
  if (id == 0 && vigil_service_retry_on_full (self->store, &error))
    id = vigil_store_add_incident (self->store, incident, &error);
  if (id == 0)
    {
      vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_CAMERA);
      return vigil_service_return_error (invocation, error);
    }
  target = vigil_incident_object_build_target (id);
  cameras_text = g_strjoinv (",", (gchar **) cameras);
  start_text = vigil_service_format_time (start_us);
  vigil_service_audit (self->store, caller, "incident-create", target, "title", title, "cameras", cameras_text,
                       "start", start_text, NULL);
  if (note != NULL)
    {
      VigilIncidentNote first = { now_us, caller->uid, caller->user, (gchar *) g_variant_get_string (note, NULL) };

      if (!vigil_store_add_incident_note (self->store, id, &first, &error))
        {
          /* The incident and its lock stand; only the note is refused. */
          g_prefix_error (&error, "incident %" G_GINT64_FORMAT " was created, but its note was not: ", id);
          vigil_service_refresh_incident (self->service, id, "created");
          return vigil_service_return_error (invocation, error);
        }
      vigil_service_audit (self->store, caller, "incident-note", target, "text", first.text, NULL);
    }
  if (preset != NULL)
    {
      /* The cameras turn to the scene while the incident is recorded. */
      for (guint i = 0; i < self->cameras->len; i++)
        {
          VigilCameraObject *camera = self->cameras->pdata[i];

          if (g_strv_contains (cameras, vigil_camera_get_name (vigil_camera_object_get_camera (camera))))
            vigil_camera_object_goto_preset (camera, invocation, g_variant_get_string (preset, NULL), target);
        }
    }
  vigil_service_refresh_incident (self->service, id, "created");
  g_message ("incident %" G_GINT64_FORMAT " created by %s: %s", id, caller->user, title);
  path = vigil_incident_object_build_path (id);
  vigil_dbus_manager_complete_create_incident (manager, invocation, path);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_list_incidents (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                                            GVariant *filter_options)
{
  static const gchar *const known[] = { "from-us", "to-us", "camera", "tag", "text", "limit", "offset", NULL };
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  g_autoptr(GVariant) from = NULL, to = NULL, camera = NULL, tag = NULL, text = NULL, limit = NULL, offset = NULL;
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
      || !lookup_option (filter_options, "limit", G_VARIANT_TYPE_UINT32, &limit, invocation)
      || !lookup_option (filter_options, "offset", G_VARIANT_TYPE_UINT32, &offset, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  filter.from_us = from ? g_variant_get_int64 (from) : 0;
  filter.to_us = to ? g_variant_get_int64 (to) : 0;
  filter.camera = camera ? g_variant_get_string (camera, NULL) : NULL;
  filter.tag = tag ? g_variant_get_string (tag, NULL) : NULL;
  filter.text = text ? g_variant_get_string (text, NULL) : NULL;
  filter.limit = limit ? g_variant_get_uint32 (limit) : MAX_LISTED_INCIDENTS;
  filter.offset = offset ? g_variant_get_uint32 (offset) : 0;
  if (filter.limit == 0 || filter.limit > MAX_LISTED_INCIDENTS)
    return vigil_service_return_invalid (invocation, "limit %u is not 1 to %u: page with offset", filter.limit,
                                         MAX_LISTED_INCIDENTS);
  if (filter.from_us != 0 && filter.to_us != 0 && filter.to_us <= filter.from_us)
    return vigil_service_return_invalid (invocation, "the range ends before it starts");
  incidents = vigil_store_list_incidents (self->store, &filter, &error);
  if (incidents == NULL)
    return vigil_service_return_error (invocation, error);
  for (guint i = 0; i < incidents->len; i++)
    {
      gchar *path = vigil_service_expose_incident (self->service, ((VigilIncident *) incidents->pdata[i])->id,
                                                   &error);

      if (path == NULL)
        return vigil_service_return_error (invocation, error);
      g_ptr_array_add (paths, path);
    }
  g_ptr_array_add (paths, NULL);
  vigil_dbus_manager_complete_list_incidents (manager, invocation, (const gchar *const *) paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* The destination folder the caller passed as handle @destination into
 * @fd_list: a descriptor of its own for this call, for the caller of this
 * to close; -1 with @invocation answered when there is none. */
static int
take_destination (GDBusMethodInvocation *invocation, GUnixFDList *fd_list, GVariant *destination)
{
  gint32 index = g_variant_get_handle (destination);
  GError *error = NULL;
  int fd;

  if (fd_list == NULL || index < 0 || index >= g_unix_fd_list_get_length (fd_list))
    {
      vigil_service_return_invalid (invocation, "destination: no folder descriptor was passed with the call");
      return -1;
    }
  fd = g_unix_fd_list_get (fd_list, index, &error);
  if (fd < 0)
    vigil_service_return_error (invocation, error);
  return fd;
}

static void
close_fd (int *fd)
{
  if (*fd >= 0)
    close (*fd);
}

static gboolean
vigil_manager_object_handle_get_incident (VigilDBusManager *manager, GDBusMethodInvocation *invocation, gint64 id)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  GError *error = NULL;
  g_autofree gchar *path = vigil_service_expose_incident (self->service, id, &error);

  if (path == NULL)
    return vigil_service_return_error (invocation, error);
  vigil_dbus_manager_complete_get_incident (manager, invocation, path);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_export_incident (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                                             GUnixFDList *fd_list, const gchar *incident_path,
                                             GVariant *destination, const gchar *reason)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  g_autoptr(VigilIncident) incident = NULL;
  __attribute__ ((cleanup (close_fd))) int destination_fd = -1;
  GError *error = NULL;
  gint64 id = 0;

  if (!vigil_incident_object_parse_path (incident_path, &id))
    {
      return vigil_service_return_error (invocation,
                                         g_error_new (VIGIL_ERROR, VIGIL_ERROR_UNKNOWN_INCIDENT,
                                                      "%s is not an incident's object path", incident_path));
    }
  incident = vigil_store_get_incident (self->store, id, &error);
  if (incident == NULL)
    {
      vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_INCIDENT);
      return vigil_service_return_error (invocation, error);
    }
  destination_fd = take_destination (invocation, fd_list, destination);
  if (destination_fd < 0)
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  {
    VigilExportRequest request = {
      .destination_fd = destination_fd, .reason = reason, .uid = caller->uid, .user = caller->user,
      .incident = incident,
    };
    vigil_service_start_export (self->service, invocation, &request);
  }
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_export_range (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                                          GUnixFDList *fd_list, const gchar *camera, gint64 from_us, gint64 to_us,
                                          GVariant *destination, const gchar *reason)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  __attribute__ ((cleanup (close_fd))) int destination_fd = take_destination (invocation, fd_list, destination);

  if (destination_fd < 0)
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  {
    VigilExportRequest request = {
      .destination_fd = destination_fd, .reason = reason, .uid = caller->uid, .user = caller->user,
      .camera = camera, .from_us = from_us, .to_us = to_us,
    };
    vigil_service_start_export (self->service, invocation, &request);
  }
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

/* ---- Status, key, audit ------------------------------------------------ */

static gboolean
vigil_manager_object_handle_get_status (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  GPtrArray *cameras = self->cameras;
  g_autoptr(GPtrArray) open_incidents = NULL;
  g_autofree gchar *head = NULL;
  g_autofree gchar *fingerprint = NULL;
  g_autofree gchar *live_url = NULL;
  VigilIncidentFilter open_filter = { .from_us = g_get_real_time () };
  VigilSigningKey *key = vigil_daemon_get_signing_key (self->daemon);
  GVariantBuilder builder;
  GVariantBuilder waiting;
  struct statvfs fs;
  guint64 stored = 0;
  guint recording = 0, open_count = 0;
  gint64 head_id = 0;

  g_variant_builder_init (&waiting, G_VARIANT_TYPE ("a(ssx)"));
  for (guint i = 0; i < cameras->len; i++)
    {
      VigilCameraObject *camera = cameras->pdata[i];
      VigilCamera *watched = vigil_camera_object_get_camera (camera);

      stored += vigil_dbus_camera_get_stored_bytes (VIGIL_DBUS_CAMERA (camera));
      recording += vigil_camera_get_state (watched) == VIGIL_CAMERA_STATE_RECORDING;
      if (vigil_camera_get_wait_reason (watched) != NULL)
        g_variant_builder_add (&waiting, "(ssx)", vigil_camera_get_name (watched),
                               vigil_camera_get_wait_reason (watched), vigil_camera_get_next_attempt_us (watched));
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
  g_variant_builder_add (&builder, "{sv}", "cameras-waiting", g_variant_builder_end (&waiting));
  g_variant_builder_add (&builder, "{sv}", "storage-root", g_variant_new_string (vigil_store_get_root (self->store)));
  g_variant_builder_add (&builder, "{sv}", "stored-bytes", g_variant_new_uint64 (stored));
  if (statvfs (vigil_store_get_root (self->store), &fs) == 0)
    g_variant_builder_add (&builder, "{sv}", "free-bytes", g_variant_new_uint64 ((guint64) fs.f_bavail * fs.f_frsize));
  g_variant_builder_add (&builder, "{sv}", "open-incidents", g_variant_new_uint32 (open_count));
  g_variant_builder_add (&builder, "{sv}", "audit-rows", g_variant_new_int64 (head_id));
  g_variant_builder_add (&builder, "{sv}", "public-key-sha256", g_variant_new_string (fingerprint));
  g_variant_builder_add (&builder, "{sv}", "authorization",
                         g_variant_new_string (vigil_service_describe_authority (self->service)));
  live_url = vigil_live_service_get_base_url (vigil_daemon_get_live (self->daemon));
  g_variant_builder_add (&builder, "{sv}", "live",
                         g_variant_new_string (vigil_live_service_get_state (vigil_daemon_get_live (self->daemon))));
  g_variant_builder_add (&builder, "{sv}", "live-url", g_variant_new_string (live_url != NULL ? live_url : ""));
  vigil_dbus_manager_complete_get_status (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_list_cameras (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  GPtrArray *cameras = vigil_daemon_get_cameras (self->daemon);
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);

  for (guint i = 0; i < cameras->len; i++)
    g_ptr_array_add (paths, vigil_camera_object_build_path (vigil_camera_get_name (cameras->pdata[i])));
  g_ptr_array_add (paths, NULL);
  vigil_dbus_manager_complete_list_cameras (manager, invocation, (const gchar *const *) paths->pdata);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_get_public_key (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
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
vigil_manager_object_handle_list_audit (VigilDBusManager *manager, GDBusMethodInvocation *invocation, gint64 since_us,
                                        guint limit)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  g_autoptr(GPtrArray) rows = NULL;
  GVariantBuilder builder;
  GError *error = NULL;

  if (limit > MAX_LISTED_ROWS)
    return vigil_service_return_invalid (invocation, "limit %u is over %u rows: narrow with since_us", limit,
                                         MAX_LISTED_ROWS);
  rows = vigil_store_list_audit (self->store, since_us, limit != 0 ? limit : MAX_LISTED_ROWS, &error);
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
vigil_manager_object_handle_verify_audit (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
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

/* ---- The catalog check ------------------------------------------------- */

/* One Fsck call, from its start to its reply. A Manager that goes away
 * first (vigild stopping) cancels the check and lets go of it; the call
 * keeps what its reply and audit row need. */
typedef struct FsckCall {
  VigilManagerObject    *self;          /* not owned; NULL once the Manager is gone */
  VigilStore            *store;         /* owned: the daemon's, for the audit log */
  GDBusMethodInvocation *invocation;    /* owned */
  GCancellable          *cancellable;
  gboolean               repair;
  guint                  watch_id;      /* on the caller's name; 0 on a peer-to-peer connection */
  gint64                 started_us;    /* monotonic */
} FsckCall;

static void
fsck_call_free (FsckCall *call)
{
  if (call->watch_id != 0)
    g_bus_unwatch_name (call->watch_id);
  g_clear_object (&call->cancellable);
  g_clear_object (&call->invocation);
  g_clear_object (&call->store);
  g_free (call);
}

/* The caller left the bus (vigilctl's Ctrl-C): nobody waits for the report. */
static void
on_fsck_caller_vanished (GDBusConnection *connection, const gchar *name, gpointer data)
{
  FsckCall *call = data;

  if (!g_cancellable_is_cancelled (call->cancellable))
    g_message ("fsck: %s left the bus; stopping the check", name);
  g_cancellable_cancel (call->cancellable);
}

static GVariant *
fsck_report_variant (const VigilFsckReport *report, gboolean repair, gint64 duration_ms)
{
  GVariantBuilder builder, problems;

  g_variant_builder_init (&problems, G_VARIANT_TYPE ("a(sss)"));
  for (guint i = 0; i < report->problems->len; i++)
    {
      const VigilFsckProblem *problem = report->problems->pdata[i];
      g_variant_builder_add (&problems, "(sss)", vigil_fsck_kind_to_string (problem->kind), problem->path,
                             problem->detail);
    }
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a{sv}"));
  g_variant_builder_add (&builder, "{sv}", "repair", g_variant_new_boolean (repair));
  g_variant_builder_add (&builder, "{sv}", "rows-checked", g_variant_new_uint64 (report->rows_checked));
  g_variant_builder_add (&builder, "{sv}", "files-checked", g_variant_new_uint64 (report->files_checked));
  g_variant_builder_add (&builder, "{sv}", "skipped", g_variant_new_uint64 (report->skipped));
  g_variant_builder_add (&builder, "{sv}", "missing", g_variant_new_uint64 (report->missing));
  g_variant_builder_add (&builder, "{sv}", "orphans", g_variant_new_uint64 (report->orphans));
  g_variant_builder_add (&builder, "{sv}", "unplayable", g_variant_new_uint64 (report->unplayable));
  g_variant_builder_add (&builder, "{sv}", "adopted", g_variant_new_uint64 (report->adopted));
  g_variant_builder_add (&builder, "{sv}", "quarantined", g_variant_new_uint64 (report->quarantined));
  g_variant_builder_add (&builder, "{sv}", "rows-removed", g_variant_new_uint64 (report->rows_removed));
  g_variant_builder_add (&builder, "{sv}", "locked", g_variant_new_uint64 (report->locked));
  g_variant_builder_add (&builder, "{sv}", "found", g_variant_new_uint64 (report->found));
  g_variant_builder_add (&builder, "{sv}", "unresolved", g_variant_new_uint64 (report->unresolved));
  g_variant_builder_add (&builder, "{sv}", "duration-ms", g_variant_new_uint64 (MAX (duration_ms, 0)));
  g_variant_builder_add (&builder, "{sv}", "problems", g_variant_builder_end (&problems));
  return g_variant_builder_end (&builder);
}

static void
on_fsck_done (GObject *source, GAsyncResult *result, gpointer data)
{
  FsckCall *call = data;
  const VigilCaller *caller = vigil_service_get_caller (call->invocation);
  g_autofree gchar *target = g_strdup_printf ("storage %s", vigil_store_get_root (call->store));
  g_autoptr(VigilFsckReport) report = NULL;
  GError *error = NULL;
  gint64 duration_ms = (g_get_monotonic_time () - call->started_us) / 1000;

  report = vigil_fsck_run_finish (result, &error);
  if (call->self != NULL)
    call->self->fsck = NULL;
  if (report == NULL)
    {
      gboolean cancelled = g_error_matches (error, G_IO_ERROR, G_IO_ERROR_CANCELLED);

      g_message ("fsck %s: %s", cancelled ? "stopped" : "failed", error->message);
      vigil_service_audit (call->store, caller, "fsck-done", target, "outcome", cancelled ? "cancelled" : "failed",
                           "error", error->message, NULL);
      vigil_service_return_error (call->invocation, error);
    }
  else
    {
      g_autofree gchar *counts = g_strdup_printf (
          "%" G_GUINT64_FORMAT " rows and %" G_GUINT64_FORMAT " files checked; %" G_GUINT64_FORMAT " missing, "
          "%" G_GUINT64_FORMAT " orphans, %" G_GUINT64_FORMAT " unplayable; %" G_GUINT64_FORMAT " adopted, "
          "%" G_GUINT64_FORMAT " quarantined, %" G_GUINT64_FORMAT " rows removed, %" G_GUINT64_FORMAT " locked",
          report->rows_checked, report->files_checked, report->missing, report->orphans, report->unplayable,
          report->adopted, report->quarantined, report->rows_removed, report->locked);

      vigil_service_audit (call->store, caller, "fsck-done", target, "outcome", "done", "repair",
                           call->repair ? "true" : "false", "result", counts, NULL);
      g_dbus_method_invocation_return_value (call->invocation,
                                             g_variant_new ("(@a{sv})",
                                                            fsck_report_variant (report, call->repair, duration_ms)));
    }
  fsck_call_free (call);
}

static gboolean
vigil_manager_object_handle_fsck (VigilDBusManager *manager, GDBusMethodInvocation *invocation, GVariant *options)
{
  static const gchar *const known[] = { "repair", NULL };
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  const gchar *sender = g_dbus_method_invocation_get_sender (invocation);
  g_autofree gchar *target = g_strdup_printf ("storage %s", vigil_store_get_root (self->store));
  g_autoptr(GVariant) repair = NULL;
  FsckCall *call;

  if (!check_known_options (options, known, invocation)
      || !lookup_option (options, "repair", G_VARIANT_TYPE_BOOLEAN, &repair, invocation))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  /* Two checks would read the archive twice as slowly, and two repairs
   * could adopt the same file. */
  if (self->fsck != NULL)
    {
      g_dbus_method_invocation_return_error_literal (invocation, VIGIL_ERROR, VIGIL_ERROR_FAILED,
                                                     "a catalog check is already running");
      return G_DBUS_METHOD_INVOCATION_HANDLED;
    }
  call = g_new0 (FsckCall, 1);
  call->self = self;
  call->store = g_object_ref (self->store);
  call->invocation = g_object_ref (invocation);
  call->cancellable = g_cancellable_new ();
  call->repair = repair != NULL && g_variant_get_boolean (repair);
  call->started_us = g_get_monotonic_time ();
  if (sender != NULL)
    call->watch_id = g_bus_watch_name_on_connection (g_dbus_method_invocation_get_connection (invocation), sender,
                                                     G_BUS_NAME_WATCHER_FLAGS_NONE, NULL, on_fsck_caller_vanished,
                                                     call, NULL);
  self->fsck = call;
  vigil_service_audit (self->store, caller, "fsck", target, "repair", call->repair ? "true" : "false", NULL);
  g_message ("fsck started by %s%s", caller->user, call->repair ? ", repairing" : "");
  vigil_fsck_run_async (vigil_store_get_catalog_path (self->store), vigil_store_get_root (self->store), call->repair,
                        call->cancellable, on_fsck_done, call);
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
on_alert_raised (VigilAlerts *alerts, const VigilAlert *alert, VigilManagerObject *self)
{
  vigil_dbus_manager_emit_alert_raised (VIGIL_DBUS_MANAGER (self), alert_variant (alert));
}

static void
on_alert_cleared (VigilAlerts *alerts, const VigilAlert *alert, VigilManagerObject *self)
{
  vigil_dbus_manager_emit_alert_cleared (VIGIL_DBUS_MANAGER (self), alert_variant (alert));
}

static gboolean
vigil_manager_object_handle_list_alerts (VigilDBusManager *manager, GDBusMethodInvocation *invocation,
                                         gboolean open_only, gint64 since_us, guint limit)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  g_autoptr(GPtrArray) alerts = NULL;
  GVariantBuilder builder;
  GError *error = NULL;

  if (limit > MAX_LISTED_ROWS)
    return vigil_service_return_invalid (invocation, "limit %u is over %u alerts: narrow with since_us", limit,
                                         MAX_LISTED_ROWS);
  alerts = vigil_store_list_alerts (self->store, open_only, since_us, limit != 0 ? limit : MAX_LISTED_ROWS,
                                    &error);
  if (alerts == NULL)
    return vigil_service_return_error (invocation, error);
  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(tsssxxs)"));
  for (guint i = 0; i < alerts->len; i++)
    g_variant_builder_add_value (&builder, alert_variant (alerts->pdata[i]));
  vigil_dbus_manager_complete_list_alerts (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_manager_object_handle_list_sessions (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
  g_autoptr(GPtrArray) sessions = vigil_live_service_list_sessions (vigil_daemon_get_live (self->daemon));
  GVariantBuilder builder;

  g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(tssssssx)"));
  for (guint i = 0; i < sessions->len; i++)
    {
      const VigilLiveSession *session = sessions->pdata[i];

      g_variant_builder_add (&builder, "(tssssssx)", session->id, session->user, session->address, session->camera,
                             session->mount, session->kind, session->range != NULL ? session->range : "",
                             session->start_us);
    }
  vigil_dbus_manager_complete_list_sessions (manager, invocation, g_variant_builder_end (&builder));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static const gchar *const picture_kinds[] = { "black", "white", "frozen", "blurred", "covered", "moved", NULL };

static void
add_check (GVariantBuilder *builder, const gchar *subject, const gchar *check, gboolean ok, const gchar *reason)
{
  g_variant_builder_add (builder, "(ssbs)", subject, check, ok, reason);
}

static void
check_camera (VigilManagerObject *self, VigilCamera *camera, GVariantBuilder *builder)
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
check_storage (VigilManagerObject *self, GVariantBuilder *builder)
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
vigil_manager_object_handle_self_check (VigilDBusManager *manager, GDBusMethodInvocation *invocation)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (manager);
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

/* ---- Cameras ------------------------------------------------------------ */

/* Connected after the Camera objects' own handlers, so these follow the
 * camera's property changes. */
static void
on_camera_state_changed (VigilCamera *camera, VigilCameraState state, VigilManagerObject *self)
{
  vigil_dbus_manager_emit_camera_state_changed (VIGIL_DBUS_MANAGER (self), vigil_camera_get_name (camera),
                                                vigil_camera_state_to_string (state));
}

static void
on_camera_segment_completed (VigilCamera *camera, const gchar *path, VigilManagerObject *self)
{
  const VigilSegment *segment = vigil_camera_get_last_segment (camera);

  if (segment == NULL)
    return;
  vigil_dbus_manager_emit_segment_completed (VIGIL_DBUS_MANAGER (self), vigil_camera_get_name (camera),
                                             segment->start_us, segment->end_us, segment->size_bytes);
}

/* ---- Life cycle --------------------------------------------------------- */

static void
vigil_manager_object_manager_iface_init (VigilDBusManagerIface *iface)
{
  iface->handle_get_status = vigil_manager_object_handle_get_status;
  iface->handle_list_cameras = vigil_manager_object_handle_list_cameras;
  iface->handle_create_incident = vigil_manager_object_handle_create_incident;
  iface->handle_list_incidents = vigil_manager_object_handle_list_incidents;
  iface->handle_get_incident = vigil_manager_object_handle_get_incident;
  iface->handle_export_incident = vigil_manager_object_handle_export_incident;
  iface->handle_export_range = vigil_manager_object_handle_export_range;
  iface->handle_get_public_key = vigil_manager_object_handle_get_public_key;
  iface->handle_list_audit = vigil_manager_object_handle_list_audit;
  iface->handle_verify_audit = vigil_manager_object_handle_verify_audit;
  iface->handle_list_alerts = vigil_manager_object_handle_list_alerts;
  iface->handle_list_sessions = vigil_manager_object_handle_list_sessions;
  iface->handle_self_check = vigil_manager_object_handle_self_check;
  iface->handle_fsck = vigil_manager_object_handle_fsck;
}

static void
vigil_manager_object_dispose (GObject *object)
{
  VigilManagerObject *self = VIGIL_MANAGER_OBJECT (object);

  /* A check still running stops between two files; its reply says so. */
  if (self->fsck != NULL)
    {
      g_cancellable_cancel (self->fsck->cancellable);
      self->fsck->self = NULL;
      self->fsck = NULL;
    }
  if (self->daemon != NULL)
    g_signal_handlers_disconnect_by_data (vigil_daemon_get_alerts (self->daemon), self);
  for (guint i = 0; self->cameras != NULL && i < self->cameras->len; i++)
    g_signal_handlers_disconnect_by_data (vigil_camera_object_get_camera (self->cameras->pdata[i]), self);
  g_clear_pointer (&self->cameras, g_ptr_array_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->daemon);
  G_OBJECT_CLASS (vigil_manager_object_parent_class)->dispose (object);
}

static void
vigil_manager_object_class_init (VigilManagerObjectClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_manager_object_dispose;
  G_DBUS_INTERFACE_SKELETON_CLASS (klass)->g_authorize_method = vigil_service_authorize_method;
}

static void
vigil_manager_object_init (VigilManagerObject *self)
{
}

VigilManagerObject *
vigil_manager_object_new (VigilService *service, VigilDaemon *daemon, GPtrArray *cameras)
{
  VigilManagerObject *self = g_object_new (VIGIL_TYPE_MANAGER_OBJECT, NULL);
  VigilAlerts *alerts = vigil_daemon_get_alerts (daemon);

  self->service = service;
  self->daemon = g_object_ref (daemon);
  self->store = g_object_ref (vigil_daemon_get_store (daemon));
  self->cameras = g_ptr_array_ref (cameras);
  vigil_dbus_manager_set_version (VIGIL_DBUS_MANAGER (self), VIGIL_VERSION);
  vigil_dbus_manager_set_started_us (VIGIL_DBUS_MANAGER (self), vigil_daemon_get_started_us (daemon));
  g_signal_connect (alerts, "raised", G_CALLBACK (on_alert_raised), self);
  g_signal_connect (alerts, "cleared", G_CALLBACK (on_alert_cleared), self);
  for (guint i = 0; i < cameras->len; i++)
    {
      VigilCamera *camera = vigil_camera_object_get_camera (cameras->pdata[i]);

      g_signal_connect_after (camera, "state-changed", G_CALLBACK (on_camera_state_changed), self);
      g_signal_connect_after (camera, "segment-completed", G_CALLBACK (on_camera_segment_completed), self);
    }
  return self;
}
