/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilStore: the SQLite catalog of cameras, runs and segments.
 *
 * The schema is storage/schema.sql, compiled in as a GResource. Every
 * statement is prepared per call: the catalog sees a handful of writes per
 * segment (one a minute per camera), so statement caching would buy
 * nothing and cost lifetime bookkeeping. The store never unlinks a file. */
#define _GNU_SOURCE   /* O_PATH */
#include "vigil-store.h"

#include <errno.h>
#include <fcntl.h>
#include <gio/gio.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-storage-private.h"
#include "vigil-storage-resources.h"

G_DEFINE_QUARK (vigil-store-error-quark, vigil_store_error)

/* storage/schema.sql creates version 1; upgrades[i] is the resource that
 * takes version i+1 to i+2. A new catalog runs them all, so a fresh
 * install and an upgraded one cannot differ. */
#define SCHEMA_VERSION 5
static const gchar *const upgrades[] = {
  "/org/vigil/storage/upgrade-2.sql",
  "/org/vigil/storage/upgrade-3.sql",
  "/org/vigil/storage/upgrade-4.sql",
  "/org/vigil/storage/upgrade-5.sql",
};
G_STATIC_ASSERT (G_N_ELEMENTS (upgrades) == SCHEMA_VERSION - 1);

struct _VigilStore
{
  GObject   parent_instance;
  sqlite3  *db;
  gchar    *root;        /* absolute, no trailing slash */
  VigilAuditSigner *audit_signer;   /* owned; NULL: the audit head is not signed */
  guint64   full_scan_steps;        /* SQLite's work on this connection: see vigil_store_get_work() */
  guint64   vm_steps;
};

G_DEFINE_FINAL_TYPE (VigilStore, vigil_store, G_TYPE_OBJECT)

static const gchar *const state_names[] = { "writing", "complete", "recovered", "deleting" };

const gchar *
vigil_segment_state_to_string (VigilSegmentState state)
{
  g_return_val_if_fail (state < G_N_ELEMENTS (state_names), NULL);
  return state_names[state];
}

static VigilSegmentState
segment_state_from_string (const gchar *name)
{
  for (guint i = 0; i < G_N_ELEMENTS (state_names); i++)
    if (g_strcmp0 (name, state_names[i]) == 0)
      return i;
  /* The schema's check constraint makes anything else impossible. */
  g_return_val_if_reached (VIGIL_SEGMENT_WRITING);
}

VigilSegment *
vigil_segment_copy (const VigilSegment *segment)
{
  VigilSegment *copy = g_memdup2 (segment, sizeof *segment);

  copy->camera = g_strdup (segment->camera);
  copy->path = g_strdup (segment->path);
  copy->codec = g_strdup (segment->codec);
  return copy;
}

void
vigil_segment_free (VigilSegment *segment)
{
  if (segment == NULL)
    return;
  g_free (segment->camera);
  g_free (segment->path);
  g_free (segment->codec);
  g_free (segment);
}

void
vigil_gap_free (VigilGap *gap)
{
  if (gap == NULL)
    return;
  g_free (gap->reason);
  g_free (gap);
}

void
vigil_run_free (VigilRun *run)
{
  if (run == NULL)
    return;
  g_free (run->end_reason);
  g_free (run);
}

static gboolean
set_sqlite_error (VigilStore *self, GError **error, const gchar *what)
{
  /* A full disk is the one failure the daemon can repair by itself (the
   * storage watchdog frees space), so it has a code of its own. SQLite
   * says SQLITE_FULL for ENOSPC, but a plain write error for EDQUOT. */
  int rc = sqlite3_errcode (self->db);
  int system_errno = sqlite3_system_errno (self->db);
  gboolean full = (rc & 0xff) == SQLITE_FULL
                  || ((rc & 0xff) == SQLITE_IOERR && (system_errno == ENOSPC || system_errno == EDQUOT));
  VigilStoreError code = full ? VIGIL_STORE_ERROR_FULL : VIGIL_STORE_ERROR_FAILED;

  g_set_error (error, VIGIL_STORE_ERROR, code, "catalog: %s: %s", what, sqlite3_errmsg (self->db));
  return FALSE;
}

static sqlite3_stmt *
prepare (VigilStore *self, const gchar *sql, GError **error)
{
  sqlite3_stmt *stmt = NULL;

  if (sqlite3_prepare_v2 (self->db, sql, -1, &stmt, NULL) != SQLITE_OK)
    {
      set_sqlite_error (self, error, "prepare");
      return NULL;
    }
  return stmt;
}

static gboolean
exec (VigilStore *self, const gchar *sql, GError **error)
{
  if (sqlite3_exec (self->db, sql, NULL, NULL, NULL) != SQLITE_OK)
    return set_sqlite_error (self, error, "exec");
  return TRUE;
}

