/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore's audit log (upgrade-2.sql, table audit).
 *
 * A row's hash is SHA-256 over this byte string, fields in this order,
 * each as its decimal byte length, ':', the bytes, '\n' (so no field can
 * bleed into the next):
 *   "vigil-audit-1", prev_sha256, id, time_us, uid, user, action, target, details
 * with integers in decimal. The first row's prev_sha256 is 64 zeros. */
#include "vigil-audit.h"

#include <string.h>

#include "vigil-storage-private.h"

#define ZERO_SHA256 "0000000000000000000000000000000000000000000000000000000000000000"

void
vigil_audit_entry_free (VigilAuditEntry *entry)
{
  if (entry == NULL)
    return;
  g_free (entry->user);
  g_free (entry->action);
  g_free (entry->target);
  g_free (entry->details);
  g_free (entry->prev_sha256);
  g_free (entry->sha256);
  g_free (entry);
}

static void
hash_field (GChecksum *checksum, const gchar *value)
{
  g_autofree gchar *length = g_strdup_printf ("%" G_GSIZE_FORMAT ":", strlen (value));

  g_checksum_update (checksum, (const guchar *) length, -1);
  g_checksum_update (checksum, (const guchar *) value, -1);
  g_checksum_update (checksum, (const guchar *) "\n", 1);
}

static void
hash_number (GChecksum *checksum, gint64 value)
{
  gchar text[24];

  g_snprintf (text, sizeof text, "%" G_GINT64_FORMAT, value);
  hash_field (checksum, text);
}

static gchar *
hash_entry (const VigilAuditEntry *entry)
{
  g_autoptr(GChecksum) checksum = g_checksum_new (G_CHECKSUM_SHA256);

  hash_field (checksum, "vigil-audit-1");
  hash_field (checksum, entry->prev_sha256);
  hash_number (checksum, entry->id);
  hash_number (checksum, entry->time_us);
  hash_number (checksum, entry->uid);
  hash_field (checksum, entry->user);
  hash_field (checksum, entry->action);
  hash_field (checksum, entry->target);
  hash_field (checksum, entry->details);
  return g_strdup (g_checksum_get_string (checksum));
}

static gboolean
read_head (VigilStore *self, gint64 *out_id, gchar **out_sha256, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self, "select id, sha256 from audit order by id desc limit 1",
                                                      error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    {
      *out_id = 0;
      *out_sha256 = g_strdup (ZERO_SHA256);
      return TRUE;
    }
  if (rc != SQLITE_ROW)
    return vigil_store_fail (self, error, "read audit head");
  *out_id = sqlite3_column_int64 (stmt, 0);
  *out_sha256 = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
  return TRUE;
}

