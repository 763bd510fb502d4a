/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilSimcam serves N looping H.264 or H.265 streams over RTSP for tests
 * and benchmarks, as cheaply as a real camera's network stack would: the clip
 * (and the audio clip, if any) is encoded once into RAM, and one timer on the
 * server thread hands the next access unit and the audio frames that go with
 * it (refs, not copies of the data) to every mount's appsrcs. It must never
 * decode, parse or encode per stream or per client, and never send a receiver
 * anything but a contiguous chain of frames that starts at a keyframe:
 * whenever it skips frames (stall, backlog, resolution switch) it resumes at
 * an IDR, so decoder errors at the receiver are always the receiver's bug.
 *
 * Threads: the caller's thread (API, clip encoding); the server thread, which
 * runs the frame timer, every fault and every RTSP client; and
 * gst-rtsp-server's media threads, which may emit "unprepared". Clients are
 * served on the server thread rather than on gst-rtsp-server's client thread
 * because gst_rtsp_client_close() from another thread races the client's own
 * handling of a peer that hangs up at the same moment (it aborts in
 * get_data_seq()). The price: DESCRIBE blocks the thread while the media
 * prerolls, which stays short because the first frame is queued before the
 * preroll starts (see on_factory_media_configure()). */

#include "vigil-simcam.h"

#include <math.h>
#include <string.h>

#include <gst/app/gstappsink.h>
#include <gst/app/gstappsrc.h>
#include <gst/gst.h>
#include <gst/rtsp-server/rtsp-server.h>
#include <gst/rtsp/gstrtspmessage.h>

GST_DEBUG_CATEGORY_STATIC (vigil_simcam_debug);
#define GST_CAT_DEFAULT vigil_simcam_debug

G_DEFINE_QUARK (vigil-simcam-error-quark, vigil_simcam_error)
/* Marks a GstRTSPMedia with the Mount it serves. */
G_DEFINE_QUARK (vigil-simcam-mount, simcam_mount)

/* Bump the number whenever the encoder settings change, so that old cache
 * files are encoded afresh. */
#define CLIP_CACHE_MAGIC "VIGIL-SIMCAM-CLIP 4\n"

/* Frames an appsrc may hold unsent before the timer stops feeding it. A
 * prepared media that no client has PLAYed yet blocks its stream, and a
 * starved streaming thread falls behind; in both cases queueing more would
 * only deliver stale video later, so the feed pauses and restarts at a
 * keyframe. appsrc's own leaky mode is not used: dropping queued frames would
 * break the reference chain mid-GOP. */
#define MAX_BACKLOG_FRAMES 8

/* The timer catches up at most this many missed ticks in one go; a longer
 * hiccup becomes a gap, like a camera dropping frames. */
#define MAX_CATCH_UP_TICKS 3

/* Buffer timestamps follow n * frame duration, and are re-based on the
 * pipeline's running time when they drift further than this from it. */
#define MAX_PTS_DRIFT (200 * GST_MSECOND)

/* How long finalize waits for gst-rtsp-server to unprepare the media. */
#define SHUTDOWN_TIMEOUT_US (5 * G_USEC_PER_SEC)

/* One encoded clip, video or audio; immutable once built, shared by
 * reference count. */
typedef struct {
  guint        width, height;  /* video only */
  GstClockTime frame_ns;       /* audio only: the duration of every frame */
  GstCaps     *caps;      /* video/x-h264 or x-h265, byte-stream, au, with size and
                           * framerate; or the audio encoder's caps */
  GPtrArray   *frames;    /* GstBuffer *: for video one access unit each, frame 0 an IDR
                           * with its parameter sets; for audio one codec frame each,
                           * all keyframes */
  guint       *next_key;  /* next_key[i]: index of the first keyframe at or after i, wrapping */
} Clip;

static void
clip_clear (Clip *clip)
{
  gst_clear_caps (&clip->caps);
  g_clear_pointer (&clip->frames, g_ptr_array_unref);
  g_clear_pointer (&clip->next_key, g_free);
}

static Clip *
clip_ref (Clip *clip)
{
  return g_atomic_rc_box_acquire (clip);
}

static void
clip_unref (Clip *clip)
{
  g_atomic_rc_box_release_full (clip, (GDestroyNotify) clip_clear);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Clip, clip_unref)

static Clip *
clip_new (void)
{
  Clip *clip = g_atomic_rc_box_new0 (Clip);

  clip->frames = g_ptr_array_new_with_free_func ((GDestroyNotify) gst_buffer_unref);
  return clip;
}

static gboolean
clip_frame_is_key (const Clip *clip, guint index)
{
  GstBuffer *frame = g_ptr_array_index (clip->frames, index);

  return !GST_BUFFER_FLAG_IS_SET (frame, GST_BUFFER_FLAG_DELTA_UNIT);
}

/* Checks what the feeds rely on and builds next_key[]. */
static gboolean
clip_finish (Clip *clip, GError **error)
{
  guint n = clip->frames->len;
  guint next = 0;

  if (n == 0 || !clip_frame_is_key (clip, 0))
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "clip %ux%u has %u frames and does not start with a keyframe",
                   clip->width, clip->height, n);  /* 0x0: the audio clip */
      return FALSE;
    }

  clip->next_key = g_new (guint, n);
  for (guint i = n; i-- > 0;)
    {
      if (clip_frame_is_key (clip, i))
        next = i;
      clip->next_key[i] = next;
    }
  return TRUE;
}

/* The options with defaults filled in. */
typedef struct {
  guint  n_streams;
  guint  width, height;
  guint  fps;
  guint  bitrate_kbps;
  guint  gop_frames;
  guint  clip_seconds;
  guint  port;
  gchar *clip_cache;
  gchar *clip_file;
  gchar *user;              /* NULL unless auth is on */
  gchar *password;          /* NULL unless auth is on */
  VigilSimcamAuth auth;
  VigilSimcamCodec codec;
  VigilSimcamAudio audio;
  VigilSimcamPicture picture;
  gint   clock_offset_seconds;
  gboolean ptz;
} Settings;

typedef struct _Mount Mount;

/* The PTZ scene (see the header for what it shows): planar I420 at twice the
 * output's width and height; immutable once built, shared by every PTZ
 * mount. */
typedef struct {
  guint   width, height;  /* luma; even */
  guint8 *y;              /* width x height */
  guint8 *u, *v;          /* width / 2 x height / 2 */
} Scene;

/* A PTZ mount's live encoder and head. */
typedef struct {
  GstElement    *pipeline;      /* appsrc "src" ! [timeoverlay !] encoder ! appsink "sink" */
  GstElement    *appsrc;        /* owned */
  GstElement    *appsink;       /* owned */
  GstBufferPool *pool;          /* raw frames; the only per-frame memory */
  GstCaps       *caps;          /* of the encoded stream, from its first access unit */
  gdouble        pan, tilt, zoom;  /* self->lock; clamped */
  GstBuffer     *last_key;      /* self->lock; the latest IDR access unit, for new media */
  gboolean       key_requested; /* server thread; a forced IDR is on its way */
  gboolean       has_failed;    /* server thread; the encoder posted an error */
  guint         *columns;       /* server thread; scene column of each output column */
  guint         *chroma_columns;
  guint32        noise_state;   /* server thread; xorshift state of the sensor noise */
} Ptz;

/* One media (pipeline) of a mount and where it is in the clip. Shared
 * factories make this one per mount at a time, but an old media may still be
 * unpreparing while a new one starts. Once in mount->feeds, a Feed is only
 * touched with self->lock held. */
typedef struct {
  Mount        *mount;
  GstRTSPMedia *media;          /* owned */
  GstElement   *appsrc;         /* owned */
  gulong        unprepared_id;
  Clip         *clip;           /* owned; the clip being sent; NULL on PTZ mounts */
  guint         next_frame;     /* index into clip->frames */
  gboolean      need_keyframe;  /* the chain was broken: the next push jumps to an IDR */
  gboolean      was_played;     /* a client has sent PLAY for this media */
  GstClockTime  next_pts;       /* running time of the next frame; NONE to re-base */
  GstElement   *audio_appsrc;   /* owned; NULL without audio */
  guint         next_audio;     /* index into self->audio_clip->frames */
  GstClockTime  next_audio_pts; /* running time of the next audio frame; NONE to re-base */
} Feed;

struct _Mount {
  VigilSimcam         *self;      /* not owned */
  guint                index;
  gchar               *path;      /* "/camK" */
  GstRTSPMediaFactory *factory;   /* owned; also held by the mount points unless dropped */
  gulong               configure_id;
  Ptz                 *ptz;       /* owned; NULL unless a PTZ mount, which has no clip */
  VigilSimcamFault     fault;     /* self->lock */
  VigilSimcamPicture   picture;   /* self->lock; what clip shows */
  Clip                *clip;      /* self->lock; owned; what feeds switch to at their next
                                   * keyframe; NULL for PTZ mounts */
  GPtrArray           *feeds;     /* self->lock; Feed * */
  guint                describe_status;  /* self->lock; DESCRIBE's answer, before auth; 0: serve */
};

struct _VigilSimcam {
  GObject parent_instance;

  Settings      settings;
  guint         port;          /* bound port, kept across offline/online */
  GstClockTime  frame_ns;      /* one frame at settings.fps */
  GPtrArray    *mounts;        /* Mount *; fixed after vigil_simcam_new() */
  Clip         *audio_clip;    /* fixed after vigil_simcam_new(); NULL without audio */
  Scene        *scene;         /* fixed after vigil_simcam_new(); NULL without PTZ */

  GMutex        lock;          /* guards what the fields and Mount say, and Feed lists */
  GHashTable   *clips;         /* lock; "WxH/picture" -> Clip * */
  gboolean      is_offline;    /* lock */
  gboolean      is_stopping;   /* lock; finalize started: push nothing more */
  guint         n_auth_failures;  /* lock; 401 answers sent */
  guint         n_logins_refused; /* lock; of those, answers to requests that carried credentials */

  /* Owned by the server thread once it runs. */
  GMainContext       *context;
  GMainLoop          *loop;
  GThread            *thread;
  GstRTSPServer      *server;
  GstRTSPMountPoints *mount_points;
  GstRTSPSessionPool *session_pool;
  gulong              client_connected_id;
  GSource            *listen_source;   /* NULL while offline */
  GSource            *tick_source;
  GSource            *cleanup_source;  /* expires idle sessions */
  gint64              tick_start_us;   /* monotonic */
  guint64             ticks;           /* frame ticks done since tick_start_us */
  gint64              shutdown_deadline_us;
};

G_DEFINE_FINAL_TYPE (VigilSimcam, vigil_simcam, G_TYPE_OBJECT)

/* --- running code on the server thread --- */

typedef struct {
  GSourceFunc func;
  gpointer    data;
  GMutex      mutex;
  GCond       cond;
  gboolean    done;
} Invocation;

static gboolean
on_invocation (gpointer user_data)
{
  Invocation *inv = user_data;

  inv->func (inv->data);
  g_mutex_lock (&inv->mutex);
  inv->done = TRUE;
  g_cond_signal (&inv->cond);
  g_mutex_unlock (&inv->mutex);
  return G_SOURCE_REMOVE;
}

/* Runs @func on the server thread and waits for it, so that control
 * operations never race the RTSP clients they act on. */
static void
run_on_server_thread (VigilSimcam *self, GSourceFunc func, gpointer data)
{
  Invocation inv = { func, data };

  if (self->thread == NULL || g_main_context_is_owner (self->context))
    {
      func (data);
      return;
    }

  g_mutex_init (&inv.mutex);
  g_cond_init (&inv.cond);
  g_main_context_invoke (self->context, on_invocation, &inv);
  g_mutex_lock (&inv.mutex);
  while (!inv.done)
    g_cond_wait (&inv.cond, &inv.mutex);
  g_mutex_unlock (&inv.mutex);
  g_mutex_clear (&inv.mutex);
  g_cond_clear (&inv.cond);
}

/* --- clips --- */

static gboolean
have_element (const gchar *name)
{
  g_autoptr(GstElementFactory) factory = gst_element_factory_find (name);

  return factory != NULL;
}

static const gchar *
codec_name (VigilSimcamCodec codec)
{
  return codec == VIGIL_SIMCAM_CODEC_H265 ? "h265" : "h264";
}

/* Fails with VIGIL_SIMCAM_ERROR_MISSING unless every element in the
 * NULL-terminated @names is installed. */
static gboolean
check_elements (const gchar *const *names, GError **error)
{
  for (guint i = 0; names[i] != NULL; i++)
    if (!have_element (names[i]))
      {
        g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_MISSING,
                     "GStreamer element %s is not installed", names[i]);
        return FALSE;
      }
  return TRUE;
}

static const gchar *const picture_names[] = {
  [VIGIL_SIMCAM_PICTURE_NORMAL] = "normal",
  [VIGIL_SIMCAM_PICTURE_BLACK] = "black",
  [VIGIL_SIMCAM_PICTURE_WHITE] = "white",
  [VIGIL_SIMCAM_PICTURE_FROZEN] = "frozen",
  [VIGIL_SIMCAM_PICTURE_BLURRED] = "blurred",
  [VIGIL_SIMCAM_PICTURE_COVERED] = "covered",
  [VIGIL_SIMCAM_PICTURE_REAIMED] = "reaimed",
  [VIGIL_SIMCAM_PICTURE_NIGHT] = "night",
  [VIGIL_SIMCAM_PICTURE_STATIC] = "static",
};

const gchar *
vigil_simcam_picture_to_string (VigilSimcamPicture picture)
{
  return (guint) picture < G_N_ELEMENTS (picture_names) ? picture_names[picture] : NULL;
}

gboolean
vigil_simcam_picture_from_string (const gchar *name, VigilSimcamPicture *out_picture)
{
  g_return_val_if_fail (out_picture != NULL, FALSE);
  for (guint i = 0; name != NULL && i < G_N_ELEMENTS (picture_names); i++)
    if (g_str_equal (name, picture_names[i]))
      {
        *out_picture = i;
        return TRUE;
      }
  return FALSE;
}

static gchar *
clip_cache_key (const Settings *s, guint width, guint height, VigilSimcamPicture picture,
                gboolean overlay)
{
  /* "clip 3": STATIC got its sensor noise. */
  return g_strdup_printf ("clip 3 %s %ux%u fps=%u kbps=%u gop=%u seconds=%u overlay=%d picture=%s",
                          codec_name (s->codec), width, height, s->fps, s->bitrate_kbps,
                          s->gop_frames, s->clip_seconds, overlay,
                          vigil_simcam_picture_to_string (picture));
}

/* The cache file of @picture's clip at the main size. */
static gchar *
clip_cache_path (const Settings *s, VigilSimcamPicture picture)
{
  if (picture == VIGIL_SIMCAM_PICTURE_NORMAL)
    return g_strdup (s->clip_cache);
  return g_strdup_printf ("%s.%s", s->clip_cache, vigil_simcam_picture_to_string (picture));
}

