/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilAlerts: hysteresis, storage, signals and the alert command. */
#include "vigil-alerts.h"

#include <gio/gio.h>

/* Alert commands allowed to run at once; more are dropped with a log
 * line (a storm of alerts must not become a storm of processes). */
#define MAX_RUNNING_COMMANDS 4
#define TICK_MS 1000

typedef struct {
  gchar              *kind;
  gchar              *subject;
  VigilAlertSeverity  severity;
  gboolean            holds;
  gint64              since_mono_us;    /* when holds last changed */
  gint64              since_wall_us;
  guint               raise_after_s;
  gchar              *details;
  VigilAlert         *raised;           /* the open alert, or NULL */
  gboolean            unstored;         /* raised while the catalog's disk was full: id 0, stored later */
} Condition;

static void
condition_free (Condition *condition)
{
  g_free (condition->kind);
  g_free (condition->subject);
  g_free (condition->details);
  g_clear_pointer (&condition->raised, vigil_alert_free);
  g_free (condition);
}

struct _VigilAlerts
{
  GObject             parent_instance;
  VigilStore         *store;
  guint               raise_after_s, clear_after_s;
  gchar             **command_argv;     /* NULL without alert_command */
  guint               command_timeout_s;
  guint               running_commands;
  GHashTable         *conditions;       /* "kind\nsubject" → Condition */
  guint               tick_id;
};

G_DEFINE_FINAL_TYPE (VigilAlerts, vigil_alerts, G_TYPE_OBJECT)

enum { SIGNAL_RAISED, SIGNAL_CLEARED, N_SIGNALS };
static guint signals[N_SIGNALS];

/* ---- The alert command ---------------------------------------------- */

typedef struct {
  VigilAlerts  *alerts;
  GSubprocess  *process;
  gchar        *what;
  guint         timeout_id;
  gboolean      timed_out;
} CommandRun;

static void
on_command_exited (GObject *source, GAsyncResult *result, gpointer user_data)
{
  CommandRun *run = user_data;
  g_autoptr(GError) error = NULL;

  g_clear_handle_id (&run->timeout_id, g_source_remove);
  if (!g_subprocess_wait_finish (run->process, result, &error))
    g_warning ("alert command for %s: %s", run->what, error->message);
  else if (run->timed_out)
    g_warning ("alert command for %s did not finish within %u s and was killed", run->what,
               run->alerts->command_timeout_s);
  else if (!g_subprocess_get_if_exited (run->process) || g_subprocess_get_exit_status (run->process) != 0)
    g_warning ("alert command for %s failed (exit status %d)", run->what,
               g_subprocess_get_if_exited (run->process) ? g_subprocess_get_exit_status (run->process) : -1);
  else
    g_debug ("alert command for %s done", run->what);
  run->alerts->running_commands--;
  g_object_unref (run->alerts);
  g_object_unref (run->process);
  g_free (run->what);
  g_free (run);
}

static gboolean
on_command_timeout (gpointer user_data)
{
  CommandRun *run = user_data;

  run->timeout_id = 0;
  run->timed_out = TRUE;
  g_subprocess_force_exit (run->process);
  return G_SOURCE_REMOVE;
}

static gchar *
iso_time (gint64 time_us)
{
  g_autoptr(GDateTime) t = time_us > 0 ? g_date_time_new_from_unix_utc (time_us / G_USEC_PER_SEC) : NULL;
  return t != NULL ? g_date_time_format_iso8601 (t) : g_strdup ("");
}

#define DEFAULT_PATH "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
static const gchar *const clean_environ[] = { NULL };

