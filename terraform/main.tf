# Helios in one AWS account: `terraform apply` after `./package.sh` (see docs/deploy.md).
#
#   API Gateway ─► ingest ─► RDS (facts, outbox) + S3 (raw) ─► SNS events ─┬─► SQS decide ─► decide ─► Step Functions decision ─► notify/advise/record
#                  query, ack                                              └─► SQS expect ─► expect ─► Step Functions expectation
#                                                                          └─► SQS push ─► push ─► API Gateway WebSocket (the dashboard's live feed)
#   Scheduler ─► relay (outbox)            migrate (on deploy)             DynamoDB: idempotency, counters, expectation state
#   CloudFront ─► S3 (the dashboard's files), /v1/* ─► API Gateway

data "aws_caller_identity" "current" {}
data "aws_region" "current" {}
data "aws_partition" "current" {}

locals {
  account   = data.aws_caller_identity.current.account_id
  region    = data.aws_region.current.name
  partition = data.aws_partition.current.partition

  statemachines_dir = "${path.module}/../statemachines"
  migrations_dir    = "${path.module}/../shared/store/migrations/postgres"

  # State machine ARNs by name, known before the machines exist: the machines invoke
  # functions that start them (expect), so neither may wait for the other.
  machine_names = [for f in fileset(local.statemachines_dir, "*.asl.json") : trimsuffix(f, ".asl.json")]
  machine_arns = {
    for m in local.machine_names : m => "arn:${local.partition}:states:${local.region}:${local.account}:stateMachine:${var.name}-${m}"
  }
  execution_arns = [for m in local.machine_names : "arn:${local.partition}:states:${local.region}:${local.account}:execution:${var.name}-${m}:*"]

  db_secret_arn = module.database.secret_arn

  # The database role every function but migrate logs in as, with IAM authentication
  # tokens: it reads and writes rows and cannot change the schema (migrate grants it).
  db_app_user = "helios_app"

  # What every function that uses the store and the event ports is given.
  # The certificate the functions check: the instance's is signed by the RDS CA (its bundle
  # is in the config layer); RDS Proxy's by Amazon Trust Services, whose roots the
  # functions know without a file.
  store_env = merge({
    HELIOS_DB_IAM_USER      = local.db_app_user
    HELIOS_DB_HOST          = var.db_proxy ? module.database.proxy_endpoint : module.database.host
    HELIOS_DB_PORT          = tostring(module.database.port)
    HELIOS_DB_NAME          = module.database.name
    HELIOS_BUCKET           = module.storage.bucket
    HELIOS_EVENTS_TOPIC_ARN = module.messaging.topic_arn
    HELIOS_TABLE            = module.storage.table
  }, var.db_proxy ? {} : { HELIOS_DB_CA_FILE = "/opt/rds-ca.pem" })

  workflows_env = { HELIOS_STATE_MACHINES = jsonencode(local.machine_arns) }
  rules_env     = { HELIOS_RULES = "/opt/rules" }

  # migrate alone connects as the master user, whose password RDS keeps in a secret.
  read_db_secret = { actions = ["secretsmanager:GetSecretValue"], resources = [local.db_secret_arn] }
  db_connect = {
    actions   = ["rds-db:connect"]
    resources = ["arn:${local.partition}:rds-db:${local.region}:${local.account}:dbuser:${var.db_proxy ? module.database.proxy_resource_id : module.database.resource_id}/${local.db_app_user}"]
  }
  # What each function's ports call (helios_runtime::lambda::Port; tests/deployment.rs
  # checks every function's statements against the ports its main.rs declares).
  kv_access = {
    actions   = ["dynamodb:GetItem", "dynamodb:UpdateItem"]
    resources = [module.storage.table_arn]
  }
  publish_events = { actions = ["sns:Publish"], resources = [module.messaging.topic_arn] }
  archive_write  = { actions = ["s3:PutObject"], resources = ["${module.storage.bucket_arn}/*"] }
  consume = {
    for q in ["decide", "expect", "push"] : q => {
      actions   = ["sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"]
      resources = [module.messaging.queue_arns[q]]
    }
  }

  # Database connections (docs/deploy.md, "Connections"). Each instance of a function keeps a
  # pool of db_pool[f] (a Lambda instance serves one invocation at a time; the queue
  # consumers work a batch's messages concurrently, so two); at most concurrency[f]
  # instances run at once. Without RDS Proxy the sum of concurrency × pool must stay under
  # what the database leaves the functions: max_connections, less the 3 slots PostgreSQL
  # keeps for superusers, the 2 RDS keeps for itself, 1 for migrate and 5 for people.
  db_pool             = { ingest = 1, query = 1, ack = 1, relay = 1, decide = 2, expect = 2, record = 1, advise = 1, push = 1, ops = 1, archive = 1 }
  concurrency         = merge({ push = 4, ops = 2, archive = 1 }, var.function_concurrency, { decide = var.decide_max_concurrency })
  db_connections_used = sum([for f, n in local.db_pool : n * local.concurrency[f]])

  # RDS's default max_connections, LEAST(DBInstanceClassMemory/9531392, 5000), with the
  # memory the instance leaves PostgreSQL taken as 80% of the class's (a db.t4g.micro's
  # 1 GiB gives 90; `SHOW max_connections` there says about as much).
  class_parts = split(".", var.db_instance_class)
  class_gib = lookup({
    micro     = 1, small = 2, medium = 4, large = 8, xlarge = 16, "2xlarge" = 32, "4xlarge" = 64,
    "8xlarge" = 128, "12xlarge" = 192, "16xlarge" = 256, "24xlarge" = 384,
  }, local.class_parts[length(local.class_parts) - 1], 0) * (startswith(local.class_parts[1], "r") ? 2 : startswith(local.class_parts[1], "x") ? 4 : 1)
  db_max_connections           = var.db_max_connections > 0 ? var.db_max_connections : floor(min(local.class_gib * 1073741824 * 0.8 / 9531392, 5000))
  db_connections_for_functions = local.db_max_connections - 3 - 2 - 1 - 5

  # Reserved when asked; behind RDS Proxy only relay, archive and decide still are (relay and
  # archive must each run alone; decide's bound is the workflows' pace), as before the proxy.
  reserved_concurrency = {
    for f in keys(local.db_pool) : f => (
      !var.reserve_concurrency ? -1 :
      var.db_proxy ? (f == "relay" || f == "archive" ? 1 : f == "decide" ? var.decide_max_concurrency : -1) :
      local.concurrency[f]
    )
  }

  zip = { for f in local.function_names : f => "${var.artifacts_dir}/${f}/bootstrap.zip" }
  # The queue consumers' timeouts, which their queues' visibility timeouts follow.
  consumer_timeout = { decide = 30, expect = 30, push = 15 }
  function_names = [
    "ingest", "query", "ack", "relay", "decide", "expect", "notify", "record", "advise", "push", "migrate", "ops", "archive",
  ]

  # One Lambda per binary of `functions/` (the `record` crate has two: `record` and `ack`).
  functions = {
    ingest = {
      description          = "POST /v1/events and /v1/hooks/{source}: authenticate, normalise, check against the schemas, archive, record, publish; the schema registry's writes"
      zip                  = local.zip.ingest
      memory               = 256
      timeout              = 10
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.ingest
      environment = merge(local.store_env, {
        HELIOS_SOURCE_SECRETS_ARN = aws_secretsmanager_secret.sources.arn
        # Schema discovery: a new (source, type) registers the schema of its first event.
        HELIOS_DISCOVER_SCHEMAS = tostring(var.discover_schemas)
      })
      statements = [
        local.db_connect,
        { actions = ["secretsmanager:GetSecretValue"], resources = [aws_secretsmanager_secret.sources.arn] },
        local.archive_write,
        local.publish_events,
        # The GitHub replay guard: a conditional write of a body's hash, and a read of it.
        local.kv_access,
      ]
    }
    query = {
      description          = "GET /v1/…: events, decisions with their explanation, timelines, stats, executions, the rule set (and POST /v1/rules/try)"
      zip                  = local.zip.query
      memory               = 256
      timeout              = 10
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.query
      # The objectives of GET /v1/slo, as terraform's alarms read them.
      environment = merge(local.store_env, local.workflows_env, local.rules_env, {
        HELIOS_SLO = jsonencode(var.slo)
      })
      statements = [
        local.db_connect,
        { actions = ["states:ListExecutions"], resources = values(local.machine_arns) },
        { actions = ["states:DescribeExecution", "states:GetExecutionHistory"], resources = local.execution_arns },
      ]
    }
    ack = {
      description          = "POST /v1/decisions/{id}/ack: answers the workflow waiting for an acknowledgement"
      zip                  = local.zip.ack
      memory               = 256
      timeout              = 10
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.ack
      environment          = merge(local.store_env, local.workflows_env)
      statements = [
        local.db_connect,
        # SendTaskSuccess takes no resource: a task token names its execution.
        { actions = ["states:SendTaskSuccess"], resources = ["*"] },
      ]
    }
    relay = {
      description          = "Publishes the facts whose publish did not complete (the outbox)"
      zip                  = local.zip.relay
      memory               = 256
      timeout              = 60
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.relay
      environment          = local.store_env
      statements           = [local.db_connect, local.publish_events]
    }
    archive = {
      description          = "Writes what the store recorded since its last run (facts, decisions, outcomes) as Parquet under analytics/ in the archive bucket, for Athena"
      zip                  = local.zip.archive
      memory               = 512
      timeout              = 300
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.archive
      environment          = local.store_env
      statements = [
        local.db_connect,
        # Its cursors: one item per stream, written conditionally.
        local.kv_access,
        { actions = ["s3:PutObject"], resources = ["${module.storage.bucket_arn}/analytics/*"] },
      ]
    }
    decide = {
      description          = "Decides each event with the rule set, stores the decision, starts its workflows"
      zip                  = local.zip.decide
      memory               = 512
      timeout              = local.consumer_timeout.decide
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.decide
      environment          = merge(local.store_env, local.workflows_env, local.rules_env)
      statements = [
        local.db_connect,
        local.kv_access,
        local.consume.decide,
        { actions = ["states:StartExecution"], resources = [local.machine_arns.decision] },
      ]
    }
    expect = {
      description          = "Keeps expectations (heartbeats, sequences, reconciliations) and emits what was missed"
      zip                  = local.zip.expect
      memory               = 256
      timeout              = local.consumer_timeout.expect
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.expect
      environment          = merge(local.store_env, local.workflows_env, local.rules_env)
      statements = [
        local.db_connect,
        local.kv_access,
        local.consume.expect,
        local.archive_write,
        local.publish_events,
        { actions = ["states:StartExecution"], resources = [local.machine_arns.expectation] },
      ]
    }
    notify = {
      description          = "Workflow task: signed webhooks (Slack-compatible) to each channel"
      zip                  = local.zip.notify
      memory               = 128
      timeout              = 30
      vpc                  = false
      config_layer         = false
      reserved_concurrency = -1
      environment          = { HELIOS_CHANNELS_SECRET_ARN = aws_secretsmanager_secret.channels.arn }
      statements = [
        { actions = ["secretsmanager:GetSecretValue"], resources = [aws_secretsmanager_secret.channels.arn] },
        { actions = ["sns:Publish"], resources = [aws_sns_topic.notifications.arn] },
      ]
    }
    record = {
      description          = "Workflow task: records what a decision's workflow did"
      zip                  = local.zip.record
      memory               = 256
      timeout              = 10
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.record
      environment          = local.store_env
      statements           = [local.db_connect]
    }
    advise = {
      description          = "Workflow task: an advisory note from similar past decisions, never part of the decision"
      zip                  = local.zip.advise
      memory               = 256
      timeout              = 20
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.advise
      environment          = merge(local.store_env, var.bedrock_model_id == "" ? {} : { HELIOS_BEDROCK_MODEL_ID = var.bedrock_model_id })
      statements = concat([local.db_connect], var.bedrock_model_id == "" ? [] : [{
        actions = ["bedrock:InvokeModel"]
        # The configured model, or the inference profile and the model it routes to in the
        # regions of its geography (a profile's id is the model's behind a `us.`, `eu.`, …).
        resources = [
          "arn:${local.partition}:bedrock:*::foundation-model/${replace(var.bedrock_model_id, "/^(us|eu|apac|us-gov|global|jp|au|ca)\\./", "")}",
          "arn:${local.partition}:bedrock:${local.region}:${local.account}:inference-profile/${var.bedrock_model_id}",
        ]
      }])
    }
    push = {
      description          = "The dashboard's live feed: $connect checks the key, and each batch of the fan-out sends what the store recorded to every open WebSocket"
      zip                  = local.zip.push
      memory               = 256
      timeout              = local.consumer_timeout.push
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.push
      environment = merge(local.store_env, {
        # The stage's callback URL, where the Management API reaches its connections.
        HELIOS_SOCKET_ENDPOINT = "https://${module.live.api_id}.execute-api.${local.region}.amazonaws.com/${module.live.stage}"
      })
      statements = [
        local.db_connect,
        # The open connections and the feed's position are key-value items.
        local.kv_access,
        local.consume.push,
        { actions = ["execute-api:ManageConnections"], resources = ["${module.live.execution_arn}/${module.live.stage}/POST/@connections/*"] },
      ]
    }
    ops = {
      description          = "What an operator does from the dashboard: GET /v1/health, GET /v1/dead-letters, POST /v1/dead-letters/{queue}/redrive (SQS's StartMessageMoveTask), POST /v1/replay"
      zip                  = local.zip.ops
      memory               = 256
      timeout              = 30
      vpc                  = true
      config_layer         = true
      reserved_concurrency = local.reserved_concurrency.ops
      environment = merge(local.store_env, local.workflows_env, {
        # Each event queue and its dead-letter queue, by name.
        HELIOS_QUEUES = jsonencode({ for q, n in module.messaging.queue_names : n => module.messaging.dlq_names[q] })
      })
      statements = [
        local.db_connect,
        local.publish_events,
        { actions = ["states:ListExecutions", "states:DescribeExecution", "states:GetExecutionHistory"], resources = values(local.machine_arns) },
        # Depths and samples of every queue, and the redrive: a move task reads and deletes
        # from the dead-letter queue and sends to its queue (where SQS has no move task, the
        # function moves the messages itself, with the same calls).
        {
          actions = [
            "sqs:GetQueueUrl", "sqs:GetQueueAttributes", "sqs:ReceiveMessage", "sqs:ChangeMessageVisibility",
            "sqs:StartMessageMoveTask", "sqs:SendMessage", "sqs:DeleteMessage",
          ]
          resources = concat(values(module.messaging.queue_arns), values(module.messaging.dlq_arns))
        },
      ]
    }
    migrate = {
      description          = "Applies the store's migrations on deploy; makes a deployment's first API key"
      zip                  = local.zip.migrate
      memory               = 256
      timeout              = 120
      vpc                  = true
      config_layer         = true
      reserved_concurrency = -1
      # The instance itself, never the proxy: the master user is not the proxy's.
      environment = merge(
        { for k, v in local.store_env : k => v if k != "HELIOS_DB_IAM_USER" },
        {
          HELIOS_DB_HOST       = module.database.host
          HELIOS_DB_CA_FILE    = "/opt/rds-ca.pem"
          HELIOS_DB_SECRET_ARN = local.db_secret_arn
          HELIOS_DB_APP_ROLE   = local.db_app_user
        },
        var.db_proxy ? { HELIOS_DB_APP_PASSWORD_SECRET_ARN = module.database.app_secret_arn } : {},
      )
      statements = [{
        actions   = local.read_db_secret.actions
        resources = concat(local.read_db_secret.resources, var.db_proxy ? [module.database.app_secret_arn] : [])
      }]
    }
  }
}

