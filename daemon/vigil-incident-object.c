/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilIncidentObject: an incident's D-Bus face and its methods. Each
 * handler is one small catalog statement on the main thread; a store
 * error becomes the org.vigil.Vigil1.Error.* the caller should see. */
#include "vigil-incident-object.h"

#include "vigil-error.h"
#include "vigil-rate-limit.h"
#include "vigil-service-private.h"

#define INCIDENT_PATH_PREFIX VIGIL_DBUS_PATH "/Incident/"

struct _VigilIncidentObject
{
  VigilDBusIncidentSkeleton  parent_instance;
  VigilStore                *store;
  VigilDBusManager          *manager;    /* where IncidentChanged goes */
  VigilRateLimit            *changes;    /* notes and tag changes, per caller */
};

static void vigil_incident_object_incident_iface_init (VigilDBusIncidentIface *iface);

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilIncidentObject, vigil_incident_object, VIGIL_DBUS_TYPE_INCIDENT_SKELETON,
                               G_IMPLEMENT_INTERFACE (VIGIL_DBUS_TYPE_INCIDENT,
                                                      vigil_incident_object_incident_iface_init))

gchar *
vigil_incident_object_build_path (gint64 id)
{
  return g_strdup_printf (INCIDENT_PATH_PREFIX "%" G_GINT64_FORMAT, id);
}

gboolean
vigil_incident_object_parse_path (const gchar *path, gint64 *out_id)
{
  guint64 id = 0;

  if (!g_str_has_prefix (path, INCIDENT_PATH_PREFIX)
      || !g_ascii_string_to_unsigned (path + strlen (INCIDENT_PATH_PREFIX), 10, 1, G_MAXINT64, &id, NULL))
    return FALSE;
  *out_id = (gint64) id;
  return TRUE;
}

gchar *
vigil_incident_object_build_target (gint64 id)
{
  return g_strdup_printf ("incident %" G_GINT64_FORMAT, id);
}

static void
fill (VigilIncidentObject *self, const VigilIncident *incident)
{
  VigilDBusIncident *skeleton = VIGIL_DBUS_INCIDENT (self);
  gint64 now_us = g_get_real_time ();
  const gchar *state = incident->released_us != 0 ? "released" : incident->end_us != 0 ? "closed" : "open";

  g_object_freeze_notify (G_OBJECT (skeleton));
  vigil_dbus_incident_set_id (skeleton, incident->id);
  vigil_dbus_incident_set_title (skeleton, incident->title);
  vigil_dbus_incident_set_description (skeleton, incident->description);
  vigil_dbus_incident_set_cameras (skeleton, (const gchar *const *) incident->cameras);
  vigil_dbus_incident_set_tags (skeleton, (const gchar *const *) incident->tags);
  vigil_dbus_incident_set_note_count (skeleton, incident->notes->len);
  vigil_dbus_incident_set_start_us (skeleton, incident->start_us);
  vigil_dbus_incident_set_end_us (skeleton, incident->end_us);
  vigil_dbus_incident_set_pre_roll_s (skeleton, incident->pre_roll_us / G_USEC_PER_SEC);
  vigil_dbus_incident_set_post_roll_s (skeleton, incident->post_roll_us / G_USEC_PER_SEC);
  vigil_dbus_incident_set_state (skeleton, state);
  vigil_dbus_incident_set_locked (skeleton, incident->released_us == 0
                                  && (incident->expires_us == 0 || incident->expires_us > now_us));
  vigil_dbus_incident_set_expires_us (skeleton, incident->expires_us);
  vigil_dbus_incident_set_created_us (skeleton, incident->created_us);
  vigil_dbus_incident_set_created_by (skeleton, incident->created_user);
  vigil_dbus_incident_set_release_reason (skeleton, incident->release_reason ? incident->release_reason : "");
  g_object_thaw_notify (G_OBJECT (skeleton));
}