/* Steps a statement that returns no rows. */
static gboolean
step_done (VigilStore *self, sqlite3_stmt *stmt, GError **error)
{
  if (sqlite3_step (stmt) != SQLITE_DONE)
    return set_sqlite_error (self, error, "step");
  return TRUE;
}

static gint64
camera_id (VigilStore *self, const gchar *camera, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, "select id from cameras where name = ?", error);
  int rc;

  if (stmt == NULL)
    return 0;
  sqlite3_bind_text (stmt, 1, camera, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return sqlite3_column_int64 (stmt, 0);
  if (rc == SQLITE_DONE)
    g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                 "no camera named “%s” in the catalog", camera);
  else
    set_sqlite_error (self, error, "find camera");
  return 0;
}

sqlite3 *
vigil_store_get_db (VigilStore *self)
{
  return self->db;
}

VigilAuditSigner *
vigil_store_get_audit_signer (VigilStore *self)
{
  return self->audit_signer;
}

void
vigil_store_take_audit_signer (VigilStore *self, VigilAuditSigner *signer)
{
  g_clear_pointer (&self->audit_signer, g_free);
  self->audit_signer = signer;
}

sqlite3_stmt *
vigil_store_prepare (VigilStore *self, const gchar *sql, GError **error)
{
  return prepare (self, sql, error);
}

gboolean
vigil_store_exec (VigilStore *self, const gchar *sql, GError **error)
{
  return exec (self, sql, error);
}

gboolean
vigil_store_step_done (VigilStore *self, sqlite3_stmt *stmt, GError **error)
{
  return step_done (self, stmt, error);
}

gboolean
vigil_store_fail (VigilStore *self, GError **error, const gchar *what)
{
  return set_sqlite_error (self, error, what);
}

gint64
vigil_store_get_camera_id (VigilStore *self, const gchar *camera, GError **error)
{
  return camera_id (self, camera, error);
}

gboolean
vigil_store_begin (VigilStore *self, GError **error)
{
  return exec (self, "begin immediate", error);
}

gboolean
vigil_store_commit (VigilStore *self, GError **error)
{
  if (exec (self, "commit", error))
    return TRUE;
  vigil_store_rollback (self);
  return FALSE;
}

void
vigil_store_rollback (VigilStore *self)
{
  if (!sqlite3_get_autocommit (self->db))
    exec (self, "rollback", NULL);
}

static gint
get_schema_version (VigilStore *self, GError **error)
{
  g_autoptr(sqlite3_stmt) probe = NULL;
  g_autoptr(sqlite3_stmt) stmt = NULL;

  probe = prepare (self, "select 1 from sqlite_master where type = 'table' and name = 'version'", error);
  if (probe == NULL)
    return -1;
  if (sqlite3_step (probe) != SQLITE_ROW)
    return 0;     /* a new, empty catalog */
  stmt = prepare (self, "select max(version) from version", error);
  if (stmt == NULL)
    return -1;
  if (sqlite3_step (stmt) != SQLITE_ROW)
    {
      set_sqlite_error (self, error, "read schema version");
      return -1;
    }
  return sqlite3_column_int (stmt, 0);
}

/* Switching a new database to WAL needs an exclusive lock, and SQLite
 * answers BUSY at once (without its busy handler) while another connection
 * is opening the same file; so retry, for as long as busy_timeout would. */
static gboolean
set_wal_mode (VigilStore *self, GError **error)
{
  for (guint attempt = 0; attempt < 100; attempt++)
    {
      int rc = sqlite3_exec (self->db, "pragma journal_mode = wal", NULL, NULL, NULL);

      if (rc == SQLITE_OK)
        return TRUE;
      if ((rc & 0xff) != SQLITE_BUSY && (rc & 0xff) != SQLITE_LOCKED)
        break;
      sqlite3_sleep (50);
    }
  return set_sqlite_error (self, error, "set WAL mode");
}

/* Called inside the write transaction of upgrade_schema(). */
static gboolean
apply_upgrades (VigilStore *self, gint version, GError **error)
{
  if (version == 0)
    {
      g_autoptr(GBytes) schema = g_resource_lookup_data (vigil_storage_get_resource (),
                                                         "/org/vigil/storage/schema.sql",
                                                         G_RESOURCE_LOOKUP_FLAGS_NONE, error);
      if (schema == NULL || !exec (self, g_bytes_get_data (schema, NULL), error))
        return FALSE;
      version = 1;
    }
  for (; version < SCHEMA_VERSION; version++)
    {
      g_autofree gchar *bump = g_strdup_printf ("update version set version = %d", version + 1);
      g_autoptr(GBytes) upgrade = g_resource_lookup_data (vigil_storage_get_resource (), upgrades[version - 1],
                                                          G_RESOURCE_LOOKUP_FLAGS_NONE, error);

      if (upgrade == NULL || !exec (self, g_bytes_get_data (upgrade, NULL), error) || !exec (self, bump, error))
        return FALSE;
    }
  return TRUE;
}

