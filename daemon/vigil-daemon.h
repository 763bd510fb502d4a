/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilDaemon wires vigild together: it opens the catalog, runs crash
 * recovery, loads the export signing key, keeps one VigilCamera per
 * configured camera recording, and runs the monitors (VigilAlerts,
 * VigilHealth, and VigilWatchdog, which applies retention). VigilService
 * puts it on D-Bus. Main thread only. */
#pragma once

#include <glib-object.h>

#include "vigil-alerts.h"
#include "vigil-config.h"
#include "vigil-live-service.h"
#include "vigil-signing.h"
#include "vigil-store.h"
#include "vigil-watchdog.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_DAEMON (vigil_daemon_get_type ())
G_DECLARE_FINAL_TYPE (VigilDaemon, vigil_daemon, VIGIL, DAEMON, GObject)

/* Opens the catalog and runs recovery; no camera records yet. */
VigilDaemon *vigil_daemon_new        (const VigilConfig *config,
                                      GError           **error);
VigilStore  *vigil_daemon_get_store  (VigilDaemon *self);
/* The key that signs exports, or NULL when it could not be loaded. */
VigilSigningKey *vigil_daemon_get_signing_key (VigilDaemon *self);
/* Folders exports must never write into (storage root, state). */
const gchar *const *vigil_daemon_get_private_folders (VigilDaemon *self);
gint64       vigil_daemon_get_started_us (VigilDaemon *self);
VigilAlerts *vigil_daemon_get_alerts (VigilDaemon *self);
guint        vigil_daemon_get_segment_seconds (VigilDaemon *self);
VigilWatchdog *vigil_daemon_get_watchdog (VigilDaemon *self);
/* Live and recorded viewing over RTSP (transfer none). */
VigilLiveService *vigil_daemon_get_live (VigilDaemon *self);
/* Element type VigilCamera, in config order. */
GPtrArray   *vigil_daemon_get_cameras (VigilDaemon *self);
void         vigil_daemon_start      (VigilDaemon *self);
/* Finalises every camera's open segment; ::stopped follows when all are
 * cataloged. */
void         vigil_daemon_stop       (VigilDaemon *self);

G_END_DECLS
