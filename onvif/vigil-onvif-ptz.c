/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The PTZ half of VigilOnvifCamera (the core is vigil-onvif.c): the PTZ
 * nodes and the mapping between ONVIF's generic spaces and each node's
 * ranges, continuous, relative and absolute moves, status, presets, and
 * what makes a head stop on time: vigil's own timer (one internal thread,
 * started on the first ContinuousMove, sends the Stop that ends it; see
 * stop_thread_main()) and the stop channel, the camera's second gSOAP
 * context, used only for Stop (and its zero-velocity fallback) under a lock
 * of its own, so that stopping a moving head never waits behind another
 * call in progress (a slow GetPresets, a hanging camera). It learns the PTZ
 * quirks a camera has (rejects Timeout, rejects pan-tilt and zoom together,
 * Stop that faults). It talks to the camera only through
 * vigil_onvif_camera_invoke(); it must never leave a continuous move
 * without a stop, never make a Stop wait behind a call on the call channel
 * once the nodes are known, and never let a gSOAP type out of onvif/.
 *
 * Threads: any thread may call; the camera's GRecMutex serialises calls,
 * except Stops on the stop channel. Lock order: lock, stop_call_lock,
 * stop_lock, state_lock, reply_lock. */

#include "vigil-onvif.h"
#include "vigil-onvif-private.h"
#include "vigil-onvif-camera-private.h"

#include <math.h>
#include <string.h>

#define MIN_MOVE_MS 100
#define MAX_MOVE_MS 10000

DEFINE_CALL (tptz, GetNodes)
DEFINE_CALL (tptz, ContinuousMove)
DEFINE_CALL (tptz, RelativeMove)
DEFINE_CALL (tptz, AbsoluteMove)
DEFINE_CALL (tptz, Stop)
DEFINE_CALL (tptz, GetStatus)
DEFINE_CALL (tptz, GetPresets)
DEFINE_CALL (tptz, SetPreset)
DEFINE_CALL (tptz, GotoPreset)
DEFINE_CALL (tptz, RemovePreset)

/* One axis of a PTZ space: the camera's range and the space's URI. */
typedef struct {
  gboolean present;
  gdouble  min, max;
  gchar   *uri;
} Axis;

typedef struct {
  gchar   *token;
  gboolean from_camera;   /* FALSE: GetNodes unsupported, generic ranges assumed */
  Axis     abs_pan, abs_tilt, abs_zoom;
  Axis     rel_pan, rel_tilt, rel_zoom;
  Axis     vel_pan, vel_tilt, vel_zoom;
  Axis     speed_pan_tilt, speed_zoom;
  guint    max_presets;
  gboolean home;
} Node;

static void
node_free (Node *node)
{
  Axis *axes[] = { &node->abs_pan, &node->abs_tilt, &node->abs_zoom, &node->rel_pan,
                   &node->rel_tilt, &node->rel_zoom, &node->vel_pan, &node->vel_tilt,
                   &node->vel_zoom, &node->speed_pan_tilt, &node->speed_zoom };

  for (guint i = 0; i < G_N_ELEMENTS (axes); i++)
    g_free (axes[i]->uri);
  g_free (node->token);
  g_free (node);
}

void
vigil_onvif_preset_free (VigilOnvifPreset *preset)
{
  if (preset == NULL)
    return;
  g_free (preset->token);
  g_free (preset->name);
  g_free (preset);
}

static void
set_string (gchar **field, const gchar *value)
{
  g_free (*field);
  *field = g_strdup (value);
}

static void
axis_set (Axis *axis, const struct tt__FloatRange *range, const gchar *uri)
{
  if (axis->present)
    return;   /* the first space listed is the one used */
  /* NaN, infinite or inverted ranges would make NaN of every value mapped
   * through them: such a range counts as not given. */
  if (range != NULL &&
      !(isfinite (range->Min) && isfinite (range->Max) && range->Min <= range->Max))
    range = NULL;
  axis->present = TRUE;
  axis->min = range != NULL ? range->Min : -1.0;
  axis->max = range != NULL ? range->Max : 1.0;
  axis->uri = g_strdup (uri);
}

static void
axis_default (Axis *axis, gdouble min, gdouble max)
{
  if (axis->present)
    return;
  axis->min = min;
  axis->max = max;
}