/* Whether a NAL unit whose header starts with @header is an access unit
 * delimiter: type 9 in H.264's one-byte header, 35 in H.265's two-byte one. */
static gboolean
is_aud (VigilSimcamCodec codec, guint8 header)
{
  if (codec == VIGIL_SIMCAM_CODEC_H265)
    return ((header >> 1) & 0x3f) == 35;
  return (header & 0x1f) == 9;
}

/* Copies an access unit in byte-stream format without its access unit
 * delimiters. Parsers may add them (h264parse does), but most cameras send
 * none, and over RTP each would cost a packet of its own in front of every
 * fragmented frame. */
static GstBuffer *
copy_without_aud (GstBuffer *encoded, VigilSimcamCodec codec)
{
  g_autoptr(GByteArray) out = g_byte_array_new ();
  GstMapInfo map;
  gsize i = 0, size;

  if (!gst_buffer_map (encoded, &map, GST_MAP_READ))
    return gst_buffer_copy_deep (encoded);

  /* Each NAL unit runs from its 3-byte start code (00 00 01; a 4-byte one is
   * a zero byte plus that) to the next start code. */
  while (i + 3 <= map.size)
    {
      gsize start = i, next;

      if (map.data[i] == 0 && map.data[i + 1] == 0 && map.data[i + 2] == 1)
        i += 3;
      else if (i + 4 <= map.size && map.data[i] == 0 && map.data[i + 1] == 0 &&
               map.data[i + 2] == 0 && map.data[i + 3] == 1)
        i += 4;
      else
        {
          i++;
          continue;
        }
      for (next = i; next + 3 <= map.size; next++)
        if (map.data[next] == 0 && map.data[next + 1] == 0 &&
            (map.data[next + 2] == 1 ||
             (next + 4 <= map.size && map.data[next + 2] == 0 && map.data[next + 3] == 1)))
          break;
      if (next + 3 > map.size)
        next = map.size;
      if (i < next && !is_aud (codec, map.data[i]))
        g_byte_array_append (out, map.data + start, next - start);
      i = next;
    }
  gst_buffer_unmap (encoded, &map);

  size = out->len;
  return gst_buffer_new_wrapped (g_byte_array_free (g_steal_pointer (&out), FALSE), size);
}

/* Copies an encoded audio frame's bytes, without its flags or metas. */
static GstBuffer *
copy_plain (GstBuffer *encoded)
{
  gsize size = gst_buffer_get_size (encoded);
  gpointer data = g_malloc (size);

  gst_buffer_extract (encoded, 0, data, size);
  return gst_buffer_new_wrapped (data, size);
}

/* Runs @description, an encoder ending in "appsink name=sink", to EOS and
 * adds every buffer it makes to @clip (with its caps): for video, access
 * units of @codec without delimiters, keeping the delta flag; for audio,
 * frames as they come. Each frame is one plain, shareable memory, so
 * gst_buffer_copy() later only refs it. @what names the clip in messages.
 * Blocks the calling thread; runs the encoder as fast as it goes. */
static gboolean
run_encoder (const gchar *description, const gchar *what, gboolean is_video,
             VigilSimcamCodec codec, Clip *clip, GError **error)
{
  g_autoptr(GstElement) pipeline = NULL;
  g_autoptr(GstElement) sink = NULL;
  g_autoptr(GstBus) bus = NULL;
  gboolean started;

  pipeline = gst_parse_launch (description, error);
  if (pipeline == NULL)
    {
      g_prefix_error (error, "cannot build the %s encoder: ", what);
      return FALSE;
    }
  gst_object_ref_sink (pipeline);
  sink = gst_bin_get_by_name (GST_BIN (pipeline), "sink");
  bus = gst_element_get_bus (pipeline);

  /* A failed start leaves its reason on the bus, which the loop reports. */
  started = gst_element_set_state (pipeline, GST_STATE_PLAYING) != GST_STATE_CHANGE_FAILURE;

  for (guint idle_polls = 0;; idle_polls++)
    {
      g_autoptr(GstSample) sample = NULL;
      g_autoptr(GstMessage) message = NULL;

      sample = started ? gst_app_sink_try_pull_sample (GST_APP_SINK (sink), 100 * GST_MSECOND)
                       : NULL;
      if (sample != NULL)
        {
          GstBuffer *encoded = gst_sample_get_buffer (sample);
          GstBuffer *frame;

          if (is_video)
            {
              frame = copy_without_aud (encoded, codec);
              if (GST_BUFFER_FLAG_IS_SET (encoded, GST_BUFFER_FLAG_DELTA_UNIT))
                GST_BUFFER_FLAG_SET (frame, GST_BUFFER_FLAG_DELTA_UNIT);
            }
          else
            frame = copy_plain (encoded);
          g_ptr_array_add (clip->frames, frame);
          if (clip->caps == NULL)
            clip->caps = gst_caps_copy (gst_sample_get_caps (sample));
          idle_polls = 0;
          continue;
        }
      if (started && gst_app_sink_is_eos (GST_APP_SINK (sink)))
        break;

      message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
      if (message == NULL && (!started || idle_polls > 600))
        {
          gst_element_set_state (pipeline, GST_STATE_NULL);
          g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                       "the %s encoder %s", what,
                       started ? "stopped producing frames for 60 s" : "did not start");
          return FALSE;
        }
      if (message != NULL)
        {
          g_autoptr(GError) gst_error = NULL;
          g_autofree gchar *debug = NULL;

          gst_message_parse_error (message, &gst_error, &debug);
          gst_element_set_state (pipeline, GST_STATE_NULL);
          g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                       "encoding the %s failed: %s (%s)", what,
                       gst_error->message, debug ? debug : "no details");
          return FALSE;
        }
    }
  gst_element_set_state (pipeline, GST_STATE_NULL);

  if (clip->caps == NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "the %s encoder gave no frames", what);
      return FALSE;
    }
  return TRUE;
}

/* Appends to @branches the sources of the scene and returns its head, a
 * compositor named @name whose output is the scene: a still SMPTE
 * background (panned left by @pan pixels, wrapping, when not 0) with a band
 * of SMPTE bars scrolling by @speed pixels a frame across its bottom
 * quarter; @n_frames from each source. */
static gchar *
scene_description (const gchar *name, const gchar *caps, guint width, guint height, guint fps,
                   guint speed, guint pan, guint n_frames, GString *branches)
{
  guint band_height = MAX ((height / 4) & ~1u, 2);
  const gchar *background = "videotestsrc pattern=smpte";

  g_string_append_printf (branches, " %s num-buffers=%u ! %s ! %s.sink_0", background, n_frames, caps,
                          name);
  if (pan != 0)
    g_string_append_printf (branches, " %s num-buffers=%u ! %s ! %s.sink_2", background, n_frames, caps,
                            name);
  g_string_append_printf (branches,
                          " videotestsrc pattern=smpte horizontal-speed=%u num-buffers=%u "
                          "! video/x-raw,format=I420,width=%u,height=%u,framerate=%u/1,"
                          "pixel-aspect-ratio=1/1 ! %s.sink_1",
                          speed, n_frames, width, band_height, fps, name);
  if (pan != 0)
    /* zorder: the band stays in front of the second background copy. */
    return g_strdup_printf ("compositor name=%s background=black sink_0::xpos=-%u sink_2::xpos=%u "
                            "sink_1::ypos=%u sink_1::zorder=3 ! %s",
                            name, pan, width - pan, height - band_height, caps);
  return g_strdup_printf ("compositor name=%s background=black sink_1::ypos=%u ! %s", name,
                          height - band_height, caps);
}

/* The raw-video part of @picture's encoder pipeline: returns the head of
 * the first chain, which ends (without a final "!") in I420 video with the
 * clock overlay, and appends the other chains, which feed it by element
 * names, to @branches. @overlay is the clock element or NULL for none. */
static gchar *
picture_description (const Settings *s, VigilSimcamPicture picture, guint width, guint height,
                     guint n_frames, const gchar *overlay, GString *branches)
{
  g_autofree gchar *caps = g_strdup_printf ("video/x-raw,format=I420,width=%u,height=%u,"
                                            "framerate=%u/1,pixel-aspect-ratio=1/1",
                                            width, height, s->fps);
  g_autofree gchar *clock = overlay != NULL ? g_strdup_printf (" ! %s", overlay) : g_strdup ("");
  g_autofree gchar *scene = NULL;
  guint speed = MAX (width / 240, 2);
  const gchar *plain = NULL;
  gdouble noise = 0;
  gchar alpha[G_ASCII_DTOSTR_BUF_SIZE];

  switch (picture)
    {
    case VIGIL_SIMCAM_PICTURE_NORMAL:
      scene = scene_description ("scene", caps, width, height, s->fps, speed, 0, n_frames, branches);
      return g_strdup_printf ("%s%s", scene, clock);
    case VIGIL_SIMCAM_PICTURE_STATIC:
      /* Still, but a live sensor's noise changes every frame: without it
       * the picture would be a stuck one behind a running clock. */
      scene = scene_description ("scene", caps, width, height, s->fps, 0, 0, n_frames, branches);
      g_string_append_printf (branches, " %s ! noise.sink_0", scene);
      noise = 0.02;
      break;
    case VIGIL_SIMCAM_PICTURE_REAIMED:
      scene = scene_description ("scene", caps, width, height, s->fps, speed, (width / 3) & ~1u, n_frames,
                                 branches);
      return g_strdup_printf ("%s%s", scene, clock);
    case VIGIL_SIMCAM_PICTURE_FROZEN:
      /* One frame, clock and all, held, as when a camera's image pipeline
       * hangs while its encoder goes on; clip_encode() then repeats one
       * GOP of it. */
      scene = scene_description ("scene", caps, width, height, s->fps, speed, 0, 1, branches);
      return g_strdup_printf ("%s%s ! imagefreeze num-buffers=%u ! %s", scene, clock, n_frames, caps);
    case VIGIL_SIMCAM_PICTURE_BLURRED:
      /* Scaled down with a proper filter and back up: a soft picture at
       * any size, behind an overlay that stays sharp. */
      scene = scene_description ("scene", caps, width, height, s->fps, speed, 0, n_frames, branches);
      return g_strdup_printf ("%s ! videoscale method=bilinear2 ! video/x-raw,width=%u,height=%u "
                              "! videoscale method=bilinear ! %s%s",
                              scene, MAX (width / 16, 2), MAX (height / 16, 2), caps, clock);
    case VIGIL_SIMCAM_PICTURE_NIGHT:
      scene = scene_description ("scene", caps, width, height, s->fps, speed, 0, n_frames, branches);
      g_string_append_printf (branches, " %s ! videobalance brightness=-0.25 contrast=0.45 ! noise.sink_0",
                              scene);
      noise = 0.12;
      break;
    case VIGIL_SIMCAM_PICTURE_BLACK:
      plain = "pattern=black";
      noise = 0.03;
      break;
    case VIGIL_SIMCAM_PICTURE_COVERED:
      plain = "pattern=solid-color foreground-color=0xff505050";
      noise = 0.04;
      break;
    case VIGIL_SIMCAM_PICTURE_WHITE:
      return g_strdup_printf ("videotestsrc pattern=white num-buffers=%u ! %s%s", n_frames, caps, clock);
    default:
      g_return_val_if_reached (NULL);
    }

  /* Noise: television snow blended in at a low alpha. */
  if (plain != NULL)
    g_string_append_printf (branches, " videotestsrc %s num-buffers=%u ! %s ! noise.sink_0", plain, n_frames,
                            caps);
  g_string_append_printf (branches, " videotestsrc pattern=snow num-buffers=%u ! %s ! noise.sink_1", n_frames,
                          caps);
  /* g_ascii_formatd(): a decimal point whatever the locale. */
  g_ascii_formatd (alpha, sizeof alpha, "%.2f", noise);
  return g_strdup_printf ("compositor name=noise sink_1::alpha=%s ! %s%s", alpha, caps, clock);
}

/* The encoder part of a pipeline, from raw I420 to access units in
 * byte-stream format with parameter sets in front of every IDR, ending in
 * a caps filter (and a space, so "! appsink ..." may follow). @live: for a
 * PTZ mount's per-frame encoder, which must keep up in real time on one
 * thread with no frame of delay; otherwise for clips, encoded once.
 *
 * scenecut=0 keeps IDRs exactly every gop_frames, so clips of different
 * sizes have keyframes at the same indices, and the parser puts the
 * parameter sets in front of every IDR. One slice per frame: with several,
 * the payloader's config-interval=-1 would put parameter sets between the
 * slices of an IDR picture, which starts a new access unit by the codec's
 * rules (ffmpeg then sees two frames with one DTS); x264 needs
 * sliced-threads=false for that, x265 slices=1 (and zerolatency turns off
 * its frame threads). No access unit delimiters: most cameras send none. */
static gchar *
encoder_description (const Settings *s, gboolean live)
{
  if (s->codec == VIGIL_SIMCAM_CODEC_H265)
    /* open-gop=0: x265 would otherwise start GOPs with CRA pictures, which
     * receivers need not treat as random access points; cameras send IDRs.
     * info=0: no SEI with x265's version and settings in frame 0.
     * ultrafast: x265 is several times slower than x264, and quality does
     * not matter here. log-level=error: x265 prints its settings otherwise.
     * Live, pools=1: one worker thread. */
    return g_strdup_printf (
        "x265enc tune=zerolatency speed-preset=ultrafast log-level=error "
        "  key-int-max=%u bitrate=%u "
        "  option-string=\"bframes=0:keyint=%u:min-keyint=%u:scenecut=0:open-gop=0:"
        "info=0:slices=1%s\" "
        "! video/x-h265,profile=main "
        "! h265parse config-interval=-1 "
        "! video/x-h265,stream-format=byte-stream,alignment=au ",
        s->gop_frames, s->bitrate_kbps, s->gop_frames, s->gop_frames, live ? ":pools=1" : "");
  /* Live: ultrafast, and threads=1, because x264's frame threads (which
   * sliced-threads=false leaves on) each delay the output by a frame. */
  return g_strdup_printf (
      "x264enc tune=zerolatency sliced-threads=false aud=false speed-preset=%s "
      "  key-int-max=%u bframes=0 bitrate=%u option-string=\"scenecut=0\"%s "
      "! video/x-h264,profile=main "
      "! h264parse config-interval=-1 "
      "! video/x-h264,stream-format=byte-stream,alignment=au ",
      live ? "ultrafast" : "veryfast", s->gop_frames, s->bitrate_kbps, live ? " threads=1" : "");
}

/* Encodes @picture's clip of @width x @height with the settings' codec,
 * rate, GOP and length. Blocks the calling thread. */
