/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilHealthPool: a few decoders shared by every camera's frame health.
 * A camera's health branch used to own a whole decoder pipeline (and its
 * threads and frame buffers, about 20 MiB at 1080p) to decode one keyframe
 * a second; here a worker thread decodes any camera's keyframe with the one
 * decoder it keeps per codec, so memory follows the cores, not the cameras.
 * It must never make a recording wait (submitting only queues, under a lock
 * held for a few pointer moves) and never judge two keyframes of one camera
 * at once.
 *
 * Driving a decoder directly. Each decoder element sits between two pads of
 * ours, outside any pipeline, so a job is a plain sequence of calls on the
 * worker's thread (avdec decodes in the thread that pushes): the keyframe's
 * caps when they differ from what that decoder saw last (cameras of other
 * sizes take turns on it), a segment, the buffer, then EOS, which makes the
 * decoder give out the picture now: an H.264 stream with B-frames would
 * otherwise hold it back for reordering until later input came (a DRAIN
 * query does not, in GstVideoDecoder 1.22). A flush then readies the
 * decoder for the next job and clears whatever error the last one left, so
 * a broken keyframe ends its own job only. */
#include "vigil-health-pool.h"

#include <gst/video/video.h>

GST_DEBUG_CATEGORY_STATIC (vigil_health_pool_debug);
#define GST_CAT_DEFAULT vigil_health_pool_debug

#define MAX_WORKERS 4
/* Keyframes waiting, per worker. A 1080p keyframe decodes in a few tens of
 * ms, so a full queue is seconds of work: past that a keyframe is stale by
 * the time its turn comes, and skipping it bounds the memory held. */
#define PENDING_PER_WORKER 8

typedef enum { CODEC_H264, CODEC_H265, N_CODECS } Codec;
static const gchar *const decoder_names[N_CODECS] = { "avdec_h264", "avdec_h265" };

typedef struct {                  /* one camera's keyframe waiting or being judged */
  VigilFrameHealth *health;       /* the camera: at most one job each in the queue */
  gchar            *camera;
  GstSample        *sample;
  gint64            wall_us;
  GstBus           *bus;
} Job;

typedef struct {                  /* a decoder element between two pads of ours */
  GstElement *element;
  GstPad     *src, *sink;         /* ours: feeds it, takes its pictures */
  GstBus     *bus;                /* its errors */
  GstCaps    *input_caps;         /* the last pushed */
  /* Set from the decoder's output, on the worker's thread. */
  GstCaps    *output_caps;
  GstBuffer  *output;             /* the last picture of the job */
} Decoder;

typedef struct {
  VigilHealthPool  *pool;
  GThread          *thread;
  Decoder          *decoders[N_CODECS];   /* worker's thread only; NULL until needed */
  VigilFrameHealth *judging;              /* protected by the pool's lock */
} Worker;

struct _VigilHealthPool
{
  GObject  parent_instance;

  Worker  *workers;
  guint    n_workers;
  guint    max_pending;
  guint    n_decoders;      /* atomic */

  GMutex   lock;
  GCond    cond;
  /* Protected by lock. */
  GQueue   pending;         /* Job, oldest first */
  gboolean stopping;
  guint64  n_skipped, n_judged, n_failed;
};

G_DEFINE_FINAL_TYPE (VigilHealthPool, vigil_health_pool, G_TYPE_OBJECT)

static void
job_free (Job *job)
{
  g_object_unref (job->health);
  g_free (job->camera);
  gst_sample_unref (job->sample);
  gst_object_unref (job->bus);
  g_free (job);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Job, job_free)

/* ---- a decoder driven by hand ------------------------------------------ */

/* Runs on the worker's thread, inside its push or EOS. */
static GstFlowReturn
on_decoder_output (GstPad *pad, GstObject *parent, GstBuffer *buffer)
{
  Decoder *decoder = gst_pad_get_element_private (pad);

  gst_clear_buffer (&decoder->output);
  decoder->output = buffer;
  return GST_FLOW_OK;
}

