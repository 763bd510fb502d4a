/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore's incidents, notes, tags and evidence locks (upgrade-2.sql).
 * Every change that touches an incident and its locks is one transaction,
 * so a crash never leaves an incident without the locks it implies. */
#include "vigil-incidents.h"

#include <string.h>

#include "vigil-storage-private.h"
#include "vigil-text.h"

#define LOCK_IN_FORCE "(l.expires_us is null or l.expires_us > :now)"

void
vigil_incident_note_free (VigilIncidentNote *note)
{
  if (note == NULL)
    return;
  g_free (note->user);
  g_free (note->text);
  g_free (note);
}

VigilIncident *
vigil_incident_new (void)
{
  VigilIncident *incident = g_new0 (VigilIncident, 1);

  incident->pre_roll_us = VIGIL_INCIDENT_DEFAULT_ROLL_US;
  incident->post_roll_us = VIGIL_INCIDENT_DEFAULT_ROLL_US;
  incident->created_uid = -1;
  incident->notes = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_incident_note_free);
  return incident;
}

void
vigil_incident_free (VigilIncident *incident)
{
  if (incident == NULL)
    return;
  g_free (incident->title);
  g_free (incident->description);
  g_strfreev (incident->cameras);
  g_strfreev (incident->tags);
  g_clear_pointer (&incident->notes, g_ptr_array_unref);
  g_free (incident->created_user);
  g_free (incident->release_reason);
  g_free (incident);
}

void
vigil_incident_get_locked_span (const VigilIncident *incident, gint64 *out_from_us, gint64 *out_to_us)
{
  *out_from_us = incident->start_us - incident->pre_roll_us;
  *out_to_us = incident->end_us != 0 ? incident->end_us + incident->post_roll_us : 0;
}

static gboolean
invalid (GError **error, const gchar *format, ...) G_GNUC_PRINTF (2, 3);

static gboolean
invalid (GError **error, const gchar *format, ...)
{
  g_autofree gchar *message = NULL;
  va_list args;

  va_start (args, format);
  message = g_strdup_vprintf (format, args);
  va_end (args);
  g_set_error_literal (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID, message);
  return FALSE;
}

gboolean
vigil_incident_tag_is_valid (const gchar *tag)
{
  if (tag == NULL || *tag == '\0' || strlen (tag) > 64 || !g_utf8_validate (tag, -1, NULL))
    return FALSE;
  for (const gchar *p = tag; *p; p++)
    if (g_ascii_isspace (*p) || g_ascii_iscntrl (*p) || *p == ',')
      return FALSE;
  return TRUE;
}

typedef enum {
  TEXT_ONE_LINE,       /* a title, a reason: one line, not blank */
  TEXT_LINES,          /* a note: newlines allowed, not blank */
  TEXT_MAY_BE_EMPTY,   /* a description: newlines allowed, may be empty */
} TextKind;

static gboolean
check_text (const gchar *what, const gchar *text, gsize max_bytes, TextKind kind, GError **error)
{
  g_autofree gchar *safe = NULL;
  gboolean blank = TRUE;

  if (text == NULL)
    text = "";
  for (const gchar *p = text; *p != '\0' && blank; p++)
    blank = g_ascii_isspace (*p);
  if (kind != TEXT_MAY_BE_EMPTY && blank)
    return invalid (error, "%s must not be empty or blank", what);
  if (!g_utf8_validate (text, -1, NULL))
    return invalid (error, "%s is not valid UTF-8", what);
  if (strlen (text) > max_bytes)
    return invalid (error, "%s is longer than %" G_GSIZE_FORMAT " bytes", what, max_bytes);
  /* Shown in logs, terminals and exports: a control character or a
   * bidirectional override could forge a line or reorder what is read.
   * Only free text keeps its newlines. */
  safe = vigil_text_sanitize (text, 0, kind == TEXT_ONE_LINE ? VIGIL_TEXT_DEFAULT : VIGIL_TEXT_KEEP_NEWLINES);
  if (strcmp (safe, text) != 0)
    return invalid (error, "%s holds control characters%s", what,
                    kind == TEXT_ONE_LINE ? " (it must be one line)" : " other than newlines");
  return TRUE;
}