void
vigil_incident_object_refresh (VigilIncidentObject *self, const gchar *change)
{
  gint64 id = vigil_dbus_incident_get_id (VIGIL_DBUS_INCIDENT (self));
  g_autoptr(GError) error = NULL;
  g_autoptr(VigilIncident) incident = vigil_store_get_incident (self->store, id, &error);
  g_autofree gchar *path = vigil_incident_object_build_path (id);

  if (incident == NULL)
    {
      g_warning ("incident %" G_GINT64_FORMAT ": %s", id, error->message);
      return;
    }
  fill (self, incident);
  vigil_dbus_manager_emit_incident_changed (self->manager, path, change);
}

/* Answers a failed catalog change: NOT_FOUND means no such incident. */
static gboolean
return_store_error (GDBusMethodInvocation *invocation, GError *error)
{
  vigil_error_from_store (&error, VIGIL_ERROR_UNKNOWN_INCIDENT);
  return vigil_service_return_error (invocation, error);
}

/* After a change is stored: audits it as @invocation's caller's, with
 * one detail, then shows it and announces @change. */
static void
record_change (VigilIncidentObject *self, GDBusMethodInvocation *invocation, const gchar *action,
               const gchar *key, const gchar *value, const gchar *change)
{
  gint64 id = vigil_dbus_incident_get_id (VIGIL_DBUS_INCIDENT (self));
  g_autofree gchar *target = vigil_incident_object_build_target (id);

  vigil_service_audit (self->store, vigil_service_get_caller (invocation), action, target, key, value, NULL);
  vigil_incident_object_refresh (self, change);
}