static Node *
node_from_camera (const struct tt__PTZNode *n)
{
  Node *node = g_new0 (Node, 1);
  const struct tt__PTZSpaces *s = n->SupportedPTZSpaces;

  node->token = g_strdup (n->token != NULL ? n->token : "");
  node->from_camera = TRUE;
  if (s != NULL)
    {
      if (s->__sizeAbsolutePanTiltPositionSpace > 0)
        {
          axis_set (&node->abs_pan, s->AbsolutePanTiltPositionSpace[0].XRange,
                    s->AbsolutePanTiltPositionSpace[0].URI);
          axis_set (&node->abs_tilt, s->AbsolutePanTiltPositionSpace[0].YRange,
                    s->AbsolutePanTiltPositionSpace[0].URI);
        }
      if (s->__sizeAbsoluteZoomPositionSpace > 0)
        axis_set (&node->abs_zoom, s->AbsoluteZoomPositionSpace[0].XRange,
                  s->AbsoluteZoomPositionSpace[0].URI);
      if (s->__sizeRelativePanTiltTranslationSpace > 0)
        {
          axis_set (&node->rel_pan, s->RelativePanTiltTranslationSpace[0].XRange,
                    s->RelativePanTiltTranslationSpace[0].URI);
          axis_set (&node->rel_tilt, s->RelativePanTiltTranslationSpace[0].YRange,
                    s->RelativePanTiltTranslationSpace[0].URI);
        }
      if (s->__sizeRelativeZoomTranslationSpace > 0)
        axis_set (&node->rel_zoom, s->RelativeZoomTranslationSpace[0].XRange,
                  s->RelativeZoomTranslationSpace[0].URI);
      if (s->__sizeContinuousPanTiltVelocitySpace > 0)
        {
          axis_set (&node->vel_pan, s->ContinuousPanTiltVelocitySpace[0].XRange,
                    s->ContinuousPanTiltVelocitySpace[0].URI);
          axis_set (&node->vel_tilt, s->ContinuousPanTiltVelocitySpace[0].YRange,
                    s->ContinuousPanTiltVelocitySpace[0].URI);
        }
      if (s->__sizeContinuousZoomVelocitySpace > 0)
        axis_set (&node->vel_zoom, s->ContinuousZoomVelocitySpace[0].XRange,
                  s->ContinuousZoomVelocitySpace[0].URI);
      if (s->__sizePanTiltSpeedSpace > 0)
        axis_set (&node->speed_pan_tilt, s->PanTiltSpeedSpace[0].XRange,
                  s->PanTiltSpeedSpace[0].URI);
      if (s->__sizeZoomSpeedSpace > 0)
        axis_set (&node->speed_zoom, s->ZoomSpeedSpace[0].XRange, s->ZoomSpeedSpace[0].URI);
    }
  node->max_presets = n->MaximumNumberOfPresets != NULL ? MAX (*n->MaximumNumberOfPresets, 0) : 0;
  node->home = n->HomeSupported != NULL && *n->HomeSupported == xsd__boolean__true_;
  return node;
}

/* Ranges for axes the camera did not describe: the generic spaces'. */
static void
node_fill_defaults (Node *node)
{
  axis_default (&node->abs_pan, -1, 1);
  axis_default (&node->abs_tilt, -1, 1);
  axis_default (&node->abs_zoom, 0, 1);
  axis_default (&node->rel_pan, -1, 1);
  axis_default (&node->rel_tilt, -1, 1);
  axis_default (&node->rel_zoom, -1, 1);
  axis_default (&node->vel_pan, -1, 1);
  axis_default (&node->vel_tilt, -1, 1);
  axis_default (&node->vel_zoom, -1, 1);
  axis_default (&node->speed_pan_tilt, 0, 1);
  axis_default (&node->speed_zoom, 0, 1);
}

/* The PTZ node behind @profile_token, fetching the nodes once.
 * Called with self->lock held. */
static const Node *
get_node (VigilOnvifCamera *self, const gchar *profile_token, const gchar *op,
          GCancellable *cancellable, GError **error)
{
  const VigilOnvifProfile *profile;
  const gchar *node_token;

  if (!vigil_onvif_camera_ensure_connected (self, cancellable, error))
    return NULL;
  if (self->ptz_url == NULL)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                   "%s on %s: the camera has no PTZ service", op, self->device_url);
      return NULL;
    }
  profile = vigil_onvif_camera_find_profile (self, profile_token, op, error);
  if (profile == NULL)
    return NULL;
  if (!profile->has_ptz)
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
                   "%s on %s: profile '%s' has no PTZ configuration", op, self->device_url,
                   profile_token);
      return NULL;
    }
  if (self->nodes == NULL)
    {
      struct _tptz__GetNodes request = {};
      struct _tptz__GetNodesResponse response = {};
      g_autoptr(GError) local_error = NULL;

      self->nodes = g_ptr_array_new_with_free_func ((GDestroyNotify) node_free);
      if (vigil_onvif_camera_invoke (self, &self->call, "GetNodes", self->ptz_url, call_GetNodes,
                                     TRUE, &request, &response, cancellable, &local_error))
        {
          for (gint i = 0; i < response.__sizePTZNode; i++)
            g_ptr_array_add (self->nodes, node_from_camera (&response.PTZNode[i]));
        }
      else if (!g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED))
        {
          g_clear_pointer (&self->nodes, g_ptr_array_unref);
          g_propagate_error (error, g_steal_pointer (&local_error));
          return NULL;
        }
      if (self->nodes->len == 0)
        {
          Node *generic = g_new0 (Node, 1);

          generic->token = g_strdup ("");
          generic->vel_pan.present = generic->vel_tilt.present = generic->vel_zoom.present = TRUE;
          g_ptr_array_add (self->nodes, generic);
        }
      for (guint i = 0; i < self->nodes->len; i++)
        node_fill_defaults (self->nodes->pdata[i]);
      vigil_onvif_camera_publish_stop_target (self);
    }
  node_token = g_hash_table_lookup (self->profile_nodes, profile_token);
  for (guint i = 0; node_token != NULL && i < self->nodes->len; i++)
    if (g_str_equal (((Node *) self->nodes->pdata[i])->token, node_token))
      return self->nodes->pdata[i];
  return self->nodes->pdata[0];
}

static gboolean
node_has_zoom (const Node *node)
{
  if (!node->from_camera)
    return TRUE;
  return (node->vel_zoom.present && node->vel_zoom.max > node->vel_zoom.min) ||
         (node->abs_zoom.present && node->abs_zoom.max > node->abs_zoom.min) ||
         (node->rel_zoom.present && node->rel_zoom.max > node->rel_zoom.min);
}

