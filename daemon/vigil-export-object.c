/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportObject: an export job's D-Bus face. The job itself runs in
 * VigilExportJob's worker; this only reads its state on the main thread
 * when it reports progress or its end. */
#include "vigil-export-object.h"

#include "vigil-service-private.h"

struct _VigilExportObject
{
  VigilDBusExportSkeleton  parent_instance;
  VigilExportJob          *job;
  VigilStore              *store;
  VigilCaller             *caller;     /* who started it */
};

static void vigil_export_object_export_iface_init (VigilDBusExportIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilExportObject, vigil_export_object, VIGIL_DBUS_TYPE_EXPORT_SKELETON,
                               G_IMPLEMENT_INTERFACE (VIGIL_DBUS_TYPE_EXPORT, vigil_export_object_export_iface_init))

static void
on_job_progress (VigilExportJob *job, gdouble fraction, VigilExportObject *self)
{
  vigil_dbus_export_set_progress (VIGIL_DBUS_EXPORT (self), fraction);
}

static void
on_job_finished (VigilExportJob *job, VigilExportObject *self)
{
  VigilDBusExport *export = VIGIL_DBUS_EXPORT (self);
  VigilExportState state = vigil_export_job_get_state (job);
  const gchar *state_name = vigil_export_state_to_string (state);
  const gchar *bundle = vigil_export_job_get_bundle (job) ? vigil_export_job_get_bundle (job) : "";
  const gchar *sha = vigil_export_job_get_manifest_sha256 (job) ? vigil_export_job_get_manifest_sha256 (job) : "";
  const gchar *message = vigil_export_job_get_error_message (job) ? vigil_export_job_get_error_message (job) : "";

  g_object_freeze_notify (G_OBJECT (self));
  if (state == VIGIL_EXPORT_DONE)
    vigil_dbus_export_set_progress (export, 1.0);
  vigil_dbus_export_set_bundle (export, bundle);
  vigil_dbus_export_set_manifest_sha256 (export, sha);
  vigil_dbus_export_set_error (export, message);
  vigil_dbus_export_set_state (export, state_name);
  g_object_thaw_notify (G_OBJECT (self));
  vigil_service_audit (self->store, self->caller, "export", vigil_export_job_get_summary (job), "state", state_name,
                       "bundle", bundle, "manifest_sha256", sha, "error", message, NULL);
  vigil_dbus_export_emit_finished (export, state_name, bundle, sha);
}

static gboolean
vigil_export_object_handle_cancel (VigilDBusExport *export, GDBusMethodInvocation *invocation)
{
  VigilExportObject *self = VIGIL_EXPORT_OBJECT (export);

  if (vigil_export_job_get_state (self->job) == VIGIL_EXPORT_RUNNING)
    {
      vigil_service_audit (self->store, vigil_service_get_caller (invocation), "export-cancel",
                           vigil_export_job_get_summary (self->job), NULL);
      vigil_export_job_cancel (self->job);
    }
  vigil_dbus_export_complete_cancel (export, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
vigil_export_object_export_iface_init (VigilDBusExportIface *iface)
{
  iface->handle_cancel = vigil_export_object_handle_cancel;
}

VigilExportJob *
vigil_export_object_get_job (VigilExportObject *self)
{
  g_return_val_if_fail (VIGIL_IS_EXPORT_OBJECT (self), NULL);
  return self->job;
}

static void
vigil_export_object_dispose (GObject *object)
{
  VigilExportObject *self = VIGIL_EXPORT_OBJECT (object);

  if (self->job != NULL)
    g_signal_handlers_disconnect_by_data (self->job, self);
  g_clear_object (&self->job);
  g_clear_object (&self->store);
  g_clear_pointer (&self->caller, vigil_caller_free);
  G_OBJECT_CLASS (vigil_export_object_parent_class)->dispose (object);
}

static void
vigil_export_object_class_init (VigilExportObjectClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_export_object_dispose;
  G_DBUS_INTERFACE_SKELETON_CLASS (klass)->g_authorize_method = vigil_service_authorize_method;
}

static void
vigil_export_object_init (VigilExportObject *self)
{
}

VigilExportObject *
vigil_export_object_new (VigilExportJob *job, VigilStore *store, GDBusMethodInvocation *invocation)
{
  VigilExportObject *self = g_object_new (VIGIL_TYPE_EXPORT_OBJECT, NULL);
  VigilDBusExport *export = VIGIL_DBUS_EXPORT (self);

  self->job = g_object_ref (job);
  self->store = g_object_ref (store);
  self->caller = vigil_caller_copy (vigil_service_get_caller (invocation));
  vigil_dbus_export_set_state (export, "running");
  vigil_dbus_export_set_bundle (export, "");
  vigil_dbus_export_set_manifest_sha256 (export, "");
  vigil_dbus_export_set_error (export, "");
  g_signal_connect (job, "progress", G_CALLBACK (on_job_progress), self);
  g_signal_connect (job, "finished", G_CALLBACK (on_job_finished), self);
  return self;
}