static Clip *
clip_encode (const Settings *s, guint width, guint height, VigilSimcamPicture picture,
             GError **error)
{
  static const gchar *const needed_h264[] = {
    "videotestsrc", "compositor", "x264enc", "h264parse", "appsink", "rtph264pay", NULL
  };
  static const gchar *const needed_h265[] = {
    "videotestsrc", "compositor", "x265enc", "h265parse", "appsink", "rtph265pay", NULL
  };
  static const gchar *const needed_frozen[] = { "imagefreeze", NULL };
  static const gchar *const needed_blurred[] = { "videoscale", NULL };
  static const gchar *const needed_night[] = { "videobalance", NULL };
  g_autoptr(Clip) clip = NULL;
  g_autoptr(GString) branches = g_string_new (NULL);
  g_autofree gchar *description = NULL;
  g_autofree gchar *encoder = NULL;
  g_autofree gchar *overlay = NULL;
  g_autofree gchar *head = NULL;
  g_autofree gchar *what = NULL;
  guint n_frames = s->fps * s->clip_seconds;

  if (!check_elements (s->codec == VIGIL_SIMCAM_CODEC_H265 ? needed_h265 : needed_h264, error)
      || (picture == VIGIL_SIMCAM_PICTURE_FROZEN && !check_elements (needed_frozen, error))
      || (picture == VIGIL_SIMCAM_PICTURE_BLURRED && !check_elements (needed_blurred, error))
      || (picture == VIGIL_SIMCAM_PICTURE_NIGHT && !check_elements (needed_night, error)))
    return NULL;

  /* A visible clock helps a human looking at recordings and keeps a still
   * scene from being frozen; the pango plugin is optional, so the clip
   * just goes without it. */
  if (have_element ("timeoverlay"))
    overlay = g_strdup_printf ("timeoverlay halignment=right valignment=bottom "
                               "font-desc=\"Sans %u\"", MAX (height / 24, 8));

  encoder = encoder_description (s, FALSE);

  /* The scrolling band gives the encoder real work, so the stream comes
   * out near the target bitrate (a ball on black would be a few kbit/s),
   * and keyframes seconds apart still differ, as a frozen-frame check
   * expects; the still background is a view that a re-aimed camera loses.
   * Every picture has the same encoder settings, so the same parameter
   * sets: switching pictures is not a format change. */
  head = picture_description (s, picture, width, height, n_frames, overlay, branches);
  description = g_strdup_printf ("%s ! %s! appsink name=sink sync=false%s", head, encoder, branches->str);
  what = g_strdup_printf ("%ux%u %s %s clip", width, height, vigil_simcam_picture_to_string (picture),
                          codec_name (s->codec));

  clip = clip_new ();
  clip->width = width;
  clip->height = height;

  GST_INFO ("encoding the %s, %u frames", what, n_frames);
  if (!run_encoder (description, what, TRUE, s->codec, clip, error))
    return NULL;
  if (clip->frames->len != n_frames)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "the %s encoder gave %u frames, expected %u",
                   what, clip->frames->len, n_frames);
      return NULL;
    }
  if (picture == VIGIL_SIMCAM_PICTURE_FROZEN && n_frames >= 2 * s->gop_frames)
    {
      /* The encoder's rate control settles over the first GOPs, so their
       * keyframes differ by rounding, and the loop would jump back to the
       * first. The last whole GOP, repeated, makes every keyframe
       * bit-identical, as an encoder fed one picture at a steady rate
       * sends it; keyframes stay at the same indices. */
      guint last = (n_frames / s->gop_frames - 1) * s->gop_frames;

      for (guint i = 0; i < n_frames; i++)
        if (i < last || i >= last + s->gop_frames)
          {
            GstBuffer *same = g_ptr_array_index (clip->frames, last + i % s->gop_frames);

            gst_buffer_unref (g_ptr_array_index (clip->frames, i));
            g_ptr_array_index (clip->frames, i) = gst_buffer_ref (same);
          }
    }
  if (!clip_finish (clip, error))
    return NULL;
  return g_steal_pointer (&clip);
}

/* Audio frames: AAC-LC codes 1024 samples per frame, 64 ms exactly at
 * 16 kHz; A-law goes in the 20 ms packets that RTP/AVP assumes by default. */
#define AAC_RATE            16000
#define AAC_FRAME_SAMPLES   1024
#define PCMA_RATE           8000
#define PCMA_FRAME_SAMPLES  160

/* The first installed AAC encoder, best first; NULL if there is none. */
static const gchar *
find_aac_encoder (void)
{
  static const gchar *const encoders[] = { "fdkaacenc", "voaacenc", "avenc_aac" };

  for (guint i = 0; i < G_N_ELEMENTS (encoders); i++)
    if (have_element (encoders[i]))
      return encoders[i];
  return NULL;
}

/* Encodes the settings' audio track: a quiet 1 kHz tone, the video clip's
 * length rounded up to whole frames. Blocks the calling thread, briefly:
 * audio costs little to encode, so it is never cached. */
static Clip *
audio_clip_encode (const Settings *s, GError **error)
{
  static const gchar *const needed_aac[] = {
    "audiotestsrc", "audioconvert", "appsink", "rtpmp4gpay", NULL
  };
  static const gchar *const needed_pcma[] = {
    "audiotestsrc", "audioconvert", "alawenc", "appsink", "rtppcmapay", NULL
  };
  g_autoptr(Clip) clip = NULL;
  g_autofree gchar *description = NULL;
  g_autofree gchar *encoder = NULL;
  guint rate, frame_samples, n_frames;

  g_return_val_if_fail (s->audio != VIGIL_SIMCAM_AUDIO_NONE, NULL);

  if (s->audio == VIGIL_SIMCAM_AUDIO_AAC)
    {
      const gchar *aac = find_aac_encoder ();

      if (aac == NULL)
        {
          g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_MISSING,
                       "no AAC encoder is installed (fdkaacenc, voaacenc or avenc_aac)");
          return NULL;
        }
      if (!check_elements (needed_aac, error))
        return NULL;
      rate = AAC_RATE;
      frame_samples = AAC_FRAME_SAMPLES;
      /* Raw AAC frames, with the AudioSpecificConfig in codec_data, which
       * rtpmp4gpay turns into the SDP's config=. */
      encoder = g_strdup_printf ("%s bitrate=32000 "
                                 "! audio/mpeg,mpegversion=4,stream-format=raw", aac);
    }
  else
    {
      if (!check_elements (needed_pcma, error))
        return NULL;
      rate = PCMA_RATE;
      frame_samples = PCMA_FRAME_SAMPLES;
      encoder = g_strdup ("alawenc");
    }

  n_frames = (s->clip_seconds * rate + frame_samples - 1) / frame_samples;
  description = g_strdup_printf (
      "audiotestsrc wave=sine freq=1000 volume=0.2 samplesperbuffer=%u num-buffers=%u "
      "! audio/x-raw,format=S16LE,rate=%u,channels=1,layout=interleaved "
      "! audioconvert ! %s ! appsink name=sink sync=false",
      frame_samples, n_frames, rate, encoder);

  clip = clip_new ();
  clip->frame_ns = gst_util_uint64_scale_int (GST_SECOND, frame_samples, rate);
  GST_INFO ("encoding the audio clip: %s", encoder);
  /* An AAC encoder may add a frame for its start-up delay; the count does
   * not matter, the frame duration does. */
  if (!run_encoder (description, "audio clip", FALSE, s->codec, clip, error) ||
      !clip_finish (clip, error))
    return NULL;
  return g_steal_pointer (&clip);
}

/* Cache file: the magic line, the settings key line, the caps line, then
 * for each frame a host-order guint32 flags (1 = keyframe), guint32 size and
 * the bytes. It is a private cache, not an exchange format. */
static gboolean
clip_save (const Clip *clip, const gchar *path, const gchar *key, GError **error)
{
  g_autoptr(GByteArray) data = g_byte_array_new ();
  g_autofree gchar *caps = gst_caps_to_string (clip->caps);
  guint32 n = clip->frames->len;

  g_byte_array_append (data, (const guint8 *) CLIP_CACHE_MAGIC, strlen (CLIP_CACHE_MAGIC));
  g_byte_array_append (data, (const guint8 *) key, strlen (key));
  g_byte_array_append (data, (const guint8 *) "\n", 1);
  g_byte_array_append (data, (const guint8 *) caps, strlen (caps));
  g_byte_array_append (data, (const guint8 *) "\n", 1);
  g_byte_array_append (data, (const guint8 *) &n, sizeof n);
  for (guint i = 0; i < n; i++)
    {
      GstBuffer *frame = g_ptr_array_index (clip->frames, i);
      guint32 flags = clip_frame_is_key (clip, i) ? 1 : 0;
      guint32 size = gst_buffer_get_size (frame);
      GstMapInfo map;

      g_byte_array_append (data, (const guint8 *) &flags, sizeof flags);
      g_byte_array_append (data, (const guint8 *) &size, sizeof size);
      if (!gst_buffer_map (frame, &map, GST_MAP_READ))
        {
          g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                       "cannot map frame %u", i);
          return FALSE;
        }
      g_byte_array_append (data, map.data, map.size);
      gst_buffer_unmap (frame, &map);
    }

  /* Written to a temporary file and renamed, so a concurrent reader never
   * sees half a clip. */
  return g_file_set_contents (path, (const gchar *) data->data, data->len, error);
}

/* Reads one '\n'-terminated line at *offset; NULL if there is none. */
static gchar *
read_line (const guint8 *data, gsize size, gsize *offset)
{
  const guint8 *start = data + *offset;
  const guint8 *end = memchr (start, '\n', size - *offset);

  if (end == NULL)
    return NULL;
  *offset += (end - start) + 1;
  return g_strndup ((const gchar *) start, end - start);
}

static gboolean
read_u32 (const guint8 *data, gsize size, gsize *offset, guint32 *value)
{
  if (size - *offset < sizeof *value)
    return FALSE;
  memcpy (value, data + *offset, sizeof *value);
  *offset += sizeof *value;
  return TRUE;
}

/* Loads a cached clip made with @key. Returns NULL, without an error, if the
 * file is missing, was made with other settings or is damaged: the caller
 * then encodes afresh. The frames wrap slices of the file's bytes. */
static Clip *
clip_load (const gchar *path, const gchar *key, guint width, guint height)
{
  g_autofree gchar *contents = NULL;
  g_autoptr(GBytes) bytes = NULL;
  g_autoptr(Clip) clip = NULL;
  g_autofree gchar *magic = NULL;
  g_autofree gchar *file_key = NULL;
  g_autofree gchar *caps = NULL;
  const guint8 *data;
  gsize size, offset = 0;
  guint32 n;

  if (!g_file_get_contents (path, &contents, &size, NULL))
    return NULL;
  bytes = g_bytes_new_take (g_steal_pointer (&contents), size);
  data = g_bytes_get_data (bytes, NULL);

  if (size < strlen (CLIP_CACHE_MAGIC) ||
      memcmp (data, CLIP_CACHE_MAGIC, strlen (CLIP_CACHE_MAGIC)) != 0)
    {
      GST_INFO ("clip cache %s: not a clip file", path);
      return NULL;
    }
  offset = strlen (CLIP_CACHE_MAGIC);
  file_key = read_line (data, size, &offset);
  if (g_strcmp0 (file_key, key) != 0)
    {
      GST_INFO ("clip cache %s was made for '%s', not '%s'", path, file_key, key);
      return NULL;
    }
  caps = read_line (data, size, &offset);
  if (caps == NULL || !read_u32 (data, size, &offset, &n))
    return NULL;

  clip = clip_new ();
  clip->width = width;
  clip->height = height;
  clip->caps = gst_caps_from_string (caps);
  if (clip->caps == NULL)
    return NULL;
  for (guint32 i = 0; i < n; i++)
    {
      g_autoptr(GBytes) slice = NULL;
      guint32 flags, frame_size;
      GstBuffer *frame;

      if (!read_u32 (data, size, &offset, &flags) ||
          !read_u32 (data, size, &offset, &frame_size) ||
          size - offset < frame_size || frame_size == 0)
        {
          GST_INFO ("clip cache %s is truncated at frame %u", path, i);
          return NULL;
        }
      slice = g_bytes_new_from_bytes (bytes, offset, frame_size);
      offset += frame_size;
      frame = gst_buffer_new_wrapped_bytes (slice);
      if (!(flags & 1))
        GST_BUFFER_FLAG_SET (frame, GST_BUFFER_FLAG_DELTA_UNIT);
      g_ptr_array_add (clip->frames, frame);
    }
  if (offset != size || !clip_finish (clip, NULL))
    return NULL;
  return g_steal_pointer (&clip);
}

/* @picture's clip of @width x @height, from self->clips, the cache (main
 * size only) or the encoder. Runs on the caller's thread. */
/* Loads settings' clip_file, another encoder's elementary stream, as it
 * is: access units with parameter sets in front of every keyframe. */
static Clip *
clip_load_file (const Settings *s, GError **error)
{
  const gchar *codec = s->codec == VIGIL_SIMCAM_CODEC_H265 ? "h265" : "h264";
  g_autofree gchar *description = NULL;
  g_autofree gchar *what = g_strdup_printf ("clip file %s", s->clip_file);
  g_autoptr(Clip) clip = clip_new ();
  const GstStructure *structure;
  gint width = 0, height = 0;

  description = g_strdup_printf ("filesrc location=\"%s\" ! %sparse config-interval=-1 "
                                 "! video/x-%s,stream-format=byte-stream,alignment=au "
                                 "! appsink name=sink sync=false", s->clip_file, codec, codec);
  if (!run_encoder (description, what, TRUE, s->codec, clip, error))
    return NULL;
  structure = gst_caps_get_structure (clip->caps, 0);
  if (!gst_structure_get_int (structure, "width", &width) || !gst_structure_get_int (structure, "height", &height)
      || (guint) width != s->width || (guint) height != s->height)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "%s is %dx%d, not %ux%u", what, width, height, s->width, s->height);
      return NULL;
    }
  clip->width = s->width;
  clip->height = s->height;
  if (!clip_finish (clip, error))
    return NULL;
  return g_steal_pointer (&clip);
}

/* The clip of @picture at @width x @height from the clip cache, or encoded
 * (and then saved there). */
static Clip *
clip_load_or_encode (VigilSimcam *self, guint width, guint height, VigilSimcamPicture picture, GError **error)
{
  g_autofree gchar *name = g_strdup_printf ("%ux%u/%s", width, height,
                                            vigil_simcam_picture_to_string (picture));
  g_autofree gchar *key = NULL;
  g_autofree gchar *cache = NULL;
  g_autoptr(Clip) clip = NULL;

  key = clip_cache_key (&self->settings, width, height, picture, have_element ("timeoverlay"));
  if (self->settings.clip_cache != NULL && width == self->settings.width
      && height == self->settings.height)
    cache = clip_cache_path (&self->settings, picture);
  if (cache != NULL)
    {
      clip = clip_load (cache, key, width, height);
      if (clip != NULL)
        GST_INFO ("clip %s loaded from %s", name, cache);
    }
  if (clip == NULL)
    {
      clip = clip_encode (&self->settings, width, height, picture, error);
      if (clip == NULL)
        return NULL;
      if (cache != NULL)
        {
          g_autoptr(GError) save_error = NULL;

          /* A cache that cannot be written only costs time next run. */
          if (!clip_save (clip, cache, key, &save_error))
            g_message ("clip cache %s not saved: %s", cache, save_error->message);
        }
    }
  return g_steal_pointer (&clip);
}

