# The fan-out: every accepted fact is published once to the `events` topic, which delivers
# it to the `decide` and `expect` queues (raw, with its attributes; `expect` filtered to the
# event types some expectation watches). Each queue has a dead-letter queue after
# `max_receives`, which only that queue may redrive into.

variable "name" {
  type = string
}

variable "kms_key_arn" {
  type = string
}

variable "max_receives" {
  type = number
}

# Seconds a received message stays hidden: six times the consumer's timeout, as AWS advises
# for Lambda event sources.
variable "visibility_timeout" {
  type = map(number)
}

# The SNS filter policy of each queue's subscription (JSON), or null for every event.
variable "filter_policies" {
  type = map(string)
}

locals {
  queues = toset(keys(var.visibility_timeout))
}

resource "aws_sns_topic" "events" {
  name              = "${var.name}-events"
  kms_master_key_id = var.kms_key_arn
}

resource "aws_sqs_queue" "dlq" {
  for_each                  = local.queues
  name                      = "${var.name}-${each.key}-dlq"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
}

resource "aws_sqs_queue" "queue" {
  for_each                   = local.queues
  name                       = "${var.name}-${each.key}"
  visibility_timeout_seconds = var.visibility_timeout[each.key]
  message_retention_seconds  = 345600
  kms_master_key_id          = var.kms_key_arn
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.dlq[each.key].arn
    maxReceiveCount     = var.max_receives
  })
}

# Only its own queue may send to a dead-letter queue; `helios redrive` moves messages back.
resource "aws_sqs_queue_redrive_allow_policy" "dlq" {
  for_each  = local.queues
  queue_url = aws_sqs_queue.dlq[each.key].id
  redrive_allow_policy = jsonencode({
    redrivePermission = "byQueue"
    sourceQueueArns   = [aws_sqs_queue.queue[each.key].arn]
  })
}

# Where SNS puts a fact it could not deliver to a queue (the queue's key or policy refused
# it): the publish had succeeded, so the outbox no longer holds it, and without this the fact
# would be lost. Encrypted by SQS itself, so that a failure of the customer key that kept the
# fact from its queue does not keep it from here too. An alarm watches its depth; once the
# cause is fixed, its messages go into the queue they were meant for (docs/deploy.md).
resource "aws_sqs_queue" "delivery_dlq" {
  for_each                  = local.queues
  name                      = "${var.name}-${each.key}-delivery-dlq"
  message_retention_seconds = 1209600
  sqs_managed_sse_enabled   = true
}

# The topic may send to each queue and to each delivery DLQ, and nothing else may.
locals {
  topic_targets = merge(
    { for q in local.queues : q => aws_sqs_queue.queue[q] },
    { for q in local.queues : "${q}-delivery-dlq" => aws_sqs_queue.delivery_dlq[q] },
  )
}

data "aws_iam_policy_document" "from_topic" {
  for_each = local.topic_targets
  statement {
    actions   = ["sqs:SendMessage"]
    resources = [each.value.arn]
    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }
    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = [aws_sns_topic.events.arn]
    }
  }
}

resource "aws_sqs_queue_policy" "from_topic" {
  for_each  = local.topic_targets
  queue_url = each.value.id
  policy    = data.aws_iam_policy_document.from_topic[each.key].json
}

resource "aws_sns_topic_subscription" "queue" {
  for_each             = local.queues
  topic_arn            = aws_sns_topic.events.arn
  protocol             = "sqs"
  endpoint             = aws_sqs_queue.queue[each.key].arn
  raw_message_delivery = true
  filter_policy        = lookup(var.filter_policies, each.key, null)
  filter_policy_scope  = lookup(var.filter_policies, each.key, null) == null ? null : "MessageAttributes"
  redrive_policy       = jsonencode({ deadLetterTargetArn = aws_sqs_queue.delivery_dlq[each.key].arn })
  depends_on           = [aws_sqs_queue_policy.from_topic]
}

# Where Lambda puts an asynchronous invocation (a schedule's, the deploy's `migrate`) that
# failed every retry.
resource "aws_sqs_queue" "async_failures" {
  name                      = "${var.name}-async-failures"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
}

output "topic_arn" {
  value = aws_sns_topic.events.arn
}

output "queue_arns" {
  value = { for k, q in aws_sqs_queue.queue : k => q.arn }
}

output "queue_names" {
  value = { for k, q in aws_sqs_queue.queue : k => q.name }
}

output "queue_urls" {
  value = { for k, q in aws_sqs_queue.queue : k => q.url }
}

output "dlq_arns" {
  value = { for k, q in aws_sqs_queue.dlq : k => q.arn }
}

output "dlq_urls" {
  value = { for k, q in aws_sqs_queue.dlq : k => q.url }
}

output "dlq_names" {
  value = { for k, q in aws_sqs_queue.dlq : k => q.name }
}

output "delivery_dlq_names" {
  value = { for k, q in aws_sqs_queue.delivery_dlq : k => q.name }
}

output "async_failures_arn" {
  value = aws_sqs_queue.async_failures.arn
}

output "async_failures_name" {
  value = aws_sqs_queue.async_failures.name
}
