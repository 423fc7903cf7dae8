-- Orchestration: the specialist agents, the routing matrix (task type ->
-- agent) and the delegated tasks. An agent is served by the registered
-- servers that name it in agent_roles; its live load is kept in Redis.
CREATE TABLE agents (
    name        text PRIMARY KEY CHECK (name ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
    description text NOT NULL DEFAULT '',
    status      text NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'inactive', 'draining')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE routing_rules (
    task_type   text PRIMARY KEY CHECK (task_type ~ '^[a-z0-9][a-z0-9_]{0,63}$'),
    agent       text NOT NULL REFERENCES agents(name),
    kind        text NOT NULL DEFAULT 'task' CHECK (kind IN ('task', 'quality_check')),
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE tasks (
    id            uuid PRIMARY KEY,
    type          text NOT NULL,
    agent         text NOT NULL,
    server_id     uuid,
    status        text NOT NULL CHECK (status IN ('running', 'completed', 'failed', 'timed_out')),
    requested_by  text NOT NULL,
    tenant_id     text,
    context       jsonb NOT NULL DEFAULT '{}',
    result        jsonb,
    error         text,
    created_at    timestamptz NOT NULL DEFAULT now(),
    started_at    timestamptz,
    finished_at   timestamptz
);
CREATE INDEX tasks_tenant_created ON tasks (tenant_id, created_at);
CREATE INDEX tasks_running ON tasks (status) WHERE status = 'running';

-- The seed's six specialists.
INSERT INTO agents (name, description) VALUES
    ('mcp-security-auditor', 'Security and authentication: OAuth, JWT validation, roles, audit trail'),
    ('fastmcp-specialist', 'MCP server implementation: OAuth proxy, middleware, structured responses'),
    ('mcp-debugger', 'Debugging and troubleshooting across both planes'),
    ('mcp-deployment-specialist', 'Deployment and infrastructure: containers, environment, production'),
    ('mcp-performance-optimizer', 'Performance: database queries, Redis caching, token and middleware speed'),
    ('mcp-protocol-expert', 'Protocol compliance: MCP specification, JSON-RPC, transports, capabilities');

-- The seed's routing matrix: 24 task types.
INSERT INTO routing_rules (task_type, agent) VALUES
    ('azure_oauth_setup', 'mcp-security-auditor'),
    ('jwt_token_validation', 'mcp-security-auditor'),
    ('role_based_access', 'mcp-security-auditor'),
    ('audit_trail_analysis', 'mcp-security-auditor'),
    ('oauth_proxy_integration', 'fastmcp-specialist'),
    ('middleware_chain_setup', 'fastmcp-specialist'),
    ('structured_responses', 'fastmcp-specialist'),
    ('type_caching_optimization', 'fastmcp-specialist'),
    ('dual_server_debugging', 'mcp-debugger'),
    ('authentication_failures', 'mcp-debugger'),
    ('middleware_issues', 'mcp-debugger'),
    ('database_connection_issues', 'mcp-debugger'),
    ('azure_container_deployment', 'mcp-deployment-specialist'),
    ('docker_orchestration', 'mcp-deployment-specialist'),
    ('environment_configuration', 'mcp-deployment-specialist'),
    ('production_deployment', 'mcp-deployment-specialist'),
    ('database_query_optimization', 'mcp-performance-optimizer'),
    ('redis_caching_strategy', 'mcp-performance-optimizer'),
    ('oauth_token_performance', 'mcp-performance-optimizer'),
    ('middleware_performance', 'mcp-performance-optimizer'),
    ('mcp_specification_compliance', 'mcp-protocol-expert'),
    ('json_rpc_optimization', 'mcp-protocol-expert'),
    ('transport_layer_tuning', 'mcp-protocol-expert'),
    ('capability_negotiation', 'mcp-protocol-expert');

-- The seed's quality-check routes (checks of the quality gates).
INSERT INTO routing_rules (task_type, agent, kind) VALUES
    ('azure_oauth_validation', 'mcp-security-auditor', 'quality_check'),
    ('jwt_token_validation_test', 'mcp-security-auditor', 'quality_check'),
    ('fastmcp_server_health', 'fastmcp-specialist', 'quality_check'),
    ('database_performance_validation', 'mcp-performance-optimizer', 'quality_check'),
    ('dual_server_communication_test', 'mcp-debugger', 'quality_check');