static gboolean
upgrade_schema (VigilStore *self, GError **error)
{
  gint version;

  /* The version is read inside the write transaction: two processes
   * opening a new catalog at once (vigild starting while vigilctl or a
   * test reads) must not both create the schema. */
  if (!exec (self, "begin immediate", error))
    return FALSE;
  version = get_schema_version (self, error);
  if (version > SCHEMA_VERSION)
    g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_VERSION,
                 "catalog has schema version %d; this vigil knows up to %d", version, SCHEMA_VERSION);
  if (version < 0 || version > SCHEMA_VERSION || !apply_upgrades (self, version, error))
    {
      exec (self, "rollback", NULL);
      return FALSE;
    }
  return exec (self, "commit", error);
}

static void
vigil_store_finalize (GObject *object)
{
  VigilStore *self = VIGIL_STORE (object);

  g_clear_pointer (&self->db, sqlite3_close);
  g_clear_pointer (&self->root, g_free);
  g_clear_pointer (&self->audit_signer, g_free);
  G_OBJECT_CLASS (vigil_store_parent_class)->finalize (object);
}

static void
vigil_store_class_init (VigilStoreClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_store_finalize;
}

static void
vigil_store_init (VigilStore *self)
{
}

/* Makes @path mode 0600 or narrower, creating it when @create; a missing
 * file is fine when not. Never follows a symbolic link. An existing file
 * is reached through an O_PATH descriptor only: closing an ordinary
 * descriptor of a file drops every POSIX lock this process holds on it,
 * and another connection of this process (the watchdog's, the daemon's)
 * may hold SQLite's locks on the catalog and its -shm right now. */
static gboolean
make_private (const gchar *path, gboolean create, GError **error)
{
  g_autofree gchar *proc_path = NULL;
  struct stat st;
  int fd, saved = 0;

  if (create)
    {
      /* A file this call creates is new: no connection has it open. */
      fd = g_open (path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY, 0600);
      if (fd >= 0)
        return g_close (fd, error);
      if (errno != EEXIST)
        {
          saved = errno;
          g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FAILED, "cannot create catalog %s: %s", path,
                       g_strerror (saved));
          return FALSE;
        }
    }
  fd = g_open (path, O_PATH | O_CLOEXEC | O_NOFOLLOW, 0);
  if (fd < 0 && errno == ENOENT && !create)
    return TRUE;
  if (fd < 0)
    saved = errno;
  else if (fstat (fd, &st) != 0)
    saved = errno;
  else if (!S_ISREG (st.st_mode))
    saved = EINVAL;   /* a link, a folder, a FIFO */
  else if ((st.st_mode & (S_IRWXG | S_IRWXO)) != 0)
    {
      /* fchmod() refuses an O_PATH descriptor; its /proc name does not. */
      proc_path = g_strdup_printf ("/proc/self/fd/%d", fd);
      if (chmod (proc_path, st.st_mode & 0700) != 0)
        saved = errno;
    }
  if (fd >= 0)
    close (fd);
  if (saved != 0)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FAILED, "cannot make catalog %s private: %s", path,
                   g_strerror (saved));
      return FALSE;
    }
  return TRUE;
}

/* The catalog holds incidents, notes and the audit log: vigild's own.
 * Creates it mode 0600 (SQLite gives its -wal and -shm files the same
 * mode), and narrows one, and its -wal and -shm, that an older vigil made
 * readable by others. */
static gboolean
make_catalog_private (const gchar *catalog_path, GError **error)
{
  g_autofree gchar *wal = g_strconcat (catalog_path, "-wal", NULL);
  g_autofree gchar *shm = g_strconcat (catalog_path, "-shm", NULL);

  return make_private (catalog_path, TRUE, error) && make_private (wal, FALSE, error)
         && make_private (shm, FALSE, error);
}

/* Runs inside SQLite whenever a statement of this connection finishes:
 * adds up how much it read, for vigil_store_get_work(). */
static int
on_statement_finished (unsigned int type, void *data, void *statement, void *elapsed)
{
  VigilStore *self = data;

  self->full_scan_steps += sqlite3_stmt_status (statement, SQLITE_STMTSTATUS_FULLSCAN_STEP, TRUE);
  self->vm_steps += sqlite3_stmt_status (statement, SQLITE_STMTSTATUS_VM_STEP, TRUE);
  return 0;
}

