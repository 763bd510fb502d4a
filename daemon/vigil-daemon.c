/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilDaemon: catalog + recovery + one supervisor per camera. */
#include "vigil-daemon.h"

#include <string.h>

#include "vigil-audit.h"
#include "vigil-camera.h"
#include "vigil-health.h"
#include "vigil-live-service.h"
#include "vigil-recovery.h"

struct _VigilDaemon
{
  GObject      parent_instance;
  VigilStore  *store;
  VigilSigningKey *signing_key;  /* NULL when it could not be loaded: exports fail, recording goes on */
  gchar       *public_key_pem;   /* the signing key's, for checking the audit log's signed head */
  gchar      **private_folders;  /* storage root and state folders: never an export destination */
  gint64       started_us;
  guint        segment_seconds;
  VigilAlerts *alerts;
  VigilHealth *health;
  VigilWatchdog *watchdog;
  VigilHealthPool *health_pool;  /* frame health's decoders, shared by all cameras */
  GPtrArray   *cameras;        /* VigilCamera */
  VigilLiveService *live;      /* viewers over RTSP */
  guint        running;        /* cameras not yet stopped, while stopping */
  gboolean     stopping;
};

G_DEFINE_FINAL_TYPE (VigilDaemon, vigil_daemon, G_TYPE_OBJECT)

enum { SIGNAL_STOPPED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
on_camera_stopped (VigilCamera *camera, VigilDaemon *self)
{
  g_autoptr(GError) error = NULL;

  g_return_if_fail (self->running > 0);
  if (--self->running == 0)
    {
      g_message ("all cameras stopped; every open segment is cataloged");
      if (vigil_store_append_audit (self->store, g_get_real_time (), -1, "vigild", "vigild-stop", "", "{}", &error)
          == 0)
        g_warning ("audit log: %s", error->message);
      g_signal_emit (self, signals[SIGNAL_STOPPED], 0);
    }
}

void
vigil_daemon_start (VigilDaemon *self)
{
  g_return_if_fail (VIGIL_IS_DAEMON (self));
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_start (self->cameras->pdata[i]);
  vigil_watchdog_check (self->watchdog);
  vigil_live_service_start (self->live);
}

void
vigil_daemon_stop (VigilDaemon *self)
{
  g_return_if_fail (VIGIL_IS_DAEMON (self));
  if (self->stopping)
    return;
  self->stopping = TRUE;
  /* Viewers first: their sessions end ("server stopped") and are audited
   * while the catalog is still open. */
  vigil_live_service_stop (self->live);
  self->running = self->cameras->len + 1;     /* +1 holds ::stopped until every stop was asked */
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_stop (self->cameras->pdata[i]);
  on_camera_stopped (NULL, self);
}

guint
vigil_daemon_get_segment_seconds (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), 0);
  return self->segment_seconds;
}

VigilAlerts *
vigil_daemon_get_alerts (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->alerts;
}

VigilLiveService *
vigil_daemon_get_live (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->live;
}

VigilWatchdog *
vigil_daemon_get_watchdog (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->watchdog;
}

static void
on_segment_written (VigilCamera *camera, const gchar *path, VigilDaemon *self)
{
  const VigilSegment *segment = vigil_camera_get_last_segment (camera);

  if (segment != NULL)
    vigil_watchdog_add_written (self->watchdog, vigil_camera_get_name (camera), segment->size_bytes,
                                segment->media_duration_ns);
}

/* A write failed for want of space: the watchdog frees some now, not at
 * its next check. */
static void
on_camera_disk_full (VigilCamera *camera, VigilDaemon *self)
{
  vigil_watchdog_report_full (self->watchdog);
}

/* Cameras a full disk stopped record again within a second of there
 * being room, not after their 30 s fallback. */
static void
on_watchdog_space_available (VigilWatchdog *watchdog, VigilDaemon *self)
{
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_retry_now (self->cameras->pdata[i]);
}

