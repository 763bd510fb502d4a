/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilPlaybackFactory: an unshared GstRTSPOnvifMediaFactory with replay
 * support whose media is
 *
 *   VigilPlaybackSource ! pay0 [ rtph26Xpay ! rtponviftimestamp ]
 *
 * The query sets the source's range; a PLAY Range (npt, or ONVIF's clock)
 * becomes a seek that the source answers (it tells npt from clock times
 * by size). The payloader depends on the codec, so the source is prepared
 * (its first file opened) before the element is made; construct() does
 * that and refuses the request then, because gst-rtsp-server 1.22's ONVIF
 * construct() g_critical()s when create_element() returns NULL. The
 * prepared source travels from construct() to create_element(), which the
 * library calls from inside it on the same thread, in a GPrivate. */
#include "vigil-playback-factory.h"

#include <gst/rtsp-server/rtsp-onvif-media.h>
#include <gst/rtsp-server/rtsp-mount-points.h>
#include <string.h>

GST_DEBUG_CATEGORY_STATIC (vigil_playback_factory_debug);
#define GST_CAT_DEFAULT vigil_playback_factory_debug

/* Years accepted in a query: the recorder's files cannot be older, and
 * later ones would be mistyped. */
#define MIN_YEAR 1970
#define MAX_YEAR 2200
/* The longest ISO 8601 time accepted ("2026-11-28T18:41:03.123456789+05:45" is 35). */
#define MAX_TIME_CHARS 40

/* The lister and its data, shared by the factory and every source it
 * made, since a media may outlive its mount. */
typedef struct {
  gchar               *camera;
  VigilPlaybackLister  lister;
  gpointer             user_data;
  GDestroyNotify       notify;
} Catalog;

struct _VigilPlaybackFactory {
  GstRTSPOnvifMediaFactory parent;
  Catalog                 *catalog;   /* g_atomic_rc_box */
};

G_DEFINE_TYPE (VigilPlaybackFactory, vigil_playback_factory, GST_TYPE_RTSP_ONVIF_MEDIA_FACTORY)

/* What construct() prepared for create_element(), on the same thread. */
typedef struct {
  VigilPlaybackSource *source;
  GstCaps             *caps;     /* what it will output */
} Prepared;
static GPrivate prepared;

static void
catalog_clear (gpointer data)
{
  Catalog *catalog = data;

  if (catalog->notify != NULL)
    catalog->notify (catalog->user_data);
  g_free (catalog->camera);
}

static void
catalog_unref (gpointer catalog)
{
  g_atomic_rc_box_release_full (catalog, catalog_clear);
}

/* Any thread. */
static GPtrArray *
catalog_list (const gchar *camera, gint64 from_us, gint64 to_us, guint max, gpointer user_data, GError **error)
{
  Catalog *catalog = user_data;

  return catalog->lister (camera, from_us, to_us, max, catalog->user_data, error);
}

/* ---------------------------------------------------------------- requests */

/* An ISO 8601 time with an explicit zone, as µs since 1970. A time
 * without one is refused rather than read in some zone: parsed in two
 * different default zones, it gives two different instants. */
static gboolean
parse_time (const gchar *key, const gchar *text, gint64 *out_us, GError **error)
{
  g_autoptr(GTimeZone) utc = g_time_zone_new_utc ();
  g_autoptr(GTimeZone) plus_one = g_time_zone_new_offset (3600);
  g_autoptr(GDateTime) t = NULL;
  g_autoptr(GDateTime) t_other = NULL;
  gint year;

  if (strlen (text) > MAX_TIME_CHARS)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "%s is too long", key);
      return FALSE;
    }
  t = g_date_time_new_from_iso8601 (text, utc);
  t_other = g_date_time_new_from_iso8601 (text, plus_one);
  if (t == NULL || t_other == NULL)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID,
                   "%s is not an ISO 8601 time such as 2026-11-28T18:41:03Z", key);
      return FALSE;
    }
  if (!g_date_time_equal (t, t_other))
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID,
                   "%s has no time zone; end it in Z for UTC or give an offset such as +01:00", key);
      return FALSE;
    }
  year = g_date_time_get_year (t);
  if (year < MIN_YEAR || year > MAX_YEAR)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "%s is outside the years %d to %d", key,
                   MIN_YEAR, MAX_YEAR);
      return FALSE;
    }
  *out_us = g_date_time_to_unix (t) * G_USEC_PER_SEC + g_date_time_get_microsecond (t);
  return TRUE;
}

