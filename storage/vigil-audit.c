/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore's audit log (upgrade-2.sql, table audit).
 *
 * A row's hash is SHA-256 over this byte string, fields in this order,
 * each as its decimal byte length, ':', the bytes, '\n' (so no field can
 * bleed into the next):
 *   "vigil-audit-1", prev_sha256, id, time_us, uid, user, action, target, details
 * with integers in decimal. The first row's prev_sha256 is 64 zeros.
 *
 * The signed head (upgrade-4.sql, table audit_anchor) is a signature of
 *   "vigil-audit-head-1\nID\nSHA256\n"
 * for the last row's id and hash, rewritten in each append's transaction. */
#include "vigil-audit.h"

#include <string.h>

#include "vigil-storage-private.h"

#define ZERO_SHA256 "0000000000000000000000000000000000000000000000000000000000000000"

struct _VigilAuditSigner
{
  VigilAuditSignFunc   sign;
  VigilAuditVerifyFunc verify;
  gpointer             user_data;
};

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

static gchar *
head_statement (gint64 id, const gchar *sha256)
{
  return g_strdup_printf ("vigil-audit-head-1\n%" G_GINT64_FORMAT "\n%s\n", id, sha256);
}

/* Called inside a write transaction, with a signer. */
static gboolean
sign_head (VigilStore *self, gint64 id, const gchar *sha256, GError **error)
{
  const VigilAuditSigner *signer = vigil_store_get_audit_signer (self);
  g_autofree gchar *statement = head_statement (id, sha256);
  g_autoptr(GBytes) signature = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gsize size = 0;
  gconstpointer data;

  signature = signer->sign (statement, signer->user_data, error);
  if (signature == NULL)
    {
      g_prefix_error (error, "cannot sign the audit log's head: ");
      return FALSE;
    }
  /* "or replace" replaces the one row, as meant; it hides no failure. */
  stmt = vigil_store_prepare (self, "insert or replace into audit_anchor (only, head_id, head_sha256, signature) "
                              "values (1, ?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  data = g_bytes_get_data (signature, &size);
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, sha256, -1, SQLITE_STATIC);
  sqlite3_bind_blob (stmt, 3, data, (int) size, SQLITE_STATIC);
  return vigil_store_step_done (self, stmt, error);
}

typedef struct {
  gboolean  present;
  gint64    id;
  gchar    *sha256;
  GBytes   *signature;
} SignedHead;

static void
signed_head_clear (SignedHead *head)
{
  g_clear_pointer (&head->sha256, g_free);
  g_clear_pointer (&head->signature, g_bytes_unref);
}
G_DEFINE_AUTO_CLEANUP_CLEAR_FUNC (SignedHead, signed_head_clear)

static gboolean
read_signed_head (VigilStore *self, SignedHead *out, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self, "select head_id, head_sha256, signature "
                                                      "from audit_anchor where only = 1", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_DONE)
    return TRUE;
  if (rc != SQLITE_ROW)
    return vigil_store_fail (self, error, "read the audit log's signed head");
  out->present = TRUE;
  out->id = sqlite3_column_int64 (stmt, 0);
  out->sha256 = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
  out->signature = g_bytes_new (sqlite3_column_blob (stmt, 2), (gsize) sqlite3_column_bytes (stmt, 2));
  return TRUE;
}

/* Why the signed head does not vouch for the log ending at @id, @sha256,
 * or NULL when it does. */
static gchar *
check_signed_head (VigilStore *self, const SignedHead *signed_head, gint64 id, const gchar *sha256)
{
  const VigilAuditSigner *signer = vigil_store_get_audit_signer (self);
  g_autofree gchar *statement = NULL;
  g_autoptr(GError) error = NULL;

  if (!signed_head->present)
    return id == 0 ? NULL : g_strdup ("the log's head is not signed (its signed head was removed, or the "
                                      "catalog is from before heads were signed)");
  if (signed_head->id == id && g_strcmp0 (signed_head->sha256, sha256) != 0)
    return g_strdup_printf ("the log's last row %" G_GINT64_FORMAT " is not the one signed (rows were changed)", id);
  if (signed_head->id != id)
    return g_strdup_printf ("the signed head is row %" G_GINT64_FORMAT " but the log ends at row %" G_GINT64_FORMAT
                            " (rows were removed or changed, or added while vigild had no signing key)",
                            signed_head->id, id);
  statement = head_statement (id, sha256);
  if (!signer->verify (statement, signed_head->signature, signer->user_data, &error))
    return g_strdup_printf ("the signed head's signature does not hold (%s)", error->message);
  return NULL;
}

