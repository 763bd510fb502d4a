/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilWatchdog keeps the storage root from filling up, gets it out of a
 * full disk whatever filled it, and applies retention by age.
 *
 * Every check_seconds, and cheaply each time a segment completes, it
 * reads free bytes and inodes of the file system that holds the storage
 * root (statvfs on the root itself). It reports to VigilAlerts (subject
 * "storage ROOT"): disk-low below the warning threshold; disk-full-locked
 * (critical) when it had to delete but only locked or too-recent
 * recording was left. Below the deletion threshold, which keeps room for
 * several checks' worth of writing at the measured rate as well as the
 * configured percentage (vigil_watchdog_get_thresholds()), and for
 * segments older than a camera's retention, a worker thread with its own
 * catalog connection deletes the oldest unlocked segments (oldest first
 * across all cameras, so every camera keeps the same horizon; never one
 * younger than its camera's minimum retention) until free space is back
 * above the target, in retention's crash-safe order.
 *
 * A full disk. The worker keeps a space reserve (storage/vigil-reserve.h)
 * and gives it back when the disk is full and there is something to
 * delete, so that the catalog can write the rows deletion needs; it makes
 * the reserve again once it fits. A write that failed for want of space
 * (vigil_watchdog_report_full()) starts that at once, and from then on
 * the watchdog looks every second until there is room to record again,
 * which it announces with ::space-available. The main loop never waits
 * for a file system. Main thread API. */
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

/* Free-space levels for one file system, in bytes of free space. */
typedef struct {
  guint64  delete_below_bytes;        /* a deletion pass starts below this */
  guint64  target_bytes;              /* and deletes until this much is free */
  guint64  room_bytes;                /* cameras a full disk stopped resume once this much is free */
  guint64  reserve_bytes;             /* the space reserve's size */
} VigilStorageThresholds;

/* Deletion starts below the larger of delete_free_percent of @total_bytes
 * and 3 periods of writing at @write_bytes_per_s (@period_s: the longest
 * the disk goes unchecked while recording; the rate's part at most half
 * the disk), and goes on until target_free_percent, but at least one more
 * period's writing and the reserve's size, is free. Cameras a full disk
 * stopped resume with a period's writing (at least a reserve's worth,
 * at most the threshold) free. */
void           vigil_watchdog_get_thresholds (const VigilWatchdogSettings *settings,
                                              guint64                      total_bytes,
                                              gdouble                      write_bytes_per_s,
                                              gdouble                      period_s,
                                              VigilStorageThresholds      *out_thresholds);

#define VIGIL_TYPE_WATCHDOG (vigil_watchdog_get_type ())
G_DECLARE_FINAL_TYPE (VigilWatchdog, vigil_watchdog, VIGIL, WATCHDOG, GObject)

VigilWatchdog *vigil_watchdog_new        (VigilAlerts                 *alerts,
                                          const VigilWatchdogSettings *settings);
/* A segment of @duration_ns and @size_bytes from @camera completed: counts
 * towards the measured write rate, and free space is checked (one
 * statvfs), so a small or fast-filling disk is caught between checks. */
void           vigil_watchdog_add_written (VigilWatchdog *self,
                                           const gchar   *camera,
                                           guint64        size_bytes,
                                           gint64         duration_ns);
/* A write (a recording or the catalog) failed for want of space: frees
 * space now, and looks every second until ::space-available. */
void           vigil_watchdog_report_full (VigilWatchdog *self);
/* Checks now (also runs every check_seconds). */
void           vigil_watchdog_check      (VigilWatchdog *self);
gboolean       vigil_watchdog_get_status (VigilWatchdog      *self,
                                          VigilStorageStatus *out_status,
                                          GError            **error);

G_END_DECLS