static void
run_command (VigilAlerts *self, const VigilAlert *alert, const gchar *state)
{
  g_autoptr(GSubprocessLauncher) launcher = NULL;
  g_autoptr(GError) error = NULL;
  g_autofree gchar *id = NULL;
  g_autofree gchar *raised = NULL;
  g_autofree gchar *cleared = NULL;
  CommandRun *run;

  if (self->command_argv == NULL)
    return;
  if (self->running_commands >= MAX_RUNNING_COMMANDS)
    {
      g_warning ("alert command not run for %s %s (%s): %u already running", alert->kind, alert->subject, state,
                 self->running_commands);
      return;
    }
  id = g_strdup_printf ("%" G_GINT64_FORMAT, alert->id);
  raised = iso_time (alert->raised_us);
  cleared = iso_time (alert->cleared_us);
  launcher = g_subprocess_launcher_new (G_SUBPROCESS_FLAGS_STDOUT_SILENCE | G_SUBPROCESS_FLAGS_STDIN_PIPE);
  /* A clean environment: vigild's own may hold camera passwords
   * (password_env=), which are no business of an alert command's. */
  g_subprocess_launcher_set_environ (launcher, (gchar **) clean_environ);
  g_subprocess_launcher_setenv (launcher, "PATH", g_getenv ("PATH") ? g_getenv ("PATH") : DEFAULT_PATH, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_ID", id, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_STATE", state, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_KIND", alert->kind, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_SEVERITY", vigil_alert_severity_to_string (alert->severity),
                                TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_SUBJECT", alert->subject, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_RAISED_AT", raised, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_CLEARED_AT", cleared, TRUE);
  g_subprocess_launcher_setenv (launcher, "VIGIL_ALERT_DETAILS", alert->details ? alert->details : "", TRUE);
  run = g_new0 (CommandRun, 1);
  run->what = g_strdup_printf ("%s %s (%s)", alert->kind, alert->subject, state);
  run->process = g_subprocess_launcher_spawnv (launcher, (const gchar *const *) self->command_argv, &error);
  if (run->process == NULL)
    {
      g_warning ("alert command for %s cannot start: %s", run->what, error->message);
      g_free (run->what);
      g_free (run);
      return;
    }
  run->alerts = g_object_ref (self);
  self->running_commands++;
  run->timeout_id = g_timeout_add_seconds (self->command_timeout_s, on_command_timeout, run);
  g_subprocess_wait_async (run->process, NULL, on_command_exited, run);
}

/* ---- Hysteresis ------------------------------------------------------ */

static void
raise_alert (VigilAlerts *self, Condition *condition)
{
  g_autoptr(GError) error = NULL;

  condition->raised = vigil_store_raise_alert (self->store, condition->kind, condition->severity, condition->subject,
                                               condition->since_wall_us, condition->details, &error);
  if (condition->raised == NULL && g_error_matches (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FULL))
    {
      /* A full disk must not silence the alerts that say so (disk-full-
       * locked, write-error): announced now, stored once there is room. */
      VigilAlert unstored = { 0, condition->kind, condition->severity, condition->subject, condition->since_wall_us,
                              0, condition->details };

      g_info ("%s alert for %s not stored yet: %s", condition->kind, condition->subject, error->message);
      condition->raised = vigil_alert_copy (&unstored);
      condition->unstored = TRUE;
    }
  if (condition->raised == NULL)
    {
      g_warning ("cannot store %s alert for %s: %s", condition->kind, condition->subject, error->message);
      return;
    }
  g_warning ("ALERT %s %s: %s (%s)", vigil_alert_severity_to_string (condition->severity), condition->subject,
             condition->kind, condition->details);
  g_signal_emit (self, signals[SIGNAL_RAISED], 0, condition->raised);
  run_command (self, condition->raised, "raised");
}

/* An alert raised on a full disk goes into the catalog once it fits. */
static void
store_late (VigilAlerts *self, Condition *condition)
{
  g_autoptr(GError) error = NULL;
  VigilAlert *stored = vigil_store_raise_alert (self->store, condition->kind, condition->raised->severity,
                                                condition->subject, condition->raised->raised_us,
                                                condition->raised->details, &error);

  if (stored == NULL)
    return;   /* still full: tried again at the next tick */
  vigil_alert_free (condition->raised);
  condition->raised = stored;
  condition->unstored = FALSE;
}

static void
clear_alert (VigilAlerts *self, Condition *condition)
{
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilAlert) cleared = NULL;

  if (condition->unstored)
    store_late (self, condition);
  if (condition->unstored)
    {
      /* Never stored: the clear is announced all the same. */
      cleared = g_steal_pointer (&condition->raised);
      cleared->cleared_us = MAX (condition->since_wall_us, cleared->raised_us);
      condition->unstored = FALSE;
    }
  else
    cleared = vigil_store_clear_alert (self->store, condition->kind, condition->subject, condition->since_wall_us,
                                       &error);
  g_clear_pointer (&condition->raised, vigil_alert_free);
  if (cleared == NULL)
    {
      g_warning ("cannot clear %s alert for %s: %s", condition->kind, condition->subject, error->message);
      return;
    }
  g_message ("alert cleared: %s %s", condition->subject, condition->kind);
  g_signal_emit (self, signals[SIGNAL_CLEARED], 0, cleared);
  run_command (self, cleared, "cleared");
}

static void
evaluate (VigilAlerts *self, Condition *condition, gint64 now_us)
{
  gint64 held_us = now_us - condition->since_mono_us;

  if (condition->unstored && condition->holds)
    store_late (self, condition);
  if (condition->holds && condition->raised == NULL && held_us >= condition->raise_after_s * G_USEC_PER_SEC)
    raise_alert (self, condition);
  else if (!condition->holds && condition->raised != NULL && held_us >= self->clear_after_s * G_USEC_PER_SEC)
    clear_alert (self, condition);
}