module "encryption" {
  source = "./modules/encryption"
  name   = var.name
}

module "network" {
  source                          = "./modules/network"
  name                            = var.name
  cidr                            = var.vpc_cidr
  az_count                        = var.az_count
  interface_endpoints_in_every_az = var.interface_endpoints_in_every_az
  proxy                           = var.db_proxy
  gateway_resources = {
    s3       = [module.storage.bucket_arn, "${module.storage.bucket_arn}/*"]
    dynamodb = [module.storage.table_arn]
  }
  # advise reaches Bedrock from the VPC when it writes notes with a model.
  interface_services = concat(["sns", "sqs", "states", "secretsmanager"], var.bedrock_model_id == "" ? [] : ["bedrock-runtime"])
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = var.log_retention_days
}

module "storage" {
  source                    = "./modules/storage"
  name                      = var.name
  kms_key_arn               = module.encryption.key_arn
  archive_ia_after_days     = var.archive_ia_after_days
  archive_expire_after_days = var.archive_expire_after_days
  force_destroy             = var.force_destroy
}

module "messaging" {
  source             = "./modules/messaging"
  name               = var.name
  kms_key_arn        = module.encryption.key_arn
  max_receives       = var.max_receives
  visibility_timeout = { for q, t in local.consumer_timeout : q => 6 * t }
  # The event types the rule set's expectations watch (`helios rules filter-policy`,
  # written by package.sh); every event without the file.
  filter_policies = fileexists("${var.artifacts_dir}/expect-filter-policy.json") ? {
    expect = file("${var.artifacts_dir}/expect-filter-policy.json")
  } : {}
}