/* Alerts, recording health and the storage watchdog, from the config. */
static void
start_monitors (VigilDaemon *self, const VigilConfig *config)
{
  VigilAlertSettings alert_settings = {
    .raise_after_s = config->alert_raise_after_s, .clear_after_s = config->alert_clear_after_s,
    .command = config->alert_command, .command_timeout_s = config->alert_command_timeout_s,
  };
  VigilHealthSettings health_settings = {
    .offline_seconds = config->offline_seconds, .reconnects_per_hour = config->reconnects_per_hour,
    .low_rate_fraction = config->low_rate_fraction, .segment_seconds = config->segment_seconds,
    .stalled_seconds = config->stalled_seconds, .clock_drift_seconds = config->clock_drift_seconds,
  };
  g_autoptr(GHashTable) retention = g_hash_table_new (g_str_hash, g_str_equal);
  g_autoptr(GHashTable) min_retention = g_hash_table_new (g_str_hash, g_str_equal);
  VigilWatchdogSettings watchdog_settings = {
    .root = config->root, .catalog = config->catalog, .check_seconds = config->watchdog_seconds,
    .warn_free_percent = config->warn_free_percent, .delete_free_percent = config->delete_free_percent,
    .target_free_percent = config->target_free_percent, .warn_free_hours = config->warn_free_hours,
    .min_free_inodes_percent = config->min_free_inodes_percent,
    .retention_days = retention, .min_retention_days = min_retention,
  };

  for (guint i = 0; i < config->cameras->len; i++)
    {
      const VigilCameraConfig *camera = config->cameras->pdata[i];

      if (camera->retention_days > 0)
        g_hash_table_insert (retention, camera->name, GUINT_TO_POINTER (camera->retention_days));
      if (camera->min_retention_days > 0)
        g_hash_table_insert (min_retention, camera->name, GUINT_TO_POINTER (camera->min_retention_days));
    }
  if (g_hash_table_size (retention) == 0)
    watchdog_settings.retention_days = NULL;
  self->alerts = vigil_alerts_new (self->store, &alert_settings);
  self->health = vigil_health_new (self->alerts, self->cameras, &health_settings);
  self->watchdog = vigil_watchdog_new (self->alerts, &watchdog_settings);
  g_signal_connect (self->watchdog, "space-available", G_CALLBACK (on_watchdog_space_available), self);
  for (guint i = 0; i < self->cameras->len; i++)
    {
      g_signal_connect (self->cameras->pdata[i], "segment-completed", G_CALLBACK (on_segment_written), self);
      g_signal_connect (self->cameras->pdata[i], "disk-full", G_CALLBACK (on_camera_disk_full), self);
    }
}

VigilSigningKey *
vigil_daemon_get_signing_key (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->signing_key;
}

const gchar *const *
vigil_daemon_get_private_folders (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return (const gchar *const *) self->private_folders;
}

gint64
vigil_daemon_get_started_us (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), 0);
  return self->started_us;
}

VigilStore *
vigil_daemon_get_store (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->store;
}

GPtrArray *
vigil_daemon_get_cameras (VigilDaemon *self)
{
  g_return_val_if_fail (VIGIL_IS_DAEMON (self), NULL);
  return self->cameras;
}

static void
vigil_daemon_dispose (GObject *object)
{
  VigilDaemon *self = VIGIL_DAEMON (object);

  if (self->cameras != NULL)
    for (guint i = 0; i < self->cameras->len; i++)
      g_signal_handlers_disconnect_by_data (self->cameras->pdata[i], self);
  g_clear_object (&self->live);
  g_clear_object (&self->health);
  if (self->watchdog != NULL)
    g_signal_handlers_disconnect_by_data (self->watchdog, self);
  g_clear_object (&self->watchdog);
  g_clear_object (&self->alerts);
  g_clear_pointer (&self->cameras, g_ptr_array_unref);
  g_clear_object (&self->store);
  g_clear_object (&self->health_pool);
  g_clear_pointer (&self->signing_key, vigil_signing_key_free);
  g_clear_pointer (&self->public_key_pem, g_free);
  g_clear_pointer (&self->private_folders, g_strfreev);
  G_OBJECT_CLASS (vigil_daemon_parent_class)->dispose (object);
}

