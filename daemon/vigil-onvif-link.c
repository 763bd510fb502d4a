/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilOnvifLink: one ONVIF camera's set-up and PTZ, off the main loop. */
#include "vigil-onvif-link.h"

#include "vigil-frame-health.h"

#include <string.h>

struct _VigilOnvifLink
{
  GObject               parent_instance;
  VigilOnvifCamera     *camera;          /* thread-safe; used by the workers */
  gchar                *wanted_profile;  /* onvif_profile=, or NULL */
  GMutex                password_lock;
  gchar                *new_password;    /* password_lock; secret; for the next resolve; NULL: unchanged */

  /* Main thread only, set when a resolve finishes. */
  gboolean              resolved;
  VigilOnvifDeviceInfo *info;
  gchar                *profile;         /* token of the recorded profile */
  gchar                *sub_stream_url;
  gboolean              has_ptz;
};

G_DEFINE_FINAL_TYPE (VigilOnvifLink, vigil_onvif_link, G_TYPE_OBJECT)

static const gchar *const action_names[] = {
  "move", "stop", "goto", "move-by", "status", "presets", "preset-save", "preset-go", "preset-remove",
};

const gchar *
vigil_ptz_action_to_string (VigilPtzAction action)
{
  g_return_val_if_fail ((guint) action < G_N_ELEMENTS (action_names), NULL);
  return action_names[action];
}

void
vigil_ptz_reply_free (VigilPtzReply *reply)
{
  if (reply == NULL)
    return;
  g_clear_pointer (&reply->presets, g_ptr_array_unref);
  g_free (reply->preset_token);
  g_free (reply);
}

static void
vigil_onvif_link_finalize (GObject *object)
{
  VigilOnvifLink *self = VIGIL_ONVIF_LINK (object);

  g_clear_object (&self->camera);
  g_free (self->wanted_profile);
  if (self->new_password != NULL)
    memset (self->new_password, 0, strlen (self->new_password));
  g_free (self->new_password);
  g_mutex_clear (&self->password_lock);
  g_clear_pointer (&self->info, vigil_onvif_device_info_free);
  g_free (self->profile);
  g_free (self->sub_stream_url);
  G_OBJECT_CLASS (vigil_onvif_link_parent_class)->finalize (object);
}

static void
vigil_onvif_link_class_init (VigilOnvifLinkClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_onvif_link_finalize;
}

static void
vigil_onvif_link_init (VigilOnvifLink *self)
{
  g_mutex_init (&self->password_lock);
}

void
vigil_onvif_link_set_password (VigilOnvifLink *self, const gchar *password)
{
  g_return_if_fail (VIGIL_IS_ONVIF_LINK (self));
  g_mutex_lock (&self->password_lock);
  if (self->new_password != NULL)
    memset (self->new_password, 0, strlen (self->new_password));
  g_free (self->new_password);
  self->new_password = g_strdup (password != NULL ? password : "");
  g_mutex_unlock (&self->password_lock);
}

VigilOnvifLink *
vigil_onvif_link_new (const VigilOnvifLinkOptions *options, GError **error)
{
  VigilOnvifOptions onvif_options = {
    .device_url = options->device_url, .user = options->user, .password = options->password,
    .keep_addresses = options->keep_addresses,
  };
  g_autoptr(VigilOnvifCamera) camera = vigil_onvif_camera_new (&onvif_options, error);
  VigilOnvifLink *self;

  if (camera == NULL)
    return NULL;
  self = g_object_new (VIGIL_TYPE_ONVIF_LINK, NULL);
  self->camera = g_steal_pointer (&camera);
  self->wanted_profile = g_strdup (options->profile);
  return self;
}

const gchar *
vigil_onvif_link_get_device_url (VigilOnvifLink *self)
{
  return vigil_onvif_camera_get_device_url (self->camera);
}

/* ---- Resolve ------------------------------------------------------------ */