gboolean
vigil_playback_parse_query (const gchar *query, gint64 *start_us, gint64 *end_us, GError **error)
{
  g_auto(GStrv) pairs = NULL;
  g_autofree gchar *copy = NULL;
  gboolean have_start = FALSE, have_end = FALSE;
  gchar *slash;

  g_return_val_if_fail (start_us != NULL && end_us != NULL, FALSE);

  *start_us = 0;
  *end_us = G_MAXINT64;
  if (query == NULL || *query == '\0')
    return TRUE;
  if (strlen (query) > VIGIL_PLAYBACK_MAX_QUERY_BYTES)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "the query is longer than %d bytes",
                   VIGIL_PLAYBACK_MAX_QUERY_BYTES);
      return FALSE;
    }
  /* gst-rtsp-server makes the Content-Base of a URL with a query by
   * appending "/" to the query, so SETUP comes as "...?start=X/stream=0".
   * No ISO 8601 time holds a "/". */
  copy = g_strdup (query);
  if ((slash = strchr (copy, '/')) != NULL)
    *slash = '\0';
  pairs = g_strsplit (copy, "&", 4);
  for (guint i = 0; pairs[i] != NULL; i++)
    {
      const gchar *eq = strchr (pairs[i], '=');
      g_autofree gchar *key = NULL;
      g_autofree gchar *value = NULL;

      if (*pairs[i] == '\0' && pairs[i + 1] == NULL)
        break;   /* a trailing "&" */
      if (eq == NULL)
        {
          g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID,
                       "the query must be start=TIME[&end=TIME]");
          return FALSE;
        }
      key = g_strndup (pairs[i], eq - pairs[i]);
      value = g_uri_unescape_string (eq + 1, NULL);
      if (value == NULL)
        {
          g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "%s is not properly escaped", key);
          return FALSE;
        }
      if (g_str_equal (key, "start") && !have_start)
        {
          if (!parse_time ("start", value, start_us, error))
            return FALSE;
          have_start = TRUE;
        }
      else if (g_str_equal (key, "end") && !have_end)
        {
          if (!parse_time ("end", value, end_us, error))
            return FALSE;
          have_end = TRUE;
        }
      else
        {
          g_autofree gchar *shown = g_strescape (key, NULL);

          g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID,
                       "unknown or repeated query key \"%.32s\"; only start and end are accepted", shown);
          return FALSE;
        }
    }
  if (have_end && *end_us <= *start_us)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "end is not after start");
      return FALSE;
    }
  return TRUE;
}

/* The wall-clock range of a PLAY "Range: clock=" header; FALSE for other
 * units. */
static gboolean
parse_clock_range (const gchar *range, gint64 *start_us, gint64 *end_us, GError **error)
{
  GstRTSPTimeRange *parsed = NULL;
  GstClockTime min, max;
  const gint64 epoch_us = VIGIL_PLAYBACK_NTP_EPOCH_OFFSET_S * G_USEC_PER_SEC;

  if (strlen (range) > VIGIL_PLAYBACK_MAX_QUERY_BYTES || gst_rtsp_range_parse (range, &parsed) != GST_RTSP_OK)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_INVALID, "malformed Range header");
      return FALSE;
    }
  if (parsed->unit != GST_RTSP_RANGE_CLOCK)
    {
      gst_rtsp_range_free (parsed);
      return FALSE;
    }
  /* gst-rtsp-server 1.22 gives clock times as ns since 1900. */
  gst_rtsp_range_get_times (parsed, &min, &max);
  gst_rtsp_range_free (parsed);
  *start_us = GST_CLOCK_TIME_IS_VALID (min) ? (gint64) (min / 1000) - epoch_us : 0;
  *end_us = GST_CLOCK_TIME_IS_VALID (max) ? (gint64) (max / 1000) - epoch_us : G_MAXINT64;
  return TRUE;
}

GstRTSPStatusCode
vigil_playback_factory_check (VigilPlaybackFactory *self, const GstRTSPUrl *uri, const gchar *range, GError **error)
{
  g_autoptr(GPtrArray) segments = NULL;
  g_autoptr(GError) local_error = NULL;
  gint64 start_us, end_us;

  g_return_val_if_fail (VIGIL_IS_PLAYBACK_FACTORY (self), GST_RTSP_STS_INTERNAL_SERVER_ERROR);

  if (!vigil_playback_parse_query (uri->query, &start_us, &end_us, error))
    return GST_RTSP_STS_BAD_REQUEST;
  if (range != NULL && !parse_clock_range (range, &start_us, &end_us, &local_error) && local_error != NULL)
    {
      g_propagate_error (error, g_steal_pointer (&local_error));
      return GST_RTSP_STS_BAD_REQUEST;
    }
  segments = self->catalog->lister (self->catalog->camera, start_us, end_us, 1, self->catalog->user_data, error);
  if (segments == NULL)
    {
      if (error != NULL && *error == NULL)
        g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_FAILED, "the catalogue lister failed");
      return GST_RTSP_STS_INTERNAL_SERVER_ERROR;
    }
  if (segments->len == 0)
    {
      g_set_error (error, VIGIL_PLAYBACK_ERROR, VIGIL_PLAYBACK_ERROR_NOT_FOUND, "camera %s has no recording in the range",
                   self->catalog->camera);
      return GST_RTSP_STS_NOT_FOUND;
    }
  return GST_RTSP_STS_OK;
}

