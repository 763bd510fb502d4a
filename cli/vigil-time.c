/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Parsing and showing wall-clock times for operators (see vigil-time.h).
 * ISO 8601 goes through g_date_time_new_from_iso8601() with the local zone
 * as default; this file only fills in what GLib 2.74 does not read itself
 * (minutes without seconds, a date alone, a lower-case z) and adds the
 * relative and today-only forms. It never guesses: text that fits no form
 * is an error, never "now". */
#include "vigil-time.h"

#include <stdlib.h>

/* Relative times beyond this are typing mistakes, and the bound keeps the
 * sums far from gint64 overflow. */
#define RELATIVE_MAX_US ((gint64) 100 * 366 * 24 * 3600 * G_USEC_PER_SEC)

G_DEFINE_QUARK (vigil-time-error-quark, vigil_time_error)

static gboolean
set_invalid (const gchar *text, GError **error)
{
  g_set_error (error, VIGIL_TIME_ERROR, VIGIL_TIME_ERROR_INVALID,
               "cannot read “%s” as a time; use 2026-11-28T14:05:00 or 2026-11-28 14:05 "
               "(local time; add Z or +01:00 for another zone), 14:05[:00] for today, now, "
               "or -30s, -15m, -2h, -1d, +7d", text);
  return FALSE;
}

/* The second @time_us falls in, also for times before 1970. */
static gint64
floor_seconds (gint64 time_us)
{
  return time_us / G_USEC_PER_SEC - (time_us % G_USEC_PER_SEC < 0 ? 1 : 0);
}

static gint64
date_time_to_us (GDateTime *date_time)
{
  return g_date_time_to_unix (date_time) * G_USEC_PER_SEC + g_date_time_get_microsecond (date_time);
}

/* "-15m", "+7d", "-1h30m": a sign, then one or more NUMBER UNIT groups. */
static gboolean
parse_relative (const gchar *text, gint64 now_us, gint64 *out_us)
{
  const gchar *p = text + 1;
  gint64 offset_us = 0;

  if (*p == '\0')
    return FALSE;
  while (*p != '\0')
    {
      guint64 value = 0, unit_us;
      const gchar *digits = p;

      while (g_ascii_isdigit (*p))
        {
          if (p - digits >= 12)
            return FALSE;
          value = value * 10 + (guint64) (*p - '0');
          p++;
        }
      if (p == digits)
        return FALSE;
      switch (*p)
        {
        case 's': unit_us = G_USEC_PER_SEC; break;
        case 'm': unit_us = 60 * G_USEC_PER_SEC; break;
        case 'h': unit_us = 3600 * (guint64) G_USEC_PER_SEC; break;
        case 'd': unit_us = 24 * 3600 * (guint64) G_USEC_PER_SEC; break;
        default: return FALSE;
        }
      p++;
      if (value > (guint64) RELATIVE_MAX_US / unit_us)
        return FALSE;
      offset_us += (gint64) (value * unit_us);
      if (offset_us > RELATIVE_MAX_US)
        return FALSE;
    }
  *out_us = text[0] == '-' ? now_us - offset_us : now_us + offset_us;
  return TRUE;
}