typedef struct {
  VigilOnvifDeviceInfo *info;
  gchar                *profile;
  gchar                *stream_url;
  gchar                *sub_stream_url;
  gboolean              has_ptz;
} Resolved;

static void
resolved_free (Resolved *resolved)
{
  g_clear_pointer (&resolved->info, vigil_onvif_device_info_free);
  g_free (resolved->profile);
  g_free (resolved->stream_url);
  g_free (resolved->sub_stream_url);
  g_free (resolved);
}

static gboolean
is_recordable (const VigilOnvifProfile *profile)
{
  return g_strcmp0 (profile->encoding, "H264") == 0 || g_strcmp0 (profile->encoding, "H265") == 0;
}

gboolean
vigil_onvif_choose_profiles (GPtrArray *profiles, const gchar *wanted, const VigilOnvifProfile **out_main,
                             const VigilOnvifProfile **out_sub)
{
  const VigilOnvifProfile *main = NULL, *sub = NULL;

  for (guint i = 0; i < profiles->len && main == NULL; i++)
    {
      const VigilOnvifProfile *profile = profiles->pdata[i];

      if (wanted != NULL ? g_strcmp0 (profile->token, wanted) == 0 || g_strcmp0 (profile->name, wanted) == 0
                         : is_recordable (profile))
        main = profile;
    }
  if (main == NULL)
    return FALSE;
  /* The sub-stream, judged by frame health: the smallest other recordable
   * profile that is still at least as wide as frame health's working
   * picture (a 176x144 third stream shows too little for blur), else the
   * smallest. */
  for (guint i = 0; i < profiles->len; i++)
    {
      const VigilOnvifProfile *profile = profiles->pdata[i];
      gboolean wide = profile->width >= VIGIL_FRAME_HEALTH_WORKING_WIDTH;

      if (profile == main || !is_recordable (profile) || profile->width * profile->height >= main->width * main->height)
        continue;
      if (sub == NULL || (wide && sub->width < VIGIL_FRAME_HEALTH_WORKING_WIDTH)
          || (wide == (sub->width >= VIGIL_FRAME_HEALTH_WORKING_WIDTH)
              && profile->width * profile->height < sub->width * sub->height))
        sub = profile;
    }
  *out_main = main;
  *out_sub = sub;
  return TRUE;
}

/* Runs on a worker thread. */
static void
resolve_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilOnvifLink *self = source;
  const gchar *wanted = task_data;
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) profiles = NULL;
  const VigilOnvifProfile *main = NULL, *sub = NULL;
  Resolved *resolved;
  g_autofree gchar *password = NULL;

  g_mutex_lock (&self->password_lock);
  password = g_steal_pointer (&self->new_password);
  g_mutex_unlock (&self->password_lock);
  if (password != NULL)
    {
      vigil_onvif_camera_set_password (self->camera, password);
      memset (password, 0, strlen (password));
    }
  if (!vigil_onvif_camera_connect (self->camera, cancellable, &error)
      || (profiles = vigil_onvif_camera_list_profiles (self->camera, cancellable, &error)) == NULL)
    {
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (!vigil_onvif_choose_profiles (profiles, wanted, &main, &sub))
    {
      g_task_return_new_error (task, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                               wanted != NULL ? "%s has no profile “%s”" : "%s has no H.264 or H.265 profile%s",
                               vigil_onvif_camera_get_device_url (self->camera), wanted != NULL ? wanted : "");
      return;
    }

  resolved = g_new0 (Resolved, 1);
  resolved->info = vigil_onvif_camera_get_device_info (self->camera);
  resolved->profile = g_strdup (main->token);
  resolved->has_ptz = main->has_ptz;
  resolved->stream_url = vigil_onvif_camera_get_stream_uri (self->camera, main->token, cancellable, &error);
  if (resolved->stream_url == NULL)
    {
      resolved_free (resolved);
      g_task_return_error (task, g_steal_pointer (&error));
      return;
    }
  if (sub != NULL)
    {
      g_autoptr(GError) sub_error = NULL;

      resolved->sub_stream_url = vigil_onvif_camera_get_stream_uri (self->camera, sub->token, cancellable,
                                                                    &sub_error);
      if (resolved->sub_stream_url == NULL)
        g_info ("%s: no sub-stream: %s", vigil_onvif_camera_get_device_url (self->camera), sub_error->message);
    }
  g_task_return_pointer (task, resolved, (GDestroyNotify) resolved_free);
}