VigilStore *
vigil_store_new (const gchar *catalog_path, const gchar *root, GError **error)
{
  g_autoptr(VigilStore) self = g_object_new (VIGIL_TYPE_STORE, NULL);
  g_autofree gchar *canonical_root = NULL;

  g_return_val_if_fail (catalog_path != NULL && root != NULL, NULL);

  if (!g_file_test (root, G_FILE_TEST_IS_DIR))
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                   "storage root %s is not a folder", root);
      return NULL;
    }
  canonical_root = g_canonicalize_filename (root, NULL);
  self->root = g_strdup (canonical_root);

  if (!make_catalog_private (catalog_path, error))
    return NULL;
  if (sqlite3_open_v2 (catalog_path, &self->db,
                       SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX, NULL) != SQLITE_OK)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_FAILED,
                   "cannot open catalog %s: %s", catalog_path,
                   self->db ? sqlite3_errmsg (self->db) : "out of memory");
      return NULL;
    }
  sqlite3_extended_result_codes (self->db, 1);
  sqlite3_trace_v2 (self->db, SQLITE_TRACE_PROFILE, on_statement_finished, self);
  /* WAL with synchronous=NORMAL: a committed transaction survives a crash
   * of vigild (kill -9); a power cut may lose the last few, which leaves
   * rows 'writing' that start-up recovery probes. busy_timeout lets a
   * second reader (vigilctl, backups) in without failing our writes. */
  if (sqlite3_busy_timeout (self->db, 5000) != SQLITE_OK
      || !set_wal_mode (self, error)
      || !exec (self, "pragma synchronous = normal; pragma foreign_keys = on", error))
    {
      g_prefix_error (error, "%s: ", catalog_path);
      return NULL;
    }
  if (!upgrade_schema (self, error))
    {
      g_prefix_error (error, "%s: ", catalog_path);
      return NULL;
    }
  return g_steal_pointer (&self);
}

const gchar *
vigil_store_get_root (VigilStore *self)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  return self->root;
}

gchar *
vigil_store_get_absolute_path (VigilStore *self, const gchar *relative_path)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  return g_build_filename (self->root, relative_path, NULL);
}

const gchar *
vigil_store_get_catalog_path (VigilStore *self)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  return sqlite3_db_filename (self->db, "main");
}

void
vigil_store_get_work (VigilStore *self, guint64 *out_full_scan_steps, guint64 *out_vm_steps)
{
  g_return_if_fail (VIGIL_IS_STORE (self));
  if (out_full_scan_steps != NULL)
    *out_full_scan_steps = self->full_scan_steps;
  if (out_vm_steps != NULL)
    *out_vm_steps = self->vm_steps;
}

gboolean
vigil_store_add_camera (VigilStore *self, const gchar *camera, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = prepare (self, "insert into cameras (name, created_us) values (?, ?) on conflict (name) do nothing", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, g_get_real_time ());
  return step_done (self, stmt, error);
}

GStrv
vigil_store_list_cameras (VigilStore *self, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, "select name from cameras order by name", error);
  g_autoptr(GStrvBuilder) names = g_strv_builder_new ();
  int rc;

  if (stmt == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_strv_builder_add (names, (const gchar *) sqlite3_column_text (stmt, 0));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "list cameras");
      return NULL;
    }
  return g_strv_builder_end (names);
}

gint64
vigil_store_start_run (VigilStore *self, const gchar *camera, gint64 start_us, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 cam;

  g_return_val_if_fail (VIGIL_IS_STORE (self), 0);
  if ((cam = camera_id (self, camera, error)) == 0)
    return 0;
  stmt = prepare (self, "insert into runs (camera_id, start_us) values (?, ?)", error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, cam);
  sqlite3_bind_int64 (stmt, 2, start_us);
  if (!step_done (self, stmt, error))
    return 0;
  return sqlite3_last_insert_rowid (self->db);
}

gboolean
vigil_store_end_run (VigilStore *self, gint64 run_id, gint64 end_us, const gchar *reason, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  /* max() keeps the constraint end >= start when the wall clock of the
   * run's end is computed from a run that never got a frame. */
  stmt = prepare (self, "update runs set end_us = max(?, start_us), end_reason = ? "
                        "where id = ? and end_us is null", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, end_us);
  sqlite3_bind_text (stmt, 2, reason, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 3, run_id);
  if (!step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                   "no open run %" G_GINT64_FORMAT, run_id);
      return FALSE;
    }
  return TRUE;
}