/* Runs on the client's thread. */
static GstRTSPStatusCode
on_client_pre_request (GstRTSPClient *client, GstRTSPContext *ctx, gpointer user_data)
{
  g_autoptr(GstRTSPMountPoints) mounts = gst_rtsp_client_get_mount_points (client);
  g_autoptr(GstRTSPMediaFactory) factory = NULL;
  g_autofree gchar *path = NULL;
  g_autoptr(GError) error = NULL;
  const gchar *range = NULL;
  gchar *header = NULL;
  GstRTSPStatusCode status;

  if (mounts == NULL || ctx->uri == NULL || (path = gst_rtsp_mount_points_make_path (mounts, ctx->uri)) == NULL)
    return GST_RTSP_STS_OK;
  factory = gst_rtsp_mount_points_match (mounts, path, NULL);
  if (factory == NULL || !VIGIL_IS_PLAYBACK_FACTORY (factory))
    return GST_RTSP_STS_OK;
  if (GPOINTER_TO_INT (user_data) && ctx->request != NULL &&
      gst_rtsp_message_get_header (ctx->request, GST_RTSP_HDR_RANGE, &header, 0) == GST_RTSP_OK)
    range = header;
  status = vigil_playback_factory_check (VIGIL_PLAYBACK_FACTORY (factory), ctx->uri, range, &error);
  if (status != GST_RTSP_STS_OK)
    GST_INFO_OBJECT (factory, "refusing %s: %d %s", path, status, error->message);
  return status;
}

void
vigil_playback_watch_client (GstRTSPClient *client)
{
  g_return_if_fail (GST_IS_RTSP_CLIENT (client));

  g_signal_connect (client, "pre-describe-request", G_CALLBACK (on_client_pre_request), GINT_TO_POINTER (FALSE));
  g_signal_connect (client, "pre-setup-request", G_CALLBACK (on_client_pre_request), GINT_TO_POINTER (FALSE));
  g_signal_connect (client, "pre-play-request", G_CALLBACK (on_client_pre_request), GINT_TO_POINTER (TRUE));
}

/* ---------------------------------------------------------------- media */

static GstRTSPMedia *
factory_construct (GstRTSPMediaFactory *factory, const GstRTSPUrl *url)
{
  VigilPlaybackFactory *self = VIGIL_PLAYBACK_FACTORY (factory);
  g_autoptr(VigilPlaybackSource) source = NULL;
  g_autoptr(GstCaps) caps = NULL;
  g_autoptr(GError) error = NULL;
  GstRTSPMedia *media;
  Prepared ready;
  gint64 start_us, end_us;

  if (!vigil_playback_parse_query (url->query, &start_us, &end_us, &error))
    {
      GST_INFO_OBJECT (self, "camera %s: refusing playback: %s", self->catalog->camera, error->message);
      return NULL;
    }
  source = vigil_playback_source_new (self->catalog->camera, start_us, end_us, catalog_list,
                                      g_atomic_rc_box_acquire (self->catalog), catalog_unref);
  gst_object_ref_sink (source);
  caps = vigil_playback_source_prepare (source, &error);
  if (caps == NULL)
    {
      GST_INFO_OBJECT (self, "camera %s: refusing playback: %s", self->catalog->camera, error->message);
      return NULL;
    }
  GST_DEBUG_OBJECT (self, "camera %s: playback of %" GST_PTR_FORMAT, self->catalog->camera, caps);
  ready.source = source;
  ready.caps = caps;
  g_private_set (&prepared, &ready);
  media = GST_RTSP_MEDIA_FACTORY_CLASS (vigil_playback_factory_parent_class)->construct (factory, url);
  g_private_set (&prepared, NULL);
  return media;
}

static GstElement *
make (const gchar *factory_name, const gchar *name)
{
  GstElement *element = gst_element_factory_make (factory_name, name);

  if (element == NULL)
    GST_ERROR ("%s is not installed", factory_name);
  return element;
}

