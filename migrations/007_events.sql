-- Events and the fleet leader. An event is delivered to every agent the
-- routing table names, by the leader, through a Redis stream (at least once);
-- each agent's delivery is a row here. The leader's fencing token and the
-- periodic job runs are kept here too, so that a deposed leader cannot claim
-- a job or write a delivery after its successor did.
CREATE TABLE event_routes (
    event_type  text NOT NULL CHECK (event_type ~ '^[a-z][a-z0-9_]{0,63}$'),
    agent       text NOT NULL,
    PRIMARY KEY (event_type, agent)
);
-- The seed's event routing table.
INSERT INTO event_routes (event_type, agent) VALUES
    ('authentication_failure', 'mcp-security-auditor'),
    ('authentication_failure', 'mcp-debugger'),
    ('performance_degradation', 'mcp-performance-optimizer'),
    ('performance_degradation', 'mcp-debugger'),
    ('deployment_status', 'mcp-deployment-specialist'),
    ('deployment_status', 'mcp-orchestrator'),
    ('protocol_violation', 'mcp-protocol-expert'),
    ('protocol_violation', 'mcp-debugger');

CREATE TABLE events (
    id          uuid PRIMARY KEY,
    type        text NOT NULL,
    data        jsonb NOT NULL DEFAULT '{}',
    tenant_id   text,                        -- NULL: a platform event
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    enqueued_at timestamptz                  -- on the Redis stream; NULL: the leader puts it there
);
CREATE INDEX events_unqueued ON events (created_at) WHERE enqueued_at IS NULL;

CREATE TABLE event_deliveries (
    event_id     uuid NOT NULL REFERENCES events(id) ON DELETE CASCADE,
    agent        text NOT NULL,
    status       text NOT NULL DEFAULT 'pending'
                 CHECK (status IN ('pending', 'retrying', 'delivered', 'failed')),
    attempts     integer NOT NULL DEFAULT 0,
    last_error   text,
    server_id    uuid,                       -- the server that took the last attempt
    next_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at timestamptz,
    PRIMARY KEY (event_id, agent)
);

-- One row: the highest fencing token that has written. A leader's write
-- first raises it to its own token and fails when it is already higher.
CREATE TABLE leader_fence (
    id      integer PRIMARY KEY CHECK (id = 1),
    token   bigint NOT NULL,
    holder  text NOT NULL DEFAULT '',
    at      timestamptz NOT NULL DEFAULT now()
);
INSERT INTO leader_fence (id, token) VALUES (1, 0);

-- Every periodic job run, claimed under the fence row's lock: at most one
-- per job and period (period = epoch milliseconds / the job's period).
CREATE TABLE leader_job_runs (
    id          bigserial PRIMARY KEY,
    job         text NOT NULL,
    period      bigint NOT NULL,
    token       bigint NOT NULL,
    holder      text NOT NULL,
    started_at  timestamptz NOT NULL DEFAULT now(),
    finished_at timestamptz,
    status      text NOT NULL DEFAULT 'running' CHECK (status IN ('running', 'ok', 'error')),
    detail      jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX leader_job_runs_job_period ON leader_job_runs (job, period);
