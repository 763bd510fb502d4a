/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilBus keeps vigild on D-Bus without ever letting the bus stop the
 * recording. It connects on a connection of its own (GLib's shared bus
 * connection ends the process when the bus goes: a bus restart, or a
 * reply the bus refuses as too large, would stop every camera), puts the
 * objects on it (VigilService) and owns the name. When the bus goes away
 * or the name is lost, it drops the objects and tries again, 1 s doubling
 * to 30 s apart, while the cameras go on recording. Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-daemon.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_BUS (vigil_bus_get_type ())
G_DECLARE_FINAL_TYPE (VigilBus, vigil_bus, VIGIL, BUS, GObject)

/* @bus_type is G_BUS_TYPE_SYSTEM, or G_BUS_TYPE_SESSION for the demo and
 * tests. Connects at once, asynchronously. */
VigilBus *vigil_bus_new             (VigilDaemon *daemon,
                                     GBusType     bus_type);
/* Leaves the bus for good (at exit): no more attempts. */
void      vigil_bus_stop            (VigilBus *self);
/* Whether the objects are on the bus and the name is vigild's. */
gboolean  vigil_bus_is_serving      (VigilBus *self);

G_END_DECLS
