/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilLiveFeed: frames from the recorder's streaming threads to the appsrc
 * elements of live RTSP media.
 *
 * Threads. Producers (the recorder's video probe and audio probe) and
 * consumers (the live server's thread, media threads on unprepare) meet
 * under self->lock, which is held only for bookkeeping and non-blocking
 * pushes: every appsrc is made with block=FALSE and leaks downstream, so
 * gst_app_src_push_buffer() returns at once even when its media is stuck.
 *
 * Per frame and attached media, the frame is re-timestamped into a
 * shallow copy (a buffer shell sharing the frame's memory), because each
 * media has its own time line; with no media attached, a frame costs a
 * reference for the kept GOP and nothing else. */
#include "vigil-live-feed.h"

GST_DEBUG_CATEGORY_STATIC (vigil_live_feed_debug);
#define GST_CAT_DEFAULT vigil_live_feed_debug

/* A media whose appsrc holds more than this is behind: its frames are
 * dropped up to the next keyframe, which decodes on its own. */
#define BEHIND_NS (1 * GST_SECOND)
/* The step assumed between the last frame of a run and the first of the
 * next, in a media's time line, when re-basing. */
#define REBASE_STEP_NS (40 * GST_MSECOND)
/* Audio that came no later than this is flowing. */
#define AUDIO_QUIET_US (2 * G_USEC_PER_SEC)

typedef struct {
  GstAppSrc    *video, *audio;
  GstCaps      *video_caps, *audio_caps;   /* what was set on them (references) */
  gint64        offset;                    /* media time = running time - offset */
  gboolean      has_offset;
  gboolean      rebase;                    /* a new run: re-base at its first keyframe */
  gboolean      waiting_key;               /* dropping until a keyframe */
  gboolean      discont;                   /* mark the next video frame */
  GstClockTime  last_pts;                  /* of the last video frame pushed */
} Consumer;

struct _VigilLiveFeed {
  GObject       parent_instance;
  gchar        *name;

  GMutex        lock;
  GstCaps      *video_caps, *audio_caps;
  gboolean      live;                      /* a keyframe came in this run */
  /* The GOP so far, from its keyframe; valid only while gop_valid. */
  GstBuffer    *gop[VIGIL_LIVE_FEED_GOP_MAX_FRAMES];
  GstClockTime  gop_rt[VIGIL_LIVE_FEED_GOP_MAX_FRAMES];
  guint         gop_len;
  gsize         gop_bytes;
  gboolean      gop_valid;
  gint          enabled;                   /* atomic; checked before the lock */
  GPtrArray    *consumers;                 /* Consumer *, owned */
  gint64        last_audio_us;             /* monotonic; 0 before any audio */
};

G_DEFINE_FINAL_TYPE_WITH_CODE (VigilLiveFeed, vigil_live_feed, G_TYPE_OBJECT,
                               GST_DEBUG_CATEGORY_INIT (vigil_live_feed_debug, "vigillivefeed", 0,
                                                        "vigil live feed"))

static void
consumer_free (gpointer data)
{
  Consumer *consumer = data;

  gst_clear_object (&consumer->video);
  gst_clear_object (&consumer->audio);
  gst_clear_caps (&consumer->video_caps);
  gst_clear_caps (&consumer->audio_caps);
  g_free (consumer);
}

/* Called with self->lock held. */
static void
clear_gop (VigilLiveFeed *self)
{
  for (guint i = 0; i < self->gop_len; i++)
    gst_clear_buffer (&self->gop[i]);
  self->gop_len = 0;
  self->gop_bytes = 0;
  self->gop_valid = FALSE;
}

static void
vigil_live_feed_finalize (GObject *object)
{
  VigilLiveFeed *self = VIGIL_LIVE_FEED (object);

  clear_gop (self);
  gst_clear_caps (&self->video_caps);
  gst_clear_caps (&self->audio_caps);
  g_ptr_array_unref (self->consumers);
  g_mutex_clear (&self->lock);
  g_free (self->name);
  G_OBJECT_CLASS (vigil_live_feed_parent_class)->finalize (object);
}

static void
vigil_live_feed_class_init (VigilLiveFeedClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_live_feed_finalize;
}

static void
vigil_live_feed_init (VigilLiveFeed *self)
{
  g_mutex_init (&self->lock);
  self->consumers = g_ptr_array_new_with_free_func (consumer_free);
}

VigilLiveFeed *
vigil_live_feed_new (const gchar *name)
{
  VigilLiveFeed *self = g_object_new (VIGIL_TYPE_LIVE_FEED, NULL);

  g_return_val_if_fail (name != NULL, NULL);
  self->name = g_strdup (name);
  return self;
}

void
vigil_live_feed_set_enabled (VigilLiveFeed *self, gboolean enabled)
{
  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));
  g_atomic_int_set (&self->enabled, enabled);
  if (!enabled)
    vigil_live_feed_end_run (self);   /* lets go of the kept GOP */
}

const gchar *
vigil_live_feed_get_name (VigilLiveFeed *self)
{
  g_return_val_if_fail (VIGIL_IS_LIVE_FEED (self), NULL);
  return self->name;
}

/* Sets @caps on @appsrc when they differ from what it was given last. */
static void
update_caps (GstAppSrc *appsrc, GstCaps **set, GstCaps *caps)
{
  if (appsrc == NULL || caps == NULL || *set == caps)
    return;
  if (*set == NULL || !gst_caps_is_equal (*set, caps))
    gst_app_src_set_caps (appsrc, caps);
  gst_caps_replace (set, caps);
}

/* Called with self->lock held: @frame (borrowed) to one media. */
static void
consumer_push_video (VigilLiveFeed *self, Consumer *consumer, GstBuffer *frame, GstClockTime running_time)
{
  gboolean keyframe = !GST_BUFFER_FLAG_IS_SET (frame, GST_BUFFER_FLAG_DELTA_UNIT);
  GstClockTime pts, dts = GST_CLOCK_TIME_NONE;
  GstBuffer *copy;

  if (keyframe && (consumer->rebase || !consumer->has_offset))
    {
      /* The media's time line goes on one frame after its last frame. */
      GstClockTime next = consumer->has_offset ? consumer->last_pts + REBASE_STEP_NS : 0;

      consumer->offset = (gint64) running_time - (gint64) next;
      consumer->has_offset = TRUE;
      consumer->rebase = FALSE;
      consumer->waiting_key = FALSE;
      consumer->discont = TRUE;
    }
  if (!consumer->has_offset || consumer->rebase)
    return;
  if (gst_app_src_get_current_level_time (consumer->video) > BEHIND_NS)
    {
      if (!consumer->waiting_key)
        GST_INFO ("%s: a viewer's media is more than a second behind; skipping to the next keyframe",
                  self->name);
      consumer->waiting_key = TRUE;
      return;
    }
  if (consumer->waiting_key && !keyframe)
    return;
  if (consumer->waiting_key)
    {
      consumer->waiting_key = FALSE;
      consumer->discont = TRUE;
    }
  if ((gint64) running_time < consumer->offset)
    return;
  pts = (GstClockTime) ((gint64) running_time - consumer->offset);
  if (GST_BUFFER_PTS_IS_VALID (frame) && GST_BUFFER_DTS_IS_VALID (frame)
      && GST_BUFFER_PTS (frame) >= GST_BUFFER_DTS (frame) && pts >= GST_BUFFER_PTS (frame) - GST_BUFFER_DTS (frame))
    dts = pts - (GST_BUFFER_PTS (frame) - GST_BUFFER_DTS (frame));

  copy = gst_buffer_copy (frame);
  GST_BUFFER_PTS (copy) = pts;
  GST_BUFFER_DTS (copy) = dts;
  if (consumer->discont)
    GST_BUFFER_FLAG_SET (copy, GST_BUFFER_FLAG_DISCONT);
  else
    GST_BUFFER_FLAG_UNSET (copy, GST_BUFFER_FLAG_DISCONT);
  consumer->discont = FALSE;
  consumer->last_pts = pts;
  gst_app_src_push_buffer (consumer->video, copy);
}

void
vigil_live_feed_push_video (VigilLiveFeed *self, GstCaps *caps, GstBuffer *frame, GstClockTime running_time)
{
  gboolean keyframe;

  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));
  g_return_if_fail (GST_IS_BUFFER (frame));
  if (!GST_CLOCK_TIME_IS_VALID (running_time) || !g_atomic_int_get (&self->enabled))
    return;
  keyframe = !GST_BUFFER_FLAG_IS_SET (frame, GST_BUFFER_FLAG_DELTA_UNIT);

  g_mutex_lock (&self->lock);
  if (caps != NULL && caps != self->video_caps)
    gst_caps_replace (&self->video_caps, caps);
  if (keyframe)
    {
      clear_gop (self);
      self->gop_valid = TRUE;
      self->live = self->video_caps != NULL;
    }
  if (self->gop_valid)
    {
      gsize size = gst_buffer_get_size (frame);

      if (self->gop_len < VIGIL_LIVE_FEED_GOP_MAX_FRAMES && self->gop_bytes + size <= VIGIL_LIVE_FEED_GOP_MAX_BYTES)
        {
          self->gop[self->gop_len] = gst_buffer_ref (frame);
          self->gop_rt[self->gop_len] = running_time;
          self->gop_len++;
          self->gop_bytes += size;
        }
      else
        clear_gop (self);
    }
  for (guint i = 0; i < self->consumers->len; i++)
    {
      Consumer *consumer = g_ptr_array_index (self->consumers, i);

      update_caps (consumer->video, &consumer->video_caps, self->video_caps);
      consumer_push_video (self, consumer, frame, running_time);
    }
  g_mutex_unlock (&self->lock);
}