/* Generic -1..1 (or 0..1 with @unsigned_generic) to the camera's range. */
static gdouble
to_camera (const Axis *axis, gdouble value, gboolean unsigned_generic)
{
  gdouble t;

  if (unsigned_generic)
    t = CLAMP (value, 0.0, 1.0);
  else
    t = (CLAMP (value, -1.0, 1.0) + 1.0) / 2.0;
  return axis->min + t * (axis->max - axis->min);
}

static gdouble
from_camera (const Axis *axis, gdouble value, gboolean unsigned_generic)
{
  gdouble t;

  if (axis->max <= axis->min)
    return unsigned_generic ? 0.0 : 0.0;
  t = CLAMP ((value - axis->min) / (axis->max - axis->min), 0.0, 1.0);
  return unsigned_generic ? t : t * 2.0 - 1.0;
}

static gboolean
check_mode (VigilOnvifCamera *self, const Node *node, gboolean present, const gchar *op,
            const gchar *mode, GError **error)
{
  g_autofree gchar *token = NULL;

  if (!node->from_camera || present)
    return TRUE;
  token = vigil_text_sanitize (node->token != NULL ? node->token : "(none)", 200, VIGIL_TEXT_DEFAULT);
  g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED,
               "%s on %s: the PTZ node '%s' does not support %s moves", op, self->device_url,
               token, mode);
  return FALSE;
}

/* A PanTilt+Zoom speed vector in the node's speed spaces; @speed < 0 leaves
 * the camera's default (returns NULL). */
static struct tt__PTZVector *
fill_speed (const Node *node, gdouble speed, struct tt__PTZVector *vector,
            struct tt__Vector2D *pan_tilt, struct tt__Vector1D *zoom, gboolean with_zoom)
{
  if (speed < 0)
    return NULL;
  pan_tilt->x = pan_tilt->y = to_camera (&node->speed_pan_tilt, speed, TRUE);
  pan_tilt->space = node->speed_pan_tilt.uri;
  vector->PanTilt = pan_tilt;
  if (with_zoom)
    {
      zoom->x = to_camera (&node->speed_zoom, speed, TRUE);
      zoom->space = node->speed_zoom.uri;
      vector->Zoom = zoom;
    }
  return vector;
}

/* One ContinuousMove on @channel; @pan_tilt/@zoom say which vectors go in.
 * Called with @channel's lock held. */
static gboolean
send_continuous (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
                 const gchar *profile_token, const Node *node, gdouble pan, gdouble tilt,
                 gdouble zoom, gboolean with_pan_tilt, gboolean with_zoom, const gchar *timeout,
                 GCancellable *cancellable, GError **error)
{
  struct tt__Vector2D pt = { 0 };
  struct tt__Vector1D z = { 0 };
  struct tt__PTZVector velocity = { 0 };
  struct _tptz__ContinuousMove request = { 0 };
  struct _tptz__ContinuousMoveResponse response = {};

  if (with_pan_tilt)
    {
      pt.x = to_camera (&node->vel_pan, pan, FALSE);
      pt.y = to_camera (&node->vel_tilt, tilt, FALSE);
      pt.space = node->vel_pan.uri;
      velocity.PanTilt = &pt;
    }
  if (with_zoom)
    {
      z.x = to_camera (&node->vel_zoom, zoom, FALSE);
      z.space = node->vel_zoom.uri;
      velocity.Zoom = &z;
    }
  request.ProfileToken = (char *) profile_token;
  request.Velocity = &velocity;
  request.Timeout = (char *) timeout;
  return vigil_onvif_camera_invoke (self, channel, "ContinuousMove", ptz_url, call_ContinuousMove,
                                    TRUE, &request, &response, cancellable, error);
}

/* Pan-tilt and zoom in one ContinuousMove, or in two for cameras that want
 * that. Called with @channel's lock held. */
static gboolean
send_velocity (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
               const gchar *profile_token, const Node *node, gdouble pan, gdouble tilt,
               gdouble zoom, gboolean with_pan_tilt, gboolean with_zoom, const gchar *timeout,
               GCancellable *cancellable, GError **error)
{
  if (g_atomic_int_get (&self->split_moves) && with_pan_tilt && with_zoom)
    return send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom, TRUE,
                            FALSE, timeout, cancellable, error) &&
           send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom, FALSE,
                            TRUE, timeout, cancellable, error);
  return send_continuous (self, channel, ptz_url, profile_token, node, pan, tilt, zoom,
                          with_pan_tilt, with_zoom, timeout, cancellable, error);
}

/* Stop on @channel, or a zero-velocity ContinuousMove when the camera's
 * Stop faults. Called with @channel's lock held. */