static gboolean
on_decoder_event (GstPad *pad, GstObject *parent, GstEvent *event)
{
  Decoder *decoder = gst_pad_get_element_private (pad);

  if (GST_EVENT_TYPE (event) == GST_EVENT_CAPS)
    {
      GstCaps *caps;

      gst_event_parse_caps (event, &caps);
      gst_caps_replace (&decoder->output_caps, caps);
    }
  gst_event_unref (event);
  return TRUE;
}

/* Takes any raw video: the luma is found, or converted, per picture. */
static gboolean
on_decoder_query (GstPad *pad, GstObject *parent, GstQuery *query)
{
  switch (GST_QUERY_TYPE (query))
    {
    case GST_QUERY_CAPS:
      {
        g_autoptr(GstCaps) caps = gst_caps_new_empty_simple ("video/x-raw");
        GstCaps *filter;

        gst_query_parse_caps (query, &filter);
        if (filter != NULL)
          {
            GstCaps *both = gst_caps_intersect (filter, caps);

            gst_caps_take (&caps, both);
          }
        gst_query_set_caps_result (query, caps);
        return TRUE;
      }
    case GST_QUERY_ACCEPT_CAPS:
      gst_query_set_accept_caps_result (query, TRUE);
      return TRUE;
    default:
      return FALSE;
    }
}

static void
decoder_free (Decoder *decoder)
{
  if (decoder == NULL)
    return;
  /* Messages on the bus hold the element, which holds the bus: drop them
   * and any posted while it stops, or neither is ever freed. */
  gst_bus_set_flushing (decoder->bus, TRUE);
  if (decoder->element == NULL)
    {
      gst_object_unref (decoder->src);
      gst_object_unref (decoder->sink);
      gst_object_unref (decoder->bus);
      g_free (decoder);
      return;
    }
  gst_element_set_state (decoder->element, GST_STATE_NULL);
  gst_element_set_bus (decoder->element, NULL);
  gst_pad_set_active (decoder->src, FALSE);
  gst_pad_set_active (decoder->sink, FALSE);
  gst_object_unref (decoder->element);
  gst_object_unref (decoder->src);
  gst_object_unref (decoder->sink);
  gst_object_unref (decoder->bus);
  gst_clear_caps (&decoder->input_caps);
  gst_clear_caps (&decoder->output_caps);
  gst_clear_buffer (&decoder->output);
  g_free (decoder);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Decoder, decoder_free)

/* Runs on a worker's thread. NULL with @error set when the decoder is not
 * installed or will not start. */
static Decoder *
decoder_new (Codec codec, GError **error)
{
  g_autoptr(Decoder) decoder = g_new0 (Decoder, 1);
  g_autoptr(GstPad) decoder_sink = NULL;
  g_autoptr(GstPad) decoder_src = NULL;

  decoder->element = gst_element_factory_make (decoder_names[codec], NULL);
  decoder->src = gst_pad_new ("src", GST_PAD_SRC);
  decoder->sink = gst_pad_new ("sink", GST_PAD_SINK);
  decoder->bus = gst_bus_new ();
  if (decoder->element == NULL)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_MISSING_PLUGIN, "GStreamer element %s is not installed",
                   decoder_names[codec]);
      return NULL;
    }
  gst_object_ref_sink (decoder->element);
  /* It sees keyframes only, each decoding on its own, one at a time:
   * frame threads would only add memory. */
  if (g_object_class_find_property (G_OBJECT_GET_CLASS (decoder->element), "max-threads") != NULL)
    g_object_set (decoder->element, "max-threads", 1, NULL);
  gst_element_set_bus (decoder->element, decoder->bus);
  gst_pad_set_element_private (decoder->sink, decoder);
  gst_pad_set_chain_function (decoder->sink, on_decoder_output);
  gst_pad_set_event_function (decoder->sink, on_decoder_event);
  gst_pad_set_query_function (decoder->sink, on_decoder_query);
  decoder_sink = gst_element_get_static_pad (decoder->element, "sink");
  decoder_src = gst_element_get_static_pad (decoder->element, "src");
  if (decoder_sink == NULL || decoder_src == NULL || gst_pad_link (decoder->src, decoder_sink) != GST_PAD_LINK_OK
      || gst_pad_link (decoder_src, decoder->sink) != GST_PAD_LINK_OK)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_NEGOTIATION, "cannot link %s", decoder_names[codec]);
      return NULL;
    }
  gst_pad_set_active (decoder->src, TRUE);
  gst_pad_set_active (decoder->sink, TRUE);
  if (gst_element_set_state (decoder->element, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      g_set_error (error, GST_CORE_ERROR, GST_CORE_ERROR_STATE_CHANGE, "cannot start %s", decoder_names[codec]);
      return NULL;
    }
  gst_pad_push_event (decoder->src, gst_event_new_stream_start ("vigil-health-pool"));
  return g_steal_pointer (&decoder);
}

