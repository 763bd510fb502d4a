/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilAuthority: the method → action table, the polkit question, and the
 * limit on reported refusals. See vigil-authority.h. */
#include "vigil-authority.h"

#include <unistd.h>

#include "vigil-error.h"

/* Refusals reported per uid per window; the rest are counted. */
#define REFUSALS_REPORTED_PER_WINDOW 30
#define REFUSAL_WINDOW_US            (60 * G_USEC_PER_SEC)
/* Uids remembered for the limit; past this the oldest windows go. */
#define MAX_REFUSING_UIDS            1024
/* polkit answers within milliseconds; a hung polkitd must not hold the
 * worker thread (and the caller) forever. */
#define POLKIT_TIMEOUT_MS            25000

struct _VigilAuthority
{
  GObject                   parent_instance;
  VigilAuthorityKind        kind;
  guint32                   owner_uid;
  gchar                    *description;
  VigilAuthorityRefusedFunc refused;
  gpointer                  refused_data;
  GDestroyNotify            refused_destroy;
  GMainContext             *context;          /* where @refused runs */
  GMutex                    lock;             /* guards windows */
  GHashTable               *windows;          /* uid → RefusalWindow* */
};

G_DEFINE_FINAL_TYPE (VigilAuthority, vigil_authority, G_TYPE_OBJECT)

typedef struct {
  gint64 start_us;
  guint  reported;
  guint  left_out;
} RefusalWindow;

/* Every method of daemon/dbus/org.vigil.Vigil1.xml, and what it needs. A
 * method missing here is refused, so a new one cannot be served unguarded. */
static const struct {
  const gchar *interface_name;
  const gchar *method_name;
  const gchar *action;
} method_actions[] = {
  { "org.vigil.Vigil1.Manager", "GetStatus",      VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "ListCameras",    VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "ListIncidents",  VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "GetIncident",    VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "ListAlerts",     VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "SelfCheck",      VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "GetPublicKey",   VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Manager", "CreateIncident", VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Manager", "ExportIncident", VIGIL_ACTION_EXPORT },
  { "org.vigil.Vigil1.Manager", "ExportRange",    VIGIL_ACTION_EXPORT },
  { "org.vigil.Vigil1.Manager", "ListAudit",      VIGIL_ACTION_AUDIT },
  /* Who watches what is the audit role's to know, as the log is. */
  { "org.vigil.Vigil1.Manager", "ListSessions",   VIGIL_ACTION_AUDIT },
  { "org.vigil.Vigil1.Manager", "VerifyAudit",    VIGIL_ACTION_AUDIT },
  { "org.vigil.Vigil1.Manager", "Fsck",           VIGIL_ACTION_ADMIN },
  { "org.vigil.Vigil1.Camera",  "ListSpans",      VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Camera",  "PtzGetStatus",   VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Camera",  "ListPresets",    VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Camera",  "Snapshot",       VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Camera",  "PtzMove",        VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "PtzStop",        VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "PtzGoto",        VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "PtzMoveBy",      VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "GotoPreset",     VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "SavePreset",     VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "RemovePreset",   VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Camera",  "Retry",          VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Incident", "GetNotes",      VIGIL_ACTION_VIEW },
  { "org.vigil.Vigil1.Incident", "AddNote",       VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Incident", "AddTag",        VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Incident", "RemoveTag",     VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Incident", "Close",         VIGIL_ACTION_OPERATE },
  { "org.vigil.Vigil1.Incident", "Release",       VIGIL_ACTION_EXPORT },
  { "org.vigil.Vigil1.Incident", "SetExpiry",     VIGIL_ACTION_EXPORT },
  { "org.vigil.Vigil1.Export",  "Cancel",         VIGIL_ACTION_EXPORT },
};

/* What a refused caller reads: the action, and who has it by default. */
static const struct {
  const gchar *action;
  const gchar *what;
  const gchar *default_holders;
} action_texts[] = {
  { VIGIL_ACTION_VIEW,    "view the recorder",               "vigil-operators, vigil-supervisors, vigil-admins" },
  { VIGIL_ACTION_OPERATE, "operate cameras and incidents",   "vigil-operators, vigil-supervisors, vigil-admins" },
  { VIGIL_ACTION_EXPORT,  "export or release evidence",      "vigil-supervisors, vigil-admins" },
  { VIGIL_ACTION_AUDIT,   "read the audit log",              "vigil-supervisors, vigil-admins" },
  { VIGIL_ACTION_ADMIN,   "administer the recorder",         "vigil-admins" },
};

const gchar *
vigil_authority_action_for (const gchar *interface_name, const gchar *method_name)
{
  for (gsize i = 0; i < G_N_ELEMENTS (method_actions); i++)
    if (g_strcmp0 (method_actions[i].interface_name, interface_name) == 0
        && g_strcmp0 (method_actions[i].method_name, method_name) == 0)
      return method_actions[i].action;
  return NULL;
}

static void
set_access_denied (GError **error, const gchar *user, guint32 uid, const gchar *action)
{
  for (gsize i = 0; i < G_N_ELEMENTS (action_texts); i++)
    if (g_str_equal (action_texts[i].action, action))
      {
        g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_ACCESS_DENIED,
                     "%s (uid %u) may not %s: that needs the polkit action %s (by default the groups %s)", user,
                     uid, action_texts[i].what, action, action_texts[i].default_holders);
        return;
      }
  g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_ACCESS_DENIED, "%s (uid %u) may not do %s", user, uid, action);
}