/* "14:05" or "14:05:30": that time on @now_us's local date. */
static gboolean
parse_time_of_day (const gchar *text, gint64 now_us, GTimeZone *zone, gint64 *out_us)
{
  g_autoptr(GRegex) regex = g_regex_new ("^([0-9]{1,2}):([0-9]{2})(?::([0-9]{2}))?$", 0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autoptr(GDateTime) utc = NULL;
  g_autoptr(GDateTime) now = NULL;
  g_autoptr(GDateTime) result = NULL;
  g_autofree gchar *hours = NULL, *minutes = NULL, *seconds = NULL;
  gint h, m, s;

  if (!g_regex_match (regex, text, 0, &match))
    return FALSE;
  hours = g_match_info_fetch (match, 1);
  minutes = g_match_info_fetch (match, 2);
  seconds = g_match_info_fetch (match, 3);   /* "" when absent */
  h = atoi (hours);
  m = atoi (minutes);
  s = seconds[0] != '\0' ? atoi (seconds) : 0;
  if (h > 23 || m > 59 || s > 59)
    return FALSE;

  utc = g_date_time_new_from_unix_utc (floor_seconds (now_us));
  if (utc == NULL)
    return FALSE;
  now = g_date_time_to_timezone (utc, zone);
  /* In a daylight-saving gap GLib moves the time forward, as clocks did. */
  result = g_date_time_new (zone, g_date_time_get_year (now), g_date_time_get_month (now),
                            g_date_time_get_day_of_month (now), h, m, s);
  if (result == NULL)
    return FALSE;
  *out_us = date_time_to_us (result);
  return TRUE;
}

/* The extended forms GLib 2.74 does not read by itself, rewritten to one
 * it does: seconds added to HH:MM, midnight to a date alone, Z upper-cased. */
static gchar *
normalize_iso8601 (const gchar *text)
{
  g_autoptr(GRegex) regex = g_regex_new ("^([0-9]{4}-[0-9]{2}-[0-9]{2})"
                                         "(?:[Tt ]([0-9]{2}:[0-9]{2})(:[0-9]{2}(?:[.,][0-9]+)?)?"
                                         " ?([Zz]|[+-][0-9]{2}(?::?[0-9]{2})?)?)?$",
                                         0, 0, NULL);
  g_autoptr(GMatchInfo) match = NULL;
  g_autofree gchar *date = NULL, *hh_mm = NULL, *seconds = NULL, *zone = NULL;

  if (!g_regex_match (regex, text, 0, &match))
    return NULL;
  date = g_match_info_fetch (match, 1);
  hh_mm = g_match_info_fetch (match, 2);
  seconds = g_match_info_fetch (match, 3);
  zone = g_match_info_fetch (match, 4);
  if (hh_mm == NULL || hh_mm[0] == '\0')
    return g_strconcat (date, "T00:00:00", NULL);
  if (zone != NULL && (zone[0] == 'z' || zone[0] == 'Z'))
    {
      g_free (zone);
      zone = g_strdup ("Z");
    }
  return g_strconcat (date, "T", hh_mm,
                      seconds != NULL && seconds[0] != '\0' ? seconds : ":00",
                      zone != NULL ? zone : "", NULL);
}

static gboolean
parse_iso8601 (const gchar *text, GTimeZone *zone, gint64 *out_us)
{
  g_autofree gchar *normalized = normalize_iso8601 (text);
  g_autoptr(GDateTime) result = NULL;

  result = g_date_time_new_from_iso8601 (normalized != NULL ? normalized : text, zone);
  if (result == NULL)
    return FALSE;
  *out_us = date_time_to_us (result);
  return TRUE;
}

gboolean
vigil_time_parse_at (const gchar *text, gint64 now_us, gint64 *out_us, GError **error)
{
  g_autofree gchar *trimmed = NULL;
  g_autoptr(GTimeZone) zone = NULL;

  g_return_val_if_fail (text != NULL, FALSE);
  g_return_val_if_fail (out_us != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  trimmed = g_strstrip (g_strdup (text));
  if (g_ascii_strcasecmp (trimmed, "now") == 0)
    {
      *out_us = now_us;
      return TRUE;
    }
  if ((trimmed[0] == '-' || trimmed[0] == '+') && parse_relative (trimmed, now_us, out_us))
    return TRUE;

  zone = g_time_zone_new_local ();
  if (parse_time_of_day (trimmed, now_us, zone, out_us))
    return TRUE;
  if (trimmed[0] != '\0' && parse_iso8601 (trimmed, zone, out_us))
    return TRUE;
  return set_invalid (text, error);
}

gboolean
vigil_time_parse (const gchar *text, gint64 *out_us, GError **error)
{
  return vigil_time_parse_at (text, g_get_real_time (), out_us, error);
}

gchar *
vigil_time_format_local (gint64 time_us)
{
  g_autoptr(GDateTime) local = g_date_time_new_from_unix_local (floor_seconds (time_us));

  if (local == NULL)
    return g_strdup_printf ("(%" G_GINT64_FORMAT " µs)", time_us);
  return g_date_time_format (local, "%Y-%m-%d %H:%M:%S");
}

gchar *
vigil_time_format_iso8601 (gint64 time_us)
{
  gint64 seconds = floor_seconds (time_us);
  g_autoptr(GDateTime) whole = g_date_time_new_from_unix_utc (seconds);
  g_autoptr(GDateTime) exact = NULL;

  if (whole == NULL)
    return g_strdup_printf ("(%" G_GINT64_FORMAT " µs)", time_us);
  exact = g_date_time_add (whole, time_us - seconds * G_USEC_PER_SEC);
  return g_date_time_format_iso8601 (exact);
}

gchar *
vigil_time_format_duration (gint64 duration_us)
{
  guint64 us, s;

  if (duration_us < 0)
    {
      g_autofree gchar *positive = vigil_time_format_duration (duration_us == G_MININT64 ? G_MAXINT64
                                                                                         : -duration_us);
      return g_strconcat ("-", positive, NULL);
    }
  us = (guint64) duration_us;
  s = us / G_USEC_PER_SEC;
  if (s == 0)
    return us == 0 ? g_strdup ("0 s") : g_strdup_printf ("%" G_GUINT64_FORMAT " ms", us / 1000);
  if (s < 60)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " s", s);
  if (s < 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " min %02" G_GUINT64_FORMAT " s", s / 60, s % 60);
  if (s < 24 * 3600)
    return g_strdup_printf ("%" G_GUINT64_FORMAT " h %02" G_GUINT64_FORMAT " min", s / 3600, s % 3600 / 60);
  return g_strdup_printf ("%" G_GUINT64_FORMAT " d %02" G_GUINT64_FORMAT " h", s / 86400, s % 86400 / 3600);
}
