/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Export bundles: signing and verifying; see vigil-bundle.h. The folder
 * and its manifest are attacker-controlled input here: the manifest is
 * read by vigil-manifest.c, which only passes on plain file names, and
 * every file is opened without following a symbolic link. */
#include "vigil-bundle.h"

#include <errno.h>
#include <fcntl.h>
#include <glib/gstdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "vigil-evidence-private.h"
#include "vigil-file.h"
#include "vigil-fsync.h"

G_DEFINE_QUARK (vigil-bundle-error-quark, vigil_bundle_error)

/* Far beyond any real manifest (a few KiB per camera); the whole of it is
 * held in memory to check its signature. */
#define MANIFEST_MAX_BYTES (64 * 1024 * 1024)
#define PUBLIC_KEY_MAX_BYTES (64 * 1024)
#define SIGNATURE_MAX_BYTES 4096

static const gchar *const bundle_files[] = {
  VIGIL_BUNDLE_MANIFEST, VIGIL_BUNDLE_SIGNATURE, VIGIL_BUNDLE_PUBLIC_KEY, NULL
};

typedef struct {
  const gchar       *folder;
  VigilBundleReport *report;
  GPtrArray         *problems;   /* report->problems */
  GHashTable        *listed;   /* names the manifest lists validly; owns its keys */
} Checker;

void
vigil_bundle_report_free (VigilBundleReport *report)
{
  if (report == NULL)
    return;
  g_free (report->fingerprint);
  g_clear_pointer (&report->problems, g_ptr_array_unref);
  g_free (report);
}


/* Reads the whole of @folder/@name, at most @max_bytes, without following
 * a symbolic link or blocking on a FIFO. NUL-terminated. */
static gboolean
read_bundle_file (const gchar *folder, const gchar *name, gsize max_bytes, gchar **out_contents, gsize *out_size,
                  GError **error)
{
  g_autofree gchar *path = g_build_filename (folder, name, NULL);

  *out_contents = vigil_file_read (path, max_bytes, VIGIL_FILE_NOFOLLOW, out_size, error);
  return *out_contents != NULL;
}

/* Checks one listed file against its entry. FALSE only when cancelled. */
static gboolean
check_file (Checker *checker, const gchar *name, gint64 size_bytes, const gchar *sha256, GCancellable *cancellable,
            GError **error)
{
  g_autofree gchar *path = g_build_filename (checker->folder, name, NULL);
  g_autofree gchar *actual = NULL;
  g_autoptr(GError) local_error = NULL;
  guint64 hashed_bytes = 0;
  GStatBuf st;

  /* lstat: a symbolic link could point anywhere, so it is never read.
   * (One swapped in between here and the open below would be; only
   * someone who can already write the folder can do that, and all it
   * gets them is a hash compared with the manifest.) */
  if (g_lstat (path, &st) != 0)
    {
      int saved = errno;
      if (saved == ENOENT)
        vigil_evidence_add_problem (checker->problems, name, "listed in the manifest but missing");
      else
        vigil_evidence_add_problem (checker->problems, name, "%s", g_strerror (saved));
      return TRUE;
    }
  if (S_ISLNK (st.st_mode))
    {
      vigil_evidence_add_problem (checker->problems, name, "is a symbolic link, not a file");
      return TRUE;
    }
  if (!S_ISREG (st.st_mode))
    {
      vigil_evidence_add_problem (checker->problems, name, "is not a regular file");
      return TRUE;
    }
  if ((guint64) st.st_size != (guint64) size_bytes)
    {
      vigil_evidence_add_problem (checker->problems, name,
                                  "%" G_GUINT64_FORMAT " bytes, the manifest says %" G_GINT64_FORMAT,
                                  (guint64) st.st_size, size_bytes);
      return TRUE;
    }

  actual = vigil_sha256_file (path, &hashed_bytes, cancellable, &local_error);
  if (actual == NULL)
    {
      if (g_error_matches (local_error, G_IO_ERROR, G_IO_ERROR_CANCELLED))
        {
          g_propagate_error (error, g_steal_pointer (&local_error));
          return FALSE;
        }
      vigil_evidence_add_problem (checker->problems, name, "%s", local_error->message);
      return TRUE;
    }
  checker->report->files_checked++;
  if (hashed_bytes != (guint64) size_bytes)
    vigil_evidence_add_problem (checker->problems, name,
                                "changed while it was read (%" G_GUINT64_FORMAT " bytes, the manifest says %"
                                G_GINT64_FORMAT ")", hashed_bytes, size_bytes);
  else if (g_ascii_strcasecmp (actual, sha256) != 0)
    vigil_evidence_add_problem (checker->problems, name, "SHA-256 differs from the manifest");
  return TRUE;
}