module "database" {
  source                = "./modules/database"
  proxy                 = var.db_proxy
  proxy_security_group  = module.network.proxy_security_group_id
  app_user              = local.db_app_user
  name                  = var.name
  subnet_ids            = module.network.private_subnet_ids
  security_group_id     = module.network.database_security_group_id
  kms_key_arn           = module.encryption.key_arn
  instance_class        = var.db_instance_class
  engine_version        = var.db_engine_version
  allocated_storage     = var.db_allocated_storage
  multi_az              = var.db_multi_az
  backup_retention_days = var.db_backup_retention_days
  force_destroy         = var.force_destroy
  log_retention_days    = var.log_retention_days
}

# The rule set and the RDS certificate bundle, under /opt: HELIOS_RULES=/opt/rules,
# HELIOS_DB_CA_FILE=/opt/rds-ca.pem.
resource "aws_lambda_layer_version" "config" {
  layer_name               = "${var.name}-config"
  filename                 = "${var.artifacts_dir}/config.zip"
  source_code_hash         = filebase64sha256("${var.artifacts_dir}/config.zip")
  compatible_runtimes      = ["provided.al2023"]
  compatible_architectures = [var.architecture]
}

# `migrate` first, on its own: it is made and invoked before any other function is made or
# changed (module.functions waits on its invocation), so new code never meets an old schema.
# Each function with its pool size (HELIOS_DB_POOL) when it reaches the database.
locals {
  deployed_functions = {
    for k, f in local.functions : k => merge(f, {
      environment = merge(f.environment, contains(keys(local.db_pool), k) ? { HELIOS_DB_POOL = tostring(local.db_pool[k]) } : {})
    })
  }
}

