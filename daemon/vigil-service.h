/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilService puts a VigilDaemon on D-Bus (org.vigil.Vigil1, described
 * in daemon/dbus/org.vigil.Vigil1.xml): the Manager object, one object per
 * camera, incident and export job (VigilManagerObject, VigilCameraObject,
 * VigilIncidentObject, VigilExportObject), under an ObjectManager at
 * /org/vigil/Vigil1. Every call that changes something is written to the
 * audit log with the caller's uid and user name, which are looked up from
 * the bus in a worker thread before the call is handled (the
 * g-authorize-method hook), where the caller's right to the method is
 * checked too (vigil-authority.h). Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-authority.h"
#include "vigil-daemon.h"

G_BEGIN_DECLS

#define VIGIL_DBUS_NAME "org.vigil.Vigil1"
#define VIGIL_DBUS_PATH "/org/vigil/Vigil1"

#define VIGIL_TYPE_SERVICE (vigil_service_get_type ())
G_DECLARE_FINAL_TYPE (VigilService, vigil_service, VIGIL, SERVICE, GObject)

/* Exports every object on @connection (before the bus name is owned, so
 * a client that sees the name finds the objects); @authority says who
 * may call them (polkit on the system bus, vigild's own uid on a session
 * bus). */
VigilService *vigil_service_new (VigilDaemon        *daemon,
                                 GDBusConnection    *connection,
                                 VigilAuthorityKind  authority,
                                 GError            **error);

G_END_DECLS
