/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Wall-clock times as operators type and read them: parsing what is given
 * on vigilctl's command line into gint64 µs since the Unix epoch, and
 * showing times and durations back in local time. Text without a zone is
 * local time (the TZ environment variable, else /etc/localtime). Never
 * reads or writes anything but the clock and the time zone database.
 * Any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_TIME_ERROR (vigil_time_error_quark ())
typedef enum {
  VIGIL_TIME_ERROR_INVALID,   /* not a time in any accepted form; the message quotes the text */
} VigilTimeError;
GQuark vigil_time_error_quark (void);

/* Accepted forms, surrounding spaces ignored:
 *   2026-11-28T14:05:00, 2026-11-28 14:05[:00[.frac]]   local time
 *   the same ending in Z, +01:00, +0100 or +01          that zone
 *   2026-11-28                                          local midnight
 *   14:05[:00]                                          today, local time
 *   now
 *   -30s, -15m, -2h, -1d, -1h30m; +7d and so on         relative to now
 * plus any other ISO 8601 form g_date_time_new_from_iso8601() reads.
 * "Now" and "today" are taken from @now_us. Returns FALSE with
 * VIGIL_TIME_ERROR_INVALID, naming @text and the accepted forms. */
gboolean  vigil_time_parse_at         (const gchar *text,
                                       gint64       now_us,
                                       gint64      *out_us,
                                       GError     **error);
/* vigil_time_parse_at() with g_get_real_time() as now. */
gboolean  vigil_time_parse            (const gchar *text,
                                       gint64      *out_us,
                                       GError     **error);

/* "2026-11-28 14:05:03", local time, whole seconds (rounded down). */
gchar    *vigil_time_format_local     (gint64 time_us);
/* "2026-11-28T13:05:03Z" or with ".250000" before the Z: UTC, for
 * machine output. */
gchar    *vigil_time_format_iso8601   (gint64 time_us);
/* "350 ms", "45 s", "12 min 05 s", "1 h 02 min", "3 d 04 h"; truncated
 * to the smaller unit; negative durations get a leading "-". */
gchar    *vigil_time_format_duration  (gint64 duration_us);

G_END_DECLS