static gboolean
send_stop (VigilOnvifCamera *self, Channel *channel, const gchar *ptz_url,
           const gchar *profile_token, const Node *node, gboolean pan_tilt, gboolean zoom,
           GCancellable *cancellable, GError **error)
{
  g_autoptr(GError) local_error = NULL;

  zoom = zoom && node_has_zoom (node);
  if (!pan_tilt && !zoom)
    pan_tilt = TRUE;
  if (!g_atomic_int_get (&self->stop_broken))
    {
      enum xsd__boolean yes = xsd__boolean__true_;
      enum xsd__boolean no = xsd__boolean__false_;
      struct _tptz__Stop request = { .ProfileToken = (char *) profile_token,
                                     .PanTilt = pan_tilt ? &yes : &no,
                                     .Zoom = zoom ? &yes : &no };
      struct _tptz__StopResponse response = {};

      if (vigil_onvif_camera_invoke (self, channel, "Stop", ptz_url, call_Stop, TRUE, &request,
                                     &response, cancellable, &local_error))
        return TRUE;
      if (!g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT) &&
          !g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_NOT_SUPPORTED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      g_debug ("%s; stopping with zero velocities from now on", local_error->message);
      g_atomic_int_set (&self->stop_broken, TRUE);
    }
  return send_velocity (self, channel, ptz_url, profile_token, node, 0, 0, 0, pan_tilt, zoom,
                        NULL, cancellable, error);
}

/* The Stop of the call path, for when the stop channel cannot serve it yet
 * (nodes not fetched). Called with self->lock held. */
static gboolean
stop_locked (VigilOnvifCamera *self, const gchar *profile_token, gboolean pan_tilt,
             gboolean zoom, GCancellable *cancellable, GError **error)
{
  const Node *node = get_node (self, profile_token, "Stop", cancellable, error);

  if (node == NULL)
    return FALSE;
  return send_stop (self, &self->call, self->ptz_url, profile_token, node, pan_tilt, zoom,
                    cancellable, error);
}

/* Makes what a Stop needs (PTZ address, nodes, which profiles have PTZ)
 * readable by the stop channel. Called with self->lock held, whenever one
 * of them changes. */
void
vigil_onvif_camera_publish_stop_target (VigilOnvifCamera *self)
{
  g_mutex_lock (&self->state_lock);
  set_string (&self->stop_ptz_url, self->ptz_url);
  g_clear_pointer (&self->stop_nodes, g_ptr_array_unref);
  if (self->nodes != NULL)
    self->stop_nodes = g_ptr_array_ref (self->nodes);
  g_clear_pointer (&self->stop_profile_nodes, g_hash_table_unref);
  self->stop_profile_nodes = g_hash_table_ref (self->profile_nodes);
  g_mutex_unlock (&self->state_lock);
}

/* The node of @profile_token as published, with the PTZ address and a
 * reference on the node array in @out_url and @out_nodes; NULL when the
 * stop channel cannot serve it (no nodes yet, unknown profile or no PTZ):
 * then the caller takes the call path, which knows or learns why. */
static const Node *
get_stop_target (VigilOnvifCamera *self, const gchar *profile_token, gchar **out_url,
                 GPtrArray **out_nodes)
{
  const Node *node = NULL;
  const gchar *node_token;

  g_mutex_lock (&self->state_lock);
  if (self->stop_ptz_url != NULL && self->stop_nodes != NULL && self->stop_nodes->len > 0 &&
      self->stop_profile_nodes != NULL &&
      g_hash_table_lookup_extended (self->stop_profile_nodes, profile_token, NULL,
                                    (gpointer *) &node_token))
    {
      node = self->stop_nodes->pdata[0];
      for (guint i = 0; i < self->stop_nodes->len; i++)
        if (g_str_equal (((Node *) self->stop_nodes->pdata[i])->token, node_token))
          node = self->stop_nodes->pdata[i];
      *out_url = g_strdup (self->stop_ptz_url);
      *out_nodes = g_ptr_array_ref (self->stop_nodes);
    }
  g_mutex_unlock (&self->state_lock);
  return node;
}

/* Called with self->stop_lock held. Takes the pending stop if it is due
 * and no move is being sent (that move replaces it, or leaves it due). */
static gboolean
take_due_stop (VigilOnvifCamera *self, gchar **profile, gboolean *pan_tilt, gboolean *zoom)
{
  if (self->stop_deadline_us == 0 || self->move_in_flight ||
      (!self->stop_quit && g_get_monotonic_time () < self->stop_deadline_us))
    return FALSE;
  *profile = g_steal_pointer (&self->stop_profile);
  *pan_tilt = self->stop_pan_tilt;
  *zoom = self->stop_zoom;
  self->stop_pan_tilt = self->stop_zoom = FALSE;
  self->stop_deadline_us = 0;
  return TRUE;
}

/* Sends the pending stop if it is still due: on the stop channel when it
 * knows the profile's node, else on the call path. Runs on the stop thread,
 * without locks. */
static void
send_due_stop (VigilOnvifCamera *self)
{
  g_autofree gchar *profile = NULL;
  g_autofree gchar *url = NULL;
  g_autoptr(GPtrArray) nodes = NULL;
  g_autoptr(GError) error = NULL;
  gboolean pan_tilt, zoom, due, ok;
  const Node *node = NULL;

  /* The stop channel first: its lock before stop_lock (lock order), and
   * held across the check and the Stop, so that a move cannot be sent in
   * between (begin_move() takes it too). */
  g_mutex_lock (&self->stop_call_lock);
  g_mutex_lock (&self->stop_lock);
  if (self->stop_profile != NULL)
    node = get_stop_target (self, self->stop_profile, &url, &nodes);
  due = node != NULL && take_due_stop (self, &profile, &pan_tilt, &zoom);
  g_mutex_unlock (&self->stop_lock);
  if (due)
    {
      ok = send_stop (self, &self->stop_call, url, profile, node, pan_tilt, zoom, NULL, &error);
      g_mutex_unlock (&self->stop_call_lock);
      if (!ok)
        g_warning ("could not end a continuous move of profile '%s': %s", profile,
                   error->message);
      return;
    }
  g_mutex_unlock (&self->stop_call_lock);
  if (node != NULL)
    return;   /* replaced, or a move is being sent */

  /* The call path: the camera lock first (lock order), then re-check that
   * no new move or Stop replaced this one meanwhile. */
  g_rec_mutex_lock (&self->lock);
  g_mutex_lock (&self->stop_lock);
  due = take_due_stop (self, &profile, &pan_tilt, &zoom);
  g_mutex_unlock (&self->stop_lock);
  if (due && !stop_locked (self, profile, pan_tilt, zoom, NULL, &error))
    g_warning ("could not end a continuous move of profile '%s': %s", profile, error->message);
  g_rec_mutex_unlock (&self->lock);
}

