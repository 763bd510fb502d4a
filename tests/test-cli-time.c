/* SPDX-License-Identifier: GPL-2.0-or-later */
/* vigil-time: the times operators type into vigilctl, and how they are
 * shown back. Runs in Europe/Berlin (CET, UTC+1; CEST, UTC+2 in summer)
 * so "local" is fixed; expected instants are built in UTC with that
 * offset applied by hand, never through the code under test. */
#include "vigil-time.h"

/* µs since the epoch of a UTC wall-clock time. */
static gint64
utc_us (gint year, gint month, gint day, gint hour, gint minute, gdouble seconds)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GDateTime) date_time = g_date_time_new (utc, year, month, day, hour, minute, seconds);

  g_assert_nonnull (date_time);
  return g_date_time_to_unix (date_time) * G_USEC_PER_SEC + g_date_time_get_microsecond (date_time);
}

static void
assert_parses_at (const gchar *text, gint64 now_us, gint64 expected_us)
{
  g_autoptr(GError) error = NULL;
  gint64 parsed_us = 0;

  g_test_message ("parsing “%s”", text);
  g_assert_true (vigil_time_parse_at (text, now_us, &parsed_us, &error));
  g_assert_no_error (error);
  g_assert_cmpint (parsed_us, ==, expected_us);
}

static void
test_time_parse_iso8601 (void)
{
  gint64 now_us = utc_us (2030, 1, 1, 0, 0, 0);   /* irrelevant for absolute times */
  gint64 winter_us = utc_us (2026, 11, 28, 13, 5, 0);   /* 14:05 CET */

  assert_parses_at ("2026-11-28T14:05:00", now_us, winter_us);
  assert_parses_at ("2026-11-28 14:05:00", now_us, winter_us);
  assert_parses_at ("2026-11-28 14:05", now_us, winter_us);
  assert_parses_at ("2026-11-28T14:05", now_us, winter_us);
  assert_parses_at ("2026-11-28t14:05", now_us, winter_us);
  assert_parses_at ("  2026-11-28T14:05:00 ", now_us, winter_us);
  assert_parses_at ("20261128T140500", now_us, winter_us);
  assert_parses_at ("2026-11-28T14:05:03.25", now_us, winter_us + 3250000);

  /* An explicit zone wins over the local one. */
  assert_parses_at ("2026-11-28T14:05:00Z", now_us, utc_us (2026, 11, 28, 14, 5, 0));
  assert_parses_at ("2026-11-28T14:05Z", now_us, utc_us (2026, 11, 28, 14, 5, 0));
  assert_parses_at ("2026-11-28 14:05z", now_us, utc_us (2026, 11, 28, 14, 5, 0));
  assert_parses_at ("2026-11-28T14:05:00+01:00", now_us, winter_us);
  assert_parses_at ("2026-11-28T14:05+0100", now_us, winter_us);
  assert_parses_at ("2026-11-28T14:05:00-05:00", now_us, utc_us (2026, 11, 28, 19, 5, 0));
  assert_parses_at ("2026-11-28T14:05:00+05:30", now_us, utc_us (2026, 11, 28, 8, 35, 0));

  /* Summer time: the local offset is that of the date given, not of now. */
  assert_parses_at ("2026-07-01 12:00", now_us, utc_us (2026, 7, 1, 10, 0, 0));
  /* A date alone is local midnight. */
  assert_parses_at ("2026-11-28", now_us, utc_us (2026, 11, 27, 23, 0, 0));
}