static gboolean
is_valid_time (gint64 time_us)
{
  return time_us >= VIGIL_INCIDENT_MIN_TIME_US && time_us < VIGIL_INCIDENT_MAX_TIME_US;
}

static gboolean
check_time (const gchar *what, gint64 time_us, GError **error)
{
  if (is_valid_time (time_us))
    return TRUE;
  return invalid (error, "%s %" G_GINT64_FORMAT " µs is not a time from 2000 to 2199", what, time_us);
}

static gboolean
check_incident (const VigilIncident *incident, GError **error)
{
  if (!check_text ("title", incident->title, 200, TEXT_ONE_LINE, error)
      || !check_text ("description", incident->description, 10000, TEXT_MAY_BE_EMPTY, error))
    return FALSE;
  if (incident->cameras == NULL || incident->cameras[0] == NULL)
    return invalid (error, "an incident needs at least one camera");
  if (incident->start_us == 0)
    return invalid (error, "start time is missing");
  if (!check_time ("start time", incident->start_us, error)
      || (incident->end_us != 0 && !check_time ("end time", incident->end_us, error))
      || (incident->expires_us != 0 && !check_time ("expiry", incident->expires_us, error)))
    return FALSE;
  if (incident->end_us != 0 && incident->end_us < incident->start_us)
    return invalid (error, "end time is before start time");
  if (incident->pre_roll_us < 0 || incident->pre_roll_us > VIGIL_INCIDENT_MAX_ROLL_US)
    return invalid (error, "pre-roll must be 0 to 3600 s");
  if (incident->post_roll_us < 0 || incident->post_roll_us > VIGIL_INCIDENT_MAX_ROLL_US)
    return invalid (error, "post-roll must be 0 to 3600 s");
  for (guint i = 0; incident->tags != NULL && incident->tags[i] != NULL; i++)
    if (!vigil_incident_tag_is_valid (incident->tags[i]))
      return invalid (error, "tag “%s” must be 1 to 64 bytes without spaces or commas", incident->tags[i]);
  if (incident->tags != NULL && g_strv_length (incident->tags) > VIGIL_INCIDENT_MAX_TAGS)
    return invalid (error, "an incident may have at most %u tags", VIGIL_INCIDENT_MAX_TAGS);
  if (g_strv_length (incident->cameras) > VIGIL_INCIDENT_MAX_CAMERAS)
    return invalid (error, "an incident may name at most %u cameras", VIGIL_INCIDENT_MAX_CAMERAS);
  return TRUE;
}

static void
bind_optional (sqlite3_stmt *stmt, int index, gint64 value)
{
  if (value != 0)
    sqlite3_bind_int64 (stmt, index, value);
  else
    sqlite3_bind_null (stmt, index);
}

static gboolean
insert_tag (VigilStore *self, gint64 id, const gchar *tag, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self,
      "insert or ignore into incident_tags (incident_id, tag) values (?, ?)", error);

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, tag, -1, SQLITE_STATIC);
  return vigil_store_step_done (self, stmt, error);
}

