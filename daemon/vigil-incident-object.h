/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilIncidentObject is one incident on D-Bus (org.vigil.Vigil1.Incident,
 * at /org/vigil/Vigil1/Incident/ID). Its properties mirror the incident's
 * catalog row; notes, tags, closing, release and expiry are written to the
 * catalog, audited under the caller's name, read back, and announced with
 * the Manager's IncidentChanged. The catalog is the truth: this object
 * never changes an incident it has not first stored. Main thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-dbus-generated.h"
#include "vigil-incidents.h"
#include "vigil-rate-limit.h"

G_BEGIN_DECLS

#define VIGIL_TYPE_INCIDENT_OBJECT (vigil_incident_object_get_type ())
G_DECLARE_FINAL_TYPE (VigilIncidentObject, vigil_incident_object, VIGIL, INCIDENT_OBJECT, VigilDBusIncidentSkeleton)

/* An incident may start or end at most this far in the future (clock skew). */
#define VIGIL_INCIDENT_FUTURE_SLACK_US (G_GINT64_CONSTANT (60) * G_USEC_PER_SEC)

/* Incident @id's object path. */
gchar               *vigil_incident_object_build_path   (gint64 id);
/* The id in an incident's object path; FALSE for any other path. */
gboolean             vigil_incident_object_parse_path   (const gchar *path,
                                                         gint64      *out_id);
/* "incident ID": how the audit log names incident @id. */
gchar               *vigil_incident_object_build_target (gint64 id);

/* Shows @incident, read from @store; changes are announced on @manager;
 * notes and tag changes are limited per caller by @changes (shared by
 * every incident). */
VigilIncidentObject *vigil_incident_object_new          (VigilStore          *store,
                                                         VigilDBusManager    *manager,
                                                         VigilRateLimit      *changes,
                                                         const VigilIncident *incident);
/* Reads the incident back from the catalog and announces @change ("note",
 * "closed", ...) on the Manager; logs a warning if it cannot be read. */
void                 vigil_incident_object_refresh      (VigilIncidentObject *self,
                                                         const gchar         *change);

G_END_DECLS