static Clip *
get_clip (VigilSimcam *self, guint width, guint height, VigilSimcamPicture picture, GError **error)
{
  g_autofree gchar *name = g_strdup_printf ("%ux%u/%s", width, height,
                                            vigil_simcam_picture_to_string (picture));
  g_autoptr(Clip) clip = NULL;
  Clip *known;

  g_mutex_lock (&self->lock);
  known = g_hash_table_lookup (self->clips, name);
  if (known != NULL)
    clip = clip_ref (known);
  g_mutex_unlock (&self->lock);
  if (clip != NULL)
    return g_steal_pointer (&clip);

  if (self->settings.clip_file != NULL)
    {
      if (width != self->settings.width || height != self->settings.height
          || picture != VIGIL_SIMCAM_PICTURE_NORMAL)
        {
          g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                       "a camera serving a clip file shows nothing else");
          return NULL;
        }
      clip = clip_load_file (&self->settings, error);
    }
  else
    clip = clip_load_or_encode (self, width, height, picture, error);
  if (clip == NULL)
    return NULL;

  g_mutex_lock (&self->lock);
  known = g_hash_table_lookup (self->clips, name);
  if (known != NULL)
    {
      /* Another thread made it meanwhile; keep one copy. */
      g_clear_pointer (&clip, clip_unref);
      clip = clip_ref (known);
    }
  else
    g_hash_table_insert (self->clips, g_strdup (name), clip_ref (clip));
  g_mutex_unlock (&self->lock);
  return g_steal_pointer (&clip);
}

/* --- feeds --- */

static void
feed_free (Feed *feed)
{
  g_clear_signal_handler (&feed->unprepared_id, feed->media);
  gst_clear_object (&feed->appsrc);
  gst_clear_object (&feed->audio_appsrc);
  g_clear_object (&feed->media);
  g_clear_pointer (&feed->clip, clip_unref);
  g_free (feed);
}

/* Called with self->lock held. */
static Feed *
mount_find_feed (Mount *mount, GstRTSPMedia *media, guint *index)
{
  for (guint i = 0; i < mount->feeds->len; i++)
    {
      Feed *feed = g_ptr_array_index (mount->feeds, i);

      if (feed->media == media)
        {
          if (index != NULL)
            *index = i;
          return feed;
        }
    }
  return NULL;
}

/* May run on a media thread. */
static void
on_media_unprepared (GstRTSPMedia *media, Mount *mount)
{
  VigilSimcam *self = mount->self;
  Feed *feed;
  guint index;

  g_mutex_lock (&self->lock);
  feed = mount_find_feed (mount, media, &index);
  if (feed != NULL)
    g_ptr_array_steal_index_fast (mount->feeds, index);
  g_mutex_unlock (&self->lock);

  /* Freed outside the lock: dropping the last refs may finalize elements. */
  if (feed != NULL)
    {
      GST_DEBUG ("%s: media %p unprepared", mount->path, media);
      feed_free (feed);
    }
}

/* Hands @feed the audio frames that start before @end_pts, the end of the
 * video frame just pushed at @video_pts, so that audio follows the video's
 * timestamps rather than a clock of its own and the two never drift apart.
 * Runs on the server thread, with self->lock held once the feed is listed;
 * allocates nothing but the buffer copies. */
static void
feed_push_audio (VigilSimcam *self, Feed *feed, GstClockTime video_pts, GstClockTime end_pts)
{
  const Clip *clip = self->audio_clip;
  gboolean discont = FALSE;

  /* As with video, stale audio is dropped rather than queued. Every audio
   * frame decodes on its own, so the feed resumes at any frame. */
  if (gst_app_src_get_current_level_time (GST_APP_SRC (feed->audio_appsrc)) >=
      MAX_BACKLOG_FRAMES * self->frame_ns)
    {
      feed->next_audio_pts = GST_CLOCK_TIME_NONE;
      return;
    }

  /* Behind by a little (the video skipped a tick), the audio catches up
   * frame by frame; after a gap (stall, backlog) or if ahead, it restarts
   * with the video frame. */
  if (!GST_CLOCK_TIME_IS_VALID (feed->next_audio_pts) ||
      feed->next_audio_pts + MAX_PTS_DRIFT < video_pts ||
      feed->next_audio_pts > end_pts + clip->frame_ns)
    {
      feed->next_audio_pts = video_pts;
      discont = TRUE;
    }

  while (feed->next_audio_pts < end_pts)
    {
      GstBuffer *buffer = gst_buffer_copy (g_ptr_array_index (clip->frames, feed->next_audio));

      GST_BUFFER_PTS (buffer) = feed->next_audio_pts;
      GST_BUFFER_DTS (buffer) = feed->next_audio_pts;
      GST_BUFFER_DURATION (buffer) = clip->frame_ns;
      if (discont)
        GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
      discont = FALSE;
      gst_app_src_push_buffer (GST_APP_SRC (feed->audio_appsrc), buffer);
      feed->next_audio_pts += clip->frame_ns;
      feed->next_audio = (feed->next_audio + 1) % clip->frames->len;
    }
}

/* Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
#define NTP_UNIX_OFFSET_S G_GINT64_CONSTANT (2208988800)

/* A camera whose clock is off: the media's pipeline clock is the host's
 * real-time clock moved to the NTP epoch plus the offset, and its RTP
 * session stamps sender reports with that clock's time ("clock-time")
 * instead of the host's (rtpbin's default, "ntp"). The rate is the host's,
 * so pacing, which only uses running time, is untouched. */
static GstClock *
skewed_clock_new (gint offset_seconds)
{
  GstClock *clock = g_object_new (GST_TYPE_SYSTEM_CLOCK, "clock-type", GST_CLOCK_TYPE_REALTIME, NULL);

  gst_object_ref_sink (clock);
  gst_clock_set_calibration (clock, 0, (NTP_UNIX_OFFSET_S + offset_seconds) * GST_SECOND, 1, 1);
  return clock;
}

static void
on_media_element_added (GstBin *pipeline, GstElement *element, gpointer unused)
{
  GstElementFactory *factory = gst_element_get_factory (element);

  if (factory != NULL && g_str_equal (GST_OBJECT_NAME (factory), "rtpbin"))
    g_object_set (element, "ntp-time-source", 3 /* clock-time */, NULL);
}

/* Runs on the server thread, from a client's DESCRIBE or SETUP, before the
 * media is prepared. */
static void
on_factory_media_configure (GstRTSPMediaFactory *factory, GstRTSPMedia *media, Mount *mount)
{
  VigilSimcam *self = mount->self;
  g_autoptr(GstElement) bin = gst_rtsp_media_get_element (media);
  g_autoptr(GstElement) appsrc = gst_bin_get_by_name (GST_BIN (bin), "src");
  g_autoptr(GstElement) audio_appsrc = gst_bin_get_by_name (GST_BIN (bin), "audiosrc");
  g_autoptr(GstCaps) caps = NULL;
  GstBuffer *first;
  Feed *feed;

  g_return_if_fail (appsrc != NULL);
  g_return_if_fail ((audio_appsrc != NULL) == (self->audio_clip != NULL));

  g_object_set_qdata (G_OBJECT (media), simcam_mount_quark (), mount);
  if (self->settings.clock_offset_seconds != 0 && GST_ELEMENT_PARENT (bin) != NULL)
    g_signal_connect (GST_ELEMENT_PARENT (bin), "element-added", G_CALLBACK (on_media_element_added), NULL);

  feed = g_new0 (Feed, 1);
  feed->mount = mount;
  feed->media = g_object_ref (media);
  feed->appsrc = g_steal_pointer (&appsrc);
  /* Preparing the media blocks until a buffer has gone through each
   * payloader (that is where the SDP gets its caps), so the first frame, and
   * the audio that goes with it, is queued now rather than on the next tick.
   * A live pipeline starts its running time at 0 when it goes to PLAYING,
   * which is right after this; both appsrcs share it. A PTZ mount's first
   * frame is its encoder's latest IDR; the next is a fresh IDR, forced once
   * the media plays. */
  g_mutex_lock (&self->lock);
  if (mount->ptz != NULL)
    {
      caps = gst_caps_ref (mount->ptz->caps);
      first = gst_buffer_copy (mount->ptz->last_key);
      feed->need_keyframe = TRUE;
    }
  else
    {
      feed->clip = clip_ref (mount->clip);
      caps = gst_caps_ref (feed->clip->caps);
      first = gst_buffer_copy (g_ptr_array_index (feed->clip->frames, 0));
    }
  g_mutex_unlock (&self->lock);
  gst_app_src_set_caps (GST_APP_SRC (feed->appsrc), caps);
  GST_BUFFER_PTS (first) = 0;
  GST_BUFFER_DTS (first) = 0;
  GST_BUFFER_DURATION (first) = self->frame_ns;
  gst_app_src_push_buffer (GST_APP_SRC (feed->appsrc), first);
  feed->next_frame = 1;
  feed->next_pts = self->frame_ns;
  if (audio_appsrc != NULL)
    {
      feed->audio_appsrc = g_steal_pointer (&audio_appsrc);
      gst_app_src_set_caps (GST_APP_SRC (feed->audio_appsrc), self->audio_clip->caps);
      feed->next_audio_pts = 0;
      feed_push_audio (self, feed, 0, feed->next_pts);
    }

  feed->unprepared_id = g_signal_connect (media, "unprepared",
                                          G_CALLBACK (on_media_unprepared), mount);
  g_mutex_lock (&self->lock);
  g_ptr_array_add (mount->feeds, feed);
  g_mutex_unlock (&self->lock);
  GST_DEBUG ("%s: media %p configured", mount->path, media);
}

/* The running time of @feed's media, or GST_CLOCK_TIME_NONE unless it is
 * PLAYING: a live source only runs in PLAYING, and only then do running
 * times mean anything. */
static GstClockTime
feed_get_running_time (Feed *feed)
{
  gboolean is_playing;

  GST_OBJECT_LOCK (feed->appsrc);
  is_playing = GST_STATE (feed->appsrc) == GST_STATE_PLAYING;
  GST_OBJECT_UNLOCK (feed->appsrc);
  return is_playing ? gst_element_get_current_running_time (feed->appsrc) : GST_CLOCK_TIME_NONE;
}

/* Re-bases feed->next_pts on @now when it is unset or has drifted. */
static void
feed_check_pts (Feed *feed, GstClockTime now)
{
  if (!GST_CLOCK_TIME_IS_VALID (feed->next_pts) ||
      feed->next_pts + MAX_PTS_DRIFT < now || feed->next_pts > now + MAX_PTS_DRIFT)
    feed->next_pts = now;
}

/* VIDEO_STALL: one frame's worth of audio and no video. feed->next_pts runs
 * on as if the video were sent, so the audio keeps its timestamps and the
 * video resumes (at a keyframe) with timestamps past the gap. Runs on the
 * server thread with self->lock held. */
static void
feed_push_audio_only (VigilSimcam *self, Feed *feed)
{
  GstClockTime now = feed_get_running_time (feed);

  feed->need_keyframe = TRUE;
  if (!GST_CLOCK_TIME_IS_VALID (now))
    {
      feed->next_pts = GST_CLOCK_TIME_NONE;
      return;
    }
  feed_check_pts (feed, now);
  feed->next_pts += self->frame_ns;
  if (feed->audio_appsrc != NULL)
    feed_push_audio (self, feed, feed->next_pts - self->frame_ns, feed->next_pts);
}

/* Sends @frame (not consumed: a copy shares its memory) at feed->next_pts,
 * and the audio that goes with it. Runs on the server thread with
 * self->lock held. */
static void
feed_send_video (VigilSimcam *self, Feed *feed, GstBuffer *frame, gboolean discont)
{
  GstBuffer *buffer = gst_buffer_copy (frame);

  GST_BUFFER_PTS (buffer) = feed->next_pts;
  GST_BUFFER_DTS (buffer) = feed->next_pts;  /* no B-frames */
  GST_BUFFER_DURATION (buffer) = self->frame_ns;
  if (discont)
    GST_BUFFER_FLAG_SET (buffer, GST_BUFFER_FLAG_DISCONT);
  gst_app_src_push_buffer (GST_APP_SRC (feed->appsrc), buffer);

  feed->next_pts += self->frame_ns;
  if (feed->audio_appsrc != NULL)
    feed_push_audio (self, feed, feed->next_pts - self->frame_ns, feed->next_pts);
}

/* Hands the next frame, and the audio that goes with it, to one feed. Runs
 * on the server thread with self->lock held; allocates nothing but the
 * buffer copies (and caps on a resolution switch). */
static void
feed_push (VigilSimcam *self, Feed *feed)
{
  Mount *mount = feed->mount;
  GstElement *appsrc = feed->appsrc;
  GstClockTime now;
  gboolean discont = FALSE;
  guint index;

  /* While paused the clip does not advance, so the chain stays contiguous. */
  now = feed_get_running_time (feed);
  if (!GST_CLOCK_TIME_IS_VALID (now))
    {
      feed->next_pts = GST_CLOCK_TIME_NONE;
      return;
    }

  if (gst_app_src_get_current_level_buffers (GST_APP_SRC (appsrc)) >= MAX_BACKLOG_FRAMES)
    {
      feed->need_keyframe = TRUE;
      return;
    }

  index = feed->next_frame % feed->clip->frames->len;
  if (feed->clip != mount->clip && (feed->need_keyframe || clip_frame_is_key (feed->clip, index)))
    {
      /* Resolution or picture switch, at a keyframe so the receiver gets
       * new SPS/PPS together with the first frame that needs them. A
       * picture switch keeps the caps, but resending them is harmless. */
      clip_unref (feed->clip);
      feed->clip = clip_ref (mount->clip);
      gst_app_src_set_caps (GST_APP_SRC (appsrc), feed->clip->caps);
      index = feed->clip->next_key[index % feed->clip->frames->len];
      GST_DEBUG ("%s: media %p switches to %ux%u at frame %u", mount->path,
                 feed->media, feed->clip->width, feed->clip->height, index);
    }
  else if (feed->need_keyframe)
    {
      index = feed->clip->next_key[index];
      discont = TRUE;
    }
  feed->need_keyframe = FALSE;
  feed_check_pts (feed, now);

  GST_LOG ("%s: media %p frame %u pts %" GST_TIME_FORMAT, mount->path, feed->media, index,
           GST_TIME_ARGS (feed->next_pts));
  feed->next_frame = (index + 1) % feed->clip->frames->len;
  feed_send_video (self, feed, g_ptr_array_index (feed->clip->frames, index), discont);
}

/* KEYFRAMES_ONLY: the clip runs on, but of its frames only the keyframes are
 * sent; the other frames' slots carry their audio only. Runs on the server
 * thread with self->lock held. */