# Without RDS Proxy, the functions' connections must fit the database's: refused at plan
# with the arithmetic when they cannot.
resource "terraform_data" "connection_budget" {
  input = {
    max_connections = local.db_max_connections
    for_functions   = local.db_connections_for_functions
    used            = local.db_connections_used
  }

  lifecycle {
    precondition {
      condition     = var.db_proxy || !var.reserve_concurrency || local.db_connections_used <= local.db_connections_for_functions
      error_message = "The functions could open ${local.db_connections_used} database connections (the sum of function_concurrency × pool, docs/deploy.md), and ${var.db_instance_class} leaves them ${local.db_connections_for_functions} (max_connections ${local.db_max_connections}, less 11 reserved). Lower function_concurrency or decide_max_concurrency, take a larger instance class, or set db_proxy = true."
    }
  }
}

check "connections_are_bounded" {
  assert {
    condition     = var.db_proxy || var.reserve_concurrency
    error_message = "Neither reserve_concurrency nor db_proxy is set: nothing bounds the functions' database connections, and under load the database refuses new ones (too many clients). Set db_proxy = true (docs/deploy.md, Connections)."
  }
}

module "migrate" {
  source             = "./modules/functions"
  name               = var.name
  functions          = { migrate = local.deployed_functions.migrate }
  architecture       = var.architecture
  config_layer_arn   = aws_lambda_layer_version.config.arn
  kms_key_arn        = module.encryption.key_arn
  subnet_ids         = module.network.private_subnet_ids
  security_group_id  = module.network.functions_security_group_id
  async_failures_arn = module.messaging.async_failures_arn
  log_retention_days = var.log_retention_days
  log_level          = var.log_level
  otlp_endpoint      = var.otlp_endpoint
  otel_layer_arn     = var.otel_layer_arn
}