static gint64
insert_incident (VigilStore *self, const VigilIncident *incident, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 id, lock_from_us, lock_to_us;

  stmt = vigil_store_prepare (self,
      "insert into incidents (title, description, start_us, end_us, pre_roll_us, post_roll_us, "
      "created_us, created_uid, created_user, closed_us, expires_us) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
      error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, incident->title, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, incident->description ? incident->description : "", -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, incident->start_us);
  bind_optional (stmt, 4, incident->end_us);
  sqlite3_bind_int64 (stmt, 5, incident->pre_roll_us);
  sqlite3_bind_int64 (stmt, 6, incident->post_roll_us);
  sqlite3_bind_int64 (stmt, 7, incident->created_us ? incident->created_us : g_get_real_time ());
  sqlite3_bind_int64 (stmt, 8, incident->created_uid);
  sqlite3_bind_text (stmt, 9, incident->created_user ? incident->created_user : "", -1, SQLITE_STATIC);
  bind_optional (stmt, 10, incident->end_us != 0 ? (incident->created_us ? incident->created_us : g_get_real_time ()) : 0);
  bind_optional (stmt, 11, incident->expires_us);
  if (!vigil_store_step_done (self, stmt, error))
    return 0;
  id = sqlite3_last_insert_rowid (vigil_store_get_db (self));

  vigil_incident_get_locked_span (incident, &lock_from_us, &lock_to_us);
  for (guint i = 0; incident->cameras[i] != NULL; i++)
    {
      g_autoptr(sqlite3_stmt) link = NULL;
      g_autoptr(sqlite3_stmt) lock = NULL;
      gint64 cam = vigil_store_get_camera_id (self, incident->cameras[i], error);

      if (cam == 0)
        return 0;
      /* A camera named twice is linked and locked once. */
      link = vigil_store_prepare (self, "insert or ignore into incident_cameras (incident_id, camera_id) values (?, ?)",
                                  error);
      /* Never "or ignore": a lock that cannot be written fails the whole
       * incident, rather than leave one that claims locked evidence
       * without the lock. */
      lock = vigil_store_prepare (self,
          "insert into locks (incident_id, camera_id, from_us, to_us, expires_us) values (?, ?, ?, ?, ?)", error);
      if (link == NULL || lock == NULL)
        return 0;
      sqlite3_bind_int64 (link, 1, id);
      sqlite3_bind_int64 (link, 2, cam);
      if (!vigil_store_step_done (self, link, error))
        return 0;
      if (sqlite3_changes (vigil_store_get_db (self)) == 0)
        continue;
      sqlite3_bind_int64 (lock, 1, id);
      sqlite3_bind_int64 (lock, 2, cam);
      sqlite3_bind_int64 (lock, 3, lock_from_us);
      bind_optional (lock, 4, lock_to_us);
      bind_optional (lock, 5, incident->expires_us);
      if (!vigil_store_step_done (self, lock, error))
        return 0;
    }
  for (guint i = 0; incident->tags != NULL && incident->tags[i] != NULL; i++)
    if (!insert_tag (self, id, incident->tags[i], error))
      return 0;
  return id;
}

gint64
vigil_store_add_incident (VigilStore *self, const VigilIncident *incident, GError **error)
{
  gint64 id;

  g_return_val_if_fail (VIGIL_IS_STORE (self), 0);
  g_return_val_if_fail (incident != NULL, 0);
  if (!check_incident (incident, error) || !vigil_store_begin (self, error))
    return 0;
  id = insert_incident (self, incident, error);
  if (id == 0)
    {
      vigil_store_rollback (self);
      return 0;
    }
  return vigil_store_commit (self, error) ? id : 0;
}

static GStrv
collect_strings (VigilStore *self, const gchar *sql, gint64 id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self, sql, error);
  g_autoptr(GStrvBuilder) builder = g_strv_builder_new ();
  int rc;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_strv_builder_add (builder, (const gchar *) sqlite3_column_text (stmt, 0));
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "read incident");
      return NULL;
    }
  return g_strv_builder_end (builder);
}

static gboolean
load_notes (VigilStore *self, VigilIncident *incident, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = vigil_store_prepare (self,
      "select time_us, uid, user, text from incident_notes where incident_id = ? order by id", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, incident->id);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      VigilIncidentNote *note = g_new0 (VigilIncidentNote, 1);

      note->time_us = sqlite3_column_int64 (stmt, 0);
      note->uid = sqlite3_column_int64 (stmt, 1);
      note->user = g_strdup ((const gchar *) sqlite3_column_text (stmt, 2));
      note->text = g_strdup ((const gchar *) sqlite3_column_text (stmt, 3));
      g_ptr_array_add (incident->notes, note);
    }
  return rc == SQLITE_DONE || vigil_store_fail (self, error, "read incident notes");
}

