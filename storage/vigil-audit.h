/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The audit log: who did what to which incident, export, camera or
 * setting, and when, append-only in VigilStore's catalog.
 *
 * Rows form a hash chain: each row's SHA-256 covers the previous row's
 * hash and the row's own fields, so editing or removing a row anywhere
 * but at the very end breaks every hash after it, and
 * vigil_store_verify_audit() names the first row that no longer fits.
 * Once the store has a signer (vigil_store_set_audit_signer()), the head
 * (last id and hash) is also signed with vigild's export key in the same
 * transaction as each append, so editing a row and recomputing every hash
 * after it, or removing rows at the end, leaves a head whose signature
 * does not hold: only the key's holder can re-sign. Every export manifest
 * records the head too, for a copy kept outside the catalog. One thread
 * at a time, like VigilStore. */
#pragma once

#include "vigil-store.h"

G_BEGIN_DECLS

typedef struct {
  gint64  id;                   /* 1, 2, 3, ... */
  gint64  time_us;
  gint64  uid;                  /* Unix uid of the caller; -1 for vigild itself */
  gchar  *user;
  gchar  *action;               /* e.g. "incident-create" */
  gchar  *target;               /* e.g. "incident 3"; "" for none */
  gchar  *details;              /* a JSON object */
  gchar  *prev_sha256;          /* hex */
  gchar  *sha256;               /* hex */
} VigilAuditEntry;

void vigil_audit_entry_free (VigilAuditEntry *entry);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilAuditEntry, vigil_audit_entry_free)

/* Sign @statement (text) with the recorder's key; check a signature of it.
 * Called on the store's thread, inside its transactions. */
typedef GBytes  *(*VigilAuditSignFunc)   (const gchar *statement,
                                          gpointer     user_data,
                                          GError     **error);
typedef gboolean (*VigilAuditVerifyFunc) (const gchar *statement,
                                          GBytes      *signature,
                                          gpointer     user_data,
                                          GError     **error);

/* From now on every append signs the new head, and
 * vigil_store_verify_audit() checks the log's last row against the signed
 * head. When the log has rows but its signed head is missing (a catalog
 * from before heads were signed) or is not its last row (rows appended
 * while vigild had no key), says so in a new "audit-head-signed" row that
 * records both heads, and signs that: the break stays on record in the
 * chain itself. @user_data must outlive the store. */
gboolean   vigil_store_set_audit_signer (VigilStore          *self,
                                         VigilAuditSignFunc   sign,
                                         VigilAuditVerifyFunc verify,
                                         gpointer             user_data,
                                         GError             **error);

/* Appends a row; returns its id, or 0 with @error set. @details must be a
 * JSON object ("{}" for none). */
gint64     vigil_store_append_audit (VigilStore  *self,
                                     gint64       time_us,
                                     gint64       uid,
                                     const gchar *user,
                                     const gchar *action,
                                     const gchar *target,
                                     const gchar *details,
                                     GError     **error);
/* Rows with time at or after @since_us, oldest first, at most the last
 * @limit of them (0: all); element type VigilAuditEntry. */
GPtrArray *vigil_store_list_audit   (VigilStore *self,
                                     gint64      since_us,
                                     guint       limit,
                                     GError    **error);
/* Walks the whole chain. On success sets the number of rows and the head
 * (last id, its hash: 0 and 64 zeros for an empty log). A broken chain is
 * a VIGIL_STORE_ERROR_TAMPERED error naming the first row that does not
 * fit and how; with a signer, so is a head that is not the signed one or
 * whose signature does not hold. */
gboolean   vigil_store_verify_audit (VigilStore *self,
                                     gint64     *out_rows,
                                     gint64     *out_head_id,
                                     gchar     **out_head_sha256,
                                     GError    **error);
/* The current head without verifying (for manifests). */
gboolean   vigil_store_get_audit_head (VigilStore *self,
                                       gint64     *out_head_id,
                                       gchar     **out_head_sha256,
                                       GError    **error);

G_END_DECLS