void
vigil_onvif_link_resolve_async (VigilOnvifLink *self, GCancellable *cancellable, GAsyncReadyCallback callback,
                                gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);

  g_task_set_source_tag (task, vigil_onvif_link_resolve_async);
  g_task_set_task_data (task, g_strdup (self->wanted_profile), g_free);
  g_task_run_in_thread (task, resolve_thread);
}

gchar *
vigil_onvif_link_resolve_finish (VigilOnvifLink *self, GAsyncResult *result, GError **error)
{
  Resolved *resolved = g_task_propagate_pointer (G_TASK (result), error);
  gchar *stream_url;

  if (resolved == NULL)
    return NULL;
  g_clear_pointer (&self->info, vigil_onvif_device_info_free);
  self->info = g_steal_pointer (&resolved->info);
  g_free (self->profile);
  self->profile = g_steal_pointer (&resolved->profile);
  g_free (self->sub_stream_url);
  self->sub_stream_url = g_steal_pointer (&resolved->sub_stream_url);
  self->has_ptz = resolved->has_ptz;
  self->resolved = TRUE;
  stream_url = g_steal_pointer (&resolved->stream_url);
  resolved_free (resolved);
  return stream_url;
}

gboolean
vigil_onvif_link_is_resolved (VigilOnvifLink *self)
{
  return self->resolved;
}

const VigilOnvifDeviceInfo *
vigil_onvif_link_get_device_info (VigilOnvifLink *self)
{
  return self->info;
}

const gchar *
vigil_onvif_link_get_profile (VigilOnvifLink *self)
{
  return self->profile;
}

const gchar *
vigil_onvif_link_get_sub_stream_url (VigilOnvifLink *self)
{
  return self->sub_stream_url;
}

gboolean
vigil_onvif_link_has_ptz (VigilOnvifLink *self)
{
  return self->has_ptz;
}

/* ---- PTZ ---------------------------------------------------------------- */

typedef struct {
  VigilPtzRequest request;   /* preset points at preset_copy */
  gchar          *preset_copy;
  gchar          *profile;
} PtzJob;

static void
ptz_job_free (PtzJob *job)
{
  g_free (job->preset_copy);
  g_free (job->profile);
  g_free (job);
}

/* The token of the preset named (or tokened) @name. Runs on a worker thread. */
static gchar *
find_preset (VigilOnvifCamera *camera, const gchar *profile, const gchar *name, GCancellable *cancellable,
             GError **error)
{
  g_autoptr(GPtrArray) presets = vigil_onvif_camera_list_presets (camera, profile, cancellable, error);

  if (presets == NULL)
    return NULL;
  for (guint i = 0; i < presets->len; i++)
    {
      VigilOnvifPreset *preset = presets->pdata[i];

      if (g_strcmp0 (preset->name, name) == 0)
        return g_strdup (preset->token);
    }
  for (guint i = 0; i < presets->len; i++)
    {
      VigilOnvifPreset *preset = presets->pdata[i];

      if (g_strcmp0 (preset->token, name) == 0)
        return g_strdup (preset->token);
    }
  g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID, "%s has no preset “%s”",
               vigil_onvif_camera_get_device_url (camera), name);
  return NULL;
}

