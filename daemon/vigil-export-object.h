/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportObject is one export job on D-Bus (org.vigil.Vigil1.Export,
 * at /org/vigil/Vigil1/Export/N): its properties follow the
 * VigilExportJob's progress and outcome, its end is audited under the
 * name of the caller who started it, and Cancel stops it. It never starts
 * the job or puts itself on the bus: VigilService does both. Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-dbus-generated.h"
#include "vigil-export-job.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_EXPORT_OBJECT (vigil_export_object_get_type ())
G_DECLARE_FINAL_TYPE (VigilExportObject, vigil_export_object, VIGIL, EXPORT_OBJECT, VigilDBusExportSkeleton)

/* Follows @job (not started yet), auditing to @store; the caller of
 * @invocation, the call that asked for the export, owns it. */
VigilExportObject *vigil_export_object_new     (VigilExportJob        *job,
                                                VigilStore            *store,
                                                GDBusMethodInvocation *invocation);
VigilExportJob    *vigil_export_object_get_job (VigilExportObject *self);

G_END_DECLS
