/* SPDX-License-Identifier: GPL-2.0-or-later */
/* VigilBus: a connection of vigild's own, reconnected with back-off. Each
 * attempt looks the bus address up again (a restarted bus may have moved),
 * connects asynchronously, exports the objects before asking for the name
 * (a client that sees the name finds them), and on the connection's
 * "closed" or the name's loss closes it and waits for the next attempt. */
#include "vigil-bus.h"

#include "vigil-backoff.h"
#include "vigil-service.h"

struct _VigilBus
{
  GObject          parent_instance;
  VigilDaemon     *daemon;
  GBusType         bus_type;
  GDBusConnection *connection;    /* NULL between attempts */
  GCancellable    *cancellable;   /* of the connection attempt under way */
  VigilService    *service;       /* the objects on @connection */
  guint            owner_id;
  gboolean         serving;       /* the name is ours */
  gboolean         warned;        /* the current outage has been logged */
  gboolean         stopped;
  VigilBackoff     backoff;
  GRand           *rand;
  guint            retry_id;
};

G_DEFINE_FINAL_TYPE (VigilBus, vigil_bus, G_TYPE_OBJECT)

static void connect_to_bus (VigilBus *self);

static const gchar *
bus_label (VigilBus *self)
{
  return self->bus_type == G_BUS_TYPE_SESSION ? "session" : "system";
}

static gboolean
on_retry (gpointer user_data)
{
  VigilBus *self = user_data;

  self->retry_id = 0;
  connect_to_bus (self);
  return G_SOURCE_REMOVE;
}

/* Drops the name, the objects and the connection. */
static void
leave_bus (VigilBus *self)
{
  if (self->owner_id != 0)
    g_bus_unown_name (self->owner_id);
  self->owner_id = 0;
  self->serving = FALSE;
  g_clear_object (&self->service);
  if (self->connection != NULL)
    {
      g_signal_handlers_disconnect_by_data (self->connection, self);
      if (!g_dbus_connection_is_closed (self->connection))
        g_dbus_connection_close (self->connection, NULL, NULL, NULL);
      g_clear_object (&self->connection);
    }
}

/* Drops the objects and the connection, and tries again later. */
static void
retry_later (VigilBus *self)
{
  guint delay_ms = vigil_backoff_next_delay_ms (&self->backoff, self->rand);

  leave_bus (self);
  g_debug ("D-Bus: next attempt in %u ms", delay_ms);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  self->retry_id = g_timeout_add (delay_ms, on_retry, self);
}

static void
on_connection_closed (GDBusConnection *connection, gboolean remote_peer_vanished, GError *error, VigilBus *self)
{
  g_warning ("lost the %s bus (%s); recording continues, reconnecting", bus_label (self),
             error != NULL ? error->message : "closed");
  self->warned = TRUE;
  retry_later (self);
}

static void
on_name_acquired (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VigilBus *self = user_data;

  self->serving = TRUE;
  self->warned = FALSE;
  vigil_backoff_reset (&self->backoff);
  g_message ("D-Bus interface %s on the %s bus", name, bus_label (self));
}

/* Recording matters more than the interface: without the name vigild
 * keeps recording, says why operators cannot reach it, and tries again. */
static void
on_name_lost (GDBusConnection *connection, const gchar *name, gpointer user_data)
{
  VigilBus *self = user_data;

  if (connection == NULL || g_dbus_connection_is_closed (connection))
    return;   /* "closed" says so and retries */
  if (!self->warned)
    g_warning ("D-Bus name %s is owned by another process (a second vigild?); recording continues, "
               "trying again", name);
  self->warned = TRUE;
  retry_later (self);
}

/* Holds a reference on @self (the attempt's) until it is done. */
static void
on_connected (GObject *source, GAsyncResult *result, gpointer user_data)
{
  g_autoptr(VigilBus) self = user_data;
  g_autoptr(GError) error = NULL;
  GDBusConnection *connection = g_dbus_connection_new_for_address_finish (result, &error);

  if (self->stopped)
    {
      g_clear_object (&connection);
      return;
    }
  g_clear_object (&self->cancellable);
  if (connection == NULL)
    {
      if (!self->warned)
        g_warning ("cannot connect to the %s bus: %s; recording continues without the D-Bus interface, "
                   "trying again", bus_label (self), error->message);
      self->warned = TRUE;
      retry_later (self);
      return;
    }
  self->connection = connection;
  g_dbus_connection_set_exit_on_close (connection, FALSE);
  g_signal_connect (connection, "closed", G_CALLBACK (on_connection_closed), self);
  self->service = vigil_service_new (self->daemon, connection,
                                     self->bus_type == G_BUS_TYPE_SESSION ? VIGIL_AUTHORITY_OWNER
                                                                          : VIGIL_AUTHORITY_POLKIT,
                                     &error);
  if (self->service == NULL)
    {
      g_warning ("D-Bus interface not available: %s; recording continues", error->message);
      self->warned = TRUE;
      retry_later (self);
      return;
    }
  self->owner_id = g_bus_own_name_on_connection (connection, VIGIL_DBUS_NAME, G_BUS_NAME_OWNER_FLAGS_DO_NOT_QUEUE,
                                                 on_name_acquired, on_name_lost, self, NULL);
}

static void
connect_to_bus (VigilBus *self)
{
  g_autoptr(GError) error = NULL;
  g_autofree gchar *address = g_dbus_address_get_for_bus_sync (self->bus_type, NULL, &error);

  if (address == NULL)
    {
      if (!self->warned)
        g_warning ("no %s bus: %s; recording continues without the D-Bus interface, trying again",
                   bus_label (self), error->message);
      self->warned = TRUE;
      retry_later (self);
      return;
    }
  self->cancellable = g_cancellable_new ();
  g_dbus_connection_new_for_address (address,
                                     G_DBUS_CONNECTION_FLAGS_AUTHENTICATION_CLIENT
                                     | G_DBUS_CONNECTION_FLAGS_MESSAGE_BUS_CONNECTION,
                                     NULL, self->cancellable, on_connected, g_object_ref (self));
}

void
vigil_bus_stop (VigilBus *self)
{
  g_return_if_fail (VIGIL_IS_BUS (self));
  self->stopped = TRUE;
  g_cancellable_cancel (self->cancellable);
  g_clear_object (&self->cancellable);
  g_clear_handle_id (&self->retry_id, g_source_remove);
  leave_bus (self);
}

gboolean
vigil_bus_is_serving (VigilBus *self)
{
  g_return_val_if_fail (VIGIL_IS_BUS (self), FALSE);
  return self->serving;
}

static void
vigil_bus_dispose (GObject *object)
{
  VigilBus *self = VIGIL_BUS (object);

  vigil_bus_stop (self);
  g_clear_object (&self->daemon);
  g_clear_pointer (&self->rand, g_rand_free);
  G_OBJECT_CLASS (vigil_bus_parent_class)->dispose (object);
}

static void
vigil_bus_class_init (VigilBusClass *klass)
{
  G_OBJECT_CLASS (klass)->dispose = vigil_bus_dispose;
}

static void
vigil_bus_init (VigilBus *self)
{
  self->rand = g_rand_new ();
}

VigilBus *
vigil_bus_new (VigilDaemon *daemon, GBusType bus_type)
{
  VigilBus *self = g_object_new (VIGIL_TYPE_BUS, NULL);

  g_return_val_if_fail (VIGIL_IS_DAEMON (daemon), NULL);
  self->daemon = g_object_ref (daemon);
  self->bus_type = bus_type;
  connect_to_bus (self);
  return self;
}
