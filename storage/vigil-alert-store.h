/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Alerts in VigilStore's catalog (upgrade-3.sql): raised and cleared by
 * daemon/vigil-alerts.c, which owns the hysteresis; this only keeps the
 * record, one open alert per kind and subject. Main thread only. */
#pragma once

#include "vigil-store.h"

G_BEGIN_DECLS

typedef enum {
  VIGIL_ALERT_WARNING,
  VIGIL_ALERT_CRITICAL,
} VigilAlertSeverity;

const gchar *vigil_alert_severity_to_string (VigilAlertSeverity severity);

typedef struct {
  gint64              id;
  gchar              *kind;
  VigilAlertSeverity  severity;
  gchar              *subject;
  gint64              raised_us;
  gint64              cleared_us;   /* 0 while open */
  gchar              *details;
} VigilAlert;

VigilAlert *vigil_alert_copy (const VigilAlert *alert);
void        vigil_alert_free (VigilAlert *alert);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilAlert, vigil_alert_free)
/* VigilAlert as a boxed type, for signals that carry one. */
#define VIGIL_TYPE_ALERT (vigil_alert_get_type ())
GType       vigil_alert_get_type (void);

/* Opens an alert; if one of this kind and subject is already open, its
 * row is returned unchanged. Returns the open alert, or NULL with @error. */
VigilAlert *vigil_store_raise_alert  (VigilStore         *self,
                                      const gchar        *kind,
                                      VigilAlertSeverity  severity,
                                      const gchar        *subject,
                                      gint64              raised_us,
                                      const gchar        *details,
                                      GError            **error);
/* Closes the open alert of this kind and subject; returns it, or NULL
 * with NOT_FOUND when none is open. */
VigilAlert *vigil_store_clear_alert  (VigilStore  *self,
                                      const gchar *kind,
                                      const gchar *subject,
                                      gint64       cleared_us,
                                      GError     **error);
/* Alerts raised at or after @since_us, or still open when @open_only;
 * newest first, at most @limit (0: all). Element type VigilAlert. */
GPtrArray  *vigil_store_list_alerts  (VigilStore *self,
                                      gboolean    open_only,
                                      gint64      since_us,
                                      guint       limit,
                                      GError    **error);

G_END_DECLS
