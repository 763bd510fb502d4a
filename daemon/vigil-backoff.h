/* SPDX-License-Identifier: GPL-2.0-or-later */
/* How long a camera waits before the next attempt, by why the last one
 * failed. Plain data; main thread.
 *
 * A camera that answers but whose stream keeps failing is retried after
 * 1 s doubling to a 30 s cap, each multiplied by a random factor in
 * [0.8, 1.2] so that cameras behind one failed switch do not all
 * reconnect in the same instant.
 *
 * A camera that refused the login (401, 403) is different: real cameras
 * lock the account or the address after about five failed logins, often
 * for half an hour, and then refuse the right password too. The first
 * VIGIL_BACKOFF_QUICK_LOGINS refusals in a row are retried as quickly as
 * a failing stream (a camera still booting may refuse for a moment);
 * from the third on, the wait is the camera's login wait (default ten
 * minutes), doubling with each further refusal up to an hour, never less
 * than the login wait itself: jitter only lengthens it.
 *
 * A camera at its session or connection limit (503, or 454 for a session
 * it dropped) waits its busy wait (default a minute), doubling up to a
 * quarter of an hour: another client holds the sessions, and asking every
 * second does not free one.
 *
 * Only a run that recorded resets the counts (vigil_backoff_reset()); an
 * operator's retry does not, so a retry with the password still wrong
 * waits the long wait again at once. */
#pragma once

#include <glib.h>

G_BEGIN_DECLS

#define VIGIL_BACKOFF_FIRST_MS       1000
#define VIGIL_BACKOFF_CAP_MS         30000
#define VIGIL_BACKOFF_QUICK_LOGINS   3
#define VIGIL_BACKOFF_LOGIN_CAP_MS   (60 * 60 * 1000)
#define VIGIL_BACKOFF_BUSY_CAP_MS    (15 * 60 * 1000)

typedef struct {
  guint failures;        /* consecutive failed runs since the last success */
  guint refused_logins;  /* of them, logins the camera refused */
  guint busy_answers;    /* of them, busy answers */
} VigilBackoff;

/* The delay before the next attempt; counts one more failure. */
guint vigil_backoff_next_delay_ms (VigilBackoff *backoff, GRand *rand);
/* The same after the camera refused @logins more logins (1 for one
 * attempt; more when one attempt of the client costs several, as
 * rtspsrc's does); @login_wait_ms is the wait once
 * VIGIL_BACKOFF_QUICK_LOGINS were refused. */
guint vigil_backoff_next_login_delay_ms (VigilBackoff *backoff,
                                         guint         logins,
                                         guint         login_wait_ms,
                                         GRand        *rand);
/* The same after a busy answer; @busy_wait_ms is the first wait. */
guint vigil_backoff_next_busy_delay_ms  (VigilBackoff *backoff,
                                         guint         busy_wait_ms,
                                         GRand        *rand);
void  vigil_backoff_reset               (VigilBackoff *backoff);

G_END_DECLS
