/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilAlerts: one model for every alert vigild raises (camera offline,
 * recording stalled, bad picture, disk low, ...).
 *
 * Monitors report, whenever they look, whether a condition holds for a
 * (kind, subject). An alert is raised once the condition has held for its
 * raise delay and cleared once it has been absent for its clear delay, so
 * a flapping camera gives one alert, not a hundred. Raised and cleared
 * alerts are stored in the catalog with the time the condition began and
 * ended, logged, announced (::raised, ::cleared) and handed to the
 * configured alert command, which runs bounded in time and never blocks
 * vigild. One raised while the catalog's disk is full is announced all
 * the same (id 0) and stored once there is room. Main thread only. */
#pragma once

#include <glib-object.h>

#include "vigil-alert-store.h"
#include "vigil-store.h"

G_BEGIN_DECLS

typedef struct {
  guint        raise_after_s;        /* default raise delay */
  guint        clear_after_s;        /* default clear delay */
  const gchar *command;              /* alert_command, or NULL */
  guint        command_timeout_s;    /* killed after this long */
} VigilAlertSettings;

#define VIGIL_TYPE_ALERTS (vigil_alerts_get_type ())
G_DECLARE_FINAL_TYPE (VigilAlerts, vigil_alerts, VIGIL, ALERTS, GObject)

/* Picks up the alerts a previous vigild left open: they stay raised until
 * their condition is seen absent for the clear delay. */
VigilAlerts *vigil_alerts_new    (VigilStore               *store,
                                  const VigilAlertSettings *settings);
/* Reports whether condition @kind holds for @subject now. @raise_after_s
 * of 0 takes the default; @details says what was measured (kept from the
 * last report while it holds). */
void         vigil_alerts_report (VigilAlerts        *self,
                                  const gchar        *kind,
                                  const gchar        *subject,
                                  VigilAlertSeverity  severity,
                                  gboolean            holds,
                                  guint               raise_after_s,
                                  const gchar        *details);
/* Whether an alert of @kind is raised for @subject. */
gboolean     vigil_alerts_is_raised (VigilAlerts *self,
                                     const gchar *kind,
                                     const gchar *subject);
/* Raised alerts of @subject (NULL: all), element type VigilAlert. */
GPtrArray   *vigil_alerts_list_raised (VigilAlerts *self,
                                       const gchar *subject);

G_END_DECLS