static gint
compare_strings (gconstpointer a, gconstpointer b)
{
  return strcmp (*(const gchar *const *) a, *(const gchar *const *) b);
}

static void
check_extra_files (Checker *checker, GDir *dir)
{
  g_autoptr(GPtrArray) extra = g_ptr_array_new_with_free_func (g_free);
  const gchar *name;

  while ((name = g_dir_read_name (dir)) != NULL)
    if (!g_strv_contains (bundle_files, name) && !g_hash_table_contains (checker->listed, name))
      g_ptr_array_add (extra, g_strdup (name));
  /* Readdir order is the file system's; a report should not depend on it. */
  g_ptr_array_sort (extra, compare_strings);
  for (guint i = 0; i < extra->len; i++)
    vigil_evidence_add_problem (checker->problems, extra->pdata[i], "not listed in the manifest");
}

static void
check_key_and_signature (Checker *checker, const VigilManifest *manifest, const gchar *manifest_text,
                         gsize manifest_size)
{
  g_autoptr(GError) local_error = NULL;
  g_autofree gchar *pem = NULL;
  g_autofree gchar *signature_data = NULL;
  g_autoptr(GBytes) signature = NULL;
  const gchar *expected;
  gsize size = 0;

  if (!read_bundle_file (checker->folder, VIGIL_BUNDLE_PUBLIC_KEY, PUBLIC_KEY_MAX_BYTES, &pem, &size,
                         &local_error))
    {
      vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_PUBLIC_KEY, "%s", local_error->message);
      g_clear_error (&local_error);
    }
  else
    {
      checker->report->fingerprint = vigil_signing_fingerprint_of_pem (pem, &local_error);
      if (checker->report->fingerprint == NULL)
        {
          vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_PUBLIC_KEY, "%s", local_error->message);
          g_clear_error (&local_error);
          g_clear_pointer (&pem, g_free);
        }
    }

  expected = manifest->public_key_sha256;
  if (expected == NULL)
    vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_MANIFEST,
                                "“recorder”.“public_key_sha256” is missing or not a string");
  else if (checker->report->fingerprint != NULL && g_ascii_strcasecmp (checker->report->fingerprint, expected) != 0)
    {
      g_autofree gchar *shown = vigil_evidence_printable (expected);
      vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_PUBLIC_KEY,
                                  "fingerprint %s differs from the manifest's recorder key %s",
                                  checker->report->fingerprint, shown);
    }

  if (!read_bundle_file (checker->folder, VIGIL_BUNDLE_SIGNATURE, SIGNATURE_MAX_BYTES, &signature_data, &size,
                         &local_error))
    {
      vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_SIGNATURE, "%s", local_error->message);
      return;
    }
  if (pem == NULL)
    return;   /* no key to check it with: already reported */
  signature = g_bytes_new_take (g_steal_pointer (&signature_data), size);
  if (!vigil_signing_verify (pem, (const guint8 *) manifest_text, manifest_size, signature, &local_error))
    {
      if (g_error_matches (local_error, VIGIL_SIGNING_ERROR, VIGIL_SIGNING_ERROR_BAD_SIGNATURE))
        vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_SIGNATURE,
                                    "signature does not match manifest.json");
      else
        vigil_evidence_add_problem (checker->problems, VIGIL_BUNDLE_SIGNATURE, "%s", local_error->message);
    }
}

static void
append_copies (GPtrArray *lines, GPtrArray *more)
{
  for (guint i = 0; i < more->len; i++)
    g_ptr_array_add (lines, g_strdup (more->pdata[i]));
}