gint
vigil_store_end_open_runs (VigilStore *self, const gchar *reason, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), -1);
  /* A run's segments follow each other, so its newest one ends last. It
   * is found from the camera's index, walking back from the camera's
   * newest segment: there is no index on run_id, and an open run is its
   * camera's newest, so the walk stops at once. The open runs themselves
   * come from the partial index runs_open. */
  stmt = prepare (self,
                  "update runs set end_reason = ?, end_us = coalesce("
                  "  (select s.end_us from segments s where s.camera_id = runs.camera_id "
                  "   and s.start_us >= runs.start_us and s.run_id = runs.id order by s.start_us desc limit 1),"
                  "  start_us) "
                  "where end_us is null", error);
  if (stmt == NULL)
    return -1;
  sqlite3_bind_text (stmt, 1, reason, -1, SQLITE_STATIC);
  if (!step_done (self, stmt, error))
    return -1;
  return sqlite3_changes (self->db);
}

static gint64
insert_segment (VigilStore *self, const VigilSegment *segment, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 cam;

  if (segment->end_us < segment->start_us)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID,
                   "segment %s ends before it starts", segment->path);
      return 0;
    }
  if ((cam = camera_id (self, segment->camera, error)) == 0)
    return 0;
  stmt = prepare (self,
                  "insert into segments (camera_id, run_id, path, start_us, end_us, media_duration_ns,"
                  "  size_bytes, frames, keyframes, codec, state) values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                  error);
  if (stmt == NULL)
    return 0;
  sqlite3_bind_int64 (stmt, 1, cam);
  if (segment->run_id > 0)
    sqlite3_bind_int64 (stmt, 2, segment->run_id);
  else
    sqlite3_bind_null (stmt, 2);
  sqlite3_bind_text (stmt, 3, segment->path, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 4, segment->start_us);
  sqlite3_bind_int64 (stmt, 5, segment->end_us);
  sqlite3_bind_int64 (stmt, 6, segment->media_duration_ns);
  sqlite3_bind_int64 (stmt, 7, (sqlite3_int64) segment->size_bytes);
  sqlite3_bind_int64 (stmt, 8, (sqlite3_int64) segment->frames);
  sqlite3_bind_int64 (stmt, 9, (sqlite3_int64) segment->keyframes);
  sqlite3_bind_text (stmt, 10, segment->codec, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 11, vigil_segment_state_to_string (segment->state), -1, SQLITE_STATIC);
  if (!step_done (self, stmt, error))
    {
      g_prefix_error (error, "segment %s: ", segment->path);
      return 0;
    }
  return sqlite3_last_insert_rowid (self->db);
}

gint64
vigil_store_add_segment (VigilStore *self, const gchar *camera, gint64 run_id,
                         const gchar *relative_path, gint64 start_us, GError **error)
{
  VigilSegment segment = {
    .camera = (gchar *) camera, .run_id = run_id, .path = (gchar *) relative_path,
    .start_us = start_us, .end_us = start_us, .state = VIGIL_SEGMENT_WRITING,
  };

  g_return_val_if_fail (VIGIL_IS_STORE (self), 0);
  g_return_val_if_fail (relative_path != NULL && !g_path_is_absolute (relative_path), 0);
  return insert_segment (self, &segment, error);
}

gint64
vigil_store_adopt_segment (VigilStore *self, const VigilSegment *segment, GError **error)
{
  g_return_val_if_fail (VIGIL_IS_STORE (self), 0);
  g_return_val_if_fail (segment->path != NULL && !g_path_is_absolute (segment->path), 0);
  return insert_segment (self, segment, error);
}

