/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The Camera object's ONVIF side: device properties once the camera has
 * told them, and the PTZ and preset methods. Arguments are checked here,
 * on the main thread; the camera is asked on a worker thread (through
 * VigilOnvifLink), so a slow or hostile camera never holds up the bus.
 * Every command that moves the camera or changes its presets is audited
 * with the caller, whether the camera obeyed or not. */
#include "vigil-service-private.h"

#include <math.h>

#include "vigil-error.h"

#define MIN_MOVE_MS 100
#define MAX_MOVE_MS 10000
#define MAX_PRESET_NAME 64
/* How long a move to a position or preset is expected to take, for frame
 * health: cameras do not say; most turn end to end in a few seconds. */
#define POSITION_MOVE_MS 5000

typedef struct {
  VigilStore      *store;      /* referenced, for the audit log */
  VigilCamera     *camera;     /* referenced */
  VigilDBusCamera *skeleton;   /* not referenced: owns this */
} PtzTarget;

static void
ptz_target_free (PtzTarget *target)
{
  g_object_unref (target->store);
  g_object_unref (target->camera);
  g_free (target);
}

/* One PTZ call in flight. */
typedef struct {
  PtzTarget             *target;
  GDBusMethodInvocation *invocation;   /* referenced */
  VigilPtzRequest        request;
  gchar                 *preset;       /* request.preset points here */
} PtzCall;

static void
ptz_call_free (PtzCall *call)
{
  g_object_unref (call->invocation);
  g_free (call->preset);
  g_free (call);
}

static gboolean
is_query (VigilPtzAction action)
{
  return action == VIGIL_PTZ_STATUS || action == VIGIL_PTZ_LIST_PRESETS;
}

/* "moving" if either axis moves, else what pan-tilt says. */
static const gchar *
move_status_name (const VigilOnvifPtzStatus *status)
{
  if (status->pan_tilt_status == VIGIL_ONVIF_MOVE_MOVING || status->zoom_status == VIGIL_ONVIF_MOVE_MOVING)
    return "moving";
  return status->pan_tilt_status == VIGIL_ONVIF_MOVE_IDLE ? "idle" : "unknown";
}

static void
audit_ptz (PtzTarget *target, const VigilCaller *caller, const VigilPtzRequest *r, const gchar *outcome)
{
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (target->camera));
  g_autofree gchar *action = g_strdup_printf ("ptz-%s", vigil_ptz_action_to_string (r->action));
  gchar pan[G_ASCII_DTOSTR_BUF_SIZE], tilt[G_ASCII_DTOSTR_BUF_SIZE], zoom[G_ASCII_DTOSTR_BUF_SIZE];
  g_autofree gchar *duration = g_strdup_printf ("%u", r->duration_ms);

  g_ascii_formatd (pan, sizeof pan, "%.3f", r->pan);
  g_ascii_formatd (tilt, sizeof tilt, "%.3f", r->tilt);
  g_ascii_formatd (zoom, sizeof zoom, "%.3f", r->zoom);
  switch (r->action)
    {
    case VIGIL_PTZ_MOVE:
      vigil_service_audit (target->store, caller, action, subject, "pan", pan, "tilt", tilt, "zoom", zoom,
                           "duration-ms", duration, "outcome", outcome, NULL);
      break;
    case VIGIL_PTZ_GOTO:
    case VIGIL_PTZ_MOVE_BY:
      vigil_service_audit (target->store, caller, action, subject, "pan", pan, "tilt", tilt, "zoom", zoom,
                           "outcome", outcome, NULL);
      break;
    case VIGIL_PTZ_SAVE_PRESET:
    case VIGIL_PTZ_GOTO_PRESET:
    case VIGIL_PTZ_REMOVE_PRESET:
      vigil_service_audit (target->store, caller, action, subject, "preset", r->preset, "outcome", outcome, NULL);
      break;
    default:
      vigil_service_audit (target->store, caller, action, subject, "outcome", outcome, NULL);
      break;
    }
}

