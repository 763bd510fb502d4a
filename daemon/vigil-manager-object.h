/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilManagerObject is the recorder as a whole on D-Bus
 * (org.vigil.Vigil1.Manager, at /org/vigil/Vigil1): status, the camera
 * list, creating and finding incidents, starting exports, the public key,
 * the audit log, alerts and the self-check; it announces camera states,
 * completed segments and alerts. Every method that changes something is
 * audited with its caller. It never puts an incident or export object on
 * the bus itself: VigilService does. Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-dbus-generated.h"
#include "vigil-service.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_MANAGER_OBJECT (vigil_manager_object_get_type ())
G_DECLARE_FINAL_TYPE (VigilManagerObject, vigil_manager_object, VIGIL, MANAGER_OBJECT, VigilDBusManagerSkeleton)

/* Serves @daemon; @cameras are the VigilCameraObjects, in config order;
 * @service (not referenced: it owns this object) makes incident and
 * export objects. */
VigilManagerObject *vigil_manager_object_new (VigilService *service,
                                              VigilDaemon  *daemon,
                                              GPtrArray    *cameras);

G_END_DECLS