/* Runs on a worker's thread: decodes @keyframe into decoder->output, or
 * sets @error. The decoder is ready for the next job either way. */
static gboolean
decoder_decode (Decoder *decoder, GstSample *keyframe, GError **error)
{
  GstCaps *caps = gst_sample_get_caps (keyframe);
  GstBuffer *buffer = gst_buffer_copy (gst_sample_get_buffer (keyframe));   /* shares the data */
  g_autoptr(GstMessage) message = NULL;
  GstSegment segment;
  GstFlowReturn flow;

  gst_clear_buffer (&decoder->output);
  if (decoder->input_caps == NULL || !gst_caps_is_equal (caps, decoder->input_caps))
    {
      gst_caps_replace (&decoder->input_caps, caps);
      gst_pad_push_event (decoder->src, gst_event_new_caps (caps));
    }
  gst_segment_init (&segment, GST_FORMAT_TIME);
  gst_pad_push_event (decoder->src, gst_event_new_segment (&segment));
  GST_BUFFER_PTS (buffer) = GST_BUFFER_DTS (buffer) = 0;
  GST_BUFFER_DURATION (buffer) = GST_CLOCK_TIME_NONE;
  GST_BUFFER_FLAG_UNSET (buffer, GST_BUFFER_FLAG_DELTA_UNIT);
  flow = gst_pad_push (decoder->src, buffer);   /* takes buffer */
  /* Out with the picture now, whatever the stream's reordering delay. */
  gst_pad_push_event (decoder->src, gst_event_new_eos ());
  gst_pad_push_event (decoder->src, gst_event_new_flush_start ());
  gst_pad_push_event (decoder->src, gst_event_new_flush_stop (TRUE));

  message = gst_bus_pop_filtered (decoder->bus, GST_MESSAGE_ERROR);
  gst_bus_set_flushing (decoder->bus, TRUE);   /* drops the rest */
  gst_bus_set_flushing (decoder->bus, FALSE);
  if (message != NULL)
    {
      g_autofree gchar *debug = NULL;

      gst_message_parse_error (message, error, &debug);
      GST_DEBUG ("%s: %s", (*error)->message, GST_STR_NULL (debug));
      gst_clear_buffer (&decoder->output);
      /* Caps the decoder refused stay refused: push them again next time. */
      gst_clear_caps (&decoder->input_caps);
      return FALSE;
    }
  if (decoder->output == NULL || decoder->output_caps == NULL)
    {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_DECODE, "the decoder gave no picture (%s)",
                   gst_flow_get_name (flow));
      gst_clear_caps (&decoder->input_caps);
      return FALSE;
    }
  return TRUE;
}

/* ---- judging ------------------------------------------------------------ */

/* Whether component 0 of @finfo is an 8-bit luma plane of its own. */
static gboolean
has_luma_plane (const GstVideoFormatInfo *finfo)
{
  return (GST_VIDEO_FORMAT_INFO_IS_YUV (finfo) || GST_VIDEO_FORMAT_INFO_IS_GRAY (finfo))
         && !GST_VIDEO_FORMAT_INFO_IS_TILED (finfo) && !GST_VIDEO_FORMAT_INFO_HAS_PALETTE (finfo)
         && GST_VIDEO_FORMAT_INFO_BITS (finfo) == 8 && GST_VIDEO_FORMAT_INFO_DEPTH (finfo, 0) == 8
         && GST_VIDEO_FORMAT_INFO_PSTRIDE (finfo, 0) == 1 && GST_VIDEO_FORMAT_INFO_SHIFT (finfo, 0) == 0;
}