static gboolean
on_tick (gpointer user_data)
{
  VigilAlerts *self = user_data;
  gint64 now_us = g_get_monotonic_time ();
  GHashTableIter iter;
  gpointer value;

  g_hash_table_iter_init (&iter, self->conditions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    evaluate (self, value, now_us);
  return G_SOURCE_CONTINUE;
}

static Condition *
lookup (VigilAlerts *self, const gchar *kind, const gchar *subject, gboolean create)
{
  g_autofree gchar *key = g_strdup_printf ("%s\n%s", kind, subject);
  Condition *condition = g_hash_table_lookup (self->conditions, key);

  if (condition == NULL && create)
    {
      condition = g_new0 (Condition, 1);
      condition->kind = g_strdup (kind);
      condition->subject = g_strdup (subject);
      condition->since_mono_us = g_get_monotonic_time ();
      condition->since_wall_us = g_get_real_time ();
      g_hash_table_insert (self->conditions, g_steal_pointer (&key), condition);
    }
  return condition;
}

void
vigil_alerts_report (VigilAlerts *self, const gchar *kind, const gchar *subject, VigilAlertSeverity severity,
                     gboolean holds, guint raise_after_s, const gchar *details)
{
  Condition *condition;

  g_return_if_fail (VIGIL_IS_ALERTS (self));
  condition = lookup (self, kind, subject, holds);
  if (condition == NULL)
    return;     /* healthy and never seen otherwise: nothing to track */
  if (condition->holds != holds)
    {
      condition->holds = holds;
      condition->since_mono_us = g_get_monotonic_time ();
      condition->since_wall_us = g_get_real_time ();
    }
  if (holds)
    {
      condition->severity = severity;
      condition->raise_after_s = raise_after_s > 0 ? raise_after_s : self->raise_after_s;
      g_free (condition->details);
      condition->details = g_strdup (details ? details : "");
    }
  evaluate (self, condition, g_get_monotonic_time ());
}

gboolean
vigil_alerts_is_raised (VigilAlerts *self, const gchar *kind, const gchar *subject)
{
  Condition *condition;

  g_return_val_if_fail (VIGIL_IS_ALERTS (self), FALSE);
  condition = lookup (self, kind, subject, FALSE);
  return condition != NULL && condition->raised != NULL;
}

GPtrArray *
vigil_alerts_list_raised (VigilAlerts *self, const gchar *subject)
{
  GPtrArray *raised = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_alert_free);
  GHashTableIter iter;
  gpointer value;

  g_return_val_if_fail (VIGIL_IS_ALERTS (self), raised);
  g_hash_table_iter_init (&iter, self->conditions);
  while (g_hash_table_iter_next (&iter, NULL, &value))
    {
      Condition *condition = value;

      if (condition->raised != NULL && (subject == NULL || g_str_equal (condition->subject, subject)))
        g_ptr_array_add (raised, vigil_alert_copy (condition->raised));
    }
  return raised;
}

static void
vigil_alerts_finalize (GObject *object)
{
  VigilAlerts *self = VIGIL_ALERTS (object);

  g_clear_handle_id (&self->tick_id, g_source_remove);
  g_clear_pointer (&self->conditions, g_hash_table_unref);
  g_strfreev (self->command_argv);
  g_clear_object (&self->store);
  G_OBJECT_CLASS (vigil_alerts_parent_class)->finalize (object);
}

static void
vigil_alerts_class_init (VigilAlertsClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_alerts_finalize;
  /* ::raised (VigilAlert), ::cleared (VigilAlert): stored, logged, and
   * about to go to the alert command. */
  signals[SIGNAL_RAISED] = g_signal_new ("raised", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                         NULL, G_TYPE_NONE, 1, VIGIL_TYPE_ALERT | G_SIGNAL_TYPE_STATIC_SCOPE);
  signals[SIGNAL_CLEARED] = g_signal_new ("cleared", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST, 0, NULL, NULL,
                                          NULL, G_TYPE_NONE, 1, VIGIL_TYPE_ALERT | G_SIGNAL_TYPE_STATIC_SCOPE);
}

static void
vigil_alerts_init (VigilAlerts *self)
{
  self->conditions = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, (GDestroyNotify) condition_free);
}

VigilAlerts *
vigil_alerts_new (VigilStore *store, const VigilAlertSettings *settings)
{
  VigilAlerts *self = g_object_new (VIGIL_TYPE_ALERTS, NULL);
  g_autoptr(GPtrArray) open = NULL;
  g_autoptr(GError) error = NULL;

  self->store = g_object_ref (store);
  self->raise_after_s = settings->raise_after_s;
  self->clear_after_s = settings->clear_after_s;
  self->command_timeout_s = MAX (settings->command_timeout_s, 1);
  if (settings->command != NULL && *settings->command != '\0'
      && !g_shell_parse_argv (settings->command, NULL, &self->command_argv, &error))
    g_warning ("alert_command cannot be parsed, not used: %s", error->message);
  g_clear_error (&error);

  open = vigil_store_list_alerts (store, TRUE, 0, 0, &error);
  if (open == NULL)
    g_warning ("cannot read open alerts: %s", error->message);
  for (guint i = 0; open != NULL && i < open->len; i++)
    {
      const VigilAlert *alert = open->pdata[i];
      Condition *condition = lookup (self, alert->kind, alert->subject, TRUE);

      /* Raised, condition not yet observed: it clears unless a monitor
       * sees it again within the clear delay. */
      condition->raised = vigil_alert_copy (alert);
      condition->severity = alert->severity;
      condition->details = g_strdup (alert->details);
      condition->holds = FALSE;
    }
  self->tick_id = g_timeout_add (TICK_MS, on_tick, self);
  return self;
}