#define INCIDENT_COLUMNS \
  "i.id, i.title, i.description, i.start_us, i.end_us, i.pre_roll_us, i.post_roll_us, i.created_us, " \
  "i.created_uid, i.created_user, i.closed_us, i.released_us, i.release_reason, i.expires_us from incidents i "

static VigilIncident *
incident_from_row (VigilStore *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(VigilIncident) incident = vigil_incident_new ();

  incident->id = sqlite3_column_int64 (stmt, 0);
  incident->title = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
  incident->description = g_strdup ((const gchar *) sqlite3_column_text (stmt, 2));
  incident->start_us = sqlite3_column_int64 (stmt, 3);
  incident->end_us = sqlite3_column_int64 (stmt, 4);
  incident->pre_roll_us = sqlite3_column_int64 (stmt, 5);
  incident->post_roll_us = sqlite3_column_int64 (stmt, 6);
  incident->created_us = sqlite3_column_int64 (stmt, 7);
  incident->created_uid = sqlite3_column_int64 (stmt, 8);
  incident->created_user = g_strdup ((const gchar *) sqlite3_column_text (stmt, 9));
  incident->closed_us = sqlite3_column_int64 (stmt, 10);
  incident->released_us = sqlite3_column_int64 (stmt, 11);
  incident->release_reason = g_strdup ((const gchar *) sqlite3_column_text (stmt, 12));
  incident->expires_us = sqlite3_column_int64 (stmt, 13);
  incident->cameras = collect_strings (self,
      "select c.name from incident_cameras ic join cameras c on c.id = ic.camera_id "
      "where ic.incident_id = ? order by c.name", incident->id, error);
  if (incident->cameras == NULL)
    return NULL;
  incident->tags = collect_strings (self, "select tag from incident_tags where incident_id = ? order by tag",
                                    incident->id, error);
  if (incident->tags == NULL || !load_notes (self, incident, error))
    return NULL;
  return g_steal_pointer (&incident);
}

static gboolean
not_found (GError **error, gint64 id)
{
  g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND, "no incident %" G_GINT64_FORMAT, id);
  return FALSE;
}

VigilIncident *
vigil_store_get_incident (VigilStore *self, gint64 id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self, "select " INCIDENT_COLUMNS "where i.id = ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return incident_from_row (self, stmt, error);
  if (rc == SQLITE_DONE)
    not_found (error, id);
  else
    vigil_store_fail (self, error, "read incident");
  return NULL;
}

/* Runs a one-row update of incident @id; NOT_FOUND when no row matched. */
static gboolean
update_incident (VigilStore *self, sqlite3_stmt *stmt, gint64 id, GError **error)
{
  if (!vigil_store_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (vigil_store_get_db (self)) == 0)
    return not_found (error, id);
  return TRUE;
}