VigilBundleReport *
vigil_bundle_verify (const gchar *folder, GCancellable *cancellable, GError **error)
{
  g_autoptr(VigilBundleReport) report = g_new0 (VigilBundleReport, 1);
  g_autoptr(GHashTable) listed = g_hash_table_new_full (g_str_hash, g_str_equal, g_free, NULL);
  g_autoptr(VigilManifest) manifest = NULL;
  g_autoptr(GError) local_error = NULL;
  g_autoptr(GDir) dir = NULL;
  g_autofree gchar *manifest_text = NULL;
  gsize manifest_size = 0;
  Checker checker = { folder, report, NULL, listed };

  g_return_val_if_fail (folder != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);

  report->problems = g_ptr_array_new_with_free_func (g_free);
  checker.problems = report->problems;
  dir = g_dir_open (folder, 0, &local_error);
  if (dir == NULL)
    {
      g_set_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE, "%s is not a readable folder: %s",
                   folder, local_error->message);
      return NULL;
    }
  if (!read_bundle_file (folder, VIGIL_BUNDLE_MANIFEST, MANIFEST_MAX_BYTES, &manifest_text, &manifest_size,
                         &local_error)
      || (manifest = vigil_manifest_parse (manifest_text, manifest_size, &local_error)) == NULL)
    {
      g_set_error (error, VIGIL_BUNDLE_ERROR, VIGIL_BUNDLE_ERROR_UNREADABLE, "%s/%s: %s", folder,
                   VIGIL_BUNDLE_MANIFEST, local_error->message);
      return NULL;
    }

  append_copies (report->problems, manifest->problems);
  for (guint i = 0; i < manifest->entries->len; i++)
    {
      const VigilManifestEntry *entry = manifest->entries->pdata[i];

      if (entry->name != NULL)
        g_hash_table_add (listed, g_strdup (entry->name));
      append_copies (report->problems, entry->problems);
      if (entry->problems->len == 0
          && !check_file (&checker, entry->name, entry->size_bytes, entry->sha256, cancellable, error))
        return NULL;
    }
  check_extra_files (&checker, dir);
  check_key_and_signature (&checker, manifest, manifest_text, manifest_size);
  return g_steal_pointer (&report);
}

gboolean
vigil_bundle_sign (const gchar *folder, VigilSigningKey *key, GError **error)
{
  g_autofree gchar *manifest_path = NULL;
  g_autofree gchar *signature_path = NULL;
  g_autofree gchar *key_path = NULL;
  g_autofree gchar *manifest_text = NULL;
  g_autofree gchar *pem = NULL;
  g_autoptr(GBytes) signature = NULL;
  gsize manifest_size = 0;
  const GFileSetContentsFlags flags = G_FILE_SET_CONTENTS_CONSISTENT | G_FILE_SET_CONTENTS_DURABLE;

  g_return_val_if_fail (folder != NULL, FALSE);
  g_return_val_if_fail (key != NULL, FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  manifest_path = g_build_filename (folder, VIGIL_BUNDLE_MANIFEST, NULL);
  signature_path = g_build_filename (folder, VIGIL_BUNDLE_SIGNATURE, NULL);
  key_path = g_build_filename (folder, VIGIL_BUNDLE_PUBLIC_KEY, NULL);
  pem = vigil_signing_key_get_public_pem (key);

  /* Temporary file in the folder, fsync, rename over: a crash leaves the
   * old file or the new one, never half of one. */
  if (!g_file_get_contents (manifest_path, &manifest_text, &manifest_size, error)
      || (signature = vigil_signing_key_sign (key, (const guint8 *) manifest_text, manifest_size, error)) == NULL
      || !g_file_set_contents_full (signature_path, g_bytes_get_data (signature, NULL),
                                    (gssize) g_bytes_get_size (signature), flags, 0644, error)
      || !g_file_set_contents_full (key_path, pem, -1, flags, 0644, error)
      || !vigil_fsync_path (folder, error))
    {
      g_prefix_error (error, "cannot sign bundle %s: ", folder);
      return FALSE;
    }
  return TRUE;
}
