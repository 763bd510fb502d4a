/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilDaemon: catalog + recovery + one supervisor per camera. */
#include "vigil-daemon.h"

#include "vigil-camera.h"
#include "vigil-recovery.h"

struct _VigilDaemon
{
  GObject      parent_instance;
  VigilStore  *store;
  GPtrArray   *cameras;        /* VigilCamera */
  guint        running;        /* cameras not yet stopped, while stopping */
  gboolean     stopping;
};

G_DEFINE_FINAL_TYPE (VigilDaemon, vigil_daemon, G_TYPE_OBJECT)

enum { SIGNAL_STOPPED, N_SIGNALS };
static guint signals[N_SIGNALS];

static void
on_camera_stopped (VigilCamera *camera, VigilDaemon *self)
{
  g_return_if_fail (self->running > 0);
  if (--self->running == 0)
    {
      g_message ("all cameras stopped; every open segment is cataloged");
      g_signal_emit (self, signals[SIGNAL_STOPPED], 0);
    }
}

void
vigil_daemon_start (VigilDaemon *self)
{
  g_return_if_fail (VIGIL_IS_DAEMON (self));
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_start (self->cameras->pdata[i]);
}

void
vigil_daemon_stop (VigilDaemon *self)
{
  g_return_if_fail (VIGIL_IS_DAEMON (self));
  if (self->stopping)
    return;
  self->stopping = TRUE;
  self->running = self->cameras->len + 1;     /* +1 holds ::stopped until every stop was asked */
  for (guint i = 0; i < self->cameras->len; i++)
    vigil_camera_stop (self->cameras->pdata[i]);
  on_camera_stopped (NULL, self);
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
  g_clear_pointer (&self->cameras, g_ptr_array_unref);
  g_clear_object (&self->store);
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
}

VigilDaemon *
vigil_daemon_new (const VigilConfig *config, GError **error)
{
  g_autoptr(VigilDaemon) self = g_object_new (VIGIL_TYPE_DAEMON, NULL);
  VigilRecoveryReport report;

  self->store = vigil_store_new (config->catalog, config->root, error);
  if (self->store == NULL)
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
      camera = vigil_camera_new (camera_config, self->store, config->segment_seconds);
      g_signal_connect (camera, "stopped", G_CALLBACK (on_camera_stopped), self);
      g_ptr_array_add (self->cameras, camera);
    }
  return g_steal_pointer (&self);
}