gboolean
vigil_store_finish_segment (VigilStore *self, const VigilSegment *segment, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = prepare (self,
                  "update segments set end_us = max(?, start_us), media_duration_ns = ?, size_bytes = ?,"
                  "  frames = ?, keyframes = ?, codec = coalesce(?, codec), state = ? where id = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, segment->end_us);
  sqlite3_bind_int64 (stmt, 2, segment->media_duration_ns);
  sqlite3_bind_int64 (stmt, 3, (sqlite3_int64) segment->size_bytes);
  sqlite3_bind_int64 (stmt, 4, (sqlite3_int64) segment->frames);
  sqlite3_bind_int64 (stmt, 5, (sqlite3_int64) segment->keyframes);
  sqlite3_bind_text (stmt, 6, segment->codec, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 7, vigil_segment_state_to_string (segment->state), -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 8, segment->id);
  if (!step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                   "no segment %" G_GINT64_FORMAT, segment->id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vigil_store_mark_segment_deleting (VigilStore *self, gint64 segment_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = prepare (self, "update segments set state = 'deleting' where id = ? and state in ('complete', 'recovered')",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, segment_id);
  if (!step_done (self, stmt, error))
    return FALSE;
  if (sqlite3_changes (self->db) == 0)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND,
                   "no complete segment %" G_GINT64_FORMAT, segment_id);
      return FALSE;
    }
  return TRUE;
}

gboolean
vigil_store_remove_segment (VigilStore *self, gint64 segment_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  stmt = prepare (self, "delete from segments where id = ?", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, segment_id);
  return step_done (self, stmt, error);
}

#define SEGMENT_COLUMNS \
  "s.id, c.name, s.run_id, s.path, s.start_us, s.end_us, s.media_duration_ns, s.size_bytes, " \
  "s.frames, s.keyframes, s.codec, s.state from segments s join cameras c on c.id = s.camera_id "

static VigilSegment *
segment_from_row (sqlite3_stmt *stmt)
{
  VigilSegment *segment = g_new0 (VigilSegment, 1);

  segment->id = sqlite3_column_int64 (stmt, 0);
  segment->camera = g_strdup ((const gchar *) sqlite3_column_text (stmt, 1));
  segment->run_id = sqlite3_column_int64 (stmt, 2);
  segment->path = g_strdup ((const gchar *) sqlite3_column_text (stmt, 3));
  segment->start_us = sqlite3_column_int64 (stmt, 4);
  segment->end_us = sqlite3_column_int64 (stmt, 5);
  segment->media_duration_ns = sqlite3_column_int64 (stmt, 6);
  segment->size_bytes = sqlite3_column_int64 (stmt, 7);
  segment->frames = sqlite3_column_int64 (stmt, 8);
  segment->keyframes = sqlite3_column_int64 (stmt, 9);
  segment->codec = g_strdup ((const gchar *) sqlite3_column_text (stmt, 10));
  segment->state = segment_state_from_string ((const gchar *) sqlite3_column_text (stmt, 11));
  return segment;
}

static GPtrArray *
collect_segments (VigilStore *self, sqlite3_stmt *stmt, GError **error)
{
  g_autoptr(GPtrArray) segments = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_segment_free);
  int rc;

  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (segments, segment_from_row (stmt));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "list segments");
      return NULL;
    }
  return g_steal_pointer (&segments);
}

/* The longest span any segment of camera @cam ever had (camera_totals). */
static gboolean
get_longest_us (VigilStore *self, gint64 cam, gint64 *out_longest_us, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self, "select longest_us from camera_totals where camera_id = ?", error);
  int rc;

  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, cam);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "read longest segment");
  *out_longest_us = rc == SQLITE_ROW ? sqlite3_column_int64 (stmt, 0) : 0;
  return TRUE;
}

GPtrArray *
vigil_store_list_segments (VigilStore *self, const gchar *camera, gint64 from_us, gint64 to_us, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 cam, longest_us = 0;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  if ((cam = camera_id (self, camera, error)) == 0 || !get_longest_us (self, cam, &longest_us, error))
    return NULL;
  /* "Ends after from_us" cannot use the index on (camera_id, start_us);
   * but a segment that does starts at most longest_us before from_us, so
   * that bounds the index range from below and the query reads only the
   * span asked for, not everything the camera recorded before it. */
  stmt = prepare (self, "select " SEGMENT_COLUMNS
                  "where s.camera_id = ? and s.state in ('complete', 'recovered') "
                  "and s.start_us >= ? and s.start_us < ? and s.end_us > ? order by s.start_us", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, cam);
  sqlite3_bind_int64 (stmt, 2, from_us >= G_MININT64 + longest_us ? from_us - longest_us : G_MININT64);
  sqlite3_bind_int64 (stmt, 3, to_us);
  sqlite3_bind_int64 (stmt, 4, from_us);
  return collect_segments (self, stmt, error);
}

/* Why camera @cam has no recording from @at_us on, from its runs: the
 * run that was on at @at_us, or the last one that had ended before it.
 * Every gap gets a reason; a manifest or a timeline says "unknown" for
 * none. */
static gchar *
reason_for_gap_at (VigilStore *self, gint64 cam, gint64 at_us)
{
  g_autoptr(sqlite3_stmt) stmt = prepare (self,
      "select end_us, end_reason from runs where camera_id = ? and start_us <= ? "
      "order by start_us desc limit 1", NULL);
  const gchar *reason;

  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, cam);
  sqlite3_bind_int64 (stmt, 2, at_us);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return g_strdup (VIGIL_GAP_NOT_RECORDING);
  if (sqlite3_column_type (stmt, 0) == SQLITE_NULL)
    return g_strdup (VIGIL_GAP_STILL_RECORDING);
  if (sqlite3_column_int64 (stmt, 0) > at_us)
    return g_strdup (VIGIL_GAP_NOT_CATALOGED);
  reason = (const gchar *) sqlite3_column_text (stmt, 1);
  return g_strdup (reason != NULL && reason[0] != '\0' ? reason : VIGIL_GAP_NO_REASON);
}