/* The stop thread: waits for the pending stop's deadline, then sends it.
 * On quit (dispose), a pending stop is sent at once: a camera must not be
 * left moving. Runs on its own thread. */
static gpointer
stop_thread_main (gpointer data)
{
  VigilOnvifCamera *self = data;

  g_mutex_lock (&self->stop_lock);
  for (;;)
    {
      if (self->stop_deadline_us == 0)
        {
          if (self->stop_quit)
            break;
          g_cond_wait (&self->stop_cond, &self->stop_lock);
          continue;
        }
      if (!self->stop_quit && g_get_monotonic_time () < self->stop_deadline_us)
        {
          g_cond_wait_until (&self->stop_cond, &self->stop_lock, self->stop_deadline_us);
          continue;
        }
      /* Due; a move being sent replaces it or leaves it due: wait for that
       * (end_move() signals). Moves are not sent during dispose. */
      if (self->move_in_flight)
        {
          g_cond_wait (&self->stop_cond, &self->stop_lock);
          continue;
        }
      g_mutex_unlock (&self->stop_lock);
      send_due_stop (self);
      g_mutex_lock (&self->stop_lock);
    }
  g_mutex_unlock (&self->stop_lock);
  return NULL;
}

void
vigil_onvif_camera_stop_thread_join (VigilOnvifCamera *self)
{
  GThread *thread;

  g_mutex_lock (&self->stop_lock);
  self->stop_quit = TRUE;
  thread = g_steal_pointer (&self->stop_thread);
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
  if (thread != NULL)
    g_thread_join (thread);
}

/* Called with self->stop_lock held. */
static void
schedule_stop_unlocked (VigilOnvifCamera *self, const gchar *profile_token, gint64 deadline_us,
                        gboolean pan_tilt, gboolean zoom)
{
  if (self->stop_profile != NULL && !g_str_equal (self->stop_profile, profile_token))
    {
      self->stop_pan_tilt = FALSE;
      self->stop_zoom = FALSE;
    }
  set_string (&self->stop_profile, profile_token);
  self->stop_pan_tilt |= pan_tilt;
  self->stop_zoom |= zoom;
  self->stop_deadline_us = deadline_us;
  if (self->stop_thread == NULL && !self->stop_quit)
    self->stop_thread = g_thread_new ("vigil-onvif-stop", stop_thread_main, self);
  g_cond_signal (&self->stop_cond);
}

/* Called with self->lock held, or by the operator's Stop with
 * stop_call_lock held (@operator: moves in flight are overtaken). */
static void
cancel_pending_stop (VigilOnvifCamera *self, gboolean operator)
{
  g_mutex_lock (&self->stop_lock);
  self->stop_deadline_us = 0;
  self->stop_pan_tilt = self->stop_zoom = FALSE;
  g_clear_pointer (&self->stop_profile, g_free);
  if (operator)
    self->stop_generation++;
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
}

/* Before a move is sent on `call`: waits for a Stop being sent on the stop
 * channel (it must reach the camera first), and holds a due stop back until
 * end_move(). Returns the operator-Stop count for end_move().
 * Called with self->lock held. */
static guint
begin_move (VigilOnvifCamera *self)
{
  guint generation;

  g_mutex_lock (&self->stop_call_lock);
  g_mutex_lock (&self->stop_lock);
  self->move_in_flight = TRUE;
  generation = self->stop_generation;
  g_mutex_unlock (&self->stop_lock);
  g_mutex_unlock (&self->stop_call_lock);
  return generation;
}

/* After the move begun at @generation: a ContinuousMove that @succeeded
 * gets its stop @duration_ms from now. A move that an operator's Stop
 * overtook (sent while it was in flight; the camera may have taken them in
 * either order) is stopped again at once. Called with self->lock held. */
static void
end_move (VigilOnvifCamera *self, guint generation, gboolean succeeded,
          const gchar *profile_token, gboolean continuous, guint duration_ms, gboolean pan_tilt,
          gboolean zoom)
{
  gboolean overtaken;

  g_mutex_lock (&self->stop_lock);
  self->move_in_flight = FALSE;
  overtaken = generation != self->stop_generation;
  if (succeeded && overtaken)
    schedule_stop_unlocked (self, profile_token, g_get_monotonic_time (), TRUE, TRUE);
  else if (succeeded && continuous)
    schedule_stop_unlocked (self, profile_token,
                            g_get_monotonic_time () + (gint64) duration_ms * 1000, pan_tilt,
                            zoom);
  g_cond_signal (&self->stop_cond);
  g_mutex_unlock (&self->stop_lock);
}

