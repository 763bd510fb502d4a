/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Export bundles: the folder vigild hands over for an incident, holding
 * its clips and snapshots, manifest.json (every other file's name, size
 * and SHA-256, and the recorder's key fingerprint), manifest.json.sig (the
 * raw Ed25519 signature of manifest.json's exact bytes) and public-key.pem.
 * Anyone can check one with stock openssl:
 *   openssl pkeyutl -verify -pubin -inkey public-key.pem -rawin \
 *           -in manifest.json -sigfile manifest.json.sig
 *   openssl dgst -sha256 *.mp4 *.jpg      (compared with the manifest)
 * This file signs a bundle whose manifest the daemon has written (with
 * vigil-manifest.h, which defines the format), and
 * verifies one (vigilctl verify, without the daemon). Verifying treats the
 * folder as hostile: it never reads a path outside it, never follows a
 * symbolic link in it, and turns every defect into a problem line rather
 * than a crash. A verified bundle is unchanged since the holder of the key
 * whose fingerprint it reports signed it; whether that is the recorder is
 * for the reader to compare with the fingerprint the recorder shows.
 * Blocking file I/O; any thread. */
#pragma once

#include <gio/gio.h>

#include "vigil-manifest.h"
#include "vigil-signing.h"

G_BEGIN_DECLS

#define VIGIL_BUNDLE_ERROR (vigil_bundle_error_quark ())
typedef enum {
  VIGIL_BUNDLE_ERROR_UNREADABLE,   /* not a folder, no readable manifest.json, or it is not JSON */
} VigilBundleError;
GQuark vigil_bundle_error_quark (void);

typedef struct {
  guint      files_checked;   /* listed files whose contents were read and hashed */
  gchar     *fingerprint;     /* of public-key.pem; NULL when it is missing or no Ed25519 key */
  GPtrArray *problems;        /* gchar*, one line each, "NAME: what is wrong"; empty = verified */
} VigilBundleReport;
void vigil_bundle_report_free (VigilBundleReport *report);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilBundleReport, vigil_bundle_report_free)

/* Checks every file manifest.json lists (size, then SHA-256), that the
 * folder holds nothing else besides the three bundle files, that
 * public-key.pem's fingerprint is the manifest's
 * recorder.public_key_sha256, and that manifest.json.sig holds for
 * manifest.json under public-key.pem. Returns the report, or NULL with
 * UNREADABLE when the bundle cannot be read at all, or with
 * G_IO_ERROR_CANCELLED. */
VigilBundleReport *vigil_bundle_verify (const gchar  *folder,
                                        GCancellable *cancellable,
                                        GError      **error);

/* Signs @folder/manifest.json as it is on disk with @key: writes
 * manifest.json.sig and public-key.pem (each to a temporary name, fsync'ed,
 * renamed; then the folder is fsync'ed). Errors are G_FILE_ERROR or
 * VIGIL_SIGNING_ERROR, naming the folder. */
gboolean           vigil_bundle_sign   (const gchar     *folder,
                                        VigilSigningKey *key,
                                        GError         **error);

G_END_DECLS