/* Judges the decoded picture: its own Y plane as it is, any other format
 * converted to GRAY8 first (10-bit video, say). */
static gboolean
judge_picture (Job *job, GstCaps *caps, GstBuffer *picture, VigilFrameSample *sample, GError **error)
{
  GstVideoInfo info;
  GstVideoFrame frame;

  if (!gst_video_info_from_caps (&info, caps) || GST_VIDEO_INFO_WIDTH (&info) < 16
      || GST_VIDEO_INFO_HEIGHT (&info) < 16)
    {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, "unusable picture format");
      return FALSE;
    }
  if (!gst_video_frame_map (&frame, &info, picture, GST_MAP_READ))
    {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FAILED, "cannot map the picture");
      return FALSE;
    }
  if (has_luma_plane (info.finfo))
    vigil_frame_health_analyze (job->health, GST_VIDEO_FRAME_COMP_DATA (&frame, 0),
                                GST_VIDEO_FRAME_COMP_WIDTH (&frame, 0), GST_VIDEO_FRAME_COMP_HEIGHT (&frame, 0),
                                GST_VIDEO_FRAME_COMP_STRIDE (&frame, 0), job->wall_us, sample);
  else
    {
      GstVideoInfo gray_info;
      GstVideoConverter *converter;
      g_autoptr(GstBuffer) gray = NULL;
      GstVideoFrame gray_frame;

      gst_video_info_set_format (&gray_info, GST_VIDEO_FORMAT_GRAY8, GST_VIDEO_INFO_WIDTH (&info),
                                 GST_VIDEO_INFO_HEIGHT (&info));
      converter = gst_video_converter_new (&info, &gray_info, NULL);
      gray = gst_buffer_new_allocate (NULL, GST_VIDEO_INFO_SIZE (&gray_info), NULL);
      if (converter == NULL || !gst_video_frame_map (&gray_frame, &gray_info, gray, GST_MAP_WRITE))
        {
          g_clear_pointer (&converter, gst_video_converter_free);
          gst_video_frame_unmap (&frame);
          g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_FORMAT, "cannot convert %s to GRAY8",
                       GST_VIDEO_INFO_NAME (&info));
          return FALSE;
        }
      gst_video_converter_frame (converter, &frame, &gray_frame);
      gst_video_converter_free (converter);
      vigil_frame_health_analyze (job->health, GST_VIDEO_FRAME_PLANE_DATA (&gray_frame, 0),
                                  GST_VIDEO_FRAME_WIDTH (&gray_frame), GST_VIDEO_FRAME_HEIGHT (&gray_frame),
                                  GST_VIDEO_FRAME_PLANE_STRIDE (&gray_frame, 0), job->wall_us, sample);
      gst_video_frame_unmap (&gray_frame);
    }
  gst_video_frame_unmap (&frame);
  return TRUE;
}

/* Runs on @worker's thread, without the pool's lock: decodes and judges,
 * filling @sample. */
static gboolean
run_job (Worker *worker, Job *job, VigilFrameSample *sample, GError **error)
{
  const GstStructure *s = gst_sample_get_caps (job->sample) != NULL
                            ? gst_caps_get_structure (gst_sample_get_caps (job->sample), 0) : NULL;
  Codec codec;
  Decoder *decoder;

  if (s != NULL && gst_structure_has_name (s, "video/x-h264"))
    codec = CODEC_H264;
  else if (s != NULL && gst_structure_has_name (s, "video/x-h265"))
    codec = CODEC_H265;
  else
    {
      g_set_error (error, GST_STREAM_ERROR, GST_STREAM_ERROR_CODEC_NOT_FOUND, "cannot judge %s",
                   s != NULL ? gst_structure_get_name (s) : "a keyframe without caps");
      return FALSE;
    }
  if (worker->decoders[codec] == NULL)
    {
      worker->decoders[codec] = decoder_new (codec, error);
      if (worker->decoders[codec] == NULL)
        return FALSE;
      g_atomic_int_inc (&worker->pool->n_decoders);
      GST_INFO ("worker %p made its %s", worker, decoder_names[codec]);
    }
  decoder = worker->decoders[codec];
  if (!decoder_decode (decoder, job->sample, error)
      || !judge_picture (job, decoder->output_caps, decoder->output, sample, error))
    {
      gst_clear_buffer (&decoder->output);
      return FALSE;
    }
  /* Back to the decoder's pool now, not at the next job. */
  gst_clear_buffer (&decoder->output);
  GST_LOG ("camera %s: luma %.1f verdicts 0x%x", job->camera, sample->mean_luma, sample->verdicts);
  return TRUE;
}

