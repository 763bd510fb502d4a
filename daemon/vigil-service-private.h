/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What VigilService and the D-Bus object types it serves share: who is
 * calling, the audit log and error replies, and the two things the
 * Manager object asks of the service (a new incident or export object on
 * the bus). Not public: only vigil-service.c and the vigil-*-object.c
 * files include it, and it includes none of the object headers. */
#pragma once

#include "vigil-dbus-generated.h"
#include "vigil-export-job.h"
#include "vigil-rate-limit.h"
#include "vigil-service.h"
#include "vigil-store.h"

G_BEGIN_DECLS

/* Who is calling, looked up from the bus before the handler runs. */
typedef struct {
  gint64  uid;
  gchar  *user;
} VigilCaller;

VigilCaller *vigil_caller_copy (const VigilCaller *caller);
void         vigil_caller_free (VigilCaller *caller);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilCaller, vigil_caller_free)

/* The g-authorize-method hook, in a worker thread: looks the caller up
 * from the bus for vigil_service_get_caller() and asks the object's
 * authority whether the caller may call the method; refuses the call
 * (AccessDenied naming the action, audited) when not, or when it cannot
 * tell who is calling. */
gboolean           vigil_service_authorize_method (GDBusInterfaceSkeleton *interface,
                                                   GDBusMethodInvocation  *invocation);
const VigilCaller *vigil_service_get_caller       (GDBusMethodInvocation *invocation);
/* Appends an audit row; details are NULL-terminated key/value string
 * pairs. A failure to audit is logged as a warning but does not undo the
 * action (the catalog is the same file: it will have failed too). */
void               vigil_service_audit            (VigilStore        *store,
                                                   const VigilCaller *caller,
                                                   const gchar       *action,
                                                   const gchar       *target,
                                                   ...) G_GNUC_NULL_TERMINATED;
/* After a catalog write failed with *@error: if the disk is full
 * (VIGIL_STORE_ERROR_FULL), gives back the storage watchdog's space
 * reserve, clears *@error and returns TRUE: write once more. For an
 * operator's incident on a full disk, above all the release that lets
 * the watchdog delete again; the watchdog makes the reserve again once
 * it fits. */
gboolean           vigil_service_retry_on_full    (VigilStore *store,
                                                   GError    **error);
/* Replies with @error (taken), turned into a VIGIL_ERROR first. */
gboolean           vigil_service_return_error     (GDBusMethodInvocation *invocation,
                                                   GError                *error);
/* Replies with VIGIL_ERROR_INVALID_ARGUMENT and the formatted message. */
gboolean           vigil_service_return_invalid   (GDBusMethodInvocation *invocation,
                                                   const gchar           *format,
                                                   ...) G_GNUC_PRINTF (2, 3);
/* Takes one of @invocation's caller's tokens from @limit; when none is
 * left, answers RateLimited ("too many @what ...") and returns FALSE. */
gboolean           vigil_service_take_rate        (VigilRateLimit        *limit,
                                                   GDBusMethodInvocation *invocation,
                                                   const gchar           *what);
/* Incident @id's object path, putting it on the bus if it is not there
 * (only the most recently used incidents are kept there); NULL with
 * VIGIL_ERROR_UNKNOWN_INCIDENT when there is no such incident. */
gchar             *vigil_service_expose_incident  (VigilService *self,
                                                   gint64        id,
                                                   GError      **error);
/* The per-caller limit on incident creation. */
VigilRateLimit    *vigil_service_get_incident_rate (VigilService *self);
/* Who may call, in a line (polkit, or the session bus's own uid). */
const gchar       *vigil_service_describe_authority (VigilService *self);
/* ISO 8601 in UTC, for audit details. */
gchar             *vigil_service_format_time      (gint64 time_us);

/* Reads incident @id back from the catalog into its object, putting a
 * new incident on the bus, and announces @change on the Manager. */
void               vigil_service_refresh_incident (VigilService *self,
                                                   gint64        id,
                                                   const gchar  *change);
/* Starts an export for the caller of @invocation, puts its object on the
 * bus and answers @invocation with its path, or with why it was refused.
 * When the range reaches into segments still being written, their
 * cameras close them first (within a GOP) and the answer waits for that,
 * at most 15 s: an export up to now holds video up to now. */
void               vigil_service_start_export     (VigilService             *self,
                                                   GDBusMethodInvocation    *invocation,
                                                   const VigilExportRequest *request);

G_END_DECLS
