/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveService: vigild's side of live and recorded viewing. From the
 * [live] group it builds a VigilLiveServer (pipelines/), mounts every
 * camera's live feed (CAM), sub-stream (CAM/sub) and recording
 * (CAM/playback, with the catalog as the list of segments), and writes
 * each viewing session to the audit log: who, which camera, from where,
 * live or which recorded range, when it started and how long it lasted.
 *
 * It must never hold up recording: the server runs on its own thread, and
 * the catalog is read on the main thread in short lookups. A server that
 * cannot start (no htdigest file, a bad one, the port taken) is said once
 * in the log and in the state GetStatus reports, and vigild records on. */
#pragma once

#include <glib-object.h>

#include "vigil-config.h"
#include "vigil-live-server.h"
#include "vigil-store.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_LIVE_SERVICE (vigil_live_service_get_type ())
G_DECLARE_FINAL_TYPE (VigilLiveService, vigil_live_service, VIGIL, LIVE_SERVICE, GObject)

/* @cameras: VigilCamera, referenced. Main thread, as all of this. */
VigilLiveService *vigil_live_service_new   (const VigilConfig *config,
                                            VigilStore        *store,
                                            GPtrArray         *cameras);
/* Starts serving, if [live] allows; FALSE when it does not serve (the
 * reason is in the state). */
gboolean          vigil_live_service_start (VigilLiveService *self);
void              vigil_live_service_stop  (VigilLiveService *self);
gboolean          vigil_live_service_is_serving (VigilLiveService *self);
/* One line: "serving rtsp://127.0.0.1:8554/", "off: ..." with the reason. */
const gchar      *vigil_live_service_get_state  (VigilLiveService *self);
/* rtsp://ADDRESS:PORT/ (no credentials), or NULL when not serving. */
gchar            *vigil_live_service_get_base_url (VigilLiveService *self);
/* The sessions going on; element type VigilLiveSession. */
GPtrArray        *vigil_live_service_list_sessions (VigilLiveService *self);

G_END_DECLS