module "functions" {
  source             = "./modules/functions"
  name               = var.name
  functions          = { for k, f in local.deployed_functions : k => f if k != "migrate" }
  architecture       = var.architecture
  config_layer_arn   = aws_lambda_layer_version.config.arn
  kms_key_arn        = module.encryption.key_arn
  subnet_ids         = module.network.private_subnet_ids
  security_group_id  = module.network.functions_security_group_id
  async_failures_arn = module.messaging.async_failures_arn
  log_retention_days = var.log_retention_days
  log_level          = var.log_level
  otlp_endpoint      = var.otlp_endpoint
  otel_layer_arn     = var.otel_layer_arn
  after              = aws_lambda_invocation.migrate.result
}

# Deployments made before migrate had a module of its own: its resources move, not replaced.
moved {
  from = module.functions.aws_lambda_layer_version.config
  to   = aws_lambda_layer_version.config
}

moved {
  from = module.functions.aws_cloudwatch_log_group.fn["migrate"]
  to   = module.migrate.aws_cloudwatch_log_group.fn["migrate"]
}

moved {
  from = module.functions.aws_iam_role.fn["migrate"]
  to   = module.migrate.aws_iam_role.fn["migrate"]
}

moved {
  from = module.functions.aws_iam_role_policy.fn["migrate"]
  to   = module.migrate.aws_iam_role_policy.fn["migrate"]
}

