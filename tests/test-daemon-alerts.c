/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilAlerts on a real catalog: a condition shorter than its raise delay
 * raises nothing (no flapping), a longer one raises one alert dated from
 * when it began, it clears only after being absent for the clear delay,
 * it is stored and survives a restart, and an alert command that hangs is
 * killed after its timeout and logged, while vigild goes on. */
#include <glib/gstdio.h>
#include <string.h>

#include "vigil-alerts.h"
#include "vigil-test-util.h"

typedef struct {
  gchar       *dir;
  gchar       *catalog;
  VigilStore  *store;
  VigilAlerts *alerts;
  guint        raised, cleared;
} Fixture;

static void
on_raised (VigilAlerts *alerts, const VigilAlert *alert, Fixture *f)
{
  f->raised++;
}

static void
on_cleared (VigilAlerts *alerts, const VigilAlert *alert, Fixture *f)
{
  f->cleared++;
}

static void
make_alerts (Fixture *f, const gchar *command, guint timeout_s)
{
  VigilAlertSettings settings = { .raise_after_s = 2, .clear_after_s = 2, .command = command,
                                  .command_timeout_s = timeout_s };

  g_clear_object (&f->alerts);
  f->alerts = vigil_alerts_new (f->store, &settings);
  g_signal_connect (f->alerts, "raised", G_CALLBACK (on_raised), f);
  g_signal_connect (f->alerts, "cleared", G_CALLBACK (on_cleared), f);
}

static void
fixture_set_up (Fixture *f, gconstpointer unused)
{
  g_autoptr(GError) error = NULL;

  f->dir = vigil_test_make_tmp_dir ();
  f->catalog = g_build_filename (f->dir, "catalog.db", NULL);
  f->store = vigil_store_new (f->catalog, f->dir, &error);
  g_assert_no_error (error);
  make_alerts (f, NULL, 30);
}

static void
fixture_tear_down (Fixture *f, gconstpointer unused)
{
  g_clear_object (&f->alerts);
  g_clear_object (&f->store);
  g_free (f->catalog);
  vigil_test_remove_tree (g_steal_pointer (&f->dir));
}

static gboolean
on_elapsed (gpointer data)
{
  *(gboolean *) data = TRUE;
  return G_SOURCE_REMOVE;
}

/* Runs the main loop for @ms: what must NOT happen within a delay can
 * only be seen by letting the delay pass. */
static void
run_for (guint ms)
{
  gboolean done = FALSE;

  g_timeout_add (ms, on_elapsed, &done);
  while (!done)
    g_main_context_iteration (NULL, TRUE);
}

static guint
count_open (Fixture *f)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) open = vigil_store_list_alerts (f->store, TRUE, 0, 0, &error);

  g_assert_no_error (error);
  return open->len;
}

typedef struct {
  Fixture *f;
  guint    raised, cleared;
} Counts;

static gboolean
counts_reached (gpointer data)
{
  Counts *counts = data;
  return counts->f->raised >= counts->raised && counts->f->cleared >= counts->cleared;
}

static void
wait_counts (Fixture *f, guint raised, guint cleared, guint timeout_s)
{
  Counts counts = { f, raised, cleared };
  g_assert_true (vigil_test_wait_until (counts_reached, &counts, timeout_s));
}

static void
test_hysteresis (Fixture *f, gconstpointer unused)
{
  gint64 began_us = g_get_real_time ();
  g_autoptr(GError) error = NULL;
  g_autoptr(GPtrArray) all = NULL;

  /* A blip shorter than the raise delay: nothing. */
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, TRUE, 0, "blip");
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, FALSE, 0, NULL);
  run_for (2500);
  g_assert_cmpuint (f->raised, ==, 0);
  g_assert_cmpuint (count_open (f), ==, 0);

  /* Held: one alert, dated from when the condition began. */
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT critical camera a: offline (no video)");
  began_us = g_get_real_time ();
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, TRUE, 0, "no video");
  wait_counts (f, 1, 0, 10);
  g_assert_true (vigil_alerts_is_raised (f->alerts, "offline", "camera a"));
  g_assert_cmpuint (count_open (f), ==, 1);
  /* Reported again and again while it holds: still one alert. */
  for (guint i = 0; i < 5; i++)
    vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, TRUE, 0, "no video");
  g_assert_cmpuint (f->raised, ==, 1);
  g_test_assert_expected_messages ();

  /* Healthy for less than the clear delay, then bad again: no clear. */
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, FALSE, 0, NULL);
  run_for (1000);
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, TRUE, 0, "no video");
  run_for (1500);
  g_assert_cmpuint (f->cleared, ==, 0);

  /* Healthy for good: cleared once. */
  vigil_alerts_report (f->alerts, "offline", "camera a", VIGIL_ALERT_CRITICAL, FALSE, 0, NULL);
  wait_counts (f, 1, 1, 10);
  g_assert_cmpuint (count_open (f), ==, 0);
  all = vigil_store_list_alerts (f->store, FALSE, 0, 0, &error);
  g_assert_no_error (error);
  g_assert_cmpuint (all->len, ==, 1);
  g_assert_cmpint (((VigilAlert *) all->pdata[0])->raised_us, >=, began_us);
  g_assert_cmpint (((VigilAlert *) all->pdata[0])->raised_us, <, began_us + G_USEC_PER_SEC);
  g_assert_cmpstr (((VigilAlert *) all->pdata[0])->details, ==, "no video");
}

