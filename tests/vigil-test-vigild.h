/* SPDX-License-Identifier: GPL-2.0-or-later */
/* The real vigild for end-to-end tests: simulated cameras on 127.0.0.1, a
 * config in a temporary folder, vigild on the test's private bus
 * (GTestDBus), and the generated Manager proxy to talk to it. Every wait
 * is bounded and prints vigild's log when it runs out. */
#pragma once

#include <gio/gio.h>
#include <gio/gunixfdlist.h>

#include "vigil-dbus-generated.h"
#include "vigil-simcam.h"
#include "vigil-store.h"

G_BEGIN_DECLS

typedef struct {
  gchar            *dir;
  gchar            *root;                /* storage root */
  gchar            *catalog;             /* in dir/state, with the signing key */
  gchar            *conf;
  gchar            *log;                 /* vigild's stderr */
  gchar            *out;                 /* an export destination */
  VigilSimcam      *simcam;              /* cameras cam0 .. cam{n-1} are its streams */
  GSubprocess      *vigild;
  GDBusConnection  *connection;
  VigilDBusManager *manager;
  guint             segments_completed;  /* SegmentCompleted signals seen */
  GArray           *alert_watches;       /* handler ids on manager, disconnected at tear-down */
  GPtrArray        *env;                 /* NAME, VALUE, ... for vigild; NULL for none */
  gchar            *system_bus;          /* vigild serves this bus as its system bus; NULL: --session */
  gchar            *disk;                /* a small tmpfs holding root and catalog; NULL: none */
} VigilTestVigild;

/* One AlertRaised or AlertCleared signal to look out for. */
typedef struct {
  const gchar *kind;
  const gchar *subject;       /* "camera NAME", a storage root */
  gboolean     cleared;       /* the clear, not the raise */
  /* Filled in when it comes. */
  gboolean     seen;
  gint64       raised_us, cleared_us;
  gchar        details[256];
  gulong       handler;       /* while watched */
} VigilTestAlertWait;

/* Makes the folders, starts the simulated cameras (none when @options is
 * NULL: the test adds its cameras with vigil_test_vigild_append_config())
 * and writes the config
 * (@bus: the test's session bus, or NULL to name one later):
 * [storage] root, catalog, segment_seconds and @storage_extra lines, one
 * [camera camN] per stream with @camera_extra lines, then @extra groups.
 * @bus is the test's GTestDBus, or NULL for a bus the test started itself
 * at $DBUS_SESSION_BUS_ADDRESS (which vigild uses either way). */
void   vigil_test_vigild_set_up       (VigilTestVigild          *f,
                                       GTestDBus                *bus,
                                       const VigilSimcamOptions *options,
                                       guint                     segment_seconds,
                                       const gchar              *storage_extra,
                                       const gchar              *camera_extra,
                                       const gchar              *extra);
/* vigild will serve the bus at @address as its system bus (polkit decides
 * who may call it) instead of the test's session bus; the test talks to
 * it there. After vigil_test_vigild_set_up() with a NULL bus. */
void   vigil_test_vigild_use_system_bus (VigilTestVigild *f,
                                         const gchar     *address);
/* Mounts a tmpfs of @size_mib and moves the storage root and the catalog
 * (with the signing key) onto it, as on a host with one disk; FALSE when
 * no tmpfs can be mounted here (not root). After set-up, before start. */
gboolean vigil_test_vigild_use_small_disk (VigilTestVigild *f,
                                           guint            size_mib);
/* Appends @text (whole groups) to the config, for what is only known once
 * the simulated cameras run; before vigil_test_vigild_start(). */
void   vigil_test_vigild_append_config (VigilTestVigild *f,
                                        const gchar     *text);
/* Sets @name=@value in vigild's environment; before vigil_test_vigild_start(). */
void   vigil_test_vigild_setenv       (VigilTestVigild *f,
                                       const gchar     *name,
                                       const gchar     *value);
/* Starts vigild (--session unless on a system bus) and waits until it
 * owns its bus name. */
void   vigil_test_vigild_start        (VigilTestVigild *f);
void   vigil_test_vigild_tear_down    (VigilTestVigild *f);
gchar *vigil_test_vigild_read_log     (VigilTestVigild *f);
/* Waits for @n more completed segments (any camera). */
void   vigil_test_vigild_wait_for_segments (VigilTestVigild *f,
                                            guint            n);
/* The @n-th complete segment of @camera, from the catalog. */
VigilSegment *vigil_test_vigild_get_segment (VigilTestVigild *f,
                                             const gchar     *camera,
                                             guint            n);
/* Starts looking out for @wait's alert (sets wait->seen when it comes),
 * for alerts that may come before or while the test waits for another. */
void   vigil_test_vigild_watch_alert  (VigilTestVigild    *f,
                                       VigilTestAlertWait *wait);
/* Waits up to @timeout_s for @wait's alert (seen since it was watched, or
 * from now), failing with vigild's log; then stops looking out for it. */
void   vigil_test_vigild_wait_for_alert (VigilTestVigild    *f,
                                         VigilTestAlertWait *wait,
                                         guint               timeout_s);
/* Runs $VIGILCTL with the arguments (NULL-terminated) against the test's
 * bus, or @bus_address when given; returns its exit status. */
gint   vigil_test_run_vigilctl        (const gchar *bus_address,
                                       gchar      **out_stdout,
                                       gchar      **out_stderr,
                                       const gchar *first,
                                       ...) G_GNUC_NULL_TERMINATED;

/* @path opened read-only (as vigilctl opens an export destination, but
 * without O_DIRECTORY, so that a test can pass a file too), alone in a
 * list for an ExportIncident or ExportRange call's handle 0. */
GUnixFDList *vigil_test_open_destination (const gchar *path);

G_END_DECLS
