/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Shared by the files that implement VigilStore's tables (vigil-store.c,
 * vigil-store-incidents.c, vigil-audit.c); never installed or included
 * outside storage/, so sqlite3 stays private to the module. */
#pragma once

#include <sqlite3.h>

#include "vigil-store.h"

G_BEGIN_DECLS

G_DEFINE_AUTOPTR_CLEANUP_FUNC (sqlite3_stmt, sqlite3_finalize)

sqlite3      *vigil_store_get_db        (VigilStore *self);
sqlite3_stmt *vigil_store_prepare       (VigilStore *self, const gchar *sql, GError **error);
gboolean      vigil_store_exec          (VigilStore *self, const gchar *sql, GError **error);
/* Steps a statement that returns no rows. */
gboolean      vigil_store_step_done     (VigilStore *self, sqlite3_stmt *stmt, GError **error);
/* Sets a VIGIL_STORE_ERROR_FAILED (FULL when the disk is) naming @what and
 * SQLite's message; returns FALSE. */
gboolean      vigil_store_fail          (VigilStore *self, GError **error, const gchar *what);
/* The id of camera @camera, or 0 with a NOT_FOUND error naming it. */
gint64        vigil_store_get_camera_id (VigilStore *self, const gchar *camera, GError **error);
/* begin immediate ... commit, with rollback on failure. */
gboolean      vigil_store_begin         (VigilStore *self, GError **error);
gboolean      vigil_store_commit        (VigilStore *self, GError **error);
void          vigil_store_rollback      (VigilStore *self);

/* vigil-audit.c's signing of the audit head; a plain struct freed with
 * g_free() when the store goes. */
typedef struct _VigilAuditSigner VigilAuditSigner;
VigilAuditSigner *vigil_store_get_audit_signer  (VigilStore *self);
void              vigil_store_take_audit_signer (VigilStore *self, VigilAuditSigner *signer);

G_END_DECLS