/* An alert still open when vigild stops stays raised after a restart
 * until it is seen healthy for the clear delay. */
static void
test_open_alert_survives_restart (Fixture *f, gconstpointer unused)
{
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT warning storage /x: disk-low (3 % free)");
  vigil_alerts_report (f->alerts, "disk-low", "storage /x", VIGIL_ALERT_WARNING, TRUE, 1, "3 % free");
  wait_counts (f, 1, 0, 10);
  g_test_assert_expected_messages ();
  make_alerts (f, NULL, 30);
  g_assert_true (vigil_alerts_is_raised (f->alerts, "disk-low", "storage /x"));
  vigil_alerts_report (f->alerts, "disk-low", "storage /x", VIGIL_ALERT_WARNING, TRUE, 1, "3 % free");
  run_for (2500);
  g_assert_true (vigil_alerts_is_raised (f->alerts, "disk-low", "storage /x"));
  g_assert_cmpuint (f->cleared, ==, 0);
  vigil_alerts_report (f->alerts, "disk-low", "storage /x", VIGIL_ALERT_WARNING, FALSE, 1, NULL);
  wait_counts (f, 1, 1, 10);
  g_assert_cmpuint (count_open (f), ==, 0);
}

/* A command that hangs is killed after its timeout and said so in the
 * log; the alert itself is raised on time regardless. */
static void
test_hanging_command_is_bounded (Fixture *f, gconstpointer unused)
{
  gint64 start_us;

  make_alerts (f, "/bin/sleep 600", 1);
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT critical camera b: offline*");
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING,
                         "alert command for offline camera b (raised) did not finish within 1 s and was killed");
  start_us = g_get_monotonic_time ();
  vigil_alerts_report (f->alerts, "offline", "camera b", VIGIL_ALERT_CRITICAL, TRUE, 1, "gone");
  wait_counts (f, 1, 0, 10);
  g_assert_cmpint (g_get_monotonic_time () - start_us, <, 5 * G_USEC_PER_SEC);
  run_for (3000);
  g_test_assert_expected_messages ();
}

static gboolean
file_exists (gpointer path)
{
  return g_file_test (path, G_FILE_TEST_EXISTS);
}

/* The command sees the alert and PATH, and nothing else of vigild's
 * environment: password_env= puts camera passwords there. */
static void
test_command_gets_a_clean_environment (Fixture *f, gconstpointer unused)
{
  g_autofree gchar *out = g_build_filename (f->dir, "env.txt", NULL);
  g_autofree gchar *done = g_build_filename (f->dir, "env.done", NULL);
  g_autofree gchar *script = g_strdup_printf ("env > %s; touch %s", out, done);
  g_autofree gchar *quoted = g_shell_quote (script);
  g_autofree gchar *command = g_strdup_printf ("/bin/sh -c %s", quoted);
  g_autofree gchar *env = NULL;

  g_setenv ("VIGIL_TEST_CAMERA_PASSWORD", "hunter2", TRUE);
  make_alerts (f, command, 10);
  g_test_expect_message ("vigil-daemon", G_LOG_LEVEL_WARNING, "ALERT critical camera b: offline*");
  vigil_alerts_report (f->alerts, "offline", "camera b", VIGIL_ALERT_CRITICAL, TRUE, 1, "gone");
  g_assert_true (vigil_test_wait_until (file_exists, done, 20));
  g_assert_true (g_file_get_contents (out, &env, NULL, NULL));
  g_assert_nonnull (strstr (env, "VIGIL_ALERT_KIND=offline\n"));
  g_assert_nonnull (strstr (env, "VIGIL_ALERT_SUBJECT=camera b\n"));
  g_assert_nonnull (strstr (env, "PATH="));
  g_assert_null (strstr (env, "hunter2"));
  g_assert_null (strstr (env, "DBUS_SESSION_BUS_ADDRESS"));
  g_test_assert_expected_messages ();
  g_unsetenv ("VIGIL_TEST_CAMERA_PASSWORD");
}

int
main (int argc, char **argv)
{
  g_test_init (&argc, &argv, NULL);
#define ADD(path, fn) g_test_add (path, Fixture, NULL, fixture_set_up, fn, fixture_tear_down)
  ADD ("/daemon/alerts/hysteresis", test_hysteresis);
  ADD ("/daemon/alerts/open-alert-survives-restart", test_open_alert_survives_restart);
  ADD ("/daemon/alerts/hanging-command-is-bounded", test_hanging_command_is_bounded);
  ADD ("/daemon/alerts/command-gets-a-clean-environment", test_command_gets_a_clean_environment);
  return g_test_run ();
}