static void
add_gap (VigilStore *self, GPtrArray *gaps, gint64 cam, gint64 start_us, gint64 end_us)
{
  VigilGap *gap;

  if (end_us - start_us < VIGIL_STORE_GAP_TOLERANCE_US)
    return;
  gap = g_new0 (VigilGap, 1);
  gap->start_us = start_us;
  gap->end_us = end_us;
  gap->reason = reason_for_gap_at (self, cam, start_us);
  g_ptr_array_add (gaps, gap);
}

GPtrArray *
vigil_store_list_gaps (VigilStore *self, const gchar *camera, gint64 from_us, gint64 to_us, GError **error)
{
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GPtrArray) gaps = NULL;
  gint64 cam, covered_to_us = from_us;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  if (to_us <= from_us)
    {
      g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_INVALID,
                   "time range ends before it starts");
      return NULL;
    }
  if ((cam = camera_id (self, camera, error)) == 0)
    return NULL;
  segments = vigil_store_list_segments (self, camera, from_us, to_us, error);
  if (segments == NULL)
    return NULL;

  gaps = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_gap_free);
  for (guint i = 0; i < segments->len; i++)
    {
      const VigilSegment *segment = segments->pdata[i];

      if (segment->start_us > covered_to_us)
        add_gap (self, gaps, cam, covered_to_us, segment->start_us);
      covered_to_us = MAX (covered_to_us, segment->end_us);
    }
  if (covered_to_us < to_us)
    add_gap (self, gaps, cam, covered_to_us, to_us);
  return g_steal_pointer (&gaps);
}

GPtrArray *
vigil_store_list_segments_in_state (VigilStore *self, VigilSegmentState state, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_autofree gchar *sql = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  g_return_val_if_fail (state < G_N_ELEMENTS (state_names), NULL);
  /* The state is written into the statement, not bound: SQLite uses the
   * partial index segments_in_flight only for a literal it can see implies
   * the index's condition. The name comes from state_names[]. */
  sql = g_strdup_printf ("select " SEGMENT_COLUMNS "where s.state = '%s' order by s.start_us", state_names[state]);
  stmt = prepare (self, sql, error);
  if (stmt == NULL)
    return NULL;
  return collect_segments (self, stmt, error);
}

gboolean
vigil_store_get_newest_segment (VigilStore *self, const gchar *camera, VigilSegment **out_segment, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GError) missing = NULL;
  gint64 cam;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  *out_segment = NULL;
  if ((cam = camera_id (self, camera, &missing)) == 0)
    {
      if (g_error_matches (missing, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND))
        return TRUE;
      g_propagate_error (error, g_steal_pointer (&missing));
      return FALSE;
    }
  /* Walks the camera's index back from its newest row, past the few rows
   * still being written, if any. */
  stmt = prepare (self, "select " SEGMENT_COLUMNS
                  "where s.camera_id = ? and s.state in ('complete', 'recovered') order by s.start_us desc limit 1",
                  error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, cam);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    *out_segment = segment_from_row (stmt);
  else if (rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "find newest segment");
  return TRUE;
}

gboolean
vigil_store_has_segment_path (VigilStore *self, const gchar *relative_path, gboolean *out_has, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if ((stmt = prepare (self, "select 1 from segments where path = ?", error)) == NULL)
    return FALSE;
  sqlite3_bind_text (stmt, 1, relative_path, -1, SQLITE_STATIC);
  rc = sqlite3_step (stmt);
  if (rc != SQLITE_ROW && rc != SQLITE_DONE)
    return set_sqlite_error (self, error, "look up path");
  *out_has = rc == SQLITE_ROW;
  return TRUE;
}

GPtrArray *
vigil_store_list_paths_under (VigilStore *self, const gchar *prefix, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) paths = g_ptr_array_new_with_free_func (g_free);
  g_autofree gchar *past = g_strdup (prefix);
  gsize length = strlen (prefix);
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  g_return_val_if_fail (length > 0 && (guchar) prefix[length - 1] < 0xff, NULL);
  /* [prefix, prefix with its last byte one higher): a range of the path
   * index, in the order strcmp() gives (SQLite's BINARY collation). */
  past[length - 1]++;
  stmt = prepare (self, "select path from segments where path >= ? and path < ? order by path", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, prefix, -1, SQLITE_STATIC);
  sqlite3_bind_text (stmt, 2, past, -1, SQLITE_STATIC);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_ptr_array_add (paths, g_strdup ((const gchar *) sqlite3_column_text (stmt, 0)));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "list paths");
      return NULL;
    }
  return g_steal_pointer (&paths);
}

