-- Whose subject an event key belongs to, so a controller's client opens only its own controller's
-- events. NULL: made before controllers, the default controller's (see default_controller).
ALTER TABLE event_keys ADD COLUMN controller_id text;