static GstElement *
factory_create_element (GstRTSPMediaFactory *factory, const GstRTSPUrl *url)
{
  const Prepared *ready = g_private_get (&prepared);
  g_autoptr(GstElement) bin = NULL;
  g_autoptr(GstPad) pad = NULL;
  GstElement *pay0, *pay, *onvif;
  gboolean h265;

  /* Only ever called from construct(), which set it. */
  g_return_val_if_fail (ready != NULL, NULL);

  h265 = gst_structure_has_name (gst_caps_get_structure (ready->caps, 0), "video/x-h265");
  bin = gst_object_ref_sink (gst_bin_new (NULL));
  pay0 = gst_bin_new ("pay0");
  pay = make (h265 ? "rtph265pay" : "rtph264pay", NULL);
  onvif = make ("rtponviftimestamp", NULL);
  if (pay == NULL || onvif == NULL)
    {
      g_clear_object (&pay);
      g_clear_object (&onvif);
      gst_object_unref (pay0);
      return NULL;
    }
  /* Parameter sets with every keyframe: a segment may change them, and
   * the SDP's sprop-parameter-sets only gives the first file's. */
  g_object_set (pay, "config-interval", -1, "pt", 96, NULL);
  /* ntp-offset 0 until the source's first GstOnvifTimestamp event (it comes
   * before the first frame). No E or T bits, unlike upstream's example:
   * to set them rtponviftimestamp 1.22 holds back one packet, and an
   * offset event arriving meanwhile is queued and passed on without being
   * applied, so every ONVIF timestamp would stay at the initial offset. */
  g_object_set (onvif, "ntp-offset", G_GUINT64_CONSTANT (0), "set-e-bit", FALSE, "set-t-bit", FALSE,
                "drop-out-of-segment", FALSE, NULL);
  gst_bin_add_many (GST_BIN (pay0), pay, onvif, NULL);
  gst_element_link (pay, onvif);
  pad = gst_element_get_static_pad (pay, "sink");
  gst_element_add_pad (pay0, gst_ghost_pad_new ("sink", pad));
  g_clear_object (&pad);
  pad = gst_element_get_static_pad (onvif, "src");
  gst_element_add_pad (pay0, gst_ghost_pad_new ("src", pad));

  /* The source is not floating: the bin takes a reference of its own. */
  gst_bin_add_many (GST_BIN (bin), GST_ELEMENT (ready->source), pay0, NULL);
  gst_element_link (GST_ELEMENT (ready->source), pay0);
  /* Handed over floating, as gst_parse_launch() makes them: the media's
   * "element" property sinks it, and a plain reference would be leaked. */
  g_object_force_floating (G_OBJECT (bin));
  return g_steal_pointer (&bin);
}

static void
vigil_playback_factory_finalize (GObject *object)
{
  VigilPlaybackFactory *self = VIGIL_PLAYBACK_FACTORY (object);

  g_clear_pointer (&self->catalog, catalog_unref);
  G_OBJECT_CLASS (vigil_playback_factory_parent_class)->finalize (object);
}

static void
vigil_playback_factory_class_init (VigilPlaybackFactoryClass *klass)
{
  GObjectClass *object_class = G_OBJECT_CLASS (klass);
  GstRTSPMediaFactoryClass *factory_class = GST_RTSP_MEDIA_FACTORY_CLASS (klass);

  object_class->finalize = vigil_playback_factory_finalize;
  factory_class->construct = factory_construct;
  factory_class->create_element = factory_create_element;
  GST_DEBUG_CATEGORY_INIT (vigil_playback_factory_debug, "vigil-playback-factory", 0, "vigil playback mounts");
}

static void
vigil_playback_factory_init (VigilPlaybackFactory *self)
{
  GstRTSPMediaFactory *factory = GST_RTSP_MEDIA_FACTORY (self);

  gst_rtsp_media_factory_set_shared (factory, FALSE);
  gst_rtsp_media_factory_set_media_gtype (factory, GST_TYPE_RTSP_ONVIF_MEDIA);
  gst_rtsp_onvif_media_factory_set_replay_support (GST_RTSP_ONVIF_MEDIA_FACTORY (self), TRUE);
}

VigilPlaybackFactory *
vigil_playback_factory_new (const gchar *camera, VigilPlaybackLister lister, gpointer user_data,
                            GDestroyNotify notify)
{
  VigilPlaybackFactory *self;

  g_return_val_if_fail (camera != NULL, NULL);
  g_return_val_if_fail (lister != NULL, NULL);

  self = g_object_new (VIGIL_TYPE_PLAYBACK_FACTORY, NULL);
  self->catalog = g_atomic_rc_box_new0 (Catalog);
  self->catalog->camera = g_strdup (camera);
  self->catalog->lister = lister;
  self->catalog->user_data = user_data;
  self->catalog->notify = notify;
  return self;
}