/* Called with the pool's lock held: the oldest job whose camera no other
 * worker is judging, taken off the queue. */
static Job *
take_job (VigilHealthPool *self)
{
  for (GList *l = self->pending.head; l != NULL; l = l->next)
    {
      Job *job = l->data;
      gboolean busy = FALSE;

      for (guint i = 0; i < self->n_workers && !busy; i++)
        busy = self->workers[i].judging == job->health;
      if (!busy)
        {
          g_queue_delete_link (&self->pending, l);
          return job;
        }
    }
  return NULL;
}

static gpointer
worker_main (gpointer data)
{
  Worker *worker = data;
  VigilHealthPool *self = worker->pool;

  g_mutex_lock (&self->lock);
  while (!self->stopping)
    {
      g_autoptr(Job) job = take_job (self);
      g_autoptr(GError) error = NULL;
      VigilFrameSample sample;
      GstStructure *result;
      gboolean judged;

      if (job == NULL)
        {
          g_cond_wait (&self->cond, &self->lock);
          continue;
        }
      worker->judging = job->health;
      g_mutex_unlock (&self->lock);

      judged = run_job (worker, job, &sample, &error);
      if (judged)
        result = gst_structure_new ("vigil-frame-health", "sample", VIGIL_TYPE_FRAME_SAMPLE, &sample, NULL);
      else
        {
          GST_DEBUG ("camera %s: %s", job->camera, error->message);
          result = gst_structure_new ("vigil-frame-health-error", "reason", G_TYPE_STRING, error->message, NULL);
        }
      /* Counted before anyone hears of it. */
      g_mutex_lock (&self->lock);
      if (judged)
        self->n_judged++;
      else
        self->n_failed++;
      g_mutex_unlock (&self->lock);
      gst_bus_post (job->bus, gst_message_new_application (NULL, result));

      g_mutex_lock (&self->lock);
      /* Posted: the camera may have its next keyframe judged. */
      worker->judging = NULL;
      /* Another worker may be waiting for this camera to be free. */
      g_cond_broadcast (&self->cond);
    }
  g_mutex_unlock (&self->lock);
  return NULL;
}

/* ---- public ------------------------------------------------------------- */

gboolean
vigil_health_pool_submit (VigilHealthPool *self, VigilFrameHealth *health, const gchar *camera,
                          GstSample *keyframe, gint64 wall_us, GstBus *bus)
{
  Job *job = NULL;
  gboolean queued = TRUE;

  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), FALSE);
  g_return_val_if_fail (VIGIL_IS_FRAME_HEALTH (health) && keyframe != NULL && GST_IS_BUS (bus), FALSE);

  g_mutex_lock (&self->lock);
  for (GList *l = self->pending.head; l != NULL && job == NULL; l = l->next)
    if (((Job *) l->data)->health == health)
      job = l->data;
  if (self->stopping || (job == NULL && self->pending.length >= self->max_pending))
    {
      self->n_skipped++;
      queued = FALSE;
    }
  else if (job != NULL)
    {
      /* The newer keyframe takes the older one's place in the queue. */
      gst_sample_unref (job->sample);
      job->sample = gst_sample_ref (keyframe);
      job->wall_us = wall_us;
      gst_object_replace ((GstObject **) &job->bus, GST_OBJECT (bus));
      self->n_skipped++;
    }
  else
    {
      job = g_new0 (Job, 1);
      job->health = g_object_ref (health);
      job->camera = g_strdup (camera);
      job->sample = gst_sample_ref (keyframe);
      job->wall_us = wall_us;
      job->bus = gst_object_ref (bus);
      g_queue_push_tail (&self->pending, job);
      g_cond_signal (&self->cond);
    }
  g_mutex_unlock (&self->lock);
  return queued;
}

