/* SPDX-License-Identifier: GPL-2.0-or-later */
#include "vigil-rate-limit.h"

#define MAX_KEYS 1024

typedef struct {
  gint64 tokens_at_us;   /* when the bucket held @tokens */
  guint  tokens;
} Bucket;

struct _VigilRateLimit
{
  GObject     parent_instance;
  guint       burst;
  gint64      refill_us;
  GHashTable *buckets;    /* gint64* key → Bucket* */
};

G_DEFINE_FINAL_TYPE (VigilRateLimit, vigil_rate_limit, G_TYPE_OBJECT)

/* Brings @bucket up to @now_us; the tokens never exceed the burst. */
static void
refill (VigilRateLimit *self, Bucket *bucket, gint64 now_us)
{
  gint64 earned;

  if (now_us <= bucket->tokens_at_us)
    return;
  earned = (now_us - bucket->tokens_at_us) / self->refill_us;
  if (earned >= (gint64) (self->burst - bucket->tokens))
    {
      bucket->tokens = self->burst;
      bucket->tokens_at_us = now_us;
      return;
    }
  bucket->tokens += (guint) earned;
  bucket->tokens_at_us += earned * self->refill_us;
}

typedef struct {
  VigilRateLimit *self;
  gint64          now_us;
} FullCheck;

static gboolean
is_full (gpointer key, gpointer value, gpointer user_data)
{
  FullCheck *check = user_data;
  Bucket *bucket = value;

  refill (check->self, bucket, check->now_us);
  return bucket->tokens == check->self->burst;
}

gboolean
vigil_rate_limit_take (VigilRateLimit *self, gint64 key, gint64 now_us, guint *retry_ms)
{
  Bucket *bucket;

  g_return_val_if_fail (VIGIL_IS_RATE_LIMIT (self), FALSE);

  bucket = g_hash_table_lookup (self->buckets, &key);
  if (bucket == NULL)
    {
      if (g_hash_table_size (self->buckets) >= MAX_KEYS)
        {
          FullCheck check = { self, now_us };

          g_hash_table_foreach_remove (self->buckets, is_full, &check);
        }
      bucket = g_new0 (Bucket, 1);
      bucket->tokens = self->burst;
      bucket->tokens_at_us = now_us;
      g_hash_table_insert (self->buckets, g_memdup2 (&key, sizeof key), bucket);
    }
  refill (self, bucket, now_us);
  if (bucket->tokens == 0)
    {
      if (retry_ms != NULL)
        *retry_ms = (guint) MAX (1, (bucket->tokens_at_us + self->refill_us - now_us + 999) / 1000);
      return FALSE;
    }
  /* A full bucket's clock restarts from now, so that idle time is not
   * banked beyond the burst. */
  if (bucket->tokens == self->burst)
    bucket->tokens_at_us = now_us;
  bucket->tokens--;
  return TRUE;
}

static void
vigil_rate_limit_finalize (GObject *object)
{
  g_hash_table_unref (VIGIL_RATE_LIMIT (object)->buckets);
  G_OBJECT_CLASS (vigil_rate_limit_parent_class)->finalize (object);
}

static void
vigil_rate_limit_class_init (VigilRateLimitClass *klass)
{
  G_OBJECT_CLASS (klass)->finalize = vigil_rate_limit_finalize;
}

static void
vigil_rate_limit_init (VigilRateLimit *self)
{
  self->buckets = g_hash_table_new_full (g_int64_hash, g_int64_equal, g_free, g_free);
}

VigilRateLimit *
vigil_rate_limit_new (guint burst, guint refill_ms)
{
  VigilRateLimit *self = g_object_new (VIGIL_TYPE_RATE_LIMIT, NULL);

  g_return_val_if_fail (burst > 0 && refill_ms > 0, self);
  self->burst = burst;
  self->refill_us = (gint64) refill_ms * 1000;
  return self;
}