/* Asks polkit on @connection's bus whether @sender may do @action, without
 * interaction: vigild has no way to show a password prompt, and a caller
 * should not be able to make it wait for one. */
static gboolean
ask_polkit (GDBusConnection *connection, const gchar *sender, const gchar *action, gboolean *allowed,
            GError **error)
{
  g_auto(GVariantBuilder) subject_details = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE_VARDICT);
  g_auto(GVariantBuilder) details = G_VARIANT_BUILDER_INIT (G_VARIANT_TYPE ("a{ss}"));
  g_autoptr(GVariant) reply = NULL;
  gboolean challenge = FALSE;

  g_variant_builder_add (&subject_details, "{sv}", "name", g_variant_new_string (sender));
  reply = g_dbus_connection_call_sync (connection, "org.freedesktop.PolicyKit1",
                                       "/org/freedesktop/PolicyKit1/Authority", "org.freedesktop.PolicyKit1.Authority",
                                       "CheckAuthorization",
                                       g_variant_new ("((sa{sv})sa{ss}us)", "system-bus-name", &subject_details,
                                                      action, &details, (guint32) 0, ""),
                                       G_VARIANT_TYPE ("((bba{ss}))"), G_DBUS_CALL_FLAGS_NONE, POLKIT_TIMEOUT_MS,
                                       NULL, error);
  if (reply == NULL)
    return FALSE;
  g_variant_get (reply, "((bb@a{ss}))", allowed, &challenge, NULL);
  return TRUE;
}

gboolean
vigil_authority_check_sync (VigilAuthority *self, GDBusConnection *connection, const gchar *sender, guint32 uid,
                            const gchar *user, const gchar *action, GError **error)
{
  g_autoptr(GError) local_error = NULL;
  gboolean allowed = FALSE;

  g_return_val_if_fail (VIGIL_IS_AUTHORITY (self), FALSE);

  if (self->kind == VIGIL_AUTHORITY_OWNER)
    {
      if (uid == self->owner_uid)
        return TRUE;
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_ACCESS_DENIED,
                   "%s (uid %u) may not use %s: vigild is on a session bus, where only uid %u may call it", user, uid,
                   action, self->owner_uid);
      return FALSE;
    }

  /* root may do everything on this machine anyway (the catalog, the
   * key): it is not made to depend on polkit running. */
  if (uid == 0)
    return TRUE;
  if (sender == NULL)
    {
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_ACCESS_DENIED,
                   "%s: a caller without a bus name cannot be checked with polkit", action);
      return FALSE;
    }
  if (!ask_polkit (connection, sender, action, &allowed, &local_error))
    {
      g_dbus_error_strip_remote_error (local_error);
      g_set_error (error, VIGIL_ERROR, VIGIL_ERROR_FAILED, "cannot ask polkit whether %s may do %s: %s", user,
                   action, local_error->message);
      return FALSE;
    }
  if (!allowed)
    set_access_denied (error, user, uid, action);
  return allowed;
}

/* ---- Reporting refusals ------------------------------------------------ */

typedef struct {
  VigilAuthority *self;
  guint32         uid;
  gchar          *user;
  gchar          *action;
  gchar          *method;
  gchar          *target;
  guint           left_out;
} Refusal;

static void
refusal_free (Refusal *refusal)
{
  g_object_unref (refusal->self);
  g_free (refusal->user);
  g_free (refusal->action);
  g_free (refusal->method);
  g_free (refusal->target);
  g_free (refusal);
}