gboolean
vigil_onvif_camera_continuous_move (VigilOnvifCamera *self, const gchar *profile_token,
                                    gdouble pan_velocity, gdouble tilt_velocity,
                                    gdouble zoom_velocity, guint duration_ms,
                                    GCancellable *cancellable, GError **error)
{
  const Node *node;
  gboolean with_pan_tilt, with_zoom, ok;
  g_autofree gchar *timeout = NULL;
  g_autoptr(GError) local_error = NULL;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);

  duration_ms = CLAMP (duration_ms, MIN_MOVE_MS, MAX_MOVE_MS);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "ContinuousMove", cancellable, error);
  if (node == NULL || !check_mode (self, node, node->vel_pan.present || node->vel_zoom.present,
                                   "ContinuousMove", "continuous", error))
    {
      g_rec_mutex_unlock (&self->lock);
      return FALSE;
    }
  with_zoom = zoom_velocity != 0 && node_has_zoom (node);
  with_pan_tilt = pan_velocity != 0 || tilt_velocity != 0 || !with_zoom;
  timeout = g_strdup_printf ("PT%u.%03uS", duration_ms / 1000, duration_ms % 1000);

  generation = begin_move (self);
  ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                      tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom,
                      self->omit_timeout ? NULL : timeout, cancellable, &local_error);
  /* Bosch and others reject the optional Timeout: vigil's timer stops anyway. */
  if (!ok && !self->omit_timeout &&
      g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT))
    {
      g_debug ("%s; trying without Timeout", local_error->message);
      g_clear_error (&local_error);
      ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                          tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom, NULL,
                          cancellable, &local_error);
      if (ok)
        self->omit_timeout = TRUE;
    }
  /* Some Sony models take pan-tilt and zoom only one at a time. */
  if (!ok && with_pan_tilt && with_zoom && !g_atomic_int_get (&self->split_moves) &&
      g_error_matches (local_error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_FAULT))
    {
      g_debug ("%s; moving pan-tilt and zoom separately", local_error->message);
      g_clear_error (&local_error);
      g_atomic_int_set (&self->split_moves, TRUE);
      ok = send_velocity (self, &self->call, self->ptz_url, profile_token, node, pan_velocity,
                          tilt_velocity, zoom_velocity, with_pan_tilt, with_zoom,
                          self->omit_timeout ? NULL : timeout, cancellable, &local_error);
      if (!ok)
        g_atomic_int_set (&self->split_moves, FALSE);
    }
  end_move (self, generation, ok, profile_token, TRUE, duration_ms, with_pan_tilt, with_zoom);
  if (!ok)
    g_propagate_error (error, g_steal_pointer (&local_error));
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_stop (VigilOnvifCamera *self, const gchar *profile_token,
                         GCancellable *cancellable, GError **error)
{
  g_autofree gchar *url = NULL;
  g_autoptr(GPtrArray) nodes = NULL;
  const Node *node;
  gboolean ok;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);

  /* On the stop channel, whatever call is in progress on the other. */
  node = get_stop_target (self, profile_token, &url, &nodes);
  if (node != NULL)
    {
      g_mutex_lock (&self->stop_call_lock);
      cancel_pending_stop (self, TRUE);
      ok = send_stop (self, &self->stop_call, url, profile_token, node, TRUE, TRUE, cancellable,
                      error);
      g_mutex_unlock (&self->stop_call_lock);
      return ok;
    }
  g_rec_mutex_lock (&self->lock);
  cancel_pending_stop (self, TRUE);
  ok = stop_locked (self, profile_token, TRUE, TRUE, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_relative_move (VigilOnvifCamera *self, const gchar *profile_token, gdouble pan,
                                  gdouble tilt, gdouble zoom, gdouble speed,
                                  GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D pt = { 0 }, speed_pt = { 0 };
  struct tt__Vector1D z = { 0 }, speed_z = { 0 };
  struct tt__PTZVector translation = { 0 }, speed_vector = { 0 };
  struct _tptz__RelativeMove request = { 0 };
  struct _tptz__RelativeMoveResponse response = {};
  gboolean with_zoom, ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "RelativeMove", cancellable, error);
  if (node != NULL && check_mode (self, node, node->rel_pan.present || node->rel_zoom.present,
                                  "RelativeMove", "relative", error))
    {
      with_zoom = zoom != 0 && node_has_zoom (node);
      pt.x = to_camera (&node->rel_pan, pan, FALSE);
      pt.y = to_camera (&node->rel_tilt, tilt, FALSE);
      pt.space = node->rel_pan.uri;
      translation.PanTilt = &pt;
      if (with_zoom)
        {
          z.x = to_camera (&node->rel_zoom, zoom, FALSE);
          z.space = node->rel_zoom.uri;
          translation.Zoom = &z;
        }
      request.ProfileToken = (char *) profile_token;
      request.Translation = &translation;
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z, with_zoom);
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = vigil_onvif_camera_invoke (self, &self->call, "RelativeMove", self->ptz_url,
                                      call_RelativeMove, TRUE, &request, &response, cancellable,
                                      error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, with_zoom);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_absolute_move (VigilOnvifCamera *self, const gchar *profile_token, gdouble pan,
                                  gdouble tilt, gdouble zoom, gdouble speed,
                                  GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D pt = { 0 }, speed_pt = { 0 };
  struct tt__Vector1D z = { 0 }, speed_z = { 0 };
  struct tt__PTZVector position = { 0 }, speed_vector = { 0 };
  struct _tptz__AbsoluteMove request = { 0 };
  struct _tptz__AbsoluteMoveResponse response = {};
  gboolean with_zoom, ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "AbsoluteMove", cancellable, error);
  if (node != NULL && check_mode (self, node, node->abs_pan.present || node->abs_zoom.present,
                                  "AbsoluteMove", "absolute", error))
    {
      with_zoom = zoom >= 0 && node_has_zoom (node);
      pt.x = to_camera (&node->abs_pan, pan, FALSE);
      pt.y = to_camera (&node->abs_tilt, tilt, FALSE);
      pt.space = node->abs_pan.uri;
      position.PanTilt = &pt;
      if (with_zoom)
        {
          z.x = to_camera (&node->abs_zoom, zoom, TRUE);
          z.space = node->abs_zoom.uri;
          position.Zoom = &z;
        }
      request.ProfileToken = (char *) profile_token;
      request.Position = &position;
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z, with_zoom);
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = vigil_onvif_camera_invoke (self, &self->call, "AbsoluteMove", self->ptz_url,
                                      call_AbsoluteMove, TRUE, &request, &response, cancellable,
                                      error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, with_zoom);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_get_ptz_capabilities (VigilOnvifCamera *self, const gchar *profile_token,
                                         VigilOnvifPtzCapabilities *out,
                                         GCancellable *cancellable, GError **error)
{
  const Node *node;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && out != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GetNodes", cancellable, error);
  if (node != NULL)
    {
      out->continuous = !node->from_camera || node->vel_pan.present || node->vel_zoom.present;
      out->relative = !node->from_camera || node->rel_pan.present || node->rel_zoom.present;
      out->absolute = !node->from_camera || node->abs_pan.present || node->abs_zoom.present;
      out->has_zoom = node_has_zoom (node);
      out->home = node->home;
      out->max_presets = node->max_presets;
    }
  g_rec_mutex_unlock (&self->lock);
  return node != NULL;
}

static VigilOnvifMoveStatus
parse_move_status (const gchar *text)
{
  if (g_strcmp0 (text, "IDLE") == 0)
    return VIGIL_ONVIF_MOVE_IDLE;
  if (g_strcmp0 (text, "MOVING") == 0)
    return VIGIL_ONVIF_MOVE_MOVING;
  return VIGIL_ONVIF_MOVE_UNKNOWN;
}

/* A camera position in generic terms; FALSE when it has no pan-tilt, or
 * when a coordinate is NaN or infinite. */
static gboolean
position_from_camera (const Node *node, const struct tt__PTZVector *position, gdouble *pan,
                      gdouble *tilt, gdouble *zoom)
{
  if (position == NULL || position->PanTilt == NULL || !isfinite (position->PanTilt->x) ||
      !isfinite (position->PanTilt->y) ||
      (position->Zoom != NULL && !isfinite (position->Zoom->x)))
    return FALSE;
  *pan = from_camera (&node->abs_pan, position->PanTilt->x, FALSE);
  *tilt = from_camera (&node->abs_tilt, position->PanTilt->y, FALSE);
  *zoom = position->Zoom != NULL ? from_camera (&node->abs_zoom, position->Zoom->x, TRUE) : 0.0;
  return TRUE;
}

gboolean
vigil_onvif_camera_get_ptz_status (VigilOnvifCamera *self, const gchar *profile_token,
                                   VigilOnvifPtzStatus *out, GCancellable *cancellable,
                                   GError **error)
{
  const Node *node;
  struct _tptz__GetStatus request = { .ProfileToken = (char *) profile_token };
  struct _tptz__GetStatusResponse response = { 0 };
  gboolean ok = FALSE;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && out != NULL, FALSE);
  memset (out, 0, sizeof *out);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GetStatus", cancellable, error);
  if (node != NULL && vigil_onvif_camera_invoke (self, &self->call, "GetStatus", self->ptz_url,
                                                 call_GetStatus, TRUE, &request, &response,
                                                 cancellable, error))
    {
      const struct tt__PTZStatus *status = response.PTZStatus;

      ok = TRUE;
      if (status != NULL)
        {
          out->has_position = position_from_camera (node, status->Position, &out->pan,
                                                     &out->tilt, &out->zoom);
          if (status->MoveStatus != NULL)
            {
              out->pan_tilt_status = parse_move_status (status->MoveStatus->PanTilt);
              out->zoom_status = parse_move_status (status->MoveStatus->Zoom);
            }
        }
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

/* Called with self->lock held. */
static GPtrArray *
list_presets_locked (VigilOnvifCamera *self, const gchar *profile_token,
                     GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct _tptz__GetPresets request = { .ProfileToken = (char *) profile_token };
  struct _tptz__GetPresetsResponse response = { 0 };
  GPtrArray *presets;

  node = get_node (self, profile_token, "GetPresets", cancellable, error);
  if (node == NULL || !vigil_onvif_camera_invoke (self, &self->call, "GetPresets", self->ptz_url,
                                                  call_GetPresets, TRUE, &request, &response,
                                                  cancellable, error))
    return NULL;
  presets = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_onvif_preset_free);
  for (gint i = 0; i < response.__sizePreset; i++)
    {
      const struct tt__PTZPreset *p = &response.Preset[i];
      VigilOnvifPreset *preset;

      if (!vigil_onvif_is_usable_token (p->token))
        continue;
      preset = g_new0 (VigilOnvifPreset, 1);
      preset->token = g_strdup (p->token);
      preset->name = vigil_onvif_camera_text (p->Name);
      preset->has_position = position_from_camera (node, p->PTZPosition, &preset->pan,
                                                   &preset->tilt, &preset->zoom);
      g_ptr_array_add (presets, preset);
    }
  return presets;
}

GPtrArray *
vigil_onvif_camera_list_presets (VigilOnvifCamera *self, const gchar *profile_token,
                                 GCancellable *cancellable, GError **error)
{
  GPtrArray *presets;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_return_val_if_fail (profile_token != NULL, NULL);
  g_rec_mutex_lock (&self->lock);
  presets = list_presets_locked (self, profile_token, cancellable, error);
  g_rec_mutex_unlock (&self->lock);
  return presets;
}

gchar *
vigil_onvif_camera_set_preset (VigilOnvifCamera *self, const gchar *profile_token,
                               const gchar *name, GCancellable *cancellable, GError **error)
{
  g_autoptr(GPtrArray) presets = NULL;
  struct _tptz__SetPreset request = { .ProfileToken = (char *) profile_token };
  struct _tptz__SetPresetResponse response = { 0 };
  gchar *token = NULL;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), NULL);
  g_return_val_if_fail (profile_token != NULL, NULL);
  if (name == NULL || name[0] == '\0')
    {
      g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_INVALID,
                   "SetPreset on %s: the preset name is empty", self->device_url);
      return NULL;
    }
  g_rec_mutex_lock (&self->lock);
  presets = list_presets_locked (self, profile_token, cancellable, error);
  if (presets != NULL)
    {
      /* A preset of that name is overwritten, not duplicated. */
      for (guint i = 0; i < presets->len; i++)
        {
          VigilOnvifPreset *preset = presets->pdata[i];

          if (g_strcmp0 (preset->name, name) == 0)
            request.PresetToken = preset->token;
        }
      request.PresetName = (char *) name;
      if (vigil_onvif_camera_invoke (self, &self->call, "SetPreset", self->ptz_url, call_SetPreset,
                                     TRUE, &request, &response, cancellable, error))
        {
          if (response.PresetToken != NULL && response.PresetToken[0] != '\0' &&
              vigil_onvif_is_usable_token (response.PresetToken))
            token = g_strdup (response.PresetToken);
          else if (response.PresetToken != NULL && response.PresetToken[0] != '\0')
            g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                         "SetPreset on %s: the preset token in the answer is not UTF-8",
                         self->device_url);
          else if (request.PresetToken != NULL)
            token = g_strdup (request.PresetToken);
          else
            g_set_error (error, VIGIL_ONVIF_ERROR, VIGIL_ONVIF_ERROR_BAD_REPLY,
                         "SetPreset on %s: the answer holds no preset token",
                         self->device_url);
        }
    }
  g_rec_mutex_unlock (&self->lock);
  return token;
}