static gboolean
vigil_incident_object_handle_get_notes (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  g_autoptr(VigilIncident) incident = NULL;
  GVariantBuilder notes;
  GError *error = NULL;

  incident = vigil_store_get_incident (self->store, vigil_dbus_incident_get_id (skeleton), &error);
  if (incident == NULL)
    return return_store_error (invocation, error);
  g_variant_builder_init (&notes, G_VARIANT_TYPE ("a(xxss)"));
  for (guint i = 0; i < incident->notes->len; i++)
    {
      const VigilIncidentNote *note = incident->notes->pdata[i];
      g_variant_builder_add (&notes, "(xxss)", note->time_us, note->uid, note->user, note->text);
    }
  vigil_dbus_incident_complete_get_notes (skeleton, invocation, g_variant_builder_end (&notes));
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_add_note (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation,
                                       const gchar *text)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  const VigilCaller *caller = vigil_service_get_caller (invocation);
  VigilIncidentNote note = { g_get_real_time (), caller->uid, caller->user, (gchar *) text };
  GError *error = NULL;

  if (!vigil_service_take_rate (self->changes, invocation, "notes and tag changes"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!vigil_store_add_incident_note (self->store, vigil_dbus_incident_get_id (skeleton), &note, &error))
    return return_store_error (invocation, error);
  record_change (self, invocation, "incident-note", "text", text, "note");
  vigil_dbus_incident_complete_add_note (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_add_tag (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation,
                                      const gchar *tag)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  GError *error = NULL;

  if (!vigil_service_take_rate (self->changes, invocation, "notes and tag changes"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!vigil_store_add_incident_tag (self->store, vigil_dbus_incident_get_id (skeleton), tag, &error))
    return return_store_error (invocation, error);
  record_change (self, invocation, "incident-tag", "tag", tag, "tag");
  vigil_dbus_incident_complete_add_tag (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_remove_tag (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation,
                                         const gchar *tag)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  GError *error = NULL;

  if (!vigil_service_take_rate (self->changes, invocation, "notes and tag changes"))
    return G_DBUS_METHOD_INVOCATION_HANDLED;
  if (!vigil_store_remove_incident_tag (self->store, vigil_dbus_incident_get_id (skeleton), tag, &error))
    {
      /* The incident exists (it has an object): a missing tag is a bad argument. */
      vigil_error_from_store (&error, VIGIL_ERROR_INVALID_ARGUMENT);
      return vigil_service_return_error (invocation, error);
    }
  record_change (self, invocation, "incident-untag", "tag", tag, "tag");
  vigil_dbus_incident_complete_remove_tag (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_close (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation, gint64 end_us)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  gint64 now_us = g_get_real_time ();
  g_autofree gchar *end_text = NULL;
  GError *error = NULL;

  if (end_us == 0)
    end_us = now_us;
  if (end_us > now_us + VIGIL_INCIDENT_FUTURE_SLACK_US)
    return vigil_service_return_invalid (invocation, "end time %" G_GINT64_FORMAT " is in the future", end_us);
  if (!vigil_store_close_incident (self->store, vigil_dbus_incident_get_id (skeleton), end_us, now_us, &error)
      && (!vigil_service_retry_on_full (self->store, &error)
          || !vigil_store_close_incident (self->store, vigil_dbus_incident_get_id (skeleton), end_us, now_us,
                                          &error)))
    return return_store_error (invocation, error);
  end_text = vigil_service_format_time (end_us);
  record_change (self, invocation, "incident-close", "end", end_text, "closed");
  vigil_dbus_incident_complete_close (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_release (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation,
                                      const gchar *reason)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  GError *error = NULL;

  /* On a full disk above all: with only locked video left, this is what
   * lets the storage watchdog delete again. */
  if (!vigil_store_release_incident (self->store, vigil_dbus_incident_get_id (skeleton), g_get_real_time (), reason,
                                     &error)
      && (!vigil_service_retry_on_full (self->store, &error)
          || !vigil_store_release_incident (self->store, vigil_dbus_incident_get_id (skeleton), g_get_real_time (),
                                            reason, &error)))
    return return_store_error (invocation, error);
  record_change (self, invocation, "incident-release", "reason", reason, "released");
  vigil_dbus_incident_complete_release (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static gboolean
vigil_incident_object_handle_set_expiry (VigilDBusIncident *skeleton, GDBusMethodInvocation *invocation,
                                         gint64 expires_us)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (skeleton);
  g_autofree gchar *expiry_text = NULL;
  GError *error = NULL;

  /* An expiry in the past would end the lock at once, without the reason
   * Release asks for. */
  if (expires_us != 0 && expires_us <= g_get_real_time ())
    return vigil_service_return_invalid (invocation, "the expiry must be in the future (0: never); to end the lock "
                                         "now, release the incident with a reason");
  expiry_text = expires_us != 0 ? vigil_service_format_time (expires_us) : g_strdup ("never");
  if (!vigil_store_set_incident_expiry (self->store, vigil_dbus_incident_get_id (skeleton), expires_us, &error))
    return return_store_error (invocation, error);
  record_change (self, invocation, "incident-expiry", "expires", expiry_text, "expiry");
  vigil_dbus_incident_complete_set_expiry (skeleton, invocation);
  return G_DBUS_METHOD_INVOCATION_HANDLED;
}

static void
vigil_incident_object_incident_iface_init (VigilDBusIncidentIface *iface)
{
  iface->handle_get_notes = vigil_incident_object_handle_get_notes;
  iface->handle_add_note = vigil_incident_object_handle_add_note;
  iface->handle_add_tag = vigil_incident_object_handle_add_tag;
  iface->handle_remove_tag = vigil_incident_object_handle_remove_tag;
  iface->handle_close = vigil_incident_object_handle_close;
  iface->handle_release = vigil_incident_object_handle_release;
  iface->handle_set_expiry = vigil_incident_object_handle_set_expiry;
}

static void
vigil_incident_object_dispose (GObject *object)
{
  VigilIncidentObject *self = VIGIL_INCIDENT_OBJECT (object);

  g_clear_object (&self->store);
  g_clear_object (&self->manager);
  g_clear_object (&self->changes);
  G_OBJECT_CLASS (vigil_incident_object_parent_class)->dispose (object);
}

static void
vigil_incident_object_class_init (VigilIncidentObjectClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_incident_object_dispose;
  G_DBUS_INTERFACE_SKELETON_CLASS (klass)->g_authorize_method = vigil_service_authorize_method;
}

static void
vigil_incident_object_init (VigilIncidentObject *self)
{
}

VigilIncidentObject *
vigil_incident_object_new (VigilStore *store, VigilDBusManager *manager, VigilRateLimit *changes,
                           const VigilIncident *incident)
{
  VigilIncidentObject *self = g_object_new (VIGIL_TYPE_INCIDENT_OBJECT, NULL);

  self->store = g_object_ref (store);
  self->manager = g_object_ref (manager);
  self->changes = g_object_ref (changes);
  fill (self, incident);
  return self;
}