VigilSegment *
vigil_store_get_segment (VigilStore *self, gint64 segment_id, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  if ((stmt = prepare (self, "select " SEGMENT_COLUMNS "where s.id = ?", error)) == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, segment_id);
  rc = sqlite3_step (stmt);
  if (rc == SQLITE_ROW)
    return segment_from_row (stmt);
  if (rc == SQLITE_DONE)
    g_set_error (error, VIGIL_STORE_ERROR, VIGIL_STORE_ERROR_NOT_FOUND, "no segment %" G_GINT64_FORMAT, segment_id);
  else
    set_sqlite_error (self, error, "get segment");
  return NULL;
}

GPtrArray *
vigil_store_list_segments_after (VigilStore *self, gint64 after_id, guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  g_return_val_if_fail (limit > 0, NULL);
  if ((stmt = prepare (self, "select " SEGMENT_COLUMNS "where s.id > ? order by s.id limit ?", error)) == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, after_id);
  sqlite3_bind_int64 (stmt, 2, limit);
  return collect_segments (self, stmt, error);
}

GPtrArray *
vigil_store_list_oldest_segments (VigilStore *self, const gchar *camera, guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  stmt = prepare (self, "select " SEGMENT_COLUMNS
                  "where s.state in ('complete', 'recovered') and (?1 is null or c.name = ?1) "
                  "order by s.start_us limit ?2", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_text (stmt, 1, camera, -1, SQLITE_STATIC);
  sqlite3_bind_int64 (stmt, 2, limit);
  return collect_segments (self, stmt, error);
}

GHashTable *
vigil_store_list_paths (VigilStore *self, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GHashTable) paths = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  if ((stmt = prepare (self, "select path from segments", error)) == NULL)
    return NULL;
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    g_hash_table_add (paths, g_strdup ((const gchar *) sqlite3_column_text (stmt, 0)));
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "list paths");
      return NULL;
    }
  return g_steal_pointer (&paths);
}

gboolean
vigil_store_get_totals (VigilStore *self, const gchar *camera, VigilStoreTotals *out_totals, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  gint64 cam = 0;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (camera != NULL && (cam = camera_id (self, camera, error)) == 0)
    return FALSE;
  /* The running totals of upgrade-5.sql: one row per camera. */
  stmt = prepare (self, "select coalesce(sum(segments), 0), coalesce(sum(size_bytes), 0) from camera_totals "
                        "where ?1 = 0 or camera_id = ?1", error);
  if (stmt == NULL)
    return FALSE;
  sqlite3_bind_int64 (stmt, 1, cam);
  if (sqlite3_step (stmt) != SQLITE_ROW)
    return set_sqlite_error (self, error, "read totals");
  out_totals->segments = sqlite3_column_int64 (stmt, 0);
  out_totals->size_bytes = sqlite3_column_int64 (stmt, 1);
  return TRUE;
}

gboolean
vigil_store_get_camera_bytes (VigilStore *self, const gchar *camera, guint64 *out_bytes, GError **error)
{
  VigilStoreTotals totals;

  g_return_val_if_fail (VIGIL_IS_STORE (self), FALSE);
  if (!vigil_store_get_totals (self, camera, &totals, error))
    return FALSE;
  *out_bytes = totals.size_bytes;
  return TRUE;
}

GPtrArray *
vigil_store_list_runs (VigilStore *self, const gchar *camera, guint limit, GError **error)
{
  g_autoptr(sqlite3_stmt) stmt = NULL;
  g_autoptr(GPtrArray) runs = g_ptr_array_new_with_free_func ((GDestroyNotify) vigil_run_free);
  gint64 cam;
  int rc;

  g_return_val_if_fail (VIGIL_IS_STORE (self), NULL);
  if ((cam = camera_id (self, camera, error)) == 0)
    return NULL;
  stmt = prepare (self, "select id, start_us, coalesce(end_us, 0), end_reason from runs "
                        "where camera_id = ? order by start_us desc, id desc limit ?", error);
  if (stmt == NULL)
    return NULL;
  sqlite3_bind_int64 (stmt, 1, cam);
  sqlite3_bind_int64 (stmt, 2, limit);
  while ((rc = sqlite3_step (stmt)) == SQLITE_ROW)
    {
      VigilRun *run = g_new0 (VigilRun, 1);

      run->id = sqlite3_column_int64 (stmt, 0);
      run->start_us = sqlite3_column_int64 (stmt, 1);
      run->end_us = sqlite3_column_int64 (stmt, 2);
      run->end_reason = g_strdup ((const gchar *) sqlite3_column_text (stmt, 3));
      g_ptr_array_add (runs, run);
    }
  if (rc != SQLITE_DONE)
    {
      set_sqlite_error (self, error, "list runs");
      return NULL;
    }
  return g_steal_pointer (&runs);
}
