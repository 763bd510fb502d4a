/* SPDX-License-Identifier: GPL-2.0-or-later */
/* Incidents and their evidence locks, in VigilStore's catalog.
 *
 * An incident names cameras and a time span; creating it locks, for each
 * of its cameras, the span widened by its pre- and post-roll, so that
 * retention and the storage watchdog never delete those segments (see
 * vigil_store_list_deletable_segments()). The lock ends only when the
 * incident is released or its expiry passes. Main thread only, like
 * VigilStore. */
#pragma once

#include "vigil-store.h"

G_BEGIN_DECLS

/* Roll defaults and bounds, in µs. */
#define VIGIL_INCIDENT_DEFAULT_ROLL_US (G_GINT64_CONSTANT (30) * G_USEC_PER_SEC)
#define VIGIL_INCIDENT_MAX_ROLL_US     (G_GINT64_CONSTANT (3600) * G_USEC_PER_SEC)
/* Notes, tags and cameras one incident may hold: with the text limits
 * (title 200, description 10,000, note 4,000, tag 64 bytes) they bound
 * what one incident costs on D-Bus. */
#define VIGIL_INCIDENT_MAX_NOTES       200u
#define VIGIL_INCIDENT_MAX_TAGS        32u
#define VIGIL_INCIDENT_MAX_CAMERAS     64u
/* Every time an incident holds (start, end, expiry) lies in
 * [2000-01-01, 2200-01-01) UTC: far enough for any recording, and near
 * enough that a time plus a roll can never overflow. */
#define VIGIL_INCIDENT_MIN_TIME_US     (G_GINT64_CONSTANT (946684800) * G_USEC_PER_SEC)
#define VIGIL_INCIDENT_MAX_TIME_US     (G_GINT64_CONSTANT (7258118400) * G_USEC_PER_SEC)

typedef struct {
  gint64  time_us;
  gint64  uid;                  /* Unix uid of the author; -1 for vigild */
  gchar  *user;
  gchar  *text;
} VigilIncidentNote;

void vigil_incident_note_free (VigilIncidentNote *note);

typedef struct {
  gint64      id;
  gchar      *title;
  gchar      *description;      /* "" when none */
  GStrv       cameras;          /* sorted */
  GStrv       tags;             /* sorted */
  GPtrArray  *notes;            /* VigilIncidentNote, oldest first */
  gint64      start_us;
  gint64      end_us;           /* 0 while open */
  gint64      pre_roll_us, post_roll_us;
  gint64      created_us;
  gint64      created_uid;
  gchar      *created_user;
  gint64      closed_us;        /* 0 while open */
  gint64      released_us;      /* 0 while the lock holds */
  gchar      *release_reason;   /* NULL while the lock holds */
  gint64      expires_us;       /* 0: no expiry */
} VigilIncident;

/* 1 to 64 bytes of UTF-8 without spaces, control characters or commas
 * (vigilctl separates tags with commas). */
gboolean       vigil_incident_tag_is_valid (const gchar *tag);

VigilIncident *vigil_incident_new  (void);
void           vigil_incident_free (VigilIncident *incident);
G_DEFINE_AUTOPTR_CLEANUP_FUNC (VigilIncident, vigil_incident_free)

/* The span an incident locks on each of its cameras: [start - pre-roll,
 * end + post-roll); *@out_to_us is 0 while the incident is open. */
void vigil_incident_get_locked_span (const VigilIncident *incident,
                                     gint64              *out_from_us,
                                     gint64              *out_to_us);

/* Stores @incident (its id, notes, closed and released fields are
 * ignored) with its tags and its locks. Every camera must exist (else
 * NOT_FOUND naming it); bad values give INVALID naming the field. Returns
 * the new id, or 0 with @error set. */
gint64         vigil_store_add_incident        (VigilStore          *self,
                                                const VigilIncident *incident,
                                                GError             **error);
VigilIncident *vigil_store_get_incident        (VigilStore *self,
                                                gint64      id,
                                                GError    **error);
gboolean       vigil_store_add_incident_note   (VigilStore              *self,
                                                gint64                   id,
                                                const VigilIncidentNote *note,
                                                GError                 **error);
gboolean       vigil_store_add_incident_tag    (VigilStore  *self,
                                                gint64       id,
                                                const gchar *tag,
                                                GError     **error);
gboolean       vigil_store_remove_incident_tag (VigilStore  *self,
                                                gint64       id,
                                                const gchar *tag,
                                                GError     **error);
/* Ends an open incident at @end_us (>= its start) and bounds its locks. */
gboolean       vigil_store_close_incident      (VigilStore *self,
                                                gint64      id,
                                                gint64      end_us,
                                                gint64      closed_us,
                                                GError    **error);
/* Drops the incident's locks for good, recording when and why. */
gboolean       vigil_store_release_incident    (VigilStore  *self,
                                                gint64       id,
                                                gint64       released_us,
                                                const gchar *reason,
                                                GError     **error);
/* 0 removes the expiry. */
gboolean       vigil_store_set_incident_expiry (VigilStore *self,
                                                gint64      id,
                                                gint64      expires_us,
                                                GError    **error);

typedef struct {
  gint64        from_us, to_us;  /* incidents overlapping [from, to); 0 = unbounded */
  const gchar  *camera;          /* NULL: any */
  const gchar  *tag;             /* NULL: any */
  const gchar  *text;            /* NULL: any; case-insensitive substring of title or description */
  guint         limit;           /* 0: no limit */
  guint         offset;          /* skip this many of the matches first (paging) */
} VigilIncidentFilter;

/* Matching incidents, newest start first; element type VigilIncident. */
GPtrArray     *vigil_store_list_incidents      (VigilStore                *self,
                                                const VigilIncidentFilter *filter,
                                                GError                   **error);
/* Releases every incident whose expiry is at or before @now_us, reason
 * "expired"; returns their ids (element type gint64) for the caller to
 * announce and audit. */
GArray        *vigil_store_release_expired_incidents (VigilStore *self,
                                                      gint64      now_us,
                                                      GError    **error);
/* Sets *@out_locked to whether a segment of @camera overlapping
 * [from_us, to_us) is held by a lock in force at @now_us. */
gboolean       vigil_store_is_span_locked      (VigilStore  *self,
                                                const gchar *camera,
                                                gint64       from_us,
                                                gint64       to_us,
                                                gint64       now_us,
                                                gboolean    *out_locked,
                                                GError     **error);

/* Complete or recovered segments of @camera (NULL: every camera) that
 * end at or before @before_us and that no lock in force at @now_us holds,
 * oldest first, at most @limit (0: all): what retention may delete.
 * Element type VigilSegment (id, camera, path, span and size set). */
GPtrArray     *vigil_store_list_deletable_segments (VigilStore  *self,
                                                    const gchar *camera,
                                                    gint64       before_us,
                                                    gint64       now_us,
                                                    guint        limit,
                                                    GError     **error);

G_END_DECLS