static void
test_time_parse_relative (void)
{
  gint64 now_us = utc_us (2026, 11, 28, 13, 5, 0) + 123456;

  assert_parses_at ("now", now_us, now_us);
  assert_parses_at ("NOW", now_us, now_us);
  assert_parses_at ("-30s", now_us, now_us - 30 * G_USEC_PER_SEC);
  assert_parses_at ("-15m", now_us, now_us - 15 * 60 * G_USEC_PER_SEC);
  assert_parses_at ("-2h", now_us, now_us - (gint64) 2 * 3600 * G_USEC_PER_SEC);
  assert_parses_at ("-1d", now_us, now_us - (gint64) 86400 * G_USEC_PER_SEC);
  assert_parses_at ("-1h30m", now_us, now_us - (gint64) 5400 * G_USEC_PER_SEC);
  assert_parses_at ("+30d", now_us, now_us + (gint64) 30 * 86400 * G_USEC_PER_SEC);
  assert_parses_at ("-0s", now_us, now_us);
}

static void
test_time_parse_now_reads_the_clock (void)
{
  g_autoptr(GError) error = NULL;
  gint64 before_us, after_us, parsed_us = 0;

  before_us = g_get_real_time ();
  g_assert_true (vigil_time_parse ("now", &parsed_us, &error));
  after_us = g_get_real_time ();
  g_assert_no_error (error);
  g_assert_cmpint (parsed_us, >=, before_us);
  g_assert_cmpint (parsed_us, <=, after_us);

  before_us = g_get_real_time ();
  g_assert_true (vigil_time_parse ("-15m", &parsed_us, &error));
  after_us = g_get_real_time ();
  g_assert_no_error (error);
  g_assert_cmpint (parsed_us, >=, before_us - 900 * G_USEC_PER_SEC);
  g_assert_cmpint (parsed_us, <=, after_us - 900 * G_USEC_PER_SEC);
}

static void
test_time_parse_time_of_day (void)
{
  /* 14:05 CET on the 28th. */
  gint64 afternoon_us = utc_us (2026, 11, 28, 13, 5, 0);
  /* 00:30 CET on the 29th, still the 28th in UTC: "today" is local. */
  gint64 after_midnight_us = utc_us (2026, 11, 28, 23, 30, 0);
  /* 12:00 CEST: today's offset is summer time. */
  gint64 summer_us = utc_us (2026, 7, 1, 10, 0, 0);

  assert_parses_at ("09:30", afternoon_us, utc_us (2026, 11, 28, 8, 30, 0));
  assert_parses_at ("9:30:15", afternoon_us, utc_us (2026, 11, 28, 8, 30, 15));
  assert_parses_at ("23:59:59", afternoon_us, utc_us (2026, 11, 28, 22, 59, 59));
  assert_parses_at ("00:00", afternoon_us, utc_us (2026, 11, 27, 23, 0, 0));
  assert_parses_at ("09:30", after_midnight_us, utc_us (2026, 11, 29, 8, 30, 0));
  assert_parses_at ("09:30", summer_us, utc_us (2026, 7, 1, 7, 30, 0));
}

static void
test_time_parse_rejects_garbage (void)
{
  static const gchar *const garbage[] = {
    "", "   ", "yesterday", "now-1h", "-", "+", "-15", "15m", "-15x", "--15m", "-15 m", "-1.5h",
    "-999999999999d", "25:00", "14:60", "14:05:61", "1405", "14:5", "2026-02-30T10:00", "2026-13-01",
    "2026-11-28T14", "2026-11-28T14:05:00+25:00", "2026-11-28X14:05", "28.11.2026 14:05", "14:05 today",
    "1764335100", NULL
  };

  for (guint i = 0; garbage[i] != NULL; i++)
    {
      g_autoptr(GError) error = NULL;
      g_autofree gchar *quoted = g_strdup_printf ("“%s”", garbage[i]);
      gint64 parsed_us = 42;

      g_test_message ("rejecting “%s”", garbage[i]);
      g_assert_false (vigil_time_parse_at (garbage[i], 0, &parsed_us, &error));
      g_assert_error (error, VIGIL_TIME_ERROR, VIGIL_TIME_ERROR_INVALID);
      g_assert_nonnull (strstr (error->message, quoted));
      g_assert_nonnull (strstr (error->message, "-15m"));   /* and says what would do */
      g_assert_cmpint (parsed_us, ==, 42);
    }
}