static void
vigil_daemon_class_init (VigilDaemonClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_daemon_dispose;
  /* ::stopped: after vigil_daemon_stop(), every camera has stopped. */
  signals[SIGNAL_STOPPED] = g_signal_new ("stopped", G_TYPE_FROM_CLASS (klass), G_SIGNAL_RUN_LAST,
                                          0, NULL, NULL, NULL, G_TYPE_NONE, 0);
}

static void
vigil_daemon_init (VigilDaemon *self)
{
  self->cameras = g_ptr_array_new_with_free_func (g_object_unref);
  /* Sized by the cores, whatever the number of cameras. */
  self->health_pool = vigil_health_pool_new (0);
}

/* A missing or unsafe key must not stop recording: exports say why they
 * cannot be signed, and the log says it once here. */
static void
load_signing_key (VigilDaemon *self, const VigilConfig *config)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *catalog_folder = g_path_get_dirname (config->catalog);
  g_autofree gchar *key_folder = g_path_get_dirname (config->signing_key);
  g_autofree gchar *fingerprint = NULL;
  const gchar *folders[] = { config->root, catalog_folder, key_folder, NULL };
  gboolean created = FALSE;

  self->private_folders = g_strdupv ((gchar **) folders);
  self->signing_key = vigil_signing_key_load_or_create (config->signing_key, &created, &error);
  if (self->signing_key == NULL)
    {
      g_warning ("exports cannot be signed: %s", error->message);
      return;
    }
  fingerprint = vigil_signing_key_get_fingerprint (self->signing_key);
  g_message ("%s export signing key %s, SHA-256 %s", created ? "created" : "loaded", config->signing_key,
             fingerprint);
}

/* The audit log's head is signed with the export key (vigil-audit.h). */
static GBytes *
sign_audit_head (const gchar *statement, gpointer user_data, GError **error)
{
  VigilDaemon *self = user_data;

  return vigil_signing_key_sign (self->signing_key, (const guint8 *) statement, strlen (statement), error);
}

static gboolean
verify_audit_head (const gchar *statement, GBytes *signature, gpointer user_data, GError **error)
{
  VigilDaemon *self = user_data;

  return vigil_signing_verify (self->public_key_pem, (const guint8 *) statement, strlen (statement), signature,
                               error);
}

VigilDaemon *
vigil_daemon_new (const VigilConfig *config, GError **error)
{
  g_autoptr(VigilDaemon) self = g_object_new (VIGIL_TYPE_DAEMON, NULL);
  VigilRecoveryReport report;

  self->started_us = g_get_real_time ();
  self->segment_seconds = config->segment_seconds;
  self->store = vigil_store_new (config->catalog, config->root, error);
  if (self->store == NULL)
    return NULL;
  load_signing_key (self, config);
  if (self->signing_key != NULL)
    {
      /* The store is disposed before the key (vigil_daemon_dispose()). */
      self->public_key_pem = vigil_signing_key_get_public_pem (self->signing_key);
      if (!vigil_store_set_audit_signer (self->store, sign_audit_head, verify_audit_head, self, error))
        return NULL;
    }
  /* Each start is on record: a gap between two starts with no stop in
   * the log is a crash or a power cut. */
  if (vigil_store_append_audit (self->store, self->started_us, -1, "vigild", "vigild-start", "",
                                "{\"version\":\"" VIGIL_VERSION "\"}", error) == 0)
    return NULL;
  if (!vigil_recovery_run (self->store, &report, error))
    {
      g_prefix_error (error, "crash recovery: ");
      return NULL;
    }
  for (guint i = 0; i < config->cameras->len; i++)
    {
      const VigilCameraConfig *camera_config = config->cameras->pdata[i];
      VigilCamera *camera;

      if (!vigil_store_add_camera (self->store, camera_config->name, error))
        return NULL;
      camera = vigil_camera_new (camera_config, self->store, self->health_pool, config->segment_seconds);
      g_signal_connect (camera, "stopped", G_CALLBACK (on_camera_stopped), self);
      g_ptr_array_add (self->cameras, camera);
    }
  start_monitors (self, config);
  self->live = vigil_live_service_new (config, self->store, self->cameras);
  return g_steal_pointer (&self);
}