gboolean
vigil_store_add_incident_note (VigilStore *self, gint64 id, const VigilIncidentNote *note, GError **error)
{
  g_autoptr(VigilIncident) incident = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (!check_text ("note", note->text, 4000, TEXT_LINES, error))
    return FALSE;
  incident = vigil_store_get_incident (self, id, error);
  if (incident == NULL)
    return FALSE;
  /* Every note travels with the incident (D-Bus, exports): bounded. */
  if (incident->notes->len >= VIGIL_INCIDENT_MAX_NOTES)
    return invalid (error, "incident %" G_GINT64_FORMAT " already holds %u notes, the most it may", id,
                    VIGIL_INCIDENT_MAX_NOTES);
  stmt = vigil_store_prepare (self,
      "insert into incident_notes (incident_id, time_us, uid, user, text) values (?, ?, ?, ?, ?)", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_int64 (stmt, 2, note->time_us);
  sqlite3_bind_int64 (stmt, 3, note->uid);
  sqlite3_bind_text (stmt, 4, note->user ? note->user : "", -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 5, note->text, -1, SQLITE_STATIC);
  return vigil_store_step_done (self, stmt, error);
}

gboolean
vigil_store_add_incident_tag (VigilStore *self, gint64 id, const gchar *tag, GError **error)
{
  g_autoptr(VigilIncident) incident = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (!vigil_incident_tag_is_valid (tag))
    return invalid (error, "tag “%s” must be 1 to 64 bytes without spaces or commas", tag ? tag : "");
  incident = vigil_store_get_incident (self, id, error);
  if (incident == NULL)
    return FALSE;
  if (!g_strv_contains ((const gchar *const *) incident->tags, tag)
      && g_strv_length (incident->tags) >= VIGIL_INCIDENT_MAX_TAGS)
    return invalid (error, "incident %" G_GINT64_FORMAT " already has %u tags, the most it may have", id,
                    VIGIL_INCIDENT_MAX_TAGS);
  return insert_tag (self, id, tag, error);
}

gboolean
vigil_store_remove_incident_tag (VigilStore *self, gint64 id, const gchar *tag, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = vigil_store_prepare (self, "delete from incident_tags where incident_id = ? and tag = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, id);
  sqlite3_bind_text (stmt, 2, tag, -1, SQLITE_STATIC);
  if (!vigil_store_step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (vigil_store_get_db (self)) == 0)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                   "incident %" G_GINT64_FORMAT " has no tag “%s”", id, tag);
      return FALSE;
    }
  return TRUE;
}

static gboolean
close_incident (VigilStore *self, gint64 id, gint64 end_us, gint64 closed_us, GError **error)
{
  g_autoptr(VigilIncident) incident = vigil_store_get_incident (self, id, error);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(sqlite3_stmt) locks = NULL;

  if (incident == NULL)
    return FALSE;
  if (incident->end_us != 0)
    return invalid (error, "incident %" G_GINT64_FORMAT " is already closed", id);
  if (!check_time ("end time", end_us, error))
    return FALSE;
  if (end_us < incident->start_us)
    return invalid (error, "end time is before the incident's start");
  stmt = vigil_store_prepare (self, "update incidents set end_us = ?, closed_us = ? where id = ?", error);
  locks = vigil_store_prepare (self, "update locks set to_us = ? where incident_id = ?", error);
  if (stmt == NULL || locks == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, end_us);
  sqlite3_bind_int64 (stmt, 2, closed_us);
  sqlite3_bind_int64 (stmt, 3, id);
  sqlite3_bind_int64 (locks, 1, end_us + incident->post_roll_us);
  sqlite3_bind_int64 (locks, 2, id);
  return update_incident (self, stmt, id, error) && vigil_store_step_done (self, locks, error);
}

gboolean
vigil_store_close_incident (VigilStore *self, gint64 id, gint64 end_us, gint64 closed_us, GError **error)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (!vigil_store_begin (self, error))
    return FALSE;
  if (!close_incident (self, id, end_us, closed_us, error))
    {
      vigil_store_rollback (self);
      return FALSE;
    }
  return vigil_store_commit (self, error);
}

static gboolean
release_incident (VigilStore *self, gint64 id, gint64 released_us, const gchar *reason, GError **error)
{
  g_autoptr(VigilIncident) incident = vigil_store_get_incident (self, id, error);
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(sqlite3_stmt) locks = NULL;

  if (incident == NULL)
    return FALSE;
  if (incident->released_us != 0)
    return invalid (error, "incident %" G_GINT64_FORMAT " was already released", id);
  stmt = vigil_store_prepare (self, "update incidents set released_us = ?, release_reason = ? where id = ?", error);
  locks = vigil_store_prepare (self, "delete from locks where incident_id = ?", error);
  if (stmt == NULL || locks == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, released_us);
  sqlite3_bind_text (stmt, 2, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, id);
  sqlite3_bind_int64 (locks, 1, id);
  return update_incident (self, stmt, id, error) && vigil_store_step_done (self, locks, error);
}