static void
test_time_format_local (void)
{
  g_autofree gchar *winter = vigil_time_format_local (utc_us (2026, 11, 28, 13, 5, 3) + 999999);
  g_autofree gchar *summer = vigil_time_format_local (utc_us (2026, 7, 1, 10, 0, 0));
  g_autofree gchar *epoch = vigil_time_format_local (0);
  g_autofree gchar *before_epoch = vigil_time_format_local (-1);

  g_assert_cmpstr (winter, ==, "2026-11-28 14:05:03");
  g_assert_cmpstr (summer, ==, "2026-07-01 12:00:00");
  g_assert_cmpstr (epoch, ==, "1970-01-01 01:00:00");
  g_assert_cmpstr (before_epoch, ==, "1970-01-01 00:59:59");
}

static void
test_time_format_iso8601 (void)
{
  g_autofree gchar *whole = vigil_time_format_iso8601 (utc_us (2026, 11, 28, 13, 5, 3));
  g_autofree gchar *fraction = vigil_time_format_iso8601 (utc_us (2026, 11, 28, 13, 5, 3) + 250000);
  gint64 round_trip_us = 0;

  g_assert_cmpstr (whole, ==, "2026-11-28T13:05:03Z");
  g_assert_cmpstr (fraction, ==, "2026-11-28T13:05:03.250000Z");
  g_assert_true (vigil_time_parse_at (fraction, 0, &round_trip_us, NULL));
  g_assert_cmpint (round_trip_us, ==, utc_us (2026, 11, 28, 13, 5, 3) + 250000);
}

static void
test_time_format_duration (void)
{
  static const struct {
    gint64       duration_us;
    const gchar *expected;
  } cases[] = {
    { 0, "0 s" },
    { 350000, "350 ms" },
    { 45 * G_USEC_PER_SEC + 999999, "45 s" },
    { 59 * G_USEC_PER_SEC, "59 s" },
    { 60 * G_USEC_PER_SEC, "1 min 00 s" },
    { 725 * G_USEC_PER_SEC, "12 min 05 s" },
    { 3600 * (gint64) G_USEC_PER_SEC, "1 h 00 min" },
    { 3720 * (gint64) G_USEC_PER_SEC, "1 h 02 min" },
    { (3 * 86400 + 4 * 3600 + 59) * (gint64) G_USEC_PER_SEC, "3 d 04 h" },
    { -45 * G_USEC_PER_SEC, "-45 s" },
    { G_MININT64, "-106751991 d 04 h" },
  };

  for (guint i = 0; i < G_N_ELEMENTS (cases); i++)
    {
      g_autofree gchar *text = vigil_time_format_duration (cases[i].duration_us);

      g_assert_cmpstr (text, ==, cases[i].expected);
    }
}

int
main (int argc, char **argv)
{
  /* Before anything asks GLib for the local zone, which it caches. */
  g_setenv ("TZ", "Europe/Berlin", TRUE);
  g_test_init (&argc, &argv, NULL);
  g_test_add_func ("/cli/time/parse-iso8601", test_time_parse_iso8601);
  g_test_add_func ("/cli/time/parse-relative", test_time_parse_relative);
  g_test_add_func ("/cli/time/parse-now-reads-the-clock", test_time_parse_now_reads_the_clock);
  g_test_add_func ("/cli/time/parse-time-of-day", test_time_parse_time_of_day);
  g_test_add_func ("/cli/time/parse-rejects-garbage", test_time_parse_rejects_garbage);
  g_test_add_func ("/cli/time/format-local", test_time_format_local);
  g_test_add_func ("/cli/time/format-iso8601", test_time_format_iso8601);
  g_test_add_func ("/cli/time/format-duration", test_time_format_duration);
  return g_test_run ();
}