static void
feed_push_keyframes_only (VigilSimcam *self, Feed *feed)
{
  if (clip_frame_is_key (feed->clip, feed->next_frame % feed->clip->frames->len))
    {
      feed_push (self, feed);
      return;
    }
  feed_push_audio_only (self, feed);
  feed->next_frame = (feed->next_frame + 1) % feed->clip->frames->len;
}

/* --- PTZ mounts --- */

/* The scene's luma at its left and right edges and Cb at its top and bottom
 * (Cr mirrors Cb); the header promises these. */
#define SCENE_LUMA_LEFT   32
#define SCENE_LUMA_RIGHT  224
#define SCENE_CB_TOP      80
#define SCENE_CB_BOTTOM   176
/* Checkerboard texture: +-SCENE_TEXTURE luma, SCENE_CELLS cells across. */
#define SCENE_TEXTURE     12
#define SCENE_CELLS       64
/* Cars: two per road, crossing the scene in SCENE_CAR_CROSSING_S seconds. */
#define SCENE_CAR_CROSSING_S  8

/* Fractions of the height; none within 1/8 of the centre, so the tele view
 * of the centre (where the tests look) shows no car. */
static const gdouble scene_roads[] = { 0.3, 0.7, 0.85 };

static void
scene_free (Scene *scene)
{
  g_free (scene->y);
  g_free (scene->u);
  g_free (scene->v);
  g_free (scene);
}

static guint8
clamp_luma (gint value)
{
  return CLAMP (value, 16, 235);
}

/* The scene for output frames of @width x @height, as the header describes
 * it, without the cars, which ptz_render() draws. The fixed noise comes from
 * a seeded GRand, so every run shows the same scene. */
static Scene *
scene_new (guint width, guint height)
{
  Scene *scene = g_new0 (Scene, 1);
  g_autoptr(GRand) rand = g_rand_new_with_seed (0x5ce9e);
  guint cell, chroma_width, chroma_height;

  scene->width = 2 * width;
  scene->height = 2 * height;
  cell = MAX (scene->width / SCENE_CELLS, 2);
  chroma_width = scene->width / 2;
  chroma_height = scene->height / 2;
  scene->y = g_malloc ((gsize) scene->width * scene->height);
  scene->u = g_malloc ((gsize) chroma_width * chroma_height);
  scene->v = g_malloc ((gsize) chroma_width * chroma_height);

  for (guint y = 0; y < scene->height; y++)
    for (guint x = 0; x < scene->width; x++)
      {
        gint ramp = SCENE_LUMA_LEFT +
                    (gint) ((guint64) (SCENE_LUMA_RIGHT - SCENE_LUMA_LEFT) * x / (scene->width - 1));
        gint texture = ((x / cell + y / cell) % 2) ? SCENE_TEXTURE : -SCENE_TEXTURE;

        scene->y[(gsize) y * scene->width + x] =
            clamp_luma (ramp + texture + g_rand_int_range (rand, -6, 7));
      }
  for (guint y = 0; y < chroma_height; y++)
    {
      guint cb = SCENE_CB_TOP + (SCENE_CB_BOTTOM - SCENE_CB_TOP) * y / MAX (chroma_height - 1, 1);

      memset (scene->u + (gsize) y * chroma_width, cb, chroma_width);
      memset (scene->v + (gsize) y * chroma_width, SCENE_CB_TOP + SCENE_CB_BOTTOM - cb,
              chroma_width);
    }
  return scene;
}

/* The default I420 layout, which GStreamer elements assume of a buffer
 * without a video meta. */
static guint
luma_stride (guint width)
{
  return GST_ROUND_UP_4 (width);
}

static guint
chroma_stride (guint width)
{
  return GST_ROUND_UP_4 (width / 2);
}

static gsize
i420_size (guint width, guint height)
{
  return (gsize) luma_stride (width) * height + 2 * (gsize) chroma_stride (width) * (height / 2);
}

static guint32
xorshift32 (guint32 *state)
{
  guint32 x = *state;

  x ^= x << 13;
  x ^= x >> 17;
  x ^= x << 5;
  return *state = x;
}

/* Fills the output rectangle that scene rectangle (@x, @y, @w, @h) maps to,
 * clipped, with @luma. */
static void
fill_scene_rect (guint8 *plane, guint stride, guint width, guint height, gdouble left,
                 gdouble top, gdouble scale, gdouble x, gdouble y, gdouble w, gdouble h,
                 guint8 luma)
{
  gint x0 = (gint) ((x - left) * scale), x1 = (gint) ((x + w - left) * scale);
  gint y0 = (gint) ((y - top) * scale), y1 = (gint) ((y + h - top) * scale);

  x0 = CLAMP (x0, 0, (gint) width);
  x1 = CLAMP (x1, 0, (gint) width);
  y0 = CLAMP (y0, 0, (gint) height);
  y1 = CLAMP (y1, 0, (gint) height);
  for (gint row = y0; row < y1 && x0 < x1; row++)
    memset (plane + (gsize) row * stride + x0, luma, x1 - x0);
}

/* Renders the head's view of frame @frame_index into @raw, an I420 frame of
 * the output size in the default layout: the window copied out of the scene
 * (nearest neighbour), sensor noise and the cars. Runs on the server thread
 * with self->lock held (for the head's position), or before it starts;
 * allocates nothing. */
static void
ptz_render (VigilSimcam *self, Ptz *ptz, GstBuffer *raw, guint64 frame_index)
{
  /* -2..2, mean 0: three bits of noise a pixel. */
  static const gint8 noise_values[8] = { -2, -1, -1, 0, 0, 1, 1, 2 };
  const Scene *scene = self->scene;
  guint width = self->settings.width, height = self->settings.height;
  guint y_stride = luma_stride (width), c_stride = chroma_stride (width);
  gdouble scale = 1 + 3 * ptz->zoom;           /* output pixels per scene pixel */
  gdouble step = 1 / scale;
  gdouble left = (scene->width - width * step) / 2 * (1 + ptz->pan);
  gdouble top = (scene->height - height * step) / 2 * (1 - ptz->tilt);
  gdouble seconds = (gdouble) frame_index / self->settings.fps;
  gdouble car_w = scene->width / 20.0, car_h = MAX (scene->height / 30.0, 2);
  guint8 *out_y, *out_u, *out_v;
  GstMapInfo map;

  if (!gst_buffer_map (raw, &map, GST_MAP_WRITE))
    return;
  out_y = map.data;
  out_u = out_y + (gsize) y_stride * height;
  out_v = out_u + (gsize) c_stride * (height / 2);

  for (guint x = 0; x < width; x++)
    ptz->columns[x] = MIN ((guint) (left + (x + 0.5) * step), scene->width - 1);
  for (guint x = 0; x < width / 2; x++)
    ptz->chroma_columns[x] = MIN ((guint) ((left + (2 * x + 1) * step) / 2), scene->width / 2 - 1);

  for (guint y = 0; y < height; y++)
    {
      guint scene_row = MIN ((guint) (top + (y + 0.5) * step), scene->height - 1);
      const guint8 *src = scene->y + (gsize) scene_row * scene->width;
      guint8 *dest = out_y + (gsize) y * y_stride;
      guint32 bits = 0;

      for (guint x = 0; x < width; x++)
        {
          if (x % 10 == 0)
            bits = xorshift32 (&ptz->noise_state);
          dest[x] = clamp_luma (src[ptz->columns[x]] + noise_values[bits & 7]);
          bits >>= 3;
        }
    }
  for (guint y = 0; y < height / 2; y++)
    {
      guint scene_row = MIN ((guint) ((top + (2 * y + 1) * step) / 2), scene->height / 2 - 1);
      const guint8 *src_u = scene->u + (gsize) scene_row * (scene->width / 2);
      const guint8 *src_v = scene->v + (gsize) scene_row * (scene->width / 2);
      guint8 *dest_u = out_u + (gsize) y * c_stride;
      guint8 *dest_v = out_v + (gsize) y * c_stride;

      for (guint x = 0; x < width / 2; x++)
        {
          dest_u[x] = src_u[ptz->chroma_columns[x]];
          dest_v[x] = src_v[ptz->chroma_columns[x]];
        }
    }

  /* Cars: a light body with a dark windscreen band, two a road, roads
   * taking turns in direction; they take the tint of where they are. */
  for (guint road = 0; road < G_N_ELEMENTS (scene_roads); road++)
    for (guint car = 0; car < 2; car++)
      {
        gdouble span = scene->width + car_w;
        gdouble travelled = fmod (seconds * span / SCENE_CAR_CROSSING_S + car * span / 2 +
                                  road * span / 5, span);
        gdouble x = (road % 2 ? span - travelled : travelled) - car_w;
        gdouble y = scene_roads[road] * scene->height - car_h / 2;

        fill_scene_rect (out_y, y_stride, width, height, left, top, scale, x, y, car_w, car_h, 200);
        fill_scene_rect (out_y, y_stride, width, height, left, top, scale, x + car_w / 4, y,
                         car_w / 3, car_h / 3, 50);
      }
  gst_buffer_unmap (raw, &map);
}

/* Runs on the server thread (or before it starts): after the caller has
 * stopped feeding the pipeline. */
static void
ptz_free (Ptz *ptz)
{
  if (ptz->pipeline != NULL)
    gst_element_set_state (ptz->pipeline, GST_STATE_NULL);
  gst_clear_object (&ptz->appsrc);
  gst_clear_object (&ptz->appsink);
  gst_clear_object (&ptz->pipeline);
  if (ptz->pool != NULL)
    gst_buffer_pool_set_active (ptz->pool, FALSE);
  gst_clear_object (&ptz->pool);
  gst_clear_caps (&ptz->caps);
  gst_clear_buffer (&ptz->last_key);
  g_free (ptz->columns);
  g_free (ptz->chroma_columns);
  g_free (ptz);
}

G_DEFINE_AUTOPTR_CLEANUP_FUNC (Ptz, ptz_free)

/* Renders frame @frame_index and hands it to the encoder, unless the encoder
 * still holds every raw buffer of the pool: then the frame is skipped, as a
 * camera drops frames its encoder cannot take. Same threads and lock as
 * ptz_render(). */
static void
ptz_push_frame (VigilSimcam *self, Ptz *ptz, guint64 frame_index)
{
  GstBufferPoolAcquireParams params = { .flags = GST_BUFFER_POOL_ACQUIRE_FLAG_DONTWAIT };
  GstBuffer *raw = NULL;

  if (gst_buffer_pool_acquire_buffer (ptz->pool, &raw, &params) != GST_FLOW_OK)
    {
      GST_DEBUG ("ptz encoder busy, frame %" G_GUINT64_FORMAT " skipped", frame_index);
      return;
    }
  ptz_render (self, ptz, raw, frame_index);
  GST_BUFFER_PTS (raw) = frame_index * self->frame_ns;
  GST_BUFFER_DURATION (raw) = self->frame_ns;
  gst_app_src_push_buffer (GST_APP_SRC (ptz->appsrc), raw);
}

/* Asks the encoder to make its next frame an IDR, with the upstream
 * GstForceKeyUnit event (built by hand, as gst_video_event_new_upstream_
 * force_key_unit() does, to keep libgstvideo out of the dependencies). */
static void
ptz_request_keyframe (Ptz *ptz)
{
  g_autoptr(GstPad) pad = gst_element_get_static_pad (ptz->appsink, "sink");
  GstStructure *s = gst_structure_new ("GstForceKeyUnit",
                                       "running-time", GST_TYPE_CLOCK_TIME, GST_CLOCK_TIME_NONE,
                                       "all-headers", G_TYPE_BOOLEAN, TRUE,
                                       "count", G_TYPE_UINT, 0, NULL);

  gst_pad_push_event (pad, gst_event_new_custom (GST_EVENT_CUSTOM_UPSTREAM, s));
}

/* The first error on @bus, if any, as a VIGIL_SIMCAM_ERROR_FAILED. */
static gboolean
pop_bus_error (GstBus *bus, const gchar *what, GError **error)
{
  g_autoptr(GstMessage) message = gst_bus_pop_filtered (bus, GST_MESSAGE_ERROR);
  g_autoptr(GError) gst_error = NULL;
  g_autofree gchar *debug = NULL;

  if (message == NULL)
    return TRUE;
  gst_message_parse_error (message, &gst_error, &debug);
  g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED, "%s failed: %s (%s)", what,
               gst_error->message, debug ? debug : "no details");
  return FALSE;
}

/* Builds and starts @mount's live encoder and waits for its first access
 * unit, an IDR, so that a media can be prepared at once. Runs on the
 * caller's thread, before the server thread starts. */
static Ptz *
ptz_new (VigilSimcam *self, Mount *mount, GError **error)
{
  static const gchar *const needed_h264[] = {
    "appsrc", "x264enc", "h264parse", "appsink", "rtph264pay", NULL
  };
  static const gchar *const needed_h265[] = {
    "appsrc", "x265enc", "h265parse", "appsink", "rtph265pay", NULL
  };
  const Settings *s = &self->settings;
  g_autoptr(Ptz) ptz = g_new0 (Ptz, 1);
  g_autoptr(GstCaps) raw_caps = NULL;
  g_autoptr(GstBus) bus = NULL;
  g_autoptr(GstSample) sample = NULL;
  g_autofree gchar *overlay = NULL;
  g_autofree gchar *encoder = NULL;
  g_autofree gchar *description = NULL;
  g_autofree gchar *what = g_strdup_printf ("the PTZ encoder of %s", mount->path);
  GstStructure *config;

  if (!check_elements (s->codec == VIGIL_SIMCAM_CODEC_H265 ? needed_h265 : needed_h264, error))
    return NULL;

  raw_caps = gst_caps_new_simple ("video/x-raw", "format", G_TYPE_STRING, "I420",
                                  "width", G_TYPE_INT, (gint) s->width,
                                  "height", G_TYPE_INT, (gint) s->height,
                                  "framerate", GST_TYPE_FRACTION, (gint) s->fps, 1,
                                  "pixel-aspect-ratio", GST_TYPE_FRACTION, 1, 1, NULL);
  /* The same clock as on the clips. */
  if (have_element ("timeoverlay"))
    overlay = g_strdup_printf ("timeoverlay halignment=right valignment=bottom "
                               "font-desc=\"Sans %u\" ! ", MAX (s->height / 24, 8));
  encoder = encoder_description (s, TRUE);
  /* max-bytes=0: the pool bounds what waits in the queue. */
  description = g_strdup_printf ("appsrc name=src is-live=true format=time max-bytes=0 "
                                 "! %s%s! appsink name=sink sync=false",
                                 overlay ? overlay : "", encoder);
  ptz->pipeline = gst_parse_launch (description, error);
  if (ptz->pipeline == NULL)
    {
      g_prefix_error (error, "cannot build %s: ", what);
      return NULL;
    }
  gst_object_ref_sink (ptz->pipeline);
  ptz->appsrc = gst_bin_get_by_name (GST_BIN (ptz->pipeline), "src");
  ptz->appsink = gst_bin_get_by_name (GST_BIN (ptz->pipeline), "sink");
  gst_app_src_set_caps (GST_APP_SRC (ptz->appsrc), raw_caps);
  bus = gst_element_get_bus (ptz->pipeline);

  /* Three frames: one being rendered, one queued, one in the encoder. */
  ptz->pool = gst_buffer_pool_new ();
  config = gst_buffer_pool_get_config (ptz->pool);
  gst_buffer_pool_config_set_params (config, raw_caps, i420_size (s->width, s->height), 3, 3);
  if (!gst_buffer_pool_set_config (ptz->pool, config) ||
      !gst_buffer_pool_set_active (ptz->pool, TRUE))
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "cannot set up the raw frame pool of %s", what);
      return NULL;
    }
  ptz->columns = g_new (guint, s->width);
  ptz->chroma_columns = g_new (guint, s->width / 2);
  ptz->noise_state = 0x9e3779b9u ^ mount->index;  /* never 0 */

  if (gst_element_set_state (ptz->pipeline, GST_STATE_PLAYING) == GST_STATE_CHANGE_FAILURE)
    {
      if (pop_bus_error (bus, what, error))
        g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED, "%s did not start", what);
      return NULL;
    }
  ptz_push_frame (self, ptz, 0);
  /* Generous: a loaded machine under sanitizers is slow. */
  for (guint i = 0; i < 300 && sample == NULL; i++)
    {
      sample = gst_app_sink_try_pull_sample (GST_APP_SINK (ptz->appsink), 100 * GST_MSECOND);
      if (!pop_bus_error (bus, what, error))
        return NULL;
    }
  if (sample == NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "%s gave no frame in 30 s", what);
      return NULL;
    }
  if (GST_BUFFER_FLAG_IS_SET (gst_sample_get_buffer (sample), GST_BUFFER_FLAG_DELTA_UNIT))
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_FAILED,
                   "the first frame of %s is not a keyframe", what);
      return NULL;
    }
  ptz->caps = gst_caps_copy (gst_sample_get_caps (sample));
  ptz->last_key = copy_without_aud (gst_sample_get_buffer (sample), s->codec);
  GST_INFO ("%s: PTZ encoder started, %" GST_PTR_FORMAT, mount->path, ptz->caps);
  return g_steal_pointer (&ptz);
}

