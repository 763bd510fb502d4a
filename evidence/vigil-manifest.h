/* SPDX-License-Identifier: GPL-2.0-or-later */
/* manifest.json, format "vigil-export/1": the one definition of what an
 * export bundle's manifest says, written by vigild's export job and read
 * by the verifier (vigilctl verify), so the two cannot drift apart.
 *
 * A manifest holds who exported what, when and why, the incident if any,
 * per camera the span asked for, what the clip holds, the gaps and every
 * source segment with its SHA-256, the list of the bundle's files (name,
 * size, SHA-256) and the audit log's head. Times are written twice: UTC
 * ("…Z") and, beside it as NAME_local, the recorder's local time.
 *
 * The reader treats the text as hostile: every member is type-checked
 * before use, nesting is bounded (json-glib parses recursively), an
 * escaped NUL is reported (json-glib would cut the string there), and a
 * listed name must be a plain file name in the bundle. Pure functions on
 * memory; any thread. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_BUNDLE_FORMAT     "vigil-export/1"   /* manifest.json's "format" */
#define VIGIL_BUNDLE_MANIFEST   "manifest.json"
#define VIGIL_BUNDLE_SIGNATURE  "manifest.json.sig"
#define VIGIL_BUNDLE_PUBLIC_KEY "public-key.pem"

/* ---- Writing --------------------------------------------------------- */

typedef struct {
  gint64       time_us;
  gint64       uid;
  const gchar *user;
  const gchar *text;
} VigilManifestNote;

typedef struct {
  gint64                   id;
  const gchar             *title;
  const gchar             *description;
  const gchar *const      *cameras;
  const gchar *const      *tags;
  gint64                   start_us;
  gint64                   end_us;          /* 0: still open */
  gint64                   pre_roll_us, post_roll_us;
  const gchar             *created_by;
  gint64                   created_us;
  const VigilManifestNote *notes;
  guint                    n_notes;
} VigilManifestIncident;

/* Who exported what and why; every string is borrowed for the call. */
typedef struct {
  const gchar                 *bundle;              /* the bundle folder's name */
  const gchar                 *public_key_sha256;   /* the recorder's key fingerprint */
  gint64                       exported_at_us;
  gint64                       uid;                 /* -1: vigild itself */
  const gchar                 *user;
  const gchar                 *reason;
  gint64                       requested_from_us, requested_to_us;
  const VigilManifestIncident *incident;            /* NULL: a plain range export */
} VigilManifestHeader;

/* What one camera's exported clip holds. */
typedef struct {
  gint64       first_frame_us, end_us;
  gint64       video_frames;
  gint64       duration_ms;
  const gchar *audio;           /* "none", "copied" or how it was stored */
  const gchar *clip;            /* file names in the bundle */
  const gchar *snapshot;
  const gchar *clip_sha256;
} VigilManifestClip;

typedef struct _VigilManifestWriter VigilManifestWriter;

VigilManifestWriter *vigil_manifest_writer_new          (const VigilManifestHeader *header);
void                 vigil_manifest_writer_free         (VigilManifestWriter *writer);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilManifestWriter, vigil_manifest_writer_free)

/* One camera: begin, then in any order at most one clip (without one the
 * camera had nothing in the span: "actual" is null), its gaps and its
 * source segments, then end. Cameras appear in the order begun. */
void                 vigil_manifest_writer_begin_camera (VigilManifestWriter     *writer,
                                                         const gchar             *name,
                                                         gint64                   from_us,
                                                         gint64                   to_us);
void                 vigil_manifest_writer_set_clip     (VigilManifestWriter     *writer,
                                                         const VigilManifestClip *clip);
void                 vigil_manifest_writer_add_gap      (VigilManifestWriter     *writer,
                                                         gint64                   from_us,
                                                         gint64                   to_us,
                                                         const gchar             *reason);
/* @path is relative to the storage root. */
void                 vigil_manifest_writer_add_source   (VigilManifestWriter     *writer,
                                                         const gchar             *path,
                                                         gint64                   start_us,
                                                         gint64                   end_us,
                                                         guint64                  size_bytes,
                                                         const gchar             *sha256);
void                 vigil_manifest_writer_end_camera   (VigilManifestWriter     *writer);

/* A file of the bundle, which the verifier will check. */
void                 vigil_manifest_writer_add_file     (VigilManifestWriter     *writer,
                                                         const gchar             *name,
                                                         guint64                  size_bytes,
                                                         const gchar             *sha256);

/* Ends the manifest with the audit log's head and returns its text (the
 * exact bytes to write and sign); the writer takes no more calls. */
gchar               *vigil_manifest_writer_finish       (VigilManifestWriter     *writer,
                                                         gint64                   audit_head_id,
                                                         const gchar             *audit_head_sha256,
                                                         gsize                   *out_length);

/* ---- Reading --------------------------------------------------------- */

#define VIGIL_MANIFEST_ERROR (vigil_manifest_error_quark ())
typedef enum {
  VIGIL_MANIFEST_ERROR_UNREADABLE,   /* not JSON, nests too deep, or empty */
} VigilManifestError;
GQuark vigil_manifest_error_quark (void);

/* One entry of "files", in the manifest's order. */
typedef struct {
  gchar     *name;         /* a plain file name, or NULL when the entry has none */
  gint64     size_bytes;   /* -1 when not a whole number of bytes */
  gchar     *sha256;       /* 64 hex digits, or NULL when not */
  GPtrArray *problems;     /* gchar*, "NAME: what is wrong" lines; none: check the file */
} VigilManifestEntry;

typedef struct {
  GPtrArray *problems;            /* gchar*, lines about the manifest as a whole */
  GPtrArray *entries;             /* VigilManifestEntry */
  gchar     *public_key_sha256;   /* "recorder"."public_key_sha256", or NULL */
} VigilManifest;
void vigil_manifest_free (VigilManifest *manifest);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilManifest, vigil_manifest_free)

/* Reads @size bytes of @text. What is wrong inside a readable manifest
 * becomes problem lines; NULL with UNREADABLE only when it cannot be read
 * as a JSON document at all. */
VigilManifest *vigil_manifest_parse      (const gchar *text,
                                          gsize        size,
                                          GError     **error);

G_END_DECLS
