/* SPDX-License-Identifier: GPL-2.0-or-later */
/* What the manifest reader and the bundle verifier share: problem lines
 * about names from a hostile folder or manifest. Not public: only
 * the files of evidence/ include it. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

/* @name fit to print on one line of a terminal: anything but valid UTF-8
 * without control characters is escaped, so a name shows exactly which
 * file is meant. */
gchar *vigil_evidence_printable   (const gchar *name);
/* Appends "NAME: what is wrong" to @problems, NAME made printable. */
void   vigil_evidence_add_problem (GPtrArray   *problems,
                                   const gchar *name,
                                   const gchar *format,
                                   ...) G_GNUC_PRINTF (3, 4);

G_END_DECLS