moved {
  from = module.functions.aws_iam_role_policy_attachment.vpc["migrate"]
  to   = module.migrate.aws_iam_role_policy_attachment.vpc["migrate"]
}

moved {
  from = module.functions.aws_lambda_function.fn["migrate"]
  to   = module.migrate.aws_lambda_function.fn["migrate"]
}

module "workflows" {
  source             = "./modules/workflows"
  name               = var.name
  definitions_dir    = local.statemachines_dir
  function_arns      = module.functions.arns
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = var.log_retention_days
  log_level          = var.workflow_log_level
}

module "api" {
  source = "./modules/api"
  name   = var.name
  routes = {
    "POST /v1/events"         = "ingest"
    "POST /v1/hooks/{source}" = "ingest"
    # The CloudEvents webhook validation handshake (Event Grid's CloudEvents schema).
    "OPTIONS /v1/hooks/{source}"  = "ingest"
    "GET /v1/{proxy+}"            = "query"
    "POST /v1/decisions/{id}/ack" = "ack"
    # What an operator does from the dashboard.
    "GET /v1/health"                        = "ops"
    "GET /v1/dead-letters"                  = "ops"
    "POST /v1/dead-letters/{queue}/redrive" = "ops"
    "POST /v1/replay"                       = "ops"
    "POST /v1/rules/try"                    = "query"
    # The schema registry's writes and the quarantine's releases: the ingest function, whose
    # schema gate they change. Its reads go to the query function with the other reads.
    "POST /v1/schemas/{source}/{type}/versions" = "ingest"
    "POST /v1/schemas/{source}/{type}/check"    = "ingest"
    "PUT /v1/schemas/{source}/{type}/settings"  = "ingest"
    "POST /v1/quarantine/{id}/release"          = "ingest"
    "POST /v1/quarantine/{id}/drop"             = "ingest"
  }
  function_names     = module.functions.names
  invoke_arns        = module.functions.invoke_arns
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = var.log_retention_days
  throttle_rate      = var.api_throttle_rate
  throttle_burst     = var.api_throttle_burst
}

# The dashboard's live feed: a WebSocket API in front of the push function.
module "live" {
  source             = "./modules/live"
  name               = var.name
  kms_key_arn        = module.encryption.key_arn
  log_retention_days = var.log_retention_days
  throttle_rate      = var.api_throttle_rate
  throttle_burst     = var.api_throttle_burst
  push_function_name = module.functions.names.push
  push_invoke_arn    = module.functions.invoke_arns.push
}

# The dashboard: its files in S3 behind CloudFront, which forwards /v1/* to the API.
module "dashboard" {
  source      = "./modules/dashboard"
  name        = var.name
  assets_dir  = "${var.artifacts_dir}/dashboard"
  api_url     = module.api.url
  live_url    = module.live.url
  price_class = var.dashboard_price_class
  web_acl_arn = var.dashboard_web_acl_arn
}

module "schedules" {
  source = "./modules/schedules"
  name   = var.name
  schedules = {
    relay = {
      function_arn = module.functions.arns.relay
      expression   = "rate(1 minute)"
      input        = "{}"
    }
    archive = {
      function_arn = module.functions.arns.archive
      expression   = var.archive_every_minutes == 1 ? "rate(1 minute)" : "rate(${var.archive_every_minutes} minutes)"
      input        = "{}"
    }
  }
  kms_key_arn     = module.encryption.key_arn
  dead_letter_arn = module.messaging.async_failures_arn
}