guint
vigil_health_pool_get_n_workers (VigilHealthPool *self)
{
  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), 0);
  return self->n_workers;
}

guint
vigil_health_pool_get_n_decoders (VigilHealthPool *self)
{
  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), 0);
  return (guint) g_atomic_int_get (&self->n_decoders);
}

static guint64
get_count (VigilHealthPool *self, const guint64 *count)
{
  guint64 value;

  g_mutex_lock (&self->lock);
  value = *count;
  g_mutex_unlock (&self->lock);
  return value;
}

guint64
vigil_health_pool_get_n_skipped (VigilHealthPool *self)
{
  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), 0);
  return get_count (self, &self->n_skipped);
}

guint64
vigil_health_pool_get_n_judged (VigilHealthPool *self)
{
  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), 0);
  return get_count (self, &self->n_judged);
}

guint64
vigil_health_pool_get_n_failed (VigilHealthPool *self)
{
  g_return_val_if_fail (VIGIL_IS_HEALTH_POOL (self), 0);
  return get_count (self, &self->n_failed);
}

static void
vigil_health_pool_dispose (GObject *object)
{
  VigilHealthPool *self = VIGIL_HEALTH_POOL (object);

  g_mutex_lock (&self->lock);
  self->stopping = TRUE;
  g_cond_broadcast (&self->cond);
  g_mutex_unlock (&self->lock);
  for (guint i = 0; i < self->n_workers; i++)
    {
      Worker *worker = &self->workers[i];

      g_clear_pointer (&worker->thread, g_thread_join);
      for (guint c = 0; c < N_CODECS; c++)
        g_clear_pointer (&worker->decoders[c], decoder_free);
    }
  g_queue_clear_full (&self->pending, (GDestroyNotify) job_free);
  G_OBJECT_CLASS (vigil_health_pool_parent_class)->dispose (object);
}

static void
vigil_health_pool_finalize (GObject *object)
{
  VigilHealthPool *self = VIGIL_HEALTH_POOL (object);

  g_free (self->workers);
  g_mutex_clear (&self->lock);
  g_cond_clear (&self->cond);
  G_OBJECT_CLASS (vigil_health_pool_parent_class)->finalize (object);
}

static void
vigil_health_pool_class_init (VigilHealthPoolClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->dispose = vigil_health_pool_dispose;
  object_class->finalize = vigil_health_pool_finalize;
  GST_DEBUG_CATEGORY_INIT (vigil_health_pool_debug, "vigil-health-pool", 0, "vigil shared frame-health decoders");
}

static void
vigil_health_pool_init (VigilHealthPool *self)
{
  g_mutex_init (&self->lock);
  g_cond_init (&self->cond);
  g_queue_init (&self->pending);
}

VigilHealthPool *
vigil_health_pool_new (guint n_workers)
{
  VigilHealthPool *self = g_object_new (VIGIL_TYPE_HEALTH_POOL, NULL);

  /* Half the cores: the other half records and serves. */
  if (n_workers == 0)
    n_workers = CLAMP (g_get_num_processors () / 2, 1, MAX_WORKERS);
  self->n_workers = n_workers;
  self->max_pending = PENDING_PER_WORKER * n_workers;
  self->workers = g_new0 (Worker, n_workers);
  for (guint i = 0; i < n_workers; i++)
    {
      self->workers[i].pool = self;
      self->workers[i].thread = g_thread_new ("vigil-health", worker_main, &self->workers[i]);
    }
  return self;
}

VigilHealthPool *
vigil_health_pool_get_default (void)
{
  static gsize once;
  static VigilHealthPool *pool;

  if (g_once_init_enter (&once))
    {
      pool = vigil_health_pool_new (0);
      g_once_init_leave (&once, 1);
    }
  return pool;
}