static gint64
append (VigilStore *self, VigilAuditEntry *entry, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 head_id;

  if (!read_head (self, &head_id, &entry->prev_sha256, error))
    return 0;
  entry->id = head_id + 1;
  entry->sha256 = hash_entry (entry);
  stmt = vigil_store_prepare (self, "insert into audit (id, time_us, uid, user, action, target, details, "
                              "prev_sha256, sha256) values (?, ?, ?, ?, ?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, entry->id);
  sqlite3_bind_int64 (stmt, 2, entry->time_us);
  sqlite3_bind_int64 (stmt, 3, entry->uid);
  sqlite3_bind_text (stmt, 4, entry->user, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, entry->action, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 6, entry->target, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 7, entry->details, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 8, entry->prev_sha256, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 9, entry->sha256, -1, SQLITE_STATIC);
  return vigil_store_step_done (self, stmt, error) ? entry->id : 0;
}

gint64
vigil_store_append_audit (VigilStore *self, gint64 time_us, gint64 uid, const gchar *user, const gchar *action,
                          const gchar *target, const gchar *details, GError **error)
{
  VigilAuditEntry entry = {
    .time_us = time_us, .uid = uid, .user = (gchar *) (user ? user : ""), .action = (gchar *) action,
    .target = (gchar *) (target ? target : ""), .details = (gchar *) (details ? details : "{}"),
  };
  g_autofree gchar *prev = NULL;
  g_autofree gchar *sha = NULL;
  gint64 id;

  g_return_val_if_fail (VIGIL_IS_STORE (self), 0);
  g_return_val_if_fail (action != NULL && *action != '\0', 0);
  /* Reading the head and inserting after it is one write transaction, so
   * two writers (a second vigild on the same catalog) cannot fork the chain. */
  if (!vigil_store_begin (self, error))
    return 0;
  id = append (self, &entry, error);
  prev = entry.prev_sha256;
  sha = entry.sha256;
  if (id == 0)
    {
      vigil_store_rollback (self);
      return 0;
    }
  return vigil_store_commit (self, error) ? id : 0;
}

static VigilAuditEntry *
entry_from_row (sqlite3_stmt *stmt)
{
  VigilAuditEntry *entry = g_new0 (VigilAuditEntry, 1);

  entry->id = sqlite3_column_int64 (stmt, 0);
  entry->time_us = sqlite3_column_int64 (stmt, 1);
  entry->uid = sqlite3_column_int64 (stmt, 2);
  entry->user = g_strdup ((const gchar *) sqlite3_column_text (stmt, 3));
  entry->action = g_strdup ((const gchar *) sqlite3_column_text (stmt, 4));
  entry->target = g_strdup ((const gchar *) sqlite3_column_text (stmt, 5));
  entry->details = g_strdup ((const gchar *) sqlite3_column_text (stmt, 6));
  entry->prev_sha256 = g_strdup ((const gchar *) sqlite3_column_text (stmt, 7));
  entry->sha256 = g_strdup ((const gchar *) sqlite3_column_text (stmt, 8));
  /* A row edited with NULLs must not crash the verifier. */
  if (entry->user == NULL) entry->user = g_strdup ("");
  if (entry->action == NULL) entry->action = g_strdup ("");
  if (entry->target == NULL) entry->target = g_strdup ("");
  if (entry->details == NULL) entry->details = g_strdup ("");
  if (entry->prev_sha256 == NULL) entry->prev_sha256 = g_strdup ("");
  if (entry->sha256 == NULL) entry->sha256 = g_strdup ("");
  return entry;
}

#define AUDIT_COLUMNS "id, time_us, uid, user, action, target, details, prev_sha256, sha256 from audit "

GPtrArray *
vigil_store_list_audit (VigilStore *self, gint64 since_us, guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) entries = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_audit_entry_free);
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self, "select * from (select " AUDIT_COLUMNS "where time_us >= ? "
                              "order by id desc limit ?) order by id", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, since_us);
  sqlite3_bind_int64 (stmt, 2, limit > 0 ? (gint64) limit : -1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (entries, entry_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "list audit log");
      return NULL;
    }
  return g_steal_pointer (&entries);
}

static gboolean
tampered (GError **error, gint64 id, const gchar *what)
{
  g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_TAMPERED,
               "audit log broken at row %" G_GINT64_FORMAT ": %s", id, what);
  return FALSE;
}

gboolean
vigil_store_verify_audit (VigilStore *self, gint64 *out_rows, gint64 *out_head_id, gchar **out_head_sha256,
                          GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autofree gchar *prev = g_strdup (ZERO_SHA256);
  gint64 expected_id = 1, rows = 0;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = vigil_store_prepare (self, "select " AUDIT_COLUMNS "order by id", error);
  if (stmt == NULL)
    return FALSE;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      g_autoptr(VigilAuditEntry) entry = entry_from_row (stmt);
      g_autofree gchar *sha = NULL;

      if (entry->id != expected_id)
        return tampered (error, expected_id, entry->id > expected_id ? "row missing" : "rows out of order");
      if (g_strcmp0 (entry->prev_sha256, prev) != 0)
        return tampered (error, entry->id, "does not follow the row before it (a row before it was changed or removed)");
      sha = hash_entry (entry);
      if (g_strcmp0 (sha, entry->sha256) != 0)
        return tampered (error, entry->id, "its content does not match its hash (the row was changed)");
      g_free (prev);
      prev = g_steal_pointer (&entry->sha256);
      expected_id++;
      rows++;
    }
  if (rc != SQLITE_DONE)
    return vigil_store_fail (self, error, "read audit log");
  if (out_rows != NULL)
    *out_rows = rows;
  if (out_head_id != NULL)
    *out_head_id = expected_id - 1;
  if (out_head_sha256 != NULL)
    *out_head_sha256 = g_steal_pointer (&prev);
  return TRUE;
}

gboolean
vigil_store_get_audit_head (VigilStore *self, gint64 *out_head_id, gchar **out_head_sha256, GError **error)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  return read_head (self, out_head_id, out_head_sha256, error);
}