static gint64 append (VigilStore *self, VigilAuditEntry *entry, GError **error);

/* @text as the inside of a JSON string. */
static gchar *
json_escape (const gchar *text)
{
  GString *out = g_string_new (NULL);

  for (const gchar *p = text; *p != '\0'; p++)
    {
      if (*p == '"' || *p == '\\')
        g_string_append_printf (out, "\\%c", *p);
      else if ((guchar) *p < 0x20)
        g_string_append_printf (out, "\\u%04x", (guint) (guchar) *p);
      else
        g_string_append_c (out, *p);
    }
  return g_string_free (out, FALSE);
}

gboolean
vigil_store_set_audit_signer (VigilStore *self, VigilAuditSignFunc sign, VigilAuditVerifyFunc verify,
                              gpointer user_data, GError **error)
{
  VigilAuditSigner *signer;
  g_auto(SignedHead) signed_head = { 0 };
  g_autofree gchar *head_sha256 = NULL;
  g_autofree gchar *why = NULL;
  gint64 head_id = 0;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  g_return_val_if_fail (sign != NULL && verify != NULL, FALSE);

  signer = g_new0 (VigilAuditSigner, 1);
  signer->sign = sign;
  signer->verify = verify;
  signer->user_data = user_data;
  vigil_store_take_audit_signer (self, signer);

  if (!vigil_store_begin (self, error))
    return FALSE;
  if (!read_head (self, &head_id, &head_sha256, error) || !read_signed_head (self, &signed_head, error))
    {
      vigil_store_rollback (self);
      return FALSE;
    }
  why = check_signed_head (self, &signed_head, head_id, head_sha256);
  if (why != NULL)
    {
      g_autofree gchar *details = NULL;
      g_autofree gchar *quoted = json_escape (why);
      VigilAuditEntry entry = {
        .time_us = g_get_real_time (), .uid = -1, .user = (gchar *) "vigild", .action = (gchar *) "audit-head-signed",
        .target = (gchar *) "",
      };
      g_autofree gchar *prev = NULL;
      g_autofree gchar *sha = NULL;
      gint64 id;

      if (signed_head.present)
        details = g_strdup_printf ("{\"log_head_id\":%" G_GINT64_FORMAT ",\"log_head_sha256\":\"%s\","
                                   "\"signed_head_id\":%" G_GINT64_FORMAT ",\"signed_head_sha256\":\"%s\","
                                   "\"why\":\"%s\"}", head_id, head_sha256, signed_head.id,
                                   signed_head.sha256 != NULL ? signed_head.sha256 : "", quoted);
      else
        details = g_strdup_printf ("{\"log_head_id\":%" G_GINT64_FORMAT ",\"log_head_sha256\":\"%s\","
                                   "\"signed_head_id\":null,\"why\":\"%s\"}", head_id, head_sha256, quoted);
      entry.details = details;
      id = append (self, &entry, error);
      prev = entry.prev_sha256;
      sha = entry.sha256;
      if (id == 0)
        {
          vigil_store_rollback (self);
          return FALSE;
        }
      g_warning ("audit log: %s; signed anew from row %" G_GINT64_FORMAT ", which records it", why, id);
    }
  return vigil_store_commit (self, error);
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
  if (!vigil_store_step_done (self, stmt, error))
    return 0;
  if (vigil_store_get_audit_signer (self) != NULL && !sign_head (self, entry->id, entry->sha256, error))
    return 0;
  return entry->id;
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
  if (vigil_store_get_audit_signer (self) != NULL)
    {
      g_auto(SignedHead) signed_head = { 0 };
      g_autofree gchar *why = NULL;

      if (!read_signed_head (self, &signed_head, error))
        return FALSE;
      why = check_signed_head (self, &signed_head, expected_id - 1, prev);
      if (why != NULL)
        return tampered (error, expected_id - 1, why);
    }
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