gboolean
vigil_store_release_incident (VigilStore *self, gint64 id, gint64 released_us, const gchar *reason, GError **error)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (!check_text ("release reason", reason, 1000, TEXT_ONE_LINE, error) || !vigil_store_begin (self, error))
    return FALSE;
  if (!release_incident (self, id, released_us, reason, error))
    {
      vigil_store_rollback (self);
      return FALSE;
    }
  return vigil_store_commit (self, error);
}

gboolean
vigil_store_set_incident_expiry (VigilStore *self, gint64 id, gint64 expires_us, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(sqlite3_stmt) locks = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (expires_us != 0 && !check_time ("expiry", expires_us, error))
    return FALSE;
  if (!vigil_store_begin (self, error))
    return FALSE;
  stmt = vigil_store_prepare (self, "update incidents set expires_us = ? where id = ? and released_us is null", error);
  locks = vigil_store_prepare (self, "update locks set expires_us = ? where incident_id = ?", error);
  if (stmt != NULL && locks != NULL)
    {
      bind_optional (stmt, 1, expires_us);
      sqlite3_bind_int64 (stmt, 2, id);
      bind_optional (locks, 1, expires_us);
      sqlite3_bind_int64 (locks, 2, id);
      if (update_incident (self, stmt, id, error) && vigil_store_step_done (self, locks, error))
        return vigil_store_commit (self, error);
    }
  vigil_store_rollback (self);
  if (error != NULL && g_error_matches (*error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND))
    g_prefix_error (error, "released or ");
  return FALSE;
}

GPtrArray *
vigil_store_list_incidents (VigilStore *self, const VigilIncidentFilter *filter, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) incidents = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_incident_free);
  g_autofree gchar *pattern = NULL;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self, "select " INCIDENT_COLUMNS
      "where (:to = 0 or i.start_us < :to) "
      "and (:from = 0 or coalesce(i.end_us, 9223372036854775807) >= :from) "
      "and (:camera is null or exists (select 1 from incident_cameras ic join cameras c on c.id = ic.camera_id "
      "                                where ic.incident_id = i.id and c.name = :camera)) "
      "and (:tag is null or exists (select 1 from incident_tags t where t.incident_id = i.id and t.tag = :tag)) "
      "and (:text is null or i.title like :text escape '\\' or i.description like :text escape '\\') "
      "order by i.start_us desc, i.id desc limit :limit offset :offset", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":from"), filter ? filter->from_us : 0);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":to"), filter ? filter->to_us : 0);
  if (filter != NULL && filter->camera != NULL)
    sqlite3_bind_text (stmt, sqlite3_bind_parameter_index (stmt, ":camera"), filter->camera, -1, SQLITE_STATIC);
  if (filter != NULL && filter->tag != NULL)
    sqlite3_bind_text (stmt, sqlite3_bind_parameter_index (stmt, ":tag"), filter->tag, -1, SQLITE_STATIC);
  if (filter != NULL && filter->text != NULL)
    {
      g_autoptr(GString) escaped = g_string_new ("%");

      /* like is case-insensitive for ASCII; % and _ in the query are literal. */
      for (const gchar *p = filter->text; *p; p++)
        {
          if (*p == '%' || *p == '_' || *p == '\\')
            g_string_append_c (escaped, '\\');
          g_string_append_c (escaped, *p);
        }
      g_string_append_c (escaped, '%');
      pattern = g_string_free (g_steal_pointer (&escaped), FALSE);
      sqlite3_bind_text (stmt, sqlite3_bind_parameter_index (stmt, ":text"), pattern, -1, SQLITE_STATIC);
    }
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":limit"),
                      filter != NULL && filter->limit > 0 ? (gint64) filter->limit : -1);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":offset"), filter != NULL ? filter->offset : 0);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      VigilIncident *incident = incident_from_row (self, stmt, error);

      if (incident == NULL)
        return NULL;
      g_ptr_array_add (incidents, incident);
    }
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "list incidents");
      return NULL;
    }
  return g_steal_pointer (&incidents);
}