module "analytics" {
  source               = "./modules/analytics"
  name                 = var.name
  bucket               = module.storage.bucket
  kms_key_arn          = module.encryption.key_arn
  queries_dir          = "${path.module}/../shared/analytics/queries"
  force_destroy        = var.force_destroy
  bytes_scanned_cutoff = var.athena_bytes_scanned_cutoff
}

module "alarms" {
  source      = "./modules/alarms"
  name        = var.name
  kms_key_arn = module.encryption.key_arn
  email       = var.alarm_email
  dlq_names = merge(
    module.messaging.dlq_names,
    { for k, n in module.messaging.delivery_dlq_names : "${k}-delivery" => n },
    { async = module.messaging.async_failures_name },
  )
  function_names     = merge(module.functions.names, module.migrate.names)
  state_machine_arns = module.workflows.arns
  decide_function    = module.functions.names.decide
  record_function    = module.functions.names.record
  slo                = var.slo
}

# The queues feed their consumers in batches; a failed message alone comes back.
resource "aws_lambda_event_source_mapping" "queue" {
  for_each                           = toset(["decide", "expect", "push"])
  event_source_arn                   = module.messaging.queue_arns[each.key]
  function_name                      = module.functions.arns[each.key]
  batch_size                         = 10
  maximum_batching_window_in_seconds = 1
  function_response_types            = ["ReportBatchItemFailures"]

  scaling_config {
    maximum_concurrency = max(2, local.concurrency[each.key])
  }
}

# The hook secrets (GitHub's webhook secret, the Pub/Sub push token, the Event Grid token):
# made here once, then kept; set them on each source's side (docs/deploy.md).
data "aws_secretsmanager_random_password" "source" {
  for_each            = toset(["github", "pubsub", "eventgrid"])
  password_length     = 40
  exclude_punctuation = true
}

resource "aws_secretsmanager_secret" "sources" {
  # checkov:skip=CKV2_AWS_57: the value is shared with a third party (a webhook source, a chat service) that cannot follow an automatic rotation; rotate it by hand on both sides (docs/deploy.md)
  name_prefix = "${var.name}-hook-secrets-"
  description = "Helios: the secret of each webhook source (github, pubsub, eventgrid)"
  kms_key_id  = module.encryption.key_arn
}

resource "aws_secretsmanager_secret_version" "sources" {
  secret_id     = aws_secretsmanager_secret.sources.id
  secret_string = jsonencode({ for k, p in data.aws_secretsmanager_random_password.source : k => p.random_password })

  # Made once: a new random value on every plan must not replace what the sources use.
  lifecycle {
    ignore_changes = [secret_string]
  }
}

resource "aws_secretsmanager_secret" "channels" {
  # checkov:skip=CKV2_AWS_57: the value is shared with a third party (a webhook source, a chat service) that cannot follow an automatic rotation; rotate it by hand on both sides (docs/deploy.md)
  name_prefix = "${var.name}-notify-channels-"
  description = "Helios: the notify channels (webhook URLs and their signing secrets)"
  kms_key_id  = module.encryption.key_arn
}

resource "aws_secretsmanager_secret_version" "channels" {
  secret_id = aws_secretsmanager_secret.channels.id
  # The channels given, and `email` (the notifications topic) when someone subscribed to it.
  secret_string = jsonencode(merge(
    jsondecode(var.notify_channels),
    length(var.notify_emails) > 0 ? { email = { sns_topic_arn = aws_sns_topic.notifications.arn } } : {},
  ))
}

# Decisions by mail: the `email` channel publishes here, each address subscribes.
resource "aws_sns_topic" "notifications" {
  name              = "${var.name}-notifications"
  kms_master_key_id = module.encryption.key_arn
}

resource "aws_sns_topic_subscription" "notification_email" {
  for_each  = toset(var.notify_emails)
  topic_arn = aws_sns_topic.notifications.arn
  protocol  = "email"
  endpoint  = each.value
}

# Migrations on every deploy whose migrations or migrate function changed, before the
# other functions are made or changed (module.functions waits on this).
resource "aws_lambda_invocation" "migrate" {
  function_name = module.migrate.names.migrate
  input         = "{}"

  triggers = {
    migrations = sha1(join(",", [for f in sort(fileset(local.migrations_dir, "*.sql")) : filesha1("${local.migrations_dir}/${f}")]))
    code       = filebase64sha256(local.zip.migrate)
  }

  # The function reaches the database secret through the network's endpoints.
  depends_on = [module.network, module.database]
}