gboolean
vigil_onvif_camera_goto_preset (VigilOnvifCamera *self, const gchar *profile_token,
                                const gchar *preset_token, gdouble speed,
                                GCancellable *cancellable, GError **error)
{
  const Node *node;
  struct tt__Vector2D speed_pt = { 0 };
  struct tt__Vector1D speed_z = { 0 };
  struct tt__PTZVector speed_vector = { 0 };
  struct _tptz__GotoPreset request = { .ProfileToken = (char *) profile_token,
                                       .PresetToken = (char *) preset_token };
  struct _tptz__GotoPresetResponse response = {};
  gboolean ok = FALSE;
  guint generation;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && preset_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  node = get_node (self, profile_token, "GotoPreset", cancellable, error);
  if (node != NULL)
    {
      request.Speed = fill_speed (node, speed, &speed_vector, &speed_pt, &speed_z,
                                  node_has_zoom (node));
      cancel_pending_stop (self, FALSE);
      generation = begin_move (self);
      ok = vigil_onvif_camera_invoke (self, &self->call, "GotoPreset", self->ptz_url,
                                      call_GotoPreset, TRUE, &request, &response, cancellable,
                                      error);
      end_move (self, generation, ok, profile_token, FALSE, 0, TRUE, TRUE);
    }
  g_rec_mutex_unlock (&self->lock);
  return ok;
}

gboolean
vigil_onvif_camera_remove_preset (VigilOnvifCamera *self, const gchar *profile_token,
                                  const gchar *preset_token, GCancellable *cancellable,
                                  GError **error)
{
  struct _tptz__RemovePreset request = { .ProfileToken = (char *) profile_token,
                                         .PresetToken = (char *) preset_token };
  struct _tptz__RemovePresetResponse response = {};
  gboolean ok = FALSE;

  g_return_val_if_fail (VIGIL_ONVIF_IS_CAMERA (self), FALSE);
  g_return_val_if_fail (profile_token != NULL && preset_token != NULL, FALSE);
  g_rec_mutex_lock (&self->lock);
  if (get_node (self, profile_token, "RemovePreset", cancellable, error) != NULL)
    ok = vigil_onvif_camera_invoke (self, &self->call, "RemovePreset", self->ptz_url,
                                    call_RemovePreset, TRUE, &request, &response, cancellable,
                                    error);
  g_rec_mutex_unlock (&self->lock);
  return ok;
}