static gboolean
deliver_refusal (gpointer data)
{
  Refusal *refusal = data;

  refusal->self->refused (refusal->uid, refusal->user, refusal->action, refusal->method, refusal->target,
                          refusal->left_out, refusal->self->refused_data);
  return G_SOURCE_REMOVE;
}

/* Under self->lock: whether this refusal is reported, and how many of
 * this uid's were left out since the last one reported. */
static gboolean
take_report_slot (VigilAuthority *self, guint32 uid, gint64 now_us, guint *left_out)
{
  RefusalWindow *window = g_hash_table_lookup (self->windows, GUINT_TO_POINTER (uid));

  if (window == NULL)
    {
      if (g_hash_table_size (self->windows) >= MAX_REFUSING_UIDS)
        g_hash_table_remove_all (self->windows);
      window = g_new0 (RefusalWindow, 1);
      window->start_us = now_us;
      g_hash_table_insert (self->windows, GUINT_TO_POINTER (uid), window);
    }
  if (now_us - window->start_us >= REFUSAL_WINDOW_US)
    {
      window->start_us = now_us;
      window->reported = 0;
    }
  if (window->reported >= REFUSALS_REPORTED_PER_WINDOW)
    {
      window->left_out++;
      return FALSE;
    }
  window->reported++;
  *left_out = window->left_out;
  window->left_out = 0;
  return TRUE;
}

void
vigil_authority_report_refusal (VigilAuthority *self, guint32 uid, const gchar *user, const gchar *action,
                                const gchar *method, const gchar *target)
{
  Refusal *refusal;
  guint left_out = 0;
  gboolean report;

  g_return_if_fail (VIGIL_IS_AUTHORITY (self));

  g_mutex_lock (&self->lock);
  report = take_report_slot (self, uid, g_get_monotonic_time (), &left_out);
  g_mutex_unlock (&self->lock);
  if (!report || self->refused == NULL)
    return;

  refusal = g_new0 (Refusal, 1);
  refusal->self = g_object_ref (self);
  refusal->uid = uid;
  refusal->user = g_strdup (user);
  refusal->action = g_strdup (action);
  refusal->method = g_strdup (method);
  refusal->target = g_strdup (target);
  refusal->left_out = left_out;
  g_main_context_invoke_full (self->context, G_PRIORITY_DEFAULT, deliver_refusal, refusal,
                              (GDestroyNotify) refusal_free);
}

/* ---- The object -------------------------------------------------------- */

VigilAuthorityKind
vigil_authority_get_kind (VigilAuthority *self)
{
  g_return_val_if_fail (VIGIL_IS_AUTHORITY (self), VIGIL_AUTHORITY_OWNER);
  return self->kind;
}

const gchar *
vigil_authority_describe (VigilAuthority *self)
{
  g_return_val_if_fail (VIGIL_IS_AUTHORITY (self), NULL);
  return self->description;
}

static void
vigil_authority_finalize (GObject *object)
{
  VigilAuthority *self = VIGIL_AUTHORITY (object);

  if (self->refused_destroy != NULL)
    self->refused_destroy (self->refused_data);
  g_main_context_unref (self->context);
  g_hash_table_unref (self->windows);
  g_mutex_clear (&self->lock);
  g_free (self->description);
  G_OBJECT_CLASS (vigil_authority_parent_class)->finalize (object);
}

static void
vigil_authority_class_init (VigilAuthorityClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_authority_finalize;
}

static void
vigil_authority_init (VigilAuthority *self)
{
  g_mutex_init (&self->lock);
  self->windows = g_hash_table_new_full (g_direct_hash, g_direct_equal, NULL, g_free);
}

VigilAuthority *
vigil_authority_new (VigilAuthorityKind kind, VigilAuthorityRefusedFunc refused, gpointer user_data,
                     GDestroyNotify destroy)
{
  VigilAuthority *self = g_object_new (VIGIL_TYPE_AUTHORITY, NULL);

  self->kind = kind;
  self->owner_uid = (guint32) getuid ();
  self->refused = refused;
  self->refused_data = user_data;
  self->refused_destroy = destroy;
  self->context = g_main_context_ref_thread_default ();
  if (kind == VIGIL_AUTHORITY_POLKIT)
    self->description = g_strdup ("polkit (org.vigil.view, .operate, .export, .audit, .admin)");
  else
    self->description = g_strdup_printf ("session bus: uid %u may do everything, others nothing", self->owner_uid);
  return self;
}
