/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilWatchdog keeps the storage root from filling up, and applies
 * retention by age.
 *
 * Every check_seconds it reads free bytes and inodes of the file system
 * that holds the storage root (statvfs on the root itself) and reports to
 * VigilAlerts (subject "storage ROOT"): disk-low below the warning
 * threshold; disk-full-locked (critical) when it had to delete but only
 * locked or too-recent recording was left. Below the deletion threshold,
 * and for segments older than a camera's retention, a worker thread with
 * its own catalog connection deletes the oldest unlocked segments (oldest
 * first across all cameras, so every camera keeps the same horizon; never
 * one younger than its camera's minimum retention) until free space is
 * back above the target, in retention's crash-safe order. The main loop
 * never waits for a file system. Main thread API. */
#pragma once

#include <glib-object.h>

#include "vigil-alerts.h"

G_BEGIN_DECLS

typedef struct {
  const gchar *root;
  const gchar *catalog;
  guint        check_seconds;         /* default 30 */
  gdouble      warn_free_percent;     /* default 10 */
  gdouble      delete_free_percent;   /* default 5: below this, delete */
  gdouble      target_free_percent;   /* default 8: delete until above this */
  gdouble      warn_free_hours;       /* 0: off; warn when free space lasts fewer hours at the measured write rate */
  gdouble      min_free_inodes_percent; /* default 2 */
  GHashTable  *retention_days;        /* camera → guint days as GUINT_TO_POINTER; absent or 0: keep until space is needed */
  GHashTable  *min_retention_days;    /* camera → guint days; never deleted for space while younger */
} VigilWatchdogSettings;

typedef struct {
  guint64  free_bytes, total_bytes;
  guint64  free_inodes, total_inodes;
  gdouble  write_bytes_per_s;         /* completed segments over the last hour; 0 until known */
  gdouble  hours_left;                /* at that rate; -1 when unknown */
} VigilStorageStatus;

#define VIGIL_TYPE_WATCHDOG (vigil_watchdog_get_type ())
G_DECLARE_FINAL_TYPE (VigilWatchdog, vigil_watchdog, VIGIL, WATCHDOG, GObject)

VigilWatchdog *vigil_watchdog_new        (VigilAlerts                 *alerts,
                                          const VigilWatchdogSettings *settings);
/* Counts @size_bytes towards the measured write rate. */
void           vigil_watchdog_add_written (VigilWatchdog *self,
                                           guint64        size_bytes);
/* Checks now (also runs every check_seconds). */
void           vigil_watchdog_check      (VigilWatchdog *self);
gboolean       vigil_watchdog_get_status (VigilWatchdog      *self,
                                          VigilStorageStatus *out_status,
                                          GError            **error);

G_END_DECLS