void
vigil_live_feed_push_audio (VigilLiveFeed *self, GstCaps *caps, GstBuffer *packet, GstClockTime running_time)
{
  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));
  g_return_if_fail (GST_IS_BUFFER (packet));
  if (!GST_CLOCK_TIME_IS_VALID (running_time) || !g_atomic_int_get (&self->enabled))
    return;

  g_mutex_lock (&self->lock);
  if (caps != NULL && caps != self->audio_caps)
    gst_caps_replace (&self->audio_caps, caps);
  self->last_audio_us = g_get_monotonic_time ();
  for (guint i = 0; i < self->consumers->len; i++)
    {
      Consumer *consumer = g_ptr_array_index (self->consumers, i);
      GstBuffer *copy;

      /* Audio follows the video's time line: none before the media's
       * first keyframe or while it waits for one. */
      if (consumer->audio == NULL || !consumer->has_offset || consumer->rebase || consumer->waiting_key
          || (gint64) running_time < consumer->offset)
        continue;
      if (gst_app_src_get_current_level_time (consumer->audio) > BEHIND_NS)
        continue;
      update_caps (consumer->audio, &consumer->audio_caps, self->audio_caps);
      copy = gst_buffer_copy (packet);
      GST_BUFFER_PTS (copy) = (GstClockTime) ((gint64) running_time - consumer->offset);
      GST_BUFFER_DTS (copy) = GST_CLOCK_TIME_NONE;
      gst_app_src_push_buffer (consumer->audio, copy);
    }
  g_mutex_unlock (&self->lock);
}

