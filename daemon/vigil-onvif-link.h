/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilOnvifLink is what vigild knows of one camera configured by onvif=:
 * the ONVIF client, the profile it records (and its sub-stream, if any),
 * the device's make, model, firmware and clock, and whether it can pan,
 * tilt and zoom. Every exchange with the camera runs on a worker thread
 * (GTask), never on the main loop; results come back on the main thread,
 * where the getters may be used. It never logs the password. */
#pragma once

#include <gio/gio.h>

#include "vigil-onvif.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *device_url;      /* onvif= */
  const gchar *profile;         /* onvif_profile=: token or name; NULL for the camera's first */
  const gchar *user;
  const gchar *password;
  gboolean     keep_addresses;  /* onvif_keep_addresses= */
} VigilOnvifLinkOptions;

/* What a PTZ request asks; presets are named by the operator, the link
 * finds their device-chosen tokens. */
typedef enum {
  VIGIL_PTZ_MOVE,            /* velocities pan, tilt, zoom for duration_ms, then stop */
  VIGIL_PTZ_STOP,
  VIGIL_PTZ_GOTO,            /* absolute position; zoom < 0 leaves it */
  VIGIL_PTZ_MOVE_BY,         /* relative translation */
  VIGIL_PTZ_STATUS,
  VIGIL_PTZ_LIST_PRESETS,
  VIGIL_PTZ_SAVE_PRESET,     /* current position as preset */
  VIGIL_PTZ_GOTO_PRESET,
  VIGIL_PTZ_REMOVE_PRESET,
} VigilPtzAction;

typedef struct {
  VigilPtzAction action;
  gdouble        pan, tilt, zoom;
  gdouble        speed;           /* 0..1; negative for the camera's default */
  guint          duration_ms;     /* VIGIL_PTZ_MOVE */
  const gchar   *preset;          /* the preset actions: its name (or token) */
} VigilPtzRequest;

typedef struct {
  VigilOnvifPtzStatus status;     /* VIGIL_PTZ_STATUS */
  GPtrArray          *presets;    /* VIGIL_PTZ_LIST_PRESETS: VigilOnvifPreset */
  gchar              *preset_token;  /* VIGIL_PTZ_SAVE_PRESET */
} VigilPtzReply;
void vigil_ptz_reply_free (VigilPtzReply *reply);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilPtzReply, vigil_ptz_reply_free)

/* "move", "stop", ...: for the audit log and messages. */
const gchar *vigil_ptz_action_to_string (VigilPtzAction action);

#define VIGIL_TYPE_ONVIF_LINK (vigil_onvif_link_get_type ())
G_DECLARE_FINAL_TYPE (VigilOnvifLink, vigil_onvif_link, VIGIL, ONVIF_LINK, GObject)

VigilOnvifLink *vigil_onvif_link_new (const VigilOnvifLinkOptions *options,
                                      GError                     **error);
const gchar    *vigil_onvif_link_get_device_url (VigilOnvifLink *self);

/* Connects, reads the device and its profiles, picks the profile to record
 * and returns its RTSP address. */
void     vigil_onvif_link_resolve_async  (VigilOnvifLink      *self,
                                          GCancellable        *cancellable,
                                          GAsyncReadyCallback  callback,
                                          gpointer             user_data);
gchar   *vigil_onvif_link_resolve_finish (VigilOnvifLink *self,
                                          GAsyncResult   *result,
                                          GError        **error);

/* The password the next resolve logs in with (a corrected password
 * file); handed to the camera on the worker thread, so the caller never
 * waits for a request in progress. Main thread. */
void     vigil_onvif_link_set_password   (VigilOnvifLink      *self,
                                          const gchar         *password);

/* After a successful resolve; NULL or FALSE before. */
gboolean                    vigil_onvif_link_is_resolved     (VigilOnvifLink *self);
const VigilOnvifDeviceInfo *vigil_onvif_link_get_device_info (VigilOnvifLink *self);
const gchar                *vigil_onvif_link_get_profile     (VigilOnvifLink *self);
/* The sub-stream's address (a second, smaller profile; see
 * vigil_onvif_choose_profiles()), or NULL. */
const gchar                *vigil_onvif_link_get_sub_stream_url (VigilOnvifLink *self);
gboolean                    vigil_onvif_link_has_ptz         (VigilOnvifLink *self);

/* Runs @request against the recorded profile's PTZ node; fails with
 * VIGIL_ONVIF_ERROR_NOT_SUPPORTED when the camera has none, and
 * VIGIL_ONVIF_ERROR_INVALID for an unknown preset name. */
void           vigil_onvif_link_ptz_async  (VigilOnvifLink        *self,
                                            const VigilPtzRequest *request,
                                            GCancellable          *cancellable,
                                            GAsyncReadyCallback    callback,
                                            gpointer               user_data);
VigilPtzReply *vigil_onvif_link_ptz_finish (VigilOnvifLink *self,
                                            GAsyncResult   *result,
                                            GError        **error);

/* Of @profiles (VigilOnvifProfile), the one to record: the one whose token
 * or name is @wanted, or without @wanted the first H.264/H.265 one; and
 * the sub-stream for frame health (NULL when none): the smallest other
 * H.264/H.265 profile with a smaller picture that is at least
 * VIGIL_FRAME_HEALTH_WORKING_WIDTH wide, else the smallest. FALSE when there
 * is nothing to record. Pure; for the resolver and its tests. */
gboolean vigil_onvif_choose_profiles (GPtrArray                *profiles,
                                      const gchar              *wanted,
                                      const VigilOnvifProfile **out_main,
                                      const VigilOnvifProfile **out_sub);

G_END_DECLS
