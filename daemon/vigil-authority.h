/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Who may call which D-Bus method. Every method of org.vigil.Vigil1 needs
 * one of five actions (org.vigil.view, .operate, .export, .audit, .admin;
 * data/polkit/org.vigil.policy). On the system bus polkit decides, asked
 * for each call without interaction (no password prompt: a caller has a
 * role or not; data/polkit/50-vigil.rules maps the vigil-* groups to
 * roles). On the session bus (the demo, tests) there is no polkit to
 * ask: vigild's own uid may do everything and everyone else nothing.
 * root is never refused: it owns the catalog and the key anyway, and
 * must not be locked out when polkitd is not running.
 *
 * Refusals are answered with VIGIL_ERROR_ACCESS_DENIED naming the action
 * and reported (vigild writes them to the audit log), at most 30 per uid a
 * minute: a caller cannot fill the log by being refused; the next report
 * says how many were left out.
 *
 * vigil_authority_check_sync() blocks on the bus: it is for the
 * g-authorize-method worker thread. The rest may be called from any
 * thread. */
#pragma once

#include <gio/gio.h>

G_BEGIN_DECLS

#define VIGIL_ACTION_VIEW    "org.vigil.view"
#define VIGIL_ACTION_OPERATE "org.vigil.operate"
#define VIGIL_ACTION_EXPORT  "org.vigil.export"
#define VIGIL_ACTION_AUDIT   "org.vigil.audit"
#define VIGIL_ACTION_ADMIN   "org.vigil.admin"

typedef enum {
  VIGIL_AUTHORITY_POLKIT,  /* system bus: polkit decides */
  VIGIL_AUTHORITY_OWNER,   /* session bus: only vigild's own uid, for everything */
} VigilAuthorityKind;

#define VIGIL_TYPE_AUTHORITY (vigil_authority_get_type ())
G_DECLARE_FINAL_TYPE (VigilAuthority, vigil_authority, VIGIL, AUTHORITY, GObject)

/* What a refusal is reported with: the caller, the action it lacked,
 * Interface.Method and the object path. */
typedef void (*VigilAuthorityRefusedFunc) (guint32      uid,
                                           const gchar *user,
                                           const gchar *action,
                                           const gchar *method,
                                           const gchar *target,
                                           guint        left_out,
                                           gpointer     user_data);

/* @refused is called on the thread-default main context of the caller of
 * this function, for each refusal within the per-uid limit; @left_out
 * says how many of that uid's were not reported before it. */
VigilAuthority    *vigil_authority_new          (VigilAuthorityKind        kind,
                                                 VigilAuthorityRefusedFunc refused,
                                                 gpointer                  user_data,
                                                 GDestroyNotify            destroy);
VigilAuthorityKind vigil_authority_get_kind     (VigilAuthority    *self);
/* One line for the log and GetStatus, e.g. "polkit" or "session bus: uid
 * 1000 only". */
const gchar       *vigil_authority_describe     (VigilAuthority    *self);

/* The action @interface_name.@method_name needs, or NULL for a method
 * vigil does not know (which is refused). */
const gchar       *vigil_authority_action_for   (const gchar       *interface_name,
                                                 const gchar       *method_name);

/* Whether the caller (@sender on @connection, running as @uid) may do
 * @action. FALSE with VIGIL_ERROR_ACCESS_DENIED when not, or
 * VIGIL_ERROR_FAILED when polkit cannot be asked: it fails closed. */
gboolean           vigil_authority_check_sync   (VigilAuthority    *self,
                                                 GDBusConnection   *connection,
                                                 const gchar       *sender,
                                                 guint32            uid,
                                                 const gchar       *user,
                                                 const gchar       *action,
                                                 GError           **error);

/* Reports a refusal of @method on @target (an object path) to @uid,
 * within the per-uid limit. */
void               vigil_authority_report_refusal (VigilAuthority *self,
                                                   guint32         uid,
                                                   const gchar    *user,
                                                   const gchar    *action,
                                                   const gchar    *method,
                                                   const gchar    *target);

G_END_DECLS