void
vigil_live_feed_end_run (VigilLiveFeed *self)
{
  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));

  g_mutex_lock (&self->lock);
  clear_gop (self);
  self->live = FALSE;
  for (guint i = 0; i < self->consumers->len; i++)
    {
      Consumer *consumer = g_ptr_array_index (self->consumers, i);

      consumer->rebase = TRUE;
    }
  g_mutex_unlock (&self->lock);
}

gboolean
vigil_live_feed_is_live (VigilLiveFeed *self)
{
  gboolean live;

  g_return_val_if_fail (VIGIL_IS_LIVE_FEED (self), FALSE);
  g_mutex_lock (&self->lock);
  live = self->live;
  g_mutex_unlock (&self->lock);
  return live;
}

void
vigil_live_feed_get_caps (VigilLiveFeed *self, GstCaps **out_video_caps, GstCaps **out_audio_caps)
{
  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));
  g_mutex_lock (&self->lock);
  if (out_video_caps != NULL)
    *out_video_caps = self->video_caps != NULL ? gst_caps_ref (self->video_caps) : NULL;
  /* A live media waits for a first packet of each of its streams before
   * it answers a DESCRIBE: audio that has gone quiet would hold it up. */
  if (out_audio_caps != NULL)
    *out_audio_caps = self->audio_caps != NULL && g_get_monotonic_time () - self->last_audio_us < AUDIO_QUIET_US
                        ? gst_caps_ref (self->audio_caps) : NULL;
  g_mutex_unlock (&self->lock);
}

gpointer
vigil_live_feed_attach (VigilLiveFeed *self, GstAppSrc *video, GstAppSrc *audio, gboolean with_gop)
{
  Consumer *consumer;

  g_return_val_if_fail (VIGIL_IS_LIVE_FEED (self), NULL);
  g_return_val_if_fail (GST_IS_APP_SRC (video), NULL);

  consumer = g_new0 (Consumer, 1);
  consumer->video = gst_object_ref (video);
  consumer->audio = audio != NULL ? gst_object_ref (audio) : NULL;
  g_mutex_lock (&self->lock);
  update_caps (consumer->video, &consumer->video_caps, self->video_caps);
  update_caps (consumer->audio, &consumer->audio_caps, self->audio_caps);
  g_ptr_array_add (self->consumers, consumer);
  if (with_gop && self->live && self->gop_valid)
    for (guint i = 0; i < self->gop_len; i++)
      consumer_push_video (self, consumer, self->gop[i], self->gop_rt[i]);
  GST_DEBUG ("%s: media attached, %u frames from the kept GOP", self->name,
             with_gop && self->gop_valid ? self->gop_len : 0);
  g_mutex_unlock (&self->lock);
  return consumer;
}

void
vigil_live_feed_detach (VigilLiveFeed *self, gpointer handle)
{
  g_return_if_fail (VIGIL_IS_LIVE_FEED (self));
  g_mutex_lock (&self->lock);
  g_ptr_array_remove (self->consumers, handle);
  g_mutex_unlock (&self->lock);
}