/* Hands one access unit of the live encoder to a feed, resuming at an IDR
 * whenever the chain was broken; meanwhile the feed gets its audio. Runs on
 * the server thread with self->lock held. */
static void
feed_push_live (VigilSimcam *self, Feed *feed, GstBuffer *frame, gboolean is_key)
{
  GstClockTime now = feed_get_running_time (feed);
  gboolean discont = FALSE;

  /* Unlike a clip, the encoder does not wait for a paused or backed-up
   * media: the frames it misses are gone, so it resumes at an IDR. */
  if (!GST_CLOCK_TIME_IS_VALID (now))
    {
      feed->next_pts = GST_CLOCK_TIME_NONE;
      feed->need_keyframe = TRUE;
      return;
    }
  if (gst_app_src_get_current_level_buffers (GST_APP_SRC (feed->appsrc)) >= MAX_BACKLOG_FRAMES)
    {
      feed->need_keyframe = TRUE;
      return;
    }
  if (feed->need_keyframe)
    {
      if (!is_key)
        {
          feed_push_audio_only (self, feed);
          return;
        }
      feed->need_keyframe = FALSE;
      discont = TRUE;
    }
  feed_check_pts (feed, now);
  feed_send_video (self, feed, frame, discont);
}

/* One frame tick of a PTZ mount: sends what the encoder made since the last
 * tick (usually the frame rendered then) to the mount's feeds, asks for an
 * IDR if a playing feed waits for one, then renders and encodes the next
 * frame. Runs on the server thread with self->lock held. */
static void
ptz_tick (VigilSimcam *self, Mount *mount)
{
  Ptz *ptz = mount->ptz;
  gboolean wants_key = FALSE;
  GstSample *sample;

  if (!ptz->has_failed)
    {
      g_autoptr(GstBus) bus = gst_element_get_bus (ptz->pipeline);
      g_autoptr(GError) error = NULL;

      if (!pop_bus_error (bus, mount->path, &error))
        {
          /* No one to return it to; the mount's video stops. */
          g_warning ("PTZ encoder: %s", error->message);
          ptz->has_failed = TRUE;
        }
    }

  while ((sample = gst_app_sink_try_pull_sample (GST_APP_SINK (ptz->appsink), 0)) != NULL)
    {
      g_autoptr(GstSample) owned = sample;
      GstBuffer *encoded = gst_sample_get_buffer (sample);
      gboolean is_key = !GST_BUFFER_FLAG_IS_SET (encoded, GST_BUFFER_FLAG_DELTA_UNIT);
      g_autoptr(GstBuffer) frame = copy_without_aud (encoded, self->settings.codec);

      if (is_key)
        {
          gst_buffer_replace (&ptz->last_key, frame);
          ptz->key_requested = FALSE;
        }
      if (mount->fault == VIGIL_SIMCAM_FAULT_NONE || (mount->fault == VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY && is_key))
        for (guint i = 0; i < mount->feeds->len; i++)
          feed_push_live (self, g_ptr_array_index (mount->feeds, i), frame, is_key);
      else if (mount->fault == VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY)
        for (guint i = 0; i < mount->feeds->len; i++)
          feed_push_audio_only (self, g_ptr_array_index (mount->feeds, i));
    }

  for (guint i = 0; i < mount->feeds->len; i++)
    {
      Feed *feed = g_ptr_array_index (mount->feeds, i);

      if (mount->fault == VIGIL_SIMCAM_FAULT_VIDEO_STALL)
        feed_push_audio_only (self, feed);
      else if (mount->fault == VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY)
        continue;  /* the encoder's own keyframes, no forced ones */
      else if (mount->fault != VIGIL_SIMCAM_FAULT_NONE)
        feed->need_keyframe = TRUE;
      /* A media nobody plays would otherwise get an IDR every other frame. */
      else if (feed->need_keyframe && GST_CLOCK_TIME_IS_VALID (feed_get_running_time (feed)))
        wants_key = TRUE;
    }
  if (wants_key && !ptz->key_requested)
    {
      GST_DEBUG ("%s: forcing an IDR", mount->path);
      ptz_request_keyframe (ptz);
      ptz->key_requested = TRUE;
    }
  ptz_push_frame (self, ptz, self->ticks);
}

/* Called with self->lock held. */
static void
push_frame_to_all (VigilSimcam *self)
{
  for (guint m = 0; m < self->mounts->len; m++)
    {
      Mount *mount = g_ptr_array_index (self->mounts, m);

      if (mount->ptz != NULL)
        {
          ptz_tick (self, mount);
          continue;
        }

      for (guint i = 0; i < mount->feeds->len; i++)
        {
          Feed *feed = g_ptr_array_index (mount->feeds, i);

          if (mount->fault == VIGIL_SIMCAM_FAULT_NONE)
            feed_push (self, feed);
          else if (mount->fault == VIGIL_SIMCAM_FAULT_VIDEO_STALL)
            feed_push_audio_only (self, feed);
          else if (mount->fault == VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY)
            feed_push_keyframes_only (self, feed);
          else
            feed->need_keyframe = TRUE;  /* resume at an IDR */
        }
    }
}

static gint64
tick_time_us (VigilSimcam *self, guint64 tick)
{
  return self->tick_start_us + (gint64) (tick * G_USEC_PER_SEC / self->settings.fps);
}

/* The frame clock. Tick k is due at tick_start_us + k / fps, computed from
 * the start rather than the last wake-up, so it never drifts. */
static gboolean
on_tick (gpointer user_data)
{
  VigilSimcam *self = user_data;
  gint64 now_us = g_get_monotonic_time ();
  guint64 due = (guint64) (now_us - self->tick_start_us) * self->settings.fps / G_USEC_PER_SEC;

  if (due > self->ticks + MAX_CATCH_UP_TICKS)
    {
      GST_DEBUG ("frame timer %" G_GUINT64_FORMAT " ticks late, skipping", due - self->ticks);
      self->ticks = due - 1;
    }

  g_mutex_lock (&self->lock);
  while (self->ticks < due)
    {
      self->ticks++;
      if (!self->is_stopping)
        push_frame_to_all (self);
    }
  g_mutex_unlock (&self->lock);

  g_source_set_ready_time (self->tick_source, tick_time_us (self, self->ticks + 1));
  return G_SOURCE_CONTINUE;
}

static gboolean
tick_source_dispatch (GSource *source, GSourceFunc callback, gpointer user_data)
{
  return callback (user_data);
}

/* A source driven only by its ready time, which on_tick() sets. */
static GSourceFuncs tick_source_funcs = {
  .dispatch = tick_source_dispatch,
};

/* --- clients, sessions and faults --- */

/* Runs on the server thread. */
static void
on_client_play_request (GstRTSPClient *client, GstRTSPContext *ctx, VigilSimcam *self)
{
  Mount *mount;
  Feed *feed;

  if (ctx->media == NULL)
    return;
  mount = g_object_get_qdata (G_OBJECT (ctx->media), simcam_mount_quark ());
  if (mount == NULL)
    return;

  /* Real cameras send an IDR when a viewer starts; doing the same means a
   * viewer joining a shared media decodes at once instead of after up to one
   * GOP, at the cost of a jump for those already watching. The first viewer
   * needs none: the media was blocked since its first frame, an IDR. */
  g_mutex_lock (&self->lock);
  feed = mount_find_feed (mount, ctx->media, NULL);
  if (feed != NULL)
    {
      if (feed->was_played)
        feed->need_keyframe = TRUE;
      feed->was_played = TRUE;
    }
  g_mutex_unlock (&self->lock);
}

/* Runs on the server thread, for every RTSP message the client sends out
 * (media data over TCP does not pass here). The response's
 * status is read directly; the request's headers through libgstrtsp, which
 * meson links explicitly (gst-rtsp-server's pkg-config file keeps it
 * private). */
static void
on_client_send_message (GstRTSPClient *client, GstRTSPContext *ctx, GstRTSPMessage *message,
                        VigilSimcam *self)
{
  gchar *authorization = NULL;
  gboolean had_credentials;

  if (message->type != GST_RTSP_MESSAGE_RESPONSE ||
      message->type_data.response.code != GST_RTSP_STS_UNAUTHORIZED)
    return;
  /* A request without credentials only learns the challenge; one with
   * them is a login a real camera counts towards locking the account. */
  had_credentials = ctx != NULL && ctx->request != NULL &&
                    gst_rtsp_message_get_header (ctx->request, GST_RTSP_HDR_AUTHORIZATION,
                                                 &authorization, 0) == GST_RTSP_OK;
  g_mutex_lock (&self->lock);
  self->n_auth_failures++;
  if (had_credentials)
    self->n_logins_refused++;
  g_mutex_unlock (&self->lock);
}

/* Runs on the server thread, before the mount is looked up and so before
 * authentication, as a camera at its session limit refuses before asking
 * who is calling. */
static GstRTSPStatusCode
on_client_pre_describe_request (GstRTSPClient *client, GstRTSPContext *ctx, VigilSimcam *self)
{
  GstRTSPStatusCode status = GST_RTSP_STS_OK;

  if (ctx->uri == NULL || ctx->uri->abspath == NULL)
    return GST_RTSP_STS_OK;
  g_mutex_lock (&self->lock);
  for (guint m = 0; m < self->mounts->len; m++)
    {
      Mount *mount = g_ptr_array_index (self->mounts, m);

      if (mount->describe_status != 0 && g_str_equal (ctx->uri->abspath, mount->path))
        status = mount->describe_status;
    }
  g_mutex_unlock (&self->lock);
  return status;
}

static gboolean
unref_later (gpointer client)
{
  return G_SOURCE_REMOVE;   /* the destroy notify drops the reference */
}

/* Runs on the server thread, when a client's connection is gone. A send
 * that fails schedules gst_rtsp_client_close() on an idle source that
 * holds no reference (gst-rtsp-server 1.22, do_send_data()); when the peer
 * hung up at the same moment, the watch's own unref right after this
 * signal frees the client first, and the idle reads freed memory. Keeping
 * a reference for a second lets that idle run first. */
static void
on_client_closed (GstRTSPClient *client, VigilSimcam *self)
{
  GSource *later = g_timeout_source_new (1000);

  /* Below idle priority: a busy context may starve the close's idle for
   * longer than the second. */
  g_source_set_priority (later, G_PRIORITY_LOW);
  g_source_set_callback (later, unref_later, g_object_ref (client), g_object_unref);
  g_source_attach (later, self->context);
  g_source_unref (later);
}

/* Runs on the server thread. */
static void
on_server_client_connected (GstRTSPServer *server, GstRTSPClient *client, VigilSimcam *self)
{
  g_signal_connect_object (client, "closed", G_CALLBACK (on_client_closed), self, 0);
  g_signal_connect_object (client, "play-request", G_CALLBACK (on_client_play_request), self, 0);
  g_signal_connect_object (client, "pre-describe-request", G_CALLBACK (on_client_pre_describe_request), self, 0);
  if (self->settings.auth != VIGIL_SIMCAM_AUTH_NONE)
    g_signal_connect_object (client, "send-message", G_CALLBACK (on_client_send_message),
                             self, 0);
}

/* Whether @session has media of @mount, or of any mount when @mount is NULL. */
static gboolean
session_uses_mount (GstRTSPSession *session, Mount *mount)
{
  GList *medias = gst_rtsp_session_filter (session, NULL, NULL);
  gboolean uses = FALSE;

  for (GList *l = medias; l != NULL && !uses; l = l->next)
    {
      GstRTSPMedia *media = gst_rtsp_session_media_get_media (l->data);
      Mount *owner = g_object_get_qdata (G_OBJECT (media), simcam_mount_quark ());

      uses = owner != NULL && (mount == NULL || owner == mount);
    }
  g_list_free_full (medias, g_object_unref);
  return uses;
}

static gboolean
client_uses_mount (GstRTSPClient *client, Mount *mount)
{
  GList *sessions = gst_rtsp_client_session_filter (client, NULL, NULL);
  gboolean uses = FALSE;

  for (GList *l = sessions; l != NULL && !uses; l = l->next)
    uses = session_uses_mount (l->data, mount);
  g_list_free_full (sessions, g_object_unref);
  return uses;
}

/* @user_data: the Mount whose clients to close, or NULL for all clients. */
static GstRTSPFilterResult
filter_close_clients (GstRTSPServer *server, GstRTSPClient *client, gpointer user_data)
{
  Mount *mount = user_data;

  /* Not GST_RTSP_FILTER_REMOVE: gst-rtsp-server 1.22 then frees the client
   * while a close it scheduled for it is still pending (valgrind: reads and
   * writes of the freed client). Referenced here, closed by close_clients(). */
  if (mount == NULL || client_uses_mount (client, mount))
    return GST_RTSP_FILTER_REF;
  return GST_RTSP_FILTER_KEEP;
}

