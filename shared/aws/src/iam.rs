//! The IAM action behind every AWS call the adapters make. A function's policy is derived
//! from the ports it is handed (`helios_runtime::lambda::Port`), each a list of these
//! operations; `tests/iam.rs` checks that this table names every SDK call in this crate's
//! source, and nothing it does not make.

/// Every operation an adapter makes, as `service.operation` (the SDK client's method; for
/// IAM database authentication, the token signed offline), with the IAM action that
/// allows it.
pub const OPERATIONS: &[(&str, &str)] = &[
    ("s3.put_object", "s3:PutObject"),
    ("s3.get_object", "s3:GetObject"),
    // PublishBatch is authorised as sns:Publish.
    ("sns.publish_batch", "sns:Publish"),
    ("sns.publish", "sns:Publish"),
    ("dynamodb.get_item", "dynamodb:GetItem"),
    ("dynamodb.update_item", "dynamodb:UpdateItem"),
    ("dynamodb.delete_item", "dynamodb:DeleteItem"),
    ("sfn.start_execution", "states:StartExecution"),
    ("sfn.send_task_success", "states:SendTaskSuccess"),
    ("sfn.list_executions", "states:ListExecutions"),
    ("sfn.describe_execution", "states:DescribeExecution"),
    ("sfn.get_execution_history", "states:GetExecutionHistory"),
    (
        "secretsmanager.get_secret_value",
        "secretsmanager:GetSecretValue",
    ),
    // Converse is authorised as bedrock:InvokeModel.
    ("bedrockruntime.converse", "bedrock:InvokeModel"),
    ("sqs.get_queue_url", "sqs:GetQueueUrl"),
    ("sqs.get_queue_attributes", "sqs:GetQueueAttributes"),
    ("sqs.send_message", "sqs:SendMessage"),
    ("sqs.receive_message", "sqs:ReceiveMessage"),
    ("sqs.delete_message", "sqs:DeleteMessage"),
    (
        "sqs.change_message_visibility",
        "sqs:ChangeMessageVisibility",
    ),
    ("sqs.start_message_move_task", "sqs:StartMessageMoveTask"),
    // PostToConnection is authorised as execute-api:ManageConnections.
    (
        "apigatewaymanagement.post_to_connection",
        "execute-api:ManageConnections",
    ),
    ("rds-db.connect", "rds-db:connect"),
];

/// The IAM action of an operation of [`OPERATIONS`].
pub fn action(operation: &str) -> Option<&'static str> {
    OPERATIONS
        .iter()
        .find(|(op, _)| *op == operation)
        .map(|(_, action)| *action)
}