static void
on_ptz_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PtzCall *call = user_data;
  PtzTarget *target = call->target;
  const VigilPtzRequest *r = &call->request;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilPtzReply) reply = vigil_onvif_link_ptz_finish (VIGIL_ONVIF_LINK (source), result, &error);

  if (!is_query (r->action))
    audit_ptz (target, vigil_service_get_caller (call->invocation), r, reply != NULL ? "done" : error->message);
  if (reply == NULL)
    {
      vigil_service_return_error (call->invocation, g_steal_pointer (&error));
      ptz_call_free (call);
      return;
    }
  switch (r->action)
    {
    case VIGIL_PTZ_MOVE:
      vigil_camera_note_ptz_move (target->camera, r->duration_ms);
      vigil_dbus_camera_complete_ptz_move (target->skeleton, call->invocation);
      break;
    case VIGIL_PTZ_STOP:
      vigil_dbus_camera_complete_ptz_stop (target->skeleton, call->invocation);
      break;
    case VIGIL_PTZ_GOTO:
      vigil_camera_note_ptz_move (target->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_ptz_goto (target->skeleton, call->invocation);
      break;
    case VIGIL_PTZ_MOVE_BY:
      vigil_camera_note_ptz_move (target->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_ptz_move_by (target->skeleton, call->invocation);
      break;
    case VIGIL_PTZ_STATUS:
      vigil_dbus_camera_complete_ptz_get_status (target->skeleton, call->invocation, reply->status.has_position,
                                                 reply->status.pan, reply->status.tilt, reply->status.zoom,
                                                 move_status_name (&reply->status));
      break;
    case VIGIL_PTZ_LIST_PRESETS:
      {
        GVariantBuilder builder;

        g_variant_builder_init (&builder, G_VARIANT_TYPE ("a(ss)"));
        for (guint i = 0; i < reply->presets->len; i++)
          {
            VigilOnvifPreset *preset = reply->presets->pdata[i];
            g_variant_builder_add (&builder, "(ss)", preset->token, preset->name != NULL ? preset->name : "");
          }
        vigil_dbus_camera_complete_list_presets (target->skeleton, call->invocation,
                                                 g_variant_builder_end (&builder));
      }
      break;
    case VIGIL_PTZ_SAVE_PRESET:
      vigil_dbus_camera_complete_save_preset (target->skeleton, call->invocation, reply->preset_token);
      break;
    case VIGIL_PTZ_GOTO_PRESET:
      vigil_camera_note_ptz_move (target->camera, POSITION_MOVE_MS);
      vigil_dbus_camera_complete_goto_preset (target->skeleton, call->invocation);
      break;
    case VIGIL_PTZ_REMOVE_PRESET:
      vigil_dbus_camera_complete_remove_preset (target->skeleton, call->invocation);
      break;
    }
  ptz_call_free (call);
}

static gboolean
return_error_literal (GDBusMethodInvocation *invocation, VigilError code, const gchar *message)
{
  g_dbus_method_invocation_return_error_literal (invocation, VIGIL_ERROR, code, message);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
in_range (gdouble value, gdouble min, gdouble max)
{
  return isfinite (value) && value >= min && value <= max;
}

/* Checks what only the request itself can tell, then asks the camera. */
static gboolean
start_ptz (PtzTarget *target, GDBusMethodInvocation *invocation, const VigilPtzRequest *request)
{
  VigilOnvifLink *link = vigil_camera_get_onvif_link (target->camera);
  const gchar *name = vigil_camera_get_name (target->camera);
  g_autofree gchar *message = NULL;
  PtzCall *call;

  if (link == NULL)
    {
      message = g_strdup_printf ("camera %s is not set up by ONVIF (onvif= in its config), so vigild cannot "
                                 "turn it", name);
      return return_error_literal (invocation, VIGIL_ERROR_NOT_SUPPORTED, message);
    }
  switch (request->action)
    {
    case VIGIL_PTZ_MOVE:
    case VIGIL_PTZ_MOVE_BY:
      if (!in_range (request->pan, -1, 1) || !in_range (request->tilt, -1, 1) || !in_range (request->zoom, -1, 1))
        message = g_strdup_printf ("pan, tilt and zoom must be between -1 and 1 (got %g, %g, %g)", request->pan,
                                   request->tilt, request->zoom);
      else if (request->action == VIGIL_PTZ_MOVE
               && (request->duration_ms < MIN_MOVE_MS || request->duration_ms > MAX_MOVE_MS))
        message = g_strdup_printf ("duration %u ms is not between %u and %u ms", request->duration_ms, MIN_MOVE_MS,
                                   MAX_MOVE_MS);
      break;
    case VIGIL_PTZ_GOTO:
      if (!in_range (request->pan, -1, 1) || !in_range (request->tilt, -1, 1)
          || !isfinite (request->zoom) || request->zoom > 1)
        message = g_strdup_printf ("pan and tilt must be between -1 and 1 and zoom between 0 and 1, or negative "
                                   "to keep it (got %g, %g, %g)", request->pan, request->tilt, request->zoom);
      break;
    case VIGIL_PTZ_SAVE_PRESET:
    case VIGIL_PTZ_GOTO_PRESET:
    case VIGIL_PTZ_REMOVE_PRESET:
      if (request->preset[0] == '\0' || strlen (request->preset) > MAX_PRESET_NAME
          || !g_utf8_validate (request->preset, -1, NULL))
        message = g_strdup_printf ("a preset name is 1 to %u bytes of UTF-8", MAX_PRESET_NAME);
      break;
    default:
      break;
    }
  if (message != NULL)
    return return_error_literal (invocation, VIGIL_ERROR_INVALID_ARGUMENT, message);

  call = g_new0 (PtzCall, 1);
  call->target = target;
  call->invocation = g_object_ref (invocation);
  call->request = *request;
  call->preset = g_strdup (request->preset);
  call->request.preset = call->preset;
  vigil_onvif_link_ptz_async (link, &call->request, NULL, on_ptz_done, call);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
on_handle_ptz_move (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan, gdouble tilt,
                    gdouble zoom, guint duration_ms, PtzTarget *target)
{
  VigilPtzRequest request = { VIGIL_PTZ_MOVE, pan, tilt, zoom, -1, duration_ms, NULL };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_ptz_stop (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_STOP };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_ptz_goto (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan, gdouble tilt,
                    gdouble zoom, PtzTarget *target)
{
  VigilPtzRequest request = { VIGIL_PTZ_GOTO, pan, tilt, zoom, -1, 0, NULL };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_ptz_move_by (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, gdouble pan, gdouble tilt,
                       gdouble zoom, PtzTarget *target)
{
  VigilPtzRequest request = { VIGIL_PTZ_MOVE_BY, pan, tilt, zoom, -1, 0, NULL };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_ptz_get_status (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_STATUS };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_list_presets (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_LIST_PRESETS };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_save_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, const gchar *name,
                       PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_SAVE_PRESET, .preset = name };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_goto_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, const gchar *name,
                       PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_GOTO_PRESET, .speed = -1, .preset = name };
  return start_ptz (target, invocation, &request);
}

static gboolean
on_handle_remove_preset (VigilDBusCamera *skeleton, GDBusMethodInvocation *invocation, const gchar *name,
                         PtzTarget *target)
{
  VigilPtzRequest request = { .action = VIGIL_PTZ_REMOVE_PRESET, .preset = name };
  return start_ptz (target, invocation, &request);
}

/* The camera told vigild who it is: show it. */
static void
on_camera_onvif_resolved (VigilCamera *camera, PtzTarget *target)
{
  VigilOnvifLink *link = vigil_camera_get_onvif_link (camera);
  const VigilOnvifDeviceInfo *info = vigil_onvif_link_get_device_info (link);
  VigilDBusCamera *skeleton = target->skeleton;

  if (info != NULL)
    {
      vigil_dbus_camera_set_manufacturer (skeleton, info->manufacturer != NULL ? info->manufacturer : "");
      vigil_dbus_camera_set_model (skeleton, info->model != NULL ? info->model : "");
      vigil_dbus_camera_set_firmware (skeleton, info->firmware_version != NULL ? info->firmware_version : "");
      /* A sender report, once one came, is the fresher word on the clock. */
      if (g_strcmp0 (vigil_dbus_camera_get_clock_source (skeleton), "rtcp") != 0)
        {
          vigil_dbus_camera_set_clock_source (skeleton, "onvif");
          vigil_dbus_camera_set_clock_offset_us (skeleton, info->clock_offset_us);
        }
    }
  vigil_dbus_camera_set_profile (skeleton, vigil_onvif_link_get_profile (link));
  vigil_dbus_camera_set_has_ptz (skeleton, vigil_onvif_link_has_ptz (link));
}

void
vigil_service_ptz_export (VigilStore *store, VigilCamera *camera, VigilDBusCamera *skeleton)
{
  VigilOnvifLink *link = vigil_camera_get_onvif_link (camera);
  PtzTarget *target = g_new0 (PtzTarget, 1);

  target->store = g_object_ref (store);
  target->camera = g_object_ref (camera);
  target->skeleton = skeleton;
  g_object_set_data_full (G_OBJECT (skeleton), "vigil-ptz-target", target, (GDestroyNotify) ptz_target_free);

  vigil_dbus_camera_set_onvif_device (skeleton, link != NULL ? vigil_onvif_link_get_device_url (link) : "");
  vigil_dbus_camera_set_manufacturer (skeleton, "");
  vigil_dbus_camera_set_model (skeleton, "");
  vigil_dbus_camera_set_firmware (skeleton, "");
  vigil_dbus_camera_set_profile (skeleton, "");
  if (link != NULL)
    {
      g_signal_connect (camera, "onvif-resolved", G_CALLBACK (on_camera_onvif_resolved), target);
      if (vigil_onvif_link_is_resolved (link))
        on_camera_onvif_resolved (camera, target);
    }
  g_signal_connect (skeleton, "handle-ptz-move", G_CALLBACK (on_handle_ptz_move), target);
  g_signal_connect (skeleton, "handle-ptz-stop", G_CALLBACK (on_handle_ptz_stop), target);
  g_signal_connect (skeleton, "handle-ptz-goto", G_CALLBACK (on_handle_ptz_goto), target);
  g_signal_connect (skeleton, "handle-ptz-move-by", G_CALLBACK (on_handle_ptz_move_by), target);
  g_signal_connect (skeleton, "handle-ptz-get-status", G_CALLBACK (on_handle_ptz_get_status), target);
  g_signal_connect (skeleton, "handle-list-presets", G_CALLBACK (on_handle_list_presets), target);
  g_signal_connect (skeleton, "handle-save-preset", G_CALLBACK (on_handle_save_preset), target);
  g_signal_connect (skeleton, "handle-goto-preset", G_CALLBACK (on_handle_goto_preset), target);
  g_signal_connect (skeleton, "handle-remove-preset", G_CALLBACK (on_handle_remove_preset), target);
}

/* ---- An incident's preset ------------------------------------------------ */

typedef struct {
  VigilStore   *store;       /* referenced */
  VigilCamera  *camera;      /* referenced */
  VigilCaller  *caller;      /* copied: the invocation is long answered */
  gchar        *preset;
  gchar        *why;
} PresetJob;

static void
preset_job_free (PresetJob *job)
{
  g_object_unref (job->store);
  g_object_unref (job->camera);
  vigil_caller_free (job->caller);
  g_free (job->preset);
  g_free (job->why);
  g_free (job);
}

static void
on_incident_preset_done (GObject *source, GAsyncResult *result, gpointer user_data)
{
  PresetJob *job = user_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilPtzReply) reply = vigil_onvif_link_ptz_finish (VIGIL_ONVIF_LINK (source), result, &error);
  g_autofree gchar *subject = g_strdup_printf ("camera %s", vigil_camera_get_name (job->camera));

  if (reply != NULL)
    vigil_camera_note_ptz_move (job->camera, POSITION_MOVE_MS);
  else
    g_warning ("camera %s: cannot go to preset “%s” for %s: %s", vigil_camera_get_name (job->camera), job->preset,
               job->why, error->message);
  vigil_service_audit (job->store, job->caller, "ptz-preset-go", subject, "preset", job->preset, "why", job->why,
                       "outcome", reply != NULL ? "done" : error->message, NULL);
  preset_job_free (job);
}

void
vigil_service_ptz_goto_preset_all (VigilStore *store, const VigilCaller *caller, GPtrArray *cameras,
                                   const gchar *preset, const gchar *why)
{
  for (guint i = 0; i < cameras->len; i++)
    {
      VigilCamera *camera = cameras->pdata[i];
      VigilOnvifLink *link = vigil_camera_get_onvif_link (camera);
      VigilPtzRequest request = { .action = VIGIL_PTZ_GOTO_PRESET, .speed = -1, .preset = preset };
      PresetJob *job;

      /* Fixed cameras of the incident keep looking where they look. */
      if (link == NULL || !vigil_onvif_link_has_ptz (link))
        continue;
      job = g_new0 (PresetJob, 1);
      job->store = g_object_ref (store);
      job->camera = g_object_ref (camera);
      job->caller = vigil_caller_copy (caller);
      job->preset = g_strdup (preset);
      job->why = g_strdup (why);
      vigil_onvif_link_ptz_async (link, &request, NULL, on_incident_preset_done, job);
    }
}
