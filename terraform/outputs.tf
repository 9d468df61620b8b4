output "api_url" {
  description = "The API: POST /v1/events, POST /v1/hooks/{source}, GET /v1/…"
  value       = module.api.url
}

output "state_machine_arns" {
  description = "The workflows, by name."
  value       = module.workflows.arns
}

output "queue_urls" {
  description = "The event queues, by name."
  value       = module.messaging.queue_urls
}

output "dead_letter_queue_urls" {
  description = "Their dead-letter queues (`helios redrive` moves messages back)."
  value       = module.messaging.dlq_urls
}

output "function_names" {
  description = "The Lambda functions, by Helios name."
  value       = merge(module.functions.names, module.migrate.names)
}

output "archive_bucket" {
  description = "Where raw payloads are kept."
  value       = module.storage.bucket
}

output "hook_secrets_arn" {
  description = "The Secrets Manager secret with the hook secrets (github, pubsub, eventgrid) to give each source."
  value       = aws_secretsmanager_secret.sources.arn
}

output "alarm_topic_arn" {
  description = "Where alarms are published."
  value       = module.alarms.topic_arn
}

output "migrations" {
  description = "What the deploy's migrate invocation answered."
  value       = jsondecode(aws_lambda_invocation.migrate.result)
}

output "dashboard_url" {
  description = "The dashboard (CloudFront): sign in with a read or admin key."
  value       = module.dashboard.url
}

output "live_url" {
  description = "The dashboard's live feed (API Gateway WebSocket API)."
  value       = module.live.url
}

output "analytics" {
  description = "Athena over the archive: the Glue database, the workgroup, and the saved queries' ids (aws athena get-named-query --named-query-id ID)."
  value = {
    database      = module.analytics.database
    workgroup     = module.analytics.workgroup
    named_queries = module.analytics.named_queries
  }
}