GArray *
vigil_store_release_expired_incidents (VigilStore *self, gint64 now_us, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GArray) ids = g_array_new (FALSE, FALSE, sizeof (gint64));
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self,
      "select id from incidents where released_us is null and expires_us is not null and expires_us <= ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, now_us);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      gint64 id = sqlite3_column_int64 (stmt, 0);
      g_array_append_val (ids, id);
    }
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "list expired incidents");
      return NULL;
    }
  g_clear_pointer (&stmt, sqlite3_finalize);
  for (guint i = 0; i < ids->len; i++)
    if (!vigil_store_release_incident (self, g_array_index (ids, gint64, i), now_us, "expired", error))
      return NULL;
  return g_steal_pointer (&ids);
}

gboolean
vigil_store_is_span_locked (VigilStore *self, const gchar *camera, gint64 from_us, gint64 to_us,
                            gint64 now_us, gboolean *out_locked, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 cam;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  cam = vigil_store_get_camera_id (self, camera, error);
  if (cam == 0)
    return FALSE;
  stmt = vigil_store_prepare (self, "select 1 from locks l where l.camera_id = :camera "
                              "and l.from_us < :to and (l.to_us is null or l.to_us > :from) and " LOCK_IN_FORCE,
                              error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":camera"), cam);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":from"), from_us);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":to"), to_us);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":now"), now_us);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return vigil_store_fail (self, error, "check locks");
  *out_locked = rc == SQLITE_ROW;
  return TRUE;
}

GPtrArray *
vigil_store_list_deletable_segments (VigilStore *self, const gchar *camera, gint64 before_us, gint64 now_us,
                                     guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_segment_free);
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = vigil_store_prepare (self,
      "select s.id, c.name, s.path, s.start_us, s.end_us, s.size_bytes from segments s "
      "join cameras c on c.id = s.camera_id "
      "where s.state in ('complete', 'recovered') and (:camera is null or c.name = :camera) "
      "and s.end_us <= :before and s.start_us <= :before "   /* implied; lets the start index stop there */
      "and not exists (select 1 from locks l where l.camera_id = s.camera_id "
      "                and l.from_us < s.end_us and (l.to_us is null or l.to_us > s.start_us) "
      "                and " LOCK_IN_FORCE ") "
      "order by s.start_us limit :limit", error);
  if (stmt == NULL)
    return NULL;
  if (camera != NULL)
    sqlite3_bind_text (stmt, sqlite3_bind_parameter_index (stmt, ":camera"), camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":before"), before_us);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":now"), now_us);
  sqlite3_bind_int64 (stmt, sqlite3_bind_parameter_index (stmt, ":limit"), limit > 0 ? (gint64) limit : -1);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      VigilSegment *segment = g_new0 (VigilSegment, 1);

      segment->id = sqlite3_column_int64 (stmt, 0);
      segment->camera = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
      segment->path = g_strdup ((const gchar *) sqlite3_column_text (stmt, 2));
      segment->start_us = sqlite3_column_int64 (stmt, 3);
      segment->end_us = sqlite3_column_int64 (stmt, 4);
      segment->size_bytes = sqlite3_column_int64 (stmt, 5);
      segment->state = VIGIL_SEGMENT_COMPLETE;
      g_ptr_array_add (segments, segment);
    }
  if (rc != SQLITE_DONE)
    {
      vigil_store_fail (self, error, "list deletable segments");
      return NULL;
    }
  return g_steal_pointer (&segments);
}