/* Runs on a worker thread. */
static void
ptz_thread (GTask *task, gpointer source, gpointer task_data, GCancellable *cancellable)
{
  VigilOnvifLink *self = source;
  PtzJob *job = task_data;
  const VigilPtzRequest *r = &job->request;
  g_autoptr(VigilPtzReply) reply = g_new0 (VigilPtzReply, 1);
  g_autoptr(GError) error = NULL;
  g_autofree gchar *token = NULL;
  gboolean ok = FALSE;

  switch (r->action)
    {
    case VIGIL_PTZ_MOVE:
      ok = vigil_onvif_camera_continuous_move (self->camera, job->profile, r->pan, r->tilt, r->zoom, r->duration_ms,
                                               cancellable, &error);
      break;
    case VIGIL_PTZ_STOP:
      ok = vigil_onvif_camera_stop (self->camera, job->profile, cancellable, &error);
      break;
    case VIGIL_PTZ_GOTO:
      ok = vigil_onvif_camera_absolute_move (self->camera, job->profile, r->pan, r->tilt, r->zoom, r->speed,
                                             cancellable, &error);
      break;
    case VIGIL_PTZ_MOVE_BY:
      ok = vigil_onvif_camera_relative_move (self->camera, job->profile, r->pan, r->tilt, r->zoom, r->speed,
                                             cancellable, &error);
      break;
    case VIGIL_PTZ_STATUS:
      ok = vigil_onvif_camera_get_ptz_status (self->camera, job->profile, &reply->status, cancellable, &error);
      break;
    case VIGIL_PTZ_LIST_PRESETS:
      reply->presets = vigil_onvif_camera_list_presets (self->camera, job->profile, cancellable, &error);
      ok = reply->presets != NULL;
      break;
    case VIGIL_PTZ_SAVE_PRESET:
      reply->preset_token = vigil_onvif_camera_set_preset (self->camera, job->profile, r->preset, cancellable,
                                                           &error);
      ok = reply->preset_token != NULL;
      break;
    case VIGIL_PTZ_GOTO_PRESET:
      token = find_preset (self->camera, job->profile, r->preset, cancellable, &error);
      ok = token != NULL && vigil_onvif_camera_goto_preset (self->camera, job->profile, token, r->speed,
                                                            cancellable, &error);
      break;
    case VIGIL_PTZ_REMOVE_PRESET:
      token = find_preset (self->camera, job->profile, r->preset, cancellable, &error);
      ok = token != NULL && vigil_onvif_camera_remove_preset (self->camera, job->profile, token, cancellable,
                                                              &error);
      break;
    }
  if (!ok)
    g_task_return_error (task, g_steal_pointer (&error));
  else
    g_task_return_pointer (task, g_steal_pointer (&reply), (GDestroyNotify) vigil_ptz_reply_free);
}

void
vigil_onvif_link_ptz_async (VigilOnvifLink *self, const VigilPtzRequest *request, GCancellable *cancellable,
                            GAsyncReadyCallback callback, gpointer user_data)
{
  g_autoptr(GTask) task = g_task_new (self, cancellable, callback, user_data);
  PtzJob *job;

  g_task_set_source_tag (task, vigil_onvif_link_ptz_async);
  if (!self->resolved)
    {
      g_task_return_new_error (task, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                               "%s has not answered yet", vigil_onvif_camera_get_device_url (self->camera));
      return;
    }
  if (!self->has_ptz)
    {
      g_task_return_new_error (task, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                               "%s: profile %s has no PTZ configuration",
                               vigil_onvif_camera_get_device_url (self->camera), self->profile);
      return;
    }
  job = g_new0 (PtzJob, 1);
  job->request = *request;
  job->preset_copy = g_strdup (request->preset);
  job->request.preset = job->preset_copy;
  job->profile = g_strdup (self->profile);
  g_task_set_task_data (task, job, (GDestroyNotify) ptz_job_free);
  g_task_run_in_thread (task, ptz_thread);
}

VigilPtzReply *
vigil_onvif_link_ptz_finish (VigilOnvifLink *self, GAsyncResult *result, GError **error)
{
  return g_task_propagate_pointer (G_TASK (result), error);
}
