/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore's alerts table; see vigil-alert-store.h. */
#include "vigil-alert-store.h"

#include "vigil-storage-private.h"

static const gchar *const severity_names[] = { "warning", "critical" };

const gchar *
vigil_alert_severity_to_string (VigilAlertSeverity severity)
{
  g_return_val_if_fail (severity < G_N_ELEMENTS (severity_names), NULL);
  return severity_names[severity];
}

G_DEFINE_BOXED_TYPE (VigilAlert, vigil_alert, vigil_alert_copy, vigil_alert_free)

VigilAlert *
vigil_alert_copy (const VigilAlert *alert)
{
  VigilAlert *copy = g_memdup2 (alert, sizeof *alert);

  copy->kind = g_strdup (alert->kind);
  copy->subject = g_strdup (alert->subject);
  copy->details = g_strdup (alert->details);
  return copy;
}

void
vigil_alert_free (VigilAlert *alert)
{
  if (alert == NULL)
    return;
  g_free (alert->kind);
  g_free (alert->subject);
  g_free (alert->details);
  g_free (alert);
}

#define ALERT_COLUMNS "id, kind, severity, subject, raised_us, cleared_us, details from alerts "

static VigilAlert *
alert_from_row (sqlite3_stmt *stmt)
{
  VigilAlert *alert = g_new0 (VigilAlert, 1);

  alert->id = sqlite3_column_int64 (stmt, 0);
  alert->kind = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
  alert->severity = g_strcmp0 ((const gchar *) sqlite3_column_text (stmt, 2), "critical") == 0
                    ? VIGIL_ALERT_CRITICAL : VIGIL_ALERT_WARNING;
  alert->subject = g_strdup ((const gchar *) sqlite3_column_text (stmt, 3));
  alert->raised_us = sqlite3_column_int64 (stmt, 4);
  alert->cleared_us = sqlite3_column_int64 (stmt, 5);
  alert->details = g_strdup ((const gchar *) sqlite3_column_text (stmt, 6));
  return alert;
}

static VigilAlert *
find_open (VigilStore *self, const gchar *kind, const gchar *subject, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self, "select " ALERT_COLUMNS
                                                      "where kind = ? and subject = ? and cleared_us is null",
                                                      error);
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, subject, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return alert_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND, "no open %s alert for %s", kind, subject);
  else
    vigil_store_fail (self, error, "find alert");
  return NULL;
}

VigilAlert *
vigil_store_raise_alert (VigilStore *self, const gchar *kind, VigilAlertSeverity severity, const gchar *subject,
                         gint64 raised_us, const gchar *details, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GError) local_error = NULL;
  VigilAlert *open;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  open = find_open (self, kind, subject, &local_error);
  if (open != NULL)
    return open;
  if (!g_error_matches (local_error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND))
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return NULL;
    }
  stmt = vigil_store_prepare (self, "insert into alerts (kind, severity, subject, raised_us, details) "
                              "values (?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, kind, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, vigil_alert_severity_to_string (severity), -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 3, subject, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, raised_us);
  sqlite3_bind_text (stmt, 5, details ? details : "", -1, SQLITE_STATIC);
  if (!vigil_store_step_done (self, stmt, error))
    return NULL;
  return find_open (self, kind, subject, error);
}

VigilAlert *
vigil_store_clear_alert (VigilStore *self, const gchar *kind, const gchar *subject, gint64 cleared_us,
                         GError **error)
{
  g_autoptr(VigilAlert) open = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  open = find_open (self, kind, subject, error);
  if (open == NULL)
    return NULL;
  stmt = vigil_store_prepare (self, "update alerts set cleared_us = ? where id = ?", error);
  if (stmt == NULL)
    return NULL;
  open->cleared_us = MAX (cleared_us, open->raised_us);
  sqlite3_bind_int64 (stmt, 1, open->cleared_us);
  sqlite3_bind_int64 (stmt, 2, open->id);
  if (!vigil_store_step_done (self, stmt, error))
    return NULL;
  return g_steal_pointer (&open);
}

GPtrArray *
vigil_store_list_alerts (VigilStore *self, gboolean open_only, gint64 since_us, guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) alerts = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_alert_free);
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self, "select " ALERT_COLUMNS
                              "where (not ?1 or cleared_us is null) and (raised_us >= ?2 or cleared_us is null "
                              "or cleared_us >= ?2) order by raised_us desc, id desc limit ?3", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int (stmt, 1, open_only);
  sqlite3_bind_int64 (stmt, 2, since_us);
  sqlite3_bind_int64 (stmt, 3, limit > 0 ? (gint64) limit : -1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (alerts, alert_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "list alerts");
      return NULL;
    }
  return g_steal_pointer (&alerts);
}