/* @user_data: the Mount whose sessions to remove, or NULL for all sessions. */
static GstRTSPFilterResult
filter_remove_sessions (GstRTSPSessionPool *pool, GstRTSPSession *session, gpointer user_data)
{
  Mount *mount = user_data;

  if (mount == NULL || session_uses_mount (session, mount))
    return GST_RTSP_FILTER_REMOVE;
  return GST_RTSP_FILTER_KEEP;
}

/* Closes the connections and sessions of @mount, or all when NULL. Closing
 * the connection alone would leave UDP sessions alive until they time out. */
static void
close_clients (VigilSimcam *self, Mount *mount)
{
  GList *clients = gst_rtsp_server_client_filter (self->server, filter_close_clients, mount);
  GList *none;

  for (GList *l = clients; l != NULL; l = l->next)
    {
      GSource *later = g_timeout_source_new (1000);

      g_source_set_priority (later, G_PRIORITY_LOW);
      gst_rtsp_client_close (l->data);
      /* The close leaves a source behind that uses the client without a
       * reference of its own; keep ours until that has surely run. */
      g_source_set_callback (later, unref_later,
                             l->data, g_object_unref);
      g_source_attach (later, self->context);
      g_source_unref (later);
    }
  g_list_free (clients);
  none = gst_rtsp_session_pool_filter (self->session_pool, filter_remove_sessions, mount);
  g_list_free_full (none, g_object_unref);
}

typedef struct {
  VigilSimcam     *self;
  guint            index;
  VigilSimcamFault fault;
  guint            n_clients;
  gboolean         offline;
  GError          *error;
} Request;

static gboolean
do_set_fault (gpointer data)
{
  Request *req = data;
  VigilSimcam *self = req->self;
  Mount *mount = g_ptr_array_index (self->mounts, req->index);
  VigilSimcamFault old;

  g_mutex_lock (&self->lock);
  old = mount->fault;
  mount->fault = req->fault;
  g_mutex_unlock (&self->lock);
  if (old == req->fault)
    return G_SOURCE_REMOVE;

  GST_INFO ("%s: fault %d -> %d", mount->path, old, req->fault);
  if (req->fault == VIGIL_SIMCAM_FAULT_DROP)
    {
      /* Unmounted, the path answers DESCRIBE with 404 Not Found. */
      gst_rtsp_mount_points_remove_factory (self->mount_points, mount->path);
      close_clients (self, mount);
    }
  else if (old == VIGIL_SIMCAM_FAULT_DROP)
    {
      gst_rtsp_mount_points_add_factory (self->mount_points, mount->path,
                                         g_object_ref (mount->factory));
    }
  return G_SOURCE_REMOVE;
}

static gboolean
do_count_clients (gpointer data)
{
  Request *req = data;
  VigilSimcam *self = req->self;
  Mount *mount = g_ptr_array_index (self->mounts, req->index);
  GList *clients = gst_rtsp_server_client_filter (self->server, NULL, NULL);

  req->n_clients = 0;
  for (GList *l = clients; l != NULL; l = l->next)
    if (client_uses_mount (l->data, mount))
      req->n_clients++;
  g_list_free_full (clients, g_object_unref);
  return G_SOURCE_REMOVE;
}

/* Binds the listening socket and attaches it; runs on the server thread, or
 * on the caller's before the thread starts. */
static gboolean
start_listening (VigilSimcam *self, GError **error)
{
  g_autofree gchar *service = g_strdup_printf ("%u", self->port);

  gst_rtsp_server_set_service (self->server, service);
  self->listen_source = gst_rtsp_server_create_source (self->server, NULL, error);
  if (self->listen_source == NULL)
    {
      g_prefix_error (error, "cannot listen on 127.0.0.1:%u: ", self->port);
      return FALSE;
    }
  g_source_attach (self->listen_source, self->context);
  return TRUE;
}

/* Runs on the server thread. */
static void
stop_listening (VigilSimcam *self)
{
  if (self->listen_source == NULL)
    return;
  /* The source holds the only ref to the listening socket, so this closes it
   * and connect() is refused from now on. */
  g_source_destroy (self->listen_source);
  g_clear_pointer (&self->listen_source, g_source_unref);
}

static gboolean
do_set_offline (gpointer data)
{
  Request *req = data;
  VigilSimcam *self = req->self;

  if (req->offline)
    {
      stop_listening (self);
      close_clients (self, NULL);
    }
  else if (self->listen_source == NULL)
    {
      start_listening (self, &req->error);
    }
  if (req->error == NULL)
    {
      g_mutex_lock (&self->lock);
      self->is_offline = req->offline;
      g_mutex_unlock (&self->lock);
    }
  return G_SOURCE_REMOVE;
}

/* Runs on the server thread. */
static gboolean
on_cleanup_sessions (gpointer user_data)
{
  VigilSimcam *self = user_data;

  gst_rtsp_session_pool_cleanup (self->session_pool);
  return G_SOURCE_CONTINUE;
}

/* Runs on the server thread while finalize waits: quits the loop once
 * gst-rtsp-server has let go of every client and media. */
static gboolean
on_shutdown_poll (gpointer user_data)
{
  VigilSimcam *self = user_data;
  GList *clients = gst_rtsp_server_client_filter (self->server, NULL, NULL);
  guint n_clients = g_list_length (clients);
  guint n_feeds = 0;

  g_list_free_full (clients, g_object_unref);
  g_mutex_lock (&self->lock);
  for (guint m = 0; m < self->mounts->len; m++)
    n_feeds += ((Mount *) g_ptr_array_index (self->mounts, m))->feeds->len;
  g_mutex_unlock (&self->lock);

  if (n_clients == 0 && n_feeds == 0)
    {
      g_main_loop_quit (self->loop);
      return G_SOURCE_REMOVE;
    }
  if (g_get_monotonic_time () > self->shutdown_deadline_us)
    {
      GST_WARNING ("shutdown: %u clients and %u media still alive, giving up",
                   n_clients, n_feeds);
      g_main_loop_quit (self->loop);
      return G_SOURCE_REMOVE;
    }
  return G_SOURCE_CONTINUE;
}

static gboolean
do_shutdown (gpointer data)
{
  VigilSimcam *self = data;
  g_autoptr(GSource) poll = NULL;

  g_mutex_lock (&self->lock);
  self->is_stopping = TRUE;
  g_mutex_unlock (&self->lock);

  stop_listening (self);
  close_clients (self, NULL);

  self->shutdown_deadline_us = g_get_monotonic_time () + SHUTDOWN_TIMEOUT_US;
  poll = g_timeout_source_new (10);
  g_source_set_callback (poll, on_shutdown_poll, self, NULL);
  g_source_attach (poll, self->context);
  return G_SOURCE_REMOVE;
}

static gpointer
server_thread_main (gpointer data)
{
  VigilSimcam *self = data;

  g_main_context_push_thread_default (self->context);
  g_main_loop_run (self->loop);
  g_main_context_pop_thread_default (self->context);
  return NULL;
}

/* --- GObject --- */

static void
mount_free (Mount *mount)
{
  g_clear_signal_handler (&mount->configure_id, mount->factory);
  g_clear_object (&mount->factory);
  g_clear_pointer (&mount->clip, clip_unref);
  g_clear_pointer (&mount->ptz, ptz_free);
  g_clear_pointer (&mount->feeds, g_ptr_array_unref);
  g_free (mount->path);
  g_free (mount);
}

static void
destroy_source (GSource **source)
{
  if (*source == NULL)
    return;
  g_source_destroy (*source);
  g_clear_pointer (source, g_source_unref);
}

static void
vigil_simcam_finalize (GObject *object)
{
  VigilSimcam *self = VIGIL_SIMCAM (object);

  if (self->thread != NULL)
    {
      run_on_server_thread (self, do_shutdown, self);
      g_thread_join (g_steal_pointer (&self->thread));
    }

  /* Only left over if the shutdown timed out. */
  for (guint m = 0; m < self->mounts->len; m++)
    {
      Mount *mount = g_ptr_array_index (self->mounts, m);

      g_mutex_lock (&self->lock);
      g_ptr_array_set_free_func (mount->feeds, NULL);
      while (mount->feeds->len > 0)
        {
          Feed *feed = g_ptr_array_steal_index_fast (mount->feeds, 0);

          g_mutex_unlock (&self->lock);
          feed_free (feed);
          g_mutex_lock (&self->lock);
        }
      g_mutex_unlock (&self->lock);
    }

  stop_listening (self);
  destroy_source (&self->tick_source);
  destroy_source (&self->cleanup_source);
  g_clear_signal_handler (&self->client_connected_id, self->server);
  g_clear_pointer (&self->mounts, g_ptr_array_unref);
  g_clear_object (&self->mount_points);
  g_clear_object (&self->session_pool);
  g_clear_object (&self->server);
  g_clear_pointer (&self->loop, g_main_loop_unref);
  g_clear_pointer (&self->context, g_main_context_unref);
  g_clear_pointer (&self->clips, g_hash_table_unref);
  g_clear_pointer (&self->audio_clip, clip_unref);
  g_clear_pointer (&self->scene, scene_free);
  g_clear_pointer (&self->settings.clip_cache, g_free);
  g_clear_pointer (&self->settings.clip_file, g_free);
  g_clear_pointer (&self->settings.user, g_free);
  g_clear_pointer (&self->settings.password, g_free);
  g_mutex_clear (&self->lock);

  G_OBJECT_CLASS (vigil_simcam_parent_class)->finalize (object);
}

static void
vigil_simcam_class_init (VigilSimcamClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);

  object_class->finalize = vigil_simcam_finalize;
  GST_DEBUG_CATEGORY_INIT (vigil_simcam_debug, "vigil-simcam", 0, "simulated camera");
}

static void
vigil_simcam_init (VigilSimcam *self)
{
  g_mutex_init (&self->lock);
  self->clips = g_hash_table_new_full (g_str_hash, g_str_equal, g_free,
                                       (GDestroyNotify) clip_unref);
  self->mounts = g_ptr_array_new_with_free_func ((GDestroyNotify) mount_free);
  self->context = g_main_context_new ();
  self->loop = g_main_loop_new (self->context, FALSE);
}

static gboolean
settings_init (Settings *s, const VigilSimcamOptions *options, GError **error)
{
  s->n_streams = options->n_streams ? options->n_streams : 1;
  s->width = options->width ? options->width : 640;
  s->height = options->height ? options->height : 360;
  s->fps = options->fps ? options->fps : 25;
  s->bitrate_kbps = options->bitrate_kbps ? options->bitrate_kbps : 1000;
  s->gop_frames = options->gop_frames ? options->gop_frames : s->fps;
  s->clip_seconds = options->clip_seconds ? options->clip_seconds : 10;
  s->port = options->port;
  s->clip_cache = g_strdup (options->clip_cache);
  s->clip_file = g_strdup (options->clip_file);
  s->auth = options->auth;
  s->codec = options->codec;
  s->audio = options->audio;
  s->picture = options->picture;
  s->clock_offset_seconds = options->clock_offset_seconds;
  s->ptz = options->ptz;
  if (s->auth != VIGIL_SIMCAM_AUTH_NONE)
    {
      s->user = g_strdup (options->user);
      s->password = g_strdup (options->password);
    }

  if (s->width % 2 || s->height % 2 || s->width > 7680 || s->height > 4320)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "clip size %ux%u must be even and at most 7680x4320", s->width, s->height);
      return FALSE;
    }
  if (s->fps > 240 || s->clip_seconds > 3600 || s->n_streams > 1024 || s->port > 65535)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "out of range: %u fps, %u s clip, %u streams or port %u",
                   s->fps, s->clip_seconds, s->n_streams, s->port);
      return FALSE;
    }
  if (s->auth > VIGIL_SIMCAM_AUTH_DIGEST)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "unknown authentication method %d", s->auth);
      return FALSE;
    }
  if (s->codec > VIGIL_SIMCAM_CODEC_H265 || s->audio > VIGIL_SIMCAM_AUDIO_PCMA
      || vigil_simcam_picture_to_string (s->picture) == NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "unknown codec %d, audio %d or picture %d", s->codec, s->audio, s->picture);
      return FALSE;
    }
  if (s->clip_file != NULL && (s->ptz || s->picture != VIGIL_SIMCAM_PICTURE_NORMAL
                                || strchr (s->clip_file, '"') != NULL))
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "a clip file is served as it is: not with PTZ, another picture or a '\"' in its name");
      return FALSE;
    }
  if (s->ptz && s->picture != VIGIL_SIMCAM_PICTURE_NORMAL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "PTZ mounts show their scene, not the %s picture",
                   vigil_simcam_picture_to_string (s->picture));
      return FALSE;
    }
  /* Basic sends "user:password", so a ':' in the user name is ambiguous. */
  if (s->auth != VIGIL_SIMCAM_AUTH_NONE &&
      (s->user == NULL || s->user[0] == '\0' || strchr (s->user, ':') != NULL ||
       s->password == NULL))
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "authentication needs a non-empty user name without ':' and a password");
      return FALSE;
    }
  return TRUE;
}

/* The pipeline of every media: the video appsrc "src" and payloader pay0,
 * and with audio the appsrc "audiosrc" and pay1. Clients find the streams
 * in the SDP in that order. */
static gchar *
media_launch (const Settings *s)
{
  const gchar *video_pay = s->codec == VIGIL_SIMCAM_CODEC_H265 ? "rtph265pay" : "rtph264pay";
  const gchar *audio = "";

  /* max-ptime: one 20 ms frame per packet, as cameras send, whatever the
   * payloader's own buffering would do. */
  if (s->audio == VIGIL_SIMCAM_AUDIO_AAC)
    audio = " appsrc name=audiosrc format=time is-live=true ! rtpmp4gpay name=pay1 pt=97";
  else if (s->audio == VIGIL_SIMCAM_AUDIO_PCMA)
    audio = " appsrc name=audiosrc format=time is-live=true "
            "! rtppcmapay name=pay1 max-ptime=20000000";
  return g_strdup_printf ("( appsrc name=src format=time is-live=true max-buffers=%u "
                          "! %s name=pay0 pt=96 config-interval=-1 aggregate-mode=zero-latency"
                          "%s )", 2 * MAX_BACKLOG_FRAMES, video_pay, audio);
}

/* The role every mount grants; the one user holds it. */
#define VIEWER_ROLE "viewer"

/* An auth object that lets settings->user, and no one else, watch mounts
 * that grant VIEWER_ROLE; NULL when auth is off. */
