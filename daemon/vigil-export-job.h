/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilExportJob turns an incident, or one camera's time range, into a
 * police-assist bundle: per camera a stream-copied MP4 and a JPEG of its
 * first frame, manifest.json (what was asked, what was found, gaps, every
 * source segment and exported file with its SHA-256, who exported it and
 * why, the audit log's head) and its Ed25519 signature.
 *
 * vigil_export_job_new() checks everything a caller can get wrong before a
 * single file is written (destination, range, recording, free space) and
 * fixes the plan from the catalog on the main thread. The destination is
 * a folder the caller opened and passed as a descriptor; vigild (root)
 * never acts on a path inside it that the caller could change. The work
 * runs on a worker thread in a root-only work folder with a random name,
 * made and filled through descriptors (VigilExportFolder), which is given
 * to the caller and renamed to DEST/NAME only when complete and synced; a
 * failure or a cancel removes what the job made and nothing else, so a
 * bundle folder is either whole or absent. The job never deletes or
 * changes a segment: source files are only read. */
#pragma once

#include <glib-object.h>

#include "vigil-incidents.h"
#include "vigil-signing.h"
#include "vigil-store.h"

G_BEGIN_DECLS

/* One export may cover at most this much time per camera. */
#define VIGIL_EXPORT_MAX_RANGE_US (G_GINT64_CONSTANT (24) * 3600 * G_USEC_PER_SEC)

typedef enum {
  VIGIL_EXPORT_RUNNING,
  VIGIL_EXPORT_DONE,
  VIGIL_EXPORT_FAILED,
  VIGIL_EXPORT_CANCELLED,
} VigilExportState;

const gchar *vigil_export_state_to_string (VigilExportState state);

typedef struct {
  int                  destination_fd;  /* the folder, as the caller opened it; borrowed (the job keeps a duplicate) */
  const gchar         *reason;       /* required */
  gint64               uid;          /* who asks (>= 0; the destination is judged by this user's rights) */
  const gchar         *user;
  const VigilIncident *incident;     /* export this incident's cameras and span, or NULL */
  const gchar         *camera;       /* else this camera ... */
  gint64               from_us;      /* ... over [from, to) */
  gint64               to_us;
} VigilExportRequest;

#define VIGIL_TYPE_EXPORT_JOB (vigil_export_job_get_type ())
G_DECLARE_FINAL_TYPE (VigilExportJob, vigil_export_job, VIGIL, EXPORT_JOB, GObject)

/* Plans an export; errors are VIGIL_ERROR (UNKNOWN_CAMERA, INVALID_ARGUMENT,
 * NOT_WRITABLE, RANGE_TOO_LARGE, NO_RECORDING, NO_SPACE). The destination
 * is checked by vigil_export_check_destination() against @private_folders
 * (vigil's storage and state). @key must outlive the job. Main thread. */
VigilExportJob  *vigil_export_job_new         (VigilStore               *store,
                                               VigilSigningKey          *key,
                                               const gchar *const       *private_folders,
                                               const VigilExportRequest *request,
                                               GError                  **error);
/* Starts the work on a worker thread; ::progress and then ::finished
 * follow on the main context. */
void             vigil_export_job_start       (VigilExportJob *self);
void             vigil_export_job_cancel      (VigilExportJob *self);
VigilExportState vigil_export_job_get_state   (VigilExportJob *self);
gdouble          vigil_export_job_get_progress (VigilExportJob *self);
/* Once done: the bundle folder (where the kernel named the destination as
 * the job ended, for people to read; vigild never opens it) and the
 * SHA-256 of its manifest.json. */
const gchar     *vigil_export_job_get_bundle  (VigilExportJob *self);
const gchar     *vigil_export_job_get_manifest_sha256 (VigilExportJob *self);
/* Once failed: why. */
const gchar     *vigil_export_job_get_error_message (VigilExportJob *self);
/* A one-line description for logs and the audit log. */
const gchar     *vigil_export_job_get_summary (VigilExportJob *self);

G_END_DECLS
