-- Catalog, fourth step: resource templates as upstreams list them
-- (resources/templates/list), kept like tools, prompts and resources.
CREATE TABLE server_resource_templates (
    server_id     uuid NOT NULL REFERENCES servers(id) ON DELETE CASCADE,
    uri_template  text NOT NULL,
    name          text NOT NULL DEFAULT '',
    title         text,
    description   text NOT NULL DEFAULT '',
    mime_type     text,
    schema_hash   text NOT NULL,
    first_seen    timestamptz NOT NULL DEFAULT now(),
    last_seen     timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (server_id, uri_template)
);