static GstRTSPAuth *
auth_new (const Settings *s)
{
  g_autoptr(GstRTSPAuth) auth = NULL;
  g_autoptr(GstRTSPToken) token = NULL;

  if (s->auth == VIGIL_SIMCAM_AUTH_NONE)
    return NULL;

  auth = gst_rtsp_auth_new ();
  token = gst_rtsp_token_new (GST_RTSP_TOKEN_MEDIA_FACTORY_ROLE, G_TYPE_STRING, VIEWER_ROLE,
                              NULL);
  if (s->auth == VIGIL_SIMCAM_AUTH_BASIC)
    {
      g_autofree gchar *basic = gst_rtsp_auth_make_basic (s->user, s->password);

      gst_rtsp_auth_set_supported_methods (auth, GST_RTSP_AUTH_BASIC);
      gst_rtsp_auth_add_basic (auth, basic, token);
    }
  else
    {
      gst_rtsp_auth_set_supported_methods (auth, GST_RTSP_AUTH_DIGEST);
      gst_rtsp_auth_add_digest (auth, s->user, s->password, token);
    }
  /* No default token: a request without valid credentials has no role, and
   * the media factory check answers it 401. */
  return g_steal_pointer (&auth);
}

VigilSimcam *
vigil_simcam_new (const VigilSimcamOptions *options, GError **error)
{
  g_autoptr(VigilSimcam) self = NULL;
  g_autoptr(GstRTSPThreadPool) thread_pool = NULL;
  g_autoptr(GstRTSPAuth) auth = NULL;
  g_autoptr(Clip) clip = NULL;
  g_autofree gchar *launch = NULL;

  g_return_val_if_fail (options != NULL, NULL);
  g_return_val_if_fail (error == NULL || *error == NULL, NULL);
  g_return_val_if_fail (gst_is_initialized (), NULL);

  self = g_object_new (VIGIL_TYPE_SIMCAM, NULL);
  if (!settings_init (&self->settings, options, error))
    return NULL;
  self->port = self->settings.port;
  self->frame_ns = gst_util_uint64_scale_int (GST_SECOND, 1, self->settings.fps);

  if (self->settings.ptz)
    self->scene = scene_new (self->settings.width, self->settings.height);
  else
    {
      clip = get_clip (self, self->settings.width, self->settings.height, self->settings.picture,
                       error);
      if (clip == NULL)
        return NULL;
    }
  if (self->settings.audio != VIGIL_SIMCAM_AUDIO_NONE)
    {
      self->audio_clip = audio_clip_encode (&self->settings, error);
      if (self->audio_clip == NULL)
        return NULL;
    }

  self->server = gst_rtsp_server_new ();
  gst_rtsp_server_set_address (self->server, "127.0.0.1");
  self->mount_points = gst_rtsp_server_get_mount_points (self->server);
  self->session_pool = gst_rtsp_server_get_session_pool (self->server);
  /* No client threads: clients are served where connections are accepted,
   * on the server thread (see the top of the file for why). */
  thread_pool = gst_rtsp_thread_pool_new ();
  gst_rtsp_thread_pool_set_max_threads (thread_pool, 0);
  gst_rtsp_server_set_thread_pool (self->server, thread_pool);
  auth = auth_new (&self->settings);
  if (auth != NULL)
    gst_rtsp_server_set_auth (self->server, auth);
  self->client_connected_id = g_signal_connect (self->server, "client-connected",
                                                G_CALLBACK (on_server_client_connected), self);

  launch = media_launch (&self->settings);
  for (guint i = 0; i < self->settings.n_streams; i++)
    {
      Mount *mount = g_new0 (Mount, 1);

      mount->self = self;
      mount->index = i;
      mount->path = g_strdup_printf ("/cam%u", i);
      mount->picture = self->settings.picture;
      if (clip != NULL)
        mount->clip = clip_ref (clip);
      mount->feeds = g_ptr_array_new_with_free_func ((GDestroyNotify) feed_free);
      mount->factory = gst_rtsp_media_factory_new ();
      /* Shared: one pipeline per mount however many clients watch, like
       * one encoder per camera. */
      gst_rtsp_media_factory_set_shared (mount->factory, TRUE);
      gst_rtsp_media_factory_set_launch (mount->factory, launch);
      if (self->settings.clock_offset_seconds != 0)
        {
          g_autoptr(GstClock) clock = skewed_clock_new (self->settings.clock_offset_seconds);
          gst_rtsp_media_factory_set_clock (mount->factory, clock);
        }
      if (auth != NULL)
        gst_rtsp_media_factory_add_role (mount->factory, VIEWER_ROLE,
                                         GST_RTSP_PERM_MEDIA_FACTORY_ACCESS, G_TYPE_BOOLEAN, TRUE,
                                         GST_RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, G_TYPE_BOOLEAN, TRUE,
                                         NULL);
      mount->configure_id = g_signal_connect (mount->factory, "media-configure",
                                              G_CALLBACK (on_factory_media_configure), mount);
      gst_rtsp_mount_points_add_factory (self->mount_points, mount->path,
                                         g_object_ref (mount->factory));
      g_ptr_array_add (self->mounts, mount);
      if (self->settings.ptz && (mount->ptz = ptz_new (self, mount, error)) == NULL)
        return NULL;
    }

  if (!start_listening (self, error))
    return NULL;
  self->port = gst_rtsp_server_get_bound_port (self->server);

  self->cleanup_source = g_timeout_source_new_seconds (2);
  g_source_set_callback (self->cleanup_source, on_cleanup_sessions, self, NULL);
  g_source_attach (self->cleanup_source, self->context);

  self->tick_start_us = g_get_monotonic_time ();
  self->tick_source = g_source_new (&tick_source_funcs, sizeof (GSource));
  g_source_set_priority (self->tick_source, G_PRIORITY_HIGH);
  g_source_set_callback (self->tick_source, on_tick, self, NULL);
  g_source_set_ready_time (self->tick_source, tick_time_us (self, 1));
  g_source_attach (self->tick_source, self->context);

  self->thread = g_thread_try_new ("vigil-simcam", server_thread_main, self, error);
  if (self->thread == NULL)
    {
      g_prefix_error (error, "cannot start the server thread: ");
      return NULL;
    }

  GST_INFO ("serving %u streams of %ux%u %s (audio %d) on rtsp://127.0.0.1:%u/ (auth %d)",
            self->settings.n_streams, self->settings.width, self->settings.height,
            codec_name (self->settings.codec), self->settings.audio, self->port,
            self->settings.auth);
  return g_steal_pointer (&self);
}

guint
vigil_simcam_get_port (VigilSimcam *self)
{
  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), 0);
  return self->port;
}

guint
vigil_simcam_get_n_streams (VigilSimcam *self)
{
  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), 0);
  return self->mounts->len;
}

gchar *
vigil_simcam_get_url (VigilSimcam *self, guint index)
{
  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), NULL);
  g_return_val_if_fail (index < self->mounts->len, NULL);
  return g_strdup_printf ("rtsp://127.0.0.1:%u/cam%u", self->port, index);
}

void
vigil_simcam_set_fault (VigilSimcam *self, guint index, VigilSimcamFault fault)
{
  Request req = { self, index, fault };

  g_return_if_fail (VIGIL_IS_SIMCAM (self));
  g_return_if_fail (index < self->mounts->len);
  g_return_if_fail (fault <= VIGIL_SIMCAM_FAULT_KEYFRAMES_ONLY);
  run_on_server_thread (self, do_set_fault, &req);
}

VigilSimcamFault
vigil_simcam_get_fault (VigilSimcam *self, guint index)
{
  VigilSimcamFault fault;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), VIGIL_SIMCAM_FAULT_NONE);
  g_return_val_if_fail (index < self->mounts->len, VIGIL_SIMCAM_FAULT_NONE);
  g_mutex_lock (&self->lock);
  fault = ((Mount *) g_ptr_array_index (self->mounts, index))->fault;
  g_mutex_unlock (&self->lock);
  return fault;
}

gboolean
vigil_simcam_set_offline_full (VigilSimcam *self, gboolean offline, GError **error)
{
  Request req = { self, .offline = !!offline };

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);
  run_on_server_thread (self, do_set_offline, &req);
  if (req.error != NULL)
    {
      g_propagate_error (error, req.error);
      return FALSE;
    }
  return TRUE;
}

void
vigil_simcam_set_offline (VigilSimcam *self, gboolean offline)
{
  g_autoptr(GError) error = NULL;

  if (!vigil_simcam_set_offline_full (self, offline, &error))
    g_warning ("simulated camera stays offline: %s", error->message);
}

gboolean
vigil_simcam_is_offline (VigilSimcam *self)
{
  gboolean offline;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), FALSE);
  g_mutex_lock (&self->lock);
  offline = self->is_offline;
  g_mutex_unlock (&self->lock);
  return offline;
}

gboolean
vigil_simcam_set_resolution (VigilSimcam *self, guint index, guint width, guint height,
                             GError **error)
{
  g_autoptr(Clip) clip = NULL;
  VigilSimcamPicture picture;
  Mount *mount;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (index >= self->mounts->len)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "no stream %u (there are %u)", index, self->mounts->len);
      return FALSE;
    }
  if (((Mount *) g_ptr_array_index (self->mounts, index))->ptz != NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "stream %u is a PTZ camera, which keeps its size", index);
      return FALSE;
    }
  if (width == 0 || height == 0 || width % 2 || height % 2 || width > 7680 || height > 4320)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "size %ux%u must be even, non-zero and at most 7680x4320", width, height);
      return FALSE;
    }

  mount = g_ptr_array_index (self->mounts, index);
  g_mutex_lock (&self->lock);
  picture = mount->picture;
  g_mutex_unlock (&self->lock);
  clip = get_clip (self, width, height, picture, error);
  if (clip == NULL)
    return FALSE;

  g_mutex_lock (&self->lock);
  g_clear_pointer (&mount->clip, clip_unref);
  mount->clip = g_steal_pointer (&clip);
  g_mutex_unlock (&self->lock);
  GST_INFO ("%s: switching to %ux%u", mount->path, width, height);
  return TRUE;
}

gboolean
vigil_simcam_set_picture (VigilSimcam *self, guint index, VigilSimcamPicture picture, GError **error)
{
  g_autoptr(Clip) clip = NULL;
  guint width, height;
  Mount *mount;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), FALSE);
  g_return_val_if_fail (error == NULL || *error == NULL, FALSE);

  if (index >= self->mounts->len)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "no stream %u (there are %u)", index, self->mounts->len);
      return FALSE;
    }
  if (vigil_simcam_picture_to_string (picture) == NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID, "unknown picture %d", picture);
      return FALSE;
    }
  if (((Mount *) g_ptr_array_index (self->mounts, index))->ptz != NULL)
    {
      g_set_error (error, VIGIL_SIMCAM_ERROR, VIGIL_SIMCAM_ERROR_INVALID,
                   "stream %u is a PTZ camera, which always shows its scene", index);
      return FALSE;
    }

  mount = g_ptr_array_index (self->mounts, index);
  g_mutex_lock (&self->lock);
  width = mount->clip->width;
  height = mount->clip->height;
  g_mutex_unlock (&self->lock);
  clip = get_clip (self, width, height, picture, error);
  if (clip == NULL)
    return FALSE;

  g_mutex_lock (&self->lock);
  mount->picture = picture;
  g_clear_pointer (&mount->clip, clip_unref);
  mount->clip = g_steal_pointer (&clip);
  g_mutex_unlock (&self->lock);
  GST_INFO ("%s: switching to the %s picture", mount->path, vigil_simcam_picture_to_string (picture));
  return TRUE;
}

VigilSimcamPicture
vigil_simcam_get_picture (VigilSimcam *self, guint index)
{
  VigilSimcamPicture picture;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), VIGIL_SIMCAM_PICTURE_NORMAL);
  g_return_val_if_fail (index < self->mounts->len, VIGIL_SIMCAM_PICTURE_NORMAL);
  g_mutex_lock (&self->lock);
  picture = ((Mount *) g_ptr_array_index (self->mounts, index))->picture;
  g_mutex_unlock (&self->lock);
  return picture;
}

gboolean
vigil_simcam_has_ptz (VigilSimcam *self, guint index)
{
  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), FALSE);
  g_return_val_if_fail (index < self->mounts->len, FALSE);
  /* Fixed after vigil_simcam_new(), so no lock. */
  return ((Mount *) g_ptr_array_index (self->mounts, index))->ptz != NULL;
}

void
vigil_simcam_set_ptz (VigilSimcam *self, guint index, gdouble pan, gdouble tilt, gdouble zoom)
{
  Ptz *ptz;

  g_return_if_fail (VIGIL_IS_SIMCAM (self));
  g_return_if_fail (index < self->mounts->len);
  g_return_if_fail (!isnan (pan) && !isnan (tilt) && !isnan (zoom));
  ptz = ((Mount *) g_ptr_array_index (self->mounts, index))->ptz;
  g_return_if_fail (ptz != NULL);

  /* The next frame rendered (on the server thread, at the next tick) shows it. */
  g_mutex_lock (&self->lock);
  ptz->pan = CLAMP (pan, -1.0, 1.0);
  ptz->tilt = CLAMP (tilt, -1.0, 1.0);
  ptz->zoom = CLAMP (zoom, 0.0, 1.0);
  g_mutex_unlock (&self->lock);
  GST_DEBUG ("/cam%u: ptz %.3f %.3f %.3f", index, pan, tilt, zoom);
}

void
vigil_simcam_get_ptz (VigilSimcam *self, guint index, gdouble *pan, gdouble *tilt, gdouble *zoom)
{
  Ptz *ptz;

  g_return_if_fail (VIGIL_IS_SIMCAM (self));
  g_return_if_fail (index < self->mounts->len);
  ptz = ((Mount *) g_ptr_array_index (self->mounts, index))->ptz;
  g_return_if_fail (ptz != NULL);

  g_mutex_lock (&self->lock);
  if (pan != NULL)
    *pan = ptz->pan;
  if (tilt != NULL)
    *tilt = ptz->tilt;
  if (zoom != NULL)
    *zoom = ptz->zoom;
  g_mutex_unlock (&self->lock);
}

guint
vigil_simcam_get_n_clients (VigilSimcam *self, guint index)
{
  Request req = { self, index };

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), 0);
  g_return_val_if_fail (index < self->mounts->len, 0);
  run_on_server_thread (self, do_count_clients, &req);
  return req.n_clients;
}

guint
vigil_simcam_get_n_auth_failures (VigilSimcam *self)
{
  guint n;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_auth_failures;
  g_mutex_unlock (&self->lock);
  return n;
}

guint
vigil_simcam_get_n_logins_refused (VigilSimcam *self)
{
  guint n;

  g_return_val_if_fail (VIGIL_IS_SIMCAM (self), 0);
  g_mutex_lock (&self->lock);
  n = self->n_logins_refused;
  g_mutex_unlock (&self->lock);
  return n;
}

void
vigil_simcam_set_describe_status (VigilSimcam *self, guint index, guint status)
{
  g_return_if_fail (VIGIL_IS_SIMCAM (self));
  g_return_if_fail (index < self->mounts->len);
  g_return_if_fail (status == 0 || (status >= 300 && status < 600));
  g_mutex_lock (&self->lock);
  ((Mount *) g_ptr_array_index (self->mounts, index))->describe_status = status;
  g_mutex_unlock (&self->lock);
}
